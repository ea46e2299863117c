"""O que os scripts do capítulo 8 (``ddp_pretreino.py``, ``servidor.py``, ``desempenho.py``) têm em comum na linha de
comando: um ``argparse`` que explica os erros em português e o tipo "inteiro >= 1" dos argumentos."""
import argparse
import sys

#: Trechos das mensagens de erro do ``argparse`` (em inglês) e a tradução que mostramos.
#: Os trechos mais específicos vêm antes dos genéricos ("argument " é o último).
TRADUCOES = {
    "unrecognized arguments": "argumentos desconhecidos",
    "expected one argument": "esperava um valor",
    "expected at most one argument": "esperava no máximo um valor",
    "expected at least one argument": "esperava ao menos um valor",
    "ignored explicit argument": "valor ignorado",
    "not allowed with argument": "não pode vir junto com o argumento",
    "one of the arguments": "um dos argumentos",
    "is required": "é obrigatório",
    "ambiguous option": "opção ambígua",
    "could match": "pode ser",
    "invalid choice": "opção inválida",
    "choose from": "escolha entre",
    "the following arguments are required": "faltam os argumentos",
    "argument ": "argumento ",
}


class _FormatadorPT(argparse.HelpFormatter):
    """O formatador da ajuda com "uso:" no lugar de "usage:"."""

    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, "uso: " if prefix is None else prefix)


class ParserPT(argparse.ArgumentParser):
    """``ArgumentParser`` que explica os erros em português (e sai com código 2, como o original).

    A ajuda (``-h``/``--help``) também sai em português: "uso:", "opções:" e "mostra esta ajuda e sai".
    """

    def __init__(self, *args, add_help: bool = True, **kwargs):
        kwargs.setdefault("formatter_class", _FormatadorPT)
        super().__init__(*args, add_help=False, **kwargs)
        self._positionals.title = "argumentos posicionais"
        self._optionals.title = "opções"
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="mostra esta ajuda e sai")

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
