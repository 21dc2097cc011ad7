"""Residual gain G: the as-published definitions and the corrected one (pure numpy).

Input: the arrays of the ``ResidualNorms`` probe (``lmclaims.probes.residual``) — per token rows with
``norm`` [rows, L+1] (column 0 = embeddings / input of block 0, column l = output of block l-1,
*before* the final norm), ``text_index`` and ``position``. Output: one number per text (the text is
the bootstrap unit), plus a per-layer profile for plots. Citations are to
``shared/notes/definitions.md`` §1 ("Residual gain G — the paper uses two different definitions").

Definitions
-----------
``hidden_states_G`` — **as published, "hidden-states G"** (Kleiber figure, heritage figure, Pythia
    sweep): ``||hs[-2][0, -1]|| / ||hs[-3][0, -1]||`` with HF ``output_hidden_states``. HF's
    ``hs[-1]`` is *after* the final norm, so ``hs[-2]`` is the output of block L-2 (0-based) and
    ``hs[-3]`` the output of block L-3: this is the gain of the **penultimate block**, at the
    **last token** of each text only: ``norm[last, L-1] / norm[last, L-2]``. (The author averaged it
    arithmetically over 5 or 25 prompts; here the per-text values are returned and the claim test
    averages them.)
``hook_G`` — **as published, "hook G" (Last_Gain)**: the true last-block gain at the last token,
    before the final norm: ``norm[last, L] / norm[last, L-1]``.
``corrected_G`` — **recommended (ours, after definitions.md §1 "Recommended (corrected)")**: per
    token at positions >= 1 (position 0 is BOS / the attention sink), per block
    g_l = ||h_l|| / ||h_{l-1}|| (l = 1..L, h_0 = embeddings); a text's G is the geometric mean of
    g_l over tokens and over blocks l = 2..L in 1-based block numbering, i.e. blocks 1..L-1 in the
    0-based numbering of definitions.md: **block 0 is excluded because it maps the embeddings**
    (its "gain" compares a block output to raw token embeddings, whose scale is a convention —
    Gemma multiplies by sqrt(d), GPT-2 adds position embeddings — not residual dynamics).
    Per token the geometric mean telescopes: (||h_L|| / ||h_1||)^(1/(L-1)), the average
    per-block growth factor of the residual stream after the first block.
``log_gain_profile`` — per text and block, the mean over tokens (positions >= 1) of log g_l,
    [texts, L]; exp of its column means is the per-layer geometric-mean gain (plots, Kleiber).
``max_block_gain`` — per text, the largest per-block gain exp(max_{l>=1} log_gain_profile[t, l])
    over blocks 1..L-1 (0-based; block 0 excluded as above): the "G_max" of the Kleiber bound
    "no block gain exceeds 10^(1/L)" in the corrected variant.

All norms are L2 norms of fp32 residual states (the engine computes them in fp32 whatever the
model dtype).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmclaims.probes.base import per_text
from lmclaims.probes.residual import block_gains, last_token_rows

__all__ = ["GainSummary", "summarise", "hidden_states_G", "hook_G", "corrected_G", "log_gain_profile",
           "max_block_gain", "DEFINITIONS"]

DEFINITIONS = {
    "hidden_states": "as-published hidden-states G = ||hs[-2]||/||hs[-3]|| at the last token "
                     "(penultimate block gain; definitions.md §1)",
    "hook": "as-published hook G = last block gain at the last token, before the final norm (definitions.md §1)",
    "corrected": "corrected G = geometric mean over tokens (pos >= 1) and blocks 1..L-1 (block 0 excluded) "
                 "of ||h_l||/||h_{l-1}|| before the final norm (definitions.md §1, recommended)",
}


def _n_texts(text_index: np.ndarray, n_texts: int | None) -> int:
    return int(text_index.max()) + 1 if n_texts is None else int(n_texts)


def _last(arrays: dict, n_texts: int | None) -> tuple[np.ndarray, int]:
    norm = np.asarray(arrays["norm"], dtype=np.float64)
    L = norm.shape[1] - 1
    n = _n_texts(arrays["text_index"], n_texts)
    rows = last_token_rows(arrays["text_index"], arrays["position"], n)
    if np.any(rows < 0):
        raise ValueError(f"texts {np.flatnonzero(rows < 0).tolist()} have no rows")
    return norm[rows], L


def hidden_states_G(arrays: dict, n_texts: int | None = None) -> np.ndarray:
    """As-published hidden-states G per text: ``norm[last, L-1] / norm[last, L-2]`` (needs L >= 2)."""
    last, L = _last(arrays, n_texts)
    if L < 2:
        raise ValueError("hidden-states G needs at least 2 blocks")
    return last[:, L - 1] / last[:, L - 2]


def hook_G(arrays: dict, n_texts: int | None = None) -> np.ndarray:
    """As-published hook G per text: ``norm[last, L] / norm[last, L-1]``."""
    last, L = _last(arrays, n_texts)
    return last[:, L] / last[:, L - 1]


def log_gain_profile(arrays: dict, n_texts: int | None = None, *, min_position: int = 1) -> np.ndarray:
    """[texts, L]: per text, mean over tokens with position >= ``min_position`` of log g_l."""
    norm = np.asarray(arrays["norm"], dtype=np.float64)
    ti, pos = np.asarray(arrays["text_index"]), np.asarray(arrays["position"])
    keep = pos >= min_position
    n = _n_texts(ti, n_texts)
    logg = np.log(block_gains(norm[keep]))
    out = per_text(logg, ti[keep], n, reduce=np.mean)
    if np.isnan(out).any():
        bad = np.flatnonzero(np.isnan(out).any(axis=1)).tolist()
        raise ValueError(f"texts {bad} have no tokens at position >= {min_position}")
    return out


def corrected_G(arrays: dict, n_texts: int | None = None) -> np.ndarray:
    """Corrected G per text: exp(mean over tokens (pos >= 1) and blocks 1..L-1 of log g_l)."""
    prof = log_gain_profile(arrays, n_texts)
    if prof.shape[1] < 2:
        raise ValueError("corrected G excludes block 0 and needs at least 2 blocks")
    return np.exp(prof[:, 1:].mean(axis=1))


def max_block_gain(arrays: dict, n_texts: int | None = None) -> np.ndarray:
    """Per text, max over blocks 1..L-1 of the token-geometric-mean gain g_l."""
    prof = log_gain_profile(arrays, n_texts)
    if prof.shape[1] < 2:
        raise ValueError("max_block_gain excludes block 0 and needs at least 2 blocks")
    return np.exp(prof[:, 1:].max(axis=1))


@dataclass(frozen=True)
class GainSummary:
    """Every definition for one model on one corpus view (per-text arrays, [texts] or [texts, L])."""

    n_layers: int
    hidden_states: np.ndarray
    hook: np.ndarray
    corrected: np.ndarray
    max_block: np.ndarray
    log_profile: np.ndarray

    def by_definition(self, name: str) -> np.ndarray:
        return {"hidden_states": self.hidden_states, "hook": self.hook, "corrected": self.corrected}[name]

    @property
    def layer_gains(self) -> np.ndarray:
        """Per-layer geometric-mean gain over texts, [L] (block 0 included, for plots)."""
        return np.exp(self.log_profile.mean(axis=0))


def summarise(arrays: dict, n_texts: int | None = None) -> GainSummary:
    """All gain definitions from one ``ResidualNorms`` result."""
    n = _n_texts(arrays["text_index"], n_texts)
    prof = log_gain_profile(arrays, n)
    return GainSummary(n_layers=int(np.asarray(arrays["norm"]).shape[1] - 1), hidden_states=hidden_states_G(arrays, n),
                       hook=hook_G(arrays, n), corrected=np.exp(prof[:, 1:].mean(axis=1)),
                       max_block=np.exp(prof[:, 1:].max(axis=1)), log_profile=prof)
