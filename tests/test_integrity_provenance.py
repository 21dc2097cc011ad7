"""The recorded code provenance is that of the code that ran; an uncreatable cache root is not fatal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_commit_is_the_imported_packages_checkout_not_the_cwd(tmp_path):
    other = tmp_path / "other-checkout"
    other.mkdir()
    _git(other, "init", "-q")
    (other / "f").write_text("x")
    _git(other, "add", "f")
    _git(other, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "other")
    code = ("import json, sys; from lmclaims.paths import code_provenance; p = code_provenance(); "
            "p['imported'] = sorted(m for m in ('torch', 'transformers') if m in sys.modules); print(json.dumps(p))")
    out = subprocess.run([sys.executable, "-c", code], cwd=other, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": ROOT}).stdout
    prov = json.loads(out)
    assert prov["package_dir"] == os.path.join(os.path.realpath(ROOT), "lmclaims")
    assert prov["git_commit"] == _git(ROOT, "rev-parse", "HEAD") != _git(other, "rev-parse", "HEAD")
    # versions come from distribution metadata: filled in although torch/transformers were never imported
    assert prov["imported"] == []
    assert prov["versions"]["transformers"] and prov["versions"]["torch"]


def test_uncreatable_cache_root_is_used_read_only(tmp_path, monkeypatch):
    from lmclaims.cache import MeasurementCache, ReadOnlyCacheWarning
    from lmclaims.paths import cache_root, cache_writable

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LMCLAIMS_CACHE", str(blocker / "cache"))
    assert cache_root() == blocker / "cache" and not cache_writable()
    cache = MeasurementCache()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache.put({"probe": "p"}, {"x": np.arange(3.0)})
        cache.put({"probe": "q"}, {"x": np.arange(4.0)})
    assert [w.category for w in caught] == [ReadOnlyCacheWarning]
    np.testing.assert_array_equal(cache.get({"probe": "q"})["x"], np.arange(4.0))
