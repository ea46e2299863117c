"""Capítulo 8 — alinhamento (extras.py): pares de preferência, log-probabilidade da resposta, perda do DPO, KL.

Só modelos minúsculos, criados aqui com semente fixa: o arquivo inteiro roda em poucos segundos.
"""
import copy
import importlib
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import RAIZ

PASTA = RAIZ / "08-extras"


@pytest.fixture(scope="module")
def ex():
    """Importa ``08-extras/extras.py`` com a cópia de ``llm_do_zero.py`` do próprio capítulo 8."""
    antigo = sys.modules.get("llm_do_zero")
    if antigo is not None and Path(antigo.__file__).resolve().parent != PASTA.resolve():
        del sys.modules["llm_do_zero"]  # outra cópia (de outro capítulo) foi importada antes
    sys.path.insert(0, str(PASTA))
    try:
        modulo = importlib.import_module("extras")
    finally:
        sys.path.remove(str(PASTA))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield modulo
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ldz(ex):
    return sys.modules["llm_do_zero"]


class _TokenizadorDeLetras:
    """Um tokenizador de brinquedo: um id por caractere (a-z, espaço, pontuação comum) + ``<|endoftext|>``."""

    def __init__(self):
        letras = sorted(set("abcdefghijklmnopqrstuvwxyzáéíóúãõç #:.,?!\"\n0123456789EQ"))
        self.str_para_id = {c: i for i, c in enumerate(letras)}
        self.str_para_id["<|endoftext|>"] = len(letras)
        self.id_para_str = {i: c for c, i in self.str_para_id.items()}
        self.n_vocab = len(self.str_para_id)

    def encode(self, texto):
        return [self.str_para_id[c] for c in texto.lower() if c in self.str_para_id]

    def decode(self, ids):
        return "".join(self.id_para_str[i] for i in ids)


def _modelo(ldz, vocab, ctx=160, semente=0):
    torch.manual_seed(semente)
    cfg = {"vocab_size": vocab, "context_length": ctx, "d_model": 16, "n_heads": 2, "n_layers": 1, "dropout": 0.0,
           "qkv_bias": False, "atencao_rapida": True}
    return ldz.criar_modelo_gpt(cfg).eval()


PARES = [
    {"instrucao": "Plural de casa?", "entrada": "", "tarefa": "plural", "escolhida": "casas", "rejeitada": "cães"},
    {"instrucao": "Some.", "entrada": "2 e 3", "tarefa": "conta", "escolhida": "5", "rejeitada": "55"},
    {"instrucao": "Feminino?", "entrada": "menino", "tarefa": "genero", "escolhida": "menina", "rejeitada": "mo"},
]


# ----------------------------------------------------------------------------------------------------------------
# A perda do DPO
# ----------------------------------------------------------------------------------------------------------------


def test_perda_dpo_e_log2_quando_politica_igual_a_referencia(ex):
    torch.manual_seed(1)
    e, r = torch.randn(7) * 5 - 10, torch.randn(7) * 5 - 10
    for beta in (0.01, 0.1, 1.0, 7.5):
        perda, m = ex.perda_dpo(e.clone(), r.clone(), e, r, beta)
        assert perda.item() == pytest.approx(math.log(2), abs=1e-6)
        assert m["margem"] == 0.0 and m["acerto"] == 0.0
        assert m["recompensa_escolhida"] == 0.0 and m["recompensa_rejeitada"] == 0.0


def test_perda_dpo_igual_a_conta_feita_a_mao(ex):
    # par 1: (−2 − (−3)) − (−5 − (−4)) = 1 − (−1) = 2 nats → margem β·2 = 1,0 → −log σ(1) = log(1 + e⁻¹)
    # par 2: (−1 − (−1)) − (−1 − (−3)) = 0 − 2 = −2 nats → margem −1,0 → −log σ(−1) = log(1 + e)
    pe, pr = torch.tensor([-2.0, -1.0]), torch.tensor([-5.0, -1.0])
    re_, rr = torch.tensor([-3.0, -1.0]), torch.tensor([-4.0, -3.0])
    perda, m = ex.perda_dpo(pe, pr, re_, rr, 0.5)
    esperado = (math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(1.0))) / 2
    assert perda.item() == pytest.approx(esperado, abs=1e-6)
    assert m["margem"] == pytest.approx(0.0, abs=1e-7)  # (1 + (−1)) / 2
    assert m["acerto"] == pytest.approx(0.5)  # um par com margem > 0
    assert m["recompensa_escolhida"] == pytest.approx(0.5 * (1 + 0) / 2)
    assert m["recompensa_rejeitada"] == pytest.approx(0.5 * (-1 + 2) / 2)


def test_gradiente_da_perda_dpo_sobe_a_escolhida_desce_a_rejeitada_e_nao_toca_a_referencia(ex):
    pe = torch.tensor([-2.0, -4.0], requires_grad=True)
    pr = torch.tensor([-3.0, -1.0], requires_grad=True)
    re_ = torch.tensor([-2.5, -3.0], requires_grad=True)
    rr = torch.tensor([-2.5, -2.0], requires_grad=True)
    beta = 0.3
    perda, _ = ex.perda_dpo(pe, pr, re_, rr, beta)
    perda.backward()
    margem = beta * ((pe - re_) - (pr - rr)).detach()
    esperado = -beta * torch.sigmoid(-margem) / 2  # d(−log σ(m))/d pe = −β·σ(−m), na média de 2 pares
    torch.testing.assert_close(pe.grad, esperado)
    torch.testing.assert_close(pr.grad, -esperado)
    assert re_.grad is None and rr.grad is None, "a referência é constante: não recebe gradiente"


@pytest.mark.parametrize("beta", [0, -0.1, float("nan"), float("inf"), True, "0.1"])
def test_perda_dpo_recusa_beta_invalido(ex, beta):
    t = torch.zeros(2)
    with pytest.raises(ValueError, match="beta"):
        ex.perda_dpo(t, t, t, t, beta)


def test_perda_dpo_recusa_formas_diferentes(ex):
    with pytest.raises(ValueError, match="mesma forma"):
        ex.perda_dpo(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2), 0.1)
    with pytest.raises(ValueError, match="mesma forma"):
        ex.perda_dpo(torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(2, 1), 0.1)


# ----------------------------------------------------------------------------------------------------------------
# log π(resposta | prompt) e os pares tokenizados
# ----------------------------------------------------------------------------------------------------------------


def test_logprob_respostas_igual_a_soma_token_a_token(ex, ldz):
    tok = _TokenizadorDeLetras()
    ds = ex.DatasetPreferencias(PARES, tok)
    modelo = _modelo(ldz, tok.n_vocab)
    lote = [ds[i] for i in range(len(ds))]
    entrada, alvo = ex.colar_pares(lote, ds.id_fim)
    assert entrada.shape[0] == 2 * len(PARES)
    obtido = ex.logprob_respostas(modelo, entrada, alvo)
    # referência: cada sequência sozinha, sem padding, somando log p só nos tokens da resposta + o fim
    sequencias = [e for e, _ in lote] + [r for _, r in lote]
    with torch.no_grad():
        for k, (ids, n_prompt) in enumerate(sequencias):
            logp = F.log_softmax(modelo(ids[None, :-1]), dim=-1)[0]  # (n − 1, vocab)
            esperado = sum(logp[j, ids[j + 1]].item() for j in range(n_prompt - 1, len(ids) - 1))
            assert obtido[k].item() == pytest.approx(esperado, abs=1e-4)


def test_dataset_preferencias_tokeniza_como_o_capitulo_7_e_descarta_pares_longos(ex, ldz):
    tok = _TokenizadorDeLetras()
    ds = ex.DatasetPreferencias(PARES, tok)
    (ids_e, n_e), (ids_r, n_r) = ds[0]
    prompt = tok.encode(ldz.formatar_prompt({"instrucao": PARES[0]["instrucao"], "entrada": ""}))
    assert n_e == n_r == len(prompt)
    assert ids_e.tolist() == prompt + tok.encode(" casas") + [ds.id_fim]
    assert ids_r.tolist() == prompt + tok.encode(" cães") + [ds.id_fim]
    limite = len(ids_e)  # o par 0 cabe; os outros têm prompts maiores
    curto = ex.DatasetPreferencias(PARES, tok, max_tokens=limite)
    assert len(curto) + curto.n_descartados == len(PARES) and curto.n_descartados >= 1
    with pytest.raises(ValueError, match="vazia"):
        ex.DatasetPreferencias([], tok)
    with pytest.raises(ValueError, match="rejeitada"):
        ex.DatasetPreferencias([{"instrucao": "x", "escolhida": "y"}], tok)


def test_montar_pares_so_com_respostas_erradas(ex):
    exemplos = [{"instrucao": "a", "entrada": "", "saida": "casas", "tarefa": "plural"},
                {"instrucao": "b", "entrada": "", "saida": "Casas", "tarefa": "plural"},
                {"instrucao": "c", "entrada": "x", "saida": "5", "tarefa": "conta"},
                {"instrucao": "d", "entrada": "", "saida": "5", "tarefa": "conta"}]
    pares = ex.montar_pares_preferencia(exemplos, ["cães", "casas!", "  ", " 55 "])
    assert [(p["instrucao"], p["escolhida"], p["rejeitada"]) for p in pares] == [("a", "casas", "cães"),
                                                                                  ("d", "5", "55")]
    with pytest.raises(ValueError, match="iguais"):
        ex.montar_pares_preferencia(exemplos, ["x"])


def test_no_formato_segue_a_regua_do_capitulo_7(ex):
    formas = ex.formas_de_resposta([{"tarefa": "sentimento", "saida": "positivo"},
                                    {"tarefa": "sentimento", "saida": "negativo"},
                                    {"tarefa": "plural", "saida": "casas"}, {"tarefa": "plural", "saida": "pães"},
                                    {"tarefa": "plural", "saida": "mãos"}, {"tarefa": "plural", "saida": "luzes"}])
    assert ex.no_formato("Positivo", "sentimento", formas) and not ex.no_formato("neutro", "sentimento", formas)
    assert ex.no_formato("janelas", "plural", formas) and not ex.no_formato("as janelas da casa", "plural", formas)
    assert [ex.forma_da_resposta(t) for t in ("", "a, b", "-12", "——", "sim", "sim não", "um dois três quatro")] == [
        "vazia", "lista", "número", "outra", "uma palavra", "duas ou três palavras", "frase"]
    with pytest.raises(ValueError, match="desconhecida"):
        ex.no_formato("x", "tarefa_que_nao_existe", formas)


# ----------------------------------------------------------------------------------------------------------------
# KL e o treino
# ----------------------------------------------------------------------------------------------------------------


def test_kl_por_token_zero_para_o_mesmo_modelo_e_igual_a_do_torch(ex, ldz):
    tok = _TokenizadorDeLetras()
    ds = ex.DatasetPreferencias(PARES, tok)
    entrada, alvo = ex.colar_pares([ds[i] for i in range(len(ds))], ds.id_fim)
    p, q = _modelo(ldz, tok.n_vocab, semente=0), _modelo(ldz, tok.n_vocab, semente=1)
    assert ex.kl_por_token(p, copy.deepcopy(p), entrada, alvo) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        log_p, log_q = F.log_softmax(p(entrada), -1), F.log_softmax(q(entrada), -1)
        kl = F.kl_div(log_q, log_p, log_target=True, reduction="none").sum(-1)  # KL(p ‖ q) por posição
        mascara = alvo != -100
        esperado = (kl[mascara]).mean().item()
    assert ex.kl_por_token(p, q, entrada, alvo) == pytest.approx(esperado, rel=1e-4)


def test_treinar_dpo_aumenta_a_margem_e_nao_mexe_na_referencia(ex, ldz):
    tok = _TokenizadorDeLetras()
    ds = ex.DatasetPreferencias(PARES, tok)
    referencia = _modelo(ldz, tok.n_vocab)
    pesos_ref = {k: v.clone() for k, v in referencia.state_dict().items()}
    politica = copy.deepcopy(referencia)
    hist = ex.treinar_dpo(politica, referencia, ds, beta=0.5, passos=25, lr_max=3e-3, tamanho_lote=3,
                          avaliar_a_cada=5, dataset_avaliacao=ds, mostrar=False)
    assert hist["perda"][0] == pytest.approx(math.log(2), abs=1e-5), "no passo 1, política = referência"
    assert hist["perda"][-1] < 0.5 * math.log(2)
    assert hist["margem"][-1] > 0 and hist["acerto"][-1] == 1.0
    assert hist["passos_avaliacao"] == [0, 5, 10, 15, 20, 25]
    assert hist["kl"][0] == pytest.approx(0.0, abs=1e-6) and hist["kl"][-1] > 0
    for k, v in referencia.state_dict().items():
        assert torch.equal(v, pesos_ref[k]), f"a referência mudou em {k}"
    pe, pr = ex.logprobs_dos_pares(politica, ds)
    re_, rr = ex.logprobs_dos_pares(referencia, ds)
    margem = (pe - re_) - (pr - rr)  # a preferência do DPO é relativa à referência (a rejeitada "mo" é curta)
    assert bool((margem > 0).all()), "depois do treino, todo par de treino tem margem positiva"
    with pytest.raises(ValueError, match="passos"):
        ex.treinar_dpo(politica, referencia, ds, 0.5, 0, 1e-3)
