"""Clickable maps of G's pictures: a grid of digits drawn as one Plotly figure that a click can read back.

A map is one picture of the whole grid (a `go.Image`, so the browser gets one PNG, not 784 numbers a tile) under
an invisible scatter with a point at each tile's centre. The scatter carries the hover text (the tile's
coordinates) and is what Plotly selects when a student clicks a tile; `clicked_tile` reads the tile's number back
from Streamlit's selection event, which the browser sends and so must be read as untrusted.
"""

from __future__ import annotations

import base64

import plotly.graph_objects as go

from . import images

TILE = 28  # pixels a side of a digit
PADDING = 2  # pixels between tiles, as images.grid draws them
MARK_COLOR = "#d62728"  # the frame round the tile where the student is


class NotATile(ValueError):
    """A selection event that is not one click on one tile of the map; the message says what it was."""


def tile_centres(n_tiles: int, nrow: int, scale: int = 1) -> tuple[list[float], list[float]]:
    """The centre of each tile of `images.grid(..., nrow, scale, padding=PADDING)`, in the picture's pixels (x to
    the right, y down, a pixel's centre at whole numbers as go.Image has it)."""
    step = TILE + PADDING
    centre = [scale * (i * step + PADDING + TILE / 2) - 0.5 for i in range(max(nrow, 1))]
    return [centre[i % nrow] for i in range(n_tiles)], [centre[i // nrow] for i in range(n_tiles)]


def tile_figure(pictures, nrow: int, hover: list[str], size: int, scale: int = 2,
                marked: int | None = None) -> go.Figure:
    """A `size`-pixel-wide figure of the digits `pictures` ((n, 28, 28) uint8, ink = 255) in rows of `nrow`, each
    tile's `hover` text shown under the pointer, and a red frame round tile `marked` (the current point)."""
    n = len(pictures)
    if len(hover) != n:
        raise ValueError(f"{n} tiles need {n} hover texts, got {len(hover)}")
    picture = images.grid(pictures, nrow=nrow, scale=scale, padding=PADDING)
    source = "data:image/png;base64," + base64.b64encode(images.png_bytes(picture)).decode("ascii")
    xs, ys = tile_centres(n, nrow, scale)
    half = scale * TILE / 2
    tile_px = size * scale * TILE / picture.width  # a tile's width on screen: the markers cover it
    traces = [
        dict(type="image", source=source, hoverinfo="skip"),
        dict(type="scatter", x=xs, y=ys, mode="markers", text=hover, hovertemplate="%{text}<extra></extra>",
             marker=dict(symbol="square", size=tile_px, opacity=0),
             selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)), showlegend=False),
    ]
    shapes = []
    if marked is not None and 0 <= marked < n:
        shapes.append(dict(type="rect", xref="x", yref="y", x0=xs[marked] - half, x1=xs[marked] + half,
                           y0=ys[marked] - half, y1=ys[marked] + half, line=dict(color=MARK_COLOR, width=3)))
    axis = dict(visible=False, fixedrange=True, showgrid=False, zeroline=False)
    height = round(size * picture.height / picture.width)
    layout = dict(width=size, height=height, margin=dict(l=0, r=0, t=0, b=0), dragmode=False, hovermode="closest",
                  hoverdistance=-1,  # anywhere on a tile, its own point is the nearest: a click never misses
                  xaxis=dict(axis, range=[-0.5, picture.width - 0.5]),
                  yaxis=dict(axis, range=[picture.height - 0.5, -0.5], scaleanchor="x"),
                  shapes=shapes, plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)")
    return go.Figure(data=traces, layout=layout)


def clicked_tile(event, n_tiles: int) -> int | None:
    """The tile (0 .. n_tiles - 1, row by row) that a click on a `tile_figure` picked, from `st.plotly_chart`'s
    event ({"selection": {"points": [...]}}); None when nothing is selected (a click that cleared it). Raises
    NotATile for anything else: several tiles at once, a point of another trace, numbers that are no tile. The
    event comes from the browser, so nothing in it is trusted and a long list is refused without reading it."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError, IndexError):
        raise NotATile("the click came without a selection") from None
    if not isinstance(points, list):
        raise NotATile("the click's selection is not a list of points")
    if not points:
        return None
    if len(points) > 1:
        raise NotATile(f"{len(points):,} pictures were selected at once: click one")
    point = points[0]
    if not isinstance(point, dict) or point.get("curve_number") != 1:  # trace 1: the tiles' points
        raise NotATile("the click was not on a picture of the map")
    index = point.get("point_index")
    if type(index) is not int or not 0 <= index < n_tiles:  # bool is no tile, nor is a float
        raise NotATile("the click names no picture of the map")
    return index
