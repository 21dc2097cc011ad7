"""Weight manipulations at matched strength (seed 003 claim 4: "only weight scaling (α = 0.9)
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
from dataclasses import dataclass

import torch

from lmclaims.engine.interventions import Intervention
from lmclaims.probes.ablation import replaced_parameters

STRATEGIES = ("scale", "noise", "prune", "lowrank", "quantise")


def _seed_for(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}|{name}".encode()).digest()[:8], "little") % (2**63)


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
        g = torch.Generator(device="cpu").manual_seed(_seed_for(seed, name))
        eps = torch.randn(W.shape, generator=g, dtype=torch.float64)
        out = W64 + target * eps / eps.norm()
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
