"""The train stage under `accelerate launch` (train.launcher=accelerate): two CPU processes (DDP over gloo) with
4 rows each per step write the checkpoint that one process with 8 rows per step trains in-process, to float
tolerance, while training really moved the weights. A bad accelerate config is one clear error before a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, set_seed

from selfimprove.jsonl import write_jsonl
from selfimprove.sampling.hf import load_model
from selfimprove.tasks import get_task
from selfimprove.train.config import TrainSection
from selfimprove.train.launch import launch_training
from selfimprove.train.registry import fit_rows

from conftest import write_config
from test_cli_inputs import assert_refused

# accelerate starts several local processes (torchrun) for the multi-GPU type; without a GPU the launched
# processes train on CPUs and talk over gloo.
TWO_PROCESSES = """compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_processes: 2
num_machines: 1
machine_rank: 0
main_process_port: 0
mixed_precision: 'no'
"""


def weights(path: Path) -> dict[str, torch.Tensor]:
    return AutoModelForCausalLM.from_pretrained(path).state_dict()


@pytest.mark.slow
def test_two_processes_train_the_single_process_checkpoint(micro_model, tmp_path, capfd):
    task = get_task("arith", sizes={"seed": 32})
    rows = [{"prompt": p.prompt, "completion": " " + p.metadata["solution"]} for p in task.load("seed")]
    write_jsonl(tmp_path / "train_sft.jsonl", rows)
    single = TrainSection(max_steps=3, batch_size=8, learning_rate=1e-3, logging_steps=1, seed=5)
    set_seed(single.seed)
    model, tokenizer = load_model(str(micro_model), "float32", "cpu")
    reference = fit_rows("sft", model, tokenizer, rows, single, tmp_path / "inprocess", False).state_dict()

    (tmp_path / "accelerate.yaml").write_text(TWO_PROCESSES)
    launched = single.model_copy(update={"batch_size": 4, "launcher": "accelerate",
                                         "accelerate_config": str(tmp_path / "accelerate.yaml")})
    launch_training("sft", str(micro_model), tmp_path / "train_sft.jsonl", launched, tmp_path / "model",
                    tmp_path / "work", dtype="float32")
    assert "training on 2 process(es): MULTI_CPU, backend gloo, 4 rows per process" in capfd.readouterr().out
    trained, start = weights(tmp_path / "model"), weights(micro_model)
    assert max((trained[k] - reference[k]).abs().max().item() for k in reference) < 1e-6
    assert max((trained[k] - start[k]).abs().max().item() for k in reference) > 1e-4


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"), ("num_processes: [two]\n", "is not an accelerate config"),
    (TWO_PROCESSES.replace("MULTI_GPU", "FSDP"), "asks for FSDP: train.launcher=accelerate runs data-parallel")],
    ids=["missing", "not-accelerate", "fsdp"])
def test_a_bad_accelerate_config_is_refused_before_the_run(micro_model, tmp_path, capsys, content, message):
    path = tmp_path / "accelerate.yaml"
    if content is not None:
        path.write_text(content)
    config = {"name": "acc", "out": str(tmp_path / "runs"), "model": {"path": str(micro_model)},
              "train": {"launcher": "accelerate", "accelerate_config": str(path)}}
    assert_refused(capsys, ["run", str(write_config(tmp_path, config))], "train.accelerate_config", message)
    assert not (tmp_path / "runs" / "acc").exists()
