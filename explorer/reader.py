"""The digit reader: which digit a person would read in a picture, or none.

Why a second network: the metrics classifier (explorer.classifier) learned from clean MNIST, so its features
tell what looks like a real digit, and that is what the Fréchet distance and "looks real" need. But it also
reads a GAN's early 3s, clear to anyone on their grey, speckled background, as 8s: beside a grid of 3s the
meter said "0% read as a 3". The reader is the same network trained on the same digits, each batch half
degraded the way a young GAN draws (a grey background, lower contrast, noise), with an eleventh class for
what is no digit at all (noise, a flat grey, blurred blobs). It reads those 3s as 3s and pure noise as no
digit. explorer.metrics takes "read as" from it.

Weights: models/reader.safetensors (rebuild: `python -m explorer train-classifier --reader`), read with
safetensors only.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from . import data as data_mod
from .classifier import EPOCHS, WEIGHTS, DigitClassifier, augment, fit, load_weights

READER_WEIGHTS = WEIGHTS.with_name("reader.safetensors")
NO_DIGIT = 10  # the eleventh class
DEGRADED = 0.5  # share of each batch drawn as a young GAN would
NOT_DIGITS = 0.1  # share of each batch replaced by pictures of no digit


def load_reader(device: str | torch.device = "cpu", path: str | Path = READER_WEIGHTS) -> DigitClassifier:
    """The trained digit reader in eval mode, read once per process, device and file."""
    return load_weights(str(torch.device(device)), Path(path).resolve(), NO_DIGIT + 1,
                        "python -m explorer train-classifier --reader")


def degrade(x: torch.Tensor, generator: torch.Generator, share: float = DEGRADED) -> torch.Tensor:
    """Draw `share` of a batch (B, 1, 28, 28) in [0, 1] as a young GAN does: a grey background (up to 0.4),
    lower contrast (down to half) and speckle (Gaussian noise of up to 0.2)."""
    b = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, 1, 1, 1, generator=generator)

    grey, contrast, sigma = uniform(0, 0.4), uniform(0.5, 1), uniform(0, 0.2)
    drawn = (grey + contrast * x * (1 - grey) + sigma * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    use = (torch.rand(b, 1, 1, 1, generator=generator) < share).float()
    return use * drawn + (1 - use) * x


def not_digits(n: int, generator: torch.Generator) -> torch.Tensor:
    """n pictures of no digit (n, 1, 28, 28): uniform noise, flat grey with speckle, and blurred blobs."""
    kind = torch.randint(0, 3, (n, 1, 1, 1), generator=generator)
    noise = torch.rand(n, 1, 28, 28, generator=generator)
    flat = (torch.rand(n, 1, 1, 1, generator=generator) * 0.6 + 0.2 * torch.randn(n, 1, 28, 28, generator=generator)
            * torch.rand(n, 1, 1, 1, generator=generator)).clamp(0, 1)
    blobs = F.avg_pool2d(torch.rand(n, 1, 28, 28, generator=generator), 7, stride=1, padding=3)
    blobs = ((blobs - blobs.amin((2, 3), keepdim=True)) / (blobs.amax((2, 3), keepdim=True)
                                                            - blobs.amin((2, 3), keepdim=True) + 1e-6))
    return torch.where(kind == 0, noise, torch.where(kind == 1, flat, blobs))


def reader_batch(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch for the reader: augmented digits, half degraded, a tenth replaced by no digit."""
    x, y = augment(x, y, generator)
    x = degrade(x, generator)
    swap = torch.rand(len(y), generator=generator) < NOT_DIGITS
    x, y = x.clone(), y.clone()
    x[swap] = not_digits(int(swap.sum()), generator)
    y[swap] = NO_DIGIT
    return x, y


def train_reader(source: str = data_mod.EMBEDDED, root: str | None = None, epochs: int = EPOCHS,
                 out: str | Path = READER_WEIGHTS, seed: int = 0, progress=print) -> dict:
    """Train the digit reader (as `classifier.train_classifier`, with `reader_batch`); save it; return its scores."""
    return fit(DigitClassifier(NO_DIGIT + 1), reader_batch, source, root, epochs, out, seed, progress,
               "train-classifier --reader")
