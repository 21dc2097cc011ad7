"""The streaming lens (``lmclaims.engine.lens``) against a dense float64 computation.

The reference builds the full [rows, V] logits ``cap(x Wᵀ + b)/T`` in float64, takes
``log_softmax`` over the whole vocabulary and reads every statistic from it. The streaming code
never holds more than one [rows, block] tile, keeps an online max / Σe / Σ(z−m)e and a threshold-
filtered top-K; the cases below are chosen to break it if any piece is wrong: block sizes that do
not divide V, blocks smaller than K, K > block, a running max that rises block after block (every
rescaling step matters), softcap + temperature + bias, exact ties (integer logits), rows whose
distribution is uniform, and both top-K back ends (numpy on CPU, torch elsewhere).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lmclaims.engine import lens as lens_mod
from lmclaims.engine.lens import LensStats, LogitTransform, geometry_features, lens_stats


@pytest.fixture(params=["numpy", "torch"])
def topk_backend(request, monkeypatch):
    """Run each test with the numpy top-K filter (CPU default) and with the torch one (GPU path)."""
    monkeypatch.setattr(lens_mod, "_NUMPY_TOPK", request.param == "numpy")
    return request.param


def dense_reference(x, W, b, tf: LogitTransform, targets=None, k=100):
    z = x.double() @ W.double().T
    if b is not None:
        z = z + b.double()
    if tf.softcap is not None:
        z = tf.softcap * torch.tanh(z / tf.softcap)
    z = z / tf.temperature
    lp = torch.log_softmax(z, dim=1)
    p = lp.exp()
    out = {
        "z": z,
        "log_z": torch.logsumexp(z, dim=1),
        "entropy": -(p * lp).sum(dim=1),
        "top": torch.sort(z, dim=1, descending=True).values[:, :min(k, z.shape[1])],
        "p": p,
    }
    if targets is not None:
        out["target_logprob"] = lp.gather(1, targets[:, None])[:, 0]
    return out


def dense_features(p: torch.Tensor, topk_mass_k=10, threshold=0.01) -> dict:
    s = torch.sort(p, dim=1, descending=True).values
    H = -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum(dim=1)
    return {"entropy": H, "entropy_norm": H / math.log(p.shape[1]), "p1": s[:, 0], "p2": s[:, 1],
            "margin": s[:, 0] - s[:, 1], "ratio21": s[:, 1] / s[:, 0], "topk_mass": s[:, :topk_mass_k].sum(dim=1),
            "count_above": (p > threshold).sum(dim=1).double()}


def check_stats(st: LensStats, ref: dict, *, rtol=1e-5, atol=2e-5):
    np.testing.assert_allclose(st.log_z.double(), ref["log_z"], rtol=rtol, atol=atol, err_msg="log_z")
    np.testing.assert_allclose(st.entropy.double(), ref["entropy"], rtol=rtol, atol=atol, err_msg="entropy")
    assert st.top_logits.shape == ref["top"].shape
    np.testing.assert_allclose(st.top_logits.double(), ref["top"], rtol=rtol, atol=atol, err_msg="top_logits")
    assert torch.all(st.top_logits[:, :-1] >= st.top_logits[:, 1:]), "top logits must be sorted descending"
    if "target_logprob" in ref:
        np.testing.assert_allclose(st.target_logprob.double(), ref["target_logprob"], rtol=rtol, atol=atol,
                                   err_msg="target_logprob")


def _problem(seed, R, d, V, scale=1.0, bias=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(R, d, generator=g) * scale
    W = torch.randn(V, d, generator=g) / math.sqrt(d)
    b = torch.randn(V, generator=g) if bias else None
    t = torch.randint(0, V, (R,), generator=g)
    return x, W, b, t


TRANSFORMS = [LogitTransform(), LogitTransform(temperature=0.7), LogitTransform(softcap=5.0),
              LogitTransform(temperature=2.5, softcap=3.0)]


@pytest.mark.parametrize("block", [1000, 333, 64, 37, 4096])
@pytest.mark.parametrize("tf", TRANSFORMS, ids=lambda t: f"T{t.temperature}-cap{t.softcap}")
def test_matches_dense(topk_backend, block, tf):
    x, W, b, t = _problem(1, R=9, d=24, V=1000, scale=4.0)
    st = lens_stats(x, W, b, transform=tf, targets=t, block=block)
    check_stats(st, dense_reference(x, W, b, tf, targets=t))


@pytest.mark.parametrize("topk,block", [(150, 64), (100, 37), (250, 1000), (1, 333), (7, 5)])
def test_topk_larger_than_block_and_small_k(topk_backend, topk, block):
    x, W, b, t = _problem(2, R=5, d=16, V=777, scale=3.0, bias=False)
    st = lens_stats(x, W, None, targets=t, topk=topk, block=block)
    check_stats(st, dense_reference(x, W, None, LogitTransform(), targets=t, k=topk))


def test_vocab_smaller_than_k_and_block_one(topk_backend):
    x, W, b, t = _problem(3, R=3, d=8, V=60, scale=2.0)
    st = lens_stats(x, W, b, targets=t, topk=100, block=1)
    ref = dense_reference(x, W, b, LogitTransform(), targets=t, k=100)
    assert st.top_logits.shape == (3, 60)
    check_stats(st, ref)


@pytest.mark.parametrize("block", [50, 128, 999])
def test_rising_max_exercises_every_rescale(topk_backend, block):
    """Logits increase along the vocabulary, so the running max moves up in every block and a wrong
    rescaling of Σe or Σ(z−m)e would show; the decreasing order leaves the max in block 0."""
    R, d, V = 6, 4, 2000
    x = torch.zeros(R, d)
    x[:, 0] = torch.linspace(0.5, 12.0, R)                    # row r: logits from 0 to 12·r-ish
    W = torch.zeros(V, d)
    W[:, 0] = torch.linspace(-1.0, 1.0, V)
    W[:, 1] = torch.sin(torch.arange(V, dtype=torch.float32))   # non-monotone noise in the second feature
    x[:, 1] = 0.3
    for Wv in (W, W.flip(0)):
        st = lens_stats(x, Wv, None, targets=torch.arange(R) * 7, block=block)
        check_stats(st, dense_reference(x, Wv, None, LogitTransform(), targets=torch.arange(R) * 7))


def test_exact_ties_integer_logits(topk_backend):
    """Integer x, W, b: logits are exact small integers whatever the summation order, with hundreds of
    exact ties around the K-th value; top-K values and count_above must match exactly."""
    g = torch.Generator().manual_seed(5)
    R, d, V = 8, 6, 3001
    x = torch.randint(-1, 2, (R, d), generator=g).float()
    W = torch.randint(-1, 2, (V, d), generator=g).float()
    b = torch.randint(-2, 1, (V,), generator=g).float()
    for block in (100, 512, 3001):
        st = lens_stats(x, W, b, block=block)
        ref = dense_reference(x, W, b, LogitTransform())
        assert torch.equal(st.top_logits.double(), ref["top"]), block
        check_stats(st, ref)
        f = geometry_features(st, V)
        assert torch.equal(f["count_above"].double(), dense_features(ref["p"])["count_above"])


def test_uniform_rows_and_duplicate_columns(topk_backend):
    """x = 0: every logit equals the bias; bias 0 gives the uniform distribution (H = ln V, all K
    top values equal, p1 = p2 = 1/V, count_above 0)."""
    V, d = 5000, 10
    W = torch.randn(V, d)
    x = torch.zeros(2, d)
    b = torch.zeros(V)
    b[1234] = b[4321] = 3.0                                   # row 1 below: two exactly tied winners
    st0 = lens_stats(x[:1], W, torch.zeros(V), block=999)
    assert float(st0.entropy[0]) == pytest.approx(math.log(V), rel=1e-6)
    assert torch.all(st0.top_logits == 0)
    f0 = geometry_features(st0, V)
    assert float(f0["entropy_norm"][0]) == pytest.approx(1.0, rel=1e-6)
    assert float(f0["count_above"][0]) == 0
    st1 = lens_stats(x[1:], W, b, block=999)
    assert st1.top_logits[0, 0] == st1.top_logits[0, 1] == 3.0 and st1.top_logits[0, 2] == 0.0
    f1 = geometry_features(st1, V)
    assert float(f1["margin"][0]) == 0.0 and float(f1["ratio21"][0]) == 1.0


@pytest.mark.parametrize("tf", TRANSFORMS, ids=lambda t: f"T{t.temperature}-cap{t.softcap}")
def test_geometry_features_match_dense(topk_backend, tf):
    x, W, b, _ = _problem(7, R=40, d=32, V=4099, scale=6.0)
    st = lens_stats(x, W, b, transform=tf, block=500)
    ref = dense_reference(x, W, b, tf)
    got = geometry_features(st, 4099)
    want = dense_features(ref["p"])
    for k in ("entropy", "entropy_norm", "p1", "p2", "margin", "ratio21", "topk_mass"):
        np.testing.assert_allclose(got[k].double(), want[k], rtol=2e-5, atol=2e-6, err_msg=k)
    en = got["entropy_norm"]
    assert torch.all((en >= 0) & (en <= 1))
    # count_above is exact unless some p sits within float32 rounding of the threshold
    p = ref["p"]
    clear = ((p - 0.01).abs() > 1e-6).all(dim=1)
    assert clear.sum() > 30
    assert torch.equal(got["count_above"][clear].double(), want["count_above"][clear])
    if tf.softcap is None:
        assert want["count_above"].max() > 3        # the case really has several tokens above 1%


def test_count_above_designed_distribution(topk_backend):
    """Bias-only logits from a designed distribution: 99 tokens at 0.9/99 ≈ 0.0091 (below 1%) and one at
    0.02 … i.e. exact counts known in advance, including the K=100 boundary (99 tokens above 1% needs all
    K slots)."""
    V = 20000
    for n_above in (0, 1, 17, 99):
        p = np.full(V, 0.0)
        p[:n_above] = 0.0101 if n_above == 99 else 0.03
        rest = 1.0 - p.sum()
        p[n_above:] = rest / (V - n_above)                    # all well below 1%
        perm = np.random.default_rng(n_above).permutation(V)
        b = torch.tensor(np.log(p[perm]), dtype=torch.float32)
        st = lens_stats(torch.zeros(1, 4), torch.randn(V, 4), b, block=3000)
        f = geometry_features(st, V)
        assert float(f["count_above"][0]) == n_above
        assert float(st.log_z[0]) == pytest.approx(0.0, abs=1e-5)


def test_entropy_norm_bounds_extremes(topk_backend):
    """A near one-hot row (entropy → 0, clamped at ≥ 0) and a flat row (→ 1)."""
    V, d = 3000, 4
    W = torch.zeros(V, d)
    W[17, 0] = 1.0
    x = torch.tensor([[200.0, 0, 0, 0], [1e-4, 0, 0, 0]])
    st = lens_stats(x, W, None, block=256)
    f = geometry_features(st, V)
    en = f["entropy_norm"]
    assert torch.all((en >= 0) & (en <= 1))
    assert float(en[0]) < 1e-6 and float(en[1]) == pytest.approx(1.0, abs=1e-6)
    assert float(f["p1"][0]) == pytest.approx(1.0, abs=1e-6)


def test_block_size_does_not_change_results():
    x, W, b, t = _problem(11, R=16, d=32, V=6007, scale=5.0)
    tf = LogitTransform(softcap=10.0)
    base = lens_stats(x, W, b, transform=tf, targets=t, block=6007)
    for block in (97, 1024, 4096, None):
        st = lens_stats(x, W, b, transform=tf, targets=t, block=block)
        for name in ("log_z", "entropy", "top_logits", "target_logprob"):
            np.testing.assert_allclose(getattr(st, name), getattr(base, name), rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name} block={block}")


def test_bf16_weight_and_validation():
    x, W, b, t = _problem(13, R=4, d=16, V=900)
    Wb = W.to(torch.bfloat16)
    st = lens_stats(x, Wb, b, targets=t, block=128)
    check_stats(st, dense_reference(x, Wb.float(), b, LogitTransform(), targets=t))
    with pytest.raises(ValueError):
        lens_stats(x[0], W)
    with pytest.raises(ValueError):
        LogitTransform(temperature=0.0)
    with pytest.raises(ValueError):
        geometry_features(lens_stats(x, W, topk=50), 900)     # 1% threshold needs K ≥ 100


# --- the multi-readout kernel (LensGeometrySet): several transforms from one GEMM -------------------------
@pytest.mark.parametrize("block", [1000, 333, 37, 4096])
def test_multi_readout_matches_dense_per_transform(topk_backend, block):
    """Every readout of ``multi_readout`` (shared top-K, base-2 shifted log-weights, cap via sigmoid)
    against the float64 dense reference of its own transform: entropy, top-K log-probs, raw top-K."""
    from lmclaims.engine.readouts import Workspace, multi_readout
    x, W, b, _ = _problem(21, R=9, d=24, V=6007, scale=4.0)
    x[0] *= 20.0                                            # one near one-hot row, one flat row
    x[1] *= 0.01
    ws = Workspace()
    reads, top_raw, ws = multi_readout(x, W, b, TRANSFORMS, block=block, workspace=ws)
    raw = dense_reference(x, W, b, LogitTransform())
    np.testing.assert_allclose(top_raw.double(), raw["top"], rtol=1e-5, atol=2e-5)
    for tf, rd in zip(TRANSFORMS, reads):
        ref = dense_reference(x, W, b, tf)
        np.testing.assert_allclose(rd.entropy.double(), ref["entropy"], rtol=1e-5, atol=2e-5, err_msg=str(tf))
        np.testing.assert_allclose(rd.top_logprobs().double(), ref["top"] - ref["log_z"][:, None], rtol=1e-5,
                                   atol=2e-5, err_msg=str(tf))
        f, fr = geometry_features(rd.stats(), 6007), dense_features(ref["p"])
        for k in fr:
            np.testing.assert_allclose(f[k].double(), fr[k], rtol=1e-5, atol=2e-5, err_msg=f"{tf} {k}")
    # the workspace keeps the raw logits of every row (the nucleus reads them)
    np.testing.assert_allclose(ws.rows(torch.tensor([2, 0])).double(), raw["z"][[2, 0]], rtol=1e-5, atol=1e-4)


def test_multi_readout_workspace_reuse_and_dense_entry_point():
    """A reused workspace (bigger, then smaller R; another V) gives the same numbers as a fresh one, and
    ``readouts_of_logits`` on the materialised logits equals the GEMM-fused kernel."""
    from lmclaims.engine.readouts import Workspace, multi_readout, readouts_of_logits
    tfs = [LogitTransform(), LogitTransform(temperature=0.9, softcap=7.0)]
    ws = Workspace()
    for seed, R, V in ((1, 16, 3001), (2, 5, 3001), (3, 7, 517)):
        x, W, b, _ = _problem(seed, R=R, d=16, V=V, scale=3.0)
        got, top, _ = multi_readout(x, W, b, tfs, block=256, workspace=ws)
        fresh, top2, _ = multi_readout(x, W, b, tfs, block=256)
        z = x @ W.T + b
        dense = readouts_of_logits(z, top, tfs, tile_elements=3 * V)
        assert torch.equal(top, top2)
        for a, c, d in zip(got, fresh, dense):
            assert torch.equal(a.entropy, c.entropy) and torch.equal(a.log_s, c.log_s)
            np.testing.assert_allclose(d.entropy, a.entropy, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(d.top_logprobs(), a.top_logprobs(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        multi_readout(x[0], W, b, tfs)
