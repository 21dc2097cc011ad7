"""On-disk cache of measurements: safetensors arrays + JSON metadata, never pickle.

An entry is keyed by the full provenance of a measurement:
``{model fingerprint, corpus view hash, probe name + version + params, dtype, device type,
intervention + params, lmclaims cache schema}``; the key is the sha256 of that JSON (sorted keys).
Files: ``<root>/measurements/<key[:2]>/<key>.safetensors`` and ``<key>.json``. The JSON repeats
the full key payload, the array names/shapes and a checksum of the tensor file; a load that finds
a mismatch (truncated file, different payload = stale entry, unreadable JSON) logs a warning,
deletes the entry and reports a miss so the caller recomputes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from lmclaims.paths import cache_root

log = logging.getLogger(__name__)
CACHE_SCHEMA = 1


class StaleCacheWarning(UserWarning):
    pass


def cache_key(payload: dict) -> str:
    blob = json.dumps({**payload, "cache_schema": CACHE_SCHEMA}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class MeasurementCache:
    """``get(payload) -> dict[str, ndarray] | None`` and ``put(payload, arrays)``."""

    def __init__(self, root: str | Path | None = None, *, enabled: bool = True):
        self.root = Path(root) if root else cache_root() / "measurements"
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.safetensors", d / f"{key}.json"

    def _drop(self, key: str, why: str) -> None:
        warnings.warn(f"measurement cache entry {key[:12]} is {why}; recomputing", StaleCacheWarning, stacklevel=3)
        for p in self._paths(key):
            p.unlink(missing_ok=True)

    def get(self, payload: dict) -> dict[str, np.ndarray] | None:
        if not self.enabled:
            return None
        key = cache_key(payload)
        tpath, jpath = self._paths(key)
        if not (tpath.exists() and jpath.exists()):
            self.misses += 1
            return None
        try:
            meta = json.loads(jpath.read_text())
            blob = tpath.read_bytes()
            if meta.get("sha256") != hashlib.sha256(blob).hexdigest():
                self._drop(key, "corrupt (checksum mismatch)")
                self.misses += 1
                return None
            if json.loads(json.dumps(meta.get("payload"), sort_keys=True, default=str)) != \
                    json.loads(json.dumps(payload, sort_keys=True, default=str)):
                self._drop(key, "stale (provenance differs)")
                self.misses += 1
                return None
            arrays = load_file(str(tpath))
        except Exception as exc:  # unreadable JSON, truncated safetensors, ...
            self._drop(key, f"unreadable ({type(exc).__name__}: {exc})")
            self.misses += 1
            return None
        self.hits += 1
        return arrays

    def put(self, payload: dict, arrays: dict[str, np.ndarray]) -> None:
        if not self.enabled:
            return
        key = cache_key(payload)
        tpath, jpath = self._paths(key)
        tpath.parent.mkdir(parents=True, exist_ok=True)
        tmp = tpath.with_name(tpath.name + f".tmp{os.getpid()}")
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, tpath)
        meta = {"payload": payload, "sha256": digest,
                "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()}}
        jtmp = jpath.with_name(jpath.name + f".tmp{os.getpid()}")
        jtmp.write_text(json.dumps(meta, sort_keys=True, default=str))
        os.replace(jtmp, jpath)
