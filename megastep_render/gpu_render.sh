#!/usr/bin/env bash
# The renderer's GPU job, run on a lent GPU through the device tool:
#   run(command="bash megastep_render/gpu_render.sh", carry=[".whl", ".bench"])
# gpu-marked render tests, kernel resource usage, then the render micro-benchmark
# (render alone, no physics) and, with PROFILE=1, the kernel variants. Logs and JSON land in $OUT.
source scripts/device-setup.sh
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export MEGASTEP_LAYOUTS=.bench/layouts.npz
status=0
python3 -m pytest -q -p no:cacheprovider megastep_render/tests 2>&1 | tee "$OUT/render-tests.log" | tail -40 || status=1
python3 - <<'PY' 2>&1 | tee "$OUT/kernels.log"
from megastep_render.cuda.renderer import compile_kernels
for name, k in compile_kernels().items():
    f = k.function
    print(f"{name:14s} registers {f.num_regs:3d}  local bytes {f.local_size_bytes:4d}  "
          f"max threads/block {f.max_threads_per_block}")
PY
bench() { python3 -m megastep_render.bench --layouts .bench/layouts.npz "$@"; }
METHODS=${METHODS:-grid}
bench --configs explorer --envs 1024 16384 65536 --methods $METHODS --cell-sizes ${CELLS:-1.0} \
  --json "$OUT/explorer.json" || status=1
bench --configs deathmatch --envs 1024 4096 16384 --methods $METHODS --cell-sizes ${CELLS:-1.0} \
  --json "$OUT/deathmatch.json" || status=1
bench --configs minimal --envs 1024 65536 --methods $METHODS --json "$OUT/minimal.json" || status=1
if [ "${PROFILE:-0}" = 1 ]; then
  python3 megastep_render/profiling/variants.py --layouts .bench/layouts.npz --envs 65536 --configs explorer \
    2>&1 | tee "$OUT/variants.log"
  python3 megastep_render/profiling/variants.py --layouts .bench/layouts.npz --envs 16384 --configs deathmatch \
    2>&1 | tee -a "$OUT/variants.log"
fi
if [ "${TORCH:-1}" = 1 ]; then
  bench --configs explorer deathmatch --envs 1024 16384 --renderers torch --warmup 2 --repeats 5 \
    --json "$OUT/torch.json" || status=1
fi
exit $status
