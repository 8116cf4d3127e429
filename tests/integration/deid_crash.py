#!/usr/bin/env python3
"""Crash safety: kill -9 `lucent deid` in the middle of a run, rerun it, and compare with an
uninterrupted run: the same files, byte for byte, nothing lost, no temporaries left."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import filecmp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "deid_support"))
from common import *  # noqa: E402,F401,F403

LUCENT = lucent_bin()
DATA = data_dir()


def tree(folder):
    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, folder)
            if rel.startswith(".lucent-deid"):
                continue
            out[rel] = p
    return out


def main():
    src = os.path.join(DATA, "dicom", "torchio_ct_series")
    if not os.path.isdir(src):
        skip("dicom/torchio_ct_series not in the data dir")
    tmp = tempfile.mkdtemp(prefix="lucent-deid-crash-")
    corpus = os.path.join(tmp, "in")
    # ~1000 files: copies of a real series in many folders (distinct paths, same content).
    files = sorted(os.listdir(src))
    for k in range(60):
        d = os.path.join(corpus, "patient%02d" % (k % 12), "series%02d" % k)
        os.makedirs(d)
        for f in files:
            shutil.copy(os.path.join(src, f), os.path.join(d, f))
    total = 60 * len(files)
    key = new_key(tmp)
    ref = os.path.join(tmp, "ref")
    run([LUCENT, "deid", corpus, ref, "--key", key, "--threads", "2"])

    out = os.path.join(tmp, "out")
    record = os.path.join(out, ".lucent-deid", "completed")
    killed_after = None
    for attempt in range(3):
        proc = subprocess.Popen([LUCENT, "deid", corpus, out, "--key", key, "--threads", "2"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while proc.poll() is None and time.time() - t0 < 30:
            n = sum(1 for _ in open(record)) if os.path.exists(record) else 0
            if n >= total // 4 * (attempt + 1) // 2 + 5:
                os.kill(proc.pid, signal.SIGKILL)
                killed_after = n
                break
            time.sleep(0.002)
        proc.wait()
        if killed_after is not None:
            break
    if killed_after is None:
        skip("the run finished before it could be killed (machine too fast for this corpus)")
    done_before = sum(1 for _ in open(record))
    print("killed with %d of %d files recorded complete" % (done_before, total))
    if done_before >= total:
        skip("the run completed before the kill landed")
    p = run([LUCENT, "deid", corpus, out, "--key", key, "--threads", "2"])
    print(p.stdout.strip())
    a, b = tree(ref), tree(out)
    errors = []
    if set(a) != set(b):
        errors.append("file sets differ: %d only in reference, %d only in resumed" % (len(set(a) - set(b)), len(set(b) - set(a))))
    for rel in sorted(set(a) & set(b)):
        if not filecmp.cmp(a[rel], b[rel], shallow=False):
            errors.append("differs: " + rel)
    temps = [r for r in b if ".tmp-" in r]
    if temps:
        errors.append("temporaries left: %s" % temps[:3])
    if '"skipped_completed":%d' % done_before not in p.stdout.replace(" ", ""):
        errors.append("rerun did not skip exactly the %d completed files: %s" % (done_before, p.stdout))
    if errors:
        print("FAILED:\n  " + "\n  ".join(errors[:20]))
        sys.exit(1)
    print("resumed run matches the uninterrupted run: %d files, byte-identical" % len(a))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
