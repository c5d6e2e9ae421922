"""SCoRe's objectives (Kumar et al. 2024, Eq. 3 and 4) against hand-computed values, and the two-turn
masking: the second turn's prompt (first attempt and correction instruction) carries no loss."""

from __future__ import annotations

import pytest
import torch

from selfimprove.correction import SOLUTION, second_turn_prompt
from selfimprove.tiny.tokenizer import build_tokenizer
from selfimprove.train.score import attempt_batch, score_loss
from selfimprove.train.score_config import SCoReSection

# Two episodes: sequence log-probs, KL estimates and rewards of each attempt.
S1, S2 = torch.tensor([-2.0, -4.0]), torch.tensor([-1.0, -3.0])
K1, K2 = torch.tensor([0.5, 0.1]), torch.tensor([0.2, 0.0])
R1, R2 = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
CFG = SCoReSection(alpha=10.0, beta1=0.01, beta2_factor=10.0)


def test_stage_one_rewards_the_second_attempt_and_anchors_the_first() -> None:
    # r2 = (1, 1): advantages 0, so only β2·KL1 remains: β2 = 0.1; mean(0.1·0.5, 0.1·0.1) = 0.03.
    loss, _ = score_loss("I", (S1, S2), (K1, K2), (R1, R2), CFG)
    assert float(loss) == pytest.approx(0.03)
    r2 = torch.tensor([1.0, 0.0])  # advantages (0.5, -0.5): -(0.5·-1) - (-0.5·-3) = 0.5 - 1.5 = -1.0 -> mean -0.5
    loss, _ = score_loss("I", (S1, S2), (K1, K2), (R1, r2), CFG)
    assert float(loss) == pytest.approx(-0.5 + 0.03)


def test_stage_two_shapes_the_second_reward() -> None:
    # shaped r2' = r2 + 10·(r2 - r1) = (1, 11), mean 6, advantages (-5, 5); r1 advantages (0.5, -0.5).
    # episode 0: -(0.5·-2) - (-5·-1) + 0.01·0.7 = 1 - 5 + 0.007 = -3.993
    # episode 1: -(-0.5·-4) - (5·-3) + 0.01·0.1 = -2 + 15 + 0.001 = 13.001
    loss, log = score_loss("II", (S1, S2), (K1, K2), (R1, R2), CFG)
    assert float(loss) == pytest.approx((-3.993 + 13.001) / 2)
    assert log["shaped_reward_2"] == pytest.approx(6.0)


def test_single_turn_rl_sees_only_the_first_attempt() -> None:
    # -(0.5·-2) + 0.01·0.5 = 1.005 ; -(-0.5·-4) + 0.01·0.1 = -1.999
    loss, _ = score_loss("single", (S1, None), (K1, None), (R1, None), CFG)
    assert float(loss) == pytest.approx((1.005 - 1.999) / 2)


def test_second_turn_prompt_carries_no_loss() -> None:
    tokenizer = build_tokenizer()
    first = "Q: Tom has 3 apples and buys 2 more. How many apples does Tom have? A:"
    x2 = second_turn_prompt(first, " 3 + 2 = 6. The answer is 6.", SOLUTION, "A:")
    y2 = " 3 + 2 = 5. The answer is 5."

    def encode(prompt: str) -> list[int]:
        return tokenizer(prompt)["input_ids"]

    ids, attention, mask = attempt_batch(encode, tokenizer, [x2, first], [y2, " 5"], [True, False])
    n_prompt, n_answer = len(encode(x2)), len(tokenizer(y2, add_special_tokens=False)["input_ids"])
    assert mask[0, :n_prompt].sum() == 0  # first attempt and instruction: context only
    assert mask[0].sum() == n_answer + 1 and ids[0, n_prompt + n_answer] == tokenizer.eos_token_id
    instruction = tokenizer.decode(ids[0, :n_prompt][-len(encode(SOLUTION)):])
    assert "correct the error" in tokenizer.decode(ids[0, :n_prompt]) and "rewrite" in instruction
    cut = len(tokenizer(" 5", add_special_tokens=False)["input_ids"])  # no EOS: the attempt was cut off
    assert mask[1].sum() == cut and attention[1].sum() == len(encode(first)) + cut


def test_verifiable_reward_is_the_task_verifier() -> None:
    from selfimprove.tasks import get_task
    from selfimprove.train.rewards import task_spec, verified_reward

    problem = get_task("arith").load("test", 1)[0]
    right, spec = " " + problem.metadata["solution"], task_spec("arith", {})
    wrong = right.replace(f"The answer is {problem.gold}.", f"The answer is {int(problem.gold) + 1}.")
    chat = [{"role": "assistant", "content": right}]  # TRL's conversational completions
    assert verified_reward([None] * 3, [right, wrong, chat], [problem.gold] * 3, [spec] * 3) == [1.0, 0.0, 1.0]
