"""Two app processes on one PostgreSQL database (issue 25): students on both appear on one class board.

Each process is an app server's services without Streamlit, made as explorer/ui/state.py makes them: the run store
from GAN_EXPLORER_DATABASE_URL, its writer (explorer.app.saver.Saver, every 2 s, over the server's Sessions) and the
job backend (explorer.app.backends.from_env: worker threads). In each, one student's session joins the class the
test made in the store (explorer.app.classes.Classes.join) and starts a tiny run (Session.start). The test, a third
process, reads the board from the store as the board page does (ClassBook.board, Grids.for_runs): it sees both
students' runs while they train, each with the run id its own process wrote, and both finished at the end, with
their quality figures and grids.

Every wait has a deadline, and the processes (each in its own process group) are stopped whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer.app import board as B
from explorer.app.classes import Challenge, Classes
from explorer.app.store import RunStore
from explorer.app.store.classes import ClassBook
from explorer.bench.store import stop
from explorer.progress import Status

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# Of training time, not steps: however fast the machine, each run trains past two rounds of its writer (every 2 s),
# so the board shows it mid-way.
SECONDS = 5.0
DEADLINE_S = 200.0  # for both processes to start, train and write their last round (a busy 2-core machine: ~30 s)

# One app process: its services as the server makes them (explorer/ui/state.py: saver(), sessions(), registry()),
# one student, one run. Prints the run's store id and how it ended, as JSON on its last line.
APP = r"""
import json, sys
from explorer.app import backends
from explorer.app.classes import Classes
from explorer.app.saver import Saver
from explorer.app.session import Sessions
from explorer.app.store import RunStore
from explorer.app.store.classes import ClassBook
from explorer.config import Budget
from tiny import tiny

code, name, seconds, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
store = RunStore.open()  # GAN_EXPLORER_DATABASE_URL
sessions = Sessions()
saver = Saver(store, lambda: sessions.all())
backend = backends.from_env(is_alive=lambda token: sessions.alive(token))
try:
    session = sessions.new("tab")
    session.classroom = Classes.from_env(ClassBook(store)).join(code, session.token, name)
    job = session.start(backend, tiny(seed=seed), Budget("seconds", seconds))
    if not job.wait(150):
        sys.exit(f"{name}'s run did not end in time: {job.view().status_text}")
finally:
    backend.close(wait=10)
    saver.close()  # its last round: the job's end and its weights
print(json.dumps({"run_id": saver.ids[job.spec.key], "status": str(job.view().status), "step": job.view().step}))
"""


def start_app(url: str, code: str, name: str, seed: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "GAN_EXPLORER_DATABASE_URL": url, "GAN_EXPLORER_HOME": str(log.parent / f"home-{name}"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-c", APP, code, name, str(SECONDS), str(seed)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=out, stdin=subprocess.DEVNULL, text=True,
                                start_new_session=True)


def test_students_on_two_app_processes_appear_on_one_board(postgres_server, tmp_path):
    url = postgres_server.new_database()
    store = RunStore.open(url)
    book = ClassBook(store)
    procs: list[subprocess.Popen] = []
    try:
        challenge = Challenge((3,), 2000)
        code, _ = Classes(book).start(challenge)
        names = ("Ada", "Grace")
        procs = [start_app(url, code, name, seed, tmp_path / f"app-{name}.log") for seed, name in enumerate(names)]
        live: dict[str, int] = {}  # student -> the highest step the board showed while the run trained
        deadline = time.monotonic() + DEADLINE_S
        while any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, f"the app processes did not end in {DEADLINE_S:g} s"
            for row in book.board(code):
                if row.status == Status.RUNNING and row.step > 0:
                    live[row.student] = max(live.get(row.student, 0), row.step)
            time.sleep(0.25)
        ended = []
        for name, proc in zip(names, procs):
            out, _ = proc.communicate(timeout=30)
            log = (tmp_path / f"app-{name}.log").read_text()[-3000:]
            assert proc.returncode == 0, f"{name}'s app process failed ({proc.returncode}):\n{log}"
            ended.append(json.loads(out.strip().splitlines()[-1]))

        rows = book.board(code)
        by_student = {r.student: r for r in rows}
        assert sorted(by_student) == sorted(names), f"the board should show one run of each student: {rows}"
        for name, done in zip(names, ended):
            row = by_student[name]
            assert row.run_id == done["run_id"], f"{name}'s run on the board is the one its own process wrote"
            assert (row.status, row.step, done["status"]) == (Status.FINISHED, done["step"], Status.FINISHED)
            assert row.step > 0
            assert row.figures.get("fid", 0) > 0 and 0 <= row.figures["read_as"] <= 1, row.figures
        assert set(live) == set(names), f"both runs should show on the board while they train: {live}"

        # The board page's data, as it reads the store: a leaderboard of both, with both grids.
        board = B.entries(rows, challenge, teacher=False)
        assert sorted(e.rank for e in board) == [1, 2]
        grids = B.Grids(book).for_runs([e.row.run_id for e in board])
        assert {i: g.step for i, g in grids.items()} == {r.run_id: r.step for r in rows}  # the final grids
        assert all(g.png.startswith(b"\x89PNG") for g in grids.values())
    finally:
        for proc in procs:
            stop(proc)
        store.close()
        postgres_server.drop_database(url)
