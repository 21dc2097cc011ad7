"""Seed 003 claims 3 and 5: recovery speed vs importance, and growth training (real CPU training).

Every test here trains a model, so every test here is ``slow`` (``pytest claims/ --claims-runslow -k
"growth or recovery"``; README, "Budgets"). The "budget" designs below are the cheaper of the two
designs of each claim, kept as they were when they ran by default.

Recovery ("Recovery speed correlates with layer importance"; digest: 50% noise, 200 steps for
L8/L11): lmclaims/training/recovery.py. Layers fixed before looking: RECOVERY_LAYERS. Importance =
block-skip ΔPPL% of the layer (claims/test_anatomy_ablation.py). Direction: the digest's example
(the critical core needs the most steps) reads "more important → slower recovery".

Growth ("4.7x lower validation loss than uniform training at identical parameter count, while
being 13% faster"): lmclaims/training/growth.py — tiny llama (d 64, 4 heads, 4 blocks at the end),
byte tokenizer, corpus eval split for training, heldout split for validation, several seeds.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import torch

from claims._anatomy_helpers import DIGEST, MODELS, SOURCE, ablation_data, dnll, instruct_caveat
from lmclaims.models.synthetic import byte_tokenizer
from lmclaims.stats.correlation import spearman
from lmclaims.stats.directional import statistic_above
from lmclaims.stats.exact import exact
from lmclaims.stats.permutation import sign_flip
from lmclaims.training.data import token_blocks
from lmclaims.training.growth import RECIPE_VERSION as growth_recipe_version
from lmclaims.training.growth import ArmResult, GrowthSettings, run_arm
from lmclaims.training.recovery import RECIPE_VERSION as recovery_recipe_version
from lmclaims.training.recovery import RecoveryResult, recover_layer

#: Fixed spread over depth, chosen before looking: both ends (L0, L29), the paper's core edges
#: (L8, L11 — the digest's 200-step examples), its anti-layers (L14, L17) and two fillers (L4, L22).
RECOVERY_LAYERS = (0, 4, 8, 11, 14, 17, 22, 29)
#: Default-run recovery (budget: ≈ 10 s per layer on 2 cores): 8 steps of 2×64 tokens, evaluated at
#: steps 0, 4, 8 on 4 heldout blocks; the verdict uses the continuous *recovered fraction* of the
#: excess log-PPL after 8 steps (steps-to-5% would be censored for every layer at this budget).
RECOVERY_FAST = dict(steps=8, eval_every=4, batch_size=2, lr=5e-4, tol=0.05, noise=0.5, seed=0)
N_EVAL_BLOCKS_FAST = 4
#: --claims-runslow: 200 steps (the digest's number) of 4×64 tokens, evaluated every 10 steps on 8 blocks;
#: verdict on steps to recover within 5% of the clean PPL (censored = 200 + 10).
RECOVERY_SLOW = dict(steps=200, eval_every=10, batch_size=4, lr=5e-4, tol=0.05, noise=0.5, seed=0)
N_EVAL_BLOCKS_SLOW = 8
BLOCK_LEN = 64

#: Seeds are the units of the growth claims, judged by the exact sign-flip test. Five seeds (the
#: default, for time) give a smallest one-sided p of 1/32 > 0.025: sign_flip says INCONCLUSIVE and
#: why. The --claims-runslow run uses eight (1/256: reachable at the family's Bonferroni level with up to
#: 6 verdicts) — a design fixed for reachability, before looking at any result.
GROWTH_SEEDS = (0, 1, 2, 3, 4)
GROWTH_SEEDS_SLOW = (0, 1, 2, 3, 4, 5, 6, 7)
GROWTH_FAST = GrowthSettings(steps_per_stage=50)     # 150 steps × 16 × 64 tokens per arm
GROWTH_SLOW = GrowthSettings(steps_per_stage=400, d_model=128)


def _lm_blocks(lm, corpus, split, n=None):
    texts = [corpus.texts[i] for i, s in enumerate(corpus.splits) if s == split]
    enc = functools.partial(lm.encode, max_tokens=min(lm.max_positions or 2048, 2048))
    return token_blocks(enc, texts, BLOCK_LEN, max_blocks=n)


def _recovery(model, corpus, measure, settings, n_eval):
    train = _lm_blocks(model, corpus, "eval")
    ev = _lm_blocks(model, corpus, "heldout", n_eval)
    # a derived measurement: the fine-tuning runs are read back on a warm re-run (keyed by the model,
    # the settings, the layers, the corpus, the recipe version and the torch thread count)
    records = measure.derived_json("recovery_runs", {
        "model": model.fingerprint, "settings": settings, "layers": list(RECOVERY_LAYERS), "n_eval": n_eval,
        "corpus": corpus.sha256, "block_len": BLOCK_LEN, "recipe_version": recovery_recipe_version,
        "threads": torch.get_num_threads()},
        lambda: [dataclasses.asdict(recover_layer(model.model, model.adapter.blocks, l, train, ev, **settings))
                 for l in RECOVERY_LAYERS])
    results = [RecoveryResult(**r) for r in records]
    data = ablation_data(measure, model)
    layers, D = data["skip"]
    X = dnll(D[:, [layers.index(l) for l in RECOVERY_LAYERS]])     # per-text ΔNLL [texts, recovery layers]
    importance = 100.0 * np.expm1(X.mean(0))                          # log-scale ΔPPL%, for the table
    curves = {"kind": "curves", "title": "Recovery: heldout PPL while fine-tuning the perturbed layer",
              "series": {f"L{r.layer}": {"x": r.eval_steps, "y": r.eval_ppl} for r in results},
              "xlabel": "fine-tuning step", "ylabel": "PPL", "logy": True}
    losses = {"kind": "curves", "title": "Recovery: training loss per step",
              "series": {f"L{r.layer}": {"x": list(range(1, len(r.train_losses) + 1)), "y": r.train_losses}
                         for r in results}, "xlabel": "step", "ylabel": "loss"}
    table = {"kind": "table", "title": "Recovery per layer",
             "columns": ["layer", "skip ΔPPL %", "PPL clean", "PPL perturbed", "PPL end", "recovered fraction",
                         "steps to ≤ +5%"],
             "rows": [[f"L{r.layer}", f"{imp:+.4g}", f"{r.ppl_clean:.3f}", f"{r.ppl_perturbed:.3f}", f"{r.eval_ppl[-1]:.3f}",
                       f"{r.recovered_fraction:.3f}", "censored" if r.steps_to_recover is None else r.steps_to_recover]
                      for r, imp in zip(results, importance)]}
    return results, X, importance, [curves, losses, table]


def _rho_with(y, *, sign):
    """sign · Spearman ρ between the per-layer mean ΔNLL over the (resampled) texts and the fixed ``y``."""
    y = np.asarray(y, float)

    def rho(X):
        return sign * float(spearman(X.mean(axis=0), y))
    rho.__name__ = "signed_spearman"
    return rho


@pytest.mark.slow     # trains a model: --claims-runslow (README, "Budgets")
@pytest.mark.models(MODELS)
@pytest.mark.claim("anatomy.recovery", source=SOURCE, variant="corrected", version=2, verdicts=1,
                   statement="recovery speed correlates with layer importance (more important → slower): "
                             "recovered fraction of the noise damage after 8 steps falls with block-skip ΔPPL")
def test_recovery_speed_vs_importance(model, corpus, measure, verdict):
    results, X, importance, plots = _recovery(model, corpus, measure, RECOVERY_FAST, N_EVAL_BLOCKS_FAST)
    frac = np.array([r.recovered_fraction for r in results])
    j = statistic_above((X,), _rho_with(frac, sign=-1), 0.0, unit="text",
                        name="−Spearman ρ(mean block-skip ΔNLL_l, recovered fraction_l) over the 8 layers")
    verdict.record(j, caveats=instruct_caveat(model) + (
        f"budget version: {RECOVERY_FAST['steps']} steps of {RECOVERY_FAST['batch_size']}×{BLOCK_LEN} tokens; "
        "the digest's 200-step protocol runs with --claims-runslow",
        "a layer whose perturbation barely hurts has a noisy recovered fraction (ratio of small numbers)",
        "texts are resampled for the importance side; the recovery side is one training run per layer "
        "(one seed), so its noise is not in the interval"),
        plots=plots)


@pytest.mark.slow
@pytest.mark.models(MODELS)
@pytest.mark.claim("anatomy.recovery", source=SOURCE, variant="as-published", version=2, verdicts=1,
                   statement="recovery speed correlates with layer importance [digest: 200 steps for L8/L11]: "
                             "steps to recover within 5% of clean PPL rise with block-skip ΔPPL")
def test_recovery_steps_vs_importance_slow(model, corpus, measure, verdict):
    results, X, importance, plots = _recovery(model, corpus, measure, RECOVERY_SLOW, N_EVAL_BLOCKS_SLOW)
    cens = RECOVERY_SLOW["steps"] + RECOVERY_SLOW["eval_every"]
    steps = np.array([cens if r.steps_to_recover is None else r.steps_to_recover for r in results], float)
    j = statistic_above((X,), _rho_with(steps, sign=+1), 0.0, unit="text",
                        name="Spearman ρ(mean block-skip ΔNLL_l, steps to recover_l) over the 8 layers")
    verdict.record(j, caveats=instruct_caveat(model) + (f"censored layers count as {cens} steps (ties)",), plots=plots)


def _growth(corpus, measure, settings, seeds=GROWTH_SEEDS):
    """Both arms for every seed: a derived measurement (``measure.derived_json``) keyed by the settings,
    the seeds, the corpus hash, the block length, the recipe version and the torch thread count, so a
    warm re-run reads the arms instead of training them again (wall times are those of the run that
    trained them)."""
    def train_arms():
        tok = byte_tokenizer()
        tr = [corpus.texts[i] for i, s in enumerate(corpus.splits) if s == "eval"]
        va = [corpus.texts[i] for i, s in enumerate(corpus.splits) if s == "heldout"]
        train = token_blocks(tok, tr, BLOCK_LEN, eos_id=tok.eos_token_id)
        val = token_blocks(tok, va, BLOCK_LEN, eos_id=tok.eos_token_id)
        return {arm: [dataclasses.asdict(run_arm(arm, s, train, val, settings)) for s in seeds]
                for arm in ("uniform", "growth")}

    records = measure.derived_json("growth_arms", {
        "settings": dataclasses.asdict(settings), "seeds": list(seeds), "corpus": corpus.sha256,
        "block_len": BLOCK_LEN, "recipe_version": growth_recipe_version, "threads": torch.get_num_threads()},
        train_arms)
    res = {arm: [ArmResult(**r) for r in records[arm]] for arm in ("uniform", "growth")}
    for u, g in zip(res["uniform"], res["growth"]):
        assert u.n_params == g.n_params, "arms must end with identical parameter counts"
    return res


def _growth_plots(res, settings):
    curves = {"kind": "curves", "title": "Training loss, uniform vs growth (per seed)",
              "series": {f"{arm} s{r.seed}": {"x": list(range(len(r.losses))), "y": r.losses}
                         for arm in res for r in res[arm]}, "xlabel": "step", "ylabel": "train loss"}
    table = {"kind": "table", "title": "Growth PoC: paper vs ours",
             "columns": ["quantity", "paper / digest", "ours (mean over seeds)"],
             "rows": [["val loss uniform / growth", f"{DIGEST['growth_val'][1]} / {DIGEST['growth_val'][0]} (9.57M model)",
                       f"{np.mean([r.val_loss for r in res['uniform']]):.3f} / {np.mean([r.val_loss for r in res['growth']]):.3f} "
                       f"({res['uniform'][0].n_params / 1e6:.2f}M params)"],
                      ["loss ratio uniform/growth", f"{DIGEST['growth_ratio']}×",
                       f"{np.mean([u.val_loss / g.val_loss for u, g in zip(res['uniform'], res['growth'])]):.3f}×"],
                      ["wall time growth vs uniform", "13% faster",
                       f"{100 * (1 - np.mean([g.seconds for g in res['growth']]) / np.mean([u.seconds for u in res['uniform']])):+.1f}% faster"],
                      ["compute (layer·steps) growth / uniform", "~54% cost reduction",
                       f"{res['growth'][0].layer_steps} / {res['uniform'][0].layer_steps}"],
                      ["blocks duplicated (growth)", "by importance", "; ".join(str(g.grown_from) for g in res["growth"])],
                      ["settings", "-", repr(settings)]]}
    return [curves, table]


_GROWTH_CAVEATS = ("tiny llama on a byte tokenizer, our reading of an unpublished recipe (growth = duplicate "
                   "the most important block after each stage); the paper's 9.57M model and data are not public",
                   "wall times were taken on a shared 2-core CPU: treat timing differences with care")


@pytest.mark.slow     # trains a model: --claims-runslow (README, "Budgets")
@pytest.mark.claim("anatomy.growth", source=SOURCE, variant="as-published", version=2, verdicts=2,
                   statement="growth training: 4.7x lower validation loss than uniform training at identical "
                             "parameter count, while being 13% faster")
def test_growth_as_published(corpus, measure, verdict):
    res = _growth(corpus, measure, GROWTH_FAST)
    ratio = np.array([u.val_loss / g.val_loss for u, g in zip(res["uniform"], res["growth"])])
    verdict.record(sign_flip(ratio, threshold=DIGEST["growth_ratio"], unit="seed", name="val loss uniform / growth"),
                   label="loss ratio", caveats=_GROWTH_CAVEATS, plots=_growth_plots(res, GROWTH_FAST))
    # "13% faster" judged on the deterministic cost (layer·steps: blocks trained × optimizer steps,
    # identical for every seed), never on wall time (two runs of one seed gave 0.868 and 0.822);
    # wall time is shown beside it.
    lu, lg = res["uniform"][0].layer_steps, res["growth"][0].layer_steps
    assert all(r.layer_steps == lu for r in res["uniform"]) and all(r.layer_steps == lg for r in res["growth"])
    cost = lg / lu
    wall = np.mean([g.seconds for g in res["growth"]]) / np.mean([u.seconds for u in res["uniform"]])
    bound = 1.0 - DIGEST["growth_speedup"]
    verdict.record(exact(bool(cost <= bound), statistic="cost ratio growth / uniform (layer·steps)", estimate=cost,
                         rule=f"supported if layer·steps(growth)/layer·steps(uniform) ≤ {bound:g} (13% cheaper)",
                         reason=f"{lg} / {lu} = {cost:.4g} {'≤' if cost <= bound else '>'} {bound:g}; "
                                f"wall time ratio {wall:.3f} (shown, not judged)",
                         unit="run", extra={"wall_time_ratio": float(wall)}),
                   label="cost", caveats=_GROWTH_CAVEATS + (
                       "the layer·step ratio is fixed by our reading of the recipe (stages of "
                       f"{GROWTH_FAST.start_layers}…{GROWTH_FAST.final_layers} blocks vs {GROWTH_FAST.final_layers} throughout), "
                       "not measured: it checks the design's cost, not a speed-up found by training; the growth arm's "
                       "importance probes (one skip pass per block per stage, no backward) are not counted",))


@pytest.mark.slow     # trains a model: --claims-runslow (README, "Budgets")
@pytest.mark.claim("anatomy.growth", source=SOURCE, variant="corrected", version=2, verdicts=1,
                   statement="growth training reaches lower held-out loss than uniform training at identical final "
                             "parameter count and token budget (paired over seeds)")
def test_growth_lower_loss(corpus, measure, verdict):
    res = _growth(corpus, measure, GROWTH_FAST)
    d = np.array([u.val_loss - g.val_loss for u, g in zip(res["uniform"], res["growth"])])
    verdict.record(sign_flip(d, unit="seed", name="val loss uniform − val loss growth (paired by seed)"),
                   caveats=_GROWTH_CAVEATS, plots=_growth_plots(res, GROWTH_FAST))


@pytest.mark.slow
@pytest.mark.claim("anatomy.growth", source=SOURCE, variant="corrected", version=2, verdicts=1, family="anatomy.growth@slow",
                   statement="growth training reaches lower held-out loss than uniform training (longer run, d 128, 8 seeds)")
def test_growth_lower_loss_slow(corpus, measure, verdict):
    res = _growth(corpus, measure, GROWTH_SLOW, GROWTH_SEEDS_SLOW)
    d = np.array([u.val_loss - g.val_loss for u, g in zip(res["uniform"], res["growth"])])
    verdict.record(sign_flip(d, unit="seed", name="val loss uniform − val loss growth (paired by seed)"),
                   caveats=_GROWTH_CAVEATS, plots=_growth_plots(res, GROWTH_SLOW))
