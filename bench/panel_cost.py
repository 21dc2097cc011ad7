"""Expected cost of a panel run, from a measured cold run of the offline panel on the same device.

    python bench/panel_cost.py --report reports/claims.json            # cold offline run's report
    python bench/panel_cost.py --seconds 889.7 --device-label "2-core CPU"

Model (first order, stated): a cold ``pytest claims/`` spends its time in forward passes, lens
GEMMs, fine-tunes and weight statistics, each proportional to a model's parameter count at a
fixed corpus and token window (the default profile's texts are the same for every model). So

    T(panel) ≈ T(offline) · Σ_panel params / Σ_offline params

on the device that measured T(offline). With N nodes (``--claims-shard K/N``, each shard a set of
whole models), the wall time is at least the largest model's share and about T(panel) / N when the
models split evenly; the script prints the greedy split (largest model first onto the least loaded
node). Model loading from the hub, bf16 entries and per-claim panels that differ from the
default are not modelled: treat the result as an order of magnitude, and replace the offline time
with the one measured on the target device (``bench/gpu_check.sh`` does both).
"""

from __future__ import annotations

import argparse
import heapq
import json
from pathlib import Path

from lmclaims.models.panel import load_panel


def params_of(panel: str) -> dict[str, int]:
    return {e.name: int(e.params) for e in load_panel(panel)}


def split(params: dict[str, int], nodes: int) -> list[float]:
    """Greedy longest-first assignment of whole models to nodes -> parameter load per node."""
    heap = [(0.0, k) for k in range(nodes)]
    for p in sorted(params.values(), reverse=True):
        load, k = heapq.heappop(heap)
        heapq.heappush(heap, (load + p, k))
    return sorted((load for load, _ in heap), reverse=True)


def estimate(offline_seconds: float, offline: dict[str, int], panel: dict[str, int], nodes=(1, 4, 8, 16)) -> dict:
    per_param = offline_seconds / sum(offline.values())
    return {"seconds_per_billion_params": per_param * 1e9,
            "one_device_hours": per_param * sum(panel.values()) / 3600,
            "nodes": {n: per_param * split(panel, n)[0] / 3600 for n in nodes}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--report", help="claims.json of a COLD default run of the offline panel (timings.session_seconds)")
    src.add_argument("--seconds", type=float, help="wall seconds of a cold default run of the offline panel")
    ap.add_argument("--panel", default="hub")
    ap.add_argument("--offline-panel", default="offline")
    ap.add_argument("--device-label", default=None)
    a = ap.parse_args(argv)
    if a.report:
        doc = json.loads(Path(a.report).read_text())
        seconds = float(doc["timings"]["session_seconds"])
        label = a.device_label or f"{doc['run'].get('device')} ({doc['environment'].get('platform', '')})"
    else:
        seconds, label = a.seconds, a.device_label or "the measuring device"
    off, pan = params_of(a.offline_panel), params_of(a.panel)
    est = estimate(seconds, off, pan)
    print(f"offline panel: {len(off)} models, {sum(off.values()) / 1e9:.2f} B params, cold run {seconds:.0f} s "
          f"on {label} -> {est['seconds_per_billion_params']:.0f} s per billion params")
    print(f"{a.panel} panel: {len(pan)} models, {sum(pan.values()) / 1e9:.1f} B params, largest "
          f"{max(pan.values()) / 1e9:.1f} B")
    print(f"expected cold run, one device: {est['one_device_hours']:.1f} h")
    for n, h in est["nodes"].items():
        print(f"  {n:>3} nodes (whole models per shard, greedy split): {h:.1f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
