"""Equivalence (TOST): a difference lies within ±margin of zero (or a one-sample target)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import Judgement, Status
from lmclaims.stats.resampling import bootstrap, invert, thin_tail_caveat
from lmclaims.stats.validation import same_units, statistic_name, units_array, vectorized


def equivalent(a, b=None, *, margin: float, paired: bool = True, target: float = 0.0, statistic: Callable = np.mean,
               unit: str = "text", names: tuple[str, str] = ("a", "b"), labels: Sequence[str] | None = None,
               confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
               method: str | None = None) -> Judgement | tuple[Judgement, ...]:
    """Claim: two conditions are equivalent within ``margin``,
    :math:`|\\Delta| < m` with :math:`\\Delta = \\mathrm{statistic}(a) - \\mathrm{statistic}(b)`
    (or :math:`\\Delta = \\mathrm{statistic}(a) - \\text{target}` when ``b`` is None).

    Two one-sided tests (TOST) in interval form: with the two-sided bootstrap interval
    :math:`[L, U]` of :math:`\\Delta` at level :math:`1 - 2\\alpha` (90% for alpha = 0.05),

    * SUPPORTED    if :math:`-m < L` and :math:`U < m` (each one-sided test at level alpha);
    * REFUTED      if :math:`L > m` or :math:`U < -m` (the difference lies wholly outside);
    * INCONCLUSIVE otherwise.

    At :math:`|\\Delta| = m` a false SUPPORTED has probability at most alpha. ``p_value`` is the
    TOST p (interval inversion with level :math:`1-2\\alpha`). When ``statistic`` is ``np.mean``
    the parametric statsmodels TOST (``ttost_paired`` / ``ttost_ind``, Welch) p-value is recorded
    as ``evidence.extra["ttost_p"]`` as a cross-check. 2-D inputs give one judgement per column.
    """
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a finite number > 0, got {margin!r}")
    opts = resolve(confidence_level, n_resamples, rng, method)
    x = units_array(a, name=names[0])
    stat = vectorized(statistic)
    sname = statistic_name(statistic)
    if b is None:
        data, pair = (np.moveaxis(x, 0, -1),), False
        diff = lambda u, axis=-1: stat(u, axis=axis) - target  # noqa: E731
        quantity, n = f"{sname}({names[0]}) - {target:g}", x.shape[0]
    else:
        y = units_array(b, name=names[1])
        if paired:
            same_units(x, y, names=names)
        data, pair = (np.moveaxis(x, 0, -1), np.moveaxis(y, 0, -1)), paired
        diff = lambda u, v, axis=-1: stat(u, axis=axis) - stat(v, axis=axis)  # noqa: E731
        quantity, n = f"{sname}({names[0]}) - {sname}({names[1]})", min(x.shape[0], y.shape[0])
    level = 1.0 - 2.0 * opts.alpha
    if level <= 0:
        raise ValueError(f"confidence_level {opts.confidence_level} leaves no TOST interval (needs alpha < 0.5)")
    r = bootstrap(data, diff, resolved=opts, paired=pair, confidence_level=level)
    inside = lambda lo, hi: (lo > -margin) & (hi < margin)  # noqa: E731
    p = invert(r, inside, alpha=opts.alpha, level_of_alpha=lambda al: 1.0 - 2.0 * al)
    supported, refuted = inside(r.low, r.high), (r.low > margin) | (r.high < -margin)
    degenerate = r.degenerate
    ttost = _ttost(x, None if b is None else y, margin, target, paired) if statistic is np.mean else None
    rule = (f"supported if the {judging.pct(level)} CI of {quantity} lies wholly inside (-{margin:g}, {margin:g}) "
            f"(TOST at alpha={opts.alpha:g}); refuted if it lies wholly outside; else inconclusive")
    batched = x.ndim == 2
    indices = list(np.ndindex(r.estimate.shape))
    out = []
    for j, idx in enumerate(indices):
        status = judging.status_of(bool(supported[idx]), bool(refuted[idx]), bool(degenerate[idx]))
        ci = f"the {judging.pct(level)} CI [{judging.fmt(r.low[idx])}, {judging.fmt(r.high[idx])}]"
        reason = {Status.SUPPORTED: f"{ci} lies inside ±{margin:g}",
                  Status.REFUTED: f"{ci} lies wholly outside ±{margin:g}",
                  Status.INCONCLUSIVE: f"{ci} crosses ±{margin:g}"}[status]
        if degenerate[idx]:
            reason = judging.DEGENERATE_REASON
        extra = {"alpha": opts.alpha, "margin": margin, "target": target if b is None else None, "paired": pair,
                 "ttost_p": None if ttost is None else float(np.atleast_1d(ttost)[j])}
        ev = judging.evidence_from(r, idx, statistic=quantity, unit=unit, n=n, p_value=p[idx], extra=extra)
        label = (labels[j] if labels is not None else f"column {j}") if batched else ""
        out.append(judging.judgement(status, ev, rule, p_value=p[idx], reason=reason, label=label,
                                     caveats=thin_tail_caveat(r.n_resamples, level)))
    return tuple(out) if batched else out[0]


def _ttost(x, y, margin, target, paired):
    """statsmodels TOST p-value(s) for the mean, one per column."""
    from statsmodels.stats.weightstats import ttost_ind, ttost_paired

    x2 = x.reshape(x.shape[0], -1)
    y2 = None if y is None else y.reshape(y.shape[0], -1)
    out = []
    with np.errstate(all="ignore"):
        for j in range(x2.shape[1]):
            if y2 is None:
                p = ttost_paired(x2[:, j], np.full(x2.shape[0], target), -margin, margin)[0]
            elif paired:
                p = ttost_paired(x2[:, j], y2[:, j], -margin, margin)[0]
            else:
                p = ttost_ind(x2[:, j], y2[:, j], -margin, margin, usevar="unequal")[0]
            out.append(float(p))
    return np.array(out)
