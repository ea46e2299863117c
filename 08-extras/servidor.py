"""Um servidor HTTP pequeno para o modelo do capítulo 7 — só com a biblioteca padrão do Python.

Uso::

    python servidor.py --porta 8000          # abre a porta, carrega o modelo ajustado por instruções e fica ouvindo

    # e abra http://127.0.0.1:8000/ no navegador: uma página de conversa (chat.html)
    curl -s http://127.0.0.1:8000/saude
    curl -s -X POST http://127.0.0.1:8000/gerar -H 'Content-Type: application/json' \\
         -d '{"prompt": "Escreva o plural de: janela", "max_tokens": 20}'
    curl -sN http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
         -d '{"messages": [{"role": "user", "content": "Escreva o plural de: janela"}], "stream": true}'

Rotas:

- ``GET /`` -> a página de conversa ``chat.html`` (HTML + JavaScript, sem nada de fora), que recebe a resposta
  token a token.
- ``GET /saude`` -> ``200 {"status": "ok", ...}`` (ou ``503 {"status": "carregando"}`` enquanto o modelo carrega):
  é o que um balanceador de carga consulta.
- ``POST /gerar`` com o JSON ``{"prompt": str, "max_tokens": int, "temperatura": float, "top_k": int | null}``
  (só ``prompt`` é obrigatório; opcionais também ``entrada``, ``formatar`` e ``semente``) ->
  ``200 {"texto", "tokens_gerados", "tokens_por_segundo", "latencia_s", "tokens_prompt", "kv_cache"}``.
- A API compatível com a da OpenAI (qualquer cliente dela funciona, inclusive o pacote ``openai``):
  ``GET /v1/models``, ``POST /v1/completions`` (texto cru, sem modelo de prompt) e ``POST /v1/chat/completions``
  (as mensagens viram o modelo de prompt do capítulo 7, ver :func:`prompt_do_chat`), com ``max_tokens``,
  ``temperature``, ``top_p``, ``stop`` (texto ou lista), ``seed``, ``stream`` (server-sent events:
  ``data: {...}`` por pedaço e ``data: [DONE]`` no fim), ``usage`` e ``finish_reason`` (``"stop"``/``"length"``).
  Erros nessas rotas têm a forma da OpenAI: ``{"error": {"message", "type", "param", "code"}}``.

Toda geração usa o ``gerar_texto`` do capítulo 5, com o KV cache; a função ``parada`` dele é o gancho que manda cada
token novo para o cliente (no streaming), confere as sequências de parada e desiste quando o cliente vai embora ou o
prazo do pedido acaba.

Pedido errado — JSON quebrado, fundo demais ou com inteiros gigantes, campo faltando ou com tipo errado, texto com
caractere inválido, prompt maior que o contexto, parâmetros absurdos, ``Content-Type`` que não é JSON, rota ou método
desconhecidos — volta como ``4xx`` com a explicação em português. Um erro inesperado vira ``500`` com uma mensagem
genérica (os detalhes vão só para o registro do servidor). O servidor nunca cai por causa de um pedido.

Proteções (cada uma com o seu teste em ``tests/test_servidor.py``):

- **Uma geração por vez, fila limitada.** O modelo é um só: uma trava deixa um pedido gerar por vez. No máximo
  ``max_fila`` pedidos de geração esperam ou geram; o seguinte espera uma vaga por até 0,3 s e, se não houver,
  recebe ``503`` com ``Retry-After``.
- **Prazo por pedido** (``prazo_s``): quem espera na fila além do prazo recebe ``503``; quem está gerando para ali e
  devolve o que já gerou (``finish_reason: "length"``).
- **Cliente que foi embora não segura o servidor**: quem espera na fila e quem gera confere, a cada passo, se a
  conexão ainda está aberta; se não está, desiste (no registro: status 499) — sem traceback.
- **Tempo limite de socket** (``timeout_socket``): cabeçalho ou corpo que não chega a tempo recebe ``408``.
- **Limite de conexões** (``max_conexoes`` threads) e fila de conexões do sistema (``listen``) de 128.
- **Host e Origin conferidos**: ouvindo em ``127.0.0.1``, só aceitamos ``Host: 127.0.0.1``/``localhost``/``[::1]``
  e, se o navegador manda ``Origin``, só a do próprio servidor: uma página de outro site não consegue usar o modelo
  pelo navegador de quem a visita (DNS rebinding, CSRF). POST só com ``Content-Type: application/json``.
- **Uma linha JSON por pedido** no registro (stderr): método, rota, status, latência, tokens.

API em Python (notebook e testes)::

    servidor, url = iniciar_servidor(modelo, tokenizador, porta=0)   # porta 0 = o sistema escolhe uma livre
    status, resposta = chamar(url, "/gerar", {"prompt": "..."})
    parar_servidor(servidor)

Servidores de produção (vLLM, TGI, llama.cpp server) fazem melhor que a trava: juntam os pedidos que chegam em um
batch só (*continuous batching*) e guardam o KV cache de cada um, o que multiplica os tokens por segundo da GPU.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import select
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import torch

PASTA = Path(__file__).resolve().parent
if str(PASTA) not in sys.path:
    sys.path.insert(0, str(PASTA))

from llm_do_zero import (  # noqa: E402
    PROMPT_INTRO, ParserPT, dispositivo_do_modelo, formatar_prompt, gerar_texto, id_fim_de_texto, inteiro_positivo)

#: Limites de sanidade dos parâmetros de um pedido.
MAX_TOKENS_PADRAO = 40
MAX_TOKENS_LIMITE = 256
TEMPERATURA_MAXIMA = 5.0
#: Abaixo disso, ``logits / temperatura`` estoura para infinito (em float32) e o sorteio vira NaN: ou é 0 (guloso)
#: ou é pelo menos isto.
TEMPERATURA_MINIMA = 0.01
TAMANHO_MAXIMO_CORPO = 64 * 1024  # bytes: um prompt de verdade cabe com folga; um corpo gigante é recusado antes
CAMPOS_ACEITOS = ("prompt", "entrada", "formatar", "max_tokens", "temperatura", "top_k", "semente")
#: Padrões da proteção contra sobrecarga (todos ajustáveis em ``iniciar_servidor`` e na linha de comando).
MAX_FILA = 16            # pedidos de geração esperando ou gerando
MAX_CONEXOES = 64        # threads atendendo conexões
PRAZO_S = 60.0           # prazo de um pedido de geração, da chegada ao fim
TIMEOUT_SOCKET = 10.0    # segundos sem receber nada no meio de um pedido -> 408
FILA_DO_SISTEMA = 128    # conexões que o sistema operacional segura antes do accept (o padrão do Python é 5)
ESPERA_FILA_CHEIA_S = 0.3  # quanto um pedido espera uma vaga na fila cheia antes do 503
NOME_DO_MODELO = "llm-do-zero-instrucoes"
PAGINA_CHAT = PASTA / "chat.html"
HOSTS_LOCAIS = ("127.0.0.1", "localhost", "::1")

#: Mensagens em português para os erros que o próprio ``http.server`` gera (linha de pedido malformada etc.).
MENSAGENS_HTTP = {
    400: "Pedido HTTP malformado.",
    403: "Pedido recusado.",
    404: "Rota desconhecida.",
    405: "Método não permitido nesta rota.",
    408: "O pedido demorou demais para chegar.",
    411: "Falta o cabeçalho Content-Length.",
    413: "Corpo do pedido grande demais.",
    414: "Endereço (URL) longo demais.",
    415: "Tipo de conteúdo não suportado: envie Content-Type: application/json.",
    431: "Cabeçalhos grandes demais.",
    500: "Erro interno do servidor.",
    501: "Método HTTP não suportado por este servidor.",
    503: "Servidor ocupado: tente de novo em instantes.",
    505: "Versão do HTTP não suportada.",
}
#: O ``type`` dos erros no formato da OpenAI, por status.
TIPOS_OPENAI = {400: "invalid_request_error", 403: "permission_error", 404: "not_found_error",
                405: "invalid_request_error", 408: "timeout_error", 411: "invalid_request_error",
                413: "invalid_request_error", 415: "invalid_request_error", 503: "server_overloaded",
                500: "server_error"}


class ErroDePedido(ValueError):
    """Um pedido inválido: ``status`` é o código HTTP (4xx) e a mensagem explica, em português, o que corrigir.

    ``param`` é o campo com problema (vai no erro no formato da OpenAI); ``cabecalhos`` vão na resposta.
    """

    def __init__(self, mensagem: str, status: int = 400, param: str | None = None, cabecalhos: dict | None = None):
        super().__init__(mensagem)
        self.status = status
        self.param = param
        self.cabecalhos = cabecalhos or {}


class ClienteFoiEmbora(Exception):
    """O cliente fechou a conexão antes da resposta: não há a quem responder."""


# ----------------------------------------------------------------------------------------------------------------
# Validação (sem nada de HTTP: dá para testar e usar sozinha)
# ----------------------------------------------------------------------------------------------------------------


def _e_inteiro(valor) -> bool:
    return isinstance(valor, int) and not isinstance(valor, bool)  # em Python, True é um int: aqui não vale


def _texto_valido(valor, campo: str) -> str:
    """Confere que ``valor`` é um texto que vira UTF-8 (um surrogate solitário, como ``"\\ud800"``, não vira)."""
    if not isinstance(valor, str):
        raise ErroDePedido(f"O campo '{campo}' deve ser um texto (string), não {type(valor).__name__}.", param=campo)
    try:
        valor.encode("utf-8")
    except UnicodeEncodeError:
        raise ErroDePedido(f"O campo '{campo}' tem um caractere inválido (um surrogate solitário, como \\ud800): "
                           "envie texto Unicode válido.", param=campo) from None
    return valor


def _temperatura(valor, campo: str) -> float:
    if isinstance(valor, bool) or not isinstance(valor, (int, float)):
        raise ErroDePedido(f"O campo '{campo}' deve ser um número, não {json.dumps(valor)}.", param=campo)
    if not math.isfinite(valor):
        raise ErroDePedido(f"O campo '{campo}' deve ser um número finito (recebi {valor}).", param=campo)
    if not 0.0 <= valor <= TEMPERATURA_MAXIMA:
        raise ErroDePedido(f"O campo '{campo}' deve estar entre 0 (guloso) e {TEMPERATURA_MAXIMA:g} "
                           f"(recebi {valor:g}).", param=campo)
    if 0.0 < valor < TEMPERATURA_MINIMA:
        raise ErroDePedido(f"O campo '{campo}' deve ser 0 (guloso) ou pelo menos {TEMPERATURA_MINIMA:g} (recebi "
                           f"{valor:g}): dividir os logits por um número tão pequeno estoura para infinito.",
                           param=campo)
    return float(valor)


def _max_tokens(valor, campo: str, limite: int) -> int:
    if not _e_inteiro(valor):
        raise ErroDePedido(f"O campo '{campo}' deve ser um número inteiro, não {json.dumps(valor)}.", param=campo)
    if not 1 <= valor <= limite:
        raise ErroDePedido(f"O campo '{campo}' deve estar entre 1 e {limite} (recebi {valor}).", param=campo)
    return valor


def _semente(valor, campo: str):
    if valor is not None and (not _e_inteiro(valor) or not 0 <= valor < 2**63):
        raise ErroDePedido(f"O campo '{campo}' deve ser um inteiro entre 0 e 2^63 - 1, ou null.", param=campo)
    return valor


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
                           f"Campos aceitos: {', '.join(CAMPOS_ACEITOS)}.", param=desconhecidos[0])
    if "prompt" not in dados:
        raise ErroDePedido("Falta o campo obrigatório 'prompt' (o texto do pedido).", param="prompt")
    prompt = _texto_valido(dados["prompt"], "prompt")
    if not prompt.strip():
        raise ErroDePedido("O campo 'prompt' está vazio.", param="prompt")
    entrada = dados.get("entrada", "")
    entrada = "" if entrada is None else _texto_valido(entrada, "entrada")
    formatar = dados.get("formatar", True)
    if not isinstance(formatar, bool):
        raise ErroDePedido("O campo 'formatar' deve ser true ou false.", param="formatar")
    max_tokens = _max_tokens(dados.get("max_tokens", MAX_TOKENS_PADRAO), "max_tokens", max_tokens_limite)
    temperatura = _temperatura(dados.get("temperatura", 0.0), "temperatura")
    top_k = dados.get("top_k")
    if top_k is not None:
        if not _e_inteiro(top_k):
            raise ErroDePedido(f"O campo 'top_k' deve ser um número inteiro ou null, não {json.dumps(top_k)}.",
                               param="top_k")
        if not 1 <= top_k <= n_vocab:
            raise ErroDePedido(f"O campo 'top_k' deve estar entre 1 e {n_vocab}, o tamanho do vocabulário "
                               f"(recebi {top_k}).", param="top_k")
    semente = _semente(dados.get("semente"), "semente")
    return {"prompt": prompt, "entrada": entrada, "formatar": formatar, "max_tokens": max_tokens,
            "temperatura": temperatura, "top_k": top_k, "top_p": None, "semente": semente, "paradas": []}


def texto_do_prompt(pedido: dict) -> str:
    """O texto que vai para o modelo: o modelo de prompt do capítulo 7 (``formatar=True``) ou o prompt cru."""
    if pedido["formatar"]:
        return formatar_prompt({"instrucao": pedido["prompt"], "entrada": pedido["entrada"]})
    return pedido["prompt"] + (f"\n{pedido['entrada']}" if pedido["entrada"] else "")


# ---- a API da OpenAI -------------------------------------------------------------------------------------------

#: Campos que os clientes da OpenAI podem mandar e que aceitamos sem efeito, desde que com o valor neutro.
_NEUTROS = {"presence_penalty": 0, "frequency_penalty": 0, "logit_bias": None, "n": 1, "logprobs": False,
            "top_logprobs": 0, "echo": False, "best_of": 1, "suffix": None, "stream_options": None}
#: Campos que não mudam a resposta (aceitos com qualquer valor).
_SEM_EFEITO = {"user", "metadata", "service_tier", "parallel_tool_calls", "store"}
_CAMPOS_OPENAI = {"model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "stream", "seed"}


def _neutro(campo: str, valor) -> bool:
    if campo in _SEM_EFEITO:
        return True
    if campo == "stream_options":
        return valor is None or isinstance(valor, dict)
    if campo == "logit_bias":
        return not valor
    return valor is None or valor == _NEUTROS[campo]


def validar_pedido_openai(dados, n_vocab: int, max_tokens_limite: int, chat: bool) -> dict:
    """Confere um pedido de ``/v1/completions`` (``chat=False``) ou ``/v1/chat/completions`` (``chat=True``).

    Devolve o pedido interno (o mesmo dicionário de :func:`validar_pedido`, com ``prompt`` já no texto final) mais
    ``stream``, ``incluir_uso`` e ``mensagens`` (no chat). Levanta :class:`ErroDePedido` com ``param``.
    """
    if not isinstance(dados, dict):
        raise ErroDePedido(f"O corpo deve ser um objeto JSON, não {type(dados).__name__}.")
    principal = "messages" if chat else "prompt"
    desconhecidos = sorted(set(dados) - _CAMPOS_OPENAI - set(_NEUTROS) - _SEM_EFEITO - {principal})
    if desconhecidos:
        raise ErroDePedido(f"Campo(s) não suportado(s): {', '.join(desconhecidos)}.", param=desconhecidos[0])
    for campo in sorted(set(dados) & set(_NEUTROS)):
        if not _neutro(campo, dados[campo]):
            raise ErroDePedido(f"O campo '{campo}' só é aceito com o valor neutro ({json.dumps(_NEUTROS[campo])}): "
                               "este servidor não o implementa.", param=campo)
    if principal not in dados:
        raise ErroDePedido(f"Falta o campo obrigatório '{principal}'.", param=principal)
    modelo = dados.get("model")
    if modelo is not None:
        _texto_valido(modelo, "model")
    mensagens = _validar_mensagens(dados["messages"]) if chat else None
    prompt = None if chat else _prompt_openai(dados["prompt"])  # no chat, o prompt é montado depois (prompt_do_chat)
    campo_max = "max_completion_tokens" if "max_completion_tokens" in dados else "max_tokens"
    max_tokens = dados.get(campo_max)
    max_tokens = MAX_TOKENS_PADRAO if max_tokens is None else _max_tokens(max_tokens, campo_max, max_tokens_limite)
    temperatura = dados.get("temperature")
    temperatura = 0.0 if temperatura is None else _temperatura(temperatura, "temperature")
    top_p, paradas = _top_p(dados.get("top_p")), _paradas(dados.get("stop"))
    stream = dados.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise ErroDePedido("O campo 'stream' deve ser true ou false.", param="stream")
    opcoes = dados.get("stream_options") or {}
    return {"prompt": prompt, "entrada": "", "formatar": False, "max_tokens": max_tokens,
            "temperatura": temperatura, "top_k": None, "top_p": top_p,
            "semente": _semente(dados.get("seed"), "seed"), "paradas": paradas, "stream": stream,
            "incluir_uso": bool(opcoes.get("include_usage")), "mensagens": mensagens}


def _prompt_openai(prompt) -> str:
    """O ``prompt`` de ``/v1/completions``: um texto não vazio (ou uma lista com um texto só, como manda o cliente)."""
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if isinstance(prompt, list):
        raise ErroDePedido("O campo 'prompt' deve ser um texto (ou uma lista com um texto só).", param="prompt")
    prompt = _texto_valido(prompt, "prompt")
    if not prompt.strip():
        raise ErroDePedido("O campo 'prompt' está vazio.", param="prompt")
    return prompt


def _top_p(top_p) -> float | None:
    """``top_p`` da API da OpenAI: ``None`` (sem corte) ou um número em (0, 1]."""
    if top_p is None:
        return None
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0.0 < top_p <= 1.0:
        raise ErroDePedido(f"O campo 'top_p' deve ser um número em (0, 1] (recebi {json.dumps(top_p)}).",
                           param="top_p")
    return float(top_p)


def _paradas(paradas) -> list:
    """``stop`` da API da OpenAI: nada, um texto ou uma lista de até 4 textos não vazios; devolve sempre a lista."""
    if paradas is None:
        paradas = []
    elif isinstance(paradas, str):
        paradas = [paradas]
    if not isinstance(paradas, list) or len(paradas) > 4:
        raise ErroDePedido("O campo 'stop' deve ser um texto ou uma lista de até 4 textos.", param="stop")
    for parada in paradas:
        if not _texto_valido(parada, "stop"):
            raise ErroDePedido("O campo 'stop' não pode ter texto vazio.", param="stop")
    return paradas


def _conteudo(mensagem, i: int) -> str:
    conteudo = mensagem.get("content")
    if isinstance(conteudo, list):  # formato com partes: [{"type": "text", "text": "..."}]
        textos = []
        for parte in conteudo:
            if not isinstance(parte, dict) or parte.get("type") != "text" or not isinstance(parte.get("text"), str):
                raise ErroDePedido(f"messages[{i}].content: só partes do tipo texto são aceitas.", param="messages")
            textos.append(parte["text"])
        conteudo = "".join(textos)
    if conteudo is None:
        conteudo = ""
    return _texto_valido(conteudo, "messages")


def _validar_mensagens(mensagens) -> list[dict]:
    if not isinstance(mensagens, list) or not mensagens:
        raise ErroDePedido("O campo 'messages' deve ser uma lista não vazia de mensagens.", param="messages")
    limpas = []
    for i, mensagem in enumerate(mensagens):
        if not isinstance(mensagem, dict):
            raise ErroDePedido(f"messages[{i}] deve ser um objeto {{\"role\", \"content\"}}.", param="messages")
        papel = mensagem.get("role")
        if papel == "developer":
            papel = "system"  # o nome novo da OpenAI para o mesmo papel
        if papel not in ("system", "user", "assistant"):
            raise ErroDePedido(f"messages[{i}].role deve ser 'system', 'user' ou 'assistant' (recebi "
                               f"{json.dumps(papel)}).", param="messages")
        limpas.append({"role": papel, "content": _conteudo(mensagem, i)})
    if limpas[-1]["role"] != "user" or not limpas[-1]["content"].strip():
        raise ErroDePedido("A última mensagem deve ser do usuário ('role': 'user'), com texto: é ela que o modelo "
                           "responde.", param="messages")
    return limpas


def prompt_do_chat(mensagens: list[dict], tokenizador=None, context_length: int | None = None) -> str:
    """As mensagens de um chat no modelo de prompt do capítulo 7 (``formatar_prompt``).

    - a última mensagem (do usuário) é a ``### Instrução:`` que o modelo responde;
    - cada par anterior usuário → assistente vira um exemplo já respondido, no mesmo formato em que o modelo foi
      treinado (``prompt + " " + resposta``), separado por uma linha em branco; mensagens seguidas do mesmo papel são
      juntadas com uma quebra de linha;
    - as mensagens ``system`` (juntas) substituem a frase de abertura do modelo de prompt (``PROMPT_INTRO``) em
      todos os exemplos. O modelo do capítulo 7 só viu a frase padrão: mudá-la costuma piorar as respostas.

    O modelo do capítulo 7 só foi treinado com pedidos de uma volta; o histórico é só contexto. Com ``tokenizador``
    e ``context_length``, os pares mais antigos são descartados até o prompt caber no contexto.
    """
    sistema = "\n".join(m["content"].strip() for m in mensagens if m["role"] == "system" and m["content"].strip())
    conversa = [m for m in mensagens if m["role"] != "system"]
    turnos: list[list[str]] = []  # [[texto do usuário, resposta ou None], ...]
    for m in conversa:
        if m["role"] == "user":
            if turnos and turnos[-1][1] is None:
                turnos[-1][0] += "\n" + m["content"]
            else:
                turnos.append([m["content"], None])
        elif turnos:  # assistente
            turnos[-1][1] = m["content"] if turnos[-1][1] is None else turnos[-1][1] + "\n" + m["content"]
        # uma resposta do assistente antes de qualquer pedido não tem a que se prender: fica de fora

    def montar(turnos_usados) -> str:
        partes = []
        for pergunta, resposta in turnos_usados:
            texto = formatar_prompt({"instrucao": pergunta, "entrada": ""})
            if sistema:
                texto = sistema + texto[len(PROMPT_INTRO):]
            if resposta is not None:
                texto += " " + resposta.strip()
            partes.append(texto)
        return "\n\n".join(partes)

    while True:
        texto = montar(turnos)
        if tokenizador is None or context_length is None or len(turnos) == 1:
            return texto
        if len(tokenizador.encode(texto)) <= context_length:
            return texto
        turnos = turnos[1:]  # descarta a troca mais antiga


# ----------------------------------------------------------------------------------------------------------------
# Geração (uma só: o gerar_texto do capítulo 5)
# ----------------------------------------------------------------------------------------------------------------


class _Acompanhamento:
    """O que a ``parada`` do ``gerar_texto`` faz a cada token: guarda, decodifica, manda e decide se para.

    ``ao_gerar(pedaco)`` recebe o texto novo que já pode ser mostrado (sem o ``<|endoftext|>`` e segurando o fim que
    ainda pode virar uma sequência de parada); ``continuar()`` devolve ``False`` quando o cliente foi embora.
    """

    def __init__(self, tokenizador, id_fim, paradas, ao_gerar=None, continuar=None, prazo=None):
        self.tokenizador, self.id_fim, self.paradas = tokenizador, id_fim, paradas
        self.ao_gerar, self.continuar, self.prazo = ao_gerar, continuar, prazo
        self.tokens: list[int] = []   # os tokens gerados (sem o <|endoftext|>)
        self.n_gerados = 0            # tokens que o modelo calculou (conta o <|endoftext|>)
        self.texto = ""               # o texto final (cortado na sequência de parada)
        self.enviados = 0             # quantos caracteres de self.texto já foram para ao_gerar
        self.motivo = None            # "fim", "parada", "cliente", "prazo" ou None (acabaram os tokens)

    def __call__(self, proximo):  # proximo: (1,)
        token = int(proximo[0])
        self.n_gerados += 1
        if token == self.id_fim:
            self.motivo = "fim"
        else:
            self.tokens.append(token)
            self.texto = self.tokenizador.decode(self.tokens)
            for parada in self.paradas:
                posicao = self.texto.find(parada)
                if posicao >= 0:
                    self.texto = self.texto[:posicao]
                    self.motivo = "parada"
        if self.motivo is None and self.continuar is not None and not self.continuar():
            self.motivo = "cliente"
        if self.motivo is None and self.prazo is not None and time.monotonic() > self.prazo:
            self.motivo = "prazo"
        self.enviar(final=self.motivo is not None)
        return torch.tensor([self.motivo is not None])

    def enviar(self, final: bool) -> None:
        if self.ao_gerar is None or self.motivo == "cliente":
            return
        ate = len(self.texto)
        if not final:
            for parada in self.paradas:  # segura um fim que ainda pode virar uma sequência de parada
                for n in range(min(len(parada) - 1, ate), 0, -1):
                    if self.texto.endswith(parada[:n]):
                        ate = min(ate, len(self.texto) - n)
                        break
            while ate > self.enviados and self.texto[ate - 1] == "\ufffd":
                ate -= 1  # um caractere ainda incompleto
        if ate > self.enviados:
            pedaco, self.enviados = self.texto[self.enviados:ate], ate
            try:
                self.ao_gerar(pedaco)
            except OSError:  # o cliente fechou a conexão no meio do streaming
                self.motivo = "cliente"


def gerar_resposta(modelo, tokenizador, pedido: dict, usar_kv_cache: bool = True, ao_gerar=None, continuar=None,
                   prazo: float | None = None) -> dict:
    """Gera a resposta de um pedido já validado, com o ``gerar_texto`` do capítulo 5 (KV cache se ``usar_kv_cache``).

    ``ao_gerar(pedaco)`` (opcional) recebe o texto à medida que sai (streaming); ``continuar()`` (opcional) diz se
    o cliente ainda espera; ``prazo`` é um instante de ``time.monotonic()`` em que a geração para. Tudo isso roda
    dentro da ``parada`` do ``gerar_texto``, a cada token.

    Devolve ``{"texto", "tokens_gerados", "tokens_prompt", "kv_cache", "tempo_geracao_s", "motivo"}`` — ``motivo`` é
    ``"fim"`` (o modelo gerou ``<|endoftext|>``), ``"parada"`` (uma sequência de ``stop``), ``"cliente"``,
    ``"prazo"`` ou ``None`` (acabou ``max_tokens``). Levanta :class:`ErroDePedido` se o prompt não couber no
    contexto do modelo. O ``texto`` vem cru (``/gerar`` tira os espaços das pontas).
    """
    ids_prompt = tokenizador.encode(texto_do_prompt(pedido))
    contexto = modelo.context_length
    if len(ids_prompt) > contexto:
        formato = " (já com o modelo de prompt do capítulo 7)" if pedido["formatar"] or pedido.get("mensagens") else ""
        raise ErroDePedido(f"O prompt tem {len(ids_prompt)} tokens{formato}, mas o modelo só enxerga {contexto}. "
                           "Encurte o texto.", param="messages" if pedido.get("mensagens") else "prompt")
    id_fim = id_fim_de_texto(tokenizador)
    ids = torch.tensor([ids_prompt], device=dispositivo_do_modelo(modelo))  # (1, tokens)
    gerador = None
    if pedido["temperatura"] > 0:
        gerador = torch.Generator()  # o sorteio do gerar_texto é feito na CPU
        if pedido["semente"] is not None:
            gerador.manual_seed(pedido["semente"])
        else:
            gerador.seed()
    acompanhamento = _Acompanhamento(tokenizador, id_fim, pedido.get("paradas") or [], ao_gerar, continuar, prazo)
    inicio = time.perf_counter()
    gerar_texto(modelo, ids, pedido["max_tokens"], temperatura=pedido["temperatura"], top_k=pedido["top_k"],
                top_p=pedido.get("top_p"), gerador=gerador, id_fim=id_fim, usar_cache=usar_kv_cache,
                parada=acompanhamento)
    tempo = time.perf_counter() - inicio
    acompanhamento.enviar(final=True)  # o que ficou seguro no fim (acabaram os tokens)
    return {"texto": acompanhamento.texto, "tokens_gerados": acompanhamento.n_gerados,
            "tokens_prompt": len(ids_prompt), "kv_cache": usar_kv_cache, "tempo_geracao_s": tempo,
            "motivo": acompanhamento.motivo}


# ----------------------------------------------------------------------------------------------------------------
# HTTP
# ----------------------------------------------------------------------------------------------------------------


def _e_host_local(host: str) -> bool:
    return host in HOSTS_LOCAIS or host.startswith("127.")


class ServidorGPT(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` com o modelo, a trava do modelo, a fila limitada e o limite de conexões.

    O socket é aberto no construtor; o modelo pode chegar depois (:meth:`definir_modelo`): assim a linha de comando
    descobre uma porta ocupada na hora, antes de carregar o modelo.
    """

    daemon_threads = True  # threads de pedidos não seguram o processo vivo no fim
    request_queue_size = FILA_DO_SISTEMA  # o "backlog" do listen()

    def __init__(self, endereco, modelo=None, tokenizador=None, max_tokens_limite: int = MAX_TOKENS_LIMITE,
                 silencioso: bool = False, usar_kv_cache: bool = True, max_fila: int = MAX_FILA,
                 max_conexoes: int = MAX_CONEXOES, prazo_s: float = PRAZO_S, timeout_socket: float = TIMEOUT_SOCKET,
                 registro=None):
        super().__init__(endereco, TratadorGPT)
        self.usar_kv_cache = usar_kv_cache
        self.modelo = self.tokenizador = None
        self.max_tokens_limite = max_tokens_limite
        self.silencioso = silencioso
        self.registro = registro if registro is not None else sys.stderr
        self.trava = threading.Lock()          # um pedido gera por vez
        self.vagas_fila = threading.BoundedSemaphore(max_fila)
        self.vagas_conexoes = threading.BoundedSemaphore(max_conexoes)
        self.max_fila, self.prazo_s, self.timeout_socket = max_fila, prazo_s, timeout_socket
        self.trava_registro = threading.Lock()
        self.n_pedidos = 0  # pedidos de geração atendidos com sucesso
        self.tempo_medio_s = 1.0  # média móvel do tempo de geração (para o Retry-After)
        self.thread = None
        # Ouvindo só nesta máquina, conferimos o Host; quem abriu para a rede (--host 0.0.0.0) escolheu isso.
        self.conferir_host = _e_host_local(str(self.server_address[0]))
        if modelo is not None:
            self.definir_modelo(modelo, tokenizador)

    def definir_modelo(self, modelo, tokenizador) -> None:
        self.tokenizador = tokenizador
        self.modelo = modelo.eval()

    # ---- limite de conexões: uma thread por conexão, no máximo max_conexoes ----------------------------------
    def process_request(self, request, client_address):
        if not self.vagas_conexoes.acquire(blocking=False):
            self._recusar_conexao(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.vagas_conexoes.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.vagas_conexoes.release()

    def _recusar_conexao(self, request) -> None:
        """Sem thread livre: responde 503 ali mesmo (sem ler o pedido) e fecha."""
        corpo = json.dumps({"erro": MENSAGENS_HTTP[503]}, ensure_ascii=False).encode("utf-8")
        try:
            request.settimeout(1.0)
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
                            b"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + str(len(corpo)).encode()
                            + b"\r\n\r\n" + corpo)
        except OSError:
            pass
        self.shutdown_request(request)
        self.registrar({"cliente": "-", "metodo": "-", "rota": "-", "status": 503, "latencia_s": 0.0,
                        "motivo": "conexões demais"})

    def handle_error(self, request, client_address):
        """Cliente que foi embora não é erro do servidor: nada de traceback. O resto vai para o registro."""
        erro = sys.exc_info()[1]
        if isinstance(erro, (ConnectionError, TimeoutError)):
            return
        if not self.silencioso:
            traceback.print_exc(file=self.registro)

    def registrar(self, linha: dict) -> None:
        """Uma linha JSON por pedido no registro (stderr), a menos que ``silencioso``."""
        if self.silencioso:
            return
        linha = {"quando": time.strftime("%Y-%m-%dT%H:%M:%S"), **linha}
        with self.trava_registro:
            try:
                self.registro.write(json.dumps(linha, ensure_ascii=False) + "\n")
                self.registro.flush()
            except (OSError, ValueError):
                pass


class TratadorGPT(BaseHTTPRequestHandler):
    """Atende um pedido HTTP. Toda resposta, de sucesso ou de erro, é JSON em UTF-8 (ou a página, ou eventos SSE)."""

    server_version = "ServidorGPT/2.0"
    ROTAS = {"/": "GET", "/saude": "GET", "/gerar": "POST", "/v1/models": "GET", "/v1/completions": "POST",
             "/v1/chat/completions": "POST"}

    def setup(self):
        self.timeout = self.server.timeout_socket  # o StreamRequestHandler aplica isto ao socket
        super().setup()
        self._registro = {}

    # ---- o ciclo de um pedido (a versão do http.server, com 408, sem traceback e com o registro) --------------
    def handle_one_request(self):
        self._registro = {"cliente": self.client_address[0]}
        self._status = None
        self.command, self.requestline, self.request_version = None, "", self.default_request_version
        inicio = time.perf_counter()
        try:
            try:
                if not self.rfile.peek(1):  # espera o primeiro byte: uma conexão ociosa que fecha não é erro
                    self.close_connection = True
                    return
            except TimeoutError:  # conectou e não mandou nada: fecha sem resposta
                self.close_connection = True
                return
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline, self.request_version, self.command = "", "", ""
                self.send_error(414)
                return
            if not self.parse_request():
                return
            metodo = "do_" + self.command
            if not hasattr(self, metodo):
                self.send_error(501)
                return
            if self._conferir_origem():
                getattr(self, metodo)()
            self.wfile.flush()
        except TimeoutError:  # no meio do pedido: cabeçalho ou corpo parou de chegar
            self.close_connection = True
            if self._status is None:
                self._erro(408, MENSAGENS_HTTP[408] + f" (nada chegou em {self.server.timeout_socket:g} s)")
        except (ConnectionError, ClienteFoiEmbora):
            self.close_connection = True
            self._status = 499  # o código que o nginx usa para "o cliente fechou a conexão" (mesmo no meio)
            self._registro.setdefault("motivo", "cliente desconectou")
        finally:
            if self._status is not None:
                self.server.registrar({**self._registro, "metodo": getattr(self, "command", "-") or "-",
                                       "rota": self._rota() if getattr(self, "path", None) else "-",
                                       "status": self._status,
                                       "latencia_s": round(time.perf_counter() - inicio, 4)})

    def log_request(self, code="-", size="-"):
        self._status = int(code) if str(code).isdigit() else code  # a linha do registro sai no fim do pedido

    def log_message(self, formato, *args):
        pass  # as mensagens soltas do http.server dão lugar à linha JSON do registro

    # ---- respostas ----------------------------------------------------------------------------------------------
    def _responder(self, status: int, dados, cabecalhos: dict | None = None,
                   tipo: str = "application/json; charset=utf-8") -> None:
        corpo = dados if isinstance(dados, bytes) else json.dumps(dados, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", tipo)
        self.send_header("Content-Length", str(len(corpo)))
        self.send_header("Cache-Control", "no-store")
        for nome, valor in (cabecalhos or {}).items():
            self.send_header(nome, valor)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(corpo)

    def _e_openai(self) -> bool:
        return getattr(self, "path", "").startswith("/v1/")

    def _erro(self, status: int, mensagem: str, param: str | None = None, cabecalhos: dict | None = None) -> None:
        """Um erro: ``{"erro": ...}`` nas rotas do curso, ``{"error": {...}}`` (forma da OpenAI) em ``/v1/...``."""
        self._registro.setdefault("motivo", mensagem[:200])
        if self._e_openai():
            dados = {"error": {"message": mensagem, "type": TIPOS_OPENAI.get(status, "invalid_request_error"),
                               "param": param, "code": status}}
        else:
            dados = {"erro": mensagem}
        try:
            self._responder(status, dados, cabecalhos)
        except OSError:
            self.close_connection = True  # o cliente já foi embora

    def send_error(self, code, message=None, explain=None):
        """Os erros que o ``http.server`` gera sozinho também saem em JSON e em português."""
        self.close_connection = True
        self._erro(code, MENSAGENS_HTTP.get(code, f"Erro HTTP {code}."))

    # ---- Host, Origin e rotas -----------------------------------------------------------------------------------
    def _conferir_origem(self) -> bool:
        """Recusa (403) Host de fora quando o servidor ouve só nesta máquina e Origin de outro site."""
        host = self.headers.get("Host", "")
        nome = urlsplit("//" + host).hostname or ""
        if self.server.conferir_host and not _e_host_local(nome):
            self.close_connection = True
            self._erro(403, f"Host não permitido: {host!r}. Este servidor só atende endereços locais "
                            "(127.0.0.1, localhost); para abrir para a rede, inicie-o com --host 0.0.0.0.")
            return False
        origem = self.headers.get("Origin")
        if origem is not None and urlsplit(origem).netloc != host:
            self.close_connection = True
            self._erro(403, f"Origem não permitida: {origem!r}. Só a página do próprio servidor pode usá-lo "
                            "pelo navegador.")
            return False
        return True

    def _rota(self) -> str:
        return urlsplit(self.path).path.rstrip("/") or "/"

    def _conferir_rota(self) -> bool:
        """Responde 404/405 se a rota não existe ou não aceita este método. Devolve ``True`` se pode seguir."""
        rota = self._rota()
        if rota not in self.ROTAS:
            rotas = ", ".join(f"{m} {r}" for r, m in self.ROTAS.items())
            self._erro(404, f"Rota desconhecida: {rota}. Rotas: {rotas}.")
            return False
        if self.ROTAS[rota] != self.command:
            permitido = self.ROTAS[rota]
            self._erro(405, f"Método {self.command} não permitido em {rota}; use {permitido}.",
                       cabecalhos={"Allow": permitido})
            return False
        return True

    def do_GET(self):
        if not self._conferir_rota():
            return
        rota, modelo = self._rota(), self.server.modelo
        if rota == "/":
            self._responder(200, PAGINA_CHAT.read_bytes(), tipo="text/html; charset=utf-8", cabecalhos={
                "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                                           "style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})
        elif modelo is None:
            self._responder(503, {"status": "carregando"}, {"Retry-After": "5"})
        elif rota == "/saude":
            self._responder(200, {"status": "ok", "context_length": modelo.context_length,
                                  "pedidos_atendidos": self.server.n_pedidos})
        else:  # /v1/models
            self._responder(200, {"object": "list", "data": [{"id": NOME_DO_MODELO, "object": "model",
                                                              "created": 0, "owned_by": "llm-do-zero"}]})

    def do_POST(self):
        if not self._conferir_rota():
            return
        rota = self._rota()
        try:
            if self.server.modelo is None:
                raise ErroDePedido("O modelo ainda está carregando: tente de novo em instantes.", 503,
                                   cabecalhos={"Retry-After": "5"})
            dados = self._ler_json()
            tokenizador, limite = self.server.tokenizador, self.server.max_tokens_limite
            if rota == "/gerar":
                pedido = validar_pedido(dados, tokenizador.n_vocab, limite)
            else:
                chat = rota == "/v1/chat/completions"
                pedido = validar_pedido_openai(dados, tokenizador.n_vocab, limite, chat)
                if chat:
                    pedido["prompt"] = prompt_do_chat(pedido["mensagens"], tokenizador,
                                                      self.server.modelo.context_length)
            self._gerar(rota, pedido)
        except ErroDePedido as erro:
            if erro.status >= 500 or erro.status in (408, 411, 413):
                self.close_connection = True
            self._erro(erro.status, str(erro), erro.param, erro.cabecalhos)
        except (ConnectionError, ClienteFoiEmbora, TimeoutError):
            raise
        except Exception:  # noqa: BLE001 — um erro inesperado vira 500 (sem detalhes), nunca derruba o servidor
            if not self.server.silencioso:
                traceback.print_exc(file=self.server.registro)
            self._registro["motivo"] = "erro interno"
            self.close_connection = True
            if self._status is not None:  # o streaming já começou: só resta fechar a conexão
                return
            self._erro(500, "Erro interno do servidor ao gerar a resposta (os detalhes estão no registro do "
                            "servidor).")

    def _metodo_nao_permitido(self):
        if self._conferir_rota():  # rota existe, mas (por construção) não com este método
            self._erro(405, f"Método {self.command} não permitido.")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _metodo_nao_permitido

    # ---- fila, prazo e desconexão -------------------------------------------------------------------------------
    def _cliente_ainda_esta(self) -> bool:
        """``False`` se o cliente fechou a conexão (o socket fica "legível" e não há nada para ler)."""
        try:
            legivel, _, _ = select.select([self.connection], [], [], 0)
            if not legivel:
                return True
            return self.connection.recv(1, socket.MSG_PEEK) != b""
        except (OSError, ValueError):
            return False

    def _gerar(self, rota: str, pedido: dict) -> None:
        servidor = self.server
        chegada = time.monotonic()
        prazo = chegada + servidor.prazo_s
        espera = {"Retry-After": str(max(1, math.ceil(servidor.tempo_medio_s * servidor.max_fila)))}
        if not self._cliente_ainda_esta():  # desistiu antes de entrar na fila: nem entra
            raise ClienteFoiEmbora
        # Fila cheia? Espera um instante antes de recusar: quem está na fila e já desistiu sai em até 0,02 s.
        if not servidor.vagas_fila.acquire(timeout=ESPERA_FILA_CHEIA_S):
            raise ErroDePedido(f"Servidor ocupado: já há {servidor.max_fila} pedidos na fila. Tente de novo em "
                               f"{espera['Retry-After']} s.", 503, cabecalhos=espera)
        try:
            while not servidor.trava.acquire(timeout=0.02):  # espera a vez, de olho no cliente e no prazo
                if not self._cliente_ainda_esta():
                    raise ClienteFoiEmbora
                if time.monotonic() > prazo:
                    raise ErroDePedido(f"Servidor ocupado: o pedido esperou {servidor.prazo_s:g} s na fila sem "
                                       "ser atendido. Tente de novo.", 503, cabecalhos=espera)
            try:
                self._registro["espera_s"] = round(time.monotonic() - chegada, 4)
                if not self._cliente_ainda_esta():  # desistiu enquanto esperava: nem começa
                    raise ClienteFoiEmbora
                if pedido.get("stream"):
                    self._gerar_em_streaming(rota, pedido, prazo)
                else:
                    resultado = gerar_resposta(servidor.modelo, servidor.tokenizador, pedido, servidor.usar_kv_cache,
                                               continuar=self._cliente_ainda_esta, prazo=prazo)
                    self._anotar(resultado)
                    if resultado["motivo"] == "cliente":
                        raise ClienteFoiEmbora
                    self._responder(200, self._corpo_final(rota, pedido, resultado, chegada))
            finally:
                servidor.trava.release()
        finally:
            servidor.vagas_fila.release()

    def _anotar(self, resultado: dict) -> None:
        servidor = self.server
        servidor.tempo_medio_s = 0.8 * servidor.tempo_medio_s + 0.2 * resultado["tempo_geracao_s"]
        if resultado["motivo"] != "cliente":
            servidor.n_pedidos += 1
        self._registro.update(tokens_prompt=resultado["tokens_prompt"], tokens_gerados=resultado["tokens_gerados"])
        motivos = {"cliente": "cliente desconectou", "prazo": "prazo esgotado"}
        if resultado["motivo"] in motivos:
            self._registro["motivo"] = motivos[resultado["motivo"]]

    # ---- corpos de resposta -------------------------------------------------------------------------------------
    @staticmethod
    def _finish_reason(resultado: dict) -> str:
        return "stop" if resultado["motivo"] in ("fim", "parada") else "length"

    @staticmethod
    def _uso(resultado: dict) -> dict:
        return {"prompt_tokens": resultado["tokens_prompt"], "completion_tokens": resultado["tokens_gerados"],
                "total_tokens": resultado["tokens_prompt"] + resultado["tokens_gerados"]}

    def _corpo_final(self, rota: str, pedido: dict, resultado: dict, chegada: float) -> dict:
        if rota == "/gerar":
            tempo = resultado["tempo_geracao_s"]
            return {"texto": resultado["texto"].strip(), "tokens_gerados": resultado["tokens_gerados"],
                    "tokens_prompt": resultado["tokens_prompt"], "kv_cache": resultado["kv_cache"],
                    "tokens_por_segundo": round(resultado["tokens_gerados"] / tempo, 2) if tempo > 0 else None,
                    "latencia_s": round(time.monotonic() - chegada, 4)}
        base = {"created": int(time.time()), "model": NOME_DO_MODELO, "usage": self._uso(resultado)}
        if rota == "/v1/completions":
            return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", **base,
                    "choices": [{"index": 0, "text": resultado["texto"], "logprobs": None,
                                 "finish_reason": self._finish_reason(resultado)}]}
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", **base,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": resultado["texto"].strip()},
                             "logprobs": None, "finish_reason": self._finish_reason(resultado)}]}

    def _gerar_em_streaming(self, rota: str, pedido: dict, prazo: float) -> None:
        """Server-sent events: um ``data: {json}`` por pedaço de texto e ``data: [DONE]`` no fim."""
        chat = rota == "/v1/chat/completions"
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        base = {"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": NOME_DO_MODELO}
        self.close_connection = True  # o fim da resposta é o fim da conexão (sem Content-Length)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()

        def evento(dados) -> None:
            texto = dados if isinstance(dados, str) else json.dumps(dados, ensure_ascii=False)
            self.wfile.write(f"data: {texto}\n\n".encode("utf-8"))
            self.wfile.flush()

        def escolha(delta=None, texto=None, fim=None) -> dict:
            if chat:
                return {"index": 0, "delta": delta if delta is not None else {}, "logprobs": None,
                        "finish_reason": fim}
            return {"index": 0, "text": texto or "", "logprobs": None, "finish_reason": fim}

        if chat:
            evento({**base, "choices": [escolha(delta={"role": "assistant", "content": ""})]})
        inicio_resposta = [True]

        def ao_gerar(pedaco: str) -> None:
            if chat and inicio_resposta[0]:  # a resposta vem depois de um espaço ("### Resposta: ...")
                pedaco = pedaco.lstrip()
                if not pedaco:
                    return
            inicio_resposta[0] = False
            evento({**base, "choices": [escolha(delta={"content": pedaco}, texto=pedaco)]})

        servidor = self.server
        resultado = gerar_resposta(servidor.modelo, servidor.tokenizador, pedido, servidor.usar_kv_cache,
                                   ao_gerar=ao_gerar, continuar=self._cliente_ainda_esta, prazo=prazo)
        self._anotar(resultado)
        if resultado["motivo"] == "cliente":
            raise ClienteFoiEmbora
        evento({**base, "choices": [escolha(fim=self._finish_reason(resultado))]})
        if pedido.get("incluir_uso"):
            evento({**base, "choices": [], "usage": self._uso(resultado)})
        evento("[DONE]")

    # ---- corpo --------------------------------------------------------------------------------------------------
    def _ler_json(self):
        tipo = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if tipo != "application/json":
            self.close_connection = True
            raise ErroDePedido(f"Content-Type {tipo or '(nenhum)'!r} não suportado: envie o corpo como JSON, com "
                               "Content-Type: application/json.", 415)
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
        try:
            corpo = self.rfile.read(comprimento)
        except TimeoutError:
            self.close_connection = True
            raise ErroDePedido(f"{MENSAGENS_HTTP[408]} (o corpo parou de chegar por "
                               f"{self.server.timeout_socket:g} s)", 408) from None
        if len(corpo) < comprimento:
            raise ClienteFoiEmbora  # a conexão fechou antes do corpo inteiro
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
        except RecursionError:
            raise ErroDePedido("JSON aninhado fundo demais.") from None
        except ValueError:  # um inteiro com mais de 4300 dígitos (limite do Python contra ataques de CPU)
            raise ErroDePedido("JSON inválido: número com dígitos demais.") from None


# ----------------------------------------------------------------------------------------------------------------
# Ligar, desligar e chamar
# ----------------------------------------------------------------------------------------------------------------


def iniciar_servidor(modelo, tokenizador, porta: int = 0, host: str = "127.0.0.1",
                     max_tokens_limite: int = MAX_TOKENS_LIMITE, silencioso: bool = True, usar_kv_cache: bool = True,
                     **opcoes):
    """Liga o servidor numa thread em segundo plano e devolve ``(servidor, url)``.

    ``porta = 0`` deixa o sistema operacional escolher uma porta livre (a ``url`` mostra qual). Por padrão ouve
    só em ``127.0.0.1``: nada de fora da máquina consegue falar com ele. ``opcoes``: ``max_fila``,
    ``max_conexoes``, ``prazo_s``, ``timeout_socket``, ``registro`` (um arquivo de texto para o registro).
    """
    servidor = ServidorGPT((host, porta), modelo, tokenizador, max_tokens_limite, silencioso, usar_kv_cache,
                           **opcoes)
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
           timeout: float = 60.0, cabecalhos: dict | None = None) -> tuple[int, dict]:
    """Cliente mínimo (``http.client``): faz um pedido e devolve ``(status, json_da_resposta)``.

    ``dados`` vira JSON; ``corpo`` manda bytes crus (para testar JSON quebrado). Sem ``metodo``, usa POST quando
    há corpo e GET quando não há. Não levanta exceção para respostas 4xx/5xx: elas também são devolvidas.
    Uma resposta em streaming (SSE) volta como ``{"eventos": [...]}``, um item por ``data:``.
    """
    partes = urlsplit(url)
    if dados is not None:
        corpo = json.dumps(dados, ensure_ascii=False).encode("utf-8")
    metodo = metodo or ("POST" if corpo is not None else "GET")
    conexao = http.client.HTTPConnection(partes.hostname, partes.port, timeout=timeout)
    try:
        todos = {"Content-Type": "application/json"} if corpo is not None else {}
        todos.update(cabecalhos or {})
        conexao.request(metodo, caminho, body=corpo, headers=todos)
        resposta = conexao.getresponse()
        bruto = resposta.read()
        if resposta.getheader("Content-Type", "").startswith("text/event-stream"):
            eventos = [linha[len("data: "):] for linha in bruto.decode("utf-8").split("\n\n") if linha]
            return resposta.status, {"eventos": [e if e == "[DONE]" else json.loads(e) for e in eventos]}
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


def _segundos(texto: str) -> float:
    try:
        valor = float(texto)
    except ValueError:
        raise argparse.ArgumentTypeError(f"esperava um número de segundos, recebi {texto!r}") from None
    if not (math.isfinite(valor) and valor > 0):
        raise argparse.ArgumentTypeError(f"precisa ser um número de segundos > 0, recebi {texto}")
    return valor


def criar_parser() -> argparse.ArgumentParser:
    p = ParserPT(prog="servidor.py",
                 description="Servidor HTTP do modelo ajustado por instruções (capítulo 7): página de conversa em /, "
                             "POST /gerar e a API compatível com a da OpenAI em /v1.")
    p.add_argument("--porta", type=_porta, default=8000, help="porta TCP (padrão: 8000; 0 = qualquer livre)")
    p.add_argument("--host", default="127.0.0.1",
                   help="endereço onde ouvir (padrão: 127.0.0.1, só esta máquina; 0.0.0.0 abre para a rede)")
    p.add_argument("--max-tokens-limite", type=inteiro_positivo, default=MAX_TOKENS_LIMITE,
                   help=f"maior max_tokens aceito num pedido (padrão: {MAX_TOKENS_LIMITE})")
    p.add_argument("--max-fila", type=inteiro_positivo, default=MAX_FILA,
                   help=f"pedidos de geração esperando ou gerando; além disso, 503 (padrão: {MAX_FILA})")
    p.add_argument("--prazo", type=_segundos, default=PRAZO_S,
                   help=f"prazo de cada pedido de geração, em segundos (padrão: {PRAZO_S:g})")
    p.add_argument("--timeout-socket", type=_segundos, default=TIMEOUT_SOCKET,
                   help=f"segundos sem receber nada no meio de um pedido antes do 408 (padrão: {TIMEOUT_SOCKET:g})")
    p.add_argument("--silencioso", action="store_true", help="não escreve a linha de registro de cada pedido")
    return p


def main(argv=None, carregar_modelo=None) -> int:
    """Abre a porta primeiro (uma porta ocupada aparece na hora), depois carrega o modelo e atende.

    ``carregar_modelo`` (para os testes) devolve ``(modelo, tokenizador, cfg)``; o padrão é ``modelo_instrucoes``.
    Enquanto o modelo carrega, ``/saude`` responde ``503 {"status": "carregando"}``.
    """
    args = criar_parser().parse_args(argv)
    try:
        servidor = ServidorGPT((args.host, args.porta), None, None, args.max_tokens_limite, args.silencioso,
                               max_fila=args.max_fila, prazo_s=args.prazo, timeout_socket=args.timeout_socket)
    except OSError as erro:
        print(f"servidor.py: erro: não consegui ouvir em {args.host}:{args.porta} ({erro.strerror or erro}).",
              file=sys.stderr)
        return 1
    host, porta = servidor.server_address[:2]
    if not _e_host_local(str(host)):
        print(f"Atenção: ouvindo em {host}, aberto para a rede (sem conferir o cabeçalho Host).", file=sys.stderr)
    fio = threading.Thread(target=servidor.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    def _parar(numero, quadro):  # SIGTERM (docker stop, systemd, kill) para do mesmo jeito que o Ctrl+C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _parar)
    try:
        fio.start()
        print(f"Porta {porta} aberta; carregando o modelo...", flush=True)
        if carregar_modelo is None:
            from llm_do_zero import modelo_instrucoes as carregar_modelo
        modelo, tokenizador, _ = carregar_modelo()
        servidor.definir_modelo(modelo, tokenizador)
        print(f"Servindo em http://{host}:{porta} (Ctrl+C para parar). Abra essa URL no navegador para conversar, "
              "ou experimente:\n"
              f"  curl -s -X POST http://{host}:{porta}/gerar -H 'Content-Type: application/json' "
              "-d '{\"prompt\": \"Escreva o plural de: janela\"}'", flush=True)
        while fio.is_alive():
            fio.join(timeout=0.5)
    except KeyboardInterrupt:
        print("\nParando o servidor.", flush=True)
    finally:
        servidor.shutdown()
        servidor.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
