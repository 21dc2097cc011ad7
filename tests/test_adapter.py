"""Adapter parity: the logit lens at the last block reproduces each synthetic model's own logits."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from lmclaims.models.adapter import Adapter, UnsupportedArchitecture
from lmclaims.models.panel import load_panel
from lmclaims.models.synthetic import build_entry

ENTRIES = load_panel("synthetic")


@pytest.fixture(scope="module", params=ENTRIES, ids=[e.name for e in ENTRIES])
def built(request):
    model, tok = build_entry(request.param)
    return request.param, model, tok, Adapter.for_model(model)


def _last_block_output_and_logits(adapter: Adapter, ids: torch.Tensor):
    seen = {}

    def hook(mod, args, output):
        seen["h"] = (output[0] if isinstance(output, tuple) else output).detach()

    handle = adapter.blocks[-1].register_forward_hook(hook)
    try:
        with torch.no_grad():
            logits = adapter.model(ids).logits
    finally:
        handle.remove()
    return seen["h"], logits


def test_lens_at_last_block_equals_model_logits(built):
    _, model, tok, adapter = built
    ids = tok(["The cat sat on the mat.", "Zebra quartz!"], return_tensors="pt", padding=True)["input_ids"][:, :7]
    h_last, logits = _last_block_output_and_logits(adapter, ids)
    with torch.no_grad():
        lens = adapter.lens_logits(h_last)
    assert lens.shape == logits.shape == (2, 7, adapter.vocab_size)
    torch.testing.assert_close(lens, logits, atol=1e-4, rtol=1e-4)


def test_metadata_matches_config(built):
    entry, model, _, adapter = built
    cfg = model.config
    assert adapter.model_type == cfg.model_type == entry.family
    assert adapter.n_layers == cfg.num_hidden_layers == len(adapter.blocks)
    assert adapter.d_model == cfg.hidden_size
    assert adapter.n_heads == cfg.num_attention_heads
    assert adapter.n_kv_heads == (getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads)
    assert adapter.head_dim == (getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)
    assert adapter.vocab_size == cfg.vocab_size == adapter.embed.weight.shape[0]
    assert adapter.tied_embeddings == bool(cfg.tie_word_embeddings)
    assert adapter.tied_embeddings == (adapter.unembed.weight is adapter.embed.weight)
    assert adapter.logit_softcap == getattr(cfg, "final_logit_softcapping", None)
    expected_norm = "post" if getattr(cfg, "do_layer_norm_before", True) is False else "pre"
    assert adapter.norm_placement == expected_norm
    assert (adapter.final_norm is None) == (expected_norm == "post")


def test_gemma2_final_softcap_is_applied():
    entry = next(e for e in ENTRIES if e.family == "gemma2")
    model, tok = build_entry(entry)
    adapter = Adapter.for_model(model)
    ids = tok(["softcap check"], return_tensors="pt")["input_ids"]
    h_last, logits = _last_block_output_and_logits(adapter, ids)
    with torch.no_grad():
        uncapped = adapter.lens_logits(h_last, apply_softcap=False)
    assert adapter.logit_softcap == 30.0
    assert logits.abs().max() < 30.0
    assert (uncapped - logits).abs().max() > 1e-2          # the cap is not a no-op on these logits
    torch.testing.assert_close(30.0 * torch.tanh(uncapped / 30.0), logits, atol=1e-4, rtol=1e-4)


def test_unknown_family_is_refused_with_the_supported_list():
    class Mamba(nn.Module):
        config = SimpleNamespace(model_type="mamba")

    with pytest.raises(UnsupportedArchitecture, match="supported: .*gpt2"):
        Adapter.for_model(Mamba())
