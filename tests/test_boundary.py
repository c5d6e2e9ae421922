"""The reasoning boundary: pass^k and cover@tau against brute-force enumeration, and `selfimprove boundary`
end to end through the real CLI."""

from __future__ import annotations

import itertools
import json
import shutil
from math import comb
from pathlib import Path

import pytest

from selfimprove.metrics.boundary import cover_at, crossing, curves, pass_hat_k, solved_by_one
from selfimprove.report.boundary import crossing_sentence
from selfimprove.rundir import RunDir
from selfimprove.metrics.passk import pass_at_k

from conftest import selfimprove


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_pass_hat_k_and_pass_at_k_equal_the_mean_over_all_k_subsets(n: int) -> None:
    for c in range(n + 1):
        outcomes = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(outcomes, k))
            assert len(subsets) == comb(n, k)
            assert pass_hat_k(n, c, k) == pytest.approx(sum(all(s) for s in subsets) / len(subsets))
            assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))


def test_cover_at_tau_counts_problems_over_the_fraction() -> None:
    counts = [(4, 0), (4, 1), (4, 2), (4, 4), (8, 3)]  # fractions 0, .25, .5, 1, .375
    for tau in (0.1, 0.25, 0.3, 0.5, 0.75, 1.0):
        assert cover_at(counts, tau) == pytest.approx(sum(c / n >= tau for n, c in counts) / len(counts))
    assert cover_at(counts, 0.25) == pytest.approx(4 / 5) and cover_at(counts, 0.5) == pytest.approx(2 / 5)


def test_curves_cross_where_the_base_catches_up() -> None:
    # trained: sure on 2 problems, never on 2; base: 1 of 8 right on every problem
    trained_counts, base_counts = [(8, 8), (8, 8), (8, 0), (8, 0)], [(8, 1)] * 4
    trained, base = curves(trained_counts, resamples=200), curves(base_counts, resamples=200)
    assert trained["pass@k"]["1"]["value"] == pytest.approx(0.5) and base["pass@k"]["1"]["value"] == pytest.approx(1 / 8)
    assert base["pass@k"]["8"]["value"] == pytest.approx(1.0) and trained["pass@k"]["8"]["value"] == pytest.approx(0.5)
    cross = crossing(base_counts, trained_counts, resamples=200)
    # base pass@k = k/8: 0.125, 0.25, 0.5, 1.0 against the trained model's 0.5: a tie at k = 4 is not a
    # crossing; the base leads from k = 8. On 4 problems neither lead is outside the noise.
    assert (cross["k"], cross["tie_from"]) == (8, None)
    assert cross["difference"]["8"]["value"] == pytest.approx(-0.5)
    assert cross["leader_small_k"] == cross["leader_large_k"] == "within noise"
    assert "cross at k = 8: M_0 leads from there" in crossing_sentence(cross, "0", "3")
    assert base["pass^k"]["2"]["value"] == 0.0 and trained["cover@tau"]["0.9"] == pytest.approx(0.5)
    only = solved_by_one({"a": (8, 1), "b": (8, 0)}, {"a": (8, 0), "b": (8, 2)})
    assert only == {"only_base": ["a"], "only_trained": ["b"]}


def test_a_tie_is_not_a_crossing_and_a_lead_needs_its_interval() -> None:
    """Trained ahead at every k until both reach 1.0: a tie from k = 8, never "the base leads from there"."""
    trained = [(8, 8)] * 150 + [(8, 4)] * 50
    base = [(8, 8)] * 100 + [(8, 4)] * 100
    cross = crossing(base, trained, resamples=500)
    assert cross["k"] is None and cross["tie_from"] == 8 and cross["leader_small_k"] == "trained"
    d = cross["difference"]["1"]
    assert d["value"] == pytest.approx(0.125) and 0 < d["low"] < 0.125 < d["high"]
    text = crossing_sentence(cross, "0", "3")
    assert "tie from k = 8" in text and "cross" not in text and "At k = 1: M_3 leads" in text
    # the same lead on 8 problems is within noise
    small = crossing([(8, 8)] * 4 + [(8, 4)] * 4, [(8, 8)] * 6 + [(8, 4)] * 2, resamples=500)
    assert small["leader_small_k"] == "within noise" and "At k = 1: within noise" in crossing_sentence(small, "0", "3")


@pytest.mark.slow
def test_boundary_command_end_to_end(micro_run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(micro_run_dir, run)
    done = selfimprove("boundary", str(run), "--k", "8", "--limit", "4", "--iterations", "0", "2",
                       "shard_size=3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads((run / "boundary" / "boundary.json").read_text())
    assert (result["base"], result["trained"]) == (0, 2)
    for t in ("0", "2"):
        it = result["iterations"][t]
        assert it["n_problems"] == 4 and list(it["pass@k"]) == ["1", "2", "4", "8"]
        assert it["timing"]["samples"] == 32 and it["timing"]["samples_per_s"] > 0
        values = [it["pass@k"][k]["value"] for k in it["pass@k"]]
        assert values == sorted(values)  # pass@k never falls with k
    shards = sorted((run / "boundary" / "iter_002").glob("part_*.jsonl"))
    assert [p.name for p in shards] == ["part_0000.jsonl", "part_0001.jsonl"]  # 4 problems, 3 per shard
    rows = [json.loads(line) for line in shards[0].read_text().splitlines()]
    assert len(rows) == 3 and all(len(r["samples"]) == 8 for r in rows)
    assert all(s["correct"] is not None and "steps_ok" in s for r in rows for s in r["samples"])
    assert 'id="boundary"' in (run / "report.html").read_text(encoding="utf-8")
    # resume: nothing is sampled again, the numbers are the same
    stamps = {p: p.stat().st_mtime_ns for p in shards}
    again = selfimprove("boundary", str(run), "--k", "8", "--limit", "4", "--iterations", "0", "2", "shard_size=3",
                        cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert {p: p.stat().st_mtime_ns for p in shards} == stamps
    assert json.loads((run / "boundary" / "boundary.json").read_text())["iterations"] == result["iterations"]
    # a smaller limit measures the first problems from the same shards
    fewer = selfimprove("boundary", str(run), "--k", "8", "--limit", "2", "--iterations", "0", "2", "shard_size=3",
                        cwd=tmp_path)
    assert fewer.returncode == 0, fewer.stderr
    assert json.loads((run / "boundary" / "boundary.json").read_text())["iterations"]["2"]["n_problems"] == 2
    # bad input: one line, exit code 2, nothing lost
    changed = selfimprove("boundary", str(run), "--k", "4", "--limit", "4", "shard_size=3", cwd=tmp_path)
    assert changed.returncode == 2 and "other settings" in changed.stderr and "Traceback" not in changed.stderr
    missing = selfimprove("boundary", str(run), "--iterations", "0", "7", cwd=tmp_path)
    assert missing.returncode == 2 and "iteration 7" in missing.stderr and "Traceback" not in missing.stderr
    # the run is locked while sampling: a second process is refused
    args = ("boundary", str(run), "--k", "8", "--limit", "4", "--iterations", "0", "2", "shard_size=3")
    holder = RunDir(run)
    holder.lock()
    try:
        busy = selfimprove(*args, cwd=tmp_path)
    finally:
        holder.unlock()
    assert busy.returncode == 2 and "another process" in busy.stderr and "Traceback" not in busy.stderr
    # the samples say which checkpoint they come from; a changed checkpoint is refused, not mixed in
    recorded = json.loads((run / "boundary" / "iter_002" / "model.json").read_text())
    assert recorded["path"] == str(run / "iter_002" / "model") and "config.json" in recorded["files"]
    (run / "iter_002" / "model" / "config.json").write_text(
        (run / "iter_002" / "model" / "config.json").read_text() + "\n")
    moved = selfimprove(*args, cwd=tmp_path)
    assert moved.returncode == 2 and "another checkpoint of iteration 2" in moved.stderr, moved.stderr
    assert "Traceback" not in moved.stderr
    assert {p: p.stat().st_mtime_ns for p in shards} == stamps
