"""The zero-noise null of the perturbation experiment must catch a measurement path that changes
anything at σ = 0 — demonstrated with a deliberately broken test double."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from lmclaims.corpus import corpus_from_texts
from lmclaims.engine.forward import measure
from lmclaims.engine.interventions import Intervention, ResidualNoise
from lmclaims.models.loading import load_model
from lmclaims.probes import taxonomy as tx
from lmclaims.probes.lens import LensGeometry
from tests.real_models import synthetic_entries

TEXTS = ["the quick brown fox jumps over the lazy dog " * 2, "def f(x):\n    return x * 2\n",
         "Water boils at one hundred degrees at sea level."]


@dataclass(frozen=True)
class LeakyNoise(Intervention):
    """A broken noise path: at σ = 0 it still adds a tiny bias (1e-6 · RMS) to the block output."""

    layer: int
    sigma: float = 0.0
    name = "leaky_noise"

    def params(self):
        return {"layer": self.layer, "sigma": self.sigma}

    def edits(self, adapter):
        def fn(x, y):
            return y + (self.sigma + 1e-6) * y.pow(2).mean(-1, keepdim=True).sqrt()
        return [(f"resid_post.{self.layer}", fn)]


@pytest.fixture(scope="module")
def lm():
    m = load_model(synthetic_entries()["synthetic-llama"], device="cpu")
    yield m
    m.free()


def _run(lm, iv):
    view = corpus_from_texts(TEXTS).view(max_tokens=32)
    return measure(lm, view, [LensGeometry(positions_per_text=4)], intervention=iv, progress=False)["lens_geometry"]


def _null_check(lm, iv):
    ref = _run(lm, None)
    return tx.compare_runs(ref, _run(lm, iv))


def test_true_zero_noise_is_identical(lm):
    layer = lm.adapter.n_layers // 2
    for relative in (True, False):
        chk = _null_check(lm, ResidualNoise(layer, 0.0, relative=relative))
        assert chk.identical, chk.describe()


def test_null_check_catches_a_leaky_path(lm):
    chk = _null_check(lm, LeakyNoise(lm.adapter.n_layers // 2))
    assert not chk.identical, "a 1e-6 bias at sigma = 0 must be caught"
    assert max(chk.max_abs_diff.values()) > 0


def test_real_noise_changes_the_lens(lm):
    chk = _null_check(lm, ResidualNoise(lm.adapter.n_layers // 2, 0.25, relative=True))
    assert not chk.identical
    assert chk.max_abs_diff["entropy"] > 1e-3
