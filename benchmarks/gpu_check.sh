#!/usr/bin/env bash
# The GPU path in one run of under 5 minutes on one GPU; writes benchmarks/results/gpu_check.json.
# What it measures: benchmarks/gpu_check.py (its docstring). No GPU was lent to the sessions that
# wrote this script: it has been run only as --dry-run (every stage at tiny size on the CPU).
#   bash benchmarks/gpu_check.sh                       # on a machine with 1 or 2 GPUs
#   bash benchmarks/gpu_check.sh --dry-run --out /tmp/gpu_check_dry.json
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python}"
# this checkout's package, before any installed copy
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
cd "$repo"
# the whole check is bounded: a stage that hangs (a collective waiting for a lost process) ends it
exec timeout --signal=TERM "${GPU_CHECK_TIMEOUT_S:-300}" "$python" benchmarks/gpu_check.py "$@"
