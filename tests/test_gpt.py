"""Testes do capítulo 4 (o modelo GPT), sobre a cópia do módulo de apoio do capítulo 5 (fixture ``cap4``)."""

import pytest
import torch

from conftest import carregar_modulo
import torch.nn.functional as F
from torch import nn


def _parametros_a_mao(cfg, amarrado=True):
    """Contagem de parâmetros feita só com a configuração (a mesma tabela do notebook do capítulo 4)."""
    V, C, d, L = cfg["vocab_size"], cfg["context_length"], cfg["d_model"], cfg["n_layers"]
    atencao = 4 * d * d + d + (3 * d if cfg["qkv_bias"] else 0)  # Q, K, V (+ bias) e projeção de saída com bias
    feed_forward = 8 * d * d + 5 * d
    normas = 4 * d
    return V * d + C * d + L * (atencao + feed_forward + normas) + 2 * d + (0 if amarrado else V * d)


def _cfg_pequena(cap4, **mudancas):
    return dict(cap4.GPT_MINI, vocab_size=97, context_length=12, d_model=32, n_heads=4, n_layers=2, **mudancas)


def test_camada_norm_igual_ao_layernorm_do_torch(cap4):
    torch.manual_seed(0)
    x = torch.randn(3, 7, 48) * 4.0 + 1.5  # (batch, tokens, d_model), longe de média 0 / variância 1
    nossa = cap4.CamadaNorm(48)
    referencia = nn.LayerNorm(48, eps=1e-5)
    with torch.no_grad():  # escala/deslocamento aleatórios e iguais nas duas
        nossa.escala.normal_()
        nossa.deslocamento.normal_()
        referencia.weight.copy_(nossa.escala)
        referencia.bias.copy_(nossa.deslocamento)
    assert nossa.eps == 1e-5
    assert sum(p.numel() for p in nossa.parameters()) == 2 * 48
    saida = nossa(x)
    assert saida.shape == x.shape
    assert torch.allclose(saida, referencia(x), atol=1e-5)
    # com os parâmetros iniciais (escala 1, deslocamento 0), cada token sai com média 0 e variância (enviesada) 1
    normalizado = cap4.CamadaNorm(48)(x)
    assert torch.allclose(normalizado.mean(-1), torch.zeros(3, 7), atol=1e-5)
    assert torch.allclose(normalizado.var(-1, unbiased=False), torch.ones(3, 7), atol=1e-3)


def test_gelu_igual_a_aproximacao_tanh_do_torch(cap4):
    torch.manual_seed(1)
    x = torch.cat([torch.linspace(-8, 8, 1601), torch.randn(1000) * 3])
    nossa = cap4.GELU()(x)
    assert torch.allclose(nossa, F.gelu(x, approximate="tanh"), atol=1e-6)
    assert not torch.allclose(nossa, torch.relu(x), atol=1e-3)  # não é uma ReLU disfarçada


def test_feed_forward_e_bloco_mantem_o_shape(cap4):
    cfg = _cfg_pequena(cap4)
    x = torch.randn(2, 5, cfg["d_model"])
    ff = cap4.FeedForward(cfg["d_model"])
    assert ff(x).shape == x.shape
    assert sum(p.numel() for p in ff.parameters()) == 8 * 32 * 32 + 5 * 32
    bloco = cap4.BlocoTransformer(cfg)
    assert isinstance(bloco.atencao, cap4.AtencaoMultiCabeca)
    assert bloco(x).shape == x.shape
    # pre-LN: x + atenção(norm1(x)), depois + ff(norm2(·)); em eval o dropout some e a conta tem de bater
    bloco.eval()
    with torch.no_grad():
        esperado = x + bloco.atencao(bloco.norm1(x))
        esperado = esperado + bloco.ff(bloco.norm2(esperado))
        assert torch.allclose(bloco(x), esperado, atol=1e-6)


def test_saida_do_modelo_gpt_tem_shape_batch_tokens_vocab(cap4):
    torch.manual_seed(2)
    cfg = _cfg_pequena(cap4)
    modelo = cap4.ModeloGPT(cfg)
    ids = torch.randint(0, cfg["vocab_size"], (3, 7))
    logits = modelo(ids)
    assert logits.shape == (3, 7, cfg["vocab_size"])
    assert torch.isfinite(logits).all()
    assert modelo.cabeca_saida.bias is None
    assert modelo.cabeca_saida.weight is not modelo.emb_tokens.weight  # sem weight tying por padrão
    assert len(modelo.blocos) == cfg["n_layers"]
    # a pilha: embeddings de token + posição -> blocos -> norma final -> cabeça (dropout desligado em eval)
    modelo.eval()
    with torch.no_grad():
        x = modelo.emb_tokens(ids) + modelo.emb_posicoes(torch.arange(7))
        esperado = modelo.cabeca_saida(modelo.norm_final(modelo.blocos(x)))
        assert torch.allclose(modelo(ids), esperado, atol=1e-5)


def test_contagem_de_parametros_do_gpt2_124m_no_meta(cap4):
    cfg = cap4.GPT2_124M
    assert cfg == {"vocab_size": 50257, "context_length": 1024, "d_model": 768, "n_heads": 12, "n_layers": 12,
                   "dropout": 0.1, "qkv_bias": False}
    with torch.device("meta"):
        modelo = cap4.ModeloGPT(cfg)
    assert modelo.emb_tokens.weight.device.type == "meta"
    assert cap4.contar_parametros(modelo) == _parametros_a_mao(cfg, amarrado=False) == 163_009_536
    assert cap4.contar_parametros(modelo, sem_cabeca_saida=True) == _parametros_a_mao(cfg) == 124_412_160
    # amarrando a cabeça ao embedding, o tensor compartilhado conta uma vez só (e não é descontado de novo)
    modelo.cabeca_saida.weight = modelo.emb_tokens.weight
    assert cap4.contar_parametros(modelo) == 124_412_160
    assert cap4.contar_parametros(modelo, sem_cabeca_saida=True) == 124_412_160


def test_contagem_de_parametros_do_gpt2_124m_com_qkv_bias(cap4):
    cfg = dict(cap4.GPT2_124M, qkv_bias=True)
    with torch.device("meta"):
        modelo = cap4.ModeloGPT(cfg)
    assert cap4.contar_parametros(modelo, sem_cabeca_saida=True) == _parametros_a_mao(cfg) == 124_439_808


def test_configuracoes_pequenas(cap4):
    for cfg in (cap4.GPT_MINI, cap4.GPT_PEQUENO):
        assert cfg["vocab_size"] == 4257
        assert cfg["d_model"] % cfg["n_heads"] == 0
    assert (cap4.GPT_PEQUENO["context_length"], cap4.GPT_PEQUENO["d_model"], cap4.GPT_PEQUENO["n_heads"],
            cap4.GPT_PEQUENO["n_layers"]) == (256, 256, 4, 6)
    assert _parametros_a_mao(cap4.GPT_PEQUENO) == 5_889_792


def test_entrada_maior_que_o_contexto_da_erro_claro(cap4):
    cfg = _cfg_pequena(cap4)
    modelo = cap4.ModeloGPT(cfg)
    assert modelo(torch.zeros(1, cfg["context_length"], dtype=torch.long)).shape[1] == cfg["context_length"]
    with pytest.raises(ValueError, match="context_length"):
        modelo(torch.zeros(1, cfg["context_length"] + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="batch, tokens"):
        modelo(torch.zeros(cfg["context_length"], dtype=torch.long))


def test_geracao_gulosa_deterministica(cap4):
    """O ModeloGPT deste capítulo com a geração do curso (``gerar_texto``, do capítulo 5; a do capítulo 4 é
    didática)."""
    gerar_texto = carregar_modulo(6).gerar_texto
    cfg = _cfg_pequena(cap4)
    prompt = torch.tensor([[5, 17, 42], [1, 2, 3]])  # (batch, tokens)

    def gerar(semente, n=9):
        torch.manual_seed(semente)
        modelo = cap4.ModeloGPT(cfg)
        modelo.eval()
        return modelo, gerar_texto(modelo, prompt, n)

    modelo, a = gerar(123)
    _, b = gerar(123)
    assert a.shape == (2, 3 + 9)
    assert a.dtype == torch.long
    assert torch.equal(a, b)
    assert torch.equal(a[:, :3], prompt)  # o prompt volta intacto no começo
    assert int(a.min()) >= 0 and int(a.max()) < cfg["vocab_size"]
    # cada token novo é o argmax dos logits da última posição, vendo só os últimos context_length tokens
    for passo in range(3, a.shape[1]):
        contexto = a[:, :passo][:, -cfg["context_length"]:]
        with torch.no_grad():
            esperado = modelo(contexto)[:, -1].argmax(-1)
        assert torch.equal(a[:, passo], esperado)
    # o prompt + geração passa de context_length (3 + 9 = 12 = contexto; gerando 6 a mais, precisa cortar)
    _, longo = gerar(123, n=15)
    assert longo.shape == (2, 3 + 15)
    assert torch.equal(longo[:, :a.shape[1]], a)
    # zero tokens novos devolve o próprio prompt
    assert torch.equal(gerar_texto(modelo, prompt, 0), prompt)
