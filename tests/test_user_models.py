"""A user's own texts and models on the command line (issue 14, "Must show" 2 and 3).

* ``--claims-corpus`` with a plain-text file, ``--claims-model`` with a local ``.gguf`` file and with
  a local Hugging Face directory: the report (claims.json and claims.html) shows each model with its
  fingerprint and origin and the corpus with its sha256.
* The same claim through the GGUF path and through the hub path on a ``save_pretrained`` directory of
  the same (dequantised, fp32) weights gives identical measurements, on the real offline SmolLM2.
* A local directory's fingerprint hashes the weights: moving the directory keeps it, changing one
  weight changes it (a tiny synthetic model, saved to disk).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lmclaims.models.cli_models import entry_from_spec
from lmclaims.models.gguf_files import ModelUnavailable, part_paths
from lmclaims.models.loading import fingerprint, load_model
from tests import real_models

# Claim module run by the user: dumps every probe array per model (so the test can compare the two
# paths array by array) and records one verdict per model.
CLAIM = '''
import os
from pathlib import Path

import numpy as np
import pytest

from lmclaims.probes.base import per_text
from lmclaims.probes.residual import ResidualNorms
from lmclaims.stats.assertions import above


@pytest.mark.claim("user.norm_growth", paper="arXiv:0000.00000", quote="norms grow", variant="corrected")
def test_norm_growth(model, measure, verdict):
    view = measure.view()
    rows = measure(model, [ResidualNorms()], view=view)["residual_norms"]
    np.savez(Path(os.environ["DUMP_DIR"]) / f"{model.name}.npz", **rows)
    growth = per_text(np.log(rows["norm"][:, -1] / rows["norm"][:, 1]), rows["text_index"], len(view))
    verdict.record(above(growth, 0.0, unit="text", name="log norm growth"), models=model.name)
'''

# Six short texts written for this test (one per blank-line block): a user's own corpus.
TEXTS = """The river had been rising for three days, and by the fourth morning the lower road was gone.
Farmers moved their animals to the ridge and waited.

A good recipe for bread needs only flour, water, salt and time; the rest is patience and a warm
kitchen on a cold afternoon.

The committee met at noon to discuss the budget. Nobody agreed on anything, but the coffee was good.

Light from the nearest star takes a little over four years to reach us, so we see it as it was.

She opened the old letter carefully. The ink had faded, but the handwriting was unmistakably his.

Prime numbers have fascinated mathematicians for centuries because they are simple to define and
yet remarkably hard to predict.
"""


def _run(project: Path, *args: str) -> tuple[dict, str, Path]:
    dump = project / "dump"
    dump.mkdir(parents=True, exist_ok=True)
    (project / "test_user_claim.py").write_text(CLAIM)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LMCLAIMS_PANEL", "CI")}
    env["DUMP_DIR"] = str(dump)
    cmd = [sys.executable, "-m", "pytest", "test_user_claim.py", "-q", "-p", "no:cacheprovider",
           "--claims-cache", str(project / "cache"), *args]
    res = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads((project / "reports" / "claims.json").read_text())
    return doc, (project / "reports" / "claims.html").read_text(), dump


@pytest.fixture(scope="module")
def smollm2_files(tmp_path_factory):
    """(the installed GGUF file, a save_pretrained directory of the same weights dequantised to fp32)."""
    entry = real_models.entry("smollm2-135m-instruct")
    try:
        (gguf,) = part_paths(entry)
    except ModelUnavailable as exc:
        pytest.skip(str(exc))
    lm = real_models.get("smollm2-135m-instruct")
    out = tmp_path_factory.mktemp("smollm2_hf") / "smollm2-135m-saved"
    lm.model.save_pretrained(out, safe_serialization=True)
    lm.tokenizer.save_pretrained(out)
    return gguf, out


def test_user_corpus_gguf_and_directory_in_the_report_and_paths_agree(smollm2_files, tmp_path):
    gguf, saved = smollm2_files
    corpus = tmp_path / "my_texts.txt"
    corpus.write_text(TEXTS)
    doc, page, dump = _run(tmp_path / "project", "--claims-corpus", str(corpus),
                           "--claims-model", f"{gguf},name=smollm2-gguf",
                           "--claims-model", f"{saved},name=smollm2-dir")

    # the corpus: the user's file, its sha256, its six blank-line blocks
    sha = hashlib.sha256(corpus.read_bytes()).hexdigest()
    assert doc["corpus"]["sha256"] == sha and doc["corpus"]["n_texts"] == 6
    assert doc["corpus"]["origin"] == str(corpus.resolve()) and sha in page

    # the models: fingerprints, origins and inferred metadata in claims.json and on the page
    models = doc["models"]
    assert set(models) == {"smollm2-gguf", "smollm2-dir"}
    assert models["smollm2-gguf"]["origin"] == str(Path(gguf).resolve())
    assert models["smollm2-dir"]["origin"] == str(saved.resolve())
    for name, m in models.items():
        assert m["fingerprint"].startswith(f"{name}@") and m["fingerprint"] in page
        assert m["origin"] in page
        assert (m["layers"], m["d_model"], m["heads"], m["kv_heads"], m["vocab"]) == (30, 576, 9, 3, 49152)
        assert m["bos"] is False                                # SmolLM2's tokenizer adds no BOS
    assert models["smollm2-gguf"]["fingerprint"] != models["smollm2-dir"]["fingerprint"]

    # the same weights through the GGUF path and the hub path: identical measurements, identical verdicts
    a, b = np.load(dump / "smollm2-gguf.npz"), np.load(dump / "smollm2-dir.npz")
    assert sorted(a.files) == sorted(b.files) and "norm" in a.files
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    by_model = {v["models"][0]: v for v in doc["verdicts"]}
    assert by_model["smollm2-gguf"]["evidence"] == by_model["smollm2-dir"]["evidence"]
    assert by_model["smollm2-gguf"]["status"] == by_model["smollm2-dir"]["status"]


def test_local_directory_fingerprint_hashes_the_weights(tmp_path):
    """Moving a saved model keeps its fingerprint; one changed weight changes it (not a path, not "main")."""
    lm = load_model(real_models.synthetic_entries()["synthetic-llama"], device="cpu")
    first = tmp_path / "a" / "tiny"
    lm.model.save_pretrained(first, safe_serialization=True)
    lm.tokenizer.save_pretrained(first)
    moved = tmp_path / "b" / "tiny"
    shutil.copytree(first, moved)
    fp_first = fingerprint(entry_from_spec(f"{first},name=tiny"))
    assert fingerprint(entry_from_spec(f"{moved},name=tiny")) == fp_first

    with_change = dict(lm.model.state_dict())
    name = next(k for k in with_change if k.endswith("q_proj.weight"))
    with_change[name] = with_change[name].clone()
    with_change[name][0, 0] += 1.0
    lm.model.load_state_dict(with_change)
    lm.model.save_pretrained(moved, safe_serialization=True)
    assert fingerprint(entry_from_spec(f"{moved},name=tiny")) != fp_first

    loaded = load_model(entry_from_spec(f"{first},name=tiny"), device="cpu")
    assert loaded.entry.layers == lm.entry.layers and loaded.entry.arch == "llama"
    assert loaded.fingerprint.startswith("tiny@")
