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
