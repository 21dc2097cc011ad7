"""lmclaims.stats.across_models: decisions, designs, and calibration at the claims' model counts."""

from __future__ import annotations

import numpy as np
import pytest

from lmclaims.stats import judging
from lmclaims.stats.across_models import groups_differ, panel_above, panel_below


def _panel(rng, k, n, mu, text_sd=0.1, model_sd=0.1, noise=0.1):
    Y = mu + rng.normal(0, model_sd, (k, 1)) + rng.normal(0, text_sd, (1, n)) + rng.normal(0, noise, (k, n))
    return {f"m{i}": Y[i] for i in range(k)}


def test_clear_effect_supported_and_opposite_refuted():
    rng = np.random.default_rng(0)
    per = _panel(rng, 8, 32, 0.5)
    j = panel_above(per, 0.0, min_effect=0.01)
    assert j.status.value == "supported" and j.p_value <= j.evidence.extra["alpha"]
    assert judging.issued(j)
    r = panel_below(per, 0.0, min_effect=0.01)
    assert r.status.value == "refuted" and r.evidence.extra["refuted_as"] == "opposite"
    assert r.p_refute <= r.evidence.extra["alpha"] < r.p_value


def test_fewer_than_three_models_is_inconclusive():
    j = panel_above({"a": np.ones(30) * 5, "b": np.ones(30) * 6}, 0.0)
    assert j.status.value == "inconclusive" and "3 models" in j.reason


def test_design_detection_and_units():
    rng = np.random.default_rng(1)
    shared = panel_above(_panel(rng, 4, 20, 0.2), 0.0)
    assert shared.evidence.extra["design"] == "crossed" and shared.evidence.unit == "model"
    assert shared.evidence.n == 4
    ragged = panel_above({f"m{i}": rng.normal(0.2, 0.1, 20 + i) for i in range(4)}, 0.0)
    assert ragged.evidence.extra["design"] == "per-model"
    exact = panel_above({f"m{i}": 0.3 + 0.01 * i for i in range(5)}, 0.0)      # one exact value per model
    assert exact.evidence.extra["design"] == "per-model" and exact.status.value == "supported"


def test_shared_text_effect_widens_the_interval():
    """A large effect common to all models through the texts drawn: the crossed interval must include it.

    Ignoring the text variance (a t over the model means only) gives false SUPPORTED far above nominal;
    the crossed design keeps it at alpha/2."""
    rng = np.random.default_rng(2)
    sims, false_crossed, false_naive = 300, 0, 0
    for _ in range(sims):
        per = _panel(rng, 8, 24, 0.0, text_sd=0.5, model_sd=0.05, noise=0.05)
        false_crossed += panel_above(per, 0.0).supported
        false_naive += panel_above(per, 0.0, shared_texts=False).supported
    assert false_crossed / sims <= 0.025 + 3 * np.sqrt(0.025 * 0.975 / sims)
    assert false_naive / sims > 0.1        # shows the test can tell the designs apart


def test_groups_differ_rules():
    a = {"a1": 2.3, "a2": 2.1, "a3": 2.4}
    assert groups_differ(a, {"b1": 0.1, "b2": -0.1, "b3": 0.0}, threshold=1.1).status.value == "supported"
    below = groups_differ({"b1": 0.1, "b2": -0.1, "b3": 0.0}, a, threshold=1.1)
    assert below.status.value == "supported" and below.evidence.extra["direction"] == "below"
    near = groups_differ({"a1": 0.11, "a2": 0.1, "a3": 0.12}, {"b1": 0.1, "b2": 0.09, "b3": 0.11}, threshold=1.1)
    assert near.status.value == "refuted" and near.p_refute <= near.evidence.extra["alpha"]
    few = groups_differ({"a1": 2.0}, {"b1": 0.0, "b2": 0.1}, threshold=1.1)
    assert few.status.value == "inconclusive" and "2 models in each group" in few.reason
    assert groups_differ({}, {"b1": 0.0}, threshold=1.1).status.value == "inconclusive"   # a panel without the labs
    with pytest.raises(ValueError):
        groups_differ(a, a, threshold=0.0)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="mapping"):
        panel_above([1, 2, 3], 0.0)
    with pytest.raises(ValueError, match="finite"):
        panel_above({"a": [1.0, np.nan], "b": [1, 2], "c": [1, 2]}, 0.0)
    with pytest.raises(ValueError, match="positive"):
        panel_above({"a": [1.0, -1.0], "b": [1, 2], "c": [1, 2]}, 0.0, log=True)


@pytest.mark.parametrize("name", ["panel_above crossed k=3 n=24 level=0.95", "panel_above crossed k=8 n=24 level=0.9833"])
def test_calibrated_at_the_boundary(name):
    """Two of the calibration scenarios (all of them run in tests/test_calibration.py)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import calibration_harness as h
    import calibration_thermo as c

    (s,) = [s for s in c.SCENARIOS if s.name == name]
    m = h.measure(s)
    assert not m.failures(), m.failures()


def test_batched_magnitude_test_matches_groups_differ():
    """The calibration's batched path decides exactly as groups_differ does, one case at a time."""
    from lmclaims.stats.across_models import magnitude_test
    from lmclaims.stats.context import resolve

    rng = np.random.default_rng(5)
    a, b = 1.1 + rng.normal(0, 0.8, (40, 3)), rng.normal(0, 0.8, (40, 4))
    _, _, sup, ref = magnitude_test(a, b, 1.1, resolve(0.95, None, 0, None))
    for i in range(40):
        j = groups_differ({f"a{k}": v for k, v in enumerate(a[i])}, {f"b{k}": v for k, v in enumerate(b[i])},
                          threshold=1.1, confidence_level=0.95, rng=0)
        assert (j.status.value == "supported") == bool(sup[i]) and (j.status.value == "refuted") == bool(ref[i])
