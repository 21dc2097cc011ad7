"""``RunSettings``: every run setting that can change a number, recorded once per run.

Built at configure time from the command line (``--claims-panel``, ``--claims-models``,
``--claims-model``, ``--claims-max-tokens``, ``--claims-runslow``, ``--claims-device``, ``--claims-dtype``,
``--claims-corpus`` of :mod:`lmclaims.pytest_plugin.model_options`, read with
``config.getoption(name, default=None)``; the statistical ``--claims-*`` options) and the
environment (``LMCLAIMS_TORCH_THREADS``). It is written to claims.json (``"settings"``), to the
baseline file, and rebuilt into every verdict's reproduce ``command``. The baseline gate refuses
to compare two runs whose settings differ (:func:`differences`): a drift caused by a changed
window, panel or thread count must not look like a change in the model.

>>> a = RunSettings(panel="offline", max_tokens=128, profile="ci", seed=1, n_resamples=4999)
>>> differences(a.to_dict(), a.to_dict())
[]
>>> differences(a.to_dict(), {**a.to_dict(), "max_tokens": 256})
['max_tokens: 128 (baseline) != 256 (this run)']
>>> a.command_args()
['--claims-profile', 'ci', '--claims-seed', '1', '--claims-n-resamples', '4999', '--claims-panel', 'offline', '--claims-max-tokens', '128']
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from dataclasses import asdict, dataclass, fields

import pytest

from lmclaims.stats.profiles import ClaimSettings

THREADS_ENV = "LMCLAIMS_TORCH_THREADS"


@dataclass(frozen=True)
class RunSettings:
    """The settings of one run (None: the option does not exist in this run, or is unknown).

    panel, models : ``--claims-panel`` and ``--claims-models`` (the model selection changes family sizes,
        hence levels); ``--claims-model`` specs are listed in ``models``.
    max_tokens : ``--claims-max-tokens`` (token window per text).
    max_texts, profile, seed, n_resamples, correction : the statistical profile as used.
    threads : torch intra-op threads (``LMCLAIMS_TORCH_THREADS`` when set, else torch's count when
        torch is loaded); CPU results depend on it in the last bits.
    runslow, device, dtype : ``--claims-runslow``, ``--claims-device``, ``--claims-dtype``.
    corpus_sha256 : sha256 of the corpus file in use (the pinned one or ``--claims-corpus``).
    """

    panel: str | None = None
    models: str | None = None
    max_tokens: int | None = None
    max_texts: int | None = None
    profile: str | None = None
    seed: int | None = None
    n_resamples: int | None = None
    correction: str | None = None
    threads: int | None = None
    runslow: bool | None = None
    device: str | None = None
    dtype: str | None = None
    corpus_sha256: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})

    def command_args(self) -> list[str]:
        """pytest arguments that reproduce these settings (options that exist in the run only)."""
        args = ["--claims-profile", str(self.profile), "--claims-seed", str(self.seed)]
        if self.n_resamples is not None:
            args += ["--claims-n-resamples", str(self.n_resamples)]
        if self.correction not in (None, "holm"):
            args += ["--claims-correction", self.correction]
        for name, value in (("panel", self.panel), ("models", self.models), ("max-tokens", self.max_tokens),
                            ("device", self.device), ("dtype", self.dtype)):
            if value is not None and not (name == "panel" and value == "command-line"):
                args += [f"--claims-{name}", str(value)]
        if self.runslow:
            args.append("--claims-runslow")
        return args

    def command(self, nodeid: str) -> str:
        """Shell command that re-runs ``nodeid`` under these settings."""
        env = f"{THREADS_ENV}={self.threads} " if os.environ.get(THREADS_ENV) else ""
        return env + " ".join(["pytest", shlex.quote(nodeid), *map(shlex.quote, self.command_args())])


#: settings compared by the gate; ``threads`` only when both runs know it
COMPARED = tuple(f.name for f in fields(RunSettings))


def differences(baseline: dict, current: dict) -> list[str]:
    """One line per setting that differs between a baseline's settings and this run's."""
    out = []
    for name in COMPARED:
        old, new = baseline.get(name), current.get(name)
        if name == "threads" and (old is None or new is None):
            continue
        if old != new:
            out.append(f"{name}: {old!r} (baseline) != {new!r} (this run)".replace("'", ""))
    return out


def _threads(config: pytest.Config) -> int | None:
    fixed = os.environ.get(THREADS_ENV)
    if fixed:
        try:
            n = int(fixed)
        except ValueError:
            raise pytest.UsageError(f"{THREADS_ENV}={fixed!r} is not a positive integer") from None
        if n < 1:
            raise pytest.UsageError(f"{THREADS_ENV}={fixed!r} is not a positive integer")
        return n
    workers = config.getoption("numprocesses", default=None)
    if isinstance(workers, int) and workers > 0:       # model_options.share_cpu_threads under xdist
        return max(1, (os.cpu_count() or 1) // workers)
    torch = sys.modules.get("torch")                    # never import torch here
    return int(torch.get_num_threads()) if torch is not None else None


def _corpus_sha256(config: pytest.Config) -> str | None:
    """sha256 of the run's corpus (``--claims-corpus`` or the pinned one)."""
    from lmclaims.pytest_plugin.measurement import CORPUS_KEY
    corpus = config.stash.get(CORPUS_KEY, None)
    if corpus is not None:
        return corpus.sha256
    try:
        from lmclaims.corpus import DEFAULT_CORPUS
        return hashlib.sha256(DEFAULT_CORPUS.read_bytes()).hexdigest()
    except (ImportError, OSError):
        return None


def _option(config: pytest.Config, name: str):
    return config.getoption(name, default=None)


def from_config(config: pytest.Config, stats: ClaimSettings) -> RunSettings:
    """The run's settings from its options (call after every plugin's ``pytest_configure``)."""
    max_tokens = _option(config, "claims_max_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise pytest.UsageError(f"--claims-max-tokens must be a positive integer, got {max_tokens}")
    runslow = _option(config, "claims_runslow")
    models = _option(config, "claims_models")
    specs = _option(config, "claims_model") or []
    if specs:
        models = ";".join(([models] if models else []) + [f"model={s}" for s in specs])
    from lmclaims.pytest_plugin.model_options import panel_name
    panel = panel_name(config) if max_tokens is not None else None     # None: measurement options absent
    return RunSettings(panel=panel, models=models, max_tokens=max_tokens,
                       max_texts=stats.max_texts, profile=stats.profile, seed=stats.seed,
                       n_resamples=stats.n_resamples, correction=stats.correction, threads=_threads(config),
                       runslow=None if runslow is None else bool(runslow), device=_option(config, "claims_device"),
                       dtype=_option(config, "claims_dtype"), corpus_sha256=_corpus_sha256(config))
