"""The class board through the pages (AppTest): Home's "Start a class", the class link on the Train page (a name,
the notice, the challenge's fields set and locked, the withdraw switch), and the board for its teacher and, when
allowed, its students; bad codes and keys get plain messages."""

from __future__ import annotations

import pytest
from apptest_support import TINY, app, button, close_services, rerun_until, session, start

from explorer.app.classes import Challenge
from explorer.ui import state

pytestmark = pytest.mark.usefixtures("roomy_registry")
SMALL = {k: v for k, v in TINY.items() if k not in ("digits", "steps")}  # the challenge sets those


def texts(at) -> str:
    return "\n".join(t.value for t in at.text)


def warnings_and_errors(at) -> str:
    return " ".join(e.value for e in [*at.error, *at.info, *at.warning])


def new_class(steps: int = 30, board_open: bool = False, **challenge) -> tuple[str, str]:
    return state.classes().start(Challenge.from_dict({"digits": [3], "steps": steps, **challenge}), board_open)


def joined(code: str, name: str = "Ada", **params):
    at = app("pages/train.py", **{"class": code, **params})
    at.text_input(key="class_name").input(name)
    return button(at, "Join the class").click().run()


def saved() -> None:
    """One round of the run store's writer, as every two seconds on a server."""
    state.saver().save_now()


def test_home_starts_a_class_and_gives_both_links():
    at = app("pages/home.py")
    at.multiselect(key="class_digits").set_value([8])
    at.number_input(key="class_steps").set_value(2000)
    at = button(at, "Start the class").click().run()
    assert not at.exception
    code, key = at.session_state["class_links"]
    shown = [c.value for c in at.code]
    assert any(s.endswith(f"/train?class={code}") for s in shown)
    assert any(s.endswith(f"/board?class={code}&key={key}") for s in shown)
    record, challenge = state.classes().get(code)
    assert challenge == Challenge((8,), 2000) and state.classes().book.is_teacher(code, key)


def test_a_bad_or_unknown_class_code_gets_a_plain_message():
    for code, words in (("12345", "not a class code"), ("HJKMNP", "here is no class HJKMNP")):
        at = app("pages/train.py", **{"class": code})
        assert not at.exception and words in warnings_and_errors(at)
        assert session(at).classroom is None and button(at, "Start training")  # the page still works
        board = app("pages/board.py", **{"class": code})
        assert not board.exception and words in warnings_and_errors(board)


def test_a_student_joins_once_and_the_challenge_sets_the_form():
    code, _ = new_class(steps=40)
    at = joined(code, " <b>Ada</b>\u202e ", batch_size="48")
    assert not at.exception
    assert session(at).classroom.code == code and session(at).classroom.member.name == "<b>Ada</b>"
    assert "Your name on the board: <b>Ada</b>" in texts(at)  # as text, never Markdown or HTML
    assert not any("<b>Ada" in m.value for m in at.markdown)
    assert any("Your runs are shown to your class" in m.value for m in at.markdown)
    assert at.session_state["setup_digits"] == ["3"] and at.session_state["setup_length_amount"] == 40
    assert at.session_state["setup_batch_size"] == 48  # the link's own setup stays: the challenge sets its fields
    assert at.pills(key="setup_digits").disabled and at.segmented_control(key="setup_length_kind").disabled
    assert at.number_input(key="setup_length_amount").disabled and not at.number_input(key="setup_batch_size").disabled
    assert any("Set by your class" in c.value for c in at.caption)
    # A reload of the same session: no second name asked
    again = app("pages/train.py", **{"class": code, "s": at.query_params["s"]})
    assert session(again).classroom.member == session(at).classroom.member and "Join the class" not in [
        b.label for b in again.button]


def test_a_run_started_in_the_class_trains_the_challenge_and_can_be_withdrawn():
    code, key = new_class(steps=30)
    at = joined(code, "Ada", **SMALL)
    at.session_state["setup_length_amount"] = 5000  # even if the form were changed, the challenge's steps hold
    at = start(at)
    job = session(at).job
    assert job.spec.class_code == code and job.budget.amount == 30 and job.cfg.digits == [3]
    [(run_id, name, withdrawn)] = state.classes().book.class_runs(session(at).token)  # saved at Start
    assert at.toggle(key=f"class_run_{run_id}").value and (name, withdrawn) == ("Run 1", False)
    rerun_until(at, "finished")
    saved()
    [row] = state.classes().book.board(code)
    assert (row.student, row.run, row.status, row.step) == ("Ada", "Run 1", "finished", 30)
    at.run()
    toggle = at.toggle(key=f"class_run_{row.run_id}")
    assert toggle.value and toggle.label == "Run 1"
    at = toggle.set_value(False).run()
    assert state.classes().book.board(code) == []
    at.toggle(key=f"class_run_{row.run_id}").set_value(True).run()
    assert len(state.classes().book.board(code)) == 1


def test_the_board_for_its_teacher_and_its_students():
    code, key = new_class(steps=30)
    ada = start(joined(code, "<img src=x onerror=1>", **SMALL))  # the text box takes at most 24 characters
    rerun_until(ada, "finished")
    saved()
    closed = app("pages/board.py", **{"class": code})
    assert "is for its teacher for now" in warnings_and_errors(closed) and not closed.dataframe
    wrong = app("pages/board.py", **{"class": code, "key": "guess"})
    assert "key is not class" in warnings_and_errors(wrong) and not wrong.expander

    board = app("pages/board.py", **{"class": code, "key": key})
    assert not board.exception and any(e.label == "Teacher" for e in board.expander)
    assert "<img src=x onerror=1> · Run 1" in texts(board)  # the name as text
    assert not any("<img" in m.value for m in board.markdown)
    [table] = board.dataframe
    assert list(table.value["Student"]) == ["<img src=x onerror=1>"] and list(table.value["Rank"]) == [1]
    assert any("Leaderboard" in m.value and "lowest Fréchet distance" in m.value for m in board.markdown)

    board = button(board, "Spotlight").click().run()
    assert any(s.value == "Spotlight" for s in board.subheader) and board.session_state["board_spot"]
    assert board.title[0].value == f"Class {code}"
    board = button(board, "Hide this run").click().run()
    assert state.classes().book.board(code)[0].hidden
    board.toggle(key="board_open_switch").set_value(True).run()
    student_view = app("pages/board.py", **{"class": code})
    assert not student_view.expander and not any(b.label == "Spotlight" for b in student_view.button)
    assert "No runs yet" in warnings_and_errors(student_view)  # the hidden run is not shown to the class
    button(board, "Show this run again").click().run()
    student_view = app("pages/board.py", **{"class": code})
    assert "<img src=x onerror=1> · Run 1" in texts(student_view)
    assert not any(b.label in ("Hide this run", "Open in Latent space") for b in student_view.button)


def test_open_in_latent_space_copies_the_run_into_the_teachers_session():
    code, key = new_class(steps=30)
    ada = start(joined(code, "Ada", **SMALL))
    rerun_until(ada, "finished")
    saved()
    student_run = session(ada).runs[-1]
    board = app("pages/board.py", **{"class": code, "key": key})
    board = button(button(board, "Spotlight").click().run(), "Open in Latent space").click().run()
    teacher = session(board)
    assert teacher is not session(ada) and teacher.current.name == "Ada: Run 1 (a copy)"
    assert teacher.current is not student_run and teacher.current.key != student_run.key
    assert session(ada).runs[-1] is student_run and student_run.name == "Run 1"


def test_an_ended_class_keeps_its_board_and_takes_no_one_new():
    code, key = new_class(steps=30)
    start(joined(code, "Ada", **SMALL))
    board = app("pages/board.py", **{"class": code, "key": key})
    board = button(board, "End it now").click().run()
    assert state.classes().get(code)[0].ended
    assert any("has ended: the board is frozen" in c.value for c in board.caption)
    late = app("pages/train.py", **{"class": code})
    assert "has ended" in warnings_and_errors(late) and session(late).classroom is None


def test_a_session_brought_back_after_a_restart_is_in_its_class_again():
    code, _ = new_class(steps=30)
    ada = start(joined(code, "Ada", **SMALL))
    token = session(ada).token
    close_services()  # a server restart: the session is in the run store only
    back = app("pages/runs.py", s=token)  # not the class link: any page of the session
    assert session(back) is not session(ada) and session(back).classroom.code == code
    assert session(back).classroom.member.name == "Ada"
