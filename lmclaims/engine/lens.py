"""Streaming reductions of vocabulary distributions: the logit lens without [tokens, vocab].

For normed residual rows ``x`` [R, d] and an unembedding ``W`` [V, d] (+ bias), the logits are
``z = cap(x Wᵀ + b) / T`` with ``cap(z) = c·tanh(z/c)`` (Gemma-2 style softcap, optional) and a
temperature ``T`` (default 1). The vocabulary is processed in column blocks small enough to stay in
cache; per row we keep, with the online-softmax recurrences (Milakov & Gimelshein 2018),

    m = max_i z_i,   S = Σ_i exp(z_i − m),   U = Σ_i (z_i − m) exp(z_i − m),

and the running top-K values (K = 100 by default). From these:

    log Z = m + log S,           H = log S − U / S          (entropy, nats)
    p_(j) = exp(z_(j) − log Z)   for the K largest logits
    #{p > 1%} is exact from the top-K because at most 99 tokens can exceed 1% (K ≥ 100).

Targets (next-token ids) give ``log p(target) = z_target − log Z`` from a gathered dot product.
Cost: one [R, d]×[d, V] matmul per call plus O(V) cache-resident element work per row (about five
vectorised passes over each [R, block] tile: group max, z − m, (z − m)·log₂e, exp2, Σe, Σ(z − m)e as a
``vecdot``); the top-K
touches only the few elements that pass a threshold filter (``_TopK``), never a ``topk`` over the
block. Peak extra memory is 2·[R, block] — never [layers, tokens, vocab] nor even [tokens, vocab].
On a 2-core AVX-512 CPU (1 thread) this reaches ≈72–94% of a plain GEMM's FLOP/s, v0 45–72%
(bench/bench_lens.py, bench/README.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_TOPK = 100      # must be ≥ 100 for the exact count above 1%
DEFAULT_BLOCK = 4096    # vocabulary columns per block (R=256: 4 MiB of fp32 logits, tuned on a 2-core AVX-512 CPU)


@dataclass(frozen=True)
class LogitTransform:
    """Transforms applied to lens logits: ``z ↦ cap(z)/T``; identity by default.

    ``softcap`` None means "no cap"; the architecture's own final-logit cap (Gemma 2) is applied
    by the caller by passing ``softcap=adapter.logit_softcap``.
    """

    temperature: float = 1.0
    softcap: float | None = None

    def __post_init__(self):
        if not (self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.softcap is not None and not (self.softcap > 0):
            raise ValueError(f"softcap must be > 0 or None, got {self.softcap}")

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        if self.softcap is not None:
            z = self.softcap * torch.tanh(z / self.softcap)
        if self.temperature != 1.0:
            z = z / self.temperature
        return z

    def as_dict(self) -> dict:
        return {"temperature": float(self.temperature), "softcap": self.softcap}


@dataclass
class LensStats:
    """Per-row reductions of one batch of distributions (all float32 tensors, length R)."""

    log_z: torch.Tensor          # [R]
    entropy: torch.Tensor        # [R] nats
    top_logits: torch.Tensor     # [R, K] descending
    target_logprob: torch.Tensor | None  # [R] or None

    @property
    def top_probs(self) -> torch.Tensor:
        return torch.exp(self.top_logits - self.log_z[:, None])


_LOG2E = 1.0 / math.log(2.0)
_GROUP = 8          # column-group width of the top-K filter (cut to gcd(block, 8) when 8 does not divide it)
_NUMPY_TOPK = True  # CPU tensors: run the top-K filter in numpy (see _TopKNumpy)
_POOL = 128         # extra top-K slots: survivors are appended there and merged only when it fills


def _block_width(block: int | None, rows: int, vocab: int) -> int:
    if block is None:
        block = DEFAULT_BLOCK
    if block < 1:
        raise ValueError(f"block must be ≥ 1, got {block}")
    return min(int(block), vocab)


def _transform_(z: torch.Tensor, tf: LogitTransform) -> None:
    """``LogitTransform.apply`` in place (same operations in the same order: same rounding)."""
    if tf.softcap is not None:
        z.div_(tf.softcap).tanh_().mul_(tf.softcap)
    if tf.temperature != 1.0:
        z.div_(tf.temperature)


class _TopK:
    """Running top-K values per row without a ``topk`` over every block (torch; any device).

    ``pool`` [R, K + _POOL] holds the exact top-K of everything seen at the last merge plus the
    survivors appended since (unused slots −inf); ``thr`` ≤ the K-th largest value seen so far, so
    an element below ``thr`` can never enter the top-K. A block is filtered in two steps: its
    column groups whose max reaches ``thr`` (the group maxima are computed anyway: their max is the
    block max), then the elements of those groups ≥ ``thr`` (ties kept: equal values are never
    lost). Survivors are appended; when a row would overflow, pool and survivors are merged by one
    ``topk`` and ``thr`` rises to the new K-th largest value. Before the first merge, ``thr`` is the
    K-th largest group max of the first block (K groups, hence K distinct elements, reach it).
    """

    def __init__(self, rows: int, k: int, device):
        self.R, self.k = rows, k
        self.pool = torch.full((rows, k + _POOL), -torch.inf, device=device)
        self.fill = torch.zeros(rows, dtype=torch.long, device=device)
        self.thr = torch.full((rows,), -torch.inf, device=device)
        self.active = False              # thr finite in every row

    def update(self, z: torch.Tensor, gmax: torch.Tensor, g: int, G: int) -> None:
        R, k = self.R, self.k
        if not self.active:
            if G < k:
                self._merge(z)
                return
            self.thr = torch.maximum(self.thr, torch.topk(gmax, k, dim=1, sorted=False).values.amin(dim=1))
            self.active = bool(torch.isfinite(self.thr).all())
        rows, q = (gmax >= self.thr[:, None]).nonzero(as_tuple=True)     # candidate groups, row-major
        if rows.numel() == 0:
            return
        cand = z.view(R, g, G)[rows, :, q]                                # [n, g] (copies)
        i, a = (cand >= self.thr[rows][:, None]).nonzero(as_tuple=True)
        vals, erow = cand[i, a], rows[i]                                  # erow non-decreasing
        counts = torch.bincount(erow, minlength=R)
        pos = torch.arange(erow.numel(), device=z.device) - (torch.cumsum(counts, 0) - counts)[erow]
        need = self.fill + counts
        if int(need.max()) <= self.pool.shape[1]:
            self.pool[erow, self.fill[erow] + pos] = vals
            self.fill = need
        else:
            dense = torch.full((R, int(counts.max())), -torch.inf, device=z.device)
            dense[erow, pos] = vals
            self._merge(dense)

    def _merge(self, extra: torch.Tensor) -> None:
        k = self.k
        top = torch.topk(torch.cat([self.pool, extra], dim=1), k, dim=1, sorted=False).values
        self.pool[:, :k] = top
        self.pool[:, k:] = -torch.inf
        self.fill.fill_(k)
        self.thr = top.amin(dim=1)
        self.active = bool(torch.isfinite(self.thr).all())

    def result(self) -> torch.Tensor:
        return torch.topk(self.pool, self.k, dim=1, sorted=True).values


class _TopKNumpy:
    """``_TopK`` for CPU tensors, in numpy on zero-copy views: the filter's compare, compaction
    and small merges cost several times less there than as torch CPU kernels (bool outputs and
    ``nonzero`` are not vectorised in torch's CPU backend)."""

    def __init__(self, rows: int, k: int, device):
        self.R, self.k = rows, k
        self.pool = np.full((rows, k + _POOL), -np.inf, dtype=np.float32)
        self.fill = np.zeros(rows, dtype=np.int64)
        self.thr = np.full(rows, -np.inf, dtype=np.float32)
        self.active = False
        self.device = device

    def update(self, z: torch.Tensor, gmax: torch.Tensor, g: int, G: int) -> None:
        R, k = self.R, self.k
        zn, gn = z.numpy(), gmax.numpy()
        if not self.active:
            if G < k:
                self._merge(zn)
                return
            self.thr = np.maximum(self.thr, np.partition(gn, G - k, axis=1)[:, G - k])
            self.active = bool(np.isfinite(self.thr).all())
        n = zn.shape[1]
        fi = np.flatnonzero(gn >= self.thr[:, None])                     # candidate groups, row-major
        if fi.size == 0:
            return
        rows = fi // G
        base = rows * n + (fi - rows * G)                                # column q of row r in z
        cand = zn.reshape(-1)[base[:, None] + np.arange(0, n, G)]        # [n_c, g]: a·G + q
        keep = cand >= self.thr[rows][:, None]
        vals = cand[keep]
        erow = np.repeat(rows, keep.sum(axis=1))                         # non-decreasing
        counts = np.bincount(erow, minlength=R)
        pos = np.arange(erow.size) - (np.cumsum(counts) - counts)[erow]
        need = self.fill + counts
        if need.max() <= self.pool.shape[1]:
            self.pool[erow, self.fill[erow] + pos] = vals
            self.fill = need
        else:
            dense = np.full((R, counts.max()), -np.inf, dtype=np.float32)
            dense[erow, pos] = vals
            self._merge(dense)

    def _merge(self, extra: np.ndarray) -> None:
        k = self.k
        both = np.concatenate([self.pool, extra], axis=1)
        top = np.partition(both, both.shape[1] - k, axis=1)[:, both.shape[1] - k:]
        self.pool[:, :k] = top
        self.pool[:, k:] = -np.inf
        self.fill[:] = k
        self.thr = top.min(axis=1)
        self.active = bool(np.isfinite(self.thr).all())

    def result(self) -> torch.Tensor:
        top = np.partition(self.pool, self.pool.shape[1] - self.k, axis=1)[:, self.pool.shape[1] - self.k:]
        return torch.from_numpy(-np.sort(-top, axis=1)).to(self.device)


def lens_stats(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
               transform: LogitTransform = LogitTransform(), targets: torch.Tensor | None = None,
               topk: int = DEFAULT_TOPK, block: int | None = DEFAULT_BLOCK) -> LensStats:
    """Streaming softmax statistics of ``transform(x @ weight.T + bias)`` row by row.

    ``x`` [R, d] must already be final-normed (``Adapter.normed``). Computation in float32.
    ``block`` (vocabulary columns per step; None = default) changes results only by float rounding
    of the running sums.

    Per block: one GEMM into a reused buffer (bias fused with ``addmm``), the transform in place,
    interleaved group maxima (one pass; their max is the block max), ``z − m`` in place, ``exp``
    into a second reused buffer, ``Σ e`` and ``Σ (z − m)·e``. The top-K costs only the few
    survivors of a threshold filter (``_TopK``); ``topk=1`` is the running max itself.
    """
    if x.ndim != 2:
        raise ValueError(f"x must be [rows, d_model], got {tuple(x.shape)}")
    R = x.shape[0]
    V = weight.shape[0]
    k = min(topk, V)
    if k < 1:
        raise ValueError(f"topk must be ≥ 1, got {topk}")
    x = x.float()
    dev = x.device
    B = _block_width(block, R, V)
    zbuf = torch.empty(R * B, device=dev)
    ebuf = torch.empty(R * B, device=dev)
    bias_f = bias.float() if bias is not None else None
    tk = (_TopKNumpy if dev.type == "cpu" and _NUMPY_TOPK else _TopK)(R, k, dev) if k > 1 else None
    m = S = U = None
    for start in range(0, V, B):
        w = weight[start:start + B]
        n = w.shape[0]
        z = zbuf[:R * n].view(R, n)
        if bias_f is not None:
            torch.addmm(bias_f[start:start + n], x, w.float().T, out=z)
        else:
            torch.mm(x, w.float().T, out=z)
        _transform_(z, transform)
        g = math.gcd(n, _GROUP)                      # groups interleave: column a·G + q is in group q
        G = n // g
        gmax = z.view(R, g, G).amax(dim=1)           # [R, G]; reduces over a strided dim: vectorised
        bm = gmax.amax(dim=1)
        if tk is not None:
            tk.update(z, gmax, g, G)
        e = ebuf[:R * n].view(R, n)
        if m is None:
            m = bm
            z.sub_(m[:, None])
            torch.exp2(torch.mul(z, _LOG2E, out=e), out=e)    # exp(y) as 2^(y·log₂e): 2× torch.exp's speed here
            S = e.sum(dim=1)
            U = torch.linalg.vecdot(z, e)                     # Σ y·e without writing the product
        else:
            m_new = torch.maximum(m, bm)
            shift = m - m_new                        # ≤ 0, finite
            scale = torch.exp(shift)
            U = (U + shift * S) * scale
            S = S * scale
            z.sub_(m_new[:, None])
            torch.exp2(torch.mul(z, _LOG2E, out=e), out=e)
            S += e.sum(dim=1)
            U += torch.linalg.vecdot(z, e)
            m = m_new
    top = tk.result() if tk is not None else m[:, None].clone()
    log_s = torch.log(S)
    log_z = m + log_s
    entropy = log_s - U / S
    tgt = None
    if targets is not None:
        wt = weight[targets].float()                      # [R, d]
        zt = (x * wt).sum(dim=1)
        if bias is not None:
            zt = zt + bias[targets].float()
        zt = transform.apply(zt)
        tgt = zt - log_z
    return LensStats(log_z=log_z, entropy=entropy.clamp_min(0.0), top_logits=top, target_logprob=tgt)


def geometry_features(stats: LensStats, vocab_size: int, *, topk_mass_k: int = 10,
                      threshold: float = 0.01) -> dict[str, torch.Tensor]:
    """Per-row distribution geometry (seed 004's features; definitions.md §2).

    entropy (nats), entropy_norm = H / ln V ∈ [0, 1], p1, p2, margin = p1 − p2,
    ratio21 = p2 / p1, topk_mass = Σ of the ``topk_mass_k`` largest p, count_above = #{p > threshold}
    (exact for threshold ≥ 1/K with K the kept top count).
    """
    p = stats.top_probs
    K = p.shape[1]
    if threshold < 1.0 / K:
        raise ValueError(f"count above {threshold} needs top-K ≥ {int(1 / threshold)}; have K={K}")
    p1, p2 = p[:, 0], p[:, 1]
    return {
        "entropy": stats.entropy,
        "entropy_norm": stats.entropy / torch.log(torch.tensor(float(vocab_size))),
        "p1": p1,
        "p2": p2,
        "margin": p1 - p2,
        "ratio21": p2 / p1,
        "topk_mass": p[:, :topk_mass_k].sum(dim=1),
        "count_above": (p > threshold).sum(dim=1).float(),
    }
