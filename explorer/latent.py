"""From latent points to images: sampling a trained generator."""

from __future__ import annotations

import torch

from .config import ConfigError, GANConfig
from .data import to_uint8
from .nets import sample_latent


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


@torch.no_grad()
def generate(G, cfg: GANConfig, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 images (n, 28, 28), ink = 255, for latent points z (n, latent_dim)."""
    G.eval()
    device = next(G.parameters()).device
    out = G(z.to(device), None if labels is None else labels.to(device))
    return to_uint8(out, cfg.output).reshape(-1, 28, 28).cpu()


def sample(G, cfg: GANConfig, n: int, seed: int = 0, digit: int | None = None) -> torch.Tensor:
    """n images from the prior with a fixed seed, so the same seed gives the same images."""
    if not 1 <= n <= 100_000:
        raise ConfigError("n", f"{n} is out of range: from 1 to 100000 samples")
    z = sample_latent(n, cfg, torch.Generator().manual_seed(seed))
    return generate(G, cfg, z, digit_labels(cfg, n, digit))
