"""Keep at most one model in memory: ``ModelPool.get(name)`` frees the previous model first.

Both the per-model ``model`` fixture and panel-level claims (which visit every model in turn)
go through one pool per session, so a run never holds two models at once (the 1.5B alone peaks
at 8.8 GB). Failures to load are remembered per name, so an unavailable model costs one attempt
(a ``PanelMismatch`` is remembered too: every test of that model then errors with the same message).
"""

from __future__ import annotations

import gc
import logging

import torch

from lmclaims import progress
from lmclaims.models.loading import CorruptModel, LoadedModel, ModelUnavailable, PanelMismatch, load_model
from lmclaims.models.panel import PanelEntry

log = logging.getLogger(__name__)


class ModelPool:
    def __init__(self, entries: list[PanelEntry], *, device="auto", dtype="float32", trust_remote_code=False):
        self.entries = {e.name: e for e in entries}
        self.device, self.dtype, self.trust_remote_code = device, dtype, trust_remote_code
        self.current: LoadedModel | None = None
        self.failures: dict[str, Exception] = {}
        self.loaded_metadata: dict[str, dict] = {}

    def get(self, name: str) -> LoadedModel:
        if self.current is not None and self.current.name == name:
            return self.current
        if name in self.failures:
            raise self.failures[name]
        if name not in self.entries:
            raise ModelUnavailable(f"model {name!r} is not in the active panel ({', '.join(self.entries)})")
        self.release()
        entry = self.entries[name]
        try:
            with progress.step(f"{name}: loading ({entry.source})"):
                lm = load_model(entry, device=self.device, dtype=self.dtype,
                                trust_remote_code=self.trust_remote_code)
        except (ModelUnavailable, CorruptModel, PanelMismatch) as exc:
            self.failures[name] = exc
            raise
        self.current = lm
        self.loaded_metadata[name] = lm.metadata()
        return lm

    def release(self) -> None:
        if self.current is not None:
            self.current.free()
            self.current = None
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
