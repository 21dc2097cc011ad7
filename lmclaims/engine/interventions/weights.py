"""Interventions on weights: each writes replacement parameters for a ``with`` and restores the
originals bit for bit in ``finally`` (on normal exit, on an error inside the ``with`` and on an
error part-way through writing), so the parameters keep their identity and their exact bits.

- :func:`replaced_parameters` (one module) and :func:`swapped_weights` (``{layer: {name: tensor}}``
  over the blocks) are the two writers; every target is checked before anything is written.
- ``NeighbourAverageBlock(l)``: block l's parameters := mean of its neighbours' (seed 003's
  "neighbour" ablation; ends copy their only neighbour).
- ``SwapWeights``: base class of weight substitutions computed from the model's own weights
  (:mod:`lmclaims.engine.interventions.predicted`).
- ``ManipulateWeights(strategy, strength)``: weight manipulations at matched strength (below).

Weight manipulations at matched strength (seed 003 claim 4: "only weight scaling (α = 0.9)
preserves model quality among five tested manipulation strategies").

The paper's five strategies and their strengths are not public. Our reading, fixed before measuring:

* scope — every 2-D weight of every decoder block (attention q/k/v/o and MLP gate/up/down for
  llama-like models; whatever matrices a block holds otherwise); embeddings, unembedding and norm
  gains untouched. The digest's "scaling α = 0.9 gives +19% PPL" reads most naturally as a
  whole-model manipulation; ``layers=`` restricts the scope (e.g. one layer) if wanted.
* strength — the change of every matrix has the same relative Frobenius norm ``s`` as scaling:
  ``‖ΔW‖_F = s·‖W‖_F`` with ``s = 1 − α = 0.1`` for α = 0.9.

Strategies (each a deterministic function of ``W``, ``s`` and, for noise, a seed):

``scale``     W ← (1 − s)·W.
``noise``     W ← W + s·‖W‖_F · ε/‖ε‖_F, ε ~ N(0, I) from a generator seeded by (seed, matrix name).
``prune``     magnitude pruning: zero the smallest-|w| entries, as many as keep the removed norm
              ≤ s·‖W‖_F (the largest such set; the achieved ratio is within one entry of s).
``lowrank``   SVD truncation: drop the smallest singular values, as many as keep the removed norm
              ≤ s·‖W‖_F (whole singular values, so the achieved ratio may fall short of s —
              ``achieved`` reports it).
``quantise``  uniform rounding to a grid of step Δ (W ← Δ·round(W/Δ), no clipping), Δ found by
              bisection so that the rounding error has norm s·‖W‖_F (±0.5%).

:class:`ManipulateWeights` is an engine ``Intervention`` (its parameters enter the cache key) whose
``hooks`` context manager writes the manipulated weights and restores the originals bit for bit.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from lmclaims.engine.interventions.base import Intervention
from lmclaims.models.adapter import Adapter


@contextlib.contextmanager
def replaced_parameters(module: torch.nn.Module, new: dict[str, torch.Tensor]):
    """Temporarily set parameters of ``module`` (by name) to ``new`` values; bit-exact restore.

    Names and shapes are checked before anything is written; the originals are cloned and copied back in ``finally`` (also on
    error), so the module's tensors keep their identity and their exact bits.
    """
    params = dict(module.named_parameters())
    unknown = set(new) - set(params)
    if unknown:
        raise KeyError(f"no parameters named {sorted(unknown)} in {type(module).__name__}")
    for n, v in new.items():
        if tuple(v.shape) != tuple(params[n].shape):
            raise ValueError(f"{n}: replacement shape {tuple(v.shape)} != {tuple(params[n].shape)}")
    saved = {n: params[n].detach().clone() for n in new}
    try:
        with torch.no_grad():
            for n, v in new.items():
                params[n].copy_(v.to(dtype=params[n].dtype, device=params[n].device))
        yield
    finally:
        with torch.no_grad():
            for n, v in saved.items():
                params[n].copy_(v)


def neighbour_average_state(blocks, layer: int) -> dict[str, torch.Tensor]:
    """Every parameter of block ``layer`` replaced by the mean of its neighbours' (ends: copy)."""
    L = len(blocks)
    if not 0 <= layer < L:
        raise IndexError(f"layer {layer} out of range for {L} blocks")
    if L < 2:
        raise ValueError("neighbour averaging needs at least 2 blocks")
    nb = [j for j in (layer - 1, layer + 1) if 0 <= j < L]
    states = [dict(blocks[j].named_parameters()) for j in nb]
    out = {}
    for name, p in blocks[layer].named_parameters():
        vals = [s[name].detach() for s in states]
        out[name] = (vals[0] + vals[1]) / 2 if len(vals) == 2 else vals[0].clone()
    return out


@dataclass(frozen=True)
class NeighbourAverageBlock(Intervention):
    """Block ``layer``'s parameters := mean of its neighbours' for the duration of the ``with``."""

    layer: int
    name = "neighbour_average_block"

    def params(self):
        return {"layer": self.layer, "ends": "copy of the only neighbour"}

    def hooks(self, adapter):
        return replaced_parameters(adapter.blocks[self.layer], neighbour_average_state(adapter.blocks, self.layer))


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


# --------------------------------------------------------------------------- manipulations

STRATEGIES = ("scale", "noise", "prune", "lowrank", "quantise")


def random_direction(shape, norm: float, *seed_parts) -> torch.Tensor:
    """``norm · ε/‖ε‖_F`` (float64), ε ~ N(0, I) from a generator seeded by sha256 of the ``|``-joined
    ``seed_parts`` (e.g. ``(seed, matrix name)``): the same error in every run, independent per matrix."""
    key = "|".join(str(p) for p in seed_parts)
    g = torch.Generator(device="cpu").manual_seed(
        int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") % (2**63))
    eps = torch.randn(tuple(shape), generator=g, dtype=torch.float64)
    return norm * eps / eps.norm()


def manipulated_weight(W: torch.Tensor, strategy: str, strength: float, *, seed: int = 0, name: str = "") -> torch.Tensor:
    """The manipulated copy of matrix ``W`` (see module docstring); ``W`` is not modified."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"strength must lie in [0, 1), got {strength}")
    W64 = W.detach().double()
    if strength == 0.0:
        return W.detach().clone()
    target = strength * float(W64.norm())
    if strategy == "scale":
        out = (1.0 - strength) * W64
    elif strategy == "noise":
        out = W64 + random_direction(W.shape, target, seed, name)
    elif strategy == "prune":
        flat = W64.reshape(-1)
        order = torch.argsort(flat.abs())
        cum = torch.cumsum(flat[order] ** 2, 0)
        k = int(torch.searchsorted(cum, torch.tensor(target ** 2, dtype=torch.float64), right=True))
        out = flat.clone()
        out[order[:k]] = 0.0
        out = out.reshape(W.shape)
    elif strategy == "lowrank":
        U, S, Vh = torch.linalg.svd(W64, full_matrices=False)
        tail = torch.cumsum((S ** 2).flip(0), 0)               # removed energy when dropping the last j
        j = int(torch.searchsorted(tail, torch.tensor(target ** 2, dtype=torch.float64), right=True))
        r = S.numel() - j
        out = (U[:, :r] * S[:r]) @ Vh[:r]
    else:  # quantise
        lo, hi = 0.0, 4.0 * float(W64.abs().max())
        for _ in range(60):
            step = 0.5 * (lo + hi)
            err = float((torch.round(W64 / step) * step - W64).norm())
            if abs(err - target) <= 0.005 * target:
                break
            lo, hi = (step, hi) if err < target else (lo, step)
        out = torch.round(W64 / step) * step
    return out.to(W.dtype)


def achieved_strength(W: torch.Tensor, W_new: torch.Tensor) -> float:
    """‖W_new − W‖_F / ‖W‖_F."""
    return float((W_new.double() - W.double()).norm() / W.double().norm())


@dataclass(frozen=True)
class ManipulateWeights(Intervention):
    """Apply one strategy at relative strength ``strength`` to every 2-D weight of the chosen blocks
    (``layers`` None: all blocks) for the duration of the ``with``; bit-exact restore."""

    strategy: str
    strength: float = 0.1
    seed: int = 0
    layers: tuple | None = None
    name = "manipulate_weights"

    def params(self):
        return {"strategy": self.strategy, "strength": self.strength, "seed": self.seed,
                "layers": "all" if self.layers is None else [int(l) for l in self.layers],
                "scope": "every 2-D weight of the chosen decoder blocks"}

    @contextlib.contextmanager
    def hooks(self, adapter):
        layers = range(adapter.n_layers) if self.layers is None else [int(l) for l in self.layers]
        with contextlib.ExitStack() as stack:
            for l in layers:
                block = adapter.blocks[l]
                new = {n: manipulated_weight(p, self.strategy, self.strength, seed=self.seed, name=f"{l}.{n}")
                       for n, p in block.named_parameters() if p.ndim == 2}
                stack.enter_context(replaced_parameters(block, new))
            yield
