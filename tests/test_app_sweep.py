"""The Sweep page through AppTest: a sweep of two settings over the tiny setup (put in the Train form by a Train
link, as a student would), its figures, table and gallery filling, and the best trial back in the Train form.
AppTest runs no fragment on a timer: the test reruns the app until the page says the sweep is done."""

from __future__ import annotations

import time

import pytest
from apptest_support import TINY, app, button, errors, session
from test_sweeps import EveryFewSteps

from explorer import trainer as trainer_module

pytestmark = pytest.mark.usefixtures("roomy_registry")


@pytest.fixture
def quick_meter(monkeypatch, warm_meter):
    monkeypatch.setattr(trainer_module, "Meter", EveryFewSteps)  # readings every 20 steps, not every few seconds


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def rerun_until_done(at, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while "Sweep done" not in markdown(at):
        assert not at.exception, at.exception
        assert time.monotonic() < deadline, f"the sweep never ended; the page: {markdown(at)[-400:]!r}"
        time.sleep(0.3)
        at.run()
    return at


def swept(trials: int):
    """A finished sweep of the loss and D steps over the tiny setup, `trials` trials of 40 steps."""
    at = app("pages/train.py", **TINY)  # the tiny setup in the Train form
    at.switch_page("pages/sweep.py").run()
    assert not at.exception
    assert "every trial uses the setup's seed 0" in markdown(at)
    at.selectbox(key="sweep_name_0").set_value("loss")
    at.text_input(key="sweep_values_0").input("nonsaturating,hinge")
    at.selectbox(key="sweep_name_1").set_value("d_steps")
    at.text_input(key="sweep_values_1").input("1,2")
    at.number_input(key="sweep_amount").set_value(40)
    at.number_input(key="sweep_trials").set_value(trials)
    at.toggle(key="sweep_prune").set_value(False)
    at = button(at, "Start the sweep").click().run()
    assert not errors(at), errors(at)
    assert button(at, "Stop the sweep")  # while it runs, Stop takes Start's place
    return rerun_until_done(at)


def test_a_sweep_of_two_settings_fills_its_figures_and_gallery_and_its_best_goes_to_the_train_form(quick_meter):
    at = swept(3)
    assert "3 of 3 trials (a grid)" in markdown(at)
    charts = at.get("plotly_chart")
    assert len(charts) >= 3, "history, parallel coordinates and slices"
    assert any("Parallel Coordinate Plot" in c.proto.spec for c in charts)  # Optuna 5 draws it with lines
    gallery = [c for image in at.image for c in image.captions if c.startswith("Trial ")]
    assert len(gallery) == 3 and all("fid" in c for c in gallery), gallery  # every trial's newest grid
    table = at.dataframe[0].value
    assert list(table["State"]) == ["complete"] * 3
    best = table.loc[table["fid"].idxmin()]
    at = button(at, "Use these settings").click().run()
    assert not at.exception
    loss, d_steps = (part.split("=")[1] for part in best["Settings"].split(", "))
    assert at.session_state["setup_loss"] == loss and at.session_state["setup_d_steps"] == int(d_steps)
    assert at.session_state["setup_g_units"] == "32"  # the rest of the setup is the form's, as it was
    assert at.title[0].value == "Train a GAN"


def test_the_best_trial_opens_in_latent_space(quick_meter):
    at = swept(2)
    best = at.dataframe[0].value["fid"].idxmin()
    at = button(at, "Open in Latent space").click().run()
    assert not at.exception
    assert session(at).current.name == f"Sweep trial {best}" and session(at).current.cfg.g_layers == [32]


def test_a_bad_vary_is_named_and_starts_nothing():
    at = app("pages/sweep.py")
    at.text_input(key="sweep_values_0").input("1e-5:3:log")
    at = button(at, "Start the sweep").click().run()
    assert "g_lr" in errors(at) and "Nothing was started" in errors(at)
    assert "Sweep running" not in markdown(at)
