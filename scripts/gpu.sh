#!/usr/bin/env bash
# The GPU job every session runs on the lent H100, through the device tool:
#   run(command="bash scripts/gpu.sh", carry=[".whl", ".bench"])
# It installs the packages, runs the benchmark with the CUDA backends at every
# size with the full env steps, then every `gpu`-marked test, then the
# benchmark of the torch backends (explorer-like), and leaves logs and JSON under $OUT.
# Set GPU_JOBS to a subset of "tests cuda torch" to run only those parts.
source scripts/device-setup.sh
set -o pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
jobs=${GPU_JOBS:-tests cuda torch}
layouts=.bench/layouts.npz; [ -f "$layouts" ] || layouts=../shared/bench/layouts.npz
status=0
# the benchmark first: a call that runs out of its 10 minutes still brings back the figures
if [[ $jobs == *cuda* ]]; then
  timeout 420 megastep bench --device cuda --layouts "$layouts" --physics stop:cuda --renderer raycast:cuda \
    --env minimal explorer pointgoal deathmatch --config explorer-like deathmatch-like minimal-like \
    --json "$OUT/bench-cuda.json" 2>&1 | tee "$OUT/bench-cuda.log" || status=1
fi
if [[ $jobs == *tests* ]]; then
  # one pytest per package: their tests/conftest.py modules share a name
  for tests in megastep_core/tests megastep_physics/tests megastep_render/tests megastep_geometry/tests \
               megastep_envs/tests tests; do
    timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider --durations=5 "$tests" 2>&1 \
      | tee -a "$OUT/gpu-tests.log"
    code=$?; [ $code = 0 ] || [ $code = 5 ] || status=1  # 5: no gpu test in that folder
  done
fi
if [[ $jobs == *torch* ]]; then
  timeout 200 megastep bench --device cuda --layouts "$layouts" --physics stop:torch --renderer raycast:torch \
    --config explorer-like --json "$OUT/bench-torch.json" 2>&1 | tee "$OUT/bench-torch.log" || status=1
fi
exit $status
