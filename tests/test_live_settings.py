"""Settings changed while a run trains (explorer/live_settings.py): checked when asked, applied once."""

import pytest

from explorer import live_settings
from explorer.config import ConfigError
from tiny import tiny


def test_asked_changes_are_checked_at_once_and_taken_once():
    cfg, pending = tiny(), live_settings.Pending()
    assert pending.take(cfg) is None
    pending.ask(cfg, {"g_lr": 1e-3})
    pending.ask(cfg, {"loss": "hinge"})
    with pytest.raises(ConfigError, match="d_steps"):
        pending.ask(cfg, {"d_steps": 0})
    with pytest.raises(ConfigError, match="cannot change during training"):
        pending.ask(cfg, {"latent_dim": 3})
    new = pending.take(cfg)
    assert (new.g_lr, new.loss, new.d_steps) == (1e-3, "hinge", cfg.d_steps)
    assert pending.take(new) is None


def test_a_change_is_labelled_as_the_charts_show_it():
    old = tiny()
    change = live_settings.change(old, old.replace(loss="hinge", d_steps=2), step=40)
    assert (change.step, change.what) == (40, "loss → Hinge, k → 2")
    assert change.settings == {"loss": "hinge", "d_steps": 2}
    assert live_settings.change(old, old, 40) is None
