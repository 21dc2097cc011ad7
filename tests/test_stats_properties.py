"""Properties (hypothesis): order invariance, determinism, quantities in range."""

import json
import random

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lmclaims.stats import assertions
from lmclaims.stats.evidence import Status

values = arrays(np.float64, st.integers(5, 30), elements=st.floats(-10, 10, allow_nan=False, width=32))
FAST = dict(n_resamples=199, rng=11)
quick = settings(max_examples=25, deadline=None)


def assert_same_judgement(a, b, path="judgement"):
    """Equal statuses, texts and shapes; numbers equal up to float summation order.

    A shuffled sample sums in another order, so a mean can move in its last bit
    (1.92000000004 vs 1.9200000000400002): that is not a different verdict.
    """
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            assert_same_judgement(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same_judgement(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12), path
    else:
        assert a == b, path


@quick
@given(values, st.randoms(use_true_random=False), st.floats(-2, 2))
@example(np.array([2.0] * 24 + [9.99999972e-10]), random.Random(0), 0.0)   # CI stop 20: last-bit mean
def test_verdict_invariant_to_unit_order(x, random, threshold):
    shuffled = x.copy()
    random.shuffle(shuffled)
    a = assertions.above(x, threshold, **FAST)
    b = assertions.above(shuffled, threshold, **FAST)
    assert_same_judgement(a.to_dict(), b.to_dict())


@quick
@given(values, st.randoms(use_true_random=False))
def test_paired_helpers_invariant_to_unit_order(x, random):
    y = x[::-1] * 0.5 + 1.0
    order = list(range(len(x)))
    random.shuffle(order)
    for helper in (lambda a, b: assertions.greater(a, b, **FAST), lambda a, b: assertions.same_sign(a, b, **FAST)):
        assert_same_judgement(helper(x, y).to_dict(), helper(x[order], y[order]).to_dict())


@quick
@given(values, st.floats(-2, 2))
def test_same_seed_gives_identical_json(x, threshold):
    one = json.dumps(assertions.above(x, threshold, **FAST).to_dict(with_distribution=True), sort_keys=True)
    two = json.dumps(assertions.above(x, threshold, **FAST).to_dict(with_distribution=True), sort_keys=True)
    assert one == two


@quick
@given(values, values)
def test_normalised_quantities_in_range(x, y):
    n = min(len(x), len(y))
    for j in (assertions.correlated(x[:n], y[:n], **FAST), assertions.above(x, 0.0, **FAST),
              assertions.equivalent(x, margin=1.0, **FAST)):
        assert 0.0 <= j.p_value <= 1.0
        assert j.status in set(Status)
        lo, hi = j.evidence.confidence_interval
        assert not (lo > hi)                                  # NaN allowed only for degenerate data
        if j.status is not Status.INCONCLUSIVE and "permutation" not in j.evidence.method:   # a test, no interval
            assert lo <= j.evidence.estimate + 1e-9 or hi >= j.evidence.estimate - 1e-9
    rho = assertions.correlated(x[:n], y[:n], **FAST).evidence
    assert -1.0 <= rho.estimate <= 1.0
    assert all(np.isnan(b) or -1.0 - 1e-12 <= b <= 1.0 + 1e-12 for b in rho.confidence_interval)


@quick
@given(st.integers(0, 200), st.integers(1, 200), st.floats(0.01, 0.5))
def test_proportion_in_range(k, extra, threshold):
    n = k + extra
    j = assertions.proportion_below(k, n, threshold)
    lo, hi = j.evidence.confidence_interval
    assert 0.0 <= lo <= j.evidence.estimate <= hi <= 1.0 and 0.0 <= j.p_value <= 1.0
