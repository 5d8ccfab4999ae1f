"""What one server allows: concurrent jobs, run time, how long a job outlives its tab, torch threads.

Settings come from the environment (see `Limits.from_env`):
    GAN_EXPLORER_MAX_JOBS           concurrent training jobs (default: the number of usable cores)
    GAN_EXPLORER_MAX_RUN_SECONDS    wall-clock limit for one job, pauses included (default 1800)
    GAN_EXPLORER_SESSION_GRACE      seconds a job outlives its disconnected session (default 30)
    GAN_EXPLORER_TORCH_THREADS      torch threads (default: (cores - 1) // max jobs, at least 1)
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

import torch

GIL_SWITCH_SECONDS = 0.0005


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    max_jobs: int
    max_run_seconds: float = 1800.0
    session_grace: float = 30.0
    torch_threads: int = 1

    @classmethod
    def from_env(cls, environ=None, cores: int | None = None) -> Limits:
        env = os.environ if environ is None else environ
        cores = cores or usable_cores()
        max_jobs = env_number(env, "GAN_EXPLORER_MAX_JOBS", cores, int, 1)
        threads = default_threads(cores, max_jobs)
        return cls(max_jobs=max_jobs,
                   max_run_seconds=env_number(env, "GAN_EXPLORER_MAX_RUN_SECONDS", 1800.0, float, 1.0),
                   session_grace=env_number(env, "GAN_EXPLORER_SESSION_GRACE", 30.0, float, 0.0),
                   torch_threads=env_number(env, "GAN_EXPLORER_TORCH_THREADS", threads, int, 1))


def tune_process(limits: Limits) -> None:
    """Process-wide settings for training beside a web server: torch's pool size, which every job (and page)
    shares, and the GIL's switch interval.

    Why the switch interval: each torch op lets go of the GIL and must then win it back. While a page's script
    runs, a training thread used to wait a whole interval (5 ms by default) after every op of its step."""
    torch.set_num_threads(limits.torch_threads)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


def default_threads(cores: int, max_jobs: int) -> int:
    """Torch threads per job: the cores less one for the web server, shared out among the jobs, at least 1.

    These MLPs are small: one busy thread per job beats several that wait on each other."""
    return max(1, (cores - 1) // max_jobs)


def env_number(env, name: str, default, kind, minimum):
    """A number from the environment, or `default` when unset; a clear error naming the variable otherwise."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a {'whole ' if kind is int else ''}number") from None
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name}={text!r} must be at least {minimum}")
    return value


def duration(seconds: float) -> str:
    """"90 seconds", "30 minutes": a limit in words."""
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"
