"""Seed 003 (arXiv 2603.19348, "Anatomical heterogeneity", SmolLM2-135M), claim 2: layer importance.

"Layer importance spans a 10^7 range, from a critical core (L8-11, up to +63,419% PPL degradation)
to anti-layers (L14, L17) whose removal improves performance."

Method (paper unknown beyond the abstract; an unverified digest says: replace a layer's weights by
the average of its neighbours, PPL on 10 sentences, baseline 22.60, L14/L17 at −0.6%):

* as-published = the digest's neighbour-average weight replacement (ends: copy of the only
  neighbour), per-text PPL on our pinned corpus;
* corrected    = block skip (the layer's *removal*: identity block, ShortGPT) for every layer, with
  per-text bootstrap intervals; mean ablation on the named layers as a third reading.

ΔPPL% of a layer = mean over texts of 100·(PPL_ablated/PPL_clean − 1); the text is the unit.
Budget decision: the first 24 eval texts (N_TEXTS_SWEEP) for every sweep; skip for all 30 layers
by default, neighbour/mean on the named layers (L8–11, L14, L17) by default, all layers --runslow.
"""

from __future__ import annotations

import numpy as np
import pytest

from claims._anatomy_helpers import (ANTI, CORE, CORE_K, DIGEST, MODELS, SOURCE, ablation_data,
                                     instruct_caveat, layer_means_ci, vector_statistic_judgement)
from lmclaims.stats.assertions import below, correlated

pytestmark = pytest.mark.models(MODELS)


def _cols(data, kind, layers):
    have, D = data[kind]
    return D[:, [have.index(l) for l in layers]]


def _profile_plot(data):
    L = data["n_layers"]
    m, lo, hi = layer_means_ci(data["skip"][1])
    series, los, his = {"block skip": m.tolist()}, {"block skip": lo.tolist()}, {"block skip": hi.tolist()}
    for kind, label in (("neighbour", "neighbour average"), ("mean", "mean ablation")):
        have, D = data[kind]
        mk, lok, hik = layer_means_ci(D)
        full = [np.nan] * L
        series[label], los[label], his[label] = list(full), list(full), list(full)
        for j, l in enumerate(have):
            series[label][l], los[label][l], his[label][l] = mk[j], lok[j], hik[j]
    return {"kind": "bars", "title": "ΔPPL% per ablated layer (mean over texts, 95% percentile CI)",
            "categories": [f"L{l}" for l in range(L)], "series": series, "lo": los, "hi": his,
            "ylabel": "ΔPPL %", "logy": True}


def _repro_table(data, lm):
    nb = dict(zip(*[data["neighbour"][0], data["neighbour"][1].mean(0)]))
    sk = data["skip"][1].mean(0)
    mn = dict(zip(*[data["mean"][0], data["mean"][1].mean(0)]))
    ppl10 = float(np.exp(np.log(data["ppl_text"][:10]).mean()))
    rows = [["baseline PPL", f"{DIGEST['baseline_ppl']} (10 sentences, digest)",
             f"{data['ppl_base']:.2f} ({data['n_texts']} texts, corpus-level); {ppl10:.2f} (geo-mean of first 10 texts)"],
            ["max ΔPPL% in core L8–11", f"+{DIGEST['core_max_dppl']:,.0f}%",
             f"neighbour {max(nb[l] for l in CORE):+.1f}%, skip {max(sk[l] for l in CORE):+.1f}%, "
             f"mean {max(mn[l] for l in CORE):+.1f}%"],
            ["most important layer (skip)", "L8–11 (core)", f"L{int(np.argmax(sk))} ({sk.max():+.4g}%)"]]
    for l in ANTI:
        rows.append([f"ΔPPL% L{l}", f"{DIGEST['anti_layer_dppl']}% (digest)",
                     f"neighbour {nb[l]:+.2f}%, skip {sk[l]:+.2f}%, mean {mn[l]:+.2f}%"])
    return {"kind": "table", "title": f"Seed 003 ablation numbers: paper/digest vs ours ({lm.name})",
            "columns": ["quantity", "paper / digest", "ours"], "rows": rows}


@pytest.mark.claim("anatomy.anti_layers", source=SOURCE, variant="as-published", version=1, verdicts=2,
                   statement="anti-layers (L14, L17) whose removal improves performance "
                             "[digest: neighbour-average replacement, L14/L17 at −0.6% PPL]")
def test_anti_layer_as_published(model, measure, verdict):
    data = ablation_data(measure, model)
    D = _cols(data, "neighbour", ANTI)
    verdict.record(below(D, 0.0, unit="text", name="ΔPPL% (neighbour-average replacement)",
                         labels=[f"L{l}" for l in ANTI]),
                   caveats=instruct_caveat(model) + (
                       "ablation = neighbour-average weight replacement as an unverified digest describes it; "
                       "the paper's own procedure and sentences are not public",),
                   plots=[_profile_plot(data), _repro_table(data, model)])


@pytest.mark.claim("anatomy.anti_layers", source=SOURCE, variant="corrected", version=1, verdicts=2,
                   statement="removing L14 or L17 (block skip) lowers perplexity")
def test_anti_layer_corrected(model, measure, verdict):
    data = ablation_data(measure, model)
    D = _cols(data, "skip", ANTI)
    verdict.record(below(D, 0.0, unit="text", name="ΔPPL% (block skip)", labels=[f"L{l}" for l in ANTI]),
                   caveats=instruct_caveat(model))


@pytest.mark.claim("anatomy.anti_layer_scan", source=SOURCE, variant="corrected", version=1, verdicts=30,
                   statement="anti-layers exist: removing layer l (block skip) lowers perplexity "
                             "(one verdict per layer, Holm over the 30 layers)")
def test_anti_layer_scan(model, measure, verdict):
    data = ablation_data(measure, model)
    layers, D = data["skip"]
    js = below(D, 0.0, unit="text", name="ΔPPL% (block skip)", labels=[f"L{l}" for l in layers])
    verdict.record(js, caveats=instruct_caveat(model), plots=[_profile_plot(data)])


def _core_margin(core_idx, other_idx):
    def margin(X, axis=-1):
        m = X.mean(axis=axis)                     # [k, ...] per-layer mean ΔPPL%
        return m[list(core_idx)].min(axis=0) - m[list(other_idx)].max(axis=0)
    margin.__name__ = "core_margin"
    return margin


@pytest.mark.claim("anatomy.critical_core", source=SOURCE, variant="corrected", version=1,
                   statement="a critical core (L8-11) is the most important: all of L8–11 rank in the top "
                             f"{CORE_K} layers by block-skip ΔPPL")
def test_critical_core_corrected(model, measure, verdict):
    data = ablation_data(measure, model)
    layers, D = data["skip"]
    core = [layers.index(l) for l in CORE]
    other = [j for j in range(len(layers)) if j not in core]
    m = D.mean(0)
    ranks = (-m).argsort().argsort() + 1
    j = vector_statistic_judgement(
        D, _core_margin(core, other), 0.0, side=+1, unit="text",
        quantity=f"min ΔPPL% over L8–11 − max ΔPPL% over the other layers (block skip)",
        extra={"core_ranks": {f"L{l}": int(ranks[layers.index(l)]) for l in CORE},
               "top_k": [f"L{layers[i]}" for i in np.argsort(-m)[:CORE_K]], "k": CORE_K})
    table = {"kind": "table", "title": "Rank of each layer by block-skip ΔPPL (1 = most important)",
             "columns": ["layer", "ΔPPL % (mean)", "rank"],
             "rows": [[f"L{l}", f"{m[i]:+.4g}", int(ranks[i])] for i, l in enumerate(layers)]}
    verdict.record(j, caveats=instruct_caveat(model) + (
        f"k = {CORE_K} is the size of the published core, not chosen from our data",), plots=[table])


@pytest.mark.slow
@pytest.mark.claim("anatomy.critical_core", source=SOURCE, variant="as-published", version=1,
                   statement="critical core (L8-11, up to +63,419% PPL degradation): all of L8–11 rank in the top "
                             f"{CORE_K} by neighbour-average-replacement ΔPPL")
def test_critical_core_as_published_slow(model, measure, verdict):
    L = model.adapter.n_layers
    data = ablation_data(measure, model, layers_neighbour=tuple(range(L)), layers_mean=tuple(range(L)))
    layers, D = data["neighbour"]
    core = [layers.index(l) for l in CORE]
    other = [j for j in range(len(layers)) if j not in core]
    m = D.mean(0)
    ranks = (-m).argsort().argsort() + 1
    j = vector_statistic_judgement(
        D, _core_margin(core, other), 0.0, side=+1, unit="text",
        quantity="min ΔPPL% over L8–11 − max ΔPPL% over the other layers (neighbour average)",
        extra={"core_ranks": {f"L{l}": int(ranks[layers.index(l)]) for l in CORE}})
    verdict.record(j, caveats=instruct_caveat(model), plots=[_profile_plot(data)])


def _log_range(X, axis=-1):
    m = X.mean(axis=axis)                         # [k, ...] per-layer mean ΔPPL%
    return np.log10(m.max(axis=0) / np.abs(m).min(axis=0))


def _positive_range(idx):
    def rng(X, axis=-1):
        m = X.mean(axis=axis)[list(idx)]
        return np.log10(m.max(axis=0) / np.maximum(m.min(axis=0), 1e-6))
    rng.__name__ = "log10_range_resolved"
    return rng


@pytest.mark.claim("anatomy.importance_range", source=SOURCE, variant="as-published", version=1,
                   statement="layer importance spans a 10^7 range: log10(max ΔPPL / min |ΔPPL|) ≥ 7 (block skip)")
def test_ablation_importance_range_as_published(model, measure, verdict):
    data = ablation_data(measure, model)
    _, D = data["skip"]
    j = vector_statistic_judgement(D, _log_range, DIGEST["range_decades"], side=+1, unit="text",
                                   quantity="log10(max_l ΔPPL%_l / min_l |ΔPPL%_l|) (block skip)")
    verdict.record(j, caveats=instruct_caveat(model) + (
        "min |ΔPPL| over layers is as close to 0 as noise allows when any ΔPPL changes sign: this range "
        "grows without bound as a layer's effect approaches 0 — it measures the smallest effect's noise, "
        "not importance (see the corrected variant)",))


@pytest.mark.claim("anatomy.importance_range", source=SOURCE, variant="corrected", version=1,
                   statement="layer importance spans 10^7 among layers whose removal measurably hurts: "
                             "log10(max ΔPPL / min ΔPPL) over layers with ΔPPL CI wholly > 0 is ≥ 7")
def test_ablation_importance_range_corrected(model, measure, verdict):
    data = ablation_data(measure, model)
    layers, D = data["skip"]
    # resolved set: the per-layer 95% percentile CI lies wholly above 0 (rule fixed in advance)
    _, lo, _ = layer_means_ci(D)
    idx = [j for j in range(len(layers)) if lo[j] > 0]
    j = vector_statistic_judgement(D, _positive_range(idx), DIGEST["range_decades"], side=+1, unit="text",
                                   quantity="log10(max ΔPPL% / min ΔPPL%) over layers with ΔPPL CI > 0 (block skip)",
                                   extra={"resolved_layers": [f"L{layers[i]}" for i in idx]})
    verdict.record(j, caveats=instruct_caveat(model) + (
        f"{len(idx)} of {len(layers)} layers have a ΔPPL interval wholly above 0 and enter the range",))


@pytest.mark.claim("anatomy.block_influence", source=SOURCE, variant="corrected", version=1,
                   statement="Block Influence BI_l = 1 − E cos(h_l, h_{l+1}) ranks layers like their ablation "
                             "(ShortGPT's cheap importance proxy agrees with block-skip ΔPPL)")
def test_ablation_block_influence_agreement(model, measure, verdict):
    data = ablation_data(measure, model)
    layers, D = data["skip"]
    bi = data["bi"].mean(0)
    j = correlated(bi, D.mean(0), sign=+1, unit="layer", names=("Block Influence", "block-skip ΔPPL%"))
    plot = {"kind": "profile", "title": "Block Influence per layer (mean over texts)", "x": list(range(len(bi))),
            "y": bi.tolist(), "ylabel": "BI = 1 − E cos", "xlabel": "layer"}
    verdict.record(j, caveats=instruct_caveat(model) + (
        "layers are the units; their ΔPPL and BI are themselves estimates (text noise not propagated)",),
        plots=[plot])
