"""Named hook sites of every supported architecture (TransformerLens / nnsight style names).

A *site* is a point of the forward pass an intervention may edit or a probe may read:

==================  ===============================================================================
``resid_pre.{l}``   the residual stream entering block ``l`` (its input; ``resid_pre.0`` = embeddings)
``resid_post.{l}``  the residual stream leaving block ``l`` (its output, first tuple element)
``attn_out.{l}``    the output of block ``l``'s attention module, before it is added to the stream
``mlp_out.{l}``     the output of block ``l``'s MLP (OPT: its ``fc2`` projection)
``final_norm_in``   the input of the final norm (= ``resid_post.{L-1}``)
==================  ===============================================================================

Blocks are 0-based. :func:`locate` maps a site name to ``(module, "input" | "output")`` on a loaded
model's :class:`~lmclaims.models.adapter.Adapter`; only the engine (``lmclaims.engine.hooks``)
registers hooks there. An unknown site name, or a kind the architecture lacks, is a ``KeyError`` that
names the valid sites; a layer out of range is an ``IndexError``.

>>> parse("attn_out.3"), parse("final_norm_in")
(('attn_out', 3), ('final_norm_in', None))
>>> parse("mlp.3")
Traceback (most recent call last):
...
KeyError: "unknown site 'mlp.3'; sites are resid_pre.{l}, resid_post.{l}, attn_out.{l}, mlp_out.{l}, final_norm_in"
"""

from __future__ import annotations

import re

KINDS = ("resid_pre", "resid_post", "attn_out", "mlp_out")
_HELP = "sites are resid_pre.{l}, resid_post.{l}, attn_out.{l}, mlp_out.{l}, final_norm_in"

#: model_type -> (attention submodule, MLP submodule) of one decoder block
_SUBMODULES: dict[str, tuple[str, str]] = {
    "gpt2": ("attn", "mlp"), "gpt_neo": ("attn", "mlp"), "gptj": ("attn", "mlp"),
    "gpt_neox": ("attention", "mlp"), "opt": ("self_attn", "fc2"),
    "phi": ("self_attn", "mlp"),
}
for _t in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "olmo", "olmo2",
           "phi3"):
    _SUBMODULES[_t] = ("self_attn", "mlp")


#: families whose attention / MLP modules add the residual inside themselves: no attn_out / mlp_out site
_NO_UPDATE_SITES = {"bloom": "BLOOM's attention and MLP modules add the residual inside themselves"}


def parse(site: str) -> tuple[str, int | None]:
    """``"attn_out.3"`` -> ("attn_out", 3); ``"final_norm_in"`` -> ("final_norm_in", None)."""
    if site == "final_norm_in":
        return site, None
    m = re.fullmatch(r"([a-z_]+)\.(\d+)", str(site))
    if not m or m.group(1) not in KINDS:
        raise KeyError(f"unknown site {site!r}; {_HELP}")
    return m.group(1), int(m.group(2))


def names(adapter) -> list[str]:
    """Every site of ``adapter``'s model, in forward order."""
    out = []
    updates = adapter.model_type not in _NO_UPDATE_SITES
    for l in range(adapter.n_layers):
        out += [f"resid_pre.{l}", *([f"attn_out.{l}", f"mlp_out.{l}"] if updates else []), f"resid_post.{l}"]
    return out + (["final_norm_in"] if adapter.final_norm is not None else [])


def locate(adapter, site: str):
    """(module, "input" | "output") where ``site`` lives on ``adapter``'s model."""
    kind, layer = parse(site)
    if kind == "final_norm_in":
        if adapter.final_norm is None:
            raise KeyError(f"{adapter.model_type} has no final norm: no site 'final_norm_in'")
        return adapter.final_norm, "input"
    if not 0 <= layer < adapter.n_layers:
        raise IndexError(f"site {site!r}: layer {layer} out of range for a {adapter.n_layers}-block model")
    block = adapter.blocks[layer]
    if kind == "resid_pre":
        return block, "input"
    if kind == "resid_post":
        return block, "output"
    if adapter.model_type in _NO_UPDATE_SITES:
        raise KeyError(f"site {site!r}: {_NO_UPDATE_SITES[adapter.model_type]}; use resid_pre / resid_post")
    attn, mlp = _SUBMODULES.get(adapter.model_type, ("self_attn", "mlp"))
    name = attn if kind == "attn_out" else mlp
    module = getattr(block, name, None)
    if module is None:
        raise KeyError(f"site {site!r}: {adapter.model_type} blocks have no {name!r} submodule")
    return module, "output"
