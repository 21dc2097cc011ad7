"""The terminal summary (at most 120 columns): one row per verdict and measurement, then a line
that reconciles tests with verdicts, the suite-level BH line, gate results and report paths.

>>> fit(["claim", "a-very-long-label-that-does-not-fit"], [5, 12])
['claim', 'a-very-long…']
"""

from __future__ import annotations

from collections import Counter

from lmclaims.pytest_plugin.baseline import requested
from lmclaims.pytest_plugin.collector import RunState

WIDTH = 120
#: columns that give up width first when a row is too wide (claim, models, label)
SHRINKABLE = (0, 2, 3)


def _num(x) -> str:
    return "-" if x is None else f"{x:.4g}"


def fit(cells: list[str], widths: list[int]) -> list[str]:
    return [c if len(c) <= w else c[: max(1, w - 1)] + "…" for c, w in zip(cells, widths)]


def rows(verdicts: list[dict], measurements: list[dict] = ()) -> list[list[str]]:
    out = [["claim", "variant", "models", "label", "status", "estimate [CI]", "n", "p_adj"]]
    for v in verdicts:
        ev = v["evidence"]
        lo, hi = ev["confidence_interval"]
        out.append([v["claim_id"], v["variant"], ",".join(v["models"]) or "-", v.get("label", "") or "",
                    v["status"].upper(), f"{_num(ev['estimate'])} [{_num(lo)}, {_num(hi)}]",
                    f"{ev['n']} {ev['unit']}", _num(v.get("p_adjusted"))])
    for m in measurements:
        ev = m["evidence"]
        lo, hi = ev["confidence_interval"]
        out.append([m["claim_id"], m["variant"], ",".join(m["models"]) or "-", m.get("label", "") or "",
                    f"measured {m['direction']}", f"{_num(ev['estimate'])} [{_num(lo)}, {_num(hi)}]",
                    f"{ev['n']} {ev['unit']}", "-"])
    return out


def table(data: list[list[str]], width: int = WIDTH) -> list[str]:
    widths = [max(len(r[i]) for r in data) for i in range(len(data[0]))]
    while sum(widths) + 2 * (len(widths) - 1) > width:
        col = max(SHRINKABLE, key=lambda i: widths[i])
        if widths[col] <= 8:
            break
        widths[col] -= 1
    return ["  ".join(c.ljust(w) for c, w in zip(fit(r, widths), widths)).rstrip()[:width] for r in data]


def reconcile(doc: dict) -> str:
    """"N tests: x passed = supported, y failed = refuted ..., V verdicts in F families" line."""
    tests = Counter(t["outcome"] for t in doc["tests"])
    statuses = Counter(v["status"] for v in doc["verdicts"])
    slow = len(doc["tests"]) - len(requested({t["nodeid"]: t for t in doc["tests"]}))
    parts = [f"{tests['passed']} passed = supported", f"{tests['failed']} failed = refuted or gate",
             f"{tests['skipped']} skipped = inconclusive or not run"
             + (f" ({slow} of them slow variants: --claims-runslow)" if slow else ""),
             f"{tests['measured']} measured"]
    for extra in ("xfailed", "error", "unfinished"):
        if tests[extra]:
            parts.append(f"{tests[extra]} {extra}")
    suite = doc.get("suite") or {}
    return (f"{len(doc['tests'])} claim tests: " + ", ".join(parts) + f"; {len(doc['verdicts'])} verdicts "
            f"({statuses['supported']} supported, {statuses['refuted']} refuted, {statuses['inconclusive']} "
            f"inconclusive) in {suite.get('families', 0)} families; {len(doc.get('measurements', []))} measurements")


def suite_text(doc: dict) -> str:
    s = doc.get("suite") or {}
    return (f"suite BH (fdr_bh over every verdict's support p): {s.get('bh_significant', 0)} of {s.get('m', 0)} "
            f"significant at FDR {s.get('bh_alpha', 0.05):g}")


def _wrap(line: str, width: int = WIDTH) -> list[str]:
    out = []
    while len(line) > width:
        cut = line.rfind(" ", 0, width)
        cut = cut if cut > width // 2 else width
        out.append(line[:cut])
        line = "    " + line[cut:].lstrip()
    return out + [line]


def summary(terminalreporter, state: RunState) -> None:
    tr = terminalreporter
    doc = state.document
    if doc is None and not state.errors and not state.notes:
        return
    tr.section("lmclaims verdicts")

    def say(text: str, **markup) -> None:
        for piece in _wrap(text):
            tr.write_line(piece, **markup)

    if doc is not None:
        data = rows(doc["verdicts"], doc.get("measurements", []))
        for line in table(data) if len(data) > 1 else ["no verdict was recorded"]:
            tr.write_line(line)
        say(reconcile(doc))
        say(suite_text(doc))
        for change in doc.get("compare", []):
            say(f"compare: {change['key']}: {change['old_status']} -> {change['new_status']} ({change['change']})")
        if "compare" in doc and not doc["compare"]:
            say("compare: no verdict changed")
        if not doc.get("complete", True):
            say(f"INCOMPLETE RUN: {doc.get('incomplete_reason')}", red=True)
    for key in state.baseline_missing:
        say(f"baseline: {key} is not in the baseline (new claim)", yellow=True)
    for failure in state.gate_failures:
        say(f"GATE FAILED: {failure}", red=True)
    for note in state.notes:
        say(note)
    for error in state.errors:
        say(error, red=True)
    if state.report_path:
        say(f"claims report: {state.report_path}" + (f" and {state.html_path}" if state.html_path else ""))
