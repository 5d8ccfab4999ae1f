"""The Streamlit app through AppTest: every page renders, bad input is refused, tiny runs train from the page."""

import re
import time

import pytest
import torch
from apptest_support import (
    PAGES,
    TINY,
    app,
    button,
    errors,
    registry_with,
    rerun_until,
    session,
    start,
    status,
    wait_for_steps,
)

from explorer import checkpoints, guards
from explorer.app import share
from explorer.config import Budget, ConfigError
from explorer.nets import build
from explorer.ui import state
from tiny import tiny

pytestmark = pytest.mark.usefixtures("roomy_registry")


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
    assert session(at).job is None and not status(at)
    assert "choose a setup above" in at.info[0].value


def test_malformed_layer_sizes_show_the_field_and_start_nothing():
    at = app("pages/train.py", **TINY)
    at.text_input(key="setup_g_units").set_value("256, abc")
    start(at)
    assert "Generator layers" in errors(at) and "'abc' is not a whole number" in errors(at)
    assert session(at).job is None


def test_layer_count_and_sizes_must_agree():
    at = app("pages/train.py", **TINY)
    at.number_input(key="setup_d_n_layers").set_value(3)
    at.text_input(key="setup_d_units").set_value("64, 32")
    start(at)
    assert "Discriminator layers" in errors(at) and "3 hidden layers need 3 sizes" in errors(at)
    assert session(at).job is None


def test_digit_coverage_on_one_digit_names_the_field_and_starts_nothing():
    at = app("pages/train.py", **TINY)  # digit 3 alone
    at.number_input(key="setup_coverage").set_value(1.0)
    start(at)
    assert "Digit coverage" in errors(at) and "pick two or more" in errors(at)
    assert session(at).job is None


def test_a_batch_larger_than_the_data_is_refused():
    at = app("pages/train.py", **{**TINY, "batch_size": "4000"})
    start(at)
    assert "Batch size" in errors(at) and "larger than" in errors(at)
    assert session(at).job is None


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
    assert session(at).job is None


# ---- the Train page: a tiny run ----------------------------------------------------------------
def test_a_tiny_run_started_from_the_page_finishes_and_becomes_the_current_model():
    at = app("pages/train.py", **TINY)
    start(at)
    assert not at.exception and not at.error
    rerun_until(at, "finished")
    run = session(at).current
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
    run = session(at).current
    assert all(torch.isfinite(p).all() for p in run.G.parameters())
    assert not at.exception and not button(at, "Reset").disabled


def test_a_run_that_collapses_stops_and_keeps_the_model_from_before(monkeypatch):
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    wait_for_steps(at)  # the first snapshot (step 0, noise) is taken as the trainer is built, and varies
    monkeypatch.setattr(guards, "COLLAPSE_WARMUP", 0)
    monkeypatch.setattr(guards, "COLLAPSE_STD", 1.0)  # from now on every snapshot reads as alike
    rerun_until(at, "collapsed")
    text = errors(at)
    assert "Mode collapse at step" in text and "The model kept is the one from step" in text
    kept = int(re.search(r"the one from step ([\d,]+), before", text)[1].replace(",", ""))
    collapsed = int(re.search(r"Mode collapse at step ([\d,]+):", text)[1].replace(",", ""))
    assert kept % 10 == 0 and collapsed - kept == 30  # three alike snapshots (every 10 steps) after it
    assert session(at).current is not None and not at.exception


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
    assert session(at).current.steps > 0  # a stopped run is kept too
    button(at, "Reset").click().run()
    assert not status(at) and session(at).job is None
    assert "choose a setup above" in at.info[0].value


def test_live_changes_apply_to_the_running_job():
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    rerun_until(at, "running")
    at.select_slider(key="live_g_lr").set_value(1e-3)
    at.selectbox(key="live_loss").set_value("hinge")
    next(b for b in at.button if b.label == "Apply now").click().run()
    job = session(at).job
    deadline = time.monotonic() + 10
    while job.view().settings["loss"] != "hinge" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (job.view().settings["loss"], job.view().settings["g_lr"]) == ("hinge", 1e-3)
    job.stop()
    assert job.wait(10)


def test_the_live_form_offers_only_values_the_engine_takes():
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    rerun_until(at, "running")
    box = at.number_input(key="live_d_steps")
    assert (box.min, box.max) == (1, 10)  # as config.RANGES says; the rates and losses are pick lists
    session(at).job.stop()
    assert session(at).job.wait(10)


def test_a_refused_live_change_keeps_its_message_until_a_good_one_is_applied(monkeypatch):
    from explorer.app.threads import ThreadJob

    real_update = ThreadJob.update

    def update(self, **changes):  # the engine refusing a change (the form's own values are always valid)
        if changes.get("d_steps") == 3:
            raise ConfigError("d_steps", "3 is refused here")
        real_update(self, **changes)
    monkeypatch.setattr(ThreadJob, "update", update)
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    rerun_until(at, "running")
    at.number_input(key="live_d_steps").set_value(3)
    next(b for b in at.button if b.label == "Apply now").click().run()
    job = session(at).job
    for _ in range(3):  # the live view's redraws
        at.run()
        assert any("Not applied" in e.value and "D steps per G step" in e.value for e in at.error)
    assert job.view().settings["d_steps"] == 1
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
    assert session(at).current.cfg.g_layers == [32]


def test_two_sessions_train_at_once_without_seeing_each_other():
    by_time = {k: v for k, v in TINY.items() if k != "steps"}
    a = app("pages/train.py", **{**by_time, "seconds": "1", "digits": "3"})
    b = app("pages/train.py", **{**by_time, "seconds": "1", "digits": "7"})
    start(a)
    start(b)
    job_a, job_b = session(a).job, session(b).job
    assert job_a is not job_b
    assert (job_a.view().status, job_b.view().status) == ("running", "running")  # both at once
    assert state.registry().stats()["running"] >= 2
    rerun_until(a, "finished")
    rerun_until(b, "finished")
    assert [r.cfg.digits for r in session(a).runs] == [[3]]
    assert [r.cfg.digits for r in session(b).runs] == [[7]]
    assert session(a).current.cfg.digits == [3] and session(b).current.cfg.digits == [7]
    assert job_a.budget == job_b.budget == Budget("seconds", 1)


def test_a_job_over_the_cap_shows_its_place_in_the_queue(monkeypatch):
    with registry_with(monkeypatch, GAN_EXPLORER_MAX_JOBS="1"):
        a = app("pages/train.py", **{**TINY, "steps": "100000"})
        b = app("pages/train.py", **TINY)
        start(a)
        start(b)
        assert "queued (position 1)" in status(b)
        assert any(c.value.startswith("Waiting: 1st in line") for c in b.caption), [c.value for c in b.caption]
        assert button(b, "Pause").disabled
        session(a).job.stop()
        rerun_until(b, "finished")


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
    assert session(at).current.cfg.digits == [4]
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
    assert session(at).current is None


def test_the_runs_page_compares_two_runs(monkeypatch):
    from streamlit.elements.lib import policies

    warned = []  # Streamlit's "created with a default value but also had its value set via the Session State API"
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)  # said once per process otherwise
    monkeypatch.setattr(policies._LOGGER, "warning", lambda message, *args, **_: warned.append(message % args))
    at = app("pages/train.py", **TINY)
    start(at)
    rerun_until(at, "finished")
    at.select_slider(key="setup_g_lr").set_value(1e-3)
    start(at)
    rerun_until(at, "finished")
    assert [r.name for r in session(at).runs] == ["Run 1", "Run 2"]
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    picker = at.multiselect(key="compare_runs")
    names = {id(r): r.name for r in session(at).runs}
    assert [names[i] for i in picker.value] == ["Run 2", "Run 1"]  # the newest two
    charts = at.get("plotly_chart")
    # four loss curves, and quality at matching steps: the digits drawn, the variety, the Fréchet distance
    assert {c.key for c in charts} >= {"compare_digits", "compare_variety", "compare_fid"}
    assert len(charts) == 7 and all('"name":"Run 2' in c.proto.spec and '"name":"Run 1' in c.proto.spec
                                    for c in charts)
    digits = next(c for c in charts if c.key == "compare_digits").proto.spec
    assert '"name":"Run 2 (step 30)"' in digits and '"name":"Run 1 (step 30)"' in digits
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
    assert not warned, warned


def test_the_sidebar_follows_the_run_from_another_page():
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    rerun_until(at, "running")
    at.switch_page("pages/home.py").run()
    assert not at.exception, at.exception
    line = " ".join(m.value for m in at.sidebar.markdown)
    assert "Run 1" in line and ("running" in line or "queued" in line)
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "training slots busy" in captions
    assert "None yet: Run 1 is training, and becomes the current generator when it finishes." in captions
    session(at).job.stop()
    assert session(at).job.wait(15)


# ---- a reload finds its run again ---------------------------------------------------------------------------
def test_a_reload_finds_the_running_job_and_the_runs_again():
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    rerun_until(at, "running")
    token = at.query_params["s"]
    token = token[0] if isinstance(token, list) else token
    assert len(token) >= 20 and "s=" not in " ".join(c.value for c in at.code)  # never in what is shared
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    reloaded = app("pages/train.py", **params)  # F5: a new tab session, the same address
    assert not reloaded.exception
    assert session(reloaded) is session(at) and session(reloaded).job is session(at).job
    assert "Run 1" in status(reloaded) and "running" in rerun_until(reloaded, "running")
    assert not reloaded.warning  # nothing was lost, nothing to say
    wait_for_steps(reloaded)
    session(at).job.stop()
    assert session(at).job.wait(15)
    rerun_until(reloaded, "stopped")
    reloaded.switch_page("pages/runs.py").run()
    assert "Run 1" in " ".join(m.value for m in reloaded.markdown)  # the Runs page lists it after the reload too


def test_a_reload_whose_session_is_gone_says_so_plainly():
    at = app("pages/runs.py", s="a-token-this-server-never-gave-out")
    assert "no longer on this server" in " ".join(w.value for w in at.warning)
    token = at.query_params["s"]
    assert (token[0] if isinstance(token, list) else token) != "a-token-this-server-never-gave-out"
    at.run()
    assert "no longer on this server" not in " ".join(w.value for w in at.warning)  # said once


def test_a_share_link_never_carries_the_session_token():
    at = app("pages/train.py", **TINY)
    button(at, "Make a share link").click().run()
    link = at.code[0].value
    token = at.query_params["s"]
    assert "s=" not in link.split("?")[1].split("&")[0] and (token[0] if isinstance(token, list) else token) not in link
    assert at.query_params["s"]  # while the address keeps it


def test_a_run_records_its_live_changes_and_train_again_replays_them():
    at = app("pages/train.py", **{**TINY, "steps": "400"})
    start(at)
    rerun_until(at, "running")
    wait_for_steps(at)
    at.select_slider(key="live_g_lr").set_value(1e-3)
    next(b for b in at.button if b.label == "Apply now").click().run()
    rerun_until(at, "finished")
    run = session(at).current
    [change] = run.cfg.live_changes
    assert change["g_lr"] == 1e-3 and 0 < change["step"] < 400
    assert run.cfg.g_lr == 5e-4 and run.cfg.ended().g_lr == 1e-3  # what it started with, and where it ended
    assert '"live_changes"' in run.config_json()
    at.switch_page("pages/runs.py").run()
    button(at, "Train again with this setup").click().run()
    assert at.title[0].value == "Train a GAN" and not at.warning
    assert "replays 1 live change" in " ".join(c.value for c in at.caption)
    at.switch_page("pages/train.py")  # AppTest's next run would go back to the Runs page; a browser stays here
    start(at)
    again = session(at).job
    assert again.cfg.live_changes == run.cfg.live_changes and again.budget == Budget("steps", 400)
    again.stop()
    assert again.wait(15)
