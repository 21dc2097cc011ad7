"""From verdicts to a pytest outcome (runs where the test runs: on the worker under xdist).

=================  =====================================================================
worst verdict      outcome
=================  =====================================================================
supported          passed
refuted            failed, message: claim, estimate, CI, n, unit, rule, reason
inconclusive       skipped with the reason (``--claims-strict``: failed)
only measurements  passed, shown with the status word "measured" (M)
none recorded      ERROR (a claim test must record at least one verdict or measurement)
=================  =====================================================================

Severity: refuted > inconclusive > supported. With ``--claims-baseline`` the gate is *drift*: any
status or measured direction that differs from the baseline, and any new key of a claim the
baseline knows, fails the test, whatever the status, with a diff in the message
(:mod:`lmclaims.pytest_plugin.baseline`); a refuted verdict that the baseline records as refuted is an expected failure (XFAIL,
reported with its message), so a project can gate CI on a suite whose claims are partly false.
A refuted verdict missing from the baseline still fails.
"""

from __future__ import annotations

import pytest

from lmclaims.pytest_plugin import baseline
from lmclaims.pytest_plugin.recorder import MEASUREMENT_PROPERTY, VERDICT_PROPERTY
from lmclaims.stats.evidence import Status, worst_status

ERROR_PROPERTY = "lmclaims_error"
MEASURED_PROPERTY = "lmclaims_measured"


def verdicts_of(report_or_item) -> list[dict]:
    return [v for k, v in report_or_item.user_properties if k == VERDICT_PROPERTY]


def measurements_of(report_or_item) -> list[dict]:
    return [v for k, v in report_or_item.user_properties if k == MEASUREMENT_PROPERTY]


def describe(v: dict) -> str:
    ev = v["evidence"]
    lo, hi = ev["confidence_interval"]
    label = f" ({v['label']})" if v.get("label") else ""
    models = ",".join(v["models"]) or "-"
    level = ev.get("confidence_level") or 0
    return (f"{v['status'].upper()} {v['claim_id']} [{v['variant']}] on {models}{label}: "
            f"{ev['statistic']} = {_num(ev['estimate'])}, {100 * level:.6g}% CI [{_num(lo)}, {_num(hi)}], "
            f"n={ev['n']} {ev['unit']}s, p={_num(v.get('p_raw'))}\n"
            f"    rule: {v['rule']}\n    reason: {v.get('reason', '')}"
            + "".join(f"\n    caveat: {c}" for c in v.get("caveats", ())))


def _num(x) -> str:
    return "nan" if x is None else f"{x:.4g}"


def apply(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo) -> None:
    """Rewrite the call-phase ``report`` of a claim test according to its verdicts."""
    if call.excinfo is not None:          # the measurement itself failed or skipped: keep pytest's outcome
        return
    config = item.config
    verdicts, measured = verdicts_of(item), measurements_of(item)
    if not verdicts and not measured:
        report.outcome = "failed"
        report.longrepr = ("claim test recorded no verdict: call verdict.record(judgement) "
                           "(a claim test that records nothing is an error, never a pass)")
        report.user_properties.append((ERROR_PROPERTY, "no verdict"))
        return
    messages = []
    recorded = config.stash.get(baseline.BASELINE_KEY, None)
    if recorded is not None:
        diff = baseline.verdict_changes(verdicts, recorded) + baseline.measurement_changes(measured, recorded)
        if diff:
            messages.append(f"differs from the baseline {recorded.path} (status, direction or keys):\n"
                            + "\n".join(diff))
    if not verdicts:
        if messages:
            report.outcome = "failed"
            report.longrepr = "\n\n".join(messages)
        else:
            report.user_properties.append((MEASURED_PROPERTY, len(measured)))
        return
    status = worst_status(v["status"] for v in verdicts)
    strict = config.getoption("claims_strict")
    if status is Status.REFUTED or (status is Status.INCONCLUSIVE and strict):
        bad = [v for v in verdicts if v["status"] != Status.SUPPORTED.value]
        head = "claim refuted" if status is Status.REFUTED else "claim inconclusive (--claims-strict)"
        if not messages and recorded is not None and all(recorded.verdicts.get(v["key"], {}).get("status") == v["status"]
                                                         for v in bad):
            report.outcome = "skipped"
            report.wasxfail = (f"{head}, as recorded in the baseline {recorded.path}: "
                               + "; ".join(f"{v['key']} {v['status']}" for v in bad))
            return
        messages.append(head + ":\n" + "\n".join(describe(v) for v in bad))
    if messages:
        report.outcome = "failed"
        report.longrepr = "\n\n".join(messages)
    elif status is Status.INCONCLUSIVE:
        path, lineno, _ = item.reportinfo()
        reasons = "; ".join(f"{v['label'] or ','.join(v['models']) or v['claim_id']}: {v.get('reason', '')}"
                            for v in verdicts if v["status"] == Status.INCONCLUSIVE.value)
        report.outcome = "skipped"
        report.longrepr = (str(path), (lineno or 0) + 1, f"inconclusive: {reasons}")


def teststatus(report) -> tuple | None:
    """Show a missing verdict as ERROR (E), a measurement-only pass as MEASURED (M)."""
    if report.when != "call":
        return None
    if report.failed and any(k == ERROR_PROPERTY for k, _ in report.user_properties):
        return "error", "E", ("ERROR", {"red": True})
    if report.passed and any(k == MEASURED_PROPERTY for k, _ in report.user_properties):
        return "measured", "M", ("MEASURED", {"green": True})
    return None
