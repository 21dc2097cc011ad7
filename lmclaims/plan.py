"""What a claim test will measure, declared as data: :class:`Need` and the ``measures`` marker.

A claim module says what its tests read from each model, so that the plugin can plan one engine
pass per (model, view, intervention) for everything the *selected* tests need::

    from lmclaims.plan import Need
    from lmclaims.probes.residual import ResidualNorms

    NORMS = Need("thermo.residual_norms", probes=lambda lm, measure: [ResidualNorms()])

    pytestmark = pytest.mark.measures(NORMS)          # every test of the module, or per test:

    @pytest.mark.measures(NORMS)
    def test_kleiber(model, measure, verdict): ...

At collection the plugin reads the ``measures`` markers of the tests that remain selected (after
``-k``, node ids, ``-m``) and are not skipped (a ``slow`` test without ``--claims-runslow`` is
skipped, so its needs drop out), per model they run on (their ``model`` parameter, or every panel
model for a test that uses ``model_pool``). When a test first measures a model in one
(view, intervention) group, the plan adds the probes of every planned need of that group to the
same pass; later requests are cache hits. Deselecting a module's tests removes its needs, and a
need never changes what a test computes (only when), so verdicts do not depend on the selection.

A need has:

* ``tag``: its name in the plan (``"<family>.<what>"``); ``measure.planned(tag)`` tells a claim
  whether any selected test declared it (used to decide, before visiting a model, which optional
  measurements to make on that visit);
* ``probes(lm, measure) -> list`` of probes (called only when the group runs);
* ``view(measure) -> CorpusView``: the texts (default: the profile's eval view, ``measure.view()``);
* ``intervention(lm) -> Intervention | None`` (default: none).

>>> need = Need("demo.norms", probes=lambda lm, measure: [])
>>> need.tag, need.view is None, need.intervention is None
('demo.norms', True, True)
>>> Need("", probes=lambda lm, measure: [])
Traceback (most recent call last):
...
ValueError: a Need has a non-empty tag naming it in the plan
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

MARKER = "measures"


@dataclass(frozen=True)
class Need:
    """One declared measurement: probes on a view under an intervention (see the module docstring)."""

    tag: str
    probes: Callable
    view: Callable | None = None
    intervention: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.tag, str) or not self.tag:
            raise ValueError("a Need has a non-empty tag naming it in the plan")
        if not callable(self.probes):
            raise TypeError(f"Need {self.tag!r}: probes must be callable (lm, measure) -> list of probes")
        for name in ("view", "intervention"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(f"Need {self.tag!r}: {name} must be callable or None")


def needs_of(item) -> list[Need]:
    """The needs a collected test declares with ``@pytest.mark.measures(...)`` (test, class, module)."""
    out: list[Need] = []
    for mark in item.iter_markers(MARKER):
        for need in mark.args:
            if not isinstance(need, Need):
                raise TypeError(f"{item.nodeid}: pytest.mark.measures takes lmclaims.plan.Need objects, "
                                f"got {type(need).__name__}")
            if need not in out:
                out.append(need)
    return out
