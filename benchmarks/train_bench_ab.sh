#!/usr/bin/env bash
# The training benchmark of a past commit beside this tree's, alternated on one card, to tell a regression
# from a different machine. Two steps:
#   here:    bash benchmarks/train_bench_ab.sh prepare COMMIT      (its packages into .bench/COMMIT, carried)
#   device:  run(command="source scripts/device-setup.sh; bash benchmarks/train_bench_ab.sh run COMMIT minimal
#                --envs 16384 --bf16", carry=[".whl", ".bench"])
# `run` installs the commit's packages into /tmp/COMMIT (ahead of this tree's on the path, entry points
# included), then runs `megastep train ENV --bench --device $DEVICE ARGS` (DEVICE cuda unless set) with each,
# ROUNDS times (default 2), and writes the JSON of each run under $OUT. Flags only one side knows (e.g.
# --graph-update) go in OLD_FLAGS / NEW_FLAGS.
set -euo pipefail
what=${1:?usage: train_bench_ab.sh prepare COMMIT | run COMMIT ENV [ARGS...]}
commit=${2:?name a commit}
packages="megastep_core megastep_physics megastep_render megastep_geometry megastep_envs"
case $what in
  prepare)
    rm -rf ".bench/$commit"; mkdir -p ".bench/$commit"
    # shellcheck disable=SC2086
    git archive "$commit" $packages | tar -x -C ".bench/$commit"
    echo "prepared .bench/$commit; carry .bench to the device" ;;
  run)
    env=${3:?name an env}; shift 3
    [ -d ".bench/$commit" ] || { echo "no .bench/$commit: run 'prepare $commit' here and carry .bench" >&2; exit 2; }
    out=${OUT:-/tmp/out}; mkdir -p "$out"
    sources=(); for p in $packages; do sources+=(".bench/$commit/$p"); done
    python3 -m pip install -q --no-deps --no-build-isolation --no-compile --target "/tmp/$commit" "${sources[@]}"
    for round in $(seq 1 "${ROUNDS:-2}"); do
      echo "== $commit, round $round"
      # shellcheck disable=SC2086
      PYTHONPATH="/tmp/$commit${PYTHONPATH:+:$PYTHONPATH}" timeout 300 python3 -m megastep_envs.train "$env" --bench \
        --device ${DEVICE:-cuda} "$@" ${OLD_FLAGS:-} --json "$out/$env-$commit-$round.json" | tail -2
      echo "== this tree, round $round"
      # shellcheck disable=SC2086
      timeout 300 python3 -m megastep_envs.train "$env" --bench --device ${DEVICE:-cuda} "$@" ${NEW_FLAGS:-} \
        --json "$out/$env-tree-$round.json" | tail -2
    done ;;
  *) echo "unknown step $what: prepare or run" >&2; exit 2 ;;
esac
