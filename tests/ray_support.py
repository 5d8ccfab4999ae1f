"""A Ray cluster for the tests: two nodes on this machine (ray.cluster_utils.Cluster), every node on 127.0.0.1,
token authentication on with a token made for this test run, started and stopped by the test module using it.

Import this module before anything imports ray: RAY_AUTH_MODE is read when ray is imported.
"""

from __future__ import annotations

import contextlib
import os
import secrets

os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")  # as the app sets them (explorer/app/ray_connection.py)
os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(7 * 24 * 3600))
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))  # the nodes, the server and its tests share it
os.environ.setdefault("RAY_worker_niceness", "0")  # workers at the server's priority on a shared machine
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Every node and the driver on 127.0.0.1: Ray's switch for single-machine clusters (named for Windows and macOS,
# where it is the default), so no test traffic leaves the loopback interface.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import pytest  # noqa: E402

ray = pytest.importorskip("ray", reason="the Ray backend's tests need requirements-ray.txt")

GiB = 2**30
NODE_MEMORY = 3 * GiB  # Ray's memory resource per node: what the admission tests reason about


@contextlib.contextmanager
def local_cluster(nodes: int = 2, cpus: int = 1, memory: int = NODE_MEMORY):
    """A head node and `nodes - 1` workers, `cpus` CPUs and `memory` bytes each, on 127.0.0.1."""
    from ray.cluster_utils import Cluster

    node = {"num_cpus": cpus, "memory": memory}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def add_node(cluster, cpus: int = 1, memory: int = NODE_MEMORY):
    made = cluster.add_node(num_cpus=cpus, memory=memory)
    cluster.wait_for_nodes()
    return made


def node_of(cluster, node_id: str):
    return next(n for n in cluster.list_all_nodes() if n.node_id == node_id)


@contextlib.contextmanager
def ray_registry(address: str, **env):
    """The app's process-wide backend (explorer.ui.state.registry) on the cluster at `address`, for AppTest."""
    from explorer.ui import state

    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_EXPLORER_RAY_ADDRESS", address)
    for name, value in env.items():
        mp.setenv(name, value)
    state.registry.clear()
    try:
        yield state.registry()
    finally:
        from apptest_support import close_services

        close_services()
        mp.undo()


def wait_for(condition, timeout: float, what: str, every: float = 0.1):
    """Poll `condition()` until it is truthy (returned) or `timeout` seconds pass (AssertionError, with what the
    cluster held then)."""
    import time

    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; {cluster_state()}")
        time.sleep(every)
    return value


def cluster_state() -> str:
    """What the connected cluster holds now, for a failure's message: free resources and its actors by state."""
    try:
        from collections import Counter

        from ray.util.state import list_actors

        free = {k: round(v, 2) for k, v in ray.available_resources().items() if k in ("CPU", "memory")}
        actors = Counter(a.state for a in list_actors(limit=1000, raise_on_missing_output=False))
        return f"the cluster's free resources: {free}; its actors by state: {dict(actors)}"
    except Exception as e:  # diagnostics must not hide the failure they explain
        return f"(the cluster's state could not be read: {e})"

