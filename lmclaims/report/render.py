"""Render ``reports/claims.json`` (as a dict) to ONE self-contained HTML file.

The page needs no JavaScript and loads nothing from the network: CSS is inline, plots are inline
SVG drawn by matplotlib, and a Content-Security-Policy meta tag forbids scripts and remote
resources as a second line of defence. Every string from the JSON is escaped by Jinja2's
autoescape after control and bidi characters are replaced (``finalize`` =
:func:`~lmclaims.report.format.clean_text`); only SVG produced by matplotlib is inserted unescaped.

:func:`write_all` writes ``claims.html`` and ``claims.csv`` (one row per verdict and measurement)
beside each other: the call the plugin makes at session end.

Examples
--------
>>> import json, pathlib
>>> from lmclaims.report.render import render_html
>>> report = json.loads(pathlib.Path("reports/claims.json").read_text())   # doctest: +SKIP
>>> render_html(report, pathlib.Path("reports/claims.html"))              # doctest: +SKIP
>>> write_all(report, pathlib.Path("reports"))          # claims.html + claims.csv  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import pathlib
import tempfile

import jinja2
from markupsafe import Markup

from .csv import verdicts_csv
from .format import STATUS_GLYPHS, clean_text, fmt_num
from .view import build_view

TEMPLATE_DIR = pathlib.Path(__file__).parent / "templates"
PAGE_TEMPLATE = "report.html.j2"


def _finalize(value):
    """Every ``{{ }}`` output: JSON text loses control/bidi characters; pre-built SVG is kept."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return clean_text(value)


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
        finalize=_finalize,
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
    write_text_atomic(pathlib.Path(out_path), render_string(report))


def write_all(report: dict, out_dir: pathlib.Path, *, stem: str = "claims") -> list[pathlib.Path]:
    """Write ``<stem>.html`` and ``<stem>.csv`` for ``report`` into ``out_dir``; returns the paths."""
    out_dir = pathlib.Path(out_dir)
    html_path, csv_path = out_dir / f"{stem}.html", out_dir / f"{stem}.csv"
    render_html(report, html_path)
    write_text_atomic(csv_path, verdicts_csv(report))
    return [html_path, csv_path]


def write_text_atomic(out_path: pathlib.Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``out_path`` via a temp file and ``os.replace``; mode 0644."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    suffix = out_path.suffix or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.stem}-", suffix=suffix, dir=out_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)        # mkstemp creates 0600; a report is meant to be read
        os.replace(tmp, out_path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
