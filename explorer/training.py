"""The trainer: one GAN step at a time, safe to drive from a worker thread.

`Trainer.step()` runs k discriminator updates, then one generator update, and returns that step's
metrics. `Trainer.run(budget)` loops over steps and honours pause / resume / stop and live setting
changes from other threads; `Trainer.state()` hands any thread a consistent copy of the progress.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass, field

import torch

from . import losses
from .config import ConfigError, GANConfig
from .data import DigitBatches, Digits, to_uint8
from .data import load as load_data
from .metrics import ClassifierError
from .nets import build, draw_from, sample_latent
from .quality import Meter, Reading

METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "g_grad", "d_grad")
COLUMNS = ("step", "epoch", "images", "seconds", *METRICS, "g_lr", "d_lr")
LIVE_SETTINGS = ("g_lr", "d_lr", "loss", "d_steps")
SNAPSHOT_SAMPLES = 64
COLLAPSE_STD = 0.02  # pixel std (0..1) across the fixed batch below which samples are all alike
COLLAPSE_WARMUP = 2000  # steps before alike samples count as a collapse (see Trainer._check_collapse)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda was asked for but no CUDA GPU is available; use auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@dataclass(frozen=True)
class Budget:
    """How long to train: a number of steps, epochs or seconds of training time."""
    kind: str
    amount: float

    def __post_init__(self):
        if self.kind not in ("steps", "epochs", "seconds"):
            raise ConfigError("budget", f"{self.kind!r} is not one of steps, epochs, seconds")
        if not (isinstance(self.amount, (int, float)) and math.isfinite(self.amount) and self.amount > 0):
            raise ConfigError(self.kind, f"{self.amount!r} must be a number above 0")

    def done(self, trainer: Trainer) -> bool:
        value = {"steps": trainer.step_count, "epochs": trainer.epoch, "seconds": trainer.seconds}[self.kind]
        return value >= self.amount

    def fraction(self, trainer: Trainer) -> float:
        value = {"steps": trainer.step_count, "epochs": trainer.epoch_progress, "seconds": trainer.seconds}[self.kind]
        return min(1.0, value / self.amount)


class History:
    """Per-step metrics thinned to at most `max_points` rows: each row averages `stride` steps,
    and when the table is full, neighbouring rows merge (weighted by their steps) and the stride doubles."""

    def __init__(self, max_points: int = 2000):
        self.max_points = max_points
        self.stride = 1
        self.rows: list[tuple[int, tuple[float, ...]]] = []  # (steps averaged, values)
        self._acc: list[tuple[int, tuple[float, ...]]] = []

    def add(self, row: tuple[float, ...]) -> None:
        self._acc.append((1, row))
        if len(self._acc) >= self.stride:
            self.rows.append(_merge(self._acc))
            self._acc = []
        if len(self.rows) > self.max_points:
            pairs = zip(self.rows[0::2], self.rows[1::2])
            self.rows = [_merge(p) for p in pairs] + (self.rows[-1:] if len(self.rows) % 2 else [])
            self.stride *= 2

    def columns(self) -> dict[str, list[float]]:
        rows = [r for _, r in self.rows] + ([_merge(self._acc)[1]] if self._acc else [])
        return {name: [r[i] for r in rows] for i, name in enumerate(COLUMNS)}


def _merge(rows) -> tuple[int, tuple[float, ...]]:
    """Counters (step, epoch, images, seconds) keep the last value; metrics are averaged by weight."""
    n = sum(w for w, _ in rows)
    last = rows[-1][1]
    return n, tuple(last[i] if i < 4 else sum(w * r[i] for w, r in rows) / n for i in range(len(last)))


@dataclass
class Snapshot:
    step: int
    images: torch.Tensor  # (n, 28, 28) uint8 on the CPU, from the fixed latent batch


@dataclass
class TrainerState:
    """A consistent copy of a trainer's progress, safe to read in another thread."""
    status: str
    reason: str
    step: int
    epoch: int
    images_seen: int
    seconds: float
    history: dict[str, list[float]]
    snapshots: list[Snapshot]
    settings: dict = field(default_factory=dict)
    readings: list[Reading] = field(default_factory=list)  # the quality meter's, when it runs
    changes: list[tuple[int, str]] = field(default_factory=list)  # live changes: (step, what)

    @property
    def latest(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None


class Trainer:
    def __init__(self, cfg: GANConfig, data: Digits | None = None, max_snapshots: int = 100,
                 max_points: int = 2000, measure: bool = False):
        data = data or load_data(cfg.data)
        cfg.validate(n_images=data.count(cfg.digits))
        self.cfg = copy.deepcopy(cfg)
        self.data_description = data.description
        self.device = resolve_device(cfg.device)
        # The run's own random streams: latents, and dropout masks with penalty points. Nothing draws from
        # torch's global generator, which other runs in the process share. (The second stream is seeded as the
        # global one was before, so a run draws the very masks it drew then.)
        self.rng = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.noise_rng = torch.Generator(device=self.device).manual_seed(cfg.seed)
        G, D = build(cfg)
        self.G, self.D = G.to(self.device), D.to(self.device)
        # What people see and keep: G itself, or a moving average of its weights when g_ema > 0.
        self.generator = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.g_ema > 0 else self.G
        draw_from(self.G, self.noise_rng)
        draw_from(self.D, self.noise_rng)
        self.batches = DigitBatches(data, cfg.digits, cfg.output, cfg.batch_size, self.device,
                                    torch.Generator().manual_seed(cfg.seed))
        self.opt_g = _optimizer(cfg.g_optimizer, self.G, cfg.g_lr, cfg)
        self.opt_d = _optimizer(cfg.d_optimizer, self.D, cfg.d_lr, cfg)
        self.loss = losses.get(cfg.loss)
        self.fixed_z, self.fixed_labels = self._fixed_batch()
        self.lr_factor = {"g": 1.0, "d": 1.0}
        self.step_count = self.images_seen = 0
        self.seconds = 0.0
        self.epoch = 0
        self.status, self.reason = "ready", ""
        self.history = History(max_points)
        self.snapshots: list[Snapshot] = []
        self.max_snapshots = max_snapshots
        # (step, weights) at the newest finite snapshot, for a divergence, and at the newest snapshot whose
        # samples still varied, for a collapse. Both roll back inside the trainer, so its status says it all.
        self.last_good: tuple[int, dict] = (0, self._weights())
        self.last_varied: tuple[int, dict] | None = None
        self._low_diversity = 0
        self._lock = threading.RLock()
        self._pending: dict = {}
        self.changes: list[tuple[int, str]] = []  # (step, "loss → Hinge") for each live change applied
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        # The live quality meter (`run()` reads it every few seconds of training), when asked for.
        self.meter, self.meter_note = None, ""
        if measure:
            try:
                self.meter = Meter(cfg, data, self.device)
            except ClassifierError as e:  # train anyway, without the meter, and say why
                self.meter_note = f"The quality meter is off: {e}"
        self._take_snapshot()

    # ---- the step --------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        """k discriminator updates, then one generator update. Returns this step's metrics."""
        with self._lock:
            t0 = time.perf_counter()
            self._apply_pending()
            cfg, loss = self.cfg, self.loss
            n = cfg.batch_size
            self.G.train()
            self.D.train()
            # (1) Update D, k times. The last fake batch keeps its graph so (2) need not redo G.
            for i in range(cfg.d_steps):
                real, labels = self.batches.next()
                last = i == cfg.d_steps - 1
                with torch.set_grad_enabled(last):
                    fake = self.G(self._z(n), labels)
                d_loss, d_real, d_fake = self._d_update(real, fake.detach(), labels)
            d_grad = self._grad_norm(self.D)
            # (2) Update G through the just-updated D, without computing D's weight gradients.
            self.D.requires_grad_(False)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss = loss.g_loss(self.D(fake, labels))
            g_loss.backward()
            self.D.requires_grad_(True)
            g_grad = self._grad_norm(self.G)
            self.opt_g.step()
            self._update_average()
            # One host sync per step for all the metrics.
            values = torch.stack([d_loss, g_loss, d_real, d_fake, g_grad, d_grad]).tolist()
            self.step_count += 1
            self.images_seen += n * cfg.d_steps
            self.seconds += time.perf_counter() - t0
            self._new_epoch_check()
            metrics = dict(zip(METRICS, values))
            metrics.update(step=self.step_count, epoch=self.epoch, images=self.images_seen,
                           seconds=self.seconds, g_lr=self.current_lr("g"), d_lr=self.current_lr("d"))
            if not all(math.isfinite(v) for v in values):
                self._diverged(metrics)
                return metrics
            self.history.add(tuple(metrics[c] for c in COLUMNS))
            if self.step_count % cfg.snapshot_every == 0:
                self._take_snapshot()
            return metrics

    def _d_update(self, real, fake, labels):
        cfg, loss = self.cfg, self.loss
        self.opt_d.zero_grad(set_to_none=True)
        if cfg.d_batchnorm:  # batch norm must see real and fake batches apart
            real_out, fake_out = self.D(real, labels), self.D(fake, labels)
        else:  # one pass over both halves: fewer, larger matrix products
            both = self.D(torch.cat([real, fake]), None if labels is None else torch.cat([labels, labels]))
            real_out, fake_out = both[: len(real)], both[len(real):]
        d_loss = loss.d_loss(real_out, fake_out, cfg.label_smoothing)
        total = d_loss
        if loss.gradient_penalty:
            total = total + cfg.gp_weight * losses.gradient_penalty(self.D, real, fake, labels, self.noise_rng)
        if cfg.r1_weight > 0:
            total = total + cfg.r1_weight * losses.r1_penalty(self.D, real, labels)
        total.backward()
        self.opt_d.step()
        if loss.clip_weights:
            with torch.no_grad():
                params = list(self.D.parameters())
                torch._foreach_clamp_min_(params, -cfg.clip)
                torch._foreach_clamp_max_(params, cfg.clip)
        with torch.no_grad():
            read = torch.sigmoid if loss.probabilities else (lambda t: t)
            return d_loss.detach(), read(real_out).mean(), read(fake_out).mean()

    @torch.no_grad()
    def _update_average(self) -> None:
        if self.generator is self.G:
            return
        # Warm up: early on, follow G closely so the first snapshots are not stuck at the init.
        beta = min(self.cfg.g_ema, (1 + self.step_count) / (10 + self.step_count))
        torch._foreach_lerp_(list(self.generator.parameters()), list(self.G.parameters()), 1 - beta)
        for avg, live in zip(self.generator.buffers(), self.G.buffers()):
            avg.copy_(live)

    def _z(self, n: int) -> torch.Tensor:
        return sample_latent(n, self.cfg, self.rng, self.device)

    @staticmethod
    def _grad_norm(net) -> torch.Tensor:
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=next(net.parameters()).device)

    # ---- schedule, snapshots, divergence ---------------------------------------------
    def _new_epoch_check(self) -> None:
        if self.batches.epoch == self.epoch:
            return
        self.epoch = self.batches.epoch
        cfg = self.cfg
        for net, milestones, gamma in (("g", cfg.g_milestones, cfg.g_gamma), ("d", cfg.d_milestones, cfg.d_gamma)):
            if cfg.schedule == "decay":  # the NumPy tutorial's lr <- lr / (1 + decay * epoch)
                self.lr_factor[net] /= 1 + cfg.lr_decay * (self.epoch - 1)
            elif cfg.schedule == "step" and self.epoch in milestones:
                self.lr_factor[net] *= gamma
        self._set_lrs()

    def current_lr(self, net: str) -> float:
        return (self.cfg.g_lr if net == "g" else self.cfg.d_lr) * self.lr_factor[net]

    def _set_lrs(self) -> None:
        for opt, net in ((self.opt_g, "g"), (self.opt_d, "d")):
            for group in opt.param_groups:
                group["lr"] = self.current_lr(net)

    @property
    def epoch_progress(self) -> float:
        return self.epoch + self.batches._pos / max(1, len(self.batches))

    def _take_snapshot(self) -> None:
        images = self.sample_fixed()
        if not torch.isfinite(images).all():
            return
        weights = self._weights()
        self.last_good = (self.step_count, weights)
        self.snapshots.append(Snapshot(self.step_count, to_uint8(images, self.cfg.output).reshape(-1, 28, 28).cpu()))
        if len(self.snapshots) > self.max_snapshots:  # thin the middle, keep the first and the newest
            self.snapshots = self.snapshots[:-1:2] + self.snapshots[-1:]
        self._check_collapse(images, weights)

    def _check_collapse(self, images: torch.Tensor, weights: dict) -> None:
        """Mode collapse: the whole fixed batch shows (nearly) one image for three snapshots.

        Why the warm-up: a young G often draws one blob for every z before it learns to use z at all (the
        minimal-tf preset does for its first ~1,000 steps, then reaches 90% recognised), so alike samples
        count only from COLLAPSE_WARMUP steps on."""
        spread = to_uint8(images, self.cfg.output).float().div(255).std(dim=0).mean().item()
        if spread >= COLLAPSE_STD:
            self._low_diversity, self.last_varied = 0, (self.step_count, weights)
            return
        self._low_diversity += 1
        if self._low_diversity >= 3 and self.step_count >= COLLAPSE_WARMUP:
            self.status = "collapsed"
            kept = ""
            if self.last_varied is not None:
                step, varied = self.last_varied
                self._load_weights(varied)
                kept = f" The model kept is the one from step {step:,}, before the collapse."
            self.reason = (f"Mode collapse at step {self.step_count:,}: every sample of the fixed batch looks "
                           f"the same (pixel spread {spread:.3f}). The generator found one image that fools "
                           f"D and stopped exploring.{kept} Try a lower generator learning rate, more D steps, "
                           f"or the WGAN-GP loss.")
            self._stop.set()

    def _diverged(self, metrics: dict) -> None:
        bad = ", ".join(k for k in METRICS if not math.isfinite(metrics[k]))
        good_step, weights = self.last_good
        self._load_weights(weights)
        self.status = "diverged"
        self.reason = (f"Training diverged at step {self.step_count:,}: {bad} became NaN or infinite. "
                       f"The model was rolled back to step {good_step:,}, its last good state. "
                       f"Try lower learning rates, or a loss such as WGAN-GP.")
        self._stop.set()

    def _weights(self) -> dict:
        return {"G": copy.deepcopy(self.G.state_dict()), "D": copy.deepcopy(self.D.state_dict()),
                "avg": copy.deepcopy(self.generator.state_dict())}

    def _load_weights(self, weights: dict) -> None:
        self.G.load_state_dict(weights["G"])
        self.generator.load_state_dict(weights["avg"])
        self.D.load_state_dict(weights["D"])

    # ---- sampling --------------------------------------------------------------------
    def _fixed_batch(self):
        g = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 1)
        n = SNAPSHOT_SAMPLES
        labels = None
        if self.cfg.conditional:  # one row of 8 per chosen digit
            n = 8 * len(self.cfg.digits)
            labels = torch.tensor(self.cfg.digits, device=self.device).repeat_interleave(8)
        return sample_latent(n, self.cfg, g, self.device), labels

    @torch.no_grad()
    def sample_fixed(self) -> torch.Tensor:
        """The generator's output (n, 784) for the fixed latent batch, in eval mode."""
        self.generator.eval()
        try:
            return self.generator(self.fixed_z, self.fixed_labels)
        finally:
            if self.generator is self.G:
                self.G.train()

    # ---- control from other threads ---------------------------------------------------
    def run(self, budget: Budget, on_step=None) -> str:
        """Train until the budget is spent, stop() is called or the run fails. Returns the status."""
        with self._lock:
            if self.status in ("diverged", "collapsed"):
                return self.status
            self.status, self.reason = "running", ""
        if self.meter is not None and not self.meter.readings:
            self._read_quality()  # the starting point: noise
        while not budget.done(self):
            if not self._running.is_set():
                with self._lock:
                    self.status = "paused"
                self._running.wait()
            if self._stop.is_set():
                break
            with self._lock:
                self.status = "running"
            metrics = self.step()
            if on_step is not None:
                on_step(metrics)
            if self.meter is not None and self.meter.due(self.seconds) and not self._stop.is_set():
                self._read_quality()
            if self._stop.is_set():
                break
        with self._lock:
            if self.status not in ("diverged", "collapsed"):
                self.status = "stopped" if self._stop.is_set() else "finished"
                self.reason = "" if self.status == "finished" else f"Stopped by request at step {self.step_count:,}."
                if self.step_count % self.cfg.snapshot_every:
                    self._take_snapshot()
        # The end point, for the Runs page's comparison; not after a rollback, where it would score the kept
        # (older) model under the step at which training failed.
        ended_well = self.status not in ("diverged", "collapsed")
        if self.meter is not None and ended_well and self.meter.readings[-1].step != self.step_count:
            self._read_quality()
        return self.status

    def _read_quality(self) -> Reading:
        # Outside the lock: only this (worker) thread changes the weights, and the meter only appends to its
        # list or swaps in a new one, so `state()` can copy it at any time.
        return self.meter.read(self.generator, self.D, self.cfg, self.step_count, self.seconds,
                               self.loss.probabilities)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused loop so it can end

    def update(self, **changes) -> None:
        """Change learning rates, loss or d_steps; validated now, applied before the next step."""
        bad = sorted(set(changes) - set(LIVE_SETTINGS))
        if bad:
            raise ConfigError(bad[0], f"cannot change during training (live: {', '.join(LIVE_SETTINGS)})")
        with self._lock:
            merged = {**self.cfg.to_dict(), **self._pending, **changes}
            GANConfig.from_dict(merged)  # raises ConfigError naming the bad field
            self._pending.update(changes)

    def _apply_pending(self) -> None:
        if not self._pending:
            return
        old, self.cfg = self.cfg, GANConfig.from_dict({**self.cfg.to_dict(), **self._pending})
        self._pending.clear()
        self.loss = losses.get(self.cfg.loss)
        self._set_lrs()
        said = [_describe(k, getattr(self.cfg, k)) for k in LIVE_SETTINGS if getattr(old, k) != getattr(self.cfg, k)]
        if said:  # the charts mark it, so a change's effect can be seen where it begins
            self.changes.append((self.step_count, ", ".join(said)))

    def state(self, with_history: bool = True) -> TrainerState:
        with self._lock:
            return TrainerState(
                status=self.status, reason=self.reason, step=self.step_count, epoch=self.epoch,
                images_seen=self.images_seen, seconds=self.seconds,
                history=self.history.columns() if with_history else {},
                snapshots=list(self.snapshots),
                settings={k: getattr(self.cfg, k) for k in LIVE_SETTINGS},
                readings=list(self.meter.readings) if self.meter is not None else [],
                changes=list(self.changes),
            )

    def final_metrics(self) -> dict[str, float]:
        with self._lock:
            cols = self.history.columns()
            return {k: v[-1] for k, v in cols.items() if v}


def _describe(setting: str, value) -> str:
    """A live change as the charts label it: "loss → Hinge", "G lr → 0.001", "k → 2"."""
    if setting == "loss":
        return f"loss → {losses.get(value).title}"
    name = {"g_lr": "G lr", "d_lr": "D lr", "d_steps": "k"}[setting]
    return f"{name} → {value:g}"


def _optimizer(kind: str, net: torch.nn.Module, lr: float, cfg: GANConfig) -> torch.optim.Optimizer:
    params = net.parameters()
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), fused=True)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, foreach=True)
