"""Code answers for Compositional GSM (Hosseini et al. 2024 compare chain-of-thought answers with answers
written as code): the model writes a Python program that prints the answer, the program runs in the
sandbox, and what it printed is the answer.

Answer format. A single question's program prints its answer on its last line. A pair's program prints
X (Q1's answer) on its first line and Q2's answer on its last line, so that both halves of a pair can be
checked, as S_comp requires. Strict reading takes those lines and needs each to be one number; flexible
reading takes the first and last numbers printed anywhere. A program that does not run to completion
(error, timeout, killed) has no answer.

Few-shot exemplars (kept simple on purpose): for GSM8K, a train solution's calculator chain
(`<<48/2=24>>`, Cobbe et al. 2021) becomes one assignment per step, `step1 = 48 / 2`, with a number that
an earlier step computed written as that step's variable and, in Q2 of a pair, the replaced number
written as `X` (the origins come from `trace`, the same analysis the builder uses); for the arith world,
a problem's steps become `n = n + 3` lines.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from fractions import Fraction

from selfimprove.compositional.build import build_pairs
from selfimprove.compositional.chain import ChainError
from selfimprove.compositional.config import BuildConfig
from selfimprove.compositional.pairs import GSMItem, Pair, fmt, load_gsm8k
from selfimprove.compositional.prompt import pair_prompt
from selfimprove.compositional.trace import Source, TracedSolution, trace
from selfimprove.errors import UserError
from selfimprove.sandbox import Result, SandboxConfig, run_many
from selfimprove.tasks import arith_world as world
from selfimprove.types import ExtractMode, Task

FENCE = "```"
OPEN = "```python\n"
SINGLE_INSTRUCTION = (
    "Write a Python program that solves the question and prints the answer (a number) on its last line."
)
PAIR_INSTRUCTION = (
    "Write a Python program that solves Q1 and prints its answer X on the first line, then uses X to solve Q2 "
    "and prints Q2's answer (a number) on the last line."
)
COT_REQUEST = "Explain your answer step by step."
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?(?:/\d+)?")
_PERCENT = {0: "X / 100", 1: "(1 + X / 100)", -1: "(1 - X / 100)"}
_ARITH_OPS = {"+": "+", "-": "-", "*": "*", "/": "//"}


def question_text(prompt: str) -> str:
    """The question inside a `Q: ...\\nA:` prompt (arith and GSM single prompts); other prompts as they are."""
    text = prompt.strip()
    text = text[len("Q:") :] if text.startswith("Q:") else text
    return (text[: -len("A:")] if text.endswith("A:") else text).strip()


def code_prompt(question: str, pair: bool, exemplars: Sequence[str] = ()) -> str:
    """Solved exemplars, then the instruction and the question, ending in an open ```python fence. The pair
    text's request to explain step by step (a chain-of-thought instruction) is left out."""
    instruction = PAIR_INSTRUCTION if pair else SINGLE_INSTRUCTION
    question = question.replace(f" {COT_REQUEST}", "")
    return "\n\n".join([*exemplars, f"{instruction}\n{question}\n{OPEN}"])


def exemplar(question: str, pair: bool, program: Sequence[str]) -> str:
    """One solved code exemplar in the exact form of `code_prompt` plus its program and closing fence."""
    return code_prompt(question, pair) + "\n".join(program) + f"\n{FENCE}"


def extract_program(text: str) -> str:
    """The program in a completion: the first ```python block when the model opened one itself (chat
    models do), else everything before the closing fence (the prompt already opened it)."""
    if OPEN in text:
        text = text.split(OPEN, 1)[1]
    return text.split(FENCE, 1)[0]


def run_programs(texts: Sequence[str], config: SandboxConfig | None = None) -> list[Result]:
    """Run the program of every completion in the sandbox, in parallel, with no tests (a clean exit
    counts as 'passed'); results in input order."""
    return run_many([(extract_program(t), "") for t in texts], config)


def normalize(number: str) -> str | None:
    """A printed number in the form answers are compared in: floats within 1e-6 of a simple fraction
    become it (`16.0` -> `16`, `0.30000000000000004` -> `0.3`), so float rounding is not a wrong answer."""
    try:
        return fmt(Fraction(number).limit_denominator(1_000_000))
    except (ValueError, ZeroDivisionError):
        return None


def printed_answers(result: Result, mode: ExtractMode = "strict") -> tuple[str | None, str | None]:
    """(first, last) answer a program printed. Strict: the first and last non-empty stdout lines, each a
    number alone; flexible: the first and last numbers anywhere in stdout. (None, None) unless it ran to
    completion."""
    if not result.passed:
        return None, None
    if mode == "flexible":
        numbers = _NUMBER.findall(result.stdout)
        return (normalize(numbers[0]), normalize(numbers[-1])) if numbers else (None, None)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        return None, None
    whole = [normalize(line) if _NUMBER.fullmatch(line) else None for line in (lines[0], lines[-1])]
    return whole[0], whole[1]


def _literal(found: frozenset[Source], value: Fraction, prefix: str, x_index: int | None) -> str:
    """How a written number appears in the program: X (or its percent form) when it is the replaced
    number, the latest step variable that computed it, or the number itself."""
    for s in found:
        if x_index is not None and s.index == x_index and s.kind in ("question", "percent"):
            return "X" if s.kind == "question" else _PERCENT[s.shift]
    steps = [s.index for s in found if s.kind == "step"]
    if steps:
        return f"{prefix}{max(steps) + 1}"
    text = fmt(value)
    return f"({text})" if "/" in text else text


def chain_program(traced: TracedSolution, prefix: str = "step", x_index: int | None = None) -> list[str]:
    """A traced GSM8K solution as Python assignments, one per calculator step; the last variable is the
    answer. With `x_index`, question number `x_index` is read from a variable `X`."""
    lines = []
    for i, (step, per_literal) in enumerate(zip(traced.chain.steps, traced.sources, strict=True)):
        names = [_literal(found, v, prefix, x_index) for found, v in zip(per_literal, step.literals, strict=True)]
        expr = re.sub(r"v(\d+)", lambda m: names[int(m.group(1))], step.template)
        lines.append(f"{prefix}{i + 1} = {expr}")
    return lines


def gsm_single_program(item: GSMItem) -> list[str] | None:
    """The program of one GSM8K train item, or None when its chain cannot be traced."""
    try:
        lines = chain_program(trace(item.question, item.solution))
    except ChainError:
        return None
    return [*lines, f"print(step{len(lines)})"]


def gsm_pair_program(pair: Pair) -> list[str] | None:
    """Q1's chain, `X = ...`, `print(X)`, then Q2's chain reading the replaced number from X."""
    try:
        q1 = trace(pair.q1_question, pair.q1_solution)
        q2 = trace(pair.q2_question_original, pair.q2_solution_original)
    except ChainError:
        return None
    index = next((i for i, n in enumerate(q2.numbers) if n.start == pair.replaced_start), None)
    if index is None or index not in q2.candidates:
        return None
    first, second = chain_program(q1, "q1_step"), chain_program(q2, "q2_step", index)
    return [*first, f"X = q1_step{len(first)}", "print(X)", *second, f"print(q2_step{len(second)})"]


def gsm_exemplars(train: Sequence[GSMItem], pair: bool, shots: int, seed: int = 0) -> list[str]:
    """`shots` code exemplars from GSM8K train (never test), deterministic for a seed."""
    found: list[str] = []
    if pair:
        pairs, _ = build_pairs(train, train, BuildConfig(seed=seed, num_pairs=4 * shots + 8))
        for p in pairs:
            program = gsm_pair_program(p)
            if program is not None:
                found.append(exemplar(pair_prompt(p.q1_question, p.q2_question), True, program))
            if len(found) == shots:
                break
        return found
    for i in random.Random(seed).sample(range(len(train)), len(train)):
        program = gsm_single_program(train[i])
        if program is not None:
            found.append(exemplar(train[i].question, False, program))
        if len(found) == shots:
            break
    return found


def arith_program(problem: world.WordProblem, start: str | None = None, var: str = "n") -> list[str]:
    """An arith-world problem as `n = start` and one `n = n op k` line per step (exact `//` division)."""
    lines = [f"{var} = {start or problem.start}"]
    lines += [f"{var} = {var} {_ARITH_OPS[s.op]} {s.operand}" for s in problem.steps]
    return lines


def arith_seed_pairs(shots: int, seed: int = 0) -> list[world.ComposedProblem]:
    """`shots` pairs composed from arith seed problems (never test), kept only when Q2 re-run from X stays
    a valid problem, by the rule `arith_world.compositional_problems` applies: Q2 starts with + or x, no
    value goes negative, every division is exact."""
    seeds = world.split_problems("seed", 8 * shots + 8, seed)
    out = []
    for q1, q2 in zip(seeds[0::2], seeds[1::2]):
        c = world.compose(q1, q2)
        steps = c.q2.steps
        if steps[0].op in "+*" and all(s.after >= 0 and (s.op != "/" or s.before % s.operand == 0) for s in steps):
            out.append(c)
    if len(out) < shots:
        raise UserError(f"only {len(out)} valid arith exemplar pairs for {shots} shots; use fewer shots")
    return out[:shots]


def arith_exemplars(pair: bool, shots: int, seed: int = 0) -> list[str]:
    """`shots` code exemplars from the arith seed split (pairs: see `arith_seed_pairs`)."""
    if not pair:
        return [exemplar(p.question(), False, [*arith_program(p), "print(n)"])
                for p in world.split_problems("seed", shots, seed)]
    out = []
    for c in arith_seed_pairs(shots, seed):
        program = [*arith_program(c.q1), "X = n", "print(X)", *arith_program(c.q2, "X", "m"), "print(m)"]
        out.append(exemplar(question_text(c.prompt_text()), True, program))
    return out


def code_exemplars(task: Task, pair: bool, shots: int, seed: int = 0) -> list[str]:
    """Code exemplars for `task`: arith from its seed split, compositional_gsm from GSM8K train."""
    if shots <= 0:
        return []
    if task.name == "arith":
        return arith_exemplars(pair, shots, getattr(task, "seed", seed))
    data_dir = getattr(task, "data_dir", None)
    if task.name == "compositional_gsm" and data_dir is not None:
        from selfimprove.compositional.task import gsm8k_file

        return gsm_exemplars(load_gsm8k(gsm8k_file(data_dir, "train")), pair, shots, seed)
    raise UserError(
        f"code-mode exemplars need the arith task or compositional_gsm with data_dir (got {task.name!r}); "
        "set compositional.shots=0 or give task.options.data_dir"
    )
