"""Rates: a proportion (e.g. a self-transition probability) lies below a bound."""

from __future__ import annotations

import numpy as np
import scipy.stats

from dataclasses import replace

from lmclaims.stats import engine, judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.exact import refused
from lmclaims.stats.resampling import bootstrap, invert
from lmclaims.stats.validation import same_units, units_array


def proportion_below(successes, n, threshold: float, *, unit: str = "trial", name: str = "rate",
                     confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
                     method: str | None = None) -> Judgement:
    """Claim: a rate :math:`\\pi` lies below ``threshold`` (e.g. self-transition probability < 0.04).

    Two forms:

    * scalars ``successes = k``, ``n``: k successes in n *independent* trials.
      ``scipy.stats.binomtest`` with the exact (Clopper-Pearson) interval at level
      :math:`1-\\alpha`; SUPPORTED if its upper end is below the threshold, REFUTED if its lower
      end is above, else INCONCLUSIVE. ``p_value = min(1, 2 P(X \\le k; n, \\text{threshold}))``,
      so that p <= alpha exactly when the two-sided exact interval lies below the threshold;
      ``p_refute = min(1, 2 P(X \\ge k))`` likewise for "wholly above".
    * arrays of per-unit counts (``successes[i]`` of ``n[i]`` trials in text i): trials within a
      text are not independent, so the pooled rate :math:`\\hat\\pi = \\sum k_i / \\sum n_i` is
      bootstrapped over texts (ratio estimator, paired resampling of :math:`(k_i, n_i)`), with
      the same rule on the bootstrap interval (BCa, >= 20 resamples beyond each end; fewer than
      20 texts: INCONCLUSIVE with the reason).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold!r}")
    opts = resolve(confidence_level, n_resamples, rng, method)
    if np.ndim(successes) == 0 and np.ndim(n) == 0:
        return _binomial(int(successes), int(n), threshold, opts, unit, name)
    k = units_array(successes, name="successes", max_ndim=1)
    t = units_array(n, name="n", max_ndim=1)
    same_units(k, t, names=("successes", "n"))
    if np.any(k < 0) or np.any(k > t) or np.any(t <= 0):
        raise ValueError("per-unit counts need 0 <= successes <= n and n > 0")
    ratio = lambda a, b, axis=-1: np.sum(a, axis=axis) / np.sum(b, axis=axis)  # noqa: E731
    quantity = f"pooled {name} sum(successes)/sum(n)"
    resamples, refusal = engine.resamples_for(opts, tail=opts.alpha / 2, n=k.shape[0], unit="text",
                                              what="a bootstrap interval of a pooled rate")
    if refusal:
        return refused(quantity, reason=refusal, n=k.shape[0], unit=unit, estimate=float(k.sum() / t.sum()))
    r = bootstrap((k, t), ratio, resolved=replace(opts, n_resamples=resamples), paired=True)
    supported, refuted = judging.directional(r.low, r.high, threshold=threshold, min_effect=0.0, side=-1)
    degenerate = bool(r.degenerate)
    status = judging.status_of(bool(supported), bool(refuted), degenerate)
    p = float(invert(r, lambda lo, hi: hi < threshold, alpha=opts.alpha))
    p_r = float(invert(r, lambda lo, hi: lo > threshold, alpha=opts.alpha))
    rule = judging.directional_rule(quantity, r.confidence_level, side=-1, threshold=threshold, min_effect=0.0)
    reason = judging.directional_reason(status, float(r.low), float(r.high), r.confidence_level, side=-1,
                                        threshold=threshold, min_effect=0.0, degenerate=degenerate)
    if degenerate and np.all(k == 0):
        reason += "; no successes at all: if trials are independent, pass pooled counts to use binomtest"
    extra = {"alpha": opts.alpha, "threshold": threshold, "successes": int(k.sum()), "trials": int(t.sum()),
             **_shared(float(r.low), float(r.high), threshold, status, p, p_r,
                       f"{k.shape[0]} texts >= {engine.SMALL_N}: paired BCa of the pooled rate, {resamples} resamples")}
    ev = judging.evidence_from(r, (), statistic=quantity, unit=unit, n=k.shape[0], p_value=p, extra=extra)
    return judging.judgement(status, ev, rule, reason=reason,
                             p_value=judging.consistent(p, status is Status.SUPPORTED, opts.alpha),
                             p_refute=judging.consistent(p_r, status is Status.REFUTED, opts.alpha))


def _shared(lo, hi, threshold, status, p, p_r, why) -> dict:
    return {"min_effect": 0.0, "side": "below", "direction": judging.direction_of(lo, hi, threshold),
            "refuted_as": "opposite" if status is Status.REFUTED else None, "method_reason": why,
            "p_support": p, "p_refute": p_r}


def _binomial(k: int, n: int, threshold: float, opts, unit: str, name: str) -> Judgement:
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need n >= 1 and 0 <= successes <= n, got successes={k}, n={n}")
    test = scipy.stats.binomtest(k, n, threshold, alternative="less")
    ci = scipy.stats.binomtest(k, n, threshold).proportion_ci(confidence_level=opts.confidence_level, method="exact")
    p = min(1.0, 2.0 * float(test.pvalue))
    p_r = min(1.0, 2.0 * float(scipy.stats.binomtest(k, n, threshold, alternative="greater").pvalue))
    status = Status.SUPPORTED if ci.high < threshold else Status.REFUTED if ci.low > threshold else Status.INCONCLUSIVE
    level = judging.pct(opts.confidence_level)
    rule = (f"supported if the {level} exact (Clopper-Pearson) CI of the {name} lies wholly below {threshold:g}; "
            f"refuted if wholly above; else inconclusive")
    reason = judging.directional_reason(status, ci.low, ci.high, opts.confidence_level, side=-1, threshold=threshold,
                                        min_effect=0.0, degenerate=False)
    ev = Evidence(statistic=f"{name} k/n", estimate=k / n, confidence_interval=ConfidenceInterval(ci.low, ci.high),
                  n=n, unit=unit, method="exact binomial (scipy.stats.binomtest, Clopper-Pearson interval)",
                  confidence_level=opts.confidence_level, seed=None, p_value=p,
                  extra={"alpha": opts.alpha, "threshold": threshold, "successes": k, "trials": n,
                         "p_one_sided": float(test.pvalue),
                         **_shared(ci.low, ci.high, threshold, status, p, p_r, "exact binomial (Clopper-Pearson)")})
    return judging.judgement(status, ev, rule, reason=reason,
                             p_value=judging.consistent(p, status is Status.SUPPORTED, opts.alpha),
                             p_refute=judging.consistent(p_r, status is Status.REFUTED, opts.alpha),
                             caveats=(f"assumes the {n} {unit}s are independent",))
