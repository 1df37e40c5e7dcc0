#!/usr/bin/env bash
# Continuous vs padded batching vs one prompt at a time on a GPU (bench/generation_throughput.py),
# with a ~1B-parameter Llama-shaped random model in bfloat16: hidden 2048, 20 layers, heads of 128,
# MLP 5632 (about 1.03 B parameters with the 1,000-token vocabulary). Prepared, NOT RUN: no GPU was
# lent to the session that wrote it. The synthetic workspace is built beforehand, where the kit's
# venv is (it needs the data-building dependencies):
#
#   .venv/bin/python bench/generation_throughput.py --workdir bench/out/gpu-ws --prepare-only --longhealth-words 2000
#   OUT=/tmp/gpu bash bench/gpu_continuous.sh                  # on the GPU machine
#
# LongHealth's prompts are filled to the protocol's 8,140-token budget (texts of 2,000 words,
# --max-position 10240).
# bfloat16 rounding differs between a padded batch and one prompt alone, so "identical" may be
# False there; the speed-ups are what this run is for. Extra arguments go to the Python script.
set -uo pipefail
PY=${PY:-python3}
OUT=${OUT:?set OUT to the folder for the report}
LIMIT=${LIMIT:-540}
export PYTHONPATH=. HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"
{
  nvidia-smi -L || echo "no nvidia-smi"
  "$PY" -c 'import platform, torch, transformers; print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
} 2>&1 | tee "$OUT/versions.txt"
timeout "$LIMIT" "$PY" bench/generation_throughput.py --workdir bench/out/gpu-ws \
  --tasks medisumqa,longhealth,mednli,meqsum,problem_summary --device cuda --dtype bfloat16 \
  --hidden-size 2048 --layers 20 --head-dim 128 --intermediate-size 5632 --vocab 1000 --max-position 10240 \
  --longhealth-words 2000 --prompts 32 --modes padded,continuous,continuous-alone --skip-overhead \
  --json "$OUT/gpu_continuous.json" "$@" 2>&1 | tee "$OUT/gpu_log.txt"
