"""Directional claims: a quantity lies above / below a threshold, or one condition exceeds another.

All share the directional rule of :mod:`lmclaims.stats.judging`: with a two-sided interval
:math:`[L, U]` at level :math:`1-\\alpha` for :math:`\\theta` and a claim :math:`\\theta > t`,
SUPPORTED if :math:`L > t + \\delta`, REFUTED if :math:`U < t + \\delta` (``refuted_as`` says
"opposite" / "negligible" / "short of margin"), INCONCLUSIVE otherwise. The interval method is
matched to n (:mod:`lmclaims.stats.engine`): t / Welch below 20 units for means, BCa with enough
resamples from 20 units on. Every judgement carries both ``p_value`` (support) and ``p_refute``.

Vectorised use: a 2-D ``values`` array ``[units, k]`` gives ``k`` judgements (one per column,
e.g. per layer) from one vectorised bootstrap; ``threshold`` may then be a length-``k`` array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import Judgement
from lmclaims.stats import engine
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
        needs :math:`U < t + \\delta`, where :math:`[L, U]` is the two-sided interval of
        :math:`\\theta` at ``confidence_level`` (t below 20 units for the mean, else BCa).
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
    :math:`L > t - \\delta`, else INCONCLUSIVE.
    """
    return _one_sample(values, threshold, -1, min_effect=min_effect, statistic=statistic, unit=unit, name=name,
                       labels=labels, options=(confidence_level, n_resamples, rng, method))


def greater(a, b, *, paired: bool = True, min_effect: float = 0.0, threshold: float = 0.0,
            statistic: Callable = np.mean, unit: str = "text", names: tuple[str, str] = ("a", "b"),
            labels: Sequence[str] | None = None, confidence_level: float | None = None,
            n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement | tuple[Judgement, ...]:
    """Claim: condition ``a`` exceeds condition ``b`` by more than ``threshold``,
    :math:`\\Delta = \\mathrm{statistic}(a) - \\mathrm{statistic}(b) > t` (e.g. ablation ΔPPL).

    ``paired=True`` (the default, and right whenever both conditions were measured on the same
    texts) keeps unit i of ``a`` with unit i of ``b`` (paired t below 20 units, joint bootstrap
    above); ``paired=False`` treats the samples as independent (Welch t below 20 units).
    Decision: the directional rule on the interval of :math:`\\Delta` against ``threshold`` with
    margin ``min_effect``. 2-D inputs ``[units, k]`` give one judgement per column.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> b = rng.normal(0, 1, 12); a = b + 1.0 + rng.normal(0, 0.2, 12)
    >>> j = greater(a, b, threshold=0.5)
    >>> j.status.value, j.evidence.extra["method_reason"].startswith("12 texts < 20")
    ('supported', True)
    """
    return _two_sample(a, b, +1, paired=paired, min_effect=min_effect, threshold=threshold, statistic=statistic,
                       unit=unit, names=names, labels=labels, options=(confidence_level, n_resamples, rng, method))


def less(a, b, *, paired: bool = True, min_effect: float = 0.0, threshold: float = 0.0,
         statistic: Callable = np.mean, unit: str = "text", names: tuple[str, str] = ("a", "b"),
         labels: Sequence[str] | None = None, confidence_level: float | None = None,
         n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement | tuple[Judgement, ...]:
    """Claim: :math:`\\Delta = \\mathrm{statistic}(a) - \\mathrm{statistic}(b) < t`; mirror of :func:`greater`."""
    return _two_sample(a, b, -1, paired=paired, min_effect=min_effect, threshold=threshold, statistic=statistic,
                       unit=unit, names=names, labels=labels, options=(confidence_level, n_resamples, rng, method))


def statistic_above(data, statistic: Callable, threshold, *, min_effect: float = 0.0, paired: bool = True,
                    name: str = "statistic", unit: str = "text", confidence_level: float | None = None,
                    n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement:
    """Claim: :math:`\\theta = \\mathrm{statistic}(*\\text{data}) > t` for a statistic of several
    per-unit arrays (scipy's ``bootstrap(data, statistic, paired=True)`` shape).

    ``data`` is a tuple of arrays with the unit on axis 0 (``[units]`` or ``[units, k]``, e.g. a
    per-text vector over layers); ``statistic(*samples)`` receives the (resampled) arrays, units on
    axis 0, and returns a scalar (e.g. a range over layers of the per-layer means, or the maximum
    layer re-selected in every resample). Resamples are drawn as unit indices
    (``scipy.stats.bootstrap`` over ``arange(n)``, BCa jackknife leaving one unit out). Units are resampled jointly (``paired``) or per sample.
    A general statistic gets a BCa interval from 20 units on (a known limit: it under-covers on heavy-tailed
    texts, docs/calibration.md); below 20 units it gets no verdict
    (INCONCLUSIVE with the reason), except when it is the plain mean of a single 1-D sample
    (then the t interval). Rule and both p-values as in :func:`above`.

    >>> import numpy as np
    >>> x = np.random.default_rng(1).normal(size=(64, 5)) + np.arange(5)      # texts x layers
    >>> span = lambda v: np.ptp(v.mean(axis=0))
    >>> statistic_above((x,), span, 2.0, n_resamples=999, rng=0).status.value
    'supported'
    """
    return _general(data, statistic, threshold, +1, min_effect=min_effect, paired=paired, name=name, unit=unit,
                    options=(confidence_level, n_resamples, rng, method))


def statistic_below(data, statistic: Callable, threshold, *, min_effect: float = 0.0, paired: bool = True,
                    name: str = "statistic", unit: str = "text", confidence_level: float | None = None,
                    n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement:
    """Claim: :math:`\\theta = \\mathrm{statistic}(*\\text{data}) < t`; mirror of :func:`statistic_above`."""
    return _general(data, statistic, threshold, -1, min_effect=min_effect, paired=paired, name=name, unit=unit,
                    options=(confidence_level, n_resamples, rng, method))


def _general(data, statistic, threshold, side, *, min_effect, paired, name, unit, options):
    opts = resolve(*options)
    if not isinstance(data, (tuple, list)) or not data:
        raise ValueError("statistic_above/below need a tuple of per-unit arrays, e.g. (x,) or (x, y)")
    arrays = [units_array(d, name=f"data[{i}]") for i, d in enumerate(data)]
    if paired:
        for other in arrays[1:]:
            if other.shape[0] != arrays[0].shape[0]:
                raise ValueError("paired samples must have the same number of units")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")

    def stat(*indices, axis=-1):
        """Resample = index vectors into the units; the caller's statistic sees [units, ...] arrays."""
        idx = [np.asarray(i, dtype=np.intp) for i in indices]
        lead = idx[0].shape[:-1]
        out = np.empty(lead)
        for pos in np.ndindex(lead):
            out[pos] = statistic(*(a[i[pos]] for a, i in zip(arrays, idx)))
        return out

    n = min(a.shape[0] for a in arrays)
    plain_mean = statistic is np.mean and len(arrays) == 1 and arrays[0].ndim == 1
    if plain_mean:
        data, fn = (arrays[0],), (lambda u, axis=-1: np.mean(u, axis=axis))
    else:
        data, fn = tuple(np.arange(a.shape[0], dtype=float) for a in arrays), stat
    t = engine.decide(data, fn, mean_kind="one" if plain_mean else None, paired=paired, side=side,
                      threshold=threshold, min_effect=min_effect, opts=opts, n=n, unit=unit)
    if t.estimate.shape != ():
        raise ValueError(f"statistic must return a scalar per resample, got shape {t.estimate.shape}")
    quantity = f"{statistic_name(statistic)}({name})"
    return engine.judge(t, threshold, side, min_effect=min_effect, quantity=quantity, unit=unit, n=n, labels=None,
                        batched=False, alpha=opts.alpha, extra={"samples": len(arrays), "paired": paired})


def _two_sample(a, b, side, *, paired, min_effect, threshold, statistic, unit, names, labels, options):
    opts = resolve(*options)
    x = units_array(a, name=names[0], max_ndim=2)
    y = units_array(b, name=names[1], max_ndim=2)
    if paired:
        same_units(x, y, names=names)
    elif x.shape[1:] != y.shape[1:]:
        raise ValueError(f"{names[0]} {x.shape} and {names[1]} {y.shape} must have the same number of columns")
    stat = vectorized(statistic)

    def difference(u, v, axis=-1):
        return stat(u, axis=axis) - stat(v, axis=axis)

    n = x.shape[0] if paired else min(x.shape[0], y.shape[0])
    t = engine.decide((np.moveaxis(x, 0, -1), np.moveaxis(y, 0, -1)), difference,
                      mean_kind="diff" if statistic is np.mean else None, paired=paired, side=side,
                      threshold=threshold, min_effect=min_effect, opts=opts, n=n, unit=unit)
    quantity = f"{statistic_name(statistic)}({names[0]}) - {statistic_name(statistic)}({names[1]})"
    extra = {"n_a": x.shape[0], "n_b": y.shape[0], "paired": paired}
    return engine.judge(t, threshold, side, min_effect=min_effect, quantity=quantity, unit=unit, n=n,
                        labels=labels, batched=x.ndim == 2, alpha=opts.alpha, extra=extra)


def _one_sample(values, threshold, side, *, min_effect, statistic, unit, name, labels, options):
    opts = resolve(*options)
    arr = units_array(values, name=name)
    thr = np.asarray(threshold, dtype=float)
    if not np.all(np.isfinite(thr)):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    t = engine.decide((np.moveaxis(arr, 0, -1),), vectorized(statistic),
                      mean_kind="one" if statistic is np.mean else None, paired=False, side=side,
                      threshold=np.broadcast_to(thr, arr.shape[1:]), min_effect=min_effect, opts=opts,
                      n=arr.shape[0], unit=unit)
    quantity = f"{statistic_name(statistic)}({name})"
    return engine.judge(t, np.broadcast_to(thr, t.estimate.shape), side, min_effect=min_effect, quantity=quantity,
                        unit=unit, n=arr.shape[0], labels=labels, batched=arr.ndim == 2, alpha=opts.alpha, extra={})
