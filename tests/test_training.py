"""Tiny-model training utilities (lmclaims.training.data / loop / thermo)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmclaims.corpus import load_corpus
from lmclaims.models.synthetic import byte_tokenizer
from lmclaims.training.data import batch_iterator, split_texts, token_blocks
from lmclaims.training.loop import ARCHES, OUTPUT_PROJECTIONS, mean_loss, tiny_model, train_causal_lm
from lmclaims.training.thermo import preference_pairs, residual_arrays

TOK = byte_tokenizer()


def test_token_blocks_concatenate_and_cut():
    b = token_blocks(TOK, ["abc", "defgh"], 3, eos_id=257)
    # a b c EOS d e f g h EOS -> 10 tokens -> 3 blocks of 3, tail dropped
    assert b.tolist() == [[97, 98, 99], [257, 100, 101], [102, 103, 104]]
    assert token_blocks(lambda t: [1] * len(t), ["xxxx"], 2).shape == (2, 2)
    with pytest.raises(ValueError):
        token_blocks(TOK, ["a"], 8)


def test_split_texts_disjoint_and_pinned():
    c = load_corpus()
    tr, pr = split_texts(c)
    assert set(tr).isdisjoint(pr) and len(tr) + len(pr) == sum(s == "eval" for s in c.splits)
    assert split_texts(c) == (tr, pr)


def test_batch_iterator_seeded():
    blocks = torch.arange(40).view(20, 2)
    a = [next(it) for it in [batch_iterator(blocks, 4, seed=1)] for _ in range(7)]
    b = [next(it) for it in [batch_iterator(blocks, 4, seed=1)] for _ in range(7)]
    c = [next(it) for it in [batch_iterator(blocks, 4, seed=2)] for _ in range(7)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("arch", ARCHES)
def test_tiny_model_deterministic_per_seed(arch):
    m1, m2, m3 = (tiny_model(arch, 2, 32, 4, 320, s) for s in (5, 5, 6))
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert any(not torch.equal(s1[k], s3[k]) for k in s1)
    assert sum(n.endswith(OUTPUT_PROJECTIONS) for n, _ in m1.named_modules()) == 4  # attn + mlp out, 2 layers


def test_recipe_knobs_change_the_weights():
    base = tiny_model("llama", 2, 32, 4, 320, 0)
    small = tiny_model("llama", 2, 32, 4, 320, 0, out_init_scale=0.1)
    w0 = base.model.layers[0].self_attn.o_proj.weight
    w1 = small.model.layers[0].self_attn.o_proj.weight
    torch.testing.assert_close(w1, 0.1 * w0)
    torch.testing.assert_close(small.model.layers[0].self_attn.q_proj.weight, base.model.layers[0].self_attn.q_proj.weight)
    off = tiny_model("llama", 2, 32, 4, 320, 0, embed_offset=1.0, tie_embeddings=False)
    e = off.get_input_embeddings().weight
    assert e.mean(dim=0).pow(2).mean().sqrt() > 0.5              # a shared component of RMS ~1
    assert off.get_output_embeddings().weight.data_ptr() != e.data_ptr()
    with pytest.raises(TypeError):
        tiny_model("llama", 2, 32, 4, 320, 0, weight_decay=0.1)


def test_training_loss_goes_down_and_is_reproducible():
    c = load_corpus()
    tr, pr = split_texts(c)
    blocks = token_blocks(TOK, tr[:30], 32, eos_id=TOK.eos_token_id)
    ev = token_blocks(TOK, pr[:10], 32, eos_id=TOK.eos_token_id)
    runs = []
    for _ in range(2):
        m = tiny_model("llama", 2, 32, 4, 320, 0)
        runs.append((m, train_causal_lm(m, blocks, steps=60, batch_size=8, lr=3e-3, seed=3, eval_blocks=ev,
                                        num_threads=1)))
    (m, r), (_, r2) = runs
    assert r.losses == r2.losses                                  # seeded: identical curves
    assert r.eval_after < r.eval_before - 1.0                     # ~5.8 (uniform over 320) -> < 4.8 nats
    first, last = r.smoothed(10)
    assert last < first - 1.0
    assert mean_loss(m, ev) == pytest.approx(r.eval_after)
    assert not m.training


def test_residual_arrays_match_engine_layout():
    m = tiny_model("gpt2", 3, 32, 4, 320, 1)
    w = torch.randint(0, 256, (3, 10))
    a = residual_arrays(m, w)
    assert a["norm"].shape == (30, 4)
    with torch.no_grad():
        hs = m(w, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(a["norm"][:10, 1], hs[1][0].norm(dim=-1).numpy(), rtol=1e-5)
    assert a["text_index"].tolist() == [0] * 10 + [1] * 10 + [2] * 10


def test_preference_pairs_shuffle_only_the_continuation():
    blocks = torch.arange(24).view(2, 12)
    ch, rj, half = preference_pairs(blocks, seed=0)
    assert half == 6 and torch.equal(ch, blocks)
    assert torch.equal(rj[:, :6], blocks[:, :6])
    assert all(sorted(rj[i, 6:].tolist()) == blocks[i, 6:].tolist() for i in range(2))
    assert not torch.equal(rj, blocks)
