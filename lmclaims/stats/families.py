"""Existence and universal claims over k columns (layers, heads, depths): one judgement for the set.

``any_above(values [units, k], t)`` — "some column has :math:`\\theta_j > t`":

* SUPPORTED iff at least one column is SUPPORTED under family-wise control over the k columns:
  Holm (``statsmodels.stats.multitest.multipletests``) over the per-column support p-values;
  the support p is the smallest Holm-adjusted one, :math:`p_s = \\min_j \\tilde p_{s,j}`
  (= :math:`\\min(1, k \\min_j p_{s,j})`).
* REFUTED iff every column is REFUTED, each at the test's level (intersection-union):
  :math:`p_r = \\max_j p_{r,j}`.

``all_above`` — "every column has :math:`\\theta_j > t`": SUPPORTED iff every column is
SUPPORTED at the test's level (intersection-union, :math:`p_s = \\max_j p_{s,j}`); REFUTED iff
some column is REFUTED under Holm over the refutation p-values (:math:`p_r = \\min_j \\tilde p_{r,j}`).

Per-column tests are those of :func:`lmclaims.stats.assertions.above` (t below 20 units, else
BCa) run at level :math:`1 - \\alpha/k` so that their p-values resolve the Holm step; the columns
are in ``evidence.extra["columns"]`` (label, estimate, ci, p_support, p_refute, status).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from lmclaims.stats.multiple import corrected

from lmclaims.stats import judging
from lmclaims.stats.context import resolve
from lmclaims.stats.directional import above, below
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status
from lmclaims.stats.validation import units_array


def any_above(values, threshold, *, labels: Sequence[str] | None = None, min_effect: float = 0.0,
              statistic: Callable = np.mean, unit: str = "text", name: str = "values",
              confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
              method: str | None = None) -> Judgement:
    """Claim: some column j of ``values [units, k]`` has statistic > threshold (module docstring).

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(0, 1, (12, 6)); x[:, 4] += 3
    >>> j = any_above(x, 0.0, labels=[f"layer {i}" for i in range(6)])
    >>> j.status.value, [c["label"] for c in j.evidence.extra["columns"] if c["status"] == "supported"]
    ('supported', ['layer 4'])
    """
    return _family(values, threshold, +1, "any", labels, min_effect, statistic, unit, name,
                   (confidence_level, n_resamples, rng, method))


def any_below(values, threshold, *, labels: Sequence[str] | None = None, min_effect: float = 0.0,
              statistic: Callable = np.mean, unit: str = "text", name: str = "values",
              confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
              method: str | None = None) -> Judgement:
    """Claim: some column has statistic < threshold; mirror of :func:`any_above`."""
    return _family(values, threshold, -1, "any", labels, min_effect, statistic, unit, name,
                   (confidence_level, n_resamples, rng, method))


def all_above(values, threshold, *, labels: Sequence[str] | None = None, min_effect: float = 0.0,
              statistic: Callable = np.mean, unit: str = "text", name: str = "values",
              confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
              method: str | None = None) -> Judgement:
    """Claim: every column has statistic > threshold (module docstring).

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(2, 1, (12, 3))
    >>> all_above(x, 0.0).status.value
    'supported'
    """
    return _family(values, threshold, +1, "all", labels, min_effect, statistic, unit, name,
                   (confidence_level, n_resamples, rng, method))


def all_below(values, threshold, *, labels: Sequence[str] | None = None, min_effect: float = 0.0,
              statistic: Callable = np.mean, unit: str = "text", name: str = "values",
              confidence_level: float | None = None, n_resamples: int | None = None, rng=None,
              method: str | None = None) -> Judgement:
    """Claim: every column has statistic < threshold; mirror of :func:`all_above`."""
    return _family(values, threshold, -1, "all", labels, min_effect, statistic, unit, name,
                   (confidence_level, n_resamples, rng, method))


def _holm_min(p: np.ndarray) -> float:
    return float(np.min(corrected(p, "holm")))


def aggregate(p_s, p_r, kind: str, alpha: float):
    """(support p, refutation p, per-column statuses) of an "any"/"all" family (module docstring).

    >>> aggregate(np.array([0.001, 0.5, 0.9]), np.array([1.0, 1.0, 1.0]), "any", 0.05)[:2]
    (0.003, 1.0)
    """
    p_s, p_r = np.asarray(p_s, dtype=float), np.asarray(p_r, dtype=float)
    if kind == "any":
        adjusted = corrected(p_s, "holm")
        col_status = [Status.SUPPORTED if a <= alpha else Status.REFUTED if q <= alpha else Status.INCONCLUSIVE
                      for a, q in zip(adjusted, p_r)]
        return _holm_min(p_s), float(np.max(p_r)), col_status
    adjusted = corrected(p_r, "holm")
    col_status = [Status.REFUTED if a <= alpha else Status.SUPPORTED if p <= alpha else Status.INCONCLUSIVE
                  for p, a in zip(p_s, adjusted)]
    return float(np.max(p_s)), _holm_min(p_r), col_status


def _family(values, threshold, side, kind, labels, min_effect, statistic, unit, name, options):
    _, n_resamples, _, method = options
    opts = resolve(*options)
    arr = units_array(values, name=name, max_ndim=2)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be [units, k] (one column per scanned item)")
    k = arr.shape[1]
    labels = list(labels) if labels is not None else [f"column {j}" for j in range(k)]
    if len(labels) != k:
        raise ValueError(f"got {len(labels)} labels for {k} columns")
    alpha = opts.alpha
    per_level = 1.0 - alpha / k          # per-column intervals resolve p-values down to alpha/k
    helper = above if side > 0 else below
    cols = helper(arr, threshold, min_effect=min_effect, statistic=statistic, unit=unit, name=name, labels=labels,
                  confidence_level=per_level, n_resamples=n_resamples, rng=opts.seed, method=method)
    cols = cols if isinstance(cols, tuple) else (cols,)
    p_s = np.array([c.p_value for c in cols], dtype=float)
    p_r = np.array([c.p_refute for c in cols], dtype=float)
    refused = [c.reason for c in cols if c.evidence.method == "not computed"]
    p_support, p_refute, col_status = aggregate(p_s, p_r, kind, alpha)
    if kind == "any":
        rule = (f"supported if at least one of {k} columns has its {name} beyond the threshold under Holm over the "
                f"columns' support p-values at alpha={alpha:.3g}; refuted if every column is refuted at "
                f"alpha={alpha:.3g}; else inconclusive")
    else:
        rule = (f"supported if every one of {k} columns has its {name} beyond the threshold at alpha={alpha:.3g}; "
                f"refuted if some column is refuted under Holm over the columns' refutation p-values; "
                f"else inconclusive")
    status = (Status.INCONCLUSIVE if refused else Status.SUPPORTED if p_support <= alpha else
              Status.REFUTED if p_refute <= alpha else Status.INCONCLUSIVE)
    columns = [{"label": c.label, "estimate": c.evidence.estimate, "ci": list(c.evidence.confidence_interval),
                "ci_level": c.evidence.confidence_level, "p_support": float(p), "p_refute": float(q),
                "status": s.value} for c, p, q, s in zip(cols, p_s, p_r, col_status)]
    pick = int(np.argmin(p_s)) if kind == "any" else int(np.argmax(p_s))
    best = cols[pick]
    word = "some" if kind == "any" else "every"
    side_word = "above" if side > 0 else "below"
    ev = Evidence(statistic=f"{best.evidence.statistic} of the {'best' if kind == 'any' else 'weakest'} column "
                            f"({best.label}); claim: {word} column {side_word}",
                  estimate=best.evidence.estimate, confidence_interval=ConfidenceInterval(*best.evidence.confidence_interval),
                  n=best.evidence.n, unit=unit, method=best.evidence.method, confidence_level=per_level,
                  seed=best.evidence.seed, p_value=p_support,
                  extra={"alpha": alpha, "columns": columns, "k": k, "aggregate": kind,
                         "direction": best.evidence.extra.get("direction"),
                         "refuted_as": "every column" if kind == "any" and status is Status.REFUTED else
                         "some column" if status is Status.REFUTED else None,
                         "method_reason": best.evidence.extra.get("method_reason"),
                         "threshold": float(np.asarray(threshold).reshape(-1)[0]), "min_effect": min_effect})
    if refused:
        reason = refused[0]
    else:
        s_cols = [c["label"] for c in columns if c["status"] == "supported"]
        r_cols = [c["label"] for c in columns if c["status"] == "refuted"]
        reason = (f"{len(s_cols)} of {k} columns supported ({', '.join(s_cols[:6]) or 'none'}), {len(r_cols)} refuted; "
                  f"support p {judging.fmt(p_support)}, refutation p {judging.fmt(p_refute)}")
    return judging.judgement(status, ev, rule, p_value=judging.consistent(p_support, status is Status.SUPPORTED, alpha),
                             p_refute=judging.consistent(p_refute, status is Status.REFUTED, alpha), reason=reason)
