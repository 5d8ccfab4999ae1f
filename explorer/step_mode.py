"""Step mode and slow motion: watch the game one move at a time.

While a run is paused, a student asks for one update of D or one of G (`nudge`) and sees the samples, and what
D tells G about them, before and after (`Progress.before` and the newest snapshot). Slow motion trains at a
chosen number of steps per second, with a snapshot every step. The updates run in the training thread,
between its waits, as every change to the networks does. A mixin of `explorer.trainer.Trainer`, whose
networks, batches and records it uses.
"""

from __future__ import annotations

import queue
import time

import torch

from .progress import Change

MAX_PACE = 100.0  # steps per second: above it slow motion is no slower than full speed on a small net


def check_update(update: str) -> str:
    if update not in ("d", "g"):
        raise ValueError(f"a lone update is of D or of G ('d' or 'g'), not {update!r}")
    return update


def check_pace(steps_per_second: float | None) -> float | None:
    if steps_per_second is not None and not 0 < steps_per_second <= MAX_PACE:
        raise ValueError(f"slow motion runs at more than 0 and at most {MAX_PACE:g} steps a second, "
                         f"not {steps_per_second!r}")
    return steps_per_second


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

    # ---- step mode: one update at a time, while paused ------------------------------------------
    def _lone_updates(self) -> None:
        """Do the lone updates asked for while paused, in the training thread, each snapshotted before and after."""
        while True:
            try:
                update = self._asked.get_nowait()
            except queue.Empty:
                return
            self._apply_pending()
            self.before = self.shots.latest
            if update == "d":
                self._lone_d_update()
            else:
                self._lone_g_update()

    def _lone_d_update(self) -> None:
        """One update of D, on a fresh real batch and a fresh fake batch. G is untouched, so no step is counted:
        the snapshot after it shows the same samples, with D's new push on them."""
        self.G.train()
        self.D.train()
        real, labels = self.batches.next()
        with torch.no_grad():
            fake = self.G(self._z(self.cfg.batch_size), labels)
        self._d_update(real, fake, labels)
        self.nudges.append(Change(self.step_count, "D step"))
        self._take_snapshot(replace=self.shots.latest is not None and self.shots.latest.step == self.step_count)
        self._publish()

    def _lone_g_update(self) -> None:
        """One update of G against D as it is: a step of its own, recorded with D's verdicts on that batch."""
        t0 = time.perf_counter()
        self.G.train()
        self.D.train()
        real, labels = self.batches.next()
        fake = self.G(self._z(self.cfg.batch_size), labels)
        with torch.no_grad():
            real_out, fake_out = self._d_outputs(real, fake.detach(), labels)
            d_loss = self.loss.d_loss(real_out, fake_out, self.cfg.label_smoothing)
            d_metrics = (d_loss, *self._verdicts(real_out, fake_out), torch.zeros((), device=d_loss.device))
        self.nudges.append(Change(self.step_count + 1, "G step"))
        self._record(d_metrics, self._update_g(fake, labels), t0, real_images=0, snapshot=True)

