import threading
import time

import pytest
import torch

from explorer.config import Budget, ConfigError
from explorer.progress import Status
from explorer.trainer import Trainer
from tiny import tiny, wait_until


def test_step_reports_every_metric(digits):
    trainer = Trainer(tiny(d_steps=2), digits)
    m = trainer.step()
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "g_grad", "d_grad", "g_lr", "d_lr", "images"):
        assert key in m
    assert m["images"] == 32 and 0 < m["d_real"] < 1 and 0 < m["d_fake"] < 1
    assert m["g_lr"] == trainer.cfg.g_lr


def test_same_seed_same_run_on_cpu(digits):
    runs = []
    for _ in range(2):
        trainer = Trainer(tiny(seed=7, d_dropout=0.2), digits)
        trainer.run(Budget("steps", 15))
        metrics = trainer.final_metrics()
        metrics.pop("seconds")  # wall time is the one thing allowed to differ
        runs.append((metrics, trainer.sample_fixed()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    other = Trainer(tiny(seed=8), digits)
    other.run(Budget("steps", 15))
    assert not torch.equal(other.sample_fixed(), runs[0][1])


def test_runs_side_by_side_train_as_they_do_alone(digits):
    # A class on one server: dropout masks and penalty points come from each run's own seeded stream, so
    # another run in the process (which draws too) changes nothing.
    def make(seed: int) -> Trainer:
        return Trainer(tiny(seed=seed, d_dropout=0.3, g_dropout=0.2, loss="wgan-gp"), digits)

    def result(trainer: Trainer) -> torch.Tensor:
        return trainer.sample_fixed()

    alone = []
    for seed in (1, 2):
        t = make(seed)
        t.run(Budget("steps", 40))
        alone.append(result(t))
    pair = [make(1), make(2)]
    threads = [threading.Thread(target=t.run, args=(Budget("steps", 40),)) for t in pair]
    torch.manual_seed(123)  # and the global generator's state does not matter either
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads):
        torch.rand(1000)  # someone else drawing from the global generator meanwhile
    for th in threads:
        th.join()
    assert all(torch.equal(result(t), a) for t, a in zip(pair, alone))
    assert not torch.equal(alone[0], alone[1])


def test_pause_resume_and_stop_from_another_thread(digits):
    trainer = Trainer(tiny(), digits)
    worker = training(trainer, Budget("seconds", 30), steps=3)
    trainer.pause()
    wait_until(lambda: trainer.state().status == Status.PAUSED)
    paused_at = trainer.state().step
    time.sleep(0.3)
    assert trainer.state().step == paused_at
    trainer.resume()
    wait_until(lambda: trainer.state().step > paused_at + 3)
    trainer.stop()
    worker.join(timeout=10)
    assert not worker.is_alive()
    state = trainer.state()
    assert state.status == Status.STOPPED and "Stopped" in state.reason and state.seconds < 30


def test_live_changes_apply_between_steps(digits):
    trainer = Trainer(tiny(), digits)
    worker = training(trainer, Budget("seconds", 30), steps=2)
    trainer.update(g_lr=1e-3, d_lr=5e-3, loss="hinge", d_steps=3)
    with pytest.raises(ConfigError, match="g_lr"):
        trainer.update(g_lr=5.0)
    with pytest.raises(ConfigError, match="cannot change"):
        trainer.update(latent_dim=3)
    wait_until(lambda: trainer.state().history.columns()["d_lr"][-1] == 5e-3)  # a whole step with the changes
    trainer.stop()
    worker.join(timeout=10)
    assert trainer.opt.g.param_groups[0]["lr"] == 1e-3 and trainer.opt.d.param_groups[0]["lr"] == 5e-3
    assert trainer.loss.name == "hinge" and trainer.cfg.d_steps == 3
    assert trainer.state().history.columns()["d_lr"][-1] == 5e-3
    [change] = trainer.state().changes  # one entry, at the step where the change began
    assert change.step > 2 and change.what == "G lr → 0.001, D lr → 0.005, loss → Hinge, k → 3"
    assert change.settings == {"g_lr": 1e-3, "d_lr": 5e-3, "loss": "hinge", "d_steps": 3}


def test_a_live_change_to_the_same_values_is_not_marked(digits):
    trainer = Trainer(tiny(), digits)
    trainer.update(loss=trainer.cfg.loss, g_lr=trainer.cfg.g_lr)
    trainer.step()
    assert trainer.state().changes == ()


@pytest.mark.slow  # many seconds: the fast tier leaves it out
def test_concurrent_reads_see_consistent_history(digits):
    trainer = Trainer(tiny(), digits)
    worker = training(trainer, Budget("steps", 300))
    while worker.is_alive():
        h = trainer.state().history.columns()
        assert len({len(v) for v in h.values()}) == 1  # all columns the same length
    worker.join()


def test_history_and_snapshots_stay_bounded(digits):
    trainer = Trainer(tiny(snapshot_every=1), digits, max_snapshots=10, max_points=50)
    trainer.run(Budget("steps", 400))
    state = trainer.state()
    assert len(state.history) <= 51
    assert state.history.columns()["step"][-1] == 400
    assert len(state.snapshots) <= 11
    assert state.snapshots[0].step == 0 and state.snapshots[-1].step == 400
    assert state.snapshots[-1].images.dtype == torch.uint8


def test_nan_stops_the_run_and_keeps_the_last_good_weights(digits):
    trainer = Trainer(tiny(snapshot_every=5), digits)

    def poison(m):
        if m["step"] == 12:
            with torch.no_grad():
                trainer.G.head.weight[0, 0] = float("nan")
    status = trainer.run(Budget("steps", 100), on_step=poison)
    assert status == Status.DIVERGED
    assert "step 13" in trainer.reason and "rolled back to step 10" in trainer.reason
    assert all(torch.isfinite(p).all() for p in trainer.G.parameters())
    assert torch.isfinite(trainer.sample_fixed()).all()
    assert trainer.run(Budget("steps", 200)) == Status.DIVERGED  # a failed run does not silently restart


def test_schedules_change_the_learning_rate_by_epoch(digits):
    trainer = Trainer(tiny(schedule="step", g_milestones=[1], g_gamma=0.5, batch_size=250), digits)
    trainer.run(Budget("epochs", 2))
    assert trainer.current_lr("g") == pytest.approx(trainer.cfg.g_lr * 0.5)
    assert trainer.current_lr("d") == trainer.cfg.d_lr
    decay = Trainer(tiny(schedule="decay", lr_decay=0.5, batch_size=250), digits)
    decay.run(Budget("epochs", 3))  # after epochs 0, 1, 2: factors 1, 1/1.5, 1/2
    assert decay.current_lr("g") == pytest.approx(decay.cfg.g_lr / 1.5 / 2.0)


def test_conditional_generator_draws_the_asked_digit_rows(digits):
    trainer = Trainer(tiny(conditional=True, digits=[1, 8]), digits)
    assert trainer.shots.labels.tolist() == [1] * 8 + [8] * 8
    trainer.run(Budget("steps", 5))
    assert trainer.state().latest.images.shape == (16, 28, 28)


def test_batch_larger_than_the_digits_is_refused(digits):
    with pytest.raises(ConfigError, match="batch_size"):
        Trainer(tiny(batch_size=600), digits)


def training(trainer: Trainer, budget: Budget, steps: int = -1) -> threading.Thread:
    """Run `trainer` in a worker thread, as a job does; return once it has trained more than `steps` steps."""
    worker = threading.Thread(target=trainer.run, args=(budget,))
    worker.start()
    wait_until(lambda: trainer.state().step > steps)
    return worker


def test_weight_average_is_what_people_see_and_keep(digits):
    from explorer import checkpoints, latent
    trainer = Trainer(tiny(g_ema=0.99), digits)
    trainer.run(Budget("steps", 30))
    assert trainer.generator is not trainer.G
    live, avg = trainer.G.head.weight, trainer.generator.head.weight
    assert not torch.equal(live, avg) and (live - avg).abs().max() < 0.5
    z = torch.randn(4, trainer.cfg.latent_dim)
    ck = checkpoints.load(checkpoints.to_bytes(trainer.cfg, trainer.generator))
    assert torch.equal(latent.generate(ck.G, ck.cfg, z), latent.generate(trainer.generator, trainer.cfg, z))


def test_a_stop_takes_effect_between_d_updates(digits):
    trainer = Trainer(tiny(d_steps=5), digits)
    calls = []
    real_next = trainer.batches.next

    def next_batch():  # the second D update asks for a stop, as a page's Stop would, mid-step
        calls.append(1)
        if len(calls) == 2:
            trainer.stop()
        return real_next()
    trainer.batches.next = next_batch
    assert trainer.run(Budget("steps", 10)) == Status.STOPPED
    assert len(calls) == 2 and trainer.step_count == 0  # the step was abandoned after its second D update


def test_stop_then_pause_cannot_park_the_worker(digits):
    trainer = Trainer(tiny(), digits)
    worker = training(trainer, Budget("seconds", 60), steps=2)
    trainer.stop()
    trainer.pause()
    worker.join(timeout=2)
    assert not worker.is_alive() and trainer.state().status == Status.STOPPED


def test_reading_the_state_never_waits_for_a_long_step(digits):
    trainer = Trainer(tiny(g_layers=[1024, 1024], d_layers=[1024, 1024], batch_size=500, d_steps=4), digits)
    worker = training(trainer, Budget("steps", 6))
    waits = []
    while worker.is_alive():
        t0 = time.perf_counter()
        trainer.state().history.columns()
        waits.append(time.perf_counter() - t0)
        time.sleep(0.01)
    worker.join()
    step = trainer.state().seconds / 6
    assert step > 0.1  # steps long enough to block a reader that waited for them
    # a reader that waited for the step in flight would wait about a step; one that does not, a GIL switch or two
    assert max(waits) < step / 3, f"a poll waited {max(waits) * 1000:.0f} ms, a step takes {step * 1000:.0f} ms"


def test_a_trained_model_keeps_the_generator_people_see_and_the_runs_record(digits):
    trainer = Trainer(tiny(g_ema=0.99), digits)
    trainer.run(Budget("steps", 20))
    model = trainer.trained_model(name="run")
    assert model.G is trainer.generator and model.G is not trainer.G and not model.G.training
    assert model.meta["steps"] == 20 and model.meta["name"] == "run" and model.meta["status"] == Status.FINISHED
    assert model.progress.step == 20 and model.progress.status == Status.FINISHED


def test_a_config_with_live_changes_replays_them_and_a_run_records_its_own(digits):
    cfg = tiny(live_changes=[{"step": 10, "g_lr": 1e-3}, {"step": 20, "loss": "hinge"}])
    trainer = Trainer(cfg, digits)
    worker = training(trainer, Budget("steps", 40), steps=25)
    trainer.update(d_steps=2)  # one made live, besides the replayed ones
    worker.join()
    history = trainer.state().history.columns()
    rates = dict(zip(history["step"], history["g_lr"]))
    assert rates[10] == cfg.g_lr and rates[11] == 1e-3  # the change began after step 10
    assert [c.step for c in trainer.state().changes][:2] == [10, 20]
    recorded = trainer.recorded_config()
    assert recorded.g_lr == cfg.g_lr and recorded.loss == cfg.loss  # the settings it started with...
    assert recorded.live_changes[:2] == cfg.live_changes and recorded.live_changes[2]["d_steps"] == 2
    assert recorded.ended().loss == "hinge" and recorded.ended().d_steps == 2  # ...and where it ended
    again = Trainer(recorded, digits)  # a run from the download replays all three
    again.run(Budget("steps", 40))
    assert [(c.step, c.settings) for c in again.state().changes] == \
        [(c.step, c.settings) for c in trainer.state().changes]
