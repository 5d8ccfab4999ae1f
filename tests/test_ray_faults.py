"""Ray connection problems in plain words (explorer/app/ray_connection.py), in the app and in `bench class`, with no
traceback: a cluster without token authentication, an address where nothing listens, and a head that goes away
while jobs train (this server lets go of Ray before Ray would end the process, loses its jobs with their last
weights, refuses new ones with the reason, and joins the cluster again once it is back)."""

import contextlib
import os
import subprocess
import sys
import time

import pytest
import ray_support  # noqa: F401 - first: sets Ray's token authentication before ray is imported
from apptest_support import app, close_services
from browser_support import REPO_ROOT, free_port
from ray_support import local_cluster, ray, wait_for

from explorer.app.jobs import JobSpec, Refused
from explorer.app.limits import Limits
from explorer.config import Budget
from explorer.progress import Status
from explorer.ui import state
from tiny import tiny

pytestmark = pytest.mark.usefixtures("app_services")

OPEN_CLUSTER = "runs without token authentication (a plain `ray start --head`)"
NOTHING_THERE = "Nothing answers at the Ray address"


@contextlib.contextmanager
def open_cluster():
    """A one-node cluster whose head runs with token authentication off, as a plain `ray start --head` does.
    (The head reads RAY_AUTH_MODE from its own environment; this process keeps its token mode.)"""
    from ray.cluster_utils import Cluster

    before = os.environ["RAY_AUTH_MODE"]
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    finally:
        os.environ["RAY_AUTH_MODE"] = before
    try:
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture
def app_on(monkeypatch):
    """The app's services made anew on the Ray address given, as a server started with it; closed after."""
    def make(address: str):
        close_services()
        monkeypatch.setenv("GAN_EXPLORER_RAY_ADDRESS", address)
    yield make
    monkeypatch.undo()
    close_services()
    ray.shutdown()


def page_says(address_maker, says: str) -> None:
    for page in ("pages/home.py", "pages/train.py"):
        at = app(page)
        text = " ".join(e.value for e in at.error) + " ".join(t.value for t in at.text)
        assert "This server cannot start" in text and says in text, text
        assert "it does not fall back to training on its own threads" in text, text
        assert not at.exception
        assert not [b for b in at.button if b.label == "Start training"]


def bench_says(address: str, says: str) -> None:
    done = subprocess.run([sys.executable, "-m", "explorer", "bench", "class", "--ray-address", address,
                           "--sessions", "1", "--seconds", "1", "--out", os.devnull],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 2, done.stderr[-3000:]
    assert says in done.stderr and "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]


def test_a_cluster_without_token_authentication_is_named(app_on):
    with open_cluster() as cluster:
        app_on(cluster.address)
        page_says(cluster.address, OPEN_CLUSTER)
        assert not ray.is_initialized()  # let go of: the next try starts afresh
        bench_says(cluster.address, OPEN_CLUSTER)


def test_an_address_where_nothing_listens_is_named_at_once(app_on):
    address = f"127.0.0.1:{free_port()}"
    app_on(address)
    started = time.monotonic()
    page_says(address, NOTHING_THERE)
    assert time.monotonic() - started < 30  # Ray alone retries for about 14 minutes
    bench_says(address, NOTHING_THERE)


def test_a_head_that_goes_away_is_said_and_the_server_joins_again(monkeypatch):
    """The head's probe is made to fail while the cluster itself stays up: killing a real head on this machine
    also kills the Ray node this process is attached to, and Ray then ends the process (its object store is gone),
    which no server could survive and no test could report. On a real deployment the app servers' nodes stay."""
    from explorer.app import ray_connection
    from explorer.app.ray_backend import RayBackend

    assert not ray.is_initialized()
    with local_cluster(nodes=1) as cluster:
        backend = RayBackend(Limits(max_jobs=1, max_run_seconds=600, session_grace=60), cluster.address,
                             watch_every=None)
        try:
            job = backend.submit(JobSpec(tiny(), Budget("steps", 10**7), name="Run 1"))
            wait_for(lambda: job.started and job.progress().step > 0, 120, "the job to train")
            monkeypatch.setattr(ray_connection, "head_answers", lambda *args, **kwargs: False)  # the head is gone
            wait_for(lambda: backend.problem, 30, "the server to see that the head went away")
            assert "went away" in backend.problem and "does not train on its own threads" in backend.problem
            wait_for(lambda: job.done, 30, "the job to be lost")
            assert job.lost and "the Ray cluster's head went away" in job.note, job.note
            wait_for(lambda: not ray.is_initialized(), 30, "the server to let go of Ray")
            with pytest.raises(Refused, match="went away"):
                backend.submit(JobSpec(tiny(), Budget("steps", 10), name="Run 2"))
            monkeypatch.undo()  # the head answers again
            wait_for(lambda: not backend.problem, 60, "the server to join the cluster again")
            assert ray.is_initialized()
            again = backend.submit(JobSpec(tiny(), Budget("steps", 30), name="Run 3"))
            wait_for(lambda: again.done, 180, "a job on the cluster joined again")
            assert again.progress().status == Status.FINISHED, again.progress().status
        finally:
            backend.close(wait=10)  # before the cluster goes
            state.registry.clear()
