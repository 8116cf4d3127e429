#!/usr/bin/env bash
# The main job (`make demo`): every file under the data folder is read or refused with a reason,
# and the two conversions exist and read back.
source "$(dirname "$0")/lib/common.sh"
out="$WORK/survey"
"$LUCENT_BIN" survey "$DATA" --out "$out" > "$WORK/log.txt" 2>&1; rc=$?
[ $rc -eq 0 ] && pass "survey exit 0" || { bad "survey exit $rc"; tail -30 "$WORK/log.txt"; }
[ -s "$out/survey.tsv" ] && pass "survey.tsv written" || bad "no survey.tsv"
n_rows=$(( $(wc -l < "$out/survey.tsv") - 1 ))
unexplained=$(awk -F'\t' 'NR>1 && $2=="refused" && length($9) < 20' "$out/survey.tsv" | wc -l)
[ "$unexplained" -eq 0 ] && pass "every refusal has a reason ($n_rows files)" || bad "$unexplained refusals without a reason"
internal=$(awk -F'\t' 'NR>1 && $9 ~ /^internal/' "$out/survey.tsv" | wc -l)
[ "$internal" -eq 0 ] && pass "no internal errors" || { bad "$internal internal errors"; grep -P '\tinternal' "$out/survey.tsv" | head; }
for f in ct_series.nii.gz brain_mr_ch2.nii.gz; do
  if "$LUCENT_BIN" info "$out/$f" --json > "$WORK/$f.json" 2>&1; then pass "$f reads back"; else bad "$f does not read back"; fi
done
/usr/bin/python3 - "$WORK/ct_series.nii.gz.json" <<'PY' && pass "CT volume 88x128x17, 2 mm" || bad "CT volume wrong"
import json, sys
j = json.load(open(sys.argv[1]))["image"]
assert j["size_xyz"] == [88, 128, 17], j["size_xyz"]
assert all(abs(s - 2.0) < 1e-3 for s in j["spacing_mm"]), j["spacing_mm"]
PY
finish
