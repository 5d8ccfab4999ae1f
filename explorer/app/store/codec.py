"""A run's record as the database holds it, and back: JSON text for the chart rows, readings, live changes and
settings; raw bytes for the snapshots' pixels. What comes back is read as untrusted (a row may have been altered):
JSON through explorer.untrusted_json, every field's type and size checked, pixels inflated to a bounded size.
Anything else raises BadRow, saying what is wrong."""

from __future__ import annotations

import base64
import json
import zlib

import torch

from ...progress import COLUMNS, Change, Snapshot
from ...quality import Reading
from ...untrusted_json import JSONProblem, kind, parse_json

PIXELS = 28 * 28
MAX_SAMPLES = 1024  # in one snapshot grid, or one reading's D outputs
TENSOR_DTYPES = {"float32": torch.float32, "float16": torch.float16, "float64": torch.float64}
READING_NUMBERS = ("seconds", "read_as", "looks_real", "fid", "fid_floor", "variety", "overlap")


class BadRow(ValueError):
    """A stored value that cannot be used; the message says which and why."""


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def loads(text, what: str, expect: type):
    try:
        value = parse_json(text if isinstance(text, (str, bytes)) else "")
    except JSONProblem as e:
        raise BadRow(f"its {what} {e}") from None
    if not isinstance(value, expect):
        raise BadRow(f"its {what} is {kind(value)}, not {'an object' if expect is dict else 'a list'}")
    return value


# ---- chart rows ---------------------------------------------------------------------------------------
def history_text(history: dict[str, list[float]]) -> str:
    return dumps({c: [float(v) for v in history[c]] for c in COLUMNS if c in history})


def history_from(text) -> dict[str, list[float]]:
    table = loads(text, "chart rows", dict)
    lengths = set()
    for name, values in table.items():
        if name not in COLUMNS or not isinstance(values, list) or not all(_number(v) for v in values):
            raise BadRow(f"its chart rows hold {name!r}, which is not a column of numbers")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise BadRow("its chart rows' columns differ in length")
    return {name: [float(v) for v in values] for name, values in table.items()}


# ---- quality readings ---------------------------------------------------------------------------------
def readings_text(readings) -> str:
    return dumps([{"step": r.step, **{k: getattr(r, k) for k in READING_NUMBERS}, "histogram": list(r.histogram),
                   "looks_real_histogram": list(r.looks_real_histogram), "probabilities": r.probabilities,
                   "d_real": _tensor_text(r.d_real), "d_fake": _tensor_text(r.d_fake)} for r in readings])


def figures_text(readings) -> str:
    """The newest reading's figures, which a class's board lists without reading the whole record."""
    if not readings:
        return "{}"
    r = readings[-1]
    return dumps({"step": int(r.step), "read_as": float(r.read_as), "looks_real": float(r.looks_real),
                  "fid": float(r.fid)})


def readings_from(text) -> list[Reading]:
    out = []
    for item in loads(text, "quality readings", list):
        if not isinstance(item, dict) or not _whole(item.get("step")) \
                or not all(_number(item.get(k)) for k in READING_NUMBERS) \
                or not all(_numbers(item.get(k), 10) for k in ("histogram", "looks_real_histogram")) \
                or not isinstance(item.get("probabilities"), bool):
            raise BadRow("its quality readings are not what GAN Explorer writes")
        out.append(Reading(step=item["step"], **{k: float(item[k]) for k in READING_NUMBERS},
                           histogram=[float(v) for v in item["histogram"]],
                           looks_real_histogram=[float(v) for v in item["looks_real_histogram"]],
                           d_real=_tensor_from(item.get("d_real")), d_fake=_tensor_from(item.get("d_fake")),
                           probabilities=item["probabilities"]))
    return out


def _tensor_text(t: torch.Tensor) -> dict:
    t = t.detach().cpu().contiguous().flatten()
    name = str(t.dtype).removeprefix("torch.")
    if name not in TENSOR_DTYPES:
        t, name = t.float(), "float32"
    return {"dtype": name, "data": base64.b64encode(t.numpy().tobytes()).decode("ascii")}


def _tensor_from(value) -> torch.Tensor:
    if not isinstance(value, dict) or value.get("dtype") not in TENSOR_DTYPES or not isinstance(value.get("data"), str):
        raise BadRow("a quality reading's D outputs are not what GAN Explorer writes")
    dtype = TENSOR_DTYPES[value["dtype"]]
    try:
        raw = base64.b64decode(value["data"], validate=True)
    except ValueError:
        raise BadRow("a quality reading's D outputs are not base64") from None
    if len(raw) % dtype.itemsize or len(raw) // dtype.itemsize > MAX_SAMPLES:
        raise BadRow("a quality reading's D outputs have the wrong size")
    return torch.frombuffer(bytearray(raw), dtype=dtype).clone() if raw else torch.empty(0, dtype=dtype)


# ---- live changes, nudges and settings ------------------------------------------------------------------
def changes_text(changes) -> str:
    return dumps([{"step": c.step, "what": c.what, "settings": c.settings} for c in changes])


def changes_from(text, what: str) -> list[Change]:
    out = []
    for item in loads(text, what, list):
        if not (isinstance(item, dict) and _whole(item.get("step")) and isinstance(item.get("what"), str)
                and isinstance(item.get("settings", {}), dict)):
            raise BadRow(f"its {what} are not what GAN Explorer writes")
        out.append(Change(item["step"], item["what"], item.get("settings", {})))
    return out


# ---- snapshots ----------------------------------------------------------------------------------------------
def snapshot_fields(shot: Snapshot) -> dict:
    """The snapshots row's columns for `shot` (but run_id)."""
    images = shot.images.detach().cpu().to(torch.uint8).contiguous()
    count = images.shape[0]
    push = verdicts = None
    if shot.push is not None:
        push = zlib.compress(shot.push.detach().cpu().to(torch.float16).contiguous().numpy().tobytes(), 1)
    if shot.verdicts is not None:
        verdicts = shot.verdicts.detach().cpu().to(torch.float32).contiguous().numpy().tobytes()
    pixels = zlib.compress(images.numpy().tobytes(), 1)
    size = len(pixels) + len(push or b"") + len(verdicts or b"")
    return dict(step=int(shot.step), count=count, images=pixels, push=push, verdicts=verdicts,
                probabilities=bool(shot.probabilities), size=size)


def snapshot_from(row) -> Snapshot:
    count = row.count
    shot_images = pixels_from(row.step, count, row.images)
    push = verdicts = None
    if row.push is not None:
        raw = _inflate(row.push, count * PIXELS * 2, "snapshot's push map")
        push = torch.frombuffer(bytearray(raw), dtype=torch.float16).reshape(count, 28, 28).clone()
    if row.verdicts is not None:
        if len(row.verdicts) != count * 4:
            raise BadRow(f"its snapshot at step {row.step} has verdicts of the wrong size")
        verdicts = torch.frombuffer(bytearray(row.verdicts), dtype=torch.float32).clone()
    return Snapshot(row.step, shot_images, push, verdicts, bool(row.probabilities))


def pixels_from(step, count, data) -> torch.Tensor:
    """A snapshot's samples, (count, 28, 28) uint8, from its stored columns (a board reads these alone)."""
    if not (_whole(count) and 0 < count <= MAX_SAMPLES and _whole(step)):
        raise BadRow(f"its snapshot at step {step!r} has a bad sample count")
    images = _inflate(data, count * PIXELS, "snapshot")
    return torch.frombuffer(bytearray(images), dtype=torch.uint8).reshape(count, 28, 28).clone()


def _inflate(data, size: int, what: str) -> bytes:
    """zlib data that must inflate to exactly `size` bytes; never more is inflated."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(bytes(data or b""), size + 1)
    except zlib.error:
        raise BadRow(f"its {what} is not zlib data") from None
    if len(out) != size or not inflater.eof:
        raise BadRow(f"its {what} does not hold the {size:,} bytes it should")
    return out


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _numbers(v, n: int) -> bool:
    return isinstance(v, list) and len(v) == n and all(_number(x) for x in v)
