"""Optimizers and the learning-rate schedule (explorer/optimizers.py)."""

import pytest
import torch

from explorer.nets import build
from explorer.optimizers import Optimizers
from tiny import tiny


def test_the_step_schedule_scales_one_network_at_its_milestones():
    cfg = tiny(schedule="step", g_milestones=[1, 3], g_gamma=0.5)
    opt = Optimizers(cfg, *build(cfg))
    for epoch in (1, 2, 3):
        opt.new_epoch(epoch)
    assert opt.lr("g") == pytest.approx(cfg.g_lr * 0.25) and opt.lr("d") == cfg.d_lr
    assert opt.g.param_groups[0]["lr"] == pytest.approx(cfg.g_lr * 0.25)


def test_decay_divides_each_epoch_and_a_live_change_keeps_the_factor():
    cfg = tiny(schedule="decay", lr_decay=0.5)
    opt = Optimizers(cfg, *build(cfg))
    for epoch in (1, 2, 3):  # factors 1, 1/1.5, 1/2
        opt.new_epoch(epoch)
    assert opt.lr("g") == pytest.approx(cfg.g_lr / 1.5 / 2.0)
    opt.use(cfg.replace(g_lr=1e-3))
    assert opt.g.param_groups[0]["lr"] == pytest.approx(1e-3 / 1.5 / 2.0)


@pytest.mark.parametrize("kind, cls", [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD),
                                       ("rmsprop", torch.optim.RMSprop)])
def test_each_network_gets_the_optimizer_its_config_names(kind, cls):
    cfg = tiny(g_optimizer=kind, d_optimizer="sgd", momentum=0.5)
    opt = Optimizers(cfg, *build(cfg))
    assert isinstance(opt.g, cls) and isinstance(opt.d, torch.optim.SGD)
    assert opt.d.param_groups[0]["momentum"] == 0.5
