"""`bench class`: a class at once. N sessions each start the default preset for S seconds of training, through
the services a page uses (Session, JobSpec, the backend), not Streamlit; the report says how long they waited,
how fast each trained, whether any job was lost, and how much memory the server held at its peak.

The backend is the server's: worker threads (GAN_EXPLORER_* settings), or a Ray cluster with --ray-address.
`--ray-address local` starts a two-node cluster on this machine for the run (one CPU a node, as many as the
thread backend's slots on 2 cores) and stops it after.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

from .. import presets
from ..app.backend import Backend, BackendUnavailable
from ..app.limits import Limits
from ..app.session import Session
from ..config import Budget
from ..progress import Status
from .report import machine, write

LOCAL_NODES = 2


def add_parser(bsub):
    c = bsub.add_parser("class", help="a class of N sessions training the default preset at once")
    c.add_argument("--sessions", type=int, default=8)
    c.add_argument("--seconds", type=float, default=20.0, help="of training per session")
    c.add_argument("--ray-address", default="", help="a Ray cluster (auto, host:port, ray://...), or 'local' to "
                                                    "start a two-node cluster on this machine for the run")
    c.add_argument("--digits", default="3")
    c.add_argument("--out", type=Path, default=Path("bench-class.json"))
    return c


def run(args) -> int:
    try:
        with backend_for(args.ray_address) as (backend, kind):
            report = simulate(backend, args.sessions, args.seconds, [int(d) for d in args.digits.split(",")])
    except BackendUnavailable as e:  # a cluster that cannot be joined: what is wrong and what to do, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    report = {"backend": kind, **report, "machine": machine()}
    for key, value in report.items():
        if key != "machine":
            print(f"{key:<32} {value}")
    write(args.out, report)
    return 0


@contextlib.contextmanager
def backend_for(address: str):
    """(backend, its name) for `address`: threads when empty, a local two-node cluster for "local"."""
    limits = Limits.from_env()
    if not address:
        from ..app.threads import ThreadBackend

        made = ThreadBackend(limits, watch_every=None)
        try:
            yield made, "threads"
        finally:
            made.close(wait=30)
        return
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_worker_niceness", "0")  # workers at the server's priority on a shared machine
    from ..app.ray_backend import RayBackend

    cluster = None
    if address == "local":
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # every node on 127.0.0.1
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        for _ in range(LOCAL_NODES - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        address = cluster.address
    made = RayBackend(limits, address, watch_every=None)
    try:
        yield made, f"ray ({LOCAL_NODES} local nodes)" if cluster else f"ray ({address})"
    finally:
        made.close(wait=30)
        if cluster is not None:
            cluster.shutdown()


def simulate(backend: Backend, sessions: int, seconds: float, digits: list[int]) -> dict:
    """Every session presses Start at once; wait for all; the figures of the class."""
    cfg = presets.get("default").config(digits=digits)
    started = time.monotonic()
    jobs = [Session(f"student-{i}").start(backend, cfg.replace(seed=i), Budget("seconds", seconds))
            for i in range(sessions)]
    peak = 0
    while not all(job.done for job in jobs):
        peak = max(peak, _peak_rss())
        time.sleep(0.5)
    wall = time.monotonic() - started
    waits = [job.started - job.created for job in jobs if job.started is not None]
    finished = [job for job in jobs if job.view().status == Status.FINISHED]
    rates = [job.view().images_per_second for job in finished]
    return {"sessions": sessions, "seconds_each": seconds, "jobs_finished": len(finished),
            "jobs_lost": sum(job.lost or job.failed for job in jobs), "wall_seconds": round(wall, 1),
            "median_queue_wait_seconds": round(statistics.median(waits), 1) if waits else None,
            "max_queue_wait_seconds": round(max(waits), 1) if waits else None,
            "per_job_images_per_second": round(statistics.median(rates)) if rates else 0,
            "per_job_images_per_second_all": [round(r) for r in rates],
            "server_peak_rss_mb": round(max(peak, _peak_rss()) / 2**20)}


def _peak_rss() -> int:
    """This process's peak resident memory (VmHWM), in bytes; 0 where /proc is missing."""
    try:
        text = Path("/proc/self/status").read_text()
        return int(text.split("VmHWM:")[1].split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        return 0
