"""Temperature calibration for the reviewer's control 1 (seed 002): one scalar T per model.

T is fitted on **held-out** texts so that the mean entropy of the model's final-layer distribution
softmax(cap(z)/T) equals a common target; the calibrated lens then reads every layer with the same T.

``FinalNormedStates`` records ``final_norm(h_L)`` (the unembedding input) at sampled positions;
``fit_temperature`` materialises the logits of those rows chunk by chunk (never more than
``max_elements`` floats) and solves mean_rows H(T) = target with Brent's method on log T. Mean
entropy is strictly increasing in T for non-constant logits (dH/dT = Var_p(z)/T³ > 0), so the root
is unique; a target outside [H(T_min), H(T_max)] raises ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import torch

from lmclaims.engine.forward import sampled_rows
from lmclaims.probes.base import Probe, RowAccumulator

T_MIN, T_MAX = 0.02, 50.0     # search bracket: far outside any plausible calibration of a trained LM


@dataclass(frozen=True)
class FinalNormedStates(Probe):
    """final_norm(h_L) at up to ``positions_per_text`` sampled positions per text (position 0 skipped)."""

    name = "final_normed_states"
    version = 1
    positions_per_text: int | None = 8
    seed: int = 0

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
    total, n = 0.0, 0
    for z in chunks:
        if softcap:
            z = softcap * torch.tanh(z / softcap)
        lp = torch.log_softmax(z.double() / temperature, dim=1)
        total += float(-(lp.exp() * lp).sum(dim=1).sum())
        n += z.shape[0]
    return total / n


def fit_temperature_logits(chunks: list[torch.Tensor], target: float, *, softcap: float | None = None,
                           xtol: float = 1e-6) -> TemperatureFit:
    """Solve mean H(softmax(cap(z)/T)) = ``target`` for T on explicit logits (list of [rows, V])."""
    calls = {"n": 0}

    def f(log_t):
        calls["n"] += 1
        return mean_entropy(chunks, float(np.exp(log_t)), softcap) - target

    lo, hi = np.log(T_MIN), np.log(T_MAX)
    f_lo, f_hi = f(lo), f(hi)
    if not f_lo < 0 < f_hi:
        raise ValueError(f"target entropy {target:g} nats is outside [{f_lo + target:.4g}, {f_hi + target:.4g}] "
                         f"reachable with T in [{T_MIN}, {T_MAX}]")
    log_t = scipy.optimize.brentq(f, lo, hi, xtol=xtol)
    t = float(np.exp(log_t))
    n_rows = sum(int(z.shape[0]) for z in chunks)
    return TemperatureFit(temperature=t, target=float(target), entropy_at_1=mean_entropy(chunks, 1.0, softcap),
                          entropy_at_t=mean_entropy(chunks, t, softcap), n_rows=n_rows, evaluations=calls["n"])


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
