"""How close G's images come to real ones: the memorization check (the nearest real training image) and
inversion (the latent point whose image comes nearest a target picture).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .config import ConfigError, GANConfig
from .data import Digits, scale
from .latent import digit_labels, generate
from .nets import device_of, sample_latent


# ---- the memorization check ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Nearest:
    index: int  # into the real images of the model's digits
    image: torch.Tensor  # (28, 28) uint8
    distance: float  # RMS pixel difference, 0..1
    typical: float  # the median distance from a real image to its nearest other real image


def real_images(data: Digits, digits) -> torch.Tensor:
    """The training images (n, 784) uint8 of `digits`."""
    return data.images[torch.isin(data.labels, torch.as_tensor(list(digits)))]


def _rms(a: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
    """RMS pixel distance (in 0..1) of each row of a (m, 784) to each row of pool (n, 784) -> (m, n)."""
    return torch.cdist(a.float() / 255, pool.float() / 255) / 28


def nearest_real(image: torch.Tensor, pool: torch.Tensor, typical: float) -> Nearest:
    """The memorization check: the real image closest to `image` in pixel space, and how close."""
    dist = _rms(image.reshape(1, 784), pool)[0]
    i = int(dist.argmin())
    return Nearest(i, pool[i].reshape(28, 28), dist[i].item(), typical)


def typical_nearest(pool: torch.Tensor, probes: int = 200, seed: int = 0) -> float:
    """The median distance from a real image to its nearest other real image: the yardstick for `nearest_real`."""
    pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:probes]
    dist = _rms(pool[pick], pool)
    dist[torch.arange(len(pick)), pick] = float("inf")  # not itself
    return dist.min(1).values.median().item()


# ---- inversion --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inversion:
    z: torch.Tensor  # (latent_dim,) the best latent point found
    image: torch.Tensor  # (28, 28) uint8, G(z)
    error: float  # RMS pixel error against the target, 0..1
    start_error: float  # the same for the best starting point, before optimizing
    curve: list[float]  # best RMS error every `report_every` steps


def invert(G, cfg: GANConfig, target: torch.Tensor, label: int | None = None, steps: int = 300,
           restarts: int = 16, lr: float = 0.05, seed: int = 0, progress: Callable[[int, float], None] | None = None,
           report_every: int = 20) -> Inversion:
    """Find z with G(z) ≈ target (28×28 uint8, ink = 255) by gradient descent from several random starts.

    The loss is the mean squared pixel error plus a small pull towards the prior's typical region
    (normal) or a clamp to its support (uniform), so the point found is one G is used to. Gradients are
    taken for z alone (autograd.grad), so a model shared between sessions is never written to."""
    if cfg.conditional and label is None:
        raise ConfigError("digit", "a conditional generator needs the digit to invert")
    G.eval()
    device = device_of(G)
    goal = scale(torch.as_tensor(target).reshape(1, 784), cfg.output).to(device)
    z = sample_latent(restarts, cfg, torch.Generator().manual_seed(seed)).to(device).requires_grad_(True)
    labels = digit_labels(cfg, restarts, label, device) if cfg.conditional else None
    opt = torch.optim.Adam([z], lr=lr)
    span = 2.0 if cfg.output == "tanh" else 1.0  # pixel range, so errors read in 0..1

    def errors() -> torch.Tensor:
        return (G(z, labels) - goal).pow(2).mean(1)

    with torch.no_grad():
        start = errors().min().sqrt().item() / span
    curve = []
    for i in range(1, steps + 1):
        err = errors()
        loss = err.sum() + (1e-3 * z.pow(2).mean(1).sum() if cfg.prior == "normal" else 0)
        (grad,) = torch.autograd.grad(loss, z)
        z.grad = grad
        opt.step()
        if cfg.prior == "uniform":
            with torch.no_grad():
                z.clamp_(-1, 1)
        if i % report_every == 0 or i == steps:
            best = err.detach().min().sqrt().item() / span
            curve.append(best)
            if progress is not None:
                progress(i, best)
    with torch.no_grad():
        final = errors()
        best_i = int(final.argmin())
        z_best = z[best_i].detach().cpu()
    image = generate(G, cfg, z_best.unsqueeze(0), None if labels is None else labels[:1].cpu())[0]
    return Inversion(z_best, image, final[best_i].sqrt().item() / span, start, curve)
