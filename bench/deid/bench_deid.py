#!/usr/bin/env python3
"""Throughput of `lucent deid` against gdcmanon (GDCM) and Orthanc's /anonymize on the same files.

Usage:  /usr/bin/python3 bench/deid/bench_deid.py --lucent build-deid/lucent [--files 3000]
        [--data ../shared/data] [--threads 2] [--markdown]

Builds a corpus of N files in a temp folder from the real DICOM files of the shared data
(every copy gets its own Study/Series/SOP Instance UIDs, so that Orthanc stores each one), then
times, in one run on this machine:
  - lucent deid (basic profile) with 1 and with --threads T workers,
  - gdcmanon -e (PS3.15 E.1 basic profile; it needs a certificate, made here with openssl),
  - Orthanc (started on loopback on a free port, stopped at the end): the upload of every
    file (POST /instances) and then POST /instances/{id}/anonymize for each, with T client
    threads; the anonymize phase alone and upload + anonymize are both reported.
Prints a table of files/s and the ratios. Timings only; nothing is asserted.
"""
import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def gdcmanon_accepts(path, tmp):
    """gdcmanon stops a whole directory run at the first file it cannot handle; such sources are
    left out of the corpus for every tool alike."""
    cert = os.path.join(tmp, "cert.pem")
    if not shutil.which("gdcmanon"):
        return True
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bench",
                        "-keyout", os.path.join(tmp, "key.pem"), "-out", cert], capture_output=True, check=True)
    out = os.path.join(tmp, "probe.dcm")
    r = subprocess.run(["gdcmanon", "-e", "-c", cert, "-i", path, "-o", out], capture_output=True)
    return r.returncode == 0


def build_corpus(data, dest, n, tmp):
    import pydicom
    from pydicom.uid import generate_uid
    sources = []
    for d, _, files in os.walk(os.path.join(data, "dicom")):
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.getsize(p) > 600_000 or f.upper() == "DICOMDIR":
                continue
            try:
                ds = pydicom.dcmread(p)
                if "PixelData" not in ds or "SOPInstanceUID" not in ds:
                    continue
                if ds.file_meta.TransferSyntaxUID not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"):
                    continue  # gdcmanon and Orthanc handle others too, but keep the comparison on plain files
            except Exception:
                continue
            if not gdcmanon_accepts(p, tmp):
                print("note: left out (gdcmanon refuses it):", os.path.relpath(p, data))
                continue
            sources.append(p)
    if not sources:
        sys.exit("no usable DICOM files under " + data)
    import pydicom  # noqa: F811
    datasets = [pydicom.dcmread(p) for p in sources]
    os.makedirs(dest)
    total = 0
    for i in range(n):
        ds = datasets[i % len(datasets)]
        k = i // len(datasets)
        ds.StudyInstanceUID = generate_uid(entropy_srcs=["study", sources[i % len(sources)], str(k // 10)])
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["series", sources[i % len(sources)], str(k)])
        ds.SOPInstanceUID = generate_uid(entropy_srcs=["sop", str(i)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        sub = os.path.join(dest, "p%03d" % (i % 50))
        os.makedirs(sub, exist_ok=True)
        path = os.path.join(sub, "f%05d.dcm" % i)
        ds.save_as(path, write_like_original=True)
        total += os.path.getsize(path)
    return len(sources), total


def timed(cmd, **kw):
    """Seconds until the tool exits, and until its output is on disk (tool + `sync`): lucent makes
    every file durable before it records it; the peers leave that to the kernel."""
    subprocess.run(["sync"])
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t0
    subprocess.run(["sync"])
    p.durable_s = time.perf_counter() - t0
    if p.returncode != 0:
        print("warning: %s exited %d: %s" % (cmd[0], p.returncode, (p.stderr or p.stdout)[-400:]))
    return dt, p


def count_files(folder):
    return sum(len([f for f in fs if not f.startswith(".")]) for d, _, fs in os.walk(folder) if ".lucent-deid" not in d)


def orthanc_bench(orthanc, files, threads, tmp):
    port, dport = free_port(), free_port()
    cfg = {"Name": "lucent-bench", "StorageDirectory": os.path.join(tmp, "orthanc-db"),
           "IndexDirectory": os.path.join(tmp, "orthanc-db"), "HttpPort": port, "DicomPort": dport,
           "DicomServerEnabled": False, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
           "StorageCompression": False, "HttpThreadsCount": max(2, threads * 2), "Plugins": [],
           "HttpCompressionEnabled": False, "OverwriteInstances": True}
    cfg_path = os.path.join(tmp, "orthanc.json")
    json.dump(cfg, open(cfg_path, "w"))
    log = open(os.path.join(tmp, "orthanc.log"), "w")
    proc = subprocess.Popen([orthanc, cfg_path], stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/system")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            return None
        ids = [None] * len(files)
        out_dir = os.path.join(tmp, "orthanc-out")
        os.makedirs(out_dir)

        def worker(fn, idx):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for i in idx:
                fn(c, i)

        def upload(c, i):
            body = open(files[i], "rb").read()
            c.request("POST", "/instances", body=body, headers={"Content-Type": "application/dicom"})
            r = c.getresponse()
            ids[i] = json.loads(r.read())["ID"]

        def anonymize(c, i):
            c.request("POST", "/instances/%s/anonymize" % ids[i], body="{}", headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            with open(os.path.join(out_dir, "%05d.dcm" % i), "wb") as f:
                f.write(data)

        def run_phase(fn):
            parts = [range(t, len(files), threads) for t in range(threads)]
            ts = [threading.Thread(target=worker, args=(fn, p)) for p in parts]
            t0 = time.perf_counter()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            return time.perf_counter() - t0

        up = run_phase(upload)
        an = run_phase(anonymize)
        return up, an, count_files(out_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lucent", required=True)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="lucent-deid-bench-")
    try:
        corpus = os.path.join(tmp, "corpus")
        nsrc, nbytes = build_corpus(a.data, corpus, a.files, tmp)
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(corpus) for f in fs)
        # Warm the page cache for everyone alike.
        for f in files:
            open(f, "rb").read()
        rows = []
        durable = {}
        key = os.path.join(tmp, "k.key")
        subprocess.run([a.lucent, "deid", "--key", key, "--new-key"], capture_output=True, check=True)
        for t in sorted({1, a.threads}):
            out = os.path.join(tmp, "lucent-%d" % t)
            dt, _ = timed([a.lucent, "deid", corpus, out, "--key", key, "--threads", str(t), "--audit",
                           os.path.join(tmp, "audit-%d.jsonl" % t)])
            rows.append(("lucent deid, %d thread%s" % (t, "s" if t > 1 else ""), dt, count_files(out)))
            durable[rows[-1][0]] = _.durable_s
        gdcm = shutil.which("gdcmanon")
        if gdcm:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bench",
                            "-keyout", os.path.join(tmp, "key.pem"), "-out", os.path.join(tmp, "cert.pem")],
                           capture_output=True, check=True)
            out = os.path.join(tmp, "gdcm")
            os.makedirs(out)
            dt, _ = timed([gdcm, "-e", "-c", os.path.join(tmp, "cert.pem"), "-r", "--continue", "-i", corpus, "-o", out])
            rows.append(("gdcmanon -e (basic profile, 1 process)", dt, count_files(out)))
            durable[rows[-1][0]] = _.durable_s
        orthanc = shutil.which("Orthanc")
        if orthanc:
            r = orthanc_bench(orthanc, files, a.threads, tmp)
            if r:
                up, an, n = r
                rows.append(("Orthanc /anonymize only (%d clients)" % a.threads, an, n))
                rows.append(("Orthanc upload + /anonymize (%d clients)" % a.threads, up + an, n))
        base = {name: len(files) / dt for name, dt, _ in rows}
        gd = next((v for k, v in base.items() if k.startswith("gdcmanon")), None)
        lt = base.get("lucent deid, %d threads" % a.threads) or base.get("lucent deid, 1 thread")
        print("\nde-identification throughput: %d files (%d distinct sources, %.0f MB), %s, %d cores, %s" %
              (len(files), nsrc, nbytes / 1e6, platform.platform(), os.cpu_count(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
        print("| tool | seconds | files out | files/s | lucent (%d thr) / tool | seconds incl. sync to disk | lucent / tool, incl. sync |" % a.threads)
        print("|---|---:|---:|---:|---:|---:|---:|")
        lname = "lucent deid, %d threads" % a.threads if a.threads > 1 else "lucent deid, 1 thread"
        for name, dt, n in rows:
            fps = len(files) / dt
            d = durable.get(name)
            dcol = ("%.2f" % d) if d else "n/a"
            rcol = ("%.2f×" % (d / durable[lname])) if d and lname in durable else "n/a"
            print("| %s | %.2f | %d | %.0f | %.2f× | %s | %s |" % (name, dt, n, fps, lt / fps, dcol, rcol))
        if gd:
            print("\nlucent (%d threads) vs gdcmanon: %.2f× (exit to exit)" % (a.threads, lt / gd))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
