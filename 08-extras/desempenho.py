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
   ``scaled_dot_product_attention`` do PyTorch).
2. **Pico de multiplicação de matrizes** fp32 desta CPU (GFLOP/s de matmuls grandes) e o **MFU** (*model FLOPs
   utilization*) de cada passo de treino: que fração desse pico o treino consegue usar. Os FLOPs de um passo vêm da
   conta clássica (Kaplan et al., 2020; PaLM, 2022): por token, ``6·N`` para as multiplicações pelas matrizes de
   pesos (``2·N`` no forward — uma multiplicação e uma soma por peso — e ``4·N`` no backward, que calcula o gradiente
   da entrada e o dos pesos) mais ``12·L·T·d`` para a atenção (``QKᵀ`` e ``pesos·V`` custam ``2·T·d`` cada por
   token e por camada no forward; vezes 3 com o backward). ``N`` aqui conta só os pesos das camadas ``Linear``
   (incluindo a cabeça de saída): a tabela de embeddings é consultada, não multiplicada.
3. **KV cache**: tokens por segundo da geração gulosa sem e com cache (``gerar_texto(..., usar_cache=False/True)``
   do capítulo 5), conferindo que os tokens gerados são idênticos.
4. **Tokenização**: o nosso ``TokenizadorBPE`` em Python puro contra as MESMAS fusões rodando no ``tiktoken``
   (núcleo em Rust), no texto de validação de Machado, conferindo que os ids são idênticos.

Números de tempo variam de uma execução para outra (outros programas, temperatura da CPU, número de threads): as
razões entre as variantes são mais estáveis que os valores absolutos.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

PASTA = Path(__file__).resolve().parent
if str(PASTA) not in sys.path:
    sys.path.insert(0, str(PASTA))

from llm_do_zero import (GPT_BASE_COMPLETO, N_FUSOES_BASE, RAPIDO, ParserPT, corpus_machado, criar_modelo_gpt,  # noqa: E402
                         criar_otimizador, fixar_semente, gerar_texto, inteiro_positivo, perda_do_batch,
                         tokenizador_machado)


def tamanhos(rapido: bool) -> dict:
    """Os tamanhos de cada medida nos dois modos (um só código; só os números mudam)."""
    if rapido:
        return {"cfg": dict(GPT_BASE_COMPLETO, context_length=128, d_model=128, n_layers=2),
                "batch": 4, "passos_treino": 3, "n_matmul": 512, "repeticoes_matmul": 4,
                "tokens_prompt": 8, "repeticoes_geracao": 1, "caracteres_bpe": 20_000}
    return {"cfg": dict(GPT_BASE_COMPLETO),
            "batch": 8, "passos_treino": 8, "n_matmul": 1024, "repeticoes_matmul": 8,
            "tokens_prompt": 16, "repeticoes_geracao": 3, "caracteres_bpe": 200_000}


# ----------------------------------------------------------------------------------------------------------------
# 1 e 2: passo de treino, pico de matmul e MFU
# ----------------------------------------------------------------------------------------------------------------


def parametros_de_matmul(modelo: nn.Module) -> int:
    """``N`` da conta de FLOPs: pesos de todas as ``nn.Linear`` (a cabeça de saída conta, mesmo amarrada)."""
    return sum(m.weight.numel() for m in modelo.modules() if isinstance(m, nn.Linear))


def flops_por_token_treino(modelo: nn.Module, cfg: dict) -> float:
    """FLOPs de um passo de treino por token: ``6·N + 12·L·T·d`` (pesos + atenção; veja o docstring do módulo).

    A máscara causal deixaria pular metade de ``QKᵀ`` e ``pesos·V``; a conta usual (e esta) não desconta isso.
    """
    return 6 * parametros_de_matmul(modelo) + 12 * cfg["n_layers"] * cfg["context_length"] * cfg["d_model"]


def medir_passo_de_treino(cfg: dict, batch: int, passos: int, semente: int = 123) -> dict:
    """Tempo mediano de um passo de treino (forward + backward + AdamW) num batch aleatório de ids.

    O conteúdo dos ids não muda a velocidade; um passo de aquecimento antes (alocações, escolha de núcleos) fica de
    fora. Devolve ``{"segundos_por_passo", "tokens_por_s", "flops_por_s", "parametros"}``.
    """
    fixar_semente(semente)
    modelo = criar_modelo_gpt(cfg)
    modelo.train()
    otimizador = criar_otimizador(modelo, lr=1e-3)
    gerador = torch.Generator().manual_seed(semente)
    t = cfg["context_length"]
    entrada = torch.randint(0, cfg["vocab_size"], (batch, t), generator=gerador)  # (batch, tokens)
    alvo = torch.randint(0, cfg["vocab_size"], (batch, t), generator=gerador)  # (batch, tokens)

    def passo():
        otimizador.zero_grad(set_to_none=True)
        perda_do_batch(modelo, entrada, alvo).backward()
        otimizador.step()

    passo()  # aquecimento
    tempos = []
    for _ in range(passos):
        inicio = time.perf_counter()
        passo()
        tempos.append(time.perf_counter() - inicio)
    segundos = statistics.median(tempos)
    tokens = batch * t
    return {"segundos_por_passo": segundos, "tokens_por_s": tokens / segundos,
            "flops_por_s": flops_por_token_treino(modelo, cfg) * tokens / segundos,
            "parametros": sum(p.numel() for p in modelo.parameters())}


def medir_pico_matmul(n: int = 1024, repeticoes: int = 8) -> float:
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


# ----------------------------------------------------------------------------------------------------------------
# 3: KV cache (o gerar_texto do capítulo 5)
# ----------------------------------------------------------------------------------------------------------------


def medir_kv_cache(cfg: dict, tokens_prompt: int, repeticoes: int = 1, semente: int = 123):
    """Tokens/s da geração gulosa sem e com KV cache, preenchendo o contexto inteiro depois do prompt.

    Devolve ``{"sem_cache", "com_cache", "iguais", "tokens_novos"}``. O modelo tem pesos aleatórios: para medir
    velocidade e conferir igualdade, não faz diferença.
    """
    fixar_semente(semente)
    modelo = criar_modelo_gpt(dict(cfg, atencao_rapida=True)).eval()
    gerador = torch.Generator().manual_seed(semente)
    ids = torch.randint(0, cfg["vocab_size"], (1, tokens_prompt), generator=gerador)  # (1, tokens_prompt)
    novos = cfg["context_length"] - tokens_prompt
    resultado = {"tokens_novos": novos}
    saidas = {}
    for nome, usar_cache in (("sem_cache", False), ("com_cache", True)):
        gerar_texto(modelo, ids, 2, usar_cache=usar_cache)  # aquecimento
        melhor = float("inf")
        for _ in range(repeticoes):
            inicio = time.perf_counter()
            saidas[nome] = gerar_texto(modelo, ids, novos, usar_cache=usar_cache)
            melhor = min(melhor, time.perf_counter() - inicio)
        resultado[nome] = novos / melhor
    resultado["iguais"] = bool(torch.equal(saidas["sem_cache"], saidas["com_cache"]))
    return resultado


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


def _linha(grupo, variante, valor, unidade, razao=None, obs=""):
    return {"grupo": grupo, "variante": variante, "valor": valor, "unidade": unidade, "razao": razao, "obs": obs}


def medir_desempenho(rapido: bool | None = None, threads: int | None = None, mostrar: bool = False) -> list[dict]:
    """Roda as quatro medidas e devolve as linhas da tabela.

    Cada linha: ``{"grupo", "variante", "valor", "unidade", "razao", "obs"}``; ``razao`` compara a variante com a
    primeira do grupo (ex.: 1,8 = 1,8× mais rápida). ``rapido=None`` segue ``LLM_DO_ZERO_RAPIDO``.

    ``threads``: threads de CPU do PyTorch durante as medidas (o valor anterior volta no fim). ``None`` usa 1 no
    modo rápido — numa máquina ocupada por outros programas, várias threads esperam umas pelas outras e o tempo
    fica instável — e as do sistema no modo completo.
    """
    rapido = RAPIDO if rapido is None else rapido
    threads_antes = torch.get_num_threads()
    threads = (1 if rapido else threads_antes) if threads is None else threads
    torch.set_num_threads(threads)
    try:
        return _medir_tudo(rapido, mostrar)
    finally:
        torch.set_num_threads(threads_antes)


def _medir_tudo(rapido: bool, mostrar: bool) -> list[dict]:
    tam = tamanhos(rapido)
    cfg = tam["cfg"]
    linhas = []

    def avisar(texto):
        if mostrar:
            print(texto, flush=True)

    descricao = (f"d_model={cfg['d_model']}, {cfg['n_layers']} camadas, {cfg['n_heads']} cabeças, "
                 f"contexto {cfg['context_length']}, batch {tam['batch']}")
    avisar(f"1/4 passo de treino ({descricao}) ...")
    didatico = medir_passo_de_treino(dict(cfg, atencao_rapida=False), tam["batch"], tam["passos_treino"])
    rapida = medir_passo_de_treino(dict(cfg, atencao_rapida=True), tam["batch"], tam["passos_treino"])
    linhas.append(_linha("treino", "atenção didática (cap. 4)", didatico["tokens_por_s"], "tokens/s", 1.0,
                         descricao))
    linhas.append(_linha("treino", "AtencaoRapida (QKV fundida + SDPA)", rapida["tokens_por_s"], "tokens/s",
                         rapida["tokens_por_s"] / didatico["tokens_por_s"],
                         f"{_numero(rapida['parametros'])} parâmetros nos dois"))

    avisar(f"2/4 pico de matmul fp32 ({tam['n_matmul']} × {tam['n_matmul']}) ...")
    pico = medir_pico_matmul(tam["n_matmul"], tam["repeticoes_matmul"])
    linhas.append(_linha("matmul", f"pico fp32, n = {tam['n_matmul']}", pico, "GFLOP/s", None,
                         f"{torch.get_num_threads()} thread(s)"))
    for nome, medida in (("atenção didática", didatico), ("AtencaoRapida", rapida)):
        gflops = medida["flops_por_s"] / 1e9
        linhas.append(_linha("MFU", nome, 100 * gflops / pico, "% do pico", None, f"{_numero(gflops)} GFLOP/s úteis"))

    avisar("3/4 geração com e sem KV cache ...")
    kv = medir_kv_cache(cfg, tam["tokens_prompt"], tam["repeticoes_geracao"])
    linhas.append(_linha("KV cache", "sem cache", kv["sem_cache"], "tokens/s", 1.0,
                         f"{kv['tokens_novos']} tokens novos, guloso"))
    linhas.append(_linha("KV cache", "com cache", kv["com_cache"], "tokens/s", kv["com_cache"] / kv["sem_cache"],
                         "tokens idênticos" if kv["iguais"] else "ATENÇÃO: tokens diferentes"))

    avisar(f"4/4 tokenização de {tam['caracteres_bpe']:,} caracteres ...".replace(",", "."))
    bpe = medir_bpe(tam["caracteres_bpe"])
    linhas.append(_linha("BPE", "TokenizadorBPE (Python puro)", bpe["python"], "caracteres/s", 1.0,
                         f"{bpe['tokens']:,} tokens".replace(",", ".")))
    linhas.append(_linha("BPE", "tiktoken (Rust), mesmas fusões", bpe["tiktoken"], "caracteres/s",
                         bpe["tiktoken"] / bpe["python"], "ids idênticos" if bpe["iguais"] else "ATENÇÃO: ids diferentes"))
    return linhas


def _numero(x: float) -> str:
    """Número no formato brasileiro, com casas decimais só quando ajudam: 12.345 / 45,6 / 0,123."""
    casas = 0 if abs(x) >= 1000 else (1 if abs(x) >= 10 else 2 if abs(x) >= 0.1 else 3)
    return f"{x:,.{casas}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def formatar_tabela(linhas: list[dict]) -> str:
    """As linhas como uma tabela de texto alinhada (números no formato brasileiro)."""
    cabecalho = ("grupo", "variante", "valor", "unidade", "razão", "observação")
    corpo = [(l["grupo"], l["variante"], _numero(l["valor"]), l["unidade"],
              "" if l["razao"] is None else _numero(l["razao"]) + "×", l["obs"]) for l in linhas]
    larguras = [max(len(str(c[i])) for c in [cabecalho, *corpo]) for i in range(len(cabecalho))]
    alinhar = ["<", "<", ">", "<", ">", "<"]
    texto = [" | ".join(f"{c:{a}{w}}" for c, a, w in zip(cabecalho, alinhar, larguras))]
    texto.append("-+-".join("-" * w for w in larguras))
    grupo_anterior = None
    for c in corpo:
        if grupo_anterior is not None and c[0] != grupo_anterior:
            texto.append("-+-".join("-" * w for w in larguras))
        grupo_anterior = c[0]
        texto.append(" | ".join(f"{str(x):{a}{w}}" for x, a, w in zip(c, alinhar, larguras)))
    return "\n".join(texto)


def imprimir_tabela(linhas: list[dict]) -> None:
    print(formatar_tabela(linhas))


# ----------------------------------------------------------------------------------------------------------------
# Linha de comando
# ----------------------------------------------------------------------------------------------------------------


def criar_parser() -> argparse.ArgumentParser:
    p = ParserPT(prog="desempenho.py", description="Mede velocidade de treino, MFU, KV cache e tokenização.")
    p.add_argument("--rapido", action="store_true", help="tamanhos pequenos (< 20 s); o mesmo que LLM_DO_ZERO_RAPIDO=1")
    p.add_argument("--threads", type=inteiro_positivo, default=None,
                   help="threads de CPU do PyTorch (padrão: 1 no modo rápido, as do sistema no completo)")
    p.add_argument("--json", type=Path, default=None, help="também grava as linhas neste arquivo JSON")
    return p


def main(argv=None) -> int:
    args = criar_parser().parse_args(argv)
    rapido = args.rapido or RAPIDO
    threads = args.threads if args.threads is not None else (1 if rapido else torch.get_num_threads())
    print(f"Modo {'RÁPIDO' if rapido else 'COMPLETO'} | PyTorch {torch.__version__} | "
          f"{threads} thread(s) nas medidas | {os.cpu_count()} CPU(s) lógicas", flush=True)
    inicio = time.perf_counter()
    linhas = medir_desempenho(rapido=rapido, threads=threads, mostrar=True)
    print()
    imprimir_tabela(linhas)
    print(f"\nTempo total: {time.perf_counter() - inicio:.1f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(linhas, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"Linhas gravadas em {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
