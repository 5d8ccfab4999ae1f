"""A waiting student's place and time to start (explorer.app.queue_wait), on hand-made jobs and a hand-set clock:
nothing trains, so every figure is known exactly."""

import pytest

from explorer.app.backend import Backend
from explorer.app.jobs import Job, JobSpec
from explorer.app.limits import Limits
from explorer.app.queue_wait import Measured, PaceRecord, about, in_line_text, ordinal, training_seconds, wait_seconds
from explorer.config import Budget, GANConfig
from explorer.progress import Progress, Status

STEPS = Budget("steps", 100)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HandJob(Job):
    """A job whose progress the test sets; it ends when the test stops it."""

    def __init__(self, spec, clock):
        super().__init__(spec, clock)
        self.now = Progress()

    def _launch(self) -> None:
        self.now = Progress(status=Status.RUNNING)

    def progress(self) -> Progress:
        return self.now

    def _control(self, action: str, **changes) -> None:
        if action == "stop":
            self._finish()


class HandBackend(Backend):
    def _make_job(self, spec):
        return HandJob(spec, self.clock)

    def _has_room(self, job) -> bool:
        return len(self.running) < self.limits.max_jobs

    def _check_fits(self, spec) -> None:
        pass


def hand_backend(max_jobs=1, max_run_seconds=1800.0):
    clock = Clock()
    return HandBackend(Limits(max_jobs=max_jobs, max_run_seconds=max_run_seconds), clock=clock,
                       watch_every=None), clock


def trained(job, clock, step, seconds, images_per_step=64):
    job.now = Progress(status=Status.RUNNING, step=step, images_seen=step * images_per_step, seconds=seconds)


def test_slots_free_up_in_order_and_each_job_ahead_takes_the_first_free_one():
    # Slots free in 10 and 20 s; the first ahead (30 s) takes the one at 10 (free again at 40), the second (5 s)
    # the one at 20 (free at 25): the next starts at 25.
    assert wait_seconds([10.0, 20.0], [30.0, 5.0]) == 25.0
    assert wait_seconds([10.0, 20.0], []) == 10.0
    assert wait_seconds([10.0], [30.0, None]) is None  # one length unknown: the whole answer is
    assert wait_seconds([], [5.0]) is None  # no slot held here: nothing this backend runs decides it


def test_nothing_measured_means_no_rate_not_a_guess():
    record, spec = PaceRecord(), JobSpec(GANConfig(), STEPS)
    assert record.rates(spec) is None and training_seconds(spec, None) is None
    assert training_seconds(JobSpec(GANConfig(), Budget("seconds", 30)), None) == 30.0  # a time budget is its time
    record.add(spec, Measured(steps=100, images=6400, training=20.0, held=26.0))
    assert record.rates(JobSpec(GANConfig(batch_size=256), STEPS)) is None  # another setup's runs do not stand in
    rates = record.rates(spec)
    assert (rates.per_step, rates.per_image, rates.hold) == (0.2, 20.0 / 6400, 6.0)
    assert training_seconds(spec, rates) == 20.0


def test_a_waiting_job_is_told_when_it_starts_from_the_runs_ahead():
    backend, clock = hand_backend(max_jobs=1)
    first, second, third = (backend.submit(JobSpec(GANConfig(seed=i), STEPS)) for i in range(3))
    assert [j.view().queue_position for j in (first, second, third)] == [0, 1, 2]
    # The first job has trained no step and this setup never trained here: its length is not known.
    assert second.view().wait is None and third.view().wait is None

    clock.now += 12.0
    trained(first, clock, step=40, seconds=10.0)  # 0.25 s a step: its 60 steps left take 15 s
    assert second.view().wait == pytest.approx(15.0)
    # The third waits for the first, then the second's 100 steps at the pace the first is measured at (25 s).
    assert third.view().wait == pytest.approx(40.0)

    clock.now += 18.0
    trained(first, clock, step=100, seconds=25.0)
    first.stop()  # it held its slot 30 s for 25 s of training: 5 s beyond, which the next runs are counted to take
    assert second.view().status == Status.RUNNING and third.view().queue_position == 1
    assert third.view().wait == pytest.approx(25.0 + 5.0)
    assert in_line_text(third.view().queue_position, third.view().wait) == (
        "Waiting: 1st in line, starts in about 30 s (from the runs ahead)")
    backend.close()


def test_no_run_is_counted_past_the_servers_run_time_limit():
    backend, clock = hand_backend(max_jobs=1, max_run_seconds=20.0)
    first = backend.submit(JobSpec(GANConfig(), STEPS))
    second = backend.submit(JobSpec(GANConfig(), Budget("seconds", 600)))
    third = backend.submit(JobSpec(GANConfig(), STEPS))
    clock.now += 12.0
    trained(first, clock, step=10, seconds=10.0)  # 90 s left at its pace, but the limit stops it in 8
    assert second.view().wait == pytest.approx(8.0)
    assert third.view().wait == pytest.approx(8.0 + 20.0)  # the second's 600 s budget is cut at 20
    backend.close()


def test_a_paused_job_ahead_is_counted_as_if_it_went_on_now():
    backend, clock = hand_backend(max_jobs=1)
    first = backend.submit(JobSpec(GANConfig(), Budget("seconds", 30)))
    second = backend.submit(JobSpec(GANConfig(), STEPS))
    clock.now += 10.0
    trained(first, clock, step=50, seconds=10.0)
    first.pause()
    clock.now += 100.0  # a pause of any length: its 20 s of training are still to come
    assert second.view().wait == pytest.approx(20.0)
    backend.close()


def test_the_words_a_waiting_student_reads():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]
    assert [about(s) for s in (3, 42, 59, 61, 130)] == ["a few seconds", "40 s", "1 min", "1 min", "2 min"]
    assert in_line_text(3, None) == "Waiting: 3rd in line"
    assert in_line_text(3, 125.0) == "Waiting: 3rd in line, starts in about 2 min (from the runs ahead)"
