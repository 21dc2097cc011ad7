"""The resampling settings an assertion helper uses when its caller does not pass them.

Claim code should read like the claim (``assertions.below(g, 10 ** (1 / L), unit="text")``), so
the helpers take ``confidence_level``, ``n_resamples``, ``method`` and ``rng`` as keyword-only
options defaulting to ``None``, resolved here in this order:

1. the explicit keyword;
2. the *active* settings, installed by the pytest plugin's ``verdict`` fixture for the duration of
   a claim test (Bonferroni-split level, profile's resamples, a stream seeded by (seed, node id));
3. library defaults: 0.95, 9999 resamples (scipy's default), BCa, and a fresh generator seeded
   with :data:`lmclaims.stats.profiles.DEFAULT_SEED` (so that results are reproducible outside
   pytest too).

Whatever the source, the helper draws one integer seed from it and records that integer in
``Evidence.seed``: passing ``rng=evidence.seed`` reproduces the resamples exactly.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

import numpy as np

from lmclaims.stats.profiles import DEFAULT_SEED

DEFAULT_CONFIDENCE_LEVEL = 0.95
DEFAULT_N_RESAMPLES = 9999
DEFAULT_METHOD = "BCa"
METHODS = ("BCa", "percentile", "basic")


@dataclass
class ActiveSettings:
    """Settings installed for the duration of a claim test (see :func:`using`)."""

    confidence_level: float
    n_resamples: int
    rng: np.random.Generator
    method: str = DEFAULT_METHOD


@dataclass(frozen=True)
class Resolved:
    """Fully resolved options for one helper call."""

    confidence_level: float
    n_resamples: int
    method: str
    seed: int
    explicit_resamples: bool = False   # the caller passed n_resamples= (never raised automatically)

    @property
    def alpha(self) -> float:
        return round(1.0 - self.confidence_level, 12)


_ACTIVE: contextvars.ContextVar[ActiveSettings | None] = contextvars.ContextVar("lmclaims_active", default=None)


@contextlib.contextmanager
def using(settings: ActiveSettings):
    """Install ``settings`` as the defaults of every helper called inside the ``with`` block."""
    token = _ACTIVE.set(settings)
    try:
        yield settings
    finally:
        _ACTIVE.reset(token)


def active() -> ActiveSettings | None:
    return _ACTIVE.get()


def resolve(confidence_level=None, n_resamples=None, rng=None, method=None) -> Resolved:
    """Resolve helper options (explicit > active > default) and validate them."""
    act = _ACTIVE.get()
    level = confidence_level if confidence_level is not None else (
        act.confidence_level if act else DEFAULT_CONFIDENCE_LEVEL)
    resamples = n_resamples if n_resamples is not None else (act.n_resamples if act else DEFAULT_N_RESAMPLES)
    meth = method if method is not None else (act.method if act else DEFAULT_METHOD)
    if rng is None:
        rng = act.rng if act else np.random.default_rng(DEFAULT_SEED)
    if isinstance(rng, (int, np.integer)):
        seed = int(rng)
    elif isinstance(rng, np.random.Generator):
        seed = int(rng.integers(0, 2**63 - 1))
    else:
        raise TypeError(f"rng must be an int seed or a numpy Generator, not {type(rng).__name__}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"confidence_level must lie in (0, 1), got {level!r}")
    if int(resamples) < 99:
        raise ValueError(f"n_resamples must be at least 99 for a usable interval, got {resamples!r}")
    if meth.lower() not in {m.lower() for m in METHODS}:
        raise ValueError(f"method must be one of {METHODS}, got {meth!r}")
    return Resolved(float(level), int(resamples), meth, seed, explicit_resamples=n_resamples is not None)
