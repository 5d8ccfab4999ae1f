"""Step mode and slow motion (explorer/step_mode.py): one update at a time while paused, and a chosen pace."""

import threading
import time

import pytest
import torch

from explorer.config import Budget
from explorer.progress import Status
from explorer.trainer import Trainer
from tiny import tiny, wait_until


def paused(digits, **cfg) -> tuple[Trainer, threading.Thread]:
    trainer = Trainer(tiny(**cfg), digits)
    trainer.pause()  # before it starts: it waits at step 0
    worker = threading.Thread(target=trainer.run, args=(Budget("steps", 10**6),))
    worker.start()
    wait_until(lambda: trainer.state().status == Status.PAUSED)
    return trainer, worker


def test_a_d_step_changes_d_and_what_it_tells_g_but_not_g_nor_the_step(digits):
    trainer, worker = paused(digits)
    before = trainer.state()
    g_weights = [p.clone() for p in trainer.G.parameters()]
    d_weights = [p.clone() for p in trainer.D.parameters()]
    trainer.nudge("d")
    wait_until(lambda: len(trainer.state().nudges) == 1)
    after = trainer.state()
    assert after.step == before.step == 0 and after.nudges[0].what == "D step"
    assert all(torch.equal(a, b) for a, b in zip(g_weights, trainer.G.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(d_weights, trainer.D.parameters()))
    assert after.before is before.latest and torch.equal(after.latest.images, before.latest.images)
    assert not torch.equal(after.latest.push, before.latest.push)  # D's push moved, the samples did not
    trainer.stop()
    worker.join(10)


def test_a_g_step_is_a_step_with_a_new_snapshot_and_a_mark(digits):
    trainer, worker = paused(digits, snapshot_every=1000)
    trainer.nudge("g")
    wait_until(lambda: trainer.state().step == 1)
    state = trainer.state()
    assert state.latest.step == 1 and state.before.step == 0  # the grid before and after
    assert not torch.equal(state.latest.images, state.before.images)
    assert [(c.step, c.what) for c in state.nudges] == [(1, "G step")]
    assert state.history.columns()["step"] == [1] and state.status == Status.PAUSED
    trainer.stop()
    worker.join(10)


def test_slow_motion_keeps_its_pace_and_snapshots_every_step(digits):
    trainer = Trainer(tiny(snapshot_every=1000), digits)
    trainer.slow_motion(20.0)
    t0 = time.perf_counter()
    trainer.run(Budget("steps", 10))
    assert time.perf_counter() - t0 >= 10 / 20 - 0.05
    assert [s.step for s in trainer.state().snapshots] == list(range(11))
    assert trainer.state().pace == 20.0
    with pytest.raises(ValueError):
        trainer.slow_motion(0)
    with pytest.raises(ValueError):
        trainer.nudge("x")


def test_only_the_newest_snapshots_keep_their_push_maps(digits):
    trainer = Trainer(tiny(snapshot_every=1), digits)
    trainer.run(Budget("steps", 6))
    shots = trainer.state().snapshots
    assert [s.push is not None for s in shots] == [False] * (len(shots) - 2) + [True, True]
    assert shots[-1].push.shape == shots[-1].images.shape and shots[-1].verdicts.shape == (len(shots[-1].images),)
