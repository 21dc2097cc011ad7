"""The terminal summary: one row per verdict, then comparisons, baseline notes and report paths."""

from __future__ import annotations

from lmclaims.pytest_plugin.collector import RunState


def _num(x) -> str:
    return "-" if x is None else f"{x:.4g}"


def rows(verdicts: list[dict]) -> list[list[str]]:
    out = [["claim", "variant", "models", "label", "status", "estimate [CI]", "n", "p_adj"]]
    for v in verdicts:
        ev = v["evidence"]
        lo, hi = ev["confidence_interval"]
        out.append([v["claim_id"], v["variant"], ",".join(v["models"]) or "-", v.get("label", "") or "",
                    v["status"].upper(), f"{_num(ev['estimate'])} [{_num(lo)}, {_num(hi)}]",
                    f"{ev['n']} {ev['unit']}", _num(v.get("p_adjusted"))])
    return out


def table(data: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in data) for i in range(len(data[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in data]


def summary(terminalreporter, state: RunState) -> None:
    tr = terminalreporter
    doc = state.document
    if doc is None and not state.errors and not state.notes:
        return
    tr.section("lmclaims verdicts")
    if doc is not None:
        for line in table(rows(doc["verdicts"])) if doc["verdicts"] else ["no verdict was recorded"]:
            tr.write_line(line)
        for change in doc.get("compare", []):
            tr.write_line(f"compare: {change['key']}: {change['old_status']} -> {change['new_status']} ({change['change']})")
        if "compare" in doc and not doc["compare"]:
            tr.write_line("compare: no verdict changed")
    for key in state.baseline_missing:
        tr.write_line(f"baseline: {key} is not in the baseline (new verdict)", yellow=True)
    for note in state.notes:
        tr.write_line(note)
    for error in state.errors:
        tr.write_line(error, red=True)
    if state.report_path:
        tr.write_line(f"claims report: {state.report_path}" + (f" and {state.html_path}" if state.html_path else ""))
