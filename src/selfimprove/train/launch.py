"""The train stage as an `accelerate launch` subprocess (train.launcher=accelerate): each process loads the
starting checkpoint, trains on the stage's rows file with the same trainer adapter as in-process training
(DDP across the processes, set up by TRL/transformers' Trainer from accelerate's environment), and the main
process writes the checkpoint. The job is handed over as a JSON file; `python -m selfimprove.train.launch JOB`
is what each launched process runs.

Why a subprocess: accelerate starts its processes itself (torchrun), each with its own device; the run's own
process keeps its state (held samplers, the run lock) and only waits for the checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from selfimprove.errors import UserError, run_script
from selfimprove.train.config import TrainSection

# Distributed types whose model is sharded across processes: saving it needs a gathered state dict, which
# this launcher does not do (yet).
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
    """A missing or unreadable accelerate config, or one asking for sharded training, fails before the run
    starts, not at the first train stage."""
    if cfg.launcher != "accelerate" or cfg.accelerate_config is None:
        return
    path = Path(cfg.accelerate_config)
    if not path.is_file():
        raise UserError(f"train.accelerate_config {path} does not exist; write one with `accelerate config "
                        f"--config_file {path}`, or unset it to use accelerate's default")
    from accelerate.commands.config.config_args import load_config_from_file

    try:
        kind = str(load_config_from_file(str(path)).distributed_type)
    except Exception as e:  # accelerate raises whatever its YAML/JSON readers and dataclasses raise
        raise UserError(f"train.accelerate_config {path} is not an accelerate config ({type(e).__name__}: "
                        f"{str(e)[:200]}); write one with `accelerate config --config_file {path}`") from None
    if kind.split(".")[-1] in SHARDED:
        raise UserError(f"train.accelerate_config {path} asks for {kind.split('.')[-1]}: train.launcher=accelerate "
                        "runs data-parallel (DDP) training only; use distributed_type MULTI_GPU")


def run_job(job: dict[str, Any]) -> None:
    """One launched process: load, train (DDP through the trainer), and on the main process save."""
    import torch
    from accelerate import PartialState
    from transformers import set_seed

    from selfimprove.jsonl import read_jsonl
    from selfimprove.sampling.hf import load_model
    from selfimprove.train.common import save_model
    from selfimprove.train.registry import fit_rows

    cfg = TrainSection.model_validate(job["train"])
    sharded = [kind for kind in SHARDED if os.environ.get(f"ACCELERATE_USE_{kind}", "").lower() in ("1", "true")]
    if sharded:  # accelerate's default config (no train.accelerate_config) can ask for it too
        raise UserError(f"train.launcher=accelerate runs data-parallel (DDP) training only, and the accelerate "
                        f"config asks for {sharded[0]}; use distributed_type MULTI_GPU")
    on_gpu = torch.cuda.is_available() and job["device"] != "cpu"
    state = PartialState(cpu=not on_gpu)  # gloo between CPU processes, nccl between GPUs
    if state.is_main_process:
        print(f"training on {state.num_processes} process(es): {state.distributed_type.value}, backend "
              f"{state.backend or 'none'}, {cfg.batch_size} rows per process and step", flush=True)
    set_seed(cfg.seed)  # as in-process training: also fixes LoRA's initialisation
    dtype = job["dtype"]
    if dtype == "auto":
        dtype = "bfloat16" if on_gpu and torch.cuda.is_bf16_supported() else "float32"
    model, tokenizer = load_model(job["start"], dtype, "cpu")
    model.to(state.device)
    rows = list(read_jsonl(Path(job["rows"])))
    model = fit_rows(job["method"], model, tokenizer, rows, cfg, Path(job["work"]), job["chat"])
    state.wait_for_everyone()
    if state.is_main_process:
        save_model(model, tokenizer, Path(job["out"]))
    state.wait_for_everyone()


if __name__ == "__main__":
    run_script(lambda: run_job(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
