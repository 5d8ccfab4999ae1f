"""The one GAN config: a validated dataclass that round-trips through JSON.

Every invalid value raises `ConfigError` naming the field and what is allowed, so the CLI and the
Train page can show the engine's own message.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Protocol

PRIORS = ("normal", "uniform")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu")
INITS = ("default", "xavier", "he")
OUTPUTS = ("tanh", "sigmoid")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
SCHEDULES = ("none", "decay", "step")
DEVICES = ("auto", "cpu", "cuda")
LOSSES = ("minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp", "hinge")
MAX_LAYERS = 6
MAX_UNITS = 4096
MAX_SEED = 2**31 - 1  # seeds are 31-bit everywhere: configs, seed boxes, links
MAX_LATENT = 512
LIVE_SETTINGS = ("g_lr", "d_lr", "loss", "d_steps")  # what may change while a run trains
MAX_BATCH = 4096
MAX_LIST_ITEMS = 64  # a typed list of numbers (layers, digits, milestones) never needs more
MAX_LIST_TEXT = 4096  # characters of such a list, so a pasted novel is refused before it is split
# Limits agree: whatever the app trains, it can download and upload again. The upload cap is Streamlit's
# server.maxUploadSize (.streamlit/config.toml, 256 MB); a checkpoint is its weights plus a JSON header.
# Every number's allowed range, as (lowest, highest): validation checks them, and the setup form's number boxes
# take them as their minimum and maximum. Whole numbers where the bounds are ints.
RANGES: dict[str, tuple[float, float]] = {
    "latent_dim": (1, MAX_LATENT), "d_steps": (1, 10), "batch_size": (1, MAX_BATCH), "seed": (0, MAX_SEED),
    "snapshot_every": (1, 100_000),
    "leaky_slope": (0.0, 1.0), "bn_momentum": (0.0, 1.0), "g_dropout": (0.0, 0.9), "d_dropout": (0.0, 0.9),
    "label_smoothing": (0.5, 1.0), "clip": (1e-4, 1.0), "gp_weight": (0.0, 1000.0), "r1_weight": (0.0, 1000.0),
    "coverage": (0.0, 100.0),
    "beta1": (0.0, 0.999), "beta2": (0.0, 0.9999), "momentum": (0.0, 0.999), "lr_decay": (0.0, 1.0),
    "g_gamma": (1e-3, 1.0), "d_gamma": (1e-3, 1.0), "g_ema": (0.0, 0.9999),
}
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024
MAX_CHECKPOINT_HEADER = 1024 * 1024
IMAGE_PIXELS = 28 * 28


class ConfigError(ValueError):
    """An invalid config value; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass
class GANConfig:
    # data
    digits: list[int] = field(default_factory=lambda: [3])
    data: str = "embedded"  # "embedded" 5k sample or "full" torchvision MNIST
    conditional: bool = False  # class-conditional G and D: one model, any digit on request
    # networks
    latent_dim: int = 64
    prior: str = "normal"
    g_layers: list[int] = field(default_factory=lambda: [256, 512])
    d_layers: list[int] = field(default_factory=lambda: [512, 256])
    g_activation: str = "leaky_relu"
    d_activation: str = "leaky_relu"
    leaky_slope: float = 0.2
    g_batchnorm: bool = False
    d_batchnorm: bool = False
    bn_momentum: float = 0.1  # PyTorch convention (Keras momentum 0.8 is 0.2 here)
    g_dropout: float = 0.0
    d_dropout: float = 0.0
    init: str = "default"
    output: str = "tanh"
    # loss
    loss: str = "nonsaturating"
    label_smoothing: float = 1.0  # target for real images; 0.9 is one-sided smoothing
    clip: float = 0.01  # weight clipping for "wgan"
    gp_weight: float = 10.0  # lambda for "wgan-gp"
    r1_weight: float = 0.0  # optional R1 penalty on real images, any loss
    # >0: D also learns the digits of real images (a digit head), and G's loss adds this times how unevenly its
    # batch spreads over the chosen digits as that head reads them (explorer.losses.coverage_gap)
    coverage: float = 0.0
    # optimisation
    g_optimizer: str = "adam"
    d_optimizer: str = "adam"
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    momentum: float = 0.0  # for SGD
    schedule: str = "none"
    lr_decay: float = 1e-4  # "decay": lr <- lr / (1 + lr_decay * epoch), each epoch
    g_milestones: list[int] = field(default_factory=list)  # "step": epochs at which lr *= gamma
    d_milestones: list[int] = field(default_factory=list)
    g_gamma: float = 0.5
    d_gamma: float = 0.5
    g_ema: float = 0.0  # >0: sample from an exponential moving average of G's weights (smoother digits)
    d_steps: int = 1
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    # bookkeeping
    snapshot_every: int = 50  # steps between sample snapshots
    # Live changes, in order: {"step": s, "g_lr": ...} means the settings changed after s steps (the charts mark
    # them there). A run records the ones made while it trained; a run from this config replays them.
    live_changes: list[dict] = field(default_factory=list)

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict) -> GANConfig:
        """Build and validate from plain values (JSON, form input or `key=value` strings)."""
        if not isinstance(d, dict):
            raise ConfigError("config", f"must be a JSON object, got {type(d).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting (known: {', '.join(known)})")
        values = {k: _coerce(k, v, known[k].type) for k, v in d.items()}
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> GANConfig:
        """From a config file (the Config download): parsed as untrusted JSON, then validated."""
        from .untrusted_json import JSONProblem, parse_json

        try:
            d = parse_json(text)
        except JSONProblem as e:
            raise ConfigError("config", f"the file {e}") from None
        return cls.from_dict(d)

    def ended(self) -> GANConfig:
        """The config in force at the end of the run: every live change applied (what the networks were trained
        to last, e.g. which loss D's outputs answer to)."""
        values = self.to_dict()
        for change in self.live_changes:
            values.update({k: v for k, v in change.items() if k != "step"})
        return GANConfig.from_dict(values)

    def replace(self, **changes) -> GANConfig:
        """A validated copy with `changes` applied (values may be strings, as from a form)."""
        return GANConfig.from_dict({**self.to_dict(), **changes})

    def with_settings(self, pairs: list[str]) -> GANConfig:
        """Apply `key=value` strings, as given to the CLI's --set."""
        changes = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ConfigError(pair, "expected key=value")
            changes[key.strip()] = value.strip()
        return self.replace(**changes)

    # ---- validation ---------------------------------------------------------------
    def validate(self, n_images: int | None = None) -> None:
        """Raise ConfigError for the first bad field; `n_images` also checks the batch size."""
        _check_digits(self.digits)
        _choice("data", self.data, ("embedded", "full"))
        for name, (lo, hi) in RANGES.items():
            (_int_range if isinstance(lo, int) else _float_range)(name, getattr(self, name), lo, hi)
        _choice("prior", self.prior, PRIORS)
        _check_layers("g_layers", self.g_layers)
        _check_layers("d_layers", self.d_layers)
        _check_checkpoint_size(self)
        _choice("g_activation", self.g_activation, ACTIVATIONS)
        _choice("d_activation", self.d_activation, ACTIVATIONS)
        _choice("init", self.init, INITS)
        _choice("output", self.output, OUTPUTS)
        _choice("loss", self.loss, LOSSES)
        _choice("g_optimizer", self.g_optimizer, OPTIMIZERS)
        _choice("d_optimizer", self.d_optimizer, OPTIMIZERS)
        _check_lr("g_lr", self.g_lr)
        _check_lr("d_lr", self.d_lr)
        _choice("schedule", self.schedule, SCHEDULES)
        _check_milestones("g_milestones", self.g_milestones)
        _check_milestones("d_milestones", self.d_milestones)
        _check_live_changes(self.live_changes)
        _check_coverage(self)
        if n_images is not None and self.batch_size > n_images:
            raise ConfigError("batch_size", f"{self.batch_size} is larger than the {n_images} images "
                                            f"of digits {self.digits}; use at most {n_images}")
        _choice("device", self.device, DEVICES)

    @property
    def n_classes(self) -> int:
        """Size of the one-hot label input in conditional mode (0 when unconditional)."""
        return 10 if self.conditional else 0


def parameter_count(cfg: GANConfig, net: str = "gd") -> int:
    """How many numbers the networks of `cfg` hold (weights, biases and batch-norm buffers), worked out from
    the layer sizes without building anything. `net`: "g", "d" or "gd" (both)."""
    return sum(_net_numbers(cfg, n)[0] for n in net)


def checkpoint_bytes(cfg: GANConfig) -> int:
    """An upper bound on the size of a checkpoint of G and D for `cfg`: float32 weights, int64 batch counters,
    the 8-byte length and the largest header a checkpoint may have."""
    floats = ints = 0
    for n in "gd":
        numbers, counters = _net_numbers(cfg, n)
        floats, ints = floats + numbers - counters, ints + counters
    return 4 * floats + 8 * ints + 8 + MAX_CHECKPOINT_HEADER


def _net_numbers(cfg: GANConfig, net: str) -> tuple[int, int]:
    """(numbers, of which int64 batch counters) in G ("g") or D ("d"), mirroring nets.Generator / Discriminator:
    Linear (weight, bias), then BatchNorm1d (weight, bias, running mean and variance, a batch counter)."""
    if net == "g":
        sizes, batchnorm = [cfg.latent_dim + cfg.n_classes, *cfg.g_layers, IMAGE_PIXELS], cfg.g_batchnorm
    elif net == "d":
        sizes, batchnorm = [IMAGE_PIXELS + cfg.n_classes, *cfg.d_layers, 1], cfg.d_batchnorm
    else:
        raise ValueError(f"net must be 'g' or 'd', got {net!r}")
    numbers = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes, sizes[1:]))
    if net == "d" and cfg.coverage > 0:  # the digit head: the last hidden layer to the ten digits
        numbers += (sizes[-2] + 1) * 10
    hidden = sizes[1:-1]
    counters = len(hidden) if batchnorm else 0
    if batchnorm:
        numbers += sum(4 * n for n in hidden) + counters
    return numbers, counters


def differences(configs: dict[str, GANConfig]) -> dict[str, list]:
    """The fields on which named configs disagree: field -> one value per config, in the dict's order."""
    rows = [c.to_dict() for c in configs.values()]
    if not rows:
        return {}
    return {name: [r[name] for r in rows] for name in rows[0] if any(r[name] != rows[0][name] for r in rows)}


# ---- helpers -------------------------------------------------------------------------
def parse_int_list(name: str, value) -> list[int]:
    """'256, 512' or [256, 512] -> [256, 512]; '' -> []. Raises ConfigError on 'abc', and on more than
    MAX_LIST_ITEMS numbers, which it counts before building anything."""
    if isinstance(value, str):
        if len(value) > MAX_LIST_TEXT:
            raise ConfigError(name, f"the text is too long ({len(value):,} characters; a list of numbers "
                                    f"here has at most {MAX_LIST_TEXT:,})")
        parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
    elif isinstance(value, (list, tuple)):
        parts = value
    else:
        raise ConfigError(name, f"must be a list of whole numbers, got {_short(value)}")
    if len(parts) > MAX_LIST_ITEMS:
        raise ConfigError(name, f"lists {len(parts):,} numbers; at most {MAX_LIST_ITEMS} are allowed")
    out = []
    for p in parts:
        try:
            if isinstance(p, bool) or (isinstance(p, float) and not p.is_integer()):
                raise ValueError
            out.append(int(p))
        except (TypeError, ValueError):
            raise ConfigError(name, f"{_short(p)} is not a whole number") from None
    return out


def _coerce(name: str, value, typ: str):
    """Form and CLI values arrive as strings; turn them into the field's type."""
    try:
        if typ == "list[int]":
            return parse_int_list(name, value)
        if typ == "list[dict]":
            return parse_live_changes(value)
        if typ == "bool":
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError
                return low in ("true", "1", "yes", "on")
            if not isinstance(value, (bool, int)):
                raise ValueError
            return bool(value)
        if typ == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if typ == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if typ == "str":
            if not isinstance(value, str):
                raise ValueError
            return value.strip()
    except ConfigError:
        raise
    except (TypeError, ValueError, OverflowError):
        kind = "list of whole numbers" if typ == "list[int]" else typ
        raise ConfigError(name, f"{value!r} is not a valid {kind}") from None
    return value


def _choice(name, value, allowed):
    if value not in allowed:
        raise ConfigError(name, f"{value!r} is not one of {', '.join(allowed)}")


def _int_range(name, value, lo, hi):
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(name, f"{value!r} is out of range: must be a whole number from {lo} to {hi}")


def _float_range(name, value, lo, hi):
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
        raise ConfigError(name, f"{value!r} is out of range: must be from {lo} to {hi}")


def _check_lr(name, value):
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= 1:
        raise ConfigError(name, f"{value!r} is out of range: a learning rate must be > 0 and <= 1")


def _check_digits(digits):
    if not isinstance(digits, list) or not digits:
        raise ConfigError("digits", "pick at least one digit from 0 to 9")
    for d in digits:
        if not isinstance(d, int) or not 0 <= d <= 9:
            raise ConfigError("digits", f"{d!r} is not a digit: each must be from 0 to 9")
    if len(set(digits)) != len(digits):
        raise ConfigError("digits", f"{digits} lists a digit twice")


def _check_layers(name, layers):
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise ConfigError(name, f"must list 0 to {MAX_LAYERS} hidden layer sizes")
    for n in layers:
        if not isinstance(n, int) or not 1 <= n <= MAX_UNITS:
            raise ConfigError(name, f"layer size {_short(n)} is out of range: each must be from 1 to {MAX_UNITS}")


def _check_checkpoint_size(cfg: GANConfig) -> None:
    """G and D must fit in a checkpoint this app can upload again (layer sizes are checked before this)."""
    size = checkpoint_bytes(cfg)
    if size <= MAX_CHECKPOINT_BYTES:
        return
    field = "g_layers" if parameter_count(cfg, "g") >= parameter_count(cfg, "d") else "d_layers"
    raise ConfigError(field, f"G and D together would hold {parameter_count(cfg) / 1e6:,.0f} million numbers, "
                             f"a {size / 2**20:,.0f} MB checkpoint; this app can upload at most "
                             f"{MAX_CHECKPOINT_BYTES // 2**20} MB again, so use fewer or smaller layers")


def _short(value) -> str:
    """A value for a message, cut short: a form or a file may send something huge."""
    if isinstance(value, int) and value.bit_length() > 200:  # repr of a 5,000-digit number raises ValueError
        digits = math.floor((value.bit_length() - 1) * math.log10(2)) + 1  # at least this many, at most one more
        return f"a {digits + (abs(value) >= 10**digits):,}-digit number"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_coverage(cfg: GANConfig) -> None:
    if cfg.coverage > 0 and cfg.conditional:
        raise ConfigError("coverage", "a conditional model is told which digit to draw, so it needs no coverage: "
                                      "set it to 0, or turn Conditional off")
    if cfg.coverage > 0 and len(set(cfg.digits)) < 2:
        raise ConfigError("coverage", "it spreads G's samples over several digits: pick two or more, or set it "
                                      "to 0")


def _check_milestones(name, milestones):
    if not isinstance(milestones, list) or any(not isinstance(m, int) or m < 1 for m in milestones):
        raise ConfigError(name, "milestones must be whole epoch numbers >= 1")
    if milestones != sorted(set(milestones)):
        raise ConfigError(name, "milestones must be increasing epoch numbers")


# ---- how long to train -------------------------------------------------------------------
class Elapsed(Protocol):
    """What a budget is measured against: a trainer's published progress."""
    step: int
    epoch: int
    epoch_progress: float  # epochs done, with the fraction of the current one
    seconds: float  # training time


BUDGET_KINDS = ("steps", "epochs", "seconds")
BUDGET_LIMITS = {"steps": 10_000_000, "epochs": 100_000, "seconds": 86_400.0}  # past these, no run is for a class


@dataclass(frozen=True)
class Budget:
    """How long to train: a number of steps, epochs or seconds of training time."""
    kind: str
    amount: float

    def __post_init__(self):
        if self.kind not in BUDGET_KINDS:
            raise ConfigError("budget", f"{self.kind!r} is not one of {', '.join(BUDGET_KINDS)}")
        most = BUDGET_LIMITS[self.kind]
        if not (isinstance(self.amount, (int, float)) and not isinstance(self.amount, bool)
                and math.isfinite(self.amount) and 0 < self.amount <= most):
            raise ConfigError(self.kind, f"{_short(self.amount)} is out of range: a run is from above 0 to {most:,g} "
                                         f"{self.kind}")

    def done(self, now: Elapsed) -> bool:
        value = {"steps": now.step, "epochs": now.epoch, "seconds": now.seconds}[self.kind]
        return value >= self.amount

    def fraction(self, now: Elapsed) -> float:
        value = {"steps": now.step, "epochs": now.epoch_progress, "seconds": now.seconds}[self.kind]
        return min(1.0, value / self.amount)


# ---- live changes ----------------------------------------------------------------------------------
def parse_live_changes(value) -> list[dict]:
    """"1200:g_lr=0.005,loss=hinge;2000:d_steps=2" (a link's form) or a list of dicts (a file's) -> a list of
    {"step": 1200, "g_lr": 0.005, "loss": "hinge"}, ...; raises ConfigError. Counted before anything is built."""
    name = "live_changes"
    if isinstance(value, str):
        if len(value) > MAX_LIST_TEXT:
            raise ConfigError(name, f"is {len(value):,} characters long; at most {MAX_LIST_TEXT:,} are allowed")
        entries = [e for e in value.split(";") if e.strip()]
        if len(entries) > MAX_LIST_ITEMS:
            raise ConfigError(name, f"lists {len(entries):,} changes; at most {MAX_LIST_ITEMS} are allowed")
        parsed = []
        for entry in entries:
            step, sep, settings = entry.partition(":")
            if not sep:
                raise ConfigError(name, f"{_short(entry)} is not STEP:setting=value,...")
            change = {"step": step.strip()}
            for pair in settings.split(","):
                key, eq, text = pair.partition("=")
                if not eq:
                    raise ConfigError(name, f"{_short(pair)} is not setting=value")
                change[key.strip()] = text.strip()
            parsed.append(change)
        value = parsed
    if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
        raise ConfigError(name, f"must be a list of at most {MAX_LIST_ITEMS} changes")
    out = []
    for change in value:
        if not isinstance(change, dict) or "step" not in change:
            raise ConfigError(name, f"{_short(change)} is not a change with a step")
        unknown = sorted(set(change) - {"step", *LIVE_SETTINGS})
        if unknown or len(change) < 2:
            raise ConfigError(name, f"a change sets one or more of {', '.join(LIVE_SETTINGS)} after a step"
                                    + (f"; {_short(unknown[0])} is not one of them" if unknown else ""))
        try:
            typed = {"step": _coerce(name, change["step"], "int")}
        except ConfigError:
            raise ConfigError(name, f"the step {_short(change['step'])} is not a whole number") from None
        for key in LIVE_SETTINGS:
            if key in change:
                typed[key] = _coerce(key, change[key], "int" if key == "d_steps" else "str" if key == "loss"
                                     else "float")
        out.append(typed)
    return out


def live_changes_text(changes: list[dict]) -> str:
    """The link form of `changes`: "1200:g_lr=0.005,loss=hinge;2000:d_steps=2"."""
    def text(v):
        return repr(v) if isinstance(v, float) else str(v)
    return ";".join(f"{c['step']}:" + ",".join(f"{k}={text(c[k])}" for k in LIVE_SETTINGS if k in c)
                    for c in changes)


def _check_live_changes(changes):
    if not isinstance(changes, list) or len(changes) > MAX_LIST_ITEMS:
        raise ConfigError("live_changes", f"must be a list of at most {MAX_LIST_ITEMS} changes")
    last = 0
    for change in changes:
        step = change.get("step") if isinstance(change, dict) else None
        if not isinstance(step, int) or isinstance(step, bool) or not last <= step <= BUDGET_LIMITS["steps"]:
            raise ConfigError("live_changes", f"steps must be whole numbers in order from 0; got {_short(step)}")
        last = step
        if "g_lr" in change:
            _check_lr("g_lr", change["g_lr"])
        if "d_lr" in change:
            _check_lr("d_lr", change["d_lr"])
        if "loss" in change:
            _choice("loss", change["loss"], LOSSES)
        if "d_steps" in change:
            _int_range("d_steps", change["d_steps"], *RANGES["d_steps"])
