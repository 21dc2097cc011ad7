"""Probe protocol: a named, versioned, pure measurement fed batch by batch by the engine.

A probe is a frozen dataclass (its fields are its parameters) with ``name``, ``version`` and
``accumulator(lm, view)``; the accumulator's ``update(batch)`` consumes one engine ``Batch`` and
``finish()`` returns ``{array name: np.ndarray}``. Per-token probes return ragged rows with
``text_index`` (position of the text in the view) and ``position`` columns, so every claim can
aggregate per text — the text is the bootstrap unit, never the token. Bump ``version`` whenever
the numbers a probe produces change; the cache key includes it.

A probe declares the named sites it reads (``sites(adapter)``, names of
:mod:`lmclaims.models.sites`); the engine captures those and nothing a probe did not declare is
readable from its batch (``lmclaims.engine.capture``). The default is the whole residual stream.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lmclaims.engine.capture import residual_sites


@dataclass(frozen=True)
class Probe:
    name = "probe"
    version = 1

    def params(self) -> dict:
        return asdict(self)

    def sites(self, adapter) -> tuple[str, ...]:
        """The named sites this probe reads from a batch: by default the whole residual stream
        (``resid_pre.0`` and every ``resid_post.{l}``); override to read less or other sites."""
        return residual_sites(adapter.n_layers)

    def accumulator(self, lm, view):  # pragma: no cover - interface
        raise NotImplementedError


def last_residual(adapter) -> tuple[str, ...]:
    """``(resid_post.{L-1},)``: the stream entering the final norm, all a next-token readout needs."""
    return (f"resid_post.{adapter.n_layers - 1}",)


class RowAccumulator:
    """Collects per-row arrays over batches and concatenates them at the end."""

    def __init__(self):
        self._cols: dict[str, list[np.ndarray]] = {}

    def add(self, **cols: np.ndarray) -> None:
        for k, v in cols.items():
            self._cols.setdefault(k, []).append(np.asarray(v))

    def finish(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v, axis=0) for k, v in self._cols.items()}


def per_text(values: np.ndarray, text_index: np.ndarray, n_texts: int, reduce=np.mean) -> np.ndarray:
    """Reduce per-token rows to one value (or row) per text: ``out[t] = reduce(values[text_index == t])``.

    Texts with no rows give NaN (callers drop them and say so).
    """
    values = np.asarray(values)
    out = np.full((n_texts,) + values.shape[1:], np.nan)
    order = np.argsort(text_index, kind="stable")
    ti = text_index[order]
    bounds = np.searchsorted(ti, np.arange(n_texts + 1))
    for t in range(n_texts):
        a, b = bounds[t], bounds[t + 1]
        if b > a:
            out[t] = reduce(values[order[a:b]], axis=0)
    return out
