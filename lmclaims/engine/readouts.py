"""Several lens readouts of the same rows from one unembedding GEMM: the multi-readout kernel.

A readout is a monotone transform ``tf`` (``LogitTransform``: cap c·tanh(z/c), then ÷T) of the raw
logits ``z = x Wᵀ + b``. Because every ``tf`` is non-decreasing, the top-K of ``tf(z)`` is
``tf(top-K of z)``: the top-K is searched once (the threshold filter of ``lmclaims.engine.lens``)
and shared, and the exact row maximum ``m = max z`` is known before any exponential is taken, so
no online rescaling is needed. Each readout works in shifted base-2 log-weights

    a_i = log₂e · (tf(z_i) − tf(m))          (≤ 0 up to rounding; the shift cancels below)
    S = Σ 2^{a_i},   U₂ = Σ a_i 2^{a_i},   log p_(j) = ln 2 · a_(j) − ln S,
    H = ln 2 · (log₂ S − U₂ / S)            (entropy in nats; the online-softmax identities of
                                             ``lmclaims.engine.lens`` in base 2)

The ``a`` of the top-K (and of the nucleus's dense rows) come from the same operations as the
dense ``a``, so the shift, exact or not, cancels. Per element an uncapped readout costs one fused
multiply-add (a = k·z + b), one ``exp2``, one sum and one product-sum (into a reused tile); a
capped one uses c·tanh(u) = 2c·σ(2u) − c with σ(v) = 1/(1 + 2^(−v·log₂e)), i.e. a multiply, an
``exp2``, an add, a reciprocal and the multiply-add, instead of ``tanh`` (3–9× slower than ``sigmoid``
in this CPU build) or ``sigmoid`` (≈ 15 % slower than exp2 + add + reciprocal). ``exp2(a)`` instead of
``exp(y)`` is 2× faster here with the same accuracy (≈ 4e-6 relative per element, ≈ 4e-8 on S).

The GEMM runs on column blocks (``block`` columns, default 4096: a [256, 4096] float32 tile is
4 MiB) written into one block-major buffer [R·V] that the caller may keep (``Workspace``); pass 1
(GEMM, group maxima, top-K filter) and pass 2 (the readouts, block by block) each touch a block
while it is cache-resident. The dense logits of any row stay readable (``Workspace.rows``) for
the top-p nucleus of rows whose top-K does not reach top_p (``Workspace.nucleus``: the compiled
kernel's, on CPU).

On CPU, when the compiled kernel is available (``lmclaims.engine.native_readouts``; built on first
use with the system C compiler, else this torch path runs), the GEMM is one call over all V columns
and everything after it is ONE barrier-free parallel region in C, rows handed out dynamically: per
row the top-K, the offsets b (``_Shift``'s formulas), pass 2 of every readout and, for the readouts
given a top_p, the nucleus of the rows whose top-K falls short (``native_readouts.readout``,
``fused_kernel.c``). The torch pass costs ≈ 5–9 elementwise ops per readout per block, each an OpenMP
region that, on a loaded machine, waits at its barrier for a thread that lost its core; so did each
of the kernel's three regions before they became one (bench/README.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from lmclaims.engine import native_readouts
from lmclaims.engine.lens import _GROUP, DEFAULT_TOPK, LensStats, LogitTransform, _TopK, _TopKNumpy

LOG2E = 1.0 / math.log(2.0)
LN2 = math.log(2.0)
DEFAULT_BLOCK = 4096


@dataclass(frozen=True)
class Readout:
    """One readout of R rows, in shifted coordinates (see module docstring)."""

    log_s: torch.Tensor        # [R]  ln Σ 2^a  (= log Z − tf(max z))
    entropy: torch.Tensor      # [R]  nats
    top_y: torch.Tensor        # [R, K]  tf(z) − tf(max z) of the K largest logits, descending (nats)
    shift: "_Shift | None" = field(default=None, repr=False, compare=False)   # the a's of this readout

    def top_logprobs(self) -> torch.Tensor:
        """log p of the top-K tokens (nats), [R, K]."""
        return self.top_y - self.log_s[:, None]

    def stats(self) -> LensStats:
        """As ``LensStats`` for ``geometry_features``: logits and log Z share the same (cancelling) shift."""
        return LensStats(log_z=self.log_s, entropy=self.entropy, top_logits=self.top_y, target_logprob=None)


class _Shift:
    """``a ≈ log₂e·(tf(z) − tf(m))`` for one transform, per row; the same ops for dense tiles and the top-K.

    Uncapped: a = k·z + b with k = log₂e/T and b = −k·m rounded to float32, ONE fused multiply-add
    pass (``torch.add(b, z, alpha=k)``; rounded once, so exact to ½ ulp of a near the top). Capped:
    a = k'·σ(z·2/c) + b' (c·tanh u = 2c·σ(2u) − c), k' = 2c·log₂e/T, σ(v) = 1/(1 + 2^(−v·log₂e)) (2^(+∞)
    = ∞ gives σ = 0, as it should). Whatever b rounds to, it is the
    same constant for every element of a row, dense or top-K, so it cancels.
    """

    def __init__(self, tf: LogitTransform, m: torch.Tensor | None, *, b: torch.Tensor | None = None):
        """``m`` [R] the row maxima (b from them); or ``b`` given (the compiled readout's, same formula)."""
        self.cap = tf.softcap
        self.kb = k = LOG2E / tf.temperature
        if self.cap is None:
            self.k, self.u = k, 0.0
            if b is None:
                b = (-k * m.double()).float()
        else:
            c = float(self.cap)
            self.u = -2.0 * LOG2E / c                                   # s = 1/(1 + 2^(z·u)) = σ(z·2/c)
            self.k = 2.0 * c * k                                        # a = s·k + b
            if b is None:
                ymax = c * torch.tanh(m.double() / c)
                b = (-(c + ymax) * k).float()
        self.b = b

    def apply(self, z: torch.Tensor, rows=None, *, out: torch.Tensor | None = None) -> torch.Tensor:
        """``a`` of raw logits ``z`` [r, n] (``rows`` selects the per-row shift; None = all rows);
        ``out`` a buffer shaped like z (may be written twice)."""
        b = self.b if rows is None else self.b[rows]
        if self.cap is not None:
            z = torch.mul(z, self.u, out=out).exp2_().add_(1.0).reciprocal_()
        return torch.add(b[:, None], z, alpha=self.k, out=out)

    def natural(self, z: torch.Tensor, rows=None) -> torch.Tensor:
        """``a``·ln 2: tf(z) − tf(m) in nats, up to the row's (cancelling) constant."""
        return self.apply(z, rows) * LN2


class Workspace:
    """Reusable buffers of the kernel (the [R·V] dense logits and three [R·block] tiles) so that
    repeated calls do not page-fault fresh memory; also the dense logits' row reader."""

    def __init__(self):
        self.dense = self.tiles = None
        self.blocks: list[tuple[int, int]] = []
        self.R = 0
        self._nuclei: dict = {}          # id(shift) -> (shift, top_p, [3, R] results, [R] done): the compiled readout's

    def prepare(self, R: int, V: int, B: int, device, *, tiles: bool = True) -> None:
        if self.dense is None or self.dense.numel() < R * V or self.dense.device != torch.device(device):
            self.dense = torch.empty(R * V, device=device)
        if tiles and (self.tiles is None or self.tiles.shape[1] < R * B or self.tiles.device != torch.device(device)):
            self.tiles = torch.empty(3, R * B, device=device)
        self.R = R
        self.blocks = [(s, min(B, V - s)) for s in range(0, V, B)]
        self._nuclei = {}

    def block(self, i: int) -> torch.Tensor:
        s, n = self.blocks[i]
        return self.dense[self.R * s:self.R * (s + n)].view(self.R, n)

    def tile(self, j: int, n: int) -> torch.Tensor:
        return self.tiles[j, :self.R * n].view(self.R, n)

    @classmethod
    def of_logits(cls, z: torch.Tensor) -> "Workspace":
        """A workspace holding the given raw logits ``z`` [R, V] (one block: row-major is block-major),
        for ``rows`` and ``nucleus`` on logits computed elsewhere (not copied when float32 contiguous)."""
        ws = cls()
        R, V = z.shape
        ws.dense = z.float().contiguous().view(-1)
        ws.R, ws.blocks = R, [(0, V)]
        return ws

    def nucleus(self, idx, shift: "_Shift", top_p: float):
        """(mass, count, Σ p ln p) float64 numpy [len(idx)] of the top-p nucleus of rows ``idx`` of the last
        call under the readout ``shift`` (its own ``a`` and 2^a, normalised by its own S: see
        ``native_readouts.nucleus``), or None when the compiled kernel does not run here."""
        if not use_native(self.dense.device):
            return None
        idx = np.asarray(idx, dtype=np.int64)
        pre = self._nuclei.get(id(shift))
        if pre is None or pre[0] is not shift or pre[1] != top_p:
            return native_readouts.nucleus(self.dense, self.R, self.blocks, idx, shift.k, shift.u, shift.b, top_p)
        res, miss = pre[2][:, idx], idx[~pre[3][idx]]          # rows done in the readout's region, the rest now
        if len(miss):
            res[:, ~pre[3][idx]] = np.stack(native_readouts.nucleus(self.dense, self.R, self.blocks, miss, shift.k,
                                                                    shift.u, shift.b, top_p))
        return res[0], res[1], res[2]

    def keep_nucleus(self, shift: "_Shift", top_p: float, res: np.ndarray, done: np.ndarray) -> None:
        """Keep the compiled readout's nucleus results [3, R] (rows ``done``) of ``shift`` for ``nucleus``."""
        self._nuclei[id(shift)] = (shift, top_p, res, done)

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Raw logits [len(idx), V] of the given rows of the last call."""
        if self.dense.device.type != "cpu":
            return torch.cat([self.block(i)[idx] for i in range(len(self.blocks))], dim=1)
        B = self.blocks[0][1]
        nf = sum(1 for _, n in self.blocks if n == B)                  # full blocks: a [nf, R, B] view
        full = self.dense[:self.R * nf * B].view(nf, self.R, B).numpy()
        tail = self.block(nf).numpy() if nf < len(self.blocks) else None
        out = np.empty((len(idx), self.blocks[-1][0] + self.blocks[-1][1]), dtype=np.float32)
        for j, r in enumerate(torch.as_tensor(idx).tolist()):         # one strided copy per row
            out[j, :nf * B].reshape(nf, B)[...] = full[:, r, :]
            if tail is not None:
                out[j, nf * B:] = tail[r]
        return torch.from_numpy(out)


def multi_readout(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                  transforms: list[LogitTransform], *, topk: int = DEFAULT_TOPK, block: int | None = None,
                  workspace: Workspace | None = None,
                  top_p: list[float | None] | None = None) -> tuple[list[Readout], torch.Tensor, Workspace]:
    """Readouts of ``transforms`` over the logits ``x @ weightᵀ + bias`` of normed rows ``x`` [R, d].

    Returns (one ``Readout`` per transform, the raw top-K logits [R, K] descending, the workspace
    holding the raw dense logits). One GEMM per column block (``block`` columns; None: one block of
    all V columns when the compiled kernel runs, else ``DEFAULT_BLOCK``); nothing of size [R, V]
    besides the workspace's dense buffer. On CPU with the compiled kernel
    (``lmclaims.engine.native_readouts``) everything after the GEMM runs there as ONE barrier-free
    parallel region (``native_readouts.readout``): the top-K, pass 2 and, for the transforms whose
    ``top_p`` (one per transform, None = none) is given, the nucleus of the rows whose top-K falls
    short, kept in the workspace for ``Workspace.nucleus``. Otherwise pass 1 also filters the top-K
    block by block in numpy/torch, and the nucleus is computed when asked for.
    """
    if x.ndim != 2:
        raise ValueError(f"x must be [rows, d_model], got {tuple(x.shape)}")
    if block is not None and block < 1:
        raise ValueError(f"block must be ≥ 1, got {block}")
    if top_p is not None and len(top_p) != len(transforms):
        raise ValueError(f"top_p needs one entry per transform ({len(transforms)}), got {len(top_p)}")
    R, V = x.shape[0], weight.shape[0]
    k = min(topk, V)
    x = x.float()
    ws = workspace if workspace is not None else Workspace()
    bias_f = bias.float() if bias is not None else None
    native = use_native(x.device)          # after the GEMM: the compiled kernel, one region (_readout_native)
    tk = None if native else (_TopKNumpy if x.device.type == "cpu" else _TopK)(R, k, x.device)
    B = min(block if block is not None else (V if native else DEFAULT_BLOCK), V)
    ws.prepare(R, V, B, x.device, tiles=not native or len(transforms) > native_readouts.MAX_READOUTS)
    for i, (s, n) in enumerate(ws.blocks):                    # pass 1: GEMM (+ group maxima, top-K filter)
        z = ws.block(i)
        w = weight[s:s + n].float()
        if bias_f is not None:
            torch.addmm(bias_f[s:s + n], x, w.T, out=z)
        else:
            torch.mm(x, w.T, out=z)
        if not native:
            g = math.gcd(n, _GROUP)
            tk.update(z, z.view(R, g, n // g).amax(dim=1), g, n // g)
    if native and 1 <= len(transforms) <= native_readouts.MAX_READOUTS:
        reads, top_raw = _readout_native(ws, transforms, k, top_p)
        return reads, top_raw, ws
    top_raw = native_readouts.topk(ws.dense, R, ws.blocks, k) if native else tk.result()
    return _readouts(lambda i: ws.block(i), len(ws.blocks), lambda j, n: ws.tile(j, n), top_raw, transforms,
                     dense=ws.dense, blocks=ws.blocks), top_raw, ws


def _readout_native(ws: Workspace, transforms, k: int, top_p) -> tuple[list[Readout], torch.Tensor]:
    """``multi_readout`` after the GEMM, in the compiled kernel's one region (``native_readouts.readout``):
    the readouts and the raw top-K."""
    tps = list(top_p) if top_p is not None else [None] * len(transforms)
    shifts = [_Shift(tf, None, b=torch.empty(0)) for tf in transforms]          # b: from the kernel
    got = native_readouts.readout(ws.dense, ws.R, ws.blocks, k, [sh.k for sh in shifts], [sh.u for sh in shifts],
                                  [sh.kb for sh in shifts], [float(sh.cap or 0.0) for sh in shifts],
                                  [float(tp or 0.0) for tp in tps])
    top_raw = torch.from_numpy(got["top"])
    for j, (sh, tp) in enumerate(zip(shifts, tps)):
        sh.b = torch.from_numpy(got["b"][j])
        if tp:
            ws.keep_nucleus(sh, tp, got["nucleus"][j], got["done"][j])
    return _finish(shifts, list(torch.from_numpy(got["S"])), list(torch.from_numpy(got["U"])), top_raw), top_raw


def readouts_of_logits(z: torch.Tensor, top_raw: torch.Tensor, transforms: list[LogitTransform], *,
                       tile_elements: int = 1 << 20) -> list[Readout]:
    """``multi_readout``'s pass 2 on given raw logits ``z`` [R, V] (not modified) with their sorted
    top-K ``top_raw``: row tiles of about ``tile_elements`` elements."""
    R, V = z.shape
    step = max(1, min(R, tile_elements // max(V, 1)))
    parts = []
    for r0 in range(0, R, step):
        zt = z[r0:r0 + step].float().contiguous()
        native = use_native(zt.device)
        bufs = None if native else torch.empty(3, zt.numel(), device=z.device)
        parts.append(_readouts(lambda i: zt, 1, lambda j, n: bufs[j].view(zt.shape[0], n), top_raw[r0:r0 + step],
                               transforms, dense=zt.view(-1) if native else None, blocks=[(0, V)]))
    return [Readout(log_s=torch.cat([p[i].log_s for p in parts]), entropy=torch.cat([p[i].entropy for p in parts]),
                    top_y=torch.cat([p[i].top_y for p in parts])) for i in range(len(transforms))]


def shift_of(tf: LogitTransform, top_raw: torch.Tensor) -> _Shift:
    return _Shift(tf, top_raw[:, 0].contiguous())


def _sums_torch(block, nblocks: int, tile, shifts, R: int, device) -> tuple[list, list]:
    """S and U₂ of every shift in torch, block by block (``block(i)`` [R, n] raw logits, ``tile(j, n)``
    three scratch tiles: a, 2^a and a·2^a)."""
    S = [torch.zeros(R, dtype=torch.float64, device=device) for _ in shifts]
    U = [torch.zeros(R, dtype=torch.float64, device=device) for _ in shifts]
    for i in range(nblocks):
        z = block(i)
        n = z.shape[1]
        a_buf, e_buf, p_buf = tile(0, n), tile(1, n), tile(2, n)
        for j, sh in enumerate(shifts):
            a = sh.apply(z, out=a_buf)
            e = torch.exp2(a, out=e_buf)
            S[j] += e.sum(dim=1)
            U[j] += torch.mul(a, e, out=p_buf).sum(dim=1)       # (vecdot would allocate the product)
    return S, U


def _sums_native(dense: torch.Tensor, R: int, blocks, shifts) -> tuple[list, list]:
    """S and U₂ from the compiled kernel (``lmclaims.engine.native_readouts``): the same arithmetic."""
    k = [float(sh.k) for sh in shifts]
    u = [0.0 if sh.cap is None else float(sh.u) for sh in shifts]
    b = torch.stack([sh.b.float().reshape(R) for sh in shifts])
    S, U = native_readouts.sums(dense, R, blocks, k, u, b)
    return list(S), list(U)


def use_native(device) -> bool:
    """Whether pass 2 runs in the compiled kernel: CPU tensors and the kernel available."""
    return torch.device(device).type == "cpu" and native_readouts.available()


def _readouts(block, nblocks: int, tile, top_raw: torch.Tensor, transforms, *, dense=None, blocks=None) -> list[Readout]:
    """Pass 2: S and U₂ of every transform (in the compiled kernel when ``dense``/``blocks`` are given
    and it is available, else in torch block by block), then log S, the entropy and the top-K's y."""
    m = top_raw[:, 0].contiguous()
    shifts = [_Shift(tf, m) for tf in transforms]
    R = top_raw.shape[0]
    if not shifts:
        S, U = [], []
    elif dense is not None and use_native(m.device) and len(shifts) <= native_readouts.MAX_READOUTS:
        S, U = _sums_native(dense, R, blocks, shifts)
    else:
        S, U = _sums_torch(block, nblocks, tile, shifts, R, m.device)
    return _finish(shifts, S, U, top_raw)


def _finish(shifts, S, U, top_raw: torch.Tensor) -> list[Readout]:
    """log S, the entropy and the top-K's y of every readout from its S and U₂ (module docstring)."""
    out = []
    for sh, s_, u_ in zip(shifts, S, U):
        log2_s = torch.log2(s_)
        ent = (LN2 * (log2_s - u_ / s_)).clamp_min(0.0)
        out.append(Readout(log_s=(log2_s * LN2).float(), entropy=ent.float(), top_y=sh.natural(top_raw), shift=sh))
    return out
