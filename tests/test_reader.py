"""The digit reader (explorer/reader.py): reads digits as a person does, grey backgrounds and speckle included,
and says "no digit" for noise; read without pickle."""

import json
import pickle

import pytest
import torch

from explorer import data, metrics, reader
from explorer.classifier import load_classifier


@pytest.fixture(scope="module")
def clean_threes(digits):
    _, held = data.classifier_split(digits)
    return held.images[held.labels == 3].float().div(255).reshape(-1, 1, 28, 28)


def speckled(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Digits as a young GAN draws them: a grey background, less contrast, speckle."""
    g = torch.Generator().manual_seed(seed)
    return (0.35 + 0.6 * x * 0.65 + 0.15 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_the_reader_is_shipped_small_documented_and_read_without_pickle(monkeypatch):
    assert reader.READER_WEIGHTS.stat().st_size < 2 * 1024 * 1024
    record = json.loads(reader.READER_WEIGHTS.with_suffix(".json").read_text())
    assert record["held_out_accuracy"] >= 0.97 and "--reader" in record["command"]

    def refuse(*args, **kwargs):
        raise AssertionError("the reader must not be unpickled")
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    model = reader.load_reader()
    assert model.head.out_features == reader.NO_DIGIT + 1 and not model.training
    assert reader.load_reader() is model  # one instance per process


def test_it_reads_a_speckled_grey_digit_as_a_person_does(clean_threes):
    drawn = speckled(clean_threes)
    by_reader = metrics.probabilities(drawn).argmax(1)
    by_classifier = load_classifier()(drawn.reshape(-1, 784)).argmax(1)
    assert (by_reader == 3).float().mean() >= 0.9
    assert (by_classifier == 3).float().mean() < 0.5  # why the reader exists: the clean-digit classifier misreads them


def test_noise_and_flat_grey_are_no_digit():
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(300, 784, generator=g)
    grey = (0.45 + 0.1 * torch.randn(300, 784, generator=g)).clamp(0, 1)
    for pictures in (noise, grey):
        q = metrics.score(pictures, list(range(10)), n=300)
        assert q.no_digit >= 0.9 and q.read_as <= 0.1 and q.looks_real == 0
        assert metrics.probabilities(pictures).sum(1).max() < 0.5  # the digit columns hold little of it


def test_its_training_batches_mix_degraded_digits_and_no_digits(clean_threes):
    g = torch.Generator().manual_seed(0)
    x = clean_threes[:128]
    y = torch.full((len(x),), 3)
    xb, yb = reader.reader_batch(x, y, g)
    assert xb.shape == x.shape and xb.min() >= 0 and xb.max() <= 1
    nothing = yb == reader.NO_DIGIT
    assert 0 < nothing.float().mean() < 0.3 and set(yb[~nothing].tolist()) == {3}
    assert xb[~nothing].mean() > x.mean()  # the grey backgrounds
