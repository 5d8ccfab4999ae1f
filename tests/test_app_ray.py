"""The Train page on the Ray backend (GAN_EXPLORER_RAY_ADDRESS set), through AppTest, against a two-node cluster
this module starts and stops: the page's own flows (start, the charts move, pause and resume, a live change,
stop, downloads, the current model) run unchanged; and when a job's actor process is killed or its whole node
removed mid-run, the page says so, keeps the last state and weights, "Continue training" trains on from them,
and another session's run is untouched."""

import os
import signal
import time

import pytest
import ray_support  # noqa: F401 - first: sets Ray's token authentication before ray is imported
from apptest_support import TINY, app, button, errors, rerun_until, session, start, wait_for_steps
from ray_support import add_node, local_cluster, node_of, ray_registry, wait_for
from test_app import (  # noqa: F401 - the thread backend's page flows, collected here again on Ray
    test_a_tiny_run_started_from_the_page_finishes_and_becomes_the_current_model,
    test_live_changes_apply_to_the_running_job,
    test_pause_resume_stop_and_reset_from_the_page,
)

from explorer.app.ray_job import RayJob
from explorer.progress import Status


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as made, ray_registry(made.address):
        yield made


pytestmark = pytest.mark.usefixtures("cluster")


def long_run(digit: str):
    at = app("pages/train.py", **{**TINY, "steps": "1000000", "digits": digit})
    start(at)
    rerun_until(at, "running", timeout=120)
    wait_for_steps(at)
    assert isinstance(session(at).job, RayJob)
    return at


def test_the_charts_move():
    at = long_run("3")
    at.run()
    charts = {c.key for c in at.get("plotly_chart")}
    assert {"chart_loss", "chart_d", "chart_dyn"} <= charts
    first = [c.proto.spec for c in at.get("plotly_chart") if c.key == "chart_loss"][0]
    time.sleep(2)
    at.run()
    later = [c.proto.spec for c in at.get("plotly_chart") if c.key == "chart_loss"][0]
    assert later != first and len(later) > len(first)  # more points drawn
    session(at).job.stop()
    assert session(at).job.wait(30)


def lose_and_continue(at, other, lose, why: str) -> None:
    """Lose `at`'s job by `lose(job)`; check what the page says and keeps, that `other` trains on, then continue."""
    job, bystander = session(at).job, session(other).job
    weights = wait_for(lambda: (w := job.last_weights) is not None and w.step > 0 and w, 30, "weights pulled")
    lose(job)
    rerun_until(at, "failed", timeout=90)
    text = errors(at)
    assert "was lost at step" in text and why in text and "you can go on training from them" in text, text
    kept = job.resume_point()
    assert kept is not None and kept.step >= weights.step and job.view().step >= kept.step  # the last state stays
    assert session(at).current.steps == kept.step  # the last weights are the current model
    assert job.view().snapshots and job.view().history["step"]
    before = bystander.progress().step
    wait_for(lambda: bystander.progress().step > before + 10, 30, "the other session's run to train on")
    assert bystander.view().status == Status.RUNNING and not errors(other)
    button(at, f"Continue training from step {kept.step:,}").click().run()
    rerun_until(at, "running", timeout=120)
    carried = session(at).job
    assert carried is not job and carried.name == f"Run 2 (continues {job.name})"
    wait_for(lambda: carried.progress().step > kept.step + 10, 60, "the continued run to train on")
    assert carried.progress().history.rows[0].step <= kept.step  # its charts go on from the lost run's
    for j in (carried, bystander):
        j.stop()
        assert j.wait(30)


def test_a_killed_actor_process_is_reported_and_its_run_continues():
    mine, other = long_run("3"), long_run("7")
    lose_and_continue(mine, other, lambda job: os.kill(job.info["pid"], signal.SIGKILL), "its worker process ended")


def test_a_removed_node_is_reported_and_its_run_continues(cluster):
    a, b = long_run("3"), long_run("7")
    head = cluster.head_node.node_id
    mine, other = (a, b) if session(a).job.info["node"] != head else (b, a)
    assert session(mine).job.info["node"] != head  # one job per one-CPU node

    def remove(job):
        cluster.remove_node(node_of(cluster, job.info["node"]))
        add_node(cluster)  # a machine joins again: room for the continued run

    lose_and_continue(mine, other, remove, "left the cluster")
