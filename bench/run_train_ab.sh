#!/usr/bin/env bash
# Paired one-epoch runs of `lucent train` (PneumoniaMNIST recipe) for two or more builds or
# settings, taken in turn for ROUNDS rounds so that drift on a shared machine hits every case
# alike. Prints one line per run: case, round, wall s, peak RSS KiB, minor page faults, user s,
# system s, training images/s (log.jsonl). Nothing is asserted.
#   ROUNDS=4 bash bench/run_train_ab.sh old:/path/to/old/lucent new:build/lucent \
#       new-nchw:build/lucent:train.channels_last=off
# Each case is LABEL:BINARY[:KEY=VALUE], the optional KEY=VALUE passed as one more --set.
# Needs /usr/bin/time (scripts/setup.sh --bench) and $LUCENT_DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-4}
THREADS=${THREADS:-2}
export LUCENT_DATA=${LUCENT_DATA:-$(realpath ../shared/data)}
WORK=${BENCH_WORK:-/tmp/lucent-train-ab}
[ $# -ge 2 ] || { echo "usage: $0 LABEL:BINARY[:KEY=VALUE] LABEL:BINARY[:KEY=VALUE]..." >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: bash scripts/setup.sh --bench" >&2; exit 1; }
for c in "$@"; do
  IFS=: read -r label bin set <<<"$c"
  [ -x "$bin" ] || { echo "case $label: $bin is not an executable" >&2; exit 1; }
done
mkdir -p "$WORK"
echo "# case round wall_s peak_rss_kib minor_faults user_s system_s train_img_per_s   ($(date -u '+%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq "$ROUNDS"); do
  for c in "$@"; do
    IFS=: read -r label bin set <<<"$c"
    extra=()
    [ -n "${set:-}" ] && extra=(--set "$set")
    rm -rf "$WORK/run"
    /usr/bin/time -f "%e %M %R %U %S" -o "$WORK/time.txt" "$bin" train configs/medmnist/pneumoniamnist.yaml \
      --set train.epochs=1 --set train.warmup_epochs=0 --set train.ema_decay=0 "${extra[@]}" \
      --out "$WORK/run" --quiet --threads "$THREADS" >"$WORK/out.txt" 2>&1 \
      || { echo "case $label failed:" >&2; cat "$WORK/out.txt" >&2; exit 1; }
    rate=$(tail -1 "$WORK/run/log.jsonl" | grep -o '"images_per_s":[0-9.]*' | cut -d: -f2)
    echo "$label $r $(cat "$WORK/time.txt") $rate"
  done
done
