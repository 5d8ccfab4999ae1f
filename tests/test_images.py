"""Pictures: grids, GIFs, and turning an uploaded picture into an MNIST-like digit."""

import base64
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


# ---- hostile and odd uploads: each names what happened ----------------------------------------------------
def encoded(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def upright_seven() -> Image.Image:
    return Image.fromarray(drawn_seven())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_photo_stored_sideways_is_turned_upright_by_its_exif_orientation(fmt):
    upright = images.to_digit(png_of(drawn_seven())).float()
    sideways = upright_seven().transpose(Image.Transpose.ROTATE_90)  # as a phone stores a portrait shot
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    quality = {"quality": 95} if fmt != "PNG" else {}
    read = images.to_digit(encoded(sideways, fmt, exif=exif.tobytes(), **quality)).float()
    lying = images.to_digit(encoded(sideways, fmt, **quality)).float()
    assert (read - upright).abs().mean() < 1 < 20 < (lying - upright).abs().mean()


@pytest.mark.parametrize("mode, fmt", [("RGBA", "PNG"), ("LA", "PNG"), ("RGBA", "WEBP"), ("P", "GIF"), ("P", "PNG")])
def test_black_ink_on_a_transparent_background_is_a_digit(mode, fmt):
    """What drawing apps export: black ink on transparency, which without its alpha is black on black."""
    ink = 255 - drawn_seven()  # 255 where the pen went
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 3] = ink
    img = Image.fromarray(rgba, "RGBA")
    options = {"lossless": True} if fmt == "WEBP" else {}
    if mode == "LA":
        img = img.convert("LA")
    elif mode == "P":  # a palette picture with one transparent colour (GIF-style)
        img = Image.fromarray(np.where(ink > 127, 1, 0).astype(np.uint8), "P")
        img.putpalette([0, 0, 0, 0, 0, 0])
        options["transparency"] = 0
    digit = images.read_digit(encoded(img, fmt, **options))
    on_paper = images.to_digit(png_of(drawn_seven()))
    assert digit.note == "" and (digit.image.float() - on_paper.float()).abs().mean() < 3


def test_an_eps_renamed_png_never_reaches_ghostscript(monkeypatch):
    from PIL import EpsImagePlugin

    def ghostscript(*args, **kwargs):
        raise AssertionError("Ghostscript was run on an upload")
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", ghostscript)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nnewpath 4 4 moveto 24 24 lineto stroke\nshowpage\n"
    with pytest.raises(images.ImageError, match="PNG, JPEG, GIF, BMP or WEBP"):
        images.to_digit(eps)


@pytest.mark.parametrize("fmt", ["TIFF", "PPM", "ICO", "PCX"])
def test_other_picture_formats_are_refused_plainly(fmt):
    with pytest.raises(images.ImageError, match="not a picture GAN Explorer can read: please upload a PNG"):
        images.to_digit(encoded(upright_seven().resize((64, 48)), fmt))


def test_an_animated_gif_uses_its_first_frame_and_says_so():
    first, blank = upright_seven(), Image.new("L", (300, 200), 255)
    read = images.read_digit(images.gif_bytes([first, blank, first.transpose(Image.Transpose.ROTATE_180)]))
    assert read.note == "This GIF is animated: only its first frame was used."
    assert torch.equal(read.image, images.to_digit(encoded(first, "GIF")))
    assert images.read_digit(encoded(first, "GIF")).note == ""


def test_a_16_bit_scan_is_scaled_not_clipped():
    deep = drawn_seven().astype(np.uint16) * 257  # 0..65535
    assert torch.equal(images.to_digit(encoded(Image.fromarray(deep), "PNG")), images.to_digit(png_of(drawn_seven())))


def test_a_corrupt_png_header_is_an_image_error_not_a_value_error():
    whole = bytearray(png_of(drawn_seven()))
    whole[11] = 5  # IHDR says 5 bytes long: Pillow raises ValueError("Truncated IHDR chunk")
    with pytest.raises(images.ImageError, match="not a picture"):
        images.to_digit(bytes(whole))


@pytest.mark.parametrize("data, words", [
    (b"x" * (images.MAX_UPLOAD_BYTES + 1), "larger than 50 MB"),
    ("a picture.png", "expected the picture's bytes"),
    (None, "expected the picture's bytes"),
])
def test_oversize_files_and_non_bytes_are_refused(data, words):
    with pytest.raises(images.ImageError, match=words):
        images.to_digit(data)


# ---- the drawing pad's picture: a PNG data URL from the browser --------------------------------------------
def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_the_pads_data_url_is_read_as_an_upload_is():
    pad = np.asarray(Image.fromarray(drawn_seven(size=(280, 280))).convert("RGBA"))  # black ink, white paper
    drawn = images.read_data_url(data_url(png_of(pad, mode="RGBA")))
    assert torch.equal(drawn.image, images.read_digit(png_of(drawn_seven(size=(280, 280)))).image)
    assert drawn.image[:, :4].max() == 0 and drawn.image.max() == 255  # white on black, centred


def test_a_blank_pad_is_a_blank_picture_not_an_error():
    with pytest.raises(images.BlankPicture, match="blank"):
        images.read_data_url(data_url(png_of(np.full((280, 280, 4), 255), mode="RGBA")))
    assert issubclass(images.BlankPicture, images.ImageError)  # an upload's callers catch it as before


@pytest.mark.parametrize("url, words", [
    (None, "expected a picture as a data URL, got NoneType"),
    ({"data": "x"}, "got dict"),
    ("data:text/html,<b>hi</b>", "not a PNG data URL"),
    ("https://example.com/seven.png", "not a PNG data URL"),
    ("data:image/png;base64,!!not base64!!", "not base64"),
    ("data:image/png;base64," + base64.b64encode(b"no picture").decode(), "not a picture"),
])
def test_a_data_url_that_is_no_picture_says_why(url, words):
    with pytest.raises(images.ImageError, match=words):
        images.read_data_url(url)


def test_a_huge_data_url_is_refused_before_it_is_decoded(monkeypatch):
    monkeypatch.setattr(images.base64, "b64decode", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(images.ImageError, match="larger than 50 MB"):
        images.read_data_url("data:image/png;base64," + "A" * (70 * 2**20))


@pytest.mark.parametrize("caption, text_px, shown_px", [("0.45", 12, 360), ("+1.2", 12, 360), ("-12", 12, 300),
                                                        ("0.5", 18, 420), ("-1.2", 18, 420)])
def test_captions_stand_as_tall_on_screen_as_asked(caption, text_px, shown_px):
    from caption_measure import caption_heights

    png = images.captioned_grid_png(np.zeros((16, 28, 28, 3), np.uint8), [caption] * 16, nrow=8, scale=2,
                                    text_px=text_px, shown_px=shown_px)
    natural = Image.open(io.BytesIO(png)).width
    heights = caption_heights(png)  # measured from the drawn text, rows with dark pixels in each band
    assert len(heights) == 2  # one band under each row of samples
    on_screen = min(heights) * shown_px / natural  # the browser scales the picture, text and all, to shown_px
    assert text_px <= on_screen < text_px + 3, f"{caption!r}: {min(heights)} px in a {natural}-px picture"


def test_a_caption_too_wide_for_its_cell_is_set_smaller_and_stays_on_its_band():
    png = images.captioned_grid_png(np.zeros((1, 28, 28, 3), np.uint8), ["-1234.5"], nrow=1, scale=2, text_px=18,
                                    shown_px=60)
    sheet = np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)
    band = sheet[4 + 56:-4, 4:4 + 56]  # under the 56-pixel sample, inside the grid's 4-pixel frame
    assert (band < 110).any()  # the caption is there
    assert (band[:, :2] > 235).all() and (band[:, -2:] > 235).all()  # and ends inside its own white band
