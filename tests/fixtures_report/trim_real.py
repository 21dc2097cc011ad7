"""Make ``claims-offline.json`` from a real run's claims.json: same structure and every verdict,
smaller file. Floats in plot specs are rounded to 5 significant digits (the page draws them at
< 0.1 px), reasons longer than 2,000 characters (tracebacks) are cut, and absolute paths in the
command are reduced to their file name. Nothing the report renders is dropped.

Usage: ``python tests/fixtures_report/trim_real.py reports/claims.json``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).with_name("claims-offline.json")


def _round(x):
    if isinstance(x, float):
        return float(f"{x:.5g}")
    if isinstance(x, list):
        return [_round(v) for v in x]
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    return x


def trim(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for v in doc.get("verdicts", []) + doc.get("measurements", []):
        v["plots"] = _round(v.get("plots") or [])
        v.get("evidence", {}).pop("bootstrap_distribution", None)
    for t in doc.get("tests", []):
        if isinstance(t.get("reason"), str) and len(t["reason"]) > 2000:
            t["reason"] = t["reason"][:2000] + "\n... (cut for the fixture)"
    return doc


if __name__ == "__main__":
    src = Path(sys.argv[1])
    doc = trim(json.loads(src.read_text(encoding="utf-8")))
    OUT.write_text(json.dumps(doc, indent=None, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    print(f"{src} ({src.stat().st_size} B) -> {OUT} ({OUT.stat().st_size} B)")
