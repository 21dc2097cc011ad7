"""Integrity tests for the pinned evaluation corpus lmclaims/data/corpus/lmclaims-corpus-v1.jsonl.

Token counts use a tokenizer-free proxy, ``len(re.findall(r"\\w+|[^\\w\\s]", text))``:
one unit per run of word characters and one per punctuation/symbol character.  A
byte-level BPE tokenizer (GPT-2 style pre-tokenisation, as used by SmolLM2, Qwen2.5 and,
with SentencePiece, Gemma-3) never merges across a word/punctuation boundary for
ordinary prose, so for prose the BPE count is at least roughly the proxy; the proxy can
over-count multi-character operators in code ("==", "->").  Measured once with the
SmolLM2-135M tokenizer, BPE/proxy >= 0.96 over this corpus (README).  We therefore
require proxy >= MIN_PROXY = 72 (= 64 / 0.9, a margin below the observed worst ratio) so
that every text has >= 64 real tokens.  For the upper bound the proxy is *not*
conservative (indentation and digits add tokens), so we also cap characters: English
prose runs at >= 4 characters per BPE token, so <= 1600 characters keeps prose under 400
tokens; code is capped at 1400 characters and proxy <= 300 (the SmolLM2 maximum
measured is 355, see README).
"""
from __future__ import annotations

import collections
import hashlib
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = ROOT / "lmclaims" / "data" / "corpus"
JSONL = CORPUS_DIR / "lmclaims-corpus-v1.jsonl"
README = CORPUS_DIR / "README.md"

N_MIN = 240
N_HELDOUT = 40
MIN_PROXY = 72
MAX_PROXY = 400
MAX_CODE_PROXY = 300
MAX_CHARS = {"prose": 1600, "technical": 1600, "code": 1400}
KINDS = {"prose", "technical", "code"}
KEYS = {"id", "kind", "domain", "source", "split", "text"}
PROXY_RE = re.compile(r"\w+|[^\w\s]")
CPYTHON_SRC_RE = re.compile(
    r"^CPython 3\.11\.7 Lib/[\w/]+\.py:L(\d+)-L(\d+) \(PSF-2\.0\)$")
SHINGLE = 5
MAX_JACCARD = 0.5


def proxy_tokens(text: str) -> int:
    return len(PROXY_RE.findall(text))


@pytest.fixture(scope="module")
def raw() -> bytes:
    return JSONL.read_bytes()


@pytest.fixture(scope="module")
def records(raw: bytes) -> list[dict]:
    return [json.loads(line) for line in raw.decode("utf-8").split("\n")[:-1]]


def test_file_format(raw: bytes) -> None:
    assert b"\x00" not in raw
    assert b"\r" not in raw
    assert raw.endswith(b"\n") and not raw.endswith(b"\n\n")
    lines = raw.decode("utf-8").split("\n")[:-1]  # strict UTF-8 decode
    assert all(line.strip() for line in lines), "blank line in jsonl"


def test_record_schema(records: list[dict]) -> None:
    for rec in records:
        assert set(rec) == KEYS, rec.get("id")
        assert rec["kind"] in KINDS, rec["id"]
        assert rec["split"] in {"eval", "heldout"}, rec["id"]
        assert isinstance(rec["domain"], str) and re.fullmatch(r"[a-z][a-z-]*", rec["domain"])
        text = rec["text"]
        assert isinstance(text, str) and text
        assert not text[0].isspace() and not text[-1].isspace(), rec["id"]
        assert all(line == line.rstrip() for line in text.split("\n")), rec["id"]
        assert "\r" not in text and "\x00" not in text


def test_count_and_ids(records: list[dict]) -> None:
    assert len(records) >= N_MIN
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids), "duplicate ids"
    assert all(re.fullmatch(r"p\d{4}", i) for i in ids)
    assert ids == sorted(ids), "records must be in id order"


def test_split_by_id_only(records: list[dict]) -> None:
    ids = sorted(r["id"] for r in records)
    heldout = set(ids[-N_HELDOUT:])
    for rec in records:
        expected = "heldout" if rec["id"] in heldout else "eval"
        assert rec["split"] == expected, rec["id"]
    counts = collections.Counter(r["split"] for r in records)
    assert counts == {"heldout": N_HELDOUT, "eval": len(records) - N_HELDOUT}


def test_lengths(records: list[dict]) -> None:
    for rec in records:
        n = proxy_tokens(rec["text"])
        assert MIN_PROXY <= n <= MAX_PROXY, (rec["id"], n)
        assert len(rec["text"]) <= MAX_CHARS[rec["kind"]], (rec["id"], len(rec["text"]))
        if rec["kind"] == "code":
            assert n <= MAX_CODE_PROXY, (rec["id"], n)
            assert 15 <= rec["text"].count("\n") + 1 <= 60, rec["id"]


def test_diversity(records: list[dict]) -> None:
    domains = collections.Counter(r["domain"] for r in records)
    assert len(domains) >= 15, domains
    kinds = collections.Counter(r["kind"] for r in records)
    code_frac = kinds["code"] / len(records)
    assert 0.15 <= code_frac <= 0.35, code_frac
    assert kinds["prose"] / len(records) >= 0.6
    assert kinds["technical"] >= 5
    prose_domains = {r["domain"] for r in records if r["kind"] == "prose"}
    assert len(prose_domains) >= 15
    code_langs = {r["domain"] for r in records if r["kind"] == "code"}
    assert {"python", "c", "javascript", "sql", "shell", "rust", "go"} <= code_langs
    # no single domain dominates
    assert max(domains.values()) / len(records) < 0.25
    # the held-out split is not degenerate in kind
    held = collections.Counter(r["kind"] for r in records if r["split"] == "heldout")
    assert held["prose"] >= 20 and held["code"] >= 5


def test_sources(records: list[dict]) -> None:
    for rec in records:
        src = rec["source"]
        if src == "original (CC0)":
            continue
        m = CPYTHON_SRC_RE.match(src)
        assert m, (rec["id"], src)
        assert rec["kind"] == "code" and rec["domain"] == "python", rec["id"]
        start, end = int(m.group(1)), int(m.group(2))
        assert end - start + 1 == rec["text"].count("\n") + 1, rec["id"]
    assert (CORPUS_DIR / "LICENSE-PSF.txt").is_file()


def test_readme_sha256(raw: bytes) -> None:
    digest = hashlib.sha256(raw).hexdigest()
    readme = README.read_text(encoding="utf-8")
    found = set(re.findall(r"sha256[^0-9a-f]{0,40}([0-9a-f]{64})", readme))
    assert found == {digest}, f"README sha256 {found} != file {digest}"


def _shingles(text: str) -> frozenset:
    words = re.findall(r"\w+", text.lower())
    return frozenset(tuple(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))


def test_no_near_duplicates(records: list[dict]) -> None:
    sh = [(r["id"], _shingles(r["text"])) for r in records]
    worst = (0.0, None, None)
    for i in range(len(sh)):
        a_id, a = sh[i]
        assert a, a_id
        for j in range(i + 1, len(sh)):
            b_id, b = sh[j]
            inter = len(a & b)
            if not inter:
                continue
            jac = inter / len(a | b)
            # containment catches a short text copied inside a longer one
            cont = inter / min(len(a), len(b))
            score = max(jac, cont)
            if score > worst[0]:
                worst = (score, a_id, b_id)
    assert worst[0] < MAX_JACCARD, worst


def test_rebuild_matches(raw: bytes) -> None:
    """The committed jsonl is exactly what build_corpus.py produces from src/ + stdlib."""
    spec = importlib.util.spec_from_file_location("build_corpus", CORPUS_DIR / "build_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    stdlib = os.environ.get("LMCLAIMS_CPYTHON_STDLIB", mod.DEFAULT_STDLIB)
    if not Path(stdlib, "json", "decoder.py").is_file():
        if sys.version_info[:3] != (3, 11, 7):
            pytest.skip("CPython 3.11.7 stdlib not available to re-extract code excerpts")
        stdlib = os.path.dirname(os.__file__)
    assert mod.build(stdlib) == raw


def test_user_plain_text_and_jsonl_corpora(tmp_path):
    """``--claims-corpus``: plain text (blocks or lines) and minimal JSONL; sha256 of the file's bytes."""
    import hashlib
    import json

    from lmclaims.corpus import load_corpus

    blocks = tmp_path / "mine.txt"
    blocks.write_text("first text,\nstill the first\n\nsecond text\n  \nthird\n")
    c = load_corpus(blocks)
    assert c.texts == ("first text,\nstill the first", "second text", "third")
    assert c.ids == ("mine-0001", "mine-0002", "mine-0003") and set(c.splits) == {"eval"}
    assert c.sha256 == hashlib.sha256(blocks.read_bytes()).hexdigest() and c.origin == str(blocks)
    lines = tmp_path / "lines.txt"
    lines.write_text("one\ntwo\nthree\n")
    assert load_corpus(lines).texts == ("one", "two", "three")
    jl = tmp_path / "mine.jsonl"
    jl.write_text("\n".join(json.dumps({"id": f"x{i}", "text": f"text {i}"}) for i in range(3)) + "\n")
    c = load_corpus(jl)
    assert c.ids == ("x0", "x1", "x2") and set(c.splits) == {"eval"} and set(c.kinds) == {"prose"}
    assert len(c.view(split="eval")) == 3
