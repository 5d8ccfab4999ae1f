"""A finished run as the app keeps it: the generator, its config, metrics and snapshots, and its downloads.

Runs come from a training job, an uploaded checkpoint or a shipped demo. The current run of a session is
the generator the latent pages explore (explorer.app.session).
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .. import checkpoints, demos, images
from ..config import Budget, GANConfig
from ..progress import COLUMNS, Snapshot
from . import share
from .form_values import DEFAULT_BUDGET
from .jobs import Job


@dataclass(eq=False)  # a run is itself: compare by identity, never tensor by tensor
class Run:
    name: str
    cfg: GANConfig
    G: torch.nn.Module
    D: torch.nn.Module | None
    meta: dict
    history: dict[str, list[float]] = field(default_factory=dict)
    snapshots: list[Snapshot] = field(default_factory=list)
    source: str = "trained"  # or "uploaded", "demo"
    readings: list = field(default_factory=list)  # the quality meter's, for runs trained here
    # What the latent pages derive from the generator once (principal directions, ...), kept with it.
    cache: dict = field(default_factory=dict, compare=False, repr=False)
    # Its own key: its job's (JobSpec.key), or a new one; the run store's writer knows its row by it.
    key: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False, repr=False)
    # Where G and D come back from once they went back to the run store (let_go_of_nets), or None while in memory.
    _reload: Callable[[], tuple] | None = field(default=None, init=False, compare=False, repr=False)
    _nets_lock: threading.Lock = field(default_factory=threading.Lock, init=False, compare=False, repr=False)

    def let_go_of_nets(self, reload: Callable[[], tuple]) -> None:
        """Hand G and D back to the run store, which holds them (explorer.app.saver): the memory they held is free
        for training, and `reload()` (G, D) brings them again the moment a page asks for `G` or `D`."""
        with self._nets_lock:
            self._reload = reload
            self.__dict__["G"] = self.__dict__["D"] = None

    @property
    def in_memory(self) -> bool:
        """Whether G and D are held here now (else the run store holds them until a page asks)."""
        return self._reload is None

    @classmethod
    def from_job(cls, job: Job) -> Run | None:
        """The run a finished job leaves; None when it trained no step (or failed before it could)."""
        model = job.result()
        if model is None:
            return None
        view = job.view()
        meta = {**model.meta, "name": job.name, "status": str(view.status), "reason": view.reason}
        if job.lesson:
            meta["lesson"] = job.lesson
        if view.readings:
            last = view.readings[-1]
            meta["quality"] = {"step": last.step, "read_as": round(last.read_as, 4),
                               "looks_real": round(last.looks_real, 4), "fid": round(last.fid, 3),
                               "fid_floor": round(last.fid_floor, 3)}
        return cls(job.name, model.cfg, model.G, model.D, meta, view.history, list(view.snapshots),
                   readings=list(view.readings), key=job.spec.key)

    @classmethod
    def from_upload(cls, data: bytes, filename: str) -> Run:
        """A run from an uploaded checkpoint; raises CheckpointError with a clear message."""
        ckpt = checkpoints.load(data)
        meta = {**ckpt.meta, "uploaded_as": filename}
        return cls(f"Uploaded {filename}", ckpt.cfg, ckpt.G, ckpt.D, meta, source="uploaded")

    @classmethod
    def from_demo(cls, name: str) -> Run:
        """A shipped demo model (models/demo-<name>.safetensors); raises CheckpointError if it is missing."""
        ckpt = demos.load(name)
        demo = demos.DEMOS[name]
        return cls(demo.title, ckpt.cfg, ckpt.G, ckpt.D, {**ckpt.meta, "demo": name}, source="demo")

    # ---- what the sidebar and lists show ----------------------------------------------
    @property
    def digits(self) -> str:
        return ", ".join(map(str, self.cfg.digits))

    @property
    def steps(self) -> int | None:
        steps = self.meta.get("steps")
        return steps if isinstance(steps, int) else None

    @property
    def summary(self) -> str:
        steps = f"{self.steps:,} steps" if self.steps is not None else "steps unknown"
        mode = ", conditional" if self.cfg.conditional else ""
        return f"digits {self.digits} · {steps}{mode}"

    @property
    def data_description(self) -> str:
        return str(self.meta.get("data") or f"{self.cfg.data} MNIST")

    def preview(self) -> bytes | None:
        """PNG of the last snapshot, if the run has one."""
        if not self.snapshots:
            return None
        return images.grid_png(self.snapshots[-1].images, nrow=8, scale=2)

    # ---- downloads ---------------------------------------------------------------------
    @property
    def slug(self) -> str:
        return re.sub(r"[\W_]+", "-", self.name.lower()).strip("-") or "run"  # "Run 2 (the fix)": run-2-the-fix

    def checkpoint_bytes(self) -> bytes:
        data = checkpoints.to_bytes(self.cfg, self.G, self.D, self.meta)
        if data[:1] == b"\x80":  # a header length of 128 mod 256 reads as pickle to checkpoints.load: pad it
            data = checkpoints.to_bytes(self.cfg, self.G, self.D, {**self.meta, "padding": " "})
        return data

    def info_json(self) -> str:
        """The JSON that sits beside a checkpoint: its config and metadata."""
        return json.dumps({"config": self.cfg.to_dict(), "meta": self.meta}, indent=2)

    def config_json(self) -> str:
        """The settings it started with, and each live change with the step it began after: a run from this file
        (`python -m explorer train --config`, or the link below) replays them."""
        return self.cfg.to_json()

    def setup_link(self) -> dict[str, str]:
        """The Train page's query parameters for this run's setup and length, live changes included."""
        steps = self.steps if self.steps and self.steps > 0 else None
        budget = Budget("steps", steps) if steps else DEFAULT_BUDGET
        return share.encode(self.meta.get("preset", share.DEFAULT_PRESET), self.cfg, budget)

    def metrics_csv(self) -> str:
        return metrics_csv(self.history)


def _net(name: str) -> property:
    """Run.G and Run.D: held in memory, or brought back from the run store on first use after let_go_of_nets."""

    def get(run: Run):
        if run._reload is not None:
            with run._nets_lock:
                if run._reload is not None:
                    G, D = run._reload()
                    run.__dict__["G"], run.__dict__["D"] = G, D
                    run._reload = None
        return run.__dict__[name]

    def put(run: Run, value) -> None:
        run.__dict__[name] = value

    return property(get, put)


Run.G = _net("G")  # set after the dataclass is made, so that its __init__ assigns through them
Run.D = _net("D")


def metrics_csv(history: dict[str, list[float]]) -> str:
    """The metrics table as CSV, one row per (thinned) history row."""
    columns = [c for c in COLUMNS if c in history]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in zip(*(history[c] for c in columns)):
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return out.getvalue()
