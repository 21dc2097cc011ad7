"""One variant's verdicts in a phrase: the status counts, the key number with its CI, and why.

The *key verdict* of a variant is its only verdict, or — when a test recorded several (one per
layer, per matrix type, per model) — the one whose estimate lies closest to the decision
threshold (without thresholds: the first that computed an estimate): the verdict that came nearest to going the other way, which is what a reader needs to
judge the whole set ("no layer's removal lowers perplexity: smallest +13.6 [10.1, 18.5], L17").

>>> v = {"status": "refuted", "label": "L17", "reason": "the 95% CI [10.1, 18.5] lies wholly above 0",
...      "evidence": {"statistic": "ΔPPL %", "estimate": 13.6, "confidence_interval": [10.1, 18.5],
...                   "extra": {"threshold": 0.0}}}
>>> s = summarize([v, {**v, "label": "L3", "evidence": {**v["evidence"], "estimate": 40.0}}])
>>> s["key"], s["why"]
('L17: ΔPPL % = 13.6 [10.1, 18.5] (nearest the threshold 0 of 2)', 'the 95% CI [10.1, 18.5] lies wholly above 0')
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .format import BADGE_STATUSES, as_float, as_text, fmt_ci, fmt_num, status_of

MAX_WHY = 160


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def evidence(v: dict) -> dict:
    return _dict(v.get("evidence"))


def extra(v: dict) -> dict:
    return _dict(evidence(v).get("extra"))


def threshold(v: dict) -> float | None:
    """The value the rule compares against (``extra.threshold``, else ``extra.reference``)."""
    e = extra(v)
    return as_float(e.get("threshold", e.get("reference")))


def is_exact(v: dict) -> bool:
    """Exact arithmetic (no sampling): ``extra.exact``, or a zero-width interval at level 1."""
    ev = evidence(v)
    ci = ev.get("confidence_interval") or [None, None]
    if extra(v).get("exact"):
        return True
    lo, hi = (as_float(c) for c in (list(ci) + [None, None])[:2])
    return lo is not None and lo == hi and as_float(ev.get("confidence_level")) == 1.0


def counts(verdicts: list[dict]) -> list[tuple[str, int]]:
    c = Counter(status_of(v.get("status")) for v in verdicts)
    return [(s, c[s]) for s in (*BADGE_STATUSES, "unknown") if c[s]]


def key_verdict(verdicts: list[dict]) -> dict | None:
    """The only verdict, or the one whose estimate is closest to its threshold (see module doc)."""
    if not verdicts:
        return None
    if len(verdicts) == 1:
        return verdicts[0]

    def distance(v: dict) -> tuple[int, float]:
        est, t = as_float(evidence(v).get("estimate")), threshold(v)
        if est is None:
            return (2, 0.0)                 # a verdict that computed nothing is never the key
        return (0, abs(est - t)) if t is not None else (1, 0.0)

    return min(verdicts, key=distance)      # ties: the first in recorded order


def number(v: dict) -> str:
    """``statistic = estimate [lo, hi]`` (``(exact)`` instead of an interval for arithmetic)."""
    ev = evidence(v)
    stat = as_text(ev.get("statistic")) if ev.get("statistic") else "estimate"
    if as_float(ev.get("estimate")) is None:
        return f"{stat}: not computed"
    ci = "(exact)" if is_exact(v) else fmt_ci(ev.get("confidence_interval"), 3)
    return f"{stat} = {fmt_num(ev.get('estimate'), 3)} {ci}"


def clip(text: Any, limit: int = MAX_WHY) -> str:
    s = " ".join(as_text(text).split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "\u2026"


def summarize(verdicts: list[dict]) -> dict:
    """``{"counts", "key", "why", "n"}`` for a variant's verdicts (``key``/``why`` "" when none)."""
    kv = key_verdict(verdicts)
    if kv is None:
        return {"counts": [], "key": "", "why": "", "n": 0, "refuted_as": ""}
    key = number(kv)
    label = as_text(kv.get("label")) if kv.get("label") else ""
    if len(verdicts) > 1:
        t = threshold(kv)
        where = f"nearest the threshold {fmt_num(t)} of {len(verdicts)}" if t is not None \
            else f"1 of {len(verdicts)}"
        key = f"{label + ': ' if label else ''}{key} ({where})"
    elif label:
        key = f"{label}: {key}"
    how = as_text(extra(kv).get("refuted_as")) if status_of(kv.get("status")) == "refuted" and \
        extra(kv).get("refuted_as") else ""
    return {"counts": counts(verdicts), "key": key, "why": clip(kv.get("reason") or ""), "n": len(verdicts),
            "refuted_as": how}
