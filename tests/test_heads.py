"""Per-head attention weights: rebuilding each family's attention output from the extracted matrices.

The rebuild is written here from the formula in ``lmclaims.models.heads`` (einsums over W_Q, W_K,
W_V, W_O, biases, GQA map, scale, softcap), independently of HF's attention code; only the
positional signals the model hands its attention module (rotary cos/sin, GPT-J's sinusoid table,
BLOOM's ALiBi tensor) and Gemma 3's QK-norm modules are reused. Masks (causal, sliding window) are
built here. A wrong fused-qkv slice, a wrong GQA map or a wrong scale makes these tests fail.
"""

from __future__ import annotations

import dataclasses
import functools

import pytest
import torch

from lmclaims.models.adapter import Adapter
from lmclaims.models.heads import (HeadWeights, as_published_wv_wo, attention_module, attention_weights,
                                   head_to_group)
from lmclaims.models.synthetic import SYNTHETIC_MODEL_TYPES, build_synthetic

SEQ_LEN = 11  # longer than the sliding windows (5 or 6) of gpt_neo / mistral / gemma2 / gemma3
RTOL = 1e-4


@functools.lru_cache(maxsize=None)
def capture(family: str):
    """(adapter, {layer: {"x", "args", "kwargs", "out"}}): each attention module's input and output
    during one forward pass of the seed-1 synthetic ``family`` model on random byte ids [2, SEQ_LEN]."""
    model, _ = build_synthetic(family, seed=1)
    adapter = Adapter.for_model(model)
    ids = torch.randint(0, 256, (2, SEQ_LEN), generator=torch.Generator().manual_seed(0))
    records, handles = {}, []
    for layer in range(adapter.n_layers):
        attn = attention_module(adapter, layer)

        def pre_hook(mod, args, kwargs, layer=layer):
            x = args[0] if args else kwargs["hidden_states"]
            records[layer] = {"x": x.detach(), "kwargs": dict(kwargs), "args": args}

        def post_hook(mod, args, kwargs, output, layer=layer):
            records[layer]["out"] = (output[0] if isinstance(output, tuple) else output).detach()

        handles += [attn.register_forward_pre_hook(pre_hook, with_kwargs=True),
                    attn.register_forward_hook(post_hook, with_kwargs=True)]
    try:
        with torch.no_grad():
            model(ids)
    finally:
        for h in handles:
            h.remove()
    return adapter, records


@pytest.fixture(scope="module", params=SYNTHETIC_MODEL_TYPES)
def captured(request):
    return capture(request.param)


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _rotate_every_two(x):
    return torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2)


def _positional(adapter: Adapter, layer: int, rec: dict):
    """A function (q, k) -> (q, k) applying the family's rotary embedding, [B, heads, T, dh] layout."""
    kw, attn = rec["kwargs"], attention_module(adapter, layer)
    if adapter.model_type == "gptj":  # interleaved pairs; table rows = [sin | cos] per position
        table = attn.embed_positions[kw["position_ids"]]            # [B, T, rotary_dim]
        sin, cos = (t.repeat_interleave(2, dim=-1)[:, None] for t in table.chunk(2, dim=-1))
        rot = attn.rotary_dim

        def apply(t):
            return torch.cat((t[..., :rot] * cos + _rotate_every_two(t[..., :rot]) * sin, t[..., rot:]), dim=-1)
        return lambda q, k: (apply(q), apply(k))
    if "position_embeddings" in kw and kw["position_embeddings"] is not None:  # rotate-half, partial
        cos, sin = (t[:, None] for t in kw["position_embeddings"])   # [B, 1, T, rot]
        rot = cos.shape[-1]

        def apply(t):
            return torch.cat((t[..., :rot] * cos + _rotate_half(t[..., :rot]) * sin, t[..., rot:]), dim=-1)
        return lambda q, k: (apply(q), apply(k))
    return lambda q, k: (q, k)   # learned absolute positions (gpt2, opt, gpt_neo) or ALiBi (bloom)


def _sliding_window(adapter: Adapter, layer: int) -> int | None:
    attn, cfg = attention_module(adapter, layer), adapter.model.config
    if adapter.model_type == "gpt_neo":
        return cfg.window_size if attn.attention_type == "local" else None
    if adapter.model_type == "mistral":
        return cfg.sliding_window
    return getattr(attn, "sliding_window", None)


@torch.no_grad()
def rebuild(hw: HeadWeights, adapter: Adapter, layer: int, rec: dict) -> torch.Tensor:
    """Attention output [B, T, d] from per-head weights: Σ_h softmax(scores_h) v_g(h) @ W_O[h] + b_O."""
    x = rec["x"].float()
    B, T, _ = x.shape
    q = torch.einsum("btd,hde->bhte", x, hw.W_Q)
    k = torch.einsum("btd,gde->bgte", x, hw.W_K)
    v = torch.einsum("btd,gde->bgte", x, hw.W_V)
    if hw.b_Q is not None:
        q, k, v = q + hw.b_Q[:, None], k + hw.b_K[:, None], v + hw.b_V[:, None]
    attn = attention_module(adapter, layer)
    if hasattr(attn, "q_norm"):                      # Gemma 3 QK-norm, before rotary
        q, k = attn.q_norm(q), attn.k_norm(k)
    q, k = _positional(adapter, layer, rec)(q, k)
    k, v = k[:, hw.head_to_group], v[:, hw.head_to_group]
    scores = torch.einsum("bhie,bhje->bhij", q, k) * hw.qk_scale
    if hw.attn_softcap:
        scores = hw.attn_softcap * torch.tanh(scores / hw.attn_softcap)
    if adapter.model_type == "bloom":
        scores = scores + rec["kwargs"]["alibi"].view(B, hw.n_heads, 1, T)
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    allowed = j <= i
    window = _sliding_window(adapter, layer)
    if window is not None:
        allowed &= (i - j) < window
    probs = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    z = torch.einsum("bhij,bhje->bhie", probs, v)
    out = torch.einsum("bhie,hed->bid", z, hw.W_O)
    return out if hw.b_O is None else out + hw.b_O


def _model_attention_output(adapter: Adapter, rec: dict) -> torch.Tensor:
    out = rec["out"]
    if adapter.model_type == "bloom":                # BloomAttention returns dense(z) + residual
        residual = rec["kwargs"].get("residual", rec["args"][1] if len(rec["args"]) > 1 else None)
        out = out - residual
    return out


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_rebuild_matches_model_attention_output(captured):
    adapter, records = captured
    for layer in range(adapter.n_layers):
        hw = attention_weights(adapter, layer)
        expected = _model_attention_output(adapter, records[layer])
        got = rebuild(hw, adapter, layer, records[layer])
        assert _rel_err(got, expected) < RTOL, f"{adapter.model_type} layer {layer}"


def test_shapes_and_group_map(captured):
    adapter, _ = captured
    hw = attention_weights(adapter, 0)
    H, G, d, dh = adapter.n_heads, adapter.n_kv_heads, adapter.d_model, adapter.head_dim
    assert hw.W_Q.shape == (H, d, dh) and hw.W_O.shape == (H, dh, d)
    assert hw.W_K.shape == hw.W_V.shape == (G, d, dh)
    assert hw.head_to_group.tolist() == [h // (H // G) for h in range(H)]
    assert hw.W_OV().shape == (H, d, d) and torch.allclose(hw.W_OV(1), hw.W_OV()[1])


@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma2"])
def test_gqa_head_to_group(family):
    model, _ = build_synthetic(family)
    hw = attention_weights(Adapter.for_model(model), 0)
    assert (hw.n_heads, hw.n_kv_heads) == (4, 2)
    assert hw.head_to_group.tolist() == [0, 0, 1, 1]
    assert head_to_group(8, 8).tolist() == list(range(8))
    with pytest.raises(ValueError):
        head_to_group(4, 3)


def _fails_rebuild(adapter, layer, rec, wrong: HeadWeights) -> bool:
    expected = _model_attention_output(adapter, rec)
    return _rel_err(rebuild(wrong, adapter, layer, rec), expected) > 1e-2


@pytest.mark.parametrize("family", ["gpt_neox", "bloom"])
def test_wrong_fused_qkv_slice_fails_rebuild(family):
    """Reading the per-head interleaved query_key_value as [q; k; v] row blocks must break the rebuild."""
    adapter, records = capture(family)
    hw = attention_weights(adapter, 0)
    H, d, dh = hw.n_heads, hw.d_model, hw.head_dim
    w = attention_module(adapter, 0).query_key_value.weight.detach().float()
    blocks = [w[i * d:(i + 1) * d].mT.reshape(d, H, dh).permute(1, 0, 2) for i in range(3)]
    wrong = dataclasses.replace(hw, W_Q=blocks[0], W_K=blocks[1], W_V=blocks[2])
    assert _fails_rebuild(adapter, 0, records[0], wrong)


def test_gemma2_attention_softcap_is_needed():
    adapter, records = capture("gemma2")
    hw = attention_weights(adapter, 0)
    assert hw.attn_softcap == 50.0
    uncapped = rebuild(dataclasses.replace(hw, attn_softcap=None), adapter, 0, records[0])
    assert _rel_err(uncapped, _model_attention_output(adapter, records[0])) > 5 * RTOL


def test_wrong_gqa_map_and_scale_fail_rebuild(captured):
    adapter, records = captured
    hw = attention_weights(adapter, 0)
    wrong_scale = dataclasses.replace(hw, qk_scale=hw.qk_scale * 2)
    assert _fails_rebuild(adapter, 0, records[0], wrong_scale)
    if hw.n_kv_heads < hw.n_heads:
        wrong_map = dataclasses.replace(hw, head_to_group=torch.arange(hw.n_heads) % hw.n_kv_heads)
        assert _fails_rebuild(adapter, 0, records[0], wrong_map)


def test_author_wv_slice_is_not_the_value_heads():
    """definitions.md §1: rows [2d:3d] of NeoX's fused weight mix q, k and v rows of the last heads."""
    neox, _ = capture("gpt_neox")
    hw = attention_weights(neox, 0)
    H, d, dh = hw.n_heads, hw.d_model, hw.head_dim
    fused = attention_module(neox, 0).query_key_value.weight.detach().float()
    author_wv = fused[2 * d:3 * d]                                   # [d, d], [out, in]
    true_wv = hw.W_V.mT.reshape(H * dh, d)                           # value heads stacked, [out, in]
    assert not torch.allclose(author_wv, true_wv)
    last_head_qkv = torch.cat([hw.W_Q[H - 1].mT, hw.W_K[H - 1].mT, hw.W_V[H - 1].mT])
    assert torch.equal(author_wv[-3 * dh:], last_head_qkv)           # it contains the last head's W_Q
    sigma_v, _ = as_published_wv_wo(neox, 0)
    assert sigma_v == pytest.approx(float(torch.linalg.matrix_norm(author_wv, ord=2)), rel=1e-6)
    assert sigma_v != pytest.approx(float(torch.linalg.matrix_norm(true_wv, ord=2)), rel=1e-3)


@pytest.mark.parametrize("family", ["gpt2", "llama", "opt"])
def test_as_published_equals_true_whole_layer_where_not_fused(family):
    model, _ = build_synthetic(family)
    adapter = Adapter.for_model(model)
    hw = attention_weights(adapter, 1)
    G, d, dh = hw.n_kv_heads, hw.d_model, hw.head_dim
    sigma_v, sigma_o = as_published_wv_wo(adapter, 1)
    assert sigma_v == pytest.approx(float(torch.linalg.matrix_norm(hw.W_V.mT.reshape(G * dh, d), ord=2)), rel=1e-5)
    assert sigma_o == pytest.approx(float(torch.linalg.matrix_norm(hw.W_O.reshape(-1, d), ord=2)), rel=1e-5)


def test_norms_match_explicit_products(captured):
    adapter, _ = captured
    hw = attention_weights(adapter, 0)
    ov = hw.W_OV().double()
    for ord_, torch_ord in (("fro", "fro"), ("spectral", 2)):
        assert torch.allclose(hw.ov_norms(ord_).double(), torch.linalg.matrix_norm(ov, ord=torch_ord), rtol=1e-5)
        assert torch.allclose(hw.o_norms(ord_).double(),
                              torch.linalg.matrix_norm(hw.W_O.double(), ord=torch_ord), rtol=1e-5)
        v_per_head = torch.linalg.matrix_norm(hw.W_V.double(), ord=torch_ord)[hw.head_to_group]
        assert torch.allclose(hw.v_norms(ord_).double(), v_per_head, rtol=1e-5)
    with pytest.raises(ValueError):
        hw.ov_norms("nuclear")
