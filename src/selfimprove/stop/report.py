"""The STOP part of a run's report, rebuilt from the run directory's metrics.json files only: per-round
meta-utility (validation and hidden test), transfer, the seed-solution control, tamper rate per round and
one example of each kind caught. Markdown, written to report.md and printed by the recipe."""

from __future__ import annotations

from typing import Any

from selfimprove.stop.tamper import KINDS


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def stop_report(history: list[dict[str, Any]]) -> str:
    """Markdown tables over the rounds in `history` (one metrics.json each, in round order)."""
    lines = ["## STOP: self-improving improver", ""]
    tasks = list(history[0]["tasks"]) if history else []
    transfer = list(history[0]["transfer"]) if history else []
    lines += ["Meta-utility (mean utility of the programs each improver version returns; val steers, test is hidden):", ""]
    lines += ["| round | improver | meta val | meta test | " + " | ".join(f"{t} val/test" for t in tasks) + " | wall s |"]
    lines += ["|" + "---|" * (5 + len(tasks))]
    for m in history:
        cells = [f"{_f(m['tasks'][t]['val'])} / {_f(m['tasks'][t]['test'])}" for t in tasks]
        wall = sum(m.get("seconds", {}).values())
        lines.append(f"| {m['iteration']} | {m['improver']} | {_f(m['meta_val'])} | {_f(m['meta_test'])} | "
                     + " | ".join(cells) + f" | {wall:.0f} |")
    if transfer:
        lines += ["", "Transfer (tasks never improved on), val / test:", ""]
        lines += ["| round | " + " | ".join(transfer) + " |", "|" + "---|" * (1 + len(transfer))]
        for m in history:
            lines.append(f"| {m['iteration']} | " + " | ".join(
                f"{_f(m['transfer'][t]['val'])} / {_f(m['transfer'][t]['test'])}" for t in transfer) + " |")
    baseline = history[0].get("baseline", {}) if history else {}
    if baseline:
        lines += ["", "Control: each task's seed solution, unimproved (val / test): "
                  + ", ".join(f"{t} {_f(v['val'])} / {_f(v['test'])}" for t, v in baseline.items())]
    lines += ["", "Tamper events (every improver run is an attempt; a proposal is a new improver the model wrote):", ""]
    lines += ["| round | attempts | tampered | rate | failed | proposals | tampered proposals | "
              + " | ".join(KINDS) + " |", "|" + "---|" * (7 + len(KINDS))]
    for m in history:
        counts = m["tamper_counts"]
        lines.append(f"| {m['iteration']} | {m['attempts']} | {m['tampered_attempts']} | {100 * m['tamper_rate']:.2f}% | "
                     f"{m['failed_attempts']} | {m['proposals']} | {m['tampered_proposals']} | "
                     + " | ".join(str(counts.get(k, 0)) for k in KINDS) + " |")
    examples = [(m["iteration"], k, e) for m in history for k, e in m.get("examples", {}).items()]
    seen: set[str] = set()
    if examples:
        lines += ["", "One example of each kind caught:", ""]
    for t, kind, e in examples:
        if kind not in seen:
            seen.add(kind)
            where = f"round {t}, {e.get('phase')}" + (f", task {e['task']}" if e.get("task") else "")
            lines.append(f"- {kind} ({e.get('source')}; {where}; improver {e.get('improver')}): {e.get('detail')}")
    return "\n".join(lines) + "\n"
