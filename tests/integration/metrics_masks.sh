#!/usr/bin/env bash
# `lucent metrics --pred-mask/--truth-mask` through the real binary: label-map folders matched
# by file name, values checked against an independent SciPy implementation of MONAI's
# definitions (binary_erosion ^ mask surfaces, distance_transform_edt with sampling), and bad
# input (grid mismatch, a missing or extra case, a missing path) refused with a clear message
# that names the files, leaving no metrics.json behind.
source "$(dirname "$0")/lib/common.sh"
PY=/usr/bin/python3
$PY -c 'import numpy, scipy' 2>/dev/null || skip "/usr/bin/python3 lacks numpy/scipy (scripts/setup.sh installs python3-sklearn, which brings both)"

# Cases: 3-D label maps (labels 1 and 2; case c has no label 2 anywhere), NIfTI-1 written by
# hand (int16, qform/sform = diag(-sx, -sy, sz) so that LPS is the identity direction).
$PY - "$WORK" <<'EOF'
import gzip, json, os, struct, sys
import numpy as np
work = sys.argv[1]

def write_nifti(path, zyx, spacing_xyz):
    nz, ny, nx = zyx.shape
    h = bytearray(348)
    struct.pack_into('<i', h, 0, 348)
    struct.pack_into('<8h', h, 40, 3, nx, ny, nz, 1, 1, 1, 1)
    struct.pack_into('<hh', h, 70, 4, 16)                       # datatype int16, bitpix
    struct.pack_into('<8f', h, 76, 1.0, *spacing_xyz, 0, 0, 0, 0)
    struct.pack_into('<f', h, 108, 352.0)                       # vox_offset
    struct.pack_into('<f', h, 112, 1.0)                         # scl_slope
    struct.pack_into('<hh', h, 252, 1, 1)                       # qform_code, sform_code
    struct.pack_into('<6f', h, 256, 0, 0, 1, 0, 0, 0)           # quatern b,c,d (180° about z), offsets
    sx, sy, sz = spacing_xyz
    struct.pack_into('<12f', h, 280, -sx, 0, 0, 0, 0, -sy, 0, 0, 0, 0, sz, 0)
    h[344:348] = b'n+1\0'
    data = bytes(h) + b'\0\0\0\0' + zyx.astype('<i2').tobytes()
    (gzip.open if path.endswith('.gz') else open)(path, 'wb').write(data)

z, y, x = np.mgrid[0:14, 0:20, 0:22].astype(float)
def ball(cz, cy, cx, rz, ry, rx):
    return ((z - cz) / rz) ** 2 + ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
cases = {
    'a': (ball(6, 9, 10, 4, 6, 7), ball(6.5, 10, 11, 4, 5.5, 6.5), ball(8, 5, 16, 2, 3, 3), ball(8, 5.5, 15, 2, 3, 3.5)),
    'b': (ball(7, 10, 9, 5, 7, 6), ball(7, 9, 9.5, 4.5, 7, 6), ball(3, 14, 4, 2, 3, 3), ball(3.5, 14, 5, 2, 2, 2)),
    'c': (ball(6, 10, 11, 3, 4, 4), ball(5, 10, 12, 3, 5, 4), None, None),
}
spacing_xyz = (0.8, 0.9, 2.0)
for d in ('pred', 'truth', 'pred_missing', 'pred_extra', 'pred_badgrid'):
    os.makedirs(os.path.join(work, d))
for name, (t1, p1, t2, p2) in cases.items():
    t = np.zeros(t1.shape, np.int16); p = np.zeros(t1.shape, np.int16)
    t[t1] = 1; p[p1] = 1
    if t2 is not None:
        t[t2] = 2; p[p2] = 2
    fn = name + '.nii.gz'
    write_nifti(os.path.join(work, 'truth', fn), t, spacing_xyz)
    for d in ('pred', 'pred_extra', 'pred_badgrid'):
        write_nifti(os.path.join(work, d, fn), p, (0.8, 0.9, 2.5) if (d == 'pred_badgrid' and name == 'b') else spacing_xyz)
    if name != 'b':
        write_nifti(os.path.join(work, 'pred_missing', fn), p, spacing_xyz)
write_nifti(os.path.join(work, 'pred_extra', 'zz_extra.nii.gz'), p, spacing_xyz)
EOF
[ -f "$WORK/truth/a.nii.gz" ] || { bad "could not write the test label maps"; finish; }

# Independent reference: MONAI's definitions with SciPy; writes expected.json.
$PY - "$WORK" <<'EOF'
import gzip, json, os, sys
import numpy as np
from scipy.ndimage import binary_erosion, distance_transform_edt
work = sys.argv[1]
def read(path):
    raw = gzip.open(path).read()
    nx, ny, nz = np.frombuffer(raw[42:48], '<i2')
    sx, sy, sz = np.frombuffer(raw[80:92], '<f4')
    return np.frombuffer(raw[352:], '<i2').reshape(nz, ny, nx), (float(sz), float(sy), float(sx))
def scores(p, t, spacing, tol=1.0):
    o, ps, ts = (p & t).sum(), p.sum(), t.sum()
    r = {'dice': 1.0 if ps + ts == 0 else 2 * o / (ps + ts), 'iou': 1.0 if ps + ts == 0 else o / (p | t).sum(),
         'sensitivity': o / ts if ts else None, 'precision': o / ps if ps else None,
         'hd95': None, 'assd': None, 'nsd': None if ps + ts == 0 else 0.0}
    if ps and ts:
        ep, et = binary_erosion(p) ^ p, binary_erosion(t) ^ t
        dpt = distance_transform_edt(~et, sampling=spacing)[ep]
        dtp = distance_transform_edt(~ep, sampling=spacing)[et]
        both = np.concatenate([dpt, dtp])
        r['hd95'] = max(np.percentile(dpt, 95), np.percentile(dtp, 95))
        r['assd'] = both.mean()
        r['nsd'] = ((dpt <= tol).sum() + (dtp <= tol).sum()) / len(both)
    return {k: (None if v is None else float(v)) for k, v in r.items()}
per_case = {}
for fn in sorted(os.listdir(os.path.join(work, 'truth'))):
    t, sp = read(os.path.join(work, 'truth', fn)); p, _ = read(os.path.join(work, 'pred', fn))
    per_case[fn.split('.')[0]] = {str(l): scores(p == l, t == l, sp) for l in (1, 2)}
names = ['dice', 'iou', 'sensitivity', 'precision', 'hd95', 'assd', 'nsd']
per_class = {}
for l in ('1', '2'):
    per_class[l] = {}
    for m in names:
        v = [c[l][m] for c in per_case.values() if c[l][m] is not None]
        per_class[l][m] = sum(v) / len(v) if v else None
overall = {m: np.mean([per_class[l][m] for l in per_class if per_class[l][m] is not None]) for m in names}
json.dump({'per_case': per_case, 'per_class': per_class, 'metrics': {k: float(v) for k, v in overall.items()}},
          open(os.path.join(work, 'expected.json'), 'w'))
EOF

out="$WORK/out"
if "$LUCENT_BIN" metrics --pred-mask "$WORK/pred" --truth-mask "$WORK/truth" --out "$out" --bootstrap 200 \
     > "$WORK/stdout.txt" 2> "$WORK/stderr.txt"; then
  pass "scores three cases (exit 0)"
else
  bad "metrics on label-map folders failed: $(cat "$WORK/stderr.txt")"
fi
if [ -s "$out/metrics.json" ]; then
  if msg=$($PY - "$out/metrics.json" "$WORK/expected.json" <<'EOF'
import json, math, sys
got, exp = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
errs = []
def close(a, b, what):
    if a is None or b is None:
        if a is not b: errs.append(f'{what}: got {a}, expected {b}')
    elif abs(a - b) > 1e-9 * max(1, abs(b)): errs.append(f'{what}: got {a!r}, expected {b!r}')
if got['task'] != 'segmentation' or got['n'] != 3 or got['labels'] != [1, 2]:
    errs.append(f"header: task {got['task']}, n {got['n']}, labels {got['labels']}")
for c in got['per_case']:
    for l, vals in exp['per_case'][c['id']].items():
        for m, v in vals.items(): close(c['labels'][l][m], v, f"case {c['id']} label {l} {m}")
for l, vals in exp['per_class'].items():
    for m, v in vals.items(): close(got['per_class'][l][m]['value'], v, f'per_class {l} {m}')
for m, v in exp['metrics'].items():
    e = got['metrics'][m]
    close(e['value'], v, f'overall {m}')
    if e['ci_low'] is None or not (e['ci_low'] <= e['value'] <= e['ci_high']): errs.append(f'{m}: interval {e}')
c = [c for c in got['per_case'] if c['id'] == 'c'][0]['labels']['2']
if c['dice'] != 1.0 or c['hd95'] is not None or 'both masks are empty' not in c['hd95_reason']:
    errs.append(f'both-empty label 2 of case c: {c}')
print('; '.join(errs[:6]) if errs else 'values match the SciPy reference to 1e-9')
sys.exit(1 if errs else 0)
EOF
  ); then pass "$msg"; else bad "$msg"; fi
  grep -q "hd95" "$WORK/stdout.txt" && grep -q "metrics: $out/metrics.json" "$WORK/stdout.txt" \
    && pass "prints a table" || bad "no table on stdout: $(cat "$WORK/stdout.txt")"
else
  bad "no metrics.json written"
fi

# One pair of files is one case; --labels restricts the classes.
if "$LUCENT_BIN" metrics --pred-mask "$WORK/pred/a.nii.gz" --truth-mask "$WORK/truth/a.nii.gz" --labels 2 \
     --bootstrap 0 --out "$WORK/one" >/dev/null 2>"$WORK/stderr.txt" \
   && $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["n"]==1 and d["labels"]==[2] and list(d["per_class"])==["2"] else 1)' "$WORK/one/metrics.json"; then
  pass "two files = one case; --labels 2 scores label 2 only"
else
  bad "single-file mode with --labels: $(cat "$WORK/stderr.txt")"
fi

expect_refusal() {  # name, exit code, fragments (|-separated, all required), pred, truth
  local name=$1 code=$2 fragments=$3 pred=$4 truth=$5 dir="$WORK/refused-$RANDOM" err rc
  err=$("$LUCENT_BIN" metrics --pred-mask "$pred" --truth-mask "$truth" --out "$dir" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne "$code" ]; then bad "$name: exit $rc, expected $code: $err"; return; fi
  local f
  IFS='|' read -ra parts <<<"$fragments"
  for f in "${parts[@]}"; do
    grep -qF -- "$f" <<<"$err" || { bad "$name: message lacks '$f': $err"; return; }
  done
  if [ -e "$dir/metrics.json" ]; then bad "$name: left a metrics.json"; return; fi
  pass "$name (exit $rc): $(head -c 200 <<<"$err")"
}
expect_refusal "grid mismatch names both files and the property" 4 "spacing|pred_badgrid/b.nii.gz|truth/b.nii.gz|resample" \
  "$WORK/pred_badgrid" "$WORK/truth"
expect_refusal "a truth case without prediction is named" 3 "b.nii.gz|pred_missing" "$WORK/pred_missing" "$WORK/truth"
expect_refusal "a prediction without truth is named" 4 "zz_extra.nii.gz" "$WORK/pred_extra" "$WORK/truth"
expect_refusal "missing prediction path" 3 "does-not-exist|--pred-mask" "$WORK/does-not-exist" "$WORK/truth"
expect_refusal "file against folder" 2 "folder" "$WORK/pred/a.nii.gz" "$WORK/truth"
finish
