"""Testes das métricas de classificação do capítulo 6 (precisão, revocação, F1 e limiares), na cópia ``cap6``.

Os valores esperados foram calculados à mão nos comentários; nada de modelo treinado.
"""

import math
from itertools import pairwise

import pytest
import torch
from torch import nn


def test_metricas_batem_com_a_conta_a_mao(cap6):
    # verdadeiros: 1 1 1 1 0 0 0 0 0 0 | previstos: 1 1 1 0 1 1 0 0 0 0
    # VP = 3, FN = 1, FP = 2, VN = 4 -> acurácia 7/10, precisão 3/5, revocação 3/4, F1 = 2·0,6·0,75/1,35 = 2/3
    verdadeiros = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    previstos = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
    m = cap6.metricas_classificacao(verdadeiros, previstos)
    assert (m["vp"], m["fp"], m["fn"], m["vn"]) == (3, 2, 1, 4)
    assert m["acuracia"] == pytest.approx(0.7)
    assert m["precisao"] == pytest.approx(0.6)
    assert m["revocacao"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(2 / 3)
    # a matriz de confusão do capítulo conta o mesmo: [[VN, FP], [FN, VP]]
    matriz = cap6.matriz_confusao(torch.tensor(verdadeiros), torch.tensor(previstos))
    assert matriz.tolist() == [[m["vn"], m["fp"]], [m["fn"], m["vp"]]]


def test_classe_positiva_trocada_inverte_os_papeis(cap6):
    verdadeiros = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    previstos = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
    m0 = cap6.metricas_classificacao(verdadeiros, previstos, positiva=0)
    # com a classe 0 positiva: VP = 4 (os VN de antes), FP = 1, FN = 2, VN = 3
    assert (m0["vp"], m0["fp"], m0["fn"], m0["vn"]) == (4, 1, 2, 3)
    assert m0["precisao"] == pytest.approx(4 / 5) and m0["revocacao"] == pytest.approx(4 / 6)
    assert m0["acuracia"] == pytest.approx(0.7)  # a acurácia não depende de qual classe é a positiva


def test_divisao_por_zero_vira_zero(cap6):
    nada_de_spam = cap6.metricas_classificacao([1, 0, 1], [0, 0, 0])  # nunca diz spam: precisão 0/0
    assert nada_de_spam["precisao"] == 0.0 and nada_de_spam["revocacao"] == 0.0 and nada_de_spam["f1"] == 0.0
    assert nada_de_spam["acuracia"] == pytest.approx(1 / 3)
    sem_positivos = cap6.metricas_classificacao([0, 0], [0, 0])
    assert sem_positivos["acuracia"] == 1.0 and sem_positivos["revocacao"] == 0.0
    perfeito = cap6.metricas_classificacao([1, 0], [1, 0])
    assert perfeito["precisao"] == perfeito["revocacao"] == perfeito["f1"] == 1.0


@pytest.mark.parametrize("verdadeiros, previstos, trecho", [
    ([1, 0, 1], [1, 0], "mesmo tamanho"),
    ([[1, 0]], [[1, 0]], "1-D"),
    ([], [], "pelo menos uma"),
])
def test_metricas_entradas_ruins(cap6, verdadeiros, previstos, trecho):
    with pytest.raises(ValueError, match=trecho):
        cap6.metricas_classificacao(verdadeiros, previstos)


def test_tabela_limiares_a_mao(cap6):
    prob = [0.9, 0.8, 0.3, 0.6, 0.1]
    verdadeiros = [1, 1, 1, 0, 0]
    linhas = cap6.tabela_limiares(prob, verdadeiros, [0.5, 0.7, 0.0, 1.0])
    assert [linha["limiar"] for linha in linhas] == [0.5, 0.7, 0.0, 1.0]
    # 0,5: previstos 1 1 0 1 0 -> VP 2, FP 1, FN 1, VN 1: precisão 2/3, revocação 2/3, F1 2/3
    l5 = linhas[0]
    assert (l5["vp"], l5["fp"], l5["fn"], l5["vn"]) == (2, 1, 1, 1)
    assert l5["precisao"] == pytest.approx(2 / 3) and l5["revocacao"] == pytest.approx(2 / 3)
    # 0,7: previstos 1 1 0 0 0 -> precisão 1, revocação 2/3, F1 = 0,8
    l7 = linhas[1]
    assert l7["precisao"] == 1.0 and l7["revocacao"] == pytest.approx(2 / 3) and l7["f1"] == pytest.approx(0.8)
    # 0: tudo é spam (revocação 1, precisão = fração de spam); 1: só quem tem probabilidade 1 (ninguém)
    assert linhas[2]["revocacao"] == 1.0 and linhas[2]["precisao"] == pytest.approx(3 / 5)
    assert linhas[3]["vp"] + linhas[3]["fp"] == 0 and linhas[3]["precisao"] == 0.0
    # o limiar é inclusivo: probabilidade igual ao limiar conta como spam
    assert cap6.tabela_limiares([0.5], [1], [0.5])[0]["vp"] == 1


def test_tabela_limiares_revocacao_nunca_sobe_com_o_limiar(cap6):
    gerador = torch.Generator().manual_seed(0)
    prob = torch.rand(200, generator=gerador)
    verdadeiros = (torch.rand(200, generator=gerador) < prob).long()  # rótulos correlacionados com a probabilidade
    limiares = [i / 20 for i in range(21)]
    revocacoes = [linha["revocacao"] for linha in cap6.tabela_limiares(prob, verdadeiros, limiares)]
    assert all(a >= b for a, b in pairwise(revocacoes))
    assert revocacoes[0] == 1.0


@pytest.mark.parametrize("prob, verdadeiros, limiares, trecho", [
    ([0.2, 1.5], [0, 1], [0.5], "entre 0 e 1"),
    ([0.2, math.nan], [0, 1], [0.5], "entre 0 e 1"),
    ([0.2, 0.7], [0, 2], [0.5], "0 ou 1"),
    ([0.2, 0.7], [0, 1], [1.2], "limiar"),
    ([0.2, 0.7, 0.1], [0, 1], [0.5], "mesmo shape"),
])
def test_tabela_limiares_entradas_ruins(cap6, prob, verdadeiros, limiares, trecho):
    with pytest.raises(ValueError, match=trecho):
        cap6.tabela_limiares(prob, verdadeiros, limiares)


def test_probabilidades_classe_e_o_softmax_do_ultimo_token_real(cap6):
    class Posicoes(nn.Module):
        """logits[b, t] = (0, t + b): a probabilidade da classe 1 diz qual posição foi lida."""

        def __init__(self):
            super().__init__()
            self.nada = nn.Parameter(torch.zeros(()))

        def forward(self, ids):
            b, t = ids.shape
            pos = torch.arange(t, dtype=torch.float32).expand(b, t) + torch.arange(b, dtype=torch.float32)[:, None]
            return torch.stack([torch.zeros(b, t), pos], dim=-1) + 0.0 * self.nada  # (batch, tokens, 2)

    entrada = torch.zeros(3, 5, dtype=torch.long)
    rotulos = torch.tensor([1, 0, 1])
    comprimentos = torch.tensor([2, 5, 1])
    loader = [(entrada, rotulos, comprimentos)]
    modelo = Posicoes().train()
    prob, verdadeiros = cap6.probabilidades_classe(modelo, loader)
    assert modelo.training  # volta ao modo em que estava
    assert verdadeiros.tolist() == [1, 0, 1]
    # lidos: linha 0 na posição 1 (logit 1), linha 1 na posição 4 (+1 = 5), linha 2 na posição 0 (+2 = 2)
    esperado = torch.sigmoid(torch.tensor([1.0, 5.0, 2.0]))  # softmax de (0, z) na classe 1 = sigmoid(z)
    torch.testing.assert_close(prob, esperado)
    prob0, _ = cap6.probabilidades_classe(modelo, loader, classe=0)
    torch.testing.assert_close(prob0, 1 - esperado)
    # e o limiar 0,5 dá as mesmas classes que o argmax de prever
    previstos, _ = cap6.prever(modelo, loader)
    assert torch.equal((prob >= 0.5).long(), previstos)
    with pytest.raises(ValueError, match="nenhum lote"):
        cap6.probabilidades_classe(modelo, [])
