"""Cada notebook commitado está pronto para quem lê no GitHub e para quem abre no Colab."""
import importlib.util
import re
import tomllib

import pytest

from conftest import CAPITULOS, NOTEBOOKS, RAIZ, SOLUCOES, codigo_das_celulas, id_notebook, ler_notebook

IDS = [id_notebook(p) for p in NOTEBOOKS]
REPOSITORIO = tomllib.loads((RAIZ / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["llm-do-zero"]["repositorio"]
#: Capítulos que já têm ``solucoes.ipynb`` (os exercícios de 01–04 estão a caminho). Quando todos os capítulos
#: tiverem o seu, o teste passa a exigir de todos, sem precisar mexer nesta lista.
CAPITULOS_COM_SOLUCOES = {"05", "06", "07", "08"}


def test_capitulos_tem_todos_os_arquivos():
    assert [p.name[:2] for p in CAPITULOS] == [f"{n:02d}" for n in range(1, 9)], "o curso tem os capítulos 01 a 08"
    for pasta in CAPITULOS:
        for nome in ("README.md", "notebook.ipynb", "links.md", "llm_do_zero.py"):
            assert (pasta / nome).is_file(), f"{pasta.name} sem {nome}"
        outros = [n.name for n in pasta.glob("*.ipynb") if n.name != "notebook.ipynb"]
        assert all(re.fullmatch(r"(notebook|solucoes)_[a-z_]+\.ipynb|solucoes\.ipynb", n) for n in outros), (
            f"{pasta.name}: notebooks extras devem se chamar notebook_<tema>.ipynb, e os de soluções solucoes.ipynb "
            f"ou solucoes_<tema>.ipynb (o pytest só coleta esses): {outros}"
        )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_saidas_commitadas_sem_erros(notebook):
    _conferir_saidas(notebook, exigir_grafico=True)


def _conferir_saidas(notebook, exigir_grafico: bool):
    nb = ler_notebook(notebook)
    codigo = [c for c in nb["cells"] if c["cell_type"] == "code"]
    com_saida = [c for c in codigo if c.get("outputs")]
    assert len(com_saida) >= len(codigo) // 2, "o notebook foi commitado sem as saídas de uma execução"
    for c in codigo:
        assert not any(o.get("output_type") == "error" for o in c.get("outputs", [])), "há uma saída de erro commitada"
        if c.get("outputs"):
            assert c.get("execution_count") is not None, "saída sem execution_count (o nbval precisa dele)"
    contagens = [c["execution_count"] for c in codigo if c.get("execution_count") is not None]
    assert contagens == sorted(contagens), "as células não foram executadas em ordem, de cima para baixo"
    imagens = [o for c in codigo for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert imagens or not exigir_grafico, "nenhum gráfico commitado"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_estrutura_do_capitulo(notebook):
    nb = ler_notebook(notebook)
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    codigo = "\n".join(codigo_das_celulas(nb))
    assert nb["cells"][0]["cell_type"] == "markdown", "o notebook abre com uma célula markdown de apresentação"
    assert "google.colab" in codigo_das_celulas(nb)[0], "a primeira célula de código é a configuração do Colab"
    assert "descrever_modo()" in codigo, "o notebook deve dizer em que modo (rápido/completo) está rodando"
    assert re.search(r"^#+ .*Resumo", markdown, re.M), "falta a seção Resumo"
    assert re.search(r"^#+ .*Exerc[íi]cios", markdown, re.M), "falta a seção Exercícios"
    assert "NBVAL_CHECK_OUTPUT" in codigo, "marque ao menos uma saída determinística com # NBVAL_CHECK_OUTPUT"
    assert not re.search(r"^\s*[!%]", codigo, re.M), "sem magics do IPython: o código deve ser Python puro"


# ----------------------------------------------------------------------------------------------------------------
# Soluções dos exercícios: um notebook separado por capítulo, executado e coletado pelo nbval como os outros
# ----------------------------------------------------------------------------------------------------------------
IDS_SOLUCOES = [id_notebook(p) for p in SOLUCOES]


def test_capitulos_tem_notebook_de_solucoes():
    todos_tem = all((pasta / "solucoes.ipynb").is_file() for pasta in CAPITULOS)
    exigidos = [p for p in CAPITULOS if todos_tem or p.name[:2] in CAPITULOS_COM_SOLUCOES]
    faltando = [p.name for p in exigidos if not (p / "solucoes.ipynb").is_file()]
    assert not faltando, f"capítulos sem solucoes.ipynb (as soluções dos exercícios): {faltando}"


def test_curso_constroi_e_executa_as_solucoes():
    """``ferramentas/curso.py`` (construir, verificar, executar) conhece os notebooks de soluções, depois dos outros."""
    spec = importlib.util.spec_from_file_location("curso_solucoes", RAIZ / "ferramentas" / "curso.py")
    curso = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curso)
    conhecidos = curso.todos_os_notebooks()
    assert set(SOLUCOES) <= set(conhecidos)
    for pasta in CAPITULOS:
        nomes = [n.name for n in curso.notebooks_do_capitulo(pasta)]
        principais = [n for n in nomes if n.startswith("notebook")]
        assert nomes[:len(principais)] == principais, f"{pasta.name}: as soluções vêm depois dos notebooks: {nomes}"


@pytest.mark.parametrize("notebook", SOLUCOES, ids=IDS_SOLUCOES)
def test_solucoes_executadas_sem_erros(notebook):
    _conferir_saidas(notebook, exigir_grafico=False)


@pytest.mark.parametrize("notebook", SOLUCOES, ids=IDS_SOLUCOES)
def test_estrutura_das_solucoes(notebook):
    nb = ler_notebook(notebook)
    celulas_de_codigo = codigo_das_celulas(nb)
    codigo = "\n".join(celulas_de_codigo)
    assert nb["cells"][0]["cell_type"] == "markdown", "o notebook de soluções abre com uma célula markdown"
    configuracao = celulas_de_codigo[0]
    assert "google.colab" in configuracao, "a primeira célula de código é a configuração do Colab"
    assert f'REPOSITORIO = "{REPOSITORIO}"' in configuracao and f'CAPITULO = "{notebook.parent.name}"' in configuracao
    assert "descrever_modo()" in codigo, "o notebook deve dizer em que modo (rápido/completo) está rodando"
    assert "NBVAL_CHECK_OUTPUT" in codigo, "marque ao menos uma saída determinística com # NBVAL_CHECK_OUTPUT"
    assert not re.search(r"^\s*[!%]", codigo, re.M), "sem magics do IPython: o código deve ser Python puro"


@pytest.mark.parametrize("solucoes", [s for s in SOLUCOES if s.name == "solucoes.ipynb"], ids=id_notebook)
def test_exercicios_apontam_para_as_solucoes(solucoes):
    """A seção Exercícios de cada notebook do capítulo leva às soluções: link relativo (GitHub) e URL do Colab."""
    url = f"https://colab.research.google.com/github/{REPOSITORIO}/blob/main/{solucoes.parent.name}/solucoes.ipynb"
    for notebook in sorted(solucoes.parent.glob("notebook*.ipynb")):
        markdown = "\n".join("".join(c["source"]) for c in ler_notebook(notebook)["cells"] if c["cell_type"] == "markdown")
        exercicios = markdown[markdown.rfind("Exercícios"):]
        assert "](solucoes.ipynb)" in exercicios and url in exercicios, (
            f"{notebook.parent.name}/{notebook.name}: a seção Exercícios deve ter o link para solucoes.ipynb e o do Colab"
        )


def test_resultados_das_solucoes_tem_arquivo_proprio(infra, tmp_path, monkeypatch):
    """``salvar_resultados("solucoes", …)`` grava ``resultados_solucoes.json`` (o README cita com ``r:solucoes.chave``)."""
    monkeypatch.setattr(infra, "RAPIDO", False)
    assert infra.arquivo_de_resultados("solucoes", tmp_path) == tmp_path / "resultados_solucoes.json"
    assert infra.arquivo_de_resultados("solucoes_pytorch", tmp_path) == tmp_path / "resultados_solucoes_pytorch.json"
    assert infra.arquivo_de_resultados("notebook", tmp_path) == tmp_path / "resultados.json"
    for ruim in ("solucao", "solucoes_", "solucoes-x", "notebook_"):
        with pytest.raises(ValueError, match="nome de notebook inválido"):
            infra.arquivo_de_resultados(ruim, tmp_path)


def test_avisos_nao_mostram_caminhos_da_maquina(infra):
    """Um ``warnings.warn`` dentro de um notebook não grava ``/tmp/ipykernel_…/….py`` nem a pasta da máquina."""
    import warnings

    texto = warnings.formatwarning("O prompt tem 66 tokens", UserWarning, "/tmp/ipykernel_9403/3546934055.py", 10)
    assert texto == "3546934055.py:10: UserWarning: O prompt tem 66 tokens\n"
    dentro = infra.PASTA_CACHE.parent / "07-instruction-tuning" / "llm_do_zero.py"
    assert warnings.formatwarning("x", RuntimeWarning, str(dentro), 3).startswith("07-instruction-tuning/llm_do_zero.py:3:")
