"""Model collapse in the HTML report (Shumailov et al., Nature 2024).

* A collapse run (recipe collapse) gets its own page, rebuilt from its files: perplexity on real
  test data per generation with every arm (fraction p of real data kept) on the same axes, tail loss and
  corpus statistics per generation, the per-block perplexity histograms, what the generations wrote, the
  Gaussian-mixture demonstration, and the run directory.
* Every other run gets a "collapse monitor" section: each iteration's perplexity on held-out reference
  solutions (metrics.json `perplexity`, written by selfimprove.collapse.monitor).
"""

from __future__ import annotations

import base64
import json
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from markupsafe import Markup
from pydantic import ValidationError

from selfimprove.config import explain, read_yaml
from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl
from selfimprove.report.load import number, pick
from selfimprove.report.plots import Line, Panel, data_uri
from selfimprove.report.render import Section, fragment, num, page, pct

if TYPE_CHECKING:  # the collapse modules load torch: imported where a collapse page is drawn, not here
    from selfimprove.collapse.config import CollapseSection
    from selfimprove.collapse.measure import ArmResult
    from selfimprove.report.context import ReportContext


def is_collapse_run(run_dir: Path) -> bool:
    """Whether the run directory's config.yaml is of recipe collapse (or, written before recipes, of
    loop.strategy=collapse)."""
    file = Path(run_dir) / "config.yaml"
    if not file.is_file():
        return False
    config = read_yaml(file)
    return config.get("recipe", pick(config, "loop", "strategy")) == "collapse"


def _section_of(run_dir: Path) -> tuple[dict[str, Any], CollapseSection]:
    from selfimprove.collapse.config import CollapseSection

    config = read_yaml(run_dir / "config.yaml")
    try:
        return config, CollapseSection.model_validate(config.get("collapse") or {})
    except ValidationError as e:
        raise UserError(explain(CollapseSection, e, f"the collapse section of {run_dir / 'config.yaml'}")) from None


def _image(src: str, alt: str, caption: str) -> Markup:
    return fragment("figure.html.j2", src=src, alt=alt, caption=caption)


def perplexity_section(arms: list[ArmResult]) -> Section:
    """Test perplexity per generation (mean ± std, arms on the same axes), then tail loss and corpus ratios."""
    from selfimprove.collapse.measure import PerplexitySummary
    from selfimprove.collapse.plots import figure_to_data_uri, plot_arm_perplexity

    summaries = {a.name: {r["generation"]: PerplexitySummary(**r["test_perplexity"]) for r in a.rows} for a in arms}
    fig = plot_arm_perplexity(summaries, "Perplexity of each generation's model on real test blocks")
    html = _image(figure_to_data_uri(fig), "test perplexity per generation",
                  "Mean ± std over real test blocks. Each generation is the starting model trained on the "
                  "previous generation's text (p = fraction of real blocks kept); rising perplexity on real data "
                  "is model collapse (Shumailov et al. 2024, Fig. 1).")

    def lines(*path: str) -> list[Line]:
        return [Line(a.name, [number(r, *path) for r in a.rows], x=[r["generation"] for r in a.rows]) for a in arms]

    orders = sorted({n for a in arms for r in a.rows for n in r["corpus"]["distinct_ngram_ratio"]}, key=int)
    panels = [
        Panel("Tail loss: test blocks above gen-0's 95th pct.", lines("tail_loss"), xlabel="generation", percent=True),
        *(Panel(f"Distinct {n}-grams, generated / real", lines("corpus", "distinct_ngram_ratio", n),
                xlabel="generation") for n in orders),
        Panel("Rarest real tokens: rate generated / real", lines("corpus", "rare_rate_ratio"), xlabel="generation"),
    ]
    html += _image(data_uri(panels, ncols=len(panels)), "tail loss and corpus statistics per generation",
                   "Generation 0 trains on the real corpus (ratios 1, tail loss about 5% by construction). "
                   "Rarest tokens: the real corpus's least frequent 10% of distinct tokens (collapse.rare_fraction).")
    return Section("collapse", "Model collapse: perplexity on real data per generation", html)


def histogram_section(arms: list[ArmResult], bins: int) -> Section | None:
    from selfimprove.collapse.symptoms import PerplexityHistogram
    from selfimprove.collapse.plots import figure_to_data_uri, plot_histogram_grid

    rows = []
    for arm in (a for a in arms if a.rows):
        hist = arm.histograms(bins)
        rows.append([(f"{arm.name}: training corpus of generation g under model 0",
                      PerplexityHistogram(**hist["corpus_under_gen0"])),
                     (f"{arm.name}: real test blocks under model g", PerplexityHistogram(**hist["test_under_gen_g"]))])
    if not rows:
        return None
    caption = ("Left: per-block perplexity, under generation 0's model, of the text each generation was trained "
               "on (generation 0: the real corpus) - collapse shows as a growing peak of very probable blocks "
               "with a long tail of improbable ones. Right: the real test blocks under each generation's model.")
    return Section("histograms", "Per-block perplexity histograms",
                   _image(figure_to_data_uri(plot_histogram_grid(rows)), "perplexity histograms", caption))


def numbers_section(arms: list[ArmResult]) -> Section:
    orders = sorted({n for a in arms for r in a.rows for n in r["corpus"]["distinct_ngram_ratio"]}, key=int)
    head = ["arm", "generation", "training blocks", "test ppl mean", "std", "median", "p95", "tail loss",
            "corpus ppl (model 0)", "distinct tokens", *(f"distinct {n}-grams" for n in orders), "rare-token rate"]
    rows = []
    for arm in arms:
        for r in arm.rows:
            ppl, corpus = r["test_perplexity"], r["corpus"]
            blocks = ", ".join(f"{k} {v}" for k, v in r["train_blocks"].items())
            rows.append([arm.name, str(r["generation"]), blocks, num(ppl["mean"]), num(ppl["std"]), num(ppl["median"]),
                         num(ppl["p95"]), pct(r["tail_loss"]), num(r["corpus_perplexity_gen0"]["mean"]),
                         num(corpus["distinct_token_ratio"]),
                         *(num(corpus["distinct_ngram_ratio"].get(n)) for n in orders), num(corpus["rare_rate_ratio"])])
    note = ("Ratios are the generation's training corpus (its generated blocks, before mixing in real ones) against "
            "the real corpus: distinct tokens and n-grams, and the rate of the real corpus's rarest tokens.")
    return Section("collapse-numbers", "Numbers per generation",
                   fragment("table.html.j2", head=head, rows=rows, note=note))


def continuation_section(arms: list[ArmResult], blocks: int = 2) -> Section | None:
    """The first real blocks and what each generation wrote after them (corpus.jsonl `text`)."""
    from transformers import AutoTokenizer

    rows = []
    for arm in (a for a in arms if a.rows and (a.path / "iter_000" / "model").is_dir()):
        tokenizer = AutoTokenizer.from_pretrained(arm.path / "iter_000" / "model")
        real = [r["input_ids"] for r in islice(read_jsonl(arm.path / "iter_000" / "train_lm.jsonl"), blocks)]
        for i, ids in enumerate(real):
            rows.append([arm.name, f"real block {i} (context)", tokenizer.decode(ids)])
            for g in range(1, len(arm.rows)):
                row = next(islice(read_jsonl(arm.path / f"iter_{g:03d}" / "corpus.jsonl"), i, None), None)
                rows.append([arm.name, f"generation {g}", row["text"] if row else "–"])
    if not rows:
        return None
    note = "Each generation continues the same real block; the continuation is what the next model trains on."
    return Section("continuations", "What the generations wrote",
                   fragment("table.html.j2", head=["arm", "text", "content"], rows=rows, note=note))


def gmm_section(run_dir: Path) -> Section:
    """The Gaussian-mixture demonstration: the run's gmm/ files, or a fresh run of the default config."""
    from selfimprove.collapse.gmm import GMMConfig, run_gmm
    from selfimprove.collapse.plots import gmm_figure_data_uri

    png, numbers = run_dir / "gmm" / "gmm.png", run_dir / "gmm" / "gmm.json"
    if png.is_file() and numbers.is_file():
        src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
        rows = json.loads(numbers.read_text(encoding="utf-8"))["rows"]
    else:
        result = run_gmm(GMMConfig())
        src, rows = gmm_figure_data_uri(result), [r.__dict__ for r in result.rows]
    last = rows[-1]["generation"]
    shown = [r for r in rows if r["generation"] in {0, last // 4, last // 2, last}]
    table = [[str(r["generation"]), num(r["variance"]), num(r["within_variance"]), num(r["wasserstein1"]),
              num(r["kl"])] for r in shown]
    html = _image(src, "Gaussian-mixture collapse", "A 1-D Gaussian mixture refitted (scikit-learn EM) on samples "
                  "of the previous generation's fit: the variance shrinks and the distance to the truth grows.")
    html += fragment("table.html.j2", head=["generation", "mixture variance", "within-component variance",
                                            "W1 to truth", "KL(truth || fit)"], rows=table, note="")
    return Section("gmm", "Gaussian-mixture demonstration (selfimprove collapse-gmm)", html)


def run_files_section(run_dir: Path, config: dict[str, Any], arms: list[ArmResult]) -> Section:
    stages = []
    for arm in arms:
        for folder in sorted(arm.path.glob("iter_*")):
            done = ", ".join(sorted(p.name.removeprefix(".done-") for p in folder.glob(".done-*"))) or "–"
            stages.append((int(folder.name.removeprefix("iter_")), f"{arm.name}/{folder.name}", done))
    html = fragment("run.html.j2", path=str(run_dir.resolve()), notes=[], stages=stages,
                    config=yaml.safe_dump(config, sort_keys=False))
    return Section("run", "Run directory and config", html)


def render_collapse_report(run_dir: Path) -> str:
    """The whole page of a collapse run."""
    from selfimprove.collapse.measure import load_arms

    run_dir = Path(run_dir)
    config, section = _section_of(run_dir)
    arms = load_arms(run_dir, section)
    if not any(a.rows for a in arms):
        raise UserError(f"{run_dir} has no evaluated generation yet (no <arm>/iter_000/metrics.json); "
                        "run `selfimprove run` on its config first")
    sections = [perplexity_section(arms), histogram_section(arms, section.histogram_bins), numbers_section(arms),
                continuation_section(arms), gmm_section(run_dir), run_files_section(run_dir, config, arms)]
    done = ", ".join(f"{a.name}: generations 0–{len(a.rows) - 1}" for a in arms if a.rows)
    return page(f"selfimprove collapse run: {run_dir.resolve().name}", f"{run_dir.resolve()} · {done}",
                [s for s in sections if s is not None])


def monitor_section(ctx: ReportContext) -> Section | None:
    """Perplexity of each iteration's model on held-out reference solutions; None when never measured."""
    history = ctx.run.history
    rows = [(it.index, it.metrics["perplexity"]) for it in ctx.run.iterations
            if isinstance(pick(it.metrics, "perplexity", "mean"), (int, float))]
    if not rows:
        return None
    mean = [number(m, "perplexity", "mean") for m in history]
    std = [number(m, "perplexity", "std") for m in history]
    upper = [None if m is None or s is None else m + s for m, s in zip(mean, std)]
    lower = [None if m is None or s is None else m - s for m, s in zip(mean, std)]
    split = rows[-1][1]["split"]
    # perplexity is at least 1, so the band stops there even where mean - std is lower (a skewed spread)
    panel = Panel(f"Perplexity of {split} reference solutions (band: mean ± std, floor 1)",
                  [Line("mean", mean, band=(lower, upper))], ylabel="perplexity", floor=1.0)
    table = [[str(t), p["split"], str(p["n"]), str(p["tokens"]), num(p["mean"]), num(p["std"]), num(p["median"]),
              num(p["p95"])] for t, p in rows]
    note = ("Real text the loop never trains on, scored by each iteration's model (only the solution's tokens, given "
            "the zero-shot prompt). Rising perplexity means the model drifts away from real solutions - the early "
            "sign of collapse (Shumailov et al. 2024) - even while accuracy rises.")
    html = _image(data_uri([panel], ncols=1), "perplexity on held-out reference solutions per iteration", "")
    html += fragment("table.html.j2", head=["iteration", "split", "texts", "tokens", "mean", "std", "median", "p95"],
                     rows=table, note=note)
    return Section("collapse-monitor", "Collapse monitor: perplexity on held-out real text", html)
