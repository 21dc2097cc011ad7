"""The ``verdict`` fixture: records judgements as verdicts of the test's claim.

Inside a claim test the fixture installs the test's resampling settings (see
:mod:`lmclaims.stats.context`), so helpers called without options use

* ``confidence_level = 1 - alpha/m`` — the Bonferroni level for the family of size ``m``
  (``--claims-correction none``: ``1 - alpha``);
* ``n_resamples`` and ``method`` of the active profile;
* a random stream seeded by ``(global seed, sha256(node id))``: independent of test order and of
  which other tests run, identical under pytest-xdist.

What it accepts (a wrong call raises, naming the claim):

* a :class:`~lmclaims.stats.evidence.Judgement` issued by a helper of :mod:`lmclaims.stats`
  (:func:`lmclaims.stats.judging.issued`) — never one built in claim code or edited with
  ``dataclasses.replace``; the only status edit is the recorder's own re-decision at the family
  level (:meth:`VerdictRecorder._at_family_level`);
* at most the marker's ``verdicts=`` judgements per test (the family size was announced from it);
* a :class:`~lmclaims.stats.evidence.Measurement` — a number where the claim predicts nothing:
  stored in claims.json ``"measurements"``, never a verdict; a test that records only
  measurements passes with the status word "measured".
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from lmclaims.pytest_plugin.claims import ClaimSpec
from lmclaims.pytest_plugin.run_settings import RunSettings
from lmclaims.stats.evidence import Judgement, Measurement, Status, Verdict, _jsonable
from lmclaims.stats.judging import issued
from lmclaims.stats.multiple import bonferroni_level
from lmclaims.stats.profiles import ClaimSettings

VERDICT_PROPERTY = "lmclaims_verdict"
MEASUREMENT_PROPERTY = "lmclaims_measurement"
DIRECTIONS = ("above", "below", "unresolved")
PLOT_KINDS = ("profile", "bars", "curves", "table")


def node_seed(seed: int, nodeid: str) -> np.random.SeedSequence:
    """Seed sequence of one test: (global seed, first 8 bytes of sha256(node id))."""
    digest = int.from_bytes(hashlib.sha256(nodeid.encode()).digest()[:8], "little")
    return np.random.SeedSequence([seed, digest])


class VerdictRecorder:
    """What a claim test sees as ``verdict``.

    Attributes
    ----------
    settings : the run's :class:`ClaimSettings` (``n_resamples``, ``confidence_level``, ``seed``,
        ``max_texts``, ``method``, ``correction``, ``profile``).
    claim : the test's :class:`ClaimSpec`.
    family, family_size : the multiple-comparison family and its size m.
    confidence_level : the per-test level helpers use by default, ``1 - alpha/m``.
    verdicts : the verdicts recorded so far.
    """

    def __init__(self, item: pytest.Item, claim: ClaimSpec, settings: ClaimSettings, family_size: int, *,
                 family: str | None = None, family_role: str = "primary", run: RunSettings | None = None):
        self.item = item
        self.claim = claim
        self.settings = settings
        self.family = family or claim.family or claim.id
        self.family_role = family_role
        self.run = run or RunSettings(profile=settings.profile, seed=settings.seed, n_resamples=settings.n_resamples,
                                      correction=settings.correction, max_texts=settings.max_texts)
        self.family_size = max(1, int(family_size))
        self.measurements: list[dict] = []
        self.confidence_level = bonferroni_level(settings.confidence_level, self.family_size, settings.correction)
        self._seeds = node_seed(settings.seed, item.nodeid)
        self.verdicts: list[Verdict] = []

    @property
    def alpha(self) -> float:
        return round(1.0 - self.confidence_level, 12)

    def rng(self) -> np.random.Generator:
        """A new generator; the k-th call in a test always gives the same stream."""
        return np.random.default_rng(self._seeds.spawn(1)[0])

    def record(self, judgement: Judgement | Measurement | Iterable[Judgement], *, models: str | Sequence[str] = (),
               label: str = "", caveats: Sequence[str] = (), plots: Sequence[dict] | None = None):
        """Record a judgement (or each of a tuple of judgements) as a verdict of this claim, or a
        :class:`Measurement` (no verdict) — see the module docstring for what is accepted.

        ``models`` defaults to the test's ``model`` parameter when it has one. ``label`` tells
        several verdicts of one test apart (e.g. ``"layer 3"``); each verdict's key
        (claim@variant:models[label]) must be unique within the test. ``plots`` are small
        JSON-able figure specs (``lmclaims/report/SCHEMA.md``), attached to this verdict.
        """
        if isinstance(judgement, Measurement):
            return self._record_measurement(judgement, models=models, label=label, plots=plots)
        if not isinstance(judgement, Judgement):
            try:
                items = list(judgement)
            except TypeError:
                items = []
            if not items or not all(isinstance(j, Judgement) for j in items):
                raise TypeError(f"claim {self.claim.id!r}: verdict.record expects a Judgement from a lmclaims.stats "
                                f"helper, a Measurement, or a non-empty sequence of Judgements; got {judgement!r:.80}")
            return [self.record(j, models=models, label=" ".join(x for x in (label, j.label) if x),
                                caveats=caveats, plots=plots if k == 0 else None) for k, j in enumerate(items)]
        if not issued(judgement):
            raise TypeError(f"claim {self.claim.id!r} ({self.item.nodeid}): verdict.record got a Judgement that no "
                            "lmclaims.stats helper issued (built in claim code, or edited with dataclasses.replace); "
                            "only the helpers of lmclaims.stats may decide a status")
        if len(self.verdicts) >= self.claim.verdicts:
            raise ValueError(f"claim {self.claim.id!r} ({self.item.nodeid}): this test records more verdicts than its "
                             f"marker declares (verdicts={self.claim.verdicts}); the family size m was announced from "
                             "it, so raise verdicts= on the @pytest.mark.claim marker")
        models = self._models(models)
        plots = _checked_plots(plots)
        verdict = judgement.to_verdict(self.claim.id, models=models, variant=self.claim.variant,
                                       claim_version=self.claim.version, family=self.family,
                                       label=label or judgement.label, caveats=tuple(caveats))
        verdict = self._at_family_level(verdict, judgement)
        if any(v.key == verdict.key for v in self.verdicts):
            raise ValueError(f"verdict {verdict.key!r} was already recorded in this test; give each verdict a label")
        self.verdicts.append(verdict)
        entry = verdict.to_dict()
        entry.update(nodeid=self.item.nodeid, index=len(self.verdicts) - 1, family_size=self.family_size,
                     family_role=self.family_role, command=self.run.command(self.item.nodeid), plots=plots)
        self.item.user_properties.append((VERDICT_PROPERTY, entry))
        return verdict

    def _record_measurement(self, m: Measurement, *, models, label: str, plots) -> dict:
        if m.direction not in DIRECTIONS:
            raise ValueError(f"claim {self.claim.id!r}: a Measurement's direction must be one of {DIRECTIONS}, "
                             f"got {m.direction!r}")
        models = self._models(models)
        label = label or m.label
        key = Verdict(claim_id=self.claim.id, status=Status.INCONCLUSIVE, evidence=m.evidence, rule="",
                      models=models, variant=self.claim.variant, label=label).key
        if any(d["key"] == key for d in self.measurements) or any(v.key == key for v in self.verdicts):
            raise ValueError(f"measurement {key!r} was already recorded in this test; give each one a label")
        entry = m.to_dict()
        entry.update(key=key, claim_id=self.claim.id, claim_version=self.claim.version, variant=self.claim.variant,
                     models=list(models), label=label, nodeid=self.item.nodeid, index=len(self.measurements),
                     command=self.run.command(self.item.nodeid), plots=_checked_plots(plots))
        self.measurements.append(entry)
        self.item.user_properties.append((MEASUREMENT_PROPERTY, entry))
        return entry

    def _models(self, models) -> tuple[str, ...]:
        return (models,) if isinstance(models, str) else tuple(models) or self._default_models()

    def _at_family_level(self, verdict: Verdict, judgement: Judgement) -> Verdict:
        """A SUPPORTED judged at a laxer level than 1 - alpha/m is re-decided from its p-value."""
        used = judgement.evidence.extra.get("alpha")
        if used is None or used <= self.alpha + 1e-12:
            return verdict
        note = (f"judged at alpha={used:g}, laxer than the family level {self.alpha:g} "
                f"(m={self.family_size}); pass no confidence_level to use the family level")
        if verdict.status is Status.SUPPORTED and (verdict.p_raw is None or verdict.p_raw > self.alpha):
            return verdict.with_status(Status.INCONCLUSIVE, caveats=verdict.caveats + (note,),
                                       reason=f"not significant at the family level alpha/m={self.alpha:g} "
                                              f"(p={verdict.p_raw}); {verdict.reason}")
        return verdict.with_status(verdict.status, caveats=verdict.caveats + (note,))

    def _default_models(self) -> tuple[str, ...]:
        params = getattr(getattr(self.item, "callspec", None), "params", {})
        model = params.get("model")
        if model is None:
            return ()
        name = model if isinstance(model, str) else getattr(model, "name", None)
        return (str(name),) if name else ()


def _checked_plots(plots) -> list[dict]:
    out = []
    for spec in plots or ():
        if not isinstance(spec, dict) or spec.get("kind") not in PLOT_KINDS:
            raise ValueError(f"a plot spec must be a dict with kind in {PLOT_KINDS}, got {spec!r:.80}")
        try:
            out.append(json.loads(json.dumps(_jsonable(spec), allow_nan=False)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"plot spec {spec.get('title', '')!r} is not plain JSON: {exc}") from None
    return out


def worst(verdict_dicts: Iterable[dict]) -> Status | None:
    from lmclaims.stats.evidence import worst_status

    return worst_status(d["status"] for d in verdict_dicts)
