"""Result objects in the style of scipy.stats: small frozen dataclasses.

``Evidence`` is what a statistical procedure measured (estimate, confidence interval, n units,
the resampling unit, method, level, seed, bootstrap distribution). ``Verdict`` is the judgement a
claim draws from evidence: SUPPORTED / REFUTED / INCONCLUSIVE under a decision rule stated in
words. Both serialise to plain JSON (``to_dict``/``from_dict``) with no pickle; the JSON form is
what travels in ``report.user_properties`` and is written to ``reports/claims.json``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, NamedTuple

import numpy as np


class ConfidenceInterval(NamedTuple):
    """Two-field interval so that ``low, high = ev.confidence_interval`` works (as in scipy)."""

    low: float
    high: float


class Status(str, enum.Enum):
    SUPPORTED = "supported"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"


def _jsonable(x: Any) -> Any:
    """Plain-JSON form of numbers/arrays; NaN and inf become None so the JSON stays strict."""
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()]
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, enum.Enum):
        return x.value
    return x


@dataclass(frozen=True)
class Evidence:
    """What a procedure measured.

    Attributes
    ----------
    statistic : name of the quantity, e.g. ``"geometric-mean block gain"``.
    estimate : point estimate on the full sample.
    confidence_interval : (low, high) at ``confidence_level``; two-sided unless ``method`` says so.
    n : number of independent units (texts, models, seeds) — never tokens.
    unit : what was resampled, e.g. ``"text"``, ``"model"``, ``"seed"``.
    method : e.g. ``"bootstrap BCa (scipy.stats.bootstrap)"``.
    confidence_level : e.g. 0.95.
    seed : the integer seed of the RNG that produced the resamples (None if deterministic).
    p_value : raw p-value of the test behind the decision, where one exists.
    bootstrap_distribution : resampled statistics (kept for plots; may be empty).
    extra : small JSON-able dict of anything else (per-layer profile, per-model values, ...).
    """

    statistic: str
    estimate: float
    confidence_interval: ConfidenceInterval
    n: int
    unit: str
    method: str
    confidence_level: float = 0.95
    seed: int | None = None
    p_value: float | None = None
    bootstrap_distribution: tuple[float, ...] = field(default=(), repr=False)
    extra: dict = field(default_factory=dict)

    def to_dict(self, *, with_distribution: bool = False) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["confidence_interval"] = list(self.confidence_interval)
        if not with_distribution:
            d["bootstrap_distribution"] = []
        return _jsonable(d)

    @classmethod
    def from_dict(cls, d: dict) -> "Evidence":
        d = dict(d)
        lo, hi = d.pop("confidence_interval")
        nan = float("nan")
        d["confidence_interval"] = ConfidenceInterval(nan if lo is None else lo, nan if hi is None else hi)
        d["bootstrap_distribution"] = tuple(d.get("bootstrap_distribution") or ())
        d["estimate"] = nan if d.get("estimate") is None else d["estimate"]
        return cls(**d)


@dataclass(frozen=True)
class Verdict:
    """A claim's judgement on one model (or one panel) under one definition variant.

    ``rule`` states the decision rule in words, e.g. "supported if the 95% CI of G lies wholly
    above 1 + 0.005; refuted if wholly below 1 - 0.005; else inconclusive".
    ``p_adjusted`` is filled by the plugin after the family-wise correction (Holm by default).
    ``family`` groups verdicts for that correction (default: the claim id + variant).
    """

    claim_id: str
    status: Status
    evidence: Evidence
    rule: str
    models: tuple[str, ...] = ()
    variant: str = "corrected"
    claim_version: int = 1
    p_raw: float | None = None
    p_adjusted: float | None = None
    family: str | None = None
    label: str = ""          # short human label for this verdict within the test (e.g. a layer)
    caveats: tuple[str, ...] = ()
    reason: str = ""         # why this status, in words (e.g. why it is inconclusive)
    p_refute_raw: float | None = None       # smallest alpha at which the rule says REFUTED
    p_refute_adjusted: float | None = None  # filled by the plugin (same correction as p_adjusted)

    @property
    def key(self) -> str:
        """Stable identity of a verdict across runs (used by the baseline gate and compare)."""
        models = ",".join(self.models) or "-"
        tail = f"[{self.label}]" if self.label else ""
        return f"{self.claim_id}@{self.variant}:{models}{tail}"

    def with_status(self, status: Status, **changes) -> "Verdict":
        return replace(self, status=status, **changes)

    def to_dict(self, *, with_distribution: bool = False) -> dict:
        return _jsonable({
            "key": self.key,
            "claim_id": self.claim_id,
            "claim_version": self.claim_version,
            "status": self.status.value,
            "variant": self.variant,
            "models": list(self.models),
            "label": self.label,
            "rule": self.rule,
            "p_raw": self.p_raw,
            "p_adjusted": self.p_adjusted,
            "p_refute_raw": self.p_refute_raw,
            "p_refute_adjusted": self.p_refute_adjusted,
            "family": self.family,
            "caveats": list(self.caveats),
            "reason": self.reason,
            "evidence": self.evidence.to_dict(with_distribution=with_distribution),
        })

    @classmethod
    def from_dict(cls, d: dict) -> "Verdict":
        return cls(
            claim_id=d["claim_id"], status=Status(d["status"]), evidence=Evidence.from_dict(d["evidence"]),
            rule=d["rule"], models=tuple(d.get("models", ())), variant=d.get("variant", "corrected"),
            claim_version=d.get("claim_version", 1), p_raw=d.get("p_raw"), p_adjusted=d.get("p_adjusted"),
            family=d.get("family"), label=d.get("label", ""), caveats=tuple(d.get("caveats", ())),
            reason=d.get("reason", ""), p_refute_raw=d.get("p_refute_raw"),
            p_refute_adjusted=d.get("p_refute_adjusted"),
        )


@dataclass(frozen=True)
class Judgement:
    """What an assertion helper concluded, before it is attached to a claim.

    An assertion helper (``lmclaims.stats.assertions``) knows the data and the decision rule but
    not which claim, model or definition variant it serves; the ``verdict`` fixture of the pytest
    plugin turns a ``Judgement`` into a :class:`Verdict` by filling those in (``to_verdict``).

    Attributes
    ----------
    status : SUPPORTED / REFUTED / INCONCLUSIVE.
    evidence : the measurement behind the decision.
    rule : the decision rule in words, with the numbers it used.
    p_value : support p-value: the p-value of the null "the claim is false", defined so that
        ``status is SUPPORTED  <=>  p_value <= alpha`` (the smallest alpha at which the rule
        would have declared SUPPORTED). The plugin adjusts it over the claim's family (Holm / BH).
        None when the helper has no such p-value (exact arithmetic, too few units).
    p_refute : refutation p-value: the p-value of the null "the claim is true (beyond its
        margin)", ``status is REFUTED  <=>  p_refute <= alpha``; adjusted like ``p_value``.

    Only the helpers of :mod:`lmclaims.stats` issue judgements (through
    :func:`lmclaims.stats.judging.judgement`); the plugin's recorder rejects any other, including
    a copy with an edited status (``dataclasses.replace``).
    reason : why this status, in words (always set for INCONCLUSIVE).
    label : optional default label (e.g. ``"column 3"`` for a vectorised call).
    caveats : warnings a reader should see next to the verdict.
    """

    status: Status
    evidence: Evidence
    rule: str
    p_value: float | None = None
    reason: str = ""
    label: str = ""
    caveats: tuple[str, ...] = ()
    p_refute: float | None = None

    @property
    def supported(self) -> bool:
        return self.status is Status.SUPPORTED

    @property
    def refuted(self) -> bool:
        return self.status is Status.REFUTED

    @property
    def inconclusive(self) -> bool:
        return self.status is Status.INCONCLUSIVE

    def to_verdict(self, claim_id: str, *, models: tuple[str, ...] = (), variant: str = "corrected",
                   claim_version: int = 1, family: str | None = None, label: str | None = None,
                   caveats: tuple[str, ...] = ()) -> Verdict:
        """Attach this judgement to a claim; ``label``/``caveats`` add to the judgement's own."""
        return Verdict(
            claim_id=claim_id, status=self.status, evidence=self.evidence, rule=self.rule,
            models=tuple(models), variant=variant, claim_version=claim_version, p_raw=self.p_value,
            family=family, label=self.label if label is None else label,
            caveats=tuple(self.caveats) + tuple(caveats), reason=self.reason, p_refute_raw=self.p_refute,
        )

    def to_dict(self, *, with_distribution: bool = False) -> dict:
        return _jsonable({
            "status": self.status.value, "rule": self.rule, "p_value": self.p_value, "p_refute": self.p_refute,
            "reason": self.reason, "label": self.label, "caveats": list(self.caveats),
            "evidence": self.evidence.to_dict(with_distribution=with_distribution),
        })


@dataclass(frozen=True)
class Measurement:
    """A number a claim test reports where its claim makes no prediction (no verdict).

    E.g. the sign of G for a lab the claim names no direction for: the report shows it, the
    baseline gate watches its ``direction``, but it is never SUPPORTED or REFUTED.

    Attributes
    ----------
    evidence : estimate, interval, n, unit, method (from a :mod:`lmclaims.stats` helper).
    reference : the value the direction is read against (e.g. 1.0 for a gain).
    direction : ``"above"`` / ``"below"`` when the interval lies wholly on one side of
        ``reference``, else ``"unresolved"``.
    reason : in words, why no verdict is given.
    label : role of this measurement within the test.
    """

    evidence: Evidence
    reference: float
    direction: str
    reason: str = ""
    label: str = ""

    def to_dict(self) -> dict:
        return _jsonable({"evidence": self.evidence.to_dict(), "reference": self.reference,
                          "direction": self.direction, "reason": self.reason, "label": self.label})


_SEVERITY = {Status.SUPPORTED: 0, Status.INCONCLUSIVE: 1, Status.REFUTED: 2}


def worst_status(statuses) -> Status | None:
    """The most severe status (refuted > inconclusive > supported); None for no statuses."""
    statuses = [Status(s) for s in statuses]
    return max(statuses, key=_SEVERITY.__getitem__) if statuses else None
