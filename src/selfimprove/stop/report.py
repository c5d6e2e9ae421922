"""The STOP report, rebuilt from the run directory's metrics.json files only: per-round meta-utility
(validation and hidden test), transfer, the seed-solution control, tamper rate per round and one example
of each kind caught. `stop_tables` gives the tables; `stop_markdown` writes them as report.md (the HTML
page, selfimprove.report.stop, renders the same tables)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selfimprove.stop.tamper import KINDS


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    head: list[str]
    rows: list[list[str]]
    note: str = ""


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def _pair(node: dict[str, Any]) -> str:
    return f"{_f(node.get('val'))} / {_f(node.get('test'))}"


def _valid(counts: dict[str, int]) -> str:
    n = counts.get("responses", 0)
    return f"{counts.get('valid', 0)} / {n} ({100 * counts.get('valid', 0) / n:.0f}%)" if n else "-"


def stop_tables(history: list[dict[str, Any]]) -> list[Table]:
    """The report's tables over the rounds in `history` (one metrics.json each, in round order)."""
    if not history:
        return []
    tasks, transfer = list(history[0]["tasks"]), list(history[0]["transfer"])
    out = [Table(
        "meta", "Meta-utility per round",
        ["round", "improver", "meta val", "meta test", *(f"{t} val / test" for t in tasks), "wall s"],
        [[str(m["iteration"]), m["improver"], _f(m["meta_val"]), _f(m["meta_test"]),
          *(_pair(m["tasks"][t]) for t in tasks), f"{sum(m.get('seconds', {}).values()):.0f}"] for m in history],
        "Mean utility of the programs each improver version returns from the tasks' seed solutions; the "
        "validation half steers the improver, the test half is hidden from it.",
    )]
    if transfer:
        out.append(Table("transfer", "Transfer (tasks never improved on), val / test", ["round", *transfer],
                         [[str(m["iteration"]), *(_pair(m["transfer"][t]) for t in transfer)] for m in history]))
    if any("control" in m for m in history):
        out.append(Table(
            "proposer-control", "Control: the random-line proposer (same improver, same budget)",
            ["round", "meta val / test, model", "meta val / test, random lines", *(f"{t}, random" for t in tasks)],
            [[str(m["iteration"]), f"{_f(m['meta_val'])} / {_f(m['meta_test'])}",
              _pair({"val": m["control"]["meta_val"], "test": m["control"]["meta_test"]}),
              *(_pair(m["control"]["tasks"].get(t, {})) for t in tasks)] for m in history if "control" in m],
            "Each version's meta-utility again, with every model call answered by a settings line drawn "
            "uniformly from the valid lines of the program's kind: whether the learned proposer beats random "
            "mutation.",
        ))
    if any("parse" in m for m in history):
        out.append(Table(
            "parse", "Model responses that are valid settings lines", ["round", "self-improvement", "evaluation"],
            [[str(m["iteration"]), _valid(m["parse"].get("improve", {})), _valid(m["parse"].get("evaluate", {}))]
             for m in history if "parse" in m],
            "Self-improvement: every response of the round's improve stage (the improver's own settings and, "
            "inside its meta-utility, the tasks'); evaluation: the version's runs on its tasks and transfer tasks.",
        ))
    baseline = history[0].get("baseline", {})
    if baseline:
        out.append(Table("control", "Control: each task's seed solution, unimproved", ["task", "val / test"],
                         [[t, _pair(v)] for t, v in baseline.items()]))
    out.append(Table(
        "tampers", "Tamper events per round",
        ["round", "attempts", "tampered", "rate", "failed", "proposals", "tampered proposals", *KINDS],
        [[str(m["iteration"]), str(m["attempts"]), str(m["tampered_attempts"]), f"{100 * m['tamper_rate']:.2f}%",
          str(m["failed_attempts"]), str(m["proposals"]), str(m["tampered_proposals"]),
          *(str(m["tamper_counts"].get(k, 0)) for k in KINDS)] for m in history],
        "Every improver run the model steered is an attempt; a proposal is a new improver the model wrote during "
        "the round. Events are counted where caught (host, process, static scan, scorer) and recorded even when "
        "blocked." + _control_tampers(history),
    ))
    seen: dict[str, list[str]] = {}
    for m in history:
        for kind, e in m.get("examples", {}).items():
            where = f"round {m['iteration']}, {e.get('phase')}" + (f", {e['task']}" if e.get("task") else "")
            seen.setdefault(kind, [kind, str(e.get("source")), where, str(e.get("improver")), str(e.get("detail"))])
    if seen:
        out.append(Table("examples", "One example of each kind caught", ["kind", "caught by", "where", "improver",
                                                                          "what"], list(seen.values())))
    return out


def _control_tampers(history: list[dict[str, Any]]) -> str:
    """A sentence on the random-line control's runs, which the table leaves out (none before the scaffold)."""
    runs = sum(m.get("control_attempts", 0) for m in history)
    if not runs:
        return ""
    tampered = sum(m.get("control_tampered_attempts", 0) for m in history)
    return f" The random-line control's {runs} runs are not counted above; {tampered} of them had a tamper event."


def stop_markdown(history: list[dict[str, Any]], proposer: dict[str, Any] | None = None) -> str:
    """report.md; `proposer`: the scaffold proposer's training record (selfimprove.stop.proposer)."""
    lines = ["# STOP: self-improving improver", ""]
    if proposer:
        lines += [f"Proposer: trained {proposer['steps']} steps on {proposer['rows']} ground-truth rows "
                  f"(measuring {proposer['measure_seconds']} s, training {proposer['train_seconds']} s).", ""]
    for table in stop_tables(history):
        lines += [f"## {table.title}", "", "| " + " | ".join(table.head) + " |", "|" + "---|" * len(table.head)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |"
                  for row in table.rows]
        lines += ["", table.note, ""] if table.note else [""]
    return "\n".join(lines)
