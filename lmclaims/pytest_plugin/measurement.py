"""The measurement half of the plugin: the ``model``, ``model_pool``, ``corpus``, ``measure`` and
``measurement_cache`` fixtures, model parametrization, sharding and grouping.

Registered by :mod:`lmclaims.plugin` (the pytest11 entry point), so any project that installs
lmclaims has them; the options are in :mod:`lmclaims.pytest_plugin.model_options`.

A test that takes ``model`` is parametrized over the panel's entries (session scope, so pytest
groups tests by model; the session's ``ModelPool`` keeps recent models within a memory budget); ``@pytest.mark.models("smollm2-135m*")`` narrows
it. A model that cannot be loaded is a *skip* whose reason says why and what command fixes it; a
model whose panel metadata disagrees with the loaded config (``PanelMismatch``) is an *error*.
"""

from __future__ import annotations

import fnmatch

import pytest

from lmclaims import progress
from lmclaims.cache import MeasurementCache
from lmclaims.corpus import CorpusError, EmptyCorpus, load_corpus
from lmclaims.engine.forward import RunInfo, measure as engine_measure
from lmclaims.models.loading import CorruptModel, ModelUnavailable
from lmclaims.models.pool import ModelPool
from lmclaims.pytest_plugin import model_options
from lmclaims.pytest_plugin.baseline import SLOW_SKIP_REASON
from lmclaims.pytest_plugin.model_options import panel_from_options, parse_shard, share_cpu_threads, worker_device
from lmclaims.pytest_plugin.plan import MeasurementPlan

_POOL = pytest.StashKey[ModelPool]()
_CACHE = pytest.StashKey[MeasurementCache]()
_ENTRIES = pytest.StashKey[list]()
CORPUS_KEY = pytest.StashKey[object]()


def pytest_addhooks(pluginmanager):
    from lmclaims.pytest_plugin import hookspecs
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser):
    model_options.addoption(parser)


def _model_param(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("model") if callspec is not None else None


def shard_of(item, names: list[str], n: int) -> int:
    """1-based shard of a test: the model's panel index mod N, or N for panel-level tests."""
    name = _model_param(item)
    if name is None or name not in names:
        return n
    return names.index(name) % n + 1


def pytest_collection_modifyitems(config, items):
    """Slow tests skip unless --claims-runslow; --claims-shard deselects; tests are grouped per model.

    Grouping: every model-parametrized test gets ``xdist_group(<model>)`` so that
    ``pytest -n N --dist loadgroup`` sends all tests of one model to one worker (each model loads
    once); panel-level tests form the group "panel".
    """
    shard = parse_shard(config.getoption("claims_shard"))
    if shard is not None:
        k, n = shard
        names = [e.name for e in config.stash[_ENTRIES]]
        keep = [it for it in items if shard_of(it, names, n) == k]
        dropped = [it for it in items if shard_of(it, names, n) != k]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    for item in items:
        name = _model_param(item)
        item.add_marker(pytest.mark.xdist_group(name if name else "panel"))
    if config.getoption("claims_runslow"):
        return
    skip = pytest.mark.skip(reason=SLOW_SKIP_REASON)
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _load_corpus(config):
    path = config.getoption("claims_corpus")
    try:
        return load_corpus(path) if path else load_corpus()
    except FileNotFoundError as exc:
        raise pytest.UsageError(f"--claims-corpus: {exc}") from None
    except (CorpusError, EmptyCorpus) as exc:
        raise pytest.UsageError(f"--claims-corpus: {exc}") from None


def _register_sources(config) -> dict:
    """Model sources and panels from ``pytest_lmclaims_model_sources`` / ``pytest_lmclaims_panels`` hooks."""
    from lmclaims.models.sources import register_source
    for found in config.hook.pytest_lmclaims_model_sources(config=config):
        for name, loader in (found or {}).items():
            try:
                register_source(name, loader)
            except (TypeError, ValueError) as exc:
                raise pytest.UsageError(f"pytest_lmclaims_model_sources: {exc}") from None
    panels: dict = {}
    for found in config.hook.pytest_lmclaims_panels(config=config):
        panels.update(found or {})
    return panels


def pytest_configure(config):
    config.addinivalue_line("markers", "models(*globs): restrict a model-parametrized test to these names")
    config.addinivalue_line("markers", "measures(*needs): what the test measures (lmclaims.plan.Need), planned "
                                       "into one engine pass per (model, view, intervention)")
    config.addinivalue_line("markers", "slow: heavier variants (long training, large models); "
                                       "skipped unless --claims-runslow")
    model_options.check_options(config)
    share_cpu_threads()
    config.stash[CORPUS_KEY] = _load_corpus(config)
    config.stash[_ENTRIES] = panel_from_options(config, _register_sources(config))
    config.stash[_POOL] = ModelPool(config.stash[_ENTRIES], device=worker_device(config.getoption("claims_device")),
                                    dtype=config.getoption("claims_dtype"),
                                    trust_remote_code=config.getoption("claims_trust_remote_code"))
    config.stash[_CACHE] = MeasurementCache(config.getoption("claims_cache"),
                                            enabled=not config.getoption("claims_no_cache"))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(config, "workerinput"):
        progress.set_sink(lambda line: reporter.write_line(line))


def pytest_unconfigure(config):
    progress.set_sink(None)
    pool = config.stash.get(_POOL, None)
    if pool is not None:
        pool.release()


def panel_entries(config, marker=None):
    entries = config.stash[_ENTRIES]
    if marker is not None and marker.args:
        entries = [e for e in entries if any(fnmatch.fnmatchcase(e.name, g) for g in marker.args)]
    return entries


def _parametrized_directly(metafunc, name: str) -> bool:
    """True when the test parametrizes ``name`` itself (``@pytest.mark.parametrize("model", ...)``)."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc):
    if "model" not in metafunc.fixturenames or _parametrized_directly(metafunc, "model"):
        return
    marker = metafunc.definition.get_closest_marker("models")
    entries = panel_entries(metafunc.config, marker)
    if entries:
        metafunc.parametrize("model", [e.name for e in entries], indirect=True, scope="session")
    else:
        want = ", ".join(marker.args) if marker else "any"
        panel = model_options.panel_name(metafunc.config)
        metafunc.parametrize("model", [pytest.param(f"absent:{want}", id="not-in-panel")], indirect=True,
                             scope="session")
        metafunc.definition.user_properties.append(("lmclaims_absent", f"{want} not in panel {panel}"))


@pytest.fixture(scope="session")
def model_pool(request) -> ModelPool:
    return request.config.stash[_POOL]


@pytest.fixture(scope="session")
def measurement_cache(request) -> MeasurementCache:
    return request.config.stash[_CACHE]


@pytest.fixture(scope="session")
def model(request, model_pool):
    """The loaded model (``LoadedModel``) for this parametrization; skipped when unavailable."""
    name = request.param
    if name.startswith("absent:"):
        panel = model_options.panel_name(request.config)
        pytest.skip(f"no model matching {name[7:]} in panel {panel!r}; run with the panel that has it, "
                    f"e.g. pytest claims/ --claims-panel hub --claims-device cuda (needs hub access)")
    try:
        lm = model_pool.get(name)
    except (ModelUnavailable, CorruptModel) as exc:
        pytest.skip(f"model {name} unavailable: {exc}")
    yield lm


@pytest.fixture(scope="session")
def corpus(pytestconfig):
    """The run's corpus: ``--claims-corpus PATH``, else the pinned lmclaims corpus (package data)."""
    return pytestconfig.stash[CORPUS_KEY]


@pytest.fixture(autouse=True)
def _record_provenance(request):
    """Attach model and corpus metadata to the test report (travels under pytest-xdist)."""
    yield
    props = request.node.user_properties
    if "model" in request.fixturenames and hasattr(request.node, "callspec"):
        pool = request.config.stash[_POOL]
        name = request.node.callspec.params.get("model")
        meta = pool.loaded_metadata.get(name)
        if meta:
            props.append(("lmclaims_model", meta))
    if "corpus" in request.fixturenames:
        props.append(("lmclaims_corpus", request.getfixturevalue("corpus").metadata()))


class Measurer:
    """``measure(model, probes, intervention=None, max_texts=..., split="eval")`` with the session
    cache and token window; returns {probe name: arrays} and records what was computed/cached."""

    def __init__(self, config, corpus, cache, plan: MeasurementPlan | None = None):
        self.config, self.corpus, self.cache = config, corpus, cache
        self.info = RunInfo()
        self._plan = plan

    @property
    def default_max_texts(self):
        """The profile's ``max_texts`` (dev 64, ci 64, full all): how many eval texts a claim uses."""
        from lmclaims.plugin import get_settings
        return get_settings(self.config).max_texts

    def view(self, *, max_texts="profile", split="eval"):
        if max_texts == "profile":
            max_texts = self.default_max_texts
        return self.corpus.view(split=split, max_texts=max_texts, max_tokens=self.config.getoption("claims_max_tokens"))

    def planned(self, tag: str, model: str | None = None) -> bool:
        """Whether a selected, unskipped test declared a need tagged ``tag`` (for ``model``, or any)."""
        return self._plan is not None and self._plan.planned(tag, model)

    def plan(self) -> dict[str, list[str]]:
        """{model: tags of the needs planned for it} in this session (:mod:`lmclaims.plan`)."""
        return self._plan.tags() if self._plan is not None else {}

    def __call__(self, lm, probes, *, intervention=None, max_texts="profile", split="eval", view=None):
        view = view or self.view(max_texts=max_texts, split=split)
        probes = list(probes)
        if self._plan is not None and self.cache.enabled:     # the plan's needs of this group: plan.py
            probes += self._plan.extra_probes(lm, self, probes, view, intervention)
        return engine_measure(lm, view, probes, intervention=intervention, cache=self.cache, info=self.info)

    def derived(self, recipe: str, inputs: dict, compute):
        """A derived measurement (``MeasurementCache.derived``): ``compute() -> {name: array}`` runs once
        per provenance ``{"derived": recipe, **inputs}`` and is cached with it across sessions.
        ``inputs`` must name everything the arrays depend on (model fingerprints, settings, seed, view)."""
        return self.cache.derived({"derived": recipe, **inputs}, compute)

    def derived_json(self, recipe: str, inputs: dict, compute):
        """:meth:`derived` for a JSON-valued result (``MeasurementCache.derived_json``)."""
        return self.cache.derived_json({"derived": recipe, **inputs}, compute)


@pytest.fixture(scope="session")
def measure(request, corpus, measurement_cache) -> Measurer:
    plan = MeasurementPlan(request.session, [e.name for e in request.config.stash[_ENTRIES]])
    return Measurer(request.config, corpus, measurement_cache, plan)
