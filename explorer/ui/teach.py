"""The Train page's teaching parts: the failure-mode lessons, the lesson card, and "what is happening now".

A lesson starts like a quick start: its setup fills the form and the run begins at once. The run keeps
the lesson's name (`Job.lesson`), so the card beside the charts says what to watch for; "Try the fix"
starts a second run that differs in exactly the lesson's fix settings, for the Runs page to compare.
"""

from __future__ import annotations

import streamlit as st

from .. import diagnosis, lessons
from ..app import form_values
from ..app.jobs import Job, JobView
from ..config import ConfigError, GANConfig
from ..progress import Status
from . import form, presenter, state, widgets

ss = st.session_state


def picker(active: bool) -> None:
    """One card per lesson, each with a button that loads and starts it."""
    st.caption("Each lesson makes a GAN fail in one known way on purpose, in a minute or two. Run it, watch "
               "the charts, then try the fix.")
    cards("Run this lesson", "lesson_", disabled=active, help="Stop the current run first." if active else None,
          on_click=lambda lesson: load(lesson, lesson.config()))


def cards(label: str, key: str, on_click=None, **button) -> lessons.Lesson | None:
    """One card per lesson (title, summary, a button); the lesson whose button was pressed, if any."""
    picked = None
    for col, lesson in zip(st.columns(len(lessons.LESSONS)), lessons.LESSONS.values()):
        with widgets.card(col, lesson.title, lesson.summary):
            if st.button(label, key=f"{key}{lesson.name}", width="stretch", on_click=on_click,
                         args=(lesson,) if on_click else None, **button):
                picked = lesson
    return picked


def load(lesson: lessons.Lesson, cfg: GANConfig, fix_of: str = "") -> None:
    """A button callback: queue a lesson's setup (or its fix) for the Train page's next full run.

    Not into the form here: "Try the fix" runs inside the live fragment, where the form is not drawn, so the
    browser still holds the form's old values, and its next request (the fragment's timer) would put them back
    before the page starts the run. `start_loaded` fills the form in the run that draws it."""
    ss.lesson_load = (lesson.name, cfg, fix_of)


def start_loaded() -> None:
    """On the Train page before the form is drawn: fill it with a lesson queued by `load`, and have it start."""
    queued = ss.pop("lesson_load", None)
    if queued is None:
        return
    name, cfg, fix_of = queued
    form.fill(cfg, lessons.get(name).budget, "default")
    ss.lesson_pick, ss.lesson_fix_of = name, fix_of
    ss.quick_start = True


def form_lesson() -> tuple[lessons.Lesson | None, bool]:
    """The lesson whose setup (or fix, then True) the form holds right now; (None, False) for any other setup."""
    try:
        cfg, _ = form.read()
    except ConfigError:
        return None, False
    name, fix_of = lesson_of(cfg)
    return (lessons.get(name), bool(fix_of)) if name else (None, False)


def ready(job: Job | None) -> bool:
    """Before its run, the card of the lesson the form holds (a lesson link opens here): what it shows, what to
    watch, and one click to start; not the fix, which would give the lesson away before the class saw it fail.
    It stands above the setup, so presenter mode, which folds the setup away, still shows it. True when shown."""
    lesson, fixed = form_lesson()
    if lesson is None or job is not None:
        return False
    with st.container(border=True):
        st.markdown(f"#### Lesson: {lesson.title}" + (" — the fix" if fixed else ""))
        st.markdown(lesson.summary)
        if fixed:
            st.markdown(lesson.fix_text)
        else:
            st.markdown(f"**What to watch:** {lesson.watch}")
        st.button("Start the fix" if fixed else "Start this lesson", key="start_lesson", type="primary",
                  icon=":material/play_arrow:", on_click=_start_from_card)
    return True


def _start_from_card() -> None:
    ss.quick_start = True


def setup_note() -> None:
    """Under the preset picker: which lesson set the form up, so the preset box's "default" does not mislead."""
    lesson, fixed = form_lesson()
    if lesson is not None:
        changed = "; ".join(f"{form_values.label(k).lower()} {_show(v)}" for k, v in lesson.settings.items())
        st.caption(f"Set up by the lesson **{lesson.title}**{' (its fix)' if fixed else ''}: the default preset "
                   f"with {changed}" + (f"; then {_fix_words(lesson)}" if fixed else "") + ".")


def _fix_words(lesson: lessons.Lesson) -> str:
    return ", ".join(f"{form_values.label(k).lower()} {_show(v)}" for k, v in lesson.fix.items())


def lesson_of(cfg: GANConfig) -> tuple[str, str]:
    """(lesson, fix_of) for a run about to start: the picked lesson while the form still holds its setup
    or its fix exactly; ("", "") once anything else changed."""
    name = ss.get("lesson_pick") or ""
    if name not in lessons.LESSONS:
        return "", ""
    lesson = lessons.get(name)
    if cfg == lesson.config():
        return name, ""
    if cfg == lesson.fixed_config():
        return name, ss.get("lesson_fix_of") or "earlier run"
    return "", ""


def card(job: Job, view: JobView) -> None:
    """While the lesson runs: what it shows and why, its fix, and the button that tries it (the card before the run
    keeps the fix back: `ready`)."""
    if not job.lesson:
        return
    lesson = lessons.get(job.lesson)
    with st.container(border=True):
        if job.fix_of:
            st.markdown(f"#### Lesson: {lesson.title} — the fix")
            st.markdown(lesson.fix_text)
            st.markdown(f"Compare it with **{job.fix_of}**, the run that failed: on the Runs page, pick both.")
            st.page_link("pages/runs.py", label="Compare the two runs", icon=":material/compare_arrows:")
            return
        st.markdown(f"#### Lesson: {lesson.title}")
        st.markdown(lesson.watch)
        if not lesson.fix:
            st.caption("Nothing to fix: this is the run the other lessons break. Compare them on the Runs page.")
            return
        st.markdown(f"**The fix:** {lesson.fix_text}")
        changes = ", ".join(f"{form_values.label(k).lower()} → {_show(v)}" for k, v in lesson.fix.items())
        if st.button(f"Try the fix ({changes})", key="try_fix", type="primary", icon=":material/build:",
                     help="Stops this run and starts one that differs only in these settings.",
                     on_click=_try_fix, args=(job, lesson)):
            st.rerun()  # the whole page, which starts the fix (this card draws inside the live fragment)


def _try_fix(job: Job, lesson: lessons.Lesson) -> None:
    """Stop the lesson's run and keep it (for the comparison), then load the fix."""
    job.stop()
    job.wait(timeout=10)
    state.sync()  # the stopped run joins the session's runs
    load(lesson, lesson.fixed_config(), fix_of=job.name)


def _show(value) -> str:
    if isinstance(value, float):
        return form_values.format_lr(value)
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def now(job: Job, view: JobView) -> None:
    """The "what is happening now" caption. In presenter mode, for a class: the headline and one plain sentence in
    large type (the numbers behind it are for the student at the controls).

    Once the run is over it stays, as what the run was doing at its end: a run that the trainer's guard stops
    (divergence, collapse) ends right at the moment a class came to see.
    """
    if view.status == Status.QUEUED:
        return
    d = diagnosis.diagnose(view.history, view.readings, job.cfg.digits, view.settings.get("loss", job.cfg.loss),
                           view.changes)
    when = "How it ended" if view.done else "Paused" if view.status == Status.PAUSED else "Now"
    if presenter.active():  # one heading: two would push the grid and the chart under a projector's fold
        st.markdown(f"### {when}: {d.headline}. {d.plain or d.detail}")
    else:
        st.markdown(f"**{when}: {d.headline}.** {d.detail}")
