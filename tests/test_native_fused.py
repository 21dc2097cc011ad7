"""The readout's one region (fused_kernel.c ``lmclaims_readout``, ``native_readouts.readout``,
``multi_readout(top_p=...)``) against the three separate calls it replaces (top-K, pass 2, nucleus):
bit-identical top-K, offsets b (``_Shift``'s formulas), S, U and nucleus; every row whose top-K falls
short of top_p has its nucleus from the region; the lens features equal the separate path's; the same
at any thread count; the workers' release and the thread count beside other load; input checks."""

import os

import numpy as np
import pytest
import torch

from lmclaims.engine import native_readouts as N
from lmclaims.engine.lens import LogitTransform
from lmclaims.engine.readouts import Workspace, _readouts, _Shift, multi_readout
from lmclaims.probes.lens import _features

TFS = [LogitTransform(1.0, None), LogitTransform(0.7, None), LogitTransform(1.0, 10.0), LogitTransform(1.3, 30.0)]
TOP_P = [0.99, None, 0.9, 0.5]


def _case(R=64, d=32, V=6007, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(R, d, generator=g) * torch.linspace(0.05, 3.0, R)[:, None]    # flat to peaked rows
    return x, torch.randn(V, d, generator=g), torch.randn(V, generator=g)


def _separate(x, W, bias, tfs, tps, K=100):
    """The path before the fused region: GEMM, then top-K, pass 2 and nucleus as separate calls."""
    R, V = x.shape[0], W.shape[0]
    ws = Workspace()
    ws.prepare(R, V, V, "cpu", tiles=False)
    torch.addmm(bias, x, W.T, out=ws.block(0))
    top = N.topk(ws.dense, R, ws.blocks, K)
    reads = _readouts(None, 1, None, top, tfs, dense=ws.dense, blocks=ws.blocks)
    return reads, top, ws, [_features(rd, tf, top, ws, V, tp, 10, 0.01) for rd, tf, tp in zip(reads, tfs, tps)]


def test_one_region_equals_the_separate_calls(native):
    x, W, bias = _case()
    V = W.shape[0]
    reads, top, ws = multi_readout(x, W, bias, TFS, workspace=Workspace(), top_p=TOP_P)
    feats = [_features(rd, tf, top, ws, V, tp, 10, 0.01) for rd, tf, tp in zip(reads, TFS, TOP_P)]
    reads0, top0, _, feats0 = _separate(x, W, bias, TFS, TOP_P)
    assert torch.equal(top, top0)
    for rd, rd0, f, f0 in zip(reads, reads0, feats, feats0):
        assert torch.equal(rd.shift.b, rd0.shift.b)                     # b from C = _Shift's formula
        assert torch.equal(rd.log_s, rd0.log_s) and torch.equal(rd.entropy, rd0.entropy)
        assert torch.equal(rd.top_y, rd0.top_y)
        assert f.keys() == f0.keys()
        for k in f:
            assert torch.equal(torch.as_tensor(f[k]), torch.as_tensor(f0[k])), k


def test_every_short_row_has_its_nucleus_from_the_region(native, monkeypatch):
    x, W, bias = _case(seed=1)
    reads, top, ws = multi_readout(x, W, bias, TFS, workspace=Workspace(), top_p=TOP_P)
    calls = []
    monkeypatch.setattr(N, "nucleus", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    for rd, tf, tp in zip(reads, TFS, TOP_P):
        if tp is None:
            continue
        short = torch.exp(rd.top_logprobs().double()).sum(1) < tp
        assert short.sum() >= 5                                         # the nucleus path is exercised
        got = ws.nucleus(np.flatnonzero(short.numpy()), rd.shift, tp)
        assert got is not None and np.isfinite(got[0]).all()
    assert calls == []                                                  # no separate nucleus call was needed


def test_rows_not_done_in_the_region_are_computed_on_demand(native):
    x, W, bias = _case(seed=2)
    reads, top, ws = multi_readout(x, W, bias, TFS[:1], workspace=Workspace(), top_p=[0.99])
    sh = reads[0].shift
    done = ws._nuclei[id(sh)][3]
    rows = np.arange(x.shape[0])
    assert done.any() and not done.all()
    got = ws.nucleus(rows, sh, 0.99)                                   # settled rows too: computed now
    want = N.nucleus(ws.dense, ws.R, ws.blocks, rows, sh.k, sh.u, sh.b, 0.99)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_same_results_at_any_thread_count(native, monkeypatch):
    x, W, bias = _case(R=97, seed=3)
    outs = []
    for n in ("1", "2", "3"):
        monkeypatch.setenv("LMCLAIMS_READOUT_THREADS", n)
        assert N.region_threads() == int(n)
        reads, top, ws = multi_readout(x, W, bias, TFS, workspace=Workspace(), top_p=TOP_P)
        outs.append([top] + [t for rd in reads for t in (rd.log_s, rd.entropy, rd.shift.b)]
                    + [torch.from_numpy(v[2]) for v in ws._nuclei.values()])
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            np.testing.assert_array_equal(a.numpy(), b.numpy())        # (NaN where a row's nucleus was not needed)


def test_nan_rows_and_padding(native):
    x, W, bias = _case(R=8, V=150, seed=4)
    R, V = 8, 150
    ws = Workspace()
    ws.prepare(R, V, V, "cpu", tiles=False)
    z = ws.block(0)
    torch.addmm(bias, x, W.T, out=z)
    z[3, 7] = float("nan")
    z[5, :] = float("nan")
    sh = _Shift(TFS[0], None, b=torch.empty(0))
    got = N.readout(ws.dense, R, ws.blocks, 120, [sh.k], [sh.u], [sh.kb], [0.0], [0.9])
    assert np.isnan(got["S"][0, 3]) and got["done"][0, 3] and np.isnan(got["nucleus"][0, :, 3]).all()
    assert (got["top"][5] == -np.inf).all()                             # an all-NaN row: -inf padding
    assert np.isfinite(got["S"][0, [0, 1, 2, 4, 6, 7]]).all()


def test_input_checks(native):
    ws = Workspace.of_logits(torch.randn(4, 50))
    one = ([1.0], [0.0], [1.0], [0.0])
    with pytest.raises(ValueError, match="readouts"):
        N.readout(ws.dense, 4, ws.blocks, 10, [], [], [], [], [])
    with pytest.raises(ValueError, match="K must"):
        N.readout(ws.dense, 4, ws.blocks, 51, *one, [0.0])
    with pytest.raises(ValueError, match="top_p"):
        N.readout(ws.dense, 4, ws.blocks, 10, *one, [1.5])
    with pytest.raises(ValueError, match="one entry per transform"):
        multi_readout(torch.randn(4, 8), torch.randn(50, 8), None, TFS[:2], top_p=[0.9])


def test_release_lets_the_openmp_workers_exit(native, monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a = torch.randn(400, 400)
        torch.randn(1 << 21).exp_()                                     # an OpenMP region of torch: a worker exists
        before = len(os.listdir("/proc/self/task"))
        if not N.release_workers():
            pytest.skip("no libgomp with omp_pause_resource_all in this process")
        assert len(os.listdir("/proc/self/task")) < before             # the worker thread is gone
        torch.testing.assert_close(torch.mm(a, a), (a.double() @ a.double()).float(), rtol=1e-4, atol=1e-3)
        monkeypatch.setenv("LMCLAIMS_RELEASE_OMP", "0")
        assert N.release_workers() is False
    finally:
        torch.set_num_threads(threads)


def test_bad_thread_count_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LMCLAIMS_READOUT_THREADS", "two")
    with pytest.raises(ValueError, match="positive integer"):
        N.region_threads()


def test_threads_beside_other_load():
    assert N.threads_beside(2, 2, 1) == 2                               # only this thread running: all cores
    assert N.threads_beside(2, 2, 2) == 1                               # one other task: one core left
    assert N.threads_beside(16, 16, 40) == 1
    assert N.threads_beside(4, 16, 3) == 4
