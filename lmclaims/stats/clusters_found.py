"""Clusters found from the data: a test against a continuum, and a split chosen on held-out texts.

A largest gap between sorted member summaries is positive for any distinct values, so "the data
show two clusters at the largest gap" cannot be judged by a gap interval on the same data. Two
honest rules:

:func:`two_clusters` — "the members form two clusters" against a **continuum null**. With member
summaries :math:`z_m = \\log_{10}\\theta_m` (or :math:`\\theta_m`), :math:`M` members sorted
:math:`z_{(1)} \\le \\dots \\le z_{(M)}`, the statistic is the normalised largest gap that leaves at
least two members on each side,

.. math:: T = \\max_{2 \\le i \\le M-2} (z_{(i+1)} - z_{(i)}) / s_z ,

with :math:`s_z` the sample SD of the summaries. The null is a normal (unimodal, continuous) fit to
the summaries; :math:`T` is location- and scale-invariant, so its null distribution is that of
:math:`M` standard normals and ``scipy.stats.monte_carlo_test`` (a parametric bootstrap) gives the
one-sided p-value :math:`p_{mc}`. Support p :math:`= \\min(1, 2 p_{mc})` (SUPPORTED iff
:math:`p_{mc} \\le \\alpha/2`, the directional convention). A test against a continuum shows
structure, never its absence: no refutation (``p_refute`` None). Fewer than 4 members (two
clusters of at least two) cannot show two clusters: INCONCLUSIVE via ``too_few_units``.
The summaries are treated as the data: within-member (text) noise only blurs them towards the
continuum.

:func:`separated_held_out` — the split is chosen by a fixed rule (largest gap of the member
summaries) on the first half of the units, ``units[: n // 2]``, and the gap at that split is tested
on the second half ``units[n // 2 :]`` with the given-split rule of
:func:`lmclaims.stats.clusters.separated`. ``choose_on=`` / ``test_on=`` choose on one readout
(e.g. the baseline) and test on another (e.g. the control), still on disjoint halves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import scipy.stats

from lmclaims.stats import judging
from lmclaims.stats.clusters import gap_judgement
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.exact import too_few_units
from lmclaims.stats.validation import statistic_name, units_array, vectorized

MIN_MEMBERS = 4        # two clusters of at least two members each


def gap_statistic(z, axis=-1):
    """Normalised largest gap with >= 2 members on each side (module docstring); vectorised.

    >>> round(float(gap_statistic(np.array([0.0, 0.1, 5.0, 5.1]))), 3)
    1.697
    >>> round(float(gap_statistic(np.arange(8.0))), 3)   # evenly spaced: a small gap
    0.408
    """
    z = np.sort(np.moveaxis(np.asarray(z, dtype=float), axis, -1), axis=-1)
    gaps = np.diff(z, axis=-1)[..., 1:-1]
    with np.errstate(all="ignore"):
        return np.max(gaps, axis=-1) / np.std(z, axis=-1, ddof=1)


def _arrays(values_by_member, log):
    names = list(values_by_member)
    arrays = [units_array(values_by_member[m], name=f"values_by_member[{m!r}]", max_ndim=1) for m in names]
    if log and any(np.any(a <= 0) for a in arrays):
        raise ValueError("log=True needs positive values; pass log=False for signed quantities")
    return names, arrays


def _summaries(values_by_member, log, statistic):
    """Member summaries theta_m = statistic(values_m). A member given as a tuple of per-unit arrays
    (e.g. per-text Ḡ and D̄ of a ratio of means) is summarised by ``statistic(*arrays)``."""
    if any(isinstance(v, tuple) for v in values_by_member.values()):
        names = list(values_by_member)
        arrays = [tuple(units_array(a, name=f"values_by_member[{m!r}][{k}]", max_ndim=1)
                        for k, a in enumerate(values_by_member[m])) for m in names]
        theta = np.array([float(statistic(*a)) for a in arrays])
        if not np.all(np.isfinite(theta)) or (log and np.any(theta <= 0)):
            raise ValueError(f"member summaries must be finite{' and positive (log=True)' if log else ''}: {theta}")
        return names, arrays, theta, (np.log10(theta) if log else theta)
    names, arrays = _arrays(values_by_member, log)
    stat = vectorized(statistic)
    theta = np.array([float(stat(a, axis=-1)) for a in arrays])
    return names, arrays, theta, (np.log10(theta) if log else theta)


def two_clusters(values_by_member: Mapping[str, object], *, log: bool = True, statistic: Callable = np.mean,
                 min_gap: float = 0.0, unit: str = "model", confidence_level: float | None = None,
                 n_resamples: int | None = None, rng=None) -> Judgement:
    """Claim: the members form two clusters (not a continuum); test in the module docstring.

    ``min_gap`` (decades when ``log``): SUPPORTED additionally needs the found gap to be at least
    this large. ``evidence.extra`` records the split found, the statistic and its null quantile.

    >>> rng = np.random.default_rng(0)
    >>> two = {f"m{i}": rng.lognormal(np.log(c), 0.05, 30) for i, c in enumerate([1, 1.1, 1.2, 9, 10, 11])}
    >>> two_clusters(two, rng=0).status.value
    'supported'
    >>> even = {f"m{i}": rng.lognormal(i * 0.3, 0.05, 30) for i in range(8)}
    >>> two_clusters(even, rng=0).status.value
    'inconclusive'
    >>> two_clusters({k: two[k] for k in ["m0", "m1", "m4"]}).reason.startswith("the design has 3")
    True
    """
    opts = resolve(confidence_level, n_resamples, rng, None)
    names, _, theta, z = _summaries(values_by_member, log, statistic)
    m, alpha = len(names), opts.alpha
    scale = "log10 " if log else ""
    quantity = f"normalised largest {scale}gap of {statistic_name(statistic)} (>= 2 members per side)"
    if m < MIN_MEMBERS:
        return too_few_units(quantity, have=f"{m} members", n=m, unit="member",
                             need=f"at least {MIN_MEMBERS} members (two clusters of at least two)",
                             extra={"members": dict(zip(names, theta.tolist())), "direction": "unresolved",
                                    "refuted_as": None})
    order = np.argsort(z, kind="stable")
    zs = z[order]
    inner = np.diff(zs)[1:-1]
    cut = int(np.argmax(inner)) + 2
    found_gap = float(inner.max())
    b = max(opts.n_resamples, int(np.ceil(20 / (alpha / 2))))   # >= 20 null draws beyond the decision point
    res = scipy.stats.monte_carlo_test(z, _normal(opts.seed), gap_statistic, vectorized=True, n_resamples=b,
                                       alternative="greater")
    p_mc = float(res.pvalue)
    p = min(1.0, 2.0 * p_mc)
    supported = p <= alpha and found_gap >= min_gap and np.std(z) > 0
    status = Status.SUPPORTED if supported else Status.INCONCLUSIVE
    t_obs = float(res.statistic)
    crit = float(np.quantile(res.null_distribution, 1 - alpha / 2))
    rule = (f"supported if the {quantity} exceeds its continuum-null (normal fit, scipy.stats.monte_carlo_test, "
            f"{b} draws) quantile at one-sided alpha/2={alpha / 2:.3g}"
            + (f" and the found gap is at least {min_gap:g}" if min_gap > 0 else "")
            + "; never refuted (a continuum test shows structure, not its absence); else inconclusive")
    reason = (f"T = {t_obs:.3g} vs null {judging.pct(1 - alpha / 2)} quantile {crit:.3g} "
              f"(Monte-Carlo one-sided p {p_mc:.3g})")
    if p <= alpha and found_gap < min_gap:
        reason += f"; but the found gap {found_gap:.3g} is below min_gap {min_gap:g}"
    extra = {"alpha": alpha, "min_gap": min_gap, "log10": log, "assignment": "largest gap (>= 2 per side)",
             "upper": [names[i] for i in order[cut:]], "lower": [names[i] for i in order[:cut]],
             "found_gap": found_gap, "p_monte_carlo": p_mc, "null_quantile": crit, "n_null": b,
             "members": {n: {"estimate": float(theta[i]), "scaled": float(z[i])} for i, n in enumerate(names)},
             "direction": "above" if supported else "unresolved", "refuted_as": None, "side": "above",
             "method_reason": f"{m} members >= {MIN_MEMBERS}: parametric bootstrap of the gap statistic under a "
                              "normal fit (continuum null)", "p_support": p, "p_refute": None}
    ev = Evidence(statistic=quantity, estimate=t_obs, confidence_interval=ConfidenceInterval(float("nan"), crit),
                  n=m, unit=unit, method="scipy.stats.monte_carlo_test (parametric bootstrap, normal null)",
                  confidence_level=opts.confidence_level, seed=opts.seed, p_value=p, extra=extra)
    return judging.judgement(status, ev, rule, p_value=judging.consistent(p, supported, alpha), p_refute=None,
                             reason=reason)


def _normal(seed):
    gen = np.random.default_rng(seed)
    return lambda size: gen.standard_normal(size)


def separated_held_out(groups: Mapping[str, object] | None = None, *, min_gap: float = 0.0, log: bool = True,
                       paired: bool = True, statistic: Callable = np.mean, choose_on: Mapping | None = None,
                       test_on: Mapping | None = None, unit: str = "text", confidence_level: float | None = None,
                       n_resamples: int | None = None, rng=None, method: str | None = None) -> Judgement:
    """Claim: the split found on held-out units separates the members by more than ``min_gap``.

    The split: largest gap of the member summaries (log10 when ``log``) on ``choose_on``'s units
    ``[: n // 2]`` (``choose_on`` defaults to ``groups``); the test: :func:`separated`'s given-split
    rule on ``test_on``'s units ``[n // 2 :]`` (``test_on`` defaults to ``groups``). Both readouts
    must list the same members on the same units. ``evidence.extra`` records the chosen split and
    both halves.

    >>> rng = np.random.default_rng(3)
    >>> g = {m: rng.lognormal(np.log(c), 0.2, 64) for m, c in [("a", 1), ("b", 1.1), ("c", 4), ("d", 5)]}
    >>> j = separated_held_out(g, rng=0)
    >>> j.status.value, j.evidence.extra["upper"], j.evidence.extra["choose_units"]
    ('supported', ['c', 'd'], [0, 32])
    """
    choose = choose_on if choose_on is not None else groups
    test = test_on if test_on is not None else groups
    if choose is None or test is None:
        raise ValueError("separated_held_out needs groups, or both choose_on= and test_on=")
    if list(choose) != list(test):
        raise ValueError(f"choose_on and test_on must list the same members: {list(choose)} vs {list(test)}")
    if len(choose) < 2:
        raise ValueError(f"separated_held_out needs at least two members, got {len(choose)}")
    opts = resolve(confidence_level, n_resamples, rng, method)
    names, c_arrays = _arrays(choose, log)
    _, t_arrays = _arrays(test, log)
    lengths = {a.shape[0] for a in c_arrays} | {a.shape[0] for a in t_arrays}
    if len(lengths) != 1:
        raise ValueError(f"every member of choose_on/test_on must be measured on the same units, got lengths {sorted(lengths)}")
    n = lengths.pop()
    half = n // 2
    stat = vectorized(statistic)
    z = np.array([float(stat(a[:half], axis=-1)) for a in c_arrays])
    z = np.log10(z) if log else z
    order = np.argsort(z, kind="stable")
    cut = int(np.argmax(np.diff(z[order]))) + 1
    up, low = sorted(int(i) for i in order[cut:]), sorted(int(i) for i in order[:cut])
    held = [a[half:] for a in t_arrays]
    more = {"choose_units": [0, half], "test_units": [half, n], "upper": [names[i] for i in up],
            "lower": [names[i] for i in low], "chosen_on": "choose_on" if choose_on is not None else "groups",
            "tested_on": "test_on" if test_on is not None else "groups"}
    return gap_judgement(names, held, up, low, [], opts=opts, min_gap=min_gap, log=log, statistic=statistic,
                         paired=paired, unit=unit, assignment="largest gap on held-out first half", extra_more=more)
