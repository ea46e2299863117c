"""Testes do capítulo 6 (fine-tuning para classificação), sobre a cópia do módulo de apoio do capítulo 7 (``cap6``).

Tudo aqui usa modelos e tokenizadores minúsculos feitos na hora (nada de ``modelo_base``): o arquivo inteiro roda
em poucos segundos.
"""

import copy

import pytest
import torch
from torch import nn


# ------------------------------------------------------------------------------------------------------------------
# ajudantes
# ------------------------------------------------------------------------------------------------------------------

def _tokenizador(cap6):
    """Tokenizador por palavras (capítulo 1) com um vocabulário pequeno; ``<|endoftext|>`` é o último id."""
    return cap6.TokenizadorSimples.construir("a b c d e f g h ganhe prêmio grátis agora oi tudo bem")


def _cfg(cap6, **mudancas):
    cfg = dict(cap6.GPT_MINI, vocab_size=40, context_length=8, d_model=16, n_heads=2, n_layers=3, dropout=0.0)
    cfg.update(mudancas)
    return cfg


def _exemplos(textos, rotulos):
    return [{"texto": t, "rotulo": r} for t, r in zip(textos, rotulos, strict=True)]


class _ModeloFalso(nn.Module):
    """Modelo de mentira: em cada posição, o logit da classe ``id % 2`` vale 1 e o da outra vale 0.

    A classe prevista para uma sequência é a paridade do token lido; o padding (id par) "votaria" na classe 0.
    """

    def __init__(self):
        super().__init__()
        self.nada = nn.Parameter(torch.zeros(()))  # só para o modelo ter um dispositivo

    def forward(self, ids):
        return nn.functional.one_hot(ids % 2, 2).float() + 0.0 * self.nada  # (batch, tokens, 2)


# ------------------------------------------------------------------------------------------------------------------
# dados
# ------------------------------------------------------------------------------------------------------------------

def test_carregar_spam_le_o_csv_inteiro(cap6):
    exemplos = cap6.carregar_spam()
    assert len(exemplos) == 5572
    assert sum(e["rotulo"] for e in exemplos) == 747
    assert set(exemplos[0]) == {"texto", "rotulo", "ingles"}
    assert all(e["rotulo"] in (0, 1) and e["texto"].strip() for e in exemplos)
    assert exemplos[2]["rotulo"] == 1 and exemplos[2]["ingles"].startswith("Free entry")  # 3ª linha do arquivo: spam
    assert cap6.CLASSES == ("não spam", "spam")


def test_balancear_iguala_as_classes_de_forma_deterministica(cap6):
    exemplos = _exemplos([f"ham {i}" for i in range(50)] + [f"spam {i}" for i in range(12)], [0] * 50 + [1] * 12)
    copia = list(exemplos)
    b1 = cap6.balancear(exemplos, semente=7)
    b2 = cap6.balancear(exemplos, semente=7)
    b3 = cap6.balancear(exemplos, semente=8)
    assert exemplos == copia  # a lista original não muda
    assert len(b1) == 24
    assert sum(e["rotulo"] for e in b1) == 12
    assert len({id(e) for e in b1}) == 24  # sem repetição
    assert all(any(e is o for o in exemplos) for e in b1)  # só exemplos originais
    assert 0 < sum(e["rotulo"] for e in b1[:12]) < 12  # embaralhado: as classes vêm misturadas
    assert [e["texto"] for e in b1] == [e["texto"] for e in b2]
    assert [e["texto"] for e in b1] != [e["texto"] for e in b3]
    with pytest.raises(ValueError, match="2 classes"):
        cap6.balancear(_exemplos(["x", "y"], [0, 0]))


def test_divisao_tamanhos_disjunta_estratificada_e_deterministica(cap6):
    exemplos = _exemplos([f"t{i}" for i in range(200)], [i % 2 for i in range(200)])
    treino, val, teste = cap6.dividir_treino_val_teste(exemplos, (0.7, 0.1, 0.2), semente=123)
    assert (len(treino), len(val), len(teste)) == (140, 20, 40)
    ids = [{id(e) for e in parte} for parte in (treino, val, teste)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert ids[0] | ids[1] | ids[2] == {id(e) for e in exemplos}
    for parte in (treino, val, teste):  # estratificada: metade de cada classe
        assert sum(e["rotulo"] for e in parte) * 2 == len(parte)
    de_novo = cap6.dividir_treino_val_teste(exemplos, (0.7, 0.1, 0.2), semente=123)
    assert [[e["texto"] for e in p] for p in de_novo] == [[e["texto"] for e in p] for p in (treino, val, teste)]
    outra = cap6.dividir_treino_val_teste(exemplos, (0.7, 0.1, 0.2), semente=124)
    assert [e["texto"] for e in outra[2]] != [e["texto"] for e in teste]
    with pytest.raises(ValueError, match="somam 1"):
        cap6.dividir_treino_val_teste(exemplos, (0.7, 0.2, 0.2))


def test_dataset_padding_com_fim_de_texto_e_comprimentos(cap6):
    tok = _tokenizador(cap6)
    fim = tok.str_para_id["<|endoftext|>"]
    ds = cap6.DatasetSpam(_exemplos(["a b c", "d e", "a b c d e f"], [1, 0, 1]), tok)
    assert ds.max_length == 6 and len(ds) == 3 and ds.n_cortados == 0
    entrada, rotulo, comprimento = ds[1]
    assert entrada.shape == (6,) and entrada.dtype == torch.long
    assert entrada.tolist() == tok.encode("d e") + [fim] * 4
    assert int(rotulo) == 0 and int(comprimento) == 2
    assert ds.comprimentos.tolist() == [3, 2, 6]
    assert ds.entradas.shape == (3, 6)


def test_dataset_corta_no_max_length_e_completa_ate_ele(cap6):
    tok = _tokenizador(cap6)
    fim = tok.str_para_id["<|endoftext|>"]
    ds = cap6.DatasetSpam(_exemplos(["a b c d e f g h", "b"], [0, 1]), tok, max_length=5)
    assert ds.entradas.shape == (2, 5)
    assert ds.entradas[0].tolist() == tok.encode("a b c d e")  # ficam os primeiros tokens
    assert ds.entradas[1].tolist() == tok.encode("b") + [fim] * 4
    assert ds.comprimentos.tolist() == [5, 1]
    assert ds.n_cortados == 1
    ds_pad = cap6.DatasetSpam(_exemplos(["b"], [1]), tok, max_length=3, id_pad=0)  # pad escolhido à mão
    assert ds_pad.entradas[0].tolist() == tok.encode("b") + [0, 0]


def test_dataset_recusa_entradas_ruins_com_mensagem_em_portugues(cap6):
    tok = _tokenizador(cap6)
    with pytest.raises(ValueError, match="vazio"):
        cap6.DatasetSpam(_exemplos(["a b", "   "], [0, 1]), tok)
    with pytest.raises(ValueError, match="rótulo inválido"):
        cap6.DatasetSpam(_exemplos(["a b"], ["spam"]), tok)
    with pytest.raises(ValueError, match="vazia"):
        cap6.DatasetSpam([], tok)
    with pytest.raises(ValueError, match="max_length"):
        cap6.DatasetSpam(_exemplos(["a"], [0]), tok, max_length=0)
    with pytest.raises(ValueError, match="'texto' e 'rotulo'"):
        cap6.DatasetSpam([("a b", 1)], tok)


# ------------------------------------------------------------------------------------------------------------------
# último token, cabeça nova e congelamento
# ------------------------------------------------------------------------------------------------------------------

def test_logits_ultimo_token_escolhe_a_ultima_posicao_real(cap6):
    class Posicoes(nn.Module):
        def forward(self, ids):  # logits[b, t] = (t, 10·b): dá para saber de qual posição cada linha veio
            b, t = ids.shape
            pos = torch.arange(t, dtype=torch.float32).expand(b, t)
            lin = 10.0 * torch.arange(b, dtype=torch.float32)[:, None].expand(b, t)
            return torch.stack([pos, lin], dim=-1)  # (batch, tokens, 2)

    entrada = torch.zeros(3, 6, dtype=torch.long)
    logits = cap6.logits_ultimo_token(Posicoes(), entrada, torch.tensor([2, 6, 1]))
    assert logits.shape == (3, 2)
    assert logits[:, 0].tolist() == [1.0, 5.0, 0.0]  # posições comprimento - 1
    assert logits[:, 1].tolist() == [0.0, 10.0, 20.0]  # cada linha lê a sua própria sequência
    assert cap6.logits_ultimo_token(Posicoes(), entrada)[:, 0].tolist() == [5.0, 5.0, 5.0]  # sem comprimentos
    with pytest.raises(ValueError, match="entre 1 e 6"):
        cap6.logits_ultimo_token(Posicoes(), entrada, torch.tensor([0, 2, 3]))


def test_logits_ultimo_token_descarta_colunas_que_sao_so_padding(cap6):
    vistos = []

    class Registra(nn.Module):
        def forward(self, ids):
            vistos.append(tuple(ids.shape))
            return torch.zeros(*ids.shape, 2)

    cap6.logits_ultimo_token(Registra(), torch.zeros(3, 10, dtype=torch.long), torch.tensor([2, 4, 1]))
    assert vistos == [(3, 4)]  # só até o maior comprimento do lote


def test_padding_a_direita_nao_muda_os_logits_do_ultimo_token_real(cap6):
    torch.manual_seed(0)
    modelo = cap6.preparar_para_classificacao(cap6.ModeloGPT(_cfg(cap6)), n_classes=2).eval()
    curto = torch.tensor([[5, 9, 3]])  # (1, 3) sem padding
    com_pad = torch.tensor([[5, 9, 3, 39, 39, 39, 39]])  # (1, 7): o mesmo texto + padding
    sozinho = cap6.logits_ultimo_token(modelo, curto)
    lido_certo = cap6.logits_ultimo_token(modelo, com_pad, torch.tensor([3]))
    lido_no_fim = cap6.logits_ultimo_token(modelo, com_pad)
    assert torch.allclose(sozinho, lido_certo, atol=1e-5)  # máscara causal: o padding vem depois e não é visto
    assert not torch.allclose(sozinho, lido_no_fim, atol=1e-3)  # a última posição (padding) dá outro resultado


def test_preparar_para_classificacao_congela_exatamente_o_certo(cap6):
    torch.manual_seed(0)
    modelo = cap6.ModeloGPT(_cfg(cap6))
    emb_antes = modelo.emb_tokens.weight.clone()
    saida = cap6.preparar_para_classificacao(modelo, n_classes=3, treinar_ultimos_blocos=1)
    assert saida is modelo
    assert isinstance(modelo.cabeca_saida, nn.Linear)
    assert (modelo.cabeca_saida.in_features, modelo.cabeca_saida.out_features) == (16, 3)
    treinaveis = {n for n, p in modelo.named_parameters() if p.requires_grad}
    esperados = {n for n, _ in modelo.named_parameters()
                 if n.startswith(("blocos.2.", "norm_final.", "cabeca_saida."))}
    assert treinaveis == esperados
    assert any(n.startswith("blocos.2.") for n in treinaveis) and "cabeca_saida.bias" in treinaveis
    assert torch.equal(modelo.emb_tokens.weight, emb_antes)
    assert modelo(torch.tensor([[1, 2, 3]])).shape == (1, 3, 3)  # (batch, tokens, n_classes)
    n_treinaveis, total = cap6.parametros_treinaveis(modelo)
    assert n_treinaveis == sum(p.numel() for n, p in modelo.named_parameters() if n in esperados)
    assert total == sum(p.numel() for p in modelo.parameters()) and n_treinaveis < total

    cap6.preparar_para_classificacao(modelo, treinar_ultimos_blocos=0)
    assert {n for n, p in modelo.named_parameters() if p.requires_grad} == {
        "norm_final.escala", "norm_final.deslocamento", "cabeca_saida.weight", "cabeca_saida.bias"}
    cap6.preparar_para_classificacao(modelo, treinar_ultimos_blocos=3)
    assert all(p.requires_grad for n, p in modelo.named_parameters() if n.startswith("blocos."))
    assert not modelo.emb_tokens.weight.requires_grad and not modelo.emb_posicoes.weight.requires_grad
    cap6.preparar_para_classificacao(modelo, treinar_ultimos_blocos=3, treinar_embeddings=True)
    assert all(p.requires_grad for p in modelo.parameters())  # fine-tuning completo
    assert cap6.parametros_treinaveis(modelo)[0] == cap6.parametros_treinaveis(modelo)[1]
    cap6.preparar_para_classificacao(modelo, treinar_ultimos_blocos=0, treinar_embeddings=True)
    assert {n for n, p in modelo.named_parameters() if p.requires_grad} == {
        "emb_tokens.weight", "emb_posicoes.weight", "norm_final.escala", "norm_final.deslocamento",
        "cabeca_saida.weight", "cabeca_saida.bias"}
    with pytest.raises(ValueError, match="entre 0 e 3"):
        cap6.preparar_para_classificacao(modelo, treinar_ultimos_blocos=4)


def test_cabeca_nova_solta_o_weight_tying(cap6):
    torch.manual_seed(0)
    modelo = cap6.criar_modelo_gpt(_cfg(cap6, atencao_rapida=True, amarrar_pesos=True))
    assert modelo.cabeca_saida.weight is modelo.emb_tokens.weight
    cap6.preparar_para_classificacao(modelo)
    assert modelo.cabeca_saida.weight.shape == (2, 16)
    assert not modelo.emb_tokens.weight.requires_grad and modelo.cabeca_saida.weight.requires_grad


def test_treino_mexe_so_no_que_e_treinavel_e_aprende(cap6):
    torch.manual_seed(0)
    tok = _tokenizador(cap6)
    spam = ["ganhe prêmio grátis agora", "prêmio grátis", "ganhe agora grátis", "grátis prêmio ganhe"]
    normal = ["oi tudo bem", "tudo bem", "oi oi", "bem tudo oi"]
    ds = cap6.DatasetSpam(_exemplos(spam + normal, [1] * 4 + [0] * 4), tok)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
    modelo = cap6.preparar_para_classificacao(
        cap6.ModeloGPT(_cfg(cap6, vocab_size=len(tok.str_para_id))),
        treinar_ultimos_blocos=1)
    antes = copy.deepcopy(modelo.state_dict())
    otimizador = torch.optim.AdamW([p for p in modelo.parameters() if p.requires_grad], lr=1e-2)
    hist = cap6.treinar_classificador(modelo, loader, loader, otimizador, n_epocas=15, avaliar_a_cada=10,
                                      batches_avaliacao=None, mostrar=False)
    assert hist["epoca"] == list(range(1, 16)) and len(hist["acuracia_val"]) == 15
    assert hist["passo"] == [10, 20, 30] and hist["exemplos"] == [40, 80, 120]
    assert hist["perda_treino"][-1] < hist["perda_treino"][0]
    assert hist["acuracia_treino"][-1] == 1.0
    depois = modelo.state_dict()
    for nome, p in modelo.named_parameters():
        if nome.startswith("cabeca_saida."):
            continue  # a cabeça é nova: não existia no "antes" com este shape
        mudou = not torch.equal(antes[nome], depois[nome])
        assert mudou == p.requires_grad, nome


# ------------------------------------------------------------------------------------------------------------------
# avaliação
# ------------------------------------------------------------------------------------------------------------------

def test_acuracia_e_prever_num_lote_feito_a_mao(cap6):
    # últimos tokens reais: 3 (ímpar -> 1), 4 (par -> 0), 7 (-> 1), 9 (-> 1); o padding 0 é par (-> 0)
    entrada = torch.tensor([[1, 3, 0, 0], [2, 4, 0, 0], [5, 7, 0, 0], [9, 0, 0, 0]])
    rotulos = torch.tensor([1, 0, 0, 1])
    comprimentos = torch.tensor([2, 2, 2, 1])
    loader = [(entrada[:2], rotulos[:2], comprimentos[:2]), (entrada[2:], rotulos[2:], comprimentos[2:])]
    modelo = _ModeloFalso()
    previstos, verdadeiros = cap6.prever(modelo, loader)
    assert previstos.tolist() == [1, 0, 1, 1] and verdadeiros.tolist() == [1, 0, 0, 1]
    assert cap6.acuracia(modelo, loader) == pytest.approx(0.75)
    assert cap6.acuracia(modelo, loader, max_batches=1) == pytest.approx(1.0)
    assert modelo.training  # volta ao modo em que estava
    modelo.eval()
    cap6.acuracia(modelo, loader)
    cap6.perda_media_classificacao(modelo, loader)
    assert not modelo.training
    modelo.train()
    perda = cap6.perda_media_classificacao(modelo, loader)
    esperado = nn.functional.cross_entropy(torch.tensor([[0., 1.], [1., 0.], [0., 1.], [0., 1.]]), rotulos).item()
    assert perda == pytest.approx(esperado, rel=1e-5)
    with pytest.raises(ValueError, match="nenhum lote"):
        cap6.acuracia(modelo, [])


def test_matriz_de_confusao(cap6):
    verdadeiros = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    previstos = torch.tensor([0, 1, 1, 1, 1, 0, 1])
    m = cap6.matriz_confusao(verdadeiros, previstos)
    assert m.tolist() == [[1, 2], [1, 3]]  # linha = verdadeira, coluna = prevista
    assert int(m.sum()) == 7
    assert cap6.matriz_confusao([0, 1, 2], [2, 1, 0], n_classes=3).tolist() == [[0, 0, 1], [0, 1, 0], [1, 0, 0]]


def test_classificar_texto_vazio_longo_e_sem_padding(cap6):
    torch.manual_seed(0)
    tok = _tokenizador(cap6)
    modelo = cap6.preparar_para_classificacao(cap6.ModeloGPT(_cfg(cap6)))  # context_length = 8
    for vazio in ("", "   \n"):
        with pytest.raises(ValueError, match="vazio"):
            cap6.classificar_texto(vazio, modelo, tok)
    with pytest.raises(TypeError):
        cap6.classificar_texto(None, modelo, tok)
    longo = " ".join(["a b c d e f g h"] * 5)  # 40 tokens > context_length
    resposta = cap6.classificar_texto(longo, modelo, tok)
    assert resposta in ("spam", "não spam")
    assert resposta == cap6.classificar_texto("a b c d e f g h", modelo, tok)  # ficam os 8 primeiros tokens
    # o resultado é o do último token real: igual ao que a função de logits dá para os mesmos ids
    modelo.eval()
    ids = torch.tensor([tok.encode("a b c")])
    esperado = cap6.CLASSES[int(cap6.logits_ultimo_token(modelo, ids).argmax())]
    assert cap6.classificar_texto("a b c", modelo, tok) == esperado


def test_classificar_texto_respeita_max_length(cap6):
    tok = _tokenizador(cap6)
    modelo = _ModeloFalso()
    modelo.context_length = 8
    impar = [t for t in ["a", "b", "c", "d", "e", "f", "g", "h"] if tok.encode(t)[0] % 2 == 1][0]
    par = [t for t in ["a", "b", "c", "d", "e", "f", "g", "h"] if tok.encode(t)[0] % 2 == 0][0]
    assert cap6.classificar_texto(f"{impar} {par}", modelo, tok) == "não spam"  # lê o último: par
    assert cap6.classificar_texto(f"{impar} {par}", modelo, tok, max_length=1) == "spam"  # cortado em 1 token


# ------------------------------------------------------------------------------------------------------------------
# linha de base: saco de palavras + regressão logística
# ------------------------------------------------------------------------------------------------------------------

def test_regressao_logistica_bow_separa_um_conjunto_simples(cap6):
    spam = ["Ganhe um prêmio grátis agora", "prêmio GRÁTIS ligue já", "ganhe dinheiro grátis", "ligue já e ganhe"]
    normal = ["vamos almoçar amanhã", "te vejo no almoço", "amanhã eu te ligo de noite", "vejo você amanhã"]
    textos, rotulos = spam + normal, [1] * 4 + [0] * 4
    bow = cap6.RegressaoLogisticaBoW(min_freq=1, l2=0.0)
    with pytest.raises(RuntimeError, match="ajustar"):
        bow.prever(["oi"])
    assert bow.ajustar(textos, rotulos, n_passos=200, lr=0.1) is bow
    assert "grátis" in bow.vocabulario and "GRÁTIS" not in bow.vocabulario  # tudo em minúsculas
    assert bow.acuracia(textos, rotulos) == 1.0
    assert bow.prever(["prêmio grátis pra você", "almoço amanhã?"]).tolist() == [1, 0]
    p = bow.probabilidade_spam(textos)
    assert p.shape == (8,) and bool(((p > 0) & (p < 1)).all())
    assert bow.pesos[bow.vocabulario["grátis"]] > 0 > bow.pesos[bow.vocabulario["amanhã"]]
    x = bow.vetorizar(["grátis grátis palavra_nova"])
    assert x.shape == (1, len(bow.vocabulario))
    assert x[0, bow.vocabulario["grátis"]].item() == pytest.approx(torch.log1p(torch.tensor(2.0)).item())
    assert x.sum().item() == pytest.approx(torch.log1p(torch.tensor(2.0)).item())  # a palavra nova some
    with pytest.raises(ValueError):
        cap6.RegressaoLogisticaBoW().ajustar(["a"], [0, 1])
