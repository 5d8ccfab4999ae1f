"""One training job as a Ray actor: the trainer in a worker process of the cluster.

The actor builds its `Trainer` on whatever machine Ray placed it, on the device Ray gave it (CUDA when it was
given a share of a GPU, else the CPU: an actor without one must not pick a GPU it was not given), and trains
in a thread of its own, so the other calls (a poll, a pause, a copy of the weights) are answered between steps
from the actor's other threads. Nothing here raises across Ray: control answers with a message, and a failure
to build is reported by `ready()`, because ConfigError loses its field on the way.

This module imports the engine only; explorer.app.ray_backend makes it a Ray actor and drives it.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import torch

from .. import resume
from ..config import ConfigError
from ..data import load as load_data
from ..progress import Progress
from ..trainer import TrainedModel, Trainer
from .jobs import JobSpec
from .limits import tune_malloc

WEIGHTS_EVERY = 3.0  # seconds between copies of the weights the server pulls (what a lost run keeps)


class TrainerActor:
    def __init__(self, spec: JobSpec, threads: int, device: str):
        self.error = ""
        self.threads = threads
        self.spec = spec
        self.trainer: Trainer | None = None
        self.model: TrainedModel | None = None
        self.latest: resume.Weights | None = spec.start_from
        self._taken = time.monotonic()
        self._thread: threading.Thread | None = None
        self._ended = threading.Event()  # the training thread has finished, model and all
        self._seq: dict[str, int] = {}  # the newest control of each kind applied (calls may overtake)
        self._lock = threading.Lock()
        self._stopped = False
        torch.set_num_threads(threads)
        tune_malloc()  # as on a thread server: the peak stays near the memory estimate Ray booked
        try:
            cfg = spec.cfg if spec.cfg.device == device else spec.cfg.replace(device=device)
            self.trainer = Trainer(cfg, load_data(cfg.data), measure=spec.measure, start_from=spec.start_from)
        except Exception as e:  # reported by ready(): the server fails the job with it
            self.error = f"Training could not start: {e}"

    def ready(self) -> dict:
        """Where the actor runs, once built; `error` says why it could not build."""
        import ray

        context = ray.get_runtime_context()
        return {"pid": os.getpid(), "node": context.get_node_id(), "error": self.error,
                "device": str(self.trainer.device) if self.trainer else ""}

    def start(self) -> None:
        if self.trainer is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._work, name="gan-train", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        torch.set_num_threads(self.threads)  # OpenMP keeps its thread count per thread
        trainer = self.trainer
        try:
            if not self._stopped:
                trainer.run(self.spec.budget, on_step=self._on_step)
            self.latest = resume.take(trainer)
            if trainer.step_count > 0:  # to the server: on the CPU, with the config's own device setting
                model = trainer.trained_model(name=self.spec.name)
                self.model = dataclasses.replace(model, cfg=model.cfg.replace(device=self.spec.cfg.device),
                                                 G=model.G.cpu(), D=model.D.cpu())
        except Exception as e:
            self.error = f"Training failed with an error: {e}"
        finally:
            self._ended.set()

    def _on_step(self, metrics) -> None:
        """In the training thread, between steps: a consistent copy of the weights every few seconds."""
        if time.monotonic() - self._taken >= WEIGHTS_EVERY:
            self._taken = time.monotonic()
            self.latest = resume.take(self.trainer)

    # ---- control: the newest call of each kind wins, whatever order Ray's threads run them in -------
    def control(self, seq: int, action: str, arguments: dict) -> str:
        """The trainer's method `action` ("pause", "resume", "stop", "update", "nudge", "slow_motion") with
        `arguments`; returns "" or the reason it was not applied. Calls may overtake each other in a threaded
        actor: an older pause/resume, update or pace than the newest applied is dropped (a stop never is, and
        every nudge counts)."""
        if self.trainer is None:
            return self.error
        kind = "run" if action in ("pause", "resume", "stop") else action
        with self._lock:
            if action not in ("stop", "nudge") and seq < self._seq.get(kind, 0):
                return ""
            self._seq[kind] = seq
            self._stopped |= action == "stop"
            try:
                getattr(self.trainer, action)(**arguments)
            except ConfigError as e:
                return str(e)
        return ""

    # ---- reading ----------------------------------------------------------------------------------
    def poll(self, known: int | None, snapshots: list[tuple], readings: list[tuple]) -> tuple:
        """(progress or None when `known` is still the newest, whether training has ended, error).

        Snapshots and quality readings the server already holds (by key) come back as placeholders, so a
        poll carries only what is new, not a long run's hundred pictures every second."""
        done = self._ended.is_set()
        if self.trainer is None:
            return None, True, self.error
        progress = self.trainer.state()
        if known is not None and known == id(progress) and not done:
            return None, done, self.error
        return (id(progress), thin(progress, set(snapshots), set(readings))), done, self.error

    def weights(self, have_step: int) -> resume.Weights | None:
        """The newest copy of the weights, unless the server has that step's already."""
        latest = self.latest
        return latest if latest is not None and latest.step != have_step else None

    def result(self) -> TrainedModel | None:
        return self.model


def reading_key(reading) -> tuple:
    return reading.step, reading.seconds


def snapshot_key(snapshot) -> tuple:
    """A snapshot as the server holds it: its step, and whether it still has D's push maps (older ones let them
    go, so a snapshot with them and the same one without are not the same)."""
    return snapshot.step, snapshot.push is None


def thin(progress: Progress, snapshots: set[tuple], readings: set[tuple]) -> Progress:
    """`progress` with the snapshots and readings the server holds (by key) left as placeholders: a snapshot by
    its key, a reading by its key."""
    return dataclasses.replace(
        progress, snapshots=tuple(snapshot_key(s) if snapshot_key(s) in snapshots else s for s in progress.snapshots),
        readings=tuple(reading_key(r) if reading_key(r) in readings else r for r in progress.readings))


def fill(progress: Progress, old: Progress) -> Progress:
    """Put back a thinned `progress`'s placeholders from `old`, the last whole one the server holds."""
    shots = {snapshot_key(s): s for s in old.snapshots}
    known = {reading_key(r): r for r in old.readings}
    return dataclasses.replace(
        progress, snapshots=tuple(shots[s] if isinstance(s, tuple) else s for s in progress.snapshots),
        readings=tuple(known[r] if isinstance(r, tuple) else r for r in progress.readings))
