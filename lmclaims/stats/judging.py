"""Turning intervals into judgements: the decision rules shared by the assertion helpers.

Directional rule (``above``, ``below``, ``greater``, ``correlated``): for a claim
:math:`\\theta > t` with indifference margin :math:`\\delta \\ge 0` and a two-sided interval
:math:`[L, U]` at level :math:`1-\\alpha`,

* SUPPORTED    if :math:`L > t + \\delta`,
* REFUTED      if :math:`U < t + \\delta` (the interval lies wholly outside the claim's region),
* INCONCLUSIVE otherwise (mirror image for :math:`\\theta < t`).

At the boundary :math:`\\theta = t + \\delta` the chance of a false SUPPORTED is about
:math:`\\alpha/2` (one tail of a two-sided interval), and so is the chance of a false REFUTED
(the other tail). A REFUTED verdict says how (``refuted_as``): ``"opposite"`` if
:math:`U < t - \\delta` (:math:`U < t` when :math:`\\delta = 0`), ``"negligible"`` if
:math:`t - \\delta \\le L` and :math:`U < t + \\delta` (the effect lies within ±δ: refutation by
equivalence), else ``"short of margin"``.
"""

from __future__ import annotations

import weakref

import numpy as np

from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.resampling import Resampled


def pct(level: float) -> str:
    """0.95 -> '95%', 0.9875 -> '98.75%'."""
    return f"{100 * level:.6g}%"


def fmt(x: float) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.4g}"


def directional(low, high, *, threshold, min_effect, side: int):
    """Boolean arrays (supported, refuted) of the directional rule (module docstring)."""
    low, high = np.asarray(low), np.asarray(high)
    with np.errstate(invalid="ignore"):
        if side > 0:
            return low > threshold + min_effect, high < threshold + min_effect
        return high < threshold - min_effect, low > threshold - min_effect


def refuted_as(low: float, high: float, *, threshold: float, min_effect: float, side: int) -> str:
    """How a REFUTED directional verdict failed: "opposite" | "negligible" | "short of margin"."""
    t, d = float(threshold), float(min_effect)
    if side > 0:
        if high < (t - d if d > 0 else t):
            return "opposite"
        return "negligible" if d > 0 and low >= t - d else "short of margin"
    if low > (t + d if d > 0 else t):
        return "opposite"
    return "negligible" if d > 0 and high <= t + d else "short of margin"


def direction_of(low: float, high: float, reference: float) -> str:
    """Where an interval lies relative to ``reference`` (margins ignored): above / below / unresolved."""
    if np.isfinite(low) and low > reference:
        return "above"
    if np.isfinite(high) and high < reference:
        return "below"
    return "unresolved"


def consistent(p, decided, alpha: float):
    """Make a p-value agree exactly with the decision at ``alpha`` (float noise at the boundary)."""
    p = np.asarray(p, dtype=float)
    return np.where(decided, np.minimum(p, alpha), np.maximum(p, np.nextafter(alpha, 1.0)))

def status_of(supported: bool, refuted: bool, degenerate: bool) -> Status:
    if degenerate:
        return Status.INCONCLUSIVE
    if supported:
        return Status.SUPPORTED
    return Status.REFUTED if refuted else Status.INCONCLUSIVE


DEGENERATE_REASON = ("the bootstrap distribution is degenerate (all units identical, or the statistic "
                     "undefined on resamples), so no interval can be formed")


def evidence_from(r: Resampled, index, *, statistic: str, unit: str, n: int, extra: dict, p_value,
                  low=None, high=None, estimate=None, confidence_level=None) -> Evidence:
    """Evidence for element ``index`` of a (possibly batched) bootstrap."""
    est = r.estimate[index] if estimate is None else estimate
    lo = r.low[index] if low is None else low
    hi = r.high[index] if high is None else high
    dist = r.distribution[index]
    return Evidence(statistic=statistic, estimate=float(est), confidence_interval=ConfidenceInterval(float(lo), float(hi)),
                    n=int(n), unit=unit, method=r.method_text(unit),
                    confidence_level=float(r.confidence_level if confidence_level is None else confidence_level),
                    seed=r.seed, p_value=None if p_value is None else float(p_value),
                    bootstrap_distribution=tuple(float(v) for v in np.asarray(dist).reshape(-1)), extra=extra)


#: id -> weak reference of every Judgement issued by :func:`judgement` (see :func:`issued`)
_ISSUED: dict[int, weakref.ref] = {}


def judgement(status: Status, evidence: Evidence, rule: str, *, p_value, reason: str, label: str = "",
              caveats=(), p_refute=None) -> Judgement:
    """The one constructor of :class:`Judgement` objects: every helper of lmclaims.stats ends here.

    ``p_value`` is the support p-value, ``p_refute`` the refutation p-value (see ``Judgement``).
    The result is registered so that the plugin can tell a helper's judgement from one built or
    edited elsewhere (:func:`issued`).
    """
    j = Judgement(status=status, evidence=evidence, rule=rule, p_value=None if p_value is None else float(p_value),
                  reason=reason, label=label, caveats=tuple(caveats),
                  p_refute=None if p_refute is None else float(p_refute))
    key = id(j)
    _ISSUED[key] = weakref.ref(j, lambda _ref, key=key: _ISSUED.pop(key, None))
    return j


def issued(j) -> bool:
    """True iff ``j`` is a Judgement object returned by :func:`judgement` (not a copy or an edit).

    >>> from lmclaims.stats.exact import exact
    >>> j = exact(2.0 > 1.0, statistic="2 > 1", estimate=2.0, rule="supported if 2 > 1", reason="it is")
    >>> issued(j)
    True
    >>> import dataclasses
    >>> issued(dataclasses.replace(j, status=Status.REFUTED))
    False
    """
    ref = _ISSUED.get(id(j))
    return ref is not None and ref() is j


def directional_reason(status: Status, low: float, high: float, level: float, *, side: int,
                       threshold: float, min_effect: float, degenerate: bool) -> str:
    ci = f"the {pct(level)} CI [{fmt(low)}, {fmt(high)}]"
    up, down = threshold + min_effect, threshold - min_effect
    if degenerate:
        return DEGENERATE_REASON
    if status is Status.SUPPORTED:
        return f"{ci} lies wholly {'above ' + fmt(up) if side > 0 else 'below ' + fmt(down)}"
    if status is Status.REFUTED:
        return f"{ci} lies wholly {'below ' + fmt(up) if side > 0 else 'above ' + fmt(down)}"
    return f"{ci} overlaps [{fmt(down)}, {fmt(up)}]" if min_effect > 0 else f"{ci} contains {fmt(threshold)}"


def directional_rule(quantity: str, level: float, *, side: int, threshold: float, min_effect: float) -> str:
    up, down = fmt(threshold + min_effect), fmt(threshold - min_effect)
    if side > 0:
        return (f"supported if the {pct(level)} CI of {quantity} lies wholly above {up}; "
                f"refuted if wholly below {up}; else inconclusive")
    return (f"supported if the {pct(level)} CI of {quantity} lies wholly below {down}; "
            f"refuted if wholly above {down}; else inconclusive")
