#!/usr/bin/env bash
# Loading a large CT series: `lucent convert` vs dcm2niix vs pydicom + numpy, in one run.
#   bash bench/run_load_bench.sh [SLICES=400] [REPEATS=3]
# Prints a table (median wall time, peak RSS) and the ratios; nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-400}
REPEATS=${2:-3}
DATA=${LUCENT_DATA:-$(realpath ../shared/data)}
LUCENT=${LUCENT_BIN:-build/lucent}
WORK=${BENCH_WORK:-/tmp/lucent-bench}
mkdir -p "$WORK"
source bench/large_series.sh
series=$(large_series "$N")
vol_mb=$(/usr/bin/python3 -c "print(round($N*512*512*2/2**20,1))")

measure() {  # label, command...
  local label=$1; shift
  local times=() rss=()
  for r in $(seq "$REPEATS"); do
    sync; rm -rf "$WORK/out"; mkdir -p "$WORK/out"
    /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || { echo "$label failed:"; cat "$WORK/stderr.txt"; return 1; }
    read -r t m < "$WORK/time.txt"; times+=("$t"); rss+=("$m")
  done
  local med_t med_m
  med_t=$(printf '%s\n' "${times[@]}" | median)
  med_m=$(printf '%s\n' "${rss[@]}" | median)
  echo "$label $med_t $med_m"
}

base_row=$(measure "lucent-startup" "$LUCENT" --version)
base=$(echo "$base_row" | awk '{print $3}')
base_t=$(echo "$base_row" | awk '{print $2}')
l=$(measure "lucent" "$LUCENT" convert "$series" "$WORK/out/vol.nii")
d=$(measure "dcm2niix" dcm2niix -z n -b n -o "$WORK/out" "$series")
p=$(measure "pydicom" /usr/bin/python3 bench/pydicom_stack.py "$series")

echo
echo "Load a ${N}-slice 512x512 CT series (decoded volume ${vol_mb} MiB), median of ${REPEATS}; $(nproc) cores; $(date -u +%F)"
printf '%-22s %10s %14s %12s\n' "tool" "wall (s)" "peak RSS (MiB)" "lucent speed-up"
lt=$(echo "$l" | awk '{print $2}')
for row in "$l" "$d" "$p"; do
  read -r name t m <<<"$row"
  printf '%-22s %10.2f %14.1f %12s\n' "$name" "$t" "$(echo "$m/1024" | bc -l)" "$(echo "scale=2; $t/$lt" | bc -l)x"
done
printf '%-22s %10.2f %14.1f\n' "(lucent --version)" "$base_t" "$(echo "$base/1024" | bc -l)"
echo "lucent without process start-up (LibTorch/ITK/DCMTK static initialisation): $(echo "scale=2; $lt - $base_t" | bc -l) s"
echo "lucent peak RSS above its start-up RSS: $(echo "scale=1; ($(echo "$l" | awk '{print $3}') - $base)/1024" | bc -l) MiB = $(echo "scale=2; ($(echo "$l" | awk '{print $3}') - $base)/1024/$vol_mb" | bc -l) x the decoded volume"
