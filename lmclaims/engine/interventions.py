"""Interventions on the residual stream, as context managers that always remove their hooks.

Each intervention is a frozen dataclass with a ``name`` and ``params()`` (recorded in cache keys
and verdicts) and its ``edits(adapter)``: ``(site, fn)`` pairs at named sites
(:mod:`lmclaims.models.sites`, e.g. ``resid_post.3``) that ``hooks(adapter)`` applies through the
engine's hook registry (:mod:`lmclaims.engine.hooks`) for a ``with``. Block indices are 0-based.

- ``SkipBlock(l)``: block l returns its input unchanged (identity; ShortGPT-style layer removal).
- ``ScaleBlockOutput(l, alpha)``: h_l ← h_{l-1} + α·(h_l − h_{l-1}) (scales the block's update).
- ``ResidualNoise(l, sigma, relative)``: h_l ← h_l + σ·ε, ε ~ N(0, I) seeded; with ``relative=True``
  σ is multiplied by RMS(h_l) per token (the reviewer's control, seed 002 §3). σ = 0 returns the
  block output object untouched, so the zero-noise null is bit-identical by construction *and* is
  tested end to end.
- ``MeanAblateBlock(l, mean)``: the block's update is replaced by a fixed mean update vector.
- ``SwapWeights``: base class of weight substitutions (seed 003: predicted weights and their
  nulls, lmclaims/probes/substitution.py). A subclass says which layers it touches and returns
  ``replacement(adapter) -> {layer: {parameter name: tensor}}``; ``hooks`` writes those tensors
  with :func:`swapped_weights`, which restores the originals bit for bit in ``finally``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

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


@dataclass(frozen=True)
class SkipBlock(Intervention):
    layer: int
    name = "skip_block"

    def params(self):
        return {"layer": self.layer}

    def edits(self, adapter):
        return [(f"resid_post.{self.layer}", lambda x, y: x)]


@dataclass(frozen=True)
class ScaleBlockOutput(Intervention):
    layer: int
    alpha: float
    name = "scale_block_update"

    def params(self):
        return {"layer": self.layer, "alpha": self.alpha}

    def edits(self, adapter):
        a = self.alpha
        return [(f"resid_post.{self.layer}", lambda x, y: x + a * (y - x))]


@dataclass(frozen=True)
class MeanAblateBlock(Intervention):
    layer: int
    mean_update: tuple = field(repr=False)   # the block's mean update vector (d_model floats)
    name = "mean_ablate_block"

    def params(self):
        import hashlib
        h = hashlib.sha256(torch.tensor(self.mean_update, dtype=torch.float32).numpy().tobytes()).hexdigest()
        return {"layer": self.layer, "mean_update_sha256": h[:16]}

    def edits(self, adapter):
        def fn(x, y):
            return x + torch.as_tensor(self.mean_update, dtype=x.dtype, device=x.device)
        return [(f"resid_post.{self.layer}", fn)]


@dataclass(frozen=True)
class ResidualNoise(Intervention):
    layer: int
    sigma: float
    relative: bool = True
    seed: int = 0
    name = "residual_noise"

    def params(self):
        return {"layer": self.layer, "sigma": self.sigma, "relative": self.relative, "seed": self.seed}

    def edits(self, adapter):
        if self.sigma == 0:
            # zero noise: register the hook anyway (the path is exercised) but return the output as is
            return [(f"resid_post.{self.layer}", lambda x, y: None)]
        def fn(x, y):
            ids = current_text_ids.get()
            if ids is None:
                ids = [(r, y.shape[1]) for r in range(y.shape[0])]
            eps = torch.zeros(y.shape, dtype=torch.float32)
            for row, (tid, n) in enumerate(ids):   # one generator per text: independent of batching
                gen = torch.Generator(device="cpu").manual_seed(self.seed * 1_000_003 + int(tid))
                n = min(int(n), y.shape[1])
                eps[row, :n] = torch.randn((n,) + tuple(y.shape[2:]), generator=gen, dtype=torch.float32)
            eps = eps.to(device=y.device, dtype=y.dtype)
            scale = self.sigma
            if self.relative:
                scale = self.sigma * y.float().pow(2).mean(dim=-1, keepdim=True).sqrt().to(y.dtype)
            return y + scale * eps
        return [(f"resid_post.{self.layer}", fn)]


# --------------------------------------------------------------------------- weight swaps

@contextlib.contextmanager
def swapped_weights(blocks, new: Mapping[int, Mapping[str, torch.Tensor]]):
    """Write ``new[l][name]`` into parameter ``name`` of ``blocks[l]`` for the ``with``; restore in ``finally``.

    Every target is checked (layer in range, parameter exists, same shape) before anything is
    written, so bad input leaves the model untouched. Each original is cloned just before it is
    overwritten and copied back in ``finally`` — on normal exit, on an error inside the ``with``
    and on an error part-way through writing — so the parameters keep their identity and bits.
    """
    targets = []
    for layer, named in new.items():
        if not 0 <= int(layer) < len(blocks):
            raise IndexError(f"layer {layer} out of range for {len(blocks)} blocks")
        params = dict(blocks[int(layer)].named_parameters())
        for name, value in named.items():
            if name not in params:
                raise KeyError(f"block {layer} has no parameter {name!r}")
            if tuple(value.shape) != tuple(params[name].shape):
                raise ValueError(f"block {layer} {name}: replacement shape {tuple(value.shape)} != "
                                 f"{tuple(params[name].shape)}")
            targets.append((params[name], value))
    saved = []
    try:
        with torch.no_grad():
            for p, value in targets:
                saved.append((p, p.detach().clone()))
                p.copy_(value.to(dtype=p.dtype, device=p.device))
        yield
    finally:
        with torch.no_grad():
            for p, old in reversed(saved):
                p.copy_(old)


class SwapWeights(Intervention):
    """A weight substitution: ``replacement(adapter)`` gives ``{layer: {name: tensor}}`` for
    ``self.layers``; the replacement is computed when the ``with`` is entered (from the model's
    own weights, so ``params()`` — the recipe — identifies it together with the model fingerprint)."""

    name = "swap_weights"
    layers: tuple = ()

    def replacement(self, adapter: Adapter) -> dict[int, dict[str, torch.Tensor]]:  # pragma: no cover
        raise NotImplementedError

    @property
    def first_layer(self) -> int:
        """The lowest substituted block: blocks before it see clean inputs (used by suffix re-runs)."""
        return min(int(l) for l in self.layers)

    @contextlib.contextmanager
    def hooks(self, adapter: Adapter):
        if not self.layers:
            raise ValueError(f"{type(self).__name__} needs at least one layer")
        with swapped_weights(adapter.blocks, self.replacement(adapter)):
            yield
