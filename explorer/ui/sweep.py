"""The Sweep page (pages/sweep.py): try a few settings of the Train form's setup at once, planned by Optuna
(explorer.app.sweeps), and see live which setting matters and by how much.

The sweep trains in background threads (explorer.app.sweep_runs.SweepRun); this page only reads the view it
publishes, from a fragment that polls every REFRESH_SECONDS while the sweep runs. One sweep per session at a time,
kept per server by the session's token, so a reload finds it again.
"""

from __future__ import annotations

import os
import time

import optuna
import pandas as pd
import streamlit as st

from .. import images
from ..app import share
from ..app.runs import Run
from ..app.store.settings import data_home
from ..app.sweep_runs import SweepRun, SweepView, slots_from_env, sweep_storage
from ..app.sweeps import FIGURES, SweepSpec
from ..app.vary import VARIABLE, parse_varies
from ..config import Budget, ConfigError
from ..data import DataError
from . import form, presenter, state

ss = st.session_state
REFRESH_SECONDS = 2.0
ROWS = 3  # settings varied at once, at most: more and a few trials cannot say which one mattered
NONE = "(none)"
DEFAULT_ROWS = (("g_lr", "1e-5:1e-2:log"), ("loss", "nonsaturating,hinge,lsgan"), (NONE, ""))
FIGURE_NAMES = {"fid": "Fréchet distance (lower is better)", "looks_real": "Looks real (higher is better)",
                "read_as": "Read as the digit (higher is better)"}
GALLERY_COLUMNS = 4
IMPORTANCE_TRIALS = 4  # Optuna's importance needs a few complete trials to say anything


def page() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st.title("Sweep: which setting matters?")
    form.init()  # the Train form's setup, or the default preset when it was never filled
    try:
        base, _ = form.read()
    except ConfigError as e:
        st.error(f"The Train form's setup cannot be used: {e}. Fix it on the Train page.", icon=":material/error:")
        return
    st.markdown(f"Starts from the **Train page's setup** (digits {', '.join(map(str, base.digits))}, "
                f"{base.loss} loss, preset {ss.get(form.k('preset'), share.DEFAULT_PRESET)}). "
                f"**Seed policy:** every trial uses the setup's seed {base.seed}, so trials differ only in the "
                f"varied settings.")
    token = state.session().token
    run = state.sweeps().get(token)
    running = run is not None and not run.view().done
    if running:
        if st.button("Stop the sweep", icon=":material/stop_circle:", key="sweep_stop"):
            run.stop()
    else:
        _setup(base, token)
        run = state.sweeps().get(token)
    if run is not None:
        every = REFRESH_SECONDS if not run.view().done else None
        st.fragment(_live, run_every=every)(token, every is not None)


def _setup(base, token: str) -> None:
    with st.form("sweep_setup", enter_to_submit=False):
        st.markdown("**Vary** up to three settings: a range `low:high` (`1e-5:1e-2:log` on a log scale), or "
                    "choices `a,b,c` (layer lists: `128;256,512`).")
        texts = []
        for i, (name, text) in enumerate(DEFAULT_ROWS):
            left, right = st.columns([1, 2])
            options = [NONE, *VARIABLE]
            pick = left.selectbox(f"Setting {i + 1}", options, index=options.index(name), key=f"sweep_name_{i}")
            values = right.text_input(f"Values of setting {i + 1}", value=text, key=f"sweep_values_{i}")
            if pick != NONE:
                texts.append(f"{pick}={values}")
        c1, c2, c3, c4 = st.columns(4)
        kind = c1.segmented_control("Each trial trains for", ("steps", "seconds"), default="steps", required=True,
                                    key="sweep_kind")
        amount = c1.number_input("How many", min_value=1, max_value=100_000, value=1500, key="sweep_amount")
        trials = c2.number_input("Trials", min_value=1, max_value=100, value=12, key="sweep_trials")
        figure = c3.selectbox("Optimise", list(FIGURES), format_func=FIGURE_NAMES.get, key="sweep_figure")
        prune = c4.toggle("Prune clearly worse trials", value=True, key="sweep_prune",
                          help="Stop a trial partway when it is worse than the median trial at the same point.")
        start = st.form_submit_button("Start the sweep", type="primary", icon=":material/play_arrow:")
    if not start:
        return
    try:
        varies = parse_varies(texts, base)
        slots = slots_from_env(os.environ)
        spec = SweepSpec(base, varies, Budget(kind, amount), int(trials), figure, bool(prune), slots,
                         sweep_storage(state.saver().store.url, data_home()), f"sweep-{token}-{time.time_ns()}", token)
        spec.check()
        state.sweeps().start(token, spec, state.registry())
    except ConfigError as e:
        st.error(f"**{e.field}**: {str(e).removeprefix(f'{e.field}: ')}. Nothing was started.",
                 icon=":material/error:")
        return
    except (DataError, ValueError) as e:
        st.error(f"{e}. Nothing was started.", icon=":material/error:")
        return
    st.rerun()


def _live(token: str, polling: bool) -> None:
    run = state.sweeps().get(token)
    if run is None:
        return
    view = run.view()
    if view.done and polling:
        st.rerun()  # the sweep ended meanwhile: the whole page again, with Start back
    plan = "a grid" if run.spec.grid is not None else "TPE"
    status = ("done" if view.done else "running") + f": {len(view.trials)} of {run.spec.trials} trials ({plan})"
    st.markdown(f"**Sweep {status}.** {view.pruned} trials pruned, saving about {view.saved_seconds:.0f} s of "
                f"training.")
    if view.error:
        st.error(f"The sweep stopped: {view.error}", icon=":material/error:")
    _figures(run, view)
    _table(view)
    _gallery(view)
    if view.best is not None:
        _best(run, view)


def _figures(run: SweepRun, view: SweepView) -> None:
    if not view.complete:
        return
    study, many = run.study, len(run.spec.varies) > 1
    plots = [("History", optuna.visualization.plot_optimization_history),
             ("Parallel coordinates", optuna.visualization.plot_parallel_coordinate),
             ("Slices", optuna.visualization.plot_slice)]
    if many and view.complete >= IMPORTANCE_TRIALS:
        plots.append(("Importance", optuna.visualization.plot_param_importances))
    for (title, plot), col in zip(plots, st.columns(2) * 2):
        try:
            fig = plot(study)
        except (ValueError, RuntimeError) as e:  # Optuna's "not enough trials" and the like
            col.caption(f"{title}: not yet ({e})")
            continue
        with col:
            presenter.chart(fig, key=f"sweep_fig_{title}")


def _table(view: SweepView) -> None:
    rows = [{"Trial": t.number, "Settings": ", ".join(f"{k}={v}" for k, v in t.params.items()),
             view.figure: t.value, "State": t.state, "Note": t.note} for t in view.trials]
    st.dataframe(pd.DataFrame(rows, columns=["Trial", "Settings", view.figure, "State", "Note"]), hide_index=True)


def _gallery(view: SweepView) -> None:
    if not view.grids:
        return
    st.subheader("Gallery")
    st.caption("Each trial's newest samples, from the same fixed latent batch.")
    for start in range(0, len(view.grids), GALLERY_COLUMNS):
        for col, grid in zip(st.columns(GALLERY_COLUMNS), view.grids[start:start + GALLERY_COLUMNS]):
            figure = "" if grid.value is None else f" · {view.figure} {grid.value:.3g}"
            col.image(images.grid_png(grid.images, nrow=8, scale=2), output_format="PNG", width="stretch",
                      caption=f"Trial {grid.number} · step {grid.step:,}{figure}")


def _best(run: SweepRun, view: SweepView) -> None:
    best = view.best
    st.subheader("Best trial")
    st.markdown(f"Trial {best.number}: " + ", ".join(f"`{k}={v}`" for k, v in best.params.items())
                + f" ({view.figure} {best.value:.4g}).")
    row = st.container(horizontal=True)
    if row.button("Use these settings", key="sweep_use", icon=":material/tune:",
                  help="The Train form gets the sweep's setup with these settings."):
        form.fill(run.spec.config(best.params))
        st.switch_page("pages/train.py")
    model = run.result.best_model if run.result is not None else None
    if row.button("Open in Latent space", key="sweep_open", type="primary", icon=":material/grid_view:",
                  disabled=model is None, help="The best trial's generator becomes your current model."
                  if model is not None else "Once the sweep is done."):
        state.add_run(Run(f"Sweep trial {best.number}", model.cfg, model.G, model.D, dict(model.meta)))
        st.switch_page("pages/latent.py")

