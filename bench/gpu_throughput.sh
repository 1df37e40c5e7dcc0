#!/usr/bin/env bash
# Batched vs one-at-a-time generation on a GPU, with a Llama-shaped random model (see
# bench/generation_throughput.py). Run from the repository root on a machine with torch and
# transformers; the synthetic workspace is built beforehand, where the kit's venv is:
#
#   .venv/bin/python bench/generation_throughput.py --workdir bench/out/gpu-ws --prepare-only
#   OUT=/tmp/gpu bench/gpu_throughput.sh                      # on the GPU machine
#
# Extra arguments go to generation_throughput.py (e.g. --hidden-size 64 --device cpu to try it).
set -uo pipefail
PY=${PY:-python3}
OUT=${OUT:?set OUT to the folder for the report}
LIMIT=${LIMIT:-380}
export PYTHONPATH=. HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"
{
  nvidia-smi -L || echo "no nvidia-smi"
  "$PY" -c 'import platform, torch, transformers; print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
} 2>&1 | tee "$OUT/versions.txt"
timeout "$LIMIT" "$PY" bench/generation_throughput.py --workdir bench/out/gpu-ws \
  --tasks medisumqa,mednli,meqsum,problem_summary --device cuda --dtype bfloat16 \
  --hidden-size 2048 --layers 8 --head-dim 128 --vocab 1000 --skip-overhead \
  --json "$OUT/gpu_throughput.json" "$@" 2>&1 | tee "$OUT/gpu_log.txt"
