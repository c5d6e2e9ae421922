"""Self-rewarding runs in the console and the report: per iteration, what the judge said next to what was
true (selfimprove.metrics.judging), and one sentence on whether the self-reward and the truth moved together.

Self-reward = the mean judge score (0..5) of iteration t's candidates, judged by M_{t-1} (or the external
judge); true accuracy = M_t's greedy pass@1 on the in-distribution eval split, compared with M_0's through
the verdict's paired interval (selfimprove.verdict.pass1_signal), so "self-reward rose while true accuracy
fell" is only said with the interval that backs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from selfimprove.report.load import pick
from selfimprove.report.render import Section, fragment, num, pct
from selfimprove.verdict import Pair, VerdictConfig, pass1_signal

if TYPE_CHECKING:
    from selfimprove.report.context import ReportContext

HEAD = ["iteration", "self-reward (0-5)", "chosen reward", "candidates correct", "chosen correct",
        "chosen worse than rejected", "judge pairwise acc.", "judge acc. (>= threshold)", "rank corr.", "share of 5s",
        "unparsed", "length chosen / rejected", "pairs (tied, unscored)", "prompt validity (kept)", "mean difficulty",
        "eval pass@1"]


def _length(p: dict[str, Any]) -> str:
    a, b = p.get("chosen_length"), p.get("rejected_length")
    return "–" if a is None or b is None else f"{a:.0f} / {b:.0f}"


def rows(history: list[dict[str, Any]], id_split: str = "test") -> list[list[str]]:
    """One row per iteration (iteration 0: only the starting model's eval pass@1)."""
    out = []
    for m in history:
        j, p, q = (pick(m, "self_rewarding", k) or {} for k in ("judge", "pairs", "prompts"))
        validity = f"{pct(q.get('validity'))} ({q['kept']})" if "validity" in q else f"split ({q.get('kept', '–')})"
        out.append([
            str(m["iteration"]), num(j.get("self_reward"), 2), num(p.get("chosen_reward"), 2),
            pct(j.get("true_accuracy")), pct(p.get("chosen_accuracy")), pct(p.get("chosen_worse_share")),
            pct(j.get("pairwise_accuracy")), pct(j.get("judge_accuracy")), num(j.get("rank_correlation"), 2),
            pct(j.get("share_of_5")), pct(j.get("unparsed_share")), _length(p),
            f"{p['pairs']} ({p.get('tied', 0)}, {p.get('unscored', 0)})" if "pairs" in p else "–",
            validity if q else "–", num(q.get("mean_difficulty"), 2), pct(pick(m, id_split, "greedy_pass@1")),
        ] if m["iteration"] else [str(m["iteration"]), *["–"] * (len(HEAD) - 2), pct(pick(m, id_split, "greedy_pass@1"))])
    return out


# The terminal shows the headline columns (the report has them all).
CONSOLE = ("iteration", "self-reward (0-5)", "candidates correct", "chosen worse than rejected", "judge pairwise acc.",
           "share of 5s", "unparsed", "length chosen / rejected", "prompt validity (kept)", "eval pass@1")


def reward_table(history: list[dict[str, Any]], id_split: str = "test") -> Table:
    keep = [HEAD.index(name) for name in CONSOLE]
    table = Table(*CONSOLE, title="self-rewarding: the judge against ground truth")
    for row in rows(history, id_split):
        table.add_row(*(row[i] for i in keep))
    return table


def _moved(before: float, after: float) -> str:
    d = after - before
    return f"rose {d:+.2f}" if d > 0 else f"fell {d:+.2f}" if d < 0 else "stayed (+0.00)"


def reward_vs_truth(history: list[dict[str, Any]], cfg: VerdictConfig) -> str:
    """'Self-reward rose X (iteration 1 -> T) while true accuracy fell Y (interval ...)', or why it cannot
    be said yet."""
    judged = [m for m in history if pick(m, "self_rewarding", "judge", "self_reward") is not None]
    ran = [m for m in history if pick(m, "self_rewarding", "judge", "judgments")]
    if not judged and ran:
        return (f"Self-reward not measured: none of the judge's {sum(m['self_rewarding']['judge']['judgments'] for m in ran)} "
                "judgments had a score (all unparsed), so no pair was trained on.")
    if not judged or len(history) < 2:
        return "Self-reward against truth: no judged iteration yet."
    first, last = judged[0], judged[-1]
    a, b = pick(first, "self_rewarding", "judge", "self_reward"), pick(last, "self_rewarding", "judge", "self_reward")
    if len(judged) > 1:
        reward = (f"Self-reward {_moved(a, b)} points of 5 ({a:.2f} at iteration {first['iteration']} -> {b:.2f} at "
                  f"iteration {last['iteration']})")
    else:  # one judged iteration (the others formed no pair): a level, not a change
        reward = f"Self-reward was {a:.2f} of 5, measured at iteration {first['iteration']} only"
    truth = pass1_signal(Pair(0, history[-1]["iteration"], history[0], history[-1]), cfg)
    if truth.change is None:
        return f"{reward}; true accuracy not measured ({truth.sentence})"
    link = "while" if (b - a) * truth.change < 0 else "and"
    word = "rose" if truth.change > 0 else "fell" if truth.change < 0 else "stayed"
    return f"{reward}, {link} true accuracy {word} {100 * truth.change:+.1f} points: {truth.sentence}"


def self_rewarding_section(ctx: ReportContext) -> Section | None:
    """None for runs of other recipes."""
    history = ctx.run.history
    if not any(pick(m, "self_rewarding") for m in history):
        return None
    note = ("Self-reward: mean judge score of iteration t's candidates (judged by M_{t-1} or the external judge). "
            "Chosen/rejected: the DPO pairs (best vs worst by judge score). Candidates/chosen correct: against the "
            "gold answer. Judge pairwise accuracy: within a prompt, the share of (correct, incorrect) pairs the judge "
            "scores the right way round (ties 1/2). Rank corr.: Spearman's rho of score and correctness. Unparsed: "
            "judgments without a score (never counted as 0 or 5). Lengths in characters. Eval pass@1: M_t, greedy, "
            f"{ctx.verdict.id_split} split.")
    html = fragment("table.html.j2", head=HEAD, rows=rows(history, ctx.verdict.id_split), note=note)
    html += fragment("table.html.j2", head=["self-reward against truth"],
                     rows=[[reward_vs_truth(history, ctx.verdict)]], note="")
    return Section("self-rewarding", "Self-rewarding: the judge against ground truth", html)
