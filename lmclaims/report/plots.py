"""Plot specs (plain JSON dicts carried by verdicts) → inline SVG or an HTML table.

Spec kinds (see ``SCHEMA.md``):

``profile``  per-layer curve with a CI band and an optional horizontal ``reference`` line; either
             one ``x/y/lo/hi`` or ``series: {name: {x, y, lo, hi}}`` for several models on one axis.
``bars``     grouped bars ``categories × series`` with ``lo``/``hi`` error bars.
``curves``   ``series: {name: {x, y}}`` lines, e.g. training-loss curves.
``table``    ``columns`` + ``rows``: not an image; returned as data for the template (escaped there).

Verdict plots (forest, per-layer profile of verdicts) live in :mod:`lmclaims.report.forest`.
``logy`` — or values that span orders of magnitude (:mod:`lmclaims.report.scales`) — gives a log
axis when every value is positive and a symlog axis otherwise, and the axis label says which.
Bars over many layers (``L0`` … ``L29``) are drawn as lines with CI bands, not 30 bar groups. A spec that cannot be drawn yields a :class:`RenderedPlot` with ``error`` set
instead of breaking the whole report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .format import as_float, as_text
from .forest import forest_svg, layer_number  # noqa: F401  (forest_svg re-exported)
from .scales import apply_scale
from .svg import colour, figure_to_svg, plain_text, plt, report_style

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


def _apply_logy(ax, values: Sequence[np.ndarray], ylabel: str, spec: dict) -> str:
    """Log / symlog y axis when the spec asks (``logy``) or the values span orders of magnitude."""
    return apply_scale(ax, "y", list(values), ylabel, force=bool(spec.get("logy")))


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
            ax.plot(x, y, marker="." if len(y) <= 24 else None, color=colour(i),   # a dot per point
                    label=_short(name) if name else None)                      # only when few
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
        ylabel = _apply_logy(ax, all_values, ylabel, spec)
        named = sum(1 for n in series if n) + (ref is not None)
        return _finish(fig, ax, spec, ylabel=ylabel, xlabel=as_text(spec.get("xlabel") or "layer"),
                       n_series=named, id_prefix=id_prefix)


def _bars_as_layer_profile(spec: dict) -> dict | None:
    """A bars spec over many layers (``L0`` … ``Ln``) as a profile spec: lines with CI bands."""
    raw = spec.get("categories") or []
    layers = [layer_number(c) for c in raw]
    series = spec.get("series")
    if len(raw) <= 8 or None in layers or not isinstance(series, dict):
        return None
    lo_all, hi_all = spec.get("lo") or {}, spec.get("hi") or {}
    return {**spec, "kind": "profile", "xlabel": spec.get("xlabel") or "layer", "series": {
        str(name): {"x": layers, "y": vals, "lo": lo_all.get(name), "hi": hi_all.get(name)}
        for name, vals in series.items()}}


def _draw_bars(spec: dict, id_prefix: str) -> str:
    as_profile = _bars_as_layer_profile(spec)
    if as_profile is not None:
        return _draw_profile(as_profile, id_prefix)
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
        ylabel = _apply_logy(ax, all_values, ylabel, spec)
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
        ylabel = _apply_logy(ax, all_values, ylabel, spec)
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
