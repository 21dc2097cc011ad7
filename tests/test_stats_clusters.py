"""Clusters: a given split, a split found against a continuum null, and a split chosen on held-out texts."""

import numpy as np
import pytest

from lmclaims.stats import assertions
from lmclaims.stats.clusters_found import gap_statistic, separated_held_out, two_clusters
from lmclaims.stats.evidence import Status


def members(rng, log10_means, n=24, sigma=0.1):
    return {f"m{i}": rng.lognormal(mu * np.log(10), sigma, n) for i, mu in enumerate(log10_means)}


def test_eight_evenly_spaced_members_are_not_two_clusters():
    """Must-show: no cluster structure -> not SUPPORTED beyond nominal (alpha/2 + 3 MC SE)."""
    rng = np.random.default_rng(11)
    sims = 300
    hits = sum(two_clusters(members(rng, 0.1 * np.arange(8)), n_resamples=999, rng=rng).supported
               for _ in range(sims))
    assert hits / sims <= 0.025 + 3 * np.sqrt(0.025 * 0.975 / sims)


def test_three_members_are_inconclusive_whatever_the_values():
    rng = np.random.default_rng(12)
    for means in ([0.0, 0.01, 3.0], [0.0, 1.0, 2.0]):
        j = two_clusters(members(rng, means))
        assert j.status is Status.INCONCLUSIVE and "3 members" in j.reason and j.p_value is None


def test_real_two_clusters_have_power():
    rng = np.random.default_rng(13)
    sims = 100
    power = np.mean([two_clusters(members(rng, np.r_[np.zeros(4), np.ones(4)] + rng.normal(0, 0.1, 8)),
                                  n_resamples=999, rng=rng).supported for _ in range(sims)])
    assert power >= 0.8, power


def test_separated_without_a_split_is_the_continuum_test():
    rng = np.random.default_rng(14)
    j = assertions.separated(members(rng, 0.1 * np.arange(8)))
    assert "monte_carlo_test" in j.evidence.method and j.status is not Status.SUPPORTED
    assert j.p_refute is None


def test_gap_statistic_is_location_and_scale_free():
    z = np.random.default_rng(0).normal(size=(5, 8))
    assert np.allclose(gap_statistic(z), gap_statistic(3.0 * z + 7.0))


def test_held_out_split_is_chosen_on_the_first_half_and_tested_on_the_second():
    rng = np.random.default_rng(15)
    g = members(rng, [0.0, 0.05, 1.0, 1.05], n=64, sigma=0.2)
    j = separated_held_out(g, rng=0)
    assert j.status is Status.SUPPORTED
    extra = j.evidence.extra
    assert extra["upper"] == ["m2", "m3"] and extra["choose_units"] == [0, 32] and extra["test_units"] == [32, 64]
    # the test half alone decides: corrupting the first half's units only changes the split, not the data tested
    flipped = {k: np.r_[v[:32][::-1] * 0 + (10.0 if k == "m0" else 1.0), v[32:]] for k, v in g.items()}
    k = separated_held_out(flipped, rng=0)
    assert k.evidence.extra["upper"] == ["m0"] and k.status is Status.REFUTED


def test_choose_on_one_readout_and_test_on_another():
    rng = np.random.default_rng(16)
    base = members(rng, [0.0, 0.05, 1.0, 1.05], n=64, sigma=0.2)
    control = members(rng, [0.0, 0.0, 0.0, 0.0], n=64, sigma=0.2)   # the control erases the clusters
    j = separated_held_out(choose_on=base, test_on=control, min_gap=0.3, rng=0)
    assert j.evidence.extra["upper"] == ["m2", "m3"]
    assert j.status is Status.REFUTED and j.p_refute <= 0.05
    with pytest.raises(ValueError, match="same members"):
        separated_held_out(choose_on=base, test_on={"x": [1.0] * 64})


def test_given_split_refutes_only_when_the_gap_interval_is_below_min_gap():
    rng = np.random.default_rng(17)
    g = members(rng, [0.0, 0.1, 0.5, 0.6], n=64, sigma=0.2)
    ok = assertions.separated(g, upper=["m2", "m3"], min_gap=0.1, rng=0)
    assert ok.status is Status.SUPPORTED and ok.p_value <= 0.05 and ok.p_refute > 0.05
    far = assertions.separated(g, upper=["m2", "m3"], min_gap=1.0, rng=0)
    assert far.status is Status.REFUTED and far.p_refute <= 0.05
    few = assertions.separated({k: v[:12] for k, v in g.items()}, upper=["m2", "m3"], rng=0)
    assert few.status is Status.INCONCLUSIVE and "12 texts" in few.reason


def test_two_clusters_members_as_tuples_of_per_unit_arrays():
    """A member given as (per-text Ḡ, per-text D̄) is summarised by statistic(*arrays) (a ratio of means):
    the same decision as passing the ratio-of-means summaries' structure directly; 3 members → INCONCLUSIVE."""
    rng = np.random.default_rng(0)
    ratio = lambda g, d: g.mean() / d.mean()  # noqa: E731
    two = {f"m{i}": (rng.lognormal(0, 0.1, 30) * c, rng.lognormal(0, 0.1, 30)) for i, c in enumerate([1, 1.1, 9, 10])}
    j = two_clusters(two, statistic=ratio, rng=0)
    assert j.status.value == "supported"
    assert set(j.evidence.extra["members"]) == set(two)
    even = {f"m{i}": (rng.lognormal(i * 0.3, 0.02, 30), np.ones(30)) for i in range(8)}
    assert two_clusters(even, statistic=ratio, rng=0).status.value != "supported"
    three = {k: two[k] for k in ["m0", "m1", "m2"]}
    assert two_clusters(three, statistic=ratio).status.value == "inconclusive"
