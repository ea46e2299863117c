"""Ajudantes dos testes: carregar a cópia do módulo de apoio de um capítulo, listar capítulos e notebooks.

Fixtures com o nome do capítulo testado: ``infra`` é a cópia do capítulo 1 (só infraestrutura) e ``capK`` é o código
do capítulo K, lido da cópia do capítulo K+1 (``carregar_modulo(K + 1)``), a primeira que o contém.
"""
import importlib.util
import json
import sys
import tomllib
from pathlib import Path

import pytest

RAIZ = Path(__file__).resolve().parent.parent
#: O repositório no GitHub (``pyproject.toml``): badges do Colab, célula de configuração e URLs das figuras.
REPOSITORIO = tomllib.loads((RAIZ / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["llm-do-zero"]["repositorio"]
CAPITULOS = sorted(p for p in RAIZ.glob("0[1-8]-*") if p.is_dir())
MODULO = "llm_do_zero.py"
#: Todos os notebooks do curso: ``notebook.ipynb`` de cada capítulo e, onde houver, ``notebook_<tema>.ipynb``.
NOTEBOOKS = sorted(n for p in CAPITULOS for n in p.glob("notebook*.ipynb"))
#: As soluções dos exercícios: ``solucoes.ipynb`` de cada capítulo e ``solucoes_<tema>.ipynb`` (de ``notebook_<tema>``).
SOLUCOES = sorted(n for p in CAPITULOS for n in p.glob("solucoes*.ipynb"))


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
        nome = f"llm_do_zero_cap{numero:02d}"
        spec = importlib.util.spec_from_file_location(nome, caminho)
        modulo = importlib.util.module_from_spec(spec)
        sys.modules[nome] = modulo
        spec.loader.exec_module(modulo)
        _carregados[numero] = modulo
    return _carregados[numero]


def gulosa_a_mao(modelo, ids, n: int, contexto: int | None = None):
    """A decodificação gulosa escrita do jeito mais direto (a do capítulo 4): a referência dos testes de geração."""
    import torch

    contexto = modelo.context_length if contexto is None else contexto
    with torch.no_grad():
        for _ in range(n):
            logits = modelo(ids[:, -contexto:])[:, -1, :]
            ids = torch.cat([ids, logits.argmax(dim=-1, keepdim=True)], dim=1)
    return ids


def ler_notebook(caminho: Path) -> dict:
    return json.loads(caminho.read_text(encoding="utf-8"))


def codigo_das_celulas(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.fixture(scope="session")
def infra():
    """A cópia de llm_do_zero.py do capítulo 1: só a infraestrutura (dados, semente, dispositivo, modo rápido)."""
    return carregar_modulo(1)


def _fixture_do_capitulo(k: int):
    """Fixture ``capK``: o código do capítulo K, lido da cópia do capítulo K+1 (a primeira que o contém)."""

    @pytest.fixture(scope="session", name=f"cap{k}")
    def _copia():
        return carregar_modulo(k + 1)

    _copia.__doc__ = (f"O código do capítulo {k}: a cópia de llm_do_zero.py do capítulo {k + 1}, "
                      f"a primeira que contém o que o capítulo {k} construiu.")
    return _copia


cap1, cap2, cap3, cap4, cap5, cap6, cap7 = (_fixture_do_capitulo(k) for k in range(1, 8))
