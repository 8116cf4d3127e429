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

On a GPU (--device cuda) the model, the loss and the inference run there (DataLoader workers
still augment on the CPU, pinned memory, non-blocking copies, cudnn.benchmark on — the same
settings Lucent uses), with --amp bf16|fp16 for torch.autocast (+ GradScaler for fp16). Where
torchvision is missing (the GPU machine's pip PyTorch may come without it) the same
augmentations run as plain torch code (--no-torchvision is then implied; the JSON says which).

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

try:
    from torchvision import transforms as T
except ImportError:  # plain-torch fallback below
    T = None


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


class PlainTorchAugment:
    """torchvision-free version of the pipeline above, per image: to float 0..1, normalise,
    flip x p 0.5, affine p 0.8 (bilinear, zero fill), brightness/contrast p 0.5."""

    def __init__(self, augment):
        self.augment = augment

    def __call__(self, img):
        x = (torch.from_numpy(np.ascontiguousarray(img)).float().unsqueeze(0) / 255.0 - 0.5) / 0.5
        if not self.augment:
            return x
        if float(torch.rand(())) < 0.5:
            x = x.flip(-1)
        if float(torch.rand(())) < 0.8:
            a = math.radians(float(torch.empty(()).uniform_(-10, 10)))
            s = float(torch.empty(()).uniform_(0.9, 1.1))
            tx, ty = (float(v) for v in torch.empty(2).uniform_(-0.08, 0.08) * 2)
            theta = torch.tensor([[math.cos(a) / s, -math.sin(a) / s, tx], [math.sin(a) / s, math.cos(a) / s, ty]])
            grid = F.affine_grid(theta.unsqueeze(0), [1, 1, x.size(-2), x.size(-1)], align_corners=False)
            x = F.grid_sample(x.unsqueeze(0), grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
        if float(torch.rand(())) < 0.5:
            x = BrightnessContrast(0.1, (0.85, 1.15))(x)
        return x


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
    ap.add_argument("--infer-split", default="test", choices=["train", "val", "test"],
                    help="split timed for inference (train: 4,708 PneumoniaMNIST images, enough for a GPU)")
    ap.add_argument("--seed", type=int, default=0)
    # For the analysis in docs/benchmarks-train-speed.md; the bench uses neither.
    ap.add_argument("--no-augment", action="store_true", help="workers only convert and normalise")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"],
                    help="torch.autocast for training (CUDA: bf16 or fp16; CPU: bf16)")
    ap.add_argument("--channels-last", action="store_true",
                    help="model and batches in torch.channels_last (the layout oneDNN's bf16 kernels want)")
    ap.add_argument("--no-torchvision", action="store_true", help="plain-torch augmentations (same operations)")
    args = ap.parse_args()
    if args.amp == "fp16" and args.device != "cuda":
        ap.error("--amp fp16 needs --device cuda")
    plain = args.no_torchvision or T is None

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
    scaler = torch.cuda.amp.GradScaler() if args.amp == "fp16" else None
    with PssSampler() as pss:
        npz = np.load(args.data)
        train_images, train_labels = npz["train_images"], npz["train_labels"]
        test_images = torch.from_numpy(npz[f"{args.infer_split}_images"]).unsqueeze(1)  # uint8 (N, 1, 28, 28)

        augment = PlainTorchAugment(not args.no_augment) if plain else T.Compose([
            T.ToTensor(),  # uint8 HxW -> float (1, H, W) in 0..1
            T.Normalize((0.5,), (0.5,)),
        ] + ([] if args.no_augment else [
            T.RandomHorizontalFlip(0.5),
            T.RandomApply([T.RandomAffine(degrees=10, translate=(0.08, 0.08), scale=(0.9, 1.1),
                                          interpolation=T.InterpolationMode.BILINEAR, fill=0)], p=0.8),
            T.RandomApply([BrightnessContrast(0.1, (0.85, 1.15))], p=0.5),
        ]))
        loader = torch.utils.data.DataLoader(MedMNIST(train_images, train_labels, augment), batch_size=args.batch,
                                             shuffle=True, drop_last=False, num_workers=args.workers,
                                             pin_memory=cuda, persistent_workers=False)
        num_outputs = max(2, int(train_labels.max()) + 1)
        model = ResNet(in_channels=1, num_outputs=num_outputs, width=32).to(dev)
        if args.channels_last:
            model = model.to(memory_format=torch.channels_last)
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
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                if args.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                opt.zero_grad()
                with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = criterion(model(x), y)
                loss_sum += loss.item() * x.size(0)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
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
                    x = (raw[s:s + args.infer_batch].to(dev).float() / 255.0 - 0.5) / 0.5
                    out.append(torch.softmax(model(x).double(), 1).cpu())
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
        "params": params, "batches": len(loader),
        "device": args.device, "amp": args.amp, "channels_last": args.channels_last, "augment_impl": "plain-torch" if plain else "torchvision", "train_loss": round(losses[-1], 4) if losses else None,
        "train_img_per_s": round(epoch_rates[-1], 1) if epoch_rates else None, "augment": not args.no_augment,
        "infer_img_per_s": round(statistics.median(rates), 1), "infer_img_per_s_best": round(max(rates), 1),
        "infer_images": test_images.size(0), "infer_batch": args.infer_batch,
        "peak_rss_mib_main": round(kib / 1024, 1), "peak_pss_mib_with_workers": round(pss.peak_kib / 1024, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
