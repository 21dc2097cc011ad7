"""Input checks shared by the assertion helpers.

An empty, NaN-ridden or one-unit measurement is a bug upstream, never evidence: these checks raise
``ValueError`` with a message saying what was wrong. Data that are valid but carry no information
(all units identical) are not an error; the helpers turn them into an INCONCLUSIVE judgement.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np


def units_array(values, *, name: str = "values", min_n: int = 2, max_ndim: int = 2) -> np.ndarray:
    """Return ``values`` as a float array with the independent unit on axis 0.

    Raises ``ValueError`` for ragged input, 0-d input, more than ``max_ndim`` dimensions, fewer
    than ``min_n`` units, or any NaN/inf.
    """
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of per-unit values: {exc}") from None
    if arr.ndim == 0:
        raise ValueError(f"{name} is a scalar; pass one value per independent unit (text, model, seed)")
    if arr.ndim > max_ndim:
        raise ValueError(f"{name} has {arr.ndim} dimensions; at most {max_ndim} are accepted here")
    if arr.shape[0] == 0 or arr.size == 0:
        raise ValueError(f"{name} is empty: an empty measurement cannot support or refute a claim")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} contains {int(np.isnan(arr).sum())} NaN and "
                         f"{int(np.isinf(arr).sum())} infinite values out of {arr.size}; "
                         "clean the measurement (or drop those units explicitly) first")
    if arr.shape[0] < min_n:
        raise ValueError(f"{name} has {arr.shape[0]} unit(s); at least {min_n} are needed for a resampling interval")
    return arr


def same_units(a: np.ndarray, b: np.ndarray, *, names=("a", "b")) -> None:
    """Paired samples must have the same shape (unit i of ``a`` is unit i of ``b``)."""
    if a.shape != b.shape:
        raise ValueError(f"paired samples {names[0]} {a.shape} and {names[1]} {b.shape} must have the same shape")


def vectorized(statistic: Callable) -> Callable:
    """Wrap ``statistic`` so that it accepts ``axis=`` (loops over the other axes if it cannot)."""
    try:
        takes_axis = "axis" in inspect.signature(statistic).parameters
    except (TypeError, ValueError):  # numpy ufunc-likes without a signature
        takes_axis = True
    if takes_axis:
        return statistic

    def along_axis(*samples, axis=-1):
        stacked = np.broadcast_arrays(*samples)
        moved = [np.moveaxis(s, axis, -1) for s in stacked]
        out = np.empty(moved[0].shape[:-1])
        for idx in np.ndindex(out.shape):
            out[idx] = statistic(*(m[idx] for m in moved))
        return out

    along_axis.__name__ = getattr(statistic, "__name__", "statistic")
    return along_axis


def statistic_name(statistic: Callable) -> str:
    return getattr(statistic, "__name__", type(statistic).__name__)
