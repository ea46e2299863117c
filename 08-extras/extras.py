# ARQUIVO GERADO — não edite à mão: a próxima construção apagaria a mudança.
# Edite as células com a tag "modulo" em 08-extras/notebook*.pct.py e rode `python ferramentas/curso.py construir`
# (veja CONTRIBUTING.md).
"""Capítulo 8 — extras: as versões finais do que os notebooks deste capítulo constroem.

O capítulo 8 não tem capítulo seguinte, então este arquivo faz o papel do bloco de capítulo do módulo de apoio:
cada função, classe e constante aqui é uma célula marcada com a tag ``modulo`` de um notebook do capítulo 8
(``notebook.ipynb``, depois ``notebook_<tema>.ipynb`` em ordem alfabética). Os scripts do capítulo importam daqui.
"""

import copy
import math
import re
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from llm_do_zero import (
    AtencaoMultiCabeca,
    AtencaoRapida,
    DatasetInstrucoes,
    ModeloGPT,
    acertou,
    acuracia,
    avaliar,
    colar_instrucoes,
    criar_otimizador,
    dispositivo_do_modelo,
    gerar_respostas,
    id_fim_de_texto,
    modo_avaliacao,
    parametros_treinaveis,
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
                          max_lotes_avaliacao=2, mostrar_progresso=False)
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
        raise ValueError("quantizar_int8 espera uma matriz de ponto flutuante (um tensor 2-D), como o peso de uma Linear.")
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
    for e, r in zip(exemplos, respostas):
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
    for r, t in zip(respostas, tarefas):
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
            raise ValueError(f"Cada par precisa das chaves instrucao, escolhida e rejeitada (faltam {sorted(faltando)}).")
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
    """Um lote de ``B`` pares -> ``(entrada, alvo)`` com ``2B`` linhas: as ``B`` escolhidas e depois as ``B`` rejeitadas.

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
    """``(log π(escolhida), log π(rejeitada))`` de todos os pares do ``dataset``, sem gradiente: dois tensores ``(pares,)``.

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
    """Treina ``politica`` (no lugar) com a perda do DPO nos pares de ``dataset``; ``referencia`` só é lida, sem gradiente.

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
    ordem: list[int] = []
    inicio = time.perf_counter()
    avaliar_agora(0)
    politica.train()
    for passo in range(passos):
        if len(ordem) < tamanho_lote:
            ordem += torch.randperm(len(dataset), generator=gerador).tolist()
        indices, ordem = ordem[:tamanho_lote], ordem[tamanho_lote:]
        entrada, alvo = colar_pares([dataset[i] for i in indices], dataset.id_fim, ctx, dispositivo)
        logp = logprob_respostas(politica, entrada, alvo)  # (2·lote,)
        idx = torch.tensor(indices)
        perda, metricas = perda_dpo(logp[:len(indices)], logp[len(indices):], ref_e[idx], ref_r[idx], beta)
        for grupo in otimizador.param_groups:
            grupo["lr"] = taxa_aprendizado(passo, passos, lr_max, passos_aquecimento, lr_min)
        otimizador.zero_grad(set_to_none=True)
        perda.backward()
        torch.nn.utils.clip_grad_norm_(politica.parameters(), clip)
        otimizador.step()
        hist["perda"].append(perda.item())
        for chave, valor in metricas.items():
            hist[chave].append(valor)
        if (passo + 1) % avaliar_a_cada == 0 or passo + 1 == passos:
            avaliar_agora(passo + 1)
            politica.train()
            if mostrar:
                extra = (f" | KL {hist['kl'][-1]:.3f} | prefere a escolhida em {hist['acerto_avaliacao'][-1]:.0%} dos pares de avaliação"
                         if hist["kl"] else "")
                print(f"  passo {passo + 1:>4} | perda {perda.item():.3f} | margem {metricas['margem']:+.2f}{extra}")
    politica.eval()
    hist["tempo_s"] = time.perf_counter() - inicio
    return hist
