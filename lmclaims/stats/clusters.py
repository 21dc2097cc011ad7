"""Separation: a panel of members (models) falls into two clusters with a gap between them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import numpy as np

from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import Judgement, Status
from lmclaims.stats.resampling import bootstrap, invert, thin_tail_caveat
from lmclaims.stats.validation import statistic_name, units_array, vectorized


def separated(groups: Mapping[str, object], *, upper: Collection[str] | None = None,
              lower: Collection[str] | None = None, min_gap: float = 0.0, log: bool = True,
              statistic: Callable = np.mean, paired: bool = False, unit: str = "text",
              confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
              method: str | None = None) -> Judgement:
    """Claim: the members split into a lower and an upper cluster that do not overlap.

    Parameters
    ----------
    groups : mapping member -> per-unit values
        E.g. ``{"smollm2": per_text_G, "qwen": per_text_G, ...}``; each member's summary is
        :math:`\\theta_m = \\mathrm{statistic}(\\text{values}_m)`, compared on
        :math:`\\log_{10}` scale when ``log`` (values must then be positive).
    upper, lower : member names, optional
        The claimed clusters. ``upper`` alone: everyone else is ``lower``. Both: members in
        neither are *others*, and any other whose :math:`\\theta` falls inside the gap is listed
        in ``extra["between"]`` (the claim cannot then be SUPPORTED). Neither: the split is found
        at the largest gap between consecutive sorted :math:`\\log_{10}\\theta_m`, and the
        bootstrap statistic re-finds the largest gap in every resample (so the interval accounts
        for having chosen the split).
    min_gap : float, default 0
        Claimed minimal gap on the analysis scale (decades when ``log``: 1.0 = an order of
        magnitude, "no overlap" = 0).
    paired : bool
        True when all members were measured on the same units (texts): units are then
        resampled jointly across members; False resamples units within each member.

    Statistic and rule
    ------------------
    :math:`g = \\min_{m \\in U} \\log_{10}\\theta_m - \\max_{m \\in L} \\log_{10}\\theta_m`,
    "fold gap" :math:`10^{g}` (ratio of the lowest upper to the highest lower member). With the
    bootstrap interval :math:`[L_g, U_g]` at level :math:`1-\\alpha`: SUPPORTED if
    :math:`L_g > \\text{min\\_gap}` and no other member falls between; REFUTED if
    :math:`U_g < \\text{min\\_gap}`; else INCONCLUSIVE.
    """
    if len(groups) < 2:
        raise ValueError(f"separated needs at least two members, got {len(groups)}")
    opts = resolve(confidence_level, n_resamples, rng, method)
    names = list(groups)
    arrays = [units_array(groups[m], name=f"groups[{m!r}]", max_ndim=1) for m in names]
    if log and any(np.any(a <= 0) for a in arrays):
        raise ValueError("separated(log=True) needs positive values; pass log=False for signed quantities")
    if paired and len({a.shape[0] for a in arrays}) > 1:
        raise ValueError("paired=True needs every member measured on the same units (equal lengths)")
    stat = vectorized(statistic)
    scale = np.log10 if log else (lambda z: z)
    theta = np.array([float(stat(a, axis=-1)) for a in arrays])
    level_of = scale(theta)
    up_idx, low_idx, other_idx, assignment = _clusters(names, level_of, upper, lower)

    def gap(*samples, axis=-1):
        with np.errstate(all="ignore"):
            z = scale(np.stack([stat(s, axis=axis) for s in samples]))
        if assignment == "given":
            return z[up_idx].min(axis=0) - z[low_idx].max(axis=0)
        return np.max(np.diff(np.sort(z, axis=0), axis=0), axis=0)

    r = bootstrap(tuple(arrays), gap, resolved=opts, paired=paired)
    top_of_lower, bottom_of_upper = level_of[low_idx].max(), level_of[up_idx].min()
    between = [names[i] for i in other_idx if top_of_lower < level_of[i] < bottom_of_upper]
    supported, refuted = judging.directional(r.low, r.high, threshold=min_gap, min_effect=0.0, side=+1)
    degenerate = bool(r.degenerate)
    status = judging.status_of(bool(supported) and not between, bool(refuted), degenerate)
    p = 1.0 if between else float(invert(r, lambda lo, hi: lo > min_gap, alpha=opts.alpha))
    what = "log10 " if log else ""
    quantity = f"{what}gap min(upper) - max(lower) of {statistic_name(statistic)}"
    rule = (f"supported if the {judging.pct(r.confidence_level)} CI of the {quantity} lies wholly above "
            f"{min_gap:g} and no other member falls between; refuted if wholly below {min_gap:g}; else inconclusive")
    shown = Status.SUPPORTED if (bool(supported) and between) else status
    reason = judging.directional_reason(shown, float(r.low), float(r.high), r.confidence_level, side=+1,
                                        threshold=min_gap, min_effect=0.0, degenerate=degenerate)
    if between and not degenerate:
        reason += f"; but members {between} fall between the clusters, so there are not two clean clusters"
    fold = (lambda g: float(10 ** g)) if log else (lambda g: None)
    extra = {"alpha": opts.alpha, "min_gap": min_gap, "log10": log, "assignment": assignment, "paired": paired,
             "upper": [names[i] for i in up_idx], "lower": [names[i] for i in low_idx], "between": between,
             "fold_gap": fold(float(r.estimate)), "fold_gap_ci": [fold(float(r.low)), fold(float(r.high))],
             "members": {m: {"estimate": float(theta[i]), "scaled": float(level_of[i]), "n": int(arrays[i].shape[0]),
                             "cluster": "upper" if i in up_idx else "lower" if i in low_idx else "other"}
                         for i, m in enumerate(names)}}
    ev = judging.evidence_from(r, (), statistic=quantity, unit=unit, n=sum(a.shape[0] for a in arrays),
                               p_value=p, extra=extra)
    caveats = thin_tail_caveat(r.n_resamples, r.confidence_level)
    if assignment != "given":
        caveats += ("clusters were found from the data (largest log-gap), not stated by the claim",)
    if status is Status.SUPPORTED:
        p = min(p, opts.alpha)
    return judging.judgement(status, ev, rule, p_value=p, reason=reason, caveats=caveats)


def _clusters(names, level_of, upper, lower):
    """Indices (upper, lower, others) and how they were assigned."""
    index = {m: i for i, m in enumerate(names)}
    for given in (upper, lower):
        unknown = set(given or ()) - set(index)
        if unknown:
            raise ValueError(f"unknown members {sorted(unknown)}; known: {names}")
    if upper is None and lower is None:
        order = np.argsort(level_of, kind="stable")
        cut = int(np.argmax(np.diff(level_of[order]))) + 1
        return list(order[cut:]), list(order[:cut]), [], "largest log-gap"
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
