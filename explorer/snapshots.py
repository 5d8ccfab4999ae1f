"""A run's snapshots: G's samples of one fixed latent batch, taken every few steps, so the grid a student
watches always shows the same points; the newest two also carry what D tells G about each sample (its pixel
push and D's verdict, explorer.gradients), for the overlay and for step mode's before and after."""

from __future__ import annotations

import dataclasses

import torch

from . import gradients
from .config import GANConfig
from .data import to_uint8
from .nets import sample_latent
from .progress import Snapshot

SNAPSHOT_SAMPLES = 64
PUSHES_KEPT = 2  # snapshots that keep their push maps (64 x 784 numbers each): the newest, and the one before


class Snapshots:
    def __init__(self, cfg: GANConfig, device: torch.device, max_snapshots: int = 100):
        g = torch.Generator(device=device).manual_seed(cfg.seed + 1)
        n, self.labels = SNAPSHOT_SAMPLES, None
        if cfg.conditional:  # one row of 8 per chosen digit
            n = 8 * len(cfg.digits)
            self.labels = torch.tensor(cfg.digits, device=device).repeat_interleave(8)
        self.z = sample_latent(n, cfg, g, device)
        self.items: list[Snapshot] = []
        self.max_snapshots = max_snapshots

    @torch.no_grad()
    def sample(self, generator: torch.nn.Module) -> torch.Tensor:
        """The generator's output (n, 784) for the fixed batch, in eval mode (its mode is restored after)."""
        was_training = generator.training
        generator.eval()
        try:
            return generator(self.z, self.labels)
        finally:
            generator.train(was_training)

    def take(self, step: int, generator: torch.nn.Module, D: torch.nn.Module, cfg: GANConfig,
             replace: bool = False) -> torch.Tensor:
        """Sample the fixed batch and keep it (when finite) as the snapshot of `step`, with D's push on each sample
        (`replace`: in place of the newest one, as after a lone D update, which leaves G as it was). Returns
        G's raw output."""
        images = self.sample(generator)
        if not torch.isfinite(images).all():
            return images
        shot = self.shot(step, images, D, cfg)
        if replace and self.items:
            self.items[-1] = shot
        else:
            self.items.append(shot)
        for i in range(len(self.items) - PUSHES_KEPT - 1, -1, -1):  # older snapshots let their maps go
            if self.items[i].push is None:
                break
            self.items[i] = dataclasses.replace(self.items[i], push=None, verdicts=None)
        if len(self.items) > self.max_snapshots:  # thin the middle, keep the first and the newest
            self.items = self.items[:-1:2] + self.items[-1:]
        return images

    def shot(self, step: int, images: torch.Tensor, D: torch.nn.Module, cfg: GANConfig) -> Snapshot:
        """A snapshot of `images`, a generator's output for the fixed batch, with D's push on each (D read in
        evaluation mode), not kept: `take` keeps the grid's, step mode keeps its own before and after."""
        pushed = gradients.push(D, cfg, images, self.labels)
        pixels = to_uint8(images, cfg.output).reshape(-1, 28, 28).cpu()
        return Snapshot(step, pixels, pushed.pixels.half(), pushed.verdicts, pushed.probabilities)

    @property
    def latest(self) -> Snapshot | None:
        return self.items[-1] if self.items else None
