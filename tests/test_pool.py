"""The session's model pool (lmclaims.models.pool): load once, keep recent models within a byte budget."""

from __future__ import annotations

import pytest

from lmclaims.models import pool as pool_mod
from lmclaims.models.pool import ModelPool, default_keep_bytes, model_bytes
from tests import real_models

NAMES = ["synthetic-llama", "synthetic-gpt2", "synthetic-qwen2"]


def _pool(keep_bytes, monkeypatch, loads):
    real = pool_mod.load_model

    def counting(entry, **kw):
        loads.append(entry.name)
        return real(entry, **kw)
    monkeypatch.setattr(pool_mod, "load_model", counting)
    entries = [real_models.synthetic_entries()[n] for n in NAMES]
    return ModelPool(entries, device="cpu", keep_bytes=keep_bytes)


def test_a_large_budget_keeps_every_model_loaded_once(monkeypatch):
    loads = []
    pool = _pool(10**12, monkeypatch, loads)
    first = [pool.get(n) for n in NAMES]
    again = [pool.get(n) for n in NAMES + NAMES]
    assert loads == NAMES and again == first + first
    assert pool.current is first[-1] and list(pool.loaded) == NAMES


def test_a_zero_budget_holds_one_model_and_frees_the_rest(monkeypatch):
    loads = []
    pool = _pool(0, monkeypatch, loads)
    a = pool.get(NAMES[0])
    b = pool.get(NAMES[1])
    assert list(pool.loaded) == [NAMES[1]] and a.model is None and b.model is not None   # a was freed
    pool.get(NAMES[0])
    assert loads == [NAMES[0], NAMES[1], NAMES[0]]


def test_least_recently_used_goes_first(monkeypatch):
    loads = []
    probe = ModelPool([real_models.synthetic_entries()[NAMES[0]]], device="cpu", keep_bytes=0)
    size = model_bytes(probe.get(NAMES[0]))
    pool = _pool(int(2.5 * size), monkeypatch, loads)               # room for two synthetic models
    pool.get(NAMES[0]), pool.get(NAMES[1])
    pool.get(NAMES[0])                                               # NAMES[1] is now the oldest
    pool.get(NAMES[2])
    assert list(pool.loaded) == [NAMES[0], NAMES[2]]
    pool.release()
    assert not pool.loaded and pool.current is None


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("LMCLAIMS_POOL_BYTES", "123")
    assert default_keep_bytes("cpu") == 123
    monkeypatch.setenv("LMCLAIMS_POOL_BYTES", "lots")
    with pytest.raises(ValueError, match="LMCLAIMS_POOL_BYTES"):
        default_keep_bytes("cpu")
    monkeypatch.delenv("LMCLAIMS_POOL_BYTES")
    assert default_keep_bytes("cpu") > 0 and default_keep_bytes("cuda") == 0
