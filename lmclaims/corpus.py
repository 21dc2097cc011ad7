"""The pinned text corpus: the independent unit of every bootstrap.

``fixtures/corpus/lmclaims-corpus-v1.jsonl`` holds one JSON object per text (id, kind, domain,
source, split, text). ``load_corpus`` verifies it and returns a ``Corpus`` whose ``sha256`` is
recorded in every cached measurement and every report. ``Corpus.view`` selects texts (by split and
count) without changing their identity: a ``CorpusView`` hash covers the chosen ids and the
token window, so two views of the same texts share cache entries and different ones never do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"
DEFAULT_CORPUS = CORPUS_DIR / "lmclaims-corpus-v1.jsonl"


class EmptyCorpus(ValueError):
    pass


@dataclass(frozen=True)
class Corpus:
    name: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    kinds: tuple[str, ...]
    splits: tuple[str, ...]
    sha256: str
    origin: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def view(self, *, split: str | None = "eval", max_texts: int | None = None,
             max_tokens: int = 256) -> "CorpusView":
        """The first ``max_texts`` texts of ``split`` (corpus order is fixed, so this is pinned)."""
        idx = [i for i, s in enumerate(self.splits) if split is None or s == split]
        if max_texts is not None:
            idx = idx[:max_texts]
        if not idx:
            raise EmptyCorpus(f"corpus {self.name!r} has no texts in split {split!r}")
        return CorpusView(self, tuple(idx), max_tokens)

    def metadata(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "n_texts": len(self), "origin": self.origin}


@dataclass(frozen=True)
class CorpusView:
    corpus: Corpus
    indices: tuple[int, ...]
    max_tokens: int

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def texts(self) -> list[str]:
        return [self.corpus.texts[i] for i in self.indices]

    @property
    def ids(self) -> list[str]:
        return [self.corpus.ids[i] for i in self.indices]

    @property
    def key(self) -> str:
        payload = json.dumps({"corpus": self.corpus.sha256, "ids": self.ids, "max_tokens": self.max_tokens})
        return hashlib.sha256(payload.encode()).hexdigest()


def corpus_from_texts(texts: list[str], name: str = "inline") -> Corpus:
    """A corpus from a list of strings (tests, user scripts)."""
    if not texts:
        raise EmptyCorpus("empty corpus: no texts given")
    blob = json.dumps(texts).encode()
    n = len(texts)
    return Corpus(name, tuple(f"t{i:04d}" for i in range(n)), tuple(texts), ("prose",) * n,
                  ("eval",) * n, hashlib.sha256(blob).hexdigest(), "inline")


def load_corpus(path: str | Path = DEFAULT_CORPUS) -> Corpus:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"corpus file {path} not found")
    raw = path.read_bytes()
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    if not rows:
        raise EmptyCorpus(f"corpus {path} has no texts")
    for r in rows:
        if not str(r.get("text", "")).strip():
            raise EmptyCorpus(f"corpus {path}: text {r.get('id')!r} is empty")
    return Corpus(
        name=path.stem, ids=tuple(r["id"] for r in rows), texts=tuple(r["text"] for r in rows),
        kinds=tuple(r.get("kind", "prose") for r in rows), splits=tuple(r.get("split", "eval") for r in rows),
        sha256=hashlib.sha256(raw).hexdigest(), origin=str(path.relative_to(path.parents[2])) if len(path.parents) > 2 else str(path),
    )
