"""Fixtures shared by this repository's claim modules (the plugin's own fixtures come installed)."""

import pytest

from claims._geometry_helpers import panel_runs


@pytest.fixture(scope="session")
def geometry_runs(model_pool, measure):
    """Every panel model's lens runs (and the planned optional bundles), made once per session."""
    return panel_runs(model_pool, measure)
