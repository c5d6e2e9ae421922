"""Compositional GSM as a suite of the self-improvement loop's evaluation (`eval.compositional`).

Hosseini et al. 2024 ("Not All LLM Reasoners Are Created Equal", Sec. 5) saw compositional accuracy peak
early and then fall under continued GSM8K fine-tuning, while GSM8K accuracy kept rising. To see this in a
run (`eval.compositional.enabled: true`), every iteration's evaluate stage measures M_t on composed pairs
with the sampler it evaluates with: S1, S2, S_comp and the reasoning gap Δ = S_comp - S1·S2 (bootstrap
intervals, strict and flexible extraction; see evaluate.py), writes the graded transcripts to
`compositional.jsonl` beside eval.jsonl and the numbers to metrics.json under "compositional"
(`selfimprove eval` does the same for one model).

Pairs per task: arith uses its own `compositional` split; gsm8k uses pairs built from GSM8K test by the
builder (deterministic from `build.seed`; few-shot exemplars from GSM8K train); compositional_gsm uses its
own pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from selfimprove.compositional.config import BuildConfig
from selfimprove.compositional.evaluate import PAIR_SPLITS, CompositionalSection, evaluate_compositional
from selfimprove.errors import UserError
from selfimprove.jsonl import write_jsonl
from selfimprove.tasks.data import data_root
from selfimprove.types import Completion, Record, Task

if TYPE_CHECKING:
    from selfimprove.suites import SuiteInput

RECORDS_FILE = "compositional.jsonl"
SUITE_TASKS = ("arith", "gsm8k", "compositional_gsm")


class CompositionalSuite(CompositionalSection):
    """`eval.compositional`: the reasoning gap of every evaluated model (Hosseini et al. 2024). The fields
    of the gap itself (modes, limit, shots, bootstrap) are those of `selfimprove eval`'s `compositional`
    section; these add the switch, where GSM8K pairs come from and how long an answer may be. (`selfimprove
    eval` of the pairs themselves, task compositional_gsm or arith's compositional split, uses its top-level
    `compositional` section instead.)"""

    enabled: bool = Field(
        False, description="Measure S1, S2, S_comp and Δ of every evaluated model (off by default: it decodes three "
        "greedy answers per pair, one of them twice as long as a single problem's).",
    )
    build: BuildConfig = Field(
        default_factory=BuildConfig,
        description="How pairs are built from GSM8K test when the task is gsm8k (seed, filters); the same seed "
        "gives the same pairs at every iteration. Unused for arith and compositional_gsm, which have their own.",
    )
    data_dir: str | None = Field(
        None, description="Folder with gsm8k/test.jsonl and gsm8k/train.jsonl (task gsm8k); null: the gsm8k "
        "task's data_dir, else $SELFIMPROVE_DATA_DIR.",
    )
    max_new_tokens: int | None = Field(
        None, ge=1, description="Longest answer in tokens; null: sampling.max_new_tokens. A composed answer "
        "solves two problems, so it may need about twice the single-problem budget.",
    )


def suite_task(task: Task, suite: CompositionalSuite) -> Task:
    """The task whose composed pairs are measured: the task itself when it has them (arith's compositional
    split, compositional_gsm), else for gsm8k a compositional_gsm task over the same GSM8K files."""
    if task.name in PAIR_SPLITS:
        return task
    if task.name != "gsm8k":
        raise UserError(f"eval.compositional needs one of the tasks {', '.join(SUITE_TASKS)}, not {task.name!r}; "
                        "set eval.compositional.enabled=false")
    from selfimprove.compositional.task import CompositionalGSMTask

    root = data_root(suite.data_dir or getattr(task, "data_dir", None))
    if root is None:
        raise UserError("eval.compositional builds its pairs from the local GSM8K test file: set "
                        "eval.compositional.data_dir, task.options.data_dir or $SELFIMPROVE_DATA_DIR")
    return CompositionalGSMTask(data_dir=str(root), seed=suite.build.seed, build=suite.build.model_dump())


def known_greedy(records: Sequence[Record], suite: CompositionalSuite, max_new_tokens: int) -> dict[str, Completion]:
    """Greedy completions the eval splits already hold (arith's compositional split in eval.splits), reused
    for the same prompts; only when they were decoded with the same token budget."""
    if suite.max_new_tokens not in (None, max_new_tokens):
        return {}
    return {r.prompt: r.greedy for r in records if isinstance(r.prompt, str) and r.greedy is not None}


def suite_splits(suite: CompositionalSuite, task: Task, eval_splits: Sequence[str]) -> list[str]:
    """No split of the task itself to check (the pairs come with the suite's task); an unsupported task fails
    here, before any model is loaded."""
    if suite.enabled:
        suite_task(task, suite)
    return []


def evaluate_suite(suite: CompositionalSuite, inp: SuiteInput) -> dict[str, Any]:
    """The gap metrics of the model behind `inp.sampler` (see evaluate.py for the keys), its graded transcripts
    written to `inp.out_dir/compositional.jsonl`. `inp.records` are this evaluation's other records."""
    if suite.limit is None and inp.eval_limit is not None:
        suite = suite.model_copy(update={"limit": inp.eval_limit})
    budget = suite.max_new_tokens or inp.sampling.max_new_tokens
    result = evaluate_compositional(
        inp.sampler, suite_task(inp.task, suite), suite, shots=inp.shots, max_new_tokens=budget,
        stop=inp.sampling.stop, iteration=inp.iteration,
        known=known_greedy(inp.records, suite, inp.sampling.max_new_tokens),
    )
    write_jsonl(inp.out_dir / RECORDS_FILE, (r.to_dict() for r in result.records))
    return {**result.metrics, "max_new_tokens": budget, "records": RECORDS_FILE}


def suite_metrics(suite: CompositionalSuite, inp: SuiteInput) -> dict[str, Any]:
    """{"compositional": ...} to update an evaluation's metrics with ({} when eval.compositional is off).
    The entry is merged, not replaced: arith's `compositional` split, when it is also an eval split, keeps
    its pass@1 summary there (the keys do not clash)."""
    if not suite.enabled:
        return {}
    gap = evaluate_suite(suite, inp)
    return {"compositional": {**inp.metrics.get("compositional", {}), **gap}}
