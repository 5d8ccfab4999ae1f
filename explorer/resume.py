"""Training on from a run's last weights: what a lost Ray job leaves (explorer.app.ray_backend), and how a new
trainer starts from it.

`take(trainer)` copies a trainer's networks to the CPU between two steps, with the record published at that
step; `apply(trainer, weights)` puts them into a freshly built trainer of the same config, before its first
snapshot, so the run's counters, history, snapshots and quality readings go on where they stopped. The
optimizers' moments are not carried: they rebuild within a few dozen steps, and they would double what is
copied every few seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .config import GANConfig
from .nets import build
from .progress import Progress


@dataclass(frozen=True)
class Weights:
    """A run's networks and its record at one step (CPU tensors: they travel between processes)."""
    G: dict
    D: dict
    generator: dict | None  # the moving average of G's weights, when the config keeps one
    progress: Progress

    @property
    def step(self) -> int:
        return self.progress.step


def _cpu(net: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def take(trainer) -> Weights:
    """The trainer's weights and published record now; call it between steps (the training thread's on_step)."""
    averaged = _cpu(trainer.generator) if trainer.generator is not trainer.G else None
    return Weights(_cpu(trainer.G), _cpu(trainer.D), averaged, trainer.state())


def apply(trainer, weights: Weights) -> None:
    """Load `weights` into a just-built `trainer` (explorer.trainer.Trainer) and carry its record on."""
    trainer.G.load_state_dict(weights.G)
    trainer.D.load_state_dict(weights.D)
    if trainer.generator is not trainer.G:
        trainer.generator.load_state_dict(weights.generator if weights.generator is not None else weights.G)
    p = weights.progress
    trainer.step_count, trainer.images_seen, trainer.seconds = p.step, p.images_seen, p.seconds
    for epoch in range(1, p.epoch + 1):  # the learning-rate schedule as it stood
        trainer.opt.new_epoch(epoch)
    trainer.epoch = trainer.batches.epoch = p.epoch
    trainer.history.rows = [(1, row) for row in p.history.rows]
    trainer.shots.items = list(p.snapshots)
    trainer.changes = list(p.changes)
    if trainer.meter is not None:
        trainer.meter.readings = list(p.readings)


def model_from(cfg: GANConfig, weights: Weights, name: str):
    """The model a run that could not end by itself leaves (its machine lost, its server restarted): its networks as
    they were at `weights`, the generator people see being the weight average where there is one
    (explorer.trainer.TrainedModel)."""
    from .trainer import TrainedModel  # the trainer imports this module

    G, D = build(cfg)
    G.load_state_dict(weights.G)
    D.load_state_dict(weights.D)
    if weights.generator is not None:
        G.load_state_dict(weights.generator)
    p = weights.progress
    meta = {"digits": cfg.digits, "steps": p.step, "epochs": p.epoch, "images_seen": p.images_seen,
            "seconds": round(p.seconds, 3), "final_metrics": p.history.last(), "name": name,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return TrainedModel(cfg, G.eval(), D.eval(), meta, p)
