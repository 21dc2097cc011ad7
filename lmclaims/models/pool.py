"""The session's loaded models: ``ModelPool.get(name)`` loads a model once and keeps recent ones.

Both the per-model ``model`` fixture and panel-level claims (which visit every model in turn) go
through one pool per session. The pool keeps the most recently used models while their weights fit
in ``keep_bytes`` (parameters + buffers), freeing the least recently used first; a model larger
than the budget is held alone. Default budget (:func:`default_keep_bytes`): on CPU a quarter of the
machine's memory, so the offline panel's three models (3.6 GB in fp32) stay loaded across the claim
modules and a warm re-run loads each model once, while the 1.5B model (6 GB, peaking at 8.8 GB)
is held alone; on CUDA one model at a time. ``$LMCLAIMS_POOL_BYTES`` overrides it (``0``: one model).
Failures to load are remembered per name, so an unavailable model costs one attempt (a
``PanelMismatch`` is remembered too: every test of that model then errors with the same message).
"""

from __future__ import annotations

import gc
import logging
import os
from collections import OrderedDict

import torch

from lmclaims import progress
from lmclaims.models.loading import CorruptModel, LoadedModel, ModelUnavailable, PanelMismatch, load_model
from lmclaims.models.panel import PanelEntry

log = logging.getLogger(__name__)


def default_keep_bytes(device) -> int:
    """``$LMCLAIMS_POOL_BYTES``, else a quarter of physical memory on CPU, else 0 (one model)."""
    env = os.environ.get("LMCLAIMS_POOL_BYTES")
    if env:
        try:
            return max(0, int(env))
        except ValueError:
            raise ValueError(f"$LMCLAIMS_POOL_BYTES must be a number of bytes, got {env!r}") from None
    if str(device).startswith("cuda") or (str(device) == "auto" and torch.cuda.is_available()):
        return 0
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 0


def model_bytes(lm: LoadedModel) -> int:
    """Bytes of a loaded model's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in (*lm.model.parameters(), *lm.model.buffers()))


class ModelPool:
    def __init__(self, entries: list[PanelEntry], *, device="auto", dtype="float32", trust_remote_code=False,
                 keep_bytes: int | None = None):
        self.entries = {e.name: e for e in entries}
        self.device, self.dtype, self.trust_remote_code = device, dtype, trust_remote_code
        self.keep_bytes = default_keep_bytes(device) if keep_bytes is None else int(keep_bytes)
        self.loaded: OrderedDict[str, tuple[LoadedModel, int]] = OrderedDict()   # least recently used first
        self.failures: dict[str, Exception] = {}
        self.loaded_metadata: dict[str, dict] = {}

    @property
    def current(self) -> LoadedModel | None:
        """The most recently used loaded model."""
        return next(reversed(self.loaded.values()))[0] if self.loaded else None

    def get(self, name: str) -> LoadedModel:
        if name in self.loaded:
            self.loaded.move_to_end(name)
            return self.loaded[name][0]
        if name in self.failures:
            raise self.failures[name]
        if name not in self.entries:
            raise ModelUnavailable(f"model {name!r} is not in the active panel ({', '.join(self.entries)})")
        entry = self.entries[name]
        self._evict(entry.params * 4)                 # room for the new model (fp32 estimate) first
        try:
            with progress.step(f"{name}: loading ({entry.source})"):
                lm = load_model(entry, device=self.device, dtype=self.dtype,
                                trust_remote_code=self.trust_remote_code)
        except (ModelUnavailable, CorruptModel, PanelMismatch) as exc:
            self.failures[name] = exc
            raise
        self.loaded[name] = (lm, model_bytes(lm))
        self.loaded_metadata[name] = lm.metadata()
        self._evict(0, keep=name)
        return lm

    def _evict(self, incoming: int, keep: str | None = None) -> None:
        """Free least recently used models until the held ones (+ ``incoming``) fit the budget."""
        freed = False
        while self.loaded:
            held = sum(b for _, b in self.loaded.values())
            oldest = next(iter(self.loaded))
            if held + incoming <= self.keep_bytes or oldest == keep:
                break
            lm, _ = self.loaded.pop(oldest)
            lm.free()
            freed = True
        if freed:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def release(self) -> None:
        """Free every loaded model."""
        while self.loaded:
            self.loaded.popitem(last=False)[1][0].free()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
