"""The Streamlit app through AppTest: every page renders, bad input is refused, tiny runs train from the page.

AppTest does not run fragments on a timer, so the tests rerun the app until the status line says what
they wait for. Training happens in real worker threads owned by the process-wide registry, which all
AppTest sessions here share, as browser sessions share one server.
"""

import re
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import checkpoints, training
from explorer.config import ConfigError
from explorer.nets import build
from explorer.training import Budget
from explorer.ui import setup, share, state
from tiny import tiny

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAGES = ["pages/home.py", "pages/train.py", "pages/latent.py", "pages/interpolation.py", "pages/runs.py"]
TINY = {"preset": "default", "digits": "3", "steps": "30", "g_layers": "32", "d_layers": "32", "batch_size": "16",
        "latent_dim": "8", "snapshot_every": "10"}


@pytest.fixture(autouse=True, scope="module")
def roomy_registry():
    """A fresh registry with room for the two-session test; torch threads restored afterwards."""
    threads = torch.get_num_threads()
    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_EXPLORER_MAX_JOBS", "4")
    state.registry.clear()
    yield
    state.registry().close()
    state.registry.clear()
    mp.undo()
    torch.set_num_threads(threads)


def app(page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if page:
        at.query_params.update(params)
        at.switch_page(page).run()
    return at


def status(at: AppTest) -> str:
    lines = [m.value for m in at.main.markdown if "Status:" in m.value]
    return lines[0] if lines else ""


def rerun_until(at: AppTest, word: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while word not in status(at):
        assert time.monotonic() < deadline, f"status never said {word!r}; last: {status(at)!r}"
        time.sleep(0.2)
        at.run()
    return status(at)


def wait_for_steps(at: AppTest, timeout: float = 30) -> None:
    """Until the session's job has trained a step (its first quality reading comes before that)."""
    job, deadline = at.session_state["job"], time.monotonic() + timeout
    while job.trainer.step_count == 0:
        assert time.monotonic() < deadline, "the job never trained a step"
        time.sleep(0.05)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def start(at: AppTest) -> AppTest:
    return button(at, "Start training").click().run()


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


# ---- every page ---------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_shared_sidebar(page):
    at = app(page)
    assert not at.exception, at.exception
    assert at.title, f"{page} has no title"
    assert at.sidebar.subheader[0].value == "Current generator"
    assert "embedded MNIST" in " ".join(c.value for c in at.sidebar.caption)


def test_home_explains_the_game_and_offers_quick_starts():
    at = app()
    assert at.title[0].value == "GAN Explorer"
    assert [i.captions[0] for i in at.image][0].startswith("Real MNIST digits")
    assert sum(b.label == "Train it" for b in at.button) == len(share.QUICK_STARTS)


# ---- the Train page: bad setups start nothing ----------------------------------------------------
def test_no_digit_picked_shows_the_engine_message_and_starts_nothing():
    at = app("pages/train.py", **TINY)
    at.pills[0].set_value([])
    start(at)
    assert "Digits" in errors(at) and "pick at least one digit" in errors(at)
    assert "job" not in at.session_state and not status(at)
    assert "Choose a setup above" in at.info[0].value


def test_malformed_layer_sizes_show_the_field_and_start_nothing():
    at = app("pages/train.py", **TINY)
    at.text_input(key="setup_g_units").set_value("256, abc")
    start(at)
    assert "Generator layers" in errors(at) and "'abc' is not a whole number" in errors(at)
    assert "job" not in at.session_state


def test_layer_count_and_sizes_must_agree():
    at = app("pages/train.py", **TINY)
    at.number_input(key="setup_d_n_layers").set_value(3)
    at.text_input(key="setup_d_units").set_value("64, 32")
    start(at)
    assert "Discriminator layers" in errors(at) and "3 hidden layers need 3 sizes" in errors(at)
    assert "job" not in at.session_state


def test_a_batch_larger_than_the_data_is_refused():
    at = app("pages/train.py", **{**TINY, "batch_size": "4000"})
    start(at)
    assert "Batch size" in errors(at) and "larger than" in errors(at)
    assert "job" not in at.session_state


def test_a_garbage_link_warns_and_falls_back():
    at = app("pages/train.py", preset="nope", digits="3,x", steps="-5", g_lr="7", foo="bar")
    assert not at.exception
    warning = at.warning[0].value
    for bad in ("preset", "steps", "digits", "g_lr", "foo"):
        assert bad in warning
    assert at.pills[0].value == ["3"] and at.session_state["setup_g_lr"] == 5e-4
    assert at.session_state["setup_length_kind"] == "steps" and at.session_state["setup_length_amount"] == 3000


def test_a_link_restores_the_whole_setup():
    at = app("pages/train.py", preset="minimal-tf", digits="0,1", epochs="4", loss="hinge", g_layers="64,128",
             conditional="true")
    assert not at.warning
    ss = at.session_state
    assert at.pills[0].value == ["0", "1"] and ss["setup_loss"] == "hinge" and ss["setup_conditional"] is True
    assert (ss["setup_g_n_layers"], ss["setup_g_units"]) == (2, "64, 128")
    assert (ss["setup_length_kind"], ss["setup_length_amount"], ss["setup_latent_dim"]) == ("epochs", 4, 10)


def test_share_link_button_shows_a_link_without_starting():
    at = app("pages/train.py", **TINY)
    at.pills[0].set_value(["5", "7"])
    button(at, "Make a share link").click().run()
    assert "digits=5%2C7" in at.code[0].value and "steps=30" in at.code[0].value
    assert at.query_params["digits"] in ("5,7", ["5,7"])
    assert "job" not in at.session_state


# ---- the Train page: a tiny run ----------------------------------------------------------------
def test_a_tiny_run_started_from_the_page_finishes_and_becomes_the_current_model():
    at = app("pages/train.py", **TINY)
    start(at)
    assert not at.exception and not at.error
    rerun_until(at, "finished")
    run = at.session_state["current_run"]
    assert run.cfg.digits == [3] and run.steps == 30 and run.cfg.g_layers == [32]
    assert "digits 3 · 30 steps" in at.sidebar.markdown[0].value
    grid = next(i for i in at.image if i.captions[0].startswith("Samples at step"))
    assert grid.captions[0].startswith("Samples at step 30")
    assert "Run 1 finished" in at.success[0].value
    assert at.select_slider(key="film_Run 1").value == 30  # the film strip ends on the last snapshot
    assert run.cfg.g_ema == share.presets.get("default").config().g_ema  # fields the form lacks are kept
    assert {b.label for b in at.get("download_button")} >= {"Checkpoint", "Config", "Metrics", "Checkpoint info"}
    assert button(at, "Stop").disabled and not button(at, "Reset").disabled
    assert checkpoints.load(run.checkpoint_bytes()).cfg == run.cfg  # what the download would hold
    assert run.metrics_csv().splitlines()[0].startswith("step,epoch,images,seconds,d_loss,g_loss")
    at.switch_page("pages/runs.py").run()
    assert "Run 1 · current" in at.markdown[1].value or any("Run 1" in m.value for m in at.markdown)
    at.switch_page("pages/latent.py").run()
    picker = at.selectbox(key="model_pick")
    assert picker.options[picker.value].startswith("Run 1 · digits 3")  # the latent pages explore it
    assert len([s for s in at.slider if s.key.startswith("lat_z_")]) == 8


def test_a_run_that_diverges_stops_with_a_plain_explanation_and_keeps_the_last_good_model():
    at = app("pages/train.py", **{**TINY, "steps": "200", "loss": "lsgan", "g_optimizer": "sgd",
                                  "d_optimizer": "sgd", "g_lr": "1", "d_lr": "1", "momentum": "0.9"})
    assert not at.warning
    start(at)
    rerun_until(at, "diverged")
    assert "became NaN or infinite" in errors(at) and "rolled back to step 0" in errors(at)
    run = at.session_state["current_run"]
    assert all(torch.isfinite(p).all() for p in run.G.parameters())
    assert not at.exception and not button(at, "Reset").disabled


def test_a_run_that_collapses_stops_and_keeps_the_model_from_before(monkeypatch):
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)  # the first snapshot (step 0, noise) is taken here and varies
    monkeypatch.setattr(training, "COLLAPSE_WARMUP", 0)
    monkeypatch.setattr(training, "COLLAPSE_STD", 1.0)  # from now on every snapshot reads as alike
    rerun_until(at, "collapsed")
    text = errors(at)
    assert "Mode collapse at step" in text and "The model kept is the one from step" in text
    kept = int(re.search(r"the one from step ([\d,]+), before", text)[1].replace(",", ""))
    collapsed = int(re.search(r"Mode collapse at step ([\d,]+):", text)[1].replace(",", ""))
    assert kept % 10 == 0 and collapsed - kept == 30  # three alike snapshots (every 10 steps) after it
    assert at.session_state["current_run"] is not None and not at.exception


def test_pause_resume_stop_and_reset_from_the_page():
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    rerun_until(at, "running")
    button(at, "Pause").click().run()
    rerun_until(at, "paused")
    assert button(at, "Pause").disabled and not button(at, "Resume").disabled
    button(at, "Resume").click().run()
    rerun_until(at, "running")
    assert not button(at, "Pause").disabled and button(at, "Resume").disabled
    wait_for_steps(at)
    button(at, "Stop").click().run()
    rerun_until(at, "stopped")
    assert "Stopped by request" in at.warning[0].value
    assert at.session_state["current_run"].steps > 0  # a stopped run is kept too
    button(at, "Reset").click().run()
    assert not status(at) and "job" not in at.session_state
    assert "Choose a setup above" in at.info[0].value


def test_live_changes_apply_to_the_running_job():
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    rerun_until(at, "running")
    at.select_slider(key="live_g_lr").set_value(1e-3)
    at.selectbox(key="live_loss").set_value("hinge")
    next(b for b in at.button if b.label == "Apply now").click().run()
    job = at.session_state["job"]
    deadline = time.monotonic() + 10
    while job.trainer.cfg.loss != "hinge" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (job.trainer.cfg.loss, job.trainer.cfg.g_lr) == ("hinge", 1e-3)
    job.stop()
    assert job.wait(10)


def test_a_bad_live_change_keeps_its_message_until_a_good_one_is_applied():
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    rerun_until(at, "running")
    at.number_input(key="live_d_steps").set_value(0)
    next(b for b in at.button if b.label == "Apply now").click().run()
    job = at.session_state["job"]
    for _ in range(3):  # the live view's redraws
        at.run()
        assert any("Not applied" in e.value and "D steps per G step" in e.value for e in at.error)
    assert job.trainer.cfg.d_steps == 1
    at.number_input(key="live_d_steps").set_value(2)
    next(b for b in at.button if b.label == "Apply now").click().run()
    assert not any("Not applied" in e.value for e in at.error)
    job.stop()
    assert job.wait(10)


def test_home_quick_start_trains_straight_away(monkeypatch):
    monkeypatch.setattr(share, "QUICK_STARTS", (share.QuickStart("tiny", "tiny", TINY),))
    at = app()
    button(at, "Train it").click().run()
    assert at.title[0].value == "Train a GAN"
    rerun_until(at, "finished")
    assert at.session_state["current_run"].cfg.g_layers == [32]


def test_two_sessions_train_at_once_without_seeing_each_other():
    by_time = {k: v for k, v in TINY.items() if k != "steps"}
    a = app("pages/train.py", **{**by_time, "seconds": "1", "digits": "3"})
    b = app("pages/train.py", **{**by_time, "seconds": "1", "digits": "7"})
    start(a)
    start(b)
    job_a, job_b = a.session_state["job"], b.session_state["job"]
    assert job_a is not job_b
    assert (job_a.view().status, job_b.view().status) == ("running", "running")  # both at once
    assert state.registry().stats()["running"] >= 2
    rerun_until(a, "finished")
    rerun_until(b, "finished")
    assert [r.cfg.digits for r in a.session_state["runs"]] == [[3]]
    assert [r.cfg.digits for r in b.session_state["runs"]] == [[7]]
    assert a.session_state["current_run"].cfg.digits == [3] and b.session_state["current_run"].cfg.digits == [7]
    assert job_a.budget == job_b.budget == Budget("seconds", 1)


def test_a_job_over_the_cap_shows_its_place_in_the_queue(monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_MAX_JOBS", "1")
    state.registry.clear()
    try:
        a = app("pages/train.py", **{**TINY, "steps": "100000"})
        b = app("pages/train.py", **TINY)
        start(a)
        start(b)
        assert "queued (position 1)" in status(b)
        assert button(b, "Pause").disabled
        a.session_state["job"].stop()
        rerun_until(b, "finished")
    finally:
        state.registry().close()
        state.registry.clear()
        monkeypatch.setenv("GAN_EXPLORER_MAX_JOBS", "4")


# ---- the Runs page: uploads ------------------------------------------------------------------
def checkpoint_bytes() -> bytes:
    cfg = tiny(digits=[4])
    G, D = build(cfg)
    return checkpoints.to_bytes(cfg, G, D, {"name": "shared run", "steps": 12})


def test_a_good_upload_becomes_the_current_generator():
    at = app("pages/runs.py")
    at.file_uploader[0].upload("mine.safetensors", checkpoint_bytes()).run()
    assert not at.error, errors(at)
    assert "mine.safetensors" in at.success[0].value
    assert at.session_state["current_run"].cfg.digits == [4]
    assert "digits 4 · 12 steps" in at.sidebar.markdown[0].value


@pytest.mark.parametrize("content, message", [
    (b"\x80\x04\x95 a pickle that could run code", "never unpickles"),
    (b"not a checkpoint at all, just text", "not a safetensors checkpoint"),
    (checkpoint_bytes()[:-100], "could not be read"),
])
def test_a_bad_upload_gets_a_clear_message(content, message):
    at = app("pages/runs.py")
    at.file_uploader[0].upload("bad.safetensors", content).run()
    assert not at.exception
    assert "bad.safetensors" in errors(at) and message in errors(at)
    assert "current_run" not in at.session_state


# ---- the plain helpers behind the form and the link ---------------------------------------------
def test_form_values_round_trip_through_read_form():
    cfg = tiny(digits=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], g_layers=[64, 128], d_milestones=[2, 5])
    values = setup.form_values(cfg, Budget("epochs", 3))
    assert values["digits"] == [setup.ALL] and values["g_units"] == "64, 128"
    assert setup.read_form(values) == (cfg, Budget("epochs", 3))
    assert setup.read_form({**values, "g_n_layers": 3, "g_units": "16"})[0].g_layers == [16, 16, 16]
    with pytest.raises(ConfigError, match="seconds"):
        setup.read_form({**values, "length_kind": "seconds", "length_amount": "soon"})


def test_share_links_round_trip():
    cfg = share.presets.get("keras-dense").config(digits=[2, 9], g_lr=3e-4, conditional=True)
    params = share.encode("keras-dense", cfg, Budget("seconds", 45.5))
    assert params["preset"] == "keras-dense" and params["digits"] == "2,9" and params["seconds"] == "45.5"
    assert "latent_dim" not in params  # only what differs from the preset
    decoded = share.decode(params)
    assert (decoded.cfg, decoded.budget, decoded.warnings) == (cfg, Budget("seconds", 45.5), [])
    assert share.decode({"digits": "all"}).cfg.digits == list(range(10))
    assert share.decode({"steps": "", "seconds": "9"}).budget == Budget("seconds", 9.0)  # empty = not given


def test_a_downloaded_checkpoint_always_loads_again():
    from explorer.ui.runs import Run
    cfg = tiny(digits=[4])
    G, D = build(cfg)
    meta = next(m for m in ({"name": "x" * n} for n in range(300))  # a header whose length byte reads as pickle
                if checkpoints.to_bytes(cfg, G, D, m)[:1] == b"\x80")
    run = Run("x", cfg, G, D, meta)
    assert checkpoints.load(run.checkpoint_bytes()).cfg == cfg


@pytest.mark.parametrize("name, slug", [("Run 2 (the fix)", "run-2-the-fix"), ("Démo: chiffre 3", "démo-chiffre-3"),
                                        ("Uploaded a.safetensors", "uploaded-a-safetensors"), ("!!", "run")])
def test_download_names_are_plain(name, slug):
    from explorer.ui.runs import Run
    assert Run(name, tiny(), None, None, {}).slug == slug


def test_the_runs_page_compares_two_runs():
    at = app("pages/train.py", **TINY)
    start(at)
    rerun_until(at, "finished")
    at.select_slider(key="setup_g_lr").set_value(1e-3)
    start(at)
    rerun_until(at, "finished")
    assert [r.name for r in at.session_state["runs"]] == ["Run 1", "Run 2"]
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    picker = at.multiselect(key="compare_runs")
    names = {id(r): r.name for r in at.session_state["runs"]}
    assert [names[i] for i in picker.value] == ["Run 2", "Run 1"]  # the newest two
    charts = at.get("plotly_chart")
    # four loss curves and the quality meter's two (recognised share, Fréchet distance)
    assert {c.key for c in charts} >= {"compare_share", "compare_fid"}
    assert len(charts) == 6 and all('"name":"Run 2"' in c.proto.spec and '"name":"Run 1"' in c.proto.spec
                                    for c in charts)
    table = at.table[0].value
    assert list(table["setting"]) == ["Generator learning rate"]
    assert list(table["Run 2"]) == ["0.001"] and list(table["Run 1"]) == ["0.0005"]
    assert [i.captions[0] for i in at.image if i.captions[0].endswith("final samples")] == \
        ["Run 2: final samples", "Run 1: final samples"]
    at.file_uploader[0].upload("mine.safetensors", checkpoint_bytes()).run()  # a new run joins the list...
    assert [names.get(i) for i in at.multiselect(key="compare_runs").value] == ["Run 2", "Run 1"]  # ...not the pick
    assert [i.captions[0] for i in at.image if i.captions[0].endswith("final samples")] == \
        ["Run 2: final samples", "Run 1: final samples"]
    at.multiselect(key="compare_runs").set_value(picker.value[:1]).run()
    assert "Pick two or more runs." in [c.value for c in at.caption]
