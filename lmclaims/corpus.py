"""The pinned text corpus: the independent unit of every bootstrap.

``lmclaims/data/corpus/lmclaims-corpus-v1.jsonl`` (package data) holds one JSON object per text (id,
kind, domain, source, split, text). A user's own texts (``--claims-corpus PATH``) are either such a
JSONL file (``.jsonl``; only ``id`` and ``text`` are required, ``split`` defaults to ``eval``) or a
plain-text file: one text per blank-line-separated block when the file has a blank line, else one
text per line (ids ``<file stem>-0001``...). ``load_corpus`` verifies it and returns a ``Corpus`` whose ``sha256`` is
recorded in every cached measurement and every report. ``Corpus.view`` selects texts (by split and
count) without changing their identity: a ``CorpusView`` hash covers the chosen ids and the
token window, so two views of the same texts share cache entries and different ones never do.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(str(importlib.resources.files("lmclaims") / "data" / "corpus"))
DEFAULT_CORPUS = CORPUS_DIR / "lmclaims-corpus-v1.jsonl"


class EmptyCorpus(ValueError):
    pass


class CorpusError(ValueError):
    """A corpus that cannot be used as a set of independent units (duplicate ids, invalid text)."""


def _lone_surrogate(text: str) -> int | None:
    """Index of the first lone UTF-16 surrogate (U+D800..U+DFFF) in ``text``, or None.

    JSON allows ``"\\ud800"`` escapes that decode to a code point no UTF-8 encoder accepts; such a
    text would crash (or be silently altered by) a tokenizer later.

    >>> _lone_surrogate("ok \\u00e9"), _lone_surrogate("bad \\ud800")
    (None, 4)
    """
    for i, ch in enumerate(text):
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return i
    return None


def check_texts(ids: list[str], texts: list[str], where: str) -> None:
    """Reject duplicate ids, non-string or empty texts and lone surrogates, naming ``where`` and the id."""
    seen: dict[str, int] = {}
    for n, (i, t) in enumerate(zip(ids, texts)):
        if not isinstance(i, str) or not i:
            raise CorpusError(f"corpus {where}: record {n + 1} has no string 'id' (got {i!r})")
        if i in seen:
            raise CorpusError(f"corpus {where}: duplicate id {i!r} (records {seen[i] + 1} and {n + 1}); "
                              "texts are the bootstrap's independent units and need unique ids")
        seen[i] = n
        if not isinstance(t, str):
            raise CorpusError(f"corpus {where}: text {i!r} is not a string (got {type(t).__name__})")
        pos = _lone_surrogate(t)
        if pos is not None:
            raise CorpusError(f"corpus {where}: text {i!r} contains a lone surrogate U+{ord(t[pos]):04X} at "
                              f"character {pos} (not valid Unicode text; fix the \\u escape in the file)")


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
    n = len(texts)
    check_texts([f"t{i:04d}" for i in range(n)], list(texts), name)
    blob = json.dumps(texts).encode()
    return Corpus(name, tuple(f"t{i:04d}" for i in range(n)), tuple(texts), ("prose",) * n,
                  ("eval",) * n, hashlib.sha256(blob).hexdigest(), "inline")


def plain_texts(raw: str) -> list[str]:
    """Texts of a plain-text corpus file: blank-line-separated blocks if there is a blank line, else lines.

    >>> plain_texts("one\\ntwo\\n")
    ['one', 'two']
    >>> plain_texts("a first\\ntext\\n\\n\\nthe second\\n")
    ['a first\\ntext', 'the second']
    """
    lines = raw.splitlines()
    body = "\n".join(lines).strip("\n")
    if re.search(r"\n[ \t]*\n", body):
        return [b.strip("\n") for b in re.split(r"\n[ \t]*\n", body) if b.strip()]
    return [ln for ln in lines if ln.strip()]


def _origin(path: Path) -> str:
    try:
        return str(path.relative_to(CORPUS_DIR.parents[2]))       # lmclaims/data/corpus/...
    except ValueError:
        return str(path)


def load_corpus(path: str | Path = DEFAULT_CORPUS) -> Corpus:
    """A corpus file: JSONL (``.jsonl``) or plain text (see the module docstring); sha256 of its bytes."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"corpus file {path} not found")
    if path.is_dir():
        raise CorpusError(f"corpus {path} is a directory; give a .jsonl file or a plain-text file")
    raw = path.read_bytes()
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"corpus {path}: not UTF-8 ({exc})") from None
    sha = hashlib.sha256(raw).hexdigest()
    if path.suffix != ".jsonl":
        texts = plain_texts(decoded)
        if not texts:
            raise EmptyCorpus(f"corpus {path} has no texts")
        ids = [f"{path.stem}-{i + 1:04d}" for i in range(len(texts))]
        check_texts(ids, texts, str(path))
        n = len(texts)
        return Corpus(name=path.stem, ids=tuple(ids), texts=tuple(texts), kinds=("prose",) * n,
                      splits=("eval",) * n, sha256=sha, origin=_origin(path))
    rows = []
    for n, line in enumerate(decoded.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise CorpusError(f"corpus {path}: line {n} is not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise CorpusError(f"corpus {path}: line {n} is not a JSON object")
        rows.append(row)
    if not rows:
        raise EmptyCorpus(f"corpus {path} has no texts")
    check_texts([r.get("id") for r in rows], [r.get("text", "") for r in rows], str(path))
    for r in rows:
        if not str(r.get("text", "")).strip():
            raise EmptyCorpus(f"corpus {path}: text {r.get('id')!r} is empty")
    return Corpus(
        name=path.stem, ids=tuple(r["id"] for r in rows), texts=tuple(r["text"] for r in rows),
        kinds=tuple(r.get("kind", "prose") for r in rows), splits=tuple(r.get("split", "eval") for r in rows),
        sha256=sha, origin=_origin(path),
    )
