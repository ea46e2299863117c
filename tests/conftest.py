"""Ajudantes dos testes: carregar a cópia do módulo de apoio de um capítulo, listar capítulos e notebooks."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

RAIZ = Path(__file__).resolve().parent.parent
CAPITULOS = sorted(p for p in RAIZ.glob("0[1-8]-*") if p.is_dir())
MODULO = "llm_do_zero.py"
#: Todos os notebooks do curso: ``notebook.ipynb`` de cada capítulo e, onde houver, ``notebook_<tema>.ipynb``.
NOTEBOOKS = sorted(n for p in CAPITULOS for n in p.glob("notebook*.ipynb"))


def id_notebook(caminho: Path) -> str:
    return f"{caminho.parent.name}/{caminho.name}"
_carregados = {}


def pasta_do_capitulo(numero: int) -> Path:
    (pasta,) = [p for p in CAPITULOS if p.name.startswith(f"{numero:02d}-")]
    return pasta


def carregar_modulo(numero: int):
    """Importa ``NN-*/llm_do_zero.py`` com um nome próprio (as cópias têm o mesmo nome de arquivo)."""
    if numero not in _carregados:
        caminho = pasta_do_capitulo(numero) / MODULO
        if not caminho.exists():
            pytest.skip(f"o capítulo {numero} ainda não tem {MODULO}")
        nome = f"llm_do_zero_cap{numero:02d}"
        spec = importlib.util.spec_from_file_location(nome, caminho)
        modulo = importlib.util.module_from_spec(spec)
        sys.modules[nome] = modulo
        spec.loader.exec_module(modulo)
        _carregados[numero] = modulo
    return _carregados[numero]


def ler_notebook(caminho: Path) -> dict:
    return json.loads(caminho.read_text(encoding="utf-8"))


def codigo_das_celulas(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _fixture_do_capitulo(numero: int):
    @pytest.fixture(scope="session", name=f"modulo{numero}")
    def _modulo():
        return carregar_modulo(numero)

    _modulo.__doc__ = f"A cópia de llm_do_zero.py do capítulo {numero} (com tudo o que os capítulos 1..{numero - 1} construíram)."
    return _modulo


modulo1, modulo2, modulo3, modulo4, modulo5, modulo6, modulo7, modulo8 = (_fixture_do_capitulo(n) for n in range(1, 9))
