"""Command line: ``python -m lmclaims {report,compare} ...`` (also installed as ``lmclaims``).

``report CLAIMS.json [-o OUT.html]``
    Re-render the HTML report from a saved claims.json (default output: same name, ``.html``).
``merge SHARD.json... -o OUT.json``
    Merge the claims.json of several shards (``--claims-shard K/N`` runs) into one report and
    re-apply the multiple-comparison correction over the merged families; renders OUT.html too.
``compare OLD.json NEW.json``
    Name both runs (file, created date, git commit, complete or not), then print verdict changes
    matched by key (old status → new status, estimate/CI change). Output may be cut by a closed
    pipe (``| head -1``) without a traceback.
    Exit status 1 if any verdict present in both runs changed status, else 0. Verdicts that only
    exist in one run are listed as added/removed but do not change the exit status. Either file may
    be a verdict baseline (``claims/baseline.json``). ``--rtol R``: estimates and CI ends within R
    (relative, floor 1) count as unchanged, and then any remaining difference (status, estimate,
    added, removed) exits 1 — how a GPU run is checked against the CPU baseline.

Exit status 2 means bad usage or an unreadable input file.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from collections import Counter
from collections.abc import Sequence

EXIT_OK, EXIT_CHANGED, EXIT_USAGE = 0, 1, 2


class InputError(Exception):
    """A claims.json that cannot be read or parsed."""


def _load(path: str) -> dict:
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object (claims.json), got {type(data).__name__}")
    return data


def cmd_report(args: argparse.Namespace) -> int:
    """Render ``args.claims_json`` to HTML."""
    from lmclaims.report.render import render_html   # matplotlib import only when needed

    report = _load(args.claims_json)
    out = pathlib.Path(args.output) if args.output else pathlib.Path(args.claims_json).with_suffix(".html")
    render_html(report, out)
    print(f"wrote {out}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """Print verdict changes between two runs; 1 if any status changed."""
    from lmclaims.report.compare import compare_reports

    old, new = _load(args.old), _load(args.new)
    changes = compare_reports(old, new, rtol=args.rtol if args.rtol is not None else 1e-9)
    print(f"old: {describe_run(args.old, old)}")
    print(f"new: {describe_run(args.new, new)}")
    kinds = Counter(c.kind for c in changes)
    for kind, title in (("status", "status changed"), ("estimate", "estimate or CI changed"),
                        ("added", "only in NEW"), ("removed", "only in OLD")):
        group = [c for c in changes if c.kind == kind]
        if group:
            print(f"{title} ({len(group)}):")
            for change in group:
                print(f"  {change.describe()}")
    print(f"{len(changes)} verdict keys: " + ", ".join(
        f"{kinds[k]} {k}" for k in ("status", "estimate", "added", "removed", "unchanged")))
    if args.rtol is not None:                 # a stated tolerance: every difference beyond it counts
        return EXIT_CHANGED if kinds["status"] or kinds["estimate"] or kinds["added"] or kinds["removed"] else EXIT_OK
    return EXIT_CHANGED if kinds["status"] else EXIT_OK


def describe_run(path: str, doc: dict) -> str:
    """``PATH (created 2026-12-06T23:00:00+00:00, commit abc1234 dirty)`` for a claims.json."""
    git = doc.get("git") if isinstance(doc.get("git"), dict) else {}
    commit = (git.get("commit") or "unknown")[:12] + (" dirty" if git.get("dirty") else "")
    partial = "" if doc.get("complete", True) is not False else f", INCOMPLETE: {doc.get('incomplete_reason')}"
    return f"{path} (created {doc.get('created') or 'unknown'}, commit {commit}{partial})"


def cmd_merge(args: argparse.Namespace) -> int:
    """Merge shard claims.json files into one (correction re-applied over merged families)."""
    from lmclaims.merge import MergeError, merge_reports
    from lmclaims.report.render import render_html

    try:
        merged = merge_reports([_load(p) for p in args.shards])
    except MergeError as exc:
        raise InputError(str(exc)) from exc
    out = pathlib.Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=1, sort_keys=True), encoding="utf-8")
    render_html(merged, out.with_suffix(".html"))
    print(f"merged {len(args.shards)} shards, {len(merged['verdicts'])} verdicts -> {out} (+ .html)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmclaims", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("report", help="re-render the HTML report from claims.json")
    p.add_argument("claims_json", help="path to claims.json")
    p.add_argument("-o", "--output", help="output HTML path (default: CLAIMS.json with .html)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="verdict changes between two claims.json files "
                                       "(exit 1 if any status changed)")
    p.add_argument("old", help="earlier claims.json")
    p.add_argument("new", help="later claims.json")
    p.add_argument("--rtol", type=float, default=None,
                   help="estimates and CI ends within this relative tolerance (floor 1) are unchanged; with it, "
                        "exit 1 on any status change, estimate beyond it, or verdict only on one side "
                        "(e.g. a GPU run against the CPU baseline: --rtol 1e-3)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("merge", help="merge shard claims.json files into one report")
    p.add_argument("shards", nargs="+", help="claims.json of each shard")
    p.add_argument("-o", "--output", default="reports/claims.json", help="merged claims.json (default %(default)s)")
    p.set_defaults(func=cmd_merge)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m lmclaims`` and the ``lmclaims`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"lmclaims {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader went away (`| head -1`): stop quietly; point stdout at devnull so that the
        # interpreter's final flush does not raise again (Python docs, "Note on SIGPIPE")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
