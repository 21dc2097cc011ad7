"""Shared measurement and judgement helpers for the seed-003 claims (claims/test_anatomy_*.py).

Pre-declared constants — each with its reason; none was chosen after looking at results.
"""

from __future__ import annotations

import numpy as np

from lmclaims.probes.ablation import (AblationSweepNLL, BlockMeanUpdate, block_influence, delta_ppl_percent)
from lmclaims.probes.nll import NextTokenNLL
from lmclaims.probes.residual import ResidualNorms
from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.resampling import bootstrap, invert, thin_tail_caveat

SOURCE = "003_172f46b4d8ad4983.txt"
MODELS = "smollm2-135m*"     # matches the hub base model (the paper's) and the offline instruct model

#: Budget decision: the per-layer sweeps use the first 24 eval texts of the pinned corpus, in the
#: session's token window (128 by default → ≈ 3k tokens; the paper used 10 texts). A full skip
#: sweep plus the named-layer sweeps is ≈ 30 forward-pass equivalents on them. History: 32 texts ×
#: 256 tokens took 10 min cold on the 2-core machine (2026-12-02), over the module's 12-minute
#: budget with training included; cut for time, after those verdicts were known (they are in the
#: issue notes), not to change them.
N_TEXTS_SWEEP = 24
#: Layers the paper names: the critical core L8–11 and the anti-layers L14, L17. Mean ablation and
#: neighbour-average replacement run on these by default; all 30 layers behind --runslow.
CORE = (8, 9, 10, 11)
ANTI = (14, 17)
NAMED_LAYERS = CORE + ANTI
#: k of the critical-core rank test = size of the published core (4 layers, L8–11).
CORE_K = len(CORE)

DIGEST = {  # unverified third-party digest (definitions.md §3) and the abstract (seed 003)
    "baseline_ppl": 22.60, "baseline_texts": 10, "anti_layer_dppl": -0.6, "core_max_dppl": 63419.0,
    "range_decades": 7.0, "r2": 0.91, "delta_corr": -0.50, "scale_dppl": 19.0, "growth_ratio": 4.7,
    "growth_val": (0.127, 0.599), "growth_speedup": 0.13, "recovery_steps_core": 200,
}


def instruct_caveat(lm) -> tuple[str, ...]:
    name = lm.name
    if "instruct" in name:
        return (f"ran on {name}: the offline panel's dequantised-GGUF (Q4_1) *instruct* model; the paper "
                "used the base SmolLM2-135M (hub panel: --panel hub)",)
    return (f"ran on {name}",)


# --------------------------------------------------------------------------- measurements

_MEMO: dict = {}


def ablation_data(measure, lm, *, layers_neighbour=NAMED_LAYERS, layers_mean=NAMED_LAYERS,
                  n_texts: int = N_TEXTS_SWEEP) -> dict:
    """Clean NLL, Block Influence, mean updates, and per-text ΔPPL% [texts, layers] for the skip
    sweep (all layers) and the neighbour / mean sweeps (``layers_*``), on the first ``n_texts``."""
    key = (lm.fingerprint, tuple(layers_neighbour), tuple(layers_mean), n_texts)
    if key in _MEMO:
        return _MEMO[key]
    L = lm.adapter.n_layers
    all_layers = tuple(range(L))
    res = measure(lm, [NextTokenNLL(), ResidualNorms(), BlockMeanUpdate(),
                       AblationSweepNLL(kind="skip", layers=all_layers),
                       AblationSweepNLL(kind="neighbour", layers=tuple(layers_neighbour))], max_texts=n_texts)
    mean_update = res["block_mean_update"]["mean_update"]
    res_m = measure(lm, [AblationSweepNLL(kind="mean", layers=tuple(layers_mean), mean_update=mean_update)],
                    max_texts=n_texts)
    n = n_texts
    nll = res["nll"]
    out = {"n_texts": n, "n_layers": L,
           "ppl_base": np.exp(np.mean(nll["nll"])),   # corpus-level exp(mean token NLL), for the table
           "bi": block_influence(res["residual_norms"]["cos_prev"], res["residual_norms"]["text_index"], n),
           "mean_update": mean_update}
    # the probes return per-text rows in their own order; the sweep carries its own base column
    from lmclaims.probes.base import per_text
    out["ppl_text"] = np.exp(per_text(nll["nll"], nll["text_index"], n))
    for kind, r in (("skip", res["ablation_sweep_nll_skip"]), ("neighbour", res["ablation_sweep_nll_neighbour"]),
                    ("mean", res_m["ablation_sweep_nll_mean"])):
        out[kind] = (tuple(int(x) for x in r["layers"]), delta_ppl_percent(r["nll"], r["nll_base"], r["text_index"], n))
    _MEMO[key] = out
    return out


# --------------------------------------------------------------------------- judgements

def vector_statistic_judgement(values: np.ndarray, statistic, threshold: float, *, side: int, quantity: str,
                               unit: str = "text", label: str = "", extra: dict | None = None,
                               caveats=()) -> Judgement:
    """Directional judgement of a statistic of a whole per-unit *vector* (e.g. a range over layers).

    ``values`` [units, k]; ``statistic(X, axis=-1)`` receives ``X`` [k, ..., units] and must return
    one number per resample (reduce the unit axis, then the k axis). Same bootstrap, interval and
    directional rule as :func:`lmclaims.stats.assertions.above` / ``below`` (BCa over units at the
    test's family level; SUPPORTED if the CI lies wholly on the claim's side of the threshold,
    REFUTED if wholly on the other side).
    """
    opts = resolve()
    X = np.asarray(values, dtype=float)
    if X.ndim != 2 or X.shape[0] < 2 or not np.all(np.isfinite(X)):
        raise ValueError(f"values must be a finite [units, k] array, got shape {X.shape}")
    r = bootstrap((X.T,), statistic, resolved=opts)
    decide = lambda lo, hi: judging.directional(lo, hi, threshold=threshold, min_effect=0.0, side=side)  # noqa: E731
    sup, ref = decide(r.low, r.high)
    degenerate = not (np.isfinite(r.low) and np.isfinite(r.high))
    p = float(invert(r, lambda lo, hi: decide(lo, hi)[0], alpha=opts.alpha))
    status = judging.status_of(bool(sup), bool(ref), degenerate)
    rule = judging.directional_rule(quantity, r.confidence_level, side=side, threshold=threshold, min_effect=0.0)
    reason = judging.directional_reason(status, float(r.low), float(r.high), r.confidence_level, side=side,
                                        threshold=threshold, min_effect=0.0, degenerate=degenerate)
    ev = Evidence(statistic=quantity, estimate=float(r.estimate), confidence_interval=ConfidenceInterval(float(r.low), float(r.high)),
                  n=X.shape[0], unit=unit, method=r.method_text(unit), confidence_level=r.confidence_level,
                  seed=r.seed, p_value=p, bootstrap_distribution=tuple(np.asarray(r.distribution, float).ravel()[:2000]),
                  extra={"alpha": opts.alpha, "threshold": threshold, **(extra or {})})
    return Judgement(status=status, evidence=ev, rule=rule, p_value=p, reason=reason, label=label,
                     caveats=tuple(caveats) + thin_tail_caveat(r.n_resamples, r.confidence_level))


def permutation_judgement(observed: float, null: np.ndarray, *, quantity: str, null_name: str,
                          boot: np.ndarray | None = None, unit: str = "layer", n: int, label: str = "",
                          side: int = +1, extra: dict | None = None, caveats=()) -> Judgement:
    """Claim: ``observed`` exceeds (``side=+1``) / falls below (``side=-1``) what the permutation
    ``null`` gives.

    p = (1 + #{null at least as extreme}) / (1 + n_perm) (one-sided). SUPPORTED if p ≤ alpha (the
    test's family level); REFUTED if observed is on the null median's side (no more structure than
    chance order); INCONCLUSIVE in between. The interval shown is the percentile interval of
    ``boot`` (a bootstrap of the statistic over layers) when given, else the point.
    """
    opts = resolve()
    null = np.asarray(null, dtype=float)
    extreme = null >= observed if side > 0 else null <= observed
    p = float((1 + np.sum(extreme)) / (1 + null.size))
    med = float(np.median(null))
    q = float(np.quantile(null, 1 - opts.alpha if side > 0 else opts.alpha))
    word = "above" if side > 0 else "below"
    qname = f"{judging.pct(1 - opts.alpha if side > 0 else opts.alpha)} quantile"
    if p <= opts.alpha:
        status, reason = Status.SUPPORTED, f"observed {observed:.4g} lies {word} the null {qname} {q:.4g} (p={p:.3g})"
    elif (observed <= med) if side > 0 else (observed >= med):
        status, reason = Status.REFUTED, f"observed {observed:.4g} is not {word} the null median {med:.4g} (p={p:.3g})"
    else:
        status, reason = Status.INCONCLUSIVE, f"observed {observed:.4g} lies between the null median {med:.4g} and its {qname} {q:.4g} (p={p:.3g})"
    if boot is not None and len(boot):
        lo, hi = np.quantile(boot, [opts.alpha / 2, 1 - opts.alpha / 2])
    else:
        lo = hi = observed
    rule = (f"supported if {quantity} lies {word} the {null_name} null's {qname} "
            f"(permutation p ≤ {opts.alpha:.3g}); refuted if it is not {word} the null median; else inconclusive")
    ev = Evidence(statistic=quantity, estimate=float(observed), confidence_interval=ConfidenceInterval(float(lo), float(hi)),
                  n=int(n), unit=unit, method=f"permutation test ({null.size} {null_name} draws); interval: "
                  "percentile bootstrap over layers", confidence_level=1 - opts.alpha, seed=opts.seed, p_value=p,
                  extra={"alpha": opts.alpha, "null_median": med, "null_quantile": q, **(extra or {})})
    return Judgement(status=status, evidence=ev, rule=rule, p_value=p, reason=reason, label=label, caveats=tuple(caveats))


def mean_boot(values, *, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the mean of per-unit ``values`` (for displayed intervals)."""
    v = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(v), size=(n_boot, len(v)))
    return v[idx].mean(axis=1)


def layer_means_ci(D: np.ndarray, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95):
    """Mean over texts per column with a percentile bootstrap interval (for plots/tables only)."""
    rng = np.random.default_rng(seed)
    n = D.shape[0]
    idx = rng.integers(0, n, size=(n_boot, n))
    boots = D[idx].mean(axis=1)
    a = (1 - level) / 2
    return D.mean(axis=0), np.quantile(boots, a, axis=0), np.quantile(boots, 1 - a, axis=0)
