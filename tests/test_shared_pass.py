"""One forward pass per model across claim modules (lmclaims/pytest_plugin/shared_pass.py).

A toy pair of claim modules over a synthetic model: ``test_a.py`` measures the residual norms on
the default view; ``test_b.py`` declares, and later measures, the lens geometry there. With both
selected, the first pass computes both probes and B's request is a cache hit; with only A
selected, or with the cache off, nothing extra is computed.
"""

from __future__ import annotations

import os
import textwrap
from types import SimpleNamespace

import pytest

from lmclaims.pytest_plugin.shared_pass import SharedPass, default_view_probes, modules_by_model

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TEST_A = textwrap.dedent("""
    import json, os
    import pytest
    from lmclaims.probes.residual import ResidualNorms

    @pytest.mark.models("synthetic-llama")
    def test_a(model, measure):
        measure(model, [ResidualNorms()], max_texts=6)     # a smaller view: never shared
        before = list(measure.info.computed)
        measure(model, [ResidualNorms()])
        with open(os.environ["SHARED_LOG"], "a") as f:
            f.write(json.dumps({"a": measure.info.computed[len(before):], "batches": measure.info.batches}) + "\\n")
""")

TEST_B = textwrap.dedent("""
    import json, os
    from lmclaims.pytest_plugin.shared_pass import default_view_probes
    from lmclaims.probes.lens import LensGeometry

    @default_view_probes("test_b.py")
    def b_probes(lm, measure):
        return [LensGeometry(positions_per_text=2)]

    def test_b(model_pool, measure):
        lm = model_pool.get("synthetic-llama")
        n = len(measure.info.cache_hits)
        measure(lm, [LensGeometry(positions_per_text=2)])
        with open(os.environ["SHARED_LOG"], "a") as f:
            f.write(json.dumps({"b_hits": measure.info.cache_hits[n:], "b_computed": measure.info.computed}) + "\\n")
""")


def _run(pytester, monkeypatch, *args):
    import json
    log = pytester.path / f"log{len(list(pytester.path.glob('log*')))}.jsonl"
    monkeypatch.setenv("SHARED_LOG", str(log))
    monkeypatch.setenv("LMCLAIMS_CACHE", str(pytester.path / "cache"))
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = pytester.runpytest_subprocess("--claims-panel", "synthetic", "--claims-models", "synthetic-llama", "--claims-max-tokens", "32",
                                        "-p", "no:cacheprovider", "--claims-report-dir", str(pytester.path / "r"),
                                        *args)
    assert res.ret == 0, res.stdout.str()[-2000:]
    return [json.loads(x) for x in log.read_text().splitlines()]


@pytest.fixture
def toy(pytester):
    pytester.makepyfile(test_a=TEST_A, test_b=TEST_B)
    pytester.syspathinsert(ROOT)
    return pytester


def test_declared_probes_ride_on_the_first_default_view_pass(toy, monkeypatch):
    a, b = _run(toy, monkeypatch, "--claims-cache", str(toy.path / "c1"))
    assert a["a"] == ["residual_norms", "lens_geometry"]            # one pass computed both
    assert b["b_hits"] == ["lens_geometry"] and b["b_computed"].count("lens_geometry") == 1


def test_unselected_module_adds_nothing(toy, monkeypatch):
    (a,) = _run(toy, monkeypatch, "test_a.py", "--claims-cache", str(toy.path / "c2"))
    assert a["a"] == ["residual_norms"]


def test_cache_off_shares_nothing(toy, monkeypatch):
    a, b = _run(toy, monkeypatch, "--claims-no-cache")
    assert a["a"] == ["residual_norms"] and b["b_hits"] == []


def _item(name, module, model=None, fixtures=(), skip=False):
    callspec = SimpleNamespace(params={"model": model}) if model else None
    marker = object() if skip else None
    return SimpleNamespace(name=name, path=SimpleNamespace(name=module), callspec=callspec, fixturenames=fixtures,
                           get_closest_marker=lambda n: marker if n == "skip" else None)


def test_modules_by_model_reads_parametrized_panel_and_skipped_items():
    items = [_item("t1", "m1.py", model="x"), _item("t2", "m2.py", fixtures=("model_pool",)),
             _item("t3", "m3.py", model="y", skip=True), _item("t4", "m4.py")]
    assert modules_by_model(items, ["x", "y"]) == {"x": {"m1.py", "m2.py"}, "y": {"m2.py"}}


def test_declaration_needs_a_module_and_extra_probes_run_once():
    with pytest.raises(ValueError):
        default_view_probes()
    calls = []

    @default_view_probes("only_here.py")
    def probes(lm, measure):
        calls.append(lm.name)
        return [SimpleNamespace(name="p1"), SimpleNamespace(name="dup")]

    shared = SharedPass(SimpleNamespace(items=[_item("t", "only_here.py", model="m")]), ["m"])
    lm = SimpleNamespace(name="m", fingerprint="fp")
    extra = shared.extra_probes(lm, None, [SimpleNamespace(name="dup")])
    assert [p.name for p in extra] == ["p1"] and calls == ["m"]       # the requested name wins
    assert shared.extra_probes(lm, None, []) == []                     # only the first pass
