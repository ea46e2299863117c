"""Capítulo 5: perda, taxa de aprendizado, decodificação, checkpoints, retomada e pesos do GPT-2.

Tudo com modelos minúsculos feitos na hora: o arquivo inteiro roda em poucos segundos, sem internet.
"""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from conftest import gulosa_a_mao


def _cfg(m, **extra):
    cfg = dict(vocab_size=50, context_length=16, d_model=16, n_heads=2, n_layers=2, dropout=0.0, qkv_bias=False)
    cfg.update(extra)
    return cfg


def _modelo(m, semente=0, **extra):
    torch.manual_seed(semente)
    return m.criar_modelo_gpt(_cfg(m, **extra)).eval()


class _LogitsFixos(torch.nn.Module):
    """'Modelo' que devolve sempre os mesmos logits (para testar a perda sem depender de um GPT)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, ids):
        return self.logits


def test_entropia_cruzada_a_mao(cap5):
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 7)  # (batch, tokens, vocab)
    alvo = torch.randint(0, 7, (2, 3))
    probs = torch.exp(logits) / torch.exp(logits).sum(-1, keepdim=True)
    a_mao = -torch.log(probs.gather(-1, alvo[..., None])).mean()
    perda = cap5.perda_do_batch(_LogitsFixos(logits), torch.zeros(2, 3, dtype=torch.long), alvo)
    assert torch.allclose(perda, a_mao, atol=1e-6)
    assert torch.allclose(perda, F.cross_entropy(logits.reshape(6, 7), alvo.reshape(6)), atol=1e-6)
    # bits por caractere: ln 2 nats por token com 1 caractere por token = 1 bit por caractere
    assert math.isclose(cap5.bits_por_caractere(math.log(2) * 3, 3.0), 1.0)
    assert math.isclose(cap5.bits_por_caractere(math.log(4), 0.5), 4.0)


def test_modelo_sem_treino_comeca_em_ln_v(cap5):
    modelo = _modelo(cap5, vocab_size=200, amarrar_pesos=True)
    ids, alvo = torch.randint(0, 200, (2, 4, 16))
    perda = cap5.perda_do_batch(modelo, ids, alvo).item()
    assert abs(perda - math.log(200)) < 0.05, "a inicialização do GPT-2 deveria dar perda ~ ln(V)"


def test_taxa_aprendizado_em_passos_conhecidos(cap5):
    def lr(p):
        return cap5.taxa_aprendizado(p, passos_totais=110, lr_max=1e-3, passos_aquecimento=10, lr_min=1e-4)

    assert math.isclose(lr(0), 1e-4)  # 1/10 do máximo no 1º passo
    assert math.isclose(lr(4), 5e-4)
    assert math.isclose(lr(9), 1e-3)  # fim do aquecimento
    assert math.isclose(lr(10), 1e-3)  # começo do cosseno
    assert math.isclose(lr(60), (1e-3 + 1e-4) / 2)  # metade do cosseno
    assert math.isclose(lr(110), 1e-4)  # fim: lr_min
    assert all(lr(p) >= lr(p + 1) for p in range(10, 110))  # só desce depois do aquecimento
    assert math.isclose(cap5.taxa_aprendizado(0, 100, 2e-3), 2e-3)  # sem aquecimento começa no máximo
    with pytest.raises(ValueError):
        cap5.taxa_aprendizado(0, 0, 1e-3)


def test_otimizador_decaimento_so_nas_matrizes(cap5):
    modelo = _modelo(cap5, amarrar_pesos=True, qkv_bias=True)
    opt = cap5.criar_otimizador(modelo, 1e-3, weight_decay=0.1)
    com, sem = opt.param_groups
    assert com["weight_decay"] == 0.1 and sem["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in com["params"]) and all(p.dim() < 2 for p in sem["params"])
    ids_params = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(ids_params) == len(set(ids_params)) == len(list(modelo.parameters()))


def test_top_k_e_top_p_em_logits_feitos_a_mao(cap5):
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0], [0.0, 5.0, 0.0, 0.0, 4.5]])
    k2 = cap5.filtrar_top_k(logits, 2)
    assert torch.isinf(k2).sum(-1).tolist() == [3, 3]
    assert k2[0, :2].tolist() == [3.0, 2.0] and k2[1, [1, 4]].tolist() == [5.0, 4.5]
    # probabilidades da 1ª linha: 0,636 0,234 0,086 0,032 0,012 -> p=0,9 precisa dos 3 primeiros
    p9 = cap5.filtrar_top_p(logits[:1], 0.9)
    assert (~torch.isinf(p9)).sum().item() == 3 and p9[0, :3].tolist() == [3.0, 2.0, 1.0]
    assert (~torch.isinf(cap5.filtrar_top_p(logits[:1], 0.5))).sum().item() == 1  # o mais provável sempre fica
    assert torch.equal(cap5.filtrar_top_p(logits, 1.0), logits)
    assert torch.equal(cap5.filtrar_top_k(logits, 100), logits)
    with pytest.raises(ValueError):
        cap5.filtrar_top_p(logits, 0.0)
    with pytest.raises(ValueError):
        cap5.filtrar_top_k(logits, 0)


def test_temperatura_zero_igual_a_gulosa(cap5):
    modelo = _modelo(cap5, amarrar_pesos=True, atencao_rapida=True)
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    a = cap5.gerar_texto(modelo, ids, 20, 16, temperatura=0.0, top_k=3)
    b = gulosa_a_mao(modelo, ids, 20, contexto=16)
    assert a.shape == (2, 23) and torch.equal(a, b)


def test_amostragem_determinista_com_gerador(cap5):
    modelo = _modelo(cap5)
    ids = torch.tensor([[1, 2, 3]])

    def sortear(s, **kw):
        return cap5.gerar_texto(modelo, ids, 30, 16, temperatura=1.5, gerador=torch.Generator().manual_seed(s), **kw)

    assert torch.equal(sortear(7), sortear(7))
    assert not torch.equal(sortear(7), sortear(8))
    # top-k = 1 com qualquer temperatura é a gulosa
    assert torch.equal(sortear(7, top_k=1), cap5.gerar_texto(modelo, ids, 30, 16))
    with pytest.raises(ValueError):
        cap5.gerar_texto(modelo, ids, 5, 16, temperatura=-1.0)


def test_gerar_texto_para_no_fim(cap5):
    modelo = _modelo(cap5)
    ids = torch.tensor([[1, 2, 3]])
    primeiro = cap5.gerar_texto(modelo, ids, 1, 16)[0, -1].item()
    saida = cap5.gerar_texto(modelo, ids, 10, 16, id_fim=primeiro)
    assert saida.shape == (1, 4)


def _logprob(modelo, seq, n_prompt):
    with torch.no_grad():
        logp = torch.log_softmax(modelo(seq[None]), -1)[0]
    return sum(logp[i - 1, seq[i]].item() for i in range(n_prompt, len(seq)))


def test_busca_em_feixe_igual_a_busca_exaustiva(cap5):
    modelo = _modelo(cap5, semente=3, vocab_size=6)
    ids = torch.tensor([[1, 2]])
    # largura 6 = vocabulário inteiro: em 2 passos o feixe vê todas as 36 continuações
    melhor, lp = cap5.busca_em_feixe(modelo, ids, 2, 16, largura=6)
    todas = [torch.tensor([1, 2, a, b]) for a, b in itertools.product(range(6), repeat=2)]
    exaustiva = max(todas, key=lambda s: _logprob(modelo, s, 2))
    assert melhor[0].tolist() == exaustiva.tolist()
    assert math.isclose(lp, _logprob(modelo, exaustiva, 2), abs_tol=1e-4)
    # com feixe estreito, ainda é pelo menos tão provável quanto a gulosa
    gulosa = cap5.gerar_texto(modelo, ids, 5, 16)[0]
    _, lp2 = cap5.busca_em_feixe(modelo, ids, 5, 16, largura=2)
    assert lp2 >= _logprob(modelo, gulosa, 2) - 1e-4
    with pytest.raises(ValueError):
        cap5.busca_em_feixe(modelo, torch.tensor([[1], [2]]), 2, 16)


def test_contar_ngramas_distintos(cap5):
    assert cap5.contar_ngramas_distintos([1, 2, 3, 4, 5]) == 1.0
    assert cap5.contar_ngramas_distintos([7, 7, 7, 7, 7, 7]) == 0.25


def test_atencao_rapida_igual_a_do_capitulo_3(cap5):
    torch.manual_seed(0)
    for bias in (False, True):
        lenta = cap5.AtencaoMultiCabeca(16, 16, 12, dropout=0.0, n_heads=4, qkv_bias=bias)
        rapida = cap5.AtencaoRapida(16, 16, 12, dropout=0.0, n_heads=4, qkv_bias=bias).copiar_de(lenta)
        x = torch.randn(3, 12, 16)
        assert torch.allclose(lenta(x), rapida(x), atol=1e-5)
    with pytest.raises(ValueError):
        rapida(torch.randn(1, 13, 16))


def test_checkpoint_ida_e_volta(cap5, tmp_path):
    modelo = _modelo(cap5, amarrar_pesos=True, atencao_rapida=True)
    opt = cap5.criar_otimizador(modelo, 1e-3)
    ids = torch.randint(0, 50, (2, 10))
    cap5.perda_do_batch(modelo, ids, ids).backward()
    opt.step()
    cfg = _cfg(cap5, amarrar_pesos=True, atencao_rapida=True)
    caminho = cap5.salvar_checkpoint(tmp_path / "c.pt", modelo, cfg, otimizador=opt, passo=1,
                                     tokenizador_id="teste")
    dados = torch.load(caminho, weights_only=True)  # abre sem executar código
    assert dados["passo"] == 1 and dados["tokenizador"] == "teste" and dados["cfg"] == cfg
    novo, dados = cap5.carregar_checkpoint(caminho)
    novo.eval()
    assert novo.cabeca_saida.weight is novo.emb_tokens.weight, "o weight tying deve sobreviver ao checkpoint"
    with torch.no_grad():
        assert torch.equal(modelo(ids), novo(ids))
    opt2 = cap5.criar_otimizador(novo, 1e-3)
    cap5.carregar_checkpoint(caminho, novo, opt2)
    estado = opt2.state_dict()["state"]
    assert estado and all(int(s["step"]) == 1 for s in estado.values())
    assert not list(tmp_path.glob("*.tmp")), "a gravação atômica não deve deixar temporários"


def test_retomada_da_as_mesmas_perdas(cap5, tmp_path):
    cfg = _cfg(cap5, dropout=0.2, amarrar_pesos=True, atencao_rapida=True)
    dados = torch.randint(0, 50, (400,), generator=torch.Generator().manual_seed(0))
    ds = cap5.DatasetGPT(dados, context_length=8, stride=8)
    loader = DataLoader(ds, batch_size=4, shuffle=True, drop_last=True, generator=torch.Generator())
    loader_val = DataLoader(ds, batch_size=4, shuffle=False)
    args = dict(passos_totais=24, lr_max=3e-3, lr_min=3e-4, passos_aquecimento=3, avaliar_a_cada=100,
                batches_avaliacao=1, semente=5, mostrar=False)
    # 24 passos passam de uma época (12 batches): a retomada no passo 14 cai no meio da 2ª época
    torch.manual_seed(1)
    a = cap5.criar_modelo_gpt(cfg)
    hist_a = cap5.treinar_modelo(a, cap5.criar_otimizador(a, 3e-3), loader, loader_val, **args)

    torch.manual_seed(1)
    b = cap5.criar_modelo_gpt(cfg)
    opt_b = cap5.criar_otimizador(b, 3e-3)
    h1 = cap5.treinar_modelo(b, opt_b, loader, loader_val, parar_no_passo=14, **args)
    cap5.salvar_checkpoint(tmp_path / "meio.pt", b, cfg, otimizador=opt_b, passo=14)
    torch.manual_seed(999)  # bagunça o gerador: a retomada precisa restaurá-lo
    c = cap5.criar_modelo_gpt(cfg)
    opt_c = cap5.criar_otimizador(c, 3e-3)
    c, meta = cap5.carregar_checkpoint(tmp_path / "meio.pt", c, opt_c, restaurar_rng=True)
    h2 = cap5.treinar_modelo(c, opt_c, loader, loader_val, passo_inicial=meta["passo"], **args)
    assert len(hist_a["perdas_passo"]) == 24
    assert h1["perdas_passo"] + h2["perdas_passo"] == hist_a["perdas_passo"]
    assert hist_a["perdas_passo"][-1] < hist_a["perdas_passo"][0]
    with pytest.raises(ValueError):
        cap5.treinar_modelo(c, opt_c, loader, loader_val, passo_inicial=30, **args)


def test_carregar_pesos_gpt2_igual_ao_transformers(cap5, tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=32)
    hf = transformers.GPT2LMHeadModel(config).eval()
    hf.save_pretrained(tmp_path, safe_serialization=True)
    cfg = dict(vocab_size=100, context_length=32, d_model=32, n_heads=2, n_layers=2, dropout=0.0, qkv_bias=True)
    ids = torch.randint(0, 100, (3, 20))
    with torch.no_grad():
        esperado = hf(ids).logits
    for extra in ({}, {"atencao_rapida": True}):
        nosso = cap5.criar_modelo_gpt(dict(cfg, **extra)).eval()
        cap5.carregar_pesos_gpt2(nosso, tmp_path / "model.safetensors")
        assert nosso.cabeca_saida.weight is nosso.emb_tokens.weight
        with torch.no_grad():
            obtido = nosso(ids)
        assert torch.allclose(obtido, esperado, atol=1e-5), (obtido - esperado).abs().max()


def test_carregar_pesos_gpt2_com_modelo_errado(cap5, tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=32)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path, safe_serialization=True)
    arquivo = tmp_path / "model.safetensors"
    cfg = dict(vocab_size=100, context_length=32, d_model=32, n_heads=2, n_layers=2, dropout=0.0, qkv_bias=True)
    with pytest.raises(ValueError, match="qkv_bias=True"):
        cap5.carregar_pesos_gpt2(cap5.ModeloGPT(dict(cfg, qkv_bias=False)), arquivo)
    with pytest.raises(ValueError, match="shape"):
        cap5.carregar_pesos_gpt2(cap5.ModeloGPT(dict(cfg, d_model=64)), arquivo)
    with pytest.raises(ValueError, match="blocos"):
        cap5.carregar_pesos_gpt2(cap5.ModeloGPT(dict(cfg, n_layers=3)), arquivo)


def test_checkpoint_que_nao_combina_da_erro_claro(cap5, tmp_path):
    modelo = _modelo(cap5)
    caminho = cap5.salvar_checkpoint(tmp_path / "c.pt", modelo, _cfg(cap5))
    with pytest.raises(ValueError, match="d_model: 16 no arquivo, 32 no modelo"):
        cap5.carregar_checkpoint(caminho, cap5.criar_modelo_gpt(_cfg(cap5, d_model=32)))
    with pytest.raises(ValueError, match="n_layers"):
        cap5.carregar_checkpoint(caminho, cap5.criar_modelo_gpt(_cfg(cap5, n_layers=3)))
    outra_atencao = _cfg(cap5, atencao_rapida=not _cfg(cap5).get("atencao_rapida", False))
    with pytest.raises(ValueError, match="faltam"):  # mesmos tamanhos, outros nomes de pesos
        cap5.carregar_checkpoint(caminho, cap5.criar_modelo_gpt(outra_atencao))
    with pytest.raises(ValueError, match="otimizador"):
        cap5.carregar_checkpoint(caminho, otimizador=cap5.criar_otimizador(modelo, 1e-3))
    torch.save({"qualquer": torch.zeros(2)}, tmp_path / "outro.pt")
    with pytest.raises(ValueError, match="salvar_checkpoint"):
        cap5.carregar_checkpoint(tmp_path / "outro.pt")
    with pytest.raises(FileNotFoundError):
        cap5.carregar_checkpoint(tmp_path / "nao_existe.pt")


def test_perda_media_ponderada_e_modo_preservado(cap5):
    modelo = _modelo(cap5)
    modelo.train()
    ds = cap5.DatasetGPT(torch.randint(0, 50, (90,)), context_length=8, stride=8)  # 11 janelas
    loader = DataLoader(ds, batch_size=4, shuffle=False)  # batches de 4, 4 e 3
    media = cap5.perda_media(modelo, loader)
    assert modelo.training, "perda_media deve devolver o modelo no modo em que estava"
    with torch.no_grad():
        modelo.eval()
        x = torch.stack([ds[i][0] for i in range(len(ds))])
        y = torch.stack([ds[i][1] for i in range(len(ds))])
        todas = cap5.perda_do_batch(modelo, x, y).item()
    assert math.isclose(media, todas, rel_tol=1e-5)


def test_pretreinar_py_explica_erros_da_linha_de_comando_em_portugues(capsys, monkeypatch):
    """O script do capítulo usa o argparse em português da infraestrutura (uso, ajuda e erros)."""
    import importlib.util

    from conftest import RAIZ

    pasta = RAIZ / "05-treinamento"
    monkeypatch.syspath_prepend(str(pasta))
    spec = importlib.util.spec_from_file_location("pretreinar_teste", pasta / "pretreinar.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit):
        script.ler_argumentos(["--passos", "x"])
    erro = capsys.readouterr().err
    assert erro.startswith("uso: ") and "erro: argumento --passos: não é um número inteiro: 'x'" in erro
    with pytest.raises(SystemExit):
        script.ler_argumentos(["-h"])
    ajuda = capsys.readouterr().out
    assert "mostra esta ajuda e sai" in ajuda and "opções:" in ajuda


def test_pretreinar_py_precisao_e_resultados(tmp_path, monkeypatch, capsys):
    """``--precisao`` muda a receita (e a impressão digital) só quando difere da receita; ``--gravar-resultados`` grava
    perda e velocidade no arquivo que o README cita (no modo rápido, em ``.cache/``)."""
    import importlib.util
    import json

    from conftest import RAIZ

    pasta = RAIZ / "05-treinamento"
    monkeypatch.syspath_prepend(str(pasta))
    spec = importlib.util.spec_from_file_location("pretreinar_teste2", pasta / "pretreinar.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    impressoes = {}
    for precisao in ("receita", "float32", "bfloat16"):
        saida = tmp_path / f"{precisao}.pt"
        script.main(["--passos", "3", "--avaliar-a-cada", "3", "--precisao", precisao, "--saida", str(saida),
                     "--gravar-resultados", "--threads", "1"])
        # o formato de checkpoint do curso abre com weights_only=True (só tensores, números e textos: nada de pickle)
        impressoes[precisao] = torch.load(saida, weights_only=True)["impressao_digital"]
    saida_texto = capsys.readouterr().out
    assert impressoes["receita"] == impressoes["float32"]  # a receita rápida já é float32: nada muda
    assert impressoes["bfloat16"] != impressoes["receita"]
    assert "Treinando em float32" in saida_texto
    L = script.carregar_modulo_do_capitulo_5()
    precisao_real = "bfloat16" if L.cpu_tem_bf16() else "float32"
    arquivo = L.arquivo_de_resultados(f"notebook_pretreino_{precisao_real}", pasta)
    resultados = json.loads(arquivo.read_text(encoding="utf-8"))["resultados"]
    assert resultados["passos"] == 3 and resultados["threads"] == 1 and resultados["tokens_por_s"] > 0
    # a perda gravada é a do modelo salvo, na validação inteira: refeita aqui a partir do checkpoint (o da última
    # execução, a que gravou este arquivo de resultados)
    modelo, dados = L.carregar_checkpoint(tmp_path / "bfloat16.pt")
    tokenizador = L.tokenizador_machado(L.N_FUSOES_BASE).para_tiktoken()
    texto_val = L.corpus_machado("validacao")
    ctx = dados["cfg"]["context_length"]
    lote = L.escolher(L.TREINO_RAPIDO, L.TREINO_COMPLETO)["batch_size"]  # o loader de validação do script
    loader_val = L.criar_dataloader(texto_val, tokenizador, batch_size=lote, context_length=ctx, stride=ctx,
                                    shuffle=False, drop_last=False)
    perda = L.perda_media(modelo, loader_val)
    assert resultados["perda_val"] == pytest.approx(perda, abs=1e-5)
    assert resultados["bits_por_caractere"] == pytest.approx(
        perda / math.log(2) / L.caracteres_por_token(texto_val, tokenizador), abs=1e-5)
    # e aprendeu: sem treino, a perda é ~ln(V) (a distribuição quase uniforme da inicialização); 3 passos já descem
    # mais de 0,2 nat (um treino que não atualizasse os pesos, ou salvasse o modelo inicial, ficaria em ~ln V)
    ln_v = math.log(dados["cfg"]["vocab_size"])
    assert dados["historico"]["perda_val"][0] == pytest.approx(ln_v, abs=0.1)
    assert resultados["perda_val"] < ln_v - 0.2
