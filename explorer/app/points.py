"""A latent point as URL query parameters and back, without Streamlit: `?model=three&z=0.12,-1.4,...&digit=3`.

Reading never raises: a bad value gives a plain message, and nothing is allocated for text too long to be
a point of the largest latent space.
"""

from __future__ import annotations

import torch

from ..config import MAX_LATENT, GANConfig
from .runs import Run

OWN = "own"  # a link's model when the point came from a model trained or uploaded in someone's session
MAX_Z_TEXT = MAX_LATENT * 24  # "-12345.678901234567890," is 23 characters: longer text is no point


def point_params(run: Run, z: torch.Tensor, digit: int | None) -> dict[str, str]:
    """The query parameters that open this point (and this demo model) on the Latent space page."""
    params = {"z": ",".join(f"{v:.3f}" for v in z.tolist())}
    if digit is not None:
        params["digit"] = str(digit)
    params["model"] = run.meta["demo"] if run.source == "demo" else OWN  # a link cannot carry one's own model
    return params


def parse_z(text: str, dims: int) -> tuple[torch.Tensor | None, str | None]:
    """(z, None) for text of `dims` finite numbers separated by commas; else (None, what is wrong)."""
    if len(text) > MAX_Z_TEXT:
        return None, f"z: the point is {len(text):,} characters long, too long for any latent space here."
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return None, "z: the point must be numbers separated by commas."
    if len(values) != dims:
        return None, f"z: the point has {len(values)} numbers, but this generator's latent space has {dims}."
    z = torch.tensor(values)
    if not torch.isfinite(z).all():
        return None, "z: the point holds a value that is not a finite number."
    return z, None


def parse_digit(text: str | None, cfg: GANConfig) -> tuple[int | None, str | None]:
    """(digit, None) for one of a conditional generator's digits; (None, None) when there is none to read."""
    if text is None or not cfg.conditional:
        return None, None
    if text.strip() in {str(d) for d in cfg.digits}:
        return int(text), None
    return None, f"digit: {text[:20]!r} is not one of this generator's digits {cfg.digits}."
