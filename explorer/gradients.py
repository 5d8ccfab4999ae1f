"""What D tells G: for each fake, the gradient of G's loss with respect to its pixels, and D's verdict.

G never sees a real digit; all it learns is this: which way each pixel of each fake should move so that D
believes it more. `push` gives that direction, pixel by pixel (positive: D wants more ink there; negative:
less), as G's own update would follow it (the negative gradient of G's loss); `overlay` paints it over the
fakes, red for more ink and blue for less, for a student to see at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import losses
from .config import GANConfig
from .data import to_uint8
from .nets import device_of


@dataclass(frozen=True)
class Push:
    pixels: torch.Tensor  # (n, 28, 28): -d(G's loss)/d(pixel); > 0 where D wants more ink
    verdicts: torch.Tensor  # (n,) D's verdict on each fake: P(real) for the BCE losses, else the critic's score
    probabilities: bool  # whether the verdicts are probabilities


def push(D: torch.nn.Module, cfg: GANConfig, fakes: torch.Tensor, labels: torch.Tensor | None = None,
         loss: str | None = None) -> Push:
    """The push D gives G on `fakes` (n, 784), G's raw outputs in its output range, under `loss` (default: the
    config's final loss). Each fake's map is the gradient of G's loss on that fake alone, so the maps of a
    batch do not depend on one another. D is read in evaluation mode and never changed."""
    loss_kind = losses.get(loss or cfg.ended().loss)
    was_training = D.training
    D.eval()
    try:
        x = fakes.detach().to(device_of(D)).float().requires_grad_(True)
        logits = D(x, None if labels is None else labels.to(x.device))
        # G's loss is a mean over the batch: times n, each fake's own term, so a map does not shrink with n
        g_loss = loss_kind.g_loss(logits) * len(x)
        (grad,) = torch.autograd.grad(g_loss, x)
    finally:
        D.train(was_training)
    span = 2.0 if cfg.output == "tanh" else 1.0  # pixels per unit of ink: tanh spans -1..1
    verdicts = torch.sigmoid(logits) if loss_kind.probabilities else logits
    return Push((-grad * span).reshape(-1, 28, 28).cpu(), verdicts.detach().cpu(), loss_kind.probabilities)


FULL_TINT_QUANTILE = 0.98  # each map's pushes above this share of its pixels' take the full colour
TINT_GAMMA = 0.75  # < 1 lifts the fainter pushes, so a map's shape shows at a glance


def overlay(fakes: torch.Tensor, cfg: GANConfig, pushed: torch.Tensor, strength: float = 0.85) -> np.ndarray:
    """RGB pictures (n, 28, 28, 3) uint8: each fake in grey, tinted red where D wants more ink and blue where it
    wants less. Each map is scaled by its own strong pushes (not its one largest, which would leave the rest
    faint), so a weak push still shows its shape; the colours compare places within a sample, not samples."""
    return tint(to_uint8(fakes, cfg.output).reshape(-1, 28, 28), pushed, strength)


def tint(digits: torch.Tensor, pushed: torch.Tensor, strength: float = 0.85, each: bool = True) -> np.ndarray:
    """`overlay` for digits already as pictures (n, 28, 28) uint8, ink = 255: a snapshot's. `each=False` scales
    all maps together, so a sample that changed little looks calm beside one that changed much."""
    grey = digits.float().div(255).cpu()
    pushed = pushed.float().cpu()
    flat = pushed.abs().flatten(1) if each else pushed.abs().reshape(1, -1)
    scale = flat.quantile(FULL_TINT_QUANTILE, dim=1).reshape(-1, 1, 1).clamp_min(1e-12)
    p = (pushed / scale).clamp(-1, 1)
    p = p.sign() * p.abs() ** TINT_GAMMA
    more, less = p.clamp(min=0) * strength, (-p).clamp(min=0) * strength
    base = grey * (1 - more - less)
    rgb = torch.stack([base + more, base, base + less], dim=-1)  # red: more ink; blue: less
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def verdict_text(verdict: float, probabilities: bool) -> str:
    """D's verdict on one sample in a few characters: P(real) as "0.31", a critic's score as "+1.2"."""
    return f"{verdict:.2f}" if probabilities else f"{verdict:+.1f}"
