#!/usr/bin/env bash
# Bad input through the real binary: each case must exit non-zero with a clear message that
# names the file, never crash (signal / exit >= 128) or report an internal error, and never
# leave an output file behind.
source "$(dirname "$0")/lib/common.sh"

expect_refusal() {  # name, expected fragment, input
  local name=$1 fragment=$2 input=$3 out="$WORK/out-$RANDOM.nii.gz"
  local err rc
  err=$("$LUCENT_BIN" convert "$input" "$out" 2>&1 >/dev/null); rc=$?
  if [ $rc -eq 0 ]; then bad "$name: exit 0 for bad input"; return; fi
  if [ $rc -ge 128 ] || [ $rc -eq 70 ]; then bad "$name: crash/internal (exit $rc): $err"; return; fi
  if ! grep -qF -- "$fragment" <<<"$err"; then bad "$name: message lacks '$fragment': $err"; return; fi
  if ! grep -qF -- "$(basename "$input")" <<<"$err"; then bad "$name: message does not name the input: $err"; return; fi
  if ls "$WORK"/out-* "$WORK"/.out-* >/dev/null 2>&1; then bad "$name: left an output file"; rm -f "$WORK"/out-* "$WORK"/.out-*; return; fi
  pass "$name (exit $rc): $(head -c 160 <<<"$err")"
}

ct="$DATA/dicom/torchio_ct_series/IMG0001.dcm"
head -c 1000 "$ct" > "$WORK/truncated.dcm"
head -c $(( $(stat -c %s "$ct") - 5000 )) "$ct" > "$WORK/truncated_pixels.dcm"
: > "$WORK/empty.dcm"
head -c 4096 /dev/urandom > "$WORK/random.dcm"
printf 'this is not an image\n' > "$WORK/notes.nii"
cp "$DATA/mricron_ch2_aal/ch2.nii.gz" "$WORK/corrupt.nii.gz"
gunzip -c "$DATA/mricron_ch2_aal/ch2.nii.gz" > "$WORK/corrupt_header.nii"
printf '\xff\xff\xff\x7f\xff\xff\xff\x7f' | dd of="$WORK/corrupt_header.nii" bs=1 seek=40 conv=notrunc status=none
head -c 200000 "$DATA/mricron_ch2_aal/ch2.nii.gz" > "$WORK/truncated.nii.gz"

expect_refusal "truncated DICOM header" "truncated.dcm" "$WORK/truncated.dcm"
expect_refusal "truncated DICOM pixel data" "truncated_pixels.dcm" "$WORK/truncated_pixels.dcm"
expect_refusal "zero-byte file" "empty" "$WORK/empty.dcm"
expect_refusal "random bytes named .dcm" "random.dcm" "$WORK/random.dcm"
expect_refusal "text named .nii" "notes.nii" "$WORK/notes.nii"
expect_refusal "NIfTI with corrupt dim header" "corrupt_header.nii" "$WORK/corrupt_header.nii"
expect_refusal "truncated .nii.gz" "truncated.nii.gz" "$WORK/truncated.nii.gz"
expect_refusal "SR without pixel data" "sr.dcm" "$DATA/dicom/dcmqi/sr-example/sr.dcm"
expect_refusal "HTJ2K transfer syntax" "unsupported transfer syntax" "$DATA/dicom/pydicom-data/HTJ2K_08_RGB.dcm"
expect_refusal "missing file" "not_found" "$WORK/does-not-exist.dcm"

# A folder with two series: refused with the list of UIDs, and --series picks one.
mkdir -p "$WORK/two"
cp "$DATA"/dicom/torchio_ct_series/IMG000{1,2,3}.dcm "$WORK/two/"
cp "$DATA"/dicom/dcmqi/segmentations/ct-3slice/0{1,2,3}.dcm "$WORK/two/"
expect_refusal "folder with two series" "series" "$WORK/two"
uid=$("$LUCENT_BIN" info "$WORK/two" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["series"][0]["series_instance_uid"])')
if "$LUCENT_BIN" convert "$WORK/two" "$WORK/picked.nii.gz" --series "$uid" >/dev/null 2>&1 && [ -s "$WORK/picked.nii.gz" ]; then
  pass "--series picks one of two series"
else
  bad "--series $uid did not convert"
fi
rm -f "$WORK/picked.nii.gz"

# Unwritable output and unknown extension: clear errors, nothing written.
err=$("$LUCENT_BIN" convert "$DATA/mricron_ch2_aal/ch2.nii.gz" "$WORK/no/such/dir/x.nii.gz" 2>&1); rc=$?
[ $rc -eq 7 ] && grep -q "does not exist" <<<"$err" && pass "missing output folder -> io_error" || bad "missing output folder: exit $rc: $err"
err=$("$LUCENT_BIN" convert "$DATA/mricron_ch2_aal/ch2.nii.gz" "$WORK/x.xyz" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "extension" <<<"$err" && pass "unknown output extension -> invalid_argument" || bad "unknown extension: exit $rc: $err"

# lucent metrics: neither score files nor label maps, and score-file options on label maps.
err=$("$LUCENT_BIN" metrics --out "$WORK/m0" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q -- "--pred-mask" <<<"$err" && [ ! -e "$WORK/m0/metrics.json" ] \
  && pass "metrics without inputs names both ways to call it" || bad "metrics without inputs: exit $rc: $err"
err=$("$LUCENT_BIN" metrics --pred-mask "$WORK" --truth-mask "$WORK" --subgroup site --out "$WORK/m1" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q -- "--subgroup" <<<"$err" && [ ! -e "$WORK/m1/metrics.json" ] \
  && pass "score-file options on label maps are refused" || bad "metrics --pred-mask --subgroup: exit $rc: $err"

# Every subcommand answers --help.
for cmd in info convert survey errors deid metrics compare agreement evaluate; do
  "$LUCENT_BIN" "$cmd" --help >/dev/null 2>&1 && pass "$cmd --help" || bad "$cmd --help failed"
done
"$LUCENT_BIN" nosuchcommand >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && pass "unknown subcommand -> exit 2" || bad "unknown subcommand exit $rc"
finish
