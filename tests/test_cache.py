"""Measurement cache: warm re-runs load instead of recompute; corrupt/stale entries are recomputed."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from lmclaims.cache import MeasurementCache, StaleCacheWarning, cache_key
from lmclaims.corpus import corpus_from_texts, load_corpus
from lmclaims.engine.forward import RunInfo, measure
from lmclaims.engine.interventions import SkipBlock
from lmclaims.models.loading import load_model
from lmclaims.models.panel import load_panel
from lmclaims.probes.nll import NextTokenNLL
from lmclaims.probes.residual import ResidualNorms
from tests.real_models import get


@pytest.fixture()
def syn():
    e = next(e for e in load_panel("synthetic") if e.name == "synthetic-llama")
    return load_model(e, device="cpu")


@pytest.fixture()
def view():
    return corpus_from_texts(["one two three four five six", "alpha beta gamma delta"]).view(max_tokens=32)


def test_roundtrip_and_key_covers_provenance(tmp_path, syn, view):
    cache = MeasurementCache(tmp_path)
    a = measure(syn, view, [ResidualNorms()], cache=cache, progress=False)
    info = RunInfo()
    b = measure(syn, view, [ResidualNorms()], cache=cache, progress=False, info=info)
    assert info.cache_hits == ["residual_norms"] and not info.computed
    for k in a["residual_norms"]:
        np.testing.assert_array_equal(a["residual_norms"][k], b["residual_norms"][k])
    # an intervention is part of the key: never served the un-intervened result
    info2 = RunInfo()
    measure(syn, view, [ResidualNorms()], cache=cache, intervention=SkipBlock(0), progress=False, info=info2)
    assert info2.computed == ["residual_norms"]


def test_key_changes_with_every_field():
    base = {"model": "m@1", "corpus_view": "c", "probe": "p", "probe_version": 1, "probe_params": {},
            "dtype": "float32", "device_type": "cpu", "intervention": {"name": "none"}, "batch_tokens": 2048}
    keys = {cache_key(base)}
    for field, value in [("model", "m@2"), ("corpus_view", "d"), ("probe", "q"), ("probe_version", 2),
                         ("probe_params", {"k": 1}), ("dtype", "bfloat16"), ("device_type", "cuda"),
                         ("intervention", {"name": "skip_block", "layer": 1}), ("batch_tokens", 64)]:
        keys.add(cache_key({**base, field: value}))
    assert len(keys) == 10


def test_corrupt_entry_is_recomputed_with_warning(tmp_path, syn, view):
    cache = MeasurementCache(tmp_path)
    a = measure(syn, view, [ResidualNorms()], cache=cache, progress=False)
    f = next(tmp_path.rglob("*.safetensors"))
    f.write_bytes(f.read_bytes()[:-7])
    info = RunInfo()
    with pytest.warns(StaleCacheWarning, match="corrupt"):
        b = measure(syn, view, [ResidualNorms()], cache=cache, progress=False, info=info)
    assert info.computed == ["residual_norms"]
    np.testing.assert_array_equal(a["residual_norms"]["norm"], b["residual_norms"]["norm"])


def test_stale_entry_is_recomputed_with_warning(tmp_path, syn, view):
    cache = MeasurementCache(tmp_path)
    measure(syn, view, [ResidualNorms()], cache=cache, progress=False)
    j = next(tmp_path.rglob("*.json"))
    meta = json.loads(j.read_text())
    meta["payload"]["model"] = "someone-else@0"
    j.write_text(json.dumps(meta))
    with pytest.warns(StaleCacheWarning, match="stale"):
        measure(syn, view, [ResidualNorms()], cache=cache, progress=False)


def test_warm_rerun_is_at_least_10x_faster_on_a_real_model(tmp_path):
    lm = get("smollm2-135m-instruct")
    v = load_corpus().view(max_texts=16, max_tokens=256)
    cache = MeasurementCache(tmp_path)
    probes = [ResidualNorms(), NextTokenNLL()]
    t0 = time.perf_counter()
    cold = measure(lm, v, probes, cache=cache, progress=False)
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = measure(lm, v, probes, cache=cache, progress=False)
    t_warm = time.perf_counter() - t0
    print(f"cold {t_cold:.2f}s warm {t_warm:.3f}s ratio {t_cold / t_warm:.0f}x")
    assert t_cold / t_warm >= 10
    np.testing.assert_array_equal(cold["nll"]["nll"], warm["nll"]["nll"])


def test_derived_measurement_is_computed_once_and_cached_with_its_provenance(tmp_path):
    """A derived measurement (fine-tune, fitted temperature ...) is computed once per provenance, read
    back by a later session, and recomputed when any input of its provenance changes."""
    import numpy as np

    from lmclaims.cache import MeasurementCache
    calls = []

    def compute():
        calls.append(1)
        return {"norms": np.arange(3.0), "losses": np.array([2.0, 1.5]), "loss_before": np.float64(3.25)}

    payload = {"derived": "finetune", "model": "m@abc", "settings": {"steps": 40, "seed": 0}}
    first = MeasurementCache(tmp_path)
    a = first.derived(payload, compute)
    a["norms"][0] = 99.0                                  # callers get copies
    assert first.derived(payload, compute)["norms"][0] == 0.0 and len(calls) == 1
    later = MeasurementCache(tmp_path)                   # a later session reads it from disk
    back = later.derived(payload, compute)
    np.testing.assert_array_equal(back["losses"], [2.0, 1.5])
    assert back["loss_before"].shape == () and float(back["loss_before"]) == 3.25   # a scalar stays a scalar
    assert len(calls) == 1
    later.derived({**payload, "settings": {"steps": 40, "seed": 1}}, compute)
    assert len(calls) == 2
    off = MeasurementCache(tmp_path, enabled=False)      # cache off: still once per session
    off.derived(payload, compute), off.derived(payload, compute)
    assert len(calls) == 3
    with pytest.raises(ValueError, match="recipe"):
        first.derived({"model": "m@abc"}, compute)


def test_derived_json_round_trips_records_exactly_without_pickle(tmp_path):
    from lmclaims.cache import MeasurementCache
    record = [{"layer": 3, "eval_ppl": [12.5, 1 / 3], "steps_to_recover": None, "settings": {"lr": 1e-4}}]
    payload = {"derived": "recovery", "model": "m@abc"}
    MeasurementCache(tmp_path).derived_json(payload, lambda: record)
    back = MeasurementCache(tmp_path).derived_json(payload, lambda: pytest.fail("recomputed"))
    assert back == record and back[0]["eval_ppl"][1] == 1 / 3
