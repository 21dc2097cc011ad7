"""Laws: y depends linearly on x with a predicted slope and/or intercept."""

from __future__ import annotations

import numpy as np

from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import Judgement, Status
from lmclaims.stats.resampling import bootstrap, interval, invert, thin_tail_caveat
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
    parameter :math:`\\pi` with margin :math:`m`:

    * it *fits* if its :math:`1-2\\alpha` interval lies inside :math:`(\\pi - m, \\pi + m)` (TOST),
      for both the pairs-bootstrap interval and the statsmodels OLS t-interval (intersection:
      each alone under-covers in some regime — the bootstrap with few units, the t-interval under
      heteroscedastic or skewed errors — so requiring both keeps a false "fits" at most alpha if
      either is valid);
    * it is *contradicted* if its :math:`1-\\alpha` interval excludes :math:`\\pi`.

    SUPPORTED if every predicted parameter fits; else REFUTED if any is contradicted; else
    INCONCLUSIVE. ``p_value`` is the TOST p of "all predicted parameters fit": the larger of the
    bootstrap inversion p and the OLS two-one-sided t-test p of each parameter.
    ``evidence`` reports the first predicted parameter with its :math:`1-2\\alpha` interval; all
    parameters, both intervals, and the statsmodels OLS (t-based) intervals are in
    ``evidence.extra["parameters"]`` / ``["ols"]``.
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

    r = bootstrap((u, v), ols, resolved=opts, paired=True)
    tost_level = 1.0 - 2.0 * opts.alpha
    t_lo, t_hi = interval(r, tost_level)

    def all_fit(lo, hi):
        return np.all([(lo[i] > pred - m) & (hi[i] < pred + m) for i, _, pred, m in tested])

    ols = _statsmodels_ols(u, v, through_origin, opts.confidence_level, tested, opts.alpha)
    fits = {name: bool((t_lo[i] > pred - m) & (t_hi[i] < pred + m)) and ols[name]["fits"]
            for i, name, pred, m in tested}
    contradicted = {name: bool((r.low[i] > pred) | (r.high[i] < pred)) for i, name, pred, _ in tested}
    degenerate = bool(np.any(r.degenerate[[i for i, *_ in tested]]))
    status = judging.status_of(all(fits.values()), any(contradicted.values()), degenerate)
    p_boot = float(invert(r, all_fit, alpha=opts.alpha, level_of_alpha=lambda a: 1.0 - 2.0 * a))
    p = max([p_boot] + [ols[name]["p_tost"] for _, name, _, _ in tested])
    parameters = {name: {"estimate": float(r.estimate[i]), "prediction": pred, "margin": m,
                         "tost_ci": [float(t_lo[i]), float(t_hi[i])], "ci": [float(r.low[i]), float(r.high[i])],
                         "fits": fits[name], "contradicted": contradicted[name]}
                  for i, name, pred, m in tested}
    extra = {"alpha": opts.alpha, "through_origin": through_origin, "parameters": parameters, "ols": ols,
             "p_bootstrap": p_boot}
    law = " and ".join(f"{name} {pred:g} ± {m:g}" for _, name, pred, m in tested)
    rule = (f"supported if the {judging.pct(tost_level)} CIs (bootstrap and OLS t) of every predicted parameter "
            f"lie inside its margin "
            f"({law}); refuted if a {judging.pct(opts.confidence_level)} CI excludes its prediction; else inconclusive")
    parts = [f"{name} {judging.fmt(q['estimate'])}: {judging.pct(tost_level)} CI [{judging.fmt(q['tost_ci'][0])}, "
             f"{judging.fmt(q['tost_ci'][1])}], {judging.pct(opts.confidence_level)} CI [{judging.fmt(q['ci'][0])}, "
             f"{judging.fmt(q['ci'][1])}] vs {q['prediction']:g} ± {q['margin']:g}" for name, q in parameters.items()]
    reason = judging.DEGENERATE_REASON if degenerate else "; ".join(parts)
    first, fname = tested[0][0], tested[0][1]
    ev = judging.evidence_from(r, first, statistic=f"OLS {fname} of {names[1]} on {names[0]}", unit=unit,
                               n=u.shape[0], p_value=p, extra=extra, low=t_lo[first], high=t_hi[first],
                               confidence_level=tost_level)
    caveats = thin_tail_caveat(r.n_resamples, opts.confidence_level)
    if u.shape[0] < 8:
        caveats += (f"only {u.shape[0]} {unit}s: a pairs bootstrap of a regression is rough this small",)
    if status is Status.SUPPORTED:
        p = min(p, opts.alpha)
    return judging.judgement(status, ev, rule, p_value=p, reason=reason, caveats=caveats)


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
        q.update(p_tost=float(max(t_lo, t_hi)), tost_ci=[q["estimate"] - half, q["estimate"] + half],
                 fits=bool(q["estimate"] - half > pred - m and q["estimate"] + half < pred + m))
    return out
