"""The train stage under `accelerate launch` (train.launcher=accelerate): two CPU processes (DDP over gloo, or
FSDP2 with the weights sharded between them) with 4 rows each per step write the checkpoint that one process
with 8 rows per step trains in-process, to float tolerance, while training really moved the weights. A bad
accelerate config is one clear error before a run."""

from __future__ import annotations

import importlib.util
import os
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

FSDP_TWO_PROCESSES = TWO_PROCESSES.replace("MULTI_GPU", "FSDP") + """fsdp_config:
  fsdp_version: 2
  fsdp_state_dict_type: FULL_STATE_DICT
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
"""

# accelerate (1.15) sets FSDP up only for GPU-like devices: its AcceleratorState turns ACCELERATE_USE_FSDP into
# DistributedType.FSDP for MULTI_GPU and kin, never for MULTI_CPU, so CPU processes would silently train DDP.
# torch's FSDP2 itself shards on CPU over gloo; this startup hook of the launched processes makes the one switch
# accelerate makes on GPUs, so everything after it (fully_shard, the trainer's gather on save) is the real path.
FSDP_ON_CPU = """import accelerate.state as state
from accelerate.utils import DistributedType

init = state.AcceleratorState.__init__


def fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
    init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin


state.AcceleratorState.__init__ = fsdp_on_cpu
"""


def weights(path: Path) -> dict[str, torch.Tensor]:
    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def merged(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return (model.merge_and_unload() if hasattr(model, "merge_and_unload") else model).state_dict()


@pytest.mark.slow
@pytest.mark.timeout(300)  # a process that skips a collective (the gather) leaves the other waiting on it
@pytest.mark.parametrize(("accelerate_config", "lora"), [(TWO_PROCESSES, False), (FSDP_TWO_PROCESSES, False),
                                                        (FSDP_TWO_PROCESSES, True)], ids=["ddp", "fsdp", "fsdp-lora"])
def test_two_processes_train_the_single_process_checkpoint(micro_model, tmp_path, capfd, monkeypatch,
                                                           accelerate_config, lora):
    task = get_task("arith", sizes={"seed": 32})
    rows = [{"prompt": p.prompt, "completion": " " + p.metadata["solution"]} for p in task.load("seed")]
    write_jsonl(tmp_path / "train_sft.jsonl", rows)
    # no LoRA dropout: each process draws its own masks, so dropout alone would part the two runs
    single = TrainSection(max_steps=3, batch_size=8, learning_rate=1e-3, logging_steps=1, seed=5,
                          lora={"enabled": lora, "dropout": 0.0})
    set_seed(single.seed)
    model, tokenizer = load_model(str(micro_model), "float32", "cpu")
    reference = merged(fit_rows("sft", model, tokenizer, rows, single, tmp_path / "inprocess", False))

    fsdp = "FSDP" in accelerate_config
    if fsdp:
        (tmp_path / "site" / "sitecustomize.py").parent.mkdir()
        (tmp_path / "site" / "sitecustomize.py").write_text(FSDP_ON_CPU)
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]))
    (tmp_path / "accelerate.yaml").write_text(accelerate_config)
    launched = single.model_copy(update={"batch_size": 4, "launcher": "accelerate",
                                         "accelerate_config": str(tmp_path / "accelerate.yaml")})
    launch_training("sft", str(micro_model), tmp_path / "train_sft.jsonl", launched, tmp_path / "model",
                    tmp_path / "work", dtype="float32")
    out = capfd.readouterr().out
    assert "training on 2 process(es): MULTI_CPU, backend gloo, 4 rows per process" in out
    # the one line README promises for an FSDP config on CPU processes (accelerate would train them as DDP)
    assert ("note: the accelerate config asks for FSDP, which accelerate sets up on GPUs only" in out) == fsdp
    # the trainer gathered the shards and wrote them (adapter only with LoRA) before the checkpoint was saved
    gathered = tmp_path / "work" / "trainer" / "gathered"
    assert (gathered / ("adapter_config.json" if lora else "config.json")).is_file() == fsdp
    trained, start = weights(tmp_path / "model"), weights(micro_model)
    apart = max((trained[k] - reference[k]).abs().max().item() for k in reference)
    moved = max((trained[k] - start[k]).abs().max().item() for k in reference)
    print(f"largest weight difference from in-process training {apart:.1e}; largest step from the start {moved:.1e}")
    assert apart < 1e-6 and moved > 1e-4


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"), ("num_processes: [two]\n", "is not an accelerate config"),
    (TWO_PROCESSES.replace("MULTI_GPU", "FSDP"), "asks for FSDP, but the train stage writes a full checkpoint: set "
                                                 "fsdp_state_dict_type: FULL_STATE_DICT"),
    (TWO_PROCESSES.replace("MULTI_GPU", "DEEPSPEED") + "deepspeed_config:\n  zero_stage: 3\n",
     "asks for DEEPSPEED, but ZeRO-3 shards the weights and the train stage writes a full checkpoint: set "
     "zero3_save_16bit_model: true"),
    pytest.param(TWO_PROCESSES.replace("MULTI_GPU", "DEEPSPEED") + "deepspeed_config:\n  zero_stage: 2\n",
                 "asks for DEEPSPEED, but the deepspeed package is not installed", id="deepspeed-missing",
                 marks=pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None,
                                          reason="deepspeed is installed")),
    (TWO_PROCESSES.replace("MULTI_GPU", "DEEPSPEED") + "deepspeed_config:\n  deepspeed_config_file: no-such-ds.json\n",
     "its deepspeed_config_file cannot be read (FileNotFoundError"),
    (TWO_PROCESSES.replace("MULTI_GPU", "MEGATRON_LM"), "Megatron-LM needs its own model classes")],
    ids=["missing", "not-accelerate", "fsdp-sharded-save", "zero3-sharded-save", "deepspeed-missing", "ds-file-missing",
         "megatron"])
def test_a_bad_accelerate_config_is_refused_before_the_run(micro_model, tmp_path, capsys, content, message):
    path = tmp_path / "accelerate.yaml"
    if content is not None:
        path.write_text(content)
    config = {"name": "acc", "out": str(tmp_path / "runs"), "model": {"path": str(micro_model)},
              "train": {"launcher": "accelerate", "accelerate_config": str(path)}}
    assert_refused(capsys, ["run", str(write_config(tmp_path, config))], "train.accelerate_config", message)
    assert not (tmp_path / "runs" / "acc").exists()
