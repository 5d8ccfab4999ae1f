"""The live quality meter: its numbers on known inputs, and its place in the trainer."""

import pytest
import torch
from torch import nn

from explorer import data, metrics, quality
from explorer.classifier import load_classifier
from explorer.config import Budget
from explorer.progress import Status
from explorer.quality import Meter, Reading
from explorer.trainer import Trainer
from tiny import tiny


class Fixed(nn.Module):
    """A stand-in generator that ignores z and returns given images (scaled for tanh output)."""

    def __init__(self, images):
        super().__init__()
        self.images = images
        self.dummy = nn.Linear(1, 1)

    def forward(self, z, labels=None):
        return self.images[: len(z)]


class Judge(nn.Module):
    """A stand-in discriminator: the mean pixel, as a logit."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Linear(1, 1)

    def forward(self, x, labels=None):
        return x.mean(1, keepdim=True) * 10


def read(images, digits_data, cfg):
    meter = Meter(cfg, digits_data)
    return meter.read(Fixed(images), Judge(), cfg, step=0, seconds=0.0, probabilities=True)


def test_real_digits_score_near_the_floor_and_noise_scores_badly(digits):
    cfg = tiny(digits=[3])
    threes = digits.images[digits.labels == 3]
    # real 3s the meter's own real batch does not hold (it draws with seed + 3), scaled as G would draw them
    real = data.scale(threes.flip(0)[: quality.SAMPLES], "tanh")
    good = read(real, digits, cfg)
    assert good.looks_real > 0.85 and good.read_as >= good.looks_real
    assert good.fid < 3 * good.fid_floor
    assert 0.8 < good.variety < 1.25
    assert good.looks_real_histogram[3] == pytest.approx(good.looks_real)
    assert good.histogram[3] == pytest.approx(good.read_as)
    noise = read(torch.rand(quality.SAMPLES, 784) * 2 - 1, digits, cfg)
    assert noise.looks_real < 0.02
    assert noise.fid > 50 * noise.fid_floor
    grey = read(torch.zeros(quality.SAMPLES, 784), digits, cfg)  # one flat grey picture, over and over
    assert grey.variety < 0.05 and grey.looks_real == 0


def test_grey_noise_is_no_digit_though_the_clean_digit_classifier_is_sure_it_is_one(digits):
    clf = load_classifier()
    grey = (0.5 + 0.1 * torch.randn(300, 784)).clamp(0, 1)
    q = metrics.score(grey, list(range(10)), clf, n=300)
    assert q.confidence > 0.9  # the classifier is sure of some digit...
    assert q.looks_real < 0.02  # ...but its features are not typical of real digits
    assert q.read_as <= 0.05 and q.no_digit >= 0.9  # and the digit reader reads no digit
    real = metrics.score(digits.images[:1000], list(range(10)), clf, n=1000)
    assert real.looks_real > 0.85


def test_overlap_of_d_outputs():
    a = torch.linspace(0, 0.3, 100)
    assert quality.overlap(a, a, probabilities=True) == pytest.approx(1.0)
    assert quality.overlap(a, a + 0.6, probabilities=True) == 0.0
    # critic scores: bins over the joint range
    assert quality.overlap(a * 100, a * 100 + 40, probabilities=False) == 0.0
    assert 0.3 < quality.overlap(a * 100, a * 100 + 15, probabilities=False) < 0.7


def reading(histogram, variety=0.8) -> Reading:
    """A reading whose samples look like real digits as `histogram` says (and are read as them)."""
    real = sum(histogram)
    return Reading(step=100, seconds=10.0, read_as=real, looks_real=real, histogram=histogram,
                   looks_real_histogram=histogram, fid=20.0, fid_floor=2.0, variety=variety,
                   overlap=0.3, d_real=torch.zeros(4), d_fake=torch.zeros(4), probabilities=True)


def test_collapse_warning_names_the_digits_that_take_over():
    digits = [0, 1, 2, 3]
    fair = reading([0.2, 0.22, 0.18, 0.2] + [0.0] * 6)
    assert quality.collapse_warning(fair, digits) is None
    taken = reading([0.0, 0.75, 0.0, 0.05] + [0.0] * 6)
    warning = quality.collapse_warning(taken, digits)
    assert warning and "mostly 1 (94%)" in warning and "0 and 2" in warning  # 0.75 of the 0.8 recognised
    # early noise reads as anything: no warning until half the samples are recognised
    assert quality.collapse_warning(reading([0.0, 0.3] + [0.0] * 8), digits) is None
    alike = reading([0.0, 0.0, 0.0, 0.9] + [0.0] * 6, variety=0.1)
    assert "look alike" in quality.collapse_warning(alike, [3])


@pytest.mark.slow  # many seconds: the fast tier leaves it out
def test_trainer_reads_at_the_start_and_the_end_without_changing_the_run(digits, monkeypatch):
    monkeypatch.setattr(quality, "MAX_SHARE", float("inf"))  # no waiting for the meter's time share
    budget = Budget("steps", 40)
    plain = Trainer(tiny(d_dropout=0.3), digits)
    plain.run(budget)
    measured = Trainer(tiny(d_dropout=0.3), digits, measure=True)
    measured.meter.every = 0.0  # a reading after every step
    measured.run(budget)
    steps = [r.step for r in measured.state().readings]
    assert steps == list(range(41))
    for a, b in zip(plain.G.state_dict().values(), measured.G.state_dict().values()):
        assert torch.equal(a, b)  # the meter drew nothing from the training's random numbers
    assert measured.G.training and measured.D.training


def test_a_run_that_fails_takes_no_end_reading_of_the_rolled_back_model(digits):
    trainer = Trainer(tiny(snapshot_every=5), digits, measure=True)

    def poison(m):
        if m["step"] == 12:
            with torch.no_grad():
                trainer.G.head.weight[0, 0] = float("nan")
    assert trainer.run(Budget("steps", 100), on_step=poison) == Status.DIVERGED
    # only the starting reading: an end reading would score the step-10 model as if it were step 13's
    assert [r.step for r in trainer.state().readings] == [0]


def test_meter_keeps_its_share_of_training_time_over_the_run_and_reads_often_early(digits, monkeypatch):
    trainer = Trainer(tiny(), digits, measure=True)
    meter = trainer.meter
    costs = iter([5.0, 0.1, 0.6, 0.1, 0.1, 0.1, 0.1])  # seconds each reading takes: the first builds references

    class Clock:  # perf_counter as the meter sees it: each read() takes the next cost
        now, started = 0.0, False

        def perf_counter(self):
            if self.started:
                self.now += next(costs)
            self.started = not self.started
            return self.now

    monkeypatch.setattr(quality, "time", Clock())
    seconds, at = 0.0, []
    while len(at) < 7:
        if meter.due(seconds):
            meter.read(trainer.generator, trainer.D, trainer.cfg, int(seconds * 100), seconds, True)
            at.append(seconds)
            # the budget: every reading but the first, together, within MAX_SHARE of the training time so far
            assert meter.spent <= quality.MAX_SHARE * max(seconds, meter._next) + 1e-9
        seconds = round(seconds + 0.5, 1)
    # every EVERY_SECONDS (4 s) at first, despite the first reading's 5 s; the slow 0.6 s one pushes the next out
    # to where the run's total stays within 4% (0.7 s of readings / 0.04 = 17.5 s); then every 4 s again (a
    # reading's own last cost would have kept them 15 s apart after the slow one, and 4 s only after a cheap one)
    assert at == [0.0, 4.0, 8.0, 17.5, 21.5, 25.5, 29.5]


def test_conditional_meter_asks_for_each_chosen_digit(digits):
    cfg = tiny(digits=[1, 7], conditional=True)
    meter = Meter(cfg, digits, samples=10)
    assert meter.labels.tolist() == [1, 7] * 5
    assert set(meter.real_labels.tolist()) <= {1, 7}
