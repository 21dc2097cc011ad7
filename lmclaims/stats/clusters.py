"""Separation: a panel of members (models) falls into two clusters with a gap between them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import numpy as np

from dataclasses import replace

from lmclaims.stats import engine, judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import Judgement, Status
from lmclaims.stats.exact import refused
from lmclaims.stats.resampling import bootstrap, invert
from lmclaims.stats.validation import statistic_name, units_array, vectorized


def separated(groups: Mapping[str, object], *, upper: Collection[str] | None = None,
              lower: Collection[str] | None = None, min_gap: float = 0.0, log: bool = True,
              statistic: Callable = np.mean, paired: bool = False, unit: str = "text",
              confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
              method: str | None = None) -> Judgement:
    """Claim: the members split into a GIVEN lower and upper cluster with a gap between them.

    Parameters
    ----------
    groups : mapping member -> per-unit values
        E.g. ``{"smollm2": per_text_G, "qwen": per_text_G, ...}``; each member's summary is
        :math:`\\theta_m = \\mathrm{statistic}(\\text{values}_m)`, compared on
        :math:`\\log_{10}` scale when ``log`` (values must then be positive).
    upper, lower : member names
        The claimed clusters (from the paper, fixed before looking). ``upper`` alone: everyone
        else is ``lower``. Both: members in neither are *others*, and any other whose
        :math:`\\theta` falls inside the gap is listed in ``extra["between"]`` (the claim cannot
        then be SUPPORTED). Neither: the split would be found from the data, which this rule
        cannot test (any distinct values have a positive largest gap); the call is delegated to
        :func:`lmclaims.stats.clusters_found.two_clusters` (a continuum-null test).
    min_gap : float, default 0
        Claimed minimal gap on the analysis scale (decades when ``log``).
    paired : bool
        True when all members were measured on the same units (texts): units are resampled
        jointly across members; False resamples units within each member.

    Statistic and rule
    ------------------
    :math:`g = \\min_{m \\in U} \\log_{10}\\theta_m - \\max_{m \\in L} \\log_{10}\\theta_m`
    (fold gap :math:`10^{g}`), BCa interval :math:`[L_g, U_g]` at level :math:`1-\\alpha` over
    units (at least 20 units per member and >= 20 resamples beyond each end, else INCONCLUSIVE
    with the reason). SUPPORTED if :math:`L_g > \\text{min\\_gap}` and no other member falls
    between (support p by interval inversion); REFUTED if :math:`U_g < \\text{min\\_gap}`
    (refutation p likewise); else INCONCLUSIVE.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = {m: rng.lognormal(np.log(c), 0.3, 40) for m, c in [("a", 1), ("b", 1.2), ("c", 5), ("d", 6)]}
    >>> separated(g, upper=["c", "d"], rng=1).status.value
    'supported'
    """
    if len(groups) < 2:
        raise ValueError(f"separated needs at least two members, got {len(groups)}")
    if upper is None and lower is None:
        from lmclaims.stats.clusters_found import two_clusters
        return two_clusters(groups, log=log, statistic=statistic, min_gap=min_gap,
                            confidence_level=confidence_level, n_resamples=n_resamples, rng=rng)
    opts = resolve(confidence_level, n_resamples, rng, method)
    names = list(groups)
    arrays = [units_array(groups[m], name=f"groups[{m!r}]", max_ndim=1) for m in names]
    if log and any(np.any(a <= 0) for a in arrays):
        raise ValueError("separated(log=True) needs positive values; pass log=False for signed quantities")
    if paired and len({a.shape[0] for a in arrays}) > 1:
        raise ValueError("paired=True needs every member measured on the same units (equal lengths)")
    up_idx, low_idx, other_idx, assignment = _clusters(names, None, upper, lower)
    return gap_judgement(names, arrays, up_idx, low_idx, other_idx, opts=opts, min_gap=min_gap, log=log,
                         statistic=statistic, paired=paired, unit=unit, assignment=assignment)


def gap_judgement(names, arrays, up_idx, low_idx, other_idx, *, opts, min_gap, log, statistic, paired, unit,
                  assignment, extra_more: dict | None = None) -> Judgement:
    """The given-split rule of :func:`separated` on already validated arrays (shared with the
    held-out rule of :mod:`lmclaims.stats.clusters_found`)."""
    stat = vectorized(statistic)
    scale = np.log10 if log else (lambda z: z)
    theta = np.array([float(stat(a, axis=-1)) for a in arrays])
    level_of = scale(theta)
    what = "log10 " if log else ""
    quantity = f"{what}gap min(upper) - max(lower) of {statistic_name(statistic)}"
    n = min(a.shape[0] for a in arrays)
    top_of_lower, bottom_of_upper = level_of[low_idx].max(), level_of[up_idx].min()
    between = [names[i] for i in other_idx if top_of_lower < level_of[i] < bottom_of_upper]
    fold = (lambda g: float(10 ** g)) if log else (lambda g: None)
    extra = {"alpha": opts.alpha, "min_gap": min_gap, "threshold": min_gap, "log10": log, "assignment": assignment,
             "paired": paired, "upper": [names[i] for i in up_idx], "lower": [names[i] for i in low_idx],
             "between": between, "side": "above",
             "members": {m: {"estimate": float(theta[i]), "scaled": float(level_of[i]), "n": int(arrays[i].shape[0]),
                             "cluster": "upper" if i in up_idx else "lower" if i in low_idx else "other"}
                         for i, m in enumerate(names)}, **dict(extra_more or {})}
    resamples, refusal = engine.resamples_for(opts, tail=opts.alpha / 2, n=n, unit=unit,
                                              what="a bootstrap interval of a gap between member statistics")
    if refusal:
        return refused(quantity, reason=refusal, n=n, unit=unit, extra=extra,
                       estimate=float(bottom_of_upper - top_of_lower), confidence_level=opts.confidence_level)

    def gap(*samples, axis=-1):
        with np.errstate(all="ignore"):
            z = scale(np.stack([stat(s, axis=axis) for s in samples]))
        return z[up_idx].min(axis=0) - z[low_idx].max(axis=0)

    r = bootstrap(tuple(arrays), gap, resolved=replace(opts, n_resamples=resamples), paired=paired)
    lo, hi = float(r.low), float(r.high)
    supported, refuted = judging.directional(lo, hi, threshold=min_gap, min_effect=0.0, side=+1)
    degenerate = bool(r.degenerate)
    status = judging.status_of(bool(supported) and not between, bool(refuted), degenerate)
    p = 1.0 if between else float(invert(r, lambda a, b: a > min_gap, alpha=opts.alpha))
    p_r = float(invert(r, lambda a, b: b < min_gap, alpha=opts.alpha))
    rule = (f"supported if the {judging.pct(r.confidence_level)} CI of the {quantity} lies wholly above "
            f"{min_gap:g} and no other member falls between; refuted if wholly below {min_gap:g}; else inconclusive")
    shown = Status.SUPPORTED if (bool(supported) and between) else status
    reason = judging.directional_reason(shown, lo, hi, r.confidence_level, side=+1,
                                        threshold=min_gap, min_effect=0.0, degenerate=degenerate)
    if between and not degenerate:
        reason += f"; but members {between} fall between the clusters, so there are not two clean clusters"
    extra.update({"fold_gap": fold(float(r.estimate)), "fold_gap_ci": [fold(lo), fold(hi)],
                  "direction": judging.direction_of(lo, hi, min_gap),
                  "refuted_as": judging.refuted_as(lo, hi, threshold=min_gap, min_effect=0.0, side=+1)
                  if status is Status.REFUTED else None,
                  "method_reason": f"{n} {unit}s per member >= {engine.SMALL_N}: BCa, {resamples} resamples",
                  "p_support": p, "p_refute": p_r})
    ev = judging.evidence_from(r, (), statistic=quantity, unit=unit, n=sum(a.shape[0] for a in arrays),
                               p_value=p, extra=extra)
    return judging.judgement(status, ev, rule, p_value=judging.consistent(p, status is Status.SUPPORTED, opts.alpha),
                             p_refute=judging.consistent(p_r, status is Status.REFUTED, opts.alpha), reason=reason)


def _clusters(names, level_of, upper, lower):
    """Indices (upper, lower, others) and how they were assigned."""
    index = {m: i for i, m in enumerate(names)}
    for given in (upper, lower):
        unknown = set(given or ()) - set(index)
        if unknown:
            raise ValueError(f"unknown members {sorted(unknown)}; known: {names}")
    if upper is None:
        low = [index[m] for m in lower]
        up = [i for i in range(len(names)) if i not in low]
        others = []
    else:
        up = [index[m] for m in upper]
        low = [index[m] for m in lower] if lower is not None else [i for i in range(len(names)) if i not in up]
        others = [i for i in range(len(names)) if i not in up and i not in low]
    if not up or not low or set(up) & set(low):
        raise ValueError("upper and lower clusters must be non-empty and disjoint")
    return up, low, others, "given"
