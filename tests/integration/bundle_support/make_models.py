#!/usr/bin/python3
"""Writes TorchScript models (and things that are not) for the `lucent bundle import` tests.

    /usr/bin/python3 make_models.py OUT_DIR [--npz pneumoniamnist.npz]

Needs Debian's python3-torch. Exits 77 (the tests' "skip") with the reason when torch or numpy
cannot be imported. Everything is seeded, so the files are the same on every run.

OUT_DIR receives:
  model.pt          scripted small CNN with batch norm: (N, 1, 28, 28) -> (N, 2) logits
  three_outputs.pt  the same CNN with 3 outputs
  tuple.pt          returns a (logits, features) tuple instead of a tensor
  noparams.pt       no parameters at all: (N, 1, H, W) -> (N, 2) from the image mean
  int_output.pt     returns int64 "logits"
  state_dict.pt     torch.save(model.state_dict()) — weights without code
  legacy.pkl        the same with the legacy (non-zip) pickle format
  truncated.pt      the first half of model.pt
  notes.txt         a text file
  expected.txt      one input row and its softmax probabilities (for unit tests)
With --npz: probs.txt, the model's probabilities for every image of the test split after the
same preprocessing the import spec declares (x / 255, then (x - 0.5) / 0.5), one row per image.
"""
import os
import sys

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {sys.executable} cannot import torch/numpy ({e}); install python3-torch (scripts/setup.sh)")
    sys.exit(77)


class SmallCnn(nn.Module):
    def __init__(self, outputs: int = 2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(16, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


class TupleOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = SmallCnn()

    def forward(self, x: torch.Tensor):
        return self.net(x), x.mean()


class NoParams(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=[1, 2, 3])
        return torch.stack([m, -2.0 * m], 1)


class IntOut(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 2, dtype=torch.long)


def make_cnn(outputs: int) -> nn.Module:
    m = SmallCnn(outputs)
    bn = m.features[1]
    with torch.no_grad():  # non-trivial running statistics, so buffers matter
        bn.running_mean.copy_(torch.randn(8) * 0.1)
        bn.running_var.copy_(torch.rand(8) + 0.5)
        bn.weight.copy_(torch.rand(8) + 0.5)
        m.head.weight.mul_(40)  # spread the probabilities out, so the comparison means something
    return m.eval()


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    out = args[0]
    npz = args[args.index("--npz") + 1] if "--npz" in args else None
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = make_cnn(2)
    torch.jit.save(torch.jit.script(model), os.path.join(out, "model.pt"))
    torch.jit.save(torch.jit.script(make_cnn(3)), os.path.join(out, "three_outputs.pt"))
    torch.jit.save(torch.jit.script(TupleOut().eval()), os.path.join(out, "tuple.pt"))
    torch.jit.save(torch.jit.script(NoParams()), os.path.join(out, "noparams.pt"))
    torch.jit.save(torch.jit.script(IntOut()), os.path.join(out, "int_output.pt"))
    torch.save(model.state_dict(), os.path.join(out, "state_dict.pt"))
    torch.save(model.state_dict(), os.path.join(out, "legacy.pkl"), _use_new_zipfile_serialization=False)
    with open(os.path.join(out, "model.pt"), "rb") as f:
        data = f.read()
    with open(os.path.join(out, "truncated.pt"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(os.path.join(out, "notes.txt"), "w") as f:
        f.write("this is not a model\n")

    # One input with a known answer, for the unit tests: values 0..1 on a 28x28 ramp.
    x = torch.linspace(0, 1, 28 * 28).reshape(1, 1, 28, 28)
    with torch.no_grad():
        p = torch.softmax(model(x), 1)[0]
    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write(" ".join(f"{v:.9g}" for v in p.tolist()) + "\n")

    if npz:
        images = np.load(npz)["test_images"]  # (N, 28, 28) uint8
        x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1) / 255.0
        x = (x - 0.5) / 0.5
        with torch.no_grad():
            probs = torch.softmax(model(x), 1).double()
        with open(os.path.join(out, "probs.txt"), "w") as f:
            for row in probs.tolist():
                f.write(" ".join(f"{v:.12g}" for v in row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
