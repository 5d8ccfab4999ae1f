"""`bench overhead`: what a watching Train page costs a training job. The default preset trains headless, then
while a thread does a watching page's work once a second: the job's view, the live charts to JSON (the
very figures the Train page draws, from explorer.app.live_charts), each new sample grid as PNG and, if
`runner.postScriptGC` is on, Streamlit's full garbage collection after the script run. As on the server, the
watched job is also written to the run store meanwhile, by the saver thread (explorer.app.saver: its record every
2 s, its weights every 30 s), in a fresh SQLite file unless `--store` names another database (`none`: no store)."""

from __future__ import annotations

import contextlib
import gc
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from .. import data, images, presets
from ..app import live_charts, threads
from ..app.jobs import JobSpec
from ..app.limits import Limits, tune_process
from ..app.saver import SAVE_SECONDS, WEIGHTS_SECONDS, Saver
from ..app.session import Session
from ..app.store import RunStore
from ..app.threads import ThreadBackend
from ..config import Budget
from .report import machine, write

APP_CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"
WARM_UP_SECONDS = 3.0  # past the first quality reading and the allocator's warm-up


def add_parser(bsub):
    ov = bsub.add_parser("overhead", help="training throughput while a page polls the job, against headless")
    ov.add_argument("--seconds", type=float, default=20.0)
    ov.add_argument("--post-script-gc", choices=["config", "on", "off"], default="config",
                    help="end each poll with Streamlit's full garbage collection: as .streamlit/config.toml says "
                         "(runner.postScriptGC), or force it on or off to compare")
    ov.add_argument("--store", default="sqlite",
                    help="the run store the saver writes the watched job to: `sqlite` (a fresh file in a temporary "
                         "folder), a database URL, or `none` (no saver, as before the run store)")
    ov.add_argument("--out", type=Path, default=Path("bench-overhead.json"))
    return ov


def run(args) -> int:
    """With the torch threads the app gives a job (GAN_EXPLORER_* settings, as on the server)."""
    limits = Limits.from_env()
    tune_process(limits)
    collect = post_script_gc(args.post_script_gc)
    backend = ThreadBackend(limits, watch_every=None, data=data.load())
    with contextlib.ExitStack() as stack:
        stack.callback(backend.close, wait=10)
        environ = None
        if args.store == "sqlite":  # the server's default: runs.sqlite in its data folder
            environ = {"GAN_EXPLORER_HOME": stack.enter_context(tempfile.TemporaryDirectory(prefix="gan-bench-"))}
        url = None if args.store in ("sqlite", "none") else args.store
        store = None if args.store == "none" else (url, environ)
        headless = job_rate(backend, args.seconds, poll=False).images_per_second
        polled, poll_ms, _ = job_rate(backend, args.seconds, poll=True, collect=collect, store=store)
        kind = store_kind(*store) if store else None
    report = {"machine": machine(), "headless_images_per_second": round(headless),
              "polled_images_per_second": round(polled), "overhead": round(1 - polled / headless, 4),
              "page_work_ms_per_poll": round(poll_ms, 1), "post_script_gc": collect,
              "store": kind}
    for key, value in report.items():
        print(f"{key:<28} {value}")
    write(args.out, report)
    return 0


def post_script_gc(choice: str) -> bool:
    """Whether the server ends each script run with gc.collect(2), as Streamlit's runner.postScriptGC does."""
    if choice != "config":
        return choice == "on"
    import tomllib  # the app's own config file, wherever bench runs from (Python 3.11+)

    settings = tomllib.loads(APP_CONFIG.read_text()) if APP_CONFIG.is_file() else {}
    return bool(settings.get("runner", {}).get("postScriptGC", True))  # Streamlit's default: on


class Rate(NamedTuple):
    images_per_second: float  # of training time, as the job counts it
    page_ms: float  # the page's work per poll (0 without polls)
    cpu_ms_per_image: float  # this process's CPU time (every thread: training, page, saver) per trained image


def store_kind(url: str | None, environ: dict | None) -> str:
    """The store's database, in one word (sqlite, postgresql): never its URL, which may hold a password."""
    store = RunStore.open(url, environ)
    try:
        return store.url.get_backend_name()
    finally:
        store.close()


@contextlib.contextmanager
def weights_copies(first: float, every: float):
    """While it lasts, a job copies its weights for the run store `first` seconds into its run, then every `every`
    (explorer.app.threads: 10 s, then 30 s). A benchmark's knob: `inf` for none at all."""
    was = threads.FIRST_WEIGHTS_SECONDS, threads.WEIGHTS_SECONDS
    threads.FIRST_WEIGHTS_SECONDS, threads.WEIGHTS_SECONDS = first, every
    try:
        yield
    finally:
        threads.FIRST_WEIGHTS_SECONDS, threads.WEIGHTS_SECONDS = was


def job_rate(backend: ThreadBackend, seconds: float, poll: bool, collect: bool = False,
             store: tuple[str | None, dict | None] | None = None,
             weights_every: float = WEIGHTS_SECONDS) -> Rate:
    """A job's training images per second over `seconds`, with or without a page's polls, and with or without a
    saver writing it to the run store `store` (url, environ: as RunStore.open takes them) from its Start on, every
    SAVE_SECONDS and its weights every `weights_every`; the page's milliseconds of work per poll; and the CPU time
    the process spent per trained image meanwhile (less swayed than the rate by other work on the machine)."""
    cfg = presets.get("default").config(digits=[3])
    job = backend.submit(JobSpec(cfg, Budget("seconds", seconds + WARM_UP_SECONDS + 5)))
    with contextlib.ExitStack() as stack:
        if store is not None:  # as the server does: one session holds the job, the saver finds it there
            session = Session(secrets.token_urlsafe(16))
            session.job = job
            saver = Saver(RunStore.open(*store), lambda: [session], every=SAVE_SECONDS, weights_every=weights_every)
            stack.callback(saver.close)  # after the job stopped: its end written, as at a server stop
        stack.callback(job.wait, 30)
        stack.callback(job.stop)
        return _measure(job, cfg, seconds, poll, collect)


def _measure(job, cfg, seconds: float, poll: bool, collect: bool) -> Rate:
    time.sleep(WARM_UP_SECONDS)
    before, wall, cpu = job.progress(), time.perf_counter(), time.process_time()
    work, shown = [], None
    while time.perf_counter() - wall < seconds:
        t0 = time.perf_counter()
        if poll:  # what the Train page's live fragment builds each second
            view = job.view()
            for fig in live_charts.figures(view, cfg).values():
                fig.to_json()
            if view.snapshots[-1].step != shown:  # the page encodes each snapshot once
                shown = view.snapshots[-1].step
                images.grid_png(view.snapshots[-1].images, nrow=8, scale=2)
            if collect:
                gc.collect(2)
            work.append(time.perf_counter() - t0)
        time.sleep(1.0)
    after, give_up = job.progress(), time.perf_counter() + 30
    while after.seconds <= before.seconds and time.perf_counter() < give_up:  # a short round: its next published
        time.sleep(0.2)  # progress (the trainer publishes now and then, not every step)
        after = job.progress()
    if after.seconds <= before.seconds:
        raise SystemExit(f"bench overhead: the job published no progress in {seconds:g} s ({job.view().reason})")
    cpu, trained = time.process_time() - cpu, after.images_seen - before.images_seen
    return Rate(trained / (after.seconds - before.seconds), 1000 * statistics.fmean(work) if work else 0.0,
                1000 * cpu / max(trained, 1))
