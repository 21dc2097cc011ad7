"""V20 stand-in operators, the top-p nucleus geometry and the temperature fit, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmclaims.engine.lens import LogitTransform, geometry_features, lens_stats
from lmclaims.probes import operators as ops
from lmclaims.probes.calibration import fit_temperature, fit_temperature_logits, mean_entropy
from lmclaims.probes.lens import dense_features, nucleus


def _features(p: np.ndarray) -> dict:
    """Lens features of explicit distributions p [rows, V] (dense, independent of the streaming lens)."""
    V = p.shape[1]
    s = -np.sort(-p, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        H = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return {"topk_mass": s[:, :10].sum(axis=1)[:, None], "entropy_norm": (H / np.log(V))[:, None],
            "ratio21": (s[:, 1] / s[:, 0])[:, None], "text_index": np.zeros(len(p), dtype=int)}


def test_one_hot_gives_g1_d0_and_infinite_ratio():
    p = np.zeros((1, 1000))
    p[0, 7] = 1.0
    g, d = ops.get_operator("v20-standin").points(_features(p))
    assert g[0, 0] == pytest.approx(1.0) and d[0, 0] == 0.0
    assert ops.gd_ratio(g.mean(), d.mean()) == np.inf          # explicit, not a ZeroDivisionError/NaN
    assert np.isnan(ops.gd_ratio(0.0, 0.0))
    assert ops.get_operator("v20-standin").model_ratio(_features(p)) == np.inf


def test_uniform_gives_g0_d1():
    p = np.full((1, 1000), 1e-3)
    g, d = ops.get_operator("v20-standin").points(_features(p))
    assert g[0, 0] == pytest.approx(0.0, abs=1e-12) and d[0, 0] == pytest.approx(1.0)
    assert ops.gd_ratio(g.mean(), d.mean()) == pytest.approx(0.0, abs=1e-12)


def test_two_way_tie():
    V = 1000
    p = np.zeros((1, V))
    p[0, :2] = 0.5
    g, d = ops.get_operator("v20-standin").points(_features(p))
    assert g[0, 0] == pytest.approx(1 - np.log(2) / np.log(V)) and d[0, 0] == pytest.approx(1.0)
    ge, de = ops.get_operator("entropy-only").points(_features(p))
    assert ge[0, 0] + de[0, 0] == pytest.approx(1.0) and de[0, 0] == pytest.approx(np.log(2) / np.log(V))


def test_model_ratio_is_ratio_of_means_over_texts_not_mean_of_ratios():
    f = {"topk_mass": np.array([[1.0], [1.0]]), "entropy_norm": np.array([[0.0], [0.5]]),
         "ratio21": np.array([[0.1], [0.9]]), "text_index": np.array([0, 1])}
    op = ops.get_operator("v20-standin")
    g, d = op.per_text(f)
    np.testing.assert_allclose(g, [1.0, 0.5])
    assert op.model_ratio(f) == pytest.approx(0.75 / 0.5)
    assert op.model_ratio(f) != pytest.approx(np.mean(g / d))


def test_unknown_operator_names_close_matches():
    with pytest.raises(KeyError, match="v20-standin"):
        ops.get_operator("v20-standn")
    with pytest.raises(KeyError, match="registered"):
        ops.get_operator("nothing-like-it")


def test_register_and_describe():
    @ops.register_operator("test-op", version=3, requires=("p1",), label="test")
    def _op(f):
        return f["p1"], 1 - f["p1"]
    try:
        op = ops.get_operator("test-op")
        assert op.describe() == {"name": "test-op", "version": 3, "provenance": "ours", "label": "test"}
        with pytest.raises(KeyError, match="needs features"):
            op.points({"entropy": np.ones((1, 1))})
    finally:
        ops._REGISTRY.pop("test-op")


# --- top-p nucleus vs a dense sort ---------------------------------------------------------------------------
def _dense_nucleus(p: torch.Tensor, top_p: float):
    """(sorted float64 probabilities, nucleus size n) per row: the smallest n with cumsum >= top_p."""
    s = torch.sort(p.double(), dim=1, descending=True).values
    n = (s.cumsum(dim=1) < top_p).sum(dim=1) + 1
    return s, n


def _nucleus_of(s_row: torch.Tensor, n: int):
    """(mass, entropy, top-10 share) of the first ``n`` sorted probabilities of one row."""
    q = s_row[:n]
    M = q.sum()
    H = float(-(q / M * torch.log(q / M)).sum())
    return float(M), H, float(s_row[:10].sum() / M) if n >= 10 else 1.0


@pytest.mark.parametrize("scale", [0.05, 1.0, 4.0, 6.0, 12.0, 40.0])
def test_nucleus_matches_dense_sort(scale):
    g = torch.Generator().manual_seed(int(scale * 100))
    V, d = 20000, 32
    W = torch.randn(V, d, generator=g)
    x = torch.randn(12, d, generator=g) * scale / np.sqrt(d)
    f = dense_features(x, W, None, LogitTransform(), V, top_p=0.99)
    p = torch.softmax(x @ W.T, dim=1)
    s, n_ref = _dense_nucleus(p, 0.99)
    for i in range(p.shape[0]):
        count = int(f["nucleus_count"][i])
        # the size is exact up to one boundary element (float32 probabilities vs the float64 sort can
        # order a tie at the crossing differently); every other feature is compared exactly against
        # the float64 reference nucleus of the SAME size, so a wrong set or a wrong sum still fails
        assert abs(count - int(n_ref[i])) <= 1
        M, H, q = _nucleus_of(s[i], count)
        assert float(f["nucleus_mass"][i]) == pytest.approx(M, rel=1e-5)
        assert float(f["nucleus_mass"][i]) >= 0.99 - 1e-6
        assert float(f["nucleus_entropy"][i]) == pytest.approx(H, rel=1e-4, abs=1e-5)
        assert float(f["nucleus_topk_mass"][i]) == pytest.approx(q, rel=1e-4)
    # the standard features of the dense path equal the streaming lens
    st = geometry_features(lens_stats(x, W, None), V)
    for k, v in st.items():
        np.testing.assert_allclose(f[k].numpy(), v.numpy(), rtol=2e-4, atol=2e-5, err_msg=k)


@pytest.mark.parametrize("scale", [0.0, 0.02, 0.5, 3.0, 30.0])
def test_nucleus_of_rows_beyond_the_top_k_is_exact(scale):
    """Rows whose top-100 hold < top_p go through the histogram + crossing-bin sort; on the same
    float32 log-probs the result must equal a float64 sort of the whole row, token for token."""
    g = torch.Generator().manual_seed(5)
    z = torch.randn(6, 50000, generator=g) * scale
    z[0, :3] = 200.0                                                 # a spike plus a tail > 64 nats below it
    lp = torch.log_softmax(z, dim=1)
    for top_p in (0.5, 0.9, 0.99, 0.999):
        mass, count, plogp = nucleus(lp, top_p)
        s = torch.sort(lp.double(), dim=1, descending=True).values
        cs = torch.exp(s).cumsum(dim=1)
        n = (cs < top_p).sum(dim=1) + 1
        for i in range(lp.shape[0]):
            k = int(n[i])
            assert int(count[i]) == k, (scale, top_p, i)
            assert float(mass[i]) == pytest.approx(float(cs[i, k - 1]), rel=1e-9)
            assert float(plogp[i]) == pytest.approx(float((torch.exp(s[i, :k]) * s[i, :k]).sum()), rel=1e-9, abs=1e-12)


def test_nucleus_takes_the_whole_row_when_rounding_leaves_it_short_of_top_p():
    lp = torch.log_softmax(torch.zeros(2, 1000), dim=1)
    mass, count, plogp = nucleus(lp, 1 - 1e-12)                # Σ p in float64 of float32 lp < 1 - 1e-12
    assert count.tolist() == [1000.0, 1000.0] and float(mass[0]) == pytest.approx(1.0, abs=1e-6)


def test_nucleus_of_one_hot_and_uniform():
    lp = torch.log_softmax(torch.tensor([[50.0] + [0.0] * 999, [0.0] * 1000]), dim=1)
    m, n, e = nucleus(lp, 0.99)
    assert n[0] == 1
    assert n[1] in (990, 991)            # 990 exactly at 0.99, one more when float32 p falls a hair short
    H = -(e / m) + torch.log(m)
    assert float(H[0]) == pytest.approx(0.0, abs=1e-9) and float(H[1]) == pytest.approx(np.log(float(n[1])), rel=1e-6)


# --- temperature fit -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("true_t", [0.5, 1.0, 3.7])
def test_temperature_fit_recovers_known_t(true_t):
    g = torch.Generator().manual_seed(1)
    z0 = torch.randn(64, 3000, generator=g) * 4.0
    target = mean_entropy([z0], 1.0)
    fit = fit_temperature_logits([z0[:40] * true_t, z0[40:] * true_t], target)   # chunks, like the real path
    assert fit.temperature == pytest.approx(true_t, rel=1e-4)
    assert fit.entropy_at_t == pytest.approx(target, abs=1e-5)
    assert fit.entropy_at_1 != pytest.approx(target, abs=1e-3) or true_t == 1.0


def test_temperature_fit_from_states_and_softcap():
    g = torch.Generator().manual_seed(2)
    W = torch.randn(500, 16, generator=g)
    x = torch.randn(30, 16, generator=g)
    fit = fit_temperature(x.numpy(), W, target=2.0, softcap=5.0)
    z = 5.0 * torch.tanh((x @ W.T) / 5.0)
    assert mean_entropy([z / fit.temperature], 1.0) == pytest.approx(2.0, abs=1e-5)


def test_temperature_target_out_of_reach_raises():
    z = torch.randn(4, 10)
    with pytest.raises(ValueError, match="outside"):
        fit_temperature_logits([z], np.log(10) + 0.1)


# --- the multi-readout probe equals the streaming lens, readout by readout ------------------------------------
def test_lens_set_matches_streaming_lens_per_readout():
    from lmclaims.corpus import corpus_from_texts
    from lmclaims.engine.forward import measure
    from lmclaims.models.loading import load_model
    from lmclaims.probes.lens import LensGeometry, LensGeometrySet, split_set
    from tests.real_models import synthetic_entries

    lm = load_model(synthetic_entries()["synthetic-gemma2"], device="cpu")      # has a native cap (30)
    try:
        view = corpus_from_texts(["the quick brown fox jumps over the lazy dog", "def f(x): return 2 * x"]).view(
            max_tokens=32)
        probe = LensGeometrySet(positions_per_text=5, readouts=(("base", 1.0, None), ("t", 1.7, None), ("c", 1.0, 3.0)),
                                top_p=0.99, top_p_tags=("base",))
        got = split_set(measure(lm, view, [probe], progress=False)["lens_geometry_set"])
        for tag, ref_probe in (("base", LensGeometry(positions_per_text=5)),
                               ("t", LensGeometry(positions_per_text=5, temperature=1.7)),
                               ("c", LensGeometry(positions_per_text=5, softcap=3.0))):
            ref = measure(lm, view, [ref_probe], progress=False)["lens_geometry"]
            for k, v in ref.items():
                np.testing.assert_allclose(got[tag][k], v, rtol=1e-4, atol=1e-5, err_msg=f"{tag}/{k}")
        assert "nucleus_entropy" in got["base"] and "nucleus_entropy" not in got["t"]
        assert not np.allclose(got["c"]["entropy"], got["base"]["entropy"])      # the extra cap 3 < 30 bites
    finally:
        lm.free()


def test_temperature_fit_needs_few_entropy_evaluations():
    """Newton on log T with the exact slope Σ p·lp² − H² converges in a handful of passes over the
    logits (Brent's method needed ≈ 17); each pass over Gemma's 320 × 262144 held-out logits costs
    seconds, so a regression to a derivative-free solver must show here."""
    g = torch.Generator().manual_seed(3)
    z0 = torch.randn(48, 5000, generator=g) * 5.0
    target = mean_entropy([z0], 1.0)
    for true_t in (0.05, 0.9, 1.1, 20.0):
        fit = fit_temperature_logits([z0 * true_t], target)
        assert fit.temperature == pytest.approx(true_t, rel=1e-6)
        assert fit.evaluations <= 10, (true_t, fit.evaluations)
    near = fit_temperature_logits([z0 * 0.95], target)           # the offline models' case: T ≈ 0.95–1
    assert near.evaluations <= 5                                    # T=1, the bracket end, 3 Newton steps


def test_temperature_target_below_reach_raises():
    z = torch.linspace(0.0, 0.01, 10).repeat(4, 1)        # so flat that even T = 0.02 leaves H ≈ 2.2 nats
    assert mean_entropy([z], 0.02) > 2.0
    with pytest.raises(ValueError, match="outside"):
        fit_temperature_logits([z], 1.0)


# --- readouts share one top-K: equal to an independent dense computation on tf(z) -----------------------
@pytest.mark.parametrize("tf", [LogitTransform(), LogitTransform(temperature=0.37), LogitTransform(temperature=2.5),
                                LogitTransform(softcap=3.0), LogitTransform(temperature=1.3, softcap=0.5)])
def test_readout_with_shared_topk_equals_dense_reference(tf):
    from lmclaims.probes.lens import readout_features, top_logits
    g = torch.Generator().manual_seed(4)
    z = torch.randn(10, 3000, generator=g) * torch.linspace(0.1, 12.0, 10)[:, None]
    z_before = z.clone()
    got = readout_features(z, top_logits(z), tf, 3000, top_p=0.99)
    assert torch.equal(z, z_before)                                  # the raw logits are shared: never modified
    y = tf.apply(z.double())
    p = torch.softmax(y, dim=1)
    s = torch.sort(p, dim=1, descending=True).values
    ref = {"entropy": -(p * torch.log_softmax(y, dim=1)).sum(1), "p1": s[:, 0], "p2": s[:, 1],
           "topk_mass": s[:, :10].sum(1), "count_above": (p > 0.01).sum(1).double()}
    for k, v in ref.items():
        np.testing.assert_allclose(got[k].numpy(), v.numpy(), rtol=2e-5, atol=2e-6, err_msg=k)
    s_sorted, n_ref = _dense_nucleus(p, 0.99)
    for i in range(p.shape[0]):
        n = int(n_ref[i])
        _, H, _ = _nucleus_of(s_sorted[i], n)
        assert abs(float(got["nucleus_count"][i]) - n) <= max(1.0, 2e-3 * n)
        assert float(got["nucleus_entropy"][i]) == pytest.approx(H, rel=2e-3, abs=1e-4)


def test_lens_set_gemm_chunks_and_tiles_do_not_change_results():
    """Rows go through the unembedding GEMM in chunks of up to MATMUL_ROWS and through the readouts in
    cache-sized tiles; uneven chunk and tile sizes must give the same arrays as one tile per GEMM."""
    from lmclaims.corpus import corpus_from_texts
    from lmclaims.engine.forward import measure
    from lmclaims.models.loading import load_model
    from lmclaims.probes.lens import LensGeometrySet
    from tests.real_models import synthetic_entries

    lm = load_model(synthetic_entries()["synthetic-llama"], device="cpu")
    try:
        V = lm.adapter.vocab_size
        view = corpus_from_texts(["the quick brown fox jumps over the lazy dog", "def f(x): return 2 * x"]).view(
            max_tokens=32)
        kw = dict(positions_per_text=7, readouts=(("base", 1.0, None), ("c", 1.0, 2.0)), top_p=0.99,
                  top_p_tags=("base",))
        one = measure(lm, view, [LensGeometrySet(**kw, dense_elements=V * 4096, matmul_elements=V * 4096)],
                      progress=False)["lens_geometry_set"]
        many = measure(lm, view, [LensGeometrySet(**kw, dense_elements=V * 3, matmul_elements=V * 7)],
                       progress=False)["lens_geometry_set"]
        assert one.keys() == many.keys()
        for k in one:
            np.testing.assert_allclose(many[k], one[k], rtol=1e-5, atol=1e-6, err_msg=k)
    finally:
        lm.free()
