"""Pure parts of the report: matrix placement, verdict comparison, formatting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmclaims.report.compare import VerdictSide, changes_from_entries, compare_reports
from lmclaims.report.format import fmt_ci, fmt_count, fmt_num, fmt_p, unique_slugs
from lmclaims.report.findings import command_for, run_flags
from lmclaims.report.format import clean_text
from lmclaims.report.matrix import PANEL, build_matrix, column_for_test, who_of
from lmclaims.report.papers import paper_of
from lmclaims.report.scales import choose_scale
from lmclaims.report.summary import summarize


def verdict(claim="c", variant="corrected", models=("m1",), status="supported", label="", est=1.0, ci=(0.9, 1.1)):
    key = f"{claim}@{variant}:{','.join(models) or '-'}" + (f"[{label}]" if label else "")
    return {"key": key, "claim_id": claim, "variant": variant, "models": list(models), "status": status,
            "label": label, "evidence": {"estimate": est, "confidence_interval": list(ci)}}


@pytest.mark.parametrize("nodeid, column", [
    ("claims/t.py::test_g[smollm2-135m]", "smollm2-135m"),
    ("claims/t.py::test_g[smollm2-135m-corrected]", "smollm2-135m"),
    ("claims/t.py::test_g[corrected-qwen2.5-0.5b]", "qwen2.5-0.5b"),
    ("claims/t.py::test_g[x-smollm2-135m-y]", "smollm2-135m"),
    ("claims/t.py::test_g[smollm2]", PANEL),                    # not a known model name
    ("claims/t.py::test_g", PANEL),
])
def test_column_for_test(nodeid, column):
    assert column_for_test(nodeid, ["smollm2-135m", "qwen2.5-0.5b", "smollm2-135m-instruct-not-this"]) == column


def test_matrix_columns_rows_and_counts():
    verdicts = [verdict(label="l1"), verdict(label="l2", status="refuted"), verdict(models=("m2",)),
                verdict(models=("m1", "m3"), status="inconclusive"), verdict(claim="b", variant="as-published")]
    tests = [{"nodeid": "t::x[m3]", "outcome": "skipped", "claim_id": "c", "variant": "corrected"},
             {"nodeid": "t::y", "outcome": "failed", "claim_id": "b", "variant": "corrected"},
             {"nodeid": "t::z[m1]", "outcome": "passed", "claim_id": "c", "verdict_keys": ["k"]}]
    m = build_matrix(verdicts, tests, declared_models=["m3", "m1"], claim_order=["b", "c"], anchors={})
    assert m.columns == ["m3", "m1", PANEL]               # m2 is not in the panel: a panel-level verdict
    assert [(r.claim_id, r.variant) for r in m.rows] == [("b", "as-published"), ("b", "corrected"), ("c", "corrected")]
    c = m.rows[2].cells
    assert c[0].items() == [("skipped", 1)]
    assert c[1].items() == [("supported", 1), ("refuted", 1)] and c[1].total == 2
    assert c[2].groups() == [("m2", [("supported", 1)]), ("panel", [("inconclusive", 1)])]
    assert not m.rows[2].panel_only
    assert m.rows[1].cells[2].groups() == [("not run", [("error", 1)])] and m.rows[1].panel_only


def test_panel_only_row_and_who_labels():
    vs = [verdict(models=("a", "b", "c")), verdict(models=("paper",), label="x"), verdict(models=())]
    m = build_matrix(vs, [], declared_models=["a", "b", "c"], claim_order=[], anchors={})
    assert m.columns == [PANEL] and m.rows[0].panel_only
    assert [w for w, _ in m.rows[0].cells[0].groups()] == ["panel", "paper", "panel-level"]
    assert who_of(["a", "b"], ["a", "b", "c"]) == "a, b" and who_of(list("xyzw"), ["a"]) == "4 models"


def test_key_verdict_is_nearest_the_threshold():
    vs = [{"label": f"L{i}", "status": "refuted", "reason": f"r{i}",
           "evidence": {"statistic": "d", "estimate": e, "confidence_interval": [e - 1, e + 1],
                        "extra": {"threshold": 0.0}}} for i, e in enumerate([50.0, 13.6, 2.5e6])]
    s = summarize(vs)
    assert s["key"] == "L1: d = 13.6 [12.6, 14.6] (nearest the threshold 0 of 3)" and s["why"] == "r1"
    assert s["counts"] == [("refuted", 3)]
    exact = {"status": "refuted", "evidence": {"statistic": "ratio", "estimate": 634.19,
             "confidence_interval": [634.19, 634.19], "confidence_level": 1.0, "extra": {}}}
    assert summarize([exact])["key"] == "ratio = 634 (exact)"


@pytest.mark.parametrize("values, scale", [
    ([10, 20, 2.5e6], "log"), ([-3, 15, 2.5e6], "symlog"), ([0.9, 1.0, 1.1], "linear"), ([], "linear")])
def test_axis_scale_follows_the_span(values, scale):
    assert choose_scale(np.array(values, dtype=float))[0] == scale


def test_clean_text_strips_controls_and_bidi():
    assert clean_text("a\u202eb\x00c\u2066d\ud800e\tf\ng") == "a\ufffdb\ufffdc\ufffdd\ufffde\tf\ng"


def test_papers_registry_covers_every_seed():
    seeds = sorted(p.name for p in Path("/work/shared/seeds").glob("*.txt")) or [
        "000_1a9244730f70cf80.txt", "001_10ab4f3bf375c864.txt", "002_22eb55be17f69761.txt",
        "003_172f46b4d8ad4983.txt", "004_846e3e4f4ae13819.txt"]
    for seed in seeds:
        paper = paper_of(seed)
        assert not paper.title.startswith("Unregistered"), seed
    assert paper_of("000_1a9244730f70cf80.txt") == paper_of("001_10ab4f3bf375c864.txt")   # same preprint
    assert paper_of("003_172f46b4d8ad4983.txt").link == "https://arxiv.org/abs/2603.19348"


def test_skip_command_adds_the_options_the_reason_names():
    flags = run_flags([{"command": "pytest 'claims/t.py::x[m]' --claims-seed 1 --claims-panel offline"}])
    assert flags == ["--claims-seed", "1", "--claims-panel", "offline"]
    assert command_for("claims/t.py::y", "model not in panel 'offline' (use --claims-panel full)", flags) == \
        "pytest claims/t.py::y --claims-seed 1 --claims-panel full"
    assert command_for("t.py::z", "slow: pass --claims-runslow", []) == "pytest t.py::z --claims-runslow"


def test_compare_reports_kinds():
    old = {"verdicts": [verdict(models=("a",)), verdict(models=("b",)), verdict(models=("c",)),
                        verdict(models=("gone",))]}
    new = {"verdicts": [verdict(models=("a",), status="refuted"), verdict(models=("b",), est=1.05),
                        verdict(models=("c",)), verdict(models=("fresh",))]}
    kinds = {c.key: c.kind for c in compare_reports(old, new)}
    assert kinds == {"c@corrected:a": "status", "c@corrected:b": "estimate", "c@corrected:c": "unchanged",
                     "c@corrected:fresh": "added", "c@corrected:gone": "removed"}
    line = next(c for c in compare_reports(old, new) if c.kind == "status").describe()
    assert line == "c@corrected:a: supported \u2192 refuted; estimate 1 [0.9, 1.1] \u2192 1 [0.9, 1.1]"


def test_verdict_side_accepts_every_shape():
    assert VerdictSide.from_json(None) is None
    assert VerdictSide.from_json("Refuted").status == "refuted"
    side = VerdictSide.from_json({"status": "supported", "estimate": 2, "confidence_interval": [1, None]})
    assert (side.estimate, side.ci) == (2.0, (1.0, None))
    assert [c.kind for c in changes_from_entries([{"key": "k", "old": "supported", "new": "supported"}, 3])] == ["unchanged"]


def test_formatting():
    assert (fmt_num(None), fmt_num(3), fmt_num(1.23456789), fmt_num(float("nan"))) == ("\u2014", "3", "1.235", "\u2014")
    assert (fmt_p(1e-9), fmt_p(0.01234), fmt_p(None)) == ("< 1e-4", "0.0123", "\u2014")
    assert (fmt_ci([0.1, None]), fmt_ci(None), fmt_ci([None, None])) == ("[0.1, \u2014]", "\u2014", "\u2014")
    assert (fmt_count(134515008), fmt_count(7e9), fmt_count(512)) == ("134.5 M", "7 B", "512")
    assert unique_slugs(["A b", "a-b", "<x>", ""]) == {"A b": "claim-a-b", "a-b": "claim-a-b-2",
                                                       "<x>": "claim-x", "": "claim-unnamed"}
