"""`bench store`: what the run store (explorer.app.store) costs, on SQLite or PostgreSQL.

- save and load: one run of the default preset, trained here, written as the saver writes a finished job (create_run,
  save_progress, save_weights "final") and read back whole (load_run, its weights checked as an upload is);
- a restart: the store filled with `--sessions` × `--runs` runs (that one run under each name, written through the
  saver, each session under a real token), then the app server started on it (`streamlit run streamlit_app.py`, as
  `./dev app` does) and timed from its process start until headless Chromium, opened at one stored session's `?s=`
  link, shows that session's current run by name in the sidebar: the first page after a restart;
- the training overhead: a job of the default preset trained with the saver writing it (its record every 2 s, and,
  to be conservative, its weights every `--weights-every` s where the server copies and writes them every 30 s)
  against the same job with no saver and no weight copies at all. Rounds alternate (AB, BA, ...) and the overhead
  is the median of the pairs' ratios: on a busy machine the rates drift, and `noise_percent` (the spread of the
  bare job's rates) says how far to trust it.

`--database-url postgres` starts a throwaway PostgreSQL server (Debian's binaries, as the tests do), removed after.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .. import checkpoints, data, metrics, presets
from ..app.jobs import JobSpec
from ..app.limits import Limits, tune_process
from ..app.runs import Run
from ..app.saver import Saver
from ..app.session import Session
from ..app.store import RunStore
from ..app.store.settings import data_home
from ..app.threads import ThreadBackend
from ..config import Budget
from ..progress import Status
from . import overhead
from .report import machine, write

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("GAN_EXPLORER_CHROMIUM", "/usr/bin/chromium")
PAGE_TIMEOUT_S = 120.0  # a server that has not shown the page by then has failed the target many times over


def add_parser(bsub):
    sp = bsub.add_parser("store", help="run store: save and load a run, first page after a restart, training overhead")
    sp.add_argument("--database-url", default=None,
                    help="the store's database (default: a fresh SQLite file in a temporary data folder; `postgres`: "
                         "a throwaway local PostgreSQL server). Filled with the benchmark's runs")
    sp.add_argument("--sessions", type=int, default=30)
    sp.add_argument("--runs", type=int, default=6, help="runs per session")
    sp.add_argument("--train-steps", type=int, default=300, help="steps of the one run trained and stored")
    sp.add_argument("--repeats", type=int, default=5, help="saves and loads timed")
    sp.add_argument("--restarts", type=int, default=3, help="server starts timed, each on other sessions")
    sp.add_argument("--seconds", type=float, default=20.0, help="training seconds per overhead round")
    sp.add_argument("--rounds", type=int, default=4, help="overhead rounds, each one job with the saver, one without")
    sp.add_argument("--weights-every", type=float, default=5.0,
                    help="seconds between weight copies and writes while the overhead is measured (server: 30)")
    sp.add_argument("--out", type=Path, default=Path("bench-store.json"))
    return sp


def run(args) -> int:
    limits = Limits.from_env()
    tune_process(limits)
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gan-bench-store-")))
        url = args.database_url
        if url == "postgres":
            url = stack.enter_context(local_postgres())
        env = {k: v for k, v in os.environ.items() if k != "GAN_EXPLORER_DATABASE_URL"}
        env.update({"GAN_EXPLORER_HOME": str(home / "home"), **({"GAN_EXPLORER_DATABASE_URL": url} if url else {})})
        store = RunStore.open(None, env)
        stack.callback(store.close)
        # The real digits' features go where the server keeps them (explorer.ui.state.registry), as a server that
        # ran on this data folder before its restart left them.
        metrics.keep_real_features_in(data_home(env) / "cache")
        stack.callback(metrics.keep_real_features_in, None)
        backend = ThreadBackend(limits, watch_every=None, data=data.load())
        stack.callback(backend.close, wait=10)
        trained, progress = train_one(backend, args.train_steps)
        save, load = save_and_load(store, trained, progress, args.repeats)
        t0 = time.perf_counter()
        targets = fill(store, trained, args.sessions, args.runs)
        filled = time.perf_counter() - t0
        pages = first_pages(env, targets, args.restarts, home / "server.log")
        plain, saved = training_overhead(backend, (None, env), args.seconds, args.rounds, args.weights_every)
        ratios = [s.images_per_second / p.images_per_second for p, s in zip(plain, saved)]
        cpu = [s.cpu_ms_per_image / p.cpu_ms_per_image for p, s in zip(plain, saved)]
        rates = [p.images_per_second for p in plain]
        report = {
            "machine": machine(), "database": store.url.get_backend_name(), "sessions": args.sessions,
            "runs_per_session": args.runs, "stored_runs": sum(len(store.runs_of(t)) for t, _ in targets),
            "store_megabytes": round(store.size() / 2**20, 1), "fill_seconds": round(filled, 2),
            "weights_bytes": len(trained_bytes(trained)),
            "save_seconds_median": round(statistics.median(save), 4),
            "load_seconds_median": round(statistics.median(load), 4),
            "restart_first_page_seconds": round(statistics.median(p["page"] for p in pages), 2),
            "restart_healthy_seconds": round(statistics.median(p["healthy"] for p in pages), 2),
            "restart_first_page_seconds_each": [round(p["page"], 2) for p in pages],
            "warm_server_page_seconds": round(statistics.median(p["warm"] for p in pages), 2),
            "training_overhead_percent": round(100 * (1 - statistics.median(ratios)), 2),
            "training_overhead_percent_each": [round(100 * (1 - r), 2) for r in ratios],
            "noise_percent": round(100 * (max(rates) - min(rates)) / statistics.median(rates), 2),
            "training_cpu_overhead_percent": round(100 * (statistics.median(cpu) - 1), 2),
            "images_per_second_without_saver": round(statistics.median(rates)),
            "images_per_second_with_saver": round(statistics.median(s.images_per_second for s in saved)),
            "overhead_weights_every_seconds": args.weights_every,
        }
    for key, value in report.items():
        if key != "machine":
            print(f"{key:<34} {value}")
    write(args.out, report)
    return 0


def train_one(backend: ThreadBackend, steps: int):
    """A run of the default preset as the server keeps it once its job finished, and the job's last record."""
    job = backend.submit(JobSpec(presets.get("default").config(digits=[3]), Budget("steps", steps), name="Run 1"))
    job.wait(600)
    made = Run.from_job(job)
    if made is None:
        raise SystemExit(f"bench store: the run trained no step ({job.view().reason})")
    return made, job.progress()


def trained_bytes(run: Run) -> bytes:
    return checkpoints.to_bytes(run.cfg, run.G, run.D, run.meta)


def save_and_load(store: RunStore, run: Run, progress, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds to write the run with its weights, as the saver writes a finished job; and to read it back whole."""
    token = secrets.token_urlsafe(16)
    save, load = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_id = store.create_run(token, run, status=Status.RUNNING)
        store.save_progress(run_id, progress)
        store.save_weights(run_id, "final", run.cfg, run.G, run.D, run.meta, step=progress.step)
        save.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        back = store.load_run(run_id, token)
        load.append(time.perf_counter() - t0)
        assert back.cfg == run.cfg and back.steps == run.steps, "the run read back is not the one saved"
    return save, load


def fill(store: RunStore, run: Run, sessions: int, runs: int) -> list[tuple[str, str]]:
    """`sessions` sessions of `runs` finished runs each (the one run under each name), written by the saver as the
    server writes them; returns each session's token and its current run's name."""
    made = []
    for i in range(sessions):
        session = Session(secrets.token_urlsafe(16))
        for j in range(runs):
            name = f"Run {j + 1} of session {i + 1}"
            session.runs.append(Run(name, run.cfg, run.G, run.D, {**run.meta, "name": name}, run.history,
                                list(run.snapshots), readings=list(run.readings)))
        session.run_counter = runs
        session.current = session.runs[-1]
        made.append(session)
    saver = Saver(store, lambda: made, every=None)
    if not saver.save_now():
        raise SystemExit(f"bench store: filling the store failed: {saver.problem}")
    return [(s.token, s.runs[-1].name) for s in made]


def first_pages(env: dict, targets: list[tuple[str, str]], restarts: int, log: Path) -> list[dict]:
    """`restarts` times: a fresh app server on the store, timed from its process start to its health check
    answering, and to Chromium showing one stored session's current run by name at its `?s=` link (the first
    page); then, on the same warm server, another session's page (what the restart itself adds is the difference)."""
    from playwright.sync_api import sync_playwright  # the benchmark's browser, as the browser tests drive it

    found = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, timeout=60_000,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            for i in range(restarts):
                first = targets[(2 * i) % len(targets)]
                found.append(first_page(browser, env, first, targets[(2 * i + 1) % len(targets)], log))
        finally:
            browser.close()
    return found


def first_page(browser, env: dict, first: tuple[str, str], then: tuple[str, str], log: Path) -> dict:
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    server_env = {**env, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "PYTHONUNBUFFERED": "1"}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    with open(log, "a") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env=server_env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_healthy(proc, port, t0 + PAGE_TIMEOUT_S, log)
            healthy = time.perf_counter() - t0
            shown = show(context, port, *first, t0 + PAGE_TIMEOUT_S) - t0
            t1 = time.perf_counter()
            warm = show(context, port, *then, t1 + PAGE_TIMEOUT_S) - t1
        finally:
            context.close()
            stop(proc)
    return {"healthy": healthy, "page": shown, "warm": warm}


def show(context, port: int, token: str, name: str, deadline: float) -> float:
    """Open the session's link in a new tab; the moment its sidebar names its current run."""
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{port}/?s={token}", wait_until="commit", timeout=PAGE_TIMEOUT_S * 1000)
    left = max(1.0, deadline - time.perf_counter())
    page.get_by_text(name, exact=True).first.wait_for(state="visible", timeout=left * 1000)
    return time.perf_counter()


def wait_healthy(proc: subprocess.Popen, port: int, deadline: float, log: Path) -> None:
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench store: the app server exited ({proc.returncode}); its log: {log}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                                                   timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.05)
    raise SystemExit(f"bench store: the app server was not up in {PAGE_TIMEOUT_S:.0f} s; its log: {log}")


def stop(proc: subprocess.Popen) -> None:
    """The server and its process group: SIGTERM (its saver's last round), then SIGKILL if it lingers."""
    for sig, wait in ((15, 20), (9, 10)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)


def training_overhead(backend: ThreadBackend, store: tuple, seconds: float, rounds: int,
                      weights_every: float) -> tuple[list[overhead.Rate], list[overhead.Rate]]:
    """A default job's rates without the saver, and with it; in pairs, alternating which goes first."""
    plain, saved = [], []
    for i in range(rounds):
        for with_saver in ((False, True) if i % 2 == 0 else (True, False)):
            if with_saver:
                with overhead.weights_copies(weights_every, weights_every):
                    saved.append(overhead.job_rate(backend, seconds, poll=False, store=store,
                                                   weights_every=weights_every))
            else:  # not even the weight copies the training thread makes for the saver
                with overhead.weights_copies(math.inf, math.inf):
                    plain.append(overhead.job_rate(backend, seconds, poll=False))
    return plain, saved


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_postgres():
    """A throwaway PostgreSQL server on a free loopback port, trusting local connections (as tests/postgres_support:
    Debian's binaries; as root it runs as the `postgres` user); yields its URL, and is stopped and removed after."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise SystemExit("bench store: `postgres` needs PostgreSQL's server binaries (apt-get install postgresql)")
    binaries, root = Path(found[-1]).parent, os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="gan-bench-pg-"))

    def call(program: str, *args: str, check: bool = True) -> None:
        command = [str(binaries / program), *args]
        command = ["runuser", "-u", "postgres", "--", *command] if root else command
        subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=folder, check=check)

    try:
        if root:
            shutil.chown(folder, "postgres", "postgres")
        call("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        port = free_port()
        call("pg_ctl", "-D", str(folder / "data"), "-o", f"-p {port} -h 127.0.0.1 -k {folder}",
             "-l", str(folder / "server.log"), "-w", "-t", "60", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            call("pg_ctl", "-D", str(folder / "data"), "-m", "fast", "-w", "stop", check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
