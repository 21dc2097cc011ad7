"""Judgements that involve no sampling: exact arithmetic, exact checks, and designs too small to decide.

Two constructors, used wherever a claim is judged without an interval:

* :func:`exact` — a claim decided by exact arithmetic on fixed numbers (a paper's published table,
  a deterministic identity such as "the zero-noise run equals the reference"). There is no
  sampling error, so the interval is the point, the level is 1, and the outcome is SUPPORTED when
  the stated condition holds and REFUTED when it fails. Both p-values are ``None`` (nothing to
  adjust): such verdicts do not take part in a multiple-comparison family.
* :func:`too_few_units` — the design cannot reach a decision (three models cannot show two
  clusters; five paired seeds cannot reach one-sided p <= 0.025 with an exact test):
  INCONCLUSIVE with the reason, never a verdict in either direction.

Examples
--------
>>> from lmclaims.stats.exact import exact, too_few_units
>>> exact(1.35 < 1.5, statistic="published GD_ratio", estimate=1.35, rule="supported if < 1.5",
...       reason="1.35 < 1.5").status.value
'supported'
>>> too_few_units("gap statistic", have="3 models", need="at least 4 models", n=3).status.value
'inconclusive'
"""

from __future__ import annotations

import numpy as np

from lmclaims.stats import judging
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status


def exact(holds: bool, *, statistic: str, estimate: float, rule: str, reason: str, unit: str = "value",
          n: int = 1, method: str = "exact arithmetic (no sampling)", extra: dict | None = None, label: str = "",
          caveats=()) -> Judgement:
    """SUPPORTED if ``holds`` else REFUTED, for a condition computed exactly on fixed numbers.

    Parameters
    ----------
    holds : bool
        The claim's condition, evaluated exactly (e.g. ``published_gap >= 10``).
    statistic, estimate : the quantity and its exact value (shown with a point "interval").
    rule, reason : the condition in words, and why it holds / fails with the numbers.
    """
    if not isinstance(holds, (bool, np.bool_)):
        raise TypeError(f"exact() needs a bool condition, got {type(holds).__name__}")
    ev = Evidence(statistic=statistic, estimate=float(estimate),
                  confidence_interval=ConfidenceInterval(float(estimate), float(estimate)), n=int(n), unit=unit,
                  method=method, confidence_level=1.0, seed=None, p_value=None,
                  extra={"exact": True, **dict(extra or {})})
    return judging.judgement(Status.SUPPORTED if bool(holds) else Status.REFUTED, ev, rule, p_value=None,
                             p_refute=None, reason=reason, label=label, caveats=caveats)


def too_few_units(statistic: str, *, have: str, need: str, n: int, unit: str = "model", label: str = "",
                  extra: dict | None = None, caveats=()) -> Judgement:
    """INCONCLUSIVE: the design has ``have`` where a decision at the test's level needs ``need``."""
    nan = float("nan")
    ev = Evidence(statistic=statistic, estimate=nan, confidence_interval=ConfidenceInterval(nan, nan), n=int(n),
                  unit=unit, method="not computed: the design cannot reach a decision", confidence_level=0.95,
                  extra=dict(extra or {}))
    return judging.judgement(Status.INCONCLUSIVE, ev, f"a verdict needs {need}", p_value=None, p_refute=None,
                             reason=f"the design has {have}; a verdict at this level needs {need}", label=label,
                             caveats=caveats)


def refused(statistic: str, *, reason: str, n: int, unit: str = "text", label: str = "", extra: dict | None = None,
            estimate: float = float("nan"), rule: str = "no verdict: the method cannot reach the level here",
            confidence_level: float = 0.95) -> Judgement:
    """INCONCLUSIVE because the method cannot be trusted at this design (``reason`` says why).

    >>> refused("rho", reason="12 texts: too few for a bootstrap", n=12).reason
    '12 texts: too few for a bootstrap'
    """
    nan = float("nan")
    ev = Evidence(statistic=statistic, estimate=float(estimate), confidence_interval=ConfidenceInterval(nan, nan),
                  n=int(n), unit=unit, method="not computed", confidence_level=float(confidence_level),
                  extra={"method_reason": reason, "direction": "unresolved", "refuted_as": None, **dict(extra or {})})
    return judging.judgement(Status.INCONCLUSIVE, ev, rule, p_value=1.0, p_refute=1.0, reason=reason, label=label)
