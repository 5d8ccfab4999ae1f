"""The MLP generator and discriminator, built from a GANConfig.

Both work on flat images (B, 784). The discriminator returns raw logits (B,); a "sigmoid-output"
discriminator is this one with the sigmoid folded into the loss, which is the stable form.
In conditional mode a one-hot digit is appended to z (G) and to the image (D).
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import ConfigError, GANConfig

IMAGE_SIZE = 28 * 28


def activation(name: str, slope: float) -> nn.Module:
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}.get(name, lambda: nn.LeakyReLU(slope))()


def mlp(sizes: list[int], act: str, slope: float, batchnorm: bool, bn_momentum: float,
        dropout: float) -> nn.Sequential:
    """Hidden blocks Linear -> [BatchNorm] -> activation -> [Dropout] for each size after the first."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers.append(nn.Linear(n_in, n_out))
        if batchnorm:
            layers.append(nn.BatchNorm1d(n_out, momentum=bn_momentum))
        layers.append(activation(act, slope))
        if dropout > 0:
            layers.append(SeededDropout(dropout))
    return nn.Sequential(*layers)


class SeededDropout(nn.Module):
    """Dropout that draws its masks from `generator` (a trainer's own), not torch's process-wide one, so two
    runs with one seed train alike even while other runs share the process (a class on one server)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None  # None: the global generator, as nn.Dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep.div_(1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def draw_from(net: nn.Module, generator: torch.Generator) -> None:
    """Let every dropout layer of `net` draw from `generator`."""
    for m in net.modules():
        if isinstance(m, SeededDropout):
            m.generator = generator


def init_weights(module: nn.Module, scheme: str) -> None:
    """'xavier' (Glorot normal) or 'he' (normal, std sqrt(2 / fan_in)); 'default' keeps PyTorch's."""
    if scheme == "default":
        return
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if scheme == "xavier":
                nn.init.xavier_normal_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def one_hot(labels: torch.Tensor, n_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """Digit labels (B,) as one-hot rows; rows of weights (B, n_classes) pass as they are, so the latent
    pages can blend two digits' labels and morph one digit into another."""
    return labels.to(dtype) if labels.is_floating_point() else F.one_hot(labels, n_classes).to(dtype)


class Generator(nn.Module):
    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.latent_dim, self.n_classes, self.output = cfg.latent_dim, cfg.n_classes, cfg.output
        sizes = [cfg.latent_dim + cfg.n_classes, *cfg.g_layers]
        self.body = mlp(sizes, cfg.g_activation, cfg.leaky_slope, cfg.g_batchnorm, cfg.bn_momentum,
                        cfg.g_dropout)
        self.head = nn.Linear(sizes[-1], IMAGE_SIZE)
        init_weights(self, cfg.init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, latent_dim) [+ labels (B,) or label weights (B, 10)] -> images (B, 784) in the output range."""
        if self.n_classes:
            z = torch.cat([z, one_hot(labels, self.n_classes, z.dtype)], dim=1)
        x = self.head(self.body(z))
        return torch.tanh(x) if self.output == "tanh" else torch.sigmoid(x)


class Discriminator(nn.Module):
    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.n_classes = cfg.n_classes
        sizes = [IMAGE_SIZE + cfg.n_classes, *cfg.d_layers]
        self.body = mlp(sizes, cfg.d_activation, cfg.leaky_slope, cfg.d_batchnorm, cfg.bn_momentum,
                        cfg.d_dropout)
        self.head = nn.Linear(sizes[-1], 1)
        # With digit coverage, D also reads which digit a picture is (made after the other layers, so that a config
        # without it draws the very weights it drew before).
        self.digit_head = nn.Linear(sizes[-1], 10) if cfg.coverage > 0 else None
        init_weights(self, cfg.init)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, 784) [+ labels (B,)] -> logits (B,)."""
        if self.n_classes:
            x = torch.cat([x, one_hot(labels, self.n_classes, x.dtype)], dim=1)
        return self.head(self.body(x)).squeeze(1)

    def digit_logits(self, x: torch.Tensor) -> torch.Tensor:
        """images (B, 784) -> the digit head's logits (B, 10) (a config with coverage > 0 only; never
        conditional)."""
        return self.digit_head(self.body(x))


def build(cfg: GANConfig) -> tuple[Generator, Discriminator]:
    """Fresh G and D, seeded from the config so the same seed gives the same networks."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return Generator(cfg), Discriminator(cfg)


@contextmanager
def frozen(net: torch.nn.Module):
    """No weight gradients for `net` inside the block (G's step backpropagates through D to its input only),
    and they are switched back on whatever happens."""
    net.requires_grad_(False)
    try:
        yield net
    finally:
        net.requires_grad_(True)


@contextmanager
def evaluating(net: torch.nn.Module):
    """`net` in evaluation mode (no dropout, batch norm's running statistics) inside the block, its mode restored."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


def resolve_device(name: str) -> torch.device:
    """The config's device: "auto" is CUDA when there is a GPU, else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda was asked for but no CUDA GPU is available; use auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def device_of(net: nn.Module) -> torch.device:
    """The device a network's weights are on."""
    return next(net.parameters()).device


class TensorSpec(NamedTuple):
    shape: tuple[int, ...]
    dtype: torch.dtype


def expected_tensors(cfg: GANConfig) -> dict[str, TensorSpec]:
    """The state-dict entries a checkpoint of `cfg` holds, as "G.<name>" and "D.<name>" -> shape and dtype,
    found without allocating: the networks are built on the meta device, which records shapes only."""
    # Initialisation changes values, never names or shapes; skipping it also skips a slow path of
    # nn.init under the meta device.
    plain = dataclasses.replace(cfg, init="default")
    with torch.device("meta"):
        nets = {"G": Generator(plain), "D": Discriminator(plain)}
    return {f"{prefix}.{name}": TensorSpec(tuple(t.shape), t.dtype)
            for prefix, net in nets.items() for name, t in net.state_dict().items()}


def sample_latent(n: int, cfg: GANConfig, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """n latent vectors from the config's prior: N(0, I) or uniform[-1, 1]."""
    if cfg.prior == "uniform":
        return torch.rand(n, cfg.latent_dim, generator=generator, device=device) * 2 - 1
    return torch.randn(n, cfg.latent_dim, generator=generator, device=device)
