"""Pré-treino com paralelismo de dados (DDP) lançado pelo ``torchrun`` — de verdade, em CPU.

Uso (na pasta ``08-extras``)::

    # 2 processos na mesma máquina, backend gloo (CPU)
    torchrun --standalone --nproc_per_node=2 ddp_pretreino.py --passos 20 --saida ../.cache/ddp/perdas_2proc.json

    # 1 processo só, com o MESMO batch global (as perdas batem com as de cima até ~1e-6)
    python ddp_pretreino.py --passos 20 --saida ../.cache/ddp/perdas_1proc.json \
        --comparar ../.cache/ddp/perdas_2proc.json

    # 1 processo com acumulação de gradiente: o batch global em 2 microlotes (mesma conta, outra vez)
    python ddp_pretreino.py --passos 20 --microlotes 2

A ideia do paralelismo de dados
-------------------------------
Cada processo ("rank") guarda uma cópia inteira do modelo e do otimizador. Em cada passo, o batch global de ``B``
janelas é repartido: com ``W`` processos, cada um recebe ``B / W`` janelas diferentes (quem reparte é o
``DistributedSampler``), calcula a perda e o ``backward`` só na sua fatia e, durante o ``backward``, o
``DistributedDataParallel`` soma os gradientes de todos os processos e divide por ``W`` (um *all-reduce*). Como
todos começam com os mesmos pesos e aplicam o mesmo gradiente médio, as cópias continuam idênticas depois do passo
do AdamW. A conta é exatamente a de um processo só com o batch inteiro: a média dos gradientes de ``W`` fatias do
mesmo tamanho é o gradiente da média. É isso que este script confere, perda a perda.

Por que as perdas batem "só" até ~1e-6 e não bit a bit? Somar números de ponto flutuante em outra ordem muda os
últimos dígitos: ``(a + b) + c`` nem sempre é igual a ``a + (b + c)`` em float32. Em algumas dezenas de passos a
diferença fica nesse nível; num treino longo ela cresce (cada passo parte de pesos um tiquinho diferentes, e o treino
amplifica essas diferenças), e as curvas passam a ser iguais na média, não mais número a número.

Do CPU para várias GPUs e várias máquinas
-----------------------------------------
O MESMO script escala sem mudar a lógica de treino:

- **Várias GPUs numa máquina**: ``torchrun --standalone --nproc_per_node=8 ddp_pretreino.py --backend nccl``. Cada
  processo usa a GPU ``LOCAL_RANK`` (veja :func:`iniciar_distribuido`) e o NCCL faz o all-reduce pela NVLink/PCIe.
- **Várias máquinas**: em cada uma, ``torchrun --nnodes=4 --nproc_per_node=8 --rdzv_backend=c10d
  --rdzv_endpoint=ENDERECO_DO_NO_0:29500 --rdzv_id=meu_treino ddp_pretreino.py --backend nccl``. O *rendezvous*
  (``--rdzv_*``) é o encontro em que os processos descobrem uns aos outros e recebem ``RANK`` e ``WORLD_SIZE``; o
  ``torchrun`` põe essas variáveis no ambiente, e o script só as lê.
- **Onde o DDP deixa de servir**: o DDP replica modelo, gradientes e estados do AdamW em todos os processos. Em
  fp32 com AdamW são ~16 bytes por parâmetro (pesos 4 + gradiente 4 + dois momentos 8) antes das ativações: um
  modelo de 7 bilhões de parâmetros precisa de ~112 GB por GPU, mais do que qualquer placa tem. Aí entra o **FSDP**
  (*Fully Sharded Data Parallel*, ``torch.distributed.fsdp``; a mesma ideia do ZeRO do DeepSpeed): cada processo
  guarda só uma FATIA dos pesos, dos gradientes e dos estados do otimizador, e junta os pesos de uma camada
  (*all-gather*) só na hora de usá-la, devolvendo os gradientes já repartidos (*reduce-scatter*). O laço de treino
  quase não muda — troca-se ``DistributedDataParallel(modelo)`` por ``fully_shard(modelo)`` — e a memória por GPU
  passa a cair com o número de GPUs. Para modelos ainda maiores, somam-se o paralelismo de tensor (uma matriz
  repartida entre GPUs) e o de pipeline (camadas diferentes em GPUs diferentes).

Tudo aqui é determinístico: sementes fixas, dropout 0 e 1 thread de CPU por processo (o padrão; ``--threads``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

PASTA = Path(__file__).resolve().parent
if str(PASTA) not in sys.path:
    sys.path.insert(0, str(PASTA))

# o módulo de apoio mora na pasta do script: o import vem depois de pô-la no caminho
from llm_do_zero import (  # noqa: E402
    GPT_BASE_RAPIDO, N_FUSOES_BASE, DatasetGPT, ParserPT, corpus_machado, criar_modelo_gpt, criar_otimizador,
    fixar_semente, formatar_numero, gravar_atomicamente, impressao_digital, inteiro_positivo, passo_de_treino,
    perda_do_batch, receita_bpe_machado, taxa_aprendizado, tokenizador_machado,
)

#: Configuração padrão do modelo: a do modelo base do modo rápido (~0,4 M de parâmetros), com dropout 0 — com
#: dropout, cada processo sortearia máscaras diferentes das de um processo só, e as perdas não bateriam.
CFG_DDP = dict(GPT_BASE_RAPIDO, dropout=0.0)

# ----------------------------------------------------------------------------------------------------------------
# Argumentos
# ----------------------------------------------------------------------------------------------------------------


def _real_positivo(texto: str) -> float:
    try:
        valor = float(texto)
    except ValueError:
        raise argparse.ArgumentTypeError(f"esperava um número, recebi {texto!r}") from None
    if not math.isfinite(valor) or valor <= 0:
        raise argparse.ArgumentTypeError(f"precisa ser um número finito > 0, recebi {texto}")
    return valor


def criar_parser() -> argparse.ArgumentParser:
    """Os argumentos de linha de comando do script (todos com valor padrão)."""
    p = ParserPT(
        prog="ddp_pretreino.py",
        description="Pré-treino de um GPT pequeno em Machado de Assis com DistributedDataParallel (DDP). "
                    "Rode com 'torchrun --standalone --nproc_per_node=2 ddp_pretreino.py' ou com 'python' "
                    "(1 processo).",
    )
    p.add_argument("--passos", type=inteiro_positivo, default=20, help="passos de otimização (padrão: 20)")
    p.add_argument("--batch-global", type=inteiro_positivo, default=8,
                   help="janelas por passo, somando todos os processos (padrão: 8)")
    p.add_argument("--microlotes", type=inteiro_positivo, default=1,
                   help="em quantos microlotes cada processo divide a sua fatia (acumulação de gradiente)")
    p.add_argument("--context-length", type=inteiro_positivo, default=CFG_DDP["context_length"])
    p.add_argument("--d-model", type=inteiro_positivo, default=CFG_DDP["d_model"])
    p.add_argument("--camadas", type=inteiro_positivo, default=CFG_DDP["n_layers"])
    p.add_argument("--cabecas", type=inteiro_positivo, default=CFG_DDP["n_heads"])
    p.add_argument("--lr", type=_real_positivo, default=3e-3, help="taxa de aprendizado máxima (padrão: 3e-3)")
    p.add_argument("--semente", type=int, default=123)
    p.add_argument("--max-caracteres", type=inteiro_positivo, default=None,
                   help="usa só os primeiros N caracteres do treino de Machado (testes rápidos)")
    p.add_argument("--threads", type=inteiro_positivo, default=1, help="threads de CPU por processo (padrão: 1)")
    p.add_argument("--backend", choices=["gloo", "nccl"], default="gloo",
                   help="gloo para CPU (padrão); nccl para GPUs NVIDIA")
    p.add_argument("--saida", type=Path, default=None,
                   help="arquivo JSON onde o rank 0 grava as perdas (com a impressão digital da receita)")
    p.add_argument("--comparar", type=Path, default=None,
                   help="JSON de outra execução com a mesma receita: o rank 0 imprime a maior diferença entre as "
                        "perdas e falha se ela passar de --tolerancia (ou se a receita for outra)")
    p.add_argument("--tolerancia", type=_real_positivo, default=1e-4)
    p.add_argument("--silencioso", action="store_true", help="não imprime a perda de cada passo")
    return p


# ----------------------------------------------------------------------------------------------------------------
# Processos: quem sou eu, quantos somos
# ----------------------------------------------------------------------------------------------------------------


def iniciar_distribuido(backend: str = "gloo") -> tuple[int, int, torch.device]:
    """Lê ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (postos pelo ``torchrun``) e abre o grupo de processos.

    Sem ``torchrun`` (``python ddp_pretreino.py``) não há essas variáveis: é um processo só (rank 0 de 1) e nenhum
    grupo é criado. Devolve ``(rank, world_size, dispositivo)``. Com ``nccl``, cada processo usa a GPU de número
    ``LOCAL_RANK`` (o rank dentro da máquina: com 2 máquinas de 8 GPUs, ``RANK`` vai de 0 a 15 e ``LOCAL_RANK`` de
    0 a 7).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise RuntimeError("O backend nccl precisa de GPUs NVIDIA (CUDA); na CPU use --backend gloo.")
        dispositivo = torch.device("cuda", local_rank)
        torch.cuda.set_device(dispositivo)
    else:
        dispositivo = torch.device("cpu")
    if world_size > 1:
        # MASTER_ADDR/MASTER_PORT (ou o rendezvous) também vêm do torchrun: todos os processos se encontram ali
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return rank, world_size, dispositivo


def encerrar_distribuido() -> None:
    """Fecha o grupo de processos (se houver um)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ----------------------------------------------------------------------------------------------------------------
# Dados: o mesmo batch global, repartido entre os processos
# ----------------------------------------------------------------------------------------------------------------


def criar_dataset(context_length: int, max_caracteres: int | None = None) -> DatasetGPT:
    """Janelas sem sobreposição (``stride = context_length``) do texto de treino de Machado.

    O texto é codificado com o nosso BPE de 4.000 fusões pela versão ``tiktoken`` (mesmos ids, muito mais rápido).
    """
    texto = corpus_machado("treino")
    if max_caracteres is not None:
        texto = texto[:max_caracteres]
    codificador = tokenizador_machado(N_FUSOES_BASE).para_tiktoken()
    ids = codificador.encode(texto, allowed_special="all")
    return DatasetGPT(ids, context_length=context_length, stride=context_length)


def criar_loader_distribuido(dataset, batch_global: int, rank: int, world_size: int, semente: int = 123):
    """``DataLoader`` da fatia deste processo: ``batch_global / world_size`` janelas por passo.

    O ``DistributedSampler`` sorteia UMA permutação das janelas por época (a mesma em todos os processos, porque a
    semente é a mesma: ``semente + época``) e dá ao processo ``r`` as posições ``r, r + W, r + 2W, …``. Assim, o
    ``k``-ésimo batch de cada processo junta-se aos dos outros e forma exatamente as posições
    ``k·B … (k+1)·B - 1`` da permutação — o mesmo batch global que um processo só (``W = 1``) veria.
    """
    if batch_global % world_size != 0:
        raise ValueError(f"--batch-global ({batch_global}) precisa ser divisível pelo número de processos "
                         f"({world_size}): cada processo recebe a mesma quantidade de janelas.")
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=semente,
                                 drop_last=True)
    loader = DataLoader(dataset, batch_size=batch_global // world_size, sampler=sampler, drop_last=True)
    if len(loader) == 0:
        raise ValueError(f"O texto tem só {len(dataset)} janelas, menos que um batch global de {batch_global}.")
    return loader, sampler


def lotes_por_passo(loader, sampler):
    """Gera os batches deste processo para sempre, chamando ``sampler.set_epoch`` a cada época (nova permutação)."""
    epoca = 0
    while True:
        sampler.set_epoch(epoca)
        yield from loader
        epoca += 1


# ----------------------------------------------------------------------------------------------------------------
# O treino
# ----------------------------------------------------------------------------------------------------------------


def treinar_ddp(passos: int = 20, batch_global: int = 8, microlotes: int = 1, cfg: dict | None = None,
                lr: float = 3e-3, semente: int = 123, max_caracteres: int | None = None, backend: str = "gloo",
                threads: int | None = None, mostrar: bool = True) -> dict:
    """Treina um GPT pequeno com DDP (ou sem, se for um processo só) e devolve o histórico do rank 0.

    Cada processo divide a sua fatia ``batch_global / world_size`` em ``microlotes`` microlotes e acumula o
    gradiente: nos microlotes intermediários, ``modelo.no_sync()`` adia o all-reduce para o último (somar
    gradientes entre processos uma vez por passo, e não uma vez por microlote). Cada perda é dividida por
    ``microlotes``, para o gradiente acumulado ser o da MÉDIA. A perda registrada é a do batch global inteiro: a
    média das perdas dos processos, somada entre eles com ``dist.all_reduce``.

    Chamada direto (sem ``torchrun``, por exemplo num notebook), é o treino de um processo só. ``threads``: quantas
    threads de CPU usar durante o treino (o número anterior é restaurado no fim); ``None`` não mexe.

    Devolve ``{"world_size", "microlotes", "batch_global", "perdas", "tempo_s", "tokens_por_s", "cfg", ...}``.
    """
    cfg = dict(CFG_DDP if cfg is None else cfg)
    threads_antes = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    rank, world_size, dispositivo = iniciar_distribuido(backend)
    try:
        if batch_global % (world_size * microlotes) != 0:
            raise ValueError(
                f"--batch-global ({batch_global}) precisa ser divisível por processos × microlotes "
                f"({world_size} × {microlotes} = {world_size * microlotes})."
            )
        dataset = criar_dataset(cfg["context_length"], max_caracteres)
        loader, sampler = criar_loader_distribuido(dataset, batch_global, rank, world_size, semente)

        # Mesma semente em todos os processos -> mesmos pesos iniciais. (O DDP, ao embrulhar o modelo, ainda copia
        # os pesos do rank 0 para os outros; a semente garante que o processo único também comece igual.)
        fixar_semente(semente)
        modelo = criar_modelo_gpt(cfg).to(dispositivo)
        if world_size > 1:
            ids_dispositivo = [dispositivo.index] if dispositivo.type == "cuda" else None
            modelo_treino = DistributedDataParallel(modelo, device_ids=ids_dispositivo)
        else:
            modelo_treino = modelo
        otimizador = criar_otimizador(modelo, lr, weight_decay=0.1)
        lotes = lotes_por_passo(loader, sampler)
        aquecimento = max(1, passos // 10)
        tokens_por_passo = batch_global * cfg["context_length"]
        if mostrar and rank == 0:
            n_params = sum(p.numel() for p in modelo.parameters())
            print(f"{world_size} processo(s), backend {backend if world_size > 1 else '(nenhum)'}, "
                  f"{torch.get_num_threads()} thread(s) por processo | "
                  f"modelo com {formatar_numero(n_params)} parâmetros | "
                  f"batch global {batch_global} = {world_size} processo(s) × {microlotes} microlote(s) × "
                  f"{batch_global // (world_size * microlotes)} janelas de {cfg['context_length']} tokens | "
                  f"{formatar_numero(len(dataset))} janelas no texto", flush=True)

        perdas = []
        modelo_treino.train()
        inicio = time.perf_counter()
        def contexto_do_microlote(i, n):
            # nos microlotes antes do último, o DDP só acumula os gradientes: o all-reduce acontece uma vez, no
            # backward do último (sem o no_sync, cada microlote pagaria uma comunicação)
            return modelo_treino.no_sync() if world_size > 1 and i < n - 1 else contextlib.nullcontext()

        def perda_do_lote(lote):
            return perda_do_batch(modelo_treino, *lote, dispositivo)  # pelo forward do DDP, que sincroniza

        for passo in range(passos):
            entrada, alvo = next(lotes)  # (batch_global / world_size, context_length) cada
            microlotes_do_passo = list(zip(entrada.chunk(microlotes), alvo.chunk(microlotes), strict=True))
            # o passo do capítulo 5; depois do all-reduce todos os processos têm o MESMO gradiente, e o recorte e o
            # AdamW dão o mesmo passo em todos
            perda = passo_de_treino(modelo, otimizador, perda_do_lote, microlotes_do_passo,
                                    lr=taxa_aprendizado(passo, passos, lr, aquecimento, lr / 10), clip=1.0,
                                    contexto_do_microlote=contexto_do_microlote)
            perda_fatia = torch.tensor(perda, device=dispositivo)
            if world_size > 1:
                dist.all_reduce(perda_fatia, op=dist.ReduceOp.SUM)  # soma das perdas médias das fatias...
                perda_fatia /= world_size  # ... dividida por W = perda média do batch global
            valor = perda_fatia.item()
            perdas.append(valor)
            if mostrar and rank == 0:
                print(f"passo {passo + 1:>4}/{passos} | perda {valor:.6f}", flush=True)
        tempo = time.perf_counter() - inicio
        return {
            "world_size": world_size, "microlotes": microlotes, "batch_global": batch_global,
            "backend": backend if world_size > 1 else None, "threads": torch.get_num_threads(),
            "perdas": perdas, "tempo_s": tempo, "tokens_por_s": passos * tokens_por_passo / tempo,
            "cfg": cfg, "rank": rank,
        }
    finally:
        encerrar_distribuido()
        torch.set_num_threads(threads_antes)


def maior_diferenca(perdas_a, perdas_b) -> float:
    """A maior diferença absoluta entre duas listas de perdas do mesmo comprimento."""
    if len(perdas_a) != len(perdas_b):
        raise ValueError(f"As execuções têm números de passos diferentes: {len(perdas_a)} e {len(perdas_b)}.")
    return max(abs(a - b) for a, b in zip(perdas_a, perdas_b, strict=True))


def receita_ddp(cfg: dict, passos: int, batch_global: int, lr: float, semente: int, max_caracteres) -> dict:
    """O que determina as perdas de uma execução (o número de processos e de microlotes NÃO entra: compará-los é o
    objetivo). Duas execuções só podem ser comparadas se as impressões digitais das receitas forem iguais."""
    return {"artefato": "ddp_pretreino", "cfg": dict(cfg), "passos": passos, "batch_global": batch_global, "lr": lr,
            "semente": semente, "max_caracteres": max_caracteres,
            "tokenizador": impressao_digital(receita_bpe_machado(N_FUSOES_BASE))}


# ----------------------------------------------------------------------------------------------------------------
# Lançar o script de dentro do Python (notebook e testes)
# ----------------------------------------------------------------------------------------------------------------


def _argumentos_cli(passos, batch_global, microlotes, cfg, max_caracteres, extras) -> list[str]:
    cfg = dict(CFG_DDP if cfg is None else cfg)
    args = ["--passos", str(passos), "--batch-global", str(batch_global), "--microlotes", str(microlotes),
            "--context-length", str(cfg["context_length"]), "--d-model", str(cfg["d_model"]),
            "--camadas", str(cfg["n_layers"]), "--cabecas", str(cfg["n_heads"]), "--silencioso"]
    if max_caracteres is not None:
        args += ["--max-caracteres", str(max_caracteres)]
    return args + list(extras)


def executar(n_processos: int = 1, passos: int = 20, batch_global: int = 8, microlotes: int = 1,
             cfg: dict | None = None, max_caracteres: int | None = None, extras=(), timeout: float = 300.0) -> dict:
    """Roda este script num processo novo e devolve o JSON que o rank 0 gravou.

    ``n_processos = 1`` usa ``python ddp_pretreino.py``; ``n_processos > 1`` usa
    ``torchrun --standalone --nproc_per_node=N`` (o módulo ``torch.distributed.run``, o mesmo comando ``torchrun``).
    Se o processo falhar, levanta ``RuntimeError`` com o fim da saída de erro.
    """
    with tempfile.TemporaryDirectory(prefix="ddp_") as pasta:
        saida = Path(pasta) / "perdas.json"
        args = _argumentos_cli(passos, batch_global, microlotes, cfg, max_caracteres, extras)
        args += ["--saida", str(saida)]
        if n_processos == 1:
            comando = [sys.executable, str(PASTA / "ddp_pretreino.py"), *args]
        else:
            comando = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       f"--nproc_per_node={n_processos}", str(PASTA / "ddp_pretreino.py"), *args]
        ambiente = dict(os.environ, OMP_NUM_THREADS="1")
        r = subprocess.run(comando, capture_output=True, text=True, timeout=timeout, env=ambiente, cwd=PASTA)
        if r.returncode != 0 or not saida.exists():
            raise RuntimeError(f"O treino com {n_processos} processo(s) falhou (código {r.returncode}):\n"
                               + (r.stderr or r.stdout)[-3000:])
        dados = json.loads(saida.read_text(encoding="utf-8"))
    lancador = f"torchrun --standalone --nproc_per_node={n_processos}" if n_processos > 1 else "python"
    dados["comando"] = " ".join([lancador, "ddp_pretreino.py", *args[:-2]])  # sem o --saida temporário
    return dados


# ----------------------------------------------------------------------------------------------------------------
# Linha de comando
# ----------------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = criar_parser().parse_args(argv)
    if args.backend == "nccl" and not torch.cuda.is_available():
        criar_parser().error("o backend nccl precisa de GPUs NVIDIA (CUDA); na CPU use --backend gloo")
    if args.d_model % args.cabecas != 0:
        criar_parser().error(f"--d-model ({args.d_model}) precisa ser divisível por --cabecas ({args.cabecas})")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if args.batch_global % (world_size * args.microlotes) != 0:
        criar_parser().error(
            f"--batch-global ({args.batch_global}) precisa ser divisível por processos × microlotes "
            f"({world_size} × {args.microlotes} = {world_size * args.microlotes})"
        )
    if args.comparar is not None and not args.comparar.is_file():
        criar_parser().error(f"o arquivo de --comparar não existe: {args.comparar}")
    cfg = dict(CFG_DDP, context_length=args.context_length, d_model=args.d_model, n_layers=args.camadas,
               n_heads=args.cabecas)
    hist = treinar_ddp(passos=args.passos, batch_global=args.batch_global, microlotes=args.microlotes, cfg=cfg,
                       lr=args.lr, semente=args.semente, max_caracteres=args.max_caracteres, backend=args.backend,
                       threads=args.threads, mostrar=not args.silencioso)
    if hist["rank"] != 0:
        return 0  # só o rank 0 fala e grava: os outros têm as mesmas perdas
    hist["impressao_digital"] = impressao_digital(
        receita_ddp(cfg, args.passos, args.batch_global, args.lr, args.semente, args.max_caracteres))
    print(f"{args.passos} passos em {hist['tempo_s']:.2f} s "
          f"({formatar_numero(hist['tokens_por_s'])} tokens/s no total); perda final {hist['perdas'][-1]:.6f}")
    if args.saida is not None:
        gravar_atomicamente(args.saida, json.dumps(hist, ensure_ascii=False, indent=1))  # nunca um JSON pela metade
        print(f"Perdas gravadas em {args.saida}")
    if args.comparar is not None:
        outra = json.loads(args.comparar.read_text(encoding="utf-8"))
        if outra.get("impressao_digital") != hist["impressao_digital"]:
            print(f"ERRO: {args.comparar.name} veio de outra receita (impressão digital "
                  f"{outra.get('impressao_digital') or 'nenhuma'}, esta é {hist['impressao_digital']}): só dá para "
                  "comparar execuções com o mesmo modelo, passos, batch global, lr, semente e dados.", file=sys.stderr)
            return 1
        dif = maior_diferenca(hist["perdas"], outra["perdas"])
        print(f"Maior diferença para {args.comparar.name} ({outra['world_size']} processo(s)): {dif:.2e}")
        if dif > args.tolerancia:
            print(f"ERRO: a diferença passou da tolerância {args.tolerancia:.0e}.", file=sys.stderr)
            return 1
        print(f"As perdas batem (tolerância {args.tolerancia:.0e}).")
    return 0


def _sair_sem_finalizar_o_interpretador(codigo: int) -> None:
    """Termina um processo lançado pelo ``torchrun`` com ``os._exit``, sem a finalização do Python.

    Por quê: o ``destroy_process_group`` tira o grupo do registro, mas NÃO para as threads do gloo — a referência
    que o ``DistributedDataParallel`` guarda no C++ mantém o grupo vivo até o processo acabar. Cada operação
    coletiva (o all-reduce dos gradientes, o da perda) roda numa dessas threads, e quem solta a última referência à
    operação destrói os tensores dela, o que pede a trava global do Python (GIL). Se isso cai bem na hora em que o
    interpretador está sendo finalizado (o processo sai milissegundos depois do último all-reduce, e com 2 núcleos
    para 2 processos a thread do gloo pode ainda não ter rodado), o CPython encerra a thread com
    ``pthread_exit`` no meio de um destrutor C++ que não pode ser interrompido, e o resultado é ``terminate called
    without an active exception`` e SIGABRT: o ``torchrun`` dá o treino inteiro como falho, mesmo com as perdas já
    calculadas. Acontecia em ~5% das execuções com 2 processos numa máquina de 2 núcleos (mais com a máquina
    ocupada). Com ``os._exit`` o sistema encerra todas as threads de uma vez, sem finalização nenhuma; antes,
    esvaziamos ``stdout``/``stderr`` (o JSON das perdas já foi gravado por ``main``).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(codigo)


if __name__ == "__main__":
    codigo = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _sair_sem_finalizar_o_interpretador(codigo)
    sys.exit(codigo)
