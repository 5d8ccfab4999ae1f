"""Sweeps (explorer.app.sweeps, explorer.app.vary) and the `sweep` command: Optuna plans, each trial a real job on
the thread backend, its figure from the real quality meter (reading on a fixed step schedule here, so the pruning
test is deterministic)."""

import json
import sys

import optuna
import pytest
import torch

from explorer import checkpoints, quality
from explorer import trainer as trainer_module
from explorer.app.limits import Limits
from explorer.app.sweeps import Sweep, SweepSpec
from explorer.app.threads import ThreadBackend
from explorer.app.vary import Vary, parse_varies, parse_vary
from explorer.cli import main
from explorer.config import Budget, ConfigError
from tiny import tiny

TINY = ["--set", "g_layers=32", "--set", "d_layers=32", "--set", "batch_size=16", "--set", "latent_dim=8"]


# ---- what may vary, and how it is written ---------------------------------------------------------------------
@pytest.mark.parametrize("text, vary", [
    ("g_lr=1e-5:1e-2:log", Vary("g_lr", low=1e-5, high=1e-2, log=True)),
    ("batch_size=16:128", Vary("batch_size", low=16, high=128)),
    ("loss=nonsaturating,hinge,lsgan", Vary("loss", choices=("nonsaturating", "hinge", "lsgan"))),
    ("d_steps=1, 2, 3", Vary("d_steps", choices=(1, 2, 3))),
    ("g_layers=128;256,512", Vary("g_layers", choices=("128", "256,512"))),
    ("g_batchnorm=true,false", Vary("g_batchnorm", choices=(True, False))),
])
def test_a_vary_parses_into_its_typed_form(text, vary):
    parsed = parse_vary(text)
    assert parsed == vary
    assert parse_vary(parsed.text()) == vary  # and writes back to the same


@pytest.mark.parametrize("text, field, words", [
    ("g_lr=1e-5:3:log", "g_lr", "out of range"),  # checked by the config's own validation
    ("g_lr=0:1e-2:log", "g_lr", "out of range"),
    ("loss=nonsaturating,bogus", "loss", "bogus"),
    ("loss=1:2", "loss", "not a range"),
    ("batch_size=128:16", "batch_size", "low to high"),
    ("d_steps=1.5,2", "d_steps", "1.5"),
    ("g_layers=256,512", "g_layers", "at least two"),  # one layer list: nothing to compare
    ("seed=1,2", "seed", "not a setting a sweep varies"),
    ("nonsense=1,2", "nonsense", "not a setting"),
    ("g_lr", "g_lr", "name=low:high"),
    ("g_lr=", "g_lr", "give a range"),
    ("g_lr=1e-4:1e-3:cubic", "g_lr", "low:high:log"),
])
def test_bad_vary_names_its_field(text, field, words):
    with pytest.raises(ConfigError) as e:
        parse_vary(text)
    assert e.value.field == field and words in str(e.value)


def test_a_setting_varied_twice_is_refused():
    with pytest.raises(ConfigError, match="loss: is varied twice"):
        parse_varies(["loss=hinge,lsgan", "loss=wgan,hinge"])


# ---- sweeps of real jobs --------------------------------------------------------------------------------------
class EveryFewSteps(quality.Meter):
    """The quality meter, reading every 20 steps instead of every few seconds (a tiny run's whole budget is under
    a second), on 64 samples, and taking 50 ms more per reading, as the real one does at 256 samples: the sweep's
    poll sees every reading while the job still trains."""
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "samples": 64})
        self.calls = 0

    def due(self, seconds: float) -> bool:
        self.calls += 1
        return self.calls % 20 == 0

    def read(self, *args, **kwargs):
        import time
        time.sleep(0.05)
        return super().read(*args, **kwargs)


@pytest.fixture
def backend(digits, monkeypatch, warm_meter):
    monkeypatch.setattr(trainer_module, "Meter", EveryFewSteps)
    made = ThreadBackend(Limits(max_jobs=2), watch_every=None, set_threads=False, data=digits)
    yield made
    made.close(wait=10)


def test_a_grid_sweep_records_every_trial_and_picks_the_best(backend):
    spec = SweepSpec(tiny(), parse_varies(["loss=nonsaturating,hinge", "d_steps=1,2"]), Budget("steps", 100),
                     trials=4, slots=2)
    sweep = Sweep(spec, backend, poll=0.02)
    assert isinstance(sweep.study.sampler, optuna.samplers.GridSampler)  # every setting lists its values
    result = sweep.run()
    assert sorted(tuple(t.params.values()) for t in result.trials) == [
        ("hinge", 1), ("hinge", 2), ("nonsaturating", 1), ("nonsaturating", 2)]
    assert all(t.state == "complete" and t.value > 0 for t in result.trials), result.trials
    assert result.best.value == min(t.value for t in result.trials)
    assert result.best_model is not None and result.best_model.cfg.loss == result.best.params["loss"]
    assert result.best_model.cfg.seed == spec.base.seed  # the seed policy: every trial the base's seed
    report = result.to_dict()
    assert report["pruned"] == 0 and report["best"]["params"] == result.best.params and report["wall_seconds"] > 0
    assert backend.kept.bytes() > 0  # the best model is held; the others let go
    assert not backend.running


def test_a_learning_rate_that_cannot_work_is_pruned_before_its_budget_ends(backend):
    spec = SweepSpec(tiny(), parse_varies(["g_lr=1e-4:1:log"]), Budget("steps", 200), trials=4, prune=True)
    sweep = Sweep(spec, backend, poll=0.02)
    for g_lr in (2e-4, 2e-4, 2e-4, 1.0):  # three that work, so the median knows what working looks like
        sweep.study.enqueue_trial({"g_lr": g_lr})
    result = sweep.run()
    good, bad = result.trials[:3], result.trials[3]
    assert [t.state for t in good] == ["complete"] * 3
    assert bad.params == {"g_lr": 1.0} and bad.state == "pruned", bad
    assert bad.value > max(t.value for t in good)
    frozen = sweep.study.trials[3]
    assert max(frozen.intermediate_values) < 100  # percent of its budget: stopped before the end
    assert bad.seconds < min(t.seconds for t in good)
    assert result.pruned == 1 and result.best.params == {"g_lr": 2e-4}


def test_a_trial_that_cannot_start_is_a_failed_trial(backend):
    spec = SweepSpec(tiny(), parse_varies(["batch_size=16,4096"]), Budget("steps", 20), trials=2)
    result = Sweep(spec, backend, poll=0.02).run()
    states = {t.params["batch_size"]: (t.state, t.note) for t in result.trials}
    assert states[16][0] == "complete"
    assert states[4096][0] == "failed" and "batch_size" in states[4096][1]  # more than the digit's images


def test_a_stored_sweep_runs_its_interrupted_trials_again(backend, tmp_path):
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    spec = SweepSpec(tiny(), parse_varies(["loss=nonsaturating,hinge"]), Budget("steps", 20), trials=2,
                     storage=url)
    first = Sweep(spec, backend)
    cut_off = first.study.ask({"loss": optuna.distributions.CategoricalDistribution(["nonsaturating", "hinge"])})
    assert cut_off.params  # a trial left running, as a server restart leaves it
    result = Sweep(spec, backend, poll=0.02).run()
    assert len(result.trials) == 2 and all(t.state == "complete" for t in result.trials), result.trials
    assert sorted(t.params["loss"] for t in result.trials) == ["hinge", "nonsaturating"]  # the cut-off one again
    assert cut_off.params in [t.params for t in result.trials]
    stored = optuna.load_study(study_name="sweep", storage=url).trials
    assert len(stored) == 3 and stored[0].state == optuna.trial.TrialState.FAIL  # its first go, kept as interrupted


# ---- the command ----------------------------------------------------------------------------------------------
@pytest.fixture
def process_settings():
    """The command tunes the process for its jobs (torch threads, the GIL's switch interval): put them back."""
    threads, interval = torch.get_num_threads(), sys.getswitchinterval()
    yield
    torch.set_num_threads(threads)
    sys.setswitchinterval(interval)


@pytest.mark.parametrize("vary, field", [
    ("g_lr=1e-5:5:log", "g_lr"), ("loss=hinge,nope", "loss"), ("seed=1,2", "seed"), ("g_layers=8;abc", "g_layers"),
])
def test_sweep_with_a_bad_vary_exits_2_naming_the_field(vary, field, capsys, tmp_path):
    out = tmp_path / "s.json"
    assert main(["sweep", "--vary", vary, "--trials", "2", "--steps", "5", "--out", str(out)]) == 2
    assert f"error: {field}:" in capsys.readouterr().err
    assert not out.exists()


def test_sweep_writes_its_json_and_the_best_checkpoint(tmp_path, capsys, monkeypatch, process_settings, warm_meter):
    monkeypatch.setattr(trainer_module, "Meter", EveryFewSteps)
    out = tmp_path / "sweep.json"
    assert main(["sweep", "--digits", "3", *TINY, "--vary", "loss=nonsaturating,hinge", "--trials", "2",
                 "--steps", "40", "--slots", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [t["state"] for t in report["trials"]] == ["complete", "complete"]
    assert report["best"]["figure"] == min(t["figure"] for t in report["trials"])
    assert report["pruned"] == 0 and report["wall_seconds"] > 0
    best = checkpoints.load(report["best"]["checkpoint"])
    assert best.cfg.loss == report["best"]["params"]["loss"] and best.cfg.g_layers == [32]
    assert "trial" in capsys.readouterr().out


def test_the_figure_says_which_way_is_better():
    varies = parse_varies(["loss=hinge,lsgan"])
    assert Sweep(SweepSpec(tiny(), varies, Budget("steps", 5), 2), backend=None).study.direction.name == "MINIMIZE"
    looks_real = SweepSpec(tiny(), varies, Budget("steps", 5), 2, figure="looks_real")
    assert Sweep(looks_real, backend=None).study.direction.name == "MAXIMIZE"
    for bad, field in ((dict(figure="beauty"), "figure"), (dict(budget=Budget("epochs", 1)), "budget"),
                       (dict(trials=0), "trials"), (dict(slots=0), "slots")):
        with pytest.raises(ConfigError) as e:
            SweepSpec(**{"base": tiny(), "varies": varies, "budget": Budget("steps", 5), "trials": 2, **bad}).check()
        assert e.value.field == field
