"""The live quality meter: while a GAN trains, score a fixed batch of its samples every few seconds.

Each `Reading` holds what the Train page charts and what the "what is happening now" caption reads:
- the share of samples the metrics classifier reads as one of the chosen digits (`read_as`), and the share
  that looks like a real one (`looks_real`: read surely, with real-looking features; explorer.metrics);
- the class histograms over all ten digits (the mode-collapse meter);
- the classifier-feature Fréchet distance to real images of those digits, with its real-vs-real floor;
- the samples' variety: their pixel spread against real images' (near 0: all samples alike);
- D's outputs on a fixed batch of real images and on the fakes, and how much the two overlap.

The meter draws nothing from torch's global random generator (the classifier loads under a forked
RNG, and every network is read in eval mode), so a run scores the same with or without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from . import data as data_mod
from . import metrics
from .classifier import DigitClassifier, load_classifier
from .config import GANConfig
from .data import Digits, scale, to_uint8
from .nets import evaluating, sample_latent
from .reader import load_reader

SAMPLES = 256  # images per reading: 0.2 s of classifier time on one CPU thread
EVERY_SECONDS = 4.0  # of training time between readings, at the least
MAX_SHARE = 0.04  # and never more than this share of training time
BINS = 20
MAX_READINGS = 300
COLLAPSE_VARIETY = 0.35  # samples' pixel spread below this share of real images' reads as collapse


@dataclass(frozen=True)
class Reading:
    step: int
    seconds: float  # training time at the reading
    read_as: float  # share read as one of the chosen digits (metrics.Quality.read_as)
    looks_real: float  # share that looks like a real one of them (metrics.Quality.looks_real)
    histogram: list[float]  # share read as each digit 0..9
    looks_real_histogram: list[float]  # share that looks like a real image of each digit 0..9 (the rest: unsure)
    fid: float
    fid_floor: float  # the same distance for real images at the same sample count
    variety: float  # pixel spread of the samples / pixel spread of real images (1: as varied as real)
    overlap: float  # shared area of the two histograms of D's outputs (1: D cannot tell them apart)
    d_real: torch.Tensor  # (n,) D's outputs (P(real) for BCE losses) on the fixed real batch
    d_fake: torch.Tensor  # (n,) the same for the fakes
    probabilities: bool  # whether d_real/d_fake are probabilities (else critic scores)


def overlap(real: torch.Tensor, fake: torch.Tensor, probabilities: bool, bins: int = BINS) -> float:
    """The histogram intersection of two sets of D outputs on shared bins: 0 = apart, 1 = the same."""
    lo, hi = (0.0, 1.0) if probabilities else (min(real.min(), fake.min()).item(), max(real.max(), fake.max()).item())
    if hi - lo < 1e-12:
        return 1.0
    h_real = torch.histc(real.float(), bins, lo, hi) / len(real)
    h_fake = torch.histc(fake.float(), bins, lo, hi) / len(fake)
    return torch.minimum(h_real, h_fake).sum().item()


def pixel_spread(images_uint8: torch.Tensor) -> float:
    """Mean over pixels of the standard deviation across the batch, in [0, 0.5]."""
    return images_uint8.float().div(255).std(dim=0).mean().item()


class Meter:
    """Scores a trainer's generator on a fixed latent batch; `due()` says when the next reading is."""

    def __init__(self, cfg: GANConfig, data: Digits, device: torch.device | str = "cpu", samples: int = SAMPLES,
                 every: float = EVERY_SECONDS, classifier: DigitClassifier | None = None):
        device = torch.device(device)
        with torch.random.fork_rng(devices=[]):  # building the networks draws from the global RNG
            self.classifier = classifier or load_classifier(device)
            self.reader = load_reader(device)
        self.digits, self.source, self.every = list(cfg.digits), data.source, every
        gen = torch.Generator(device=device).manual_seed(cfg.seed + 2)
        self.z = sample_latent(samples, cfg, gen, device)
        self.labels = None
        if cfg.conditional:  # the chosen digits in equal shares
            self.labels = torch.tensor(cfg.digits, device=device).repeat(samples // len(cfg.digits) + 1)[:samples]
        chosen = torch.nonzero(torch.isin(data.labels, torch.tensor(cfg.digits))).flatten()
        pick = chosen[torch.randperm(len(chosen), generator=torch.Generator().manual_seed(cfg.seed + 3))[:samples]]
        self.real = scale(data.images[pick], cfg.output).to(device)
        self.real_labels = data.labels[pick].to(device) if cfg.conditional else None
        self.real_spread = max(pixel_spread(data.images[pick]), 1e-6)
        self.readings: list[Reading] = []
        self.cost = 0.0  # seconds the last reading took
        self.spent = 0.0  # seconds all readings but the first took (the first also computes the references)
        self._next = 0.0

    def due(self, seconds: float) -> bool:
        return seconds >= self._next

    @torch.no_grad()
    def read(self, G: torch.nn.Module, D: torch.nn.Module, cfg: GANConfig, step: int, seconds: float,
             probabilities: bool) -> Reading:
        """Score G (and D) now, keep the reading, and schedule the next one."""
        t0 = time.perf_counter()
        with evaluating(G), evaluating(D):
            fake = G(self.z, self.labels)
            d_fake, d_real = D(fake, self.labels).flatten(), D(self.real, self.real_labels).flatten()
        if probabilities:
            d_fake, d_real = torch.sigmoid(d_fake), torch.sigmoid(d_real)
        pixels = to_uint8(torch.nan_to_num(fake), cfg.output).cpu()
        q = metrics.score(pixels, self.digits, self.classifier, n=len(pixels), source=self.source, reader=self.reader)
        d_real, d_fake = torch.nan_to_num(d_real).cpu(), torch.nan_to_num(d_fake).cpu()
        reading = Reading(step=step, seconds=seconds, read_as=q.read_as, looks_real=q.looks_real,
                          histogram=q.histogram, looks_real_histogram=q.looks_real_histogram, fid=q.fid,
                          fid_floor=q.fid_floor, variety=pixel_spread(pixels) / self.real_spread,
                          overlap=overlap(d_real, d_fake, probabilities), d_real=d_real, d_fake=d_fake,
                          probabilities=probabilities)
        self.readings.append(reading)
        if len(self.readings) > MAX_READINGS:  # thin the middle, keep the first and the newest
            self.readings = self.readings[:-1:2] + self.readings[-1:]
        self.cost = time.perf_counter() - t0
        if len(self.readings) > 1:  # the first one's cost includes the reference statistics, computed once
            self.spent += self.cost
        # The budget is kept over the run so far, not reading by reading: readings come every `every` seconds
        # while their total stays within MAX_SHARE of the training time, so one slow reading (a busy machine)
        # delays the next few, not the whole run's early minutes, when a student watches most closely.
        self._next = max(seconds + self.every, self.spent / MAX_SHARE)
        return reading


def warm(source: str | None = None) -> None:
    """Load the classifier and the real digits' feature statistics, so a first reading is quick."""
    load_reader()
    classifier = load_classifier()
    metrics.typical(source or data_mod.default_source(), None, classifier)


def series(readings: list[Reading]) -> dict[str, list[float]]:
    """The readings as columns for charts and comparisons."""
    keys = ("step", "seconds", "read_as", "looks_real", "fid", "fid_floor", "variety", "overlap")
    return {k: [getattr(r, k) for r in readings] for k in keys}


def collapse_warning(reading: Reading, digits: list[int]) -> str | None:
    """A plain warning when a few digits take over, or when all samples look alike; None when fine.

    Only once half the samples or more look like real digits: early noise reads as anything."""
    if reading.looks_real < 0.5:
        return None
    hist = real_looking_shares(reading)
    gone = vanished(reading, digits)
    if len(digits) > 1 and gone:
        top = sorted(digits, key=lambda d: -hist[d])[: max(1, len(digits) - len(gone))]
        taken = ", ".join(f"{d} ({hist[d]:.0%})" for d in top[:3])
        return (f"Mode collapse: {len(gone)} of the {len(digits)} chosen digits ({and_list(gone)}) barely appear, "
                f"while G's real-looking samples are mostly {taken}.")
    if reading.variety < COLLAPSE_VARIETY:
        return (f"Mode collapse: the samples look alike: their pixel variety is {reading.variety:.0%} of "
                f"real images'.")
    return None


def real_looking_shares(reading: Reading) -> list[float]:
    """Each digit's share among the samples that look real (all 0 when none does)."""
    return [v / reading.looks_real if reading.looks_real > 0 else 0.0 for v in reading.looks_real_histogram]


def vanished(reading: Reading, digits: list[int]) -> list[int]:
    """The chosen digits that barely appear among the real-looking samples: under a quarter of a fair share."""
    hist = real_looking_shares(reading)
    return [d for d in digits if hist[d] < 1 / len(digits) / 4]


def and_list(items) -> str:
    """The items in words: 3; 3 and 7; 0, 2 and 3."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
