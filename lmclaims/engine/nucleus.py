"""The exact top-p nucleus of rows whose top-K does not reach top_p, without a histogram of the row.

For one row with log-probs ℓ_i (float32, from raw logits z_i by a non-decreasing map ℓ = f(z)) and
p_i = exp(ℓ_i) in float64, the nucleus S is the smallest set with Σ_S p ≥ top_p: the ``n`` largest
ℓ, n the smallest count whose float64 cumulative mass (in descending order) reaches top_p. Returned:
(Σ_S p, |S|, Σ_S p ℓ), all in float64. Ties of ℓ at the crossing are interchangeable (same p), so
the result does not depend on which of them are taken.

Because f is monotone, S can be located on the RAW logits, and the exponential is needed only for
the few elements near or above the crossing:

1. Estimate (a strided subsample, every s-th element, s = 16; its HEAD largest values sorted first,
   all of it only when the crossing lies lower): with a level t₀ whose exact mass m₀ above is
   known (at first t₀ = z_(K), m₀ = M_K, the top-K's mass), the mass above a lower level t is
   ĉ(t) = m₀ + s·Σ_{sub: t ≤ z < t₀} p, with standard error σ̂(t) = s·√(Σ p²) over the same
   subsample values. The next level is the highest subsample value with ĉ − 2σ̂ ≥ top_p; when none
   is (a few heavy values right below t₀ make σ̂ large), the value twice as far down as where ĉ
   itself reaches top_p; −∞ when ĉ never does.
2. Exact: candidates C = {z ≥ t} (one compare pass and a compaction over the row), ℓ = f(z) and
   p = exp(ℓ) in float64 on C only, m = Σ_C p. If m < top_p, {z ≥ t} becomes the new (t₀, m₀) —
   exactly known to hold < top_p — and step 1 repeats (at most MAX_STAGES levels, then t = −∞).
3. S = U ∪ the first j elements of the band C − U sorted by ℓ descending, U = {z ≥ t₀} (at first
   {z > z_(K)} ⊂ top-K, which holds < top_p; for a band over BAND elements a higher U from the
   subsample, ĉ + 2σ̂ < top_p, kept only if its exact mass is < top_p), j the first index where
   Σ_U p + cumsum(band p) ≥ top_p. If m over the whole row stays below top_p (float32 rounding of
   ℓ), S is the whole row.

The estimate only decides how much is exponentiated and sorted; the exact checks make the result
exact whatever the estimate (a wrong one costs another compare pass). Cost per row: a compare and
a compaction per level (≈ 0.2–0.3 ns per element here), the partition of the subsample (≈ 0.15
ns per element), and exp + sort of |C| elements.
"""

from __future__ import annotations

import numpy as np

STRIDE = 16                 # subsample stride of the estimate (step 1)
SIGMAS = 2.0                # margin of the estimate, in standard errors (σ̂ above)
HEAD = 1024                 # subsample values sorted first (all of them only if the crossing lies lower)
BAND = 8192                 # band (C − U) size above which an upper level is estimated too
MAX_STAGES = 6              # levels tried before the whole row
ROWS_PER_GATHER = 8         # rows of raw logits materialised at a time ([8, V] float32)


def nucleus_rows(hard: np.ndarray, raw_rows, lp_of, top_raw_k: np.ndarray, top_mass: np.ndarray, top_p: float,
                 lp_est=None):
    """(mass, count, plogp) float64 arrays [len(hard)] for the rows ``hard`` (indices into the chunk).

    ``raw_rows(idx)`` → raw logits [len(idx), V] (numpy float32) of chunk rows ``idx``;
    ``lp_of(z, row)`` → float32 log-probs of raw values ``z`` (1-D numpy) of chunk row ``row``, by the
    same operations for every element; ``top_raw_k`` [len(hard)] = z_(K), the K-th largest raw logit;
    ``top_mass`` [len(hard)] = M_K (float64), the exact mass of the top-K (< top_p for these rows);
    ``lp_est(z, row)`` (default ``lp_of``) ≈ the same log-probs, float64, for the estimate only.
    """
    h = len(hard)
    mass, count, plogp = np.zeros(h), np.zeros(h), np.zeros(h)
    for c0 in range(0, h, ROWS_PER_GATHER):
        idx = hard[c0:c0 + ROWS_PER_GATHER]
        zz = raw_rows(idx)
        for j, r in enumerate(idx):
            i = c0 + j
            est = (lambda z, r=r: lp_of(z, r)) if lp_est is None else (lambda z, r=r: lp_est(z, r))
            mass[i], count[i], plogp[i] = _one_row(zz[j], lambda z, r=r: lp_of(z, r), est, float(top_raw_k[i]),
                                                   float(top_mass[i]), top_p)
    return mass, count, plogp


def _next_level(sub: np.ndarray, p_sub: np.ndarray, s: int, t: float, m: float, top_p: float) -> float:
    """The highest subsample value t' < t whose estimated mass above, m + s·Σ_{sub: t' ≤ z < t} p, is
    ≥ top_p by SIGMAS standard errors (else twice as far down as where the estimate itself reaches
    top_p); -inf when the subsample cannot reach it."""
    j0 = int(np.searchsorted(-sub, -t, side="left"))                    # first subsample value < t
    if j0 >= sub.size:
        return -np.inf
    p = p_sub[j0:]
    c = m + s * np.cumsum(p)
    hit = np.flatnonzero(c - SIGMAS * s * np.sqrt(np.cumsum(p * p)) >= top_p) if s > 1 else ()
    if len(hit):                                                        # (c − kσ need not be monotone)
        return float(sub[j0 + int(hit[0])])
    j = int(np.searchsorted(c, top_p))                                  # too noisy to certify: twice as far as
    if j >= c.size:                                                     # the plain estimate (the exact mass of
        return -np.inf                                                  # that step makes the next one sharper)
    return float(sub[j0 + min(2 * j + 4, c.size - 1)])


def _one_row(z: np.ndarray, lp_of, lp_est, zk: float, mk: float, top_p: float):
    V = z.size
    s = STRIDE if V >= 64 * STRIDE else 1
    sub = z[::s]
    q = min(sub.size, HEAD)                                             # the subsample's largest q, sorted
    head = np.sort(np.partition(sub, sub.size - q)[sub.size - q:])[::-1]
    est = [head, np.exp(lp_est(head).astype(np.float64)), q == sub.size]

    def level(t, m):
        lv = _next_level(est[0], est[1], s, t, m, top_p)
        if (lv == -np.inf or t == np.inf) and not est[2]:                                 # beyond the head: the whole subsample
            est[0] = np.sort(sub)[::-1]
            est[1], est[2] = np.exp(lp_est(est[0]).astype(np.float64)), True
            lv = _next_level(est[0], est[1], s, t, m, top_p)
        return lv

    up_level, strict = zk, True                  # U = {z > z_(K)} ⊂ top-K: exact mass < top_p
    t, m = zk, mk
    for _ in range(MAX_STAGES):
        t = level(t, m) if t > -np.inf else t
        zc = z[z >= t] if t > -np.inf else z
        lc = lp_of(np.ascontiguousarray(zc))
        pc = np.exp(lc.astype(np.float64))
        m_new = float(pc.sum())
        if m_new >= top_p or t == -np.inf:
            break
        up_level, strict, m = t, False, m_new    # exact: {z ≥ t} holds < top_p, the next U
    else:
        t = -np.inf
        zc = z
        lc = lp_of(np.ascontiguousarray(zc))
        pc = np.exp(lc.astype(np.float64))
        m_new = float(pc.sum())
    if m_new < top_p:                                                   # rounding left the row short: S = all
        return m_new, float(V), float((pc * lc).sum())
    up = (zc > up_level) if strict else (zc >= up_level)
    m_u = float(pc[up].sum())
    if zc.size - int(up.sum()) > BAND and m_u < top_p:                  # a wide band: raise U by the estimate
        level(np.inf, np.inf)                                           # (the whole subsample, sorted)
        sub_s, p_s = est[0], est[1]
        j0 = int(np.searchsorted(-sub_s, -up_level, side="left" if strict else "right"))
        c = m_u + s * np.cumsum(p_s[j0:]) + SIGMAS * s * np.sqrt(np.cumsum(p_s[j0:] ** 2))
        below = np.flatnonzero(c < top_p)
        if below.size:
            up2 = zc >= sub_s[j0 + int(below[-1])]
            m2 = float(pc[up2].sum())
            if m2 < top_p:                                              # checked exactly
                up, m_u = up2, m2
    if m_u >= top_p:                                                    # rounding at the level: U = ∅
        up[:] = False
        m_u = 0.0
    n_u = int(up.sum())
    e_u = float((pc[up] * lc[up]).sum())
    if n_u == zc.size:
        return m_u, float(n_u), e_u
    lb = np.sort(lc[~up])[::-1]                                         # the band, ℓ descending
    pb = np.exp(lb.astype(np.float64))
    cs = m_u + np.cumsum(pb)
    j = min(int(np.searchsorted(cs, top_p, side="left")) + 1, lb.size)   # smallest j with mass ≥ top_p
    return float(cs[j - 1]), float(n_u + j), e_u + float((pb[:j] * lb[:j]).sum())
