"""Ablation machinery (lmclaims/probes/ablation.py, lmclaims/engine/interventions/weights.py) on synthetic models.

- the one-pass suffix sweep equals the full-forward intervention for skip, mean and neighbour;
- weight-replacement context managers restore every parameter bit for bit (also on error);
- a no-op ablation gives ΔPPL = 0 exactly, and a real one does not (the test can fail);
- matched-strength manipulations change each matrix by the stated Frobenius norm.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmclaims.corpus import corpus_from_texts
from lmclaims.engine.forward import measure
from lmclaims.engine.interventions import (STRATEGIES, ManipulateWeights, MeanAblateBlock, NeighbourAverageBlock,
                                           SkipBlock, manipulated_weight, neighbour_average_state, replaced_parameters)
from lmclaims.models.loading import load_model
from lmclaims.probes.ablation import AblationSweepNLL, BlockMeanUpdate, block_influence, delta_ppl_percent
from lmclaims.probes.nll import NextTokenNLL
from lmclaims.probes.residual import ResidualNorms
from tests.real_models import synthetic_entries

TEXTS = ["the quick brown fox jumps over the lazy dog " * 3, "def f(x):\n    return x * 2\n" * 2,
         "Water boils at one hundred degrees at sea level.", "a b c d e f g h i j k l m n o p q r s"]


@pytest.fixture(scope="module", params=["synthetic-llama", "synthetic-gpt2"])
def lm(request):
    m = load_model(synthetic_entries()[request.param], device="cpu")
    yield m
    m.free()


@pytest.fixture(scope="module")
def view():
    return corpus_from_texts(TEXTS).view(max_tokens=40)


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _same_bits(a, b):
    return all(torch.equal(a[n].view(torch.int32), b[n].view(torch.int32)) for n in a)


def test_sweep_matches_full_forward_interventions(lm, view):
    L = lm.adapter.n_layers
    layers = tuple(range(L))
    means = measure(lm, view, [BlockMeanUpdate()])["block_mean_update"]["mean_update"]
    base = measure(lm, view, [NextTokenNLL()])["nll"]
    for kind, make in [("skip", lambda l: SkipBlock(l)),
                       ("mean", lambda l: MeanAblateBlock(l, tuple(means[l].tolist()))),
                       ("neighbour", lambda l: NeighbourAverageBlock(l))]:
        sw = measure(lm, view, [AblationSweepNLL(kind=kind, layers=layers, mean_update=means)])[f"ablation_sweep_nll_{kind}"]
        np.testing.assert_allclose(sw["nll_base"], base["nll"], rtol=1e-5, atol=1e-5)
        for j, l in enumerate(layers):
            full = measure(lm, view, [NextTokenNLL()], intervention=make(l))["nll"]["nll"]
            np.testing.assert_allclose(sw["nll"][:, j], full, rtol=1e-4, atol=1e-4, err_msg=f"{kind} L{l}")
            # and the ablation does something: otherwise this comparison proves nothing
            assert np.abs(full - base["nll"]).max() > 1e-3, f"{kind} at L{l} changed nothing"


def test_sweep_removes_its_hooks(lm, view):
    before = [len(b._forward_pre_hooks) for b in lm.adapter.blocks]
    measure(lm, view, [AblationSweepNLL(kind="skip", layers=(0,))])
    assert [len(b._forward_pre_hooks) for b in lm.adapter.blocks] == before


def test_neighbour_replacement_restores_bits_exactly(lm, view):
    snap = _snapshot(lm.model)
    for l in range(lm.adapter.n_layers):
        with NeighbourAverageBlock(l).hooks(lm.adapter):
            changed = _snapshot(lm.model)
            assert not _same_bits(changed, snap), "replacement did not change the weights"
            measure(lm, view, [NextTokenNLL()])        # run the model while replaced (inference mode)
        assert _same_bits(_snapshot(lm.model), snap)
    with pytest.raises(RuntimeError):
        with NeighbourAverageBlock(0).hooks(lm.adapter):
            raise RuntimeError("boom")
    assert _same_bits(_snapshot(lm.model), snap)


def test_neighbour_average_values(lm):
    blocks = lm.adapter.blocks
    L = len(blocks)
    s = neighbour_average_state(blocks, 1) if L > 2 else None
    if s is not None:
        for n, p in blocks[1].named_parameters():
            want = (dict(blocks[0].named_parameters())[n] + dict(blocks[2].named_parameters())[n]) / 2
            torch.testing.assert_close(s[n], want, rtol=0, atol=0)
    s0 = neighbour_average_state(blocks, 0)
    for n, p in blocks[1].named_parameters():
        torch.testing.assert_close(s0[n], p.detach(), rtol=0, atol=0)


def test_replaced_parameters_rejects_bad_shapes_and_restores(lm):
    block = lm.adapter.blocks[0]
    snap = _snapshot(block)
    name, p = next(iter(block.named_parameters()))
    with pytest.raises(ValueError):
        with replaced_parameters(block, {name: torch.zeros(p.numel() + 1)}):
            pass
    assert _same_bits(_snapshot(block), snap)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_manipulations_restore_bits_and_match_strength(lm, view, strategy):
    snap = _snapshot(lm.model)
    iv = ManipulateWeights(strategy=strategy, strength=0.1, seed=3)
    with iv.hooks(lm.adapter):
        now = _snapshot(lm.model)
    assert _same_bits(_snapshot(lm.model), snap)
    targets = [n for n in now if not _same_bits({n: now[n]}, {n: snap[n]})]
    assert targets, f"{strategy} changed nothing"
    for n in targets:
        assert snap[n].ndim == 2, f"{strategy} touched a non-matrix parameter {n}"
        rel = float((now[n] - snap[n]).norm() / snap[n].norm())
        tol = 0.35 if strategy == "lowrank" else 0.02     # low rank moves in whole singular values
        assert abs(rel - 0.1) <= tol * 0.1 + 1e-6, f"{strategy} {n}: ‖ΔW‖/‖W‖ = {rel:.4f}, wanted 0.1"


def test_manipulated_weight_definitions():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(40, 30, generator=g)
    torch.testing.assert_close(manipulated_weight(W, "scale", 0.1, seed=0), 0.9 * W)
    P = manipulated_weight(W, "prune", 0.1, seed=0)
    zeroed = (P == 0) & (W != 0)
    assert zeroed.any() and torch.equal(P[~zeroed], W[~zeroed])
    assert W[zeroed].abs().max() <= W[~zeroed].abs().min()            # the smallest magnitudes went
    Q = manipulated_weight(W, "quantise", 0.1, seed=0)
    assert len(torch.unique(Q)) < len(torch.unique(W)) / 10            # it is a grid
    Lr = manipulated_weight(W, "lowrank", 0.1, seed=0)
    assert torch.linalg.matrix_rank(Lr) < min(W.shape)
    N1, N2 = (manipulated_weight(W, "noise", 0.1, seed=s) for s in (1, 1))
    assert torch.equal(N1, N2) and not torch.equal(N1, manipulated_weight(W, "noise", 0.1, seed=2))


def test_noop_ablation_gives_zero_delta_ppl_and_real_one_does_not(lm, view):
    sw = measure(lm, view, [AblationSweepNLL(kind="skip", layers=(0,))])["ablation_sweep_nll_skip"]
    n = len(view)
    zero = delta_ppl_percent(sw["nll_base"], sw["nll_base"], sw["text_index"], n)
    assert np.array_equal(zero, np.zeros(n))
    # a no-op "mean ablation" with the model's own update is not a no-op, but a zero-strength
    # manipulation is: the full pipeline must then give ΔPPL exactly 0
    base = measure(lm, view, [NextTokenNLL()])["nll"]
    noop = measure(lm, view, [NextTokenNLL()], intervention=ManipulateWeights(strategy="scale", strength=0.0))["nll"]
    d = delta_ppl_percent(noop["nll"], base["nll"], base["text_index"], n)
    assert np.array_equal(d, np.zeros(n))
    real = delta_ppl_percent(sw["nll"][:, 0], sw["nll_base"], sw["text_index"], n)
    assert np.abs(real).max() > 0.1


def test_block_influence_of_identity_blocks_is_zero(lm, view):
    with SkipBlock(0).hooks(lm.adapter):
        r = measure(lm, view, [ResidualNorms()])["residual_norms"]
    bi = block_influence(r["cos_prev"], r["text_index"], len(view))
    assert bi.shape == (len(view), lm.adapter.n_layers)
    np.testing.assert_allclose(bi[:, 0], 0.0, atol=1e-6)
    assert (bi[:, 1:] > 1e-4).all()
