"""Todo link relativo em Markdown (READMEs, links.md, células markdown dos notebooks) aponta para algo que existe."""
import re
from urllib.parse import unquote

import pytest

from conftest import RAIZ, ler_notebook

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
