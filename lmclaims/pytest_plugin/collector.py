"""Controller-side state: what the run measured, gathered from ``report.user_properties``.

Everything arrives through test reports, so the same code serves a serial run and a
pytest-xdist run (where fixtures live on workers and only reports reach the controller).
The ``user_properties`` entries lmclaims reads (documented in ``lmclaims/report/SCHEMA.md``):

* ``("lmclaims_verdict", {...})`` — one recorded verdict (added by the ``verdict`` fixture);
* ``("lmclaims_measurement", {...})`` — one recorded measurement (no verdict);
* ``("lmclaims_claim", {...})``   — the test's claim marker (added at collection);
* ``("lmclaims_model", {"name": ..., ...})`` — model metadata, merged by name (other fixtures);
* ``("lmclaims_corpus", {...})``  — corpus metadata, merged (other fixtures).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from lmclaims.pytest_plugin.outcomes import ERROR_PROPERTY, MEASURED_PROPERTY, measurements_of, verdicts_of

CLAIM_PROPERTY = "lmclaims_claim"
MODEL_PROPERTY = "lmclaims_model"
CORPUS_PROPERTY = "lmclaims_corpus"

#: a test's outcome until its call phase reports: a test that never got there did not pass
UNFINISHED = "unfinished"


@dataclass
class RunState:
    started: float = field(default_factory=time.time)
    tests: dict = field(default_factory=dict)
    verdicts: list = field(default_factory=list)
    measurements: list = field(default_factory=list)
    claims: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    corpus: dict = field(default_factory=dict)
    # filled at session end
    document: dict | None = None
    report_path: str | None = None
    html_path: str | None = None
    notes: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    baseline_missing: list = field(default_factory=list)     # keys not in the baseline (notes)
    gate_failures: list = field(default_factory=list)        # session-level gate failures (messages)
    complete: bool = True
    incomplete_reason: str = ""

    def add(self, report: pytest.TestReport) -> None:
        props = list(report.user_properties)
        claim = next((v for k, v in props if k == CLAIM_PROPERTY), None)
        for key, value in props:
            if key == MODEL_PROPERTY and isinstance(value, dict) and value.get("name"):
                self.models.setdefault(str(value["name"]), {}).update(value)
            elif key == CORPUS_PROPERTY and isinstance(value, dict):
                self.corpus.update(value)
        if claim is None:
            return
        self._add_claim(claim)
        entry = self.tests.setdefault(report.nodeid, {
            "nodeid": report.nodeid, "outcome": UNFINISHED, "duration": 0.0, "claim_id": claim["id"],
            "variant": claim["variant"], "verdict_keys": [], "measurement_keys": [], "reason": ""})
        entry["duration"] = round(entry["duration"] + float(report.duration or 0.0), 6)
        if report.when == "call":
            verdicts, measurements = verdicts_of(report), measurements_of(report)
            self.verdicts.extend(verdicts)
            self.measurements.extend(measurements)
            entry["verdict_keys"] = [v["key"] for v in verdicts]
            entry["measurement_keys"] = [m["key"] for m in measurements]
        outcome = _phase_outcome(report)
        if outcome is not None and (entry["outcome"] == UNFINISHED or _rank(outcome) > _rank(entry["outcome"])):
            entry["outcome"] = outcome
            entry["reason"] = _reason(report) if outcome != "passed" else ""

    def unfinished(self) -> list[str]:
        """Tests whose call phase never reported (interrupted, crashed worker)."""
        return sorted(n for n, t in self.tests.items() if t["outcome"] == UNFINISHED)

    def _add_claim(self, claim: dict) -> None:
        known = self.claims.setdefault(claim["id"], {"source": claim.get("source", ""),
                                                     "statement": claim.get("statement", ""),
                                                     "paper": claim.get("paper", ""), "quote": claim.get("quote", ""),
                                                     "variants": [], "version": claim.get("version", 1)})
        if claim["variant"] not in known["variants"]:
            known["variants"] = sorted(known["variants"] + [claim["variant"]])
        for k in ("source", "statement", "paper", "quote"):
            known[k] = known.get(k) or claim.get(k, "")


def _phase_outcome(report) -> str | None:
    if report.when == "call":
        if report.failed and any(k == ERROR_PROPERTY for k, _ in report.user_properties):
            return "error"
        if report.skipped and hasattr(report, "wasxfail"):
            return "xfailed"
        if report.passed and any(k == MEASURED_PROPERTY for k, _ in report.user_properties):
            return "measured"
        return report.outcome
    if report.failed:
        return "error"
    if report.skipped:
        return "skipped"
    return None


def _rank(outcome: str) -> int:
    return {"passed": 0, "measured": 0, "xfailed": 1, "skipped": 1, "failed": 2, "error": 3}.get(outcome, 0)


def _reason(report) -> str:
    if getattr(report, "wasxfail", ""):
        return str(report.wasxfail)[:500]
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    text = getattr(report, "longreprtext", "") or ""
    return text.strip().splitlines()[-1][:500] if text.strip() else ""


STATE_KEY = pytest.StashKey[RunState]()
