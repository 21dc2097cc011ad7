"""lmclaims outside this repository: build the wheel, install it into a fresh virtual environment and
run a claim module that lives in a temporary directory with no conftest (issue 14, "Must show" 1).

The venv is created with ``--system-site-packages`` so that torch, transformers and the rest come from
this machine (nothing is downloaded: the machine has no network), and the wheel is installed into the
venv itself with ``--no-deps``. The venv's site-packages precede the system's, so the test asserts
that ``lmclaims`` -- code, panels and corpus -- is imported from the venv, not from this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CLAIM = textwrap.dedent('''
    """A user's own claim module: no conftest, only the installed plugin's fixtures."""
    import numpy as np
    import pytest

    from lmclaims.probes.residual import ResidualNorms
    from lmclaims.stats import assertions


    @pytest.mark.claim("user.residual_norm_grows", statement="the residual norm grows from the first to the "
                       "last block", paper="arXiv:0000.00000", quote="the residual stream grows with depth",
                       variant="corrected")
    def test_residual_norm_grows(model, measure, verdict):
        m = measure(model, [ResidualNorms()], max_texts=8)["residual_norms"]
        per_token = np.log(m["norm"][:, -1] / m["norm"][:, 0])          # last block vs embeddings
        per_text = np.bincount(m["text_index"], weights=per_token) / np.bincount(m["text_index"])
        verdict.record(assertions.above(per_text, 0.0), models=model.name)     # unit: text
''')


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return res


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    # build from a copy without build/ or *.egg-info: setuptools reuses an in-tree build/lib, so files
    # deleted from the source would otherwise still ship in the wheel
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "reports", ".venv",
                                                             ".whl", ".lmclaims-cache", "__pycache__", ".hypothesis"))
    res = _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                "--disable-pip-version-check", "-q", "-w", str(tmp / "dist")], cwd=tmp, env=env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("lmclaims-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("lmclaims/data/corpus/lmclaims-corpus-v1.jsonl", "lmclaims/data/panels/offline.toml",
                 "lmclaims/data/panels/synthetic.toml", "lmclaims/report/templates/report.html.j2",
                 "lmclaims/report/papers.toml", "lmclaims/templates/test_claim_template.py"):
        assert data in names, f"{data} not in the wheel"
    assert not any(n.startswith(("claims/", "tests/", "fixtures/")) for n in names)
    assert "lmclaims/plan.py" in names and "lmclaims/pytest_plugin/plan.py" in names
    res = _run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp / "venv")], cwd=tmp, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    py = tmp / "venv" / "bin" / "python"
    res = _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check", "-q",
                str(wheel)], cwd=tmp, env=env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return py


def test_wheel_runs_a_claim_outside_the_repo(venv, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LMCLAIMS_PANEL", "CI")}
    project = tmp_path / "my_project"
    project.mkdir()
    (project / "test_my_claim.py").write_text(CLAIM)
    where = _run([str(venv), "-c", "import lmclaims, lmclaims.corpus as c, lmclaims.models.panel as p; "
                  "print(lmclaims.__file__); print(c.DEFAULT_CORPUS); print(p.PANEL_DIR)"], cwd=project, env=env)
    assert where.returncode == 0, where.stderr
    venv_root = venv.parent.parent
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(venv_root.resolve()), (line, "imported from outside the venv")
    res = _run([str(venv), "-m", "pytest", "test_my_claim.py", "-p", "no:cacheprovider", "-q",
                "--claims-panel", "synthetic", "--claims-models", "synthetic-llama,synthetic-gpt2",
                "--claims-cache", str(tmp_path / "cache")], cwd=project, env=env)
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads((project / "reports" / "claims.json").read_text())
    assert (project / "reports" / "claims.html").is_file()
    assert sorted(m for v in doc["verdicts"] for m in v["models"]) == ["synthetic-gpt2", "synthetic-llama"]
    (claim,) = doc["claims"].values()
    assert claim["paper"] == "arXiv:0000.00000" and claim["quote"] == "the residual stream grows with depth"
    assert doc["corpus"]["origin"].startswith("lmclaims/data/corpus/")
    assert Path(doc["git"]["package_dir"]).resolve().is_relative_to(venv_root.resolve())
