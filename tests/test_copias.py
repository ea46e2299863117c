"""Uma fonte só: os gêmeos de texto, os notebooks, as cópias do módulo de apoio e ``extras.py`` não divergem.

(a) ``python ferramentas/curso.py construir --verificar`` passa: cada ``notebook*.ipynb`` tem as mesmas entradas que o
    seu gêmeo ``.pct.py`` e cada ``llm_do_zero.py``/``extras.py`` é, byte a byte, o que as fontes geram.
(b) A propriedade que o aluno vê continua valendo: a cópia do capítulo N+1 é a do capítulo N mais um bloco
    ``# ===== Capítulo N: … =====`` (cada pasta roda sozinha).
(c) Numa cópia do repositório, mudar o corpo de uma função do capítulo 3 no gêmeo deixa a verificação vermelha;
    ``construir`` atualiza exatamente as cópias 04–08 (e nada mais) e a verificação volta a ficar verde.
(d) Fora das células ``modulo``, um notebook só define versões didáticas (``…V1``), ajudantes locais (``_…``) e
    constantes de trabalho: nada que o módulo deveria ter fica escondido no notebook.
"""
import ast
import importlib.util
import re
import shutil
from itertools import pairwise

import pytest

from conftest import CAPITULOS, MODULO, NOTEBOOKS, RAIZ, id_notebook

BANNER = re.compile(r"^# ===== Capítulo (\d+): .+ =====$", re.M)
SO_NO_NOTEBOOK = re.compile(r"^_|V\d+$|_v\d+$")


def _carregar_ferramenta():
    spec = importlib.util.spec_from_file_location("curso_ferramentas", RAIZ / "ferramentas" / "curso.py")
    modulo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modulo)
    return modulo


@pytest.fixture(scope="module")
def curso():
    return _carregar_ferramenta()


def test_fontes_e_arquivos_gerados_em_sincronia(curso):
    problemas = curso.construir(verificar=True)
    assert problemas == [], "\n".join(problemas)


def test_cada_arquivo_gerado_diz_onde_editar():
    gerados = [p / MODULO for p in CAPITULOS] + [CAPITULOS[-1] / "extras.py"]
    for caminho in gerados:
        topo = caminho.read_text(encoding="utf-8")[:400]
        assert "ARQUIVO GERADO" in topo and "ferramentas/curso.py construir" in topo, caminho


def test_primeira_copia_so_tem_infraestrutura():
    texto = (CAPITULOS[0] / MODULO).read_text(encoding="utf-8")
    assert not BANNER.search(texto), "a cópia do capítulo 1 não deve ter blocos de capítulo"


PARES = list(pairwise(CAPITULOS))


@pytest.mark.parametrize("anterior,seguinte", PARES, ids=[b.name for _, b in PARES])
def test_copia_estende_a_anterior_com_um_bloco_que_abre_com_as_importacoes(anterior, seguinte):
    a = (anterior / MODULO).read_text(encoding="utf-8")
    b = (seguinte / MODULO).read_text(encoding="utf-8")
    assert b.startswith(a), f"{seguinte.name}/{MODULO} alterou o texto herdado de {anterior.name}"
    resto = b[len(a):]
    numero = int(anterior.name[:2])
    assert BANNER.findall(resto) == [str(numero)]
    assert resto.lstrip("\n").startswith(f"# ===== Capítulo {numero}:"), "o bloco novo deve começar pelo banner"
    corpo = ast.parse(resto).body
    importacoes = [i for i, no in enumerate(corpo) if isinstance(no, (ast.Import, ast.ImportFrom))]
    assert importacoes == list(range(len(importacoes))), "os import do bloco ficam todos no topo dele"


def _definicoes(nos, so_funcoes_e_classes=False) -> set[str]:
    nomes = set()
    for no in nos:
        if isinstance(no, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            nomes.add(no.name)
        elif isinstance(no, (ast.Assign, ast.AnnAssign)) and not so_funcoes_e_classes:
            for alvo in no.targets if isinstance(no, ast.Assign) else [no.target]:
                if isinstance(alvo, ast.Name):
                    nomes.add(alvo.id)
    return nomes


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[id_notebook(n) for n in NOTEBOOKS])
def test_fora_das_celulas_modulo_so_ha_versoes_didaticas(curso, notebook):
    nb = curso.ler_notebook(notebook)
    do_modulo, do_notebook, funcoes = set(), set(), set()
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        corpo = ast.parse(c.source).body
        if curso.TAG in c.metadata.get("tags", []):
            do_modulo |= _definicoes(corpo)
        else:
            do_notebook |= _definicoes(corpo)
            funcoes |= _definicoes(corpo, True)
    redefinidos = sorted(do_modulo & do_notebook)
    assert not redefinidos, f"redefinidos fora das células 'modulo' (o notebook e o módulo divergiriam): {redefinidos}"
    escondidos = sorted(n for n in funcoes if not SO_NO_NOTEBOOK.search(n))
    assert not escondidos, (
        f"classes/funções definidas fora das células 'modulo': {escondidos} — marque a célula com a tag 'modulo' "
        "ou use o sufixo V1/V2… (versão didática) ou '_' (ajudante local)"
    )


def test_mudar_o_capitulo_3_regenera_so_as_copias_seguintes(curso, tmp_path, monkeypatch):
    """O roteiro de manutenção inteiro, numa cópia do repositório: editar o gêmeo → verificar (vermelho) → construir."""
    copia = tmp_path / "repo"
    shutil.copytree(RAIZ / "ferramentas", copia / "ferramentas", ignore=shutil.ignore_patterns("__pycache__"))
    for pasta in CAPITULOS:
        (copia / pasta.name).mkdir(parents=True)
        for arquivo in [*pasta.glob("notebook*"), *pasta.glob("solucoes*"), pasta / MODULO, pasta / "extras.py"]:
            if arquivo.exists():
                shutil.copy2(arquivo, copia / pasta.name / arquivo.name)
    monkeypatch.setattr(curso, "RAIZ", copia)
    monkeypatch.setattr(curso, "INFRAESTRUTURA", copia / "ferramentas" / "infraestrutura.py")
    assert curso.construir(verificar=True) == []
    antes = {p: p.read_bytes() for p in copia.glob("0*/*.py")}

    gemeo = copia / "03-atencao" / "notebook.pct.py"
    texto = gemeo.read_text(encoding="utf-8")
    alvo = "class AtencaoMultiCabeca(nn.Module):"
    assert alvo in texto
    marcador = "        return self.proj_saida(contexto)"
    assert texto.count(marcador) == 1, "o teste procura a última linha do forward de AtencaoMultiCabeca"
    gemeo.write_text(texto.replace(marcador, "        contexto = contexto * 1.0  # mudança de teste\n" + marcador),
                     encoding="utf-8")

    problemas = curso.construir(verificar=True)
    assert any("03-atencao/notebook.ipynb" in p for p in problemas)
    assert any("04-gpt/llm_do_zero.py" in p for p in problemas)
    curso.construir()
    assert curso.construir(verificar=True) == []
    mudaram = sorted(p.relative_to(copia).as_posix() for p in copia.glob("0*/*.py") if p.read_bytes() != antes.get(p))
    esperado = ["03-atencao/notebook.pct.py"] + [f"{p.name}/{MODULO}" for p in CAPITULOS[3:]] + ["08-extras/extras.py"]
    # extras.py só muda se usar o que mudou; as cópias 04–08 sempre mudam
    assert [m for m in mudaram if m != "08-extras/extras.py"] == [m for m in esperado if m != "08-extras/extras.py"]
    assert "mudança de teste" in (copia / "08-extras" / MODULO).read_text(encoding="utf-8")
    assert "mudança de teste" not in (copia / "03-atencao" / MODULO).read_text(encoding="utf-8")
    nb = curso.ler_notebook(copia / "03-atencao" / "notebook.ipynb")
    assert any("mudança de teste" in c.source for c in nb.cells), "o notebook recebeu a edição do gêmeo"
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "as saídas gravadas foram mantidas"


def test_importacoes_sobem_para_o_topo_e_nao_se_repetem(curso):
    bloco = curso.bloco_de_celulas(
        [("a", "import math\nfrom torch import nn\n\nX = 1"),
         ("b", "import math\nimport os\nfrom llm_do_zero import Y\n\ndef f():\n    import json\n    return Y")],
        "# ===== Capítulo 9: teste =====\n",
    )
    assert bloco == (
        "# ===== Capítulo 9: teste =====\n\nimport math\nimport os\n\nfrom torch import nn\n\n\n"
        "X = 1\n\n\ndef f():\n    import json\n    return Y\n"
    )


def test_celula_invalida_da_erro_claro(curso):
    with pytest.raises(curso.ErroDeConstrucao, match="não é Python válido"):
        curso.bloco_de_celulas([("NN/notebook.pct.py, célula 3", "def f(:\n")], "# x\n")


def test_listar_afetados(curso, capsys):
    assert curso.main(["executar", "--de", "6", "--listar"]) == 0
    saida = capsys.readouterr().out
    assert "06-fine-tuning/notebook.ipynb" in saida and "08-extras/notebook_sistemas.ipynb" in saida
    assert "05-treinamento" not in saida


def test_alterados_acha_o_primeiro_capitulo_cuja_fonte_mudou(curso, monkeypatch):
    """``executar --alterados``: a infraestrutura conta como capítulo 1; READMEs e arquivos gerados não contam."""
    import subprocess as sp

    def git_falso(nomes):
        def run(cmd, **kw):
            saida = "\n".join(nomes) if "diff" in cmd else ""
            return sp.CompletedProcess(cmd, 0, stdout=saida, stderr="")
        return run

    monkeypatch.setattr(curso.subprocess, "run",
                        git_falso(["05-treinamento/notebook.pct.py", "07-instruction-tuning/gerar_dados.py"]))
    assert curso.primeiro_capitulo_alterado() == 5
    monkeypatch.setattr(curso.subprocess, "run",
                        git_falso(["06-fine-tuning/README.md", "04-gpt/llm_do_zero.py",
                                   "ferramentas/infraestrutura.py"]))
    assert curso.primeiro_capitulo_alterado() == 1
    monkeypatch.setattr(curso.subprocess, "run", git_falso(["03-atencao/README.md", "08-extras/extras.py"]))
    assert curso.primeiro_capitulo_alterado() is None
