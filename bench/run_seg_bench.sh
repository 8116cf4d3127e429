#!/usr/bin/env bash
# Sliding-window segmentation, Lucent vs PyTorch: the same U-Net weights, the same input, the
# same sliding-window settings, the same thread count.
#   BUILD=build THREADS=2 REPEATS=3 CASES="2d 3d" bash bench/run_seg_bench.sh
# Needs $BUILD/lucent_seg_infer_bench (cmake --build $BUILD --target lucent_seg_infer_bench),
# /usr/bin/python3 with torch and numpy, /usr/bin/time, and for the 3-D case
# ../shared/data/mricron_ch2_aal/ch2.nii.gz (or $LUCENT_DATA). Cases (bench/seg_infer_bench.cpp):
#   2d  a seeded random 3000x2400 single-channel image
#   3d  the Colin27 T1 brain MR (181x217x181), z-scored over its non-zero voxels
# Each side runs as its own process, REPEATS times, alternating which goes first; wall time is
# the sliding window alone (inside the process). Memory, two ways: VmHWM read by each process
# right after the sliding window (weights, input and inference; the output not yet written),
# and the whole process's maximum RSS from /usr/bin/time -v (writing the output included:
# Lucent's safetensors writer assembles the file in memory, the peer's writes array by array).
# Prints a Markdown table of medians; nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-1}
CASES=${CASES:-"2d 3d"}
DATA=${LUCENT_DATA:-$(realpath ../shared/data)}
WORK=${BENCH_WORK:-/tmp/lucent-seg-bench}
PY=/usr/bin/python3
BIN="$BUILD/lucent_seg_infer_bench"
PEER=bench/seg_peer/sliding_window_peer.py

[ -x "$BIN" ] || { echo "missing $BIN: cmake --build $BUILD --target lucent_seg_infer_bench" >&2; exit 1; }
"$PY" -c 'import torch, numpy' 2>/dev/null || { echo "$PY lacks torch/numpy (Debian python3-torch)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time (Debian package time)" >&2; exit 1; }

mkdir -p "$WORK"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); threads $THREADS; repeats $REPEATS; $(date -u +%FT%TZ)"

run_side() {  # side dir rep
  local side=$1 dir=$2 rep=$3
  local cmd
  if [ "$side" = lucent ]; then cmd=("$BIN" run --dir "$dir" --threads "$THREADS")
  else cmd=("$PY" "$PEER" run --dir "$dir" --threads "$THREADS"); fi
  /usr/bin/time -v -o "$dir/time_${side}_$rep.txt" "${cmd[@]}" > "$dir/${side}_$rep.json" 2> "$dir/${side}_$rep.err" ||
    { echo "$side failed:" >&2; cat "$dir/${side}_$rep.err" >&2; exit 1; }
}

for c in $CASES; do
  dir="$WORK/$c"
  rm -rf "$dir"
  if [ "$c" = 3d ]; then
    img="$DATA/mricron_ch2_aal/ch2.nii.gz"
    [ -f "$img" ] || { echo "missing $img: set LUCENT_DATA" >&2; exit 1; }
    "$BIN" prepare --case 3d --image "$img" --out "$dir" > /dev/null
  else
    "$BIN" prepare --case 2d --out "$dir" > /dev/null
  fi
  for rep in $(seq 1 "$REPEATS"); do
    if [ $((rep % 2)) -eq 1 ]; then run_side lucent "$dir" "$rep"; run_side pytorch "$dir" "$rep"
    else run_side pytorch "$dir" "$rep"; run_side lucent "$dir" "$rep"; fi
  done
  "$PY" "$PEER" compare "$dir/lucent_output.safetensors" "$dir/torch_output.safetensors" > "$dir/compare.json"
done

"$PY" - "$WORK" "$REPEATS" $CASES <<'PYEOF'
import json, re, statistics, sys
work, repeats, cases = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def rss_mib(path):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) / 1024
print("| case | image | windows | params | Lucent s | PyTorch s | speed-up (PyTorch s / Lucent s) | Lucent VmHWM MiB | PyTorch VmHWM MiB | Lucent max RSS MiB | PyTorch max RSS MiB | Lucent buffers MiB | max abs diff |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for c in cases:
    d = f"{work}/{c}"
    cfg = json.load(open(f"{d}/config.json"))
    L = [json.load(open(f"{d}/lucent_{r}.json")) for r in range(1, repeats + 1)]
    T = [json.load(open(f"{d}/pytorch_{r}.json")) for r in range(1, repeats + 1)]
    ls = statistics.median(x["seconds"][0] for x in L)
    ts = statistics.median(x["seconds"][0] for x in T)
    ratio = statistics.median(t["seconds"][0] / l["seconds"][0] for l, t in zip(L, T))
    lm = statistics.median(rss_mib(f"{d}/time_lucent_{r}.txt") for r in range(1, repeats + 1))
    tm = statistics.median(rss_mib(f"{d}/time_pytorch_{r}.txt") for r in range(1, repeats + 1))
    lh = statistics.median(x["vm_hwm_bytes"] for x in L) / 2**20
    th = statistics.median(x["vm_hwm_bytes"] for x in T) / 2**20
    cmp = json.load(open(f"{d}/compare.json"))
    size = "x".join(str(s) for s in cfg["image_size"])
    print(f"| {c} | {size} | {L[0]['windows']} | {cfg['params']} | {ls:.1f} | {ts:.1f} | {ratio:.2f}x | {lh:.0f} | {th:.0f} | {lm:.0f} | {tm:.0f} | "
          f"{L[0]['buffer_bytes'] / 2**20:.0f} | {cmp['max_abs_diff']:.2e} |")
    if L[0]["params"] != T[0]["params"]:
        print(f"WARNING: parameter counts differ: Lucent {L[0]['params']}, PyTorch {T[0]['params']}")
print(f"settings: {json.dumps({c: json.load(open(f'{work}/{c}/config.json')) for c in cases})}")
PYEOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
