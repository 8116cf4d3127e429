#!/usr/bin/env bash
# `lucent train` and `lucent predict` through the real binary on BreastMNIST (a tiny run):
# a bundle and metrics come out; predict scores the official test split; bad recipes, an
# existing run without --resume and a tampered bundle are refused with the right exit codes.
source "$(dirname "$0")/lib/common.sh"
[ -f "$DATA/medmnist/breastmnist.npz" ] || skip "no medmnist/breastmnist.npz under $DATA"
export LUCENT_DATA="$DATA"
cat > "$WORK/recipe.yaml" <<'YAML'
name: breast-cli
seed: 1
data: {kind: medmnist, path: medmnist/breastmnist.npz, labels: [malignant, benign_or_normal]}
model: {name: resnet10, options: {width: 8}}
pipeline:
  preprocess: [{name: scale_intensity, in_min: 0, in_max: 255}]
  augment: [{name: flip, axes: [x], p: 0.5}]
train: {epochs: 2, batch_size: 32, max_batches_per_epoch: 2, schedule: constant}
YAML

"$LUCENT_BIN" --threads 1 train "$WORK/recipe.yaml" --out "$WORK/run" --quiet > "$WORK/train.log" 2>&1; rc=$?
[ $rc -eq 0 ] && [ -f "$WORK/run/bundle/bundle.json" ] && [ -f "$WORK/run/metrics.json" ] \
  && pass "train writes a bundle and metrics.json" || { bad "train exit $rc"; cat "$WORK/train.log"; }

"$LUCENT_BIN" train "$WORK/recipe.yaml" --out "$WORK/run" --quiet > /dev/null 2>&1; rc=$?
[ $rc -eq 8 ] && pass "an existing run without --resume -> already_exists" || bad "rerun without --resume: exit $rc"

"$LUCENT_BIN" predict "$WORK/run/bundle" "$DATA/medmnist/breastmnist.npz" --out "$WORK/pred" > /dev/null 2>&1; rc=$?
rows=$(( $(wc -l < "$WORK/pred/predictions.csv" 2>/dev/null || echo 1) - 1 ))
[ $rc -eq 0 ] && [ "$rows" -eq 156 ] && head -1 "$WORK/pred/predictions.csv" | grep -q "^id,score_0,score_1,predicted$" \
  && pass "predict scores the 156 test images" || bad "predict exit $rc, $rows rows"

"$LUCENT_BIN" predict "$WORK/run/bundle" "$WORK/run/bundle" "$DATA/medmnist/breastmnist.npz" --tta --out "$WORK/pred2" \
  > /dev/null 2>&1 && pass "ensemble of two bundles with TTA" || bad "ensemble/TTA predict failed"

err=$("$LUCENT_BIN" train "$WORK/recipe.yaml" --out "$WORK/run2" --set train.epohcs=3 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "train.epohcs" <<<"$err" && pass "unknown recipe key named, exit 2" || bad "unknown key: exit $rc: $err"
err=$("$LUCENT_BIN" train "$WORK/recipe.yaml" --out "$WORK/run2" --set train.lr=-1 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "train.lr" <<<"$err" && pass "impossible value named, exit 2" || bad "bad lr: exit $rc: $err"
err=$("$LUCENT_BIN" train "$WORK/recipe.yaml" --out "$WORK/run2" --set data.path=medmnist/none.npz 2>&1); rc=$?
[ $rc -eq 3 ] && grep -q "none.npz" <<<"$err" && pass "missing dataset named, exit 3" || bad "missing data: exit $rc: $err"

# lucent evaluate: the bundle on the official test split reproduces the trainer's test AUC; on a
# manifest of PNGs (with a site column) it audits subgroups; bad requests are refused.
"$LUCENT_BIN" --threads 1 evaluate "$WORK/run/bundle" --data "$DATA/medmnist/breastmnist.npz" --bootstrap 200 \
  --out "$WORK/eval" > "$WORK/eval.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && /usr/bin/python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
m = json.load(open(f"{w}/eval/metrics.json"))
t = json.load(open(f"{w}/run/metrics.json"))
test = t.get("test", t)
assert m["n"] == 156, m["n"]
assert abs(m["metrics"]["auc"]["value"] - test["auc"]) < 1e-9, (m["metrics"]["auc"], test["auc"])
rows = open(f"{w}/eval/predictions.csv").read().splitlines()
assert rows[0] == "id,score_0,score_1" and len(rows) == 157, rows[:2]
assert open(f"{w}/eval/report.html").read(200).lstrip().lower().startswith("<!doctype html")
PY
then pass "evaluate on the test split: 156 cases, AUC equal to training's, report and predictions written"
else bad "evaluate exit $rc"; tail -5 "$WORK/eval.log"; fi

cp -r "$WORK/run/bundle" "$WORK/bundle-cal"
"$LUCENT_BIN" --threads 1 evaluate "$WORK/bundle-cal" --data "$DATA/medmnist/breastmnist.npz" --calibrate-on val \
  --save-temperature --bootstrap 100 --out "$WORK/eval-cal" > "$WORK/eval-cal.log" 2>&1; rc=$?
[ $rc -eq 0 ] && "$LUCENT_BIN" bundle verify "$WORK/bundle-cal" > /dev/null 2>&1 && /usr/bin/python3 -c '
import json, sys
c, u, b = (json.load(open(f)) for f in sys.argv[1:4])
t = c["temperature_scaling"]["temperature"]
assert t > 0 and c["temperature_scaling"]["fitted_on"] == "val", c["temperature_scaling"]
assert abs(c["metrics"]["auc"]["value"] - u["metrics"]["auc"]["value"]) < 1e-6  # ranking kept
assert abs(b["temperature"] - t) < 1e-12, (b["temperature"], t)' "$WORK/eval-cal/metrics.json" "$WORK/eval/metrics.json" \
  "$WORK/bundle-cal/bundle.json" && pass "temperature fitted on val, AUC unchanged, stored in the re-hashed bundle" \
  || { bad "calibrate exit $rc"; tail -5 "$WORK/eval-cal.log"; }
"$LUCENT_BIN" --threads 1 evaluate "$WORK/run/bundle" --data "$DATA/medmnist/breastmnist.npz" --target-sensitivity 0.9 \
  --threshold-on val --bootstrap 100 --out "$WORK/eval-op" > "$WORK/eval-op.log" 2>&1; rc=$?
[ $rc -eq 0 ] && /usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
c = m["operating_point_chosen_on"]
assert c["split"] == "val" and c["sensitivity"] >= 0.9 and c["cases"] == 78, c
assert abs(m["operating_point"]["threshold"] - c["threshold"]) < 1e-12, (m["operating_point"], c)' "$WORK/eval-op/metrics.json" \
  && pass "threshold for sensitivity 0.9 chosen on val (78 cases) and applied unchanged to test" \
  || { bad "threshold-on exit $rc"; tail -5 "$WORK/eval-op.log"; }
err=$("$LUCENT_BIN" evaluate "$WORK/run/bundle" --data "$DATA/medmnist/breastmnist.npz" --calibrate-on test --out "$WORK/eval5" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "calibrate-on" <<<"$err" && pass "calibrating on the evaluated split is refused" || bad "calibrate on test: exit $rc: $err"

/usr/bin/python3 - "$DATA/medmnist/breastmnist.npz" "$WORK/pngs" <<'PY'
import numpy as np, os, struct, sys, zlib
npz, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
d = np.load(npz)
def png(path, img):
    raw = b"".join(b"\0" + img[r].tobytes() for r in range(img.shape[0]))
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", img.shape[1], img.shape[0], 8, 0, 0, 0, 0)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
names = ["malignant", "benign_or_normal"]
with open(os.path.join(out, "manifest.csv"), "w") as f:
    f.write("path,label,site,split\n")
    for i in range(60):
        png(os.path.join(out, f"case{i:02d}.png"), d["test_images"][i].astype(np.uint8))
        f.write(f"case{i:02d}.png,{names[int(d['test_labels'][i, 0])]},{'AB'[i % 2]},{'test' if i < 50 else 'train'}\n")
PY
"$LUCENT_BIN" --threads 1 evaluate "$WORK/run/bundle" --data "$WORK/pngs/manifest.csv" --subgroup site --min-subgroup 5 \
  --min-subgroup-class 1 --bootstrap 100 --out "$WORK/eval-manifest" > "$WORK/eval2.log" 2>&1; rc=$?
[ $rc -eq 0 ] && /usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["n"] == 50 and set(m["subgroups"]["site"]) == {"A", "B"}, (m["n"], m.get("subgroups"))' "$WORK/eval-manifest/metrics.json" \
  && pass "evaluate on a manifest's test rows with a subgroup audit by site" || { bad "evaluate manifest exit $rc"; tail -5 "$WORK/eval2.log"; }

err=$("$LUCENT_BIN" evaluate "$WORK/run/bundle" --data "$WORK/pngs/manifest.csv" --subgroup scanner --out "$WORK/eval3" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "scanner" <<<"$err" && [ ! -e "$WORK/eval3/metrics.json" ] \
  && pass "an unknown subgroup column is named, exit 2, nothing written" || bad "unknown subgroup: exit $rc: $err"
err=$("$LUCENT_BIN" evaluate "$WORK/run/bundle" --data "$WORK/nothing-here.csv" --out "$WORK/eval4" 2>&1); rc=$?
[ $rc -eq 3 ] && grep -q "nothing-here.csv" <<<"$err" && pass "missing --data named, exit 3" || bad "missing data: exit $rc: $err"

printf 'tampered' >> "$WORK/run/bundle/model_card.md"
err=$("$LUCENT_BIN" predict "$WORK/run/bundle" "$DATA/medmnist/breastmnist.npz" --out "$WORK/pred3" 2>&1); rc=$?
[ $rc -eq 10 ] && grep -q "does not match SHA256SUMS" <<<"$err" && [ ! -e "$WORK/pred3/predictions.csv" ] \
  && pass "tampered bundle refused, nothing written" || bad "tampered bundle: exit $rc: $err"
finish
