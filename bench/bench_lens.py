"""Streaming logit lens vs a plain matmul of the same shape, and vs a naive full-softmax lens.

    python bench/bench_lens.py                 # all three offline shapes + one real model if cached
    python bench/bench_lens.py --quick         # fewer repeats, smaller naive case
    python bench/bench_lens.py --threads 1     # contention-robust variant (see bench/README.md)

Everything in one process and one run, measurements interleaved (A, B, C, A, B, C, …) so that load
from other processes hits every variant alike; medians over repeats. FLOPs counted for the lens =
2·rows·d·V (the unembedding GEMM only), so "% of matmul" = achieved lens FLOP/s ÷ plain GEMM FLOP/s.

Tables:
1. GEMM vs lens — plain ``torch.mm(x, Wᵀ, out=[R, V] preallocated)`` GFLOP/s, the streaming
   ``lens_stats`` now (``new``) and before this optimisation (``v0`` = bench/lens_v0.py), as % of
   the plain matmul; rows R=256 top-K=100 (LensGeometry's chunk) and R=512 top-1 (NextTokenNLL).
2. Naive vs chunked lens geometry over all layers of T tokens: naive = stack the logits of all
   layers [L, T, V], log_softmax, top-K; chunked = LensGeometry's path (lens_stats on 256-row chunks).
   Time ratio (interleaved) and peak-RSS ratio (each in a fresh subprocess: peak RSS ``VmHWM`` minus
   the RSS after the inputs were built).
3. A real model (smollm2-135m-instruct if its fp32 cache / GGUF is present): real normed residuals
   and the real unembedding, same comparison as table 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lmclaims.engine.lens import LogitTransform, geometry_features, lens_stats  # noqa: E402

import lens_probe_v0  # noqa: E402
import lens_probe_v1  # noqa: E402
import readouts_v1  # noqa: E402
import lens_v0  # noqa: E402
import lens_v1  # noqa: E402
from lmclaims.engine import native_readouts  # noqa: E402
from lmclaims.engine.readouts import Workspace, multi_readout  # noqa: E402
from lmclaims.probes.lens import _features  # noqa: E402

SHAPES = {  # offline panel: d_model, vocab, layers
    "smollm2-135m-instruct": (576, 49152, 30),
    "gemma-3-270m": (640, 262144, 18),
    "qwen2.5-coder-0.5b-instruct": (896, 151936, 24),
}


DEVICE = "cpu"            # --device: table 0 on an accelerator (times taken after a synchronize)


def _sync():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def interleaved(fns: dict, reps: int) -> dict[str, list[float]]:
    for f in fns.values():                       # warm-up (allocator, MKL, page faults)
        f()
    ts = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            _sync()
            native_readouts.release_workers()    # every call starts as a probe's chunk does: no spinning worker left
            t0 = time.perf_counter()
            f()
            _sync()
            ts[k].append(time.perf_counter() - t0)
    return ts


def gemm_vs_lens(x, W, b, tf, topk, reps, with_v0=True):
    R, d = x.shape
    V = W.shape[0]
    out = torch.empty(R, V)
    fns = {"mm": lambda: torch.mm(x, W.T, out=out),
           "new": lambda: lens_stats(x, W, b, transform=tf, topk=topk)}
    if with_v0:
        fns["v1"] = lambda: lens_v1.lens_stats(x, W, b, transform=lens_v1.LogitTransform(tf.temperature, tf.softcap),
                                               topk=topk)
        fns["v0"] = lambda: lens_v0.lens_stats(x, W, b, transform=lens_v0.LogitTransform(tf.temperature, tf.softcap),
                                               topk=topk)
    ts = interleaved(fns, reps)
    del out
    flops = 2 * R * d * V
    med = {k: statistics.median(v) for k, v in ts.items()}
    # per-repeat ratios (each pair measured back to back), then their median
    pct = {k: 100 * statistics.median(m / t for m, t in zip(ts["mm"], ts[k])) for k in fns if k != "mm"}
    return {"gflops_mm": flops / med["mm"] / 1e9, **{f"gflops_{k}": flops / med[k] / 1e9 for k in fns if k != "mm"},
            **{f"pct_{k}": v for k, v in pct.items()}}


# ---------------------------------------------------------------- geometry readouts (LensGeometrySet) --

READOUT_T = 0.95          # a fitted temperature of the offline models' order (T ≈ 0.95–1); the cost does not depend on it
READOUTS = {              # name -> [(transform, top_p)] computed from ONE GEMM (claims/_geometry_helpers.eval_probe)
    "base": [(LogitTransform(), None)],
    "base+top-p": [(LogitTransform(), 0.99)],
    "temp T": [(LogitTransform(temperature=READOUT_T), None)],
    "cap 10": [(LogitTransform(softcap=10.0), None)],
    "cap 30": [(LogitTransform(softcap=30.0), None)],
}
READOUTS["set (all 4 + top-p)"] = READOUTS["base+top-p"] + READOUTS["temp T"] + READOUTS["cap 10"] + READOUTS["cap 30"]


def _readout_new(x, W, b, spec, ws):
    """LensGeometrySet's per-chunk work now: ``multi_readout`` + features (+ nucleus) per readout."""
    V = W.shape[0]
    reads, top_raw, ws = multi_readout(x, W, b, [tf for tf, _ in spec], workspace=ws, top_p=[tp for _, tp in spec])
    return [_features(rd, tf, top_raw, ws, V, tp, 10, 0.01) for rd, (tf, tp) in zip(reads, spec)]


def _readout_torch(x, W, b, spec, ws):
    """The same on the torch path (the compiled kernel switched off: the code before it, per-block GEMM)."""
    with native_readouts.torch_path():
        return _readout_new(x, W, b, spec, ws)


def _readout_v1(x, W, b, spec, ws):
    """The same by the code before the level-based nucleus and the exp2 σ (bench/lens_probe_v1.py, readouts_v1.py)."""
    V = W.shape[0]
    reads, top_raw, ws = readouts_v1.multi_readout(x, W, b, [tf for tf, _ in spec], workspace=ws)
    return [lens_probe_v1._features(rd, tf, top_raw, ws.rows, V, tp, 10, 0.01) for rd, (tf, tp) in zip(reads, spec)]


def _readout_v0(x, W, b, spec):
    """The same before (bench/lens_probe_v0.py): dense [R, V] GEMM, ``torch.topk`` per 16 MiB tile, dense readouts."""
    V = W.shape[0]
    zz = x @ W.T
    if b is not None:
        zz += b
    step = max(1, (1 << 22) // V)
    out = []
    for s in range(0, zz.shape[0], step):
        z = zz[s:s + step]
        top = lens_probe_v0.top_logits(z)
        out.append([lens_probe_v0.readout_features(z, top, tf, V, top_p=tp) for tf, tp in spec])
    return out


def gemm_vs_readouts(x, W, b, reps, baselines=("v1",)):
    """Per readout: % of GEMM = t(plain GEMM) / t(GEMM + top-K + that readout's features), same loop."""
    R, d = x.shape
    V = W.shape[0]
    x, W = x.to(DEVICE), W.to(DEVICE)
    b = None if b is None else b.to(DEVICE)
    out = torch.empty(R, V, device=DEVICE)
    ws, ws1, ws2 = Workspace(), readouts_v1.Workspace(), Workspace()
    fns = {"mm": lambda: torch.mm(x, W.T, out=out)}
    for name, spec in READOUTS.items():
        fns[name] = (lambda spec=spec: _readout_new(x, W, b, spec, ws))
        if "torch" in baselines:
            fns[name + " torch"] = (lambda spec=spec: _readout_torch(x, W, b, spec, ws2))
        if "v1" in baselines:
            fns[name + " v1"] = (lambda spec=spec: _readout_v1(x, W, b, spec, ws1))
        if "v0" in baselines:
            fns[name + " v0"] = (lambda spec=spec: _readout_v0(x, W, b, spec))
    ts = interleaved(fns, reps)
    del out
    flops = 2 * R * d * V
    gf = {k: flops / statistics.median(v) / 1e9 for k, v in ts.items()}
    pct = {k: 100 * statistics.median(m / t for m, t in zip(ts["mm"], ts[k])) for k in fns if k != "mm"}
    return gf, pct


def readout_table(reps, baselines, real_model=None):
    print("## 0. geometry readouts (LensGeometrySet: R=256 rows, top-100, one GEMM per chunk)")
    print("% of GEMM = plain GEMM time / (GEMM + shared top-K + the readout's features) — per-pair median; "
          "'set' = all four readouts + top-p from ONE GEMM; '% GEMM' = this code (compiled readout kernel: "
          f"{native_readouts.kernel_id()}); torch = this code with the kernel off (the code before it); "
          "v1 = the code before the level-based nucleus "
          "(bench/lens_probe_v1.py), v0 = before the multi_readout kernel (bench/lens_probe_v0.py)")
    print("set, per readout: GEMM time ÷ ((set time − GEMM time) / 4), i.e. how many readouts fit in one "
          "GEMM's time; % of 4 GEMMs = 4·GEMM time ÷ set time (four separate lens passes)")
    print("set, each readout: GEMM ÷ (GEMM + (set − GEMM) / 4), the % GEMM of one readout computed inside the set "
          "(its GEMM plus its quarter of the set's readout work, top-K and nucleus included): the number to "
          "compare with a single readout's % GEMM")
    print(f"{'model shape':40s} {'readout':22s} {'GEMM GF/s':>9s} {'GF/s':>7s} {'% GEMM':>7s} {'torch %':>7s} {'v1 %':>6s} {'v0 %':>6s}")
    g = torch.Generator().manual_seed(0)
    cases = []
    for name, (d, V, _) in SHAPES.items():
        cases.append((f"{name} d={d} V={V}", lambda d=d, V=V: (torch.randn(256, d, generator=g) * 8,
                                                             torch.randn(V, d, generator=g) / math.sqrt(d), None)))
    if real_model:
        cases.append((f"REAL {real_model}", lambda: _real_rows(real_model)))
    for label, make in cases:
        made = make()
        if isinstance(made, str):
            print(f"{label:40s} skipped: {made}")
            continue
        x, W, b = made
        gf, pct = gemm_vs_readouts(x, W, b, reps, baselines)
        for r in READOUTS:
            old = [f"{pct[r + ' ' + v]:5.0f}%" if v in baselines else "     -" for v in ("v1", "v0")]
            tp = f"{pct[r + ' torch']:6.0f}%" if "torch" in baselines else "      -"
            print(f"{label:40s} {r:22s} {gf['mm']:9.1f} {gf[r]:7.1f} {pct[r]:6.0f}% {tp} {old[0]} {old[1]}", flush=True)
        st = "set (all 4 + top-p)"
        per = {k: 4 / (100 / pct[k] - 1) if pct[k] < 100 else float("inf") for k in pct if k.startswith(st)}
        print(f"{label:40s} {'set: readouts per GEMM':22s} {per[st]:>17.1f} {'':7s} "
              + " ".join(f"{per[st + ' ' + v]:5.1f} " for v in ("torch", "v1", "v0") if v in baselines)
              + f"  (% of 4 GEMMs: {4 * pct[st]:.0f}%)", flush=True)
        each = {k: 100.0 / (1.0 + (100.0 / pct[k] - 1.0) / 4.0) for k in pct if k.startswith(st)}
        old = [f"{each[st + ' ' + v]:5.0f}%" if v in baselines else "     -" for v in ("v1", "v0")]
        tp = f"{each[st + ' torch']:6.0f}%" if "torch" in baselines else "      -"
        print(f"{label:40s} {'set: each readout':22s} {'':9s} {'':7s} {each[st]:6.0f}% {tp} {old[0]} {old[1]}", flush=True)
        del W


# ---------------------------------------------------------------- naive vs chunked (subprocess) --

def _naive(X, W, topk=100):
    """All layers at once: [L, T, V] logits, log_softmax, features (what the lens must never do)."""
    logits = torch.einsum("ltd,vd->ltv", X, W)                   # [L, T, V]
    lp = torch.log_softmax(logits, dim=-1)
    p = lp.exp()
    H = -(p * lp).sum(-1)
    top = torch.topk(p, topk, dim=-1).values
    return {"entropy": H, "p1": top[..., 0], "count_above": (top > 0.01).sum(-1)}


def _chunked(X, W, rows_per_chunk=256):
    L, T, d = X.shape
    flat = X.reshape(L * T, d)
    out = []
    for s in range(0, flat.shape[0], rows_per_chunk):
        out.append(geometry_features(lens_stats(flat[s:s + rows_per_chunk], W), W.shape[0]))
    return out


def _status_mib(field: str) -> float:
    """VmRSS / VmHWM of this process in MiB. (``ru_maxrss`` is not used: on Linux it survives execve,
    so a child forked from a big parent would report the parent's footprint.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(kind: str, d: int, V: int, L: int, T: int, threads: int) -> None:
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(L, T, d, generator=g)
    W = torch.randn(V, d, generator=g).mul_(8 / math.sqrt(d))
    try:                                          # reset the high-water mark to the current RSS (Linux ≥ 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    base = _status_mib("VmRSS")
    t0 = time.perf_counter()
    (_naive if kind == "naive" else _chunked)(X, W)
    sec = time.perf_counter() - t0
    peak = _status_mib("VmHWM")                                           # peak RSS of this process
    print(json.dumps({"kind": kind, "seconds": sec, "peak_mib": peak, "base_mib": base, "extra_mib": peak - base}))


def naive_vs_chunked(name, d, V, L, T, threads, reps):
    res = {"naive": [], "chunked": []}
    for _ in range(reps):
        for kind in res:                       # interleaved, one fresh process per measurement
            cmd = [sys.executable, __file__, "--child", kind, str(d), str(V), str(L), str(T), "--threads", str(threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            res[kind].append(json.loads(out))
    med = {k: {f: statistics.median(r[f] for r in v) for f in ("seconds", "extra_mib", "peak_mib")}
           for k, v in res.items()}
    return med


# ---------------------------------------------------------------- real model --

def _real_rows(name, max_texts=8):
    """(normed rows [256, d], unembedding, bias) of a real model, or why not: 32 positions × 8 depths."""
    from lmclaims.models.loading import ModelUnavailable, load_model
    from lmclaims.models.panel import load_panel
    from lmclaims.engine.forward import capture_residual
    try:
        entry = next(e for e in load_panel("offline") if e.name == name)
        lm = load_model(entry, device=DEVICE)
    except (ModelUnavailable, StopIteration) as e:
        return f"{name} unavailable: {e}"
    texts = _texts(max_texts)
    ad = lm.adapter
    with torch.inference_mode(), capture_residual(ad) as store:
        ids = [lm.encode(t, max_tokens=128) for t in texts]
        T = min(len(i) for i in ids)
        inp = torch.tensor([i[:T] for i in ids], device=lm.device)
        lm.model(input_ids=inp, use_cache=False)
        L = ad.n_layers
        # 256 rows: 32 positions × 8 layers spread over depth (a LensGeometry chunk)
        layers = [round(1 + j * (L - 1) / 7) for j in range(8)]
        rows = torch.cat([store[l][:, 1:].reshape(-1, store[l].shape[-1])[:32] for l in layers])
        x = ad.normed(rows).float().contiguous()
    W = ad.unembed_weight.detach().float().contiguous()
    b = ad.unembed_bias
    return x, W, (b.float() if b is not None else None)


def real_model_case(name, reps, max_texts=8):
    got = _real_rows(name, max_texts)
    if isinstance(got, str):
        return None, got
    x, W, b = got
    r = gemm_vs_lens(x, W, b, LogitTransform(), 100, reps)
    r.update(rows=x.shape[0], d=x.shape[1], V=W.shape[0])
    return r, None


def _texts(n):
    try:
        from lmclaims.corpus import load_corpus
        return load_corpus().view(max_texts=n, max_tokens=256).texts
    except Exception:
        base = ("The streaming lens reduces each vocabulary distribution without materialising it. "
                "Residual streams grow in norm with depth, and the final norm rescales them. ")
        return [base * (2 + i) for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--real-model", default="smollm2-135m-instruct")
    ap.add_argument("--no-real-model", action="store_true")
    ap.add_argument("--child", nargs=5, metavar=("KIND", "D", "V", "L", "T"))
    ap.add_argument("--tables", default="0123", help="which tables to run (digits; 0 = geometry readouts)")
    ap.add_argument("--no-v0", action="store_true", help="skip the pre-optimisation implementations")
    ap.add_argument("--device", default="cpu", help="table 0 on this device (cuda: times after synchronize; "
                    "use --readout-baselines none there, the old code is CPU-only)")
    ap.add_argument("--readout-baselines", default="torch",
                    help="table 0's old code in the same loop: torch (the current code with the compiled kernel off), "
                         "v1 (before the level-based nucleus), v0 (before the multi_readout kernel), a comma list, or "
                         "'none'")
    a = ap.parse_args()
    if a.child:
        kind, d, V, L, T = a.child
        return child(kind, int(d), int(V), int(L), int(T), a.threads)
    torch.set_num_threads(a.threads)
    global DEVICE
    DEVICE = a.device
    reps = 3 if a.quick else a.reps
    print(f"# bench_lens: torch {torch.__version__}, threads={torch.get_num_threads()}, cpu_count={os.cpu_count()}, "
          f"loadavg at start {os.getloadavg()[0]:.2f}; medians of {reps} interleaved repeats; device {DEVICE}"
          + (f" ({torch.cuda.get_device_name()})" if DEVICE.startswith("cuda") else "") + "\n")

    if "0" in a.tables:
        base = () if a.no_v0 or a.readout_baselines == "none" else tuple(a.readout_baselines.split(","))
        readout_table(reps, base, None if a.no_real_model else a.real_model)
        print()
    if "1" in a.tables:
        lens_table(reps, not a.no_v0)
    if "2" in a.tables:
        naive_table(a)
    if "3" in a.tables and not a.no_real_model:
        real_table(a, reps)
    print(f"\n# loadavg at end {os.getloadavg()[0]:.2f}")


def lens_table(reps, with_v0):
    print("## 1. plain GEMM vs streaming lens (random weights, real shapes)")
    print("v1 = lens_stats before exp2/vecdot (bench/lens_v1.py); v0 = before the threshold top-K (bench/lens_v0.py)")
    print(f"{'model shape':30s} {'R':>4s} {'K':>4s} {'GEMM GF/s':>10s} {'lens GF/s':>10s} {'% of GEMM':>10s} "
          f"{'v1 %':>6s} {'v0 %':>6s}")
    g = torch.Generator().manual_seed(0)
    for name, (d, V, _) in SHAPES.items():
        W = torch.randn(V, d, generator=g) / math.sqrt(d)
        for R, K in ((256, 100), (512, 1)):
            x = torch.randn(R, d, generator=g) * 8                # logits of std ≈ 8, like mid/late layers
            r = gemm_vs_lens(x, W, None, LogitTransform(), K, reps, with_v0)
            print(f"{name + f' d={d} V={V}':30s} {R:4d} {K:4d} {r['gflops_mm']:10.1f} {r['gflops_new']:10.1f} "
                  f"{r['pct_new']:9.0f}% {r.get('pct_v1', 0):5.0f}% {r.get('pct_v0', 0):5.0f}%", flush=True)
        del W


def naive_table(a):
    print("\n## 2. naive full-softmax lens [L, T, V] vs chunked streaming lens (LensGeometry path), fresh process each")
    T = 32 if a.quick else 64
    print(f"{'model shape':30s} {'L×T rows':>9s} {'naive s':>8s} {'chunked s':>9s} {'time ratio':>10s} "
          f"{'naive +MiB':>10s} {'chunked +MiB':>12s} {'mem ratio':>9s}")
    for name, (d, V, L) in SHAPES.items():
        med = naive_vs_chunked(name, d, V, L, T, a.threads, 1 if a.quick else 3)
        n, c = med["naive"], med["chunked"]
        print(f"{name:30s} {L * T:9d} {n['seconds']:8.2f} {c['seconds']:9.2f} {n['seconds'] / c['seconds']:9.2f}× "
              f"{n['extra_mib']:10.0f} {c['extra_mib']:12.0f} {n['extra_mib'] / max(c['extra_mib'], 1):8.1f}×",
              flush=True)


def real_table(a, reps):
    print(f"\n## 3. real model: {a.real_model} (real normed residuals, real unembedding)")
    r, why = real_model_case(a.real_model, reps)
    if r is None:
        print(f"skipped: {why}")
    else:
        print(f"rows={r['rows']} d={r['d']} V={r['V']}: GEMM {r['gflops_mm']:.1f} GF/s, lens {r['gflops_new']:.1f} GF/s "
              f"= {r['pct_new']:.0f}% of GEMM (v0: {r['gflops_v0']:.1f} GF/s = {r['pct_v0']:.0f}%)")


if __name__ == "__main__":
    main()
