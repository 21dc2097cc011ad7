"""One bootstrap per judgement, and the p-value that matches its interval.

Every interval in lmclaims comes from :func:`scipy.stats.bootstrap` (BCa by default), resampling
the independent unit (text, model, seed) — never tokens. Data arrays carry the unit on the last
axis; leading axes are a *batch* (e.g. one column per layer) handled in one vectorised call.

p-value by interval inversion
-----------------------------
A helper declares SUPPORTED when its interval at level ``1 - alpha`` satisfies a predicate
``holds(low, high)`` (e.g. ``low > threshold``). Its p-value is the smallest alpha at which the
predicate would hold,

.. math:: p = \\inf\\{\\alpha : \\text{holds}(\\mathrm{CI}_{\\ell(\\alpha)})\\},

with :math:`\\ell(\\alpha) = 1-\\alpha` (or :math:`1-2\\alpha` for TOST). It is evaluated on the
fixed grid :data:`ALPHA_GRID` (97 log-spaced values from 1e-4 to 0.99, ~10% apart, plus the
decision's own alpha) by recomputing scipy's interval from the *same* bootstrap distribution
(``bootstrap_result=``, no new resamples), and rounded up to the next grid value, so that
``p <= alpha  <=>  SUPPORTED at 1 - alpha`` exactly and p is never understated by the grid.
p-values below ~1/n_resamples are not resolved by any bootstrap; the grid floor 1e-4 is then a
lower bound, not a measurement.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.stats

from lmclaims.stats.context import Resolved

ALPHA_GRID = np.geomspace(1e-4, 0.99, 97)


@dataclass(frozen=True)
class Resampled:
    """A bootstrap distribution and its interval. Shapes: ``estimate``/``low``/``high`` are the
    statistic's output shape (batch and/or vector outputs); ``distribution`` adds a resample axis."""

    data: tuple[np.ndarray, ...]
    statistic: Callable
    paired: bool
    method: str
    seed: int
    n_resamples: int
    confidence_level: float
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    distribution: np.ndarray
    result: Any

    @property
    def memo(self) -> "_Memoized":
        """The statistic, memoised for repeated interval evaluations (created on first use)."""
        memo = self.__dict__.get("_memo")
        if memo is None:
            memo = _Memoized(self.statistic)
            object.__setattr__(self, "_memo", memo)
        return memo

    @property
    def degenerate(self) -> np.ndarray:
        """True where every sample has all units identical, or the interval is undefined.

        A bootstrap distribution without spread on informative data (e.g. a perfect rank
        correlation, or a constant paired difference) is not degenerate: its interval falls back
        to the percentile method (a point).
        """
        constant = np.ones(self.data[0].shape[:-1], dtype=bool)
        for sample in self.data:
            constant = constant & (np.ptp(sample, axis=-1) == 0)
        constant = np.broadcast_to(constant, self.estimate.shape)
        return constant | ~np.isfinite(self.low) | ~np.isfinite(self.high)

    def method_text(self, unit: str) -> str:
        how = "paired " if self.paired and len(self.data) > 1 else ""
        return (f"{how}bootstrap {self.method} (scipy.stats.bootstrap), "
                f"{self.n_resamples} resamples of {unit}s")


def _scipy_bootstrap(data, statistic, *, paired, method, level, n_resamples, rng, previous=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(all="ignore"):
            return scipy.stats.bootstrap(
                data, statistic, n_resamples=n_resamples, paired=paired, axis=-1, vectorized=True,
                confidence_level=level, method=method, bootstrap_result=previous, rng=rng)


def canonical_order(data: tuple[np.ndarray, ...], *, paired: bool) -> tuple[np.ndarray, ...]:
    """Put the units (last axis) in a canonical (lexicographic) order.

    Units are exchangeable, so this changes nothing statistically; it makes a verdict exactly
    invariant to the order in which units were listed (resample indices then always refer to
    the same units). Paired samples are sorted jointly, unpaired samples each on their own.
    """
    def order(*samples):
        keys = np.concatenate([s.reshape(-1, s.shape[-1]) for s in samples], axis=0)
        return np.lexsort(keys[::-1])

    if paired or len(data) == 1:
        idx = order(*data)
        return tuple(s[..., idx] for s in data)
    return tuple(s[..., order(s)] for s in data)


def bootstrap(data: tuple[np.ndarray, ...], statistic: Callable, *, resolved: Resolved, paired: bool = False,
              confidence_level: float | None = None) -> Resampled:
    """Bootstrap ``statistic(*data, axis=-1)`` over the last axis of each sample.

    ``confidence_level`` overrides ``resolved.confidence_level`` (TOST uses ``1 - 2 alpha``).
    Units are first put in :func:`canonical_order`.
    """
    data = canonical_order(tuple(np.asarray(d, dtype=float) for d in data), paired=paired)
    level = resolved.confidence_level if confidence_level is None else confidence_level
    with np.errstate(all="ignore"):
        estimate = np.asarray(statistic(*data, axis=-1), dtype=float)
    res = _scipy_bootstrap(data, statistic, paired=paired, method=resolved.method, level=level,
                           n_resamples=resolved.n_resamples, rng=np.random.default_rng(resolved.seed))
    low, high = _with_percentile_fallback(res, level)
    return Resampled(data=data, statistic=statistic, paired=paired, method=resolved.method, seed=resolved.seed,
                     n_resamples=resolved.n_resamples, confidence_level=level, estimate=estimate,
                     low=low, high=high, distribution=np.asarray(res.bootstrap_distribution, dtype=float),
                     result=res)


class _Memoized:
    """``statistic`` with its results remembered by input content.

    Re-deriving an interval at another level (``bootstrap_result=``, no new resamples) makes scipy
    recompute the BCa jackknife on identical leave-one-out arrays; remembering those results keeps
    the p-value inversion's many interval evaluations cheap.
    """

    def __init__(self, statistic: Callable):
        self.statistic = statistic
        self.cache: dict = {}

    def __call__(self, *samples, axis=-1):
        key = (axis,) + tuple((np.shape(x), hashlib.blake2b(np.ascontiguousarray(x, dtype=float).view(np.uint8),
                                                            digest_size=16).digest()) for x in samples)
        if key not in self.cache:
            self.cache[key] = self.statistic(*samples, axis=axis)
        return self.cache[key]


def interval(r: Resampled, confidence_level: float) -> tuple[np.ndarray, np.ndarray]:
    """The interval at another level from the same bootstrap distribution (no new resamples)."""
    if np.isclose(confidence_level, r.confidence_level, rtol=0, atol=1e-12):
        return r.low, r.high
    res = _scipy_bootstrap(r.data, r.memo, paired=r.paired, method=r.method, level=confidence_level,
                           n_resamples=0, rng=np.random.default_rng(0), previous=r.result)
    return _with_percentile_fallback(res, confidence_level)


def _with_percentile_fallback(res, level) -> tuple[np.ndarray, np.ndarray]:
    """scipy's interval; where BCa is undefined because the bootstrap distribution has no spread
    (all resamples agree), the percentile interval of that distribution (a point) instead."""
    low, high = (np.asarray(v, dtype=float) for v in res.confidence_interval)
    dist = np.asarray(res.bootstrap_distribution, dtype=float)
    flat = np.all(dist == dist[..., :1], axis=-1) & np.isfinite(dist[..., 0])
    fix = flat & ~(np.isfinite(low) & np.isfinite(high))
    if np.any(fix):
        low, high = np.where(fix, dist[..., 0], low), np.where(fix, dist[..., 0], high)
    return low, high


def invert(r: Resampled, holds: Callable[[np.ndarray, np.ndarray], np.ndarray], *, alpha: float,
           level_of_alpha: Callable[[float], float] = lambda a: 1.0 - a) -> np.ndarray:
    """Smallest grid alpha at which ``holds(*interval(level_of_alpha(alpha)))`` (see module doc).

    ``holds`` maps (low, high) arrays to a boolean array of the batch shape. Returns p-values of
    the batch shape (1.0 where the predicate never holds).
    """
    grid = np.unique(np.append(ALPHA_GRID, alpha))
    grid = grid[[0.0 < level_of_alpha(a) < 1.0 for a in grid]]

    def holds_at(a):
        with np.errstate(invalid="ignore"):
            return np.asarray(holds(*interval(r, level_of_alpha(a))), dtype=bool)

    decided = holds_at(alpha)
    if decided.size == 1:                      # one judgement: binary search on the grid
        lo, hi = -1, len(grid)                 # invariant: fails at lo (or none), holds at hi (or none)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if bool(holds_at(grid[mid]).reshape(-1)[0]):
                hi = mid
            else:
                lo = mid
        p = np.array(grid[hi] if hi < len(grid) else 1.0).reshape(decided.shape)
    elif _sliceable(r):                        # a 1-D batch: bisection, each element at its own level
        p = _batch_bisection(r, holds, grid, level_of_alpha, decided.shape)
    else:                                      # other batches: evaluate the whole grid, vectorised
        table = np.stack([holds_at(a) for a in grid])               # [grid, *batch]
        from_here_on = np.flip(np.logical_and.accumulate(np.flip(table, 0), 0), 0)
        first = np.argmax(from_here_on, axis=0)
        p = np.where(from_here_on.any(axis=0), grid[first], 1.0)
    # Exact agreement with the decision at `alpha`, even if intervals were not perfectly nested.
    above = grid[grid > alpha]
    p = np.where(decided, np.minimum(p, alpha), np.maximum(p, above[0] if above.size else 1.0))
    return p


def _sliceable(r: Resampled) -> bool:
    """A 1-D batch whose elements are independent columns (data [k, units], estimate [k])."""
    return (r.estimate.ndim == 1 and all(np.ndim(d) == 2 and d.shape[0] == r.estimate.shape[0] for d in r.data)
            and np.ndim(r.distribution) == 2)


class _Previous:
    """Stand-in for scipy's BootstrapResult holding a slice of the bootstrap distribution."""

    def __init__(self, distribution):
        self.bootstrap_distribution = distribution


def _batch_bisection(r: Resampled, holds, grid, level_of_alpha, shape) -> np.ndarray:
    """Per-element binary search on ``grid`` (as in the single-judgement case). At each step the
    elements are grouped by the grid point they need and the interval is computed for that
    subset only (same bootstrap distribution, sliced), so the work is ~log2(len(grid)) interval
    evaluations of the whole batch instead of len(grid)."""
    k = r.estimate.shape[0]
    lo, hi = np.full(k, -1), np.full(k, len(grid))
    while np.any(hi - lo > 1):
        active = hi - lo > 1
        mid = (lo + hi) // 2
        for m in np.unique(mid[active]):
            sel = active & (mid == m)
            level = level_of_alpha(grid[m])
            sub = tuple(d[sel] for d in r.data)
            res = _scipy_bootstrap(sub, r.memo, paired=r.paired, method=r.method, level=level, n_resamples=0,
                                   rng=np.random.default_rng(0), previous=_Previous(r.distribution[sel]))
            low_s, high_s = _with_percentile_fallback(res, level)
            low, high = np.full(k, np.nan), np.full(k, np.nan)
            low[sel], high[sel] = low_s, high_s
            with np.errstate(invalid="ignore"):
                ok = np.asarray(holds(low, high), dtype=bool).reshape(-1)
            hi = np.where(sel & ok, m, hi)
            lo = np.where(sel & ~ok, m, lo)
    return np.where(hi < len(grid), grid[np.minimum(hi, len(grid) - 1)], 1.0).reshape(shape)


def thin_tail_caveat(n_resamples: int, confidence_level: float) -> tuple[str, ...]:
    """A caveat when fewer than 10 resamples lie beyond each interval endpoint."""
    tail = (1.0 - confidence_level) / 2.0 * n_resamples
    if tail < 10:
        return (f"only {tail:.1f} bootstrap resamples lie beyond each end of the {confidence_level:.4g} "
                f"interval; use more resamples (>= {int(np.ceil(20 / (1 - confidence_level)))}) for a stable bound",)
    return ()


def component(r: Resampled, i: int) -> Resampled:
    """View of one output of a vector-valued bootstrap as its own Resampled (for inversion)."""
    stat = r.statistic
    return replace(r, statistic=lambda *s, axis=-1: stat(*s, axis=axis)[i], estimate=r.estimate[i],
                   low=r.low[i], high=r.high[i], distribution=r.distribution[i],
                   result=_ComponentResult(r.result, i))


class _ComponentResult:
    """Minimal stand-in for scipy's BootstrapResult restricted to output ``i``."""

    def __init__(self, result, i):
        self.bootstrap_distribution = np.asarray(result.bootstrap_distribution)[i]
        self.confidence_interval = type(result.confidence_interval)(*(np.asarray(v)[i] for v in result.confidence_interval))
        self.standard_error = np.asarray(result.standard_error)[i]
