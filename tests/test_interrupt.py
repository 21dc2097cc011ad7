"""Ctrl-C never leaves a wrong result (issue 13 items 1-2): SIGINT during a claim test, in a subprocess.

The previous complete claims.json / claims.html and the baseline stay byte-identical; the run
writes claims.partial.json ("complete": false, with the reason) in which the interrupted test is
not "passed"; ``--claims-update-baseline`` refuses to write from the interrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TOY = '''
import os, signal, time
from pathlib import Path
import numpy as np
import pytest
from lmclaims.stats import assertions

# Ctrl-C as in a terminal, whatever this run inherited: a run started in the background by a
# non-interactive shell (`cmd &`, nohup, some CI runners) inherits SIGINT *ignored*, and Python then
# keeps it ignored, so the interrupt under test would never arrive.
signal.signal(signal.SIGINT, signal.default_int_handler)

X = np.random.default_rng(0).normal(1.2, 0.1, 10)     # < 20 units: t interval, no resampling

@pytest.mark.claim("toy.fast")
def test_fast(verdict):
    verdict.record(assertions.above(X, 1.0), models="m1")

@pytest.mark.claim("toy.slow")
def test_slow(verdict):
    if os.environ.get("TOY_SLEEP"):
        Path("started").write_text("x")
        # a long measurement, interrupted here. In short sleeps: the kernel may hand SIGINT to any thread
        # (torch's OpenMP workers exist by now), and then one long time.sleep in the main thread is not
        # woken; the main thread raises KeyboardInterrupt at its next bytecode, as a real measurement would
        for _ in range(1200):
            time.sleep(0.1)
    verdict.record(assertions.above(X, 1.0), models="m1")
'''


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--claims-report-dir", "out",
            "--claims-baseline", "base.json", "--claims-update-baseline", *args]


def _env(**extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **extra}
    env.pop("TOY_SLEEP", None)
    env.update(extra)
    return env


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_keeps_the_last_complete_report_and_records_no_pass(tmp_path):
    (tmp_path / "test_toy.py").write_text(TOY)
    first = subprocess.run(_cmd(), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    out = tmp_path / "out"
    before = {name: (out / name).read_bytes() for name in ("claims.json", "claims.html")}
    base_before = (tmp_path / "base.json").read_bytes()

    proc = subprocess.Popen(_cmd(), cwd=tmp_path, env=_env(TOY_SLEEP="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 240
        while not (tmp_path / "started").exists():
            assert proc.poll() is None and time.time() < deadline, "the slow test never started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, stdout[-3000:]                     # pytest: interrupted
    for name, data in before.items():
        assert (out / name).read_bytes() == data, f"{name} was replaced by the interrupted run"
    assert (tmp_path / "base.json").read_bytes() == base_before, "the baseline was written from an interrupted run"
    partial = json.loads((out / "claims.partial.json").read_text())
    assert partial["complete"] is False and "interrupted" in partial["incomplete_reason"]
    outcome = {t["nodeid"]: t["outcome"] for t in partial["tests"]}
    assert outcome["test_toy.py::test_slow"] != "passed"
    assert outcome["test_toy.py::test_fast"] == "passed"
    assert [v["key"] for v in partial["verdicts"]] == ["toy.fast@corrected:m1"]
    assert "baseline NOT updated" in stdout and "INCOMPLETE RUN" in stdout

    again = subprocess.run(_cmd(), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0
    assert not (out / "claims.partial.json").exists(), "a complete run removes the stale partial report"
