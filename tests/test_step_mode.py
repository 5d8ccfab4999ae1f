"""Step mode and slow motion (explorer/step_mode.py): one update at a time while paused, and a chosen pace."""

import copy
import threading
import time
import types

import pytest
import torch

from explorer import charts
from explorer.config import Budget
from explorer.progress import LoneUpdate, Progress, RecentRate, Snapshot, Status, WallRate
from explorer.step_mode import what_changed, why_fakes_rose
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
    assert torch.equal(after.latest.images, before.latest.images)
    assert not torch.equal(after.latest.push, before.latest.push)  # D's push moved, the samples did not
    lone = after.lone
    assert lone.what == "D step" and torch.equal(lone.after.images, lone.before.images)
    assert not torch.equal(lone.after.verdicts, lone.before.verdicts)
    trainer.stop()
    worker.join(10)


def test_a_g_step_is_a_step_with_a_new_snapshot_and_a_mark(digits):
    trainer, worker = paused(digits, snapshot_every=1000)
    trainer.nudge("g")
    wait_until(lambda: len(trainer.state().nudges) == 1)  # as a page waits: the mark comes with the pictures
    state = trainer.state()
    assert state.latest.step == 1 and state.lone.before.step == 0 and state.lone.after.step == 1
    assert not torch.equal(state.lone.after.images, state.lone.before.images)
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


# ---- issue 24: what step mode shows, and slow motion's rate --------------------------------------------------------
def trained_then_paused(digits, steps: int, **cfg) -> tuple[Trainer, threading.Thread]:
    """A run trained `steps` steps in this thread, then paused there in a worker, as a student pauses one."""
    trainer = Trainer(tiny(**cfg), digits)
    trainer.run(Budget("steps", steps))
    trainer.pause()
    worker = threading.Thread(target=trainer.run, args=(Budget("steps", 10**6),))
    worker.start()
    wait_until(lambda: trainer.state().status == Status.PAUSED)
    return trainer, worker


def test_a_g_step_shows_g_itself_which_moves_far_more_than_the_average(digits):
    # The default preset samples its grid from g_ema = 0.999, which one step barely moves (0.19/255 in the issue).
    trainer, worker = trained_then_paused(digits, 500, g_ema=0.999, g_layers=[256], g_lr=5e-4, d_lr=5e-4,
                                          snapshot_every=1000)
    grid_before = trainer.state().latest
    trainer.nudge("g")
    wait_until(lambda: trainer.state().lone is not None)
    state = trainer.state()
    lone = state.lone
    shown = (lone.after.images.float() - lone.before.images.float()).abs().mean().item()
    grid = (state.latest.images.float() - grid_before.images.float()).abs().mean().item()
    assert shown > 0.5 and shown > grid  # in grey levels of 255
    assert torch.equal(lone.after.images, trainer.shots.shot(1, trainer.shots.sample(trainer.G), trainer.D,
                                                             trainer.cfg).images)  # G itself, not the average
    assert lone.loss_after < lone.loss_before  # G's step lowered G's loss on its batch, read the same way
    trainer.stop()
    worker.join(10)


def test_a_d_steps_verdicts_are_read_on_the_same_fakes_in_evaluation_mode_before_and_after(digits):
    trainer, worker = trained_then_paused(digits, 100, d_dropout=0.3)  # dropout: a train-mode read would differ
    d_before = copy.deepcopy(trainer.D)
    trainer.nudge("d")
    wait_until(lambda: trainer.state().lone is not None)
    lone = trainer.state().lone
    fakes = trainer.shots.sample(trainer.G)  # G in evaluation mode, the fixed latent batch

    def verdicts(D):
        D.eval()
        with torch.no_grad():
            return torch.sigmoid(D(fakes)).flatten()

    assert torch.equal(lone.before.images, lone.after.images)  # the same fakes
    assert torch.allclose(lone.before.verdicts, verdicts(d_before), atol=1e-6)
    assert torch.allclose(lone.after.verdicts, verdicts(copy.deepcopy(trainer.D)), atol=1e-6)
    assert trainer.D.training  # and D trains on in training mode
    assert lone.loss_after < lone.loss_before  # on the batch it learned from, read the same way
    trainer.stop()
    worker.join(10)


def lone_update(fakes_before, fakes_after, real_before, real_after, loss_before, loss_after) -> LoneUpdate:
    images = torch.zeros(2, 28, 28, dtype=torch.uint8)
    before = Snapshot(0, images, verdicts=torch.tensor([fakes_before] * 2))
    after = Snapshot(0, images, verdicts=torch.tensor([fakes_after] * 2))
    return LoneUpdate("D step", before, after, real_before, real_after, loss_before, loss_after)


def test_the_page_says_why_a_d_step_raised_its_verdict_on_fakes():
    # What the tester saw, and what the experiment behind it found: reals rose with the fakes, loss fell.
    rose_with_reals = lone_update(0.17, 0.38, 0.60, 0.79, 0.78, 0.68)
    assert "rating real digits higher (0.60 → 0.79)" in why_fakes_rose(rose_with_reals, [0, 1])
    assert "overshot" in why_fakes_rose(lone_update(0.17, 0.38, 0.6, 0.5, 0.7, 0.9), [0, 1])
    assert why_fakes_rose(lone_update(0.38, 0.17, 0.6, 0.7, 0.9, 0.7), [0, 1]) == ""  # fell: nothing to explain
    line = what_changed(rose_with_reals, [0, 1])
    assert "these 2 fakes: **0.17 → 0.38**" in line and "0.60 → 0.79" in line and "0.78 → 0.68" in line


def test_slow_motion_rate_and_time_left_follow_the_wall_clock(digits):
    trainer = Trainer(tiny(snapshot_every=1000), digits)
    trainer.slow_motion(10.0)
    trainer.run(Budget("steps", 12))
    state = trainer.state()
    rate = state.wall_rate
    assert 6.0 < rate.steps <= 10.2 and rate.images == pytest.approx(rate.steps * 16)  # batch 16, one D step
    assert state.images_per_second > 3 * rate.images  # the compute speed of a step, which the page showed
    left = rate.seconds_left("steps", 100, state)  # 88 steps at 10 a second
    assert 8.6 < left < 15
    # a budget of training time: paced, it passes slower than the wall clock, and the time left says so
    assert rate.training_seconds < 0.9
    assert rate.seconds_left("seconds", state.seconds + 1, state) == pytest.approx(1 / rate.training_seconds)


def test_recent_rate_counts_wall_time_in_its_window_and_forgets_pauses():
    recent = RecentRate(window=10.0)
    assert recent.rate() is None
    for i in range(30):  # 2 steps a second, 64 images a step, 0.01 s of training time each
        recent.add(i / 2, i, 64 * i, i / 100, i / 100)
    rate = recent.rate()
    assert rate.steps == pytest.approx(2.0) and rate.images == pytest.approx(128.0)
    assert recent.points[-1][0] - recent.points[0][0] <= 10.5  # only the last seconds
    progress = Progress(step=5303, epoch_progress=53.03, seconds=53.03)
    assert rate.seconds_left("steps", 5983, progress) == pytest.approx(340.0)  # 680 steps: 5 min 40 s, not 18 s
    assert rate.seconds_left("epochs", 60, progress) == pytest.approx(6.97 / 0.02)
    recent.restart()  # after a pause: the wait is not counted
    recent.add(100.0, 30, 64 * 30, 0.3, 0.3)
    assert recent.rate() is None
    recent.add(100.5, 31, 64 * 31, 0.31, 0.31)
    assert recent.rate().steps == pytest.approx(2.0)


def test_the_status_line_shows_the_paced_rate_and_time_left():
    from explorer.app.jobs import JobView
    from explorer.config import Budget as RunBudget
    from explorer.ui.live import progress_text

    progress = Progress(status=Status.RUNNING, step=5303, images_seen=5303 * 64, seconds=120.0, pace=2.0,
                        wall_rate=WallRate(steps=2.0, images=128.0, epochs=0.02, training_seconds=0.01))
    view = JobView(progress, Status.RUNNING, "", 5303 / 5983, 0, eta=18.0)
    text = progress_text(view, types.SimpleNamespace(budget=RunBudget("steps", 5983)))
    assert "128 images/s" in text and "2.0 steps/s" in text and "about 5 min 40 s left" in text


class FakeMeter:
    """A quality meter that reads at once, due every 0.2 s of training time (as the real one is every few)."""

    def __init__(self):
        self.readings, self.every, self.cost, self._next = [], 0.2, 0.0, 0.0

    def due(self, seconds: float) -> bool:
        return seconds >= self._next

    def read(self, G, D, cfg, step, seconds, probabilities):
        self.readings.append(types.SimpleNamespace(step=step))
        self._next = seconds + self.every


def test_slow_motion_keeps_the_quality_readings_and_so_the_now_caption_coming(digits):
    # Paced steps add almost no training time: read by training time alone, the meter (and "Now:") stood still.
    trainer = Trainer(tiny(snapshot_every=1000), digits)
    trainer.meter = FakeMeter()
    trainer.slow_motion(10.0)
    trainer.run(Budget("steps", 15))  # 1.5 s of wall time, a few hundredths of training time
    during = [r.step for r in trainer.meter.readings if 0 < r.step < 15]  # not the first, nor the end's catch-up
    assert len(during) >= 3 and trainer.state().seconds < 0.2


def test_a_d_and_a_g_mark_one_step_apart_at_the_charts_right_edge_do_not_overlap():
    history = {"step": list(range(1, 5305)), "d_loss": [1.0] * 5304, "g_loss": [1.0] * 5304}
    notes = charts.loss_figure(history, [(100, "G lr → 0.001")], [(5303, "D"), (5304, "G")]).layout.annotations
    change, d, g = notes
    assert (d.text, g.text) == ("D", "G") and d.yshift != g.yshift  # stacked: one row each
    assert d.xanchor == g.xanchor == "right"  # at the right edge, written left of the line, not cut off
    assert change.xanchor == "left" and change.yshift == 0
