"""Corpus files with duplicate ids, lone surrogates or broken lines are rejected with a clear error."""

from __future__ import annotations

import json

import pytest

from lmclaims.corpus import CorpusError, corpus_from_texts, load_corpus


def _write(tmp_path, rows, raw_lines=()):
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join([json.dumps(r) for r in rows] + list(raw_lines)) + "\n", encoding="utf-8")
    return p


def test_duplicate_ids_are_rejected(tmp_path):
    p = _write(tmp_path, [{"id": "a", "text": "one"}, {"id": "b", "text": "two"}, {"id": "a", "text": "three"}])
    with pytest.raises(CorpusError, match=r"duplicate id 'a' \(records 1 and 3\)"):
        load_corpus(p)


def test_lone_surrogate_escape_is_rejected(tmp_path):
    p = _write(tmp_path, [{"id": "a", "text": "fine"}], ['{"id": "b", "text": "bad \\ud800 here"}'])
    assert "\ud800" in json.loads(p.read_text().splitlines()[1])["text"]     # the escape decodes to a surrogate
    with pytest.raises(CorpusError, match=r"text 'b' contains a lone surrogate U\+D800 at character 4"):
        load_corpus(p)


def test_inline_texts_with_a_lone_surrogate_are_rejected():
    with pytest.raises(CorpusError, match="lone surrogate U\\+DC00"):
        corpus_from_texts(["ok", "x\udc00"])


def test_a_line_that_is_not_json_names_the_line(tmp_path):
    p = _write(tmp_path, [{"id": "a", "text": "one"}], ["{not json"])
    with pytest.raises(CorpusError, match="line 2 is not JSON"):
        load_corpus(p)


def test_missing_id_is_rejected(tmp_path):
    with pytest.raises(CorpusError, match="record 2 has no string 'id'"):
        load_corpus(_write(tmp_path, [{"id": "a", "text": "one"}, {"text": "two"}]))


def test_valid_non_ascii_text_is_accepted(tmp_path):
    c = load_corpus(_write(tmp_path, [{"id": "a", "text": "Grüße 😀 ∑"}, {"id": "b", "text": "plain"}]))
    assert c.texts[0] == "Grüße 😀 ∑" and len(c) == 2
