"""The pytest plugin end to end, through pytester (claims -> outcomes -> claims.json)."""

import json

import pytest

pytest_plugins = ["pytester"]


def _warm_up_lazy_imports():
    """Import what scipy/statsmodels import lazily, before pytester snapshots sys.modules (an
    in-process run drops modules first imported inside it, which breaks scipy's vendored aliases)."""
    import numpy as np

    from lmclaims.stats import assertions
    from lmclaims.stats.multiple import adjust

    x = np.arange(6.0)
    assertions.above(x, 0.0, n_resamples=99)
    assertions.equivalent(x, x + 0.1, margin=1.0, n_resamples=99)
    assertions.law_fits(x, 2 * x + 0.1 * np.sin(x), slope=2.0, slope_margin=0.5, n_resamples=99)
    assertions.correlated(x, x**2, n_resamples=99)
    assertions.proportion_below(1, 10, 0.5)
    adjust([0.1, 0.2])


_warm_up_lazy_imports()

CLAIMS = '''
import numpy as np
import pytest
from lmclaims.stats import assertions

X = np.random.default_rng(0).normal(1.2, 0.1, 40)

@pytest.mark.parametrize("model", ["m1", "m2", "m3", "m4"])
@pytest.mark.claim("demo.above", source="000_demo.txt", statement="G > 1", variant="corrected")
def test_supported(model, verdict):
    verdict.record(assertions.above(X, 1.0), plots=[{"kind": "table", "title": "t", "columns": ["a"], "rows": [[1]]}])

@pytest.mark.claim("demo.refuted", variant="as-published")
def test_refuted(verdict):
    verdict.record(assertions.below(X, 1.0), models="m1")

@pytest.mark.claim("demo.inconclusive")
def test_inconclusive(verdict):
    verdict.record(assertions.above(X, 1.2), models="m1")
'''

NO_VERDICT = '''
import pytest

@pytest.mark.claim("demo.none")
def test_none(verdict):
    pass
'''


def run_json(pytester, *args):
    result = pytester.runpytest("-p", "no:cacheprovider", "--claims-report-dir", "out", *args)
    return result, json.loads((pytester.path / "out" / "claims.json").read_text())


def verdicts_only(doc):
    return [{k: v for k, v in verdict.items()} for verdict in doc["verdicts"]]


def test_outcomes_follow_verdicts(pytester):
    pytester.makepyfile(test_claims=CLAIMS)
    result, doc = run_json(pytester, "-rs")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*REFUTED demo.refuted [[]as-published[]] on m1: mean(values) = 1.19*CI*n=40 texts*",
                                 "*rule: supported if the 95% CI*", "*SKIPPED*inconclusive*contains 1.2*"])
    result.stdout.fnmatch_lines(["*lmclaims verdicts*", "claim*variant*models*status*estimate [[]CI[]]*n*"])
    assert {t["outcome"] for t in doc["tests"]} == {"passed", "failed", "skipped"}
    assert doc["claims"]["demo.above"] == {"source": "000_demo.txt", "statement": "G > 1", "paper": "", "quote": "",
                                           "variants": ["corrected"], "version": 1}


def test_strict_fails_inconclusive(pytester):
    pytester.makepyfile(test_claims=CLAIMS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--claims-strict", "-k", "inconclusive",
                                "--claims-report-dir", "out")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*claim inconclusive (--claims-strict)*"])


def test_no_verdict_is_an_error(pytester):
    pytester.makepyfile(test_none=NO_VERDICT)
    result = pytester.runpytest("-p", "no:cacheprovider", "--claims-report-dir", "out")
    result.assert_outcomes(errors=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*recorded no verdict*"])


def test_worst_verdict_decides_and_labels_must_differ(pytester):
    pytester.makepyfile(test_multi='''
import numpy as np, pytest
from lmclaims.stats import assertions
X = np.random.default_rng(0).normal(1.2, 0.1, 40)

@pytest.mark.claim("demo.layers", verdicts=2)
def test_layers(verdict):
    verdict.record(assertions.above(X, 1.0), label="layer 0")
    verdict.record(assertions.above(X, 1.2), label="layer 1")

@pytest.mark.claim("demo.dup", verdicts=2)
def test_duplicate(verdict):
    verdict.record(assertions.above(X, 1.0))
    verdict.record(assertions.above(X, 1.0))
''')
    result, doc = run_json(pytester)
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*already recorded*give each verdict a label*"])
    layers = [v for v in doc["verdicts"] if v["claim_id"] == "demo.layers"]
    assert [v["label"] for v in layers] == ["layer 0", "layer 1"]
    assert layers[0]["evidence"]["confidence_level"] == pytest.approx(1 - 0.05 / 2)


def test_family_bonferroni_level_and_holm_adjustment(pytester):
    pytester.makepyfile(test_claims=CLAIMS)
    _, doc = run_json(pytester)
    family = [v for v in doc["verdicts"] if v["claim_id"] == "demo.above"]
    assert len(family) == 4 and {v["family"] for v in family} == {"demo.above"}
    for v in family:
        assert v["evidence"]["confidence_level"] == pytest.approx(1 - 0.05 / 4)
        assert v["p_adjusted"] >= v["p_raw"] and v["p_adjusted"] <= 4 * v["p_raw"] + 1e-12
        assert v["significant_after_correction"] is True
        assert v["plots"] == [{"kind": "table", "title": "t", "columns": ["a"], "rows": [[1]]}]
    # a verdict re-run alone with its stored command keeps the family's level and numbers
    one = family[1]
    assert one["command"].startswith("pytest 'test_claims.py::test_supported[m2]' --claims-profile ")
    pytester.path.joinpath("out", "claims.json").unlink()
    _, alone = run_json(pytester, "test_claims.py::test_supported[m2]")
    assert alone["verdicts"][0]["evidence"] == one["evidence"]


def test_same_seed_same_verdicts_other_seed_differs(pytester):
    pytester.makepyfile(test_claims=CLAIMS)
    _, first = run_json(pytester)
    _, second = run_json(pytester)
    assert verdicts_only(first) == verdicts_only(second)
    _, other = run_json(pytester, "--claims-seed", "1")
    assert verdicts_only(other) != verdicts_only(first)


def test_baseline_update_then_gate(pytester):
    pytester.makepyfile(test_claims=CLAIMS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--claims-baseline", "base.json", "--claims-update-baseline",
                                "--claims-report-dir", "out")
    result.stdout.fnmatch_lines(["*baseline written*base.json (6 verdicts*"])
    base = json.loads((pytester.path / "base.json").read_text())
    assert base["verdicts"]["demo.above@corrected:m1"]["status"] == "supported"
    assert base["settings"]["seed"] == 20261124 and base["verdicts"]["demo.above@corrected:m1"]["direction"] == "above"

    unchanged = pytester.runpytest("-p", "no:cacheprovider", "--claims-baseline", "base.json", "--claims-report-dir", "out")
    unchanged.assert_outcomes(passed=4, xfailed=1, skipped=1)      # refuted as recorded: expected, exit 0
    assert unchanged.ret == 0

    del base["verdicts"]["demo.refuted@as-published:m1"]         # a refutation of a claim the baseline does not know
    (pytester.path / "base.json").write_text(json.dumps(base))
    new_refutation = pytester.runpytest("-p", "no:cacheprovider", "--claims-baseline", "base.json",
                                        "--claims-report-dir", "out")
    new_refutation.assert_outcomes(passed=4, failed=1, skipped=1)
    new_refutation.stdout.fnmatch_lines(["*baseline: demo.refuted@as-published:m1 is not in the baseline (new claim)*"])

    doc = json.loads((pytester.path / "out" / "claims.json").read_text())   # a claims.json is a baseline too
    doc["verdicts"] = [v for v in doc["verdicts"] if v["key"] != "demo.above@corrected:m2"]
    for v in doc["verdicts"]:
        if v["key"] == "demo.above@corrected:m1":
            v["status"] = "refuted"
    (pytester.path / "base.json").write_text(json.dumps(doc))
    changed = pytester.runpytest("-p", "no:cacheprovider", "--claims-baseline", "base.json", "--claims-report-dir", "out")
    changed.assert_outcomes(passed=2, failed=2, xfailed=1, skipped=1)
    changed.stdout.fnmatch_lines(["*differs from the baseline*", "*- demo.above@corrected:m1: refuted*",
                                  "*+ demo.above@corrected:m1: supported*"])
    changed.stdout.fnmatch_lines(["*+ demo.above@corrected:m2: new verdict key for claim demo.above*"])


def test_compare_lists_changes(pytester):
    pytester.makepyfile(test_claims=CLAIMS)
    _, doc = run_json(pytester)
    assert doc["verdicts"][0]["status"] == "inconclusive"
    doc["verdicts"][0]["status"] = "supported"
    (pytester.path / "old.json").write_text(json.dumps(doc))
    result, new = run_json(pytester, "--claims-compare", "old.json")
    key = doc["verdicts"][0]["key"]
    assert new["compare"] == [{"key": key, "change": "changed", "old_status": "supported", "new_status": "inconclusive",
                               "old_estimate": doc["verdicts"][0]["evidence"]["estimate"],
                               "new_estimate": new["verdicts"][0]["evidence"]["estimate"]}]
    result.stdout.fnmatch_lines([f"compare: {key}: supported -> inconclusive (changed)"])


def test_report_schema_models_corpus_and_header(pytester):
    pytester.makeconftest('''
import pytest
@pytest.fixture(autouse=True)
def _meta(request):
    request.node.user_properties.append(("lmclaims_model", {"name": "m1", "n_layers": 30}))
    request.node.user_properties.append(("lmclaims_corpus", {"hash": "abc", "n_texts": 64}))
''')
    pytester.makepyfile(test_claims=CLAIMS)
    result, doc = run_json(pytester, "--claims-profile", "ci", "--claims-n-resamples", "999")
    result.stdout.fnmatch_lines(["lmclaims: profile=ci seed=20261124 n_resamples=999 *correction=holm*max_texts=64*"])
    for key in ("schema_version", "lmclaims_version", "created", "git", "command", "profile", "seed", "correction",
                "run", "environment", "models", "corpus", "claims", "tests", "verdicts", "timings", "settings",
                "complete", "incomplete_reason", "drift", "suite", "measurements"):
        assert key in doc
    assert doc["models"] == {"m1": {"name": "m1", "n_layers": 30}} and doc["corpus"]["hash"] == "abc"
    assert doc["run"] == {"panel": "offline", "device": "auto", "dtype": "float32"}
    assert "torch" in doc["environment"] and doc["profile"]["max_texts"] == 64
    assert "--claims-n-resamples 999" in doc["verdicts"][0]["command"]


def test_renderer_failure_is_reported_not_fatal(pytester):
    pytester.makeconftest('''
import sys, types
fake = types.ModuleType("lmclaims.report.render")
def write_all(report, out_dir, stem="claims"):
    raise RuntimeError("template exploded")
fake.write_all = write_all
sys.modules["lmclaims.report.render"] = fake
''')
    pytester.makepyfile(test_claims=CLAIMS)
    result, doc = run_json(pytester)
    result.stdout.fnmatch_lines(["*HTML report failed: RuntimeError: template exploded*"])
    assert len(doc["verdicts"]) == 6


def test_no_claim_tests_leave_reports_alone(pytester):
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--claims-report-dir", "out")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "out").exists()


def test_xdist_verdicts_equal_serial(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_claims=CLAIMS)
    serial = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-report-dir", "serial")
    serial.assert_outcomes(passed=4, failed=1, skipped=1)
    parallel = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--claims-report-dir", "parallel")
    parallel.assert_outcomes(passed=4, failed=1, skipped=1)
    one = json.loads((pytester.path / "serial" / "claims.json").read_text())
    two = json.loads((pytester.path / "parallel" / "claims.json").read_text())
    assert verdicts_only(one) == verdicts_only(two) and len(two["verdicts"]) == 6
    assert [t["nodeid"] for t in one["tests"]] == [t["nodeid"] for t in two["tests"]]
