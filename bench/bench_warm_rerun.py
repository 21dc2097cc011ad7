"""Cold vs warm wall time of the default ``pytest claims/``, measured in one run (issue 15).

    python bench/bench_warm_rerun.py                 # ~12 min on the 2-core machine
    python bench/bench_warm_rerun.py -- -k kleiber   # extra pytest arguments after --

Both runs use one fresh, empty measurement cache (``--claims-cache <tmp>``): the first run fills it
(cold: every probe, fit, fine-tune and training run computed), the second reads it (warm). The
dequantised fp32 weights stay where they are (``$LMCLAIMS_CACHE/fp32``) and are shared by both
runs, so neither pays the one-off GGUF conversion. Each run writes its own report; the script checks
that both runs recorded the same verdicts (status, estimate, interval), prints both wall times and
warm / cold, and, with ``--durations``, the slowest cold and warm tests (where a cold run goes, and
what a warm run still spends).
Exit status 1 when the verdicts differ.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cache: Path, report: Path, extra: list[str], durations: int) -> tuple[float, int, str]:
    cmd = [sys.executable, "-m", "pytest", "claims/", "-q", "-p", "no:cacheprovider", "--claims-cache", str(cache),
           "--claims-report-dir", str(report), f"--durations={durations}", *extra]
    env = {k: v for k, v in os.environ.items() if k != "CI"}          # the default (dev) profile
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, res.returncode, res.stdout


def verdicts(report: Path) -> dict:
    doc = json.loads((report / "claims.json").read_text())
    return {v["key"]: (v["status"], v["evidence"].get("estimate"), v["evidence"].get("confidence_interval"))
            for v in doc["verdicts"]}


def slowest(stdout: str, n: int) -> list[str]:
    lines = stdout.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if "slowest" in l and "durations" in l)
    except StopIteration:
        return []
    return [l for l in lines[start + 1:start + 1 + n] if l.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--durations", type=int, default=12, help="slowest warm tests to print")
    ap.add_argument("--keep", metavar="DIR", help="use (and keep) this new directory instead of a temporary one")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args(argv)
    if args.keep and Path(args.keep).exists() and any(Path(args.keep).iterdir()):
        ap.error(f"--keep {args.keep}: the directory must be new or empty (the cold run needs an empty cache)")
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    with (contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory(prefix="lmclaims-bench-warm-")) as tmp:
        tmp = Path(tmp)
        cold_s, cold_rc, cold_out = run(tmp / "cache", tmp / "cold", args.pytest_args, args.durations)
        warm_s, warm_rc, warm_out = run(tmp / "cache", tmp / "warm", args.pytest_args, args.durations)
        same = verdicts(tmp / "cold") == verdicts(tmp / "warm")
        n = len(verdicts(tmp / "warm"))
    print(f"pytest claims/ {' '.join(args.pytest_args)} (exit codes: cold {cold_rc}, warm {warm_rc}; "
          "1 = refuted claims, by design)")
    print(f"cold  {cold_s:8.1f} s   (empty measurement cache; fp32 weights shared)")
    print(f"warm  {warm_s:8.1f} s   (same cache, re-run)")
    print(f"warm / cold = {warm_s / cold_s:.1%}   (target <= 10%)")
    print(f"verdicts identical cold vs warm: {same} ({n} verdicts)")
    print(f"load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
          if Path("/proc/loadavg").exists() else "")
    for label, out in (("cold", cold_out), ("warm", warm_out)):
        print(f"slowest {label} tests:")
        for line in slowest(out, args.durations):
            print("  " + line)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
