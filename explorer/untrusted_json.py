"""JSON from files and links, parsed as untrusted: checked before Python's parser sees it.

`json.loads` recurses (100,000 nested brackets raise RecursionError) and turns digits into Python ints
(5,000 digits raise ValueError), and of a repeated key it keeps the last while other readers keep the first.
`parse_json` checks the nesting depth first, refuses long whole numbers and repeated keys, and raises only
JSONProblem, whose message reads on from its subject: "its header <is not JSON: ...>".
"""

from __future__ import annotations

import json

import numpy as np

MAX_DEPTH = 32  # a checkpoint's header nests 3 deep, its config 2, its metadata a few
MAX_DIGITS = 30  # in one whole number: Python refuses 4,300 digits and slows down long before


class JSONProblem(ValueError):
    """Why a text is not acceptable JSON, phrased to follow its subject: "its header <problem>"."""


def parse_json(raw: bytes | str):
    """JSON from a file, checked before Python's parser sees it: UTF-8 text, nested at most MAX_DEPTH deep
    (json.loads recurses, so 100,000 brackets raise RecursionError) and no whole number longer than
    MAX_DIGITS digits (a 5,000-digit one raises ValueError). Raises JSONProblem."""
    if isinstance(raw, str):
        text, raw = raw, raw.encode("utf-8", "surrogatepass")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise JSONProblem("is not UTF-8 text") from None
    depth = nesting_depth(raw)
    if depth > MAX_DEPTH:
        raise JSONProblem(f"nests lists and objects {depth:,} deep (at most {MAX_DEPTH})")
    try:
        return json.loads(text, parse_int=_whole_number, object_pairs_hook=_object)
    except JSONProblem:
        raise
    except (json.JSONDecodeError, RecursionError) as e:
        raise JSONProblem(f"is not JSON: {_cut(str(e), 120)}") from None


def _whole_number(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise JSONProblem(f"holds a whole number {len(digits.lstrip('-')):,} digits long (at most {MAX_DIGITS})")
    return int(digits)


def _object(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object without repeated keys: readers differ on which of two values wins, so refuse both."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise JSONProblem(f"repeats the key {_short(repeated)}")
    return obj


def nesting_depth(raw: bytes) -> int:
    """How deep [ and { nest in JSON text, brackets inside strings not counted; linear and vectorised.
    A quote ends or starts a string unless an odd run of backslashes comes right before it."""
    b = np.frombuffer(raw, np.uint8)
    if b.size == 0:
        return 0
    index = np.int32 if b.size < 2**31 else np.int64  # half the memory of int64 for any text up to 2 GB
    pos = np.arange(b.size, dtype=index)
    last_plain = np.maximum.accumulate(np.where(b == ord("\\"), index(-1), pos))
    backslashes_before = pos[1:] - 1 - last_plain[:-1]
    quote = b == ord('"')
    quote[1:] &= backslashes_before % 2 == 0
    inside = np.cumsum(quote, dtype=index) % 2 == 1
    step = ((b == ord("[")) | (b == ord("{"))).astype(np.int8) - ((b == ord("]")) | (b == ord("}")))
    step[inside] = 0
    return int(np.cumsum(step, dtype=index).max(initial=0))


def kind(value) -> str:
    """What a JSON value is, in words: 'a list', 'a number', 'text', 'an object'..."""
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number",
            type(None): "null (nothing)"}.get(type(value), type(value).__name__)


def _short(value) -> str:
    return _cut(repr(value), 60)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
