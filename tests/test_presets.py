import math

import pytest
import torch

from explorer import data, presets
from explorer.config import Budget
from explorer.nets import build, sample_latent
from explorer.progress import Status
from explorer.trainer import Trainer


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_has_the_right_shapes_and_trains(name):
    cfg = presets.get(name).config()
    G, D = build(cfg)
    z = sample_latent(5, cfg)
    x = G(z)
    assert x.shape == (5, 784) and D(x).shape == (5,)
    lo = -1 if cfg.output == "tanh" else 0
    assert x.min() >= lo and x.max() <= 1
    trainer = Trainer(cfg, data.load())
    assert trainer.run(Budget("steps", 3)) == Status.FINISHED
    assert all(math.isfinite(v) for v in trainer.final_metrics().values())


def test_published_hyperparameters():
    tut = presets.get("numpy-tutorial").config()
    assert (tut.latent_dim, tut.g_layers, tut.d_layers, tut.init) == (100, [128], [128], "he")
    assert (tut.g_optimizer, tut.g_lr, tut.schedule, tut.batch_size, tut.digits) == ("sgd", 1e-3, "decay", 64, [3])
    keras = presets.get("keras-dense").config()
    assert keras.g_batchnorm and keras.bn_momentum == 0.2 and keras.g_layers == [256, 512, 1024]
    G, _ = build(keras)
    bn = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert bn and all(m.momentum == 0.2 and m.eps == 1e-5 for m in bn)  # not BatchNorm1d(n, 0.8)
    tf2 = presets.get("minimal-tf-2d").config()
    assert tf2.latent_dim == 2 and tf2.prior == "uniform" and tf2.output == "sigmoid"
    smooth = presets.get("vanilla-smooth").config()
    assert smooth.label_smoothing == 0.9 and smooth.g_milestones == [20, 50, 80] and smooth.d_gamma == 0.1
    bce = presets.get("pytorch-bce").config()
    assert bce.d_dropout == 0.3 and bce.batch_size == 100 and (bce.beta1, bce.beta2) == (0.5, 0.999)


def test_he_init_has_the_published_spread():
    G, D = build(presets.get("numpy-tutorial").config())
    w = D.body[0].weight  # 784 -> 128
    assert abs(w.std().item() - math.sqrt(2 / 784)) < 0.003


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="not one of"):
        presets.get("nope")
