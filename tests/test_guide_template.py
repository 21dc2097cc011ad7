"""The guide's template claim module and the plugin docstring's example run as they stand (issue 14).

Each is copied into a temporary directory outside this repository (no conftest, no pyproject: only
the installed plugin) and run on the synthetic panel; the test checks what a newcomer would look for:
one verdict per (variant, model), the marker's paper and quote in claims.json and on the claim card,
and the guide pointing at the template it describes.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import lmclaims.plugin

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "writing-a-claim.md"
MODELS = "synthetic-llama,synthetic-gpt2"


def _run_outside(module_text: str, tmp_path: Path) -> tuple[dict, str]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_my_claim.py").write_text(module_text)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LMCLAIMS_PANEL", "CI")}
    cmd = [sys.executable, "-m", "pytest", "test_my_claim.py", "-q", "-p", "no:cacheprovider",
           "--claims-panel", "synthetic", "--claims-models", MODELS, "--claims-cache", str(tmp_path / "cache")]
    res = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-3000:]   # 1: a refuted claim fails
    assert "no verdict" not in res.stdout, res.stdout[-3000:]
    doc = json.loads((project / "reports" / "claims.json").read_text())
    return doc, (project / "reports" / "claims.html").read_text()


def _check_verdicts(doc: dict, claim_id: str, variants: set[str]) -> None:
    rows = [v for v in doc["verdicts"] if v["claim_id"] == claim_id]
    got = sorted((v["variant"], m) for v in rows for m in v["models"])
    assert got == sorted((var, m) for var in variants for m in MODELS.split(","))
    for v in rows:
        assert v["status"] in ("supported", "refuted", "inconclusive")
        assert math.isfinite(v["evidence"]["estimate"]) and v["evidence"]["unit"] == "text"


def test_template_claim_runs_outside_the_repo(tmp_path):
    template = resources.files("lmclaims.templates").joinpath("test_claim_template.py").read_text()
    doc, page = _run_outside(template, tmp_path)
    ns: dict = {}
    exec(compile(template.split("\n\n\ndef ")[0], "template", "exec"), ns)   # the module's constants only
    _check_verdicts(doc, ns["CLAIM_ID"], {"as-published", "corrected"})
    claim = doc["claims"][ns["CLAIM_ID"]]
    assert claim["paper"] == ns["PAPER"] and claim["quote"] == ns["QUOTE"]
    assert f'href="{html.escape(ns["PAPER"])}"' in page and html.escape(ns["QUOTE"], quote=False) in page


def _docstring_example() -> str:
    """The indented code block after the first ``::`` of lmclaims.plugin's docstring."""
    doc = lmclaims.plugin.__doc__
    block = doc.split("::\n", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines).strip() + "\n"


def test_plugin_docstring_example_runs(tmp_path):
    code = _docstring_example()
    assert "@pytest.mark.claim(" in code and "verdict.record(" in code
    claim_id = re.search(r'mark\.claim\("([^"]+)"', code).group(1)
    doc, page = _run_outside(code, tmp_path)
    _check_verdicts(doc, claim_id, {"corrected"})
    assert doc["claims"][claim_id]["paper"] == "10.5281/zenodo.18165365"
    assert 'href="https://doi.org/10.5281/zenodo.18165365"' in page


def test_guide_names_the_template_and_its_checklist():
    if not GUIDE.is_file():
        pytest.fail(f"{GUIDE} is missing")
    text = GUIDE.read_text()
    assert "test_claim_template.py" in text
    for must in ("paper=", "quote=", "as-published", "corrected", "null baseline", "independent"):
        assert must in text, f"docs/writing-a-claim.md does not mention {must!r}"
