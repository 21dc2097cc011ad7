"""Seeds 000/001 — "Fine-tuning: RLHF changes magnitude, but cannot flip the sign (a dampener stays a
dampener)".

definitions.md §1: the paper's three pairs (hook G) all have *expanding* bases, so "a dampener stays a
dampener" was never tested. Three tests here:

(a) base -> tuned pairs of the hub panel (entries with ``tuned_from``), hook G and corrected G;
    offline there is no such pair: ``pytest claims/ --claims-panel hub --claims-device cuda -k rlhf``;
(b) (slow: it trains, so it runs with ``--claims-runslow``) a real fine-tune inside the suite:
    SmolLM2-135M-Instruct, SFT on corpus token blocks (the
    held-out split, disjoint from the eval texts) followed by a short DPO stage on pairs
    "corpus continuation preferred over the same tokens shuffled" — a labelled **stand-in** for
    RLHF (no reward model, no human preferences) — then G is re-measured on the same eval texts;
(c) (slow) a controlled *dampening* base: tiny models trained with a recipe that dampens (checked,
    G < 1 with CI, before use), then fine-tuned with a different recipe.
"""

from __future__ import annotations


import numpy as np
import pytest

from claims import _thermo_helpers as H
from lmclaims.models.loading import CorruptModel, ModelUnavailable
from lmclaims.probes import gain
from lmclaims.probes.residual import ResidualNorms
from lmclaims.stats import assertions
from lmclaims.stats.combine import any_of
from lmclaims.training.loop import threads
from lmclaims.training.thermo import TinySpec, finetune_loaded, finetune_settings, run_tiny

pytestmark = pytest.mark.measures(H.RESIDUAL_NORMS)   # the residual norms on the default eval view

STATEMENT = "RLHF changes magnitude, but cannot flip the sign (a dampener stays a dampener)"

# (b) settings, decided before any run. SFT: AdamW lr 5e-5 (top of the usual 1e-5..5e-5 SFT range, because
# the step budget is small), 40 steps of 2 blocks of 64 tokens (~5k tokens: sized for the CPU
# budget when it ran by default; kept unchanged as a slow variant), no weight decay. DPO: beta 0.1 (the
# DPO paper's default), lr 5e-6 (10x below SFT, as is usual
# for preference tuning), 10 steps of 2 pairs. Eval: the first 32 eval texts, 128-token windows (both
# base and tuned model on exactly this view, so the comparison is paired by text).
FT = dict(sft_steps=40, sft_lr=5e-5, batch_size=2, seq_len=64, dpo_steps=10, dpo_lr=5e-6, beta=0.1, seed=0)
FT_VIEW = dict(split="eval", max_texts=32, max_tokens=128)

INFO_KEYS = ("sft_losses", "dpo_losses", "train_loss_before", "train_loss_after")


def _finetuned(lm, corpus, measure):
    """(base GainSummary, tuned GainSummary, info) for ``lm``.

    The fine-tune is a derived measurement (``measure.derived``): its provenance is the base model's
    fingerprint, the fine-tune settings (hyper-parameters, seed, the tuning texts' hash and the training
    code version: ``finetune_settings``), the eval view, the probe and the thread count; it is computed
    once and cached (the tuned model's residual norms and its loss curves)."""
    texts = [t for t, s in zip(corpus.texts, corpus.splits) if s == "heldout"]
    view = corpus.view(**FT_VIEW)
    probe = ResidualNorms()

    def compute():
        with threads(H.THREADS):
            tuned_lm, info = finetune_loaded(lm, texts, num_threads=H.THREADS, **FT)
            norms = measure(tuned_lm, [probe], view=view)[probe.name]
        del tuned_lm
        return {**{f"norms.{k}": v for k, v in norms.items()},
                **{f"info.{k}": np.asarray(info[k], dtype=np.float64) for k in INFO_KEYS}}

    out = measure.derived("rlhf_stand_in_finetune", {
        "model": lm.fingerprint, "settings": finetune_settings(texts, **FT), "view": view.key,
        "probe": probe.name, "probe_version": probe.version, "threads": H.THREADS}, compute)
    with threads(H.THREADS):
        base = measure(lm, [probe], view=view)[probe.name]
    tuned = {k.split(".", 1)[1]: v for k, v in out.items() if k.startswith("norms.")}
    info = {k.split(".", 1)[1]: v.tolist() if k.endswith("losses") else v.item()
            for k, v in out.items() if k.startswith("info.")}
    return gain.summarise(base, len(view)), gain.summarise(tuned, len(view)), info


def _record_pair(verdict, base, tuned, definition, *, models, label, caveats=(), plots=None):
    b, t = base.by_definition(definition), tuned.by_definition(definition)
    j = assertions.same_sign(np.log(b), np.log(t), reference=0.0, paired=True,
                             names=(f"log G base ({definition})", f"log G tuned ({definition})"))
    verdict.record(j, models=models, label=f"{label}: sign unchanged", caveats=list(caveats), plots=plots)
    # "changes magnitude": two-sided, the union claim "increases or decreases" (any_of: SUPPORTED if one
    # direction is supported under Holm over the two, i.e. each at alpha/2; REFUTED only if both are
    # refuted, i.e. the change lies within ±δ). A change smaller than the quantisation-level margin
    # (log(1 + MIN_EFFECT_G)) does not count as a change.
    level = 1 - verdict.alpha
    delta = float(np.log1p(H.MIN_EFFECT_G))
    up = assertions.greater(np.log(t), np.log(b), paired=True, confidence_level=level, min_effect=delta,
                            names=("log G tuned", "log G base"))
    down = assertions.greater(np.log(b), np.log(t), paired=True, confidence_level=level, min_effect=delta,
                              names=("log G base", "log G tuned"))
    j = any_of(up, down, labels=("G increases", "G decreases"), name="log G tuned - log G base")
    verdict.record(j, models=models, label=f"{label}: magnitude changes",
                   caveats=["two-sided: either direction, Holm over the two (any_of)"] + list(caveats))


def _ft_plots(base, tuned, info, name):
    prof = {"kind": "profile", "title": f"{name}: per-block gain before / after fine-tuning", "series": {
        "base": {"x": list(range(base.n_layers)), "y": base.layer_gains.tolist()},
        "tuned": {"x": list(range(tuned.n_layers)), "y": tuned.layer_gains.tolist()}},
        "xlabel": "block", "ylabel": "gain", "logy": True, "reference": 1.0}
    curves = {"kind": "curves", "title": f"{name}: fine-tuning losses", "series": {
        "SFT (LM loss)": {"x": list(range(len(info["sft_losses"]))), "y": info["sft_losses"]},
        "DPO (preference loss)": {"x": list(range(len(info["dpo_losses"]))), "y": info["dpo_losses"]}},
        "xlabel": "step", "ylabel": "loss"}
    return [prof, curves]


def _ft_caveats(info):
    return [f"DPO on (corpus continuation > shuffled continuation) pairs is a stand-in for RLHF, not RLHF; "
            f"SFT {FT['sft_steps']} steps, DPO {FT['dpo_steps']} steps",
            f"LM loss on the tuning blocks {info['train_loss_before']:.3f} -> {info['train_loss_after']:.3f}",
            "the offline base is itself an instruct model (SmolLM2-135M-Instruct)"]


@pytest.mark.slow     # trains a model: --claims-runslow (README, "Budgets")
@pytest.mark.models("smollm2-135m*")
@pytest.mark.claim("thermo.rlhf_sign", source=H.SEED_POST, statement=STATEMENT, variant="corrected", verdicts=2)
def test_rlhf_finetune_smollm2_corrected(model, corpus, measure, verdict):
    base, tuned, info = _finetuned(model, corpus, measure)
    _record_pair(verdict, base, tuned, "corrected", models=(model.name, f"{model.name}+SFT+DPO"),
                 label="corrected G", caveats=_ft_caveats(info), plots=_ft_plots(base, tuned, info, model.name))


@pytest.mark.slow     # trains a model: --claims-runslow (README, "Budgets")
@pytest.mark.models("smollm2-135m*")
@pytest.mark.claim("thermo.rlhf_sign", source=H.SEED_POST, statement=STATEMENT, variant="as-published", verdicts=2)
def test_rlhf_finetune_smollm2_hook(model, corpus, measure, verdict):
    base, tuned, info = _finetuned(model, corpus, measure)
    _record_pair(verdict, base, tuned, "hook", models=(model.name, f"{model.name}+SFT+DPO"),
                 label="hook G", caveats=_ft_caveats(info))


# verdicts=6: one per base -> tuned pair; the hub panel has 6 (mistral, gemma-7b, llama-3.1, dolly, gemma-2-2b,
# smollm2); m is announced from it and padded on panels with fewer.
@pytest.mark.claim("thermo.rlhf_hub_pairs", source=H.SEED_POST, statement=STATEMENT, variant="as-published",
                   verdicts=6)
def test_rlhf_hub_pairs(model_pool, measure, verdict):
    entries = model_pool.entries
    pairs = [(entries[e.tuned_from], e) for e in entries.values() if getattr(e, "tuned_from", None) in entries]
    if not pairs:
        pytest.skip("no base -> tuned pair in this panel; " + H.HUB_CMD.format(k="rlhf"))
    for base_e, tuned_e in pairs:
        try:
            b = H.gains_of(measure, model_pool.get(base_e.name))
            t = H.gains_of(measure, model_pool.get(tuned_e.name))
        except (ModelUnavailable, CorruptModel) as exc:
            pytest.skip(str(exc))
        j = assertions.same_sign(np.log(b.hook), np.log(t.hook), reference=0.0, paired=len(b.hook) == len(t.hook),
                                 names=("log hook G base", "log hook G tuned"))
        verdict.record(j, models=(base_e.name, tuned_e.name), label=f"{base_e.name} -> {tuned_e.name}")


# --- (c) a dampening base ------------------------------------------------------------------------------
# Candidate dampening recipe, from first principles: a large component of the stream that carries no
# token information (one shared random direction of RMS 1 added to every token embedding) is noise to
# the final RMSNorm and the unembedding, so training pushes the blocks to write it away — the stream's
# norm shrinks with depth (G < 1). With *tied* embeddings the same offset also shifts every logit and
# the embedding itself unlearns it, so the embeddings are untied. (Exploration record, L=4, seed 0,
# 150 steps: tied+offset G 1.43, large embedding std 1.0 G 1.67, untied+offset G 0.86.)
DAMP_RECIPE = dict(embed_offset=1.0, tie_embeddings=False)
DAMP_TRAIN = dict(steps=150, batch_size=16, lr=3e-3, weight_decay=0.1)
# A different recipe for the fine-tune: no weight decay, lr 1e-3, 100 steps, then 20 DPO steps.
DAMP_FINETUNE = dict(steps=100, batch_size=16, lr=1e-3, weight_decay=0.0, dpo_steps=20, dpo_lr=1e-4, beta=0.1)
DAMP_SEEDS = (0, 1, 2)


@pytest.mark.slow
# verdicts=3: one sign verdict per seed. The base's dampening is a PRECONDITION of the claim ("a
# dampener stays a dampener"), not part of it: a seed whose base does not dampen is left out with the
# reason, and if none dampens the test is skipped (issue 12: it was recorded as a REFUTED verdict).
@pytest.mark.claim("thermo.rlhf_dampener", source=H.SEED_POST, statement=STATEMENT, variant="corrected", verdicts=3)
def test_rlhf_dampener_stays_dampener(corpus, measure, verdict):
    runs, failed = [], []
    for seed in DAMP_SEEDS:
        spec = TinySpec.make(arch="llama", n_layers=4, seed=seed, recipe=DAMP_RECIPE, train=DAMP_TRAIN,
                             finetune=DAMP_FINETUNE)
        r = run_tiny(spec, corpus, derived_json=measure.derived_json, num_threads=H.THREADS)
        base = np.asarray(r.gains["corrected"])
        check = assertions.below(np.log(base), 0.0, min_effect=float(np.log1p(H.MIN_EFFECT_G)), name="log base G")
        if check.supported:
            runs.append((seed, r, base))
        else:
            failed.append(f"seed {seed}: base corrected G does not dampen ({check.reason})")
    if not runs:
        pytest.skip("precondition failed, no dampening base to test: " + "; ".join(failed))
    for seed, r, base in runs:
        tuned = np.asarray(r.finetune["gains"]["corrected"])
        j = assertions.same_sign(np.log(base), np.log(tuned), reference=0.0, paired=True,
                                 names=("log G dampening base", "log G fine-tuned"))
        verdict.record(j, models=[f"tiny-damp-s{seed}"], label=f"seed {seed}: sign after fine-tune",
                       caveats=[f"eval loss {r.eval_before:.2f} -> {r.eval_after:.2f} (pretrain) -> "
                                f"{r.finetune['eval_after']:.2f} (fine-tune)",
                                "tiny llama-style model, untied embeddings + shared embedding offset (DAMP_RECIPE)",
                                "precondition (base G < 1 - δ, CI on the same texts) checked first"]
                       + (["left out: " + "; ".join(failed)] if failed else []))
