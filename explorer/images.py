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


def grid_png(images, nrow: int | None = None, scale: int = 1, padding: int = 2) -> bytes:
    """`grid` as PNG bytes: what the pages show and download."""
    return png_bytes(grid(images, nrow=nrow, scale=scale, padding=padding))


def gif_bytes(frames: list[Image.Image], ms_per_frame: int = 120, loop: int = 0) -> bytes:
    """An animated GIF of `frames` (all the same size), looping forever by default."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_frame,
                   loop=loop, optimize=False)
    return buf.getvalue()


MAX_UPLOAD_PIXELS = 4096 * 4096  # a bigger picture is no hand-drawn digit, and could exhaust memory


class ImageError(ValueError):
    """An upload that cannot become a digit; the message says why."""


def to_digit(data: bytes) -> torch.Tensor:
    """Any picture of one digit -> (28, 28) uint8 like MNIST's: ink = 255, the digit fitted into 20×20
    and centred by its centre of mass. Dark ink on light paper is inverted first."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_UPLOAD_PIXELS:
                raise ImageError(f"the picture is {img.width}×{img.height}: too large (at most 4096×4096)")
            img.load()  # decode now, inside the try: a truncated file fails here
            gray = np.asarray(img.convert("L"), dtype=np.float32)
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:  # Pillow's "cannot identify", truncation
        raise ImageError(f"not a picture Pillow can read ({e})") from None
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:  # light paper
        gray = 255 - gray
    gray = gray - np.median(border if np.median(border) <= 127 else 255 - border)
    ink = gray > 0.2 * max(gray.max(), 1)
    if gray.max() < 40 or not ink.any():
        raise ImageError("the picture is blank: no digit found")
    rows, cols = np.nonzero(ink)
    crop = np.clip(gray[rows.min():rows.max() + 1, cols.min():cols.max() + 1], 0, None)
    crop = crop * (255 / crop.max())
    h, w = crop.shape
    size = (max(1, round(w * 20 / max(h, w))), max(1, round(h * 20 / max(h, w))))
    small = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize(size, Image.LANCZOS), dtype=np.float32)
    out = np.zeros((28, 28), np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    # MNIST centres the digit's centre of mass, not its box.
    mass = out.sum()
    ys, xs = np.indices(out.shape)
    dy, dx = round(13.5 - (ys * out).sum() / mass), round(13.5 - (xs * out).sum() / mass)
    out = np.roll(out, (int(np.clip(dy, -4, 4)), int(np.clip(dx, -4, 4))), axis=(0, 1))
    return torch.from_numpy(np.clip(out, 0, 255).round().astype(np.uint8))
