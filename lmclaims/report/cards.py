"""One card per claim: statement and source, then per variant what was measured, the rule, the
verdict(s), one readable plot, caveats, measurements, and the reproduce command.

What is the same for every verdict of a variant (statistic, unit, n, method, level, rule) is said
once above the results; a variant with many verdicts (one per layer, matrix type, model) gets one
plot — a per-layer profile when its labels are layers, else a forest plot — and its table
collapses behind ``<details>``.
"""

from __future__ import annotations

import json
from typing import Any

from .forest import forest_svg, layer_number, layer_profile_svg
from .format import MISSING, as_float, as_text, fmt_ci, fmt_num, fmt_p, status_of
from .matrix import status_for_test, verdict_models, who_of
from .papers import paper_link, paper_of, seed_of
from .plots import render_plot
from .summary import evidence, extra, is_exact, summarize, threshold

MAX_REASON_CHARS = 4000    # long tracebacks are cut; the full text is in claims.json
VARIANT_MEANING = {
    "as-published": "the paper's definition and numbers, as published",
    "corrected": "our corrected definition (what the paper's own test could not decide)",
}


def _list(x: Any) -> list:
    return x if isinstance(x, list) else []


def who(v: dict, panel: list[str] = ()) -> str:
    """``model · label``; several models are named as in the matrix (``panel``, ``3 models``)."""
    ms = verdict_models(v)
    models = ms[0] if len(ms) == 1 else who_of(ms, list(panel)) if ms else ""
    label = as_text(v.get("label")) if v.get("label") else ""
    return " \u00b7 ".join(x for x in (models, label) if x) or MISSING


def _p_text(v: dict) -> str:
    parts = []
    for name, raw, adj in (("p", "p_raw", "p_adjusted"), ("refute p", "p_refute_raw", "p_refute_adjusted")):
        r = v.get(raw) if raw != "p_raw" or v.get(raw) is not None else evidence(v).get("p_value")
        if r is None and v.get(adj) is None:
            continue
        parts.append(f"{name} {fmt_p(r)}" + (f" (adjusted {fmt_p(v.get(adj))})" if v.get(adj) is not None else ""))
    return "; ".join(parts)


def verdict_row(v: dict, panel: list[str] = ()) -> dict:
    """One verdict as display strings."""
    ev, ex = evidence(v), extra(v)
    return {
        "key": as_text(v.get("key")), "who": who(v, panel), "status": status_of(v.get("status")),
        "estimate": fmt_num(ev.get("estimate")),
        "ci": "exact" if is_exact(v) else fmt_ci(ev.get("confidence_interval")),
        "p": _p_text(v), "p_adjusted": fmt_p(v.get("p_adjusted")),
        "p_refute_adjusted": fmt_p(v.get("p_refute_adjusted")),
        "reason": as_text(v.get("reason")) if v.get("reason") else "",
        "refuted_as": as_text(ex.get("refuted_as")) if ex.get("refuted_as") else "",
        "direction": as_text(ex.get("direction")) if ex.get("direction") else "",
    }


def _same(values: list) -> str | None:
    distinct = list(dict.fromkeys(as_text(x) for x in values if x not in (None, "")))
    return distinct[0] if len(distinct) == 1 else ("varies (see the table)" if distinct else None)


def measured(verdicts: list[dict]) -> list[tuple[str, str]]:
    """What was measured, said once: statistic, unit and n, method, confidence level."""
    evs = [evidence(v) for v in verdicts]
    rows = [("statistic", _same([e.get("statistic") for e in evs])),
            ("independent unit", _same([f"{as_text(e.get('n'))} \u00d7 {as_text(e.get('unit'))}"
                                        if e.get("n") is not None else e.get("unit") for e in evs])),
            ("method", _same([e.get("method") for e in evs])),
            ("method choice", _same([_dict(e.get("extra")).get("method_reason") for e in evs])),
            ("confidence level", _same([fmt_num(e.get("confidence_level"), 4) for e in evs
                                        if e.get("confidence_level") is not None]))]
    return [(k, v) for k, v in rows if v]


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _published(v: dict) -> float | None:
    pub = extra(v).get("published")
    if isinstance(pub, dict):
        models = verdict_models(v)
        pub = pub.get(models[0]) if len(models) == 1 else None
    return as_float(pub)


def figures(claim_id: str, variant: str, verdicts: list[dict], next_id, panel: list[str] = ()) -> list[str]:
    """One plot for the variant's verdicts: a layer profile (labels are layers) or a forest plot.

    Verdicts whose statistics differ only by their label (``q: …``, ``k: …``) share the plot: the
    row names say which is which, and the axis says the statistic when there is one.
    """
    stats = list(dict.fromkeys(as_text(evidence(v).get("statistic") or "estimate") for v in verdicts))
    statistic = stats[0] if len(stats) == 1 else "estimate (statistic per row: see the table)"
    out = []
    for vs in [verdicts]:
        thresholds = {threshold(v) for v in vs}
        margins = {as_float(extra(v).get("min_effect")) for v in vs}
        ref = thresholds.pop() if len(thresholds) == 1 else None
        margin = margins.pop() if len(margins) == 1 else None
        models = {tuple(verdict_models(v)) for v in vs}
        one_model = len(models) == 1 and len(next(iter(models))) == 1
        rows = []
        for v in vs:
            ev = evidence(v)
            ci = _list(ev.get("confidence_interval")) + [None, None]
            # one model throughout: it goes in the title, the rows keep only their labels
            short = as_text(v.get("label")) if one_model and v.get("label") else who(v, panel)
            rows.append({"label": short, "estimate": ev.get("estimate"), "lo": ci[0], "hi": ci[1],
                         "status": status_of(v.get("status")), "exact": is_exact(v),
                         "published": _published(v), "layer": layer_number(v.get("label")),
                         "threshold": threshold(v)})
        title = f"{claim_id} \u00b7 {variant}" + (f" ({next(iter(models))[0]})" if one_model else "")
        if len(rows) > 3 and len(models) == 1 and all(r["layer"] is not None for r in rows):
            svg = layer_profile_svg(rows, title=title, ylabel=statistic,
                                    id_prefix=next_id(), reference=ref, margin=margin)
        else:
            svg = forest_svg(rows, title=title, xlabel=statistic, id_prefix=next_id(), reference=ref,
                             margin=margin)
        if svg:
            out.append(svg)
    return out


def spec_plots(verdicts: list[dict], next_id) -> list:
    """Rendered plot specs of a variant's verdicts, identical specs drawn once."""
    seen, out = set(), []
    for v in verdicts:
        for spec in _list(v.get("plots")):
            fingerprint = json.dumps(spec, sort_keys=True, default=str)
            if fingerprint not in seen:
                seen.add(fingerprint)
                out.append(render_plot(spec, id_prefix=next_id()))
    return out


def not_run_row(t: dict) -> dict:
    """A test that recorded no verdict (skipped or failed)."""
    reason = as_text(t.get("reason")) if t.get("reason") else "(no reason given)"
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS] + "\n\u2026 (cut; full text in claims.json)"
    return {"nodeid": as_text(t.get("nodeid")), "claim_id": as_text(t.get("claim_id") or ""),
            "variant": as_text(t.get("variant") or ""), "status": status_for_test(t) or "unknown",
            "reason": reason}


def measurement_row(m: dict) -> dict:
    ev = _dict(m.get("evidence"))
    models = m.get("models") or []
    label = as_text(m.get("label")) if m.get("label") else ""
    return {"who": " \u00b7 ".join(x for x in (", ".join(map(str, models)), label) if x) or MISSING,
            "statistic": as_text(ev.get("statistic") or ""), "estimate": fmt_num(ev.get("estimate")),
            "ci": fmt_ci(ev.get("confidence_interval")),
            "direction": f"{as_text(m.get('direction') or 'unresolved')} {fmt_num(m.get('reference'))}",
            "reason": as_text(m.get("reason") or "")}


def variant_block(claim_id: str, name: str, verdicts: list[dict], tests: list[dict],
                  measurements: list[dict], next_id, panel: list[str] = ()) -> dict:
    rows = [verdict_row(v, panel) for v in verdicts]
    return {
        "name": name, "meaning": VARIANT_MEANING.get(name, ""),
        "summary": summarize(verdicts),
        "measured": measured(verdicts),
        "rules": list(dict.fromkeys(as_text(v["rule"]) for v in verdicts if v.get("rule"))),
        "rows": rows, "single": rows[0] if len(rows) == 1 else None,
        "figures": figures(claim_id, name, verdicts, next_id, panel) if verdicts else [],
        "plots": spec_plots(verdicts, next_id),
        "measurements": [measurement_row(m) for m in measurements],
        "caveats": list(dict.fromkeys(as_text(c) for v in verdicts for c in _list(v.get("caveats")))),
        "commands": list(dict.fromkeys(as_text(x["command"]) for x in (*verdicts, *measurements)
                                       if x.get("command"))),
        "not_run": [not_run_row(t) for t in tests if status_for_test(t)],
    }


def claim_card(claim_id: str, anchor: str, meta: dict, names: list[str], verdicts: list[dict],
               tests: list[dict], measurements: list[dict], next_id, panel: list[str] = ()) -> dict:
    """The card of one claim (``names``: its variants in display order)."""
    source = as_text(meta.get("source")) if meta.get("source") else ""
    variants = []
    for name in names:
        def mine(xs):
            return [x for x in xs if str(x.get("variant") or MISSING) == name]
        variants.append(variant_block(claim_id, name, mine(verdicts), mine(tests), mine(measurements), next_id,
                                      panel))
    return {"id": claim_id, "anchor": anchor,
            "statement": as_text(meta.get("statement")) if meta.get("statement") else "",
            "version": as_text(meta.get("version")) if meta.get("version") is not None else "",
            "paper": paper_of(source), "seed": seed_of(source) if source else None,
            # the marker's own paper= (arXiv id / DOI / URL) and quote= (the paper's sentence)
            "paper_ref": dict(zip(("text", "url"), paper_link(as_text(meta["paper"]) if meta.get("paper") else ""))),
            "quote": as_text(meta.get("quote")) if meta.get("quote") else "",
            "variants": variants}
