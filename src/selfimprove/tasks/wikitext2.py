"""Task `wikitext2`: WikiText-2 (Merity et al. 2016, arXiv 1609.07843), the corpus of the model-collapse
experiments (Shumailov et al. 2024, Nature 631:755), which fine-tune on it and measure perplexity on real
data after each generation of training on the model's own text.

It is a corpus, not a question set: a Problem is one paragraph (prompt = its text, gold = ""), `texts()`
gives the articles (or paragraphs) and `blocks()` the token blocks a language model trains and is scored on.

The local files are the tokenized release (`wiki.*.tokens`, "wikitext-2-v1": `<unk>` for rare words,
`@-@` inside hyphenated words). Some copies (the one in pytorch/examples, for instance) lack the training
file; then pick which split plays `train` with the `train_split` option (e.g. `train_split="valid"` and
evaluate on `test`), or go online so that the hub's Salesforce/wikitext can supply it.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

from selfimprove.errors import UserError
from selfimprove.tasks import data
from selfimprove.types import ExtractMode, Problem, Prompt

SplitName = Literal["train", "valid", "test"]
HUB_SPLIT = {"train": "train", "valid": "validation", "test": "test"}
HEADING = re.compile(r"^ = [^=].* = $")  # a top-level article title; sections are ` = = Name = = `


class Tokenizer(Protocol):
    """What `blocks` needs of a tokenizer: a Hugging Face tokenizer satisfies it."""

    eos_token_id: int | None

    def __call__(self, text: list[str], add_special_tokens: bool = ...) -> Any: ...


def source_of(split: str, config: str) -> data.Source:
    files = (f"{split}.txt", f"wiki.{split}.tokens")
    origin = f"from the WikiText-2 release, {config}"
    return data.Source(files, (data.HubSplit("Salesforce/wikitext", config, HUB_SPLIT[split]),), origin)


def title_lines(lines: list[str]) -> set[int]:
    """Indexes of article titles: ` = Title = ` between blank lines (two formula lines in the test split
    look like titles but sit inside a paragraph)."""

    def blank(i: int) -> bool:
        return i < 0 or i >= len(lines) or not lines[i].strip()

    return {i for i, line in enumerate(lines) if HEADING.match(line.rstrip("\n")) and blank(i - 1) and blank(i + 1)}


def articles(lines: list[str]) -> list[list[str]]:
    """Lines grouped into articles, each starting at its title line."""
    titles = title_lines(lines)
    grouped: list[list[str]] = []
    for i, line in enumerate(lines):
        if i in titles or not grouped:
            grouped.append([])
        grouped[-1].append(line)
    return grouped


class WikiText2Task:
    """WikiText-2 train/valid/test. Options: data_dir, train_split (which split plays 'train'), hub_config
    ('wikitext-2-v1' tokenized as the local files, or 'wikitext-2-raw-v1'), hub (allow download)."""

    name = "wikitext2"
    splits = ("train", "valid", "test")
    stop: tuple[str, ...] = ()

    def __init__(
        self,
        data_dir: str | None = None,
        train_split: SplitName = "train",
        hub_config: str = "wikitext-2-v1",
        hub: bool = True,
    ) -> None:
        if train_split not in self.splits:
            raise UserError(f"wikitext2 train_split must be one of {list(self.splits)}, not {train_split!r}")
        self.data_dir, self.train_split, self.hub_config, self.hub = data_dir, train_split, hub_config, hub
        self._lines: dict[str, list[str]] = {}

    def lines(self, split: str) -> list[str]:
        """The raw lines of a split (with their newlines), `train` read from `train_split`."""
        if split not in self.splits:
            raise UserError(f"wikitext2 has no split {split!r}; choose one of {list(self.splits)}")
        actual = self.train_split if split == "train" else split
        if actual not in self._lines:
            source = source_of(actual, self.hub_config)
            try:
                rows = data.load_rows(self.name, actual, source, self.data_dir, self.hub)
            except UserError as e:
                if split != "train":
                    raise
                raise UserError(f"{e}. Or let another split play train: task option train_split='valid'") from None
            self._lines[actual] = [row["text"] for row in rows]
        return self._lines[actual]

    def texts(self, split: str, unit: Literal["document", "paragraph"] = "document") -> list[str]:
        """Articles (heading included, lines joined) or single paragraphs (no headings, no blank lines)."""
        if unit == "paragraph":
            return [line.strip() for line in self.lines(split) if line.strip() and not line.strip().startswith("= ")]
        if unit != "document":
            raise UserError(f"wikitext2 texts unit must be 'document' or 'paragraph', not {unit!r}")
        return ["".join(article).strip() for article in articles(self.lines(split)) if "".join(article).strip()]

    def blocks(self, tokenizer: Tokenizer, split: str, block_size: int) -> list[list[int]]:
        """The split as consecutive blocks of `block_size` token ids: articles tokenized, joined with the
        end-of-text token, cut into equal blocks with the remainder dropped (the grouping of the Hugging Face
        `run_clm` recipe; Shumailov et al. train and score on 64-token blocks)."""
        if block_size <= 0:
            raise UserError(f"block_size must be positive, got {block_size}")
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        stream: list[int] = []
        for ids in tokenizer(self.texts(split), add_special_tokens=False)["input_ids"]:
            stream.extend([*ids, *eos])
        usable = len(stream) - len(stream) % block_size
        return [stream[i : i + block_size] for i in range(0, usable, block_size)]

    def load(self, split: str, limit: int | None = None) -> list[Problem]:
        """One Problem per paragraph, with its article's title in metadata; gold is empty (nothing to verify)."""
        problems: list[Problem] = []
        lines, actual, title = self.lines(split), (self.train_split if split == "train" else split), ""
        titles = title_lines(lines)
        for i, line in enumerate(lines):
            text = line.strip()
            if i in titles:
                title = text.strip("=").strip()
            elif text and not text.startswith("= "):
                meta = {"split": split, "source": "wikitext2", "file_split": actual, "article": title}
                problems.append(Problem(f"wikitext2-{split}-{len(problems)}", text, "", meta))
                if limit is not None and len(problems) >= limit:
                    break
        return problems

    def format_prompt(self, problem: Problem, shots: int = 0) -> Prompt:
        """The raw text: a corpus has no instructions or worked examples."""
        return problem.prompt

    def extract(self, text: str, mode: ExtractMode = "strict") -> str | None:
        return text

    def verify(self, answer: str | None, gold: str) -> bool:
        """There is nothing to be right about in free text: never 'correct' (collapse is scored by perplexity)."""
        return False
