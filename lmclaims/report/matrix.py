"""The claims × models matrix: one row per (claim id, variant), one column per panel model.

A verdict about exactly one panel model goes in that model's column. Everything else — a verdict
about several models at once, about the paper's own numbers, a training sweep, a model outside the
panel — is a *panel-level* verdict: it goes in the row's ``panel & other`` cell, labelled with who
it is about (``panel``, ``paper``, ``tiny-llama-sweep``, ``8 models``). A row that holds only
panel-level verdicts shows them in one cell spanning every column, so nothing sits behind a
horizontal scroll bar. Tests that were skipped or failed before recording a verdict show up as
``skipped`` / ``error`` in the column their parametrisation names (``test_x[model]``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .format import BADGE_STATUSES, status_of

PANEL = "panel & other"
_PARAM = re.compile(r"\[([^\]]*)\]\s*$")


@dataclass
class MatrixCell:
    """Counts of verdict statuses in one (row, column) cell; ``who`` splits panel-level counts."""

    counts: Counter = field(default_factory=Counter)
    who: dict = field(default_factory=dict)        # who → Counter (panel-level cell only)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def items(self) -> list[tuple[str, int]]:
        """``(status, count)`` pairs in the fixed badge order, ``unknown`` last."""
        return _ordered(self.counts)

    def groups(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """``(who, [(status, count), ...])`` for a panel-level cell."""
        return [(w, _ordered(c)) for w, c in self.who.items()]


def _ordered(counts: Counter) -> list[tuple[str, int]]:
    return [(s, counts[s]) for s in (*BADGE_STATUSES, "unknown") if counts[s]]


@dataclass
class MatrixRow:
    """One (claim id, variant) row; ``cells`` is aligned with :attr:`Matrix.columns`."""

    claim_id: str
    variant: str
    anchor: str
    cells: list[MatrixCell]

    @property
    def panel_only(self) -> bool:
        """True when every verdict of the row is panel-level (the row shows one spanning cell)."""
        return all(c.total == 0 for c in self.cells[:-1])


@dataclass
class Matrix:
    columns: list[str]
    rows: list[MatrixRow]


def who_of(models: list[str], panel: list[str]) -> str:
    """The label of a panel-level verdict: ``panel`` (the whole declared panel), the single
    non-panel model's name, ``N models``, or ``panel-level`` when it names no model.

    >>> who_of(["a", "b"], ["a", "b"]), who_of(["paper"], ["a"]), who_of(["x", "y", "z"], ["a"])
    ('panel', 'paper', '3 models')
    """
    if not models:
        return "panel-level"
    if panel and set(models) == set(panel):
        return "panel"
    if len(models) == 1:
        return str(models[0])
    if set(models) <= set(panel):
        return ", ".join(models) if len(models) <= 2 else f"{len(models)} panel models"
    return f"{len(models)} models"


def verdict_models(verdict: dict) -> list[str]:
    models = verdict.get("models") or []
    return [models] if isinstance(models, str) else [str(m) for m in models]


def column_for_test(nodeid: str, known_models: list[str]) -> str:
    """Guess a test's model column from its parametrisation id, e.g. ``test_g[smollm2-135m]``.

    The longest known model name that is the whole id or a ``-``-separated part of it wins;
    otherwise the test belongs to the :data:`PANEL` column.
    """
    m = _PARAM.search(str(nodeid or ""))
    if not m:
        return PANEL
    param = m.group(1)
    best = ""
    for model in known_models:
        if not model or len(model) <= len(best):
            continue
        if (param == model or param.startswith(model + "-") or param.endswith("-" + model)
                or f"-{model}-" in param):
            best = model
    return best or PANEL


def status_for_test(test: dict) -> str | None:
    """Matrix status of a test that recorded no verdict: ``skipped``, ``error`` or None."""
    if test.get("verdict_keys"):
        return None
    outcome = str(test.get("outcome") or "").lower()
    if outcome == "skipped":
        return "skipped"
    if outcome in {"failed", "error"}:
        return "error"
    return None


def build_matrix(verdicts: list[dict], tests: list[dict], *, declared_models: list[str],
                 claim_order: list[str], anchors: dict[str, str],
                 variant_order: dict[str, list[str]] | None = None) -> Matrix:
    """Build the matrix from verdict dicts and test dicts (see ``SCHEMA.md``).

    ``declared_models`` (the run's panel) are the only model columns, in that order, and only those
    with a single-model verdict or test; the last column is always :data:`PANEL`. ``claim_order``
    orders rows by claim; within a claim, variants follow ``variant_order[claim]``, then first
    appearance. ``anchors`` maps claim id → card id for row links.
    """
    panel = list(dict.fromkeys(str(m) for m in declared_models))
    entries: list[tuple[str, str, str, str, str]] = []   # (claim, variant, column, who, status)
    for v in verdicts:
        models = verdict_models(v)
        single = len(models) == 1 and models[0] in panel
        entries.append((str(v.get("claim_id") or "?"), str(v.get("variant") or "\u2014"),
                        models[0] if single else PANEL, "" if single else who_of(models, panel),
                        status_of(v.get("status"))))
    for t in tests:
        status = status_for_test(t)
        if status is None or not t.get("claim_id"):
            continue
        column = column_for_test(t.get("nodeid", ""), panel)
        entries.append((str(t["claim_id"]), str(t.get("variant") or "\u2014"), column,
                        "" if column != PANEL else "not run", status))

    columns = [m for m in panel if any(e[2] == m for e in entries)] + [PANEL]
    rank = {c: i for i, c in enumerate(claim_order)}
    row_keys = list(dict.fromkeys((e[0], e[1]) for e in entries))
    declared = variant_order or {}

    def row_rank(key: tuple[str, str]) -> tuple[int, int]:
        variants = declared.get(key[0], [])
        return (rank.get(key[0], len(rank)),
                variants.index(key[1]) if key[1] in variants else len(variants))

    row_keys.sort(key=row_rank)      # stable: undeclared variants keep first-seen order
    cells = {k: [MatrixCell() for _ in columns] for k in row_keys}
    col_index = {c: i for i, c in enumerate(columns)}
    for claim, variant, column, who, status in entries:
        cell = cells[(claim, variant)][col_index[column]]
        cell.counts[status] += 1
        if column == PANEL:
            cell.who.setdefault(who, Counter())[status] += 1
    rows = [MatrixRow(claim, variant, anchors.get(claim, ""), cells[(claim, variant)])
            for claim, variant in row_keys]
    return Matrix(columns=columns, rows=rows)
