"""Say what a long step is doing, where the person running it can see it.

tqdm bars are captured by pytest and never seen, so the plugin points :func:`set_sink` at pytest's
terminal writer and the long steps announce themselves with :func:`step`::

    with progress.step(f"{name}: measuring ResidualNorms on 64 texts"):
        ...

which prints ``[lmclaims] smollm2: measuring ResidualNorms on 64 texts ...`` when it starts and
``... done in 3.2 s`` when it ends (or ``... failed after 1.0 s (ValueError)``). Without a sink
(scripts, xdist workers, which have no terminal) the lines go to the ``lmclaims`` logger instead.
Steps shorter than ``QUIET_S`` print only their start line, so a warm re-run is not flooded.

>>> lines = []; set_sink(lines.append)
>>> with step("demo: counting"):
...     pass
>>> lines[0]
'[lmclaims] demo: counting ...'
>>> set_sink(None)
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable

log = logging.getLogger("lmclaims")
QUIET_S = 2.0
_SINK: list[Callable[[str], None] | None] = [None]


def set_sink(sink: Callable[[str], None] | None) -> None:
    """Where progress lines go (a callable taking one line), or None for the logger."""
    _SINK[0] = sink


def say(message: str) -> None:
    line = f"[lmclaims] {message}"
    sink = _SINK[0]
    if sink is None:
        log.info(line)
        return
    try:
        sink(line)
    except Exception:  # noqa: BLE001 - a closed terminal must never fail a measurement
        log.info(line)


@contextlib.contextmanager
def step(what: str):
    """Announce ``what``; on exit say how long it took (only when it took at least ``QUIET_S``)."""
    say(f"{what} ...")
    t0 = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        say(f"{what}: failed after {time.perf_counter() - t0:.1f} s ({type(exc).__name__})")
        raise
    dt = time.perf_counter() - t0
    if dt >= QUIET_S:
        say(f"{what}: done in {dt:.1f} s")
