"""Os infográficos são gerados por código, a partir do código do curso.

O script refaz todas as figuras e cada uma é usada em algum capítulo. O que as figuras mostram de tokens, fusões do
BPE, janelas, agenda da taxa de aprendizado e modelo de prompt é conferido aqui contra o módulo de apoio
(``08-extras/llm_do_zero.py``, importado à parte pela fixture ``modulo8``): se o módulo mudar e a figura não, algum
teste falha — o do conteúdo desenhado, se o script deixar de usar o módulo, ou o da impressão digital gravada no
PNG, se as figuras commitadas não forem geradas de novo.
"""
import importlib.util
import json
import re
import sys
from itertools import pairwise

import numpy as np
import pytest

from conftest import RAIZ, carregar_modulo

PASTA = RAIZ / "infograficos"
FIGURAS = sorted(PASTA.glob("*.png"))
SOBRESCRITOS = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


@pytest.fixture(scope="module")
def gerar():
    """``infograficos/gerar.py`` importado pelo caminho."""
    nome = "gerar_infograficos"
    spec = importlib.util.spec_from_file_location(nome, PASTA / "gerar.py")
    modulo = importlib.util.module_from_spec(spec)
    sys.modules[nome] = modulo
    spec.loader.exec_module(modulo)
    return modulo


@pytest.fixture(autouse=True)
def _fechar_figuras():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def modulo8():
    """A cópia de ``llm_do_zero.py`` do capítulo 8 (a que o script usa), importada à parte, sem passar pelo script."""
    return carregar_modulo(8)


@pytest.fixture(scope="module")
def tok8(modulo8):
    return modulo8.tokenizador_machado(modulo8.N_FUSOES_BASE)


def desenhar(gerar, funcao):
    """Desenha uma figura (sem gravar) e devolve ``(figura, textos)``: os textos com ``gid``, agrupados por ele."""
    figura = gerar.desenhar(funcao)
    textos = {}
    for ax in figura.fig.axes:
        for t in ax.texts:
            if t.get_gid():
                textos.setdefault(t.get_gid(), []).append(t.get_text())
    return figura, textos


def referenciadas() -> set[str]:
    """Os nomes de PNG de ``infograficos/`` citados nos README e notebooks dos capítulos."""
    textos = [p.read_text(encoding="utf-8") for p in RAIZ.glob("0[1-8]-*/*.md")]
    textos += [p.read_text(encoding="utf-8") for p in RAIZ.glob("0[1-8]-*/notebook*.ipynb")]
    return {nome for t in textos for nome in re.findall(r"infograficos/([\w-]+\.png)", t)}


def test_ha_figuras_e_script():
    assert (PASTA / "gerar.py").is_file() and FIGURAS


def test_script_regenera_todas_as_figuras_com_o_mesmo_conteudo(gerar, tmp_path):
    from PIL import Image

    caminhos = gerar.gerar_todas(tmp_path, otimizar=False)
    geradas = sorted(p.name for p in tmp_path.glob("*.png"))
    assert sorted(p.name for p in caminhos) == geradas
    assert geradas == [p.name for p in FIGURAS], "o script e a pasta infograficos/ têm figuras diferentes"
    faltando = referenciadas() - set(geradas)
    assert not faltando, f"figuras citadas nos capítulos que o script não gera: {sorted(faltando)}"
    for figura in FIGURAS:
        with Image.open(figura) as commitada, Image.open(tmp_path / figura.name) as nova:
            assert commitada.size == nova.size, f"{figura.name}: a figura commitada não é a que o script gera"
            assert commitada.text.get("conteudo") == nova.text["conteudo"], (
                f"infograficos/{figura.name} mostra outro conteúdo que o script gera agora (o código do curso ou "
                "o script mudou): rode `python infograficos/gerar.py` e commite os PNGs"
            )


def test_figura_desatualizada_e_detectada(gerar, monkeypatch):
    """A impressão digital muda quando o módulo muda: mudar a abertura do prompt muda a do modelo de prompt."""
    from PIL import Image

    with Image.open(PASTA / "template_instrucao.png") as png:
        commitada = png.text.get("conteudo")
    assert gerar.impressao_digital(gerar.desenhar(gerar.fig_template_instrucao)) == commitada
    monkeypatch.setattr(gerar.modulo(), "PROMPT_INTRO", "Responda ao pedido abaixo.")
    gerar.dados_instrucao.cache_clear()
    try:
        figura, textos = desenhar(gerar, gerar.fig_template_instrucao)
        assert textos["prompt:0"] == ["Responda ao pedido abaixo."]
        assert gerar.impressao_digital(figura) != commitada
    finally:
        monkeypatch.undo()
        gerar.dados_instrucao.cache_clear()


@pytest.mark.parametrize("figura", FIGURAS, ids=lambda p: p.name)
def test_figura_e_referenciada(figura):
    assert figura.name in referenciadas(), f"{figura.name} não é usada em nenhum capítulo"


def test_modelo_de_prompt_e_o_do_capitulo_7(gerar, modulo8, tok8):
    exemplos = json.loads((RAIZ / "07-instruction-tuning" / "instrucoes.json").read_text(encoding="utf-8"))
    dados = gerar.dados_instrucao()
    exemplo = dados["exemplo"]
    assert exemplo in [{k: e[k] for k in exemplo} for e in exemplos], "a figura deve usar um exemplo do conjunto"
    assert exemplo["entrada"], "o exemplo da figura deve ter entrada, para mostrar as três seções"
    _, textos = desenhar(gerar, gerar.fig_template_instrucao)

    # o texto da caixa, linha a linha (uma linha pode ter pedaços de cores diferentes) = formatar_prompt(exemplo)
    linhas = {int(gid.split(":")[1]): "".join(t) for gid, t in textos.items() if gid.startswith("prompt:")}
    desenhado = "\n".join(linhas.get(i, "") for i in range(max(linhas) + 1))
    assert desenhado == modulo8.formatar_prompt(exemplo)
    # e logo depois, a resposta como o DatasetInstrucoes a tokeniza: " " + saída + <|endoftext|>
    ids, n_prompt = modulo8.DatasetInstrucoes([exemplo], tok8)[0]
    assert textos["resposta"] == [tok8.decode(ids[n_prompt:].tolist())]
    assert textos["resposta"][0].strip().startswith(exemplo["saida"])

    # as tiras: entrada, alvo deslocado e alvo final saem de colar_instrucoes do módulo
    id_fim = modulo8.id_fim_de_texto(tok8)
    dataset = modulo8.DatasetInstrucoes([exemplo, dados["exemplo_padding"]], tok8)
    lote = [dataset[0], dataset[1]]
    entrada, alvo = modulo8.colar_instrucoes(lote, id_fim)
    _, alvo_sem_prompt = modulo8.colar_instrucoes(lote, id_fim, mascarar_prompt=True)
    ini = dados["inicio"]
    n = len(textos["entrada"])
    assert n == len(textos["alvo"]) == len(textos["alvo_final"]) > 0

    def rotulos(ids_):
        return ["−100" if i == -100 else gerar.rotulo_tira(tok8.decode([i])) for i in ids_]

    assert textos["entrada"] == rotulos(entrada[0, ini:ini + n].tolist())
    assert textos["alvo"] == rotulos(entrada[0, ini + 1:ini + n + 1].tolist())  # tokens[1:], antes do −100
    assert textos["alvo_final"] == rotulos(alvo_sem_prompt[0, ini:ini + n].tolist())
    fora_sempre = alvo[0, ini:ini + n] == -100
    assert fora_sempre.any() and (~fora_sempre).any(), "a janela deve mostrar resposta e padding"
    assert "<eot>" in textos["alvo_final"], "o 1º <|endoftext|> entra na perda e precisa aparecer"


def test_agenda_da_lr_e_a_do_capitulo_5(gerar, modulo8):
    figura = gerar.desenhar(gerar.fig_laco_treinamento)
    (eixo,) = [ax for ax in figura.fig.axes if any(linha.get_gid() == "lr" for linha in ax.lines)]
    (linha,) = [linha for linha in eixo.lines if linha.get_gid() == "lr"]
    receita = modulo8.TREINO_COMPLETO
    passos = np.asarray(linha.get_xdata())
    assert passos.tolist() == list(range(receita["passos"]))
    esperado = [modulo8.taxa_aprendizado(int(p), receita["passos"], receita["lr_max"], receita["passos_aquecimento"],
                                         receita["lr_min"]) for p in passos]
    # o eixo y mostra LR × 10^-k; k vem do rótulo do eixo ("LR (× 10⁻³)")
    k = int(re.search(r"10([⁻⁰-⁹¹²³]+)", eixo.get_ylabel()).group(1).translate(SOBRESCRITOS))
    np.testing.assert_allclose(np.asarray(linha.get_ydata()) * 10.0 ** k, esperado, rtol=1e-9, atol=0)
    textos = " ".join(gerar.textos_da_figura(figura.fig))
    assert f"({receita['passos_aquecimento']} passos)" in textos
    assert f"A cada {receita['avaliar_a_cada']} passos" in textos


def test_fusoes_bpe_sao_as_do_treino(gerar, modulo8):
    import regex

    frase = gerar.FRASE_FUSOES
    assert frase in modulo8.ler_texto(gerar.ROMANCE_FUSOES), "a frase das fusões deve ser de Machado"
    _, textos = desenhar(gerar, gerar.fig_fusoes_bpe)
    n = len(textos["fusao"])
    assert n >= 3
    registro = []
    bpe = modulo8.TokenizadorBPE.treinar(frase, n, registrar=lambda _p, par, novo, c: registro.append((par, novo, c)))

    def rotulo(i):
        return gerar.mostrar_token(bpe.vocab[i].decode("utf-8"))

    assert textos["fusao"] == [f"{rotulo(a)} + {rotulo(b)} → {rotulo(novo)}" for (a, b), novo, _ in registro]
    pedacos = regex.findall(modulo8.PADRAO_PT, frase)
    for k in range(n + 1):  # a frase depois de k fusões, caixa por caixa
        parcial = modulo8.TokenizadorBPE(list(bpe.fusoes)[:k])
        assert textos[f"estado{k}"] == [rotulo(i) for p in pedacos for i in parcial.encode(p)], f"passo {k}"
    todos = gerar.textos_da_figura(gerar.desenhar(gerar.fig_fusoes_bpe).fig)
    for _, novo, contagem in registro:
        assert any(t.endswith(f"· id {novo}") for t in todos)
        assert str(contagem) in todos  # a contagem do par vencedor, ao lado da barra


def test_tokens_e_ids_sao_os_do_bpe_do_curso(gerar, modulo8, tok8):
    trecho = gerar.TRECHO_MACHADO
    assert trecho in modulo8.ler_texto(gerar.ROMANCE_TRECHO)
    ids = tok8.encode(trecho)
    figura, textos = desenhar(gerar, gerar.fig_pipeline_tokens)
    assert textos["id"] == [str(i) for i in ids]
    assert textos["token"] == [gerar.mostrar_token(tok8.decode([i])) for i in ids]
    gpt2 = modulo8.carregar_tokenizador_gpt2()
    tokens_gpt2 = [gpt2.decode([i]) for i in gpt2.encode(trecho)]
    rodape = " | ".join(gerar.mostrar_token(t) for t in tokens_gpt2)
    assert any(f"vira {len(tokens_gpt2)} tokens: {rodape}" in t for t in gerar.textos_da_figura(figura.fig))

    # a janela deslizante: as janelas (x, y) são as do DatasetGPT do capítulo 2
    _, textos = desenhar(gerar, gerar.fig_janela_deslizante)
    ids_longos = tok8.encode(trecho + gerar.CONTINUACAO_TRECHO)[:13]
    dataset = modulo8.DatasetGPT(ids_longos, context_length=4, stride=3)
    for j in range(3):
        x, y = dataset[j]
        assert textos[f"x{j}"] == [gerar.mostrar_token(tok8.decode([i])) for i in x.tolist()]
        assert textos[f"y{j}"] == [gerar.mostrar_token(tok8.decode([i])) for i in y.tolist()]


def test_linha_do_tempo_em_ordem_com_as_datas_conferidas(gerar):
    marcos = gerar.LINHA_DO_TEMPO
    datas = [(ano, mes) for ano, mes, *_ in marcos]
    assert datas == sorted(datas), "os marcos da linha do tempo devem estar em ordem cronológica"
    assert all(1 <= mes <= 12 for _, mes in datas)
    # datas do primeiro anúncio público, conferidas nos artigos (arXiv) e posts originais
    conferidas = {
        "Transformer": (2017, 6),  # arXiv 1706.03762
        "GPT-1": (2018, 6),  # post e artigo da OpenAI, 11/6/2018
        "BERT": (2018, 10),  # arXiv 1810.04805
        "GPT-2": (2019, 2),  # post da OpenAI, 14/2/2019
        "T5": (2019, 10),  # arXiv 1910.10683
        "Leis de escala": (2020, 1),  # arXiv 2001.08361
        "GPT-3": (2020, 5),  # arXiv 2005.14165
        "FLAN": (2021, 9),  # arXiv 2109.01652
        "InstructGPT": (2022, 1),  # post da OpenAI, 27/1/2022 (arXiv 2203.02155 em março)
        "Chinchilla": (2022, 3),  # arXiv 2203.15556
        "ChatGPT": (2022, 11),  # 30/11/2022
        "LLaMA": (2023, 2),  # arXiv 2302.13971
        "Mixtral 8x7B": (2023, 12),  # post da Mistral AI, 11/12/2023
        "o1": (2024, 9),  # 12/9/2024
        "DeepSeek-R1": (2025, 1),  # arXiv 2501.12948
    }
    assert {nome: (ano, mes) for ano, mes, nome, *_ in marcos} == conferidas
    assert {familia for *_, familia, _ in marcos} == set(gerar.FAMILIAS_TEMPO)

    figura, textos = desenhar(gerar, gerar.fig_linha_do_tempo)
    assert textos["nome"] == [nome for _, _, nome, *_ in marcos]
    assert textos["data"] == [f"{gerar.MESES[mes - 1]}/{ano}" for ano, mes, *_ in marcos]
    assert textos["descricao"] == [texto for *_, texto in marcos]
    assert textos["familia"] == list(gerar.FAMILIAS_TEMPO)
    assert textos["ano"] == [str(a) for a in sorted({ano for ano, *_ in marcos})]
    # o tempo corre de cima para baixo: cada marco fica abaixo do anterior
    alturas = [t.get_position()[1] for ax in figura.fig.axes for t in ax.texts if t.get_gid() == "nome"]
    assert all(a > b for a, b in pairwise(alturas))


def test_gargalo_rnn_pesos_somam_um_e_batem_com_o_desenho(gerar, modulo8):
    figura, textos = desenhar(gerar, gerar.fig_gargalo_rnn)
    alfas = figura.dados["alfas"]
    assert alfas.sum() == pytest.approx(1.0) and (alfas > 0).all()
    assert textos["alfa"] == [f"α = {modulo8.formatar_numero(a, 2)}" for a in alfas]
    assert int(np.argmax(alfas)) == textos["entrada"].index("olhos")  # para escrever "eyes", olha para "olhos"
    assert textos["entrada"] == ["Capitu", "tinha", "olhos", "de", "ressaca"] * 2  # os dois painéis
    assert textos["saida"][-1] == "eyes"
