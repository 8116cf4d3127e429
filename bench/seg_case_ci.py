#!/usr/bin/env python3
"""Per-image Dice and HD95 of a segmentation run with 95 % bootstrap intervals, by group.

Reads RUN/metrics.json (`test.per_case`: id, dice, hd95) written by `lucent train` for a
segmentation recipe and prints a Markdown table: mean per image with a percentile bootstrap
interval over images (2,000 resamples, seeded), for all images and for each group — the part of
the case id before the first '/' (BUSI: benign / malignant / normal). HD95 is averaged over the
images that have one (an empty truth has none).

    /usr/bin/python3 bench/seg_case_ci.py runs/busi_lesions [--resamples 2000] [--seed 0]
"""
import argparse
import json
import pathlib

import numpy as np


def mean_ci(values, rng, resamples):
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return None
    idx = rng.integers(0, v.size, size=(resamples, v.size))
    means = v[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return v.mean(), lo, hi


def fmt(ci, digits):
    if ci is None:
        return "—"
    m, lo, hi = ci
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=pathlib.Path)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    path = args.run / "metrics.json"
    try:
        cases = json.loads(path.read_text())["test"]["per_case"]
    except (OSError, KeyError, ValueError) as e:
        raise SystemExit(f"{path}: no test.per_case ({e}); is this a finished segmentation run?")
    groups = {"all": cases}
    for c in cases:
        if "/" in c["id"]:
            groups.setdefault(c["id"].split("/", 1)[0], []).append(c)
    print("| test images | n | Dice, mean per image [95 % CI] | HD95, mean [95 % CI] (images with one) |")
    print("|---|---|---|---|")
    for name, cs in groups.items():
        rng = np.random.default_rng(args.seed)
        dice = mean_ci([c["dice"] for c in cs], rng, args.resamples)
        hd = [c["hd95"] for c in cs if c.get("hd95") is not None and np.isfinite(c["hd95"])]
        hd95 = mean_ci(hd, rng, args.resamples)
        print(f"| {name} | {len(cs)} | {fmt(dice, 3)} | {fmt(hd95, 1)} (n = {len(hd)}) |")


if __name__ == "__main__":
    main()
