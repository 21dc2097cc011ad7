"""The library's own tests run the same whether or not ``$CI`` is set.

``$CI`` switches a claims run to the ``ci`` profile (5x the resamples). The tests that start claims
runs of their own (pytester, subprocess) pin what they test; the rest must not inherit a heavier
profile from the CI machine's environment, or ``pytest tests/`` costs several times more on CI than
on a laptop while testing nothing more. The tests that check the ``$CI`` rule pass the environment
explicitly (``default_profile_name({"CI": "true"})``).
"""

import os

import pytest

os.environ.pop("CI", None)


@pytest.fixture
def native(monkeypatch):
    """The compiled readout kernel (``lmclaims.engine.native_readouts``), freshly loaded; skipped where it
    cannot be built here (no C compiler), with the reason."""
    from lmclaims.engine import native_readouts as N
    monkeypatch.delenv("LMCLAIMS_NATIVE", raising=False)
    N.reset()
    if not N.available():
        pytest.skip(f"native kernel unavailable here: {N.why_unavailable()}")
    yield
    N.reset()
