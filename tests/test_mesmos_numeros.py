"""Os mesmos números: treinos curtos com sementes fixas dão exatamente as perdas fixadas aqui.

Os valores abaixo foram medidos no código de antes da refatoração que juntou todos os treinos num passo só
(``passo_de_treino`` + ``laco_de_treino`` do capítulo 5) e deram os mesmos bits depois dela. Se uma mudança no
modelo, na perda, no laço, na ordem dos lotes ou na inicialização mexer num número, este teste falha — e a mudança
tem de dizer por quê (e os modelos distribuídos e as saídas gravadas têm de ser refeitos). A tolerância (1e-6,
relativa) só absorve a ordem das somas em float32 de outra CPU; na máquina do CI os números batem bit a bit.
"""
import copy
import importlib
import sys
from pathlib import Path

import pytest
import torch

from conftest import RAIZ

PASTA = RAIZ / "08-extras"

#: Medido com ``torch.set_num_threads(1)`` no modo rápido.
FIXADOS = {
    'pretreino_perdas': [8.375521659851074, 8.329654693603516, 8.214861869812012,
                         6.6881937980651855, 6.755824565887451, 6.866557598114014],
    'pretreino_soma': 217.60412549972534,
    'pretreino_val': [8.36674098968506, 6.747394466400147],
    'instrucoes_inteira_val': [7.719412361845678, 6.467460021194147, 6.024338311565166],
    'instrucoes_inteira_ultima': 5.9611663818359375,
    'instrucoes_resposta_val': [8.99189688624168, 7.807759898049491, 7.426480779842454],
    'instrucoes_resposta_ultima': 7.185850143432617,
    'classificador_perda_val': [0.6857461333274841, 0.6858547329902649, 0.6830736100673676, 0.6921228170394897],
    'classificador_acuracia_treino': [0.625, 0.46875],
    'classificador_acuracia_val': [0.5625, 0.40625],
    'por_passos': [7.843773365020752, 7.802731513977051, 7.723776340484619],
    'aluno': [8.009052276611328, 7.959957122802734, 7.997697830200195],
    'dpo_perda': [0.24158860743045807, 0.23714089393615723, 0.23509718477725983],
    'dpo_kl': [0.0, 0.005314612554179298, 0.008218374517228868, 0.008363163305653466],
}


@pytest.fixture(scope="module")
def numeros():
    """Roda os treinos curtos uma vez (≈10 s) e devolve os números a comparar."""
    antigo = sys.modules.get("llm_do_zero")
    if antigo is not None and Path(antigo.__file__).resolve().parent != PASTA.resolve():
        del sys.modules["llm_do_zero"]  # outra cópia (de outro capítulo) foi importada antes
    sys.path.insert(0, str(PASTA))
    try:
        X = importlib.import_module("extras")
        import test_alinhamento as ta
    finally:
        sys.path.remove(str(PASTA))
    L = sys.modules["llm_do_zero"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield _medir(L, X, ta)
    finally:
        torch.set_num_threads(threads)


def _medir(L, X, ta) -> dict:
    n = {}
    modelo, _, hist = L.pretreinar(L.GPT_BASE_RAPIDO, L.TREINO_RAPIDO, passos=30, dispositivo="cpu", mostrar=False)
    n["pretreino_perdas"] = hist["perdas_passo"][:3] + hist["perdas_passo"][-3:]
    n["pretreino_soma"] = sum(hist["perdas_passo"])
    n["pretreino_val"] = hist["perda_val"]
    estado = {k: v.clone() for k, v in modelo.state_dict().items()}
    tok = L.tokenizador_machado(L.N_FUSOES_BASE)
    treino, validacao, _ = L.carregar_instrucoes()
    for nome, mascarar in (("inteira", False), ("resposta", True)):
        modelo.load_state_dict(estado)
        h = L.ajustar_instrucoes(modelo, tok, treino, validacao, dict(L.AJUSTE_RAPIDO, avaliar_a_cada=10), passos=20,
                                 mascarar_prompt=mascarar, dispositivo="cpu", mostrar=False)
        n[f"instrucoes_{nome}_val"] = h["perda_val"]
        n[f"instrucoes_{nome}_ultima"] = h["perdas_passo"][-1]
    modelo.load_state_dict(estado)
    tr, va, _ = L.dividir_treino_val_teste(L.balancear(L.carregar_spam()))
    gerador = torch.Generator().manual_seed(123)
    loader_treino = torch.utils.data.DataLoader(L.DatasetSpam(tr[:160], tok, max_length=64), batch_size=16,
                                                shuffle=True, generator=gerador)
    loader_val = torch.utils.data.DataLoader(L.DatasetSpam(va[:64], tok, max_length=64), batch_size=16)
    L.fixar_semente(123)
    L.preparar_para_classificacao(modelo, 2, treinar_ultimos_blocos=1)
    otimizador = torch.optim.AdamW([p for p in modelo.parameters() if p.requires_grad], lr=5e-4, weight_decay=0.1)
    h = L.treinar_classificador(modelo, loader_treino, loader_val, otimizador, n_epocas=2, avaliar_a_cada=5,
                                batches_avaliacao=2, mostrar=False)
    n["classificador_perda_val"] = h["perda_val"]
    n["classificador_acuracia_treino"] = h["acuracia_treino"]
    n["classificador_acuracia_val"] = h["acuracia_val"]
    L.fixar_semente(5)
    pequeno = L.criar_modelo_gpt(L.GPT_BASE_RAPIDO)
    loader = L.criar_dataloader(L.corpus_machado("treino")[:100_000], tok.para_tiktoken(), batch_size=4,
                                context_length=32, stride=32, shuffle=True, drop_last=True, semente=3)
    lotes = L.lotes_sem_fim(loader, semente=3)
    h = X.treinar_por_passos(pequeno, lambda: next(lotes)[1], lambda m, lote: L.perda_do_batch(m, *lote), passos=10,
                             lr_max=3e-3, passos_aquecimento=2)
    n["por_passos"] = h["perda"][-3:]
    L.fixar_semente(6)
    aluno = L.criar_modelo_gpt(dict(L.GPT_BASE_RAPIDO, d_model=32))
    n["aluno"] = X.treinar_aluno(aluno, loader, passos=10, lr_max=3e-3, professor=pequeno)[-3:]
    tok_letras = ta._TokenizadorDeLetras()
    pares = X.DatasetPreferencias(ta.PARES, tok_letras)
    referencia = ta._modelo(L, tok_letras.n_vocab)
    h = X.treinar_dpo(copy.deepcopy(referencia), referencia, pares, beta=0.5, passos=12, lr_max=3e-3, tamanho_lote=3,
                      avaliar_a_cada=5, dataset_avaliacao=pares, mostrar=False)
    n["dpo_perda"] = h["perda"][-3:]
    n["dpo_kl"] = h["kl"]
    return n


@pytest.mark.parametrize("chave", sorted(FIXADOS))
def test_treinos_curtos_dao_os_numeros_fixados(numeros, chave):
    assert numeros[chave] == pytest.approx(FIXADOS[chave], rel=1e-6, abs=1e-7), chave
