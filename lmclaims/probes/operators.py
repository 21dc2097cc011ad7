"""Registry of V20-style "bicephalic" operators: per (token, layer) G and D from lens geometry.

Seed 004's operator (κ_G, κ_D of the V20 preprint) is **not public** (definitions.md §2). What is
registered here is ours and every verdict that uses it must say so (``Operator.describe()`` carries
``"provenance": "ours"`` and a one-line label):

``v20-standin`` (v1)      G = topk_mass₁₀ · (1 − H / ln V)      D = p2 / p1
``entropy-only`` (v1)     G = 1 − H / ln V                      D = H / ln V
                          (the Entropy-Lens baseline, arXiv 2502.16570: a "ratio" built from entropy
                          alone; if it shows the same clusters, G and D add nothing beyond entropy)
``v20-topp99`` (v1)       G = q₁₀ · exp(−H_S)                   D = p2 / p1
                          computed on the renormalised top-p 0.99 nucleus S (reviewer's control 2):
                          q₁₀ = mass of the top 10 within S / mass(S), H_S the nucleus entropy in
                          nats. Neither term involves V, so tokenizer granularity (the tail) cannot
                          enter; D is unchanged by renormalisation.

Aggregation (the text is the bootstrap unit, never the token):
per text t, Ḡ_t = mean of G over its (token, layer) points, D̄_t likewise, and
GD_t = Ḡ_t / D̄_t; per model GD = mean_t Ḡ_t / mean_t D̄_t (ratio of means over texts, bootstrapped
by resampling texts). Division by zero is explicit (:func:`gd_ratio`): D̄ = 0 gives +inf when
Ḡ > 0 (a one-hot everywhere: pure concentration, no competition) and NaN when both are 0.

Register a new definition (e.g. the author's, if it is published) with::

    @register_operator("v20-author", version=1, requires=("p1", "p2", ...), label="…")
    def _author(f):  # f: {feature name: array [rows, L]}
        return G, D

Unknown names raise ``KeyError`` listing close matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lmclaims.probes.base import per_text


@dataclass(frozen=True)
class Operator:
    name: str
    version: int
    fn: Callable[[dict], tuple[np.ndarray, np.ndarray]]
    requires: tuple[str, ...]
    label: str
    provenance: str = "ours"

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "provenance": self.provenance, "label": self.label}

    def points(self, features: dict) -> tuple[np.ndarray, np.ndarray]:
        """(G, D) per (row, layer) point, float64, same shape as the features."""
        missing = [k for k in self.requires if k not in features]
        if missing:
            raise KeyError(f"operator {self.name!r} needs features {missing}; "
                           f"measure them (LensGeometry{'(top_p=0.99)' if 'nucleus_entropy' in missing else ''})")
        g, d = self.fn({k: np.asarray(features[k], dtype=np.float64) for k in self.requires})
        return np.asarray(g, dtype=np.float64), np.asarray(d, dtype=np.float64)

    def per_text(self, features: dict, n_texts: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(Ḡ_t, D̄_t): means over each text's (token, layer) points; texts without rows are NaN."""
        ti = np.asarray(features["text_index"])
        n = int(ti.max()) + 1 if n_texts is None else n_texts
        g, d = self.points(features)
        return (per_text(g.mean(axis=1), ti, n), per_text(d.mean(axis=1), ti, n))

    def model_ratio(self, features: dict) -> float:
        gt, dt = self.per_text(features)
        ok = np.isfinite(gt) & np.isfinite(dt)
        return gd_ratio(gt[ok].mean(), dt[ok].mean())


_REGISTRY: dict[str, Operator] = {}


def register_operator(name: str, *, version: int = 1, requires: tuple[str, ...], label: str,
                      provenance: str = "ours"):
    """Decorator registering ``fn(features) -> (G, D)`` under ``name`` (re-registering replaces it)."""
    def deco(fn):
        _REGISTRY[name] = Operator(name=name, version=int(version), fn=fn, requires=tuple(requires), label=label,
                                   provenance=provenance)
        return fn
    return deco


def get_operator(name: str) -> Operator:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"unknown operator {name!r}; registered: {sorted(_REGISTRY)}.{hint}") from None


def operator_names() -> list[str]:
    return sorted(_REGISTRY)


def gd_ratio(mean_g, mean_d):
    """Ḡ / D̄ with division by zero made explicit: D̄ = 0 → +inf if Ḡ > 0, NaN if Ḡ = 0."""
    g = np.asarray(mean_g, dtype=np.float64)
    d = np.asarray(mean_d, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d > 0, g / np.where(d > 0, d, 1.0), np.where(g > 0, np.inf, np.nan))
    return out if out.ndim else float(out)


@register_operator("v20-standin", version=1, requires=("topk_mass", "entropy_norm", "ratio21"),
                   label="V20 stand-in (ours; the author's operator is not public): "
                         "G = top-10 mass × (1 − H/ln V), D = p2/p1")
def _standin(f):
    return f["topk_mass"] * (1.0 - f["entropy_norm"]), f["ratio21"]


@register_operator("entropy-only", version=1, requires=("entropy_norm",),
                   label="entropy-only baseline (ours, after Entropy-Lens): G = 1 − H/ln V, D = H/ln V")
def _entropy_only(f):
    h = f["entropy_norm"]
    return 1.0 - h, h


@register_operator("v20-topp99", version=1, requires=("nucleus_topk_mass", "nucleus_entropy", "ratio21"),
                   label="V20 stand-in on the top-p 0.99 nucleus (ours): G = q10 × exp(−H_S), D = p2/p1")
def _topp(f):
    return f["nucleus_topk_mass"] * np.exp(-f["nucleus_entropy"]), f["ratio21"]
