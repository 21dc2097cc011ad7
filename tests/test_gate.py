"""The baseline gate sees every change (issue 12 item 5, issue 13 items 2-3), through pytester.

Must-show: a verdict whose measured direction flips, a baseline key that disappears (its test
skipped: model unavailable), and a changed run setting each make ``pytest --claims-baseline``
fail with a message naming it; ``--claims-update-baseline`` with ``-k`` keeps every verdict
outside the selection.
"""

import json

from tests.test_plugin import _warm_up_lazy_imports  # noqa: F401  (imports scipy lazies before pytester)

pytest_plugins = ["pytester"]

TOY = '''
import os
import numpy as np
import pytest
from lmclaims.stats import assertions
from lmclaims.stats.evidence import Measurement

MEAN = float(os.environ.get("TOY_MEAN", "1.2"))
X = np.random.default_rng(0).normal(MEAN, 0.1, 40)
LABEL = os.environ.get("TOY_LABEL", "L1")
heavy = pytest.mark.slow if os.environ.get("TOY_SLOW") else (lambda f: f)

@heavy
@pytest.mark.parametrize("model", ["m1", "m2"])
@pytest.mark.claim("toy.above", statement="G > 1")
def test_above(model, verdict):
    if model in os.environ.get("TOY_UNAVAILABLE", "").split(","):
        pytest.skip(f"model {model} unavailable: weights corrupt (sha256 mismatch)")
    verdict.record(assertions.above(X, 1.0), label=LABEL if model == "m2" else "")

@pytest.mark.claim("toy.direction", statement="G > 1.5")
def test_direction(verdict):
    verdict.record(assertions.above(X, 1.0, min_effect=0.5), models="m1")   # refuted either way; direction flips

@pytest.mark.claim("toy.measured")
def test_measured(verdict):
    j = assertions.above(X, 1.0)
    verdict.record(Measurement(evidence=j.evidence, reference=1.0, direction=j.evidence.extra["direction"],
                               reason="the claim predicts no sign here", label="sign"), models="m1")
'''

OPTIONS = ""      # the plugin's own --claims-panel / --claims-max-tokens are recorded in the settings


def _run(pytester, *args):
    return pytester.runpytest("-p", "no:cacheprovider", "--claims-report-dir", "out", *args)


def _setup(pytester, monkeypatch):
    for name in ("TOY_MEAN", "TOY_LABEL", "TOY_UNAVAILABLE", "TOY_SLOW"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(OPTIONS)
    pytester.makepyfile(test_toy=TOY)
    made = _run(pytester, "--claims-baseline", "base.json", "--claims-update-baseline")
    assert made.ret == 1, made.stdout.str()           # toy.direction is refuted: a failed test
    return json.loads((pytester.path / "base.json").read_text())


def test_unchanged_run_passes_and_measurement_is_measured(pytester, monkeypatch):
    base = _setup(pytester, monkeypatch)
    assert base["measurements"]["toy.measured@corrected:m1[sign]"]["direction"] == "above"
    assert base["verdicts"]["toy.direction@corrected:m1"] == {**base["verdicts"]["toy.direction@corrected:m1"],
                                                               "status": "refuted", "direction": "above"}
    result = _run(pytester, "--claims-baseline", "base.json", "-v")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_measured MEASURED*"])
    doc = json.loads((pytester.path / "out" / "claims.json").read_text())
    assert doc["drift"] == {"against": "base.json", "changes": []}
    assert [t["outcome"] for t in doc["tests"] if t["nodeid"].endswith("test_measured")] == ["measured"]


def test_direction_flip_fails_the_gate(pytester, monkeypatch):
    _setup(pytester, monkeypatch)
    monkeypatch.setenv("TOY_MEAN", "0.8")            # toy.direction stays REFUTED, its direction flips
    result = _run(pytester, "--claims-baseline", "base.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*~ toy.direction@corrected:m1: measured direction above -> below*",
                                 "*~ toy.measured@corrected:m1[[]sign[]]: measured direction above -> below*"])
    doc = json.loads((pytester.path / "out" / "claims.json").read_text())
    changes = {c["key"]: c for c in doc["drift"]["changes"]}
    assert changes["toy.direction@corrected:m1"]["change"] == "direction"
    assert changes["toy.measured@corrected:m1[sign]"]["reason"] == "measured direction above -> below"


def test_key_missing_because_its_test_skipped_fails_the_gate(pytester, monkeypatch):
    _setup(pytester, monkeypatch)
    monkeypatch.setenv("TOY_UNAVAILABLE", "m2")
    result = _run(pytester, "--claims-baseline", "base.json")
    assert result.ret == 1, "a verdict that vanished because its model was unavailable must fail the gate"
    result.stdout.fnmatch_lines(["*GATE FAILED: baseline verdict toy.above@corrected:m2[[]L1[]] is missing from this "
                                 "run: its test skipped*"])
    doc = json.loads((pytester.path / "out" / "claims.json").read_text())
    (removed,) = [c for c in doc["drift"]["changes"] if c["change"] == "removed"]
    assert removed["key"] == "toy.above@corrected:m2[L1]" and "weights corrupt" in removed["reason"]
    deselected = _run(pytester, "--claims-baseline", "base.json", "-k", "not m2")
    assert deselected.ret == 0, "a test the user deselected is not missing"


def test_slow_test_without_runslow_is_not_requested_not_missing(pytester, monkeypatch):
    """A test marked ``slow`` skips without --claims-runslow; like a deselected test it was not asked
    for, so its baseline keys are not "missing" (a skip for any other reason still fails the gate)."""
    _setup(pytester, monkeypatch)
    monkeypatch.setenv("TOY_SLOW", "1")               # test_above becomes a slow variant
    result = _run(pytester, "--claims-baseline", "base.json", "-rs")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*slow variant: run with --claims-runslow*"])
    assert "GATE FAILED" not in result.stdout.str()
    assert "skipped = inconclusive or not run (2 of them slow variants: --claims-runslow)" in \
        " ".join(result.stdout.str().split())
    doc = json.loads((pytester.path / "out" / "claims.json").read_text())
    assert doc["drift"]["changes"] == [] and doc["baseline"]["disappeared"] == []
    assert sorted(t["outcome"] for t in doc["tests"] if "test_above" in t["nodeid"]) == ["skipped", "skipped"]
    monkeypatch.setenv("TOY_UNAVAILABLE", "m2")       # still slow-skipped: the unavailability is never reached
    assert _run(pytester, "--claims-baseline", "base.json").ret == 0
    monkeypatch.delenv("TOY_SLOW")                    # requested again, and m2 skips: missing
    assert _run(pytester, "--claims-baseline", "base.json").ret == 1


def test_key_renamed_fails_the_gate_both_ways(pytester, monkeypatch):
    _setup(pytester, monkeypatch)
    monkeypatch.setenv("TOY_LABEL", "L2")             # the test runs and records another key
    result = _run(pytester, "--claims-baseline", "base.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*+ toy.above@corrected:m2[[]L2[]]: new verdict key for claim toy.above*"])
    result.stdout.fnmatch_lines(["*GATE FAILED: baseline verdict toy.above@corrected:m2[[]L1[]] is missing*"])
    doc = json.loads((pytester.path / "out" / "claims.json").read_text())
    assert doc["baseline"]["disappeared"] == ["toy.above@corrected:m2[L1]"]
    assert "no longer records it" in [c for c in doc["drift"]["changes"] if c["change"] == "removed"][0]["reason"]


def test_changed_run_setting_is_refused_naming_it(pytester, monkeypatch):
    _setup(pytester, monkeypatch)
    result = _run(pytester, "--claims-baseline", "base.json", "--claims-max-tokens", "64")
    assert result.ret == 4                           # pytest.UsageError
    result.stderr.fnmatch_lines(["*other run settings*", "*max_tokens: 128 (baseline) != 64 (this run)*"])
    seed = _run(pytester, "--claims-baseline", "base.json", "--claims-seed", "7")
    assert seed.ret == 4
    seed.stderr.fnmatch_lines(["*seed: 20261124 (baseline) != 7 (this run)*"])


def test_update_baseline_with_k_keeps_everything_outside_the_selection(pytester, monkeypatch):
    base = _setup(pytester, monkeypatch)
    assert len(base["verdicts"]) == 3 and len(base["measurements"]) == 1
    monkeypatch.setenv("TOY_MEAN", "0.8")
    result = _run(pytester, "--claims-baseline", "base.json", "--claims-update-baseline", "-k", "test_above and m1")
    assert result.ret == 1                             # now refuted
    result.stdout.fnmatch_lines(["*baseline: changed toy.above@corrected:m1: supported -> refuted*"])
    after = json.loads((pytester.path / "base.json").read_text())
    assert set(after["verdicts"]) == set(base["verdicts"]) and set(after["measurements"]) == set(base["measurements"])
    for key, entry in base["verdicts"].items():
        if key != "toy.above@corrected:m1":
            assert after["verdicts"][key] == entry, key
    assert after["verdicts"]["toy.above@corrected:m1"]["status"] == "refuted"


def test_update_baseline_keeps_the_verdicts_of_a_test_that_skipped(pytester, monkeypatch):
    base = _setup(pytester, monkeypatch)
    monkeypatch.setenv("TOY_UNAVAILABLE", "m2")
    result = _run(pytester, "--claims-baseline", "base.json", "--claims-update-baseline")
    result.stdout.fnmatch_lines(["*kept verdict toy.above@corrected:m2[[]L1[]]: its test ran but recorded nothing*"])
    after = json.loads((pytester.path / "base.json").read_text())
    assert after["verdicts"]["toy.above@corrected:m2[L1]"] == base["verdicts"]["toy.above@corrected:m2[L1]"]


def test_update_baseline_refuses_other_settings(pytester, monkeypatch):
    _setup(pytester, monkeypatch)
    result = _run(pytester, "--claims-baseline", "base.json", "--claims-update-baseline", "--claims-panel", "hub")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*panel: offline (baseline) != hub (this run)*", "*Delete base.json*"])


def test_baseline_without_settings_is_refused(pytester, monkeypatch):
    base = _setup(pytester, monkeypatch)
    del base["settings"]
    (pytester.path / "base.json").write_text(json.dumps(base))
    result = _run(pytester, "--claims-baseline", "base.json")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*records no run settings*"])
