"""A class's board as data, without Streamlit: the table (a leaderboard with a challenge), the gallery's grids, a
spotlit run's settings beside the class's most common ones, and the downloads (CSV, PNGs).

Who sees what: the teacher (with the key) sees every run, hidden ones marked; students, when the teacher lets them,
see the runs and names that are not hidden. A run its student withdrew is on nobody's board.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from .. import images
from ..config import ConfigError, GANConfig
from ..progress import Status
from .classes import FIGURES, Challenge
from .store.classes import BoardRow, ClassBook

HIDDEN_NAME = "(name hidden)"
STATUS_WORDS = {Status.QUEUED: "waiting", Status.RUNNING: "training", Status.PAUSED: "paused",
                Status.FINISHED: "finished", Status.STOPPED: "stopped", Status.FAILED: "failed"}
GALLERY = (64, 8)  # samples and samples a row: the whole 8x8 grid, 242 px, shown about 110 px wide in six columns
WALL = (16, 4)  # presenter mode's wall: the grid's first 4x4, so that each digit is twice as big


class Thumb(NamedTuple):
    """A run's newest grid, encoded."""
    step: int
    png: bytes


@dataclass(frozen=True)
class Entry:
    """One run as the board lists it."""
    row: BoardRow
    rank: int | None  # with a challenge: 1 = best; None without a figure yet or without a challenge

    @property
    def student(self) -> str:
        return HIDDEN_NAME if self.row.name_hidden else self.row.student

    @property
    def status(self) -> str:
        try:
            return STATUS_WORDS.get(Status(self.row.status), self.row.status)
        except ValueError:
            return self.row.status

    @property
    def label(self) -> str:
        """"Ada · Run 2": the gallery's caption and the spotlight's choice."""
        return f"{self.student} · {self.row.run}"


def entries(rows: list[BoardRow], challenge: Challenge | None, teacher: bool) -> list[Entry]:
    """The board's runs, best first with a challenge (then the ones with no reading yet), else oldest first. Without
    the key, hidden runs are left out."""
    shown = [r for r in rows if teacher or not r.hidden]
    if challenge is None:
        return [Entry(r, None) for r in shown]
    key, lower = challenge.figure, challenge.rank_by.lower_wins
    scored = sorted((r for r in shown if key in r.figures), key=lambda r: r.figures[key] if lower else -r.figures[key])
    unscored = [r for r in shown if key not in r.figures]
    # Equal figures share a place (1, 1, 3): the same setup and seed train the very same run.
    ranks = [next(j for j, other in enumerate(scored) if other.figures[key] == r.figures[key]) + 1 for r in scored]
    return [Entry(r, rank) for r, rank in zip(scored, ranks)] + [Entry(r, None) for r in unscored]


def table(board: list[Entry], challenge: Challenge | None, teacher: bool) -> list[dict]:
    """One dict per run, in the board's order: what the table and the CSV show."""
    out = []
    for e in board:
        f = e.row.figures
        row = {} if challenge is None else {"Rank": e.rank}
        row.update({"Student": e.student, "Run": e.row.run, "Status": e.status, "Step": e.row.step,
                    "Read as": f.get("read_as"), "Looks real": f.get("looks_real"), "Fréchet distance": f.get("fid")})
        if teacher:
            row["Hidden"] = e.row.hidden
        out.append(row)
    return out


def waiting(board: list[Entry]) -> list[str]:
    """Who is still in line to train, in the board's words."""
    return [e.label for e in board if e.row.status == Status.QUEUED]


def csv_text(rows: list[dict]) -> str:
    """The table as CSV. A cell a spreadsheet would run as a formula (=, +, -, @ first) is quoted with a '."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value):
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def grids_zip(board: list[Entry], grids: dict[int, bytes]) -> bytes:
    """Each run's newest grid as a PNG, in one ZIP, named by place and run (never by a name's raw characters)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for i, e in enumerate(board, 1):
            png = grids.get(e.row.run_id)
            if png is not None:
                z.writestr(f"{i:03d}-{_file_part(e.student)}-{_file_part(e.row.run)}.png", png)
    return out.getvalue()


def _file_part(text: str) -> str:
    kept = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)
    return kept.strip("_")[:24] or "run"


def settings_beside_class(spotlit: BoardRow, rows: list[BoardRow]) -> list[dict]:
    """The spotlit run's settings next to the class's most common value of each, differences marked."""
    configs = [c for c in (_config(r) for r in rows) if c is not None]
    mine = _config(spotlit)
    if mine is None or not configs:
        return []
    out = []
    for name, value in mine.to_dict().items():
        if name in ("live_changes", "device"):
            continue
        # Counted by their JSON text: lists (layers, digits) are values too.
        common, _ = Counter(json.dumps(c.to_dict()[name]) for c in configs).most_common(1)[0]
        out.append({"Setting": name, "This run": _plain(value), "Most common in the class": _plain(json.loads(common)),
                    "Differs": json.dumps(value) != common})
    out.sort(key=lambda d: not d["Differs"])  # the differences first, each group in the config's order
    return out


def _plain(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def _config(row: BoardRow) -> GANConfig | None:
    try:
        return GANConfig.from_json(row.config)
    except ConfigError:
        return None


class Grids:
    """The newest grid of each board run as a PNG (`shape`: GALLERY or WALL), kept per process and shared by every
    viewer of every board, so a refresh encodes only the grids that moved on
    (explorer.app.store.classes.ClassBook.newest_grids)."""

    def __init__(self, book: ClassBook, shape: tuple[int, int] = GALLERY, most: int = 2000):
        self.book = book
        self.samples, self.nrow = shape
        self.most = most
        self._lock = threading.Lock()
        self._pngs: dict[int, Thumb] = {}  # run id -> its newest grid

    def for_runs(self, run_ids: list[int]) -> dict[int, Thumb]:
        with self._lock:
            known = {i: self._pngs[i].step if i in self._pngs else -1 for i in run_ids}
        fresh = self.book.newest_grids(known)
        # zlib's fastest level: a refresh may encode thirty new grids (bench board), a few KB more each is nothing.
        made = {i: Thumb(s.step, images.grid_png(s.images[:self.samples], nrow=self.nrow, compress_level=1))
                for i, s in fresh.items()}
        with self._lock:
            self._pngs.update(made)
            if len(self._pngs) > self.most:  # the oldest runs' grids go first
                for i in sorted(self._pngs)[:len(self._pngs) - self.most]:
                    del self._pngs[i]
            return {i: self._pngs[i] for i in run_ids if i in self._pngs}


__all__ = ["FIGURES", "Entry", "Grids", "csv_text", "entries", "grids_zip", "settings_beside_class", "table",
           "waiting"]
