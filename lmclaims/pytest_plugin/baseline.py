"""The baseline gate (``--claims-baseline``) and the comparison with an older run (``--claims-compare``).

Baseline file (JSON)::

    {"schema_version": 1, "kind": "lmclaims-baseline", "created": "...",
     "verdicts": {"<verdict key>": {"status": "supported", "estimate": 1.02, "ci": [1.01, 1.03]}}}

A ``claims.json`` is accepted wherever a baseline is (its ``verdicts`` list is keyed by ``key``).
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pytest

BASELINE_KEY = pytest.StashKey[dict]()


def verdict_map(document: dict) -> dict[str, dict]:
    """key -> {"status", "estimate", "ci"} from a baseline or a claims.json document."""
    verdicts = document.get("verdicts", {})
    if isinstance(verdicts, dict):
        return {k: dict(v) for k, v in verdicts.items()}
    return {v["key"]: {"status": v["status"], "estimate": v.get("evidence", {}).get("estimate"),
                       "ci": v.get("evidence", {}).get("confidence_interval"), "nodeid": v.get("nodeid")}
            for v in verdicts}


def load(path: str | Path) -> dict[str, dict]:
    path = Path(path)
    try:
        return verdict_map(json.loads(path.read_text()))
    except FileNotFoundError:
        raise pytest.UsageError(f"baseline file {path} does not exist (create it with --claims-update-baseline)") from None
    except (ValueError, KeyError, AttributeError) as exc:
        raise pytest.UsageError(f"baseline file {path} is not a lmclaims baseline or claims.json: {exc}") from None


def write(path: str | Path, verdicts: list[dict]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"schema_version": 1, "kind": "lmclaims-baseline",
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "verdicts": {v["key"]: {"status": v["status"], "estimate": v["evidence"]["estimate"],
                                   "ci": v["evidence"]["confidence_interval"]}
                        for v in sorted(verdicts, key=lambda v: v["key"])}}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def status_changes(verdicts: list[dict], baseline: dict[str, dict]) -> list[str]:
    """Diff lines for verdicts whose status differs from the baseline (missing keys are not changes)."""
    lines = []
    for v in verdicts:
        old = baseline.get(v["key"])
        if old is not None and old["status"] != v["status"]:
            lines.append(f"- {v['key']}: {old['status']}\n+ {v['key']}: {v['status']}"
                         f"  (estimate {old.get('estimate')} -> {v['evidence']['estimate']})")
    return lines


def compare(old: dict[str, dict], verdicts: list[dict]) -> list[dict]:
    """Changes between an older run (``verdict_map``) and this run's verdict dicts.

    One entry per key whose status changed, that is new, or that disappeared:
    ``{"key", "change": "changed"|"new"|"removed", "old_status", "new_status", "old_estimate", "new_estimate"}``.
    """
    new = {v["key"]: v for v in verdicts}
    out = []
    for key in sorted(set(old) | set(new)):
        o, n = old.get(key), new.get(key)
        if o is not None and n is not None and o["status"] == n["status"]:
            continue
        out.append({"key": key, "change": "new" if o is None else "removed" if n is None else "changed",
                    "old_status": None if o is None else o["status"], "new_status": None if n is None else n["status"],
                    "old_estimate": None if o is None else o.get("estimate"),
                    "new_estimate": None if n is None else n["evidence"]["estimate"]})
    return out
