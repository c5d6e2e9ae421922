"""`selfimprove eval` with skills: each skill's metric against a sampler that answers from the world's ground
truth (so every number is known), and the real CLI on a micro model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from selfimprove.evaluate_skills import SkillsSection, skill_metrics
from selfimprove.tasks import arith_skills as skills
from selfimprove.tasks import arith_world as world
from selfimprove.tasks.arith import ArithTask
from selfimprove.types import Completion, SamplingParams

QUESTION = re.compile(r"Q: (.*?)\nA:")


class GroundTruth:
    """Answers every skill prompt of the arith world from its ground truth: the judge writes the true
    judgment, pose writes a new valid question, revise repeats the first attempt, solve and compose are right."""

    def __init__(self) -> None:
        self.fresh = iter(world.split_problems("improve", 50))

    def answer(self, prompt: str) -> str:
        if prompt.startswith("Write a new problem"):
            return f" {next(self.fresh).question()}"
        if prompt.startswith("Rate the answer."):
            question, response = QUESTION.search(prompt).group(1), prompt.split("\nA:", 1)[1][: -len("\nRating:")]
            return skills.judgment_text(skills.parse_problem(question), response.strip())
        if prompt.startswith("Q: Let X be"):
            q1, q2 = re.search(r"Q1: (.*?)\n", prompt).group(1), re.search(r"Q2: (.*?)\nA:", prompt).group(1)
            p1 = skills.parse_problem(q1)
            p2 = skills.parse_problem(q2.replace(" has X ", f" has {p1.answer} "))
            return f" {skills.composed_answer(world.ComposedProblem(p1, p2))}"
        if skills.correction.SOLUTION in prompt:
            return prompt.split("\nA:", 1)[1].split("\n\n")[0]
        return f" {skills.parse_problem(QUESTION.search(prompt).group(1)).solution()}"

    def sample(self, prompts: list, params: SamplingParams) -> list[list[Completion]]:
        return [[Completion(text=self.answer(p))] for p in prompts]


def test_skill_metrics_of_a_ground_truth_model() -> None:
    m = skill_metrics(GroundTruth(), ArithTask(), SkillsSection(enabled=True, limit=20))
    assert m["solve"] == {"n": 20, "pass@1": 1.0}
    assert m["judge"]["agreement"] == 1.0 and m["judge"]["pairwise_accuracy"] == 1.0 and m["judge"]["pairs"] > 10
    assert m["pose"] == {"n": 20, "parseable": 1.0, "novel": 1.0, "unparseable": 0}
    assert m["revise"]["acc_t1"] == m["revise"]["acc_t2"] == 1.0 and m["revise"]["delta"] == 0.0
    assert m["compose"]["s_comp"] == 1.0 and m["compose"]["gap"] == 0.0


@pytest.mark.slow
def test_eval_reports_skills_through_the_cli(micro_model: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from selfimprove.cli import app

    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["eval", "--model", str(micro_model), "--task", "arith", "--split", "test",
                                      "--limit", "2", "--k", "0", "--out", str(out), "skills.enabled=true",
                                      "skills.limit=3", "skills.max_new_tokens=8", "sampling.max_new_tokens=8"])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())["skills"]
    assert set(m) == {"solve", "judge", "pose", "revise", "compose"}
    assert m["pose"]["n"] == 3 and 0 <= m["pose"]["parseable"] <= 1 and 0 <= m["judge"]["parsed"] <= 1
    assert "skills" in result.output
