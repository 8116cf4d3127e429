#!/usr/bin/env python3
"""Sums oneDNN's own execution times per primitive from an ONEDNN_VERBOSE=1 log of a training run.

    ONEDNN_VERBOSE=1 build/lucent train configs/medmnist/pneumoniamnist.yaml --out /tmp/v \\
        --set train.epochs=1 --set train.warmup_epochs=0 --set train.ema_decay=0 \\
        --set train.max_batches_per_epoch=8 [--set train.winograd=off] --quiet --threads 2 > v.log
    python3 bench/onednn_verbose_sum.py v.log --batches 8 [--batch-size 128]

Counts every call (convolutions, and reorders of activations and of weights) up to the first
convolution whose batch (`mbN`) is not the training batch size: the evaluation after the epoch
(batches of 512) is left out. Prints milliseconds and calls per training batch for each
(primitive, implementation, propagation kind), largest first. Use max_batches_per_epoch so that
every training batch is full.
A diagnostic for docs/benchmarks-train-speed.md (Run 8); verbose logging itself slows each call a
little.
"""
import argparse
import collections
import re


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--batches", type=int, required=True, help="training batches in the log")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--top", type=int, default=14)
    args = ap.parse_args()
    minibatch = re.compile(r"(?:^|[^a-z])mb(\d+)")
    ms = collections.defaultdict(float)
    calls = collections.Counter()
    with open(args.log, errors="replace") as f:
        for line in f:
            if not line.startswith("onednn_verbose,exec,cpu,"):
                continue
            fields = line.rstrip("\n").split(",")
            problem, time_ms = fields[-2], fields[-1]
            mb = minibatch.search(problem)
            if fields[3] == "convolution" and mb and int(mb.group(1)) != args.batch_size:
                break  # evaluation begins
            key = (fields[3], fields[4], fields[5])
            ms[key] += float(time_ms)
            calls[key] += 1
    if not ms:
        raise SystemExit(f"{args.log}: no oneDNN calls of batch {args.batch_size} (was ONEDNN_VERBOSE=1 set?)")
    print("| primitive | implementation | propagation | ms per batch | calls per batch |")
    print("|---|---|---|---:|---:|")
    for key, total in sorted(ms.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"| {key[0]} | {key[1]} | {key[2]} | {total / args.batches:.1f} | {calls[key] / args.batches:.1f} |")
    conv = sum(v for k, v in ms.items() if k[0] == "convolution") / args.batches
    reorder = sum(v for k, v in ms.items() if k[0] == "reorder") / args.batches
    print(f"\nper batch: convolutions {conv:.1f} ms, reorders {reorder:.1f} ms, "
          f"all oneDNN {sum(ms.values()) / args.batches:.1f} ms")


if __name__ == "__main__":
    main()
