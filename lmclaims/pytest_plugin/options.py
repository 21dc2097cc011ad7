"""Command-line options and the run's statistical settings."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from lmclaims.stats.multiple import CORRECTIONS
from lmclaims.stats.profiles import DEFAULT_SEED, ClaimSettings, default_profile_name, get_profile, profile_names

SETTINGS_KEY = pytest.StashKey[ClaimSettings]()
RUN_SETTINGS_KEY = pytest.StashKey["RunSettings"]()

def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lmclaims", "lmclaims: statistical claims")
    group.addoption("--claims-profile", default=None, choices=None,
                    help=f"statistical profile ({', '.join(profile_names())}); default: 'ci' if $CI is set, else 'dev'")
    group.addoption("--claims-seed", type=int, default=None, help=f"global seed (default {DEFAULT_SEED})")
    group.addoption("--claims-n-resamples", type=int, default=None, help="override the profile's bootstrap resamples")
    group.addoption("--claims-correction", choices=CORRECTIONS, default="holm",
                    help="multiple-comparison correction within a claim family (default holm)")
    group.addoption("--claims-strict", action="store_true", default=False,
                    help="an INCONCLUSIVE verdict fails the test instead of skipping it")
    group.addoption("--claims-baseline", default=None, metavar="FILE",
                    help="fail any verdict whose status differs from the one recorded in FILE")
    group.addoption("--claims-update-baseline", action="store_true", default=False,
                    help="write the --claims-baseline FILE from this run (no gating)")
    group.addoption("--claims-compare", default=None, metavar="OLD_JSON",
                    help="print verdict changes against an older claims.json")
    group.addoption("--claims-report-dir", default=None, metavar="DIR",
                    help="where claims.json (and claims.html) are written (default: <rootdir>/reports in a project with a pytest config file, else ./reports)")


def settings_from_config(config: pytest.Config) -> ClaimSettings:
    name = config.getoption("claims_profile") or default_profile_name()
    try:
        profile = get_profile(name)
    except KeyError as exc:
        raise pytest.UsageError(str(exc.args[0])) from None
    seed = config.getoption("claims_seed")
    if seed is not None and not 0 <= seed < 2**63:
        raise pytest.UsageError(f"--claims-seed must be a non-negative integer below 2**63, got {seed}")
    n_resamples = config.getoption("claims_n_resamples")
    if n_resamples is not None and n_resamples < 99:
        raise pytest.UsageError(f"--claims-n-resamples must be at least 99, got {n_resamples}")
    return profile.with_(seed=DEFAULT_SEED if seed is None else seed,
                         n_resamples=profile.n_resamples if n_resamples is None else n_resamples,
                         correction=config.getoption("claims_correction"))


def check_paths(config: pytest.Config, report_dir: Path) -> None:
    """Output and input paths checked at configure time, before any model loads (issue 13 item 7)."""
    compare = config.getoption("claims_compare")
    if compare and not Path(compare).is_file():
        raise pytest.UsageError(f"--claims-compare {compare}: file does not exist")
    _writable(report_dir, "--claims-report-dir" if config.getoption("claims_report_dir") else
              "report directory (set --claims-report-dir)")
    base = config.getoption("claims_baseline")
    if base and config.getoption("claims_update_baseline"):
        _writable(Path(base).resolve().parent, "--claims-baseline (its directory)")


def _writable(directory: Path, what: str) -> None:
    """Check that ``directory`` can be created and written, leaving nothing behind: a temporary
    file is made in it, or in its nearest existing ancestor when it does not exist yet."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a directory")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".lmclaims-write-check-"):
            pass
    except OSError as exc:
        raise pytest.UsageError(f"{what} {directory} is not writable: {exc}") from None


def header_line(config: pytest.Config) -> str:
    s = config.stash[SETTINGS_KEY]
    parts = [f"profile={s.profile}", f"seed={s.seed}", f"n_resamples={s.n_resamples}",
             f"confidence={s.confidence_level:g}", f"correction={s.correction}", f"method={s.method}",
             f"max_texts={s.max_texts}"]
    run = config.stash.get(RUN_SETTINGS_KEY, None)
    panel = run.panel if run is not None else None
    if panel is not None:
        parts.append(f"panel={panel}")
    if config.getoption("claims_strict"):
        parts.append("strict")
    return "lmclaims: " + " ".join(parts)
