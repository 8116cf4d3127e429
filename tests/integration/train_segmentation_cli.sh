#!/usr/bin/env bash
# `lucent train` on a segmentation recipe through the real binary, on real DRIVE images (a tiny
# U-Net, one short epoch, inference on whole images): a segmentation bundle, split.csv and
# metrics.json with Dice / AUC / accuracy inside the FOV come out. Bad input: a mask of another
# size and a mask with unexpected label values stop the run before training, naming the files
# (exit 4, invalid_data), and leave no bundle.
source "$(dirname "$0")/lib/common.sh"
D="$DATA/drive"
[ -d "$D/training/images" ] || skip "no drive/ under $DATA"
T="$D/training"
{
  echo "image,mask,roi,split"
  for i in 21 22; do echo "$T/images/${i}_training.tif,$T/1st_manual/${i}_manual1.gif,$T/mask/${i}_training_mask.gif,train"; done
  echo "$T/images/23_training.tif,$T/1st_manual/23_manual1.gif,$T/mask/23_training_mask.gif,val"
  echo "$T/images/24_training.tif,$T/1st_manual/24_manual1.gif,$T/mask/24_training_mask.gif,test"
} > "$WORK/seg.csv"
recipe() {
  cat <<YAML
name: drive-cli
task: segmentation
seed: 2
data: {kind: seg_manifest, path: $1, num_classes: 2, remap: $2}
model: {name: unet, options: {depth: 2, width: 4, norm: batch}}
pipeline:
  preprocess: [{name: zscore}]
  augment: [{name: flip, axes: [x, y], p: 0.5}]
train: {epochs: 1, batch_size: 4, patch_size: [32, 32], patches_per_image: 8, lr: 0.003, schedule: constant}
infer: {patch_size: [128, 128], overlap: 0.25, batch_size: 2}
YAML
}
recipe "$WORK/seg.csv" "{255: 1}" > "$WORK/recipe.yaml"

"$LUCENT_BIN" --threads 2 train "$WORK/recipe.yaml" --out "$WORK/run" > "$WORK/train.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && [ -f "$WORK/run/bundle/bundle.json" ] && [ -f "$WORK/run/metrics.json" ] && [ -f "$WORK/run/split.csv" ]; then
  pass "train writes a segmentation bundle, split.csv and metrics.json"
else
  bad "train exit $rc"; cat "$WORK/train.log"
fi
/usr/bin/python3 - "$WORK/run" <<'PY' && pass "bundle task segmentation with inference settings; test Dice/AUC/accuracy in [0, 1]" || bad "bundle/metrics content"
import json, sys
run = sys.argv[1]
b = json.load(open(run + "/bundle/bundle.json"))
m = json.load(open(run + "/metrics.json"))
assert b["task"] == "segmentation", b["task"]
inf = b["training"]["inference"]
assert inf["patch_size"] == [128, 128] and inf["overlap"] == 0.25 and inf["blend"] == "gaussian", inf
t = m["test"]
for k in ("dice", "auc", "accuracy"):
    assert 0.0 <= t[k] <= 1.0, (k, t)
assert t["cases"] == 1 and len(t["per_case"]) == 1, t
# DRIVE image 24: the FOV holds about 225 000 of its 584 x 565 pixels; only those are scored.
assert 150000 < t["pixels"] < 300000, t["pixels"]
PY
grep -q "this run" "$WORK/train.log" && pass "the result table is printed" || bad "no result table: $(tail -5 "$WORK/train.log")"

# Bad input 1: a mask of another size (an ISBI label, 512x512, for a 565x584 DRIVE image).
ISBI="$DATA/isbi2012_em_membrane/train/label/0.png"
if [ -f "$ISBI" ]; then
  sed "s#$T/1st_manual/22_manual1.gif#$ISBI#" "$WORK/seg.csv" > "$WORK/bad_size.csv"
  recipe "$WORK/bad_size.csv" "{255: 1}" > "$WORK/bad_size.yaml"
  err=$("$LUCENT_BIN" train "$WORK/bad_size.yaml" --out "$WORK/run_bad" 2>&1); rc=$?
  [ $rc -eq 4 ] && grep -q "22_training.tif" <<<"$err" && grep -q "label/0.png" <<<"$err" && grep -q "512x512" <<<"$err" \
    && [ ! -e "$WORK/run_bad/bundle" ] \
    && pass "mask of another size: exit 4, both files and sizes named, no bundle" || bad "size mismatch: exit $rc: $err"
fi

# Bad input 2: labels 0/255 without the remap -> 255 is unexpected for 2 classes.
recipe "$WORK/seg.csv" "{}" > "$WORK/no_remap.yaml"
err=$("$LUCENT_BIN" train "$WORK/no_remap.yaml" --out "$WORK/run_nr" 2>&1); rc=$?
[ $rc -eq 4 ] && grep -q "255" <<<"$err" && grep -q "data.remap" <<<"$err" \
  && pass "unexpected mask labels: exit 4 with the fix named" || bad "unexpected labels: exit $rc: $err"

# Bad recipe: a patch that is not a multiple of the U-Net's 2^depth.
err=$("$LUCENT_BIN" train "$WORK/recipe.yaml" --out "$WORK/run_p" --set "train.patch_size=[30, 30]" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "multiples of 4" <<<"$err" && pass "patch not a multiple of 2^depth: exit 2" || bad "bad patch: exit $rc: $err"
finish
