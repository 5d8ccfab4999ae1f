"""Clickable maps on the latent pages: G's digits over a grid of latent points; a click on one makes its point the
Latent space page's point.

Two maps: the plane of principal directions 1 and 2 around the current point (Latent space page) and the whole map
of a 2-latent generator (Interpolation page, which then opens the Latent space page). The figure is
explorer.tile_maps'. A click arrives as the chart's selection and is read in its `on_select` callback, which runs
before the sliders are drawn, as `explore.set_point` needs. After each click the chart gets a fresh key: Plotly
keeps a selection, and a second click on the same tile (one more step the same way) must count as a click too.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
import torch

from .. import latent, tile_maps
from ..app.runs import Run
from . import explore

PLANE_SIDE = 7  # tiles a side: the point in the middle, three steps each way
PLANE_STEP = 0.5  # σ between neighbouring tiles: the plane spans ±1.5σ, where the prior puts most points
MAP_SIDE = 20  # tiles a side of a 2-latent generator's whole map
CHART_CONFIG = {"displayModeBar": False, "scrollZoom": False, "doubleClick": False}  # a map to click, not to zoom
ss = st.session_state


def principal_plane(run: Run) -> None:
    """The plane of principal directions 1 and 2 around the current point; a click jumps there."""
    found = explore.directions(run)
    if len(found.vectors) < 2:
        st.caption("This generator has one principal direction only: there is no plane to show.")
        return
    z, digit = explore.edited_z(run), explore.digit(run)
    step = PLANE_STEP * latent.sigma(run.cfg)
    zs = latent.plane(z, found.vectors[0], found.vectors[1], PLANE_SIDE, step)
    offsets = (latent.plane_offsets(PLANE_SIDE) * PLANE_STEP).tolist()
    hover = [f"direction 1: {a:+.1f}σ, direction 2: {b:+.1f}σ" if a or b else "your point (the red frame)"
             for b in offsets for a in offsets]
    st.markdown(f"**Click a digit to go there.** Your point is in the red frame; across is direction 1, down is "
                f"direction 2, {PLANE_STEP:g}σ a step.")
    tile_map(run, zs, latent.digit_labels(run.cfg, len(zs), digit), PLANE_SIDE, hover, "lat_plane", size=420,
             marked=len(zs) // 2, on_pick=lambda tile_z: explore.set_point(run, tile_z, digit))


def whole_map(run: Run) -> torch.Tensor:
    """A 2-latent generator's whole map; a click opens that point on the Latent space page. Returns the pictures
    (for the page's download)."""
    e = latent.extent(run.cfg)
    zs = latent.latent_map(run.cfg, MAP_SIDE)
    digit = run.cfg.digits[0] if run.cfg.conditional else None
    hover = [f"z1 = {z1:+.2f}, z2 = {z2:+.2f}" for z1, z2 in zs.tolist()]
    pictures = tile_map(run, zs, latent.digit_labels(run.cfg, len(zs), digit), MAP_SIDE, hover, "interp_map",
                        size=602, on_pick=lambda tile_z: _open(run, tile_z, digit), cached=True)
    st.caption(f"{MAP_SIDE}×{MAP_SIDE} grid: z1 from {-e:g} (left) to {e:g} (right), z2 from {e:g} (top) to {-e:g} "
               "(bottom). Click a digit to open its point on the Latent space page.")
    if ss.pop("interp_map_open", False):  # set by the click's callback, where a page cannot be switched
        st.switch_page("pages/latent.py")
    return pictures


def _open(run: Run, z: torch.Tensor, digit: int | None) -> None:
    ss.lat_model = id(run)  # the Latent space page keeps the point instead of starting its model afresh
    explore.set_point(run, z, digit)
    ss.interp_map_open = True


def tile_map(run: Run, zs: torch.Tensor, labels, nrow: int, hover: list[str], name: str, size: int,
             on_pick: Callable[[torch.Tensor], None], marked: int | None = None, cached: bool = False) -> torch.Tensor:
    """G's pictures of the points zs in rows of `nrow`, as a clickable chart `size` pixels wide; a click on tile i
    calls on_pick(zs[i]). Returns the pictures. `cached`: the map never changes for this run (the whole 2-latent
    map), so its pictures and figure are made once and kept with the run (building the figure takes about 0.5 s)."""
    if cached and name in run.cache:
        pictures, figure = run.cache[name]
    else:
        pictures = latent.generate(run.G, run.cfg, zs, labels)
        figure = tile_maps.tile_figure(pictures, nrow, hover, size, marked=marked)
        if cached:
            run.cache[name] = pictures, figure
    problem = ss.pop(f"{name}_problem", None)
    if problem:
        st.warning(problem, icon=":material/touch_app:")
    key = f"{name}_{ss.get(f'{name}_clicks', 0)}"
    st.plotly_chart(figure, key=key, theme=None,
                    on_select=lambda: _clicked(key, name, zs, on_pick), selection_mode="points", width="content",
                    config=CHART_CONFIG)
    return pictures


def _clicked(key: str, name: str, zs: torch.Tensor, on_pick: Callable[[torch.Tensor], None]) -> None:
    """on_select: the tile clicked (in the chart drawn then, whose points `zs` were) becomes the point."""
    ss[f"{name}_clicks"] = ss.get(f"{name}_clicks", 0) + 1  # the next chart starts with nothing selected
    try:
        tile = tile_maps.clicked_tile(ss.get(key), len(zs))
    except tile_maps.NotATile as e:
        ss[f"{name}_problem"] = f"That click did not pick one digit of the map ({e}). Click a digit."
        return
    if tile is not None:
        on_pick(zs[tile])

