"""What each collapse generation records, and the run-level summary rebuilt from those files.

Per generation g of an arm (Shumailov et al., Nature 2024, Fig. 1 and the Discussion of tails):
* `test_perplexity`: mean and std (and median, 95th percentile) over real test blocks of the perplexity of
  generation g's model (Fig. 1);
* `tail_loss`: the fraction of real test blocks whose perplexity under generation g exceeds the 95th
  percentile under generation 0 (about 5% at g = 0 by construction; growth = forgotten tails);
* `corpus_perplexity_gen0`: perplexity, under generation 0's model, of each block of the corpus generation
  g was built from (g = 0: the real training blocks; g >= 1: generation g-1's continuations); its
  histograms across generations are the histograms of Fig. 1 (a growing low-perplexity peak, a long tail);
* `corpus`: distinct tokens and n-grams of that corpus relative to the real one, and the rate of the real
  corpus's rarest tokens in it (`selfimprove.collapse.symptoms.corpus_stats`).
The per-block values behind them are kept in perplexity.json, so histograms can be redrawn from files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfimprove.collapse.config import CollapseArm, CollapseSection
from selfimprove.collapse.symptoms import corpus_stats, perplexity_histogram, tail_loss
from selfimprove.errors import UserError

PPL_FILE = "perplexity.json"  # per-block perplexities of one generation: {"test": [...], "corpus": [...]}


@dataclass(frozen=True)
class PerplexitySummary:
    """Spread of per-block perplexity over blocks (paper Fig. 1: mean and std per generation)."""

    n: int
    mean: float
    std: float
    median: float
    p95: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def summarize_perplexity(perplexities: Sequence[float] | np.ndarray) -> PerplexitySummary:
    """Mean, population std, median and 95th percentile of per-block perplexities."""
    values = np.asarray(perplexities, dtype=np.float64)
    if values.size == 0:
        raise UserError("no perplexities to summarize")
    return PerplexitySummary(
        n=int(values.size),
        mean=float(values.mean()),
        std=float(values.std()),
        median=float(np.median(values)),
        p95=float(np.percentile(values, 95)),
    )



def generation_metrics(
    g: int, arm: CollapseArm, section: CollapseSection, ppl: dict[str, np.ndarray], reference: np.ndarray,
    real_train: Sequence[Sequence[int]], corpus: Sequence[Sequence[int]], sources: Sequence[str],
) -> dict[str, Any]:
    """The metrics.json of generation g. `ppl` holds its per-block perplexities ("test": real test blocks
    under model g; "corpus": the corpus under model 0), `reference` generation 0's test perplexities."""
    stats = corpus_stats(real_train, corpus, section.ngram_orders, section.rare_fraction)
    return {
        "iteration": g,
        "generation": g,
        "arm": arm.dirname,
        "real_fraction": arm.real_fraction,
        "epochs": arm.epochs,
        "test_perplexity": summarize_perplexity(ppl["test"]).to_dict(),
        "tail_loss": tail_loss(reference, ppl["test"]),
        "corpus_perplexity_gen0": summarize_perplexity(ppl["corpus"]).to_dict(),
        "corpus": stats.to_dict(),
        "train_blocks": dict(sorted(Counter(sources).items())),
    }


@dataclass
class ArmResult:
    """One arm's completed generations, read back from its folder."""

    name: str
    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)  # metrics.json of generations 0, 1, ... in order
    test: dict[int, list[float]] = field(default_factory=dict)  # generation -> per-block test perplexity
    corpus: dict[int, list[float]] = field(default_factory=dict)  # generation -> corpus perplexity under gen 0

    def histograms(self, bins: int) -> dict[str, Any]:
        """Per-block perplexity histograms on bins shared by the arm's generations ({} before generation 0)."""
        if not self.rows:
            return {}
        return {"corpus_under_gen0": perplexity_histogram(self.corpus, bins).to_dict(),
                "test_under_gen_g": perplexity_histogram(self.test, bins).to_dict()}


def load_arm(name: str, path: Path) -> ArmResult:
    """Generations of an arm whose evaluation finished (contiguous from 0), with their per-block values."""
    arm = ArmResult(name, path)
    g = 0
    while (path / f"iter_{g:03d}" / ".done-eval").is_file():
        folder = path / f"iter_{g:03d}"
        arm.rows.append(json.loads((folder / "metrics.json").read_text(encoding="utf-8")))
        values = json.loads((folder / PPL_FILE).read_text(encoding="utf-8"))
        arm.test[g], arm.corpus[g] = values["test"], values["corpus"]
        g += 1
    return arm


def load_arms(root: Path, section: CollapseSection) -> list[ArmResult]:
    return [load_arm(a.dirname, Path(root) / a.dirname) for a in section.arms]


def summary(arms: list[ArmResult], section: CollapseSection) -> dict[str, Any]:
    """collapse.json: per arm, the settings, every generation's metrics and the histograms."""
    by_arm = {a.dirname: a for a in section.arms}
    return {
        "arms": {
            arm.name: {
                "real_fraction": by_arm[arm.name].real_fraction,
                "epochs": by_arm[arm.name].epochs,
                "generations": arm.rows,
                "histograms": arm.histograms(section.histogram_bins),
            }
            for arm in arms
        }
    }
