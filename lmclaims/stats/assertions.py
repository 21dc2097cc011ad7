"""Assertion helpers: each turns per-unit measurements into a :class:`Judgement`.

=====================  ==================================================================
helper                 claim
=====================  ==================================================================
``above`` / ``below``  statistic(values) > / < threshold (optionally by min_effect)
``greater``            statistic(a) - statistic(b) > 0, paired by default
``same_sign``          a and b lie on the same side of a reference
``equivalent``         |difference| < margin (TOST)
``separated``          members split into two non-overlapping clusters (log scale)
``law_fits``           regression slope/intercept matches a prediction within a margin
``correlated``         Spearman rho has the claimed sign (and strength)
``proportion_below``   a rate lies below a bound (binomtest, or texts bootstrap)
=====================  ==================================================================

Conventions shared by all: the independent unit (text, model, seed) is resampled, never tokens;
intervals come from ``scipy.stats.bootstrap`` (BCa unless ``method=`` says otherwise);
``confidence_level``, ``n_resamples``, ``rng`` and ``method`` are keyword-only and default to the
active settings (:mod:`lmclaims.stats.context`); every result records method, n, unit, seed and the
bootstrap distribution; empty / NaN / too-small input raises ``ValueError``, uninformative input
(no spread) gives INCONCLUSIVE with the reason. ``Judgement.p_value <= alpha`` exactly when the
helper said SUPPORTED at level ``1 - alpha``.
"""

from lmclaims.stats.clusters import separated
from lmclaims.stats.correlation import correlated
from lmclaims.stats.directional import above, below, greater
from lmclaims.stats.equivalence import equivalent
from lmclaims.stats.rates import proportion_below
from lmclaims.stats.regression import law_fits
from lmclaims.stats.sign import same_sign

__all__ = ["above", "below", "greater", "same_sign", "equivalent", "separated", "law_fits", "correlated",
           "proportion_below"]
