# Sourced by test.sh and compare.sh: make .venv (Python 3.10+) and install the
# package with the extras in $KERAS_INITCMP_EXTRAS, only when the packaging changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python_bin=${PYTHON:-python3}
if ! command -v "$python_bin" >/dev/null 2>&1; then
  echo "error: $python_bin not found; install Python 3.10 or newer (or set PYTHON=/path/to/python3)" >&2
  exit 2
fi
if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "error: keras-initcmp needs Python 3.10 or newer; $python_bin is $("$python_bin" -V 2>&1)" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $("$python_bin" -V 2>&1) ..."
  "$python_bin" -m venv .venv
fi

extras=${KERAS_INITCMP_EXTRAS:-}
hash=$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)
stamp=".venv/.installed-$hash${extras:+-$extras}"
# An install with extras also serves a plain one.
if [ ! -f "$stamp" ] && ! { [ -z "$extras" ] && compgen -G ".venv/.installed-$hash*" >/dev/null; }; then
  echo "Installing keras-initcmp${extras:+[$extras]} into .venv (first run or packaging changed) ..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  if [[ "$extras" == *test* || "$extras" == *torch* ]] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # The CPU build first (what the tests use): PyPI's default Linux wheel of torch
    # brings several GB of CUDA libraries. Override with KERAS_INITCMP_TORCH=torch.
    .venv/bin/python -m pip install --quiet "${KERAS_INITCMP_TORCH:-torch==2.13.0}"
  fi
  .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
  find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-$hash*" -delete
  touch "$stamp"
fi
