"""Which metric goes on which chart. Each function maps a metrics history (one summarize_splits() dict
per iteration, see selfimprove.metrics.summary) to `Panel`s; plots.py draws them.

The charts follow Wu et al. 2024 ("Progress or Regress? Self-Improvement Reversal in Post-training"):
greedy pass@1 against pass@k and coverage (a pass@1 gain with flat coverage is selection, not ability),
lexical/semantic/logical diversity of correct and incorrect samples, OOD pass@1 and accuracy per
difficulty level, and M_1's pass@k on the improvement set ("capability illusion").
"""

from __future__ import annotations

from typing import Any

from matplotlib import colormaps

from selfimprove.metrics.paired import Resampling, value_interval
from selfimprove.report.load import number, pick, split_names
from selfimprove.report.plots import Line, Panel
from selfimprove.verdict import VerdictConfig

History = list[dict[str, Any]]
DIVERSITY = (
    ("distinct-1", "Distinct-1"), ("distinct-2", "Distinct-2"), ("distinct-3", "Distinct-3"),
    ("distinct-4", "Distinct-4"),
)


def series(history: History, *path: str) -> list[float | None]:
    return [number(m, *path) for m in history]


def band(history: History, cfg: VerdictConfig, split: str, measure: str,
         group: str = "correct") -> tuple[list[float | None], list[float | None]]:
    """The 95% bootstrap interval of a measure's mean at each iteration (selfimprove.metrics.paired),
    None where metrics.json has no per-problem values."""
    r = Resampling(cfg.n_resamples, cfg.confidence, cfg.bootstrap_seed)
    intervals = [value_interval(pick(m, split, "per_problem"), measure, r, group) for m in history]
    return [iv.low if iv else None for iv in intervals], [iv.high if iv else None for iv in intervals]


def all_splits(history: History, first: tuple[str, ...] = ()) -> list[str]:
    """Splits evaluated at any iteration: those named in `first` (e.g. ID, OOD) first, then the others."""
    seen: dict[str, None] = {}
    for metrics in history:
        seen.update(dict.fromkeys(split_names(metrics)))
    return sorted(seen, key=lambda s: first.index(s) if s in first else len(first))


def keys_of(history: History, *path: str) -> list[str]:
    """Integer-like keys (k, difficulty level) of a mapping across iterations, sorted numerically."""
    found = {k for m in history for k in (pick(m, *path) or {})}
    return sorted(found, key=int)


def accuracy_panels(history: History, cfg: VerdictConfig) -> list[Panel]:
    """Greedy pass@1 per split, pass@k (and maj@k at the largest k) on the ID split, coverage@N per split."""
    splits, ks = all_splits(history, (cfg.id_split, cfg.ood_split)), keys_of(history, cfg.id_split, "pass@k")
    pass_k = [Line(f"pass@{k}", series(history, cfg.id_split, "pass@k", k)) for k in ks]
    if ks:
        top = ks[-1]
        pass_k.append(Line(f"maj@{top}", series(history, cfg.id_split, "maj@k", top), style={"linestyle": "--"}))
    return [
        Panel("Greedy pass@1 (band: 95% interval)",
              [Line(s, series(history, s, "greedy_pass@1"), band=band(history, cfg, s, "greedy")) for s in splits],
              percent=True),
        Panel(f"pass@k and maj@k ({cfg.id_split})", pass_k, percent=True),
        Panel("Coverage@N (≥1 correct of N samples)",
              [Line(s, series(history, s, "coverage@N"), band=band(history, cfg, s, "coverage")) for s in splits],
              percent=True),
    ]


def diversity_panels(history: History, split: str, cfg: VerdictConfig | None = None) -> list[Panel]:
    """Distinct-n, semantic and logical diversity of one split's samples; correct and incorrect apart. The
    verdict's lexical measure, semantic and logical diversity carry their 95% interval as a band."""
    cfg = cfg or VerdictConfig()
    panels = []
    for group in ("correct", "incorrect"):
        lexical = [Line(label, series(history, split, "diversity", group, key),
                        band=band(history, cfg, split, key, group) if key == cfg.lexical_metric else None)
                   for key, label in DIVERSITY]

        def one(key: str) -> list[Line]:
            return [Line(group, series(history, split, "diversity", group, key), band=band(history, cfg, split, key,
                                                                                           group))]

        panels += [
            Panel(f"Distinct-n, {group} samples", lexical, ylabel="distinct n-grams / n-grams", floor=0.0),
            Panel(f"Semantic, {group} samples", one("semantic"), ylabel="1 - mean pairwise cosine", floor=0.0),
            Panel(f"Logical, {group} samples", one("logical"), ylabel="distinct equation sets", floor=0.0),
        ]
    return panels


def _level_lines(history: History, split: str) -> list[Line]:
    levels = keys_of(history, split, "per_difficulty")
    cmap = colormaps["viridis"]
    return [
        Line(f"difficulty {lv}", series(history, split, "per_difficulty", lv, "pass@1"),
             style={"color": cmap(i / max(1, len(levels) - 1))})
        for i, lv in enumerate(levels)
    ]


def generalization_panels(history: History, cfg: VerdictConfig) -> list[Panel]:
    """ID against OOD greedy pass@1, pass@1 per difficulty level of each split, and the easy-hard disparity."""
    splits = all_splits(history, (cfg.id_split, cfg.ood_split))
    id_ood = [
        Line(f"{cfg.id_split} (ID)", series(history, cfg.id_split, "greedy_pass@1"),
             band=band(history, cfg, cfg.id_split, "greedy")),
        Line(f"{cfg.ood_split} (OOD)", series(history, cfg.ood_split, "greedy_pass@1"),
             band=band(history, cfg, cfg.ood_split, "greedy")),
        Line("ID - OOD gap", series(history, "generalization", "ood_gap"), style={"linestyle": "--"}),
    ]
    levels = [Panel(f"Greedy pass@1 by difficulty ({s})", _level_lines(history, s), percent=True) for s in splits]
    disparity = [Line(s, series(history, s, "disparity")) for s in splits]
    return [
        Panel("In- vs out-of-distribution greedy pass@1", id_ood, percent=True),
        *levels,
        Panel("Easy-hard disparity", disparity, ylabel="(easiest - hardest) / easiest"),
    ]


def improvement_panels(history: History) -> list[Panel]:
    """Size of IS(t) per iteration, and M_1's pass@k on IS(t) against k (one line per t)."""
    fraction = Line("|IS(t)| / compared", series(history, "improvement", "fraction"))
    curves = []
    for t, metrics in enumerate(history):
        m1 = pick(metrics, "improvement", "m1_pass@k") or {}
        if m1:
            ks = sorted(m1, key=int)
            curves.append(Line(f"IS({t})", [m1[k] for k in ks], x=[int(k) for k in ks]))
    return [
        Panel("Improvement set IS(t): share of compared problems", [fraction], percent=True),
        Panel("M_1's pass@k on IS(t) (high at small k = capability illusion)", curves, xlabel="k", percent=True),
    ]


def compare_panels(runs: list[tuple[str, History, VerdictConfig]]) -> list[Panel]:
    """The headline curves of several runs on shared axes (as in Wu et al. 2024, Figure 1)."""

    styles = [{"marker": m, "linestyle": ls} for m, ls in zip("os^Dv<>p", ["-", "--", "-.", ":"] * 2)]

    def lines(path: Any, measure: str | None = None) -> list[Line]:
        return [Line(label, series(h, *path(cfg)), style=styles[i % len(styles)],
                     band=band(h, cfg, path(cfg)[0], measure) if measure else None)
                for i, (label, h, cfg) in enumerate(runs)]

    def top_k(h: History, cfg: VerdictConfig) -> str:
        return (keys_of(h, cfg.id_split, "pass@k") or ["1"])[-1]

    pass_k = [Line(f"{label} (k={top_k(h, cfg)})", series(h, cfg.id_split, "pass@k", top_k(h, cfg)),
                   style=styles[i % len(styles)]) for i, (label, h, cfg) in enumerate(runs)]
    return [
        Panel("ID greedy pass@1 (band: 95% interval)", lines(lambda c: (c.id_split, "greedy_pass@1"), "greedy"),
              percent=True),
        Panel("ID pass@k at the largest k", pass_k, percent=True),
        Panel("ID coverage@N", lines(lambda c: (c.id_split, "coverage@N"), "coverage"), percent=True),
        Panel("OOD greedy pass@1", lines(lambda c: (c.ood_split, "greedy_pass@1"), "greedy"), percent=True),
        Panel("Lexical diversity (correct samples)",
              lines(lambda c: (c.id_split, "diversity", "correct", c.lexical_metric))),
        Panel("Semantic diversity (correct samples)", lines(lambda c: (c.id_split, "diversity", "correct", "semantic"))),
        Panel("Logical diversity (correct samples)", lines(lambda c: (c.id_split, "diversity", "correct", "logical"))),
        Panel("Easy-hard disparity (ID)", lines(lambda c: (c.id_split, "disparity"))),
        Panel("ID - OOD gap", lines(lambda c: ("generalization", "ood_gap")), percent=True),
    ]
