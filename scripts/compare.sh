#!/usr/bin/env bash
# Set up .venv if needed (like test.sh, without test extras), then run the article's
# comparison into logs/: circles (4 schemes x 3 seeds), then probe for tanh and relu,
# and a report of each. Arguments go to the compare and probe commands:
# ./scripts/compare.sh --overwrite --jobs 2 --logdir /tmp/x
KERAS_INITCMP_EXTRAS=
source "$(dirname "$0")/_venv.sh"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
# TensorFlow's C++ start-up lines (absl format: "I0000 00:00:..." and its preamble)
# ignore TF_CPP_MIN_LOG_LEVEL; drop them so that errors and warnings stand out.
exec 2> >(grep --line-buffered -v -E '^(WARNING: All log messages before absl::InitializeLog|[IWE][0-9]{4} [0-9:.]+ +[0-9]+ [a-z_0-9]+\.cc:[0-9]+\])' >&2)

# One process for the whole comparison (TensorFlow starts once): the commands of
# keras_initcmp.cli.ARTICLE, then a report of each.
exec .venv/bin/keras-initcmp article "$@"
