#!/usr/bin/python3
"""PyTorch peer of Lucent's sliding-window segmentation (bench/run_seg_bench.sh).

The same U-Net (src/lucent/nets/unet.cpp: same layers, same parameter names, so Lucent's
weights load with load_state_dict(strict=True)) and the same sliding-window algorithm
(src/lucent/infer/sliding_window.cpp: nnU-Net's window starts, Gaussian sigma = patch/8 divided
by its maximum with zeros raised to the smallest non-zero value, logits blended then softmax),
written the way nnU-Net's predictor writes it in plain PyTorch: full-size logit and weight
accumulators, softmax at the end.

  sliding_window_peer.py run --dir DIR [--threads 2] [--device cpu|cuda]  # reads what lucent_seg_infer_bench prepare wrote
  sliding_window_peer.py compare A.safetensors B.safetensors
  sliding_window_peer.py window --dir DIR [--threads 2] [--windows 5] [--trace FILE]

On a GPU (--device cuda) everything runs on the device as nnU-Net's predictor does by default
(perform_everything_on_device): the image, the full-size accumulators and the softmax; the
probabilities are copied back to the CPU inside the timed part (Lucent's output is on the CPU
too). cuDNN autotuning on, TF32 off on both sides.

run prints one JSON line (wall time of the sliding window alone, VmHWM) and writes
DIR/torch_output.safetensors. compare prints the max absolute difference as JSON. window runs
the net alone on one patch of random values (as lucent_seg_infer_bench window): mean seconds per
window after two warm-up passes, and with --trace the per-op profile as a Chrome trace.
Safetensors is read and written here with numpy (the format is a JSON header + raw data).
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        raw = bytearray(f.read())  # one copy of the data; the tensors are views into it
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = np.frombuffer(raw, dtype=DTYPES[info["dtype"]], count=(e - b) // np.dtype(DTYPES[info["dtype"]]).itemsize,
                            offset=b).reshape(info["shape"])
        out[name] = torch.from_numpy(arr)
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32, copy=False))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in blobs:
            a.tofile(f)


# ---- the network (unet.h: layer order and names) -------------------------------------------

def conv_cls(dims):
    return nn.Conv3d if dims == 3 else nn.Conv2d


def make_norm(dims, norm, channels, groups):
    if norm == "batch":
        return (nn.BatchNorm3d if dims == 3 else nn.BatchNorm2d)(channels)
    if norm == "group":
        return nn.GroupNorm(groups, channels, eps=1e-5)
    return (nn.InstanceNorm3d if dims == 3 else nn.InstanceNorm2d)(channels, eps=1e-5, affine=True)


class ConvNorm(nn.Module):
    def __init__(self, dims, cin, cout, kernel, stride, norm, groups):
        super().__init__()
        self.conv = conv_cls(dims)(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.norm = make_norm(dims, norm, cout, groups)

    def forward(self, x):
        return self.norm(self.conv(x))


class ConvBlock(nn.Module):
    def __init__(self, dims, cin, cout, stride, residual, norm, groups):
        super().__init__()
        self.residual = residual
        self.conv1 = ConvNorm(dims, cin, cout, 3, stride, norm, groups)
        self.conv2 = ConvNorm(dims, cout, cout, 3, 1, norm, groups)
        self.skip = ConvNorm(dims, cin, cout, 1, stride, norm, groups) if residual and (cin != cout or stride != 1) else None

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.01, inplace=True)
        h = self.conv2(h)
        if self.residual:
            h += self.skip(x) if self.skip is not None else x
        return F.leaky_relu(h, 0.01, inplace=True)


class UNet(nn.Module):
    def __init__(self, dims, in_channels, num_outputs, depth=4, width=32, max_width=None, norm="instance", groups=8,
                 residual=False, downsample="conv"):
        super().__init__()
        max_width = max_width or (320 if dims == 3 else 512)
        self.dims, self.depth, self.maxpool = dims, depth, downsample == "maxpool"
        ch = [min(width << s, max_width) for s in range(depth + 1)]
        for s in range(depth + 1):
            cin = in_channels if s == 0 else ch[s - 1]
            stride = 2 if s > 0 and not self.maxpool else 1
            setattr(self, f"enc{s}", ConvBlock(dims, cin, ch[s], stride, residual, norm, groups))
        up = nn.ConvTranspose3d if dims == 3 else nn.ConvTranspose2d
        for s in range(depth):
            setattr(self, f"up{s}", up(ch[s + 1], ch[s], 2, stride=2, bias=True))
            setattr(self, f"dec{s}", ConvBlock(dims, 2 * ch[s], ch[s], 1, residual, norm, groups))
        self.head0 = conv_cls(dims)(ch[0], num_outputs, 1, bias=True)

    def forward(self, x):
        skips, h = [], x
        for s in range(self.depth + 1):
            if s > 0 and self.maxpool:
                h = (F.max_pool3d if self.dims == 3 else F.max_pool2d)(h, 2, 2)
            h = getattr(self, f"enc{s}")(h)
            skips.append(h)
        skips.pop()
        for s in range(self.depth - 1, -1, -1):
            h = torch.cat([getattr(self, f"up{s}")(h), skips[s]], 1)
            skips[s] = None
            h = getattr(self, f"dec{s}")(h)
        return self.head0(h)


# ---- the sliding window (sliding_window.h) --------------------------------------------------

def window_starts(size, patch, overlap):
    if size <= patch:
        return [0]
    target = patch * (1 - overlap)
    steps = int(math.ceil((size - patch) / target)) + 1
    actual = (size - patch) / (steps - 1)
    return [int(np.round(actual * i)) for i in range(steps)]


def gaussian_weights(patch, sigma_scale=0.125):
    w = np.ones([1] * 0)
    for p in patch:
        sigma = p * sigma_scale
        radius = int(4.0 * sigma + 0.5)
        c = p // 2
        d = np.arange(p) - c
        g = np.where(np.abs(d) <= radius, np.exp(-0.5 * d * d / (sigma * sigma)), 0.0)
        w = np.multiply.outer(w, g)
    w = w / w.max()
    if (w == 0).any():
        w[w == 0] = w[w != 0].min()
    return torch.from_numpy(w.astype(np.float32))


def sliding_window(net, image, patch, overlap, batch_size, num_outputs, device="cpu"):
    image = image.to(device)
    sizes = list(image.shape[1:])
    padded = [max(s, p) for s, p in zip(sizes, patch)]
    lo = [(P - s) // 2 for P, s in zip(padded, sizes)]
    if padded != sizes:
        pad = []
        for a in reversed(range(len(sizes))):
            pad += [lo[a], padded[a] - sizes[a] - lo[a]]
        image = F.pad(image, pad)
    starts = [window_starts(P, p, overlap) for P, p in zip(padded, patch)]
    gaussian = gaussian_weights(patch).to(device)
    logits = torch.zeros([num_outputs] + padded, device=device)
    weights = torch.zeros(padded, device=device)
    windows = [list(w) for w in np.array(np.meshgrid(*starts, indexing="ij")).reshape(len(patch), -1).T]
    for first in range(0, len(windows), batch_size):
        batch = windows[first:first + batch_size]
        slices = [tuple(slice(s, s + p) for s, p in zip(w, patch)) for w in batch]
        x = torch.stack([image[(slice(None),) + sl] for sl in slices])
        y = net(x)
        y *= gaussian
        for b, sl in enumerate(slices):
            logits[(slice(None),) + sl] += y[b]
            weights[sl] += gaussian
    logits /= weights
    probs = torch.softmax(logits, 0)
    del logits, weights
    crop = tuple(slice(l, l + s) for l, s in zip(lo, sizes))
    return probs[(slice(None),) + crop].cpu(), len(windows)


def vm_hwm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return -1


def load_net(cfg, folder):
    o = cfg["net"]
    net = UNet(cfg["spatial_dims"], 1, cfg["num_outputs"], depth=int(o.get("depth", 4)), width=int(o.get("width", 32)),
               max_width=int(o["max_width"]) if "max_width" in o else None, norm=o.get("norm", "instance"),
               groups=int(o.get("groups", 8)), residual=o.get("residual", "false") == "true",
               downsample=o.get("downsample", "conv"))
    net.load_state_dict(read_safetensors(f"{folder}/weights.safetensors"), strict=True)
    return net.eval()


def window(args):
    torch.set_num_threads(args.threads)
    cfg = json.load(open(f"{args.dir}/config.json"))
    net = load_net(cfg, args.dir)
    shape = [1, cfg["image_size"][0]] + cfg["patch_size"]
    torch.manual_seed(0)
    x = torch.randn(shape)
    with torch.inference_mode():
        for _ in range(2):
            net(x)
        t0 = time.perf_counter()
        for _ in range(args.windows):
            net(x)
        seconds = (time.perf_counter() - t0) / args.windows
        if args.trace:
            from torch.profiler import profile, ProfilerActivity
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(args.windows):
                    net(x)
            prof.export_chrome_trace(args.trace)
    print(json.dumps({"side": "pytorch", "threads": torch.get_num_threads(), "windows": args.windows,
                      "seconds_per_window": seconds, "shape": shape}))


def run(args):
    torch.set_num_threads(args.threads)
    if args.device != "cpu":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    cfg = json.load(open(f"{args.dir}/config.json"))
    net = load_net(cfg, args.dir)
    net.to(args.device)
    params = sum(p.numel() for p in net.parameters())
    image = read_safetensors(f"{args.dir}/input.safetensors")["image"]
    seconds = []
    probs = None
    with torch.inference_mode():
        for _ in range(args.repeats):
            probs = None
            t0 = time.perf_counter()
            probs, windows = sliding_window(net, image, cfg["patch_size"], cfg["overlap"], cfg["batch_size"],
                                            cfg["num_outputs"], args.device)
            if args.device != "cpu":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - t0)
    hwm = vm_hwm_bytes()  # before writing the output, as Lucent's number
    write_safetensors(f"{args.dir}/torch_output.safetensors", {"probabilities": probs})
    print(json.dumps({"side": "pytorch", "case": cfg["case"], "device": args.device, "threads": torch.get_num_threads(), "seconds": seconds,
                      "windows": windows, "vm_hwm_bytes": hwm,
                      "gpu_peak_allocated_bytes": torch.cuda.max_memory_allocated() if args.device != "cpu" else -1, "params": params, "torch": torch.__version__}))


def compare(args):
    a = read_safetensors(args.a)["probabilities"]
    b = read_safetensors(args.b)["probabilities"]
    if a.shape != b.shape:
        print(json.dumps({"error": f"shapes differ: {list(a.shape)} vs {list(b.shape)}"}))
        return 1
    d = (a - b).abs()
    print(json.dumps({"max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
                      "argmax_disagreement": float((a.argmax(0) != b.argmax(0)).double().mean())}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--dir", required=True)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--repeats", type=int, default=1)
    r.add_argument("--device", default="cpu")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    w = sub.add_parser("window")
    w.add_argument("--dir", required=True)
    w.add_argument("--threads", type=int, default=2)
    w.add_argument("--windows", type=int, default=5)
    w.add_argument("--trace", default="")
    args = p.parse_args()
    return {"run": run, "compare": compare, "window": window}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main() or 0)
