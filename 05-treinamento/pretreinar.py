"""Pré-treina o GPT do curso nos romances de Machado de Assis e salva um checkpoint — o capítulo 5 num arquivo só.

Exemplos (rode dentro da pasta 05-treinamento):

    python pretreinar.py --rapido                 # receita do modo rápido (~20 s em CPU)
    python pretreinar.py                          # receita do modo completo (~11 min em 2 núcleos de CPU)
    python pretreinar.py --passos 3000 --saida meu_gpt.pt
    python pretreinar.py --passos 3000 --parar-no-passo 1000 --saida meu_gpt.pt   # treina só os 1000 primeiros…
    python pretreinar.py --passos 3000 --retomar meu_gpt.pt --saida meu_gpt.pt    # …e depois continua do 1000
    python pretreinar.py --precisao float32       # a receita completa sem bfloat16 (para comparar as perdas)

O código vem do módulo de apoio do curso (a cópia de ``06-fine-tuning``, que inclui o bloco do capítulo 5).
Sem ``--saida``, o checkpoint vai para ``.cache/checkpoints/modelo_base_<impressão>.pt``, com a impressão digital da
receita (configuração, treino e tokenizador) no nome e dentro do arquivo: se a receita for a do módulo, é o arquivo
que ``modelo_base()`` dos capítulos 6 a 8 carrega; com outra receita (``--passos``, ``--lr``…), ``modelo_base()`` não
o confunde com o modelo do curso. Um treino interrompido (``--parar-no-passo``) ganha ``_passo<N>`` no nome.
"""

import math
import os
import sys
import time
from pathlib import Path


def carregar_modulo_do_capitulo_5():
    """O módulo de apoio com o código final do capítulo 5.

    ``llm_do_zero.py`` desta pasta traz o que os capítulos 1–4 construíram; o código do capítulo 5 (laço de treino,
    checkpoints, ``modelo_base``…) entra no bloco ``# ===== Capítulo 5`` da cópia seguinte, a do capítulo 6. É essa
    cópia que importamos: uma fonte só, sem duplicar código.
    """
    import importlib.util

    caminho = Path(__file__).resolve().parent.parent / "06-fine-tuning" / "llm_do_zero.py"
    if not caminho.is_file():
        sys.exit(f"Não achei {caminho}: ele traz o código do capítulo 5. Baixe o repositório inteiro do curso.")
    spec = importlib.util.spec_from_file_location("llm_do_zero_cap05", caminho)
    modulo = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = modulo
    spec.loader.exec_module(modulo)
    return modulo


def ler_argumentos(argv=None):
    from llm_do_zero import ParserPT  # a cópia desta pasta: a infraestrutura traz o argparse em português

    p = ParserPT(
        description="Pré-treina um GPT pequeno nos romances de Machado de Assis (capítulo 5 do curso "
                    "'Fazendo um LLM do Zero') e salva um checkpoint.",
    )
    p.add_argument("--rapido", action="store_true",
                   help="usa a receita do modo rápido (modelo minúsculo, ~20 s em CPU), como LLM_DO_ZERO_RAPIDO=1")
    p.add_argument("--passos", type=int, default=None,
                   help="número total de passos de treino (padrão: o da receita do modo escolhido)")
    p.add_argument("--batch", type=int, default=None, help="tamanho do batch (padrão: o da receita)")
    p.add_argument("--lr", type=float, default=None,
                   help="taxa de aprendizado máxima; a mínima fica em 1/10 dela (padrão: a da receita)")
    p.add_argument("--semente", type=int, default=None, help="semente aleatória (padrão: a da receita)")
    p.add_argument("--saida", type=Path, default=None,
                   help="arquivo .pt do checkpoint (padrão: .cache/checkpoints/modelo_base_<impressão digital>.pt)")
    p.add_argument("--retomar", type=Path, default=None,
                   help="checkpoint salvo por este script para continuar o treino do passo em que parou "
                        "(use os mesmos --passos, --batch, --lr e --semente: assim o resultado é idêntico ao de um "
                        "treino sem interrupção)")
    p.add_argument("--parar-no-passo", type=int, default=None, dest="parar_no_passo",
                   help="para (e salva) neste passo, sem mudar o cronograma da taxa de aprendizado, que continua "
                        "planejado para --passos; depois continue com --retomar")
    p.add_argument("--dispositivo", default=None,
                   help="cpu, cuda ou mps (padrão: a GPU se houver, senão a CPU)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads de CPU do PyTorch (padrão: o do PyTorch; 1 costuma ser melhor se a máquina "
                        "estiver ocupada com outros processos)")
    p.add_argument("--precisao", choices=("receita", "float32", "bfloat16"), default="receita",
                   help="precisão das contas do treino em CPU: a da receita (padrão), float32, ou bfloat16 com "
                        "autocast (só em CPUs com bfloat16 em hardware); a impressão digital muda junto")
    p.add_argument("--gravar-resultados", action="store_true", dest="gravar_resultados",
                   help="grava perda, bits por caractere e velocidade em resultados_pretreino_<precisão>.json nesta "
                        "pasta (modo completo; o README do capítulo cita a comparação float32 × bfloat16 de lá)")
    p.add_argument("--avaliar-a-cada", type=int, default=None, dest="avaliar_a_cada",
                   help="avalia na validação e gera uma amostra a cada N passos (padrão: o da receita)")
    return p.parse_args(argv)


def receita_de_treino(treino: dict, args) -> dict:
    """A receita de treino do modo escolhido com o que a linha de comando mudou (``--passos``, ``--lr``…)."""
    if args.passos is not None:
        if args.passos < 1:
            sys.exit("--passos deve ser pelo menos 1.")
        treino["passos"] = args.passos
        treino["passos_aquecimento"] = min(treino["passos_aquecimento"], args.passos // 10 + 1)
    if args.batch is not None:
        treino["batch_size"] = args.batch
    if args.lr is not None:
        treino["lr_max"], treino["lr_min"] = args.lr, args.lr / 10
    if args.semente is not None:
        treino["semente"] = args.semente
    if args.avaliar_a_cada is not None:
        treino["avaliar_a_cada"] = args.avaliar_a_cada
    # só entra na receita (e muda a impressão digital) a precisão que difere da receita do modo
    if args.precisao != "receita" and treino.get("bf16_na_cpu", False) != (args.precisao == "bfloat16"):
        treino["bf16_na_cpu"] = args.precisao == "bfloat16"
    return treino


def main(argv=None):
    args = ler_argumentos(argv)
    if args.rapido:
        os.environ["LLM_DO_ZERO_RAPIDO"] = "1"  # antes de importar o módulo, que lê a variável ao ser importado
    import torch

    L = carregar_modulo_do_capitulo_5()

    if args.threads:
        torch.set_num_threads(args.threads)
    print(L.descrever_modo())
    cfg = dict(L.escolher(L.GPT_BASE_RAPIDO, L.GPT_BASE_COMPLETO))
    treino = receita_de_treino(dict(L.escolher(L.TREINO_RAPIDO, L.TREINO_COMPLETO)), args)
    receita = {"artefato": "modelo_base", "cfg": cfg, "treino": treino,
               "tokenizador": L.impressao_digital(L.receita_bpe_machado(L.N_FUSOES_BASE))}
    dispositivo = torch.device(args.dispositivo) if args.dispositivo else L.escolher_dispositivo()

    tokenizador = L.tokenizador_machado(L.N_FUSOES_BASE)
    rapido = tokenizador.para_tiktoken()
    ctx = cfg["context_length"]
    texto_val = L.corpus_machado("validacao")
    loader_treino = L.criar_dataloader(L.corpus_machado("treino"), rapido, batch_size=treino["batch_size"],
                                       context_length=ctx, stride=ctx, shuffle=True, drop_last=True,
                                       semente=treino["semente"])
    loader_val = L.criar_dataloader(texto_val, rapido, batch_size=treino["batch_size"], context_length=ctx,
                                    stride=ctx, shuffle=False, drop_last=False)
    L.fixar_semente(treino["semente"])
    modelo = L.criar_modelo_gpt(cfg).to(dispositivo)
    otimizador = L.criar_otimizador(modelo, treino["lr_max"], treino["weight_decay"])
    passo_inicial = 0
    if args.retomar is not None:
        modelo, dados = L.carregar_checkpoint(args.retomar, modelo, otimizador, dispositivo=dispositivo,
                                              restaurar_rng=True)
        passo_inicial = dados["passo"]
        if passo_inicial >= treino["passos"]:
            sys.exit(f"O checkpoint já está no passo {passo_inicial}; peça mais passos com --passos.")
        print(f"Retomando de {args.retomar} no passo {passo_inicial}.")
    parar = treino["passos"] if args.parar_no_passo is None else args.parar_no_passo
    if not passo_inicial < parar <= treino["passos"]:
        sys.exit(f"--parar-no-passo deve ficar entre {passo_inicial + 1} e {treino['passos']}.")
    saida = args.saida
    if saida is None:
        saida = L.caminho_no_cache("modelo_base", receita)
        if parar < treino["passos"]:  # um modelo pela metade não pode ocupar o lugar do modelo da receita
            saida = saida.with_name(f"{saida.stem}_passo{parar}.pt")
    print(f"Modelo: {L.formatar_numero(L.contar_parametros(modelo))} parâmetros | {treino['passos']} passos de "
          f"{treino['batch_size']} × {ctx} tokens | lr máx. {treino['lr_max']:g} | {dispositivo}")

    historico = L.treinar_modelo(
        modelo, otimizador, loader_treino, loader_val, passos_totais=treino["passos"], lr_max=treino["lr_max"],
        lr_min=treino["lr_min"], passos_aquecimento=treino["passos_aquecimento"], clip=treino["clip"],
        avaliar_a_cada=treino["avaliar_a_cada"], batches_avaliacao=treino["batches_avaliacao"],
        passo_inicial=passo_inicial, parar_no_passo=parar, semente=treino["semente"], tokenizador=tokenizador,
        prompt=L.PROMPT_MACHADO, dispositivo=dispositivo, bf16_na_cpu=treino.get("bf16_na_cpu", False),
    )
    perda = L.perda_media(modelo, loader_val)
    cpt = L.caracteres_por_token(texto_val, rapido)
    print(f"Validação inteira: perda {perda:.4f} | perplexidade {math.exp(perda):.1f} | "
          f"{L.bits_por_caractere(perda, cpt):.3f} bits por caractere")
    if args.gravar_resultados:
        # a precisão que o treino usou de fato (a mesma escolha de treinar_modelo: depende do dispositivo e da CPU)
        autocast = L.precisao_para(dispositivo, treino.get("bf16_na_cpu", False))[0]
        precisao = str(getattr(autocast, "fast_dtype", torch.float32)).removeprefix("torch.")
        L.salvar_resultados(f"notebook_pretreino_{precisao}", {
            "perda_val": perda, "bits_por_caractere": L.bits_por_caractere(perda, cpt), "passos": parar,
            "tokens_por_s": historico["tokens_por_s"], "tempo_treino_min": historico["tempo_s"] / 60,
            "threads": torch.get_num_threads()}, pasta=Path(__file__).resolve().parent)
    L.salvar_checkpoint(saida, modelo, cfg, otimizador=otimizador, passo=parar, tokenizador_id=receita["tokenizador"],
                        historico=historico, impressao=L.impressao_digital(receita))
    print(f"Checkpoint salvo em {L.caminho_para_mostrar(saida)} (receita {L.impressao_digital(receita)})")

    ids = torch.tensor([tokenizador.encode(L.PROMPT_MACHADO)], device=dispositivo)
    saida_ids = L.gerar_texto(modelo, ids, 60, temperatura=0.8, top_p=0.9, gerador=torch.Generator().manual_seed(123),
                              usar_cache=True)
    print("\nAmostra (top-p 0,9, temperatura 0,8):")
    print(tokenizador.decode(saida_ids[0].tolist()))


if __name__ == "__main__":
    inicio = time.perf_counter()
    main()
    print(f"\n(tempo total: {time.perf_counter() - inicio:.0f} s)")
