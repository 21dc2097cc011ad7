"""Residual-stream probes: norms, gains and directions per (token, layer).

``ResidualNorms`` records, for every token (all positions), the L2 norm of the residual stream at
every depth — ``norm[:, 0]`` at the embeddings, ``norm[:, l]`` after block l-1, before the final
norm — and the cosine between consecutive depths, ``cos_prev[:, l-1] = cos(h_{l-1}, h_l)``.

Derived quantities (pure numpy, below):
- block gain g_l = ‖h_l‖ / ‖h_{l-1}‖ (corrected definition, definitions.md §1);
- as-published hidden-states G = ‖hs[-2]‖/‖hs[-3]‖ at the last token = gain of the penultimate
  block, ``norm[last, L-1] / norm[last, L-2]``;
- as-published hook G = last block's gain at the last token, ``norm[last, L] / norm[last, L-1]``;
- Block Influence BI_l = 1 − E cos(h_{l-1}, h_l) (ShortGPT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmclaims.probes.base import Probe, RowAccumulator


@dataclass(frozen=True)
class ResidualNorms(Probe):
    name = "residual_norms"
    version = 1

    def accumulator(self, lm, view):
        return _NormsAcc()


class _NormsAcc(RowAccumulator):
    def update(self, batch):
        mask = batch.mask
        R = torch.stack([r.float() for r in batch.resid], dim=2)        # [B, T, L+1, d]
        norms = R.norm(dim=-1)                                          # [B, T, L+1]
        a, b = R[:, :, :-1], R[:, :, 1:]
        cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-30)
        pos = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        ti = torch.as_tensor(batch.text_index, device=mask.device)[:, None].expand_as(mask)
        self.add(norm=norms[mask].cpu().numpy().astype(np.float32),
                 cos_prev=cos[mask].cpu().numpy().astype(np.float32),
                 text_index=ti[mask].cpu().numpy().astype(np.int32),
                 position=pos[mask].cpu().numpy().astype(np.int32))


def block_gains(norm: np.ndarray) -> np.ndarray:
    """g[:, l-1] = ‖h_l‖ / ‖h_{l-1}‖ for l = 1..L  ->  [rows, L]."""
    return norm[:, 1:] / norm[:, :-1]


def last_token_rows(text_index: np.ndarray, position: np.ndarray, n_texts: int) -> np.ndarray:
    """Row index of each text's last token (the as-published definitions read only that token)."""
    last = np.full(n_texts, -1)
    best = np.full(n_texts, -1)
    for r, (t, p) in enumerate(zip(text_index, position)):
        if p > best[t]:
            best[t], last[t] = p, r
    return last
