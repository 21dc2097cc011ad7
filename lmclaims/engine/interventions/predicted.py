"""Weight substitutions from the model's own weights (seed 003: "yet predicted weights cause
catastrophic failure due to nonlinear error accumulation"), each a :class:`SwapWeights`.

Scope (our reading, fixed before measuring): every 2-D weight of a decoder block (for llama-like
blocks q, k, v, o, gate, up, down); norm gains, embeddings and unembedding are left as they are.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmclaims.engine.interventions.weights import SwapWeights, random_direction
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
                out[l][name] = (W + random_direction(W.shape, err, self.seed, l, name)).to(w_hat.dtype)
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
