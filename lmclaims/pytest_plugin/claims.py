"""The ``claim`` marker and claim families.

``@pytest.mark.claim("thermo.kleiber_bound", source="000_1a9244730f70cf80.txt",
statement="G_max ≈ 10^(1/L)", variant="corrected", version=1, family=None, verdicts=1)``

* ``variant``: ``"as-published"`` or ``"corrected"`` (the definition the test implements).
* ``family``: the multiple-comparison family; default ``"<claim id>@<variant>"``, so the
  parametrizations of one claim test (one per model, say) form one family.
* ``verdicts``: how many verdicts each test of the family records (e.g. one per layer); the
  test-time Bonferroni split uses ``m = tests in the family x verdicts``.

Family sizes are counted at collection over every collected test carrying the marker — before
``-k``/node-id selection — so a verdict re-run alone (the ``command`` stored in claims.json) uses
the same per-test level as in the full run.
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
    """Counts family members among all collected items (``pytest_collectreport``)."""

    def __init__(self):
        self.members: dict[str, set[str]] = defaultdict(set)
        self.per_test: dict[str, int] = {}

    def add_report(self, report: pytest.CollectReport) -> None:
        for node in report.result or ():
            if isinstance(node, pytest.Item):
                try:
                    spec = claim_of(node)
                except ValueError:
                    continue                     # reported when the test runs
                if spec is not None:
                    self.members[spec.family].add(node.nodeid)
                    self.per_test[spec.family] = max(self.per_test.get(spec.family, 1), spec.verdicts)

    def sizes(self) -> dict[str, int]:
        return {fam: len(ids) * self.per_test.get(fam, 1) for fam, ids in self.members.items()}
