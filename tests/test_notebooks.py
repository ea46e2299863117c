"""Cada notebook commitado está pronto para quem lê no GitHub e para quem abre no Colab."""
import re

import pytest

from conftest import CAPITULOS, NOTEBOOKS, RAIZ, codigo_das_celulas, id_notebook, ler_notebook

IDS = [id_notebook(p) for p in NOTEBOOKS]


def test_capitulos_tem_todos_os_arquivos():
    assert [p.name[:2] for p in CAPITULOS] == [f"{n:02d}" for n in range(1, 9)], "o curso tem os capítulos 01 a 08"
    for pasta in CAPITULOS:
        for nome in ("README.md", "notebook.ipynb", "links.md", "llm_do_zero.py"):
            assert (pasta / nome).is_file(), f"{pasta.name} sem {nome}"
        outros = [n.name for n in pasta.glob("*.ipynb") if n.name != "notebook.ipynb"]
        assert all(re.fullmatch(r"(notebook|solucoes)(_[a-z_]+)?\.ipynb", n) for n in outros), (
            f"{pasta.name}: notebooks extras devem se chamar notebook_<tema>.ipynb e as soluções, solucoes.ipynb ou "
            f"solucoes_<tema>.ipynb (o pytest só coleta esses): {outros}"
        )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_saidas_commitadas_sem_erros(notebook):
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
    assert imagens, "nenhum gráfico commitado"


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
