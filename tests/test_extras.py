"""Capítulo 8 — extras.py: LoRA, KV cache, quantização int8, mapas de atenção e média dos tokens.

Só modelos minúsculos, criados aqui com semente fixa: o arquivo inteiro roda em poucos segundos.
"""
import importlib
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import RAIZ, gulosa_a_mao

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
    torch.set_num_threads(1)  # modelos minúsculos: com mais threads, a sincronização custa mais que a conta
    yield modulo
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ldz(ex):
    return sys.modules["llm_do_zero"]


def _cfg(atencao_rapida, vocab=50, ctx=24, d=16, heads=2, camadas=2, bias=False, amarrar=False):
    return {"vocab_size": vocab, "context_length": ctx, "d_model": d, "n_heads": heads, "n_layers": camadas,
            "dropout": 0.1, "qkv_bias": bias, "atencao_rapida": atencao_rapida, "amarrar_pesos": amarrar}


def _modelo(ldz, semente=0, **kw):
    torch.manual_seed(semente)
    return ldz.criar_modelo_gpt(_cfg(**kw))


# ----------------------------------------------------------------------------------------------------------------
# LoRA
# ----------------------------------------------------------------------------------------------------------------


def test_lora_comeca_igual_a_camada_base(ex):
    torch.manual_seed(0)
    base = nn.Linear(12, 10)
    lora = ex.LinearComLoRA(base, r=3, alpha=6.0)
    x = torch.randn(4, 7, 12)
    assert torch.count_nonzero(lora.B) == 0
    assert torch.count_nonzero(lora.A) > 0
    assert torch.equal(lora(x), base(x))
    assert lora.escala == 2.0
    assert lora.A.shape == (3, 12) and lora.B.shape == (10, 3)


def test_lora_treina_so_a_e_b(ex):
    torch.manual_seed(1)
    base = nn.Linear(8, 6)
    peso0, vies0 = base.weight.detach().clone(), base.bias.detach().clone()
    lora = ex.LinearComLoRA(base, r=2)
    treinaveis = {nome for nome, p in lora.named_parameters() if p.requires_grad}
    assert treinaveis == {"A", "B"}
    assert sum(p.numel() for p in lora.parameters() if p.requires_grad) == 2 * (8 + 6)
    a0 = lora.A.detach().clone()
    for _ in range(2):  # no 1º passo só B muda (B = 0 zera o gradiente de A); no 2º, A também
        lora.zero_grad()
        lora(torch.randn(5, 8)).pow(2).sum().backward()
        with torch.no_grad():  # um passo de SGD à mão em tudo que recebeu gradiente
            for p in lora.parameters():
                if p.grad is not None:
                    p -= 0.5 * p.grad
    assert torch.equal(base.weight, peso0) and torch.equal(base.bias, vies0)
    assert base.weight.grad is None
    assert torch.count_nonzero(lora.B) > 0
    assert not torch.equal(lora.A, a0)


def test_fundir_lora_da_a_mesma_saida(ex):
    torch.manual_seed(2)
    lora = ex.LinearComLoRA(nn.Linear(9, 7), r=3, alpha=5.0)
    with torch.no_grad():
        lora.B.normal_()  # uma LoRA "treinada"
    fundida = lora.fundir()
    assert isinstance(fundida, nn.Linear)
    x = torch.randn(3, 9)
    assert torch.allclose(fundida(x), lora(x), atol=1e-5)
    esperado = lora.base.weight + lora.escala * lora.B @ lora.A
    assert torch.allclose(fundida.weight, esperado, atol=1e-6)


@pytest.mark.parametrize("rapida", [False, True])
def test_aplicar_e_fundir_lora_num_modelo(ex, ldz, rapida):
    modelo = _modelo(ldz, 3, atencao_rapida=rapida).eval()
    ids = torch.randint(0, 50, (2, 10))
    antes = modelo(ids)
    ex.aplicar_lora(modelo, r=2, incluir_ff=True)
    n_lora = sum(isinstance(m, ex.LinearComLoRA) for m in modelo.modules())
    assert n_lora == 2 * ((2 if rapida else 4) + 2)
    assert torch.allclose(modelo(ids), antes)  # B = 0: nada muda
    with torch.no_grad():
        for m in modelo.modules():
            if isinstance(m, ex.LinearComLoRA):
                m.B.normal_(std=0.1)
    com_lora = modelo(ids)
    assert not torch.allclose(com_lora, antes)
    ex.fundir_lora(modelo)
    assert not any(isinstance(m, ex.LinearComLoRA) for m in modelo.modules())
    assert torch.allclose(modelo(ids), com_lora, atol=1e-5)
    with pytest.raises(ValueError, match="nenhuma camada LinearComLoRA"):
        ex.fundir_lora(modelo)


def test_lora_erros_em_portugues(ex, ldz):
    with pytest.raises(TypeError, match="nn.Linear"):
        ex.LinearComLoRA(nn.Conv1d(3, 3, 1))
    with pytest.raises(ValueError, match="posto r"):
        ex.LinearComLoRA(nn.Linear(4, 4), r=0)
    with pytest.raises(ValueError, match="menor dimensão"):
        ex.LinearComLoRA(nn.Linear(4, 3), r=5)
    with pytest.raises(ValueError, match="alpha"):
        ex.LinearComLoRA(nn.Linear(4, 4), r=2, alpha=0)
    modelo = _modelo(ldz, atencao_rapida=True)
    ex.aplicar_lora(modelo, r=2)
    with pytest.raises(ValueError, match="já tem LoRA"):
        ex.aplicar_lora(modelo, r=2)
    with pytest.raises(TypeError, match="ModeloGPT"):
        ex.aplicar_lora(nn.Linear(3, 3))


def test_ajustar_e_medir_sem_parametros_treinaveis(ex, ldz):
    modelo = _modelo(ldz, atencao_rapida=True)
    for p in modelo.parameters():
        p.requires_grad = False
    with pytest.raises(ValueError, match="nenhum parâmetro treinável"):
        ex.ajustar_e_medir(modelo, [], [], [], lr=1e-3, n_epocas=1)


# ----------------------------------------------------------------------------------------------------------------
# KV cache
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("semente,formato", [(0, {}), (1, {"d": 24, "heads": 3, "camadas": 3, "bias": True}),
                                             (2, {"d": 8, "heads": 1, "camadas": 1, "amarrar": True}),
                                             (3, {"d": 32, "heads": 4, "camadas": 2})])
def test_cache_gera_os_mesmos_tokens(ldz, semente, formato):
    """O KV cache que o capítulo 5 pôs no gerar_texto e o capítulo 8 abre: mesmos tokens que a gulosa sem cache."""
    modelo = _modelo(ldz, semente, atencao_rapida=True, **formato)
    modelo.train()  # a geração desliga o dropout sozinha e devolve o modo
    gerador = torch.Generator().manual_seed(semente)
    ids = torch.randint(0, 50, (3, 4), generator=gerador)
    sem = ldz.gerar_texto(modelo, ids, 20, usar_cache=False)
    com = ldz.gerar_texto(modelo, ids, 20, usar_cache=True)
    assert sem.shape == (3, 24) and sem.dtype == torch.long
    assert torch.equal(sem, com)
    assert torch.equal(sem[:, :4], ids)
    assert modelo.training
    modelo.eval()
    assert torch.equal(sem, gulosa_a_mao(modelo, ids, 20))


def test_so_o_modelo_rapido_tem_cache(ldz):
    """O modelo didático do capítulo 4 gera sem cache; pedir o cache a ele é um erro claro, não um resultado errado."""
    didatico = _modelo(ldz, 4, atencao_rapida=False).eval()
    ids = torch.randint(0, 50, (1, 4))
    assert torch.equal(ldz.gerar_texto(didatico, ids, 5), gulosa_a_mao(didatico, ids, 5))
    with pytest.raises(ValueError, match="KV cache é do ModeloGPTRapido"):
        ldz.gerar_texto(didatico, ids, 5, usar_cache=True)


def test_cache_logits_iguais_ao_forward_completo(ldz):
    modelo = _modelo(ldz, 4, atencao_rapida=True).eval()
    ids = torch.randint(0, 50, (2, 12))
    cache = ldz.CacheKV(len(modelo.blocos))
    with torch.no_grad():
        partes = [modelo(ids[:, :5], cache=cache)]
        partes += [modelo(ids[:, i:i + 1], cache=cache) for i in range(5, 12)]
        completo = modelo(ids)
    assert torch.allclose(torch.cat(partes, dim=1), completo, atol=1e-5)
    assert cache.n_tokens == 12
    assert cache.bytes() == 2 * 2 * 2 * 12 * 16 * 4  # K e V × camadas × batch × tokens × d_model × 4 bytes
    with pytest.raises(ValueError, match="context_length"):
        modelo(torch.cat([ids, ids[:, :1]], dim=1), cache=cache)  # 12 + 13 > 24


def test_medir_tokens_por_segundo(ex, ldz, monkeypatch):
    """Com um relógio falso, as repetições "levam" 0,5 s, 0,25 s e 1 s: vale a melhor, 2 × 5 tokens / 0,25 s = 40."""
    agora = [0.0]
    duracoes = iter([0.5, 0.25, 1.0])
    chamadas = []

    def gerar_falso(modelo, ids, n):
        chamadas.append((modelo, ids, n))
        agora[0] += next(duracoes)

    monkeypatch.setattr(ex.time, "process_time", lambda: agora[0])
    modelo = _modelo(ldz, atencao_rapida=True)
    ids = torch.randint(0, 50, (2, 4))
    assert ex.medir_tokens_por_segundo(gerar_falso, modelo, ids, 5, repeticoes=3) == pytest.approx(40.0)
    assert len(chamadas) == 3 and all(m is modelo and i is ids and n == 5 for m, i, n in chamadas)
    with pytest.raises(ValueError, match="repeticoes"):
        ex.medir_tokens_por_segundo(ldz.gerar_texto, modelo, ids, 5, repeticoes=0)


def test_geracao_zero_tokens_e_alem_do_contexto(ldz):
    modelo = _modelo(ldz, atencao_rapida=True)
    ids = torch.randint(0, 50, (1, 6))
    for usar_cache in (False, True):
        assert torch.equal(ldz.gerar_texto(modelo, ids, 0, usar_cache=usar_cache), ids)
    # além do contexto (6 + 30 > 24) a janela desliza: com e sem cache, os mesmos tokens da gulosa
    longo = ldz.gerar_texto(modelo, ids, 30, usar_cache=True)
    assert longo.shape == (1, 36)
    assert torch.equal(longo, ldz.gerar_texto(modelo, ids, 30, usar_cache=False))
    assert torch.equal(longo, gulosa_a_mao(modelo.eval(), ids, 30))


def test_geracao_erros_em_portugues(ldz):
    modelo = _modelo(ldz, atencao_rapida=False)
    for usar_cache in (False, True):
        with pytest.raises(ValueError, match="shape"):
            ldz.gerar_texto(modelo, torch.tensor([1, 2, 3]), 2, usar_cache=usar_cache)
        with pytest.raises(ValueError, match="max_novos_tokens"):
            ldz.gerar_texto(modelo, torch.tensor([[1, 2]]), -1, usar_cache=usar_cache)
        with pytest.raises(ValueError, match="temperatura"):
            ldz.gerar_texto(modelo, torch.tensor([[1, 2]]), 2, temperatura=-1.0, usar_cache=usar_cache)


def test_conferir_modelo_gpt(ex, ldz):
    ex.conferir_modelo_gpt(_modelo(ldz, atencao_rapida=True))
    with pytest.raises(TypeError, match="ModeloGPT"):
        ex.conferir_modelo_gpt(nn.Linear(2, 2))


# ----------------------------------------------------------------------------------------------------------------
# Quantização int8
# ----------------------------------------------------------------------------------------------------------------


def test_quantizar_e_desquantizar_erro_limitado(ex):
    torch.manual_seed(5)
    peso = torch.randn(20, 33) * torch.logspace(-3, 1, 20)[:, None]  # linhas com escalas bem diferentes
    peso[3] = 0.0  # uma linha toda de zeros
    q, escala = ex.quantizar_int8(peso)
    assert q.dtype == torch.int8 and q.shape == (20, 33) and escala.shape == (20,)
    assert int(q.abs().max()) <= 127
    assert torch.equal(q.abs().amax(dim=1)[torch.arange(20) != 3], torch.full((19,), 127, dtype=torch.int8))
    volta = ex.desquantizar_int8(q, escala)
    erro = (volta - peso).abs()
    assert (erro <= escala[:, None] / 2 + 1e-7).all()
    assert torch.equal(volta[3], torch.zeros(33))
    maximos = peso.abs().amax(dim=1)
    assert escala[3] == 1.0
    assert torch.allclose(escala[maximos > 0], maximos[maximos > 0] / 127)


def test_quantizar_erros_em_portugues(ex):
    with pytest.raises(ValueError, match="matriz"):
        ex.quantizar_int8(torch.randn(5))
    with pytest.raises(ValueError, match="matriz"):
        ex.quantizar_int8(torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        ex.quantizar_int8(torch.tensor([[1.0, float("nan")]]))


@pytest.mark.parametrize("amarrar", [False, True])
def test_modelo_int8_perto_do_fp32(ex, ldz, amarrar):
    modelo = _modelo(ldz, 6, atencao_rapida=True, amarrar=amarrar, vocab=80, d=32).eval()
    original = {k: v.clone() for k, v in modelo.state_dict().items()}
    quantizado = ex.quantizar_modelo(modelo)
    assert all(torch.equal(v, modelo.state_dict()[k]) for k, v in original.items())  # o original não muda
    assert not any(isinstance(m, nn.Linear) for m in quantizado.modules())
    ids = torch.randint(0, 80, (2, 16))
    with torch.no_grad():
        a, b = modelo(ids), quantizado(ids)
    assert (a - b).abs().max() < 0.05 * a.abs().max()
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.9
    assert ex.tamanho_em_bytes(quantizado) < 0.4 * ex.tamanho_em_bytes(modelo)
    if amarrar:
        assert quantizado.cabeca_saida.q is quantizado.emb_tokens.q


def test_tamanho_em_bytes_conta_compartilhado_uma_vez(ex):
    camada = nn.Linear(10, 4, bias=False)
    dupla = nn.Sequential(camada, camada)
    assert ex.tamanho_em_bytes(dupla) == 10 * 4 * 4
    int8 = ex.LinearInt8.de_linear(nn.Linear(10, 4))
    assert ex.tamanho_em_bytes(int8) == 40 + 4 * 4 + 4 * 4  # q int8 + escala fp32 + bias fp32


# ----------------------------------------------------------------------------------------------------------------
# Mapas de atenção e média dos tokens
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rapida", [False, True])
def test_mapas_de_atencao(ex, ldz, rapida):
    modelo = _modelo(ldz, 7, atencao_rapida=rapida, camadas=3).eval()
    ids = torch.randint(0, 50, (1, 9))
    mapas = ex.mapas_de_atencao(modelo, ids)
    assert mapas.shape == (3, 2, 9, 9)
    assert torch.allclose(mapas.sum(-1), torch.ones(3, 2, 9))
    assert torch.equal(mapas.triu(diagonal=1), torch.zeros_like(mapas))  # causal
    assert all(len(b.atencao._forward_hooks) == 0 for b in modelo.blocos)  # os ganchos foram removidos
    if not rapida:  # a atenção didática guarda os pesos por conta própria: têm de bater
        for bloco in modelo.blocos:
            bloco.atencao.guardar_pesos = True
        with torch.no_grad():
            modelo(ids)
        guardados = torch.stack([b.atencao.ultimos_pesos[0] for b in modelo.blocos])
        assert torch.allclose(mapas, guardados, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        ex.mapas_de_atencao(modelo, torch.randint(0, 50, (2, 5)))


def test_media_dos_tokens_ignora_o_padding(ex, ldz):
    modelo = _modelo(ldz, 8, atencao_rapida=True).eval()
    ldz.preparar_para_classificacao(modelo, n_classes=2, treinar_ultimos_blocos=2)
    media = ex.MediaDosTokens(modelo).eval()
    textos = [torch.randint(0, 49, (n,)) for n in (3, 7, 5)]
    pad = 49
    entrada = torch.full((3, 10), pad)
    for i, t in enumerate(textos):
        entrada[i, :len(t)] = t
    comprimentos = torch.tensor([3, 7, 5])
    with torch.no_grad():
        lidos = ldz.logits_ultimo_token(media, entrada, comprimentos)  # (3, 2)
        for i, t in enumerate(textos):
            esperado = modelo(t[None])[0].mean(dim=0)  # média à mão, sem padding nenhum
            assert torch.allclose(lidos[i], esperado, atol=1e-5)
        # mais padding não muda nada
        maior = torch.cat([entrada, torch.full((3, 6), pad)], dim=1)
        assert torch.allclose(ldz.logits_ultimo_token(media, maior, comprimentos), lidos, atol=1e-6)
    assert media.context_length == modelo.context_length
    assert {id(p) for p in media.parameters()} == {id(p) for p in modelo.parameters()}
