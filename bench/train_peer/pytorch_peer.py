#!/usr/bin/env python3
"""PyTorch peer of `lucent train configs/medmnist/pneumoniamnist.yaml` (one epoch) and of
bench/infer_speed.cpp, written the way a PyTorch user would: a Dataset with per-sample
torchvision transforms, a DataLoader with worker processes, torch.set_num_threads(N).

  /usr/bin/python3 bench/train_peer/pytorch_peer.py --data PATH.npz --threads 2 --workers 2

Same recipe as the YAML: ResNet-18 basic blocks, small stem (3x3 stride-1 conv, no max-pool),
width 32, no dropout, bias-free convolutions, 2 outputs; scale 0..255 -> 0..1, normalise
mean 0.5 std 0.5; flip x p 0.5, affine (rotate +-10 deg, scale 0.9-1.1, translate 8 %,
bilinear, zero fill) p 0.8, additive brightness +-0.1 / contrast 0.85-1.15 about the image mean
p 0.5; AdamW lr 0.002 wd 0.05, cosine schedule set per batch (the bench runs Lucent with
train.warmup_epochs=0, since a one-epoch run cannot hold the recipe's one-epoch warm-up);
batch 128; cross-entropy with label smoothing 0.05.

Prints one JSON line: parameter count, training img/s (one epoch: DataLoader iteration,
augmentation, forward, loss, backward, step; timed with perf_counter from the start of the
epoch to the last step), inference img/s (eval + no_grad, batch 256, preprocessing and softmax
included; warm-up pass, then the median and best of --infer-repeats passes over the test
split) and memory: ru_maxrss of this process and the peak sum of the proportional set size
(PSS) of this process plus its DataLoader workers, sampled every 50 ms.
"""
import argparse
import json
import math
import os
import resource
import statistics
import threading
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import transforms as T


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = None
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, 0, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        h = F.relu(self.bn1(self.conv1(x)), inplace=True)
        h = self.bn2(self.conv2(h))
        return F.relu(h + identity)


class ResNet(nn.Module):
    """Lucent's resnet18 {stem: small, width: 32} (src/lucent/nets/resnet.cpp)."""

    def __init__(self, in_channels=1, num_outputs=2, width=32, blocks=(2, 2, 2, 2)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        layers, cin = [], width
        for stage, n in enumerate(blocks):
            planes = width << stage
            for b in range(n):
                layers.append(BasicBlock(cin, planes, 2 if stage > 0 and b == 0 else 1))
                cin = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_outputs)

    def forward(self, x):
        h = self.layers(self.stem(x))
        return self.fc(h.flatten(2).mean(2))


class BrightnessContrast:
    """Lucent's brightness_contrast: (x - mean) * c + mean + b, per image, no clamping."""

    def __init__(self, brightness, contrast):
        self.brightness, self.contrast = brightness, contrast

    def __call__(self, x):
        b = float(torch.empty(()).uniform_(-self.brightness, self.brightness))
        c = float(torch.empty(()).uniform_(*self.contrast))
        mean = x.mean()
        return (x - mean) * c + mean + b


class MedMNIST(torch.utils.data.Dataset):
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i, 0])


class PssSampler:
    """Peak of the summed PSS of this process and its live children (the DataLoader workers)."""

    def __init__(self, interval_s=0.05):
        self.interval_s, self.peak_kib, self._stop = interval_s, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _pss_kib(pid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    @staticmethod
    def _children(pid):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return [int(c) for c in f.read().split()]
        except OSError:
            return []

    def _run(self):
        me = os.getpid()
        while not self._stop.is_set():
            total = self._pss_kib(me) + sum(self._pss_kib(c) for c in self._children(me))
            self.peak_kib = max(self.peak_kib, total)
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="pneumoniamnist.npz")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1, help="0: inference only (untrained weights)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--infer-batch", type=int, default=256)
    ap.add_argument("--infer-repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    # For the analysis in docs/benchmarks-train-speed.md; the bench uses neither.
    ap.add_argument("--no-augment", action="store_true", help="workers only convert and normalise")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with PssSampler() as pss:
        npz = np.load(args.data)
        train_images, train_labels = npz["train_images"], npz["train_labels"]
        test_images = torch.from_numpy(npz["test_images"]).unsqueeze(1)  # uint8 (N, 1, 28, 28)

        augment = T.Compose([
            T.ToTensor(),  # uint8 HxW -> float (1, H, W) in 0..1
            T.Normalize((0.5,), (0.5,)),
        ] + ([] if args.no_augment else [
            T.RandomHorizontalFlip(0.5),
            T.RandomApply([T.RandomAffine(degrees=10, translate=(0.08, 0.08), scale=(0.9, 1.1),
                                          interpolation=T.InterpolationMode.BILINEAR, fill=0)], p=0.8),
            T.RandomApply([BrightnessContrast(0.1, (0.85, 1.15))], p=0.5),
        ]))
        loader = torch.utils.data.DataLoader(MedMNIST(train_images, train_labels, augment), batch_size=args.batch,
                                             shuffle=True, drop_last=False, num_workers=args.workers)
        num_outputs = max(2, int(train_labels.max()) + 1)
        model = ResNet(in_channels=1, num_outputs=num_outputs, width=32)
        params = sum(p.numel() for p in model.parameters())
        base_lr = 0.002
        opt = torch.optim.AdamW(model.parameters(), lr=base_lr, weight_decay=0.05)
        criterion = nn.CrossEntropyLoss(label_smoothing=0.05)

        epoch_rates, losses = [], []
        for epoch in range(args.epochs):
            model.train()
            batches = len(loader)
            seen, loss_sum = 0, 0.0
            t0 = time.perf_counter()
            for b, (x, y) in enumerate(loader):
                lr = base_lr * 0.5 * (1 + math.cos(math.pi * (epoch + b / batches) / args.epochs))
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.zero_grad()
                loss = criterion(model(x), y)
                loss_sum += loss.item() * x.size(0)
                loss.backward()
                opt.step()
                seen += x.size(0)
            epoch_rates.append(seen / (time.perf_counter() - t0))
            losses.append(loss_sum / seen)

        model.eval()

        def predict(raw):
            with torch.no_grad():
                out = []
                for s in range(0, raw.size(0), args.infer_batch):
                    x = (raw[s:s + args.infer_batch].float() / 255.0 - 0.5) / 0.5
                    out.append(torch.softmax(model(x).double(), 1))
                return torch.cat(out)

        predict(test_images)  # warm-up
        rates = []
        for _ in range(args.infer_repeats):
            t0 = time.perf_counter()
            predict(test_images)
            rates.append(test_images.size(0) / (time.perf_counter() - t0))

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "side": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "workers": args.workers,
        "params": params, "batches": len(loader), "train_loss": round(losses[-1], 4) if losses else None,
        "train_img_per_s": round(epoch_rates[-1], 1) if epoch_rates else None, "augment": not args.no_augment,
        "infer_img_per_s": round(statistics.median(rates), 1), "infer_img_per_s_best": round(max(rates), 1),
        "infer_images": test_images.size(0), "infer_batch": args.infer_batch,
        "peak_rss_mib_main": round(kib / 1024, 1), "peak_pss_mib_with_workers": round(pss.peak_kib / 1024, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
