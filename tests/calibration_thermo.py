"""Calibration scenarios of the thermodynamics helpers (lmclaims.stats.across_models, .measurement).

Discovered by ``tests/calibration_harness.discover`` (``SCENARIOS``). Designs are the claims' real ones:
3, 5, 8, 9 models (offline panel 3, offline-full 5, the hub's Pythia sweep 8, EleutherAI 9+), 24 or 64
texts, at the family levels the thermo claims use (alpha = 0.05 and its Bonferroni split over 3
variants), with heavy-tailed text noise (t with 3 df) and a random model effect.

Both error directions are simulated at the one boundary of the directional rule
(true panel mean = threshold + margin): a SUPPORTED there is false, and so is a REFUTED.
"""

from __future__ import annotations

import numpy as np

try:
    from calibration_harness import Scenario, statuses
except ImportError:  # imported as tests.calibration_thermo
    from tests.calibration_harness import Scenario, statuses

from lmclaims.stats.across_models import magnitude_test, panel_above
from lmclaims.stats.context import resolve
from lmclaims.stats.measurement import measured

N_SIM = 1000
N_SIM_SLOW = 400     # helpers that call scipy.stats per simulation (~15-50 ms): >= 400 (MC SE stated)
THRESHOLD, MARGIN = 0.0, 0.005        # the thermo claims' log G scale and MIN_EFFECT_G-sized margin
SIGMA_MODEL, SIGMA_TEXT, SIGMA_NOISE = 0.10, 0.08, 0.15


def _crossed(rng, k, n, mu):
    """Y[m, t] = mu + a_m + b_t + e_mt; e heavy-tailed (t_3 scaled to SIGMA_NOISE)."""
    a = rng.normal(0, SIGMA_MODEL, (k, 1))
    b = rng.normal(0, SIGMA_TEXT, (1, n))
    e = rng.standard_t(3, (k, n)) * SIGMA_NOISE / np.sqrt(3.0)
    return mu + a + b + e


def _panel_sim(k, n, level, shared):
    def simulate(rng, claim_true):
        mu = THRESHOLD + MARGIN        # the boundary: both errors are judged here
        out = []
        for _ in range(N_SIM if shared else N_SIM_SLOW):
            if shared:
                Y = _crossed(rng, k, n, mu)
                per = {f"m{i}": Y[i] for i in range(k)}
            else:   # different texts per model (nested), different counts
                per = {f"m{i}": _crossed(rng, 1, n + 3 * i, mu)[0] for i in range(k)}
            out.append(panel_above(per, THRESHOLD, min_effect=MARGIN, confidence_level=level,
                                   rng=int(rng.integers(2**31))))
        return statuses(out)
    return simulate


def _groups_sim(ka, kb, level, t=np.log(3.0)):
    """Exact per-model values (weights): model effect only, true |difference| = t (the boundary).

    Vectorised over simulations through ``across_models.magnitude_test``, the function
    ``groups_differ`` itself decides with (same code path, one call per batch)."""
    def simulate(rng, claim_true):
        a = t + rng.normal(0, 0.8, (N_SIM, ka))
        b = rng.normal(0, 0.8, (N_SIM, kb))
        opts = resolve(level, None, int(rng.integers(2**31)), None)
        _, _, supported, refuted = magnitude_test(a, b, float(t), opts)
        return np.where(supported, "supported", np.where(refuted, "refuted", "inconclusive"))
    return simulate


def _measured_sim(n, level):
    """Direction of a Measurement at true value = reference: 'above' counted as supported, 'below' as refuted."""
    def simulate(rng, claim_true):
        out = []
        for _ in range(N_SIM):
            g = np.exp(rng.standard_t(3, n) * 0.1)
            m = measured(g, 1.0, log=True, confidence_level=level, rng=int(rng.integers(2**31)))
            out.append({"above": "supported", "below": "refuted"}.get(m.direction, "inconclusive"))
        return np.array(out)
    return simulate


SCENARIOS: list[Scenario] = []
for k in (3, 5, 8, 9):
    for level in (0.95, 1 - 0.05 / 3):
        SCENARIOS.append(Scenario(
            f"panel_above crossed k={k} n=24 level={level:.4g}", "across_models.panel_above", f"{k} models x 24 texts",
            level, "panel mean = t + δ (heavy-tailed texts)", "panel mean = t + δ", _panel_sim(k, 24, level, True),
            (1 - level) / 2, (1 - level) / 2, N_SIM, "thermo across-model claims (shared corpus texts)"))
    SCENARIOS.append(Scenario(
        f"panel_above per-model k={k} n=24..", "across_models.panel_above", f"{k} models", 0.95,
        "panel mean = t + δ", "panel mean = t + δ", _panel_sim(k, 24, 0.95, False), 0.025, 0.025, N_SIM_SLOW,
        "across-model claims on per-model texts"))
for ka, kb in ((2, 2), (2, 3), (4, 4), (4, 5)):
    SCENARIOS.append(Scenario(
        f"groups_differ {ka}+{kb} models", "across_models.groups_differ", f"{ka}+{kb} models", 0.95,
        "|Δ| = log 3 (boundary)", "|Δ| = log 3 (boundary)", _groups_sim(ka, kb, 0.95), 0.025, 0.025, N_SIM,
        "thermo.wv_wo_lab_10x"))
for n in (24, 64):
    SCENARIOS.append(Scenario(
        f"measured direction n={n}", "measurement.measured", f"{n} texts", 0.95, "G = reference (dir. above)",
        "G = reference (dir. below)", _measured_sim(n, 0.95), 0.025, 0.025, N_SIM, "thermo.heritage_sign"))
