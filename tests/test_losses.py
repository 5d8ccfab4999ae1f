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
