"""`bench class`: a class at once. N sessions each start the default preset for S seconds of training, through
the services a page uses (Session, JobSpec, the backend), not Streamlit; the report says how long they waited
(and how near the waiting pages' estimates of it came), how fast each trained, whether any job was refused or
lost, and how much memory the server held at its peak. A refusal is a figure of the report, never its end.

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
from ..app.jobs import Refused
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
            print(f"{key:<40} {value}")
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
    """Every session presses Start at once; wait for all; the figures of the class. A student the server refuses
    is counted (`jobs_refused`), and the others go on.

    Each poll also reads every waiting job's estimated start (explorer.app.queue_wait); once all have started, the
    report says how far those estimates were from when each did start."""
    cfg = presets.get("default").config(digits=digits)
    started = time.monotonic()
    jobs, refused = [], 0
    for i in range(sessions):
        try:
            jobs.append(Session(f"student-{i}").start(backend, cfg.replace(seed=i), Budget("seconds", seconds)))
        except Refused:
            refused += 1
    peak, guesses = 0, []  # (job, the backend's clock when asked, the estimated start then)
    while not all(job.done for job in jobs):
        peak = max(peak, _peak_rss())
        for job in jobs:
            wait = job.view().wait if job.queued else None
            if wait is not None:
                guesses.append((job, job.clock(), wait))
        time.sleep(0.5)
    wall = time.monotonic() - started
    waits = [job.started - job.created for job in jobs if job.started is not None]
    finished = [job for job in jobs if job.view().status == Status.FINISHED]
    rates = [job.view().images_per_second for job in finished]
    return {"sessions": sessions, "seconds_each": seconds, "jobs_finished": len(finished), "jobs_refused": refused,
            "jobs_lost": sum(job.lost or job.failed for job in jobs), "wall_seconds": round(wall, 1),
            "median_queue_wait_seconds": round(statistics.median(waits), 1) if waits else None,
            "max_queue_wait_seconds": round(max(waits), 1) if waits else None,
            **_estimate_misses(guesses),
            "per_job_images_per_second": round(statistics.median(rates)) if rates else 0,
            "per_job_images_per_second_all": [round(r) for r in rates],
            "server_peak_rss_mb": round(max(peak, _peak_rss()) / 2**20)}


def _estimate_misses(guesses: list) -> dict:
    """How far the waiting jobs' estimated starts were from their real ones: over every estimate read, and over
    each job's first (read at Start, before most runs had ended and been measured)."""
    misses = [(id(job), abs(at + wait - job.started)) for job, at, wait in guesses if job.started is not None]
    first: dict[int, float] = {}
    for job, miss in misses:
        first.setdefault(job, miss)
    return {"wait_estimates_read": len(misses),
            "median_wait_estimate_miss_seconds": _median([miss for _, miss in misses]),
            "median_first_wait_estimate_miss_seconds": _median(list(first.values()))}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _peak_rss() -> int:
    """This process's peak resident memory (VmHWM), in bytes; 0 where /proc is missing."""
    try:
        text = Path("/proc/self/status").read_text()
        return int(text.split("VmHWM:")[1].split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        return 0
