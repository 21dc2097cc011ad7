"""Where lmclaims keeps its caches: ``$LMCLAIMS_CACHE`` or ``~/.cache/lmclaims``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    root = Path(os.environ.get("LMCLAIMS_CACHE") or Path.home() / ".cache" / "lmclaims")
    root.mkdir(parents=True, exist_ok=True)
    return root
