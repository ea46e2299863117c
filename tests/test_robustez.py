"""Entradas ruins nas funções do curso: erro claro em português, nada perdido, nada carregado em silêncio.

Cada teste aqui corresponde a um defeito encontrado testando o curso como um usuário descuidado (issue "Servidor e
robustez"): antes da correção, a função aceitava a entrada e fazia a coisa errada, ou quebrava com um erro obscuro.
"""
import pytest
import torch

from conftest import carregar_modulo

MINI = {"vocab_size": 50, "context_length": 16, "d_model": 16, "n_heads": 2, "n_layers": 1, "dropout": 0.0,
        "qkv_bias": False, "atencao_rapida": True}


@pytest.fixture(scope="module")
def cap5():
    return carregar_modulo(6)


@pytest.fixture(scope="module")
def cap7():
    return carregar_modulo(8)


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------------


def test_checkpoint_de_outra_configuracao_nao_carrega(cap5, tmp_path):
    """2 cabeças num modelo de 4: os shapes batem, mas as contas não (antes: carregava e os logits mudavam)."""
    duas = cap5.criar_modelo_gpt({**MINI, "n_heads": 2})
    caminho = cap5.salvar_checkpoint(tmp_path / "m.pt", duas, {**MINI, "n_heads": 2})
    quatro = cap5.criar_modelo_gpt({**MINI, "n_heads": 4})
    with pytest.raises(ValueError, match="n_heads: 2 no arquivo, 4 no modelo"):
        cap5.carregar_checkpoint(caminho, quatro)
    modelo, dados = cap5.carregar_checkpoint(caminho)  # sem modelo: usa a configuração salva
    assert modelo.blocos[0].atencao.n_heads == 2


@pytest.mark.parametrize("conteudo", [b"", b"lixo" * 100, b"PK\x03\x04" + bytes(50)],
                         ids=["vazio", "lixo", "zip-quebrado"])
def test_checkpoint_ilegivel_da_erro_claro(cap5, tmp_path, conteudo):
    caminho = tmp_path / "ruim.pt"
    caminho.write_bytes(conteudo)
    with pytest.raises(ValueError, match="Não consegui ler ruim.pt"):
        cap5.carregar_checkpoint(caminho)


def test_checkpoint_sem_chaves_ou_com_peso_alterado(cap5, tmp_path):
    modelo = cap5.criar_modelo_gpt(MINI)
    torch.save({"formato": "llm-do-zero-checkpoint", "modelo": {}}, tmp_path / "sem_cfg.pt")
    with pytest.raises(ValueError, match="não é um checkpoint"):
        cap5.carregar_checkpoint(tmp_path / "sem_cfg.pt")
    caminho = cap5.salvar_checkpoint(tmp_path / "m.pt", modelo, MINI)
    dados = torch.load(caminho, weights_only=True)
    dados["modelo"]["norm_final.escala"].view(torch.uint8)[0] ^= 1  # um bit trocado num peso
    torch.save(dados, caminho)
    with pytest.raises(ValueError, match="não conferem com o sha256"):
        cap5.carregar_checkpoint(caminho)


def test_gravacao_que_falha_nao_deixa_temporario(cap5, tmp_path, monkeypatch):
    modelo = cap5.criar_modelo_gpt(MINI)

    def falhar(*args, **kwargs):
        raise OSError("disco cheio")

    monkeypatch.setattr(cap5.os, "replace", falhar)
    with pytest.raises(OSError, match="disco cheio"):
        cap5.salvar_checkpoint(tmp_path / "m.pt", modelo, MINI)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------------------------
# Configuração, geração e amostragem
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chave,valor,trecho", [
    ("n_layers", -1, "n_layers"), ("context_length", 0, "context_length"), ("d_model", 15, "divisível"),
    ("dropout", 1.5, "dropout"), ("vocab_size", 2.5, "vocab_size"),
])
def test_configuracao_invalida(cap5, chave, valor, trecho):
    with pytest.raises(ValueError, match=trecho):
        cap5.criar_modelo_gpt({**MINI, chave: valor})
    sem = {k: v for k, v in MINI.items() if k != "qkv_bias"}
    with pytest.raises(ValueError, match="Faltam chaves"):
        cap5.criar_modelo_gpt(sem)


def test_gerar_texto_entradas_ruins(cap5):
    modelo = cap5.criar_modelo_gpt(MINI)
    with pytest.raises(ValueError, match="pelo menos 1 token"):
        cap5.gerar_texto(modelo, torch.zeros(1, 0, dtype=torch.long), 3)  # antes: IndexError
    with pytest.raises(ValueError, match="max_novos_tokens"):
        cap5.gerar_texto(modelo, torch.tensor([[1, 2]]), -2)  # antes: devolvia o prompt calado
    with pytest.raises(TypeError, match="torch.long"):
        cap5.gerar_texto(modelo, torch.tensor([[1.0, 2.0]]), 2)
    with pytest.raises(ValueError, match="temperatura"):
        cap5.gerar_texto(modelo, torch.tensor([[1, 2]]), 2, temperatura=float("nan"))


def test_temperatura_minuscula_nao_estoura(cap5):
    """``logits / 1e-38`` estourava para infinito em float32 (NaN na softmax); perto de 0 é praticamente a gulosa."""
    torch.manual_seed(0)
    modelo = cap5.criar_modelo_gpt(MINI)
    ids = torch.tensor([[1, 2, 3]])
    quase_gulosa = cap5.gerar_texto(modelo, ids, 5, temperatura=1e-38, gerador=torch.Generator().manual_seed(1))
    assert torch.equal(quase_gulosa, cap5.gerar_texto(modelo, ids, 5))


def test_top_p_1_mantem_todos_os_tokens(cap5):
    """Com p = 1 nada pode ser cortado; em float32 a soma acumulada chegava a 1,0 antes do fim e cortava a cauda."""
    logits = torch.cat([torch.tensor([30.0]), torch.zeros(999)])[None]  # um token domina: cauda de ~1e-13
    assert torch.isfinite(cap5.filtrar_top_p(logits, 1.0)).all()
    assert torch.isinf(cap5.filtrar_top_p(logits, 0.5)).sum() == 999


# ----------------------------------------------------------------------------------------------------------------
# Classificação e instruções
# ----------------------------------------------------------------------------------------------------------------


class _TokenizadorDeBytes:
    n_vocab = 257

    def encode(self, texto, **_):
        return list(texto.encode("utf-8"))


def test_classificar_texto_max_length_invalido(cap7):
    modelo = cap7.preparar_para_classificacao(cap7.criar_modelo_gpt({**MINI, "vocab_size": 257}))
    for ruim in (-3, 0, 2.5):
        with pytest.raises(ValueError, match="max_length"):  # antes: -3 cortava tokens em silêncio
            cap7.classificar_texto("oi, tudo bem?", modelo, _TokenizadorDeBytes(), max_length=ruim)


def test_formatar_prompt_recusa_instrucao_que_nao_e_texto(cap7):
    with pytest.raises(TypeError, match="instrução deve ser um texto"):
        cap7.formatar_prompt({"instrucao": None})  # antes: "### Instrução: None"
    with pytest.raises(TypeError, match="entrada deve ser um texto"):
        cap7.formatar_prompt({"instrucao": "Some.", "entrada": 42})


def test_responder_avisa_quando_o_prompt_nao_cabe_no_contexto(cap7):
    modelo = cap7.criar_modelo_gpt({**MINI, "vocab_size": 257, "context_length": 32})

    class Tok(_TokenizadorDeBytes):
        def decode(self, ids):
            return bytes(ids).decode("utf-8", "replace")

    with pytest.warns(UserWarning, match="fica de fora da janela"):  # antes: cortava o começo sem avisar
        cap7.responder(modelo, Tok(), {"instrucao": "Escreva muito " * 10, "entrada": ""}, max_novos_tokens=2,
                       id_fim=0)
