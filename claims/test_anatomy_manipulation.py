"""Seed 003 claim 4: "Only weight scaling (alpha = 0.9) preserves model quality among five tested
manipulation strategies" (digest: "scaling α = 0.9 gives +19% PPL").

The paper's five strategies, their scope and strengths are not public. Our reading (fixed before
measuring; lmclaims/engine/interventions/weights.py): every 2-D weight of every decoder block is changed by
one of five strategies at the *same* relative Frobenius norm as α = 0.9 scaling,
‖ΔW‖_F = 0.1·‖W‖_F per matrix — scale, Gaussian noise, magnitude pruning, low-rank (SVD)
truncation, uniform rounding. Per-text ΔNLL = NLL_manipulated − NLL_clean (nats/token, the log
scale on which PPL changes are decided: a mean of PPL ratios is dominated by the heaviest text) on
the first 24 eval texts (budget decision shared with the ablation sweeps), paired over texts.

* as-published — "α = 0.9 gives +19% PPL": scaling's mean ΔNLL equivalent to ln 1.19 = 0.174
  within ± ln(1.19)/2 = 0.087 (half the claimed effect on the log scale, i.e. PPL +9.1% … +29.8%;
  declared margin), TOST over texts.
* corrected — "only scaling preserves quality" at matched strength: every other strategy degrades
  more than scaling (``greater`` on ΔNLL, paired over texts), one verdict per strategy.
"""

from __future__ import annotations

import numpy as np
import pytest

from claims._anatomy_helpers import (DIGEST, MODELS, N_TEXTS_SWEEP, SOURCE, derived_arrays, dnll, instruct_caveat,
                                     layer_means_ci, probe_ids)
from lmclaims.probes.ablation import delta_ppl_percent
from lmclaims.engine.interventions import STRATEGIES, ManipulateWeights
from lmclaims.probes.nll import NextTokenNLL
from lmclaims.stats.assertions import equivalent, greater

# ``slow`` (--claims-runslow; README, "Budgets"): six full passes over the block stack and 210 float64
# SVDs, ≈ 74 s cold of a default run that must fit 10 minutes on 2 cores -- a budget decision, taken
# before and independent of the verdicts.
pytestmark = [pytest.mark.models(MODELS), pytest.mark.slow]

STRENGTH = 0.1     # = 1 − α for the paper's α = 0.9
SEED = 0           # noise seed (the only random strategy)


def manipulation_deltas(measure, lm) -> dict[str, np.ndarray]:
    """Per-text ΔPPL% [texts] of each manipulation strategy: a derived measurement (made once per
    model, view, strategies, strength and seed; read back by the next test and on a warm re-run)."""
    n = N_TEXTS_SWEEP
    view = measure.view(max_texts=n)
    manipulations = [ManipulateWeights(strategy=s, strength=STRENGTH, seed=SEED) for s in STRATEGIES]

    def compute():
        base = measure(lm, [NextTokenNLL()], view=view)["nll"]
        out = {}
        for s, iv in zip(STRATEGIES, manipulations):
            r = measure(lm, [NextTokenNLL()], intervention=iv, view=view)["nll"]
            if not np.array_equal(r["text_index"], base["text_index"]):
                raise AssertionError("manipulated and clean passes must have the same token rows")
            out[s] = delta_ppl_percent(r["nll"], base["nll"], base["text_index"], n)
        return out

    return derived_arrays(measure, "anatomy_manipulation", {
        "model": lm.fingerprint, "view": view.key, "probes": probe_ids([NextTokenNLL()]),
        "interventions": [iv.describe() for iv in manipulations]}, compute)


def _plot(d):
    m, lo, hi = zip(*[[float(v[0]) for v in layer_means_ci(d[s][:, None])] for s in STRATEGIES])
    return {"kind": "bars", "title": f"ΔPPL% at matched ‖ΔW‖_F = {STRENGTH}·‖W‖_F (all block matrices)",
            "categories": list(STRATEGIES), "series": {"ΔPPL %": list(m)}, "lo": {"ΔPPL %": list(lo)},
            "hi": {"ΔPPL %": list(hi)}, "ylabel": "ΔPPL %", "logy": True}


@pytest.mark.claim("anatomy.manipulation", source=SOURCE, variant="as-published", version=2,
                   statement="weight scaling alpha = 0.9 preserves quality [digest: +19% PPL]; read as mean per-text "
                             "ΔNLL = ln 1.19 ± ln(1.19)/2 when every block matrix is scaled by 0.9")
def test_manipulation_scaling_as_published(model, measure, verdict):
    d = manipulation_deltas(measure, model)
    target = float(np.log1p(DIGEST["scale_dppl"] / 100.0))
    j = equivalent(dnll(d["scale"]), target=target, margin=target / 2, unit="text",
                   names=("ΔNLL nats/token (all block matrices × 0.9)", ""))
    table = {"kind": "table", "title": "Manipulations at matched strength: paper/digest vs ours",
             "columns": ["strategy", "paper / digest", "ours ΔPPL% (mean over texts)"],
             "rows": [[s, "+19% (digest), 'preserves quality'" if s == "scale" else "degrades (abstract)",
                       f"{d[s].mean():+.2f}%"] for s in STRATEGIES]}
    verdict.record(j, caveats=instruct_caveat(model) + (
        "scope (all blocks' matrices) and the +19% reference are our reading of an unverified digest",),
        plots=[_plot(d), table])


@pytest.mark.claim("anatomy.manipulation", source=SOURCE, variant="corrected", version=2, verdicts=len(STRATEGIES) - 1,
                   statement="only weight scaling (alpha = 0.9) preserves model quality: at matched ‖ΔW‖_F every other "
                             "strategy raises PPL more than scaling")
def test_manipulation_only_scaling_corrected(model, measure, verdict):
    d = manipulation_deltas(measure, model)
    for s in STRATEGIES:
        if s == "scale":
            continue
        j = greater(dnll(d[s]), dnll(d["scale"]), unit="text", names=(f"ΔNLL {s}", "ΔNLL scale"))
        verdict.record(j, label=s, caveats=instruct_caveat(model), plots=[_plot(d)] if s == "noise" else None)
