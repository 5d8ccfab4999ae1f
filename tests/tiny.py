"""A tiny config for tests where quality is not the point, a wait for what another thread does, and a poll of a
job whose steps are long."""

import time

from explorer.config import GANConfig


def tiny(**changes) -> GANConfig:
    base = dict(digits=[3], latent_dim=8, g_layers=[32], d_layers=[32], batch_size=16, snapshot_every=5)
    return GANConfig.from_dict({**base, **changes})


def wait_until(cond, timeout: float = 20.0, what: str = "", every: float = 0.01) -> None:
    """Until `cond()` holds (a worker thread's doing), failing the test after `timeout` seconds. It sleeps `every`
    seconds between looks: a loop that never sleeps takes the CPU from the very thread it waits for."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out after {timeout:g}s" + (f" waiting for {what}" if what else "")
        time.sleep(every)


def long_steps() -> GANConfig:
    """Steps of a few tenths of a second on 2 cores: a poll that waited for one would take that long."""
    return tiny(g_layers=[1024, 1024], d_layers=[1024, 1024], batch_size=500, d_steps=4)


def longest_poll(job, steps: int, timeout: float = 180.0) -> float:
    """Poll `job` as a page does (its view) until it is done, `steps` long steps; the longest wait, in seconds.
    Fails after `timeout` seconds (a job that never got a slot, say)."""
    waits = []
    end = time.monotonic() + timeout
    while not job.done:
        assert time.monotonic() < end, f"timed out after {timeout:g}s polling {job.name} ({job.view().status_text})"
        t0 = time.perf_counter()
        assert len(job.view().history["step"]) >= 0  # what the page reads
        waits.append(time.perf_counter() - t0)
        time.sleep(0.01)
    assert job.view().seconds / steps > 0.1, "the steps were too short to show anything"
    return max(waits)
