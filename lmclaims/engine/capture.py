"""What the engine captures from a forward pass: the named sites the probes declare they read.

Every probe declares the sites it reads (``Probe.sites(adapter)``, names of
:mod:`lmclaims.models.sites`). The engine captures the union of the declared sites of one pass and
hands each accumulator a batch that exposes only its own:

* residual sites are slots of ``Batch.resid`` (``resid[0]`` = ``resid_pre.0``, the embeddings;
  ``resid[l + 1]`` = ``resid_post.{l}`` = ``resid_pre.{l + 1}``; ``final_norm_in`` = ``resid[L]``),
  captured by :func:`capture_residual`;
* ``attn_out.{l}`` and ``mlp_out.{l}`` are read through :mod:`lmclaims.engine.hooks` with observing
  edits (``fn`` returns None, so the value is untouched) and reach the probe as
  ``Batch.site("attn_out.3")``.

A probe that reads a slot it did not declare gets :class:`UndeclaredSite`, which names the probe,
the site and what it declared. The last residual is always captured (the engine checks it is finite).

>>> residual_slot(4, "resid_pre.0"), residual_slot(4, "resid_post.3"), residual_slot(4, "final_norm_in")
(0, 4, 4)
>>> residual_slot(4, "attn_out.1") is None
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from lmclaims.engine.hooks import site_hooks
from lmclaims.models import sites as site_names


class UndeclaredSite(KeyError):
    """A probe read a site it did not declare in ``sites(adapter)``."""


def residual_sites(n_layers: int) -> tuple[str, ...]:
    """The whole residual stream: ``resid_pre.0`` and every ``resid_post.{l}`` (L + 1 sites)."""
    return ("resid_pre.0",) + tuple(f"resid_post.{l}" for l in range(n_layers))


def residual_slot(n_layers: int, site: str) -> int | None:
    """Index into ``Batch.resid`` of a residual site; None for ``attn_out`` / ``mlp_out``."""
    kind, layer = site_names.parse(site)
    if kind == "final_norm_in":
        return n_layers
    if kind == "resid_pre":
        return layer
    if kind == "resid_post":
        return layer + 1
    return None


def check_sites(adapter, declared, owner: str) -> tuple[str, ...]:
    """Validate ``declared`` against the model (unknown -> KeyError, out of range -> IndexError)."""
    declared = tuple(declared)
    if not declared:
        raise ValueError(f"{owner} declares no sites: Probe.sites(adapter) must name what it reads")
    for s in declared:
        try:
            site_names.locate(adapter, s)
        except (KeyError, IndexError) as e:
            raise type(e)(f"{owner} declares site {s!r}: {e.args[0]}") from None
    return declared


class DeclaredResidual(Sequence):
    """``Batch.resid`` as one probe sees it: the captured residual slots it declared, an error otherwise."""

    def __init__(self, store: list, allowed: frozenset[int], owner: str, declared: tuple[str, ...]):
        self._store, self._allowed, self._owner, self._declared = store, allowed, owner, declared

    def __len__(self) -> int:
        return len(self._store)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._store)))]
        j = i + len(self._store) if i < 0 else i
        if not 0 <= j < len(self._store):
            raise IndexError(f"resid[{i}] out of range: the stream has {len(self._store)} slots")
        if j not in self._allowed:
            name = "resid_pre.0" if j == 0 else f"resid_post.{j - 1}"
            raise UndeclaredSite(f"probe {self._owner} reads resid[{i}] ({name}) but declares only "
                                 f"{list(self._declared)}: add it to the probe's sites(adapter)")
        return self._store[j]


@contextlib.contextmanager
def capture_residual(adapter, block_calls: list | None = None, slots=None):
    """Collect block-0 input and block outputs into a list of L + 1 slots (overwritten by each forward).

    ``slots`` (indices into the list; None = all) limits what is kept; the last slot is always kept.
    With ``block_calls`` (a list of length n_layers), also record each block's call arguments into it:
    ``(hidden passed positionally, args[1:], kwargs)``. Every hook is removed on exit, also when the
    body raises. With :func:`lmclaims.engine.hooks.site_hooks` the only place that registers hooks.
    """
    L = adapter.n_layers
    keep = set(range(L + 1)) if slots is None else set(slots) | {L}
    store: list = [None] * (L + 1)
    handles = []

    def pre0(module, args, kwargs):
        store[0] = args[0] if args else kwargs["hidden_states"]

    def make_pre(i):
        def pre(module, args, kwargs):
            block_calls[i] = (bool(args), tuple(args[1:]) if args else (), dict(kwargs))
        return pre

    def make_post(i):
        def post(module, args, kwargs, output):
            store[i + 1] = output[0] if isinstance(output, tuple) else output
        return post

    try:
        if 0 in keep:
            handles.append(adapter.blocks[0].register_forward_pre_hook(pre0, with_kwargs=True))
        for i, block in enumerate(adapter.blocks):
            if block_calls is not None:
                handles.append(block.register_forward_pre_hook(make_pre(i), with_kwargs=True))
            if i + 1 in keep:
                handles.append(block.register_forward_hook(make_post(i), with_kwargs=True))
        yield store
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def capture_sites(adapter, names):
    """Observe non-residual sites (``attn_out.{l}``, ``mlp_out.{l}``): a dict site -> last value."""
    values: dict = {}

    def observer(name):
        def fn(x, y):
            values[name] = y
            return None
        return fn

    with site_hooks(adapter, [(n, observer(n)) for n in names]):
        yield values
