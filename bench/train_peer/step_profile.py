#!/usr/bin/env python3
"""Where a PyTorch training step of the benchmark ResNet-18 spends its time, and what the
channels-last layout is worth for inference.

A diagnostic for docs/benchmarks-train-speed.md (Run 6). Both Lucent and this script call the
same LibTorch and oneDNN kernels, so these tables show the floor under either side.

    /usr/bin/python3 bench/train_peer/step_profile.py ops [--channels-last]      # torch profiler, per op
    /usr/bin/python3 bench/train_peer/step_profile.py onednn [--channels-last]   # ONEDNN_VERBOSE, per primitive
    /usr/bin/python3 bench/train_peer/step_profile.py infer [--rounds 3]         # eval forward, NCHW vs NHWC

`ops` and `onednn` time 4 steps of batch 128 (AdamW, label-smoothed cross-entropy) after 2
warm-up steps and print per-step milliseconds. `onednn` re-runs itself with ONEDNN_VERBOSE=1
and sums the primitives' own execution times (reorders included); the verbose output itself
slows the step a little. `infer` times a batch of 256 in eval mode under no_grad, softmax
included, median of 10 passes, NCHW then channels-last, for each round.
"""
import argparse
import collections
import os
import statistics
import subprocess
import sys
import time

import torch

from pytorch_peer import ResNet

STEPS, WARMUP = 4, 2


def training_step(channels_last):
    torch.manual_seed(0)
    model = ResNet(in_channels=1, num_outputs=2, width=32)
    x = torch.randn(128, 1, 28, 28)
    y = torch.randint(0, 2, (128,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=0.002, weight_decay=0.05)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.05)

    def step():
        loss = criterion(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def ops(args):
    step = training_step(args.channels_last)
    for _ in range(WARMUP):
        step()
    with torch.profiler.profile() as prof:
        for _ in range(STEPS):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:args.top]
    print("| op | self ms per step | calls per step |\n|---|---:|---:|")
    for e in rows:
        print(f"| {e.key} | {e.self_cpu_time_total / 1000 / STEPS:.1f} | {e.count / STEPS:.0f} |")
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 1000 / STEPS
    print(f"\nall ops: {total:.0f} ms per step (self time, {torch.get_num_threads()} threads)")


def onednn(args):
    if os.environ.get("ONEDNN_VERBOSE") != "1":
        env = dict(os.environ, ONEDNN_VERBOSE="1")
        cmd = [sys.executable, __file__, "onednn", "--threads", str(args.threads)]
        if args.channels_last:
            cmd.append("--channels-last")
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        timed = out.split("\nsteps-timed\n", 1)[-1]  # only the lines after the warm-up steps
        execs = [l.split(",") for l in timed.splitlines() if l.startswith("onednn_verbose,exec")]
        agg = collections.defaultdict(lambda: [0, 0.0])
        for f in execs:
            key = (f[3], f[4], f[5] if f[3] != "reorder" else "")
            agg[key][0] += 1
            agg[key][1] += float(f[-1])
        print("| primitive | implementation | kind | ms per step | calls per step |\n|---|---|---|---:|---:|")
        for (prim, impl, kind), (n, ms) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
            print(f"| {prim} | {impl} | {kind} | {ms / STEPS:.1f} | {n / STEPS:.0f} |")
        print(f"\nall oneDNN primitives: {sum(v[1] for v in agg.values()) / STEPS:.0f} ms per step")
        return
    step = training_step(args.channels_last)
    for _ in range(WARMUP):
        step()
    print("\nsteps-timed", flush=True)  # oneDNN writes its lines to the same stdout
    for _ in range(STEPS):
        step()


def infer(args):
    x = torch.randn(256, 1, 28, 28)
    print("| round | NCHW img/s | channels-last img/s | ratio |\n|---|---:|---:|---:|")
    for r in range(args.rounds):
        rates = []
        for cl in (False, True):
            torch.manual_seed(0)
            model = ResNet(in_channels=1, num_outputs=2, width=32).eval()
            if cl:
                model = model.to(memory_format=torch.channels_last)
            times = []
            with torch.no_grad():
                for _ in range(12):
                    t0 = time.perf_counter()
                    batch = x.contiguous(memory_format=torch.channels_last) if cl else x
                    model(batch).softmax(1)
                    times.append(time.perf_counter() - t0)
            rates.append(256 / statistics.median(times[2:]))
        print(f"| {r + 1} | {rates[0]:.0f} | {rates[1]:.0f} | {rates[1] / rates[0]:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["ops", "onednn", "infer"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, "
          f"{'channels-last' if args.channels_last else 'NCHW'}\n" if args.mode != "infer" else
          f"torch {torch.__version__}, {args.threads} threads\n")
    {"ops": ops, "onednn": onednn, "infer": infer}[args.mode](args)


if __name__ == "__main__":
    main()
