"""Scale-out: pytest-xdist (-n 2) and sharded runs + merge give the same verdicts as a serial run.

A small claim module over the synthetic panel (real engine measurements, real assertion helpers,
the real plugin) is run four ways in subprocesses: serial, ``-n 2 --dist loadgroup``, and two
shards merged with ``python -m lmclaims merge``. Verdict JSON (timings and node ids' xdist group
suffixes aside) must be identical.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tests.claim_runs import canonical, merge, run_claims

CLAIMS = textwrap.dedent('''
    import numpy as np
    import pytest
    from lmclaims.probes.residual import ResidualNorms, block_gains
    from lmclaims.probes.base import per_text
    from lmclaims.stats import assertions

    @pytest.mark.models("synthetic-llama", "synthetic-gpt2", "synthetic-qwen2")
    @pytest.mark.claim("toy.gain_positive", source="000_1a9244730f70cf80.txt", statement="G > 0", variant="corrected")
    def test_gain_positive(model, measure, verdict):
        r = measure(model, [ResidualNorms()], max_texts=12)["residual_norms"]
        g = per_text(np.log(block_gains(r["norm"])).mean(axis=1), r["text_index"], 12)
        verdict.record(assertions.above(np.exp(g), 0.0), models=(model.name,))

    @pytest.mark.claim("toy.panel", source="000_1a9244730f70cf80.txt", statement="panel-level", variant="corrected")
    def test_panel_level(model_pool, measure, verdict):
        vals = []
        for name in sorted(model_pool.entries)[:2]:
            r = measure(model_pool.get(name), [ResidualNorms()], max_texts=12)["residual_norms"]
            vals.append(per_text(r["norm"][:, -1], r["text_index"], 12))
        verdict.record(assertions.greater(vals[0], vals[1] * 0.0), models=tuple(sorted(model_pool.entries)[:2]))
''')


def _run(tmp: Path, name: str, *args: str) -> dict:
    return run_claims(tmp / "claims_toy", tmp / name, "--claims-panel", "synthetic", "--claims-max-tokens", "64", *args,
                      env={"LMCLAIMS_CACHE": str(tmp / "cache")}, timeout=600)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    (tmp / "claims_toy").mkdir()
    (tmp / "claims_toy" / "test_toy_claims.py").write_text(CLAIMS)
    (tmp / "claims_toy" / "conftest.py").write_text("pytest_plugins = ['lmclaims.pytest_plugin.measurement']\n")
    return tmp


def test_xdist_two_workers_equals_serial(toy):
    pytest.importorskip("xdist")
    serial = _run(toy, "serial")
    assert len(serial["verdicts"]) == 4
    parallel = _run(toy, "xdist", "-n", "2", "--dist", "loadgroup")
    assert canonical(parallel) == canonical(serial)


def test_shards_merged_equal_unsharded(toy):
    serial = _run(toy, "serial2")
    s1 = _run(toy, "shard1", "--claims-shard", "1/2")
    s2 = _run(toy, "shard2", "--claims-shard", "2/2")
    assert s1["verdicts"] and s2["verdicts"]
    assert not {v["key"] for v in s1["verdicts"]} & {v["key"] for v in s2["verdicts"]}
    merged = merge([toy / "shard1" / "claims.json", toy / "shard2" / "claims.json"], toy / "merged" / "claims.json")
    assert canonical(merged) == canonical(serial)
    assert (toy / "merged" / "claims.html").exists()


def test_merge_refuses_overlapping_or_incomparable_shards():
    from lmclaims.merge import MergeError, merge_reports
    v = {"key": "a@corrected:m", "claim_id": "a", "variant": "corrected", "nodeid": "t", "p_raw": 0.01}
    doc = {"schema_version": 1, "correction": "holm", "seed": 1, "profile": {"confidence_level": 0.95},
           "verdicts": [v]}
    with pytest.raises(MergeError, match="overlap"):
        merge_reports([doc, doc])
    with pytest.raises(MergeError, match="seed"):
        merge_reports([doc, {**doc, "seed": 2, "verdicts": []}])


def test_merge_reapplies_correction_over_the_merged_family():
    from lmclaims.merge import merge_reports
    base = {"schema_version": 1, "correction": "holm", "seed": 1, "profile": {"confidence_level": 0.95}}
    mk = lambda k, p: {"key": k, "claim_id": "c", "variant": "corrected", "nodeid": k, "p_raw": p}  # noqa: E731
    merged = merge_reports([{**base, "verdicts": [mk("x", 0.01)]}, {**base, "verdicts": [mk("y", 0.04)]}])
    adj = {v["key"]: v["p_adjusted"] for v in merged["verdicts"]}
    assert adj == pytest.approx({"x": 0.02, "y": 0.04})   # Holm over m = 2, not per shard


def test_shard_option_rejects_bad_values():
    from lmclaims.pytest_plugin.measurement import parse_shard
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "x", "1-2"):
        with pytest.raises(pytest.UsageError):
            parse_shard(bad)
