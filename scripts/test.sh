#!/usr/bin/env bash
# Set up .venv if needed (installs the package with its test extra), then run pytest.
# Arguments go to pytest: ./scripts/test.sh -k initializers -x
KERAS_INITCMP_EXTRAS=test
source "$(dirname "$0")/_venv.sh"
exec .venv/bin/python -m pytest "$@"
