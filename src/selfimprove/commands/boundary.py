"""`selfimprove boundary RUN --k 256 --limit N [--iterations 0 3]`: the reasoning boundary of a run's
models (Yue et al. 2025, arXiv 2504.13837): k samples per test problem from two iterations' models,
pass@k for k = 1, 2, 4, ... <= k with intervals, pass^k and cover@tau (selfimprove.metrics.boundary).

Files, in the run directory (everything the report shows is rebuilt from them):

    boundary/settings.json             split, k, decoding, seed, shard size (a rerun must match)
    boundary/iter_XXX/part_NNNN.jsonl  graded Records of one shard of problems (written atomically)
    boundary/iter_XXX/part_NNNN.json   how long that shard took to sample (seconds, samples, tokens)
    boundary/boundary.json             the curves of each iteration and their comparison

A shard whose .jsonl exists is never sampled again, so an interrupted command resumes where it stopped
and gives the same samples (each shard's seed derives from the seed, the iteration and the shard). A larger
--limit adds shards; a smaller one measures the first problems only (a shard cut short by a smaller limit
cannot be extended: that is refused).
Decoding is the run's own (sampling.temperature, top_p, max_new_tokens) unless overridden here.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import Field
from rich.console import Console
from rich.table import Table

from selfimprove.config import Section, read_yaml
from selfimprove.errors import UserError
from selfimprove.evaluate import grade_all
from selfimprove.fingerprint import folder_fingerprint
from selfimprove.jsonl import read_jsonl, write_atomic, write_jsonl
from selfimprove.metrics.boundary import crossing, curves, solved_by_one
from selfimprove.metrics.records import sample_grades
from selfimprove.types import Record, SamplingParams, task_stop, with_stop


class BoundarySection(Section):
    """How the reasoning boundary is sampled."""

    run_dir: str = Field(..., description="The run directory (runs/<name>) whose models are compared.")
    k: int = Field(256, ge=1, le=4096, description="Samples per problem; pass@k is reported for k = 1, 2, 4, ... <= k.")
    limit: int | None = Field(None, ge=1, description="Only the first N problems of the split (null: all).")
    split: str | None = Field(None, description="Split to sample (null: the run's verdict.id_split).")
    iterations: list[int] | None = Field(
        None, min_length=2, max_length=2, description="The base and the trained iteration (null: 0 and the last).")
    temperature: float | None = Field(None, gt=0, description="Sampling temperature (null: the run's).")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus mass (null: the run's).")
    batch_size: int | None = Field(None, ge=1, description="Rows per forward pass (null: the run's sampling.batch_size).")
    shard_size: int = Field(25, ge=1, description="Problems per shard file (the unit of resuming).")
    seed: int = Field(0, description="Seed of the samples (with the iteration and shard) and of the intervals.")


def _run_config(run_dir: Path) -> Any:
    from selfimprove.recipes import run_config

    file = run_dir / "config.yaml"
    if not file.is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.yaml); give one written by `selfimprove run`")
    return run_config(read_yaml(file), str(file))


def _evaluated(run_dir: Path) -> list[int]:
    return sorted(int(p.parent.name.removeprefix("iter_")) for p in run_dir.glob("iter_*/.done-eval"))


def _iterations(cfg: BoundarySection, run_dir: Path) -> tuple[int, int]:
    done = _evaluated(run_dir)
    if cfg.iterations is None:
        if len(done) < 2:
            raise UserError(f"{run_dir} has {len(done)} evaluated iteration(s); the boundary compares two "
                            "(run more iterations, or give --iterations)")
        return 0, done[-1]
    base, trained = cfg.iterations
    for t in (base, trained):
        if t != 0 and not (run_dir / f"iter_{t:03d}" / "model" / "config.json").is_file():
            raise UserError(f"iteration {t} of {run_dir} has no model yet (iterations with a model: "
                            f"{[0, *(i for i in done if i)]}); choose those with --iterations")
    return base, trained


def _settings(cfg: BoundarySection, run: Any, split: str) -> dict[str, Any]:
    return {"split": split, "k": cfg.k, "seed": cfg.seed, "shard_size": cfg.shard_size,
            "temperature": cfg.temperature or run.sampling.temperature, "top_p": cfg.top_p or run.sampling.top_p,
            "max_new_tokens": run.sampling.max_new_tokens, "stop": list(run.sampling.stop)}


def _check_settings(folder: Path, settings: dict[str, Any]) -> None:
    """Write settings.json, or refuse when the folder holds samples drawn with other settings."""
    file = folder / "settings.json"
    if file.is_file():
        old = json.loads(file.read_text(encoding="utf-8"))
        changed = [f"{key}: {old.get(key)!r} then, {value!r} now" for key, value in settings.items()
                   if old.get(key) != value]
        if changed:
            raise UserError(f"{folder} holds samples drawn with other settings ({'; '.join(changed)}); "
                            "use the same settings, or move that folder away to start over")
    write_atomic(file, json.dumps(settings, indent=1) + "\n")


def shard_seed(seed: int, t: int, shard: int) -> int:
    digest = hashlib.sha256(f"boundary/{seed}/{t}/{shard}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def check_model(folder: Path, t: int, path: str) -> None:
    """Record which checkpoint iteration t's samples come from (iter_XXX/model.json: its path and the
    fingerprint of its files), or refuse when the samples on disk were drawn from another one."""
    model = Path(path)
    current = {"path": path, "files": folder_fingerprint(model) if model.exists() else None}
    file = folder / f"iter_{t:03d}" / "model.json"
    if file.is_file():
        old = json.loads(file.read_text(encoding="utf-8"))
        if old != current:
            raise UserError(f"{file.parent} holds samples of another checkpoint of iteration {t} (the model at {path} "
                            "changed since); move that folder away to sample the current model")
        return
    file.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(file, json.dumps(current, indent=1) + "\n")


def sample_iteration(cfg: BoundarySection, run: Any, task: Any, split: str, t: int, folder: Path) -> None:
    """Sample every shard of iteration t's model that is not on disk yet."""
    from selfimprove.recipes.stages import model_path
    from selfimprove.rundir import RunDir
    from selfimprove.sampling import make_sampler

    problems = task.load(split, cfg.limit)
    params = SamplingParams(cfg.k, cfg.temperature or run.sampling.temperature, cfg.top_p or run.sampling.top_p,
                            run.sampling.max_new_tokens, tuple(run.sampling.stop))
    params = with_stop(params, task_stop(task, chat=run.model.chat))
    path = model_path(run, RunDir(Path(cfg.run_dir)), t)
    check_model(folder, t, path)
    sampler = None
    for shard, start in enumerate(range(0, len(problems), cfg.shard_size)):
        out = folder / f"iter_{t:03d}" / f"part_{shard:04d}.jsonl"
        if out.is_file():
            if sum(1 for _ in read_jsonl(out)) < len(problems[start : start + cfg.shard_size]):
                raise UserError(f"{out} holds fewer problems than --limit {cfg.limit} asks of it (it was sampled with "
                                "a smaller limit); use that limit, or move the boundary folder away to start over")
            continue
        if sampler is None:
            section = run.model.model_copy(update={"path": path})
            sampler = make_sampler(section, cfg.batch_size or run.sampling.batch_size, engine=run.sampling.engine)
        chunk = problems[start : start + cfg.shard_size]
        prompts = [task.format_prompt(p, run.task.shots) for p in chunk]
        began = time.perf_counter()
        completions = sampler.sample(prompts, replace(params, seed=shard_seed(cfg.seed, t, shard)))
        seconds = time.perf_counter() - began
        grade_all(task, chunk, completions, f"iteration {t}, shard {shard}")
        tokens = sum(c.num_tokens for group in completions for c in group)
        write_atomic(out.with_suffix(".json"), json.dumps({"seconds": seconds, "samples": cfg.k * len(chunk),
                                                           "tokens": tokens}) + "\n")
        write_jsonl(out, (Record(p.id, t, split, pr, p.gold, p.metadata, None, c).to_dict()
                          for p, pr, c in zip(chunk, prompts, completions)))


def _counts(folder: Path, ids: set[str]) -> tuple[dict[str, tuple[int, int]], dict[str, float]]:
    """(n, c) per problem id (of `ids`) from an iteration's shards, and the summed timing of the shards."""
    counts: dict[str, tuple[int, int]] = {}
    timing = {"seconds": 0.0, "samples": 0, "tokens": 0}
    for part in sorted(folder.glob("part_*.jsonl")):
        used = False
        for row in read_jsonl(part):
            record = Record.from_dict(row)
            if record.problem_id in ids:
                grades = sample_grades(record)
                counts[record.problem_id], used = (len(grades), sum(grades)), True
        took = part.with_suffix(".json")
        if used and took.is_file():
            for key, value in json.loads(took.read_text(encoding="utf-8")).items():
                timing[key] += value
    timing["samples_per_s"] = timing["samples"] / timing["seconds"] if timing["seconds"] else None
    timing["tokens_per_s"] = timing["tokens"] / timing["seconds"] if timing["seconds"] else None
    return counts, timing


def boundary_metrics(folder: Path, base: int, trained: int, seed: int, ids: set[str]) -> dict[str, Any]:
    """The curves of both iterations on the problems of `ids` both sampled, their comparison, and the time
    the shards holding those problems took."""
    (cb, tb), (ct, tt) = _counts(folder / f"iter_{base:03d}", ids), _counts(folder / f"iter_{trained:03d}", ids)
    common = [pid for pid in cb if pid in ct]
    if not common:
        raise UserError(f"{folder}: iterations {base} and {trained} share no sampled problem")
    curve_b = curves([cb[p] for p in common], seed=seed)
    curve_t = curves([ct[p] for p in common], seed=seed)
    return {"base": base, "trained": trained,
            "iterations": {str(base): {**curve_b, "timing": tb}, str(trained): {**curve_t, "timing": tt}},
            "crossing": crossing([cb[p] for p in common], [ct[p] for p in common], seed=seed), **solved_by_one(cb, ct)}


def run_boundary(cfg: BoundarySection) -> dict[str, Any]:
    """Sample (or resume), write boundary.json, print the curves and the time taken, rebuild the report."""
    from selfimprove.tasks import get_task

    run_dir = Path(cfg.run_dir)
    run = _run_config(run_dir)
    base, trained = _iterations(cfg, run_dir)
    task = get_task(run.task.name, **run.task.options)
    split = cfg.split or run.verdict.id_split
    task.load(split, 1)  # a bad split name fails before any model is loaded
    folder = run_dir / "boundary"
    from selfimprove.rundir import RunDir

    lock = RunDir(run_dir)
    lock.lock()  # no loop or second boundary command writes this run while its models are sampled
    try:
        _check_settings(folder, _settings(cfg, run, split))
        for t in (base, trained):
            sample_iteration(cfg, run, task, split, t, folder)
    finally:
        lock.unlock()
    ids = {p.id for p in task.load(split, cfg.limit)}
    result = boundary_metrics(folder, base, trained, cfg.seed, ids)
    write_atomic(folder / "boundary.json", json.dumps(result, indent=1) + "\n")
    show(result)
    from selfimprove.report.html import write_report

    print(f"report: {write_report(run_dir)}")
    return result


def show(result: dict[str, Any]) -> None:
    """pass@k and pass^k of both models per k, the crossing, and the sampling time."""
    from selfimprove.report.boundary import crossing_sentence, estimate_cell

    b, t = str(result["base"]), str(result["trained"])
    its = result["iterations"]
    table = Table("k", f"pass@k M_{b}", f"pass@k M_{t}", f"pass^k M_{b}", f"pass^k M_{t}",
                  title=f"reasoning boundary on {its[b]['n_problems']} problems (95% intervals)")
    for k in its[b]["pass@k"]:
        table.add_row(k, estimate_cell(its[b]["pass@k"][k]), estimate_cell(its[t]["pass@k"][k]), estimate_cell(its[b]["pass^k"][k]),
                      estimate_cell(its[t]["pass^k"][k]))
    console = Console()
    console.print(table)
    console.print(crossing_sentence(result["crossing"], b, t),
                  f"Only M_{b} solves {len(result['only_base'])} problems, only M_{t} {len(result['only_trained'])}.")
    for it in (b, t):
        tm = its[it]["timing"]
        if tm.get("samples_per_s"):
            console.print(f"M_{it}: {tm['samples']} samples in {tm['seconds']:.0f} s of sampling "
                          f"({tm['samples_per_s']:.0f} samples/s, {tm['tokens_per_s']:.0f} tokens/s)")
