#!/usr/bin/env bash
# The training benchmark on the lent GPU, through the device tool:
#   run(command="bash scripts/gpu-train-bench.sh", carry=[".whl", ".bench"])
# Runs the trainer's gpu tests, then `megastep train ENV --bench` for each env at the sizes in
# SIZES (empty: the preset's; and any further flags in FLAGS), and leaves the logs and JSON under $OUT.
# AHEAD=1 also benches each env with --act-while-learning, right after it on the same card.
source scripts/device-setup.sh
set -o pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
ENVS=${ENVS:-"explorer pointgoal minimal"}
SIZES=${SIZES-"1024 4096 16384"}
status=0
if [ "${TESTS:-1}" = 1 ]; then
  timeout 300 python3 -m pytest -q -m gpu -p no:cacheprovider megastep_envs/tests/test_train_gpu.py \
    megastep_envs/tests/test_train_learner.py 2>&1 \
    | tee "$OUT/train-gpu-tests.log" || status=1
fi
for env in $ENVS; do
  for ahead in "" ${AHEAD:+--act-while-learning}; do
    # shellcheck disable=SC2086
    timeout 400 megastep train "$env" --bench --device cuda ${SIZES:+--envs $SIZES} ${FLAGS:-} $ahead \
      --json "$OUT/train-bench-$env${ahead:+-ahead}.json" 2>&1 | tee -a "$OUT/train-bench.log" || status=1
  done
done
exit $status
