"""Growth training (lmclaims/training/growth.py) and recovery (lmclaims/training/recovery.py).

- each arm is deterministic per seed (bit-identical loss curves) and differs across seeds;
- the training loss decreases; both arms end with identical parameter counts;
- growing duplicates a block in place (the copy equals its source; depth bookkeeping updated);
- recovery leaves the model exactly as it found it.
"""

from __future__ import annotations

import numpy as np
import torch

from lmclaims.corpus import load_corpus
from lmclaims.models.synthetic import byte_tokenizer
from lmclaims.training.data import token_blocks
from lmclaims.training.growth import GrowthSettings, grow, layer_importance, run_arm
from lmclaims.training.loop import tiny_model, train_causal_lm
from lmclaims.training.recovery import recover_layer

SMALL = GrowthSettings(d_model=32, n_heads=2, final_layers=3, n_stages=2, steps_per_stage=15, batch_size=8)


def _blocks():
    c = load_corpus()
    tok = byte_tokenizer()
    tr = [c.texts[i] for i, s in enumerate(c.splits) if s == "eval"][:30]
    va = [c.texts[i] for i, s in enumerate(c.splits) if s == "heldout"][:5]
    return (token_blocks(tok, tr, 32, eos_id=tok.eos_token_id), token_blocks(tok, va, 32, eos_id=tok.eos_token_id))


def test_growth_arms_are_deterministic_and_learn():
    train, val = _blocks()
    for arm in ("uniform", "growth"):
        a = run_arm(arm, 0, train, val, SMALL)
        b = run_arm(arm, 0, train, val, SMALL)
        c = run_arm(arm, 1, train, val, SMALL)
        assert a.losses == b.losses and a.val_loss == b.val_loss, f"{arm} is not deterministic per seed"
        assert a.losses != c.losses, f"{arm}: seeds 0 and 1 gave the same run"
        assert np.mean(a.losses[-5:]) < np.mean(a.losses[:5]) - 0.3, f"{arm}: loss did not decrease"
        assert len(a.losses) == SMALL.steps_per_stage * SMALL.n_stages
    u, g = run_arm("uniform", 0, train, val, SMALL), run_arm("growth", 0, train, val, SMALL)
    assert u.n_params == g.n_params
    assert g.layer_steps < u.layer_steps and len(g.grown_from) == SMALL.n_stages - 1


def test_grow_duplicates_a_block():
    m = tiny_model("llama", 2, 32, 2, 320, 0)
    x = torch.randint(0, 256, (2, 16))
    grow(m, 1)
    assert len(m.model.layers) == 3 and m.config.num_hidden_layers == 3
    for (n1, p1), (n2, p2) in zip(m.model.layers[1].named_parameters(), m.model.layers[2].named_parameters()):
        assert torch.equal(p1, p2) and p1.data_ptr() != p2.data_ptr()
    with torch.no_grad():
        out = m(input_ids=x, labels=x).loss
    assert torch.isfinite(out)
    imp = layer_importance(m, x)
    assert len(imp) == 3 and all(np.isfinite(imp))


def test_recovery_restores_model_and_records_curve():
    m = tiny_model("llama", 3, 32, 2, 320, 0)
    train, val = _blocks()
    train_causal_lm(m, train, steps=40, batch_size=8, seed=0)   # an untrained block is ~identity: noise would not hurt
    snap = {n: p.detach().clone() for n, p in m.named_parameters()}
    r = recover_layer(m, m.model.layers, 1, train, val[:4], steps=6, eval_every=3, batch_size=4, lr=1e-3)
    assert r.ppl_perturbed > r.ppl_clean                       # 50% noise hurts
    assert r.eval_steps == [0, 3, 6] and len(r.train_losses) == 6
    for n, p in m.named_parameters():
        assert torch.equal(p, snap[n]), f"{n} not restored"
        assert p.requires_grad and p.grad is None


def test_thread_setting_is_scoped_to_the_call(monkeypatch):
    """``threads=n`` sets torch's intra-op threads during the call only, also when the call raises;
    None (the default) leaves the setting alone."""
    seen = []
    monkeypatch.setattr("lmclaims.training.growth._run_arm", lambda *a: seen.append(torch.get_num_threads()))
    monkeypatch.setattr("lmclaims.training.recovery._recover_layer",
                        lambda *a, **k: (seen.append(torch.get_num_threads()), 1 / 0))
    outer = torch.get_num_threads()
    torch.set_num_threads(3)                     # any value ≠ 1, so that a leak of the scoped 1 shows
    try:
        run_arm("uniform", 0, None, None, SMALL, threads=1)
        run_arm("uniform", 0, None, None, SMALL)
        try:
            recover_layer(None, None, 0, None, None, threads=1)
        except ZeroDivisionError:
            pass
        assert seen == [1, 3, 1] and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(outer)
