"""The ``claim`` marker and claim families.

``@pytest.mark.claim("thermo.kleiber_bound", source="000_1a9244730f70cf80.txt",
statement="G_max ≈ 10^(1/L)", variant="corrected", version=1, family=None, verdicts=1)``

* ``variant``: ``"as-published"`` or ``"corrected"`` (the definition the test implements).
* ``family``: the multiple-comparison family; default ``"<claim id>@<variant>"``, so the
  parametrizations of one claim test (one per model, say) form one family.
* ``verdicts``: how many verdicts each test of the family records (e.g. one per layer); the
  test-time Bonferroni split uses ``m = tests in the family x verdicts``.

Family sizes are counted at collection over all tests carrying the marker in the modules (and
classes) that hold the selected claim tests — regardless of ``-k``/node-id selection — so a
verdict re-run alone (the ``command`` stored in claims.json) uses the same per-test level as in
the full run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import pytest

VARIANTS = ("as-published", "corrected")
FAMILY_SIZES_KEY = pytest.StashKey[dict]()


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    source: str = ""
    statement: str = ""
    variant: str = "corrected"
    version: int = 1
    family: str = ""
    verdicts: int = 1

    @classmethod
    def from_marker(cls, mark: pytest.Mark) -> "ClaimSpec":
        kwargs = dict(mark.kwargs)
        if mark.args:
            if len(mark.args) > 1 or "id" in kwargs:
                raise ValueError(f"claim marker takes one positional argument (the claim id), got {mark.args!r}")
            kwargs["id"] = mark.args[0]
        unknown = set(kwargs) - {"id", "source", "statement", "variant", "version", "family", "verdicts"}
        if unknown:
            raise ValueError(f"unknown claim marker arguments: {sorted(unknown)}")
        if not isinstance(kwargs.get("id"), str) or not kwargs["id"]:
            raise ValueError("claim marker needs a non-empty claim id, e.g. @pytest.mark.claim('thermo.kleiber_bound')")
        variant = kwargs.get("variant", "corrected")
        if variant not in VARIANTS:
            raise ValueError(f"claim variant must be one of {VARIANTS}, got {variant!r}")
        verdicts = int(kwargs.get("verdicts", 1))
        if verdicts < 1:
            raise ValueError("claim marker 'verdicts' must be >= 1")
        family = kwargs.get("family") or f"{kwargs['id']}@{variant}"
        return cls(id=kwargs["id"], source=kwargs.get("source", ""), statement=kwargs.get("statement", ""),
                   variant=variant, version=int(kwargs.get("version", 1)), family=family, verdicts=verdicts)

    def to_dict(self) -> dict:
        return asdict(self)


def claim_of(item: pytest.Item) -> ClaimSpec | None:
    mark = item.get_closest_marker("claim")
    return None if mark is None else ClaimSpec.from_marker(mark)


class FamilyCounter:
    """Counts family members over the collectors that hold claim tests.

    For every parent collector (module or class) of a selected claim test, the parent's full
    list of items is re-listed (``parent.collect()``, which re-uses the imported module), so the
    count does not depend on ``-k`` or node-id selection. Families spanning several modules are
    counted over the modules collected in the run.
    """

    def __init__(self):
        self.members: dict[str, set[str]] = defaultdict(set)
        self.per_test: dict[str, int] = {}

    def add(self, node: pytest.Item) -> None:
        try:
            spec = claim_of(node)
        except ValueError:
            return                               # reported when the test runs
        if spec is not None:
            self.members[spec.family].add(node.nodeid)
            self.per_test[spec.family] = max(self.per_test.get(spec.family, 1), spec.verdicts)

    def add_items(self, items: list[pytest.Item]) -> None:
        parents = {}
        for item in items:
            self.add(item)
            if item.get_closest_marker("claim") is not None and item.parent is not None:
                parents.setdefault(item.parent.nodeid, item.parent)
        for parent in parents.values():
            for node in _items_under(parent):
                self.add(node)

    def sizes(self) -> dict[str, int]:
        return {fam: len(ids) * self.per_test.get(fam, 1) for fam, ids in self.members.items()}


def _items_under(collector) -> list[pytest.Item]:
    try:
        children = collector.collect()
    except Exception:  # noqa: BLE001 - a collector that fails here failed in collection already
        return []
    out = []
    for child in children:
        if isinstance(child, pytest.Item):
            out.append(child)
        elif isinstance(child, pytest.Collector):
            out.extend(_items_under(child))
    return out
