"""Train: set up a GAN, train it in this browser session, and watch it learn."""

from urllib.parse import urlencode

import streamlit as st

from explorer.config import ConfigError
from explorer.data import DataError
from explorer.ui import form, live, presenter, state, teach


def start_or_share(action: str) -> None:
    """Validate the form; start a run or show the setup's link. Errors appear next to the form."""
    try:
        cfg, budget = form.read()
        if action == "start":
            state.start_job(cfg, budget, *teach.lesson_of(cfg))
    except ConfigError as e:
        form.show_error(e)
        return
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    params = form.set_link(cfg, budget)
    if action == "start":
        st.rerun()
    url = f"{st.context.url or '/train'}?{urlencode(params)}"
    st.success("This link opens the Train page with exactly this setup (the address bar shows it too):")
    st.code(url, language=None, wrap_lines=True)


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
job = state.job()
active = job is not None and not job.done
presenting = presenter.active()  # controls collapsed, for a projector

with st.expander("Lessons: watch a GAN fail on purpose, then fix it", icon=":material/school:"):
    teach.picker(active)
with st.expander("Setup", expanded=job is None and not presenting, icon=":material/tune:"):
    form.preset_picker()
    action = form.render(active)
    if active:
        st.caption("A run is going: stop or reset it to start another.")
    if st.session_state.pop("quick_start", False) and not active:
        action = "start"
    if action:
        start_or_share(action)

live.show()
