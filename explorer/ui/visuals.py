"""Small pictures for the explanatory pages, cached per process."""

from __future__ import annotations

import streamlit as st
import torch

from .. import images, latent, presets
from ..data import load as load_data
from ..nets import build

GAME = """
digraph {
  rankdir=LR; bgcolor="transparent"; node [fontname="sans-serif", fontsize=14, style=filled, color="#888888"];
  z [label="noise z\\n(random numbers)", shape=note, fillcolor="#eeeeee"];
  G [label="Generator G\\ndraws a digit", shape=box, style="rounded,filled", fillcolor="#cfe3f3"];
  fake [label="fake image", shape=box, fillcolor="#ffffff"];
  real [label="real MNIST image", shape=box, fillcolor="#ffffff"];
  D [label="Discriminator D\\njudges", shape=box, style="rounded,filled", fillcolor="#f6d1d1"];
  out [label="D's verdict:\\nprobability 'real'", shape=ellipse, fillcolor="#eeeeee"];
  z -> G -> fake -> D; real -> D; D -> out;
  out -> G [label="G learns to fool D", style=dashed, color="#1f77b4", fontcolor="#1f77b4", constraint=false];
  out -> D [label="D learns to be right", style=dashed, color="#d62728", fontcolor="#d62728", constraint=false];
}
"""


@st.cache_data(show_spinner=False)
def real_digits_png(n: int = 32, seed: int = 0) -> bytes:
    data = load_data()
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return images.grid_png(data.images[idx], nrow=8, scale=2)


@st.cache_data(show_spinner=False)
def untrained_png(n: int = 32) -> bytes:
    cfg = presets.get("default").config()
    G, _ = build(cfg)
    return images.grid_png(latent.sample(G, cfg, n), nrow=8, scale=2)


def samples_png(run, n: int = 32, seed: int = 0) -> bytes:
    """A grid of fresh samples from a run's generator."""
    return images.grid_png(latent.sample(run.G, run.cfg, n, seed=seed), nrow=8, scale=2)
