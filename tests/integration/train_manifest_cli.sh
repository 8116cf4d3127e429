#!/usr/bin/env bash
# Image-folder and CSV-manifest data through the real binary, on a BUSI subset: manifest,
# seeded patient-level split (same seed, same file), dataset check, training that writes the
# split it used and records its hash in the bundle, and bad cases named before training.
source "$(dirname "$0")/lib/common.sh"
[ -d "$DATA/busi/benign" ] || skip "no busi/ under $DATA"
export LUCENT_DATA="$DATA"

# 16 images per class (+ their masks, which --exclude must skip).
for c in benign malignant normal; do
  mkdir -p "$WORK/busi/$c"
  for i in $(seq 1 16); do
    cp "$DATA/busi/$c/$c ($i).png" "$WORK/busi/$c/"
    cp "$DATA/busi/$c/$c (${i})_mask.png" "$WORK/busi/$c/" 2>/dev/null || true
  done
done

"$LUCENT_BIN" data manifest "$WORK/busi" --exclude '*_mask*' --out "$WORK/manifest.csv" > /dev/null 2>&1; rc=$?
rows=$(( $(wc -l < "$WORK/manifest.csv" 2>/dev/null || echo 1) - 1 ))
[ $rc -eq 0 ] && [ "$rows" -eq 48 ] && head -1 "$WORK/manifest.csv" | grep -q "^id,path,label,patient_id,split$" \
  && pass "manifest of an image folder lists 48 images, masks excluded" || bad "manifest exit $rc, $rows rows"

"$LUCENT_BIN" data split "$WORK/manifest.csv" --val 0.25 --test 0.25 --seed 3 --out "$WORK/split_a.csv" > /dev/null 2>&1
"$LUCENT_BIN" data split "$WORK/manifest.csv" --val 0.25 --test 0.25 --seed 3 --out "$WORK/split_b.csv" > /dev/null 2>&1
"$LUCENT_BIN" data split "$WORK/manifest.csv" --val 0.25 --test 0.25 --seed 4 --out "$WORK/split_c.csv" > /dev/null 2>&1
tests=$(grep -c ',test$' "$WORK/split_a.csv")
cmp -s "$WORK/split_a.csv" "$WORK/split_b.csv" && ! cmp -s "$WORK/split_a.csv" "$WORK/split_c.csv" && [ "$tests" -eq 12 ] \
  && pass "split: same seed same file, other seed other file, 4 test images per class" || bad "split not reproducible ($tests test rows)"

out=$("$LUCENT_BIN" data check "$WORK/split_a.csv" --labels benign,malignant,normal 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "no problems found" <<<"$out" && grep -q "test.*(12 patients)" <<<"$out" \
  && pass "check of a clean split: counts per split, no problems" || bad "clean check exit $rc: $out"

cat > "$WORK/recipe.yaml" <<YAML
name: busi-cli
seed: 5
data: {kind: image_folder, path: $WORK/busi, exclude: ["*_mask*"], labels: [benign, malignant, normal], split: {val: 0.25, test: 0.25}}
model: {name: resnet10, options: {width: 8, stem: standard}}
pipeline:
  preprocess: [{name: scale_intensity, in_min: 0, in_max: 255}, {name: resize, size: [32, 32]}]
  augment: [{name: flip, axes: [x], p: 0.5}]
train: {epochs: 2, batch_size: 8, max_batches_per_epoch: 2, schedule: constant}
YAML
"$LUCENT_BIN" --threads 1 train "$WORK/recipe.yaml" --out "$WORK/run" --quiet > "$WORK/train.log" 2>&1; rc=$?
split_hash=$(sha256sum "$WORK/run/split.csv" 2>/dev/null | cut -d' ' -f1)
[ $rc -eq 0 ] && [ -f "$WORK/run/metrics.json" ] && [ -n "$split_hash" ] && grep -q "$split_hash" "$WORK/run/bundle/bundle.json" \
  && grep -q '"auc"' "$WORK/run/metrics.json" \
  && pass "train on an image folder: split.csv written, its SHA-256 in the bundle" || { bad "folder train exit $rc"; cat "$WORK/train.log"; }
[ "$(grep -c ',test$' "$WORK/run/split.csv")" -eq 12 ] && pass "the run's split is stratified (12 test images)" || bad "run split"

# The same data given as a pre-split manifest: its split column is used as it is.
sed -e "s#kind: image_folder, path: $WORK/busi, exclude: \[\"\*_mask\*\"\]#kind: manifest, path: $WORK/split_a.csv#" \
  "$WORK/recipe.yaml" > "$WORK/recipe_manifest.yaml"
"$LUCENT_BIN" --threads 1 train "$WORK/recipe_manifest.yaml" --out "$WORK/run_m" --quiet > "$WORK/train_m.log" 2>&1; rc=$?
[ $rc -eq 0 ] && diff <(cut -d, -f1,5 "$WORK/split_a.csv" | sed 's/"//g') <(cut -d, -f1,5 "$WORK/run_m/split.csv" | sed 's/"//g') > /dev/null \
  && pass "train on a pre-split manifest keeps its split" || { bad "manifest train exit $rc"; cat "$WORK/train_m.log"; }

# Bad cases: a file that is not an image, and a label the recipe does not know.
printf 'not a png' > "$WORK/busi/benign/broken.png"
err=$("$LUCENT_BIN" data check "$WORK/busi" --exclude '*_mask*' 2>&1); rc=$?
[ $rc -eq 4 ] && grep -q "benign/broken.*unreadable" <<<"$err" && pass "check names the unreadable file, exit 4" || bad "check broken: exit $rc: $err"
err=$("$LUCENT_BIN" --threads 1 train "$WORK/recipe.yaml" --out "$WORK/run_bad" --quiet 2>&1); rc=$?
[ $rc -eq 4 ] && grep -q "benign/broken" <<<"$err" && [ ! -e "$WORK/run_bad/bundle" ] \
  && pass "training refuses a dataset with an unreadable file before starting" || bad "train broken: exit $rc: $err"
rm "$WORK/busi/benign/broken.png"
err=$("$LUCENT_BIN" --threads 1 train "$WORK/recipe.yaml" --set 'data.labels=[benign, malignant]' --out "$WORK/run_lbl" --quiet 2>&1); rc=$?
[ $rc -eq 4 ] && grep -q "unknown label 'normal'" <<<"$err" && pass "unknown label named, exit 4" || bad "unknown label: exit $rc: $err"
printf 'path,label\n"unterminated.png,benign\n' > "$WORK/bad.csv"
err=$("$LUCENT_BIN" data check "$WORK/bad.csv" 2>&1); rc=$?
[ $rc -eq 4 ] && grep -q "never closed" <<<"$err" && pass "malformed manifest CSV named, exit 4" || bad "bad csv: exit $rc: $err"
finish
