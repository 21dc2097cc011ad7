"""Session-end multiple-comparison corrections: per family (Holm / BH) and one suite-level BH line.

Per family (``adjusted_verdicts``): the support p-values (``p_raw``) and the refutation p-values
(``p_refute_raw``) of the family's verdicts are each adjusted with the run's correction
(``statsmodels.stats.multitest.multipletests`` through :func:`lmclaims.stats.multiple.adjust`).
The family is **padded to its announced size** m (``family_size``, counted at collection and
used for the test-time Bonferroni level): when only k < m of its verdicts were recorded (a
``-k`` run, a skipped model), m - k members with p = 1 are added before adjusting, so a partial
run is never corrected more leniently than the full one. A verdict without a p-value (exact
arithmetic) stays out of the adjustment.

Suite (``suite_line``): Benjamini–Hochberg (``fdr_bh``) over every verdict's raw support p of the
run, across families: ``{"m", "bh_alpha", "bh_significant", "families"}`` and ``p_suite_bh`` on
each verdict — how many SUPPORTED verdicts survive a false-discovery-rate control over the whole
suite.

>>> vs = [{"key": "a", "nodeid": "t::a", "claim_id": "c", "variant": "corrected", "family": "c",
...        "family_size": 4, "p_raw": 0.01, "p_refute_raw": 0.9}]
>>> adjusted_verdicts(vs, "holm", 0.05)[0]["p_adjusted"]      # padded: Holm over [0.01, 1, 1, 1]
0.04
"""

from __future__ import annotations

from collections import defaultdict

from statsmodels.stats.multitest import multipletests

from lmclaims.stats.multiple import adjust


def _family(v: dict) -> str:
    return v.get("family") or v["claim_id"]


def _padded(ps: list, m: int, correction: str) -> list:
    pad = max(0, m - len(ps))
    return adjust(list(ps) + [1.0] * pad, correction)[: len(ps)]


def adjusted_verdicts(verdicts: list[dict], correction: str, alpha: float) -> list[dict]:
    """Copies of the verdict dicts in a stable order, with both p-values adjusted per family."""
    out = sorted((dict(v) for v in verdicts), key=lambda v: (v["nodeid"], v.get("index", 0)))
    families = defaultdict(list)
    for v in out:
        families[_family(v)].append(v)
    for members in families.values():
        announced = max([int(v.get("family_size") or 0) for v in members] + [len(members)])
        support = _padded([v.get("p_raw") for v in members], announced, correction)
        refute = _padded([v.get("p_refute_raw") for v in members], announced, correction)
        for v, p, q in zip(members, support, refute):
            v["p_adjusted"], v["p_refute_adjusted"] = p, q
            v["family_verdicts"] = len(members)
            v["family_padded_to"] = announced
            v["significant_after_correction"] = None if p is None else bool(p <= alpha)
            if len(members) > int(v.get("family_size") or len(members)):
                v["caveats"] = list(v.get("caveats", ())) + [
                    f"the family recorded {len(members)} verdicts but announced m={v['family_size']} at collection; "
                    "the test-time level was too lax (set verdicts= on the claim marker); trust p_adjusted"]
    return out


def suite_line(verdicts: list[dict], alpha: float) -> dict:
    """BH over every verdict's support p (fills ``p_suite_bh``); the claims.json ``suite`` dict."""
    present = [v for v in verdicts if v.get("p_raw") is not None]
    significant = 0
    if present:
        reject, p_bh, _, _ = multipletests([float(v["p_raw"]) for v in present], alpha=alpha, method="fdr_bh")
        for v, p in zip(present, p_bh):
            v["p_suite_bh"] = float(p)
        significant = int(reject.sum())
    return {"m": len(present), "bh_alpha": round(alpha, 12), "bh_significant": significant,
            "families": len({_family(v) for v in verdicts})}
