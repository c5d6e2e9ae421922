"""The second-turn prompt of self-correction and multi-attempt records."""

from __future__ import annotations

import pytest

from selfimprove.correction import CODE, SOLUTION, correction_instruction, second_turn_prompt
from selfimprove.errors import UserError
from selfimprove.tasks import get_task
from selfimprove.types import Completion, Record


def test_plain_second_turn_reopens_the_answer() -> None:
    task = get_task("arith")
    prompt = task.load("test", 1)[0].prompt
    text = second_turn_prompt(prompt, " 2+2=5. The answer is 5.\n", correction_instruction(task), task.answer_prefix)
    assert text == f"{prompt} 2+2=5. The answer is 5.\n\n{SOLUTION}\nA:"


def test_chat_second_turn_adds_two_messages() -> None:
    chat = [{"role": "user", "content": "Q"}]
    turns = second_turn_prompt(chat, "first", CODE)
    assert turns == [*chat, {"role": "assistant", "content": "first"}, {"role": "user", "content": CODE}]
    assert chat == [{"role": "user", "content": "Q"}]  # the first turn's prompt is not changed


def test_task_without_instruction_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no correction instruction"):
        correction_instruction(get_task("wikitext2", data_dir="/nonexistent"))


def test_attempts_survive_a_round_trip() -> None:
    episode = Completion("second", correct=True, attempts=[Completion("first", correct=False), Completion("second", correct=True)],
                         judgments=[{"score": 4.0, "text": "Score: 4", "parsed": True}])
    record = Record("p", 1, "test", "Q", "1", greedy=episode, samples=[episode])
    back = Record.from_dict(record.to_dict())
    assert back == record
    assert back.greedy is not None and back.greedy.attempts[0].correct is False
