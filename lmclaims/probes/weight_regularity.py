"""Weight predictability across depth (seed 003 claim 1): R² and delta correlations, with nulls.

Everything is computed from one Gram summary per matrix type: stack the L layers' matrices of
one type as rows ``X`` [L, N] (float64), keep ``G = X Xᵀ`` [L, L], the element sums ``s`` [L] and
``N``. Any quantity built from linear combinations of layers then costs O(1) per layer, so a
layer-order permutation null with thousands of permutations is cheap and exact.

Quantities (``order`` is a permutation of the layers, identity = true depth order; position i
has target ``t = order[i]`` and neighbours ``a = order[i−1]``, ``b = order[i+1]``):

* element-wise neighbour R², for interior positions i = 1..L−2:
  ``R²_i = 1 − ‖W_t − Ŵ_t‖² / ‖W_t − mean(W_t)‖²`` with
  ``Ŵ = (W_a + W_b)/2`` (``mode="average"``, the digest's predictor) or
  ``Ŵ = c_a W_a + c_b W_b`` by least squares (``mode="lstsq"``, no intercept);
  for i.i.d. layers the average predictor gives R² ≈ −1/2 and least squares ≈ 0.
* delta correlation, for i = 1..L−2: Pearson correlation over elements of
  ``W_{order[i+1]} − W_{order[i]}`` and ``W_{order[i]} − W_{order[i−1]}``.
  **Null: for layers i.i.d. around a common mean it is exactly −1/2 in expectation**
  (``corr(E_{i+1} − E_i, E_i − E_{i−1}) = −Var E / (2 Var E)``), so a value ≈ −0.50 is what
  white noise gives (definitions.md §3); only a departure from the permutation null is structure.
* per-layer statistics (Frobenius norm, element mean, element std) and their polynomial fit
  against depth, ``depth_poly_r2``.
* element-wise depth-polynomial prediction (the "predicted weights" of seed 003):
  every element is fitted by a degree-``d`` polynomial in scaled depth x_l ∈ [−1, 1] by least
  squares over all L layers, ``Ŵ = H X`` with the hat matrix ``H = V (VᵀV)⁻¹ Vᵀ`` [L, L]
  (``depth_hat_matrix``; V the Vandermonde matrix of x). Its element-wise R² per layer,
  ``1 − ‖W_l − Ŵ_l‖² / ‖W_l − mean(W_l)‖²``, follows from the Gram summary:
  ``‖W_l − Ŵ_l‖² = [(I − H) G (I − H)]_ll`` (``depth_poly_elementwise_r2``). For i.i.d. layers
  the fit explains ≈ (d+1)/L of each element's variance across layers.

Nulls: ``permutation_null`` (shuffled layer order — same matrices, depth adjacency destroyed) and
random-init models with the same shapes (``random_init_blocks``: ``from_config``, seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: matrix types of llama-like blocks (SmolLM2) -> parameter name inside a decoder block
LLAMA_MATRICES = {"q": "self_attn.q_proj.weight", "k": "self_attn.k_proj.weight", "v": "self_attn.v_proj.weight",
                  "o": "self_attn.o_proj.weight", "gate": "mlp.gate_proj.weight", "up": "mlp.up_proj.weight",
                  "down": "mlp.down_proj.weight"}


@dataclass(frozen=True)
class StackSummary:
    """Gram summary of L same-shaped matrices: ``gram`` [L, L], ``sums`` [L], ``n`` elements each."""

    gram: np.ndarray
    sums: np.ndarray
    n: int

    @property
    def n_layers(self) -> int:
        return self.gram.shape[0]

    def sst(self, i) -> np.ndarray:
        """Centred sum of squares of layer(s) i."""
        return self.gram[i, i] - self.sums[i] ** 2 / self.n

    def frobenius(self) -> np.ndarray:
        return np.sqrt(np.diag(self.gram))

    def mean(self) -> np.ndarray:
        return self.sums / self.n

    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self.gram) / self.n - self.mean() ** 2, 0.0))


def summarise(stack) -> StackSummary:
    """Gram summary of a stack ``[L, ...]`` (tensor/array, or a list of same-shaped tensors)."""
    if isinstance(stack, (list, tuple)):
        X = torch.stack([torch.as_tensor(w).detach().reshape(-1).double() for w in stack])
    else:
        X = torch.as_tensor(stack).detach().reshape(len(stack), -1).double()
    if X.shape[0] < 3:
        raise ValueError(f"need at least 3 layers, got {X.shape[0]}")
    G = (X @ X.T).numpy()
    return StackSummary(gram=G, sums=X.sum(dim=1).numpy(), n=int(X.shape[1]))


def block_matrices(blocks, names: dict[str, str] = LLAMA_MATRICES) -> dict[str, list[torch.Tensor]]:
    """{type: [W_0, ..., W_{L-1}]} from decoder blocks (llama-like names by default)."""
    out = {}
    for t, pname in names.items():
        ws = []
        for i, b in enumerate(blocks):
            params = dict(b.named_parameters())
            if pname not in params:
                raise KeyError(f"block {i} has no parameter {pname!r} (type {t}); pass names= for this family")
            ws.append(params[pname].detach())
        out[t] = ws
    return out


def summaries(blocks, names: dict[str, str] = LLAMA_MATRICES) -> dict[str, StackSummary]:
    return {t: summarise(ws) for t, ws in block_matrices(blocks, names).items()}


def _triples(order, L):
    """(previous, target, next) layer indices of the interior positions; ``order`` [L] or a batch
    of orders [..., L] (each row a permutation: the vectorised shuffled-order null)."""
    o = np.arange(L) if order is None else np.asarray(order)
    if o.shape[-1:] != (L,) or not (np.sort(o, axis=-1) == np.arange(L)).all():
        raise ValueError("order must be a permutation of the layers")
    return o[..., :-2], o[..., 1:-1], o[..., 2:]


def neighbour_r2(s: StackSummary, *, mode: str = "average", order=None) -> np.ndarray:
    """Element-wise R² of each interior layer predicted from its two neighbours -> [L−2]."""
    a, t, b = _triples(order, s.n_layers)
    G = s.gram
    if mode == "average":
        ca = cb = np.full(t.shape, 0.5)
    elif mode == "lstsq":
        Gaa, Gbb, Gab = G[a, a], G[b, b], G[a, b]
        rta, rtb = G[t, a], G[t, b]
        det = Gaa * Gbb - Gab ** 2
        ca = (rta * Gbb - rtb * Gab) / det
        cb = (rtb * Gaa - rta * Gab) / det
    else:
        raise ValueError(f"mode must be 'average' or 'lstsq', got {mode!r}")
    sse = (G[t, t] - 2 * ca * G[t, a] - 2 * cb * G[t, b] + ca ** 2 * G[a, a] + 2 * ca * cb * G[a, b]
           + cb ** 2 * G[b, b])
    return 1.0 - sse / s.sst(t)


def delta_correlation(s: StackSummary, *, order=None) -> np.ndarray:
    """corr(W_{i+1} − W_i, W_i − W_{i−1}) over elements, for interior positions -> [L−2]."""
    a, b, c = _triples(order, s.n_layers)
    G, sm, n = s.gram, s.sums, s.n
    inner = G[c, b] - G[c, a] - G[b, b] + G[b, a]
    n1 = G[c, c] - 2 * G[c, b] + G[b, b]
    n2 = G[b, b] - 2 * G[b, a] + G[a, a]
    s1, s2 = sm[c] - sm[b], sm[b] - sm[a]
    cov = inner - s1 * s2 / n
    v1 = n1 - s1 ** 2 / n
    v2 = n2 - s2 ** 2 / n
    return cov / np.sqrt(v1 * v2)


def depth_poly_r2(values, *, degree: int = 2, order=None):
    """R² of a degree-``degree`` polynomial fit of per-layer ``values`` against depth (``order``
    permutes which value sits at which depth: the shuffled-order null; a batch of orders
    [..., L] gives [...])."""
    y = np.asarray(values, dtype=float)
    if order is not None:
        y = y[np.asarray(order)]                   # [L] or a batch of shuffled orders [..., L]
    L = y.shape[-1]
    resid = y - y @ depth_hat_matrix(L, degree).T  # scaled depth x ∈ [−1, 1]: well conditioned
    sst = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1.0 - (resid ** 2).sum(axis=-1) / sst, np.nan)
    return r2[()]                                  # a numpy scalar for one order, [...] for a batch


def depth_hat_matrix(n_layers: int, degree: int = 2) -> np.ndarray:
    """Hat matrix ``H`` [L, L] of the least-squares degree-``degree`` polynomial in scaled depth
    x = linspace(−1, 1, L): the fitted stack is ``Ŵ_l = Σ_j H[l, j] W_j``.

    >>> H = depth_hat_matrix(5, degree=1)
    >>> bool(np.allclose(H @ np.arange(5.0), np.arange(5.0)))     # a line is reproduced exactly
    True
    """
    if not 0 <= degree < n_layers:
        raise ValueError(f"degree must lie in [0, {n_layers - 1}] for {n_layers} layers, got {degree}")
    x = np.linspace(-1.0, 1.0, n_layers)
    V = np.vander(x, degree + 1, increasing=True)
    return V @ np.linalg.solve(V.T @ V, V.T)


def depth_poly_elementwise_r2(s: StackSummary, *, degree: int = 2) -> np.ndarray:
    """Element-wise R² of each layer's depth-polynomial prediction (module docstring) -> [L]."""
    L = s.n_layers
    R = np.eye(L) - depth_hat_matrix(L, degree)
    sse = np.diag(R @ s.gram @ R.T)
    return 1.0 - sse / s.sst(np.arange(L))


def permutation_null(fn, n_layers: int, *, n_perm: int, seed: int) -> np.ndarray:
    """``fn(order)`` for ``n_perm`` uniformly random layer orders (seeded) -> array [n_perm, ...]."""
    rng = np.random.default_rng(seed)
    return np.array([fn(rng.permutation(n_layers)) for _ in range(n_perm)])


def random_init_blocks(config, *, seed: int):
    """Decoder blocks of a freshly initialised model with ``config`` (HF ``from_config``, seeded;
    the caller's RNG untouched). Only the blocks are kept."""
    from transformers import AutoModelForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    blocks = model.model.layers
    return blocks


def linear_depth_stack(n_layers: int, shape=(24, 16), *, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """A constructed stack W_l = A + (l/L)·B (+ noise·ε): exactly linear in depth when noise = 0."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(shape, generator=g, dtype=torch.float64)
    B = torch.randn(shape, generator=g, dtype=torch.float64)
    ls = torch.arange(n_layers, dtype=torch.float64)[:, None, None] / n_layers
    W = A + ls * B
    if noise:
        W = W + noise * torch.randn((n_layers, *shape), generator=g, dtype=torch.float64)
    return W
