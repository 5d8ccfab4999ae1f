"""Matching G's images to real ones (explorer/inversion.py): the memorization check and inversion."""

import math

import pytest
import torch

from explorer import data, inversion, latent
from explorer.config import ConfigError


# ---- checks -------------------------------------------------------------------------------------------------
def test_nearest_real_finds_a_copy_of_a_training_image():
    pool = inversion.real_images(data.load(), [4])
    assert len(pool) == 500
    typical = inversion.typical_nearest(pool)
    assert 0.02 < typical < 0.4
    near = inversion.nearest_real(pool[42].reshape(28, 28), pool, typical)
    assert near.index == 42 and near.distance == pytest.approx(0, abs=1e-3)
    noise = torch.randint(0, 256, (28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert inversion.nearest_real(noise, pool, typical).distance > 2 * typical


def test_inversion_lowers_the_reconstruction_error(tiny_trained):
    cfg, G = tiny_trained.cfg, tiny_trained.generator
    goal_z = latent.point(cfg, 77)
    target = latent.generate(G, cfg, goal_z[None])[0]
    calls, grads = [], [None if p.grad is None else p.grad.clone() for p in G.parameters()]
    found = inversion.invert(G, cfg, target, steps=150, restarts=8, progress=lambda i, err: calls.append((i, err)))
    assert found.error < 0.5 * found.start_error and found.error < 0.05
    assert found.z.shape == (cfg.latent_dim,) and torch.equal(found.image, latent.generate(G, cfg, found.z[None])[0])
    assert calls[-1][0] == 150 and calls[-1][1] == pytest.approx(found.curve[-1])
    # A shared model is never written to: its weights' gradients are what training left there.
    assert all(p.grad is None if g is None else torch.equal(p.grad, g) for p, g in zip(G.parameters(), grads))
    real = inversion.real_images(data.load(), [0])[3].reshape(28, 28)
    on_real = inversion.invert(G, cfg, real, steps=100, restarts=4)
    assert on_real.error < on_real.start_error


def test_inverting_with_a_conditional_generator_needs_its_digit(tiny_conditional):
    target = torch.zeros(28, 28, dtype=torch.uint8)
    with pytest.raises(ConfigError, match="digit"):
        inversion.invert(tiny_conditional.generator, tiny_conditional.cfg, target)
    found = inversion.invert(tiny_conditional.generator, tiny_conditional.cfg, target, label=5, steps=20, restarts=2)
    assert math.isfinite(found.error)
