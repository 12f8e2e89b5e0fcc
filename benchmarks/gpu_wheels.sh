#!/usr/bin/env bash
# Here (a machine with pip's index): fetch the wheels the GPU benchmarks need that the device image lacks
# (its torch, transformers, huggingface_hub, accelerate, safetensors, numpy, OpenCV... are used as they are)
# into .whl/, which git ignores through .git/info/exclude. Then run benchmarks/gpu_check.sh there with
# carry [".whl"] (about 9 MiB). The versions are those this project's suite last passed with here.
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$exclude")"
grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
wheels=(diffusers==0.42.1 pydantic==2.14.4 pydantic_core==2.50.5 typing-inspection==0.4.5 annotated-types==0.8.0
        importlib_metadata==10.2.0 dill==0.4.1)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${wheels[@]}"
ls -la .whl
