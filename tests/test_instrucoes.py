"""Testes do capítulo 7 (instruction tuning), sobre a cópia do módulo de apoio do capítulo 8 (``cap7``).

Tudo aqui usa lotes escritos à mão, um tokenizador de bytes (BPE sem nenhuma fusão) e um GPT minúsculo feito na
hora: nada de ``modelo_base``, e o arquivo inteiro roda em poucos segundos.
"""

import http.server
import json
import socket
import threading
import time

import pytest
import torch

FIM = 9  # id do token de fim nos lotes feitos à mão


# ------------------------------------------------------------------------------------------------------------------
# modelo de prompt
# ------------------------------------------------------------------------------------------------------------------

def test_prompt_sem_entrada(cap7):
    texto = cap7.formatar_prompt({"instrucao": "Qual é o plural de \"casa\"?", "entrada": "", "saida": "casas"})
    assert texto == (
        "Escreva uma resposta que complete o pedido abaixo.\n\n"
        "### Instrução: Qual é o plural de \"casa\"?\n\n"
        "### Resposta:"
    )


def test_prompt_com_entrada(cap7):
    texto = cap7.formatar_prompt({"instrucao": "Passe para o plural.", "entrada": "o gato", "saida": "os gatos"})
    assert texto == (
        "Escreva uma resposta que complete o pedido abaixo.\n\n"
        "### Instrução: Passe para o plural.\n\n"
        "### Entrada: o gato\n\n"
        "### Resposta:"
    )
    assert texto.startswith(cap7.PROMPT_INTRO)
    # a resposta de referência nunca entra no prompt
    assert "os gatos" not in texto


def test_prompt_entrada_so_com_espacos_e_omitida(cap7):
    com_espacos = cap7.formatar_prompt({"instrucao": "Diga oi.", "entrada": "   "})
    sem_chave = cap7.formatar_prompt({"instrucao": "Diga oi."})
    assert "### Entrada:" not in com_espacos
    assert com_espacos == sem_chave
    with pytest.raises(ValueError, match="instrução"):
        cap7.formatar_prompt({"instrucao": "  ", "entrada": "x"})


# ------------------------------------------------------------------------------------------------------------------
# função de collate
# ------------------------------------------------------------------------------------------------------------------

def _lote():
    # (ids, n_prompt): a 1ª sequência tem 4 tokens (2 de prompt), a 2ª tem 3 (1 de prompt); ambas terminam no fim
    return [([5, 6, 7, FIM], 2), ([1, 2, FIM], 1)]


def test_collate_padding_deslocamento_e_menos_100(cap7):
    entrada, alvo = cap7.colar_instrucoes(_lote(), id_fim=FIM)
    assert entrada.dtype == torch.long and alvo.dtype == torch.long
    assert entrada.tolist() == [[5, 6, 7],
                                [1, 2, FIM]]      # 2ª linha completada com o fim
    assert alvo.tolist() == [[6, 7, FIM],
                             [2, FIM, -100]]      # o 1º fim fica; o padding vira -100


def test_collate_padding_longo_so_o_primeiro_fim_fica(cap7):
    entrada, alvo = cap7.colar_instrucoes([([3, FIM], 1), ([1, 2, 3, 4, FIM], 1)], id_fim=FIM)
    assert entrada.tolist() == [[3, FIM, FIM, FIM],
                                [1, 2, 3, 4]]
    assert alvo.tolist() == [[FIM, -100, -100, -100],
                             [2, 3, 4, FIM]]


def test_collate_valor_de_ignorar(cap7):
    _, alvo = cap7.colar_instrucoes(_lote(), id_fim=FIM, ignorar=-1)
    assert alvo.tolist() == [[6, 7, FIM], [2, FIM, -1]]


def test_collate_mascara_do_prompt(cap7):
    _, alvo = cap7.colar_instrucoes(_lote(), id_fim=FIM, mascarar_prompt=True)
    # linha 1: alvo[0] = 6 é token do prompt -> -100; 7 (1º token da resposta) e o fim ficam
    # linha 2: com 1 token de prompt, o alvo[0] = 2 já é resposta
    assert alvo.tolist() == [[-100, 7, FIM],
                             [2, FIM, -100]]
    _, alvo = cap7.colar_instrucoes([([5, 6, 7, FIM], 3), ([1, 2, FIM], 0)], id_fim=FIM, mascarar_prompt=True)
    assert alvo.tolist() == [[-100, -100, FIM],
                             [2, FIM, -100]]      # n_prompt = 0: nada a mascarar


def test_collate_mascara_muda_so_o_prompt(cap7):
    _, sem = cap7.colar_instrucoes(_lote(), id_fim=FIM, mascarar_prompt=False)
    _, com = cap7.colar_instrucoes(_lote(), id_fim=FIM, mascarar_prompt=True)
    diferentes = (sem != com).nonzero().tolist()
    assert diferentes == [[0, 0]]


def test_collate_corte_no_comprimento_maximo(cap7):
    entrada, alvo = cap7.colar_instrucoes(_lote(), id_fim=FIM, comprimento_maximo=2)
    assert entrada.tolist() == [[5, 6], [1, 2]]
    assert alvo.tolist() == [[6, 7], [2, FIM]]
    entrada, alvo = cap7.colar_instrucoes(_lote(), id_fim=FIM, comprimento_maximo=10)  # maior que o lote: nada muda
    assert entrada.shape == alvo.shape == (2, 3)


def test_collate_dispositivo(cap7):
    entrada, alvo = cap7.colar_instrucoes(_lote(), id_fim=FIM)
    assert entrada.device.type == "cpu" and alvo.device.type == "cpu"
    entrada, alvo = cap7.colar_instrucoes(_lote(), id_fim=FIM, dispositivo="meta")
    assert entrada.device.type == "meta" and alvo.device.type == "meta"
    assert entrada.shape == alvo.shape == (2, 3)


def test_collate_aceita_tensores_e_recusa_lote_ruim(cap7):
    entrada, _ = cap7.colar_instrucoes([(torch.tensor([5, 6, 7, FIM]), 2), (torch.tensor([1, 2, FIM]), 1)], FIM)
    assert entrada.tolist() == [[5, 6, 7], [1, 2, FIM]]
    with pytest.raises(ValueError, match="terminar com o token de fim"):
        cap7.colar_instrucoes([([5, 6, 7], 1)], id_fim=FIM)
    with pytest.raises(ValueError, match="vazio"):
        cap7.colar_instrucoes([], id_fim=FIM)


def test_perda_ignora_as_posicoes_menos_100(cap7):
    """A entropia cruzada do capítulo 5 com o alvo do collate = média só sobre as posições que não são -100."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 12)

    class Fixo(torch.nn.Module):
        def forward(self, ids):
            return logits

    entrada, alvo = cap7.colar_instrucoes(_lote(), id_fim=FIM, mascarar_prompt=True)
    perda = cap7.perda_do_batch(Fixo(), entrada, alvo)
    validas = [(0, 1), (0, 2), (1, 0), (1, 1)]
    esperado = torch.stack([
        -torch.log_softmax(logits[b, t], dim=-1)[alvo[b, t]] for b, t in validas
    ]).mean()
    assert torch.allclose(perda, esperado)


# ------------------------------------------------------------------------------------------------------------------
# dataset e geração (tokenizador de bytes: BPE sem fusões, ids = bytes UTF-8, <|endoftext|> = 256)
# ------------------------------------------------------------------------------------------------------------------

def _tokenizador_bytes(cap7):
    return cap7.TokenizadorBPE([])


def test_dataset_instrucoes_prompt_resposta_e_fim(cap7):
    tok = _tokenizador_bytes(cap7)
    exemplo = {"instrucao": "Diga oi.", "entrada": "", "saida": "oi", "tarefa": "t"}
    ds = cap7.DatasetInstrucoes([exemplo], tok)
    ids, n_prompt = ds[0]
    prompt = cap7.formatar_prompt(exemplo).encode("utf-8")
    assert ds.id_fim == 256
    assert n_prompt == len(prompt)
    assert ids.tolist() == list(prompt) + list(b" oi") + [256]  # a resposta entra com um espaço na frente
    longo = {"instrucao": "Diga oi.", "entrada": "", "saida": "oi" * 50, "tarefa": "t"}
    ds = cap7.DatasetInstrucoes([exemplo, longo], tok, max_tokens=len(prompt) + 4)
    assert len(ds) == 1 and ds.n_descartados == 1


def test_gerar_respostas_em_lote_igual_a_responder(cap7):
    tok = _tokenizador_bytes(cap7)
    cfg = dict(cap7.GPT_MINI, vocab_size=257, context_length=96, d_model=16, n_heads=2, n_layers=1, dropout=0.0)
    torch.manual_seed(1)
    modelo = cap7.criar_modelo_gpt(dict(cfg, atencao_rapida=True)).eval()  # o modelo do curso (gera com cache)
    exemplos = [{"instrucao": "Diga oi.", "entrada": "", "saida": "oi", "tarefa": "a"},
                {"instrucao": "Diga tu.", "entrada": "", "saida": "tu", "tarefa": "a"},  # mesmo nº de tokens
                {"instrucao": "Diga.", "entrada": "x", "saida": "x", "tarefa": "b"}]
    em_lote = cap7.gerar_respostas(modelo, tok, exemplos, max_novos_tokens={"a": 3, "b": 5}, mostrar=False)
    with pytest.warns(UserWarning, match="fica de fora da janela"):  # prompts maiores que o contexto: a janela desliza
        um_a_um = [cap7.responder(modelo, tok, e, max_novos_tokens=n) for e, n in zip(exemplos, (3, 3, 5), strict=True)]
    assert em_lote == um_a_um
    assert modelo.training is False


def test_limites_de_tokens(cap7):
    tok = _tokenizador_bytes(cap7)
    exemplos = [{"saida": "abc", "tarefa": "a"}, {"saida": "abcdef", "tarefa": "a"}, {"saida": "é", "tarefa": "b"}]
    # tokens = bytes de " " + resposta, mais o fim, mais a folga
    assert cap7.limites_de_tokens(exemplos, tok, folga=2) == {"a": 7 + 1 + 2, "b": 3 + 1 + 2}


# ------------------------------------------------------------------------------------------------------------------
# avaliação automática
# ------------------------------------------------------------------------------------------------------------------

def test_normalizar_resposta(cap7):
    assert cap7.normalizar_resposta("  Nós  Falamos!") == "nos falamos"
    assert cap7.normalizar_resposta("atum, garfo, ré") == "atum garfo re"
    assert cap7.normalizar_resposta("AÇÃO.") == "acao"
    assert cap7.normalizar_resposta("duzentos e três") == "duzentos e tres"


def test_avaliar_exata_normalizada_e_alternativas(cap7):
    respostas = ["casas", "Casas.", "comprido", "baixo", "nós falamos", "nós  falamos", "15"]
    referencias = ["casas", "casas", "longo", "alto", "nós falamos", "nós falamos", "16"]
    tarefas = ["plural", "plural", "antonimo", "antonimo", "conjugacao", "conjugacao", "conta"]
    r = cap7.avaliar(respostas, referencias, tarefas)
    assert r["plural"] == {"n": 2, "exata": 0.5, "normalizada": 1.0, "f1": 1.0, "pontuacao": 1.0}
    # "comprido" é alternativa aceita para "longo" (normalizada), mas não é exata; "baixo" está errado
    assert r["antonimo"]["exata"] == 0.0
    assert r["antonimo"]["normalizada"] == 0.5
    assert r["conjugacao"]["exata"] == 0.5 and r["conjugacao"]["normalizada"] == 1.0
    assert r["conta"]["normalizada"] == 0.0
    assert r["geral"]["n"] == 7
    assert r["geral"]["exata"] == pytest.approx(2 / 7)
    assert r["geral"]["normalizada"] == pytest.approx(5 / 7)


def test_alternativa_vale_so_na_sua_tarefa(cap7):
    assert cap7.acertou("comprido", "longo", "antonimo")
    assert not cap7.acertou("comprido", "longo", "plural")
    assert not cap7.acertou("longo", "comprido", "antonimo")  # a alternativa não vira referência


def test_pontuacao_do_glossario_e_f1(cap7):
    referencia = "Um vetor de números aprendido que representa um token."
    # resposta: "um vetor que representa um token" -> 6 palavras, todas na referência (com repetição de "um")
    resposta = "Um vetor que representa um token."
    assert cap7.f1_palavras(resposta, referencia) == pytest.approx(2 * 1.0 * (6 / 9) / (1.0 + 6 / 9))
    assert cap7.f1_palavras("nada a ver", referencia) == 0.0
    assert cap7.f1_palavras(referencia, referencia) == 1.0
    r = cap7.avaliar([resposta, referencia], [referencia, referencia], ["glossario", "glossario"])
    g = r["glossario"]
    assert g["exata"] == 0.5 and g["normalizada"] == 0.5
    assert g["pontuacao"] == pytest.approx(g["f1"]) and g["f1"] == pytest.approx((0.8 + 1.0) / 2)


def test_avaliar_tamanhos_diferentes(cap7):
    with pytest.raises(ValueError, match="mesmo tamanho"):
        cap7.avaliar(["a"], ["a", "b"], ["t", "t"])


# ------------------------------------------------------------------------------------------------------------------
# juiz opcional (Ollama)
# ------------------------------------------------------------------------------------------------------------------

_EXEMPLO = {"instrucao": "Qual é o plural de \"casa\"?", "entrada": "", "saida": "casas"}


def _porta_fechada() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # ao sair do with, ninguém mais escuta nesta porta


def test_juiz_sem_servidor_devolve_none(cap7, capsys):
    url = f"http://127.0.0.1:{_porta_fechada()}/api/generate"
    assert cap7.juiz_ollama(_EXEMPLO, "casas", url=url, timeout=2.0) is None
    assert "Juiz indisponível" in capsys.readouterr().out


@pytest.mark.lento
def test_juiz_sem_servidor_desiste_antes_do_timeout(cap7):
    """Porta fechada recusa a conexão na hora: o juiz não fica esperando o timeout inteiro."""
    url = f"http://127.0.0.1:{_porta_fechada()}/api/generate"
    inicio = time.perf_counter()
    assert cap7.juiz_ollama(_EXEMPLO, "casas", url=url, timeout=2.0, mostrar=False) is None
    assert time.perf_counter() - inicio < 2.0


class _OllamaFalso(http.server.BaseHTTPRequestHandler):
    resposta = {"response": "Nota: 85."}
    pedidos = []

    def do_POST(self):
        corpo = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).pedidos.append(json.loads(corpo))
        dados = json.dumps(type(self).resposta).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(dados)))
        self.end_headers()
        self.wfile.write(dados)

    def log_message(self, *args):
        pass


def test_juiz_le_a_nota_do_servidor(cap7):
    servidor = http.server.HTTPServer(("127.0.0.1", 0), _OllamaFalso)
    fio = threading.Thread(target=servidor.serve_forever, daemon=True)
    fio.start()
    try:
        url = f"http://127.0.0.1:{servidor.server_address[1]}/api/generate"
        assert cap7.juiz_ollama(_EXEMPLO, "casas", modelo_juiz="teste", url=url, timeout=5.0) == 85
        pedido = _OllamaFalso.pedidos[-1]
        assert pedido["model"] == "teste" and pedido["stream"] is False
        assert "casas" in pedido["prompt"] and "plural" in pedido["prompt"]
        _OllamaFalso.resposta = {"response": "não sei"}
        assert cap7.juiz_ollama(_EXEMPLO, "casas", url=url, timeout=5.0, mostrar=False) is None
    finally:
        _OllamaFalso.resposta = {"response": "Nota: 85."}
        servidor.shutdown()
        servidor.server_close()
