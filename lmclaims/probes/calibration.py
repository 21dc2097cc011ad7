"""Temperature calibration for the reviewer's control 1 (seed 002): one scalar T per model.

T is fitted on **held-out** texts so that the mean entropy of the model's final-layer distribution
softmax(cap(z)/T) equals a common target; the calibrated lens then reads every layer with the same T.

``FinalNormedStates`` records ``final_norm(h_L)`` (the unembedding input) at sampled positions;
``fit_temperature`` materialises the logits of those rows chunk by chunk (never more than
``max_elements`` floats) and solves mean_rows H(T) = target for u = log T. Mean entropy is strictly
increasing in T for non-constant logits, with

    dH/du = T·dH/dT = Var_p(z/T) = Σ p·lp² − H²     (lp = log p; one pass gives H and its slope),

so the root is unique and Newton's method on u, started at T = 1 and safeguarded by bisection inside
a bracket that one evaluation at T_min or T_max establishes, converges in ≈ 5 entropy evaluations
(Brent's method, used until 2026-12-02, needed ≈ 17 over the same rows: ≈ 40 s for Gemma's
V = 262144 here). A target outside [H(T_min), H(T_max)] raises ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmclaims.engine.forward import sampled_rows
from lmclaims.probes.base import Probe, RowAccumulator, last_residual

T_MIN, T_MAX = 0.02, 50.0     # search bracket: far outside any plausible calibration of a trained LM


FIT_VERSION = 1  # bump when fit_temperature changes its numbers (cache provenance of a fit)


@dataclass(frozen=True)
class FinalNormedStates(Probe):
    """final_norm(h_L) at up to ``positions_per_text`` sampled positions per text (position 0 skipped)."""

    name = "final_normed_states"
    version = 1
    positions_per_text: int | None = 8
    seed: int = 0

    def sites(self, adapter):
        return last_residual(adapter)

    def accumulator(self, lm, view):
        return _FinalAcc(self, lm)


class _FinalAcc(RowAccumulator):
    def __init__(self, probe, lm):
        super().__init__()
        self.p, self.ad = probe, lm.adapter

    def update(self, batch):
        rows, cols, tix = sampled_rows(batch, self.p.positions_per_text, seed=self.p.seed)
        if not rows:
            return
        last = batch.resid[-1]
        x = self.ad.normed(last[torch.tensor(rows), torch.tensor(cols)]).float()
        self.add(x=x.cpu().numpy().astype(np.float32), text_index=np.asarray(tix, dtype=np.int32),
                 position=np.asarray(cols, dtype=np.int32))


@dataclass(frozen=True)
class TemperatureFit:
    temperature: float
    target: float
    entropy_at_1: float          # mean entropy before calibration (T = 1), nats
    entropy_at_t: float          # mean entropy at the fitted T (= target up to the solver tolerance)
    n_rows: int
    evaluations: int

    def as_dict(self) -> dict:
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in self.__dict__.items()}


def mean_entropy(chunks: list[torch.Tensor], temperature: float, softcap: float | None = None) -> float:
    """Mean over rows of H(softmax(cap(z)/T)) for logits given as a list of [rows, V] chunks."""
    return _entropy_and_slope(_capped(chunks, softcap), temperature)[0]


def _capped(chunks: list[torch.Tensor], softcap: float | None) -> list[torch.Tensor]:
    return [softcap * torch.tanh(z / softcap) for z in chunks] if softcap else chunks


def _entropy_and_slope(chunks: list[torch.Tensor], temperature: float) -> tuple[float, float]:
    """(mean H, mean dH/dlogT) over rows of softmax(z/T), in float64; dH/dlogT = Σ p·lp² − H²."""
    h_sum, v_sum, n = 0.0, 0.0, 0
    for z in chunks:
        lp = torch.log_softmax(z.double() / temperature, dim=1)
        p = lp.exp()
        plp = p * lp
        h = -plp.sum(dim=1)
        v = (plp * lp).sum(dim=1) - h * h
        h_sum += float(h.sum())
        v_sum += float(v.clamp_min(0.0).sum())
        n += z.shape[0]
    return h_sum / n, v_sum / n


def fit_temperature_logits(chunks: list[torch.Tensor], target: float, *, softcap: float | None = None,
                           xtol: float = 1e-6, maxiter: int = 100) -> TemperatureFit:
    """Solve mean H(softmax(cap(z)/T)) = ``target`` for T on explicit logits (list of [rows, V]).

    Newton on u = log T from u = 0 (T = 1). The residual there says on which side the root lies;
    the bracket end on that side (log T_min or log T_max) is evaluated once, which is the
    out-of-reach check, and the root is then bracketed: a Newton step that leaves the bracket is
    replaced by bisection. Stops when the step is below ``xtol`` in u.
    """
    zc = _capped(chunks, softcap)
    calls = {"n": 0}

    def f(u):
        calls["n"] += 1
        h, slope = _entropy_and_slope(zc, float(np.exp(u)))
        return h - target, slope

    u, (r, slope) = 0.0, f(0.0)
    h_at_1 = r + target
    if r != 0.0:
        edge = np.log(T_MAX) if r < 0 else np.log(T_MIN)
        r_edge = f(edge)[0]
        if (r_edge < 0) == (r < 0):
            raise ValueError(f"target entropy {target:g} nats is outside the range reachable with T in "
                             f"[{T_MIN}, {T_MAX}]: H(T=1) = {h_at_1:.4g}, H(T={np.exp(edge):g}) = {r_edge + target:.4g}")
        lo, hi = sorted((0.0, edge))
        for _ in range(maxiter):
            if r < 0:
                lo = u
            else:
                hi = u
            nxt = u - r / slope if slope > 0 else np.nan
            if not lo < nxt < hi:
                nxt = 0.5 * (lo + hi)
            step, u = abs(nxt - u), nxt
            if step < xtol:
                break
            r, slope = f(u)
            if r == 0.0:
                break
        else:
            raise RuntimeError(f"temperature fit did not converge in {maxiter} steps (T = {np.exp(u):.6g})")
    t = float(np.exp(u))
    n_rows = sum(int(z.shape[0]) for z in chunks)
    return TemperatureFit(temperature=t, target=float(target), entropy_at_1=h_at_1,
                          entropy_at_t=_entropy_and_slope(zc, t)[0], n_rows=n_rows, evaluations=calls["n"])


def logits_chunks(x: np.ndarray | torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                  max_elements: int = 1 << 27, chunk_elements: int = 1 << 24) -> list[torch.Tensor]:
    """Logits of normed rows ``x`` [R, d] in chunks of ≤ ``chunk_elements`` (R·V ≤ ``max_elements``)."""
    x = torch.as_tensor(x).float()
    V = weight.shape[0]
    if x.shape[0] * V > max_elements:
        raise ValueError(f"{x.shape[0]} rows × {V} vocab exceeds max_elements={max_elements}; sample fewer rows")
    step = max(1, chunk_elements // V)
    out = []
    with torch.inference_mode():
        for s in range(0, x.shape[0], step):
            z = x[s:s + step] @ weight.float().T
            if bias is not None:
                z += bias.float()
            out.append(z)
    return out


def fit_temperature(x, weight, bias=None, *, target: float, softcap: float | None = None) -> TemperatureFit:
    """Fit T on normed final states ``x`` [R, d] (from ``FinalNormedStates``) of held-out texts."""
    return fit_temperature_logits(logits_chunks(x, weight, bias), target, softcap=softcap)
