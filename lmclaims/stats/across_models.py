"""Across-model claims: statements about the models of a panel, with the model as the unit.

A claim about "models of lab X" or "the panel" generalises over models, so the models are the units
whose number decides what an interval can show (3-9 models offline, ~20-40 on the hub). Texts are a
second source of noise inside each model's estimate. The design, decided from the structure of the
data and nothing else:

**Per-model estimates as units.** Each model m is reduced to one estimate
:math:`\\hat\\theta_m` (``within`` over its texts, e.g. the mean per-text log G; or one exact number
when the quantity is a function of the weights). The spread of the :math:`\\hat\\theta_m` between
models already contains each model's text noise, so the one-sample interval of their mean is valid
for the population of models whatever the within-model noise (the "summary statistics" approach of
two-level models; Davison & Hinkley 1997 §3.8: resampling the top-level units only gets the
variance of a mean right, resampling texts within models as well counts the within-model variance
twice). Method matched to k models (:mod:`lmclaims.stats.engine`): Student / Welch t below 20 models,
BCa with enough resamples from 20 on.

**Shared texts (crossed design).** When every model was measured on the *same* texts, the text
effects are common to all models: the :math:`\\hat\\theta_m` move together with the texts drawn, and
their spread misses that component. Model :math:`Y_{mt} = \\mu + a_m + b_t + e_{mt}` (models
:math:`\\times` texts, both random); the panel mean :math:`\\bar Y` has variance
:math:`\\sigma_a^2/k + \\sigma_b^2/n + \\sigma_e^2/(kn)`. It is estimated by
:math:`V = s^2(\\bar Y_{m\\cdot})/k + s^2(\\bar Y_{\\cdot t})/n` (model means, text means; its
expectation exceeds the truth by :math:`\\sigma_e^2/(kn)`: slightly conservative; Owen 2007, "the
pigeonhole bootstrap", gives the same moment form), with Welch-Satterthwaite degrees of freedom
:math:`\\nu = V^2 / (V_1^2/(k-1) + V_2^2/(n-1))` and a t interval at any k (scipy provides no
crossed bootstrap, and none is hand-rolled here). This is the "paired across models" design: text t
of every model is the same text.

Decision: the directional rule of :mod:`lmclaims.stats.judging` on the two-sided :math:`1-\\alpha`
interval (SUPPORTED beyond the margin, REFUTED wholly on the other side of it), with both p-values.
Fewer than 3 models: INCONCLUSIVE (:func:`lmclaims.stats.exact.too_few_units`).

:func:`groups_differ` — "the models of group A and of group B differ by more than a factor" (e.g.
labs fixed by the claim): Welch t (below 20 models) / BCa on the per-model estimates, two-sided
magnitude rule :math:`|\\Delta| > t`: SUPPORTED if the interval lies wholly beyond :math:`+t` or
wholly below :math:`-t`; REFUTED if it lies wholly inside :math:`(-t, t)`.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> per_model = {f"m{i}": 0.3 + 0.05 * i + rng.normal(0, 0.1, 40) for i in range(5)}
>>> j = panel_above(per_model, 0.0, name="log G")
>>> j.status.value, j.evidence.n, j.evidence.extra["design"]
('supported', 5, 'crossed')
>>> panel_above({"a": [0.1, 0.2], "b": [0.3, 0.4]}, 0.0).status.value
'inconclusive'
>>> g = groups_differ({"x1": 2.3, "x2": 2.1, "x3": 2.4}, {"y1": 0.1, "y2": -0.1, "y3": 0.0}, threshold=1.1)
>>> g.status.value, g.evidence.extra["direction"]
('supported', 'above')
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
import scipy.stats

from lmclaims.stats import engine, judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.exact import too_few_units

MIN_MODELS = 3    # a population-of-models interval from 2 models has 1 df; 3 is the least we decide on


def _per_model(per_model: Mapping[str, object], *, log: bool, name: str) -> tuple[list[str], list[np.ndarray]]:
    if not isinstance(per_model, Mapping) or not per_model:
        raise ValueError(f"{name}: pass a non-empty mapping model name -> per-text values (or one exact value)")
    names, arrays = [], []
    for model, values in per_model.items():
        arr = np.atleast_1d(np.asarray(values, dtype=float))
        if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: model {model!r} needs a 1-D array of finite per-text values, got shape "
                             f"{arr.shape}")
        if log:
            if np.any(arr <= 0):
                raise ValueError(f"{name}: log=True needs positive values (model {model!r})")
            arr = np.log(arr)
        names.append(str(model))
        arrays.append(arr)
    return names, arrays


def _crossed_t(Y: np.ndarray, bound: float, level: float):
    """Estimate, interval, one-sided p-values (> bound, < bound), df of the crossed design (module doc)."""
    k, n = Y.shape
    est = float(Y.mean())
    v1 = float(np.var(Y.mean(axis=1), ddof=1)) / k
    v2 = float(np.var(Y.mean(axis=0), ddof=1)) / n if n > 1 else 0.0
    v = v1 + v2
    if v <= 0:
        return est, est, est, float(est <= bound), float(est >= bound), float("inf")
    df = v * v / (v1 * v1 / (k - 1) + (v2 * v2 / (n - 1) if n > 1 else 0.0))
    se = np.sqrt(v)
    q = scipy.stats.t.ppf(0.5 + level / 2.0, df)
    z = (est - bound) / se
    return est, est - q * se, est + q * se, float(scipy.stats.t.sf(z, df)), float(scipy.stats.t.cdf(z, df)), float(df)


def panel_above(per_model: Mapping[str, object], threshold: float, *, min_effect: float = 0.0, log: bool = False,
                within: Callable = np.mean, shared_texts: bool | None = None, name: str = "values",
                confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
                method: str | None = None) -> Judgement:
    """Claim: the panel's models have mean :math:`\\theta > t` (population of models; module docstring).

    ``per_model`` maps model -> per-text values (or one exact value per model). ``shared_texts``:
    the models were measured on the same texts in the same order (default: all arrays have the same
    length > 1); then the crossed-design t is used, else the per-model estimates are the units.
    ``log``: work on log values (threshold on the log scale too). ``within`` reduces each model's
    texts in the per-model design (the crossed design uses the mean).
    """
    return _panel(per_model, threshold, +1, min_effect, log, within, shared_texts, name,
                  (confidence_level, n_resamples, rng, method))


def panel_below(per_model: Mapping[str, object], threshold: float, *, min_effect: float = 0.0, log: bool = False,
                within: Callable = np.mean, shared_texts: bool | None = None, name: str = "values",
                confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
                method: str | None = None) -> Judgement:
    """Claim: the panel's models have mean :math:`\\theta < t`; mirror of :func:`panel_above`."""
    return _panel(per_model, threshold, -1, min_effect, log, within, shared_texts, name,
                  (confidence_level, n_resamples, rng, method))


def _panel(per_model, threshold, side, min_effect, log, within, shared_texts, name, options) -> Judgement:
    opts = resolve(*options)
    if not (np.isfinite(threshold) and np.isfinite(min_effect) and min_effect >= 0):
        raise ValueError(f"threshold must be finite and min_effect >= 0, got {threshold!r}, {min_effect!r}")
    names, arrays = _per_model(per_model, log=log, name=name)
    k = len(names)
    quantity = f"panel mean over models of {'log ' if log else ''}{name}"
    if k < MIN_MODELS:
        return too_few_units(quantity, have=f"{k} models", need=f">= {MIN_MODELS} models (the unit is the model)",
                             n=k, extra={"models": names})
    lengths = {a.size for a in arrays}
    crossed = (len(lengths) == 1 and lengths.pop() > 1) if shared_texts is None else bool(shared_texts)
    if crossed and len({a.size for a in arrays}) != 1:
        raise ValueError(f"{name}: shared_texts=True needs the same number of texts for every model")
    alpha, level = opts.alpha, opts.confidence_level
    bound = float(threshold) + side * min_effect
    estimates = {m: float(np.mean(a)) if crossed else float(np.asarray(within(a))) for m, a in zip(names, arrays)}
    if crossed:
        Y = np.vstack(arrays)
        est, lo, hi, p_gt, p_lt, df = _crossed_t(Y, bound, level)
        supported, refuted = (bool(x) for x in judging.directional(lo, hi, threshold=threshold,
                                                                    min_effect=min_effect, side=side))
        p_claim, p_other = (p_gt, p_lt) if side > 0 else (p_lt, p_gt)
        p_s = float(judging.consistent(min(1.0, 2 * p_claim), supported, alpha))
        p_r = float(judging.consistent(min(1.0, 2 * p_other), refuted, alpha))
        degenerate = bool(np.ptp(Y) == 0)
        method_text = (f"crossed models x texts t interval (variance of model means/k + variance of text means/n, "
                       f"Welch-Satterthwaite df {df:.3g}), units: models ({Y.shape[1]} shared texts)")
        why = (f"{k} models measured on the same {Y.shape[1]} texts: text effects are shared, so both the model "
               "and the text variance enter the interval")
        seed, n_texts = None, int(Y.shape[1])
    else:
        theta = np.array([estimates[m] for m in names])
        t = engine.decide((theta,), lambda u, axis=-1: np.mean(u, axis=axis), mean_kind="one", paired=False,
                          side=side, threshold=float(threshold), min_effect=min_effect, opts=opts, n=k, unit="model")
        est, lo, hi = float(t.estimate), float(t.low), float(t.high)
        status = engine.status_at(t, ())
        supported, refuted = status is Status.SUPPORTED, status is Status.REFUTED
        p_s, p_r, degenerate = float(t.p_support), float(t.p_refute), bool(t.degenerate)
        method_text, why, seed = t.method, "per-model estimates are the units; " + t.method_reason, t.seed
        n_texts = None
    status = judging.status_of(supported, refuted, degenerate)
    rule = judging.directional_rule(quantity, level, side=side, threshold=float(threshold), min_effect=min_effect)
    reason = judging.directional_reason(status, lo, hi, level, side=side, threshold=float(threshold),
                                        min_effect=min_effect, degenerate=degenerate)
    how = (judging.refuted_as(lo, hi, threshold=float(threshold), min_effect=min_effect, side=side)
           if status is Status.REFUTED else None)
    extra = {"alpha": alpha, "threshold": float(threshold), "min_effect": min_effect,
             "side": "above" if side > 0 else "below", "direction": judging.direction_of(lo, hi, float(threshold)),
             "refuted_as": how, "method_reason": why, "p_support": p_s, "p_refute": p_r,
             "design": "crossed" if crossed else "per-model", "models": estimates, "n_texts": n_texts,
             "log_scale": bool(log)}
    ev = Evidence(statistic=quantity, estimate=est, confidence_interval=ConfidenceInterval(lo, hi), n=k,
                  unit="model", method=method_text, confidence_level=level, seed=seed, p_value=p_s, extra=extra)
    return judging.judgement(status, ev, rule, p_value=p_s, p_refute=p_r, reason=reason)


def groups_differ(a: Mapping[str, object], b: Mapping[str, object], *, threshold: float, log: bool = False,
                  within: Callable = np.mean, names: tuple[str, str] = ("A", "B"), name: str = "values",
                  confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
                  method: str | None = None) -> Judgement:
    """Claim: :math:`|\\bar\\theta_A - \\bar\\theta_B| > t` over the models of two groups fixed in advance.

    Each model is reduced to one estimate (``within`` over its texts, or its one exact value); the
    groups' models are the units (Welch t below 20 models, BCa from 20). Two-sided magnitude rule on
    the two-sided :math:`1-\\alpha` interval :math:`[L, U]` of :math:`\\Delta`: SUPPORTED if
    :math:`L > t` or :math:`U < -t`; REFUTED if :math:`-t < L` and :math:`U < t`; else INCONCLUSIVE.
    At :math:`|\\Delta| = t` each error is at most :math:`\\alpha/2`. Support p is the smaller of the
    two one-sided support p-values, refutation p the larger of the two refutation p-values (both
    sides must be excluded). Each group needs >= 2 models.
    """
    opts = resolve(confidence_level, n_resamples, rng, method)
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a finite number > 0, got {threshold!r}")
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        raise ValueError(f"{name}: pass two mappings model name -> per-text values (or one exact value)")
    na, xa = _per_model(a, log=log, name=f"{name} ({names[0]})") if a else ([], [])
    nb, xb = _per_model(b, log=log, name=f"{name} ({names[1]})") if b else ([], [])
    ta = np.array([float(np.asarray(within(v))) for v in xa])
    tb = np.array([float(np.asarray(within(v))) for v in xb])
    quantity = f"mean {'log ' if log else ''}{name} of {names[0]} models - of {names[1]} models"
    per = {**{m: float(v) for m, v in zip(na, ta)}, **{m: float(v) for m, v in zip(nb, tb)}}
    if len(ta) < 2 or len(tb) < 2:
        return too_few_units(quantity, have=f"{len(ta)} {names[0]} and {len(tb)} {names[1]} models",
                             need=">= 2 models in each group (a between-model spread in each)",
                             n=len(ta) + len(tb), extra={"models": per})
    up, down, supported, refuted = magnitude_test(ta, tb, float(threshold), opts)
    est, lo, hi = float(up.estimate), float(up.low), float(up.high)
    refused = up.refused is not None
    supported, refuted = bool(supported), bool(refuted)
    degenerate = bool(up.degenerate)
    status = judging.status_of(supported, refuted, degenerate)
    p_s = float(min(up.p_support, down.p_support))
    p_r = float(max(up.p_refute, down.p_refute))
    level = opts.confidence_level
    ci = f"the {judging.pct(level)} CI [{judging.fmt(lo)}, {judging.fmt(hi)}]"
    t = float(threshold)
    rule = (f"supported if {ci.split(' [')[0]} of {quantity} lies wholly above {t:g} or wholly below {-t:g}; "
            f"refuted if it lies wholly inside ({-t:g}, {t:g}); else inconclusive")
    if refused:
        reason = up.refused
    elif degenerate:
        reason = judging.DEGENERATE_REASON
    elif supported:
        reason = f"{ci} lies wholly {'above ' + judging.fmt(t) if lo > t else 'below ' + judging.fmt(-t)}"
    elif refuted:
        reason = f"{ci} lies wholly inside ({judging.fmt(-t)}, {judging.fmt(t)})"
    else:
        reason = f"{ci} reaches beyond ±{judging.fmt(t)} and into it"
    extra = {"alpha": opts.alpha, "threshold": t, "min_effect": 0.0, "side": "two-sided magnitude",
             "direction": judging.direction_of(lo, hi, 0.0), "refuted_as": "short of margin" if refuted else None,
             "method_reason": up.method_reason, "p_support": p_s, "p_refute": p_r, "models": per,
             "groups": {names[0]: na, names[1]: nb}, "log_scale": bool(log)}
    ev = Evidence(statistic=quantity, estimate=est, confidence_interval=ConfidenceInterval(lo, hi),
                  n=len(ta) + len(tb), unit="model", method=up.method, confidence_level=level, seed=up.seed,
                  p_value=p_s, extra=extra)
    return judging.judgement(status, ev, rule, p_value=p_s, p_refute=p_r, reason=reason)


def magnitude_test(ta: np.ndarray, tb: np.ndarray, threshold: float, opts):
    r"""The two one-sided engine tests behind :func:`groups_differ` on per-model estimates
    ``ta [..., ka]``, ``tb [..., kb]`` (models on the last axis; a leading batch axis is allowed, which
    the calibration uses). Returns (up, down, supported, refuted): up/down are engine
    :class:`~lmclaims.stats.engine.Tested` for :math:`\Delta > t` and :math:`\Delta < -t` on one
    shared interval; supported = either, refuted = both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        diff = lambda u, v, axis=-1: np.mean(u, axis=axis) - np.mean(v, axis=axis)  # noqa: E731
        n = min(ta.shape[-1], tb.shape[-1])
        up = engine.decide((ta, tb), diff, mean_kind="diff", paired=False, side=+1, threshold=threshold,
                           min_effect=0.0, opts=opts, n=n, unit="model")
        down = engine.decide((ta, tb), diff, mean_kind="diff", paired=False, side=-1, threshold=-threshold,
                             min_effect=0.0, opts=replace_seed(opts, up.seed), n=n, unit="model")
    ok = up.refused is None
    supported = ok & (np.asarray(up.supported) | np.asarray(down.supported)) & ~np.asarray(up.degenerate)
    refuted = ok & np.asarray(up.refuted) & np.asarray(down.refuted) & ~np.asarray(up.degenerate)
    return up, down, supported, refuted


def replace_seed(opts, seed):
    """The same resolved options with ``seed`` (both sides of a two-sided test share one resampling)."""
    from dataclasses import replace

    return opts if seed is None else replace(opts, seed=int(seed))
