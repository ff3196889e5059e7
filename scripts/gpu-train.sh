#!/usr/bin/env bash
# Trains envs with PPO on a lent GPU for fixed wall-clock budgets, evaluates each trained policy on
# test-split homes beside the baselines, and draws the curves, through the device tool:
#   run(command="bash scripts/gpu-train.sh pointgoal:5 explorer:5", carry=[".whl", ".bench"], timeout_s=600)
# Each argument is a run, ENV:MINUTES[:NAME[:TRAIN FLAGS]], e.g.
#   pointgoal:8:pointgoal-odometry:--env-option goal_sensor=at_spawn --seed 1
# The runs of one call train AT THE SAME TIME and share the GPU (a call may last 10 minutes); set
# ONE_AT_A_TIME=1 to train them in turn. Deathmatch runs are also rated: every snapshot of their
# self-play pool plays the others (megastep eval --tournament, TOURNAMENT_GAMES a pair). EVAL_SECONDS (default
# 150) bounds each evaluation; 0 skips them.
# Leaves under $OUT (the device tool returns at most 8 files): report.log, training.json (the
# figures), eval.log, one training-NAME.png per run (curves against env steps and wall time, at most
# five), and results.tar.gz with each run's metrics.jsonl, hyperparameters.json, TensorBoard events,
# training log and eval-NAME.json. The checkpoints (tens of MB) stay on the machine.
source scripts/device-setup.sh
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
RUNS=/tmp/megastep-runs; rm -rf "$RUNS"; mkdir -p "$RUNS/logs"
[ $# -gt 0 ] || { echo "usage: gpu-train.sh ENV:MINUTES[:NAME[:FLAGS]] ..." >&2; exit 2; }
status=0
names=()
envs=()
pids=()
train() {  # ENV MINUTES NAME FLAGS
  # shellcheck disable=SC2086  # FLAGS are words on purpose
  python3 -m megastep_envs.train "$1" --device cuda --out "$RUNS/$3" --total-steps 10000000000 \
    --time-limit-minutes "$2" --checkpoint-minutes 60 --eval-minutes 0 --no-progress $4 >"$RUNS/logs/train-$3.log" 2>&1
}
for spec in "$@"; do
  IFS=: read -r env minutes name flags <<<"$spec"
  name=${name:-$env}
  names+=("$name")
  envs+=("$env")
  echo "training $name: $env for $minutes min ${flags:+($flags)}"
  if [ "${ONE_AT_A_TIME:-0}" = 1 ]; then train "$env" "$minutes" "$name" "$flags" || status=1
  else train "$env" "$minutes" "$name" "$flags" & pids+=($!); fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
evaluate() {  # NAME ENV: the trained policy on test-split homes beside the baselines (deathmatch: a tournament)
  tail -n 3 "$RUNS/logs/train-$1.log"
  [ "${EVAL_SECONDS:-150}" = 0 ] && return 0  # training curves only
  [ -f "$RUNS/$1/checkpoint.pt" ] || { echo "$1: no checkpoint"; return 1; }
  local extra=()
  # 32 games a pair rate a player within about +-35 points; the error shrinks as one over the root of the games
  [ "$2" = deathmatch ] && extra=(--tournament --episodes "${TOURNAMENT_GAMES:-32}")
  # a success rate from 64 episodes is +-0.05 (one standard error at 0.8); 256 make it +-0.025
  [ "$2" = pointgoal ] && extra=(--episodes 256)
  timeout "${EVAL_SECONDS:-150}" megastep eval "$RUNS/$1/checkpoint.pt" --device cuda "${extra[@]}" \
    --json "$RUNS/logs/eval-$1.json" >"$RUNS/logs/eval-$1.log" 2>&1
}
# the evaluations too run at the same time: a call's 10 minutes are mostly training
pids=()
for i in "${!names[@]}"; do evaluate "${names[$i]}" "${envs[$i]}" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for name in "${names[@]}"; do cat "$RUNS/logs/eval-$name.log" >>"$OUT/eval.log" 2>/dev/null; done
cat "$OUT/eval.log"
device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
runs=(); for name in "${names[@]}"; do [ -f "$RUNS/$name/metrics.jsonl" ] && runs+=("$RUNS/$name"); done
python3 -m megastep_envs.train.report "${runs[@]}" --out "$RUNS/report" --device "$device" 2>&1 \
  | tee "$OUT/report.log" || status=1
cp "$RUNS/report/training.json" "$OUT/" 2>/dev/null
ls "$RUNS"/report/training-*.png 2>/dev/null | head -5 | xargs -r cp -t "$OUT/"
for run in "${runs[@]}"; do
  mkdir -p "$RUNS/results/$(basename "$run")"
  cp "$run"/metrics.jsonl "$run"/hyperparameters.json "$run"/events.* "$RUNS/results/$(basename "$run")/" 2>/dev/null
done
cp "$RUNS"/logs/* "$RUNS/results/"
tar -C "$RUNS/results" -czf "$OUT/results.tar.gz" .
exit $status
