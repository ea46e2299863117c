"""O que os scripts do capítulo 8 (``ddp_pretreino.py``, ``servidor.py``, ``desempenho.py``) têm em comum na linha de
comando: um ``argparse`` que explica os erros em português e o tipo "inteiro >= 1" dos argumentos."""
import argparse
import sys

#: Trechos das mensagens de erro do ``argparse`` (em inglês) e a tradução que mostramos.
TRADUCOES = {
    "unrecognized arguments": "argumentos desconhecidos",
    "expected one argument": "esperava um valor",
    "invalid choice": "opção inválida",
    "choose from": "escolha entre",
    "the following arguments are required": "faltam os argumentos",
}


class ParserPT(argparse.ArgumentParser):
    """``ArgumentParser`` que explica os erros em português (e sai com código 2, como o original)."""

    def error(self, message):
        for ingles, portugues in TRADUCOES.items():
            message = message.replace(ingles, portugues)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: erro: {message}\n")


def inteiro_positivo(texto: str) -> int:
    """Tipo de argumento do ``argparse``: um inteiro >= 1, com o erro explicado em português."""
    try:
        valor = int(texto)
    except ValueError:
        raise argparse.ArgumentTypeError(f"esperava um número inteiro, recebi {texto!r}") from None
    if valor < 1:
        raise argparse.ArgumentTypeError(f"precisa ser um inteiro >= 1, recebi {valor}")
    return valor
