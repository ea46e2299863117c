"""Gera todos os infográficos do curso *Fazendo um LLM do Zero*.

Cada figura explica uma ideia só (do texto aos tokens, BPE, janela deslizante, atenção, bloco transformer, GPT,
treino, decodificação, ajuste fino, LoRA, KV cache) e é desenhada inteiramente por código, com matplotlib:
sem fontes externas (usa a DejaVu Sans que vem com o matplotlib) e sem sorteios fora de geradores com semente fixa.
Rodar duas vezes produz os mesmos arquivos. O Pillow (dependência do próprio matplotlib) só entra no fim, para
gravar cada PNG com uma paleta de 256 cores: arquivos bem menores.

O que as figuras mostram vem do código do curso, importado de ``08-extras/llm_do_zero.py`` (a cópia do módulo de
apoio com os blocos de todos os capítulos), e não de cópias escritas aqui:

- tokens, ids e fusões: ``tokenizador_machado`` (o BPE de 4.000 fusões do capítulo 1), ``TokenizadorBPE.treinar``
  (as fusões, uma a uma, numa frase de Machado) e ``carregar_tokenizador_gpt2``;
- janelas (x, y): ``DatasetGPT`` (capítulo 2); a ficha do GPT-2 small: ``GPT2_124M`` e ``contar_parametros``;
- a agenda da taxa de aprendizado: ``taxa_aprendizado`` com a receita ``TREINO_COMPLETO`` (capítulo 5);
- o modelo de prompt e a máscara da perda: ``formatar_prompt``, ``DatasetInstrucoes`` e ``colar_instrucoes``
  (capítulo 7), num exemplo de verdade de ``07-instruction-tuning/instrucoes.json``.

Os textos de Machado são lidos com ``ler_texto`` do módulo: a pasta de ``LLM_DO_ZERO_DADOS``, o cache ``.cache/``
do repositório ou, em último caso, o download. Cada PNG leva, nos metadados (campo de texto ``conteudo``), uma
impressão digital do que a figura mostra (os textos e os números desenhados); os testes a comparam com a da figura
gerada agora, então uma figura commitada que não acompanhou o código é pega.

Uso (de qualquer pasta)::

    python infograficos/gerar.py              # escreve os PNGs em infograficos/
    python infograficos/gerar.py /tmp/saida   # escreve em outra pasta (útil nos testes)
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import math
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # sem janela: funciona em servidor, CI e Colab

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap, to_rgb  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402
from PIL import Image  # noqa: E402  (o Pillow já vem como dependência do matplotlib)
from PIL.PngImagePlugin import PngInfo  # noqa: E402

# ----------------------------------------------------------------------------------------------------------------
# Estilo: paleta, fontes e tamanhos definidos uma única vez
# ----------------------------------------------------------------------------------------------------------------

#: Paleta do curso. Cada cor forte tem uma versão clara para fundos. Papéis fixos em todas as figuras:
#: azul = texto/tokens/entrada, laranja = alvo/atenção/destaque, verde = treinável/mantido, cinza = congelado ou
#: descartado, roxo = bytes/ids, verde-água = embeddings, vermelho = máscara/erro.
CORES = {
    "fundo": "#ffffff",
    "tinta": "#1e293b",
    "suave": "#475569",
    "linha": "#94a3b8",
    "grade": "#e2e8f0",
    "papel": "#f8fafc",
    "azul": "#2563eb",
    "azul_claro": "#dbeafe",
    "laranja": "#ea580c",
    "laranja_claro": "#ffedd5",
    "verde": "#16a34a",
    "verde_claro": "#dcfce7",
    "roxo": "#7c3aed",
    "roxo_claro": "#ede9fe",
    "agua": "#0d9488",
    "agua_claro": "#ccfbf1",
    "vermelho": "#dc2626",
    "vermelho_claro": "#fee2e2",
    "amarelo": "#ca8a04",
    "amarelo_claro": "#fef9c3",
    "cinza": "#64748b",
    "cinza_claro": "#f1f5f9",
}

#: Tamanhos de fonte (pontos). Nada abaixo de 9 pt: as figuras são vistas reduzidas no GitHub.
TAM = {"titulo": 17, "subtitulo": 11.5, "rotulo": 12, "texto": 11, "nota": 10, "mini": 9}

DPI = 140  # 11,4 polegadas de largura -> 1596 px
FONTE = "DejaVu Sans"  # vem dentro do matplotlib: mesma aparência em qualquer máquina
FONTE_MONO = "DejaVu Sans Mono"

#: Mapas de cores derivados da paleta: sequencial (pesos, pontuações) e divergente (valores de vetores).
MAPA_SEQ = LinearSegmentedColormap.from_list("curso_seq", ["#ffffff", CORES["azul_claro"], "#60a5fa", CORES["azul"]])
MAPA_DIV = LinearSegmentedColormap.from_list(
    "curso_div", [CORES["laranja"], "#fdba74", "#fff7ed", "#ffffff", "#eff6ff", "#93c5fd", CORES["azul"]]
)

ESPACO = "␣"  # como mostramos o espaço que faz parte de um token

#: Parâmetros do matplotlib aplicados (só durante a geração) a todas as figuras.
ESTILO = {
    "font.family": FONTE,
    "mathtext.fontset": "dejavusans",
    "axes.edgecolor": CORES["linha"],
    "axes.labelcolor": CORES["tinta"],
    "xtick.color": CORES["suave"],
    "ytick.color": CORES["suave"],
    "text.color": CORES["tinta"],
}


# ----------------------------------------------------------------------------------------------------------------
# Pequenas ferramentas de desenho (coordenadas em décimos de polegada: 1 unidade = 0,1 pol = 14 px)
# ----------------------------------------------------------------------------------------------------------------
# Os limites dos eixos são fixos, então as formas entram com ``add_artist`` (e não ``add_patch``, que recalcula os
# limites a cada forma): mesmo desenho, geração mais rápida.


def novo_quadro(largura: float, altura: float, titulo: str, subtitulo: str | None = None):
    """Cria a figura com um eixo que cobre tudo, em unidades de 0,1 polegada, e escreve título e subtítulo."""
    fig = plt.figure(figsize=(largura, altura), dpi=DPI, facecolor=CORES["fundo"])
    ax = fig.add_axes((0, 0, 1, 1))
    L, A = largura * 10, altura * 10
    ax.set_xlim(0, L)
    ax.set_ylim(0, A)
    ax.axis("off")
    ax.text(2, A - 1.8, titulo, fontsize=TAM["titulo"], fontweight="bold", va="top", color=CORES["tinta"])
    if subtitulo:
        ax.text(2, A - 5.4, subtitulo, fontsize=TAM["subtitulo"], va="top", color=CORES["suave"])
    return fig, ax


def eixo_em(fig, ax_base, x: float, y: float, w: float, h: float):
    """Novo eixo (para gráficos de verdade) num retângulo dado em unidades do quadro."""
    L, A = ax_base.get_xlim()[1], ax_base.get_ylim()[1]
    return fig.add_axes((x / L, y / A, w / L, h / A))


def caixa(ax, x, y, w, h, texto="", fundo=None, borda=None, tam=None, cor_texto=None, peso="normal", mono=False,
          raio=0.8, lw=1.4, tracejada=False, z=2, ha="center", linespacing=1.25, gid=None):
    """Retângulo arredondado com texto centralizado. (x, y) é o canto inferior esquerdo.

    ``gid`` vai para o texto: é por ele que os testes acham, na figura, o que foi escrito (ex.: os tokens).
    """
    fundo = CORES["cinza_claro"] if fundo is None else fundo
    borda = CORES["linha"] if borda is None else borda
    caixa_ = FancyBboxPatch((x, y), w, h, boxstyle=f"round,pad=0,rounding_size={raio}", facecolor=fundo,
                            edgecolor=borda, lw=lw, linestyle="--" if tracejada else "-", zorder=z)
    ax.add_artist(caixa_)
    if texto:
        tx = x + w / 2 if ha == "center" else x + 0.9
        ax.text(tx, y + h / 2, texto, ha=ha, va="center", fontsize=tam or TAM["texto"],
                color=cor_texto or CORES["tinta"],
                fontweight=peso, family=FONTE_MONO if mono else FONTE, zorder=z + 1, linespacing=linespacing,
                gid=gid)
    return caixa_


def celula(ax, x, y, w, h, texto="", fundo="#ffffff", borda=None, tam=None, cor_texto=None, mono=True, peso="normal",
           lw=1.0, z=2, tracejada=False, gid=None):
    """Retângulo reto (sem arredondar) com texto: células de matrizes e de sequências (``gid``: veja ``caixa``)."""
    ax.add_artist(Rectangle((x, y), w, h, facecolor=fundo, edgecolor=borda or CORES["linha"], lw=lw, zorder=z,
                           linestyle=(0, (3, 2)) if tracejada else "-"))
    if texto != "":
        ax.text(x + w / 2, y + h / 2, texto, ha="center", va="center", fontsize=tam or TAM["texto"],
                color=cor_texto or CORES["tinta"], family=FONTE_MONO if mono else FONTE, fontweight=peso, zorder=z + 1,
                gid=gid)


def seta(ax, xy0, xy1, cor=None, lw=1.8, curva=None, tracejada=False, cabeca=14, z=1, estilo="-|>"):
    """Seta reta (ou curva, com ``curva`` = raio do arco) de ``xy0`` até ``xy1``."""
    conexao = f"arc3,rad={curva}" if curva else "arc3"
    ax.add_artist(FancyArrowPatch(xy0, xy1, arrowstyle=estilo, mutation_scale=cabeca, lw=lw,
                                 color=cor or CORES["suave"], connectionstyle=conexao, shrinkA=0, shrinkB=0,
                                 linestyle="--" if tracejada else "-", zorder=z))


def linha(ax, xs, ys, cor=None, lw=1.8, tracejada=False, z=1):
    """Poligonal simples (para conexões em ângulo reto)."""
    ax.plot(xs, ys, color=cor or CORES["suave"], lw=lw, ls="--" if tracejada else "-", zorder=z,
            solid_capstyle="round", solid_joinstyle="round")


def chave(ax, x0, x1, y, texto, lado="cima", cor=None, tam=None, altura=0.9, peso="normal"):
    """Colchete horizontal de ``x0`` a ``x1`` com um rótulo (marca comprimentos, como o contexto)."""
    cor = cor or CORES["tinta"]
    s = 1 if lado == "cima" else -1
    ax.plot([x0, x0, x1, x1], [y, y + s * altura, y + s * altura, y], color=cor, lw=1.5, zorder=3)
    ax.text((x0 + x1) / 2, y + s * (altura + 0.5), texto, ha="center", va="bottom" if s > 0 else "top",
            fontsize=tam or TAM["nota"], color=cor, fontweight=peso, zorder=3)


def circulo(ax, x, y, r, texto, fundo, borda=None, cor_texto="#ffffff", tam=None, z=3):
    """Círculo com texto (números de etapa, sinal de soma)."""
    ax.add_artist(Circle((x, y), r, facecolor=fundo, edgecolor=borda or fundo, lw=1.5, zorder=z))
    ax.text(x, y, texto, ha="center", va="center", fontsize=tam or TAM["texto"], color=cor_texto,
            fontweight="bold", zorder=z + 1)


def soma(ax, x, y, r=1.5, cor=None):
    """O nó ⊕ das conexões de atalho."""
    circulo(ax, x, y, r, "+", fundo="#ffffff", borda=cor or CORES["tinta"], cor_texto=cor or CORES["tinta"],
            tam=15)


def matriz_cores(ax, x, y, valores, cw, ch, mapa=MAPA_DIV, vmin=-2.0, vmax=2.0, borda="#ffffff", lw=0.8, z=2,
                 numeros=None, tam=None, mascara=None):
    """Desenha ``valores`` (linhas de cima para baixo) como células coloridas; opcionalmente escreve números."""
    valores = np.asarray(valores, dtype=float)
    n_lin, n_col = valores.shape
    for i in range(n_lin):
        for j in range(n_col):
            xx, yy = x + j * cw, y + (n_lin - 1 - i) * ch
            if mascara is not None and mascara[i][j]:
                celula(ax, xx, yy, cw, ch, mascara[i][j], fundo=CORES["cinza_claro"], borda=borda, lw=lw,
                       tam=tam or TAM["nota"], cor_texto=CORES["cinza"], z=z)
                continue
            v = valores[i, j]
            cor = mapa(min(max((v - vmin) / (vmax - vmin), 0.0), 1.0))
            texto = numeros(v) if numeros else ""
            r, g, b = cor[:3]
            escura = (0.299 * r + 0.587 * g + 0.114 * b) < 0.55
            celula(ax, xx, yy, cw, ch, texto, fundo=cor, borda=borda, lw=lw, tam=tam or TAM["nota"],
                   cor_texto="#ffffff" if escura else CORES["tinta"], z=z)


def mostrar_token(t: str) -> str:
    """Token com o espaço inicial visível (␣) e quebras de linha como ↵."""
    return t.replace(" ", ESPACO).replace("\n", "↵")


def clarear(cor: str, fator: float) -> tuple:
    """Mistura ``cor`` com branco (fator 0 = cor, 1 = branco)."""
    r, g, b = to_rgb(cor)
    return (r + (1 - r) * fator, g + (1 - g) * fator, b + (1 - b) * fator)


def softmax(x, eixo=-1):
    """Softmax numericamente estável ao longo de ``eixo``."""
    x = np.asarray(x, dtype=float)
    e = np.exp(x - np.max(x, axis=eixo, keepdims=True))
    return e / e.sum(axis=eixo, keepdims=True)


class Figura(NamedTuple):
    """Uma figura pronta para gravar: o nome do arquivo, a figura do matplotlib e os dados que ela mostra.

    ``dados`` guarda o que veio do código do curso e não está escrito em nenhum texto da figura (ex.: os valores
    da curva da taxa de aprendizado); entra na impressão digital gravada no PNG.
    """

    nome: str
    fig: plt.Figure
    dados: dict | None = None


def _normalizar(obj):
    """Deixa ``obj`` pronto para JSON estável: tuplas viram listas, números do numpy viram do Python e os floats
    são arredondados a 10 algarismos (a última casa de um cosseno pode mudar de uma máquina para outra)."""
    if isinstance(obj, dict):
        return {str(k): _normalizar(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalizar(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _normalizar(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(f"{float(obj):.10g}")
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="backslashreplace")
    return obj


def textos_da_figura(fig) -> list[str]:
    """Todos os textos escritos pelo script na figura, na ordem em que foram escritos (sem os rótulos dos eixos)."""
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def impressao_digital(figura: Figura) -> str:
    """sha256 do conteúdo da figura: os textos que ela mostra mais os ``dados``. Não depende de fontes nem de pixels."""
    conteudo = {"textos": textos_da_figura(figura.fig), "dados": _normalizar(figura.dados or {})}
    bruto = json.dumps(conteudo, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(bruto.encode("utf-8")).hexdigest()


def salvar(figura: Figura, pasta: Path, otimizar: bool = True) -> Path:
    """Grava a figura como PNG, fecha a figura e imprime uma linha.

    O matplotlib desenha em RGBA; como as figuras são chapadas (poucas cores), convertemos para uma paleta de
    256 cores sem pontilhado (a diferença não se vê) e gravamos com ``optimize=True``: arquivos ~3× menores
    (``otimizar=False`` pula essas duas etapas: mesmo desenho, arquivo maior, gravação bem mais rápida).
    Sem metadados de versão nem data: o único metadado é a impressão digital do conteúdo (campo ``conteudo``).
    """
    caminho = pasta / figura.nome
    digital = impressao_digital(figura)
    tela = FigureCanvasAgg(figura.fig)
    tela.draw()
    rgba = np.asarray(tela.buffer_rgba())
    plt.close(figura.fig)
    imagem = Image.fromarray(rgba[..., :3].copy(), mode="RGB")
    info = PngInfo()
    info.add_text("conteudo", digital)
    if otimizar:
        imagem = imagem.quantize(256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
    # gravação atômica: uma figura interrompida no meio não deixa um PNG quebrado no lugar da commitada
    modulo().gravar_atomicamente(caminho, lambda temporario: imagem.save(
        temporario, format="PNG", optimize=otimizar, compress_level=9 if otimizar else 1, dpi=(DPI, DPI),
        pnginfo=info))
    largura, altura = imagem.size
    print(f"{caminho}  ({largura}×{altura} px, {caminho.stat().st_size / 1024:.0f} KB)")
    return caminho


# ----------------------------------------------------------------------------------------------------------------
# O código do curso: tudo o que as figuras mostram de tokens, fusões, agenda e prompt vem do módulo de apoio
# ----------------------------------------------------------------------------------------------------------------

RAIZ = Path(__file__).resolve().parent.parent
#: A cópia do módulo de apoio do capítulo 8: tem os blocos de todos os capítulos (1 a 7).
CAMINHO_MODULO = RAIZ / "08-extras" / "llm_do_zero.py"

#: Início de Dom Casmurro, capítulo I (a frase segue: "encontrei no trem da Central um rapaz aqui do bairro…").
#: O trecho curto vai ao pipeline e aos embeddings; com a continuação, à janela deslizante e ao KV cache.
ROMANCE_TRECHO = "machado/domCasmurro.txt"
TRECHO_MACHADO = "Uma noite destas, vindo da cidade"
CONTINUACAO_TRECHO = " para o Engenho Novo,"
#: Frase curta e de verdade (Quincas Borba, cap. LXXXIII) para as fusões do BPE, uma a uma: a palavra repetida
#: deixa ver um token se formando ("em", "␣t", "po", "empo").
ROMANCE_FUSOES = "machado/quincas.txt"
FRASE_FUSOES = "Demos tempo ao tempo."
NOMES_ROMANCES = {"machado/domCasmurro.txt": "Dom Casmurro", "machado/quincas.txt": "Quincas Borba"}


@functools.lru_cache(maxsize=None)
def modulo():
    """``08-extras/llm_do_zero.py`` importado pelo caminho, com o nome ``llm_do_zero``.

    Se um módulo com esse nome já estiver carregado e for este mesmo arquivo, é reaproveitado; se for outro (a
    cópia de outro capítulo, por exemplo), não é substituído: carregamos uma instância só nossa.
    """
    nome = "llm_do_zero"
    carregado = sys.modules.get(nome)
    if carregado is not None and Path(getattr(carregado, "__file__", "") or "").resolve() == CAMINHO_MODULO:
        return carregado
    spec = importlib.util.spec_from_file_location(nome, CAMINHO_MODULO)
    mod = importlib.util.module_from_spec(spec)
    registrar = carregado is None
    if registrar:
        sys.modules[nome] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        if registrar:
            sys.modules.pop(nome, None)
        raise
    return mod


def formatar_numero(valor, casas: int = 0) -> str:
    """Os números desenhados no formato brasileiro, pelo ``formatar_numero`` do módulo de apoio (o mesmo das saídas
    dos notebooks): ``589.824``, ``0,25``, ``−100``. O módulo só é carregado quando a primeira figura precisa dele."""
    return modulo().formatar_numero(valor, casas)


@functools.lru_cache(maxsize=None)
def tokenizador():
    """O BPE português do curso (``tokenizador_machado`` com ``N_FUSOES_BASE`` fusões, salvo em ``.cache/``)."""
    m = modulo()
    return m.tokenizador_machado(m.N_FUSOES_BASE)


def trecho_de_machado(arquivo: str, trecho: str) -> str:
    """Confere, com ``ler_texto`` do módulo, que ``trecho`` está mesmo no romance, e o devolve."""
    if trecho not in modulo().ler_texto(arquivo):
        raise ValueError(f"O trecho {trecho!r} não está em {arquivo}: as figuras só usam texto de Machado de verdade.")
    return trecho


def texto_do_token(tok, i: int) -> str:
    """O texto de um id do BPE do curso (bytes soltos de um caractere UTF-8 aparecem como \\xNN)."""
    if i in tok.vocab:
        return tok.vocab[i].decode("utf-8", errors="backslashreplace")
    return tok.id_para_especial[i]


@functools.lru_cache(maxsize=None)
def dados_tokens() -> dict:
    """O trecho de Dom Casmurro passado pelo código do capítulo 1: pré-tokenização, BPE do curso e BPE do GPT-2."""
    import regex  # dependência do módulo de apoio (a regex com \p{L} do PADRAO_PT)

    m, tok = modulo(), tokenizador()
    frase = trecho_de_machado(ROMANCE_TRECHO, TRECHO_MACHADO + CONTINUACAO_TRECHO)
    ids = tok.encode(TRECHO_MACHADO)
    ids_longos = tok.encode(frase)
    if ids_longos[:len(ids)] != ids:
        raise ValueError("A continuação mudou os tokens do começo do trecho: escolha outro corte.")
    gpt2 = m.carregar_tokenizador_gpt2()
    ids_gpt2 = gpt2.encode(TRECHO_MACHADO)
    return {
        "trecho": TRECHO_MACHADO,
        "pedacos": regex.findall(m.PADRAO_PT, TRECHO_MACHADO),
        "ids": ids,
        "tokens": [texto_do_token(tok, i) for i in ids],
        "ids_longos": ids_longos,
        "tokens_longos": [texto_do_token(tok, i) for i in ids_longos],
        "ids_gpt2": ids_gpt2,
        "tokens_gpt2": [gpt2.decode_single_token_bytes(i).decode("utf-8", errors="backslashreplace")
                        for i in ids_gpt2],
        "n_fusoes": len(tok.fusoes),
        "n_vocab": tok.n_vocab,
    }


@functools.lru_cache(maxsize=None)
def dados_gpt2() -> dict:
    """A ficha do GPT-2 small: ``GPT2_124M`` e os parâmetros contados por ``contar_parametros``.

    O modelo é montado no dispositivo ``meta`` (só as formas, sem memória nem contas): conta em um segundo.
    """
    import torch

    m = modulo()
    cfg = dict(m.GPT2_124M)
    with torch.device("meta"):
        modelo = m.ModeloGPT(cfg)
    return {"cfg": cfg, "parametros": m.contar_parametros(modelo),
            "parametros_amarrados": m.contar_parametros(modelo, sem_cabeca_saida=True)}


# ----------------------------------------------------------------------------------------------------------------
# 1. Do texto aos embeddings (capítulos 1 e 2)
# ----------------------------------------------------------------------------------------------------------------


def _faixas(pedacos):
    """Para cada pedaço de texto, (primeiro byte, último byte + 1) dentro do texto inteiro."""
    pos, res = 0, []
    for t in pedacos:
        n = len(t.encode("utf-8"))
        res.append((pos, pos + n))
        pos += n
    return res


def fig_pipeline_tokens() -> Figura:
    """Texto → pré-tokenização → bytes UTF-8 → fusões BPE → ids → embeddings, alinhados byte a byte."""
    d = dados_tokens()
    trecho, pedacos, tokens, ids, tokens_gpt2 = d["trecho"], d["pedacos"], d["tokens"], d["ids"], d["tokens_gpt2"]
    assert "".join(pedacos) == "".join(tokens) == "".join(tokens_gpt2) == trecho
    fig, ax = novo_quadro(11.4, 7.7, "Do texto aos vetores: o caminho de uma frase até o modelo",
                          f"Começo de {NOMES_ROMANCES[ROMANCE_TRECHO]}, de Machado de Assis, passando pelo BPE do "
                          f"curso ({formatar_numero(d['n_fusoes'])} fusões aprendidas nos romances de Machado)")
    bts = trecho.encode("utf-8")
    x0, x1 = 25.5, 112.5
    b = (x1 - x0) / len(bts)  # largura de uma coluna de byte

    etapas = [  # (y do centro, nome, descrição, cor forte, cor clara)
        (60.0, "Texto", "a frase, caractere\npor caractere", CORES["tinta"], CORES["cinza_claro"]),
        (51.0, "Pré-tokenização", "regex separa palavras\ne pontuação", CORES["azul"], CORES["azul_claro"]),
        (42.0, "Bytes UTF-8", "números de 0 a 255\n(ç vira 195 167)", CORES["roxo"], CORES["roxo_claro"]),
        (33.0, "Fusões BPE", "pares frequentes já\nfundidos viram 1 token", CORES["verde"], CORES["verde_claro"]),
        (24.0, "IDs", f"número do token no\nvocabulário ({formatar_numero(d['n_vocab'])})", CORES["laranja"],
         CORES["laranja_claro"]),
        (11.5, "Embeddings", "cada id busca uma\nlinha da matriz", CORES["agua"], CORES["agua_claro"]),
    ]
    alturas = [7.4] * 5 + [10.0]
    for k, (y, nome, desc, forte, clara) in enumerate(etapas):
        h = alturas[k]
        caixa(ax, 1.5, y - h / 2, 21.5, h, fundo=clara, borda=forte, lw=1.2)
        circulo(ax, 4.1, y + 1.5, 1.35, str(k + 1), fundo=forte, tam=TAM["nota"])
        ax.text(6.1, y + 1.5, nome, fontsize=TAM["rotulo"] - 0.5, fontweight="bold", va="center", color=forte)
        ax.text(2.8, y - 1.6, desc, fontsize=TAM["mini"] + 0.5, va="center", color=CORES["tinta"], linespacing=1.15)
        if k < 5:
            seta(ax, (12.25, y - h / 2), (12.25, etapas[k + 1][0] + alturas[k + 1] / 2), cor=forte, lw=1.6, cabeca=11)

    # 1. texto: cada caractere centrado na coluna do seu byte (o trecho é ASCII: 1 caractere = 1 byte)
    y = etapas[0][0]
    caixa(ax, x0 - 0.4, y - 2.6, x1 - x0 + 0.8, 5.2, fundo="#ffffff", borda=CORES["linha"], lw=1.0)
    for i, c in enumerate(trecho):
        ax.text(x0 + (i + 0.5) * b, y, c, ha="center", va="center", fontsize=14, family=FONTE_MONO, zorder=4)
    # 2. pré-tokenização
    y = etapas[1][0]
    for (a, z), p in zip(_faixas(pedacos), pedacos, strict=True):
        caixa(ax, x0 + a * b + 0.15, y - 2.2, (z - a) * b - 0.3, 4.4, mostrar_token(p), fundo="#ffffff",
              borda=CORES["azul"], mono=True, tam=12, raio=0.6, gid="pedaco")
    # 3. bytes: colunas alternando o fundo, dentro da caixa do seu pedaço
    y = etapas[2][0]
    for a, z in _faixas(pedacos):
        caixa(ax, x0 + a * b + 0.15, y - 2.6, (z - a) * b - 0.3, 5.2, fundo="#ffffff", borda=CORES["roxo"], raio=0.6,
              lw=1.0)
        for i in range(a, z):
            if (i - a) % 2 == 0:
                ax.add_artist(Rectangle((x0 + i * b + (0.2 if i == a else 0), y - 2.0),
                                       b - (0.2 if i == a else 0) - (0.2 if i == z - 1 else 0), 4.0,
                                       facecolor=clarear(CORES["roxo"], 0.72), edgecolor="none", zorder=3))
    for i, v in enumerate(bts):
        ax.text(x0 + (i + 0.5) * b, y, str(v), ha="center", va="center", fontsize=9, family=FONTE_MONO, zorder=4)
    # 4. tokens do BPE
    y = etapas[3][0]
    for k, ((a, z), t) in enumerate(zip(_faixas(tokens), tokens, strict=True)):
        caixa(ax, x0 + a * b + 0.15, y - 2.2, (z - a) * b - 0.3, 4.4, mostrar_token(t),
              fundo=CORES["verde_claro"] if k % 2 == 0 else "#bbf7d0", borda=CORES["verde"], mono=True, tam=12,
              raio=0.6, gid="token")
    # 5. ids
    y = etapas[4][0]
    for (a, z), i in zip(_faixas(tokens), ids, strict=True):
        caixa(ax, x0 + a * b + 0.15, y - 2.2, (z - a) * b - 0.3, 4.4, str(i), fundo=CORES["laranja_claro"],
              borda=CORES["laranja"], mono=True, tam=11 if z - a > 1 else 9.5, raio=0.6, gid="id")
    # 6. embeddings: um vetor (coluna de células) por token
    y = etapas[5][0]
    vetores = np.random.default_rng(7).normal(0, 1, size=(len(tokens), 6))
    ch = 1.35
    for (a, z), vetor in zip(_faixas(tokens), vetores, strict=True):
        cx = x0 + (a + z) / 2 * b
        matriz_cores(ax, cx - 1.1, y - 3 * ch + 0.9, vetor[:, None], 2.2, ch, vmin=-1.8, vmax=1.8,
                     borda=CORES["agua"], lw=0.8)
        seta(ax, (cx, etapas[4][0] - 2.2), (cx, y + 3 * ch + 1.0), cor=CORES["agua"], lw=1.2, cabeca=9)
    ax.text((x0 + x1) / 2, y - 3 * ch - 0.2, f"tensor de forma (1, {len(tokens)}, d_model): 1 frase · {len(tokens)} "
            "tokens · d_model números por token", ha="center", va="top", fontsize=TAM["nota"], color=CORES["agua"],
            fontweight="bold")
    # rodapé: comparação com o GPT-2
    ax.text(2, 2.0, f"O mesmo trecho no BPE do GPT-2 (treinado em inglês) vira {len(tokens_gpt2)} tokens: "
            + " | ".join(mostrar_token(t) for t in tokens_gpt2) + f"  — o nosso usa {len(tokens)}.",
            fontsize=TAM["nota"], color=CORES["suave"], va="center")
    return Figura("pipeline_tokens.png", fig, {"ids": ids, "ids_gpt2": d["ids_gpt2"]})


# ----------------------------------------------------------------------------------------------------------------
# 2. Fusões do BPE, passo a passo (capítulo 1)
# ----------------------------------------------------------------------------------------------------------------

def dados_fusoes(n_fusoes: int = 4) -> dict:
    """As primeiras fusões de um ``TokenizadorBPE.treinar`` na frase de Machado, e a frase depois de cada uma.

    As fusões e suas contagens vêm do treino do curso (pelo ``registrar``); o estado depois de k fusões é a frase
    codificada por um ``TokenizadorBPE`` com as k primeiras fusões; a contagem dos pares vizinhos de cada estado
    (o que a figura mostra à direita) é conferida contra o par que o treino escolheu.
    """
    import regex

    m = modulo()
    frase = trecho_de_machado(ROMANCE_FUSOES, FRASE_FUSOES)
    registro = []
    bpe = m.TokenizadorBPE.treinar(frase, n_fusoes,
                                   registrar=lambda passo, par, novo, contagem: registro.append((par, novo, contagem)))
    pares = list(bpe.fusoes)
    pedacos = regex.findall(bpe.padrao, frase)
    estados, rankings = [], []
    for k in range(len(pares) + 1):
        parcial = m.TokenizadorBPE(pares[:k], padrao=bpe.padrao)
        estado = [parcial.encode(p) for p in pedacos]
        estados.append(estado)
        contagem = Counter(par for w in estado for par in pairwise(w))
        rankings.append(sorted(contagem.items(), key=lambda kv: (-kv[1], kv[0])))  # empate: o par de ids menores
    for k, (par, novo, c) in enumerate(registro):
        if rankings[k][0] != (tuple(par), c) or bpe.fusoes[tuple(par)] != novo:
            raise ValueError(f"Fusão {k + 1}: o treino escolheu {par} ({c}×), mas a contagem dá {rankings[k][0]}.")
    return {
        "frase": frase,
        "fusoes": [(list(par), novo, c) for par, novo, c in registro],
        "estados": estados,
        "rankings": [[(list(par), c) for par, c in r] for r in rankings],
        "rotulos": {i: bpe.vocab[i].decode("utf-8", errors="backslashreplace") for w in estados[0] for i in w}
                   | {novo: bpe.vocab[novo].decode("utf-8", errors="backslashreplace") for _, novo, _ in registro},
        "n_fusoes_curso": modulo().N_FUSOES_BASE,
    }


def fig_fusoes_bpe() -> Figura:
    """Quatro fusões do ``TokenizadorBPE`` numa frase curta de Machado, com a contagem dos pares a cada passo."""
    n = 4
    d = dados_fusoes(n)
    estados, rankings, fusoes = d["estados"], d["rankings"], d["fusoes"]
    fig, ax = novo_quadro(11.4, 8.0, "BPE: fundir, passo a passo, o par vizinho mais frequente",
                          f"“{d['frase']}” ({NOMES_ROMANCES[ROMANCE_FUSOES]}) no TokenizadorBPE.treinar do capítulo 1. "
                          "Cada fusão cria um token novo (ids 256, 257, …).")
    cor_fusao = [CORES["laranja"], CORES["verde"], CORES["roxo"], CORES["azul"]]
    cor_fusao_clara = [CORES["laranja_claro"], CORES["verde_claro"], CORES["roxo_claro"], CORES["azul_claro"]]
    criado_em = {novo: k for k, (_, novo, _) in enumerate(fusoes)}  # id -> índice da fusão que o criou

    def rotulo(i):
        return mostrar_token(d["rotulos"][i])

    y_cab = 68.0
    ax.text(2.0, y_cab, "passo", fontsize=TAM["nota"], color=CORES["suave"], fontweight="bold")
    ax.text(22.5, y_cab, "texto tokenizado (cada caixa é um token)", fontsize=TAM["nota"], color=CORES["suave"],
            fontweight="bold")
    ax.text(82.0, y_cab, "pares vizinhos mais frequentes", fontsize=TAM["nota"], color=CORES["suave"],
            fontweight="bold")
    ax.plot([1.5, 112.5], [y_cab - 1.2, y_cab - 1.2], color=CORES["grade"], lw=1.2)

    passo_y = 12.6
    for k, estado in enumerate(estados):
        y = 60.0 - k * passo_y
        n_tokens = sum(len(w) for w in estado)
        # coluna da esquerda: o que aconteceu neste passo
        if k == 0:
            ax.text(2.0, y + 2.4, "Início", fontsize=TAM["rotulo"], fontweight="bold", va="center")
            ax.text(2.0, y - 0.2, "1 token por byte", fontsize=TAM["nota"], va="center")
        else:
            (a, bb), novo, _ = fusoes[k - 1]
            ax.text(2.0, y + 2.4, f"Fusão {k}", fontsize=TAM["rotulo"], fontweight="bold", va="center",
                    color=cor_fusao[k - 1])
            ax.text(2.0, y - 0.2, f"{rotulo(a)} + {rotulo(bb)} → {rotulo(novo)}", fontsize=TAM["texto"],
                    family=FONTE_MONO, va="center", gid="fusao")
        ax.text(2.0, y - 2.7, f"{n_tokens} tokens" + (f" · id {fusoes[k - 1][1]}" if k else ""),
                fontsize=TAM["nota"], va="center", color=CORES["suave"])
        # coluna do meio: os tokens
        x = 22.5
        for w in estado:
            for t in w:
                s = rotulo(t)
                largura = len(s) * 1.0 + 0.9
                if t in criado_em:
                    f = criado_em[t]
                    agora = f == k - 1
                    caixa(ax, x, y - 2.0, largura, 4.0, s, fundo=cor_fusao_clara[f], borda=cor_fusao[f], mono=True,
                          tam=12, raio=0.5, lw=2.2 if agora else 1.2, peso="bold" if agora else "normal",
                          gid=f"estado{k}")
                else:
                    caixa(ax, x, y - 2.0, largura, 4.0, s, fundo="#ffffff", borda=CORES["linha"], mono=True,
                          tam=12, raio=0.5, lw=1.0, gid=f"estado{k}")
                x += largura + 0.3
            x += 1.0  # espaço extra entre os pedaços da pré-tokenização
        # coluna da direita: contagem dos pares (o primeiro vira a próxima fusão)
        if k < n:
            top = rankings[k][:4]
            maximo = top[0][1]
            for j, ((a, bb), c) in enumerate(top):
                yy = y + 3.3 - j * 2.3
                vence = j == 0
                cor = cor_fusao[k] if vence else CORES["grade"]
                ax.text(92.0, yy, f"{rotulo(a)} + {rotulo(bb)}", fontsize=TAM["nota"], family=FONTE_MONO,
                        ha="right", va="center", fontweight="bold" if vence else "normal")
                ax.add_artist(Rectangle((92.8, yy - 0.85), 16.0 * c / maximo, 1.7, facecolor=cor, edgecolor="none",
                                       zorder=2))
                ax.text(92.8 + 16.0 * c / maximo + 0.6, yy, str(c), fontsize=TAM["nota"], va="center",
                        color=cor_fusao[k] if vence else CORES["suave"], fontweight="bold" if vence else "normal")
            seta(ax, (82.5, y - 6.0), (82.5, y - passo_y + 4.1), cor=cor_fusao[k], lw=1.4, cabeca=10)
            ax.text(83.5, y - 6.3, "funde o par do topo", fontsize=TAM["mini"], color=cor_fusao[k], va="top")
        else:
            caixa(ax, 82.0, y - 4.6, 30.5, 8.2,
                  f"vocabulário: 256 bytes + {n} fusões\n= {256 + n} tokens\nsequência: "
                  f"{sum(len(w) for w in estados[0])} → {n_tokens} tokens", fundo=CORES["amarelo_claro"],
                  borda=CORES["amarelo"], tam=TAM["nota"])
    ax.text(2.0, 2.0, "Empate na contagem? Vence o par de ids menores (a regra do TokenizadorBPE do capítulo 1). "
            f"O BPE do curso faz {formatar_numero(d['n_fusoes_curso'])} fusões.", fontsize=TAM["nota"],
            color=CORES["suave"], va="center")
    return Figura("fusoes_bpe.png", fig, {"fusoes": fusoes, "estados": estados})


# ----------------------------------------------------------------------------------------------------------------
# 3. Janela deslizante (capítulo 2)
# ----------------------------------------------------------------------------------------------------------------


def fig_janela_deslizante() -> Figura:
    """Janelas de contexto deslizando sobre os tokens: pares (x, y) deslocados de 1, contexto e passo."""
    contexto, passo, n_janelas = 4, 3, 3
    d, tok = dados_tokens(), tokenizador()
    tokens, ids = d["tokens_longos"][:13], d["ids_longos"][:13]
    dataset = modulo().DatasetGPT(ids, context_length=contexto, stride=passo)  # as janelas do capítulo 2
    janelas = [tuple(t.tolist() for t in dataset[j]) for j in range(n_janelas)]  # (ids de x, ids de y)
    fig, ax = novo_quadro(11.4, 7.4, "Janela deslizante: pares (entrada, alvo) deslocados de 1 token",
                          f"Uma sequência longa de tokens vira muitos exemplos de treino. Aqui: contexto = {contexto}, "
                          f"passo (stride) = {passo}.")
    x0, cw = 16.5, 7.1

    def cx(i):
        return x0 + i * cw

    # a sequência
    y_seq = 56.5
    ax.text(2.0, y_seq + 2.0, "tokens", fontsize=TAM["rotulo"], fontweight="bold", va="center")
    ax.text(2.0, y_seq - 1.2, "ids", fontsize=TAM["nota"], va="center", color=CORES["suave"])
    ax.text(2.0, y_seq + 5.0, "posição", fontsize=TAM["mini"], va="center", color=CORES["suave"])
    for i, (t, idt) in enumerate(zip(tokens, ids, strict=True)):
        celula(ax, cx(i) + 0.1, y_seq, cw - 0.2, 4.0, mostrar_token(t), fundo="#ffffff", tam=10.5)
        ax.text(cx(i) + cw / 2, y_seq - 1.2, str(idt), ha="center", va="center", fontsize=TAM["mini"],
                color=CORES["suave"], family=FONTE_MONO)
        ax.text(cx(i) + cw / 2, y_seq + 5.0, str(i), ha="center", va="center", fontsize=TAM["mini"],
                color=CORES["suave"])
    ax.text(cx(len(tokens)) + 0.6, y_seq + 2.0, "…", fontsize=14, va="center", color=CORES["suave"])

    for j in range(n_janelas):
        ini = j * passo
        yx = 45.0 - j * 12.0
        yy = yx - 4.8
        ax.text(2.0, yx - 0.4, f"janela {j + 1}", fontsize=TAM["rotulo"], fontweight="bold", va="center")
        ax.text(15.3, yx + 2.0, "x", fontsize=TAM["texto"], va="center", ha="right", color=CORES["azul"],
                fontweight="bold")
        ax.text(15.3, yy + 2.0, "y", fontsize=TAM["texto"], va="center", ha="right", color=CORES["laranja"],
                fontweight="bold")
        x_ids, y_ids = janelas[j]
        for i in range(len(tokens)):
            if ini <= i < ini + contexto:
                celula(ax, cx(i) + 0.1, yx, cw - 0.2, 4.0, mostrar_token(texto_do_token(tok, x_ids[i - ini])),
                       fundo=CORES["azul_claro"], borda=CORES["azul"], tam=10.5, gid=f"x{j}")
            else:
                celula(ax, cx(i) + 0.1, yx, cw - 0.2, 4.0, fundo=CORES["papel"], borda=CORES["grade"])
            if ini + 1 <= i < ini + 1 + contexto:
                celula(ax, cx(i) + 0.1, yy, cw - 0.2, 4.0, mostrar_token(texto_do_token(tok, y_ids[i - ini - 1])),
                       fundo=CORES["laranja_claro"], borda=CORES["laranja"], tam=10.5, gid=f"y{j}")
            else:
                celula(ax, cx(i) + 0.1, yy, cw - 0.2, 4.0, fundo=CORES["papel"], borda=CORES["grade"])
        for i in range(ini, ini + contexto):  # cada entrada "prevê" o alvo logo à direita
            seta(ax, (cx(i) + cw * 0.62, yx - 0.1), (cx(i + 1) + cw * 0.38, yy + 4.1), cor=CORES["laranja"],
                 lw=1.0, cabeca=8, z=5)
        if j == 0:
            chave(ax, cx(ini) + 0.1, cx(ini + contexto) - 0.1, yx + 4.4, f"contexto = {contexto} tokens",
                  cor=CORES["azul"], peso="bold")
        else:
            ant = (j - 1) * passo
            ym = yx + 5.4
            seta(ax, (cx(ant) + 0.1, ym), (cx(ini) + 0.1, ym), cor=CORES["roxo"], lw=1.6, cabeca=11, z=5)
            ax.plot([cx(ant) + 0.1] * 2, [ym - 0.7, ym + 0.7], color=CORES["roxo"], lw=1.6)
            ax.text(cx(ini) + 0.9, ym, f"passo = {passo}", fontsize=TAM["nota"], color=CORES["roxo"],
                    fontweight="bold", va="center")
    ax.text(112.5, 13.2, "x e y: tensores (batch, contexto).  Com passo < contexto as janelas se sobrepõem; "
            "com passo = contexto, não.", fontsize=TAM["nota"], va="center", ha="right", color=CORES["suave"])
    # o que uma janela ensina
    yb = 2.5
    caixa(ax, 1.5, yb, 111.0, 8.6, fundo=CORES["cinza_claro"], borda=CORES["grade"])
    ax.text(3.0, yb + 6.3, f"A janela 1 ensina {contexto} previsões de uma vez (a máscara causal garante que cada "
            "posição só vê o que veio antes):", fontsize=TAM["nota"], va="center", fontweight="bold")
    partes = ["".join(tokens[: i + 1]).strip() + " → " + mostrar_token(tokens[i + 1]) for i in range(contexto)]
    ax.text(3.0, yb + 2.6, "       ".join(partes), fontsize=TAM["texto"], va="center", family=FONTE_MONO)
    return Figura("janela_deslizante.png", fig, {"ids": ids, "janelas": janelas})


# ----------------------------------------------------------------------------------------------------------------
# 4. Embeddings de tokens + posições (capítulo 2)
# ----------------------------------------------------------------------------------------------------------------


def fig_embeddings() -> Figura:
    """Busca nas matrizes de embeddings de tokens e de posições, a soma e o tensor do lote."""
    fig, ax = novo_quadro(11.4, 6.4, "Embeddings: de ids para a entrada do modelo",
                          "Cada id busca uma linha da matriz de tokens; cada posição, uma linha da matriz de "
                          "posições. As duas se somam.")
    dt = dados_tokens()
    toks, ids = dt["tokens"][:4], dt["ids"][:4]
    rng = np.random.default_rng(3)
    d = 8
    e_tok = rng.normal(0, 1, (4, d))
    e_pos = rng.normal(0, 0.8, (4, d))
    cw, ch = 2.2, 2.6
    xs = 50.0  # onde ficam as linhas escolhidas

    def linha_y(base, i):
        """y (base) da linha i de uma lista de 4 itens empilhados."""
        return base - i * ch * 1.25

    # --- faixa de cima: tokens ---
    yt = 44.0  # base da primeira linha (token 0)
    ax.text(2.0, 51.5, "tokens → ids", fontsize=TAM["rotulo"], fontweight="bold", color=CORES["azul"])
    for i, (t, idt) in enumerate(zip(toks, ids, strict=True)):
        celula(ax, 2.0, linha_y(yt, i), 8.5, ch, mostrar_token(t), fundo=CORES["azul_claro"], borda=CORES["azul"],
               tam=11)
        celula(ax, 11.0, linha_y(yt, i), 6.5, ch, str(idt), fundo=CORES["laranja_claro"], borda=CORES["laranja"],
               tam=11)
    mx, my, mw, mh = 26.0, 31.0, d * cw, 21.0
    ax.add_artist(Rectangle((mx, my), mw, mh, facecolor=CORES["agua_claro"], edgecolor=CORES["agua"], lw=1.4))
    ax.text(mx + mw / 2, my + mh + 0.8, "matriz de tokens", ha="center", fontsize=TAM["nota"], fontweight="bold",
            color=CORES["agua"])
    ax.text(mx + mw / 2, my - 0.6, f"{formatar_numero(dt['n_vocab'])} linhas (vocab) × d_model", ha="center", va="top",
            fontsize=TAM["mini"], color=CORES["suave"])
    # linhas da matriz em ordem de id (esquemático: não em escala)
    ordem = sorted(ids)
    faixa_y = {idt: my + mh - 3.3 - k * 4.6 for k, idt in enumerate(ordem)}
    ax.text(mx + mw / 2, my + mh - 1.1, "⋮", ha="center", va="center", fontsize=TAM["nota"], color=CORES["agua"])
    for idt, ly in faixa_y.items():
        ax.add_artist(Rectangle((mx, ly - 0.85), mw, 1.7, facecolor=CORES["agua"], edgecolor="none", zorder=3))
        ax.text(mx + mw / 2, ly, f"linha {idt}", ha="center", va="center", fontsize=TAM["mini"], color="#ffffff",
                fontweight="bold", zorder=4)
        ax.text(mx + mw / 2, ly - 2.3, "⋮", ha="center", va="center", fontsize=TAM["nota"], color=CORES["agua"])
    for i, idt in enumerate(ids):
        yy = linha_y(yt, i) + ch / 2
        seta(ax, (17.7, yy), (mx - 0.2, faixa_y[idt]), cor=CORES["laranja"], lw=1.1, cabeca=9)
        seta(ax, (mx + mw + 0.2, faixa_y[idt]), (xs - 0.3, yt - i * ch + ch / 2),
             cor=CORES["agua"], lw=1.1, cabeca=9)
    matriz_cores(ax, xs, yt - 3 * ch, e_tok, cw, ch)
    ax.text(xs + d * cw / 2, yt + ch + 0.8, "4 linhas escolhidas", ha="center", fontsize=TAM["nota"],
            fontweight="bold", color=CORES["agua"])
    caixa(ax, 2.0, 26.3, 21.0, 5.6, f"linha {ids[1]} =\none-hot({ids[1]}) × matriz", fundo=CORES["papel"],
          borda=CORES["grade"], tam=TAM["mini"], mono=True)

    # --- faixa de baixo: posições ---
    yp = 15.0
    ax.text(2.0, 21.5, "posições", fontsize=TAM["rotulo"], fontweight="bold", color=CORES["roxo"])
    for i in range(4):
        celula(ax, 11.0, linha_y(yp, i), 6.5, ch, str(i), fundo=CORES["roxo_claro"], borda=CORES["roxo"], tam=11)
    pmy, pmh = 4.5, 13.0
    ax.add_artist(Rectangle((mx, pmy), mw, pmh, facecolor=CORES["roxo_claro"], edgecolor=CORES["roxo"], lw=1.4))
    ax.text(mx + mw / 2, pmy + pmh + 0.8, "matriz de posições", ha="center", fontsize=TAM["nota"],
            fontweight="bold", color=CORES["roxo"])
    ax.text(mx + mw / 2, pmy - 0.6, "contexto × d_model", ha="center", va="top", fontsize=TAM["mini"],
            color=CORES["suave"])
    for i in range(4):
        ly = pmy + pmh - (i + 0.5) * 1.5
        ax.add_artist(Rectangle((mx, ly - 0.7), mw, 1.4, facecolor=CORES["roxo"], edgecolor="#ffffff", lw=0.6,
                               zorder=3))
        seta(ax, (17.7, linha_y(yp, i) + ch / 2), (mx - 0.2, ly), cor=CORES["roxo"], lw=1.1, cabeca=9)
        seta(ax, (mx + mw + 0.2, ly), (xs - 0.3, yp - i * ch + ch / 2), cor=CORES["roxo"], lw=1.1, cabeca=9)
    ax.text(mx + mw / 2, pmy + 3.0, "⋮", ha="center", va="center", fontsize=TAM["nota"], color=CORES["roxo"])
    matriz_cores(ax, xs, yp - 3 * ch, e_pos, cw, ch)
    ax.text(xs + d * cw / 2, yp + ch + 0.8, "4 primeiras linhas", ha="center", fontsize=TAM["nota"],
            fontweight="bold", color=CORES["roxo"])

    # --- soma e lote ---
    sx, sy = 72.0, 26.5
    soma(ax, sx, sy, r=1.8)
    seta(ax, (xs + d * cw + 0.5, yt - ch), (sx - 1.3, sy + 1.3), cor=CORES["agua"], lw=1.4, cabeca=10)
    seta(ax, (xs + d * cw + 0.5, yp - ch), (sx - 1.3, sy - 1.3), cor=CORES["roxo"], lw=1.4, cabeca=10)
    res = e_tok + e_pos
    rx = 76.5
    matriz_cores(ax, rx, sy - 2 * ch, res, cw, ch)
    seta(ax, (sx + 1.9, sy), (rx - 0.3, sy), cor=CORES["tinta"], lw=1.4, cabeca=10)
    ax.text(rx + d * cw / 2, sy + 2 * ch + 0.8, "uma frase", ha="center", fontsize=TAM["nota"], fontweight="bold")
    ax.text(rx + d * cw / 2, sy - 2 * ch - 0.6, "(tokens × d_model)", ha="center", va="top", fontsize=TAM["mini"],
            color=CORES["suave"])
    bx, by = 96.5, 22.0
    for k in range(3, 0, -1):
        ax.add_artist(Rectangle((bx + k * 1.5, by + k * 1.5), 10.4, 10.4,
                               facecolor=clarear(CORES["azul"], 0.5 + k * 0.13),
                               edgecolor=CORES["azul"], lw=1.0, zorder=2))
    matriz_cores(ax, bx, by, res[:, ::2], 2.6, 2.6, z=3)
    ax.text(bx + 7.0, by - 0.8, "lote (batch)", ha="center", va="top", fontsize=TAM["nota"], fontweight="bold",
            color=CORES["azul"])
    caixa(ax, 79.0, 4.0, 33.5, 8.5, "(batch, tokens, d_model)\nex.: (8, 256, 768)", fundo=CORES["azul_claro"],
          borda=CORES["azul"], tam=TAM["texto"], peso="bold", mono=True)
    seta(ax, (bx + 7.0, by - 3.4), (bx + 7.0, 12.8), cor=CORES["azul"], lw=1.4, cabeca=10)
    return Figura("embeddings.png", fig, {"ids": ids})


# ----------------------------------------------------------------------------------------------------------------
# 5. Atenção com Q, K, V (capítulo 3)
# ----------------------------------------------------------------------------------------------------------------


def _atencao_exemplo(n=4, d_in=6, d_k=3, semente=11):
    """Números pequenos e fixos para ilustrar a atenção: X, Q, K, V e as pontuações escaladas."""
    rng = np.random.default_rng(semente)
    X = rng.normal(0, 1, (n, d_in))
    Wq, Wk, Wv = (rng.normal(0, 0.7, (d_in, d_k)) for _ in range(3))
    Q, K, V = X @ Wq, X @ Wk, X @ Wv
    S = Q @ K.T / math.sqrt(d_k)
    return X, Q, K, V, S


def fig_atencao_qkv() -> Figura:
    """X → Q, K, V → pontuações → softmax → pesos × V, com números calculados aqui."""
    palavras = ["Capitu", "olhou", "para", "mim"]
    X, Q, K, V, S = _atencao_exemplo()
    P = softmax(S)
    Z = P @ V
    fig, ax = novo_quadro(11.4, 6.6, "Atenção: cada token pergunta (Q), os outros respondem (K) e entregam (V)",
                          "Exemplo com 4 tokens (1 palavra = 1 token, para simplificar), d_in = 6 e d_k = 3; "
                          "sem máscara causal por enquanto.")
    cw, ch = 2.0, 2.6
    # X
    xx, xy = 9.5, 24.0
    for i, p in enumerate(palavras):
        ax.text(xx - 0.6, xy + (3 - i) * ch + ch / 2, p, ha="right", va="center", fontsize=TAM["nota"])
    matriz_cores(ax, xx, xy, X, cw, ch)
    ax.text(xx + 3 * cw, xy + 4 * ch + 0.8, "X", ha="center", fontsize=TAM["rotulo"], fontweight="bold")
    ax.text(xx + 3 * cw, xy - 0.6, "(4 × d_in)", ha="center", va="top", fontsize=TAM["mini"], color=CORES["suave"])
    # Q, K, V
    proj = [("Q", "consultas", Q, CORES["azul"], 43.0), ("K", "chaves", K, CORES["laranja"], 28.5),
            ("V", "valores", V, CORES["verde"], 14.0)]
    for nome, desc, M, cor, y in proj:
        seta(ax, (xx + 6 * cw + 0.4, xy + 2 * ch), (24.8, y + 2 * ch), cor=cor, lw=1.4, cabeca=10)
        caixa(ax, 25.0, y + 2 * ch - 2.0, 7.6, 4.0, f"× W_{nome.lower()}", fundo="#ffffff", borda=cor,
              tam=TAM["nota"], cor_texto=cor, peso="bold")
        seta(ax, (32.8, y + 2 * ch), (35.2, y + 2 * ch), cor=cor, lw=1.4, cabeca=10)
        matriz_cores(ax, 35.5, y, M, cw, ch)
        ax.add_artist(Rectangle((35.5, y), 3 * cw, 4 * ch, facecolor="none", edgecolor=cor, lw=1.6, zorder=4))
        ax.text(35.5 + 1.5 * cw, y + 4 * ch + 0.7, f"{nome}  {desc}", ha="center", fontsize=TAM["nota"],
                fontweight="bold", color=cor)
    # pontuações
    sx, sy, sc = 48.5, 29.0, 4.2
    seta(ax, (41.8, 43.0 + 2 * ch), (sx - 0.3, sy + 3.0 * sc), cor=CORES["azul"], lw=1.3, cabeca=10)
    seta(ax, (41.8, 28.5 + 2 * ch), (sx - 0.3, sy + 1.2 * sc), cor=CORES["laranja"], lw=1.3, cabeca=10)
    matriz_cores(ax, sx, sy, S, sc, sc, mapa=MAPA_SEQ, vmin=S.min() - 0.3, vmax=S.max(),
                 numeros=lambda v: formatar_numero(v, 1),
                 tam=TAM["nota"])
    ax.text(sx + 2 * sc, sy + 4 * sc + 4.4, "pontuações", ha="center", fontsize=TAM["rotulo"], fontweight="bold")
    ax.text(sx + 2 * sc, sy + 4 * sc + 1.6, r"$QK^{\mathsf{T}} / \sqrt{d_k}$", ha="center", va="center", fontsize=13)
    ax.text(sx + 2 * sc, sy - 0.6, "linha = quem pergunta\ncoluna = a quem", ha="center", va="top",
            fontsize=TAM["mini"], color=CORES["suave"])
    # softmax
    px = 72.0
    seta(ax, (sx + 4 * sc + 0.4, sy + 2 * sc), (px - 0.4, sy + 2 * sc), cor=CORES["tinta"], lw=1.5, cabeca=11)
    ax.text((sx + 4 * sc + px) / 2, sy + 2 * sc + 0.9, "softmax\npor linha", ha="center", va="bottom",
            fontsize=TAM["mini"])
    matriz_cores(ax, px, sy, P, sc, sc, mapa=MAPA_SEQ, vmin=0, vmax=0.8, numeros=lambda v: formatar_numero(v, 2),
                 tam=TAM["nota"])
    ax.text(px + 2 * sc, sy + 4 * sc + 4.4, "pesos de atenção", ha="center", fontsize=TAM["rotulo"],
            fontweight="bold")
    ax.text(px + 2 * sc, sy + 4 * sc + 1.6, "cada linha soma 1", ha="center", va="center", fontsize=TAM["nota"],
            color=CORES["suave"])
    # contexto Z (uma linha por token, alinhada com os pesos)
    zx, zw = 96.5, 2.8
    seta(ax, (px + 4 * sc + 0.4, sy + 2 * sc), (zx - 0.4, sy + 2 * sc), cor=CORES["tinta"], lw=1.5, cabeca=11)
    ax.text((px + 4 * sc + zx) / 2, sy + 2 * sc + 0.9, "× V", ha="center", va="bottom", fontsize=TAM["texto"],
            color=CORES["verde"], fontweight="bold")
    lim = float(np.abs(Z).max()) * 1.15
    matriz_cores(ax, zx, sy, Z, zw, sc, vmin=-lim, vmax=lim)
    ax.add_artist(Rectangle((zx, sy), 3 * zw, 4 * sc, facecolor="none", edgecolor=CORES["tinta"], lw=1.6, zorder=4))
    ax.text(zx + 1.5 * zw, sy + 4 * sc + 4.4, "contexto Z", ha="center", fontsize=TAM["rotulo"], fontweight="bold")
    ax.text(zx + 1.5 * zw, sy + 4 * sc + 1.6, "(4 × d_k)", ha="center", va="center", fontsize=TAM["nota"],
            color=CORES["suave"])
    # V desce até Z por baixo das matrizes
    yv = 21.5
    linha(ax, [41.8, zx + 1.5 * zw], [yv, yv], cor=CORES["verde"], lw=1.4)
    seta(ax, (zx + 1.5 * zw, yv), (zx + 1.5 * zw, sy - 0.3), cor=CORES["verde"], lw=1.4, cabeca=10)
    ax.text(70.0, yv + 0.5, "V: o que cada token entrega", ha="center", va="bottom", fontsize=TAM["mini"],
            color=CORES["verde"])
    # fórmula e leitura
    caixa(ax, 44.0, 2.5, 68.5, 15.0, fundo=CORES["papel"], borda=CORES["grade"])
    formula = r"$\mathrm{Atenção}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^{\mathsf{T}}}{\sqrt{d_k}}\right) V$"
    ax.text(78.25, 13.0, formula,
            ha="center", va="center", fontsize=15)
    ax.text(46.0, 7.3, "• linha i de Z = média dos vetores V, pesada pela atenção do token i", fontsize=TAM["nota"],
            va="center")
    ax.text(46.0, 4.4, "• dividir por √d_k mantém as pontuações numa escala boa para o softmax",
            fontsize=TAM["nota"], va="center")
    ax.text(2.0, 7.0, "W_q, W_k e W_v são camadas\nLinear treináveis (d_in → d_k).\nQ, K e V vêm do mesmo X.",
            fontsize=TAM["nota"], va="center", color=CORES["suave"], linespacing=1.3)
    return Figura("atencao_qkv.png", fig)


# ----------------------------------------------------------------------------------------------------------------
# 6. Máscara causal (capítulo 3)
# ----------------------------------------------------------------------------------------------------------------


def fig_mascara_causal() -> Figura:
    """Pontuações, máscara −∞ acima da diagonal e os pesos resultantes numa frase curta."""
    palavras = ["Capitu", "tinha", "olhos", "de", "ressaca"]
    n = len(palavras)
    S = np.random.default_rng(5).normal(0, 1.0, (n, n))
    mascara = np.triu(np.ones((n, n), dtype=bool), k=1)
    P = softmax(np.where(mascara, -np.inf, S))
    fig, ax = novo_quadro(11.4, 6.2, "Máscara causal: cada token só olha para si e para os anteriores",
                          "“Capitu tinha olhos de ressaca” (1 palavra = 1 token). Acima da diagonal está o futuro, "
                          "que o modelo não pode ver.")
    c, gy = 4.9, 16.0
    topo = gy + n * c
    grades = [13.0, 50.0, 87.0]

    def rotulos(gx, linhas):
        for i, p in enumerate(palavras):
            ax.text(gx + i * c + c / 2 - 0.6, topo + 0.5, p, ha="left", va="bottom", fontsize=TAM["mini"],
                    rotation=35, rotation_mode="anchor")
            if linhas:
                ax.text(gx - 0.6, gy + (n - 1 - i) * c + c / 2, p, ha="right", va="center", fontsize=TAM["nota"])

    def escada(gx):
        """Fronteira entre o que cada linha pode ver e o futuro (degraus pelas bordas das células)."""
        xs_, ys_ = [gx + c], [topo]
        for i in range(n - 1):
            xs_ += [gx + (i + 1) * c, gx + (i + 2) * c]
            ys_ += [topo - (i + 1) * c, topo - (i + 1) * c]
        ax.plot(xs_, ys_, color=CORES["vermelho"], lw=2.2, zorder=6, solid_joinstyle="miter")

    escala = {"mapa": MAPA_SEQ, "vmin": S.min() - 0.5, "vmax": S.max() + 0.3,
              "numeros": lambda v: formatar_numero(v, 1),
              "tam": TAM["nota"]}
    matriz_cores(ax, grades[0], gy, S, c, c, **escala)
    matriz_cores(ax, grades[1], gy, S, c, c, **escala,
                 mascara=[["−∞" if mascara[i, j] else "" for j in range(n)] for i in range(n)])
    matriz_cores(ax, grades[2], gy, P, c, c, mapa=MAPA_SEQ, vmin=0, vmax=1.0, numeros=lambda v: formatar_numero(v, 2),
                 tam=TAM["nota"], mascara=[["0" if mascara[i, j] else "" for j in range(n)] for i in range(n)])
    titulos = [("1. pontuações", r"$QK^{\mathsf{T}}/\sqrt{d_k}$"), ("2. aplica a máscara", "−∞ acima da diagonal"),
               ("3. softmax por linha", "pesos: cada linha soma 1")]
    for gx, (nome, sub) in zip(grades, titulos, strict=True):
        rotulos(gx, linhas=gx == grades[0])
        escada(gx)
        ax.text(gx + n * c / 2, topo + 8.2, nome, ha="center", fontsize=TAM["rotulo"], fontweight="bold")
        ax.text(gx + n * c / 2, gy - 1.0, sub, ha="center", va="top", fontsize=TAM["nota"] + (2 if "$" in sub else 0),
                color=CORES["suave"])
    for a, b_, rot in ((grades[0] + n * c, grades[1], "masked_fill"), (grades[1] + n * c, grades[2], "softmax")):
        seta(ax, (a + 1.5, gy + n * c / 2), (b_ - 1.5, gy + n * c / 2), cor=CORES["tinta"], lw=1.6, cabeca=12)
        ax.text((a + b_) / 2, gy + n * c / 2 + 1.0, rot, ha="center", va="bottom", fontsize=TAM["mini"],
                family=FONTE_MONO, color=CORES["suave"])
    # leitura de uma linha
    i = 2
    ax.add_artist(Rectangle((grades[2], gy + (n - 1 - i) * c), n * c, c, facecolor="none", edgecolor=CORES["laranja"],
                           lw=2.6, zorder=7))
    visiveis = ", ".join(palavras[: i + 1])
    ax.text(grades[2] + n * c / 2, gy - 4.6, f"“{palavras[i]}” vê só: {visiveis}", ha="center", va="top",
            fontsize=TAM["nota"], color=CORES["laranja"], fontweight="bold")
    ax.text(2.0, 4.6, "Em PyTorch:  mascara = torch.triu(torch.ones(T, T), diagonal=1).bool()", fontsize=TAM["nota"],
            va="center", family=FONTE_MONO)
    ax.text(2.0, 1.9, "             pontuacoes.masked_fill(mascara, -torch.inf)   # e exp(−∞) = 0 no softmax",
            fontsize=TAM["nota"], va="center", family=FONTE_MONO)
    return Figura("mascara_causal.png", fig)


# ----------------------------------------------------------------------------------------------------------------
# 7. Atenção multi-cabeça (capítulo 3)
# ----------------------------------------------------------------------------------------------------------------


def fig_multi_cabeca() -> Figura:
    """Cabeças de atenção em paralelo, concatenação e projeção de saída."""
    fig, ax = novo_quadro(11.4, 7.0, "Atenção multi-cabeça: várias atenções em paralelo, depois juntadas",
                          "Cada cabeça tem seus próprios W_q, W_k, W_v e aprende um padrão diferente; as saídas são "
                          "concatenadas e projetadas.")
    cores = [CORES["azul"], CORES["laranja"], CORES["verde"], CORES["roxo"]]
    claras = [CORES["azul_claro"], CORES["laranja_claro"], CORES["verde_claro"], CORES["roxo_claro"]]
    n = 5
    rng = np.random.default_rng(21)
    padroes = []  # pesos de atenção (softmax com máscara causal) com um padrão típico por cabeça
    for h in range(4):
        M = np.full((n, n), -np.inf)
        for i in range(n):
            for j in range(i + 1):
                if h == 0:
                    M[i, j] = 3.0 if j == max(i - 1, 0) else 0.0
                elif h == 1:
                    M[i, j] = 3.0 if j == 0 else 0.0
                elif h == 2:
                    M[i, j] = 3.0 if j == i else 0.0
                else:
                    M[i, j] = rng.normal(0, 0.4)
        padroes.append(softmax(M))
    descricoes = ["olha o token anterior", "olha o 1º token", "olha a si mesma", "espalha a atenção"]
    caixa(ax, 2.0, 23.0, 11.5, 16.0, "X\n\n(batch,\ntokens,\nd_model)", fundo=CORES["cinza_claro"],
          borda=CORES["tinta"], tam=TAM["nota"], peso="bold")
    y_cab = [50.0, 37.5, 25.0, 12.5]
    for h in range(4):
        y = y_cab[h]
        seta(ax, (13.8, 31.0), (19.6, y + 4.0), cor=cores[h], lw=1.3, cabeca=10)
        caixa(ax, 20.0, y, 40.0, 8.5, fundo=claras[h], borda=cores[h], lw=1.4)
        ax.text(21.5, y + 6.0, f"cabeça {h + 1}", fontsize=TAM["rotulo"], fontweight="bold", color=cores[h],
                va="center")
        ax.text(21.5, y + 2.4, "Q, K, V próprios\n(d_model → d_head)", fontsize=TAM["mini"], va="center",
                linespacing=1.15)
        mapa = LinearSegmentedColormap.from_list(f"cabeca{h}", ["#ffffff", cores[h]])
        c = 1.45
        matriz_cores(ax, 38.0, y + 0.6, padroes[h], c, c, mapa=mapa, vmin=0, vmax=1, borda=clarear(cores[h], 0.6),
                     lw=0.5, mascara=[["" if j <= i else " " for j in range(n)] for i in range(n)])
        ax.text(46.0, y + 4.25, descricoes[h].replace(" o ", "\no ").replace(" a ", "\na "), fontsize=TAM["mini"],
                va="center", color=cores[h], style="italic", linespacing=1.15)
        seta(ax, (60.2, y + 4.25), (63.6, y + 4.25), cor=cores[h], lw=1.3, cabeca=10)
        matriz_cores(ax, 64.0, y + 0.9, np.full((n, 2), 0.75), 1.4, 1.34,
                     mapa=LinearSegmentedColormap.from_list(f"z{h}", ["#ffffff", cores[h]]), vmin=0, vmax=1,
                     lw=0.6)
        ax.text(67.6, y + 4.25, f"Z{h + 1}", fontsize=TAM["nota"], va="center", fontweight="bold", color=cores[h])
        seta(ax, (70.5, y + 4.25), (77.6, 32.0 + (1.5 - h) * 2.2), cor=cores[h], lw=1.1, cabeca=9)
    ax.text(65.4, 9.6, "cada Zᵢ:\n(…, d_head)", ha="center", va="top", fontsize=TAM["mini"], color=CORES["suave"],
            linespacing=1.15)
    ax.text(40.0, 59.6, "pesos de atenção (com máscara causal)", ha="center", va="center", fontsize=TAM["mini"],
            color=CORES["suave"])
    # concatenação e projeção
    cx_, cy_ = 78.0, 24.0
    for h in range(4):
        ax.add_artist(Rectangle((cx_ + h * 2.4, cy_), 2.4, 16.0, facecolor=clarear(cores[h], 0.25), edgecolor="#ffffff",
                               lw=1.0, zorder=2))
    ax.add_artist(Rectangle((cx_, cy_), 9.6, 16.0, facecolor="none", edgecolor=CORES["tinta"], lw=1.4, zorder=3))
    ax.text(cx_ + 4.8, cy_ + 17.2, "concatena", ha="center", fontsize=TAM["nota"], fontweight="bold")
    ax.text(cx_ + 4.8, cy_ - 0.8, "(…, d_model)", ha="center", va="top", fontsize=TAM["mini"], color=CORES["suave"])
    seta(ax, (cx_ + 9.9, 32.0), (91.6, 32.0), cor=CORES["tinta"], lw=1.5, cabeca=11)
    caixa(ax, 92.0, 27.0, 9.0, 10.0, "W_o\nLinear\nproj_saida", fundo="#ffffff", borda=CORES["tinta"],
          tam=TAM["nota"], peso="bold")
    seta(ax, (101.2, 32.0), (104.0, 32.0), cor=CORES["tinta"], lw=1.5, cabeca=11)
    caixa(ax, 104.3, 24.0, 8.2, 16.0, "saída\n\nmesma\nforma\nde X", fundo=CORES["cinza_claro"],
          borda=CORES["tinta"], tam=TAM["mini"], peso="bold")
    caixa(ax, 74.0, 3.0, 38.5, 16.5, fundo=CORES["papel"], borda=CORES["grade"])
    ax.text(75.5, 16.5, "d_head = d_model ÷ n_cabeças", fontsize=TAM["nota"], fontweight="bold", va="center")
    cfg = dados_gpt2()["cfg"]
    ax.text(75.5, 13.5, f"GPT-2 small: {cfg['d_model']} ÷ {cfg['n_heads']} = {cfg['d_model'] // cfg['n_heads']}",
            fontsize=TAM["nota"], va="center", color=CORES["suave"])
    ax.text(75.5, 8.3, "Na prática, uma só Linear calcula Q (idem\nK e V) de todas as cabeças; depois separa:\n"
            ".view(b, T, h, d_head).transpose(1, 2)", fontsize=TAM["mini"], va="center", linespacing=1.3)
    ax.text(2.0, 6.0, "Custo parecido com o de uma cabeça\ngrande, mas com 4 “pontos de vista”\ndiferentes sobre a "
            "frase.", fontsize=TAM["nota"], va="center", color=CORES["suave"], linespacing=1.25)
    return Figura("multi_cabeca.png", fig)


# ----------------------------------------------------------------------------------------------------------------
# 8. Bloco transformer pre-LN (capítulo 4)
# ----------------------------------------------------------------------------------------------------------------


def fig_bloco_transformer() -> Figura:
    """O bloco transformer pre-LN com as duas conexões de atalho."""
    fig, ax = novo_quadro(11.4, 6.8, "Bloco transformer (pre-LN, como no GPT-2)",
                          "Duas subcamadas, cada uma com LayerNorm antes e um atalho (conexão residual) que soma a "
                          "entrada à saída.")
    caixa(ax, 14.0, 37.0, 84.0, 21.0, fundo=clarear(CORES["laranja"], 0.93), borda=clarear(CORES["laranja"], 0.5),
          lw=1.0, raio=1.2, z=0)
    ax.text(15.2, 56.3, "subcamada 1 · atenção", fontsize=TAM["nota"], color=CORES["laranja"], fontweight="bold",
            va="center")
    caixa(ax, 14.0, 8.5, 84.0, 21.0, fundo=clarear(CORES["verde"], 0.93), borda=clarear(CORES["verde"], 0.5), lw=1.0,
          raio=1.2, z=0)
    ax.text(15.2, 27.8, "subcamada 2 · feed-forward", fontsize=TAM["nota"], color=CORES["verde"], fontweight="bold",
            va="center")
    y1, y2, h = 44.0, 15.0, 8.0
    # linha 1: atenção
    caixa(ax, 1.5, y1 - 5.0, 10.5, 10.0, "entrada\nx\n(b, T, d)", fundo=CORES["cinza_claro"], borda=CORES["tinta"],
          tam=TAM["nota"], peso="bold")
    blocos1 = [(22.0, 14.0, "LayerNorm 1", CORES["azul"], CORES["azul_claro"]),
               (41.0, 22.0, "Atenção\nmulti-cabeça\n(causal)", CORES["laranja"], CORES["laranja_claro"]),
               (68.0, 12.0, "Dropout", CORES["cinza"], "#ffffff")]
    seta(ax, (12.2, y1), (21.8, y1), lw=1.6)
    for i, (x, w, txt, forte, clara) in enumerate(blocos1):
        caixa(ax, x, y1 - h / 2, w, h, txt, fundo=clara, borda=forte, tam=TAM["texto"], peso="bold", cor_texto=forte)
        if i < 2:
            seta(ax, (x + w + 0.2, y1), (blocos1[i + 1][0] - 0.2, y1), lw=1.6)
    s1 = 87.0
    seta(ax, (80.2, y1), (s1 - 1.7, y1), lw=1.6)
    soma(ax, s1, y1, r=1.6)
    linha(ax, [17.0, 17.0, s1, s1], [y1, y1 + 8.5, y1 + 8.5, y1 + 3.5], cor=CORES["tinta"], lw=2.0)
    seta(ax, (s1, y1 + 3.6), (s1, y1 + 1.7), cor=CORES["tinta"], lw=2.0, cabeca=12)
    ax.text(52.0, y1 + 9.3, "atalho: x₁ = x + Dropout(Atenção(LayerNorm(x)))", ha="center", va="bottom",
            fontsize=TAM["nota"], fontweight="bold")
    # descida para a linha 2
    linha(ax, [s1 + 1.6, 104.0, 104.0, 6.5, 6.5], [y1, y1, 33.0, 33.0, y2], cor=CORES["suave"], lw=1.6)
    ax.text(105.0, 38.5, "x₁", fontsize=TAM["rotulo"], fontweight="bold", va="center")
    seta(ax, (6.5, y2), (21.8, y2), lw=1.6)
    # linha 2: feed-forward
    blocos2 = [(22.0, 14.0, "LayerNorm 2", CORES["azul"], CORES["azul_claro"]),
               (39.5, 9.5, "Linear\nd → 4d", CORES["verde"], CORES["verde_claro"]),
               (51.5, 9.0, "", CORES["verde"], CORES["verde_claro"]),
               (63.0, 9.5, "Linear\n4d → d", CORES["verde"], CORES["verde_claro"]),
               (76.0, 12.0, "Dropout", CORES["cinza"], "#ffffff")]
    for i, (x, w, txt, forte, clara) in enumerate(blocos2):
        caixa(ax, x, y2 - h / 2, w, h, txt, fundo=clara, borda=forte, tam=TAM["nota"] + 0.5, peso="bold",
              cor_texto=forte)
        if i < len(blocos2) - 1:
            seta(ax, (x + w + 0.2, y2), (blocos2[i + 1][0] - 0.2, y2), lw=1.6)
    # mini gráfico da GELU dentro da sua caixa
    xs = np.linspace(-3, 2, 60)
    gelu = 0.5 * xs * (1 + np.tanh(math.sqrt(2 / math.pi) * (xs + 0.044715 * xs ** 3)))
    gx, gy_ = 56.5, y2 - 2.0
    ax.plot([gx - 3.6, gx + 2.4], [gy_, gy_], color=CORES["linha"], lw=0.6, zorder=4)
    ax.plot(gx + xs * 1.15, gy_ + gelu * 1.15, color=CORES["verde"], lw=1.8, zorder=5)
    ax.text(gx - 0.5, y2 + 2.2, "GELU", ha="center", va="center", fontsize=TAM["nota"] + 0.5, fontweight="bold",
            color=CORES["verde"], zorder=5)
    ax.text(56.0, y2 - h / 2 - 0.8, "feed-forward: expande 4×, aplica GELU, volta a d_model", ha="center", va="top",
            fontsize=TAM["mini"], color=CORES["verde"])
    s2 = 95.0
    seta(ax, (88.2, y2), (s2 - 1.7, y2), lw=1.6)
    soma(ax, s2, y2, r=1.6)
    linha(ax, [17.0, 17.0, s2, s2], [y2, y2 + 8.5, y2 + 8.5, y2 + 3.5], cor=CORES["tinta"], lw=2.0)
    seta(ax, (s2, y2 + 3.6), (s2, y2 + 1.7), cor=CORES["tinta"], lw=2.0, cabeca=12)
    ax.text(56.0, y2 + 9.3, "atalho: saída = x₁ + Dropout(FeedForward(LayerNorm(x₁)))", ha="center", va="bottom",
            fontsize=TAM["nota"], fontweight="bold")
    seta(ax, (s2 + 1.7, y2), (100.3, y2), lw=1.6)
    caixa(ax, 100.5, y2 - 5.0, 12.0, 10.0, "saída\n(b, T, d)", fundo=CORES["cinza_claro"], borda=CORES["tinta"],
          tam=TAM["nota"], peso="bold")
    ax.text(2.0, 3.6, "Entra e sai com a mesma forma (batch, tokens, d_model): por isso dá para empilhar N blocos.",
            fontsize=TAM["nota"], color=CORES["suave"], va="center")
    ax.text(2.0, 1.3, "Os atalhos deixam o gradiente fluir direto até as primeiras camadas.", fontsize=TAM["nota"],
            color=CORES["suave"], va="center")
    return Figura("bloco_transformer.png", fig)


# ----------------------------------------------------------------------------------------------------------------
# 9. O GPT inteiro (capítulo 4)
# ----------------------------------------------------------------------------------------------------------------


def fig_pilha_gpt() -> Figura:
    """O GPT inteiro, de ids a probabilidades do próximo token, com as formas dos tensores."""
    fig, ax = novo_quadro(11.4, 6.2, "O GPT completo: de ids a probabilidades do próximo token",
                          "Embaixo de cada etapa, a forma do tensor (b = batch, T = tokens, d = d_model, "
                          "V = tamanho do vocabulário).")
    yc = 33.0
    toks = ["Uma", " noite", " destas", ","]
    ax.text(7.0, yc + 14.0, "entrada", ha="center", fontsize=TAM["nota"], fontweight="bold", color=CORES["azul"])
    for i, t in enumerate(toks):
        celula(ax, 2.0, yc + 8.5 - i * 4.6, 10.0, 3.8, mostrar_token(t), fundo=CORES["azul_claro"],
               borda=CORES["azul"], tam=TAM["nota"])
    ax.text(7.0, yc - 12.0, "ids (b, T)", ha="center", fontsize=TAM["mini"], color=CORES["suave"])
    caixa(ax, 15.5, yc + 2.5, 13.5, 8.0, "Embedding\nde tokens", fundo=CORES["agua_claro"], borda=CORES["agua"],
          tam=TAM["nota"], peso="bold", cor_texto=CORES["agua"])
    caixa(ax, 15.5, yc - 10.5, 13.5, 8.0, "Embedding\nde posições", fundo=CORES["roxo_claro"], borda=CORES["roxo"],
          tam=TAM["nota"], peso="bold", cor_texto=CORES["roxo"])
    seta(ax, (12.3, yc + 3.0), (15.3, yc + 6.5), lw=1.4, cabeca=10)
    seta(ax, (12.3, yc - 3.0), (15.3, yc - 6.5), lw=1.4, cabeca=10)
    soma(ax, 32.5, yc, r=1.6)
    seta(ax, (29.2, yc + 6.5), (31.6, yc + 1.3), lw=1.4, cabeca=10)
    seta(ax, (29.2, yc - 6.5), (31.6, yc - 1.3), lw=1.4, cabeca=10)
    caixa(ax, 35.8, yc - 4.0, 8.0, 8.0, "Drop-\nout", fundo="#ffffff", borda=CORES["cinza"], tam=TAM["nota"],
          peso="bold", cor_texto=CORES["cinza"])
    seta(ax, (34.2, yc), (35.6, yc), lw=1.4, cabeca=8)
    ax.text(36.0, yc - 12.0, "(b, T, d)", ha="center", fontsize=TAM["mini"], color=CORES["suave"])
    # pilha de N blocos
    bx, bw = 47.5, 15.0
    seta(ax, (44.0, yc), (47.3, yc), lw=1.4, cabeca=10)
    for k in range(3, 0, -1):
        caixa(ax, bx + k * 1.0, yc - 11.0 + k * 1.0, bw, 22.0, fundo=clarear(CORES["laranja"], 0.75 + 0.05 * k),
              borda=CORES["laranja"], lw=1.0, z=2)
    caixa(ax, bx, yc - 11.0, bw, 22.0, fundo=CORES["laranja_claro"], borda=CORES["laranja"], lw=1.6, z=3)
    itens = [("LayerNorm", CORES["azul"]), ("Atenção", CORES["laranja"]), ("+ atalho", CORES["tinta"]),
             ("LayerNorm", CORES["azul"]), ("Feed-forward", CORES["verde"]), ("+ atalho", CORES["tinta"])]
    for j, (txt, cor) in enumerate(itens):
        ax.text(bx + bw / 2, yc + 8.0 - j * 3.2, txt, ha="center", va="center", fontsize=TAM["mini"] + 0.5,
                color=cor, fontweight="bold", zorder=5)
    ax.text(bx + bw / 2 + 1.5, yc + 15.2, "Bloco transformer × N", ha="center", fontsize=TAM["nota"],
            fontweight="bold", color=CORES["laranja"])
    ax.text(bx + bw / 2, yc - 13.4, "(b, T, d)", ha="center", fontsize=TAM["mini"], color=CORES["suave"])
    caixa(ax, 67.0, yc - 4.0, 9.5, 8.0, "Layer-\nNorm\nfinal", fundo=CORES["azul_claro"], borda=CORES["azul"],
          tam=TAM["nota"], peso="bold", cor_texto=CORES["azul"])
    seta(ax, (bx + bw + 3.3, yc), (66.8, yc), lw=1.4, cabeca=10)
    caixa(ax, 79.0, yc - 4.0, 10.0, 8.0, "Cabeça\nlinear\nd → V", fundo="#ffffff", borda=CORES["tinta"],
          tam=TAM["nota"], peso="bold")
    seta(ax, (76.7, yc), (78.8, yc), lw=1.4, cabeca=8)
    ax.text(84.0, yc - 12.0, "logits (b, T, V)", ha="center", fontsize=TAM["mini"], color=CORES["suave"])
    seta(ax, (89.2, yc), (91.3, yc), lw=1.4, cabeca=8)
    # próximo token: barras (ilustrativas) da última posição
    ax.text(102.5, yc + 14.0, "última posição → softmax", ha="center", fontsize=TAM["nota"], fontweight="bold")
    cand = [(" vindo", 0.31), (" quando", 0.17), (" disse", 0.12), (" ele", 0.09), (" que", 0.07)]
    for i, (t, p) in enumerate(cand):
        yy = yc + 9.0 - i * 3.5
        cor = CORES["laranja"] if i == 0 else CORES["linha"]
        ax.text(100.2, yy, mostrar_token(t), fontsize=TAM["mini"], va="center", ha="right", family=FONTE_MONO,
                color=CORES["tinta"], fontweight="bold" if i == 0 else "normal")
        ax.add_artist(Rectangle((100.8, yy - 1.2), 26.0 * p, 2.4, facecolor=cor, edgecolor="none", zorder=2))
        ax.text(101.2 + 26.0 * p, yy, formatar_numero(p, 2), fontsize=TAM["mini"], va="center",
                color=CORES["laranja"] if i == 0 else CORES["suave"], fontweight="bold" if i == 0 else "normal")
    ax.text(102.5, yc - 9.0, "próximo token: “␣vindo”", ha="center", va="center", fontsize=TAM["nota"],
            fontweight="bold", color=CORES["laranja"])
    ax.text(102.5, yc - 12.0, "(probabilidades ilustrativas)", ha="center", fontsize=TAM["mini"],
            color=CORES["suave"])
    # ficha do GPT-2 small
    caixa(ax, 2.0, 2.5, 110.5, 13.0, fundo=CORES["papel"], borda=CORES["grade"])
    ax.text(4.0, 12.0, "GPT-2 small:", fontsize=TAM["texto"], fontweight="bold", va="center")
    gpt2 = dados_gpt2()
    cfg = gpt2["cfg"]
    ax.text(24.0, 12.0, f"V = {formatar_numero(cfg['vocab_size'])}   "
            f"contexto = {formatar_numero(cfg['context_length'])}   "
            f"d = {cfg['d_model']}   {cfg['n_heads']} cabeças   N = {cfg['n_layers']} blocos   "
            f"dropout {formatar_numero(cfg['dropout'], 1)}", fontsize=TAM["nota"], va="center", family=FONTE_MONO)
    ax.text(4.0, 8.3, f"≈ {gpt2['parametros_amarrados'] / 1e6:.0f} M parâmetros com a cabeça compartilhando os pesos "
            f"do embedding de tokens (weight tying); ≈ {gpt2['parametros'] / 1e6:.0f} M sem compartilhar.",
            fontsize=TAM["nota"], va="center")
    ax.text(4.0, 4.9, "Na geração: pega os logits da última posição, escolhe um token, anexa à entrada e repete.",
            fontsize=TAM["nota"], va="center", color=CORES["suave"])
    return Figura("pilha_gpt.png", fig)


# ----------------------------------------------------------------------------------------------------------------
# 10. Laço de treinamento (capítulo 5)
# ----------------------------------------------------------------------------------------------------------------


def dados_agenda_lr() -> dict:
    """A agenda do capítulo 5: ``taxa_aprendizado`` em cada passo da receita ``TREINO_COMPLETO`` (como no notebook)."""
    m = modulo()
    receita = dict(m.TREINO_COMPLETO)
    passos = list(range(receita["passos"]))
    lrs = [m.taxa_aprendizado(p, receita["passos"], receita["lr_max"], receita["passos_aquecimento"],
                              receita["lr_min"]) for p in passos]
    return {"receita": receita, "passos": passos, "lr": lrs}


def sobrescrito(n: int) -> str:
    """-3 -> '⁻³'."""
    return str(n).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def cientifico(v: float) -> str:
    """Notação científica com vírgula decimal: 0.003 -> '3·10⁻³', 0.00025 -> '2,5·10⁻⁴'."""
    mantissa, expoente = f"{v:.3e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".").replace(".", ",")
    return f"{mantissa}·10{sobrescrito(int(expoente))}"


def fig_laco_treinamento() -> Figura:
    """O laço de treino (lote, forward, perda, backward, recorte, AdamW) e a agenda da LR do capítulo 5."""
    agenda = dados_agenda_lr()
    receita, passos, lrs = agenda["receita"], agenda["passos"], agenda["lr"]
    total, aquecimento = receita["passos"], receita["passos_aquecimento"]
    fig, ax = novo_quadro(11.4, 6.8, "O laço de treinamento",
                          "Cada volta processa um lote e ajusta os pesos um pouquinho. Milhares de voltas depois, "
                          "o modelo prevê Machado melhor.")
    w, h = 19.0, 10.0
    topo, base = 42.0, 17.0
    etapas = [
        (3.0, topo, "1  Lote (x, y)", "do DataLoader:\ny = x deslocado de 1", CORES["azul"], CORES["azul_claro"]),
        (26.0, topo, "2  Forward", "logits = modelo(x)\n(b, T, V)", CORES["laranja"], CORES["laranja_claro"]),
        (49.0, topo, "3  Perda", "entropia cruzada\nentre logits e y", CORES["vermelho"], CORES["vermelho_claro"]),
        (49.0, base, "4  Backward", "perda.backward()\ncalcula gradientes", CORES["roxo"], CORES["roxo_claro"]),
        (26.0, base, "5  Recorte", f"clip_grad_norm_\n(params, {receita['clip']})", CORES["amarelo"],
         CORES["amarelo_claro"]),
        (3.0, base, "6  Passo AdamW", "otimizador.step(),\ncom a LR do passo", CORES["verde"], CORES["verde_claro"]),
    ]
    for x, y, nome, desc, forte, clara in etapas:
        caixa(ax, x, y, w, h, fundo=clara, borda=forte, lw=1.5)
        ax.text(x + 1.2, y + h - 2.2, nome, fontsize=TAM["rotulo"], fontweight="bold", color=forte, va="center")
        ax.text(x + 1.2, y + 3.2, desc, fontsize=TAM["nota"], va="center", linespacing=1.2)
    seta(ax, (3.0 + w + 0.3, topo + h / 2), (26.0 - 0.3, topo + h / 2), lw=1.8)
    seta(ax, (26.0 + w + 0.3, topo + h / 2), (49.0 - 0.3, topo + h / 2), lw=1.8)
    seta(ax, (49.0 + w / 2, topo - 0.3), (49.0 + w / 2, base + h + 0.3), lw=1.8)
    seta(ax, (49.0 - 0.3, base + h / 2), (26.0 + w + 0.3, base + h / 2), lw=1.8)
    seta(ax, (26.0 - 0.3, base + h / 2), (3.0 + w + 0.3, base + h / 2), lw=1.8)
    seta(ax, (3.0 + w / 2, base + h + 0.3), (3.0 + w / 2, topo - 0.3), lw=1.8)
    meio = (base + h + topo) / 2
    ax.text(3.0 + w / 2 + 1.0, meio, "zero_grad()\npróximo lote", fontsize=TAM["nota"], va="center",
            color=CORES["suave"], linespacing=1.15)
    ax.text(35.5, meio, "↻", fontsize=30, ha="center", va="center", color=CORES["grade"])
    ax.text(49.0 + w / 2 + 1.0, meio, "um número\n(a perda)", fontsize=TAM["nota"], va="center",
            color=CORES["suave"], linespacing=1.15)
    # avaliação periódica
    caixa(ax, 3.0, 2.5, 65.0, 10.0, fundo=CORES["papel"], borda=CORES["agua"], tracejada=True, lw=1.4)
    ax.text(4.5, 10.0, f"A cada {receita['avaliar_a_cada']} passos: avaliar e gerar uma amostra", fontsize=TAM["texto"],
            fontweight="bold", color=CORES["agua"], va="center")
    ax.text(4.5, 5.6, "perda de treino e de validação (também em bits por caractere)\n"
            "+ um texto gerado, para ver o modelo aprendendo", fontsize=TAM["nota"], va="center", linespacing=1.2)
    linha(ax, [68.3, 71.0, 71.0], [topo + h / 2, topo + h / 2, 7.5], cor=CORES["agua"], lw=1.3, tracejada=True)
    seta(ax, (71.0, 7.5), (68.3, 7.5), cor=CORES["agua"], lw=1.3, cabeca=10)
    # curva da taxa de aprendizado (gráfico de verdade)
    caixa(ax, 74.5, 2.5, 38.0, 55.0, fundo="#ffffff", borda=CORES["grade"])
    ax.text(93.5, 54.3, "taxa de aprendizado (LR)", ha="center", fontsize=TAM["texto"], fontweight="bold",
            color=CORES["verde"], va="center")
    ax.text(93.5, 51.2, "aquecimento linear + decaimento cosseno", ha="center", fontsize=TAM["nota"],
            color=CORES["suave"], va="center")
    eixo = eixo_em(fig, ax, 81.5, 19.0, 28.5, 28.0)
    expoente = math.floor(math.log10(max(lrs)))
    escala = 10.0 ** -expoente  # o eixo y mostra LR × 10^-expoente (números pequenos e redondos)
    y = np.array(lrs) * escala
    topo_y = float(y.max())
    eixo.axvspan(0, aquecimento, color=CORES["amarelo_claro"], lw=0)
    eixo.plot(passos, y, color=CORES["verde"], lw=2.4, gid="lr")
    eixo.set_xlim(0, total)
    eixo.set_ylim(0, topo_y * 1.15)
    eixo.set_xlabel("passo", fontsize=TAM["nota"])
    eixo.set_ylabel(f"LR (× 10{sobrescrito(expoente)})", fontsize=TAM["nota"])
    eixo.tick_params(labelsize=TAM["mini"])
    marcas_x = [0, total // 2, total]
    eixo.set_xticks(marcas_x)
    eixo.set_xticklabels([formatar_numero(v) for v in marcas_x])
    marcas_y = list(range(0, int(topo_y) + 1, 1 if topo_y <= 4 else 2))
    eixo.set_yticks(marcas_y)
    eixo.set_yticklabels([str(v) for v in marcas_y])
    for lado in ("top", "right"):
        eixo.spines[lado].set_visible(False)
    eixo.annotate(f"aquecimento\n({aquecimento} passos)", xy=(0.6 * aquecimento, 0.27 * topo_y),
                  xytext=(aquecimento + 0.09 * total, 0.2 * topo_y), fontsize=TAM["mini"], color=CORES["amarelo"],
                  va="center", linespacing=1.1, arrowprops={"arrowstyle": "-", "color": CORES["amarelo"], "lw": 1})
    p90 = int(0.9 * total)
    eixo.annotate("decai até\no mínimo", xy=(p90, y[p90] + 0.04 * topo_y), xytext=(0.64 * total, 0.6 * topo_y),
                  fontsize=TAM["mini"], color=CORES["verde"],
                  arrowprops={"arrowstyle": "-", "color": CORES["verde"], "lw": 1})
    ax.text(93.5, 8.8, "taxa_aprendizado na receita TREINO_COMPLETO:", ha="center", fontsize=TAM["mini"],
            color=CORES["suave"], va="center")
    ax.text(93.5, 5.8, f"{formatar_numero(total)} passos, sobe até {cientifico(receita['lr_max'])} e desce\n"
            f"suavemente até {cientifico(receita['lr_min'])} no fim do treino.", ha="center",
            fontsize=TAM["mini"], color=CORES["suave"], va="center", linespacing=1.2)
    return Figura("laco_treinamento.png", fig, {"receita": receita, "lr": lrs})


# ----------------------------------------------------------------------------------------------------------------
# 11. Estratégias de decodificação (capítulo 5)
# ----------------------------------------------------------------------------------------------------------------


def fig_estrategias_decodificacao() -> Figura:
    """Gulosa, temperatura, top-k, top-p e beam search sobre a mesma distribuição."""
    fig, ax = novo_quadro(11.4, 7.6, "Como escolher o próximo token: estratégias de decodificação",
                          "Distribuição de brinquedo para “Uma noite destas, vindo da ___”. Em cor, os tokens que "
                          "cada estratégia mantém.")
    toks = ["cidade", "rua", "casa", "igreja", "praia", "missa", "escola", "lua"]
    p = np.array([0.38, 0.20, 0.14, 0.10, 0.07, 0.05, 0.04, 0.02])
    ypos = np.arange(len(toks))[::-1]
    marcas = [0, 0.2, 0.4, 0.6]

    def painel(x, y, titulo, sub, xmax=0.62):
        ax.text(x, y + 27.6, titulo, fontsize=TAM["rotulo"], fontweight="bold", va="center")
        ax.text(x, y + 25.0, sub, fontsize=TAM["nota"], va="center", color=CORES["suave"])
        e = eixo_em(fig, ax, x + 7.0, y, 27.0, 23.0)
        e.set_yticks(ypos)
        e.set_yticklabels(toks, fontsize=TAM["nota"])
        e.tick_params(axis="x", labelsize=TAM["mini"])
        e.tick_params(axis="y", length=0)
        e.set_xlim(0, xmax)
        e.set_xticks(marcas)
        e.set_xticklabels([formatar_numero(v, 1) for v in marcas])
        for lado in ("top", "right"):
            e.spines[lado].set_visible(False)
        return e

    def barras(e, mantidos, cor, rotulos=None):
        e.barh(ypos, p, color=[cor if m else CORES["grade"] for m in mantidos], height=0.72)
        for yy, v, m, r in zip(ypos, p, mantidos, rotulos or [None] * len(p), strict=True):
            e.text(v + 0.01, yy, r if r is not None else formatar_numero(v, 2), va="center", fontsize=TAM["mini"],
                   color=CORES["tinta"] if m else CORES["linha"], fontweight="bold" if m else "normal")

    col, lin = [2.0, 40.0, 78.0], [37.0, 4.0]
    e = painel(col[0], lin[0], "Distribuição do modelo", "softmax dos logits (T = 1)")
    barras(e, [True] * len(p), CORES["azul"])
    e = painel(col[1], lin[0], "Gulosa (greedy)", "sempre o mais provável: determinística")
    barras(e, [i == 0 for i in range(len(p))], CORES["laranja"])
    e.text(0.475, ypos[0], "← escolhe", va="center", fontsize=TAM["mini"], color=CORES["laranja"], fontweight="bold")
    # temperatura: softmax(logits / T)
    e = painel(col[2], lin[0], "Temperatura", "logits ÷ T: T < 1 afia, T > 1 achata", xmax=0.75)
    frio, quente = softmax(np.log(p) / 0.5), softmax(np.log(p) / 1.5)
    e.barh(ypos + 0.2, frio, height=0.38, color=CORES["azul"], label="T = 0,5")
    e.barh(ypos - 0.2, quente, height=0.38, color="#fdba74", label="T = 1,5")
    e.text(frio[0] + 0.01, ypos[0] + 0.2, formatar_numero(frio[0], 2), va="center", fontsize=TAM["mini"],
           color=CORES["azul"], fontweight="bold")
    e.text(quente[0] + 0.01, ypos[0] - 0.2, formatar_numero(quente[0], 2), va="center", fontsize=TAM["mini"],
           color=CORES["laranja"], fontweight="bold")
    e.legend(fontsize=TAM["mini"], frameon=False, loc="lower right")
    # top-k
    k = 3
    e = painel(col[0], lin[1], f"Top-k (k = {k})", "fica com os k maiores, renormaliza, sorteia")
    renorm = p[:k] / p[:k].sum()
    barras(e, [i < k for i in range(len(p))], CORES["verde"],
           rotulos=[f"{formatar_numero(p[i], 2)} → {formatar_numero(renorm[i], 2)}" if i < k else None
                    for i in range(len(p))])
    # top-p (núcleo)
    limiar = 0.8
    acum = np.cumsum(p)
    n_p = int(np.searchsorted(acum, limiar - 1e-9) + 1)
    e = painel(col[1], lin[1], f"Top-p (p = {formatar_numero(limiar, 1)})", "menor grupo cuja soma chega a p; sorteia")
    barras(e, [i < n_p for i in range(len(p))], CORES["roxo"],
           rotulos=[f"Σ = {formatar_numero(acum[i], 2)}" if i < n_p else None for i in range(len(p))])
    # beam search (árvore com 2 passos)
    x, y = col[2], lin[1]
    ax.text(x, y + 27.6, "Beam search (largura 2)", fontsize=TAM["rotulo"], fontweight="bold", va="center")
    ax.text(x, y + 25.0, "guarda as 2 melhores sequências", fontsize=TAM["nota"], va="center",
            color=CORES["suave"])
    nivel1 = {"cidade": 0.38, "rua": 0.20, "casa": 0.14}
    nivel2 = {"cidade": [("quando", 0.50), ("para", 0.30)], "rua": [("do", 0.60), ("e", 0.20)]}
    sequencias = sorted(((nivel1[a] * pb, a, b_) for a, filhos in nivel2.items() for b_, pb in filhos), reverse=True)
    vencedoras = {(a, b_) for _, a, b_ in sequencias[:2]}
    raiz_y = y + 13.0
    caixa(ax, x, raiz_y - 1.8, 5.5, 3.6, "da", fundo=CORES["cinza_claro"], borda=CORES["linha"], tam=TAM["nota"])
    pos1 = {"cidade": y + 20.0, "rua": y + 11.5, "casa": y + 4.5}
    for t, yy in pos1.items():
        fica = t in nivel2
        cor = CORES["amarelo"] if fica else CORES["linha"]
        seta(ax, (x + 5.7, raiz_y), (x + 7.8, yy), cor=cor, lw=1.2, cabeca=8)
        caixa(ax, x + 8.0, yy - 1.8, 11.0, 3.6, f"{t} {formatar_numero(nivel1[t], 2)}",
              fundo=CORES["amarelo_claro"] if fica else "#ffffff", borda=cor, tam=TAM["mini"] + 0.5,
              cor_texto=CORES["tinta"] if fica else CORES["linha"])
        for j, (t2, p2) in enumerate(nivel2.get(t, [])):
            y2 = yy + 2.4 - j * 4.8
            ok = (t, t2) in vencedoras
            cor2 = CORES["amarelo"] if ok else CORES["linha"]
            seta(ax, (x + 19.2, yy), (x + 21.3, y2), cor=cor2, lw=1.1, cabeca=7)
            ax.text(x + 21.6, y2, t2, fontsize=TAM["nota"], va="center", color=CORES["tinta"] if ok else CORES["linha"],
                    fontweight="bold" if ok else "normal")
            ax.text(x + 34.5, y2, f"{formatar_numero(nivel1[t] * p2, 3)}{' ✓' if ok else ''}", fontsize=TAM["mini"],
                    va="center", ha="right", color=CORES["amarelo"] if ok else CORES["linha"],
                    fontweight="bold" if ok else "normal")
    ax.text(x + 34.5, y + 1.0, "nota = produto das probabilidades", ha="right", fontsize=TAM["mini"],
            va="center", color=CORES["suave"])
    return Figura("estrategias_decodificacao.png", fig)


# ----------------------------------------------------------------------------------------------------------------
# 12. Cabeça de classificação (capítulo 6)
# ----------------------------------------------------------------------------------------------------------------


def fig_cabeca_classificacao() -> Figura:
    """GPT congelado com o topo treinável e uma cabeça nova de 2 classes (spam / não spam)."""
    fig, ax = novo_quadro(11.4, 6.8, "Ajuste fino para classificação: trocar a cabeça do GPT",
                          "O GPT pré-treinado vira um classificador de SMS (spam / não spam). Congelamos quase tudo e "
                          "treinamos só o topo.")
    yc = 35.0
    palavras = ["Ganhe", "um", "prêmio", "!", "Responda", "SIM"]
    ax.text(8.0, yc + 17.5, "SMS (tokens)", ha="center", fontsize=TAM["nota"], fontweight="bold",
            color=CORES["azul"])
    for i, t in enumerate(palavras):
        celula(ax, 2.0, yc + 12.0 - i * 4.4, 12.0, 3.7, t, fundo=CORES["azul_claro"], borda=CORES["azul"],
               tam=TAM["nota"], mono=False)
    ax.add_artist(Rectangle((1.5, yc + 12.0 - 5 * 4.4 - 0.5), 13.0, 4.7, facecolor="none",
                           edgecolor=CORES["laranja"], lw=2.2, zorder=5))
    ax.text(8.0, yc + 12.0 - 5 * 4.4 - 1.3, "último token", ha="center", va="top", fontsize=TAM["mini"],
            color=CORES["laranja"], fontweight="bold")
    seta(ax, (14.3, yc), (17.3, yc), lw=1.5, cabeca=10)

    def estagio(x, w, txt, treina):
        forte = CORES["verde"] if treina else CORES["cinza"]
        caixa(ax, x, yc - 9.0, w, 18.0, txt, fundo=CORES["verde_claro"] if treina else CORES["cinza_claro"],
              borda=forte, lw=1.6 if treina else 1.2, tam=TAM["nota"], peso="bold",
              cor_texto=forte if treina else CORES["suave"])
        ax.text(x + w / 2, yc - 10.5, "✓ treina" if treina else "❄ congelado", ha="center", va="top",
                fontsize=TAM["mini"], color=forte, fontweight="bold")

    estagio(17.5, 13.0, "Embeddings\n(tokens +\nposições)", False)
    seta(ax, (30.7, yc), (33.3, yc), lw=1.5, cabeca=10)
    estagio(33.5, 14.0, "Blocos\n1 … N−1", False)
    seta(ax, (47.7, yc), (50.3, yc), lw=1.5, cabeca=10)
    estagio(50.5, 11.0, "Último\nbloco", True)
    seta(ax, (61.7, yc), (64.3, yc), lw=1.5, cabeca=10)
    estagio(64.5, 11.0, "Layer-\nNorm\nfinal", True)
    seta(ax, (75.7, yc), (78.3, yc), lw=1.5, cabeca=10)
    estagio(78.5, 12.0, "Cabeça\nnova\nd → 2", True)
    # a cabeça antiga, descartada
    vocab_gpt2 = formatar_numero(dados_gpt2()["cfg"]["vocab_size"])
    caixa(ax, 77.0, yc + 13.0, 15.0, 7.0, f"cabeça antiga\nd → V ({vocab_gpt2})", fundo="#ffffff",
          borda=CORES["linha"], tam=TAM["mini"], cor_texto=CORES["suave"], tracejada=True)
    ax.text(75.8, yc + 16.5, "✗", fontsize=16, color=CORES["vermelho"], va="center", ha="right", fontweight="bold")
    seta(ax, (84.5, yc + 12.8), (84.5, yc + 9.3), cor=CORES["vermelho"], lw=1.2, cabeca=9, tracejada=True)
    ax.text(83.6, yc + 11.0, "substituída", ha="right", va="center", fontsize=TAM["mini"], color=CORES["vermelho"])
    # logits por token
    seta(ax, (90.7, yc), (93.3, yc), lw=1.5, cabeca=10)
    ax.text(100.5, yc + 20.0, "logits (T × 2)", ha="center", fontsize=TAM["nota"], fontweight="bold")
    ax.text(97.0, yc + 16.7, "spam", ha="center", fontsize=TAM["mini"], color=CORES["suave"])
    ax.text(104.0, yc + 16.7, "não", ha="center", fontsize=TAM["mini"], color=CORES["suave"])
    L = np.random.default_rng(2).normal(0, 0.8, (6, 2))
    L[-1] = [2.9, -1.4]
    for i in range(6):
        yy = yc + 12.0 - i * 4.4
        ultimo = i == 5
        for j in range(2):
            celula(ax, 93.6 + j * 7.0, yy, 6.8, 3.7, formatar_numero(L[i, j], 1),
                   fundo=CORES["laranja_claro"] if ultimo else "#ffffff",
                   borda=CORES["laranja"] if ultimo else CORES["grade"], tam=TAM["mini"],
                   cor_texto=CORES["tinta"] if ultimo else CORES["linha"], peso="bold" if ultimo else "normal")
    pr = softmax(L[-1])
    caixa(ax, 92.5, 2.5, 20.0, 12.5, f"softmax\nspam {formatar_numero(pr[0], 2)}\nnão spam {formatar_numero(pr[1], 2)}",
          fundo=CORES["laranja_claro"], borda=CORES["laranja"], tam=TAM["nota"], peso="bold")
    seta(ax, (100.5, yc + 12.0 - 5 * 4.4 - 0.3), (100.5, 15.3), cor=CORES["laranja"], lw=1.4, cabeca=10)
    caixa(ax, 2.0, 2.5, 87.0, 12.5, fundo=CORES["papel"], borda=CORES["grade"])
    ax.text(3.5, 11.6, "Por que só o último token?", fontsize=TAM["texto"], fontweight="bold", va="center")
    ax.text(3.5, 6.9, "Com a máscara causal, só a última posição “viu” a mensagem inteira. A perda é a entropia\n"
            "cruzada entre esses 2 logits e o rótulo. Congelar: param.requires_grad = False.",
            fontsize=TAM["nota"], va="center", linespacing=1.3)
    return Figura("cabeca_classificacao.png", fig)


# ----------------------------------------------------------------------------------------------------------------
# 13. Modelo de instrução + máscara da perda (capítulo 7)
# ----------------------------------------------------------------------------------------------------------------

def largura_mono(fig, ax, tam: float) -> float:
    """Largura de um caractere da fonte monoespaçada em ``tam`` pontos, em unidades do quadro, medida pelo próprio
    matplotlib (o avanço é arredondado para pixels inteiros). Serve para escrever uma linha em pedaços de cores
    diferentes, cada um logo depois do outro."""
    n = 100
    t = ax.text(0, 0, "M" * n, fontsize=tam, family=FONTE_MONO)
    caixa_px = t.get_window_extent(fig.canvas.get_renderer())
    t.remove()
    (x0, _), (x1, _) = ax.transData.inverted().transform([(caixa_px.x0, 0), (caixa_px.x1, 0)])
    return (x1 - x0) / n


@functools.lru_cache(maxsize=None)
def dados_instrucao(n_colunas: int = 14) -> dict:
    """Um exemplo de verdade de ``instrucoes.json`` passado pelo código do capítulo 7.

    O exemplo é o primeiro do arquivo que tem entrada (para a figura mostrar as três seções). O texto vem de
    ``formatar_prompt`` e de ``DatasetInstrucoes`` (prompt + " " + resposta + ``<|endoftext|>``, decodificado); as
    tiras, de ``colar_instrucoes`` num lote com um segundo exemplo mais longo (para haver padding), com e sem
    ``mascarar_prompt``: as ``n_colunas`` últimas posições até 1 depois do primeiro ``<|endoftext|>``.
    """
    import inspect

    m, tok = modulo(), tokenizador()
    exemplos = json.loads(Path(m.ARQUIVO_INSTRUCOES).read_text(encoding="utf-8"))
    exemplo = next(e for e in exemplos if str(e.get("entrada") or "").strip())
    id_fim = m.id_fim_de_texto(tok)
    ids, n_prompt = m.DatasetInstrucoes([exemplo], tok, id_fim)[0]
    n = len(ids)
    outro = next(e for e in exemplos if len(m.DatasetInstrucoes([e], tok, id_fim)[0][0]) >= n + 3)
    dataset = m.DatasetInstrucoes([exemplo, outro], tok, id_fim)
    lote = [dataset[0], dataset[1]]
    entrada, alvo = m.colar_instrucoes(lote, id_fim)
    _, alvo_sem_prompt = m.colar_instrucoes(lote, id_fim, mascarar_prompt=True)
    ini = n - n_colunas + 1  # a janela mostrada vai até a posição n (a 1ª depois do fim): um padding
    fim = ini + n_colunas
    prompt = m.formatar_prompt(exemplo)
    texto = tok.decode(ids.tolist())
    if tok.decode(ids[:n_prompt].tolist()) != prompt or not texto.startswith(prompt):
        raise ValueError("Os ids do prompt não decodificam para o texto de formatar_prompt.")
    return {
        "exemplo": {k: exemplo[k] for k in ("instrucao", "entrada", "saida", "tarefa")},
        "exemplo_padding": {k: outro[k] for k in ("instrucao", "entrada", "saida", "tarefa")},
        "prompt": prompt,
        "resposta": texto[len(prompt):],
        "n_prompt": int(n_prompt),
        "n_tokens": n,
        "inicio": ini,
        "id_fim": id_fim,
        "ignorar": inspect.signature(m.colar_instrucoes).parameters["ignorar"].default,
        "entrada": entrada[0, ini:fim].tolist(),
        "deslocada": entrada[0, ini + 1:fim + 1].tolist(),  # tokens[1:] da sequência completada, antes do −100
        "alvo": alvo[0, ini:fim].tolist(),
        "alvo_sem_prompt": alvo_sem_prompt[0, ini:fim].tolist(),
        "rotulos": {i: texto_do_token(tok, i) for i in entrada[0, ini:fim + 1].tolist()},
    }


def rotulo_tira(texto: str) -> str:
    """Um token numa célula das tiras: espaço como ␣, quebra de linha como ↵ e <|endoftext|> abreviado."""
    return "<eot>" if texto == "<|endoftext|>" else mostrar_token(texto)


def _escrever_prompt(ax, linhas, x_txt, y_txt, passo_y, tam, largura) -> None:
    """As linhas do prompt em fonte monoespaçada, uma abaixo da outra: a 1ª (a frase de abertura) em cinza e os
    cabeçalhos ``### …:`` em azul e negrito. Cada pedaço leva o gid ``prompt:<linha>`` (os testes leem por ele)."""
    for i, t in enumerate(linhas):
        y = y_txt - i * passo_y
        if not t:
            continue
        if i == 0:
            pedacos = [(t, CORES["suave"], "normal")]
        elif t.startswith("###") and ":" in t:
            cab, resto = t.split(":", 1)
            pedacos = [(cab + ":", CORES["azul"], "bold"), (resto, CORES["tinta"], "normal")]
        else:
            pedacos = [(t, CORES["tinta"], "normal")]
        x = x_txt
        for pedaco, cor, peso in pedacos:
            if pedaco:
                ax.text(x, y, pedaco, fontsize=tam, family=FONTE_MONO, color=cor, fontweight=peso, va="center",
                        gid=f"prompt:{i}")
            x += len(pedaco) * largura


def fig_template_instrucao() -> Figura:
    """O modelo de prompt do capítulo 7 num exemplo real e a máscara −100 do alvo na função de collate."""
    d = dados_instrucao()
    ignorar = d["ignorar"]
    fig, ax = novo_quadro(11.4, 7.6, "Ajuste por instruções: o modelo de prompt e a máscara da perda",
                          "Cada exemplo {instrucao, entrada, saida} vira um texto no estilo Alpaca. Só a resposta "
                          "precisa entrar na perda.")
    # o texto do exemplo, como formatar_prompt o escreve, e a resposta logo depois
    caixa(ax, 2.0, 34.5, 58.0, 32.0, fundo=CORES["papel"], borda=CORES["grade"])
    tam = TAM["nota"]
    largura = largura_mono(fig, ax, tam)
    x_txt, y_txt, passo_y = 3.5, 62.0, 3.0
    linhas = d["prompt"].split("\n")
    _escrever_prompt(ax, linhas, x_txt, y_txt, passo_y, tam, largura)
    # a resposta: na mesma linha de "### Resposta:", depois de um espaço (fundo verde só no texto dela)
    y_resp = y_txt - (len(linhas) - 1) * passo_y
    x_resp = x_txt + len(linhas[-1]) * largura
    n_espacos = len(d["resposta"]) - len(d["resposta"].lstrip(" "))
    ax.add_artist(Rectangle((x_resp + n_espacos * largura - 0.3, y_resp - 1.35),
                            len(d["resposta"].strip()) * largura + 0.6, 2.7, facecolor=CORES["verde_claro"],
                            edgecolor=CORES["verde"], lw=1.0, zorder=2.5))
    ax.text(x_resp, y_resp, d["resposta"], fontsize=tam, family=FONTE_MONO, color=CORES["verde"], fontweight="bold",
            va="center", gid="resposta", zorder=3)
    ax.text(x_resp + len(d["resposta"]) * largura + 1.0, y_resp, "← resposta", fontsize=tam, color=CORES["verde"],
            va="center", fontweight="bold")
    ax.text(x_txt, 38.0, "A resposta vem na mesma linha de “### Resposta:”, depois de um espaço.",
            fontsize=TAM["mini"], color=CORES["suave"], va="center")
    bx, topo_p, base_p = 61.0, y_txt + 1.5, y_resp - 1.5
    ax.plot([bx, bx + 0.8, bx + 0.8, bx], [topo_p, topo_p, base_p, base_p], color=CORES["azul"], lw=1.5)
    ax.text(bx + 1.8, (topo_p + base_p) / 2 + 2.2, "prompt", fontsize=TAM["nota"], color=CORES["azul"],
            va="center", fontweight="bold")
    ax.text(bx + 1.8, (topo_p + base_p) / 2 - 1.6, "termina em\n“### Resposta:”", fontsize=TAM["mini"],
            color=CORES["azul"], va="center", linespacing=1.2)
    ax.text(3.5, 32.6, f"Exemplo de instrucoes.json (tarefa “{d['exemplo']['tarefa']}”), com formatar_prompt do "
            "capítulo 7. Sem entrada? A seção “### Entrada:” é omitida.", fontsize=TAM["mini"], color=CORES["suave"],
            va="center")
    # o que a função de collate faz
    caixa(ax, 75.0, 34.5, 37.5, 32.0, fundo="#ffffff", borda=CORES["grade"])
    ax.text(76.5, 63.6, "No lote (função de collate):", fontsize=TAM["texto"], fontweight="bold", va="center")
    itens = [
        "completa (padding) com <|endoftext|>\naté o maior exemplo do lote",
        "alvo = entrada deslocada de 1",
        f"{formatar_numero(ignorar, 0)} é o ignore_index da entropia\ncruzada: a posição fica fora da perda",
        f"padding vira {formatar_numero(ignorar, 0)}, menos o 1º\n<|endoftext|> (ensina a parar)",
        f"opcional: {formatar_numero(ignorar, 0)} também no prompt",
    ]
    yy = 60.2
    for i, t in enumerate(itens):
        ax.text(76.5, yy, f"{i + 1}.", fontsize=TAM["nota"], fontweight="bold", va="top", color=CORES["laranja"])
        ax.text(79.0, yy, t, fontsize=TAM["nota"], va="top", linespacing=1.2)
        yy -= 1.75 * (t.count("\n") + 1) + 1.9
    # as três tiras, com os tokens de verdade: entrada, alvo e alvo mascarado (saídas de colar_instrucoes)
    ini, n_prompt, n_tokens = d["inicio"], d["n_prompt"], d["n_tokens"]
    x0, cw = 15.0, 6.9

    def estilo(k, i):
        """Cores do token ``i`` na posição ``k`` da sequência: prompt (azul), resposta (verde), fim/padding."""
        t = rotulo_tira(d["rotulos"][i])
        if k >= n_tokens - 1:
            return t, CORES["cinza_claro"], CORES["linha"], CORES["suave"]
        if k >= n_prompt:
            return t, CORES["verde_claro"], CORES["verde"], CORES["tinta"]
        return t, CORES["azul_claro"], CORES["azul"], CORES["tinta"]

    def tira(y, titulo, sub, itens_, gid, tracejadas=(), mono=True):
        ax.text(2.0, y + 2.6, titulo, fontsize=TAM["nota"], fontweight="bold", va="center")
        ax.text(2.0, y + 0.5, sub, fontsize=TAM["mini"], va="center", color=CORES["suave"],
                family=FONTE_MONO if mono else FONTE)
        for i, (t, fundo, borda, cor) in enumerate(itens_):
            celula(ax, x0 + i * cw + 0.1, y, cw - 0.2, 3.8, t, fundo=fundo, borda=borda, tam=TAM["mini"],
                   cor_texto=cor, tracejada=i in tracejadas, gid=gid)

    y_x, y_y, y_m = 22.5, 15.5, 8.5
    ax.text(x0 + 0.3, y_x + 5.8, f"… {ini} tokens antes (o começo do prompt)", fontsize=TAM["mini"],
            color=CORES["suave"], va="center")
    ax.text(112.5, y_x + 5.8, "tokens do BPE do curso    <eot> = <|endoftext|>    ↵ = quebra de linha    "
            "␣ = espaço", fontsize=TAM["mini"], color=CORES["suave"], ha="right", va="center")
    tira(y_x, "entrada x", "tokens[:-1]", [estilo(ini + c, i) for c, i in enumerate(d["entrada"])], "entrada")
    tira(y_y, "alvo y", "tokens[1:]", [estilo(ini + c + 1, i) for c, i in enumerate(d["deslocada"])], "alvo")
    mascarado, opcionais, mantidos, padding = [], [], [], []
    for c, (sem, com) in enumerate(zip(d["alvo"], d["alvo_sem_prompt"], strict=True)):
        if sem == ignorar:  # padding: fora da perda sempre
            mascarado.append((formatar_numero(ignorar, 0), CORES["vermelho_claro"], CORES["vermelho"],
                              CORES["vermelho"]))
            padding.append(c)
        elif com == ignorar:  # prompt: fora da perda só com mascarar_prompt=True
            mascarado.append((formatar_numero(ignorar, 0), "#ffffff", CORES["suave"], CORES["suave"]))
            opcionais.append(c)
        else:
            t, fundo, _, cor = estilo(ini + c + 1, com)
            mascarado.append((t, fundo, CORES["verde"], cor))
            mantidos.append(c)
    tira(y_m, "alvo final", "o que vai à perda", mascarado, "alvo_final", tracejadas=opcionais, mono=False)
    primeiro_fim = max(mantidos)  # o 1º <|endoftext|> é o último alvo que fica
    ax.add_artist(Rectangle((x0 + primeiro_fim * cw, y_m - 0.25), cw, 4.3, facecolor="none",
                            edgecolor=CORES["laranja"], lw=2.4, zorder=6))
    for grupo, texto, cor in ((opcionais, f"prompt: {formatar_numero(ignorar, 0)} (opcional)", CORES["suave"]),
                              (mantidos, "resposta + 1º <eot>:\nentram na perda", CORES["verde"]),
                              (padding, f"padding: {formatar_numero(ignorar, 0)}", CORES["vermelho"])):
        if grupo:
            chave(ax, x0 + min(grupo) * cw + 0.1, x0 + (max(grupo) + 1) * cw - 0.1, y_m - 0.5, texto, lado="baixo",
                  cor=cor, tam=TAM["mini"], altura=0.7)
    return Figura("template_instrucao.png", fig, {k: d[k] for k in ("entrada", "deslocada", "alvo",
                                                                     "alvo_sem_prompt")})


# ----------------------------------------------------------------------------------------------------------------
# 14. LoRA (capítulo 8)
# ----------------------------------------------------------------------------------------------------------------


def fig_lora() -> Figura:
    """LoRA: W₀ congelado + correção de posto baixo B·A, com a conta de parâmetros."""
    d, r, alfa = 768, 8, 16
    cheio, lora = d * d, 2 * d * r
    fig, ax = novo_quadro(11.4, 6.8, "LoRA: congelar W₀ e treinar só uma correção de posto baixo",
                          f"Uma camada Linear d × d com d = {d} e posto r = {r} (r ≪ d). Fora de escala: na vida "
                          "real, A e B são bem mais finas.")
    yc = 33.0
    caixa(ax, 2.0, yc - 9.0, 6.0, 18.0, "x", fundo=CORES["azul_claro"], borda=CORES["azul"], tam=14, peso="bold",
          cor_texto=CORES["azul"])
    ax.text(5.0, yc - 10.3, "(…, d)", ha="center", va="top", fontsize=TAM["mini"], color=CORES["suave"])
    # caminho congelado
    wx, wy, ws = 20.0, 35.0, 20.0
    seta(ax, (8.3, yc + 3.0), (wx - 0.3, wy + ws / 2), lw=1.5, cabeca=10)
    caixa(ax, wx, wy, ws, ws, "W₀\n\nd × d\n❄ congelado", fundo=CORES["cinza_claro"], borda=CORES["cinza"], tam=12,
          peso="bold", cor_texto=CORES["suave"], raio=0.4)
    ax.text(wx + ws / 2, wy + ws + 0.9, f"{formatar_numero(cheio)} parâmetros", ha="center", fontsize=TAM["nota"],
            color=CORES["suave"])
    # caminho LoRA
    ay = 19.0
    seta(ax, (8.3, yc - 3.0), (19.7, ay + 2.5), lw=1.5, cabeca=10, cor=CORES["verde"])
    caixa(ax, 20.0, ay, 20.0, 5.0, "A  (r × d)", fundo=CORES["verde_claro"], borda=CORES["verde"], tam=TAM["nota"],
          peso="bold", cor_texto=CORES["verde"], raio=0.4)
    ax.text(30.0, ay - 0.7, "começa aleatória", ha="center", va="top", fontsize=TAM["mini"], color=CORES["suave"])
    seta(ax, (40.3, ay + 2.5), (44.7, ay + 2.5), lw=1.5, cabeca=10, cor=CORES["verde"])
    ax.text(42.5, ay + 3.4, "r", ha="center", fontsize=TAM["nota"], color=CORES["verde"], fontweight="bold")
    caixa(ax, 45.0, ay - 8.0, 5.0, 21.0, "B", fundo=CORES["verde_claro"], borda=CORES["verde"], tam=TAM["texto"],
          peso="bold", cor_texto=CORES["verde"], raio=0.4)
    ax.text(47.5, ay + 13.8, "(d × r)", ha="center", fontsize=TAM["mini"], color=CORES["verde"], fontweight="bold")
    ax.text(47.5, ay - 8.7, "começa em zero", ha="center", va="top", fontsize=TAM["mini"], color=CORES["suave"])
    caixa(ax, 55.0, ay - 0.5, 9.0, 6.0, "× α/r", fundo="#ffffff", borda=CORES["verde"], tam=TAM["nota"], peso="bold",
          cor_texto=CORES["verde"])
    seta(ax, (50.3, ay + 2.5), (54.8, ay + 2.5), lw=1.5, cabeca=10, cor=CORES["verde"])
    # soma e saída
    sx = 71.0
    soma(ax, sx, yc, r=1.8)
    seta(ax, (wx + ws + 0.3, wy + ws / 2), (sx - 1.4, yc + 1.2), lw=1.5, cabeca=10)
    seta(ax, (64.3, ay + 2.5), (sx - 0.6, yc - 1.8), lw=1.5, cabeca=10, cor=CORES["verde"])
    seta(ax, (sx + 2.0, yc), (76.7, yc), lw=1.5, cabeca=10)
    caixa(ax, 77.0, yc - 4.0, 6.5, 8.0, "h", fundo=CORES["azul_claro"], borda=CORES["azul"], tam=14, peso="bold",
          cor_texto=CORES["azul"])
    ax.text(56.0, 51.0, r"$h = W_0\,x + \frac{\alpha}{r}\,B\,A\,x$", fontsize=19, ha="center", va="center")
    ax.text(56.0, 45.5, "só A e B recebem gradiente", ha="center", fontsize=TAM["nota"], color=CORES["verde"],
            fontweight="bold")
    # contagem de parâmetros
    caixa(ax, 87.0, 12.0, 25.5, 46.0, fundo=CORES["papel"], borda=CORES["grade"])
    ax.text(99.75, 54.5, "parâmetros treináveis", ha="center", fontsize=TAM["texto"], fontweight="bold")
    ax.text(99.75, 51.5, "nesta camada", ha="center", fontsize=TAM["nota"], color=CORES["suave"])
    base, alt = 19.0, 27.0
    alt_lora = max(alt * lora / cheio, 0.6)
    ax.add_artist(Rectangle((90.5, base), 7.5, alt, facecolor=CORES["cinza"], edgecolor="none", zorder=3))
    ax.add_artist(Rectangle((101.5, base), 7.5, alt_lora, facecolor=CORES["verde"], edgecolor="none", zorder=3))
    ax.text(94.25, base + alt + 0.8, formatar_numero(cheio), ha="center", fontsize=TAM["nota"], fontweight="bold")
    ax.text(105.25, base + alt_lora + 0.8, f"{formatar_numero(lora)}\n({formatar_numero(100 * lora / cheio, 1)} %)",
            ha="center", fontsize=TAM["nota"], fontweight="bold", color=CORES["verde"], linespacing=1.2)
    ax.text(94.25, base - 0.8, "ajuste\ncompleto", ha="center", va="top", fontsize=TAM["mini"], linespacing=1.1)
    ax.text(105.25, base - 0.8, "LoRA\n2·d·r", ha="center", va="top", fontsize=TAM["mini"], linespacing=1.1)
    ax.text(2.0, 5.6, f"α = {alfa} → escala α/r = {alfa // r}. Como B começa em zero, no início o modelo é "
            "idêntico ao original.", fontsize=TAM["nota"], color=CORES["suave"], va="center")
    ax.text(2.0, 2.6, "Depois do treino dá para fundir W = W₀ + (α/r)·B·A: a inferência não fica mais lenta.",
            fontsize=TAM["nota"], color=CORES["suave"], va="center")
    return Figura("lora.png", fig)


# ----------------------------------------------------------------------------------------------------------------
# 15. KV cache (capítulo 8)
# ----------------------------------------------------------------------------------------------------------------


def fig_kv_cache() -> Figura:
    """Geração passo a passo sem cache e com KV cache."""
    toks = [mostrar_token(t) for t in dados_tokens()["tokens_longos"][:6]]
    n = 5
    fig, ax = novo_quadro(11.4, 6.6, "KV cache: não recalcular o que já foi calculado",
                          "Gerando 5 tokens, um por passo. Cada célula é o K e o V de um token (em cada camada).")
    cw, ch = 6.2, 4.0
    paineis = [(12.5, "Sem cache", "recalcula K e V de todos os tokens a cada passo", CORES["vermelho"]),
               (64.0, "Com KV cache", "calcula só o token novo; o resto vem do cache", CORES["verde"])]
    topo = 46.0
    for p, (x0, nome, sub, cor) in enumerate(paineis):
        ax.text(x0, topo + 9.0, nome, fontsize=TAM["rotulo"] + 1, fontweight="bold", color=cor, va="center")
        ax.text(x0, topo + 6.0, sub, fontsize=TAM["nota"], color=CORES["suave"], va="center")
        total = 0
        for t in range(n):
            y = topo - t * (ch + 1.5)
            if p == 0:
                ax.text(2.0, y + ch / 2, f"passo {t + 1}", fontsize=TAM["nota"], va="center", fontweight="bold")
            for i in range(t + 1):
                novo = p == 0 or i == t
                celula(ax, x0 + i * cw + 0.1, y, cw - 0.2, ch, toks[i],
                       fundo=CORES["laranja_claro"] if novo else CORES["azul_claro"],
                       borda=CORES["laranja"] if novo else CORES["azul"], tam=TAM["nota"])
            total += t + 1 if p == 0 else 1
            xs = x0 + (t + 1) * cw + 0.5
            seta(ax, (xs, y + ch / 2), (xs + 2.4, y + ch / 2), lw=1.2, cabeca=9)
            ax.text(xs + 2.8, y + ch / 2, toks[t + 1], fontsize=TAM["nota"], va="center", family=FONTE_MONO,
                    fontweight="bold")
            ax.text(x0 + 47.0, y + ch / 2, f"{t + 1 if p == 0 else 1} K,V", fontsize=TAM["nota"], va="center",
                    ha="right", color=cor)
        ax.text(x0 + 47.0, topo - n * (ch + 1.5) + 2.3, f"total: {total}", ha="right", fontsize=TAM["texto"],
                fontweight="bold", color=cor, va="center")
    ax.plot([61.5, 61.5], [18.0, 58.0], color=CORES["grade"], lw=1.5)
    caixa(ax, 2.0, 8.5, 110.5, 7.5, fundo=CORES["papel"], borda=CORES["grade"])
    ax.text(57.25, 13.6, "Mesmo resultado, bem menos conta: n(n+1)/2 → n cálculos de K e V (e só o Q do token novo).",
            ha="center", va="center", fontsize=TAM["nota"])
    ax.text(57.25, 10.6, "O preço é memória: 2 × camadas × tokens × d_model valores guardados por sequência.",
            ha="center", va="center", fontsize=TAM["nota"], color=CORES["suave"])
    celula(ax, 2.0, 2.5, 4.0, 3.0, fundo=CORES["laranja_claro"], borda=CORES["laranja"])
    ax.text(6.8, 4.0, "K e V calculados neste passo", fontsize=TAM["nota"], va="center")
    celula(ax, 36.0, 2.5, 4.0, 3.0, fundo=CORES["azul_claro"], borda=CORES["azul"])
    ax.text(40.8, 4.0, "lidos do cache", fontsize=TAM["nota"], va="center")
    ax.text(58.0, 4.0, "→ token gerado no passo", fontsize=TAM["nota"], va="center")
    return Figura("kv_cache.png", fig)


# ----------------------------------------------------------------------------------------------------------------
# 16. Linha do tempo dos modelos de linguagem (capítulo 4)
# ----------------------------------------------------------------------------------------------------------------

#: Famílias e ideias da linha do tempo, com a cor de cada uma (a legenda sai daqui, na mesma ordem).
FAMILIAS_TEMPO = {
    "arquitetura": "roxo",
    "só encoder": "azul",
    "só decoder": "laranja",
    "encoder-decoder": "verde",
    "escala": "amarelo",
    "instruções e alinhamento": "agua",
    "raciocínio": "vermelho",
}

#: Os marcos, em ordem: (ano, mês, nome, família, o que trouxe). A data é a do primeiro anúncio público (artigo no
#: arXiv ou post do laboratório); os números são os dos próprios artigos.
LINHA_DO_TEMPO = [
    (2017, 6, "Transformer", "arquitetura",
     "Vaswani et al., “Attention Is All You Need”: só atenção, sem recorrência (tradução)"),
    (2018, 6, "GPT-1", "só decoder",
     "OpenAI: 117 M de parâmetros; pré-treino em livros + ajuste fino para cada tarefa"),
    (2018, 10, "BERT", "só encoder",
     "Google: 110 M e 340 M; aprende a preencher palavras mascaradas; ótimo para classificar"),
    (2019, 2, "GPT-2", "só decoder",
     "OpenAI: 1,5 B de parâmetros, 40 GB de texto da web; faz tarefas sem ajuste (zero-shot)"),
    (2019, 10, "T5", "encoder-decoder",
     "Google: toda tarefa vira “texto → texto”; até 11 B de parâmetros"),
    (2020, 1, "Leis de escala", "escala",
     "Kaplan et al.: a perda cai como lei de potência em parâmetros, dados e computação"),
    (2020, 5, "GPT-3", "só decoder",
     "OpenAI: 175 B de parâmetros; aprende pelos exemplos do prompt (few-shot), sem mudar os pesos"),
    (2021, 9, "FLAN", "instruções e alinhamento",
     "Google: ajuste por instruções em dezenas de tarefas → segue instruções que nunca viu"),
    (2022, 1, "InstructGPT", "instruções e alinhamento",
     "OpenAI: instruções + RLHF (reforço a partir de preferências humanas)"),
    (2022, 3, "Chinchilla", "escala",
     "DeepMind: no mesmo orçamento, modelo menor e mais dados: ~20 tokens por parâmetro"),
    (2022, 11, "ChatGPT", "instruções e alinhamento",
     "OpenAI: a receita do InstructGPT numa conversa aberta ao público"),
    (2023, 2, "LLaMA", "só decoder",
     "Meta: 7 B a 65 B, só com dados públicos; pesos liberados para pesquisa"),
    (2023, 12, "Mixtral 8x7B", "arquitetura",
     "Mistral AI: mistura de especialistas (MoE), 2 de 8 por token: ~13 B ativos de ~47 B"),
    (2024, 9, "o1", "raciocínio",
     "OpenAI: gera uma longa cadeia de raciocínio antes de responder"),
    (2025, 1, "DeepSeek-R1", "raciocínio",
     "DeepSeek: raciocínio aprendido por reforço com respostas verificáveis; pesos abertos"),
]

MESES = ["jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"]


def fig_linha_do_tempo() -> Figura:
    """Linha do tempo vertical: do Transformer (2017) aos modelos de raciocínio, colorida por família."""
    n = len(LINHA_DO_TEMPO)
    passo = 4.3
    altura = 10.5 + n * passo + 8.0
    fig, ax = novo_quadro(11.4, altura / 10, "De 2017 a hoje: a linha do tempo dos modelos de linguagem",
                          "Datas do primeiro anúncio público (artigo ou post). Este curso reconstrói em miniatura "
                          "o GPT (só decoder), o ajuste por instruções e o MoE.")
    topo = altura - 12.5
    y_de = {i: topo - i * passo for i in range(n)}
    anos = sorted({a for a, *_ in LINHA_DO_TEMPO})
    for k, ano in enumerate(anos):  # faixas alternadas, uma por ano
        linhas = [i for i, m in enumerate(LINHA_DO_TEMPO) if m[0] == ano]
        y0, y1 = y_de[linhas[-1]] - passo / 2, y_de[linhas[0]] + passo / 2
        ax.add_artist(Rectangle((1.5, y0), 111.0, y1 - y0, facecolor=CORES["papel"] if k % 2 == 0 else "#ffffff",
                                edgecolor="none", zorder=0))
        ax.text(3.0, (y0 + y1) / 2, str(ano), fontsize=TAM["rotulo"] + 1, fontweight="bold", color=CORES["linha"],
                va="center", gid="ano")
    linha(ax, [17.5, 17.5], [y_de[n - 1], y_de[0]], cor=CORES["linha"], lw=2.0)
    for i, (ano, mes, nome, familia, texto) in enumerate(LINHA_DO_TEMPO):
        y = y_de[i]
        cor = CORES[FAMILIAS_TEMPO[familia]]
        ax.text(15.5, y, f"{MESES[mes - 1]}/{ano}", fontsize=TAM["nota"], ha="right", va="center",
                color=CORES["suave"], gid="data")
        circulo(ax, 17.5, y, 0.9, "", cor)
        ax.text(20.0, y, nome, fontsize=TAM["rotulo"], fontweight="bold", va="center", color=cor, gid="nome")
        ax.text(39.0, y, texto, fontsize=TAM["nota"], va="center", color=CORES["tinta"], gid="descricao")
    x = 3.0
    for familia, cor in FAMILIAS_TEMPO.items():  # legenda
        circulo(ax, x + 0.8, 3.5, 0.8, "", CORES[cor])
        ax.text(x + 2.3, 3.5, familia, fontsize=TAM["nota"], va="center", gid="familia")
        x += 4.0 + 0.78 * len(familia)
    return Figura("linha_do_tempo.png", fig, {"marcos": LINHA_DO_TEMPO, "familias": FAMILIAS_TEMPO})



# ----------------------------------------------------------------------------------------------------------------
# 17. O gargalo do encoder-decoder recorrente e a atenção de Bahdanau (capítulo 3)
# ----------------------------------------------------------------------------------------------------------------


def fig_gargalo_rnn() -> Figura:
    """Encoder-decoder recorrente (tudo no último estado) contra a atenção aditiva sobre todos os estados."""
    entrada = ["Capitu", "tinha", "olhos", "de", "ressaca"]
    saida = ["Capitu", "had", "undertow", "eyes"]
    alvo = 3  # a saída desenhada com atenção: "eyes"
    alfas = softmax(np.array([-1.0, -1.2, 2.2, -0.4, 0.6]))  # pesos de brinquedo, calculados aqui
    fig, ax = novo_quadro(11.4, 7.6, "Por que atenção? O gargalo do vetor fixo",
                          "Traduzir “Capitu tinha olhos de ressaca”: em cima, só o último estado chega ao decoder; "
                          "embaixo, a atenção de Bahdanau.")
    w, h, dx = 8.5, 5.0, 10.5
    x0 = 4.0
    xd = x0 + len(entrada) * dx + 8.0  # onde começa o decoder

    def encoder(y, destaque_final):
        for j, palavra in enumerate(entrada):
            x = x0 + j * dx
            ax.text(x + w / 2, y - 2.0, palavra, ha="center", va="top", fontsize=TAM["nota"], color=CORES["azul"],
                    gid="entrada")
            seta(ax, (x + w / 2, y - 1.8), (x + w / 2, y), cor=CORES["azul"], lw=1.2, cabeca=8)
            final = destaque_final and j == len(entrada) - 1
            caixa(ax, x, y, w, h, f"h{j + 1}", fundo=CORES["laranja_claro"] if final else CORES["azul_claro"],
                  borda=CORES["laranja"] if final else CORES["azul"], tam=TAM["texto"], mono=True)
            if j:
                seta(ax, (x - dx + w, y + h / 2), (x, y + h / 2), cor=CORES["azul"], lw=1.4, cabeca=9)

    def decoder(y, destaque=None):
        for i, palavra in enumerate(saida):
            x = xd + i * dx
            ativo = destaque in (None, i)
            cor = CORES["verde"] if ativo else CORES["linha"]
            caixa(ax, x, y, w, h, f"s{i + 1}", fundo=CORES["verde_claro"] if ativo else "#ffffff", borda=cor,
                  tam=TAM["texto"], mono=True)
            if ativo:
                seta(ax, (x + w / 2, y + h), (x + w / 2, y + h + 1.8), cor=cor, lw=1.2, cabeca=8)
                ax.text(x + w / 2, y + h + 2.0, palavra, ha="center", va="bottom", fontsize=TAM["nota"], color=cor,
                        gid="saida")
            if i:
                seta(ax, (x - dx + w, y + h / 2), (x, y + h / 2), cor=CORES["verde"], lw=1.4, cabeca=9)

    # em cima: o vetor fixo
    y1 = 47.0
    ax.text(2.0, 64.0, "1. Encoder-decoder recorrente (RNN/LSTM, 2014)", fontsize=TAM["rotulo"], fontweight="bold",
            va="center")
    encoder(y1, destaque_final=True)
    seta(ax, (x0 + (len(entrada) - 1) * dx + w, y1 + h / 2), (xd, y1 + h / 2), cor=CORES["laranja"], lw=2.6,
         cabeca=12)
    ax.text(x0 + len(entrada) * dx + 5.0, y1 - 1.2, "h_T: a frase inteira\nnum vetor fixo", ha="center", va="top",
            fontsize=TAM["mini"], color=CORES["laranja"], fontweight="bold", linespacing=1.1)
    decoder(y1)
    ax.text(2.0, y1 - 8.0, "O decoder só conhece h_T: o que entrou primeiro (“Capitu”, “tinha”) foi reescrito por "
            "tudo o que veio depois,\ne uma frase de 50 palavras tem de caber no mesmo vetor que uma de 5.",
            fontsize=TAM["nota"], va="center", color=CORES["suave"], linespacing=1.3)

    # embaixo: a atenção
    y2 = 11.0
    ax.text(2.0, 31.0, "2. Com atenção aditiva (Bahdanau, Cho e Bengio, 2014)", fontsize=TAM["rotulo"],
            fontweight="bold", va="center")
    encoder(y2, destaque_final=False)
    decoder(y2, destaque=alvo)
    xs = xd + alvo * dx
    xc, yc = xs - 9.0, y2 + h + 10.0
    caixa(ax, xc - 4.0, yc - 2.2, 8.0, 4.4, "c4", fundo=CORES["amarelo_claro"], borda=CORES["amarelo"],
          tam=TAM["texto"], mono=True)
    ax.text(xc + 4.6, yc + 1.2, "c4 = Σ α_j h_j", fontsize=TAM["nota"], va="bottom", color=CORES["amarelo"],
            fontweight="bold")
    seta(ax, (xc + 4.0, yc - 1.0), (xs + 1.5, y2 + h), cor=CORES["amarelo"], lw=1.6, cabeca=9)
    for j, alfa in enumerate(alfas):
        x = x0 + j * dx + w / 2
        ax.plot([x, xc - 4.0], [y2 + h, yc], color=CORES["amarelo"], lw=0.6 + 7.0 * alfa, alpha=0.85, zorder=1,
                solid_capstyle="round")
        ax.text(x - 3.6, y2 + h + 1.0, f"α = {formatar_numero(alfa, 2)}", fontsize=TAM["mini"], color=CORES["amarelo"],
                ha="left", va="bottom", fontweight="bold" if alfa == alfas.max() else "normal", gid="alfa")
    ax.text(2.0, 3.0, "Para escrever “eyes”, o decoder pontua cada estado com e_j = vᵀ tanh(W_q s₃ + W_k h_j), o "
            "softmax transforma\nos escores em pesos α_j (aqui, de brinquedo) e o contexto c4 é a média ponderada "
            "de todos os estados.", fontsize=TAM["nota"], va="center", color=CORES["suave"], linespacing=1.3)
    return Figura("gargalo_rnn.png", fig, {"alfas": alfas})


# ----------------------------------------------------------------------------------------------------------------
# Ponto de entrada
# ----------------------------------------------------------------------------------------------------------------

FIGURAS = [
    fig_pipeline_tokens,
    fig_fusoes_bpe,
    fig_janela_deslizante,
    fig_embeddings,
    fig_atencao_qkv,
    fig_mascara_causal,
    fig_multi_cabeca,
    fig_bloco_transformer,
    fig_pilha_gpt,
    fig_laco_treinamento,
    fig_estrategias_decodificacao,
    fig_cabeca_classificacao,
    fig_template_instrucao,
    fig_lora,
    fig_kv_cache,
    fig_linha_do_tempo,
    fig_gargalo_rnn,
]


def desenhar(funcao) -> Figura:
    """Desenha uma figura (sem gravar) com o estilo do curso. Quem chama fecha a figura (``plt.close``)."""
    with plt.rc_context(ESTILO):
        return funcao()


def gerar_todas(pasta=None, otimizar: bool = True) -> list[Path]:
    """Gera todas as figuras em ``pasta`` (padrão: a pasta deste script) e devolve os caminhos."""
    pasta = Path(pasta) if pasta is not None else Path(__file__).resolve().parent
    pasta.mkdir(parents=True, exist_ok=True)
    caminhos = []
    with plt.rc_context(ESTILO):
        for funcao in FIGURAS:
            caminhos.append(salvar(funcao(), pasta, otimizar=otimizar))
    return caminhos


def main(argv=None) -> int:
    """Ponto de entrada da linha de comando: ``python gerar.py [PASTA_DE_SAIDA]``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1 or (argv and argv[0] in ("-h", "--help")):
        print("Uso: python infograficos/gerar.py [PASTA_DE_SAIDA]")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    gerar_todas(argv[0] if argv else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
