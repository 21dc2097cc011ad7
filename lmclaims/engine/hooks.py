"""The engine's hook registry: the one place (with ``capture.capture_residual``) that registers
forward hooks, at named sites (:mod:`lmclaims.models.sites`), and always removes them.

An *edit* is a ``(site, fn)`` pair; :func:`site_hooks` registers every edit of an intervention for
the duration of a ``with`` and removes all of them in ``finally`` — on normal exit, when the body
raises, and when registering a later edit fails. What ``fn`` receives:

* ``resid_post.{l}``: ``fn(block_input, block_output) -> new output | None`` (the block's input is
  the stream before the block, so an edit can express "skip", "scale the update", "replace the
  update");
* ``attn_out.{l}``, ``mlp_out.{l}``: ``fn(module_input, module_output) -> new output | None``;
* ``resid_pre.{l}``, ``final_norm_in``: ``fn(x) -> new input | None``.

``None`` leaves the value untouched (the object itself: a zero edit is bit-identical). Outputs that
are tuples keep their other elements. Edits are prepended, so they act before any observer (the
engine's residual capture) reads the value.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

from lmclaims.models import sites as site_names


def _first(value):
    return value[0] if isinstance(value, tuple) else value


def _replace_first(value, new):
    return (new,) + tuple(value[1:]) if isinstance(value, tuple) else new


def _input_of(args, kwargs):
    return args[0] if args else kwargs["hidden_states"]


def _register(module, where: str, fn: Callable, handles: list) -> None:
    if where == "input":
        def pre(mod, args, kwargs):
            new = fn(_input_of(args, kwargs))
            if new is None:
                return None
            if args:
                return (new,) + tuple(args[1:]), kwargs
            return args, {**kwargs, "hidden_states": new}
        handles.append(module.register_forward_pre_hook(pre, with_kwargs=True, prepend=True))
        return
    saved: list = []

    def keep_input(mod, args, kwargs):
        saved.append(_input_of(args, kwargs))

    def post(mod, args, kwargs, output):
        x = saved.pop() if saved else None
        new = fn(x, _first(output))
        return output if new is None else _replace_first(output, new)

    handles.append(module.register_forward_pre_hook(keep_input, with_kwargs=True, prepend=True))
    handles.append(module.register_forward_hook(post, with_kwargs=True, prepend=True))


@contextlib.contextmanager
def site_hooks(adapter, edits: Iterable[tuple[str, Callable]]):
    """Apply ``edits`` (``(site, fn)`` pairs) to ``adapter``'s model inside the ``with``."""
    handles: list = []
    try:
        for site, fn in edits:
            module, where = site_names.locate(adapter, site)
            _register(module, where, fn, handles)
        yield
    finally:
        for h in reversed(handles):
            h.remove()
