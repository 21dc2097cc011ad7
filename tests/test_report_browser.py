"""Load the rendered report in a real headless Chromium (no network) and inspect the live DOM.

``--dump-dom`` prints the DOM after the page has loaded and any scripts would have run, so it shows
both what the browser parsed (is ``#claims-matrix`` there, with the right rows?) and whether text
from model output became live markup (a ``<script>`` element, or an ``onerror`` that fired).
Skipped, with the install command, when Chromium is not installed.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lmclaims.report.render import render_html

pytestmark = pytest.mark.browser

SAMPLE = Path(__file__).parent / "fixtures_report" / "sample_claims.json"
INSTALL = "sudo apt-get install chromium chromium-driver"
# Payloads that would leave a visible trace in the DOM if they ever executed.
SCRIPT = "<script>document.title='PWNED'</script>"
IMG = "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
PAYLOAD = SCRIPT + IMG
EXPECTED_MATRIX_ROWS = 6 + 1          # the sample's (claim, variant) rows + the poisoned one


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"headless chromium is not installed; install it with: {INSTALL}")


def run_chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND",          # no name resolves: no network
             f"--user-data-dir={tmp / 'profile'}"]
    return subprocess.run([chromium_binary(), *flags, *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp)


class Dom(HTMLParser):
    """Start tags of a serialised DOM, plus the rows of ``#claims-matrix``'s body and the title."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.matrix_rows = 0
        self.title = ""
        self._stack: list[str] = []
        self._in_matrix_body = False
        self._in_title = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table" and attrs.get("id") == "claims-matrix":
            self._stack = ["table"]
        elif self._stack:
            self._stack.append(tag)
            self._in_matrix_body = self._stack[:2] == ["table", "tbody"]
            if tag == "tr" and self._in_matrix_body and len(self._stack) == 3:
                self.matrix_rows += 1
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if self._stack and tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    """The sample report with script payloads in a model name, a statement and a table cell."""
    report = json.loads(SAMPLE.read_text())
    model = f"evil{PAYLOAD}"
    report["models"][model] = {"fingerprint": PAYLOAD, "caveats": [PAYLOAD]}
    report["claims"]["999-poison"] = {"statement": PAYLOAD, "source": PAYLOAD, "variants": ["corrected"]}
    v = copy.deepcopy(next(v for v in report["verdicts"] if v["plots"] and v["plots"][-1]["kind"] == "table"))
    v.update(claim_id="999-poison", models=[model], label=PAYLOAD, rule=PAYLOAD, key="999-poison@corrected:evil")
    v["plots"][-1]["rows"] = [[PAYLOAD, PAYLOAD]]
    v["plots"][0]["title"] = PAYLOAD
    report["verdicts"].append(v)
    out = tmp_path_factory.mktemp("browser") / "claims.html"
    render_html(report, out)
    return out


def test_matrix_in_live_dom_and_no_script_ran(report_page, tmp_path):
    proc = run_chromium(["--virtual-time-budget=2000", "--dump-dom", report_page.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Dom(proc.stdout)
    assert ("table", {"id": "claims-matrix", "class": "matrix"}) in dom.tags
    assert dom.matrix_rows == EXPECTED_MATRIX_ROWS
    assert dom.title == "lmclaims report"                     # the title-changing script never ran
    assert not [t for t, _ in dom.tags if t in ("script", "img")]
    body = next(attrs for tag, attrs in dom.tags if tag == "body")
    assert "data-pwned" not in body                           # no onerror handler fired
    assert "PWNED" in proc.stdout                             # ... while the payload is shown as text


def test_screenshot(report_page, tmp_path):
    """A full-width screenshot renders (non-blank). Kept in tmp_path for a human to look at."""
    import matplotlib.image

    shot = tmp_path / "claims.png"
    proc = run_chromium(["--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}",
                         report_page.as_uri()], tmp_path)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[:2] == (2400, 1280)
    assert pixels.std() > 0.05                                # text, badges and plots, not a blank page
