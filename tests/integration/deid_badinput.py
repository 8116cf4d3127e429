#!/usr/bin/env python3
"""Bad input and bad environments through the CLI: truncated, garbage, invalid-UID, empty and
DICOMDIR files are quarantined with a reason (never copied to the output); missing or open key
files, an unwritable output and a full audit device (/dev/full) are clear errors; the input is
never modified; --check passes the output and flags the input; the lookup table round-trips."""
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "deid_support"))
from common import *  # noqa: E402,F401,F403

LUCENT = lucent_bin()
DATA = data_dir()
pydicom = pydicom_or_skip()
failures = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def digest_tree(folder):
    h = {}
    for d, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(d, f)
            h[p] = hashlib.sha256(open(p, "rb").read()).hexdigest() + str(os.stat(p).st_mtime_ns)
    return h


def main():
    src = os.path.join(DATA, "dicom", "torchio_ct_series")
    good = sorted(os.path.join(src, f) for f in os.listdir(src))[0] if os.path.isdir(src) else None
    if not good:
        skip("dicom/torchio_ct_series missing")
    tmp = tempfile.mkdtemp(prefix="lucent-deid-bad-")
    inp = os.path.join(tmp, "in")
    os.makedirs(inp)
    shutil.copy(good, os.path.join(inp, "good.dcm"))
    raw = open(good, "rb").read()
    open(os.path.join(inp, "truncated.dcm"), "wb").write(raw[: len(raw) // 3])
    open(os.path.join(inp, "garbage.dcm"), "wb").write(os.urandom(4096))
    open(os.path.join(inp, "empty.dcm"), "wb").close()
    ds = pydicom.dcmread(good)
    ds.SOPInstanceUID = "1.2.03.abc"
    ds.save_as(os.path.join(inp, "baduid.dcm"))
    dicomdir = None
    for d, _, files in os.walk(os.path.join(DATA, "dicom")):
        if "DICOMDIR" in files:
            dicomdir = os.path.join(d, "DICOMDIR")
            break
    if dicomdir:
        shutil.copy(dicomdir, os.path.join(inp, "DICOMDIR"))
    before = digest_tree(inp)

    key = os.path.join(tmp, "k.key")
    out = os.path.join(tmp, "out")
    p = run([LUCENT, "deid", inp, out, "--key", key], check=False)
    expect(p.returncode == 3 and "--new-key" in p.stderr, "missing key file: exit 3 (not_found) naming --new-key")
    run([LUCENT, "deid", "--key", key, "--new-key"])
    os.chmod(key, 0o644)
    p = run([LUCENT, "deid", inp, out, "--key", key], check=False)
    expect(p.returncode == 10 and "chmod 600" in p.stderr, "key readable by others: exit 10 (permission_denied)")
    os.chmod(key, 0o600)

    p = run([LUCENT, "deid", inp, "/proc/lucent-deid-out", "--key", key], check=False)
    expect(p.returncode != 0 and "/proc/lucent-deid-out" in p.stderr, "unwritable output: clear error (%d)" % p.returncode)
    p = run([LUCENT, "deid", inp, os.path.join(tmp, "full"), "--key", key, "--audit", "/dev/full"], check=False)
    expect(p.returncode == 9 and "audit" in p.stderr, "audit on a full device: exit 9 (resource_exhausted): " + p.stderr.strip()[:160])
    p = run([LUCENT, "deid", inp, os.path.join(inp, "sub"), "--key", key], check=False)
    expect(p.returncode == 2 and "overlap" in p.stderr, "output inside input refused")

    lookup = os.path.join(tmp, "lookup.bin")
    p = run([LUCENT, "deid", inp, out, "--key", key, "--lookup", lookup, "--threads", "2"], check=False)
    expect(p.returncode == 0, "run with bad files completes (exit %d)" % p.returncode)
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    nbad = 5 if dicomdir else 4
    expect(summary["written"] == 1 and summary["quarantined"] == nbad,
           "1 written, %d quarantined: %s" % (nbad, p.stdout.strip()))
    qdir = out + ".quarantine"
    reasons = [json.load(open(os.path.join(qdir, f))) for f in os.listdir(qdir)] if os.path.isdir(qdir) else []
    by_name = {os.path.basename(r["input"]): r for r in reasons}
    for name in ["truncated.dcm", "garbage.dcm", "empty.dcm", "baduid.dcm"] + (["DICOMDIR"] if dicomdir else []):
        r = by_name.get(name)
        expect(r is not None and r["reason"], "quarantined with a reason: %s -> %s" % (name, r and (r["code"], r["reason"][:90])))
    expect("SOP Instance UID" in by_name.get("baduid.dcm", {}).get("reason", ""), "invalid UID reason names the attribute")
    outs = [f for d, _, fs in os.walk(out) for f in fs if not d.endswith(".lucent-deid")]
    expect(len(outs) == 1, "only the good file reaches the output (%d files)" % len(outs))
    expect(digest_tree(inp) == before, "input tree unchanged (bytes and mtimes)")

    p = run([LUCENT, "deid", "--check", out], check=False)
    expect(p.returncode == 0, "--check passes the de-identified output: " + (p.stdout + p.stderr).strip()[:200])
    p = run([LUCENT, "deid", "--check", os.path.join(inp, "good.dcm")], check=False)
    expect(p.returncode == 4 and "(0010,0010)" in p.stdout, "--check flags the original (exit %d)" % p.returncode)

    p = run([LUCENT, "deid", "--key", key, "--reidentify", lookup], check=False)
    expect(p.returncode == 0 and str(ds.PatientID) in p.stdout, "lookup table re-identifies with the key")
    other = os.path.join(tmp, "other.key")
    run([LUCENT, "deid", "--key", other, "--new-key"])
    p = run([LUCENT, "deid", "--key", other, "--reidentify", lookup], check=False)
    expect(p.returncode == 10, "lookup table refuses another key (exit %d)" % p.returncode)
    expect(str(ds.PatientID).encode() not in open(lookup, "rb").read() or len(str(ds.PatientID)) < 3,
           "lookup table is encrypted")

    if failures:
        print("FAILED:", len(failures))
        sys.exit(1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
