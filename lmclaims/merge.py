"""Merge the claims.json of several shards (SLURM array tasks, separate nodes) into one report.

``merge_reports(docs)``: verdicts and tests are concatenated (a verdict key present in two shards
is an error — the shards overlapped), ``models``/``corpus``/``claims`` are united, and the
multiple-comparison correction is applied again over the *merged* families (Holm/BH via
``lmclaims.pytest_plugin.families.adjusted_verdicts``), because a family split across shards
must be corrected as one, and the suite-level BH line is recomputed. Measurements are
concatenated like verdicts. Shards must agree on schema, correction, seed, profile and run
settings; otherwise the merge refuses (mixing settings would make one report out of
incomparable runs). A shard that is not complete (``"complete": false``) is refused too.
"""

from __future__ import annotations

import datetime as _dt

from lmclaims.pytest_plugin.families import adjusted_verdicts, suite_line

_MUST_AGREE = ("schema_version", "correction", "seed", "profile", "settings")


class MergeError(ValueError):
    pass


def merge_reports(docs: list[dict]) -> dict:
    if not docs:
        raise MergeError("nothing to merge")
    first = docs[0]
    for key in _MUST_AGREE:
        values = {repr(d.get(key)) for d in docs}
        if len(values) > 1:
            raise MergeError(f"shards disagree on {key!r}: {sorted(values)}")
    for i, d in enumerate(docs):
        if d.get("complete") is False:
            raise MergeError(f"shard {i} is an incomplete run ({d.get('incomplete_reason')}); re-run it")
    verdicts, seen, tests, measurements = [], {}, [], []
    models, corpus, claims = {}, {}, {}
    for i, d in enumerate(docs):
        for v in d.get("verdicts", []):
            if v["key"] in seen:
                raise MergeError(f"verdict {v['key']!r} appears in shard {seen[v['key']]} and shard {i}: "
                                 "the shards overlap")
            seen[v["key"]] = i
            verdicts.append(v)
        for m in d.get("measurements", []):
            if m["key"] in seen:
                raise MergeError(f"measurement {m['key']!r} appears in two shards: the shards overlap")
            seen[m["key"]] = i
            measurements.append(m)
        tests += d.get("tests", [])
        for name, meta in (d.get("models") or {}).items():
            models.setdefault(name, {}).update(meta)
        corpus.update(d.get("corpus") or {})
        for cid, c in (d.get("claims") or {}).items():
            merged = claims.setdefault(cid, dict(c))
            merged["variants"] = sorted(set(merged.get("variants", [])) | set(c.get("variants", [])))
    alpha = 1.0 - float((first.get("profile") or {}).get("confidence_level", 0.95))
    adjusted = adjusted_verdicts(verdicts, first.get("correction", "holm"), alpha)
    out = dict(first)
    out.update({
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": ["python", "-m", "lmclaims", "merge"],
        "shards": [{"command": d.get("command"), "created": d.get("created"), "git": d.get("git"),
                    "run": d.get("run"), "n_verdicts": len(d.get("verdicts", []))} for d in docs],
        "models": models, "corpus": corpus, "claims": claims,
        "tests": sorted(tests, key=lambda t: t.get("nodeid", "")),
        "verdicts": adjusted,
        "measurements": sorted(measurements, key=lambda m: (m.get("nodeid", ""), m.get("index", 0))),
        "suite": suite_line(adjusted, alpha),
        "complete": True, "incomplete_reason": None, "drift": None,
        "timings": {"session_seconds": sum((d.get("timings") or {}).get("session_seconds") or 0 for d in docs),
                    "wall_seconds_max": max((d.get("timings") or {}).get("session_seconds") or 0 for d in docs)},
    })
    out.pop("compare", None)
    out.pop("baseline", None)
    return out
