"""The calibration harness: scenarios, their measurement, and the bound each rate must respect.

A :class:`Scenario` simulates one helper at one design (units ``n``, confidence ``level``) in both
error directions:

* ``simulate(rng, False)``: data at the **claim-false boundary** (the claim's null holds exactly
  at its edge, e.g. the true mean equals the threshold + margin); the fraction of ``"supported"``
  statuses is the **false-SUPPORTED rate**;
* ``simulate(rng, True)``: data at the **claim-true boundary** (the effect lies just on the claim's
  side of the margin, e.g. the true mean equals threshold + margin, for a rule whose REFUTED side is
  below it); the fraction of ``"refuted"`` statuses is the **false-REFUTED rate**.

Each rate is asserted against its nominal value plus three Monte-Carlo standard errors,
:math:`\\text{rate} \\le \\pi + 3\\sqrt{\\pi(1-\\pi)/n_{sim}}` (``bound``). Nominal is
:math:`\\alpha/2` for directional rules (one tail of a two-sided interval) and :math:`\\alpha` for
TOST-type rules (equivalence, law within margin).

Scenarios live in ``tests/calibration_*.py`` modules, each exporting ``SCENARIOS`` (a list of
:class:`Scenario`); :func:`discover` collects them all, and ``tests/test_calibration.py`` asserts on
and tabulates every one.

>>> s = Scenario("demo", "above", 10, 0.95, "mean = 0", "mean = 1",
...              lambda rng, true: np.array(["inconclusive"] * 50), 0.025, 0.025, n_sim=50)
>>> m = measure(s, seed=1)
>>> (m.false_supported, m.false_refuted)
(0.0, 0.0)
>>> round(bound(0.025, 1000), 4)
0.0398
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 20261206
SUPPORTED, REFUTED = "supported", "refuted"


@dataclass(frozen=True)
class Scenario:
    """One helper at one design, simulated in both error directions (module docstring).

    ``simulate(rng, claim_true)`` returns an array of ``n_sim`` status strings
    (``"supported"``/``"refuted"``/``"inconclusive"``). ``nominal_support`` / ``nominal_refute`` are the
    nominal false-SUPPORTED / false-REFUTED rates (None: that direction is not decided by the rule,
    e.g. a permutation test never refutes; the rate is still measured and must be 0).
    """

    name: str
    helper: str
    n: int | str
    level: float | str
    claim_false: str
    claim_true: str
    simulate: Callable[[np.random.Generator, bool], np.ndarray]
    nominal_support: float | None
    nominal_refute: float | None
    n_sim: int = 1000
    used_by: str = ""


@dataclass(frozen=True)
class Measured:
    """False-SUPPORTED and false-REFUTED rates of one scenario, with their Monte-Carlo SEs."""

    scenario: Scenario
    false_supported: float
    false_refuted: float
    seconds: float

    @property
    def se_supported(self) -> float:
        return mc_se(self.false_supported, self.scenario.n_sim)

    @property
    def se_refuted(self) -> float:
        return mc_se(self.false_refuted, self.scenario.n_sim)

    def failures(self) -> list[str]:
        """Why this scenario breaks its bounds (empty when calibrated)."""
        s, out = self.scenario, []
        for what, rate, nominal in (("false SUPPORTED", self.false_supported, s.nominal_support),
                                    ("false REFUTED", self.false_refuted, s.nominal_refute)):
            limit = bound(nominal, s.n_sim) if nominal is not None else 0.0
            if rate > limit + 1e-12:
                out.append(f"{s.name}: {what} rate {rate:.4f} > nominal {nominal} + 3 MC SE = {limit:.4f}")
        return out


def quick(scenario: Scenario) -> Scenario:
    """The same design at fewer simulations, under its own name, for the default test run.

    A scenario whose full simulation takes minutes runs under ``--claims-runslow``; its quick twin (built by
    the same factory with a small ``n_sim``) runs by default. Its bound is wider (3 MC SE at fewer
    sims) but still far below the failures calibration exists to catch (12-100% false decisions).
    """
    import dataclasses
    return dataclasses.replace(scenario, name=f"{scenario.name} (quick, {scenario.n_sim} sims)")


def mc_se(rate: float, n_sim: int) -> float:
    """Monte-Carlo standard error of an estimated rate, sqrt(p (1 - p) / n_sim)."""
    return float(np.sqrt(max(rate * (1.0 - rate), 0.0) / n_sim))


def bound(nominal: float, n_sim: int) -> float:
    """Largest rate consistent with ``nominal``: nominal + 3 sqrt(nominal (1 - nominal) / n_sim)."""
    return float(nominal + 3.0 * np.sqrt(nominal * (1.0 - nominal) / n_sim))


def _check(statuses, n_sim: int, name: str) -> np.ndarray:
    arr = np.asarray(statuses).astype(str)
    if arr.shape != (n_sim,):
        raise ValueError(f"scenario {name!r}: simulate returned shape {arr.shape}, expected ({n_sim},)")
    bad = set(arr.tolist()) - {"supported", "refuted", "inconclusive"}
    if bad:
        raise ValueError(f"scenario {name!r}: unknown statuses {sorted(bad)}")
    return arr


def measure(scenario: Scenario, *, seed: int = SEED) -> Measured:
    """Run both directions of ``scenario`` with seeds derived from ``seed`` and the scenario's name."""
    start = time.perf_counter()
    key = [seed] + [ord(c) for c in scenario.name]
    rng_false, rng_true = (np.random.default_rng(s) for s in np.random.SeedSequence(key).spawn(2))
    at_false = _check(scenario.simulate(rng_false, False), scenario.n_sim, scenario.name)
    at_true = _check(scenario.simulate(rng_true, True), scenario.n_sim, scenario.name)
    return Measured(scenario, float(np.mean(at_false == SUPPORTED)), float(np.mean(at_true == REFUTED)),
                    time.perf_counter() - start)


def discover(directory: Path | None = None) -> list[Scenario]:
    """Every Scenario exported as ``SCENARIOS`` by a ``calibration_*.py`` module in ``directory``."""
    directory = Path(__file__).resolve().parent if directory is None else Path(directory)
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    out: list[Scenario] = []
    for path in sorted(directory.glob("calibration_*.py")):
        if path.stem == "calibration_harness":
            continue
        module = importlib.import_module(path.stem)
        found = getattr(module, "SCENARIOS", None)
        if found is None:
            continue
        for s in found:
            # duck-typed: a module may import this file under another name (tests.calibration_harness)
            missing = [f for f in Scenario.__dataclass_fields__ if not hasattr(s, f)]
            if missing:
                raise TypeError(f"{path.name}: SCENARIOS holds {type(s).__name__} lacking {missing}, not a Scenario")
            out.append(s)
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate scenario names: {dupes}")
    return out


def statuses(judgements) -> np.ndarray:
    """Status strings of a sequence of Judgements."""
    return np.array([j.status.value for j in judgements])
