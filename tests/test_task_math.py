"""MATH task: \\boxed{} extraction, math-verify equivalence, gold solutions, levels/subjects, MATH-500, few-shot."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from selfimprove.errors import UserError
from selfimprove.tasks.math import MATHTask, last_boxed, level_of
from selfimprove.types import Task

SUBJECTS = {"Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra", "Number Theory",
            "Prealgebra", "Precalculus"}  # fmt: skip
# The two MATH train solutions whose \boxed{} is empty (a defect of the release): nothing can verify them.
EMPTY_BOXED = {"math-train/number_theory/7115.json", "math-train/number_theory/7117.json"}


@pytest.fixture(scope="module")
def task(shared_data: Path) -> MATHTask:
    return MATHTask(data_dir=str(shared_data), hub=False)


@pytest.mark.parametrize(
    ("text", "boxed"),
    [
        ("so $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("first \\boxed{1}, finally \\boxed{\\{1, {2}\\}}", "\\{1, {2}\\}"),  # the last box, nested braces
        ("The answer is $\\boxed 5$.", "5"),
        ("\\fbox{12}", "12"),
        ("cut off: \\boxed{\\frac{1}{2", None),
        ("no box: x = 3", None),
    ],
)
def test_last_boxed(text: str, boxed: str | None) -> None:
    assert last_boxed(text) == boxed


@pytest.mark.parametrize(
    ("answer", "gold", "same"),
    [
        ("0.5", "\\frac{1}{2}", True),
        ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}", True),
        ("(3,\\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
        ("1+x^2", "x^2+1", True),
        ("C", "\\text{(C)}", True),
        ("[-2, 7]", "[-2,7]", True),
        ("4", "3", False),
        ("\\frac{1}{3}", "\\frac{1}{2}", False),
        ("(3,\\pi)", "\\left( 3, \\frac{\\pi}{2} \\right)", False),
        ("", "3", False),
        (None, "3", False),
    ],
)
def test_equivalence_by_math_verify(answer: str | None, gold: str, same: bool) -> None:
    assert MATHTask().verify(answer, gold) is same


def test_strict_needs_a_box_flexible_does_not() -> None:
    task = MATHTask()
    text = "Adding the two equations gives $2x = 6$, so $x = 3$."
    assert task.extract(text, "strict") is None
    assert task.verify(task.extract(text, "flexible"), "3")
    boxed = "Hence $\\boxed{3}$ and then some text with 7."
    assert task.extract(boxed, "strict") == task.extract(boxed, "flexible") == "3"


def test_verify_works_off_the_main_thread() -> None:
    # math-verify's timeout uses signal.alarm; samplers and servers may call verify from worker threads.
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(MATHTask().verify("0.25", "\\frac{1}{4}")))
    worker.start()
    worker.join(timeout=60)
    assert results == [True]


def test_math500_gold_solutions_verify_and_planted_answers_fail(task: MATHTask) -> None:
    problems = task.load("math500")
    assert len(problems) == 500
    failures = [p.id for p in problems if not task.verify(task.extract(p.metadata["solution"]), p.gold)]
    print(f"math500: gold solutions verifying {500 - len(failures)} of 500")
    assert failures == []
    integers = [p for p in problems if p.gold.lstrip("-").isdigit()]
    assert len(integers) > 250
    assert not [p.id for p in integers if task.verify(str(int(p.gold) + 1), p.gold)]
    planted = [
        p.metadata["solution"].replace(f"\\boxed{{{p.gold}}}", f"\\boxed{{{int(p.gold) + 1}}}") for p in integers
    ]
    assert not [p.id for p, text in zip(integers, planted, strict=True) if task.verify(task.extract(text), p.gold)]


@pytest.mark.slow
@pytest.mark.parametrize("split", ["test", "train"])
def test_every_full_math_gold_solution_verifies(task: MATHTask, split: str) -> None:
    problems = task.load(split)
    assert len(problems) == {"test": 5000, "train": 7500}[split]
    failures = {p.id: p.gold for p in problems if not task.verify(task.extract(p.metadata["solution"]), p.gold)}
    print(f"math {split}: gold solutions verifying {len(problems) - len(failures)} of {len(problems)}: {failures}")
    assert failures == ({i: "" for i in EMPTY_BOXED} if split == "train" else {})


def test_metadata_levels_and_subjects(task: MATHTask) -> None:
    for split in ("math500", "test", "train"):
        problems = task.load(split)
        assert len({p.id for p in problems}) == len(problems)
        assert {p.metadata["subject"] for p in problems} == SUBJECTS
        levels = [p.metadata["level"] for p in problems]
        assert {level for level in levels if level is not None} == {1, 2, 3, 4, 5}
        assert levels.count(None) == (2 if split == "train" else 0)  # two train items say "Level ?"
        assert all(p.metadata["difficulty"] == p.metadata["level"] and p.metadata["split"] == split for p in problems)
    assert [level_of("Level 3"), level_of(4), level_of("Level ?")] == [3, 4, None]
    first = task.load("math500", limit=1)[0]
    assert first.id == "math-test/precalculus/807.json" and first.metadata["level"] == 2
    assert isinstance(task, Task)


def test_math500_is_a_subset_of_test(task: MATHTask) -> None:
    test = {p.id: p for p in task.load("test")}
    for p in task.load("math500"):
        assert test[p.id].metadata["question"] == p.metadata["question"]
        assert task.verify(p.gold, test[p.id].gold), p.id


def test_few_shot_exemplars_come_from_train_and_skip_test_duplicates(task: MATHTask) -> None:
    evaluated = {p.metadata["question"].strip() for s in ("test", "math500") for p in task.load(s)}
    duplicates = [p for p in task.load("train") if p.metadata["question"].strip() in evaluated]
    assert len(duplicates) == 1  # MATH train repeats one test problem
    order = task.exemplars(task.load("math500")[0], len(task.load("train")) - 2)
    assert duplicates[0] not in order and all(e.metadata["split"] == "train" for e in order)
    problem = task.load("math500")[7]
    prompt = task.format_prompt(problem, 4)
    assert isinstance(prompt, str) and prompt.count("Problem:\n") == 5
    assert prompt.endswith(f"Problem:\n{problem.metadata['question']}\n\nSolution:")
    assert [q for q in evaluated if q in prompt] == [problem.metadata["question"].strip()]


def test_original_release_layout_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "math" / "test" / "algebra"
    folder.mkdir(parents=True)
    for n, answer in ((10, "4"), (2, "\\frac{1}{2}")):
        row = {"problem": f"P{n}", "level": "Level 2", "type": "Algebra", "solution": f"$\\boxed{{{answer}}}$"}
        (folder / f"{n}.json").write_text(json.dumps(row))
    problems = MATHTask(data_dir=str(tmp_path), hub=False).load("test")
    assert [p.id for p in problems] == ["math-test/algebra/2.json", "math-test/algebra/10.json"]
    assert [p.gold for p in problems] == ["\\frac{1}{2}", "4"]
    with pytest.raises(UserError, match=r"math500_test\.jsonl .*PRM800K"):
        MATHTask(data_dir=str(tmp_path), hub=False).load("math500")
