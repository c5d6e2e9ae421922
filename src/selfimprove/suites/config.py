"""The `eval` section of run and eval configs: the splits' evaluation (evaluate.EvalSection) plus one section
per evaluation suite (selfimprove.suites), each beside the function that reads it."""

from __future__ import annotations

from pydantic import Field

from selfimprove.suites.compositional import CompositionalSuite
from selfimprove.suites.correction import CorrectionSuite
from selfimprove.evaluate import EvalSection
from selfimprove.suites.perplexity import PerplexityMonitorSection


class EvalSuitesSection(EvalSection):
    """What is evaluated after each iteration: the splits, then the suites."""

    perplexity: PerplexityMonitorSection = Field(
        default_factory=PerplexityMonitorSection,
        description="Collapse monitor (`selfimprove run`): perplexity of each iteration's model on held-out "
                    "reference solutions (selfimprove.suites.perplexity).",
    )
    compositional: CompositionalSuite = Field(
        default_factory=CompositionalSuite,
        description="Compositional GSM suite (Hosseini et al. 2024), off unless enabled: S1, S2, S_comp and the "
                    "reasoning gap of each evaluated model on arith's compositional split or, for gsm8k, pairs "
                    "built from GSM8K test (selfimprove.suites.compositional).",
    )
    correction: CorrectionSuite = Field(
        default_factory=CorrectionSuite,
        description="Self-correction suite (Kumar et al. 2024), off unless enabled: every greedy answer corrected "
                    "once; Acc@t1, Acc@t2, Δ, Δi→c, Δc→i per split (selfimprove.suites.correction).",
    )
