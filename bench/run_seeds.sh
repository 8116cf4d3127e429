#!/usr/bin/env bash
# Trains a recipe once per seed (one run at a time) and prints the mean ± SD table of the test
# metrics — the protocol of docs/benchmarks.md.
#   bash bench/run_seeds.sh configs/medmnist/pneumoniamnist.yaml [SEEDS="0 1 2"] [OUT=runs/seeds]
#   SETS="train.amp=bf16" OUT=runs/seeds-bf16 bash bench/run_seeds.sh RECIPE   # --set for every run
# Needs build/lucent (BUILD=… to use another build folder) and the data under $LUCENT_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${1:?usage: bash bench/run_seeds.sh RECIPE.yaml}
SEEDS=${SEEDS:-0 1 2}
BUILD=${BUILD:-build}
OUT=${OUT:-runs/seeds}
THREADS=${THREADS:-$(nproc)}
export LUCENT_DATA=${LUCENT_DATA:-$(realpath ../shared/data)}
name=$(basename "$RECIPE" .yaml)
sets=()
for kv in ${SETS:-}; do sets+=(--set "$kv"); done
runs=()
for s in $SEEDS; do
  run="$OUT/$name-seed$s"
  if [ -f "$run/metrics.json" ]; then
    echo "$run: done already (remove it to train again)" >&2
  else
    rm -rf "$run"
    "$BUILD/lucent" --threads "$THREADS" train "$RECIPE" --seed "$s" --out "$run" --quiet ${sets[@]+"${sets[@]}"}
  fi
  runs+=("$run")
done
echo "# $RECIPE${SETS:+ (--set $SETS)}, seeds $SEEDS, $THREADS threads, $(date -u +%F) on $(nproc) cores"
/usr/bin/python3 bench/seed_table.py "${runs[@]}"
