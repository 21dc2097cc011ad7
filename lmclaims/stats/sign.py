"""Sign agreement: a quantity sits on the same side of a reference in two conditions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import Judgement, Status
from lmclaims.stats.resampling import bootstrap, component, invert, thin_tail_caveat
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
    probability at most :math:`\\alpha/2`. The p-value is :math:`\\max(p_a, p_b)` (each the
    inversion p of "interval excludes r") when the point estimates agree in sign, else 1.

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

    def both(u, v, axis=-1):
        return np.stack([stat(u, axis=axis) - reference, stat(v, axis=axis) - reference])

    r = bootstrap((x, y), both, resolved=opts, paired=paired)
    lo, hi, est = r.low, r.high, r.estimate
    excludes = lambda low, high: (low > 0) | (high < 0)  # noqa: E731  interval excludes the reference
    p_each = [float(invert(component(r, i), lambda l, h: excludes(l, h), alpha=opts.alpha)) for i in (0, 1)]
    up = (lo > 0)
    down = (hi < 0)
    degenerate = bool(np.any(r.degenerate))
    if degenerate:
        status = Status.INCONCLUSIVE
    elif (up[0] and up[1]) or (down[0] and down[1]):
        status = Status.SUPPORTED
    elif (up[0] and down[1]) or (down[0] and up[1]):
        status = Status.REFUTED
    else:
        status = Status.INCONCLUSIVE
    positive = est[0] + est[1] >= 0
    pick = np.min if positive else np.max
    psi, psi_lo, psi_hi = float(pick(est)), float(pick(lo)), float(pick(hi))
    agree = np.sign(est[0]) == np.sign(est[1]) and est[0] != 0
    p = max(p_each) if agree else 1.0
    if status is Status.SUPPORTED:
        p = min(p, opts.alpha)
    sname = statistic_name(statistic)
    quantity = f"{sname}({names[0]}) - {reference:g} and {sname}({names[1]}) - {reference:g}"
    level = judging.pct(r.confidence_level)
    rule = (f"supported if the {level} CIs of {quantity} both lie wholly on the same side of 0; "
            f"refuted if they lie wholly on opposite sides; else inconclusive")
    ci = {n: [judging.fmt(float(lo[i])), judging.fmt(float(hi[i]))] for i, n in enumerate(names)}
    reason = (judging.DEGENERATE_REASON if degenerate else
              f"{level} CIs relative to {reference:g}: {names[0]} [{ci[names[0]][0]}, {ci[names[0]][1]}], "
              f"{names[1]} [{ci[names[1]][0]}, {ci[names[1]][1]}]")
    extra = {"alpha": opts.alpha, "reference": reference, "paired": paired,
             "conditions": {n: {"estimate": float(est[i]) + reference, "ci": [float(lo[i]) + reference, float(hi[i]) + reference],
                                "p_excludes_reference": p_each[i], "n": int((x, y)[i].shape[0])}
                            for i, n in enumerate(names)}}
    ev = judging.evidence_from(r, 0, statistic=f"weaker shift of {sname} from {reference:g}", unit=unit,
                               n=min(x.shape[0], y.shape[0]), p_value=p, extra=extra,
                               estimate=psi, low=psi_lo, high=psi_hi)
    return judging.judgement(status, ev, rule, p_value=p, reason=reason,
                             caveats=thin_tail_caveat(r.n_resamples, r.confidence_level))
