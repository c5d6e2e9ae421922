"""STOP's scaffold language (selfimprove.stop.scaffold) and its tiny proposer's corpus: strict parse and
render, templates whose utilities move with their knobs (scored in the real sandbox), a ground-truth corpus
that is valid by construction and measured only on the host's train stream, and the scaffold improver run
through the real budgeted channel."""

from __future__ import annotations

import pytest

from selfimprove.jsonl import read_jsonl
from selfimprove.rundir import RunDir
from selfimprove.sandbox import SandboxConfig
from selfimprove.stop import scaffold
from selfimprove.stop.channel import Budget, run_improver
from selfimprove.stop.config import StopSection
from selfimprove.stop.meta import Harness
from selfimprove.stop.programs import read_program
from selfimprove.stop.proposer import build_tokenizer
from selfimprove.stop.proposer_corpus import corpus, measure, targets
from selfimprove.stop.rounds import run_stop
from selfimprove.stop.scoring import evaluate
from selfimprove.stop.tasks import get_task, instances

SANDBOX = SandboxConfig(timeout=10)
DOWNSTREAM = ("lpn", "three_sat", "max_cut", "grid_dist")


def improver_parse() -> object:
    """The parse function of the scaffold improver's own text (the copy that runs in the sandbox)."""
    namespace: dict = {}
    exec(read_program("scaffold_improver.py"), namespace)
    return namespace["parse"]


BAD_LINES = [
    "", "hello", "SETTINGS = dict(samples=10, weight=1)", "SETTINGS = dict(weight=1)",
    "SETTINGS = dict(weight=1, samples=10, extra=1)", "SETTINGS = dict(weight=7, samples=10)",
    "SETTINGS = dict(weight=1, samples=11)", "SETTINGS = dict(weight=-1, samples=10)",
    "SETTINGS = dict(weight=1.0, samples=10)", "SETTINGS = dict(weight=1, samples=10", "settings = dict(weight=1, samples=10)",
    "SETTINGS = dict(flips=10, noise=0)", "SETTINGS = dict(weight=__import__('os'), samples=10)",
    "x\nSETTINGS = dict(weight=1, samples=10)",
]


@pytest.mark.parametrize("name", scaffold.KIND_NAMES)
def test_every_valid_line_round_trips_and_both_parsers_agree(name: str) -> None:
    kind = scaffold.kind(name)
    assert kind.seed in kind.grid() and kind_names_are_unique()
    sandbox_parse = improver_parse()
    for settings in kind.grid():
        text = scaffold.line(settings)
        assert scaffold.parse(" " + text + "\nrest", kind.domain) == settings == sandbox_parse(text, kind.domain)
        program = scaffold.render(kind.template, settings)
        assert scaffold.read_dict_line(program, "SETTINGS") == settings
        assert program.replace(text, scaffold.line(kind.seed)) == kind.template  # only the line changes
        assert scaffold.kind_of(scaffold.prompt(text)) == kind


def kind_names_are_unique() -> bool:
    knobs = [tuple(k.domain) for k in scaffold.kinds().values()]
    return len(set(knobs)) == len(knobs)


@pytest.mark.parametrize("text", BAD_LINES)
def test_anything_else_is_unparseable(text: str) -> None:
    domain = scaffold.kind("lpn").domain
    assert scaffold.parse(text, domain) is None and improver_parse()(text, domain) is None


@pytest.mark.parametrize(("name", "strong"), [
    ("lpn", {"weight": 5, "samples": 40}),  # about 16 ms an instance idle: far from LPN's 100 ms limit
    ("three_sat", {"flips": 1000, "noise": 4}),
    ("max_cut", {"restarts": 8, "sweeps": 2}), ("grid_dist", {"tries": 4, "steps": 8}),
])
def test_template_utilities_move_with_their_knobs(name: str, strong: dict) -> None:
    """The seed settings are weak and strong settings score clearly higher, on the real scorer."""
    kind, task = scaffold.kind(name), get_task(name)
    half = instances(task, "val", 6, 0)
    weak = evaluate(task, kind.template, "val", half, SANDBOX)
    good = evaluate(task, scaffold.render(kind.template, strong), "val", half, SANDBOX)
    assert not weak.failure and not good.failure, (weak.failure, good.failure)
    assert good.score >= weak.score + 0.2, (weak.score, good.score)


def test_ground_truth_is_measured_on_the_train_stream_only() -> None:
    for name in DOWNSTREAM:
        task = get_task(name)
        train = instances(task, "train", 4, 0)
        assert all(t not in instances(task, split, 20, 0) for split in ("val", "test") for t in train)
    max_cut = scaffold.kind("max_cut")
    table = measure(max_cut, 2, 0, SANDBOX)
    assert len(table) == len(max_cut.grid()) and all(0 <= r["utility"] <= 1 for r in table)
    # the weakest point (one random split) scores differently on each stream: its measured utility is the train one
    weakest = scaffold.render(max_cut.template, table[0]["settings"])
    task = get_task("max_cut")
    on = {split: evaluate(task, weakest, split, instances(task, split, 2, 0), SANDBOX).score
          for split in ("train", "val", "test")}
    assert table[0]["utility"] == on["train"] not in (on["val"], on["test"]), on


def test_corpus_is_valid_by_construction_and_follows_the_ground_truth() -> None:
    lpn = scaffold.kind("lpn")
    table = [{"settings": s, "utility": 0.5 + s["weight"] / 20 + s["samples"] / 1000} for s in lpn.grid()]
    rows = corpus({"lpn": table}, 2, 0)
    tokenizer = build_tokenizer()
    for row in rows:
        kind = scaffold.kind_of(row["prompt"])
        assert kind is not None and scaffold.parse(row["completion"], kind.domain) is not None
        assert tokenizer.unk_token_id not in tokenizer(row["prompt"] + row["completion"])["input_ids"]
    assert targets(lpn, lpn.seed, table) == [{"weight": 6, "samples": 100}, {"weight": 5, "samples": 100},
                                             {"weight": 6, "samples": 40}]  # the three measured best
    top = max(lpn.grid(), key=lambda s: s["weight"] * 1000 + s["samples"])
    assert targets(lpn, top, table) == lpn.neighbours(top)  # nothing beats it: a neighbour move
    improver = scaffold.kind("improver")
    assert targets(improver, improver.seed, None) == improver.neighbours(improver.seed)


def scripted(lines: list[str]):
    """A proposer that answers each message with the next of `lines` (test data, like the adversarial improvers)."""
    queue = list(lines)

    def model(expertise: str, messages: list[str], temperature: float) -> list[str]:
        assert expertise == scaffold.EXPERTISE and all(scaffold.kind_of(m) for m in messages)
        return [queue.pop(0) for _ in messages]

    return model


def test_scaffold_improver_keeps_the_best_valid_line_within_budget() -> None:
    """Unparseable answers are skipped; keep=1 scores the input, so a worse answer never replaces it."""
    lpn = scaffold.kind("lpn")
    improver = scaffold.render(read_program("scaffold_improver.py"), dict(calls=1, responses=3, temperature=7, keep=1, chain=0))
    h = Harness(scripted(["nonsense", " SETTINGS = dict(weight=0, samples=10)", " SETTINGS = dict(weight=5, samples=100)"]),
                Budget(1, 3, 25), SANDBOX, val_instances=4, test_instances=4, seeds=scaffold.seed_solutions())
    row = h.improve_task(improver, get_task("lpn"), 0)
    assert row["failure"] == "" and row["utility_calls"] == 3 and row["lm_calls"] == 1
    assert scaffold.read_dict_line(row["solution"], "SETTINGS") == {"weight": 5, "samples": 100}
    worse = Harness(scripted([" SETTINGS = dict(weight=0, samples=10)"] * 3), Budget(1, 3, 25), SANDBOX,
                    val_instances=4, test_instances=4, seeds=scaffold.seed_solutions())
    assert worse.improve_task(improver, get_task("lpn"), 0)["solution"] == lpn.template


def test_random_proposer_and_tally() -> None:
    tally = scaffold.ParseTally(scaffold.random_model(0))
    messages = [scaffold.message(scaffold.line(scaffold.kind(n).seed)) for n in scaffold.KIND_NAMES]
    out = tally("scaffold", messages + ["no settings here"], 1.0)
    assert all(scaffold.parse(o, scaffold.kind(n).domain) for o, n in zip(out, scaffold.KIND_NAMES, strict=False))
    assert tally.take() == {"responses": 6, "valid": 5} and tally.take() == {"responses": 0, "valid": 0}


def test_self_improvement_edits_only_the_improver_settings() -> None:
    """Running the scaffold improver on its own source under the meta-utility (real STOP recursion): the new
    version differs from the old in its SETTINGS line only."""
    seed = read_program("scaffold_improver.py")
    h = Harness(scaffold.random_model(1), Budget(1, 2, 4), SANDBOX, val_instances=3, test_instances=3,
                seeds=scaffold.seed_solutions())
    new, row = h.improve_improver(seed, ["max_cut"], 1, round=1)
    assert row["failure"] == "" and row["proposals"] >= 1
    assert scaffold.read_dict_line(new, "SETTINGS") in scaffold.kind("improver").grid()
    assert scaffold.render(new, scaffold.kind("improver").seed) == seed


@pytest.mark.slow
def test_a_resumed_run_samples_what_an_uninterrupted_one_does(tmp_path) -> None:
    """Every stage gets its own model (by stage key) and its own random-line control, so round 1 run by a later
    process after round 0 writes the records round 1 writes in one go. (The model here is the random-line
    proposer keyed by stage; the run's sampler gets its sampling seeds from the same key, recipes/stop.py.)"""
    stop = StopSection(language="scaffold", rounds=1, runs=1, lm_calls=1, responses_per_call=2, utility_budget=2,
                       val_instances=2, test_instances=2, tasks=["max_cut"], transfer_tasks=[])

    def make_model(stage: int):
        return scaffold.random_model(7, stage)

    run_stop(stop, make_model, SANDBOX, 0, RunDir(tmp_path / "whole"))
    run_stop(stop.model_copy(update={"rounds": 0}), make_model, SANDBOX, 0, RunDir(tmp_path / "resumed"))
    run_stop(stop, make_model, SANDBOX, 0, RunDir(tmp_path / "resumed"))

    def drawn(root, name: str) -> list:
        keep = ("phase", "val", "test", "solution", "responses", "proposals")
        return [{k: r[k] for k in keep if k in r} for r in read_jsonl(root / "iter_001" / name)]

    for name in ("improve.jsonl", "attempts.jsonl"):
        whole, resumed = drawn(tmp_path / "whole", name), drawn(tmp_path / "resumed", name)
        assert whole == resumed and any("solution" in r for r in whole), name
