"""The divergence and collapse guards (explorer/guards.py): when they fire, and the model they keep."""

import math

import torch

from explorer import guards
from explorer.guards import Guards
from explorer.nets import build
from explorer.progress import METRICS
from tiny import tiny


def make(output="sigmoid") -> tuple[Guards, torch.nn.Module]:
    G, D = build(tiny(output=output))
    return Guards(G, D, G, output), G


ALIKE = torch.full((64, 784), 0.5)
VARIED = torch.rand(64, 784, generator=torch.Generator().manual_seed(0))


def test_alike_samples_are_a_collapse_only_after_the_warm_up():
    g, _ = make()
    for _ in range(5):  # a young G drawing one blob for every z: it has not learned to use z yet
        assert g.collapsed(300, ALIKE) is None
    g, _ = make()
    for images in (ALIKE, ALIKE, VARIED, ALIKE, ALIKE):  # variety in between: no three alike in a row
        assert g.collapsed(guards.COLLAPSE_WARMUP, images) is None


def test_a_collapse_rolls_back_to_the_last_varied_model_and_says_so():
    g, G = make()
    step = guards.COLLAPSE_WARMUP
    assert g.collapsed(step, VARIED) is None
    kept = {k: v.clone() for k, v in G.state_dict().items()}
    with torch.no_grad():
        for p in G.parameters():  # what G has become since: the collapsed model
            p.add_(1.0)
    reasons = [g.collapsed(step + 50 * i, ALIKE) for i in (1, 2, 3)]
    assert reasons[:2] == [None, None] and reasons[2] is not None
    assert f"Mode collapse at step {step + 150:,}:" in reasons[2]
    assert f"the one from step {step:,}, before the collapse" in reasons[2]
    assert all(torch.equal(v, kept[k]) for k, v in G.state_dict().items())


def test_a_nan_metric_rolls_back_to_the_last_finite_snapshot():
    g, G = make()
    g.keep_good(10, VARIED)
    kept = {k: v.clone() for k, v in G.state_dict().items()}
    g.keep_good(20, torch.full((64, 784), math.nan))  # not finite: not kept
    with torch.no_grad():
        G.head.weight.fill_(math.nan)
    fine = dict.fromkeys(METRICS, 0.5)
    assert g.diverged(21, fine) is None
    reason = g.diverged(22, {**fine, "g_loss": math.inf, "d_grad": math.nan})
    assert "step 22: g_loss, d_grad became NaN or infinite" in reason and "rolled back to step 10" in reason
    assert all(torch.equal(v, kept[k]) for k, v in G.state_dict().items())
