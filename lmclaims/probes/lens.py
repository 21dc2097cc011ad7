"""Logit-lens geometry per (token, layer): the distribution p_l = softmax(cap(W_U · norm_f(h_l))/T).

For sampled positions of each text (position 0 skipped; ``positions_per_text`` per text, seeded
by text id) and every block output l = 1..L, the streaming lens computes the features of
``lmclaims.engine.lens.geometry_features``: entropy, entropy_norm (H/ln V), p1, p2, margin,
ratio21, topk_mass (k=10), count_above (p > 1%). Result arrays are [rows, L] per feature plus
``text_index`` and ``position``; the last layer reproduces the model's own distribution.
The architecture's own final-logit softcap is applied unless ``transform`` overrides it
(``native_softcap=False`` removes it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmclaims.engine.forward import sample_positions
from lmclaims.engine.lens import LogitTransform, geometry_features, lens_stats
from lmclaims.probes.base import Probe, RowAccumulator

FEATURES = ("entropy", "entropy_norm", "p1", "p2", "margin", "ratio21", "topk_mass", "count_above")


@dataclass(frozen=True)
class LensGeometry(Probe):
    name = "lens_geometry"
    version = 1
    positions_per_text: int | None = 16
    temperature: float = 1.0
    softcap: float | None = None        # an extra cap applied on top (the softcap control)
    native_softcap: bool = True         # apply the architecture's own final-logit cap
    topk_mass_k: int = 10
    threshold: float = 0.01
    seed: int = 0
    rows_per_chunk: int = 256

    def params(self) -> dict:
        d = super().params()
        d.pop("rows_per_chunk")
        return d

    def accumulator(self, lm, view):
        return _LensAcc(self, lm)


class _LensAcc(RowAccumulator):
    def __init__(self, probe: LensGeometry, lm):
        super().__init__()
        self.p, self.ad = probe, lm.adapter
        native = lm.adapter.logit_softcap if probe.native_softcap else None
        caps = [c for c in (native, probe.softcap) if c]
        # the tighter cap dominates; applying both would double-cap, so use the smallest
        self.tf = LogitTransform(temperature=probe.temperature, softcap=min(caps) if caps else None)

    def update(self, batch):
        rows, cols, tix = [], [], []
        for r in range(len(batch.lengths)):
            pos = sample_positions(batch.text_ids[r], int(batch.lengths[r]), self.p.positions_per_text, seed=self.p.seed)
            rows += [r] * len(pos)
            cols += pos.tolist()
            tix += [int(batch.text_index[r])] * len(pos)
        if not rows:
            return
        dev = batch.resid[0].device
        ri, ci = torch.tensor(rows, device=dev), torch.tensor(cols, device=dev)
        L = len(batch.resid) - 1
        X = torch.stack([batch.resid[l][ri, ci] for l in range(1, L + 1)], dim=1)   # [P, L, d]
        P = X.shape[0]
        flat = X.reshape(P * L, -1)
        feats: dict[str, list] = {}
        for s in range(0, flat.shape[0], self.p.rows_per_chunk):
            st = lens_stats(self.ad.normed(flat[s:s + self.p.rows_per_chunk]), self.ad.unembed_weight,
                            self.ad.unembed_bias, transform=self.tf)
            for k, v in geometry_features(st, self.ad.vocab_size, topk_mass_k=self.p.topk_mass_k,
                                          threshold=self.p.threshold).items():
                feats.setdefault(k, []).append(v)
        out = {k: torch.cat(v).reshape(P, L).cpu().numpy().astype(np.float32) for k, v in feats.items()}
        self.add(**out, text_index=np.asarray(tix, dtype=np.int32), position=np.asarray(cols, dtype=np.int32))
