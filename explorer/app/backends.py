"""Which backend runs a server's jobs: worker threads of this process (the default, nothing to install or start),
or actors on a Ray cluster when GAN_EXPLORER_RAY_ADDRESS names one (`auto`, `host:port` or `ray://host:10001`).
Ray is imported only then (requirements-ray.txt)."""

from __future__ import annotations

import os
from collections.abc import Callable

from .backend import Backend
from .limits import Limits


def from_env(is_alive: Callable[[str], bool] | None = None, environ=None) -> Backend:
    env = os.environ if environ is None else environ
    limits = Limits.from_env(env)
    address = env.get("GAN_EXPLORER_RAY_ADDRESS", "").strip()
    if address:
        from .ray_backend import RayBackend

        return RayBackend(limits, address, is_alive=is_alive, environ=env)
    from .threads import ThreadBackend

    return ThreadBackend(limits, is_alive=is_alive)  # sets torch's thread count for the process
