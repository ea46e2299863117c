"""Um servidor HTTP mínimo para o modelo do capítulo 7 — só com a biblioteca padrão do Python.

Uso::

    python servidor.py --porta 8000          # carrega o modelo ajustado por instruções e fica ouvindo

    curl -s http://127.0.0.1:8000/saude
    curl -s -X POST http://127.0.0.1:8000/gerar -H 'Content-Type: application/json' \\
         -d '{"prompt": "Escreva o plural de: janela", "max_tokens": 20}'

Rotas:

- ``GET /saude`` -> ``200 {"status": "ok", ...}``: o servidor está de pé (é o que um balanceador de carga consulta).
- ``POST /gerar`` com o JSON ``{"prompt": str, "max_tokens": int, "temperatura": float, "top_k": int | null}``
  (só ``prompt`` é obrigatório; opcionais também ``entrada``, ``formatar`` e ``semente``) ->
  ``200 {"texto", "tokens_gerados", "tokens_por_segundo", "latencia_s", "tokens_prompt", "kv_cache"}``.
  A geração usa o KV cache do ``gerar_texto`` do capítulo 5.

Qualquer pedido errado — JSON quebrado, campo faltando ou com tipo errado, prompt maior que o contexto, parâmetros
absurdos, rota ou método desconhecidos — volta como ``4xx`` com ``{"erro": "<explicação em português>"}``; um erro
inesperado na geração vira ``500`` com a mesma forma. O servidor nunca cai por causa de um pedido.

Concorrência: o ``ThreadingHTTPServer`` atende cada conexão numa thread, mas o modelo é um só. Uma trava
(``threading.Lock``) deixa um pedido gerar por vez; os outros esperam a vez e todos são respondidos. Servidores de
produção (vLLM, TGI, llama.cpp server) fazem melhor: juntam os pedidos que chegam em um batch só (*continuous
batching*) e guardam o KV cache de cada um, o que multiplica os tokens por segundo da GPU.

API em Python (notebook e testes)::

    servidor, url = iniciar_servidor(modelo, tokenizador, porta=0)   # porta 0 = o sistema escolhe uma livre
    status, resposta = chamar(url, "/gerar", {"prompt": "..."})
    parar_servidor(servidor)
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import torch

PASTA = Path(__file__).resolve().parent
if str(PASTA) not in sys.path:
    sys.path.insert(0, str(PASTA))

from linha_de_comando import ParserPT, inteiro_positivo  # noqa: E402
from llm_do_zero import dispositivo_do_modelo, formatar_prompt, gerar_texto, id_fim_de_texto  # noqa: E402

#: Limites de sanidade dos parâmetros de um pedido.
MAX_TOKENS_PADRAO = 40
MAX_TOKENS_LIMITE = 256
TEMPERATURA_MAXIMA = 5.0
TAMANHO_MAXIMO_CORPO = 64 * 1024  # bytes: um prompt de verdade cabe com folga; um corpo gigante é recusado antes
CAMPOS_ACEITOS = ("prompt", "entrada", "formatar", "max_tokens", "temperatura", "top_k", "semente")

#: Mensagens em português para os erros que o próprio ``http.server`` gera (linha de pedido malformada etc.).
MENSAGENS_HTTP = {
    400: "Pedido HTTP malformado.",
    404: "Rota desconhecida.",
    405: "Método não permitido nesta rota.",
    408: "O pedido demorou demais para chegar.",
    411: "Falta o cabeçalho Content-Length.",
    413: "Corpo do pedido grande demais.",
    414: "Endereço (URL) longo demais.",
    431: "Cabeçalhos grandes demais.",
    500: "Erro interno do servidor.",
    501: "Método HTTP não suportado por este servidor.",
    505: "Versão do HTTP não suportada.",
}


class ErroDePedido(ValueError):
    """Um pedido inválido: ``status`` é o código HTTP (4xx) e a mensagem explica, em português, o que corrigir."""

    def __init__(self, mensagem: str, status: int = 400):
        super().__init__(mensagem)
        self.status = status


# ----------------------------------------------------------------------------------------------------------------
# Validação e geração (sem nada de HTTP: dá para testar e usar sozinhas)
# ----------------------------------------------------------------------------------------------------------------


def _e_inteiro(valor) -> bool:
    return isinstance(valor, int) and not isinstance(valor, bool)  # em Python, True é um int: aqui não vale


def validar_pedido(dados, n_vocab: int, max_tokens_limite: int = MAX_TOKENS_LIMITE) -> dict:
    """Confere os campos do JSON de ``/gerar`` e devolve o pedido com os valores padrão preenchidos.

    Levanta :class:`ErroDePedido` (status 400) com uma mensagem clara no primeiro problema encontrado. Campos
    desconhecidos também são erro: um ``"temperature"`` escrito em inglês seria ignorado em silêncio, e o cliente
    acharia que mudou a temperatura.
    """
    if not isinstance(dados, dict):
        raise ErroDePedido(f"O corpo deve ser um objeto JSON ({{\"prompt\": ...}}), não {type(dados).__name__}.")
    desconhecidos = sorted(set(dados) - set(CAMPOS_ACEITOS))
    if desconhecidos:
        raise ErroDePedido(f"Campo(s) desconhecido(s): {', '.join(desconhecidos)}. "
                           f"Campos aceitos: {', '.join(CAMPOS_ACEITOS)}.")
    if "prompt" not in dados:
        raise ErroDePedido("Falta o campo obrigatório 'prompt' (o texto do pedido).")
    prompt = dados["prompt"]
    if not isinstance(prompt, str):
        raise ErroDePedido(f"O campo 'prompt' deve ser um texto (string), não {type(prompt).__name__}.")
    if not prompt.strip():
        raise ErroDePedido("O campo 'prompt' está vazio.")
    entrada = dados.get("entrada", "")
    if entrada is None:
        entrada = ""
    if not isinstance(entrada, str):
        raise ErroDePedido(f"O campo 'entrada' deve ser um texto (string), não {type(entrada).__name__}.")
    formatar = dados.get("formatar", True)
    if not isinstance(formatar, bool):
        raise ErroDePedido("O campo 'formatar' deve ser true ou false.")

    max_tokens = dados.get("max_tokens", MAX_TOKENS_PADRAO)
    if not _e_inteiro(max_tokens):
        raise ErroDePedido(f"O campo 'max_tokens' deve ser um número inteiro, não {json.dumps(max_tokens)}.")
    if not 1 <= max_tokens <= max_tokens_limite:
        raise ErroDePedido(f"O campo 'max_tokens' deve estar entre 1 e {max_tokens_limite} (recebi {max_tokens}).")

    temperatura = dados.get("temperatura", 0.0)
    if isinstance(temperatura, bool) or not isinstance(temperatura, (int, float)):
        raise ErroDePedido(f"O campo 'temperatura' deve ser um número, não {json.dumps(temperatura)}.")
    if not math.isfinite(temperatura):
        raise ErroDePedido(f"O campo 'temperatura' deve ser um número finito (recebi {temperatura}).")
    if not 0.0 <= temperatura <= TEMPERATURA_MAXIMA:
        raise ErroDePedido(f"O campo 'temperatura' deve estar entre 0 (guloso) e {TEMPERATURA_MAXIMA:g} "
                           f"(recebi {temperatura:g}).")

    top_k = dados.get("top_k")
    if top_k is not None:
        if not _e_inteiro(top_k):
            raise ErroDePedido(f"O campo 'top_k' deve ser um número inteiro ou null, não {json.dumps(top_k)}.")
        if not 1 <= top_k <= n_vocab:
            raise ErroDePedido(f"O campo 'top_k' deve estar entre 1 e {n_vocab}, o tamanho do vocabulário "
                               f"(recebi {top_k}).")

    semente = dados.get("semente")
    if semente is not None and (not _e_inteiro(semente) or not 0 <= semente < 2**63):
        raise ErroDePedido("O campo 'semente' deve ser um inteiro entre 0 e 2^63 - 1, ou null.")
    return {"prompt": prompt, "entrada": entrada, "formatar": formatar, "max_tokens": max_tokens,
            "temperatura": float(temperatura), "top_k": top_k, "semente": semente}


def texto_do_prompt(pedido: dict) -> str:
    """O texto que vai para o modelo: o modelo de prompt do capítulo 7 (``formatar=True``) ou o prompt cru."""
    if pedido["formatar"]:
        return formatar_prompt({"instrucao": pedido["prompt"], "entrada": pedido["entrada"]})
    return pedido["prompt"] + (f"\n{pedido['entrada']}" if pedido["entrada"] else "")


def gerar_resposta(modelo, tokenizador, pedido: dict, usar_kv_cache: bool = True) -> dict:
    """Gera a resposta de um pedido já validado.

    Devolve ``{"texto", "tokens_gerados", "tokens_prompt", "kv_cache", "tempo_geracao_s"}``. Levanta
    :class:`ErroDePedido` se o prompt não couber no contexto do modelo. Gera com o ``gerar_texto`` do capítulo 5
    (com o KV cache, se ``usar_kv_cache``), que para no ``<|endoftext|>``; o token de fim não entra no texto.
    """
    ids_prompt = tokenizador.encode(texto_do_prompt(pedido))
    contexto = modelo.context_length
    if len(ids_prompt) > contexto:
        formato = " (já com o modelo de prompt do capítulo 7)" if pedido["formatar"] else ""
        raise ErroDePedido(f"O prompt tem {len(ids_prompt)} tokens{formato}, mas o modelo só enxerga {contexto}. "
                           "Encurte o texto.")
    id_fim = id_fim_de_texto(tokenizador)
    ids = torch.tensor([ids_prompt], device=dispositivo_do_modelo(modelo))  # (1, tokens)
    gerador = None
    if pedido["temperatura"] > 0:
        gerador = torch.Generator()  # o sorteio do gerar_texto é feito na CPU
        if pedido["semente"] is not None:
            gerador.manual_seed(pedido["semente"])
        else:
            gerador.seed()
    inicio = time.perf_counter()
    saida = gerar_texto(modelo, ids, pedido["max_tokens"], temperatura=pedido["temperatura"], top_k=pedido["top_k"],
                        gerador=gerador, id_fim=id_fim, usar_cache=usar_kv_cache)  # (1, tokens + novos)
    tempo = time.perf_counter() - inicio
    novos = saida[0, len(ids_prompt):].tolist()
    n_gerados = len(novos)  # conta o <|endoftext|>, se ele saiu: é um token que o modelo calculou
    if id_fim in novos:
        novos = novos[:novos.index(id_fim)]
    return {"texto": tokenizador.decode(novos).strip(), "tokens_gerados": n_gerados,
            "tokens_prompt": len(ids_prompt), "kv_cache": usar_kv_cache, "tempo_geracao_s": tempo}


# ----------------------------------------------------------------------------------------------------------------
# HTTP
# ----------------------------------------------------------------------------------------------------------------


class ServidorGPT(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` que guarda o modelo, o tokenizador e a trava que protege o modelo."""

    daemon_threads = True  # threads de pedidos não seguram o processo vivo no fim

    def __init__(self, endereco, modelo, tokenizador, max_tokens_limite: int = MAX_TOKENS_LIMITE,
                 silencioso: bool = False, usar_kv_cache: bool = True):
        super().__init__(endereco, TratadorGPT)
        self.usar_kv_cache = usar_kv_cache
        self.modelo = modelo.eval()
        self.tokenizador = tokenizador
        self.max_tokens_limite = max_tokens_limite
        self.silencioso = silencioso
        self.trava = threading.Lock()
        self.n_pedidos = 0  # pedidos de geração atendidos com sucesso
        self.thread = None


class TratadorGPT(BaseHTTPRequestHandler):
    """Atende um pedido HTTP. Toda resposta, de sucesso ou de erro, é um JSON em UTF-8."""

    server_version = "ServidorGPT/1.0"
    ROTAS = {"/saude": "GET", "/gerar": "POST"}

    # ---- respostas ----------------------------------------------------------------------------------------------
    def _responder(self, status: int, dados: dict, cabecalhos: dict | None = None) -> None:
        corpo = json.dumps(dados, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(corpo)))
        for nome, valor in (cabecalhos or {}).items():
            self.send_header(nome, valor)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(corpo)

    def send_error(self, code, message=None, explain=None):
        """Os erros que o ``http.server`` gera sozinho também saem em JSON e em português."""
        self.close_connection = True
        try:
            self._responder(code, {"erro": MENSAGENS_HTTP.get(code, f"Erro HTTP {code}.")})
        except OSError:
            pass  # o cliente já foi embora

    def log_message(self, formato, *args):
        if not self.server.silencioso:
            sys.stderr.write(f"[{self.log_date_time_string()}] {self.address_string()} {formato % args}\n")

    # ---- roteamento ---------------------------------------------------------------------------------------------
    def _rota(self) -> str:
        return urlsplit(self.path).path.rstrip("/") or "/"

    def _conferir_rota(self) -> bool:
        """Responde 404/405 se a rota não existe ou não aceita este método. Devolve ``True`` se pode seguir."""
        rota = self._rota()
        if rota not in self.ROTAS:
            self._responder(404, {"erro": f"Rota desconhecida: {rota}. Rotas: GET /saude e POST /gerar."})
            return False
        if self.ROTAS[rota] != self.command:
            permitido = self.ROTAS[rota]
            self._responder(405, {"erro": f"Método {self.command} não permitido em {rota}; use {permitido}."},
                            {"Allow": permitido})
            return False
        return True

    def do_GET(self):
        if self._conferir_rota():
            modelo = self.server.modelo
            self._responder(200, {"status": "ok", "context_length": modelo.context_length,
                                  "pedidos_atendidos": self.server.n_pedidos})

    def do_POST(self):
        if not self._conferir_rota():
            return
        inicio = time.perf_counter()
        try:
            pedido = validar_pedido(self._ler_json(), self.server.tokenizador.n_vocab, self.server.max_tokens_limite)
            with self.server.trava:  # um pedido usa o modelo por vez; os outros esperam aqui
                resultado = gerar_resposta(self.server.modelo, self.server.tokenizador, pedido,
                                           self.server.usar_kv_cache)
                self.server.n_pedidos += 1
        except ErroDePedido as erro:
            self._responder(erro.status, {"erro": str(erro)})
            return
        except Exception as erro:  # noqa: BLE001 — um erro inesperado vira 500, nunca derruba o servidor
            traceback.print_exc(file=sys.stderr)
            self._responder(500, {"erro": f"Erro interno ao gerar a resposta: {type(erro).__name__}: {erro}"})
            return
        latencia = time.perf_counter() - inicio
        tempo = resultado.pop("tempo_geracao_s")
        resultado["tokens_por_segundo"] = round(resultado["tokens_gerados"] / tempo, 2) if tempo > 0 else None
        resultado["latencia_s"] = round(latencia, 4)
        self._responder(200, resultado)

    def _metodo_nao_permitido(self):
        if self._conferir_rota():  # rota existe, mas (por construção) não com este método
            self._responder(405, {"erro": f"Método {self.command} não permitido."})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _metodo_nao_permitido

    # ---- corpo --------------------------------------------------------------------------------------------------
    def _ler_json(self):
        comprimento = self.headers.get("Content-Length")
        if comprimento is None:
            self.close_connection = True
            raise ErroDePedido("Falta o cabeçalho Content-Length.", status=411)
        try:
            comprimento = int(comprimento)
        except ValueError:
            self.close_connection = True
            raise ErroDePedido(f"Content-Length inválido: {comprimento!r}.") from None
        if comprimento < 0:
            self.close_connection = True
            raise ErroDePedido(f"Content-Length inválido: {comprimento}.")
        if comprimento > TAMANHO_MAXIMO_CORPO:
            self.close_connection = True  # não lemos o corpo: a conexão é fechada depois da resposta
            raise ErroDePedido(f"Corpo grande demais: {comprimento} bytes (máximo {TAMANHO_MAXIMO_CORPO}).", 413)
        corpo = self.rfile.read(comprimento)
        try:
            texto = corpo.decode("utf-8")
        except UnicodeDecodeError:
            raise ErroDePedido("O corpo não está em UTF-8.") from None
        if not texto.strip():
            raise ErroDePedido("O corpo está vazio: envie um JSON como {\"prompt\": \"...\"}.")
        try:
            return json.loads(texto)
        except json.JSONDecodeError as erro:
            raise ErroDePedido(f"JSON inválido: {erro.msg} (linha {erro.lineno}, coluna {erro.colno}).") from None


# ----------------------------------------------------------------------------------------------------------------
# Ligar, desligar e chamar
# ----------------------------------------------------------------------------------------------------------------


def iniciar_servidor(modelo, tokenizador, porta: int = 0, host: str = "127.0.0.1",
                     max_tokens_limite: int = MAX_TOKENS_LIMITE, silencioso: bool = True, usar_kv_cache: bool = True):
    """Liga o servidor numa thread em segundo plano e devolve ``(servidor, url)``.

    ``porta = 0`` deixa o sistema operacional escolher uma porta livre (a ``url`` mostra qual). Por padrão ouve
    só em ``127.0.0.1``: nada de fora da máquina consegue falar com ele.
    """
    servidor = ServidorGPT((host, porta), modelo, tokenizador, max_tokens_limite, silencioso, usar_kv_cache)
    servidor.thread = threading.Thread(target=servidor.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="servidor-gpt", daemon=True)
    servidor.thread.start()
    host_real, porta_real = servidor.server_address[:2]
    return servidor, f"http://{host_real}:{porta_real}"


def parar_servidor(servidor) -> None:
    """Para o laço do servidor, fecha o socket e espera a thread terminar."""
    servidor.shutdown()
    servidor.server_close()
    if servidor.thread is not None:
        servidor.thread.join(timeout=10)


def chamar(url: str, caminho: str, dados=None, metodo: str | None = None, corpo: bytes | None = None,
           timeout: float = 60.0) -> tuple[int, dict]:
    """Cliente mínimo (``http.client``): faz um pedido e devolve ``(status, json_da_resposta)``.

    ``dados`` vira JSON; ``corpo`` manda bytes crus (para testar JSON quebrado). Sem ``metodo``, usa POST quando
    há corpo e GET quando não há. Não levanta exceção para respostas 4xx/5xx: elas também são devolvidas.
    """
    partes = urlsplit(url)
    if dados is not None:
        corpo = json.dumps(dados, ensure_ascii=False).encode("utf-8")
    metodo = metodo or ("POST" if corpo is not None else "GET")
    conexao = http.client.HTTPConnection(partes.hostname, partes.port, timeout=timeout)
    try:
        cabecalhos = {"Content-Type": "application/json"} if corpo is not None else {}
        conexao.request(metodo, caminho, body=corpo, headers=cabecalhos)
        resposta = conexao.getresponse()
        bruto = resposta.read()
        try:
            conteudo = json.loads(bruto.decode("utf-8")) if bruto else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            conteudo = {"bruto": bruto.decode("utf-8", errors="replace")}
        return resposta.status, conteudo
    finally:
        conexao.close()


# ----------------------------------------------------------------------------------------------------------------
# Linha de comando
# ----------------------------------------------------------------------------------------------------------------


def _porta(texto: str) -> int:
    try:
        valor = int(texto)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a porta deve ser um número inteiro, recebi {texto!r}") from None
    if not 0 <= valor <= 65535:
        raise argparse.ArgumentTypeError(f"a porta deve estar entre 0 e 65535, recebi {valor}")
    return valor


def criar_parser() -> argparse.ArgumentParser:
    p = ParserPT(prog="servidor.py",
                  description="Servidor HTTP mínimo do modelo ajustado por instruções (capítulo 7).")
    p.add_argument("--porta", type=_porta, default=8000, help="porta TCP (padrão: 8000; 0 = qualquer livre)")
    p.add_argument("--host", default="127.0.0.1",
                   help="endereço onde ouvir (padrão: 127.0.0.1, só esta máquina; 0.0.0.0 abre para a rede)")
    p.add_argument("--max-tokens-limite", type=inteiro_positivo, default=MAX_TOKENS_LIMITE,
                   help=f"maior max_tokens aceito num pedido (padrão: {MAX_TOKENS_LIMITE})")
    p.add_argument("--silencioso", action="store_true", help="não imprime uma linha por pedido")
    return p


def main(argv=None) -> int:
    args = criar_parser().parse_args(argv)
    from llm_do_zero import modelo_instrucoes

    modelo, tokenizador, _ = modelo_instrucoes()
    try:
        servidor = ServidorGPT((args.host, args.porta), modelo, tokenizador, args.max_tokens_limite, args.silencioso)
    except OSError as erro:
        print(f"servidor.py: erro: não consegui ouvir em {args.host}:{args.porta} ({erro.strerror or erro}).",
              file=sys.stderr)
        return 1
    host, porta = servidor.server_address[:2]
    print(f"Servindo em http://{host}:{porta} (Ctrl+C para parar). Experimente:\n"
          f"  curl -s -X POST http://{host}:{porta}/gerar -H 'Content-Type: application/json' "
          "-d '{\"prompt\": \"Escreva o plural de: janela\"}'", flush=True)
    def _parar(numero, quadro):  # SIGTERM (docker stop, systemd, kill) para do mesmo jeito que o Ctrl+C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _parar)
    try:
        servidor.serve_forever()
    except KeyboardInterrupt:
        print("\nParando o servidor.", flush=True)
    finally:
        servidor.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
