"""Training on from a run's weights and record (explorer/resume.py, Trainer(start_from=...)): what a lost Ray job
leaves, and what its continuation starts from."""

import pickle

import torch

from explorer import resume
from explorer.config import Budget
from explorer.progress import Status
from explorer.trainer import Trainer
from tiny import tiny


def test_a_continued_trainer_starts_from_the_weights_and_carries_the_record_on(digits):
    first = Trainer(tiny(g_ema=0.9), digits)
    first.run(Budget("steps", 20))
    weights = pickle.loads(pickle.dumps(resume.take(first)))  # as it travels from a Ray actor
    assert weights.step == 20 and all(v.device.type == "cpu" for v in weights.G.values())
    carried = Trainer(tiny(g_ema=0.9), digits, start_from=weights)
    assert torch.equal(carried.sample_fixed(), first.sample_fixed())  # the same generator people see
    for net in ("G", "D"):
        for (name, a), b in zip(getattr(carried, net).state_dict().items(), getattr(first, net).state_dict().values()):
            assert torch.equal(a, b), f"{net}.{name}"
    state = carried.state()
    assert (state.step, state.images_seen, state.seconds) == (20, first.images_seen, first.seconds)
    assert state.history.columns()["step"] == first.state().history.columns()["step"]
    assert [s.step for s in state.snapshots][:-1] == [s.step for s in first.state().snapshots]
    assert carried.run(Budget("steps", 30)) == Status.FINISHED
    assert carried.state().step == 30 and carried.state().history.columns()["step"][-1] == 30


def test_a_continued_run_follows_the_learning_rate_schedule_where_it_stood(digits):
    cfg = tiny(schedule="step", g_milestones=[1], g_gamma=0.5, batch_size=250)
    first = Trainer(cfg, digits)
    first.run(Budget("epochs", 2))
    carried = Trainer(cfg, digits, start_from=resume.take(first))
    assert carried.epoch == first.epoch and carried.current_lr("g") == first.current_lr("g") == cfg.g_lr * 0.5
