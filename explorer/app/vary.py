"""What a sweep varies: one setting of the GAN config over a range or a list of choices.

The text form, as the command line's `--vary` takes it:
    name=low:high        a range (whole numbers for whole-number settings)
    name=low:high:log    a range sampled on a log scale (learning rates)
    name=a,b,c           a list of choices
    g_layers=128;256,512 for layer lists, whose values hold commas: choices separated by `;`

Every value is checked by the config's own validation against the sweep's base config, so a bad one fails with
a ConfigError that names the setting, before any trial trains.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..config import MAX_LIST_ITEMS, MAX_LIST_TEXT, ConfigError, GANConfig

# The settings it makes sense to compare trials on. Not the digits, data or seed (they change what the figure
# measures: see explorer.app.sweeps on the seed policy), nor bookkeeping (device, snapshots, live changes).
VARIABLE = ("g_lr", "d_lr", "batch_size", "d_steps", "latent_dim", "loss", "g_activation", "d_activation",
            "g_layers", "d_layers", "beta1", "beta2", "label_smoothing", "g_dropout", "d_dropout", "leaky_slope",
            "g_optimizer", "d_optimizer", "gp_weight", "r1_weight", "g_ema", "coverage", "g_batchnorm",
            "d_batchnorm", "prior", "init", "momentum")
LAYER_SEPARATOR = ";"
FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(GANConfig)}


@dataclass(frozen=True)
class Vary:
    """One varied setting: a range (`low`..`high`, on a log scale when `log`) or a list of `choices`.

    Choices are kept as Optuna can store them (numbers, booleans, strings); layer lists as their text, "256,512",
    which GANConfig.replace parses back into the config's list."""
    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)

    @property
    def integer(self) -> bool:
        return FIELD_TYPES[self.name] == "int"

    def suggest(self, trial):
        """This setting's value for an Optuna trial (what the study records as the trial's param)."""
        if self.is_choice:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def text(self) -> str:
        """Back to the `--vary` form."""
        if self.is_choice:
            sep = LAYER_SEPARATOR if FIELD_TYPES[self.name] == "list[int]" else ","
            return f"{self.name}=" + sep.join(_plain(c) for c in self.choices)
        return f"{self.name}={_plain(self.low)}:{_plain(self.high)}" + (":log" if self.log else "")


def parse_vary(text: str, base: GANConfig | None = None) -> Vary:
    """`name=low:high[:log]` or `name=a,b,c` -> a checked Vary; ConfigError naming the setting otherwise."""
    base = base or GANConfig()
    if len(text) > MAX_LIST_TEXT:
        raise ConfigError("vary", f"is {len(text):,} characters long; at most {MAX_LIST_TEXT:,} are allowed")
    name, sep, values = (part.strip() for part in text.partition("="))
    if not sep or not name:
        raise ConfigError(name or "vary", f"{text!r} is not name=low:high[:log] or name=a,b,c")
    if name not in VARIABLE:
        why = "is not a setting" if name not in FIELD_TYPES else "is not a setting a sweep varies"
        raise ConfigError(name, f"{why} (it may vary: {', '.join(VARIABLE)})")
    typ = FIELD_TYPES[name]
    if not values:
        raise ConfigError(name, "give a range low:high[:log] or choices a,b,c")
    if typ == "list[int]":
        return _choices(name, values.split(LAYER_SEPARATOR), base, how=f"layer lists separated by "
                                                                     f"'{LAYER_SEPARATOR}', e.g. 128;256,512")
    if ":" in values:
        return _range(name, values, typ, base)
    return _choices(name, values.split(","), base, how="choices separated by ',', e.g. a,b")


def parse_varies(texts: list[str], base: GANConfig | None = None) -> tuple[Vary, ...]:
    """Several --vary, each a different setting."""
    varies = tuple(parse_vary(t, base) for t in texts)
    names = [v.name for v in varies]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:
        raise ConfigError(twice, "is varied twice; give it once, with all its values")
    if not varies:
        raise ConfigError("vary", "a sweep varies at least one setting")
    return varies


def _range(name: str, values: str, typ: str, base: GANConfig) -> Vary:
    parts = [p.strip() for p in values.split(":")]
    log = len(parts) == 3 and parts[2].lower() == "log"
    if typ not in ("int", "float"):
        raise ConfigError(name, f"is a {typ} setting: give choices a,b,c, not a range")
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
        raise ConfigError(name, f"{values!r} is not a range low:high or low:high:log")
    low, high = (_checked(name, p, base) for p in parts[:2])
    if not low < high:
        raise ConfigError(name, f"the range {values!r} must go from low to high")
    if log and low <= 0:
        raise ConfigError(name, f"a log range must start above 0, not at {_plain(low)}")
    return Vary(name, low=low, high=high, log=log)


def _choices(name: str, texts: list[str], base: GANConfig, how: str) -> Vary:
    texts = [t.strip() for t in texts]
    if len(texts) > MAX_LIST_ITEMS:
        raise ConfigError(name, f"lists {len(texts):,} choices; at most {MAX_LIST_ITEMS} are allowed")
    if any(not t for t in texts):
        raise ConfigError(name, f"has an empty choice; give {how}")
    choices = []
    for t in texts:
        value = _checked(name, t, base)
        if FIELD_TYPES[name] == "list[int]":
            value = ",".join(map(str, value))  # Optuna stores numbers and strings: the layers as their text
        if value not in choices:
            choices.append(value)
    if len(choices) < 2:
        raise ConfigError(name, f"give at least two different values to compare ({how})")
    return Vary(name, choices=tuple(choices))


def _checked(name: str, text: str, base: GANConfig):
    """The value as the config holds it, checked by the config's validation against the base config."""
    return getattr(base.replace(**{name: text}), name)


def _plain(value) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return str(value)
