"""Weight-regularity numbers (lmclaims/probes/weight_regularity.py) against constructed stacks.

- i.i.d. layers: delta correlation ≈ −1/2 (the null of definitions.md §3), average-predictor
  R² ≈ −1/2, least-squares R² ≈ 0;
- a stack linear in depth: neighbour R² = 1, delta correlation = +1, depth-poly R² = 1;
- Gram-based numbers equal direct element-wise computations (so a wrong formula fails here).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmclaims.probes.weight_regularity import (delta_correlation, depth_poly_r2, linear_depth_stack,
                                               neighbour_r2, permutation_null, summarise)


def _iid(L=30, shape=(64, 48), seed=0, mean=0.0):
    g = torch.Generator().manual_seed(seed)
    return mean + torch.randn((L, *shape), generator=g, dtype=torch.float64)


def test_delta_correlation_of_iid_layers_is_minus_half():
    s = summarise(_iid())
    d = delta_correlation(s)
    assert d.shape == (28,)
    assert abs(d.mean() - (-0.5)) < 0.01          # 28 layers × 3072 elements: SE ≈ 0.003
    # a common mean shared by every layer cancels in the deltas: still −1/2
    assert abs(delta_correlation(summarise(_iid(mean=3.0))).mean() + 0.5) < 0.01


def test_delta_correlation_matches_direct_computation():
    W = _iid(L=6, shape=(10, 7), seed=1) + torch.linspace(0, 2, 6)[:, None, None]
    s = summarise(W)
    d = delta_correlation(s)
    for i in range(1, 5):
        d1 = (W[i + 1] - W[i]).reshape(-1).numpy()
        d2 = (W[i] - W[i - 1]).reshape(-1).numpy()
        assert d[i - 1] == pytest.approx(np.corrcoef(d1, d2)[0, 1], abs=1e-10)
    order = np.array([3, 0, 5, 1, 4, 2])
    dp = delta_correlation(s, order=order)
    Wp = W[torch.as_tensor(order)]
    d1 = (Wp[2] - Wp[1]).reshape(-1).numpy()
    d2 = (Wp[1] - Wp[0]).reshape(-1).numpy()
    assert dp[0] == pytest.approx(np.corrcoef(d1, d2)[0, 1], abs=1e-10)


def test_neighbour_r2_matches_direct_computation():
    W = _iid(L=5, shape=(9, 11), seed=2) + 0.3 * torch.arange(5.0)[:, None, None]
    s = summarise(W)
    for mode in ("average", "lstsq"):
        r2 = neighbour_r2(s, mode=mode)
        for i in range(1, 4):
            t, a, b = (W[j].reshape(-1).numpy() for j in (i, i - 1, i + 1))
            if mode == "average":
                pred = (a + b) / 2
            else:
                c, *_ = np.linalg.lstsq(np.stack([a, b], 1), t, rcond=None)
                pred = np.stack([a, b], 1) @ c
            want = 1 - ((t - pred) ** 2).sum() / ((t - t.mean()) ** 2).sum()
            assert r2[i - 1] == pytest.approx(want, abs=1e-9), mode


def test_r2_of_linear_in_depth_stack_is_one():
    s = summarise(linear_depth_stack(30))
    np.testing.assert_allclose(neighbour_r2(s, mode="average"), 1.0, atol=1e-9)
    np.testing.assert_allclose(neighbour_r2(s, mode="lstsq"), 1.0, atol=1e-9)
    np.testing.assert_allclose(delta_correlation(s), 1.0, atol=1e-9)
    np.testing.assert_allclose(delta_correlation(summarise(linear_depth_stack(30, noise=1e-3))), 1.0, atol=0.01)
    assert depth_poly_r2(np.arange(30) * 2.0 + 1.0, degree=1) == pytest.approx(1.0)
    # the shuffled-order null of that stack stays below 1 — but high (≈ 0.9), because the component
    # A shared by all layers is "predicted" by any neighbour: why R² must be judged against this null
    null = permutation_null(lambda o: neighbour_r2(s, mode="average", order=o).mean(), 30, n_perm=50, seed=0)
    assert 0.5 < null.mean() and null.max() < 0.99


def test_r2_of_iid_layers_is_the_null_value():
    s = summarise(_iid(seed=4))
    assert abs(neighbour_r2(s, mode="average").mean() + 0.5) < 0.02
    assert abs(neighbour_r2(s, mode="lstsq").mean()) < 0.01


def test_depth_poly_r2_null_of_noise_is_small():
    rng = np.random.default_rng(0)
    vals = [depth_poly_r2(rng.normal(size=30), degree=2) for _ in range(200)]
    assert np.mean(vals) < 0.15        # E[R²] = 2/29 ≈ 0.07 for pure noise


def test_batched_orders_equal_one_order_at_a_time():
    """The shuffled-order nulls are vectorised: a batch of orders [B, L] gives the same numbers as
    B single orders, for every order statistic; a non-permutation row is rejected."""
    W = linear_depth_stack(12, noise=0.5, seed=1)
    s = summarise(W)
    rng = np.random.default_rng(0)
    orders = np.stack([rng.permutation(12) for _ in range(6)])
    for fn in (lambda o: neighbour_r2(s, mode="lstsq", order=o), lambda o: neighbour_r2(s, order=o),
               lambda o: delta_correlation(s, order=o), lambda o: depth_poly_r2(s.frobenius(), order=o)):
        np.testing.assert_allclose(fn(orders), np.array([fn(o) for o in orders]), rtol=1e-12, atol=1e-12)
    bad = orders.copy()
    bad[2, 0] = bad[2, 1]
    with pytest.raises(ValueError):
        neighbour_r2(s, order=bad)
    # the identity order of a linear stack fits perfectly; shuffled orders do not
    assert depth_poly_r2(summarise(linear_depth_stack(12)).frobenius(), degree=2) > 0.999
