"""The ``claim`` marker and claim families.

``@pytest.mark.claim("thermo.kleiber_bound", source="000_1a9244730f70cf80.txt",
statement="G_max ≈ 10^(1/L)", variant="corrected", version=1, verdicts=1, primary=False, family=None,
paper="arXiv:2401.00001", quote="...")``

* ``source``: where the claim comes from in this project (a seed file name); ``paper``: the paper
  itself — an arXiv id (``arXiv:2401.00001``), a DOI (``10.1234/abc``) or a URL; ``quote``: the
  sentence of the paper that makes the claim, verbatim. A reader of the report should be able to find
  the claim in the paper without knowing this repository.

* ``variant``: ``"as-published"`` or ``"corrected"`` (the definition the test implements).
* ``verdicts``: the most verdicts one test may record (``verdict.record`` fails beyond it); the
  family size counts every test's ``verdicts``.
* Families (the multiple-comparison unit). **Default: the claim id** — every variant and every
  model of one claim share one family, so a claim tested as-published, corrected and per model
  gets one chance at alpha, not one per variant.
  ``primary=True`` on the tests of one variant makes that variant the claim's *primary* analysis:
  only its tests form the family ``"<claim id>"``; each other variant of the claim is *secondary*,
  in its own family ``"<claim id>@<variant>"`` (``family_role: "secondary"`` in claims.json),
  corrected within itself and excluded from the primary family's size. Two variants of one claim
  cannot both be primary. ``family="name"`` puts a test in an explicitly named family instead
  (e.g. a slow re-run of a claim that must not widen the default run's family).

Family sizes are counted at collection over all tests carrying the marker in the modules (and
classes) that hold the selected claim tests — regardless of ``-k``/node-id selection — so a
verdict re-run alone (the ``command`` stored in claims.json) uses the same per-test level as in
the full run, and the session-end correction pads a family of which only some members ran to
this announced size (missing members count as p = 1).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import pytest

VARIANTS = ("as-published", "corrected")
MARKER_ARGS = ("id", "source", "statement", "variant", "version", "family", "verdicts", "primary", "paper", "quote")


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    source: str = ""
    statement: str = ""
    variant: str = "corrected"
    version: int = 1
    family: str = ""          # explicit family= only; the default is resolved by FamilyCounter
    verdicts: int = 1
    primary: bool = False
    paper: str = ""           # arXiv id, DOI or URL of the paper that makes the claim
    quote: str = ""           # the paper's own sentence

    @classmethod
    def from_marker(cls, mark: pytest.Mark) -> "ClaimSpec":
        kwargs = dict(mark.kwargs)
        if mark.args:
            if len(mark.args) > 1 or "id" in kwargs:
                raise ValueError(f"claim marker takes one positional argument (the claim id), got {mark.args!r}")
            kwargs["id"] = mark.args[0]
        unknown = set(kwargs) - set(MARKER_ARGS)
        if unknown:
            raise ValueError(f"unknown claim marker arguments: {sorted(unknown)}")
        if not isinstance(kwargs.get("id"), str) or not kwargs["id"]:
            raise ValueError("claim marker needs a non-empty claim id, e.g. @pytest.mark.claim('thermo.kleiber_bound')")
        if "@" in kwargs["id"]:
            raise ValueError(f"claim id {kwargs['id']!r} must not contain '@' (it separates the variant in keys)")
        variant = kwargs.get("variant", "corrected")
        if variant not in VARIANTS:
            raise ValueError(f"claim variant must be one of {VARIANTS}, got {variant!r}")
        verdicts = int(kwargs.get("verdicts", 1))
        if verdicts < 1:
            raise ValueError("claim marker 'verdicts' must be >= 1")
        primary = kwargs.get("primary", False)
        if not isinstance(primary, bool):
            raise ValueError(f"claim marker 'primary' must be True or False, got {primary!r}")
        if primary and kwargs.get("family"):
            raise ValueError("claim marker: 'primary=True' and 'family=' exclude each other")
        return cls(id=kwargs["id"], source=kwargs.get("source", ""), statement=kwargs.get("statement", ""),
                   variant=variant, version=int(kwargs.get("version", 1)), family=kwargs.get("family") or "",
                   verdicts=verdicts, primary=primary, paper=str(kwargs.get("paper", "")),
                   quote=str(kwargs.get("quote", "")))

    def to_dict(self) -> dict:
        return asdict(self)


def claim_of(item: pytest.Item) -> ClaimSpec | None:
    mark = item.get_closest_marker("claim")
    return None if mark is None else ClaimSpec.from_marker(mark)


class FamilyError(ValueError):
    pass


class FamilyCounter:
    """Families and their announced sizes, over the collectors that hold claim tests.

    For every parent collector (module or class) of a selected claim test, the parent's full
    list of items is re-listed (``parent.collect()``, which re-uses the imported module), so the
    count does not depend on ``-k`` or node-id selection. Families spanning several modules are
    counted over the modules collected in the run.
    """

    def __init__(self):
        self.specs: dict[str, ClaimSpec] = {}                 # nodeid -> spec
        self._primary: dict[str, set[str]] | None = None

    def add(self, node: pytest.Item) -> None:
        try:
            spec = claim_of(node)
        except ValueError:
            return                               # reported when the test runs
        if spec is not None:
            self.specs[node.nodeid] = spec
            self._primary = None

    def add_items(self, items: list[pytest.Item]) -> None:
        parents = {}
        for item in items:
            self.add(item)
            if item.get_closest_marker("claim") is not None and item.parent is not None:
                parents.setdefault(item.parent.nodeid, item.parent)
        for parent in parents.values():
            for node in _items_under(parent):
                self.add(node)

    def primary_variants(self) -> dict[str, set[str]]:
        if self._primary is None:
            found: dict[str, set[str]] = defaultdict(set)
            for spec in self.specs.values():
                if spec.primary:
                    found[spec.id].add(spec.variant)
            self._primary = dict(found)
        return self._primary

    def family_of(self, spec: ClaimSpec) -> tuple[str, str]:
        """(family name, role) of a claim test; role is "primary", "secondary" or "explicit"."""
        if spec.family:
            return spec.family, "explicit"
        primary = self.primary_variants().get(spec.id)
        if not primary:
            return spec.id, "primary"
        if len(primary) > 1:
            raise FamilyError(f"claim {spec.id!r}: variants {sorted(primary)} are all marked primary=True; "
                              "mark one variant primary")
        if spec.variant in primary:
            return spec.id, "primary"
        return f"{spec.id}@{spec.variant}", "secondary"

    def sizes(self) -> dict[str, int]:
        """Announced family sizes m: the sum of ``verdicts`` over the family's tests."""
        out: dict[str, int] = defaultdict(int)
        for spec in self.specs.values():
            try:
                name, _ = self.family_of(spec)
            except FamilyError:
                continue
            out[name] += spec.verdicts
        return dict(out)


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
