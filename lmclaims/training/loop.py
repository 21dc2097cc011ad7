"""Tiny causal LMs and a seeded AdamW loop — the training half of the controlled experiments.

``tiny_model(arch, n_layers, d_model, n_heads, vocab, seed, **recipe)`` builds a small
``AutoModelForCausalLM.from_config`` model (nothing downloaded) with the family's own HF
initialisation (``initializer_range`` = ``init_std``), then applies the recipe's init changes.
Same arguments -> bit-identical weights; the caller's global RNG is untouched.

Recipe keys (all optional):
- ``init_std`` (0.02, the HF default): std of the normal init of every linear/embedding weight;
- ``out_init_scale`` (1.0): multiplies, after init, the weights of the projections that *write into
  the residual stream* (attention output and MLP down projection; names in ``OUTPUT_PROJECTIONS``);
  0.1 gives "small output projections", 0.0 starts every block at the identity;
- ``embed_std`` (None = ``init_std``): std of the token-embedding init (re-drawn from a generator
  seeded with ``seed``); a large value (e.g. 1.0, ‖e‖ ≈ √d) makes the embedding dominate the stream;
- ``embed_offset`` (0): adds one shared random direction of RMS ``embed_offset`` per dimension to
  every token embedding (a large common component of the stream that carries no token information);
- ``ffn_mult`` (4): MLP width = ffn_mult · d_model;
- ``n_kv_heads`` (= n_heads), ``max_positions`` (256), ``tie_embeddings`` (True);
- ``config``: a dict of native HF config overrides (e.g. ``{"do_layer_norm_before": False}`` for a
  post-LN OPT block, ``{"use_parallel_residual": False}`` for gpt_neox).

``train_causal_lm(model, blocks, steps=..., ...)`` runs AdamW with linear warmup and cosine decay on
next-token cross-entropy (``labels = input_ids``, HF shifts) and returns a ``TrainResult`` with the
per-step loss curve. Weight decay applies to parameters with ≥ 2 dimensions (matrices and
embeddings), never to norm gains or biases — the usual GPT-2/nanoGPT split. ``loss_fn(model, batch)``
replaces the LM loss (e.g. a preference loss); ``params`` restricts what is trained.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lmclaims.training.data import batch_iterator

__all__ = ["tiny_model", "train_causal_lm", "mean_loss", "TrainResult", "OUTPUT_PROJECTIONS", "ARCHES", "threads",
           "lm_loss"]

# Module-name suffixes of the projections that write into the residual stream, per family.
OUTPUT_PROJECTIONS = ("self_attn.o_proj", "mlp.down_proj",          # llama / qwen2 / mistral / gemma
                      "attn.c_proj", "mlp.c_proj",                   # gpt2
                      "attention.dense", "mlp.dense_4h_to_h",        # gpt_neox
                      "self_attn.out_proj", "fc2")                   # opt

ARCHES = ("llama", "gpt2", "gpt_neox", "opt")


def _config_kwargs(arch: str, n_layers: int, d_model: int, n_heads: int, vocab: int, recipe: dict) -> dict:
    ffn = int(recipe.get("ffn_mult", 4) * d_model)
    pos = int(recipe.get("max_positions", 256))
    std = float(recipe.get("init_std", 0.02))
    tie = bool(recipe.get("tie_embeddings", True))
    common = dict(vocab_size=vocab, initializer_range=std, tie_word_embeddings=tie)
    if arch == "llama":
        kw = dict(hidden_size=d_model, intermediate_size=ffn, num_hidden_layers=n_layers,
                  num_attention_heads=n_heads, num_key_value_heads=int(recipe.get("n_kv_heads", n_heads)),
                  max_position_embeddings=pos)
    elif arch == "gpt2":
        kw = dict(n_embd=d_model, n_inner=ffn, n_layer=n_layers, n_head=n_heads, n_positions=pos,
                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    elif arch == "gpt_neox":
        kw = dict(hidden_size=d_model, intermediate_size=ffn, num_hidden_layers=n_layers,
                  num_attention_heads=n_heads, max_position_embeddings=pos, rotary_pct=0.25)
    elif arch == "opt":
        kw = dict(hidden_size=d_model, ffn_dim=ffn, num_hidden_layers=n_layers, num_attention_heads=n_heads,
                  word_embed_proj_dim=d_model, max_position_embeddings=pos, dropout=0.0,
                  attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0)
    else:
        raise ValueError(f"tiny_model: unknown arch {arch!r}; use one of {ARCHES}")
    kw.update(common)
    kw.update(recipe.get("config") or {})
    return kw


def tiny_model(arch: str, n_layers: int, d_model: int, n_heads: int, vocab: int, seed: int, **recipe) -> nn.Module:
    """A seeded tiny causal LM (fp32, eval mode). See the module docstring for ``recipe``."""
    from transformers import AutoConfig, AutoModelForCausalLM

    unknown = set(recipe) - {"init_std", "out_init_scale", "embed_std", "embed_offset", "ffn_mult", "n_kv_heads", "max_positions",
                             "tie_embeddings", "config"}
    if unknown:
        raise TypeError(f"tiny_model: unknown recipe keys {sorted(unknown)}")
    cfg = AutoConfig.for_model(arch, **_config_kwargs(arch, n_layers, d_model, n_heads, vocab, recipe))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa", dtype=torch.float32)
    if recipe.get("embed_std") is not None:
        emb = model.get_input_embeddings().weight
        gen = torch.Generator().manual_seed(seed + 7919)
        with torch.no_grad():
            emb.copy_(torch.randn(emb.shape, generator=gen) * float(recipe["embed_std"]))
    if recipe.get("embed_offset"):
        emb = model.get_input_embeddings().weight
        gen = torch.Generator().manual_seed(seed + 104729)
        with torch.no_grad():
            emb.add_(torch.randn(emb.shape[1], generator=gen) * float(recipe["embed_offset"]))
    scale = float(recipe.get("out_init_scale", 1.0))
    if scale != 1.0:
        with torch.no_grad():
            for name, mod in model.named_modules():
                if name.endswith(OUTPUT_PROJECTIONS) and hasattr(mod, "weight"):
                    mod.weight.mul_(scale)
    return model.eval()


@dataclass
class TrainResult:
    losses: list[float]                      # training loss at every step (before the update)
    steps: int
    seconds: float
    settings: dict = field(default_factory=dict)
    eval_before: float | None = None         # mean LM loss on eval blocks before / after training
    eval_after: float | None = None

    def smoothed(self, k: int = 10) -> tuple[float, float]:
        """(mean of the first k, mean of the last k) training losses."""
        a = np.asarray(self.losses, dtype=float)
        k = max(1, min(k, len(a) // 2 or 1))
        return float(a[:k].mean()), float(a[-k:].mean())


def _device(model) -> torch.device:
    return next(model.parameters()).device


def lm_loss(model, batch: torch.Tensor) -> torch.Tensor:
    batch = batch.to(_device(model))
    return model(input_ids=batch, labels=batch, use_cache=False).loss


@torch.no_grad()
def mean_loss(model, blocks: torch.Tensor, *, batch_size: int = 32) -> float:
    """Token-weighted mean next-token cross-entropy of ``model`` on ``blocks`` (eval mode)."""
    was = model.training
    model.eval()
    tot, n = 0.0, 0
    for a in range(0, blocks.shape[0], batch_size):
        b = blocks[a:a + batch_size]
        tot += float(lm_loss(model, b)) * b.numel()
        n += b.numel()
    model.train(was)
    return tot / max(n, 1)


def train_causal_lm(model, blocks: torch.Tensor, *, steps: int, batch_size: int = 16, lr: float = 3e-3,
                    weight_decay: float = 0.0, betas=(0.9, 0.95), warmup: int | float = 0.1,
                    min_lr_ratio: float = 0.1, grad_clip: float | None = 1.0, seed: int = 0,
                    eval_blocks: torch.Tensor | None = None, loss_fn=None, params=None,
                    num_threads: int | None = None) -> TrainResult:
    """Seeded AdamW training; returns the loss curve. The model is left in eval mode.

    ``num_threads`` sets torch's intra-op threads for the duration of the call only (restored
    after); None leaves them as they are. On a shared, oversubscribed CPU one thread can be several
    times faster than two for models this small.
    """
    with threads(num_threads):
        return _train(model, blocks, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                      betas=betas, warmup=warmup, min_lr_ratio=min_lr_ratio, grad_clip=grad_clip, seed=seed,
                      eval_blocks=eval_blocks, loss_fn=loss_fn, params=params)


@contextlib.contextmanager
def threads(n: int | None):
    """Temporarily ``torch.set_num_threads(n)`` (no-op for None)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _train(model, blocks, *, steps, batch_size, lr, weight_decay, betas, warmup, min_lr_ratio, grad_clip, seed,
           eval_blocks, loss_fn, params) -> TrainResult:
    loss_fn = loss_fn or lm_loss
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad] if params is None else list(params)
    if named and not isinstance(named[0], tuple):
        named = [(str(i), p) for i, p in enumerate(named)]
    decay = [p for _, p in named if p.ndim >= 2]
    no_decay = [p for _, p in named if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=tuple(betas))
    n_warm = int(round(warmup * steps)) if isinstance(warmup, float) else int(warmup)

    def lr_at(step):
        if step < n_warm:
            return (step + 1) / n_warm
        t = (step - n_warm) / max(1, steps - n_warm)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    before = mean_loss(model, eval_blocks) if eval_blocks is not None else None
    it = batch_iterator(blocks, batch_size, seed=seed)
    losses = []
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.train()
        for _ in range(steps):
            batch = next(it)
            loss = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss at step {len(losses)}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_([p for _, p in named], grad_clip)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        model.eval()
    after = mean_loss(model, eval_blocks) if eval_blocks is not None else None
    settings = dict(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, betas=list(betas),
                    warmup=n_warm, min_lr_ratio=min_lr_ratio, grad_clip=grad_clip, seed=seed)
    return TrainResult(losses=losses, steps=steps, seconds=time.perf_counter() - t0, settings=settings,
                       eval_before=before, eval_after=after)
