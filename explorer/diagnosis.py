"""What a run is doing now, in words: `diagnose()` reads a run's loss history and its quality-meter readings and
names it (starting, learning, healthy, getting worse, mode collapse, D winning outright, exploding, stuck), with
the numbers behind it (`detail`) and one sentence a class understands (`plain`, what presenter mode says). The
Train page shows it as its "Now:" caption; explorer.lessons uses it to check that each lesson's failure happens.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from . import quality
from .losses import LOSSES
from .quality import Reading

RECENT_STEPS = 250  # the history that stands for "now": enough steps to average out single ones
WORSE_FID = 1.35  # a Fréchet distance this many times the run's best, twice in a row, is getting worse
WORSE_G_LOSS = 2.0  # G's recent loss this many times its loss before (BCE losses): D pulls ahead


@dataclass(frozen=True)
class Diagnosis:
    kind: str  # starting, learning, healthy, worsening, collapse, d_wins, exploding, stalled
    headline: str  # a few words for the big caption
    detail: str  # one or two sentences: the numbers behind it, the step they were read at, and what they mean
    plain: str = ""  # the one thing that matters now, in words a class understands (presenter mode says only this)


def diagnose(history: dict[str, list[float]], readings: list[Reading], digits: list[int], loss: str,
             changes=()) -> Diagnosis:
    """What the run is doing now: from the history of its last RECENT_STEPS steps, the latest quality reading,
    and how both compare with earlier in the run (`changes`: the live changes made, to name the likely cause)."""
    if not readings or not history.get("step"):
        return Diagnosis("starting", "Starting", "G draws noise; the first readings come in a few seconds.",
                         "G draws noise: it has not learned anything yet.")
    now, before = _window(history, 0), _window(history, RECENT_STEPS)
    r = readings[-1]
    probabilities = LOSSES[loss].probabilities
    what = _what(r, digits)
    if now["g_grad"] > 100 or abs(now["g_loss"]) > 50:
        return Diagnosis("exploding", "Exploding: the steps are too big",
                         f"G's loss is {_number(now['g_loss'])} and its gradient norm {_number(now['g_grad'])} over "
                         f"the last {RECENT_STEPS} steps: every step overshoots, and the samples turn to static. "
                         f"{what}", "Every update overshoots, so the samples turn to static.")
    d_wins = probabilities and history["step"][-1] >= 100 and now["d_fake"] < 0.1 and now["d_real"] > 0.9
    verdicts = (f"Over the last {RECENT_STEPS} steps of training batches, D gave real digits P(real) = "
                f"{now['d_real']:.2f} on average and fakes {now['d_fake']:.2f} (its histograms below score a fixed "
                f"batch with D in evaluation mode: fakes there have a median of {r.d_fake.median().item():.2f}).")
    warning = quality.collapse_warning(r, digits)
    if warning:
        return Diagnosis("collapse", "Mode collapse", f"{warning} {what}", _collapse_words(r, digits))
    worse = _worsening(readings, now, before, probabilities)
    if worse:
        cause = _cause(changes)
        return Diagnosis("worsening", "Getting worse", f"{worse}{cause} {what}",
                         "The samples look less like real digits than they did a little while ago"
                         + (f", since {changes[-1].what}." if changes else "."))
    if r.looks_real >= 0.7 or (r.looks_real >= 0.5 and r.fid <= 10 * r.fid_floor):  # real digits, whoever wins
        balance = ("D still wins the game, but G learns from it anyway." if d_wins else "D and G are balanced.")
        return Diagnosis("healthy", "Healthy: digits appear",
                         f"{what} {verdicts} {balance}" if probabilities else what,
                         f"{r.looks_real:.0%} of the samples look like {_real_words(digits)}: G has learned to "
                         f"draw them without ever seeing one.")
    if d_wins:
        why = ("With the saturating minimax loss, G's gradient all but vanishes when D is this sure "
               f"(G gradient norm {now['g_grad']:.2g}), so G hardly learns." if loss == "minimax" else
               "G still gets a gradient, but D rejects whatever it draws.")
        return Diagnosis("d_wins", "D is winning outright", f"{verdicts} {why}",
                         "D spots every fake, so G gets almost nothing to learn from.")
    if _stalled(readings):
        return Diagnosis("stalled", "Stuck: quality stopped improving",
                         f"{what} Neither the real-looking share nor the Fréchet distance has improved over the last "
                         f"{readings[-1].seconds - readings[-4].seconds:.0f} s of training.",
                         f"The samples have not improved for {readings[-1].seconds - readings[-4].seconds:.0f} "
                         f"seconds.")
    return Diagnosis("learning", "Learning", what, _learning_words(r, digits))


def _window(history: dict[str, list[float]], ago: int) -> dict[str, float]:
    """Mean metrics over the RECENT_STEPS steps that ended `ago` steps before the last (at least 5 rows)."""
    steps, last = history["step"], history["step"][-1]
    rows = [i for i, s in enumerate(steps) if last - ago - RECENT_STEPS < s <= last - ago]
    if len(rows) < 5:
        end = max(1, len([s for s in steps if s <= last - ago]))
        rows = list(range(max(0, end - 5), end))
    names = ("g_loss", "d_loss", "d_real", "d_fake", "g_grad")
    return {k: statistics.fmean(history[k][i] for i in rows) for k in names}


def _worsening(readings: list[Reading], now: dict, before: dict, probabilities: bool) -> str:
    """Why the samples are getting worse than they were, or "" when they are not."""
    if len(readings) >= 4:
        best = min(readings[:-2], key=lambda r: r.fid)
        if all(r.fid > WORSE_FID * best.fid and r.fid > 2 * r.fid_floor for r in readings[-2:]):
            return (f"The Fréchet distance is {readings[-1].fid:,.1f} at step {readings[-1].step:,}, up from "
                    f"{best.fid:,.1f} at step {best.step:,}: the samples drift away from real digits.")
    if probabilities and now["g_loss"] > max(WORSE_G_LOSS * before["g_loss"], 2.0):
        return (f"G's loss is {now['g_loss']:.2f} over the last {RECENT_STEPS} steps, up from {before['g_loss']:.2f} "
                f"before them, while D gives fakes {now['d_fake']:.2f}: D is pulling ahead and G's samples suffer.")
    return ""


def _cause(changes) -> str:
    """The last live change made: the likely cause of the trouble."""
    if not changes:
        return ""
    last = changes[-1]
    return f" It came after a live change: {last.what}, at step {last.step:,}."


def _number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _what(r: Reading, digits: list[int]) -> str:
    which = f"a {digits[0]}" if len(digits) == 1 else "one of the chosen digits"
    real = f"a real {digits[0]}" if len(digits) == 1 else "real ones"
    return (f"At step {r.step:,}, {r.read_as:.0%} of samples read as {which} and {r.looks_real:.0%} look like "
            f"{real}; Fréchet distance {r.fid:,.1f} (real digits score {r.fid_floor:.1f}).")


def _learning_words(r: Reading, digits: list[int]) -> str:
    """How far G has come, in the words of the grid beside it: a grid of mostly one digit is said to be so before
    the meter calls it collapse (which waits for real-looking samples)."""
    if r.read_as < 0.05:
        return f"G still draws noise: hardly any sample reads as {_which_words(digits)} yet."
    top = max(digits, key=lambda d: r.histogram[d])
    mostly = f", mostly {top}s ({r.histogram[top]:.0%})" if len(digits) > 1 and r.histogram[top] >= 0.5 else ""
    return (f"{r.read_as:.0%} of the samples already read as {_which_words(digits)}{mostly}, and "
            f"{r.looks_real:.0%} look real.")


def _which_words(digits: list[int]) -> str:
    return f"a {digits[0]}" if len(digits) == 1 else "one of the chosen digits"


def _real_words(digits: list[int]) -> str:
    return f"real {digits[0]}s" if len(digits) == 1 else "real digits"


def _collapse_words(r: Reading, digits: list[int]) -> str:
    """Mode collapse as a class sees it in the grid: which digits G still draws, or that its samples look alike."""
    if r.looks_real <= 0 or len(digits) == 1:
        return "G draws nearly the same picture again and again: it found one that fools D, and stopped exploring."
    hist, gone = quality.real_looking_shares(r), quality.vanished(r, digits)
    kept = sorted((d for d in digits if d not in gone), key=lambda d: -hist[d])
    if not kept or not gone:
        return "G draws nearly the same picture again and again: it found one that fools D, and stopped exploring."
    return (f"G now draws only {quality.and_list(f'{d}s' for d in kept)}; {quality.and_list(gone)} "
            f"{'has' if len(gone) == 1 else 'have'} vanished. It found fakes that fool D and stopped exploring.")


def _stalled(readings: list[Reading]) -> bool:
    """Four readings over 30 s or more, and the last three no better than the one before them."""
    if len(readings) < 4 or readings[-1].seconds - readings[-4].seconds < 30:
        return False
    before, last = readings[-4], readings[-3:]
    return max(r.looks_real for r in last) < before.looks_real + 0.05 and min(r.fid for r in last) > 0.9 * before.fid
