"""What one server allows: concurrent jobs, run time, how long a job outlives its tab, torch threads.

Settings come from the environment (see `Limits.from_env`):
    GAN_EXPLORER_MAX_JOBS           concurrent training jobs (default: the number of usable cores)
    GAN_EXPLORER_MAX_RUN_SECONDS    wall-clock limit for one job, pauses included (default 1800)
    GAN_EXPLORER_SESSION_GRACE      seconds a job outlives its disconnected session (default 30)
    GAN_EXPLORER_TORCH_THREADS      torch threads (default: (cores - 1) // max jobs, at least 1)
    GAN_EXPLORER_MAX_MEMORY         the memory the server may hold in all, e.g. 8G or 6000M (default: half of the
                                    memory available when it starts); jobs are admitted while their estimates fit
    GAN_EXPLORER_MAX_QUEUE          jobs that may wait for a slot (default: a whole class, MAX_STUDENTS, or 4 per
                                    training slot where that is more)
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
from dataclasses import dataclass

import torch

from ..memory import parse_bytes

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
    max_memory: int | None = None  # bytes the server may hold in all; None: no memory admission
    max_queue: int | None = None  # jobs that may wait; None: a class, or QUEUE_PER_SLOT per slot where more

    @classmethod
    def from_env(cls, environ=None, cores: int | None = None, available: int | None = None) -> Limits:
        """`available`: the machine's available memory in bytes (default: MemAvailable now)."""
        env = os.environ if environ is None else environ
        cores = cores or usable_cores()
        max_jobs = env_number(env, "GAN_EXPLORER_MAX_JOBS", cores, int, 1)
        threads = default_threads(cores, max_jobs)
        memory = env.get("GAN_EXPLORER_MAX_MEMORY", "").strip()
        try:
            max_memory = parse_bytes(memory) if memory else default_memory(available)
        except ValueError:
            raise ValueError(f"GAN_EXPLORER_MAX_MEMORY={memory!r} is not a size (e.g. 8G, 6000M)") from None
        queue = env_number(env, "GAN_EXPLORER_MAX_QUEUE", None, int, 0)
        return cls(max_jobs=max_jobs,
                   max_run_seconds=env_number(env, "GAN_EXPLORER_MAX_RUN_SECONDS", 1800.0, float, 1.0),
                   session_grace=env_number(env, "GAN_EXPLORER_SESSION_GRACE", 30.0, float, 0.0),
                   torch_threads=env_number(env, "GAN_EXPLORER_TORCH_THREADS", threads, int, 1),
                   max_memory=max_memory, max_queue=queue)

    def queue_cap(self, slots: int) -> int:
        """How many jobs may wait, for a backend with `slots` training slots.

        Why a whole class by default: a waiting job holds only its spec (its trainer is built once admitted), so a
        long line costs the server next to nothing, while a refusal sends a student away; the memory admission,
        not the queue's length, is what keeps the server up."""
        if self.max_queue is not None:
            return self.max_queue
        return max(MAX_STUDENTS, QUEUE_PER_SLOT * max(1, slots))


MAX_STUDENTS = 200  # per class (explorer.app.classes)
QUEUE_PER_SLOT = 4  # where a server has more than MAX_STUDENTS / 4 slots (a Ray cluster), 4 may wait per slot
MEMORY_SHARE = 0.5  # of the memory available at start: the rest stays for the system and other programs


def available_memory() -> int:
    """The machine's available memory in bytes (MemAvailable; the total where /proc is missing)."""
    try:
        text = open("/proc/meminfo").read()  # noqa: SIM115 - a one-shot read
        return int(text.split("MemAvailable:")[1].split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_memory(available: int | None = None) -> int:
    return int(MEMORY_SHARE * (available if available is not None else available_memory()))


def resident_bytes() -> int:
    """This process's resident memory now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def tune_process(limits: Limits) -> None:
    """Process-wide settings for training beside a web server: torch's pool size, which every job (and page)
    shares, and the GIL's switch interval.

    Why the switch interval: each torch op lets go of the GIL and must then win it back. While a page's script
    runs, a training thread used to wait a whole interval (5 ms by default) after every op of its step."""
    torch.set_num_threads(limits.torch_threads)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    tune_malloc()


M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameters
MMAP_THRESHOLD = 4 * 2**20  # blocks this big or bigger are mapped on their own, and unmapped when freed


def tune_malloc() -> None:
    """Let every thread of this process allocate from one malloc arena, and give big blocks back when freed.

    Why one arena: glibc gives each thread that allocates an arena of its own and keeps in it what freed tensors
    leave, so a run trained in a worker thread held about 200 MB more at its peak than the same run on the main
    thread (580 against 370 MB for a 1536x2 setup at batch 512).

    Why a fixed mmap threshold: glibc raises its threshold to the size of each mapped block that is freed (up to
    32 MB), after which big tensors come from the shared heap, where jobs that train side by side leave holes
    that the heap keeps. Three 1536x2 jobs at batch 512 grew the process by 1,170-1,230 MB against 1,106 MB
    estimated, and a CI run went over its budget; with the threshold fixed at 4 MB they grew by about 980 MB, and
    the process gave 470 MB more back once they ended. Below 4 MB (the default preset's tensors) nothing changes;
    at 1 MB every step mapped its gradients afresh and trained 13% slower. At 4 MB the 1536x2 setup trains about
    5% slower, the default preset as fast. With both, a job's peak stays near what explorer.memory estimates,
    which the memory admission counts on. No effect where the C library is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, 1)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


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
