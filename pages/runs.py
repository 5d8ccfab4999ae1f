"""Runs: this session's generators, their downloads, and checkpoint upload."""

import logging

import streamlit as st

from explorer import charts, quality
from explorer.app import form_values
from explorer.app.runs import Run
from explorer.app.share import to_text
from explorer.checkpoints import CheckpointError
from explorer.config import differences
from explorer.ui import presenter, state, visuals, widgets

log = logging.getLogger(__name__)


def take_upload(upload) -> None:
    """Check an uploaded checkpoint once; a good one becomes the current generator. What happened is kept, so
    the page says "Loaded" only for a file that did load."""
    if st.session_state.get("upload_id") == upload.file_id:
        return
    st.session_state.upload_id = upload.file_id
    try:
        run = Run.from_upload(upload.getvalue(), upload.name)
    except CheckpointError as e:
        st.session_state.upload_outcome = ("error", f"**{upload.name}** can't be used: {e}.")
        return
    except Exception:  # a bug of ours must not look like a loaded model, nor show a traceback
        log.exception("checkpoint upload %s failed", upload.name)
        st.session_state.upload_outcome = ("error", f"**{upload.name}** could not be loaded: something went wrong "
                                                    "on the server while reading it. Nothing was changed.")
        return
    state.add_run(run)
    st.session_state.upload_outcome = ("loaded", f"Loaded **{upload.name}**: it is now the current generator.")
    st.rerun()  # the sidebar, drawn before this page, names the new current generator


COMPARED = (("g_loss", "G loss (smoothed)", "loss"), ("d_loss", "D loss (smoothed)", "loss"),
            ("d_fake", "D(G(z)) on fakes (smoothed)", "mean D output"),
            ("d_real", "D(x) on real images (smoothed)", "mean D output"))


def compare(runs: list[Run]) -> None:
    """Two or more runs side by side: their curves overlaid, the settings that differ, their samples."""
    st.subheader("Compare runs")
    # The options are the runs themselves (by id), not list positions, which shift when a run is added.
    by_id = {id(r): r for r in runs}
    # The pick lives in Session State alone (a default beside it makes Streamlit warn): the two newest at first,
    # and a picked run that has since been dropped (MAX_RUNS) leaves the pick.
    picks = st.session_state.get("compare_runs", list(by_id)[:2])
    st.session_state.compare_runs = [i for i in picks if i in by_id]
    picked = st.multiselect("Runs to compare", list(by_id), format_func=lambda i: by_id[i].name, key="compare_runs")
    chosen = [by_id[i] for i in picked]
    if len(chosen) < 2:
        st.caption("Pick two or more runs.")
        return
    curves = {r.name: r.history for r in chosen if r.history.get("step")}
    if len(curves) >= 2:
        cols = st.columns(2)
        for i, (key, title, y) in enumerate(COMPARED):
            with cols[i % 2]:  # presenter mode: large text, as the Train page's charts
                presenter.chart(charts.compare_figure(curves, key, title, y), key=f"compare_{key}")
    else:
        st.caption("Uploaded checkpoints carry no training curves: only trained runs are drawn.")
    measured = [r for r in chosen if r.readings]
    if len(measured) >= 2:
        quality_compared(measured)
    diff = differences({r.name: r.cfg for r in chosen})
    if diff:
        st.markdown("**Settings that differ**")
        st.table({"setting": [form_values.label(k) for k in diff],
                  **{r.name: [to_text(values[i]) for values in diff.values()] for i, r in enumerate(chosen)}})
    else:
        st.caption("These runs share every setting.")
    for col, run in zip(st.columns(max(3, len(chosen))), chosen):  # at least three columns: no grid too wide
        col.image(run.preview() or visuals.samples_png(run, n=16), caption=f"{run.name}: final samples",
                  width="stretch", output_format="PNG")


def quality_compared(runs: list[Run]) -> None:
    """Like with like: what each run draws, its variety and its Fréchet distance, up to the step all have reached
    (a run that collapsed onto clear 1s reads as well as the fix, but draws one digit, alike)."""
    common = min(r.readings[-1].step for r in runs)
    at = {r.name: max((x for x in r.readings if x.step <= common), key=lambda x: x.step) for r in runs}
    digits = sorted({d for r in runs for d in r.cfg.digits})
    series = {r.name: quality.series([x for x in r.readings if x.step <= common]) for r in runs}
    upto = dict(xaxis=dict(range=[0, max(common, 1)]))
    st.markdown(f"**Quality, compared at the same steps** (up to step {common:,}, which every run reached)")
    presenter.chart(charts.digits_compare_figure({n: x.histogram for n, x in at.items()}, digits,
                                                {n: x.step for n, x in at.items()}), key="compare_digits")
    left, right = st.columns(2)
    with left:
        presenter.chart(charts.compare_figure(series, "variety", "Variety against real digits (1 = as varied)",
                                              "variety", smoothed=False, **upto), key="compare_variety")
    with right:
        presenter.chart(charts.compare_figure(series, "fid", "Fréchet distance (lower is better)",
                                              "distance (log scale)", smoothed=False, yaxis=charts.LOG_AXIS, **upto),
                        key="compare_fid")


st.title("Runs")
st.markdown("Every generator you trained in this session, newest first. The **current** one is what the "
            "latent pages explore. A reload keeps them; they stay on the server while you use it and for a while "
            "after you leave, so download the ones to keep.")

upload = st.file_uploader("Upload a checkpoint (.safetensors) to make it the current generator",
                          type=["safetensors"], key="upload")
if upload is not None:
    take_upload(upload)
    outcome, message = st.session_state.get("upload_outcome", ("", ""))
    if outcome == "loaded":
        st.success(message, icon=":material/check:")
    elif outcome == "error":
        st.error(message, icon=":material/error:")

runs = state.runs()
if not runs:
    st.info("No runs yet: train one on the Train page, or upload a checkpoint above.", icon=":material/info:")
    st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
current = state.current_run(nets=False)
for i, run in enumerate(reversed(runs)):
    with st.container(border=True):
        picture, about = st.columns([1, 3])
        picture.image(run.preview() or visuals.samples_png(run, n=16), caption="samples", output_format="PNG")
        is_current = run is current
        about.markdown(f"### {run.name}{'  · current' if is_current else ''}\n{run.summary}  \n"
                       f"Status: **{run.meta.get('status', 'uploaded' if run.source == 'uploaded' else '?')}** · "
                       f"data: {run.data_description}")
        actions = about.container(horizontal=True)
        if actions.button("Make current", key=f"current_{i}", disabled=is_current):
            state.set_current(run)
            st.rerun()
        if actions.button("Train again with this setup", key=f"again_{i}", icon=":material/replay:",
                          help="Opens the Train page with this run's settings and length; the live changes made "
                               "while it trained are replayed at the same steps."):
            st.switch_page("pages/train.py", query_params=run.setup_link())
        with about:
            widgets.run_downloads(run, key=f"run_{i}")
if len(runs) >= 2:
    compare(list(reversed(runs)))  # newest first, as listed
