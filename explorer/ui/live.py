"""The Train page's live view: status, controls, charts, sample grid, film strip and results.

`show()` draws it as a fragment that reruns every second while the session's job runs, and not at
all while it is paused or over. It only reads `job.view()`, a consistent copy made under the
trainer's lock; the worker thread never touches Streamlit.
"""

from __future__ import annotations

import streamlit as st

from .. import images, quality
from ..app import form_values, live_charts, queue_wait
from ..app.jobs import Job, JobView
from ..config import RANGES, ConfigError
from ..losses import LOSSES
from ..progress import Status
from . import faults, presenter, push_view, state, teach, widgets

POLL_SECONDS = 1.0
ENDED = {Status.FINISHED: st.success, Status.STOPPED: st.warning, Status.DIVERGED: st.error,
         Status.COLLAPSED: st.error, Status.FAILED: st.error}


def show(lesson_ready: bool = False) -> None:
    job = state.job()
    if job is None:
        start = "press **Start this lesson**" if lesson_ready else "choose a setup above and press **Start training**"
        st.info(f"To train, {start}. The charts and samples appear here and update every second while the GAN "
                "trains.", icon=":material/play_circle:")
        return
    polling = not job.done and not job.paused
    st.fragment(_live, run_every=POLL_SECONDS if polling else None)(polling)


def _live(polling: bool) -> None:
    job = state.job()
    if job is None:
        return
    view = job.view()
    if view.done and (polling or not state.session().adopted):
        st.rerun()  # full rerun: the sidebar adopts the new generator, and polling stops
    _controls(job, view)  # in presenter mode too: a teacher pauses to explain, or stops, in front of the class
    push_view.step_mode(job, view, pushed=st.session_state.get("train_push", False))
    if presenter.active():
        _presented(job, view)
        return
    teach.now(job, view)
    if view.done:
        ENDED.get(view.status, st.info)(view.reason or f"{job.name} finished: {view.step:,} steps.")
        faults.offer_continue(job, view)
        _results(job)
    elif view.status != Status.QUEUED:
        _live_changes(job, view)
    teach.card(job, view)
    if not _started(view):
        return
    figures = live_charts.figures(view, job.cfg)
    _grid_and_loss(job, view, figures)
    _quality(job, view, figures)
    _more_charts(view, figures)
    _film_strip(job, view)


def _presented(job: Job, view: JobView) -> None:
    """Presenter mode, for a projector: what is happening now in one large sentence, right under the controls (a
    1280×720 screen shows it without scrolling), then the samples and the loss, the lesson, and the meter; the
    settings, results and film strip fold away."""
    teach.now(job, view)
    started = _started(view)  # once: it says when the run is waiting for its first steps
    if started:
        figures = live_charts.figures(view, job.cfg)
        _grid_and_loss(job, view, figures)
    if view.done:
        ENDED.get(view.status, st.info)(view.reason or f"{job.name} finished: {view.step:,} steps.")
    teach.card(job, view)
    if started:
        _quality(job, view, figures)
        _more_charts(view, figures)


def _started(view: JobView) -> bool:
    if view.history.get("step"):
        return True
    if view.status != Status.QUEUED:
        st.caption("Waiting for the first steps...")
    return False


def _controls(job: Job, view: JobView) -> None:
    status = view.status_text
    # Pause and Resume are two buttons, not one whose label flips: a widget that changes identity mid-rerun
    # can linger as a stale copy beside the new one, and a click on the shifted row is lost.
    # One row sized to its content (not fixed columns), so no label is cut short in a narrow window.
    row = st.container(horizontal=True, vertical_alignment="center")
    paused = view.status == Status.PAUSED
    if row.button("Pause", disabled=view.done or paused or view.status == Status.QUEUED):
        job.pause()
        job.wait_paused()  # the page then draws the paused step's own snapshot and reading
        st.rerun()
    if row.button("Resume", disabled=not paused):
        job.resume()
        st.rerun()
    if row.button("Stop", disabled=view.done):
        job.stop()
        job.wait(timeout=5)
        st.rerun()
    if row.button("Reset", help="Clear this run from the page (it stays on the Runs page)."):
        state.reset_job()
        st.session_state.setup_next = True  # back to setting up: the setup opens again
        st.rerun()
    row.markdown(f"**{job.name}** · Status: **{status}**", width="content")
    if view.status == Status.QUEUED:
        st.caption(f"{queue_wait.in_line_text(view.queue_position, view.wait)}. Every training slot on this server is "
                   f"busy; your run starts when one frees up.")
    st.progress(view.fraction, text=progress_text(view, job))
    push_view.slow_motion(job, view)


def progress_text(view: JobView, job: Job) -> str:
    """Where the run is; while it trains, its rate and the time left (paused: neither, as neither moves)."""
    budget = job.budget
    if view.status == Status.PAUSED:
        return f"Paused at step {view.step:,} · epoch {view.epoch:,} · {view.seconds:,.0f} s of training so far"
    if budget.kind == "steps":
        head = f"Step {view.step:,} of {int(budget.amount):,} · epoch {view.epoch:,}"
    elif budget.kind == "epochs":
        head = f"Epoch {view.epoch:,} of {int(budget.amount):,} · step {view.step:,}"
    else:
        head = f"{view.seconds:,.0f} of {budget.amount:g} s of training · step {view.step:,} · epoch {view.epoch:,}"
    # The rate over the last seconds of wall time, slow motion's waits included: a step's compute speed alone
    # would promise slow motion thousands of images a second and a finish in seconds.
    rate = view.wall_rate
    parts = [head, f"{rate.images if rate else view.images_per_second:,.0f} images/s"]
    if rate and view.pace:
        parts.append(f"{rate.steps:.1f} steps/s")
    eta = rate.seconds_left(budget.kind, budget.amount, view.progress) if rate else view.eta
    if eta is not None and not view.done:
        parts.append(f"about {_clock(eta)} left")
    return " · ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _live_changes(job: Job, view: JobView) -> None:
    ss = st.session_state
    for name, value in view.settings.items():
        ss.setdefault(f"live_{name}", value)
    with st.expander("Change while training: learning rates, loss, D steps"), st.form("live"):
        c1, c2, c3, c4 = st.columns(4)
        for col, net in ((c1, "g"), (c2, "d")):
            col.select_slider(f"{net.upper()} learning rate", form_values.lr_options(ss[f"live_{net}_lr"]),
                              key=f"live_{net}_lr", format_func=form_values.format_lr)
        c3.selectbox("Loss", list(LOSSES), format_func=lambda n: LOSSES[n].title, key="live_loss")
        lo, hi = RANGES["d_steps"]
        c4.number_input("D steps per G step", min_value=lo, max_value=hi, key="live_d_steps", step=1)
        if st.form_submit_button("Apply now"):
            try:
                job.update(**{name: ss[f"live_{name}"] for name in view.settings})
                ss.pop("live_error", None)
                st.toast("Applied: the next step uses the new settings.")
            except ConfigError as e:
                # Kept in the session: the live view redraws every second and would wipe a one-off message.
                ss.live_error = (f"Not applied. **{form_values.label(e.field)}**: "
                                 f"{str(e).removeprefix(e.field + ': ')}")
        if ss.get("live_error"):
            st.error(ss.live_error, icon=":material/error:")


def _grid_and_loss(job: Job, view: JobView, figures: dict) -> None:
    latest = view.snapshots[-1]
    big = presenter.active()
    left, right = st.columns([1, 1.4] if big else [2, 3])
    with left:
        pushed = st.toggle("What D tells G", key="train_push",
                           help="Paint each sample with the push D gives G (the gradient of G's loss on its pixels) "
                                "and write D's verdict under it.")
        png = push_view.grid_png(latest, scale=2, pushed=pushed)
        rows = (f"one row per digit ({', '.join(map(str, job.cfg.digits))})"
                if job.cfg.conditional else "the same 64 latent points every time")
        few = big and pushed and latest.push is not None  # presenter mode's overlay: the first rows, larger
        if few:
            rows = f"rows 1 to {push_view.PRESENTER_ROWS} of 8; {rows}"
        # in presenter mode about as tall as the chart beside it: both fit a projector's screen under "Now:"
        st.image(png, caption=f"Samples at step {latest.step:,}: {rows}", output_format="PNG",
                 width=push_view.PRESENTER_GRID_PX if few else presenter.GRID_PX if big else "stretch")
        if pushed:
            st.markdown(push_view.explanation(latest.probabilities))
        if not big:
            st.download_button("Download this grid (PNG)", png, f"{job.name}-step{latest.step}.png", "image/png",
                               on_click="ignore", key="dl_grid", icon=":material/download:")
    with right:
        presenter.chart(figures["chart_loss"], key="chart_loss")
        st.caption("D's loss falls when it tells real from fake; G's loss falls when its fakes fool D. "
                   "In a healthy run neither wins for long.")


def _more_charts(view: JobView, figures: dict) -> None:
    c1, c2 = st.columns(2)
    with c1:
        presenter.chart(figures["chart_d"], key="chart_d")
        if LOSSES[view.settings["loss"]].probabilities:
            st.caption("D(x) near 1 and D(G(z)) near 0: D is winning. Both near 0.5: the fakes look real to D.")
    with c2:
        presenter.chart(figures["chart_dyn"], key="chart_dyn")
        st.caption("How hard each network is being pushed (gradient norm), and its step size (learning rate).")


def _film_strip(job: Job, view: JobView) -> None:
    steps = [s.step for s in view.snapshots]
    if len(steps) < 2:
        return
    ss = st.session_state
    key = f"film_{job.name}"  # a fresh slider for each run
    st.subheader("Film strip")
    following = False
    if not view.done:
        following = st.toggle("Follow training (turn off to scrub back)", value=True, key="film_follow")
    at_end = view.done and ss.get("film_follow", True) and not ss.get(f"{key}_final")
    if following or at_end or ss.get(key) not in steps:
        ss[key] = steps[-1]
    if view.done:
        ss[f"{key}_final"] = True
    step = st.select_slider("Scrub through training", steps, key=key, format_func=lambda s: f"step {s:,}",
                            disabled=following)
    frame = view.snapshots[steps.index(step)]
    c1, c2 = st.columns([2, 3])
    c1.image(push_view.grid_png(frame), caption=f"Snapshot at step {step:,}", output_format="PNG")
    snaps = list(view.snapshots)
    c2.download_button("Download the progression (animated GIF)", lambda: _gif(snaps), f"{job.name}.gif",
                       "image/gif", on_click="ignore", key="dl_gif", icon=":material/movie:")
    c2.caption(f"{len(steps)} snapshots saved, from step 0 to step {steps[-1]:,}.")


def _quality(job: Job, view: JobView, figures: dict) -> None:
    """The quality meter: read as / looks real and variety, Fréchet distance, the class histogram, D's outputs."""
    if not view.readings:
        if view.meter_note:
            st.caption(view.meter_note)
        return
    last = view.readings[-1]
    st.subheader("Quality meter")
    c1, c2 = st.columns(2)
    with c1:
        presenter.chart(figures["chart_share"], key="chart_share")
        presenter.chart(figures["chart_classes"], key="chart_classes")
        warning = quality.collapse_warning(last, job.cfg.digits)
        if warning:
            st.warning(warning, icon=":material/warning:")
    with c2:
        presenter.chart(figures["chart_fid"], key="chart_fid")
        presenter.chart(figures["chart_dhist"], key="chart_dhist")
    if not presenter.active():
        st.caption(f"Every few seconds of training, {len(last.d_fake)} samples from fixed noise are scored"
                   f"; the charts' newest reading is from step {last.step:,} (a pause takes one at once). "
                   "A sample is read as a digit when a digit reader trained to read as people do (noise and grey "
                   "backgrounds included) reads it so; it looks like a real one when a classifier trained on clean "
                   "digits alone is 90% sure and its features lie where real digits' do; variety compares "
                   "the samples' pixel spread with real digits'. "
                   "The Fréchet distance compares the classifier's features of samples and real digits; the "
                   "dotted floor is what real digits score. When D's two histograms sit apart, D tells real from "
                   "fake easily; when they overlap, it cannot.")


def _gif(snapshots) -> bytes:
    return images.gif_bytes([images.grid(s.images, nrow=8, scale=2) for s in snapshots])


def _results(job: Job) -> None:
    run = next((r for r in state.runs() if r.source == "trained" and r.name == job.name), None)
    if run is None:
        return
    current = state.current_run(nets=False)
    if run is current:
        st.markdown(f"**{run.name}** is now your current generator: explore it on the latent pages, or download it.")
    else:
        st.markdown(f"**{run.name}** is ready. The latent pages still show **{current.name}**, which you were "
                    "exploring; switch when you like.")
        if st.button(f"Explore {run.name} on the Latent space page", key="explore_new", icon=":material/grid_view:"):
            state.set_current(run)
            st.switch_page("pages/latent.py")
    widgets.run_downloads(run, key="live")
    st.divider()  # room for the sample grid's own toolbar (fullscreen), which sits just above the picture
