"""Probes declare the sites they read (``Probe.sites``); the engine captures exactly those
(lmclaims.engine.capture). Checked on every synthetic architecture against hooks this test registers
itself: a declared ``attn_out`` / ``mlp_out`` reaches the probe with the model's own value, a read
of an undeclared slot is an error naming the probe, a bad declaration fails before any forward, and
the library's probes declare what they read (their results are unchanged: tests/test_engine.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from lmclaims.corpus import corpus_from_texts
from lmclaims.engine.capture import UndeclaredSite, capture_residual, residual_sites
from lmclaims.engine.forward import measure
from lmclaims.engine.interventions import SkipBlock
from lmclaims.models import sites
from lmclaims.models.loading import load_model
from lmclaims.probes.ablation import AblationSweepNLL
from lmclaims.probes.base import Probe, RowAccumulator
from lmclaims.probes.nll import NextTokenNLL
from lmclaims.probes.residual import ResidualNorms
from tests import real_models

FAMILIES = sorted(real_models.synthetic_entries())
TEXTS = ["the quick brown fox jumps over the lazy dog", "def f(x):\n    return x * 2\n",
         "Water boils at one hundred degrees at sea level."]


@pytest.fixture(scope="module", params=FAMILIES)
def lm(request):
    return load_model(real_models.synthetic_entries()[request.param], device="cpu")


@pytest.fixture(scope="module")
def view():
    return corpus_from_texts(TEXTS).view(max_tokens=24)


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@dataclass(frozen=True)
class SiteSums(Probe):
    """Per text: the sum of |value| at each declared site (a probe reading sites by name)."""

    names: tuple = ()
    name = "site_sums"

    def sites(self, adapter):
        return self.names

    def accumulator(self, lm, view):
        probe = self

        class Acc(RowAccumulator):
            def update(self, batch):
                for r in range(len(batch.text_index)):
                    n = int(batch.lengths[r])
                    self.add(text_index=np.asarray([batch.text_index[r]]),
                             **{s.replace(".", "_"): np.asarray([[float(batch.site(s)[r, :n].double().abs().sum())]])
                                for s in probe.names})
        return Acc()


@dataclass(frozen=True)
class ReadsFirstResidual(Probe):
    """Declares only the last residual but reads the embeddings: a wrong declaration."""

    name = "reads_first_residual"

    def sites(self, adapter):
        return (f"resid_post.{adapter.n_layers - 1}",)

    def accumulator(self, lm, view):
        class Acc(RowAccumulator):
            def update(self, batch):
                self.add(x=np.asarray([float(batch.resid[0].sum())]))
        return Acc()


def _reference_sums(lm, view, names, intervention=None):
    """The same sums from hooks registered here, one text at a time (no engine capture involved)."""
    out = {s: [] for s in names}
    for text in view.texts:
        ids = torch.tensor([lm.encode(text, max_tokens=view.max_tokens)])
        seen = {}
        handles = []
        for s in names:
            module, where = sites.locate(lm.adapter, s)
            if where == "input":
                handles.append(module.register_forward_pre_hook(
                    lambda m, a, k, s=s: seen.__setitem__(s, a[0] if a else k["hidden_states"]), with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(
                    lambda m, a, o, s=s: seen.__setitem__(s, o[0] if isinstance(o, tuple) else o)))
        try:
            with torch.no_grad(), (intervention.hooks(lm.adapter) if intervention else torch.no_grad()):
                lm.model(ids)
        finally:
            for h in handles:
                h.remove()
        for s in names:
            v = seen[s] if seen[s].dim() == 3 else seen[s][None]       # OPT's MLP sees [B·T, d]
            out[s].append(float(v[0].double().abs().sum()))
    return {s: np.asarray(v) for s, v in out.items()}


def test_declared_update_sites_reach_the_probe_with_the_models_values(lm, view):
    L = lm.adapter.n_layers
    names = ("resid_pre.0", f"resid_post.{L - 1}", "final_norm_in") if lm.adapter.final_norm is not None \
        else ("resid_pre.0", f"resid_post.{L - 1}")
    if lm.adapter.model_type != "bloom":          # BLOOM has no attn_out / mlp_out sites
        names += (f"attn_out.{L - 1}", "mlp_out.0")
    before = _hooks(lm.model)
    got = measure(lm, view, [SiteSums(names=names)], batch_tokens=48)["site_sums"]
    assert _hooks(lm.model) == before
    ref = _reference_sums(lm, view, names)
    order = np.argsort(got["text_index"])
    for s in names:
        np.testing.assert_allclose(got[s.replace(".", "_")][order, 0], ref[s], rtol=1e-5)


def test_declared_sites_are_read_after_the_intervention(lm, view):
    """An observed site downstream of an edit sees the edited stream (observers run after edits)."""
    if lm.adapter.model_type == "bloom":
        pytest.skip("BLOOM has no attn_out site")
    L = lm.adapter.n_layers
    names = (f"attn_out.{L - 1}",)
    iv = SkipBlock(0)
    got = measure(lm, view, [SiteSums(names=names)], intervention=iv)["site_sums"]
    ref, clean = _reference_sums(lm, view, names, iv), _reference_sums(lm, view, names)
    order = np.argsort(got["text_index"])
    np.testing.assert_allclose(got[f"attn_out_{L - 1}"][order, 0], ref[names[0]], rtol=1e-5)
    assert not np.allclose(ref[names[0]], clean[names[0]])


def test_reading_an_undeclared_site_names_the_probe_and_leaves_no_hook(lm, view):
    before = _hooks(lm.model)
    with pytest.raises(UndeclaredSite, match=r"reads_first_residual reads resid\[0\] \(resid_pre.0\)"):
        measure(lm, view, [ReadsFirstResidual()])
    assert _hooks(lm.model) == before
    with pytest.raises(UndeclaredSite, match="was not declared"):
        _read_site_not_declared(lm, view)
    assert _hooks(lm.model) == before


def _read_site_not_declared(lm, view):
    @dataclass(frozen=True)
    class Sneaky(SiteSums):
        name = "sneaky"

        def sites(self, adapter):
            return ("resid_pre.0",)

    measure(lm, view, [Sneaky(names=("resid_pre.0", f"resid_post.{lm.adapter.n_layers - 1}"))])


@pytest.mark.parametrize("bad, error", [(("mlp.0",), KeyError), (("resid_post.999",), IndexError), ((), ValueError)])
def test_a_bad_declaration_fails_before_any_forward(lm, view, bad, error):
    calls = []
    handle = lm.model.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        with pytest.raises(error, match="site_sums"):
            measure(lm, view, [SiteSums(names=bad)])
    finally:
        handle.remove()
    assert calls == []


def test_library_probes_declare_what_they_read(lm):
    L = lm.adapter.n_layers
    assert NextTokenNLL().sites(lm.adapter) == (f"resid_post.{L - 1}",)
    assert ResidualNorms().sites(lm.adapter) == residual_sites(L) and len(residual_sites(L)) == L + 1
    assert AblationSweepNLL(kind="skip", layers=(0, 1)).sites(lm.adapter) == \
        ("resid_pre.0", "resid_pre.1", f"resid_post.{L - 1}")
    for s in residual_sites(L):
        sites.locate(lm.adapter, s)                  # every default site exists on the model


def test_capture_keeps_only_the_declared_slots(lm):
    L = lm.adapter.n_layers
    with torch.no_grad(), capture_residual(lm.adapter, slots={1}) as store:
        lm.model(torch.tensor([[5, 17, 42, 99]]))
    assert store[1] is not None and store[L] is not None          # the last slot is always kept
    assert all(store[i] is None for i in range(L + 1) if i not in (1, L))
