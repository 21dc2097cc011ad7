"""Substituting predicted weights, and the nulls (seed 003: "yet predicted weights cause catastrophic
failure due to nonlinear error accumulation").

The substitutions themselves (``PredictedWeights``, the matched-noise null ``MatchedNoiseWeights`` and
the copy ``NeighbourWeights``; recipes in that module's docstring) are interventions and live with all
the others in :mod:`lmclaims.engine.interventions.predicted`; each restores the originals bit for bit.

:class:`SubstitutionSweepNLL` measures next-token NLL under many substitutions in one engine
pass: the clean forward captures every block's input and call arguments, and for each
substitution the blocks from its lowest layer on are re-run with the swap active (blocks below
it are unchanged). Checked against the full-forward intervention in tests/test_predicted_weights.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmclaims.engine.interventions.predicted import _check_layers, matrix_names, predicted_matrices
from lmclaims.engine.interventions.weights import SwapWeights
from lmclaims.engine.lens import LogitTransform
from lmclaims.probes.ablation import _nll_rows
from lmclaims.probes.base import Probe, RowAccumulator


def prediction_quality(blocks, layers, *, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative error ‖W_l − Ŵ_l‖_F / ‖W_l‖_F and element-wise R² 1 − ‖W_l − Ŵ_l‖² / ‖W_l − mean(W_l)‖²
    of the prediction, per layer and matrix -> two arrays [len(layers), n_matrices] (the R² is the
    number :func:`lmclaims.probes.weight_regularity.depth_poly_elementwise_r2` gives from the Gram
    summary, here computed directly)."""
    pred = predicted_matrices(blocks, layers, degree=degree)
    names = matrix_names(blocks[0])
    rel, r2 = np.empty((len(pred), len(names))), np.empty((len(pred), len(names)))
    for i, l in enumerate(pred):
        for k, n in enumerate(names):
            W = blocks[l].get_parameter(n).detach().double()
            sse = float(((W - pred[l][n].double()) ** 2).sum())
            rel[i, k] = np.sqrt(sse) / float(W.norm())
            r2[i, k] = 1.0 - sse / float(((W - W.mean()) ** 2).sum())
    return rel, r2


def relative_errors(blocks, layers, *, degree: int) -> np.ndarray:
    """‖W_l − Ŵ_l‖_F / ‖W_l‖_F per layer and matrix -> [len(layers), n_matrices]."""
    return prediction_quality(blocks, layers, degree=degree)[0]


# --------------------------------------------------------------------------- probe

@dataclass(frozen=True)
class SubstitutionSweepNLL(Probe):
    """Per-token NLL under each weight substitution in ``substitutions`` (``SwapWeights``), from
    one engine pass -> ``nll`` [rows, k], ``nll_base`` [rows], ``text_index``, ``position``."""

    substitutions: tuple = ()
    name = "substitution_sweep_nll"
    version = 1

    def __post_init__(self):
        if not self.substitutions:
            raise ValueError("SubstitutionSweepNLL needs at least one substitution")
        bad = [s for s in self.substitutions if not isinstance(s, SwapWeights)]
        if bad:
            raise TypeError(f"substitutions must be SwapWeights interventions, got {bad}")

    def params(self) -> dict:
        return {"substitutions": [s.describe() for s in self.substitutions]}

    def sites(self, adapter):
        """The stream entering each substitution's lowest block (its suffix re-runs from there) and the last one."""
        return tuple(dict.fromkeys([f"resid_pre.{s.first_layer}" for s in self.substitutions]
                                   + [f"resid_post.{adapter.n_layers - 1}"]))

    def accumulator(self, lm, view):
        return _SubstitutionAcc(lm, self)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


class _SubstitutionAcc(RowAccumulator):
    """Re-runs block suffixes with substituted weights from the clean forward's residuals, with the
    block call arguments the engine recorded (``Batch.block_calls``); registers no hooks of its own."""

    needs_block_calls = True

    def __init__(self, lm, probe: SubstitutionSweepNLL):
        super().__init__()
        self.ad = lm.adapter
        self.tf = LogitTransform(softcap=lm.adapter.logit_softcap)
        self.subs = probe.substitutions
        for s in self.subs:
            _check_layers(s.layers, self.ad.n_layers)
        self.calls: list[tuple] = []     # this batch's block call arguments (Batch.block_calls)

    def _call(self, i, h):
        positional, rest, kwargs = self.calls[i]
        block = self.ad.blocks[i]
        if positional:
            return _first(block(h, *rest, **kwargs))
        return _first(block(**{**kwargs, "hidden_states": h}))

    def update(self, batch):
        base, rows, cols = _nll_rows(self.ad, self.tf, batch.resid[-1], batch)
        out = np.empty((len(base), len(self.subs)))
        self.calls = batch.block_calls
        for j, s in enumerate(self.subs):
            l0 = s.first_layer
            h = batch.resid[l0]
            with s.hooks(self.ad):
                for k in range(l0, self.ad.n_layers):
                    h = self._call(k, h)
            out[:, j] = _nll_rows(self.ad, self.tf, h, batch)[0]
        ti = np.asarray(batch.text_index)[rows].astype(np.int32)
        self.add(nll=out, nll_base=base, text_index=ti, position=cols.astype(np.int32))

    def finish(self):
        return super().finish()
