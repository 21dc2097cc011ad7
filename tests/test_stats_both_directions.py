"""Both error directions: every helper returns a support p and a refutation p consistent with its status;
REFUTED needs the interval wholly outside the margin; designs that cannot reach the level say so."""

import numpy as np
import pytest

from lmclaims.stats import assertions
from lmclaims.stats.correlation import correlation_within
from lmclaims.stats.evidence import Status
from lmclaims.stats.permutation import arrangements, permutation, sign_flip

R = np.random.default_rng(0)
ALPHA = 0.05


def consistent(j, alpha=ALPHA):
    assert (j.status is Status.SUPPORTED) == (j.p_value is not None and j.p_value <= alpha), (j.status, j.p_value)
    assert (j.status is Status.REFUTED) == (j.p_refute is not None and j.p_refute <= alpha), (j.status, j.p_refute)
    extra = j.evidence.extra
    assert "direction" in extra and "refuted_as" in extra
    assert (extra["refuted_as"] is not None) == (j.status is Status.REFUTED)


@pytest.mark.parametrize("shift", [-1.0, 0.0, 1.0])
def test_every_helper_reports_both_p_values(shift):
    x = R.normal(shift, 1.0, 40)
    y = x + R.normal(0.0, 0.5, 40)
    js = [assertions.above(x, 0.0, rng=1), assertions.above(x[:8], 0.0),
          assertions.greater(y + shift, x, rng=1), assertions.greater(y[:6] + shift, x[:6]),
          assertions.equivalent(y + shift, x, margin=0.5, rng=1), assertions.equivalent(y[:10] + shift, x[:10], margin=0.5),
          assertions.correlated(x, shift * x + R.normal(size=40), rng=1),
          assertions.correlated(x[:9], shift * x[:9] + R.normal(size=9)),
          assertions.same_sign(x, y, rng=1), assertions.same_sign(x[:5], y[:5] + shift, paired=False),
          assertions.law_fits(x, 2 + shift * x + R.normal(0, 0.1, 40), slope=0.0, slope_margin=0.3, rng=1),
          assertions.proportion_below(int(40 + 20 * shift), 1000, 0.04),
          correlation_within(x, shift * x + R.normal(size=40), 0.3, rng=1),
          sign_flip(x[:8] - 0.0)]
    for j in js:
        consistent(j)


def test_law_true_within_its_margin_is_not_refuted_for_missing_the_exact_prediction():
    """The old rule refuted when the CI excluded the exact prediction (22-79% false REFUTED)."""
    x = np.linspace(0.1, 1.0, 30)
    y = 1.15 * x + R.normal(0, 0.01, 30)                 # slope 1.15: inside 1 ± 0.2, CI excludes 1
    j = assertions.law_fits(x, y, slope=1.0, slope_margin=0.2, through_origin=True, rng=1)
    assert j.status is Status.SUPPORTED
    k = assertions.law_fits(x, 1.5 * x + R.normal(0, 0.01, 30), slope=1.0, slope_margin=0.2, through_origin=True, rng=1)
    assert k.status is Status.REFUTED and k.evidence.extra["refuted_as"] == "outside margin"


def test_small_n_methods_are_matched():
    assert "t" in assertions.equivalent(R.normal(size=8), margin=1.0).evidence.method
    assert "permutation" in assertions.correlated(np.arange(9.0), np.arange(9.0)).evidence.method
    assert "t" in assertions.same_sign(R.normal(1, 0.1, 5), R.normal(1, 0.1, 5), paired=False).evidence.method
    assert "OLS t" in assertions.law_fits(np.arange(6.0), np.arange(6.0) * 2, slope=2, slope_margin=0.5).evidence.method
    j = assertions.equivalent(R.normal(size=8), margin=1.0, statistic=np.median)
    assert j.status is Status.INCONCLUSIVE and "not calibrated below 20" in j.reason


def test_five_paired_seeds_cannot_reach_one_sided_0025():
    j = sign_flip([1.0, 2.0, 3.0, 4.0, 5.0])
    assert j.status is Status.INCONCLUSIVE and "1/32" not in j.reason and "0.0312" in j.reason
    six = sign_flip([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert six.status is Status.SUPPORTED and six.p_value == pytest.approx(2 / 64)


def test_sign_flip_refutes_the_opposite_side():
    j = sign_flip(-np.arange(1.0, 9.0), threshold=0.0)
    assert j.status is Status.REFUTED and j.evidence.extra["refuted_as"] == "opposite"
    assert j.p_refute == pytest.approx(2 / 256)


def test_four_models_cannot_show_a_rank_correlation():
    j = assertions.correlated(np.arange(4.0), np.arange(4.0))
    assert j.status is Status.INCONCLUSIVE and "24" not in j.rule and j.p_value is None


def test_permutation_never_refutes_and_counts_arrangements():
    depth = np.arange(10.0)
    j = permutation((depth, -depth), lambda x, y, axis=-1: np.mean(x * y, axis=axis), rng=0)
    assert j.status is Status.INCONCLUSIVE and j.p_refute is None
    assert arrangements((10, 10), "pairings") == 3628800
    tiny = permutation((np.arange(4.0), np.arange(4.0)), lambda x, y, axis=-1: np.mean(x * y, axis=axis))
    assert tiny.status is Status.INCONCLUSIVE and "arrangements" in tiny.reason


def test_correlation_within_band():
    x = R.normal(size=64)
    assert correlation_within(x, R.normal(size=64), 0.4, rng=0).status is Status.SUPPORTED
    strong = correlation_within(x, x + R.normal(0, 0.2, 64), 0.4, rng=0)
    assert strong.status is Status.REFUTED and strong.evidence.extra["refuted_as"] == "outside band"
    assert correlation_within(x[:10], x[:10], 0.4).status is Status.INCONCLUSIVE


def test_negligible_effect_is_refuted_by_equivalence():
    x = R.normal(0.0, 0.05, 64)
    j = assertions.above(x, 0.0, min_effect=0.2, rng=1)
    assert j.status is Status.REFUTED and j.evidence.extra["refuted_as"] == "negligible"


def test_forced_too_few_resamples_refuse_instead_of_annotating():
    x = R.normal(1.0, 1.0, 40)
    j = assertions.above(x, 0.0, n_resamples=199, rng=1)
    assert j.status is Status.INCONCLUSIVE and "at least 800" in j.reason and not j.caveats
    k = assertions.correlated(x, x, n_resamples=199, rng=1)
    assert k.status is Status.INCONCLUSIVE and "800" in k.reason
