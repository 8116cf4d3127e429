"""Shared helpers for the deid integration tests (imported by ../deid_*.py)."""
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def skip(reason):
    print("SKIP:", reason)
    sys.exit(SKIP)


def lucent_bin():
    b = os.environ.get("LUCENT_BIN")
    if not b or not os.path.exists(b):
        skip("LUCENT_BIN not set or missing (run through ctest)")
    return b


def data_dir():
    d = os.environ.get("LUCENT_DATA") or os.environ.get("LUCENT_TEST_DATA_DEFAULT")
    if not d or not os.path.isdir(os.path.join(d, "dicom")):
        skip("shared data (dicom/) not found; set LUCENT_DATA")
    return d


def pydicom_or_skip():
    try:
        import pydicom  # noqa: F401
        return pydicom
    except ImportError:
        skip("pydicom not installed for /usr/bin/python3 (apt install python3-pydicom)")


def run(args, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        print("command failed:", " ".join(map(str, args)), "\nstdout:", p.stdout, "\nstderr:", p.stderr)
        sys.exit(1)
    return p


def new_key(tmp):
    key = os.path.join(tmp, "project.key")
    run([lucent_bin(), "deid", "--key", key, "--new-key"])
    return key


def readable_dicoms(root, limit=None, max_bytes=4 << 20):
    """Files under root that pydicom reads (with pixel data), spread across folders."""
    pydicom = pydicom_or_skip()
    by_dir = {}
    for d, _, files in os.walk(root):
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.getsize(p) > max_bytes or f.upper() == "DICOMDIR" or f.endswith((".txt", ".tsv", ".nii", ".gz", ".nrrd", ".json", ".md")):
                continue
            by_dir.setdefault(d, []).append(p)
    out = []
    # round-robin over folders so that every kind of file is represented
    lists = [by_dir[k] for k in sorted(by_dir)]
    while lists and (limit is None or len(out) < limit):
        nxt = []
        for lst in lists:
            if not lst:
                continue
            p = lst.pop(0)
            try:
                ds = pydicom.dcmread(p)
                if "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
                    continue
                if ds.file_meta.get("MediaStorageSOPClassUID", "") == "1.2.840.10008.1.3.10":
                    continue
            except Exception:
                continue
            out.append(p)
            if limit is not None and len(out) >= limit:
                break
            nxt.append(lst)
        lists = [l for l in nxt if l]
    return out


def all_output_bytes(folder):
    for d, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                yield p, fh.read()
