"""The quality scores built on the metrics classifier (embedded MNIST sample): read as, looks real, Fréchet."""

import json
import time

import pytest
import torch

from explorer import metrics
from explorer.classifier import load_classifier

N = 200  # Fréchet sample count for these tests: below the 250-image probe half of one digit


@pytest.fixture(scope="module")
def clf():
    return load_classifier()


def _probe(digits, n, seed=1):
    """n real images of `digits` that are not in the reference half, in another order than the floor's."""
    _, probe = metrics.real_split(digits, "embedded")
    return probe[torch.randperm(len(probe), generator=torch.Generator().manual_seed(seed))[:n]]


def test_real_digits_score_like_the_floor(clf):
    q = metrics.score(_probe([3], N).reshape(-1, 28, 28), [3], n=N, source="embedded")
    assert q.fid_n == N and q.n_images == N
    assert q.read_as >= 0.9 and q.histogram[3] >= 0.9
    assert 0.85 <= q.looks_real <= q.read_as and q.looks_real_histogram[3] == pytest.approx(q.looks_real)
    assert q.confidence > 0.8
    assert 0 < q.fid_floor < 10
    assert q.fid <= 2 * q.fid_floor + 0.5


def test_floats_score_like_uint8(clf):
    images = _probe([7], N)
    a = metrics.score(images, [7], n=N, source="embedded")
    b = metrics.score(images.float() / 255, [7], n=N, source="embedded")
    assert a.fid == pytest.approx(b.fid, rel=1e-5) and a.histogram == b.histogram
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.score(images.float() / 127.5 - 1, [7], n=N, source="embedded")


@pytest.mark.parametrize("kind", ["noise", "black"])
def test_noise_and_blank_images_score_badly(clf, kind):
    images = torch.rand(N, 28, 28) if kind == "noise" else torch.zeros(N, 28, 28, dtype=torch.uint8)
    q = metrics.score(images, [3], n=N, source="embedded")
    assert q.read_as < 0.5 and q.looks_real == 0  # noise is read as something now and then, never as real
    assert q.fid > 20 * q.fid_floor + 20


def test_a_missing_digit_shows_in_histogram_and_distance(clf):
    threes = _probe([3], N)
    q = metrics.score(threes, [3, 5], n=N, source="embedded")
    assert q.read_as >= 0.9  # every image is an allowed digit ...
    assert q.histogram[3] >= 0.9 and q.histogram[5] <= 0.05  # ... but the 5s are missing
    both = metrics.score(_probe([3, 5], N), [3, 5], n=N, source="embedded")
    assert both.histogram[3] > 0.3 and both.histogram[5] > 0.3
    assert q.fid > 5 * both.fid and q.fid > 5 * q.fid_floor


def test_floor_shrinks_to_the_real_images_there_are(clf):
    ref = metrics.reference((3,), 1000, "embedded", None, clf)
    assert ref.n == 250 and ref.n_reference == 250  # 500 embedded 3s, halved; no duplicates drawn
    with pytest.raises(ValueError, match="pass n=10"):
        metrics.score(torch.zeros(10, 784), [3], source="embedded")


def test_to_dict_is_json(clf):
    q = metrics.score(_probe([1], N), [1], n=N, source="embedded")
    d = json.loads(json.dumps(q.to_dict()))
    assert len(d["histogram"]) == 10 and sum(d["histogram"]) == pytest.approx(1)
    assert d["digits"] == [1] and d["fid_n"] == N


def test_frechet_distance_closed_form():
    # Gaussians with diagonal covariances: |m1 - m2|² + Σ (s1 - s2)² over the standard deviations.
    a = metrics.Stats(torch.tensor([0.0, 1.0], dtype=torch.float64), torch.diag(torch.tensor([4.0, 1.0])).double(), 0)
    b = metrics.Stats(torch.tensor([3.0, 1.0], dtype=torch.float64), torch.diag(torch.tensor([1.0, 9.0])).double(), 0)
    assert metrics.frechet_distance(a, b) == pytest.approx(9 + 1 + 4)
    assert metrics.frechet_distance(a, a) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_matches_torchmetrics():
    fid_mod = pytest.importorskip("torchmetrics.image.fid")

    class Identity(torch.nn.Module):
        num_features = 16

        def forward(self, x):
            return x

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 16, generator=g, dtype=torch.float64)
    y = torch.randn(300, 16, generator=g, dtype=torch.float64) @ torch.randn(16, 16, generator=g).double() + 0.5
    tm = fid_mod.FrechetInceptionDistance(feature=Identity())
    tm.update(x, real=True)
    tm.update(y, real=False)
    ours = metrics.frechet_distance(metrics.stats(x), metrics.stats(y))
    assert ours == pytest.approx(tm.compute().item(), rel=1e-6)


def test_scoring_is_fast_once_the_reference_is_cached(clf):
    images = torch.randint(0, 256, (1000, 28, 28), dtype=torch.uint8)
    metrics.score(images, list(range(10)), source="embedded")  # builds the reference statistics
    hits = metrics.reference.cache_info().hits
    t0 = time.perf_counter()
    q = metrics.score(images, list(range(10)), source="embedded")
    seconds = time.perf_counter() - t0
    assert metrics.reference.cache_info().hits == hits + 1
    assert q.fid_n == 1000
    assert seconds < 5.0  # ~0.2 s on 2 idle CPU cores; loose, as test machines are often busy
