"""Scale-out on the real offline claims: ``-n 2`` and two shards + merge reproduce the serial run.

The selection is every claim of the thermodynamics paper that needs a forward pass or the weights
of each offline model, plus its panel-level claims (which read all three models): the per-model
residual-gain sign and Kleiber-bound claims, and the whole W_V/W_O family. It runs on the real
GGUF models, the real engine, assertions and plugin. To fit the test suite's budget the token
window is 32 (``--claims-max-tokens 32``); the verdicts are then not the published run's, but every run
here uses the same window, so they must agree exactly. Each run gets its own empty measurement
cache, so the parallel and sharded runs measure for themselves rather than read the serial run.
Every run uses one torch thread (``LMCLAIMS_TORCH_THREADS=1``): CPU results depend on the thread
count in the last bits, and xdist workers on this 2-core machine get one thread each.
"""

from __future__ import annotations

import pytest
from tests.claim_runs import ROOT, canonical, merge, run_claims

from lmclaims.models.gguf_files import ModelUnavailable, part_paths
from lmclaims.models.panel import load_panel

SELECTION = ("-k", "heritage_sign or kleiber_bound or wv_wo", "--claims-max-tokens", "32", "--claims-profile", "dev")
TARGETS = [str(ROOT / "claims" / f) for f in ("test_thermo_heritage.py", "test_thermo_kleiber.py",
                                               "test_thermo_wv_wo.py")]


@pytest.fixture(scope="module")
def offline_runs(tmp_path_factory):
    for entry in load_panel("offline"):
        try:
            part_paths(entry)
        except ModelUnavailable as exc:
            pytest.skip(f"offline panel not installed ({exc})")
    tmp = tmp_path_factory.mktemp("offline_dist")

    def run(name: str, *args: str) -> dict:
        out = tmp / name
        return run_claims(TARGETS[0], out, *TARGETS[1:], *SELECTION, "--claims-cache", str(tmp / f"cache_{name}"),
                          *args, env={"LMCLAIMS_TORCH_THREADS": "1"}, timeout=1500)

    return tmp, run


@pytest.fixture(scope="module")
def serial(offline_runs):
    _, run = offline_runs
    doc = run("serial")
    models = {m for v in doc["verdicts"] for m in v.get("models", ())}
    offline = {e.name for e in load_panel("offline")}
    assert offline <= models, f"expected verdicts on the three offline models, got {sorted(models)}"
    # heritage_sign records measurements (no lab prediction offline), kleiber_bound and wv_wo verdicts
    assert len(doc["verdicts"]) >= 8 and len(doc.get("measurements", [])) >= 9
    return doc


@pytest.mark.slow   # ~3 min on 2 cores; `-n 2` == serial is also tested by default on the synthetic panel
def test_offline_claims_two_workers_equal_serial(offline_runs, serial):    # (test_distributed.py, test_plugin.py)
    pytest.importorskip("xdist")
    _, run = offline_runs
    parallel = run("xdist", "-n", "2", "--dist", "loadgroup")
    assert canonical(parallel) == canonical(serial)


def test_offline_claims_two_shards_merged_equal_unsharded(offline_runs, serial):
    tmp, run = offline_runs
    s1 = run("shard1", "--claims-shard", "1/2")
    s2 = run("shard2", "--claims-shard", "2/2")
    k1, k2 = {v["key"] for v in s1["verdicts"]}, {v["key"] for v in s2["verdicts"]}
    assert k1 and k2 and not k1 & k2
    merged = merge([tmp / "shard1" / "claims.json", tmp / "shard2" / "claims.json"], tmp / "merged" / "claims.json")
    assert canonical(merged) == canonical(serial)
    assert (tmp / "merged" / "claims.html").exists()
