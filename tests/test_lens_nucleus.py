"""The exact top-p nucleus (``lmclaims.engine.nucleus`` via ``probes.lens.nucleus`` and the readout
path) against a plain independent computation: a full float64 sort of the softmax of each row."""

import math

import numpy as np
import pytest
import torch

from lmclaims.engine import nucleus as nuc
from lmclaims.engine.lens import LogitTransform
from lmclaims.engine.readouts import multi_readout
from lmclaims.probes.lens import _features, nucleus


def _reference(lp: torch.Tensor, top_p: float):
    """(mass, count, Σ p log p) per row from a full descending sort of exp(float64 lp)."""
    out = []
    for row in lp.double():
        s = torch.sort(row, descending=True).values
        p = torch.exp(s)
        cs = torch.cumsum(p, 0)
        n = int((cs < top_p).sum()) + 1
        n = min(n, row.numel())
        out.append((float(cs[n - 1]), n, float((p[:n] * s[:n]).sum())))
    return out


def _rows(V: int, seed: int) -> torch.Tensor:
    """Peaked, flat, heavy-tailed and tied rows; most have top-100 mass below 0.99."""
    g = torch.Generator().manual_seed(seed)
    z = [torch.randn(V, generator=g) * s for s in (0.0, 0.01, 0.3, 1.0, 2.0, 3.0, 6.0, 12.0)]
    spike = torch.randn(V, generator=g)
    spike[:5] = 30.0                                           # 5 tied tops over a wide flat tail
    z.append(spike)
    ties = torch.randint(0, 7, (V,), generator=g).float()     # only 7 distinct values: ties at the crossing
    z.append(ties)
    grid = torch.randn(V, generator=g).mul(2.0).round().div(4.0)   # quarter-step ties of a Gaussian
    z.append(grid)
    z.append(-torch.arange(V, dtype=torch.float32) * 1e-3)     # slowly decaying, sorted in vocabulary order
    return torch.stack(z)


@pytest.mark.parametrize("V,seed", [(3000, 0), (50000, 1), (70001, 2)])
@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.99, 0.999])
def test_nucleus_equals_full_sort(V, seed, top_p):
    lp = torch.log_softmax(_rows(V, seed), dim=1)
    top = torch.topk(lp, 100, dim=1).values
    assert (torch.exp(top.double()).sum(1) < 0.99).sum() >= 6       # the non-top-K path is exercised
    mass, count, plogp = nucleus(lp, top_p)
    tol = V * 2.0 ** -53          # float64 sums of up to V terms in different orders: |error| ≤ ≈ n·u·Σ (Higham §4.2)
    for i, (m, n, e) in enumerate(_reference(lp, top_p)):
        assert int(count[i]) == n, (i, top_p)
        assert float(mass[i]) == pytest.approx(m, rel=tol)
        assert float(plogp[i]) == pytest.approx(e, rel=1e-10, abs=1e-13)


def test_nucleus_is_exact_when_the_estimate_is_wrong(monkeypatch):
    """The subsample's levels only decide how much is exponentiated and sorted: levels that are far
    too high or too low (here: forced by a tiny or huge margin) give the same result."""
    lp = torch.log_softmax(_rows(20000, 3), dim=1)
    want = [(round(m, 12), n) for m, n, _ in _reference(lp, 0.99)]
    for sig in (-50.0, 0.0, 50.0):
        monkeypatch.setattr(nuc, "SIGMAS", sig)
        mass, count, _ = nucleus(lp, 0.99)
        assert [(round(float(m), 12), int(n)) for m, n in zip(mass, count)] == want, sig


@pytest.mark.parametrize("tf", [LogitTransform(), LogitTransform(temperature=0.7), LogitTransform(softcap=10.0)])
def test_readout_nucleus_equals_full_sort_of_its_log_probs(tf):
    """The readout path (raw logits in the kernel's workspace, the readout's own shift) against a
    float64 sort of the same readout's dense log-probs."""
    g = torch.Generator().manual_seed(7)
    V, d = 40000, 48
    W = torch.randn(V, d, generator=g) / math.sqrt(d)
    x = torch.randn(24, d, generator=g) * torch.linspace(0.05, 12.0, 24)[:, None]
    (rd,), top_raw, ws = multi_readout(x, W, None, [tf], block=4096)
    f = _features(rd, tf, top_raw, ws, V, 0.99, 10, 0.01)
    z = x @ W.T
    lp_ref = torch.log_softmax(tf.apply(z.double()), dim=1)
    hard = torch.exp(rd.top_logprobs().double()).sum(1) < 0.99
    assert hard.sum() >= 5
    for i, (m, n, e) in enumerate(_reference(lp_ref, 0.99)):
        assert abs(int(f["nucleus_count"][i]) - n) <= max(1, 1e-4 * n), i
        assert float(f["nucleus_mass"][i]) == pytest.approx(m, rel=1e-5)
        H = -e / m + math.log(m)
        assert float(f["nucleus_entropy"][i]) == pytest.approx(H, rel=1e-4, abs=1e-5)


def test_whole_row_when_float32_rounding_leaves_it_short():
    lp = torch.log_softmax(torch.zeros(3, 5000), dim=1)
    total = float(torch.exp(lp[0].double()).sum())
    mass, count, _ = nucleus(lp, total * (1 + 1e-12))              # just above what the row holds
    assert count.tolist() == [5000.0] * 3
    assert float(mass[0]) == pytest.approx(total, rel=1e-12)
    np.testing.assert_array_equal(mass.numpy(), mass.numpy()[0])
