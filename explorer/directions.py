"""Directions in a generator's latent space: the principal ones G itself varies along most (GANSpace), and
attribute directions fitted to what the images show (thicker, more slanted, more like digit d).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import GANConfig
from .latent import generate, sigma
from .metrics import probabilities
from .nets import device_of, one_hot, sample_latent


# ---- principal directions (GANSpace, Härkönen et al. 2020) ----------------------------------------
@dataclass(frozen=True)
class Directions:
    vectors: torch.Tensor  # (k, latent_dim), unit length, in z space
    variance: torch.Tensor  # (k,) share of the first hidden layer's variance each explains, decreasing


def first_hidden(G, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """G's first hidden-layer activations (n, units); with no hidden layer, its output."""
    x = torch.cat([z, one_hot(labels, G.n_classes, z.dtype)], dim=1) if G.n_classes else z
    for module in G.body:
        x = module(x)
        if not isinstance(module, (torch.nn.Linear, torch.nn.BatchNorm1d)):  # past the first activation
            return x
    return G.head(x)


@torch.no_grad()
def principal_directions(G, cfg: GANConfig, k: int = 10, n: int = 4000, seed: int = 0) -> Directions:
    """The top-k principal components of G's first hidden-layer activations over n prior samples,
    carried back to unit latent directions by least squares (z ≈ coordinates @ directions)."""
    G.eval()
    device = device_of(G)
    g = torch.Generator().manual_seed(seed)
    z = sample_latent(n, cfg, g)
    labels = None
    if cfg.conditional:
        digits = torch.tensor(cfg.digits)
        labels = digits[torch.randint(len(digits), (n,), generator=g)].to(device)
    h = first_hidden(G, z.to(device), labels).double().cpu()
    h = h - h.mean(0)
    k = max(1, min(k, cfg.latent_dim, h.shape[1]))
    # Principal axes from the covariance: at most 4096 units, so an exact eigh is affordable and deterministic.
    values, axes = torch.linalg.eigh(h.T @ h / (n - 1))
    order = values.argsort(descending=True)[:k]
    coords = h @ axes[:, order]  # (n, k) PCA coordinates
    coords = coords / coords.std(0).clamp_min(1e-12)  # unit variance, so the fit is well conditioned
    fit = torch.linalg.lstsq(coords, z.double()).solution  # (k, latent_dim)
    vectors = F.normalize(fit, dim=1).float()
    return Directions(vectors, (values[order] / values.clamp_min(0).sum()).float())


# ---- attribute directions -----------------------------------------------------------------------
@dataclass(frozen=True)
class Attribute:
    key: str  # "thickness", "slant", "digit_3"
    label: str  # what its slider says
    vector: torch.Tensor  # (latent_dim,) unit direction in z
    effect: str  # what one σ along it changes, in words


def ink(images: torch.Tensor) -> torch.Tensor:
    """Mean ink per image (n,), 0..1: a proxy for stroke thickness."""
    return images.reshape(len(images), -1).float().mean(1) / 255


def slant(images: torch.Tensor) -> torch.Tensor:
    """Slant per image (n,) from its second moments: horizontal shift per row, positive when the top
    leans right (rows grow downwards, so a right lean has x falling as y grows)."""
    w = images.reshape(-1, 28, 28).double()
    mass = w.sum((1, 2)).clamp_min(1e-9)
    ys, xs = torch.meshgrid(torch.arange(28.0, dtype=w.dtype), torch.arange(28.0, dtype=w.dtype), indexing="ij")
    my, mx = (w * ys).sum((1, 2)) / mass, (w * xs).sum((1, 2)) / mass
    dy, dx = ys - my[:, None, None], xs - mx[:, None, None]
    mu11, mu02 = (w * dx * dy).sum((1, 2)) / mass, (w * dy * dy).sum((1, 2)) / mass
    return (-mu11 / mu02.clamp_min(1e-9)).float()


def _fit_direction(z: torch.Tensor, values: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Least-squares fit values ≈ z·w + c[group]; returns w's unit direction and the change per unit step.

    One intercept per group (the digit each sample is read as) keeps the fit to changes within a digit:
    without it, "thicker" in a 0-and-1 model would just mean "more like a 0"."""
    onehot = F.one_hot(groups, 10).double()
    x = torch.cat([z.double(), onehot[:, onehot.sum(0) > 0]], dim=1)
    w = torch.linalg.lstsq(x, values.double().reshape(-1, 1)).solution[: z.shape[1], 0]
    norm = w.norm().item()
    return (w / max(norm, 1e-12)).float(), norm


@torch.no_grad()
def attribute_directions(G, cfg: GANConfig, reader, n: int = 3000, seed: int = 0,
                         min_share: float = 0.02) -> list[Attribute]:
    """Directions in z that make the digit thicker, more slanted, or more like digit d.

    n prior samples are labelled by image statistics (ink mass, slant from moments) and by the digit
    reader's digit. Thickness and slant come from a linear fit in z; "more like d" from the
    difference of the mean z of samples read as d and of the rest (unconditional models with several
    digits only: a conditional model takes the digit as its label)."""
    g = torch.Generator().manual_seed(seed)
    z = sample_latent(n, cfg, g)
    labels = None
    if cfg.conditional:
        digits = torch.tensor(cfg.digits)
        labels = digits[torch.randint(len(digits), (n,), generator=g)]
    images = generate(G, cfg, z, labels)
    read = probabilities(images, reader).argmax(1) if labels is None else labels
    s = sigma(cfg)
    out = []
    for key, label, values, unit in (("thickness", "Thicker", ink(images), "mean ink"),
                                     ("slant", "More slanted (leans right)", slant(images), "px of lean per row")):
        vector, per_unit = _fit_direction(z, values, read)
        out.append(Attribute(key, label, vector, f"{per_unit * s:+.3f} {unit} per σ"))
    if cfg.conditional or len(cfg.digits) < 2:
        return out
    for d in cfg.digits:
        mask = read == d
        if not min_share * n <= int(mask.sum()) <= (1 - min_share) * n:
            continue
        diff = z[mask].mean(0) - z[~mask].mean(0)
        out.append(Attribute(f"digit_{d}", f"More like a {d}", F.normalize(diff, dim=0),
                             f"{mask.float().mean().item():.0%} of samples read as {d}"))
    return out
