"""lmclaims pytest plugin (pytest11 entry point): claims as tests that return verdicts.

A claim test declares its claim with a marker, measures through the ``measure`` fixture (cached;
the profile's eval texts) and records what a :mod:`lmclaims.stats` helper concluded (this example
runs as it stands: ``tests/test_guide_template.py``)::

    import numpy as np
    import pytest

    from lmclaims.probes.base import per_text
    from lmclaims.probes.residual import ResidualNorms, block_gains
    from lmclaims.stats.directional import statistic_below


    def largest_block_mean(log_g):       # re-selects the largest block in every bootstrap resample
        return float(log_g.mean(axis=0).max())


    @pytest.mark.claim("thermo.kleiber_bound", paper="10.5281/zenodo.18165365",
                       quote="For the Pythia family, the maximum stable residual gain scales with depth as: "
                             "G_max ≈ 10^(1/L)",
                       statement="no block gain exceeds 10^(1/L)", variant="corrected", version=1)
    def test_kleiber_bound(model, measure, verdict):
        view = measure.view()
        rows = measure(model, [ResidualNorms()], view=view)["residual_norms"]
        keep = rows["position"] >= 1                                    # position 0: attention sink
        log_g = per_text(np.log(block_gains(rows["norm"][keep])), rows["text_index"][keep], len(view))
        L = log_g.shape[1]                                              # [texts, blocks]
        j = statistic_below((log_g[:, 1:],), largest_block_mean, np.log(10) / L, unit="text",
                            name="mean log block gain, blocks 1..L-1")
        verdict.record(j, models=model.name)

Outcomes: SUPPORTED passes, REFUTED fails (message: claim, estimate, CI, n, unit, rule),
INCONCLUSIVE skips (fails with ``--claims-strict``), no verdict is an ERROR; a test recording
several verdicts gets the worst (refuted > inconclusive > supported).

Multiple comparisons (``--claims-correction holm|fdr_bh|none``)
----------------------------------------------------------------
A *family* is, by default, all tests of one claim id — every variant and every model — so one
claim gets one chance at alpha; ``primary=True`` on one variant makes only that variant the
family and the others secondary; ``family=`` names a family explicitly (see
:mod:`lmclaims.pytest_plugin.claims`). ``verdicts=k`` says a test records at most k verdicts.
The family size ``m`` (the sum of its tests' ``verdicts``) is counted at collection (over the
claim tests of the modules holding the selected ones, whatever ``-k`` or node ids select), so it
is known before any test runs. The scheme has two stages:

1. *While a test runs* the ``verdict`` fixture makes the helpers use the Bonferroni level
   ``1 - alpha/m``. Bonferroni controls the family-wise error rate at alpha without needing the
   other tests' results, so each pass/fail is final when the test ends (and identical under
   pytest-xdist or when the test is re-run alone). A judgement made at a laxer level is re-decided
   from its p-value (``p <= alpha/m``) when recorded.
2. *At session end* (controller) the raw p-values of each family (``Judgement.p_value``: the
   smallest alpha at which the helper's rule says SUPPORTED) are adjusted with Holm (FWER) or
   Benjamini-Hochberg (FDR) via statsmodels and written into every verdict's ``p_adjusted``
   (the refutation p-values likewise into ``p_refute_adjusted``), the family padded to its
   announced m with p = 1 for members that did not run. A suite-level Benjamini-Hochberg line
   over every verdict's support p goes to claims.json ``suite`` and the terminal summary.
   Both adjustments satisfy ``p_adjusted <= m * p_raw``, so a test-time SUPPORTED (``p_raw <=
   alpha/m``) stays significant; Holm may additionally flag verdicts as significant that
   Bonferroni left inconclusive (``significant_after_correction`` in claims.json) — the test
   outcome is not changed after the fact.

Randomness: the fixture seeds each test from (``--claims-seed``, sha256 of the node id), so
results do not depend on test order, selection or xdist distribution. Profiles
(``--claims-profile dev|ci|full``; ``ci`` when ``$CI`` is set) set resamples and ``max_texts``.
Verdicts travel in ``report.user_properties`` and are gathered on the controller; at session end
``reports/claims.json`` is written (``lmclaims/report/SCHEMA.md``) and rendered to HTML when
``lmclaims.report.render`` is available; an interrupted or partial run writes
``claims.partial.json`` instead and leaves the last complete report alone.
``--claims-baseline FILE`` gates every change (status, measured direction, keys that appear for a
known claim or disappear from tests that ran; :mod:`lmclaims.pytest_plugin.baseline`) and refuses
a baseline recorded under other run settings (:mod:`lmclaims.pytest_plugin.run_settings`);
``--claims-update-baseline`` merges this run's verdicts into FILE; ``--claims-compare OLD.json``
lists changes.

The implementation lives in :mod:`lmclaims.pytest_plugin`; this module holds the hooks.
"""

from __future__ import annotations

import pytest

from pathlib import Path

from lmclaims.pytest_plugin import baseline, outcomes, run_settings, session_report, terminal
from lmclaims.pytest_plugin.claims import ClaimSpec, FamilyCounter, FamilyError, claim_of
from lmclaims.pytest_plugin.collector import CLAIM_PROPERTY, STATE_KEY, RunState
from lmclaims.pytest_plugin.options import (RUN_SETTINGS_KEY, SETTINGS_KEY, addoption, check_paths, header_line,
                                            settings_from_config)
from lmclaims.pytest_plugin.recorder import VerdictRecorder
from lmclaims.stats import context
from lmclaims.stats.profiles import ClaimSettings

FAMILIES_KEY = pytest.StashKey[FamilyCounter]()

__all__ = ["ClaimSpec", "VerdictRecorder", "claims_settings", "get_settings", "verdict"]

#: the measurement half (model/corpus/measure fixtures, model options, sharding), registered with this plugin
pytest_plugins = ["lmclaims.pytest_plugin.measurement"]


def get_settings(config: pytest.Config) -> ClaimSettings:
    """The run's statistical settings (for conftest fixtures, e.g. to cap texts at ``max_texts``)."""
    return config.stash[SETTINGS_KEY]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_addoption(parser: pytest.Parser) -> None:
    addoption(parser)


@pytest.hookimpl(trylast=True)        # after conftests' pytest_configure (torch threads, panel)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id, source, statement, variant, version, family, verdicts, primary, "
                                       "paper, quote): "
                                       "a claim test; records one or more verdicts via the verdict fixture")
    settings = config.stash[SETTINGS_KEY] = settings_from_config(config)
    run = config.stash[RUN_SETTINGS_KEY] = run_settings.from_config(config, settings)
    config.stash[FAMILIES_KEY] = FamilyCounter()
    config.stash[STATE_KEY] = RunState()
    path, update = config.getoption("claims_baseline"), config.getoption("claims_update_baseline")
    if update and not path:
        raise pytest.UsageError("--claims-update-baseline needs --claims-baseline FILE")
    if not _is_worker(config):
        check_paths(config, session_report.report_dir(config))
        if config.getoption("claims_compare"):
            config.stash[session_report.COMPARE_KEY] = baseline.load(config.getoption("claims_compare"),
                                                                     option="--claims-compare")
    if path and not update:
        known = config.stash[baseline.BASELINE_KEY] = baseline.load(path)
        if not _is_worker(config):
            baseline.check_settings(known, run.to_dict())
    elif path and update and not _is_worker(config):
        old = baseline.load(path) if Path(path).exists() else None
        if old is not None and old.settings is not None and run_settings.differences(old.settings, run.to_dict()):
            raise pytest.UsageError(
                f"--claims-update-baseline: {path} was recorded under other run settings; merging this run into it "
                "would mix incomparable verdicts. Differing settings:\n  "
                + "\n  ".join(run_settings.differences(old.settings, run.to_dict()))
                + f"\nDelete {path} to start a new baseline under these settings.")
        config.stash[session_report.UPDATE_FROM_KEY] = old
    config.pluginmanager.register(_ReportHooks(config), "lmclaims-reports")


class _ReportHooks:
    """Hooks whose signature carries no ``config``: bound to this run's config and state."""

    def __init__(self, config: pytest.Config):
        self.state = config.stash[STATE_KEY]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.state.add(report)                     # on the controller this sees every worker's reports


def pytest_report_header(config: pytest.Config) -> str:
    return header_line(config)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[FAMILIES_KEY].add_items(items)      # runs where collection runs (each worker under xdist)
    for item in items:
        try:
            spec = claim_of(item)
        except ValueError:
            continue
        if spec is not None:
            item.user_properties.append((CLAIM_PROPERTY, spec.to_dict()))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.when == "call" and item.get_closest_marker("claim") is not None:
        outcomes.apply(item, report, call)
    return report


def pytest_report_teststatus(report, config):
    return outcomes.teststatus(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    config = session.config
    if not _is_worker(config):
        session_report.finish(config, config.stash[STATE_KEY], session, exitstatus)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    terminal.summary(terminalreporter, config.stash[STATE_KEY])


@pytest.fixture(scope="session")
def claims_settings(pytestconfig: pytest.Config) -> ClaimSettings:
    """The run's :class:`~lmclaims.stats.profiles.ClaimSettings` (profile, n_resamples, max_texts, seed...)."""
    return get_settings(pytestconfig)


@pytest.fixture
def verdict(request: pytest.FixtureRequest):
    """Record judgements as verdicts of the test's claim; see :class:`VerdictRecorder`.

    Installs the test's resampling settings (Bonferroni level 1 - alpha/m, the profile's
    resamples, a stream seeded by (seed, node id)) as defaults for the assertion helpers.
    """
    item = request.node
    spec = claim_of(item)
    if spec is None:
        pytest.fail("the verdict fixture belongs to claim tests: add @pytest.mark.claim('<claim id>', ...)",
                    pytrace=False)
    settings = request.config.stash[SETTINGS_KEY]
    families = request.config.stash[FAMILIES_KEY]
    try:
        family, role = families.family_of(spec)
    except FamilyError as exc:
        pytest.fail(str(exc), pytrace=False)
    size = families.sizes().get(family, spec.verdicts)
    recorder = VerdictRecorder(item, spec, settings, size, family=family, family_role=role,
                               run=request.config.stash[RUN_SETTINGS_KEY])
    active = context.ActiveSettings(confidence_level=recorder.confidence_level, n_resamples=settings.n_resamples,
                                    rng=recorder.rng(), method=settings.method)
    with context.using(active):
        yield recorder
