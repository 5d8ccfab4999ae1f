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
def local_cluster(nodes: int = 2, cpus: int = 1, memory: int = NODE_MEMORY, port: int | None = None):
    """A head node (at `port`, else a free one) and `nodes - 1` workers, `cpus` CPUs and `memory` bytes each, on
    127.0.0.1."""
    from ray.cluster_utils import Cluster

    node = {"num_cpus": cpus, "memory": memory}
    at = {"gcs_server_port": port} if port else {}
    cluster = Cluster(initialize_head=True, head_node_args={**node, **at, "include_dashboard": False})
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


CLUSTER_SCRIPT = """
import os, sys
sys.path.insert(0, sys.argv[1])
import ray_support
from ray_support import local_cluster
with local_cluster(nodes=1, port=int(sys.argv[2])) as cluster:
    print(cluster.address, flush=True)
    if sys.stdin.readline().strip() == "kill":  # the head dies as a machine would: no goodbye
        cluster.head_node.kill_all_processes(check_alive=False, allow_graceful=False, wait=True)
        print("killed", flush=True)
        os._exit(0)  # its own Ray client would end this process anyway, for want of the head
"""


@contextlib.contextmanager
def cluster_in_a_process(port: int = 0):
    """A one-node cluster (head at `port`, else a free one) held by a process of its own, as a real head is: this
    process's Ray connection is then the only one it has. `.kill()` kills the head's processes at once."""
    import subprocess
    import sys
    from pathlib import Path

    from browser_support import free_port

    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-c", CLUSTER_SCRIPT, str(Path(__file__).parent), str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        address = proc.stdout.readline().strip()
        if not address:
            raise RuntimeError("the test cluster's process did not start a cluster")

        class Held:
            def kill(self) -> None:
                proc.stdin.write("kill\n")
                proc.stdin.flush()
                proc.stdout.readline()
                proc.wait(timeout=60)

        held = Held()
        held.address = address
        yield held
    finally:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.stdin.write("stop\n")
                proc.stdin.flush()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
