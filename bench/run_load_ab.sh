#!/usr/bin/env bash
# Paired runs of `lucent convert SERIES out.nii` for two or more builds, and of dcm2niix on the
# same series, taken in turn for ROUNDS rounds so that drift on a shared machine hits every case
# alike (bench/run_load_bench.sh is the one-build table with pydicom). Prints one line per run
# and then the median of each case; nothing is asserted.
#   ROUNDS=5 bash bench/run_load_ab.sh old:/tmp/lucent-old new:build/lucent
# SLICES (default 400): the synthetic CT series of bench/make_large_series.py, written once.
# Needs /usr/bin/time and dcm2niix (scripts/setup.sh --bench) and $LUCENT_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
N=${SLICES:-400}
DATA=${LUCENT_DATA:-$(realpath ../shared/data)}
WORK=${BENCH_WORK:-/tmp/lucent-bench}
[ $# -ge 1 ] || { echo "usage: $0 LABEL:BINARY [LABEL:BINARY...]" >&2; exit 2; }
for tool in /usr/bin/time dcm2niix; do
  command -v "$tool" >/dev/null || { echo "missing $tool: bash scripts/setup.sh --bench" >&2; exit 1; }
done
for c in "$@"; do
  IFS=: read -r label bin <<<"$c"
  [ -x "$bin" ] || { echo "case $label: $bin is not an executable" >&2; exit 1; }
done
mkdir -p "$WORK"
source bench/large_series.sh
series=$(large_series "$N")

run() {  # label command...
  local label=$1; shift
  rm -rf "$WORK/out"; mkdir -p "$WORK/out"
  /usr/bin/time -f "%e %M %R" -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" ||
    { echo "$label failed:" >&2; cat "$WORK/stderr.txt" >&2; exit 1; }
  echo "$label $r $(cat "$WORK/time.txt")" | tee -a "$WORK/ab.txt"
}

: > "$WORK/ab.txt"
echo "# case round wall_s peak_rss_kib minor_faults   ($N slices; $(date -u '+%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq "$ROUNDS"); do
  for c in "$@"; do
    IFS=: read -r label bin <<<"$c"
    run "$label" "$bin" convert "$series" "$WORK/out/vol.nii"
  done
  run dcm2niix dcm2niix -z n -b n -o "$WORK/out" "$series"
done
echo "# median wall s, median minor faults, dcm2niix time / case time"
ref=$(awk '$1=="dcm2niix"{print $3}' "$WORK/ab.txt" | median)
for label in $(awk '{print $1}' "$WORK/ab.txt" | awk '!seen[$0]++'); do
  t=$(awk -v l="$label" '$1==l{print $3}' "$WORK/ab.txt" | median)
  f=$(awk -v l="$label" '$1==l{print $5}' "$WORK/ab.txt" | median)
  awk -v l="$label" -v t="$t" -v f="$f" -v ref="$ref" 'BEGIN{printf "%-10s %6.2f s %8d faults  %.2fx\n", l, t, f, ref/t}'
done
