"""A job of the Ray backend (explorer.app.ray_backend): its actor, and what the backend's poller takes from it.

The actor (explorer.app.ray_actor) trains and publishes; this side creates it when the server admits the job, reads
its progress (only what is new), pulls its weights every few seconds (what a lost job keeps to go on from), and
fetches the trained model at the end. When the actor or its machine is lost, the job fails in plain words.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import live_settings, resume
from ..config import GANConfig
from ..progress import Progress
from .backend import Backend
from .jobs import Job, JobSpec
from .ray_actor import fill, reading_key, snapshot_key

if TYPE_CHECKING:
    from .ray_backend import RayBackend

WEIGHTS_SECONDS = 3.0  # between pulls of a job's weights: what a lost job keeps
UNREACHABLE_SECONDS = 30.0  # an actor that has not answered for this long is taken for lost
RESULT_TIMEOUT = 120.0


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
        if self._backend.problem:  # the head went away: the cluster cannot be asked (ray.nodes would never return)
            return "the Ray cluster's head went away"
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
        if not self._backend.problem:  # with no head, there is nothing to free, and no one to ask
            with contextlib.suppress(Exception):  # already gone
                self.ray.kill(self.actor, no_restart=True)  # free its CPUs and memory on the cluster now
        self._finish()
