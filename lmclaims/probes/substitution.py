"""Substituting predicted weights, and the nulls (seed 003: "yet predicted weights cause catastrophic
failure due to nonlinear error accumulation").

Scope (our reading, fixed before measuring): every 2-D weight of a decoder block (for llama-like
blocks q, k, v, o, gate, up, down); norm gains, embeddings and unembedding are left as they are.
Each substitution is a :class:`lmclaims.engine.interventions.SwapWeights` (restores the originals
bit for bit in ``finally``) whose recipe is computed from the model's own weights:

``PredictedWeights(layers, degree)``
    ``W_l := Ŵ_l = Σ_j H[l, j] W_j`` — the element-wise least-squares polynomial of degree
    ``degree`` in scaled depth, fitted over all L layers of the same matrix type (in sample, as an
    R² is; :func:`lmclaims.probes.weight_regularity.depth_hat_matrix`).
``MatchedNoiseWeights(layers, degree, seed)``
    ``W_l := W_l + ‖W_l − Ŵ_l‖_F · ε/‖ε‖_F``, ε ~ N(0, I) seeded by (seed, layer, name): the
    layer's own weights with an error of exactly the prediction's Frobenius norm, in a random
    direction — the matched-error null.
``NeighbourWeights(layers)``
    ``W_l := W_{l+1}`` (the last layer takes ``W_{L−2}``): the crudest "prediction", a copy.

:class:`SubstitutionSweepNLL` measures next-token NLL under many substitutions in one engine
pass: the clean forward captures every block's input and call arguments, and for each
substitution the blocks from its lowest layer on are re-run with the swap active (blocks below
it are unchanged). Checked against the full-forward intervention in tests/test_predicted_weights.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from lmclaims.engine.interventions import SwapWeights
from lmclaims.engine.lens import LogitTransform
from lmclaims.probes.ablation import _nll_rows
from lmclaims.probes.base import Probe, RowAccumulator
from lmclaims.probes.weight_regularity import depth_hat_matrix


def matrix_names(block) -> tuple[str, ...]:
    """Names of the 2-D parameters of ``block`` (the substituted scope)."""
    return tuple(n for n, p in block.named_parameters() if p.ndim == 2)


def _check_layers(layers, L):
    bad = [l for l in layers if not 0 <= int(l) < L]
    if bad:
        raise IndexError(f"layers {bad} out of range for a {L}-block model")


def predicted_matrices(blocks, layers, *, degree: int) -> dict[int, dict[str, torch.Tensor]]:
    """{layer: {name: Ŵ_layer}} for the 2-D weights (float64 accumulation, returned in the weight's dtype)."""
    L = len(blocks)
    _check_layers(layers, L)
    H = depth_hat_matrix(L, degree)
    out: dict[int, dict[str, torch.Tensor]] = {int(l): {} for l in layers}
    rows = torch.from_numpy(H[[int(l) for l in layers]])                       # [k, L] float64
    for name in matrix_names(blocks[0]):
        W = [blocks[j].get_parameter(name).detach() for j in range(L)]
        X = torch.stack([w.reshape(-1).double() for w in W])                    # [L, N], one conversion
        P = rows @ X                                                            # [k, N]
        for i, l in enumerate(layers):
            out[int(l)][name] = P[i].reshape(W[0].shape).to(W[0].dtype)
        del X, P
    return out


def _seed_for(seed: int, layer: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}|{layer}|{name}".encode()).digest()[:8], "little") % (2**63)


@dataclass(frozen=True)
class PredictedWeights(SwapWeights):
    layers: tuple
    degree: int = 2
    name = "predicted_weights"

    def params(self):
        return {"layers": [int(l) for l in self.layers], "degree": self.degree,
                "predictor": "element-wise least-squares polynomial in scaled depth over all layers (in sample)",
                "scope": "every 2-D weight of the block"}

    def replacement(self, adapter):
        return predicted_matrices(adapter.blocks, self.layers, degree=self.degree)


@dataclass(frozen=True)
class MatchedNoiseWeights(SwapWeights):
    layers: tuple
    degree: int = 2
    seed: int = 0
    name = "matched_noise_weights"

    def params(self):
        return {"layers": [int(l) for l in self.layers], "degree": self.degree, "seed": self.seed,
                "error_norm": "‖W − Ŵ‖_F of the depth-polynomial prediction, per matrix",
                "scope": "every 2-D weight of the block"}

    def replacement(self, adapter):
        pred = predicted_matrices(adapter.blocks, self.layers, degree=self.degree)
        out = {}
        for l, named in pred.items():
            out[l] = {}
            for name, w_hat in named.items():
                W = adapter.blocks[l].get_parameter(name).detach().double()
                err = float((W - w_hat.double()).norm())
                g = torch.Generator(device="cpu").manual_seed(_seed_for(self.seed, l, name))
                eps = torch.randn(W.shape, generator=g, dtype=torch.float64)
                out[l][name] = (W + err * eps / eps.norm()).to(w_hat.dtype)
        return out


@dataclass(frozen=True)
class NeighbourWeights(SwapWeights):
    layers: tuple
    name = "neighbour_weights"

    def params(self):
        return {"layers": [int(l) for l in self.layers], "source": "layer l+1 (the last layer: l−1)",
                "scope": "every 2-D weight of the block"}

    def replacement(self, adapter):
        blocks = adapter.blocks
        L = len(blocks)
        _check_layers(self.layers, L)
        if L < 2:
            raise ValueError("a neighbour copy needs at least 2 blocks")
        out = {}
        for l in self.layers:
            src = int(l) + 1 if int(l) + 1 < L else int(l) - 1
            out[int(l)] = {n: blocks[src].get_parameter(n).detach().clone() for n in matrix_names(blocks[int(l)])}
        return out


def prediction_quality(blocks, layers, *, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative error ‖W_l − Ŵ_l‖_F / ‖W_l‖_F and element-wise R² 1 − ‖W_l − Ŵ_l‖² / ‖W_l − mean(W_l)‖²
    of the prediction, per layer and matrix -> two arrays [len(layers), n_matrices] (the R² is the
    number :func:`lmclaims.probes.weight_regularity.depth_poly_elementwise_r2` gives from the Gram
    summary, here computed directly)."""
    pred = predicted_matrices(blocks, layers, degree=degree)
    names = matrix_names(blocks[0])
    rel, r2 = np.empty((len(pred), len(names))), np.empty((len(pred), len(names)))
    for i, l in enumerate(pred):
        for k, n in enumerate(names):
            W = blocks[l].get_parameter(n).detach().double()
            sse = float(((W - pred[l][n].double()) ** 2).sum())
            rel[i, k] = np.sqrt(sse) / float(W.norm())
            r2[i, k] = 1.0 - sse / float(((W - W.mean()) ** 2).sum())
    return rel, r2


def relative_errors(blocks, layers, *, degree: int) -> np.ndarray:
    """‖W_l − Ŵ_l‖_F / ‖W_l‖_F per layer and matrix -> [len(layers), n_matrices]."""
    return prediction_quality(blocks, layers, degree=degree)[0]


# --------------------------------------------------------------------------- probe

@dataclass(frozen=True)
class SubstitutionSweepNLL(Probe):
    """Per-token NLL under each weight substitution in ``substitutions`` (``SwapWeights``), from
    one engine pass -> ``nll`` [rows, k], ``nll_base`` [rows], ``text_index``, ``position``."""

    substitutions: tuple = ()
    name = "substitution_sweep_nll"
    version = 1

    def __post_init__(self):
        if not self.substitutions:
            raise ValueError("SubstitutionSweepNLL needs at least one substitution")
        bad = [s for s in self.substitutions if not isinstance(s, SwapWeights)]
        if bad:
            raise TypeError(f"substitutions must be SwapWeights interventions, got {bad}")

    def params(self) -> dict:
        return {"substitutions": [s.describe() for s in self.substitutions]}

    def accumulator(self, lm, view):
        return _SubstitutionAcc(lm, self)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


class _SubstitutionAcc(RowAccumulator):
    """Re-runs block suffixes with substituted weights from the clean forward's residuals, with the
    block call arguments the engine recorded (``Batch.block_calls``); registers no hooks of its own."""

    needs_block_calls = True

    def __init__(self, lm, probe: SubstitutionSweepNLL):
        super().__init__()
        self.ad = lm.adapter
        self.tf = LogitTransform(softcap=lm.adapter.logit_softcap)
        self.subs = probe.substitutions
        for s in self.subs:
            _check_layers(s.layers, self.ad.n_layers)
        self.calls: list[tuple] = []     # this batch's block call arguments (Batch.block_calls)

    def _call(self, i, h):
        positional, rest, kwargs = self.calls[i]
        block = self.ad.blocks[i]
        if positional:
            return _first(block(h, *rest, **kwargs))
        return _first(block(**{**kwargs, "hidden_states": h}))

    def update(self, batch):
        base, rows, cols = _nll_rows(self.ad, self.tf, batch.resid[-1], batch)
        out = np.empty((len(base), len(self.subs)))
        self.calls = batch.block_calls
        for j, s in enumerate(self.subs):
            l0 = s.first_layer
            h = batch.resid[l0]
            with s.hooks(self.ad):
                for k in range(l0, self.ad.n_layers):
                    h = self._call(k, h)
            out[:, j] = _nll_rows(self.ad, self.tf, h, batch)[0]
        ti = np.asarray(batch.text_index)[rows].astype(np.int32)
        self.add(nll=out, nll_base=base, text_index=ti, position=cols.astype(np.int32))

    def finish(self):
        return super().finish()
