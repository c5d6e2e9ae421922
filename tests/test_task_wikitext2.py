"""WikiText-2 corpus task: splits (and which plays train), articles/paragraphs, token blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from selfimprove.errors import UserError
from selfimprove.tasks import get_task
from selfimprove.tasks.wikitext2 import WikiText2Task
from selfimprove.types import Task

LINES = [" ", " = Alpha = ", " ", " The first paragraph . ", " ", " = = Part = = ", " ", " Second one here . ", " "]
CORPUS = "\n".join([*LINES, " = Beta = ", " ", " Third . ", ""])


def word_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A real Hugging Face tokenizer (word level, trained on `texts`) with an end-of-text token."""
    core = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["[UNK]", "<eot>"]))
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", eos_token="<eot>")


@pytest.fixture
def small(tmp_path: Path) -> WikiText2Task:
    (tmp_path / "wikitext2").mkdir()
    (tmp_path / "wikitext2" / "wiki.test.tokens").write_text(CORPUS)
    return WikiText2Task(data_dir=str(tmp_path), hub=False, train_split="test")


def test_articles_paragraphs_and_problems(small: WikiText2Task) -> None:
    first = "= Alpha = \n \n The first paragraph . \n \n = = Part = = \n \n Second one here ."
    assert small.texts("test") == [first, "= Beta = \n \n Third ."]
    assert small.texts("test", unit="paragraph") == ["The first paragraph .", "Second one here .", "Third ."]
    problems = small.load("train")  # train is played by the test file here
    assert [p.prompt for p in problems] == ["The first paragraph .", "Second one here .", "Third ."]
    assert [p.metadata["article"] for p in problems] == ["Alpha", "Alpha", "Beta"]
    assert all(p.gold == "" and p.metadata["split"] == "train" and p.metadata["file_split"] == "test" for p in problems)
    assert len(small.load("test", limit=2)) == 2
    assert isinstance(small, Task) and small.format_prompt(problems[0], 3) == problems[0].prompt


def test_blocks_with_a_real_tokenizer(small: WikiText2Task) -> None:
    tokenizer = word_tokenizer(small.texts("test"))
    eot = tokenizer.eos_token_id
    stream = [i for text in small.texts("test") for i in [*tokenizer(text, add_special_tokens=False)["input_ids"], eot]]
    assert len(stream) == 23  # 16 + 5 words, one <eot> after each article
    blocks = small.blocks(tokenizer, "test", 4)
    assert len(blocks) == 5 and all(len(b) == 4 for b in blocks)
    assert [i for block in blocks for i in block] == stream[:20]  # consecutive, the remainder dropped
    assert tokenizer.decode(blocks[0]) == "= Alpha = The"
    with pytest.raises(UserError, match="block_size"):
        small.blocks(tokenizer, "test", 0)


def test_shared_copy_has_valid_and_test_only(shared_data: Path) -> None:
    task = WikiText2Task(data_dir=str(shared_data), hub=False)
    with pytest.raises(UserError, match=r"wiki\.train\.tokens.*train_split='valid'"):
        task.load("train")
    played = get_task("wikitext2", data_dir=str(shared_data), hub=False, train_split="valid")
    assert played.texts("train") == played.texts("valid")
    # the published WikiText-2 sizes: 60 validation and 60 test articles; whitespace tokens as in SOURCE.md
    for split, words in (("valid", 213_886), ("test", 241_211)):
        articles = played.texts(split)
        assert len(articles) == 60
        assert sum(len(a.split()) for a in articles) == words
    assert played.load("test")[0].metadata["article"] == "Robert <unk>"


def test_shared_copy_blocks(shared_data: Path) -> None:
    task = WikiText2Task(data_dir=str(shared_data), hub=False)
    tokenizer = word_tokenizer(task.texts("valid"))
    blocks = task.blocks(tokenizer, "valid", 64)
    # every whitespace token is one word-level token, plus one <eot> per article
    assert len(blocks) == (213_886 + 60) // 64
    assert tokenizer.unk_token_id not in {i for b in blocks for i in b}


def test_bad_options() -> None:
    with pytest.raises(UserError, match="train_split"):
        WikiText2Task(train_split="dev")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="unit"):
        WikiText2Task(data_dir="/nonexistent-root", hub=False).texts("test", unit="line")  # type: ignore[arg-type]
