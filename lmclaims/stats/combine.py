"""Claims made of sub-claims: "A or B" and "A and B", from judgements the helpers already issued.

A claim such as "every model sits in one of two regimes, GD > 1.5 or GD < 0.1" is the union of two
directional claims on the same quantity; "the split appears on mean G and on mean D" is their
intersection. Both are decided from the sub-judgements' two p-values (support :math:`p_s`,
refutation :math:`p_r`), never from their labels or statuses alone:

``any_of(j_1, …, j_k)`` — claim :math:`A_1 \\lor \\dots \\lor A_k`:

* SUPPORTED iff some :math:`A_i` is supported after Holm over the k support p-values,
  :math:`p_s = \\min_i \\tilde p_{s,i}` (family-wise: the union claim is false only when every
  :math:`A_i` is false, and Holm keeps the chance that any of them is wrongly supported at α);
* REFUTED iff every :math:`A_i` is refuted at the level (intersection–union test,
  Berger & Hsu 1996): :math:`p_r = \\max_i p_{r,i}`.

``all_of(j_1, …, j_k)`` — claim :math:`A_1 \\land \\dots \\land A_k`:

* SUPPORTED iff every :math:`A_i` is supported at the level (intersection–union): :math:`p_s = \\max_i p_{s,i}`;
* REFUTED iff some :math:`A_i` is refuted after Holm over the k refutation p-values:
  :math:`p_r = \\min_i \\tilde p_{r,i}`.

Sub-judgements must come from :mod:`lmclaims.stats` (:func:`lmclaims.stats.judging.issued`) and must
have been made at the same level (they are re-decided here from their p-values at that level). A
sub-judgement without p-values (exact arithmetic) enters with p = 0 if its status is the one
tested and p = 1 otherwise; an INCONCLUSIVE one that refused to decide (too few units) makes the
combination INCONCLUSIVE with its reason.

>>> import numpy as np
>>> from lmclaims.stats.directional import above, below
>>> x = np.random.default_rng(0).normal(2.0, 0.2, 30)
>>> j = any_of(below(x, 0.1, n_resamples=999, rng=1), above(x, 1.5, n_resamples=999, rng=1),
...            labels=("GD < 0.1", "GD > 1.5"))
>>> j.status.value, j.evidence.extra["parts"][1]["status"]
('supported', 'supported')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from lmclaims.stats.multiple import corrected

from lmclaims.stats import judging
from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Judgement, Status


def any_of(*parts: Judgement, labels: Sequence[str] | None = None, name: str = "") -> Judgement:
    """Union claim "some part holds" (module docstring)."""
    return _combine(parts, "any", labels, name)


def all_of(*parts: Judgement, labels: Sequence[str] | None = None, name: str = "") -> Judgement:
    """Intersection claim "every part holds" (module docstring)."""
    return _combine(parts, "all", labels, name)


def _p(part: Judgement, which: str) -> float:
    p = part.p_value if which == "support" else part.p_refute
    if p is not None:
        return float(p)
    target = Status.SUPPORTED if which == "support" else Status.REFUTED
    return 0.0 if part.status is target else 1.0


def _holm_min(p: np.ndarray) -> float:
    return float(np.min(corrected(p, "holm")))


def _combine(parts, kind, labels, name) -> Judgement:
    if len(parts) < 2:
        raise ValueError(f"{kind}_of needs at least two judgements, got {len(parts)}")
    for part in parts:
        if not judging.issued(part):
            raise TypeError(f"{kind}_of takes judgements issued by lmclaims.stats helpers, not {type(part).__name__} "
                            "objects built or edited elsewhere")
    labels = list(labels) if labels is not None else [p.label or f"part {i}" for i, p in enumerate(parts)]
    if len(labels) != len(parts):
        raise ValueError(f"got {len(labels)} labels for {len(parts)} parts")
    alphas = {round(float(p.evidence.extra.get("alpha", np.nan)), 12) for p in parts
              if p.evidence.extra.get("alpha") is not None}
    if len(alphas) > 1:
        raise ValueError(f"parts were judged at different levels {sorted(alphas)}; judge them at one level")
    alpha = alphas.pop() if alphas else round(1.0 - parts[0].evidence.confidence_level, 12)
    p_s = np.array([_p(p, "support") for p in parts])
    p_r = np.array([_p(p, "refute") for p in parts])
    if kind == "any":
        p_support, p_refute = _holm_min(p_s), float(np.max(p_r))
        word = "at least one"
    else:
        p_support, p_refute = float(np.max(p_s)), _holm_min(p_r)
        word = "every one"
    refused = [p.reason for p in parts if p.status is Status.INCONCLUSIVE and p.p_value is None and p.p_refute is None]
    status = (Status.INCONCLUSIVE if refused else Status.SUPPORTED if p_support <= alpha else
              Status.REFUTED if p_refute <= alpha else Status.INCONCLUSIVE)
    rows = [{"label": lab, "status": p.status.value, "statistic": p.evidence.statistic,
             "estimate": p.evidence.estimate, "ci": list(p.evidence.confidence_interval),
             "p_support": float(s), "p_refute": float(r), "rule": p.rule}
            for lab, p, s, r in zip(labels, parts, p_s, p_r)]
    # the part that decides: the best-supported for "any", the weakest for "all"
    pick = int(np.argmin(p_s)) if kind == "any" else int(np.argmax(p_s))
    best = parts[pick]
    if kind == "any":
        rule = (f"supported if {word} of {len(parts)} parts ({'; '.join(labels)}) is supported under Holm over their "
                f"support p-values at alpha={alpha:.3g}; refuted if every part is refuted at alpha={alpha:.3g}; "
                "else inconclusive")
    else:
        rule = (f"supported if {word} of {len(parts)} parts ({'; '.join(labels)}) is supported at alpha={alpha:.3g}; "
                f"refuted if some part is refuted under Holm over their refutation p-values; else inconclusive")
    if refused:
        reason = refused[0]
    else:
        reason = "; ".join(f"{r['label']}: {r['status']} ({p.reason})" for r, p in zip(rows, parts))
    extra = {"alpha": alpha, "aggregate": kind, "parts": rows, "decided_by": labels[pick],
             "direction": best.evidence.extra.get("direction"),
             "refuted_as": ("every part" if kind == "any" else "some part") if status is Status.REFUTED else None,
             "method_reason": best.evidence.extra.get("method_reason")}
    ev = Evidence(statistic=name or best.evidence.statistic, estimate=best.evidence.estimate,
                  confidence_interval=ConfidenceInterval(*best.evidence.confidence_interval), n=best.evidence.n,
                  unit=best.evidence.unit, method=best.evidence.method, confidence_level=best.evidence.confidence_level,
                  seed=best.evidence.seed, p_value=p_support, extra=extra)
    return judging.judgement(status, ev, rule,
                             p_value=judging.consistent(p_support, status is Status.SUPPORTED, alpha),
                             p_refute=judging.consistent(p_refute, status is Status.REFUTED, alpha),
                             reason=reason, caveats=tuple(c for p in parts for c in p.caveats))
