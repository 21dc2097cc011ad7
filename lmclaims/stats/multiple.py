"""Multiple comparisons over a family of verdicts (``statsmodels.stats.multitest.multipletests``).

``holm`` (Holm 1979, step-down Bonferroni) controls the family-wise error rate; with sorted
p-values :math:`p_{(1)} \\le \\dots \\le p_{(m)}` the adjusted values are
:math:`\\tilde p_{(i)} = \\max_{j \\le i} \\min(1, (m - j + 1)\\, p_{(j)})`.
``fdr_bh`` (Benjamini-Hochberg) controls the false discovery rate:
:math:`\\tilde p_{(i)} = \\min_{j \\ge i} \\min(1, m\\, p_{(j)} / j)`.
Both satisfy :math:`\\tilde p_i \\le m\\, p_i`, so a p-value that passed Bonferroni
(:math:`p_i \\le \\alpha/m`) stays significant after adjustment.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence

import numpy as np
from statsmodels.stats.multitest import multipletests

CORRECTIONS = ("holm", "fdr_bh", "none")


def adjust(p_values: Sequence[float | None], method: str = "holm") -> list[float | None]:
    """Adjusted p-values, in input order. ``None``/NaN entries are left out of the family and
    stay ``None``; ``method="none"`` returns the raw values."""
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; choose one of {CORRECTIONS}")
    raw = [None if p is None or not np.isfinite(p) else float(p) for p in p_values]
    for p in raw:
        if p is not None and not 0.0 <= p <= 1.0:
            raise ValueError(f"p-values must lie in [0, 1], got {p}")
    present = [i for i, p in enumerate(raw) if p is not None]
    if method == "none" or not present:
        return raw
    adjusted = corrected([raw[i] for i in present], method)
    out: list[float | None] = [None] * len(raw)
    for i, a in zip(present, adjusted):
        out[i] = float(a)
    return out


def corrected(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """``multipletests(p_values, method=method)[1]``: the adjusted p-values (no ``None`` handling).

    statsmodels 0.15's Holm branch ends with an explicit ``gc.collect()``, which costs ~40 ms per
    call once torch is imported (a full collection of every live object); the calibration
    simulations call Holm ~10^4 times. That one call is suppressed for the duration of the
    statsmodels call; the arithmetic is statsmodels' own.

    >>> corrected([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    with _without_explicit_gc():
        return np.asarray(multipletests(np.asarray(p_values, dtype=float), method=method)[1], dtype=float)


@contextlib.contextmanager
def _without_explicit_gc() -> Iterator[None]:
    """Make ``gc.collect`` a no-op while statsmodels runs (automatic collection is untouched)."""
    original = gc.collect
    gc.collect = lambda *args, **kwargs: 0
    try:
        yield
    finally:
        gc.collect = original


def bonferroni_level(confidence_level: float, family_size: int, correction: str = "holm") -> float:
    """Per-test confidence level :math:`1 - \\alpha/m` used while a test runs (``none``: unchanged)."""
    if family_size < 1:
        raise ValueError(f"family_size must be >= 1, got {family_size}")
    if correction == "none":
        return confidence_level
    return 1.0 - (1.0 - confidence_level) / family_size
