"""``python -m lmclaims report|compare`` (the ``main(argv)`` entry point and one real subprocess)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lmclaims.__main__ import main

SAMPLE = Path(__file__).parent / "fixtures_report" / "sample_claims.json"


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    path = tmp_path / "claims.json"
    path.write_text(SAMPLE.read_text())
    return path


def write(path: Path, report: dict) -> Path:
    path.write_text(json.dumps(report))
    return path


def test_report_default_output_next_to_json(sample_copy, capsys):
    assert main(["report", str(sample_copy)]) == 0
    out = sample_copy.with_suffix(".html")
    assert 'id="claims-matrix"' in out.read_text()
    assert f"wrote {out}" in capsys.readouterr().out


def test_report_explicit_output(sample_copy, tmp_path):
    out = tmp_path / "elsewhere" / "page.html"
    assert main(["report", str(sample_copy), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_report_bad_input_exit_2(tmp_path, capsys, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["report", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert not bad.with_suffix(".html").exists()


def test_compare_identical_exit_0(sample_copy, capsys):
    assert main(["compare", str(sample_copy), str(sample_copy)]) == 0
    assert "10 verdict keys: 0 status, 0 estimate, 0 added, 0 removed, 10 unchanged" in capsys.readouterr().out


def test_compare_status_change_exit_1(sample_copy, tmp_path, capsys):
    old = json.loads(sample_copy.read_text())
    new = copy.deepcopy(old)
    changed = new["verdicts"][0]
    changed["status"] = "refuted"
    changed["evidence"].update(estimate=0.9, confidence_interval=[0.85, 0.95])
    new["verdicts"][1]["evidence"]["estimate"] += 0.5          # estimate-only change
    new["verdicts"].pop()                                       # removed
    assert main(["compare", str(sample_copy), str(write(tmp_path / "new.json", new))]) == 1
    out = capsys.readouterr().out
    old_ev = old["verdicts"][0]["evidence"]
    assert (f"{changed['key']}: supported \u2192 refuted; estimate {old_ev['estimate']:.4g} "
            f"[{old_ev['confidence_interval'][0]:.4g}, {old_ev['confidence_interval'][1]:.4g}] \u2192 0.9 [0.85, 0.95]") in out
    assert "status changed (1):" in out and "estimate or CI changed (1):" in out and "only in OLD (1):" in out


def test_compare_added_or_removed_only_exit_0(sample_copy, tmp_path):
    new = json.loads(sample_copy.read_text())
    new["verdicts"] = new["verdicts"][:-3]
    assert main(["compare", str(sample_copy), str(write(tmp_path / "new.json", new))]) == 0


def test_compare_with_a_tolerance(sample_copy, tmp_path, capsys):
    """--rtol: a move within it is unchanged; one beyond it, or a verdict on one side only, exits 1."""
    new = json.loads(sample_copy.read_text())
    ev = new["verdicts"][1]["evidence"]
    ev["estimate"] = ev["estimate"] * (1 + 1e-5)
    moved = write(tmp_path / "moved.json", new)
    assert main(["compare", str(sample_copy), str(moved)]) == 0                     # no tolerance: status only
    assert "1 estimate" in capsys.readouterr().out
    assert main(["compare", str(sample_copy), str(moved), "--rtol", "1e-3"]) == 0
    assert "0 estimate" in capsys.readouterr().out
    assert main(["compare", str(sample_copy), str(moved), "--rtol", "1e-7"]) == 1
    new["verdicts"] = new["verdicts"][:-1]
    assert main(["compare", str(sample_copy), str(write(tmp_path / "fewer.json", new)), "--rtol", "1e-3"]) == 1


def test_compare_reads_a_verdict_baseline(sample_copy, tmp_path, capsys):
    """The old side may be a baseline file ({key: {status, estimate, ci}}), as claims/baseline.json is."""
    doc = json.loads(sample_copy.read_text())
    base = {"verdicts": {v["key"]: {"status": v["status"], "estimate": v["evidence"]["estimate"],
                                    "ci": v["evidence"]["confidence_interval"]} for v in doc["verdicts"]}}
    path = write(tmp_path / "baseline.json", base)
    assert main(["compare", str(path), str(sample_copy), "--rtol", "1e-9"]) == 0
    assert "0 added, 0 removed, 10 unchanged" in capsys.readouterr().out
    first = next(iter(base["verdicts"].values()))
    first["status"] = "refuted" if first["status"] != "refuted" else "supported"
    assert main(["compare", str(write(path, base)), str(sample_copy)]) == 1


def test_compare_missing_file_exit_2(sample_copy, tmp_path, capsys):
    assert main(["compare", str(sample_copy), str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_merge_of_an_unreadable_shard_is_a_usage_error(capsys, tmp_path):
    assert main(["merge", str(tmp_path / "a.json"), "-o", str(tmp_path / "m.json")]) == 2
    assert "a.json" in capsys.readouterr().err


def test_python_dash_m_runs(sample_copy):
    proc = subprocess.run([sys.executable, "-m", "lmclaims", "compare", str(sample_copy), str(sample_copy)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "10 unchanged" in proc.stdout
