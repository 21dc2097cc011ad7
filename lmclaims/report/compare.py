"""Verdict changes between two runs, matched by verdict ``key``.

Used by ``python -m lmclaims compare OLD.json NEW.json`` and by the report's "changes vs
previous run" section. A report's ``compare`` entries come in two shapes, both accepted:

* ``{"key", "old", "new"}``: each side a full verdict dict, a ``{"status", "estimate",
  "confidence_interval"}`` summary, a bare status string, or null when the verdict did not
  exist on that side;
* ``{"key", "change", "old_status", "new_status", "old_estimate", "new_estimate"}`` (what the
  pytest plugin's ``--claims-compare`` writes; a null status means absent on that side).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .format import MISSING, as_float, fmt_ci, fmt_num, status_of


@dataclass(frozen=True)
class VerdictSide:
    """What one run said about one verdict key."""

    status: str
    estimate: float | None = None
    ci: tuple[float | None, float | None] | None = None

    @classmethod
    def from_json(cls, x: Any) -> "VerdictSide | None":
        """Accept a verdict dict, a summary dict, a status string, or None (→ None)."""
        if x is None:
            return None
        if isinstance(x, str):
            return cls(status=status_of(x))
        if not isinstance(x, dict):
            return None
        ev = x.get("evidence") if isinstance(x.get("evidence"), dict) else x
        ci = ev.get("confidence_interval", ev.get("ci"))          # claims.json / baseline.json
        ci = (as_float(ci[0]), as_float(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None
        return cls(status=status_of(x.get("status")), estimate=as_float(ev.get("estimate")), ci=ci)

    def describe(self) -> str:
        """``"estimate [lo, hi]"``, or ``""`` when this side carried only a status."""
        if self.estimate is None and self.ci is None:
            return ""
        return f"{fmt_num(self.estimate)} {fmt_ci(list(self.ci) if self.ci else None)}".strip()


@dataclass(frozen=True)
class VerdictChange:
    """One key's old and new side; either side None when the verdict was added or removed."""

    key: str
    old: VerdictSide | None
    new: VerdictSide | None
    rtol: float = 1e-9          # estimates and CI ends closer than this (relative, floor 1) are unchanged

    @property
    def kind(self) -> str:
        """``added``, ``removed``, ``status`` (status changed), ``estimate`` or ``unchanged``."""
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        if self.old.status != self.new.status:
            return "status"
        if (not _close(self.old.estimate, self.new.estimate, self.rtol)
                or not _close_pair(self.old.ci, self.new.ci, self.rtol)):
            return "estimate"
        return "unchanged"

    @property
    def status_changed(self) -> bool:
        return self.kind == "status"

    def describe(self) -> str:
        """One line for a terminal, e.g. ``key: supported → refuted; estimate 1.02 [..] → 0.97 [..]``."""
        old_status = self.old.status if self.old else "(absent)"
        new_status = self.new.status if self.new else "(absent)"
        parts = [f"{self.key}: {old_status} \u2192 {new_status}"]
        if self.old and self.new:
            if self.old.describe() or self.new.describe():
                parts.append(f"estimate {self.old.describe() or MISSING} \u2192 {self.new.describe() or MISSING}")
        elif (self.old or self.new).describe():
            parts.append(f"estimate {(self.old or self.new).describe()}")
        return "; ".join(parts)


def _close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def _close_pair(a, b, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return _close(a[0], b[0], rel) and _close(a[1], b[1], rel)


def _verdicts_by_key(report: Any) -> dict[str, dict]:
    verdicts = report.get("verdicts") if isinstance(report, dict) else None
    if isinstance(verdicts, dict):                                  # a verdict baseline (claims/baseline.json)
        return {str(k): v for k, v in verdicts.items() if isinstance(v, dict)}
    return {str(v["key"]): v for v in (verdicts or []) if isinstance(v, dict) and v.get("key")}


def compare_reports(old: dict, new: dict, rtol: float = 1e-9) -> list[VerdictChange]:
    """All verdict keys of both runs (new run's order, then removed keys), old vs new; either side may be a
    claims.json or a verdict baseline. Estimates within ``rtol`` (relative, floor 1) count as unchanged."""
    old_v, new_v = _verdicts_by_key(old), _verdicts_by_key(new)
    keys = list(new_v) + [k for k in old_v if k not in new_v]
    return [VerdictChange(k, VerdictSide.from_json(old_v.get(k)), VerdictSide.from_json(new_v.get(k)), rtol)
            for k in keys]


def _side_of_entry(entry: dict, side: str) -> VerdictSide | None:
    if side in entry:
        return VerdictSide.from_json(entry[side])
    status = entry.get(f"{side}_status")
    if status is None:
        return None
    return VerdictSide(status=status_of(status), estimate=as_float(entry.get(f"{side}_estimate")))


def changes_from_entries(entries: Any) -> list[VerdictChange]:
    """Parse a report's ``compare`` list (either entry shape, see the module doc) into changes."""
    if not isinstance(entries, list):
        return []
    return [VerdictChange(str(e.get("key") or MISSING), _side_of_entry(e, "old"), _side_of_entry(e, "new"))
            for e in entries if isinstance(e, dict)]
