"""Pictures: grids, GIFs, and turning an uploaded picture into an MNIST-like digit."""

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from explorer import data, images, metrics


def png_of(array: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def drawn_seven(size=(300, 200), offset=(0, 0), ink=0, paper=255, width=18) -> np.ndarray:
    """A 7 drawn with a thick pen, dark on light paper, somewhere on a larger page."""
    img = Image.new("L", size, paper)
    d = ImageDraw.Draw(img)
    x, y = offset
    d.line([(x + 40, y + 40), (x + 140, y + 40), (x + 80, y + 170)], fill=ink, width=width)
    return np.asarray(img)


def test_grid_lays_out_rows_and_scales():
    imgs = torch.zeros(6, 28, 28, dtype=torch.uint8)
    g = images.grid(imgs, nrow=3, scale=2, padding=2)
    assert g.size == (2 * (3 * 30 + 2), 2 * (2 * 30 + 2))


def test_gif_has_every_frame():
    frames = [images.grid(torch.full((1, 28, 28), v, dtype=torch.uint8)) for v in (0, 128, 255)]
    gif = Image.open(io.BytesIO(images.gif_bytes(frames)))
    assert gif.n_frames == 3


def test_a_drawing_on_paper_becomes_a_centred_mnist_digit():
    digit = images.to_digit(png_of(drawn_seven(offset=(120, 10), size=(400, 260))))
    assert digit.shape == (28, 28) and digit.dtype == torch.uint8
    assert digit[0].max() == 0 and digit[:, 0].max() == 0  # dark background, ink = 255, a clean border
    rows, cols = torch.nonzero(digit > 50, as_tuple=True)
    assert 18 <= rows.max() - rows.min() + 1 <= 21  # fitted into a 20-pixel box
    mass = digit.float()
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    assert abs((ys * mass).sum() / mass.sum() - 13.5) <= 1 and abs((xs * mass).sum() / mass.sum() - 13.5) <= 1
    assert metrics.probabilities(digit[None]).argmax().item() == 7


def test_light_ink_on_dark_paper_is_kept_and_colour_is_fine():
    dark = 255 - drawn_seven()
    rgb = np.stack([dark, dark // 2, dark], axis=-1)
    a, b = images.to_digit(png_of(dark)), images.to_digit(png_of(rgb, "RGB"))
    assert a.float().mean() > 10 and b.float().mean() > 10
    assert torch.equal(a > 128, images.to_digit(png_of(255 - dark)) > 128)  # same digit either polarity


def test_a_real_mnist_digit_survives_the_round_trip():
    real = data.load().images[data.load().labels == 3][0].reshape(28, 28).numpy()
    back = images.to_digit(png_of(real))
    assert metrics.probabilities(back[None]).argmax().item() == 3


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n but then nothing", "not a picture"),
    (b"random bytes, not an image at all", "not a picture"),
    (png_of(np.full((40, 40), 255)), "blank"),
    (png_of(np.zeros((40, 40))), "blank"),
])
def test_unusable_uploads_say_why(content, message):
    with pytest.raises(images.ImageError, match=message):
        images.to_digit(content)


def test_a_huge_picture_is_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buf, format="PNG")  # small file, 25 megapixels
    with pytest.raises(images.ImageError, match="too large"):
        images.to_digit(buf.getvalue())


def test_a_truncated_png_is_refused():
    whole = png_of(drawn_seven())
    with pytest.raises(images.ImageError, match="not a picture"):
        images.to_digit(whole[: len(whole) // 2])
