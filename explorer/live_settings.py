"""The settings a run takes while it trains (learning rates, loss, D steps per G step): asked for from any
thread, validated at once, applied by the training thread before its next step, and marked on the charts."""

from __future__ import annotations

import threading

from . import losses
from .config import LIVE_SETTINGS, ConfigError, GANConfig
from .progress import Change


def current(cfg: GANConfig) -> dict:
    return {k: getattr(cfg, k) for k in LIVE_SETTINGS}


class Pending:
    """Changes asked for and not yet applied. Its lock is held for microseconds, never for a step."""

    def __init__(self):
        self._lock = threading.Lock()
        self._changes: dict = {}

    def ask(self, cfg: GANConfig, changes: dict) -> None:
        """Queue `changes` over `cfg`; ConfigError names a setting that cannot change or a bad value."""
        bad = sorted(set(changes) - set(LIVE_SETTINGS))
        if bad:
            raise ConfigError(bad[0], f"cannot change during training (live: {', '.join(LIVE_SETTINGS)})")
        with self._lock:
            GANConfig.from_dict({**cfg.to_dict(), **self._changes, **changes})  # raises, naming the bad field
            self._changes.update(changes)

    def take(self, cfg: GANConfig) -> GANConfig | None:
        """`cfg` with the queued changes, which are then gone; None when nothing is queued."""
        with self._lock:
            changes, self._changes = self._changes, {}
        return GANConfig.from_dict({**cfg.to_dict(), **changes}) if changes else None


def change(old: GANConfig, new: GANConfig, step: int) -> Change | None:
    """What changed from `old` to `new`, as the charts label it, from `step` on; None when nothing did."""
    changed = {k: getattr(new, k) for k in LIVE_SETTINGS if getattr(old, k) != getattr(new, k)}
    if not changed:
        return None
    return Change(step, ", ".join(describe(k, v) for k, v in changed.items()), changed)


def describe(setting: str, value) -> str:
    """A live change as the charts label it: "loss → Hinge", "G lr → 0.001", "k → 2"."""
    if setting == "loss":
        return f"loss → {losses.get(value).title}"
    name = {"g_lr": "G lr", "d_lr": "D lr", "d_steps": "k"}[setting]
    return f"{name} → {value:g}"
