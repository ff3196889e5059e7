#!/usr/bin/env bash
# Trains PointGoal and Explorer with PPO on the lent H100, each for a fixed budget of env steps
# (with a time cap, so that both fit in about 8 minutes), through the device tool:
#   run(command="bash scripts/gpu-train.sh", carry=[".whl", ".bench"], timeout_s=600)
# Leaves under $OUT: training-pointgoal.png and training-explorer.png (curves: return, success
# rate or coverage, against env steps and wall time), training.json (the figures), each run's
# metrics.jsonl, hyperparameters.json and TensorBoard events, the logs, and eval-ENV.json: each trained
# policy on test-split homes beside the random and scripted baselines (megastep eval).
# Budgets: POINTGOAL_STEPS, EXPLORER_STEPS (env steps), MINUTES (cap per run); DEATHMATCH_MINUTES > 0
# also trains Deathmatch for that long.
source scripts/device-setup.sh
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
RUNS=/tmp/megastep-runs; rm -rf "$RUNS"
POINTGOAL_STEPS=${POINTGOAL_STEPS:-12000000}
EXPLORER_STEPS=${EXPLORER_STEPS:-12000000}
MINUTES=${MINUTES:-3.2}
DEATHMATCH_MINUTES=${DEATHMATCH_MINUTES:-0}
status=0
train() {  # ENV STEPS MINUTES
  python3 -m megastep_envs.train "$1" --device cuda --out "$RUNS/$1" --total-steps "$2" \
    --time-limit-minutes "$3" --checkpoint-minutes 60 --no-progress 2>&1 | tee "$OUT/train-$1.log" || status=1
}
train pointgoal "$POINTGOAL_STEPS" "$MINUTES"
train explorer "$EXPLORER_STEPS" "$MINUTES"
runs=("$RUNS/pointgoal" "$RUNS/explorer")
if [ "$DEATHMATCH_MINUTES" != "0" ]; then
  train deathmatch 100000000 "$DEATHMATCH_MINUTES"
  runs+=("$RUNS/deathmatch")
fi
for run in "${runs[@]}"; do
  name=$(basename "$run")
  timeout 120 megastep eval "$run/checkpoint.pt" --device cuda --json "$OUT/eval-$name.json" 2>&1 \
    | tee "$OUT/eval-$name.log" || status=1
done
device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
python3 -m megastep_envs.train.report "${runs[@]}" --out "$OUT" --device "$device" 2>&1 | tee "$OUT/report.log" \
  || status=1
# the curves' data and TensorBoard events come back; the checkpoints (tens of MB) stay on the machine
for run in "${runs[@]}"; do
  mkdir -p "$OUT/runs/$(basename "$run")"
  cp "$run"/metrics.jsonl "$run"/hyperparameters.json "$run"/events.* "$OUT/runs/$(basename "$run")/" 2>/dev/null
done
exit $status
