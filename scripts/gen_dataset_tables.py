#!/usr/bin/env python3
"""Derives the committed dataset checksum lists from a verified local data folder.

    python3 scripts/gen_dataset_tables.py [DATA_DIR]      # default $LUCENT_DATA or ../shared/data

Writes configs/datasets/<name>.sha256 (sha256sum format, "./" prefixes removed, sorted by path)
from each folder's SHA256SUMS, after re-hashing every listed file so that a list is only derived
from a copy that matches it, and configs/datasets/<name>.sources.tsv (the origin of every file)
from the folder's SOURCES.tsv where there is one, after checking it names the same files and
hashes. Also checks configs/datasets/medmnist.json (the MD5 table of the
official MedMNIST release, Zenodo record 10519652): every entry has the expected keys and sizes,
and every local MedMNIST .npz matches the table's MD5 for its size. Exits non-zero on any problem.
"""
import hashlib
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "configs" / "datasets"
# lucent dataset name -> folder under the data directory
FOLDERS = {
    "busi": "busi",
    "drive": "drive",
    "isbi2012": "isbi2012_em_membrane",
    "mricron": "mricron_ch2_aal",
    "dicom": "dicom",
}
LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def file_hash(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def derive_list(name, folder):
    sums = folder / "SHA256SUMS"
    entries = {}
    for n, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        m = LINE.match(line)
        if not m:
            sys.exit(f"{sums}:{n}: not a sha256sum line: {line!r}")
        digest, rel = m.group(1), m.group(2)
        rel = rel[2:] if rel.startswith("./") else rel
        if rel in entries:
            sys.exit(f"{sums}:{n}: {rel} listed twice")
        found = file_hash(folder / rel, "sha256")
        if found != digest:
            sys.exit(f"{folder / rel}: SHA-256 {found}, SHA256SUMS says {digest}; fix the copy first")
        entries[rel] = digest
    out = OUT / f"{name}.sha256"
    out.write_text("".join(f"{entries[p]}  {p}\n" for p in sorted(entries)), encoding="utf-8")
    print(f"{out.relative_to(ROOT)}: {len(entries)} files")
    sources = folder / "SOURCES.tsv"
    if not sources.exists():
        return
    rows = sources.read_text(encoding="utf-8").splitlines()
    header = rows[0].split("\t")
    if header[:3] != ["local_path", "bytes", "sha256"]:
        sys.exit(f"{sources}: unexpected header {header}")
    listed = {}
    for row in rows[1:]:
        cols = row.split("\t")
        listed[cols[0]] = cols[2]
    if listed != entries:
        sys.exit(f"{sources}: files or hashes differ from SHA256SUMS")
    out = OUT / f"{name}.sources.tsv"
    out.write_text("\n".join([rows[0]] + sorted(rows[1:])) + "\n", encoding="utf-8")
    print(f"{out.relative_to(ROOT)}: origin of {len(listed)} files")


def check_medmnist(data):
    table = json.loads((OUT / "medmnist.json").read_text(encoding="utf-8"))
    for name, e in table.items():
        missing = {"dims", "task", "n_channels", "md5", "label"} - e.keys()
        if missing:
            sys.exit(f"medmnist.json: {name} lacks {sorted(missing)}")
        sizes = {"28", "64", "128", "224"} if e["dims"] == 2 else {"28", "64"}
        if set(e["md5"]) != sizes:
            sys.exit(f"medmnist.json: {name} has sizes {sorted(e['md5'])}, expected {sorted(sizes)}")
        for size, md5 in e["md5"].items():
            if not re.fullmatch(r"[0-9a-f]{32}", md5):
                sys.exit(f"medmnist.json: {name} size {size}: {md5!r} is not an MD5")
    print(f"configs/datasets/medmnist.json: {len(table)} datasets")
    local = data / "medmnist"
    for npz in sorted(local.glob("*.npz")):
        m = re.fullmatch(r"([a-z0-9]+?)(?:_(64|128|224))?\.npz", npz.name)
        if not m or m.group(1) not in table:
            sys.exit(f"{npz}: not a MedMNIST file name in the table")
        expected = table[m.group(1)]["md5"][m.group(2) or "28"]
        found = file_hash(npz, "md5")
        if found != expected:
            sys.exit(f"{npz}: MD5 {found}, the release table says {expected}")
        print(f"  {npz.name}: MD5 {found} matches the release table")


def main():
    default = os.environ.get("LUCENT_DATA") or str(ROOT.parent / "shared" / "data")
    data = Path(sys.argv[1] if len(sys.argv) > 1 else default)
    if not data.is_dir():
        sys.exit(f"data folder {data} does not exist; pass it or set LUCENT_DATA")
    for name, folder in FOLDERS.items():
        derive_list(name, data / folder)
    check_medmnist(data)


if __name__ == "__main__":
    main()
