#!/usr/bin/env bash
# There (the device machine, one H200): issue 15 part 6 as one prepared run, about 4 minutes.
#   here:  bash benchmarks/gpu_wheels.sh
#   there: run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=540)
# It builds the SD-1.5 inpainting architecture with random weights once, then measures:
#   1. diffusion_text generation, bf16, 512², 30 steps, batch 8, against the FLOP bound (target >= 0.5);
#   2. gaa / anogen concept learning at recipes/mvtec_ad_gaa.yaml's schedule in bf16 (target <= 1 GPU-hour
#      a class), then with gradient checkpointing, then in fp16 (loss scaling).
# Logs land in $OUT (they come back); every step runs even when an earlier one fails.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site || { echo "wheel install failed"; exit 3; }
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$OUT/env.txt"
model=/tmp/sd15
step() {  # step NAME COMMAND...: run it, log it, never stop the script
  local name=$1; shift
  echo "== $name: $*" >"$OUT/$name.log"
  local begun=$SECONDS
  "$@" >>"$OUT/$name.log" 2>&1 || echo "== $name failed (exit $?)" >>"$OUT/$name.log"
  echo "== $name: $((SECONDS - begun)) s" >>"$OUT/$name.log"
  grep -v -E "Writing model shards|torchvision|^\s" "$OUT/$name.log" | tail -12
}
step build python3 benchmarks/_sd15.py "$model" bfloat16
step generation python3 benchmarks/diffusion_gpu.py --model "$model/sd15" --size 512 --steps 30 --batch 8 --rounds 3 \
  --dtype bfloat16
step learn_bf16 python3 benchmarks/concept_learning_gpu.py --model "$model/sd15" --mixed-precision bf16 --steps 20
step learn_bf16_checkpointing python3 benchmarks/concept_learning_gpu.py --model "$model/sd15" --mixed-precision bf16 \
  --steps 10 --gradient-checkpointing
step learn_fp16 python3 benchmarks/concept_learning_gpu.py --model "$model/sd15" --mixed-precision fp16 --steps 10
