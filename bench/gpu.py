"""The GPU path end to end, in one short script for a maintainer with a CUDA GPU (about 5-10 minutes):

  1. the local sampler on a real small model (default: the smollm2-135m preset, bf16): our fast engine vs
     `model.generate` on the same prompts, generated tokens/s and the fraction of the GPU's bf16 matmul peak
     measured in the same run (useful FLOPs = 2 x parameters per generated token, a lower bound);
  2. a 1-iteration loop (`selfimprove run`: sample, verify, curate, bf16 SFT, evaluate) on that model;
  3. with two or more GPUs, the same loop with the train stage under `accelerate launch` (DDP, bf16);
  4. with vLLM installed, the same loop sampling through `vllm serve`, started per checkpoint by the run, and
     the request count the server logged.

Without a CUDA device it says so and exits 0 having run nothing (`--cpu` runs the same checks on the CPU
anyway, small, to check the script itself).

    python bench/gpu.py [--model smollm2-135m] [--out runs/gpu-check] [--cpu]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from selfimprove.errors import run_script
from selfimprove.sampling.hf import HFSampler, load_model
from selfimprove.tasks import get_task
from selfimprove.types import SamplingParams

VLLM = "vllm serve {model} --port {port} --dtype bfloat16 --gpu-memory-utilization 0.4 --max-model-len 2048"


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype, size: int) -> float:
    """Best-of-10 square matmul throughput on `device` in `dtype`."""
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(10):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e12


def timed_sample(sampler: HFSampler, prompts: list[str], params: SamplingParams) -> tuple[int, float]:
    if sampler.model.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    results = sampler.sample(prompts, params)
    if sampler.model.device.type == "cuda":
        torch.cuda.synchronize()
    return sum(c.num_tokens for r in results for c in r), time.perf_counter() - start


def check_sampler(args: argparse.Namespace, device: torch.device, dtype: str) -> None:
    model, tokenizer = load_model(args.model, dtype, device.type)
    params_count = sum(p.numel() for p in model.parameters())
    peak = matmul_peak_tflops(device, model.dtype, 8192 if device.type == "cuda" else 1024)
    prompts = [str(p.prompt) for p in get_task("arith").load("test", args.prompts)]
    params = SamplingParams(n=args.n, temperature=0.75, top_p=0.95, max_new_tokens=args.max_new_tokens, seed=0)
    print(f"[1] sampler: {args.model} ({params_count / 1e6:.1f}M parameters, {model.dtype}, {device}), "
          f"{len(prompts)} prompts x {args.n} samples, batch {args.batch}; matmul peak {peak:.1f} TFLOP/s")
    rates = {}
    for engine in ("fast", "generate"):
        sampler = HFSampler(model, tokenizer, batch_size=args.batch, show_progress=False, engine=engine)
        timed_sample(sampler, prompts[:8], params)  # warm-up: kernels, allocator
        tokens, seconds = timed_sample(sampler, prompts, params)
        rates[engine] = tokens / seconds
        print(f"    {engine:8s} {tokens:7d} tokens {seconds:7.2f} s {rates[engine]:9.1f} tok/s "
              f"{100 * 2 * params_count * rates[engine] / 1e12 / peak:6.2f}% of peak")
    print(f"    fast / generate: {rates['fast'] / rates['generate']:.2f}x")
    del model


def loop_config(args: argparse.Namespace, name: str, dtype: str, **extra: Any) -> dict[str, Any]:
    small = args.cpu
    config = {
        "name": name, "out": str(args.out), "seed": 0,
        "task": {"name": "arith", "options": {"sizes": {"improve": 16 if small else 128, "test": 8 if small else 64,
                                                        "ood": 4 if small else 32}}},
        "model": {"path": args.model, "dtype": dtype},
        "sampling": {"n": 2 if small else 8, "max_new_tokens": 32 if small else args.max_new_tokens,
                     "batch_size": args.batch},
        "eval": {"k": 2 if small else 4, "semantic": False},
        "train": {"max_steps": 2 if small else 20, "batch_size": 4 if small else 16, "learning_rate": 1e-4,
                  "logging_steps": 1},
        "loop": {"iterations": 1},
    }
    for key, value in extra.items():
        config[key] = {**config[key], **value}
    return config


def run_loop(label: str, config: dict[str, Any]) -> Path:
    """`selfimprove run` on `config` (fresh), timed; prints the iteration's key metrics."""
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "selfimprove.cli", "run", str(path), "--fresh"],
                            capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        print(f"{label}: FAILED (exit {result.returncode}) after {seconds:.0f} s\n{result.stderr[-3000:]}")
        raise SystemExit(1)
    run = out / config["name"]
    metrics = json.loads((run / "iter_001" / "metrics.json").read_text())
    data = metrics.get("data", {})
    test = metrics.get("test", {})
    print(f"{label}: ok in {seconds:.0f} s; sampled accuracy {data.get('improve_sampled_accuracy')}, "
          f"trained on {data.get('train_rows')} rows, test greedy pass@1 {test.get('greedy_pass@1')}")
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m", help="HF checkpoint, hub id or preset")
    ap.add_argument("--out", type=Path, default=Path("runs/gpu-check"), help="folder for the check runs")
    ap.add_argument("--prompts", type=int, default=256, help="arith test prompts for the sampler check")
    ap.add_argument("--n", type=int, default=8, help="samples per prompt")
    ap.add_argument("--batch", type=int, default=256, help="rows decoded together")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--cpu", action="store_true", help="run the checks on the CPU anyway (small; checks the script)")
    args = ap.parse_args()
    if not torch.cuda.is_available() and not args.cpu:
        print(f"no GPU: torch {torch.__version__} sees no CUDA device, so none of the GPU checks ran "
              "(run this on a machine with an NVIDIA GPU; --cpu runs them on the CPU to check the script)")
        return
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    dtype = "bfloat16" if device.type == "cuda" else "float32"
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(0)} x {torch.cuda.device_count()}, torch {torch.__version__}")
    else:
        args.prompts, args.batch, args.max_new_tokens = min(args.prompts, 16), min(args.batch, 32), 32
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    check_sampler(args, device, dtype)
    run_loop(f"[2] 1-iteration loop ({dtype} training)", loop_config(args, "local", dtype))
    if torch.cuda.device_count() >= 2:
        accelerate = args.out / "accelerate.yaml"
        accelerate.write_text(yaml.safe_dump({
            "compute_environment": "LOCAL_MACHINE", "distributed_type": "MULTI_GPU", "mixed_precision": "bf16",
            "num_processes": torch.cuda.device_count(), "num_machines": 1, "machine_rank": 0,
            "main_process_port": 0}))
        run_loop(f"[3] the same loop, train stage on {torch.cuda.device_count()} GPUs (accelerate, DDP)",
                 loop_config(args, "accelerate", dtype,
                             train={"launcher": "accelerate", "accelerate_config": str(accelerate)}))
    else:
        print("[3] accelerate across GPUs: skipped (one GPU)")
    if importlib.util.find_spec("vllm") is None or device.type != "cuda":
        print("[4] served sampling: skipped (vLLM not installed)" if device.type == "cuda"
              else "[4] served sampling: skipped (vLLM needs a GPU)")
        return
    run = run_loop("[4] the same loop sampling through vllm serve",
                   loop_config(args, "served", dtype, model={"serve": {"command": VLLM}}))
    log = (run / "serve.log").read_text(errors="replace")
    print(f"    vllm served {log.count('POST /v1/')} requests over {log.count('== ')} server starts "
          f"(log: {run / 'serve.log'})")


if __name__ == "__main__":
    run_script(main)
