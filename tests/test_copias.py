"""O módulo de apoio copiado adiante nunca diverge.

(a) A cópia do capítulo N+1 é a cópia do capítulo N, sem nenhuma alteração, seguida de um bloco
    ``# ===== Capítulo N: … =====``.
(b) Cada definição de nível superior do notebook do capítulo N é idêntica (AST) à de mesmo nome no bloco do
    capítulo N da cópia seguinte, e todo nome desse bloco é construído no notebook. Só ficam fora do módulo as
    versões didáticas (nomes terminados em V1, V2…), os ajudantes locais (nomes começando com ``_``) e as
    constantes de trabalho do notebook; uma constante em MAIÚSCULAS que está no módulo tem de ser igual.
"""
import ast
import re

import pytest

from conftest import CAPITULOS, MODULO, codigo_das_celulas, ler_notebook

BANNER = re.compile(r"^# ===== Capítulo (\d+): .+ =====$", re.M)
SO_NO_NOTEBOOK = re.compile(r"^_|V\d+$")
COM_MODULO = [p for p in CAPITULOS if (p / MODULO).exists()]
PARES = [(a, b) for a, b in zip(COM_MODULO, COM_MODULO[1:])]


def test_capitulos_com_modulo_sao_contiguos():
    assert COM_MODULO, "nenhum capítulo tem o módulo de apoio"
    assert COM_MODULO == CAPITULOS[: len(COM_MODULO)], "o módulo de apoio deve existir do capítulo 1 em diante, sem buracos"


def test_primeira_copia_so_tem_infraestrutura():
    texto = (COM_MODULO[0] / MODULO).read_text(encoding="utf-8")
    assert not BANNER.search(texto), "a cópia do capítulo 1 não deve ter blocos de capítulo"


@pytest.mark.parametrize("anterior,seguinte", PARES, ids=[b.name for _, b in PARES])
def test_copia_estende_a_anterior_sem_mudar_nada(anterior, seguinte):
    a = (anterior / MODULO).read_text(encoding="utf-8")
    b = (seguinte / MODULO).read_text(encoding="utf-8")
    assert b.startswith(a), f"{seguinte.name}/{MODULO} alterou o texto herdado de {anterior.name}"
    resto = b[len(a):]
    banners = BANNER.findall(resto)
    numero = int(anterior.name[:2])
    assert banners == [str(numero)], f"esperava exatamente um bloco '# ===== Capítulo {numero}: … =====', achei {banners}"
    assert resto.lstrip("\n").startswith(f"# ===== Capítulo {numero}:"), "o bloco novo deve começar pelo banner"


def definicoes(arvore_ou_nos) -> dict[str, str]:
    """nome -> AST (texto) das funções, classes e constantes em MAIÚSCULAS de nível superior."""
    d = {}
    for no in arvore_ou_nos:
        if isinstance(no, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            d[no.name] = ast.dump(no)
        elif isinstance(no, (ast.Assign, ast.AnnAssign)):
            alvos = no.targets if isinstance(no, ast.Assign) else [no.target]
            for alvo in alvos:
                if isinstance(alvo, ast.Name) and alvo.id.isupper():
                    d[alvo.id] = ast.dump(no.value)
    return d


def bloco_do_capitulo(texto_modulo: str, numero: int) -> list[ast.stmt]:
    arvore = ast.parse(texto_modulo)
    marcas = [(m.group(1), texto_modulo[: m.start()].count("\n") + 1) for m in BANNER.finditer(texto_modulo)]
    inicio = next(linha for n, linha in marcas if int(n) == numero)
    fim = min([linha for n, linha in marcas if linha > inicio], default=10**9)
    return [no for no in arvore.body if inicio < no.lineno < fim]


PARES_NOTEBOOK = [(a, b) for a, b in PARES if (a / "notebook.ipynb").exists()]


@pytest.mark.parametrize("capitulo,seguinte", PARES_NOTEBOOK, ids=[a.name for a, _ in PARES_NOTEBOOK])
def test_notebook_igual_ao_modulo(capitulo, seguinte):
    numero = int(capitulo.name[:2])
    nos_notebook = []
    for i, codigo in enumerate(codigo_das_celulas(ler_notebook(capitulo / "notebook.ipynb"))):
        try:
            nos_notebook.extend(ast.parse(codigo).body)
        except SyntaxError as e:  # pragma: no cover - a mensagem é o teste
            pytest.fail(f"{capitulo.name}: a célula de código {i} não é Python válido ({e})")
    do_notebook = definicoes(nos_notebook)
    do_modulo = definicoes(bloco_do_capitulo((seguinte / MODULO).read_text(encoding="utf-8"), numero))
    assert do_modulo, f"o bloco do capítulo {numero} em {seguinte.name}/{MODULO} está vazio"
    faltando = sorted(set(do_modulo) - set(do_notebook))
    assert not faltando, f"definidos no módulo mas não construídos no notebook de {capitulo.name}: {faltando}"
    for nome, arvore in do_notebook.items():
        if nome in do_modulo:
            assert arvore == do_modulo[nome], f"{nome}: o notebook de {capitulo.name} e {seguinte.name}/{MODULO} divergem"
        elif nome.isupper():
            continue  # constantes de trabalho do notebook (ex.: N_FUSOES) podem ficar só nele
        elif not SO_NO_NOTEBOOK.search(nome):
            pytest.fail(
                f"{capitulo.name}: {nome} é definido no notebook mas não está no módulo do capítulo seguinte "
                "(use o sufixo V1/V2… para versões didáticas ou '_' para ajudantes locais)"
            )


ULTIMO = CAPITULOS[-1]
EXTRAS = ULTIMO / "extras.py"


@pytest.mark.skipif(not EXTRAS.exists(), reason="o último capítulo ainda não tem extras.py")
def test_ultimo_capitulo_guarda_o_que_constroi_em_extras():
    """O último capítulo não tem cópia seguinte: o que os notebooks dele constroem fica em ``extras.py``.

    Mesma regra de (b): toda definição dos notebooks do capítulo é idêntica à de ``extras.py`` e todo nome de
    ``extras.py`` é construído em algum notebook (os scripts do capítulo importam de lá).
    """
    do_modulo = definicoes(ast.parse(EXTRAS.read_text(encoding="utf-8")).body)
    assert do_modulo, "extras.py não define nada"
    do_notebook = {}
    for caminho in sorted(ULTIMO.glob("notebook*.ipynb")):
        for i, codigo in enumerate(codigo_das_celulas(ler_notebook(caminho))):
            do_notebook.update(definicoes(ast.parse(codigo).body))
    faltando = sorted(set(do_modulo) - set(do_notebook))
    assert not faltando, f"definidos em extras.py mas não construídos nos notebooks de {ULTIMO.name}: {faltando}"
    for nome, arvore in do_notebook.items():
        if nome in do_modulo:
            assert arvore == do_modulo[nome], f"{nome}: o notebook de {ULTIMO.name} e extras.py divergem"
        elif not (nome.isupper() or SO_NO_NOTEBOOK.search(nome)):
            pytest.fail(f"{ULTIMO.name}: {nome} é definido num notebook mas não está em extras.py")
