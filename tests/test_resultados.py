"""Os números têm uma fonte só, e as saídas commitadas não mostram a máquina de quem executou.

(a) ``salvar_resultados`` grava os números de um notebook (no modo completo, ao lado do notebook; no rápido, no cache
    ignorado pelo git) e recusa o que não é número nem texto.
(b) ``construir`` reescreve o número antes de cada marcador ``<!--r:…-->`` dos READMEs a partir desses arquivos, e a
    verificação acusa um número citado que não é o que o notebook produziu.
(c) Nenhuma saída commitada traz um caminho absoluto da máquina (``/home/…``, ``/work/…``, ``C:\\…``).
"""
import importlib.util
import json
import re

import pytest

from conftest import RAIZ, ler_notebook


@pytest.fixture(scope="module")
def curso():
    spec = importlib.util.spec_from_file_location("curso_resultados", RAIZ / "ferramentas" / "curso.py")
    modulo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modulo)
    return modulo


@pytest.mark.parametrize("valor,casas,texto", [
    (4267.2, 0, "4.267"), (2.12534, 3, "2,125"), (96.25, 1, "96,2"), (96.35, 1, "96,3"), (-0.75, 2, "−0,75"),
    (-0.0001, 2, "0,00"), (1433600, 0, "1.433.600"), (0.5, 0, "0"), (12.9e6, 0, "12.900.000"), (3, 2, "3,00"),
])
def test_formatar_numero_no_formato_brasileiro(infra, valor, casas, texto):
    assert infra.formatar_numero(valor, casas) == texto


def test_formatar_numero_aceita_numeros_do_numpy(infra):
    """Os infográficos e os notebooks formatam elementos de arrays: dão o mesmo texto que o ``float``/``int``."""
    import numpy as np

    assert infra.formatar_numero(np.float32(0.25), 2) == "0,25"
    assert infra.formatar_numero(np.float64(-1234.5), 1) == "−1.234,5"
    assert infra.formatar_numero(np.int64(589824)) == "589.824"
    assert infra.formatar_numero(np.array([-0.04])[0], 1) == "0,0"  # o "−0" some, como no float


def test_formatar_numero_recusa_o_que_nao_e_numero(infra):
    import numpy as np
    import torch

    for ruim in ("2,1", True, np.bool_(True), torch.tensor(2.0), None):
        with pytest.raises(TypeError, match="espera um número"):
            infra.formatar_numero(ruim)
    with pytest.raises(ValueError, match="casas"):
        infra.formatar_numero(2.0, -1)


def test_salvar_resultados_no_completo_e_no_rapido(infra, tmp_path, monkeypatch):
    import numpy as np
    import torch

    pasta = tmp_path / "05-treinamento"
    pasta.mkdir()
    monkeypatch.setattr(infra, "RAPIDO", False)
    assert infra.salvar_resultados("notebook_sistemas", {"perda": torch.tensor(4.94512345678, dtype=torch.float64),
                                                         "passos": np.int64(700), "nome": "base"}, pasta=pasta) is None
    destino = pasta / "resultados_sistemas.json"
    assert infra.arquivo_de_resultados("notebook_sistemas", pasta) == destino
    conteudo = json.loads(destino.read_text(encoding="utf-8"))
    assert conteudo == {"modo": "completo", "resultados": {"nome": "base", "passos": 700, "perda": 4.945123}}
    assert not list(pasta.glob("*.tmp")), "o arquivo temporário não pode sobrar"

    monkeypatch.setattr(infra, "RAPIDO", True)
    monkeypatch.setattr(infra, "PASTA_CACHE", tmp_path / ".cache")
    infra.salvar_resultados("notebook", {"perda": 7.5}, pasta=pasta)
    destino = tmp_path / ".cache" / "resultados" / "05-treinamento" / "resultados.json"
    assert infra.arquivo_de_resultados("notebook", pasta) == destino
    assert json.loads(destino.read_text(encoding="utf-8"))["modo"] == "rápido"
    assert not (pasta / "resultados.json").exists(), "o modo rápido não pode sobrescrever os números commitados"


@pytest.mark.parametrize("nome,resultados,erro", [
    ("notebook", {"Perda": 1.0}, "chave de resultado inválida"),
    ("notebook", {"perda": float("nan")}, "não é um número finito"),
    ("notebook", {"perda": [1, 2]}, "deve ser número ou texto"),
    ("notebook", {"ok": True}, "deve ser número ou texto"),
    ("caderno", {"perda": 1.0}, "nome de notebook inválido"),
])
def test_salvar_resultados_recusa_entrada_ruim(infra, tmp_path, nome, resultados, erro):
    with pytest.raises((ValueError, TypeError), match=erro):
        infra.salvar_resultados(nome, resultados, pasta=tmp_path)
    assert not list(tmp_path.iterdir()), "nada é gravado quando a entrada é ruim"


def _repositorio_falso(curso, tmp_path, monkeypatch):
    cap = tmp_path / "05-treinamento"
    cap.mkdir()
    (cap / "resultados.json").write_text(json.dumps({"modo": "completo", "resultados": {
        "bits": 2.12534, "tokens_por_s": 4267.4, "modelo": "base"}}), encoding="utf-8")
    (cap / "resultados_sistemas.json").write_text(json.dumps({"modo": "completo", "resultados": {"razao": 1.456}}))
    monkeypatch.setattr(curso, "RAIZ", tmp_path)
    return cap


def test_marcadores_reescrevem_o_numero_citado(curso, tmp_path, monkeypatch):
    cap = _repositorio_falso(curso, tmp_path, monkeypatch)
    readme = cap / "README.md"
    texto = ("chegou a **2,13<!--r:bits:3--> bits/car**, a 4.267<!--r:tokens_por_s--> tokens/s; "
             "<!--r:sistemas.razao:2-->× mais rápido.")
    novo, avisos = curso.preencher_numeros(readme, texto)
    assert novo == ("chegou a **2,125<!--r:bits:3--> bits/car**, a 4.267<!--r:tokens_por_s--> tokens/s; "
                    "1,46<!--r:sistemas.razao:2-->× mais rápido.")
    assert len(avisos) == 2 and "o README diz 2,13, o notebook produziu 2,125" in avisos[0]
    assert curso.preencher_numeros(readme, novo) == (novo, [])  # depois de reescrito, nada a apontar


def test_marcadores_com_erro_sao_apontados(curso, tmp_path, monkeypatch):
    cap = _repositorio_falso(curso, tmp_path, monkeypatch)
    raiz = tmp_path / "README.md"
    texto = "1<!--r:bits--> 2<!--r:05/falta--> 3<!--r:05/modelo--> 4<!--r:09/bits--> 5<!--r:05/outro.x-->"
    novo, avisos = curso.preencher_numeros(raiz, texto)
    assert novo == texto, "um marcador que não dá para resolver fica como está"
    assert [a.split(": ", 2)[2][:25] for a in avisos] == [
        "no README da raiz, diga o", "não há o número 'falta' n", "não há o número 'modelo' ",
        "não há capítulo 09", "05-treinamento/resultados"]
    assert cap.is_dir()


def test_numeros_dos_readmes_batem_com_os_resultados(curso):
    marcados = {}
    for readme in curso.readmes():
        texto = readme.read_text(encoding="utf-8")
        marcados[readme.relative_to(RAIZ).as_posix()] = len(curso.MARCADOR.findall(texto))
        _, avisos = curso.preencher_numeros(readme, texto)
        assert not avisos, "\n".join(avisos)
    com_resultados = {f"{p.name}/README.md" for p in RAIZ.glob("0[1-8]-*") if list(p.glob("resultados*.json"))}
    if com_resultados:
        com_resultados.add("README.md")
    sem = [readme for readme, n in marcados.items() if n == 0 and readme in com_resultados]
    assert not sem, f"READMEs de capítulos com resultados gravados que não citam nenhum com marcador: {sem}"


CAMINHO_ABSOLUTO = re.compile(r"(?<![\w.:/])(?:/(?:home|Users|work|tmp|root|content|mnt|opt|var|private)/[^\s'\"]+"
                              r"|[A-Z]:\\[^\s'\"]+)")


def test_o_detector_de_caminhos_absolutos_funciona():
    achados = CAMINHO_ABSOLUTO.findall("salvo em /work/main/.cache/x.pt e C:\\Users\\ana\\x.pt; ok: .cache/x.pt, "
                                       "https://x.org/home/a, 10/tmp")
    assert achados == ["/work/main/.cache/x.pt", "C:\\Users\\ana\\x.pt;"]


@pytest.mark.parametrize("notebook", sorted(RAIZ.glob("0[1-8]-*/*.ipynb")),
                         ids=lambda p: p.relative_to(RAIZ).as_posix())
def test_saidas_sem_caminhos_absolutos(notebook):
    achados = []
    for i, celula in enumerate(ler_notebook(notebook)["cells"]):
        for saida in celula.get("outputs", []):
            textos = [saida.get("text", "")] + [v for k, v in saida.get("data", {}).items() if k.startswith("text/")]
            for texto in textos:
                texto = "".join(texto) if isinstance(texto, list) else texto
                achados += [f"célula {i}: {c}" for c in CAMINHO_ABSOLUTO.findall(texto)]
    assert not achados, "saídas com caminhos da máquina (use caminho_para_mostrar):\n" + "\n".join(achados[:10])
