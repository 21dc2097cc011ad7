"""Every docstring example in the lmclaims package runs (``pytest tests/`` is what CI runs, so the
examples are checked there rather than only under ``pytest --doctest-modules lmclaims``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lmclaims


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(lmclaims.__path__, prefix="lmclaims.")
                  if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"


def test_the_examples_are_found():
    """The runner really sees examples (a broken walk would make every test above pass vacuously)."""
    attempted = sum(doctest.testmod(importlib.import_module(n), verbose=False).attempted
                    for n in ("lmclaims.stats.exact", "lmclaims.stats.combine", "lmclaims.stats.directional"))
    assert attempted >= 5
