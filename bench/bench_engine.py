"""Engine throughput vs a bare Hugging Face forward, per offline model (unavailable models skipped).

    python bench/bench_engine.py                    # all offline models that load, 8 texts × ≤256 tokens
    python bench/bench_engine.py --models smollm2-135m-instruct --reps 5 --threads 1

For each model, on the same texts and the same batches (the engine's own length-sorted batching):

- ``bare``    : ``model(input_ids, attention_mask, output_hidden_states=True, use_cache=False)`` — note
  this computes the LM head for every token ([tokens, V] logits), which the engine skips
- ``bare_k1`` : the same with ``logits_to_keep=1`` (what the engine's forward does): the like-for-like base
- ``resid``   : ``measure(lm, view, [ResidualNorms()], cache=None)``        → ratio resid / bare (target ≤ 1.3)
- ``nll``     : ``measure(lm, view, [NextTokenNLL()], cache=None)``         (adds one final-layer lens per token)
- ``geometry``: ``measure(lm, view, [LensGeometry(positions_per_text=16)], cache=None)`` (lens at every layer
  for 16 sampled positions per text)

measured interleaved (bare, resid, nll, geometry, bare, …) so load drift hits all alike; medians of
≥ 3 repeats. Time per token = median seconds / tokens in the view. For the lens probes, the lens
part is taken as (probe run − bare_k1 forward) and its achieved GFLOP/s = 2·rows·d·V / that time, as a
percentage of a plain ``torch.mm`` of shape [256, d]×[d, V] measured in the same run (interleaved).
That attribution charges all engine overhead to the lens, so it is a lower bound on the lens's
own efficiency; the second figure times the ``lens_stats`` calls themselves inside the engine run. Ratios are the result; absolute seconds depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmclaims.corpus import corpus_from_texts, load_corpus  # noqa: E402
from lmclaims.engine.forward import _batches, measure, sample_positions  # noqa: E402
from lmclaims.models.loading import ModelUnavailable, load_model  # noqa: E402
from lmclaims.models.panel import load_panel  # noqa: E402
from lmclaims.probes.lens import LensGeometry  # noqa: E402
from lmclaims.probes.nll import NextTokenNLL  # noqa: E402
from lmclaims.probes.residual import ResidualNorms  # noqa: E402


_LENS_SECONDS = [0.0]


def _timed(fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _LENS_SECONDS[0] += time.perf_counter() - t
    return wrapper


def _instrument():
    """Time every lens_stats call the probes make (the probes import it by name)."""
    import lmclaims.probes.lens as pl
    import lmclaims.probes.nll as pn
    pl.lens_stats = _timed(pl.lens_stats)
    pn.lens_stats = _timed(pn.lens_stats)


def make_view(n_texts: int, max_tokens: int):
    try:
        return load_corpus().view(max_texts=n_texts, max_tokens=max_tokens), "fixtures corpus"
    except (FileNotFoundError, Exception):
        base = ("Residual streams grow in norm with depth; the final norm rescales them before the "
                "unembedding. A logit lens reads each layer through that same unembedding. ")
        texts = [base * (3 + i % 4) for i in range(n_texts)]
        return corpus_from_texts(texts).view(max_tokens=max_tokens), "inline texts"


def bare_forward_fn(lm, view, batch_tokens):
    enc = [lm.encode(t, max_tokens=view.max_tokens) for t in view.texts]
    lengths = [len(e) for e in enc]
    batches = []
    for g in _batches(lengths, batch_tokens):
        T = max(lengths[i] for i in g)
        inp = torch.zeros((len(g), T), dtype=torch.long)
        att = torch.zeros((len(g), T), dtype=torch.long)
        for r, i in enumerate(g):
            inp[r, :lengths[i]] = torch.tensor(enc[i])
            att[r, :lengths[i]] = 1
        batches.append((inp, att))

    @torch.inference_mode()
    def run(**extra):
        for inp, att in batches:
            lm.model(input_ids=inp, attention_mask=att, output_hidden_states=True, use_cache=False, **extra)
    return run, lengths


def bench_model(entry, view, reps, batch_tokens):
    t0 = time.perf_counter()
    lm = load_model(entry, device="cpu")
    load_s = time.perf_counter() - t0
    ad = lm.adapter
    d, V, L = ad.d_model if hasattr(ad, "d_model") else ad.unembed_weight.shape[1], ad.vocab_size, ad.n_layers
    bare, lengths = bare_forward_fn(lm, view, batch_tokens)
    tokens = sum(lengths)
    nll_rows = sum(n - 1 for n in lengths)
    geo = LensGeometry(positions_per_text=16)
    geo_rows = L * sum(len(sample_positions(i, n, 16, seed=geo.seed)) for i, n in zip(view.ids, lengths))
    x = torch.randn(256, d)
    W = ad.unembed_weight.detach().float()
    out = torch.empty(256, V)
    fns = {
        "bare": bare,
        "bare_k1": lambda: bare(logits_to_keep=1),
        "resid": lambda: measure(lm, view, [ResidualNorms()], cache=None, batch_tokens=batch_tokens, progress=False),
        "nll": lambda: measure(lm, view, [NextTokenNLL()], cache=None, batch_tokens=batch_tokens, progress=False),
        "geometry": lambda: measure(lm, view, [geo], cache=None, batch_tokens=batch_tokens, progress=False),
        "mm256": lambda: torch.mm(x, W.T, out=out),
    }
    for f in fns.values():
        f()                                                   # warm-up
    ts = {k: [] for k in fns}
    lens_t = {"nll": [], "geometry": []}
    for _ in range(reps):
        for k, f in fns.items():
            _LENS_SECONDS[0] = 0.0
            t = time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t)
            if k in lens_t:
                lens_t[k].append(_LENS_SECONDS[0])
    med = {k: statistics.median(v) for k, v in ts.items()}
    ratio = {k: statistics.median(a / b for a, b in zip(ts[k], ts["bare"])) for k in ("resid", "nll", "geometry")}
    ratio_k1 = {k: statistics.median(a / b for a, b in zip(ts[k], ts["bare_k1"])) for k in ("resid", "nll", "geometry")}
    mm_gf = 2 * 256 * d * V / med["mm256"] / 1e9
    res = {"model": entry.name, "load_s": load_s, "tokens": tokens, "texts": len(lengths), "d": d, "V": V, "L": L,
           "ms_per_token": {k: 1e3 * med[k] / tokens for k in ("bare", "bare_k1", "resid", "nll", "geometry")},
           "ratio": ratio, "ratio_k1": ratio_k1, "mm_gflops": mm_gf}
    for k, rows in (("nll", nll_rows), ("geometry", geo_rows)):
        lens_s = med[k] - med["bare_k1"]
        gf = 2 * rows * d * V / lens_s / 1e9 if lens_s > 0 else float("nan")
        res[f"{k}_rows"] = rows
        res[f"{k}_lens_gflops"] = gf
        res[f"{k}_lens_pct"] = 100 * gf / mm_gf
        # direct: seconds spent inside lens_stats during the engine run, vs the matmul of the same rep
        pct = [100 * (2 * rows * d * V / lt) / (2 * 256 * d * V / mt) for lt, mt in zip(lens_t[k], ts["mm256"])]
        res[f"{k}_direct_gflops"] = 2 * rows * d * V / statistics.median(lens_t[k]) / 1e9
        res[f"{k}_direct_pct"] = statistics.median(pct)
        res[f"{k}_lens_share"] = statistics.median(lt / t for lt, t in zip(lens_t[k], ts[k]))
    lm.unload() if hasattr(lm, "unload") else None
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--texts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--models", nargs="*", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    _instrument()
    view, src = make_view(a.texts, a.max_tokens)
    print(f"# bench_engine: torch {torch.__version__}, threads={torch.get_num_threads()}, {len(view)} texts from "
          f"{src} (≤{a.max_tokens} tokens), batch_tokens={a.batch_tokens}, medians of {max(a.reps, 3)} interleaved "
          f"repeats, loadavg at start {os.getloadavg()[0]:.2f}\n")
    rows = []
    for entry in load_panel("offline"):
        if a.models and entry.name not in a.models:
            continue
        try:
            r = bench_model(entry, view, max(a.reps, 3), a.batch_tokens)
        except ModelUnavailable as e:
            print(f"{entry.name}: skipped (unavailable: {str(e).splitlines()[0]})")
            continue
        rows.append(r)
        ms = r["ms_per_token"]
        print(f"## {r['model']}  (d={r['d']} V={r['V']} L={r['L']}; {r['tokens']} tokens in {r['texts']} texts; "
              f"load {r['load_s']:.0f} s)")
        print(f"  ms/token: bare {ms['bare']:.3f} | bare logits_to_keep=1 {ms['bare_k1']:.3f} | +ResidualNorms {ms['resid']:.3f} | +NLL {ms['nll']:.3f} | "
              f"+LensGeometry(16) {ms['geometry']:.3f}")
        print(f"  engine/bare ratio: ResidualNorms {r['ratio']['resid']:.2f}× (target ≤ 1.3) | NLL "
              f"{r['ratio']['nll']:.2f}× | LensGeometry {r['ratio']['geometry']:.2f}×")
        print(f"  engine/bare(logits_to_keep=1) ratio: ResidualNorms {r['ratio_k1']['resid']:.2f}× | NLL "
              f"{r['ratio_k1']['nll']:.2f}× | LensGeometry {r['ratio_k1']['geometry']:.2f}×")
        print(f"  lens achieved (probe run − bare logits_to_keep=1): NLL {r['nll_rows']} rows → {r['nll_lens_gflops']:.1f} GF/s = "
              f"{r['nll_lens_pct']:.0f}% of matmul; LensGeometry {r['geometry_rows']} rows → "
              f"{r['geometry_lens_gflops']:.1f} GF/s = {r['geometry_lens_pct']:.0f}% of matmul "
              f"(plain matmul [256,{r['d']}]×[{r['d']},{r['V']}] {r['mm_gflops']:.1f} GF/s)")
        print(f"  lens achieved (time inside lens_stats): NLL {r['nll_direct_gflops']:.1f} GF/s = "
              f"{r['nll_direct_pct']:.0f}% of matmul ({100 * r['nll_lens_share']:.0f}% of the run); LensGeometry "
              f"{r['geometry_direct_gflops']:.1f} GF/s = {r['geometry_direct_pct']:.0f}% of matmul "
              f"({100 * r['geometry_lens_share']:.0f}% of the run)", flush=True)
    print(f"\n# loadavg at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
