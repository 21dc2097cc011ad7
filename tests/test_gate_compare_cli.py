"""``python -m lmclaims compare`` names both runs and survives a closed pipe; merge refuses partial shards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lmclaims.__main__ import main

SAMPLE = Path(__file__).parent / "fixtures_report" / "sample_claims.json"


def test_compare_names_both_runs(tmp_path, capsys):
    old = json.loads(SAMPLE.read_text())
    new = {**old, "created": "2026-12-07T00:00:00+00:00", "git": {"commit": "f" * 40, "dirty": True}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    assert main(["compare", str(tmp_path / "old.json"), str(tmp_path / "new.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"old: {tmp_path / 'old.json'} (created {old.get('created')}, commit ")
    assert out[1] == f"new: {tmp_path / 'new.json'} (created 2026-12-07T00:00:00+00:00, commit {'f' * 12} dirty)"


def test_compare_survives_a_closed_pipe(tmp_path):
    big = json.loads(SAMPLE.read_text())
    template = big["verdicts"][0]
    big["verdicts"] = [{**template, "key": f"k{i}", "status": "supported"} for i in range(3000)]
    changed = {**big, "verdicts": [{**v, "status": "refuted"} for v in big["verdicts"]]}
    (tmp_path / "a.json").write_text(json.dumps(big))
    (tmp_path / "b.json").write_text(json.dumps(changed))
    proc = subprocess.run(f"{sys.executable} -m lmclaims compare a.json b.json | head -1", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("old: a.json")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_merge_refuses_an_incomplete_shard():
    from lmclaims.merge import MergeError, merge_reports
    doc = {"schema_version": 1, "correction": "holm", "seed": 1, "profile": {"confidence_level": 0.95},
           "verdicts": []}
    with pytest.raises(MergeError, match="incomplete"):
        merge_reports([doc, {**doc, "complete": False, "incomplete_reason": "interrupted"}])
    with pytest.raises(MergeError, match="settings"):
        merge_reports([{**doc, "settings": {"max_tokens": 128}}, {**doc, "settings": {"max_tokens": 64}}])
