"""Template claim module: copy it next to your tests, rename it ``test_<your claim>.py``, replace
what the ``# REPLACE`` comments point at, and run it::

    python -m pytest test_my_claim.py --claims-panel synthetic --claims-models synthetic-llama   # seconds
    python -m pytest test_my_claim.py                                                            # the offline panel

The claim here is a real, small one: "the residual stream's norm grows with depth". It is tested
in two variants that share one multiple-comparison family (the claim id):

* ``as-published`` reproduces the author's definition exactly — here: the norm ratio of the last
  block's output to the embeddings, at the last token of each text;
* ``corrected`` measures what the claim means, as it should be measured — every token at positions
  >= 1 (position 0 is the attention sink), block 0 excluded (it maps the embeddings, whose scale is
  a convention), on the log scale, against the null baseline "no growth" (log ratio 0), with a margin
  decided before looking at any data.

The text is the unit in both (one number per text; tokens are never resampled). The guide is
``docs/writing-a-claim.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmclaims.plan import Need
from lmclaims.probes.base import per_text
from lmclaims.probes.residual import ResidualNorms, last_token_rows
from lmclaims.stats.assertions import above, greater

# REPLACE: the claim. `paper` is the arXiv id / DOI / URL; `quote` the paper's sentence, verbatim.
CLAIM_ID = "template.residual_norm_growth"
PAPER = "https://example.org/replace-with-the-paper"
QUOTE = "The norm of the residual stream grows steadily with depth."
STATEMENT = "the residual stream's norm grows with depth"

# REPLACE: thresholds and margins, each with its reason, decided BEFORE looking at any result.
# As published: "grows" = a ratio above 1; 5% is the smallest growth the paper's figure resolves.
PUBLISHED_MIN_RATIO_GAIN = 0.05
# Corrected: per-text mean log growth from block 1's output to the last block's output must exceed
# log(1.05): below a 5% change, dequantisation noise of the offline GGUF weights (~0.3% per norm)
# and the choice of texts could produce it.
MIN_LOG_GROWTH = math.log(1.05)


# What the tests measure, declared as data: the plugin plans one forward pass per model for every
# selected test's needs (docs/writing-a-probe.md, "the plan").
NORMS = Need("template.residual_norms", probes=lambda lm, measure: [ResidualNorms()])
pytestmark = pytest.mark.measures(NORMS)


def _norms(measure, model):
    """The probe's per-token rows and the number of texts (one cached forward pass per model)."""
    view = measure.view()                                     # the profile's eval texts
    arrays = measure(model, [ResidualNorms()], view=view)["residual_norms"]
    return arrays, len(view)


@pytest.mark.claim(CLAIM_ID, paper=PAPER, quote=QUOTE, statement=STATEMENT, variant="as-published", version=1)
def test_norm_growth_as_published(model, measure, verdict):
    rows, n_texts = _norms(measure, model)
    norm = rows["norm"]                                       # [tokens, L+1]; column 0 = embeddings
    last = last_token_rows(rows["text_index"], rows["position"], n_texts)
    ratio = norm[last, -1] / norm[last, 0]                    # one number per text
    j = above(ratio, 1.0, min_effect=PUBLISHED_MIN_RATIO_GAIN, unit="text",
              name="||h_L|| / ||h_0|| at the last token")
    verdict.record(j, models=model.name,
                   caveats=["as published: last token only, ratio to the embeddings (block 0 included)"])


@pytest.mark.claim(CLAIM_ID, paper=PAPER, quote=QUOTE, statement=STATEMENT, variant="corrected", version=1)
def test_norm_growth_corrected(model, measure, verdict):
    rows, n_texts = _norms(measure, model)
    keep = rows["position"] >= 1                              # skip the attention-sink position
    norm, text = rows["norm"][keep], rows["text_index"][keep]
    log_last = per_text(np.log(norm[:, -1]), text, n_texts)   # per-text mean over tokens
    log_first = per_text(np.log(norm[:, 1]), text, n_texts)   # output of block 0
    j = greater(log_last, log_first, paired=True, min_effect=MIN_LOG_GROWTH, unit="text",
                names=("log ||h_L||", "log ||h_1||"))
    verdict.record(j, models=model.name,
                   caveats=[f"null baseline: no growth (log ratio 0); margin log(1.05) = {MIN_LOG_GROWTH:.4f}"])
