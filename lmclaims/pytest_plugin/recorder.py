"""The ``verdict`` fixture: records judgements as verdicts of the test's claim.

Inside a claim test the fixture installs the test's resampling settings (see
:mod:`lmclaims.stats.context`), so helpers called without options use

* ``confidence_level = 1 - alpha/m`` — the Bonferroni level for the family of size ``m``
  (``--claims-correction none``: ``1 - alpha``);
* ``n_resamples`` and ``method`` of the active profile;
* a random stream seeded by ``(global seed, sha256(node id))``: independent of test order and of
  which other tests run, identical under pytest-xdist.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from lmclaims.pytest_plugin.claims import ClaimSpec
from lmclaims.pytest_plugin.options import RUN_OPTIONS, run_option
from lmclaims.stats.evidence import Judgement, Status, Verdict, _jsonable
from lmclaims.stats.multiple import bonferroni_level
from lmclaims.stats.profiles import ClaimSettings

VERDICT_PROPERTY = "lmclaims_verdict"
PLOT_KINDS = ("profile", "bars", "curves", "table")


def node_seed(seed: int, nodeid: str) -> np.random.SeedSequence:
    """Seed sequence of one test: (global seed, first 8 bytes of sha256(node id))."""
    digest = int.from_bytes(hashlib.sha256(nodeid.encode()).digest()[:8], "little")
    return np.random.SeedSequence([seed, digest])


def reproduce_command(config: pytest.Config, nodeid: str, settings: ClaimSettings) -> str:
    """Shell command that re-runs one test under the same statistical settings."""
    parts = ["pytest", shlex.quote(nodeid), "--claims-profile", settings.profile, "--claims-seed", str(settings.seed)]
    if config.getoption("claims_n_resamples") is not None:
        parts += ["--claims-n-resamples", str(settings.n_resamples)]
    if settings.correction != "holm":
        parts += ["--claims-correction", settings.correction]
    for name in RUN_OPTIONS:
        value = run_option(config, name)
        if value is not None:
            parts += [f"--{name}", shlex.quote(str(value))]
    return " ".join(parts)


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

    def __init__(self, item: pytest.Item, claim: ClaimSpec, settings: ClaimSettings, family_size: int):
        self.item = item
        self.claim = claim
        self.settings = settings
        self.family = claim.family
        self.family_size = max(1, int(family_size))
        self.confidence_level = bonferroni_level(settings.confidence_level, self.family_size, settings.correction)
        self._seeds = node_seed(settings.seed, item.nodeid)
        self.verdicts: list[Verdict] = []

    @property
    def alpha(self) -> float:
        return round(1.0 - self.confidence_level, 12)

    def rng(self) -> np.random.Generator:
        """A new generator; the k-th call in a test always gives the same stream."""
        return np.random.default_rng(self._seeds.spawn(1)[0])

    def record(self, judgement: Judgement | Iterable[Judgement], *, models: str | Sequence[str] = (), label: str = "",
               caveats: Sequence[str] = (), plots: Sequence[dict] | None = None) -> Verdict | list[Verdict]:
        """Record a judgement (or each of a tuple of judgements) as a verdict of this claim.

        ``models`` defaults to the test's ``model`` parameter when it has one. ``label`` tells
        several verdicts of one test apart (e.g. ``"layer 3"``); each verdict's key
        (claim@variant:models[label]) must be unique within the test. ``plots`` are small
        JSON-able figure specs (``lmclaims/report/SCHEMA.md``), attached to this verdict.
        """
        if not isinstance(judgement, Judgement):
            items = list(judgement)
            if not items or not all(isinstance(j, Judgement) for j in items):
                raise TypeError("verdict.record expects a Judgement (or a non-empty sequence of them)")
            return [self.record(j, models=models, label=" ".join(x for x in (label, j.label) if x),
                                caveats=caveats, plots=plots if k == 0 else None) for k, j in enumerate(items)]
        models = (models,) if isinstance(models, str) else tuple(models) or self._default_models()
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
                     command=reproduce_command(self.item.config, self.item.nodeid, self.settings), plots=plots)
        self.item.user_properties.append((VERDICT_PROPERTY, entry))
        return verdict

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
