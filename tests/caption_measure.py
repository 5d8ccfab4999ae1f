"""Measure captions in a captioned grid picture (explorer.images.captioned_grid_png) as they are drawn: how tall the
text in each white caption band down the first column stands, in the picture's own pixels. Shared by the unit
tests and the browser test of the overlay, so both measure the same way; it reads only the picture."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

WHITE, DARK = 235, 110  # a band's paper, and its black text (anti-aliased edges fall in between)


def caption_heights(png: bytes) -> list[int]:
    """Rows from the top of the text to its bottom, in each caption band of the picture's first column."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    lum = rgb.min(axis=-1)
    pad = int(np.argmax((rgb != 64).any(axis=(0, 2))))  # the first column that is not the grid's grey frame
    edge = (lum[:, pad] > WHITE) & (lum[:, pad + 1] > WHITE)  # a band's white left margin
    heights, y = [], 0
    while y < len(edge):
        if not edge[y]:
            y += 1
            continue
        end = y
        while end < len(edge) and edge[end]:
            end += 1
        width = int(np.argmax(lum[y, pad:] <= WHITE)) or lum.shape[1] - pad  # the band's white run: the cell
        text = np.nonzero((lum[y:end, pad:pad + width] < DARK).any(axis=1))[0]
        if end - y >= 4 and len(text):  # a white stroke at a digit's edge is no band: it holds no text
            heights.append(int(text[-1] - text[0] + 1))
        y = end
    return heights
