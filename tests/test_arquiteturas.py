"""Capítulo 8 — outras arquiteturas (``notebook_arquiteturas``): atenção cruzada, codificador × decodificador, RoPE,
GQA, RMSNorm, SwiGLU, mistura de especialistas, BERT e as medidas.

Só modelos minúsculos, criados aqui com semente fixa: o arquivo inteiro roda em poucos segundos.
"""
import importlib
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import RAIZ

PASTA = RAIZ / "08-extras"


@pytest.fixture(scope="module")
def ex():
    """Importa ``08-extras/extras.py`` com a cópia de ``llm_do_zero.py`` do próprio capítulo 8."""
    antigo = sys.modules.get("llm_do_zero")
    if antigo is not None and Path(antigo.__file__).resolve().parent != PASTA.resolve():
        del sys.modules["llm_do_zero"]  # outra cópia (de outro capítulo) foi importada antes
    sys.path.insert(0, str(PASTA))
    try:
        modulo = importlib.import_module("extras")
    finally:
        sys.path.remove(str(PASTA))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield modulo
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ldz(ex):
    return sys.modules["llm_do_zero"]


def _cfg(vocab=40, ctx=16, d=16, heads=4, camadas=2):
    return {"vocab_size": vocab, "context_length": ctx, "d_model": d, "n_heads": heads, "n_layers": camadas,
            "dropout": 0.0, "qkv_bias": False, "atencao_rapida": True, "amarrar_pesos": True}


def _cabecas(x, n_heads):
    b, t, d = x.shape
    return x.view(b, t, n_heads, d // n_heads).transpose(1, 2)


# ------------------------------------------------------------------------------------------------------------------
# Atenção cruzada, codificador e decodificador
# ------------------------------------------------------------------------------------------------------------------


def test_atencao_cruzada_igual_ao_sdpa_sem_mascara_causal(ex):
    torch.manual_seed(0)
    at = ex.AtencaoCruzada(16, 4).eval()
    x, memoria = torch.randn(3, 5, 16), torch.randn(3, 7, 16)  # 5 tokens do decodificador, 7 da entrada
    with torch.no_grad():
        q = _cabecas(at.W_query(x), 4)
        k, v = _cabecas(at.W_key(memoria), 4), _cabecas(at.W_value(memoria), 4)
        ref = F.scaled_dot_product_attention(q, k, v)  # sem is_causal: cada posição vê a entrada inteira
        esperado = at.proj_saida(ref.transpose(1, 2).reshape(3, 5, 16))
        assert torch.allclose(at(x, memoria), esperado, atol=1e-6)
        # e com preenchimento: igual ao SDPA com a máscara booleana das chaves
        mascara = torch.ones(3, 7, dtype=torch.bool)
        mascara[0, 4:] = False
        mascara[2, 6:] = False
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mascara[:, None, None, :])
        esperado = at.proj_saida(ref.transpose(1, 2).reshape(3, 5, 16))
        assert torch.allclose(at(x, memoria, mascara), esperado, atol=1e-6)
        # com máscara causal daria outra coisa: a atenção cruzada não é causal
        causal = F.scaled_dot_product_attention(q[..., :5, :], k[..., :5, :], v[..., :5, :], is_causal=True)
        assert not torch.allclose(at(x, memoria[:, :5]), at.proj_saida(causal.transpose(1, 2).reshape(3, 5, 16)))


def test_codificador_ve_o_futuro_e_decodificador_nao(ex):
    torch.manual_seed(0)
    modelo = ex.TransformerCodificadorDecodificador(_cfg(), 2, 2).eval()
    fonte = torch.randint(1, 40, (2, 6))
    alvo = torch.randint(1, 40, (2, 5))
    with torch.no_grad():
        memoria = modelo.codificar(fonte)
        fonte2 = fonte.clone()
        fonte2[:, -1] = (fonte2[:, -1] + 1) % 40  # mexe só no ÚLTIMO token da entrada
        memoria2 = modelo.codificar(fonte2)
        assert not torch.allclose(memoria[:, 0], memoria2[:, 0])  # o primeiro token da entrada "viu" o último
        logits = modelo(fonte, alvo)
        alvo2 = alvo.clone()
        alvo2[:, -1] = (alvo2[:, -1] + 1) % 40  # mexe só no último token do decodificador
        logits2 = modelo(fonte, alvo2)
        assert torch.allclose(logits[:, :-1], logits2[:, :-1], atol=1e-6)  # as posições anteriores não viram
        assert not torch.allclose(logits[:, -1], logits2[:, -1])
        # mas todas as posições do decodificador veem a entrada inteira (pela atenção cruzada)
        logits3 = modelo(fonte2, alvo)
        assert not torch.allclose(logits[:, 0], logits3[:, 0])


def test_codificador_ignora_preenchimento(ex):
    torch.manual_seed(1)
    modelo = ex.TransformerCodificadorDecodificador(_cfg(), 2, 1).eval()
    curta = torch.randint(1, 40, (1, 4))
    preenchida = torch.cat([curta, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mascara = torch.tensor([[True] * 4 + [False] * 3])
    alvo = torch.randint(1, 40, (1, 3))
    with torch.no_grad():
        assert torch.allclose(modelo.codificar(preenchida, mascara)[:, :4], modelo.codificar(curta), atol=1e-5)
        assert torch.allclose(modelo(preenchida, alvo, mascara), modelo(curta, alvo), atol=1e-5)
        # sem a máscara, o enchimento muda o resultado
        assert not torch.allclose(modelo(preenchida, alvo), modelo(curta, alvo), atol=1e-5)


def test_lotes_das_duas_arquiteturas(ex):
    pares = [{"numero": 7, "fonte": [10, 11], "alvo": [5]}, {"numero": 42, "fonte": [12], "alvo": [6, 7]}]
    entrada, alvo = ex.lote_so_decodificador(pares, id_separador=3, id_fim=2)
    # sequências: [10, 11, 3, 5, 2] e [12, 3, 6, 7, 2]; perda só na resposta (e no fim)
    assert entrada.tolist() == [[10, 11, 3, 5], [12, 3, 6, 7]]
    assert alvo.tolist() == [[-100, -100, 5, 2], [-100, 6, 7, 2]]
    fonte, mascara, alvo_entrada, alvo = ex.lote_seq2seq(pares, id_separador=3, id_fim=2)
    assert fonte.tolist() == [[10, 11], [12, 0]] and mascara.tolist() == [[True, True], [True, False]]
    assert alvo_entrada.tolist() == [[3, 5, 0], [3, 6, 7]]
    assert alvo.tolist() == [[5, 2, -100], [6, 7, 2]]


def test_dados_numeros_disjuntos_e_por_extenso(ex, ldz):
    tok = ldz.tokenizador_machado()
    treino, teste = ex.dados_numeros(tok, n_teste=200)
    assert len(treino) == 800 and len(teste) == 200
    assert not {p["numero"] for p in treino} & {p["numero"] for p in teste}
    por_numero = {p["numero"]: p for p in treino + teste}
    assert por_numero[342]["extenso"] == "trezentos e quarenta e dois"
    assert tok.decode(por_numero[342]["alvo"]) == "342"
    assert tok.decode(por_numero[100]["fonte"]) == " cem"
    with pytest.raises(ValueError, match="n_teste"):
        ex.dados_numeros(tok, n_teste=0)


def test_responder_numeros_gulosa_igual_a_mao(ex):
    torch.manual_seed(2)
    cfg = _cfg()
    gpt = ex.criar_modelo_gpt(cfg).eval()
    s2s = ex.TransformerCodificadorDecodificador(cfg, 1, 1).eval()
    pares = [{"fonte": [5, 6, 7], "alvo": [1]}, {"fonte": [8], "alvo": [1]}, {"fonte": [9, 9, 9], "alvo": [1]}]

    def texto(ids):
        return ",".join(map(str, ids))

    r_gpt = ex.responder_numeros(gpt, pares, 3, 2, texto, max_tokens=4)
    r_s2s = ex.responder_numeros(s2s, pares, 3, 2, texto, max_tokens=4)
    with torch.no_grad():
        for p, rg, rs in zip(pares, r_gpt, r_s2s, strict=True):
            ids = p["fonte"] + [3]
            for _ in range(4):
                ids.append(gpt(torch.tensor([ids]))[0, -1].argmax().item())
            novos = ids[len(p["fonte"]) + 1:]
            assert rg == texto(novos[:novos.index(2)] if 2 in novos else novos)
            memoria = s2s.codificar(torch.tensor([p["fonte"]]))
            ids = [3]
            for _ in range(4):
                ids.append(s2s.decodificar(torch.tensor([ids]), memoria)[0, -1].argmax().item())
            novos = ids[1:]
            assert rs == texto(novos[:novos.index(2)] if 2 in novos else novos)


# ------------------------------------------------------------------------------------------------------------------
# RoPE, GQA e a atenção configurável
# ------------------------------------------------------------------------------------------------------------------


def test_rope_escores_so_dependem_da_distancia(ex):
    torch.manual_seed(0)
    cos, sin = ex.tabela_rope(128, 32)
    q, k = torch.randn(32), torch.randn(32)

    def escore(m, n):
        return aplicar(q, m) @ aplicar(k, n)

    def aplicar(x, p):
        return ex.aplicar_rope(x, cos[p], sin[p])

    for m, n in ((5, 2), (17, 17), (3, 40)):
        for desloca in (1, 30, 80):
            assert math.isclose(escore(m, n), escore(m + desloca, n + desloca), rel_tol=1e-4, abs_tol=1e-4)
    assert not math.isclose(escore(5, 2), escore(5, 3), rel_tol=1e-3)  # distância diferente, escore diferente
    assert torch.allclose(aplicar(q, 0), q)  # posição 0: nenhuma rotação
    assert math.isclose(aplicar(q, 77).norm().item(), q.norm().item(), rel_tol=1e-5)  # rotação preserva o tamanho
    with pytest.raises(ValueError, match="par"):
        ex.tabela_rope(8, 5)


def test_atencao_com_rope_so_depende_da_distancia(ex):
    """Numa atenção com RoPE e sem máscara, a mesma sequência deslocada no contexto dá a mesma saída."""
    torch.manual_seed(0)
    at = ex.AtencaoModerna(16, 2, context_length=32, rope=True, causal=True).eval()
    x = torch.randn(1, 6, 16)
    with torch.no_grad():
        saida = at(x)
        # a RoPE gira por posição absoluta; a saída causal depende só das distâncias: conferimos nas projeções
        q = _cabecas(at.W_query(x), 2)
        k = at.W_kv(x).view(1, 6, 2, 2, 8)[:, :, 0].transpose(1, 2)
        escores = [ex.aplicar_rope(q, at.cos[d:d + 6], at.sin[d:d + 6])
                   @ ex.aplicar_rope(k, at.cos[d:d + 6], at.sin[d:d + 6]).transpose(-2, -1) for d in (0, 9, 20)]
        assert torch.allclose(escores[0], escores[1], atol=1e-4) and torch.allclose(escores[0], escores[2], atol=1e-4)
        assert saida.shape == (1, 6, 16)


def test_gqa_com_grupos_iguais_as_cabecas_e_multicabeca(ex, ldz):
    torch.manual_seed(0)
    mha = ldz.AtencaoMultiCabeca(16, 16, context_length=12, dropout=0.0, n_heads=4).eval()
    gqa = ex.AtencaoModerna(16, 4, context_length=12, n_grupos_kv=4).eval()
    with torch.no_grad():
        gqa.W_query.weight.copy_(mha.W_query.weight)
        gqa.W_kv.weight.copy_(torch.cat([mha.W_key.weight, mha.W_value.weight]))
        gqa.proj_saida.load_state_dict(mha.proj_saida.state_dict())
        x = torch.randn(2, 9, 16)
        assert torch.allclose(gqa(x), mha(x), atol=1e-6)
    assert ex.bytes_kv_por_token(gqa) == ex.bytes_kv_por_token(mha) == 2 * 16 * 4


def test_gqa_compartilha_keys_e_values(ex):
    """Com 2 grupos para 4 cabeças, as cabeças 0-1 usam a key/value do grupo 0 e as 2-3, a do grupo 1."""
    torch.manual_seed(0)
    gqa = ex.AtencaoModerna(16, 4, context_length=12, n_grupos_kv=2).eval()
    x = torch.randn(2, 7, 16)
    with torch.no_grad():
        q = _cabecas(gqa.W_query(x), 4)
        kv = gqa.W_kv(x).view(2, 7, 2, 2, 4)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)  # (2, grupos, 7, 4)
        grupo = torch.tensor([0, 0, 1, 1])
        ref = F.scaled_dot_product_attention(q, k[:, grupo], v[:, grupo], is_causal=True)
        assert torch.allclose(gqa(x), gqa.proj_saida(ref.transpose(1, 2).reshape(2, 7, 16)), atol=1e-6)
    assert gqa.W_kv.weight.shape == (2 * 2 * 4, 16)
    assert gqa.bytes_kv_por_token() == 2 * 2 * 4 * 4  # metade da multi-cabeça
    for ruim in (3, 0, True, 2.0):
        with pytest.raises(ValueError, match="n_grupos_kv"):
            ex.AtencaoModerna(16, 4, context_length=12, n_grupos_kv=ruim)


def test_mascara_de_preenchimento_bidirecional(ex):
    torch.manual_seed(0)
    at = ex.AtencaoModerna(16, 2, context_length=12, causal=False).eval()
    x = torch.randn(1, 5, 16)
    lixo = torch.randn(1, 3, 16)
    mascara = torch.tensor([[True] * 5 + [False] * 3])
    with torch.no_grad():
        assert torch.allclose(at(torch.cat([x, lixo], 1), mascara)[:, :5], at(x), atol=1e-6)
    with pytest.raises(ValueError, match="mascara_chaves"):
        at(x, torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="context_length"):
        at(torch.randn(1, 13, 16))


# ------------------------------------------------------------------------------------------------------------------
# RMSNorm, SwiGLU, mistura de especialistas e as variantes
# ------------------------------------------------------------------------------------------------------------------


def test_rmsnorm_igual_ao_torch(ex):
    torch.manual_seed(0)
    norma = ex.RMSNorm(10)
    with torch.no_grad():
        norma.escala.copy_(torch.randn(10))
    x = torch.randn(3, 4, 10) * 5 + 2
    assert torch.allclose(norma(x), F.rms_norm(x, (10,), norma.escala, eps=1e-6), atol=1e-5)


def test_swiglu_mesmos_parametros_e_conta(ex, ldz):
    assert ex.d_oculto_swiglu(128) == 344 and ex.d_oculto_swiglu(32) == 88
    swiglu = ex.FeedForwardSwiGLU(128, ex.d_oculto_swiglu(128))
    ffn = ldz.FeedForward(128)
    n_sw, n_ffn = (sum(p.numel() for p in m.parameters()) for m in (swiglu, ffn))
    assert abs(n_sw - n_ffn) / n_ffn < 0.02
    x = torch.randn(2, 3, 128)
    with torch.no_grad():
        a, b = x @ swiglu.w_porta.weight.T, x @ swiglu.w_valor.weight.T
        esperado = (a * torch.sigmoid(a) * b) @ swiglu.w_saida.weight.T
        assert torch.allclose(swiglu(x), esperado, atol=1e-5)


def test_moe_com_um_especialista_e_a_ffn_densa(ex, ldz):
    torch.manual_seed(0)
    ffn = ldz.FeedForward(16)
    moe = ex.FeedForwardMoE(16, n_especialistas=1, top_k=1, d_oculto=64)
    moe.especialistas[0].load_state_dict(ffn.state_dict())
    x = torch.randn(2, 5, 16)
    assert torch.allclose(moe(x), ffn(x), atol=1e-6)
    assert moe.uso.tolist() == [1.0]
    assert math.isclose(moe.perda_balanceamento.item(), 1.0, rel_tol=1e-6)


def test_moe_top_k_igual_a_soma_ponderada_a_mao(ex):
    torch.manual_seed(1)
    moe = ex.FeedForwardMoE(8, n_especialistas=4, top_k=2, d_oculto=12)
    x = torch.randn(6, 8)
    with torch.no_grad():
        saida = moe(x)
        probs = torch.softmax(x @ moe.roteador.weight.T, dim=-1)
        for i in range(6):
            top = probs[i].topk(2)
            pesos = top.values / top.values.sum()
            esperado = sum(w * moe.especialistas[e](x[i:i + 1])[0]
                           for w, e in zip(pesos, top.indices.tolist(), strict=True))
            assert torch.allclose(saida[i], esperado, atol=1e-6)
        escolhas = probs.topk(2).indices
        fracao = torch.stack([(escolhas == e).float().sum() / 12 for e in range(4)])
        assert torch.allclose(moe.uso, fracao)
        assert math.isclose(moe.perda_balanceamento.item(), 4 * (fracao * probs.mean(0)).sum().item(), rel_tol=1e-5)
        # roteador uniforme: perda de balanceamento = 1
        moe.roteador.weight.zero_()
        moe(x)
        assert math.isclose(moe.perda_balanceamento.item(), 1.0, rel_tol=1e-6)
    x.requires_grad_()
    moe(x).sum().backward()  # o gradiente chega à entrada e ao roteador
    assert x.grad is not None and moe.roteador.weight.grad is not None
    for ruim in (0, 5, True):
        with pytest.raises(ValueError, match="top_k"):
            ex.FeedForwardMoE(8, 4, ruim, 12)


def test_criar_variante_troca_as_pecas(ex, ldz):
    cfg = _cfg()
    torch.manual_seed(0)
    llama = ex.criar_variante(cfg, rope=True, rmsnorm=True, swiglu=True, n_grupos_kv=2)
    assert isinstance(llama.emb_posicoes, ex.SemPosicoesAprendidas)
    assert all(isinstance(b.atencao, ex.AtencaoModerna) and b.atencao.rope for b in llama.blocos)
    assert all(isinstance(b.norm1, ex.RMSNorm) and isinstance(b.ff, ex.FeedForwardSwiGLU) for b in llama.blocos)
    assert isinstance(llama.norm_final, ex.RMSNorm)
    assert ex.bytes_kv_por_token(llama) == 2 * ex.bytes_kv_por_token(ex.criar_variante(cfg)) // 4
    assert llama(torch.randint(0, 40, (2, 10))).shape == (2, 10, 40)
    base = ex.criar_variante(cfg)
    assert ldz.contar_parametros(ex.criar_variante(cfg, rope=True)) == ldz.contar_parametros(base) - 16 * 16
    moe = ex.criar_variante(cfg, moe={"n_especialistas": 4, "top_k": 2, "d_oculto": 32})
    moe(torch.randint(0, 40, (2, 10)))
    assert ex.perda_auxiliar(moe).item() > 0 and ex.perda_auxiliar(base).item() == 0
    encoder = ex.criar_variante(cfg, causal=False).eval()
    ids = torch.randint(0, 40, (1, 8))
    ids2 = ids.clone()
    ids2[0, -1] = (ids2[0, -1] + 1) % 40
    with torch.no_grad():
        assert not torch.allclose(encoder(ids)[0, 0], encoder(ids2)[0, 0])
        assert torch.allclose(base(ids)[0, :-1], base(ids2)[0, :-1], atol=1e-6)
    with pytest.raises(ValueError, match="feed-forward"):
        ex.criar_variante(cfg, swiglu=True, moe={"n_especialistas": 2, "top_k": 1, "d_oculto": 8})


# ------------------------------------------------------------------------------------------------------------------
# BERT, treino e medidas
# ------------------------------------------------------------------------------------------------------------------


def test_mascarar_para_mlm(ex):
    ids = torch.randint(0, 100, (64, 128))
    gerador = torch.Generator().manual_seed(0)
    entrada, alvo = ex.mascarar_para_mlm(ids, id_mascara=100, vocab_size=100, gerador=gerador)
    escolhidas = alvo != -100
    assert abs(escolhidas.float().mean().item() - 0.15) < 0.01
    assert torch.equal(alvo[escolhidas], ids[escolhidas])
    assert torch.equal(entrada[~escolhidas], ids[~escolhidas])  # fora das sorteadas, nada muda
    assert abs((entrada[escolhidas] == 100).float().mean().item() - 0.8) < 0.03
    assert (entrada == 100).sum() == (entrada[escolhidas] == 100).sum()
    mesmo = ex.mascarar_para_mlm(ids, 100, 100, torch.Generator().manual_seed(0))
    assert torch.equal(mesmo[0], entrada) and torch.equal(mesmo[1], alvo)
    with pytest.raises(ValueError, match="fracao"):
        ex.mascarar_para_mlm(ids, 100, 100, fracao=1.5)


def test_representacoes_e_estados_finais(ex, ldz):
    torch.manual_seed(0)
    tok = ldz.tokenizador_machado()
    cfg = _cfg(vocab=tok.n_vocab, ctx=32)
    modelo = ex.criar_variante(cfg).eval()
    with torch.no_grad():
        ids = torch.tensor([tok.encode("Capitu olhou")])
        estados = ex.estados_finais(modelo, ids)
        assert torch.allclose(modelo.cabeca_saida(estados), modelo(ids), atol=1e-5)
        reps = ex.representacoes_de_textos(modelo, ["Capitu olhou", "oi", "Capitu olhou"], tok, max_tokens=8)
        assert torch.allclose(reps["ultimo"][0], estados[0, -1], atol=1e-5)
        assert torch.allclose(reps["media"][0], estados[0].mean(0), atol=1e-5)
        assert torch.allclose(reps["media"][0], reps["media"][2])


def test_sonda_linear_separa_classes_separaveis(ex):
    torch.manual_seed(0)
    x = torch.randn(200, 5)
    y = (x[:, 2] - 0.5 * x[:, 0] > 0).long()
    prever = ex.sonda_linear(x[:150], y[:150], passos=150)
    assert (prever(x[150:]) == y[150:]).float().mean().item() >= 0.95


def test_treinar_por_passos_aprende(ex):
    torch.manual_seed(0)
    modelo = ex.criar_variante(_cfg(), moe={"n_especialistas": 2, "top_k": 1, "d_oculto": 16})
    ids = torch.randint(0, 40, (4, 9))
    lote = (ids[:, :-1], ids[:, 1:])
    hist = ex.treinar_por_passos(modelo, lambda: lote, ex.perda_proximo_token, passos=40, lr_max=1e-2,
                                 peso_auxiliar=0.01)
    assert len(hist["perda"]) == 40 and hist["perda"][-1] < 0.5 * hist["perda"][0]
    assert all(a > 0 for a in hist["perda_auxiliar"])
    with pytest.raises(ValueError, match="passos"):
        ex.treinar_por_passos(modelo, lambda: lote, ex.perda_proximo_token, passos=0, lr_max=1e-3)


def test_medir_vazao_razao_intercalada(ex, monkeypatch):
    """Com um relógio falso (cada chamada "leva" um tempo conhecido), as contas saem exatas."""
    relogio = [0.0]
    ordem = []
    monkeypatch.setattr(ex.time, "perf_counter", lambda: relogio[0])

    def funcao(nome, duracoes):
        def passo():
            ordem.append(nome)
            relogio[0] += duracoes.pop(0)
        return passo

    # aquecimento (1 chamada) + 3 rodadas; a máquina "fica mais lenta" na 3ª rodada, para os dois
    passos = {"rápido": funcao("rápido", [9.0, 1.0, 1.0, 2.0]), "lento": funcao("lento", [9.0, 3.0, 3.0, 6.0])}
    r = ex.medir_vazao(passos, tokens_por_passo={"rápido": 100, "lento": 300}, rodadas=3)
    assert ordem == ["rápido", "lento", "rápido", "lento", "lento", "rápido", "rápido", "lento"]  # ida e volta
    assert r["rápido"]["razao"] == 1.0
    assert r["lento"]["razao"] == pytest.approx(1 / 3) and r["lento"]["razao_max"] == pytest.approx(1 / 3)
    assert r["rápido"]["tokens_s"] == pytest.approx(100.0) and r["lento"]["tokens_s"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="referencia"):
        ex.medir_vazao({"a": lambda: None}, 10, referencia="b")
    with pytest.raises(ValueError):
        ex.medir_vazao({}, 10)
