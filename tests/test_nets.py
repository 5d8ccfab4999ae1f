"""The networks (explorer/nets.py): shapes, conditional inputs, seeded builds, seeded dropout, init schemes."""

import pytest
import torch

from explorer import nets
from explorer.config import ConfigError
from tiny import tiny


def test_g_and_d_take_and_give_the_documented_shapes():
    cfg = tiny(latent_dim=8, g_layers=[32, 16], d_layers=[24])
    G, D = nets.build(cfg)
    z = nets.sample_latent(5, cfg, torch.Generator().manual_seed(0))
    x = G(z)
    assert z.shape == (5, 8) and x.shape == (5, 784) and D(x).shape == (5,)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    sizes = [m.out_features for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [32, 16, 784]


def test_a_conditional_net_takes_the_digit_and_soft_labels_blend():
    cfg = tiny(conditional=True, digits=[1, 7])
    G, D = nets.build(cfg)
    z = torch.zeros(2, cfg.latent_dim)
    one, seven = G(z, torch.tensor([1, 1])), G(z, torch.tensor([7, 7]))
    assert not torch.equal(one, seven)
    half = torch.zeros(2, 10)
    half[:, [1, 7]] = 0.5
    assert G(z, half).shape == (2, 784) and D(one, torch.tensor([1, 1])).shape == (2,)


def test_the_same_seed_builds_the_same_networks_without_touching_the_global_generator():
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    a, b = nets.build(tiny(seed=3))[0], nets.build(tiny(seed=3))[0]
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = nets.build(tiny(seed=4))[0]
    assert not torch.equal(a.head.weight, c.head.weight)


def test_seeded_dropout_draws_its_masks_from_its_own_generator():
    def masked(seed: int) -> torch.Tensor:
        layer = nets.SeededDropout(0.5).train()
        layer.generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(99 + seed)  # whatever the global generator does
        return layer(torch.ones(1000))
    assert torch.equal(masked(1), masked(1)) and not torch.equal(masked(1), masked(2))
    assert set(masked(1).unique().tolist()) == {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    assert torch.equal(nets.SeededDropout(0.5).eval()(torch.ones(4)), torch.ones(4))


@pytest.mark.parametrize("scheme", ["xavier", "he"])
def test_init_schemes_set_the_weight_spread_and_zero_biases(scheme):
    cfg = tiny(init=scheme, g_layers=[512])
    G, _ = nets.build(cfg)
    first = G.body[0]
    fan_in, fan_out = first.in_features, first.out_features
    expected = (2 / (fan_in + fan_out)) ** 0.5 if scheme == "xavier" else (2 / fan_in) ** 0.5
    assert first.weight.std().item() == pytest.approx(expected, rel=0.1)
    assert torch.count_nonzero(first.bias) == 0


def test_frozen_switches_weight_gradients_back_on_even_after_an_error():
    _, D = nets.build(tiny())
    with pytest.raises(RuntimeError), nets.frozen(D):
        assert not any(p.requires_grad for p in D.parameters())
        raise RuntimeError("a failing step")
    assert all(p.requires_grad for p in D.parameters())


def test_asking_for_cuda_without_a_gpu_names_the_setting(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert nets.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="device"):
        nets.resolve_device("cuda")
