"""Axis scales that fit the data: log or symlog when values span orders of magnitude.

Rule: a linear axis squeezes every value much smaller than the largest one onto the zero line.
When the largest magnitude is more than :data:`SPAN` times the median magnitude (or the spec asks
for ``logy``), the axis is logarithmic if every value is positive, else symlog with a linear zone
up to the power of ten below the smallest non-zero magnitude (values near 0 stay readable). The axis label
says which scale was used.

>>> import numpy as np
>>> choose_scale(np.array([10., 20., 2.5e6]))[0]
'log'
>>> choose_scale(np.array([-3., 15., 2.5e6]))[0]
'symlog'
>>> choose_scale(np.array([0.9, 1.0, 1.1]))[0]
'linear'
"""

from __future__ import annotations

import numpy as np

SPAN = 100.0      # max|v| / median|v| above which a linear axis hides most of the data


def _finite(values) -> np.ndarray:
    parts = [np.asarray(v, dtype=float).ravel() for v in values] if isinstance(values, (list, tuple)) \
        else [np.asarray(values, dtype=float).ravel()]
    flat = np.concatenate(parts) if parts else np.array([])
    return flat[np.isfinite(flat)]


def spans_orders(values) -> bool:
    """True when the largest magnitude is > :data:`SPAN` × the median non-zero magnitude."""
    mags = np.abs(_finite(values))
    mags = mags[mags > 0]
    return bool(mags.size >= 2 and mags.max() > SPAN * np.median(mags))


def choose_scale(values, *, force: bool = False) -> tuple[str, float]:
    """``(scale, linthresh)``: ``linear`` unless the values span orders of magnitude (or ``force``)."""
    finite = _finite(values)
    if not finite.size or not (force or spans_orders(finite)):
        return "linear", 0.0
    if np.all(finite > 0):
        return "log", 0.0
    nonzero = np.abs(finite[finite != 0])
    # a power of ten, so the linear zone ends on a labelled decade (no "0" and "10^0" on top of each other)
    return "symlog", float(10.0 ** np.floor(np.log10(nonzero.min()))) if nonzero.size else 1.0


def apply_scale(ax, axis: str, values, label: str, *, force: bool = False) -> str:
    """Set ``ax``'s ``axis`` ("x" or "y") scale for ``values``; returns the annotated label."""
    scale, linthresh = choose_scale(values, force=force)
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    if scale == "linear":
        return label
    finite = _finite(values)
    if scale == "log":
        setter("log")
        # bars start at 0, which a log axis cannot show: keep the data's own range (with a margin)
        limits = (float(finite.min()) / 1.5, float(finite.max()) * 1.5)
        (ax.set_xlim if axis == "x" else ax.set_ylim)(*limits)
        return f"{label} (log scale)".strip()
    setter("symlog", linthresh=linthresh)
    return f"{label} (symlog scale)".strip()
