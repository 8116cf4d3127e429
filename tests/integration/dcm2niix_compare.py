#!/usr/bin/env python3
"""Geometry and voxel values of `lucent convert` against dcm2niix (the test oracle).

For each reference input both tools write NIfTI; both files are brought to the closest
canonical orientation with nibabel and must agree: voxel-to-world affine within 1e-3 mm and
identical voxel values (after each file's scl_slope/scl_inter). Exit 77 = skipped.
"""
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import nibabel as nib
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: nibabel/numpy missing ({e}); install python3-nibabel")
    sys.exit(77)

LUCENT = os.environ["LUCENT_BIN"]
DATA = os.environ.get("LUCENT_DATA") or os.environ.get("LUCENT_TEST_DATA_DEFAULT", "")
DCM2NIIX = shutil.which("dcm2niix")
if not DCM2NIIX:
    print("SKIP: dcm2niix not installed (apt-get install dcm2niix)")
    sys.exit(77)
if not os.path.isdir(os.path.join(DATA, "dicom")):
    print(f"SKIP: no dicom/ under data folder {DATA!r}")
    sys.exit(77)

# (name, input, values): "equal" — identical voxel values; "philips-linear" — Lucent applies the
# standard Rescale Slope/Intercept (display values) while dcm2niix applies Philips' private
# floating-point scaling (2005,100E), so the two must agree up to one affine map per volume.
CASES = [
    ("17-slice CT series", "dicom/torchio_ct_series", "equal"),
    ("3-slice CT", "dicom/dcmqi/segmentations/ct-3slice", "equal"),
    ("enhanced multi-frame MR (Philips)", "dicom/dcm_qa_enh/In/Philips/IM_0027_fMAP.dcm", "philips-linear"),
    ("dcm_qa_ts MR slice (Siemens mosaic)", "dicom/dcm_qa_ts/In/1.dcm", "equal"),
]


def run_dcm2niix(src, out):
    os.makedirs(out)
    if os.path.isfile(src):
        d = os.path.join(out, "in")
        os.makedirs(d)
        shutil.copy(src, d)
        src = d
    subprocess.run([DCM2NIIX, "-z", "n", "-b", "n", "-f", "%s_%e_%z", "-o", out, src],
                   check=True, capture_output=True, text=True)
    return sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".nii"))


def canonical(path):
    img = nib.as_closest_canonical(nib.load(path))
    data = np.asarray(img.get_fdata(dtype=np.float64))
    return img.affine, data


def compare(name, ours_path, ref_path, values="equal"):
    a_aff, a = canonical(ours_path)
    b_aff, b = canonical(ref_path)
    # A single slice has no slice axis in either file: compare only the in-plane columns and origin.
    a = np.squeeze(a)
    b = np.squeeze(b)
    cols = [0, 1, 2] if a.ndim == 3 else [0, 1]
    problems = []
    if a.shape != b.shape:
        problems.append(f"shape {a.shape} vs dcm2niix {b.shape}")
    else:
        diff = np.abs(a_aff[:3, cols + [3]] - b_aff[:3, cols + [3]]).max()
        if diff > 1e-3:
            problems.append(f"affine differs by {diff:.4g} mm\nlucent:\n{a_aff}\ndcm2niix:\n{b_aff}")
        if values == "philips-linear" and not np.array_equal(a, b):
            # Fit b = k a + c on the voxels; every voxel must then agree to float32 precision.
            k, c = np.polyfit(a.ravel(), b.ravel(), 1)
            a = k * a + c
            print(f"     ({name}: dcm2niix = {k:.6g} x lucent + {c:.6g}, Philips precise scaling)")
        if not np.allclose(a, b, rtol=0, atol=0) and values == "philips-linear":
            rel = np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)  # relative to the volume's range
            if rel > 1e-6:
                problems.append(f"voxel values are not an affine map of dcm2niix's (relative residual {rel:.3g})")
        elif not np.array_equal(a, b):
            # Scaled values (slope != 1) are stored as float32 by Lucent while dcm2niix stores the
            # raw integers plus scl_slope/scl_inter: they must agree to float32 precision.
            bad = np.abs(a - b)
            rel = (bad / np.maximum(np.abs(b), 1e-12)).max()
            if rel > 1e-6:
                problems.append(f"voxel values differ: max |diff| {bad.max()} (relative {rel:.3g}), "
                                f"{int((bad > 0).sum())} voxels")
    return problems


failures = 0
with tempfile.TemporaryDirectory() as tmp:
    for i, (name, rel, values) in enumerate(CASES):
        src = os.path.join(DATA, rel)
        if not os.path.exists(src):
            print(f"skip - {name}: {rel} missing")
            continue
        refs = run_dcm2niix(src, os.path.join(tmp, f"ref{i}"))
        ours = os.path.join(tmp, f"ours{i}.nii")
        r = subprocess.run([LUCENT, "convert", src, ours], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL - {name}: lucent convert exit {r.returncode}: {r.stderr.strip()}")
            failures += 1
            continue
        if not refs:
            print(f"FAIL - {name}: dcm2niix wrote no NIfTI")
            failures += 1
            continue
        # dcm2niix may split one input into several volumes (echoes, phase/magnitude); ours is
        # the first stack — match it against the dcm2niix output of the same shape/position.
        results = [(ref, compare(name, ours, ref, values)) for ref in refs]
        good = [ref for ref, p in results if not p]
        if good:
            print(f"ok   - {name}: matches {os.path.basename(good[0])} (of {len(refs)} dcm2niix output(s))")
        else:
            failures += 1
            print(f"FAIL - {name}:")
            for ref, p in results:
                print(f"    vs {os.path.basename(ref)}: " + "; ".join(p))

print(f"{failures} failure(s)")
sys.exit(1 if failures else 0)
