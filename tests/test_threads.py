"""The thread backend (explorer/app/threads.py): a job builds its trainer once admitted, takes control asked
for before that, and keeps only the trained model when it is done."""

import gc
import weakref

import pytest

from explorer.app.jobs import JobSpec
from explorer.app.limits import Limits
from explorer.app.threads import ThreadBackend
from explorer.config import Budget, ConfigError
from explorer.progress import Status
from explorer.trainer import Trainer
from tiny import tiny, wait_until

pytestmark = pytest.mark.usefixtures("warm_meter")  # as the server: its first job does not load the meter


@pytest.fixture
def backend(digits):
    made = ThreadBackend(Limits(max_jobs=1), watch_every=None, set_threads=False, data=digits)
    yield made
    made.close(wait=10)


def test_a_queued_job_builds_no_trainer(backend, monkeypatch):
    built = []
    real_init = Trainer.__init__
    monkeypatch.setattr(Trainer, "__init__", lambda self, *a, **k: (built.append(self), real_init(self, *a, **k)))
    running = backend.submit(JobSpec(tiny(), Budget("steps", 10**6)))
    waiting = backend.submit(JobSpec(tiny(), Budget("steps", 5)))
    wait_until(lambda: built, 30, "the running job's trainer")
    assert len(built) == 1 and waiting.queued and waiting.progress().status == Status.QUEUED
    assert waiting.view().settings["g_lr"] == tiny().g_lr  # the live form can be filled before it runs
    running.stop()
    assert waiting.wait(30) and len(built) == 2


def test_control_asked_for_before_the_trainer_exists_is_passed_on(backend):
    job = backend.submit(JobSpec(tiny(), Budget("steps", 10**6)))
    job.update(loss="hinge")  # may come before the worker has built its trainer
    with pytest.raises(ConfigError, match="d_steps"):
        job.update(d_steps=0)
    wait_until(lambda: job.progress().step > 0, 30, "a first step")
    assert job.view().settings["loss"] == "hinge"
    job.stop()
    assert job.wait(30) and job.view().status == Status.STOPPED
    assert job.result().cfg.ended().loss == "hinge" and job.result().cfg.live_changes[0]["step"] == 0


def test_a_done_job_lets_go_of_its_trainer(backend):
    job = backend.submit(JobSpec(tiny(), Budget("steps", 5), name="run"))
    wait_until(lambda: job._trainer is not None or job.done, 30, "the trainer", every=0.0005)
    trainer = weakref.ref(job._trainer) if job._trainer is not None else None
    assert job.wait(30)
    model = job.result()
    assert model is not None and model.meta["steps"] == 5 and model.progress.step == 5
    gc.collect()
    assert trainer is None or trainer() is None  # optimizers, data on the device, rollback copies: gone
    assert job.progress().step == 5  # what the pages read stays


def test_step_mode_and_slow_motion_reach_the_trainer(backend):
    job = backend.submit(JobSpec(tiny(snapshot_every=1000), Budget("steps", 10**6)))
    job.slow_motion(50.0)  # asked before the trainer exists: passed on once it does
    wait_until(lambda: job.progress().step >= 3, 30, "three steps")
    assert job.view().pace == 50.0
    steps = [s.step for s in job.view().snapshots]
    assert steps == list(range(len(steps)))  # a snapshot every step in slow motion
    assert not job.nudge("g")  # running: a lone update means nothing
    job.pause()
    assert job.wait_paused()
    at = job.view().step
    assert job.nudge("g")
    while job.view().step == at:
        pass
    view = job.view()
    assert view.step == at + 1 and view.status == Status.PAUSED and view.nudges[-1].what == "G step"
    with pytest.raises(ValueError, match="D or of G"):
        job.nudge("both")
    with pytest.raises(ValueError, match="steps a second"):
        job.slow_motion(1e6)
    job.stop()
    assert job.wait(30)
