"""The V20 five-state taxonomy (seed 004), as our stand-in (the author's thresholds are not public).

Per (token, layer) point, from ``LensGeometry`` (version ≥ 2) arrays:

- hidden-state change  c = 1 − cos(h_{l-1}, h_l)   (``cos_prev``; residual stream, before the final norm)
- surface margin       m = p1 − p2                  (``margin`` of the lens distribution at layer l)
- commitment           p1 > τ

States (codes 0..4, in ``STATES`` order), with precedence D > C > {E, A, B}:

====  ===========================  ==============================================
code  state                        rule
====  ===========================  ==============================================
E     stable                       c <  c* and m ≥ m*
A     hidden turbulence            c ≥ c* and m ≥ m*   (hidden moves, surface steady)
B     surface branching            c <  c* and m <  m* (surface contested, hidden steady)
C     committed, no bifurcation    p1 > τ and not D
D     full bifurcation             c ≥ c* and m <  m*  (both move)
====  ===========================  ==============================================

Thresholds — fixed here, in one place, not tuned on any claim:

- c*, m* = the **medians of the model's own unperturbed reference run** (all sampled points, all
  layers): "high" and "low" mean above/below that model's typical value. Reason: the absolute scale
  of cos distance depends on the architecture (norm growth, pre/post-norm) and of the margin on the
  readout, so fixed constants would encode architecture into the states; a median split is the one
  scale-free choice that needs no tuning. Consequence: before precedence each 2×2 marginal is 50/50,
  so occupancy differences between models come from the *joint* behaviour (how change and margin
  co-vary) and from commitment. Perturbed runs are classified with the reference's thresholds.
- τ = 0.5: the top token holds more mass than all others together (a majority), the weakest
  threshold at which the argmax cannot be overturned by any reallocation of the remaining mass.

Transitions are counted along layers l → l+1 at each sampled position and summed per text (the
text is the bootstrap unit). Under independence across layers P(D→D) would equal P(D) — the
reference to read a "transient" claim against.

Also here: ``compare_runs``, the exact comparison behind the zero-noise null of the perturbation
experiment (seed 002 §3b): a σ = 0 run must reproduce the reference bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATES = ("E", "A", "B", "C", "D")
STATE_NAMES = {"E": "stable", "A": "hidden turbulence", "B": "surface branching",
               "C": "committed, no bifurcation", "D": "full bifurcation"}
COMMIT_TAU = 0.5                 # see module docstring
E, A, B, C, D = range(5)


@dataclass(frozen=True)
class Thresholds:
    change: float                # c*: cos distance split
    margin: float                # m*: p1 − p2 split
    commit: float = COMMIT_TAU   # τ
    source: str = "medians of the unperturbed reference run"

    def as_dict(self) -> dict:
        return {"change": float(self.change), "margin": float(self.margin), "commit": float(self.commit),
                "source": self.source}


def change_of(features: dict) -> np.ndarray:
    """Hidden-state change 1 − cos(h_{l-1}, h_l), [rows, L]."""
    return 1.0 - np.asarray(features["cos_prev"], dtype=np.float64)


def reference_thresholds(features: dict, *, commit: float = COMMIT_TAU) -> Thresholds:
    """c*, m* = medians over every (row, layer) point of the unperturbed reference run."""
    return Thresholds(change=float(np.median(change_of(features))),
                      margin=float(np.median(np.asarray(features["margin"], dtype=np.float64))), commit=commit)


def assign_states(change: np.ndarray, margin: np.ndarray, p1: np.ndarray, th: Thresholds) -> np.ndarray:
    """State codes (0..4 = E, A, B, C, D) per point; same shape as the inputs."""
    change, margin, p1 = (np.asarray(a, dtype=np.float64) for a in (change, margin, p1))
    hi_c = change >= th.change
    hi_m = margin >= th.margin
    out = np.where(hi_c, np.where(hi_m, A, D), np.where(hi_m, E, B)).astype(np.int8)
    committed = (p1 > th.commit) & (out != D)
    out[committed] = C
    return out


def states_of(features: dict, th: Thresholds) -> np.ndarray:
    return assign_states(change_of(features), features["margin"], features["p1"], th)


def occupancy_per_text(states: np.ndarray, text_index: np.ndarray, n_texts: int,
                       layers: slice | None = None) -> np.ndarray:
    """[n_texts, 5] fraction of each text's points (over ``layers`` columns) in each state."""
    s = states if layers is None else states[:, layers]
    counts = np.zeros((n_texts, len(STATES)))
    ti = np.repeat(np.asarray(text_index), s.shape[1])
    np.add.at(counts, (ti, s.reshape(-1).astype(np.int64)), 1.0)
    tot = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return counts / tot


def transitions_per_text(states: np.ndarray, text_index: np.ndarray, n_texts: int) -> np.ndarray:
    """[n_texts, 5, 5] counts of layer-to-layer transitions (from state i at l to j at l+1)."""
    frm = states[:, :-1].reshape(-1).astype(np.int64)
    to = states[:, 1:].reshape(-1).astype(np.int64)
    ti = np.repeat(np.asarray(text_index), states.shape[1] - 1)
    out = np.zeros((n_texts, len(STATES), len(STATES)))
    np.add.at(out, (ti, frm, to), 1.0)
    return out


def transition_matrix(counts: np.ndarray) -> np.ndarray:
    """Row-normalised pooled transition matrix from per-text counts [n, 5, 5] (NaN rows: never left)."""
    pooled = counts.sum(axis=0)
    with np.errstate(invalid="ignore"):
        return pooled / pooled.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class NullCheck:
    identical: bool
    max_abs_diff: dict
    compared: tuple

    def describe(self) -> str:
        worst = max(self.max_abs_diff.items(), key=lambda kv: kv[1]) if self.max_abs_diff else ("-", 0.0)
        return (f"{'identical' if self.identical else 'DIFFERENT'}: {len(self.compared)} arrays compared, "
                f"largest |difference| {worst[1]:.3g} in {worst[0]!r}")


def compare_runs(reference: dict, other: dict, keys=None) -> NullCheck:
    """Exact (bitwise, NaN-aware) comparison of two measurements of the same view and probe."""
    keys = tuple(sorted(reference if keys is None else keys))
    diffs, same = {}, True
    for k in keys:
        a, b = np.asarray(reference[k]), np.asarray(other[k])
        if a.shape != b.shape:
            diffs[k], same = float("inf"), False
            continue
        eq = np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        with np.errstate(invalid="ignore"):
            d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        diffs[k] = float(np.nanmax(d)) if d.size and not np.all(np.isnan(d)) else 0.0
        same &= bool(eq)
    return NullCheck(identical=same, max_abs_diff=diffs, compared=keys)
