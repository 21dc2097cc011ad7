"""Logit-lens geometry per (token, layer): the distribution p_l = softmax(cap(W_U · norm_f(h_l))/T).

For sampled positions of each text (position 0 skipped; ``positions_per_text`` per text, seeded
by text id) and every block output l = 1..L, the streaming lens computes the features of
``lmclaims.engine.lens.geometry_features``: entropy, entropy_norm (H/ln V), p1, p2, margin,
ratio21, topk_mass (k=10), count_above (p > 1%). Result arrays are [rows, L] per feature plus
``text_index`` and ``position``; the last layer reproduces the model's own distribution.
The architecture's own final-logit softcap is applied unless ``transform`` overrides it
(``native_softcap=False`` removes it).

Version 2 adds, at the same sampled (position, layer) points:

- ``cos_prev`` [rows, L]: cos(h_{l-1}, h_l) of the residual stream before the final norm (h_0 = the
  embeddings), the hidden-state change of the V20 taxonomy (no join with ``ResidualNorms`` needed);
- with ``top_p`` set (e.g. 0.99, the reviewer's vocabulary control): the geometry of the smallest
  set S of tokens holding ≥ top_p of the mass — ``nucleus_mass`` (Σ_S p), ``nucleus_count`` (|S|),
  ``nucleus_entropy`` (entropy of p renormalised on S, nats) and ``nucleus_topk_mass`` (mass of the
  top ``topk_mass_k`` within S / Σ_S p). This path materialises the logits of one chunk of rows
  only ([chunk, V], chunk chosen so that chunk·V ≤ ``dense_elements``), never [tokens, vocab], and
  finds S without sorting the vocabulary (a sort of [64, 262144] costs ≈ 6 matmuls here): exactly
  from the top-100 log-probs when they already hold top_p, else exactly from the raw logits of the
  row: on CPU with the compiled kernel, exact float64 sums of the row's probabilities in 1/16-octave
  bins and a sort of the one bin where the mass crosses top_p (``native_readouts.nucleus``); else a
  strided subsample places levels around the crossing, only the elements above the lower level are
  exponentiated and only those between the levels are sorted (``lmclaims.engine.nucleus``; until
  2026-12-07 a ¼-nat float64 histogram of the whole row, before 2026-12-02 a 65536-bin histogram
  with ≲ 1e-3 relative error). The standard
  features are computed from the same dense chunk (equal to the streaming lens to float32
  rounding; tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmclaims.engine.forward import sampled_rows
from lmclaims.engine.nucleus import nucleus_rows
from lmclaims.engine.lens import DEFAULT_TOPK, LogitTransform, geometry_features, lens_stats
from lmclaims.engine import native_readouts
from lmclaims.engine.readouts import LN2, Workspace, multi_readout, readouts_of_logits, shift_of, use_native
from lmclaims.probes.base import Probe, RowAccumulator

FEATURES = ("entropy", "entropy_norm", "p1", "p2", "margin", "ratio21", "topk_mass", "count_above")
NUCLEUS_FEATURES = ("nucleus_mass", "nucleus_count", "nucleus_entropy", "nucleus_topk_mass")

MATMUL_ROWS = 256          # rows per unembedding GEMM of ``LensGeometrySet``: a [rows, d]×[d, V] product reads
                           # all of W per call, so small row counts starve it (Qwen's W, 2-core EPYC, 2026-12-02:
                           # 27 rows 47 GFLOP/s, 64 rows 69, 256 rows 115); the GEMM and the readouts then run
                           # on [rows, dense_elements/rows] column blocks (``lmclaims.engine.readouts``)


@dataclass(frozen=True)
class LensGeometry(Probe):
    name = "lens_geometry"
    version = 5               # 3 (2026-12-02): dense features via ``readout_features`` (rounding); exact nucleus
                              # 4 (2026-12-07): readouts in base-2 shifted log-weights, cap via sigmoid (rounding)
                              # 5 (2026-12-07): cap's σ via exp2 + reciprocal (rounding); nucleus by levels (same)
                              # params carry ``readout_kernel`` (native-v1 / torch: rounding) from 2026-12-07;
                              # native-v2 (2026-12-07): compiled nucleus, degree-6 exp2 (rounding)
                              # native-v3 (2026-12-07): one region (top-K, b, pass 2, nucleus); same numbers
    positions_per_text: int | None = 16
    temperature: float = 1.0
    softcap: float | None = None        # an extra cap applied on top (the softcap control)
    native_softcap: bool = True         # apply the architecture's own final-logit cap
    topk_mass_k: int = 10
    threshold: float = 0.01
    seed: int = 0
    top_p: float | None = None          # also compute the top-p nucleus geometry (dense-chunk path)
    rows_per_chunk: int = 256
    dense_elements: int = 1 << 22       # rows·V per dense chunk on the top-p path (≈ 16 MiB of fp32)

    def __post_init__(self):
        if self.top_p is not None and not 0.0 < self.top_p < 1.0:
            raise ValueError(f"top_p must lie in (0, 1), got {self.top_p}")

    def params(self) -> dict:
        d = super().params()
        d.pop("rows_per_chunk")
        d.pop("dense_elements")
        d["readout_kernel"] = native_readouts.kernel_id()      # the two pass-2 paths differ in rounding
        return d

    def accumulator(self, lm, view):
        return _LensAcc(self, lm)


@dataclass(frozen=True)
class LensGeometrySet(Probe):
    """Several lens readouts of the SAME sampled (position, layer) points from ONE matmul per chunk.

    ``readouts`` = ((tag, temperature, extra softcap or None), ...): each gives the features of
    ``LensGeometry`` as ``"<tag>/<feature>"`` arrays [rows, L], computed on the dense logits of a
    chunk of rows (``multi_readout``; equal to the streaming lens to float32 rounding, tested),
    so the controls (temperature, caps) cost elementwise passes, not extra matmuls or top-K
    searches (every readout is monotone, so the chunk's top-K is found once), and are paired
    point by point with the baseline. ``top_p_tags`` also get the nucleus features. Shared arrays:
    ``cos_prev`` [rows, L], ``text_index``, ``position``. The native softcap is applied under every
    readout (the tighter cap wins when an extra one is given), as in ``LensGeometry``.
    """

    name = "lens_geometry_set"
    version = 5               # 2 (2026-12-02): top-K shared across readouts, H = log S − U/S (rounding); exact nucleus
                              # 3 (2026-12-07): ``multi_readout`` kernel (column-block GEMM, top-K filter, exp2; rounding)
                              # 4 (2026-12-07): cap's σ via exp2 + reciprocal (rounding); nucleus by levels (same)
                              # 5 (2026-12-07): on CPU the compiled readout kernel (one GEMM, native top-K and
                              #   pass 2: ``lmclaims.engine.native_readouts``; rounding), named in params
    positions_per_text: int | None = 4
    readouts: tuple = (("base", 1.0, None),)
    top_p: float | None = None
    top_p_tags: tuple = ()
    native_softcap: bool = True
    topk_mass_k: int = 10
    threshold: float = 0.01
    seed: int = 0
    dense_elements: int = 1 << 20       # rows·block per GEMM/readout tile (4 MiB of fp32: [256, 4096], cache-resident)
    matmul_elements: int = 1 << 26      # rows·V per unembedding GEMM (≈ 256 MiB of fp32; see MATMUL_ROWS)

    def params(self) -> dict:
        d = super().params()
        d.pop("dense_elements")
        d.pop("matmul_elements")
        d["readouts"] = [list(r) for r in self.readouts]
        d["top_p_tags"] = list(self.top_p_tags)
        d["readout_kernel"] = native_readouts.kernel_id()
        return d

    def accumulator(self, lm, view):
        return _SetAcc(self, lm)


class _SetAcc(RowAccumulator):
    def __init__(self, probe: LensGeometrySet, lm):
        super().__init__()
        self.p, self.ad = probe, lm.adapter
        native = lm.adapter.logit_softcap if probe.native_softcap else None
        self.tfs = []
        for tag, temp, cap in probe.readouts:
            caps = [c for c in (native, cap) if c]
            self.tfs.append((tag, LogitTransform(temperature=float(temp), softcap=min(caps) if caps else None)))
        self.top_ps = [probe.top_p if tag in probe.top_p_tags else None for tag, _ in self.tfs]
        self.ws = Workspace()                   # the kernel's buffers, reused across batches

    def update(self, batch):
        rows, cols, tix = sampled_rows(batch, self.p.positions_per_text, seed=self.p.seed)
        if not rows:
            return
        dev = batch.resid[0].device
        ri, ci = torch.tensor(rows, device=dev), torch.tensor(cols, device=dev)
        L = len(batch.resid) - 1
        H = torch.stack([batch.resid[l][ri, ci] for l in range(0, L + 1)], dim=1).float()
        a, b = H[:, :-1], H[:, 1:]
        cos_prev = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-30)
        P = H.shape[0]
        flat = H[:, 1:].reshape(P * L, -1)
        W, bias, V = self.ad.unembed_weight, self.ad.unembed_bias, self.ad.vocab_size
        mm_step = max(1, min(self.p.matmul_elements // V, MATMUL_ROWS))          # GEMM rows
        tfs = [tf for _, tf in self.tfs]
        feats: dict[str, list] = {}
        for s0 in range(0, flat.shape[0], mm_step):
            x = self.ad.normed(flat[s0:s0 + mm_step])
            # torch path: cache-sized [rows, block] tiles; native path: one GEMM (one parallel region: under
            # load per-block GEMM calls each wait at a barrier for a thread that lost its core)
            block = None if use_native(x.device) else max(1, self.p.dense_elements // x.shape[0])
            reads, top_raw, ws = multi_readout(x, W, bias, tfs, block=block, workspace=self.ws, top_p=self.top_ps)
            for (tag, tf), top_p, rd in zip(self.tfs, self.top_ps, reads):
                for k, v in _features(rd, tf, top_raw, ws, V, top_p, self.p.topk_mass_k,
                                      self.p.threshold).items():
                    feats.setdefault(f"{tag}/{k}", []).append(v)
        out = {k: torch.cat(v).reshape(P, L).cpu().numpy().astype(np.float32) for k, v in feats.items()}
        out["cos_prev"] = cos_prev.cpu().numpy().astype(np.float32)
        self.add(**out, text_index=np.asarray(tix, dtype=np.int32), position=np.asarray(cols, dtype=np.int32))


def split_set(arrays: dict) -> dict:
    """``LensGeometrySet`` result → {tag: LensGeometry-like arrays (features + shared columns)}."""
    shared = {k: v for k, v in arrays.items() if "/" not in k}
    out: dict[str, dict] = {}
    for k, v in arrays.items():
        if "/" in k:
            tag, feat = k.split("/", 1)
            out.setdefault(tag, dict(shared))[feat] = v
    return out


_NAMED: dict[str, type] = {}


def named(probe: LensGeometry, tag: str) -> LensGeometry:
    """The same probe (same parameters, same numbers) whose results are keyed ``lens_geometry:<tag>``.

    The engine returns ``{probe.name: arrays}``, so several lens configurations (baseline,
    temperature, caps, top-p) sharing one forward pass need distinct names; the name is part of the
    cache key, so a tag must always denote the same configuration.
    """
    if tag not in _NAMED:
        _NAMED[tag] = dataclass(frozen=True)(type(f"LensGeometry_{tag}", (LensGeometry,),
                                                  {"name": f"lens_geometry:{tag}", "__module__": __name__}))
    return _NAMED[tag](**{f: getattr(probe, f) for f in probe.__dataclass_fields__})


class _LensAcc(RowAccumulator):
    def __init__(self, probe: LensGeometry, lm):
        super().__init__()
        self.p, self.ad = probe, lm.adapter
        native = lm.adapter.logit_softcap if probe.native_softcap else None
        caps = [c for c in (native, probe.softcap) if c]
        # the tighter cap dominates; applying both would double-cap, so use the smallest
        self.tf = LogitTransform(temperature=probe.temperature, softcap=min(caps) if caps else None)

    def update(self, batch):
        rows, cols, tix = sampled_rows(batch, self.p.positions_per_text, seed=self.p.seed)
        if not rows:
            return
        dev = batch.resid[0].device
        ri, ci = torch.tensor(rows, device=dev), torch.tensor(cols, device=dev)
        L = len(batch.resid) - 1
        H = torch.stack([batch.resid[l][ri, ci] for l in range(0, L + 1)], dim=1).float()   # [P, L+1, d]
        a, b = H[:, :-1], H[:, 1:]
        cos_prev = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-30)   # [P, L]
        X = H[:, 1:]
        P = X.shape[0]
        flat = X.reshape(P * L, -1)
        feats: dict[str, list] = {}
        if self.p.top_p is None:
            step = self.p.rows_per_chunk
        else:
            step = max(1, min(self.p.rows_per_chunk, self.p.dense_elements // self.ad.vocab_size))
        for s in range(0, flat.shape[0], step):
            x = self.ad.normed(flat[s:s + step])
            if self.p.top_p is None:
                got = self._streaming(x)
            else:
                got = dense_features(x, self.ad.unembed_weight, self.ad.unembed_bias, self.tf, self.ad.vocab_size,
                                     top_p=self.p.top_p, topk_mass_k=self.p.topk_mass_k, threshold=self.p.threshold)
            for k, v in got.items():
                feats.setdefault(k, []).append(v)
        out = {k: torch.cat(v).reshape(P, L).cpu().numpy().astype(np.float32) for k, v in feats.items()}
        out["cos_prev"] = cos_prev.cpu().numpy().astype(np.float32)
        self.add(**out, text_index=np.asarray(tix, dtype=np.int32), position=np.asarray(cols, dtype=np.int32))

    def _streaming(self, x):
        st = lens_stats(x, self.ad.unembed_weight, self.ad.unembed_bias, transform=self.tf)
        return geometry_features(st, self.ad.vocab_size, topk_mass_k=self.p.topk_mass_k, threshold=self.p.threshold)


def dense_features(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, tf: LogitTransform,
                   vocab_size: int, *, top_p: float | None, topk_mass_k: int = 10, threshold: float = 0.01) -> dict:
    """All lens features of a chunk of normed rows ``x`` [c, d] from its materialised logits [c, V],
    plus the top-p nucleus geometry (see module docstring). Used only on the top-p path."""
    z = x.float() @ weight.float().T
    if bias is not None:
        z += bias.float()
    return readout_features(z, top_logits(z), tf, vocab_size, top_p=top_p, topk_mass_k=topk_mass_k,
                            threshold=threshold)


def top_logits(z: torch.Tensor, k: int = DEFAULT_TOPK) -> torch.Tensor:
    """The ``k`` largest raw logits of each row of z [c, V], descending: computed ONCE per chunk and
    shared by every readout (see ``readout_features``)."""
    return torch.topk(z, min(k, z.shape[1]), dim=1, sorted=True).values


def readout_features(z: torch.Tensor, top_raw: torch.Tensor, tf: LogitTransform, vocab_size: int, *,
                     top_p: float | None = None, topk_mass_k: int = 10, threshold: float = 0.01) -> dict:
    """Lens features of softmax(tf(z)) for raw logits z [c, V] whose sorted top-K is ``top_raw``.

    ``tf`` (c·tanh(·/c), then ÷T) is non-decreasing, so the top-K of tf(z) is tf(top_raw): the top-K
    is found once per chunk for every readout. Per readout, with a = log₂e·(tf(z) − tf(max z)):
    S = Σ 2^a, U₂ = Σ a·2^a, H = ln 2·(log₂ S − U₂/S), top log-probs = ln 2·(a(top_raw) − log₂ S)
    (``lmclaims.engine.readouts``: the streaming lens's identities in base 2). ``z`` is not
    modified. The nucleus (``top_p``) needs the dense log-probs only of rows whose top-K falls short.
    """
    rd = readouts_of_logits(z, top_raw, [tf])[0]
    return _features(rd, tf, top_raw, Workspace.of_logits(z) if top_p is not None else None, vocab_size, top_p,
                     topk_mass_k, threshold)


def _features(rd, tf: LogitTransform, top_raw: torch.Tensor, dense: Workspace | None, vocab_size: int,
              top_p: float | None, topk_mass_k: int, threshold: float) -> dict:
    """Features of one ``Readout``. ``dense``: the ``Workspace`` holding the chunk's raw logits (needed only
    with ``top_p``): the nucleus of the rows its top-K cannot settle comes from the compiled kernel on
    CPU (``Workspace.nucleus``), else from their raw logits with the readout's own shift applied
    (``lmclaims.engine.nucleus``)."""
    out = geometry_features(rd.stats(), vocab_size, topk_mass_k=topk_mass_k, threshold=threshold)
    if top_p is None:
        return out
    top_lp = rd.top_logprobs()
    shift = rd.shift if rd.shift is not None else shift_of(tf, top_raw)

    def native(rows):
        return dense.nucleus(rows, shift, top_p)

    def raw_rows(rows):
        return dense.rows(torch.as_tensor(rows, device=top_raw.device)).float().cpu().numpy()

    def lp_of(z, row):                     # the dense log-probs' operations, on the values z of one row
        rows = torch.tensor([row], device=top_raw.device)
        return (shift.natural(torch.from_numpy(z).to(top_raw.device)[None], rows) - rd.log_s[rows, None])[0].cpu().numpy()

    b64, ls64 = shift.b.double().cpu().numpy(), rd.log_s.double().cpu().numpy()

    def lp_est(z, row):                    # the same in float64 numpy, for the nucleus's estimate only
        u = z.astype(np.float64)
        if shift.cap is not None:
            u = 1.0 / (1.0 + np.exp2(shift.u * u))
        return (shift.k * u + b64[row]) * LN2 - ls64[row]

    mass, count, plogp = _nucleus(top_lp, top_raw[:, -1], raw_rows, lp_of, top_p, lp_est, native)
    return {**out, **_nucleus_features(mass, count, plogp, top_lp, topk_mass_k)}


def _nucleus_features(mass, count, plogp, top_lp, topk_mass_k: int) -> dict:
    topk = torch.exp(top_lp[:, :topk_mass_k].double()).sum(dim=1)
    return {"nucleus_mass": mass.float(), "nucleus_count": count.float(),
            "nucleus_entropy": (-(plogp / mass) + torch.log(mass)).clamp_min(0.0).float(),
            "nucleus_topk_mass": (torch.minimum(topk, mass) / mass).float()}


def nucleus(lp: torch.Tensor, top_p: float, *, top_lp: torch.Tensor | None = None):
    """(Σ_S p, |S|, Σ_S p log p) of the smallest set S with Σ_S p ≥ top_p, per row of ``lp`` [c, V]
    (log-probabilities). Returns float64 tensors [c].

    Rows whose sorted top-K log-probs ``top_lp`` (K ≥ 100, already computed for the other features)
    reach ``top_p`` are exact from them. The others (flat rows, S larger than K) are exact too, without
    sorting the vocabulary: a subsample places two levels around the crossing, the elements above
    the upper one are summed (float64), the band between them is sorted and taken until the mass
    reaches top_p, and both levels are checked exactly (``lmclaims.engine.nucleus``).
    """
    if top_lp is None:
        top_lp = torch.topk(lp, min(DEFAULT_TOPK, lp.shape[1]), dim=1, sorted=True).values
    return _nucleus(top_lp, top_lp[:, -1], lambda rows: lp[torch.as_tensor(rows)].float().cpu().numpy(),
                    lambda z, row: z, top_p)


def _nucleus(top_lp: torch.Tensor, top_raw_k: torch.Tensor, raw_rows, lp_of, top_p: float, lp_est=None,
             native=None):
    """``nucleus`` from the top-K log-probs ``top_lp`` [c, K] and the K-th largest raw logit ``top_raw_k``
    [c]; for the rows the top-K cannot settle, ``native(idx)`` (the compiled kernel; None or returning
    None: not here) gives their (mass, count, plogp), else ``raw_rows(idx)`` gives their raw logits
    (numpy [len(idx), V]) and ``lp_of(z, row)`` the log-probs of raw values (``lmclaims.engine.nucleus``)."""
    tp = torch.exp(top_lp.double())
    cum = tp.cumsum(dim=1)
    easy = cum[:, -1] >= top_p
    n = torch.clamp((cum < top_p).sum(dim=1), max=tp.shape[1] - 1)            # index of the last member
    keep = torch.arange(tp.shape[1])[None, :] <= n[:, None]
    mass = torch.where(keep, tp, 0.0).sum(dim=1)
    count = (n + 1).double()
    plogp = torch.where(keep, tp * top_lp.double(), 0.0).sum(dim=1)
    hard = torch.nonzero(~easy).flatten()
    if len(hard):
        hard = hard.cpu()
        got = native(hard.numpy()) if native is not None else None
        m, k, e = got if got is not None else nucleus_rows(hard.numpy(), raw_rows, lp_of,
                                                           top_raw_k.cpu()[hard].float().numpy(),
                                                           cum.cpu()[hard, -1].numpy(), top_p, lp_est)
        mass[hard], count[hard], plogp[hard] = torch.from_numpy(m), torch.from_numpy(k), torch.from_numpy(e)
    return mass, count, plogp
