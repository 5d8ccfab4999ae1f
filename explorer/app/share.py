"""A whole setup as URL query parameters and back, without Streamlit.

A link names a preset, the digits and the training length, plus every config field that differs
from the preset: `?preset=default&digits=3&steps=3000&g_lr=0.001`. Decoding never raises: a bad
value is skipped with a warning and the preset's value stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import lessons, presets
from ..config import Budget, ConfigError, GANConfig, live_changes_text
from .form_values import DEFAULT_BUDGET, LENGTH_KINDS

DEFAULT_PRESET = "default"
# Streamlit's own parameters, presenter mode's flag, and the session token (never part of a setup or its link)
IGNORED = ("embed", "embed_options", "present", "s", "class")  # class: a student's class (explorer.app.classes)


@dataclass
class Decoded:
    preset: str
    cfg: GANConfig
    budget: Budget
    warnings: list[str] = field(default_factory=list)
    lesson: str = ""  # the failure-mode lesson the link opens, if any


def to_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return live_changes_text(value)
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def encode(preset: str, cfg: GANConfig, budget: Budget, lesson: str = "") -> dict[str, str]:
    """Query parameters that rebuild `cfg` and `budget` from `preset`, or from `lesson`'s setup when the setup is
    that lesson's (or its fix, or another change of it): the link then opens the lesson, card and all."""
    if lesson in lessons.LESSONS:
        params, base = {"lesson": lesson}, lessons.get(lesson).config().to_dict()
        if budget != lessons.get(lesson).budget:
            params[budget.kind] = to_text(budget.amount)
    else:
        base = presets.get(preset).config().to_dict() if preset in presets.PRESETS else GANConfig().to_dict()
        params = {"preset": preset if preset in presets.PRESETS else DEFAULT_PRESET,
                  "digits": to_text(cfg.digits), budget.kind: to_text(budget.amount)}
    for name, value in cfg.to_dict().items():
        if value != base[name] and (name != "digits" or lesson):
            params[name] = to_text(value)
    return params


def decode(params: dict[str, str]) -> Decoded:
    """The setup a link describes; every problem becomes a warning and a fallback, never an error."""
    params = {str(k): str(v) for k, v in params.items() if k not in IGNORED}
    warnings: list[str] = []
    name = params.pop("preset", DEFAULT_PRESET).strip() or DEFAULT_PRESET
    if name not in presets.PRESETS:
        warnings.append(f"preset: {name!r} is not one of {', '.join(presets.PRESETS)}; using {DEFAULT_PRESET!r}.")
        name = DEFAULT_PRESET
    cfg = presets.get(name).config()
    lesson = params.pop("lesson", "").strip().lower()  # "Collapse" and "COLLAPSE" open the lesson too
    if lesson:  # a lesson's setup, which the other parameters may still change
        if lesson in lessons.LESSONS:
            cfg, name = lessons.get(lesson).config(), DEFAULT_PRESET
            if not any(params.get(kind) for kind in LENGTH_KINDS):
                params["steps"] = str(lessons.get(lesson).steps)
        else:
            warnings.append(f"lesson: {lesson!r} is not one of {', '.join(lessons.LESSONS)}; ignored.")
            lesson = ""
    budget = _budget(params, warnings)
    known = set(cfg.to_dict())
    for key, value in params.items():
        if key not in known:
            warnings.append(f"{key}: not a setting this app knows; ignored.")
            continue
        if key == "digits" and value.strip().lower() == "all":
            value = "0,1,2,3,4,5,6,7,8,9"
        try:
            cfg = cfg.replace(**{key: value})
        except ConfigError as e:
            warnings.append(f"{e} — kept {to_text(getattr(cfg, key))!r}.")
    return Decoded(name, cfg, budget, warnings, lesson)


def _budget(params: dict[str, str], warnings: list[str]) -> Budget:
    values = {k: params.pop(k).strip() for k in LENGTH_KINDS if k in params}
    given = [k for k in LENGTH_KINDS if values.get(k)]  # an empty value counts as not given
    if len(given) > 1:
        warnings.append(f"training length: give one of {', '.join(given)}; using {given[0]}.")
    if not given:
        return DEFAULT_BUDGET
    kind, text = given[0], values[given[0]]
    try:
        amount = float(text)
        if kind != "seconds":
            if not amount.is_integer():
                raise ValueError
            amount = int(amount)
        return Budget(kind, amount)
    except (ValueError, OverflowError, ConfigError):
        warnings.append(f"{kind}: {text!r} is not a valid training length; "
                        f"using {to_text(DEFAULT_BUDGET.amount)} {DEFAULT_BUDGET.kind}.")
        return DEFAULT_BUDGET


@dataclass(frozen=True)
class QuickStart:
    title: str
    description: str
    params: dict


QUICK_STARTS = (
    QuickStart("Draw 3s in a minute", "The default preset learns one digit: watch noise turn into 3s.",
               {"preset": "default", "digits": "3", "steps": "3000"}),
    QuickStart("All ten digits, on request", "A conditional GAN: one row of samples per digit, 0 to 9.",
               {"preset": "default", "digits": "0,1,2,3,4,5,6,7,8,9", "conditional": "true", "steps": "6000"}),
    QuickStart("The classic NumPy GAN", "One hidden layer each and plain SGD: slower, and instructive.",
               {"preset": "numpy-tutorial", "digits": "3", "steps": "3000"}),
)
