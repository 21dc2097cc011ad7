"""Controlled training experiments for the thermodynamics claims (seeds 000/001).

- ``run_tiny(spec, corpus)``: train one tiny model (``loop.tiny_model`` + ``loop.train_causal_lm``) on
  byte-level token blocks of the corpus' *train half* (``data.split_texts``: every other eval text),
  then measure its residual norms on the first ``probe_len`` bytes of the disjoint *probe half*
  (one window per text: the text stays the unit) and summarise every gain definition
  (``lmclaims.probes.gain``). Given a claim's ``measure.derived_json``, a run is a derived
  measurement in the measurement cache, keyed by the spec, corpus hash, code version and library versions.
- ``finetune_loaded(lm, texts, ...)``: a real fine-tune of a loaded panel model on a *copy* of its
  weights: SFT on corpus token blocks, then a short DPO step (Rafailov et al. 2023) on pairs where the
  corpus continuation is preferred over the same tokens shuffled — an honest, labelled **stand-in**
  for RLHF (no reward model, no human preferences). Returns a ``LoadedModel`` with its own
  fingerprint so measurements are cached apart from the base model's.
- ``finetune_tiny``: the same SFT(+DPO) on a tiny model (the "dampening base" experiment).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from lmclaims.probes import gain
from lmclaims.training.data import split_texts, token_blocks
from lmclaims.training.loop import mean_loss, threads, tiny_model, train_causal_lm

CODE_VERSION = 1  # bump when anything here changes the numbers


@dataclass(frozen=True)
class TinySpec:
    """One tiny training run. ``recipe`` goes to ``tiny_model``; ``train`` to ``train_causal_lm``."""

    arch: str = "llama"
    n_layers: int = 4
    d_model: int = 64
    n_heads: int = 4
    seed: int = 0
    recipe: tuple = ()                 # sorted (key, value) pairs (hashable)
    train: tuple = ()                  # sorted (key, value) pairs
    seq_len: int = 64
    probe_len: int = 128
    finetune: tuple = ()               # optional second stage: sorted (key, value) pairs

    @staticmethod
    def make(*, recipe: dict | None = None, train: dict | None = None, finetune: dict | None = None, **kw):
        fz = lambda d: tuple(sorted((d or {}).items()))  # noqa: E731
        return TinySpec(recipe=fz(recipe), train=fz(train), finetune=fz(finetune), **kw)


def _tokenizer():
    from lmclaims.models.synthetic import byte_tokenizer
    return byte_tokenizer()


VOCAB = 320  # byte tokenizer: 259 tokens, padded to 320 like real vocabularies (synthetic.VOCAB)


def probe_windows(encode, texts, length: int) -> torch.Tensor:
    """First ``length`` tokens of every text long enough: [n, length]."""
    rows = []
    for t in texts:
        ids = list(encode(t))
        if len(ids) >= length:
            rows.append(ids[:length])
    if not rows:
        raise ValueError(f"no text has {length} tokens")
    return torch.tensor(rows, dtype=torch.long)


@torch.no_grad()
def residual_arrays(model, windows: torch.Tensor, *, batch_size: int = 32) -> dict:
    """``ResidualNorms``-format arrays (norm [rows, L+1], text_index, position) for a bare HF model on
    equal-length windows (one window = one text). Uses the engine's hooks (pre-final-norm states)."""
    from lmclaims.engine.forward import capture_residual
    from lmclaims.models.adapter import Adapter

    adapter = Adapter.for_model(model)
    n, T = windows.shape
    norms = []
    model.eval()
    with capture_residual(adapter) as store:
        for a in range(0, n, batch_size):
            model(input_ids=windows[a:a + batch_size].to(next(model.parameters()).device), use_cache=False)
            norms.append(torch.stack([s.float().norm(dim=-1) for s in store], dim=-1).reshape(-1, len(store)).cpu())
    return {"norm": torch.cat(norms).numpy(), "text_index": np.repeat(np.arange(n), T).astype(np.int32),
            "position": np.tile(np.arange(T), n).astype(np.int32)}


def _summary_dict(arrays: dict, n: int) -> dict:
    s = gain.summarise(arrays, n)
    return {"hidden_states": s.hidden_states.tolist(), "hook": s.hook.tolist(), "corrected": s.corrected.tolist(),
            "max_block": s.max_block.tolist(), "log_profile_mean": s.log_profile.mean(axis=0).tolist(),
            "n_layers": s.n_layers}


@dataclass
class TinyResult:
    spec: TinySpec
    losses: list
    eval_before: float
    eval_after: float
    gains: dict                         # definition -> per-probe-text list (see _summary_dict)
    seconds: float
    finetune: dict = field(default_factory=dict)   # {"losses", "eval_after", "gains"} of the second stage

    @property
    def g_max(self) -> float:
        """Model-level G_max: max over blocks 1..L-1 of the geometric-mean (over texts) block gain."""
        prof = np.asarray(self.gains["log_profile_mean"])
        return float(np.exp(prof[1:].max())) if len(prof) > 1 else float(np.exp(prof[0]))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _data(corpus, spec: TinySpec):
    tok = _tokenizer()
    train_texts, probe_texts = split_texts(corpus)
    blocks = token_blocks(tok, train_texts, spec.seq_len, eos_id=tok.eos_token_id)
    enc = lambda t: tok(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    windows = probe_windows(enc, probe_texts, spec.probe_len)
    eval_blocks = token_blocks(tok, probe_texts, spec.seq_len, eos_id=tok.eos_token_id, max_blocks=64)
    return blocks, windows, eval_blocks


def run_tiny(spec: TinySpec, corpus, *, derived_json=None, num_threads: int | None = None) -> TinyResult:
    """Train and measure one tiny model; see the module docstring.

    ``derived_json``: a claim's ``measure.derived_json`` — the run is then a derived measurement in the
    measurement cache, keyed by the spec, the corpus sha256, the code version and the library versions
    (read back on a warm re-run); without it the run is computed and not kept.
    """
    def compute() -> dict:
        t0 = time.perf_counter()
        blocks, windows, eval_blocks = _data(corpus, spec)
        with threads(num_threads):
            model = tiny_model(spec.arch, spec.n_layers, spec.d_model, spec.n_heads, VOCAB, spec.seed,
                               max_positions=max(spec.seq_len, spec.probe_len), **dict(spec.recipe))
            res = train_causal_lm(model, blocks, seed=spec.seed, eval_blocks=eval_blocks, **dict(spec.train))
            gains = _summary_dict(residual_arrays(model, windows), windows.shape[0])
            ft = {}
            if spec.finetune:
                ft = finetune_tiny(model, blocks, windows, eval_blocks, dict(spec.finetune), seed=spec.seed)
        out = TinyResult(spec=spec, losses=[round(x, 4) for x in res.losses], eval_before=res.eval_before,
                         eval_after=res.eval_after, gains=gains, seconds=time.perf_counter() - t0, finetune=ft)
        return json.loads(json.dumps(out.to_json(), default=str))

    if derived_json is None:
        record = compute()
    else:
        import transformers
        record = derived_json("thermo_tiny_run", {
            "spec": json.loads(json.dumps(dataclasses.asdict(spec), default=str)), "corpus": corpus.sha256,
            "code": CODE_VERSION, "torch": torch.__version__.split("+")[0], "transformers": transformers.__version__},
            compute)
    return TinyResult(**{**record, "spec": spec})


def finetune_tiny(model, blocks, windows, eval_blocks, settings: dict, *, seed: int) -> dict:
    """Second stage on an already trained tiny model (in place): SFT with ``settings`` (train_causal_lm
    keywords; ``dpo_steps``/``dpo_lr``/``beta`` add a DPO stage), then re-measure."""
    s = dict(settings)
    dpo = {k: s.pop(k) for k in ("dpo_steps", "dpo_lr", "beta", "dpo_batch") if k in s}
    res = train_causal_lm(model, blocks, seed=seed + 1000, **s)
    out = {"losses": [round(x, 4) for x in res.losses]}
    if dpo.get("dpo_steps"):
        out["dpo_losses"] = dpo_train(model, blocks, steps=dpo["dpo_steps"], lr=dpo.get("dpo_lr", 1e-4),
                                      beta=dpo.get("beta", 0.1), batch_size=dpo.get("dpo_batch", 8), seed=seed + 2000)
    out["eval_after"] = mean_loss(model, eval_blocks)
    out["gains"] = _summary_dict(residual_arrays(model, windows), windows.shape[0])
    return out


# ---- preference optimisation (DPO) stand-in for RLHF -------------------------------------------------

def preference_pairs(blocks: torch.Tensor, *, seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(chosen, rejected, prompt_len): chosen = a corpus block; rejected = the same block with its second
    half's tokens shuffled (same tokens, broken order). The prompt is the first half."""
    T = blocks.shape[1]
    half = T // 2
    g = torch.Generator().manual_seed(seed)
    rejected = blocks.clone()
    for i in range(blocks.shape[0]):
        perm = torch.randperm(T - half, generator=g)
        rejected[i, half:] = blocks[i, half:][perm]
    return blocks, rejected, half


def _cont_logp(model, ids: torch.Tensor, prompt_len: int) -> torch.Tensor:
    ids = ids.to(next(model.parameters()).device)
    logits = model(input_ids=ids, use_cache=False).logits[:, :-1].float()
    lp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return lp[:, prompt_len - 1:].sum(dim=1)


def dpo_train(model, blocks: torch.Tensor, *, steps: int, lr: float, beta: float, batch_size: int, seed: int,
              max_pairs: int = 256) -> list[float]:
    """DPO (Rafailov et al. 2023) with the model before this stage as the frozen reference."""
    chosen, rejected, half = preference_pairs(blocks[:max_pairs], seed=seed)
    with torch.no_grad():
        model.eval()
        ref_c = torch.cat([_cont_logp(model, chosen[a:a + 16], half) for a in range(0, len(chosen), 16)])
        ref_r = torch.cat([_cont_logp(model, rejected[a:a + 16], half) for a in range(0, len(chosen), 16)])
    index = torch.arange(len(chosen))[:, None]

    def loss_fn(m, idx):
        i = idx[:, 0]
        pc, pr = _cont_logp(m, chosen[i], half), _cont_logp(m, rejected[i], half)
        margin = (pc - ref_c[i].to(pc.device)) - (pr - ref_r[i].to(pr.device))
        return -F.logsigmoid(beta * margin).mean()

    res = train_causal_lm(model, index, steps=steps, batch_size=batch_size, lr=lr, warmup=0, min_lr_ratio=1.0,
                          seed=seed, loss_fn=loss_fn)
    return [round(x, 4) for x in res.losses]


# ---- fine-tuning a real panel model ------------------------------------------------------------------

def finetune_settings(texts, **kw) -> dict:
    """The identity of a ``finetune_loaded`` run (its keyword arguments + the tuning texts' hash)."""
    return dict(kw, code=CODE_VERSION, texts=hashlib.sha256(json.dumps(list(texts)).encode()).hexdigest()[:16])


def tuned_fingerprint(lm, settings: dict) -> str:
    """Fingerprint of the fine-tuned copy: the base fingerprint + a hash of the fine-tune settings."""
    return f"{lm.fingerprint}+ft@{hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]}"


def finetune_loaded(lm, texts, *, sft_steps: int, sft_lr: float, batch_size: int, seq_len: int, dpo_steps: int,
                    dpo_lr: float, beta: float, seed: int = 0, num_threads: int | None = None):
    """SFT + DPO on a deep copy of ``lm.model``; returns (tuned LoadedModel, info dict)."""
    from functools import partial

    from lmclaims.models.adapter import Adapter

    settings = finetune_settings(texts, sft_steps=sft_steps, sft_lr=sft_lr, batch_size=batch_size, seq_len=seq_len,
                                 dpo_steps=dpo_steps, dpo_lr=dpo_lr, beta=beta, seed=seed)
    t0 = time.perf_counter()
    enc = partial(lm.encode, max_tokens=10 ** 9) if lm.max_positions is None else partial(lm.encode, max_tokens=lm.max_positions)
    blocks = token_blocks(enc, texts, seq_len)
    model = copy.deepcopy(lm.model)
    model.requires_grad_(True)
    with threads(num_threads):
        before = mean_loss(model, blocks[:16], batch_size=4)
        sft = train_causal_lm(model, blocks, steps=sft_steps, batch_size=batch_size, lr=sft_lr, weight_decay=0.0,
                              warmup=0.1, seed=seed)
        dpo = dpo_train(model, blocks, steps=dpo_steps, lr=dpo_lr, beta=beta, batch_size=batch_size, seed=seed + 1,
                        max_pairs=max(dpo_steps * batch_size, batch_size)) if dpo_steps else []
        after = mean_loss(model, blocks[:16], batch_size=4)
    model.requires_grad_(False)
    model.eval()
    tuned = dataclasses.replace(lm, model=model, adapter=Adapter.for_model(model),
                                fingerprint=tuned_fingerprint(lm, settings))
    info = {"settings": settings, "sft_losses": [round(x, 4) for x in sft.losses], "dpo_losses": dpo,
            "train_loss_before": before, "train_loss_after": after, "seconds": time.perf_counter() - t0,
            "n_blocks": int(blocks.shape[0])}
    return tuned, info
