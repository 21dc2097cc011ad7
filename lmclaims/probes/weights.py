"""W_V / W_O statistics of a model's attention layers: as published and per head (corrected).

Seed 000 claims "the ratio ||W_V|| / ||W_O|| predicts whether a model dampens or expands, with ~10x
differences between labs". definitions.md §1 ("||W_V|| / ||W_O||") records what the author's code
does: spectral norms (σ_max) of **whole-layer** matrices, averaged over layers; the ratio itself is
never computed; for fused-qkv families (Pythia, BLOOM) "W_V" is a wrong slice.

``weight_stats(adapter)`` returns both views:

- **as published** (``lmclaims.models.heads.as_published_wv_wo``, the author's slice bug included):
  per layer σ_max(W_V), σ_max(W_O); the model's V mean and O mean over layers (the numbers of the
  paper's table) and ``as_published_ratio`` = mean_l σ_V / mean_l σ_O (ratio of the table's means;
  the mean of per-layer ratios is kept as ``as_published_ratio_of_layers``);
- **corrected, per head** (``attention_weights``: correct fused-qkv reshape, GQA head→group map):
  per (layer, head) ‖W_V^h‖ and ‖W_O^h‖ (Frobenius and spectral), their ratio, and the OV circuit
  W_OV^h = W_V^{g(h)} W_O^h (Frobenius and spectral). The per-model summary of the ratio is the
  geometric mean over all (layer, head) of ‖W_V^h‖_F / ‖W_O^h‖_F (ratios average on a log scale).

A note on what the ratio can mean: rescaling W_V by c and W_O by 1/c leaves the network function
unchanged, so ‖W_V‖/‖W_O‖ is not identified by the function (only W_OV is); in pre-norm models the
RMSNorm gain before W_V can absorb further scale. Norm-gain folding is *not* applied here, as in
the paper; the corrected functional quantity is ‖W_OV‖.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmclaims.models.heads import as_published_wv_wo, attention_weights

__all__ = ["WeightStats", "weight_stats"]


STATS_VERSION = 1  # bump when weight_stats changes its numbers (cache provenance)
ARRAYS = ("sigma_v", "sigma_o", "v_fro", "o_fro", "v_spec", "o_spec", "ov_fro", "ov_spec")


@dataclass(frozen=True)
class WeightStats:
    n_layers: int
    n_heads: int
    sigma_v: np.ndarray          # [L]      as published: σ_max of the whole-layer "W_V"
    sigma_o: np.ndarray          # [L]      as published: σ_max of the whole-layer W_O
    v_fro: np.ndarray            # [L, H]   per query head ‖W_V^{g(h)}‖_F
    o_fro: np.ndarray            # [L, H]   ‖W_O^h‖_F
    v_spec: np.ndarray           # [L, H]
    o_spec: np.ndarray           # [L, H]
    ov_fro: np.ndarray           # [L, H]   ‖W_V^{g(h)} W_O^h‖_F
    ov_spec: np.ndarray          # [L, H]
    extra: dict = field(default_factory=dict)

    @property
    def v_mean(self) -> float:
        return float(self.sigma_v.mean())

    @property
    def o_mean(self) -> float:
        return float(self.sigma_o.mean())

    @property
    def as_published_ratio(self) -> float:
        """mean_l σ_max(W_V) / mean_l σ_max(W_O) — the ratio of the paper's table entries."""
        return self.v_mean / self.o_mean

    @property
    def as_published_ratio_of_layers(self) -> float:
        return float(np.mean(self.sigma_v / self.sigma_o))

    @property
    def per_head_ratio(self) -> np.ndarray:
        """[L, H] ‖W_V^h‖_F / ‖W_O^h‖_F."""
        return self.v_fro / self.o_fro

    @property
    def corrected_ratio(self) -> float:
        """Geometric mean over (layer, head) of ‖W_V^h‖_F / ‖W_O^h‖_F."""
        return float(np.exp(np.log(self.per_head_ratio).mean()))

    def summary(self) -> dict:
        return {"v_mean_as_published": self.v_mean, "o_mean_as_published": self.o_mean,
                "ratio_as_published": self.as_published_ratio,
                "ratio_of_layer_ratios_as_published": self.as_published_ratio_of_layers,
                "ratio_per_head_geomean": self.corrected_ratio,
                "ov_fro_mean": float(self.ov_fro.mean()), "ov_spec_mean": float(self.ov_spec.mean())}


def weight_stats(adapter, *, num_threads: int | None = None) -> WeightStats:
    """All W_V/W_O statistics of every attention layer of ``adapter``'s model.

    The SVDs run with ``num_threads`` torch threads (restored after): on an oversubscribed CPU a
    576x576 σ_max took 9.7 s with 2 threads and 0.09 s with 1 (measured on the dev machine).
    """
    import torch

    old = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        return _weight_stats(adapter)
    finally:
        torch.set_num_threads(old)


def _weight_stats(adapter) -> WeightStats:
    sv, so, rows = [], [], []
    for layer in range(adapter.n_layers):
        v, o = as_published_wv_wo(adapter, layer)
        sv.append(v)
        so.append(o)
        hw = attention_weights(adapter, layer)
        rows.append([t.numpy().astype(np.float64) for t in (
            hw.v_norms("fro"), hw.o_norms("fro"), hw.v_norms("spectral"), hw.o_norms("spectral"),
            hw.ov_norms("fro"), hw.ov_norms("spectral"))])
    cols = [np.stack([r[i] for r in rows]) for i in range(6)]
    return WeightStats(n_layers=adapter.n_layers, n_heads=adapter.n_heads, sigma_v=np.asarray(sv),
                       sigma_o=np.asarray(so), v_fro=cols[0], o_fro=cols[1], v_spec=cols[2], o_spec=cols[3],
                       ov_fro=cols[4], ov_spec=cols[5], extra={"model_type": adapter.model_type})
