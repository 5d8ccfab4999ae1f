"""A tiny config for tests where quality is not the point, and a wait for what another thread does."""

import time

from explorer.config import GANConfig


def tiny(**changes) -> GANConfig:
    base = dict(digits=[3], latent_dim=8, g_layers=[32], d_layers=[32], batch_size=16, snapshot_every=5)
    return GANConfig.from_dict({**base, **changes})


def wait_until(cond, timeout: float = 20.0) -> None:
    """Until `cond()` holds (a worker thread's doing), failing the test after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)
