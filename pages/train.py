"""Train: set up a GAN, train it in this browser session, and watch it learn."""

from urllib.parse import urlencode

import streamlit as st

from explorer.config import ConfigError
from explorer.data import DataError
from explorer.ui import classroom, form, live, presenter, state, teach

ss = st.session_state


def start_or_share(action: str) -> None:
    """Validate the form; start a run or show the setup's link. Errors appear next to the form."""
    try:
        cfg, budget = classroom.enforce(challenge, *form.read())
        lesson, fix_of = teach.lesson_of(cfg)
        if action == "start":
            state.start_job(cfg, budget, lesson, fix_of)
    except ConfigError as e:
        form.show_error(e)
        return
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    params = form.set_link(cfg, budget, lesson)
    if action == "start":
        ss.setup_next = False  # the setup folds away while the run goes: the charts take the screen
        st.rerun()
    base = (st.context.url or "/train").split("?")[0]
    st.success("This link opens the Train page with exactly this setup (the address bar shows it too, with your "
               "session's own token: share this link, not the address):")
    st.code(f"{base}?{urlencode(params)}", language=None, wrap_lines=True)


presenting = presenter.active()  # for a projector: the title, intro and controls fold away
if not presenting:
    st.title("Train a GAN")
    st.markdown(
        "Two networks play a game. The **generator G** turns random noise *z* into images of digits; "
        "the **discriminator D** sees real MNIST digits and G's fakes, and learns to tell them apart. "
        "Each gets better by beating the other, until G's digits look real.")

form.init()
warnings = form.apply_link()
if warnings:
    st.warning("This link had settings that could not be used; the preset's values stand in for them:\n"
               + "\n".join(f"- {w}" for w in warnings), icon=":material/link_off:")
teach.start_loaded()  # a lesson or its fix, picked by a button on the last run
challenge = classroom.show()  # with ?class=CODE: join the class; its challenge sets fields of the form
job = state.job()
active = job is not None and not job.done
if "setup_next" in ss:  # asked for by the last run (Start folds it, Reset opens it), before the expander is drawn
    ss.setup_open = ss.pop("setup_next")

if not presenting:
    with st.expander("Lessons: watch a GAN fail on purpose, then fix it", icon=":material/school:"):
        teach.picker(active)
ready = teach.ready(job)
action = None
if not (presenting and active):  # on a projector, a running run's setup only takes the screen from its charts
    with st.expander("Setup", expanded=job is None and not presenting, key="setup_open", on_change="rerun",
                     icon=":material/tune:"):
        form.preset_picker()
        teach.setup_note()
        form.planned_changes()
        action = form.render(active, classroom.locked_fields(), classroom.SET_BY_CLASS)
        if active:
            st.caption("A run is going: stop or reset it to start another.")
if ss.pop("quick_start", False) and not active:
    action = "start"
if action:
    start_or_share(action)

live.show(lesson_ready=ready)
