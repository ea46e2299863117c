"""Configuração comum dos testes: modo rápido e dados locais.

As variáveis de ambiente definidas aqui valem para os testes e também para os kernels que o nbval abre
para executar os notebooks.
"""
import os
from pathlib import Path

os.environ["LLM_DO_ZERO_RAPIDO"] = "1"
_dados_vizinhos = Path(__file__).resolve().parent.parent / "shared" / "dados"
if "LLM_DO_ZERO_DADOS" not in os.environ and _dados_vizinhos.is_dir():
    os.environ["LLM_DO_ZERO_DADOS"] = str(_dados_vizinhos)
