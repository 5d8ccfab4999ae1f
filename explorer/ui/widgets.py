"""Small Streamlit pieces more than one page uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from ..app.runs import Run

DOWNLOAD = ":material/download:"
KEEP = dict(persist_state="session")  # a widget keeps its value for the whole session, across pages


def run_downloads(run: Run, key: str) -> None:
    """Four download buttons: checkpoint, its JSON, the config and the metrics. Files are made on click."""
    row = st.container(horizontal=True)  # sized to the labels, wrapping in a narrow window
    row.download_button("Checkpoint", run.checkpoint_bytes, f"{run.slug}.safetensors", "application/octet-stream",
                        on_click="ignore", key=f"{key}_ckpt", icon=DOWNLOAD,
                        help="A .safetensors file: the weights of G and D, with the config inside. Never pickled.")
    row.download_button("Checkpoint info", run.info_json, f"{run.slug}.json", "application/json",
                        on_click="ignore", key=f"{key}_info", icon=DOWNLOAD,
                        help="A .json file of the config and metadata, to keep beside the checkpoint.")
    row.download_button("Config", run.config_json, f"{run.slug}-config.json", "application/json",
                        on_click="ignore", key=f"{key}_cfg", icon=DOWNLOAD,
                        help="A .json file of the settings alone, for a later run.")
    row.download_button("Metrics", run.metrics_csv, f"{run.slug}-metrics.csv", "text/csv",
                        on_click="ignore", key=f"{key}_csv", icon=DOWNLOAD, disabled=not run.history,
                        help="A .csv file: losses, D outputs, gradient norms and learning rates per step.")


@contextmanager
def card(column, title: str, text: str) -> Iterator[None]:
    """A bordered card in a row of columns: its title and text at the top, and what the `with` block adds (a
    button) at the bottom. Every card of the row is as tall as the tallest, so their buttons line up."""
    with column.container(border=True, height="stretch"):
        with st.container(height="stretch"):
            st.markdown(f"**{title}**")
            st.caption(text)
        yield
