"""Directions in latent space (explorer/directions.py): principal ones, and attributes that do what they say."""

import pytest
import torch

from explorer import directions, latent
from explorer.reader import load_reader


def test_principal_directions_are_unit_length_and_ordered_by_variance(tiny_trained):
    found = directions.principal_directions(tiny_trained.generator, tiny_trained.cfg, k=10, n=2000)
    assert found.vectors.shape == (6, 6)  # no more directions than latent dimensions
    assert torch.allclose(found.vectors.norm(dim=1), torch.ones(6), atol=1e-5)
    v = found.variance
    assert (v[:-1] >= v[1:]).all() and 0 < v.sum() <= 1 + 1e-6
    # Moving along direction 1 changes the first hidden layer more than moving along the last one.
    z = latent.truncated(tiny_trained.cfg, 200, 1.0)

    def change(direction):
        with torch.no_grad():
            G = tiny_trained.generator
            return (directions.first_hidden(G, z + direction) - directions.first_hidden(G, z)).norm(dim=1).mean()

    assert change(found.vectors[0]) > change(found.vectors[-1])


def test_first_hidden_stops_after_the_first_activation(tiny_trained):
    G = tiny_trained.generator
    z = torch.randn(3, tiny_trained.cfg.latent_dim)
    with torch.no_grad():
        expected = torch.nn.functional.leaky_relu(G.body[0](z), tiny_trained.cfg.leaky_slope)
        assert torch.allclose(directions.first_hidden(G, z), expected)


def test_ink_and_slant_measure_what_they_say():
    upright = torch.zeros(1, 28, 28, dtype=torch.uint8)
    upright[0, 4:24, 13:15] = 255
    leaning = torch.zeros(1, 28, 28, dtype=torch.uint8)
    for row in range(4, 24):  # the top is further right
        col = 20 - (row - 4) // 2
        leaning[0, row, col:col + 2] = 255
    thick = upright.clone()
    thick[0, 4:24, 12:16] = 255
    assert abs(directions.slant(upright).item()) < 1e-6 and directions.slant(leaning).item() > 0.3
    assert directions.slant(leaning.flip(2)).item() < -0.3
    assert directions.ink(thick).item() == pytest.approx(2 * directions.ink(upright).item())


def test_attribute_directions_change_their_attribute(tiny_trained):
    cfg, G = tiny_trained.cfg, tiny_trained.generator
    found = {a.key: a for a in directions.attribute_directions(G, cfg, load_reader(), n=1500)}
    assert {"thickness", "slant"} <= set(found)
    z = latent.truncated(cfg, 300, 1.0, seed=9)
    for key, measure in (("thickness", directions.ink), ("slant", directions.slant)):
        v = found[key].vector
        assert v.norm().item() == pytest.approx(1, abs=1e-5)
        more, less = latent.generate(G, cfg, z + 1.5 * v), latent.generate(G, cfg, z - 1.5 * v)
        assert measure(more).mean() > measure(less).mean(), key
