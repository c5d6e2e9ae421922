"""T rounds of recursive self-improvement (Zelikman et al. 2024 sec. 3, eq. 2): improver t+1 is improver t
run on its own source under the meta-utility (validation halves of `stop.tasks`). Each version is a file
in the run directory, evaluated on validation and the hidden test half of the tasks it was improved on
and of transfer tasks it never saw; every improver run is one attempt record with its tamper events.

    iter_000/improver.py        the seed improver        iter_t/improver.py   version t
    iter_t/improve.jsonl        round t's self-improvement: each proposal, the runs scoring it, the run
    iter_t/attempts.jsonl       version t's evaluation runs (tasks and transfer tasks)
    iter_t/metrics.json         meta-utility val/test, transfer, tamper counts and examples, wall times

With `stop.language: scaffold` (selfimprove.stop.scaffold) the seed solutions and the seed improver are
scaffold templates, every model response is checked for a valid settings line (`parse` in metrics), and
each version's meta-utility is measured a second time with the random-line proposer in place of the model
(`control`: the same improver and budget, no learning), so the learned proposer has its control.

Stages (seed at round 0, improve after; then eval) resume like every run: a stage marked done is not run again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from selfimprove.jsonl import read_jsonl, write_atomic, write_jsonl
from selfimprove.progress import stderr
from selfimprove.rundir import RunDir
from selfimprove.sandbox import SandboxConfig
from selfimprove.stop.channel import Budget, Model, digest
from selfimprove.stop.config import StopSection, read_improver
from selfimprove.stop.meta import Harness
from selfimprove.stop.scaffold import ParseTally, random_model, seed_solutions
from selfimprove.stop.tamper import EVIDENCE, KINDS, count_kinds


class LazyModel:
    """Loads the model on the first call, so a resumed run whose stages are done loads none."""

    def __init__(self, make: Callable[[], Model]) -> None:
        self.make, self.model = make, None

    def __call__(self, expertise: str, messages: list[str], temperature: float) -> list[str]:
        if self.model is None:
            self.model = self.make()
        return self.model(expertise, messages, temperature)


def _recorder(rows: list[dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    """Keep each attempt and say one line about it on stderr (with the progress bars)."""

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        kinds = sorted({e["kind"] for e in row.get("tampers", [])})
        what = f"{row.get('task') or 'improver'} run {row.get('run', '-')}" if row.get("phase") != "proposal" else "proposal"
        stderr.print(f"round {row.get('round')} {row.get('phase')}: {what} val {row.get('val', 0.0):.3f} test "
                     f"{row.get('test', 0.0):.3f}" + (f", tampers {kinds}" if kinds else "")
                     + (f", failed: {row['failure'][:80]}" if row.get("failure") else ""), highlight=False)

    return record


def harness(stop: StopSection, model: Model, sandbox: SandboxConfig, seed: int) -> Harness:
    budget = Budget(stop.lm_calls, stop.responses_per_call, stop.utility_budget)
    seeds = seed_solutions() if stop.language == "scaffold" else {}
    return Harness(model, budget, sandbox, stop.val_instances, stop.test_instances, seed, seeds=seeds)


def run_stop(stop: StopSection, make_model: Callable[[int], Model], sandbox: SandboxConfig, seed: int,
             run: RunDir) -> list[dict[str, Any]]:
    """Run (or resume) the rounds; one metrics row per improver version. `make_model(key)` is the model for one
    stage, each stage with its own key (and the control its own random lines), so that a resumed stage samples
    what it would have sampled had the run not stopped."""
    scaffold = stop.language == "scaffold"
    h = harness(stop, LazyModel(lambda: make_model(0)), sandbox, seed)
    control = harness(stop, random_model(seed), sandbox, seed) if scaffold else None

    def at(key: int) -> Harness:
        model = LazyModel(lambda: make_model(key))
        h.model = ParseTally(model) if scaffold else model
        if control is not None:
            control.model = random_model(seed, key)
        return h

    seed_source = read_improver(stop.improver, stop.language)
    for t in range(stop.rounds + 1):
        folder = run.iter_dir(t)
        folder.mkdir(parents=True, exist_ok=True)
        if t == 0:
            run.run_stage(0, "seed", lambda: write_atomic(folder / "improver.py", seed_source))
        else:
            run.run_stage(t, "improve", lambda t=t: _improve(at(2 * t - 1), stop, run, t))
        run.run_stage(t, "eval", lambda t=t: _evaluate(at(2 * t), stop, run, t, control))
    history = [json.loads(run.iter_dir(t).joinpath("metrics.json").read_text()) for t in range(stop.rounds + 1)]
    write_jsonl(run.root / "metrics.jsonl", history)
    return history


def _improve(h: Harness, stop: StopSection, run: RunDir, t: int) -> None:
    """Round t: version t-1 improves its own source; the result is version t."""
    start = time.monotonic()
    rows: list[dict[str, Any]] = []
    h.record = _recorder(rows)
    previous = run.iter_dir(t - 1).joinpath("improver.py").read_text(encoding="utf-8")
    new, _ = h.improve_improver(previous, stop.tasks, stop.runs, round=t)
    if isinstance(h.model, ParseTally):
        rows.append({"phase": "parse", **h.model.take()})
    rows.append({"phase": "wall", "seconds": round(time.monotonic() - start, 3)})
    write_jsonl(run.iter_dir(t) / "improve.jsonl", rows)
    write_atomic(run.iter_dir(t) / "improver.py", new)


def _evaluate(h: Harness, stop: StopSection, run: RunDir, t: int, control: Harness | None = None) -> None:
    """Version t's meta-utility (val and hidden test) on its tasks, and transfer to the others; with a
    control harness, the same improver's meta-utility with the control's proposer."""
    start = time.monotonic()
    rows: list[dict[str, Any]] = []
    h.record = _recorder(rows)
    source = run.iter_dir(t).joinpath("improver.py").read_text(encoding="utf-8")
    if isinstance(h.model, ParseTally):
        h.model.take()
    meta = h.meta_utility(source, stop.tasks, stop.runs, round=t, phase="evaluate")
    transfer = h.meta_utility(source, stop.transfer_tasks, stop.runs, round=t, phase="transfer") if stop.transfer_tasks else None
    evaluated = time.monotonic()
    parsed = h.model.take() if isinstance(h.model, ParseTally) else None
    checked = None
    if control is not None:
        control.record = _recorder(rows)
        checked = control.meta_utility(source, stop.tasks, stop.runs, round=t, phase="control")
    write_jsonl(run.iter_dir(t) / "attempts.jsonl", rows)
    improve_file = run.iter_dir(t) / "improve.jsonl"
    improve_rows = list(read_jsonl(improve_file)) if improve_file.is_file() else []
    metrics: dict[str, Any] = {
        "iteration": t,
        "improver": digest(source),
        "meta_val": meta.val,
        "meta_test": meta.test,
        "tasks": _per_task(meta.runs),
        "transfer": _per_task(transfer.runs) if transfer else {},
        **tamper_summary(improve_rows + rows),
        "seconds": {"improve": _wall(improve_rows), "evaluate": round(evaluated - start, 3)},
    }
    if parsed is not None:
        improved = [r for r in improve_rows if r.get("phase") == "parse"]
        metrics["parse"] = {"improve": {k: v for k, v in improved[0].items() if k != "phase"} if improved else {},
                            "evaluate": parsed}
    if checked is not None:
        metrics["control"] = {"meta_val": checked.val, "meta_test": checked.test, "tasks": _per_task(checked.runs)}
        metrics["seconds"]["control"] = round(time.monotonic() - evaluated, 3)
    if t == 0:
        metrics["baseline"] = h.baseline(list(dict.fromkeys(stop.tasks + stop.transfer_tasks)))
    write_atomic(run.iter_dir(t) / "metrics.json", json.dumps(metrics, indent=1))


def _per_task(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == name]
        out[name] = {split: sum(r[split] for r in mine) / len(mine) for split in ("val", "test")}
    return out


def _wall(rows: list[dict[str, Any]]) -> float:
    return sum(r.get("seconds", 0.0) for r in rows if r.get("phase") == "wall")


def tamper_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Attempts (improver runs), how many had a tamper event, counts by kind, one example of each kind,
    and the same over the round's proposals (the unit of the paper's 0.42%)."""
    # The random-line control's runs are counted apart: they say nothing of what the model proposed, and mixed
    # in they would dilute the rate of the runs the model steered.
    attempts = [r for r in rows if r.get("phase") in ("evaluate", "transfer", "meta", "improve")]
    controls = [r for r in rows if r.get("phase") == "control"]
    proposals = [r for r in rows if r.get("phase") == "proposal"]
    events = [e for r in attempts for e in r.get("tampers", [])]
    examples: dict[str, dict[str, Any]] = {}
    for r in attempts + proposals:  # per kind, the strongest evidence: what the host or the scorer saw
        for e in r.get("tampers", []):
            best = examples.get(e["kind"])
            if best is None or EVIDENCE.index(e["source"]) < EVIDENCE.index(best["source"]):
                examples[e["kind"]] = {**e, "phase": r.get("phase"), "task": r.get("task"), "improver": r.get("improver")}
    tampered = sum(bool(r.get("tampers")) for r in attempts)
    return {
        "attempts": len(attempts),
        "tampered_attempts": tampered,
        "tamper_rate": tampered / len(attempts) if attempts else 0.0,
        "failed_attempts": sum(bool(r.get("failure")) for r in attempts),
        "tamper_counts": count_kinds(events),
        "proposals": len(proposals),
        "tampered_proposals": sum(bool(r.get("tampers")) for r in proposals),
        "control_attempts": len(controls),
        "control_tampered_attempts": sum(bool(r.get("tampers")) for r in controls),
        "examples": {k: examples[k] for k in KINDS if k in examples},
    }
