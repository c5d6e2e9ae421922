"""The train stage as an `accelerate launch` subprocess (train.launcher=accelerate): each process loads the
starting checkpoint, trains on the stage's rows file with the same trainer adapter as in-process training
(DDP, FSDP or DeepSpeed ZeRO across the processes, set up by TRL/transformers' Trainer from accelerate's
environment), and the main process writes the checkpoint (sharded weights are gathered first:
train.common.trained_model). The job is handed over as a JSON file; `python -m selfimprove.train.launch JOB`
is what each launched process runs.

Why a subprocess: accelerate starts its processes itself (torchrun), each with its own device; the run's own
process keeps its state (held samplers, the run lock) and only waits for the checkpoint.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from selfimprove.errors import UserError, run_script
from selfimprove.train.config import TrainSection

# accelerate's distributed types that shard the model across processes (set in its config's distributed_type,
# and passed to the launched processes as ACCELERATE_USE_<TYPE>=true).
SHARDED = ("FSDP", "DEEPSPEED", "MEGATRON_LM")


def launch_training(method: str, start: str, rows_file: Path, cfg: TrainSection, out: Path, work: Path,
                    dtype: str = "auto", device: str = "auto", chat: bool = False) -> None:
    """Train `start` on `rows_file` under `accelerate launch` and save the result (a HF checkpoint) to `out`.
    The launched processes' output goes to this process's stdout and stderr."""
    work.mkdir(parents=True, exist_ok=True)
    job = work / "job.json"
    job.write_text(json.dumps({"method": method, "start": start, "rows": str(rows_file), "out": str(out),
                               "work": str(work / "trainer"), "dtype": dtype, "device": device, "chat": chat,
                               "train": cfg.model_dump(mode="json")}, indent=1), encoding="utf-8")
    free_cuda_cache()
    config = ["--config_file", cfg.accelerate_config] if cfg.accelerate_config else []
    argv = [sys.executable, "-m", "accelerate.commands.launch", *config, "-m", "selfimprove.train.launch", str(job)]
    code = subprocess.call(argv)
    if code != 0:
        raise UserError(f"training under `accelerate launch` failed (exit code {code}); its output is above "
                        f"(accelerate config: {cfg.accelerate_config or 'the default'})")
    if not (out / "config.json").is_file():
        raise UserError(f"training under `accelerate launch` wrote no checkpoint to {out}")


def free_cuda_cache() -> None:
    """Hand the memory this process's caching allocator still holds (the released sampler's model) back to the
    GPU, which the launched processes need."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def check_accelerate_config(cfg: TrainSection) -> None:
    """A missing or unreadable accelerate config, or a sharded one that would not write a full checkpoint, fails
    before the run starts, not at the first train stage."""
    if cfg.launcher != "accelerate" or cfg.accelerate_config is None:
        return
    path = Path(cfg.accelerate_config)
    if not path.is_file():
        raise UserError(f"train.accelerate_config {path} does not exist; write one with `accelerate config "
                        f"--config_file {path}`, or unset it to use accelerate's default")
    import torch
    from accelerate.commands.config.config_args import load_config_from_file

    try:
        config = load_config_from_file(str(path))
    except Exception as e:  # accelerate raises whatever its YAML/JSON readers and dataclasses raise
        raise UserError(f"train.accelerate_config {path} is not an accelerate config ({type(e).__name__}: "
                        f"{str(e)[:200]}); write one with `accelerate config --config_file {path}`") from None
    kind = str(config.distributed_type).split(".")[-1]
    gpu = torch.cuda.is_available()
    problem = sharding_problem(kind, config.fsdp_config or {}, config.deepspeed_config or {}, gpu)
    if problem:
        raise UserError(f"train.accelerate_config {path} asks for {kind}, but {problem}")


def sharding_problem(kind: str, fsdp: dict[str, Any], deepspeed: dict[str, Any], on_gpu: bool) -> str | None:
    """Why an accelerate config of distributed type `kind` cannot train a stage, or None. Each train stage ends in
    a full HF checkpoint, which the trainer writes from sharded weights only when told to gather them. Without a
    GPU, accelerate sets neither FSDP nor DeepSpeed up: FSDP configs then train data-parallel (the launched
    processes say so), while DeepSpeed, half set up by transformers on CPU processes, left them hanging after
    training (deepspeed 0.19.8, accelerate 1.15), so it is refused."""
    if kind == "MEGATRON_LM":
        return "Megatron-LM needs its own model classes; use MULTI_GPU (DDP), FSDP or DEEPSPEED"
    if kind == "FSDP" and str(fsdp.get("fsdp_state_dict_type", "")).upper() != "FULL_STATE_DICT":
        return ("the train stage writes a full checkpoint: set fsdp_state_dict_type: FULL_STATE_DICT in its "
                "fsdp_config")
    if kind != "DEEPSPEED":
        return None
    if "deepspeed_config_file" in deepspeed:
        try:
            ds = json.loads(Path(deepspeed["deepspeed_config_file"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            return f"its deepspeed_config_file cannot be read ({type(e).__name__}: {str(e)[:200]})"
        stage = ds.get("zero_optimization", {}).get("stage")
        gather = ds.get("zero_optimization", {}).get("stage3_gather_16bit_weights_on_model_save", False)
    else:
        stage, gather = deepspeed.get("zero_stage"), deepspeed.get("zero3_save_16bit_model", False)
    if stage == 3 and gather is not True:
        return ("ZeRO-3 shards the weights and the train stage writes a full checkpoint: set "
                "zero3_save_16bit_model: true (stage3_gather_16bit_weights_on_model_save in a DeepSpeed JSON)")
    if importlib.util.find_spec("deepspeed") is None:
        return ("the deepspeed package is not installed; install the one matching your torch and CUDA "
                "(pip install deepspeed), or use FSDP")
    if not on_gpu:
        return ("accelerate sets DeepSpeed up on GPUs only and there is none; use distributed_type MULTI_GPU, "
                "which trains data-parallel CPU processes over gloo")
    return None


def run_job(job: dict[str, Any]) -> None:
    """One launched process: load, train (DDP, FSDP or DeepSpeed through the trainer, as accelerate's environment
    says), and on the main process save."""
    import torch
    from accelerate import PartialState
    from transformers import set_seed

    from selfimprove.jsonl import read_jsonl
    from selfimprove.sampling.hf import load_model
    from selfimprove.train.common import save_model
    from selfimprove.train.registry import fit_rows

    cfg = TrainSection.model_validate(job["train"])
    on_gpu = torch.cuda.is_available() and job["device"] != "cpu"
    # accelerate's default config (no train.accelerate_config, so not checked before the run) can ask for one
    # too; whether FSDP writes full weights is checked when the trainer saves them
    sharded = next((kind for kind in SHARDED if os.environ.get(f"ACCELERATE_USE_{kind}", "").lower() == "true"), None)
    problem = sharded and sharding_problem(sharded, {"fsdp_state_dict_type": "FULL_STATE_DICT"}, {}, on_gpu)
    if problem:
        raise UserError(f"the accelerate config asks for {sharded}, but {problem}")
    state = PartialState(cpu=not on_gpu)  # gloo between CPU processes, nccl between GPUs
    if state.is_main_process:
        kind = sharded if sharded and on_gpu else state.distributed_type.value
        print(f"training on {state.num_processes} process(es): {kind}, backend {state.backend or 'none'}, "
              f"{cfg.batch_size} rows per process and step", flush=True)
        if sharded and not on_gpu:  # accelerate turns ACCELERATE_USE_FSDP/DEEPSPEED on only for GPU-like devices
            print(f"note: the accelerate config asks for {sharded}, which accelerate sets up on GPUs only; these CPU "
                  "processes train data-parallel, each with the whole model", flush=True)
    set_seed(cfg.seed)  # as in-process training: also fixes LoRA's initialisation
    dtype = job["dtype"]
    if dtype == "auto":
        dtype = "bfloat16" if on_gpu and torch.cuda.is_bf16_supported() else "float32"
    model, tokenizer = load_model(job["start"], dtype, "cpu")
    model.to(state.device)
    rows = list(read_jsonl(Path(job["rows"])))
    model = fit_rows(job["method"], model, tokenizer, rows, cfg, Path(job["work"]), job["chat"])
    state.wait_for_everyone()
    if state.is_main_process:  # sharded: fit_rows gathered the full model on this process
        save_model(model, tokenizer, Path(job["out"]))
    state.wait_for_everyone()


if __name__ == "__main__":
    run_script(lambda: run_job(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
