"""Gain definitions (lmclaims.probes.gain) against hand computations from HF ``output_hidden_states``.

The engine path (``measure`` + ``ResidualNorms``) is checked against an independent computation:
HF hidden states of one text at a time (no batching, no padding), with the final norm replaced by
the identity so that the last hidden state is the pre-norm last-block output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmclaims.corpus import corpus_from_texts
from lmclaims.engine.forward import measure
from lmclaims.models.loading import load_model
from lmclaims.probes import gain
from lmclaims.probes.residual import ResidualNorms
from tests.real_models import synthetic_entries

TEXTS = ["The river rose slowly through the night and by morning the bridge was gone.",
         "def area(r):\n    return 3.14159 * r * r\n",
         "Prices fell in the spring, then rose again once the harvest failed in the north.",
         "a b c d e f g h i j k l m n o p q r s t"]
FAMILIES = ["synthetic-llama", "synthetic-gpt2", "synthetic-gpt-neox", "synthetic-gemma3"]


@pytest.fixture(scope="module", params=[f for f in FAMILIES if f in synthetic_entries()])
def lm(request):
    m = load_model(synthetic_entries()[request.param], device="cpu")
    yield m
    m.free()


@pytest.fixture(scope="module")
def view():
    return corpus_from_texts(TEXTS).view(max_tokens=40)


def _hf_states(lm, text):
    """Per-depth hidden states [L+1, T, d] of one text, final norm disabled (pre-norm last block)."""
    ids = torch.tensor([lm.encode(text, max_tokens=40)])
    norm = lm.adapter.final_norm
    parent_name, attr = None, None
    for name, mod in lm.model.named_modules():
        if mod is norm:
            parent_name, attr = name.rpartition(".")[0], name.rpartition(".")[2]
    parent = lm.model.get_submodule(parent_name)
    setattr(parent, attr, torch.nn.Identity())
    try:
        with torch.no_grad():
            hs = lm.model(ids, output_hidden_states=True).hidden_states
    finally:
        setattr(parent, attr, norm)
    return torch.stack([h[0] for h in hs]).double()          # [L+1, T, d]


def test_definitions_match_hidden_states(lm, view):
    arrays = measure(lm, view, [ResidualNorms()], progress=False)["residual_norms"]
    s = gain.summarise(arrays, len(view))
    L = lm.adapter.n_layers
    for t, text in enumerate(TEXTS):
        hs = _hf_states(lm, text)
        n = hs.norm(dim=-1)                                   # [L+1, T]
        # as published: ||hs[-2][0,-1]|| / ||hs[-3][0,-1]|| with HF's normed hs[-1] -> our hs[L-1]/hs[L-2]
        np.testing.assert_allclose(s.hidden_states[t], float(n[L - 1, -1] / n[L - 2, -1]), rtol=1e-5)
        np.testing.assert_allclose(s.hook[t], float(n[L, -1] / n[L - 1, -1]), rtol=1e-5)
        g = n[1:, 1:] / n[:-1, 1:]                           # [L, T-1], positions >= 1
        want = float(torch.exp(torch.log(g[1:]).mean()))     # blocks 1..L-1, all tokens
        np.testing.assert_allclose(s.corrected[t], want, rtol=1e-5)
        np.testing.assert_allclose(s.max_block[t], float(torch.exp(torch.log(g[1:]).mean(dim=1)).max()), rtol=1e-5)


def test_as_published_uses_hf_hidden_states_literally(lm, view):
    """The literal author expression on HF's own output (hs[-1] normed) equals our hidden-states G."""
    arrays = measure(lm, view, [ResidualNorms()], progress=False)["residual_norms"]
    G = gain.hidden_states_G(arrays, len(view))
    for t, text in enumerate(TEXTS):
        ids = torch.tensor([lm.encode(text, max_tokens=40)])
        with torch.no_grad():
            hs = lm.model(ids, output_hidden_states=True).hidden_states
        author = float(hs[-2][0, -1].norm() / hs[-3][0, -1].norm())
        np.testing.assert_allclose(G[t], author, rtol=1e-5)


def test_corrected_excludes_block0_and_position0():
    """Hand-made norms: block 0 and position 0 carry huge gains that must not enter corrected G."""
    L, T = 3, 4
    norm = np.ones((T, L + 1))
    norm[:, 1:] = 100.0                 # block 0 multiplies by 100
    norm[:, 2] = 200.0                  # block 1: x2
    norm[:, 3] = 200.0                  # block 2: x1
    norm[0] = [1.0, 1e6, 1e9, 1e12]     # position 0: absurd
    arrays = {"norm": norm, "text_index": np.zeros(T, int), "position": np.arange(T)}
    assert gain.corrected_G(arrays, 1)[0] == pytest.approx(np.sqrt(2.0))
    assert gain.max_block_gain(arrays, 1)[0] == pytest.approx(2.0)
    assert gain.hidden_states_G(arrays, 1)[0] == pytest.approx(2.0)   # norm[last, L-1]/norm[last, L-2]
    assert gain.hook_G(arrays, 1)[0] == pytest.approx(1.0)


def test_last_token_is_per_text():
    norm = np.array([[1, 1, 1, 1], [1, 1, 2, 4], [1, 1, 1, 1], [1, 1, 3, 3.0]])
    arrays = {"norm": norm, "text_index": np.array([0, 0, 1, 1]), "position": np.array([0, 1, 0, 1])}
    np.testing.assert_allclose(gain.hidden_states_G(arrays, 2), [2.0, 3.0])
    np.testing.assert_allclose(gain.hook_G(arrays, 2), [2.0, 1.0])
