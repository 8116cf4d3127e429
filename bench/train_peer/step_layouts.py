#!/usr/bin/env python3
"""Training-step time of the benchmark ResNet-18 in PyTorch by precision and memory layout.

A diagnostic for docs/benchmarks-train-speed.md: one optimiser step (forward, label-smoothed
cross-entropy, backward, AdamW) on a fixed batch of 128 random 1x28x28 images, no data loading,
for float32 / bf16 autocast x NCHW / channels-last. Both Lucent and this script call the same
LibTorch and oneDNN kernels, so this shows what the layout and precision choices are worth
before any loader or framework overhead. Prints a Markdown table of the median step time.

    /usr/bin/python3 bench/train_peer/step_layouts.py [--threads 2] [--steps 10]
"""
import argparse
import statistics
import time

import torch

from pytorch_peer import ResNet


def step_times(channels_last, bf16, steps, batch):
    torch.manual_seed(0)
    model = ResNet(in_channels=1, num_outputs=2, width=32)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 2, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=0.002, weight_decay=0.05)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    times = []
    for _ in range(steps + 2):  # two warm-up steps (oneDNN creates its kernels on first use)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = criterion(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times[2:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for bf16 in (False, True):
        for cl in (False, True):
            t = step_times(cl, bf16, args.steps, args.batch)
            rows.append((("bf16 autocast" if bf16 else "float32"), ("channels-last" if cl else "NCHW"),
                         statistics.median(t), min(t)))
    base = rows[0][2]
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, median of {args.steps} steps\n")
    print("| precision | layout | ms/step (median) | ms/step (best) | img/s | vs float32 NCHW |")
    print("|---|---|---:|---:|---:|---:|")
    for prec, layout, med, best in rows:
        print(f"| {prec} | {layout} | {med * 1000:.0f} | {best * 1000:.0f} | {args.batch / med:.0f} | {base / med:.2f}× |")


if __name__ == "__main__":
    main()
