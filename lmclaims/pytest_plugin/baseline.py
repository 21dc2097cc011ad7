"""The baseline gate (``--claims-baseline``) and the comparison with an older run (``--claims-compare``).

Baseline file (JSON, schema 2)::

    {"schema_version": 2, "kind": "lmclaims-baseline", "created": "...",
     "settings": {<RunSettings>},
     "verdicts": {"<key>": {"status", "estimate", "ci": [lo, hi], "direction", "claim_id", "nodeid"}},
     "measurements": {"<key>": {"direction", "estimate", "ci", "claim_id", "nodeid"}}}

A ``claims.json`` is accepted wherever a baseline is (its lists are keyed by ``key``).

The gate fails (every message names the key and what changed) on

* a verdict whose **status** differs from the baseline, or whose measured **direction**
  (``evidence.extra.direction``) differs;
* a **new key** for a claim id the baseline knows (a key new to the baseline's claims is
  noted, not failed: a new claim has no history);
* a measurement whose direction differs, or a new measurement key of a known claim;
* a baseline key **missing** from the run when its test ran (it skipped — model or device
  unavailable, corrupt weights — or no longer records that key). A test the user deselected
  (``-k``, node ids, ``--claims-shard``) did not run and is not missing; nor is a ``slow`` test
  skipped for want of ``--claims-runslow`` (:data:`SLOW_SKIP_REASON`): it was not asked for.

Per-verdict checks run with the test (its outcome fails, on the worker under xdist); missing keys
are found at session end and fail the session. The gate refuses (``pytest.UsageError``) to
compare runs whose :class:`~lmclaims.pytest_plugin.run_settings.RunSettings` differ, naming them.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lmclaims.pytest_plugin import run_settings

BASELINE_KEY = pytest.StashKey["Baseline"]()
SCHEMA_VERSION = 2

#: the skip reason of a ``slow`` test in a run without ``--claims-runslow`` (the plugin adds it)
SLOW_SKIP_REASON = "slow variant: run with --claims-runslow (see README, 'Budgets')"


def requested(tests: dict) -> dict:
    """The tests of ``tests`` (nodeid -> collector entry) that the run asked for: all but the
    ``slow`` tests skipped for want of ``--claims-runslow``, which count as deselected.

    >>> requested({"a": {"outcome": "skipped", "reason": "Skipped: " + SLOW_SKIP_REASON},
    ...            "b": {"outcome": "skipped", "reason": "model unavailable"}})
    {'b': {'outcome': 'skipped', 'reason': 'model unavailable'}}
    """
    return {n: t for n, t in tests.items()
            if not (t.get("outcome") == "skipped" and SLOW_SKIP_REASON in (t.get("reason") or ""))}


def plain_nodeid(nodeid: str | None) -> str | None:
    """A node id without pytest-xdist's ``@group`` suffix (``--dist loadgroup``)."""
    return None if nodeid is None else re.sub(r"@[^@\[\]/:]*$", "", nodeid)


def claim_of_key(key: str) -> str:
    return key.split("@", 1)[0]


@dataclass
class Baseline:
    path: str
    verdicts: dict = field(default_factory=dict)
    measurements: dict = field(default_factory=dict)
    settings: dict | None = None

    @property
    def claim_ids(self) -> set[str]:
        return {e.get("claim_id") or claim_of_key(k) for k, e in (*self.verdicts.items(), *self.measurements.items())}


def _direction(ev: dict) -> str | None:
    return ((ev or {}).get("extra") or {}).get("direction")


def verdict_entry(v: dict) -> dict:
    ev = v.get("evidence", {})
    return {"status": v["status"], "estimate": ev.get("estimate"), "ci": ev.get("confidence_interval"),
            "direction": _direction(ev), "claim_id": v.get("claim_id"), "nodeid": plain_nodeid(v.get("nodeid"))}


def measurement_entry(m: dict) -> dict:
    ev = m.get("evidence", {})
    return {"direction": m.get("direction"), "estimate": ev.get("estimate"), "ci": ev.get("confidence_interval"),
            "claim_id": m.get("claim_id"), "nodeid": plain_nodeid(m.get("nodeid"))}


def from_document(document: dict, path: str = "") -> Baseline:
    """A :class:`Baseline` from a baseline file or a claims.json document."""
    verdicts, measurements = document.get("verdicts", {}), document.get("measurements", {})
    if not isinstance(verdicts, dict):
        verdicts = {v["key"]: verdict_entry(v) for v in verdicts}
    if not isinstance(measurements, dict):
        measurements = {m["key"]: measurement_entry(m) for m in measurements}
    return Baseline(path=str(path), verdicts={k: dict(v) for k, v in verdicts.items()},
                    measurements={k: dict(v) for k, v in measurements.items()}, settings=document.get("settings"))


def verdict_map(document: dict) -> dict[str, dict]:
    """key -> {"status", "estimate", "ci", ...} from a baseline or a claims.json document."""
    return from_document(document).verdicts


def load(path: str | Path, *, option: str = "--claims-baseline") -> Baseline:
    path = Path(path)
    try:
        document = json.loads(path.read_text())
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return from_document(document, str(path))
    except FileNotFoundError:
        hint = " (create it with --claims-update-baseline)" if option == "--claims-baseline" else ""
        raise pytest.UsageError(f"{option} {path}: file does not exist{hint}") from None
    except OSError as exc:
        raise pytest.UsageError(f"{option} {path}: cannot read it: {exc}") from None
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise pytest.UsageError(f"{option} {path}: not a lmclaims baseline or claims.json: {exc}") from None


def check_settings(base: Baseline, current: dict) -> None:
    """Refuse to gate against a baseline recorded under other run settings."""
    if base.settings is None:
        raise pytest.UsageError(f"--claims-baseline {base.path} records no run settings (written by an older "
                                "lmclaims); delete it and re-create it with --claims-update-baseline")
    diff = run_settings.differences(base.settings, current)
    if diff:
        raise pytest.UsageError(f"--claims-baseline {base.path} was recorded under other run settings; comparing "
                                "would mistake a changed setting for a changed model. Differing settings:\n  "
                                + "\n  ".join(diff) + "\nRun with the baseline's settings, or re-create the baseline.")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merged(old: Baseline | None, doc: dict, ran: set[str]) -> tuple[dict, list[str]]:
    """The updated baseline document and the lines saying what changed.

    Entries of tests that ran and recorded something are replaced by this run's; entries of tests
    that did not run, or that ran and recorded nothing (skipped: model unavailable...), are kept.
    """
    verdicts = {v["key"]: verdict_entry(v) for v in doc["verdicts"]}
    measurements = {m["key"]: measurement_entry(m) for m in doc.get("measurements", [])}
    recorded = {e["nodeid"] for e in (*verdicts.values(), *measurements.values())}
    lines, kept = [], 0
    for kind, new, old_entries in (("verdict", verdicts, old.verdicts if old else {}),
                                   ("measurement", measurements, old.measurements if old else {})):
        for key, entry in old_entries.items():
            if key in new:
                continue
            if entry.get("nodeid") in recorded:
                lines.append(f"removed {kind} {key} (its test ran and no longer records it)")
            else:
                new[key] = entry
                kept += 1
                if entry.get("nodeid") in ran:
                    lines.append(f"kept {kind} {key}: its test ran but recorded nothing (skipped)")
        for key, entry in new.items():
            before = old_entries.get(key)
            if before is None:
                lines.append(f"new {kind} {key}: {entry.get('status') or entry.get('direction')}")
            elif kind == "verdict" and before.get("status") != entry["status"]:
                lines.append(f"changed {key}: {before.get('status')} -> {entry['status']}")
            elif before.get("direction") != entry.get("direction"):
                lines.append(f"changed direction of {key}: {before.get('direction')} -> {entry.get('direction')}")
    document = {"schema_version": SCHEMA_VERSION, "kind": "lmclaims-baseline",
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "settings": doc.get("settings"),
                "verdicts": dict(sorted(verdicts.items())), "measurements": dict(sorted(measurements.items()))}
    lines.append(f"{len(verdicts)} verdicts and {len(measurements)} measurements in the baseline "
                 f"({kept} kept from tests that did not run or recorded nothing)")
    return document, lines


def write(path: str | Path, document: dict) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path


def verdict_changes(verdicts: list[dict], base: Baseline) -> list[str]:
    """Gate messages for one test's verdicts (status, direction, new key of a known claim)."""
    lines, known = [], base.claim_ids
    for v in verdicts:
        old = base.verdicts.get(v["key"])
        if old is None:
            if v["claim_id"] in known:
                lines.append(f"+ {v['key']}: new verdict key for claim {v['claim_id']}, which the baseline knows "
                             f"(status {v['status']}); a renamed or added verdict must be accepted with "
                             "--claims-update-baseline")
            continue
        if old["status"] != v["status"]:
            lines.append(f"- {v['key']}: {old['status']}\n+ {v['key']}: {v['status']}"
                         f"  (estimate {old.get('estimate')} -> {v['evidence']['estimate']})")
        new_dir = _direction(v["evidence"])
        if old.get("direction") is not None and new_dir != old["direction"]:
            lines.append(f"~ {v['key']}: measured direction {old['direction']} -> {new_dir}"
                         f"  (estimate {old.get('estimate')} -> {v['evidence']['estimate']})")
    return lines


def measurement_changes(measurements: list[dict], base: Baseline) -> list[str]:
    lines, known = [], base.claim_ids
    for m in measurements:
        old = base.measurements.get(m["key"])
        if old is None:
            if m["claim_id"] in known:
                lines.append(f"+ {m['key']}: new measurement key for claim {m['claim_id']}, which the baseline knows")
        elif old.get("direction") != m.get("direction"):
            lines.append(f"~ {m['key']}: measured direction {old.get('direction')} -> {m.get('direction')}"
                         f"  (estimate {old.get('estimate')} -> {m['evidence']['estimate']})")
    return lines


def missing(base: Baseline, doc: dict, tests: dict) -> list[dict]:
    """Baseline keys absent from this run whose test ran: [{key, kind, nodeid, reason}]."""
    present = {v["key"] for v in doc["verdicts"]} | {m["key"] for m in doc.get("measurements", [])}
    ran = {plain_nodeid(n): t for n, t in requested(tests).items()}
    out = []
    for kind, entries in (("verdict", base.verdicts), ("measurement", base.measurements)):
        for key, entry in sorted(entries.items()):
            test = ran.get(entry.get("nodeid"))
            if key in present or test is None:
                continue
            keys = test.get("verdict_keys", []) + test.get("measurement_keys", [])
            why = (f"its test ran and no longer records it (it recorded {', '.join(keys)})" if keys
                   else f"its test {test['outcome']}: {test['reason']}")
            out.append({"key": key, "kind": kind, "nodeid": entry.get("nodeid"), "reason": why,
                        "old_status": entry.get("status"), "old_estimate": entry.get("estimate")})
    return out


def drift(base: Baseline, doc: dict, missing_keys: list[dict]) -> list[dict]:
    """claims.json ``drift.changes``: every difference the gate sees, one entry per key."""
    out = []
    for v in doc["verdicts"]:
        old = base.verdicts.get(v["key"])
        new_est, new_dir = v["evidence"].get("estimate"), _direction(v["evidence"])
        if old is None:
            out.append({"key": v["key"], "change": "new", "old_status": None, "new_status": v["status"],
                        "old_estimate": None, "new_estimate": new_est,
                        "reason": "new key of a known claim" if v["claim_id"] in base.claim_ids else "new claim"})
        elif old["status"] != v["status"]:
            out.append({"key": v["key"], "change": "changed", "old_status": old["status"], "new_status": v["status"],
                        "old_estimate": old.get("estimate"), "new_estimate": new_est,
                        "reason": f"status {old['status']} -> {v['status']}"})
        elif old.get("direction") is not None and old["direction"] != new_dir:
            out.append({"key": v["key"], "change": "direction", "old_status": old["status"], "new_status": v["status"],
                        "old_estimate": old.get("estimate"), "new_estimate": new_est,
                        "reason": f"measured direction {old['direction']} -> {new_dir}"})
    for m in doc.get("measurements", []):
        old = base.measurements.get(m["key"])
        if old is None or old.get("direction") != m.get("direction"):
            out.append({"key": m["key"], "change": "new" if old is None else "direction", "old_status": None,
                        "new_status": None, "old_estimate": None if old is None else old.get("estimate"),
                        "new_estimate": m["evidence"].get("estimate"),
                        "reason": "new measurement" if old is None else
                        f"measured direction {old.get('direction')} -> {m.get('direction')}"})
    for miss in missing_keys:
        out.append({"key": miss["key"], "change": "removed", "old_status": miss.get("old_status"), "new_status": None,
                    "old_estimate": miss.get("old_estimate"), "new_estimate": None, "reason": miss["reason"]})
    return out


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
