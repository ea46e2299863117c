"""Ferramentas de manutenção do curso: uma fonte só para cada coisa.

Três comandos (rode da raiz do repositório ou de qualquer pasta):

    python ferramentas/curso.py construir               # gêmeos .pct.py → notebooks; gera llm_do_zero.py e extras.py
    python ferramentas/curso.py construir --verificar   # só confere (sai com erro se algo está fora de sincronia)
    python ferramentas/curso.py executar --de 3         # reexecuta os notebooks do capítulo 3 em diante, em ordem

De onde vem cada arquivo gerado:

* ``NN-*/notebook*.pct.py`` é o **gêmeo de texto** (jupytext, formato ``py:percent``) de ``notebook*.ipynb`` (e
  ``solucoes*.pct.py`` o de ``solucoes*.ipynb``): é nele que se edita. ``construir`` copia as entradas do gêmeo para
  o ``.ipynb`` mantendo as saídas já gravadas.
* ``NN-*/llm_do_zero.py`` (a cópia do módulo de apoio de cada capítulo) = ``ferramentas/infraestrutura.py`` + um
  bloco ``# ===== Capítulo K: … =====`` para cada capítulo K < NN, com as células marcadas com a tag ``modulo`` do
  notebook do capítulo K (os ``import`` dessas células sobem para o topo do bloco).
* ``08-extras/extras.py`` = as células com a tag ``modulo`` dos notebooks do capítulo 8.
* Nos ``README.md``, cada número citado de um resultado traz logo depois um marcador invisível,
  ``2,125<!--r:05/bits_por_caractere:3-->``: ``construir`` reescreve o número a partir do arquivo de resultados que o
  notebook gravou (``NN-*/resultados.json`` ou ``resultados_<tema>.json``, via ``salvar_resultados``).
"""
from __future__ import annotations

import ast
import functools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

RAIZ = Path(__file__).resolve().parent.parent
INFRAESTRUTURA = RAIZ / "ferramentas" / "infraestrutura.py"
MODULO = "llm_do_zero.py"
EXTRAS = "extras.py"
TAG = "modulo"
SUFIXO_GEMEO = ".pct.py"
#: Como o jupytext pareia cada notebook com o seu gêmeo de texto (gravado nos metadados do ``.ipynb``).
JUPYTEXT = {
    "formats": "ipynb,.pct.py:percent",
    "notebook_metadata_filter": "-all",
    "cell_metadata_filter": "tags,-all",
}
FORMATO = "py:percent"

#: Título de cada bloco de capítulo no módulo de apoio.
TITULOS = {
    1: "tokenização",
    2: "embeddings e carregamento de dados",
    3: "atenção",
    4: "o modelo GPT",
    5: "pré-treinamento",
    6: "fine-tuning para classificação",
    7: "instruction tuning",
}

AVISO = """\
# ARQUIVO GERADO — não edite à mão: a próxima construção apagaria a mudança.
# Edite a fonte e rode `python ferramentas/curso.py construir` (veja CONTRIBUTING.md):
#   - a infraestrutura (tudo antes do primeiro bloco de capítulo): ferramentas/infraestrutura.py
#   - o bloco "# ===== Capítulo K: … =====": as células com a tag "modulo" em 0K-*/notebook.pct.py
"""

AVISO_EXTRAS = """\
# ARQUIVO GERADO — não edite à mão: a próxima construção apagaria a mudança.
# Edite as células com a tag "modulo" em 08-extras/notebook*.pct.py e rode `python ferramentas/curso.py construir`
# (veja CONTRIBUTING.md).
"""

DOC_EXTRAS = '''"""Capítulo 8 — extras: as versões finais do que os notebooks deste capítulo constroem.

O capítulo 8 não tem capítulo seguinte, então este arquivo faz o papel do bloco de capítulo do módulo de apoio:
cada função, classe e constante aqui é uma célula marcada com a tag ``modulo`` de um notebook do capítulo 8
(``notebook.ipynb``, depois ``notebook_<tema>.ipynb`` em ordem alfabética). Os scripts do capítulo importam daqui.
"""
'''


class ErroDeConstrucao(RuntimeError):
    """Uma fonte que não dá para transformar em módulo (mensagem em português, dizendo onde está o problema)."""


# ----------------------------------------------------------------------------------------------------------------
# Capítulos, notebooks e gêmeos de texto
# ----------------------------------------------------------------------------------------------------------------


def capitulos() -> list[Path]:
    return sorted(p for p in RAIZ.glob("0[1-8]-*") if p.is_dir())


def numero(pasta: Path) -> int:
    return int(pasta.name[:2])


def notebooks_do_capitulo(pasta: Path) -> list[Path]:
    """``notebook.ipynb`` primeiro, depois ``notebook_<tema>.ipynb`` e por fim ``solucoes.ipynb`` e
    ``solucoes_<tema>.ipynb`` (as soluções dos exercícios vêm depois dos notebooks que elas resolvem)."""
    extras = sorted(p for p in pasta.glob("notebook_*.ipynb"))
    solucoes = sorted(p for p in pasta.glob("solucoes_*.ipynb"))
    todos = [pasta / "notebook.ipynb", *extras, pasta / "solucoes.ipynb", *solucoes]
    return [p for p in todos if p.exists()]


def todos_os_notebooks() -> list[Path]:
    return [nb for pasta in capitulos() for nb in notebooks_do_capitulo(pasta)]


def gemeo(notebook: Path) -> Path:
    return notebook.with_name(notebook.stem + SUFIXO_GEMEO)


def relativo(caminho: Path) -> str:
    return caminho.resolve().relative_to(RAIZ).as_posix()


def _jupytext():
    try:
        import jupytext
    except ImportError as erro:  # pragma: no cover - depende do ambiente
        raise ErroDeConstrucao(
            "O jupytext não está instalado: rode `python -m pip install -r requirements.txt`.") from erro
    return jupytext


def texto_do_gemeo(nb) -> str:
    """O texto ``py:percent`` que corresponde às entradas de um notebook (o que o gêmeo deve conter)."""
    jupytext = _jupytext()
    nb = _copia_com_pareamento(nb)
    return jupytext.writes(nb, fmt=FORMATO)


def _copia_com_pareamento(nb):
    import copy

    nb = copy.deepcopy(nb)
    nb.metadata["jupytext"] = dict(JUPYTEXT)
    return nb


def ler_notebook(caminho: Path):
    import nbformat

    return nbformat.read(str(caminho), as_version=4)


def gravar_notebook(nb, caminho: Path) -> None:
    import nbformat

    nb = _copia_com_pareamento(nb)
    nb.metadata.pop("widgets", None)  # estado de widgets (barras do tqdm) não vai para o git: no GitHub não renderiza
    texto = nbformat.writes(nb) + "\n"
    if not caminho.exists() or caminho.read_text(encoding="utf-8") != texto:
        _infraestrutura().gravar_atomicamente(caminho, texto)


def sincronizar(notebook: Path, verificar: bool) -> list[str]:
    """Deixa ``notebook`` e o gêmeo com as mesmas entradas. O gêmeo manda: é nele que se edita.

    Sem gêmeo, ele é criado a partir do notebook. Com ``verificar=True`` nada é gravado: devolve os problemas.
    """
    jupytext = _jupytext()
    from jupytext.combine import combine_inputs_with_outputs

    arquivo_gemeo = gemeo(notebook)
    nb = ler_notebook(notebook)
    if not arquivo_gemeo.exists():
        if verificar:
            return [f"{relativo(arquivo_gemeo)} não existe (rode `python ferramentas/curso.py construir`)"]
        _infraestrutura().gravar_atomicamente(arquivo_gemeo, texto_do_gemeo(nb))
        gravar_notebook(nb, notebook)
        return []
    texto = arquivo_gemeo.read_text(encoding="utf-8")
    if texto_do_gemeo(nb) == texto and nb.metadata.get("jupytext") == JUPYTEXT:
        return []
    if verificar:
        return [f"{relativo(notebook)} e {relativo(arquivo_gemeo)} têm entradas diferentes (rode `construir`)"]
    novo = combine_inputs_with_outputs(jupytext.reads(texto, fmt=FORMATO), nb, fmt=FORMATO)
    gravar_notebook(novo, notebook)
    _infraestrutura().gravar_atomicamente(arquivo_gemeo, texto_do_gemeo(novo))
    return []


# ----------------------------------------------------------------------------------------------------------------
# Geração do módulo de apoio e de extras.py
# ----------------------------------------------------------------------------------------------------------------

_STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _celulas_do_modulo(notebook: Path) -> list[tuple[int, str]]:
    """(índice, código) das células de código com a tag ``modulo``, lidas do gêmeo de texto (a fonte)."""
    jupytext = _jupytext()
    arquivo = gemeo(notebook)
    if arquivo.exists():
        nb = jupytext.reads(arquivo.read_text(encoding="utf-8"), fmt=FORMATO)
    else:
        nb = ler_notebook(notebook)
    return [
        (i, c.source)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and TAG in c.metadata.get("tags", [])
    ]


class _Importacoes:
    """Junta os ``import`` de várias células, sem repetição, no estilo isort (biblioteca padrão, terceiros, locais)."""

    def __init__(self):
        self.simples: set[str] = set()  # "import x" / "import x as y"
        self.de: dict[str, set[str]] = {}  # módulo -> nomes ("a", "b as c")

    def adicionar(self, no: ast.stmt) -> None:
        if isinstance(no, ast.Import):
            for a in no.names:
                self.simples.add(a.name + (f" as {a.asname}" if a.asname else ""))
        else:
            if no.level:
                raise ErroDeConstrucao("importações relativas não cabem no módulo de apoio")
            nomes = self.de.setdefault(no.module, set())
            for a in no.names:
                nomes.add(a.name + (f" as {a.asname}" if a.asname else ""))

    @staticmethod
    def _secao(modulo: str) -> int:
        raiz = modulo.split(".")[0]
        if raiz in ("llm_do_zero",):
            return 2
        return 0 if raiz in _STDLIB else 1

    def texto(self) -> str:
        secoes: list[list[str]] = [[], [], []]
        for s in sorted(self.simples, key=lambda x: x.split(" ")[0]):
            secoes[self._secao(s)].append(f"import {s}")
        linhas_de: list[list[str]] = [[], [], []]
        for modulo in sorted(self.de):
            nomes = sorted(self.de[modulo])
            linha = f"from {modulo} import {', '.join(nomes)}"
            if len(linha) > 120:
                corpo = ",\n".join(f"    {n}" for n in nomes)
                linha = f"from {modulo} import (\n{corpo},\n)"
            linhas_de[self._secao(modulo)].append(linha)
        blocos = ["\n".join(secoes[i] + linhas_de[i]) for i in range(3)]
        return "\n\n".join(b for b in blocos if b)


def _separar_importacoes(codigo: str, onde: str) -> tuple[list[ast.stmt], str]:
    """Tira os ``import`` de nível superior de uma célula; devolve (importações, resto do código)."""
    try:
        arvore = ast.parse(codigo)
    except SyntaxError as erro:
        raise ErroDeConstrucao(f"{onde}: a célula não é Python válido ({erro})") from erro
    linhas = codigo.split("\n")
    importacoes = []
    apagar: set[int] = set()
    for no in arvore.body:
        if isinstance(no, (ast.Import, ast.ImportFrom)):
            importacoes.append(no)
            apagar.update(range(no.lineno - 1, no.end_lineno))
    resto = "\n".join(linha for i, linha in enumerate(linhas) if i not in apagar).strip("\n")
    return importacoes, resto


def bloco_de_celulas(celulas: list[tuple[str, str]], cabecalho: str) -> str:
    """Junta células (onde, código) num bloco: cabeçalho, importações no topo, depois o código de cada célula."""
    importacoes = _Importacoes()
    corpos = []
    for onde, codigo in celulas:
        nos, resto = _separar_importacoes(codigo, onde)
        for no in nos:
            modulo = no.module if isinstance(no, ast.ImportFrom) else no.names[0].name
            if modulo and modulo.split(".")[0] == "llm_do_zero":
                continue  # o bloco já está dentro do módulo; extras.py recebe as suas importações calculadas
            importacoes.adicionar(no)
        if resto:
            corpos.append(resto)
    partes = [cabecalho.rstrip("\n")]
    texto_imp = importacoes.texto()
    if texto_imp:
        partes.append(texto_imp)
    return "\n\n".join(partes) + "\n\n\n" + "\n\n\n".join(corpos) + "\n"


def bloco_do_capitulo(pasta: Path) -> str:
    n = numero(pasta)
    celulas = [
        (f"{relativo(gemeo(pasta / 'notebook.ipynb'))}, célula {i}", codigo)
        for i, codigo in _celulas_do_modulo(pasta / "notebook.ipynb")
    ]
    if not celulas:
        raise ErroDeConstrucao(f"{pasta.name}/notebook.ipynb não tem nenhuma célula com a tag '{TAG}'")
    return bloco_de_celulas(celulas, f"# ===== Capítulo {n}: {TITULOS[n]} =====\n")


def _nomes_definidos(arvore: ast.Module) -> set[str]:
    nomes = set()
    for no in ast.walk(arvore):
        if isinstance(no, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            nomes.add(no.name)
        elif isinstance(no, ast.Name) and isinstance(no.ctx, ast.Store):
            nomes.add(no.id)
        elif isinstance(no, ast.arg):
            nomes.add(no.arg)
        elif isinstance(no, (ast.Import, ast.ImportFrom)):
            nomes.update((a.asname or a.name).split(".")[0] for a in no.names)
        elif isinstance(no, ast.ExceptHandler) and no.name:
            nomes.add(no.name)
    return nomes


def gerar_extras(pasta: Path, modulo: str) -> str:
    """``extras.py``: células ``modulo`` dos notebooks do último capítulo + ``from llm_do_zero import`` calculado."""
    celulas = []
    for nb in notebooks_do_capitulo(pasta):
        celulas += [(f"{relativo(gemeo(nb))}, célula {i}", c) for i, c in _celulas_do_modulo(nb)]
    texto = bloco_de_celulas(celulas, AVISO_EXTRAS + DOC_EXTRAS)
    arvore = ast.parse(texto)
    usados = {no.id for no in ast.walk(arvore) if isinstance(no, ast.Name) and isinstance(no.ctx, ast.Load)}
    usados |= {no.value.id for no in ast.walk(arvore)
               if isinstance(no, ast.Attribute) and isinstance(no.value, ast.Name)}
    do_modulo = {n for n in _nomes_de_nivel_superior(ast.parse(modulo))}
    faltam = sorted((usados & do_modulo) - _nomes_definidos(arvore) - set(dir(__builtins__)))
    if not faltam:
        return texto
    imp = _Importacoes()
    imp.adicionar(ast.parse(f"from llm_do_zero import {', '.join(faltam)}").body[0])
    # a importação local entra depois das outras, antes do código
    cabeca, corpo = texto.split("\n\n\n", 1)
    return f"{cabeca}\n\n{imp.texto()}\n\n\n{corpo}"


def _nomes_de_nivel_superior(arvore: ast.Module) -> set[str]:
    nomes = set()
    for no in arvore.body:
        if isinstance(no, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            nomes.add(no.name)
        elif isinstance(no, (ast.Assign, ast.AnnAssign)):
            for alvo in no.targets if isinstance(no, ast.Assign) else [no.target]:
                if isinstance(alvo, ast.Name):
                    nomes.add(alvo.id)
    return nomes


def arquivos_gerados() -> dict[Path, str]:
    """Todos os arquivos gerados, com o texto que devem ter (nada é gravado aqui)."""
    pastas = capitulos()
    texto = AVISO + INFRAESTRUTURA.read_text(encoding="utf-8").rstrip("\n") + "\n"
    saida: dict[Path, str] = {}
    for pasta in pastas:
        saida[pasta / MODULO] = texto
        if (pasta / "notebook.ipynb").exists() and numero(pasta) in TITULOS:
            texto = texto + "\n\n" + bloco_do_capitulo(pasta)
    ultimo = pastas[-1]
    if any(_celulas_do_modulo(nb) for nb in notebooks_do_capitulo(ultimo)):
        saida[ultimo / EXTRAS] = gerar_extras(ultimo, saida[ultimo / MODULO])
    for caminho, conteudo in saida.items():
        try:
            compile(conteudo, str(caminho), "exec")
        except SyntaxError as erro:
            raise ErroDeConstrucao(f"{relativo(caminho)} gerado não é Python válido: {erro}") from erro
    return saida


# ----------------------------------------------------------------------------------------------------------------
# Números citados nos READMEs: o número antes de cada marcador vem do arquivo de resultados do notebook
# ----------------------------------------------------------------------------------------------------------------

#: ``2,125<!--r:05/tema.chave:3-->``: capítulo (``05/``, obrigatório no README da raiz), notebook (``tema.`` para
#: ``notebook_<tema>``; sem ele, o ``notebook.ipynb`` principal), chave e casas decimais (padrão 0).
MARCADOR = re.compile(
    r"(?P<numero>−?\d(?:[\d.,]*\d)?)?"
    r"<!--r:(?:(?P<cap>\d\d)/)?(?:(?P<tema>[a-z0-9_]+)\.)?(?P<chave>[a-z0-9_]+)(?::(?P<casas>\d))?-->"
)


def _resultados(pasta: Path, tema: str | None, lidos: dict) -> dict:
    arquivo = pasta / (f"resultados_{tema}.json" if tema else "resultados.json")
    if arquivo not in lidos:
        if not arquivo.is_file():
            raise ErroDeConstrucao(f"{relativo(arquivo)} não existe: execute o notebook no modo completo")
        lidos[arquivo] = json.loads(arquivo.read_text(encoding="utf-8"))["resultados"]
    return lidos[arquivo]


def preencher_numeros(readme: Path, texto: str | None = None) -> tuple[str, list[str]]:
    """O ``readme`` com cada número marcado reescrito a partir dos resultados, e a lista do que mudou ou falhou."""
    texto = readme.read_text(encoding="utf-8") if texto is None else texto
    lidos: dict = {}
    avisos: list[str] = []

    def trocar(m: re.Match) -> str:
        onde = f"{relativo(readme)}: {m.group(0)!r}"
        if m.group("cap"):
            pastas = [p for p in capitulos() if p.name.startswith(m.group("cap") + "-")]
            if not pastas:
                avisos.append(f"{onde}: não há capítulo {m.group('cap')}")
                return m.group(0)
            pasta = pastas[0]
        elif readme.parent.resolve() == RAIZ:
            avisos.append(f"{onde}: no README da raiz, diga o capítulo (ex.: <!--r:05/chave-->)")
            return m.group(0)
        else:
            pasta = readme.parent
        try:
            resultados = _resultados(pasta, m.group("tema"), lidos)
        except ErroDeConstrucao as erro:
            avisos.append(f"{onde}: {erro}")
            return m.group(0)
        chave = m.group("chave")
        if chave not in resultados or isinstance(resultados[chave], str):
            avisos.append(f"{onde}: não há o número {chave!r} nos resultados de {pasta.name}")
            return m.group(0)
        certo = _infraestrutura().formatar_numero(resultados[chave], int(m.group("casas") or 0))  # o dos notebooks
        if m.group("numero") != certo:
            avisos.append(f"{onde}: o README diz {m.group('numero')}, o notebook produziu {certo}")
        return certo + m.group(0)[len(m.group("numero") or ""):]

    return MARCADOR.sub(trocar, texto), avisos


def readmes() -> list[Path]:
    return [p for p in [RAIZ / "README.md", *(c / "README.md" for c in capitulos())] if p.exists()]


def construir(verificar: bool = False) -> list[str]:
    """Sincroniza os gêmeos e gera os módulos. Com ``verificar=True``, só devolve a lista do que está diferente."""
    problemas = []
    for nb in todos_os_notebooks():
        problemas += sincronizar(nb, verificar)
    for caminho, conteudo in arquivos_gerados().items():
        atual = caminho.read_text(encoding="utf-8") if caminho.exists() else None
        if atual == conteudo:
            continue
        if verificar:
            problemas.append(
                f"{relativo(caminho)} não é o que as fontes geram (rode `python ferramentas/curso.py construir`)")
        else:
            _infraestrutura().gravar_atomicamente(caminho, conteudo)
            print(f"gerado: {relativo(caminho)}")
    for readme in readmes():
        novo, avisos = preencher_numeros(readme)
        if not verificar and novo != readme.read_text(encoding="utf-8"):
            _infraestrutura().gravar_atomicamente(readme, novo)
            print(f"números atualizados: {relativo(readme)}")
            avisos = preencher_numeros(readme, novo)[1]  # sobra só o que não dá para preencher
        problemas += avisos
    return problemas


# ----------------------------------------------------------------------------------------------------------------
# Reexecução em ordem de dependência
# ----------------------------------------------------------------------------------------------------------------


def afetados(de: int, ate: int = 8) -> list[Path]:
    """Os notebooks que uma mudança no capítulo ``de`` pode alterar: os dele e os de todos os capítulos seguintes.

    O capítulo N usa o módulo de apoio com os blocos 1..N-1 e os modelos salvos pelos capítulos anteriores (o 6, o 7
    e o 8 partem do modelo base do 5; o 8 usa também o modelo de instruções do 7), então a ordem é a dos capítulos.
    """
    return [nb for pasta in capitulos() if de <= numero(pasta) <= ate for nb in notebooks_do_capitulo(pasta)]


def primeiro_capitulo_alterado(referencia: str = "HEAD") -> int | None:
    """O menor capítulo cuja fonte mudou em relação a ``referencia`` do git (infraestrutura conta como capítulo 1)."""
    saida = subprocess.run(
        ["git", "diff", "--name-only", referencia, "--"], cwd=RAIZ, capture_output=True, text=True, check=True
    ).stdout.split()
    saida += subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=RAIZ, capture_output=True, text=True, check=True
    ).stdout.split()
    capitulos_alterados = []
    for nome in saida:
        if nome == relativo(INFRAESTRUTURA):
            capitulos_alterados.append(1)
        elif nome[:2].isdigit() and nome[2:3] == "-" and not nome.endswith((".md", ".ipynb", MODULO, EXTRAS)):
            capitulos_alterados.append(int(nome[:2]))
    return min(capitulos_alterados, default=None)


def executar_notebook(caminho: Path, rapido: bool, tempo_limite: int) -> float:
    from nbclient import NotebookClient

    nb = ler_notebook(caminho)
    ambiente = dict(os.environ)
    ambiente["LLM_DO_ZERO_SEM_BARRA"] = "1"  # saída gravada: uma linha de resumo no lugar do widget do tqdm
    if rapido:
        ambiente["LLM_DO_ZERO_RAPIDO"] = "1"
    else:
        ambiente.pop("LLM_DO_ZERO_RAPIDO", None)
    dados = RAIZ.parent / "shared" / "dados"
    if "LLM_DO_ZERO_DADOS" not in ambiente and dados.is_dir():
        ambiente["LLM_DO_ZERO_DADOS"] = str(dados)
    antigo = dict(os.environ)
    os.environ.clear()
    os.environ.update(ambiente)  # o kernel herda o ambiente deste processo
    inicio = time.perf_counter()
    try:
        NotebookClient(
            nb, timeout=tempo_limite, kernel_name="python3", resources={"metadata": {"path": str(caminho.parent)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(antigo)
    duracao = time.perf_counter() - inicio
    for celula in nb.cells:  # tempos de execução mudam a cada rodada: não vão para o git
        celula.metadata.pop("execution", None)
    gravar_notebook(nb, caminho)
    _infraestrutura().gravar_atomicamente(gemeo(caminho), texto_do_gemeo(nb))
    return duracao


def _formatar_tempo(segundos: float) -> str:
    return f"{segundos:.0f} s" if segundos < 90 else f"{segundos / 60:.1f} min"


@functools.cache
def _infraestrutura():
    """``ferramentas/infraestrutura.py`` carregado uma vez: as ferramentas usam os mesmos ajudantes do curso
    (``formatar_numero``, ``gravar_atomicamente``, ``ParserPT``) em vez de ter cópias deles."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("infraestrutura_do_curso", INFRAESTRUTURA)
    modulo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modulo)
    return modulo


def _parser_pt():
    """O ``ParserPT`` da infraestrutura do curso (uso, ajuda e erros do argparse em português)."""
    return _infraestrutura().ParserPT


def main(argv: list[str] | None = None) -> int:
    ParserPT = _parser_pt()
    parser = ParserPT(
        prog="python ferramentas/curso.py", description="Constrói e reexecuta o curso a partir das fontes."
    )
    parser._positionals.title = "comandos"
    sub = parser.add_subparsers(dest="comando", required=True, parser_class=ParserPT)
    p_c = sub.add_parser("construir", help="sincroniza gêmeos e notebooks e gera llm_do_zero.py e extras.py")
    p_c.add_argument("--verificar", action="store_true", help="não grava nada; sai com código 1 se algo difere")
    p_e = sub.add_parser("executar", help="reexecuta notebooks em ordem de dependência, medindo o tempo de cada um")
    grupo = p_e.add_mutually_exclusive_group(required=True)
    grupo.add_argument("--de", type=int, choices=range(1, 9), metavar="N", help="do capítulo N em diante")
    grupo.add_argument(
        "--alterados", action="store_true", help="a partir do primeiro capítulo cuja fonte mudou desde o último commit"
    )
    grupo.add_argument("--so", type=Path, nargs="+", metavar="NOTEBOOK",
                       help="só estes notebooks (ex.: 08-extras/notebook_sistemas.ipynb), sem os seguintes")
    p_e.add_argument("--ate", type=int, choices=range(1, 9), metavar="M", default=8,
                     help="até o capítulo M (padrão: 8)")
    p_e.add_argument("--rapido", action="store_true", help="modo rápido (LLM_DO_ZERO_RAPIDO=1); o padrão é o completo")
    p_e.add_argument("--listar", action="store_true", help="só lista os notebooks que seriam executados")
    p_e.add_argument("--tempo-limite", type=int, default=3600, help="segundos por célula (padrão: 3600)")
    args = parser.parse_args(argv)

    try:
        if args.comando == "construir":
            problemas = construir(verificar=args.verificar)
            if problemas:
                print("Fora de sincronia:", *problemas, sep="\n  - ", file=sys.stderr)
                return 1
            print("Tudo em sincronia: gêmeos, notebooks, cópias de llm_do_zero.py e extras.py." if args.verificar
                  else "Construção concluída.")
            return 0
        de = args.de
        if args.alterados:
            de = primeiro_capitulo_alterado()
            if de is None:
                print("Nenhuma fonte de capítulo mudou desde o último commit: nada a reexecutar.")
                return 0
        if args.so:
            conhecidos = {p.resolve(): p for p in todos_os_notebooks()}
            desconhecidos = [str(p) for p in args.so if p.resolve() not in conhecidos]
            if desconhecidos:
                raise ErroDeConstrucao(f"não conheço estes notebooks do curso: {', '.join(desconhecidos)}")
            pedidos = {p.resolve() for p in args.so}
            lista = [nb for nb in todos_os_notebooks() if nb.resolve() in pedidos]  # na ordem do curso
            descricao = "escolhidos com --so (os seguintes NÃO são reexecutados)"
        else:
            lista = afetados(de, args.ate)
            descricao = f"do capítulo {de} ao {args.ate}"
        modo = "rápido" if args.rapido else "completo"
        print(f"Modo {modo}; {len(lista)} notebook(s), {descricao}:")
        for nb in lista:
            print(f"  {relativo(nb)}")
        if args.listar:
            return 0
        construir()
        total = 0.0
        for nb in lista:
            print(f"executando {relativo(nb)} …", flush=True)
            duracao = executar_notebook(nb, args.rapido, args.tempo_limite)
            total += duracao
            print(f"  {relativo(nb)}: {_formatar_tempo(duracao)}", flush=True)
        print(f"Total: {_formatar_tempo(total)}. Agora rode os testes: python -m pytest")
        return 0
    except ErroDeConstrucao as erro:
        print(f"Erro: {erro}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
