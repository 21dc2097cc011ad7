"""The compiled top-p nucleus (nucleus_kernel.c ``lmclaims_nucleus``, ``native_readouts.nucleus``,
``Workspace.nucleus``) against a float64 full sort of softmax(tf(z)): the exact count, mass and
Σ p ln p, on one block and on block-major segments, capped and uncapped; ties at the crossing; the
whole row when top_p reaches the row's rounding; NaN and ±inf logits; bit-identical results at any
thread count; the lens features it feeds; input checks."""

import numpy as np
import pytest
import torch

from lmclaims.engine import native_readouts as N
from lmclaims.engine.lens import LogitTransform
from lmclaims.engine.readouts import Workspace, multi_readout, shift_of
from lmclaims.probes.lens import readout_features, top_logits

TFS = [LogitTransform(1.0, None), LogitTransform(0.7, None), LogitTransform(1.0, 10.0), LogitTransform(1.3, 30.0)]


def _full_sort(z, tf, top_p):
    """(mass, count, Σ p ln p, the cumulative mass just before and at the count) per row, float64."""
    y = z.double()
    if tf.softcap is not None:
        y = tf.softcap * torch.tanh(y / tf.softcap)
    lp = torch.log_softmax(y / tf.temperature, dim=1)
    srt = torch.sort(lp, dim=1, descending=True).values
    cs = srt.exp().cumsum(1)
    n = torch.clamp((cs < top_p).sum(1) + 1, max=z.shape[1])
    at = cs.gather(1, (n - 1)[:, None])[:, 0]
    before = torch.where(n > 1, cs.gather(1, (n - 2).clamp_min(0)[:, None])[:, 0], torch.zeros_like(at))
    plogp = (srt.exp() * srt).cumsum(1).gather(1, (n - 1)[:, None])[:, 0]
    return at.numpy(), n.double().numpy(), plogp.numpy(), before.numpy()


def _native(ws, top_raw, tf, rows, top_p):
    return ws.nucleus(np.asarray(rows), shift_of(tf, top_raw), top_p)


def _logits(R, V, seed, scale):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(R, V, generator=g) * scale            # scale sets how flat the rows are


def _check(got, z, tf, top_p):
    m, n, e, before = _full_sort(z, tf, top_p)
    gm, gn, ge = got
    clear = (np.abs(before - top_p) > 2e-7) & (np.abs(m - top_p) > 2e-7)   # the crossing not within rounding
    assert clear.mean() > 0.75
    np.testing.assert_array_equal(gn[clear], n[clear])
    assert np.all(np.abs(gn - n) <= 1)
    np.testing.assert_allclose(gm[clear], m[clear], rtol=2e-6)
    np.testing.assert_allclose(ge[clear], e[clear], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("tf", TFS, ids=str)
@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.99])
def test_nucleus_equals_a_float64_full_sort(native, tf, top_p):
    z = _logits(48, 5003, 1, 2.5)
    ws = Workspace.of_logits(z)
    _check(_native(ws, top_logits(z), tf, range(48), top_p), z, tf, top_p)


@pytest.mark.parametrize("block", [700, 4096])
def test_nucleus_on_block_major_segments_equals_one_block(native, block):
    g = torch.Generator().manual_seed(3)
    x, W = torch.randn(40, 32, generator=g), torch.randn(6007, 32, generator=g) * 0.5
    _, top_raw, ws = multi_readout(x, W, None, [TFS[2]], block=block, workspace=Workspace())
    assert len(ws.blocks) > 1
    z = ws.rows(torch.arange(40))
    rows = [0, 7, 39, 12]
    got = _native(ws, top_raw, TFS[2], rows, 0.95)
    one = _native(Workspace.of_logits(z), top_raw, TFS[2], rows, 0.95)
    for a, b in zip(got, one):
        np.testing.assert_array_equal(a, b)
    _check(got, z[rows], TFS[2], 0.95)


def test_ties_at_the_crossing_are_counted_once(native):
    V = 4000
    z = torch.full((2, V), -3.0)
    z[:, :10] = 2.0                        # ten equal heavy logits, then a flat tail of equal values
    z[1, 10:20] = 0.5
    ws = Workspace.of_logits(z)
    top_p = 0.8
    gm, gn, _ = _native(ws, top_logits(z), TFS[0], [0, 1], top_p)
    m, n, _, _ = _full_sort(z, TFS[0], top_p)
    np.testing.assert_array_equal(gn, n)
    np.testing.assert_allclose(gm, m, rtol=2e-6)


def test_whole_row_when_top_p_reaches_its_rounding(native):
    z = _logits(3, 3000, 5, 1.0)
    gm, gn, _ = _native(Workspace.of_logits(z), top_logits(z), TFS[0], [0, 1, 2], 1.0)
    assert gn.tolist() == [3000.0] * 3
    np.testing.assert_allclose(gm, 1.0, rtol=1e-12)


def test_nan_row_gives_nan_and_minus_inf_logits_are_excluded(native):
    z = _logits(3, 2000, 6, 2.0)
    z[0, 17] = float("nan")
    z[1, :500] = float("-inf")             # masked tokens: no mass, never in the nucleus
    top = top_logits(torch.nan_to_num(z, nan=0.0))
    gm, gn, ge = _native(Workspace.of_logits(z), top, TFS[0], [0, 1, 2], 0.9)
    assert np.isnan(gm[0]) and np.isnan(gn[0]) and np.isnan(ge[0])
    m, n, e, _ = _full_sort(z[1:2, 500:], TFS[0], 0.9)
    assert gn[1] == n[0] and np.isfinite(ge[1])
    np.testing.assert_allclose(gm[1], m[0], rtol=2e-6)


def test_bit_identical_at_any_thread_count(native):
    z = _logits(64, 3001, 7, 3.0)
    ws, top = Workspace.of_logits(z), top_logits(z)
    before = torch.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 3):
            torch.set_num_threads(t)
            outs.append(_native(ws, top, TFS[3], range(64), 0.99))
    finally:
        torch.set_num_threads(before)
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            np.testing.assert_array_equal(a, b)


def test_lens_features_take_the_kernel_and_agree_with_the_level_search(native, monkeypatch):
    z = _logits(32, 4001, 8, 2.0)
    top = top_logits(z)
    got = readout_features(z, top, TFS[2], 4001, top_p=0.99)
    import lmclaims.probes.lens as L

    def boom(*a, **k):
        raise AssertionError("the level search ran although the kernel is available")
    monkeypatch.setattr(L, "nucleus_rows", boom)
    assert readout_features(z, top, TFS[2], 4001, top_p=0.99)["nucleus_count"].tolist() == got["nucleus_count"].tolist()
    monkeypatch.undo()
    with N.torch_path():                   # the level search on the same rows (the torch path)
        ref = readout_features(z, top, TFS[2], 4001, top_p=0.99)
    assert np.abs(got["nucleus_count"].numpy() - ref["nucleus_count"].numpy()).max() <= 1
    for k in ("nucleus_mass", "nucleus_entropy", "nucleus_topk_mass"):
        np.testing.assert_allclose(got[k].numpy(), ref[k].numpy(), rtol=1e-5, err_msg=k)


def test_input_checks(native):
    z = _logits(4, 100, 9, 1.0)
    ws, sh = Workspace.of_logits(z), shift_of(TFS[0], top_logits(z))
    with pytest.raises(ValueError, match="rows must lie"):
        ws.nucleus([4], sh, 0.9)
    with pytest.raises(ValueError, match="top_p"):
        ws.nucleus([0], sh, 0.0)
    with pytest.raises(ValueError, match="b must have"):
        N.nucleus(ws.dense, 4, ws.blocks, [0], 1.0, 0.0, torch.zeros(3), 0.9)
    assert [a.size for a in ws.nucleus([], sh, 0.9)] == [0, 0, 0]


def test_without_openmp_the_pthread_build_gives_identical_results(native, monkeypatch, tmp_path):
    z = _logits(40, 3001, 10, 3.0)
    top = top_logits(z)
    x, W = torch.randn(40, 16), torch.randn(3001, 16)

    def run():
        ws = Workspace.of_logits(z)
        reads, top_raw, _ = multi_readout(x, W, None, TFS)
        return (ws.nucleus(range(40), shift_of(TFS[2], top), 0.99), N.topk(ws.dense, 40, ws.blocks, 100),
                [(r.log_s, r.entropy) for r in reads], top_raw)

    with_omp = run()
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path))
    monkeypatch.setattr(N, "OPENMP", ("-fno-such-openmp-flag",))     # the OpenMP build fails: pthreads
    N.reset()
    assert N.available()
    built = list((tmp_path / "kernels").glob("*/libreadouts.so"))
    assert len(built) == 1                                              # only the pthread build exists
    without = run()
    for a, b in zip(with_omp[0], without[0]):
        np.testing.assert_array_equal(a, b)
    assert torch.equal(with_omp[1], without[1]) and torch.equal(with_omp[3], without[3])
    for (s1, e1), (s2, e2) in zip(with_omp[2], without[2]):
        assert torch.equal(s1, s2) and torch.equal(e1, e2)
