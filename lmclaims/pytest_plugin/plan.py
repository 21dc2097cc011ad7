"""The session's measurement plan: one engine pass per (model, view, intervention) for every need.

Claim tests declare what they measure with ``@pytest.mark.measures(Need(...))`` (:mod:`lmclaims.plan`).
At the first measurement the plan reads the needs of the session's *final* selection — after ``-k``,
node ids and ``-m`` deselected what they did, and without tests that carry a ``skip`` marker (slow
variants without ``--claims-runslow``) — per model: a test parametrized with ``model`` contributes
to that model, a panel-level test (``model_pool``) to every panel model.

When a test first measures a model in one group (view key, intervention), the session's
``Measurer`` asks the plan for the probes of every need of that model in that group; they run in
the same forward pass and the measurement cache answers the later requests. A declared probe whose
name equals a requested one is left out (the request wins). Nothing is added when the cache is off
(``--claims-no-cache``): there would be nowhere to keep it. Host projects add probes to the default
eval view's pass with the ``pytest_lmclaims_default_view_probes`` hook.
"""

from __future__ import annotations

import json

from lmclaims.plan import Need, needs_of


def _skipped(item) -> bool:
    return item.get_closest_marker("skip") is not None


def needs_by_model(items, all_models) -> dict[str, list[Need]]:
    """{model name: the needs of the selected, unskipped tests that measure it} (declaration order)."""
    out: dict[str, list[Need]] = {m: [] for m in all_models}
    for item in items:
        if _skipped(item):
            continue
        needs = needs_of(item)
        if not needs:
            continue
        callspec = getattr(item, "callspec", None)
        model = callspec.params.get("model") if callspec is not None else None
        if isinstance(model, str) and model in out:
            targets = [model]
        elif "model_pool" in getattr(item, "fixturenames", ()):
            targets = list(out)
        else:
            targets = []
        for m in targets:
            out[m] += [n for n in needs if n not in out[m]]
    return out


def intervention_key(intervention) -> str:
    """A group's intervention as text: ``"none"`` or its ``describe()`` as sorted JSON."""
    if intervention is None or getattr(intervention, "name", None) == "none":
        return "none"
    return json.dumps(intervention.describe(), sort_keys=True, default=str)


class MeasurementPlan:
    """Per-session plan: the needs of each model and which (model, view, intervention) groups ran."""

    def __init__(self, session, all_models):
        self.session, self.all_models = session, list(all_models)
        self._needs: dict | None = None
        self._done: set = set()
        self._busy = False

    def needs(self, model_name: str) -> list[Need]:
        if self._needs is None:
            self._needs = needs_by_model(getattr(self.session, "items", ()) or (), self.all_models)
        return list(self._needs.get(model_name, ()))

    def tags(self) -> dict[str, list[str]]:
        """{model: tags of its planned needs} (what ``measure.plan()`` shows)."""
        return {m: [n.tag for n in self.needs(m)] for m in self.all_models}

    def planned(self, tag: str, model: str | None = None) -> bool:
        models = [model] if model is not None else self.all_models
        return any(n.tag == tag for m in models for n in self.needs(m))

    def extra_probes(self, lm, measure, requested, view, intervention) -> list:
        """Planned probes to add to the first pass of ``lm`` in this (view, intervention) group."""
        group = (lm.fingerprint, view.key, intervention_key(intervention))
        if self._busy or group in self._done:
            return []
        self._done.add(group)
        self._busy = True                  # a need's probes() may itself measure (a held-out fit)
        try:
            extra = []
            for need in self.needs(lm.name):
                need_view = need.view(measure) if need.view is not None else measure.view()
                if need_view.key != view.key:
                    continue
                need_iv = need.intervention(lm) if need.intervention is not None else None
                if intervention_key(need_iv) != group[2]:
                    continue
                extra += list(need.probes(lm, measure))
            config = getattr(self.session, "config", None)
            if config is not None and group[2] == "none" and view.key == measure.view().key:
                for found in config.hook.pytest_lmclaims_default_view_probes(lm=lm, measure=measure):
                    extra += list(found or ())
        finally:
            self._busy = False
        names = {p.name for p in requested}
        out = []
        for p in extra:
            if p.name not in names:
                names.add(p.name)
                out.append(p)
        return out
