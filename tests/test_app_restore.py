"""After a server restart, through the pages (AppTest): a reload of a session's `?s=` link finds its runs in the run
store, its training run stopped by the restart with "Continue training from step N", which trains on; a store that
cannot be opened stops every page with its reason, and the pages warn while progress is not being saved."""

from __future__ import annotations

import pytest
from apptest_support import TINY, app, button, close_services, rerun_until, session, start

from explorer.app import threads
from explorer.app.store.schema import WeightsRow
from explorer.ui import state
from tiny import wait_until

pytestmark = pytest.mark.usefixtures("roomy_registry")


def restart() -> None:
    """A clean stop of the app's services (jobs stopped between steps, the last round saved), then a fresh server's
    (made again on their next use)."""
    close_services()


def test_a_reload_after_a_restart_finds_the_runs_and_continues_the_interrupted_one(monkeypatch):
    monkeypatch.setattr(threads, "FIRST_WEIGHTS_SECONDS", 0.0)
    finished = app("pages/train.py", **TINY)
    start(finished)
    rerun_until(finished, "finished")
    token = finished.query_params["s"]
    at = app("pages/train.py", **{**TINY, "steps": "100000", "s": token})
    assert session(at) is session(finished)
    start(at)
    job = session(at).job
    wait_until(lambda: job.last_weights is not None and job.view().step >= 5, 30, "training and a weights copy")
    restart()

    back = app("pages/train.py", s=token)
    restored = session(back)
    # Run 1 finished between two of the saver's rounds, and Run 2 joins the runs as its stopped self
    assert restored is not session(at) and [r.name for r in restored.runs] == ["Run 1", "Run 2"]
    text = " ".join(m.value for m in [*back.info, *back.warning, *back.success])
    assert "Stopped by a server restart at step" in text, text
    go_on = next(b for b in back.button if b.label.startswith("Continue training from step "))
    step = int(go_on.label.rsplit(" ", 1)[1].replace(",", ""))
    assert step >= 5
    go_on.click().run()
    carried = session(back).job
    assert carried.name == "Run 3 (continues Run 2)"
    wait_until(lambda: carried.view().step > step + 2, 30, "the continuation to train on")
    assert button(back, "Stop").click().run()
    assert carried.wait(30)


def test_a_store_that_cannot_be_opened_stops_every_page_with_its_reason(monkeypatch):
    restart()
    monkeypatch.setenv("GAN_EXPLORER_DATABASE_URL", "postgresql://teacher:s3cret-pw@127.0.0.1:9/runs")
    try:
        for page in ("pages/home.py", "pages/train.py"):
            at = app(page)
            text = " ".join(e.value for e in at.error) + " ".join(t.value for t in at.text)
            assert "This server cannot start" in text and "cannot be reached" in text, text
            assert "s3cret-pw" not in text and "Start training" not in [b.label for b in at.button]
            assert not at.exception
    finally:
        monkeypatch.delenv("GAN_EXPLORER_DATABASE_URL")
    assert not app("pages/home.py").error  # fixed: the next page works, no restart needed


def test_the_pages_warn_while_progress_is_not_being_saved():
    at = app("pages/home.py")
    state.saver().problem = "the run store at sqlite:///x failed (disk I/O error)"
    try:
        warnings = " ".join(w.value for w in at.run().warning)
        assert "Your progress is not being saved right now" in warnings and "disk I/O error" in warnings
    finally:
        state.saver().problem = ""


def test_a_restored_run_whose_weights_were_altered_is_named_on_the_page_and_forgotten():
    finished = app("pages/train.py", **TINY)
    start(finished)
    rerun_until(finished, "finished")
    token = finished.query_params["s"]
    restart()
    store = state.saver().store
    run_id = store.runs_of(token)[-1].id
    with store._db() as db:  # the weights row altered on disk while the server was down
        row = db.query(WeightsRow).filter_by(run_id=run_id).one()
        row.data = bytes(row.data[:-8]) + b"\x00" * 8

    back = app("pages/latent.py", s=token)  # the page that draws the current run's generator
    assert not back.exception
    warnings = " ".join(w.value for w in back.warning)
    assert "Run 1 could not be brought back from the run store" in warnings and "checksum" in warnings, warnings
    assert session(back).runs == [] and session(back).current.source == "demo"  # as on any first visit
    assert not back.run().exception and not back.warning  # said once
