"""The two guards of a run: divergence (a metric became NaN or infinite) and mode collapse (every sample of the
fixed batch alike). Each rolls the networks back to a model it kept, and says what happened in plain words.
"""

from __future__ import annotations

import math

import torch

from .data import to_uint8
from .progress import METRICS

COLLAPSE_STD = 0.02  # pixel std (0..1) across the fixed batch below which samples are all alike
COLLAPSE_WARMUP = 2000  # steps before alike samples count as a collapse (see Guards.collapsed)
COLLAPSE_SNAPSHOTS = 3  # alike snapshots in a row that make a collapse


def pixel_spread(images: torch.Tensor, output: str) -> float:
    """Mean over pixels of the standard deviation across a batch of G's raw outputs, in 0..0.5."""
    return to_uint8(images, output).float().div(255).std(dim=0).mean().item()


class Guards:
    """Rollback points and the checks that use them, for one trainer's networks (G, D and the averaged G)."""

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module, generator: torch.nn.Module, output: str):
        self.nets = {"G": G, "D": D, "avg": generator}
        self.output = output
        self.last_good: tuple[int, dict] = (0, self.weights())  # the newest finite snapshot's weights
        self.last_varied: tuple[int, dict] | None = None  # the newest snapshot whose samples still varied
        self.alike = 0  # alike snapshots in a row

    def weights(self) -> dict:
        """A copy of every network's weights."""
        return {name: {k: v.detach().clone() for k, v in net.state_dict().items()} for name, net in self.nets.items()}

    def restore(self, weights: dict) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(weights[name])

    def keep_good(self, step: int, images: torch.Tensor) -> None:
        """Keep these weights for a divergence to fall back on, when G's output is finite."""
        if torch.isfinite(images).all():
            self.last_good = (step, self.weights())

    def diverged(self, step: int, metrics: dict) -> str | None:
        """If a metric is NaN or infinite: roll back to the last good weights and say why. Else None."""
        bad = ", ".join(k for k in METRICS if not math.isfinite(metrics[k]))
        if not bad:
            return None
        good_step, weights = self.last_good
        self.restore(weights)
        return (f"Training diverged at step {step:,}: {bad} became NaN or infinite. The model was rolled back to "
                f"step {good_step:,}, its last good state. Try lower learning rates, or a loss such as WGAN-GP.")

    def collapsed(self, step: int, images: torch.Tensor) -> str | None:
        """If the fixed batch has shown (nearly) one image for COLLAPSE_SNAPSHOTS snapshots in a row: roll back to
        the last varied weights and say why. Else None (and these weights are kept, when they vary).

        Why the warm-up: a young G often draws one blob for every z before it learns to use z at all (the
        minimal-tf preset does for its first ~1,000 steps, then reaches 90% read as digits), so alike samples
        count only from COLLAPSE_WARMUP steps on."""
        spread = pixel_spread(images, self.output)
        if spread >= COLLAPSE_STD:
            self.alike, self.last_varied = 0, (step, self.weights())
            return None
        self.alike += 1
        if self.alike < COLLAPSE_SNAPSHOTS or step < COLLAPSE_WARMUP:
            return None
        kept = ""
        if self.last_varied is not None:
            varied_step, varied = self.last_varied
            self.restore(varied)
            kept = f" The model kept is the one from step {varied_step:,}, before the collapse."
        return (f"Mode collapse at step {step:,}: every sample of the fixed batch looks the same (pixel spread "
                f"{spread:.3f}). The generator found one image that fools D and stopped exploring.{kept} Try a "
                f"lower generator learning rate, more D steps, or the WGAN-GP loss.")
