"""Calibration of every assertion helper: false-positive rate at the null boundary, and power.

For each helper we simulate data where the claim's null holds *exactly at the boundary* (e.g. the
true mean equals the threshold) and data where a stated effect holds, run the helper on each of
``N_SIM`` simulated data sets, and count how often it declares SUPPORTED:

* false-positive rate (FPR) must be <= alpha + 3 Monte-Carlo SE, with SE = sqrt(alpha (1-alpha) / N_SIM);
* power at the stated effect must be >= ``MIN_POWER``.

Intervals are BCa (``scipy.stats.bootstrap``, the helpers' default), at confidence 0.95
(alpha = 0.05), with few resamples per simulation to keep the suite fast (``N_RESAMPLES`` for
vectorised helpers, ``N_RESAMPLES_LOOP`` for those run one data set at a time). Simulations use a
fixed seed, so the test is deterministic (its expected false-failure rate is 0, not alpha).

``python tests/test_calibration.py`` re-measures everything and writes ``docs/calibration.md``.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from lmclaims.stats import assertions
from lmclaims.stats.evidence import Status

ALPHA = 0.05
LEVEL = 1 - ALPHA
N_SIM = 1000
N_RESAMPLES = 299
N_RESAMPLES_LOOP = 199
MIN_POWER = 0.80
SEED = 20261124


@dataclass(frozen=True)
class Scenario:
    helper: str
    null: str            # the boundary null, in words
    effect: str          # the stated effect, in words
    n: str               # units per data set
    nominal: str         # the bound the FPR should respect
    simulate: Callable[[np.random.Generator, bool], np.ndarray]  # (rng, effect?) -> statuses [N_SIM]
    resamples: int = N_RESAMPLES


def _statuses(judgements) -> np.ndarray:
    return np.array([j.status.value for j in judgements])


def _above(rng, effect):
    x = rng.normal(1.0 + (0.6 if effect else 0.0), 1.0, size=(30, N_SIM))
    return _statuses(assertions.above(x, 1.0, confidence_level=LEVEL, n_resamples=N_RESAMPLES, rng=rng))


def _below(rng, effect):
    x = rng.lognormal(0.0, 0.5, size=(40, N_SIM))           # skewed; true mean exp(0.125)
    true_mean = np.exp(0.125)
    threshold = true_mean * (1.3 if effect else 1.0)
    return _statuses(assertions.below(x, threshold, confidence_level=LEVEL, n_resamples=N_RESAMPLES, rng=rng))


def _greater(rng, effect):
    b = rng.normal(0.0, 1.0, size=(30, N_SIM))
    a = b + rng.normal(0.6 if effect else 0.0, 1.0, size=(30, N_SIM))
    return _statuses(assertions.greater(a, b, paired=True, confidence_level=LEVEL, n_resamples=N_RESAMPLES, rng=rng))


def _equivalent(rng, effect):
    b = rng.normal(0.0, 1.0, size=(40, N_SIM))
    a = b + rng.normal(0.0 if effect else 0.5, 1.0, size=(40, N_SIM))
    return _statuses(assertions.equivalent(a, b, margin=0.5, confidence_level=LEVEL, n_resamples=N_RESAMPLES, rng=rng))


def _correlated(rng, effect):
    rho = 0.6 if effect else 0.0
    x = rng.normal(size=(30, N_SIM))
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(30, N_SIM))
    return _statuses(assertions.correlated(x, y, sign=+1, confidence_level=LEVEL, n_resamples=N_RESAMPLES, rng=rng))


def _same_sign(rng, effect):
    out = []
    for _ in range(N_SIM):
        a = rng.normal(1.0 + (0.7 if effect else 0.0), 1.0, size=30)      # reference 1: null has theta_a = 1
        b = a + rng.normal(0.7, 0.5, size=30)
        out.append(assertions.same_sign(a, b, reference=1.0, confidence_level=LEVEL,
                                        n_resamples=N_RESAMPLES_LOOP, rng=rng).status.value)
    return np.array(out)


def _law_fits(rng, effect):
    out = []
    for _ in range(N_SIM):
        x = rng.uniform(0.0, 2.0, size=40)
        slope = 1.0 if effect else 1.5                                      # prediction 1 +- 0.5
        y = 1.0 + slope * x + rng.normal(0.0, 0.5, size=40)
        out.append(assertions.law_fits(x, y, slope=1.0, slope_margin=0.5, confidence_level=LEVEL,
                                       n_resamples=N_RESAMPLES_LOOP, rng=rng).status.value)
    return np.array(out)


def _separated(rng, effect):
    means = {"a": 1.0, "b": 2.0, "c": 2.0 * (1.6 if effect else 1.0), "d": 4.0 * (1.6 if effect else 1.0)}
    sigma = 0.5
    out = []
    for _ in range(N_SIM):
        groups = {k: rng.lognormal(np.log(m) - sigma**2 / 2, sigma, size=30) for k, m in means.items()}
        out.append(assertions.separated(groups, upper=["c", "d"], lower=["a", "b"], confidence_level=LEVEL,
                                        n_resamples=N_RESAMPLES_LOOP, rng=rng).status.value)
    return np.array(out)


def _proportion_below(rng, effect):
    k = rng.binomial(1000, 0.02 if effect else 0.04, size=N_SIM)
    return np.array([assertions.proportion_below(int(ki), 1000, 0.04, confidence_level=LEVEL).status.value for ki in k])


SCENARIOS = {
    "above": Scenario("above", "mean = threshold (normal, sd 1)", "mean = threshold + 0.6 sd", "30 texts",
                      "alpha/2", _above),
    "below": Scenario("below", "mean = threshold (lognormal, sigma 0.5)", "threshold = 1.3 x mean", "40 texts",
                      "alpha/2", _below),
    "greater": Scenario("greater (paired)", "mean difference = 0", "mean difference = 0.6 sd", "30 texts",
                        "alpha/2", _greater),
    "equivalent": Scenario("equivalent (TOST)", "difference = margin (0.5 sd)", "difference = 0", "40 texts",
                           "alpha", _equivalent),
    "correlated": Scenario("correlated (Spearman)", "rho = 0", "Pearson rho = 0.6", "30 units",
                           "alpha/2", _correlated),
    "same_sign": Scenario("same_sign (paired)", "theta_a = reference, theta_b > reference",
                          "both 0.7 sd above reference", "30 texts", "alpha/2", _same_sign, N_RESAMPLES_LOOP),
    "law_fits": Scenario("law_fits (slope)", "slope = prediction + margin", "slope = prediction", "40 units",
                         "alpha", _law_fits, N_RESAMPLES_LOOP),
    "separated": Scenario("separated (4 members)", "log gap = 0 (max lower = min upper)", "fold gap 1.6",
                          "4 x 30 texts", "alpha/2", _separated, N_RESAMPLES_LOOP),
    "proportion_below": Scenario("proportion_below (binomtest)", "rate = threshold 0.04", "rate = 0.02",
                                 "1000 trials", "alpha/2", _proportion_below, 0),
}


@dataclass(frozen=True)
class Measured:
    fpr: float
    power: float
    seconds: float

    @staticmethod
    def se(rate: float) -> float:
        return float(np.sqrt(max(rate * (1 - rate), 1e-12) / N_SIM))


@functools.lru_cache(maxsize=None)
def measure(name: str) -> Measured:
    scenario = SCENARIOS[name]
    start = time.perf_counter()
    seeds = np.random.SeedSequence([SEED, list(SCENARIOS).index(name)]).spawn(2)
    null = scenario.simulate(np.random.default_rng(seeds[0]), False)
    alt = scenario.simulate(np.random.default_rng(seeds[1]), True)
    assert null.shape == alt.shape == (N_SIM,)
    return Measured(fpr=float(np.mean(null == Status.SUPPORTED.value)),
                    power=float(np.mean(alt == Status.SUPPORTED.value)), seconds=time.perf_counter() - start)


FPR_BOUND = ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / N_SIM)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_helper_is_calibrated(name):
    """FPR at the null boundary <= alpha + 3 MC SE, and power at the stated effect >= MIN_POWER
    (one test per helper, so that each helper's simulations run once, also under xdist)."""
    m = measure(name)
    assert m.fpr <= FPR_BOUND, f"{name}: FPR {m.fpr:.4f} > alpha + 3 SE = {FPR_BOUND:.4f}"
    assert m.power >= MIN_POWER, f"{name}: power {m.power:.3f} < {MIN_POWER}"


def table_markdown() -> str:
    lines = [
        "# Calibration of the assertion helpers",
        "",
        f"Measured by `python tests/test_calibration.py` (the same simulations `tests/test_calibration.py` "
        f"asserts on). Each row: {N_SIM} simulated data sets under the null *at its boundary*, and {N_SIM} "
        f"under the stated effect; a rate is the fraction declared SUPPORTED. Confidence 0.95 (alpha = "
        f"{ALPHA}); BCa intervals from `scipy.stats.bootstrap`; resamples per data set as listed (few, for "
        f"speed — claims use the profile's 999/4999). The test requires FPR <= alpha + 3 MC SE = "
        f"{FPR_BOUND:.4f} and power >= {MIN_POWER}. Directional rules use one tail of a two-sided interval, "
        "so their nominal FPR is alpha/2; TOST-type rules (equivalent, law_fits) have nominal alpha.",
        "",
        "| helper | null (boundary) | FPR ± MC SE | nominal | stated effect | power ± MC SE | n | simulations | resamples | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in SCENARIOS.items():
        m = measure(name)
        lines.append(f"| `{s.helper}` | {s.null} | {m.fpr:.3f} ± {Measured.se(m.fpr):.3f} | {s.nominal} | "
                     f"{s.effect} | {m.power:.3f} ± {Measured.se(m.power):.3f} | {s.n} | {N_SIM} | "
                     f"{s.resamples or 'exact'} | {m.seconds:.1f} |")
    lines += ["", f"Environment: numpy {np.__version__}, python {sys.version.split()[0]}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "calibration.md"
    out.write_text(table_markdown())
    print(out.read_text())
