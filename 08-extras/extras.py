# ARQUIVO GERADO — não edite à mão: a próxima construção apagaria a mudança.
# Edite as células com a tag "modulo" em 08-extras/notebook*.pct.py e rode `python ferramentas/curso.py construir`
# (veja CONTRIBUTING.md).
"""Capítulo 8 — extras: as versões finais do que os notebooks deste capítulo constroem.

O capítulo 8 não tem capítulo seguinte, então este arquivo faz o papel do bloco de capítulo do módulo de apoio:
cada função, classe e constante aqui é uma célula marcada com a tag ``modulo`` de um notebook do capítulo 8
(``notebook.ipynb``, depois ``notebook_<tema>.ipynb`` em ordem alfabética). Os scripts do capítulo importam daqui.
"""

import copy
import importlib.util
import math
import os
import random
import re
import statistics
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from llm_do_zero import (
    ARQUIVO_INSTRUCOES,
    AtencaoMultiCabeca,
    AtencaoRapida,
    CamadaNorm,
    DatasetInstrucoes,
    FeedForward,
    GELU,
    ModeloGPT,
    acertou,
    acuracia,
    avaliar,
    caminho_para_mostrar,
    colar_instrucoes,
    conferir_configuracao,
    criar_modelo_gpt,
    criar_otimizador,
    dispositivo_do_modelo,
    gerar_respostas,
    id_fim_de_texto,
    inicializar_pesos,
    laco_de_treino,
    lotes_sem_fim,
    modo_avaliacao,
    parametros_treinaveis,
    passo_de_treino,
    perda_do_batch,
    projetar_qkv,
    taxa_aprendizado,
    treinar_classificador,
)


# ----------------------------------------------------------------------------------------------------------------
# LoRA: uma correção de posto baixo treinável sobre uma camada Linear congelada
# ----------------------------------------------------------------------------------------------------------------


class LinearComLoRA(nn.Module):
    """Uma ``nn.Linear`` congelada mais uma correção de posto baixo treinável (LoRA).

    ``saída = base(x) + (alpha / r) · x · Aᵀ · Bᵀ``, com ``A``: ``(r, entrada)`` e ``B``: ``(saída, r)``. A camada
    original (``base``) fica com ``requires_grad = False``; só ``A`` e ``B`` treinam. ``A`` começa aleatória e ``B``
    começa em ZERO: no início, a camada é idêntica à original. Em vez de ``entrada × saída`` números, treinam-se
    ``r × (entrada + saída)``.
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LinearComLoRA envolve uma nn.Linear, mas recebeu {type(base).__name__}.")
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"O posto r deve ser um inteiro >= 1 (recebi {r!r}).")
        if r > min(base.in_features, base.out_features):
            raise ValueError(
                f"O posto r={r} passa da menor dimensão da camada ({base.in_features} -> {base.out_features}): "
                "uma correção de posto baixo precisa de r <= min(entrada, saída)."
            )
        if alpha <= 0:
            raise ValueError(f"alpha deve ser > 0 (recebi {alpha}).")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad = False  # o peso original fica congelado
        self.r = r
        self.alpha = alpha
        self.escala = alpha / r
        fabrica = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.A = nn.Parameter(torch.empty(r, base.in_features, **fabrica))  # (r, entrada)
        self.B = nn.Parameter(torch.zeros(base.out_features, r, **fabrica))  # (saída, r): começa em zero
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # a mesma inicialização de uma nn.Linear

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x):
        # x: (..., entrada). O caminho LoRA passa por um "gargalo" de r dimensões.
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.escala  # (..., saída)

    def fundir(self) -> nn.Linear:
        """Uma ``nn.Linear`` nova com ``W = W₀ + (alpha/r)·B·A``: mesma saída, sem custo extra na inferência."""
        fundida = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                            device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            fundida.weight.copy_(self.base.weight + self.escala * (self.B @ self.A))  # (saída, entrada)
            if self.base.bias is not None:
                fundida.bias.copy_(self.base.bias)
        return fundida


def camadas_para_lora(modelo, incluir_ff: bool = False) -> list[tuple[nn.Module, str]]:
    """As camadas ``Linear`` de cada bloco que recebem LoRA, como pares ``(módulo pai, nome do atributo)``.

    Na atenção: ``W_query``, ``W_key``, ``W_value`` e ``proj_saida`` (``AtencaoMultiCabeca``) ou ``qkv`` e
    ``proj_saida`` (``AtencaoRapida``). Com ``incluir_ff=True``, também as duas camadas do feed-forward.
    """
    if not hasattr(modelo, "blocos"):
        raise TypeError(f"Esperava um ModeloGPT (com .blocos), mas recebi {type(modelo).__name__}.")
    alvos = []
    for bloco in modelo.blocos:
        atencao = bloco.atencao
        nomes = ("qkv", "proj_saida") if hasattr(atencao, "qkv") else ("W_query", "W_key", "W_value", "proj_saida")
        alvos.extend((atencao, nome) for nome in nomes)
        if incluir_ff:
            alvos.extend((bloco.ff.camadas, nome) for nome in ("0", "2"))
    return alvos


def aplicar_lora(modelo, r: int = 8, alpha: float = 16.0, incluir_ff: bool = False):
    """Troca as camadas de :func:`camadas_para_lora` por :class:`LinearComLoRA` (altera o modelo e o devolve).

    Só as camadas trocadas ganham parâmetros novos (``A`` e ``B``) e ficam com o peso original congelado; o resto do
    modelo fica como estava. Para treinar SÓ a LoRA (e a cabeça nova), congele antes o que não deve treinar — por
    exemplo com ``preparar_para_classificacao(modelo, treinar_ultimos_blocos=0)`` do capítulo 6.
    """
    for pai, nome in camadas_para_lora(modelo, incluir_ff):
        camada = getattr(pai, nome)
        if isinstance(camada, LinearComLoRA):
            raise ValueError("Este modelo já tem LoRA: aplique aplicar_lora uma vez só (ou funda antes).")
        setattr(pai, nome, LinearComLoRA(camada, r=r, alpha=alpha))
    return modelo


def fundir_lora(modelo):
    """Troca cada :class:`LinearComLoRA` do modelo pela ``nn.Linear`` fundida (altera o modelo e o devolve)."""
    trocas = [(pai, nome, filho) for pai in modelo.modules() for nome, filho in pai.named_children()
              if isinstance(filho, LinearComLoRA)]
    if not trocas:
        raise ValueError("O modelo não tem nenhuma camada LinearComLoRA para fundir.")
    for pai, nome, filho in trocas:
        setattr(pai, nome, filho.fundir())
    return modelo


def ajustar_e_medir(modelo, loader_treino, loader_val, loader_teste, lr: float, n_epocas: int,
                    semente: int = 123) -> dict:
    """Faz o fine-tuning de classificação do capítulo 6 e mede o que a comparação precisa.

    Usa AdamW sem weight decay (só nos parâmetros com ``requires_grad``) e :func:`treinar_classificador`, com a
    ordem dos lotes fixada por ``semente``: configurações diferentes veem os mesmos lotes. Devolve ``treinaveis``,
    ``total``, ``tempo_s`` (tempo de relógio do treino), ``tempo_cpu_s`` (tempo de CPU deste processo no treino: numa
    CPU dividida com outros programas, oscila bem menos que o de relógio), ``acuracia_val`` e ``acuracia_teste``
    (em todos os exemplos).
    """
    treinaveis, total = parametros_treinaveis(modelo)
    if treinaveis == 0:
        raise ValueError("O modelo não tem nenhum parâmetro treinável: nada a ajustar.")
    if getattr(loader_treino, "generator", None) is not None:
        loader_treino.generator.manual_seed(semente)  # mesma ordem de lotes em toda configuração comparada
    torch.manual_seed(semente)
    otimizador = torch.optim.AdamW([p for p in modelo.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    inicio, inicio_cpu = time.perf_counter(), time.process_time()
    treinar_classificador(modelo, loader_treino, loader_val, otimizador, n_epocas=n_epocas, avaliar_a_cada=10**9,
                          batches_avaliacao=2, mostrar=False)
    tempo, tempo_cpu = time.perf_counter() - inicio, time.process_time() - inicio_cpu
    return {"treinaveis": treinaveis, "total": total, "tempo_s": tempo, "tempo_cpu_s": tempo_cpu,
            "acuracia_val": acuracia(modelo, loader_val), "acuracia_teste": acuracia(modelo, loader_teste)}


def medir_tokens_por_segundo(funcao, modelo, ids, max_novos_tokens: int, repeticoes: int = 3) -> float:
    """Tokens novos por segundo de ``funcao(modelo, ids, max_novos_tokens)`` (a melhor de ``repeticoes``).

    Na CPU, conta o tempo de CPU do processo (``time.process_time``): numa máquina dividida com outros programas, o
    tempo de relógio depende de quem mais está rodando, e o de CPU, não (compare só medições com o mesmo número de
    threads). Em GPU, conta o tempo de relógio, esperando a GPU terminar antes de parar o cronômetro.
    """
    if repeticoes < 1:
        raise ValueError(f"repeticoes deve ser >= 1 (recebi {repeticoes}).")
    na_cpu = ids.device.type == "cpu"
    relogio = time.process_time if na_cpu else time.perf_counter
    melhor = float("inf")
    for _ in range(repeticoes):
        inicio = relogio()
        funcao(modelo, ids, max_novos_tokens)
        if not na_cpu:
            getattr(torch, ids.device.type).synchronize()  # torch.cuda / torch.mps: espera as contas acabarem
        melhor = min(melhor, relogio() - inicio)
    return ids.shape[0] * max_novos_tokens / max(melhor, 1e-9)


def conferir_modelo_gpt(modelo) -> None:
    """Levanta ``TypeError`` (em português) se ``modelo`` não for um ``ModeloGPT`` com atenção conhecida."""
    if not isinstance(modelo, ModeloGPT):
        raise TypeError(f"Esperava um ModeloGPT (de llm_do_zero), mas recebi {type(modelo).__name__}.")
    for i, bloco in enumerate(modelo.blocos):
        if not isinstance(bloco.atencao, (AtencaoMultiCabeca, AtencaoRapida)):
            raise TypeError(
                f"O bloco {i} usa uma atenção desconhecida ({type(bloco.atencao).__name__}); o curso sabe lidar "
                "com AtencaoMultiCabeca e AtencaoRapida."
            )


# ----------------------------------------------------------------------------------------------------------------
# Quantização int8 dos pesos
# ----------------------------------------------------------------------------------------------------------------


def quantizar_int8(peso):
    """Quantização simétrica por linha: ``peso`` ``(linhas, colunas)`` -> ``(q int8, escala float)``.

    Cada linha ganha uma escala ``max|linha| / 127`` e vira inteiros ``round(peso / escala)`` entre -127 e 127.
    ``q``: ``(linhas, colunas)`` em int8; ``escala``: ``(linhas,)``. Uma linha toda de zeros fica com escala 1.
    O erro de cada peso depois de :func:`desquantizar_int8` é no máximo ``escala / 2`` da sua linha.
    """
    if not isinstance(peso, torch.Tensor) or peso.dim() != 2 or not peso.is_floating_point():
        raise ValueError("quantizar_int8 espera uma matriz de ponto flutuante (um tensor 2-D), como o peso de uma "
                         "Linear.")
    if not torch.isfinite(peso).all():
        raise ValueError("O peso tem NaN ou infinito: não dá para quantizar.")
    peso = peso.detach().float()
    maximo = peso.abs().amax(dim=1)  # (linhas,)
    escala = torch.where(maximo > 0, maximo / 127.0, torch.ones_like(maximo))  # (linhas,)
    q = torch.round(peso / escala[:, None]).clamp(-127, 127).to(torch.int8)  # (linhas, colunas)
    return q, escala


def desquantizar_int8(q, escala):
    """A volta: ``q`` int8 ``(linhas, colunas)`` × ``escala`` ``(linhas,)`` -> matriz float32 aproximada."""
    return q.float() * escala[:, None]


class LinearInt8(nn.Module):
    """Uma camada linear com o peso guardado em int8 (+ uma escala float por linha): 1/4 da memória do fp32.

    A conta é feita em float: o peso é desquantizado a cada forward. Economiza memória, não tempo — para ganhar
    velocidade é preciso um núcleo que multiplique inteiros (veja a comparação com o PyTorch no notebook).
    """

    def __init__(self, q, escala, bias=None):
        super().__init__()
        self.register_buffer("q", q)  # (saída, entrada), int8
        self.register_buffer("escala", escala)  # (saída,), float32
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    @classmethod
    def de_linear(cls, linear: nn.Linear) -> "LinearInt8":
        """Quantiza uma ``nn.Linear`` já treinada."""
        q, escala = quantizar_int8(linear.weight)
        return cls(q, escala, linear.bias)

    def forward(self, x):
        return F.linear(x, desquantizar_int8(self.q, self.escala), self.bias)  # (..., saída)


class EmbeddingInt8(nn.Module):
    """Uma tabela de embeddings guardada em int8, com uma escala por linha (por token)."""

    def __init__(self, q, escala):
        super().__init__()
        self.register_buffer("q", q)  # (vocab_size, d_model), int8
        self.register_buffer("escala", escala)  # (vocab_size,)

    @property
    def num_embeddings(self) -> int:
        return self.q.shape[0]

    @property
    def embedding_dim(self) -> int:
        return self.q.shape[1]

    def forward(self, ids):
        return self.q[ids].float() * self.escala[ids].unsqueeze(-1)  # (batch, tokens, d_model)


def quantizar_modelo(modelo, incluir_embeddings: bool = True):
    """Uma CÓPIA do ``ModeloGPT`` com as ``nn.Linear`` dos blocos e a cabeça de saída em int8 (o original fica igual).

    Com ``incluir_embeddings=True``, a tabela de embeddings de tokens também vira int8; se a cabeça de saída for
    amarrada a ela (weight tying), a cabeça passa a usar os MESMOS ``q`` e ``escala``. Os embeddings de posição e as
    normalizações (poucos números) ficam em float32.
    """
    conferir_modelo_gpt(modelo)
    copia = copy.deepcopy(modelo).cpu().eval()
    amarrada = copia.cabeca_saida.weight is copia.emb_tokens.weight
    for pai in list(copia.blocos.modules()):
        for nome, filho in list(pai.named_children()):
            if isinstance(filho, LinearComLoRA):
                raise ValueError("Funda a LoRA (fundir_lora) antes de quantizar o modelo.")
            if isinstance(filho, nn.Linear):
                setattr(pai, nome, LinearInt8.de_linear(filho))
    if incluir_embeddings:
        q, escala = quantizar_int8(copia.emb_tokens.weight)
        copia.emb_tokens = EmbeddingInt8(q, escala)
        if amarrada:
            copia.cabeca_saida = LinearInt8(q, escala)  # os mesmos tensores: nada é guardado duas vezes
    if not isinstance(copia.cabeca_saida, LinearInt8):
        copia.cabeca_saida = LinearInt8.de_linear(copia.cabeca_saida)
    return copia


def tamanho_em_bytes(modelo) -> int:
    """Bytes ocupados pelos parâmetros e buffers do modelo (tensores compartilhados contam uma vez só)."""
    vistos, total = set(), 0
    for t in list(modelo.parameters()) + list(modelo.buffers()):
        chave = (t.data_ptr(), t.numel(), t.dtype)
        if chave not in vistos:
            vistos.add(chave)
            total += t.numel() * t.element_size()
    return total


# ----------------------------------------------------------------------------------------------------------------
# Mapas de atenção e classificação pela média dos tokens
# ----------------------------------------------------------------------------------------------------------------


def mapas_de_atencao(modelo, ids):
    """Os pesos de atenção de todas as camadas e cabeças para ``ids`` ``(1, tokens)``.

    Funciona também com a ``AtencaoRapida`` (que nunca monta a matriz de pesos): um gancho (hook) guarda a entrada
    de cada atenção, e os pesos são recalculados com :func:`projetar_qkv`, a máscara causal e o softmax. Devolve
    ``(n_layers, n_heads, tokens, tokens)``; cada linha soma 1.
    """
    conferir_modelo_gpt(modelo)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"mapas_de_atencao espera ids com shape (1, tokens), não {getattr(ids, 'shape', ids)}.")
    entradas = []
    ganchos = [bloco.atencao.register_forward_hook(lambda mod, args, saida: entradas.append((mod, args[0])))
               for bloco in modelo.blocos]
    try:
        with modo_avaliacao(modelo):
            modelo(ids)
            mapas = []
            for atencao, x in entradas:
                q, k, _ = projetar_qkv(atencao, x)  # (1, n_heads, tokens, d_cabeca)
                escores = q @ k.transpose(2, 3) / math.sqrt(atencao.d_cabeca)  # (1, n_heads, tokens, tokens)
                t = ids.shape[1]
                futuro = torch.ones(t, t, dtype=torch.bool, device=ids.device).triu(diagonal=1)
                mapas.append(torch.softmax(escores.masked_fill(futuro, float("-inf")), dim=-1)[0])
    finally:
        for gancho in ganchos:
            gancho.remove()
    return torch.stack(mapas)  # (n_layers, n_heads, tokens, tokens)


class MediaDosTokens(nn.Module):
    """Envolve um classificador para que a posição ``t`` devolva a MÉDIA dos logits das posições ``0..t``.

    Com padding à direita, ler a posição ``comprimento - 1`` (o que ``logits_ultimo_token`` do capítulo 6 faz) dá a
    média sobre os tokens reais: o padding, que vem depois, não entra na conta. Como a cabeça é linear, a média dos
    logits é a cabeça aplicada à média dos vetores finais (mean pooling). Todas as funções do capítulo 6 funcionam
    com o modelo envolvido.
    """

    def __init__(self, modelo):
        super().__init__()
        self.modelo = modelo
        self.context_length = modelo.context_length

    def forward(self, ids):
        logits = self.modelo(ids)  # (batch, tokens, n_classes)
        contagem = torch.arange(1, ids.shape[1] + 1, device=logits.device, dtype=logits.dtype)  # (tokens,)
        return logits.cumsum(dim=1) / contagem[None, :, None]  # (batch, tokens, n_classes): média acumulada


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


# ----------------------------------------------------------------------------------------------------------------
# Eficiência (notebook_eficiencia): medir tempo lado a lado
# ----------------------------------------------------------------------------------------------------------------




def carga_da_maquina() -> str:
    """A carga média da máquina (1, 5 e 15 min, de ``os.getloadavg()``) e quantos núcleos ela tem, em texto."""
    try:
        um, cinco, quinze = os.getloadavg()
    except (AttributeError, OSError):  # Windows não tem getloadavg
        return f"carga da máquina indisponível ({os.cpu_count()} núcleos)"
    return f"carga média {um:.1f} / {cinco:.1f} / {quinze:.1f} (1/5/15 min) em {os.cpu_count()} núcleos"


def medir_intercalado(funcoes: dict, rodadas: int = 5, repeticoes: int = 1) -> dict:
    """Tempos (s) de cada função de ``funcoes`` (``{nome: função sem argumentos}``), medidos em rodadas intercaladas.

    Primeiro uma rodada de aquecimento (não conta); depois, ``rodadas`` vezes, cada função roda ``repeticoes`` vezes
    seguidas, uma depois da outra (A, B, C, A, B, C…). Devolve ``{nome: [tempo médio de uma chamada em cada
    rodada]}``. Em GPU, espera as contas acabarem antes de parar o cronômetro.
    """
    if not funcoes:
        raise ValueError("medir_intercalado precisa de pelo menos uma função para medir.")
    if rodadas < 1 or repeticoes < 1:
        raise ValueError(f"rodadas e repeticoes devem ser >= 1 (recebi {rodadas} e {repeticoes}).")

    def sincronizar():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    for funcao in funcoes.values():
        funcao()  # aquecimento: alocações, escolha de núcleos, caches
    tempos = {nome: [] for nome in funcoes}
    for _ in range(rodadas):
        for nome, funcao in funcoes.items():
            sincronizar()
            inicio = time.perf_counter()
            for _ in range(repeticoes):
                funcao()
            sincronizar()
            tempos[nome].append((time.perf_counter() - inicio) / repeticoes)
    return tempos


def resumir_razoes(tempos: dict, referencia: str) -> dict:
    """Para cada variante, a razão ``tempo da referência / tempo da variante`` em cada rodada: mediana, mín. e máx.

    Razão > 1: a variante é mais rápida que a referência. Devolve ``{nome: {"mediana", "min", "max",
    "tempo_mediano_s"}}`` (a referência tem razão 1).
    """
    if referencia not in tempos:
        raise ValueError(f"A referência {referencia!r} não está entre as variantes medidas: {list(tempos)}.")
    resumo = {}
    for nome, lista in tempos.items():
        razoes = sorted(r / t for r, t in zip(tempos[referencia], lista, strict=True))
        ordenados = sorted(lista)
        resumo[nome] = {"mediana": razoes[len(razoes) // 2] if len(razoes) % 2 else
                        0.5 * (razoes[len(razoes) // 2 - 1] + razoes[len(razoes) // 2]),
                        "min": razoes[0], "max": razoes[-1], "tempo_mediano_s": ordenados[len(ordenados) // 2]}
    return resumo


def imprimir_razoes(resumo: dict, unidade: str = "mais rápido") -> None:
    """Imprime o resumo de :func:`resumir_razoes`, uma linha por variante."""
    for nome, r in resumo.items():
        print(f"  {nome:34} {1000 * r['tempo_mediano_s']:9.1f} ms | {r['mediana']:.2f}× {unidade} "
              f"(mín. {r['min']:.2f}, máx. {r['max']:.2f})")


# ----------------------------------------------------------------------------------------------------------------
# Eficiência: a conta da memória (parâmetros, gradientes, AdamW e ativações)
# ----------------------------------------------------------------------------------------------------------------


def medir_ativacoes(modelo, entrada, alvo=None, autocast=None) -> int:
    """Bytes que o autograd guarda para o backward num forward + entropia cruzada de ``modelo`` em ``entrada``.

    Usa ``torch.autograd.graph.saved_tensors_hooks``: cada tensor guardado para o backward passa por um gancho que
    anota o seu bloco de memória (``untyped_storage``); cada bloco conta uma vez só (vistas do mesmo tensor não
    contam de novo) e os pesos do modelo não contam. ``alvo`` padrão: a própria ``entrada``. ``autocast``: um
    ``torch.dtype`` (ex.: ``torch.bfloat16``) para medir com precisão mista. O grafo é descartado no fim.
    """
    if not isinstance(entrada, torch.Tensor) or entrada.dim() != 2:
        raise ValueError(f"medir_ativacoes espera ids com shape (batch, tokens), "
                         f"não {getattr(entrada, 'shape', entrada)}.")
    alvo = entrada if alvo is None else alvo
    pesos = {p.untyped_storage().data_ptr() for p in modelo.parameters()}
    vistos = {}

    def guardar(tensor):
        memoria = tensor.untyped_storage()
        if memoria.data_ptr() not in pesos:
            vistos[memoria.data_ptr()] = memoria.nbytes()
        return tensor

    dispositivo = entrada.device.type
    with torch.autograd.graph.saved_tensors_hooks(guardar, lambda tensor: tensor), \
            torch.autocast(dispositivo, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
        perda = perda_do_batch(modelo, entrada, alvo)
    del perda  # descarta o grafo (e o que ele guardava)
    return sum(vistos.values())


def implementacao_do_modelo(modelo) -> dict:
    """``{"normas_a_mao", "gelu_a_mao"}``: se o modelo usa a ``CamadaNorm``/``GELU`` feitas à mão (capítulo 4) ou
    versões de uma operação só (``nn.LayerNorm``/``nn.GELU``, ou as do caminho rápido do capítulo 5). Muda o que o
    forward guarda."""
    bloco = modelo.blocos[0]
    bloco = getattr(bloco, "bloco", bloco)  # um bloco envolvido por aplicar_checkpointing
    return {"normas_a_mao": type(bloco.norm1).__name__ == "CamadaNorm",
            "gelu_a_mao": type(bloco.ff.camadas[1]).__name__ == "GELU" and not isinstance(bloco.ff.camadas[1], nn.GELU)}


def ativacoes_por_token(cfg: dict, normas_a_mao: bool = False, gelu_a_mao: bool = False,
                        checkpointing: bool = False) -> dict:
    """Quantos valores o forward + perda guarda por token: ``{"por_bloco", "fim", "total"}`` (em número de valores).

    ``por_bloco = (2·c_norm + 4·c_gelu + 10)·d + 2·e_norm + h`` e ``fim = c_norm·d + e_norm + d + V`` (normalização
    final, entrada da cabeça e ``log_softmax``), com ``c_norm, e_norm = 3, 1`` (normalização à mão) ou ``1, 2``
    (``nn.LayerNorm``) e ``c_gelu = 4`` (GELU à mão) ou ``1`` (``nn.GELU``). Com ``checkpointing=True``, cada bloco
    guarda só a sua entrada (``d`` valores); o resto é recalculado no backward, um bloco por vez.
    """
    d, h, v, n = cfg["d_model"], cfg["n_heads"], cfg["vocab_size"], cfg["n_layers"]
    c_norm, e_norm = (3, 1) if normas_a_mao else (1, 2)
    c_gelu = 4 if gelu_a_mao else 1
    por_bloco = d if checkpointing else (2 * c_norm + 4 * c_gelu + 10) * d + 2 * e_norm + h
    fim = c_norm * d + e_norm + d + v
    return {"por_bloco": por_bloco, "fim": fim, "total": n * por_bloco + fim}


def bytes_de_ativacoes(cfg: dict, batch: int, tokens: int, normas_a_mao: bool = False, gelu_a_mao: bool = False,
                       checkpointing: bool = False) -> int:
    """A fórmula de :func:`ativacoes_por_token` em bytes, em float32, para um lote ``batch × tokens``, mais os ids
    (int64) da entrada e do alvo (a entropia cruzada guarda o alvo) e das posições."""
    valores = ativacoes_por_token(cfg, normas_a_mao, gelu_a_mao, checkpointing)["total"]
    return 4 * batch * tokens * valores + 8 * (2 * batch * tokens + tokens)  # ids: entrada, alvo e posições (int64)


def com_nucleos_fundidos(modelo):
    """Uma CÓPIA do modelo com ``nn.LayerNorm`` e ``nn.GELU(approximate="tanh")`` no lugar da ``CamadaNorm`` e da
    ``GELU`` feitas à mão: a mesma conta com os mesmos pesos, numa operação só cada (guarda menos para o backward)."""
    copia = copy.deepcopy(modelo)
    for pai in list(copia.modules()):
        for nome, filho in list(pai.named_children()):
            if hasattr(filho, "escala") and hasattr(filho, "deslocamento"):  # CamadaNorm
                norma = nn.LayerNorm(filho.escala.shape[0], eps=filho.eps, device=filho.escala.device)
                with torch.no_grad():
                    norma.weight.copy_(filho.escala)
                    norma.bias.copy_(filho.deslocamento)
                setattr(pai, nome, norma)
            elif type(filho).__name__ == "GELU" and not isinstance(filho, nn.GELU):
                setattr(pai, nome, nn.GELU(approximate="tanh"))
    return copia


#: Os três tamanhos do GPT-2 que a tabela de memória compara (configurações da OpenAI, pesos amarrados).
TAMANHOS_GPT2 = {
    "GPT-2 124M": dict(d_model=768, n_heads=12, n_layers=12),
    "GPT-2 355M": dict(d_model=1024, n_heads=16, n_layers=24),
    "GPT-2 774M": dict(d_model=1280, n_heads=20, n_layers=36),
}


def contar_no_meta(cfg: dict) -> dict:
    """Parâmetros de um ``ModeloGPT`` com ``cfg``, montado no dispositivo ``meta`` (só shapes: não aloca memória).

    Devolve ``{"total", "matrizes_dos_blocos"}``: todos os parâmetros (pesos amarrados contam uma vez) e só os pesos
    das ``nn.Linear`` dos blocos (os que o QLoRA guarda em 4 bits).
    """
    with torch.device("meta"):
        modelo = criar_modelo_gpt(cfg)
    matrizes = sum(m.weight.numel() for m in modelo.blocos.modules() if isinstance(m, nn.Linear))
    return {"total": sum(p.numel() for p in modelo.parameters()), "matrizes_dos_blocos": matrizes}


def memoria_de_treino(cfg: dict, batch: int, tokens: int, metodo: str = "completo", r_lora: int = 8,
                      checkpointing: bool = False, reserva_gb: float = 0.5) -> dict:
    """Estimativa da memória de GPU (em GB) de um passo de treino, pela fórmula conferida na CPU.

    ``metodo``: ``"completo"`` (precisão mista: 18 bytes por parâmetro), ``"lora"`` (base congelada em 16 bits +
    LoRA de posto ``r_lora`` no ``qkv`` e na projeção de saída) ou ``"qlora"`` (a mesma LoRA sobre as matrizes dos
    blocos em NF4, 0,5625 byte por peso). Ativações: :func:`ativacoes_por_token` com os núcleos do PyTorch, 2 bytes
    por valor, o ``log_softmax`` em fp32. Devolve ``{"pesos", "treino", "ativacoes", "reserva", "total"}`` em GB.
    """
    if metodo not in ("completo", "lora", "qlora"):
        raise ValueError(f"metodo deve ser 'completo', 'lora' ou 'qlora' (recebi {metodo!r}).")
    if batch < 1 or not 1 <= tokens <= cfg["context_length"]:
        raise ValueError(f"batch deve ser >= 1 e tokens entre 1 e {cfg['context_length']} (recebi {batch} e {tokens}).")
    contagem = contar_no_meta(cfg)
    p, matrizes = contagem["total"], contagem["matrizes_dos_blocos"]
    p_lora = cfg["n_layers"] * r_lora * 6 * cfg["d_model"]  # qkv: r·(d + 3d); proj_saida: r·(d + d)
    if metodo == "completo":
        pesos, treino = 4 * p + 2 * p, 12 * p  # fp32 + cópia em 16 bits; gradientes + AdamW
    elif metodo == "lora":
        pesos, treino = 2 * p, 16 * p_lora
    else:
        pesos, treino = 0.5625 * matrizes + 2 * (p - matrizes), 16 * p_lora
    valores = ativacoes_por_token(cfg, checkpointing=checkpointing)
    por_token = 2 * (valores["total"] - cfg["vocab_size"]) + 4 * cfg["vocab_size"]
    ativacoes = batch * tokens * por_token
    partes = {"pesos": pesos, "treino": treino, "ativacoes": ativacoes}
    gb = {nome: valor / 2**30 for nome, valor in partes.items()}
    gb["reserva"] = reserva_gb
    gb["total"] = sum(gb.values())
    return gb


def menor_gpu(total_gb: float, gpus=(4, 6, 16)) -> str:
    """A menor GPU (em GB) da lista onde ``total_gb`` cabe, em texto (``"4 GB"``), ou ``"não cabe"``."""
    for gpu in gpus:
        if total_gb <= gpu:
            return f"{gpu} GB"
    return "não cabe"


class BlocoComCheckpoint(nn.Module):
    """Envolve um bloco transformer: no treino (com gradiente), o forward guarda só a entrada do bloco e o backward
    recalcula o resto (``torch.utils.checkpoint``). Em avaliação, é o bloco normal."""

    def __init__(self, bloco: nn.Module):
        super().__init__()
        self.bloco = bloco

    def forward(self, x):
        if self.training and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(self.bloco, x, use_reentrant=False)
        return self.bloco(x)


def aplicar_checkpointing(modelo):
    """Envolve cada bloco de ``modelo.blocos`` com :class:`BlocoComCheckpoint` (altera o modelo e o devolve)."""
    if not hasattr(modelo, "blocos"):
        raise TypeError(f"Esperava um ModeloGPT (com .blocos), mas recebi {type(modelo).__name__}.")
    if any(isinstance(b, BlocoComCheckpoint) for b in modelo.blocos):
        raise ValueError("Este modelo já tem checkpointing: aplique aplicar_checkpointing uma vez só.")
    modelo.blocos = nn.Sequential(*[BlocoComCheckpoint(b) for b in modelo.blocos])
    return modelo


def gradientes_acumulados(modelo, entrada, alvo, microlotes: int) -> float:
    """Os gradientes de ``(entrada, alvo)`` calculados em ``microlotes`` pedaços iguais, somados.

    É a acumulação do :func:`passo_de_treino` do capítulo 5 (cada perda parcial dividida por ``microlotes``: a soma
    dos gradientes é o gradiente da perda média do lote inteiro), com um SGD de taxa zero no lugar do AdamW: o passo
    não mexe nos pesos, e os gradientes ficam em ``p.grad`` para comparar. Devolve a perda média do lote.
    """
    n = entrada.shape[0]
    if microlotes < 1 or n % microlotes != 0:
        raise ValueError(f"O lote de {n} exemplos não se divide em {microlotes} microlotes iguais.")
    tamanho = n // microlotes
    pedacos = list(zip(entrada.split(tamanho), alvo.split(tamanho), strict=True))
    return passo_de_treino(modelo, torch.optim.SGD(modelo.parameters(), lr=0.0),
                           lambda lote: perda_do_batch(modelo, *lote), pedacos, clip=None)


def passo_em_precisao(modelo, otimizador, entrada, alvo, precisao: str = "fp32", escalador=None,
                      clip: float = 1.0) -> float:
    """O :func:`passo_de_treino` do capítulo 5 em ``precisao``: ``"fp32"``, ``"bf16"`` ou ``"fp16"`` (autocast no
    dispositivo do lote). Em fp16, passe um ``torch.amp.GradScaler`` em ``escalador``: ele multiplica a perda antes do
    backward e desfaz a escala antes do recorte e do passo. Devolve a perda."""
    tipos = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precisao not in tipos:
        raise ValueError(f"precisao deve ser 'fp32', 'bf16' ou 'fp16' (recebi {precisao!r}).")
    if precisao == "fp16" and escalador is None:
        raise ValueError("Em fp16, passe um GradScaler (torch.amp.GradScaler): sem ele, gradientes pequenos viram "
                         "zero.")
    autocast = torch.autocast(entrada.device.type, dtype=tipos[precisao] or torch.bfloat16,
                              enabled=tipos[precisao] is not None)
    return passo_de_treino(modelo, otimizador, lambda lote: perda_do_batch(modelo, *lote), [(entrada, alvo)],
                           clip=clip, precisao=(autocast, escalador))


def perda_destilacao(logits_aluno, logits_professor, alvo=None, temperatura: float = 2.0, alfa: float = 0.5):
    """``α·T²·KL(p_prof ‖ p_aluno) + (1−α)·CE(aluno, alvo)``, com ``p = softmax(logits / T)``.

    ``logits_*``: ``(..., vocab)`` com o mesmo shape; ``alvo``: ``(...)`` com os ids certos (obrigatório se
    ``alfa < 1``; ``-100`` é ignorado na CE). A KL é a média por posição (soma sobre o vocabulário). O professor não
    recebe gradiente.
    """
    if logits_aluno.shape != logits_professor.shape:
        raise ValueError(f"Os logits do aluno {tuple(logits_aluno.shape)} e do professor "
                         f"{tuple(logits_professor.shape)} precisam ter o mesmo shape.")
    if temperatura <= 0 or not 0.0 <= alfa <= 1.0:
        raise ValueError(f"temperatura deve ser > 0 e alfa estar em [0, 1] (recebi {temperatura} e {alfa}).")
    if alfa < 1.0 and alvo is None:
        raise ValueError("Com alfa < 1, a perda mistura a entropia cruzada com o token certo: passe o alvo.")
    vocab = logits_aluno.shape[-1]
    log_p_aluno = F.log_softmax(logits_aluno.float().reshape(-1, vocab) / temperatura, dim=-1)
    log_p_prof = F.log_softmax(logits_professor.detach().float().reshape(-1, vocab) / temperatura, dim=-1)
    # KL = Σ p_prof·(log p_prof − log p_aluno), média por posição
    kl = F.kl_div(log_p_aluno, log_p_prof, log_target=True, reduction="batchmean")
    perda = alfa * temperatura**2 * kl
    if alfa < 1.0:
        perda = perda + (1 - alfa) * F.cross_entropy(logits_aluno.float().reshape(-1, vocab), alvo.reshape(-1))
    return perda


def treinar_aluno(aluno, loader, passos: int, lr_max: float, professor=None, temperatura: float = 2.0,
                  alfa: float = 0.5, lr_min_fracao: float = 0.1, clip: float = 1.0, semente: int = 123) -> list[float]:
    """Treina ``aluno`` por ``passos`` passos (AdamW, aquecimento + cosseno, recorte do gradiente).

    Com ``professor``, a perda é :func:`perda_destilacao`; sem, a entropia cruzada de sempre. Os lotes vêm de
    :func:`lotes_sem_fim` com ``semente``: com e sem professor, o aluno vê os mesmos lotes. Devolve a perda de
    entropia cruzada de cada passo (a mesma medida nos dois casos).
    """
    otimizador = criar_otimizador(aluno, lr_max)
    if professor is not None:
        professor.eval()
    curva = []

    def perda_do_lote(lote):
        _, (entrada, alvo) = lote
        logits = aluno(entrada)  # (batch, tokens, vocab)
        ce = F.cross_entropy(logits.flatten(0, 1).float(), alvo.flatten())
        curva.append(ce.item())  # a mesma medida com e sem professor
        if professor is None:
            return ce
        with torch.no_grad():
            logits_prof = professor(entrada)
        return perda_destilacao(logits, logits_prof, alvo, temperatura, alfa)

    def taxa(passo):
        return taxa_aprendizado(passo, passos, lr_max, max(1, passos // 10), lr_max * lr_min_fracao)

    laco_de_treino(aluno, otimizador, lotes_sem_fim(loader, semente=semente), perda_do_lote, passos, lr=taxa,
                   clip=clip, mostrar=False)
    return curva


def podar_por_magnitude(modelo, fracao: float):
    """Uma CÓPIA do modelo com a ``fracao`` de menor |peso| zerada em cada matriz ``nn.Linear`` dos blocos.

    Os embeddings, as normalizações e a cabeça de saída ficam como estão. Os shapes não mudam: é poda não
    estruturada (zeros espalhados).
    """
    if not 0.0 <= fracao < 1.0:
        raise ValueError(f"fracao deve estar em [0, 1) (recebi {fracao}).")
    copia = copy.deepcopy(modelo)
    with torch.no_grad():
        for camada in copia.blocos.modules():
            if isinstance(camada, nn.Linear):
                k = int(fracao * camada.weight.numel())
                if k > 0:
                    limiar = camada.weight.abs().flatten().kthvalue(k).values
                    camada.weight[camada.weight.abs() <= limiar] = 0.0
    return copia


def _linear_com(pesos, bias):
    """Uma ``nn.Linear`` nova com ``pesos`` ``(saída, entrada)`` e ``bias`` (ou ``None``)."""
    camada = nn.Linear(pesos.shape[1], pesos.shape[0], bias=bias is not None, device=pesos.device)
    with torch.no_grad():
        camada.weight.copy_(pesos)
        if bias is not None:
            camada.bias.copy_(bias)
    return camada


def podar_estruturado(modelo, fracao: float):
    """Uma CÓPIA do modelo sem a ``fracao`` menos importante dos neurônios do feed-forward e das cabeças de atenção.

    Neurônio ``i``: importância ``‖W₁[i,:]‖·‖W₂[:,i]‖``; cabeça: norma das suas linhas de Q, K, V e das suas colunas
    da projeção de saída. Fica pelo menos 1 cabeça e 1 neurônio por bloco. As matrizes encolhem de verdade (funciona
    com a ``AtencaoRapida``, que o modelo base usa).
    """
    if not 0.0 <= fracao < 1.0:
        raise ValueError(f"fracao deve estar em [0, 1) (recebi {fracao}).")
    copia = copy.deepcopy(modelo)
    with torch.no_grad():
        for bloco in copia.blocos:
            atencao = bloco.atencao
            if not hasattr(atencao, "qkv"):
                raise TypeError("podar_estruturado sabe podar cabeças da AtencaoRapida (com a camada qkv fundida).")
            fc1, fc2 = bloco.ff.camadas[0], bloco.ff.camadas[2]
            importancia = fc1.weight.norm(dim=1) * fc2.weight.norm(dim=0)  # (4·d_model,)
            ficam = importancia.topk(max(1, round(len(importancia) * (1 - fracao)))).indices.sort().values
            bloco.ff.camadas[0] = _linear_com(fc1.weight[ficam], None if fc1.bias is None else fc1.bias[ficam])
            bloco.ff.camadas[2] = _linear_com(fc2.weight[:, ficam], fc2.bias)
            h, dc = atencao.n_heads, atencao.d_cabeca
            w = atencao.qkv.weight.view(3, h, dc, -1)  # (Q/K/V, cabeça, d_cabeca, d_entrada)
            saida = atencao.proj_saida.weight.view(-1, h, dc)  # (d_model, cabeça, d_cabeca)
            nota = w.pow(2).sum(dim=(0, 2, 3)) + saida.pow(2).sum(dim=(0, 2))  # (cabeça,)
            cabecas = nota.topk(max(1, round(h * (1 - fracao)))).indices.sort().values
            novo_qkv = w[:, cabecas].reshape(-1, w.shape[-1])
            bias_qkv = None if atencao.qkv.bias is None else atencao.qkv.bias.view(3, h, dc)[:, cabecas].reshape(-1)
            atencao.qkv = _linear_com(novo_qkv, bias_qkv)
            atencao.proj_saida = _linear_com(saida[:, cabecas].reshape(saida.shape[0], -1), atencao.proj_saida.bias)
            atencao.n_heads, atencao.d_saida = len(cabecas), len(cabecas) * dc
    return copia


def fracao_de_zeros(modelo) -> float:
    """Fração dos pesos das ``nn.Linear`` dos blocos que é exatamente zero."""
    pesos = [m.weight for m in modelo.blocos.modules() if isinstance(m, nn.Linear)]
    return sum((p == 0).sum().item() for p in pesos) / sum(p.numel() for p in pesos)


def niveis_nf4() -> torch.Tensor:
    """Os 16 níveis do NF4, em ordem crescente, de −1 a 1 e com o zero exato.

    8 níveis positivos nos quantis da normal padrão entre 0,5 e ``δ = (1/2)·(1/16 + 1/15)`` do topo (para o último
    não ser infinito), 7 negativos do mesmo jeito, mais o 0; depois tudo é dividido pelo maior valor (os extremos
    viram −1 e 1). É a construção do artigo do QLoRA.
    """
    normal = torch.distributions.Normal(0.0, 1.0)
    delta = 0.5 * (1 / 32 + 1 / 30)
    positivos = normal.icdf(torch.linspace(1 - delta, 0.5, 9, dtype=torch.float64)[:-1])
    negativos = -normal.icdf(torch.linspace(1 - delta, 0.5, 8, dtype=torch.float64)[:-1])
    niveis = torch.cat([positivos, torch.zeros(1, dtype=torch.float64), negativos]).sort().values
    return (niveis / niveis.abs().max()).float()  # (16,)


def quantizar_nf4(peso, tamanho_bloco: int = 64) -> dict:
    """Quantiza ``peso`` (qualquer shape, float) em NF4 por blocos de ``tamanho_bloco`` valores consecutivos.

    Devolve ``{"codigos", "absmax", "shape", "tamanho_bloco"}``: ``codigos`` (uint8) guarda dois índices de 4 bits
    por byte; ``absmax`` (float32) tem um valor por bloco. Cada peso vira o nível de :func:`niveis_nf4` mais próximo
    de ``peso / absmax`` do seu bloco: o erro é no máximo ``absmax × (maior meio intervalo entre níveis)``.
    """
    if not isinstance(peso, torch.Tensor) or not peso.is_floating_point() or peso.numel() == 0:
        raise ValueError("quantizar_nf4 espera um tensor de ponto flutuante não vazio.")
    if tamanho_bloco < 2 or tamanho_bloco % 2:
        raise ValueError(f"tamanho_bloco deve ser par e >= 2 (recebi {tamanho_bloco}).")
    if not torch.isfinite(peso).all():
        raise ValueError("O peso tem NaN ou infinito: não dá para quantizar.")
    plano = peso.detach().float().flatten()
    falta = (-plano.numel()) % tamanho_bloco
    blocos = F.pad(plano, (0, falta)).view(-1, tamanho_bloco)  # (n_blocos, tamanho_bloco)
    absmax = blocos.abs().amax(dim=1)  # (n_blocos,)
    normalizados = blocos / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]  # em [−1, 1]
    niveis = niveis_nf4().to(plano.device)
    fronteiras = (niveis[1:] + niveis[:-1]) / 2  # (15,): o ponto médio entre níveis vizinhos
    indices = torch.bucketize(normalizados, fronteiras).to(torch.uint8).flatten()  # 0..15 = o nível mais próximo
    codigos = indices[0::2] << 4 | indices[1::2]  # dois índices de 4 bits por byte
    return {"codigos": codigos, "absmax": absmax, "shape": tuple(peso.shape), "tamanho_bloco": tamanho_bloco}


def desquantizar_nf4(q: dict) -> torch.Tensor:
    """A volta de :func:`quantizar_nf4`: um tensor float32 com o shape original."""
    codigos = q["codigos"]
    indices = torch.stack([codigos >> 4, codigos & 0x0F], dim=1).flatten().long()
    valores = niveis_nf4().to(codigos.device)[indices].view(-1, q["tamanho_bloco"]) * q["absmax"][:, None]
    n = math.prod(q["shape"])
    return valores.flatten()[:n].view(q["shape"])


class LinearNF4(nn.Module):
    """Uma camada linear com o peso guardado em NF4 (:func:`quantizar_nf4`) — ~1/7 da memória do fp32.

    Como a ``LinearInt8``, desquantiza o peso a cada forward e faz a conta em float32: economiza memória, não tempo
    (as bibliotecas de QLoRA têm núcleos de GPU que desquantizam dentro da multiplicação).
    """

    def __init__(self, q: dict, bias=None):
        super().__init__()
        self.register_buffer("codigos", q["codigos"])
        self.register_buffer("absmax", q["absmax"])
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.shape, self.tamanho_bloco = q["shape"], q["tamanho_bloco"]
        self.out_features, self.in_features = self.shape

    @classmethod
    def de_linear(cls, linear: nn.Linear, tamanho_bloco: int = 64) -> "LinearNF4":
        return cls(quantizar_nf4(linear.weight, tamanho_bloco), linear.bias)

    def peso(self) -> torch.Tensor:
        return desquantizar_nf4({"codigos": self.codigos, "absmax": self.absmax, "shape": self.shape,
                                 "tamanho_bloco": self.tamanho_bloco})

    def forward(self, x):
        return F.linear(x, self.peso(), self.bias)  # (..., saída)


class EmbeddingNF4(nn.Module):
    """Uma tabela de embeddings guardada em NF4 (desquantizada inteira a cada forward; ok para tabelas pequenas)."""

    def __init__(self, q: dict):
        super().__init__()
        self.linear = LinearNF4(q)

    @property
    def embedding_dim(self) -> int:
        return self.linear.in_features

    def forward(self, ids):
        return F.embedding(ids, self.linear.peso())  # (batch, tokens, d_model)


class LinearQLoRA(nn.Module):
    """QLoRA numa camada: uma :class:`LinearNF4` congelada (sem gradiente: são buffers) mais uma correção LoRA
    treinável em fp32, ``saída = base(x) + (alpha/r)·x·Aᵀ·Bᵀ`` (``B`` começa em zero, como na ``LinearComLoRA``)."""

    def __init__(self, base: LinearNF4, r: int = 8, alpha: float = 16.0):
        super().__init__()
        if not isinstance(base, LinearNF4):
            raise TypeError(f"LinearQLoRA envolve uma LinearNF4, mas recebeu {type(base).__name__}.")
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= min(base.in_features, base.out_features):
            raise ValueError(f"O posto r deve ser um inteiro entre 1 e {min(base.in_features, base.out_features)} "
                             f"(recebi {r!r}).")
        self.base, self.escala = base, alpha / r
        self.A = nn.Parameter(torch.empty(r, base.in_features, device=base.codigos.device))  # (r, entrada)
        self.B = nn.Parameter(torch.zeros(base.out_features, r, device=base.codigos.device))  # (saída, r)
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))

    def forward(self, x):
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.escala  # (..., saída)


def quantizar_modelo_nf4(modelo, tamanho_bloco: int = 64, incluir_embeddings: bool = True):
    """Uma CÓPIA do ``ModeloGPT`` com as ``nn.Linear`` dos blocos e a cabeça de saída em NF4.

    Com ``incluir_embeddings=True``, a tabela de tokens também (e, com weight tying, a cabeça usa os mesmos códigos).
    Os embeddings de posição e as normalizações ficam em float32. Camadas que já não são ``nn.Linear`` (a cabeça de
    classificação nova, por exemplo, se for trocada depois) não são tocadas.
    """
    copia = copy.deepcopy(modelo)
    amarrada = copia.cabeca_saida.weight is copia.emb_tokens.weight
    for pai in list(copia.blocos.modules()):
        for nome, filho in list(pai.named_children()):
            if isinstance(filho, nn.Linear):
                setattr(pai, nome, LinearNF4.de_linear(filho, tamanho_bloco))
    if incluir_embeddings:
        q = quantizar_nf4(copia.emb_tokens.weight, tamanho_bloco)
        copia.emb_tokens = EmbeddingNF4(q)
        if amarrada:
            copia.cabeca_saida = copia.emb_tokens.linear  # os mesmos buffers: nada é guardado duas vezes
    if isinstance(copia.cabeca_saida, nn.Linear):
        copia.cabeca_saida = LinearNF4.de_linear(copia.cabeca_saida, tamanho_bloco)
    return copia


def aplicar_qlora(modelo, r: int = 8, alpha: float = 16.0, tamanho_bloco: int = 64):
    """QLoRA nos blocos de ``modelo`` (altera e devolve): ``qkv``/``proj_saida`` (ou ``W_query``…) viram
    :class:`LinearQLoRA` e as camadas do feed-forward viram :class:`LinearNF4` congeladas. Congele antes o que não
    deve treinar (ex.: ``preparar_para_classificacao(modelo, treinar_ultimos_blocos=0)``)."""
    for bloco in modelo.blocos:
        atencao = bloco.atencao
        nomes = ("qkv", "proj_saida") if hasattr(atencao, "qkv") else ("W_query", "W_key", "W_value", "proj_saida")
        for nome in nomes:
            camada = getattr(atencao, nome)
            if not isinstance(camada, nn.Linear):
                raise ValueError(f"{nome} já não é uma nn.Linear ({type(camada).__name__}): aplique QLoRA uma vez só.")
            setattr(atencao, nome, LinearQLoRA(LinearNF4.de_linear(camada, tamanho_bloco), r, alpha))
        for i in (0, 2):  # as duas camadas do feed-forward: congeladas, sem LoRA
            bloco.ff.camadas[i] = LinearNF4.de_linear(bloco.ff.camadas[i], tamanho_bloco)
    return modelo


def exportar_onnx(modelo, caminho, context_length: int | None = None, opset: int = 17):
    """Exporta ``modelo`` (ids ``(batch, tokens)`` -> logits ``(batch, tokens, vocab)``) para ONNX em ``caminho``.

    Lote e número de tokens ficam dinâmicos (``dynamic_axes``). Usa o exportador por rastreamento do PyTorch
    (``dynamo=False``, que não precisa de pacotes extras); os avisos dele sobre o rastreamento são silenciados (o
    teste de paridade é quem confere o resultado). Devolve o caminho.
    """
    caminho = Path(caminho)
    caminho.parent.mkdir(parents=True, exist_ok=True)
    t = min(8, context_length or modelo.context_length)
    exemplo = torch.zeros(1, t, dtype=torch.long, device=dispositivo_do_modelo(modelo))
    with modo_avaliacao(modelo), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(modelo, (exemplo,), str(caminho), input_names=["ids"], output_names=["logits"],
                          dynamic_axes={"ids": {0: "batch", 1: "tokens"}, "logits": {0: "batch", 1: "tokens"}},
                          opset_version=opset, dynamo=False)
    return caminho


def sessao_onnx(caminho, threads: int | None = None):
    """Uma sessão do ``onnxruntime`` na CPU para o arquivo ``caminho``; devolve ``função(ids) -> logits`` (tensores)."""
    import onnxruntime

    opcoes = onnxruntime.SessionOptions()
    if threads is not None:
        opcoes.intra_op_num_threads = threads
    sessao = onnxruntime.InferenceSession(str(caminho), opcoes, providers=["CPUExecutionProvider"])

    def rodar(ids):
        return torch.from_numpy(sessao.run(None, {"ids": ids.cpu().numpy()})[0])

    return rodar
