"""O caminho rápido do capítulo 5 (o que o pré-treino, o fine-tuning e o servidor usam) faz a MESMA conta que as
classes didáticas dos capítulos 3 e 4: forward, gradientes, geração com e sem cache, e o modelo distribuído.

Modelos minúsculos feitos na hora (fora o teste do modelo distribuído, que carrega os 4,3 M de parâmetros do
repositório): o arquivo roda em poucos segundos.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import gulosa_a_mao

TOLERANCIA = 1e-5


def _cfg(**extra):
    cfg = dict(vocab_size=50, context_length=16, d_model=16, n_heads=2, n_layers=2, dropout=0.0, qkv_bias=False,
               atencao_rapida=True, amarrar_pesos=True)
    cfg.update(extra)
    return cfg


def _par(cap5, semente=0, **extra):
    """(didático, rápido) com os mesmos pesos: o rápido recebe o state_dict do didático."""
    torch.manual_seed(semente)
    didatico = cap5.criar_modelo_gpt(_cfg(caminho_rapido=False, **extra))
    rapido = cap5.criar_modelo_gpt(_cfg(**extra))
    rapido.load_state_dict(didatico.state_dict(), strict=True)
    with torch.no_grad():  # escalas e deslocamentos diferentes de 1 e 0, para a conta não ficar trivial
        for m in (didatico, rapido):
            g = torch.Generator().manual_seed(semente + 1)
            for nome, p in m.named_parameters():
                if "norm" in nome:
                    p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g) if nome.endswith("escala")
                            else 0.1 * torch.randn(p.shape, generator=g))
    return didatico, rapido


def test_caminho_rapido_troca_as_camadas_e_mantem_os_nomes_dos_pesos(cap5):
    didatico, rapido = _par(cap5)
    tipos = {type(m) for m in rapido.modules()}
    assert cap5.CamadaNormRapida in tipos and cap5.GELURapida in tipos
    assert cap5.CamadaNorm not in tipos and cap5.GELU not in tipos, "sobrou uma camada didática no caminho rápido"
    assert {type(m) for m in didatico.modules()} >= {cap5.CamadaNorm, cap5.GELU}
    assert list(rapido.state_dict()) == list(didatico.state_dict())
    assert [n for n, _ in rapido.named_parameters()] == [n for n, _ in didatico.named_parameters()]
    assert rapido.cabeca_saida.weight is rapido.emb_tokens.weight, "o weight tying tem de sobreviver à troca"


def test_camadas_rapidas_iguais_as_didaticas_com_gradientes(cap5):
    torch.manual_seed(3)
    x = (3 * torch.randn(4, 7, 32) + 1).requires_grad_()
    norma = cap5.CamadaNorm(32)
    with torch.no_grad():
        norma.escala.copy_(torch.randn(32))
        norma.deslocamento.copy_(torch.randn(32))
    rapida = cap5.trocar_por_caminho_rapido(torch.nn.Sequential(norma))[0]
    assert isinstance(rapida, cap5.CamadaNormRapida) and rapida.escala is norma.escala
    x2 = x.detach().clone().requires_grad_()
    a, b = cap5.CamadaNorm.forward(norma, x), rapida(x2)
    assert torch.allclose(a, b, atol=TOLERANCIA)
    peso = torch.randn_like(a)
    (a * peso).sum().backward()
    g_escala = norma.escala.grad.clone()
    norma.escala.grad = None
    (b * peso).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=TOLERANCIA)
    assert torch.allclose(g_escala, rapida.escala.grad, atol=1e-4)

    z = torch.linspace(-6, 6, 1001, requires_grad=True)
    z2 = z.detach().clone().requires_grad_()
    assert torch.allclose(cap5.GELU()(z), cap5.GELURapida()(z2), atol=TOLERANCIA)
    cap5.GELU()(z).sum().backward()
    cap5.GELURapida()(z2).sum().backward()
    assert torch.allclose(z.grad, z2.grad, atol=TOLERANCIA)


@pytest.mark.parametrize("extra", [{}, {"qkv_bias": True, "amarrar_pesos": False}])
def test_modelo_rapido_igual_ao_didatico_forward_e_gradientes(cap5, extra):
    didatico, rapido = _par(cap5, **extra)
    ids = torch.randint(0, 50, (3, 16), generator=torch.Generator().manual_seed(5))
    alvo = torch.randint(0, 50, (3, 16), generator=torch.Generator().manual_seed(6))
    logits_d, logits_r = didatico(ids), rapido(ids)
    assert (logits_d - logits_r).abs().max().item() <= TOLERANCIA
    F.cross_entropy(logits_d.flatten(0, 1), alvo.flatten()).backward()
    F.cross_entropy(logits_r.flatten(0, 1), alvo.flatten()).backward()
    for (nome, p_d), (_, p_r) in zip(didatico.named_parameters(), rapido.named_parameters(), strict=True):
        assert (p_d.grad - p_r.grad).abs().max().item() <= TOLERANCIA, nome


def test_modelo_rapido_igual_ao_modelo_gpt_do_capitulo_4(cap4, cap5):
    """Contra o ModeloGPT do capítulo 4 puro (AtencaoMultiCabeca, CamadaNorm, GELU), com Q, K e V empilhados."""
    cfg4 = dict(vocab_size=50, context_length=16, d_model=16, n_heads=2, n_layers=2, dropout=0.0, qkv_bias=False)
    torch.manual_seed(0)
    didatico = cap4.ModeloGPT(cfg4)
    rapido = cap5.criar_modelo_gpt(dict(cfg4, atencao_rapida=True))
    pesos = {k: v for k, v in didatico.state_dict().items() if ".W_" not in k}
    for i, bloco in enumerate(didatico.blocos):
        a = bloco.atencao
        pesos[f"blocos.{i}.atencao.qkv.weight"] = torch.cat([a.W_query.weight, a.W_key.weight, a.W_value.weight])
    rapido.load_state_dict(pesos, strict=True)
    ids = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(1))
    assert (didatico(ids) - rapido(ids)).abs().max().item() <= TOLERANCIA


def test_geracao_sem_cache_igual_com_cache_e_a_gulosa_a_mao(cap5):
    _, rapido = _par(cap5, semente=2)
    rapido.eval()
    ids = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(7))
    referencia = gulosa_a_mao(rapido, ids, 20)  # passa a janela de 16: o cache é descartado no meio
    sem = cap5.gerar_texto(rapido, ids, 20, usar_cache=False)
    com = cap5.gerar_texto(rapido, ids, 20, usar_cache=True)
    assert torch.equal(sem, referencia) and torch.equal(com, referencia)


def test_logits_da_ultima_posicao_e_cache_em_pedacos(cap4, cap5):
    _, rapido = _par(cap5, semente=4)
    rapido.eval()
    ids = torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        completos = rapido(ids)  # (2, 12, 50)
        assert torch.allclose(cap5.logits_da_ultima_posicao(rapido, ids), completos[:, -1], atol=TOLERANCIA)
        torch.manual_seed(0)
        didatico4 = cap4.ModeloGPT(dict(vocab_size=50, context_length=16, d_model=16, n_heads=2, n_layers=1,
                                        dropout=0.0, qkv_bias=False)).eval()
        assert torch.allclose(cap5.logits_da_ultima_posicao(didatico4, ids), didatico4(ids)[:, -1], atol=TOLERANCIA)
        # o cache alimentado em pedaços de 5, 4 e 3 tokens (a máscara deslocada) dá os mesmos logits
        cache = cap5.CacheKV(len(rapido.blocos))
        partes = [rapido(ids[:, a:b], cache=cache) for a, b in ((0, 5), (5, 9), (9, 12))]
        assert torch.allclose(torch.cat(partes, dim=1), completos, atol=TOLERANCIA)
        cache = cap5.CacheKV(len(rapido.blocos))
        ultima = rapido(ids, cache=cache, so_ultima=True)
        assert ultima.shape == (2, 1, 50) and torch.allclose(ultima[:, 0], completos[:, -1], atol=TOLERANCIA)


def test_modelo_distribuido_carrega_no_caminho_rapido_e_da_a_mesma_perda(cap5):
    caminho = cap5.MODELO_BASE_DISTRIBUIDO
    if not caminho.is_file():
        pytest.fail("05-treinamento/modelo_base.safetensors não está no repositório")
    import json

    receita = json.loads(caminho.with_suffix(".json").read_text(encoding="utf-8"))["receita"]
    rapido, _ = cap5.carregar_modelo_distribuido(caminho, receita)
    assert any(isinstance(m, cap5.CamadaNormRapida) for m in rapido.modules())
    didatico = cap5.criar_modelo_gpt(dict(receita["cfg"], caminho_rapido=False))
    didatico.load_state_dict(rapido.state_dict(), strict=True)
    texto = "Capitu olhou para mim e disse que não era nada; eu fiquei calado, a ouvir o mar. " * 4
    ids = torch.tensor([cap5.tokenizador_machado(cap5.N_FUSOES_BASE).encode(texto)[:129]])
    sem_treino = cap5.criar_modelo_gpt(receita["cfg"]).eval()
    with torch.no_grad():
        perdas = [cap5.perda_do_batch(m.eval(), ids[:, :-1], ids[:, 1:]).item() for m in (rapido, didatico, sem_treino)]
    assert abs(perdas[0] - perdas[1]) <= TOLERANCIA
    # sem treino, a perda é ~ln V ≈ 8,36; com os pesos treinados (perda de validação 4,54), a frase fica perto de 5
    assert perdas[2] == pytest.approx(math.log(receita["cfg"]["vocab_size"]), abs=0.3)
    assert perdas[0] < perdas[2] - 2.5, f"perda {perdas[0]:.3f}: os pesos carregados não parecem treinados"


def test_adamw_fundido_da_o_mesmo_passo(cap5):
    torch.manual_seed(0)
    a = cap5.criar_modelo_gpt(_cfg())
    b = cap5.criar_modelo_gpt(_cfg())
    b.load_state_dict(a.state_dict())
    opt_a = cap5.criar_otimizador(a, 1e-2, fundido=False)
    opt_b = cap5.criar_otimizador(b, 1e-2)
    assert opt_b.param_groups[0]["fused"] and not opt_a.param_groups[0]["fused"]
    ids = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        for m, o in ((a, opt_a), (b, opt_b)):
            o.zero_grad()
            cap5.perda_do_batch(m, ids[:, :-1], ids[:, 1:]).backward()
            o.step()
    for (nome, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), nome


def test_precisao_bf16_na_cpu_so_quando_pedida_e_suportada(cap5):
    _, _, descricao = cap5.precisao_para("cpu")
    assert descricao == "float32 em CPU"
    autocast, escalador, descricao = cap5.precisao_para("cpu", bf16_na_cpu=True)
    assert escalador is None
    if cap5.cpu_tem_bf16():
        assert "bfloat16" in descricao
        with autocast:
            y = torch.nn.Linear(8, 8)(torch.randn(2, 8))
        assert y.dtype == torch.bfloat16
    else:
        assert descricao == "float32 em CPU"


@pytest.mark.parametrize("ignorar", [False, True])
def test_entropia_fundida_igual_a_do_pytorch_perda_e_gradientes(cap5, ignorar):
    g = torch.Generator().manual_seed(11)
    estados = (3 * torch.randn(40, 8, generator=g)).requires_grad_()
    peso = torch.randn(30, 8, generator=g).requires_grad_()
    alvo = torch.randint(0, 30, (40,), generator=g)
    if ignorar:
        alvo[::3] = -100
    estados2, peso2 = (t.detach().clone().requires_grad_() for t in (estados, peso))
    ref = F.cross_entropy(estados @ peso.t(), alvo)
    nossa = cap5.entropia_cruzada_fundida(estados2, peso2, alvo)
    assert abs(ref.item() - nossa.item()) <= TOLERANCIA
    (2.5 * ref).backward()  # um gradiente de entrada diferente de 1
    (2.5 * nossa).backward()
    assert torch.allclose(estados.grad, estados2.grad, atol=TOLERANCIA)
    assert torch.allclose(peso.grad, peso2.grad, atol=TOLERANCIA)
    if ignorar:  # posições ignoradas não recebem gradiente
        assert estados2.grad[::3].abs().max().item() == 0.0


def test_entropia_fundida_recusa_formas_erradas_e_segundo_backward(cap5):
    with pytest.raises(ValueError, match="Esperava estados"):
        cap5.entropia_cruzada_fundida(torch.randn(4, 8), torch.randn(30, 8), torch.zeros(5, dtype=torch.long))
    estados = torch.randn(4, 8, requires_grad=True)
    perda = cap5.entropia_cruzada_fundida(estados, torch.randn(30, 8), torch.zeros(4, dtype=torch.long))
    perda.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="dois backward"):
        perda.backward()


def test_treino_do_caminho_rapido_usa_a_perda_fundida_e_da_os_gradientes_do_didatico(cap5, monkeypatch):
    didatico, rapido = _par(cap5, semente=4)
    chamadas = []
    original = cap5.entropia_cruzada_fundida
    monkeypatch.setattr(cap5, "entropia_cruzada_fundida", lambda *a: chamadas.append(1) or original(*a))
    ids = torch.randint(0, 50, (3, 17), generator=torch.Generator().manual_seed(8))
    alvo = ids[:, 1:].clone()
    alvo[:, :4] = -100  # como as instruções do capítulo 7
    perdas = [cap5.perda_do_batch(m, ids[:, :-1], alvo) for m in (didatico, rapido)]
    assert chamadas == [1], "o modelo rápido devia usar a perda fundida (e o didático, não)"
    assert abs(perdas[0].item() - perdas[1].item()) <= TOLERANCIA
    for p in perdas:
        p.backward()
    for (nome, p_d), (_, p_r) in zip(didatico.named_parameters(), rapido.named_parameters(), strict=True):
        assert (p_d.grad - p_r.grad).abs().max().item() <= TOLERANCIA, nome
    with torch.no_grad():  # avaliação: o caminho comum
        cap5.perda_do_batch(rapido, ids[:, :-1], alvo)
    assert chamadas == [1]
    rapido.cabeca_saida = torch.nn.Linear(16, 50)  # cabeça trocada (com bias): volta ao caminho comum
    cap5.perda_do_batch(rapido, ids[:, :-1], alvo)
    assert chamadas == [1]
