"""MBPP and HumanEval tasks: program extraction, prompts and splits, and verification in the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfimprove.errors import UserError
from selfimprove.tasks.humaneval import HumanEvalTask, cut_body, is_body
from selfimprove.tasks.mbpp import MBPPTask
from selfimprove.types import Task


def sandbox_or_skip() -> None:
    try:
        from selfimprove.sandbox import run_tests  # noqa: F401
    except ImportError as e:
        pytest.skip(f"selfimprove.sandbox is not importable yet ({e})")


@pytest.fixture(scope="module")
def mbpp(shared_data: Path) -> MBPPTask:
    return MBPPTask(data_dir=str(shared_data), hub=False)


@pytest.fixture(scope="module")
def humaneval(shared_data: Path) -> HumanEvalTask:
    return HumanEvalTask(data_dir=str(shared_data), hub=False)


CODE = "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize(
    ("text", "strict", "flexible"),
    [
        (f"{CODE}[DONE]\nYou are an expert", CODE, CODE),  # the paper's [BEGIN]/[DONE] format
        (f"Here it is:\n```python\n{CODE}```\nIt adds.", CODE, CODE),
        (f"```\nprint(1)\n```\n```python\n{CODE}```", CODE, CODE),  # the block that defines something
        (f"Here it is:\n```python\n{CODE}", None, CODE),  # unclosed fence
        (f"Sure! Here is the function:\n{CODE}\nThis adds two numbers.", None, CODE),  # prose around code
        ("I cannot solve this.", None, None),
        ("[DONE]", None, None),
    ],
)
def test_mbpp_program_extraction(text: str, strict: str | None, flexible: str | None) -> None:
    task = MBPPTask()
    assert task.extract(text, "strict") == strict
    assert task.extract(text, "flexible") == flexible


BODY = "    return a + b\n"


@pytest.mark.parametrize(
    ("text", "strict", "flexible"),
    [
        (BODY, BODY, BODY),
        (f"{BODY}\n\ndef main():\n    print(add(1, 2))\n", f"{BODY}\n", f"{BODY}\n"),  # cut at the Codex stops
        (f"{BODY}\nif __name__ == '__main__':\n    pass\n", BODY, BODY),
        (f"```python\n{CODE}```", CODE, CODE),  # a whole function, fenced
        (CODE, CODE, CODE),  # a whole function, plain
        ("    return a +\n", None, "    return a +\n"),  # does not parse: only flexible keeps it
    ],
)
def test_humaneval_extraction(text: str, strict: str | None, flexible: str | None) -> None:
    task = HumanEvalTask()
    assert task.extract(text, "strict") == strict
    assert task.extract(text, "flexible") == flexible


def test_body_detection_and_cut() -> None:
    assert is_body("\n    x = 1\n") and not is_body("import math\ndef f(): pass\n")
    assert cut_body("    return 1\n# test\nprint(f())") == "    return 1"


def test_humaneval_program_is_prompt_plus_body_or_whole_function(humaneval: HumanEvalTask) -> None:
    problem = humaneval.load("test")[0]
    body = problem.metadata["solution"]
    assert humaneval.program(body, problem.gold) == problem.prompt + body
    whole = "def has_close_elements(numbers, threshold):\n    return False\n"
    assert humaneval.program(whole, problem.gold) == f"{problem.prompt}\n{whole}"
    assert problem.gold.endswith("\ncheck(has_close_elements)\n") and problem.id == "HumanEval/0"
    assert len(humaneval.load("test")) == 164 and isinstance(humaneval, Task)
    with pytest.raises(UserError, match="shots=0"):
        humaneval.format_prompt(problem, 3)


def test_mbpp_splits_follow_the_paper(mbpp: MBPPTask, shared_data: Path) -> None:
    sizes = {split: len(mbpp.load(split)) for split in mbpp.splits}
    assert sizes == {"test": 500, "validation": 90, "train": 374, "prompt": 10}
    ids = [p.metadata["task_id"] for p in mbpp.load("test")]
    assert ids == list(range(11, 511))
    sanitized = MBPPTask(data_dir=str(shared_data), hub=False, variant="sanitized")
    sanitized_sizes = {s: len(sanitized.load(s)) for s in sanitized.splits}
    assert sanitized_sizes == {"test": 257, "validation": 43, "train": 120, "prompt": 7}
    assert isinstance(mbpp, Task)


def test_mbpp_three_shot_prompt_uses_tasks_2_3_4(mbpp: MBPPTask) -> None:
    problem = mbpp.load("test")[0]
    assert [e.metadata["task_id"] for e in mbpp.exemplars(problem, 3)] == [2, 3, 4]
    prompt = mbpp.format_prompt(problem, 3)
    assert isinstance(prompt, str) and prompt.count("[DONE]") == 3 and prompt.count("[BEGIN]") == 4
    assert prompt.startswith("You are an expert Python programmer, and here is your task: Write a function to find")
    assert prompt.endswith(f"{problem.metadata['test_list'][-1]}\n[BEGIN]\n")
    asked = next(p for p in mbpp.load("prompt") if p.metadata["task_id"] == 3)  # never its own exemplar
    assert [e.metadata["task_id"] for e in mbpp.exemplars(asked, 3)] == [2, 4, 1]
    setup = next(p for p in mbpp.load("test") if p.metadata["task_id"] == 367)
    assert setup.gold.startswith("root = Node(1)") and setup.gold.rstrip().endswith("== False")


def test_mbpp_reference_solutions_pass_and_planted_bugs_fail(mbpp: MBPPTask) -> None:
    sandbox_or_skip()
    for problem in mbpp.load("test")[:8]:
        answer = mbpp.extract(problem.metadata["solution"] + "\n[DONE]", "strict")
        assert mbpp.verify(answer, problem.gold), problem.id
        assert "return " in answer, problem.id
        broken = answer.replace("return ", "return None and ", 1)  # every function now returns None
        assert not mbpp.verify(broken, problem.gold), problem.id
    impatient = MBPPTask(data_dir=mbpp.data_dir, hub=False, timeout=1.0)
    assert not impatient.verify("while True:\n    pass\n", mbpp.load("test")[0].gold)


def test_humaneval_canonical_solutions_pass_and_planted_bugs_fail(humaneval: HumanEvalTask) -> None:
    sandbox_or_skip()
    for problem in humaneval.load("test")[:6]:
        body = humaneval.extract(problem.metadata["solution"], "strict")
        assert humaneval.verify(body, problem.gold), problem.id
        whole = humaneval.extract(f"```python\n{problem.prompt}{problem.metadata['solution']}```", "strict")
        assert humaneval.verify(whole, problem.gold), problem.id
        assert not humaneval.verify("    return None\n", problem.gold), problem.id
