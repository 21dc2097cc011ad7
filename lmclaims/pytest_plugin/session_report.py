"""``claims.json`` — the run's source of truth (schema: ``lmclaims/report/SCHEMA.md``).

Built on the controller at session end from :class:`RunState`; families of verdicts get their
adjusted p-values here (Holm / BH over the p-values of the whole family).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

import lmclaims
from lmclaims.pytest_plugin import baseline
from lmclaims.pytest_plugin.collector import RunState
from lmclaims.pytest_plugin.options import RUN_OPTIONS, SETTINGS_KEY, run_option
from lmclaims.stats.evidence import _jsonable
from lmclaims.stats.multiple import adjust

SCHEMA_VERSION = 1
log = logging.getLogger("lmclaims")


def adjusted_verdicts(verdicts: list[dict], correction: str, alpha: float) -> list[dict]:
    """Copies of the verdict dicts in a stable order, with ``p_adjusted`` filled per family."""
    out = sorted((dict(v) for v in verdicts), key=lambda v: (v["nodeid"], v.get("index", 0)))
    families = defaultdict(list)
    for v in out:
        families[v.get("family") or f"{v['claim_id']}@{v['variant']}"].append(v)
    for members in families.values():
        for v, p in zip(members, adjust([v.get("p_raw") for v in members], correction)):
            v["p_adjusted"] = p
            v["family_verdicts"] = len(members)
            v["significant_after_correction"] = None if p is None else bool(p <= alpha)
            if len(members) > v.get("family_size", len(members)):
                v["caveats"] = list(v.get("caveats", ())) + [
                    f"the family recorded {len(members)} verdicts but announced m={v['family_size']} at collection; "
                    "the test-time level was too lax (set verdicts= on the claim marker); trust p_adjusted"]
    return out


def _git(rootdir: Path) -> dict:
    def run(*args):
        return subprocess.run(["git", *args], cwd=rootdir, capture_output=True, text=True, timeout=10)

    try:
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        return {"commit": head.stdout.strip(), "dirty": bool(run("status", "--porcelain").stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _environment() -> dict:
    import numpy
    import scipy
    import statsmodels

    env = {"python": platform.python_version(), "platform": platform.platform(), "numpy": numpy.__version__,
           "scipy": scipy.__version__, "statsmodels": statsmodels.__version__}
    for name in ("torch", "transformers"):  # only if someone else imported them; never import torch here
        module = sys.modules.get(name)
        env[name] = getattr(module, "__version__", None) if module is not None else None
    return env


def build(config: pytest.Config, state: RunState) -> dict:
    settings = config.stash[SETTINGS_KEY]
    verdicts = adjusted_verdicts(state.verdicts, settings.correction, settings.alpha)
    return _jsonable({
        "schema_version": SCHEMA_VERSION,
        "lmclaims_version": lmclaims.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git": _git(Path(config.rootpath)),
        "command": ["pytest", *config.invocation_params.args],
        "profile": settings.to_dict(),
        "seed": settings.seed,
        "correction": settings.correction,
        "run": {name: run_option(config, name) for name in RUN_OPTIONS},
        "environment": _environment(),
        "models": dict(sorted(state.models.items())),
        "corpus": state.corpus,
        "claims": dict(sorted(state.claims.items())),
        "tests": [state.tests[k] for k in sorted(state.tests)],
        "verdicts": verdicts,
        "timings": {"session_seconds": round(time.time() - state.started, 3)},
    })


def report_dir(config: pytest.Config) -> Path:
    option = config.getoption("claims_report_dir")
    return Path(option) if option else Path(config.rootpath) / "reports"


def finish(config: pytest.Config, state: RunState) -> None:
    """Build, compare, write claims.json (+ baseline) and render the HTML report."""
    if not state.tests:
        return                                    # no claim test ran: leave reports/ alone
    doc = build(config, state)
    if config.getoption("claims_compare"):
        old = baseline.load(config.getoption("claims_compare"))
        doc["compare"] = baseline.compare(old, doc["verdicts"])
    base_path = config.getoption("claims_baseline")
    if base_path and config.getoption("claims_update_baseline"):
        written = baseline.write(base_path, doc["verdicts"])
        state.notes.append(f"baseline written: {written} ({len(doc['verdicts'])} verdicts)")
    elif base_path:
        known = config.stash[baseline.BASELINE_KEY]
        state.baseline_missing = sorted(v["key"] for v in doc["verdicts"] if v["key"] not in known)
        doc["baseline"] = {"file": str(base_path), "missing": state.baseline_missing}
    out_dir = report_dir(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "claims.json"
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    state.document, state.report_path = doc, str(path)
    _render(doc, out_dir / "claims.html", state)


def _render(doc: dict, html_path: Path, state: RunState) -> None:
    try:
        from lmclaims.report.render import render_html
    except ImportError as exc:
        state.notes.append(f"HTML report not written: lmclaims.report.render unavailable ({exc})")
        return
    try:
        render_html(doc, html_path)
    except Exception as exc:  # noqa: BLE001 - a broken renderer must not lose the JSON or the session
        message = f"HTML report failed: {type(exc).__name__}: {exc}"
        log.warning(message)
        state.errors.append(message)
    else:
        state.html_path = str(html_path)
