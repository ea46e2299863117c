"""Capítulo 8 — sistemas: treino distribuído (DDP com torchrun), o servidor HTTP e as medidas de desempenho.

Tudo roda em CPU e só em 127.0.0.1, com modelos minúsculos criados aqui mesmo.
"""
import json
import math
import sys
import threading

import pytest
import torch

from conftest import RAIZ

PASTA = RAIZ / "08-extras"
if str(PASTA) not in sys.path:
    sys.path.insert(0, str(PASTA))


# ----------------------------------------------------------------------------------------------------------------
# Servidor
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servidor_minusculo():
    import llm_do_zero as m
    from servidor import iniciar_servidor, parar_servidor

    m.fixar_semente(7)
    cfg = dict(m.GPT_BASE_RAPIDO, d_model=32, n_heads=2, n_layers=1)
    modelo = m.criar_modelo_gpt(cfg).eval()
    tokenizador = m.tokenizador_machado(m.N_FUSOES_BASE)
    servidor, url = iniciar_servidor(modelo, tokenizador, porta=0, max_tokens_limite=50)
    yield servidor, url, modelo, tokenizador
    parar_servidor(servidor)


def test_saude_e_pedido_bom(servidor_minusculo):
    from servidor import chamar

    _, url, _, _ = servidor_minusculo
    assert url.startswith("http://127.0.0.1:")
    status, resposta = chamar(url, "/saude")
    assert status == 200 and resposta["status"] == "ok"
    status, resposta = chamar(url, "/gerar", {"prompt": "Escreva o plural de: janela", "max_tokens": 5})
    assert status == 200, resposta
    assert set(resposta) >= {"texto", "tokens_gerados", "tokens_por_segundo", "latencia_s"}
    assert isinstance(resposta["texto"], str)
    assert 1 <= resposta["tokens_gerados"] <= 5
    assert resposta["tokens_por_segundo"] > 0 and resposta["latencia_s"] > 0


def test_geracao_deterministica_e_com_amostragem(servidor_minusculo):
    from servidor import chamar

    _, url, _, _ = servidor_minusculo
    guloso = {"prompt": "Capitu", "max_tokens": 6, "formatar": False}
    assert chamar(url, "/gerar", guloso)[1]["texto"] == chamar(url, "/gerar", guloso)[1]["texto"]
    sorteio = {"prompt": "Capitu", "max_tokens": 6, "temperatura": 1.0, "top_k": 20, "semente": 5, "formatar": False}
    a, b = chamar(url, "/gerar", sorteio), chamar(url, "/gerar", sorteio)
    assert a[0] == b[0] == 200 and a[1]["texto"] == b[1]["texto"]


def test_servidor_gera_o_mesmo_que_o_gerar_texto(servidor_minusculo):
    """O servidor usa a geração única do curso (gerar_texto com KV cache): mesmo texto que a chamada direta."""
    from llm_do_zero import gerar_texto, id_fim_de_texto
    from servidor import gerar_resposta

    _, _, modelo, tokenizador = servidor_minusculo
    ids = torch.tensor([tokenizador.encode("Capitu olhou para mim")])
    for n in (1, 7, 30):
        pedido = {"prompt": "Capitu olhou para mim", "entrada": "", "formatar": False, "max_tokens": n,
                  "temperatura": 0.0, "top_k": None, "semente": None}
        resposta = gerar_resposta(modelo, tokenizador, pedido)
        esperado = gerar_texto(modelo, ids, n, id_fim=id_fim_de_texto(tokenizador))[0, ids.shape[1]:].tolist()
        fim = id_fim_de_texto(tokenizador)
        esperado = esperado[:esperado.index(fim)] if fim in esperado else esperado
        assert resposta["kv_cache"] and resposta["texto"] == tokenizador.decode(esperado)  # o texto cru


@pytest.mark.parametrize("dados, status, trecho", [
    (b"{nada", 400, "JSON inválido"),
    (b"", 400, "vazio"),
    (b"[1, 2]", 400, "objeto JSON"),
    ({"max_tokens": 3}, 400, "Falta o campo obrigatório 'prompt'"),
    ({"prompt": 42}, 400, "deve ser um texto"),
    ({"prompt": "   "}, 400, "vazio"),
    ({"prompt": "palavra " * 200}, 400, "só enxerga"),
    ({"prompt": "a", "max_tokens": 0}, 400, "'max_tokens' deve estar entre 1 e 50"),
    ({"prompt": "a", "max_tokens": 10**9}, 400, "'max_tokens' deve estar entre"),
    ({"prompt": "a", "max_tokens": "10"}, 400, "'max_tokens' deve ser um número inteiro"),
    ({"prompt": "a", "max_tokens": 2.5}, 400, "'max_tokens' deve ser um número inteiro"),
    ({"prompt": "a", "temperatura": -0.5}, 400, "'temperatura' deve estar entre"),
    ({"prompt": "a", "temperatura": float("nan")}, 400, "número finito"),
    ({"prompt": "a", "temperatura": float("inf")}, 400, "número finito"),
    ({"prompt": "a", "temperatura": "quente"}, 400, "'temperatura' deve ser um número"),
    ({"prompt": "a", "top_k": 0}, 400, "'top_k' deve estar entre 1"),
    ({"prompt": "a", "top_k": -3}, 400, "'top_k' deve estar entre 1"),
    ({"prompt": "a", "top_k": True}, 400, "'top_k' deve ser um número inteiro"),
    ({"prompt": "a", "temperature": 0.7}, 400, "Campo(s) desconhecido(s): temperature"),
])
def test_pedidos_ruins_viram_4xx_em_portugues(servidor_minusculo, dados, status, trecho):
    from servidor import chamar

    _, url, _, _ = servidor_minusculo
    if isinstance(dados, bytes):
        obtido, resposta = chamar(url, "/gerar", metodo="POST", corpo=dados)
    else:
        obtido, resposta = chamar(url, "/gerar", dados)
    assert obtido == status, resposta
    assert trecho in resposta["erro"]


@pytest.mark.parametrize("metodo, caminho, status", [
    ("GET", "/nao-existe", 404), ("POST", "/nao-existe", 404), ("GET", "/gerar", 405), ("POST", "/saude", 405),
    ("DELETE", "/gerar", 405), ("PUT", "/saude", 405), ("BREW", "/gerar", 501),
])
def test_rotas_e_metodos(servidor_minusculo, metodo, caminho, status):
    from servidor import chamar

    _, url, _, _ = servidor_minusculo
    corpo = b'{"prompt": "a"}' if metodo in ("POST", "PUT") else None
    obtido, resposta = chamar(url, caminho, metodo=metodo, corpo=corpo)
    assert obtido == status
    assert resposta["erro"]  # sempre um JSON com a explicação


def test_corpo_grande_demais_e_servidor_continua_de_pe(servidor_minusculo):
    from servidor import TAMANHO_MAXIMO_CORPO, chamar

    _, url, _, _ = servidor_minusculo
    try:
        status, resposta = chamar(url, "/gerar", metodo="POST", corpo=b"x" * (TAMANHO_MAXIMO_CORPO + 1))
        assert status == 413 and "grande demais" in resposta["erro"]
    except (ConnectionError, OSError):
        pass  # o servidor pode fechar a conexão antes de o cliente terminar de mandar o corpo
    assert chamar(url, "/saude")[0] == 200


def test_pedidos_concorrentes_todos_respondidos(servidor_minusculo):
    from servidor import chamar

    servidor, url, _, _ = servidor_minusculo
    antes = servidor.n_pedidos
    resultados = [None] * 8

    def pedir(i):
        resultados[i] = chamar(url, "/gerar", {"prompt": f"Pedido número {i}", "max_tokens": 4, "temperatura": 0.5,
                                               "semente": i})

    threads = [threading.Thread(target=pedir, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [r[0] for r in resultados] == [200] * 8
    assert all(r[1]["tokens_gerados"] >= 1 for r in resultados)
    assert servidor.n_pedidos - antes == 8


def test_validar_pedido_preenche_padroes():
    from servidor import MAX_TOKENS_PADRAO, ErroDePedido, validar_pedido

    pedido = validar_pedido({"prompt": "oi"}, n_vocab=100)
    assert pedido["max_tokens"] == MAX_TOKENS_PADRAO and pedido["temperatura"] == 0.0 and pedido["top_k"] is None
    with pytest.raises(ErroDePedido, match="top_k"):
        validar_pedido({"prompt": "oi", "top_k": 101}, n_vocab=100)


def _erro_da_cli(main, argv, capsys) -> str:
    """Roda ``main(argv)`` de um script e devolve a mensagem de erro (a CLI deve sair com código 2)."""
    with pytest.raises(SystemExit) as saida:
        main(argv)
    assert saida.value.code == 2
    return capsys.readouterr().err


def test_cli_do_servidor_recusa_argumentos_ruins(capsys):
    from servidor import main

    assert "a porta deve estar entre 0 e 65535" in _erro_da_cli(main, ["--porta", "70000"], capsys)
    assert "a porta deve ser um número inteiro" in _erro_da_cli(main, ["--porta", "oito"], capsys)
    assert "argumentos desconhecidos" in _erro_da_cli(main, ["--prota", "8000"], capsys)


# ----------------------------------------------------------------------------------------------------------------
# DDP com torchrun
# ----------------------------------------------------------------------------------------------------------------

_CFG_DDP_MINUSCULO = {"vocab_size": 4257, "context_length": 16, "d_model": 16, "n_heads": 2, "n_layers": 1,
                      "dropout": 0.0, "qkv_bias": False, "atencao_rapida": True, "amarrar_pesos": True}


def test_ddp_com_2_processos_bate_com_1_processo():
    from ddp_pretreino import executar, maior_diferenca, treinar_ddp

    comum = {"passos": 6, "batch_global": 4, "cfg": _CFG_DDP_MINUSCULO, "max_caracteres": 20_000}
    dois = executar(n_processos=2, **comum, timeout=240)
    assert dois["world_size"] == 2 and dois["backend"] == "gloo" and len(dois["perdas"]) == 6
    um = treinar_ddp(**comum, microlotes=1, threads=1, mostrar=False)  # no próprio processo: world size 1
    acumulado = treinar_ddp(**comum, microlotes=2, threads=1, mostrar=False)
    assert um["world_size"] == 1
    assert all(math.isfinite(p) for p in um["perdas"])
    assert um["perdas"][-1] < um["perdas"][0]  # aprendeu alguma coisa
    assert maior_diferenca(dois["perdas"], um["perdas"]) < 1e-4
    assert maior_diferenca(acumulado["perdas"], um["perdas"]) < 1e-4


def test_ddp_cli_argumentos_ruins(capsys, tmp_path):
    from ddp_pretreino import main

    assert "precisa ser um inteiro >= 1" in _erro_da_cli(main, ["--passos", "0"], capsys)
    assert "esperava um número" in _erro_da_cli(main, ["--lr", "rápido"], capsys)
    assert "precisa ser divisível" in _erro_da_cli(main, ["--batch-global", "6", "--microlotes", "4"], capsys)
    assert "divisível por --cabecas" in _erro_da_cli(main, ["--d-model", "30", "--cabecas", "4"], capsys)
    assert "não existe" in _erro_da_cli(main, ["--comparar", str(tmp_path / "nada.json")], capsys)


def test_ddp_comparar_recusa_execucao_de_outra_receita(capsys, tmp_path):
    """O JSON de perdas leva a impressão digital da receita; --comparar só aceita a mesma receita."""
    from ddp_pretreino import main

    base = ["--passos", "2", "--batch-global", "2", "--context-length", "16", "--d-model", "16", "--camadas", "1",
            "--cabecas", "2", "--max-caracteres", "20000", "--silencioso", "--threads", "1"]
    assert main(base + ["--saida", str(tmp_path / "a.json")]) == 0
    assert len(json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["impressao_digital"]) == 16
    assert main(base + ["--microlotes", "2", "--comparar", str(tmp_path / "a.json")]) == 0  # microlotes não é receita
    capsys.readouterr()
    assert main(base + ["--semente", "7", "--comparar", str(tmp_path / "a.json")]) == 1
    assert "outra receita" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.tmp"))


def test_ddp_batch_global_indivisivel_da_erro_claro():
    from ddp_pretreino import criar_loader_distribuido

    with pytest.raises(ValueError, match="divisível pelo número de processos"):
        criar_loader_distribuido(list(range(10)), batch_global=3, rank=0, world_size=2)


# ----------------------------------------------------------------------------------------------------------------
# Desempenho
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.lento
def test_desempenho_rapido_devolve_linhas_sensatas(monkeypatch):
    import desempenho

    pequenos = desempenho.tamanhos(True)
    pequenos.update(cfg=dict(pequenos["cfg"], context_length=32, d_model=32, n_layers=1), batch=2, rodadas=2,
                    passos_por_rodada=1, n_matmul=256, tokens_prompt=4, tokens_novos=8, rodadas_geracao=1,
                    caracteres_bpe=2000, compilar=False)
    monkeypatch.setattr(desempenho, "tamanhos", lambda rapido: pequenos)
    # um pico de matmul fixo: o MFU de cada rodada fica proporcional aos tokens/s e dá para conferir a conta abaixo
    pico = 40.0
    monkeypatch.setattr(desempenho, "medir_pico_matmul", lambda n: pico)
    linhas = desempenho.medir_desempenho(rapido=True)
    grupos = {linha["grupo"] for linha in linhas}
    assert {"treino", "matmul", "MFU", "perfil", "BPE", "geração", "máquina"} <= grupos
    perfil = {linha["variante"]: linha["valor"] for linha in linhas
              if linha["grupo"] == "perfil" and linha["unidade"] == "% do passo"}
    assert set(perfil) == {c for c, _ in desempenho.CATEGORIAS_DO_PERFIL}
    assert abs(sum(perfil.values()) - 100) < 1e-6  # as categorias repartem o passo inteiro
    assert perfil["multiplicações de matrizes"] > 0 and perfil["atenção (SDPA)"] > 0 and perfil["GELU"] > 0
    for linha in linhas:
        assert linha["valor"] >= 0 and math.isfinite(linha["valor"]), linha
        assert linha["razao"] is None or linha["razao"] > 0
    treino = [linha for linha in linhas if linha["grupo"] == "treino"]
    assert treino[0]["variante"].startswith("equivalente ao nanoGPT") and treino[0]["razao"] == 1.0
    assert "caminho rápido (fp32)" in {linha["variante"] for linha in treino}
    for linha in treino[1:]:
        # a mediana fica dentro da faixa das rodadas
        assert linha["faixa"][0] <= linha["razao"] <= linha["faixa"][1], linha
    # MFU = FLOPs por segundo ÷ pico, com os FLOPs do passo contados aqui à mão (Kaplan/PaLM): por token, 6·N pelas
    # matrizes de pesos — N = 12·L·d² nos blocos (QKV 3d², projeção d², feed-forward 8d²) + V·d da cabeça de
    # saída — e 12·L·T·d pela atenção. Um erro de unidade, de fator ou de FLOPs por passo × por token muda o número.
    cfg = pequenos["cfg"]
    d, n_camadas, contexto = cfg["d_model"], cfg["n_layers"], cfg["context_length"]
    flops_por_token = 6 * (12 * n_camadas * d * d + cfg["vocab_size"] * d) + 12 * n_camadas * contexto * d
    tokens_por_s = {linha["variante"]: linha["valor"] for linha in treino}
    mfu = {linha["variante"]: linha["valor"] for linha in linhas if linha["grupo"] == "MFU"}
    assert len(mfu) == 3 and not any("bf16" in nome for nome in mfu)  # o pico é de fp32: bf16 fica de fora
    for nome, valor in mfu.items():
        assert valor == pytest.approx(100 * flops_por_token * tokens_por_s[nome] / (pico * 1e9), rel=1e-9), nome
    bpe = [linha for linha in linhas if linha["grupo"] == "BPE"]
    assert bpe[1]["obs"] == "ids idênticos"
    geracao = [linha for linha in linhas if linha["grupo"] == "geração"]
    assert geracao[0]["variante"].startswith("transformers") and len(geracao) == 3
    assert all(linha["obs"].endswith("tokens idênticos") for linha in geracao[1:]), geracao
    tabela = desempenho.formatar_tabela(linhas)
    assert "razão" in tabela and "tokens/s" in tabela


def test_equivalente_nanogpt_e_transformers_fazem_a_mesma_conta():
    """As referências da tabela são justas: o GPT "estilo nanoGPT" dá a perda de um cálculo direto, e o
    GPT2LMHeadModel com os nossos pesos dá os mesmos logits que o nosso modelo."""
    import llm_do_zero as m
    import torch.nn.functional as F
    from desempenho import ModeloEstiloNanoGPT, para_gpt2_do_transformers

    cfg = dict(m.GPT_BASE_RAPIDO, vocab_size=40, context_length=12, d_model=16, n_heads=2, n_layers=2)
    torch.manual_seed(0)
    ids = torch.randint(0, 40, (2, 12))
    ref = ModeloEstiloNanoGPT(cfg)
    assert ref.lm_head.weight is ref.wte.weight
    x = ref.wte(ids) + ref.wpe(torch.arange(12))
    for bl in ref.blocos:
        q, k, v = bl["c_attn"](bl["ln_1"](x)).split(16, dim=2)
        q, k, v = (z.view(2, 12, 2, 8).transpose(1, 2) for z in (q, k, v))
        pesos = (q @ k.transpose(2, 3) / 8 ** 0.5).masked_fill(torch.ones(12, 12).triu(1).bool(), float("-inf"))
        x = x + bl["c_proj"]((pesos.softmax(-1) @ v).transpose(1, 2).reshape(2, 12, 16))
        x = x + bl["mlp_proj"](F.gelu(bl["c_fc"](bl["ln_2"](x))))
    esperado = F.cross_entropy(ref.lm_head(ref.ln_f(x)).flatten(0, 1), ids.flatten())
    assert torch.allclose(ref(ids, ids), esperado, atol=1e-5)

    nosso = m.criar_modelo_gpt(cfg).eval()
    hf = para_gpt2_do_transformers(nosso, cfg)
    with torch.no_grad():
        assert torch.allclose(hf(ids).logits, nosso(ids), atol=1e-5)


def test_flops_por_token():
    import llm_do_zero as m
    from desempenho import flops_por_token_treino, parametros_de_matmul

    cfg = dict(m.GPT_BASE_RAPIDO)
    modelo = m.criar_modelo_gpt(cfg)
    d, v, L, T = cfg["d_model"], cfg["vocab_size"], cfg["n_layers"], cfg["context_length"]
    por_bloco = 3 * d * d + d * d + 2 * 4 * d * d  # qkv + proj_saida + feed-forward
    assert parametros_de_matmul(modelo) == L * por_bloco + v * d
    assert flops_por_token_treino(modelo, cfg) == 6 * (L * por_bloco + v * d) + 12 * L * T * d


def test_desempenho_cli_argumento_ruim(capsys):
    from desempenho import main

    assert "esperava um número inteiro" in _erro_da_cli(main, ["--threads", "zero"], capsys)
    assert "precisa ser um inteiro >= 1" in _erro_da_cli(main, ["--threads", "0"], capsys)
