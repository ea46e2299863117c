"""Todo link relativo em Markdown (READMEs, links.md, células markdown dos notebooks) aponta para algo que existe."""
import re
from urllib.parse import unquote

import pytest

from conftest import RAIZ, REPOSITORIO, ler_notebook

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img[^>]+src=\"([^\"]+)\"")
IGNORAR = (".git", ".cache", ".venv", "venv", "node_modules")


def arquivos_markdown():
    return sorted(p for p in RAIZ.rglob("*.md") if not any(parte in IGNORAR for parte in p.relative_to(RAIZ).parts))


def notebooks():
    return sorted(p for p in RAIZ.glob("0[1-8]-*/*.ipynb"))


def links_relativos(texto):
    for a, b in LINK.findall(texto):
        alvo = a or b
        if re.match(r"^[a-z][a-z0-9+.-]*:", alvo, re.I) or alvo.startswith("#"):
            continue
        yield unquote(alvo.split("#")[0])


def verificar(origem, texto):
    quebrados = [alvo for alvo in links_relativos(texto) if not (origem.parent / alvo).exists()]
    assert not quebrados, f"{origem.relative_to(RAIZ)}: links quebrados {quebrados}"


@pytest.mark.parametrize("arquivo", arquivos_markdown(), ids=lambda p: str(p.relative_to(RAIZ)))
def test_links_do_markdown(arquivo):
    verificar(arquivo, arquivo.read_text(encoding="utf-8"))


@pytest.mark.parametrize("notebook", notebooks(), ids=lambda p: str(p.relative_to(RAIZ)))
def test_links_das_celulas_markdown(notebook):
    nb = ler_notebook(notebook)
    verificar(notebook, "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"))


def test_o_verificador_de_links_acha_link_quebrado(tmp_path):
    (tmp_path / "existe.md").write_text("x")
    texto = "[ok](existe.md) [web](https://x.org) [âncora](#a) ![fig](falta.png) [x](existe.md#sec)"
    assert list(links_relativos(texto)) == ["existe.md", "falta.png", "existe.md"]


IMAGEM = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?[^)]*\)|<img[^>]+src=\"([^\"]+)\"")


def _arquivos_no_git():
    import subprocess

    saida = subprocess.run(["git", "ls-files"], cwd=RAIZ, capture_output=True, text=True, check=True).stdout
    return set(saida.splitlines())


def imagens_quebradas(texto, no_notebook: bool, origem_rel: str, no_git: set) -> list[str]:
    """Imagens que não renderizam: num notebook, só vale a URL ``raw.githubusercontent.com`` do repositório (um
    caminho relativo não aparece no Colab); em qualquer lugar, o arquivo apontado tem de estar commitado."""
    prefixo = f"https://raw.githubusercontent.com/{REPOSITORIO}/main/"
    quebradas = []
    for a, b in IMAGEM.findall(texto):
        alvo = a or b
        if alvo.startswith(prefixo):
            caminho = alvo[len(prefixo):]
        elif no_notebook or re.match(r"^[a-z][a-z0-9+.-]*:", alvo, re.I):
            if not alvo.startswith("https://colab.research.google.com/assets/"):
                quebradas.append(alvo)
            continue
        else:
            from posixpath import normpath, dirname, join

            caminho = normpath(join(dirname(origem_rel), unquote(alvo)))
        if caminho not in no_git:
            quebradas.append(alvo)
    return quebradas


def test_imagens_renderizam_no_github_e_no_colab():
    no_git = _arquivos_no_git()
    problemas = {}
    for nb in notebooks():
        dados = ler_notebook(nb)
        texto = "\n".join("".join(c["source"]) for c in dados["cells"] if c["cell_type"] == "markdown")
        rel = nb.relative_to(RAIZ).as_posix()
        if quebradas := imagens_quebradas(texto, True, rel, no_git):
            problemas[rel] = quebradas
    for md in arquivos_markdown():
        rel = md.relative_to(RAIZ).as_posix()
        if quebradas := imagens_quebradas(md.read_text(encoding="utf-8"), False, rel, no_git):
            problemas[rel] = quebradas
    assert not problemas, f"imagens que não renderizam (ou não estão no git): {problemas}"


def test_capitulos_01_a_05_mostram_figuras_no_notebook():
    for pasta in sorted(RAIZ.glob("0[1-5]-*")):
        dados = ler_notebook(pasta / "notebook.ipynb")
        texto = "\n".join("".join(c["source"]) for c in dados["cells"] if c["cell_type"] == "markdown")
        assert IMAGEM.search(texto), f"{pasta.name}/notebook.ipynb não mostra nenhum infográfico"


def test_o_verificador_de_imagens_acha_as_que_nao_renderizam():
    prefixo = f"https://raw.githubusercontent.com/{REPOSITORIO}/main/"
    no_git = {"infograficos/a.png", "08-extras/chat.png"}
    texto = (f"![a]({prefixo}infograficos/a.png) ![b]({prefixo}infograficos/falta.png) ![c](../infograficos/a.png) "
             f"<img src=\"https://outro.org/x.png\">")
    assert imagens_quebradas(texto, True, "04-gpt/notebook.ipynb", no_git) == [
        f"{prefixo}infograficos/falta.png", "../infograficos/a.png", "https://outro.org/x.png"]
    assert imagens_quebradas("![c](../infograficos/a.png) ![d](chat.png)", False, "08-extras/README.md", no_git) == []
