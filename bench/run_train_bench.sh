#!/usr/bin/env bash
# Training and inference speed: `lucent train` (one epoch of the PneumoniaMNIST recipe) and
# bench/infer_speed.cpp vs the PyTorch peer bench/train_peer/pytorch_peer.py, in one run.
#   BUILD=build THREADS=2 WORKERS=2 REPEATS=3 bash bench/run_train_bench.sh
# Needs $BUILD/lucent and $BUILD/lucent_infer_bench (cmake --build $BUILD --target lucent
# lucent_infer_bench), /usr/bin/python3 with torch + torchvision and /usr/bin/time
# (scripts/setup.sh --bench). The two sides run alternately (ABBA order), REPEATS times each;
# the table gives medians, the ratios are the median of the per-repetition ratios. Prints a
# Markdown table; nothing is asserted. The environment passes to both sides: on a loaded
# machine, OMP_WAIT_POLICY=PASSIVE changes the result a lot (docs/benchmarks-train-speed.md).
# INFER_REPEATS (default 20): timed passes over the test split per side and repetition.
# Precision (training only; inference is float32 on both sides):
#   LUCENT_AMP=off|bf16|auto   Lucent's train.amp (bf16 on the CPU also runs channels-last)
#   PEER_AMP=off|bf16          the peer's torch.autocast("cpu", bfloat16)
#   PEER_CHANNELS_LAST=0|1     the peer's model and batches in torch.channels_last
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-$(nproc)}
WORKERS=${WORKERS:-2}
REPEATS=${REPEATS:-3}
export INFER_REPEATS=${INFER_REPEATS:-20}  # timed inference passes per side (median); short passes are noisy
DATA=${LUCENT_DATA:-$(realpath ../shared/data)}
NPZ="$DATA/medmnist/pneumoniamnist.npz"
CONFIG=configs/medmnist/pneumoniamnist.yaml
WORK=${BENCH_WORK:-/tmp/lucent-train-bench}
PY=/usr/bin/python3
LUCENT_AMP=${LUCENT_AMP:-off}
PEER_AMP=${PEER_AMP:-off}
PEER_CHANNELS_LAST=${PEER_CHANNELS_LAST:-0}
PEER_FLAGS=(--amp "$PEER_AMP")
[ "$PEER_CHANNELS_LAST" = 1 ] && PEER_FLAGS+=(--channels-last)

for f in "$BUILD/lucent" "$BUILD/lucent_infer_bench"; do
  [ -x "$f" ] || { echo "missing $f: cmake --build $BUILD --target lucent lucent_infer_bench" >&2; exit 1; }
done
[ -f "$NPZ" ] || { echo "missing $NPZ: set LUCENT_DATA or run 'lucent data fetch'" >&2; exit 1; }
"$PY" -c 'import torch, torchvision' 2>/dev/null || { echo "$PY lacks torch/torchvision: bash scripts/setup.sh --bench" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: bash scripts/setup.sh --bench" >&2; exit 1; }

mkdir -p "$WORK"
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

run_lucent() {  # repetition
  rm -rf "$WORK/lucent-run"
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" \
    "$BUILD/lucent" train "$CONFIG" --set train.epochs=1 --set train.warmup_epochs=0 --set train.ema_decay=0 --set train.amp="$LUCENT_AMP" --out "$WORK/lucent-run" --quiet --threads "$THREADS" \
    >"$WORK/lucent.out" 2>&1 || { echo "lucent train failed:" >&2; cat "$WORK/lucent.out" >&2; return 1; }
  local wall rss
  read -r wall rss < "$WORK/time.txt"
  "$BUILD/lucent_infer_bench" --bundle "$WORK/lucent-run/bundle" --data "$NPZ" --threads "$THREADS" --batch 256 \
    --repeats "$INFER_REPEATS" >"$WORK/infer.json" 2>"$WORK/infer.err" || { echo "lucent_infer_bench failed:" >&2; cat "$WORK/infer.err" >&2; return 1; }
  "$PY" - "$1" "$wall" "$rss" "$WORK/lucent-run/log.jsonl" "$WORK/infer.json" >>"$RESULTS" <<'EOF'
import json, sys
rep, wall, rss, log, infer = sys.argv[1:]
epoch = [json.loads(l) for l in open(log) if l.strip()][-1]
precision = json.load(open(log.rsplit("/", 1)[0] + "/bundle/bundle.json"))["training"]
inf = json.load(open(infer))
print(json.dumps({"side": "lucent", "rep": int(rep), "params": inf["params"], "threads": inf["threads"],
                  "precision": precision.get("precision"), "channels_last": precision.get("channels_last", False),
                  "train_img_per_s": epoch["images_per_s"], "infer_img_per_s": inf["infer_img_per_s"],
                  "peak_rss_mib": int(rss) / 1024, "process_wall_s": float(wall)}))
EOF
}

run_pytorch() {  # repetition
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" \
    "$PY" bench/train_peer/pytorch_peer.py --data "$NPZ" --threads "$THREADS" --workers "$WORKERS" --epochs 1 \
    --batch 128 --infer-batch 256 --infer-repeats "$INFER_REPEATS" "${PEER_FLAGS[@]}" >"$WORK/peer.out" 2>"$WORK/peer.err" \
    || { echo "pytorch peer failed:" >&2; cat "$WORK/peer.err" >&2; return 1; }
  local wall rss
  read -r wall rss < "$WORK/time.txt"
  "$PY" - "$1" "$wall" "$rss" "$WORK/peer.out" >>"$RESULTS" <<'EOF'
import json, sys
rep, wall, rss, out = sys.argv[1:]
r = json.loads(open(out).read().strip().splitlines()[-1])
r.update({"rep": int(rep), "peak_rss_mib": int(rss) / 1024, "process_wall_s": float(wall)})
print(json.dumps(r))
EOF
}

for rep in $(seq "$REPEATS"); do
  if [ $((rep % 2)) -eq 1 ]; then order="lucent pytorch"; else order="pytorch lucent"; fi
  for side in $order; do
    echo "repetition $rep/$REPEATS: $side ..." >&2
    "run_$side" "$rep"
  done
done

"$PY" - "$RESULTS" "$THREADS" "$WORKERS" "$REPEATS" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, os, statistics, subprocess, sys
path, threads, workers, repeats, load_before, load_after = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
side = {s: [r for r in rows if r["side"] == s] for s in ("lucent", "pytorch")}
med = lambda s, k: statistics.median(r[k] for r in side[s])
def ratio(k, invert=False):
    pairs = [(l[k], p[k]) for l in side["lucent"] for p in side["pytorch"] if l["rep"] == p["rep"]]
    return statistics.median((p / l) if invert else (l / p) for l, p in pairs)
cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if l.startswith("Model name")), "?")
mem = next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))
date = subprocess.run(["date", "-u", "+%F %H:%M UTC"], capture_output=True, text=True).stdout.strip()
print(f"\nPneumoniaMNIST train split ({side['pytorch'][0]['batches']} batches of 128), one epoch; test split "
      f"({side['pytorch'][0]['infer_images']} images) at batch 256 (median of {os.environ.get('INFER_REPEATS', '20')} passes). {threads} intra-op threads, {workers} DataLoader "
      f"workers; median of {repeats} alternating repetitions. {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} "
      f"cores, {int(mem) / 2**20:.1f} GiB RAM; {date}; load average {load_before} before, {load_after} after; "
      f"torch {side['pytorch'][0]['torch']}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}. "
      f"Training precision: Lucent {side['lucent'][0]['precision']}"
      f"{' channels-last' if side['lucent'][0]['channels_last'] else ''}, PyTorch "
      f"{'fp32' if side['pytorch'][0]['amp'] == 'off' else side['pytorch'][0]['amp'] + ' autocast'}"
      f"{' channels-last' if side['pytorch'][0].get('channels_last') else ''}.\n")
print("| side | params | train img/s | infer img/s | peak RSS MiB (largest process) | peak PSS MiB (incl. workers) |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| Lucent | {side['lucent'][0]['params']:,} | {med('lucent', 'train_img_per_s'):.1f} | {med('lucent', 'infer_img_per_s'):.1f} "
      f"| {med('lucent', 'peak_rss_mib'):.0f} | single process |")
print(f"| PyTorch | {side['pytorch'][0]['params']:,} | {med('pytorch', 'train_img_per_s'):.1f} | {med('pytorch', 'infer_img_per_s'):.1f} "
      f"| {med('pytorch', 'peak_rss_mib'):.0f} | {med('pytorch', 'peak_pss_mib_with_workers'):.0f} |")
print(f"| **Lucent ÷ PyTorch** | {'equal' if side['lucent'][0]['params'] == side['pytorch'][0]['params'] else 'DIFFER'} "
      f"| **{ratio('train_img_per_s'):.2f}×** (goal ≥ 2) | **{ratio('infer_img_per_s'):.2f}×** (goal ≥ 1.2) "
      f"| {ratio('peak_rss_mib'):.2f} (goal ≤ 1) | |")
print("\nPer repetition (train img/s, infer img/s, peak RSS MiB, process wall s):")
for s in ("lucent", "pytorch"):
    print(f"- {s}: " + "; ".join(f"#{r['rep']} {r['train_img_per_s']:.1f}, {r['infer_img_per_s']:.1f}, "
                                 f"{r['peak_rss_mib']:.0f}, {r['process_wall_s']:.0f}" for r in side[s]))
EOF
