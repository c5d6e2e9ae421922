"""Was a self-improvement run progress or regress? A rule-based decision over per-iteration metrics.

Wu et al. 2024 ("Progress or Regress? Self-Improvement Reversal in Post-training") show that iterative
post-training can raise in-distribution pass@1 while the model gets worse in ways pass@1 hides; they
call this *self-improvement reversal*. The verdict compares the starting model (iteration 0) with the
last iteration (or the one with the best in-distribution pass@1) and checks each hidden signal:

    coverage_stalled          coverage@N rose by less than `coverage_min_rise` (selection, not ability)
    lexical/semantic/logical_diversity_drop
                              a diversity of the samples fell by more than `diversity_max_drop` (relative)
    ood_pass@1_drop           OOD greedy pass@1 fell by more than `ood_max_drop`
    disparity_growth          the easy-hard disparity rose by more than `disparity_max_growth`

Labels (the `id_pass@1_gain` signal says whether pass@1 rose by at least `min_pass1_gain`):

    progress   pass@1 rose and no hidden signal fired
    reversal   pass@1 rose but at least one hidden signal fired: the gain hides a regression
    regress    pass@1 fell by at least `min_pass1_gain`, or stayed within it while diversity, OOD pass@1
               or disparity got worse (a stalled coverage alone does not count when pass@1 is flat)
    flat       pass@1 stayed within `min_pass1_gain` and nothing got worse

Is the change real? Every comparison gets a paired 95% interval over problems (the paired bootstrap of
selfimprove.metrics.intervals, seeded; greedy pass@1 also gets the exact McNemar p-value). A signal fires
only when its change passes its threshold *and* its interval excludes no change (for coverage_stalled:
the whole interval lies below `coverage_min_rise`); otherwise its sentence says "within noise" with the
interval. Runs whose metrics.json has no `per_problem` values (written before intervals existed) are
judged on thresholds alone, and the sentences say there is no interval.

Right answer, wrong reasoning does not change the label but is named (`notes`, and the summary's last
sentence) when at least `wrong_step_note` of an iteration's training rows had a wrong step.

A signal whose numbers are missing (e.g. no OOD split, semantic diversity not computed) does not fire,
and its sentence says it was not measured. Input: one metrics dict per iteration, 0..T, each holding
one `summarize()` dict per split (selfimprove.metrics.summary).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from selfimprove.errors import UserError
from selfimprove.metrics.intervals import Interval
from selfimprove.metrics.paired import (
    PerProblem,
    Resampling,
    coverage_change,
    disparity_change,
    diversity_change,
    greedy_change,
)
from selfimprove.metrics.table import METRICS

Label = Literal["progress", "reversal", "regress", "flat"]


class VerdictConfig(BaseModel):
    """Thresholds of the verdict. Absolute thresholds are fractions of problems (0.01 = 1 point)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id_split: str = Field("test", description="split whose greedy pass@1 is the headline (in-distribution)")
    ood_split: str = Field("ood", description="out-of-distribution split for the OOD pass@1 signal")
    compare_to: Literal["last", "best"] = Field(
        "last", description="compare iteration 0 with the last iteration, or with the best by in-distribution pass@1"
    )
    min_pass1_gain: float = Field(
        0.01, ge=0, le=1, description="absolute pass@1 change that counts as a rise (or, negated, as a fall)"
    )
    coverage_min_rise: float = Field(
        0.01, ge=0, le=1, description="coverage@N rising by less than this counts as flat (selection, not new ability)"
    )
    diversity_max_drop: float = Field(
        0.10, ge=0, le=1, description="relative drop of a diversity metric that fires its signal (0.10 = 10%)"
    )
    diversity_group: Literal["correct", "incorrect"] = Field(
        "correct", description="whose diversity is judged: the correct samples (as in the paper) or the incorrect"
    )
    lexical_metric: Literal["distinct-1", "distinct-2", "distinct-3", "distinct-4"] = Field(
        "distinct-4", description="Distinct-n used for the lexical diversity signal"
    )
    ood_max_drop: float = Field(0.01, ge=0, le=1, description="absolute OOD pass@1 fall that fires its signal")
    disparity_max_growth: float = Field(
        0.05, ge=0, description="absolute rise of the easy-hard disparity that fires its signal"
    )
    confidence: float = Field(
        0.95, gt=0, lt=1, description="level of the paired bootstrap interval of each change; a signal fires only "
                                      "when its interval excludes no change"
    )
    n_resamples: int = Field(2000, ge=100, description="bootstrap resamples of the problems per interval")
    bootstrap_seed: int = Field(0, description="seed of the bootstrap (fixed, so a rebuilt report is the same)")
    wrong_step_note: float = Field(
        0.05, ge=0, le=1, description="share of training rows with a wrong step (right answer, wrong reasoning) "
                                      "from which the verdict names it"
    )


@dataclass
class Signal:
    """One check: its numbers at the two compared iterations, whether it fired, and a plain sentence."""

    name: str
    fired: bool
    before: float | None
    after: float | None
    change: float | None
    threshold: float
    sentence: str
    low: float | None = None  # paired interval of the change (None: per-problem values not recorded)
    high: float | None = None
    p_value: float | None = None  # exact McNemar test (greedy pass@1 only)
    noise: bool = False  # the change passed its threshold but not its interval


@dataclass
class Verdict:
    """The verdict of a run: label, a one-line summary, and every signal with its numbers."""

    label: Label
    summary: str
    baseline: int
    compared: int
    signals: list[Signal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # caveats that do not change the label (wrong steps)

    def fired(self) -> list[str]:
        return [s.name for s in self.signals if s.fired]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _value(metrics: dict[str, Any], split: str, *path: str) -> float | None:
    node: Any = metrics.get(split)
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def _pts(x: float) -> str:
    return f"{x * 100:+.1f} points"


def _span(before: float, after: float, a: int, b: int, pct: bool = True) -> str:
    fmt = (lambda v: f"{v:.1%}") if pct else (lambda v: f"{v:.3g}")
    return f"from {fmt(before)} at iteration {a} to {fmt(after)} at iteration {b}"


def _missing(name: str, what: str, threshold: float) -> Signal:
    return Signal(name, False, None, None, None, threshold, f"{what} was not measured at both iterations; not judged.")


# The metrics the signals read, and which way each is better (selfimprove.metrics.table).
PASS1, COVERAGE, DIVERSITY, DISPARITY = (METRICS[k] for k in ("greedy_pass@1", "coverage@N", "diversity", "disparity"))
EPS = 1e-9  # so that a change of exactly a threshold, up to float rounding, counts as reaching it
HIDDEN = {
    "coverage_stalled": "coverage@N did not grow",
    "lexical_diversity_drop": "lexical diversity fell",
    "semantic_diversity_drop": "semantic diversity fell",
    "logical_diversity_drop": "logical diversity fell",
    "ood_pass@1_drop": "OOD pass@1 fell",
    "disparity_growth": "the easy-hard disparity grew",
}


@dataclass(frozen=True)
class Pair:
    """The two iterations being compared and their metrics."""

    a: int
    b: int
    before: dict[str, Any]
    after: dict[str, Any]

    def values(self, split: str, *path: str) -> tuple[float | None, float | None]:
        return _value(self.before, split, *path), _value(self.after, split, *path)

    def per_problem(self, split: str) -> tuple[PerProblem, PerProblem] | None:
        """Both iterations' per-problem values of a split (None when either lacks them: older runs)."""
        a, b = (m.get(split, {}).get("per_problem") if isinstance(m.get(split), dict) else None
                for m in (self.before, self.after))
        return (a, b) if isinstance(a, dict) and isinstance(b, dict) else None


def _resampling(cfg: VerdictConfig) -> Resampling:
    return Resampling(cfg.n_resamples, cfg.confidence, cfg.bootstrap_seed)


def _ci(iv: Interval | None, scale: float = 100.0, unit: str = " points", digits: int = 1) -> str:
    """'95% interval of the change [a, b] points', or why there is none."""
    if iv is None:
        return "no interval: per-problem values not recorded"
    return f"{iv.confidence:.0%} interval of the change [{iv.low * scale:+.{digits}f}, {iv.high * scale:+.{digits}f}]{unit}"


def _noise(direction: int, iv: Interval | None) -> bool:
    """Whether a change in `direction` (+1 rise, -1 fall) is within noise: its interval does not exclude 0
    on that side. Without an interval the threshold alone decides (nothing is within noise)."""
    if iv is None:
        return False
    return not (iv.low > 0 if direction > 0 else iv.high < 0)


def _bounds(iv: Interval | None) -> tuple[float | None, float | None]:
    return (iv.low, iv.high) if iv is not None else (None, None)


def pass1_signal(p: Pair, cfg: VerdictConfig) -> Signal:
    """Whether in-distribution greedy pass@1 rose by at least `min_pass1_gain` (the apparent progress)."""
    x, y = p.values(cfg.id_split, PASS1.key)
    if x is None or y is None:
        return _missing("id_pass@1_gain", "in-distribution greedy pass@1", cfg.min_pass1_gain)
    d = y - x
    pp = p.per_problem(cfg.id_split)
    iv, p_value = greedy_change(*pp, _resampling(cfg)) if pp else (None, None)
    rose, fell = PASS1.better(d) >= cfg.min_pass1_gain - EPS, PASS1.worse(d) >= cfg.min_pass1_gain - EPS
    noise = (rose or fell) and _noise(-PASS1.worse_way if rose else PASS1.worse_way, iv)
    trend = ("changed within noise" if noise else "rose" if rose else "fell" if fell
             else f"stayed within {cfg.min_pass1_gain * 100:.1f} points")
    exact = f"; exact McNemar p = {p_value:.3g}" if p_value is not None else ""
    sentence = (f"In-distribution ({cfg.id_split}) greedy pass@1 {trend}: {_span(x, y, p.a, p.b)} ({_pts(d)}; "
                f"{_ci(iv)}{exact}).")
    return Signal("id_pass@1_gain", rose and not noise, x, y, d, cfg.min_pass1_gain, sentence, *_bounds(iv), p_value, noise)


def pass1_fell(signal: Signal, cfg: VerdictConfig) -> bool:
    """Whether the pass@1 signal shows a fall: past the threshold and, when there is an interval, outside it."""
    if signal.change is None or signal.change > -cfg.min_pass1_gain + EPS:
        return False
    return signal.high is None or signal.high < 0


def coverage_signal(p: Pair, cfg: VerdictConfig) -> Signal:
    """Whether coverage@N failed to rise by `coverage_min_rise`: gains without new problems reached."""
    x, y = p.values(cfg.id_split, COVERAGE.key)
    n = int(_value(p.after, cfg.id_split, "samples_per_problem") or 0)
    what = f"coverage@{n or 'N'} (problems with at least one correct sample)"
    if x is None or y is None:
        return _missing("coverage_stalled", what, cfg.coverage_min_rise)
    d = y - x
    pp = p.per_problem(cfg.id_split)
    iv = coverage_change(*pp, _resampling(cfg)) if pp else None
    stalled = COVERAGE.better(d) < cfg.coverage_min_rise - EPS
    # "did not grow" is established only when the whole interval lies below the rise that counts
    noise = stalled and iv is not None and iv.high >= cfg.coverage_min_rise
    why = (
        "within noise, so it is not established that coverage stalled" if noise
        else f"it did not rise by {cfg.coverage_min_rise * 100:.1f} points, so the model reaches no new problems"
        if stalled
        else "the model reaches problems it could not reach before"
    )
    sentence = f"In-distribution {what} went {_span(x, y, p.a, p.b)} ({_pts(d)}; {_ci(iv)}): {why}."
    return Signal("coverage_stalled", stalled and not noise, x, y, d, cfg.coverage_min_rise, sentence, *_bounds(iv), noise=noise)


def diversity_signal(p: Pair, cfg: VerdictConfig, kind: str, key: str) -> Signal:
    """Whether one diversity of the samples fell by more than `diversity_max_drop`, relative to its start."""
    name = f"{kind}_diversity_drop"
    measure = {"semantic": "1 - mean pairwise cosine similarity", "logical": "distinct equation sets"}.get(key, key)
    what = f"{kind.capitalize()} diversity ({measure}, {cfg.diversity_group} samples)"
    x, y = p.values(cfg.id_split, DIVERSITY.key, cfg.diversity_group, key)
    if x is None or y is None:
        return _missing(name, what, cfg.diversity_max_drop)
    if x <= 0:
        return Signal(name, False, x, y, None, cfg.diversity_max_drop, f"{what} was 0 at iteration {p.a}; not judged.")
    rel = (y - x) / x
    pp = p.per_problem(cfg.id_split)
    iv = diversity_change(*pp, cfg.diversity_group, key, _resampling(cfg)) if pp else None
    dropped = DIVERSITY.worse(rel) > cfg.diversity_max_drop + EPS
    noise = dropped and _noise(DIVERSITY.worse_way, iv)
    verdict = "within noise, though more than" if noise else "more than" if dropped else "not more than"
    sentence = (
        f"{what} went {_span(x, y, p.a, p.b, pct=False)} ({rel:+.1%} relative; {_ci(iv, unit='%')}; "
        f"{verdict} the {cfg.diversity_max_drop:.0%} drop that counts)."
    )
    return Signal(name, dropped and not noise, x, y, rel, cfg.diversity_max_drop, sentence, *_bounds(iv), noise=noise)


def ood_signal(p: Pair, cfg: VerdictConfig) -> Signal:
    """Whether OOD greedy pass@1 fell by more than `ood_max_drop`."""
    x, y = p.values(cfg.ood_split, PASS1.key)
    what = f"Out-of-distribution ({cfg.ood_split}) greedy pass@1"
    if x is None or y is None:
        return _missing("ood_pass@1_drop", what, cfg.ood_max_drop)
    d = y - x
    pp = p.per_problem(cfg.ood_split)
    iv, _ = greedy_change(*pp, _resampling(cfg)) if pp else (None, None)
    dropped = PASS1.worse(d) > cfg.ood_max_drop + EPS
    noise = dropped and _noise(PASS1.worse_way, iv)
    tail = ": within noise." if noise else ": the model generalizes worse." if dropped else "."
    sentence = f"{what} went {_span(x, y, p.a, p.b)} ({_pts(d)}; {_ci(iv)}){tail}"
    return Signal("ood_pass@1_drop", dropped and not noise, x, y, d, cfg.ood_max_drop, sentence, *_bounds(iv), noise=noise)


def disparity_signal(p: Pair, cfg: VerdictConfig) -> Signal:
    """Whether the easy-hard disparity of in-distribution pass@1 grew by more than `disparity_max_growth`."""
    x, y = p.values(cfg.id_split, DISPARITY.key)
    what = "The easy-hard disparity ((pass@1 easiest - pass@1 hardest) / pass@1 easiest)"
    if x is None or y is None:
        return _missing("disparity_growth", what, cfg.disparity_max_growth)
    d = y - x
    pp = p.per_problem(cfg.id_split)
    iv = disparity_change(*pp, _resampling(cfg)) if pp else None
    grew = DISPARITY.worse(d) > cfg.disparity_max_growth + EPS
    noise = grew and _noise(DISPARITY.worse_way, iv)
    tail = (": within noise." if noise else ": gains went to easy problems, the hardest fell behind." if grew
            else ".")
    sentence = f"{what} went {_span(x, y, p.a, p.b, pct=False)} ({d:+.3f}; {_ci(iv, 1.0, '', 3)}){tail}"
    return Signal("disparity_growth", grew and not noise, x, y, d, cfg.disparity_max_growth, sentence, *_bounds(iv), noise=noise)


def _target(history: list[dict[str, Any]], cfg: VerdictConfig) -> int:
    """The iteration compared with iteration 0: the last, or the best by in-distribution pass@1 (earliest on ties)."""
    if cfg.compare_to == "last":
        return len(history) - 1
    scores = {i: _value(history[i], cfg.id_split, PASS1.key) for i in range(1, len(history))}
    return max(scores, key=lambda i: (scores[i] if scores[i] is not None else -1.0, -i))


def _listing(signals: list[Signal]) -> str:
    """'a', 'a and b', 'a, b and c' from the signals' plain-language names."""
    names = [HIDDEN[s.name] for s in signals]
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _label(signals: list[Signal], cfg: VerdictConfig) -> tuple[Label, str]:
    pass1, hidden = signals[0], [s for s in signals[1:] if s.fired]
    named = _listing(hidden)
    change = _pts(pass1.change or 0.0)
    if pass1.fired:
        if hidden:
            return "reversal", f"Self-improvement reversal: in-distribution pass@1 rose ({change}), but {named}."
        return "progress", f"Progress: in-distribution pass@1 rose ({change}) and no reversal signal fired."
    if pass1_fell(pass1, cfg):
        extra = f"; also {named}" if hidden else ""
        return "regress", f"Regress: in-distribution pass@1 fell ({change}){extra}."
    worse = [s for s in hidden if s.name != "coverage_stalled"]
    moved = "changed within noise" if abs(pass1.change or 0.0) >= cfg.min_pass1_gain - EPS else "did not move"
    if worse:
        named = _listing(worse)
        return "regress", f"Regress: in-distribution pass@1 {moved} ({change}), but {named}."
    less = "within noise" if moved != "did not move" else "less than the threshold"
    return "flat", f"Flat: in-distribution pass@1 changed by {change}, {less}, and nothing got worse."


def step_notes(history: list[dict[str, Any]], cfg: VerdictConfig, b: int) -> list[str]:
    """Right answer, wrong reasoning, named when it matters: the share of each iteration's training rows with
    a wrong step (from `wrong_step_note` on), and the false-positive rate of the compared models' samples."""
    notes = []
    shares = {t: _value(history[t], "data", "train_rows_wrong_step") for t in range(1, b + 1)}
    big = {t: v for t, v in shares.items() if v is not None and v >= cfg.wrong_step_note - EPS}
    if big:
        listed = ", ".join(f"{v:.0%} at iteration {t}" for t, v in big.items())
        notes.append(f"Training rows that reached the right answer through a wrong step: {listed} "
                     "(loop.require_valid_steps drops them).")
    x, y = _value(history[0], cfg.id_split, "steps", "false_positive_rate"), _value(
        history[b], cfg.id_split, "steps", "false_positive_rate")
    if x is not None and y is not None and max(x, y) >= cfg.wrong_step_note - EPS:
        notes.append(f"Of the answer-correct {cfg.id_split} samples, {x:.0%} at iteration 0 and {y:.0%} at iteration "
                     f"{b} had a wrong step (false positives of answer checking).")
    return notes


def decide(history: list[dict[str, Any]], config: VerdictConfig | None = None) -> Verdict:
    """Decide a run's label from its metrics history (history[i] = iteration i's {split: summarize() dict})."""
    cfg = config or VerdictConfig()
    if len(history) < 2:
        raise UserError(f"a verdict compares iterations; got metrics for {len(history)}, need iteration 0 and one more")
    b = _target(history, cfg)
    for i in (0, b):
        if _value(history[i], cfg.id_split, PASS1.key) is None:
            splits = sorted(k for k, v in history[i].items() if isinstance(v, dict))
            raise UserError(
                f"iteration {i} has no greedy pass@1 for split {cfg.id_split!r} (splits there: {splits}); "
                "evaluate that split greedily or set verdict id_split to one that was"
            )
    pair = Pair(0, b, history[0], history[b])
    signals = [
        pass1_signal(pair, cfg),
        coverage_signal(pair, cfg),
        diversity_signal(pair, cfg, "lexical", cfg.lexical_metric),
        diversity_signal(pair, cfg, "semantic", "semantic"),
        diversity_signal(pair, cfg, "logical", "logical"),
        ood_signal(pair, cfg),
        disparity_signal(pair, cfg),
    ]
    label, summary = _label(signals, cfg)
    notes = step_notes(history, cfg, b)
    if notes:
        summary = f"{summary} {notes[0]}"
    return Verdict(label, summary, 0, b, signals, notes)
