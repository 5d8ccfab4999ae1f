"""The latent-space engine: paths, grids, directions, checks and inversion, on a briefly trained tiny GAN."""

import math

import pytest
import torch

from explorer import data, latent, metrics
from explorer.config import ConfigError
from explorer.training import Budget, Trainer
from tiny import tiny


@pytest.fixture(scope="module")
def trained():
    trainer = Trainer(tiny(digits=[0, 1], latent_dim=6, g_layers=[48], d_layers=[48]), data.load())
    trainer.run(Budget("steps", 150))
    return trainer


@pytest.fixture(scope="module")
def conditional():
    trainer = Trainer(tiny(digits=[2, 5, 7], conditional=True), data.load())
    trainer.run(Budget("steps", 30))
    return trainer


# ---- paths and grids ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["lerp", "slerp"])
def test_interpolation_hits_both_endpoints(mode):
    a, b = torch.randn(5), torch.randn(5)
    strip = latent.interpolate(a, b, 7, mode)
    assert strip.shape == (7, 5)
    assert torch.allclose(strip[0], a, atol=1e-5) and torch.allclose(strip[-1], b, atol=1e-5)


def test_slerp_between_equal_norm_points_keeps_the_norm_and_lerp_does_not():
    a = torch.randn(32)
    b = torch.randn(32)
    b = b / b.norm() * a.norm()
    arc, line = latent.interpolate(a, b, 9, "slerp"), latent.interpolate(a, b, 9, "lerp")
    assert torch.allclose(arc.norm(dim=1), a.norm().expand(9), rtol=1e-4)
    assert line[4].norm() < 0.9 * a.norm()  # the straight line cuts through the middle


def test_slerp_of_parallel_points_falls_back_to_lerp():
    a = torch.ones(4)
    assert torch.allclose(latent.interpolate(a, 2 * a, 3, "slerp")[1], 1.5 * a)


def test_a_strip_needs_two_frames():
    with pytest.raises(ConfigError, match="frames"):
        latent.interpolate(torch.zeros(2), torch.ones(2), 1)


def test_path_passes_through_every_point_once():
    points = torch.randn(4, 3)
    p = latent.path(points, 5, "lerp")
    assert p.shape == (3 * 5 + 1, 3)
    for i, point in enumerate(points):
        assert torch.allclose(p[i * 5], point)
    loop = latent.path(points, 5, "lerp", loop=True)
    assert loop.shape == (4 * 5, 3) and torch.allclose(loop[0], points[0])
    assert not torch.allclose(loop[-1], points[0])  # the GIF's first frame follows the last, not repeats it


def test_bilinear_grid_has_the_corners_at_the_corners():
    corners = torch.randn(4, 6)
    g = latent.bilinear_grid(corners, 5)
    assert g.shape == (25, 6)
    assert torch.allclose(g[0], corners[0]) and torch.allclose(g[4], corners[1])
    assert torch.allclose(g[20], corners[2]) and torch.allclose(g[24], corners[3])
    assert torch.allclose(g[12], corners.mean(0), atol=1e-6)  # the centre blends all four equally


def test_latent_map_spans_the_prior_top_row_first():
    cfg = tiny(latent_dim=2)
    m = latent.latent_map(cfg, 20)
    assert m.shape == (400, 2)
    assert m[0].tolist() == [-3, 3] and m[19].tolist() == [3, 3] and m[-1].tolist() == [3, -3]
    assert latent.latent_map(tiny(latent_dim=2, prior="uniform"), 4).abs().max() == 1
    with pytest.raises(ConfigError, match="2-d"):
        latent.latent_map(tiny(latent_dim=8))


def test_neighbourhood_is_centred_on_the_point():
    z, u, v = torch.zeros(4), torch.eye(4)[0], torch.eye(4)[1]
    hood = latent.neighbourhood(z, u, v, 0.5)
    assert hood.shape == (9, 4) and torch.equal(hood[4], z)
    assert hood[5].tolist() == [0.5, 0, 0, 0] and hood[7].tolist() == [0, 0.5, 0, 0]


def test_random_walk_moves_smoothly_and_stays_in_the_prior():
    normal = latent.random_walk(tiny(latent_dim=16), torch.zeros(16), 400, seed=1)
    steps = (normal[1:] - normal[:-1]).norm(dim=1)
    assert normal.shape == (400, 16) and steps.max() < 2.5 and steps.min() > 0
    assert 0.5 < normal[100:].std() < 1.5  # wanders over the prior, neither stuck nor blown up
    uniform = latent.random_walk(tiny(latent_dim=16, prior="uniform"), torch.zeros(16), 400, step=0.3, seed=1)
    assert uniform.abs().max() <= 1


def test_tour_loops_back_to_its_start():
    t = latent.tour(tiny(), 4, 6, seed=3)
    assert t.shape == (24, 8)
    assert (t[-1] - t[0]).norm() < (t[12] - t[0]).norm()


def test_truncation_scales_the_prior():
    cfg = tiny(latent_dim=32)
    full, half = latent.truncated(cfg, 500, 1.0, seed=0), latent.truncated(cfg, 500, 0.5, seed=0)
    assert torch.allclose(half, full / 2)
    assert 0.9 < full.std() < 1.1
    with pytest.raises(ConfigError, match="psi"):
        latent.truncated(cfg, 4, 3.0)


def test_blended_labels_morph_a_conditional_generator(conditional):
    cfg, G = conditional.cfg, conditional.generator
    t = torch.linspace(0, 1, 5)
    weights = latent.blend(2, 7, t)
    assert weights.shape == (5, 10) and weights[0, 2] == 1 and weights[-1, 7] == 1 and weights[2, 2] == 0.5
    z = latent.point(cfg, 0).expand(5, -1)
    morph = latent.generate(G, cfg, z, weights)
    assert torch.equal(morph[0], latent.generate(G, cfg, z[:1], torch.tensor([2]))[0])
    assert torch.equal(morph[-1], latent.generate(G, cfg, z[:1], torch.tensor([7]))[0])


# ---- looking at points -------------------------------------------------------------------------------------
def test_look_reads_images_with_d_and_the_classifier(trained):
    cfg = trained.cfg
    z = latent.truncated(cfg, 6, 1.0)
    seen = latent.look(trained.generator, cfg, z, None, trained.D, metrics.load_classifier())
    assert seen.images.shape == (6, 28, 28) and seen.images.dtype == torch.uint8
    assert torch.equal(seen.images, latent.generate(trained.generator, cfg, z))
    assert torch.allclose(seen.probabilities.sum(1), torch.ones(6), atol=1e-5)
    assert seen.d_scores.shape == (6,) and ((seen.d_scores > 0) & (seen.d_scores < 1)).all()
    one = latent.look(trained.generator, cfg, z[0])
    assert one.images.shape == (1, 28, 28) and one.d_scores is None


def test_principal_directions_are_unit_length_and_ordered_by_variance(trained):
    found = latent.principal_directions(trained.generator, trained.cfg, k=10, n=2000)
    assert found.vectors.shape == (6, 6)  # no more directions than latent dimensions
    assert torch.allclose(found.vectors.norm(dim=1), torch.ones(6), atol=1e-5)
    v = found.variance
    assert (v[:-1] >= v[1:]).all() and 0 < v.sum() <= 1 + 1e-6
    # Moving along direction 1 changes the first hidden layer more than moving along the last one.
    z = latent.truncated(trained.cfg, 200, 1.0)

    def change(direction):
        with torch.no_grad():
            G = trained.generator
            return (latent.first_hidden(G, z + direction) - latent.first_hidden(G, z)).norm(dim=1).mean()

    assert change(found.vectors[0]) > change(found.vectors[-1])


def test_first_hidden_stops_after_the_first_activation(trained):
    G = trained.generator
    z = torch.randn(3, trained.cfg.latent_dim)
    with torch.no_grad():
        expected = torch.nn.functional.leaky_relu(G.body[0](z), trained.cfg.leaky_slope)
        assert torch.allclose(latent.first_hidden(G, z), expected)


def test_ink_and_slant_measure_what_they_say():
    upright = torch.zeros(1, 28, 28, dtype=torch.uint8)
    upright[0, 4:24, 13:15] = 255
    leaning = torch.zeros(1, 28, 28, dtype=torch.uint8)
    for row in range(4, 24):  # the top is further right
        col = 20 - (row - 4) // 2
        leaning[0, row, col:col + 2] = 255
    thick = upright.clone()
    thick[0, 4:24, 12:16] = 255
    assert abs(latent.slant(upright).item()) < 1e-6 and latent.slant(leaning).item() > 0.3
    assert latent.slant(leaning.flip(2)).item() < -0.3
    assert latent.ink(thick).item() == pytest.approx(2 * latent.ink(upright).item())


def test_attribute_directions_change_their_attribute(trained):
    cfg, G = trained.cfg, trained.generator
    found = {a.key: a for a in latent.attribute_directions(G, cfg, metrics.load_classifier(), n=1500)}
    assert {"thickness", "slant"} <= set(found)
    z = latent.truncated(cfg, 300, 1.0, seed=9)
    for key, measure in (("thickness", latent.ink), ("slant", latent.slant)):
        v = found[key].vector
        assert v.norm().item() == pytest.approx(1, abs=1e-5)
        more, less = latent.generate(G, cfg, z + 1.5 * v), latent.generate(G, cfg, z - 1.5 * v)
        assert measure(more).mean() > measure(less).mean(), key


# ---- checks -------------------------------------------------------------------------------------------------
def test_nearest_real_finds_a_copy_of_a_training_image():
    pool = latent.real_images(data.load(), [4])
    assert len(pool) == 500
    typical = latent.typical_nearest(pool)
    assert 0.02 < typical < 0.4
    near = latent.nearest_real(pool[42].reshape(28, 28), pool, typical)
    assert near.index == 42 and near.distance == pytest.approx(0, abs=1e-3)
    noise = torch.randint(0, 256, (28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert latent.nearest_real(noise, pool, typical).distance > 2 * typical


def test_inversion_lowers_the_reconstruction_error(trained):
    cfg, G = trained.cfg, trained.generator
    goal_z = latent.point(cfg, 77)
    target = latent.generate(G, cfg, goal_z[None])[0]
    calls, grads = [], [None if p.grad is None else p.grad.clone() for p in G.parameters()]
    found = latent.invert(G, cfg, target, steps=150, restarts=8, progress=lambda i, err: calls.append((i, err)))
    assert found.error < 0.5 * found.start_error and found.error < 0.05
    assert found.z.shape == (cfg.latent_dim,) and torch.equal(found.image, latent.generate(G, cfg, found.z[None])[0])
    assert calls[-1][0] == 150 and calls[-1][1] == pytest.approx(found.curve[-1])
    # A shared model is never written to: its weights' gradients are what training left there.
    assert all(p.grad is None if g is None else torch.equal(p.grad, g) for p, g in zip(G.parameters(), grads))
    real = latent.real_images(data.load(), [0])[3].reshape(28, 28)
    on_real = latent.invert(G, cfg, real, steps=100, restarts=4)
    assert on_real.error < on_real.start_error


def test_inverting_with_a_conditional_generator_needs_its_digit(conditional):
    target = torch.zeros(28, 28, dtype=torch.uint8)
    with pytest.raises(ConfigError, match="digit"):
        latent.invert(conditional.generator, conditional.cfg, target)
    found = latent.invert(conditional.generator, conditional.cfg, target, label=5, steps=20, restarts=2)
    assert math.isfinite(found.error)
