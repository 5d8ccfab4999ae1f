"""Failure-mode lessons.

A `Lesson` is a one-click setup that makes a GAN fail in one known way on the embedded data within a
minute or two on two CPU cores, with what to watch for, why it happens, and the fix: the few settings
that "try the fix" changes. `check()` trains one and verifies, with explorer.diagnosis, that its failure
really happens (`python -m explorer lessons`).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import presets
from .config import Budget, ConfigError, GANConfig
from .diagnosis import diagnose
from .quality import Reading
from .trainer import Trainer

ALL_DIGITS = list(range(10))


# ---- the lessons -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    summary: str  # one line for the lesson's button
    settings: dict  # over the `default` preset
    steps: int
    expect: str  # the diagnosis kind the lesson shows (check() looks for it)
    watch: str  # markdown: what to watch for on the charts, and why it happens
    fix: dict  # exactly the settings "try the fix" changes
    fix_text: str  # markdown: what the fix changes and why it helps
    fixed_expect: str = "healthy"

    def config(self) -> GANConfig:
        return presets.get("default").config(**self.settings)

    def fixed_config(self) -> GANConfig:
        return self.config().replace(**self.fix)

    @property
    def budget(self) -> Budget:
        return Budget("steps", self.steps)

    def params(self) -> dict[str, str]:
        """The Train page's link to this lesson."""
        return {"lesson": self.name}


LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in [
    Lesson(
        "healthy", "The healthy baseline", "The default setup on one digit: what a good run looks like.",
        settings=dict(digits=[3]), steps=2500, expect="healthy", fix={}, fix_text="",
        watch=("Watch noise turn into 3s within a minute. **Loss**: neither D's nor G's wins for long; they "
               "wobble around each other. **D's verdicts**: D(x) stays above D(G(z)), but neither runs to 1 or 0. "
               "**Quality meter**: the share that looks like a real 3 climbs towards 90% and the Fréchet distance "
               "falls towards the dotted floor, while variety stays near real digits'. **D's histograms** keep "
               "overlapping: D cannot cleanly tell G's 3s from real ones. Every other lesson breaks one of these."),
    ),
    Lesson(
        "collapse", "Mode collapse", "Four digits asked for, one delivered: D learns ten times faster than G.",
        settings=dict(digits=[0, 1, 2, 3], d_lr=1e-3, g_lr=1e-4), steps=3000, expect="collapse",
        fix=dict(g_lr=1e-3),
        fix_text=("Give G the same learning rate as D, 1e-3. G then moves as fast as D does, so it can follow "
                  "D across all four digits instead of settling on the one that is easiest to draw."),
        watch=("G must draw 0, 1, 2 and 3, but D learns ten times faster. **Mode-collapse meter**: once digits "
               "appear, nearly all are one digit (usually 1, the easiest), and the other bars stay empty; a "
               "warning names them. **Fréchet distance** stalls far above the floor although the share of "
               "real-looking samples rises. **D's verdicts**: D(G(z)) stays near 0. Why: a slow G finds one kind "
               "of picture that D still lets through and keeps drawing it; D rejects everything else before G "
               "can get there."),
    ),
    Lesson(
        "saturation", "D overpowers G", "The original minimax loss with a strong D: G's gradient vanishes.",
        settings=dict(digits=[3], loss="minimax", d_lr=1e-3, g_lr=1e-4, d_steps=3), steps=2000, expect="d_wins",
        fix=dict(loss="nonsaturating"),
        fix_text=("Switch to the non-saturating loss: G maximises log D(G(z)) instead of minimising "
                  "log(1 − D(G(z))). The goal is the same, but the gradient is strongest exactly when D rejects "
                  "G's samples, so G learns even from a winning D."),
        watch=("D takes three steps for each of G's and learns ten times faster. **D's verdicts**: within "
               "seconds D(x) runs to 1 and D(G(z)) to 0, and they stay there. **Gradient norms**: G's falls far "
               "below D's. **D's histograms**: two separate spikes, no overlap. **Samples** stay blobs. Why: with "
               "the minimax loss G minimises log(1 − D(G(z))), which is flat when D(G(z)) is near 0: the surer D "
               "is, the less G learns."),
    ),
    Lesson(
        "lr-too-high", "Learning rate too high", "Both learning rates at 0.02, forty times the default.",
        settings=dict(digits=[3], g_lr=0.02, d_lr=0.02), steps=2000, expect="exploding",
        fix=dict(g_lr=5e-4, d_lr=5e-4),
        fix_text=("Set both learning rates back to 5e-4. Smaller steps let each network follow the slope "
                  "instead of jumping over it."),
        watch=("Each Adam step moves the weights so far that the game never settles. **Loss**: wild swings, "
               "then G's loss shoots up by orders of magnitude. **Gradient norms** explode (log scale). "
               "**Samples** flicker, then turn to static; the real-looking share, if it rises at first, falls to 0 "
               "and stays there. Why: a step that big overshoots every slope, and each network's overshoot throws "
               "the other off course."),
    ),
    Lesson(
        "small-g", "Generator too small", "G with no hidden layer: its samples stay static.",
        settings=dict(digits=[3], g_layers=[]), steps=2000, expect="d_wins",
        fix=dict(g_layers=[256, 512]),
        fix_text=("Give G two hidden layers of 256 and 512 units, as in the default. A deeper G can bend noise "
                  "into strokes and loops; D then has to work to tell them apart."),
        watch=("G maps noise straight to pixels through one linear layer, so each sample is a random mix of the "
               "same fixed pictures, one per coordinate of z: the samples stay grainy static and only slowly "
               "gather a faint blob. "
               "**D's verdicts**: D soon tells every fake from every real digit (D(G(z)) near 0). "
               "**Gradient norms**: unlike the minimax lesson, G's gradient stays large: G is told how to improve "
               "but cannot. **Fréchet distance** stalls far above the floor and the real-looking share stays low."),
    ),
]}


def get(name: str) -> Lesson:
    try:
        return LESSONS[name]
    except KeyError:
        raise ConfigError("lesson", f"{name!r} is not one of {', '.join(LESSONS)}") from None


def seen(kind: str, history: dict[str, list[float]], readings: list[Reading], digits: list[int], loss: str,
         changes=(), times: int = 2) -> int | None:
    """The step at which `diagnose` first gave `kind` at `times` readings in a row, replaying the run; else None."""
    streak = 0
    for i, r in enumerate(readings):
        upto = sum(1 for s in history.get("step", []) if s <= r.step)
        cut = {k: v[:upto] for k, v in history.items()}
        made = [c for c in changes if c.step <= r.step]
        streak = streak + 1 if diagnose(cut, readings[: i + 1], digits, loss, made).kind == kind else 0
        if streak >= times:
            return r.step
    return None


@dataclass(frozen=True)
class Outcome:
    lesson: str
    fixed: bool  # the lesson's fix was applied
    expect: str
    seen_at_step: int | None  # when `expect` first held for two readings in a row
    seen_at_seconds: float | None  # training seconds at that reading
    steps: int
    seconds: float
    final: str  # the diagnosis at the end

    @property
    def happened(self) -> bool:
        return self.seen_at_step is not None


def check(lesson: Lesson, fixed: bool = False, data=None) -> Outcome:
    """Train a lesson (or its fix) with the quality meter and say whether its expected diagnosis shows."""
    cfg = lesson.fixed_config() if fixed else lesson.config()
    expect = lesson.fixed_expect if fixed else lesson.expect
    trainer = Trainer(cfg, data, measure=True)
    trainer.run(lesson.budget)
    state = trainer.state()
    history = state.history.columns()
    step = seen(expect, history, state.readings, cfg.digits, cfg.loss, state.changes)
    at = next((r.seconds for r in state.readings if r.step == step), None)
    final = diagnose(history, state.readings, cfg.digits, cfg.loss, state.changes).kind
    return Outcome(lesson.name, fixed, expect, step, at, state.step, state.seconds, final)
