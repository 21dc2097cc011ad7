"""Next-token negative log-likelihood per token: the basis of perplexity.

nll[t] = −log p(x_{t+1} | x_{≤t}) for t = 0..n-2 of each text, with p = softmax(model logits),
computed by the streaming lens at the last block (= the model's own logits, softcap included).
Perplexity of a text = exp(mean nll over its tokens); of a corpus, per text then aggregated by
the claim (the text is the unit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmclaims.engine.lens import LogitTransform, lens_stats
from lmclaims.probes.base import Probe, RowAccumulator, last_residual


@dataclass(frozen=True)
class NextTokenNLL(Probe):
    name = "nll"
    version = 1
    rows_per_chunk: int = 512

    def params(self) -> dict:
        return {}            # chunking does not change the numbers beyond fp rounding

    def sites(self, adapter):
        return last_residual(adapter)

    def accumulator(self, lm, view):
        return _NLLAcc(lm, self.rows_per_chunk)


class _NLLAcc(RowAccumulator):
    def __init__(self, lm, chunk):
        super().__init__()
        self.ad, self.chunk = lm.adapter, chunk
        self.tf = LogitTransform(softcap=lm.adapter.logit_softcap)

    def update(self, batch):
        h = batch.resid[-1]
        B, T = batch.input_ids.shape
        sel = [(r, t) for r in range(B) for t in range(int(batch.lengths[r]) - 1)]
        rows = torch.tensor([r for r, _ in sel], device=h.device)
        cols = torch.tensor([t for _, t in sel], device=h.device)
        x = h[rows, cols]
        tgt = batch.input_ids[rows, cols + 1]
        out = []
        for s in range(0, len(sel), self.chunk):
            st = lens_stats(self.ad.normed(x[s:s + self.chunk]), self.ad.unembed_weight, self.ad.unembed_bias,
                            transform=self.tf, targets=tgt[s:s + self.chunk], topk=1)
            out.append(-st.target_logprob)
        self.add(nll=torch.cat(out).cpu().numpy().astype(np.float64),
                 text_index=np.asarray(batch.text_index)[rows.cpu().numpy()].astype(np.int32),
                 position=cols.cpu().numpy().astype(np.int32))


def text_perplexity(nll: np.ndarray, text_index: np.ndarray, n_texts: int) -> np.ndarray:
    """exp(mean nll) per text -> [n_texts]."""
    from lmclaims.probes.base import per_text
    return np.exp(per_text(nll, text_index, n_texts))
