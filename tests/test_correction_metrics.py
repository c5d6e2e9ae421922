"""Self-correction metrics (Kumar et al. 2024) against hand-counted episodes, the episodes' record form, and
`selfimprove eval --attempts` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.attempts import episode, next_prompts
from selfimprove.correction import SOLUTION
from selfimprove.metrics.correction import correction_intervals, correction_metrics, records_correction
from selfimprove.sampling import ChatPrompts
from selfimprove.tasks import get_task
from selfimprove.types import Completion, Record
from test_cli_inputs import EVAL, assert_refused, entry

# Ten hand-made episodes: 3 right twice, 1 broken (right -> wrong), 2 fixed (wrong -> right), 4 wrong twice.
FIRST = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
SECOND = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]


def test_deltas_match_hand_counts() -> None:
    first, second = [bool(x) for x in FIRST], [bool(x) for x in SECOND]
    m = {**correction_metrics(first, second), **correction_intervals(first, second)}
    # Acc@t1 = 4/10, Acc@t2 = 5/10; fixed (0 -> 1): problems 5 and 6; broken (1 -> 0): problem 4.
    assert m["n"] == 10
    assert m["acc_t1"] == pytest.approx(0.4) and m["acc_t2"] == pytest.approx(0.5)
    assert m["delta"] == pytest.approx(0.1)
    assert m["delta_i2c"] == pytest.approx(0.2) and m["delta_c2i"] == pytest.approx(0.1)
    for key in ("acc_t1", "acc_t2", "delta", "delta_i2c", "delta_c2i"):
        low, high = m["intervals"][key]
        assert low <= m[key] <= high
    assert m["intervals"]["delta_c2i"][0] == 0.0  # one broken problem: some resamples hold none
    assert m["mcnemar_p"] == pytest.approx(1.0)  # 2 vs 1 discordant problems: binomial p = 1


def test_no_change_has_a_zero_width_delta() -> None:
    m = {**correction_metrics([True, False, True], [True, False, True]),
         **correction_intervals([True, False, True], [True, False, True])}
    assert m["delta"] == 0 and m["intervals"]["delta"] == [0.0, 0.0] and m["mcnemar_p"] == 1.0


def test_unpaired_attempts_are_refused() -> None:
    with pytest.raises(ValueError, match="pair them"):
        correction_intervals([True, False], [True])


def test_records_read_first_and_last_attempt() -> None:
    def record(i: int, a: int, b: int) -> Record:
        ep = episode([Completion("one", correct=bool(a)), Completion("two", correct=bool(b))])
        return Record(str(i), 0, "test", "Q", "1", greedy=ep)

    records = [record(i, a, b) for i, (a, b) in enumerate(zip(FIRST, SECOND))]
    assert records[4].greedy.correct is True and records[4].greedy.text == "two"  # the episode is its last attempt
    assert records_correction(records)["delta_i2c"] == pytest.approx(0.2)
    single = [Record("x", 0, "test", "Q", "1", greedy=Completion("one", correct=True))]
    assert records_correction(single) is None


def test_chat_models_see_the_first_attempt_as_their_own_turn() -> None:
    task = get_task("arith")
    chat = next_prompts(ChatPrompts(inner=None), task, ["Q: 1+1? A:"], [" 2"])  # type: ignore[arg-type]
    assert chat == [[{"role": "user", "content": "Q: 1+1? A:"}, {"role": "assistant", "content": " 2"},
                     {"role": "user", "content": SOLUTION}]]


def test_attempts_below_one_are_refused(capsys, tmp_path) -> None:
    assert_refused(capsys, [*EVAL, "--model", str(tmp_path), "--attempts", "0", "--out", str(tmp_path / "o")],
                   "attempts")


def test_task_without_correction_is_refused(capsys, tmp_path) -> None:
    assert_refused(capsys, ["eval", "--model", str(tmp_path), "--task", "wikitext2", "--attempts", "2",
                            "--out", str(tmp_path / "o")], "no correction instruction")
    assert not (tmp_path / "o").exists()


def test_budget_must_be_a_power_of_two(capsys, tmp_path) -> None:
    assert_refused(capsys, [*EVAL, "--model", str(tmp_path), "--budget", "6", "--out", str(tmp_path / "o")],
                   "power of two")


@pytest.mark.slow
def test_two_attempt_eval_end_to_end(micro_model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, err = entry(capsys, *EVAL, "--model", str(micro_model), "--attempts", "2", "--budget", "4",
                      "--out", str(out))
    assert code == 0, err
    budget = json.loads((out / "budget.json").read_text())["test"]
    assert budget["budget"] == [2, 4] and budget["n_problems"] == 2 and (out / "budget.png").stat().st_size > 0
    assert all(0 <= v <= 1 for v in budget["parallel"] + budget["sequential"])
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    rows = [Record.from_dict(json.loads(line)) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert all(len(r.greedy.attempts) == 2 and r.greedy.correct == r.greedy.attempts[1].correct for r in rows)
    firsts = [bool(r.greedy.attempts[0].correct) for r in rows]
    seconds = [bool(r.greedy.attempts[1].correct) for r in rows]
    expected = {**correction_metrics(firsts, seconds), **correction_intervals(firsts, seconds)}
    assert metrics["correction"] == json.loads(json.dumps(expected))
    assert metrics["greedy_pass@1"] == metrics["correction"]["acc_t2"]


def test_change_between_models_is_paired_by_problem() -> None:
    from selfimprove.metrics.correction import correction_change

    before = {str(i): (bool(a), bool(b)) for i, (a, b) in enumerate(zip(FIRST, SECOND))}
    after = {**before, "3": (True, True), "7": (False, True), "extra": (True, False)}  # 1 fewer broken, 1 more fixed
    change = correction_change(before, after)
    assert change["n"] == 10  # "extra" has no partner
    assert change["delta"]["value"] == pytest.approx(0.2) and change["delta_c2i"]["value"] == pytest.approx(-0.1)
    low, high = change["delta"]["interval"]
    assert low == 0.0 and 0.2 < high  # two of ten improved, none got worse: 11% of resamples hold neither


def test_score_recipe_refuses_a_task_without_correction(capsys, tmp_path) -> None:
    config = tmp_path / "score.yaml"
    config.write_text(f"recipe: score\nname: s\nout: {tmp_path / 'runs'}\nmodel: {{path: {tmp_path}}}\n"
                      "task: {name: wikitext2}\n", encoding="utf-8")
    assert_refused(capsys, ["run", str(config)], "no correction instruction")
    assert not (tmp_path / "runs").exists()
