import copy
import math

import pytest
import torch

from explorer import data, losses
from explorer.config import Budget
from explorer.progress import Status
from explorer.trainer import Trainer
from tiny import tiny

# Each variant with its usual optimizer settings.
USUAL = {
    "minimax": {}, "nonsaturating": {}, "lsgan": {}, "hinge": {},
    "wgan": dict(g_optimizer="rmsprop", d_optimizer="rmsprop", g_lr=5e-5, d_lr=5e-5, clip=0.01, d_steps=5),
    "wgan-gp": dict(g_lr=1e-4, d_lr=1e-4, beta1=0.0, beta2=0.9, d_steps=5),
}


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_every_variant_trains_on_real_digits_with_finite_losses(name):
    trainer = Trainer(tiny(loss=name, **USUAL[name]), data.load())
    seen = []
    trainer.run(Budget("steps", 40), on_step=seen.append)
    assert trainer.status == Status.FINISHED
    assert len(seen) == 40
    assert all(math.isfinite(m[k]) for m in seen for k in ("d_loss", "g_loss", "g_grad", "d_grad"))
    assert seen[-1]["g_grad"] > 0


def test_r1_penalty_is_half_the_squared_input_gradient_of_d():
    class Linear(torch.nn.Module):  # D(x) = w . x: its gradient with respect to x is w for every image
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))

        def forward(self, x, labels=None):
            return x @ self.w
    assert losses.r1_penalty(Linear(), torch.randn(5, 2), None).item() == pytest.approx(0.5 * 25)


def test_the_r1_weight_changes_ds_training():
    def d_after(r1_weight: float) -> torch.Tensor:
        trainer = Trainer(tiny(r1_weight=r1_weight), data.load())
        assert trainer.run(Budget("steps", 5)) == Status.FINISHED
        return trainer.D.head.weight.detach().clone()
    plain, penalised = d_after(0.0), d_after(10.0)
    assert torch.equal(plain, d_after(0.0))  # same seed, same run
    assert not torch.allclose(plain, penalised)  # the penalty moved D's weights


def test_bce_form_is_stable_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for name in ("minimax", "nonsaturating"):
        loss = losses.get(name)
        assert math.isfinite(loss.d_loss(big, -big, 1.0).item())
        assert math.isfinite(loss.g_loss(-big).item())


def test_smoothing_and_saturation_behave_as_published():
    loss = losses.get("nonsaturating")
    real, fake = torch.tensor([20.0]), torch.tensor([-20.0])
    assert loss.d_loss(real, fake, 1.0).item() < 1e-6  # a perfect D has ~zero loss
    assert loss.d_loss(real, fake, 0.9).item() > 1.0  # ...unless real targets are 0.9
    # The saturating G loss has (almost) no gradient when D confidently rejects fakes.
    f1 = torch.tensor([-10.0], requires_grad=True)
    losses.get("minimax").g_loss(f1).backward()
    f2 = torch.tensor([-10.0], requires_grad=True)
    loss.g_loss(f2).backward()
    assert abs(f1.grad.item()) < 1e-3 < abs(f2.grad.item())


def test_wgan_clips_critic_weights():
    trainer = Trainer(tiny(**USUAL["wgan"], loss="wgan"), data.load())
    trainer.run(Budget("steps", 3))
    assert max(p.abs().max().item() for p in trainer.D.parameters()) <= 0.01 + 1e-7


def test_gradient_penalty_is_zero_for_a_unit_slope_critic():
    class Unit(torch.nn.Module):
        def forward(self, x, labels=None):
            return x[:, 0]
    real, fake = torch.randn(8, 4), torch.randn(8, 4)
    assert losses.gradient_penalty(Unit(), real, fake, None).item() == pytest.approx(0.0, abs=1e-6)


def test_the_coverage_gap_is_zero_for_an_even_batch_and_log_k_for_one_digit():
    even = torch.full((6, 10), -50.0)
    for i, d in enumerate([1, 4, 7, 1, 4, 7]):
        even[i, d] = 50.0
    assert losses.coverage_gap(even, [1, 4, 7]).item() == pytest.approx(0.0, abs=1e-6)
    one = torch.full((6, 10), -50.0)
    one[:, 4] = 50.0
    one[:, 0] = 80.0  # a digit not chosen counts for nothing, however sure the head is of it
    assert losses.coverage_gap(one, [1, 4, 7]).item() == pytest.approx(math.log(3), abs=1e-6)


def test_coverage_adds_its_weighted_gap_to_gs_loss(digits):
    cfg = tiny(digits=[0, 1, 7], coverage=2.0)
    trainer = Trainer(cfg, digits)
    before = copy.deepcopy(trainer.G)
    z = torch.randn(16, cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    trainer._update_g(trainer.G(z, None), None)
    got = [p.grad for p in trainer.G.parameters()]
    fake = before(z, None)
    adversarial = trainer.loss.g_loss(trainer.D(fake, None))
    gap = losses.coverage_gap(trainer.D.digit_logits(fake), cfg.digits)
    want = torch.autograd.grad(adversarial + 2.0 * gap, list(before.parameters()), retain_graph=True)
    alone = torch.autograd.grad(adversarial, list(before.parameters()))
    assert all(torch.allclose(g, w, atol=1e-6) for g, w in zip(got, want))
    assert not all(torch.allclose(g, a, atol=1e-6) for g, a in zip(got, alone))  # the gap's part is not nothing


def test_with_coverage_d_learns_the_digits_of_real_images(digits):
    trainer = Trainer(tiny(digits=[0, 1], coverage=1.0), digits)
    trainer.run(Budget("steps", 150))
    real, labels = trainer.batches.next()
    with torch.no_grad():
        read = trainer.D.eval().digit_logits(real).argmax(1)
    assert (read == labels).float().mean() >= 0.9
