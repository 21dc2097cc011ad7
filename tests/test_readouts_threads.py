"""Pass 2 of ``multi_readout`` splits the rows over worker threads on CPU (lmclaims.engine.readouts):
the results must be bit-identical to one thread, and the split must really happen."""

from __future__ import annotations

import pytest
import torch

from lmclaims.engine import readouts
from lmclaims.engine.lens import LogitTransform

TRANSFORMS = [LogitTransform(), LogitTransform(temperature=0.95), LogitTransform(softcap=10.0),
              LogitTransform(softcap=30.0)]


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _logits(R=200, V=3000, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(R, V, generator=g) * 4
    top_raw = torch.topk(z, 100, dim=1).values
    return z, top_raw


@pytest.mark.parametrize("workers", [2, 3])
def test_row_split_is_bit_identical_to_one_thread(threads, workers):
    z, top_raw = _logits()
    torch.set_num_threads(1)
    assert readouts._row_parts(200, "cpu") == [(0, 200)]
    one = readouts.readouts_of_logits(z, top_raw, TRANSFORMS)
    torch.set_num_threads(workers)
    parts = readouts._row_parts(200, "cpu")
    assert len(parts) == workers and parts[0][0] == 0 and parts[-1][1] == 200
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))                 # contiguous, no row twice
    split = readouts.readouts_of_logits(z, top_raw, TRANSFORMS)
    for a, b in zip(one, split):
        assert torch.equal(a.log_s, b.log_s) and torch.equal(a.entropy, b.entropy) and torch.equal(a.top_y, b.top_y)


def test_row_split_matches_a_dense_softmax(threads):
    """Each part reads its own rows: entropy and log Z equal a direct float64 computation."""
    torch.set_num_threads(2)
    z, top_raw = _logits(R=128, V=2000, seed=3)
    for tf, rd in zip(TRANSFORMS, readouts.readouts_of_logits(z, top_raw, TRANSFORMS)):
        y = tf.apply(z.double())
        logp = torch.log_softmax(y, dim=1)
        ent = -(logp.exp() * logp).sum(dim=1)
        torch.testing.assert_close(rd.entropy.double(), ent, rtol=1e-4, atol=1e-5)
        log_z = torch.logsumexp(y, dim=1) - y.max(dim=1).values
        torch.testing.assert_close(rd.log_s.double(), log_z, rtol=1e-5, atol=1e-5)


def test_small_batches_and_accelerators_are_not_split(threads):
    torch.set_num_threads(2)
    assert readouts._row_parts(40, "cpu") == [(0, 40)]                       # < 32 rows per part
    assert readouts._row_parts(4096, "cuda") == [(0, 4096)]


@pytest.mark.parametrize("mode", ["inference", "no_grad"])
def test_worker_threads_inherit_the_callers_grad_mode(threads, mode):
    """Inference mode and grad mode are thread-local: the workers must run in the caller's, or the
    in-place accumulation into the caller's tensors fails (as the engine runs under inference_mode)."""
    torch.set_num_threads(2)
    z, top_raw = _logits(R=128, V=1000, seed=5)
    ctx = torch.inference_mode() if mode == "inference" else torch.no_grad()
    with ctx:
        z, top_raw = z.clone(), top_raw.clone()
        got = readouts.readouts_of_logits(z, top_raw, TRANSFORMS)
    torch.set_num_threads(1)
    ref = readouts.readouts_of_logits(z.clone(), top_raw.clone(), TRANSFORMS)
    assert all(torch.equal(a.entropy, b.entropy) for a, b in zip(got, ref))


def test_unequal_column_blocks_do_not_share_scratch(threads):
    """multi_readout's column blocks differ in width (the last is narrower): each worker's scratch
    must stay its own at every width, or the workers overwrite each other (seen as inf/NaN entropies)."""
    g = torch.Generator().manual_seed(7)
    x, W = torch.randn(256, 32, generator=g) * 6, torch.randn(5000, 32, generator=g)
    torch.set_num_threads(1)
    ref, top1, _ = readouts.multi_readout(x, W, None, TRANSFORMS, block=1024)
    torch.set_num_threads(2)
    for _ in range(5):
        got, top2, _ = readouts.multi_readout(x, W, None, TRANSFORMS, block=1024)
        assert torch.equal(top1, top2)
        for a, b in zip(ref, got):
            assert torch.isfinite(b.entropy).all() and torch.equal(a.entropy, b.entropy) and torch.equal(a.log_s, b.log_s)
