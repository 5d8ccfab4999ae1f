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
