"""Home's "Start a class": a teacher sets an optional challenge and gets the class's two links (explorer.app.classes).
The board link holds the key, shown here once: the server keeps only its hash."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from .. import presets
from ..app.classes import FIGURES, Challenge
from ..app.store import StoreError
from ..config import ConfigError
from . import state

ss = st.session_state
DEFAULT_STEPS = 2000
NO_PRESET = ""


def show() -> None:
    with st.expander("Start a class", icon=":material/groups:", expanded="class_links" in ss):
        st.markdown("Students join with one link and train their own GANs; your board shows every run live, for "
                    "the projector. A **challenge** gives everyone the same digits and the same number of steps, "
                    "and ranks the runs.")
        if "class_links" in ss:
            _links(*ss.class_links)
        with st.form("start_class", enter_to_submit=False):
            challenge_on = st.toggle("Set a challenge", value=True, key="class_challenge")
            left, mid, right = st.columns(3)
            digits = left.multiselect("Digits", list(range(10)), default=[8], key="class_digits")
            steps = mid.number_input("Steps per run", min_value=10, max_value=100_000, value=DEFAULT_STEPS, step=100,
                                     key="class_steps",
                                     help="A number of steps, not seconds: thirty runs share the server, so a "
                                          "run's speed depends on who else trains. Steps give every student the "
                                          "same training.")
            preset = right.selectbox("Start from the preset", [NO_PRESET, *presets.PRESETS], key="class_preset",
                                     format_func=lambda p: p or "(the student's own setup)")
            figure = left.selectbox("The winner has", list(FIGURES), key="class_figure",
                                    format_func=lambda f: f"the {'lowest' if FIGURES[f].lower_wins else 'highest'} "
                                                          f"{FIGURES[f].title}")
            board_open = st.toggle("Students may see the board (read-only)", value=False, key="class_board_open")
            started = st.form_submit_button("Start the class", type="primary")
        if started:
            _start(challenge_on, digits, int(steps), preset, figure, board_open)


def _start(challenge_on: bool, digits, steps: int, preset: str, figure: str, board_open: bool) -> None:
    try:
        challenge = Challenge.from_dict({"digits": [int(d) for d in digits], "steps": steps, "preset": preset,
                                         "figure": figure}) if challenge_on else None
        code, key = state.classes().start(challenge, board_open)
    except ConfigError as e:
        st.error(f"The challenge: {e}.", icon=":material/error:")
        return
    except StoreError as e:
        st.error(f"No class was started: {e}.", icon=":material/error:")
        return
    ss.class_links = (code, key)
    st.rerun()


def _links(code: str, key: str) -> None:
    base = (st.context.url or "").split("?")[0].rstrip("/")
    root = base.rsplit("/", 1)[0] if base.endswith(("/home", "/train", "/board")) else base
    st.success(f"Class {code} is ready.", icon=":material/groups:")
    st.markdown("**The student link**: put it on the projector, or read the code aloud.")
    st.code(f"{root}/train?{urlencode({'class': code})}", language=None)
    st.markdown("**Your board link**: keep it to yourself. It holds the class's key, which lets you hide runs and "
                "end the class; it is shown only here, now (the server keeps only a hash of it).")
    st.code(f"{root}/board?{urlencode({'class': code, 'key': key})}", language=None)
    st.page_link("pages/board.py", label="Open the board", icon=":material/leaderboard:",
                 query_params={"class": code, "key": key})
