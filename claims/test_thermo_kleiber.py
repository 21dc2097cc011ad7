"""Seeds 000/001 — the "Kleiber-like law": G_max ≈ 10^(1/L).

definitions.md §1: 10^(1/L) is not fitted; it follows from assuming a total gain G_max^L = 10 (paper
§4.1 Eq. 3). Two readings are tested:

- the **bound** per model: "no block gain exceeds 10^(1/L)" — corrected: each text's largest
  per-block gain (blocks 1..L-1, token-geometric mean) vs 10^(1/L); as published: the hidden-states
  G vs 10^(1/L); plus arithmetic on the paper's own Pythia numbers;
- the **law** across depths: log10 G_max = slope / L with slope 1 (through the origin), on a
  controlled depth sweep of tiny models trained in the suite (same width, data, recipe; 3 seeds per
  depth; unit = trained model; ``slow``: it trains, so ``--claims-runslow``) and on the hub Pythia panel.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from claims import _thermo_helpers as H
from lmclaims.models.loading import CorruptModel, ModelUnavailable
from lmclaims.stats import assertions
from lmclaims.stats.directional import statistic_below as assertions_statistic_below
from lmclaims.stats.exact import exact
from lmclaims.training.thermo import TinySpec, run_tiny

pytestmark = pytest.mark.measures(H.RESIDUAL_NORMS)   # the residual norms on the default eval view

BOUND_STATEMENT = "For the Pythia family, the maximum stable residual gain scales with depth as G_max ≈ 10^(1/L)"
SWEEP_SEEDS = (0, 1, 2)               # 3 seeds per depth (brief); not chosen by looking at results
SWEEP_DEPTHS = (2, 4, 8)              # 1/L spans 0.125..0.5; the sweep trains 9 models: --claims-runslow
SWEEP_DEPTHS_SLOW = (2, 4, 8, 16)     # and a deeper sweep adding depth 16
# One recipe for every depth (nanoGPT-like; decided before any run): llama-style pre-RMSNorm,
# d_model 64, 4 heads, byte tokens, blocks of 64, AdamW lr 3e-3, betas (0.9, 0.95), weight decay 0.1,
# 10% warmup + cosine, 150 steps of 16 blocks (~154k tokens; the loss falls from ~5.7 to ~2.6 nats).
SWEEP_TRAIN = dict(steps=150, batch_size=16, lr=3e-3, weight_decay=0.1)


def kleiber(L: int) -> float:
    return H.KLEIBER_TOTAL_GAIN ** (1.0 / L)


@pytest.mark.claim("thermo.kleiber_bound", source=H.SEED_POST, statement=BOUND_STATEMENT, variant="corrected")
def test_kleiber_bound_corrected(model, measure, verdict):
    """G_max = max over blocks 1..L-1 of the per-block gain (geometric mean over texts) < 10^(1/L).

    The maximum block is RE-SELECTED in every bootstrap resample (statistic_below over the per-text
    [texts, blocks] log-gain array), so the interval carries the selection (issue 12: the old test
    took each text's largest block, a different and inflated quantity). Log scale: the bound is
    ln(10)/L, the margin ln(1 + MIN_EFFECT_G)."""
    s = H.gains_of(measure, model)
    L = s.n_layers
    j = assertions_statistic_below((s.log_profile[:, 1:],), H.max_layer_mean, math.log(kleiber(L)),
                                   min_effect=math.log1p(H.MIN_EFFECT_G),
                                   name="max over blocks 1..L-1 of mean log g_l (max re-selected per resample)")
    verdict.record(j, label=f"L={L}, bound 10^(1/L)={kleiber(L):.4f}",
                   caveats=["the paper states the law for Pythia only; offline models test whether the bound is "
                            "general (Pythia: " + H.HUB_CMD.format(k="kleiber") + ")",
                            "block 0 (maps the embeddings) excluded; estimate and CI are on the log scale "
                            f"(bound ln 10 / L = {math.log(kleiber(L)):.4f})"],
                   plots=[dict(H.layer_profile_plot(s, f"{model.name}: per-block gain vs the Kleiber bound"),
                               reference=kleiber(L))])


@pytest.mark.claim("thermo.kleiber_bound", source=H.SEED_POST, statement=BOUND_STATEMENT, variant="as-published")
def test_kleiber_bound_hidden_states(model, measure, verdict):
    s = H.gains_of(measure, model)
    L = s.n_layers
    j = assertions.below(s.hidden_states, kleiber(L), min_effect=H.MIN_EFFECT_G, name="hidden-states G")
    verdict.record(j, label=f"L={L}, bound 10^(1/L)={kleiber(L):.4f}",
                   caveats=["as published: the penultimate block's gain at the last token, mean over texts"])


@pytest.mark.claim("thermo.kleiber_paper", source=H.SEED_POST, statement=BOUND_STATEMENT, variant="as-published")
def test_kleiber_paper_numbers(verdict):
    """Pure arithmetic on the paper's Pythia (L, G) (definitions.md §1): which model breaks the bound."""
    rows, broken = [], []
    for name, (L, g) in sorted(H.PAPER_PYTHIA_HS.items(), key=lambda kv: kv[1][0]):
        b = kleiber(L)
        rows.append([name, L, g, b, g > b, math.log10(g) * L])
        if g > b:
            broken.append(f"{name} G {g} > 10^(1/{L}) = {b:.3f}")
    Ls = np.array([v[0] for v in H.PAPER_PYTHIA_HS.values()], float)
    Gs = np.array([v[1] for v in H.PAPER_PYTHIA_HS.values()], float)
    r, p = scipy.stats.pearsonr(Ls, Gs)
    slope = float(np.sum((1 / Ls) * np.log10(Gs)) / np.sum((1 / Ls) ** 2))
    j = exact(
        not broken, statistic="Pythia models with G > 10^(1/L) (paper's numbers)", estimate=len(broken), n=len(rows),
        unit="published model", method="arithmetic on the paper's published numbers (definitions.md §1)",
        rule="as a bound: refuted if any published Pythia G exceeds 10^(1/L); supported if none does",
        reason="; ".join(broken) or "no Pythia G exceeds its bound",
        extra={"pearson_L_G": float(r), "pearson_p": float(p), "slope_through_origin_log10G_on_invL": slope},
        caveats=[f"[calc] Pearson(L, G) = {r:.3f} (p = {p:.3f}); the figure's r = -0.812 is Pearson(heads/d_head, G)",
                 f"least-squares slope of log10 G on 1/L through the origin = {slope:.3f} (the law predicts 1)",
                 "interior per-layer gains exceed 10^(1/L) in 7 of 8 Pythia models (definitions.md §1)"])
    verdict.record(j, models=["paper"], plots=[H.table(
        "Paper's Pythia hidden-states G vs the Kleiber bound", ["model", "L", "G (paper)", "10^(1/L)", "G > bound",
                                                              "L·log10 G (law: 1)"], rows)])


# --- controlled depth sweep --------------------------------------------------------------------------------
def _sweep(corpus, measure, depths):
    results = []
    for L in depths:
        for seed in SWEEP_SEEDS:
            spec = TinySpec.make(arch="llama", n_layers=L, d_model=64, n_heads=4, seed=seed, train=SWEEP_TRAIN)
            results.append(run_tiny(spec, corpus, derived_json=measure.derived_json, num_threads=H.THREADS))
    return results


def _loss_checked(results):
    """Training must have worked for the sweep to mean anything: every run's eval loss must drop."""
    bad = [f"L={r.spec.n_layers} seed={r.spec.seed}: {r.eval_before:.3f} -> {r.eval_after:.3f}"
           for r in results if not r.eval_after < r.eval_before - 0.5]
    if bad:
        pytest.fail("tiny-model training did not reduce the held-out loss by 0.5 nats: " + "; ".join(bad))
    curves = {f"L={r.spec.n_layers} s{r.spec.seed}": {"x": list(range(0, len(r.losses), 5)), "y": r.losses[::5]}
              for r in results}
    return {"kind": "curves", "title": "tiny depth sweep: training loss", "series": curves, "xlabel": "step",
            "ylabel": "cross-entropy (nats/byte)"}


def _law(verdict, results, which: str, caveat: str):
    L = np.array([r.spec.n_layers for r in results], float)
    if which == "max_block":
        g = np.array([r.g_max for r in results])
        name = "log10 G_max (max over blocks 1..L-1)"
    else:
        g = np.array([float(np.mean(r.gains["hidden_states"])) for r in results])
        name = "log10 hidden-states G"
    j = assertions.law_fits(1.0 / L, np.log10(g), slope=1.0, through_origin=True,
                            slope_margin=H.KLEIBER_SLOPE_MARGIN, unit="trained model", names=("1/L", name))
    rows = [[r.spec.n_layers, r.spec.seed, float(gi), kleiber(r.spec.n_layers), r.eval_before, r.eval_after]
            for r, gi in zip(results, g)]
    losses = _loss_checked(results)
    verdict.record(j, models=["tiny-llama-sweep"], label=f"depths {sorted(set(L.astype(int).tolist()))}",
                   caveats=[caveat, "tiny llama-style models (d_model 64, byte tokens) trained on the corpus' train "
                            "half, measured on the disjoint probe half; unit = trained model (3 seeds per depth)"],
                   plots=[H.table(f"depth sweep: {name}", ["L", "seed", "G", "10^(1/L)", "eval loss before",
                                                           "eval loss after"], rows), losses])


@pytest.mark.slow     # trains a model: --claims-runslow (README, "Budgets")
@pytest.mark.claim("thermo.kleiber_law", source=H.SEED_POST, statement=BOUND_STATEMENT, variant="corrected")
def test_kleiber_law_depth_sweep(corpus, measure, verdict):
    _law(verdict, _sweep(corpus, measure, SWEEP_DEPTHS), "max_block",
         "G_max = max over blocks 1..L-1 of the per-block geometric-mean gain, chosen and estimated on the same "
         "probe texts (the cached sweep keeps only the mean profile): its upward selection bias is the largest "
         "of 1..L-2 near-ties of text noise, small against the between-depth spread, and it goes into the "
         "model-level residual of the fit (unit = trained model)")


@pytest.mark.slow     # trains a model: --claims-runslow (README, "Budgets")
@pytest.mark.claim("thermo.kleiber_law", source=H.SEED_POST, statement=BOUND_STATEMENT, variant="as-published")
def test_kleiber_law_depth_sweep_hidden_states(corpus, measure, verdict):
    _law(verdict, _sweep(corpus, measure, SWEEP_DEPTHS), "hidden_states",
         "as published: hidden-states G (penultimate block, last token), mean over probe texts")


@pytest.mark.slow
# family: the deep sweep and the Pythia fit test the same law as kleiber_law, so they share its family
# (one claim, one family; issue 12).
@pytest.mark.claim("thermo.kleiber_law_deep", source=H.SEED_POST, statement=BOUND_STATEMENT, variant="corrected",
                   family="thermo.kleiber_law")
def test_kleiber_law_depth_sweep_deep(corpus, measure, verdict):
    _law(verdict, _sweep(corpus, measure, SWEEP_DEPTHS_SLOW), "max_block", "depths 2..16 (slow)")


@pytest.mark.claim("thermo.kleiber_law_pythia", source=H.SEED_POST, statement=BOUND_STATEMENT, variant="corrected",
                   verdicts=2, family="thermo.kleiber_law")
def test_kleiber_law_pythia(model_pool, measure, verdict):
    pythia = [e for e in model_pool.entries.values() if e.family == "pythia"]
    if len(pythia) < 3:
        pytest.skip("needs >= 3 Pythia models (hub panel): " + H.HUB_CMD.format(k="kleiber"))
    L, gmax, ghs = [], [], []
    for e in pythia:
        try:
            s = H.gains_of(measure, model_pool.get(e.name))
        except (ModelUnavailable, CorruptModel) as exc:
            pytest.skip(str(exc))
        L.append(s.n_layers)
        # the max block is chosen on the first half of the texts and its gain estimated on the second half
        # (issue 12: a maximum chosen and estimated on the same texts is biased upward)
        _, held = H.held_out_max_layer(s.log_profile)
        gmax.append(float(np.exp(held.mean())))
        ghs.append(float(np.mean(s.hidden_states)))
    L = np.asarray(L, float)
    for name, g in (("G_max corrected", gmax), ("hidden-states G", ghs)):
        verdict.record(assertions.law_fits(1 / L, np.log10(g), slope=1.0, through_origin=True,
                                           slope_margin=H.KLEIBER_SLOPE_MARGIN, names=("1/L", f"log10 {name}")),
                       models=[e.name for e in pythia], label=name)
