"""What the finished runs of this server's sessions hold in its memory, for admission.

A finished run stays in the app server for as long as its session keeps it (a generator and a discriminator, its
snapshots and metrics: explorer.memory.kept_bytes; up to explorer.app.session.MAX_RUNS per session), whichever
backend trained it: a worker thread here, or a Ray actor whose result came back here. Each is booked from the
moment its job ends until its generator is let go, which a weak reference sees, so the backend's next admission
pass (the watchdog's) can start whoever waited on that memory.
"""

from __future__ import annotations

import threading
import weakref

import torch

from ..config import GANConfig
from ..memory import kept_bytes
from ..trainer import TrainedModel
from .limits import Limits, resident_bytes

SERVER_RESERVE = 256 * 2**20  # beside the runs: the pages, the quality meter's shared statistics, uploads and demos


def runs_budget(limits: Limits) -> int | None:
    """What this server's runs may hold (`limits.max_memory`, less what the process held as its backend started and
    the reserve for the pages); None where the server has no budget."""
    return None if limits.max_memory is None else limits.max_memory - resident_bytes() - SERVER_RESERVE


class KeptRuns:
    def __init__(self):
        self._lock = threading.Lock()
        self._kept: list[tuple[weakref.ref, int]] = []  # (a finished run's generator, the bytes its run keeps)

    def book(self, model: TrainedModel) -> None:
        self.book_nets(model.G, model.cfg)

    def book_nets(self, G: torch.nn.Module, cfg: GANConfig) -> None:
        """A finished run's nets held in memory (a job's result, or brought back from the run store), until G goes."""
        with self._lock:
            self._kept.append((weakref.ref(G), kept_bytes(cfg)))

    def bytes(self) -> int:
        """The bytes the runs still kept hold (those let go drop out here)."""
        with self._lock:
            self._kept = [(ref, n) for ref, n in self._kept if ref() is not None]
            return sum(n for _, n in self._kept)
