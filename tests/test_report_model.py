"""Pure parts of the report: matrix placement, verdict comparison, formatting."""

from __future__ import annotations

import pytest

from lmclaims.report.compare import VerdictSide, changes_from_entries, compare_reports
from lmclaims.report.format import fmt_ci, fmt_count, fmt_num, fmt_p, unique_slugs
from lmclaims.report.matrix import PANEL, build_matrix, column_for_test


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
                verdict(models=("m1", "m2"), status="inconclusive"), verdict(claim="b", variant="as-published")]
    tests = [{"nodeid": "t::x[m3]", "outcome": "skipped", "claim_id": "c", "variant": "corrected"},
             {"nodeid": "t::y", "outcome": "failed", "claim_id": "b", "variant": "corrected"},
             {"nodeid": "t::z[m1]", "outcome": "passed", "claim_id": "c", "verdict_keys": ["k"]}]
    m = build_matrix(verdicts, tests, declared_models=["m3", "m1"], claim_order=["b", "c"], anchors={})
    assert m.columns == ["m3", "m1", "m2", PANEL]
    assert [(r.claim_id, r.variant) for r in m.rows] == [("b", "as-published"), ("b", "corrected"), ("c", "corrected")]
    c = m.rows[2].cells
    assert c[0].items() == [("skipped", 1)]
    assert c[1].items() == [("supported", 1), ("refuted", 1)] and c[1].total == 2
    assert c[3].items() == [("inconclusive", 1)]
    assert m.rows[1].cells[3].items() == [("error", 1)]


def test_matrix_drops_unused_declared_models():
    m = build_matrix([verdict()], [], declared_models=["unused", "m1"], claim_order=[], anchors={})
    assert m.columns == ["m1"]


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
