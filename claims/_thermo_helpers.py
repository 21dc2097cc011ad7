"""Shared pieces of the thermodynamics claims (seeds 000/001): constants with their reasons, the paper's
published numbers (shared/notes/definitions.md §1), gain measurement per model, and plot/judgement
builders. Not a test module (leading underscore)."""

from __future__ import annotations

import numpy as np
import scipy.stats

from lmclaims.plan import Need
from lmclaims.probes import gain
from lmclaims.probes.residual import ResidualNorms

SEED_POST = "000_1a9244730f70cf80.txt"
SEED_ELI5 = "001_10ab4f3bf375c864.txt"

# --- constants, each with its reason (decided before looking at any result) -------------------------
# Indifference margin for "G > 1" / "G < 1": the offline weights are dequantised GGUF, whose
# Frobenius norms are inflated by 0.1-0.3% (models.md "Caveats"); a ratio of two such norms can move
# by up to ~0.3% either way, so a sign decided by less than 0.5% cannot be told from a dequantisation
# artefact. The paper itself calls OPT-350m (G 0.9995) a dampener; with this margin we would not.
MIN_EFFECT_G = 0.005
# The Kleiber bound 10^(1/L) follows from the paper's assumption total gain G_max^L = 10 (§4.1 Eq. 3).
KLEIBER_TOTAL_GAIN = 10.0
# Tolerance for "slope 1 through the origin" in log10 G_max = slope / L (the law's only parameter: slope =
# log10 of the total gain G_max^L). Why 0.25 (decided with the test, before any result; unchanged since):
# the paper's 10 is an assumption stated to one significant figure ("≈"), not a fitted value, so the law
# is a statement about the order of the total gain. Half a decade (±0.5) would accept anything of the same
# order of magnitude (3.2..32), which no depth sweep could refute; ±0.25 decades is a factor 1.8 either way
# (total gain 5.6..17.8): wide enough that a law true "≈" is not rejected for the rounding of its constant,
# narrow enough that a total gain of 3 or 30 counts against it. law_fits refutes only when the slope's CI
# lies wholly outside 1 ± 0.25 (issue 12; lmclaims.stats.regression, helper K), not when it excludes 1.
KLEIBER_SLOPE_MARGIN = 0.25
# Panel-level rule for the heritage decomposition (variance of log G by lab vs geometry vs scale):
# at least 2 labs with at least 2 models each (a within-lab spread to compare against), at least 6
# models overall (3 nested factors + intercept need >= 2 residual degrees of freedom), >= 2 distinct
# depths and >= 2 distinct sizes.
HERITAGE_MIN_MODELS = 6
HERITAGE_MIN_LABS = 2
HERITAGE_MIN_PER_LAB = 2
# "ratio predicts sign" across models: Spearman needs >= 4 models (correlated's minimum), and a sign
# prediction needs both signs present; fewer is INCONCLUSIVE with the count needed.
WVWO_MIN_MODELS = 8
# "~10x differences between labs": a factor of 10 read generously as >= 3x (half a decade) in the
# ratio of lab means; below 3x the claim fails.
WVWO_LAB_FACTOR = 3.0

# Lab -> direction the claim predicts (seed 000: "EleutherAI models mostly dampen; Meta / OpenAI
# models consistently expand"). Other labs: no prediction (their measured sign is recorded).
LAB_PREDICTION = {"EleutherAI": -1, "Meta": +1, "OpenAI": +1, "facebook": +1}

HUB_CMD = "pytest claims/ --claims-panel hub --claims-device cuda -k {k}"

# Torch intra-op threads for this module's CPU work (measurement, training, SVDs), restored after each
# call; default: leave torch's setting (all cores; under pytest-xdist each worker's share, see
# lmclaims/pytest_plugin/measurement.py). Measured on the idle 2-core machine: a SmolLM2 training step is 1.6x faster
# with 2 threads than with 1 (3 fwd+bwd: 9.8-11.5 s vs 15.9-17.5 s), a tiny llama 1.3-2x. (An earlier
# reading of "1 thread is 3-10x faster" was taken with other jobs loading the machine to ~8: torch's
# threads then fight for cores.) Override with LMCLAIMS_THERMO_THREADS=N (0 = torch's setting).
import os as _os

THREADS = int(_os.environ.get("LMCLAIMS_THERMO_THREADS", "0")) or None

# --- the paper's numbers (definitions.md §1, [src]) --------------------------------------------------
PAPER_PYTHIA_HS = {  # name: (L, hidden-states G)
    "pythia-70m": (6, 1.201), "pythia-160m": (12, 1.157), "pythia-410m": (24, 0.978), "pythia-1b": (16, 1.216),
    "pythia-1.4b": (24, 1.005), "pythia-2.8b": (32, 0.927), "pythia-6.9b": (32, 0.994), "pythia-12b": (36, 0.986)}
PAPER_HERITAGE_HS = {  # 16-model run, 5 prompts, hidden-states G
    "opt-125m": 1.263, "opt-350m": 0.9995, "opt-1.3b": 1.090, "opt-2.7b": 1.081, "opt-6.7b": 1.077,
    "bloom-560m": 1.276, "bloom-1b1": 1.067, "bloom-1b7": 1.098, "bloom-3b": 0.998, "falcon-7b": 1.027,
    "stablelm-base-alpha-3b": 1.084, "pythia-6.9b": 0.987, "gpt-neo-125m": 0.920, "gpt-neo-1.3b": 0.892,
    "gpt-neo-2.7b": 0.789, "gpt-j-6b": 1.136}
PAPER_HOOK = {"gpt2-medium": 1.163, "gpt2-large": 1.014, "gpt2-xl": 1.019, "pythia-6.9b": 0.80,
              "mistral-7b-v0.1": 1.106, "mistral-7b-instruct-v0.2": 1.135, "gemma-7b": 2.316, "gemma-7b-it": 1.153,
              "llama-3.1-8b": 1.484, "llama-3.1-8b-instruct": 1.576}
PAPER_RLHF_PAIRS = [("mistral-7b-v0.1", "mistral-7b-instruct-v0.2"), ("gemma-7b", "gemma-7b-it"),
                    ("llama-3.1-8b", "llama-3.1-8b-instruct")]
PAPER_WVWO = {  # name: (mean σ_max W_V, mean σ_max W_O), whole-layer, as published
    "pythia-160m": (22.15, 2.39), "pythia-410m": (16.93, 2.46), "gpt-neo-125m": (25.80, 70.08),
    "opt-125m": (1.61, 2.02), "opt-350m": (2.75, 3.43), "bloom-560m": (3.78, 2.56), "gpt2": (8.95, 22.51)}
PAPER_LABS = {"pythia": "EleutherAI", "gpt-neo": "EleutherAI", "gpt-j": "EleutherAI", "opt": "Meta",
              "bloom": "BigScience", "gpt2": "OpenAI", "falcon": "TII", "stablelm": "Stability"}


def paper_lab(name: str) -> str:
    for prefix, lab in PAPER_LABS.items():
        if name.startswith(prefix):
            return lab
    return "?"


# --- measurement -------------------------------------------------------------------------------------
def thermo_probes(lm, measure) -> list:
    """What these modules measure on the default eval view (see :func:`gains_of`)."""
    return [ResidualNorms()]


#: declared by every thermodynamics module (``pytestmark = pytest.mark.measures(H.RESIDUAL_NORMS)``)
RESIDUAL_NORMS = Need("thermo.residual_norms", probes=thermo_probes)


def gains_of(measure, lm) -> gain.GainSummary:
    """Every gain definition for one loaded model on the profile's eval texts (cached measurement)."""
    from lmclaims.training.loop import threads

    view = measure.view()
    with threads(THREADS if lm.device.type == "cpu" else None):
        arrays = measure(lm, [ResidualNorms()], view=view)["residual_norms"]
    return gain.summarise(arrays, len(view))


def gmean(x, axis=-1):
    return scipy.stats.gmean(x, axis=axis)


def lab_direction(entry) -> int | None:
    return LAB_PREDICTION.get(entry.lab)


# --- data-chosen layers: chosen on held-out texts -------------------------------------------------------
def held_out_max_layer(log_profile: np.ndarray, *, first: int = 1) -> tuple[int, np.ndarray]:
    """The block with the largest mean log gain, CHOSEN on the first half of the texts, and the per-text
    log gains of that block on the SECOND half (disjoint texts, so the estimate is not inflated by the
    choice; issue 12 "no double dipping"). Blocks before ``first`` are excluded (block 0 maps the
    embeddings). Fixed rule: texts[: n//2] choose, texts[n//2:] estimate.

    >>> prof = np.log(np.array([[1.0, 1.1, 1.3], [1.0, 1.2, 1.1], [1.0, 1.0, 1.4], [1.0, 1.5, 1.0]]))
    >>> layer, held = held_out_max_layer(prof)
    >>> int(layer), np.round(np.exp(held), 2).tolist()
    (2, [1.4, 1.0])
    """
    prof = np.asarray(log_profile, dtype=float)
    if prof.ndim != 2 or prof.shape[0] < 4 or prof.shape[1] <= first:
        raise ValueError(f"held_out_max_layer needs [texts >= 4, blocks > {first}], got {prof.shape}")
    half = prof.shape[0] // 2
    layer = first + int(np.argmax(prof[:half, first:].mean(axis=0)))
    return layer, prof[half:, layer]


def max_layer_mean(x: np.ndarray) -> float:
    """max over blocks of the mean over texts of ``x [texts, blocks]`` (re-selected in every resample)."""
    return float(np.max(np.mean(x, axis=0)))


# --- plots ---------------------------------------------------------------------------------------------
def layer_profile_plot(summary: gain.GainSummary, title: str, *, reference: float | None = 1.0, rng=None) -> dict:
    """Per-block geometric-mean gain with a 95% percentile-bootstrap band over texts (plot only)."""
    prof = summary.log_profile                            # [texts, L]
    rng = np.random.default_rng(0 if rng is None else rng)
    idx = rng.integers(0, prof.shape[0], size=(400, prof.shape[0]))
    boots = prof[idx].mean(axis=1)                        # [400, L]
    lo, hi = np.exp(np.percentile(boots, [2.5, 97.5], axis=0))
    return {"kind": "profile", "title": title, "x": list(range(prof.shape[1])),
            "y": np.exp(prof.mean(axis=0)).tolist(), "lo": lo.tolist(), "hi": hi.tolist(),
            "xlabel": "block (0 = maps embeddings; excluded from corrected G)", "ylabel": "gain ||h_l||/||h_l-1||",
            "logy": True, "reference": reference}


def table(title: str, columns: list[str], rows: list[list]) -> dict:
    def cell(v):
        if isinstance(v, float):
            return None if not np.isfinite(v) else round(v, 4)
        return v
    return {"kind": "table", "title": title, "columns": columns, "rows": [[cell(v) for v in r] for r in rows]}
