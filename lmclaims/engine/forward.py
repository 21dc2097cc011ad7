"""The measurement engine: one forward pass per batch feeds every registered per-token probe.

``measure(lm, view, probes)`` tokenises the texts of a ``CorpusView`` with the model's BOS policy,
groups them into right-padded batches of at most ``batch_tokens`` (rows × longest row), runs the
model once per batch with forward hooks that capture the sites the probes declare
(``lmclaims.engine.capture``), by default the residual stream

    resid[0] = input of block 0 (token + position embeddings, Gemma's scaling included)
    resid[l] = output of block l-1, for l = 1..L — *before* the final norm

(HF's ``hidden_states[-1]`` is after the final norm; we never use it), and hands each batch to the
accumulator of every probe whose result is not already cached. The LM head is asked for one
position only (``logits_to_keep=1``): every vocabulary quantity is computed by the streaming lens
(``lmclaims.engine.lens``), which reproduces the model's logits at the last block (tested).

Cached results are keyed by model fingerprint, corpus view hash, probe name/version/params,
dtype, device type, batch size and intervention — see ``lmclaims.cache``. The model fingerprint of
a loaded model covers its BOS policy, tokenizer digest and weights digest (``LoadedModel``); the
view hash covers the text ids, corpus sha256 and token window. A probe result with NaN or inf is
an error (``NonFiniteMeasurement``), never returned or cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from lmclaims import progress as progress_lines
from lmclaims.cache import MeasurementCache, NonFiniteMeasurement, check_finite
from lmclaims.corpus import CorpusView, EmptyCorpus
from lmclaims.engine.capture import (DeclaredResidual, UndeclaredSite, capture_residual, capture_sites,
                                     check_sites, residual_slot)
from lmclaims.engine.interventions import Intervention, NoIntervention, current_text_ids


class NonFiniteActivations(FloatingPointError):
    pass


__all__ = ["measure", "provenance", "NonFiniteActivations", "NonFiniteMeasurement", "RunInfo", "Batch",
           "capture_residual", "UndeclaredSite"]


@dataclass
class Batch:
    """One forward pass worth of captured state (all tensors on the model's device)."""

    text_index: np.ndarray            # [B] indices into the view (0..len(view)-1)
    text_ids: list[str]               # corpus ids of those texts
    lengths: np.ndarray               # [B] true token counts
    input_ids: torch.Tensor           # [B, T]
    resid: Sequence                   # L+1 slots [B, T, d] (see module docstring); a probe may read only
                                      # the slots of the sites it declares (``Probe.sites``)
    # per block: (hidden state passed positionally?, the other positional args, the keyword args) of
    # its call in this forward (attention mask, position embeddings, ...), so that a probe can re-run
    # blocks on other inputs without hooks of its own; None unless a probe's accumulator sets
    # ``needs_block_calls = True``
    block_calls: list[tuple] | None = None
    site_values: dict = field(default_factory=dict, repr=False)   # declared attn_out / mlp_out values
    declared: tuple = ()                                           # the sites this view exposes

    def site(self, name: str) -> torch.Tensor:
        """The value at a declared named site (``resid_post.3``, ``attn_out.3``, ``final_norm_in``, ...)."""
        if name not in self.declared:
            raise UndeclaredSite(f"site {name!r} was not declared (declared: {list(self.declared)}): "
                                 "add it to the probe's sites(adapter)")
        slot = residual_slot(len(self.resid) - 1, name)
        return self.resid[slot] if slot is not None else self.site_values[name]

    @property
    def mask(self) -> torch.Tensor:
        T = self.input_ids.shape[1]
        ar = torch.arange(T, device=self.input_ids.device)
        return ar[None, :] < torch.as_tensor(self.lengths, device=self.input_ids.device)[:, None]


@dataclass
class RunInfo:
    seconds: float = 0.0
    tokens: int = 0
    batches: int = 0
    cache_hits: list = field(default_factory=list)
    computed: list = field(default_factory=list)


def sample_positions(text_id: str, length: int, k: int | None, *, seed: int = 0) -> np.ndarray:
    """Up to ``k`` distinct positions in 1..length-1 (position 0 — BOS / attention sink — skipped),
    drawn without replacement by an RNG seeded from (text id, seed), sorted. ``k=None``: all."""
    pos = np.arange(1, length)
    if k is None or k >= len(pos):
        return pos
    s = int(hashlib.sha256(f"{text_id}|{seed}".encode()).hexdigest()[:12], 16)
    return np.sort(np.random.default_rng(s).choice(pos, size=k, replace=False))


def sampled_rows(batch: "Batch", k: int | None, *, seed: int = 0) -> tuple[list[int], list[int], list[int]]:
    """(row in batch, position, text index) of every sampled position of a batch (see sample_positions)."""
    rows, cols, tix = [], [], []
    for r in range(len(batch.lengths)):
        pos = sample_positions(batch.text_ids[r], int(batch.lengths[r]), k, seed=seed)
        rows += [r] * len(pos)
        cols += pos.tolist()
        tix += [int(batch.text_index[r])] * len(pos)
    return rows, cols, tix


def _as_bt(value: torch.Tensor, shape) -> torch.Tensor:
    """A site value as [B, T, ...]: OPT's MLP runs on the flattened [B·T, d] stream."""
    return value if value.dim() >= 3 else value.reshape(shape[0], shape[1], *value.shape[1:])


def _batches(lengths: list[int], batch_tokens: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out, cur, cur_max = [], [], 0
    for i in order:
        m = max(cur_max, lengths[i])
        if cur and m * (len(cur) + 1) > batch_tokens:
            out.append(cur)
            cur, m = [], lengths[i]
        cur.append(i)
        cur_max = m
    if cur:
        out.append(cur)
    return out


def provenance(lm, view: CorpusView, probe, intervention: Intervention, batch_tokens: int) -> dict:
    return {
        "model": lm.fingerprint, "corpus_view": view.key, "probe": probe.name, "probe_version": probe.version,
        "probe_params": probe.params(), "dtype": str(lm.dtype), "device_type": lm.device.type,
        "intervention": intervention.describe(), "batch_tokens": batch_tokens,
    }


def _forward(lm, input_ids, attention_mask):
    kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    try:
        return lm.model(**kwargs, logits_to_keep=1)
    except TypeError:
        return lm.model(**kwargs)


def _is_oom(exc: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def measure(lm, view: CorpusView, probes: list, *, batch_tokens: int = 2048, min_batch_tokens: int = 64, **kw):
    """Run every probe on ``view`` with one forward pass per batch; return {probe name: arrays}.

    On an accelerator out-of-memory error the whole measurement restarts with half the batch
    (down to ``min_batch_tokens``), after emptying the CUDA cache. The batch size is part of the
    cache key, so results measured at different batch sizes are never mixed. Results are keyed by
    probe name, so two probes of one name (say two strides of one probe) are an error: measure them
    in separate calls.
    """
    names = [p.name for p in probes]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"probes {dup} appear more than once in one measurement (results are keyed by "
                         "probe name); measure differently configured probes in separate calls")
    while True:
        try:
            return _measure(lm, view, probes, batch_tokens=batch_tokens, **kw)
        except Exception as exc:
            if not _is_oom(exc) or batch_tokens // 2 < min_batch_tokens:
                raise
            batch_tokens //= 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            import logging
            logging.getLogger(__name__).warning("%s: out of memory; retrying with batch_tokens=%d",
                                                lm.name, batch_tokens)


@torch.inference_mode()
def _measure(lm, view: CorpusView, probes: list, *, intervention: Intervention | None = None,
            cache: MeasurementCache | None = None, batch_tokens: int = 2048, progress: bool | None = None,
            info: RunInfo | None = None) -> dict[str, dict[str, np.ndarray]]:
    if len(view) == 0:
        raise EmptyCorpus("no texts to measure")
    intervention = intervention or NoIntervention()
    info = info if info is not None else RunInfo()
    results, todo = {}, []
    for p in probes:
        payload = provenance(lm, view, p, intervention, batch_tokens)
        hit = cache.get(payload) if cache is not None else None
        if hit is not None:
            results[p.name] = hit
            info.cache_hits.append(p.name)
        else:
            todo.append((p, payload))
    if not todo:
        return results
    t0 = time.perf_counter()
    encoded = [lm.encode(t, max_tokens=view.max_tokens) for t in view.texts]
    lengths = [len(e) for e in encoded]
    if min(lengths) < 2:
        bad = [view.ids[i] for i, n in enumerate(lengths) if n < 2]
        raise EmptyCorpus(f"{lm.name}: texts {bad} have fewer than 2 tokens")
    accs = [(p, p.accumulator(lm, view), payload) for p, payload in todo]
    ids_all = view.ids
    groups = _batches(lengths, batch_tokens)
    pad = 0
    desc = f"{lm.name}: {', '.join(p.name for p, _ in todo)}"
    calls = [None] * lm.adapter.n_layers if any(getattr(a, "needs_block_calls", False) for _, a, _ in accs) else None
    L = lm.adapter.n_layers
    declared = {p.name: check_sites(lm.adapter, p.sites(lm.adapter), f"probe {p.name}") for p, _, _ in accs}
    wanted = sorted({s for d in declared.values() for s in d})
    slots = {s: residual_slot(L, s) for s in wanted}
    observed = [s for s in wanted if slots[s] is None]
    allowed = {n: frozenset(slots[s] for s in d if slots[s] is not None) for n, d in declared.items()}
    step = progress_lines.step(f"{lm.name}: measuring {', '.join(p.name for p, _ in todo)} on {len(view)} texts"
                               + ("" if isinstance(intervention, NoIntervention) else f" under {intervention.describe()}"))
    with step, capture_residual(lm.adapter, calls, {v for v in slots.values() if v is not None}) as store, \
            capture_sites(lm.adapter, observed) as values, intervention.hooks(lm.adapter):
        for g in tqdm(groups, desc=desc, disable=progress is False if progress is not None else None, leave=False):
            T = max(lengths[i] for i in g)
            inp = torch.full((len(g), T), pad, dtype=torch.long)
            att = torch.zeros((len(g), T), dtype=torch.long)
            for r, i in enumerate(g):
                inp[r, :lengths[i]] = torch.tensor(encoded[i])
                att[r, :lengths[i]] = 1
            inp, att = inp.to(lm.device), att.to(lm.device)
            token = current_text_ids.set([(int(i), lengths[i]) for i in g])
            try:
                _forward(lm, inp, att)
            finally:
                current_text_ids.reset(token)
            last = store[-1]
            valid = att.bool()
            if not torch.isfinite(last[valid]).all():
                raise NonFiniteActivations(f"{lm.name}: non-finite activations in the last block for texts "
                                           f"{[ids_all[i] for i in g]} under {intervention.describe()}")
            batch = Batch(text_index=np.asarray(g), text_ids=[ids_all[i] for i in g],
                          lengths=np.asarray([lengths[i] for i in g]), input_ids=inp, resid=list(store),
                          block_calls=None if calls is None else list(calls))
            for p, acc, _ in accs:      # each accumulator sees only the sites its probe declares
                d = declared[p.name]
                acc.update(dataclasses.replace(
                    batch, resid=DeclaredResidual(batch.resid, allowed[p.name], p.name, d), declared=d,
                    site_values={s: _as_bt(values[s], inp.shape) for s in d if s in values}))
            info.tokens += int(sum(lengths[i] for i in g))
            info.batches += 1
    for p, acc, payload in accs:
        arrays = acc.finish()
        if not arrays or any(v.size == 0 for v in arrays.values()):
            raise EmptyCorpus(f"{lm.name}: probe {p.name} produced an empty measurement")
        check_finite(arrays, f"{lm.name}: probe {p.name} under {intervention.describe()}")
        results[p.name] = arrays
        info.computed.append(p.name)
        if cache is not None:
            cache.put(payload, arrays)
    info.seconds += time.perf_counter() - t0
    return results
