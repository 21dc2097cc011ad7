"""Assertion helpers on clear-cut data: each status is reachable, degenerate input never passes."""

import numpy as np
import pytest

from lmclaims.stats import assertions
from lmclaims.stats.context import ActiveSettings, using
from lmclaims.stats.evidence import Judgement, Status

FAST = dict(n_resamples=999, rng=7)
rng0 = np.random.default_rng(0)
X = rng0.normal(1.0, 0.2, 60)


@pytest.mark.parametrize("threshold, expected", [(0.9, Status.SUPPORTED), (1.1, Status.REFUTED), (1.0, Status.INCONCLUSIVE)])
def test_above_statuses(threshold, expected):
    j = assertions.above(X, threshold, **FAST)
    assert j.status is expected
    assert j.evidence.n == 60 and j.evidence.unit == "text" and j.evidence.seed == 7
    assert "BCa" in j.evidence.method and len(j.evidence.bootstrap_distribution) == 999
    assert j.reason and "95%" in j.rule


def test_below_mirrors_above():
    assert assertions.below(X, 1.1, **FAST).status is Status.SUPPORTED
    assert assertions.below(X, 0.9, **FAST).status is Status.REFUTED


def test_min_effect_widens_the_indifference_zone():
    assert assertions.above(X, 0.9, **FAST).status is Status.SUPPORTED
    assert assertions.above(X, 0.9, min_effect=0.1, **FAST).status is Status.INCONCLUSIVE   # CI crosses 1.0
    short = assertions.above(X, 0.9, min_effect=0.2, **FAST)                               # CI wholly below 1.1
    assert short.status is Status.REFUTED and short.evidence.extra["refuted_as"] == "negligible"   # CI in ±0.2 of 0.9


def test_p_value_matches_the_decision_at_every_level():
    for threshold in (0.9, 0.93, 0.95, 0.97, 1.0):
        j = assertions.above(X, threshold, **FAST)
        for level in (0.9, 0.95, 0.99):
            at = assertions.above(X, threshold, confidence_level=level, n_resamples=4999, rng=7)
            assert (at.status is Status.SUPPORTED) == (j.p_value <= 1 - level + 1e-12), (threshold, level, j.p_value)


def test_two_dimensional_input_gives_one_judgement_per_column():
    data = np.column_stack([X, X - 0.5, X + 0.5])
    js = assertions.above(data, [0.9, 0.9, 0.9], labels=["l0", "l1", "l2"], **FAST)
    assert [j.status for j in js] == [Status.SUPPORTED, Status.REFUTED, Status.SUPPORTED]
    assert [j.label for j in js] == ["l0", "l1", "l2"]
    single = assertions.above(X, 0.9, **FAST)
    assert js[0].evidence.estimate == pytest.approx(single.evidence.estimate)


@pytest.mark.parametrize("bad, match", [([], "empty"), ([1.0], "at least 2"), ([1.0, np.nan, 2.0], "NaN"),
                                        ([1.0, np.inf], "infinite"), (3.0, "scalar"), (np.ones((2, 2, 2)), "dimensions")])
def test_degenerate_input_raises(bad, match):
    with pytest.raises(ValueError, match=match):
        assertions.above(bad, 0.0, **FAST)


def test_constant_data_is_inconclusive_with_a_reason():
    j = assertions.above(np.full(20, 5.0), 1.0, **FAST)
    assert j.status is Status.INCONCLUSIVE and "degenerate" in j.reason
    both = assertions.greater(np.full(20, 2.0), np.full(20, 1.0), **FAST)
    assert both.status is Status.INCONCLUSIVE


def test_deterministic_paired_difference_is_not_degenerate():
    b = rng0.normal(0, 1, 20)
    assert assertions.greater(b + 1.0, b, **FAST).status is Status.SUPPORTED


def test_greater_paired_beats_unpaired_on_correlated_data():
    base = rng0.normal(0, 1, 40)
    after = base + 0.1 + rng0.normal(0, 0.05, 40)
    assert assertions.greater(after, base, paired=True, **FAST).status is Status.SUPPORTED
    assert assertions.greater(after, base, paired=False, **FAST).status is Status.INCONCLUSIVE
    with pytest.raises(ValueError, match="same shape"):
        assertions.greater(after, base[:-1], paired=True, **FAST)


def test_same_sign():
    a = rng0.normal(1.2, 0.1, 40)
    assert assertions.same_sign(a, a + 0.05, reference=1.0, **FAST).status is Status.SUPPORTED
    assert assertions.same_sign(a, 2.0 - a, reference=1.0, **FAST).status is Status.REFUTED
    j = assertions.same_sign(a, rng0.normal(1.0, 0.3, 40), reference=1.0, **FAST)
    assert j.status is Status.INCONCLUSIVE and set(j.evidence.extra["conditions"]) == {"a", "b"}


def test_equivalent():
    a = rng0.normal(0, 1, 80)
    assert assertions.equivalent(a, a + rng0.normal(0, 0.05, 80), margin=0.1, **FAST).status is Status.SUPPORTED
    j = assertions.equivalent(a, a + 1.0, margin=0.1, **FAST)
    assert j.status is Status.REFUTED and j.evidence.confidence_level == pytest.approx(0.90)
    assert j.evidence.extra["ttost_p"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="margin"):
        assertions.equivalent(a, a, margin=0, **FAST)


def test_separated_given_and_found_clusters():
    r = np.random.default_rng(3)
    groups = {"a": r.lognormal(0, 0.3, 40), "b": r.lognormal(0.2, 0.3, 40),
              "c": r.lognormal(2.5, 0.3, 40), "d": r.lognormal(2.7, 0.3, 40)}
    found = assertions.separated(groups, **FAST)          # no split given: the continuum-null test (two_clusters)
    assert found.status is Status.SUPPORTED and found.evidence.extra["upper"] == ["c", "d"]
    assert found.p_refute is None and "monte_carlo_test" in found.evidence.method
    assert assertions.separated(groups, upper=["c", "d"], min_gap=2.0, **FAST).status is Status.REFUTED
    between = assertions.separated(groups, upper=["d"], lower=["a"], **FAST)
    assert between.status is Status.INCONCLUSIVE and between.evidence.extra["between"] == ["b", "c"] or \
        between.evidence.extra["between"] == ["c"]
    with pytest.raises(ValueError, match="positive"):
        assertions.separated({"a": [-1.0, 1.0], "b": [1.0, 2.0]}, **FAST)


def test_law_fits_and_refutes():
    r = np.random.default_rng(4)
    x = r.uniform(0, 2, 40)
    y = 1.0 + 0.75 * x + r.normal(0, 0.02, 40)
    assert assertions.law_fits(x, y, slope=0.75, slope_margin=0.1, **FAST).status is Status.SUPPORTED
    assert assertions.law_fits(x, y, slope=1.0, slope_margin=0.05, **FAST).status is Status.REFUTED
    with pytest.raises(ValueError, match="margin"):
        assertions.law_fits(x, y, slope=1.0, **FAST)
    with pytest.raises(ValueError, match="no spread"):
        assertions.law_fits(np.ones(5), np.arange(5.0), slope=1.0, slope_margin=0.1, **FAST)


def test_correlated():
    r = np.random.default_rng(5)
    x = r.normal(size=40)
    assert assertions.correlated(x, x + r.normal(0, 0.3, 40), **FAST).status is Status.SUPPORTED
    assert assertions.correlated(x, -x + r.normal(0, 0.3, 40), **FAST).status is Status.REFUTED
    assert assertions.correlated(x, -x, sign=-1, **FAST).status is Status.SUPPORTED
    j = assertions.correlated(np.ones(10), np.arange(10.0), **FAST)
    assert j.status is Status.INCONCLUSIVE and "degenerate" in j.reason


def test_proportion_below_binomial_and_per_text():
    assert assertions.proportion_below(5, 1000, 0.04).status is Status.SUPPORTED
    assert assertions.proportion_below(100, 1000, 0.04).status is Status.REFUTED
    j = assertions.proportion_below(40, 1000, 0.04)
    assert j.status is Status.INCONCLUSIVE and j.p_value > 0.05
    k = np.random.default_rng(6).binomial(50, 0.01, 60)
    per_text = assertions.proportion_below(k, np.full(60, 50), 0.04, **FAST)
    assert per_text.status is Status.SUPPORTED and per_text.evidence.unit == "trial"
    with pytest.raises(ValueError):
        assertions.proportion_below(5, 3, 0.04)


def test_active_settings_are_the_defaults_and_explicit_options_win():
    with using(ActiveSettings(confidence_level=0.99, n_resamples=199, rng=np.random.default_rng(1))):
        j = assertions.above(X, 0.9)
        k = assertions.above(X, 0.9, confidence_level=0.9)
    # the active 199 resamples are raised to the 4000 a 99% interval needs (>= 20 beyond each end)
    assert j.evidence.confidence_level == 0.99 and len(j.evidence.bootstrap_distribution) == 4000
    assert k.evidence.confidence_level == 0.9


def test_same_seed_same_judgement_and_seed_reproduces():
    a = assertions.above(X, 0.95, n_resamples=999)
    b = assertions.above(X, 0.95, n_resamples=999)
    assert a == b
    again = assertions.above(X, 0.95, n_resamples=999, rng=a.evidence.seed)
    assert again.evidence.confidence_interval == a.evidence.confidence_interval


def test_judgement_to_verdict_fills_the_claim():
    j = assertions.above(X, 0.9, **FAST)
    assert isinstance(j, Judgement)
    v = j.to_verdict("demo.x", models=("m",), variant="as-published", claim_version=2, label="L3")
    assert v.key == "demo.x@as-published:m[L3]" and v.p_raw == j.p_value and v.reason == j.reason
    assert v.__class__.from_dict(v.to_dict()).to_dict() == v.to_dict()
