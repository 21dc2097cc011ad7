"""Monotone association: Spearman rank correlation (paired bootstrap from 20 units, exact permutation below), and a correlation inside a band (TOST)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import numpy as np
import scipy.stats

from dataclasses import replace

from lmclaims.stats import engine, judging
from lmclaims.stats.context import resolve
from lmclaims.stats.engine import SMALL_N
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.exact import refused, too_few_units
from lmclaims.stats.permutation import _run, smallest_p
from lmclaims.stats.resampling import bootstrap, invert
from lmclaims.stats.validation import same_units, units_array


def spearman(x, y, axis=-1):
    """Vectorised Spearman rho: Pearson correlation of average ranks along ``axis``.

    A resample in which x or y is constant has no correlation; it counts as rho = 0 (pulls the
    interval towards "no association", never away from it).
    """
    rx = scipy.stats.rankdata(x, axis=axis)
    ry = scipy.stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(all="ignore"):
        rho = np.sum(rx * ry, axis=axis) / np.sqrt(np.sum(rx * rx, axis=axis) * np.sum(ry * ry, axis=axis))
    return np.nan_to_num(rho, nan=0.0)


def correlated(x, y, *, sign: int = +1, min_abs: float = 0.0, unit: str = "model", names: tuple[str, str] = ("x", "y"),
               labels: Sequence[str] | None = None, confidence_level: float | None = None,
               n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement | tuple[Judgement, ...]:
    """Claim: x and y are monotonically associated with the given ``sign`` and strength,
    :math:`\\mathrm{sign}\\cdot\\rho_S > m` (``min_abs`` = m).

    :math:`\\rho_S` is Spearman's rank correlation (Pearson correlation of ranks). Methods matched to n:

    * n >= 20 units: paired BCa bootstrap interval :math:`[L, U]` at level :math:`1-\\alpha`
      (>= 20 resamples beyond each end); SUPPORTED if it lies wholly beyond
      :math:`\\mathrm{sign}\\cdot m`, REFUTED if wholly short of it; support and refutation p by
      interval inversion.
    * n < 20 and m = 0: exact permutation test of :math:`\\rho_S` (``scipy.stats.permutation_test``,
      pairings, all n! orders when feasible): support p :math:`= 2 p_{\\text{claimed sign}}`, refutation
      p :math:`= 2 p_{\\text{opposite sign}}` (REFUTED "opposite"); INCONCLUSIVE when even a perfect
      ordering cannot reach the level (n! < 2/alpha: 4 units give p >= 1/24).
    * n < 20 and m > 0: no calibrated method (INCONCLUSIVE, reason given).

    2-D inputs ``[units, k]`` give one judgement per column.

    >>> x = np.arange(30.0); y = x + np.random.default_rng(0).normal(0, 5, 30)
    >>> correlated(x, y, rng=0).status.value, correlated(x[:8], y[:8]).evidence.method[:24]
    ('supported', 'scipy.stats.permutation_')
    """
    if sign not in (+1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    if not (0.0 <= min_abs < 1.0):
        raise ValueError(f"min_abs must lie in [0, 1), got {min_abs!r}")
    opts = resolve(confidence_level, n_resamples, rng, method)
    u = units_array(x, name=names[0], min_n=3)
    v = units_array(y, name=names[1], min_n=3)
    same_units(u, v, names=names)
    quantity = f"Spearman rho({names[0]}, {names[1]})"
    batched, n = u.ndim == 2, u.shape[0]
    if n < SMALL_N:
        cols = [(u, v)] if not batched else [(u[:, j], v[:, j]) for j in range(u.shape[1])]
        out = []
        for j, (a, b) in enumerate(cols):
            label = (labels[j] if labels is not None else f"column {j}") if batched else ""
            if min_abs > 0:
                out.append(refused(quantity, n=n, unit=unit, label=label,
                                   reason=f"{n} {unit}s < {SMALL_N}: no calibrated interval for |rho| > {min_abs:g} "
                                          "(only rho = 0 has an exact permutation test); no verdict"))
            else:
                out.append(_small(a, b, sign, opts, unit, quantity, label))
        return tuple(out) if batched else out[0]
    resamples, refusal = engine.resamples_for(opts, tail=opts.alpha / 2, n=n, unit=unit)
    if refusal:
        rho = np.atleast_1d(spearman(np.moveaxis(u, 0, -1), np.moveaxis(v, 0, -1)))
        out = [refused(quantity, reason=refusal, n=n, unit=unit, estimate=float(rho[j]))
               for j in range(u.shape[1] if batched else 1)]
        return tuple(out) if batched else out[0]
    r = bootstrap((np.moveaxis(u, 0, -1), np.moveaxis(v, 0, -1)), spearman,
                  resolved=replace(opts, n_resamples=resamples), paired=True)
    threshold = sign * min_abs
    decide = lambda lo, hi: judging.directional(lo, hi, threshold=threshold, min_effect=0.0, side=sign)  # noqa: E731
    supported, refuted = decide(r.low, r.high)
    p = invert(r, lambda lo, hi: decide(lo, hi)[0], alpha=opts.alpha)
    p_r = invert(r, lambda lo, hi: decide(lo, hi)[1], alpha=opts.alpha)
    rule = judging.directional_rule(quantity, r.confidence_level, side=sign, threshold=threshold, min_effect=0.0)
    out = []
    no_ranks = (np.ptp(u, axis=0) == 0) | (np.ptp(v, axis=0) == 0)     # a constant variable has no ranks
    for j, idx in enumerate(np.ndindex(r.estimate.shape)):
        degenerate = bool(r.degenerate[idx] or np.broadcast_to(no_ranks, r.estimate.shape)[idx])
        status = judging.status_of(bool(supported[idx]), bool(refuted[idx]), degenerate)
        lo, hi = float(r.low[idx]), float(r.high[idx])
        reason = judging.directional_reason(status, lo, hi, r.confidence_level,
                                            side=sign, threshold=threshold, min_effect=0.0, degenerate=degenerate)
        extra = {"alpha": opts.alpha, "sign": sign, "min_abs": min_abs, "threshold": threshold, "min_effect": 0.0,
                 "side": "above" if sign > 0 else "below", "direction": judging.direction_of(lo, hi, 0.0),
                 "refuted_as": judging.refuted_as(lo, hi, threshold=threshold, min_effect=0.0, side=sign)
                 if status is Status.REFUTED else None,
                 "method_reason": f"{n} {unit}s >= {SMALL_N}: paired BCa, {resamples} resamples",
                 "p_support": float(p[idx]), "p_refute": float(p_r[idx])}
        ev = judging.evidence_from(r, idx, statistic=quantity, unit=unit, n=n, p_value=p[idx], extra=extra)
        label = (labels[j] if labels is not None else f"column {j}") if batched else ""
        out.append(judging.judgement(status, ev, rule, reason=reason, label=label,
                                     p_value=judging.consistent(p[idx], status is Status.SUPPORTED, opts.alpha),
                                     p_refute=judging.consistent(p_r[idx], status is Status.REFUTED, opts.alpha)))
    return tuple(out) if batched else out[0]


def _small(x, y, sign, opts, unit, quantity, label) -> Judgement:
    """Exact permutation test of Spearman rho = 0 in both directions (n < SMALL_N)."""
    n, alpha = x.shape[0], opts.alpha
    b = max(opts.n_resamples, int(np.ceil(20 / (alpha / 2))))
    floor = smallest_p((n, n), "pairings", b)
    if 2 * floor > alpha:
        return too_few_units(quantity, have=f"{n} {unit}s (smallest one-sided permutation p {floor:.3g})",
                             need=f"a smallest attainable one-sided p <= alpha/2 = {alpha / 2:.3g}", n=n, unit=unit,
                             label=label, extra={"direction": "unresolved", "refuted_as": None, "smallest_p": floor})
    rho = float(spearman(x, y))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return refused(quantity, reason="degenerate: a constant variable has no ranks, so no correlation", n=n, unit=unit,
                       label=label, estimate=rho)
    p_gt, p_lt = _permutation_ps(x, y, b, opts.seed)
    p_claim, p_other = (p_gt, p_lt) if sign > 0 else (p_lt, p_gt)
    p_s, p_r = min(1.0, 2 * p_claim), min(1.0, 2 * p_other)
    status = Status.SUPPORTED if p_s <= alpha else Status.REFUTED if p_r <= alpha else Status.INCONCLUSIVE
    word = "positive" if sign > 0 else "negative"
    rule = (f"supported if an exact permutation test puts {quantity} {word} at one-sided alpha/2={alpha / 2:.3g}; "
            f"refuted if it puts it of the opposite sign at alpha/2; else inconclusive")
    reason = f"rho {rho:.3g}; one-sided permutation p {p_claim:.3g} ({word}), {p_other:.3g} (opposite)"
    extra = {"alpha": alpha, "sign": sign, "min_abs": 0.0, "threshold": 0.0, "min_effect": 0.0, "smallest_p": floor,
             "side": "above" if sign > 0 else "below",
             "direction": "above" if 2 * p_gt <= alpha else "below" if 2 * p_lt <= alpha else "unresolved",
             "refuted_as": "opposite" if status is Status.REFUTED else None, "p_permutation": p_claim,
             "method_reason": f"{n} {unit}s < {SMALL_N}: exact permutation test of rho = 0",
             "p_support": p_s, "p_refute": p_r}
    nan = float("nan")
    ev = Evidence(statistic=quantity, estimate=rho, confidence_interval=ConfidenceInterval(nan, nan), n=n, unit=unit,
                  method="scipy.stats.permutation_test (pairings) of Spearman rho", confidence_level=1 - alpha,
                  seed=opts.seed, p_value=p_s, extra=extra)
    return judging.judgement(status, ev, rule, reason=reason, label=label,
                             p_value=judging.consistent(p_s, status is Status.SUPPORTED, alpha),
                             p_refute=judging.consistent(p_r, status is Status.REFUTED, alpha))


def _permutation_ps(x, y, b, seed):
    """One-sided permutation p-values (greater, less) of Spearman rho. Without ties and with
    n <= 9 the exact null distribution depends on n only: it is enumerated once (all n! orders)
    and reused, p = #{null >= observed} / n! (the exact p of ``scipy.stats.permutation_test``);
    otherwise ``scipy.stats.permutation_test`` itself."""
    n = x.shape[0]
    if n <= 9 and len(np.unique(x)) == n and len(np.unique(y)) == n:
        null = _rank_null(n)
        obs = float(spearman(x, y))
        tol = 1e-12 * max(1.0, abs(obs))
        return float(np.mean(null >= obs - tol)), float(np.mean(null <= obs + tol))
    res = _run((x, y), spearman, "pairings", "greater", b, seed)
    null, obs = np.asarray(res.null_distribution), float(res.statistic)
    tol = 1e-12 * max(1.0, abs(obs))
    return float(res.pvalue), float((np.sum(null <= obs + tol) + (not np.isinf(b))) / (null.size + (not np.isinf(b))))


@functools.lru_cache(maxsize=16)
def _rank_null(n: int) -> np.ndarray:
    r = np.arange(n, dtype=float)
    perms = np.array(list(itertools.permutations(range(n))), dtype=float)       # n! x n, exact enumeration
    return spearman(np.broadcast_to(r, perms.shape), perms)


def correlation_within(x, y, bound: float, *, unit: str = "text", names: tuple[str, str] = ("x", "y"),
                       confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
                       method: str | None = None) -> Judgement:
    """Claim: Spearman :math:`\\rho_S` lies inside :math:`(-b, b)` (``bound`` = b): "no more than weakly associated".

    TOST in interval form on a paired BCa bootstrap of :math:`\\rho_S` at level :math:`1-2\\alpha`:
    SUPPORTED if :math:`-b < L` and :math:`U < b`; REFUTED if :math:`L > b` or :math:`U < -b` (wholly
    outside the band); else INCONCLUSIVE. Support p = TOST p and refutation p, both by interval
    inversion; nominal error alpha in each direction at :math:`|\\rho_S| = b`. Needs >= 20 units
    (``too_few_units`` below) and >= 20 resamples beyond each end (20/alpha).

    >>> r = np.random.default_rng(1); a = r.normal(size=64); b = r.normal(size=64)
    >>> correlation_within(a, b, 0.5, rng=0).status.value
    'supported'
    >>> correlation_within(a[:12], b[:12], 0.5).status.value
    'inconclusive'
    """
    if not 0.0 < bound < 1.0:
        raise ValueError(f"bound must lie in (0, 1), got {bound!r}")
    opts = resolve(confidence_level, n_resamples, rng, method)
    u = units_array(x, name=names[0], max_ndim=1, min_n=3)
    v = units_array(y, name=names[1], max_ndim=1, min_n=3)
    same_units(u, v, names=names)
    n, alpha = u.shape[0], opts.alpha
    quantity = f"Spearman rho({names[0]}, {names[1]})"
    if n < SMALL_N:
        return too_few_units(quantity, have=f"{n} {unit}s", need=f"at least {SMALL_N} {unit}s for a calibrated "
                             "bootstrap interval of rho", n=n, unit=unit,
                             extra={"direction": "unresolved", "refuted_as": None})
    resamples, refusal = engine.resamples_for(opts, tail=alpha, n=n, unit=unit)
    if refusal:
        return refused(quantity, reason=refusal, n=n, unit=unit, estimate=float(spearman(u, v)))
    level = 1.0 - 2.0 * alpha
    r = bootstrap((u, v), spearman, resolved=replace(opts, n_resamples=resamples), paired=True, confidence_level=level)
    inside = lambda lo, hi: (lo > -bound) & (hi < bound)  # noqa: E731
    outside = lambda lo, hi: (lo > bound) | (hi < -bound)  # noqa: E731
    lo, hi = float(r.low), float(r.high)
    degenerate = bool(r.degenerate) or np.ptp(u) == 0 or np.ptp(v) == 0
    status = judging.status_of(bool(inside(lo, hi)), bool(outside(lo, hi)), degenerate)
    of = lambda a: 1.0 - 2.0 * a  # noqa: E731
    p = float(invert(r, inside, alpha=alpha, level_of_alpha=of))
    p_r = float(invert(r, outside, alpha=alpha, level_of_alpha=of))
    ci = f"the {judging.pct(level)} CI [{judging.fmt(lo)}, {judging.fmt(hi)}]"
    reason = (judging.DEGENERATE_REASON if degenerate else {Status.SUPPORTED: f"{ci} lies inside ±{bound:g}",
              Status.REFUTED: f"{ci} lies wholly outside ±{bound:g}",
              Status.INCONCLUSIVE: f"{ci} crosses ±{bound:g}"}[status])
    rule = (f"supported if the {judging.pct(level)} CI of {quantity} lies inside (-{bound:g}, {bound:g}) (TOST at "
            f"alpha={alpha:g}); refuted if wholly outside; else inconclusive")
    extra = {"alpha": alpha, "bound": bound, "threshold": bound, "min_effect": 0.0, "side": "inside",
             "direction": "inside" if inside(lo, hi) else "above" if lo > bound else "below" if hi < -bound
             else "unresolved", "refuted_as": "outside band" if status is Status.REFUTED else None,
             "method_reason": f"{n} {unit}s >= {SMALL_N}: paired BCa at {judging.pct(level)}, {resamples} resamples",
             "p_support": p, "p_refute": p_r}
    ev = judging.evidence_from(r, (), statistic=quantity, unit=unit, n=n, p_value=p, extra=extra)
    return judging.judgement(status, ev, rule, reason=reason, p_value=judging.consistent(p, status is Status.SUPPORTED, alpha),
                             p_refute=judging.consistent(p_r, status is Status.REFUTED, alpha))
