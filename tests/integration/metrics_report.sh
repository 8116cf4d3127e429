#!/usr/bin/env bash
# report.html in a real browser: predictions for binary (with a subgroup column, a hostile id
# and BUSI ultrasound images as thumbnails when ../shared/data has them), multiclass and
# multilabel tasks are scored, and each report is opened in headless Chromium
# (web/report/check_report.mjs, puppeteer-core): no console or page error, no network request,
# no dialog, every chart drawn. The reports come from `lucent metrics --out DIR`.
# Screenshots: $LUCENT_REPORT_SHOTS (a folder) keeps them. Skips (77) without Chromium or Node.
set -uo pipefail
skip() { echo "SKIP: $*"; exit 77; }
LUCENT_BIN=${LUCENT_BIN:?LUCENT_BIN must point at the lucent binary}
SRC=${LUCENT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
WEB="$SRC/web/report"
DATA=${LUCENT_DATA:-${LUCENT_TEST_DATA_DEFAULT:-}}
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || skip "no Chromium (apt install chromium; scripts/setup.sh does)"
command -v node > /dev/null || skip "no node (apt install nodejs; scripts/setup.sh does)"
[ -d "$WEB/node_modules/puppeteer-core" ] || skip "no $WEB/node_modules/puppeteer-core (run npm ci in web/report; scripts/setup.sh does)"
export CHROMIUM

WORK=$(mktemp -d /tmp/lucent-report.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SHOTS=${LUCENT_REPORT_SHOTS:-$WORK/shots}
failures=0
pass() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; failures=$((failures + 1)); }

# Data: scores from a seeded generator; the binary truth carries a site column, an image
# column (real BUSI PNGs when present) and one hostile id.
/usr/bin/python3 - "$WORK" "$DATA" <<'PY' || { echo "FAIL - could not make the test data"; exit 1; }
import csv, glob, os, sys
import numpy as np
work, data = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(4)
images = sorted(p for p in glob.glob(os.path.join(data, "busi", "*", "*.png")) if "_mask" not in p)[:400]

def write(name, header, rows):
    with open(os.path.join(work, name), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)

n = 240
y = (rng.random(n) < 0.35).astype(int)
s = np.clip(rng.normal(0.35 + 0.3 * y, 0.17), 0, 1)
ids = [f"case-{i:03d}" for i in range(n)]
ids[0] = "</script><script>alert(1)</script>"
y[0], s[0] = 0, 0.995          # the most confident error
site = ["north" if i % 3 else "south" for i in range(n)]
s[[i for i in range(n) if site[i] == "south" and y[i] == 1]] *= 0.8  # worse in one site
write("bin_pred.csv", ["id", "score"], [[ids[i], f"{s[i]:.6f}"] for i in range(n)])
write("bin_truth.csv", ["id", "label", "site", "image"],
      [[ids[i], y[i], site[i], images[i % len(images)] if images else ""] for i in range(n)])

k, n = 4, 200
yc = rng.integers(0, k, n)
logits = rng.normal(0, 1, (n, k)) + 1.6 * np.eye(k)[yc]
p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
write("mc_pred.csv", ["id"] + [f"score_{c}" for c in range(k)], [[f"m{i}"] + [f"{v:.6f}" for v in p[i]] for i in range(n)])
write("mc_truth.csv", ["id", "label"], [[f"m{i}", yc[i]] for i in range(n)])

yl = (rng.random((n, 3)) < [0.3, 0.5, 0.2]).astype(int)
sl = np.clip(rng.normal(0.3 + 0.4 * yl, 0.2), 0, 1)
write("ml_pred.csv", ["id"] + [f"score_{c}" for c in range(3)], [[f"l{i}"] + [f"{v:.6f}" for v in sl[i]] for i in range(n)])
write("ml_truth.csv", ["id"] + [f"label_{c}" for c in range(3)], [[f"l{i}"] + list(yl[i]) for i in range(n)])
print("images:", len(images))
PY
have_images=0
[ -n "$(awk -F, 'NR==2{print $4}' "$WORK/bin_truth.csv")" ] && have_images=1

# One report from `lucent metrics` (the binary case with the subgroup audit by site).
make_report() {  # TAG TASK [extra lucent metrics flags...]
  local tag=$1 task=$2
  shift 2
  local out="$WORK/$tag"
  "$LUCENT_BIN" metrics --pred "$WORK/${tag}_pred.csv" --truth "$WORK/${tag}_truth.csv" --task "$task" \
    --bootstrap 200 --out "$out" "$@" > "$WORK/$tag.log" 2>&1 || { bad "$tag: lucent metrics failed"; tail -5 "$WORK/$tag.log"; }
  if [ -s "$out/report.html" ]; then
    pass "$tag: report.html written ($(stat -c %s "$out/report.html") bytes)"
  else
    bad "$tag: lucent metrics wrote no report.html"
  fi
}

check() {  # TAG [check_report.mjs flags...]
  local tag=$1
  shift
  if node "$WEB/check_report.mjs" "$WORK/$tag/report.html" "$SHOTS/$tag.png" "$@" > "$WORK/$tag.check.json" 2>&1; then
    pass "$tag: opens offline in Chromium, every chart drawn ($SHOTS/$tag.png)"
  else
    bad "$tag: browser check"
    cat "$WORK/$tag.check.json"
  fi
}

make_report bin binary --subgroup site
bin_charts=roc,pr,reliability,confusion
grep -q '"subgroups"' "$WORK/bin/metrics.json" 2>/dev/null && bin_charts+=,forest
bin_flags=(--charts "$bin_charts" --text "</script><script>alert(1)</script>")
[ $have_images -eq 1 ] && bin_flags+=(--thumbnails 5)
check bin "${bin_flags[@]}"
grep -q '<script>alert(1)' "$WORK/bin/report.html" && bad "hostile id appears unescaped" || pass "hostile id escaped in the file"
make_report mc multiclass
check mc --charts roc,pr,reliability,confusion
make_report ml multilabel
check ml --charts roc,pr,reliability,confusion

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
