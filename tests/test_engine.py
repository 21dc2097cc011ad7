"""The measurement engine against independent computations, on every synthetic family.

- block-output capture == HF hidden_states for every depth but the last (HF's last is post-norm);
- lens at the last block == the model's own logits (softcap included);
- streaming NLL == cross-entropy from HF logits;
- zero-noise intervention is bit-identical; skip-block == identity; hooks are always removed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lmclaims.corpus import corpus_from_texts
from lmclaims.engine.forward import capture_residual, measure, sample_positions
from lmclaims.engine.interventions import ResidualNoise, ScaleBlockOutput, SkipBlock
from lmclaims.models.loading import load_model
from lmclaims.probes.base import Probe, RowAccumulator
from lmclaims.probes.lens import LensGeometry
from lmclaims.probes.nll import NextTokenNLL
from lmclaims.probes.residual import ResidualNorms
from tests.real_models import synthetic_entries

TEXTS = ["the quick brown fox jumps over the lazy dog " * 3, "def f(x):\n    return x * 2\n" * 2,
         "Water boils at one hundred degrees at sea level.", "a b c d e f g h i j k l m n o p"]


@pytest.fixture(scope="module", params=sorted(synthetic_entries()))
def lm(request):
    m = load_model(synthetic_entries()[request.param], device="cpu")
    yield m
    m.free()


@pytest.fixture(scope="module")
def view():
    return corpus_from_texts(TEXTS).view(max_tokens=48)


def _ids(lm, text):
    return torch.tensor([lm.encode(text, max_tokens=48)])


def test_block_outputs_equal_hf_hidden_states_but_last(lm):
    ids = _ids(lm, TEXTS[0])
    with torch.no_grad():
        hf = lm.model(ids, output_hidden_states=True).hidden_states
        with capture_residual(lm.adapter) as store:
            lm.model(ids)
    L = lm.adapter.n_layers
    assert len(hf) == L + 1
    for i in range(L):
        torch.testing.assert_close(store[i], hf[i], rtol=0, atol=0)
    # HF's last entry is after the final norm: ours is before it, and normed(ours) == HF's
    torch.testing.assert_close(lm.adapter.normed(store[L]), hf[L], rtol=1e-5, atol=1e-5)


def test_lens_at_last_block_reproduces_model_logits(lm):
    ids = _ids(lm, TEXTS[1])
    with torch.no_grad(), capture_residual(lm.adapter) as store:
        logits = lm.model(ids).logits
        z = lm.adapter.lens_logits(store[-1])
    torch.testing.assert_close(z, logits, rtol=1e-5, atol=1e-5)


def test_streaming_nll_equals_cross_entropy(lm, view):
    res = measure(lm, view, [NextTokenNLL()], progress=False)["nll"]
    for t, text in enumerate(view.texts):
        ids = _ids(lm, text)
        with torch.no_grad():
            logits = lm.model(ids).logits[0]
        ce = torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:], reduction="none").numpy()
        np.testing.assert_allclose(res["nll"][res["text_index"] == t], ce, rtol=1e-4, atol=1e-4)


def test_lens_geometry_last_layer_matches_dense_softmax(lm, view):
    res = measure(lm, view, [LensGeometry(positions_per_text=5)], progress=False)["lens_geometry"]
    t = 0
    ids = _ids(lm, view.texts[t])
    with torch.no_grad():
        p = torch.softmax(lm.model(ids).logits[0].double(), -1)
    pos = sample_positions(view.ids[t], ids.shape[1], 5)
    rows = res["text_index"] == t
    np.testing.assert_array_equal(res["position"][rows], pos)
    H = -(p * p.clamp_min(1e-300).log()).sum(-1)[pos].numpy()
    np.testing.assert_allclose(res["entropy"][rows, -1], H, rtol=1e-3, atol=1e-4)
    top = p[pos].sort(-1, descending=True).values
    np.testing.assert_allclose(res["p1"][rows, -1], top[:, 0].numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res["count_above"][rows, -1], (p[pos] > 0.01).sum(-1).numpy())


def test_zero_noise_is_bit_identical(lm, view):
    probes = [ResidualNorms(), NextTokenNLL()]
    base = measure(lm, view, probes, progress=False)
    null = measure(lm, view, probes, intervention=ResidualNoise(layer=0, sigma=0.0, relative=True), progress=False)
    for p in base:
        for k in base[p]:
            np.testing.assert_array_equal(base[p][k], null[p][k])
    noisy = measure(lm, view, probes, intervention=ResidualNoise(layer=0, sigma=0.5, relative=True, seed=1),
                    progress=False)
    assert not np.array_equal(base["nll"]["nll"], noisy["nll"]["nll"]), "noise must change something"


def test_noise_does_not_depend_on_batching(lm, view):
    iv = ResidualNoise(layer=0, sigma=0.3, relative=True, seed=3)
    a = measure(lm, view, [NextTokenNLL()], intervention=iv, batch_tokens=10_000, progress=False)["nll"]
    b = measure(lm, view, [NextTokenNLL()], intervention=iv, batch_tokens=48, progress=False)["nll"]
    for t in range(len(view)):
        np.testing.assert_allclose(np.sort(a["nll"][a["text_index"] == t]), np.sort(b["nll"][b["text_index"] == t]),
                                   rtol=1e-4, atol=1e-5)


def _hook_counts(lm):
    # transformers may keep hooks of its own on decoder layers: compare with the count before
    return [(len(b._forward_hooks), len(b._forward_pre_hooks)) for b in lm.adapter.blocks]


def test_skip_block_is_identity_and_hooks_are_removed(lm):
    ids = _ids(lm, TEXTS[2])
    before = _hook_counts(lm)
    with torch.no_grad(), capture_residual(lm.adapter) as store:
        with SkipBlock(1).hooks(lm.adapter):
            lm.model(ids)
        skipped = [s.clone() for s in store]
        torch.testing.assert_close(skipped[2], skipped[1], rtol=0, atol=0)
        lm.model(ids)
        assert not torch.equal(store[2], store[1]), "skip hook leaked past its context"
    assert _hook_counts(lm) == before


def test_scale_block_alpha_one_is_identity_alpha_zero_is_skip(lm):
    ids = _ids(lm, TEXTS[3])
    with torch.no_grad(), capture_residual(lm.adapter) as store:
        lm.model(ids)
        ref = [s.clone() for s in store]
        with ScaleBlockOutput(0, 1.0).hooks(lm.adapter):
            lm.model(ids)
        torch.testing.assert_close(store[1], ref[1], rtol=1e-6, atol=1e-6)
        with ScaleBlockOutput(0, 0.0).hooks(lm.adapter):
            lm.model(ids)
        torch.testing.assert_close(store[1], store[0], rtol=0, atol=1e-7)


def test_hooks_removed_after_exception(lm):
    before = _hook_counts(lm)
    with pytest.raises(RuntimeError):
        with SkipBlock(0).hooks(lm.adapter):
            raise RuntimeError("boom")
    assert _hook_counts(lm) == before


def test_nonfinite_activations_raise(lm, view):
    from lmclaims.engine.forward import NonFiniteActivations
    iv = ResidualNoise(layer=0, sigma=float("inf"), relative=False)
    with pytest.raises(NonFiniteActivations):
        measure(lm, view, [ResidualNorms()], intervention=iv, progress=False)


class _Boom(RuntimeError):
    pass


SEEN_BLOCK_CALLS: dict = {}


@dataclasses.dataclass(frozen=True)
class _SpyProbe(Probe):
    """Records the batch's ``block_calls`` (asking for them iff ``needs_calls``); raises after the engine
    registered its hooks iff ``fail``."""
    name = "spy"
    needs_calls: bool = True
    fail: bool = False

    def accumulator(self, lm, view):
        probe = self

        class Acc(RowAccumulator):
            needs_block_calls = probe.needs_calls

            def update(self, batch):
                if probe.fail:
                    raise _Boom("probe failed mid-measurement")
                SEEN_BLOCK_CALLS[probe.needs_calls] = batch.block_calls

            def finish(self):
                return {"x": np.zeros(1)}
        return Acc()


@dataclasses.dataclass(frozen=True)
class _InterventionThatRaises(ScaleBlockOutput):
    """ScaleBlockOutput whose hook function raises inside the forward pass."""
    name = "raises_in_hook"

    def edits(self, adapter):
        def fail(x, y):
            raise _Boom("intervention failed inside the forward")
        return [(f"resid_post.{self.layer}", fail)]


@pytest.mark.parametrize("needs_calls", [False, True])
def test_exception_in_a_probe_leaves_no_hook(lm, view, needs_calls):
    """Issue 15: the engine alone registers hooks, and removes them on the error path too."""
    before = _hook_counts(lm)
    with pytest.raises(_Boom):
        measure(lm, view, [_SpyProbe(needs_calls=needs_calls, fail=True)], cache=None)
    assert _hook_counts(lm) == before


def test_exception_in_an_intervention_leaves_no_hook(lm, view):
    before = _hook_counts(lm)
    with pytest.raises(_Boom):
        measure(lm, view, [ResidualNorms()], intervention=_InterventionThatRaises(0, 0.5), cache=None)
    assert _hook_counts(lm) == before


def test_block_calls_are_recorded_only_when_a_probe_needs_them(lm, view):
    """The ablation/substitution sweeps re-run blocks with the arguments of the clean forward."""
    SEEN_BLOCK_CALLS.clear()
    measure(lm, view, [_SpyProbe(needs_calls=True)], cache=None)
    measure(lm, view, [_SpyProbe(needs_calls=False)], cache=None)
    assert SEEN_BLOCK_CALLS[False] is None
    calls = SEEN_BLOCK_CALLS[True]
    assert len(calls) == lm.adapter.n_layers and all(c is not None for c in calls)
    assert all(isinstance(c[2], dict) for c in calls)
