"""Compositional GSM evaluation (Hosseini et al. 2024): S1, S2, S_comp and Δ = S_comp − S1·S2 computed end to
end through evaluate.py from constructed answers (hand-checked numbers), code answers run in the real
sandbox, and the real CLI on a micro model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from selfimprove.compositional.code_mode import (
    OPEN,
    arith_exemplars,
    arith_seed_pairs,
    code_exemplars,
    extract_program,
    gsm_pair_program,
    gsm_single_program,
    printed_answers,
    run_programs,
)
from selfimprove.compositional.evaluate import (
    CompositionalSection,
    arith_pair_exemplars,
    cot_answers,
    evaluate_compositional,
    pair_split,
)
from selfimprove.errors import UserError
from selfimprove.sections import TaskSection
from selfimprove.tasks import arith_world as world
from selfimprove.tasks import get_task
from selfimprove.types import Completion, Problem, Prompt, SamplingParams

# Four pairs, as in test_compositional_gap.py. Alone: Q1 right on 0,1,3; Q2 right on 0,2,3. In the pair
# (strict): Q1 right on 0,3; Q2 right on 0,1. Pair 1 states Q1's right answer only as `X = N`, which
# flexible extraction accepts, so flexibly Q1 is right in the pair on 0,1,3.
Q1_ALONE = [True, True, False, True]
Q2_ALONE = [True, False, True, True]
COMP_Q2 = [True, True, False, False]


class ScriptedSampler:
    """A Sampler (types.py protocol) that answers each prompt with text written for it: the answers are
    constructed so that the grades are known, and every prompt it was asked is kept."""

    def __init__(self, pairs: list[Problem], code: bool) -> None:
        self.pairs, self.code, self.asked = pairs, code, []

    def sample(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        assert params.greedy and params.n == 1
        self.asked += prompts
        return [[Completion(self.answer(str(p)))] for p in prompts]

    def answer(self, prompt: str) -> str:
        for i, pair in enumerate(self.pairs):
            m = pair.metadata
            a1, a2 = int(m["q1_gold"]), int(m["q2_gold"])
            if "Let X be" in prompt and m["q1_prompt"].split("\n")[0][3:] in prompt:
                return self.pair_answer(i, a1, a2)
            for role, gold, right in (("q1", a1, Q1_ALONE[i]), ("q2", a2, Q2_ALONE[i])):
                if "Let X be" not in prompt and m[f"{role}_prompt"].split("\n")[0][3:] in prompt:
                    value = gold if right else gold + 1
                    return f"print({value})\n```\nprint(0)" if self.code else f" 1+1=2. The answer is {value}."
        raise AssertionError(f"unexpected prompt {prompt!r}")

    def pair_answer(self, i: int, a1: int, a2: int) -> str:
        if self.code:
            return [
                f"X = {a1}\nprint(X)\nprint(X * 0 + {a2})\n```",
                f"print('X is', {a1})\nprint({a2})\n```",  # Q1 not alone on its line: flexible only
                "print(1 / 0)\n```",  # crashes: no answer at all
                f"print({a1})\nprint({a2} + 1)\n```",
            ][i]
        return [
            f"The Q1 answer is {a1}. Therefore X={a1}. The final answer is {a2}.",
            f"So X = {a1}. The final answer is {a2}.",
            f"The Q1 answer is {a1 + 1}. Therefore X={a1 + 1}. The final answer is {a2 + 1}.",
            f"The Q1 answer is {a1}. Therefore X={a1}. The final answer is {a2 + 1}.",
        ][i]


def _value(metrics: dict, mode: str, em: str, key: str) -> float:
    return metrics["modes"][mode][em][key]["value"]


@pytest.fixture(scope="module")
def arith_pairs() -> tuple:
    task = get_task("arith", sizes={"compositional": 4})
    return task, task.load("compositional")


STRICT = {"s1": 0.75, "s2": 0.75, "s_comp": 0.25, "expected": 0.5625, "gap": 0.25 - 0.5625,
          "q1_in_composition": 0.5, "q1_distraction": 0.25, "q2_in_composition": 0.5, "q2_given_q1": 0.5,
          "second_hop_drop": 0.25, "q2_miss_given_both_solvable": 0.5}
# Flexible: Q1 in the pair right on 0,1,3 -> S_comp 2/4; Q2|Q1 = 2/3; pairs with Q1 in and Q2 alone right: 0, 3.
FLEXIBLE = {**STRICT, "s_comp": 0.5, "gap": 0.5 - 0.5625, "q1_in_composition": 0.75, "q1_distraction": 0.0,
            "q2_given_q1": 2 / 3, "second_hop_drop": 0.75 - 2 / 3}


@pytest.mark.parametrize("mode", ["cot", "code"])
def test_gap_end_to_end_hand_checked(arith_pairs: tuple, mode: str) -> None:
    task, pairs = arith_pairs
    sampler = ScriptedSampler(pairs, code=mode == "code")
    section = CompositionalSection(modes=[mode], n_resamples=300)
    result = evaluate_compositional(sampler, task, section, max_new_tokens=64)
    m = result.metrics
    assert m["n_pairs"] == 4 and m["split"] == "compositional" and len(sampler.asked) == 12
    for em, expected in (("strict", STRICT), ("flexible", FLEXIBLE)):
        for key, value in expected.items():
            assert _value(m, mode, em, key) == pytest.approx(value), (em, key)
        gap = m["modes"][mode][em]["gap"]
        assert gap["low"] <= gap["value"] <= gap["high"]
    pair_records = [r for r in result.records if r.metadata["role"] == "pair"]
    assert [r.greedy.correct for r in pair_records] == [True, False, False, False]  # S_comp: both halves
    assert [r.greedy.correct_flexible for r in pair_records] == [True, True, False, False]
    assert [r.metadata["q1_correct"] for r in pair_records] == [True, False, False, True]
    assert {r.split for r in result.records} == {f"compositional/{mode}/{role}" for role in ("pair", "q1", "q2")}
    if mode == "code":
        assert [r.metadata["sandbox_status"] for r in pair_records] == ["passed", "passed", "error", "passed"]


def test_undefined_conditional_is_none_not_nan(arith_pairs: tuple) -> None:
    task, pairs = arith_pairs

    class Silent(ScriptedSampler):
        def answer(self, prompt: str) -> str:
            return "I do not know."

    m = evaluate_compositional(Silent(pairs, code=False), task, CompositionalSection(n_resamples=50)).metrics
    strict = m["modes"]["cot"]["strict"]
    assert strict["s_comp"]["value"] == 0.0 and strict["q2_given_q1"]["value"] is None
    json.dumps(m, allow_nan=False)


def test_known_greedy_completions_are_reused(arith_pairs: tuple) -> None:
    task, pairs = arith_pairs
    sampler = ScriptedSampler(pairs, code=False)
    known = {str(p.prompt): Completion(sampler.pair_answer(i, int(p.metadata["q1_gold"]), int(p.gold)))
             for i, p in enumerate(pairs)}
    m = evaluate_compositional(sampler, task, CompositionalSection(n_resamples=50), known=known).metrics
    assert len(sampler.asked) == 8 and not any("Let X be" in str(p) for p in sampler.asked)
    assert _value(m, "cot", "strict", "s_comp") == 0.25
    assert all(c.correct is None for c in known.values())  # the caller's completions are not graded in place


def test_sandbox_runs_a_right_and_a_wrong_program() -> None:
    task = get_task("arith")
    right = "total = 12\nfor _ in range(3):\n    total = total * 2\nprint(total / 4)\n```\ntrailing prose"
    wrong = "total = 12\nprint(total + 1)\n"
    results = run_programs([right, wrong, "import sys\nsys.exit(1)\n"])
    assert [r.status for r in results] == ["passed", "passed", "error"]
    assert printed_answers(results[0]) == ("24", "24")  # 24.0 printed, compared as the number 24
    assert task.verify(printed_answers(results[0])[1], "24") and not task.verify(printed_answers(results[1])[1], "24")
    assert printed_answers(results[2], "flexible") == (None, None)


def test_program_extraction_and_strict_reading() -> None:
    assert extract_program(f"Sure.\n{OPEN}print(1)\n```\nmore") == "print(1)\n"
    assert extract_program("print(2)\n```\nprint(3)") == "print(2)\n"
    (result,) = run_programs(["print('X =', 7)\nprint('answer:', 9)"])
    assert printed_answers(result, "strict") == (None, None)
    assert printed_answers(result, "flexible") == ("7", "9")


def test_arith_code_exemplars_print_the_gold_answers() -> None:
    exemplars = arith_exemplars(pair=True, shots=3) + arith_exemplars(pair=False, shots=3)
    results = run_programs([e.split(OPEN)[-1] for e in exemplars])
    composed = arith_seed_pairs(3)
    assert all(s.after >= 0 for c in composed for s in c.q2.steps) and composed[0].q2.start == composed[0].q1.answer
    expected = [(str(c.q1.answer), str(c.q2.answer)) for c in composed]
    expected += [(str(p.answer), str(p.answer)) for p in world.split_problems("seed", 3)]
    assert [printed_answers(r) for r in results] == expected


def test_arith_cot_pair_exemplars_read_back(arith_pairs: tuple) -> None:
    task, _ = arith_pairs
    blocks = arith_pair_exemplars(2, 0).strip().split("\n\n")
    assert len(blocks) == 2
    for block, composed in zip(blocks, arith_seed_pairs(2)):
        answer = block.split("\nA:", 1)[1]
        assert cot_answers(task, "pair", answer, "strict") == (str(composed.q1.answer), str(composed.q2.answer))
        assert not re.search(r"(?<!\d)-\d", answer)  # Q2 re-run from X never goes negative


def test_gsm_code_exemplars_compute_the_gold_answers(shared_data: Path) -> None:
    from selfimprove.compositional.build import build_pairs
    from selfimprove.compositional.config import BuildConfig
    from selfimprove.compositional.pairs import fmt, load_gsm8k

    train = load_gsm8k(shared_data / "gsm8k" / "train.jsonl")[:300]
    singles = [(item, program) for item in train[:40] if (program := gsm_single_program(item)) is not None]
    pairs, _ = build_pairs(train, train, BuildConfig(seed=1, num_pairs=15))
    paired = [(p, program) for p in pairs if (program := gsm_pair_program(p)) is not None]
    assert len(singles) >= 20 and len(paired) >= 5  # a Q1 whose own chain does not trace gives no program
    results = run_programs(["\n".join(prog) for _, prog in singles + paired])
    for (item, _), r in zip(singles, results):
        assert printed_answers(r)[1] == fmt(item.answer), item.id
    for (pair, program), r in zip(paired, results[len(singles) :]):
        assert "X" in "\n".join(program[program.index("print(X)") :])
        assert printed_answers(r) == (str(pair.q1_answer), str(pair.q2_answer)), pair.id


def test_tasks_without_pairs_are_refused() -> None:
    with pytest.raises(UserError, match="composed pairs"):
        pair_split(get_task("gsm8k", data_dir="."))
    with pytest.raises(UserError, match="code-mode exemplars"):
        code_exemplars(get_task("compositional_gsm", pairs_path="pairs.jsonl"), pair=True, shots=2)


def test_task_section_is_accepted(arith_pairs: tuple) -> None:
    from selfimprove.compositional.evaluate import compositional_metrics

    _, pairs = arith_pairs
    section = TaskSection(name="arith", options={"sizes": {"compositional": 4}})
    m = compositional_metrics(ScriptedSampler(pairs, code=False), section, CompositionalSection(n_resamples=50))
    assert _value(m, "cot", "strict", "gap") == pytest.approx(0.25 - 0.5625)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "selfimprove.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
def test_cli_eval_arith_compositional_micro_model(micro_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _cli("eval", "--model", str(micro_model), "--task", "arith", "--split", "compositional", "--limit", "10",
                "--k", "0", "--out", str(out), "sampling.max_new_tokens=24", "compositional.n_resamples=200",
                "compositional.modes=[cot, code]", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    comp = metrics["compositional"]
    assert comp["n_problems"] == 10 and comp["n_pairs"] == 10  # the split summary and the gap share the key
    for mode in ("cot", "code"):
        s = comp["modes"][mode]["strict"]
        assert s["gap"]["value"] == pytest.approx(s["s_comp"]["value"] - s["s1"]["value"] * s["s2"]["value"])
    lines = (out / "compositional.jsonl").read_text().splitlines()
    assert len(lines) == 60
    assert "reasoning gap on arith (cot)" in proc.stdout


@pytest.mark.slow
def test_cli_build_and_eval_compositional_gsm(shared_data: Path, micro_model: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    proc = _cli("build-compositional", "--input", str(shared_data / "gsm8k" / "test.jsonl"), "--out", str(pairs),
                "--num-pairs", "5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(pairs.read_text().splitlines()) == 5 and "built 5 pairs" in proc.stdout
    out = tmp_path / "run"
    proc = _cli("eval", "--model", str(micro_model), "--task", "compositional_gsm", "--limit", "3", "--k", "0",
                "--out", str(out), f"task.options.pairs_path={pairs}", "sampling.max_new_tokens=8",
                "compositional.n_resamples=100", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"pairs", "q1", "q2", "compositional"} <= set(metrics) and metrics["compositional"]["n_pairs"] == 3
    evaluated = {json.loads(line)["prompt"]: json.loads(line)["greedy"]["text"]
                 for line in (out / "eval.jsonl").read_text().splitlines()}
    gap_rows = [json.loads(line) for line in (out / "compositional.jsonl").read_text().splitlines()]
    assert len(gap_rows) == 9 and all(evaluated[r["prompt"]] == r["greedy"]["text"] for r in gap_rows)
