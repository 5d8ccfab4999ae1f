"""A sweep run for a page (explorer.app.sweep_runs): real trials of the tiny setup on the thread backend, seen
through the views it publishes."""

import optuna
import pytest
from sqlalchemy.engine import make_url
from test_sweeps import EveryFewSteps

from explorer import trainer as trainer_module
from explorer.app.limits import Limits
from explorer.app.store import RunStore
from explorer.app.sweep_runs import SweepRun, SweepRuns, saved_seconds, slots_from_env, sweep_storage
from explorer.app.sweeps import SweepSpec, TrialRecord
from explorer.app.threads import ThreadBackend
from explorer.app.vary import parse_varies
from explorer.config import Budget
from tiny import tiny


@pytest.fixture
def backend(digits, monkeypatch, warm_meter):
    monkeypatch.setattr(trainer_module, "Meter", EveryFewSteps)
    made = ThreadBackend(Limits(max_jobs=2), watch_every=None, set_threads=False, data=digits)
    yield made
    made.close(wait=10)


def test_a_sweep_run_publishes_every_trial_its_grids_and_the_best(backend, tmp_path):
    spec = SweepSpec(tiny(), parse_varies(["loss=nonsaturating,hinge", "d_steps=1,2"]), Budget("steps", 60),
                     trials=3, slots=2, storage=f"sqlite:///{tmp_path / 'sweeps.sqlite'}")
    run = SweepRun(spec, backend, poll=0.05, sweep_poll=0.02)
    assert not run.view().done and run.view().trials == ()
    run.start()
    assert run.wait(60), "the sweep never ended"
    view = run.view()
    assert view.done and not view.error
    assert len(view.trials) == 3 and all(t.state == "complete" for t in view.trials), view.trials
    assert view.best.value == min(t.value for t in view.trials)
    assert run.result is not None and run.result.best.number == view.best.number
    assert sorted(g.number for g in view.grids) == [0, 1, 2]  # every trial's last grid, though a trial is short
    assert all(g.done and g.images.shape[1:] == (28, 28) for g in view.grids)
    assert view.pruned == 0 and view.saved_seconds == 0


def test_one_sweep_per_session_at_a_time(backend):
    spec = SweepSpec(tiny(), parse_varies(["loss=nonsaturating,hinge"]), Budget("steps", 400), trials=2)
    runs = SweepRuns()
    first = runs.start("tab", spec, backend)
    with pytest.raises(ValueError, match="still running"):
        runs.start("tab", spec, backend)
    assert runs.get("tab") is first
    runs.stop_all(wait=30)
    assert first.view().done


def test_pruning_saves_the_rest_of_the_budget():
    trials = (TrialRecord(0, {}, 1.0, "complete", seconds=10.0), TrialRecord(1, {}, 5.0, "pruned", seconds=3.0))
    steps = SweepSpec(tiny(), parse_varies(["loss=hinge,lsgan"]), Budget("steps", 100), 2)
    assert saved_seconds(trials, steps) == 7.0  # the complete trials' time stands in for a budget in steps
    seconds = SweepSpec(tiny(), parse_varies(["loss=hinge,lsgan"]), Budget("seconds", 20), 2)
    assert saved_seconds(trials, seconds) == 17.0


def test_the_study_gets_its_own_sqlite_file_and_slots_are_a_setting(tmp_path):
    assert sweep_storage(make_url("sqlite:////data/runs.sqlite"), tmp_path) == "sqlite:////data/runs-sweeps.sqlite"
    assert sweep_storage(make_url("postgresql+psycopg://u:pw@h/db"), tmp_path) == f"sqlite:///{tmp_path}/sweeps.sqlite"
    assert slots_from_env({}) == 2 and slots_from_env({"GAN_EXPLORER_SWEEP_SLOTS": "3"}) == 3
    with pytest.raises(ValueError, match="GAN_EXPLORER_SWEEP_SLOTS"):
        slots_from_env({"GAN_EXPLORER_SWEEP_SLOTS": "0"})


def test_optuna_cannot_share_the_run_stores_database(tmp_path):
    """Why the study has a file of its own: Optuna's schema revision is kept in `alembic_version`, as ours is."""
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    RunStore.open(url).close()
    with pytest.raises(RuntimeError, match="no longer compatible"):
        optuna.create_study(storage=url)
