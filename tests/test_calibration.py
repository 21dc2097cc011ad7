"""Calibration of every assertion helper, in both error directions, at the claims' own n and levels.

Scenarios come from every ``tests/calibration_*.py`` module exporting ``SCENARIOS``
(:func:`calibration_harness.discover`). For each, the false-SUPPORTED rate (simulated at the
claim-false boundary) and the false-REFUTED rate (at the claim-true boundary) must each be at most
nominal + 3 Monte-Carlo SE (:func:`calibration_harness.bound`); nominal is alpha/2 for directional
rules and alpha for TOST-type rules, at the scenario's (Bonferroni) level. Simulations use fixed
seeds, so the test is deterministic.

``python tests/test_calibration.py`` re-measures everything and writes ``docs/calibration.md`` and
the README table between ``<!-- calibration-table -->`` and ``<!-- /calibration-table -->``.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration_harness import Measured, Scenario, bound, discover, measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS: dict[str, Scenario] = {s.name: s for s in discover()}


def _known_limits() -> dict[str, Scenario]:
    import calibration_directional
    return {f"{s.name} (known limit)": s for s in getattr(calibration_directional, "KNOWN_LIMITS", [])}


KNOWN_LIMITS = _known_limits()
START, END = "<!-- calibration-table -->", "<!-- /calibration-table -->"


@functools.lru_cache(maxsize=None)
def measured(name: str) -> Measured:
    return measure(SCENARIOS[name] if name in SCENARIOS else KNOWN_LIMITS[name])


# Scenarios whose full simulation takes > 20 s on the 2-core machine (seconds measured 2026-12-07,
# standalone; `python tests/test_calibration.py` prints each one's time) run under --claims-runslow. Each
# of them that is the only design of its helper has a "(quick, N sims)" twin that runs by default,
# so the default run still simulates every shipped helper in both directions
# (test_every_helper_is_simulated_by_default).
SLOW = {
    "greater[paired BCa] n=64 m=6 t3",               # 28 s
    "any_below[Holm] n=24 k=30 m=1",                 # 183 s (quick twin: 46 s)
    "statistic_above[max re-selected] n=24 m=1",     # 92 s (quick twin: 23 s)
    "equivalent[BCa] n=64 m=3 lognormal",            # 26 s
    "correlated[BCa] n=64 m=1",                      # > 120 s
    "correlation_within n=64 m=1",                   # > 120 s (quick twin: 28 s)
    "same_sign[BCa] n=64 m=1",                       # 48 s
    "law_fits[t and BCa] n=30 m=1",                  # 29 s
    "separated[given split] 4 members n=64 m=1",     # 58 s (quick twin: 14 s)
    "separated_held_out 8 members n=64 m=1",         # 82 s (quick twin: 24 s)
    "any_of regimes, 64 texts, m=3",                 # 71 s (quick twin: 13 s)
    "all_of two parts, 32 texts, m=3",               # 32 s (quick twin: 6 s)
}


def _param(name: str):
    return pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name


@pytest.mark.parametrize("name", [_param(n) for n in SCENARIOS])
def test_helper_is_calibrated_in_both_directions(name):
    """false SUPPORTED <= nominal + 3 MC SE and false REFUTED <= nominal + 3 MC SE (0 where the rule
    never decides that direction)."""
    m = measured(name)
    assert not m.failures(), "; ".join(m.failures())


def test_every_helper_has_a_scenario():
    """Every shipped decision helper is simulated (a new helper must bring its calibration)."""
    helpers = {s.helper for s in SCENARIOS.values()}
    # statistic_above with a general statistic is a measured known limit (docs/calibration.md), not asserted
    shipped = {"above", "below", "greater", "less", "any_below", "all_above", "equivalent",
               "correlated", "correlation_within", "same_sign", "law_fits", "separated", "separated_held_out",
               "two_clusters", "permutation", "sign_flip", "proportion_below", "exact"}
    assert shipped <= helpers, f"no calibration scenario for {sorted(shipped - helpers)}"


def test_every_helper_is_simulated_by_default():
    """--claims-runslow only adds designs: each helper (and each combination rule) keeps a default scenario."""
    assert SLOW <= set(SCENARIOS), f"SLOW names unknown scenarios: {sorted(SLOW - set(SCENARIOS))}"
    everything = {s.helper for s in SCENARIOS.values()}
    by_default = {s.helper for n, s in SCENARIOS.items() if n not in SLOW}
    assert everything <= by_default, f"only under --claims-runslow: {sorted(everything - by_default)}"


def test_the_bound_is_nominal_plus_three_standard_errors():
    assert bound(0.025, 1000) == pytest.approx(0.025 + 3 * np.sqrt(0.025 * 0.975 / 1000))
    assert bound(0.0, 100) == 0.0


def _fmt_rate(rate: float, se: float) -> str:
    return f"{rate:.3f} ± {se:.3f}"


def _nominal(s: Scenario) -> str:
    def one(v):
        return "never" if v is None else f"{v:.4g}"
    return one(s.nominal_support) if s.nominal_support == s.nominal_refute else \
        f"{one(s.nominal_support)} / {one(s.nominal_refute)}"


def table_rows(scenarios=None) -> list[str]:
    scenarios = SCENARIOS if scenarios is None else scenarios
    rows = ["| helper | n | level | claim-false boundary | false SUPPORTED ± MC SE | claim-true boundary | "
            "false REFUTED ± MC SE | nominal | sims | used by |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in scenarios.items():
        m = measured(name)
        lvl = s.level if isinstance(s.level, str) else f"{s.level:.4g}"
        rows.append(f"| `{name}` | {s.n} | {lvl} | {s.claim_false} | "
                    f"{_fmt_rate(m.false_supported, m.se_supported)} | {s.claim_true} | "
                    f"{_fmt_rate(m.false_refuted, m.se_refuted)} | {_nominal(s)} | {s.n_sim} | {s.used_by} |")
    return rows


def intro() -> str:
    return ("Each row simulates one helper at one design: the claims' own numbers of units (3–9 models or "
            "seeds, 24–64 texts) and Bonferroni levels (1 − 0.05/m, m ∈ {1, 3, 6, 30}), with normal, "
            "heavy-tailed (t(3), ΔNLL-like) or skewed (lognormal, ΔPPL-like) noise and found clusters. "
            "*False SUPPORTED*: the fraction of simulations at the claim-false boundary that the helper "
            "called SUPPORTED; *false REFUTED*: the fraction at the claim-true boundary called REFUTED. "
            "Nominal is α/2 for directional rules (one tail of a two-sided interval) and α for TOST-type "
            "rules (equivalent, correlation_within, law_fits), α = 1 − level; \"never\": the rule does not "
            "decide that direction (a permutation or continuum test shows structure, not its absence), so "
            "the rate must be 0. `tests/test_calibration.py` asserts every rate ≤ nominal + 3 MC SE, "
            "MC SE = √(p(1−p)/sims). Rows whose full simulation takes over 20 s (`SLOW` in "
            "`tests/test_calibration.py`) are asserted under `pytest tests/ --claims-runslow`; the \"(quick, N sims)\" "
            "rows are their default-run twins.")


def write_outputs() -> str:
    total = sum(measured(n).seconds for n in SCENARIOS)
    rows = table_rows()
    limits = table_rows(KNOWN_LIMITS)
    doc = "\n".join(["# Calibration of the assertion helpers", "", intro(), "", *rows, "",
                     "## Known limits (measured, not asserted)", "",
                     "Designs the helpers are not calibrated for. Strongly skewed per-text values (a ratio such as "
                     "ΔPPL %) at a Bonferroni tail: every interval for a mean (BCa, t, their hull) under-covers "
                     "on the short side. Claims analyse such changes on the log scale (per-text ΔNLL), which is "
                     "what the asserted rows simulate.", "",
                     "`statistic_above` with a general statistic (not a mean): BCa alone under-covered on "
                     "heavy-tailed texts (maximum over 5 layers re-selected in every resample, t(3) texts, 200 "
                     "simulations per direction: n = 24: 0.075 false SUPPORTED, 0.060 false REFUTED; n = 50: 0.050 "
                     "and 0.080; nominal 0.025). Fixed by the hull with the t interval on the bootstrap standard "
                     "error (`engine._t_from_bootstrap_se`): n = 24: 0.025 / 0.030 (asserted row above); n = 50: "
                     "0.020 / 0.055 (bound 0.058, measured once, not asserted: ~1 min).", "",
                     *limits, "",
                     f"Measured by `python tests/test_calibration.py` in {total:.0f} s "
                     f"(numpy {np.__version__}, python {sys.version.split()[0]}).", ""])
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "calibration.md").write_text(doc)
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = "\n".join([START, "", *rows, "", END])
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
        readme.write_text(text)
    return doc


if __name__ == "__main__":
    for name in list(SCENARIOS) + list(KNOWN_LIMITS):
        m = measured(name)
        print(f"{name:55s} FS {m.false_supported:.3f}  FR {m.false_refuted:.3f}  {m.seconds:6.1f}s "
              f"{'; '.join(m.failures())}", flush=True)
    print(write_outputs())
