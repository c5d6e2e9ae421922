"""The metrics table: every headline metric of a split's metrics dict (metrics/summary.py) once, with its
label, its direction and how it is printed. The verdict, the terminal table and the report read their keys,
labels and directions from here, so a metric is renamed, relabelled or added in one place.

A `path` is the key sequence inside one split's dict (`("diversity", "correct", "lexical")`); a metric with
`per_k` is a {k: value} dict whose largest k is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Format = Literal["pct", "num", "count"]


@dataclass(frozen=True)
class Metric:
    """One metric: where it is in a split's dict, what it is called, whether a higher value is better, and
    its format (pct: a fraction shown in points, num: 3 significant digits, count: an integer)."""

    key: str
    label: str
    higher_is_better: bool
    format: Format
    path: tuple[str, ...] = ()
    per_k: bool = False

    def value(self, split_metrics: dict[str, Any] | None) -> Any:
        """The metric's value in one split's dict (the largest k's for a per-k metric), or None."""
        node: Any = split_metrics
        for part in self.path or (self.key,):
            node = node.get(part) if isinstance(node, dict) else None
        if self.per_k and isinstance(node, dict):
            return node[max(node, key=int)] if node else None
        return node

    def show(self, value: Any) -> str:
        """The value as the tables print it ('-' when missing)."""
        if value is None:
            return "-"
        if self.format == "pct":
            return f"{100 * value:.1f}"
        if self.format == "count":
            return str(int(value))
        return f"{value:.3g}"

    @property
    def worse_way(self) -> int:
        """The sign of a change that makes the metric worse: -1 (a fall) when higher is better, else +1."""
        return -1 if self.higher_is_better else 1

    def worse(self, change: float) -> float:
        """How much worse a change of `change` is (positive = worse), whichever the metric's direction."""
        return self.worse_way * change

    def better(self, change: float) -> float:
        """How much better a change of `change` is (positive = better)."""
        return -self.worse_way * change


def _metrics(*rows: Metric) -> dict[str, Metric]:
    return {m.key: m for m in rows}


METRICS: dict[str, Metric] = _metrics(
    Metric("n_problems", "problems", True, "count"),
    Metric("greedy_pass@1", "greedy pass@1", True, "pct"),
    Metric("greedy_pass@1_flexible", "flexible", True, "pct"),
    Metric("pass@k", "pass@k", True, "pct", per_k=True),
    Metric("maj@k", "maj@k", True, "pct", per_k=True),
    Metric("sampled_accuracy", "sampled accuracy", True, "pct"),
    Metric("coverage@N", "coverage@N", True, "pct"),
    Metric("disparity", "easy-hard disparity", False, "num"),
    # every diversity measure (diversity.py: distinct-n, semantic, logical) is higher when more diverse
    Metric("diversity", "diversity", True, "num"),
    # two-attempt self-correction of the greedy answers (Kumar et al. 2024), a split's "correction" dict
    # (metrics/correction.py); Δ(t1,t2) = Acc@t2 - Acc@t1, Δi→c / Δc→i: shares of problems fixed / broken
    Metric("acc_t1", "Acc@t1", True, "pct", ("correction", "acc_t1")),
    Metric("acc_t2", "Acc@t2", True, "pct", ("correction", "acc_t2")),
    Metric("delta", "Δ(t1,t2)", True, "pct", ("correction", "delta")),
    Metric("delta_i2c", "Δi→c", True, "pct", ("correction", "delta_i2c")),
    Metric("delta_c2i", "Δc→i", False, "pct", ("correction", "delta_c2i")),
)

# The columns of the per-iteration terminal table, in order.
CONSOLE = ("n_problems", "greedy_pass@1", "greedy_pass@1_flexible", "pass@k", "maj@k", "coverage@N")


def metric(key: str) -> Metric:
    return METRICS[key]
