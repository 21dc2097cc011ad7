"""Run a claims selection in a pytest subprocess and compare the verdict JSON it writes.

Used by the scale-out tests (serial vs ``-n 2`` vs shards + merge): ``run_claims`` returns the
parsed ``claims.json``; ``canonical`` drops what legitimately differs between runs of the same
claims (the node id's xdist-group suffix, the command line, the report's row order).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_claims(target: Path | str, out: Path, *args: str, env: dict | None = None, timeout: int = 900) -> dict:
    """``pytest <target> <args>`` writing its report to ``out``; exit 0 or 1 (refuted claims fail)."""
    cmd = [sys.executable, "-m", "pytest", str(target), "-p", "no:cacheprovider", "-q",
           "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "--claims-report-dir", str(out), *args]
    res = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads((out / "claims.json").read_text())


def merge(shards: list[Path], out: Path) -> dict:
    """``python -m lmclaims merge <shards> -o <out>`` and the merged document."""
    subprocess.run([sys.executable, "-m", "lmclaims", "merge", *map(str, shards), "-o", str(out)], check=True,
                   cwd=ROOT)
    return json.loads(out.read_text())


def canonical(doc: dict) -> list[dict]:
    """The verdicts, sorted by key, without the fields that name how the run was launched."""
    drop = {"nodeid", "command", "index"}
    return sorted(({k: v for k, v in row.items() if k not in drop} for row in doc["verdicts"]),
                  key=lambda row: row["key"])
