"""Colab: um só repositório do GitHub, conferido em todos os badges e em todas as células de configuração."""
import os
import re
import shutil
import subprocess
import types

import pytest

from conftest import CAPITULOS, NOTEBOOKS, RAIZ, REPOSITORIO, codigo_das_celulas, id_notebook, ler_notebook

BADGE = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/main/([^)\s\"']+\.ipynb)")
READMES = [RAIZ / "README.md"] + [p / "README.md" for p in CAPITULOS]


def test_repositorio_tem_formato_de_slug():
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", REPOSITORIO)


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(RAIZ)))
def test_badges_apontam_para_o_repositorio_e_para_notebooks_que_existem(readme):
    for slug, caminho in BADGE.findall(readme.read_text(encoding="utf-8")):
        assert slug == REPOSITORIO, f"{readme.name}: badge aponta para {slug}, e não para {REPOSITORIO}"
        assert (RAIZ / caminho).is_file(), f"{readme}: badge aponta para {caminho}, que não existe"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=id_notebook)
def test_capitulo_tem_badge_do_proprio_notebook(notebook):
    capitulo = notebook.parent
    alvos = {c for _, c in BADGE.findall((capitulo / "README.md").read_text(encoding="utf-8"))}
    assert f"{capitulo.name}/{notebook.name}" in alvos, (
        f"{capitulo.name}/README.md não tem o badge do Colab de {notebook.name}")
    principal = {c for _, c in BADGE.findall((RAIZ / "README.md").read_text(encoding="utf-8"))}
    assert f"{capitulo.name}/notebook.ipynb" in principal, "o README principal não tem o badge deste capítulo"


def celula_de_configuracao(notebook):
    return codigo_das_celulas(ler_notebook(notebook))[0]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=id_notebook)
def test_celula_de_configuracao_usa_o_repositorio_e_a_pasta_certos(notebook):
    codigo = celula_de_configuracao(notebook)
    assert f'REPOSITORIO = "{REPOSITORIO}"' in codigo
    assert f'CAPITULO = "{notebook.parent.name}"' in codigo
    assert "google.colab" in codigo


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=id_notebook)
def test_celula_de_configuracao_nao_faz_nada_fora_do_colab(notebook, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_DO_ZERO_SIMULAR_COLAB", raising=False)
    chamadas = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: chamadas.append(a))
    exec(celula_de_configuracao(notebook), {})
    assert chamadas == [] and os.getcwd() == str(tmp_path)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=id_notebook)
def test_celula_de_configuracao_no_colab_simulado(notebook, tmp_path, monkeypatch):
    """Num 'Colab' simulado (pasta vazia, sem o repositório), a célula busca o repositório e entra no capítulo.

    O ``git clone`` é trocado por uma cópia da árvore de trabalho (sem rede e incluindo mudanças ainda não commitadas).
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_DO_ZERO_SIMULAR_COLAB", "1")
    monkeypatch.setenv("LLM_DO_ZERO_URL_REPOSITORIO", str(RAIZ))
    instalacoes = []

    def run_falso(args, **kw):
        if args[:2] == ["git", "clone"]:
            assert args[-2] == str(RAIZ)
            shutil.copytree(RAIZ, args[-1], ignore=shutil.ignore_patterns(".git", ".cache", "__pycache__"))
            return types.SimpleNamespace(returncode=0)
        instalacoes.append(args)  # o pip install do Colab não é repetido aqui
        return types.SimpleNamespace(returncode=0)

    monkeypatch.setattr(subprocess, "run", run_falso)
    exec(celula_de_configuracao(notebook), {})
    assert os.getcwd() == str(tmp_path / "fazendo-um-llm-do-zero" / notebook.parent.name)
    assert (tmp_path / "fazendo-um-llm-do-zero" / notebook.parent.name / "llm_do_zero.py").is_file()
    assert instalacoes and instalacoes[0][1:4] == ["-m", "pip", "install"]
