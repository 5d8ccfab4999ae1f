"""D's verdicts under the Train page's "What D tells G" grid (explorer.ui.push_view) stand at least VERDICT_PX tall
on screen at the width the page shows the grid, and presenter.TEXT_PX in presenter mode: measured from the
rendered picture's text rows, scaled as a browser scales the picture to its column."""

import io
from types import SimpleNamespace

import pytest
import torch
from caption_measure import caption_heights
from PIL import Image

from explorer.ui import presenter, push_view


def snapshot(verdicts: torch.Tensor, probabilities: bool) -> SimpleNamespace:
    torch.manual_seed(0)
    return SimpleNamespace(images=torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8),
                           push=torch.randn(64, 28, 28), verdicts=verdicts, probabilities=probabilities)


@pytest.mark.parametrize("probabilities, verdicts", [(True, torch.rand(64)), (False, torch.randn(64) * 30)])
@pytest.mark.parametrize("big", [False, True])
def test_the_verdicts_are_readable_at_the_width_the_page_shows_the_grid(probabilities, verdicts, big):
    shown = push_view.PRESENTER_GRID_PX if big else push_view.GRID_SHOWN_PX
    goal = presenter.TEXT_PX if big else push_view.VERDICT_PX
    rows = push_view.PRESENTER_ROWS if big else 8  # presenter mode shows the first rows, larger
    png = push_view._picture(snapshot(verdicts, probabilities), list(range(8 * rows)), 8, 2, True, shown_px=shown,
                             big=big)
    heights = caption_heights(png)
    assert len(heights) == rows  # a band under each of the grid's rows
    on_screen = min(heights) * shown / Image.open(io.BytesIO(png)).width
    assert on_screen >= goal, f"the verdicts stand {on_screen:.1f} px on screen, under {goal}"
