"""Plot specs (plain JSON dicts carried by verdicts) → inline SVG or an HTML table.

Spec kinds (see ``SCHEMA.md``):

``profile``  per-layer curve with a CI band and an optional horizontal ``reference`` line; either
             one ``x/y/lo/hi`` or ``series: {name: {x, y, lo, hi}}`` for several models on one axis.
``bars``     grouped bars ``categories × series`` with ``lo``/``hi`` error bars.
``curves``   ``series: {name: {x, y}}`` lines, e.g. training-loss curves.
``table``    ``columns`` + ``rows``: not an image; returned as data for the template (escaped there).

Besides the specs, :func:`forest_svg` draws the per-variant forest plot (estimate ± CI per verdict).
``logy`` uses a log axis when every value is positive and a symlog axis otherwise, and says which
in the axis label. A spec that cannot be drawn yields a :class:`RenderedPlot` with ``error`` set
instead of breaking the whole report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .format import as_float, as_text
from .svg import colour, figure_to_svg, plain_text, plt, report_style

#: Marker, colour and legend word per verdict status in the forest plot (shape carries meaning too).
STATUS_STYLE = {
    "supported": ("o", "#1a7f37"),
    "refuted": ("X", "#cf222e"),
    "inconclusive": ("D", "#9a6700"),
    "unknown": ("s", "#57606a"),
}
MAX_LABEL = 48          # longest tick/legend label drawn in a figure; the full text is in the tables
MAX_TITLE = 90          # longest title drawn in a figure
FIG_WIDTH = 6.4         # inches


@dataclass(frozen=True)
class RenderedPlot:
    """One plot ready for the template: exactly one of ``svg``, ``table`` or ``error`` is set."""

    kind: str
    title: str
    svg: str | None = None
    table: dict | None = None
    error: str | None = None


def _floats(values: Any) -> np.ndarray:
    """1-D float array from a JSON list; None / non-numbers become NaN."""
    if not isinstance(values, (list, tuple)):
        return np.array([], dtype=float)
    return np.array([np.nan if as_float(v) is None else as_float(v) for v in values], dtype=float)


def _clip(text: Any, limit: int) -> str:
    s = as_text(text)
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


def _short(text: Any, limit: int = MAX_LABEL) -> str:
    """JSON text for a figure: shortened to ``limit`` characters and safe from mathtext."""
    return plain_text(_clip(text, limit))


def _apply_logy(ax, values: Sequence[np.ndarray], ylabel: str) -> str:
    """Log y axis if all finite values are > 0, else symlog; returns the annotated y label."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if finite.size and np.all(finite > 0):
        ax.set_yscale("log")
        # bars start at 0, which a log axis cannot show: without limits matplotlib stretches the
        # axis down to ~1e-16; the data's own range (with a margin) is what a reader needs
        ax.set_ylim(float(finite.min()) / 1.5, float(finite.max()) * 1.5)
        return f"{ylabel} (log scale)".strip()
    nonzero = np.abs(finite[finite != 0])
    linthresh = float(nonzero.min()) if nonzero.size else 1.0
    ax.set_yscale("symlog", linthresh=linthresh)
    return f"{ylabel} (symlog scale, linear within ±{linthresh:.3g})".strip()


def _finish(fig, ax, spec: dict, *, ylabel: str, xlabel: str, n_series: int, id_prefix: str) -> str:
    title = as_text(spec.get("title") or "")
    ax.set_title(_short(title, MAX_TITLE) if title != "\u2014" else "")
    ax.set_xlabel(_short(xlabel, MAX_TITLE))
    ax.set_ylabel(plain_text(ylabel))      # already clipped by the drawer (before any scale note)
    if n_series >= 1 and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    return figure_to_svg(fig, id_prefix=id_prefix, title=title)


def _profile_series(spec: dict) -> dict[str, dict]:
    series = spec.get("series")
    if isinstance(series, dict) and series:
        return {str(k): v for k, v in series.items() if isinstance(v, dict)}
    return {"": spec}


def _draw_profile(spec: dict, id_prefix: str) -> str:
    with report_style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.2))
        all_values = []
        series = _profile_series(spec)
        for i, (name, s) in enumerate(series.items()):
            y = _floats(s.get("y"))
            x = _floats(s.get("x")) if s.get("x") is not None else np.arange(len(y), dtype=float)
            if len(x) != len(y):
                raise ValueError(f"series {name!r}: x has {len(x)} values, y has {len(y)}")
            ax.plot(x, y, marker=".", color=colour(i), label=_short(name) if name else None)
            all_values.append(y)
            lo, hi = _floats(s.get("lo")), _floats(s.get("hi"))
            if len(lo) == len(y) and len(hi) == len(y):
                ax.fill_between(x, lo, hi, color=colour(i), alpha=0.2, linewidth=0)
                all_values += [lo, hi]
        ref = as_float(spec.get("reference"))
        if ref is not None:
            ax.axhline(ref, color="#444", linestyle="--", linewidth=1, label=f"reference = {ref:.4g}")
            all_values.append(np.array([ref]))
        ylabel = _clip(spec.get("ylabel") or "", MAX_LABEL)
        if spec.get("logy"):
            ylabel = _apply_logy(ax, all_values, ylabel)
        named = sum(1 for n in series if n) + (ref is not None)
        return _finish(fig, ax, spec, ylabel=ylabel, xlabel=as_text(spec.get("xlabel") or "layer"),
                       n_series=named, id_prefix=id_prefix)


def _draw_bars(spec: dict, id_prefix: str) -> str:
    categories = [_short(c) for c in (spec.get("categories") or [])]
    series = spec.get("series") or {}
    if not isinstance(series, dict) or not categories:
        raise ValueError("bars needs 'categories' and a 'series' dict")
    lo_all, hi_all = spec.get("lo") or {}, spec.get("hi") or {}
    with report_style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.2))
        width = 0.8 / max(len(series), 1)
        x = np.arange(len(categories), dtype=float)
        all_values = []
        for i, (name, vals) in enumerate(series.items()):
            y = _floats(vals)
            if len(y) != len(categories):
                raise ValueError(f"series {name!r} has {len(y)} values for {len(categories)} categories")
            lo, hi = _floats(lo_all.get(name)), _floats(hi_all.get(name))
            yerr = None
            if len(lo) == len(y) and len(hi) == len(y):
                yerr = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
                yerr = np.nan_to_num(yerr, nan=0.0)
                all_values += [lo, hi]
            all_values.append(y)
            ax.bar(x + (i - (len(series) - 1) / 2) * width, np.nan_to_num(y, nan=0.0), width,
                   yerr=yerr, capsize=2, color=colour(i), label=_short(name), ecolor="#333")
        ax.set_xticks(x, categories, rotation=30 if len(categories) > 4 else 0,
                      ha="right" if len(categories) > 4 else "center")
        ax.axhline(0, color="#333", linewidth=0.6)
        ax.grid(axis="x", visible=False)
        ylabel = _clip(spec.get("ylabel") or "", MAX_LABEL)
        if spec.get("logy"):
            ylabel = _apply_logy(ax, all_values, ylabel)
        return _finish(fig, ax, spec, ylabel=ylabel, xlabel=as_text(spec.get("xlabel") or ""),
                       n_series=len(series), id_prefix=id_prefix)


def _draw_curves(spec: dict, id_prefix: str) -> str:
    series = spec.get("series") or {}
    if not isinstance(series, dict) or not series:
        raise ValueError("curves needs a non-empty 'series' dict")
    with report_style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.2))
        all_values = []
        for i, (name, s) in enumerate(series.items()):
            s = s if isinstance(s, dict) else {"y": s}
            y = _floats(s.get("y"))
            x = _floats(s.get("x")) if s.get("x") is not None else np.arange(len(y), dtype=float)
            if len(x) != len(y):
                raise ValueError(f"series {name!r}: x has {len(x)} values, y has {len(y)}")
            ax.plot(x, y, color=colour(i), linewidth=1.2, label=_short(name))
            all_values.append(y)
        ylabel = _clip(spec.get("ylabel") or "", MAX_LABEL)
        if spec.get("logy"):
            ylabel = _apply_logy(ax, all_values, ylabel)
        return _finish(fig, ax, spec, ylabel=ylabel, xlabel=as_text(spec.get("xlabel") or "step"),
                       n_series=len(series), id_prefix=id_prefix)


def _table(spec: dict) -> dict:
    columns = [as_text(c) for c in (spec.get("columns") or [])]
    rows = [[as_text(c) for c in row] if isinstance(row, (list, tuple)) else [as_text(row)]
            for row in (spec.get("rows") or [])]
    return {"columns": columns, "rows": rows}


_DRAWERS: dict[str, Callable[[dict, str], str]] = {
    "profile": _draw_profile,
    "bars": _draw_bars,
    "curves": _draw_curves,
}
PLOT_KINDS = (*_DRAWERS, "table")


def render_plot(spec: Any, *, id_prefix: str) -> RenderedPlot:
    """Render one plot spec; never raises (a broken spec becomes ``RenderedPlot.error``)."""
    if not isinstance(spec, dict):
        return RenderedPlot(kind="?", title="", error="plot spec is not an object")
    kind = str(spec.get("kind") or "")
    title = "" if spec.get("title") is None else as_text(spec.get("title"))
    if kind == "table":
        return RenderedPlot(kind=kind, title=title, table=_table(spec))
    drawer = _DRAWERS.get(kind)
    if drawer is None:
        return RenderedPlot(kind=kind, title=title,
                            error=f"unsupported plot kind {kind!r} (known: {', '.join(PLOT_KINDS)})")
    try:
        return RenderedPlot(kind=kind, title=title, svg=drawer(spec, id_prefix))
    except Exception as exc:  # a bad spec must not take the report down with it
        plt.close("all")
        return RenderedPlot(kind=kind, title=title, error=f"could not draw this plot: {exc}")


def forest_svg(rows: Sequence[dict], *, title: str, xlabel: str, id_prefix: str,
               reference: float | None = None) -> str | None:
    """Forest plot: one line per verdict, estimate marker with CI whiskers.

    ``rows``: dicts with ``label``, ``estimate``, ``lo``, ``hi``, ``status``. Rows without a finite
    estimate are drawn as a label only. Marker shape encodes the status (legend included), so the
    plot reads without colour. Returns None when no row has anything to draw.
    """
    if not rows or all(as_float(r.get("estimate")) is None for r in rows):
        return None
    with report_style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.9 + 0.28 * len(rows)))
        ypos = np.arange(len(rows))[::-1]
        seen: set[str] = set()
        for y, row in zip(ypos, rows):
            est, lo, hi = (as_float(row.get(k)) for k in ("estimate", "lo", "hi"))
            status = row.get("status") if row.get("status") in STATUS_STYLE else "unknown"
            marker, col = STATUS_STYLE[status]
            if lo is not None and hi is not None:
                ax.hlines(y, lo, hi, color=col, linewidth=1.6)
                ax.vlines([lo, hi], y - 0.15, y + 0.15, color=col, linewidth=1.2)
            if est is not None:
                ax.plot([est], [y], marker=marker, color=col, markersize=6, linestyle="none",
                        label=status if status not in seen else None)
                seen.add(status)
        if reference is not None:
            ax.axvline(reference, color="#444", linestyle="--", linewidth=1)
        ax.set_yticks(ypos, [_short(r.get("label")) for r in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(_short(xlabel, MAX_TITLE))
        ax.set_title(_short(title, MAX_TITLE))
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="verdict")
        return figure_to_svg(fig, id_prefix=id_prefix, title=title)
