"""Text from claims.json (model output, names, reasons, table cells, plot titles) is never markup."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lmclaims.report.papers import registry
from lmclaims.report.render import render_string

SAMPLE = Path(__file__).parent / "fixtures_report" / "sample_claims.json"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PAYLOAD = f"{SCRIPT}{IMG}"


class Dom(HTMLParser):
    """Start tags with attributes, and all text, as a browser's tokenizer would see them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def poisoned_report() -> dict:
    """The sample report with the payload in every kind of string the page shows."""
    report = json.loads(SAMPLE.read_text())
    bad_model = f"evil{PAYLOAD}"
    report["models"][bad_model] = {"fingerprint": PAYLOAD, "lab": PAYLOAD, "caveats": [PAYLOAD]}
    report["environment"]["torch"] = PAYLOAD
    report["profile"]["name"] = PAYLOAD
    report["corpus"]["name"] = PAYLOAD
    claim_id = f"999-{PAYLOAD}"
    report["claims"][claim_id] = {"source": PAYLOAD, "statement": f"model said: {PAYLOAD}",
                                  "paper": f"javascript:{PAYLOAD}", "quote": PAYLOAD,
                                  "variants": [PAYLOAD], "version": PAYLOAD}
    v = copy.deepcopy(report["verdicts"][-2])                         # the one with bars + table
    v.update(claim_id=claim_id, variant=PAYLOAD, models=[bad_model], label=PAYLOAD, rule=PAYLOAD,
             caveats=[PAYLOAD], command=f"pytest '{PAYLOAD}'", key=PAYLOAD, status=PAYLOAD)
    v["evidence"].update(statistic=PAYLOAD, unit=PAYLOAD, method=PAYLOAD, n=PAYLOAD)
    bars, table = v["plots"]
    bars.update(title=PAYLOAD, ylabel=PAYLOAD, categories=[PAYLOAD, "ok"],
                series={PAYLOAD: [1, 2], "ours": [3, 4]}, lo={}, hi={})
    table.update(title=PAYLOAD, columns=[PAYLOAD], rows=[[PAYLOAD, PAYLOAD]])
    v["plots"].append({"kind": "curves", "title": PAYLOAD, "xlabel": PAYLOAD,
                       "series": {PAYLOAD: {"x": [0, 1], "y": [2, 1]}}})
    v["plots"].append({"kind": PAYLOAD})
    report["verdicts"].append(v)
    report["tests"].append({"nodeid": f"claims/t.py::test[{PAYLOAD}]", "outcome": "skipped",
                            "claim_id": claim_id, "variant": PAYLOAD, "reason": PAYLOAD})
    report["compare"].append({"key": PAYLOAD, "old": PAYLOAD, "new": {"status": PAYLOAD}})
    return report


@pytest.fixture(scope="module")
def html() -> str:
    return render_string(poisoned_report())


def test_no_script_or_img_element_from_input(html):
    tags = [t for t, _ in Dom(html).tags]
    assert "script" not in tags
    assert "img" not in tags


def test_no_event_handler_attributes(html):
    for tag, attrs in Dom(html).tags:
        assert not [a for a in attrs if a.lower().startswith("on")], (tag, attrs)


def test_payload_is_shown_as_text(html):
    text = "".join(Dom(html).text)
    assert text.count(SCRIPT) >= 20                     # every field shows it, literally
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_ids_and_links_from_input_are_slugged(html):
    """Ids and in-page links are slugs; the only outside links are the paper registry's own."""
    registry_links = {p.get("link") for p in registry()["papers"].values()}
    for tag, attrs in Dom(html).tags:
        for name in ("id", "href"):
            if name in attrs and not (name == "href" and attrs[name] in registry_links):
                assert re.fullmatch(r"#?[A-Za-z0-9_.:-]+", attrs[name]), (tag, name, attrs[name])


BIDI_NUL = "ab\u202ecd\u2066ef\x00gh\x1bij\u200f"


def test_bidi_override_and_control_characters_never_reach_the_page():
    """Issue 13 item 9: a right-to-left override or NUL in any JSON text is replaced, in HTML and SVG."""
    report = json.loads(SAMPLE.read_text())
    v = report["verdicts"][0]
    v.update(label=BIDI_NUL, reason=BIDI_NUL, rule=BIDI_NUL, models=[f"m{BIDI_NUL}"])
    v["plots"][0]["title"] = BIDI_NUL
    report["claims"][v["claim_id"]]["statement"] = BIDI_NUL
    report["tests"].append({"nodeid": BIDI_NUL, "outcome": "skipped", "claim_id": v["claim_id"], "reason": BIDI_NUL})
    page = render_string(report)
    for ch in ("\u202e", "\u2066", "\x00", "\x1b", "\u200f"):
        assert ch not in page, repr(ch)
    assert page.count("ab\ufffdcd\ufffdef\ufffdgh\ufffdij\ufffd") >= 5    # shown, marked, not silently dropped


def test_svg_text_escaped_by_matplotlib(html):
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    with_payload = [s for s in svgs if "alert(1)" in s]
    assert len(with_payload) >= 3                         # forest labels, bars, curves
    for svg in with_payload:
        root = ET.fromstring(svg)                         # well-formed XML
        assert not [el for el in root.iter() if el.tag.rsplit("}", 1)[-1] in {"script", "image", "foreignObject"}]
        assert any(SCRIPT in (el.text or "") for el in root.iter())   # the payload is character data


def test_the_check_itself_would_catch_raw_markup():
    """Guard: the parser used above does see a script/img when the markup is not escaped."""
    tags = [t for t, _ in Dom(f"<p>{PAYLOAD}</p>").tags]
    assert "script" in tags and "img" in tags
