"""bench/panel_cost.py: the hub-panel cost estimate scales a measured offline run by parameter count,
and the multi-node figure is the most loaded node of a greedy whole-model split."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def panel_cost():
    spec = importlib.util.spec_from_file_location("panel_cost", ROOT / "bench" / "panel_cost.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_split_keeps_models_whole_and_balances(panel_cost):
    loads = panel_cost.split({"a": 10, "b": 6, "c": 5, "d": 1}, 2)
    assert loads == [11, 11] and sum(loads) == 22
    assert panel_cost.split({"big": 100, "s1": 1, "s2": 1}, 8)[0] == 100     # one model bounds the wall time


def test_estimate_scales_by_parameters(panel_cost):
    est = panel_cost.estimate(3600.0, {"x": 1_000_000_000}, {"p": 2_000_000_000, "q": 1_000_000_000}, nodes=(1, 2))
    assert est["seconds_per_billion_params"] == pytest.approx(3600.0)
    assert est["one_device_hours"] == pytest.approx(3.0)
    assert est["nodes"] == {1: pytest.approx(3.0), 2: pytest.approx(2.0)}


def test_real_panels_and_cli(panel_cost, capsys):
    assert panel_cost.main(["--seconds", "889.7", "--device-label", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "hub panel: 42 models" in out and "offline panel: 3 models" in out
    assert "expected cold run, one device:" in out
