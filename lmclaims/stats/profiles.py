"""Named statistical profiles, in the manner of hypothesis' settings profiles.

A profile fixes how hard the bootstrap works and how much of the corpus a claim uses:

==========  ============  ==========  ================  =========
profile     n_resamples   max_texts   confidence_level  method
==========  ============  ==========  ================  =========
``dev``     999           64          0.95              BCa
``ci``      4999          64          0.95              BCa
``full``    9999          None (all)  0.95              BCa
==========  ============  ==========  ================  =========

``ci`` is the default when the environment variable ``CI`` is set (as hypothesis does), else
``dev``. The random seed is not part of a profile: it is a run setting (``--claims-seed``,
default :data:`DEFAULT_SEED`) so that the same profile can be re-run under other seeds.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass, replace

DEFAULT_SEED = 20261124


@dataclass(frozen=True)
class ClaimSettings:
    """The statistical settings a run uses.

    Attributes
    ----------
    profile : name of the profile these settings came from.
    n_resamples : bootstrap resamples per confidence interval.
    confidence_level : family-wise level, 1 - alpha (before any Bonferroni split).
    max_texts : how many corpus texts a claim should use (None: all).
    method : bootstrap interval, ``"BCa"`` or ``"percentile"`` (``scipy.stats.bootstrap``).
    seed : global seed; each test derives its own stream from (seed, node id).
    correction : multiple-comparison correction over a family: ``holm``, ``fdr_bh`` or ``none``.
    """

    profile: str
    n_resamples: int
    confidence_level: float = 0.95
    max_texts: int | None = None
    method: str = "BCa"
    seed: int = DEFAULT_SEED
    correction: str = "holm"

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence_level

    def with_(self, **changes) -> "ClaimSettings":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


_PROFILES: dict[str, ClaimSettings] = {}


def register_profile(name: str, **settings) -> ClaimSettings:
    """Register (or replace) a named profile; returns it."""
    profile = ClaimSettings(profile=name, **settings)
    _PROFILES[name] = profile
    return profile


def get_profile(name: str) -> ClaimSettings:
    """Look up a profile by name; a bad name raises ``KeyError`` with close-name suggestions."""
    try:
        return _PROFILES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_PROFILES), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"unknown lmclaims profile {name!r}; known: {sorted(_PROFILES)}.{hint}") from None


def profile_names() -> list[str]:
    return sorted(_PROFILES)


def default_profile_name(environ=None) -> str:
    """``"ci"`` when the environment variable ``CI`` is set (and not "0"/"false"), else ``"dev"``."""
    env = os.environ if environ is None else environ
    value = env.get("CI", "").strip().lower()
    return "ci" if value not in ("", "0", "false", "no") else "dev"


register_profile("dev", n_resamples=999, max_texts=64)
# ci resamples harder but measures the same 64 texts as dev: the measurement cache is shared between
# the two and the claims' cold run stays inside its 30-minute budget; `full` uses every text.
register_profile("ci", n_resamples=4999, max_texts=64)
register_profile("full", n_resamples=9999, max_texts=None)
