"""Architecture adapter: where the parts of a causal LM live, for every supported family.

The tuned-lens ``model_surgery`` idea: one place that knows, per architecture, the decoder blocks,
the final norm, the unembedding and the token embedding, so probes never touch attribute paths.
Per-head attention matrices (W_Q, W_K, W_V, W_O with fused-qkv and GQA handling) live in
``lmclaims.models.heads``.

Supported ``config.model_type`` values: gpt2, gpt_neox, gpt_neo, gptj, opt, bloom, llama, mistral,
qwen2, gemma, gemma2, gemma3_text/gemma3, phi, smollm3-style llama variants. An unknown family
raises ``UnsupportedArchitecture`` naming the families that are supported.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class UnsupportedArchitecture(ValueError):
    pass


# model_type -> (path to blocks, path to final norm, path to token embedding)
_PATHS: dict[str, tuple[str, str | None, str]] = {
    "gpt2": ("transformer.h", "transformer.ln_f", "transformer.wte"),
    "gpt_neo": ("transformer.h", "transformer.ln_f", "transformer.wte"),
    "gptj": ("transformer.h", "transformer.ln_f", "transformer.wte"),
    "bloom": ("transformer.h", "transformer.ln_f", "transformer.word_embeddings"),
    "gpt_neox": ("gpt_neox.layers", "gpt_neox.final_layer_norm", "gpt_neox.embed_in"),
    "opt": ("model.decoder.layers", "model.decoder.final_layer_norm", "model.decoder.embed_tokens"),
    "phi": ("model.layers", "model.final_layernorm", "model.embed_tokens"),
}
_LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "olmo", "olmo2", "phi3")
for _t in _LLAMA_LIKE:
    _PATHS[_t] = ("model.layers", "model.norm", "model.embed_tokens")

SUPPORTED_MODEL_TYPES = tuple(sorted(_PATHS))


def _get(obj: object, path: str | None):
    if path is None:
        return None
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _text_config(config):
    return config.get_text_config() if hasattr(config, "get_text_config") else config


@dataclass
class Adapter:
    """Handles to the parts of one loaded model.

    ``lens_logits(h)`` = softcap(W_U · final_norm(h) + b_U) — the logit lens (nostalgebraist 2020)
    applied to a residual-stream state ``h`` taken *before* the final norm. At the last block it
    reproduces the model's own logits (tested).
    """

    model: nn.Module
    model_type: str
    blocks: nn.ModuleList
    final_norm: nn.Module | None
    embed: nn.Module
    unembed: nn.Module
    project_out: nn.Module | None
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    logit_softcap: float | None
    norm_placement: str
    tied_embeddings: bool

    @classmethod
    def for_model(cls, model: nn.Module) -> "Adapter":
        cfg = _text_config(model.config)
        mt = getattr(model.config, "model_type", None)
        if mt not in _PATHS:
            mt = getattr(cfg, "model_type", mt)
        if mt not in _PATHS:
            raise UnsupportedArchitecture(
                f"model_type {mt!r} is not supported; supported: {', '.join(SUPPORTED_MODEL_TYPES)}")
        blocks_path, norm_path, embed_path = _PATHS[mt]
        blocks = _get(model, blocks_path)
        if blocks is None and blocks_path.startswith("model."):  # e.g. Gemma3ForConditionalGeneration
            blocks = _get(model, "model.language_model.layers")
            norm_path, embed_path = "model.language_model.norm", "model.language_model.embed_tokens"
        if blocks is None:
            raise UnsupportedArchitecture(f"could not find decoder blocks at {blocks_path!r} in {type(model).__name__}")
        final_norm = _get(model, norm_path)
        embed = _get(model, embed_path)
        unembed = model.get_output_embeddings()
        if unembed is None:
            raise UnsupportedArchitecture(f"{type(model).__name__} has no output embeddings (not a causal LM head?)")
        n_heads = int(getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head"))
        d_model = int(getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd"))
        n_kv = int(getattr(cfg, "num_key_value_heads", None) or n_heads)
        head_dim = int(getattr(cfg, "head_dim", None) or d_model // n_heads)
        if mt == "opt":
            pre = bool(getattr(cfg, "do_layer_norm_before", True))
        else:
            pre = True
        softcap = getattr(cfg, "final_logit_softcapping", None)
        tied = bool(getattr(cfg, "tie_word_embeddings", False)) and (
            unembed.weight.data_ptr() == embed.weight.data_ptr())
        return cls(
            model=model, model_type=mt, blocks=blocks, final_norm=final_norm, embed=embed,
            unembed=unembed, project_out=_get(model, "model.decoder.project_out") if mt == "opt" else None,
            n_layers=len(blocks), d_model=d_model, n_heads=n_heads, n_kv_heads=n_kv, head_dim=head_dim,
            vocab_size=int(unembed.weight.shape[0]), logit_softcap=float(softcap) if softcap else None,
            norm_placement="pre" if pre else "post", tied_embeddings=tied,
        )

    def normed(self, h: torch.Tensor) -> torch.Tensor:
        """final_norm(h) (and OPT's project_out), the input to the unembedding."""
        if self.final_norm is not None:
            h = self.final_norm(h)
        if self.project_out is not None:
            h = self.project_out(h)
        return h

    def lens_logits(self, h: torch.Tensor, *, apply_softcap: bool = True) -> torch.Tensor:
        """Logit lens of a pre-final-norm residual state ``h`` [..., d_model] -> [..., vocab]."""
        z = self.unembed(self.normed(h))
        if apply_softcap and self.logit_softcap:
            z = self.logit_softcap * torch.tanh(z / self.logit_softcap)
        return z

    @property
    def unembed_weight(self) -> torch.Tensor:
        return self.unembed.weight

    @property
    def unembed_bias(self) -> torch.Tensor | None:
        return getattr(self.unembed, "bias", None)
