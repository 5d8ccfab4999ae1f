"""The Ray backend through the job interface (explorer/app/ray_backend.py), on a two-node cluster this module
starts and stops (one CPU and 3 GiB of Ray's memory resource a node): a job trains and leaves its model; when
the cluster is full a job waits and shows its place; a job no node could hold is refused at Start; what comes
back to this server is booked against its budget; a poll never waits for a long step."""

import gc
import os
import time

import pytest
import ray_support  # noqa: F401 - first: sets Ray's token authentication before ray is imported
from ray_support import NODE_MEMORY, local_cluster, wait_for

from explorer import memory
from explorer.app.jobs import JobSpec, Refused
from explorer.app.limits import Limits
from explorer.config import Budget
from explorer.progress import Status
from tiny import long_steps, longest_poll, tiny

FOREVER = Budget("steps", 10**7)


@pytest.fixture(scope="module")
def backend():
    from explorer.app.ray_backend import RayBackend

    with local_cluster() as cluster:
        made = RayBackend(Limits(max_jobs=1, max_run_seconds=600, session_grace=60), cluster.address,
                          watch_every=None)
        yield made
        made.close(wait=10)


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(backend):
    """Whatever a test leaves training, failing or not, is stopped before the next test: two forgotten jobs would
    hold both of the cluster's CPUs, and every later test would wait for a slot."""
    yield
    stop_all(backend)


def stop_all(backend, timeout: float = 30.0) -> None:
    with backend._lock:
        jobs = [*backend.running, *backend.queue, *backend.waiting_jobs]
    for job in jobs:
        job.stop()
    for job in jobs:
        assert job.wait(timeout), f"{job.name} did not stop within {timeout:.0f}s"
    wait_for(lambda: backend.ray.available_resources().get("CPU", 0) >= 2, 30, "the cluster's CPUs to be free again")


def test_a_job_trains_on_the_cluster_and_leaves_its_model(backend):
    job = backend.submit(JobSpec(tiny(), Budget("steps", 30), name="Run 1"))
    assert job.wait(120), job.view()
    view = job.view()
    assert (view.status, view.step, view.done) == (Status.FINISHED, 30, True)
    assert view.history["step"][-1] == 30 and view.snapshots[-1].step == 30 and view.readings
    model = job.result()
    assert model.meta["steps"] == 30 and model.cfg == tiny() and model.progress.step == 30
    assert job.info["device"] == "cpu" and job.info["pid"] != os.getpid()  # trained in the cluster's process


def test_when_the_cluster_is_full_a_job_waits_and_shows_its_place(backend):
    assert backend.stats()["max_jobs"] == 2  # two nodes of one CPU: the cluster's capacity, not this server's
    first, second = (backend.submit(JobSpec(tiny(seed=i), FOREVER, measure=False)) for i in range(2))
    wait_for(lambda: first.view().status == second.view().status == Status.RUNNING, 120, "two jobs running")
    third = backend.submit(JobSpec(tiny(), FOREVER, measure=False))
    time.sleep(2)
    assert (third.view().status, third.view().queue_position) == (Status.QUEUED, 1)
    assert backend.stats() == {"running": 2, "queued": 1, "max_jobs": 2}
    first.stop()
    assert first.wait(30) and first.view().status == Status.STOPPED and first.result().meta["steps"] > 0
    wait_for(lambda: third.view().status == Status.RUNNING, 120, "the waiting job to start")
    third.update(g_lr=1e-3)
    wait_for(lambda: third.view().settings["g_lr"] == 1e-3, 30, "the live change")
    for job in (second, third):
        job.stop()
        assert job.wait(30)


def test_a_waiting_job_can_leave_the_clusters_queue(backend):
    running = [backend.submit(JobSpec(tiny(seed=i), FOREVER, measure=False)) for i in range(2)]
    waiting = backend.submit(JobSpec(tiny(), FOREVER, measure=False))
    wait_for(lambda: all(j.view().status == Status.RUNNING for j in running), 120, "two jobs running")
    assert waiting.view().queue_position == 1
    waiting.stop()
    assert waiting.done and waiting.view().status == Status.STOPPED and waiting.result() is None
    assert backend.waiting() == 0
    for job in running:
        job.stop()
        assert job.wait(30)


def test_a_job_no_node_could_hold_is_refused_at_start(backend):
    big = JobSpec(tiny(batch_size=4096, digits=list(range(10)), d_layers=[4096, 4096], g_layers=[4096, 4096],
                       loss="wgan-gp"), FOREVER)
    assert big.memory > NODE_MEMORY
    with pytest.raises(Refused) as refused:
        backend.submit(big)
    assert refused.value.field == "batch_size" and "largest machine of the Ray cluster" in str(refused.value)
    assert backend.waiting() == 0


def test_what_comes_back_is_booked_on_this_server_until_its_session_lets_it_go(backend):
    cfg = tiny()
    kept = memory.kept_bytes(cfg)
    gc.collect()
    before = backend.memory_in_use()  # what the module's earlier tests may still hold
    backend.server_memory = before + kept + kept // 2  # room for one run's results here, not two
    try:
        first = backend.submit(JobSpec(cfg, FOREVER, measure=False))
        wait_for(lambda job=first: job.view().status == Status.RUNNING, 120, "the first job to start")
        waiting = backend.submit(JobSpec(cfg.replace(seed=1), FOREVER, measure=False))
        time.sleep(1)
        assert waiting.view().queue_position == 1 and backend.stats()["queued"] == 1  # the cluster has room; not here
        first.stop()
        assert first.wait(30) and first.result() is not None
        assert backend.memory_in_use() == before + kept  # the finished run, kept by its session
        backend.check()
        assert waiting.queued, "admitted while the finished run is still kept"
        del first  # its session lets the run go: the next admission pass starts the waiting job
        wait_for(lambda: gc.collect() >= 0 and backend.check() is None and not waiting.queued, 30,
                 "the waiting job to be admitted")
        wait_for(lambda: waiting.view().status == Status.RUNNING, 120, "the waiting job to start")
        assert backend.memory_in_use() == before + kept  # the running job's share
        with pytest.raises(Refused, match="this server's memory"):
            backend.submit(JobSpec(cfg.replace(g_layers=[2048, 2048]), FOREVER))
        waiting.stop()
        assert waiting.wait(30)
    finally:
        backend.server_memory = None


def test_a_poll_never_waits_for_a_long_step(backend):
    job = backend.submit(JobSpec(long_steps(), Budget("steps", 8), measure=False))
    waited = longest_poll(job, 8)
    assert waited < 0.05, f"a poll waited {waited * 1000:.0f} ms"
