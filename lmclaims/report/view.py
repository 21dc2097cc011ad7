"""claims.json dict → the view model the templates render (plain dicts/dataclasses, no HTML).

All HTML escaping happens in the templates (Jinja2 autoescape); the only pre-built markup is the
SVG from :mod:`lmclaims.report.plots`, which matplotlib escapes. Every field of the JSON may be
missing or null; nothing here raises on such input.
"""

from __future__ import annotations

import itertools
import json
import shlex
from collections import Counter
from typing import Any

from .compare import changes_from_entries
from .format import (BADGE_STATUSES, MISSING, as_float, as_text, fmt_ci, fmt_num, fmt_p,
                     fmt_count, fmt_seconds, status_of, unique_slugs)
from .matrix import PANEL, build_matrix, status_for_test
from .plots import forest_svg, render_plot

SUPPORTED_SCHEMA = 1
MAX_REASON_CHARS = 4000    # long tracebacks are cut; the full text is in claims.json


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list:
    return x if isinstance(x, list) else []


def _text_or_none(x: Any) -> str | None:
    return None if x is None or x == "" else as_text(x)


class _Ids:
    """Page-unique id prefixes for inline SVGs (deterministic for a given report)."""

    def __init__(self) -> None:
        self._n = itertools.count(1)

    def next(self) -> str:
        return f"fig{next(self._n)}-"


def header(report: dict) -> dict:
    """Run metadata rows, environment, corpus, models and the gathered caveats."""
    git, run, corpus = _dict(report.get("git")), _dict(report.get("run")), _dict(report.get("corpus"))
    command = report.get("command")
    if isinstance(command, list):
        command = shlex.join(str(c) for c in command)
    profile = report.get("profile")
    if isinstance(profile, dict):
        profile = ", ".join(f"{k}={as_text(v)}" for k, v in profile.items())
    dirty = git.get("dirty")
    commit = as_text(git.get("commit")) + (" (uncommitted changes)" if dirty else "")
    run_extra = [(str(k), v) for k, v in run.items() if k not in ("panel", "device", "dtype")]
    run_rows = [
        ("created", report.get("created")), ("lmclaims", report.get("lmclaims_version")),
        ("git commit", commit if git else None), ("command", command), ("profile", profile),
        ("seed", report.get("seed")), ("correction", report.get("correction")),
        ("panel", run.get("panel")), ("device", run.get("device")), ("dtype", run.get("dtype")),
        *run_extra,
        ("session time", fmt_seconds(_dict(report.get("timings")).get("session_seconds"))),
    ]
    corpus_rows = [("corpus", corpus.get("name")), ("sha256", corpus.get("sha256")),
                   ("texts", corpus.get("n_texts")), ("origin", corpus.get("origin"))]
    env = [(str(k), as_text(v)) for k, v in _dict(report.get("environment")).items()]
    models = []
    caveats: dict[str, list[str]] = {}
    for name, m in _dict(report.get("models")).items():
        m = _dict(m)
        models.append({"name": str(name), **{k: as_text(m.get(k)) for k in
                       ("fingerprint", "lab", "family", "layers", "source")},
                       "params": fmt_count(m.get("params"))})
        for c in _list(m.get("caveats")):
            caveats.setdefault(as_text(c), []).append(str(name))
    notes = []
    if dirty:
        notes.append("The git working tree had uncommitted changes: the commit alone does not "
                     "reproduce this run.")
    base = _dict(report.get("baseline"))
    if _list(base.get("missing")):
        notes.append(f"{len(base['missing'])} verdict(s) are not in the baseline file "
                     f"{as_text(base.get('file'))}, so the baseline gate did not check them.")
    version = report.get("schema_version")
    if version is not None and version != SUPPORTED_SCHEMA:
        notes.append(f"claims.json schema_version {as_text(version)}; this renderer knows "
                     f"version {SUPPORTED_SCHEMA}. Some fields may be missing from this page.")
    return {
        "run": [(k, as_text(v)) for k, v in run_rows if v not in (None, "", MISSING)],
        "corpus": [(k, as_text(v)) for k, v in corpus_rows if v not in (None, "")],
        "environment": env,
        "models": models,
        "caveats": [{"text": text, "models": names} for text, names in caveats.items()],
        "notes": notes,
    }


def verdict_row(v: dict) -> dict:
    """One verdict as table cells (all strings) plus its status and key."""
    ev = _dict(v.get("evidence"))
    models = v.get("models") or []
    models = [models] if isinstance(models, str) else models
    return {
        "key": as_text(v.get("key")),
        "model": ", ".join(str(m) for m in models) or PANEL,
        "label": as_text(v.get("label")) if v.get("label") else "",
        "status": status_of(v.get("status")),
        "statistic": as_text(ev.get("statistic")) if ev.get("statistic") else "",
        "estimate": fmt_num(ev.get("estimate")),
        "ci": fmt_ci(ev.get("confidence_interval")),
        "level": fmt_num(ev.get("confidence_level"), 3) if ev.get("confidence_level") is not None else "",
        "n": as_text(ev.get("n")),
        "unit": as_text(ev.get("unit")),
        "method": as_text(ev.get("method")),
        "p_raw": fmt_p(v.get("p_raw") if v.get("p_raw") is not None else ev.get("p_value")),
        "p_adjusted": fmt_p(v.get("p_adjusted")),
        "reason": as_text(v.get("reason")) if v.get("reason") else "",
    }


def _ordered_counts(statuses) -> list[tuple[str, int]]:
    counts = Counter(statuses)
    return [(s, counts[s]) for s in (*BADGE_STATUSES, "unknown") if counts[s]]


def _reference_of(v: dict) -> float | None:
    """The decision threshold a forest plot should mark (``extra.reference`` or ``extra.threshold``)."""
    extra = _dict(_dict(v.get("evidence")).get("extra"))
    return as_float(extra.get("reference", extra.get("threshold")))


def _forests(claim_id: str, variant: str, verdicts: list[dict], ids: _Ids) -> list[str]:
    """One forest plot per (statistic, unit) group among a variant's verdicts."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for v in verdicts:
        ev = _dict(v.get("evidence"))
        groups.setdefault((as_text(ev.get("statistic") or "estimate"), as_text(ev.get("unit") or "")),
                          []).append(v)
    out = []
    for (statistic, _unit), vs in groups.items():
        rows = []
        for v in vs:
            ev, r = _dict(v.get("evidence")), verdict_row(v)
            ci = _list(ev.get("confidence_interval")) + [None, None]
            rows.append({"label": " \u00b7 ".join(x for x in (r["model"], r["label"]) if x),
                         "estimate": ev.get("estimate"), "lo": ci[0], "hi": ci[1], "status": r["status"]})
        refs = {_reference_of(v) for v in vs}
        reference = refs.pop() if len(refs) == 1 else None
        svg = forest_svg(rows, title=f"{claim_id} \u00b7 {variant}: {statistic}", xlabel=statistic,
                         id_prefix=ids.next(), reference=reference)
        if svg:
            out.append(svg)
    return out


def _plots(verdicts: list[dict], ids: _Ids) -> list:
    """Rendered plots of a variant's verdicts, identical specs drawn once."""
    seen, out = set(), []
    for v in verdicts:
        for spec in _list(v.get("plots")):
            fingerprint = json.dumps(spec, sort_keys=True, default=str)
            if fingerprint not in seen:
                seen.add(fingerprint)
                out.append(render_plot(spec, id_prefix=ids.next()))
    return out


def _variant(claim_id: str, variant: str, verdicts: list[dict], tests: list[dict], ids: _Ids) -> dict:
    rules = list(dict.fromkeys(as_text(v["rule"]) for v in verdicts if v.get("rule")))
    caveats = list(dict.fromkeys(as_text(c) for v in verdicts for c in _list(v.get("caveats"))))
    commands = list(dict.fromkeys(as_text(v["command"]) for v in verdicts if v.get("command")))
    not_run = [not_run_row(t) for t in tests if status_for_test(t)]
    return {
        "name": variant,
        "rules": rules,
        "rows": [verdict_row(v) for v in verdicts],
        "counts": _ordered_counts(status_of(v.get("status")) for v in verdicts),
        "forests": _forests(claim_id, variant, verdicts, ids),
        "plots": _plots(verdicts, ids),
        "caveats": caveats,
        "commands": commands,
        "not_run": not_run,
    }


def not_run_row(t: dict) -> dict:
    """A test that recorded no verdict (skipped or failed), for the skipped / errors lists."""
    reason = as_text(t.get("reason")) if t.get("reason") else "(no reason given)"
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS] + "\n\u2026 (cut; full text in claims.json)"
    return {"nodeid": as_text(t.get("nodeid")), "claim_id": _text_or_none(t.get("claim_id")),
            "variant": _text_or_none(t.get("variant")), "status": status_for_test(t) or "unknown",
            "reason": reason, "duration": fmt_seconds(t.get("duration"))}


def claim_sections(report: dict, verdicts: list[dict], tests: list[dict], anchors: dict[str, str],
                   ids: _Ids) -> list[dict]:
    """One section per claim id: statement, source and one block per variant."""
    claims = _dict(report.get("claims"))
    sections = []
    for claim_id, anchor in anchors.items():
        meta = _dict(claims.get(claim_id))
        vs = [v for v in verdicts if str(v.get("claim_id") or "?") == claim_id]
        ts = [t for t in tests if str(t.get("claim_id") or "") == claim_id]
        declared = [str(x) for x in _list(meta.get("variants"))]
        seen = [str(x.get("variant") or MISSING) for x in (*vs, *ts)]
        names = [n for n in dict.fromkeys([*declared, *seen])]
        variants = []
        for name in names:
            v_vs = [v for v in vs if str(v.get("variant") or MISSING) == name]
            v_ts = [t for t in ts if str(t.get("variant") or MISSING) == name]
            variants.append(_variant(claim_id, name, v_vs, v_ts, ids))
        sections.append({
            "id": claim_id, "anchor": anchor,
            "statement": _text_or_none(meta.get("statement")),
            "source": _text_or_none(meta.get("source")),
            "version": _text_or_none(meta.get("version")),
            "variants": variants,
        })
    return sections


def build_view(report: Any) -> dict:
    """The whole page's view model from a claims.json dict (any malformed part is tolerated)."""
    report = _dict(report)
    verdicts = [v for v in _list(report.get("verdicts")) if isinstance(v, dict)]
    tests = [t for t in _list(report.get("tests")) if isinstance(t, dict)]
    claim_ids = list(dict.fromkeys([str(c) for c in _dict(report.get("claims"))]
                                   + [str(v.get("claim_id") or "?") for v in verdicts]
                                   + [str(t["claim_id"]) for t in tests if t.get("claim_id")]))
    anchors = unique_slugs(claim_ids)
    ids = _Ids()
    not_run = [not_run_row(t) for t in tests if status_for_test(t)]
    claims = _dict(report.get("claims"))
    variant_order = {c: [str(x) for x in _list(_dict(claims.get(c)).get("variants"))] for c in claim_ids}
    compare = report.get("compare")
    return {
        "header": header(report),
        "verdict_totals": _ordered_counts(status_of(v.get("status")) for v in verdicts),
        "not_run_totals": _ordered_counts(r["status"] for r in not_run),
        "n_verdicts": len(verdicts),
        "matrix": build_matrix(verdicts, tests, declared_models=[str(m) for m in _dict(report.get("models"))],
                               claim_order=claim_ids, variant_order=variant_order,
                               anchors=anchors),
        "claims": claim_sections(report, verdicts, tests, anchors, ids),
        "skipped": [r for r in not_run if r["status"] == "skipped"],
        "errors": [r for r in not_run if r["status"] == "error"],
        "compare": changes_from_entries(compare) if compare is not None else None,
    }
