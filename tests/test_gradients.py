"""What D tells G (explorer/gradients.py): a push per fake and pixel, with the sign of G's own update."""

import numpy as np
import pytest
import torch

from explorer import gradients, images
from explorer.nets import build
from tiny import tiny


class Linear(torch.nn.Module):
    """D(x) = w . x: the gradient of its score with respect to each pixel is w."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, labels=None):
        return x @ self.w


W = torch.linspace(-1, 1, 784)


@pytest.mark.parametrize("loss", ["wgan", "hinge", "nonsaturating", "minimax", "lsgan"])
def test_the_push_points_where_d_scores_higher_and_flips_when_ds_target_flips(loss):
    cfg = tiny(loss=loss, output="sigmoid")
    fakes = torch.full((4, 784), 0.3)
    toward, away = gradients.push(Linear(W), cfg, fakes), gradients.push(Linear(-W), cfg, fakes)
    assert toward.pixels.shape == (4, 28, 28)  # one map per fake, the grid's shape
    positive = W.reshape(28, 28) > 0
    assert (toward.pixels[0][positive] > 0).all() and (toward.pixels[0][~positive.logical_or(W.reshape(28, 28) == 0)]
                                                      < 0).all()  # more ink where D scores ink as real
    assert torch.equal(torch.sign(away.pixels), -torch.sign(toward.pixels))  # the target flipped: so does the push
    if loss in ("wgan", "hinge"):  # G's loss is -score: the push is exactly the score's gradient, per fake
        assert torch.allclose(toward.pixels, W.reshape(1, 28, 28).expand(4, 28, 28), atol=1e-6)


def test_a_batch_pushes_each_fake_as_if_alone_and_leaves_d_as_it_was():
    cfg = tiny()
    _, D = build(cfg)
    D.train()
    fakes = torch.rand(6, 784) * 2 - 1
    together = gradients.push(D, cfg, fakes)
    alone = gradients.push(D, cfg, fakes[2:3])
    assert torch.allclose(together.pixels[2], alone.pixels[0], atol=1e-5)
    assert together.verdicts.shape == (6,) and ((together.verdicts > 0) & (together.verdicts < 1)).all()
    assert D.training and all(p.grad is None for p in D.parameters())


def test_the_overlay_is_red_for_more_ink_and_blue_for_less():
    cfg = tiny(output="sigmoid")
    fakes = torch.full((2, 784), 0.5)
    pushed = torch.zeros(2, 28, 28)
    pushed[:, 0, 0], pushed[:, 27, 27] = 1.0, -1.0
    rgb = gradients.overlay(fakes, cfg, pushed)
    assert rgb.shape == (2, 28, 28, 3) and rgb.dtype == np.uint8
    r, g, b = rgb[0, 0, 0].astype(int)
    assert r > g and r > b  # more ink: red
    r, g, b = rgb[0, 27, 27].astype(int)
    assert b > r and b > g  # less ink: blue
    assert rgb[0, 14, 14, 0] == rgb[0, 14, 14, 2]  # no push: the grey sample as it is
    png = images.rgb_grid_png(rgb, nrow=2, scale=3)
    assert png[:4] == b"\x89PNG"


def test_maps_scaled_together_keep_a_small_change_small():
    digits = torch.zeros(2, 28, 28, dtype=torch.uint8)
    change = torch.zeros(2, 28, 28)
    change[0, :10] = 50.0  # the first sample changed much
    change[1, :10] = 1.0  # the second hardly
    alone, together = gradients.tint(digits, change), gradients.tint(digits, change, each=False)
    assert alone[1, 0, 0, 0] == alone[0, 0, 0, 0] > 150  # each scaled to itself: both look the same
    assert together[0, 0, 0, 0] > 150 and together[1, 0, 0, 0] < 40  # together: the small change stays small


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(float) @ np.array([0.299, 0.587, 0.114])


def test_weak_pushes_leave_the_digit_exactly_as_it_is_and_strong_ones_colour_it():
    torch.manual_seed(0)
    digits = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    pushed = torch.randn(3, 28, 28)
    rgb = gradients.tint(digits, pushed)
    strongest = pushed.abs().flatten(1).quantile(gradients.ROBUST_QUANTILE, dim=1).reshape(-1, 1, 1)
    weak = pushed.abs() < gradients.FADE_BELOW * strongest
    assert 0.2 < weak.float().mean() < 0.8  # both kinds are there to check
    grey = digits.numpy()[..., None].repeat(3, axis=-1)
    assert (rgb[weak.numpy()] == grey[weak.numpy()]).all()  # D hardly cares: the grey digit, untouched
    full = (pushed.abs() >= strongest).numpy()
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    assert ((r - b)[full & (pushed > 0).numpy()] > 80).all()  # strong and for more ink: plainly red
    assert ((b - r)[full & (pushed < 0).numpy()] > 80).all()  # strong and for less ink: plainly blue
    halfway = (pushed.abs() - strongest * (1 + gradients.FADE_BELOW) / 2).abs() < 0.02 * strongest
    assert halfway.any() and (abs(r - b)[halfway.numpy()] < abs(r - b)[full].min()).all()  # weaker: paler


def test_the_digit_s_ink_stays_visible_under_the_strongest_push():
    digits = torch.zeros(1, 28, 28, dtype=torch.uint8)
    digits[0, :, 10:18] = 255  # a stroke of ink down the middle, on black paper
    for sign in (1.0, -1.0):
        rgb = gradients.tint(digits, torch.full((1, 28, 28), sign))  # every pixel pushed as hard as any
        ink, paper = luminance(rgb[0, :, 10:18]), luminance(rgb[0, :, :10])
        assert ink.min() - paper.max() > 40, f"push {sign:+}: ink {ink.min():.0f} vs paper {paper.max():.0f}"
        assert (rgb[0, :, :10, 0] != rgb[0, :, :10, 2]).all()  # and the push shows on the paper too


def test_a_map_pushed_on_a_few_pixels_only_still_shows_them():
    digits = torch.zeros(1, 28, 28, dtype=torch.uint8)
    pushed = torch.zeros(1, 28, 28)
    pushed[0, 3, 4], pushed[0, 20, 20] = 1.0, 0.1  # under 1% of the pixels: the 99th percentile is 0
    rgb = gradients.tint(digits, pushed).astype(int)
    assert rgb[0, 3, 4, 0] > 150 and (rgb[0, 20, 20] == 0).all()  # measured against its largest: 0.1 is weak


def test_verdicts_in_few_characters_short_for_a_projector():
    assert gradients.verdict_text(0.314, True) == "0.31" and gradients.verdict_text(0.314, True, short=True) == "0.3"
    assert gradients.verdict_text(1.23, False) == "+1.2" and gradients.verdict_text(-1.23, False, short=True) == "-1.2"
    assert gradients.verdict_text(-123.4, False, short=True) == "-123"
    assert gradients.verdict_text(12.34, False) == "+12" and gradients.verdict_text(9.2, False, short=True) == "9.2"
