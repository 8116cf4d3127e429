#!/usr/bin/env python3
"""Output stays valid DICOM: for real files, dciodvfy (dicom3tools) reports no error in the
de-identified file that the input did not already have, and pixel data are bit-identical (same
transfer syntax, same bytes, compressed or not) when no pixel rule applied."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "deid_support"))
from common import *  # noqa: E402,F401,F403

LUCENT = lucent_bin()
DATA = data_dir()
pydicom = pydicom_or_skip()


def dciodvfy_errors(path):
    r = subprocess.run(["dciodvfy", path], capture_output=True, text=True)
    out = set()
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("Error"):
            # values (UIDs, numbers in angle brackets) change by design; compare the message kind
            out.add(re.sub(r"<[0-9.]+>", "<value>", re.sub(r"\s+", " ", line)))
    return out


def main():
    have_dciodvfy = shutil.which("dciodvfy") is not None
    files = readable_dicoms(os.path.join(DATA, "dicom"), limit=80)
    tmp = tempfile.mkdtemp(prefix="lucent-deid-valid-")
    inp = os.path.join(tmp, "in")
    os.makedirs(inp)
    for i, f in enumerate(files):
        shutil.copy(f, os.path.join(inp, "%03d_%s" % (i, os.path.basename(f))))
    key = new_key(tmp)
    failures = 0
    for opts in ([], ["retain-long-modified-dates", "clean-descriptors", "clean-structured-content", "retain-safe-private"]):
        out = os.path.join(tmp, "out-%d" % len(opts))
        audit = out + ".jsonl"
        args = [LUCENT, "deid", inp, out, "--key", key, "--threads", "2", "--audit", audit]
        for o in opts:
            args += ["--option", o]
        run(args)
        recs = [json.loads(l) for l in open(audit) if '"event":"file"' in l]
        new_errors, pixel_diffs, checked = {}, [], 0
        for r in recs:
            src, dst = r["input"], os.path.join(out, r["output"])
            a = pydicom.dcmread(src)
            b = pydicom.dcmread(dst)
            if "PixelData" in a:
                if b.get("PixelData") != a.PixelData or b.file_meta.TransferSyntaxUID != a.file_meta.TransferSyntaxUID:
                    pixel_diffs.append(os.path.basename(src))
            if have_dciodvfy:
                new = dciodvfy_errors(dst) - dciodvfy_errors(src)
                if new:
                    new_errors[os.path.basename(src)] = sorted(new)
            checked += 1
        label = " ".join(opts) or "basic"
        print("%s: %d files checked, %d with new dciodvfy errors, %d with changed pixel data" %
              (label, checked, len(new_errors), len(pixel_diffs)))
        for name, errs in list(new_errors.items())[:10]:
            print("  new errors in", name, errs[:3])
        for name in pixel_diffs[:10]:
            print("  pixel data changed:", name)
        failures += len(new_errors) + len(pixel_diffs)
    if not have_dciodvfy:
        print("note: dciodvfy not installed; only pixel identity was checked (apt install dicom3tools)")
    if failures:
        sys.exit(1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
