"""Hooks a host project implements (in its ``conftest.py`` or its own plugin) to extend lmclaims.

Like pytest-benchmark's ``pytest_benchmark_update_json``: implement the function with the same name
and lmclaims calls it. Example (a conftest.py)::

    def pytest_lmclaims_panels(config):
        return {"lab-models": "/data/panels/lab.toml"}      # then: pytest --claims-panel lab-models

    def pytest_lmclaims_update_json(config, report):
        report["lab"] = {"cluster": "a100-7"}                # extra fields in claims.json
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_lmclaims_panels(config):
    """Extra named panels: return ``{name: path to a panel .toml file}``.

    ``--claims-panel NAME`` then loads that file; a name that clashes with a built-in panel is a
    ``pytest.UsageError``. Called once at configure time.
    """


@hookspec
def pytest_lmclaims_model_sources(config):
    """Extra model sources: return ``{source name: loader}``.

    A panel entry with ``source = "<name>"`` (its parameters in ``[model.extra]``) is loaded by
    ``loader(entry, dtype=torch.dtype, trust_remote_code=bool) -> (model, tokenizer, info dict)``;
    ``info["weights_digest"]`` (a sha256 of the weights), when given, goes into the model's
    fingerprint. See :mod:`lmclaims.models.sources`.
    """


@hookspec
def pytest_lmclaims_default_view_probes(lm, measure):
    """Extra probes to add to a model's first pass on the default eval view: return a list of probes.

    Use it when a host project's own probes should ride along with the one forward pass per model
    that the claims already make (the measurement plan, ``lmclaims.pytest_plugin.plan``). Return ``[]`` for models
    you do not measure.
    """


@hookspec
def pytest_lmclaims_update_json(config, report):
    """Change the claims.json document (a dict, modified in place) just before it is written.

    Called on the controller once per run (also for a partial run). Keep the schema's own keys
    (``lmclaims/report/SCHEMA.md``); add yours under a key of your own.
    """
