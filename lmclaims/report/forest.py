"""Verdict plots: a forest plot of estimates ± CI, or a per-layer profile when the verdicts are layers.

Both draw what the decision rule compared against: the reference (``extra.threshold``) as a dashed
line and the indifference margin ``threshold ± min_effect`` as a grey band. Exact arithmetic on
published numbers (``extra.exact`` or a zero-width interval at level 1) is drawn as a point with
no whiskers, and the seed's published number (``extra.published``, when a number) as a hollow
diamond beside ours. Axes switch to log / symlog when values span orders of magnitude
(:mod:`lmclaims.report.scales`). Marker shape encodes the status, so the plots read without colour.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .format import as_float, as_text
from .scales import apply_scale
from .svg import figure_to_svg, plain_text, plt, report_style

#: Marker, colour per verdict status (shape carries the meaning too).
STATUS_STYLE = {
    "supported": ("o", "#1a7f37"),
    "refuted": ("X", "#cf222e"),
    "inconclusive": ("D", "#9a6700"),
    "unknown": ("s", "#57606a"),
}
MAX_LABEL = 40
MAX_TITLE = 90
FIG_WIDTH = 6.4
_LAYER = re.compile(r"^(?:L|layer\s*)(\d+)$", re.I)


def _short(text, limit: int = MAX_LABEL) -> str:
    s = as_text(text)
    return plain_text(s if len(s) <= limit else s[: limit - 1] + "\u2026")


def layer_number(label) -> int | None:
    """``"L17"`` / ``"layer 3"`` → 17 / 3, else None.

    >>> layer_number("L17"), layer_number("layer 3"), layer_number("c=30")
    (17, 3, None)
    """
    m = _LAYER.match(str(label or "").strip())
    return int(m.group(1)) if m else None


def _values(rows, reference, margin) -> list[float]:
    vals = [as_float(r.get(k)) for r in rows for k in ("estimate", "lo", "hi", "published", "threshold")]
    vals += [reference] if reference is not None else []
    if reference is not None and margin:
        vals += [reference - margin, reference + margin]
    return [v for v in vals if v is not None]


def _guides(ax, reference, margin, *, vertical: bool) -> None:
    if reference is None:
        return
    line, span = (ax.axvline, ax.axvspan) if vertical else (ax.axhline, ax.axhspan)
    if margin:
        span(reference - margin, reference + margin, color="#8c959f", alpha=0.25, linewidth=0,
             label=f"margin ±{margin:.3g}")
    line(reference, color="#444", linestyle="--", linewidth=1, label=f"threshold {reference:.4g}")


def _status(row) -> str:
    s = row.get("status")
    return s if s in STATUS_STYLE else "unknown"


def forest_svg(rows: Sequence[dict], *, title: str, xlabel: str, id_prefix: str,
               reference: float | None = None, margin: float | None = None) -> str | None:
    """Forest plot, one line per verdict: ``rows`` of ``label, estimate, lo, hi, status`` (+
    optional ``exact``, ``published``, and ``threshold`` when rows have thresholds of their own,
    drawn as a short dashed tick on each row). None when no row has an estimate to draw."""
    if not rows or all(as_float(r.get("estimate")) is None for r in rows):
        return None
    with report_style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.95 + 0.24 * len(rows)))
        ypos = np.arange(len(rows))[::-1]
        seen: set[str] = set()
        _guides(ax, reference, margin, vertical=True)
        for y, row in zip(ypos, rows):
            est, lo, hi = (as_float(row.get(k)) for k in ("estimate", "lo", "hi"))
            status = _status(row)
            marker, col = STATUS_STYLE[status]
            if lo is not None and hi is not None and not row.get("exact") and hi > lo:
                ax.hlines(y, lo, hi, color=col, linewidth=1.6)
                ax.vlines([lo, hi], y - 0.15, y + 0.15, color=col, linewidth=1.2)
            if est is not None:
                ax.plot([est], [y], marker=marker, color=col, markersize=6, linestyle="none",
                        label=status if status not in seen else None)
                seen.add(status)
            own = as_float(row.get("threshold")) if reference is None else None
            if own is not None:
                ax.vlines([own], y - 0.35, y + 0.35, color="#444", linestyle="--", linewidth=1,
                          label="threshold (per row)" if "own" not in seen else None)
                seen.add("own")
            pub = as_float(row.get("published"))
            if pub is not None:
                ax.plot([pub], [y], marker="D", markerfacecolor="none", markeredgecolor="#000",
                        markersize=6, linestyle="none", label="published" if "pub" not in seen else None)
                seen.add("pub")
        labels = [_short(r.get("label")) + (" (exact)" if r.get("exact") else "") for r in rows]
        ax.set_yticks(ypos, labels)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(apply_scale(ax, "x", _values(rows, reference, margin), _short(xlabel, MAX_TITLE)))
        ax.set_title(_short(title, MAX_TITLE))
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return figure_to_svg(fig, id_prefix=id_prefix, title=title)


def layer_profile_svg(rows: Sequence[dict], *, title: str, ylabel: str, id_prefix: str,
                      reference: float | None = None, margin: float | None = None) -> str | None:
    """Per-layer verdicts as a line with a CI band; each layer's marker shows its status.

    ``rows`` as for :func:`forest_svg`, each with a ``layer`` (int). None when nothing to draw.
    """
    rows = sorted((r for r in rows if r.get("layer") is not None), key=lambda r: r["layer"])
    if not rows or all(as_float(r.get("estimate")) is None for r in rows):
        return None
    x = np.array([r["layer"] for r in rows], dtype=float)
    est, lo, hi = (np.array([np.nan if as_float(r.get(k)) is None else as_float(r.get(k)) for r in rows])
                   for k in ("estimate", "lo", "hi"))
    with report_style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.0))
        _guides(ax, reference, margin, vertical=False)
        ax.fill_between(x, lo, hi, color="#0072B2", alpha=0.2, linewidth=0, label="CI band")
        ax.plot(x, est, color="#0072B2", linewidth=1.2)
        for status in STATUS_STYLE:
            mask = np.array([_status(r) == status for r in rows])
            if mask.any():
                marker, col = STATUS_STYLE[status]
                ax.plot(x[mask], est[mask], marker=marker, color=col, markersize=4.5, linestyle="none",
                        label=status)
        ax.set_xlabel("layer")
        ax.set_ylabel(apply_scale(ax, "y", _values(rows, reference, margin), _short(ylabel, MAX_LABEL)))
        ax.set_title(_short(title, MAX_TITLE))
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return figure_to_svg(fig, id_prefix=id_prefix, title=title)
