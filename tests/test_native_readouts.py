"""The compiled readout kernel (lmclaims/engine/native_readouts.py, readout_kernel.c) against the torch path
and against plain torch arithmetic: same readouts to float32 rounding, the exact top-K multiset, NaN
propagation, bit-identical results at any thread count, the fallback when it cannot be built, and the
cache key naming the path."""

import logging
import tempfile

import numpy as np
import pytest
import torch

from lmclaims.engine import native_readouts as N
from lmclaims.engine.lens import LogitTransform
from lmclaims.engine.readouts import Workspace, multi_readout
from lmclaims.probes.lens import LensGeometry, LensGeometrySet

TFS = [LogitTransform(1.0, None), LogitTransform(1.7, None), LogitTransform(1.0, 10.0), LogitTransform(0.8, 30.0)]


def _torch_path(monkeypatch, fn):
    monkeypatch.setenv("LMCLAIMS_NATIVE", "0")
    N.reset()
    try:
        assert N.kernel_id() == "torch"
        return fn()
    finally:
        monkeypatch.delenv("LMCLAIMS_NATIVE")
        N.reset()


def _data(R=64, d=48, V=3001, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(R, d, generator=g)
    W = torch.randn(V, d, generator=g) * 0.4
    b = torch.randn(V, generator=g) * 0.1
    return x, W, b


def _reference(z, tf):
    """Entropy (nats) and log-sum-exp shift-free quantities straight from torch in float64."""
    y = z.double()
    if tf.softcap is not None:
        y = tf.softcap * torch.tanh(y / tf.softcap)
    y = y / tf.temperature
    lp = torch.log_softmax(y, dim=1)
    return -(lp.exp() * lp).sum(1), torch.logsumexp(y - y.max(1, keepdim=True).values, dim=1)


@pytest.mark.parametrize("block", [None, 1000, 256, 4096])
def test_native_equals_torch_path_and_float64_reference(native, monkeypatch, block):
    x, W, b = _data()
    got, top, ws = multi_readout(x, W, b, TFS, block=block, workspace=Workspace())
    want, top_t, _ = _torch_path(monkeypatch, lambda: multi_readout(x, W, b, TFS, block=block))
    z = x @ W.T + b
    assert torch.equal(top, torch.topk(ws.rows(torch.arange(x.shape[0])), 100, dim=1).values)
    torch.testing.assert_close(top, top_t, rtol=0, atol=2e-5)       # the two GEMM layouts round alike to 1 ulp
    for tf, g_, w_ in zip(TFS, got, want):
        torch.testing.assert_close(g_.entropy, w_.entropy, rtol=0, atol=5e-6)
        torch.testing.assert_close(g_.log_s, w_.log_s, rtol=0, atol=5e-6)
        torch.testing.assert_close(g_.top_y, w_.top_y, rtol=0, atol=5e-6)
        ent, lse = _reference(z, tf)
        np.testing.assert_allclose(g_.entropy.double(), ent, rtol=0, atol=1e-5)
        np.testing.assert_allclose(g_.log_s.double(), lse, rtol=0, atol=1e-5)


def test_topk_exact_multiset_ties_infinities_and_short_rows(native):
    R, V, k = 5, 4001, 40                                 # 126 groups of 32 > k: the group filter is used
    z = torch.randn(R, V)
    z[0, :2000] = 1.5                                     # ties at the K-th value (and at the threshold)
    z[1, ::7] = float("-inf")
    z[2, :] = float("-inf")
    z[2, :10] = torch.arange(10.0)                        # fewer than k finite values: -inf pads
    z[3, 5] = float("nan")                                # NaN never enters the top-K
    z[4, :] = 0.25                                        # a constant row
    for blocks in ([(0, V)], [(0, 1000), (1000, 33), (1033, V - 1033)]):
        dense = torch.cat([z[:, s:s + n].reshape(-1) for s, n in blocks])
        got = N.topk(dense, R, blocks, k)
        for r in range(R):
            row = z[r][~torch.isnan(z[r])]
            want = torch.sort(row, descending=True).values[:k]
            assert torch.equal(got[r], want), (r, blocks)


def test_nan_logit_propagates_to_the_readouts(native):
    x, W, b = _data(R=8)
    W = W.clone()
    W[17, 0] = float("nan")                                  # every row's logit 17 is NaN
    reads, _, _ = multi_readout(x, W, None, TFS[:2])
    assert all(torch.isnan(r.entropy).all() and torch.isnan(r.log_s).all() for r in reads)


def test_bit_identical_at_any_thread_count(native):
    x, W, b = _data(R=33, V=5000, seed=3)
    before = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            reads, top, _ = multi_readout(x, W, b, TFS)
            outs.append((top, [(r.entropy, r.log_s) for r in reads]))
    finally:
        torch.set_num_threads(before)
    for top, rs in outs[1:]:
        assert torch.equal(top, outs[0][0])
        assert all(torch.equal(a, c) and torch.equal(b_, d) for (a, b_), (c, d) in zip(rs, outs[0][1]))


def test_input_checks(native):
    with pytest.raises(ValueError, match="inside the buffer"):
        N.topk(torch.zeros(10), 2, [(0, 6)], 1)
    with pytest.raises(ValueError, match="k must lie"):
        N.topk(torch.zeros(10), 2, [(0, 5)], 6)
    with pytest.raises(ValueError, match="float32"):
        N.sums(torch.zeros(10, dtype=torch.float64), 2, [(0, 5)], [1.0], [0.0], torch.zeros(1, 2))
    with pytest.raises(ValueError, match="at most"):
        N.sums(torch.zeros(10), 2, [(0, 5)], [1.0] * 17, [0.0] * 17, torch.zeros(17, 2))


@pytest.mark.parametrize("cc, why", [("/nonexistent/cc", "no C compiler"), ("false", "build or load failed")])
def test_falls_back_to_torch_without_a_working_compiler(monkeypatch, tmp_path, caplog, cc, why):
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", cc)
    monkeypatch.delenv("LMCLAIMS_NATIVE", raising=False)
    N.reset()
    try:
        with caplog.at_level(logging.WARNING, logger="lmclaims.engine.native_readouts"):
            assert not N.available() and N.kernel_id() == "torch"
        assert why in N.why_unavailable() and "torch path" in caplog.text
        x, W, b = _data(R=4, V=500)
        reads, top, _ = multi_readout(x, W, b, TFS[:1])               # still works, on the torch path
        ent, _ = _reference(x @ W.T + b, TFS[0])
        np.testing.assert_allclose(reads[0].entropy.double(), ent, atol=1e-5)
    finally:
        N.reset()


def test_cache_key_names_the_readout_path(native, monkeypatch):
    native_params = (LensGeometrySet().params(), LensGeometry().params())
    torch_params = _torch_path(monkeypatch, lambda: (LensGeometrySet().params(), LensGeometry().params()))
    for n, t in zip(native_params, torch_params):
        assert n["readout_kernel"] == N.VERSION and t["readout_kernel"] == "torch" and n != t


def test_read_only_cache_builds_in_a_private_temporary_directory(monkeypatch):
    monkeypatch.setenv("LMCLAIMS_CACHE", "/proc/lmclaims-not-creatable")   # not creatable, even by root
    monkeypatch.delenv("LMCLAIMS_NATIVE", raising=False)
    N.reset()
    try:
        if N._compiler() is None:
            pytest.skip("no C compiler here")
        assert N.available(), N.why_unavailable()
        assert str(N._build(N._compiler())).startswith(tempfile.gettempdir())
    finally:
        N.reset()
