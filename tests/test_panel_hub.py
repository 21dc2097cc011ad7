"""Consistency checks of the hub panel (lmclaims/data/panels/hub.toml). Nothing is downloaded.

The geometry itself (layers, widths, vocab, params) can only be confirmed against the hub; these tests
catch typos and broken cross-references, and that the panel covers the models the seeds name.
"""

from __future__ import annotations

import re

import pytest

from lmclaims.models.panel import load_panel

PANEL = load_panel("hub")
BY_NAME = {e.name: e for e in PANEL}

# Every model the seeds (/work/shared/seeds, notes/definitions.md) name, by panel name.
SEED_MODELS = {
    # 000/001: Pythia depth sweep (Kleiber law)
    "pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b", "pythia-1.4b", "pythia-2.8b",
    "pythia-6.9b", "pythia-12b",
    # 000: heritage run
    "opt-125m", "opt-350m", "opt-1.3b", "opt-2.7b", "opt-6.7b",
    "bloom-560m", "bloom-1b1", "bloom-1b7", "bloom-3b",
    "falcon-7b", "stablelm-base-alpha-3b",
    "gpt-neo-125m", "gpt-neo-1.3b", "gpt-neo-2.7b", "gpt-j-6b",
    "gpt2-medium", "gpt2-large", "gpt2-xl",
    # 000: RLHF sign-stability pairs
    "mistral-7b-v0.1", "mistral-7b-instruct-v0.2", "gemma-7b", "gemma-7b-it",
    "llama-3.1-8b", "llama-3.1-8b-instruct",
    # 004: V20 panel (pythia-70m/160m and opt-125m above)
    "gpt2", "distilgpt2", "qwen2.5-0.5b", "tinyllama-1.1b", "phi-1.5",
    # 002: softcap control
    "gemma-2-2b", "gemma-2-2b-it",
    # 003: anatomical heterogeneity
    "smollm2-135m", "smollm2-135m-instruct",
}

# Hub ids the seeds name explicitly (exact repos matter for these).
SEED_IDS = {
    "tinyllama-1.1b": "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T",
    "phi-1.5": "microsoft/phi-1_5",
    "gemma-2-2b": "google/gemma-2-2b",
    "mistral-7b-v0.1": "mistralai/Mistral-7B-v0.1",
    "mistral-7b-instruct-v0.2": "mistralai/Mistral-7B-Instruct-v0.2",
    "gemma-7b": "google/gemma-7b",
    "gemma-7b-it": "google/gemma-7b-it",
    "llama-3.1-8b": "meta-llama/Llama-3.1-8B",
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "smollm2-135m": "HuggingFaceTB/SmolLM2-135M",
    "smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
}

ARCHS = {"gpt_neox", "gpt_neo", "gptj", "opt", "bloom", "falcon", "gpt2", "qwen2", "llama", "phi",
         "gemma", "gemma2", "mistral"}

ids = pytest.mark.parametrize("e", PANEL, ids=[e.name for e in PANEL])


def test_panel_loads_and_names_unique():
    assert len(PANEL) >= len(SEED_MODELS)
    names = [e.name for e in PANEL]
    assert len(names) == len(set(names))
    for n in names:
        assert n == n.lower() and " " not in n and len(n) <= 32, n


def test_panel_covers_seed_models():
    missing = SEED_MODELS - set(BY_NAME)
    assert not missing, f"seed models missing from the hub panel: {sorted(missing)}"
    for name, hub_id in SEED_IDS.items():
        assert BY_NAME[name].hub["id"] == hub_id, name


def test_has_a_dampening_base_pair():
    """Seed 000 only tested expanding bases; the panel must offer a tuned descendant of a Pythia/NeoX model."""
    pairs = [e for e in PANEL if e.tuned_from and BY_NAME[e.tuned_from].family == "pythia"]
    assert pairs, "no tuned descendant of a Pythia model"


@ids
def test_source_is_hub(e):
    assert e.source == "hub"
    assert e.gguf is None and e.synthetic is None
    assert set(e.hub) == {"id", "revision"}, e.hub
    hub_id = e.hub["id"]
    assert re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", hub_id), hub_id
    assert isinstance(e.hub["revision"], str) and e.hub["revision"]
    if e.family == "pythia":
        assert e.hub["revision"] == "step143000"   # the final checkpoint branch
    assert e.requirements == ()
    assert e.install_command.startswith(f"huggingface-cli download {hub_id} --revision ")


@ids
def test_fields(e):
    assert e.lab and e.family
    assert e.arch in ARCHS, e.arch
    assert e.norm in ("pre", "post")
    assert (e.norm == "post") == (e.name == "opt-350m")   # the only post-LN model of the papers
    assert e.relation in ("base", "instruct", "sft", "rlhf")
    for k in ("params", "layers", "d_model", "heads", "kv_heads", "vocab"):
        v = getattr(e, k)
        assert isinstance(v, int) and not isinstance(v, bool) and v > 0, (k, v)
    assert isinstance(e.tied_embeddings, bool) and isinstance(e.bos, bool)
    assert "seeds" in e.extra and e.extra["seeds"], "extra.seeds says which seed uses the model"


@ids
def test_geometry(e):
    # No exceptions in this panel: every d_model divides by heads (Falcon-7b: 4544 = 71 x 64).
    # Gemma's head_dim (256) is NOT d_model/heads (gemma-7b: 192, gemma-2-2b: 288); recorded in extra.
    assert e.heads % e.kv_heads == 0
    assert e.d_model % e.heads == 0
    if e.family in ("gemma", "gemma2"):
        assert e.extra.get("head_dim") == 256
        assert e.extra["head_dim"] != e.d_model // e.heads
    else:
        assert "head_dim" not in e.extra


@ids
def test_params_match_the_size_in_the_name(e):
    """Catches a dropped or extra digit: '1.4b' -> 1.4e9, 'bloom-1b1' -> 1.1e9 (gemma: +22-31%)."""
    sizes = re.findall(r"(?<![a-z.])(\d+(?:\.\d+)?)([mb])(\d*)(?![a-z])", e.name)
    if not sizes:   # gpt2, distilgpt2, phi-1.5, ...
        assert 5e7 < e.params < 2e10
        return
    num, unit, frac = sizes[-1]
    nominal = float(num + ("." + frac if frac else "")) * (1e6 if unit == "m" else 1e9)
    assert 0.75 < e.params / nominal < 1.35, (e.params, nominal)


@ids
def test_softcap_and_bos(e):
    assert (e.logit_softcap is not None) == (e.arch == "gemma2")
    if e.logit_softcap is not None:
        assert e.logit_softcap == 30.0
    if e.arch in ("gemma", "gemma2", "mistral") or e.family in ("tinyllama", "llama3.1", "opt"):
        assert e.bos, "SentencePiece/Llama-3 tokenizers (and OPT's </s>) expect a BOS"
    if e.family in ("pythia", "gpt-neo", "gpt-j", "gpt2", "qwen2.5", "phi", "bloom", "smollm2"):
        assert not e.bos


@ids
def test_tuned_from(e):
    if e.relation == "base":
        assert e.tuned_from is None
        return
    assert e.tuned_from in BY_NAME, f"{e.name}: tuned_from {e.tuned_from!r} is not in the panel"
    base = BY_NAME[e.tuned_from]
    assert base.relation == "base" and base.name != e.name
    # a fine-tune keeps its base's architecture (vocab may be resized: dolly-v2)
    for k in ("arch", "layers", "d_model", "heads", "kv_heads", "norm", "tied_embeddings", "logit_softcap", "bos"):
        assert getattr(e, k) == getattr(base, k), k
    if e.vocab == base.vocab:
        assert e.params == base.params


@ids
def test_gated_repos_say_so(e):
    owner = e.hub["id"].split("/")[0]
    gated = owner in ("meta-llama", "google", "mistralai")
    assert gated == any(c.startswith("gated model") for c in e.caveats)


def test_opt350m_post_ln_caveat():
    e = BY_NAME["opt-350m"]
    assert e.norm == "post"
    assert any("post-LN" in c and "artefact" in c for c in e.caveats)
