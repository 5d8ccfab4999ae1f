"""Every setting a server reads from its environment, checked together when it starts.

Why at the start: a setting is read where it is used, and some are used late (GAN_EXPLORER_MAX_MEMORY only when
a student presses Start). A server with a bad one says so on its first page, naming the setting and what it
accepts, and trains nothing (explorer.ui.server), rather than failing in front of a student later.

Each value is checked by the very code that reads it (explorer.app.limits, explorer.app.store.settings, ...), so
the check and the use cannot disagree. A GAN_EXPLORER_* name that no code reads is a typo, and named as one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from .limits import Limits, env_number
from .store import StoreError, StoreSettings

PREFIX = "GAN_EXPLORER_"


def _limits(env: Mapping[str, str]) -> None:
    Limits.from_env(env, cores=1, available=1 << 30)  # one value at a time: the machine's own defaults are not read


def _store(env: Mapping[str, str]) -> None:
    StoreSettings.from_env(env)


def _number(minimum: float, kind: type = float) -> Callable[[Mapping[str, str]], None]:
    def check(env: Mapping[str, str]) -> None:
        (name, _), = env.items()
        env_number(env, name, None, kind, minimum)
    return check


def _folder(env: Mapping[str, str]) -> None:
    (name, text), = env.items()
    if not Path(text).expanduser().is_dir():
        raise ValueError(f"{name}={text!r} is not a folder on this server; it takes a folder that holds "
                         f"torchvision's MNIST files (MNIST/raw/*-ubyte)")


def _not_a_file(env: Mapping[str, str]) -> None:
    (name, text), = env.items()
    if Path(text).expanduser().is_file():
        raise ValueError(f"{name}={text!r} is a file; it takes a folder (made when missing)")


def _ray_address(env: Mapping[str, str]) -> None:
    (name, text), = env.items()
    if any(c.isspace() for c in text.strip()):
        raise ValueError(f"{name}={text!r} is not a Ray address; it takes auto, HOST:PORT or ray://HOST:10001")


def _anything(env: Mapping[str, str]) -> None:
    return None


# Every setting, with the code that reads it as its check (given an environment holding that setting alone).
SETTINGS: dict[str, Callable[[Mapping[str, str]], None]] = {
    "GAN_EXPLORER_MAX_JOBS": _limits,
    "GAN_EXPLORER_MAX_RUN_SECONDS": _limits,
    "GAN_EXPLORER_SESSION_GRACE": _limits,
    "GAN_EXPLORER_TORCH_THREADS": _limits,
    "GAN_EXPLORER_MAX_MEMORY": _limits,
    "GAN_EXPLORER_MAX_QUEUE": _limits,
    "GAN_EXPLORER_SESSION_KEEP": _number(0.0),
    "GAN_EXPLORER_MAX_CLASSES": _number(1, int),  # explorer.app.classes.Classes.from_env
    "GAN_EXPLORER_SWEEP_SLOTS": _number(1, int),  # explorer.app.sweep_runs.slots_from_env
    "GAN_EXPLORER_DATABASE_URL": _store,
    "GAN_EXPLORER_HOME": _store,
    "GAN_EXPLORER_KEEP_DAYS": _store,
    "GAN_EXPLORER_MAX_STORE": _store,
    "GAN_EXPLORER_DATA": _folder,
    "GAN_EXPLORER_CACHE": _not_a_file,
    "GAN_EXPLORER_RAY_ADDRESS": _ray_address,
    "GAN_EXPLORER_RAY_CPUS_PER_JOB": _number(0.01),
    "GAN_EXPLORER_RAY_GPUS_PER_JOB": _number(0.0),
    "GAN_EXPLORER_RAY_NAMESPACE": _anything,
    "GAN_EXPLORER_CHROMIUM": _anything,  # the benchmarks' browser
}


def problems(environ: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with this server's GAN_EXPLORER_* settings, one plain sentence each; [] when nothing is.

    The database URL's text is never repeated (it may hold a password): its checks name the variable only."""
    env = os.environ if environ is None else environ
    found = []
    for name in sorted(n for n in env if n.startswith(PREFIX)):
        text = env[name]
        if not text.strip():
            continue  # an empty setting is an unset one, as everywhere they are read
        check = SETTINGS.get(name)
        if check is None:
            found.append(f"{name} is not a setting of GAN Explorer (a typo?); the settings are "
                         f"{', '.join(sorted(SETTINGS))}")
            continue
        try:
            check({name: text})
        except (ValueError, StoreError) as e:
            found.append(str(e))
    return found
