"""Digests of what turns into numbers: cached weight directories, local weights, tokenizers, geometry.

- ``write_manifest(dir)`` / ``verify_manifest(dir)``: ``lmclaims-digest.json`` lists every file of a
  cached directory (the fp32 copy of a GGUF model) with its size and full sha256; a load verifies
  all of them first. Cost measured on this 2-core machine (shared): sha256 runs at ~410 MB/s, so the
  fp32 SmolLM2-135M (538 MB) costs ~1.3 s per load and Gemma-3-270M (1.07 GB) ~2.6 s; the read also
  warms the page cache the load then uses. A sampled hash would miss a single flipped byte, which
  is exactly the fault this guards against, so the hash is full.
- ``weights_digest(dir)``: one sha256 over the weight files of a local model directory or hub
  snapshot (name + content digest of each). In a Hugging Face cache snapshot the files are links to
  blobs named by their sha256, so the link target *is* the digest and nothing is read; other files
  are hashed in full.
- ``tokenizer_digest(tok)``: sha256 of the tokenizer's full serialised definition (fast tokenizers:
  ``backend_tokenizer.to_str()``; otherwise the sorted vocabulary and special tokens) plus its class.
- ``check_geometry(entry, model)``: panel metadata against the loaded config.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

MANIFEST = "lmclaims-digest.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: panel ``params`` may be a rounded count: a relative difference up to 0.5 % (three significant
#: figures, e.g. "135M") is rounding; anything larger is a wrong entry (design decision, not tuned).
PARAMS_RTOL = 0.005


class PanelMismatch(ValueError):
    """The panel's metadata for a model disagrees with the model that loaded."""


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: str | Path) -> dict:
    """Record size and sha256 of every file under ``directory`` in ``lmclaims-digest.json``."""
    directory = Path(directory)
    files = {str(p.relative_to(directory)): {"size": p.stat().st_size, "sha256": sha256_file(p)}
             for p in _files(directory)}
    doc = {"schema": 1, "files": files}
    (directory / MANIFEST).write_text(json.dumps(doc, sort_keys=True, indent=1))
    return doc


def verify_manifest(directory: str | Path) -> list[str]:
    """Problems found checking ``directory`` against its manifest (empty list = intact).

    A file this user may not read raises ``PermissionError`` (an unreadable shared copy is not corrupt).

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "w").write_bytes(b"abc")
    >>> _ = write_manifest(d); verify_manifest(d)
    []
    >>> _ = (d / "w").write_bytes(b"abd"); verify_manifest(d)
    ['w: sha256 differs from the recorded digest']
    """
    directory = Path(directory)
    try:
        files = json.loads((directory / MANIFEST).read_text())["files"]
    except PermissionError:
        raise                 # not ours to judge (or delete): the caller decides
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{MANIFEST} missing or unreadable ({type(exc).__name__})"]
    problems = []
    present = {str(p.relative_to(directory)) for p in _files(directory)}
    for extra in sorted(present - set(files)):
        problems.append(f"{extra}: not in the manifest")
    for rel, want in sorted(files.items()):
        p = directory / rel
        if rel not in present:
            problems.append(f"{rel}: missing")
        elif p.stat().st_size != want["size"]:
            problems.append(f"{rel}: {p.stat().st_size} bytes, recorded {want['size']}")
        elif sha256_file(p) != want["sha256"]:
            problems.append(f"{rel}: sha256 differs from the recorded digest")
    return problems


def _content_digest(path: Path) -> str:
    target = Path(os.path.realpath(path))
    if path.is_symlink() and _HEX64.match(target.name):    # HF cache blob: named by its sha256
        return target.name
    return sha256_file(target)


_DIGESTS: dict = {}      # (files' names, sizes, mtimes) -> digest: one hash per process and unchanged files


def weights_digest(directory: str | Path) -> str | None:
    """sha256 over (relative name, content sha256) of the weight files under ``directory``; None if none."""
    directory = Path(directory)
    weights = [p for p in sorted(directory.rglob("*")) if p.name.endswith(WEIGHT_SUFFIXES) and p.is_file()]
    if not weights:
        return None
    stat = tuple((str(p.relative_to(directory)), str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns)
                 for p in weights)
    if stat in _DIGESTS:
        return _DIGESTS[stat]
    h = hashlib.sha256()
    for p in weights:
        h.update(f"{p.relative_to(directory)}\0{_content_digest(p)}\n".encode())
    _DIGESTS[stat] = h.hexdigest()
    return _DIGESTS[stat]


def tokenizer_digest(tok) -> str:
    """sha256 of everything that decides the token ids: the serialised tokenizer and its class."""
    h = hashlib.sha256(type(tok).__name__.encode())
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tok.get_vocab().items()), ensure_ascii=False).encode())
    special = {k: str(v) for k, v in sorted(getattr(tok, "special_tokens_map", {}).items())}
    h.update(json.dumps({"special": special, "bos": getattr(tok, "bos_token_id", None),
                         "add_bos": getattr(tok, "add_bos_token", None)}, sort_keys=True, default=str).encode())
    return h.hexdigest()


def loaded_geometry(model) -> dict:
    """layers, d_model, heads, kv_heads, vocab (embedding rows) and unique parameter count of ``model``."""
    cfg = model.config
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    heads = int(getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head"))
    return {
        "layers": int(getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer")),
        "d_model": int(getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd")),
        "heads": heads,
        "kv_heads": int(getattr(cfg, "num_key_value_heads", None) or heads),
        "vocab": int(model.get_input_embeddings().weight.shape[0]),
        "params": int(sum(p.numel() for p in model.parameters())),   # tied matrices counted once
    }


def check_geometry(entry, model, *, where: str = "") -> dict:
    """Raise ``PanelMismatch`` listing every field where the panel disagrees with the loaded model."""
    got = loaded_geometry(model)
    bad = [f"{k} = {getattr(entry, k)} in the panel, {got[k]} in the loaded model"
           for k in ("layers", "d_model", "heads", "kv_heads", "vocab") if getattr(entry, k) != got[k]]
    if abs(entry.params - got["params"]) > PARAMS_RTOL * got["params"]:
        bad.append(f"params = {entry.params} in the panel, {got['params']} in the loaded model "
                   f"(more than {PARAMS_RTOL:.1%} apart)")
    if bad:
        raise PanelMismatch(f"{entry.name}: panel entry{where} does not match the loaded model: " + "; ".join(bad)
                            + ". Fix the panel entry (its metadata feeds the claims' regressions).")
    return got
