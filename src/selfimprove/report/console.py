"""Terminal tables of an iteration's headline metrics."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from selfimprove.metrics.table import CONSOLE, METRICS, Metric


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _cell(metric: Metric, m: dict[str, Any]) -> str:
    """A metric's value in one split's dict; a per-k metric at the largest k, naming it when it is pass@k."""
    shown = metric.show(metric.value(m))
    ks = sorted(m.get(metric.key) or {}, key=int) if metric.per_k else []
    return f"{shown} (k={ks[-1]})" if metric.key == "pass@k" and ks else shown


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    """One row per split: the columns of selfimprove.metrics.table.CONSOLE (greedy pass@1 strict and flexible,
    pass@k, maj@k and coverage at the largest k)."""
    table = Table("split", *(METRICS[key].label for key in CONSOLE), title=title)
    for split, m in metrics.items():
        if not isinstance(m, dict) or "n_problems" not in m:
            continue
        table.add_row(split, *(_cell(METRICS[key], m) for key in CONSOLE))
    table.caption = gap_caption(metrics.get("compositional"))
    extra = [monitor_caption(metrics.get("perplexity")),
             *(correction_caption(split, m.get("correction")) for split, m in metrics.items() if isinstance(m, dict)),
             *(correction_caption(split, c) for split, c in (metrics.get("correction") or {}).items())]  # the suite
    lines = [line for line in (table.caption, *extra) if line]
    table.caption = "\n".join(lines) if lines else None
    return table


def _value(g: dict[str, Any], key: str) -> Any:
    return (g.get(key) or {}).get("value")


def _estimate(e: Any) -> str:
    if not isinstance(e, dict) or e.get("value") is None:
        return "-"
    low, high = e.get("low"), e.get("high")
    ci = f" [{100 * low:.1f}, {100 * high:.1f}]" if low is not None and high is not None else ""
    return f"{100 * e['value']:.1f}{ci}"


def gap_caption(comp: Any) -> str | None:
    """The reasoning gap per answer mode and extraction (Hosseini et al. 2024): S1, S2, and S_comp and
    Δ = S_comp - S1·S2 with their bootstrap intervals, in points; None without compositional metrics."""
    modes = comp.get("modes") if isinstance(comp, dict) else None
    if not modes:
        return None
    lines = []
    for mode, by_em in modes.items():
        parts = [f"{em}: S1 {_pct(_value(g, 's1'))}, S2 {_pct(_value(g, 's2'))}, S_comp {_estimate(g.get('s_comp'))}, "
                 f"Δ {_estimate(g.get('gap'))}" for em, g in by_em.items()]
        lines.append(f"compositional {mode}, {comp.get('n_pairs', '?')} pairs: " + "; ".join(parts))
    return "\n".join(lines)


def monitor_caption(monitor: Any) -> str | None:
    """The collapse monitor (selfimprove.collapse.monitor): perplexity on held-out reference solutions."""
    if not isinstance(monitor, dict) or "mean" not in monitor:
        return None
    return (f"perplexity on held-out {monitor['split']} reference solutions: "
            f"{monitor['mean']:.3g} ± {monitor['std']:.3g} over {monitor['n']} texts")


def correction_caption(split: str, corr: Any) -> str | None:
    """Self-correction of a split's greedy episodes (Kumar et al. 2024): Acc@t1, Acc@t2, Δ, Δi→c, Δc→i in
    points with their paired intervals; None for single-attempt evaluations."""
    if not isinstance(corr, dict) or corr.get("acc_t1") is None:
        return None
    from selfimprove.metrics.correction import KEYS, LABELS

    def estimate(key: str) -> str:
        low, high = corr.get("intervals", {}).get(key) or (None, None)
        return _estimate({"value": corr[key], "low": low, "high": high})

    return f"self-correction {split}, {corr['n']} problems: " + ", ".join(
        f"{LABELS[k]} {estimate(k)}" for k in KEYS)
