"""The latent space (explorer/latent.py): points, paths, grids, walks, and looking at G's images."""


import pytest
import torch

from explorer import latent
from explorer.config import ConfigError
from explorer.reader import load_reader
from tiny import tiny


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


def test_a_plane_is_centred_on_the_point_a_step_apart_across_and_down():
    z, u, v = torch.full((4,), 0.25), torch.eye(4)[0], torch.eye(4)[1]
    grid = latent.plane(z, u, v, 7, 0.5)
    assert grid.shape == (49, 4) and torch.equal(grid[24], z)  # the middle tile is the point
    assert grid[0].tolist() == [-1.25, -1.25, 0.25, 0.25]  # top left: three steps back along both
    assert grid[6].tolist() == [1.75, -1.25, 0.25, 0.25] and grid[48].tolist() == [1.75, 1.75, 0.25, 0.25]
    assert latent.plane_offsets(5).tolist() == [-2, -1, 0, 1, 2]
    with pytest.raises(ConfigError, match="odd"):
        latent.plane(z, u, v, 4, 0.5)


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


def test_blended_labels_morph_a_conditional_generator(tiny_conditional):
    cfg, G = tiny_conditional.cfg, tiny_conditional.generator
    t = torch.linspace(0, 1, 5)
    weights = latent.blend(2, 7, t)
    assert weights.shape == (5, 10) and weights[0, 2] == 1 and weights[-1, 7] == 1 and weights[2, 2] == 0.5
    z = latent.point(cfg, 0).expand(5, -1)
    morph = latent.generate(G, cfg, z, weights)
    assert torch.equal(morph[0], latent.generate(G, cfg, z[:1], torch.tensor([2]))[0])
    assert torch.equal(morph[-1], latent.generate(G, cfg, z[:1], torch.tensor([7]))[0])


# ---- looking at points -------------------------------------------------------------------------------------
def test_look_reads_images_with_d_and_the_classifier(tiny_trained):
    cfg = tiny_trained.cfg
    z = latent.truncated(cfg, 6, 1.0)
    seen = latent.look(tiny_trained.generator, cfg, z, None, tiny_trained.D, load_reader())
    assert seen.images.shape == (6, 28, 28) and seen.images.dtype == torch.uint8
    assert torch.equal(seen.images, latent.generate(tiny_trained.generator, cfg, z))
    assert (seen.probabilities.sum(1) <= 1 + 1e-5).all()  # the rest: the chance it is no digit at all
    assert seen.d_scores.shape == (6,) and ((seen.d_scores > 0) & (seen.d_scores < 1)).all()
    one = latent.look(tiny_trained.generator, cfg, z[0])
    assert one.images.shape == (1, 28, 28) and one.d_scores is None


def test_look_at_judges_pictures_g_did_not_draw_as_d_judges_fakes(tiny_trained):
    cfg = tiny_trained.cfg
    drawn = latent.generate(tiny_trained.generator, cfg, latent.truncated(cfg, 3, 1.0))  # uint8, as a drawing is
    seen = latent.look_at(cfg, drawn, None, tiny_trained.D, load_reader())
    assert torch.equal(seen.images, drawn) and seen.probabilities.shape == (3, 10)
    assert cfg.output == "tanh"  # D sees pixels in -1..1
    as_d_sees = latent.d_score(tiny_trained.D, cfg, drawn.reshape(3, 784).float() / 127.5 - 1)
    assert torch.allclose(seen.d_scores, as_d_sees, atol=1e-6)
    assert latent.look_at(cfg, drawn[0]).d_scores is None and latent.look_at(cfg, drawn[0]).images.shape == (1, 28, 28)
