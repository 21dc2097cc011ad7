"""Where lmclaims keeps its caches (``$LMCLAIMS_CACHE`` or ``~/.cache/lmclaims``) and which code ran.

``cache_root()`` creates the directory when it can; a shared read-only cache that already exists
(or cannot be created) is still returned — the caches then serve what is there and keep new
results in memory (``lmclaims.cache``). ``cache_writable()`` says which case applies.

``code_provenance()`` records the code that actually ran: the git commit of the checkout that
holds the *imported* ``lmclaims`` package (not of the current directory: a second checkout
running ``pytest`` imports the editable install's code), whether it has uncommitted changes,
the package directory, and the versions of the libraries that turn weights into numbers — read
from the installed distributions' metadata, so they are filled in even in a process (the xdist
controller) that never imported torch or transformers.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
from pathlib import Path

VERSIONED = ("lmclaims", "torch", "transformers", "tokenizers", "safetensors", "gguf", "numpy", "scipy",
             "statsmodels", "accelerate")


def cache_root() -> Path:
    root = Path(os.environ.get("LMCLAIMS_CACHE") or Path.home() / ".cache" / "lmclaims")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:      # read-only shared location: used read-only by the caches
        pass
    return root


def cache_writable(root: Path | None = None) -> bool:
    """True when new cache entries can be created under ``root`` (default ``cache_root()``)."""
    root = root or cache_root()
    return root.is_dir() and os.access(root, os.W_OK | os.X_OK)


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _installed_commit() -> dict:
    """pip's record of a VCS or directory install of lmclaims (PEP 610 ``direct_url.json``), if any."""
    try:
        raw = md.distribution("lmclaims").read_text("direct_url.json")
        info = json.loads(raw) if raw else {}
    except (md.PackageNotFoundError, ValueError):
        return {}
    return {"install_url": info.get("url"), "install_commit": (info.get("vcs_info") or {}).get("commit_id"),
            "editable": bool((info.get("dir_info") or {}).get("editable"))}


def versions(names: tuple[str, ...] = VERSIONED) -> dict:
    """Installed versions by distribution metadata (no imports); None for what is not installed.

    >>> v = versions(("numpy", "no-such-distribution-xyz")); v["no-such-distribution-xyz"] is None
    True
    """
    out = {}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def code_provenance() -> dict:
    """{git_commit, git_dirty, package_dir, source_root, install..., versions} of the code that ran."""
    import lmclaims

    package_dir = Path(lmclaims.__file__).resolve().parent
    top = _git(package_dir, "rev-parse", "--show-toplevel")
    commit = _git(package_dir, "rev-parse", "HEAD") if top else None
    dirty = None
    if top:
        status = _git(Path(top), "status", "--porcelain", "--untracked-files=no")
        dirty = None if status is None else bool(status)
    return {"git_commit": commit, "git_dirty": dirty, "package_dir": str(package_dir), "source_root": top,
            **_installed_commit(), "versions": versions()}
