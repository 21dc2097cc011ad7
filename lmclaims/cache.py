"""On-disk cache of measurements: safetensors arrays + JSON metadata, never pickle.

An entry is keyed by the full provenance of a measurement:
``{model fingerprint, corpus view hash, probe name + version + params, dtype, device type,
intervention + params, lmclaims cache schema}``; the key is the sha256 of that JSON (sorted keys).
Files: ``<root>/measurements/<key[:2]>/<key>.safetensors`` and ``<key>.json``. The JSON repeats
the full key payload, the array names/shapes and a checksum of the tensor file; a load that finds
a mismatch (truncated file, different payload = stale entry, unreadable JSON) logs a warning,
deletes the entry and reports a miss so the caller recomputes.

Shared and read-only caches: an entry this user may not read (PermissionError) is a miss with a
warning and is never deleted; nothing is deleted from a directory the user cannot write. When an
entry cannot be written (read-only ``$LMCLAIMS_CACHE``, full disk) the result is kept in memory for
the rest of the session and one ``ReadOnlyCacheWarning`` says so. Files are written group-readable
(``g+r`` added to the umask's mode) so a team can share one cache.

Non-finite arrays (NaN/inf) are refused by ``put`` (``NonFiniteMeasurement``): a result that
overflowed is an error to report, never a value to serve later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors.numpy import load, save_file

from lmclaims.paths import cache_root

log = logging.getLogger(__name__)
CACHE_SCHEMA = 1


class StaleCacheWarning(UserWarning):
    pass


class ReadOnlyCacheWarning(UserWarning):
    """The cache cannot be written: results are kept in memory for this session only."""


class NonFiniteMeasurement(FloatingPointError):
    """A measurement contains NaN or inf: reported as an error, never cached."""


def check_finite(arrays: dict[str, np.ndarray], what: str = "measurement") -> None:
    """Raise ``NonFiniteMeasurement`` naming the arrays with NaN/inf (floating and complex arrays only).

    >>> try:
    ...     check_finite({"a": np.array([1.0, np.inf]), "n": np.array([3])}, "probe x")
    ... except NonFiniteMeasurement as exc:
    ...     print(exc)
    probe x: non-finite values in a (1 of 2: 1 inf, 0 NaN); not cached
    """
    bad = []
    for k, v in arrays.items():
        v = np.asarray(v)
        if v.dtype.kind in "fc" and not np.isfinite(v).all():
            n_inf, n_nan = int(np.isinf(v).sum()), int(np.isnan(v).sum())
            bad.append(f"{k} ({n_inf + n_nan} of {v.size}: {n_inf} inf, {n_nan} NaN)")
    if bad:
        raise NonFiniteMeasurement(f"{what}: non-finite values in {', '.join(bad)}; not cached")


def _share(path: Path) -> None:
    """Add group read permission (safetensors and tempfile-style writers may create 0600 files)."""
    try:
        path.chmod(path.stat().st_mode | 0o040)
    except OSError:
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
        self.memory: dict[str, dict[str, np.ndarray]] = {}   # entries the disk could not take
        self.session: dict[str, dict[str, np.ndarray]] = {}  # derived measurements made or read this session
        self.read_only_reason: str | None = None

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.safetensors", d / f"{key}.json"

    def _drop(self, key: str, why: str) -> None:
        paths = self._paths(key)
        writable = os.access(paths[0].parent, os.W_OK)
        warnings.warn(f"measurement cache entry {key[:12]} is {why}; recomputing"
                      + ("" if writable else " (cache not writable: entry left in place)"),
                      StaleCacheWarning, stacklevel=3)
        if writable:
            for p in paths:
                try:
                    p.unlink(missing_ok=True)
                except OSError:
                    pass

    def get(self, payload: dict) -> dict[str, np.ndarray] | None:
        if not self.enabled:
            return None
        key = cache_key(payload)
        if key in self.memory:
            self.hits += 1
            return {k: v.copy() for k, v in self.memory[key].items()}
        tpath, jpath = self._paths(key)
        if not (tpath.exists() and jpath.exists()):
            self.misses += 1
            return None
        try:
            meta = json.loads(jpath.read_text())
            blob = tpath.read_bytes()
        except PermissionError as exc:   # someone else's entry: a miss, never deleted
            warnings.warn(f"measurement cache entry {key[:12]} is not readable by this user ({exc}); "
                          "recomputing, entry left in place", StaleCacheWarning, stacklevel=2)
            self.misses += 1
            return None
        try:
            if meta.get("sha256") != hashlib.sha256(blob).hexdigest():
                self._drop(key, "corrupt (checksum mismatch)")
                self.misses += 1
                return None
            if json.loads(json.dumps(meta.get("payload"), sort_keys=True, default=str)) != \
                    json.loads(json.dumps(payload, sort_keys=True, default=str)):
                self._drop(key, "stale (provenance differs)")
                self.misses += 1
                return None
            arrays = load(blob)
            check_finite(arrays, f"cache entry {key[:12]}")
        except Exception as exc:  # unreadable JSON, truncated safetensors, non-finite values, ...
            self._drop(key, f"unreadable ({type(exc).__name__}: {exc})")
            self.misses += 1
            return None
        self.hits += 1
        return arrays

    def derived(self, payload: dict, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """A derived measurement: arrays that a claim computes from models and settings (a fine-tune's
        residual norms with its loss curves, a fitted temperature, ...), cached like a probe's.

        ``payload`` is the full provenance (``{"derived": recipe, ...}``: input fingerprints, recipe
        settings, seed, code version); ``compute()`` runs only when no valid entry exists, and at most
        once per payload in a session (also with the cache disabled). Returned arrays are copies.
        """
        if "derived" not in payload:
            raise ValueError("a derived measurement's payload names its recipe: {'derived': name, ...}")
        key = cache_key(payload)
        if key not in self.session:
            arrays = self.get(payload)
            if arrays is None:
                from lmclaims import progress
                with progress.step(f"computing {payload['derived']} (derived measurement, cached afterwards)"):
                    arrays = {k: np.asarray(v) for k, v in compute().items()}
                if not arrays:
                    raise ValueError(f"derived measurement {payload['derived']!r} computed no arrays")
                self.put(payload, arrays)
            self.session[key] = arrays
        return {k: v.copy() for k, v in self.session[key].items()}

    def derived_json(self, payload: dict, compute: Callable[[], object]):
        """:meth:`derived` for a result that is a JSON value (records of a training run: loss curves,
        step counts, ...), stored as the UTF-8 bytes of its JSON text (no pickle). Floats round-trip
        exactly (``json`` writes ``repr``)."""
        def encoded():
            text = json.dumps(compute(), sort_keys=True, allow_nan=False)
            return {"json_utf8": np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()}
        # "format" keeps a JSON entry apart from an array entry of the same recipe and inputs
        return json.loads(self.derived({**payload, "format": "json"}, encoded)["json_utf8"].tobytes().decode("utf-8"))

    def put(self, payload: dict, arrays: dict[str, np.ndarray]) -> None:
        check_finite(arrays, f"probe {payload.get('probe', payload.get('derived', '?'))}")
        if not self.enabled:
            return
        key = cache_key(payload)
        if self.read_only_reason is None:
            try:
                self._write(key, payload, arrays)
                return
            except OSError as exc:
                self.read_only_reason = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"measurement cache {self.root} cannot be written ({self.read_only_reason}); "
                              "existing entries are still used, new results are kept in memory for this "
                              "session only", ReadOnlyCacheWarning, stacklevel=2)
        self.memory[key] = {k: np.array(v, copy=True) for k, v in arrays.items()}

    def _write(self, key: str, payload: dict, arrays: dict[str, np.ndarray]) -> None:
        tpath, jpath = self._paths(key)
        tpath.parent.mkdir(parents=True, exist_ok=True)
        tmp = tpath.with_name(tpath.name + f".tmp{os.getpid()}")
        jtmp = jpath.with_name(jpath.name + f".tmp{os.getpid()}")
        try:
            # reshape: np.ascontiguousarray makes a 0-d array 1-d; a scalar must come back as a scalar
            save_file({k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in arrays.items()}, str(tmp))
            digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
            _share(tmp)
            os.replace(tmp, tpath)
            meta = {"payload": payload, "sha256": digest,
                    "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()}}
            jtmp.write_text(json.dumps(meta, sort_keys=True, default=str))
            _share(jtmp)
            os.replace(jtmp, jpath)
        finally:
            for t in (tmp, jtmp):
                try:
                    t.unlink(missing_ok=True)
                except OSError:
                    pass
