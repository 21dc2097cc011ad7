"""The stand-in five-state taxonomy on constructed features."""

from __future__ import annotations

import numpy as np
import pytest

from lmclaims.probes import taxonomy as tx

TH = tx.Thresholds(change=0.1, margin=0.3, commit=0.5)


@pytest.mark.parametrize("change, margin, p1, state", [
    (0.01, 0.6, 0.45, tx.E),     # steady hidden, clear surface, not committed
    (0.50, 0.6, 0.45, tx.A),     # hidden moves, surface steady
    (0.01, 0.1, 0.30, tx.B),     # hidden steady, surface contested
    (0.50, 0.1, 0.30, tx.D),     # both move
    (0.01, 0.8, 0.90, tx.C),     # committed
    (0.50, 0.8, 0.90, tx.C),     # committed beats hidden turbulence
    (0.50, 0.2, 0.55, tx.D),     # full bifurcation beats commitment (p1 0.55 vs p2 0.35)
    (0.10, 0.3, 0.40, tx.A),     # thresholds are inclusive on the "high" side
])
def test_state_rules(change, margin, p1, state):
    assert int(tx.assign_states(np.array([change]), np.array([margin]), np.array([p1]), TH)[0]) == state


def test_reference_thresholds_are_medians():
    f = {"cos_prev": np.array([[0.9, 0.8], [0.7, 0.6]]), "margin": np.array([[0.1, 0.2], [0.3, 0.4]])}
    th = tx.reference_thresholds(f)
    assert th.change == pytest.approx(0.25) and th.margin == pytest.approx(0.25) and th.commit == tx.COMMIT_TAU


def test_occupancy_and_transitions_per_text():
    # text 0: one position through 4 layers E→D→D→C ; text 1: two positions B→B→A→A and E→E→E→E
    states = np.array([[tx.E, tx.D, tx.D, tx.C], [tx.B, tx.B, tx.A, tx.A], [tx.E, tx.E, tx.E, tx.E]])
    ti = np.array([0, 1, 1])
    occ = tx.occupancy_per_text(states, ti, 2)
    np.testing.assert_allclose(occ[0], [0.25, 0, 0, 0.25, 0.5])
    np.testing.assert_allclose(occ[1], [0.5, 0.25, 0.25, 0, 0])
    np.testing.assert_allclose(tx.occupancy_per_text(states, ti, 2, layers=slice(2, None))[0], [0, 0, 0, 0.5, 0.5])
    tr = tx.transitions_per_text(states, ti, 2)
    assert tr[0, tx.D, tx.D] == 1 and tr[0, tx.D, tx.C] == 1 and tr[0, tx.E, tx.D] == 1 and tr[0].sum() == 3
    assert tr[1, tx.E, tx.E] == 3 and tr[1, tx.B, tx.A] == 1 and tr[1].sum() == 6
    M = tx.transition_matrix(tr)
    assert M[tx.D, tx.D] == pytest.approx(0.5) and M[tx.A, tx.A] == 1.0 and np.isnan(M[tx.C]).all()


def test_compare_runs_is_exact():
    a = {"x": np.array([1.0, np.nan, 3.0], dtype=np.float32), "i": np.array([1, 2])}
    assert tx.compare_runs(a, {k: v.copy() for k, v in a.items()}).identical
    b = {"x": np.array([1.0, np.nan, 3.0 + 1e-6], dtype=np.float32), "i": np.array([1, 2])}
    chk = tx.compare_runs(a, b)
    assert not chk.identical and chk.max_abs_diff["x"] > 0 and "DIFFERENT" in chk.describe()
