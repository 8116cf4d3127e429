#!/usr/bin/env bash
# `lucent train` on a segmentation recipe through the real binary, on real DRIVE images (a tiny
# U-Net, one short epoch, inference on whole images): a segmentation bundle, split.csv and
# metrics.json with Dice / AUC / accuracy inside the FOV come out. Bad input: a mask of another
# size and a mask with unexpected label values stop the run before training, naming the files
# (exit 4, invalid_data), and leave no bundle.
# Then `lucent predict` with the run's bundle on a DRIVE test image: a PNG label map of the
# input's size, NIfTI probabilities, an overlay, volumes.json consistent with the label map and
# predictions.json; and a 1-channel ISBI image for the 3-channel bundle is refused (exit 2,
# file and channel counts named) leaving no output folder.
# Last, the 3-D brain recipe (configs/brain/ch2_aal_unet3d.yaml: 117 AAL classes on the Colin27
# MR, one volume as training and validation case) shortened to one batch on a 48x64x48 centre
# crop: the slab-sink evaluation reports Dice over the structures present, buffer_bytes by the
# formula of infer/sliding_window.h and the peak RSS (under 60 s).
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
# ---- predict with the segmentation bundle ----
IMG="$D/testing/images/01_test.tif"
[ -f "$IMG" ] || IMG="$D/test/images/01_test.tif"
if [ -f "$WORK/run/bundle/bundle.json" ] && [ -f "$IMG" ]; then
  "$LUCENT_BIN" --threads 2 predict "$WORK/run/bundle" "$IMG" --out "$WORK/pred" > "$WORK/pred.log" 2>&1; rc=$?
  "$LUCENT_BIN" info --json "$IMG" > "$WORK/img_info.json" 2>/dev/null
  if [ $rc -eq 0 ]; then pass "predict with a segmentation bundle: exit 0"; else bad "predict exit $rc: $(cat "$WORK/pred.log")"; fi
  # Pure-Python readers (no numpy/PIL here): PNG (no interlace) and NIfTI-1 float32.
  cat > "$WORK/seg_io.py" <<'PY'
import gzip, struct, zlib

def read_png(path):
    """Minimal PNG reader (no interlace): (width, height, channels, bit depth, rows of raw bytes)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert interlace == 0
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    bpp = ch * depth // 8
    stride = w * bpp
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, depth, rows


def read_nifti_f32(path):
    """(dims, values) of a float32 .nii.gz; values in file order (x fastest, vector component slowest)."""
    b = gzip.open(path).read()
    dim = struct.unpack("<8h", b[40:56])
    datatype, = struct.unpack("<h", b[70:72])
    assert datatype == 16, datatype
    off = int(struct.unpack("<f", b[108:112])[0])
    n = 1
    for i in range(1, dim[0] + 1):
        n *= dim[i]
    return dim[1:dim[0] + 1], struct.unpack("<%df" % n, b[off:off + 4 * n])
PY
  /usr/bin/python3 - "$WORK/pred" "$WORK/img_info.json" "$WORK" <<'PY' && pass "label map has the input's size; volumes.json matches its pixel counts × spacing; outputs listed" || bad "predict outputs"
import json, os, sys
sys.path.insert(0, sys.argv[3])
from seg_io import read_png, read_nifti_f32

out, info = sys.argv[1], json.load(open(sys.argv[2]))
pred = json.load(open(os.path.join(out, "predictions.json")))
vols = json.load(open(os.path.join(out, "volumes.json")))
assert pred["task"] == "segmentation" and len(pred["cases"]) == 1, pred
case = pred["cases"][0]
assert case["id"] == "01_test", case["id"]
o = case["outputs"]
assert o["labels"] == "01_test_labels.png" and o["probabilities"] == "01_test_probabilities.nii.gz" \
    and o["overlay"] == "01_test_overlay.png", o
for f in o.values():
    assert os.path.getsize(os.path.join(out, f)) > 0, f
assert not [f for f in os.listdir(os.path.dirname(out)) if f.startswith(".pred.tmp")], "staging folder left behind"
w, h, ch, depth, rows = read_png(os.path.join(out, o["labels"]))
sx, sy = info["image"]["size_xyz"][0], info["image"]["size_xyz"][1]
assert (w, h) == (sx, sy) == (565, 584), ((w, h), (sx, sy))
assert ch == 1 and depth == 8, (ch, depth)
counts = {}
for r in rows:
    for v in r:
        counts[v] = counts.get(v, 0) + 1
assert set(counts) <= {0, 1}, sorted(counts)
ow, oh, och, _, _ = read_png(os.path.join(out, o["overlay"]))
assert (ow, oh, och) == (w, h, 3), (ow, oh, och)
vc = vols["cases"][0]
assert vc["id"] == "01_test" and vc["unit"] == "mm2" and vc["spatial_dims"] == 2, vc
s = vc["structures"]
assert [x["label"] for x in s] == [1] and s[0]["name"] == pred["labels"][1], s
assert s[0]["voxels"] == counts.get(1, 0), (s[0]["voxels"], counts.get(1, 0))
sp = vc["spacing_mm"]
assert abs(s[0]["area_mm2"] - s[0]["voxels"] * sp[0] * sp[1]) < 1e-6 * max(1, s[0]["area_mm2"]), (s[0], sp)
assert case["size_ijk"] == [565, 584], case["size_ijk"]
dims, p = read_nifti_f32(os.path.join(out, o["probabilities"]))
n = w * h
assert dims[:2] == (565, 584) and len(p) == 2 * n, dims
assert max(abs(p[i] + p[n + i] - 1) for i in range(0, n, 97)) < 1e-5  # softmax over 2 channels
labels = b"".join(rows)
assert all((p[n + i] >= 0.5) == (labels[i] == 1) for i in range(n)), "label map is not p1 >= threshold"
PY
  # The bundle's own threshold and post-processing: a copy with the threshold at the 90th
  # percentile of p1 (so a tenth of the pixels is foreground even for this barely trained net)
  # and remove_small_components, SHA256SUMS rewritten.
  /usr/bin/python3 - "$WORK/run/bundle" "$WORK/bundle_pp" "$WORK/pred" "$WORK" <<'PY' || bad "making the post-processing bundle"
import hashlib, json, os, shutil, sys
sys.path.insert(0, sys.argv[4])
from seg_io import read_nifti_f32
src, dst, pred = sys.argv[1:4]
shutil.copytree(src, dst)
_, p = read_nifti_f32(os.path.join(pred, "01_test_probabilities.nii.gz"))
p1 = sorted(p[len(p) // 2:])
j = json.load(open(dst + "/bundle.json"))
j["training"]["inference"]["threshold"] = p1[int(0.9 * len(p1))]
j["training"]["inference"]["postprocess"] = [{"name": "remove_small_components", "min_voxels": 20}]
open(dst + "/bundle.json", "w").write(json.dumps(j, indent=2) + "\n")
sums = []
for line in open(dst + "/SHA256SUMS"):
    name = line.rstrip("\n").split("  ", 1)[1]
    sums.append(hashlib.sha256(open(os.path.join(dst, name), "rb").read()).hexdigest() + "  " + name)
open(dst + "/SHA256SUMS", "w").write("\n".join(sums) + "\n")
PY
  "$LUCENT_BIN" --threads 2 predict "$WORK/bundle_pp" "$IMG" --out "$WORK/pred_pp" > "$WORK/pred_pp.log" 2>&1 \
    || bad "predict with threshold + post-processing: $(cat "$WORK/pred_pp.log")"
  /usr/bin/python3 - "$WORK/pred_pp" "$WORK/bundle_pp" "$WORK" <<'PY' && pass "declared threshold and remove_small_components applied; volumes.json = label pixels" || bad "post-processed prediction"
import json, os, sys
sys.path.insert(0, sys.argv[3])
from seg_io import read_png, read_nifti_f32
out, bundle = sys.argv[1], sys.argv[2]
thr = json.load(open(bundle + "/bundle.json"))["training"]["inference"]["threshold"]
case = json.load(open(out + "/predictions.json"))["cases"][0]
w, h, _, _, rows = read_png(os.path.join(out, case["outputs"]["labels"]))
labels = b"".join(rows)
_, p = read_nifti_f32(os.path.join(out, case["outputs"]["probabilities"]))
n = w * h
above = sum(1 for i in range(n) if p[n + i] >= thr)
kept = sum(labels)
assert all(p[n + i] >= thr for i in range(n) if labels[i]), "a labelled pixel below the threshold"
assert 0 < kept <= above and above - kept == case["postprocess_changed_voxels"], (kept, above, case)
v = json.load(open(out + "/volumes.json"))["cases"][0]["structures"][0]
assert v["voxels"] == kept, (v, kept)
PY
  # Bad input: a 1-channel ISBI image for the 3-channel (RGB) DRIVE bundle.
  ISBI_IMG="$DATA/isbi2012_em_membrane/train/image/0.png"
  if [ -f "$ISBI_IMG" ]; then
    err=$("$LUCENT_BIN" predict "$WORK/run/bundle" "$IMG" "$ISBI_IMG" --out "$WORK/pred_bad" 2>&1); rc=$?
    [ $rc -eq 2 ] && grep -q "image/0.png" <<<"$err" && grep -q "1 channel(s)" <<<"$err" && grep -q "expects 3" <<<"$err" \
      && [ ! -e "$WORK/pred_bad" ] && [ -z "$(ls -A "$WORK" | grep '^\.pred_bad')" ] \
      && pass "1-channel image for a 3-channel bundle: exit 2, file and counts named, no output folder" \
      || bad "channel mismatch: exit $rc: $err"
  fi
  # Bad input: an unreadable (truncated) image.
  head -c 300 "$IMG" > "$WORK/truncated.tif"
  err=$("$LUCENT_BIN" predict "$WORK/run/bundle" "$WORK/truncated.tif" --out "$WORK/pred_trunc" 2>&1); rc=$?
  [ $rc -ne 0 ] && grep -q "truncated.tif" <<<"$err" && [ ! -e "$WORK/pred_trunc" ] \
    && pass "truncated image: exit $rc naming the file, no output folder" || bad "truncated image: exit $rc: $err"
fi

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
# ---- the 3-D brain recipe, shortened (seg_cases, 117 classes, label map kept through the sink) ----
BRAIN="$DATA/mricron_ch2_aal"
RECIPE="$(cd "$(dirname "$0")/../.." && pwd)/configs/brain/ch2_aal_unet3d.yaml"
if [ -f "$BRAIN/ch2.nii.gz" ] && [ -f "$RECIPE" ]; then
  t0=$SECONDS
  LUCENT_DATA="$DATA" "$LUCENT_BIN" --threads 2 train "$RECIPE" --out "$WORK/brain3d" --quiet \
    --set train.epochs=1 --set train.patches_per_image=2 --set train.val_every=1 \
    --set "pipeline.preprocess=[{name: zscore, nonzero: true}, {name: pad_crop, size: [48, 64, 48]}]" \
    > "$WORK/brain3d.log" 2>&1; rc=$?
  if [ $rc -eq 0 ] && [ -f "$WORK/brain3d/bundle/bundle.json" ]; then
    pass "3-D brain recipe (1 batch, 48x64x48 crop): exit 0 in $((SECONDS - t0)) s"
  else
    bad "3-D brain recipe: exit $rc: $(tail -5 "$WORK/brain3d.log")"
  fi
  /usr/bin/python3 - "$WORK/brain3d" <<'PY' && pass "3-D: one volume as train and val case; Dice over present classes; buffer_bytes = slab formula; peak RSS" || bad "3-D brain metrics"
import csv, json, sys
run = sys.argv[1]
rows = list(csv.DictReader(open(run + "/split.csv")))
assert [(r["id"], r["split"]) for r in rows] == [("ch2_train", "train"), ("ch2_val", "val")], rows
assert rows[0]["image"] == rows[1]["image"] and rows[0]["patient_id"] != rows[1]["patient_id"], rows
v = json.load(open(run + "/metrics.json"))["val"]
assert v["pixels"] == 48 * 64 * 48, v["pixels"]
assert 20 < v["classes_present"] <= 116 and len(v["dice_per_class"]) == 116, v["classes_present"]
assert 0.0 <= v["dice_mean_present"] <= 1.0 and 0.0 <= v["accuracy"] <= 1.0, v
# (K + 1)·patch_z·Y·X accumulator + weight map + one window in and out (batch 1), no output volume.
K, p = 117, 48 ** 3
assert v["buffer_bytes"] == 4 * ((K + 1) * 48 * 64 * 48 + p + p + K * p), v["buffer_bytes"]
assert v["peak_rss_bytes"] > v["buffer_bytes"], v["peak_rss_bytes"]
PY
fi
finish
