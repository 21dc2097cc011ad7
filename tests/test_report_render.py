"""The HTML report: structure, robustness to partial JSON, self-containment and size."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from lmclaims.report.render import render_html, render_string

SAMPLE = Path(__file__).parent / "fixtures_report" / "sample_claims.json"


@pytest.fixture(scope="module")
def sample() -> dict:
    return json.loads(SAMPLE.read_text())


@pytest.fixture(scope="module")
def sample_html(sample) -> str:
    return render_string(sample)


class Elements(HTMLParser):
    """Collects (tag, attrs) of every start tag, and text by the id of the innermost table."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if a.get("id")]


def matrix_rows(html: str) -> list[str]:
    table = re.search(r'<table id="claims-matrix".*?</table>', html, re.S).group(0)
    body = table.split("<tbody>", 1)[1]
    return re.findall(r"<tr>.*?</tr>", body, re.S)


def test_writes_one_file(tmp_path, sample):
    out = tmp_path / "nested" / "claims.html"
    render_html(sample, out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["claims.html"]   # no temp files left


def test_matrix_has_one_row_per_claim_variant(sample, sample_html):
    expected = {(v["claim_id"], v["variant"]) for v in sample["verdicts"]}
    expected |= {(t["claim_id"], t["variant"]) for t in sample["tests"] if t["outcome"] == "skipped"}
    rows = matrix_rows(sample_html)
    assert len(rows) == len(expected) == 6
    header = re.search(r'<table id="claims-matrix".*?</thead>', sample_html, re.S).group(0)
    assert re.findall(r'<th scope="col">([^<]*)</th>', header) == [
        "claim", "variant", "smollm2-135m", "qwen2.5-0.5b", "pythia-70m", "panel"]


def test_matrix_cells(sample_html):
    rows = {re.search(r'<a href="#[^"]+">([^<]+)</a>.*?<td class="variant">([^<]+)', r, re.S).groups(): r
            for r in matrix_rows(sample_html)}
    kleiber = rows[("000-kleiber-bound", "corrected")]
    assert "1 refuted" in kleiber and "3 inconclusive" in kleiber            # counts per label
    gain = rows[("000-residual-gain-above-one", "corrected")]
    assert re.findall(r"badge-(\w+)", gain) == ["supported", "inconclusive", "skipped"]
    panel = rows[("001-depth-dampening", "corrected")]
    assert re.findall(r"badge-(\w+)", panel) == ["inconclusive"]
    # declared variant order wins over verdict order
    order = [k for k in rows if k[0] == "000-residual-gain-above-one"]
    assert [v for _, v in order] == ["as-published", "corrected"]


def test_badges_carry_words_not_only_colour(sample_html):
    for word in ("supported", "refuted", "inconclusive", "skipped"):
        assert re.search(rf'<span class="badge badge-{word}">[^<]*\b{word}</span>', sample_html)


def test_claim_sections(sample, sample_html):
    ids = Elements(sample_html).ids()
    assert len(ids) == len(set(ids)), "element ids must be unique (SVG ids are prefixed)"
    for claim_id, claim in sample["claims"].items():
        anchor = "claim-" + claim_id.lower()
        assert anchor in ids
        section = sample_html.split(f'id="{anchor}"', 1)[1].split('<section class="claim"', 1)[0]
        assert claim["source"] in section
        assert "&ldquo;" + str(escape(claim["statement"])) in section
    gain = sample_html.split('id="claim-000-residual-gain-above-one"', 1)[1].split('<section', 1)[0]
    assert gain.count('class="plot-figure forest"') == 2               # one forest per variant
    assert "Decision rule:" in gain and "wholly above 1 + 0.005" in gain
    assert "pytest &#39;claims/test_000_thermo.py::test_residual_gain[smollm2-135m-corrected]&#39; --panel offline" in gain
    assert "1.031" in gain and "[1.021, 1.043]" in gain and "0.006" in gain   # estimate, CI, p adjusted


def test_verdict_reason_shown_under_status(sample):
    report = copy.deepcopy(sample)
    report["verdicts"][0]["reason"] = "the 95% CI [1.1, 1.12] lies wholly above 1.005"
    assert '<div class="why">the 95% CI [1.1, 1.12] lies wholly above 1.005</div>' in render_string(report)


def test_plot_kinds_render(sample_html):
    forests, spec_plots = 5, 4            # one forest per variant with verdicts; 2 profiles, bars, curves
    assert sample_html.count("<svg ") == forests + spec_plots
    assert "(symlog scale" in sample_html            # bars with a negative value under logy
    assert "(log scale)" in sample_html              # curves, all positive
    table = re.search(r'<table class="data">.*?</table>', sample_html, re.S).group(0)
    assert "paper G" in table and "0.994" in table and "\u2014" in table    # None shown as a dash


def test_header_metadata_and_caveats(sample_html):
    for text in ("8ce18ee1f0c0ffee (uncommitted changes)", "name=dev, n_resamples=2000", "holm",
                 "offline", "float32", "2.13.0+cpu", "wiki-sample-256", "sha256:4f2a9c0e1b7d3a55",
                 "134.5 M", "5 min 12 s"):
        assert text in sample_html, text
    caveats = re.search(r'<div class="caveats" id="run-caveats">.*?</div>', sample_html, re.S).group(0)
    assert "dequantised GGUF" in caveats and "smollm2-135m, qwen2.5-0.5b" in caveats
    assert caveats.count("dequantised GGUF") == 1     # the same caveat is gathered once


def test_skipped_tests_listed_with_reason(sample_html):
    section = sample_html.split('<section id="not-run">', 1)[1]
    assert "test_residual_gain[pythia-70m-corrected]" in section
    assert "is not in panel &#39;offline&#39; (use --panel full)" in section
    assert "slow: pass --runslow" in section


def test_changes_section(sample_html):
    section = sample_html.split('<section id="changes">', 1)[1].split("</section>", 1)[0]
    assert "1 status change; 3 verdicts listed" in section
    assert section.count('class="changed"') == 1
    assert "removed" in section and "unchanged" in section


def test_changes_section_from_plugin_compare_entries(sample):
    """The shape ``--claims-compare`` writes: old_status/new_status/old_estimate/new_estimate."""
    report = dict(sample, compare=[
        {"key": "a@corrected:m", "change": "changed", "old_status": "supported", "new_status": "refuted",
         "old_estimate": 1.02, "new_estimate": 0.97},
        {"key": "b@corrected:m", "change": "new", "old_status": None, "new_status": "inconclusive",
         "old_estimate": None, "new_estimate": 1.0}], baseline={"file": "base.json", "missing": ["x", "y"]})
    html = render_string(report)
    section = html.split('<section id="changes">', 1)[1].split("</section>", 1)[0]
    assert "1 status change; 2 verdicts listed" in section
    rows = re.findall(r"<tr class=.*?</tr>", section, re.S)
    assert re.findall(r"badge-(\w+)", rows[0]) == ["supported", "refuted"] and "1.02" in rows[0] and "0.97" in rows[0]
    assert "absent" in rows[1] and "added" in rows[1]
    assert "2 verdict(s) are not in the baseline file base.json" in html


def test_no_changes_section_without_compare(sample):
    report = {k: v for k, v in sample.items() if k != "compare"}
    assert 'id="changes"' not in render_string(report)


def test_self_contained_no_script_no_remote_resources(sample_html):
    tags = Elements(sample_html).tags
    assert not [t for t, _ in tags if t in {"script", "link", "img", "iframe", "object", "embed"}]
    for tag, attrs in tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:|//|javascript:)", value, re.I), (tag, attrs)
    assert "@import" not in sample_html and "url(http" not in sample_html
    assert "Content-Security-Policy" in sample_html


@pytest.mark.parametrize("report", [
    {}, None, {"schema_version": 1, "verdicts": [], "tests": []},
    {"verdicts": None, "tests": None, "models": None, "claims": None, "git": None, "run": None},
], ids=["empty", "none", "no-verdicts", "nulls"])
def test_empty_report_says_no_verdicts(tmp_path, report):
    render_html(report, tmp_path / "claims.html")
    html = (tmp_path / "claims.html").read_text()
    assert "No verdicts recorded." in html
    assert 'id="claims-matrix"' not in html


def test_partial_and_null_fields_do_not_crash():
    report = {
        "schema_version": 2, "models": {"m": None}, "claims": {"c": None}, "compare": [{}, {"key": "k"}],
        "tests": [{}, {"outcome": "failed", "claim_id": "c", "reason": "x" * 10_000}],
        "verdicts": [{}, {"claim_id": "c", "status": "weird", "models": "m", "evidence": None},
                     {"claim_id": "c", "status": "refuted", "evidence": {"estimate": None,
                      "confidence_interval": [None, None], "n": None}, "p_raw": None,
                      "plots": [None, {"kind": "nope"}, {"kind": "profile", "x": [1], "y": [1, 2]},
                                {"kind": "bars"}, {"kind": "table", "rows": [1, [None, 2.5]]}]}],
    }
    html = render_string(report)
    assert "schema_version 2" in html                          # a newer schema is flagged
    assert html.count("could not draw this plot") == 2
    assert "unsupported plot kind &#39;nope&#39;" in html
    assert "(cut; full text in claims.json)" in html            # long failure reasons are cut
    assert "badge-error" in html and "badge-unknown" in html


def test_report_stays_lean_without_bootstrap_distributions(sample):
    report = copy.deepcopy(sample)
    template = next(v for v in sample["verdicts"] if v["plots"] and v["plots"][0]["kind"] == "profile")
    report["verdicts"] = []
    for i in range(100):
        v = copy.deepcopy(template)
        v.update(models=[f"model-{i % 10}"], label=f"layer {i}", key=f"{v['key']}#{i}", claim_id=f"c{i // 20}")
        v["evidence"]["bootstrap_distribution"] = [0.123456789 + j * 1e-7 for j in range(2000)]
        v["plots"][0]["title"] = f"profile {i // 2}"     # 50 distinct plots (two labels share one)
        report["verdicts"].append(v)
    html = render_string(report)
    assert html.count("<svg ") == 50 + 5                # plots + one forest per claim
    assert len(html.encode()) < 3_000_000
    assert "0.123456789" not in html and "0.1234568" not in html
