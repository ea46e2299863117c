"""Testes do capítulo 3 (atenção). Recebem a fixture ``cap3``: a cópia de llm_do_zero.py do capítulo 4,
a primeira que contém o bloco do capítulo 3 (AtencaoCausal e AtencaoMultiCabeca)."""

import math

import pytest
import torch
import torch.nn.functional as F


def _saida_via_sdpa(mha, x):
    """Mesma conta de AtencaoMultiCabeca, mas com o núcleo feito por F.scaled_dot_product_attention."""
    b, t, _ = x.shape
    h, dc = mha.n_heads, mha.d_cabeca
    q = mha.W_query(x).view(b, t, h, dc).transpose(1, 2)
    k = mha.W_key(x).view(b, t, h, dc).transpose(1, 2)
    v = mha.W_value(x).view(b, t, h, dc).transpose(1, 2)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (b, h, t, dc)
    return mha.proj_saida(o.transpose(1, 2).reshape(b, t, h * dc))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("qkv_bias", [False, True])
def test_multicabeca_igual_sdpa(cap3, dropout, qkv_bias):
    torch.manual_seed(0)
    mha = cap3.AtencaoMultiCabeca(24, 32, context_length=16, dropout=dropout, n_heads=4, qkv_bias=qkv_bias)
    mha.eval()  # em modo de avaliação o dropout não faz nada
    x = torch.randn(3, 11, 24)
    with torch.no_grad():
        nosso = mha(x)
        referencia = _saida_via_sdpa(mha, x)
    assert nosso.shape == (3, 11, 32)
    torch.testing.assert_close(nosso, referencia, atol=1e-6, rtol=0)


def test_multicabeca_dropout_age_so_no_treino(cap3):
    torch.manual_seed(0)
    mha = cap3.AtencaoMultiCabeca(16, 16, context_length=8, dropout=0.5, n_heads=2)
    x = torch.randn(2, 8, 16)
    with torch.no_grad():
        mha.eval()
        a, b = mha(x), mha(x)
        mha.train()
        c = mha(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("qual", ["simples", "multi"])
def test_causal_futuro_nao_muda_passado(cap3, qual):
    torch.manual_seed(1)
    if qual == "simples":
        att = cap3.AtencaoCausal(8, 6, context_length=10)
    else:
        att = cap3.AtencaoMultiCabeca(8, 6, context_length=10, dropout=0.0, n_heads=3)
    att.eval()
    x = torch.randn(2, 7, 8)
    for pos in (6, 3):
        y = x.clone()
        y[:, pos] = torch.randn(2, 8) * 5  # troca o token da posição `pos`
        with torch.no_grad():
            sx, sy = att(x), att(y)
        torch.testing.assert_close(sx[:, :pos], sy[:, :pos], atol=1e-6, rtol=0)  # passado intacto
        assert not torch.allclose(sx[:, pos:], sy[:, pos:])  # do token trocado em diante, muda


@pytest.mark.parametrize("b,t,d_in,d_out,h", [(1, 1, 4, 4, 1), (2, 5, 8, 12, 3), (3, 16, 10, 32, 8)])
def test_formas_e_pesos_guardados(cap3, b, t, d_in, d_out, h):
    torch.manual_seed(2)
    mha = cap3.AtencaoMultiCabeca(d_in, d_out, context_length=16, dropout=0.0, n_heads=h)
    assert mha.d_cabeca == d_out // h
    x = torch.randn(b, t, d_in)
    assert mha(x).shape == (b, t, d_out)
    assert mha.ultimos_pesos is None  # guardar_pesos começa desligado
    mha.guardar_pesos = True
    mha(x)
    p = mha.ultimos_pesos
    assert p.shape == (b, h, t, t)
    assert not p.requires_grad
    torch.testing.assert_close(p.sum(-1), torch.ones(b, h, t))
    assert torch.all(p.triu(diagonal=1) == 0)  # nada de peso no futuro
    simples = cap3.AtencaoCausal(d_in, d_out, context_length=16)
    assert simples(x).shape == (b, t, d_out)


def test_numero_de_parametros(cap3):
    d = 768
    sem_vies = cap3.AtencaoMultiCabeca(d, d, 1024, 0.0, 12)
    com_vies = cap3.AtencaoMultiCabeca(d, d, 1024, 0.0, 12, qkv_bias=True)
    assert sum(p.numel() for p in sem_vies.parameters()) == 4 * d * d + d
    assert sum(p.numel() for p in com_vies.parameters()) == 4 * d * d + 4 * d


def test_d_saida_nao_divisivel_por_n_heads(cap3):
    with pytest.raises(ValueError) as erro:
        cap3.AtencaoMultiCabeca(8, 10, context_length=4, dropout=0.0, n_heads=3)
    msg = str(erro.value)
    assert "10" in msg and "3" in msg
    assert "divisível" in msg  # mensagem em português


@pytest.mark.parametrize("qual", ["simples", "multi"])
def test_entrada_maior_que_contexto(cap3, qual):
    if qual == "simples":
        att = cap3.AtencaoCausal(4, 4, context_length=5)
    else:
        att = cap3.AtencaoMultiCabeca(4, 4, context_length=5, dropout=0.0, n_heads=2)
    att(torch.randn(1, 5, 4))  # exatamente no limite: funciona
    with pytest.raises(ValueError, match="context_length=5"):
        att(torch.randn(1, 6, 4))


def test_atencao_causal_exemplo_feito_a_mao(cap3):
    att = cap3.AtencaoCausal(2, 2, context_length=3)
    with torch.no_grad():
        for camada in (att.W_query, att.W_key, att.W_value):
            camada.weight.copy_(torch.eye(2))  # q = k = v = x
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    r = 1 / math.sqrt(2)  # escala 1/√d_saida
    # token 0 só vê a si mesmo
    esperado0 = [1.0, 0.0]
    # token 1: escores (x1·x0, x1·x1)/√2 = (0, r)
    p = [math.exp(0), math.exp(r)]
    p = [v / sum(p) for v in p]
    esperado1 = [p[0], p[1]]
    # token 2: escores (1, 1, 2)/√2
    e = [math.exp(r), math.exp(r), math.exp(2 * r)]
    e = [v / sum(e) for v in e]
    esperado2 = [e[0] + e[2], e[1] + e[2]]
    esperado = torch.tensor([[esperado0, esperado1, esperado2]])
    with torch.no_grad():
        torch.testing.assert_close(att(x), esperado, atol=1e-6, rtol=0)
