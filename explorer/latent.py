"""The latent space of a trained generator: sampling, paths, grids, directions and inversion.

A latent point z is a vector of `cfg.latent_dim` numbers drawn from the prior (N(0, I) or uniform on
[-1, 1]). Conditional generators also take a digit label. Everything here works on plain tensors on
the CPU or the generator's device; the pages only lay the results out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import losses
from .config import ConfigError, GANConfig
from .data import Digits, scale, to_uint8
from .nets import one_hot, sample_latent


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


def _device(net: torch.nn.Module) -> torch.device:
    return next(net.parameters()).device


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
    device = _device(G)
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
    device = _device(D)
    out = D(x.to(device), _labels_for(labels, len(x), device)).cpu()
    return torch.sigmoid(out) if losses.get(cfg.loss).probabilities else out


@dataclass(frozen=True)
class Look:
    """Latent points seen three ways: the images, D's verdicts and the metrics classifier's readings."""
    images: torch.Tensor  # (n, 28, 28) uint8
    probabilities: torch.Tensor  # (n, 10), the classifier's
    d_scores: torch.Tensor | None  # (n,); None when the run kept no discriminator

    @property
    def digits(self) -> torch.Tensor:
        return self.probabilities.argmax(1)


def look(G, cfg: GANConfig, z: torch.Tensor, labels=None, D=None, classifier=None) -> Look:
    """G's images for points z ((n, d) or one (d,)), read by D (when given) and by the classifier."""
    from .metrics import probabilities

    x = forward(G, z, labels)
    images = to_uint8(x, cfg.output).reshape(-1, 28, 28).cpu()
    scores = None if D is None else d_score(D, cfg, x, labels)
    return Look(images, probabilities(images, classifier), scores)


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


def neighbourhood(z: torch.Tensor, u: torch.Tensor, v: torch.Tensor, step: float) -> torch.Tensor:
    """A 3×3 grid of small steps around z along directions u (across) and v (down); z is the centre."""
    offsets = torch.tensor([-1.0, 0.0, 1.0]) * step
    return torch.stack([z + dv * v + du * u for dv in offsets for du in offsets])


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
    device = _device(G)
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
def attribute_directions(G, cfg: GANConfig, classifier, n: int = 3000, seed: int = 0,
                         min_share: float = 0.02) -> list[Attribute]:
    """Directions in z that make the digit thicker, more slanted, or more like digit d.

    n prior samples are labelled by image statistics (ink mass, slant from moments) and by the metrics
    classifier's digit. Thickness and slant come from a linear fit in z; "more like d" from the
    difference of the mean z of samples read as d and of the rest (unconditional models with several
    digits only: a conditional model takes the digit as its label)."""
    from .metrics import probabilities

    g = torch.Generator().manual_seed(seed)
    z = sample_latent(n, cfg, g)
    labels = None
    if cfg.conditional:
        digits = torch.tensor(cfg.digits)
        labels = digits[torch.randint(len(digits), (n,), generator=g)]
    images = generate(G, cfg, z, labels)
    read = probabilities(images, classifier).argmax(1) if labels is None else labels
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


# ---- checks ---------------------------------------------------------------------------------------
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
    device = _device(G)
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
