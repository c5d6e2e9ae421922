"""train.dpo.nll_weight (iterative RPO, Pang et al. 2024): the NLL term on the chosen solution is really in
the loss -- after the same steps, the chosen solutions are likelier than after plain DPO."""

from __future__ import annotations

from pathlib import Path

import torch


def _chosen_logprob(model, tokenizer, rows) -> float:  # noqa: ANN001
    total = 0.0
    for row in rows:
        prompt = tokenizer(row["prompt"], return_tensors="pt").input_ids
        ids = tokenizer(row["prompt"] + row["chosen"], return_tensors="pt").input_ids
        with torch.no_grad():
            logp = model(ids).logits.log_softmax(-1)[0, :-1].gather(-1, ids[0, 1:, None]).squeeze(-1)
        total += float(logp[prompt.shape[1] - 1:].sum())
    return total / len(rows)


def test_nll_weight_raises_the_likelihood_of_chosen_solutions(micro_model: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfimprove.train.config import TrainSection
    from selfimprove.train.dpo import train_dpo

    tokenizer = AutoTokenizer.from_pretrained(micro_model)
    rows = [{"prompt": "Q: Ann has 3 apples. She gets 2 more. How many apples does Ann have now?\nA:",
             "chosen": " 3+2=5. The answer is 5.", "rejected": " 3-2=1. The answer is 1."},
            {"prompt": "Q: Ben has 9 pens. He loses 4. How many pens does Ben have now?\nA:",
             "chosen": " 9-4=5. The answer is 5.", "rejected": " 9+4=13. The answer is 13."}]
    after = {}
    for weight in (0.0, 1.0):
        model = AutoModelForCausalLM.from_pretrained(micro_model)
        cfg = TrainSection.model_validate({"max_steps": 6, "batch_size": 2, "learning_rate": 1e-3,
                                           "dpo": {"beta": 0.1, "nll_weight": weight}})
        trained = train_dpo(model, tokenizer, rows, cfg, tmp_path / f"w{weight}")
        after[weight] = _chosen_logprob(trained.eval(), tokenizer, rows)
    assert after[1.0] > after[0.0] + 0.5, after
