"""Fuzzing the picture door: a real PNG (and a GIF, JPEG, BMP and WEBP) with 1 to 4 bytes mutated. Every
input ends in a digit or an ImageError, never another exception, and every refusal takes under a second."""

import io
import random
import struct
import time
import zlib

import pytest
import torch
from PIL import Image, ImageDraw

from explorer import images

MUTATIONS = {"PNG": 3000, "GIF": 500, "JPEG": 500, "BMP": 500, "WEBP": 500}
# Pillow warns about the damage it meets (corrupt EXIF, absurd sizes) before it raises; the test judges the raise.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::PIL.Image.DecompressionBombWarning")


def seven(mode: str) -> Image.Image:
    img = Image.new("L", (40, 32), 255)
    ImageDraw.Draw(img).line([(8, 6), (30, 6), (16, 28)], fill=0, width=4)
    return img.convert(mode)


def encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    img = seven("RGBA" if fmt in ("PNG", "WEBP") else "L")
    img.save(buf, format=fmt, **({"exif": exif_rotated()} if fmt in ("JPEG", "PNG") else {}))
    return buf.getvalue()


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the EXIF reader runs on every mutation too
    return exif.tobytes()


def read_or_refuse(data: bytes) -> float:
    t0 = time.perf_counter()
    try:
        upload = images.read_digit(data)
    except images.ImageError as e:
        assert str(e)
    else:
        assert upload.image.shape == (28, 28) and upload.image.dtype == torch.uint8 and isinstance(upload.note, str)
    return time.perf_counter() - t0


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(out))
        how = rng.random()
        if how < 0.5:
            out[i] = rng.randrange(256)
        elif how < 0.7:
            out[i] ^= 1 << rng.randrange(8)
        elif how < 0.85:
            out.insert(i, rng.randrange(256))
        else:
            del out[i]
    return bytes(out)


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk's CRC, so a mutation gets past the checksum to the decoder behind it."""
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        end = pos + 12 + length
        if end > len(data):
            break
        body = data[pos + 4:end - 4]
        out += data[pos:pos + 4] + body + struct.pack(">I", zlib.crc32(body))
        pos = end
    return bytes(out + data[pos:])


@pytest.mark.parametrize("fmt", list(MUTATIONS))
def test_mutated_pictures_read_or_are_refused(fmt):
    original = encoded(fmt)
    images.read_digit(original)  # the unmutated picture reads
    rng = random.Random(fmt)
    slowest = 0.0
    for k in range(MUTATIONS[fmt]):
        data = mutate(original, rng)
        if fmt == "PNG" and k % 2:
            data = fix_png_crcs(data)
        slowest = max(slowest, read_or_refuse(data))
    assert slowest < 1.0, f"the slowest answer took {slowest:.2f} s"


@pytest.mark.parametrize("fmt", list(MUTATIONS))
def test_truncated_pictures_are_refused_or_read(fmt):
    original = encoded(fmt)
    for cut in range(0, len(original), max(1, len(original) // 200)):
        assert read_or_refuse(original[:cut]) < 1.0
