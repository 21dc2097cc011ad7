"""The top of the page: per paper, each claim in one line; the suite totals; what did not run.

Papers come from the seed registry (:mod:`lmclaims.report.papers`); each claim line is the claim
in words, then per variant its verdict counts, key number with CI and the reason in a short clause
(:mod:`lmclaims.report.summary`). Tests that recorded nothing (skipped: model missing, needs a GPU
or ``--claims-runslow``) are listed with the command that runs them: this run's own flags (taken from a
verdict's reproduce command) plus the options the skip reason names.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from .format import as_text, fmt_num
from .matrix import status_for_test
from .papers import paper_of, registry, seed_of
from .summary import clip, summarize

#: Options a skip reason may name that take a value; any other ``--flag`` is taken bare. The unprefixed
#: spellings are those of reports written before the options got their ``--claims-`` prefix.
VALUE_OPTIONS = ("--claims-panel", "--claims-models", "--claims-model", "--claims-corpus", "--claims-device",
                 "--claims-dtype", "--claims-max-tokens", "--panel", "--models", "--device", "--dtype",
                 "--max-tokens", "--max-texts")
_OPTION = re.compile(r"(--[a-z][a-z0-9-]*)(?:[ =]([\w.*/,:+-]+))?")


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def run_flags(verdicts: list[dict]) -> list[str]:
    """This run's pytest flags, read from the first verdict's reproduce command (after the node id)."""
    for v in verdicts:
        try:
            tokens = shlex.split(str(v.get("command") or ""))
        except ValueError:
            continue
        if len(tokens) >= 2 and tokens[0] in ("pytest", "python") and "::" in " ".join(tokens[:4]):
            start = next(i for i, t in enumerate(tokens) if "::" in t) + 1
            return tokens[start:]
    return []


def command_for(nodeid: str, reason: str, flags: list[str]) -> str:
    """``pytest 'NODEID' FLAGS`` with the options the skip ``reason`` names added or replaced.

    >>> command_for("t.py::x", "needs --claims-runslow and --claims-panel hub (network)",
    ...             ["--claims-panel", "offline"])
    'pytest t.py::x --claims-runslow --claims-panel hub'
    """
    flags = list(flags)
    for name, value in _OPTION.findall(reason or ""):
        if name in VALUE_OPTIONS and value:
            if name in flags:
                i = flags.index(name)
                del flags[i:i + 2]
            flags += [name, value]
        elif name not in VALUE_OPTIONS and name not in flags:
            flags.append(name)
    return shlex.join(["pytest", str(nodeid), *flags])


def not_tested(tests: list[dict], verdicts: list[dict], anchors: dict[str, str]) -> list[dict]:
    """Skipped tests, each with its claim, reason and the command that runs it."""
    flags = run_flags(verdicts)
    out = []
    for t in tests:
        if status_for_test(t) != "skipped":
            continue
        reason = as_text(t.get("reason")) if t.get("reason") else "(no reason given)"
        cid = str(t.get("claim_id") or "")
        out.append({"claim_id": cid, "anchor": anchors.get(cid, ""), "variant": as_text(t.get("variant") or ""),
                    "nodeid": as_text(t.get("nodeid")), "reason": clip(reason, 240),
                    "command": command_for(as_text(t.get("nodeid")), reason, flags)})
    return out


def _measured(ms: list[dict]) -> str:
    """``"3 measurements: above 1 (2), unresolved (1)"`` for a claim's measurements."""
    if not ms:
        return ""
    by: dict[str, int] = {}
    for m in ms:
        d = f"{as_text(m.get('direction') or 'unresolved')} {fmt_num(m.get('reference'))}".strip()
        by[d] = by.get(d, 0) + 1
    parts = ", ".join(f"{d} ({n})" for d, n in by.items())
    return f"{len(ms)} measurement{'s' if len(ms) != 1 else ''} (no prediction): {parts}"


def paper_blocks(claims_meta: dict, claim_ids: list[str], verdicts: list[dict], measurements: list[dict],
                 anchors: dict[str, str], variant_names, skipped: dict[str, str] | None = None) -> list[dict]:
    """Findings grouped by paper, papers in registry order, claims in page order.

    ``skipped`` maps a claim id to the reason its tests did not run (shown when it has no verdict).
    """
    papers: dict[str, dict] = {}
    for cid in claim_ids:
        meta = _dict(claims_meta.get(cid))
        source = as_text(meta.get("source")) if meta.get("source") else ""
        paper = paper_of(source)
        block = papers.setdefault(paper.id, {"paper": paper, "seeds": [], "claims": [], "controls": ""})
        if source and source not in [s.file for s in block["seeds"]]:
            block["seeds"].append(seed_of(source))
        vs = [v for v in verdicts if str(v.get("claim_id") or "?") == cid]
        variants = []
        for name in variant_names(cid):
            s = summarize([v for v in vs if str(v.get("variant") or "\u2014") == name])
            if s["n"]:
                variants.append({"name": name, **s})
        ms = [m for m in measurements if str(m.get("claim_id") or "") == cid]
        block["claims"].append({"id": cid, "anchor": anchors.get(cid, ""),
                                "statement": clip(meta.get("statement"), 200) if meta.get("statement") else "",
                                "variants": variants, "measured": _measured(ms),
                                "skipped": (skipped or {}).get(cid, "")})
    reg = registry().get("papers", {})
    for pid, block in papers.items():
        target = _dict(reg.get(pid)).get("controls")
        if target:
            block["controls"] = _dict(reg.get(target)).get("title", "")
    return sorted(papers.values(), key=lambda b: (b["paper"].order, b["paper"].title))


def suite_line(report: dict, n_verdicts: int) -> str:
    """The multiple-comparison line, from ``suite`` (empty when the run did not record it)."""
    suite = _dict(report.get("suite"))
    if not suite:
        return ""
    alpha = suite.get("bh_alpha", 0.05)
    correction = as_text(report.get("correction") or _dict(report.get("settings")).get("correction") or "")
    parts = [f"{as_text(suite.get('m'))} of {n_verdicts} verdicts carry a support p-value",
             f"Benjamini\u2013Hochberg over all of them at {fmt_num(alpha)}: "
             f"{as_text(suite.get('bh_significant'))} significant"]
    if suite.get("families") is not None:
        parts.append(f"{as_text(suite.get('families'))} families"
                     + (f", {correction} within each family" if correction and correction != "\u2014" else ""))
    return "; ".join(parts) + "."
