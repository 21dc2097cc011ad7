"""lmclaims.stats.measurement: a Measurement carries an interval and a direction, never a status."""

from __future__ import annotations

import numpy as np
import pytest

from lmclaims.stats.evidence import Measurement
from lmclaims.stats.measurement import measured, measured_exact


def test_direction_above_below_unresolved():
    rng = np.random.default_rng(0)
    up = measured(np.exp(rng.normal(0.2, 0.05, 30)), 1.0, log=True, name="G")
    down = measured(np.exp(rng.normal(-0.2, 0.05, 30)), 1.0, log=True, name="G")
    flat = measured(np.exp(rng.normal(0.0, 0.5, 30)), 1.0, log=True, name="G")
    assert isinstance(up, Measurement) and not hasattr(up, "status")
    assert (up.direction, down.direction) == ("above", "below")
    assert flat.direction == "unresolved"
    assert up.evidence.extra["direction"] == up.direction


def test_log_scale_reports_geometric_mean_on_original_scale():
    x = np.array([1.0, 2.0, 4.0, 0.5, 1.0, 2.0])
    m = measured(x, 1.0, log=True)
    assert m.evidence.estimate == pytest.approx(float(np.exp(np.log(x).mean())))
    lo, hi = m.evidence.confidence_interval
    assert lo < m.evidence.estimate < hi and lo > 0
    assert "t" in m.evidence.method.lower()


def test_other_statistic_below_20_units_gives_no_interval():
    m = measured(np.arange(1.0, 11.0), 0.0, statistic=np.median)
    assert m.direction == "unresolved" and "refused" in m.evidence.extra


def test_exact():
    m = measured_exact(0.76, 1.0, name="ratio", unit="model", n=288)
    assert m.direction == "below" and m.evidence.confidence_interval == (0.76, 0.76)
    assert m.evidence.confidence_level == 1.0
    with pytest.raises(ValueError):
        measured_exact(float("nan"), 1.0, name="ratio", unit="model", n=1)


def test_bad_input():
    with pytest.raises(ValueError, match="positive"):
        measured([1.0, -1.0, 2.0], 1.0, log=True)
    with pytest.raises(ValueError, match="NaN"):
        measured([1.0, np.nan, 2.0], 1.0)


def test_direction_calibrated():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import calibration_harness as h
    import calibration_thermo as c

    (s,) = [s for s in c.SCENARIOS if s.name == "measured direction n=64"]
    assert not h.measure(s).failures()
