#!/usr/bin/python3
"""`lucent metrics --rand` against an independent NumPy/SciPy reference on real ISBI 2012 EM
labels: the foreground-restricted adapted Rand error of scikit-image's
skimage.metrics.adapted_rand_error (transcribed below; scikit-image is not a dependency),
rand split = its returned "precision", rand merge = its "recall", and the information scores
V_info, on segments made by scipy.ndimage.label (face connectivity). Predictions are the true
membranes perturbed (thickened, thinned, gapped, cut by random lines, salted), written as
boundary maps (1 = membrane) like `lucent predict`; the truth is the dataset's own PNG (255 =
cell interior). Also a 3-D stack (6-connected components), id maps scored as they are, a truth
without foreground (undefined with its reason) and the option checks. Every value to 1e-9.
Runs with Debian's python3 (numpy, scipy); skips (77) without them or without the data."""
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    from scipy import ndimage, sparse
except ImportError as e:  # pragma: no cover
    print(f"SKIP: needs numpy and scipy (apt install python3-scipy): {e}")
    sys.exit(77)

LUCENT = os.environ.get("LUCENT_BIN")
if not LUCENT or not os.path.exists(LUCENT):
    print("SKIP: LUCENT_BIN does not point at the lucent binary")
    sys.exit(77)
DATA = os.environ.get("LUCENT_DATA") or os.environ.get("LUCENT_TEST_DATA_DEFAULT", "")
LABELS = os.path.join(DATA, "isbi2012_em_membrane", "train", "label")
if not os.path.isdir(LABELS):
    print(f"SKIP: no ISBI 2012 labels under '{LABELS}' (set LUCENT_DATA; `lucent data fetch isbi2012_em_membrane`)")
    sys.exit(77)

TOL = 1e-9
NAMES = ["rand_error", "rand_split", "rand_merge", "info_score", "info_split", "info_merge"]
failures = []
WORK = tempfile.mkdtemp(prefix="lucent-rand-")


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


# --- PNG (8-bit grey) and NIfTI (int16) by hand: no imaging library needed -----------------
def read_png_gray(path):
    d = open(path, "rb").read()
    assert d[:8] == b"\x89PNG\r\n\x1a\n", path
    i, idat = 8, b""
    while i < len(d):
        n, = struct.unpack(">I", d[i:i + 4])
        kind = d[i + 4:i + 8]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", d[i + 8:i + 21])
            assert depth == 8 and ctype == 0 and interlace == 0, (path, depth, ctype, interlace)
        elif kind == b"IDAT":
            idat += d[i + 8:i + 8 + n]
        i += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w + 1)
    out = np.zeros((h, w), np.int64)
    prev = np.zeros(w, np.int64)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 255
        else:  # sub, average, Paeth: left to right
            cur = np.zeros(w, np.int64)
            for x in range(w):
                a = cur[x - 1] if x else 0
                b, c = prev[x], (prev[x - 1] if x else 0)
                if f == 1:
                    v = a
                elif f == 3:
                    v = (a + b) >> 1
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    v = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + v) & 255
        out[y] = cur
        prev = cur
    return out


def write_png_gray(path, a):
    h, w = a.shape
    raw = b"".join(b"\0" + a[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_nifti(path, zyx):
    """3-D int16, spacing 1 mm, qform/sform diag(-1, -1, 1): LPS identity direction."""
    nz, ny, nx = zyx.shape
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, 3, nx, ny, nz, 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, 4, 16)
    struct.pack_into("<8f", h, 76, 1.0, 1.0, 1.0, 1.0, 0, 0, 0, 0)
    struct.pack_into("<f", h, 108, 352.0)
    struct.pack_into("<f", h, 112, 1.0)
    struct.pack_into("<hh", h, 252, 1, 1)
    struct.pack_into("<6f", h, 256, 0, 0, 1, 0, 0, 0)
    struct.pack_into("<12f", h, 280, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0)
    h[344:348] = b"n+1\0"
    assert zyx.min() >= -32768 and zyx.max() <= 32767
    with gzip.open(path, "wb") as f:
        f.write(bytes(h) + b"\0\0\0\0" + zyx.astype("<i2").tobytes())


# --- the reference ---------------------------------------------------------------------------
def reference(pred_ids, true_ids):
    """skimage.metrics.adapted_rand_error(true_ids, pred_ids) (ignore_labels=(0,), alpha=0.5)
    and the V_info scores of Arganda-Carreras et al. 2015, on the truth's non-zero voxels."""
    t, p = true_ids.ravel().astype(np.int64), pred_ids.ravel().astype(np.int64)
    keep = t != 0
    if not keep.any():
        return {k: None for k in NAMES}
    t, p = t[keep], p[keep]
    p = p - p.min()  # sparse indices must be >= 0; a shift does not change the partition
    cont = sparse.coo_matrix((np.ones(t.size), (t, p))).tocsr()  # rows: truth, columns: prediction
    sum_p_ij2 = cont.data @ cont.data - cont.sum()
    a_i = np.asarray(cont.sum(axis=1)).ravel()
    b_i = np.asarray(cont.sum(axis=0)).ravel()
    sum_a2 = a_i @ a_i - a_i.sum()
    sum_b2 = b_i @ b_i - b_i.sum()
    r = {"rand_split": sum_p_ij2 / sum_a2, "rand_merge": sum_p_ij2 / sum_b2,
         "rand_error": 1.0 - sum_p_ij2 / (0.5 * sum_a2 + 0.5 * sum_b2)}

    def entropy(counts):
        q = counts[counts > 0] / t.size
        return float(-(q * np.log(q)).sum())
    h_t, h_s, h_ts = entropy(a_i), entropy(b_i), entropy(cont.data)
    mi = max(0.0, h_t + h_s - h_ts)
    r["info_split"] = mi / h_s if h_s > 0 else None
    r["info_merge"] = mi / h_t if h_t > 0 else None
    r["info_score"] = 2 * mi / (h_s + h_t) if h_s + h_t > 0 else None
    return {k: (None if v is None else float(v)) for k, v in r.items()}


def components(inside):
    return ndimage.label(inside)[0]  # default structure: face connectivity (4 in 2-D, 6 in 3-D)


def run(args):
    return subprocess.run([LUCENT, "metrics", *args], capture_output=True, text=True)


def compare(tag, got_json, expected):
    """expected: {case id: reference dict}; checks every case and the means."""
    got = json.load(open(got_json))
    expect(got["task"] == "segment_agreement" and got["n"] == len(expected), f"{tag}: header {got['task']}, n {got['n']}")
    worst = 0.0
    bad = []
    for c in got["per_case"]:
        for k in NAMES:
            want, have = expected[c["id"]][k], c[k]
            if want is None or have is None:
                if want is not have:
                    bad.append(f"{c['id']} {k}: lucent {have}, reference {want}")
                continue
            worst = max(worst, abs(have - want))
            if abs(have - want) > TOL:
                bad.append(f"{c['id']} {k}: lucent {have!r}, reference {want!r}")
    for k in NAMES:
        vals = [e[k] for e in expected.values() if e[k] is not None]
        have = got["metrics"][k]["value"]
        if vals and (have is None or abs(have - np.mean(vals)) > TOL):
            bad.append(f"mean {k}: lucent {have}, reference {np.mean(vals)}")
    expect(not bad, f"{tag}: {len(expected)} case(s) x {len(NAMES)} scores and their means match the reference "
                    f"(largest difference {worst:.2e})" + ("; " + "; ".join(bad[:5]) if bad else ""))
    return got


# --- 2-D: real labels, perturbed boundary predictions -----------------------------------------
rng = np.random.default_rng(2012)
pred_dir, truth_dir = os.path.join(WORK, "pred"), os.path.join(WORK, "truth")
os.makedirs(pred_dir)
os.makedirs(truth_dir)
cross = ndimage.generate_binary_structure(2, 1)
expected = {}
stack = []
for k in ("0", "11", "23"):
    src = os.path.join(LABELS, k + ".png")
    lab = read_png_gray(src)
    expect(set(np.unique(lab)) <= {0, 255}, f"label {k}.png holds 0 (membrane) and 255 (cell interior)")
    membrane = lab == 0
    stack.append(membrane)
    gaps = membrane & (rng.random(membrane.shape) < 0.3)
    cuts = membrane.copy()
    for _ in range(6):  # random straight cuts: splits
        if rng.random() < 0.5:
            cuts[rng.integers(0, cuts.shape[0]), :] = True
        else:
            cuts[:, rng.integers(0, cuts.shape[1])] = True
    perturbed = {
        "same": membrane,
        "dilated": ndimage.binary_dilation(membrane, cross),
        "eroded": ndimage.binary_erosion(membrane, cross),
        "gaps": membrane & ~gaps,
        "cuts": cuts,
        "salted": membrane | (rng.random(membrane.shape) < 0.02),
    }
    truth_ids = components(lab != 0)
    for name, m in perturbed.items():
        case = f"{k}_{name}"
        write_png_gray(os.path.join(pred_dir, case + ".png"), m.astype(np.uint8))  # 1 = membrane
        shutil.copy(src, os.path.join(truth_dir, case + ".png"))
        expected[case] = reference(components(~m), truth_ids)

out = os.path.join(WORK, "out2d")
r = run(["--rand", "--pred-mask", pred_dir, "--truth-mask", truth_dir, "--pred-segments", "boundary",
         "--truth-segments", "interior", "--bootstrap", "200", "--out", out])
expect(r.returncode == 0, f"2-D boundary vs interior maps: exit {r.returncode} {r.stderr.strip()[:300]}")
if r.returncode == 0:
    got = compare("2-D ISBI labels", os.path.join(out, "metrics.json"), expected)
    same = [c for c in got["per_case"] if c["id"].endswith("_same")]
    expect(all(c["rand_error"] == 0.0 and c["info_score"] > 1 - 1e-12 for c in same),
           "the true membranes as the prediction score rand_error 0, V_info 1")
    expect(all(c["pred_background_voxels"] == 0 for c in same), "no predicted membrane on the true cells")
    m = got["metrics"]["rand_error"]
    expect(m["ci_low"] is not None and m["ci_low"] <= m["value"] <= m["ci_high"],
           f"bootstrap interval around the mean rand_error: {m}")
    expect("rand_split" in r.stdout and "metrics: " in r.stdout, "prints a table")
    print("     " + " ".join(f"{c['id']}={c['rand_error']:.4f}" for c in got["per_case"]))

# --- 3-D: the three slices as a stack (6-connected segments), id maps as they are ------------
vol = np.stack(stack)  # membrane
pred_vol = ndimage.binary_dilation(vol, ndimage.generate_binary_structure(3, 1)) & (rng.random(vol.shape) > 0.05)
d3 = os.path.join(WORK, "d3")
for sub in ("pred", "truth", "pred_ids", "truth_ids"):
    os.makedirs(os.path.join(d3, sub))
write_nifti(os.path.join(d3, "pred", "stack.nii.gz"), pred_vol.astype(np.int16))       # 1 = membrane
write_nifti(os.path.join(d3, "truth", "stack.nii.gz"), (~vol).astype(np.int16) * 255)  # 255 = cell
r = run(["--rand", "--pred-mask", os.path.join(d3, "pred"), "--truth-mask", os.path.join(d3, "truth"),
         "--pred-segments", "boundary", "--truth-segments", "interior", "--bootstrap", "0", "--out",
         os.path.join(d3, "out")])
expect(r.returncode == 0, f"3-D stack: exit {r.returncode} {r.stderr.strip()[:300]}")
if r.returncode == 0:
    compare("3-D stack, 6-connected", os.path.join(d3, "out", "metrics.json"),
            {"stack": reference(components(~pred_vol), components(~vol))})

# Id maps scored as they are: the truth's cells, and a prediction that merges pairs of ids and
# marks some voxels 0 (an ordinary segment on the truth's foreground).
t_ids = components(~vol)
p_ids = (t_ids + 1) // 2
p_ids[rng.random(vol.shape) < 0.01] = 0
write_nifti(os.path.join(d3, "pred_ids", "stack.nii.gz"), p_ids.astype(np.int16))
write_nifti(os.path.join(d3, "truth_ids", "stack.nii.gz"), t_ids.astype(np.int16))
r = run(["--rand", "--pred-mask", os.path.join(d3, "pred_ids", "stack.nii.gz"), "--truth-mask",
         os.path.join(d3, "truth_ids", "stack.nii.gz"), "--bootstrap", "0", "--out", os.path.join(d3, "out_ids")])
expect(r.returncode == 0, f"3-D id maps (--*-segments labels by default): exit {r.returncode} {r.stderr.strip()[:300]}")
if r.returncode == 0:
    compare("3-D id maps", os.path.join(d3, "out_ids", "metrics.json"), {"stack": reference(p_ids, t_ids)})

# --- a truth without foreground: scored, undefined with the reason ----------------------------
empty = os.path.join(WORK, "empty")
os.makedirs(empty)
write_png_gray(os.path.join(empty, "pred.png"), np.zeros((8, 8), np.uint8))
write_png_gray(os.path.join(empty, "truth.png"), np.zeros((8, 8), np.uint8))
r = run(["--rand", "--pred-mask", os.path.join(empty, "pred.png"), "--truth-mask", os.path.join(empty, "truth.png"),
         "--truth-segments", "labels", "--bootstrap", "0", "--out", os.path.join(empty, "out")])
ok = r.returncode == 0
if ok:
    got = json.load(open(os.path.join(empty, "out", "metrics.json")))
    c = got["per_case"][0]
    ok = c["rand_error"] is None and "no foreground" in c.get("rand_error_reason", "") \
        and got["metrics"]["rand_error"]["value"] is None and "no foreground" in got["metrics"]["rand_error"]["reason"]
expect(ok, f"truth without foreground: rand_error null with the reason ({r.returncode} {r.stderr.strip()[:200]})")

# --- option checks: nothing written --------------------------------------------------------------
for args, what in (
        (["--pred-segments", "boundary"], "--pred-segments without --rand"),
        (["--rand", "--labels", "1"], "--rand with --labels"),
        (["--rand", "--pred-segments", "membrane"], "an unknown segment source"),
):
    dest = os.path.join(WORK, "refused")
    r = run(["--pred-mask", os.path.join(empty, "pred.png"), "--truth-mask", os.path.join(empty, "truth.png"),
             "--out", dest, *args])
    expect(r.returncode != 0 and not os.path.exists(os.path.join(dest, "metrics.json")) and r.stderr.strip() != "",
           f"{what} is refused (exit {r.returncode}): {r.stderr.strip().splitlines()[0][:160] if r.stderr.strip() else ''}")

shutil.rmtree(WORK, ignore_errors=True)
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
