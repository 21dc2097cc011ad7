"""Interventions on activations: edits of the residual stream at ``resid_post.{l}``. Block indices are 0-based.

- ``SkipBlock(l)``: block l returns its input unchanged (identity; ShortGPT-style layer removal).
- ``ScaleBlockOutput(l, alpha)``: h_l ← h_{l-1} + α·(h_l − h_{l-1}) (scales the block's update).
- ``ResidualNoise(l, sigma, relative)``: h_l ← h_l + σ·ε, ε ~ N(0, I) seeded by (seed, text); with
  ``relative=True`` σ is multiplied by RMS(h_l) per token (the reviewer's control, seed 002 §3).
  σ = 0 returns the block output object untouched, so the zero-noise null is bit-identical by
  construction *and* is tested end to end.
- ``MeanAblateBlock(l, mean)``: the block's update is replaced by a fixed mean update vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lmclaims.engine.interventions.base import Intervention, current_text_ids


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
