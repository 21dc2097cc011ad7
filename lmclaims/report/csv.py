"""``claims.csv``: one row per verdict (and per measurement) of a claims.json, for spreadsheets.

Columns (:data:`COLUMNS`): identity (key, claim, variant, models, label), status, the evidence
(statistic, estimate, CI, n, unit, method, level), both p-values raw and adjusted, family,
direction and refuted_as, the reason and the reproduce command. Measurements have status
``measured`` and no p-values. Text cells lose control/bidi characters, and a text cell that a
spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``) gets a leading ``'``.
claims.json stays the source of truth; this is a flat view of it.

>>> doc = {"verdicts": [{"key": "c@corrected:m", "claim_id": "c", "variant": "corrected", "models": ["m"],
...        "status": "supported", "p_raw": 0.01, "evidence": {"estimate": 1.5, "confidence_interval": [1.1, 1.9]}}]}
>>> print(verdicts_csv(doc).splitlines()[1][:60])
c@corrected:m,c,corrected,m,,supported,,1.5,1.1,1.9,,,,,0.01
"""

from __future__ import annotations

import csv as _csv
import io
from typing import Any

from .format import clean_text

COLUMNS = ("key", "claim_id", "variant", "models", "label", "status", "statistic", "estimate", "ci_low",
           "ci_high", "n", "unit", "method", "confidence_level", "p_raw", "p_adjusted", "p_refute_raw",
           "p_refute_adjusted", "family", "family_size", "direction", "refuted_as", "reason", "nodeid", "command")


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _cell(x: Any) -> Any:
    if x is None:
        return ""
    if isinstance(x, (list, tuple)):
        x = ";".join(str(v) for v in x)
    if isinstance(x, str):
        x = clean_text(x)
        return "'" + x if x[:1] in ("=", "+", "-", "@") else x
    return x


def _row(d: dict, status: str | None = None) -> list:
    ev = _dict(d.get("evidence"))
    ex = _dict(ev.get("extra"))
    ci = ev.get("confidence_interval")
    ci = list(ci) + [None, None] if isinstance(ci, (list, tuple)) else [None, None]
    values = {**d, "status": status or d.get("status"), "statistic": ev.get("statistic"),
              "estimate": ev.get("estimate"), "ci_low": ci[0], "ci_high": ci[1], "n": ev.get("n"),
              "unit": ev.get("unit"), "method": ev.get("method"), "confidence_level": ev.get("confidence_level"),
              "direction": d.get("direction") or ex.get("direction"), "refuted_as": ex.get("refuted_as")}
    return [_cell(values.get(c)) for c in COLUMNS]


def verdicts_csv(report: Any) -> str:
    """The CSV text (header + one row per verdict, then per measurement)."""
    report = _dict(report)
    buf = io.StringIO()
    writer = _csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for v in report.get("verdicts") or []:
        if isinstance(v, dict):
            writer.writerow(_row(v))
    for m in report.get("measurements") or []:
        if isinstance(m, dict):
            writer.writerow(_row(m, status="measured"))
    return buf.getvalue()
