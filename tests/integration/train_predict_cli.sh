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

printf 'tampered' >> "$WORK/run/bundle/model_card.md"
err=$("$LUCENT_BIN" predict "$WORK/run/bundle" "$DATA/medmnist/breastmnist.npz" --out "$WORK/pred3" 2>&1); rc=$?
[ $rc -eq 10 ] && grep -q "does not match SHA256SUMS" <<<"$err" && [ ! -e "$WORK/pred3/predictions.csv" ] \
  && pass "tampered bundle refused, nothing written" || bad "tampered bundle: exit $rc: $err"
finish
