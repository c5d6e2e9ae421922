"""The second turn of a two-attempt self-correction episode (Kumar et al. 2024, "Training Language Models to
Self-Correct via Reinforcement Learning", SCoRe, Sec. 3 and Appendix).

The model answers (attempt 1); the correction instruction is appended; the model answers again (attempt 2).
The instruction texts are the paper's, with the format sentence of its MATH prompt left to each task's own
answer format. A task declares its instruction as the attribute `correction` (a string) and, for plain-text
prompts, the text that opens an answer as `answer_prefix` (arith: `A:`), so the second attempt starts where a
first attempt does. Every producer of second-turn prompts (evaluation, SCoRe training, the arith world's revise
data) renders them with `second_turn_prompt`, so the seed model learns exactly the format it is tested on.
"""

from __future__ import annotations

from typing import Any

from selfimprove.errors import UserError
from selfimprove.types import Prompt

# Kumar et al. 2024, MATH prompt of the second turn (the paper then asks for its "Final Answer: ..." format,
# which here is the task's own).
SOLUTION = ("There might be an error in the solution above because of lack of understanding of the question. "
            "Please correct the error, if any, and rewrite the solution.")
# Kumar et al. 2024, the code (MBPP/HumanEval) second turn.
CODE = ("There might be an error in the code above because of lack of understanding of the question. "
        "Please correct the error, if any, and rewrite the solution. Only output the final correct Python program!")


def correction_instruction(task: Any) -> str:
    """The task's correction instruction, or a clear error naming the task."""
    instruction = getattr(task, "correction", None)
    if not instruction:
        raise UserError(f"task {getattr(task, 'name', task)!r} has no correction instruction (attribute "
                        "`correction`), so it cannot be evaluated or trained with a second attempt")
    return str(instruction)


def second_turn_prompt(prompt: Prompt, first_attempt: str, instruction: str, answer_prefix: str = "") -> Prompt:
    """The prompt of attempt 2. Chat prompts: the conversation so far, the first attempt as the assistant's
    turn, the instruction as the user's next turn. Plain text: prompt, first attempt, a blank line, the
    instruction, a new line and the task's answer prefix."""
    if isinstance(prompt, list):
        return [*prompt, {"role": "assistant", "content": first_attempt},
                {"role": "user", "content": instruction}]
    return f"{prompt}{first_attempt.rstrip()}\n\n{instruction}\n{answer_prefix}"
