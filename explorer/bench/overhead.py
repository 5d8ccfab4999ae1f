"""`bench overhead`: what a watching Train page costs a training job. The default preset trains headless, then
while a thread does a watching page's work once a second: the job's view, the live charts to JSON (the
very figures the Train page draws, from explorer.app.live_charts), each new sample grid as PNG and, if
`runner.postScriptGC` is on, Streamlit's full garbage collection after the script run."""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path

from .. import data, images, presets
from ..app import live_charts
from ..app.jobs import JobSpec
from ..app.limits import Limits, tune_process
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
    ov.add_argument("--out", type=Path, default=Path("bench-overhead.json"))
    return ov


def run(args) -> int:
    """With the torch threads the app gives a job (GAN_EXPLORER_* settings, as on the server)."""
    limits = Limits.from_env()
    tune_process(limits)
    collect = post_script_gc(args.post_script_gc)
    backend = ThreadBackend(limits, watch_every=None, data=data.load())
    try:
        headless, _ = job_rate(backend, args.seconds, poll=False)
        polled, poll_ms = job_rate(backend, args.seconds, poll=True, collect=collect)
    finally:
        backend.close(wait=10)
    report = {"machine": machine(), "headless_images_per_second": round(headless),
              "polled_images_per_second": round(polled), "overhead": round(1 - polled / headless, 4),
              "page_work_ms_per_poll": round(poll_ms, 1), "post_script_gc": collect}
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


def job_rate(backend: ThreadBackend, seconds: float, poll: bool, collect: bool = False) -> tuple[float, float]:
    """A job's training images per second over `seconds`, with or without a page's polls; and the page's
    milliseconds of work per poll."""
    cfg = presets.get("default").config(digits=[3])
    job = backend.submit(JobSpec(cfg, Budget("seconds", seconds + WARM_UP_SECONDS + 5)))
    time.sleep(WARM_UP_SECONDS)
    before, wall = job.progress(), time.perf_counter()
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
    after = job.progress()
    job.stop()
    job.wait(30)
    rate = (after.images_seen - before.images_seen) / (after.seconds - before.seconds)
    return rate, 1000 * statistics.fmean(work) if work else 0.0
