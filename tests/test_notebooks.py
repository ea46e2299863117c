"""Cada notebook commitado está pronto para quem lê no GitHub e para quem abre no Colab."""
import importlib.util
import re

import pytest

from conftest import CAPITULOS, NOTEBOOKS, RAIZ, REPOSITORIO, SOLUCOES, codigo_das_celulas, id_notebook, ler_notebook

IDS = [id_notebook(p) for p in NOTEBOOKS]


def test_capitulos_tem_todos_os_arquivos():
    assert [p.name[:2] for p in CAPITULOS] == [f"{n:02d}" for n in range(1, 9)], "o curso tem os capítulos 01 a 08"
    for pasta in CAPITULOS:
        for nome in ("README.md", "notebook.ipynb", "links.md", "llm_do_zero.py"):
            assert (pasta / nome).is_file(), f"{pasta.name} sem {nome}"
        outros = [n.name for n in pasta.glob("*.ipynb") if n.name != "notebook.ipynb"]
        assert all(re.fullmatch(r"(notebook_[a-z_]+|solucoes(_[a-z_]+)?)\.ipynb", n) for n in outros), (
            f"{pasta.name}: notebooks extras devem se chamar notebook_<tema>.ipynb, e as soluções dos exercícios "
            f"solucoes.ipynb ou solucoes_<tema>.ipynb (o pytest só coleta esses): {outros}"
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
    assert not re.search(r"^\s*[!%]", codigo, re.M), "sem magics do IPython: o código deve ser Python puro"


@pytest.mark.parametrize("notebook", NOTEBOOKS + SOLUCOES, ids=[id_notebook(p) for p in NOTEBOOKS + SOLUCOES])
def test_fixa_ao_menos_uma_saida_que_o_nbval_confere(notebook):
    """Todo notebook e todo notebook de soluções fixa ao menos uma saída determinística com ``# NBVAL_CHECK_OUTPUT``.

    Conferido como o próprio nbval lê o marcador (``find_comment_markers``): ele só vale numa linha que é só o
    comentário — ``print(x)  # NBVAL_CHECK_OUTPUT`` é ignorado em silêncio, e a célula não é comparada. A célula
    marcada precisa ter saída gravada: é com ela que o nbval compara a saída nova, no modo rápido.
    """
    from nbval.plugin import find_comment_markers

    nb = ler_notebook(notebook)
    codigo = [c for c in nb["cells"] if c["cell_type"] == "code"]
    ignorados = [linha.strip() for c in codigo for linha in "".join(c["source"]).splitlines()
                 if "NBVAL_" in linha and not linha.strip().startswith("#")]
    assert not ignorados, f"marcador no fim de uma linha de código (o nbval o ignora; ponha-o sozinho): {ignorados}"
    fixadas = [c for c in codigo if dict(find_comment_markers("".join(c["source"]))).get("check")]
    assert any(c.get("outputs") for c in fixadas), (
        "marque ao menos uma célula de saída determinística (a mesma nos modos rápido e completo) com uma linha "
        "# NBVAL_CHECK_OUTPUT")


# ----------------------------------------------------------------------------------------------------------------
# Exercícios e soluções
# ----------------------------------------------------------------------------------------------------------------

IDS_SOLUCOES = [id_notebook(p) for p in SOLUCOES]


def _notebook_resolvido(solucoes):
    """``solucoes.ipynb`` -> ``notebook.ipynb``; ``solucoes_<tema>.ipynb`` -> ``notebook_<tema>.ipynb``."""
    return solucoes.with_name(solucoes.name.replace("solucoes", "notebook", 1))


def _exigidas():
    exigidas = [p / "solucoes.ipynb" for p in CAPITULOS]
    exigidas += [p.with_name(p.name.replace("notebook_", "solucoes_", 1)) for p in NOTEBOOKS
                 if p.name == "notebook_pytorch.ipynb"]  # o apêndice "PyTorch em uma hora"
    return exigidas


@pytest.mark.parametrize("solucoes", _exigidas(), ids=id_notebook)
def test_capitulo_tem_solucoes_dos_exercicios(solucoes):
    assert solucoes.is_file(), f"falta {id_notebook(solucoes)} com as soluções dos exercícios"
    assert SOLUCOES, "o conftest não achou as soluções"


@pytest.mark.parametrize("solucoes", SOLUCOES, ids=IDS_SOLUCOES)
def test_notebook_aponta_para_as_solucoes(solucoes):
    """O notebook resolvido existe e a seção Exercícios leva às soluções (link relativo e URL do Colab)."""
    notebook = _notebook_resolvido(solucoes)
    assert notebook.is_file(), f"{id_notebook(solucoes)} resolve os exercícios de {notebook.name}, que não existe"
    nb = ler_notebook(notebook)
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    exercicios = markdown[markdown.rindex("Exercícios"):]
    url = f"https://colab.research.google.com/github/{REPOSITORIO}/blob/main/{solucoes.parent.name}/{solucoes.name}"
    assert url in exercicios, f"a seção Exercícios de {notebook.name} não tem o link do Colab para {solucoes.name}"
    assert f"]({solucoes.name})" in exercicios, (
        f"a seção Exercícios de {notebook.name} não tem o link para {solucoes.name}")


@pytest.mark.parametrize("solucoes", [s for s in SOLUCOES if s.name == "solucoes.ipynb"], ids=id_notebook)
def test_exercicios_com_esqueleto_que_roda_e_sem_solucao(solucoes):
    """3–5 exercícios, cada um com uma célula-esqueleto que, do jeito que está, só avisa que falta completar.

    A saída gravada de cada esqueleto (o notebook é executado como está) tem de ser o aviso "Complete o esqueleto",
    o que garante que ele roda sem erro e que a resposta não está logo abaixo da pergunta.
    """
    nb = ler_notebook(_notebook_resolvido(solucoes))
    celulas = nb["cells"]
    inicio = max(i for i, c in enumerate(celulas)
                 if c["cell_type"] == "markdown" and re.search(r"^#+ .*Exerc[íi]cios", "".join(c["source"]), re.M))
    secao = celulas[inicio:]
    markdown = "\n".join("".join(c["source"]) for c in secao if c["cell_type"] == "markdown")
    n_exercicios = len(re.findall(r"^\*\*(?:Exercício )?\d+\b", markdown, re.M))
    assert 3 <= n_exercicios <= 5, f"a seção Exercícios deve ter de 3 a 5 exercícios (tem {n_exercicios})"
    perguntas = re.findall(r"^(?:# ?)?(?:\d\. |- \*\*[A-Z][.)])", markdown, re.M)
    assert len(perguntas) >= 2, "faltam as 2–3 perguntas conceituais"
    esqueletos = [c for c in secao if c["cell_type"] == "code"]
    assert len(esqueletos) >= n_exercicios, "cada exercício precisa de uma célula-esqueleto"
    avisam = [c for c in esqueletos
               if re.search(r"complete", "".join("".join(o.get("text", "")) for o in c.get("outputs", [])), re.I)]
    assert len(avisam) >= n_exercicios, (
        f"{len(avisam)} de {len(esqueletos)} esqueletos avisam que falta completar, e há {n_exercicios} exercícios: "
        f"executado como está, cada esqueleto deve só avisar o que falta (a solução vai em {solucoes.name})"
    )


@pytest.mark.parametrize("solucoes", SOLUCOES, ids=IDS_SOLUCOES)
def test_estrutura_das_solucoes(solucoes):
    nb = ler_notebook(solucoes)
    codigo = codigo_das_celulas(nb)
    assert nb["cells"][0]["cell_type"] == "markdown", "as soluções abrem com uma célula markdown de apresentação"
    assert "google.colab" in codigo[0], "a primeira célula de código é a configuração do Colab"
    assert f'CAPITULO = "{solucoes.parent.name}"' in codigo[0]
    assert "descrever_modo()" in "\n".join(codigo)
    assert not re.search(r"^\s*[!%]", "\n".join(codigo), re.M), "sem magics do IPython: o código deve ser Python puro"
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert re.search(r"perguntas", markdown, re.I), "faltam as respostas das perguntas conceituais"


def test_curso_executa_as_solucoes_depois_dos_notebooks(tmp_path, monkeypatch):
    """``ferramentas/curso.py`` trata ``solucoes*.ipynb`` como ``notebook*.ipynb``, e as executa por último."""

    spec = importlib.util.spec_from_file_location("curso_solucoes", RAIZ / "ferramentas" / "curso.py")
    curso = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curso)
    pasta = tmp_path / "08-extras"
    pasta.mkdir()
    for nome in ("solucoes_pytorch.ipynb", "notebook_pytorch.ipynb", "solucoes.ipynb", "notebook.ipynb",
                 "notebook_sistemas.ipynb", "rascunho.ipynb"):
        (pasta / nome).write_text("{}", encoding="utf-8")
    assert [p.name for p in curso.notebooks_do_capitulo(pasta)] == [
        "notebook.ipynb", "notebook_pytorch.ipynb", "notebook_sistemas.ipynb", "solucoes.ipynb",
        "solucoes_pytorch.ipynb"]
    monkeypatch.setattr(curso, "RAIZ", tmp_path)
    assert [p.name for p in curso.todos_os_notebooks()][-1] == "solucoes_pytorch.ipynb"


def test_capitulos_tem_notebook_de_solucoes():
    faltando = [p.name for p in CAPITULOS if not (p / "solucoes.ipynb").is_file()]
    assert not faltando, f"capítulos sem solucoes.ipynb (as soluções dos exercícios): {faltando}"


@pytest.mark.parametrize("notebook", SOLUCOES, ids=IDS_SOLUCOES)
def test_solucoes_executadas_sem_erros(notebook):
    _conferir_saidas(notebook, exigir_grafico=False)


def test_resultados_das_solucoes_tem_arquivo_proprio(infra, tmp_path, monkeypatch):
    """``salvar_resultados("solucoes", …)`` grava ``resultados_solucoes.json`` (o README cita com
    ``r:solucoes.chave``)."""
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
    assert warnings.formatwarning("x", RuntimeWarning, str(dentro), 3).startswith(
        "07-instruction-tuning/llm_do_zero.py:3:")

