"""Verbatim copy of lmclaims/engine/lens.py lens_stats before the optimisation (baseline for bench_lens.py; not used by the package)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

DEFAULT_TOPK = 100      # must be ≥ 100 for the exact count above 1%
DEFAULT_BLOCK = 8192    # vocabulary columns per block (≈ R×32 KiB per block in fp32)


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


def lens_stats(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
               transform: LogitTransform = LogitTransform(), targets: torch.Tensor | None = None,
               topk: int = DEFAULT_TOPK, block: int = DEFAULT_BLOCK) -> LensStats:
    """Streaming softmax statistics of ``transform(x @ weight.T + bias)`` row by row.

    ``x`` [R, d] must already be final-normed (``Adapter.normed``). Computation in float32.
    """
    if x.ndim != 2:
        raise ValueError(f"x must be [rows, d_model], got {tuple(x.shape)}")
    R = x.shape[0]
    V = weight.shape[0]
    k = min(topk, V)
    x = x.float()
    dev = x.device
    m = torch.full((R,), -torch.inf, device=dev)
    S = torch.zeros(R, device=dev)
    U = torch.zeros(R, device=dev)
    top = torch.full((R, k), -torch.inf, device=dev)
    for start in range(0, V, block):
        w = weight[start:start + block]
        z = x @ w.float().T
        if bias is not None:
            z += bias[start:start + block].float()
        z = transform.apply(z)
        bm = z.amax(dim=1)
        m_new = torch.maximum(m, bm)
        scale = torch.exp(m - m_new)                       # 0 on the first block (m = -inf)
        scale = torch.nan_to_num(scale, nan=0.0)
        shift = (m - m_new).nan_to_num(nan=0.0, neginf=0.0)
        U = (U + shift * S) * scale
        S = S * scale
        z.sub_(m_new[:, None])
        e = torch.exp(z)
        S += e.sum(dim=1)
        U += (z * e).sum(dim=1)
        m = m_new
        z.add_(m_new[:, None])
        kk = min(k, z.shape[1])
        bt = torch.topk(z, kk, dim=1, sorted=False).values
        top = torch.topk(torch.cat([top, bt], dim=1), k, dim=1, sorted=True).values
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
