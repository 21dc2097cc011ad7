"""Tiny seeded causal LMs built with ``AutoModelForCausalLM.from_config`` — nothing downloaded.

Every supported family gets a 2–3 layer model with d_model 64 and 4 attention heads (GQA 4 query
heads / 2 kv heads where the family has it), built deterministically from ``seed``. These are the
models the suite's own tests run on (the tuned-lens ``tests/conftest.py`` idea), and the models of
the ``synthetic`` panel (``lmclaims/data/panels/synthetic.toml``).

Weights. HF initialisers use std 0.02, which makes attention nearly uniform and every block close to
the identity: tests on such models pass for the wrong reasons. ``build_synthetic`` therefore
re-initialises every parameter from a ``torch.Generator`` seeded with ``seed``:

- Linear / Conv1D weights ~ N(0, 0.2²) (GPT-Neo: 0.1², since it does not scale its attention
  scores by 1/√head_dim and would otherwise attend one-hot);
- embeddings (token and learned position) ~ N(0, 0.5²);
- all biases ~ N(0, 0.05²) (including the qkv biases of qwen2, OPT, BLOOM, phi);
- norm weights ~ 1 + N(0, 0.1²); for Gemma's ``(1 + w)``-parametrised RMSNorms w ~ N(0, 0.1²),
  so the effective scale is again ≈ 1. QK-norms (Gemma 3 ``q_norm``/``k_norm``, phi's
  ``q_layernorm``/``k_layernorm``) get an effective scale ≈ 2 instead: unit-RMS q and k would give
  near-uniform attention.

With pre-norm inputs of unit RMS, queries and keys have std ≈ 0.2·√64 = 1.6, so attention scores
have std ≈ 2–3: patterns neither uniform nor one-hot (checked in ``tests/test_synthetic.py``).

Attention implementation: always ``"eager"``. torch's SDPA kernel has no softcap argument, so only
the eager path applies Gemma 2's attention-logit softcap; GPT-Neo has no SDPA path at all; and
``output_attentions=True`` needs eager. One path everywhere keeps the per-head rebuild tests
comparing like with like.

Tokenizer. ``byte_tokenizer()`` is a real ``PreTrainedTokenizerFast`` built in memory from a
``tokenizers`` byte-level BPE with no merges: token id = byte value (0–255), plus ``<|bos|>`` 256,
``<|eos|>`` 257, ``<|pad|>`` 258. It is offline, deterministic and supports the usual
``tok(texts, return_tensors="pt", padding=True)`` / ``tok.decode(ids)`` API. The models' vocab
(320) is larger than the tokenizer's 259 tokens, as with padded vocabularies of real models.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast
from transformers.pytorch_utils import Conv1D

VOCAB = 320
N_SPECIAL = 3  # bos, eos, pad after the 256 bytes

_LLAMA_GEOMETRY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=128, vocab_size=VOCAB)

# model_type -> default config kwargs (the tiny geometry plus family-specific features worth testing).
DEFAULT_CONFIGS: dict[str, dict] = {
    "gpt2": dict(n_layer=2, n_embd=64, n_head=4, n_positions=128, vocab_size=VOCAB),
    "gpt_neox": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=128, vocab_size=VOCAB, rotary_pct=0.5),
    "gpt_neo": dict(hidden_size=64, num_layers=2, num_heads=4, attention_types=[[["global", "local"], 1]],
                    window_size=5, max_position_embeddings=128, vocab_size=VOCAB),
    "gptj": dict(n_embd=64, n_layer=2, n_head=4, rotary_dim=8, n_positions=128, vocab_size=VOCAB),
    "bloom": dict(hidden_size=64, n_layer=2, n_head=4, vocab_size=VOCAB),
    # word_embed_proj_dim != hidden_size exercises OPT's project_in / project_out (as in opt-350m).
    "opt": dict(hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
                word_embed_proj_dim=32, max_position_embeddings=128, vocab_size=VOCAB),
    "phi": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                partial_rotary_factor=0.5, max_position_embeddings=128, vocab_size=VOCAB),
    "llama": dict(_LLAMA_GEOMETRY),
    "mistral": dict(_LLAMA_GEOMETRY, sliding_window=6),
    "qwen2": dict(_LLAMA_GEOMETRY, tie_word_embeddings=True),  # qwen2 has q/k/v biases built in
    # Gemma: n_heads·head_dim != d_model and query_pre_attn_scalar != head_dim, as in the real models.
    "gemma2": dict(_LLAMA_GEOMETRY, head_dim=24, num_hidden_layers=3, query_pre_attn_scalar=16,
                   sliding_window=6, final_logit_softcapping=30.0, attn_logit_softcapping=50.0),
    "gemma3_text": dict(_LLAMA_GEOMETRY, head_dim=32, num_hidden_layers=3, query_pre_attn_scalar=24,
                        sliding_window=6, sliding_window_pattern=2),
}
_ALIASES = {"gemma3": "gemma3_text"}
SYNTHETIC_MODEL_TYPES = tuple(DEFAULT_CONFIGS)

LINEAR_STD = 0.2
_LINEAR_STD_BY_FAMILY = {"gpt_neo": 0.1}  # unscaled q·k scores
EMBED_STD = 0.5
BIAS_STD = 0.05
NORM_STD = 0.1
QK_NORM_GAIN = 2.0
_QK_NORM_NAMES = ("q_norm", "k_norm", "q_layernorm", "k_layernorm")


def build_synthetic(model_type: str, *, seed: int = 0, config: dict | None = None,
                    dtype: torch.dtype = torch.float32):
    """A tiny seeded ``(model, tokenizer)`` of family ``model_type``, in eval mode.

    ``config`` overrides entries of ``DEFAULT_CONFIGS[model_type]`` (native HF config names). The
    same ``(model_type, seed, config)`` always gives bit-identical weights; the caller's global RNG
    state is left untouched.
    """
    model_type = _ALIASES.get(model_type, model_type)
    if model_type not in DEFAULT_CONFIGS:
        raise ValueError(f"no synthetic recipe for model_type {model_type!r}; "
                         f"available: {', '.join(SYNTHETIC_MODEL_TYPES)}")
    kwargs = copy.deepcopy(DEFAULT_CONFIGS[model_type])
    kwargs.update(copy.deepcopy(config or {}))
    tok = byte_tokenizer()
    kwargs.setdefault("bos_token_id", tok.bos_token_id)
    kwargs.setdefault("eos_token_id", tok.eos_token_id)
    kwargs.setdefault("pad_token_id", tok.pad_token_id)
    cfg = AutoConfig.for_model(model_type, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    reinitialise(model, seed=seed, linear_std=_LINEAR_STD_BY_FAMILY.get(model_type, LINEAR_STD))
    model = model.to(dtype).eval()
    return model, tok


def build_entry(entry, *, dtype: torch.dtype = torch.float32):
    """Build the model of a synthetic panel entry (``PanelEntry`` with a ``[model.synthetic]`` table)."""
    spec = entry.synthetic
    if not spec:
        raise ValueError(f"panel entry {entry.name!r} is not synthetic (source={entry.source!r})")
    return build_synthetic(spec["model_type"], seed=int(spec.get("seed", 0)), config=spec.get("config"),
                           dtype=dtype)


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or "Norm" in type(module).__name__


def _one_plus_w_norm(module: nn.Module) -> bool:
    """Gemma RMSNorms scale by (1 + w): their neutral weight is 0, not 1."""
    name = type(module).__name__
    return name.startswith("Gemma") and "RMSNorm" in name


@torch.no_grad()
def reinitialise(model: nn.Module, *, seed: int, linear_std: float = LINEAR_STD) -> None:
    """Overwrite every parameter deterministically (see module docstring for the distributions).

    Parameters are visited in ``named_modules`` order and shared (tied) tensors only once, so the
    result depends on ``seed`` and the architecture alone.
    """
    gen = torch.Generator().manual_seed(seed)
    seen: set[int] = set()
    for mname, module in model.named_modules():
        gain = QK_NORM_GAIN if mname.rsplit(".", 1)[-1] in _QK_NORM_NAMES else 1.0
        for pname, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if _is_norm(module):
                if pname == "weight":  # effective scale `gain` (Gemma: stored as w in (1 + w))
                    value = gain - _one_plus_w_norm(module) + NORM_STD * noise
                else:
                    value = NORM_STD * noise
            elif pname == "bias":
                value = BIAS_STD * noise
            elif isinstance(module, nn.Embedding):
                value = EMBED_STD * noise
            elif isinstance(module, (nn.Linear, Conv1D)):
                value = linear_std * noise
            else:  # any other parameter a family may carry: small, deterministic
                value = BIAS_STD * noise
            p.copy_(value.to(p.dtype))


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character map used by byte-level BPE."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level tokenizer: id = UTF-8 byte value; specials <|bos|>=256, <|eos|>=257, <|pad|>=258."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {ch: b for b, ch in _bytes_to_unicode().items()}
    for i, special in enumerate(("<|bos|>", "<|eos|>", "<|pad|>")):
        vocab[special] = 256 + i
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|bos|>", eos_token="<|eos|>",
                                   pad_token="<|pad|>")
