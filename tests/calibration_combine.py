"""Calibration scenarios of lmclaims.stats.combine (any_of / all_of) at the designs the claims use.

``geometry.gd_ratio_regime`` (per model, 64 texts, family of 3 models → alpha = 0.05/3): the union
claim "GD < 0.1 or GD > 1.5" from two directional parts. Claim-false boundary: the true value sits
on the lower regime's edge (0.1), inside the author's empty gap [0.1, 1.5]; claim-true boundary: the
same point seen from the other side (a value at the edge belongs to the regime in the limit), where a
REFUTED needs the interval wholly inside [0.1, 1.5]. Data: per-text values with a lognormal
(right-skewed, like a ratio) spread, CV 0.5.

``all_of`` (e.g. "the split reappears on mean G and on mean D"): two independent parts, one exactly at
its boundary and the other far on the claim's side.
"""

from __future__ import annotations

import numpy as np

from calibration_harness import Scenario, quick, statuses
from lmclaims.stats.combine import all_of, any_of
from lmclaims.stats.directional import above, below

N_SIM = 1000
CHUNK = 250            # simulations per vectorised bootstrap (memory: CHUNK x resamples x n floats)


def _lognormal(rng, mean, n, size, cv=0.5):
    sigma = np.sqrt(np.log1p(cv**2))
    return rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, size=(n, size))


def _regimes(n_texts: int, m: int, n_sim: int = N_SIM):
    level = 1 - 0.05 / m

    def simulate(rng, claim_true):
        out = []
        for start in range(0, n_sim, CHUNK):
            x = _lognormal(rng, 0.1, n_texts, CHUNK)        # both boundaries sit at the lower edge 0.1
            lo = below(x, 0.1, confidence_level=level, rng=rng)
            hi = above(x, 1.5, confidence_level=level, rng=rng)
            out += [any_of(a, b).status.value for a, b in zip(lo, hi)]
        return np.array(out)
    return simulate


def _both(n_texts: int, m: int, n_sim: int = N_SIM):
    level = 1 - 0.05 / m

    def simulate(rng, claim_true):
        out = []
        for start in range(0, n_sim, CHUNK):
            edge = rng.normal(0.0, 1.0, size=(n_texts, CHUNK))             # part 1 exactly at its threshold 0
            far = rng.normal(3.0, 1.0, size=(n_texts, CHUNK))              # part 2 far above its threshold
            a = above(edge, 0.0, confidence_level=level, rng=rng)
            b = above(far, 0.0, confidence_level=level, rng=rng)
            out += [all_of(x, y).status.value for x, y in zip(a, b)]
        return np.array(out)
    return simulate


def _any_of_regimes(n_sim: int = N_SIM) -> Scenario:
    return Scenario("any_of regimes, 64 texts, m=3", "any_of (below 0.1 | above 1.5; BCa)", "64 texts",
                    "0.95/3 (Bonferroni m=3)", "GD = 0.1 (edge of the empty gap)", "GD = 0.1 (edge of the lower regime)",
                    _regimes(64, 3, n_sim), 0.05 / 3 / 2, 0.05 / 3 / 2, n_sim, "geometry.gd_ratio_regime")


def _all_of_two(n_sim: int = N_SIM) -> Scenario:
    return Scenario("all_of two parts, 32 texts, m=3", "all_of (above, above; BCa)", "32 texts",
                    "0.95/3 (Bonferroni m=3)", "part 1 at its threshold, part 2 far above", "same (part 1 at its edge)",
                    _both(32, 3, n_sim), 0.05 / 3 / 2, 0.05 / 3 / 2, n_sim, "geometry.gd_ratio_components (shape)")


SCENARIOS = [_any_of_regimes(), quick(_any_of_regimes(CHUNK)), _all_of_two(), quick(_all_of_two(CHUNK))]
