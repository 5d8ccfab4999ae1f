"""The metrics classifier: a small CNN trained on clean, real MNIST; its features tell what looks like a real
digit (explorer.metrics: "looks real" and the Fréchet distance). The digit reader (explorer.reader) is the
same network trained to read digits as a person does, grey backgrounds and noise included.

The shipped weights live in models/classifier.safetensors (rebuild: `python -m explorer train-classifier`).
They are read with safetensors only, never with torch.load / pickle.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from . import data as data_mod

WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "classifier.safetensors"
FEATURES = 128
EPOCHS = 15
BATCH = 128
CHUNK = 500  # images per forward pass when extracting features, to bound memory
MEAN, STD = 0.1307, 0.3081  # MNIST pixel statistics (ink = 1)


class ClassifierError(RuntimeError):
    """The classifier weights are missing or do not fit; the message says how to rebuild them."""


# ---- the classifier ------------------------------------------------------------------
class DigitClassifier(nn.Module):
    """Three 3x3 conv blocks, a 128-d feature layer and a linear head over the ten digits (and, for the digit
    reader, an eleventh class: no digit)."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv = nn.Sequential(
            _block(1, 32), nn.MaxPool2d(2),   # 28 -> 14
            _block(32, 64), nn.MaxPool2d(2),  # 14 -> 7
            _block(64, 64), nn.MaxPool2d(2),  # 7 -> 3
        )
        self.fc = nn.Linear(64 * 3 * 3, FEATURES)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURES, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 784) or (B, 1, 28, 28) floats in [0, 1] -> the penultimate features (B, 128)."""
        x = ((x.reshape(-1, 1, 28, 28) - MEAN) / STD).contiguous(memory_format=torch.channels_last)
        return F.relu(self.fc(self.conv(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images as for `features` -> logits (B, classes)."""
        return self.head(self.drop(self.features(x)))


def _block(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, padding=1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU())


def load_classifier(device: str | torch.device = "cpu", path: str | Path = WEIGHTS) -> DigitClassifier:
    """The trained classifier in eval mode, read once per process, device and file."""
    return load_weights(str(torch.device(device)), Path(path).resolve(), 10, "python -m explorer train-classifier")


@functools.cache  # one shared instance per file, so `reference`'s cache (keyed by the model) hits
def load_weights(device: str, path: Path, classes: int, rebuild_with: str) -> DigitClassifier:
    """A DigitClassifier of `classes` from safetensors weights, every tensor checked; ClassifierError otherwise."""
    rebuild = f"Rebuild it with `{rebuild_with}`."
    if not path.exists():
        raise ClassifierError(f"no classifier weights at {path}. {rebuild}")
    try:
        tensors = load_file(str(path), device=str(device))
    except Exception as e:  # a truncated or foreign file
        raise ClassifierError(f"{path} is not a readable safetensors file ({e}). {rebuild}") from e
    model = DigitClassifier(classes)
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ClassifierError(f"{path} does not hold DigitClassifier weights (missing: {missing or 'none'}, "
                              f"unexpected: {extra or 'none'}). {rebuild}")
    for name, t in expected.items():
        if tensors[name].shape != t.shape:
            raise ClassifierError(f"{path} does not fit DigitClassifier: tensor {name!r} has shape "
                                  f"{tuple(tensors[name].shape)}, expected {tuple(t.shape)}. {rebuild}")
    model.load_state_dict(tensors)
    # Channels-last convolutions run about twice as fast on CPU (measured: 0.18 → 0.09 s for 256 images on one
    # thread), which the quality meter's budget turns into readings twice as often.
    return model.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)


def save_classifier(model: DigitClassifier, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"model": "DigitClassifier", "features": str(FEATURES)})
    tmp.chmod(0o644)  # safetensors writes owner-only; the file is shipped in the repo
    tmp.replace(path)  # atomic, so a running app never reads half a file
    load_weights.cache_clear()  # the metrics' caches are keyed by the classifier instance, so they miss from now on


# ---- training ------------------------------------------------------------------------
def augment(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rotation (±12°), scale (±10%), shear and shift (±3 px) for a whole batch (B, 1, 28, 28),
    so the classifier also reads the slightly off-centre, slanted digits a GAN draws. Labels unchanged."""
    b = x.shape[0]

    def uniform(*shape, lo=-1.0):
        return torch.rand(*shape, generator=generator) * (1 - lo) + lo

    angle = uniform(b) * math.radians(12)
    scale = 1 + uniform(b) * 0.1
    shear = uniform(b) * 0.15
    shift = uniform(b, 2) * (3 / 14)  # grid coordinates span 2 units over 28 px
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False), y


def train_classifier(source: str = data_mod.EMBEDDED, root: str | None = None, epochs: int = EPOCHS,
                     out: str | Path = WEIGHTS, seed: int = 0, progress=print) -> dict:
    """Train the classifier on `source`, save it to `out` (+ a .json record) and return its scores.

    Embedded sample: trains on `classifier_split`'s train part, reports on its held-out part.
    Full MNIST: trains on the 60k training split, reports on the 10k test split.
    """
    return fit(DigitClassifier(), augment, source, root, epochs, out, seed, progress, "train-classifier")


def fit(model: DigitClassifier, batch, source: str, root: str | None, epochs: int, out: str | Path, seed: int,
        progress, command: str) -> dict:
    """Train `model` on real digits; `batch(x, y, generator) -> (x, y)` makes each training batch (augmented, and
    for the digit reader, degraded and mixed with non-digits). Saves it with a .json record; returns its scores."""
    if source == data_mod.EMBEDDED:
        train, held = data_mod.classifier_split(data_mod.load(source))
    else:
        train, held = data_mod.load(source, root=root, train=True), data_mod.load(source, root=root, train=False)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # weight init and dropout
        gen = torch.Generator().manual_seed(seed)
        x, y = train.images.float().div(255).reshape(-1, 1, 28, 28), train.labels
        steps = epochs * math.ceil(len(y) / BATCH)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(y), generator=gen)
            total = 0.0
            for i in range(0, len(y), BATCH):
                idx = order[i:i + BATCH]
                xb, yb = batch(x[idx], y[idx], gen)
                loss = F.cross_entropy(model(xb), yb, label_smoothing=0.05)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
            acc = accuracy(model.eval(), held.images, held.labels)
            progress(f"epoch {epoch}/{epochs}: loss {total / len(y):.4f}, held-out accuracy {acc:.2%} "
                     f"({time.perf_counter() - t0:.0f}s)")
    seconds = time.perf_counter() - t0
    out = Path(out)
    save_classifier(model, out)
    result = {"held_out_accuracy": round(acc, 4), "n_train": len(train), "n_held_out": len(held), "source": source,
              "seconds": round(seconds, 1)}
    record = {
        "command": f"python -m explorer {command} --data {source} --epochs {epochs} --seed {seed}",
        **result, "epochs": epochs, "seed": seed, "train_data": train.description,
        "held_out_data": held.description, "parameters": sum(p.numel() for p in model.parameters()),
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(), "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return result


@torch.no_grad()
def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of `images` (uint8 or [0, 1] floats) that `model` labels correctly."""
    x = as_float(images).to(device_of(model))
    preds = torch.cat([model(c)[:, :10].argmax(1) for c in x.split(CHUNK)])  # the ten digits (a reader has 11)
    return (preds.cpu() == labels).float().mean().item()


def features(model: DigitClassifier, images: torch.Tensor) -> torch.Tensor:
    x = as_float(images).to(device_of(model))
    with torch.no_grad():
        return torch.cat([model.features(c) for c in x.split(CHUNK)])


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (ink = 255) or floats in [0, 1] -> floats in [0, 1], shape (N, 784)."""
    images = torch.as_tensor(images)
    if images.ndim < 2 or images[0].numel() != 784:
        raise ValueError(f"expected images of shape (N, 28, 28) or (N, 784), got {tuple(images.shape)}")
    images = images.reshape(len(images), 784)
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    x = images.float()
    if len(x) and (x.min() < -0.01 or x.max() > 1.01):
        raise ValueError(f"float images must lie in [0, 1] (got {x.min():.2f}..{x.max():.2f}); "
                         "convert tanh output with data.to_uint8(x, 'tanh')")
    return x.clamp(0, 1)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
