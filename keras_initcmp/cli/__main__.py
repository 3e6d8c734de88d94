"""`python -m keras_initcmp.cli`: the console script `keras-initcmp`, where it is not on PATH."""

import sys

from keras_initcmp.cli.commands import main

sys.exit(main())
