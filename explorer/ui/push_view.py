"""What D tells G, on the Train page: the sample grid with D's push painted over each fake and D's verdict under
it, step mode (one update of D or of G at a time while paused, the grid before and after) and slow motion.

The pictures come from the snapshots the trainer publishes (explorer.snapshots keeps the push of the newest
two); nothing here touches the networks, so a page draws them while the worker trains.
"""

from __future__ import annotations

import streamlit as st

from .. import gradients, images
from ..app.jobs import Job, JobView
from ..progress import Snapshot, Status
from ..step_mode import what_changed, why_fakes_rose
from . import presenter

PACES = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)  # steps per second a student can follow, up to a blur
STEP_SAMPLES = 16  # samples step mode shows, large: spread over the grid's rows (a conditional run's digits)
PNG_CACHE = 12  # pictures kept per session: the grid, its overlay, step mode's before and after
# How wide the Train page shows the grid (explorer.ui.live): its column at a 1280-pixel window with the sidebar
# open, or the width presenter mode gives it. D's verdicts are sized for it, the picture being scaled to fit.
GRID_SHOWN_PX = 320
# Presenter mode with the overlay on: the grid's first PRESENTER_ROWS rows, this wide, so that verdicts
# presenter.TEXT_PX tall fit under samples an eighth of it wide (all eight rows would need twice the height).
PRESENTER_GRID_PX = 440
PRESENTER_ROWS = 4
VERDICT_PX = 12  # how tall D's verdicts stand on screen; presenter.TEXT_PX in presenter mode


def grid_png(shot: Snapshot, scale: int = 2, pushed: bool = False) -> bytes:
    """A snapshot's grid as PNG (with `pushed`: tinted by D's push, D's verdict under each sample, when the
    snapshot has them), made once: the live view redraws every second, a snapshot comes every few steps."""
    pushed = pushed and shot.push is not None
    big = pushed and presenter.active()  # larger verdicts, in fewer digits, for the back of a room
    cache = st.session_state.setdefault("grid_png", {})
    key = (id(shot), scale, pushed, big)
    hit = cache.get(key)
    if hit is not None and hit[0] is shot:  # the very snapshot (an id can be reused once one is let go)
        return hit[1]
    pick = list(range(min(len(shot.images), 8 * PRESENTER_ROWS) if big else len(shot.images)))
    png = _picture(shot, pick, 8, scale, pushed, shown_px=PRESENTER_GRID_PX if big else GRID_SHOWN_PX, big=big)
    while len(cache) >= PNG_CACHE:
        cache.pop(next(iter(cache)))
    cache[key] = (shot, png)
    return png


def explanation(probabilities: bool) -> str:
    """The one sentence beside the overlay, for a student seeing it the first time."""
    verdict = ("its chance that the sample is real (1: sure it is real)" if probabilities
               else "its score (higher: more real)")
    return (":red[**Red**]: where D would believe a fake more with more ink; :blue[**blue**]: with less; the "
            "stronger the push, the stronger the colour, and where D hardly cares the digit keeps its grey. "
            f"Under each, D's verdict: {verdict}. G never sees a real digit: this push is all it learns from.")


def step_mode(job: Job, view: JobView, pushed: bool) -> None:
    """While paused: "D step" and "G step", each one update, and the grid before and after the last one."""
    if view.status != Status.PAUSED or view.done:
        return
    with st.container(border=True):
        row = st.container(horizontal=True, vertical_alignment="center")
        row.markdown("**Step mode**: play the game one move at a time.", width="content")
        for update, label, tip in (
                ("d", "D step", "One update of D on a real and a fake batch; G stays as it is."),
                ("g", "G step", "One update of G, each fake moved along D's push; the step count goes up by one.")):
            if row.button(label, key=f"nudge_{update}", help=tip):
                job.nudge(update, wait=5.0)
                st.rerun()
        lone = view.lone
        if lone is None:
            st.caption("Each button makes one update and shows the samples before and after it.")
            return
        last, before, after = lone.what, lone.before, lone.after
        pick = list(range(0, len(after.images), max(1, len(after.images) // STEP_SAMPLES)))[:STEP_SAMPLES]
        average = (f" (the grid further down shows the average of G's weights, g_ema {job.cfg.g_ema:g}, which one step "
                   f"moves about 1/{1 / (1 - job.cfg.g_ema):,.0f} as far)" if job.cfg.g_ema > 0 else "")
        st.caption(f"These pictures come from **G itself**, the network a G step updates{average}. D judges them in "
                   "evaluation mode (no dropout), the same fakes the same way before and after.")
        columns = st.columns(3 if last == "G step" else 2)
        columns[0].image(_few(before, pick, pushed), caption=f"Before the {last}", output_format="PNG")
        columns[1].image(_few(after, pick, pushed), caption=f"After it (step {after.step:,})", output_format="PNG")
        st.markdown(what_changed(lone, pick))
        if last == "D step":
            st.caption("A D step leaves G as it was, so the samples are the same; D's verdicts"
                       + (" and its push changed." if pushed else " changed (turn on What D tells G to see its push).")
                       + " " + why_fakes_rose(lone, pick))
            return
        change = after.images[pick].float() - before.images[pick].float()  # > 0: the step added ink
        # The map's colours are scaled as gradients.tint scales them (all maps together): full colour from this
        # change on, none under FADE_BELOW of it; said in grey levels, so "magnified" has a number.
        size = change.abs().flatten()
        full = size.quantile(gradients.ROBUST_QUANTILE).item() or size.max().item()
        shown = (f"magnified ×{255 / full:.0f}: full colour from a change of {full:.0f}/255 of ink, none under "
                 f"{gradients.FADE_BELOW * full:.0f}/255; the mean change is {size.mean().item():.1f}/255"
                 if full > 0 else "no pixel changed by a whole grey level")
        columns[2].image(images.rgb_grid_png(gradients.tint(after.images[pick], change, each=False), nrow=4, scale=3),
                         caption=f"What the G step changed: red gained ink, blue lost it ({shown})",
                         output_format="PNG")
        st.caption("One G step moves each sample a little, the way D pushed it: compare the change with the push "
                   "before it" + ("." if pushed else " (turn on What D tells G to see the push)."))


def _few(shot: Snapshot, pick: list[int], pushed: bool) -> bytes:
    """A few of a snapshot's samples, large (step mode's pictures: drawn only when a student asks for a step)."""
    return _picture(shot, pick, 4, 3, pushed)


def _picture(shot: Snapshot, pick: list[int], nrow: int, scale: int, pushed: bool, shown_px: int | None = None,
             big: bool = False) -> bytes:
    """The picked samples as PNG; with `pushed` (when the snapshot has them), tinted by D's push, its verdicts under,
    VERDICT_PX tall (`big`: presenter.TEXT_PX, in fewer digits) with the picture shown `shown_px` wide (by default
    at about its own width, sized to the cell)."""
    if pushed and shot.push is not None:
        captions = [gradients.verdict_text(shot.verdicts[i].item(), shot.probabilities, short=big) for i in pick]
        return images.captioned_grid_png(gradients.tint(shot.images[pick], shot.push[pick]), captions, nrow, scale,
                                         text_px=(presenter.TEXT_PX if big else VERDICT_PX) if shown_px else None,
                                         shown_px=shown_px)
    return images.grid_png(shot.images[pick], nrow=nrow, scale=scale)


def slow_motion(job: Job, view: JobView) -> None:
    """A toggle and a pace: train at a few steps a second, a snapshot every step, so the grid moves visibly."""
    if view.done:
        return
    ss = st.session_state
    on, pace = f"slow_on_{job.name}", f"slow_pace_{job.name}"  # each run starts at its own (full) speed
    ss.setdefault(on, view.pace is not None)  # after a reload, the run's own pace
    ss.setdefault(pace, view.pace if view.pace in PACES else 2.0)

    def apply() -> None:
        job.slow_motion(ss[pace] if ss[on] else None)

    row = st.container(horizontal=True, vertical_alignment="center")
    row.toggle("Slow motion", key=on, on_change=apply,
               help="Train at a few steps a second, with a new sample grid every step.")
    if ss[on]:
        row.select_slider("Steps per second", PACES, key=pace, on_change=apply, format_func=lambda p: f"{p:g}",
                          width=320, label_visibility="collapsed")
        row.caption(f"{ss[pace]:g} steps a second", width="content")
