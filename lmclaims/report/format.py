"""Small, pure formatting helpers shared by the report view model, the templates and the CLI.

Everything here accepts whatever the JSON holds (``None`` for NaN, strings where numbers were
expected, missing keys) and returns display strings; nothing raises on odd input.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Statuses a matrix cell or badge can show, in the order used for counts and legends.
BADGE_STATUSES = ("supported", "refuted", "inconclusive", "skipped", "error")

#: Short glyph beside each status word so badges read the same without colour.
STATUS_GLYPHS = {
    "supported": "\u2714",     # heavy check mark
    "refuted": "\u2718",       # heavy ballot x
    "inconclusive": "?",
    "skipped": "\u2013",       # en dash
    "error": "!",
    "unknown": "\u00b7",
    "measured": "\u25cb",     # white circle: a number, no verdict
}

MISSING = "\u2014"  # em dash: shown for None / NaN / missing values


def as_float(x: Any) -> float | None:
    """``x`` as a finite float, or ``None`` (for None, NaN, inf, bools and non-numbers)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_num(x: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; ints stay ints; missing becomes an em dash."""
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    f = as_float(x)
    if f is None:
        return MISSING if x is None or isinstance(x, (int, float)) else str(x)
    return f"{f:.{digits}g}"


def fmt_p(x: Any) -> str:
    """A p-value: three significant digits, ``< 1e-4`` below that, em dash when missing."""
    f = as_float(x)
    if f is None:
        return MISSING
    if 0 < f < 1e-4:
        return "< 1e-4"
    return f"{f:.3g}"


def fmt_ci(ci: Any, digits: int = 4) -> str:
    """A confidence interval ``[lo, hi]`` as ``"[lo, hi]"``; em dash when absent or malformed."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return MISSING
    lo, hi = ci
    if as_float(lo) is None and as_float(hi) is None:
        return MISSING
    return f"[{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]"


def fmt_seconds(x: Any) -> str:
    """A duration in seconds, e.g. ``"12.3 s"`` or ``"4 min 05 s"``."""
    f = as_float(x)
    if f is None:
        return MISSING
    if f < 60:
        return f"{f:.3g} s"
    minutes, seconds = divmod(int(round(f)), 60)
    return f"{minutes} min {seconds:02d} s"


def fmt_count(x: Any) -> str:
    """A large count (e.g. parameters) as ``"134.5 M"`` / ``"1.2 B"``; small or odd values as text."""
    f = as_float(x)
    if f is None or abs(f) < 1e6:
        return as_text(x)
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(f) >= scale:
            return f"{f / scale:.4g} {suffix}"
    return as_text(x)  # pragma: no cover


def status_of(x: Any) -> str:
    """Normalise a status string to one of :data:`BADGE_STATUSES` or ``"unknown"``."""
    s = str(x or "").strip().lower()
    return s if s in BADGE_STATUSES else "unknown"


def slug(text: Any, *, prefix: str = "claim-") -> str:
    """An HTML-id-safe slug: ASCII letters, digits, ``-`` and ``_`` only, never empty."""
    s = re.sub(r"[^A-Za-z0-9_-]+", "-", str(text or "")).strip("-").lower()
    return prefix + (s or "unnamed")


def unique_slugs(names: list[str], *, prefix: str = "claim-") -> dict[str, str]:
    """Map each name to a slug unique among ``names`` (``-2``, ``-3`` ... on collisions)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = slug(name, prefix=prefix)
        candidate, k = base, 2
        while candidate in used:
            candidate, k = f"{base}-{k}", k + 1
        used.add(candidate)
        out[name] = candidate
    return out


def as_text(x: Any) -> str:
    """Any JSON value as display text (``None`` becomes an em dash; lists joined by commas)."""
    if x is None:
        return MISSING
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return fmt_num(x)
    if isinstance(x, (list, tuple)):
        return ", ".join(as_text(v) for v in x)
    return str(x)


#: Bidirectional-override and isolate controls (Trojan-source characters) and the marks.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + _BIDI + "\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with control, bidi-override and lone-surrogate characters replaced by U+FFFD.

    Such characters must not reach the page as text: a NUL or a right-to-left override in a model
    name or reason would reorder or hide what a reader sees. Newlines and tabs are kept.

    >>> clean_text("evil\\u202etxt.exe\\x00 ok\\n")
    'evil\\ufffdtxt.exe\\ufffd ok\\n'
    """
    return _UNSAFE.sub("\ufffd", text)
