"""Capítulo 7: o conjunto de instruções em português (``07-instruction-tuning/gerar_dados.py`` e
``instrucoes.json``): determinismo, tamanho, divisão treino/teste, respostas conferidas à mão e por regra."""
import importlib.util
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

CAPITULO = Path(__file__).resolve().parent.parent / "07-instruction-tuning"
SCRIPT = CAPITULO / "gerar_dados.py"
ARQUIVO = CAPITULO / "instrucoes.json"
CAMPOS = ["instrucao", "entrada", "saida", "tarefa", "divisao"]
PRONOMES = ("eu", "tu", "ele", "ela", "você", "nós", "vocês", "eles", "elas")


@pytest.fixture(scope="module")
def gd():
    """O script gerador, importado pelo caminho (a pasta do capítulo não é um pacote)."""
    nome = "gerar_dados_cap07"
    spec = importlib.util.spec_from_file_location(nome, SCRIPT)
    modulo = importlib.util.module_from_spec(spec)
    sys.modules[nome] = modulo
    spec.loader.exec_module(modulo)
    return modulo


@pytest.fixture(scope="module")
def exemplos():
    """O arquivo commitado, como o capítulo o lê."""
    return json.loads(ARQUIVO.read_text(encoding="utf-8"))


def _texto(exemplos):
    return json.dumps(exemplos, ensure_ascii=False, indent=1) + "\n"


def _alvo(e):
    """A palavra, frase ou número sobre o qual o exemplo pergunta: a entrada, ou o primeiro trecho entre aspas
    da instrução, ou o primeiro número dela ("Escreva o número 342 por extenso.")."""
    if e["entrada"]:
        return e["entrada"]
    achado = re.search(r'"([^"]+)"', e["instrucao"]) or re.search(r"(\d+)", e["instrucao"])
    assert achado, f"não achei o alvo em {e}"
    return achado.group(1)


def _depois_dos_dois_pontos(e, lista=False):
    """O conteúdo do pedido: a entrada ou, se ela está vazia, o que vem depois de ": " na instrução
    ("Ordene em ordem alfabética: a, b, c." -> "a, b, c"; numa lista, o ponto final não é um item)."""
    if e["entrada"]:
        return e["entrada"]
    texto = e["instrucao"].split(": ", 1)[1]
    return texto[:-1] if lista and texto.endswith(".") else texto


# ---------------------------------------------------------------------------------------------------
# determinismo e arquivo commitado
# ---------------------------------------------------------------------------------------------------

def test_gerar_exemplos_deterministico(gd):
    primeira, segunda = gd.gerar_exemplos(), gd.gerar_exemplos()
    assert primeira == segunda
    assert _texto(primeira) == _texto(segunda)


def test_json_commitado_igual_a_uma_geracao_nova(gd):
    esperado = (json.dumps(gd.gerar_exemplos(), ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    assert ARQUIVO.read_bytes() == esperado, "instrucoes.json desatualizado: rode `python gerar_dados.py`"


def test_main_grava_o_mesmo_arquivo_e_imprime_contagens(gd, tmp_path, capsys):
    destino = gd.main(tmp_path / "instrucoes.json")
    assert Path(destino).read_bytes() == ARQUIVO.read_bytes()
    saida = capsys.readouterr().out
    for tarefa in gd.TAREFAS:
        assert tarefa in saida
    assert "treino" in saida and "teste" in saida


# ---------------------------------------------------------------------------------------------------
# formato, tamanho e divisão
# ---------------------------------------------------------------------------------------------------

def test_formato_e_tamanho(gd, exemplos):
    assert len(exemplos) >= 1000
    for e in exemplos:
        assert list(e) == CAMPOS
        assert all(isinstance(e[c], str) for c in CAMPOS)
        assert e["instrucao"] and e["saida"], e
        assert e["instrucao"] == e["instrucao"].strip() and e["saida"] == e["saida"].strip()
        assert e["tarefa"] in gd.TAREFAS
        assert e["divisao"] in ("treino", "teste")
        # cabe com folga em 256 tokens depois do modelo de prompt
        assert len(e["instrucao"]) + len(e["entrada"]) + len(e["saida"]) <= 200, e


def test_acentos_presentes_e_texto_normalizado(exemplos):
    import unicodedata
    texto = " ".join(e[c] for e in exemplos for c in ("instrucao", "entrada", "saida"))
    assert unicodedata.normalize("NFC", texto) == texto
    for letra in "áâãàéêíóôõúç":
        assert letra in texto, f"nenhum '{letra}' no conjunto: acentos perdidos?"


def test_toda_tarefa_nas_duas_divisoes(gd, exemplos):
    contagem = Counter((e["tarefa"], e["divisao"]) for e in exemplos)
    for tarefa in gd.TAREFAS:
        treino, teste = contagem[(tarefa, "treino")], contagem[(tarefa, "teste")]
        assert treino > 0 and teste > 0, tarefa
        assert 0.10 <= teste / (treino + teste) <= 0.15, (tarefa, treino, teste)
    assert {e["tarefa"] for e in exemplos} == set(gd.TAREFAS)


def test_sem_pares_instrucao_entrada_repetidos(exemplos):
    repetidos = [k for k, n in Counter((e["instrucao"], e["entrada"]) for e in exemplos).items() if n > 1]
    assert repetidos == []


def test_teste_nao_aparece_no_treino(exemplos):
    def chaves(divisao, normalizar=lambda s: s):
        return {(normalizar(e["instrucao"]), normalizar(e["entrada"])) for e in exemplos if e["divisao"] == divisao}

    assert chaves("treino").isdisjoint(chaves("teste"))
    # nem mesmo trocando maiúsculas/minúsculas e espaços
    normal = lambda s: " ".join(s.casefold().split())  # noqa: E731
    assert chaves("treino", normal).isdisjoint(chaves("teste", normal))


# ---------------------------------------------------------------------------------------------------
# respostas conferidas à mão
# ---------------------------------------------------------------------------------------------------

def _respostas(exemplos, tarefa, alvo):
    return {e["saida"] for e in exemplos if e["tarefa"] == tarefa and _alvo(e) == alvo}


@pytest.mark.parametrize("tarefa,alvo,resposta", [
    ("plural", "pão", "pães"),
    ("plural", "limão", "limões"),
    ("plural", "mão", "mãos"),
    ("plural", "animal", "animais"),
    ("plural", "papel", "papéis"),
    ("plural", "fóssil", "fósseis"),
    ("plural", "barril", "barris"),
    ("plural", "flor", "flores"),
    ("plural", "raiz", "raízes"),
    ("plural", "homem", "homens"),
    ("plural", "lápis", "lápis"),
    ("singular", "cães", "cão"),
    ("singular", "anéis", "anel"),
    ("genero", "ator", "atriz"),
    ("genero", "galinha", "galo"),
    ("antonimo", "quente", "frio"),
    ("antonimo", "fechar", "abrir"),
    ("numero_por_extenso", "342", "trezentos e quarenta e dois"),
    ("numero_por_extenso", "100", "cem"),
    ("numero_por_extenso", "cem", "100"),
    ("numero_por_extenso", "cento e um", "101"),
])
def test_amostras_do_arquivo(exemplos, tarefa, alvo, resposta):
    assert _respostas(exemplos, tarefa, alvo) == {resposta}


def test_conta_sete_mais_oito(exemplos):
    por_instrucao = {(e["instrucao"], e["entrada"]): e["saida"] for e in exemplos if e["tarefa"] == "conta"}
    assert por_instrucao[("Quanto é 7 + 8?", "")] == "15"
    assert por_instrucao[("Quanto é sete mais oito?", "")] == "quinze"


@pytest.mark.parametrize("n,escrito", [
    (0, "zero"), (1, "um"), (14, "quatorze"), (16, "dezesseis"), (19, "dezenove"), (20, "vinte"),
    (21, "vinte e um"), (50, "cinquenta"), (99, "noventa e nove"), (100, "cem"), (101, "cento e um"),
    (110, "cento e dez"), (200, "duzentos"), (342, "trezentos e quarenta e dois"), (500, "quinhentos"),
    (909, "novecentos e nove"), (999, "novecentos e noventa e nove"),
])
def test_por_extenso(gd, n, escrito):
    assert gd.por_extenso(n) == escrito


def test_por_extenso_recusa_fora_da_faixa(gd):
    for ruim in (-1, 1000):
        with pytest.raises(ValueError):
            gd.por_extenso(ruim)


@pytest.mark.parametrize("verbo,tempo,pronome,esperado", [
    ("falar", "presente", "nós", "nós falamos"),
    ("comer", "presente", "tu", "tu comes"),
    ("partir", "presente", "eles", "eles partem"),
    ("falar", "pretérito perfeito", "ele", "ele falou"),
    ("vender", "pretérito perfeito", "eu", "eu vendi"),
    ("abrir", "pretérito perfeito", "vocês", "vocês abriram"),
    ("ficar", "pretérito perfeito", "eu", "eu fiquei"),
    ("chegar", "pretérito perfeito", "eu", "eu cheguei"),
    ("dançar", "pretérito perfeito", "eu", "eu dancei"),
    ("ter", "presente", "elas", "elas têm"),
    ("ser", "pretérito perfeito", "nós", "nós fomos"),
    ("poder", "pretérito perfeito", "ela", "ela pôde"),
    ("pôr", "presente", "você", "você põe"),
])
def test_conjugar(gd, verbo, tempo, pronome, esperado):
    assert gd.conjugar(verbo, tempo, pronome) == esperado


def test_ordem_alfabetica_ignora_acentos(gd):
    ordenadas = gd.ordem_alfabetica(["zebra", "ônibus", "casa", "água", "ovo"])
    assert ordenadas == ["água", "casa", "ônibus", "ovo", "zebra"]


# ---------------------------------------------------------------------------------------------------
# todas as respostas conferidas por regra (uma verificação por tarefa)
# ---------------------------------------------------------------------------------------------------

def _consistente(exemplos_da_tarefa):
    """A mesma pergunta (mesmo alvo) tem sempre a mesma resposta, em qualquer formulação."""
    respostas = defaultdict(set)
    for e in exemplos_da_tarefa:
        respostas[_alvo(e)].add(e["saida"])
    assert {a: r for a, r in respostas.items() if len(r) > 1} == {}
    return {a: r.pop() for a, r in respostas.items()}


def _verificar_plural(gd, es):
    tabela = dict(gd.PLURAIS)
    assert all(tabela[a] == r for a, r in _consistente(es).items())


def _verificar_singular(gd, es):
    tabela = {p: s for s, p in gd.PLURAIS}
    assert all(tabela[a] == r for a, r in _consistente(es).items())


def _verificar_genero(gd, es):
    tabela = dict(gd.GENEROS) | {f: m for m, f in gd.GENEROS}
    for e in es:
        assert tabela[_alvo(e)] == e["saida"]
        pede_feminino = "feminino" in e["instrucao"]
        assert (e["saida"] in dict(gd.GENEROS).values()) == pede_feminino, e


def _verificar_antonimo(gd, es):
    tabela = dict(gd.ANTONIMOS) | {b: a for a, b in gd.ANTONIMOS}
    assert all(tabela[a] == r for a, r in _consistente(es).items())


def _verificar_conjugacao(gd, es):
    for e in es:
        i, ent = e["instrucao"], e["entrada"]
        tempo = "pretérito perfeito" if "pretérito perfeito" in i else "presente"
        verbo = re.search(r'verbo "([^"]+)"', i) or re.search(r"verbo: (\S+);", ent) or re.search(r"\((\S+)\)", ent)
        pronome = (re.search(r'"(\w+)"\W*$', i) or re.search(r"pessoa: (\S+)$", ent)
                   or re.search(r": (\S+) ___", i) or re.match(r"(\S+) \(", ent))
        assert verbo and pronome, e
        assert pronome.group(1) in PRONOMES, e
        assert e["saida"].split()[0] == pronome.group(1), e
        assert e["saida"] == gd.conjugar(verbo.group(1), tempo, pronome.group(1)), e


def _verificar_numero_por_extenso(gd, es):
    for e in es:
        if e["saida"].isdigit():
            assert gd.por_extenso(int(e["saida"])) == _alvo(e), e
        else:
            assert gd.por_extenso(int(_alvo(e))) == e["saida"], e
    numeros = {int(e["saida"]) if e["saida"].isdigit() else int(_alvo(e)) for e in es}
    assert set(range(0, 101)) <= numeros  # de 0 a 100, todos aparecem


def _verificar_conta(gd, es):
    por_nome = {gd.por_extenso(n): n for n in range(0, 101)}
    for e in es:
        texto = f"{e['instrucao']} {e['entrada']}"
        if m := re.search(r"(\d+) ([+-]|mais|menos) (\d+)", texto):
            a, op, b = int(m[1]), m[2], int(m[3])
        elif m := re.search(r"Some (\d+) e (\d+)", texto):
            a, op, b = int(m[1]), "+", int(m[2])
        elif m := re.search(r"Subtraia (\d+) de (\d+)", texto):
            a, op, b = int(m[2]), "-", int(m[1])
        else:
            m = re.fullmatch(r"Quanto é (.+) (mais|menos) (.+)\?", e["instrucao"])
            assert m, e
            a, op, b = por_nome[m[1]], m[2], por_nome[m[3]]
        resultado = a + b if op in ("+", "mais") else a - b
        assert 0 <= resultado <= 100, e
        por_extenso = "por extenso" in texto or not re.search(r"\d", texto)
        assert e["saida"] == (gd.por_extenso(resultado) if por_extenso else str(resultado)), e


def _verificar_ordenar(gd, es):
    for e in es:
        itens = _depois_dos_dois_pontos(e, lista=True).split(", ")
        if all(x.isdigit() for x in itens):
            ordem = sorted(itens, key=int, reverse="maior para o menor" in e["instrucao"])
            assert e["saida"] == ", ".join(ordem), e
            continue
        chaves = [gd.sem_acentos(x).lower() for x in itens]
        assert len(set(chaves)) == len(chaves), e  # sem empates: a ordem é única
        ordem = [x for _, x in sorted(zip(chaves, itens, strict=True))]
        if "primeiro" in e["instrucao"]:
            assert e["saida"] == ordem[0], e
        elif "por último" in e["instrucao"]:
            assert e["saida"] == ordem[-1], e
        else:
            assert e["saida"] == ", ".join(ordem), e


def _verificar_inverter(gd, es):
    for e in es:
        itens = _depois_dos_dois_pontos(e, lista=True).split(", ")
        assert len(itens) >= 3, e
        assert e["saida"] == ", ".join(reversed(itens)), e


def _verificar_contar_letras(gd, es):
    for e in es:
        palavra = _alvo(e)
        assert palavra.isalpha(), e
        assert e["saida"] == str(len(palavra)), e


def _verificar_contar_palavras(gd, es):
    for e in es:
        frase = _depois_dos_dois_pontos(e)
        assert "-" not in frase, e
        assert e["saida"] == str(len(frase.split())), e


def _verificar_primeira_ultima_letra(gd, es):
    for e in es:
        palavra = _alvo(e)
        primeira = "primeira" in e["instrucao"] or "começa" in e["instrucao"]
        assert e["saida"] == (palavra[0] if primeira else palavra[-1]), e


def _verificar_sentimento(gd, es):
    rotulos = Counter(e["saida"] for e in es)
    assert set(rotulos) == {"positivo", "negativo"}
    assert min(rotulos.values()) >= 0.35 * len(es)  # classes mais ou menos equilibradas
    _consistente(es)


def _verificar_pergunta_ou_afirmacao(gd, es):
    for e in es:
        assert e["saida"] == ("pergunta" if _alvo(e).endswith("?") else "afirmação"), e


def _verificar_reescrita(gd, es):
    plurais = dict(gd._expressoes())
    singulares = {p: s for s, p in plurais.items()}
    for e in es:
        i = e["instrucao"]
        if "maiúsculas" in i:
            texto = e["entrada"] or i.split(": ", 1)[1]
            assert e["saida"] == texto.upper(), e
        elif "minúsculas" in i:
            assert e["entrada"].isupper() and e["saida"] == e["entrada"].lower(), e
        elif "plural" in i:
            assert plurais[_depois_dos_dois_pontos(e)] == e["saida"], e
        else:
            assert "singular" in i, e
            assert singulares[_depois_dos_dois_pontos(e)] == e["saida"], e
    assert plurais["o leão feliz"] == "os leões felizes"
    assert plurais["a mão pequena"] == "as mãos pequenas"
    assert plurais["um papel azul"] == "uns papéis azuis"


def _verificar_glossario(gd, es):
    definicoes = {t: d for t, _, _, d in gd.GLOSSARIO}
    por_definicao = defaultdict(int)
    for e in es:
        assert e["saida"] in definicoes.values(), e
        por_definicao[e["saida"]] += 1
        if e["entrada"]:
            assert definicoes[e["entrada"]] == e["saida"], e
    assert len(por_definicao) == len(definicoes)  # todo termo aparece
    assert definicoes["token"].startswith("Um pedaço de texto")


VERIFICADORES = {nome[len("_verificar_"):]: f for nome, f in globals().items() if nome.startswith("_verificar_")}


def test_todas_as_tarefas_tem_verificador(gd):
    assert set(VERIFICADORES) == set(gd.TAREFAS)


@pytest.mark.parametrize("tarefa", sorted(VERIFICADORES))
def test_respostas_conferem_com_a_regra(gd, exemplos, tarefa):
    es = [e for e in exemplos if e["tarefa"] == tarefa]
    assert es, tarefa
    VERIFICADORES[tarefa](gd, es)


# ---------------------------------------------------------------------------------------------------
# carregamento com a biblioteca datasets (como no notebook)
# ---------------------------------------------------------------------------------------------------

def test_carrega_com_datasets(exemplos, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("json", data_files=str(ARQUIVO), split="train", cache_dir=str(tmp_path))
    assert ds.num_rows == len(exemplos)
    assert ds.column_names == CAMPOS
    assert ds[0] == exemplos[0]
    teste = ds.filter(lambda e: e["divisao"] == "teste")
    assert teste.num_rows == sum(e["divisao"] == "teste" for e in exemplos)
