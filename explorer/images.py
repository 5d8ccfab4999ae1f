"""Digit images as pictures: grids, PNG bytes and animated GIFs (torchvision + Pillow)."""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid


def as_uint8(images) -> torch.Tensor:
    """(N, 784) or (N, 28, 28) uint8 / float in [0, 1] -> (N, 28, 28) uint8, ink = 255."""
    t = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).detach().cpu()
    if t.dtype != torch.uint8:
        t = (t.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return t.reshape(-1, 28, 28)


def grid(images, nrow: int | None = None, scale: int = 1, padding: int = 2) -> Image.Image:
    """A grayscale picture of the digits in rows of `nrow` (square by default), upscaled `scale` times."""
    t = as_uint8(images).unsqueeze(1)  # (N, 1, 28, 28)
    nrow = nrow or max(1, math.ceil(math.sqrt(len(t))))
    g = make_grid(t, nrow=nrow, padding=padding, pad_value=64)[0]  # (H, W) uint8
    img = Image.fromarray(g.numpy(), mode="L")
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: list[Image.Image], ms_per_frame: int = 120, loop: int = 0) -> bytes:
    """An animated GIF of `frames` (all the same size), looping forever by default."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_frame,
                   loop=loop, optimize=False)
    return buf.getvalue()
