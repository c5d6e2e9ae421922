"""Terminal tables of an iteration's headline metrics."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    """One row per split: greedy pass@1 (strict, flexible), pass@k, maj@k and coverage at the largest k."""
    table = Table("split", "problems", "pass@1 greedy", "flexible", "pass@k", "maj@k", "coverage@N", title=title)
    for split, m in metrics.items():
        if not isinstance(m, dict) or "n_problems" not in m:
            continue
        ks = sorted(m.get("pass@k", {}), key=int)
        top = ks[-1] if ks else None
        table.add_row(
            split, str(m["n_problems"]), _pct(m.get("greedy_pass@1")), _pct(m.get("greedy_pass@1_flexible")),
            f"{_pct(m['pass@k'][top])} (k={top})" if top else "-",
            _pct(m.get("maj@k", {}).get(top)) if top else "-",
            _pct(m.get("coverage@N")),
        )
    return table
