"""The claims × models matrix: one row per (claim id, variant), one column per model.

A verdict about exactly one model goes in that model's column; a verdict about several models
or none (a panel-level verdict) goes in the ``panel`` column. Tests that were skipped, or that
failed before recording any verdict, show up as ``skipped`` / ``error`` in the column their
parametrisation names (``test_x[model]``), else in ``panel``. A cell holding several verdicts
(several labels, e.g. layers) keeps a count per status.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .format import BADGE_STATUSES, status_of

PANEL = "panel"
_PARAM = re.compile(r"\[([^\]]*)\]\s*$")


@dataclass
class MatrixCell:
    """Counts of verdict statuses in one (row, column) cell."""

    counts: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def items(self) -> list[tuple[str, int]]:
        """``(status, count)`` pairs in the fixed badge order, ``unknown`` last."""
        order = [*BADGE_STATUSES, "unknown"]
        return [(s, self.counts[s]) for s in order if self.counts[s]]


@dataclass
class MatrixRow:
    """One (claim id, variant) row; ``cells`` is aligned with :attr:`Matrix.columns`."""

    claim_id: str
    variant: str
    anchor: str
    cells: list[MatrixCell]


@dataclass
class Matrix:
    columns: list[str]
    rows: list[MatrixRow]


def verdict_column(verdict: dict) -> str:
    """The matrix column of a verdict: its single model, else :data:`PANEL`."""
    models = verdict.get("models") or []
    if isinstance(models, str):
        models = [models]
    return str(models[0]) if len(models) == 1 else PANEL


def column_for_test(nodeid: str, known_models: list[str]) -> str:
    """Guess a test's model column from its parametrisation id, e.g. ``test_g[smollm2-135m]``.

    The longest known model name that is the whole id or a ``-``-separated part of it wins;
    otherwise the test belongs to the ``panel`` column.
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

    ``declared_models`` fixes the column order (models from the run header first, then any model
    only seen in verdicts, then ``panel`` if used). ``claim_order`` orders rows by claim; within a
    claim, variants follow ``variant_order[claim]`` (the claim's declared variants), then first
    appearance. ``anchors`` maps claim id → section id for row links.
    """
    entries: list[tuple[str, str, str, str]] = []   # (claim, variant, column, status)
    seen_models = list(dict.fromkeys(str(m) for m in declared_models))
    for v in verdicts:
        column = verdict_column(v)
        if column != PANEL and column not in seen_models:
            seen_models.append(column)
        entries.append((str(v.get("claim_id") or "?"), str(v.get("variant") or "\u2014"), column,
                        status_of(v.get("status"))))
    for t in tests:
        status = status_for_test(t)
        if status is None or not t.get("claim_id"):
            continue
        entries.append((str(t["claim_id"]), str(t.get("variant") or "\u2014"),
                        column_for_test(t.get("nodeid", ""), seen_models), status))

    columns = [m for m in seen_models if any(e[2] == m for e in entries)]
    if any(e[2] == PANEL for e in entries):
        columns.append(PANEL)
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
    for claim, variant, column, status in entries:
        cells[(claim, variant)][col_index[column]].counts[status] += 1
    rows = [MatrixRow(claim, variant, anchors.get(claim, ""), cells[(claim, variant)])
            for claim, variant in row_keys]
    return Matrix(columns=columns, rows=rows)
