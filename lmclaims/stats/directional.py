"""Directional claims: a quantity lies above / below a threshold, or one condition exceeds another.

All three share the directional rule of :mod:`lmclaims.stats.judging`: with a two-sided
bootstrap interval :math:`[L, U]` at level :math:`1-\\alpha` for :math:`\\theta`,
SUPPORTED if the interval lies wholly on the claim's side of :math:`t \\pm \\delta`,
REFUTED if wholly on the other side, INCONCLUSIVE otherwise.

Vectorised use: a 2-D ``values`` array ``[units, k]`` gives ``k`` judgements (one per column,
e.g. per layer) from one vectorised bootstrap; ``threshold`` may then be a length-``k`` array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import Judgement
from lmclaims.stats.resampling import bootstrap, invert, thin_tail_caveat
from lmclaims.stats.validation import same_units, statistic_name, units_array, vectorized


def above(values, threshold, *, min_effect: float = 0.0, statistic: Callable = np.mean, unit: str = "text",
          name: str = "values", labels: Sequence[str] | None = None, confidence_level: float | None = None,
          n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement | tuple[Judgement, ...]:
    """Claim: :math:`\\theta = \\mathrm{statistic}(\\text{values}) > \\text{threshold}`.

    Parameters
    ----------
    values : array [units] or [units, k]
        One number per independent unit (text, model, seed); never per token.
    threshold : float or array [k]
        The claimed bound :math:`t`.
    min_effect : float, default 0
        Indifference margin :math:`\\delta`: SUPPORTED needs :math:`L > t + \\delta`, REFUTED
        needs :math:`U < t - \\delta`, where :math:`[L, U]` is the BCa bootstrap interval of
        :math:`\\theta` at ``confidence_level`` (two-sided, resampling units).
    statistic : callable, default ``np.mean``
        Reduces the unit axis; must accept ``axis=`` to be fast.
    unit, name : str
        What a unit is, and what the values are called (for the rule text).
    labels : sequence of str, optional
        Labels of the ``k`` columns of a 2-D ``values`` (default ``"column j"``).
    confidence_level, n_resamples, rng, method
        Resampling options; ``None`` takes the active settings (see :mod:`lmclaims.stats.context`).

    Returns
    -------
    Judgement, or a tuple of ``k`` judgements for 2-D ``values``. ``p_value`` is the smallest
    alpha at which the rule gives SUPPORTED (interval inversion, :mod:`lmclaims.stats.resampling`).

    Examples
    --------
    >>> import numpy as np
    >>> from lmclaims.stats.assertions import above
    >>> j = above(np.random.default_rng(0).normal(1.0, 0.1, 50), 0.9, n_resamples=999, rng=1)
    >>> j.status.value
    'supported'
    """
    return _one_sample(values, threshold, +1, min_effect=min_effect, statistic=statistic, unit=unit, name=name,
                       labels=labels, options=(confidence_level, n_resamples, rng, method))


def below(values, threshold, *, min_effect: float = 0.0, statistic: Callable = np.mean, unit: str = "text",
          name: str = "values", labels: Sequence[str] | None = None, confidence_level: float | None = None,
          n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement | tuple[Judgement, ...]:
    """Claim: :math:`\\theta = \\mathrm{statistic}(\\text{values}) < \\text{threshold}`.

    Mirror image of :func:`above`: SUPPORTED if :math:`U < t - \\delta`, REFUTED if
    :math:`L > t + \\delta`, else INCONCLUSIVE.
    """
    return _one_sample(values, threshold, -1, min_effect=min_effect, statistic=statistic, unit=unit, name=name,
                       labels=labels, options=(confidence_level, n_resamples, rng, method))


def greater(a, b, *, paired: bool = True, min_effect: float = 0.0, statistic: Callable = np.mean,
            unit: str = "text", names: tuple[str, str] = ("a", "b"), labels: Sequence[str] | None = None,
            confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
            method: str | None = None) -> Judgement | tuple[Judgement, ...]:
    """Claim: condition ``a`` exceeds condition ``b``,
    :math:`\\Delta = \\mathrm{statistic}(a) - \\mathrm{statistic}(b) > 0` (e.g. ablation ΔPPL).

    ``paired=True`` (the default, and right whenever both conditions were measured on the same
    texts) resamples units jointly, so unit i of ``a`` stays with unit i of ``b``; for the mean
    this is the bootstrap of the per-unit differences. ``paired=False`` resamples the two samples
    independently. Decision: the directional rule on the interval of :math:`\\Delta` against
    0 with margin ``min_effect``. 2-D inputs ``[units, k]`` give one judgement per column.
    """
    opts = resolve(confidence_level, n_resamples, rng, method)
    max_ndim = 2
    x = units_array(a, name=names[0], max_ndim=max_ndim)
    y = units_array(b, name=names[1], max_ndim=max_ndim)
    if paired:
        same_units(x, y, names=names)
    elif x.shape[1:] != y.shape[1:]:
        raise ValueError(f"{names[0]} {x.shape} and {names[1]} {y.shape} must have the same number of columns")
    stat = vectorized(statistic)

    def difference(u, v, axis=-1):
        return stat(u, axis=axis) - stat(v, axis=axis)

    r = bootstrap((np.moveaxis(x, 0, -1), np.moveaxis(y, 0, -1)), difference, resolved=opts, paired=paired)
    quantity = f"{statistic_name(statistic)}({names[0]}) - {statistic_name(statistic)}({names[1]})"
    n = x.shape[0] if paired else min(x.shape[0], y.shape[0])
    extra = {"n_a": x.shape[0], "n_b": y.shape[0], "paired": paired}
    return _judge(r, np.zeros(r.estimate.shape), +1, min_effect=min_effect, quantity=quantity, unit=unit, n=n,
                  labels=labels, batched=x.ndim == 2, alpha=opts.alpha, extra=extra)


def _one_sample(values, threshold, side, *, min_effect, statistic, unit, name, labels, options):
    opts = resolve(*options)
    arr = units_array(values, name=name)
    r = bootstrap((np.moveaxis(arr, 0, -1),), vectorized(statistic), resolved=opts)
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), r.estimate.shape)
    if not np.all(np.isfinite(thr)):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    quantity = f"{statistic_name(statistic)}({name})"
    return _judge(r, thr, side, min_effect=min_effect, quantity=quantity, unit=unit, n=arr.shape[0],
                  labels=labels, batched=arr.ndim == 2, alpha=opts.alpha, extra={})


def _judge(r, thresholds, side, *, min_effect, quantity, unit, n, labels, batched, alpha, extra):
    if not (np.isfinite(min_effect) and min_effect >= 0):
        raise ValueError(f"min_effect must be a finite number >= 0, got {min_effect!r}")
    supported, refuted = judging.directional(r.low, r.high, threshold=thresholds, min_effect=min_effect, side=side)
    degenerate = r.degenerate
    p = invert(r, lambda lo, hi: judging.directional(lo, hi, threshold=thresholds, min_effect=min_effect, side=side)[0],
               alpha=alpha)
    caveats = thin_tail_caveat(r.n_resamples, r.confidence_level)
    indices = list(np.ndindex(r.estimate.shape))
    if batched and labels is not None and len(labels) != len(indices):
        raise ValueError(f"got {len(labels)} labels for {len(indices)} columns")
    out = []
    for j, idx in enumerate(indices):
        t = float(thresholds[idx])
        status = judging.status_of(bool(supported[idx]), bool(refuted[idx]), bool(degenerate[idx]))
        rule = judging.directional_rule(quantity, r.confidence_level, side=side, threshold=t, min_effect=min_effect)
        reason = judging.directional_reason(status, float(r.low[idx]), float(r.high[idx]), r.confidence_level,
                                            side=side, threshold=t, min_effect=min_effect, degenerate=bool(degenerate[idx]))
        ev = judging.evidence_from(r, idx, statistic=quantity, unit=unit, n=n, p_value=p[idx], extra={
            **extra, "alpha": alpha, "threshold": t, "min_effect": min_effect, "side": "above" if side > 0 else "below"})
        label = (labels[j] if labels is not None else f"column {j}") if batched else ""
        out.append(judging.judgement(status, ev, rule, p_value=p[idx], reason=reason, label=label, caveats=caveats))
    return tuple(out) if batched else out[0]
