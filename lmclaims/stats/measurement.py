"""Measurements: numbers a claim test reports where its claim predicts nothing (no verdict).

A claim such as "EleutherAI models dampen, Meta/OpenAI models expand" names no sign for a Google or
Alibaba model; the suite still measures G there and reports it, but a SUPPORTED verdict would claim
evidence for a prediction nobody made. These helpers return a
:class:`lmclaims.stats.evidence.Measurement`: the estimate, its interval, and where the interval lies
relative to a ``reference`` (``direction``):

* ``"above"`` if the interval's lower end exceeds ``reference``;
* ``"below"`` if its upper end lies below ``reference``;
* ``"unresolved"`` otherwise.

Margins play no role (there is no claim to be decided against a margin); the baseline gate watches
``direction``, so a measured sign flip fails CI.

:func:`measured` — per-unit values (texts, seeds): the interval method is the engine's, matched to n
(:mod:`lmclaims.stats.engine`), except that a mean gets the Student t interval at every n (BCa at 24
heavy-tailed texts mis-states the direction about twice as often as nominal; see the calibration);
another statistic gets BCa with enough resamples from 20 units on and no interval below. ``log=True`` measures a ratio quantity on the log scale (the statistic is then the
geometric mean :math:`\\exp(\\overline{\\log x})`, and the t interval applies even below 20 units);
the estimate and interval are reported back on the original scale.

:func:`measured_exact` — a quantity with no sampling error (a function of fixed weights, e.g. the
geometric-mean per-head ‖W_V^h‖/‖W_O^h‖ of one model): point interval, level 1.

Examples
--------
>>> import numpy as np
>>> g = np.exp(np.random.default_rng(0).normal(0.1, 0.05, 40))
>>> m = measured(g, 1.0, log=True, unit="text", name="G", rng=1)
>>> m.direction, round(m.evidence.estimate, 3), m.evidence.extra["direction"]
('above', 1.102, 'above')
>>> measured_exact(0.76, 1.0, name="per-head V/O ratio", unit="model", n=1).direction
'below'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lmclaims.stats import engine, judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Measurement
from lmclaims.stats.validation import statistic_name, units_array, vectorized

DEFAULT_REASON = "the claim makes no prediction here; the measured value is reported, not judged"


def measured(values, reference: float, *, unit: str = "text", name: str = "values", statistic: Callable = np.mean,
             log: bool = False, reason: str = DEFAULT_REASON, label: str = "", confidence_level: float | None = None,
             n_resamples: int | None = None, rng=None, method: str | None = None) -> Measurement:
    """Estimate, interval and direction of ``statistic(values)`` relative to ``reference``.

    Parameters
    ----------
    values : array [units]
        One number per independent unit (never per token).
    reference : float
        The value the direction is read against (e.g. 1.0 for a gain). With ``log=True`` it is on
        the original scale (1.0 for a gain) and must be > 0.
    statistic : callable, default ``np.mean``
        Reduces the unit axis (on the log scale when ``log``). A statistic other than the mean gets
        no interval below 20 units (the engine refuses; the direction is then "unresolved").
    log : bool
        Measure ``log(values)`` and report ``exp`` of estimate and interval (geometric mean).

    Returns
    -------
    Measurement with ``evidence.extra["direction"]`` equal to ``direction``.
    """
    opts = resolve(confidence_level, n_resamples, rng, method)
    arr = units_array(values, name=name, max_ndim=1)
    if not np.isfinite(reference):
        raise ValueError(f"reference must be finite, got {reference!r}")
    if log:
        if np.any(arr <= 0) or reference <= 0:
            raise ValueError(f"log=True needs positive {name} and reference")
        arr, ref = np.log(arr), float(np.log(reference))
    else:
        ref = float(reference)
    mean = statistic is np.mean
    # A mean gets the Student t interval at every n (min_resample_n=inf): calibrated at 24 and 64 texts with
    # t(3)-tailed log values (tests/calibration_thermo.py), where BCa at 24 texts gave a wrong direction
    # 4.6% / 6.0% of the time at nominal 2.5% each way. Any other statistic: the engine's rule (BCa from 20).
    t = engine.decide((arr,), vectorized(statistic), mean_kind="one" if mean else None, paired=False, side=+1,
                      threshold=ref, min_effect=0.0, opts=opts, n=arr.shape[0], unit=unit,
                      min_resample_n=np.inf if mean else engine.SMALL_N)
    back = np.exp if log else (lambda v: v)
    est, lo, hi = (float(back(v)) for v in (t.estimate, t.low, t.high))
    direction = judging.direction_of(lo, hi, float(reference))
    sname = "geometric mean" if (log and statistic is np.mean) else statistic_name(statistic)
    quantity = f"{sname}({name})" + (" (log scale)" if log and statistic is not np.mean else "")
    extra = {"direction": direction, "reference": float(reference), "log_scale": bool(log),
             "method_reason": t.method_reason, "alpha": opts.alpha}
    if t.refused is not None:
        extra["refused"] = t.refused
    ev = Evidence(statistic=quantity, estimate=est, confidence_interval=ConfidenceInterval(lo, hi),
                  n=int(arr.shape[0]), unit=unit, method=t.method, confidence_level=float(t.confidence_level),
                  seed=t.seed, p_value=None, extra=extra)
    return Measurement(evidence=ev, reference=float(reference), direction=direction, reason=reason, label=label)


def measured_exact(value: float, reference: float, *, name: str, unit: str, n: int,
                   method: str = "exact computation on fixed weights (no sampling)", reason: str = DEFAULT_REASON,
                   label: str = "", extra: dict | None = None) -> Measurement:
    """A quantity without sampling error: point interval, level 1, direction from its sign vs ``reference``.

    ``n`` counts what the number summarises (e.g. heads x layers), not independent units.
    """
    v = float(value)
    if not (np.isfinite(v) and np.isfinite(reference)):
        raise ValueError(f"value and reference must be finite, got {value!r}, {reference!r}")
    direction = "above" if v > reference else "below" if v < reference else "unresolved"
    ev = Evidence(statistic=name, estimate=v, confidence_interval=ConfidenceInterval(v, v), n=int(n), unit=unit,
                  method=method, confidence_level=1.0, seed=None, p_value=None,
                  extra={"exact": True, "direction": direction, "reference": float(reference), **dict(extra or {})})
    return Measurement(evidence=ev, reference=float(reference), direction=direction, reason=reason, label=label)
