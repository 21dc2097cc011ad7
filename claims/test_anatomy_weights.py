"""Seed 003 claim 1: weight predictability across depth.

"Layer weights follow strong mathematical regularity (R2 = 0.91) with a universal oscillatory delta
pattern (correlation ~= -0.50), yet predicted weights cause catastrophic failure due to nonlinear
error accumulation." (digest: "R² 0.91 for MLP gate_proj").

What the R² is of is not public. Readings (fixed before measuring):

* as-published R² — element-wise R² of W_l (gate_proj) predicted by the neighbour average
  (W_{l−1} + W_{l+1})/2 (the digest's predictor, whose substitution is the digest's ablation),
  per interior layer; "R² = 0.91" judged as equivalence to 0.91 within ±0.05 (TOST, unit = layer).
* corrected R² — per matrix type, least-squares neighbour prediction a·W_{l−1} + b·W_{l+1}; the
  claim of *regularity* is supported only if the mean R² over layers exceeds the 95th percentile
  of the shuffled-layer-order null (same matrices, depth adjacency destroyed).
* per-layer statistics vs depth — Frobenius norm per matrix type, polynomial of degree 2 in
  depth (a trend plus one bend: the usual shapes of norm profiles; 3 coefficients for 30 points,
  so a high R² is not bought by flexibility), judged by a permutation test against shuffled order.
* delta correlation — corr(W_{l+1} − W_l, W_l − W_{l−1}) per interior layer. For i.i.d. layers it
  is exactly −1/2 (definitions.md §3), so the as-published "≈ −0.50" (TOST ±0.05) is reported with
  that caveat; the corrected claim is that the pattern is *oscillatory beyond chance*, i.e. the mean
  delta correlation lies below the shuffled-order null's 5th percentile (permutation test).

Nulls: 2000 shuffled layer orders (seeded) and a random-init model of the same config
(``from_config``, seed 0; i.i.d. layers).
"""

from __future__ import annotations

import numpy as np
import pytest

from claims._anatomy_helpers import DIGEST, MODELS, SOURCE, instruct_caveat, mean_boot, permutation_judgement
from lmclaims.probes.weight_regularity import (LLAMA_MATRICES, delta_correlation, depth_poly_r2, neighbour_r2,
                                               permutation_null, random_init_blocks, summaries)
from lmclaims.stats.assertions import equivalent

pytestmark = pytest.mark.models(MODELS)

N_PERM = 2000          # shuffled orders; Gram summaries make each one O(L) — cheap and exact
NULL_SEED = 3          # fixed seed for the permutation draws
DEGREE = 2             # polynomial degree for statistics vs depth (see module docstring)
TYPES = tuple(LLAMA_MATRICES)
_MEMO: dict = {}


def weight_numbers(lm) -> dict:
    if lm.fingerprint in _MEMO:
        return _MEMO[lm.fingerprint]
    if lm.adapter.model_type not in ("llama", "mistral", "qwen2"):
        pytest.skip(f"matrix names are defined for llama-like blocks, not {lm.adapter.model_type}")
    real = summaries(lm.adapter.blocks)
    rand = summaries(random_init_blocks(lm.model.config, seed=0))
    L = lm.adapter.n_layers
    out = {"L": L, "types": {}}
    for t in TYPES:
        s, r = real[t], rand[t]
        frob = s.frobenius()
        d = {
            "r2_avg": neighbour_r2(s, mode="average"), "r2_lsq": neighbour_r2(s, mode="lstsq"),
            "dc": delta_correlation(s), "frob": frob,
            "depth_r2": depth_poly_r2(frob, degree=DEGREE),
            "depth_r2_mean": depth_poly_r2(s.mean(), degree=DEGREE), "depth_r2_std": depth_poly_r2(s.std(), degree=DEGREE),
            "rand_r2_avg": neighbour_r2(r, mode="average").mean(), "rand_r2_lsq": neighbour_r2(r, mode="lstsq").mean(),
            "rand_dc": delta_correlation(r).mean(), "rand_depth_r2": depth_poly_r2(r.frobenius(), degree=DEGREE),
            "null_r2_avg": permutation_null(lambda o: neighbour_r2(s, mode="average", order=o).mean(), L,
                                            n_perm=N_PERM, seed=NULL_SEED),
            "null_r2_lsq": permutation_null(lambda o: neighbour_r2(s, mode="lstsq", order=o).mean(), L,
                                            n_perm=N_PERM, seed=NULL_SEED),
            "null_dc": permutation_null(lambda o: delta_correlation(s, order=o).mean(), L, n_perm=N_PERM, seed=NULL_SEED),
            "null_depth": permutation_null(lambda o: depth_poly_r2(frob, degree=DEGREE, order=o), L,
                                           n_perm=N_PERM, seed=NULL_SEED),
        }
        rng = np.random.default_rng(NULL_SEED)
        idx = rng.integers(0, L, size=(1000, L))
        d["boot_depth"] = np.array([_pairs_r2(frob, i) for i in idx])
        out["types"][t] = d
    _MEMO[lm.fingerprint] = out
    return out


def _pairs_r2(y, idx):
    x = np.linspace(-1, 1, len(y))[idx]
    yy = np.asarray(y)[idx]
    if np.unique(x).size <= DEGREE:
        return np.nan
    c = np.polynomial.polynomial.polyfit(x, yy, DEGREE)
    res = yy - np.polynomial.polynomial.polyval(x, c)
    sst = ((yy - yy.mean()) ** 2).sum()
    return 1 - (res ** 2).sum() / sst if sst > 0 else np.nan


def _table(w, lm):
    rows = []
    for t in TYPES:
        d = w["types"][t]
        rows.append([t, f"{d['r2_avg'].mean():.3f}", f"{np.quantile(d['null_r2_avg'], 0.95):.3f}",
                     f"{d['rand_r2_avg']:.3f}", f"{d['r2_lsq'].mean():.2e}", f"{np.quantile(d['null_r2_lsq'], 0.95):.2e}",
                     f"{d['rand_r2_lsq']:.2e}", f"{d['depth_r2']:.3f}", f"{np.quantile(d['null_depth'], 0.95):.3f}",
                     f"{d['dc'].mean():.3f}", f"[{np.quantile(d['null_dc'], 0.05):.3f}, {np.quantile(d['null_dc'], 0.95):.3f}]",
                     f"{d['rand_dc']:.3f}"])
    return {"kind": "table", "title": f"Weight predictability vs nulls ({lm.name}; paper: R² 0.91, delta corr ≈ −0.50)",
            "columns": ["type", "R² avg", "shuffled q95", "random-init", "R² lstsq", "shuffled q95", "random-init",
                        f"norm~depth R² (deg {DEGREE})", "shuffled q95", "delta corr", "shuffled 5–95%", "random-init"],
            "rows": rows}


@pytest.mark.claim("anatomy.weight_r2", source=SOURCE, variant="as-published", version=1,
                   statement="layer weights follow strong mathematical regularity (R2 = 0.91) "
                             "[digest: for MLP gate_proj]; read as element-wise neighbour-average R² = 0.91 ± 0.05")
def test_predictability_r2_as_published(model, verdict):
    w = weight_numbers(model)
    r2 = w["types"]["gate"]["r2_avg"]
    j = equivalent(r2, target=DIGEST["r2"], margin=0.05, unit="layer", names=("element-wise R² (gate_proj)", ""))
    verdict.record(j, caveats=instruct_caveat(model) + (
        "what the paper's R² measures is not public; 0.05 is a declared 'same regime' margin",
        "dequantised Q4_1 weights add ≈7% independent noise per matrix, which lowers element-wise R²"),
        plots=[_table(w, model)])


@pytest.mark.claim("anatomy.weight_r2", source=SOURCE, variant="corrected", version=1, verdicts=len(TYPES),
                   statement="layer weights are predictable from their neighbours beyond chance: mean "
                             "least-squares neighbour R² exceeds the shuffled-order null's 95th percentile")
def test_predictability_r2_corrected(model, verdict):
    w = weight_numbers(model)
    for t in TYPES:
        d = w["types"][t]
        q95 = float(np.quantile(d["null_r2_lsq"], 0.95))
        j = permutation_judgement(float(d["r2_lsq"].mean()), d["null_r2_lsq"], side=+1, null_name="shuffled-order",
                                  quantity=f"mean least-squares neighbour R² ({t})", boot=mean_boot(d["r2_lsq"]),
                                  n=len(d["r2_lsq"]), extra={"null_q95": q95, "random_init": d["rand_r2_lsq"],
                                                             "r2_average_predictor": float(d["r2_avg"].mean())})
        verdict.record(j, label=t, caveats=instruct_caveat(model) + (
            f"shuffled-order null: mean R² {d['null_r2_lsq'].mean():.3g}, q95 {q95:.3g}; random-init model "
            f"{d['rand_r2_lsq']:.3g}; 'beyond chance' is not 'strong': compare the size with the claimed 0.91",),
            plots=[_table(w, model)] if t == TYPES[0] else None)


@pytest.mark.claim("anatomy.weight_depth_stats", source=SOURCE, variant="corrected", version=1, verdicts=len(TYPES),
                   statement=f"per-layer weight statistics follow depth regularly: the degree-{DEGREE} polynomial "
                             "fit of Frobenius norm vs depth beats shuffled depth order")
def test_predictability_depth_stats(model, verdict):
    w = weight_numbers(model)
    for t in TYPES:
        d = w["types"][t]
        boot = d["boot_depth"][np.isfinite(d["boot_depth"])]
        j = permutation_judgement(d["depth_r2"], d["null_depth"], quantity=f"R² of ‖W_{t}‖_F ~ poly{DEGREE}(depth)",
                                  null_name="shuffled-order", boot=boot, n=w["L"],
                                  extra={"r2_mean_vs_depth": d["depth_r2_mean"], "r2_std_vs_depth": d["depth_r2_std"],
                                         "random_init_r2": d["rand_depth_r2"]})
        plot = None
        if t == TYPES[0]:
            plot = [{"kind": "curves", "title": "Frobenius norm per layer and matrix type",
                     "series": {k: {"x": list(range(w["L"])), "y": w["types"][k]["frob"].tolist()} for k in TYPES},
                     "xlabel": "layer", "ylabel": "‖W‖_F", "logy": True}]
        verdict.record(j, label=t, caveats=instruct_caveat(model), plots=plot)


@pytest.mark.claim("anatomy.delta_correlation", source=SOURCE, variant="as-published", version=1, verdicts=len(TYPES),
                   statement="a universal oscillatory delta pattern (correlation ~= -0.50): "
                             "corr(W_{l+1}−W_l, W_l−W_{l−1}) = −0.50 ± 0.05 for every matrix type")
def test_delta_correlation_as_published(model, verdict):
    w = weight_numbers(model)
    for t in TYPES:
        d = w["types"][t]
        j = equivalent(d["dc"], target=DIGEST["delta_corr"], margin=0.05, unit="layer", names=(f"delta corr ({t})", ""))
        verdict.record(j, label=t, caveats=instruct_caveat(model) + (
            "i.i.d. layers give exactly −1/2 (definitions.md §3): agreement with −0.50 is NOT evidence of "
            f"structure; random-init model of the same shapes: {d['rand_dc']:.3f}; shuffled real layers: "
            f"{d['null_dc'].mean():.3f}",), plots=[_table(w, model)] if t == TYPES[0] else None)


@pytest.mark.claim("anatomy.delta_correlation", source=SOURCE, variant="corrected", version=1, verdicts=len(TYPES),
                   statement="the delta pattern is oscillatory beyond chance: mean delta correlation lies below "
                             "the shuffled-order null's 5th percentile")
def test_delta_correlation_corrected(model, verdict):
    w = weight_numbers(model)
    for t in TYPES:
        d = w["types"][t]
        q05 = float(np.quantile(d["null_dc"], 0.05))
        j = permutation_judgement(float(d["dc"].mean()), d["null_dc"], side=-1, null_name="shuffled-order",
                                  quantity=f"mean delta correlation ({t})", boot=mean_boot(d["dc"]), n=len(d["dc"]),
                                  extra={"null_q05": q05, "random_init": d["rand_dc"]})
        verdict.record(j, label=t, caveats=instruct_caveat(model) + (
            f"null: shuffled order mean {d['null_dc'].mean():.3f} (5th pct {q05:.3f}); random init {d['rand_dc']:.3f}; "
            "i.i.d. theory −0.5",))
