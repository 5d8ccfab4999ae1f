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
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .. import live_settings, resume
from ..config import GANConfig
from ..memory import kept_bytes
from ..progress import Progress
from .backend import Backend
from .jobs import Job, JobSpec, Refused
from .kept_runs import runs_budget
from .limits import Limits, env_number
from .ray_actor import TrainerActor, fill, reading_key, snapshot_key

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.3  # between the poller's rounds
WEIGHTS_SECONDS = 3.0  # between pulls of a job's weights: what a lost job keeps
UNREACHABLE_SECONDS = 30.0  # an actor that has not answered for this long is taken for lost
RESULT_TIMEOUT = 120.0
NAMESPACE = "gan-explorer"  # no named actors: app servers sharing a cluster never collide
# What the workers need of the repository (Ray zips it, honouring .gitignore, once per content).
EXCLUDES = ["tests", "test-output", "runs", ".hypothesis", ".ruff_cache"]


def connect(address: str, namespace: str = NAMESPACE):
    """Join the cluster at `address` ("auto", "host:port", "ray://host:10001") with token authentication on."""
    os.environ.setdefault("RAY_AUTH_MODE", "token")  # read when ray is imported: before it
    import ray

    if ray.is_initialized():
        return ray, False
    ray.init(address=address, namespace=namespace, log_to_driver=False, logging_level=logging.WARNING,
             runtime_env={"working_dir": str(REPO), "excludes": EXCLUDES})
    return ray, True


class RayJob(Job):
    def __init__(self, spec: JobSpec, backend: RayBackend, clock: Callable[[], float] = time.monotonic):
        super().__init__(spec, clock)
        self.ray = backend.ray
        self.actor = None
        self.info: dict = {}
        self._progress = Progress(settings=live_settings.current(spec.cfg))
        self._known = None  # the actor's id for the progress we hold
        self._weights: resume.Weights | None = spec.start_from
        self._ready = self._poll = self._pull = None  # the calls in flight
        self._answered = clock()
        self._pulled = 0.0
        self._seq = 0

    # ---- the Job interface ----------------------------------------------------------------------
    def _start(self, backend: Backend) -> None:
        """Admitted by this server: the actor is created now and waits for Ray to place it; `started` is set then."""
        self._backend = backend
        backend.waiting_jobs.append(self)  # under the backend's lock (Backend._fill)
        self._launch()

    def _launch(self) -> None:
        b: RayBackend = self._backend
        options = {"num_cpus": b.cpus, "memory": self.spec.memory, "max_restarts": 0, "max_concurrency": 4}
        if b.gpus:
            options["num_gpus"] = b.gpus
        self.actor = b.remote.options(**options).remote(self.spec, max(1, int(b.cpus)), "cuda" if b.gpus else "cpu")
        self._ready = self.actor.ready.remote()

    def progress(self) -> Progress:
        return self._progress

    def resume_point(self) -> resume.Weights | None:
        return self._weights if self.lost else None

    @property
    def last_weights(self) -> resume.Weights | None:
        """The newest weights this server has received from the actor (every few seconds while it trains)."""
        return self._weights

    def _control(self, action: str, **changes) -> None:
        if action == "update":  # checked here, as a local trainer would: the page shows ConfigError at once
            live_settings.Pending().ask(self.live_cfg(), changes)
        if self.done or self.actor is None:
            return
        if action == "stop" and self.started is None:  # still waiting for a place: leave the cluster's queue
            self._backend._forget(self)
            self.ray.kill(self.actor, no_restart=True)
            self.ended = self.clock()
            self._finish()
            return
        self._seq += 1
        self.actor.control.remote(self._seq, action, changes)  # not waited for: the poller sees any loss

    def live_cfg(self) -> GANConfig:
        """The config with the live settings now in use."""
        return self.spec.cfg.replace(**self._progress.settings)

    # ---- the poller's side ------------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        """One round: see whether Ray placed the actor, take new progress and weights, the model at the end."""
        ray = self.ray
        try:
            if self.started is None:
                if not ray.wait([self._ready], timeout=0)[0]:
                    return
                self.info = ray.get(self._ready)
                if self.info.get("error"):
                    self._end_failed(self.info["error"])
                    return
                self.started = self._answered = now
                self._backend._forget(self)
                self.actor.start.remote()
            if self._poll is None:
                have = ([snapshot_key(s) for s in self._progress.snapshots],
                        [reading_key(r) for r in self._progress.readings])
                self._poll = self.actor.poll.remote(self._known, *have)
            if self._pull is None and now - self._pulled >= WEIGHTS_SECONDS:
                self._pull = self.actor.weights.remote(self._weights.step if self._weights else -1)
            if self._pull is not None and ray.wait([self._pull], timeout=0)[0]:
                weights, self._pull, self._pulled = ray.get(self._pull), None, now
                self._weights = weights or self._weights
            if ray.wait([self._poll], timeout=0)[0]:
                (known, done, error), self._poll = ray.get(self._poll), None
                self._answered = now
                if known is not None:
                    self._known, self._progress = known[0], fill(known[1], self._progress)
                if done:
                    self._collect(error)
            elif now - self._answered > UNREACHABLE_SECONDS:
                self._lose("it stopped answering")
        except ray.exceptions.ActorUnavailableError:  # a node restarting or a network blip: try again
            self._poll = self._pull = None
            if now - self._answered > UNREACHABLE_SECONDS:
                self._lose("it stopped answering")
        except ray.exceptions.RayError as e:
            self._lose(self._why(e))

    def _why(self, error: Exception) -> str:
        """The loss in plain words: the machine (its node) went, or only the worker process."""
        cause = getattr(error, "cause", None)
        with contextlib.suppress(Exception):  # Ray's protobuf context says when the node died
            if cause is not None and cause.HasField("node_death_info"):
                return "its machine left the cluster"
        node = self.info.get("node")
        with contextlib.suppress(Exception):
            if node and not any(n["NodeID"] == node and n["Alive"] for n in self.ray.nodes()):
                return "its machine left the cluster"
        if isinstance(error, self.ray.exceptions.ActorUnschedulableError):
            return "no machine of the cluster can hold it any more"
        return "its worker process ended"

    def _collect(self, error: str) -> None:
        """Training ended: fetch the model and the last weights, then let the actor go."""
        self._model = self.ray.get(self.actor.result.remote(), timeout=RESULT_TIMEOUT)
        self._weights = self.ray.get(self.actor.weights.remote(-1), timeout=RESULT_TIMEOUT) or self._weights
        if error:
            self._fail(error)
        self._end()

    def _end_failed(self, note: str) -> None:
        self._fail(note)
        self._end()

    def _lose(self, why: str) -> None:
        """The actor or its node is gone: say so, keep the last progress and weights, offer to go on from them."""
        self.lost = True
        at = self._progress.step
        kept = self._weights
        if kept is not None:
            self._model = resume.model_from(self.spec.cfg, kept, self.name)
            saved = (f" The charts show it as it was at step {at:,}; the last weights this server received are from "
                     f"step {kept.step:,}, and they are kept: you can go on training from them.")
        else:
            saved = " No weights had reached this server yet, so there is nothing to go on from: start it again."
        where = "its place in the cluster" if self.started is None else f"step {at:,}"
        self._fail(f"The machine training {self.name} was lost at {where} ({why}).{saved}")
        self._backend._forget(self)
        self._end()

    def _end(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.ray.kill(self.actor, no_restart=True)  # free its CPUs and memory on the cluster now
        self._finish()


class RayBackend(Backend):
    """Jobs train as actors on the Ray cluster at `address`; Ray places them and holds the ones it has no room for."""

    def __init__(self, limits: Limits, address: str, is_alive: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic, watch_every: float | None = 1.0, environ=None):
        env = os.environ if environ is None else environ
        self.ray, self._connected = connect(address, env.get("GAN_EXPLORER_RAY_NAMESPACE", NAMESPACE))
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

    def position(self, job: Job) -> int:
        """Its place among this server's waiting jobs: those Ray has not placed, then those this server holds."""
        with self._lock:
            if job in self.waiting_jobs:
                return self.waiting_jobs.index(job) + 1
            return len(self.waiting_jobs) + self.queue.index(job) + 1 if job in self.queue else 0

    def waiting(self) -> int:
        with self._lock:
            return len(self.waiting_jobs) + len(self.queue)

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
        total, free = self.ray.cluster_resources(), self.ray.available_resources()
        slots = int(total.get("CPU", 0) // self.cpus)
        self._cluster = {"slots": max(1, slots), "busy": max(0, slots - int(free.get("CPU", 0) // self.cpus)),
                         "checked": time.monotonic()}

    def _poll_loop(self) -> None:
        while not self._stop_polling.wait(POLL_SECONDS):
            self._tick_jobs()
            if time.monotonic() - self._cluster["checked"] > 2.0:
                try:
                    self._refresh_cluster()
                except Exception:
                    log.exception("reading the Ray cluster's resources failed")

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
        for job in self.running:
            with contextlib.suppress(Exception):
                self.ray.kill(job.actor, no_restart=True)
        if self._connected:
            self.ray.shutdown()
