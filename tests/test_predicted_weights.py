"""Predicted-weight substitution (seed 003 item 8): lmclaims/engine/interventions/ (swapped_weights,
SwapWeights, predicted.py) and lmclaims/probes/substitution.py, on synthetic models.

- the swap restores every parameter bit for bit: on normal exit, on an error inside the ``with``,
  on an error part-way through writing, and rejects bad input before writing anything;
- the one-pass sweep equals the full-forward intervention for every substitution type;
- the depth-polynomial prediction reproduces a stack that is polynomial in depth (so substituting
  it changes nothing) and does change a real stack (the test can fail);
- the matched-noise null has exactly the prediction's Frobenius error; the neighbour copy copies.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lmclaims.corpus import corpus_from_texts
from lmclaims.engine.forward import measure
from lmclaims.engine.interventions import (MatchedNoiseWeights, NeighbourWeights, PredictedWeights, matrix_names,
                                           predicted_matrices, swapped_weights)
from lmclaims.models.loading import load_model
from lmclaims.models.synthetic import build_entry, count_parameters
from lmclaims.probes.nll import NextTokenNLL
from lmclaims.probes.substitution import SubstitutionSweepNLL, prediction_quality, relative_errors
from lmclaims.probes.weight_regularity import depth_hat_matrix, depth_poly_elementwise_r2, summarise
from tests.real_models import synthetic_entries

TEXTS = ["the quick brown fox jumps over the lazy dog " * 3, "def f(x):\n    return x * 2\n" * 2,
         "Water boils at one hundred degrees at sea level.", "a b c d e f g h i j k l m n o p q r s"]


#: depth of the test models: a degree-2 prediction over 2 layers (the panel's default) is exact
DEPTH = {"synthetic-llama": ("num_hidden_layers", 5), "synthetic-gpt2": ("n_layer", 5)}


@pytest.fixture(scope="module", params=["synthetic-llama", "synthetic-gpt2"])
def lm(request):
    e = synthetic_entries()[request.param]
    key, depth = DEPTH[request.param]
    spec = {**e.synthetic, "config": {**(e.synthetic.get("config") or {}), key: depth}}
    deeper = dataclasses.replace(e, name=f"{e.name}-{depth}", synthetic=spec, layers=depth)
    # the panel metadata must describe the deeper model (load_model checks it against the config)
    deeper = dataclasses.replace(deeper, params=count_parameters(build_entry(deeper)[0]))
    m = load_model(deeper, device="cpu")
    assert m.adapter.n_layers == depth
    yield m
    m.free()


@pytest.fixture(scope="module")
def view():
    return corpus_from_texts(TEXTS).view(max_tokens=40)


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _same_bits(a, b):
    return all(torch.equal(a[n].view(torch.int32), b[n].view(torch.int32)) for n in a)


def _two_matrices(block):
    names = matrix_names(block)
    assert len(names) >= 2
    return names[0], names[1]


def test_swap_restores_bits_on_exit_and_on_error_in_body(lm):
    snap = _snapshot(lm.model)
    n0, _ = _two_matrices(lm.adapter.blocks[0])
    p = lm.adapter.blocks[0].get_parameter(n0)
    with swapped_weights(lm.adapter.blocks, {0: {n0: torch.zeros_like(p)}}):
        assert float(p.abs().max()) == 0.0, "the swap did not write"
    assert _same_bits(_snapshot(lm.model), snap)
    with pytest.raises(RuntimeError, match="boom"):
        with swapped_weights(lm.adapter.blocks, {0: {n0: torch.zeros_like(p)}}):
            raise RuntimeError("boom")
    assert _same_bits(_snapshot(lm.model), snap)


def test_swap_restores_bits_when_writing_fails_part_way(lm):
    snap = _snapshot(lm.model)
    n0, n1 = _two_matrices(lm.adapter.blocks[0])
    b = lm.adapter.blocks[0]
    # the first write succeeds; the second cannot be copied (a meta tensor has no data)
    new = {0: {n0: torch.zeros_like(b.get_parameter(n0)),
               n1: torch.empty(b.get_parameter(n1).shape, device="meta")}}
    with pytest.raises((NotImplementedError, RuntimeError)):
        with swapped_weights(lm.adapter.blocks, new):
            pass
    assert _same_bits(_snapshot(lm.model), snap)


def test_swap_rejects_bad_input_before_writing(lm):
    snap = _snapshot(lm.model)
    n0, n1 = _two_matrices(lm.adapter.blocks[0])
    b = lm.adapter.blocks[0]
    good = torch.zeros_like(b.get_parameter(n0))
    for bad, err in [({0: {n0: good, "nope": good}}, KeyError),
                     ({0: {n0: good, n1: torch.zeros(3)}}, ValueError),
                     ({0: {n0: good}, lm.adapter.n_layers: {n0: good}}, IndexError)]:
        with pytest.raises(err):
            with swapped_weights(lm.adapter.blocks, bad):
                pass
        assert _same_bits(_snapshot(lm.model), snap)


def _subs(L):
    return (PredictedWeights(layers=(1,)), PredictedWeights(layers=tuple(range(L))),
            MatchedNoiseWeights(layers=(1,), seed=2), MatchedNoiseWeights(layers=tuple(range(L)), seed=2),
            NeighbourWeights(layers=(L - 1,)), PredictedWeights(layers=(0, L - 1), degree=1))


def test_sweep_matches_full_forward_interventions_and_restores(lm, view):
    L = lm.adapter.n_layers
    snap = _snapshot(lm.model)
    subs = _subs(L)
    sw = measure(lm, view, [SubstitutionSweepNLL(substitutions=subs)])["substitution_sweep_nll"]
    base = measure(lm, view, [NextTokenNLL()])["nll"]
    np.testing.assert_allclose(sw["nll_base"], base["nll"], rtol=1e-5, atol=1e-5)
    assert _same_bits(_snapshot(lm.model), snap), "the sweep left weights changed"
    for j, s in enumerate(subs):
        full = measure(lm, view, [NextTokenNLL()], intervention=s)["nll"]["nll"]
        np.testing.assert_allclose(sw["nll"][:, j], full, rtol=1e-4, atol=1e-4, err_msg=repr(s))
        assert np.abs(full - base["nll"]).max() > 1e-3, f"{s} changed nothing: the comparison proves nothing"
    assert _same_bits(_snapshot(lm.model), snap)


def test_hat_matrix_and_elementwise_r2():
    L, N = 9, 40
    H = depth_hat_matrix(L, degree=2)
    np.testing.assert_allclose(H @ H, H, atol=1e-12)                       # a projection
    x = np.linspace(-1, 1, L)
    np.testing.assert_allclose(H @ (1 + 2 * x - 3 * x ** 2), 1 + 2 * x - 3 * x ** 2, atol=1e-12)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(L, N)) + x[:, None] * rng.normal(size=N)
    r2 = depth_poly_elementwise_r2(summarise(torch.tensor(X)), degree=2)
    E = X - H @ X
    want = 1 - (E ** 2).sum(1) / ((X - X.mean(1, keepdims=True)) ** 2).sum(1)
    np.testing.assert_allclose(r2, want, rtol=1e-9)
    with pytest.raises(ValueError):
        depth_hat_matrix(3, degree=3)


def test_prediction_reproduces_polynomial_stack_and_changes_a_real_one(lm, view):
    blocks = lm.adapter.blocks
    L = len(blocks)
    err = relative_errors(blocks, range(L), degree=1)
    assert err.min() > 1e-3, "random synthetic layers are not linear in depth: the prediction must differ"
    snap = _snapshot(lm.model)
    x = torch.linspace(-1, 1, L, dtype=torch.float64)
    try:
        with torch.no_grad():      # make every 2-D weight exactly linear in depth: W_l = A + x_l·B
            for n in matrix_names(blocks[0]):
                A, B = blocks[0].get_parameter(n).detach().double(), blocks[-1].get_parameter(n).detach().double()
                for l in range(L):
                    blocks[l].get_parameter(n).copy_(A + x[l] * (B - A))
        pred = predicted_matrices(blocks, range(L), degree=1)
        for l in range(L):
            for n, w in pred[l].items():
                torch.testing.assert_close(w, blocks[l].get_parameter(n).detach(), rtol=1e-5, atol=1e-6)
        base = measure(lm, view, [NextTokenNLL()])["nll"]["nll"]
        sub = measure(lm, view, [NextTokenNLL()], intervention=PredictedWeights(layers=tuple(range(L)),
                                                                                degree=1))["nll"]["nll"]
        np.testing.assert_allclose(sub, base, atol=1e-4)
    finally:
        with torch.no_grad():
            for n, p in lm.model.named_parameters():
                p.copy_(snap[n])


def test_matched_noise_has_the_prediction_error_and_neighbour_copies(lm):
    blocks = lm.adapter.blocks
    L = len(blocks)
    noise = MatchedNoiseWeights(layers=(0, L - 1), seed=5).replacement(lm.adapter)
    pred = predicted_matrices(blocks, (0, L - 1), degree=2)
    for l in (0, L - 1):
        for n, w in noise[l].items():
            W = blocks[l].get_parameter(n).detach().double()
            assert abs(float((w.double() - W).norm()) - float((W - pred[l][n].double()).norm())) \
                <= 1e-4 * float(W.norm())
    again = MatchedNoiseWeights(layers=(0,), seed=5).replacement(lm.adapter)
    other = MatchedNoiseWeights(layers=(0,), seed=6).replacement(lm.adapter)
    n0 = matrix_names(blocks[0])[0]
    assert torch.equal(again[0][n0], noise[0][n0]) and not torch.equal(other[0][n0], noise[0][n0])
    nb = NeighbourWeights(layers=(0, L - 1)).replacement(lm.adapter)
    assert torch.equal(nb[0][n0], blocks[1].get_parameter(n0).detach())
    assert torch.equal(nb[L - 1][n0], blocks[L - 2].get_parameter(n0).detach())


def test_probe_rejects_bad_substitutions(lm):
    with pytest.raises(ValueError):
        SubstitutionSweepNLL(substitutions=())
    with pytest.raises(TypeError):
        SubstitutionSweepNLL(substitutions=("predicted",))
    with pytest.raises(IndexError):
        PredictedWeights(layers=(lm.adapter.n_layers,)).replacement(lm.adapter)


def test_prediction_quality_matches_the_gram_r2(lm):
    """The directly computed element-wise R² equals the Gram-summary formula, per layer and matrix."""
    blocks = lm.adapter.blocks
    L = len(blocks)
    rel, r2 = prediction_quality(blocks, range(L), degree=2)
    for k, n in enumerate(matrix_names(blocks[0])):
        s = summarise([blocks[l].get_parameter(n).detach() for l in range(L)])
        np.testing.assert_allclose(r2[:, k], depth_poly_elementwise_r2(s, degree=2), rtol=1e-6, atol=1e-9)
    assert np.all(rel > 0) and np.all(r2 < 1)
