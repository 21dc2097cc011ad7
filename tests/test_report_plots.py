"""Plot specs → inline SVG (matplotlib) or table data; forest plots; SVG hygiene."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import matplotlib.pyplot as plt
import pytest

from lmclaims.report.forest import layer_profile_svg
from lmclaims.report.plots import forest_svg, render_plot

SVG_NS = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    return [el.text for el in ET.fromstring(svg).iter(f"{SVG_NS}text") if el.text]


PROFILE = {"kind": "profile", "title": "gain per layer", "x": [1, 2, 3], "y": [1.1, None, 0.9],
           "lo": [1.0, None, 0.8], "hi": [1.2, None, 1.0], "xlabel": "block", "ylabel": "g", "reference": 1.0}


@pytest.mark.parametrize("spec", [
    PROFILE,
    {"kind": "profile", "title": "two models", "reference": None, "series": {
        "a": {"x": [0, 1], "y": [1, 2], "lo": [0.5, 1.5], "hi": [1.5, 2.5]}, "b": {"x": [0, 1, 2], "y": [2, 1, 3]}}},
    {"kind": "bars", "title": "ratios", "categories": ["m1", "m2"], "series": {"paper": [1, 2], "ours": [1.5, None]},
     "lo": {"ours": [1.2, None]}, "hi": {"ours": [1.9, None]}, "ylabel": "ratio"},
    {"kind": "curves", "title": "loss", "series": {"s0": {"x": [0, 1, 2], "y": [3, 2, 1]}, "s1": {"y": [3, 2.5, 2]}}},
], ids=["profile", "profile-series", "bars", "curves"])
def test_image_kinds_make_clean_svg(spec):
    before = plt.get_fignums()
    p = render_plot(spec, id_prefix="fig7-")
    assert p.error is None and p.svg
    assert p.svg.startswith("<svg ") and p.svg.endswith("</svg>")
    assert "<?xml" not in p.svg and "DOCTYPE" not in p.svg and "<metadata" not in p.svg
    assert spec["title"] in texts(p.svg)                      # text stays text (svg.fonttype none)
    ids = re.findall(r'\bid="([^"]+)"', p.svg)
    assert ids and all(i.startswith("fig7-") for i in ids)
    for ref in re.findall(r'href="#([^"]+)"|url\(#([^)]+)\)', p.svg):
        assert (ref[0] or ref[1]) in ids                      # every reference points at a prefixed id
    assert plt.get_fignums() == before                        # figure closed


def test_profile_reference_line_in_legend():
    assert "reference = 1" in texts(render_plot(PROFILE, id_prefix="p-").svg)


@pytest.mark.parametrize("values, scale", [([1, 10, 100], "(log scale)"), ([-5, 0, 100], "(symlog scale")])
@pytest.mark.parametrize("kind", ["bars", "curves", "profile"])
def test_logy_says_which_scale(kind, values, scale):
    if kind == "bars":
        spec = {"kind": kind, "categories": ["a", "b", "c"], "series": {"s": values}}
    elif kind == "curves":
        spec = {"kind": kind, "series": {"s": {"x": [0, 1, 2], "y": values}}}
    else:
        spec = {"kind": kind, "x": [0, 1, 2], "y": values}
    spec.update(logy=True, ylabel="value")
    p = render_plot(spec, id_prefix="p-")
    assert p.error is None
    assert any(t.startswith("value " + scale) for t in texts(p.svg))
    assert not [t for t in texts(p.svg) if "mathdefault" in t or "$" in t]    # tick labels typeset


def test_table_kind_is_data_not_image():
    p = render_plot({"kind": "table", "title": "paper vs ours", "columns": ["model", "G"],
                     "rows": [["a", 1.23456789], ["b", None]]}, id_prefix="t-")
    assert p.svg is None and p.error is None
    assert p.table == {"columns": ["model", "G"], "rows": [["a", "1.235"], ["b", "\u2014"]]}


@pytest.mark.parametrize("spec, message", [
    ("not a dict", "not an object"),
    ({"kind": "pie"}, "unsupported plot kind 'pie'"),
    ({"kind": "profile", "x": [1, 2], "y": [1]}, "x has 2 values, y has 1"),
    ({"kind": "bars", "categories": ["a"], "series": {"s": [1, 2]}}, "2 values for 1 categories"),
    ({"kind": "curves"}, "non-empty 'series'"),
])
def test_bad_specs_become_errors_not_exceptions(spec, message):
    before = plt.get_fignums()
    p = render_plot(spec, id_prefix="e-")
    assert p.svg is None and message in p.error
    assert plt.get_fignums() == before


def test_dollar_signs_are_not_mathtext():
    p = render_plot({"kind": "curves", "title": "cost $5 and $x_1$ and a lone $",
                     "series": {"a": {"y": [1, 2]}}}, id_prefix="d-")
    assert p.error is None and "cost $5 and $x_1$ and a lone $" in texts(p.svg)


def test_forest_plot_rows_and_status_legend():
    rows = [{"label": "m1", "estimate": 1.02, "lo": 1.01, "hi": 1.03, "status": "supported"},
            {"label": "m2 \u00b7 layer 3", "estimate": 0.97, "lo": 0.95, "hi": 0.99, "status": "refuted"},
            {"label": "m3", "estimate": None, "lo": None, "hi": None, "status": "inconclusive"}]
    svg = forest_svg(rows, title="G by model", xlabel="G", id_prefix="f-", reference=1.0)
    t = texts(svg)
    assert {"m1", "m2 \u00b7 layer 3", "m3", "supported", "refuted", "G by model", "threshold 1"} <= set(t)
    assert "inconclusive" not in t                             # no marker drawn for a missing estimate


def test_forest_plot_none_when_nothing_to_draw():
    assert forest_svg([], title="t", xlabel="x", id_prefix="f-") is None
    assert forest_svg([{"label": "a", "estimate": None}], title="t", xlabel="x", id_prefix="f-") is None


def test_forest_draws_margin_band_exact_point_and_published_value():
    rows = [{"label": "paper", "estimate": 634.19, "lo": 634.19, "hi": 634.19, "status": "refuted", "exact": True},
            {"label": "ours", "estimate": 2.0, "lo": 1.0, "hi": 3.0, "status": "inconclusive", "published": 2.5e6}]
    svg = forest_svg(rows, title="t", xlabel="ratio", id_prefix="f-", reference=1e7, margin=None)
    t = texts(svg)
    assert "paper (exact)" in t and "published" in t and "threshold 1e+07" in t
    assert "ratio (log scale)" in t                                  # 2 … 1e7 spans orders of magnitude
    with_interval = forest_svg([dict(rows[0], exact=False, lo=600.0, hi=700.0), rows[1]], title="t",
                               xlabel="ratio", id_prefix="f-", reference=1e7)
    assert with_interval.count("<path") == svg.count("<path") + 3   # whisker + 2 caps only for a real interval
    band = forest_svg(rows[1:], title="t", xlabel="x", id_prefix="g-", reference=0.0, margin=0.5)
    assert "margin \u00b10.5" in texts(band)


def test_layer_profile_of_verdicts_uses_symlog_for_a_huge_span():
    import numpy as np
    est = np.r_[np.linspace(10, 60, 29), 2.5e6]
    rows = [{"label": f"L{i}", "layer": i, "estimate": e, "lo": e * 0.8, "hi": e * 1.2, "status": "refuted"}
            for i, e in enumerate(est)]
    svg = layer_profile_svg(rows, title="scan", ylabel="dPPL %", id_prefix="s-", reference=0.0)
    t = texts(svg)
    assert "dPPL % (symlog scale)" in t and "layer" in t and "CI band" in t and "refuted" in t
    linear = layer_profile_svg(rows[:5], title="scan", ylabel="dPPL %", id_prefix="s-", reference=0.0)
    assert "dPPL %" in texts(linear)                                 # 10 … 60: stays linear


def test_bars_over_many_layers_become_lines_with_bands():
    cats = [f"L{i}" for i in range(30)]
    spec = {"kind": "bars", "title": "dPPL per layer", "categories": cats, "series": {"skip": list(range(1, 31))},
            "lo": {"skip": [x - 0.5 for x in range(1, 31)]}, "hi": {"skip": [x + 0.5 for x in range(1, 31)]},
            "ylabel": "dPPL %", "logy": True}
    svg = render_plot(spec, id_prefix="b-").svg
    assert "layer" in texts(svg) and "L7" not in texts(svg)          # numeric layer axis, not 30 tick labels
    as_bars = render_plot(dict(spec, categories=[f"c{i}" for i in range(30)]), id_prefix="c-").svg
    assert as_bars.count("<path") > svg.count("<path") + 25           # 30 bars + error bars vs one line + band


def test_values_spanning_orders_of_magnitude_get_a_log_axis_without_logy():
    p = render_plot({"kind": "curves", "ylabel": "v", "series": {"s": {"x": [0, 1, 2], "y": [1, 2, 5e5]}}},
                    id_prefix="a-")
    assert "v (log scale)" in texts(p.svg)
