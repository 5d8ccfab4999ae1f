"""A student in a class, on the Train page: joining by the class link (`/train?class=CODE`) with a display name,
the notice that their runs are shown to the class, the challenge's fields set and marked, and a switch per run to
withdraw it from the board (explorer.app.classes; the board itself is explorer.ui.board)."""

from __future__ import annotations

import streamlit as st

from .. import presets
from ..app import classes as C
from ..app import form_values
from ..app.store import StoreError
from ..config import Budget, GANConfig
from . import form, state

ss = st.session_state
FIELDS = ("digits", "length_kind", "length_amount")  # the form fields a challenge sets (and the preset, if any)
SET_BY_CLASS = "Set by your class: every run in the challenge trains on the same digits for the same steps."


def code_in_link() -> str | None:
    """The class the address names, checked; None without one. A bad code is said plainly and ignored."""
    text = st.query_params.get("class")
    if not text:
        return None
    try:
        return C.parse_code(text)
    except ValueError as e:
        st.error(f"This class link does not work: {e}. Ask your teacher for the link again.",
                 icon=":material/link_off:")
        return None


def show() -> C.Challenge | None:
    """On the Train page, above the setup: join the linked class (or say why not), then the notice. Returns the
    class's challenge while this session is in a class that has one."""
    session = state.session()
    code = code_in_link()
    if code is not None and (session.classroom is None or session.classroom.code != code):
        _join(code)
    if session.classroom is None:
        return None
    try:
        record, challenge = state.classes().get(session.classroom.code)
    except StoreError as e:
        st.error(f"Your class cannot be shown: {e}.", icon=":material/groups:")
        return None
    _notice(record, challenge)
    if challenge is not None:
        _set_fields(challenge)
    return challenge


def _join(code: str) -> None:
    session, book = state.session(), state.classes()
    try:
        record, challenge = book.get(code)
        found = book.membership(code, session.token)  # a session brought back, or a second tab: no second name
    except StoreError as e:
        st.error(str(e)[:1].upper() + str(e)[1:] + ".", icon=":material/groups:")
        return
    if found is not None:
        session.classroom = found
        return
    if record.ended:
        st.info(f"Class {code} has ended, so nobody can join it now. You can still train here on your own.",
                icon=":material/groups:")
        return
    with st.container(border=True):
        st.markdown(f"#### Join class {code}")
        if challenge is not None:
            st.text(f"The challenge: {challenge.rule()}")
        with st.form("join_class", enter_to_submit=True):
            name = st.text_input("Your name on the class board", max_chars=C.MAX_NAME, key="class_name",
                                 help="Shown to your teacher (and maybe your class) beside your runs. At most "
                                      f"{C.MAX_NAME} characters.")
            joined = st.form_submit_button("Join the class", type="primary")
        if joined:
            try:
                session.classroom = book.join(code, session.token, name)
            except (ValueError, StoreError) as e:
                st.error(f"{str(e)[:1].upper()}{str(e)[1:]}.", icon=":material/error:")
                return
            ss.pop("class_fields_set", None)
            st.rerun()


def _notice(record, challenge: C.Challenge | None) -> None:
    session = state.session()
    with st.container(border=True):
        st.markdown(f"**Your runs are shown to your class** ({record.code}).")
        st.text(f"Your name on the board: {session.classroom.member.name}")
        if record.ended:
            st.caption("The class has ended: its board is frozen, and new runs are your own.")
        if challenge is not None:
            st.text(f"The challenge: {challenge.rule()}")
        if record.board_open:
            st.page_link("pages/board.py", label="See the class board", icon=":material/leaderboard:",
                         query_params={"class": record.code})
        _withdraw_switches()


def _withdraw_switches() -> None:
    """One switch per run of this session in the class: on the board, or withdrawn."""
    session = state.session()
    try:
        mine = state.classes().book.class_runs(session.token)
    except StoreError:
        return
    if not mine:
        return
    st.caption("On the board (switch one off to take it down):")
    for run_id, name, withdrawn in mine:
        st.toggle(name, value=not withdrawn, key=f"class_run_{run_id}", on_change=_withdraw, args=(run_id,))


def _withdraw(run_id: int) -> None:
    shown = bool(ss.get(f"class_run_{run_id}"))
    state.classes().book.withdraw(run_id, state.session().token, withdrawn=not shown)


def _set_fields(challenge: C.Challenge) -> None:
    """Once per class: the challenge's digits and steps into the form; with a preset to start from, the preset's
    setup first (else the setup the form holds, a link's included, stays)."""
    if ss.get("class_fields_set") == challenge.to_dict():
        return
    ss.class_fields_set = challenge.to_dict()
    budget = Budget("steps", challenge.steps)
    if challenge.preset:
        form.fill(presets.get(challenge.preset).config(digits=list(challenge.digits)), budget, challenge.preset)
        return
    values = form_values.form_values(GANConfig(digits=list(challenge.digits)), budget)
    ss.update({form.k(name): values[name] for name in FIELDS})


def enforce(challenge: C.Challenge | None, cfg: GANConfig, budget: Budget) -> tuple[GANConfig, Budget]:
    """What a run in the challenge trains on: its digits and steps, whatever the form held."""
    if challenge is None:
        return cfg, budget
    return cfg.replace(digits=list(challenge.digits)), Budget("steps", challenge.steps)


def locked_fields() -> tuple[str, ...]:
    """The form fields set by the class (disabled on the form)."""
    return FIELDS if ss.get("class_fields_set") and state.session().classroom is not None else ()

