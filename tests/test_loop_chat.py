"""model.chat in the loop: prompts are sampled AND trained through the tokenizer's chat template, the way an
instruct model (SmolLM2-135M-Instruct) was trained. Real run through the CLI with a micro model whose
tokenizer carries a chat template."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from transformers import AutoTokenizer

from selfimprove.train.registry import trainer_rows

from test_loop_e2e import run_config, start_run

# Made of words the arith tokenizer knows, so every rendered token is a real one (no <unk>).
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}Q: {{ m['content'] }}\n"
    "{% elif m['role'] == 'assistant' %}A:{{ m['content'] }}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}A:{% endif %}"
)


def chat_model(micro_model: Path, out: Path) -> Path:
    shutil.copytree(micro_model, out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    return out


def test_trainer_rows_are_conversations_only_with_chat() -> None:
    sft = [{"prompt": "Ann has 2 pens.", "completion": " 2+1=3.", "problem_id": "a", "source": "sample"}]
    assert trainer_rows("sft", sft, chat=False) == [{"prompt": "Ann has 2 pens.", "completion": " 2+1=3."}]
    assert trainer_rows("sft", sft, chat=True) == [{
        "prompt": [{"role": "user", "content": "Ann has 2 pens."}],
        "completion": [{"role": "assistant", "content": " 2+1=3."}],
    }]
    dpo = [{"prompt": "p", "chosen": "c", "rejected": "r", "problem_id": "a"}]
    assert trainer_rows("dpo", dpo, chat=True) == [{
        "prompt": [{"role": "user", "content": "p"}],
        "chosen": [{"role": "assistant", "content": "c"}],
        "rejected": [{"role": "assistant", "content": "r"}],
    }]


def test_sampling_prompt_is_a_prefix_of_the_training_text(micro_model: Path, tmp_path: Path) -> None:
    """What the sampler conditions on (generation prompt) is exactly what training puts before the completion,
    so the model learns to continue the prompt it is sampled with."""
    tokenizer = AutoTokenizer.from_pretrained(chat_model(micro_model, tmp_path / "m"))
    row = trainer_rows("sft", [{"prompt": "Ann has 2 pens.", "completion": " 2+1=3."}], chat=True)[0]
    prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    assert full.startswith(prompt) and full != prompt and tokenizer.unk_token not in full


def test_chat_run_samples_and_trains_through_the_template(micro_model: Path, tmp_path: Path) -> None:
    model = chat_model(micro_model, tmp_path / "chat-model")
    config = run_config(model, tmp_path / "runs", "chat", strategy="sft-dpo", schedule=["sft", "dpo"])
    config["model"]["chat"] = True
    run = start_run(tmp_path, config)
    for t in (1, 2):
        metrics = json.loads((run / f"iter_{t:03d}" / "metrics.json").read_text())
        assert metrics["data"]["method"] == ["sft", "dpo"][t - 1]
    # the files keep the task's text prompts (what a report shows); only the trainer sees conversations
    sample = json.loads((run / "iter_001" / "samples.jsonl").read_text().splitlines()[0])
    assert isinstance(sample["prompt"], str)
    assert (run / "iter_002" / "model" / "tokenizer_config.json").is_file()
    saved = AutoTokenizer.from_pretrained(run / "iter_002" / "model")
    assert saved.chat_template == CHAT_TEMPLATE  # M_t keeps the template, so M_{t+1}'s sampling uses it too


def test_run_refuses_a_served_model(micro_model: Path, tmp_path: Path) -> None:
    from conftest import selfimprove

    result = selfimprove("run", f"model.path={micro_model}", "model.backend=openai", f"out={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "model.backend must be hf" in result.stderr
