"""Sign agreement: a quantity sits on the same side of a reference in two conditions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dataclasses import replace

from lmclaims.stats import engine, judging
from lmclaims.stats.context import resolve
from lmclaims.stats.engine import SMALL_N
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.exact import refused
from lmclaims.stats.resampling import bootstrap, component, invert
from lmclaims.stats.validation import same_units, statistic_name, units_array, vectorized


def same_sign(a, b, *, reference: float = 0.0, paired: bool = True, statistic: Callable = np.mean,
              unit: str = "text", names: tuple[str, str] = ("a", "b"), confidence_level: float | None = None,
              n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement:
    """Claim: :math:`\\mathrm{sign}(\\theta_a - r) = \\mathrm{sign}(\\theta_b - r)`, e.g. the block
    gain G is above 1 both before and after a fine-tune (``reference=1``), per text, paired.

    Both :math:`\\theta_a = \\mathrm{statistic}(a)` and :math:`\\theta_b` get a two-sided bootstrap
    interval at level :math:`1-\\alpha` from one joint bootstrap (units resampled together when
    ``paired``). Intersection-union rule:

    * SUPPORTED    if both intervals lie wholly on the same side of :math:`r`;
    * REFUTED      if they lie wholly on opposite sides;
    * INCONCLUSIVE otherwise.

    Under any null where the signs differ (or one :math:`\\theta` equals :math:`r`), a false
    SUPPORTED needs that condition's interval to exclude :math:`r` on the wrong side, which has
    probability at most :math:`\\alpha/2`; likewise a false REFUTED when both lie on one side.
    Support p :math:`= \\min(\\max(p^+_a, p^+_b), \\max(p^-_a, p^-_b))` and refutation p
    :math:`= \\min(\\max(p^+_a, p^-_b), \\max(p^-_a, p^+_b))`, where :math:`p^\\pm` is the
    smallest alpha at which a condition's interval lies wholly above / below r. Methods matched to
    n: below 20 units (and the mean) Student t intervals per condition; else a joint BCa bootstrap
    with >= 20 resamples beyond each end.

    The reported estimate is the *weaker* shift in the common direction,
    :math:`\\psi = \\min(\\theta_a - r, \\theta_b - r)` when both point estimates are above
    :math:`r` (:math:`\\max` when below), with interval :math:`[\\min L - r, \\min U - r]`
    (resp. :math:`\\max`); per-condition estimates and intervals are in ``evidence.extra``.
    """
    opts = resolve(confidence_level, n_resamples, rng, method)
    x = units_array(a, name=names[0], max_ndim=1)
    y = units_array(b, name=names[1], max_ndim=1)
    if paired:
        same_units(x, y, names=names)
    if not np.isfinite(reference):
        raise ValueError(f"reference must be finite, got {reference!r}")
    stat = vectorized(statistic)
    sname = statistic_name(statistic)
    quantity = f"{sname}({names[0]}) - {reference:g} and {sname}({names[1]}) - {reference:g}"
    n = min(x.shape[0], y.shape[0])
    r = None
    if n < SMALL_N and statistic is np.mean:
        lo, hi, est, p_up, p_down = _t_each((x, y), reference, opts.confidence_level)
        degenerate = bool(np.ptp(x) == 0 and np.ptp(y) == 0) or not np.all(np.isfinite(np.r_[lo, hi]))
        how = f"{n} {unit}s < {SMALL_N}: Student t interval of each condition's mean"
    else:
        resamples, refusal = engine.resamples_for(opts, tail=opts.alpha / 2, n=n, unit=unit)
        if refusal:
            return refused(quantity, reason=refusal, n=n, unit=unit)

        def both(u, v, axis=-1):
            return np.stack([stat(u, axis=axis) - reference, stat(v, axis=axis) - reference])

        r = bootstrap((x, y), both, resolved=replace(opts, n_resamples=resamples), paired=paired)
        lo, hi, est = r.low, r.high, r.estimate
        p_up = [float(invert(component(r, i), lambda l, h: l > 0, alpha=opts.alpha)) for i in (0, 1)]
        p_down = [float(invert(component(r, i), lambda l, h: h < 0, alpha=opts.alpha)) for i in (0, 1)]
        degenerate = bool(np.any(r.degenerate))
        how = f"{n} {unit}s >= {SMALL_N}: joint BCa, {resamples} resamples"
    p_each = [min(p_up[i], p_down[i]) for i in (0, 1)]
    up = (lo > 0)
    down = (hi < 0)
    if degenerate:
        status = Status.INCONCLUSIVE
    elif (up[0] and up[1]) or (down[0] and down[1]):
        status = Status.SUPPORTED
    elif (up[0] and down[1]) or (down[0] and up[1]):
        status = Status.REFUTED
    else:
        status = Status.INCONCLUSIVE
    p = min(max(p_up), max(p_down))
    p_r = min(max(p_up[0], p_down[1]), max(p_down[0], p_up[1]))
    positive = est[0] + est[1] >= 0
    pick = np.min if positive else np.max
    psi, psi_lo, psi_hi = float(pick(est)), float(pick(lo)), float(pick(hi))
    level = judging.pct(opts.confidence_level)
    rule = (f"supported if the {level} CIs of {quantity} both lie wholly on the same side of 0; "
            f"refuted if they lie wholly on opposite sides; else inconclusive")
    ci = {n: [judging.fmt(float(lo[i])), judging.fmt(float(hi[i]))] for i, n in enumerate(names)}
    reason = (judging.DEGENERATE_REASON if degenerate else
              f"{level} CIs relative to {reference:g}: {names[0]} [{ci[names[0]][0]}, {ci[names[0]][1]}], "
              f"{names[1]} [{ci[names[1]][0]}, {ci[names[1]][1]}]")
    extra = {"alpha": opts.alpha, "reference": reference, "paired": paired, "threshold": reference,
             "min_effect": 0.0, "side": "same", "method_reason": how, "p_support": float(p), "p_refute": float(p_r),
             "direction": "same" if status is Status.SUPPORTED else "opposite" if status is Status.REFUTED
             else "unresolved", "refuted_as": "opposite" if status is Status.REFUTED else None,
             "conditions": {n: {"estimate": float(est[i]) + reference, "ci": [float(lo[i]) + reference, float(hi[i]) + reference],
                                "p_excludes_reference": p_each[i], "n": int((x, y)[i].shape[0])}
                            for i, n in enumerate(names)}}
    what = f"weaker shift of {sname} from {reference:g}"
    if r is not None:
        ev = judging.evidence_from(r, 0, statistic=what, unit=unit, n=n, p_value=p, extra=extra,
                                   estimate=psi, low=psi_lo, high=psi_hi)
    else:
        ev = Evidence(statistic=what, estimate=psi, confidence_interval=ConfidenceInterval(psi_lo, psi_hi), n=n,
                      unit=unit, method=f"Student t (scipy.stats.ttest_1samp) per condition, units: {unit}s",
                      confidence_level=opts.confidence_level, seed=None, p_value=p, extra=extra)
    return judging.judgement(status, ev, rule, reason=reason,
                             p_value=judging.consistent(p, status is Status.SUPPORTED, opts.alpha),
                             p_refute=judging.consistent(p_r, status is Status.REFUTED, opts.alpha))


def _t_each(samples, reference, level):
    """Per-condition Student t intervals of mean - reference and the p-values of "interval wholly
    above 0" (2 p_greater) and "wholly below 0" (2 p_less), dual to the interval."""
    import scipy.stats

    lo, hi, est, p_up, p_down = [], [], [], [], []
    with np.errstate(all="ignore"):
        for z in samples:
            d = np.sort(z) - reference                  # sums independent of unit order
            res = scipy.stats.ttest_1samp(d, 0.0)
            ci = res.confidence_interval(confidence_level=level)
            m = float(d.mean())
            if np.ptp(d) == 0:                      # no spread: the interval is the point
                lo.append(m), hi.append(m)
                p_up.append(0.0 if m > 0 else 1.0), p_down.append(0.0 if m < 0 else 1.0)
            else:
                lo.append(float(ci.low)), hi.append(float(ci.high))
                p_up.append(min(1.0, 2 * float(scipy.stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)))
                p_down.append(min(1.0, 2 * float(scipy.stats.ttest_1samp(d, 0.0, alternative="less").pvalue)))
            est.append(m)
    return np.array(lo), np.array(hi), np.array(est), p_up, p_down
