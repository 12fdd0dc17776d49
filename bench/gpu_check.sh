#!/usr/bin/env bash
# One GPU check (issue 10), in one go, about ten minutes on one GPU: full-size random-weights turbo at
# 30/60/240 s and batch 1/4/8, bf16 vs fp32 on the tiny model, VAE tiling, compile with the warm-up, CPU
# offload; peak VRAM and real-time factor; one table. Needs no hub access.
#
#   bench/gpu_check.sh                    # on a GPU machine (cuda); --markdown FILE also writes the table
#   bench/gpu_check.sh --dry-run          # CPU, tiny model, tiny sizes: every row, quickly (tests run this)
#
# PYTHON picks the interpreter (default: the repository's .venv, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
exec "$PYTHON" bench/gpu_check.py "$@"
