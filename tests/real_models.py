"""Helpers for tests that need the real offline models: load one at a time, skip with reason."""

from __future__ import annotations

import functools

import pytest

from lmclaims.models.loading import CorruptModel, ModelUnavailable, load_model
from lmclaims.models.panel import load_panel

OFFLINE = [e.name for e in load_panel("offline")]
_current: dict = {}


def entry(name: str):
    return {e.name: e for e in load_panel("offline")}[name]


def get(name: str):
    """The loaded offline model ``name`` (the previous one is freed); skip when unavailable."""
    if _current.get("name") == name:
        return _current["lm"]
    if "lm" in _current:
        _current.pop("lm").free()
        _current.pop("name", None)
    try:
        lm = load_model(entry(name), device="cpu")
    except (ModelUnavailable, CorruptModel) as exc:
        pytest.skip(f"{name} unavailable: {exc}")
    _current.update(name=name, lm=lm)
    return lm


@functools.lru_cache(maxsize=None)
def synthetic_entries():
    return {e.name: e for e in load_panel("synthetic")}
