"""Matplotlib figure → lean inline ``<svg>`` text, safe to paste into an HTML page.

* Text stays text (``svg.fonttype = "none"``): small files, selectable labels, and matplotlib's
  SVG writer XML-escapes every string, so a model name such as ``<script>`` arrives as
  ``&lt;script&gt;``. Strings from the JSON go through :func:`plain_text` first, which escapes
  ``$`` so they are never parsed as mathtext (a stray ``$`` would otherwise raise or garble the
  text); matplotlib's own tick labels (``10^{-1}``) keep their mathtext.
* The XML prolog, DOCTYPE and ``<metadata>`` (with its timestamp) are dropped, ids that nothing
  references are dropped, and every other ``id`` (and each ``#ref`` to it) gets a caller-chosen
  prefix, so many figures can live in one page without id clashes.
* Geometry is rounded to 0.1 px (``d``, ``x``, ``y``, ``transform`` … attribute values only; text
  is never touched) and path data loses its line breaks; the font family, written on every
  ``<text>``, moves to one page CSS rule (:data:`SVG_FONT_CSS`); indentation goes. Matplotlib's
  verbose output made the plots most of the 1.9 MB page of issue 16.
* Figures are always closed, even when saving fails.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from .format import clean_text  # noqa: E402

#: rcParams applied while a report figure is built and saved.
REPORT_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "lmclaims",          # deterministic clip-path ids
    "text.usetex": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.dpi": 72,
}

#: Colour-blind-safe palette (Okabe–Ito) for series.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_HREF = re.compile(r'(\bxlink:href|\bhref)="#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")
_GEOMETRY = re.compile(r'(\s(?:d|x|y|x1|x2|y1|y2|width|height|transform|points|viewBox)=")([^"]*)"')
_DECIMALS = re.compile(r"(-?\d+\.\d)\d+")
_PATH_SPACE = re.compile(r"\s*\n\s*|(?<=[MLCQZz])\s+")
_FONT = re.compile(r"font-family: [^;\"]*;? ?")
_NO_ROTATE = re.compile(r' transform="rotate\(-?0 [^)]*\)"')
_INDENT = re.compile(r">\s*\n\s*<")
#: Font of every SVG text, set once in the page's CSS instead of on each ``<text>``.
SVG_FONT_CSS = "svg.plot text { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; }"


def _compact(value: str) -> str:
    """Geometry attribute value rounded to 0.1 and, for path data, without line breaks."""
    return _PATH_SPACE.sub(lambda m: "" if "\n" in m.group(0) or m.group(0).isspace() else m.group(0),
                           _DECIMALS.sub(r"\1", value)).strip()


@contextlib.contextmanager
def report_style() -> Iterator[None]:
    """Context in which report figures are created and saved (see :data:`REPORT_RC`)."""
    with matplotlib.rc_context(REPORT_RC):
        yield


def plain_text(text: str) -> str:
    """``text`` made safe from mathtext (every ``$`` escaped, so matplotlib draws it as is) and
    from control / bidi characters (:func:`lmclaims.report.format.clean_text`)."""
    return clean_text(text).replace("$", r"\$")


def colour(i: int) -> str:
    """The ``i``-th series colour, cycling through :data:`PALETTE`."""
    return PALETTE[i % len(PALETTE)]


def figure_to_svg(fig, *, id_prefix: str, title: str = "") -> str:
    """Serialise ``fig`` to inline SVG text and close it.

    Parameters
    ----------
    fig : matplotlib Figure, built inside :func:`report_style`.
    id_prefix : prefix for every element id, unique within the page (e.g. ``"fig3-"``).
    title : accessible name of the image (``aria-label``); escaped here.
    """
    try:
        buf = io.StringIO()
        with report_style():
            fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    finally:
        plt.close(fig)
    return clean_svg(buf.getvalue(), id_prefix=id_prefix, title=title)


def clean_svg(svg: str, *, id_prefix: str, title: str = "") -> str:
    """Strip the prolog and metadata from matplotlib's SVG text and prefix its ids."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = _METADATA.sub("", svg, count=1)
    used = {m.group(2) for m in _HREF.finditer(svg)} | {m.group(1) for m in _URL.finditer(svg)}
    # ids nothing points at (matplotlib names every group: line2d_1, xtick_3 ...) are dropped
    svg = _ID.sub(lambda m: f'id="{id_prefix}{m.group(1)}"' if m.group(1) in used else "", svg)
    svg = re.sub(r"<g\s*>", "<g>", svg)
    svg = _HREF.sub(lambda m: f'{m.group(1)}="#{id_prefix}{m.group(2)}"', svg)
    svg = _URL.sub(lambda m: f"url(#{id_prefix}{m.group(1)})", svg)
    svg = _GEOMETRY.sub(lambda m: m.group(1) + _compact(m.group(2)) + '"', svg)
    svg = _FONT.sub("", svg)                      # the page's CSS sets the font once (svg.plot text)
    svg = _NO_ROTATE.sub("", svg)
    svg = _INDENT.sub(">\n<", svg)
    label = html.escape(clean_text(title or "plot"), quote=True)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{label}" class="plot" ', 1)
    return svg.strip()
