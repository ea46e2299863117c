"""Desempenho como fato: quatro medidas, numa execução só, na máquina em que você está.

Uso::

    python desempenho.py             # tamanhos do modo completo (~1 min em 2 núcleos de CPU)
    python desempenho.py --rapido    # tamanhos pequenos (< 20 s); o mesmo que LLM_DO_ZERO_RAPIDO=1
    python desempenho.py --json ../.cache/desempenho.json   # também grava as linhas num JSON

Em Python: ``linhas = medir_desempenho(rapido=True)`` devolve as linhas da tabela (uma lista de dicionários) e
``imprimir_tabela(linhas)`` as mostra.

O que é medido:

1. **Passo de treino** (forward + backward + AdamW), em tokens por segundo, de dois modelos com a MESMA configuração:
   o didático do capítulo 4 (``AtencaoMultiCabeca``: três projeções Q, K, V e a matriz ``t × t`` montada à mão) e o
   que o curso usa para treinar desde o capítulo 5 (``AtencaoRapida``: uma projeção QKV fundida e o
   ``scaled_dot_product_attention`` do PyTorch; LayerNorm e GELU de um núcleo só; AdamW "fused"; e a cabeça de saída
   com a entropia cruzada numa conta só, ``entropia_cruzada_fundida``).
2. **Pico de multiplicação de matrizes** fp32 desta CPU (GFLOP/s de matmuls grandes) e o **MFU** (*model FLOPs
   utilization*) de cada passo de treino: que fração desse pico o treino consegue usar. Os FLOPs de um passo vêm da
   conta clássica (Kaplan et al., 2020; PaLM, 2022): por token, ``6·N`` para as multiplicações pelas matrizes de
   pesos (``2·N`` no forward — uma multiplicação e uma soma por peso — e ``4·N`` no backward, que calcula o gradiente
   da entrada e o dos pesos) mais ``12·L·T·d`` para a atenção (``QKᵀ`` e ``pesos·V`` custam ``2·T·d`` cada por
   token e por camada no forward; vezes 3 com o backward). ``N`` aqui conta só os pesos das camadas ``Linear``
   (incluindo a cabeça de saída): a tabela de embeddings é consultada, não multiplicada.
   O **perfil** de um passo do caminho rápido (``torch.profiler``, tempo próprio de cada operação agrupado por
   categoria) mostra de onde vem o MFU: a fração do passo que as multiplicações de matrizes ocupam e quantos GFLOP/s
   elas fazem sozinhas.
3. **KV cache**: tokens por segundo da geração gulosa sem e com cache (``gerar_texto(..., usar_cache=False/True)``
   do capítulo 5), conferindo que os tokens gerados são idênticos.
4. **Tokenização**: o nosso ``TokenizadorBPE`` em Python puro contra as MESMAS fusões rodando no ``tiktoken``
   (núcleo em Rust), no texto de validação de Machado, conferindo que os ids são idênticos.

Números de tempo variam de uma execução para outra (outros programas, temperatura da CPU, número de threads): as
razões entre as variantes são mais estáveis que os valores absolutos.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

PASTA = Path(__file__).resolve().parent
if str(PASTA) not in sys.path:
    sys.path.insert(0, str(PASTA))

from llm_do_zero import formatar_numero, gravar_atomicamente  # noqa: E402
from llm_do_zero import (GPT_BASE_COMPLETO, N_FUSOES_BASE, RAPIDO, ParserPT, corpus_machado, cpu_tem_bf16,  # noqa: E402
                         criar_modelo_gpt, criar_otimizador, fixar_semente, gerar_texto, inteiro_positivo,
                         passo_de_treino, perda_do_batch, precisao_para, tokenizador_machado)


def tamanhos(rapido: bool) -> dict:
    """Os tamanhos de cada medida nos dois modos (um só código; só os números mudam)."""
    if rapido:
        return {"cfg": dict(GPT_BASE_COMPLETO, context_length=128, d_model=128, n_layers=2),
                "batch": 4, "rodadas": 3, "passos_por_rodada": 1, "n_matmul": 512, "compilar": False,
                "tokens_prompt": 8, "tokens_novos": 48, "rodadas_geracao": 2, "caracteres_bpe": 20_000}
    return {"cfg": dict(GPT_BASE_COMPLETO),
            "batch": 8, "rodadas": 7, "passos_por_rodada": 2, "n_matmul": 1024, "compilar": True,
            "tokens_prompt": 16, "tokens_novos": 240, "rodadas_geracao": 5, "caracteres_bpe": 200_000}


def carga_da_maquina() -> str:
    """A carga média da máquina (1 min) ao lado do número de CPUs: com carga maior que o nº de CPUs, há fila."""
    try:
        carga = os.getloadavg()[0]
    except (AttributeError, OSError):
        return "carga da máquina indisponível neste sistema"
    return f"carga média (1 min) {formatar_numero(carga, 1)} em {os.cpu_count()} CPU(s)"


def _mediana_e_faixa(valores):
    return statistics.median(valores), min(valores), max(valores)


# ----------------------------------------------------------------------------------------------------------------
# 1 e 2: passo de treino lado a lado, pico de matmul e MFU
# ----------------------------------------------------------------------------------------------------------------


def parametros_de_matmul(modelo: nn.Module) -> int:
    """``N`` da conta de FLOPs: pesos de todas as ``nn.Linear`` (a cabeça de saída conta, mesmo amarrada)."""
    return sum(m.weight.numel() for m in modelo.modules() if isinstance(m, nn.Linear))


def flops_por_token_treino(modelo: nn.Module, cfg: dict) -> float:
    """FLOPs de um passo de treino por token: ``6·N + 12·L·T·d`` (pesos + atenção; veja o docstring do módulo).

    A máscara causal deixaria pular metade de ``QKᵀ`` e ``pesos·V``; a conta usual (e esta) não desconta isso.
    """
    return 6 * parametros_de_matmul(modelo) + 12 * cfg["n_layers"] * cfg["context_length"] * cfg["d_model"]


class ModeloEstiloNanoGPT(nn.Module):
    """Um GPT escrito como o ``model.py`` do nanoGPT o organiza, para comparar velocidade com a MESMA configuração.

    Escrito para o curso (não é o arquivo do nanoGPT): ``nn.LayerNorm`` e ``nn.GELU`` (a exata, como lá) do PyTorch,
    uma projeção ``c_attn`` fundida com bias, ``scaled_dot_product_attention`` causal, weight tying, e o forward que
    devolve a perda (entropia cruzada sobre os logits de todas as posições). O otimizador é o AdamW padrão do PyTorch
    (o nanoGPT só usa o "fused" em GPU), com weight decay só nas matrizes.
    """

    def __init__(self, cfg: dict):
        super().__init__()
        d, h = cfg["d_model"], cfg["n_heads"]
        self.n_heads = h
        self.wte = nn.Embedding(cfg["vocab_size"], d)
        self.wpe = nn.Embedding(cfg["context_length"], d)
        self.blocos = nn.ModuleList()
        for _ in range(cfg["n_layers"]):
            self.blocos.append(nn.ModuleDict({
                "ln_1": nn.LayerNorm(d), "c_attn": nn.Linear(d, 3 * d), "c_proj": nn.Linear(d, d),
                "ln_2": nn.LayerNorm(d), "c_fc": nn.Linear(d, 4 * d), "gelu": nn.GELU(),
                "mlp_proj": nn.Linear(4 * d, d),
            }))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, cfg["vocab_size"], bias=False)
        self.lm_head.weight = self.wte.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, ids, alvo):
        b, t = ids.shape
        x = self.wte(ids) + self.wpe(torch.arange(t, device=ids.device))  # (batch, tokens, d)
        for bl in self.blocos:
            q, k, v = bl["c_attn"](bl["ln_1"](x)).split(x.shape[-1], dim=2)
            q, k, v = (z.view(b, t, self.n_heads, -1).transpose(1, 2) for z in (q, k, v))  # (batch, h, tokens, dc)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, -1)
            x = x + bl["c_proj"](y)
            x = x + bl["mlp_proj"](bl["gelu"](bl["c_fc"](bl["ln_2"](x))))
        logits = self.lm_head(self.ln_f(x))  # (batch, tokens, vocab)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), alvo.view(-1))


def _adamw_como_nanogpt(modelo, lr=1e-3):
    params = [p for p in modelo.parameters() if p.requires_grad]
    grupos = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(grupos, lr=lr, betas=(0.9, 0.95))


def carregar_nanogpt_local(caminho):
    """Importa o ``model.py`` do nanoGPT de um caminho local (nunca baixa nada); ``None`` se o arquivo não existe."""
    import importlib.util

    caminho = Path(caminho)
    if not caminho.is_file():
        return None
    spec = importlib.util.spec_from_file_location("nanogpt_model_local", caminho)
    modulo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modulo)
    return modulo


def _passo_de_treino(forward_perda, modelo, otimizador, entrada, alvo, autocast=None, clip=1.0):
    """O passo medido, igual para todas as variantes: o ``passo_de_treino`` do capítulo 5 (zera, perda, backward,
    recorte, AdamW) com o mesmo lote sempre."""
    precisao = (autocast, None) if autocast is not None else None
    lote = [(entrada, alvo)]

    def passo():
        return passo_de_treino(modelo, otimizador, lambda microlote: forward_perda(*microlote), lote, clip=clip,
                               precisao=precisao)

    return passo


def variantes_de_treino(cfg: dict, entrada, alvo, compilar: bool = False, nanogpt=None) -> dict:
    """``{nome: (passo, modelo)}`` das variantes medidas lado a lado, todas com a mesma configuração e o mesmo batch.

    A primeira é a referência das razões (o equivalente ao nanoGPT). ``nanogpt``: o módulo ``model.py`` do nanoGPT
    (de :func:`carregar_nanogpt_local`), se houver um em disco.
    """
    variantes = {}
    fixar_semente(123)
    ref = ModeloEstiloNanoGPT(cfg).train()
    variantes["equivalente ao nanoGPT (fp32)"] = (
        _passo_de_treino(ref, ref, _adamw_como_nanogpt(ref), entrada, alvo), ref)
    if nanogpt is not None:
        fixar_semente(123)
        original = nanogpt.GPT(nanogpt.GPTConfig(block_size=cfg["context_length"], vocab_size=cfg["vocab_size"],
                                                 n_layer=cfg["n_layers"], n_head=cfg["n_heads"], n_embd=cfg["d_model"],
                                                 dropout=0.0, bias=True)).train()
        with contextlib.redirect_stdout(io.StringIO()):  # o nanoGPT imprime contagens ao montar o otimizador
            opt = original.configure_optimizers(0.1, 1e-3, (0.9, 0.95), "cpu")
        variantes["model.py do nanoGPT (fp32)"] = (
            _passo_de_treino(lambda x, y: original(x, y)[1], original, opt, entrada, alvo), original)
    fixar_semente(123)
    didatico = criar_modelo_gpt(dict(cfg, atencao_rapida=False, caminho_rapido=False)).train()
    variantes["didático (caps. 3–4)"] = (
        _passo_de_treino(lambda x, y: perda_do_batch(didatico, x, y), didatico, criar_otimizador(didatico, 1e-3),
                         entrada, alvo), didatico)
    fixar_semente(123)
    nosso = criar_modelo_gpt(cfg).train()
    variantes["caminho rápido (fp32)"] = (
        _passo_de_treino(lambda x, y: perda_do_batch(nosso, x, y), nosso, criar_otimizador(nosso, 1e-3), entrada,
                         alvo), nosso)
    if cpu_tem_bf16():
        fixar_semente(123)
        nosso_bf16 = criar_modelo_gpt(cfg).train()
        autocast, _, _ = precisao_para("cpu", bf16_na_cpu=True)
        variantes["caminho rápido + bf16 (autocast)"] = (
            _passo_de_treino(lambda x, y: perda_do_batch(nosso_bf16, x, y), nosso_bf16,
                             criar_otimizador(nosso_bf16, 1e-3), entrada, alvo, autocast), nosso_bf16)
    if compilar:
        fixar_semente(123)
        nosso_c = criar_modelo_gpt(cfg).train()
        perda_compilada = torch.compile(perda_do_batch)  # como o treinar_modelo(compilar=True) do capítulo 5
        variantes["caminho rápido + torch.compile"] = (
            _passo_de_treino(lambda x, y: perda_compilada(nosso_c, x, y), nosso_c, criar_otimizador(nosso_c, 1e-3),
                             entrada, alvo), nosso_c)
    return variantes


def medir_pico_matmul(n: int = 1024, repeticoes: int = 3) -> float:
    """GFLOP/s da melhor de ``repeticoes`` multiplicações ``(n × n) @ (n × n)`` em fp32 (``2·n³`` FLOPs cada).

    Uma matmul grande e quadrada é o melhor caso da CPU: o número serve de "pico prático" para o MFU.
    """
    gerador = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gerador)
    b = torch.randn(n, n, generator=gerador)
    a @ b  # aquecimento
    melhor = float("inf")
    for _ in range(repeticoes):
        inicio = time.perf_counter()
        a @ b
        melhor = min(melhor, time.perf_counter() - inicio)
    return 2 * n**3 / melhor / 1e9


def medir_treino_lado_a_lado(cfg: dict, batch: int, rodadas: int, passos_por_rodada: int = 1, n_matmul: int = 1024,
                             compilar: bool = False, nanogpt=None, ids=None, mostrar: bool = False) -> dict:
    """Tokens/s do passo de treino de cada variante, em rodadas INTERCALADAS, e o MFU de cada rodada.

    Em cada rodada, o pico de matmul é medido de novo e cada variante dá ``passos_por_rodada`` passos, uma depois da
    outra: numa máquina dividida, uma variação da carga atinge todas as variantes na mesma rodada, e a razão entre
    elas (calculada rodada a rodada) fica estável. ``ids``: tokens de texto de verdade para o batch (senão,
    aleatórios). Devolve ``{"variantes": {nome: {...}}, "pico": (mediana, min, max), "carga": texto,
    "compilacao_s": segundos}``; cada variante tem ``tokens_por_s``, ``razao`` e ``mfu`` como ``(mediana, min, max)``
    e ``perda_final`` (depois de todos os passos no mesmo batch: fp32 e bf16 devem ficar perto).
    """
    t = cfg["context_length"]
    if ids is None:
        ids = torch.randint(0, cfg["vocab_size"], (batch * t + 1,), generator=torch.Generator().manual_seed(123))
    ids = ids[: batch * t + 1]
    entrada, alvo = ids[:-1].reshape(batch, t), ids[1:].reshape(batch, t)  # (batch, tokens)
    variantes = variantes_de_treino(cfg, entrada, alvo, compilar=compilar, nanogpt=nanogpt)
    compilacao = 0.0
    for nome, (passo, _) in variantes.items():  # aquecimento (e compilação)
        inicio = time.perf_counter()
        passo()
        if "compile" in nome:
            compilacao = time.perf_counter() - inicio
        passo()
    flops = {nome: flops_por_token_treino(m, cfg) * batch * t for nome, (_, m) in variantes.items()}
    tempos = {nome: [] for nome in variantes}
    picos, perdas = [], {}
    for rodada in range(rodadas):
        picos.append(medir_pico_matmul(n_matmul))
        for nome, (passo, _) in variantes.items():
            inicio = time.perf_counter()
            for _ in range(passos_por_rodada):
                perdas[nome] = passo()
            tempos[nome].append((time.perf_counter() - inicio) / passos_por_rodada)
        if mostrar:
            print(f"   rodada {rodada + 1}/{rodadas} ({carga_da_maquina()})", flush=True)
    referencia = next(iter(variantes))
    resultado = {"variantes": {}, "pico": _mediana_e_faixa(picos), "carga": carga_da_maquina(),
                 "compilacao_s": compilacao}
    for nome in variantes:
        resultado["variantes"][nome] = {
            "tokens_por_s": _mediana_e_faixa([batch * t / s for s in tempos[nome]]),
            "razao": _mediana_e_faixa([r / s for r, s in zip(tempos[referencia], tempos[nome], strict=True)]),
            "mfu": _mediana_e_faixa([100 * flops[nome] / s / 1e9 / p
                                     for s, p in zip(tempos[nome], picos, strict=True)]),
            "perda_final": float(perdas[nome]),
        }
    return resultado


#: Categorias do perfil do passo de treino: (nome, trechos do nome da operação do PyTorch). A primeira que casar vence;
#: o que não casar com nenhuma vai para "outras".
CATEGORIAS_DO_PERFIL = (
    ("multiplicações de matrizes", ("aten::mm", "aten::addmm", "aten::bmm")),
    ("atenção (SDPA)", ("scaled_dot_product",)),
    ("GELU", ("gelu",)),
    ("LayerNorm", ("layer_norm",)),
    ("perda (entropia cruzada)", ("log_softmax", "nll_loss", "amax", "exp_", "gather")),
    ("AdamW e recorte do gradiente", ("adamw", "_foreach", "vector_norm", "clip")),
    ("cópias, somas e o resto", ("",)),
)


def onde_vai_o_tempo(cfg: dict, batch: int, ids=None, passos: int = 3) -> dict:
    """Perfil de ``passos`` passos de treino do caminho rápido (fp32) com o ``torch.profiler``, por categoria.

    Soma o tempo PRÓPRIO de cada operação do PyTorch (sem contar as que ela chama) e agrupa por
    :data:`CATEGORIAS_DO_PERFIL`. Devolve ``{"categorias": {nome: (ms por passo, % do passo)}, "gflops_matmul":
    GFLOP/s das multiplicações de matrizes sozinhas, "ms_por_passo": total}``. Com isso dá para ver o teto do MFU: se
    as matmuls rodam a X % do pico e ocupam Y % do passo, o MFU do passo não passa muito de X·Y.
    """
    from torch.profiler import ProfilerActivity, profile

    t = cfg["context_length"]
    if ids is None:
        ids = torch.randint(0, cfg["vocab_size"], (batch * t + 1,), generator=torch.Generator().manual_seed(123))
    ids = ids[: batch * t + 1]
    entrada, alvo = ids[:-1].reshape(batch, t), ids[1:].reshape(batch, t)  # (batch, tokens)
    fixar_semente(123)
    modelo = criar_modelo_gpt(cfg).train()
    passo = _passo_de_treino(lambda x, y: perda_do_batch(modelo, x, y), modelo, criar_otimizador(modelo, 1e-3),
                             entrada, alvo)
    passo()
    passo()  # aquecimento
    with profile(activities=[ProfilerActivity.CPU]) as perfil:
        for _ in range(passos):
            passo()
    tempos = {nome: 0.0 for nome, _ in CATEGORIAS_DO_PERFIL}
    for evento in perfil.key_averages():
        nome = evento.key.lower()
        categoria = next(c for c, trechos in CATEGORIAS_DO_PERFIL if any(tr in nome for tr in trechos))
        tempos[categoria] += evento.self_cpu_time_total / 1e3 / passos  # microssegundos -> ms por passo
    total = sum(tempos.values())
    flops_matmul = 6 * parametros_de_matmul(modelo) * batch * t  # os 6·N por token (a atenção fica no SDPA)
    ms_matmul = tempos["multiplicações de matrizes"]
    return {"categorias": {c: (ms, 100 * ms / total) for c, ms in tempos.items()},
            "gflops_matmul": flops_matmul / (ms_matmul / 1e3) / 1e9 if ms_matmul > 0 else 0.0,
            "ms_por_passo": total}


# ----------------------------------------------------------------------------------------------------------------
# 3: geração gulosa lado a lado (gerar_texto do capítulo 5 x transformers)
# ----------------------------------------------------------------------------------------------------------------


def para_gpt2_do_transformers(modelo, cfg: dict):
    """Um ``GPT2LMHeadModel`` do ``transformers`` com os MESMOS pesos do nosso modelo (configuração do mesmo tamanho).

    O GPT-2 guarda as camadas como ``Conv1D`` (matriz transposta) e a GELU dele (``gelu_new``) é a mesma aproximação
    por tangente da nossa. Com os mesmos pesos, a geração gulosa dos dois tem de dar os mesmos tokens.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=cfg["vocab_size"], n_positions=cfg["context_length"], n_embd=cfg["d_model"],
                        n_layer=cfg["n_layers"], n_head=cfg["n_heads"], resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
                        bos_token_id=None, eos_token_id=None)  # sem token de fim: gera sempre os n tokens
    hf = GPT2LMHeadModel(config).eval()
    d = cfg["d_model"]
    with torch.no_grad():
        hf.transformer.wte.weight.copy_(modelo.emb_tokens.weight)
        hf.transformer.wpe.weight.copy_(modelo.emb_posicoes.weight)
        for bloco, h in zip(modelo.blocos, hf.transformer.h, strict=True):
            h.ln_1.weight.copy_(bloco.norm1.escala), h.ln_1.bias.copy_(bloco.norm1.deslocamento)
            h.ln_2.weight.copy_(bloco.norm2.escala), h.ln_2.bias.copy_(bloco.norm2.deslocamento)
            h.attn.c_attn.weight.copy_(bloco.atencao.qkv.weight.T)
            vies_qkv = bloco.atencao.qkv.bias
            h.attn.c_attn.bias.copy_(vies_qkv if vies_qkv is not None else torch.zeros(3 * d))
            h.attn.c_proj.weight.copy_(bloco.atencao.proj_saida.weight.T)
            h.attn.c_proj.bias.copy_(bloco.atencao.proj_saida.bias)
            h.mlp.c_fc.weight.copy_(bloco.ff.camadas[0].weight.T), h.mlp.c_fc.bias.copy_(bloco.ff.camadas[0].bias)
            h.mlp.c_proj.weight.copy_(bloco.ff.camadas[2].weight.T), h.mlp.c_proj.bias.copy_(bloco.ff.camadas[2].bias)
        hf.transformer.ln_f.weight.copy_(modelo.norm_final.escala)
        hf.transformer.ln_f.bias.copy_(modelo.norm_final.deslocamento)
    return hf


def medir_geracao_lado_a_lado(cfg: dict, tokens_prompt: int, tokens_novos: int, rodadas: int = 3,
                              semente: int = 123, mostrar: bool = False) -> dict:
    """Tokens/s da geração gulosa: ``transformers`` ``generate(use_cache=True)`` x ``gerar_texto`` com e sem cache.

    Os três com os mesmos pesos (:func:`para_gpt2_do_transformers`), em rodadas intercaladas; confere que os tokens
    gerados são idênticos. Devolve ``{"variantes": {nome: {"tokens_por_s", "razao"}}, "iguais", "tokens_novos",
    "carga"}`` (tuplas ``(mediana, min, max)``; razões contra o ``transformers``, rodada a rodada).
    """
    tokens_novos = min(tokens_novos, cfg["context_length"] - tokens_prompt)  # tudo cabe no contexto (sem deslizar)
    fixar_semente(semente)
    modelo = criar_modelo_gpt(cfg).eval()
    hf = para_gpt2_do_transformers(modelo, cfg)
    ids = torch.randint(0, cfg["vocab_size"], (1, tokens_prompt), generator=torch.Generator().manual_seed(semente))

    def transformers_generate(n):
        with torch.no_grad():
            return hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                               do_sample=False, use_cache=True, pad_token_id=0)

    variantes = {"transformers generate (com cache)": transformers_generate,
                 "gerar_texto com cache": lambda n: gerar_texto(modelo, ids, n, usar_cache=True),
                 "gerar_texto sem cache (só a última posição)": lambda n: gerar_texto(modelo, ids, n, usar_cache=False)}
    import transformers

    verbosidade = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # sem avisos de configuração de geração na saída
    try:
        for f in variantes.values():
            f(2)  # aquecimento
        tempos = {nome: [] for nome in variantes}
        saidas = {}
        for rodada in range(rodadas):
            for nome, f in variantes.items():
                inicio = time.perf_counter()
                saidas[nome] = f(tokens_novos)
                tempos[nome].append(time.perf_counter() - inicio)
            if mostrar:
                print(f"   rodada {rodada + 1}/{rodadas} ({carga_da_maquina()})", flush=True)
    finally:
        transformers.logging.set_verbosity(verbosidade)
    referencia = next(iter(variantes))
    iguais = all(torch.equal(saidas[referencia], s) for s in saidas.values())
    razoes = {nome: [r / s for r, s in zip(tempos[referencia], tempos[nome], strict=True)] for nome in variantes}
    return {"variantes": {nome: {"tokens_por_s": _mediana_e_faixa([tokens_novos / s for s in tempos[nome]]),
                                 "razao": _mediana_e_faixa(razoes[nome])}
                          for nome in variantes},
            "iguais": iguais, "tokens_novos": tokens_novos, "carga": carga_da_maquina()}


# ----------------------------------------------------------------------------------------------------------------
# 4: BPE em Python puro x tiktoken
# ----------------------------------------------------------------------------------------------------------------


def medir_bpe(n_caracteres: int, repeticoes_tiktoken: int = 3) -> dict:
    """Caracteres por segundo do ``TokenizadorBPE`` (Python puro) e do mesmo BPE no ``tiktoken``.

    O tokenizador em Python guarda num dicionário os pedaços já codificados; para uma medida justa ele é carregado
    de novo (cache vazio) e codifica o texto uma vez só. Devolve ``{"python", "tiktoken", "iguais", "tokens",
    "caracteres"}``.
    """
    texto = corpus_machado("validacao")[:n_caracteres]
    puro = tokenizador_machado(N_FUSOES_BASE)  # recém-carregado do arquivo: cache de pedaços vazio
    puro._cache.clear()
    inicio = time.perf_counter()
    ids_puro = puro.encode(texto)
    tempo_puro = time.perf_counter() - inicio
    rapido = puro.para_tiktoken()
    rapido.encode(texto[:1000], allowed_special="all")  # aquecimento
    tempo_rapido = float("inf")
    for _ in range(repeticoes_tiktoken):
        inicio = time.perf_counter()
        ids_rapido = rapido.encode(texto, allowed_special="all")
        tempo_rapido = min(tempo_rapido, time.perf_counter() - inicio)
    return {"python": len(texto) / tempo_puro, "tiktoken": len(texto) / tempo_rapido,
            "iguais": ids_puro == ids_rapido, "tokens": len(ids_puro), "caracteres": len(texto)}


# ----------------------------------------------------------------------------------------------------------------
# Tudo junto
# ----------------------------------------------------------------------------------------------------------------


def _linha(grupo, variante, valor, unidade, razao=None, obs="", faixa=None):
    """Uma linha da tabela; ``faixa``: ``(mín., máx.)`` da razão (ou do valor, sem razão) nas rodadas."""
    return {"grupo": grupo, "variante": variante, "valor": valor, "unidade": unidade, "razao": razao, "obs": obs,
            "faixa": faixa}


def medir_desempenho(rapido: bool | None = None, threads: int | None = None, mostrar: bool = False,
                     nanogpt=None) -> list[dict]:
    """Roda as medidas e devolve as linhas da tabela.

    Cada linha: ``{"grupo", "variante", "valor", "unidade", "razao", "obs"}``; ``valor`` é a mediana das rodadas e
    ``razao`` compara a variante com a primeira do grupo (mediana das razões rodada a rodada; ex.: 1,8 = 1,8× mais
    rápida), com a faixa mín.–máx. na observação. ``rapido=None`` segue ``LLM_DO_ZERO_RAPIDO``. ``nanogpt``: o
    ``model.py`` do nanoGPT carregado de um arquivo local (:func:`carregar_nanogpt_local`), se você tiver um.

    ``threads``: threads de CPU do PyTorch durante as medidas (o valor anterior volta no fim). ``None`` usa 1 no
    modo rápido — numa máquina ocupada por outros programas, várias threads esperam umas pelas outras e o tempo
    fica instável — e as do sistema no modo completo.
    """
    rapido = RAPIDO if rapido is None else rapido
    threads_antes = torch.get_num_threads()
    threads = (1 if rapido else threads_antes) if threads is None else threads
    torch.set_num_threads(threads)
    try:
        return _medir_tudo(rapido, mostrar, nanogpt)
    finally:
        torch.set_num_threads(threads_antes)


def _faixa(intervalo, sufixo="") -> str:
    return f"{_numero(intervalo[1])}–{_numero(intervalo[2])}{sufixo}"


def _medir_tudo(rapido: bool, mostrar: bool, nanogpt=None) -> list[dict]:
    tam = tamanhos(rapido)
    cfg = tam["cfg"]
    linhas = []

    def avisar(texto):
        if mostrar:
            print(texto, flush=True)

    descricao = (f"d_model={cfg['d_model']}, {cfg['n_layers']} camadas, {cfg['n_heads']} cabeças, "
                 f"contexto {cfg['context_length']}, batch {tam['batch']}")
    avisar(f"1/3 passo de treino lado a lado, {tam['rodadas']} rodadas intercaladas "
           f"({descricao}; {carga_da_maquina()}) ...")
    tokenizador = tokenizador_machado(N_FUSOES_BASE).para_tiktoken()
    texto = corpus_machado("validacao")[: 8 * tam["batch"] * cfg["context_length"]]
    ids = torch.tensor(tokenizador.encode(texto, allowed_special="all"))  # o batch é texto de verdade
    treino = medir_treino_lado_a_lado(cfg, tam["batch"], tam["rodadas"], tam["passos_por_rodada"], tam["n_matmul"],
                                      compilar=tam["compilar"], nanogpt=nanogpt, ids=ids, mostrar=mostrar)
    for i, (nome, v) in enumerate(treino["variantes"].items()):
        perda = f"perda no fim {formatar_numero(v['perda_final'], 3)}"
        obs = f"{descricao}; {perda}" if i == 0 else f"razão {_faixa(v['razao'], '×')}; {perda}"
        if "compile" in nome:
            obs += f"; compilar levou {treino['compilacao_s']:.0f} s"
        linhas.append(_linha("treino", nome, v["tokens_por_s"][0], "tokens/s", v["razao"][0], obs, v["razao"][1:]))
    pico = treino["pico"]
    linhas.append(_linha("matmul", f"pico fp32, n = {tam['n_matmul']}", pico[0], "GFLOP/s", None,
                         f"{torch.get_num_threads()} thread(s); faixa {_faixa(pico)}"))
    for nome, v in treino["variantes"].items():
        if "bf16" in nome:
            continue  # o pico medido é de fp32: um MFU de bf16 contra ele não é comparável
        linhas.append(_linha("MFU", nome, v["mfu"][0], "% do pico", None, f"faixa {_faixa(v['mfu'], ' %')}",
                             v["mfu"][1:]))

    perfil = onde_vai_o_tempo(cfg, tam["batch"], ids=ids)
    for categoria, (ms, pct) in perfil["categorias"].items():
        linhas.append(_linha("perfil", categoria, pct, "% do passo", None, f"{_numero(ms)} ms por passo"))
    linhas.append(_linha("perfil", "matmuls sozinhas", perfil["gflops_matmul"], "GFLOP/s", None,
                         f"{_numero(100 * perfil['gflops_matmul'] / pico[0])} % do pico de matmul"))

    avisar(f"2/3 geração gulosa lado a lado ({tam['tokens_novos']} tokens novos, {tam['rodadas_geracao']} rodadas) ...")
    ger = medir_geracao_lado_a_lado(cfg, tam["tokens_prompt"], tam["tokens_novos"], tam["rodadas_geracao"],
                                    mostrar=mostrar)
    for i, (nome, v) in enumerate(ger["variantes"].items()):
        obs = (f"{ger['tokens_novos']} tokens novos, mesmos pesos" if i == 0 else
               f"razão {_faixa(v['razao'], '×')}; " + ("tokens idênticos" if ger["iguais"]
                                                       else "ATENÇÃO: tokens diferentes"))
        linhas.append(_linha("geração", nome, v["tokens_por_s"][0], "tokens/s", v["razao"][0], obs, v["razao"][1:]))

    avisar(f"3/3 tokenização de {formatar_numero(tam['caracteres_bpe'])} caracteres ...")
    bpe = medir_bpe(tam["caracteres_bpe"])
    linhas.append(_linha("BPE", "TokenizadorBPE (Python puro)", bpe["python"], "caracteres/s", 1.0,
                         f"{formatar_numero(bpe['tokens'])} tokens"))
    linhas.append(_linha("BPE", "tiktoken (Rust), mesmas fusões", bpe["tiktoken"], "caracteres/s",
                         bpe["tiktoken"] / bpe["python"],
                         "ids idênticos" if bpe["iguais"] else "ATENÇÃO: ids diferentes"))
    carga = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    linhas.append(_linha("máquina", "carga no fim das medidas", carga, "processos na fila", None, carga_da_maquina()))
    return linhas


def _numero(x: float) -> str:
    """:func:`formatar_numero` com casas decimais só quando ajudam: 12.345 / 45,6 / 4,56 / 0,123."""
    return formatar_numero(x, 0 if abs(x) >= 1000 else 1 if abs(x) >= 10 else 2 if abs(x) >= 0.1 else 3)


def formatar_tabela(linhas: list[dict]) -> str:
    """As linhas como uma tabela de texto alinhada (números no formato brasileiro)."""
    cabecalho = ("grupo", "variante", "valor", "unidade", "razão", "observação")
    corpo = [(linha["grupo"], linha["variante"], _numero(linha["valor"]), linha["unidade"],
              "" if linha["razao"] is None else _numero(linha["razao"]) + "×", linha["obs"]) for linha in linhas]
    larguras = [max(len(str(c[i])) for c in [cabecalho, *corpo]) for i in range(len(cabecalho))]
    alinhar = ["<", "<", ">", "<", ">", "<"]
    texto = [" | ".join(f"{c:{a}{w}}" for c, a, w in zip(cabecalho, alinhar, larguras, strict=True))]
    texto.append("-+-".join("-" * w for w in larguras))
    grupo_anterior = None
    for c in corpo:
        if grupo_anterior is not None and c[0] != grupo_anterior:
            texto.append("-+-".join("-" * w for w in larguras))
        grupo_anterior = c[0]
        texto.append(" | ".join(f"{str(x):{a}{w}}" for x, a, w in zip(c, alinhar, larguras, strict=True)))
    return "\n".join(texto)


def imprimir_tabela(linhas: list[dict]) -> None:
    print(formatar_tabela(linhas))


# ----------------------------------------------------------------------------------------------------------------
# Linha de comando
# ----------------------------------------------------------------------------------------------------------------


def criar_parser() -> argparse.ArgumentParser:
    p = ParserPT(prog="desempenho.py",
                 description="Mede treino (lado a lado com um equivalente ao nanoGPT), MFU, geração (lado a lado com "
                             "o transformers) e tokenização.")
    p.add_argument("--rapido", action="store_true", help="tamanhos pequenos (< 20 s); o mesmo que LLM_DO_ZERO_RAPIDO=1")
    p.add_argument("--threads", type=inteiro_positivo, default=None,
                   help="threads de CPU do PyTorch (padrão: 1 no modo rápido, as do sistema no completo)")
    p.add_argument("--json", type=Path, default=None, help="também grava as linhas neste arquivo JSON")
    p.add_argument("--nanogpt", type=Path, default=None,
                   help="caminho de um model.py do nanoGPT já baixado: acrescenta a linha dele ao treino lado a lado")
    return p


def main(argv=None) -> int:
    args = criar_parser().parse_args(argv)
    rapido = args.rapido or RAPIDO
    threads = args.threads if args.threads is not None else (1 if rapido else torch.get_num_threads())
    print(f"Modo {'RÁPIDO' if rapido else 'COMPLETO'} | PyTorch {torch.__version__} | "
          f"{threads} thread(s) nas medidas | {os.cpu_count()} CPU(s) lógicas", flush=True)
    nanogpt = None
    if args.nanogpt is not None:
        nanogpt = carregar_nanogpt_local(args.nanogpt)
        print(f"model.py do nanoGPT: {'carregado' if nanogpt else 'não encontrado; a linha dele fica de fora'} "
              f"({args.nanogpt})", flush=True)
    inicio = time.perf_counter()
    linhas = medir_desempenho(rapido=rapido, threads=threads, mostrar=True, nanogpt=nanogpt)
    print()
    imprimir_tabela(linhas)
    print(f"\nTempo total: {time.perf_counter() - inicio:.1f} s")
    if args.json is not None:
        gravar_atomicamente(args.json, json.dumps(linhas, ensure_ascii=False, indent=1))
        print(f"Linhas gravadas em {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
