"""Equivalence (TOST): a difference lies within ±margin of zero (or a one-sample target)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dataclasses import replace

from lmclaims.stats import engine, judging
from lmclaims.stats.context import resolve
from lmclaims.stats.engine import SMALL_N
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.exact import refused
from lmclaims.stats.resampling import bootstrap, canonical_order, invert
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

    At :math:`|\\Delta| = m` a false SUPPORTED has probability at most alpha, and just inside the
    margin a false REFUTED at most alpha. ``p_value`` is the TOST p and ``p_refute`` the refutation
    p (interval inversion with level :math:`1-2\\alpha`). Methods matched to n: below 20 units the
    mean difference gets Student / Welch t intervals (a general statistic gets no verdict); from 20
    units BCa with >= 20 resamples beyond each end (20/alpha). When ``statistic`` is ``np.mean``
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
    inside = lambda lo, hi: (lo > -margin) & (hi < margin)  # noqa: E731
    outside = lambda lo, hi: (lo > margin) | (hi < -margin)  # noqa: E731
    batched = x.ndim == 2
    if n < SMALL_N and statistic is np.mean:
        return _t_tost(data, pair, target if b is None else 0.0, margin, opts.alpha, level, n, unit, quantity,
                       labels, batched, x.shape[1] if batched else 1)
    resamples, refusal = engine.resamples_for(opts, tail=opts.alpha, n=n, unit=unit)
    if refusal:
        out = [refused(quantity, reason=refusal, n=n, unit=unit, label=(labels[j] if labels else f"column {j}")
                       if batched else "") for j in range(x.shape[1] if batched else 1)]
        return tuple(out) if batched else out[0]
    r = bootstrap(data, diff, resolved=replace(opts, n_resamples=resamples), paired=pair, confidence_level=level)
    of = lambda al: 1.0 - 2.0 * al  # noqa: E731
    p = invert(r, inside, alpha=opts.alpha, level_of_alpha=of)
    p_r = invert(r, outside, alpha=opts.alpha, level_of_alpha=of)
    supported, refuted = inside(r.low, r.high), outside(r.low, r.high)
    degenerate = r.degenerate
    ttost = _ttost(x, None if b is None else y, margin, target, paired) if statistic is np.mean else None
    rule = (f"supported if the {judging.pct(level)} CI of {quantity} lies wholly inside (-{margin:g}, {margin:g}) "
            f"(TOST at alpha={opts.alpha:g}); refuted if it lies wholly outside; else inconclusive")
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
        lo, hi = float(r.low[idx]), float(r.high[idx])
        extra = {"alpha": opts.alpha, "margin": margin, "target": target if b is None else None, "paired": pair,
                 "ttost_p": None if ttost is None else float(np.atleast_1d(ttost)[j]), "threshold": margin,
                 "min_effect": 0.0, "side": "inside", "direction": _direction(lo, hi, margin),
                 "refuted_as": "outside margin" if status is Status.REFUTED else None,
                 "method_reason": f"{n} {unit}s >= {SMALL_N}: BCa at {judging.pct(level)}, {resamples} resamples",
                 "p_support": float(p[idx]), "p_refute": float(p_r[idx])}
        ev = judging.evidence_from(r, idx, statistic=quantity, unit=unit, n=n, p_value=p[idx], extra=extra)
        label = (labels[j] if labels is not None else f"column {j}") if batched else ""
        out.append(judging.judgement(status, ev, rule, reason=reason, label=label,
                                     p_value=judging.consistent(p[idx], status is Status.SUPPORTED, opts.alpha),
                                     p_refute=judging.consistent(p_r[idx], status is Status.REFUTED, opts.alpha)))
    return tuple(out) if batched else out[0]


def _direction(lo, hi, margin):
    if lo > -margin and hi < margin:
        return "inside"
    return "above" if lo > margin else "below" if hi < -margin else "unresolved"


def _t_tost(data, paired, target, margin, alpha, level, n, unit, quantity, labels, batched, k):
    """TOST on the mean below SMALL_N units: Student t (one sample / paired differences) or Welch,
    interval at 1 - 2 alpha, support p = max of the two one-sided p-values (statsmodels' TOST p),
    refutation p = min of the two one-sided p-values of "beyond +m" / "beyond -m"."""
    import scipy.stats

    data = canonical_order(tuple(data), paired=paired)          # sums independent of unit order
    with np.errstate(all="ignore"):
        if len(data) == 1 or paired:
            d = data[0] - (target if len(data) == 1 else data[1])
            test = lambda shift, alt: scipy.stats.ttest_1samp(d - shift, 0.0, axis=-1, alternative=alt)  # noqa: E731
            est, how = d.mean(axis=-1), "Student t on the (paired) differences"
        else:
            test = lambda shift, alt: scipy.stats.ttest_ind(data[0] - shift, data[1], axis=-1, equal_var=False,  # noqa: E731
                                                            alternative=alt)
            est, how = data[0].mean(axis=-1) - data[1].mean(axis=-1), "Welch t"
        ci = test(0.0, "two-sided").confidence_interval(confidence_level=level)
        p_above_low = np.asarray(test(-margin, "greater").pvalue, dtype=float)    # H0: delta <= -m
        p_below_high = np.asarray(test(margin, "less").pvalue, dtype=float)       # H0: delta >= m
        p_beyond_high = np.asarray(test(margin, "greater").pvalue, dtype=float)   # H0: delta <= m
        p_beyond_low = np.asarray(test(-margin, "less").pvalue, dtype=float)      # H0: delta >= -m
    est, low, high = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (est, ci.low, ci.high))
    p_s = np.atleast_1d(np.maximum(p_above_low, p_below_high))
    p_r = np.atleast_1d(np.minimum(p_beyond_high, p_beyond_low))
    rule = (f"supported if the {judging.pct(level)} t interval of {quantity} lies wholly inside (-{margin:g}, "
            f"{margin:g}) (TOST at alpha={alpha:g}); refuted if wholly outside; else inconclusive")
    out = []
    for j in range(k):
        lo, hi = float(low[j]), float(high[j])
        degenerate = not (np.isfinite(lo) and np.isfinite(hi))
        supported, refuted = lo > -margin and hi < margin, lo > margin or hi < -margin
        status = judging.status_of(supported, refuted, degenerate)
        cit = f"the {judging.pct(level)} CI [{judging.fmt(lo)}, {judging.fmt(hi)}]"
        reason = (judging.DEGENERATE_REASON if degenerate else {Status.SUPPORTED: f"{cit} lies inside ±{margin:g}",
                  Status.REFUTED: f"{cit} lies wholly outside ±{margin:g}",
                  Status.INCONCLUSIVE: f"{cit} crosses ±{margin:g}"}[status])
        ps, pr = (float(np.nan_to_num(v[j], nan=1.0)) for v in (p_s, p_r))
        extra = {"alpha": alpha, "margin": margin, "threshold": margin, "min_effect": 0.0, "side": "inside",
                 "direction": _direction(lo, hi, margin), "paired": paired,
                 "refuted_as": "outside margin" if status is Status.REFUTED else None,
                 "method_reason": f"{n} {unit}s < {SMALL_N}: {how} TOST (bootstrap intervals under-cover this small)",
                 "p_support": ps, "p_refute": pr}
        ev = Evidence(statistic=quantity, estimate=float(est[j]), confidence_interval=ConfidenceInterval(lo, hi), n=n,
                      unit=unit, method=f"{how} (scipy.stats), units: {unit}s", confidence_level=level, seed=None,
                      p_value=ps, extra=extra)
        label = (labels[j] if labels is not None else f"column {j}") if batched else ""
        out.append(judging.judgement(status, ev, rule, reason=reason, label=label,
                                     p_value=judging.consistent(ps, status is Status.SUPPORTED, alpha),
                                     p_refute=judging.consistent(pr, status is Status.REFUTED, alpha)))
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
