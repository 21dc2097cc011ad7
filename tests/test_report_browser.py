"""The report as a page in a real browser: Debian Chromium driven by selenium through chromedriver.

Opens the report of a real offline run (``fixtures_report/claims-offline.json``, a trimmed copy of
the plugin's claims.json; the synthetic current-schema doc when that is absent) at a 1280 px
window and checks what a reader sees: no element is wider than the viewport (no horizontal
scrolling anywhere), the findings come before the matrix, every claim has its card, and a
screenshot is saved (``$LMCLAIMS_SCREENSHOT_DIR`` or the test's tmp dir). A second page carries
script payloads in model names and plot titles and must run none of them.

Skipped, with the install command, when selenium, chromium or chromedriver is missing
(``apt-get install -y chromium chromium-driver`` and ``pip install -e .[browser]``; setup.sh does both).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import pytest

from lmclaims.report.render import render_html

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).parent / "fixtures_report"
SYNTHETIC = FIXTURES / "claims-synthetic.json"
REALS = [p for p in (FIXTURES / "claims-offline.json", FIXTURES / "claims-offline-thermo.json") if p.exists()]
INSTALL = "apt-get install -y chromium chromium-driver && pip install -e '.[browser]'"
VIEWPORT = 1280
SCRIPT = "<script>document.title='PWNED'</script>"
IMG = "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
PAYLOAD = SCRIPT + IMG

WIDE = """
const limit = arguments[0];
return Array.from(document.querySelectorAll('body, body *'))
  .map(e => [e, e.getBoundingClientRect()])
  .filter(([e, r]) => r.width > 0 && (r.right > limit + 0.5 || r.left < -0.5))
  .slice(0, 10)
  .map(([e, r]) => `${e.tagName.toLowerCase()}.${e.getAttribute('class') || ''}#${e.id} right=${Math.round(r.right)}`);
"""


def _binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if path:
            return path
    pytest.skip(f"{names[0]} is not installed; install with: {INSTALL}")


@pytest.fixture(scope="module")
def driver():
    webdriver = pytest.importorskip("selenium.webdriver", reason=f"selenium missing: {INSTALL}")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = _binary("chromium", "chromium-browser", "google-chrome")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", f"--window-size={VIEWPORT},1000", "--disable-background-networking",
                "--host-resolver-rules=MAP * ~NOTFOUND"):           # nothing resolves: no network
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(_binary("chromedriver")), options=options)
    d.set_page_load_timeout(120)
    yield d
    d.quit()


@pytest.fixture(scope="module", params=REALS or [SYNTHETIC], ids=lambda p: p.stem)
def real_doc(request) -> dict:
    return json.loads(request.param.read_text())


@pytest.fixture(scope="module")
def real_page(tmp_path_factory, real_doc) -> Path:
    out = tmp_path_factory.mktemp("browser") / "claims.html"
    render_html(real_doc, out)
    return out


def shot_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("LMCLAIMS_SCREENSHOT_DIR") or tmp_path)


def test_real_report_fits_1280_and_reads_findings_first(driver, real_page, real_doc, tmp_path):
    driver.set_window_size(VIEWPORT, 1000)
    driver.get(real_page.as_uri())
    inner = driver.execute_script("return window.innerWidth")
    assert inner <= VIEWPORT
    assert driver.execute_script("return document.documentElement.scrollWidth") <= inner
    assert driver.execute_script(WIDE, inner) == []                # no element past the right edge
    top = {s: driver.execute_script(f"return document.getElementById('{s}').getBoundingClientRect().top")
           for s in ("findings", "matrix", "claims")}
    assert top["findings"] < top["matrix"] < top["claims"]
    n_cards = driver.execute_script("return document.querySelectorAll('section.card').length")
    assert n_cards == len(real_doc["claims"])
    # every panel-level row of the matrix shows its verdicts inside the visible table
    hidden = driver.execute_script("""
        const t = document.getElementById('claims-matrix').getBoundingClientRect();
        return Array.from(document.querySelectorAll('#claims-matrix .badge'))
          .filter(b => b.getBoundingClientRect().right > t.right + 0.5).length;""")
    assert hidden == 0
    height = driver.execute_script("return document.documentElement.scrollHeight")
    out = shot_dir(tmp_path) / str(real_doc.get("created", "run")).replace(":", "-")
    out.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(VIEWPORT, 1400)
    driver.execute_script("document.getElementById('findings').scrollIntoView()")
    assert driver.save_screenshot(str(out / "findings.png"))
    driver.execute_script("document.querySelector('section.card').scrollIntoView()")
    assert driver.save_screenshot(str(out / "card.png"))
    driver.set_window_size(VIEWPORT, min(height + 200, 16000))
    assert driver.save_screenshot(str(out / "claims-full.png"))
    import matplotlib.image
    pixels = matplotlib.image.imread(str(out / "findings.png"))
    assert pixels.shape[1] == VIEWPORT and pixels.std() > 0.05     # text, badges and plots, not blank


@pytest.fixture(scope="module")
def poisoned_page(tmp_path_factory) -> Path:
    report = json.loads(SYNTHETIC.read_text())
    model = f"evil{PAYLOAD}"
    report["models"][model] = {"fingerprint": PAYLOAD, "caveats": [PAYLOAD]}
    report["claims"]["zz.poison"] = {"statement": PAYLOAD, "source": PAYLOAD, "variants": ["corrected"]}
    v = copy.deepcopy(report["verdicts"][0])
    v.update(claim_id="zz.poison", models=[model], label=PAYLOAD, rule=PAYLOAD, reason=PAYLOAD,
             key="zz.poison@corrected:evil", plots=[{"kind": "table", "title": PAYLOAD, "rows": [[PAYLOAD]]},
                                                  {"kind": "curves", "title": PAYLOAD, "series": {PAYLOAD: {"y": [1, 2]}}}])
    report["verdicts"].append(v)
    out = tmp_path_factory.mktemp("poison") / "claims.html"
    render_html(report, out)
    return out


def test_payloads_in_json_never_run(driver, poisoned_page):
    driver.set_window_size(VIEWPORT, 1000)
    driver.get(poisoned_page.as_uri())
    assert driver.title == "lmclaims report"                      # the title-changing script never ran
    assert driver.execute_script("return document.querySelectorAll('script, img').length") == 0
    assert driver.execute_script("return document.body.getAttribute('data-pwned')") is None
    assert "PWNED" in driver.execute_script("return document.body.innerText")   # shown as text
    assert driver.execute_script(WIDE, VIEWPORT) == []            # long hostile text wraps too
