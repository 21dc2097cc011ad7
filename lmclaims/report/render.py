"""Render ``reports/claims.json`` (as a dict) to ONE self-contained HTML file.

The page needs no JavaScript and loads nothing from the network: CSS is inline, plots are inline
SVG drawn by matplotlib, and a Content-Security-Policy meta tag forbids scripts and remote
resources as a second line of defence. Every string from the JSON is escaped by Jinja2's
autoescape; only SVG produced by :mod:`lmclaims.report.plots` is inserted unescaped.

Examples
--------
>>> import json, pathlib
>>> from lmclaims.report.render import render_html
>>> report = json.loads(pathlib.Path("reports/claims.json").read_text())   # doctest: +SKIP
>>> render_html(report, pathlib.Path("reports/claims.html"))              # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import pathlib
import tempfile

import jinja2

from .format import STATUS_GLYPHS, fmt_num
from .view import build_view

TEMPLATE_DIR = pathlib.Path(__file__).parent / "templates"
PAGE_TEMPLATE = "report.html.j2"


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment: autoescape on for every template, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["glyphs"] = STATUS_GLYPHS
    env.filters["num"] = fmt_num
    return env


def render_string(report: dict) -> str:
    """The report page as a string (see :func:`render_html`)."""
    return environment().get_template(PAGE_TEMPLATE).render(view=build_view(report))


def render_html(report: dict, out_path: pathlib.Path) -> None:
    """Write the HTML report for ``report`` (a claims.json dict) to ``out_path``.

    The parent directory is created if needed; the file is written atomically (temp file +
    rename) so a reader never sees half a page. Never fails on an empty or partial report.
    """
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    text = render_string(report)
    fd, tmp = tempfile.mkstemp(prefix=".claims-", suffix=".html", dir=out_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)        # mkstemp creates 0600; a report is meant to be read
        os.replace(tmp, out_path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
