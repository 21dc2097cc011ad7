"""Measurement cache integrity: key inputs, non-finite results, read-only and shared caches, geometry.

Each test injects one fault on a synthetic model (seconds, always available) and checks the outcome
is a miss + recomputation, a clear error, or a warning — never a silently different or stale number.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import warnings

import numpy as np
import pytest
import torch

from lmclaims import cache as cache_mod
from lmclaims.cache import MeasurementCache, NonFiniteMeasurement, ReadOnlyCacheWarning, StaleCacheWarning
from lmclaims.corpus import corpus_from_texts
from lmclaims.engine.forward import RunInfo, measure
from lmclaims.engine.interventions import ResidualNoise
from lmclaims.models import digests
from lmclaims.models.loading import PanelMismatch, load_model
from lmclaims.models.panel import load_panel
from lmclaims.models.synthetic import build_synthetic
from lmclaims.probes.nll import NextTokenNLL
from lmclaims.probes.residual import ResidualNorms

SYN = {e.name: e for e in load_panel("synthetic")}


@pytest.fixture()
def view():
    return corpus_from_texts(["one two three four five six seven", "alpha beta gamma delta epsilon"]).view(max_tokens=24)


def run(lm, view, cache, probe=None, **kw):
    info = RunInfo()
    out = measure(lm, view, [probe or NextTokenNLL()], cache=cache, progress=False, info=info, **kw)
    return out, info


def _hub_copy(entry, directory):
    return dataclasses.replace(entry, source="hub", synthetic=None, hub={"id": str(directory), "revision": None})


# --- 2. everything that changes a number is in the key -------------------------------------------

def test_bos_policy_is_in_the_key(tmp_path, view):
    cache = MeasurementCache(tmp_path)
    e = SYN["synthetic-llama"]
    plain = load_model(e, device="cpu")
    with_bos = load_model(dataclasses.replace(e, bos=True), device="cpu")
    assert plain.fingerprint != with_bos.fingerprint
    a, _ = run(plain, view, cache)
    b, info = run(with_bos, view, cache)
    assert info.computed == ["nll"], "bos=true must not be served the bos=false entry"
    assert any(a["nll"][k].shape != b["nll"][k].shape or not np.array_equal(a["nll"][k], b["nll"][k])
               for k in a["nll"]), "a BOS token changes the token sequence and so the measurement"


def test_local_weights_resaved_in_the_same_directory_miss(tmp_path, view, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = MeasurementCache(tmp_path / "cache")
    d = tmp_path / "tiny"
    e = _hub_copy(SYN["synthetic-llama"], d)
    for seed in (3, 4):
        model, tok = build_synthetic("llama", seed=seed, config={"num_key_value_heads": 2})
        model.save_pretrained(d)
        tok.save_pretrained(d)
        lm = load_model(e, device="cpu")
        out, info = run(lm, view, cache)
        assert info.computed == ["nll"], f"weights of seed {seed} were served another model's entry"
        if seed == 3:
            first = (lm.fingerprint, out)
    assert first[0] != lm.fingerprint
    assert any(not np.array_equal(first[1]["nll"][k], out["nll"][k]) for k in out["nll"])
    # unchanged directory: a hit
    _, info = run(load_model(e, device="cpu"), view, cache)
    assert info.cache_hits == ["nll"]


def test_tokenizer_files_are_in_the_key(tmp_path, view, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    d = tmp_path / "tiny"
    model, tok = build_synthetic("llama", seed=3, config={"num_key_value_heads": 2})
    model.save_pretrained(d)
    tok.save_pretrained(d)
    e = _hub_copy(SYN["synthetic-llama"], d)
    before = load_model(e, device="cpu").fingerprint
    spec = json.loads((d / "tokenizer.json").read_text())
    spec["added_tokens"].append({"id": 259, "content": "seven", "single_word": False, "lstrip": False,
                                 "rstrip": False, "normalized": False, "special": False})
    (d / "tokenizer.json").write_text(json.dumps(spec))
    after = load_model(e, device="cpu")
    assert after.tokenizer("seven", add_special_tokens=False)["input_ids"] == [259]   # the edit took effect
    assert after.fingerprint != before


def test_hub_snapshot_digest_follows_the_blob_it_links_to(tmp_path):
    blobs, snap = tmp_path / "blobs", tmp_path / "snapshots" / "abc"
    blobs.mkdir()
    snap.mkdir(parents=True)
    for name in ("a" * 64, "b" * 64):
        (blobs / name).write_bytes(b"weights " + name.encode())
    (snap / "model.safetensors").symlink_to(blobs / ("a" * 64))
    first = digests.weights_digest(snap)
    (snap / "model.safetensors").unlink()
    (snap / "model.safetensors").symlink_to(blobs / ("b" * 64))
    assert digests.weights_digest(snap) != first


# --- 5. non-finite results are errors, never cached -----------------------------------------------

def test_huge_noise_is_an_error_and_nothing_is_cached(tmp_path, view):
    cache = MeasurementCache(tmp_path)
    lm = load_model(SYN["synthetic-llama"], device="cpu")
    with pytest.raises(NonFiniteMeasurement, match="residual_norms.*non-finite values in norm"):
        run(lm, view, cache, probe=ResidualNorms(), intervention=ResidualNoise(0, 1e30, relative=False))
    assert not list(tmp_path.rglob("*.safetensors")) and not cache.memory


def test_put_refuses_non_finite_arrays(tmp_path):
    cache = MeasurementCache(tmp_path)
    with pytest.raises(NonFiniteMeasurement, match="x .*1 inf"):
        cache.put({"probe": "p"}, {"x": np.array([1.0, np.inf])})
    assert not list(tmp_path.rglob("*"))


# --- 4. read-only / shared caches -------------------------------------------------------------------

def test_read_only_cache_serves_hits_keeps_misses_in_memory_one_warning(tmp_path, view, monkeypatch):
    lm = load_model(SYN["synthetic-llama"], device="cpu")
    first, _ = run(lm, view, MeasurementCache(tmp_path))                  # a writable run fills the cache
    n_files = len([p for p in tmp_path.rglob("*") if p.is_file()])

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path))
    monkeypatch.setattr(cache_mod, "save_file", refuse)                    # the cache is now read-only
    ro = MeasurementCache(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hit, info = run(lm, view, ro)
        assert info.cache_hits == ["nll"]
        assert sorted(hit["nll"]) == sorted(first["nll"])
        for k in first["nll"]:
            np.testing.assert_array_equal(hit["nll"][k], first["nll"][k])
        computed, info = run(lm, view, ro, probe=ResidualNorms())        # a miss: computed, kept in memory
        assert info.computed == ["residual_norms"]
        run(lm, view, ro, probe=ResidualNorms(), intervention=ResidualNoise(0, 0.1))   # a second miss
        again, info = run(lm, view, ro, probe=ResidualNorms())           # the in-memory result is served
    assert info.cache_hits == ["residual_norms"]
    for k in computed["residual_norms"]:
        np.testing.assert_array_equal(again["residual_norms"][k], computed["residual_norms"][k])
    ro_warnings = [w for w in caught if issubclass(w.category, ReadOnlyCacheWarning)]
    assert len(ro_warnings) == 1, [str(w.message) for w in caught]
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == n_files


def test_entry_the_user_cannot_read_is_a_miss_and_is_not_deleted(tmp_path, view, monkeypatch):
    lm = load_model(SYN["synthetic-llama"], device="cpu")
    run(lm, view, MeasurementCache(tmp_path))
    files = sorted(tmp_path.rglob("*.json"))
    real_read = type(files[0]).read_text

    def denied(self, *a, **k):
        if self.suffix == ".json" and tmp_path in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self, *a, **k)
    monkeypatch.setattr(type(files[0]), "read_text", denied)
    monkeypatch.setattr(cache_mod, "save_file", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "ro")))
    with pytest.warns(StaleCacheWarning, match="not readable by this user"):
        _, info = run(lm, view, MeasurementCache(tmp_path))
    assert info.computed == ["nll"]
    assert all(f.exists() for f in files)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_real_read_only_directory(tmp_path, view):
    lm = load_model(SYN["synthetic-llama"], device="cpu")
    run(lm, view, MeasurementCache(tmp_path))
    for p in [tmp_path, *tmp_path.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        with pytest.warns(ReadOnlyCacheWarning):
            _, info = run(lm, view, MeasurementCache(tmp_path), probe=ResidualNorms())
        assert info.computed == ["residual_norms"]
    finally:
        for p in [tmp_path, *tmp_path.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


def test_entries_are_group_readable_under_a_private_umask(tmp_path, view):
    lm = load_model(SYN["synthetic-llama"], device="cpu")
    old = os.umask(0o077)
    try:
        run(lm, view, MeasurementCache(tmp_path))
    finally:
        os.umask(old)
    files = list(tmp_path.rglob("*.*"))
    assert files and all(f.stat().st_mode & stat.S_IRGRP for f in files), [oct(f.stat().st_mode) for f in files]


# --- 3. panel geometry is checked against the loaded model ------------------------------------------

@pytest.mark.parametrize("field, value", [("d_model", 999), ("params", 1), ("heads", 8), ("kv_heads", 4),
                                          ("vocab", 321), ("layers", 3)])
def test_panel_geometry_mismatch_is_a_clear_error(field, value):
    e = dataclasses.replace(SYN["synthetic-llama"], **{field: value})
    with pytest.raises(PanelMismatch, match=f"{field} = {value} in the panel"):
        load_model(e, device="cpu")


def test_params_within_rounding_pass():
    e = SYN["synthetic-llama"]
    lm = load_model(dataclasses.replace(e, params=round(e.params, -2)), device="cpu")   # 115008 -> 115000
    assert lm.info["geometry"]["params"] == e.params


def test_geometry_counts_tied_matrices_once():
    got = digests.loaded_geometry(load_model(SYN["synthetic-qwen2"], device="cpu").model)
    assert got["params"] == SYN["synthetic-qwen2"].params
    assert torch.is_tensor(load_model(SYN["synthetic-qwen2"], device="cpu").model.lm_head.weight)


def test_unreadable_fp32_manifest_is_a_permission_error_not_corruption(tmp_path, monkeypatch):
    (tmp_path / "w").write_bytes(b"abc")
    digests.write_manifest(tmp_path)
    real = type(tmp_path).read_text

    def denied(self, *a, **k):
        if self.name == digests.MANIFEST:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **k)
    monkeypatch.setattr(type(tmp_path), "read_text", denied)
    with pytest.raises(PermissionError):
        digests.verify_manifest(tmp_path)
    monkeypatch.undo()
    assert digests.verify_manifest(tmp_path) == []
    (tmp_path / "extra.bin").write_bytes(b"")
    assert digests.verify_manifest(tmp_path) == ["extra.bin: not in the manifest"]
