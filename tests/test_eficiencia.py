"""Capítulo 8 — eficiência (notebook_eficiencia): memória, checkpointing, acumulação, precisão mista, destilação,
poda, NF4/QLoRA e ONNX.

Só modelos minúsculos criados aqui com semente fixa: o arquivo inteiro roda em poucos segundos.
"""
import importlib
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

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


def _cfg(vocab=50, ctx=16, d=16, heads=2, camadas=2, rapida=True, amarrar=True, bias=False):
    return {"vocab_size": vocab, "context_length": ctx, "d_model": d, "n_heads": heads, "n_layers": camadas,
            "dropout": 0.0, "qkv_bias": bias, "atencao_rapida": rapida, "amarrar_pesos": amarrar,
            "caminho_rapido": False}  # as classes do capítulo 4 (a fórmula das ativações conta a versão à mão)


def _modelo(ldz, semente=0, **kw):
    torch.manual_seed(semente)
    return ldz.criar_modelo_gpt(_cfg(**kw))


def _lote(semente=0, b=4, t=12, vocab=50):
    g = torch.Generator().manual_seed(semente)
    return torch.randint(0, vocab, (b, t), generator=g), torch.randint(0, vocab, (b, t), generator=g)


def _gradientes(modelo):
    return {n.replace(".bloco.", "."): p.grad.clone() for n, p in modelo.named_parameters() if p.grad is not None}


# ----------------------------------------------------------------------------------------------------------------
# Memória: a fórmula das ativações contra o que o autograd guarda
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fundido", [False, True])
@pytest.mark.parametrize("b,t", [(1, 5), (3, 16)])
def test_formula_das_ativacoes_bate_com_o_medido(ex, ldz, fundido, b, t):
    modelo = _modelo(ldz, vocab=37, d=24, heads=3, camadas=3)
    if fundido:
        modelo = ex.com_nucleos_fundidos(modelo)
    impl = ex.implementacao_do_modelo(modelo)
    assert impl == {"normas_a_mao": not fundido, "gelu_a_mao": not fundido}
    entrada, alvo = _lote(b=b, t=t, vocab=37)
    medido = ex.medir_ativacoes(modelo.train(), entrada, alvo)
    formula = ex.bytes_de_ativacoes(modelo_cfg := _cfg(vocab=37, d=24, heads=3, camadas=3), b, t, **impl)
    assert abs(formula - medido) <= 4  # só o escalar da perda fica de fora da fórmula
    por_bloco = ex.ativacoes_por_token(modelo_cfg, **impl)["por_bloco"]
    assert por_bloco == (32 * 24 + 2 + 3 if not fundido else 16 * 24 + 4 + 3)


def test_nucleos_fundidos_dao_os_mesmos_logits(ex, ldz):
    modelo = _modelo(ldz, semente=3)
    fundido = ex.com_nucleos_fundidos(modelo)
    assert not any(type(m).__name__ == "CamadaNorm" for m in fundido.modules())
    entrada, _ = _lote()
    with torch.no_grad():
        assert torch.allclose(fundido(entrada), modelo(entrada), atol=1e-5)


def test_contagem_no_meta_e_memoria_de_treino(ex, ldz):
    cfg = dict(ldz.GPT2_124M, amarrar_pesos=True, qkv_bias=True, atencao_rapida=True)
    contagem = ex.contar_no_meta(cfg)
    assert contagem["total"] == 124_439_808  # o GPT-2 small com pesos amarrados
    d, n = 768, 12
    assert contagem["matrizes_dos_blocos"] == n * (3 * d * d + d * d + 8 * d * d)
    completo = ex.memoria_de_treino(cfg, 1, 256, "completo", reserva_gb=0.0)
    assert completo["pesos"] == pytest.approx(6 * contagem["total"] / 2**30)
    assert completo["treino"] == pytest.approx(12 * contagem["total"] / 2**30)
    lora = ex.memoria_de_treino(cfg, 1, 256, "lora", reserva_gb=0.0)
    assert lora["treino"] == pytest.approx(16 * n * 8 * 6 * d / 2**30)
    qlora = ex.memoria_de_treino(cfg, 1, 256, "qlora", reserva_gb=0.0)
    assert qlora["pesos"] < lora["pesos"] < completo["pesos"]
    ck = ex.memoria_de_treino(cfg, 8, 1024, "qlora", checkpointing=True)
    assert ck["ativacoes"] < ex.memoria_de_treino(cfg, 8, 1024, "qlora")["ativacoes"]
    assert ex.menor_gpu(3.9) == "4 GB" and ex.menor_gpu(5.0) == "6 GB" and ex.menor_gpu(40) == "não cabe"
    with pytest.raises(ValueError, match="metodo"):
        ex.memoria_de_treino(cfg, 1, 256, "adam8bit")
    with pytest.raises(ValueError, match="tokens"):
        ex.memoria_de_treino(cfg, 1, 4096)


# ----------------------------------------------------------------------------------------------------------------
# Gradient checkpointing e acumulação de gradientes
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rapida", [True, False])
def test_checkpointing_da_os_mesmos_gradientes(ex, ldz, rapida):
    normal = _modelo(ldz, semente=5, rapida=rapida).train()
    ck = ex.aplicar_checkpointing(_modelo(ldz, semente=5, rapida=rapida)).train()
    entrada, alvo = _lote(semente=1)
    ldz.perda_do_batch(normal, entrada, alvo).backward()
    ldz.perda_do_batch(ck, entrada, alvo).backward()
    g_normal, g_ck = _gradientes(normal), _gradientes(ck)
    assert g_normal.keys() == g_ck.keys()
    for nome in g_normal:
        assert torch.allclose(g_normal[nome], g_ck[nome], atol=1e-6), nome
    # e guarda menos: só a entrada de cada bloco (a fórmula com checkpointing=True)
    impl = ex.implementacao_do_modelo(ck)
    medido = ex.medir_ativacoes(ck, entrada, alvo)
    assert abs(medido - ex.bytes_de_ativacoes(_cfg(), 4, 12, checkpointing=True, **impl)) <= 4
    assert medido < ex.medir_ativacoes(normal, entrada, alvo)
    with pytest.raises(ValueError, match="uma vez só"):
        ex.aplicar_checkpointing(ck)


@pytest.mark.parametrize("micro", [2, 4])
def test_acumulacao_igual_ao_lote_grande(ex, ldz, micro):
    modelo = _modelo(ldz, semente=7).train()
    entrada, alvo = _lote(semente=2, b=8)
    perda = ldz.perda_do_batch(modelo, entrada, alvo)
    perda.backward()
    inteiro = _gradientes(modelo)
    modelo.zero_grad()
    media = ex.gradientes_acumulados(modelo, entrada, alvo, micro)
    assert media == pytest.approx(perda.item(), abs=1e-5)
    for nome, g in _gradientes(modelo).items():
        assert torch.allclose(g, inteiro[nome], atol=1e-6), nome
    with pytest.raises(ValueError, match="microlotes"):
        ex.gradientes_acumulados(modelo, entrada, alvo, 3)


# ----------------------------------------------------------------------------------------------------------------
# Precisão mista
# ----------------------------------------------------------------------------------------------------------------


def test_passo_em_precisao_fp32_igual_ao_passo_a_mao(ex, ldz):
    a, b = _modelo(ldz, semente=9), _modelo(ldz, semente=9)
    oa, ob = torch.optim.AdamW(a.parameters(), lr=1e-3), torch.optim.AdamW(b.parameters(), lr=1e-3)
    entrada, alvo = _lote(semente=3)
    perda = ex.passo_em_precisao(a, oa, entrada, alvo, "fp32", clip=1.0)
    referencia = ldz.perda_do_batch(b, entrada, alvo)
    referencia.backward()
    torch.nn.utils.clip_grad_norm_(b.parameters(), 1.0)
    ob.step()
    assert perda == pytest.approx(referencia.item(), abs=1e-6)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_passo_em_precisao_bf16_e_fp16_perto_do_fp32(ex, ldz):
    entrada, alvo = _lote(semente=4)
    perdas = {}
    for prec in ("fp32", "bf16", "fp16"):
        m = _modelo(ldz, semente=11)
        o = torch.optim.AdamW(m.parameters(), lr=1e-3)
        escalador = torch.amp.GradScaler("cpu") if prec == "fp16" else None
        perdas[prec] = ex.passo_em_precisao(m, o, entrada, alvo, prec, escalador)
    assert perdas["bf16"] == pytest.approx(perdas["fp32"], abs=0.05)
    assert perdas["fp16"] == pytest.approx(perdas["fp32"], abs=0.01)
    m = _modelo(ldz)
    with pytest.raises(ValueError, match="GradScaler"):
        ex.passo_em_precisao(m, torch.optim.AdamW(m.parameters()), entrada, alvo, "fp16")
    with pytest.raises(ValueError, match="precisao"):
        ex.passo_em_precisao(m, torch.optim.AdamW(m.parameters()), entrada, alvo, "int4")


# ----------------------------------------------------------------------------------------------------------------
# Destilação
# ----------------------------------------------------------------------------------------------------------------


def test_perda_de_destilacao_igual_a_kl_a_mao(ex):
    aluno = torch.tensor([[[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]]])  # (1, 2 posições, 3 tokens)
    prof = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]]])
    temperatura = 2.0
    kl = 0.0
    for pos in range(2):  # KL(p_prof ‖ p_aluno) de cada posição, com a temperatura, escrita termo a termo
        za = [math.exp(v / temperatura) for v in aluno[0, pos].tolist()]
        zp = [math.exp(v / temperatura) for v in prof[0, pos].tolist()]
        pa = [v / sum(za) for v in za]
        pp = [v / sum(zp) for v in zp]
        kl += sum(p * math.log(p / q) for p, q in zip(pp, pa, strict=True))
    kl /= 2  # média por posição
    so_kl = ex.perda_destilacao(aluno, prof, temperatura=temperatura, alfa=1.0)
    assert so_kl.item() == pytest.approx(temperatura**2 * kl, rel=1e-5)
    alvo = torch.tensor([[0, 2]])
    ce = F.cross_entropy(aluno.reshape(-1, 3), alvo.reshape(-1)).item()
    misturada = ex.perda_destilacao(aluno, prof, alvo, temperatura=temperatura, alfa=0.25)
    assert misturada.item() == pytest.approx(0.25 * temperatura**2 * kl + 0.75 * ce, rel=1e-5)
    assert ex.perda_destilacao(prof, prof, temperatura=3.0, alfa=1.0).item() == pytest.approx(0.0, abs=1e-6)


def test_destilacao_nao_passa_gradiente_ao_professor_e_valida_entradas(ex):
    aluno = torch.randn(2, 3, 5, requires_grad=True)
    prof = torch.randn(2, 3, 5, requires_grad=True)
    ex.perda_destilacao(aluno, prof, alfa=1.0).backward()
    assert aluno.grad is not None and prof.grad is None
    with pytest.raises(ValueError, match="mesmo shape"):
        ex.perda_destilacao(aluno, prof[:, :2])
    with pytest.raises(ValueError, match="alvo"):
        ex.perda_destilacao(aluno, prof, alfa=0.5)
    with pytest.raises(ValueError, match="temperatura"):
        ex.perda_destilacao(aluno, prof, temperatura=0.0, alfa=1.0)


def test_treinar_aluno_com_e_sem_professor(ex, ldz):
    texto_ids = torch.arange(400) % 50
    dados = ldz.DatasetGPT(texto_ids.tolist(), context_length=8, stride=8)
    loader = torch.utils.data.DataLoader(dados, batch_size=4, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    professor = _modelo(ldz, semente=1, camadas=2)
    for prof in (None, professor):
        aluno = _modelo(ldz, semente=2, camadas=1)
        curva = ex.treinar_aluno(aluno, loader, passos=15, lr_max=1e-2, professor=prof)
        assert len(curva) == 15 and all(math.isfinite(v) for v in curva)
        assert curva[-1] < curva[0]


# ----------------------------------------------------------------------------------------------------------------
# Poda
# ----------------------------------------------------------------------------------------------------------------


def test_poda_por_magnitude_zera_a_fracao_e_nao_muda_o_original(ex, ldz):
    modelo = _modelo(ldz, semente=4)
    antes = {n: p.clone() for n, p in modelo.named_parameters()}
    podado = ex.podar_por_magnitude(modelo, 0.5)
    assert ex.fracao_de_zeros(podado) == pytest.approx(0.5, abs=0.01)
    for n, p in modelo.named_parameters():
        assert torch.equal(p, antes[n])
    camada = podado.blocos[0].ff.camadas[0].weight
    original = modelo.blocos[0].ff.camadas[0].weight
    assert original[camada == 0].abs().max() <= original[camada != 0].abs().min()
    with pytest.raises(ValueError, match="fracao"):
        ex.podar_por_magnitude(modelo, 1.0)


def test_poda_estruturada_encolhe_e_com_zero_nao_muda(ex, ldz):
    modelo = _modelo(ldz, semente=6, d=16, heads=4).eval()
    entrada, _ = _lote()
    with torch.no_grad():
        assert torch.allclose(ex.podar_estruturado(modelo, 0.0)(entrada), modelo(entrada), atol=1e-6)
        podado = ex.podar_estruturado(modelo, 0.5).eval()
        assert podado(entrada).shape == modelo(entrada).shape
    bloco = podado.blocos[0]
    assert bloco.atencao.n_heads == 2 and bloco.atencao.qkv.weight.shape == (3 * 8, 16)
    assert bloco.ff.camadas[0].weight.shape == (32, 16) and bloco.ff.camadas[2].weight.shape == (16, 32)
    # tirar uma cabeça = zerar a sua parte da projeção de saída no modelo original
    referencia = _modelo(ldz, semente=6, d=16, heads=4, camadas=1).eval()
    uma = ex.podar_estruturado(referencia, 0.25)
    ficaram = uma.blocos[0].atencao.n_heads
    assert ficaram == 3


# ----------------------------------------------------------------------------------------------------------------
# NF4 e QLoRA
# ----------------------------------------------------------------------------------------------------------------

#: Os 16 níveis do NF4 publicados com o QLoRA (bitsandbytes), arredondados a 4 casas.
NF4_PUBLICADO = [-1.0, -0.6962, -0.5251, -0.3949, -0.2844, -0.1848, -0.0911, 0.0,
                 0.0796, 0.1609, 0.2461, 0.3379, 0.4407, 0.5626, 0.7230, 1.0]


def test_niveis_nf4_sao_os_publicados(ex):
    niveis = ex.niveis_nf4()
    assert niveis.shape == (16,)
    assert torch.allclose(niveis, torch.tensor(NF4_PUBLICADO), atol=1e-4)


@pytest.mark.parametrize("shape,bloco", [((40, 24), 64), ((7, 13), 64), ((5, 33), 16)])
def test_nf4_ida_e_volta_dentro_do_limite(ex, shape, bloco):
    torch.manual_seed(0)
    peso = torch.randn(shape) * 0.02
    q = ex.quantizar_nf4(peso, bloco)
    n = peso.numel()
    n_blocos = math.ceil(n / bloco)
    assert q["codigos"].dtype == torch.uint8 and q["codigos"].numel() == n_blocos * bloco // 2  # 4 bits por peso
    assert q["absmax"].shape == (n_blocos,)
    volta = ex.desquantizar_nf4(q)
    assert volta.shape == peso.shape
    niveis = ex.niveis_nf4()
    meio_intervalo = ((niveis[1:] - niveis[:-1]) / 2).max()
    absmax = torch.nn.functional.pad(peso.flatten(), (0, n_blocos * bloco - n)).view(-1, bloco).abs().amax(1)
    limite = (absmax.repeat_interleave(bloco)[:n] * meio_intervalo).view(shape)
    assert ((volta - peso).abs() <= limite + 1e-7).all()
    # o máximo de cada bloco é representado exatamente (nível ±1)
    assert torch.allclose(volta.flatten().abs().max(), peso.flatten().abs().max())
    # e quantizar de novo o que voltou não muda nada (os valores já estão na grade)
    assert torch.allclose(ex.desquantizar_nf4(ex.quantizar_nf4(volta, bloco)), volta, atol=1e-7)


def test_nf4_rejeita_entradas_ruins(ex):
    with pytest.raises(ValueError, match="NaN"):
        ex.quantizar_nf4(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="ponto flutuante"):
        ex.quantizar_nf4(torch.arange(4))
    with pytest.raises(ValueError, match="tamanho_bloco"):
        ex.quantizar_nf4(torch.randn(8), 3)


def test_linear_nf4_e_modelo_nf4(ex, ldz):
    torch.manual_seed(1)
    linear = nn.Linear(32, 8)
    q = ex.LinearNF4.de_linear(linear)
    x = torch.randn(3, 32)
    assert torch.allclose(q(x), F.linear(x, ex.desquantizar_nf4(ex.quantizar_nf4(linear.weight)), linear.bias))
    modelo = _modelo(ldz, semente=2, d=32, vocab=64)
    nf4 = ex.quantizar_modelo_nf4(modelo)
    assert nf4.cabeca_saida is nf4.emb_tokens.linear  # weight tying preservado, sem duplicar
    assert ex.tamanho_em_bytes(nf4) < ex.tamanho_em_bytes(modelo) / 4
    entrada, _ = _lote(vocab=64)
    with torch.no_grad():
        assert (nf4(entrada) - modelo(entrada)).abs().max() < 0.1


def test_qlora_treina_so_a_lora_e_comeca_igual_a_base(ex, ldz):
    modelo = _modelo(ldz, semente=3, d=32, vocab=64)
    ldz.preparar_para_classificacao(modelo, 2, treinar_ultimos_blocos=0)
    entrada, _ = _lote(vocab=64)
    referencia = ex.quantizar_modelo_nf4(modelo, incluir_embeddings=False)  # a base em NF4, sem LoRA
    ex.aplicar_qlora(modelo)
    treinaveis = {n for n, p in modelo.named_parameters() if p.requires_grad}
    assert all(n.endswith((".A", ".B")) or n.startswith(("cabeca_saida", "norm_final")) for n in treinaveis)
    with torch.no_grad():
        referencia.cabeca_saida = modelo.cabeca_saida
        assert torch.allclose(modelo(entrada), referencia(entrada), atol=1e-6)  # B = 0: só a base
    with pytest.raises(ValueError, match="uma vez só"):
        ex.aplicar_qlora(modelo)
    with pytest.raises(TypeError, match="LinearNF4"):
        ex.LinearQLoRA(nn.Linear(4, 4))


# ----------------------------------------------------------------------------------------------------------------
# ONNX e medidas de tempo
# ----------------------------------------------------------------------------------------------------------------


def test_onnx_paridade_com_comprimento_dinamico(ex, ldz, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    modelo = _modelo(ldz, semente=8, ctx=32)
    caminho = ex.exportar_onnx(modelo, tmp_path / "modelo.onnx")
    rodar = ex.sessao_onnx(caminho, threads=1)
    for b, t in ((1, 3), (2, 17), (3, 32)):
        entrada, _ = _lote(semente=b, b=b, t=t)
        with torch.no_grad():
            assert (rodar(entrada) - modelo(entrada)).abs().max() <= 1e-4


def test_resumir_razoes_a_mao(ex):
    tempos = {"a": [1.0, 2.0, 4.0], "b": [0.5, 2.0, 1.0]}
    r = ex.resumir_razoes(tempos, "a")
    assert r["b"]["mediana"] == 2.0 and r["b"]["min"] == 1.0 and r["b"]["max"] == 4.0
    assert r["a"]["mediana"] == 1.0 and r["b"]["tempo_mediano_s"] == 1.0
    with pytest.raises(ValueError, match="referência"):
        ex.resumir_razoes(tempos, "c")
    chamadas = []
    medidos = ex.medir_intercalado({"x": lambda: chamadas.append("x"), "y": lambda: chamadas.append("y")},
                                   rodadas=2, repeticoes=2)
    assert chamadas == ["x", "y"] + ["x", "x", "y", "y"] * 2  # aquecimento, depois rodadas intercaladas
    assert {k: len(v) for k, v in medidos.items()} == {"x": 2, "y": 2}
    assert "núcleos" in ex.carga_da_maquina()
