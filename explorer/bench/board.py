"""`bench board`: what one refresh of a class's board costs the server while its class trains.

A class of `--students` is made in the run store (SQLite by default, PostgreSQL with `--database-url`); each
student joins it and has one run on its board. Writer threads, each standing for one app server's run store writer
(explorer.app.saver), post every student's progress every `--post-every` seconds as the saver writes a training
job: its status and step, its chart rows, its quality readings (a new one every other post, shaped as the meter
makes them), and a new snapshot (64 samples, 28x28, the newest two with D's push maps). The samples are a trained
GAN's (the demo generator of 3s, from a latent batch that drifts each post), so their PNGs cost what real ones do.
The students start `--head-start` steps into their runs, so their records are the size of a run a few minutes old.

Meanwhile the board refreshes `--refreshes` times, every `--refresh-every` seconds (the page's REFRESH_SECONDS),
doing what the live part of the board page (explorer/ui/board.py, `_live`) does on the server for the teacher,
without Streamlit: the class (`ClassBook.get`), its runs (`board`), the leaderboard (`entries`, `waiting`, `table`)
and the gallery's grids (`Grids.for_runs`: the newest snapshots of the runs that moved on, read and encoded as
PNGs). Not counted: what Streamlit then does with the table and the images (serialising and sending them).

The report gives the milliseconds per refresh (median, 95th percentile, most), the refreshing thread's CPU
milliseconds (what other work on a busy machine changes least), the parts' medians, how many grids each refresh
encoded, and what the writers managed (their posts' times, and how far apart each student's posts came). Target:
a refresh under 200 ms with 30 students posting. `--profile FILE` writes where the refreshes' time went.

`--database-url postgres` starts a throwaway PostgreSQL server (as `bench store` does), removed after. Another URL
is used as it is: the benchmark's class and runs are deleted from it at the end.
"""

from __future__ import annotations

import contextlib
import cProfile
import functools
import io
import math
import os
import pstats
import secrets
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from sqlalchemy import delete

from .. import demos, presets
from ..app import board as B
from ..app.classes import Challenge, Classes
from ..app.limits import Limits, tune_process
from ..app.runs import Run
from ..app.store import RunStore
from ..app.store import rows as store_rows
from ..app.store.classes import ClassBook
from ..app.store.rows import token_hash
from ..app.store.schema import SessionRow
from ..data import to_uint8
from ..nets import sample_latent
from ..progress import History, Row, Snapshot, Status
from ..quality import MAX_READINGS, SAMPLES, Reading
from ..snapshots import PUSHES_KEPT, SNAPSHOT_SAMPLES
from .report import machine, write

TARGET_MS = 200.0
MAX_SNAPSHOTS = 100  # the trainer's default (explorer.trainer.Trainer max_snapshots)
STEPS_PER_POST = 40  # a student's steps between two posts: about 20 steps/s, a busy server's pace for the default


def add_parser(bsub):
    b = bsub.add_parser("board", help="a class's board: server time per refresh while its students post progress")
    b.add_argument("--database-url", "--store", dest="database_url", default=None,
                   help="the store's database (default: a fresh SQLite file in a temporary folder; `postgres`: a "
                        "throwaway local PostgreSQL server)")
    b.add_argument("--students", type=int, default=30)
    b.add_argument("--writers", type=int, default=3,
                   help="writer threads, each one app server's run store writer, sharing the students")
    b.add_argument("--refreshes", type=int, default=30, help="board refreshes timed")
    b.add_argument("--refresh-every", type=float, default=2.0, help="seconds from one refresh's start to the next")
    b.add_argument("--post-every", type=float, default=2.0, help="seconds between a student's posts (the saver's)")
    b.add_argument("--head-start", type=int, default=2000, help="steps each run has trained when the timing begins")
    b.add_argument("--digits", default="3", help="the challenge's digits (the samples are the demo's 3s)")
    b.add_argument("--profile", type=Path, default=None,
                   help="also write the refreshes' profile (cProfile, cumulative) as text here")
    b.add_argument("--out", type=Path, default=Path("bench-board.json"))
    return b


def run(args) -> int:
    digits = [int(d) for d in args.digits.split(",")]
    tune_process(Limits.from_env())  # torch's threads and the GIL's switch interval, as the server sets them
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gan-bench-board-")))
        url = args.database_url
        if url == "postgres":
            from .store import local_postgres

            url = stack.enter_context(local_postgres())
        store = RunStore.open(url or f"sqlite:///{home / 'runs.sqlite'}", {"GAN_EXPLORER_HOME": str(home)})
        stack.callback(store.close)
        report = measure(store, args.students, args.writers, args.refreshes, args.refresh_every, args.post_every,
                         args.head_start, digits, args.profile)
    report = {"machine": machine(), **report}
    for key, value in report.items():
        if key != "machine":
            print(f"{key:<36} {value}")
    write(args.out, report)
    return 0


class Sampler:
    """A trained GAN's samples (the demo generator of 3s, models/demo-three): what a run's grid shows a few minutes
    in, with the detail, and so the PNG size and encoding time, of real samples. Loaded on first use."""

    @functools.cached_property
    def _demo(self):
        return demos.load("three")

    @property
    def cfg(self):
        return self._demo.cfg

    @torch.no_grad()
    def pixels(self, z: torch.Tensor) -> torch.Tensor:
        return to_uint8(self._demo.G(z), self.cfg.output).reshape(-1, 28, 28)


SAMPLER = Sampler()


# ---- the students ----------------------------------------------------------------------------------------------
@dataclass
class Student:
    """One simulated student's run, as its training job would publish it."""
    token: str
    run_id: int
    z: torch.Tensor  # its fixed latent batch (64, latent), which drifts a little each post as its G would
    noise: torch.Generator
    step: int = 0
    history: History = field(default_factory=History)
    readings: list[Reading] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    posts: int = 0
    posted_at: list[float] = field(default_factory=list)


def join_class(store: RunStore, students: int, digits: list[int]) -> tuple[Classes, str, str, Challenge,
                                                                          list[Student]]:
    """A class with a challenge (its code and key); each student joins it and has one run in it."""
    classes = Classes(ClassBook(store), max_classes=10**6, max_students=max(students, 1))
    challenge = Challenge(tuple(digits), 2000, "default", "fid")
    code, key = classes.start(challenge, board_open=True)
    cfg = presets.get("default").config(digits=digits)
    made = []
    for i in range(students):
        token = secrets.token_urlsafe(16)
        classes.join(code, token, f"Student {i + 1}")
        run_id = store.create_run(token, Run("Run 1", cfg.replace(seed=i), None, None, {"name": "Run 1"}),
                                  status=Status.RUNNING, class_code=code)
        noise = torch.Generator().manual_seed(1000 + i)
        made.append(Student(token, run_id, sample_latent(SNAPSHOT_SAMPLES, SAMPLER.cfg, noise), noise))
    return classes, code, key, challenge, made


def advance(s: Student, steps: int) -> None:
    """`steps` more steps of training: chart rows, a reading every other post, a new snapshot."""
    start, s.step = s.step, s.step + steps
    for k in range(start + 1, s.step + 1):
        d, g = 0.6 + 0.1 * math.sin(k / 50), 1.1 + 0.2 * math.cos(k / 70)
        s.history.add(Row(k, k * 64 / 5000, k * 64, k / 20, d, g, 0.6, 0.4, 1.5, 0.8, 2e-4, 2e-4))
    ripe = min(1.0, s.step / 3000)  # how far it has come: its figures improve with it
    s.z = s.z + 0.1 * torch.randn(s.z.shape, generator=s.noise)
    pixels = SAMPLER.pixels(s.z)
    push = (torch.randn(SNAPSHOT_SAMPLES, 28, 28, generator=s.noise) * 0.01).half()
    s.snapshots.append(Snapshot(s.step, pixels, push, torch.rand(SNAPSHOT_SAMPLES, generator=s.noise), True))
    for i in range(len(s.snapshots) - PUSHES_KEPT - 1, -1, -1):  # older snapshots let their maps go (Snapshots.take)
        if s.snapshots[i].push is None:
            break
        s.snapshots[i] = Snapshot(s.snapshots[i].step, s.snapshots[i].images)
    if len(s.snapshots) > MAX_SNAPSHOTS:
        s.snapshots = s.snapshots[:-1:2] + s.snapshots[-1:]
    if s.posts % 2 == 0:
        s.readings.append(reading(s.step, ripe, s.noise))
        if len(s.readings) > MAX_READINGS:
            s.readings = s.readings[:-1:2] + s.readings[-1:]


def reading(step: int, ripe: float, gen: torch.Generator) -> Reading:
    """A quality reading as the meter makes it (explorer.quality.Meter.read): its figures, histograms and D's
    outputs on the 256 fixed real images and fakes."""
    wobble = float(torch.rand(1, generator=gen)) * 0.05
    hist = [0.02] * 10
    hist[3] = 0.82
    return Reading(step=step, seconds=step / 20, read_as=min(1.0, 0.1 + 0.85 * ripe + wobble),
                   looks_real=min(1.0, 0.7 * ripe + wobble), histogram=hist,
                   looks_real_histogram=[h * ripe for h in hist],
                   fid=max(2.0, 250 * (1 - ripe) + 10 * wobble), fid_floor=1.7, variety=0.6 + 0.3 * ripe,
                   overlap=0.2 + 0.5 * ripe, d_real=torch.rand(SAMPLES, generator=gen),
                   d_fake=torch.rand(SAMPLES, generator=gen), probabilities=True)


def post(store: RunStore, s: Student, steps: int) -> None:
    """The student trains `steps` more, and its record is written as the saver writes a training job's."""
    advance(s, steps)
    s.posts += 1
    store.save_record(s.run_id, Status.RUNNING, "", s.step, s.history.columns(), s.readings, [], [], s.snapshots, {})


def head_start(store: RunStore, students: list[Student], steps: int) -> None:
    """Each run `steps` in, its record written once, so the timing starts on a run a few minutes old."""
    for s in students:
        for _ in range(max(0, steps // STEPS_PER_POST)):
            advance(s, STEPS_PER_POST)
            s.posts += 1
        store.save_record(s.run_id, Status.RUNNING, "", s.step, s.history.columns(), s.readings, [], [],
                          s.snapshots, {})


class Writers:
    """`count` threads, each posting its share of the students every `every` seconds, until stopped."""

    def __init__(self, store: RunStore, students: list[Student], count: int, every: float):
        self.store, self.every = store, every
        self.errors: list[str] = []
        self.post_seconds: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        count = max(1, min(count, len(students)))
        # Each starts its rounds a share of a period after the last: app servers' writers keep their own time.
        self.threads = [threading.Thread(target=self._loop, args=(students[i::count], i * every / count),
                                         daemon=True, name=f"bench-board-writer-{i}") for i in range(count)]

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def _loop(self, mine: list[Student], offset: float) -> None:
        if self._stop.wait(offset):
            return
        next_round = time.monotonic()
        while not self._stop.is_set():
            for s in mine:
                if self._stop.is_set():
                    return
                t0 = time.perf_counter()
                try:
                    post(self.store, s, STEPS_PER_POST)
                except Exception as e:  # reported, and the others go on
                    with self._lock:
                        self.errors.append(str(e))
                    continue
                with self._lock:
                    self.post_seconds.append(time.perf_counter() - t0)
                s.posted_at.append(time.monotonic())
            next_round += self.every
            self._stop.wait(max(0.0, next_round - time.monotonic()))
            next_round = max(next_round, time.monotonic() - self.every)  # behind: no burst to catch up


# ---- the board ------------------------------------------------------------------------------------------------
class TimedBook(ClassBook):
    """A ClassBook that times its newest_grids reads (the rest of Grids.for_runs is PNG encoding)."""

    def __init__(self, store: RunStore):
        super().__init__(store)
        self.grid_seconds = 0.0
        self.grids_read = 0

    def newest_grids(self, known):
        t0 = time.perf_counter()
        try:
            found = super().newest_grids(known)
        finally:
            self.grid_seconds += time.perf_counter() - t0
        self.grids_read += len(found)
        return found


def refresh(book: TimedBook, grids: B.Grids, code: str, challenge: Challenge | None) -> dict[str, float]:
    """One refresh of the board's live part, as the teacher sees it (explorer/ui/board.py `_live`): seconds per
    part, and the CPU seconds of this thread (what a busy machine's other work does not change)."""
    book.grid_seconds, book.grids_read = 0.0, 0
    cpu = time.thread_time()
    t0 = time.perf_counter()
    book.get(code)
    t1 = time.perf_counter()
    rows = book.board(code)
    t2 = time.perf_counter()
    board = B.entries(rows, challenge, True)
    B.waiting(board)
    B.table(board, challenge, True)
    t3 = time.perf_counter()
    grids.for_runs([e.row.run_id for e in board])
    t4 = time.perf_counter()
    return {"total": t4 - t0, "cpu": time.thread_time() - cpu, "get": t1 - t0,
            "board": t2 - t1, "table": t3 - t2, "grids_read": book.grid_seconds,
            "png": t4 - t3 - book.grid_seconds, "encoded": book.grids_read, "runs": len(board)}


def measure(store: RunStore, students: int, writers: int, refreshes: int, refresh_every: float, post_every: float,
            head: int, digits: list[int], profile: Path | None = None) -> dict:
    classes, code, key, challenge, made = join_class(store, students, digits)
    try:
        head_start(store, made, head)
        book = TimedBook(store)
        grids = B.Grids(book)
        profiler = cProfile.Profile() if profile else None
        load_before = os.getloadavg()[0]
        with Writers(store, made, writers, post_every) as w:
            time.sleep(min(post_every, 2.0))  # every writer under way
            first = refresh(book, grids, code, challenge)  # the first viewer: every grid encoded
            timed = []
            # A board's refreshes keep no step with the writers' rounds: each comes a little more than a period
            # after the last, so that over the run they fall at every point of the writers' rounds.
            next_at = time.monotonic()
            for _ in range(refreshes):
                next_at += refresh_every * (1 + 1 / max(refreshes, 1))
                time.sleep(max(0.0, next_at - time.monotonic()))
                if profiler:
                    profiler.enable()
                timed.append(refresh(book, grids, code, challenge))
                if profiler:
                    profiler.disable()
        if profiler:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
            profile.write_text(text.getvalue())
        loads = (load_before, os.getloadavg()[0])
        return report(store, students, w, made, first, timed, refresh_every, post_every, head, loads)
    finally:
        cleanup(store, classes.book, code, key, made)


def cleanup(store: RunStore, book: ClassBook, code: str, key: str, made: list[Student]) -> None:
    """The benchmark's class, its runs and their sessions go (the database may be one that is kept)."""
    with contextlib.suppress(Exception):
        book.delete(code, key)
    with contextlib.suppress(Exception), store._db() as db:
        store_rows.delete_runs(db, [s.run_id for s in made])
        db.execute(delete(SessionRow).where(SessionRow.token_hash.in_([token_hash(s.token) for s in made])))


def report(store: RunStore, students: int, w: Writers, made: list[Student], first: dict, timed: list[dict],
           refresh_every: float, post_every: float, head: int, loads: tuple[float, float]) -> dict:
    ms = [1000 * t["total"] for t in timed]
    cpu = [1000 * t["cpu"] for t in timed]
    gaps = [b - a for s in made for a, b in zip(s.posted_at, s.posted_at[1:])]
    posts = [1000 * p for p in w.post_seconds]

    def part(name: str) -> float:
        return round(statistics.median(1000 * t[name] for t in timed), 1)

    return {
        "database": store.url.get_backend_name(), "students": students, "writers": len(w.threads),
        "refreshes": len(timed), "refresh_every_seconds": refresh_every, "post_every_seconds": post_every,
        "head_start_steps": head, "target_ms": TARGET_MS,
        "refresh_ms_median": round(statistics.median(ms), 1), "refresh_ms_p95": round(percentile(ms, 95), 1),
        "refresh_ms_max": round(max(ms), 1), "under_target": percentile(ms, 95) < TARGET_MS,
        "refresh_cpu_ms_median": round(statistics.median(cpu), 1), "refresh_cpu_ms_p95": round(percentile(cpu, 95), 1),
        "first_refresh_ms": round(1000 * first["total"], 1),
        "refresh_ms_each": [round(m, 1) for m in ms],
        "part_ms_median": {name: part(name) for name in ("get", "board", "table", "grids_read", "png")},
        "grids_encoded_per_refresh_median": statistics.median(t["encoded"] for t in timed),
        "runs_on_board": timed[-1]["runs"],
        "posts": len(posts), "post_errors": len(w.errors), "first_post_error": w.errors[0] if w.errors else None,
        "post_ms_median": round(statistics.median(posts), 1) if posts else None,
        "post_ms_p95": round(percentile(posts, 95), 1) if posts else None,
        "student_post_gap_seconds_median": round(statistics.median(gaps), 2) if gaps else None,
        "student_post_gap_seconds_max": round(max(gaps), 2) if gaps else None,
        "steps_at_end_median": statistics.median(s.step for s in made),
        "cpus": os.cpu_count(), "load_average_1min": [round(x, 2) for x in loads],  # before and after the timing
    }


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q% of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
