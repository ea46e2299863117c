"""Configuração comum dos testes: modo rápido e dados locais.

As variáveis de ambiente definidas aqui valem para os testes e também para os kernels que o nbval abre
para executar os notebooks.
"""
import os
from pathlib import Path

os.environ["LLM_DO_ZERO_RAPIDO"] = "1"
os.environ["LLM_DO_ZERO_SEM_BARRA"] = "1"  # barras de progresso viram uma linha de resumo
_dados_vizinhos = Path(__file__).resolve().parent.parent / "shared" / "dados"
if "LLM_DO_ZERO_DADOS" not in os.environ and _dados_vizinhos.is_dir():
    os.environ["LLM_DO_ZERO_DADOS"] = str(_dados_vizinhos)

#: Tempos de relógio nas saídas fixadas com # NBVAL_CHECK_OUTPUT (veja o arquivo): o nbval os ignora ao comparar.
SANITIZAR = Path(__file__).resolve().parent / "ferramentas" / "nbval_sanitizar.cfg"


def pytest_configure(config):
    # pelo caminho absoluto, e não no addopts do pyproject.toml: funciona de qualquer pasta em que o pytest rodar
    if getattr(config.option, "nbval_sanitize_with", "ausente") is None:
        config.option.nbval_sanitize_with = str(SANITIZAR)
