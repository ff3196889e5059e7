#!/usr/bin/env bash
# The GPU job every session runs on the lent H100, through the device tool:
#   run(command="bash scripts/gpu.sh", carry=[".whl", ".bench"])
# It installs the packages, runs every `gpu`-marked test, then the benchmark,
# and leaves logs and the benchmark's JSON under $OUT.
source scripts/device-setup.sh
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
status=0
python3 -m pytest -q -m gpu -p no:cacheprovider megastep_core/tests megastep_physics/tests megastep_render/tests \
  megastep_geometry/tests megastep_envs/tests tests 2>&1 | tee "$OUT/gpu-tests.log" || status=1
megastep bench --device cuda --layouts .bench/layouts.npz --json "$OUT/bench.json" "$@" 2>&1 \
  | tee "$OUT/bench.log" || status=1
exit $status
