"""Time the metrics stage on 1,000 problems x 16 samples of synthetic equation-chain completions.

    python bench/metrics.py [--problems 1000] [--samples 16] [--device cpu]

Completions look like what a model writes for the `arith` task (`12+7=19. 19-5=14. The answer is 14.`),
with the variety real samples have: commutative operands swapped, other phrasings, arithmetic slips,
missing final answers, and exact repeats. Measured, in one process on this machine:

- the count-based metrics (greedy pass@1, pass@k, maj@k, sampled accuracy, coverage@N), strict and flexible;
- lexical and logical diversity;
- loading the sentence encoder, then summarize() in full, semantic diversity included, with an empty
  embedding cache (every text encoded) and again with the cache warm (read from disk; no model loaded).
It prints only what it measures. With `--model PATH` the records are real instead: that model samples
N completions for each of the first `--problems` arith `improve` problems (the loop's sampling stage,
timed), they are graded, and the metrics stage runs on them, so both stages of the same run are printed
side by side:

    python bench/metrics.py --model runs/tiny-arith
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfimprove.errors import run_script
from selfimprove.metrics.diversity import diversity
from selfimprove.metrics.semantic import EmbeddingCache
from selfimprove.metrics.summary import greedy_metrics, sampled_metrics, summarize
from selfimprove.types import Completion, Record

OPS = "+-*"
PHRASES = (
    "{chain} The answer is {answer}.",
    "{chain} So the answer is {answer}.",
    "We get {chain} The answer is {answer}.",
)


def _chain(rng: random.Random, steps: int) -> list[tuple[int, str, int, int]]:
    """(before, op, operand, after) for a random chain of `steps` operations, values kept small and positive."""
    value, out = rng.randint(2, 20), []
    for _ in range(steps):
        op, operand = rng.choice(OPS), rng.randint(2, 9 if value > 50 else 20)
        after = value + operand if op == "+" else value - operand if op == "-" else value * operand
        if after < 0:
            op, after = "+", value + operand
        out.append((value, op, operand, after))
        value = after
    return out


def _text(rng: random.Random, chain: list[tuple[int, str, int, int]], slip: bool) -> tuple[str, int]:
    """One completion for a chain; a slip corrupts one step and carries the error forward."""
    parts, value = [], chain[0][0]
    bad = rng.randrange(len(chain)) if slip else -1
    for i, (_, op, operand, _) in enumerate(chain):
        after = value + operand if op == "+" else value - operand if op == "-" else value * operand
        if i == bad:
            after += rng.choice([-2, -1, 1, 2, 10])
        left = f"{operand}{op}{value}" if op in "+*" and rng.random() < 0.3 else f"{value}{op}{operand}"
        parts.append(f"{left}={after}.")
        value = after
    if rng.random() < 0.05:
        return " ".join(parts), value  # no final answer sentence: strict extraction fails
    return rng.choice(PHRASES).format(chain=" ".join(parts), answer=value), value


def make_records(problems: int, samples: int, seed: int = 0) -> list[Record]:
    """Judged records: difficulty = number of steps (1-5); per-problem skill sets how often samples slip."""
    rng = random.Random(seed)
    records = []
    for i in range(problems):
        steps = rng.randint(1, 5)
        chain = _chain(rng, steps)
        gold = chain[-1][3]
        slip_rate = min(0.95, rng.random() * 0.3 * steps)
        done = []
        for _ in range(samples + 1):
            if done and rng.random() < 0.25:  # temperature sampling repeats itself
                done.append(Completion(**vars(done[rng.randrange(len(done))])))
                continue
            text, answer = _text(rng, chain, rng.random() < slip_rate)
            strict = str(answer) if "answer is" in text else None
            done.append(Completion(text, 0, None, strict, strict == str(gold), str(answer), answer == gold))
        records.append(Record(f"bench-{i}", 1, "test", f"Q{i}", str(gold), {"difficulty": steps}, done[0], done[1:]))
    return records


def sample_records(model_path: str, problems: int, samples: int, seed: int) -> list[Record]:
    """The loop's sampling stage on arith `improve`: N samples per problem at T=0.75, top-p 0.95, graded;
    each record also gets a greedy completion so greedy pass@1 is defined."""
    from selfimprove.evaluate import EvalSection, evaluate_split
    from selfimprove.sampling.hf import HFSampler, load_model
    from selfimprove.sections import SamplingSection
    from selfimprove.tasks import get_task

    model, tokenizer = load_model(model_path, "float32", "cpu")
    sampler = HFSampler(model, tokenizer, batch_size=128, show_progress=False)
    sampling = SamplingSection(n=samples, max_new_tokens=80, seed=seed)
    return evaluate_split(sampler, get_task("arith"), "improve", sampling, EvalSection(limit=problems, k=samples), 0)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def compare_with_sampling(metrics_seconds: float, sampling_seconds: float) -> str:
    """A line setting the metrics stage beside a sampling stage of the same run (both in seconds)."""
    return (
        f"metrics {metrics_seconds:.1f} s vs sampling {sampling_seconds:.1f} s: "
        f"metrics add {metrics_seconds / sampling_seconds:.1%} to the sampling time"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=1000, help="number of problems")
    parser.add_argument("--samples", type=int, default=16, help="samples per problem (N)")
    parser.add_argument("--device", default=None, help="device for the sentence encoder (default: auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic completions")
    parser.add_argument("--model", default=None, help="sample real records from this checkpoint (timed)")
    args = parser.parse_args(argv)

    t_sample = None
    if args.model:
        t_sample, records = timed(lambda: sample_records(args.model, args.problems, args.samples, args.seed))
    else:
        records = make_records(args.problems, args.samples, args.seed)
    texts = {c.text for r in records for c in r.samples}
    print(f"{args.problems} problems x {args.samples} samples = {args.problems * args.samples} completions, "
          f"{len(texts)} distinct texts")
    rows = []
    t, _ = timed(lambda: (greedy_metrics(records), sampled_metrics(records), sampled_metrics(records, True)))
    rows.append(("pass@1 greedy, pass@k, maj@k, accuracy, coverage (strict+flexible)", t))
    t, _ = timed(lambda: diversity(records))
    rows.append(("lexical + logical diversity", t))
    with tempfile.TemporaryDirectory() as tmp:
        cold = EmbeddingCache(Path(tmp), device=args.device)
        t_load, _ = timed(cold.encoder)
        rows.append(("load all-MiniLM-L6-v2 from the installed package", t_load))
        t_cold, summary = timed(lambda: summarize(records, cold))
        rows.append(("summarize(), embedding cache cold (encodes every text)", t_cold))
        warm = EmbeddingCache(Path(tmp), device=args.device)
        t_warm, again = timed(lambda: summarize(records, warm))
        rows.append(("summarize(), embedding cache warm (read from disk, no model)", t_warm))
        assert again == summary, "a warm cache must reproduce the cold result exactly"
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds:8.2f} s")
    print(f"cold: {cold.misses} texts encoded, {cold.misses / t_cold:.0f} texts/s over the whole summarize(); "
          f"warm: {warm.hits} cache hits, {warm.misses} misses; cold+load / warm = {(t_load + t_cold) / t_warm:.0f}x")
    if t_sample is not None:
        print("sampling stage (generate + verify) vs metrics stage of the same records:")
        print("  " + compare_with_sampling(t_cold, t_sample) + " (metrics with a cold embedding cache)")
    print(f"greedy pass@1 {summary['greedy_pass@1']:.3f}, coverage@{args.samples} {summary['coverage@N']:.3f}, "
          f"semantic diversity (correct) {summary['diversity']['correct']['semantic']:.3f}")


if __name__ == "__main__":
    run_script(main)
