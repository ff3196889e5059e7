#!/usr/bin/env bash
# Sets everything up in .venv and runs the demo: 64 Explorer envs for 300 steps,
# on the GPU when there is one (CUDA kernels through CuPy), else on the CPU.
# The video and the last frame land in out/. Usage: ./scripts/demo.sh [megastep demo flags]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt \
  ./megastep_core ./megastep_geometry ./megastep_physics ./megastep_render ./megastep_envs
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  # the CUDA backends compile their kernels with CuPy at first use; no compiler needed
  .venv/bin/python -m pip install -q "cupy-cuda12x>=13" || echo "CuPy did not install; the torch backends will run on the GPU"
fi
exec .venv/bin/megastep demo explorer --envs 64 --steps 300 --device auto --out out "$@"
