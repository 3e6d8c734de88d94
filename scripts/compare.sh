#!/usr/bin/env bash
# Set up .venv if needed (like test.sh, without test extras), then run the article's
# comparison into logs/: circles (4 schemes x 3 seeds), then probe for tanh and relu.
# Arguments go to every command: ./scripts/compare.sh --overwrite --jobs 2 --logdir /tmp/x
KERAS_INITCMP_EXTRAS=
source "$(dirname "$0")/_venv.sh"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
# TensorFlow's C++ start-up lines (absl format: "I0000 00:00:..." and its preamble)
# ignore TF_CPP_MIN_LOG_LEVEL; drop them so that errors and warnings stand out.
exec 2> >(grep --line-buffered -v -E '^(WARNING: All log messages before absl::InitializeLog|[IWE][0-9]{4} [0-9:.]+ +[0-9]+ [a-z_0-9]+\.cc:[0-9]+\])' >&2)

logdir=logs
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --logdir) logdir=${args[i + 1]:-logs} ;;
    --logdir=*) logdir=${args[i]#--logdir=} ;;
  esac
done

run() { echo; echo "\$ keras-initcmp $*"; .venv/bin/keras-initcmp "$@"; }
run compare --experiment circles --seeds 3 "$@"
run probe --activation tanh "$@"
run probe --activation relu "$@"
# The article's figures (PNG + report.md next to each results.json, and TensorBoard's Images tab).
for experiment in circles probe-tanh probe-relu; do run report "$logdir/$experiment"; done
echo
echo "All three experiments in one TensorBoard:  .venv/bin/tensorboard --logdir $logdir"
