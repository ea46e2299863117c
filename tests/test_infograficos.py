"""Os infográficos são gerados por código: o script os refaz todos, e cada figura é usada em algum texto."""
import subprocess
import sys

import pytest

from conftest import RAIZ

PASTA = RAIZ / "infograficos"
FIGURAS = sorted(PASTA.glob("*.png"))


def test_ha_figuras_e_script():
    assert (PASTA / "gerar.py").is_file() and FIGURAS


def test_script_regenera_todas_as_figuras(tmp_path):
    from PIL import Image

    r = subprocess.run([sys.executable, str(PASTA / "gerar.py"), str(tmp_path)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    geradas = sorted(p.name for p in tmp_path.glob("*.png"))
    assert geradas == [p.name for p in FIGURAS], "o script e a pasta infograficos/ têm figuras diferentes"
    for figura in FIGURAS:
        with Image.open(figura) as a, Image.open(tmp_path / figura.name) as b:
            assert a.size == b.size, f"{figura.name}: a figura commitada não é a que o script gera"


@pytest.mark.parametrize("figura", FIGURAS, ids=lambda p: p.name)
def test_figura_e_referenciada(figura):
    textos = [p.read_text(encoding="utf-8") for p in RAIZ.glob("0[1-8]-*/*.md")]
    textos += [p.read_text(encoding="utf-8") for p in RAIZ.glob("0[1-8]-*/notebook*.ipynb")]
    assert any(f"infograficos/{figura.name}" in t for t in textos), f"{figura.name} não é usada em nenhum capítulo"
