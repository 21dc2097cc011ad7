"""Laws: y depends linearly on x with a predicted slope and/or intercept."""

from __future__ import annotations

import numpy as np

from dataclasses import replace

from lmclaims.stats import engine, judging
from lmclaims.stats.context import resolve
from lmclaims.stats.engine import SMALL_N
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.exact import refused
from lmclaims.stats.resampling import bootstrap, component, invert
from lmclaims.stats.validation import same_units, units_array

_PARAMS = ("slope", "intercept")


def law_fits(x, y, *, slope: float | None = None, intercept: float | None = None, through_origin: bool = False,
             slope_margin: float | None = None, intercept_margin: float | None = None, unit: str = "model",
             names: tuple[str, str] = ("x", "y"), confidence_level: float | None = None,
             n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement:
    """Claim: :math:`y = \\beta_0 + \\beta_1 x` with predicted :math:`\\beta_1` (``slope``) and/or
    :math:`\\beta_0` (``intercept``). Power laws are fitted on logs: pass ``log(x), log(y)``.

    Least squares, :math:`\\hat\\beta_1 = \\sum (x_i-\\bar x)(y_i-\\bar y) / \\sum (x_i-\\bar x)^2`,
    :math:`\\hat\\beta_0 = \\bar y - \\hat\\beta_1 \\bar x` (``through_origin``:
    :math:`\\hat\\beta_1 = \\sum x_i y_i / \\sum x_i^2`, :math:`\\beta_0 = 0`), bootstrapped over
    (x, y) pairs — the unit (model, layer, seed) is resampled, never a token. For every predicted
    parameter :math:`\\pi` with margin :math:`m` and its :math:`1-2\\alpha` interval(s):

    * it *fits* if the interval lies inside :math:`(\\pi - m, \\pi + m)` (TOST);
    * it lies *outside* if the interval lies wholly outside that band (a law that is true within
      its margin is then refuted with probability at most alpha; never on "the interval excludes
      the exact prediction").

    Intervals matched to n: below 20 units the statsmodels OLS t interval alone; from 20 units
    both the OLS t interval and the pairs-bootstrap BCa interval (>= 20 resamples beyond each
    end), and a condition must hold for both (each alone under-covers in some regime).
    SUPPORTED if every predicted parameter fits; REFUTED if some parameter lies outside, with
    Bonferroni over the k predicted parameters (``p_refute = min(1, k min_j p_{r,j})``); else
    INCONCLUSIVE. ``p_value`` = the largest TOST p (over parameters and methods); all parameters,
    intervals and p-values are in ``evidence.extra["parameters"]`` / ``["ols"]``.

    >>> x = np.linspace(0, 2, 12); y = 1 + 0.8 * x + np.random.default_rng(0).normal(0, 0.05, 12)
    >>> law_fits(x, y, slope=0.8, slope_margin=0.2).status.value, law_fits(x, y, slope=2, slope_margin=0.2).status.value
    ('supported', 'refuted')
    """
    tested = [(i, name, pred, marg) for i, (name, pred, marg) in
              enumerate(zip(_PARAMS, (slope, intercept), (slope_margin, intercept_margin))) if pred is not None]
    if not tested:
        raise ValueError("law_fits needs a predicted slope and/or intercept")
    if through_origin and intercept is not None:
        raise ValueError("through_origin fixes the intercept at 0; do not also predict one")
    for _, name, pred, marg in tested:
        if marg is None or not (np.isfinite(marg) and marg > 0):
            raise ValueError(f"a predicted {name} needs {name}_margin > 0 (the tolerance within which the law 'fits')")
    opts = resolve(confidence_level, n_resamples, rng, method)
    u = units_array(x, name=names[0], max_ndim=1, min_n=3)
    v = units_array(y, name=names[1], max_ndim=1, min_n=3)
    same_units(u, v, names=names)
    if np.ptp(u) == 0:
        raise ValueError(f"{names[0]} has no spread; a slope cannot be estimated")

    def ols(a, b, axis=-1):
        with np.errstate(all="ignore"):
            if through_origin:
                b1 = np.sum(a * b, axis=axis) / np.sum(a * a, axis=axis)
                return np.stack([b1, np.zeros_like(b1)])
            am, bm = a.mean(axis=axis, keepdims=True), b.mean(axis=axis, keepdims=True)
            b1 = np.sum((a - am) * (b - bm), axis=axis) / np.sum((a - am) ** 2, axis=axis)
            return np.stack([b1, np.squeeze(bm, axis) - b1 * np.squeeze(am, axis)])

    n, alpha, k = u.shape[0], opts.alpha, len(tested)
    tost_level = 1.0 - 2.0 * alpha
    ols_fit = _statsmodels_ols(u, v, through_origin, opts.confidence_level, tested, alpha)
    inside = lambda lo, hi, pred, m: (lo > pred - m) & (hi < pred + m)  # noqa: E731
    outside = lambda lo, hi, pred, m: (lo > pred + m) | (hi < pred - m)  # noqa: E731
    boot = n >= SMALL_N
    r = None
    if boot:
        resamples, refusal = engine.resamples_for(opts, tail=alpha, n=n, unit=unit)
        if refusal:
            return refused(f"OLS {tested[0][1]} of {names[1]} on {names[0]}", reason=refusal, n=n, unit=unit)
        r = bootstrap((u, v), ols, resolved=replace(opts, n_resamples=resamples), paired=True,
                      confidence_level=tost_level)
        of = lambda a: 1.0 - 2.0 * a  # noqa: E731
    parameters, p_s_each, p_r_each = {}, [], []
    for i, name, pred, m in tested:
        q = ols_fit[name]
        fits, out = q["fits"], q["outside"]
        p_s, p_r = q["p_tost"], q["p_outside"]
        entry = {"estimate": q["estimate"], "prediction": pred, "margin": m, "t_ci": q["tost_ci"]}
        if boot:
            lo, hi = float(r.low[i]), float(r.high[i])
            fits, out = fits and bool(inside(lo, hi, pred, m)), out and bool(outside(lo, hi, pred, m))
            comp = component(r, i)
            p_s = max(p_s, float(invert(comp, lambda a, b: inside(a, b, pred, m), alpha=alpha, level_of_alpha=of)))
            p_r = max(p_r, float(invert(comp, lambda a, b: outside(a, b, pred, m), alpha=alpha, level_of_alpha=of)))
            entry["bootstrap_ci"] = [lo, hi]
        entry.update(fits=fits, outside=out, p_support=p_s, p_refute=p_r)
        parameters[name] = entry
        p_s_each.append(p_s)
        p_r_each.append(p_r)
    p = max(p_s_each)
    p_refute = min(1.0, k * min(p_r_each))          # any parameter outside: Bonferroni over the k parameters
    degenerate = bool(np.any(r.degenerate[[i for i, *_ in tested]])) if boot else not all(
        np.isfinite(ols_fit[name]["se"]) for _, name, _, _ in tested)
    all_fit = all(q["fits"] for q in parameters.values())
    status = judging.status_of(all_fit, p_refute <= alpha, degenerate)
    extra = {"alpha": alpha, "through_origin": through_origin, "parameters": parameters, "ols": ols_fit,
             "threshold": tested[0][2], "min_effect": tested[0][3], "side": "inside",
             "direction": "inside" if all_fit else "outside" if p_refute <= alpha else "unresolved",
             "refuted_as": "outside margin" if status is Status.REFUTED else None,
             "method_reason": (f"{n} {unit}s >= {SMALL_N}: OLS t and pairs-bootstrap BCa intervals, both must agree"
                               if boot else f"{n} {unit}s < {SMALL_N}: OLS t intervals (a pairs bootstrap under-covers "
                               "this small)"),
             "p_support": p, "p_refute": p_refute}
    law = " and ".join(f"{name} {pred:g} ± {m:g}" for _, name, pred, m in tested)
    both = "OLS t and bootstrap" if boot else "OLS t"
    rule = (f"supported if the {judging.pct(tost_level)} {both} CIs of every predicted parameter lie inside its "
            f"margin ({law}); refuted if those CIs of some parameter lie wholly outside its margin (Bonferroni over "
            f"{k} parameter{'s' if k > 1 else ''}); else inconclusive")
    parts = [f"{name} {judging.fmt(q['estimate'])}: {judging.pct(tost_level)} t CI [{judging.fmt(q['t_ci'][0])}, "
             f"{judging.fmt(q['t_ci'][1])}]" + (f", bootstrap CI [{judging.fmt(q['bootstrap_ci'][0])}, "
                                                 f"{judging.fmt(q['bootstrap_ci'][1])}]" if boot else "")
             + f" vs {q['prediction']:g} ± {q['margin']:g}" for name, q in parameters.items()]
    reason = judging.DEGENERATE_REASON if degenerate else "; ".join(parts)
    first, fname = tested[0][0], tested[0][1]
    quantity = f"OLS {fname} of {names[1]} on {names[0]}"
    lo0, hi0 = (parameters[fname]["bootstrap_ci"] if boot else parameters[fname]["t_ci"])
    if boot:
        ev = judging.evidence_from(r, first, statistic=quantity, unit=unit, n=n, p_value=p, extra=extra,
                                   confidence_level=tost_level)
    else:
        ev = Evidence(statistic=quantity, estimate=parameters[fname]["estimate"],
                      confidence_interval=ConfidenceInterval(float(lo0), float(hi0)), n=n, unit=unit,
                      method="OLS t interval (statsmodels)", confidence_level=tost_level, seed=None, p_value=p,
                      extra=extra)
    return judging.judgement(status, ev, rule, reason=reason,
                             p_value=judging.consistent(p, status is Status.SUPPORTED, alpha),
                             p_refute=judging.consistent(p_refute, status is Status.REFUTED, alpha))


def _statsmodels_ols(x, y, through_origin, level, tested, alpha):
    """Parametric side: statsmodels OLS estimates, t-intervals, and per-parameter TOST.

    TOST for parameter :math:`\\beta` with prediction :math:`\\pi`, margin m, standard error s,
    df = n - k: :math:`p = \\max(P(T > (\\hat\\beta - \\pi + m)/s), P(T < (\\hat\\beta - \\pi - m)/s))`;
    it "fits" when the :math:`1-2\\alpha` t-interval lies inside the margin (equivalently p <= alpha).
    """
    import scipy.stats
    import statsmodels.api as sm

    order = np.lexsort((y, x))                       # unit order must not matter, even in the last bit
    x, y = x[order], y[order]
    design = x[:, None] if through_origin else sm.add_constant(x, has_constant="add")
    fit = sm.OLS(y, design).fit()
    params, bse, df = np.asarray(fit.params), np.asarray(fit.bse), float(fit.df_resid)
    where = {"slope": 0} if through_origin else {"intercept": 0, "slope": 1}
    out = {"r_squared": None if through_origin else float(fit.rsquared)}
    for name, j in where.items():
        ci = np.asarray(fit.conf_int(alpha=1.0 - level))[j]
        out[name] = {"estimate": float(params[j]), "se": float(bse[j]), "ci": ci.tolist()}
    for _, name, pred, m in tested:
        q = out[name]
        t_lo = scipy.stats.t.sf((q["estimate"] - (pred - m)) / q["se"], df) if q["se"] > 0 else 0.0
        t_hi = scipy.stats.t.cdf((q["estimate"] - (pred + m)) / q["se"], df) if q["se"] > 0 else 0.0
        half = scipy.stats.t.ppf(1 - alpha, df) * q["se"]
        beyond_hi = scipy.stats.t.sf((q["estimate"] - (pred + m)) / q["se"], df) if q["se"] > 0 else 1.0
        beyond_lo = scipy.stats.t.cdf((q["estimate"] - (pred - m)) / q["se"], df) if q["se"] > 0 else 1.0
        q.update(p_tost=float(max(t_lo, t_hi)), tost_ci=[q["estimate"] - half, q["estimate"] + half],
                 fits=bool(q["estimate"] - half > pred - m and q["estimate"] + half < pred + m),
                 outside=bool(q["estimate"] - half > pred + m or q["estimate"] + half < pred - m),
                 p_outside=float(min(beyond_hi, beyond_lo)))
    return out
