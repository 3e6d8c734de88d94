#!/usr/bin/env bash
# Set up .venv if needed (like test.sh, without test extras), then regenerate
# docs/images/tensorboard-*.png: run the article's comparison into a temporary logdir,
# serve it with TensorBoard on 127.0.0.1 and screenshot each view with headless Chromium
# (apt-get install chromium chromium-driver). Arguments go to scripts/screenshots.py:
#   ./scripts/screenshots.sh --steps 3000     a shorter circles run
#   ./scripts/screenshots.sh --logdir logs    pictures of existing logs, no runs
KERAS_INITCMP_EXTRAS=
source "$(dirname "$0")/_venv.sh"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python scripts/screenshots.py "$@"
