"""``claims.json`` — the run's source of truth (schema: ``lmclaims/report/SCHEMA.md``).

Built on the controller at session end from :class:`RunState`; families of verdicts get their
adjusted p-values here (:mod:`lmclaims.pytest_plugin.families`).

Nothing is lost when a run is interrupted: reports are written atomically (temporary file +
``os.replace``) and only for runs that finished. An interrupted run (Ctrl-C, ``exitstatus``
INTERRUPTED), one stopped early (``-x``/``--maxfail``), an internal error, or a run with a test
whose call phase never reported writes ``claims.partial.json`` (``"complete": false`` and the
reason) and leaves the last complete ``claims.json``/``claims.html`` and the baseline untouched.
"""

from __future__ import annotations

import datetime as _dt
import copy
import json
import logging
import platform
import time
from pathlib import Path

import pytest

import lmclaims
from lmclaims.paths import code_provenance, versions
from lmclaims.pytest_plugin import baseline
from lmclaims.pytest_plugin.collector import RunState
from lmclaims.pytest_plugin.families import adjusted_verdicts, suite_line
from lmclaims.pytest_plugin.options import RUN_SETTINGS_KEY, SETTINGS_KEY
from lmclaims.stats.evidence import _jsonable

__all__ = ["adjusted_verdicts", "build", "finish", "report_dir"]

SCHEMA_VERSION = 1
PARTIAL_NAME = "claims.partial.json"
COMPARE_KEY = pytest.StashKey[baseline.Baseline]()
UPDATE_FROM_KEY = pytest.StashKey["baseline.Baseline | None"]()
log = logging.getLogger("lmclaims")


def _git() -> dict:
    """Commit of the checkout that holds the *imported* lmclaims package (not the cwd's)."""
    prov = code_provenance()
    return {"commit": prov["git_commit"], "dirty": prov["git_dirty"], "package_dir": prov["package_dir"]}


def _environment() -> dict:
    """Interpreter, platform and library versions from distribution metadata (complete under xdist:
    nothing depends on what happens to be imported in this process)."""
    return {"python": platform.python_version(), "platform": platform.platform(), **versions()}


def build(config: pytest.Config, state: RunState) -> dict:
    settings = config.stash[SETTINGS_KEY]
    verdicts = adjusted_verdicts(state.verdicts, settings.correction, settings.alpha)
    suite = suite_line(verdicts, settings.alpha)
    return _jsonable({
        "schema_version": SCHEMA_VERSION,
        "lmclaims_version": lmclaims.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git": _git(),
        "command": ["pytest", *config.invocation_params.args],
        "profile": settings.to_dict(),
        "seed": settings.seed,
        "correction": settings.correction,
        "run": {name: getattr(config.stash[RUN_SETTINGS_KEY], name) for name in ("panel", "device", "dtype")},
        "settings": config.stash[RUN_SETTINGS_KEY].to_dict(),
        "complete": state.complete,
        "incomplete_reason": state.incomplete_reason or None,
        "environment": _environment(),
        "models": dict(sorted(state.models.items())),
        "corpus": state.corpus,
        "claims": dict(sorted(state.claims.items())),
        "tests": [state.tests[k] for k in sorted(state.tests)],
        "verdicts": verdicts,
        "measurements": sorted(state.measurements, key=lambda m: (m["nodeid"], m.get("index", 0))),
        "suite": suite,
        "drift": None,
        "timings": {"session_seconds": round(time.time() - state.started, 3)},
    })


def incomplete_reason(session: pytest.Session, exitstatus, state: RunState) -> str:
    """Why this run is partial, or "" when it finished."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted (KeyboardInterrupt or collection errors): not every selected test ran"
    if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        return "pytest internal error"
    stop = session.shouldstop or session.shouldfail
    if stop:
        return f"stopped early: {stop}"
    unfinished = state.unfinished()
    if unfinished:
        return f"{len(unfinished)} test(s) never finished: {', '.join(unfinished[:3])}"
    return ""


def finish(config: pytest.Config, state: RunState, session: pytest.Session, exitstatus) -> None:
    """Build claims.json, gate against the baseline, write reports (or the partial report)."""
    if not state.tests:
        return                                    # no claim test ran: leave reports/ alone
    state.incomplete_reason = incomplete_reason(session, exitstatus, state)
    state.complete = not state.incomplete_reason
    doc = build(config, state)
    if config.getoption("claims_compare"):
        old = config.stash[COMPARE_KEY]
        doc["compare"] = baseline.compare(old.verdicts, doc["verdicts"])
        doc["drift"] = {"against": old.path, "changes": baseline.drift(old, doc, [])}
    base_path = config.getoption("claims_baseline")
    if base_path and config.getoption("claims_update_baseline"):
        _update_baseline(config, state, doc, base_path)
    elif base_path:
        _gate(config, state, session, doc)
    candidate = copy.deepcopy(doc)
    try:
        config.hook.pytest_lmclaims_update_json(config=config, report=candidate)
    except Exception as exc:  # noqa: BLE001 - a host hook's bug must not lose the verdicts
        state.errors.append(f"pytest_lmclaims_update_json raised {type(exc).__name__}: {exc}; report written "
                            "without its changes")
    else:
        doc = candidate
    out_dir = report_dir(config)
    if not state.complete:
        path = out_dir / PARTIAL_NAME
        baseline.atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
        state.document, state.report_path = doc, str(path)
        state.notes.append(f"run incomplete ({state.incomplete_reason}): wrote {path}; the last complete "
                           f"{out_dir / 'claims.json'} was left untouched")
        return
    path = out_dir / "claims.json"
    baseline.atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    (out_dir / PARTIAL_NAME).unlink(missing_ok=True)
    state.document, state.report_path = doc, str(path)
    _render(doc, out_dir, state)


def _update_baseline(config, state: RunState, doc: dict, base_path: str) -> None:
    if not state.complete:
        state.errors.append(f"baseline NOT updated: the run is incomplete ({state.incomplete_reason}); "
                            f"{base_path} is unchanged")
        return
    old = config.stash.get(UPDATE_FROM_KEY, None)
    ran = {baseline.plain_nodeid(n) for n in baseline.requested(state.tests)}
    document, lines = baseline.merged(old, doc, ran)
    written = baseline.write(base_path, document)
    state.notes.append(f"baseline written: {written} ({len(doc['verdicts'])} verdicts from this run)")
    state.notes.extend(f"baseline: {line}" for line in lines)


def _gate(config, state: RunState, session: pytest.Session, doc: dict) -> None:
    known = config.stash[baseline.BASELINE_KEY]
    state.baseline_missing = sorted(v["key"] for v in doc["verdicts"]
                                    if v["key"] not in known.verdicts and v["claim_id"] not in known.claim_ids)
    missing = baseline.missing(known, doc, state.tests) if state.complete else []
    for miss in missing:
        state.gate_failures.append(f"baseline {miss['kind']} {miss['key']} is missing from this run: {miss['reason']}")
    doc["baseline"] = {"file": known.path, "missing": state.baseline_missing,
                       "disappeared": [m["key"] for m in missing]}
    doc["drift"] = {"against": known.path, "changes": baseline.drift(known, doc, missing)}
    if state.gate_failures and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def report_dir(config: pytest.Config) -> Path:
    """``--claims-report-dir``, else ``<rootdir>/reports`` in a project with a pytest configuration
    file, else ``reports/`` in the directory pytest was started from. (Without a configuration file
    pytest derives its rootdir from every argument that is an existing path -- option values included
    -- so ``--claims-corpus ../texts.txt`` would move the report out of the project.)"""
    option = config.getoption("claims_report_dir")
    if option:
        return Path(option)
    base = config.rootpath if config.inipath is not None else config.invocation_params.dir
    return Path(base) / "reports"


def _render(doc: dict, out_dir: Path, state: RunState) -> None:
    """claims.html and claims.csv beside claims.json (each written atomically)."""
    try:
        from lmclaims.report.render import write_all
    except ImportError as exc:
        state.notes.append(f"HTML report not written: lmclaims.report.render unavailable ({exc})")
        return
    try:
        html_path, _ = write_all(doc, out_dir)
    except Exception as exc:  # noqa: BLE001 - a broken renderer must not lose the JSON or the session
        message = f"HTML report failed: {type(exc).__name__}: {exc}"
        log.warning(message)
        state.errors.append(message)
    else:
        state.html_path = str(html_path)
