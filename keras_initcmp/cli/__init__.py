"""The command line, `keras-initcmp`: `args` (its grammar: argument types and the
parser) and `commands` (what each command does; `main` is the console script). The
only modules of the package that print.
"""

from keras_initcmp.cli.commands import main

__all__ = ["main"]
