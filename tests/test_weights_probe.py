"""W_V/W_O statistics (lmclaims.probes.weights) against explicit slices and products of raw weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmclaims.models.adapter import Adapter
from lmclaims.models.synthetic import build_synthetic
from lmclaims.probes.weights import weight_stats


def _sigma(m):
    return float(torch.linalg.matrix_norm(m.double(), ord=2))


def test_llama_gqa_per_head_norms_and_products():
    model, _ = build_synthetic("llama", seed=3)            # 4 query heads, 2 kv heads, d 64, head_dim 16
    ad = Adapter.for_model(model)
    ws = weight_stats(ad)
    dh, H, d = ad.head_dim, ad.n_heads, ad.d_model
    for layer, block in enumerate(model.model.layers):
        Wv = block.self_attn.v_proj.weight.detach().double()   # [n_kv*dh, d]
        Wo = block.self_attn.o_proj.weight.detach().double()   # [d, H*dh]
        for h in range(H):
            g = h // (H // ad.n_kv_heads)
            v = Wv[g * dh:(g + 1) * dh]                         # [dh, d]  (out, in)
            o = Wo[:, h * dh:(h + 1) * dh]                      # [d, dh]
            ov = o @ v                                          # column convention: x -> o v x
            assert ws.v_fro[layer, h] == pytest.approx(float(v.norm()), rel=1e-5)
            assert ws.o_fro[layer, h] == pytest.approx(float(o.norm()), rel=1e-5)
            assert ws.ov_fro[layer, h] == pytest.approx(float(ov.norm()), rel=1e-4)
            assert ws.ov_spec[layer, h] == pytest.approx(_sigma(ov), rel=1e-4)
        assert ws.sigma_v[layer] == pytest.approx(_sigma(Wv), rel=1e-5)
        assert ws.sigma_o[layer] == pytest.approx(_sigma(Wo), rel=1e-5)
    assert ws.as_published_ratio == pytest.approx(ws.sigma_v.mean() / ws.sigma_o.mean())
    assert ws.corrected_ratio == pytest.approx(float(np.exp(np.log(ws.v_fro / ws.o_fro).mean())))


def test_gpt_neox_interleaved_qkv_and_the_authors_slice():
    model, _ = build_synthetic("gpt_neox", seed=1)
    ad = Adapter.for_model(model)
    ws = weight_stats(ad)
    dh, H, d = ad.head_dim, ad.n_heads, ad.d_model
    for layer, block in enumerate(model.gpt_neox.layers):
        W = block.attention.query_key_value.weight.detach().double()   # [3d, d], rows [head, q|k|v, dh]
        per_head = W.view(H, 3, dh, d)
        Wo = block.attention.dense.weight.detach().double()
        for h in range(H):
            v = per_head[h, 2]
            assert ws.v_fro[layer, h] == pytest.approx(float(v.norm()), rel=1e-5)
            ov = Wo[:, h * dh:(h + 1) * dh] @ v
            assert ws.ov_fro[layer, h] == pytest.approx(float(ov.norm()), rel=1e-4)
        # as published: rows [2d:3d] — NOT the value heads (the author's bug), reproduced on purpose
        assert ws.sigma_v[layer] == pytest.approx(_sigma(W[2 * d:3 * d]), rel=1e-5)
        true_v = per_head[:, 2].reshape(H * dh, d)
        assert abs(_sigma(true_v) - ws.sigma_v[layer]) > 1e-3


def test_rescaling_v_and_o_changes_ratio_not_ov():
    """The V/O ratio is not a function of the network; W_OV is (documented in weights.py)."""
    model, _ = build_synthetic("llama", seed=0)
    a = weight_stats(Adapter.for_model(model))
    with torch.no_grad():
        for block in model.model.layers:
            block.self_attn.v_proj.weight.mul_(4.0)
            block.self_attn.o_proj.weight.div_(4.0)
    b = weight_stats(Adapter.for_model(model))
    np.testing.assert_allclose(b.per_head_ratio, 16 * a.per_head_ratio, rtol=1e-5)
    np.testing.assert_allclose(b.ov_fro, a.ov_fro, rtol=1e-4)
