"""Recorder rules, families, suite BH, run settings in commands, bad options (pytester, no model)."""

import json

import pytest
from statsmodels.stats.multitest import multipletests

from tests.test_plugin import _warm_up_lazy_imports  # noqa: F401  (imports scipy lazies before pytester)

pytest_plugins = ["pytester"]

RULES = '''
import dataclasses
import numpy as np
import pytest
from lmclaims.stats import assertions
from lmclaims.stats.evidence import Judgement, Status

X = np.random.default_rng(0).normal(1.2, 0.1, 12)

@pytest.mark.claim("toy.edited")
def test_edited(verdict):
    j = assertions.above(X, 5.0)
    verdict.record(dataclasses.replace(j, status=Status.SUPPORTED))

@pytest.mark.claim("toy.handmade")
def test_handmade(verdict):
    j = assertions.above(X, 1.0)
    verdict.record(Judgement(status=Status.SUPPORTED, evidence=j.evidence, rule="mine"))

@pytest.mark.claim("toy.too_many", verdicts=1)
def test_too_many(verdict):
    verdict.record(assertions.above(X, 1.0), label="a")
    verdict.record(assertions.above(X, 1.0), label="b")
'''

FAMILIES = '''
import numpy as np
import pytest
from lmclaims.stats import assertions

X = np.random.default_rng(0).normal(1.2, 0.1, 12)

@pytest.mark.parametrize("model", ["m1", "m2"])
@pytest.mark.claim("toy.shared", variant="corrected")
def test_corrected(model, verdict):
    verdict.record(assertions.above(X, 1.0))

@pytest.mark.claim("toy.shared", variant="as-published")
def test_published(verdict):
    verdict.record(assertions.above(X, 1.0), models="m1")

@pytest.mark.parametrize("model", ["m1", "m2", "m3"])
@pytest.mark.claim("toy.primary", variant="corrected", primary=True)
def test_primary(model, verdict):
    verdict.record(assertions.above(X, 1.0))

@pytest.mark.claim("toy.primary", variant="as-published")
def test_secondary(verdict):
    verdict.record(assertions.above(X, 1.0), models="m1")
'''


def _run(pytester, *args):
    result = pytester.runpytest("-p", "no:cacheprovider", "--claims-report-dir", "out", *args)
    path = pytester.path / "out" / "claims.json"
    return result, (json.loads(path.read_text()) if path.exists() else None)


def test_recorder_rejects_foreign_judgements_and_extra_verdicts(pytester):
    pytester.makepyfile(test_rules=RULES)
    result, doc = _run(pytester)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*claim 'toy.edited'*no lmclaims.stats helper issued*dataclasses.replace*"])
    result.stdout.fnmatch_lines(["*claim 'toy.handmade'*no lmclaims.stats helper issued*"])
    result.stdout.fnmatch_lines(["*claim 'toy.too_many'*more verdicts than its marker declares (verdicts=1)*"])
    assert [v["key"] for v in doc["verdicts"]] == ["toy.too_many@corrected:-[a]"]   # nothing forged got in


def test_family_is_the_claim_and_primary_variant_makes_the_others_secondary(pytester):
    pytester.makepyfile(test_fam=FAMILIES)
    result, doc = _run(pytester)
    result.assert_outcomes(passed=7)
    by = {v["key"]: v for v in doc["verdicts"]}
    shared = [v for v in doc["verdicts"] if v["claim_id"] == "toy.shared"]
    assert {v["family"] for v in shared} == {"toy.shared"} and {v["family_size"] for v in shared} == {3}
    for v in shared:                                  # one family over both variants: level 1 - alpha/3
        assert v["evidence"]["confidence_level"] == pytest.approx(1 - 0.05 / 3)
    primary = [v for v in doc["verdicts"] if v["claim_id"] == "toy.primary" and v["variant"] == "corrected"]
    assert {v["family"] for v in primary} == {"toy.primary"} and {v["family_size"] for v in primary} == {3}
    assert {v["family_role"] for v in primary} == {"primary"}
    sec = by["toy.primary@as-published:m1"]
    assert (sec["family"], sec["family_role"], sec["family_size"]) == ("toy.primary@as-published", "secondary", 1)
    assert doc["suite"]["families"] == 3
    for v in doc["verdicts"]:
        assert v["p_refute_adjusted"] is not None and v["p_refute_adjusted"] >= v["p_refute_raw"]
    # suite-level BH over every support p
    ps = [v["p_raw"] for v in doc["verdicts"]]
    reject, p_bh, _, _ = multipletests(ps, alpha=0.05, method="fdr_bh")
    assert doc["suite"] == {"m": 7, "bh_alpha": 0.05, "bh_significant": int(reject.sum()), "families": 3}
    assert [v["p_suite_bh"] for v in doc["verdicts"]] == pytest.approx(list(p_bh))
    result.stdout.fnmatch_lines(["7 claim tests: 7 passed = supported*",
                                 f"*suite BH*{int(reject.sum())} of 7 significant at FDR 0.05*"])


def test_partial_family_is_padded_to_its_announced_size(pytester):
    pytester.makepyfile(test_fam=FAMILIES)
    _, doc = _run(pytester, "-k", "test_primary and m2")
    (v,) = doc["verdicts"]
    assert v["family_padded_to"] == 3 and v["family_verdicts"] == 1
    assert v["p_adjusted"] == pytest.approx(min(1.0, 3 * v["p_raw"]))     # Holm with two p = 1 members


def test_two_primary_variants_are_an_error(pytester):
    pytester.makepyfile(test_two='''
import pytest
from lmclaims.stats import assertions
@pytest.mark.claim("toy.two", variant="corrected", primary=True)
def test_a(verdict):
    verdict.record(assertions.above([1.0, 2.0, 3.0], 0.0))
@pytest.mark.claim("toy.two", variant="as-published", primary=True)
def test_b(verdict):
    verdict.record(assertions.above([1.0, 2.0, 3.0], 0.0))
''')
    result, _ = _run(pytester)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*claim 'toy.two'*all marked primary=True*"])


def test_run_settings_recorded_and_in_every_command(pytester):
    pytester.makepyfile(test_fam=FAMILIES)
    _, doc = _run(pytester, "-k", "test_published", "--claims-panel", "synthetic", "--claims-max-tokens", "64",
                  "--claims-models", "synthetic-*", "--claims-runslow", "--claims-dtype", "bfloat16",
                  "--claims-profile", "ci")
    s = doc["settings"]
    assert {k: s[k] for k in ("panel", "models", "max_tokens", "runslow", "device", "dtype", "profile", "seed",
                              "n_resamples", "correction", "max_texts")} == {
        "panel": "synthetic", "models": "synthetic-*", "max_tokens": 64, "runslow": True, "device": "auto", "dtype": "bfloat16",
        "profile": "ci", "seed": 20261124, "n_resamples": 4999, "correction": "holm", "max_texts": 64}
    assert set(s) >= {"threads", "corpus_sha256"} and doc["complete"] is True and doc["incomplete_reason"] is None
    command = doc["verdicts"][0]["command"]
    for part in ("--claims-profile ci", "--claims-seed 20261124", "--claims-max-tokens 64", "--claims-models 'synthetic-*'",
                 "--claims-runslow", "--claims-dtype bfloat16", "--claims-panel synthetic", "--claims-device auto"):
        assert part in command, (part, command)


@pytest.mark.parametrize("args, message", [
    (["--claims-seed", "-1"], "*--claims-seed must be a non-negative integer*"),
    (["--claims-n-resamples", "5"], "*--claims-n-resamples must be at least 99*"),
    (["--claims-profile", "fast"], "*unknown lmclaims profile 'fast'*"),
    (["--claims-compare", "/nonexistent/old.json"], "*--claims-compare /nonexistent/old.json: file does not exist*"),
    (["--claims-update-baseline"], "*--claims-update-baseline needs --claims-baseline FILE*"),
    (["--claims-baseline", "missing.json"], "*--claims-baseline missing.json: file does not exist*"),
])
def test_bad_claims_options_are_usage_errors(pytester, args, message):
    pytester.makepyfile(test_fam=FAMILIES)
    result, doc = _run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert doc is None


def test_unwritable_report_dir_is_a_usage_error_before_any_test(pytester):
    pytester.makepyfile(test_fam=FAMILIES)
    (pytester.path / "afile").write_text("not a directory")
    result = pytester.runpytest("-p", "no:cacheprovider", "--claims-report-dir", "afile/reports")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-report-dir afile/reports is not writable*"])


def test_summary_fits_120_columns(pytester):
    pytester.makepyfile(test_long='''
import pytest
from lmclaims.stats import assertions
@pytest.mark.claim("toy.a_claim_id_that_is_rather_long_for_a_table", verdicts=1)
def test_long(verdict):
    verdict.record(assertions.above([1.0, 2.0, 3.0, 2.5], 0.0), models=("model-" + "x" * 40, "model-" + "y" * 40),
                   label="a label that says a great deal about the role of this verdict in the test")
''')
    result, _ = _run(pytester)
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "lmclaims verdicts" in line)
    section = lines[start + 1: next(i for i, line in enumerate(lines) if "passed" in line and "==" in line)]
    assert section and max(len(line) for line in section) <= 120, section
