"""Options and panel files are checked at configure time: pytest.UsageError naming the option/file/field.

Each test injects one bad input into a pytester run (in process, synthetic panel or a panel file
written here) and sees exit code 4 (usage error) with a message that names what is wrong — never a
traceback per test, an INTERNALERROR, or an all-skipped run that exits 0.
"""

from __future__ import annotations

import os
import textwrap

import pytest
import torch

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GOOD_ENTRY = """
[[model]]
name = "tiny-llama"
lab = "synthetic"
family = "llama"
arch = "LlamaForCausalLM"
params = 115008
layers = 2
d_model = 64
heads = 4
kv_heads = 2
vocab = 320
[model.synthetic]
model_type = "llama"
seed = 0
config = { num_key_value_heads = 2 }
"""


@pytest.fixture()
def run(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path / "cache"))
    pytester.makepyfile(test_x="def test_needs_model(model):\n    assert model.adapter.n_layers >= 1\n")
    pytester.syspathinsert(ROOT)

    def go(*args):
        return pytester.runpytest("-p", "no:cacheprovider", *args)
    return go


def usage_error(res, *fragments):
    assert res.ret == pytest.ExitCode.USAGE_ERROR, (res.ret, res.stdout.str(), res.stderr.str())
    err = res.stderr.str()
    assert "INTERNALERROR" not in err + res.stdout.str()
    for f in fragments:
        assert f in err, (f, err)


@pytest.mark.parametrize("value", ["-5", "0", "1"])
def test_max_tokens_must_be_at_least_two(run, value):
    usage_error(run("--claims-panel", "synthetic", "--claims-models", "synthetic-llama", f"--claims-max-tokens={value}"), "--claims-max-tokens")


def test_dtype_outside_the_allowed_set(run):
    usage_error(run("--claims-panel", "synthetic", "--claims-dtype", "int8"), "--claims-dtype", "'int8'", "bfloat16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_usage_error_not_an_all_skipped_run(run):
    usage_error(run("--claims-panel", "synthetic", "--claims-device", "cuda"), "--claims-device cuda", "no CUDA device")


def test_nonsense_device(run):
    usage_error(run("--claims-panel", "synthetic", "--claims-device", "gpu7"), "--claims-device 'gpu7'")


def test_models_matching_nothing_suggests_close_names(run):
    usage_error(run("--claims-panel", "offline", "--claims-models", "smollm"), "--claims-models", "did you mean smollm2-135m-instruct")


def test_unknown_panel_suggests_close_names(run):
    usage_error(run("--claims-panel", "synthtic"), "--claims-panel", "did you mean synthetic")


def test_toml_syntax_error_names_the_file(run, tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text(GOOD_ENTRY.replace('lab = "synthetic"', 'lab = synthetic'))
    usage_error(run(f"--claims-panel={bad}"), str(bad), "TOML syntax error", "line 4")


@pytest.mark.parametrize("edit, field", [
    (lambda t: t.replace("d_model = 64\n", ""), "'d_model' is missing"),
    (lambda t: t.replace("layers = 2", 'layers = "two"'), "'layers' must be int"),
    (lambda t: t.replace("params = 115008", "params = -1"), "'params' must be a positive integer"),
    (lambda t: t.replace("kv_heads = 2", "kv_heads = 3"), "'kv_heads' must divide heads"),
    (lambda t: t.replace('lab = "synthetic"', 'lab = "synthetic"\nnorm = "middle"'), "'norm' must be one of"),
    (lambda t: t.replace('lab = "synthetic"', 'lab = "synthetic"\nlayerz = 2'), "'layerz' is not a panel field"),
    (lambda t: t.replace('lab = "synthetic"', 'lab = "synthetic"\nlayerz = 2'), "did you mean layers"),
    (lambda t: t.replace('model_type = "llama"', ""), "'synthetic.model_type' must be str"),
    (lambda t: t + t, "duplicate model names"),
])
def test_panel_field_errors_name_file_and_field(run, tmp_path, edit, field):
    bad = tmp_path / "panel.toml"
    bad.write_text(edit(GOOD_ENTRY))
    usage_error(run(f"--claims-panel={bad}"), str(bad), field)


def test_good_panel_file_runs(run, tmp_path):
    good = tmp_path / "panel.toml"
    good.write_text(GOOD_ENTRY)
    run(f"--claims-panel={good}").assert_outcomes(passed=1)


def test_panel_geometry_that_disagrees_with_the_model_errors_every_test(run, tmp_path):
    """d_model = 999 (the loaded model has 64) must not feed a regression: the tests error, naming the field."""
    bad = tmp_path / "panel.toml"
    bad.write_text(GOOD_ENTRY.replace("d_model = 64", "d_model = 999"))
    res = run(f"--claims-panel={bad}")
    res.assert_outcomes(errors=1)
    res.stdout.fnmatch_lines(["*PanelMismatch*d_model = 999 in the panel, 64 in the loaded model*"])


def test_measurement_cache_that_is_a_file(run, tmp_path):
    f = tmp_path / "cachefile"
    f.write_text("x")
    usage_error(run("--claims-panel", "synthetic", f"--claims-cache={f}"), "--claims-cache", "not a directory")


# --- a user's own models and texts on the command line (issue 14) ---------------------------------

def test_claims_model_missing_file(run, tmp_path):
    usage_error(run("--claims-model", str(tmp_path / "nope.gguf")), "--claims-model", "no such file or directory")


def test_claims_model_directory_without_config(run, tmp_path):
    (tmp_path / "weights").mkdir()
    usage_error(run("--claims-model", str(tmp_path / "weights")), "--claims-model", "without config.json")


def test_claims_model_misspelt_override_suggests_the_field(run):
    usage_error(run("--claims-model", "org/model@v1,laers=3"), "--claims-model", "unknown override 'laers'",
                "did you mean layers")


def test_claims_model_not_a_path_nor_a_hub_id(run):
    usage_error(run("--claims-model", "what is this?"), "--claims-model", "nor a hub id")


def test_claims_model_name_clash_with_the_panel(run):
    usage_error(run("--claims-panel", "synthetic", "--claims-model", "org/model,name=synthetic-llama"),
                "already in the panel", "name=")


def test_cache_and_no_cache_contradict(run, tmp_path):
    usage_error(run("--claims-panel", "synthetic", "--claims-cache", str(tmp_path / "c"), "--claims-no-cache"),
                "--claims-cache and --claims-no-cache contradict")


@pytest.mark.parametrize("content, fragment", [(None, "--claims-corpus"), ("", "--claims-corpus"),
                                               ("\n\n  \n", "--claims-corpus")])
def test_claims_corpus_missing_or_empty(run, tmp_path, content, fragment):
    path = tmp_path / "texts.txt"
    if content is not None:
        path.write_text(content)
    usage_error(run("--claims-panel", "synthetic", "--claims-models", "synthetic-llama", "--claims-corpus", str(path)),
                fragment)
