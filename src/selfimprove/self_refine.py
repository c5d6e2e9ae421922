"""Self-Refine (Madaan et al. 2023, "Self-Refine: Iterative Refinement with Self-Feedback"), the prompting-only
baseline of SCoRe (Kumar et al. 2024, Table 2): after its first attempt the model writes feedback on it, then
rewrites the solution given that feedback. No training; one feedback-refine round, greedy, as the two-attempt
evaluation decodes. The episode's attempts are the first answer and the refined one (so the self-correction
metrics read it like any two-attempt episode); the feedback text is returned beside it.
"""

from __future__ import annotations

from selfimprove.attempts import episode, next_prompts
from selfimprove.types import Completion, Problem, Prompt, Sampler, SamplingParams, Task
from selfimprove.verify import grade

FEEDBACK = "Review the solution above step by step and say which step is wrong, if any."
REFINE = "Using this feedback, rewrite the solution."


def self_refine(sampler: Sampler, task: Task, problems: list[Problem], prompts: list[Prompt],
                firsts: list[Completion], params: SamplingParams) -> tuple[list[Completion], list[str]]:
    """Two-attempt episodes (first answer, refined answer), verified, and the feedback of each."""
    feedback_prompts = next_prompts(sampler, task, prompts, [c.text for c in firsts], FEEDBACK, "")
    feedback = [g[0].text for g in sampler.sample(feedback_prompts, params)]
    refine_prompts = next_prompts(sampler, task, feedback_prompts, feedback, REFINE)
    refined = [grade(task, g[0], p.gold) for p, g in zip(problems, sampler.sample(refine_prompts, params))]
    return [episode([a, b]) for a, b in zip(firsts, refined)], feedback
