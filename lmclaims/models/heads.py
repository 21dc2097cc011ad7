"""Per-head attention weights for every supported family, in one convention.

Convention: residual-stream **row vectors** ``x`` [d_model] (as in TransformerLens):

    q_h = x @ W_Q[h] + b_Q[h]                         W_Q [n_heads,    d_model, head_dim]
    k_g = x @ W_K[g] + b_K[g]                         W_K [n_kv_heads, d_model, head_dim]
    v_g = x @ W_V[g] + b_V[g]                         W_V [n_kv_heads, d_model, head_dim]
    score_h(i, j) = softcap(qk_scale · <rot(q_h,i), rot(k_g,j)>)      g = head_to_group[h]
    z_h(i) = Σ_j softmax_j(score_h(i, ·) + causal/window mask) v_g(j)
    attn_out(i) = Σ_h z_h(i) @ W_O[h] + b_O           W_O [n_heads,    head_dim, d_model]

GQA: query head h reads kv group ``h // (n_heads // n_kv_heads)`` (HF's ``repeat_kv`` order).
The matrices are the *linear* maps only. What sits between them and the scores is applied by the
caller (and by the rebuild test ``tests/test_heads.py``): rotary embeddings (rotate-half on the
first ``rotary_dim`` dims for NeoX/llama-style, interleaved pairs for GPT-J), BLOOM's ALiBi bias,
Gemma 3's QK-norm (RMSNorm of q_h and k_g with ``(1 + w)`` weights, *before* rotary; likewise
phi's optional ``qk_layernorm``), Gemma 2's attention-logit softcap ``c·tanh(s/c)``, and sliding
windows. ``qk_scale`` and ``attn_softcap`` are carried as metadata for that purpose.

Where each family stores them (HF ``nn.Linear`` weights are [out, in]; GPT-2's ``Conv1D`` is [in, out]):

- gpt2: fused ``c_attn`` Conv1D [d, 3d]: columns [0:d] q, [d:2d] k, [2d:3d] v, each head-major
  (head h = columns h·dh:(h+1)·dh of its block); ``c_proj`` Conv1D [d, d].
- gpt_neox, bloom: fused ``query_key_value`` Linear [3d, d] **interleaved per head**: its rows view
  as [n_heads, 3, head_dim, d] (q, k, v of head 0, then of head 1, ...); ``dense`` out.
- separate q/k/v Linear: llama, mistral, qwen2 (q/k/v bias), gemma, gemma2, gemma3 (``o_proj``),
  opt (biases, ``out_proj``), gpt_neo and gptj (no q/k/v bias, ``out_proj``), phi (biases, ``dense``).

Returned tensors are float32, detached, and may share memory with the model's parameters
(fp32 models): treat them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmclaims.models.adapter import Adapter, UnsupportedArchitecture

# model_type -> attribute path of the self-attention module inside a decoder block
_ATTN_PATH = {"gpt2": "attn", "gpt_neo": "attn.attention", "gptj": "attn", "bloom": "self_attention",
              "gpt_neox": "attention"}
_DEFAULT_ATTN_PATH = "self_attn"
_OUT_NAMES = ("o_proj", "out_proj", "dense", "c_proj")
_FUSED_INTERLEAVED = ("gpt_neox", "bloom")


@dataclass(frozen=True, eq=False)
class HeadWeights:
    """One layer's attention weights split per head (see the module docstring for the convention)."""

    model_type: str
    layer: int
    W_Q: torch.Tensor                 # [n_heads, d_model, head_dim]
    W_K: torch.Tensor                 # [n_kv_heads, d_model, head_dim]
    W_V: torch.Tensor                 # [n_kv_heads, d_model, head_dim]
    W_O: torch.Tensor                 # [n_heads, head_dim, d_model]
    b_Q: torch.Tensor | None          # [n_heads, head_dim]
    b_K: torch.Tensor | None          # [n_kv_heads, head_dim]
    b_V: torch.Tensor | None          # [n_kv_heads, head_dim]
    b_O: torch.Tensor | None          # [d_model]
    head_to_group: torch.Tensor       # [n_heads] long: kv group read by each query head
    qk_scale: float                   # scores = qk_scale · q·k (1/√head_dim; Gemma: 1/√query_pre_attn_scalar; GPT-Neo: 1)
    attn_softcap: float | None        # Gemma 2: scores -> c·tanh(scores / c) before the mask

    @property
    def n_heads(self) -> int:
        return self.W_Q.shape[0]

    @property
    def n_kv_heads(self) -> int:
        return self.W_K.shape[0]

    @property
    def d_model(self) -> int:
        return self.W_Q.shape[1]

    @property
    def head_dim(self) -> int:
        return self.W_Q.shape[2]

    def W_V_per_head(self) -> torch.Tensor:
        """W_V[head_to_group[h]] for every query head h: [n_heads, d_model, head_dim]."""
        return self.W_V[self.head_to_group]

    def W_OV(self, head: int | None = None) -> torch.Tensor:
        """OV circuit W_V[g(h)] @ W_O[h]: [d_model, d_model] for one head, [n_heads, d, d] for all.

        In the row convention a token's contribution to head h's output is ``x @ W_OV(h)`` times its
        attention weight (plus the value/out biases).
        """
        if head is not None:
            return self.W_V[self.head_to_group[head]] @ self.W_O[head]
        return self.W_V_per_head() @ self.W_O

    def W_QK(self, head: int | None = None) -> torch.Tensor:
        """QK bilinear form W_Q[h] @ W_K[g(h)]ᵀ (before rotary/QK-norm): [d, d] or [n_heads, d, d]."""
        if head is not None:
            return self.W_Q[head] @ self.W_K[self.head_to_group[head]].mT
        return self.W_Q @ self.W_K[self.head_to_group].mT

    def ov_norms(self, ord: str = "fro") -> torch.Tensor:
        """Per-head ‖W_OV(h)‖ [n_heads]; ``ord`` "fro" (Frobenius) or "spectral" (σ_max).

        W_OV = W_V W_O has rank ≤ head_dim, so it is never formed: with thin QRs W_V = Q_v R_v and
        W_Oᵀ = Q_o R_o, W_OV = Q_v (R_v R_oᵀ) Q_oᵀ and both norms equal those of the
        [head_dim, head_dim] core R_v R_oᵀ (computed in float64).
        """
        _, r_v = torch.linalg.qr(self.W_V_per_head().double())      # [H, dh, dh]
        _, r_o = torch.linalg.qr(self.W_O.double().mT)               # [H, dh, dh]
        return _matrix_norms(r_v @ r_o.mT, ord).float()

    def v_norms(self, ord: str = "fro") -> torch.Tensor:
        """Per-query-head ‖W_V[g(h)]‖ [n_heads] (GQA heads of one group share the value)."""
        return _matrix_norms(self.W_V_per_head().double(), ord).float()

    def o_norms(self, ord: str = "fro") -> torch.Tensor:
        """Per-head ‖W_O[h]‖ [n_heads]."""
        return _matrix_norms(self.W_O.double(), ord).float()


def _matrix_norms(mats: torch.Tensor, ord: str) -> torch.Tensor:
    if ord == "fro":
        return torch.linalg.matrix_norm(mats, ord="fro")
    if ord == "spectral":
        return torch.linalg.svdvals(mats)[..., 0]
    raise ValueError(f"ord must be 'fro' or 'spectral', got {ord!r}")


def _get(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def attention_module(adapter: Adapter, layer: int) -> nn.Module:
    """The self-attention submodule of block ``layer`` (the module whose output is attn_out)."""
    block = adapter.blocks[layer]
    path = _ATTN_PATH.get(adapter.model_type, _DEFAULT_ATTN_PATH)
    try:
        return _get(block, path)
    except AttributeError:
        raise UnsupportedArchitecture(
            f"{adapter.model_type}: no attention module at {path!r} in {type(block).__name__}") from None


def _out_projection(attn: nn.Module) -> nn.Module:
    for name in _OUT_NAMES:
        if isinstance(getattr(attn, name, None), nn.Module):
            return getattr(attn, name)
    raise UnsupportedArchitecture(f"no output projection ({', '.join(_OUT_NAMES)}) in {type(attn).__name__}")


def _f32(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().float()


def _split_in_out(w_in_out: torch.Tensor, n: int, head_dim: int) -> torch.Tensor:
    """[d, n·dh] (input-major) -> [n, d, dh]."""
    d = w_in_out.shape[0]
    return w_in_out.reshape(d, n, head_dim).permute(1, 0, 2)


def _linear_heads(proj: nn.Linear, n: int, head_dim: int):
    """nn.Linear weight [n·dh, d] -> W [n, d, dh], bias [n·dh] -> [n, dh]."""
    w = _split_in_out(_f32(proj.weight).mT, n, head_dim)
    b = None if proj.bias is None else _f32(proj.bias).reshape(n, head_dim)
    return w, b


def _qk_scale(adapter: Adapter, layer: int) -> float:
    cfg = adapter.model.config
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    mt = adapter.model_type
    if mt == "gpt_neo":  # GPT-Neo never scales its scores
        return 1.0
    if mt in ("gemma", "gemma2", "gemma3", "gemma3_text") and getattr(cfg, "query_pre_attn_scalar", None):
        return float(cfg.query_pre_attn_scalar) ** -0.5
    scale = adapter.head_dim ** -0.5
    if mt == "gpt2":
        scale = scale if getattr(cfg, "scale_attn_weights", True) else 1.0
        if getattr(cfg, "scale_attn_by_inverse_layer_idx", False):
            scale /= float(layer + 1)
    return scale


def attention_weights(adapter: Adapter, layer: int) -> HeadWeights:
    """Per-head W_Q, W_K, W_V, W_O (+ biases) of block ``layer``, correctly split for the family.

    This is the **correct** per-head decomposition (fused-qkv layouts as in the module docstring,
    GQA head→group map). For the paper's whole-layer numbers see ``as_published_wv_wo``.
    """
    mt, n_h, n_kv, dh = adapter.model_type, adapter.n_heads, adapter.n_kv_heads, adapter.head_dim
    attn = attention_module(adapter, layer)
    out = _out_projection(attn)
    d = adapter.d_model
    if mt == "gpt2":  # Conv1D c_attn [d, 3d] = [in, out]: q | k | v column blocks
        w, b = _f32(attn.c_attn.weight), _f32(attn.c_attn.bias)
        W_Q, W_K, W_V = (_split_in_out(w[:, i * d:(i + 1) * d], n_h, dh) for i in range(3))
        b_Q, b_K, b_V = (None,) * 3 if b is None else (b[i * d:(i + 1) * d].reshape(n_h, dh) for i in range(3))
        W_O = _f32(out.weight).reshape(n_h, dh, d)           # Conv1D [in, out] = [n·dh, d]
    elif mt in _FUSED_INTERLEAVED:  # Linear [3d, d], rows = [head, (q|k|v), dh]
        qkv = attn.query_key_value
        w = _f32(qkv.weight).reshape(n_h, 3, dh, d)
        W_Q, W_K, W_V = (w[:, i].mT for i in range(3))
        b = _f32(qkv.bias)
        b_Q, b_K, b_V = (None,) * 3 if b is None else (b.reshape(n_h, 3, dh)[:, i] for i in range(3))
        W_O = _f32(out.weight).mT.reshape(n_h, dh, d)
    elif all(hasattr(attn, p) for p in ("q_proj", "k_proj", "v_proj")):
        W_Q, b_Q = _linear_heads(attn.q_proj, n_h, dh)
        W_K, b_K = _linear_heads(attn.k_proj, n_kv, dh)
        W_V, b_V = _linear_heads(attn.v_proj, n_kv, dh)
        W_O = _f32(out.weight).mT.reshape(n_h, dh, d)
    else:
        raise UnsupportedArchitecture(f"{mt}: unknown q/k/v layout in {type(attn).__name__}")
    b_O = _f32(getattr(out, "bias", None))
    softcap = getattr(attn, "attn_logit_softcapping", None)
    return HeadWeights(
        model_type=mt, layer=layer, W_Q=W_Q, W_K=W_K, W_V=W_V, W_O=W_O, b_Q=b_Q, b_K=b_K, b_V=b_V, b_O=b_O,
        head_to_group=head_to_group(n_h, n_kv), qk_scale=_qk_scale(adapter, layer),
        attn_softcap=float(softcap) if softcap else None)


def head_to_group(n_heads: int, n_kv_heads: int) -> torch.Tensor:
    """GQA map: query head h uses kv group h // (n_heads // n_kv_heads) (MHA: the identity)."""
    if n_heads % n_kv_heads:
        raise ValueError(f"n_heads {n_heads} is not a multiple of n_kv_heads {n_kv_heads}")
    return torch.arange(n_heads) // (n_heads // n_kv_heads)


def as_published_wv_wo(adapter: Adapter, layer: int) -> tuple[float, float]:
    """(σ_max(W_V), σ_max(W_O)) of block ``layer`` **exactly as the paper's code computes them**.

    Whole-layer matrices, all heads together (the paper says "per head"; its code does not split):

    - gpt_neox, bloom: "W_V" = rows [2d:3d] of the fused ``query_key_value.weight`` [3d, d].
      **This is the author's bug**: HF stores that weight interleaved per head ([head, q|k|v, dh]),
      so those rows are the q, k and v rows of the last third of the heads — not the value heads.
      W_O = ``dense.weight``.
    - gpt2: "W_V" = columns [2d:3d] of ``c_attn.weight`` (Conv1D [d, 3d]); there q|k|v are column
      blocks, so this slice *is* the value projection. W_O = ``c_proj.weight``.
    - separate projections: ``v_proj.weight`` and the out projection's weight (correct).

    Use ``attention_weights(...).ov_norms()`` / ``v_norms()`` / ``o_norms()`` for the corrected
    per-head quantities. σ_max is transpose-invariant, so [in, out] vs [out, in] storage is moot.
    """
    mt = adapter.model_type
    attn = attention_module(adapter, layer)
    out = _out_projection(attn)
    if mt in _FUSED_INTERLEAVED:
        w = _f32(attn.query_key_value.weight)
        d = w.shape[1]
        w_v = w[2 * d:3 * d, :]                                  # the author's slice (bug, see above)
    elif mt == "gpt2":
        w = _f32(attn.c_attn.weight)
        d = w.shape[0]
        w_v = w[:, 2 * d:3 * d]
    elif hasattr(attn, "v_proj"):
        w_v = _f32(attn.v_proj.weight)
    else:
        raise UnsupportedArchitecture(f"{mt}: no value projection found in {type(attn).__name__}")
    sigma = lambda m: float(torch.linalg.matrix_norm(m, ord=2))  # noqa: E731
    return sigma(w_v), sigma(_f32(out.weight))
