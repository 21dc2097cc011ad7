"""claims.json dict → the view model the templates render (plain dicts/dataclasses, no HTML).

Page order (what a reviewer reads first comes first): run status and drift against the baseline,
findings per paper with the suite totals and what did not run, the claims × models matrix, one card
per claim, then provenance (settings, models, environment). All HTML escaping happens in the
templates (Jinja2 autoescape, plus :func:`lmclaims.report.format.clean_text` for control and bidi
characters); the only pre-built markup is SVG from matplotlib. Every field may be missing or null
(older schemas included); nothing here raises on such input.
"""

from __future__ import annotations

import itertools
import shlex
from typing import Any

from .cards import claim_card, not_run_row
from .compare import changes_from_entries
from .findings import not_tested, paper_blocks, suite_line
from .format import MISSING, as_text, fmt_count, fmt_num, fmt_seconds, status_of, unique_slugs
from .matrix import build_matrix, status_for_test
from .summary import counts

SUPPORTED_SCHEMA = (1, 2)


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list:
    return x if isinstance(x, list) else []


def provenance(report: dict) -> dict:
    """Run metadata: one summary line, settings, corpus, environment, models and run caveats."""
    git, run, corpus = _dict(report.get("git")), _dict(report.get("run")), _dict(report.get("corpus"))
    settings = _dict(report.get("settings"))
    command = report.get("command")
    if isinstance(command, list):
        command = shlex.join(str(c) for c in command)
    profile = report.get("profile")
    profile_name = _dict(profile).get("profile") if isinstance(profile, dict) else profile
    commit = as_text(git.get("commit"))[:12] + (" + uncommitted changes" if git.get("dirty") else "") \
        if git.get("commit") else ""
    panel = settings.get("panel") or run.get("panel")
    line = [("created", report.get("created")), ("commit", commit), ("panel", panel),
            ("profile", settings.get("profile") or profile_name), ("seed", settings.get("seed") or report.get("seed")),
            ("session", fmt_seconds(_dict(report.get("timings")).get("session_seconds")))]
    if settings:
        setting_rows = [(str(k), as_text(v)) for k, v in settings.items()]
    else:
        setting_rows = [(k, as_text(v)) for k, v in (("profile", ", ".join(f"{k}={as_text(v)}" for k, v in
                                                                           _dict(profile).items())),
                                                      ("seed", report.get("seed")), ("correction", report.get("correction")),
                                                      *run.items()) if v not in (None, "")]
    models, caveats = [], {}
    for name, m in _dict(report.get("models")).items():
        m = _dict(m)
        models.append({"name": str(name), **{k: as_text(m.get(k)) for k in ("lab", "family", "layers", "source")},
                       "origin": as_text(m.get("origin"))[-120:] if m.get("origin") else "",
                       "fingerprint": as_text(m.get("fingerprint"))[:120], "params": fmt_count(m.get("params"))})
        for c in _list(m.get("caveats")):
            caveats.setdefault(as_text(c), []).append(str(name))
    notes = []
    if git.get("dirty"):
        notes.append("The git working tree had uncommitted changes: the commit alone does not reproduce this run.")
    base = _dict(report.get("baseline"))
    if _list(base.get("missing")):
        notes.append(f"{len(base['missing'])} verdict(s) are not in the baseline file "
                     f"{as_text(base.get('file'))}, so the baseline gate did not check them.")
    version = report.get("schema_version")
    if version is not None and version not in SUPPORTED_SCHEMA:
        notes.append(f"claims.json schema_version {as_text(version)}; this renderer knows versions "
                     f"{', '.join(map(str, SUPPORTED_SCHEMA))}. Some fields may be missing from this page.")
    return {
        "line": [(k, as_text(v)) for k, v in line if v not in (None, "", MISSING)],
        "command": as_text(command) if command else "",
        "settings": setting_rows,
        "corpus": [(k, as_text(corpus.get(k))) for k in ("name", "sha256", "n_texts", "origin") if corpus.get(k)],
        "environment": [(str(k), as_text(v)) for k, v in _dict(report.get("environment")).items()],
        "models": models,
        "caveats": [{"text": t, "models": names} for t, names in caveats.items()],
        "notes": notes,
    }


def drift(report: dict) -> dict | None:
    """Changed, new, removed and direction-flipped verdicts against the baseline (or ``compare``)."""
    d = report.get("drift")
    if isinstance(d, dict):
        rows = []
        for c in _list(d.get("changes")):
            c = _dict(c)
            change = as_text(c.get("change"))
            # a measurement has no status: its entry is about its direction (or it is new / gone)
            present = {"old": change not in ("new",), "new": change not in ("removed",)}
            rows.append({"key": as_text(c.get("key")), "change": change,
                         "old": as_text(c.get("old_status") or ("measured" if present["old"] else "absent")),
                         "new": as_text(c.get("new_status") or ("measured" if present["new"] else "absent")),
                         "old_estimate": fmt_num(c.get("old_estimate")), "new_estimate": fmt_num(c.get("new_estimate")),
                         "reason": as_text(c.get("reason") or "")})
        return {"against": as_text(d.get("against") or "the baseline"), "rows": rows}
    if report.get("compare") is not None:
        rows = [{"key": c.key, "change": c.kind, "old": c.old.status if c.old else "absent",
                 "new": c.new.status if c.new else "absent",
                 "old_estimate": c.old.describe() if c.old else "", "new_estimate": c.new.describe() if c.new else "",
                 "reason": ""} for c in changes_from_entries(report.get("compare")) if c.kind != "unchanged"]
        return {"against": "the previous run (--claims-compare)", "rows": rows}
    return None


def build_view(report: Any) -> dict:
    """The whole page's view model from a claims.json dict (any malformed part is tolerated)."""
    report = _dict(report)
    verdicts = [v for v in _list(report.get("verdicts")) if isinstance(v, dict)]
    measurements = [m for m in _list(report.get("measurements")) if isinstance(m, dict)]
    tests = [t for t in _list(report.get("tests")) if isinstance(t, dict)]
    claims = _dict(report.get("claims"))
    claim_ids = list(dict.fromkeys([str(c) for c in claims]
                                   + [str(v.get("claim_id") or "?") for v in verdicts]
                                   + [str(m["claim_id"]) for m in measurements if m.get("claim_id")]
                                   + [str(t["claim_id"]) for t in tests if t.get("claim_id")]))
    anchors = unique_slugs(claim_ids)
    fig_ids = itertools.count(1)

    def next_id() -> str:
        return f"fig{next(fig_ids)}-"

    def variant_names(cid: str) -> list[str]:
        declared = [str(x) for x in _list(_dict(claims.get(cid)).get("variants"))]
        seen = [str(x.get("variant") or MISSING) for x in (*verdicts, *measurements, *tests)
                if str(x.get("claim_id") or "?") == cid]
        return list(dict.fromkeys([*declared, *seen]))

    def of(xs, cid):
        return [x for x in xs if str(x.get("claim_id") or "?") == cid]

    not_run = [not_run_row(t) for t in tests if status_for_test(t)]
    skips = not_tested(tests, verdicts, anchors)
    complete = report.get("complete")
    panel = [str(m) for m in _dict(report.get("models"))]
    cards = [claim_card(cid, anchors[cid], _dict(claims.get(cid)), variant_names(cid), of(verdicts, cid),
                        of(tests, cid), of(measurements, cid), next_id, panel) for cid in claim_ids]
    return {
        "incomplete": (as_text(report.get("incomplete_reason") or "the run did not finish")
                       if complete is False else ""),
        "provenance": provenance(report),
        "n_verdicts": len(verdicts), "n_measurements": len(measurements),
        "verdict_totals": counts(verdicts),
        "not_run_totals": [(s, sum(1 for r in not_run if r["status"] == s)) for s in ("skipped", "error")
                           if any(r["status"] == s for r in not_run)],
        "drift": drift(report),
        "papers": paper_blocks(claims, claim_ids, verdicts, measurements, anchors, variant_names,
                               {t["claim_id"]: t["reason"] for t in reversed(skips)}),
        "suite": suite_line(report, len(verdicts)),
        "not_tested": skips,
        "matrix": build_matrix(verdicts, tests, declared_models=panel,
                               claim_order=claim_ids, anchors=anchors,
                               variant_order={c: variant_names(c) for c in claim_ids}),
        "claims": cards,
        "errors": [r for r in not_run if r["status"] == "error"],
        "status_of": status_of,
    }
