"""Per-layer ablations (seed 003, anatomical heterogeneity): three ways to take a block out.

Ablation types (block ``l`` of ``L``, residual ``h_l`` = input of block l, ``h_{l+1}`` its output):

- ``skip``      — block l is the identity, ``h_{l+1} := h_l`` (ShortGPT-style *removal*; the
  abstract's word "removal"). Same as :class:`lmclaims.engine.interventions.SkipBlock`.
- ``mean``      — the block's update is replaced by its mean update over corpus tokens,
  ``h_{l+1} := h_l + E[h_{l+1} − h_l]`` (mean ablation); the mean comes from
  :class:`BlockMeanUpdate` over every valid token of a stated view.
- ``neighbour`` — block l's *weights* (every parameter of the block: linear weights and norm
  gains) are replaced by the average of its neighbours', ``θ_l := (θ_{l−1} + θ_{l+1}) / 2`` — the
  method an unverified digest of the paper describes. Ends: block 0 and block L−1 have one
  neighbour and take a copy of it (θ_0 := θ_1, θ_{L−1} := θ_{L−2}); the paper does not say
  what it did there.

:class:`AblationSweepNLL` measures next-token NLL under one ablation type for many layers in
*one* engine pass: the clean forward captures every block's input and call arguments (attention
mask, rotary tables, ...), and for each ablated layer l only blocks l..L−1 are re-run from the
captured ``h_l`` (blocks before l are unchanged by an ablation at l). That costs L(L−1)/2 block
evaluations for a full skip sweep instead of L², and is checked against the full-forward
``SkipBlock`` intervention in ``tests/test_ablation.py``. It must be run without an
intervention (the re-runs would not see it; the engine passes none by default).

The weight-replacement interventions (:func:`replaced_parameters`, :class:`NeighbourAverageBlock`)
live with every other intervention in :mod:`lmclaims.engine.interventions.weights` and restore
the original tensors bit for bit in ``finally``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call

from lmclaims.engine.interventions.weights import neighbour_average_state
from lmclaims.engine.lens import LogitTransform, lens_stats
from lmclaims.probes.base import Probe, RowAccumulator, per_text

ABLATION_KINDS = ("skip", "mean", "neighbour")


# --------------------------------------------------------------------------- probes

def _nll_rows(adapter, tf, h, batch, chunk=512):
    """Next-token NLL of every valid (row, t) of ``batch`` from final residual ``h`` [B, T, d]."""
    B = batch.input_ids.shape[0]
    sel = [(r, t) for r in range(B) for t in range(int(batch.lengths[r]) - 1)]
    rows = torch.tensor([r for r, _ in sel], device=h.device)
    cols = torch.tensor([t for _, t in sel], device=h.device)
    x = h[rows, cols]
    tgt = batch.input_ids[rows, cols + 1]
    out = []
    for s in range(0, len(sel), chunk):
        st = lens_stats(adapter.normed(x[s:s + chunk]), adapter.unembed_weight, adapter.unembed_bias,
                        transform=tf, targets=tgt[s:s + chunk], topk=1)
        out.append(-st.target_logprob)
    return torch.cat(out).cpu().numpy().astype(np.float64), rows.cpu().numpy(), cols.cpu().numpy()


@dataclass(frozen=True)
class BlockMeanUpdate(Probe):
    """Mean block update ``E[h_{l+1} − h_l]`` over every valid token of the view -> ``mean_update``
    [L, d] (float64) and ``n_tokens`` [1]."""

    name = "block_mean_update"
    version = 1

    def accumulator(self, lm, view):
        return _MeanAcc()


class _MeanAcc:
    def __init__(self):
        self.sum = None
        self.n = 0

    def update(self, batch):
        mask = batch.mask
        R = torch.stack([r.double() for r in batch.resid], dim=0)    # [L+1, B, T, d]
        d = (R[1:] - R[:-1])[:, mask]                                 # [L, tokens, d]
        s = d.sum(dim=1).cpu().numpy()
        self.sum = s if self.sum is None else self.sum + s
        self.n += int(mask.sum())

    def finish(self):
        return {"mean_update": self.sum / max(self.n, 1), "n_tokens": np.array([self.n])}


def _array_sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class AblationSweepNLL(Probe):
    """Per-token NLL with block ``l`` ablated, for every ``l`` in ``layers``, from one engine pass
    (result key ``ablation_sweep_nll_<kind>``).

    Returns ``nll`` [rows, len(layers)], ``nll_base`` [rows] (clean model, same rows),
    ``text_index``, ``position`` and ``layers``. ``mean_update`` [L, d] is required for
    ``kind="mean"`` (its sha256 enters the cache key).
    """

    kind: str = "skip"
    layers: tuple = ()
    mean_update: tuple | None = field(default=None, repr=False, compare=False)
    version = 1

    @property
    def name(self) -> str:
        """``ablation_sweep_nll_<kind>``: sweeps of different kinds can share one engine pass."""
        return f"ablation_sweep_nll_{self.kind}"

    def __post_init__(self):
        if self.kind not in ABLATION_KINDS:
            raise ValueError(f"ablation kind must be one of {ABLATION_KINDS}, got {self.kind!r}")
        if not self.layers:
            raise ValueError("AblationSweepNLL needs at least one layer")
        if self.kind == "mean" and self.mean_update is None:
            raise ValueError("kind='mean' needs mean_update [L, d] (from BlockMeanUpdate)")

    def params(self) -> dict:
        p = {"kind": self.kind, "layers": [int(l) for l in self.layers]}
        if self.kind == "mean":
            p["mean_update_sha256"] = _array_sha(self.mean_update)
        if self.kind == "neighbour":
            p["ends"] = "copy of the only neighbour"
        return p

    def sites(self, adapter):
        """The stream entering each swept block (its suffix re-runs from there) and the last one."""
        return tuple(dict.fromkeys([f"resid_pre.{int(l)}" for l in self.layers]
                                   + [f"resid_post.{adapter.n_layers - 1}"]))

    def accumulator(self, lm, view):
        return _SweepAcc(lm, self)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


class _SweepAcc(RowAccumulator):
    """Re-runs block suffixes from the clean forward's residuals with the block call arguments the
    engine recorded (``Batch.block_calls``); registers no hooks of its own."""

    needs_block_calls = True

    def __init__(self, lm, probe: AblationSweepNLL):
        super().__init__()
        self.ad = lm.adapter
        self.tf = LogitTransform(softcap=lm.adapter.logit_softcap)
        self.probe = probe
        L = self.ad.n_layers
        bad = [l for l in probe.layers if not 0 <= int(l) < L]
        if bad:
            raise IndexError(f"layers {bad} out of range for a {L}-block model")
        self.calls: list[tuple] = []     # this batch's block call arguments (Batch.block_calls)
        self.mean = None
        if probe.kind == "mean":
            m = np.asarray(probe.mean_update, dtype=np.float64)
            if m.shape != (L, self.ad.d_model):
                raise ValueError(f"mean_update must be [{L}, {self.ad.d_model}], got {m.shape}")
            self.mean = m
        self.nb_states = {}

    def _call(self, i, h):
        positional, rest, kwargs = self.calls[i]
        block = self.ad.blocks[i]
        if positional:
            return _first(block(h, *rest, **kwargs))
        return _first(block(**{**kwargs, "hidden_states": h}))

    def _call_with(self, i, h, params):
        positional, rest, kwargs = self.calls[i]
        block = self.ad.blocks[i]
        if positional:
            return _first(functional_call(block, params, (h, *rest), kwargs))
        return _first(functional_call(block, params, (), {**kwargs, "hidden_states": h}))

    def update(self, batch):
        L = self.ad.n_layers
        base, rows, cols = _nll_rows(self.ad, self.tf, batch.resid[-1], batch)
        out = np.empty((len(base), len(self.probe.layers)))
        self.calls = batch.block_calls
        for j, l in enumerate(self.probe.layers):
            l = int(l)
            h = batch.resid[l]
            if self.probe.kind == "skip":
                pass
            elif self.probe.kind == "mean":
                h = h + torch.as_tensor(self.mean[l], dtype=h.dtype, device=h.device)
            else:
                if l not in self.nb_states:
                    self.nb_states[l] = neighbour_average_state(self.ad.blocks, l)
                h = self._call_with(l, h, self.nb_states[l])
            for k in range(l + 1, L):
                h = self._call(k, h)
            out[:, j] = _nll_rows(self.ad, self.tf, h, batch)[0]
        ti = np.asarray(batch.text_index)[rows].astype(np.int32)
        self.add(nll=out, nll_base=base, text_index=ti, position=cols.astype(np.int32))

    def finish(self):
        arrays = super().finish()
        arrays["layers"] = np.asarray(self.probe.layers, dtype=np.int32)
        return arrays


# --------------------------------------------------------------------------- derived (numpy)

def delta_ppl_percent(nll: np.ndarray, nll_base: np.ndarray, text_index: np.ndarray, n_texts: int) -> np.ndarray:
    """Per-text ΔPPL% = 100·(PPL_ablated / PPL_clean − 1), PPL = exp(mean token NLL of the text).

    ``nll`` [rows] or [rows, k] -> [n_texts] or [n_texts, k].
    """
    a = per_text(nll, text_index, n_texts)
    b = per_text(nll_base, text_index, n_texts)
    if a.ndim == 2:
        b = b[:, None]
    return 100.0 * np.expm1(a - b)


def block_influence(cos_prev: np.ndarray, text_index: np.ndarray, n_texts: int) -> np.ndarray:
    """Block Influence per text and layer, BI_l = 1 − mean_tokens cos(h_l, h_{l+1}) -> [n_texts, L]
    (ShortGPT; ``cos_prev`` from :class:`lmclaims.probes.residual.ResidualNorms`)."""
    return 1.0 - per_text(np.asarray(cos_prev, dtype=np.float64), text_index, n_texts)
