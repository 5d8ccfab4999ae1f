"""The drawing pad: a student draws a digit in the browser and sees at once how D and the digit reader take it.

streamlit-drawable-canvas draws the pad and sends the canvas back as a PNG data URL after every stroke (in its
state, `st.session_state[key]["drawing"]["data"]`). The ink is black on white paper, as a pen on paper; that
picture is read exactly as an upload is (explorer.images.read_data_url, then read_digit: the same checks, the
paper turned into MNIST's black, the digit fitted into 20×20 and centred by its mass), so what G is asked to
match is what the page shows as "the target".
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch
from streamlit_drawable_canvas import st_canvas

from .. import images, latent
from ..app.runs import Run
from ..losses import LOSSES
from ..reader import load_reader

PAD_SIDE = 280  # screen pixels a side: ten for each pixel of G's 28
INK = 24  # brush width: a digit drawn most of the pad's height gets a stroke of 2-3 of MNIST's pixels
EMPTY = "Draw a digit on the pad: D's verdict and the digit reader's reading appear as you draw."
NOT_A_DRAWING = "The pad sent something that is not a drawing: press its bin button and draw again."
ss = st.session_state


@dataclass(frozen=True)
class Drawing:
    image: torch.Tensor | None  # (28, 28) uint8 like MNIST's, ink = 255; None when there is nothing to read
    message: str = ""  # with no image: what to tell the student


def pad(key: str) -> Drawing:
    """The drawing pad, and what is drawn on it now."""
    st.space(36)  # the pad's toolbar floats above its top edge: room for it
    try:
        st_canvas(stroke_width=INK, stroke_color="#000000", background_color="#ffffff", height=PAD_SIDE,
                  width=PAD_SIDE, drawing_mode="freedraw", return_image_data=True, key=key)
    except (AttributeError, TypeError, KeyError, ValueError):  # its own reading of a state the pad did not send
        return Drawing(None, NOT_A_DRAWING)
    st.caption("Draw with the mouse (or a finger). The arrows undo and redo; the bin clears the pad.")
    return read(ss.get(key))


def read(state) -> Drawing:
    """The digit in the pad's state ({"drawing": {"data": "data:image/png;base64,..."}}), which the browser sends:
    a blank pad, or one that sent no picture yet, says "draw a digit"; anything unreadable says so plainly."""
    try:
        url = state["drawing"]["data"]
    except (KeyError, TypeError, IndexError):
        return Drawing(None, NOT_A_DRAWING)
    if url is None:  # nothing drawn since the pad appeared
        return Drawing(None, EMPTY)
    try:
        return Drawing(images.read_data_url(url).image)
    except images.BlankPicture:  # drawn and then cleared
        return Drawing(None, EMPTY)
    except images.ImageError as e:
        return Drawing(None, f"The pad's picture can't be read ({e}): press its bin button and draw again.")


def verdict(run: Run, picture: torch.Tensor, digit: int | None) -> None:
    """What the digit reader reads in the drawing, and D's verdict on it, as the Latent space page shows G's."""
    seen = latent.look_at(run.cfg, picture[None], latent.digit_labels(run.cfg, 1, digit), run.D, load_reader())
    read_as, d = st.columns(2)
    chances = seen.probabilities[0]
    no_digit = 1 - float(chances.sum())
    if no_digit > float(chances.max()):
        read_as.metric("Read as", "no digit", f"{no_digit:.0%} sure", delta_color="off", delta_arrow="off")
    else:
        read_as.metric("Read as", f"{int(chances.argmax())}", f"{float(chances.max()):.0%} sure", delta_color="off",
                       delta_arrow="off")
    if seen.d_scores is None:
        d.caption("This checkpoint has no discriminator, so there is no D verdict.")
        return
    probabilities = LOSSES[run.cfg.ended().loss].probabilities
    d.metric("D's verdict", f"{float(seen.d_scores[0]):.2f}", "P(real)" if probabilities else "critic score",
             delta_color="off", delta_arrow="off")
    st.caption("D was trained to tell real digits from G's: "
               + ("1 means it is sure your drawing is a real MNIST digit, 0 that G drew it."
                  if probabilities else "the higher the score, the more real it finds your drawing.")
               + (f" It judges the drawing as a {digit}, the digit label below." if digit is not None else ""))
