"""Named hook sites (lmclaims.models.sites) and the engine's site hooks (lmclaims.engine.hooks), on
every synthetic architecture: each site resolves, an edit there changes exactly what it should, and
no hook outlives its ``with`` — also when the body, or a later edit's registration, raises.
"""

from __future__ import annotations

import pytest
import torch

from lmclaims.engine.hooks import site_hooks
from lmclaims.models import sites
from lmclaims.models.loading import load_model
from tests import real_models

FAMILIES = sorted(real_models.synthetic_entries())


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module", params=FAMILIES)
def lm(request):
    return load_model(real_models.synthetic_entries()[request.param], device="cpu")


def _ids(lm):
    return torch.tensor([[5, 17, 42, 99, 3, 250, 7, 11]])


def test_every_site_resolves_and_observes_the_value(lm):
    names = sites.names(lm.adapter)
    per_block = 2 if lm.adapter.model_type == "bloom" else 4      # BLOOM adds the residual inside attn / MLP
    assert len(names) == per_block * lm.adapter.n_layers + (lm.adapter.final_norm is not None)
    seen = {}

    def observer(site):
        def fn(*values):
            seen[site] = values[-1].shape
            return None
        return fn

    before = _hooks(lm.model)
    with torch.no_grad(), site_hooks(lm.adapter, [(s, observer(s)) for s in names]):
        out = lm.model(_ids(lm)).logits
    assert _hooks(lm.model) == before
    assert set(seen) == set(names)
    for s in names:
        kind, _ = sites.parse(s)
        if kind in ("resid_pre", "resid_post", "final_norm_in"):
            assert seen[s][-1] == lm.adapter.d_model, s
    with torch.no_grad():                                    # observers changed nothing
        torch.testing.assert_close(lm.model(_ids(lm)).logits, out, rtol=0, atol=0)


def test_edits_change_what_they_should(lm):
    """Zeroing block 0's attention and MLP outputs makes block 0 (nearly) the identity for pre-norm
    blocks; an identity edit at resid_post is bit-identical; resid_pre edits reach the block."""
    ids = _ids(lm)
    with torch.no_grad():
        ref = lm.model(ids, output_hidden_states=True)
        with site_hooks(lm.adapter, [("resid_post.0", lambda x, y: x)]):
            skipped = lm.model(ids, output_hidden_states=True)
        torch.testing.assert_close(skipped.hidden_states[1], ref.hidden_states[0], rtol=0, atol=0)
        with site_hooks(lm.adapter, [("resid_pre.1", lambda x: x * 0)]):
            zeroed_in = lm.model(ids).logits
        assert not torch.equal(zeroed_in, ref.logits)
        if lm.adapter.model_type == "bloom":
            with pytest.raises(KeyError, match="residual inside"):
                with site_hooks(lm.adapter, [("attn_out.0", lambda x, y: y * 0)]):
                    pass
            return
        with site_hooks(lm.adapter, [("attn_out.0", lambda x, y: y * 0), ("mlp_out.0", lambda x, y: y * 0)]):
            no_updates = lm.model(ids, output_hidden_states=True)
        if lm.adapter.norm_placement == "pre" and lm.adapter.model_type not in ("gemma2", "gemma3_text", "gemma3"):
            torch.testing.assert_close(no_updates.hidden_states[1], no_updates.hidden_states[0], rtol=1e-5, atol=1e-5)
        else:
            assert not torch.equal(no_updates.hidden_states[1], ref.hidden_states[1])


def test_hooks_are_removed_on_errors(lm):
    before = _hooks(lm.model)
    with pytest.raises(RuntimeError, match="boom"):
        with site_hooks(lm.adapter, [("resid_post.0", lambda x, y: None), ("resid_pre.1", lambda x: None)]):
            raise RuntimeError("boom")
    assert _hooks(lm.model) == before
    with pytest.raises(RuntimeError, match="inside"):             # the edit itself raises mid-forward

        def bad(x, y):
            raise RuntimeError("inside the edit")
        with torch.no_grad(), site_hooks(lm.adapter, [("resid_post.0", bad)]):
            lm.model(_ids(lm))
    assert _hooks(lm.model) == before
    with pytest.raises(IndexError):                                # a later edit cannot register
        with site_hooks(lm.adapter, [("resid_post.0", lambda x, y: None), (f"resid_post.{lm.adapter.n_layers}",
                                                                            lambda x, y: None)]):
            pass
    assert _hooks(lm.model) == before
    with pytest.raises(KeyError, match="unknown site"):
        with site_hooks(lm.adapter, [("mlp.0", lambda x, y: None)]):
            pass
    assert _hooks(lm.model) == before
