"""The latent space of a trained generator: points, sampling, paths, grids and walks.

A latent point z is a vector of `cfg.latent_dim` numbers drawn from the prior (N(0, I) or uniform on
[-1, 1]). Conditional generators also take a digit label. Everything here works on plain tensors on
the CPU or the generator's device; the pages only lay the results out. Directions in the latent space
live in explorer.directions; matching images to real ones (the memorization check, inversion) in
explorer.inversion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import losses
from .config import ConfigError, GANConfig
from .data import scale, to_uint8
from .metrics import probabilities
from .nets import device_of, sample_latent


# ---- points and images ----------------------------------------------------------------------
def extent(cfg: GANConfig) -> float:
    """How far a slider reaches: ±3 standard deviations of the normal prior, the whole uniform one."""
    return 1.0 if cfg.prior == "uniform" else 3.0


def sigma(cfg: GANConfig) -> float:
    """The prior's standard deviation along any unit direction."""
    return 1 / math.sqrt(3) if cfg.prior == "uniform" else 1.0


def digit_labels(cfg: GANConfig, n: int, digit: int | None, device="cpu") -> torch.Tensor | None:
    """Labels for a conditional generator: `digit` n times, or its digits in turn. None if unconditional."""
    if not cfg.conditional:
        if digit is not None:
            raise ConfigError("digit", "this generator is not conditional, so a digit cannot be asked for; "
                                       f"it draws digits {cfg.digits}")
        return None
    if digit is not None and digit not in cfg.digits:
        raise ConfigError("digit", f"{digit} is not one of the digits this model learned: {cfg.digits}")
    digits = torch.tensor([digit] if digit is not None else cfg.digits, device=device)
    return digits[torch.arange(n, device=device) % len(digits)]


def _labels_for(labels, n: int, device) -> torch.Tensor | None:
    """One label for all, one per point (n,), or label weights per point (n, 10), on `device`."""
    if labels is None:
        return None
    labels = torch.as_tensor(labels, device=device)
    if labels.ndim == 2:
        return labels.float()
    labels = labels.reshape(-1)
    return labels.expand(n) if len(labels) == 1 else labels


def blend(digit_a: int, digit_b: int, t: torch.Tensor) -> torch.Tensor:
    """Label weights (n, 10) sliding from digit_a to digit_b at fractions t: a conditional G morphs the digit."""
    eye = torch.eye(10)
    return lerp(eye[digit_a], eye[digit_b], t)


@torch.no_grad()
def forward(G, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """G's raw output (n, 784) in its output range for latent points z (n, latent_dim), in eval mode."""
    G.eval()
    device = device_of(G)
    z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, G.latent_dim).to(device)
    return G(z, _labels_for(labels, len(z), device))


def generate(G, cfg: GANConfig, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 images (n, 28, 28), ink = 255, for latent points z (n, latent_dim)."""
    return to_uint8(forward(G, z, labels), cfg.output).reshape(-1, 28, 28).cpu()


def sample(G, cfg: GANConfig, n: int, seed: int = 0, digit: int | None = None) -> torch.Tensor:
    """n images from the prior with a fixed seed, so the same seed gives the same images."""
    if not 1 <= n <= 100_000:
        raise ConfigError("n", f"{n} is out of range: from 1 to 100000 samples")
    z = sample_latent(n, cfg, torch.Generator().manual_seed(seed))
    return generate(G, cfg, z, digit_labels(cfg, n, digit))


def point(cfg: GANConfig, seed: int) -> torch.Tensor:
    """One latent point (latent_dim,) from the prior, the same for the same seed."""
    return sample_latent(1, cfg, torch.Generator().manual_seed(seed))[0]


def truncated(cfg: GANConfig, n: int, psi: float, seed: int = 0) -> torch.Tensor:
    """n points from the prior shrunk by ψ (z ~ N(0, ψ²I)): ψ < 1 trades variety for cleaner digits."""
    if not 0 <= psi <= 2:
        raise ConfigError("psi", f"{psi} is out of range: from 0 to 2")
    return psi * sample_latent(n, cfg, torch.Generator().manual_seed(seed))


@torch.no_grad()
def d_score(D, cfg: GANConfig, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """D's verdict (n,) on G's raw outputs x: P(real) for the BCE losses, the raw critic score otherwise."""
    D.eval()
    device = device_of(D)
    out = D(x.to(device), _labels_for(labels, len(x), device)).cpu()
    return torch.sigmoid(out) if losses.get(cfg.ended().loss).probabilities else out  # the loss D ended on


@dataclass(frozen=True)
class Look:
    """Latent points seen three ways: the images, D's verdicts and the digit reader's readings."""
    images: torch.Tensor  # (n, 28, 28) uint8
    probabilities: torch.Tensor  # (n, 10), the digit reader's (a row's rest: no digit)
    d_scores: torch.Tensor | None  # (n,); None when the run kept no discriminator

    @property
    def digits(self) -> torch.Tensor:
        return self.probabilities.argmax(1)


def look(G, cfg: GANConfig, z: torch.Tensor, labels=None, D=None, reader=None) -> Look:
    """G's images for points z ((n, d) or one (d,)), read by D (when given) and by the digit reader."""
    x = forward(G, z, labels)
    images = to_uint8(x, cfg.output).reshape(-1, 28, 28).cpu()
    scores = None if D is None else d_score(D, cfg, x, labels)
    return Look(images, probabilities(images, reader), scores)


def look_at(cfg: GANConfig, pictures: torch.Tensor, labels=None, D=None, reader=None) -> Look:
    """Pictures that G did not draw ((n, 28, 28) uint8, ink = 255: a drawing, an upload) seen as G's are: D's
    verdicts (when D is given; in G's output range, as D sees fakes) and the digit reader's readings."""
    pictures = torch.as_tensor(pictures).reshape(-1, 28, 28)
    scores = None if D is None else d_score(D, cfg, scale(pictures, cfg.output).reshape(-1, 784), labels)
    return Look(pictures, probabilities(pictures, reader), scores)


# ---- paths and grids ---------------------------------------------------------------------------
def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points on the straight line from a to b at fractions t (n,) -> (n, d)."""
    t = torch.as_tensor(t, dtype=a.dtype).reshape(-1, 1)
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points on the great-circle arc from a to b (White 2016): keeps |z| where a straight line would
    cut through the low-density middle of a Gaussian prior. Nearly parallel points fall back to lerp."""
    t = torch.as_tensor(t, dtype=a.dtype).reshape(-1, 1)
    cos = F.cosine_similarity(a, b, dim=0).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4 or (math.pi - omega).abs() < 1e-4:
        return lerp(a, b, t)
    s = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / s) * a + (torch.sin(t * omega) / s) * b


MODES: dict[str, Callable] = {"lerp": lerp, "slerp": slerp}


def interpolate(a: torch.Tensor, b: torch.Tensor, n: int, mode: str = "slerp") -> torch.Tensor:
    """n points from a to b, both ends included -> (n, d)."""
    if n < 2:
        raise ConfigError("frames", f"{n} is too few: a strip needs at least 2 frames")
    return MODES[mode](a, b, torch.linspace(0, 1, n))


def path(points: torch.Tensor, per_leg: int, mode: str = "slerp", loop: bool = False) -> torch.Tensor:
    """A path through points (k, d), `per_leg` frames from each to the next, each joint once -> (m, d)."""
    if len(points) < 2:
        raise ConfigError("points", "a path needs at least 2 points")
    stops = torch.cat([points, points[:1]]) if loop else points
    legs = [interpolate(a, b, per_leg + 1, mode)[:-1] for a, b in zip(stops, stops[1:])]
    return torch.cat(legs if loop else [*legs, stops[-1:]])


def bilinear_grid(corners: torch.Tensor, n: int) -> torch.Tensor:
    """An n×n grid between four corners (top-left, top-right, bottom-left, bottom-right), row by row."""
    tl, tr, bl, br = corners
    t = torch.linspace(0, 1, n)
    top, bottom = lerp(tl, tr, t), lerp(bl, br, t)  # (n, d): the first and the last row
    return (top + (bottom - top) * t.reshape(n, 1, 1)).reshape(n * n, -1)  # row i is t[i] of the way down


def latent_map(cfg: GANConfig, n: int = 20) -> torch.Tensor:
    """For a 2-d latent: the n×n grid over [-e, e]² (e = `extent`), rows from z2 = +e down to -e."""
    if cfg.latent_dim != 2:
        raise ConfigError("latent_dim", f"a latent map needs a 2-d latent space, this one has {cfg.latent_dim}")
    e = extent(cfg)
    z2, z1 = torch.meshgrid(torch.linspace(e, -e, n), torch.linspace(-e, e, n), indexing="ij")
    return torch.stack([z1, z2], dim=-1).reshape(n * n, 2)


def plane_offsets(n: int) -> torch.Tensor:
    """The steps (n,) from the centre of an n-wide `plane`: -(n // 2) .. n // 2."""
    if n < 1 or n % 2 == 0:
        raise ConfigError("n", f"{n}: a plane around a point needs an odd number of steps a side, the point in the "
                               "middle")
    return torch.arange(n, dtype=torch.float32) - n // 2


def plane(z: torch.Tensor, u: torch.Tensor, v: torch.Tensor, n: int, step: float) -> torch.Tensor:
    """An n×n grid (n odd) of points `step` apart around z in the plane of directions u (across) and v (down),
    row by row; z is the middle one. Row r, column c is z + (c - n//2) step u + (r - n//2) step v."""
    offsets = plane_offsets(n) * step
    return torch.stack([z + dv * v + du * u for dv in offsets for du in offsets])


def neighbourhood(z: torch.Tensor, u: torch.Tensor, v: torch.Tensor, step: float) -> torch.Tensor:
    """A 3×3 grid of small steps around z along directions u (across) and v (down); z is the centre."""
    return plane(z, u, v, 3, step)


def random_walk(cfg: GANConfig, start: torch.Tensor, n: int, step: float = 0.15, seed: int = 0) -> torch.Tensor:
    """n points of a random walk from `start` that stays where the prior puts its mass.

    Normal prior: z <- cos(step) z + sin(step) ε with fresh ε ~ N(0, I) keeps every frame N(0, I)
    distributed, so the walk never drifts into regions G never saw. Uniform prior: steps reflect at ±1."""
    g = torch.Generator().manual_seed(seed)
    z, out = start.clone(), [start.clone()]
    for _ in range(n - 1):
        noise = torch.randn(start.shape, generator=g)
        if cfg.prior == "uniform":
            z = z + step * noise
            z = torch.where(z > 1, 2 - z, torch.where(z < -1, -2 - z, z)).clamp(-1, 1)  # reflect at the edges
        else:
            z = math.cos(step) * z + math.sin(step) * noise
        out.append(z)
    return torch.stack(out)


def tour(cfg: GANConfig, k: int, per_leg: int, seed: int = 0) -> torch.Tensor:
    """A loop through k random points of the prior: the last frame leads back to the first."""
    points = sample_latent(k, cfg, torch.Generator().manual_seed(seed))
    return path(points, per_leg, "slerp" if cfg.prior == "normal" else "lerp", loop=True)
