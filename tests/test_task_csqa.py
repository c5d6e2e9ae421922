"""CSQA task: letter extraction (strict vs flexible), the v1.11 dev set, both row layouts, few-shot from train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.errors import UserError
from selfimprove.tasks.csqa import CSQATask
from selfimprove.types import Task


@pytest.mark.parametrize(
    ("text", "strict", "flexible"),
    [
        ("A bank has guards. So the answer is (A).", "A", "A"),
        ("The answer is C", "C", "C"),
        ("the answer is (c).", "C", "C"),  # lowercase letters count inside parentheses
        ("Answer: E", "E", "E"),
        ("the answer is a bank", None, None),  # an article, not a choice
        ("B", None, "B"),
        ("(D) mall, because malls are busy.", None, "D"),
        ("B. library", None, "B"),
        ("A revolving door is at a bank.", None, None),  # a leading article is not an answer
        ("Between (A) bank and (D) mall I pick (D)", None, "D"),
        ("The answer is (B). Question: what is (E)?", "B", "B"),  # strict takes the first stated answer
        ("I am not sure.", None, None),
    ],
)
def test_letter_extraction(text: str, strict: str | None, flexible: str | None) -> None:
    task = CSQATask()
    assert task.extract(text, "strict") == strict
    assert task.extract(text, "flexible") == flexible


def test_verify() -> None:
    task = CSQATask()
    assert task.verify("A", "A") and task.verify(" b", "B")
    assert not task.verify("C", "A") and not task.verify(None, "A")


def test_v111_dev_set(shared_data: Path) -> None:
    task = CSQATask(data_dir=str(shared_data), hub=False)
    problems = task.load("validation")
    assert len(problems) == 1221 and len({p.id for p in problems}) == 1221
    assert all(len(p.metadata["choices"]) == 5 and p.gold in "ABCDE" for p in problems)
    first = problems[0]
    assert first.id == "csqa-1afa02df02c908a558b4036e80242fac" and first.gold == "A"
    assert "(A) bank (B) library (C) department store (D) mall (E) new york" in first.prompt
    assert first.metadata["concept"] == "revolving door" and first.metadata["split"] == "validation"
    # the gold letter, stated the way the prompt asks, verifies for every question
    assert all(task.verify(task.extract(f"The answer is ({p.gold}).", "strict"), p.gold) for p in problems)
    assert isinstance(task, Task)


def test_few_shot_without_train_is_a_clear_error(shared_data: Path) -> None:
    task = CSQATask(data_dir=str(shared_data), hub=False)
    problem = task.load("validation", limit=1)[0]
    assert task.format_prompt(problem, 0) == problem.prompt
    with pytest.raises(UserError, match=r"train_rand_split\.jsonl.*tau/commonsense_qa"):
        task.format_prompt(problem, 3)


def test_original_layout_train_gives_few_shot_and_skips_dev_duplicates(tmp_path: Path, shared_data: Path) -> None:
    dev = (shared_data / "csqa" / "dev_v1.11_hf_format.jsonl").read_text().splitlines()[0]
    dev_row = json.loads(dev)
    folder = tmp_path / "csqa"
    folder.mkdir()
    (folder / "dev_v1.11_hf_format.jsonl").write_text(dev + "\n")
    labels = "ABCDE"
    rows = [
        {
            "answerKey": "B",
            "id": f"t{i}",
            "question": {
                "question_concept": "c",
                "stem": f"Train question {i}?",
                "choices": [{"label": x, "text": f"opt{i}{x}"} for x in labels],
            },
        }
        for i in range(4)
    ]
    # a train row that repeats the dev question must never be shown as an exemplar
    rows.append({**rows[0], "id": "dup", "question": {**rows[0]["question"], "stem": dev_row["question"]}})
    (folder / "train_rand_split.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = CSQATask(data_dir=str(tmp_path), hub=False, seed=3)
    problem = task.load("validation")[0]
    shots = task.exemplars(problem, 4)
    assert sorted(e.id for e in shots) == ["csqa-t0", "csqa-t1", "csqa-t2", "csqa-t3"]
    prompt = task.format_prompt(problem, 2)
    assert isinstance(prompt, str) and prompt.count("The answer is (B).") == 2
    assert prompt.count(dev_row["question"]) == 1 and prompt.endswith("(E) new york\nAnswer:")
    with pytest.raises(UserError, match="only 4"):
        task.format_prompt(problem, 5)
