"""How good are the generated digits? Scores built on the digit reader (explorer.reader) and the metrics
classifier (explorer.classifier).

`score(images, digits)` says two things about a batch, in two names used everywhere (the live meter, the
benchmarks, models/demos.json, the README):
- `read_as`: the share the digit reader (explorer.reader) reads as one of the chosen digits ("read as a 3");
- `looks_real`: the share the metrics classifier (trained on clean digits) reads surely as one of them (at
  least 90%) with features where real images of
  that digit lie ("looks like a real 3"). A clear but grey-backgrounded 3 is read as a 3 without looking real.
It also gives how the batch spreads over the ten digits (mode coverage), how confident the classifier is,
and the Fréchet distance between the batch and real images of those digits in the classifier's 128-d
feature space, next to the real-vs-real floor at the same sample count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from . import data as data_mod
from .classifier import CHUNK, FEATURES, DigitClassifier, as_float, device_of, features, load_classifier
from .reader import NO_DIGIT, load_reader

FID_SAMPLES = 1000  # images per Fréchet distance, so numbers from different runs compare
SPLIT_SEED = 0  # fixes which real images are the reference and which the floor's probe
SURE = 0.9  # a sample looks real when the classifier gives one of the chosen digits at least this,
TYPICAL = 0.99  # and its features lie within this quantile of real images of that digit (see `Typical`)


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


_features_folder: Path | None = None


def keep_real_features_in(folder: Path | None) -> None:
    """Keep the real images' features in `folder` as well (the server's data folder): a restarted server reads
    them back in milliseconds, where computing them costs seconds of CPU beside its first pages."""
    global _features_folder
    _features_folder = folder


@functools.lru_cache(maxsize=4)
def _real_features(source: str, root: str | None, classifier: DigitClassifier) -> tuple[torch.Tensor, torch.Tensor]:
    real = data_mod.load(source, root=root, train=False)
    file = _features_file(real.images, classifier)
    if file is not None:
        with contextlib.suppress(Exception):  # missing, cut short or altered: computed again and rewritten
            kept = load_file(str(file), device=str(device_of(classifier)))
            found = kept["features"]
            if kept["labels"].equal(real.labels) and found.shape == (len(real.labels), FEATURES) \
                    and found.dtype == torch.float32 and bool(found.isfinite().all()):
                return found, real.labels
    made = features(classifier, real.images)
    if file is not None:
        with contextlib.suppress(OSError):  # a full or read-only disk: the next start computes them again
            file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = file.with_suffix(f".{os.getpid()}.part")
            save_file({"features": made.cpu().contiguous(), "labels": real.labels.cpu().contiguous()}, str(partial))
            partial.replace(file)  # whole or not at all, for a server that starts beside this one
    return made, real.labels


def _features_file(images: torch.Tensor, classifier: DigitClassifier) -> Path | None:
    """Where the features of `images` under `classifier` are kept: named by a hash of both, so other data or
    other weights never read features that are not theirs."""
    if _features_folder is None:
        return None
    digest = hashlib.sha256(images.cpu().contiguous().numpy().tobytes())
    for name, t in sorted(classifier.state_dict().items()):
        digest.update(name.encode())
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return _features_folder / f"real-features-{digest.hexdigest()[:24]}.safetensors"


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
    n_images: int  # images behind read_as, looks_real, the histograms and confidence
    read_as: float  # share the classifier reads as one of `digits` ("read as a 3")
    looks_real: float  # share read surely (probability >= SURE) as one of `digits`, with typical features
    histogram: list[float]  # share read as each digit 0..9 (by the digit reader)
    no_digit: float  # share the digit reader reads as no digit at all
    looks_real_histogram: list[float]  # share that looks like a real image of each digit 0..9
    confidence: float  # mean max softmax
    fid: float  # Fréchet distance to real images of `digits`, on `fid_n` images
    fid_floor: float  # the same distance for real images: what a perfect generator would score
    fid_n: int
    source: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@torch.no_grad()
def score(images: torch.Tensor, digits, classifier: DigitClassifier | None = None, n: int = FID_SAMPLES,
          source: str | None = None, root: str | None = None, reader: DigitClassifier | None = None) -> Quality:
    """Score generated `images` ((N, 28, 28) or (N, 784), uint8 with ink = 255 or floats in [0, 1]): what they
    are read as (the digit reader), and whether they look real and how far they lie from real digits (the
    metrics classifier's features).

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
    x = as_float(images).to(device_of(classifier))
    reader = reader or load_reader(device_of(classifier))
    read_by_reader = _reader_probabilities(reader, x).argmax(1)  # a digit 0..9, or NO_DIGIT
    hist = torch.bincount(read_by_reader, minlength=NO_DIGIT + 1).double() / len(x)
    feats = features(classifier, x)
    probs = classifier.head(feats).softmax(1).cpu()
    top, read = probs.max(1)
    real = (top >= SURE) & typical(source, root, classifier).within(feats, read)
    real_hist = torch.bincount(read[real], minlength=10).double() / len(probs)
    fid = frechet_distance(stats(feats[: ref.n]), ref.stats)
    return Quality(digits=list(digits), n_images=len(probs), read_as=hist[list(digits)].sum().item(),
                   looks_real=real_hist[list(digits)].sum().item(),
                   histogram=[round(v, 6) for v in hist[:NO_DIGIT].tolist()], no_digit=round(hist[NO_DIGIT].item(), 6),
                   looks_real_histogram=[round(v, 6) for v in real_hist.tolist()], confidence=top.mean().item(),
                   fid=fid, fid_floor=ref.floor, fid_n=ref.n, source=source)


@torch.no_grad()
def probabilities(images: torch.Tensor, reader: DigitClassifier | None = None) -> torch.Tensor:
    """How surely the digit reader reads each image as each digit (N, 10), on the CPU, for images as `score` takes
    them; a row sums to less than 1 by the chance that it is no digit at all."""
    reader = reader or load_reader()
    return _reader_probabilities(reader, as_float(images).to(device_of(reader)))[:, :NO_DIGIT]


@torch.no_grad()
def _reader_probabilities(reader: DigitClassifier, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([reader(c).softmax(1) for c in x.split(CHUNK)]).cpu()
