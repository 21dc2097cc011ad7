"""Assertion helpers: each turns per-unit measurements into a :class:`Judgement`.

========================  ==================================================================
helper                    claim
========================  ==================================================================
``above`` / ``below``     statistic(values) > / < threshold (optionally by min_effect)
``greater``               statistic(a) - statistic(b) > 0, paired by default
``same_sign``             a and b lie on the same side of a reference
``equivalent``            |difference| < margin (TOST)
``separated``             members split into two non-overlapping clusters (log scale)
``law_fits``              regression slope/intercept matches a prediction within a margin
``correlated``            Spearman rho has the claimed sign (and strength)
``proportion_below``      a rate lies below a bound (binomtest, or texts bootstrap)
``less``                  mirror of ``greater``
``statistic_above``       a general statistic of several per-unit arrays exceeds a threshold
``correlation_within``    Spearman rho lies inside (-bound, bound) (TOST)
``two_clusters``          members form two clusters, against a continuum null
``separated_held_out``    split chosen on the first half of the texts, gap tested on the second
``permutation``           structure vs a shuffled null (never refutes)
``sign_flip``             exact paired sign-flip test for a handful of seeds
========================  ==================================================================

Every helper returns a support p (``Judgement.p_value``) and a refutation p
(``Judgement.p_refute``; None where a rule never refutes); REFUTED only when the interval lies
wholly outside the claim's margin. Methods are matched to n (t / exact below 20 units, BCa with
>= 20 resamples beyond each interval end above; INCONCLUSIVE with the reason when a design cannot
reach the level); every rule is calibrated in both directions (docs/calibration.md).

Conventions shared by all: the independent unit (text, model, seed) is resampled, never tokens;
intervals come from ``scipy.stats.bootstrap`` (BCa unless ``method=`` says otherwise);
``confidence_level``, ``n_resamples``, ``rng`` and ``method`` are keyword-only and default to the
active settings (:mod:`lmclaims.stats.context`); every result records method, n, unit, seed and the
bootstrap distribution; empty / NaN / too-small input raises ``ValueError``, uninformative input
(no spread) gives INCONCLUSIVE with the reason. ``Judgement.p_value <= alpha`` exactly when the
helper                    said SUPPORTED at level ``1 - alpha``.
"""

from lmclaims.stats.clusters import separated
from lmclaims.stats.clusters_found import separated_held_out, two_clusters
from lmclaims.stats.correlation import correlated, correlation_within
from lmclaims.stats.directional import above, below, greater, less, statistic_above, statistic_below
from lmclaims.stats.permutation import permutation, sign_flip
from lmclaims.stats.equivalence import equivalent
from lmclaims.stats.rates import proportion_below
from lmclaims.stats.regression import law_fits
from lmclaims.stats.sign import same_sign

__all__ = ["above", "below", "greater", "less", "statistic_above", "statistic_below", "same_sign", "equivalent",
           "separated", "separated_held_out", "two_clusters", "law_fits", "correlated", "correlation_within",
           "proportion_below", "permutation", "sign_flip"]
