"""What the trainers' adapters share: trainer arguments, a wall-clock limit, LoRA, saving."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from transformers.trainer_callback import PrinterCallback

from selfimprove.errors import UserError
from selfimprove.progress import StepBar, verbose

from selfimprove.sampling import as_chat
from selfimprove.train.config import TrainSection


class TimeLimit(TrainerCallback):
    """Stop training once `seconds` of wall clock have passed (a standard transformers callback)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if time.monotonic() - self.start > self.seconds:
            control.should_training_stop = True
        return control


def as_conversations(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows in TRL's conversational format: the prompt becomes one user message and each completion column
    (completion, chosen, rejected) one assistant message, so the trainer renders them through the tokenizer's
    chat template exactly as the chat sampler renders prompts (model.chat). Columns that are not text to render
    (an RL row's gold and task) pass unchanged; other keys are dropped."""
    def turn(column: str, text: Any) -> Any:
        if column == "prompt":
            return as_chat(text)  # the very conversion the chat sampler applies
        if column not in ("completion", "chosen", "rejected"):
            return text
        return [{"role": "assistant", "content": text}] if isinstance(text, str) else text

    return [{c: turn(c, row[c]) for c in columns} for row in rows]


def trainer_kwargs(cfg: TrainSection, out_dir: Path, model: PreTrainedModel) -> dict[str, Any]:
    """Arguments common to SFTConfig and DPOConfig. bf16 only on CUDA that supports it (never on CPU)."""
    on_cuda = model.device.type == "cuda"
    return dict(
        output_dir=str(out_dir),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio of total steps
        lr_scheduler_type=cfg.lr_scheduler,
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps,
        save_strategy="no",
        report_to=cfg.report_to or "none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=on_cuda and torch.cuda.is_bf16_supported() and model.dtype == torch.bfloat16,
        use_cpu=not on_cuda,
        dataloader_num_workers=0,
        disable_tqdm=not verbose(),  # StepProgress draws the steps instead
    )


class StepProgress(TrainerCallback):
    """The trainer's steps and last loss on our own progress bar (stderr, with the sampling bars), in place of
    its tqdm bar and printed log dicts; `--verbose` keeps the trainer's own output instead."""

    def __init__(self) -> None:
        self.bar = StepBar("training")
        self.note = ""

    def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        self.bar.start(state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
        if logs and "loss" in logs:
            self.note = f"loss {float(logs['loss']):.3f}"

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        self.bar.advance(1, self.note)

    def on_train_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        self.bar.stop()


def callbacks(cfg: TrainSection) -> list[TrainerCallback]:
    own = [TimeLimit(cfg.max_time_s)] if cfg.max_time_s else []
    return own if verbose() else [*own, StepProgress()]


def quiet(trainer: Any) -> Any:
    """Without `--verbose`, drop the printer of log dicts that the trainer adds when its tqdm bar is off
    (StepProgress shows the loss instead)."""
    if not verbose():
        trainer.remove_callback(PrinterCallback)
    return trainer


def peft_config(cfg: TrainSection) -> Any:
    """A PEFT LoraConfig when LoRA is enabled, else None (TRL trainers take it as `peft_config`)."""
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM",
    )


def trained_model(trainer: Any) -> Any:
    """The model `trainer` trained. Under FSDP or DeepSpeed (train.launcher=accelerate) each process holds only a
    shard of it: the trainer's own `save_model` gathers the full weights (FSDP's FULL_STATE_DICT; ZeRO-3's
    16-bit gather, `zero3_save_16bit_model`) and writes them from the main process, which loads them back as one
    plain model (with LoRA, the start weights plus the adapter, through PEFT); the other processes get None."""
    if not (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        return trainer.model
    gathered = Path(trainer.args.output_dir) / "gathered"
    trainer.save_model(str(gathered))  # every process takes part in the gather
    trainer.accelerator.wait_for_everyone()
    if not trainer.accelerator.is_main_process:
        return None
    if (gathered / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(gathered)  # the adapter names its start checkpoint
    if not (gathered / "config.json").is_file():
        raise UserError("the sharded trainer wrote no full weights; in the accelerate config set "
                        "fsdp_state_dict_type: FULL_STATE_DICT (FSDP) or zero3_save_16bit_model: true (ZeRO-3)")
    return AutoModelForCausalLM.from_pretrained(gathered)


def save_model(model: Any, tokenizer: PreTrainedTokenizerBase, out_dir: Path) -> Path:
    """Save a standard HF checkpoint (LoRA adapters merged in), loadable by AutoModelForCausalLM."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
