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
import os
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from llm_do_zero import (
    AtencaoMultiCabeca,
    AtencaoRapida,
    ModeloGPT,
    acuracia,
    criar_modelo_gpt,
    criar_otimizador,
    dispositivo_do_modelo,
    lotes_sem_fim,
    modo_avaliacao,
    parametros_treinaveis,
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
        razoes = sorted(r / t for r, t in zip(tempos[referencia], lista))
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
        raise ValueError(f"medir_ativacoes espera ids com shape (batch, tokens), não {getattr(entrada, 'shape', entrada)}.")
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
    """``{"normas_a_mao", "gelu_a_mao"}``: se o modelo usa a ``CamadaNorm``/``GELU`` feitas à mão (capítulo 4) ou as
    versões de uma operação só do PyTorch (``nn.LayerNorm``/``nn.GELU``). Muda o que o forward guarda."""
    bloco = modelo.blocos[0]
    bloco = getattr(bloco, "bloco", bloco)  # um bloco envolvido por aplicar_checkpointing
    return {"normas_a_mao": not isinstance(bloco.norm1, nn.LayerNorm),
            "gelu_a_mao": not isinstance(bloco.ff.camadas[1], nn.GELU)}


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


def gradientes_acumulados(modelo, entrada, alvo, micro_lotes: int) -> float:
    """Forward + backward de ``(entrada, alvo)`` em ``micro_lotes`` pedaços iguais, somando os gradientes.

    Cada perda parcial é dividida por ``micro_lotes``: a soma dos gradientes é o gradiente da perda média do lote
    inteiro (com pedaços do mesmo tamanho). Os gradientes ficam em ``p.grad`` (somados aos que já estavam lá — zere
    antes). Devolve a perda média do lote.
    """
    n = entrada.shape[0]
    if micro_lotes < 1 or n % micro_lotes != 0:
        raise ValueError(f"O lote de {n} exemplos não se divide em {micro_lotes} micro-lotes iguais.")
    tamanho = n // micro_lotes
    total = 0.0
    for i in range(0, n, tamanho):
        perda = perda_do_batch(modelo, entrada[i:i + tamanho], alvo[i:i + tamanho]) / micro_lotes
        perda.backward()
        total += perda.item()
    return total


def passo_de_treino(modelo, otimizador, entrada, alvo, precisao: str = "fp32", escalador=None,
                    clip: float = 1.0) -> float:
    """Um passo de treino (forward, backward, recorte do gradiente, AdamW) em ``precisao``: ``"fp32"``, ``"bf16"``
    ou ``"fp16"`` (autocast no dispositivo do modelo). Em fp16, passe um ``torch.amp.GradScaler`` em ``escalador``:
    ele multiplica a perda antes do backward e desfaz a escala antes do recorte e do passo. Devolve a perda."""
    tipos = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precisao not in tipos:
        raise ValueError(f"precisao deve ser 'fp32', 'bf16' ou 'fp16' (recebi {precisao!r}).")
    if precisao == "fp16" and escalador is None:
        raise ValueError("Em fp16, passe um GradScaler (torch.amp.GradScaler): sem ele, gradientes pequenos viram zero.")
    dispositivo = entrada.device.type
    with torch.autocast(dispositivo, dtype=tipos[precisao] or torch.bfloat16, enabled=tipos[precisao] is not None):
        perda = perda_do_batch(modelo, entrada, alvo)
    otimizador.zero_grad(set_to_none=True)
    if escalador is not None:
        escalador.scale(perda).backward()
        escalador.unscale_(otimizador)  # gradientes de volta à escala certa antes do recorte
        torch.nn.utils.clip_grad_norm_(modelo.parameters(), clip)
        escalador.step(otimizador)  # pula o passo se algum gradiente for infinito ou NaN
        escalador.update()
    else:
        perda.backward()
        torch.nn.utils.clip_grad_norm_(modelo.parameters(), clip)
        otimizador.step()
    return perda.item()


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
    kl = F.kl_div(log_p_aluno, log_p_prof, log_target=True, reduction="batchmean")  # Σ p_prof·(log p_prof − log p_aluno)
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
    aluno.train()
    curva = []
    for passo, (_, (entrada, alvo)) in zip(range(passos), lotes_sem_fim(loader, semente=semente)):
        for grupo in otimizador.param_groups:
            grupo["lr"] = taxa_aprendizado(passo, passos, lr_max, max(1, passos // 10), lr_max * lr_min_fracao)
        logits = aluno(entrada)  # (batch, tokens, vocab)
        ce = F.cross_entropy(logits.flatten(0, 1).float(), alvo.flatten())
        if professor is None:
            perda = ce
        else:
            with torch.no_grad():
                logits_prof = professor(entrada)
            perda = perda_destilacao(logits, logits_prof, alvo, temperatura, alfa)
        otimizador.zero_grad(set_to_none=True)
        perda.backward()
        torch.nn.utils.clip_grad_norm_(aluno.parameters(), clip)
        otimizador.step()
        curva.append(ce.item())
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
