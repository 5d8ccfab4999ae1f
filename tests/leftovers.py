"""What a test module may not leave behind: child processes (an app server, a Ray node, a browser), threads it
started (a job's worker, a watchdog, a Ray poller) and jobs still registered with a backend.

conftest.py takes a `baseline()` when the test session starts and calls `check(baseline, module)` when each
module ends, after the module's own fixtures are torn down. What is left is cleaned up there (so the next module
starts on a quiet machine) and reported as that module's error.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
from dataclasses import dataclass

SETTLE_SECONDS = 15.0  # what ends by itself (a thread finishing its step, a process exiting) is given this long


@dataclass(frozen=True)
class Baseline:
    threads: frozenset[int]  # idents of the threads alive when the session started
    processes: frozenset[int]  # child processes alive then (none, normally)


def baseline() -> Baseline:
    return Baseline(frozenset(t.ident for t in threading.enumerate()), frozenset(descendants()))


def descendants(root: int | None = None) -> dict[int, str]:
    """The live (not zombie) processes below `root` (default: this one), pid -> command name."""
    root = os.getpid() if root is None else root
    parents, names = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name_end = stat.rindex(")")
        fields = stat[name_end + 2:].split()
        if fields[0] == "Z":  # exited, waiting to be reaped: holds nothing
            continue
        pid = int(entry)
        parents[pid], names[pid] = int(fields[1]), stat[stat.index("(") + 1:name_end]
    below, frontier = {}, {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in below}
        below.update({pid: names[pid] for pid in frontier})
    return below


def open_services() -> list:
    """Backends this process still has (explorer.app.backend.Backend) with a job not yet done or a watchdog running,
    and run store writers (explorer.app.saver.Saver) whose thread runs."""
    from explorer.app.backend import Backend
    from explorer.app.saver import Saver

    found = []
    for obj in gc.get_objects():
        kind = type(obj)  # not isinstance: that asks lazy modules for __class__, which warns
        if issubclass(kind, Backend):
            watchdog = getattr(obj, "_watchdog", None)  # none where its __init__ failed (a cluster not joined)
            watching = watchdog is not None and watchdog.is_alive()
            if watching or any(not job.done for job in [*getattr(obj, "running", []), *getattr(obj, "queue", [])]):
                found.append(obj)
        elif issubclass(kind, Saver) and obj._thread is not None and obj._thread.is_alive():
            found.append(obj)
    return found


def check(base: Baseline, module: str) -> None:
    """Fail (AssertionError) when `module` left anything running; close, stop and kill what it left first."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        services = open_services()
        threads = [t for t in threading.enumerate() if t.ident not in base.threads and t.is_alive()]
        processes = {pid: name for pid, name in descendants().items() if pid not in base.processes}
        if not (services or threads or processes) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not (services or threads or processes):
        return
    backends = [s for s in services if hasattr(s, "running")]
    jobs = [job for backend in backends for job in [*backend.running, *backend.queue] if not job.done]
    left = [f"a {type(s).__name__} still open" for s in services]
    left += [f"job {job.name!r} ({job.view().status_text})" for job in jobs]
    left += [f"thread {t.name!r}" for t in threads]
    left += [f"process {pid} ({name})" for pid, name in sorted(processes.items())]
    for backend in backends:
        with contextlib.suppress(Exception):
            backend.close(wait=10)
    for saver in (s for s in services if s not in backends):
        with contextlib.suppress(Exception):
            saver.close(flush=False)
    for pid in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"{module} left these running after its tests and fixtures ended (stopped now): "
                         + "; ".join(left))
