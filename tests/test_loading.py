"""Loading paths and their errors: GGUF sha256, unknown models, hub path, fingerprints."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest
import torch

from lmclaims.models import gguf_files
from lmclaims.models.gguf_files import CorruptModel, ModelUnavailable
from lmclaims.models.loading import fingerprint, load_model
from lmclaims.models.panel import PanelEntry, UnknownModel, load_panel, select
from tests.real_models import entry

pytest_plugins = ["pytester"]


def _entry(**kw):
    base = dict(name="x", lab="l", family="f", arch="llama", params=1, layers=1, d_model=1, heads=1, kv_heads=1,
                vocab=1)
    base.update(kw)
    return PanelEntry(**base)


def test_sha256_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + b"\0" * 60)
    e = _entry(source="gguf", gguf={"file": "m.gguf", "size": 64, "sha256": "0" * 64, "parts": []})
    monkeypatch.setattr(gguf_files, "part_paths", lambda entry: [f])
    with pytest.raises(CorruptModel, match="sha256"):
        gguf_files.gguf_file(e)


def test_size_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "m.gguf"
    f.write_bytes(b"x" * 10)
    e = _entry(source="gguf", gguf={"file": "m.gguf", "size": 64, "sha256": "0" * 64, "parts": []})
    monkeypatch.setattr(gguf_files, "part_paths", lambda entry: [f])
    with pytest.raises(CorruptModel, match="bytes"):
        gguf_files.gguf_file(e)


def test_corrupt_real_chunk_detected(tmp_path, monkeypatch):
    """A copy of a real chunked model with one flipped byte fails verification on assembly."""
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path / "cache"))
    real = entry("gemma-3-270m")
    try:
        parts = gguf_files.part_paths(real)
    except ModelUnavailable as exc:
        pytest.skip(str(exc))
    copies = []
    for i, p in enumerate(parts):
        c = tmp_path / f"part{i}"
        c.write_bytes(p.read_bytes())
        copies.append(c)
    with open(copies[-1], "r+b") as fh:
        fh.seek(1000)
        b = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([b[0] ^ 0xFF]))
    monkeypatch.setattr(gguf_files, "part_paths", lambda entry: copies)
    with pytest.raises(CorruptModel, match="sha256"):
        gguf_files.gguf_file(real)


def test_missing_distribution_says_what_to_install():
    e = _entry(source="gguf", requirements=("no-such-dist-xyz==1.0",),
               gguf={"file": "a.gguf", "size": 1, "sha256": "0" * 64,
                     "parts": [{"dist": "no-such-dist-xyz", "version": "1.0", "path": "a.gguf"}]})
    with pytest.raises(ModelUnavailable, match=r"pip install --no-deps no-such-dist-xyz==1.0"):
        gguf_files.gguf_file(e)


def test_unknown_model_glob_is_an_error_with_suggestions():
    with pytest.raises(UnknownModel, match="did you mean smollm2-135m-instruct"):
        select(load_panel("offline"), ["smollm2-135m-instruc"])


def test_unknown_model_is_a_skip_with_reason(pytester):
    """--claims-models naming a model that is not installed gives a skip whose reason has the command."""
    pytester.makepyfile(textwrap.dedent("""
        def test_needs_model(model):
            assert model is not None
    """))
    panel = pytester.path / "p.toml"
    panel.write_text(textwrap.dedent("""
        [[model]]
        name = "ghost"
        lab = "x"
        family = "x"
        arch = "llama"
        params = 1
        layers = 1
        d_model = 1
        heads = 1
        kv_heads = 1
        vocab = 1
        requirements = ["ghost-weights==9.9"]
        [model.gguf]
        file = "ghost.gguf"
        size = 1
        sha256 = "00"
        parts = [{ dist = "ghost-weights", version = "9.9", path = "ghost.gguf" }]
    """))
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pytester.syspathinsert(root)
    res = pytester.runpytest(f"--claims-panel={panel}", "-rs", "-p", "no:cacheprovider")
    res.assert_outcomes(skipped=1)
    res.stdout.fnmatch_lines(["*ghost*pip install --no-deps ghost-weights==9.9*"])


def test_hub_path_loads_a_saved_model_without_network(tmp_path, monkeypatch):
    """The hub loader is from_pretrained(id, revision): exercised on a tiny model saved locally."""
    from lmclaims.models.synthetic import build_synthetic
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tok = build_synthetic("llama", seed=3)
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    syn = next(e for e in load_panel("synthetic") if e.name == "synthetic-llama")
    hub = dataclasses.replace(syn, source="hub", synthetic=None, hub={"id": str(tmp_path / "tiny"), "revision": None})
    lm = load_model(hub, device="cpu")
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids).logits, model(ids).logits)
    assert lm.info["weights_from"].startswith("hub ")


def test_hub_model_without_network_is_unavailable_with_command(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    e = next(x for x in load_panel("hub") if x.name.startswith("pythia-70m"))
    with pytest.raises(ModelUnavailable, match="hub"):
        load_model(e, device="cpu")


def test_fingerprint_is_stable_and_distinguishes_models():
    a, b = entry("smollm2-135m-instruct"), entry("gemma-3-270m")
    assert fingerprint(a) == fingerprint(a)
    assert fingerprint(a) != fingerprint(b)
    # a different sha256 for the same name is a different model
    a2 = dataclasses.replace(a, gguf={**a.gguf, "sha256": "f" * 64})
    assert fingerprint(a2) != fingerprint(a)
    # stable across processes (no id()/hash randomisation)
    code = ("from lmclaims.models.loading import fingerprint; from tests.real_models import entry; "
            "print(fingerprint(entry('smollm2-135m-instruct')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == fingerprint(a)


def test_cuda_request_without_cuda_is_unavailable():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelUnavailable, match="CUDA"):
        load_model(entry("smollm2-135m-instruct"), device="cuda")


def test_over_long_window_is_a_clear_error():
    from lmclaims.models.synthetic import build_synthetic  # noqa: F401
    syn = next(e for e in load_panel("synthetic") if e.name == "synthetic-gpt2")
    lm = load_model(syn, device="cpu")
    mp = lm.max_positions
    with pytest.raises(ValueError, match="exceeds"):
        lm.encode("hello", max_tokens=mp + 1)


def test_one_gguf_parse_reuses_the_reader_and_restores_the_class(tmp_path):
    """transformers builds a GGUFReader three times per load (config, tokenizer, tensors); inside
    ``one_gguf_parse`` the same path gives the same reader object, and the class is restored after."""
    gguf = pytest.importorskip("gguf")
    from lmclaims.models.loading import one_gguf_parse

    path = tmp_path / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint32("test.value", 7)
    w.add_tensor("t", __import__("numpy").zeros((2, 3), dtype="float32"))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    original = gguf.GGUFReader
    with pytest.raises(RuntimeError):
        with one_gguf_parse() as readers:
            a, b = gguf.GGUFReader(path), gguf.GGUFReader(path)
            assert a is b and len(readers) == 1
            assert int(a.fields["test.value"].parts[-1][0]) == 7
            raise RuntimeError("boom")            # restored on error too
    assert gguf.GGUFReader is original
    assert gguf.GGUFReader(path) is not gguf.GGUFReader(path)
