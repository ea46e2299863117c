"""Caches que não envelhecem: impressões digitais, modelos distribuídos e a geração única do curso.

Tudo com modelos minúsculos e um cache temporário (``PASTA_CACHE`` trocada por uma pasta do teste): nada aqui lê ou
escreve a ``.cache/`` do repositório, e o pré-treino é trocado por um substituto que conta quantas vezes foi chamado.
"""
import hashlib
import json

import pytest
import torch

from conftest import carregar_modulo, gulosa_a_mao

MINI = {"vocab_size": 50, "context_length": 16, "d_model": 16, "n_heads": 2, "n_layers": 1, "dropout": 0.0,
        "qkv_bias": False, "atencao_rapida": True, "amarrar_pesos": True}


@pytest.fixture(scope="module")
def cap5():
    """A cópia do módulo com o código do capítulo 5 (a de 06-fine-tuning)."""
    return carregar_modulo(6)


@pytest.fixture(scope="module")
def cap7():
    """A cópia com tudo até o capítulo 7 (a de 08-extras)."""
    return carregar_modulo(8)


@pytest.fixture
def cache_temporario(cap5, tmp_path, monkeypatch):
    monkeypatch.setattr(cap5, "PASTA_CACHE", tmp_path)
    return tmp_path


# ----------------------------------------------------------------------------------------------------------------
# impressao_digital
# ----------------------------------------------------------------------------------------------------------------


def test_impressao_digital_e_o_sha256_do_json_canonico(cap5):
    receita = {"b": [1, 2], "a": {"y": 0.5, "x": "ç"}}
    canonico = '{"a":{"x":"ç","y":0.5},"b":[1,2]}'
    assert cap5.impressao_digital(receita) == hashlib.sha256(canonico.encode()).hexdigest()[:16]
    assert cap5.impressao_digital({"a": {"x": "ç", "y": 0.5}, "b": [1, 2]}) == cap5.impressao_digital(receita)
    assert cap5.impressao_digital({"a": {"x": "ç", "y": 0.25}, "b": [1, 2]}) != cap5.impressao_digital(receita)


def test_receita_do_bpe_inclui_o_sha256_dos_romances(cap5):
    receita = cap5.receita_bpe_machado(4000)
    assert receita["dados"] == {nome: cap5.ARQUIVOS[nome][1] for nome in cap5.ROMANCES_MACHADO}
    assert cap5.impressao_digital(cap5.receita_bpe_machado(3999)) != cap5.impressao_digital(receita)


def test_vocabulario_derivado_das_fusoes(cap5):
    assert cap5.VOCAB_MACHADO == 256 + cap5.N_FUSOES_BASE + 1 == 4257
    for cfg in (cap5.GPT_MINI, cap5.GPT_PEQUENO, cap5.GPT_BASE_RAPIDO, cap5.GPT_BASE_COMPLETO):
        assert cfg["vocab_size"] == cap5.VOCAB_MACHADO


# ----------------------------------------------------------------------------------------------------------------
# O cache do BPE
# ----------------------------------------------------------------------------------------------------------------


def test_cache_do_bpe_reconstroi_so_quando_a_receita_muda(cap5, cache_temporario, monkeypatch):
    treinos = []
    original = cap5.TokenizadorBPE.treinar

    def contar(texto, n_fusoes):
        treinos.append(n_fusoes)
        return original(texto, n_fusoes)

    monkeypatch.setattr(cap5.TokenizadorBPE, "treinar", staticmethod(contar))
    monkeypatch.setattr(cap5, "corpus_machado", lambda parte: "Capitu olhou para mim e disse que sim, que sim.")
    a = cap5.tokenizador_machado(6)
    b = cap5.tokenizador_machado(6)
    assert treinos == [6], "a segunda chamada, com a mesma receita, deveria só carregar o arquivo"
    assert a.fusoes == b.fusoes and a.impressao == b.impressao
    arquivos = sorted(p.name for p in cache_temporario.glob("bpe_machado_*.json"))
    assert arquivos == [f"bpe_machado_6_{a.impressao}.json"]
    monkeypatch.setattr(cap5, "PADRAO_PT", cap5.PADRAO_PT + "|x")  # outra pré-tokenização = outra receita
    c = cap5.tokenizador_machado(6)
    assert treinos == [6, 6] and c.impressao != a.impressao
    assert not list(cache_temporario.glob("*.tmp")), "sobrou arquivo temporário"


# ----------------------------------------------------------------------------------------------------------------
# carregar_ou_construir, checkpoints e modelos distribuídos
# ----------------------------------------------------------------------------------------------------------------


def _construtor(cap5, chamadas, cfg):
    def construir():
        chamadas.append(dict(cfg))
        torch.manual_seed(len(chamadas))
        return cap5.criar_modelo_gpt(cfg), {"passos": [0]}
    return construir


def test_carregar_ou_construir_reconstroi_so_quando_a_receita_muda(cap5, cache_temporario, capsys):
    chamadas = []
    receita = {"artefato": "teste", "cfg": MINI, "treino": {"passos": 3}}
    m1, origem1 = cap5.carregar_ou_construir("teste", receita, _construtor(cap5, chamadas, MINI), "cpu")
    m2, origem2 = cap5.carregar_ou_construir("teste", receita, _construtor(cap5, chamadas, MINI), "cpu")
    assert len(chamadas) == 1, "com a mesma receita, a segunda chamada deveria carregar do cache"
    assert origem1 == origem2 and origem1.endswith(f"teste_{cap5.impressao_digital(receita)}.pt")
    assert not m2.training
    for (n, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b), n
    outra = {**receita, "treino": {"passos": 4}}  # um número da receita mudou
    cap5.carregar_ou_construir("teste", outra, _construtor(cap5, chamadas, MINI), "cpu")
    assert len(chamadas) == 2, "uma receita diferente deveria reconstruir"
    assert "/tmp" not in capsys.readouterr().out.replace(str(cache_temporario), "<cache>"), "caminho absoluto impresso"


def test_checkpoint_de_outra_receita_e_recusado(cap5, tmp_path):
    modelo = cap5.criar_modelo_gpt(MINI)
    caminho = cap5.salvar_checkpoint(tmp_path / "m.pt", modelo, MINI, impressao="aaaa")
    cap5.carregar_checkpoint(caminho, impressao="aaaa")
    with pytest.raises(cap5.ErroDeImpressaoDigital, match="outra receita"):
        cap5.carregar_checkpoint(caminho, impressao="bbbb")
    assert not list(tmp_path.glob("*.tmp"))


def test_modelo_distribuido_confere_receita_e_sha256(cap5, tmp_path):
    torch.manual_seed(0)
    modelo = cap5.criar_modelo_gpt(MINI)
    receita = {"artefato": "teste", "cfg": MINI}
    caminho = cap5.salvar_modelo_distribuido(tmp_path / "m.safetensors", modelo, receita, perda_val=1.5)
    ficha = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert ficha["impressao_digital"] == cap5.impressao_digital(receita)
    assert ficha["sha256"] == cap5.sha256_de_arquivo(caminho) and ficha["perda_val"] == 1.5
    carregado, _ = cap5.carregar_modelo_distribuido(caminho, receita)
    for a, b in zip(modelo.state_dict().values(), carregado.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert carregado.cabeca_saida.weight is carregado.emb_tokens.weight, "o weight tying sobreviveu ao arquivo"
    assert cap5.carregar_modelo_distribuido(caminho, {**receita, "cfg": {**MINI, "n_layers": 2}}) is None
    dados = bytearray(caminho.read_bytes())
    dados[-1] ^= 0xFF  # um byte trocado nos pesos
    caminho.write_bytes(bytes(dados))
    with pytest.raises(cap5.ErroDeImpressaoDigital, match="corrompido ou trocado"):
        cap5.carregar_modelo_distribuido(caminho, receita)


def test_modelo_base_usa_o_arquivo_distribuido_e_reconstroi_com_outra_receita(cap5, cache_temporario, monkeypatch):
    """Modo completo: o arquivo do repositório é usado como está; mudar um valor de GPT_BASE_COMPLETO reconstrói."""
    if not cap5.MODELO_BASE_DISTRIBUIDO.is_file():
        pytest.fail("05-treinamento/modelo_base.safetensors não está no repositório")
    chamadas = []

    def pretreinar_falso(cfg, treino, passos=None, dispositivo=None, mostrar=True):
        chamadas.append((dict(cfg), dict(treino)))
        return cap5.criar_modelo_gpt(cfg), None, {"passos": [treino["passos"]]}

    monkeypatch.setattr(cap5, "RAPIDO", False)
    monkeypatch.setattr(cap5, "pretreinar", pretreinar_falso)
    monkeypatch.setattr(cap5, "tokenizador_machado", lambda n: None)  # o tokenizador não importa aqui
    modelo, _, cfg = cap5.modelo_base("cpu")
    assert chamadas == [], "a receita não mudou: o modelo deveria vir do arquivo distribuído, sem pré-treino"
    ficha = json.loads(cap5.MODELO_BASE_DISTRIBUIDO.with_suffix(".json").read_text(encoding="utf-8"))
    assert ficha["receita"] == cap5.receita_modelo_base() and cfg == cap5.GPT_BASE_COMPLETO
    monkeypatch.setitem(cap5.GPT_BASE_COMPLETO, "n_layers", 3)
    cap5.modelo_base("cpu")
    assert len(chamadas) == 1, "com outra receita, modelo_base() deveria pré-treinar de novo"
    assert chamadas[0] == (cap5.GPT_BASE_COMPLETO, cap5.TREINO_COMPLETO), "a reconstrução usa a receita INTEIRA"
    cap5.modelo_base("cpu")
    assert len(chamadas) == 1, "a reconstrução ficou no cache: a terceira chamada só carrega"


# ----------------------------------------------------------------------------------------------------------------
# modo_avaliacao e gerar_texto
# ----------------------------------------------------------------------------------------------------------------


def test_modo_avaliacao_restaura_o_modo_mesmo_com_erro(cap5):
    modelo = cap5.criar_modelo_gpt(MINI).train()
    with pytest.raises(RuntimeError), cap5.modo_avaliacao(modelo):
        assert not modelo.training and not torch.is_grad_enabled()
        raise RuntimeError("falha no meio")
    assert modelo.training and torch.is_grad_enabled()
    modelo.eval()
    with cap5.modo_avaliacao(modelo):
        pass
    assert not modelo.training


@pytest.mark.parametrize("atencao_rapida", [False, True])
def test_gerar_texto_com_e_sem_cache_igual_ao_laco_a_mao(cap5, atencao_rapida):
    torch.manual_seed(1)
    modelo = cap5.criar_modelo_gpt({**MINI, "atencao_rapida": atencao_rapida, "n_layers": 2}).eval()
    ids = torch.randint(0, 50, (3, 4))
    referencia = gulosa_a_mao(modelo, ids, 20)  # 4 + 20 > 16: a janela desliza
    assert torch.equal(cap5.gerar_texto(modelo, ids, 20), referencia)
    if atencao_rapida:  # o KV cache é do ModeloGPTRapido; o modelo didático gera sem cache
        assert torch.equal(cap5.gerar_texto(modelo, ids, 20, usar_cache=True), referencia)


def test_gerar_texto_para_cada_linha_no_fim(cap5):
    torch.manual_seed(2)
    modelo = cap5.criar_modelo_gpt(MINI).train()
    ids = torch.randint(0, 50, (2, 3))
    livre = cap5.gerar_texto(modelo, ids, 8, usar_cache=True)
    assert modelo.training, "gerar_texto devolve o modelo no modo em que estava"
    id_fim = int(livre[0, 5])  # o 3º token gerado pela linha 0 vira o "fim"
    parado = cap5.gerar_texto(modelo, ids, 8, id_fim=id_fim, usar_cache=True)
    linha0 = parado[0, 3:].tolist()
    primeiro = linha0.index(id_fim)
    assert linha0[:primeiro] == livre[0, 3:3 + primeiro].tolist()
    assert all(t == id_fim for t in linha0[primeiro:]), "depois do fim, só enchimento"
    # parada: uma regra por linha, além do id_fim
    parada = cap5.gerar_texto(modelo, ids, 8, id_fim=49,
                              parada=lambda proximo: torch.ones_like(proximo, dtype=torch.bool))
    assert parada.shape == (2, 4), "a parada diz 'acabou' no primeiro token: um token só por linha"
    with pytest.raises(ValueError, match="id_fim"):
        cap5.gerar_texto(modelo, ids, 3, parada=lambda p: p == 0)
    with pytest.raises(ValueError, match="max_novos_tokens"):
        cap5.gerar_texto(modelo, ids, -1)


def test_sorteio_com_cache_repete_com_a_mesma_semente(cap5):
    torch.manual_seed(3)
    modelo = cap5.criar_modelo_gpt(MINI)
    ids = torch.randint(0, 50, (1, 3))
    sorteios = [cap5.gerar_texto(modelo, ids, 10, temperatura=1.0, top_k=5, usar_cache=usar,
                                 gerador=torch.Generator().manual_seed(7)) for usar in (False, True, True)]
    assert torch.equal(sorteios[0], sorteios[1]) and torch.equal(sorteios[1], sorteios[2])


def test_respostas_salvas_levam_a_impressao_dos_modelos(cap7, tmp_path):
    exemplos = [{"instrucao": "Some.", "entrada": "1 e 2", "saida": "3", "tarefa": "soma"}]
    caminho = cap7.salvar_respostas(tmp_path / "r.json", exemplos, {"base": ["4"]}, {"base": "abc"})
    dados = json.loads(caminho.read_text(encoding="utf-8"))
    assert dados["modelos"] == {"base": "abc"} and dados["impressao_digital"] == cap7.impressao_digital({"base": "abc"})
    assert dados["registros"][0]["base"] == "4"
    with pytest.raises(ValueError, match="impressão digital"):
        cap7.salvar_respostas(tmp_path / "r.json", exemplos, {"base": ["4"]}, {})
