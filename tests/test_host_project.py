"""lmclaims inside someone else's pytest project (issue 14): no option clash, hooks, command-line models.

Each test is a pytester project with a conftest of its own, as a host project would have. The runs that
build models go through a subprocess: an in-process pytester run drops the modules transformers
imports lazily inside it.
"""

from __future__ import annotations

import json
import os
import re

import pytest

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A host project that already owns the unprefixed names lmclaims once used.
HOST_CONFTEST = '''
import pytest

def pytest_addoption(parser):
    parser.addoption("--device", default="host-default", help="the host project's own device option")
    parser.addoption("--models", default="host-models")
    parser.addoption("--dtype", default="host-dtype")
    parser.addoption("--panel", default="host-panel")
    parser.addoption("--runslow", action="store_true")
    parser.addoption("--corpus", default="host-corpus")

@pytest.fixture
def host_device(request):
    return request.config.getoption("--device")
'''

CLAIM = '''
import numpy as np
import pytest
from lmclaims.probes.residual import ResidualNorms
from lmclaims.stats.assertions import above

@pytest.mark.claim("host.norm_positive", variant="corrected")
def test_claim(model, measure, verdict):
    rows = measure(model, [ResidualNorms()], view=measure.view())["residual_norms"]   # the default view
    per_text = np.bincount(rows["text_index"], weights=rows["norm"][:, -1]) / np.bincount(rows["text_index"])
    verdict.record(above(per_text, 0.0, unit="text"), models=model.name)
'''

HOST_TEST = '''
def test_host_option(host_device):
    assert host_device == "mine"
'''


@pytest.fixture()
def project(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LMCLAIMS_PANEL", raising=False)
    pytester.syspathinsert(ROOT)
    return pytester


def test_no_option_clash_with_a_host_conftest(project):
    project.makeconftest(HOST_CONFTEST)
    project.makepyfile(test_host=CLAIM + HOST_TEST)
    res = project.runpytest("-p", "no:cacheprovider", "--device", "mine", "--models", "x", "--dtype", "y",
                            "--runslow", "--claims-panel", "synthetic", "--claims-models", "synthetic-llama",
                            "--claims-report-dir", "out")
    res.assert_outcomes(passed=2)
    doc = json.loads((project.path / "out" / "claims.json").read_text())
    assert [v["models"] for v in doc["verdicts"]] == [["synthetic-llama"]]
    assert doc["run"]["device"] == "auto"                # the host's --device mine did not reach lmclaims


def test_every_plugin_option_has_the_claims_prefix(project):
    """``pytest --help`` lists lmclaims' two option groups; every option in them starts with --claims-."""
    res = project.runpytest("--help")
    text = res.stdout.str()
    options = []
    for header in ("lmclaims: statistical claims:", "lmclaims: models, texts and measurement:"):
        assert header in text, header
        section = text.split(header, 1)[1]
        section = re.split(r"\n\S", section, maxsplit=1)[0]        # up to the next unindented line
        options += re.findall(r"^\s{2}(--[\w-]+)", section, flags=re.M)
    assert len(options) >= 20 and all(o.startswith("--claims-") for o in options), options
    for expected in ("--claims-corpus", "--claims-model", "--claims-models", "--claims-panel", "--claims-device"):
        assert expected in options


HOOKS_CONFTEST = '''
import json
from lmclaims.models.synthetic import build_synthetic
from lmclaims.probes.residual import ResidualNorms

PANEL = {panel!r}
SEEN = []

def load_lab_model(entry, *, dtype, trust_remote_code):
    model, tok = build_synthetic("llama", seed=int(entry.extra["seed"]))
    return model, tok, {{"weights_from": "lab store", "weights_digest": "sha256:" + "ab" * 32}}

def pytest_lmclaims_panels(config):
    return {{"lab": PANEL}}

def pytest_lmclaims_model_sources(config):
    return {{"labstore": load_lab_model}}

def pytest_lmclaims_default_view_probes(lm, measure):
    SEEN.append(lm.name)
    return []

def pytest_lmclaims_update_json(config, report):
    report["lab"] = {{"cluster": "a100-7", "default_view_probe_calls": SEEN}}
'''

LAB_PANEL = """
[[model]]
name = "lab-llama"
lab = "our lab"
family = "llama"
arch = "LlamaForCausalLM"
params = 115008
layers = 2
d_model = 64
heads = 4
kv_heads = 2
vocab = 320
source = "labstore"
[model.extra]
seed = 3
"""


def test_hooks_add_a_panel_a_model_source_and_report_fields(project, tmp_path):
    panel = tmp_path / "lab.toml"
    panel.write_text(LAB_PANEL)
    project.makeconftest(HOOKS_CONFTEST.format(panel=str(panel)))
    project.makepyfile(test_lab=CLAIM)
    res = project.runpytest_subprocess("-p", "no:cacheprovider", "--claims-panel", "lab", "--claims-report-dir", "out")
    res.assert_outcomes(passed=1)
    doc = json.loads((project.path / "out" / "claims.json").read_text())
    assert doc["lab"]["cluster"] == "a100-7" and doc["lab"]["default_view_probe_calls"] == ["lab-llama"]
    model = doc["models"]["lab-llama"]
    assert model["source"] == "labstore" and model["fingerprint"].startswith("lab-llama@")
    assert doc["run"]["panel"] == "lab"


def test_a_misspelt_hook_source_names_the_registered_ones(project, tmp_path):
    panel = tmp_path / "lab.toml"
    panel.write_text(LAB_PANEL.replace('source = "labstore"', 'source = "labstor"'))
    project.makeconftest(HOOKS_CONFTEST.format(panel=str(panel)))
    project.makepyfile(test_lab="def test_x(model):\n    pass\n")
    res = project.runpytest_subprocess("-p", "no:cacheprovider", "--claims-panel", "lab")
    text = res.stdout.str() + res.stderr.str()
    assert res.ret != 0 and "INTERNALERROR" not in text
    assert "labstor" in text and "did you mean labstore" in text
