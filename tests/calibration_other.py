"""Calibration scenarios of the non-directional helpers (equivalence, correlation, sign agreement,
laws, clusters, rates, exact); collected by tests/test_calibration.py.

TOST-type rules (equivalent, correlation_within, law_fits) decide on a 1 - 2 alpha interval: at
the margin a false SUPPORTED and, just inside it, a false REFUTED each have nominal rate alpha.
"""

from __future__ import annotations

import numpy as np

from calibration_directional import ALPHA, BCA_SIMS, chunked, level, noise, tail
from calibration_harness import Scenario, quick, statuses
from lmclaims.stats import assertions
from lmclaims.stats.clusters_found import separated_held_out, two_clusters
from lmclaims.stats.correlation import correlation_within
from lmclaims.stats.exact import exact, too_few_units


def equivalence(n, m, kind, n_sim=1000, chunk=250, used_by=""):
    margin = 0.5

    def simulate(rng, claim_true):
        def run(k):
            b = rng.normal(size=(n, k))
            a = b + margin + noise(rng, kind, (n, k))          # |Δ| = margin: both boundaries
            return statuses(assertions.equivalent(a, b, margin=margin, confidence_level=level(m), rng=rng))
        return chunked(run, n_sim, chunk)

    method = "t" if n < 20 else "BCa"
    return Scenario(f"equivalent[{method}] n={n} m={m} {kind}", "equivalent", n, level(m), "|Δ| = margin",
                    "|Δ| = margin", simulate, 2 * tail(m), 2 * tail(m), n_sim, used_by)


def rho_pearson(spearman_rho: float) -> float:
    """Pearson rho of a bivariate normal whose Spearman rho is ``spearman_rho``: 2 sin(pi rho_S / 6)."""
    return 2.0 * np.sin(np.pi * spearman_rho / 6.0)


def _bivariate(rng, rho, n, k):
    x = rng.normal(size=(n, k))
    return x, rho * x + np.sqrt(1 - rho ** 2) * rng.normal(size=(n, k))


def correlation(n, m, n_sim=1000, chunk=250, used_by=""):
    def simulate(rng, claim_true):
        if n < 20:
            out = []
            for _ in range(n_sim):
                x, y = _bivariate(rng, 0.0, n, 1)
                out.append(assertions.correlated(x[:, 0], y[:, 0], sign=+1, confidence_level=level(m),
                                                 rng=rng).status.value)
            return np.array(out)

        def run(k):
            x, y = _bivariate(rng, 0.0, n, k)
            return statuses(assertions.correlated(x, y, sign=+1, confidence_level=level(m), rng=rng))
        return chunked(run, n_sim, chunk)

    method = "exact permutation" if n < 20 else "BCa"
    return Scenario(f"correlated[{method}] n={n} m={m}", "correlated", n, level(m), "rho = 0", "rho = 0",
                    simulate, tail(m), tail(m), n_sim, used_by)


def within(n=64, bound=0.3, m=1, n_sim=BCA_SIMS):
    def simulate(rng, claim_true):
        out = []
        for _ in range(n_sim):
            x, y = _bivariate(rng, rho_pearson(bound), n, 1)
            out.append(correlation_within(x[:, 0], y[:, 0], bound, confidence_level=level(m), rng=rng).status.value)
        return np.array(out)

    return Scenario(f"correlation_within n={n} m={m}", "correlation_within", n, level(m),
                    f"Spearman rho = {bound}", f"Spearman rho = {bound}", simulate, 2 * tail(m), 2 * tail(m), n_sim,
                    "no-association claims")


def same_sign(n, paired, m=1, n_sim=1000):
    def simulate(rng, claim_true):
        out = []
        for _ in range(n_sim):
            a = noise(rng, "t3", n) * 0.5                      # theta_a = r = 0: the boundary of both rules
            b = (a if paired else 0.0) + 1.0 + noise(rng, "t3", n) * 0.3
            out.append(assertions.same_sign(a, b, reference=0.0, paired=paired, unit="seed",
                                            confidence_level=level(m), rng=rng).status.value)
        return np.array(out)

    method = "t" if n < 20 else "BCa"
    return Scenario(f"same_sign[{method}] n={n} m={m}", "same_sign", n, level(m),
                    "theta_a = r, theta_b > r", "theta_a = r, theta_b > r", simulate, tail(m), tail(m), n_sim,
                    "thermo_heritage, thermo_rlhf")


def law(n, m=1, n_sim=1000):
    pred, margin = 1.0, 0.2

    def simulate(rng, claim_true):
        out = []
        for _ in range(n_sim):
            x = np.linspace(0.1, 1.0, n)
            y = (pred + margin) * x + noise(rng, "normal", n) * 0.1      # slope on the margin edge
            out.append(assertions.law_fits(x, y, slope=pred, slope_margin=margin, through_origin=True,
                                           confidence_level=level(m), rng=rng).status.value)
        return np.array(out)

    method = "t" if n < 20 else "t and BCa"
    return Scenario(f"law_fits[{method}] n={n} m={m}", "law_fits", n, level(m), "slope = prediction + margin",
                    "slope = prediction + margin", simulate, 2 * tail(m), 2 * tail(m), n_sim, "thermo_kleiber")


def _members(rng, log10_means, n, sigma=0.3):
    return {f"m{i}": rng.lognormal(mu * np.log(10) - sigma ** 2 / 2, sigma, n) for i, mu in enumerate(log10_means)}


def separated_given(n=64, m=1, n_sim=BCA_SIMS):
    def simulate(rng, claim_true):
        out = []
        for _ in range(n_sim):
            g = _members(rng, [0.0, 0.3, 0.3, 0.6], n)                 # min(upper) = max(lower): gap 0
            out.append(assertions.separated(g, upper=["m2", "m3"], lower=["m0", "m1"], confidence_level=level(m),
                                            rng=rng).status.value)
        return np.array(out)

    return Scenario(f"separated[given split] 4 members n={n} m={m}", "separated", f"4 × {n} texts", level(m),
                    "log gap = 0", "log gap = 0", simulate, tail(m), tail(m), n_sim, "runtime_geometry")


def held_out(n=64, members=8, m=1, n_sim=BCA_SIMS):
    spacing = 0.1

    def simulate(rng, claim_true):
        out = []
        for _ in range(n_sim):
            g = _members(rng, spacing * np.arange(members), n, sigma=0.2)   # every adjacent gap = min_gap
            out.append(separated_held_out(g, min_gap=spacing, paired=False, confidence_level=level(m),
                                          rng=rng).status.value)
        return np.array(out)

    return Scenario(f"separated_held_out {members} members n={n} m={m}", "separated_held_out",
                    f"{members} × {n} texts", level(m), "evenly spaced, every gap = min_gap",
                    "evenly spaced, every gap = min_gap", simulate, tail(m), tail(m), n_sim, "controls_*_clusters_survive")


def clusters(kind, members=8, m=1, n_sim=1000):
    def simulate(rng, claim_true):
        out = []
        for _ in range(n_sim):
            if claim_true:                                               # two clusters: never refuted
                mu = np.r_[np.zeros(members // 2), np.ones(members - members // 2)] + rng.normal(0, 0.1, members)
            elif kind == "even":
                mu = 0.1 * np.arange(members)
            else:                                                        # a continuum: normal members
                mu = rng.normal(0.0, 0.3, members)
            g = _members(rng, mu, 24, sigma=0.1)
            out.append(two_clusters(g, confidence_level=level(m), n_resamples=999, rng=rng).status.value)
        return np.array(out)

    what = {"even": "evenly spaced members (no clusters)", "normal": "normal members (continuum null)"}[kind]
    return Scenario(f"two_clusters {members} members {kind} m={m}", "two_clusters", members, level(m), what,
                    "two clusters (never refuted)", simulate, tail(m), None, n_sim, "runtime_geometry gd_ratio_clusters")


def three_members(n_sim=200):
    def simulate(rng, claim_true):
        out = []
        for _ in range(n_sim):
            g = _members(rng, [0.0, 0.05, 2.0] if claim_true else [0.0, 1.0, 2.0], 24)
            j = two_clusters(g, rng=rng)
            assert "3 members" in j.reason
            out.append(j.status.value)
        return np.array(out)

    return Scenario("two_clusters 3 members", "two_clusters", 3, 0.95, "3 evenly spaced members",
                    "an isolated member (never decided)", simulate, 0.0, 0.0, n_sim, "too_few_units")


def proportion(n_trials=1000, m=1, n_sim=1000):
    thr = 0.04

    def simulate(rng, claim_true):
        k = rng.binomial(n_trials, thr, size=n_sim)
        return np.array([assertions.proportion_below(int(ki), n_trials, thr, confidence_level=level(m)).status.value
                         for ki in k])

    return Scenario(f"proportion_below[binomial] n={n_trials} m={m}", "proportion_below", n_trials, level(m),
                    "rate = threshold", "rate = threshold", simulate, tail(m), tail(m), n_sim,
                    "runtime_geometry P(D→D)")


def exact_rules(n_sim=100):
    def simulate(rng, claim_true):
        out = []
        for _ in range(n_sim):
            v = rng.uniform(1.0, 2.0) if claim_true else rng.uniform(0.0, 1.0)
            j = exact(bool(v > 1.0), statistic="published value", estimate=v, rule="supported if > 1", reason="")
            k = too_few_units("gap", have="3 models", need="4", n=3)
            assert k.status.value == "inconclusive"
            out.append(j.status.value)
        return np.array(out)

    return Scenario("exact / too_few_units", "exact", 1, 1.0, "published value <= 1", "published value > 1",
                    simulate, 0.0, 0.0, n_sim, "published numbers")


SCENARIOS = [
    equivalence(8, 1, "t3", used_by="anatomy_manipulation"),
    equivalence(9, 6, "normal", used_by="per-model equivalence"),
    equivalence(64, 3, "lognormal", n_sim=BCA_SIMS, used_by="runtime_geometry absorb"),
    correlation(9, 1, used_by="thermo_wv_wo (models)"),
    correlation(8, 3, used_by="across-model rank claims"),
    correlation(64, 1, n_sim=BCA_SIMS, used_by="runtime_geometry"),
    within(),
    quick(within(n_sim=100)),
    same_sign(5, paired=False),
    same_sign(64, paired=True, n_sim=BCA_SIMS),
    law(9),
    law(30, n_sim=BCA_SIMS),
    separated_given(),
    quick(separated_given(n_sim=100)),
    held_out(),
    quick(held_out(n_sim=100)),
    clusters("even"),
    clusters("normal"),
    clusters("normal", m=3),
    three_members(),
    proportion(),
    exact_rules(),
]
