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

from collections.abc import Sequence

import numpy as np

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
    from statsmodels.stats.multitest import multipletests

    adjusted = multipletests([raw[i] for i in present], method=method)[1]
    out: list[float | None] = [None] * len(raw)
    for i, a in zip(present, adjusted):
        out[i] = float(a)
    return out


def bonferroni_level(confidence_level: float, family_size: int, correction: str = "holm") -> float:
    """Per-test confidence level :math:`1 - \\alpha/m` used while a test runs (``none``: unchanged)."""
    if family_size < 1:
        raise ValueError(f"family_size must be >= 1, got {family_size}")
    if correction == "none":
        return confidence_level
    return 1.0 - (1.0 - confidence_level) / family_size
