#!/usr/bin/env bash
# `lucent bundle import` through the real binary: a small CNN scripted by Debian's python3-torch
# (fixed seed) is imported, `lucent predict` on the PneumoniaMNIST test split must give
# PyTorch's own probabilities (within 1e-5), the bundle also runs in an ensemble with a native
# bundle and with --tta, and bad inputs are refused with the right exit code, a message naming
# the thing, and no output folder left behind.
source "$(dirname "$0")/lib/common.sh"
NPZ="$DATA/medmnist/pneumoniamnist.npz"
[ -f "$NPZ" ] || skip "no medmnist/pneumoniamnist.npz under $DATA"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is missing; install python3-torch (scripts/setup.sh)"
/usr/bin/python3 "$(dirname "$0")/bundle_support/make_models.py" "$WORK/py" --npz "$NPZ" > "$WORK/py.log" 2>&1; rc=$?
[ $rc -eq 77 ] && skip "$(cat "$WORK/py.log")"
[ $rc -eq 0 ] || { echo "FAIL - make_models.py exited $rc"; cat "$WORK/py.log"; exit 1; }
export LUCENT_DATA="$DATA"

cat > "$WORK/spec.yaml" <<'YAML'
task: binary
labels: [normal, pneumonia]
spatial_dims: 2
in_channels: 1
input_size: [28, 28]
preprocess:
  - {name: scale_intensity, in_min: 0, in_max: 255, out_min: 0, out_max: 1}
  - {name: normalize, mean: 0.5, std: 0.5}
name: small-cnn
description: A small CNN scripted by the bundle_import integration test (untrained).
source: tests/integration/bundle_support/make_models.py
YAML

# --- import, verify, predict like PyTorch ------------------------------------------------------
out=$("$LUCENT_BIN" bundle import "$WORK/py/model.pt" --spec "$WORK/spec.yaml" --out "$WORK/imported" 2>&1); rc=$?
[ $rc -eq 0 ] && [ -f "$WORK/imported/model.torchscript" ] && grep -q "architecture  torchscript" <<<"$out" \
  && pass "bundle import writes a torchscript bundle" || { bad "import exit $rc"; echo "$out"; }
cmp -s "$WORK/py/model.pt" "$WORK/imported/model.torchscript" && pass "the archive is stored byte for byte" \
  || bad "model.torchscript differs from model.pt"

out=$("$LUCENT_BIN" bundle verify "$WORK/imported" 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "verify ok" <<<"$out" && grep -q "labels        normal, pneumonia" <<<"$out" \
  && pass "bundle verify passes and prints the labels" || { bad "verify exit $rc"; echo "$out"; }

"$LUCENT_BIN" predict "$WORK/imported" "$NPZ" --out "$WORK/pred" > "$WORK/pred.log" 2>&1; rc=$?
[ $rc -eq 0 ] || { bad "predict exit $rc"; cat "$WORK/pred.log"; }
# predictions.csv: id,score_0,score_1,predicted — compare score columns with PyTorch's rows.
cmp_out=$(tail -n +2 "$WORK/pred/predictions.csv" | cut -d, -f2,3 | tr , ' ' | paste -d' ' - "$WORK/py/probs.txt" | awk '
  { n++; for (k = 1; k <= 2; k++) { d = $k - $(k + 2); if (d < 0) d = -d; if (d > max) max = d } }
  END { printf "%d %.3g\n", n, max; exit !(n == 624 && max <= 1e-5) }'); rc=$?
[ $rc -eq 0 ] && pass "predict matches PyTorch on 624 test images (n, max |diff|: $cmp_out)" \
  || bad "predict differs from PyTorch (n, max |diff|: $cmp_out)"

# --- ensembles and TTA -------------------------------------------------------------------------
cat > "$WORK/recipe.yaml" <<'YAML'
name: pneumonia-native
seed: 1
data: {kind: medmnist, path: medmnist/pneumoniamnist.npz, labels: [normal, pneumonia]}
model: {name: resnet10, options: {width: 8}}
pipeline:
  preprocess: [{name: scale_intensity, in_min: 0, in_max: 255}]
train: {epochs: 1, batch_size: 32, max_batches_per_epoch: 2, schedule: constant}
YAML
"$LUCENT_BIN" --threads 1 train "$WORK/recipe.yaml" --out "$WORK/native" --quiet > "$WORK/train.log" 2>&1 \
  || { bad "training the native bundle failed"; cat "$WORK/train.log"; }
"$LUCENT_BIN" predict "$WORK/native/bundle" "$NPZ" --out "$WORK/pred_native" > /dev/null 2>&1 \
  || bad "predict with the native bundle failed"
out=$("$LUCENT_BIN" bundle verify "$WORK/native/bundle" 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "architecture  resnet10" <<<"$out" && pass "bundle verify also checks a trained bundle" \
  || { bad "verify on the native bundle: exit $rc"; echo "$out"; }
"$LUCENT_BIN" predict "$WORK/native/bundle" "$WORK/imported" "$NPZ" --out "$WORK/pred_ens" > "$WORK/ens.log" 2>&1; rc=$?
# The ensemble is the mean of its members.
ens=$(paste -d, <(tail -n +2 "$WORK/pred/predictions.csv" | cut -d, -f2) \
                <(tail -n +2 "$WORK/pred_native/predictions.csv" | cut -d, -f2) \
                <(tail -n +2 "$WORK/pred_ens/predictions.csv" 2>/dev/null | cut -d, -f2) | awk -F, '
  { n++; d = ($1 + $2) / 2 - $3; if (d < 0) d = -d; if (d > max) max = d }
  END { printf "%d %.3g\n", n, max; exit !(n == 624 && max <= 1e-6) }'); rc2=$?
[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && pass "ensemble of a native and an imported bundle averages them ($ens)" \
  || { bad "ensemble: exit $rc, check $rc2 ($ens)"; cat "$WORK/ens.log"; }
"$LUCENT_BIN" predict "$WORK/imported" "$WORK/native/bundle" "$NPZ" --tta --out "$WORK/pred_tta" > /dev/null 2>&1; rc=$?
rows=$(( $(wc -l < "$WORK/pred_tta/predictions.csv" 2>/dev/null || echo 1) - 1 ))
[ $rc -eq 0 ] && [ "$rows" -eq 624 ] && ! cmp -s "$WORK/pred_tta/predictions.csv" "$WORK/pred_ens/predictions.csv" \
  && pass "imported + native ensemble with --tta" || bad "--tta ensemble: exit $rc, $rows rows"

# --- bad inputs: exit code, the thing named, nothing written -----------------------------------
expect_refused() {  # name, expected exit, message fragment, command...
  local name=$1 code=$2 fragment=$3; shift 3
  local err rc
  err=$("$@" 2>&1); rc=$?
  if [ $rc -eq "$code" ] && grep -qF -- "$fragment" <<<"$err" && [ ! -e "$WORK/bad" ] \
     && [ -z "$(ls -A "$WORK" | grep '^\.bad')" ]; then
    pass "$name -> exit $code"
  else
    bad "$name: exit $rc (want $code), output: $err"
  fi
}
imp() { "$LUCENT_BIN" bundle import "$@"; }
expect_refused "text file as model" 4 "notes.txt is a text file" imp "$WORK/py/notes.txt" --spec "$WORK/spec.yaml" --out "$WORK/bad"
expect_refused "truncated archive" 4 "truncated or damaged" imp "$WORK/py/truncated.pt" --spec "$WORK/spec.yaml" --out "$WORK/bad"
expect_refused "torch.save(state_dict)" 4 "torch.save() checkpoint" imp "$WORK/py/state_dict.pt" --spec "$WORK/spec.yaml" --out "$WORK/bad"
expect_refused "legacy pickle" 4 "Python pickle" imp "$WORK/py/legacy.pkl" --spec "$WORK/spec.yaml" --out "$WORK/bad"
expect_refused "missing model" 3 "nothing.pt" imp "$WORK/py/nothing.pt" --spec "$WORK/spec.yaml" --out "$WORK/bad"
expect_refused "3 outputs for 2 labels" 4 "returned shape (1, 3), expected (1, 2)" \
  imp "$WORK/py/three_outputs.pt" --spec "$WORK/spec.yaml" --out "$WORK/bad"
sed 's/^labels:/lables:/' "$WORK/spec.yaml" > "$WORK/typo.yaml"
expect_refused "unknown spec key" 2 "unknown key 'lables'" imp "$WORK/py/model.pt" --spec "$WORK/typo.yaml" --out "$WORK/bad"
grep -v '^in_channels:' "$WORK/spec.yaml" > "$WORK/missing.yaml"
expect_refused "missing spec key" 2 "missing required key 'in_channels'" \
  imp "$WORK/py/model.pt" --spec "$WORK/missing.yaml" --out "$WORK/bad"
sed 's/^labels:.*/labels: [normal, bacterial, viral]/; s/^task:.*/task: multiclass/' "$WORK/spec.yaml" > "$WORK/three.yaml"
expect_refused "3 labels for 2 outputs" 4 "3 label(s) declared" imp "$WORK/py/model.pt" --spec "$WORK/three.yaml" --out "$WORK/bad"
sed 's/name: normalize/name: normalise/' "$WORK/spec.yaml" > "$WORK/badstep.yaml"
expect_refused "unknown transform in preprocess" 2 "normalise" imp "$WORK/py/model.pt" --spec "$WORK/badstep.yaml" --out "$WORK/bad"
expect_refused "missing spec file" 3 "nospec.yaml" imp "$WORK/py/model.pt" --spec "$WORK/nospec.yaml" --out "$WORK/bad"

err=$(imp "$WORK/py/model.pt" --spec "$WORK/spec.yaml" --out "$WORK/imported" 2>&1); rc=$?
[ $rc -eq 8 ] && grep -q -- "--force" <<<"$err" && pass "existing --out refused without --force -> exit 8" \
  || bad "existing --out: exit $rc: $err"
imp "$WORK/py/model.pt" --spec "$WORK/spec.yaml" --out "$WORK/imported" --force > /dev/null 2>&1 \
  && pass "--force replaces an existing bundle" || bad "--force failed"
mkdir -p "$WORK/precious" && echo keep > "$WORK/precious/notes"
err=$(imp "$WORK/py/model.pt" --spec "$WORK/spec.yaml" --out "$WORK/precious" --force 2>&1); rc=$?
[ $rc -eq 8 ] && [ "$(cat "$WORK/precious/notes")" = keep ] && grep -q "not a Lucent bundle" <<<"$err" \
  && pass "--force never replaces a folder that is not a bundle" || bad "--force on a non-bundle: exit $rc: $err"

# --- tampering ---------------------------------------------------------------------------------
cp -r "$WORK/imported" "$WORK/tampered"
printf 'tampered' >> "$WORK/tampered/model.torchscript"
err=$("$LUCENT_BIN" predict "$WORK/tampered" "$NPZ" --out "$WORK/pred_tampered" 2>&1); rc=$?
[ $rc -eq 10 ] && grep -q "model.torchscript does not match SHA256SUMS" <<<"$err" \
  && [ ! -e "$WORK/pred_tampered/predictions.csv" ] && pass "tampered model.torchscript refused by predict -> exit 10" \
  || bad "tampered archive: exit $rc: $err"
err=$("$LUCENT_BIN" bundle verify "$WORK/tampered" 2>&1); rc=$?
[ $rc -eq 10 ] && pass "bundle verify refuses it too -> exit 10" || bad "verify on tampered: exit $rc: $err"
finish
