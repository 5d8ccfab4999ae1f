"""Digit images as pictures: grids, PNG bytes and animated GIFs (torchvision + Pillow), and back: an uploaded
picture, or the drawing pad's, read as an MNIST-like digit."""

from __future__ import annotations

import base64
import binascii
import functools
import io
import math
import struct
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError


def tile(pictures: torch.Tensor, nrow: int, padding: int, pad_value: int) -> torch.Tensor:
    """(N, C, H, W) -> (C, rows·(H+padding)+padding, cols·(W+padding)+padding): the pictures in rows of `nrow`, as
    torchvision.utils.make_grid lays them out. Written here because importing torchvision.utils imports all of
    torchvision (its models, and torch._dynamo with them): 1.2 s of every server start, for these few lines."""
    n, c, h, w = pictures.shape
    if n == 1:  # one picture alone, unframed, as make_grid gives it
        return pictures[0]
    cols = min(nrow, n)
    rows = math.ceil(n / cols) if n else 0
    out = torch.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value,
                     dtype=pictures.dtype)
    for i, picture in enumerate(pictures):
        y, x = divmod(i, cols)
        top, left = padding + y * (h + padding), padding + x * (w + padding)
        out[:, top:top + h, left:left + w] = picture
    return out


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
    g = tile(t, nrow, padding, 64)[0]  # (H, W) uint8
    img = Image.fromarray(g.numpy(), mode="L")
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def rgb_grid_png(pictures: np.ndarray, nrow: int | None = None, scale: int = 1, padding: int = 2) -> bytes:
    """PNG of colour pictures (N, 28, 28, 3) uint8 in rows of `nrow`, upscaled `scale` times (the gradient maps)."""
    t = torch.as_tensor(np.asarray(pictures)).permute(0, 3, 1, 2)  # (N, 3, 28, 28)
    nrow = nrow or max(1, math.ceil(math.sqrt(len(t))))
    g = tile(t, nrow, padding, 64).permute(1, 2, 0).contiguous().numpy()
    img = Image.fromarray(g, mode="RGB")
    return png_bytes(img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img)


CAPTION_INK = 5  # a caption's digits stand this many pixels tall per `scale` unless told otherwise
DIGITS = "0123456789"


def captioned_grid_png(pictures: np.ndarray, captions: list[str], nrow: int, scale: int = 2,
                       text_px: int | None = None, shown_px: int | None = None) -> bytes:
    """PNG of colour pictures (N, 28, 28, 3) uint8 in rows of `nrow`, each with a short caption under it (D's
    verdict on each sample), upscaled `scale` times. `text_px`: how tall the captions' digits should stand on
    screen, the picture shown `shown_px` wide (by default at its own width): a browser scales the picture, text
    and all, to the column it is in. A caption too wide for its cell is set smaller, so neighbours never touch."""
    if len(captions) != len(pictures):
        raise ValueError(f"{len(pictures)} pictures but {len(captions)} captions")
    side, pad = 28 * scale, 2 * scale
    width = nrow * (side + pad) + pad
    ink = math.ceil((text_px or CAPTION_INK * scale) * (width / shown_px if shown_px else 1))
    margin = max(2, ink // 4)
    text_h = ink + 2 * margin
    room = side - 2  # on its own white band, just inside it
    rows = math.ceil(len(pictures) / nrow)
    sheet = Image.new("RGB", (width, rows * (side + text_h + pad) + pad), (64, 64, 64))
    draw = ImageDraw.Draw(sheet)
    for i, (picture, caption) in enumerate(zip(np.asarray(pictures), captions)):
        x = pad + (i % nrow) * (side + pad)
        y = pad + (i // nrow) * (side + text_h + pad)
        sheet.paste(Image.fromarray(picture, mode="RGB").resize((side, side), Image.NEAREST), (x, y))
        draw.rectangle((x, y + side, x + side - 1, y + side + text_h - 1), fill=(255, 255, 255))
        font = caption_font(ink)
        if font.getlength(caption) > room:
            font = caption_font(max(1, int(ink * room / font.getlength(caption))))
        # the digits centred in the band ("mm" would centre the font's ascent and descent, set lower)
        top, bottom = font.getbbox(DIGITS, anchor="ls")[1::2]
        draw.text((x + side / 2, y + side + text_h / 2 - (top + bottom) / 2), caption, fill=(0, 0, 0), font=font,
                  anchor="ms")
    return png_bytes(sheet)


@functools.lru_cache(maxsize=32)
def caption_font(digit_px: int) -> ImageFont.FreeTypeFont:
    """Pillow's own font (no system font needed) at the smallest size whose digits stand `digit_px` tall, counting
    only rows well inked (a row of faint anti-aliased edge does not read as taller text)."""
    size = max(1, int(digit_px / 0.75))  # digits are about 0.7 of a font's size
    while True:
        font = ImageFont.load_default(size=size)
        mask = font.getmask(DIGITS)
        inked = (np.asarray(mask).reshape(mask.size[1], mask.size[0]) >= 160).any(axis=1)
        if inked.sum() >= digit_px:
            return font
        size += 1


def png_bytes(img: Image.Image, compress_level: int = 6) -> bytes:
    """PNG bytes; `compress_level` is zlib's (PIL's default 6; 1 is about three times faster and a little bigger)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def grid_png(images, nrow: int | None = None, scale: int = 1, padding: int = 2, compress_level: int = 6) -> bytes:
    """`grid` as PNG bytes: what the pages show and download."""
    return png_bytes(grid(images, nrow=nrow, scale=scale, padding=padding), compress_level)


def gif_bytes(frames: list[Image.Image], ms_per_frame: int = 120, loop: int = 0) -> bytes:
    """An animated GIF of `frames` (all the same size), looping forever by default."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_frame,
                   loop=loop, optimize=False)
    return buf.getvalue()


# Uploads: one picture of a digit. Only these Pillow plugins are ever tried, so a file of another kind (an EPS
# renamed .png, which Pillow would hand to Ghostscript) is refused before any other decoder sees it.
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
MAX_UPLOAD_PIXELS = 4096 * 4096  # a bigger picture is no hand-drawn digit, and could exhaust memory
WORK_SIDE = 1024  # pixels a side to find the digit in; a larger picture is box-filtered down first
MAX_UPLOAD_BYTES = 50 * 2**20  # well above a phone photo's size; a larger file is no drawing of a digit
DATA_URL_PREFIX = "data:image/png;base64,"  # how a browser canvas hands over its picture (toDataURL)
# What Pillow's plugins raise on damaged files besides OSError: a bad PNG header is a ValueError ("Truncated
# IHDR chunk"), a bad GIF an EOFError or IndexError, bad EXIF a struct.error or KeyError, and so on.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, KeyError, IndexError, EOFError, struct.error,
                 ZeroDivisionError, OverflowError, MemoryError)


class ImageError(ValueError):
    """An upload that cannot become a digit; the message says why."""


class BlankPicture(ImageError):
    """A picture with no ink on it: an empty drawing pad says "draw a digit", not "error"."""


@dataclass(frozen=True)
class DigitUpload:
    image: torch.Tensor  # (28, 28) uint8 like MNIST's, ink = 255
    note: str = ""  # what the page should tell about the reading ("" when there is nothing to say)


def to_digit(data: bytes) -> torch.Tensor:
    """`read_digit(data).image`: the digit alone."""
    return read_digit(data).image


def read_digit(data: bytes) -> DigitUpload:
    """Any picture of one digit (PNG, JPEG, GIF, BMP or WEBP) -> an MNIST-like digit: ink = 255, fitted into
    20×20 and centred by its centre of mass. The picture is turned upright by its EXIF orientation and laid
    on white paper where it is transparent; dark ink on light paper is inverted. An animated picture gives
    its first frame, and the note says so. Raises ImageError, and only ImageError, for anything else."""
    gray, note = _upright_gray(data)
    return DigitUpload(_mnist_like(gray), note)


def read_data_url(url: object) -> DigitUpload:
    """`read_digit` for a picture sent as a PNG data URL ("data:image/png;base64,..."), as the drawing pad sends
    its canvas. The URL comes from the browser: anything but a string of that form, or one longer than the
    largest upload's encoding, raises ImageError before a byte is decoded."""
    if not isinstance(url, str):
        raise ImageError(f"expected a picture as a data URL, got {type(url).__name__}")
    if len(url) > len(DATA_URL_PREFIX) + 4 * (MAX_UPLOAD_BYTES // 3 + 1):
        raise ImageError(f"the picture is larger than {MAX_UPLOAD_BYTES // 2**20} MB: too large for a digit")
    if not url.startswith(DATA_URL_PREFIX):
        raise ImageError(f"not a PNG data URL (it starts {_cut(url[:40], 40)!r})")
    try:
        data = base64.b64decode(url[len(DATA_URL_PREFIX):], validate=True)
    except binascii.Error:
        raise ImageError("the picture's data is not base64") from None
    return read_digit(data)


def _upright_gray(data: bytes) -> tuple[np.ndarray, str]:
    """The picture's first frame as grayscale float32 on white, upright, with a note on animation."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"expected the picture's bytes, got {type(data).__name__}")
    if memoryview(data).nbytes > MAX_UPLOAD_BYTES:
        raise ImageError(f"the file is larger than {MAX_UPLOAD_BYTES // 2**20} MB: too large for a picture of a digit")
    kinds = ", ".join(UPLOAD_FORMATS[:-1]) + " or " + UPLOAD_FORMATS[-1]
    try:
        with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as img:
            width, height = img.size  # from the file's header: nothing is decoded yet
            if width < 1 or height < 1:
                raise ImageError(f"the picture is {width}×{height} pixels: it has no pixels to read")
            if width * height > MAX_UPLOAD_PIXELS:
                raise ImageError(f"the picture is {width}×{height}: too large (at most 4096×4096)")
            # is_animated looks for a second frame only; counting them all could scan a huge GIF. (A phone's
            # multi-picture JPEG, MPO, has more frames too, but its first is the photo: nothing to say.)
            animated = img.format in ("GIF", "PNG", "WEBP") and getattr(img, "is_animated", False)
            note = f"This {img.format} is animated: only its first frame was used." if animated else ""
            img.load()  # decode now, inside the try: a truncated file fails here
            ImageOps.exif_transpose(img, in_place=True)  # a phone photo stored sideways stands up
            return _on_white(img), note
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own size check, above ours
        raise ImageError("the picture is too large (at most 4096×4096 pixels)") from None
    except UnidentifiedImageError:
        raise ImageError(f"not a picture GAN Explorer can read: please upload a {kinds} file") from None
    except DECODE_ERRORS as e:
        raise ImageError(f"not a picture Pillow can read: the file looks damaged ({_cut(str(e), 120)})") from None


def _on_white(img: Image.Image) -> np.ndarray:
    """Grayscale float32 in 0..255, at most WORK_SIDE pixels a side, transparent parts laid on white paper
    (drawing apps export black ink on transparency, which read without its alpha is black on black)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grayscale PNG: scale, do not clip
        img = Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) * (255 / 65535), 0, 255).astype(np.uint8))
    elif img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info:
        ink = (img.convert("RGBA") if img.mode == "RGB" else img).convert("LA")  # RGB's transparent colour
        img = Image.new("L", ink.size, 255)
        img.paste(ink.getchannel("L"), mask=ink.getchannel("A"))
    else:
        img = img.convert("L")
    # The digit ends up 20 pixels tall: a box-filtered copy of a huge photo finds the same ink, much faster.
    factor = math.ceil(max(img.size) / WORK_SIDE)
    return np.asarray(img.reduce(factor) if factor > 1 else img, dtype=np.float32)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _mnist_like(gray: np.ndarray) -> torch.Tensor:
    """A grayscale picture (H, W) -> (28, 28) uint8 like MNIST's."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:  # light paper
        gray = 255 - gray
    gray = gray - np.median(border if np.median(border) <= 127 else 255 - border)
    ink = gray > 0.2 * max(gray.max(), 1)
    if gray.max() < 40 or not ink.any():
        raise BlankPicture("the picture is blank: no digit found")
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
