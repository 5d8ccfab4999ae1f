"""What D tells G: for each fake, the gradient of G's loss with respect to its pixels, and D's verdict.

G never sees a real digit; all it learns is this: which way each pixel of each fake should move so that D
believes it more. `push` gives that direction, pixel by pixel (positive: D wants more ink there; negative:
less), as G's own update would follow it (the negative gradient of G's loss); `overlay` paints its strong
places over the fakes, red for more ink and blue for less, for a student to see at a glance.
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


ROBUST_QUANTILE = 0.99  # a map's "strongest push": this share of its pixels' |push|, not its one largest
FADE_BELOW = 0.3  # pushes under this share of the strongest leave the digit untouched: D hardly cares there
OPACITY = 0.8  # the strongest push's colour over the digit; under it the ink still shows, lighter than paper
MORE_INK = torch.tensor([1.0, 0.2, 0.12])  # red, bright enough to read on the black paper
LESS_INK = torch.tensor([0.12, 0.55, 1.0])  # an azure blue: pure blue on black would be nearly black


def overlay(fakes: torch.Tensor, cfg: GANConfig, pushed: torch.Tensor, strength: float = OPACITY) -> np.ndarray:
    """RGB pictures (n, 28, 28, 3) uint8: each fake in grey, with a translucent red where D wants more ink and
    blue where it wants less, only where the push is strong. Each map is measured against its own strongest
    pushes, so the colours compare places within a sample, not samples."""
    return tint(to_uint8(fakes, cfg.output).reshape(-1, 28, 28), pushed, strength)


def tint(digits: torch.Tensor, pushed: torch.Tensor, strength: float = OPACITY, each: bool = True) -> np.ndarray:
    """`overlay` for digits already as pictures (n, 28, 28) uint8, ink = 255: a snapshot's. `strength` is the
    opacity of the strongest pushes' colour; a push fades in from FADE_BELOW of the strongest (no colour at all:
    the grey digit as it is) to full strength, so the few strong ones stand out of the many weak ones, and the
    digit stays readable under them. `each=False` measures all maps together, so a sample that changed little
    looks calm beside one that changed much."""
    grey = digits.float().div(255).cpu().unsqueeze(-1).expand(*digits.shape, 3)
    pushed = pushed.float().cpu()
    flat = pushed.abs().flatten(1) if each else pushed.abs().reshape(1, -1)
    strongest = flat.quantile(ROBUST_QUANTILE, dim=1)
    # a map with pushes on under 1% of its pixels has a quantile of 0: its largest push is the scale then
    strongest = torch.where(strongest > 0, strongest, flat.amax(dim=1)).clamp_min(1e-12).reshape(-1, 1, 1)
    share = (pushed.abs() / strongest).clamp(max=1)
    alpha = ((share - FADE_BELOW) / (1 - FADE_BELOW)).clamp(min=0) * strength  # in proportion to the push
    colour = torch.where((pushed > 0).unsqueeze(-1), MORE_INK, LESS_INK)  # red: more ink; blue: less
    rgb = grey * (1 - alpha.unsqueeze(-1)) + colour * alpha.unsqueeze(-1)
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def verdict_text(verdict: float, probabilities: bool, short: bool = False) -> str:
    """D's verdict on one sample in a few characters, to fit under a small sample in large type: P(real) as "0.31",
    a critic's score as "+1.2" (from 10 on, "+12"). `short`, for a projector's larger type: "0.3", "1.2", "-12"."""
    if probabilities:
        return f"{verdict:.1f}" if short else f"{verdict:.2f}"
    sign = "" if short else "+"
    return f"{verdict:{sign}.1f}" if abs(verdict) < 9.95 else f"{verdict:{sign}.0f}"
