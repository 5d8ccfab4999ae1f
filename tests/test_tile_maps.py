"""Clickable maps (explorer/tile_maps.py): one picture of the grid under a point per tile, and a click read back
from Streamlit's selection event, which the browser sends and so is never trusted."""

import base64
import io
import time

import pytest
import torch
from PIL import Image

from explorer import images, tile_maps
from explorer.tile_maps import NotATile


def digits(n: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.uint8).reshape(n, 1, 1).expand(n, 28, 28) * 20


def click(index, curve=1, **more) -> dict:
    return {"selection": {"points": [{"curve_number": curve, "point_number": index, "point_index": index, **more}],
                          "point_indices": [index], "box": [], "lasso": []}}


def test_each_tile_centre_is_over_its_own_digit():
    pictures = digits(6)
    picture = images.grid(pictures, nrow=3, scale=2, padding=tile_maps.PADDING)
    xs, ys = tile_maps.tile_centres(6, 3, scale=2)
    for i, (x, y) in enumerate(zip(xs, ys)):
        assert picture.getpixel((round(x), round(y))) == 20 * i  # the pixel under the point is tile i's
    assert xs[:3] == xs[3:] and ys[0] == ys[2] < ys[3]  # row by row


def test_the_figure_is_one_image_under_an_invisible_point_per_tile():
    hover = [f"tile {i}" for i in range(9)]
    fig = tile_maps.tile_figure(digits(9), 3, hover, size=300, marked=4)
    image, points = fig.data
    assert image.type == "image" and image.source.startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(image.source.split(",", 1)[1])))
    assert png.size == images.grid(digits(9), nrow=3, scale=2).size
    assert points.type == "scatter" and len(points.x) == 9 and list(points.text) == hover
    assert points.marker.opacity == 0 and points.marker.size > 0
    assert fig.layout.width == fig.layout.height == 300  # a square grid stays square
    assert fig.layout.dragmode is False and fig.layout.xaxis.fixedrange and fig.layout.yaxis.fixedrange
    (frame,) = fig.layout.shapes  # the red frame round the current point, the middle tile
    assert frame.x0 < points.x[4] < frame.x1 and frame.y0 < points.y[4] < frame.y1
    assert not tile_maps.tile_figure(digits(9), 3, hover, size=300).layout.shapes
    with pytest.raises(ValueError, match="9 hover texts"):
        tile_maps.tile_figure(digits(9), 3, hover[:8], size=300)


def test_a_click_on_a_tile_names_it_and_an_empty_selection_names_none():
    assert tile_maps.clicked_tile(click(7), 49) == 7
    assert tile_maps.clicked_tile(click(0, x=1.5, customdata=None), 49) == 0
    assert tile_maps.clicked_tile({"selection": {"points": [], "point_indices": []}}, 49) is None


@pytest.mark.parametrize("event, words", [
    (None, "without a selection"),
    ({"selection": "all of them"}, "without a selection"),
    ({"selection": {"points": "7"}}, "not a list"),
    (click(3, curve=0), "not on a picture"),  # the image trace, not the tiles' points
    ({"selection": {"points": ["7"]}}, "not on a picture"),
    (click(49), "names no picture"),
    (click(-1), "names no picture"),
    (click(2.0), "names no picture"),
    (click(True), "names no picture"),
    (click("3"), "names no picture"),
    (click(10**30), "names no picture"),
])
def test_anything_but_one_tile_is_refused_plainly(event, words):
    with pytest.raises(NotATile, match=words):
        tile_maps.clicked_tile(event, 49)


def test_a_huge_payload_is_refused_without_reading_it():
    flood = {"selection": {"points": [{"curve_number": 1, "point_index": i} for i in range(1_000_000)]}}
    started = time.perf_counter()
    with pytest.raises(NotATile, match="1,000,000 pictures were selected at once"):
        tile_maps.clicked_tile(flood, 49)
    assert time.perf_counter() - started < 0.01
