"""How good are the generated digits? A small CNN classifier and the scores built on it.

`score(images, digits)` says what share of a batch the classifier reads as one of the chosen digits,
how the batch spreads over the ten classes (mode coverage), how confident it is, and the Fréchet
distance between the batch and real images of those digits in the classifier's 128-d feature space,
next to the real-vs-real floor at the same sample count.

The shipped weights live in models/classifier.safetensors (rebuild: `python -m explorer train-classifier`).
They are read with safetensors only, never with torch.load / pickle.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from . import data as data_mod

WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "classifier.safetensors"
FEATURES = 128
FID_SAMPLES = 1000  # images per Fréchet distance, so numbers from different runs compare
EPOCHS = 15
BATCH = 128
SPLIT_SEED = 0  # fixes which real images are the reference and which the floor's probe
CHUNK = 500  # images per forward pass when extracting features, to bound memory
MEAN, STD = 0.1307, 0.3081  # MNIST pixel statistics (ink = 1)
SURE = 0.9  # a sample is "recognised" when the classifier gives one of the chosen digits at least this,
TYPICAL = 0.99  # and its features lie within this quantile of real images of that digit (see `Typical`)


class ClassifierError(RuntimeError):
    """The classifier weights are missing or do not fit; the message says how to rebuild them."""


# ---- the classifier ------------------------------------------------------------------
class DigitClassifier(nn.Module):
    """Three 3x3 conv blocks, a 128-d feature layer and a linear head over the ten digits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            _block(1, 32), nn.MaxPool2d(2),   # 28 -> 14
            _block(32, 64), nn.MaxPool2d(2),  # 14 -> 7
            _block(64, 64), nn.MaxPool2d(2),  # 7 -> 3
        )
        self.fc = nn.Linear(64 * 3 * 3, FEATURES)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURES, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 784) or (B, 1, 28, 28) floats in [0, 1] -> the penultimate features (B, 128)."""
        x = (x.reshape(-1, 1, 28, 28) - MEAN) / STD
        return F.relu(self.fc(self.conv(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images as for `features` -> logits (B, 10)."""
        return self.head(self.drop(self.features(x)))


def _block(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, padding=1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU())


def load_classifier(device: str | torch.device = "cpu", path: str | Path = WEIGHTS) -> DigitClassifier:
    """The trained classifier in eval mode, read once per process, device and file."""
    return _load(str(torch.device(device)), Path(path).resolve())


@functools.cache  # one shared instance, so `reference`'s cache (keyed by the model) hits
def _load(device: str, path: Path) -> DigitClassifier:
    rebuild = "Rebuild it with `python -m explorer train-classifier`."
    if not path.exists():
        raise ClassifierError(f"no classifier weights at {path}. {rebuild}")
    try:
        tensors = load_file(str(path), device=str(device))
    except Exception as e:  # a truncated or foreign file
        raise ClassifierError(f"{path} is not a readable safetensors file ({e}). {rebuild}") from e
    model = DigitClassifier()
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
    return model.to(device).eval().requires_grad_(False)


def save_classifier(model: DigitClassifier, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"model": "DigitClassifier", "features": str(FEATURES)})
    tmp.chmod(0o644)  # safetensors writes owner-only; the file is shipped in the repo
    tmp.replace(path)  # atomic, so a running app never reads half a file
    _load.cache_clear()
    reference.cache_clear()
    typical.cache_clear()


# ---- training ------------------------------------------------------------------------
def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random rotation (±12°), scale (±10%), shear and shift (±3 px) for a whole batch (B, 1, 28, 28),
    so the classifier also reads the slightly off-centre, slanted digits a GAN draws."""
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
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def train_classifier(source: str = data_mod.EMBEDDED, root: str | None = None, epochs: int = EPOCHS,
                     out: str | Path = WEIGHTS, seed: int = 0, progress=print) -> dict:
    """Train the classifier on `source`, save it to `out` (+ a .json record) and return its scores.

    Embedded sample: trains on `classifier_split`'s train part, reports on its held-out part.
    Full MNIST: trains on the 60k training split, reports on the 10k test split.
    """
    if source == data_mod.EMBEDDED:
        train, held = data_mod.classifier_split(data_mod.load(source))
    else:
        train, held = data_mod.load(source, root=root, train=True), data_mod.load(source, root=root, train=False)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # weight init and dropout
        gen = torch.Generator().manual_seed(seed)
        model = DigitClassifier()
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
                loss = F.cross_entropy(model(augment(x[idx], gen)), y[idx], label_smoothing=0.05)
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
        "command": f"python -m explorer train-classifier --data {source} --epochs {epochs} --seed {seed}",
        **result, "epochs": epochs, "seed": seed, "train_data": train.description,
        "held_out_data": held.description, "parameters": sum(p.numel() for p in model.parameters()),
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(), "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return result


@torch.no_grad()
def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of `images` (uint8 or [0, 1] floats) that `model` labels correctly."""
    x = _as_float(images).to(_device(model))
    preds = torch.cat([model(c).argmax(1) for c in x.split(CHUNK)])
    return (preds.cpu() == labels).float().mean().item()


# ---- the Fréchet distance ---------------------------------------------------------------
# Our own ~10 lines rather than torchmetrics' FrechetInceptionDistance: that class does accept a
# custom feature module and works offline, but torchmetrics is not a requirement of this app, and its
# metric object holds mutable running sums, while we want immutable cached reference statistics that
# several threads can share. tests/test_metrics.py checks this code against torchmetrics when present.
@dataclass(frozen=True)
class Stats:
    mean: torch.Tensor  # (d,) float64
    cov: torch.Tensor  # (d, d) float64
    n: int


def stats(features: torch.Tensor) -> Stats:
    f = features.double().cpu()
    return Stats(f.mean(0), torch.cov(f.T), len(f))


def frechet_distance(a: Stats, b: Stats) -> float:
    """||m_a - m_b||² + tr(S_a + S_b - 2 (S_a^½ S_b S_a^½)^½).

    The cross term goes through the symmetric matrix S_a^½ S_b S_a^½, whose eigenvalues eigh finds
    stably; rounding can leave tiny negative ones (covariances from few samples are singular), which
    are clipped to 0 before the square root."""
    vals, vecs = torch.linalg.eigh(a.cov)
    root_a = (vecs * vals.clamp(min=0).sqrt()) @ vecs.T
    cross = torch.linalg.eigvalsh(root_a @ b.cov @ root_a).clamp(min=0).sqrt().sum()
    d = (a.mean - b.mean).square().sum() + a.cov.trace() + b.cov.trace() - 2 * cross
    return max(0.0, d.item())


@dataclass(frozen=True)
class Reference:
    """Real images of some digits, split in two disjoint halves: `stats` of the reference half and
    the Fréchet distance of `n` probe-half images to it (the floor)."""
    stats: Stats
    floor: float
    n: int
    n_reference: int


def real_split(digits, source: str | None = None, root: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Real images (uint8, (N, 784)) of `digits` in two disjoint, fixed halves: (reference, probe).

    Each digit's images are shuffled with a fixed seed and halved, so both halves keep the real mix
    of digits. Real images come from the embedded sample or from full MNIST's test split.
    """
    real = data_mod.load(source or data_mod.default_source(), root=root, train=False)
    ref_idx, probe_idx = _split(real.labels, digits)
    return real.images[ref_idx], real.images[probe_idx]


def _split(labels: torch.Tensor, digits) -> tuple[torch.Tensor, torch.Tensor]:
    """The indices behind `real_split`."""
    gen = torch.Generator().manual_seed(SPLIT_SEED)
    ref_idx, probe_idx = [], []
    for d in sorted(set(digits)):
        idx = torch.nonzero(labels == d).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        ref_idx.append(idx[: len(idx) // 2])
        probe_idx.append(idx[len(idx) // 2:])
    return torch.cat(ref_idx), torch.cat(probe_idx)


_real_lock = threading.Lock()


def real_features(source: str, root: str | None, classifier: DigitClassifier) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, 128) and labels of all real images that `real_split` draws from: one pass per process.

    Why the lock: on a busy server the first callers (the meter's warm-up and every starting job) arrive
    together; one pass through the classifier serves them all, instead of each running its own.
    """
    with _real_lock:
        return _real_features(source, root, classifier)


@functools.lru_cache(maxsize=4)
def _real_features(source: str, root: str | None, classifier: DigitClassifier) -> tuple[torch.Tensor, torch.Tensor]:
    real = data_mod.load(source, root=root, train=False)
    return _features(classifier, real.images), real.labels


@functools.lru_cache(maxsize=64)
def reference(digits: tuple[int, ...], n: int, source: str, root: str | None,
              classifier: DigitClassifier) -> Reference:
    """Reference statistics and floor for `digits`, computed once per (digits, n, source, classifier).

    Honest with few real images (500 per digit in the embedded sample): generated images are compared
    with the whole reference half of `real_split`; the floor compares `n` distinct probe-half images
    with the same reference half. So both numbers share the reference set and the sample count (the
    distance's bias depends on it), and no image is ever on both sides. When the probe half has fewer
    than `n` images, n shrinks to its size rather than drawing duplicates, which would shrink the
    probe set's effective size and inflate the floor; the returned `n` says what was used.
    The shipped classifier trained on 90% of the embedded sample; its never-seen held-out images land
    no farther from the reference than the seen ones, so this barely flatters the floor.
    """
    feats, labels = real_features(source, root, classifier)
    ref_idx, probe_idx = _split(labels, digits)
    if len(probe_idx) < 2:
        raise ValueError(f"too few real images of digits {list(digits)} in the {source} data for a Fréchet distance")
    n = min(n, len(probe_idx))
    pick = torch.randperm(len(probe_idx), generator=torch.Generator().manual_seed(SPLIT_SEED))[:n]
    ref = stats(feats[ref_idx.to(feats.device)])
    floor = frechet_distance(stats(feats[probe_idx[pick].to(feats.device)]), ref)
    return Reference(ref, floor, n, len(ref_idx))


@dataclass(frozen=True)
class Typical:
    """Where real images of each digit lie in feature space: class means, a shared precision matrix and,
    per digit, the TYPICAL quantile of real images' Mahalanobis distance to their class mean.

    Why: a classifier is sure of things it was never shown. Grey noise reads as an 8 with p > 0.99, but
    its features lie farther from real 8s than 99% of real 8s do; this tells the two apart."""
    means: torch.Tensor  # (10, d)
    precision: torch.Tensor  # (d, d)
    limit: torch.Tensor  # (10,)

    def distance(self, features: torch.Tensor, read: torch.Tensor) -> torch.Tensor:
        x = features.double().cpu() - self.means[read.cpu()]
        return ((x @ self.precision) * x).sum(1).clamp(min=0).sqrt()

    def within(self, features: torch.Tensor, read: torch.Tensor) -> torch.Tensor:
        return self.distance(features, read) <= self.limit[read.cpu()]


@functools.lru_cache(maxsize=8)
def typical(source: str, root: str | None, classifier: DigitClassifier) -> Typical:
    """`Typical` for the real images of `source` (the embedded sample, or full MNIST's test split)."""
    feats, labels = real_features(source, root, classifier)
    feats = feats.double().cpu()
    means = torch.stack([feats[labels == d].mean(0) for d in range(10)])
    centred = feats - means[labels]
    cov = centred.T @ centred / (len(feats) - 10)
    cov += 1e-3 * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype)  # shrink: some directions are flat
    t = Typical(means, torch.linalg.inv(cov), torch.zeros(10, dtype=torch.float64))
    dist = t.distance(feats, labels)
    limit = torch.stack([torch.quantile(dist[labels == d], TYPICAL) for d in range(10)])
    return Typical(means, t.precision, limit)


# ---- scoring a batch --------------------------------------------------------------------
@dataclass(frozen=True)
class Quality:
    digits: list[int]
    n_images: int  # images behind share, histogram and confidence
    share: float  # fraction read as one of `digits`
    recognised: float  # fraction read surely as one of `digits`: probability >= SURE and typical features
    histogram: list[float]  # fraction read as each digit 0..9
    sure_histogram: list[float]  # fraction read surely (as for `recognised`) as each digit 0..9
    confidence: float  # mean max softmax
    fid: float  # Fréchet distance to real images of `digits`, on `fid_n` images
    fid_floor: float  # the same distance for real images: what a perfect generator would score
    fid_n: int
    source: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@torch.no_grad()
def score(images: torch.Tensor, digits, classifier: DigitClassifier | None = None, n: int = FID_SAMPLES,
          source: str | None = None, root: str | None = None) -> Quality:
    """Score generated `images` ((N, 28, 28) or (N, 784), uint8 with ink = 255 or floats in [0, 1]).

    The Fréchet distance uses the first `n` images (default 1000, so numbers compare across runs) and
    needs at least that many; pass a smaller n for quick checks. With few real images, n may shrink
    further (see `reference`); Quality.fid_n says what was used, and the floor always uses the same n.
    """
    digits = tuple(sorted({int(d) for d in digits}))
    if not digits or not all(0 <= d <= 9 for d in digits):
        raise ValueError(f"digits must be a non-empty list of 0..9, got {list(digits)}")
    if n < 2:
        raise ValueError(f"the Fréchet distance needs n >= 2 images, got n={n}")
    if len(images) < n:
        raise ValueError(f"the Fréchet distance compares {n} images, got {len(images)}: generate at least {n} "
                         f"or pass n={len(images)} (scores at different n do not compare)")
    classifier = classifier or load_classifier()
    source = source or data_mod.default_source()
    ref = reference(digits, n, source, root, classifier)
    x = _as_float(images).to(_device(classifier))
    feats = _features(classifier, x)
    probs = classifier.head(feats).softmax(1).cpu()
    top, read = probs.max(1)
    hist = torch.bincount(read, minlength=10).double() / len(probs)
    sure_read = (top >= SURE) & typical(source, root, classifier).within(feats, read)
    sure = torch.bincount(read[sure_read], minlength=10).double() / len(probs)
    fid = frechet_distance(stats(feats[: ref.n]), ref.stats)
    return Quality(digits=list(digits), n_images=len(probs), share=hist[list(digits)].sum().item(),
                   recognised=sure[list(digits)].sum().item(), histogram=[round(v, 6) for v in hist.tolist()],
                   sure_histogram=[round(v, 6) for v in sure.tolist()], confidence=top.mean().item(),
                   fid=fid, fid_floor=ref.floor, fid_n=ref.n, source=source)


@torch.no_grad()
def probabilities(images: torch.Tensor, classifier: DigitClassifier | None = None) -> torch.Tensor:
    """The classifier's digit probabilities (N, 10) on the CPU for images as `score` takes them."""
    classifier = classifier or load_classifier()
    x = _as_float(images).to(_device(classifier))
    return torch.cat([classifier(c).softmax(1) for c in x.split(CHUNK)]).cpu()


def _features(model: DigitClassifier, images: torch.Tensor) -> torch.Tensor:
    x = _as_float(images).to(_device(model))
    with torch.no_grad():
        return torch.cat([model.features(c) for c in x.split(CHUNK)])


def _as_float(images: torch.Tensor) -> torch.Tensor:
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


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
