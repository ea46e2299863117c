"""Capítulo 2: janelas deslizantes, DataLoader e embeddings."""
import math

import pytest
import torch


def test_janelas_stride_e_deslocamento(cap2):
    ids = list(range(100, 121))  # 21 tokens
    ds = cap2.DatasetGPT(ids, context_length=4, stride=3)
    # janelas começam em 0, 3, 6, …, enquanto início + 4 + 1 <= 21  ->  0..15 (6 janelas)
    assert len(ds) == 6
    entrada, alvo = ds[1]
    assert entrada.tolist() == [103, 104, 105, 106] and alvo.tolist() == [104, 105, 106, 107]
    assert entrada.dtype == torch.long
    ultima_entrada, ultimo_alvo = ds[len(ds) - 1]
    assert ultima_entrada.tolist() == [115, 116, 117, 118] and ultimo_alvo[-1].item() == 119


@pytest.mark.parametrize("context_length,stride", [(8, 1), (8, 8), (16, 5)])
def test_numero_de_janelas(cap2, context_length, stride):
    n = 200
    ds = cap2.DatasetGPT(torch.arange(n), context_length, stride)
    assert len(ds) == (n - context_length - 1) // stride + 1
    for i in (0, len(ds) - 1):
        x, y = ds[i]
        assert torch.equal(y[:-1], x[1:]) and x[0].item() == i * stride


def test_entradas_invalidas(cap2):
    with pytest.raises(ValueError):
        cap2.DatasetGPT(list(range(10)), context_length=0, stride=1)
    with pytest.raises(ValueError):
        cap2.DatasetGPT(list(range(10)), context_length=4, stride=0)
    with pytest.raises(ValueError, match="10"):
        cap2.DatasetGPT(list(range(10)), context_length=10, stride=1)


def test_dataloader_formas_e_determinismo(cap2):
    tok = cap2.carregar_tokenizador_gpt2()
    texto = cap2.corpus_machado("validacao")[:20_000]
    args = dict(batch_size=4, context_length=32, stride=32, shuffle=True, drop_last=True)
    a = [x for x, _ in cap2.criar_dataloader(texto, tok, **args)]
    b = [x for x, _ in cap2.criar_dataloader(texto, tok, **args)]
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True)), "mesma semente deve dar a mesma ordem"
    assert all(x.shape == (4, 32) for x in a)
    n_tokens = len(tok.encode(texto))
    assert len(a) == ((n_tokens - 33) // 32 + 1) // 4
    sem_embaralhar = {k: v for k, v in args.items() if k != "shuffle"}
    x, y = next(iter(cap2.criar_dataloader(texto, tok, shuffle=False, **sem_embaralhar)))
    assert torch.equal(x[0], torch.tensor(tok.encode(texto)[:32]))
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_dataloader_reconhece_fim_de_texto_nos_dois_tokenizadores(cap2):
    texto = "Capitu olhou.<|endoftext|>Bentinho saiu. " * 30
    gpt2 = cap2.carregar_tokenizador_gpt2()
    bpe = cap2.TokenizadorBPE.treinar(texto, 20)
    for tok, fim in ((gpt2, 50256), (bpe, bpe.especiais["<|endoftext|>"])):
        x, _ = next(iter(cap2.criar_dataloader(texto, tok, batch_size=2, context_length=8, stride=8, shuffle=False)))
        assert x.shape == (2, 8)
        assert fim in x.flatten().tolist(), "<|endoftext|> deveria virar um único token especial"


@pytest.mark.parametrize("posicional", ["aprendida", "senoidal"])
def test_embeddings_de_entrada(cap2, posicional):
    torch.manual_seed(0)
    camada = cap2.EmbeddingsEntrada(vocab_size=100, d_model=16, context_length=10, posicional=posicional)
    ids = torch.randint(0, 100, (3, 7))
    saida = camada(ids)
    assert saida.shape == (3, 7, 16)
    # o mesmo token em posições diferentes recebe vetores diferentes (por causa da posição)
    iguais = torch.tensor([[5, 5]])
    v = camada(iguais)[0]
    assert not torch.allclose(v[0], v[1])
    with pytest.raises(ValueError):
        camada(torch.zeros(1, 11, dtype=torch.long))
    treinaveis = {n for n, p in camada.named_parameters()}
    assert any("pos" in n for n in treinaveis) == (posicional == "aprendida")


def test_codificacao_senoidal_valores_a_mao(cap2):
    pe = cap2.codificacao_senoidal(5, 4)
    assert pe.shape == (5, 4)
    # posição p, dimensões (2i, 2i+1) = sin/cos(p / 10000^(2i/d))
    for p in range(5):
        for i in range(2):
            ang = p / 10000 ** (2 * i / 4)
            assert math.isclose(pe[p, 2 * i].item(), math.sin(ang), abs_tol=1e-6)
            assert math.isclose(pe[p, 2 * i + 1].item(), math.cos(ang), abs_tol=1e-6)
    with pytest.raises(ValueError):
        cap2.codificacao_senoidal(5, 3)
