"""GSM8K task: gold solutions verify, planted errors fail, strict vs flexible extraction, clean few-shot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.errors import UserError
from selfimprove.tasks import get_task
from selfimprove.tasks.gsm8k import GSM8KTask
from selfimprove.types import Completion, Task
from selfimprove.verify import grade


@pytest.fixture(scope="module")
def task(shared_data: Path) -> GSM8KTask:
    return GSM8KTask(data_dir=str(shared_data), hub=False)


@pytest.mark.parametrize(
    ("text", "strict", "flexible"),
    [
        ("5 + 3 = 8 apples.\n#### 8", "8", "8"),
        ("He pays 3 * 4 = 12 dollars.\nThe answer is 12.", "12", "12"),
        ("She has 12 apples, gives 4 away, leaving 8.", None, "8"),  # no stated answer: flexible only
        ("The answer is $1,234.50.", None, "1234.50"),  # harness strict regex has no `$`
        ("#### 72\n\nQuestion: Tom has 3 cats.", "72", "3"),  # strict takes the first, flexible the last
        ("The total is 1,000 dollars.\n#### 1,000", "1000", "1000"),
        ("It drops by 5.\n#### -5", "-5", "-5"),
        ("No numbers here.", None, None),
    ],
)
def test_strict_and_flexible_extraction(text: str, strict: str | None, flexible: str | None) -> None:
    task = GSM8KTask()
    assert task.extract(text, "strict") == strict
    assert task.extract(text, "flexible") == flexible


@pytest.mark.parametrize(
    ("answer", "gold", "correct"),
    [
        ("1,000", "1000", True),
        ("$18", "18", True),
        ("18.", "18", True),
        ("18.00", "18", False),  # exact match after the harness's normalization, as lm-evaluation-harness scores
        ("19", "18", False),
        ("", "0", False),
        (None, "18", False),
    ],
)
def test_verify_normalizes_like_the_harness(answer: str | None, gold: str, correct: bool) -> None:
    assert GSM8KTask().verify(answer, gold) is correct


def test_judge_reports_strict_and_flexible_side_by_side() -> None:
    done = grade(GSM8KTask(), Completion("Half of 16 is 8, so 8 left."), "8")
    assert (done.answer, done.correct, done.answer_flexible, done.correct_flexible) == (None, False, "8", True)


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_gold_solution_verifies(task: GSM8KTask, split: str) -> None:
    problems = task.load(split)
    assert len(problems) == {"train": 7473, "test": 1319}[split]
    failures = {
        mode: [p.id for p in problems if not task.verify(task.extract(p.metadata["solution"], mode), p.gold)]
        for mode in ("strict", "flexible")
    }
    counts = {mode: len(problems) - len(ids) for mode, ids in failures.items()}
    print(f"gsm8k {split}: gold solutions verifying {counts} of {len(problems)}")
    assert failures == {"strict": [], "flexible": []}


def test_planted_wrong_answers_fail(task: GSM8KTask) -> None:
    for p in task.load("test"):
        wrong = str(int(p.gold) + 1)
        planted = p.metadata["solution"].rsplit("####", 1)[0] + f"#### {wrong}"
        assert not task.verify(task.extract(planted, "strict"), p.gold), p.id
        assert not task.verify(wrong, p.gold), p.id


def test_problem_fields(task: GSM8KTask) -> None:
    first = task.load("test", limit=1)[0]
    assert first.id == "gsm8k-test-0" and first.gold == "18"
    assert first.metadata["split"] == "test" and first.metadata["source"] == "gsm8k"
    assert first.metadata["difficulty"] == 2  # two solution lines before `#### 18`
    assert first.prompt.endswith("Answer:") and "Janet" in first.prompt
    assert len(task.load("train", limit=5)) == 5
    assert isinstance(task, Task)


def test_few_shot_prompts_draw_from_train_never_test(task: GSM8KTask) -> None:
    train = {p.metadata["question"] for p in task.load("train")}
    test = {p.metadata["question"] for p in task.load("test")}
    for problem in task.load("test")[::50]:
        shots = task.exemplars(problem, 8)
        assert len(shots) == 8 and {e.metadata["question"] for e in shots} <= train
        prompt = task.format_prompt(problem, 8)
        assert isinstance(prompt, str)
        assert [q for q in test if q in prompt] == [problem.metadata["question"]]
        assert prompt.count("Question:") == 9 and prompt.endswith(f"Question: {problem.metadata['question']}\nAnswer:")
        assert "<<" not in prompt  # calculator annotations are stripped from the worked solutions


def test_few_shot_choice_is_seeded_and_skips_the_asked_problem(shared_data: Path) -> None:
    a, b, c = (GSM8KTask(data_dir=str(shared_data), hub=False, seed=s) for s in (1, 1, 2))
    problem = a.load("test")[0]
    assert a.format_prompt(problem, 4) == b.format_prompt(problem, 4)
    assert a.format_prompt(problem, 4) != c.format_prompt(problem, 4)
    first = a.exemplars(problem, 1)[0]  # asking the first exemplar itself gives the next one instead
    assert first not in a.exemplars(first, 4) and a.exemplars(first, 4)[0] == a.exemplars(problem, 2)[1]


def test_local_original_format_and_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    rows = [{"question": "Ann has 2 pens and buys 3. How many?", "answer": "2+3=<<2+3=5>>5\n#### 5"}]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("SELFIMPROVE_DATA_DIR", str(tmp_path))
    task = get_task("gsm8k", hub=False)
    [problem] = task.load("test")
    assert problem.gold == "5" and problem.metadata["difficulty"] == 1
    with pytest.raises(UserError, match=r"train\.jsonl .*openai/grade-school-math.* in .*gsm8k"):
        task.format_prompt(problem, 2)  # few-shot needs the train split, which this folder lacks


def test_bad_options_and_splits_are_user_errors() -> None:
    with pytest.raises(UserError, match="bad option"):
        get_task("gsm8k", shots=3)
    with pytest.raises(UserError, match="no split 'dev'"):
        GSM8KTask().load("dev")


def test_hub_path_is_tried_and_its_failure_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Offline mode makes `datasets` fail at once instead of retrying the network for ~25 s; the call is real.
    datasets = pytest.importorskip("datasets")
    hub_constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError) as error:
        GSM8KTask(data_dir=str(tmp_path)).load("test")
    message = str(error.value)
    origin = "openai/grade-school-math, folder grade_school_math/data/"
    assert f"Put test.jsonl ({origin}) in {tmp_path / 'gsm8k'}" in message
    assert "hub dataset openai/gsm8k [main] split test" in message and "Offline" in message
    with pytest.raises(UserError, match="not a directory"):
        GSM8KTask(data_dir=str(tmp_path / "missing"), hub=False).load("test")
