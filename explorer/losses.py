"""The loss variants, one registry. Each takes the discriminator's raw outputs (logits).

Binary cross-entropy terms use softplus, the stable form of log(sigmoid): a "sigmoid-output"
discriminator is a logit one with the sigmoid folded in here, so it cannot produce log(0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Loss:
    name: str
    title: str
    description: str
    d_loss: Callable[[Tensor, Tensor, float], Tensor]  # (real logits, fake logits, real target)
    g_loss: Callable[[Tensor], Tensor]  # (fake logits)
    probabilities: bool  # D's output reads as a probability via sigmoid (for D(x) and D(G(z)))
    clip_weights: bool = False  # WGAN: clamp D's weights after each D step
    gradient_penalty: bool = False  # WGAN-GP
    usual: str = ""  # the optimizer settings it is usually trained with


def _bce_d(real: Tensor, fake: Tensor, target: float) -> Tensor:
    # -[t log s(r) + (1 - t) log(1 - s(r))] - log(1 - s(f)), with log s(x) = -softplus(-x)
    real_term = target * F.softplus(-real) + (1 - target) * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def _wasserstein_d(real: Tensor, fake: Tensor, target: float) -> Tensor:
    return fake.mean() - real.mean()


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in [
        Loss("minimax", "Minimax (saturating)",
             "The original game: G minimises log(1 - D(G(z))). Its gradient vanishes when D wins.",
             _bce_d, lambda fake: -F.softplus(fake).mean(), probabilities=True,
             usual="Adam 2e-4, beta1 0.5"),
        Loss("nonsaturating", "Non-saturating",
             "G maximises log D(G(z)) instead: same fixed point, strong gradients early on.",
             _bce_d, lambda fake: F.softplus(-fake).mean(), probabilities=True,
             usual="Adam 2e-4, beta1 0.5"),
        Loss("lsgan", "Least squares (LSGAN)",
             "D regresses real to 1 and fake to 0; G pulls its outputs towards 1.",
             lambda r, f, t: 0.5 * ((r - t).pow(2).mean() + f.pow(2).mean()),
             lambda fake: 0.5 * (fake - 1).pow(2).mean(), probabilities=False,
             usual="Adam 2e-4, beta1 0.5"),
        Loss("wgan", "Wasserstein (weight clipping)",
             "D becomes a critic scoring realness; its weights are clipped to stay Lipschitz.",
             _wasserstein_d, lambda fake: -fake.mean(), probabilities=False, clip_weights=True,
             usual="RMSprop 5e-5, clip 0.01, 5 critic steps"),
        Loss("wgan-gp", "Wasserstein with gradient penalty (WGAN-GP)",
             "A critic kept Lipschitz by penalising gradient norms away from 1 (lambda = 10).",
             _wasserstein_d, lambda fake: -fake.mean(), probabilities=False, gradient_penalty=True,
             usual="Adam 1e-4, betas (0, 0.9), 5 critic steps"),
        Loss("hinge", "Hinge",
             "D pushes real scores above +1 and fake below -1; G raises the fake scores.",
             lambda r, f, t: F.relu(1 - r).mean() + F.relu(1 + f).mean(),
             lambda fake: -fake.mean(), probabilities=False,
             usual="Adam 2e-4, beta1 0.5"),
    ]
}


def get(name: str) -> Loss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"loss: {name!r} is not one of {', '.join(LOSSES)}") from None


def gradient_penalty(D, real: Tensor, fake: Tensor, labels: Tensor | None,
                     generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP: E[(||grad D(x_hat)|| - 1)^2] on random points between real and fake."""
    eps = torch.rand(real.shape[0], 1, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat, labels).sum(), x_hat, create_graph=True)
    return (grad.norm(dim=1) - 1).pow(2).mean()


def r1_penalty(D, real: Tensor, labels: Tensor | None) -> Tensor:
    """R1 (Mescheder et al. 2018): 0.5 * E[||grad D(x)||^2] on real images."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real, labels).sum(), real, create_graph=True)
    return 0.5 * grad.pow(2).sum(dim=1).mean()


def digit_loss(digit_logits: Tensor, digits: Tensor) -> Tensor:
    """What D's digit head gets wrong on real images of known digits (cross-entropy)."""
    return F.cross_entropy(digit_logits, digits)


def coverage_gap(digit_logits: Tensor, digits: list[int]) -> Tensor:
    """How unevenly a fake batch spreads over the chosen digits, as D's digit head reads it: log K - H(p), where p is
    the batch's mean probability of each of the K digits (the marginal entropy of CatGAN, Springenberg 2015). 0 when
    the batch holds every digit equally, log K when it is all one digit; G adds it to its loss with `coverage`."""
    p = F.softmax(digit_logits[:, sorted(set(digits))], dim=1).mean(0)
    return math.log(len(p)) + (p * p.clamp_min(1e-12).log()).sum()
