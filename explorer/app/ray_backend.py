"""The Ray backend: each job trains in a Ray actor on a cluster (explorer.app.ray_actor), placed by Ray.

Selected by GAN_EXPLORER_RAY_ADDRESS (explorer.app.backends); this module is the only one that imports Ray, and
only then. Each actor asks for its CPUs (GAN_EXPLORER_RAY_CPUS_PER_JOB, default 1), a share of a GPU where the
cluster has GPUs (GAN_EXPLORER_RAY_GPUS_PER_JOB, default 0.25), and the run's memory estimate as Ray's `memory`
resource. Ray starts an actor when a node has room; until then the job waits, and the page shows its place
among this server's waiting jobs. A job no node could ever hold is refused at Start. Each job's progress, snapshots
and weights come back to this server, and its session keeps the result, so jobs also wait here while what this
server holds of runs would pass its budget (GAN_EXPLORER_MAX_MEMORY; explorer.app.kept_runs).

One poller thread per server reads every job's published progress (only what is new), pulls its weights every
few seconds, and fetches the trained model at the end. Pages read what the poller last received, so a poll never
waits for the cluster. When an actor or its node is lost, the job fails in plain words, keeps the last progress
and weights it received, and can be continued from them (explorer.app.continuation); other jobs carry on.

Joining the cluster, and its faults in plain words, are explorer.app.ray_connection's. When the cluster's head
goes away, a watch thread of its own (a poller's call may never return then) sees it within seconds: this server
lets go of Ray, every job of it is lost as above, new ones are refused with the reason (`problem`, which every
page shows; there is no silent fall-back to this server's threads), and it joins the cluster again once the head
answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from ..memory import kept_bytes
from . import ray_connection
from .backend import Backend, BackendUnavailable
from .jobs import Job, JobSpec, Refused
from .kept_runs import runs_budget
from .limits import Limits, env_number
from .ray_actor import TrainerActor
from .ray_job import RayJob

log = logging.getLogger(__name__)
POLL_SECONDS = 0.3  # between the poller's rounds
HEAD_SECONDS = 1.0  # between probes of the cluster's head
HEAD_MISSES = 3  # probes in a row that find no head: it went away
REJOIN_SECONDS = 10.0  # between tries to join the cluster again after its head went away
NAMESPACE = "gan-explorer"  # no named actors: app servers sharing a cluster never collide


class RayBackend(Backend):
    """Jobs train as actors on the Ray cluster at `address`; Ray places them and holds the ones it has no room for."""

    def __init__(self, limits: Limits, address: str, is_alive: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic, watch_every: float | None = 1.0, environ=None):
        env = os.environ if environ is None else environ
        self.address, self.namespace = address, env.get("GAN_EXPLORER_RAY_NAMESPACE", NAMESPACE)
        self.ray, self._connected, self._head = ray_connection.connect(address, self.namespace)
        self.remote = self.ray.remote(TrainerActor)
        self.cpus = env_number(env, "GAN_EXPLORER_RAY_CPUS_PER_JOB", 1.0, float, 0.01)
        has_gpus = self.ray.cluster_resources().get("GPU", 0) > 0
        self.gpus = env_number(env, "GAN_EXPLORER_RAY_GPUS_PER_JOB", 0.25 if has_gpus else 0.0, float, 0.0)
        self.waiting_jobs: list[RayJob] = []  # created, not yet placed by Ray: first come, first shown
        # What this server may hold of runs: each job's progress, snapshots and weights come back here, and its
        # session keeps the result.
        self.server_memory = runs_budget(limits)
        self._cluster = {"slots": 1, "busy": 0, "checked": 0.0}
        super().__init__(limits, is_alive, clock, watch_every)
        self._refresh_cluster()
        self._stop_polling = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="gan-ray-poller", daemon=True)
        self._poller.start()
        self._head_watch = self._letting_go = None
        if self._head is not None:
            self._head_watch = threading.Thread(target=self._watch_head_loop, name="gan-ray-head-watch", daemon=True)
            self._head_watch.start()

    def _make_job(self, spec: JobSpec) -> RayJob:
        return RayJob(spec, self, clock=self.clock)

    def _has_room(self, job: Job) -> bool:
        """Room on this server for what the job brings back; Ray holds what the cluster cannot place yet."""
        return self.server_memory is None or self.memory_in_use() + kept_bytes(job.spec.cfg) <= self.server_memory

    def memory_in_use(self) -> int:
        """What this server holds of runs: each admitted job's (its progress, snapshots and last weights come back
        as it trains, about what its finished run keeps), and the finished runs its sessions still keep."""
        with self._lock:
            return sum(kept_bytes(job.spec.cfg) for job in self.running) + self.kept.bytes()

    def _check_fits(self, spec: JobSpec) -> None:
        if self.problem:
            raise Refused("server", self.problem)
        if self._head is not None and not ray_connection.head_answers(self._head):
            raise Refused("server", f"the Ray cluster's head at {self.address} does not answer right now; try again "
                                    f"in a minute")  # asking the cluster (ray.nodes) would wait for it forever
        need = {"CPU": self.cpus, "GPU": self.gpus}
        nodes = [n["Resources"] for n in self.ray.nodes() if n.get("Alive")]
        able = [r for r in nodes if all(r.get(k, 0) >= v for k, v in need.items() if v)]
        if not able:
            gpu = f" and {self.gpus:g} GPU" if self.gpus else ""
            raise Refused("server", f"no machine of the Ray cluster has {self.cpus:g} CPUs{gpu} for a run")
        most = max(r.get("memory", 0) for r in able)
        if spec.memory > most:
            raise spec.too_big(most, "the largest machine of the Ray cluster offers")
        if self.server_memory is not None and kept_bytes(spec.cfg) > self.server_memory:
            raise Refused("server", f"its results would need {kept_bytes(spec.cfg) / 2**20:,.0f} MB of this server's "
                                    f"memory, more than it keeps for runs (GAN_EXPLORER_MAX_MEMORY): use smaller "
                                    f"networks")

    def _line(self) -> list[Job]:
        """This server's waiting jobs: those Ray has not placed, then those this server holds."""
        return [*self.waiting_jobs, *self.queue]

    def capacity(self) -> int:
        return self._cluster["slots"]

    def stats(self) -> dict:
        """The cluster's slots (its CPUs in jobs), how many are busy (any server's jobs), this server's waiting."""
        return {"running": self._cluster["busy"], "queued": self.waiting(), "max_jobs": self._cluster["slots"]}

    def _forget(self, job: RayJob) -> None:
        with self._lock:
            if job in self.waiting_jobs:
                self.waiting_jobs.remove(job)

    def _refresh_cluster(self) -> None:
        if self._head is not None and not ray_connection.head_answers(self._head):
            return  # asking a cluster without its head waits forever: the head watch deals with it
        total, free = self.ray.cluster_resources(), self.ray.available_resources()
        slots = int(total.get("CPU", 0) // self.cpus)
        self._cluster = {"slots": max(1, slots), "busy": max(0, slots - int(free.get("CPU", 0) // self.cpus)),
                         "checked": time.monotonic()}

    def _poll_loop(self) -> None:
        while not self._stop_polling.wait(POLL_SECONDS):
            if self.problem:  # no cluster to ask (the head watch joins it again)
                continue
            self._tick_jobs()
            if time.monotonic() - self._cluster["checked"] > 2.0:
                try:
                    self._refresh_cluster()
                except Exception:
                    log.exception("reading the Ray cluster's resources failed")

    def _watch_head_loop(self) -> None:
        """Probe the cluster's head every HEAD_SECONDS, in a thread of its own: a call the poller makes may never
        return once the head is gone. When it went away, let go of Ray and lose every job; once it answers again,
        join it again (tried every REJOIN_SECONDS)."""
        misses = 0
        while not self._stop_polling.wait(REJOIN_SECONDS if self.problem else HEAD_SECONDS):
            if self.problem:
                if ray_connection.head_answers(self._head):
                    self._rejoin()
                continue
            misses = 0 if ray_connection.head_answers(self._head) else misses + 1
            if misses >= HEAD_MISSES:
                misses = 0
                self._head_gone()

    def _head_gone(self) -> None:
        self.problem = (f"The Ray cluster at {self.address} went away: its head does not answer. Training cannot go "
                        f"on until it is back, so new runs are refused (this server does not train on its own "
                        f"threads instead); runs that were training keep their last weights to continue from. This "
                        f"server joins the cluster again as soon as its head answers.")
        log.error("the Ray cluster's head at %s does not answer: letting go of Ray, losing this server's jobs",
                  self.address)
        with self._lock:
            jobs = [j for j in self.running if not j.done]
        for job in jobs:
            with contextlib.suppress(Exception):
                job._lose("the Ray cluster's head went away")
        if self._connected:  # a call of the poller may still wait on the head: let go of Ray beside it
            self._connected = False
            self._letting_go = threading.Thread(target=self._let_go_of_ray, name="gan-ray-let-go", daemon=True)
            self._letting_go.start()

    def _let_go_of_ray(self) -> None:
        try:
            self.ray.shutdown()
        except Exception:
            log.exception("letting go of the Ray cluster failed")

    def _rejoin(self) -> None:
        if self._letting_go is not None and self._letting_go.is_alive():
            return  # still letting go of the last connection
        try:
            self.ray, self._connected, self._head = ray_connection.connect(self.address, self.namespace)
        except BackendUnavailable as e:
            log.warning("joining the Ray cluster again failed: %s", e)
            return
        self.problem = ""
        log.warning("joined the Ray cluster at %s again", self.address)
        with contextlib.suppress(Exception):
            self._refresh_cluster()
        with self._lock:
            self._fill()  # the jobs this server queued meanwhile

    def _tick_jobs(self) -> None:
        # A method of its own, so that no job outlives its round in the loop's locals: a finished run must be
        # let go when its session lets it go (explorer.app.kept_runs)
        with self._lock:
            jobs = [j for j in self.running if not j.done]
        for job in jobs:
            try:
                job._tick(self.clock())
            except Exception:  # one job's trouble must not stop the others' polling
                log.exception("polling training job %s failed", job.name)

    def close(self, wait: float = 0.0) -> None:
        super().close(wait)  # stops every job; the poller collects what ends within `wait`
        self._stop_polling.set()
        self._poller.join(timeout=5)
        if self._head_watch is not None:
            self._head_watch.join(timeout=5)
        for job in self.running:
            with contextlib.suppress(Exception):
                self.ray.kill(job.actor, no_restart=True)
        if self._connected:
            self.ray.shutdown()
