"""The trainer: the GAN loop of the textbooks, one step at a time, safe to drive from a worker thread.

`Trainer.step()` is (1) update D, k times; (2) update G once; (3) record. `Trainer.run(budget)` loops
over steps and honours pause / resume / stop and live setting changes from other threads. After each
step it publishes an immutable `Progress` (explorer.progress), which `state()` hands any thread at
once: a page's poll never waits for the step in flight.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from dataclasses import dataclass

import torch

from . import checkpoints, live_settings, losses, resume
from .classifier import ClassifierError
from .config import Budget, GANConfig
from .data import DigitBatches, Digits
from .data import load as load_data
from .guards import Guards
from .nets import build, draw_from, frozen, resolve_device, sample_latent
from .optimizers import Optimizers
from .progress import METRICS, Change, History, LoneUpdate, Progress, RecentRate, Row, Status
from .quality import Meter, Reading
from .snapshots import Snapshots
from .step_mode import StepMode

PAUSE_POLL_SECONDS = 0.2  # how often a paused loop looks for a stop


@dataclass
class TrainedModel:
    """What a run leaves for the pages: the generator people see (eval mode), D, the run's record and its
    metadata. No optimizer state, no weight copies: a finished run in a session holds only this."""
    cfg: GANConfig
    G: torch.nn.Module
    D: torch.nn.Module
    meta: dict
    progress: Progress


class _Stopped(Exception):
    """A stop asked for between two D updates: the step is abandoned, nothing of it recorded."""


class Trainer(StepMode):
    def __init__(self, cfg: GANConfig, data: Digits | None = None, max_snapshots: int = 100,
                 max_points: int = 2000, measure: bool = False, start_from: resume.Weights | None = None):
        data = data or load_data(cfg.data)
        cfg.validate(n_images=data.count(cfg.digits))
        self.cfg = copy.deepcopy(cfg)  # the config in force now: live changes replace it
        self.initial = copy.deepcopy(cfg)
        self.plan = [dict(c) for c in cfg.live_changes]  # live changes to replay, each after its step
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
        self.opt = Optimizers(self.cfg, self.G, self.D)
        self.loss = losses.get(cfg.loss)
        self.shots = Snapshots(self.cfg, self.device, max_snapshots)
        self.step_count = self.images_seen = self.epoch = 0
        self.seconds = 0.0
        self.status, self.reason = Status.QUEUED, ""
        self.history = History(max_points)
        self.changes: list[Change] = []
        self.nudges: list[Change] = []  # step mode's lone updates, for the charts' marks
        self.lone: LoneUpdate | None = None  # step mode's last lone update, before and after
        self.pace: float | None = None  # slow motion: steps per second
        self.recent = RecentRate()  # the last steps' wall-clock times: the rate and time left a page shows
        self._read_at = 0.0  # wall clock (perf_counter) of the last quality reading
        self._holding = False  # True while a lone update is under way: it publishes once, at its end
        self._asked: queue.SimpleQueue = queue.SimpleQueue()  # step mode's lone updates asked for: "d" or "g"
        self.guards = Guards(self.G, self.D, self.generator, cfg.output)
        self.live = live_settings.Pending()
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
        if start_from is not None:  # train on from a lost run's last weights and record
            resume.apply(self, start_from)
        images = self._take_snapshot()
        self.guards.keep_good(self.step_count, images)  # step 0, or where a continued run goes on from
        self.guards.collapsed(self.step_count, images)  # never a collapse yet, but a varied model to fall back on
        self._publish()

    # ---- the step --------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        """One GAN step: (1) update D, k times; (2) update G; (3) record. Returns this step's metrics."""
        t0 = time.perf_counter()
        self._apply_pending()
        self.G.train()
        self.D.train()
        fake, labels, d_metrics = self._update_d()
        g_metrics = self._update_g(fake, labels)
        return self._record(d_metrics, g_metrics, t0)

    def _update_d(self):
        """(1) Update D, k times. The last fake batch keeps its graph, so (2) need not run G again.
        A stop asked for in between takes effect before the next D update."""
        n, k = self.cfg.batch_size, self.cfg.d_steps
        for i in range(k):
            if i and self._stop.is_set():
                raise _Stopped
            real, labels = self.batches.next()
            with torch.set_grad_enabled(i == k - 1):
                fake = self.G(self._z(n), labels)
            d_loss, d_real, d_fake = self._d_update(real, fake.detach(), labels)
        return fake, labels, (d_loss, d_real, d_fake, self._grad_norm(self.D))

    def _d_update(self, real, fake, labels):
        cfg, loss = self.cfg, self.loss
        self.opt.d.zero_grad(set_to_none=True)
        real_out, fake_out = self._d_outputs(real, fake, labels)
        d_loss = loss.d_loss(real_out, fake_out, cfg.label_smoothing)
        total = d_loss
        if loss.gradient_penalty:
            total = total + cfg.gp_weight * losses.gradient_penalty(self.D, real, fake, labels, self.noise_rng)
        if cfg.r1_weight > 0:
            total = total + cfg.r1_weight * losses.r1_penalty(self.D, real, labels)
        if cfg.coverage > 0:  # the digit head learns the real digits (unconditional: labels are the digits)
            total = total + losses.digit_loss(self.D.digit_logits(real), labels)
        total.backward()
        self.opt.d.step()
        if loss.clip_weights:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-cfg.clip, cfg.clip)
        with torch.no_grad():
            return d_loss.detach(), *self._verdicts(real_out, fake_out)

    def _d_outputs(self, real, fake, labels):
        """D's raw outputs on a real and a fake batch."""
        if self.cfg.d_batchnorm:  # batch norm must see real and fake batches apart
            return self.D(real, labels), self.D(fake, labels)
        # one pass over both halves: fewer, larger matrix products
        both = self.D(torch.cat([real, fake]), None if labels is None else torch.cat([labels, labels]))
        return both[: len(real)], both[len(real):]

    def _verdicts(self, real_out, fake_out):
        """D's mean verdicts on the real and the fake batch: P(real) for the BCE losses, else the critic's score."""
        read = torch.sigmoid if self.loss.probabilities else (lambda t: t)
        return read(real_out).mean(), read(fake_out).mean()

    def _update_g(self, fake, labels):
        """(2) Update G through the just-updated D, without computing D's weight gradients."""
        self.opt.g.zero_grad(set_to_none=True)
        with frozen(self.D):
            g_loss = self.loss.g_loss(self.D(fake, labels))
            total = g_loss
            if self.cfg.coverage > 0:
                total = total + self.cfg.coverage * losses.coverage_gap(self.D.digit_logits(fake), self.cfg.digits)
            total.backward()
        g_grad = self._grad_norm(self.G)
        self.opt.g.step()
        self._update_average()
        return g_loss.detach(), g_grad

    def _record(self, d_metrics, g_metrics, t0: float, real_images: int | None = None,
                snapshot: bool = False) -> dict[str, float]:
        """(3) Count the step, keep its metrics (one host sync for all of them), guard, snapshot (every few steps,
        every step in slow motion, or when asked), publish."""
        d_loss, d_real, d_fake, d_grad = d_metrics
        g_loss, g_grad = g_metrics
        values = dict(zip(METRICS, torch.stack([d_loss, g_loss, d_real, d_fake, g_grad, d_grad]).tolist()))
        self.step_count += 1
        self.images_seen += self.cfg.batch_size * self.cfg.d_steps if real_images is None else real_images
        self.seconds += time.perf_counter() - t0
        self._new_epoch_check()
        row = Row(step=self.step_count, epoch=self.epoch, images=self.images_seen, seconds=self.seconds,
                  g_lr=self.opt.lr("g"), d_lr=self.opt.lr("d"), **values)
        metrics = row._asdict()
        if self._guard_divergence(metrics):
            return metrics
        self.history.add(row)
        self.recent.add(time.perf_counter(), *self._counters())
        if snapshot or self.pace or self.step_count % self.cfg.snapshot_every == 0:
            images = self._take_snapshot()
            self.guards.keep_good(self.step_count, images)
            self._guard_collapse(images)
        self._publish()
        return metrics

    @torch.no_grad()
    def _update_average(self) -> None:
        if self.generator is self.G:
            return
        # Warm up: early on, follow G closely so the first snapshots are not stuck at the init.
        beta = min(self.cfg.g_ema, (1 + self.step_count) / (10 + self.step_count))
        for avg, live in zip(self.generator.parameters(), self.G.parameters()):
            avg.lerp_(live, 1 - beta)
        for avg, live in zip(self.generator.buffers(), self.G.buffers()):
            avg.copy_(live)

    def _z(self, n: int) -> torch.Tensor:
        return sample_latent(n, self.cfg, self.rng, self.device)

    @staticmethod
    def _grad_norm(net) -> torch.Tensor:
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=next(net.parameters()).device)

    # ---- epochs and snapshots ----------------------------------------------------------
    def _new_epoch_check(self) -> None:
        if self.batches.epoch != self.epoch:
            self.epoch = self.batches.epoch
            self.opt.new_epoch(self.epoch)

    def current_lr(self, net: str) -> float:
        return self.opt.lr(net)

    @property
    def epoch_progress(self) -> float:
        return self.epoch + self.batches.epoch_fraction

    def _take_snapshot(self, replace: bool = False) -> torch.Tensor:
        """Sample the fixed batch and keep it (when finite) as a snapshot, with D's push. Returns G's raw output."""
        return self.shots.take(self.step_count, self.generator, self.D, self.cfg, replace)

    # ---- the guards: a divergence or a collapse ends the run, rolled back to a kept model --------
    def _guard_divergence(self, metrics: dict) -> bool:
        reason = self.guards.diverged(self.step_count, metrics)
        if reason:
            self._end(Status.DIVERGED, reason)
        return reason is not None

    def _guard_collapse(self, images: torch.Tensor) -> None:
        reason = self.guards.collapsed(self.step_count, images)
        if reason:
            self._end(Status.COLLAPSED, reason)

    def _end(self, status: Status, reason: str) -> None:
        self.status, self.reason = status, reason
        if status.failed:  # ends the loop; a run that finished may go on with a longer budget
            self._stop.set()
        self._publish()

    # ---- sampling --------------------------------------------------------------------
    def sample_fixed(self) -> torch.Tensor:
        """The generator's output (n, 784) for the fixed latent batch, in eval mode."""
        return self.shots.sample(self.generator)

    # ---- the loop --------------------------------------------------------------------
    def run(self, budget: Budget, on_step=None) -> Status:
        """Train until the budget is spent, stop() is called or the run fails. Returns the status."""
        if self.status.failed:  # a run the guards ended does not silently restart
            return self.status
        self._set_status(Status.RUNNING)
        if self.meter is not None and not self.meter.readings:
            self._read_quality()  # the starting point: noise
        self.recent.restart()  # the time before it is no part of the rate
        try:
            while not budget.done(self.state()):
                if not self._wait_while_paused():
                    break
                t0 = time.perf_counter()
                metrics = self.step()
                if on_step is not None:
                    on_step(metrics)
                self._keep_pace(t0)
                if self._stop.is_set():
                    break
                if self.meter is not None and self._quality_due():
                    self._read_quality()
        except _Stopped:
            pass
        if not self.status.failed:
            stopped = self._stop.is_set()
            # The end point, for the Runs page's comparison; not after a rollback, where it would score the
            # kept (older) model under the step at which training failed.
            self._catch_up()
            self._end(Status.STOPPED if stopped else Status.FINISHED,
                      f"Stopped by request at step {self.step_count:,}." if stopped else "")
        return self.status

    def _wait_while_paused(self) -> bool:
        """Wait out a pause; False when a stop came instead (a stop always wakes the loop). A pause first takes a
        snapshot and a quality reading of this very step, so every figure a paused page shows agrees."""
        if not self._running.is_set():
            self._catch_up()
            self._set_status(Status.PAUSED)
            while not self._running.wait(PAUSE_POLL_SECONDS):
                if self._stop.is_set():
                    return False
                self._lone_updates()
            self.recent.restart()  # the pause is no part of the rate
            self._set_status(Status.RUNNING)
        return not self._stop.is_set()

    def _catch_up(self) -> None:
        """A snapshot and a reading at the current step, unless there are ones already."""
        if self.shots.latest is None or self.shots.latest.step != self.step_count:
            self._take_snapshot()
        if self.meter is not None and self.meter.readings and self.meter.readings[-1].step != self.step_count:
            self._read_quality()

    def _set_status(self, status: Status) -> None:
        self.status, self.reason = status, ""
        self._publish()

    def _read_quality(self) -> Reading:
        reading = self.meter.read(self.generator, self.D, self.cfg, self.step_count, self.seconds,
                                  self.loss.probabilities)
        self._read_at = time.perf_counter()
        self._publish()
        return reading

    # ---- control from other threads ---------------------------------------------------
    def pause(self) -> None:
        if not self._stop.is_set():  # a stopped run must not park: pause after stop changes nothing
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused loop so it can end

    def update(self, **changes) -> None:
        """Change learning rates, loss or d_steps; validated now (ConfigError), applied before the next step."""
        self.live.ask(self.cfg, changes)

    def _apply_pending(self) -> None:
        while self.plan and self.plan[0]["step"] <= self.step_count:  # a replayed change is due
            self.live.ask(self.cfg, {k: v for k, v in self.plan.pop(0).items() if k != "step"})
        new = self.live.take(self.cfg)
        if new is None:
            return
        old, self.cfg = self.cfg, new
        self.loss = losses.get(self.cfg.loss)
        self.opt.use(self.cfg)
        change = live_settings.change(old, new, self.step_count)
        if change is not None:  # the charts mark it, so a change's effect can be seen where it begins
            self.changes.append(change)
            self._publish()

    # ---- reading ------------------------------------------------------------------------
    def _publish(self) -> None:
        """Replace the published progress (one reference swap: readers never see half of it); not in the middle of a
        lone update (`_holding`), which publishes once at its end."""
        if self._holding:
            return
        self._progress = Progress(
            status=self.status, reason=self.reason, step=self.step_count, epoch=self.epoch,
            epoch_progress=self.epoch_progress, images_seen=self.images_seen, seconds=self.seconds,
            history=self.history.table(), snapshots=tuple(self.shots.items),
            settings=live_settings.current(self.cfg),
            readings=tuple(self.meter.readings) if self.meter is not None else (),
            changes=tuple(self.changes), meter_note=self.meter_note, nudges=tuple(self.nudges), lone=self.lone,
            pace=self.pace, wall_rate=self.recent.rate())

    def _counters(self) -> tuple[int, int, float, float]:
        """Where the run is, as `RecentRate` counts it: steps, images, epochs and seconds of training time."""
        return self.step_count, self.images_seen, self.epoch_progress, self.seconds

    def state(self) -> Progress:
        """The progress published after the last step; never waits for the step in flight."""
        return self._progress

    def final_metrics(self) -> dict[str, float]:
        return self.state().history.last()

    def recorded_config(self) -> GANConfig:
        """The config the run started with, and the live changes it made, each with the step it began after: what
        a download keeps, so a run from it replays them (`ended()` gives the settings at the end)."""
        changes = [{"step": c.step, **c.settings} for c in self.changes]
        return self.initial.replace(live_changes=changes)

    def trained_model(self, **meta) -> TrainedModel:
        """The generator to keep (the weight average when the config asks for one) and D, in eval mode, with the
        recorded config and the run's metadata (`meta` adds to it)."""
        self.generator.eval()
        self.D.eval()
        return TrainedModel(self.recorded_config(), self.generator, self.D, checkpoints.trainer_meta(self, **meta),
                            self.state())
