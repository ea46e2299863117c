"""Capítulo 8 — o servidor contra clientes de verdade, clientes hostis e clientes que desistem.

Tudo em 127.0.0.1, com um GPT minúsculo criado aqui: a API compatível com a da OpenAI (com o pacote ``openai``),
streaming, fila limitada, prazo, desconexões, tempos limite de socket, Host/Origin, a página de conversa num
Chromium sem tela e a linha de comando.
"""
import contextlib
import http.client
import io
import json
import re
import shutil
import socket
import os
import select
import subprocess
import sys
import threading
import time

import pytest
import torch

from conftest import RAIZ

PASTA = RAIZ / "08-extras"
if str(PASTA) not in sys.path:
    sys.path.insert(0, str(PASTA))


def _modelo_minusculo():
    import llm_do_zero as m

    m.fixar_semente(7)
    cfg = dict(m.GPT_BASE_RAPIDO, d_model=32, n_heads=2, n_layers=1)
    return m.criar_modelo_gpt(cfg).eval(), m.tokenizador_machado(m.N_FUSOES_BASE)


class _TokenizadorLento:
    """O tokenizador de verdade, com um ``decode`` que demora: cada token gerado leva ``pausa`` segundos."""

    def __init__(self, tokenizador, pausa=0.02):
        self._t, self.pausa = tokenizador, pausa

    def __getattr__(self, nome):
        return getattr(self._t, nome)

    def decode(self, ids):
        time.sleep(self.pausa)
        return self._t.decode(ids)


@pytest.fixture(scope="module")
def minusculo():
    return _modelo_minusculo()


@pytest.fixture(scope="module")
def servidor(minusculo):
    from servidor import iniciar_servidor, parar_servidor

    modelo, tokenizador = minusculo
    registro = io.StringIO()
    srv, url = iniciar_servidor(modelo, tokenizador, porta=0, max_tokens_limite=50, silencioso=False,
                                registro=registro)
    yield srv, url, registro
    parar_servidor(srv)


def _bruto(url, pedido: bytes, timeout=5.0) -> bytes:
    """Manda bytes crus por um socket e devolve tudo o que voltar até o servidor fechar (ou o timeout)."""
    porta = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", porta), timeout=timeout) as s:
        s.sendall(pedido)
        partes = []
        while True:
            pedaco = s.recv(65536)
            if not pedaco:
                return b"".join(partes)
            partes.append(pedaco)


def _pedido_http(url, caminho, corpo=b"", cabecalhos=None, metodo="POST"):
    partes = url.rsplit(":", 1)
    conexao = http.client.HTTPConnection("127.0.0.1", int(partes[1]), timeout=30)
    try:
        conexao.request(metodo, caminho, body=corpo, headers=cabecalhos or {})
        resposta = conexao.getresponse()
        return resposta.status, dict(resposta.getheaders()), resposta.read()
    finally:
        conexao.close()


def _esperado(modelo, tokenizador, texto, n):
    """O que o gerar_texto do capítulo 5 gera, guloso, a partir de ``texto``: (texto, tokens calculados, parou)."""
    from llm_do_zero import gerar_texto, id_fim_de_texto

    fim = id_fim_de_texto(tokenizador)
    ids = torch.tensor([tokenizador.encode(texto)])
    novos = gerar_texto(modelo, ids, n, id_fim=fim, usar_cache=True)[0, ids.shape[1]:].tolist()
    parou = fim in novos
    calculados = novos.index(fim) + 1 if parou else len(novos)
    return tokenizador.decode(novos[:novos.index(fim)] if parou else novos), calculados, parou


# ----------------------------------------------------------------------------------------------------------------
# Entradas hostis: 4xx, nunca 500
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rota, corpo, trecho", [
    ("/gerar", b'{"prompt": "a", "temperatura": 1e-38}', "pelo menos 0.01"),
    ("/v1/completions", b'{"prompt": "a", "temperature": 1e-38}', "pelo menos 0.01"),
    ("/gerar", b'{"prompt": "a", "max_tokens": 1' + b"0" * 4301 + b"}", "dígitos demais"),
    ("/gerar", b"[" * 30000 + b"]" * 30000, "fundo demais"),
    ("/v1/chat/completions", b'{"messages": ' + b"[" * 30000 + b"]" * 30000 + b"}", "fundo demais"),
    ("/gerar", b'{"prompt": "a \\ud800 b"}', "surrogate"),
    ("/v1/completions", b'{"prompt": "\\ud800"}', "surrogate"),
    ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "\\udfff"}]}', "surrogate"),
])
def test_entradas_hostis_viram_400(servidor, rota, corpo, trecho):
    _, url, _ = servidor
    status, _, bruto = _pedido_http(url, rota, corpo, {"Content-Type": "application/json"})
    resposta = json.loads(bruto)
    assert status == 400, resposta
    mensagem = resposta["error"]["message"] if rota.startswith("/v1/") else resposta["erro"]
    assert trecho in mensagem


def test_erro_interno_vira_500_sem_detalhes(servidor, monkeypatch):
    import servidor as mod

    def explode(*args, **kwargs):
        raise RuntimeError("detalhe-interno-secreto")

    _, url, registro = servidor
    monkeypatch.setattr(mod, "gerar_texto", explode)
    for rota, dados in (("/gerar", {"prompt": "oi"}), ("/v1/completions", {"prompt": "oi"})):
        status, resposta = mod.chamar(url, rota, dados)
        assert status == 500
        assert "detalhe-interno-secreto" not in json.dumps(resposta)
        assert "registro do servidor" in json.dumps(resposta, ensure_ascii=False)
    assert "detalhe-interno-secreto" in registro.getvalue()  # o detalhe vai só para o registro
    monkeypatch.undo()
    assert mod.chamar(url, "/gerar", {"prompt": "oi", "max_tokens": 2})[0] == 200


@pytest.mark.parametrize("tipo", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_post_exige_content_type_json(servidor, tipo):
    _, url, _ = servidor
    cabecalhos = {"Content-Type": tipo} if tipo else {}
    status, _, bruto = _pedido_http(url, "/gerar", b'{"prompt": "oi"}', cabecalhos)
    assert status == 415 and "application/json" in json.loads(bruto)["erro"]
    ok = _pedido_http(url, "/gerar", b'{"prompt": "oi", "max_tokens": 2}',
                      {"Content-Type": "application/json; charset=utf-8"})
    assert ok[0] == 200


@pytest.mark.parametrize("cabecalhos, status", [
    ({"Host": "malicioso.example:80"}, 403),
    ({"Host": "192.168.0.10"}, 403),
    ({"Host": "localhost:1234"}, 200),
    ({"Origin": "http://malicioso.example"}, 403),
    ({"Origin": "null"}, 403),
])
def test_host_e_origin_conferidos(servidor, cabecalhos, status):
    _, url, _ = servidor
    obtido, _, bruto = _pedido_http(url, "/gerar", b'{"prompt": "oi", "max_tokens": 2}',
                                    {"Content-Type": "application/json", **cabecalhos})
    assert obtido == status, bruto
    if status == 403:
        assert "não permitid" in json.loads(bruto)["erro"]


def test_origin_do_proprio_servidor_e_host_aberto_quando_escolhido(minusculo):
    from servidor import iniciar_servidor, parar_servidor

    modelo, tokenizador = minusculo
    srv, url = iniciar_servidor(modelo, tokenizador, porta=0)
    try:
        host = url.split("//")[1]
        assert _pedido_http(url, "/gerar", b'{"prompt": "oi", "max_tokens": 2}',
                            {"Content-Type": "application/json", "Origin": url, "Host": host})[0] == 200
    finally:
        parar_servidor(srv)
    srv, url = iniciar_servidor(modelo, tokenizador, porta=0, host="0.0.0.0")  # aberto para a rede, de propósito
    try:
        porta = url.rsplit(":", 1)[1]
        assert _pedido_http(f"http://127.0.0.1:{porta}", "/saude", metodo="GET",
                            cabecalhos={"Host": "meu-servidor.lan"})[0] == 200
    finally:
        parar_servidor(srv)


# ----------------------------------------------------------------------------------------------------------------
# Sockets: tempo limite, limite de conexões, fila do sistema
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture()
def servidor_impaciente(minusculo):
    from servidor import iniciar_servidor, parar_servidor

    modelo, tokenizador = minusculo
    srv, url = iniciar_servidor(modelo, tokenizador, porta=0, timeout_socket=0.4, max_conexoes=3)
    yield srv, url
    parar_servidor(srv)


@pytest.mark.parametrize("parcial", [
    b"POST /gerar HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # cabeçalhos que não terminam
    b"POST /gerar HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    b'{"prompt": "o',  # corpo que para no meio
])
def test_pedido_que_nao_termina_recebe_408(servidor_impaciente, parcial):
    _, url = servidor_impaciente
    inicio = time.perf_counter()
    resposta = _bruto(url, parcial, timeout=5)
    assert time.perf_counter() - inicio < 3
    assert resposta.startswith(b"HTTP/1.0 408"), resposta[:80]
    assert "demorou demais" in json.loads(resposta.split(b"\r\n\r\n", 1)[1])["erro"]


def test_limite_de_conexoes_e_fila_do_sistema(servidor_impaciente):
    from servidor import FILA_DO_SISTEMA, ServidorGPT, chamar

    srv, url = servidor_impaciente
    assert ServidorGPT.request_queue_size == FILA_DO_SISTEMA >= 128  # o padrão do Python é 5
    porta = int(url.rsplit(":", 1)[1])
    paradas = [socket.create_connection(("127.0.0.1", porta), timeout=5) for _ in range(3)]
    try:
        for s in paradas:
            s.sendall(b"GET /saude HTTP/1.1\r\n")  # ocupam as 3 threads até o tempo limite
        time.sleep(0.1)
        resposta = _bruto(url, b"GET /saude HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert resposta.startswith(b"HTTP/1.0 503") and b"Retry-After: 1" in resposta
    finally:
        for s in paradas:
            s.close()
    time.sleep(0.6)  # as threads ocupadas saem pelo tempo limite e a vaga volta
    assert chamar(url, "/saude")[0] == 200


# ----------------------------------------------------------------------------------------------------------------
# Fila limitada, prazo e clientes que desistem
# ----------------------------------------------------------------------------------------------------------------


def test_fila_cheia_da_503_com_retry_after_e_prazo_esgotado(minusculo):
    from servidor import chamar, iniciar_servidor, parar_servidor

    modelo, tokenizador = minusculo
    srv, url = iniciar_servidor(modelo, tokenizador, porta=0, max_fila=1, prazo_s=1.0)
    try:
        srv.trava.acquire()  # finge que um pedido longo está gerando
        primeiro = {}
        fio = threading.Thread(target=lambda: primeiro.update(r=chamar(url, "/gerar", {"prompt": "oi"})))
        fio.start()
        time.sleep(0.2)  # o primeiro já ocupa a única vaga da fila
        status, cabecalhos, bruto = _pedido_http(url, "/v1/completions", b'{"prompt": "oi"}',
                                                 {"Content-Type": "application/json"})
        assert status == 503 and int(cabecalhos["Retry-After"]) >= 1
        erro = json.loads(bruto)["error"]
        assert "fila" in erro["message"] and erro["type"] == "server_overloaded" and erro["code"] == 503
        fio.join(timeout=5)
        assert primeiro["r"][0] == 503 and "esperou 1 s na fila" in primeiro["r"][1]["erro"]  # prazo esgotado
        srv.trava.release()
        assert chamar(url, "/gerar", {"prompt": "oi", "max_tokens": 2})[0] == 200
    finally:
        parar_servidor(srv)


def test_prazo_para_a_geracao_e_devolve_o_que_saiu(minusculo):
    from servidor import gerar_resposta, validar_pedido

    modelo, tokenizador = minusculo
    pedido = validar_pedido({"prompt": "Capitu", "max_tokens": 30, "formatar": False}, tokenizador.n_vocab)
    resultado = gerar_resposta(modelo, tokenizador, pedido, prazo=time.monotonic() - 1)
    assert resultado["motivo"] == "prazo" and resultado["tokens_gerados"] == 1
    sem_prazo = gerar_resposta(modelo, tokenizador, pedido)
    assert sem_prazo["texto"].startswith(resultado["texto"]) and sem_prazo["tokens_gerados"] > 1


def _abandonar(url, caminho, dados, ler_ate=None):
    """Manda um pedido e fecha a conexão (logo, ou depois de receber ``ler_ate``)."""
    corpo = json.dumps(dados).encode()
    porta = int(url.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", porta), timeout=10)
    s.sendall(f"POST {caminho} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(corpo)}\r\n\r\n".encode() + corpo)
    if ler_ate is not None:
        recebido = b""
        while ler_ate not in recebido:
            recebido += s.recv(4096)
    s.close()


def test_pedidos_abandonados_nao_seguram_o_servidor(minusculo):
    """25 pedidos longos abandonados: quem esperava sai da fila, quem gerava para; sem traceback no registro."""
    from servidor import chamar, iniciar_servidor, parar_servidor

    modelo, tokenizador = minusculo
    registro = io.StringIO()
    lento = _TokenizadorLento(tokenizador, pausa=0.02)  # 50 tokens levariam ~1 s cada pedido
    srv, url = iniciar_servidor(modelo, lento, porta=0, max_tokens_limite=50, silencioso=False, registro=registro)
    assert srv.max_fila < 26  # mais abandonados que vagas: quem desistiu precisa liberar a vaga logo
    try:
        pedido = {"prompt": "Capitu", "max_tokens": 50, "formatar": False}
        inicio = time.perf_counter()
        assert chamar(url, "/gerar", {**pedido, "max_tokens": 5})[0] == 200
        ocioso = time.perf_counter() - inicio
        for _ in range(25):
            _abandonar(url, "/gerar", pedido)
        _abandonar(url, "/v1/completions", {"prompt": "Capitu", "max_tokens": 50, "stream": True},
                   ler_ate=b'"text"')  # desiste no meio do streaming
        time.sleep(0.3)
        inicio = time.perf_counter()
        status, resposta = chamar(url, "/gerar", {**pedido, "max_tokens": 5})
        depois = time.perf_counter() - inicio
        assert status == 200
        assert depois < 2 * ocioso + 0.3, (depois, ocioso)  # antes: esperava os 25 x 50 tokens (~25 s)
    finally:
        parar_servidor(srv)
    linhas = [json.loads(linha) for linha in registro.getvalue().splitlines()]
    assert "Traceback" not in registro.getvalue() and "BrokenPipe" not in registro.getvalue()
    abandonados = [linha for linha in linhas if linha["status"] != 200]
    assert [linha["status"] for linha in linhas].count(200) == 2  # os dois pedidos bons
    assert len(abandonados) == 26 and {linha["status"] for linha in abandonados} <= {499, 503}
    assert sum(linha["status"] == 499 for linha in abandonados) >= srv.max_fila
    assert all(linha.get("tokens_gerados", 0) < 50 for linha in abandonados)  # ninguém gerou até o fim à toa
    assert {"quando", "cliente", "metodo", "rota", "status", "latencia_s"} <= set(linhas[0])
    assert linhas[0]["rota"] == "/gerar" and linhas[0]["status"] == 200 and linhas[0]["tokens_gerados"] >= 1


def test_registro_uma_linha_json_por_pedido(servidor):
    from servidor import chamar

    _, url, registro = servidor
    antes = len(registro.getvalue().splitlines())
    chamar(url, "/saude")
    chamar(url, "/nao-existe")
    chamar(url, "/gerar", {"prompt": "oi", "max_tokens": 2})
    limite = time.monotonic() + 5.0  # a linha do registro é escrita depois que a resposta sai: espera por ela
    while len(registro.getvalue().splitlines()) < antes + 3 and time.monotonic() < limite:
        time.sleep(0.01)
    novas = [json.loads(linha) for linha in registro.getvalue().splitlines()[antes:]]
    # cada pedido roda na sua thread e a linha sai depois da resposta: a ordem das linhas pode trocar
    assert sorted((linha["rota"], linha["status"]) for linha in novas) == [("/gerar", 200), ("/nao-existe", 404),
                                                                           ("/saude", 200)]
    por_rota = {linha["rota"]: linha for linha in novas}
    assert por_rota["/nao-existe"]["motivo"].startswith("Rota desconhecida") and por_rota["/gerar"]["tokens_prompt"] > 0


# ----------------------------------------------------------------------------------------------------------------
# A API compatível com a da OpenAI, com o cliente oficial
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cliente(servidor):
    openai = pytest.importorskip("openai")
    _, url, _ = servidor
    return openai.OpenAI(base_url=url + "/v1", api_key="nao-precisa", max_retries=0, timeout=30)


def test_openai_models_e_completions(cliente, servidor, minusculo):
    from servidor import NOME_DO_MODELO

    modelo, tokenizador = minusculo
    assert [m.id for m in cliente.models.list().data] == [NOME_DO_MODELO]
    texto, calculados, parou = _esperado(modelo, tokenizador, "Capitu olhou", 12)
    r = cliente.completions.create(model=NOME_DO_MODELO, prompt="Capitu olhou", max_tokens=12)
    assert r.object == "text_completion" and r.choices[0].text == texto
    assert r.choices[0].finish_reason == ("stop" if parou else "length")
    n_prompt = len(tokenizador.encode("Capitu olhou"))
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (
        n_prompt, calculados, n_prompt + calculados)
    pedacos = list(cliente.completions.create(model=NOME_DO_MODELO, prompt="Capitu olhou", max_tokens=12,
                                              stream=True))
    assert len(pedacos) >= 3  # chega aos pedaços, não tudo de uma vez
    assert "".join(p.choices[0].text for p in pedacos) == texto
    assert pedacos[-1].choices[0].finish_reason == r.choices[0].finish_reason


def test_openai_stop_e_amostragem(cliente, minusculo):
    modelo, tokenizador = minusculo
    texto, _, _ = _esperado(modelo, tokenizador, "Capitu olhou", 12)
    corte = texto[len(texto) // 2:len(texto) // 2 + 2]
    assert corte.strip()
    for stream in (False, True):
        if stream:
            pedacos = list(cliente.completions.create(model="x", prompt="Capitu olhou", max_tokens=12,
                                                      stop=[corte, "zzzz"], stream=True))
            obtido = "".join(p.choices[0].text for p in pedacos)
            fim = pedacos[-1].choices[0].finish_reason
        else:
            r = cliente.completions.create(model="x", prompt="Capitu olhou", max_tokens=12, stop=corte)
            obtido, fim = r.choices[0].text, r.choices[0].finish_reason
        assert obtido == texto[:texto.find(corte)] and fim == "stop"
    sorteio = dict(model="x", prompt="Capitu", max_tokens=8, temperature=1.0, top_p=0.9, seed=3)
    a, b = (cliente.completions.create(**sorteio).choices[0].text for _ in range(2))
    assert a == b  # mesma semente, mesmo sorteio


def test_openai_chat_plano_e_em_streaming(cliente, minusculo):
    from llm_do_zero import formatar_prompt

    modelo, tokenizador = minusculo
    mensagens = [{"role": "user", "content": "Escreva o plural de: janela"}]
    texto, calculados, _ = _esperado(modelo, tokenizador, formatar_prompt({"instrucao": mensagens[0]["content"]}), 10)
    r = cliente.chat.completions.create(model="x", messages=mensagens, max_tokens=10)
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == texto.strip() and r.usage.completion_tokens == calculados
    pedacos = list(cliente.chat.completions.create(model="x", messages=mensagens, max_tokens=10, stream=True,
                                                   stream_options={"include_usage": True}))
    assert pedacos[0].choices[0].delta.role == "assistant"
    conteudo = "".join(p.choices[0].delta.content or "" for p in pedacos if p.choices)
    assert conteudo.strip() == texto.strip()
    assert pedacos[-1].choices == [] and pedacos[-1].usage.completion_tokens == calculados


def test_openai_erros_no_formato_da_openai_em_portugues(cliente):
    import openai

    casos = [
        (dict(model="x", prompt="oi", temperature=1e-38), "temperature", "pelo menos"),
        (dict(model="x", prompt="oi", max_tokens=10_000), "max_tokens", "entre 1 e 50"),
        (dict(model="x", prompt="oi", top_p=0), "top_p", "(0, 1]"),
        (dict(model="x", prompt="oi", n=3), "n", "valor neutro"),
        (dict(model="x", prompt="palavra " * 300), "prompt", "só enxerga"),
    ]
    for argumentos, param, trecho in casos:
        with pytest.raises(openai.BadRequestError) as erro:
            cliente.completions.create(**argumentos)
        assert erro.value.body["param"] == param and trecho in erro.value.body["message"]
        assert erro.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as erro:
        cliente.chat.completions.create(model="x", messages=[{"role": "assistant", "content": "oi"}])
    assert "última mensagem deve ser do usuário" in erro.value.body["message"]
    with pytest.raises(openai.NotFoundError) as erro:
        cliente.embeddings.create(model="x", input="oi")
    assert "Rota desconhecida" in erro.value.body["message"]


def test_prompt_do_chat_segue_o_modelo_do_capitulo_7(minusculo):
    from llm_do_zero import PROMPT_INTRO, formatar_prompt
    from servidor import prompt_do_chat

    _, tokenizador = minusculo
    um = [{"role": "user", "content": "Escreva o plural de: janela"}]
    assert prompt_do_chat(um) == formatar_prompt({"instrucao": "Escreva o plural de: janela"})
    conversa = [{"role": "system", "content": "Responda curto."}, {"role": "user", "content": "A"},
                {"role": "assistant", "content": "resposta A"}, {"role": "user", "content": "B"}]
    texto = prompt_do_chat(conversa)
    esperado = (formatar_prompt({"instrucao": "A"}) + " resposta A\n\n" + formatar_prompt({"instrucao": "B"}))
    assert texto == esperado.replace(PROMPT_INTRO, "Responda curto.")
    longa = []
    for i in range(40):
        longa += [{"role": "user", "content": f"Pergunta número {i}"}, {"role": "assistant", "content": f"Resp {i}"}]
    longa.append({"role": "user", "content": "Última"})
    cortada = prompt_do_chat(longa, tokenizador, 256)
    assert len(tokenizador.encode(cortada)) <= 256 and cortada.endswith(formatar_prompt({"instrucao": "Última"}))
    assert "Pergunta número 39" in cortada and "Pergunta número 0\n" not in cortada  # ficam as mais recentes


# ----------------------------------------------------------------------------------------------------------------
# A página de conversa num Chromium sem tela
# ----------------------------------------------------------------------------------------------------------------


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """Um Chromium sem tela controlado pelo protocolo DevTools num par de pipes (--remote-debugging-pipe)."""

    def __init__(self, executavel, perfil, largura=900, altura=700):
        le_chrome, escreve_nosso = os.pipe()
        le_nosso, escreve_chrome = os.pipe()

        def ligar():  # no processo filho: o Chromium lê comandos do fd 3 e escreve respostas no fd 4
            a, b = os.dup(le_chrome), os.dup(escreve_chrome)  # acima de 4: o primeiro dup2 não apaga o outro
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [executavel, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
             "--no-default-browser-check", f"--user-data-dir={perfil}", f"--window-size={largura},{altura}",
             "--remote-debugging-pipe", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=ligar, pass_fds=(3, 4))
        os.close(le_chrome)
        os.close(escreve_chrome)
        self.saida, self.entrada, self.buf, self.n = escreve_nosso, le_nosso, b"", 0
        alvos = self.enviar("Target.getTargets")["targetInfos"]
        pagina = next(a["targetId"] for a in alvos if a["type"] == "page")
        self.sessao = self.enviar("Target.attachToTarget", {"targetId": pagina, "flatten": True})["sessionId"]

    def enviar(self, metodo, params=None, sessao=None, timeout=30):
        self.n += 1
        msg = {"id": self.n, "method": metodo, "params": params or {}}
        if sessao:
            msg["sessionId"] = sessao
        os.write(self.saida, json.dumps(msg).encode() + b"\0")
        limite = time.monotonic() + timeout
        while True:
            while b"\0" in self.buf:
                bruto, self.buf = self.buf.split(b"\0", 1)
                resposta = json.loads(bruto)
                if resposta.get("id") == self.n:
                    if "error" in resposta:
                        raise RuntimeError(resposta["error"])
                    return resposta["result"]
            resto = limite - time.monotonic()
            if resto <= 0 or not select.select([self.entrada], [], [], resto)[0]:
                raise TimeoutError(metodo)
            pedaco = os.read(self.entrada, 1 << 20)
            if not pedaco:
                raise ConnectionError("o Chromium fechou")
            self.buf += pedaco

    def avaliar(self, expressao):
        r = self.enviar("Runtime.evaluate", {"expression": expressao, "returnByValue": True}, self.sessao)
        return r["result"].get("value")

    def fechar(self):
        with contextlib.suppress(Exception):  # o navegador pode já ter fechado: o que importa é não deixá-lo aberto
            self.enviar("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.saida)
        os.close(self.entrada)


def esperar_resposta(navegador, segundos=30.0) -> str:
    """Espera a página de conversa terminar (``#estado`` com ``data-estado`` ``pronto`` ou ``erro``)."""
    limite = time.monotonic() + segundos
    while time.monotonic() < limite:
        estado = navegador.avaliar("document.getElementById('estado').dataset.estado")
        if estado in ("pronto", "erro"):
            return estado
        time.sleep(0.05)
    return estado


def test_pagina_de_chat(servidor):
    from servidor import chamar

    _, url, _ = servidor
    status, cabecalhos, corpo = _pedido_http(url, "/", metodo="GET")
    assert status == 200 and cabecalhos["Content-Type"].startswith("text/html")
    assert "connect-src 'self'" in cabecalhos["Content-Security-Policy"]
    pagina = corpo.decode("utf-8")
    assert '<html lang="pt-BR">' in pagina and "/v1/chat/completions" in pagina and "stream: true" in pagina
    assert not re.search(r"(src|href)=\"https?://", pagina)  # nada vindo de fora
    assert chamar(url, "/saude")[0] == 200


@pytest.mark.skipif(_chromium() is None, reason="Chromium não está instalado (apt-get install -y chromium)")
def test_pagina_de_chat_no_chromium_mostra_a_resposta_em_streaming(servidor, tmp_path):
    """A página, num Chromium sem tela, manda a conversa com stream: true e mostra a resposta pedaço a pedaço."""
    from servidor import chamar

    _, url, registro = servidor
    pedido = "Escreva o plural de: janela"
    status, resposta = chamar(url, "/v1/chat/completions", {"messages": [{"role": "user", "content": pedido}],
                                                             "max_tokens": 40})
    assert status == 200
    antes = len(registro.getvalue().splitlines())
    navegador = Chromium(_chromium(), tmp_path / "perfil")
    try:
        # conta quantas vezes o texto da resposta mudou: com streaming, muitas; sem, uma só
        navegador.enviar("Page.enable", sessao=navegador.sessao)
        navegador.enviar("Page.addScriptToEvaluateOnNewDocument", {"source": """
            window.mudancas = 0;  // mudanças no texto da resposta do modelo
            new MutationObserver((registros) => {
                for (const r of registros) {
                    const alvo = r.target.nodeType === 1 ? r.target : r.target.parentElement;
                    if (alvo && alvo.closest(".assistant .texto")) window.mudancas += 1;
                }
            }).observe(document, {subtree: true, characterData: true, childList: true});"""}, navegador.sessao)
        navegador.enviar("Page.navigate", {"url": f"{url}/?mensagem=Escreva%20o%20plural%20de%3A%20janela"},
                         navegador.sessao)
        assert esperar_resposta(navegador) == "pronto"
        textos = navegador.avaliar("[...document.querySelectorAll('#conversa .texto')].map(e => e.textContent)")
        mudancas = navegador.avaliar("window.mudancas")
    finally:
        navegador.fechar()
    assert textos == [pedido, resposta["choices"][0]["message"]["content"]]
    assert mudancas >= 5, mudancas  # o texto foi aparecendo aos pedaços
    limite = time.monotonic() + 5.0  # a linha do registro é escrita logo depois que o streaming termina
    while ('"/v1/chat/completions"' not in "".join(registro.getvalue().splitlines()[antes:])
           and time.monotonic() < limite):
        time.sleep(0.01)
    novas = [json.loads(linha) for linha in registro.getvalue().splitlines()[antes:]]
    # veio mesmo do servidor
    assert ("/v1/chat/completions", 200) in [(linha["rota"], linha["status"]) for linha in novas]


# ----------------------------------------------------------------------------------------------------------------
# Linha de comando
# ----------------------------------------------------------------------------------------------------------------


def test_cli_em_portugues(capsys):
    from servidor import main

    with pytest.raises(SystemExit) as saida:
        main(["--help"])
    assert saida.value.code == 0
    ajuda = capsys.readouterr().out
    assert ajuda.startswith("uso: servidor.py") and "opções:" in ajuda and "mostra esta ajuda e sai" in ajuda
    assert "usage" not in ajuda and "show this help" not in ajuda and "options:" not in ajuda
    with pytest.raises(SystemExit):
        main(["--porta"])
    erro = capsys.readouterr().err
    assert erro.startswith("uso: ") and "argumento --porta: esperava um valor" in erro
    with pytest.raises(SystemExit):
        main(["--prazo", "0"])
    assert "argumento --prazo: precisa ser um número de segundos > 0" in capsys.readouterr().err


def test_cli_porta_ocupada_avisa_antes_de_carregar_o_modelo(capsys):
    from servidor import main

    ocupado = socket.socket()
    ocupado.bind(("127.0.0.1", 0))
    ocupado.listen()
    carregou = []
    try:
        inicio = time.perf_counter()
        codigo = main(["--porta", str(ocupado.getsockname()[1])], carregar_modelo=lambda: carregou.append(1))
        assert time.perf_counter() - inicio < 2
    finally:
        ocupado.close()
    assert codigo == 1 and carregou == []
    assert "não consegui ouvir em 127.0.0.1" in capsys.readouterr().err
