"""Monotone association: Spearman rank correlation with a paired bootstrap interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.stats

from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import Judgement
from lmclaims.stats.resampling import bootstrap, invert, thin_tail_caveat
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

    :math:`\\rho_S` is Spearman's rank correlation (Pearson correlation of ranks); its interval is
    a paired bootstrap over units (models, layers, seeds) at level :math:`1-\\alpha`.
    SUPPORTED if the interval lies wholly beyond :math:`\\mathrm{sign}\\cdot m`; REFUTED if it lies
    wholly short of it (for m = 0: wholly of the opposite sign); else INCONCLUSIVE.
    For 1-D inputs the exact-ish permutation p-value of :math:`\\rho_S = 0` in the claimed
    direction (``scipy.stats.permutation_test``, pairings) is recorded in
    ``evidence.extra["p_permutation"]``. 2-D inputs ``[units, k]`` give one judgement per column.
    """
    if sign not in (+1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    if not (0.0 <= min_abs < 1.0):
        raise ValueError(f"min_abs must lie in [0, 1), got {min_abs!r}")
    opts = resolve(confidence_level, n_resamples, rng, method)
    u = units_array(x, name=names[0], min_n=4)
    v = units_array(y, name=names[1], min_n=4)
    same_units(u, v, names=names)
    r = bootstrap((np.moveaxis(u, 0, -1), np.moveaxis(v, 0, -1)), spearman, resolved=opts, paired=True)
    threshold = sign * min_abs
    decide = lambda lo, hi: judging.directional(lo, hi, threshold=threshold, min_effect=0.0, side=sign)  # noqa: E731
    supported, refuted = decide(r.low, r.high)
    p = invert(r, lambda lo, hi: decide(lo, hi)[0], alpha=opts.alpha)
    p_perm = _permutation_p(u, v, sign, opts.seed) if u.ndim == 1 else None
    quantity = f"Spearman rho({names[0]}, {names[1]})"
    rule = judging.directional_rule(quantity, r.confidence_level, side=sign, threshold=threshold, min_effect=0.0)
    caveats = thin_tail_caveat(r.n_resamples, r.confidence_level)
    if u.shape[0] < 10:
        caveats += (f"only {u.shape[0]} {unit}s: bootstrap intervals of a rank correlation are rough this small; "
                    "see extra.p_permutation",)
    batched = u.ndim == 2
    out = []
    no_ranks = (np.ptp(u, axis=0) == 0) | (np.ptp(v, axis=0) == 0)     # a constant variable has no ranks
    for j, idx in enumerate(np.ndindex(r.estimate.shape)):
        degenerate = bool(r.degenerate[idx] or np.broadcast_to(no_ranks, r.estimate.shape)[idx])
        status = judging.status_of(bool(supported[idx]), bool(refuted[idx]), degenerate)
        reason = judging.directional_reason(status, float(r.low[idx]), float(r.high[idx]), r.confidence_level,
                                            side=sign, threshold=threshold, min_effect=0.0, degenerate=degenerate)
        extra = {"alpha": opts.alpha, "sign": sign, "min_abs": min_abs, "p_permutation": p_perm}
        ev = judging.evidence_from(r, idx, statistic=quantity, unit=unit, n=u.shape[0], p_value=p[idx], extra=extra)
        label = (labels[j] if labels is not None else f"column {j}") if batched else ""
        out.append(judging.judgement(status, ev, rule, p_value=p[idx], reason=reason, label=label, caveats=caveats))
    return tuple(out) if batched else out[0]


def _permutation_p(x, y, sign, seed):
    res = scipy.stats.permutation_test((x, y), spearman, permutation_type="pairings", vectorized=True,
                                       alternative="greater" if sign > 0 else "less", n_resamples=9999,
                                       rng=np.random.default_rng(seed))
    return float(res.pvalue)
