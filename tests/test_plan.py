"""The measurement plan (lmclaims.plan, lmclaims/pytest_plugin/plan.py), end to end and in parts.

A toy pair of claim modules over a synthetic model declare their needs with ``pytest.mark.measures``:

* ``test_a.py`` measures the residual norms on the default view (need ``a.norms``);
* ``test_b.py`` declares the lens geometry on the default view (``b.lens``) and, under a noise
  intervention on a 6-text view, the NLL and the residual norms (``b.noisy_nll``, ``b.noisy_norms``);
  it requests the NLL under noise, so the plan adds the noisy norms to that same pass.

Both record verdicts. With both selected, the first default-view pass computes A's and B's probes
together; deselecting a module (``-k``, node ids) removes its needs from the plan; the remaining
verdicts are identical to the full run's.
"""

from __future__ import annotations

import json
import os
import textwrap
from types import SimpleNamespace

import pytest

from lmclaims.plan import Need, needs_of
from lmclaims.pytest_plugin.plan import MeasurementPlan, intervention_key, needs_by_model

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TEST_A = textwrap.dedent("""
    import json, os
    import numpy as np
    import pytest
    from lmclaims.plan import Need
    from lmclaims.probes.residual import ResidualNorms
    from lmclaims.stats.assertions import above

    pytestmark = pytest.mark.measures(Need("a.norms", probes=lambda lm, measure: [ResidualNorms()]))

    @pytest.mark.models("synthetic-llama")
    @pytest.mark.claim("toy.a", variant="corrected")
    def test_a(model, measure, verdict):
        n = len(measure.info.computed)
        rows = measure(model, [ResidualNorms()])["residual_norms"]
        with open(os.environ["PLAN_LOG"], "a") as f:
            f.write(json.dumps({"test": "a", "plan": measure.plan(), "computed": measure.info.computed[n:]}) + "\\n")
        g = np.bincount(rows["text_index"], weights=np.log(rows["norm"][:, -1] / rows["norm"][:, 1]))
        verdict.record(above(g / np.bincount(rows["text_index"]), 0.0, unit="text"), models=model.name)
""")

TEST_B = textwrap.dedent("""
    import json, os
    import numpy as np
    import pytest
    from lmclaims.engine.interventions import ResidualNoise
    from lmclaims.plan import Need
    from lmclaims.probes.lens import LensGeometry
    from lmclaims.probes.nll import NextTokenNLL
    from lmclaims.probes.residual import ResidualNorms
    from lmclaims.stats.assertions import below

    NOISE = ResidualNoise(layer=0, sigma=0.5, relative=True, seed=1)
    SMALL = lambda measure: measure.view(max_texts=6)
    LENS = Need("b.lens", probes=lambda lm, measure: [LensGeometry(positions_per_text=2)])
    NOISY_NLL = Need("b.noisy_nll", probes=lambda lm, measure: [NextTokenNLL()], view=SMALL,
                     intervention=lambda lm: NOISE)
    NOISY_NORMS = Need("b.noisy_norms", probes=lambda lm, measure: [ResidualNorms()], view=SMALL,
                       intervention=lambda lm: NOISE)

    @pytest.mark.measures(LENS, NOISY_NLL, NOISY_NORMS)
    @pytest.mark.claim("toy.b", variant="corrected")
    def test_b(model_pool, measure, verdict):
        lm = model_pool.get("synthetic-llama")
        n = len(measure.info.computed)
        nll = measure(lm, [NextTokenNLL()], intervention=NOISE, view=SMALL(measure))["nll"]
        noisy = list(measure.info.computed[n:])
        k = len(measure.info.cache_hits)
        measure(lm, [ResidualNorms()], intervention=NOISE, view=SMALL(measure))
        lens = measure(lm, [LensGeometry(positions_per_text=2)])
        with open(os.environ["PLAN_LOG"], "a") as f:
            f.write(json.dumps({"test": "b", "plan": measure.plan(), "noisy_pass": noisy,
                                "hits_after": measure.info.cache_hits[k:]}) + "\\n")
        per_text = np.bincount(nll["text_index"], weights=nll["nll"]) / np.bincount(nll["text_index"])
        verdict.record(below(per_text, 100.0, unit="text"), models=lm.name)
""")


def _run(pytester, monkeypatch, *args):
    log = pytester.path / f"log{len(list(pytester.path.glob('log*')))}.jsonl"
    out = pytester.path / f"r{len(list(pytester.path.glob('r*')))}"
    monkeypatch.setenv("PLAN_LOG", str(log))
    monkeypatch.setenv("LMCLAIMS_CACHE", str(pytester.path / "cache"))
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = pytester.runpytest_subprocess("--claims-panel", "synthetic", "--claims-models", "synthetic-llama",
                                        "--claims-max-tokens", "32", "-p", "no:cacheprovider",
                                        "--claims-report-dir", str(out), *args)
    assert res.ret == 0, res.stdout.str()[-3000:]
    logs = {x["test"]: x for x in map(json.loads, log.read_text().splitlines())}
    verdicts = {v["claim_id"]: {k: v[k] for k in ("status", "evidence", "models")}
                for v in json.loads((out / "claims.json").read_text())["verdicts"]}
    return logs, verdicts


@pytest.fixture
def toy(pytester):
    pytester.makepyfile(test_a=TEST_A, test_b=TEST_B)
    pytester.syspathinsert(ROOT)
    return pytester


def test_plan_groups_needs_and_deselection_removes_them(toy, monkeypatch):
    full, v_full = _run(toy, monkeypatch, "--claims-cache", str(toy.path / "c_full"))
    assert full["a"]["plan"] == {"synthetic-llama": ["a.norms", "b.lens", "b.noisy_nll", "b.noisy_norms"]}
    assert full["a"]["computed"] == ["residual_norms", "lens_geometry"]      # A's pass also made B's lens
    assert full["b"]["noisy_pass"] == ["nll", "residual_norms"]             # one pass per (view, intervention)
    assert full["b"]["hits_after"] == ["residual_norms", "lens_geometry"]   # both made by earlier passes
    assert set(v_full) == {"toy.a", "toy.b"}

    only_a, v_a = _run(toy, monkeypatch, "-k", "test_a", "--claims-cache", str(toy.path / "c_a"))
    assert set(only_a) == {"a"} and only_a["a"]["plan"] == {"synthetic-llama": ["a.norms"]}
    assert only_a["a"]["computed"] == ["residual_norms"]
    assert v_a == {"toy.a": v_full["toy.a"]}

    only_b, v_b = _run(toy, monkeypatch, "test_b.py::test_b", "--claims-cache", str(toy.path / "c_b"))
    assert only_b["b"]["plan"] == {"synthetic-llama": ["b.lens", "b.noisy_nll", "b.noisy_norms"]}
    assert v_b == {"toy.b": v_full["toy.b"]}


def test_cache_off_plans_nothing_extra(toy, monkeypatch):
    logs, _ = _run(toy, monkeypatch, "--claims-no-cache")
    assert logs["a"]["computed"] == ["residual_norms"] and logs["b"]["noisy_pass"] == ["nll"]


def _item(name, model=None, fixtures=(), skip=False, needs=()):
    callspec = SimpleNamespace(params={"model": model}) if model else None
    marker = object() if skip else None
    marks = [SimpleNamespace(args=tuple(needs))] if needs else []
    return SimpleNamespace(name=name, nodeid=name, callspec=callspec, fixturenames=fixtures,
                           get_closest_marker=lambda n: marker if n == "skip" else None,
                           iter_markers=lambda n: iter(marks if n == "measures" else []))


N1 = Need("n1", probes=lambda lm, measure: [SimpleNamespace(name="p1"), SimpleNamespace(name="dup")])
N2 = Need("n2", probes=lambda lm, measure: [SimpleNamespace(name="p2")])


def test_needs_by_model_reads_parametrized_panel_and_skipped_items():
    items = [_item("t1", model="x", needs=[N1]), _item("t2", fixtures=("model_pool",), needs=[N2]),
             _item("t3", model="y", skip=True, needs=[N1]), _item("t4", needs=[N1]), _item("t5", model="y")]
    assert needs_by_model(items, ["x", "y"]) == {"x": [N1, N2], "y": [N2]}


def test_marker_takes_needs_only():
    with pytest.raises(TypeError, match="Need objects"):
        needs_of(_item("bad", needs=["ResidualNorms"]))
    with pytest.raises(ValueError):
        Need("", probes=lambda lm, measure: [])
    with pytest.raises(TypeError):
        Need("x", probes="not callable")


def test_extra_probes_run_once_per_group_and_the_request_wins():
    plan = MeasurementPlan(SimpleNamespace(items=[_item("t", model="m", needs=[N1, N2])]), ["m"])
    default = SimpleNamespace(key="default")
    measure = SimpleNamespace(view=lambda: default)
    lm = SimpleNamespace(name="m", fingerprint="fp")
    extra = plan.extra_probes(lm, measure, [SimpleNamespace(name="dup")], default, None)
    assert [p.name for p in extra] == ["p1", "p2"]                       # "dup" was requested: not added
    assert plan.extra_probes(lm, measure, [], default, None) == []        # only the group's first pass
    other = SimpleNamespace(key="other")
    assert plan.extra_probes(lm, measure, [], other, None) == []          # no need in that group
    assert plan.planned("n2") and plan.planned("n1", "m") and not plan.planned("n3")
    assert plan.tags() == {"m": ["n1", "n2"]}


def test_intervention_key_names_the_intervention():
    from lmclaims.engine.interventions import NoIntervention, ResidualNoise
    assert intervention_key(None) == intervention_key(NoIntervention()) == "none"
    a, b = ResidualNoise(0, 0.5, seed=1), ResidualNoise(0, 0.5, seed=2)
    assert intervention_key(a) != intervention_key(b) and intervention_key(a) == intervention_key(ResidualNoise(0, 0.5, seed=1))
