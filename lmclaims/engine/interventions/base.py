"""The intervention protocol: a named, parametrised set of edits at named sites.

An intervention is a frozen dataclass with a ``name`` and ``params()`` (recorded in cache keys and
verdicts) and its ``edits(adapter)``: ``(site, fn)`` pairs at named sites
(:mod:`lmclaims.models.sites`, e.g. ``resid_post.3``) that ``hooks(adapter)`` applies through the
engine's hook registry (:mod:`lmclaims.engine.hooks`) for a ``with``. Weight interventions
(:mod:`lmclaims.engine.interventions.weights`) override ``hooks`` instead and restore every
parameter bit for bit in ``finally``.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from lmclaims.engine.hooks import site_hooks
from lmclaims.models.adapter import Adapter


#: Text indices of the rows of the batch being run (set by the engine), so that seeded noise is a
#: function of (seed, text) and not of how texts were grouped into batches.
current_text_ids: contextvars.ContextVar = contextvars.ContextVar("lmclaims_text_ids", default=None)


class Intervention:
    """An intervention is a set of edits at named sites (``edits(adapter) -> [(site, fn)]``, see
    :mod:`lmclaims.engine.hooks`); ``hooks(adapter)`` applies them for a ``with`` through the engine's
    registry, which removes every hook in ``finally``. Weight swaps override ``hooks`` instead."""

    name = "none"

    def params(self) -> dict:
        return {}

    def describe(self) -> dict:
        return {"name": self.name, **self.params()}

    def edits(self, adapter: Adapter) -> list:
        return []

    def hooks(self, adapter: Adapter):
        return site_hooks(adapter, self.edits(adapter))


@dataclass(frozen=True)
class NoIntervention(Intervention):
    name = "none"
