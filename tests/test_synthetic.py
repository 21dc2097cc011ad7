"""Synthetic models: deterministic, non-trivial, and described truthfully by lmclaims/data/panels/synthetic.toml."""

from __future__ import annotations

import math

import pytest
import torch

from lmclaims.models.adapter import Adapter
from lmclaims.models.panel import load_panel
from lmclaims.models.synthetic import (SYNTHETIC_MODEL_TYPES, VOCAB, build_entry, build_synthetic, byte_tokenizer,
                                       count_parameters)

ENTRIES = load_panel("synthetic")


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_panel_entry_matches_built_model(entry):
    """Every number in the panel file is the built model's own, so the data cannot drift from the code."""
    assert entry.source == "synthetic" and entry.lab == "synthetic" and entry.relation == "base"
    model, _ = build_entry(entry)
    adapter = Adapter.for_model(model)
    assert entry.family == adapter.model_type == entry.synthetic["model_type"]
    assert entry.arch == type(model).__name__
    assert entry.params == count_parameters(model)
    assert (entry.layers, entry.d_model, entry.heads, entry.kv_heads, entry.vocab) == (
        adapter.n_layers, adapter.d_model, adapter.n_heads, adapter.n_kv_heads, adapter.vocab_size)
    assert entry.tied_embeddings == adapter.tied_embeddings
    assert entry.logit_softcap == adapter.logit_softcap
    assert entry.norm == adapter.norm_placement
    assert entry.bos is False


def test_panel_covers_every_synthetic_family():
    assert {e.synthetic["model_type"] for e in ENTRIES} == set(SYNTHETIC_MODEL_TYPES)


def test_same_seed_same_weights_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a, _ = build_synthetic("llama", seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after), "build_synthetic must not consume the caller's RNG"
    b, _ = build_synthetic("llama", seed=7)
    c, _ = build_synthetic("llama", seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["model.layers.0.self_attn.q_proj.weight"], sc["model.layers.0.self_attn.q_proj.weight"])


def test_weights_are_reinitialised_away_from_hf_defaults():
    model, _ = build_synthetic("gpt2")
    w = model.transformer.h[0].attn.c_attn.weight.detach()
    assert 0.15 < float(w.std()) < 0.25                  # HF default would be 0.02
    ln = model.transformer.h[0].ln_1.weight.detach()
    assert 0.9 < float(ln.mean()) < 1.1 and float(ln.std()) > 0.05
    gemma, _ = build_synthetic("gemma2")                # (1 + w) norms: w centred on 0
    assert abs(float(gemma.model.layers[0].input_layernorm.weight.detach().mean())) < 0.1


@pytest.mark.parametrize("family", SYNTHETIC_MODEL_TYPES)
def test_attention_mixes(family):
    """Attention is neither uniform nor one-hot: mean normalised entropy (H / ln #keys) in (0.2, 0.8)."""
    model, tok = build_synthetic(family)
    ids = tok(["A quick brown fox jumps."], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        attentions = model(ids, output_attentions=True).attentions
    T = ids.shape[1]
    ents = []
    for att in attentions:                               # [1, H, T, T]
        for i in range(2, T):
            p = att[0, :, i, : i + 1].clamp_min(1e-12)
            allowed = int((att[0, 0, i, : i + 1] > 0).sum()) or i + 1
            ents.append(float((-(p * p.log()).sum(-1) / math.log(max(allowed, 2))).mean()))
    mean_entropy = sum(ents) / len(ents)
    assert 0.2 < mean_entropy < 0.8, mean_entropy


def test_config_overrides_aliases_and_errors():
    model, _ = build_synthetic("llama", config={"num_hidden_layers": 3, "num_key_value_heads": 1})
    assert model.config.num_hidden_layers == 3 and model.config.num_key_value_heads == 1
    assert not model.training and model.config._attn_implementation == "eager"
    g3, _ = build_synthetic("gemma3")
    assert type(g3).__name__ == "Gemma3ForCausalLM" and g3.config.model_type == "gemma3_text"
    with pytest.raises(ValueError, match="available: .*llama"):
        build_synthetic("t5")


def test_dtype_argument():
    model, _ = build_synthetic("qwen2", dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_byte_tokenizer_roundtrip_and_specials():
    tok = byte_tokenizer()
    text = "héllo, wörld"
    ids = tok(text)["input_ids"]
    assert ids == list(text.encode("utf-8"))
    assert tok.decode(ids) == text
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (256, 257, 258)
    assert len(tok) == 259 < VOCAB
    batch = tok(["ab", "abcd"], return_tensors="pt", padding=True)
    assert batch["input_ids"].tolist() == [[97, 98, 258, 258], [97, 98, 99, 100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
