"""Training data for tiny-model experiments: fixed-length token blocks cut from corpus texts.

Generic and small on purpose (used by the thermodynamics and the anatomy claims):

- ``split_texts(corpus, ...)`` — a pinned, disjoint train/probe partition of a corpus split, so a
  model trained in the suite is measured on texts it never saw (the text stays the bootstrap unit);
- ``token_blocks(encode, texts, block_len)`` — concatenate the token ids of ``texts`` (each followed
  by an EOS id when one is given), cut the stream into non-overlapping blocks of ``block_len`` tokens,
  drop the ragged tail; returns a ``LongTensor [n_blocks, block_len]``;
- ``batch_iterator(blocks, batch_size, seed)`` — an endless, seeded stream of batches (a fresh
  permutation every epoch), independent of the global RNG.

``encode`` is either a Hugging Face tokenizer (``tok(text, add_special_tokens=False)``), or any
callable ``text -> list[int]`` (e.g. ``LoadedModel.encode`` with its BOS policy, via
``functools.partial(lm.encode, max_tokens=...)``).
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

__all__ = ["split_texts", "token_blocks", "batch_iterator", "encoder_for"]


def encoder_for(tokenizer) -> Callable[[str], list[int]]:
    """``text -> ids`` for a Hugging Face tokenizer (no special tokens) or a callable (returned as is)."""
    if hasattr(tokenizer, "__call__") and hasattr(tokenizer, "convert_ids_to_tokens"):
        return lambda text: list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if callable(tokenizer):
        return tokenizer
    raise TypeError(f"cannot encode with {type(tokenizer).__name__}: pass a tokenizer or a callable")


def split_texts(corpus, *, split: str | None = "eval", every: int = 2, offset: int = 1) -> tuple[list[str], list[str]]:
    """Disjoint (train, probe) text lists: within ``split`` in corpus order, every ``every``-th text
    starting at ``offset`` goes to train, the rest to probe. Pinned by corpus order (no RNG)."""
    idx = [i for i, s in enumerate(corpus.splits) if split is None or s == split]
    train = [corpus.texts[i] for k, i in enumerate(idx) if k % every == offset % every]
    probe = [corpus.texts[i] for k, i in enumerate(idx) if k % every != offset % every]
    return train, probe


def token_blocks(encode, texts: Sequence[str], block_len: int, *, eos_id: int | None = None,
                 max_blocks: int | None = None) -> torch.Tensor:
    """Non-overlapping ``[n_blocks, block_len]`` LongTensor from the concatenated token stream."""
    if block_len < 2:
        raise ValueError("block_len must be >= 2 (a causal LM needs an input and a target)")
    enc = encoder_for(encode)
    stream: list[int] = []
    for t in texts:
        stream.extend(enc(t))
        if eos_id is not None:
            stream.append(int(eos_id))
    n = len(stream) // block_len
    if max_blocks is not None:
        n = min(n, max_blocks)
    if n == 0:
        raise ValueError(f"{len(stream)} tokens are fewer than one block of {block_len}")
    return torch.tensor(stream[: n * block_len], dtype=torch.long).view(n, block_len)


def batch_iterator(blocks: torch.Tensor, batch_size: int, *, seed: int = 0) -> Iterator[torch.Tensor]:
    """Endless seeded batches of rows of ``blocks`` (new permutation each epoch; last partial batch
    of an epoch dropped when there is more than one batch per epoch)."""
    n = blocks.shape[0]
    if n == 0:
        raise ValueError("no blocks")
    bs = min(batch_size, n)
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        for a in range(0, n - bs + 1, bs):
            yield blocks[torch.as_tensor(perm[a:a + bs])]


def blocks_digest(blocks: torch.Tensor) -> str:
    """Short sha256 of a block tensor (to put the training data into a provenance record)."""
    return hashlib.sha256(blocks.numpy().tobytes()).hexdigest()[:16]
