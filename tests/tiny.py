"""A tiny config for tests where quality is not the point."""

from explorer.config import GANConfig


def tiny(**changes) -> GANConfig:
    base = dict(digits=[3], latent_dim=8, g_layers=[32], d_layers=[32], batch_size=16, snapshot_every=5)
    return GANConfig.from_dict({**base, **changes})
