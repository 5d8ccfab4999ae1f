"""A class: a teacher's code and key, a challenge, and the students who join by its link (explorer.app.store.classes
keeps them in the run store, so every replica of the app sees one class).

- The code is six capital letters without I, L or O, and no digits: read aloud, or copied from a projector, it
  cannot be mistaken for 1, l or 0. Students join at `/train?class=CODE`.
- The key is 128 random bits, in the teacher's board link only (`/board?class=CODE&key=KEY`); the store keeps its
  SHA-256. Every teacher's action checks it.
- A challenge's budget is a number of steps, never seconds: thirty runs share a server's cores, so a run's speed
  depends on who else trains and on its place in line. A steps budget gives every student the same training,
  however loaded the server; a seconds budget would reward whoever started first or trained alone.
- Display names are text from strangers: Unicode-normalised (NFKC), control and format characters dropped, spaces
  collapsed, at most 24 characters. Pages show them as plain text only.
"""

from __future__ import annotations

import os
import secrets
import unicodedata
from dataclasses import dataclass

from .. import presets
from ..config import BUDGET_LIMITS, ConfigError
from .limits import env_number
from .store import StoreError
from .store.classes import ClassBook, ClassGone, ClassRecord, Member, NotTeacher

CODE_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"  # no I, L, O
CODE_LENGTH = 6
MAX_NAME = 24
MAX_STUDENTS = 200  # per class
MAX_CLASSES = 50  # per server, not ended (GAN_EXPLORER_MAX_CLASSES)
MIN_STEPS = 10


@dataclass(frozen=True)
class Figure:
    """A quality meter figure a challenge may rank by."""
    title: str
    lower_wins: bool
    what: str

    def text(self, value: float | None) -> str:
        if value is None:
            return "–"
        return f"{value:.1f}" if self.lower_wins else f"{value:.0%}"


FIGURES = {
    "fid": Figure("Fréchet distance", True, "the lowest Fréchet distance wins (how far the samples are from real "
                                            "digits, as the quality meter measures it)"),
    "looks_real": Figure("Looks real", False, "the highest share that looks like a real one of the digits wins"),
    "read_as": Figure("Read as", False, "the highest share read as one of the chosen digits wins"),
}


@dataclass(frozen=True)
class Challenge:
    """What every student's run in the class trains on: the digits, a number of steps, a preset to start from, and
    the figure that ranks them."""
    digits: tuple[int, ...]
    steps: int
    preset: str = ""
    figure: str = "fid"

    @classmethod
    def from_dict(cls, d: dict) -> Challenge | None:
        """None for {} (no challenge); ConfigError naming the field otherwise."""
        if not d:
            return None
        digits = d.get("digits")
        if not isinstance(digits, list) or not digits or len(digits) > 10 or not all(
                isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 9 for x in digits):
            raise ConfigError("digits", "a challenge names one or more digits from 0 to 9")
        steps = d.get("steps")
        most = int(BUDGET_LIMITS["steps"])
        if not isinstance(steps, int) or isinstance(steps, bool) or not MIN_STEPS <= steps <= most:
            raise ConfigError("steps", f"a challenge's budget is a whole number of steps from {MIN_STEPS} to {most:,}")
        preset = d.get("preset", "")
        if preset and preset not in presets.PRESETS:
            raise ConfigError("preset", f"{str(preset)[:40]!r} is not one of {', '.join(presets.PRESETS)}")
        figure = d.get("figure", "fid")
        if figure not in FIGURES:
            raise ConfigError("figure", f"a challenge ranks by one of {', '.join(FIGURES)}")
        return cls(tuple(sorted(set(digits))), steps, preset, figure)

    def to_dict(self) -> dict:
        return {"digits": list(self.digits), "steps": self.steps, "preset": self.preset, "figure": self.figure}

    @property
    def rank_by(self) -> Figure:
        return FIGURES[self.figure]

    def text(self) -> str:
        """"Digit 8, 2,000 steps each, from the default preset"."""
        digits = ", ".join(map(str, self.digits))
        start = f", from the {self.preset} preset" if self.preset else ""
        return f"Digit{'s' if len(self.digits) > 1 else ''} {digits}, {self.steps:,} steps each{start}"

    def rule(self) -> str:
        return (f"{self.text()}: {self.rank_by.what}. A run is ranked by its newest reading, so one still training "
                f"may move; runs with no reading yet come last.")


@dataclass(frozen=True)
class Membership:
    """A session's place in a class: what its runs are shown under."""
    code: str
    member: Member


def new_code() -> str:
    return "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))


def new_key() -> str:
    return secrets.token_urlsafe(16)


def parse_code(text) -> str:
    """A code as a student may type it (any case, spaces) -> CODE; ValueError with a plain message."""
    code = "".join(str(text or "").split()).upper()[:20]
    if len(code) != CODE_LENGTH or any(c not in CODE_LETTERS for c in code):
        raise ValueError(f"{code[:12]!r} is not a class code: a code is {CODE_LENGTH} letters, such as "
                         f"{''.join(CODE_LETTERS[i] for i in (7, 0, 15, 17, 1, 3))}")
    return code


def display_name(text) -> str:
    """The name a student gives, made safe to store and show; ValueError when nothing is left of it."""
    name = unicodedata.normalize("NFKC", str(text or "")[:200])
    # Control and format characters (bidi overrides, zero-width joiners) go; other spaces become plain ones.
    name = "".join(" " if c.isspace() or unicodedata.category(c)[0] == "Z" else c for c in name
                   if c.isspace() or unicodedata.category(c)[0] != "C")
    name = " ".join(name.split())[:MAX_NAME].strip()
    if not name:
        raise ValueError("give a name for the board, in letters (at most 24 characters)")
    return name


class Classes:
    """The classes of one run store, with the server's limits."""

    def __init__(self, book: ClassBook, max_classes: int = MAX_CLASSES, max_students: int = MAX_STUDENTS):
        self.book = book
        self.max_classes = max_classes
        self.max_students = max_students

    @classmethod
    def from_env(cls, book: ClassBook, environ=None) -> Classes:
        env = os.environ if environ is None else environ
        return cls(book, env_number(env, "GAN_EXPLORER_MAX_CLASSES", MAX_CLASSES, int, 1))

    def start(self, challenge: Challenge | None, board_open: bool = False) -> tuple[str, str]:
        """A new class: (its code, its key). StoreError when the server holds its most classes."""
        key = new_key()
        for _ in range(20):  # 23^6 = 148 million codes: a clash is rare, and a new draw settles it
            code = new_code()
            if self.book.create(code, key, challenge.to_dict() if challenge else {}, board_open, self.max_classes):
                return code, key
        raise StoreError("no free class code was found; try again")

    def get(self, code: str) -> tuple[ClassRecord, Challenge | None]:
        """The class and its challenge; ClassGone when there is none."""
        record = self.book.get(code)
        try:
            return record, Challenge.from_dict(record.challenge)
        except ConfigError as e:
            raise StoreError(f"class {code}'s challenge cannot be read back ({e})") from None

    def join(self, code: str, token: str, name: str) -> Membership:
        return Membership(code, self.book.join(code, token, display_name(name), self.max_students))

    def membership(self, code: str, token: str) -> Membership | None:
        member = self.book.member(code, token)
        return Membership(code, member) if member else None


__all__ = ["FIGURES", "Challenge", "ClassGone", "Classes", "Membership", "NotTeacher", "display_name", "new_code",
           "parse_code"]
