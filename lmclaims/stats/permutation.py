"""Permutation and sign-flip tests (``scipy.stats.permutation_test``), with the smallest attainable p first.

:func:`permutation` — structure against a shuffled null (e.g. association of a per-layer quantity
with depth order vs shuffled order; the statistic is the caller's). One-sided permutation p
:math:`p_{perm}` in the claimed direction; support p :math:`= \\min(1, 2 p_{perm})`, so SUPPORTED iff
:math:`p_{perm} \\le \\alpha/2` (the directional convention). A permutation test shows structure,
not its absence: a large p is no evidence against the claim, so ``p_refute`` is None and the helper
never says REFUTED (a margin-based refutation would need an interval, which a permutation test does
not give).

:func:`sign_flip` — "the mean of paired differences d lies beyond the threshold" for a handful of
seeds: exact sign-flip test of :math:`d_i - b` (boundary :math:`b = t \\pm \\delta`) with
``permutation_type="samples"`` (all :math:`2^n` sign patterns when feasible). Under the boundary
null (d symmetric about b) each one-sided p is exact. Support p :math:`= \\min(1, 2 p_{claim})`,
refutation p :math:`= \\min(1, 2 p_{other})` (the evidence that the mean lies on the other side of
the boundary); REFUTED iff :math:`p_{refute} \\le \\alpha`.

Reachability: an exact test with :math:`N` equally likely arrangements cannot give a one-sided
p below :math:`1/N`; if :math:`2/N > \\alpha` no outcome can reach the level and the helper says
INCONCLUSIVE with the reason (5 paired seeds: :math:`2/2^5 = 0.0625 > 0.05`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.stats

from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.exact import too_few_units
from lmclaims.stats.validation import statistic_name, units_array

MAX_EXACT = 200_000      # enumerate every arrangement up to this many


def arrangements(sizes: tuple[int, ...], permutation_type: str) -> int:
    """Number of distinct arrangements an exact permutation test enumerates.

    >>> arrangements((5,), "samples"), arrangements((4, 4), "pairings"), arrangements((3, 3), "independent")
    (32, 24, 20)
    """
    if permutation_type == "samples":
        return 2 ** sizes[0]
    if permutation_type == "pairings":
        return math.factorial(sizes[0]) ** (len(sizes) - 1)
    total, out = sum(sizes), 1
    for s in sizes:
        out *= math.comb(total, s)
        total -= s
    return out


def smallest_p(sizes, permutation_type: str, n_resamples: int) -> float:
    """Smallest attainable one-sided p: 1/N exact, 1/(B+1) randomised with B resamples."""
    n = arrangements(tuple(sizes), permutation_type)
    return 1.0 / n if n <= max(n_resamples, MAX_EXACT) else 1.0 / (n_resamples + 1)


def _run(data, statistic, permutation_type, alternative, n_resamples, seed):
    n = arrangements(tuple(d.shape[-1] for d in data), permutation_type)
    b = np.inf if n <= max(n_resamples, MAX_EXACT) else n_resamples
    if permutation_type == "pairings" and len(data) > 1:
        # keep the first sample fixed and permute the others (scipy would permute every sample:
        # (n!)^k arrangements where (n!)^(k-1) are distinct)
        first, rest, original = data[0], data[1:], statistic

        def fixed_first(*others, axis=-1):
            return original(np.broadcast_to(first, np.shape(others[0])), *others, axis=axis)

        statistic, data = fixed_first, rest
    return scipy.stats.permutation_test(data, statistic, permutation_type=permutation_type, vectorized=True,
                                        alternative=alternative, n_resamples=b, axis=-1,
                                        rng=np.random.default_rng(seed))


def permutation(data, statistic: Callable, *, side: int = +1, permutation_type: str = "pairings",
                name: str = "statistic", unit: str = "unit", confidence_level: float | None = None,
                n_resamples: int | None = None, rng=None) -> Judgement:
    """Claim: ``statistic(*data)`` is larger (``side=+1``) / smaller (-1) than under shuffling.

    ``data``: tuple of 1-D arrays (units on axis 0); ``statistic(*samples, axis=-1)`` must be
    vectorised. ``permutation_type`` as in ``scipy.stats.permutation_test`` ("pairings": shuffle
    the pairing of x with y, e.g. a quantity against depth order). Module docstring: rule, p-values.

    >>> depth = np.arange(12.0); q = depth + np.random.default_rng(0).normal(0, 2, 12)
    >>> corr = lambda x, y, axis=-1: np.mean((x - x.mean(axis, keepdims=True)) * (y - y.mean(axis, keepdims=True)), axis)
    >>> j = permutation((depth, q), corr, rng=0)
    >>> j.status.value, j.p_refute
    ('supported', None)
    """
    if side not in (+1, -1):
        raise ValueError(f"side must be +1 or -1, got {side!r}")
    if permutation_type not in ("pairings", "samples", "independent"):
        raise ValueError(f"permutation_type must be pairings/samples/independent, got {permutation_type!r}")
    if not isinstance(data, (tuple, list)) or not data:
        raise ValueError("permutation needs a tuple of per-unit arrays, e.g. (x, y)")
    opts = resolve(confidence_level, n_resamples, rng, None)
    arrays = tuple(units_array(d, name=f"data[{i}]", max_ndim=1) for i, d in enumerate(data))
    alpha = opts.alpha
    quantity = f"{statistic_name(statistic)}({name})"
    sizes = tuple(a.shape[0] for a in arrays)
    b = max(opts.n_resamples, int(math.ceil(20 / (alpha / 2))))
    floor = smallest_p(sizes, permutation_type, b)
    if 2 * floor > alpha:
        return too_few_units(quantity, have=f"{sizes[0]} {unit}s ({arrangements(sizes, permutation_type)} "
                             f"arrangements, smallest one-sided p {floor:.3g})", n=sizes[0], unit=unit,
                             need=f"a smallest attainable one-sided p <= alpha/2 = {alpha / 2:.3g}",
                             extra={"direction": "unresolved", "refuted_as": None, "smallest_p": floor})
    res = _run(arrays, statistic, permutation_type, "greater" if side > 0 else "less", b, opts.seed)
    p_perm = float(res.pvalue)
    p = min(1.0, 2.0 * p_perm)
    status = Status.SUPPORTED if p <= alpha else Status.INCONCLUSIVE
    null = np.asarray(res.null_distribution, dtype=float)
    lo, hi = (float(np.quantile(null, q)) for q in (alpha / 2, 1 - alpha / 2))
    word = "above" if side > 0 else "below"
    rule = (f"supported if {quantity} lies {word} its permutation null ({permutation_type}) at one-sided "
            f"alpha/2={alpha / 2:.3g}; never refuted (a permutation test shows structure, not its absence)")
    reason = f"observed {judging.fmt(float(res.statistic))}, null central {judging.pct(1 - alpha)} range [{lo:.4g}, {hi:.4g}], one-sided p {p_perm:.3g}"
    extra = {"alpha": alpha, "permutation_type": permutation_type, "p_permutation": p_perm, "smallest_p": floor,
             "null_range": [lo, hi], "side": word, "direction": word if status is Status.SUPPORTED else "unresolved",
             "refuted_as": None, "method_reason": f"permutation test, smallest attainable one-sided p {floor:.3g}",
             "p_support": p, "p_refute": None}
    ev = Evidence(statistic=quantity, estimate=float(res.statistic), confidence_interval=ConfidenceInterval(lo, hi),
                  n=sizes[0], unit=unit, method=f"scipy.stats.permutation_test ({permutation_type})",
                  confidence_level=1 - alpha, seed=opts.seed, p_value=p, extra=extra)
    return judging.judgement(status, ev, rule, p_value=judging.consistent(p, status is Status.SUPPORTED, alpha),
                             p_refute=None, reason=reason)


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def sign_flip(d, *, threshold: float = 0.0, side: int = +1, min_effect: float = 0.0, unit: str = "seed",
              name: str = "paired difference", confidence_level: float | None = None,
              n_resamples: int | None = None, rng=None) -> Judgement:
    """Claim: mean(d) > threshold + min_effect (``side=+1``) or < threshold - min_effect (-1),
    by an exact sign-flip test of ``d - boundary`` (module docstring).

    >>> sign_flip([0.3, 0.5, 0.2, 0.4, 0.6]).reason.startswith("the design has 5 seeds")
    True
    >>> sign_flip([0.3, 0.5, 0.2, 0.4, 0.6, 0.35, 0.45]).status.value
    'supported'
    >>> sign_flip([-0.3, -0.5, -0.2, -0.4, -0.6, -0.35, -0.45]).evidence.extra["refuted_as"]
    'opposite'
    """
    if side not in (+1, -1):
        raise ValueError(f"side must be +1 or -1, got {side!r}")
    if not (np.isfinite(min_effect) and min_effect >= 0) or not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite and min_effect >= 0, got {threshold!r}, {min_effect!r}")
    opts = resolve(confidence_level, n_resamples, rng, None)
    x = units_array(d, name=name, max_ndim=1)
    n, alpha = x.shape[0], opts.alpha
    bound = threshold + side * min_effect
    quantity = f"mean({name})"
    b = max(opts.n_resamples, int(math.ceil(20 / (alpha / 2))))
    floor = smallest_p((n,), "samples", b)
    if 2 * floor > alpha:
        return too_few_units(quantity, have=f"{n} {unit}s ({2 ** n} sign patterns, smallest one-sided p {floor:.3g})",
                             need=f"a smallest attainable one-sided p <= alpha/2 = {alpha / 2:.3g} "
                                  f"(at least {int(math.ceil(math.log2(2 / alpha)))} {unit}s)", n=n, unit=unit,
                             extra={"direction": "unresolved", "refuted_as": None, "smallest_p": floor})
    shifted = x - bound
    res_gt = _run((shifted,), _mean, "samples", "greater", b, opts.seed)
    res_lt = _run((shifted,), _mean, "samples", "less", b, opts.seed)
    p_claim, p_other = (res_gt.pvalue, res_lt.pvalue) if side > 0 else (res_lt.pvalue, res_gt.pvalue)
    p_s, p_r = min(1.0, 2.0 * float(p_claim)), min(1.0, 2.0 * float(p_other))
    degenerate = bool(np.all(shifted == 0))
    status = (Status.INCONCLUSIVE if degenerate else Status.SUPPORTED if p_s <= alpha else
              Status.REFUTED if p_r <= alpha else Status.INCONCLUSIVE)
    est = float(x.mean())      # no interval: the decision is the test itself
    word = "above" if side > 0 else "below"
    refuted_as = None
    if status is Status.REFUTED:
        refuted_as = "opposite" if (est - threshold) * side < 0 or min_effect == 0 else "short of margin"
    rule = (f"supported if the exact sign-flip test puts mean({name}) {word} {bound:g} at one-sided "
            f"alpha/2={alpha / 2:.3g}; refuted if it puts it on the other side at alpha/2; else inconclusive")
    reason = (f"mean {est:.4g}; one-sided sign-flip p {float(p_claim):.3g} (claim side), "
              f"{float(p_other):.3g} (other side); smallest attainable {floor:.3g}")
    extra = {"alpha": alpha, "threshold": threshold, "min_effect": min_effect, "side": word, "smallest_p": floor,
             "direction": "above" if 2 * res_gt.pvalue <= alpha else "below" if 2 * res_lt.pvalue <= alpha
             else "unresolved",
             "refuted_as": refuted_as, "method_reason": f"{n} {unit}s: exact sign-flip (2^{n} patterns)",
             "p_support": p_s, "p_refute": p_r}
    ev = Evidence(statistic=quantity, estimate=est, confidence_interval=ConfidenceInterval(float("nan"), float("nan")), n=n, unit=unit,
                  method="exact sign-flip test (scipy.stats.permutation_test, permutation_type='samples')",
                  confidence_level=1 - alpha, seed=opts.seed, p_value=p_s, extra=extra)
    return judging.judgement(status, ev, rule, p_value=judging.consistent(p_s, status is Status.SUPPORTED, alpha),
                             p_refute=judging.consistent(p_r, status is Status.REFUTED, alpha), reason=reason)
