"""Step mode and slow motion: watch the game one move at a time.

While a run is paused, a student asks for one update of D or one of G (`nudge`) and sees the samples, and what
D tells G about them, before and after (`Progress.lone`). Those pictures come from G itself, the network a G step
updates: a run's grid may show a moving average of G's weights (g_ema), which one step moves a thousandth as far.
D judges them in evaluation mode before and after alike, so a change in its verdicts is the update's, not
dropout's. Slow motion trains at a chosen number of steps per second, with a snapshot every step. The updates run
in the training thread, between its waits, as every change to the networks does. A mixin of
`explorer.trainer.Trainer`, whose networks, batches and records it uses.
"""

from __future__ import annotations

import queue
import time

import torch

from . import quality
from .gradients import verdict_text
from .nets import evaluating
from .progress import Change, LoneUpdate, Snapshot

MAX_PACE = 100.0  # steps per second: above it slow motion is no slower than full speed on a small net
REAL_SAMPLES = 64  # real digits D's verdict on reals is read from, before and after a lone update


def check_update(update: str) -> str:
    if update not in ("d", "g"):
        raise ValueError(f"a lone update is of D or of G ('d' or 'g'), not {update!r}")
    return update


def check_pace(steps_per_second: float | None) -> float | None:
    if steps_per_second is not None and not 0 < steps_per_second <= MAX_PACE:
        raise ValueError(f"slow motion runs at more than 0 and at most {MAX_PACE:g} steps a second, "
                         f"not {steps_per_second!r}")
    return steps_per_second


def _fake_verdicts(lone: LoneUpdate, pick: list[int]) -> tuple[float, float]:
    """D's mean verdict on the picked fakes, before and after the update."""
    before, after = (shot.verdicts[pick].float().mean().item() for shot in (lone.before, lone.after))
    return before, after


def _verdict_change(lone: LoneUpdate, before: float, after: float) -> str:
    p = lone.before.probabilities
    return f"{verdict_text(before, p)} → {verdict_text(after, p)}"


def what_changed(lone: LoneUpdate, pick: list[int]) -> str:
    """The update's numbers in one line: D's mean verdict on the picked fakes and on real digits, and the updated
    network's loss on the batch it learned from, each before → after and read the same way both times."""
    fakes = _verdict_change(lone, *_fake_verdicts(lone, pick))
    net = "D" if lone.what == "D step" else "G"
    return (f"D's mean verdict on these {len(pick)} fakes: **{fakes}**; on {REAL_SAMPLES} real digits: "
            f"{_verdict_change(lone, lone.real_before, lone.real_after)}. {net}'s loss on the batch it learned from: "
            f"{lone.loss_before:.2f} → {lone.loss_after:.2f}.")


def why_fakes_rose(lone: LoneUpdate, pick: list[int]) -> str:
    """One sentence on why a D step raised D's verdict on the picked fakes, where a student expects it to fall
    ("" when it did not rise, or after a G step, where a rise is the point). The causes were found by experiment
    (issue 24): neither dropout nor the batch explains it; one update moves D's verdicts on all images together."""
    fake_before, fake_after = _fake_verdicts(lone, pick)
    if lone.what != "D step" or fake_after <= fake_before:
        return ""
    loss = f"{lone.loss_before:.2f} → {lone.loss_after:.2f}"
    if lone.loss_after >= lone.loss_before:
        return (f"Why did D rate these fakes higher? This update overshot: even on the batch it learned from, D's loss "
                f"rose ({loss}), so the next D steps pull it back.")
    if lone.real_after > lone.real_before:
        return (f"Why did D rate these fakes higher? One update moves D's verdicts on every image together: on the "
                f"batch it learned from its loss fell ({loss}), mostly by rating real digits higher "
                f"({_verdict_change(lone, lone.real_before, lone.real_after)}), and these fakes rose with them.")
    return (f"Why did D rate these fakes higher? On the batch it learned from (G's fakes of the moment and real "
            f"digits) its loss fell ({loss}), but these are other fakes, and one update moves D's verdicts on all "
            "images together.")


class StepMode:
    def nudge(self, update: str) -> None:
        """Step mode, while paused: one update of D ("d") or of G ("g"), done by the training thread."""
        self._asked.put(check_update(update))

    def slow_motion(self, steps_per_second: float | None) -> None:
        """Train at this many steps per second (a snapshot every step, so the grid moves), or at full speed."""
        self.pace = check_pace(steps_per_second)
        self._publish()

    def _keep_pace(self, started: float) -> None:
        """Slow motion: wait out the rest of the step's share of a second (a stop or a pause ends the wait)."""
        if self.pace:
            rest = 1 / self.pace - (time.perf_counter() - started)
            if rest > 0:
                self._stop.wait(rest)

    def _quality_due(self) -> bool:
        """Whether the quality meter reads now: every few seconds of training time, and in slow motion also every
        few seconds of wall time. A paced step's wait is no training time, so at 2 steps a second the meter would
        read once in many minutes, and the page's "Now:" (drawn from its readings) would stand still meanwhile;
        the reading's cost stays as small a share of wall time as it is of training time at full speed."""
        if self.meter.due(self.seconds):
            return True
        gap = max(self.meter.every, self.meter.cost / quality.MAX_SHARE)
        return bool(self.pace) and time.perf_counter() - self._read_at >= gap

    # ---- step mode: one update at a time, while paused ------------------------------------------
    def _lone_updates(self) -> None:
        """Do the lone updates asked for while paused, in the training thread: G's samples and D's verdicts on them,
        and on real digits, read the same way before and after each."""
        while True:
            try:
                update = self._asked.get_nowait()
            except queue.Empty:
                return
            self._apply_pending()
            # Published once, whole: a page that sees the new step or the new mark sees the pictures with it.
            self._holding = True
            try:
                before, real_before = self._as_step_mode_shows()
                what, losses = (("D step", self._lone_d_update()) if update == "d"
                                else ("G step", self._lone_g_update()))
                after, real_after = self._as_step_mode_shows()
                self.lone = LoneUpdate(what, before, after, real_before, real_after, *losses)
                self.nudges.append(Change(self.step_count, what))
            finally:
                self._holding = False
            self._publish()

    def _as_step_mode_shows(self) -> tuple[Snapshot, float]:
        """G itself on the fixed latent batch (evaluation mode) with D's push and verdicts on each sample, and D's mean
        verdict on a fixed batch of real digits, D in evaluation mode throughout."""
        shot = self.shots.shot(self.step_count, self.shots.sample(self.G), self.D, self.cfg)
        real, labels = self._step_mode_reals()
        with torch.no_grad(), evaluating(self.D):
            out = self.D(real, labels)
        return shot, (torch.sigmoid(out) if self.loss.probabilities else out).mean().item()

    def _step_mode_reals(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A fixed batch of real digits, spread over the training set; taken without drawing a batch, so the run's
        own stream of batches is the same with step mode as without."""
        x, y = self.batches.x, self.batches.y
        pick = torch.linspace(0, len(x) - 1, min(REAL_SAMPLES, len(x)), device=x.device).long()
        return x[pick], (y[pick] if self.cfg.conditional else None)

    def _lone_d_update(self) -> tuple[float, float]:
        """One update of D, on a fresh real batch and a fresh fake batch. G is untouched, so no step is counted: the
        grid's snapshot after it shows the same samples, with D's new push on them. Returns D's loss on that batch,
        in evaluation mode, before and after."""
        self.G.train()
        self.D.train()
        real, labels = self.batches.next()
        with torch.no_grad():
            fake = self.G(self._z(self.cfg.batch_size), labels)
        loss_before = self._d_loss_now(real, fake, labels)
        self._d_update(real, fake, labels)
        self._take_snapshot(replace=self.shots.latest is not None and self.shots.latest.step == self.step_count)
        return loss_before, self._d_loss_now(real, fake, labels)

    def _lone_g_update(self) -> tuple[float, float]:
        """One update of G against D as it is: a step of its own, recorded with D's verdicts on that batch. Returns G's
        loss on that batch's latent points, G and D in evaluation mode, before and after."""
        t0 = time.perf_counter()
        self.G.train()
        self.D.train()
        real, labels = self.batches.next()
        z = self._z(self.cfg.batch_size)
        loss_before = self._g_loss_now(z, labels)
        fake = self.G(z, labels)
        with torch.no_grad():
            real_out, fake_out = self._d_outputs(real, fake.detach(), labels)
            d_loss = self.loss.d_loss(real_out, fake_out, self.cfg.label_smoothing)
            d_metrics = (d_loss, *self._verdicts(real_out, fake_out), torch.zeros((), device=d_loss.device))
        self._record(d_metrics, self._update_g(fake, labels), t0, real_images=0, snapshot=True)
        return loss_before, self._g_loss_now(z, labels)

    @torch.no_grad()
    def _d_loss_now(self, real, fake, labels) -> float:
        with evaluating(self.D):
            real_out, fake_out = self._d_outputs(real, fake, labels)
            return self.loss.d_loss(real_out, fake_out, self.cfg.label_smoothing).item()

    @torch.no_grad()
    def _g_loss_now(self, z, labels) -> float:
        with evaluating(self.G), evaluating(self.D):
            return self.loss.g_loss(self.D(self.G(z, labels), labels)).item()

