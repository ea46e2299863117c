"""Acesso aos dados: pasta local, cache e download conferido (contra um servidor HTTP local em 127.0.0.1)."""
import hashlib
import http.server
import os
import threading

import pytest

CONTEUDO = ("Uma noite destas, vindo da cidade para o Engenho Novo…\n" * 2000).encode("utf-8")
SHA = hashlib.sha256(CONTEUDO).hexdigest()


class Manipulador(http.server.BaseHTTPRequestHandler):
    pedidos = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        Manipulador.pedidos.append(self.path)
        if self.path == "/bom.txt":
            self.send_response(200)
            self.send_header("Content-Length", str(len(CONTEUDO)))
            self.end_headers()
            self.wfile.write(CONTEUDO)
        elif self.path == "/cortado.txt":
            # anuncia o tamanho todo, manda metade e derruba a conexão
            self.send_response(200)
            self.send_header("Content-Length", str(len(CONTEUDO)))
            self.end_headers()
            self.wfile.write(CONTEUDO[: len(CONTEUDO) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404, "Not Found")


@pytest.fixture(scope="module")
def servidor():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Manipulador)
    fio = threading.Thread(target=srv.serve_forever, daemon=True)
    fio.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_download_bom(infra, servidor, tmp_path):
    destino = tmp_path / "sub" / "bom.txt"
    caminho = infra.baixar_arquivo(f"{servidor}/bom.txt", destino, SHA, len(CONTEUDO), timeout=10)
    assert caminho == destino and destino.read_bytes() == CONTEUDO
    assert os.listdir(destino.parent) == ["bom.txt"], "sobrou arquivo temporário"


@pytest.mark.parametrize(
    "caminho,sha,trecho",
    [
        ("/bom.txt", "0" * 64, "sha256"),
        ("/nao-existe.txt", SHA, "HTTP 404"),
        ("/cortado.txt", SHA, "Download incompleto"),
    ],
    ids=["sha256-errado", "404", "conexao-cortada"],
)
def test_download_com_falha_nao_deixa_arquivo(infra, servidor, tmp_path, caminho, sha, trecho):
    destino = tmp_path / "arquivo.txt"
    with pytest.raises(infra.ErroDeDados) as erro:
        infra.baixar_arquivo(servidor + caminho, destino, sha, len(CONTEUDO), timeout=10)
    assert trecho in str(erro.value)
    assert list(tmp_path.iterdir()) == [], "um arquivo parcial ou corrompido ficou para trás"


def test_download_cortado_sem_tamanho_conhecido_tambem_falha(infra, servidor, tmp_path):
    destino = tmp_path / "arquivo.txt"
    with pytest.raises(infra.ErroDeDados, match="Download incompleto"):
        infra.baixar_arquivo(servidor + "/cortado.txt", destino, SHA, None, timeout=10)
    assert list(tmp_path.iterdir()) == []


def test_servidor_fora_do_ar(infra, tmp_path):
    with pytest.raises(infra.ErroDeDados, match="conexão falhou"):
        infra.baixar_arquivo("http://127.0.0.1:9/x.txt", tmp_path / "x.txt", SHA, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_caminho_dado_baixa_para_o_cache_uma_vez(infra, servidor, tmp_path, monkeypatch):
    monkeypatch.setitem(infra.ARQUIVOS, "teste/bom.txt", (len(CONTEUDO), SHA, f"{servidor}/bom.txt"))
    monkeypatch.setattr(infra, "PASTA_CACHE", tmp_path)
    monkeypatch.setenv("LLM_DO_ZERO_DADOS", str(tmp_path / "vazia"))
    Manipulador.pedidos.clear()
    primeiro = infra.caminho_dado("teste/bom.txt")
    segundo = infra.caminho_dado("teste/bom.txt")
    assert primeiro == segundo == tmp_path / "dados" / "teste" / "bom.txt"
    assert primeiro.read_bytes() == CONTEUDO
    assert Manipulador.pedidos == ["/bom.txt"], "o segundo acesso deveria usar o cache"


def test_caminho_dado_prefere_a_pasta_local(infra):
    pasta = os.environ.get("LLM_DO_ZERO_DADOS")
    if not pasta or not os.path.isdir(pasta):
        pytest.skip("sem pasta de dados local")
    caminho = infra.caminho_dado("machado/domCasmurro.txt")
    assert str(caminho).startswith(pasta)
    assert infra.sha256_de_arquivo(caminho) == infra.ARQUIVOS["machado/domCasmurro.txt"][1]


def test_arquivo_desconhecido_da_erro_claro(infra):
    with pytest.raises(infra.ErroDeDados, match="Não conheço o arquivo"):
        infra.caminho_dado("machado/nao-existe.txt")


def test_manifesto_bate_com_o_do_shared(infra):
    manifesto = os.path.join(os.environ.get("LLM_DO_ZERO_DADOS", ""), "MANIFEST.tsv")
    if not os.path.isfile(manifesto):
        pytest.skip("sem MANIFEST.tsv local")
    with open(manifesto, encoding="utf-8") as f:
        linhas = f.read().strip().splitlines()[1:]
    esperado = {n: (int(b), s, u) for n, b, s, u in (linha.split("\t") for linha in linhas)}
    assert esperado == infra.ARQUIVOS


def test_divisao_treino_validacao(infra):
    texto = "".join(f"linha {i}\n" for i in range(100))
    treino, validacao = infra.dividir_romance(texto, 0.1)
    assert treino + validacao == texto
    assert validacao.startswith("linha 91\n") and treino.endswith("linha 90\n")
    with pytest.raises(ValueError):
        infra.dividir_romance(texto, 1.5)
    treino_c, val_c = infra.corpus_machado("treino"), infra.corpus_machado("validacao")
    assert 0.08 < len(val_c) / (len(treino_c) + len(val_c)) < 0.12
    assert val_c[:2000] not in treino_c


def test_modo_e_semente(infra, monkeypatch):
    import torch

    assert infra.RAPIDO is True, "os testes rodam no modo rápido"
    assert infra.escolher("r", "c") == "r"
    infra.fixar_semente(7)
    a = torch.rand(3)
    infra.fixar_semente(7)
    assert torch.equal(a, torch.rand(3))
    # a ordem de preferência: CUDA, depois MPS, depois CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert infra.escolher_dispositivo() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert infra.escolher_dispositivo() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert infra.escolher_dispositivo() == torch.device("cpu")


def test_arquivo_errado_na_pasta_local_da_erro_claro(infra, servidor, tmp_path, monkeypatch):
    """Mesmo tamanho, conteúdo errado: antes passava (só o tamanho era conferido); agora o sha256 barra."""
    monkeypatch.setitem(infra.ARQUIVOS, "teste/bom.txt", (len(CONTEUDO), SHA, f"{servidor}/bom.txt"))
    monkeypatch.setattr(infra, "PASTA_CACHE", tmp_path / "cache")
    (tmp_path / "local" / "teste").mkdir(parents=True)
    (tmp_path / "local" / "teste" / "bom.txt").write_bytes(b"x" * len(CONTEUDO))
    monkeypatch.setenv("LLM_DO_ZERO_DADOS", str(tmp_path / "local"))
    with pytest.raises(infra.ErroDeDados, match="sha256 não confere"):
        infra.caminho_dado("teste/bom.txt")
    (tmp_path / "local" / "teste" / "bom.txt").write_bytes(CONTEUDO[:-3])  # tamanho errado: também um erro claro
    with pytest.raises(infra.ErroDeDados, match="LLM_DO_ZERO_DADOS"):
        infra.caminho_dado("teste/bom.txt")


def test_cache_estragado_e_baixado_de_novo(infra, servidor, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(infra.ARQUIVOS, "teste/bom.txt", (len(CONTEUDO), SHA, f"{servidor}/bom.txt"))
    monkeypatch.setattr(infra, "PASTA_CACHE", tmp_path)
    monkeypatch.setenv("LLM_DO_ZERO_DADOS", str(tmp_path / "vazia"))
    estragado = tmp_path / "dados" / "teste" / "bom.txt"
    estragado.parent.mkdir(parents=True)
    estragado.write_bytes(bytes(len(CONTEUDO)))  # zeros do mesmo tamanho
    Manipulador.pedidos.clear()
    assert infra.caminho_dado("teste/bom.txt").read_bytes() == CONTEUDO
    assert Manipulador.pedidos == ["/bom.txt"] and "estragado" in capsys.readouterr().out


def test_cache_sem_permissao_de_escrita_da_erro_claro(infra, servidor, tmp_path):
    arquivo = tmp_path / "um_arquivo"
    arquivo.write_text("não sou pasta")
    with pytest.raises(infra.ErroDeDados, match="Não consigo escrever"):
        infra.baixar_arquivo(f"{servidor}/bom.txt", arquivo / "sub" / "x.txt", SHA, len(CONTEUDO))


def test_download_tem_prazo_total(infra, servidor, tmp_path):
    destino = tmp_path / "x.txt"
    with pytest.raises(infra.ErroDeDados, match="passou de 0 s"):
        infra.baixar_arquivo(f"{servidor}/bom.txt", destino, SHA, len(CONTEUDO), prazo_total=0.0)
    assert not list(tmp_path.iterdir()), "não pode sobrar arquivo parcial"


# ----------------------------------------------------------------------------------------------------------------
# Gravação atômica: o ajudante único de tudo o que o curso grava (dados, BPE, checkpoints, resultados, notebooks)
# ----------------------------------------------------------------------------------------------------------------


def test_gravar_atomicamente_texto_bytes_e_funcao(infra, tmp_path):
    destino = tmp_path / "sub" / "a.json"
    assert infra.gravar_atomicamente(destino, "ação\n") == destino  # cria a pasta que falta
    assert destino.read_bytes() == "ação\n".encode("utf-8")
    infra.gravar_atomicamente(str(destino), b"\x00\xff")
    assert destino.read_bytes() == b"\x00\xff"
    infra.gravar_atomicamente(destino, "linha 1\r\nlinha 2\n")  # as quebras de linha ficam como estão
    assert destino.read_bytes() == b"linha 1\r\nlinha 2\n"

    def gravar_pela_funcao(temporario):
        assert temporario.parent == destino.parent and temporario.name.endswith(".tmp")  # mesma pasta: os.replace
        assert destino.read_bytes() == b"linha 1\r\nlinha 2\n", "durante a gravação, quem lê vê o arquivo antigo"
        temporario.write_text("escrito pela função", encoding="utf-8")

    infra.gravar_atomicamente(destino, gravar_pela_funcao)
    assert destino.read_text(encoding="utf-8") == "escrito pela função"
    assert os.listdir(destino.parent) == ["a.json"], "sobrou arquivo temporário"
    if os.name == "posix":  # as permissões de um arquivo criado normalmente (a umask), não as 0o600 de um mkstemp
        umask = os.umask(0)
        os.umask(umask)
        assert destino.stat().st_mode & 0o777 == 0o666 & ~umask


def test_gravar_atomicamente_com_falha_mantem_o_arquivo_antigo(infra, tmp_path):
    destino = tmp_path / "a.txt"
    destino.write_text("antigo", encoding="utf-8")

    def gravar_metade_e_falhar(temporario):
        temporario.write_text("nov", encoding="utf-8")
        raise RuntimeError("disco cheio")

    with pytest.raises(RuntimeError, match="disco cheio"):
        infra.gravar_atomicamente(destino, gravar_metade_e_falhar)
    with pytest.raises(UnicodeEncodeError):
        infra.gravar_atomicamente(destino, "\ud800")  # um texto que não vira UTF-8
    with pytest.raises(TypeError, match="texto, bytes"):
        infra.gravar_atomicamente(destino, {"a": 1})
    assert destino.read_text(encoding="utf-8") == "antigo"
    assert os.listdir(tmp_path) == ["a.txt"], "o temporário de uma gravação que falhou ficou para trás"
    pasta = tmp_path / "pasta"
    pasta.mkdir()
    with pytest.raises(OSError):  # falha no próprio os.replace (o destino é uma pasta)
        infra.gravar_atomicamente(pasta, "x")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "pasta"] and not os.listdir(pasta)
