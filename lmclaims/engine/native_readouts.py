"""The lens readouts' top-K search, pass 2 and top-p nucleus as compiled, barrier-free parallel regions
(``readout_kernel.c``, ``nucleus_kernel.c``, shared helpers in ``readout_common.h``), and all three in
ONE region per call (``readout``, ``fused_kernel.c``: what ``multi_readout`` runs on CPU).

Why: in torch pass 2 is ≈ 5 (uncapped) to 9 (capped) elementwise ops per readout per column block,
each its own OpenMP region with a barrier at its end: ≈ 340 regions per call for the lens set on
SmolLM2. On an idle machine that costs little; on a loaded one every barrier waits for the thread that
lost its core, and the readouts fell to 36–57 % of the GEMM's speed (bench/README.md, run L). The
kernel does the same arithmetic (``lmclaims.engine.readouts``, module docstring) row by row, all
readouts of a row over 1024-column chunks while they sit in L1, with rows handed out dynamically to
``torch.get_num_threads()`` threads: one region per call. The nucleus (``nucleus``) of the rows whose
top-K holds less than top_p is exact from bin sums and one sorted bin per row (``nucleus_kernel.c``),
instead of the per-row numpy level search (``lmclaims.engine.nucleus``, still the torch path's).

Threads: built with ``-fopenmp`` when the compiler has it, the kernel's one region runs on the OpenMP
runtime torch already loaded (its libgomp, same soname), i.e. on torch's own worker threads. Started
as separate pthreads (the fallback without OpenMP), they competed for the cores with those workers,
which spin for milliseconds after every torch op: the top-K took 7.2 ms right after the GEMM against
4.3 ms after a pause (2 cores, 2026-12-07).

Spinning workers: after every parallel region libgomp's workers spin (``GOMP_SPINCOUNT``, default
300 000 pauses: milliseconds) waiting for the next one. On an idle machine that costs nothing; on a
loaded one the spinning worker, the other load and the main thread's serial work share the cores, and
the main thread loses a scheduler slice (≈ 4 ms) at a time: the lens features' few small torch ops took
8 ms instead of 0.2 and the top-p readout's 36 ms instead of 1.1 beside a busy loop (2 cores,
2026-12-07; with ``OMP_WAIT_POLICY=PASSIVE`` 0.2 and 1.6 ms). ``sums`` and ``nucleus``, the last
regions of a readout, therefore end by releasing the calling thread's OpenMP pool
(``release_workers``: ``omp_pause_resource_all(omp_pause_soft)`` of the libgomp already loaded, OpenMP
5.0): the workers exit instead of spinning, and the next region starts new ones (≈ 0.16 ms, against a
chunk's ≈ 80 ms GEMM). ``LMCLAIMS_RELEASE_OMP=0`` switches that off. ``readout`` (everything after the
GEMM in one region: ``fused_kernel.c``) also releases before its region and runs on the cores not busy
with other work (``region_threads``).

Build: the C files are compiled on first use with the system C compiler (``$CC``, default ``cc``) into
``<cache root>/kernels/<key>/`` (a read-only cache root: the temporary directory; key: sha256 of the
sources, the compiler's version, the flags and the CPU's feature flags, so a cache shared between
machines never loads a library built for another CPU), written atomically, then loaded with ctypes.
Without a compiler, when the build fails, or with ``LMCLAIMS_NATIVE=0``, ``available()`` is False and
the torch path runs (on other devices it always does: ``lmclaims.engine.readouts.use_native``); the
two paths agree to float32 rounding (tests/test_native_readouts.py, tests/test_native_nucleus.py), and
``kernel_id()`` names the path in the lens probes' cache key, so results of the two are never mixed.

>>> kernel_id() in (VERSION, "torch")
True
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

SOURCES = tuple(Path(__file__).with_name(n) for n in ("readout_kernel.c", "nucleus_kernel.c", "fused_kernel.c"))
HEADERS = (Path(__file__).with_name("readout_common.h"),)
FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-fPIC", "-shared", "-pthread")
OPENMP = ("-fopenmp",)         # tried first: the kernel's threads are torch's OpenMP workers (readout_common.h)
VERSION = "native-v3"          # bump with any change of the arithmetic (v2: the nucleus; v3: b in C, one region)
MAX_READOUTS = 16
ABI = 5
NUCLEUS_MARGIN = 1e-4         # fused_kernel.c: a row's nucleus is computed when its top-K mass < top_p + this
_log = logging.getLogger(__name__)
_LIB: object = None          # None: not tried yet; False: unavailable; else the CDLL
_WHY = ""
_OFF = 0                     # > 0 inside ``torch_path()``
_PAUSE: object = None        # None: not looked up yet; False: none; else libgomp's omp_pause_resource_all
OMP_PAUSE_SOFT = 1           # omp_pause_resource_t (OpenMP 5.0 §3.2.43)


def _switched_off(var: str) -> bool:
    return os.environ.get(var, "1").strip().lower() in ("0", "false", "no", "off")


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> list[str] | None:
    cc = shlex.split(os.environ.get("CC", "cc"))
    return cc if cc and shutil.which(cc[0]) else None


def _build(cc: list[str], flags: tuple = FLAGS) -> Path:
    from lmclaims.paths import cache_root, cache_writable
    try:
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"{cc[0]} --version failed: {exc}") from None
    src = b"\0".join(f.read_bytes() for f in (*SOURCES, *HEADERS))
    key = hashlib.sha256(b"\0".join([src, version.encode(), " ".join(flags).encode(), _cpu_flags().encode(),
                                     platform.machine().encode()])).hexdigest()[:16]
    root = cache_root() if cache_writable() else Path(tempfile.gettempdir()) / f"lmclaims-{os.getuid()}"
    out = root / "kernels" / key / "libreadouts.so"           # a read-only cache: a private temporary build
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".libreadouts.", suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        res = subprocess.run([*cc, *flags, "-o", tmp, *map(str, SOURCES), "-lm"], capture_output=True, text=True,
                             timeout=300)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cc)} failed ({res.returncode}): {res.stderr.strip()[-400:]}")
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def _load():
    global _LIB, _WHY
    if _LIB is not None:
        return _LIB
    _LIB = False
    if _switched_off("LMCLAIMS_NATIVE"):
        _WHY = "disabled by LMCLAIMS_NATIVE=0"
        return _LIB
    cc = _compiler()
    if cc is None:
        _WHY = f"no C compiler ({os.environ.get('CC', 'cc')!r} not found)"
        _log.warning("lens readouts: %s; using the torch path (slower under load)", _WHY)
        return _LIB
    lib, errors = None, []
    for flags in ((*FLAGS, *OPENMP), FLAGS):           # OpenMP threads if the compiler has it, else pthreads
        try:
            lib = ctypes.CDLL(str(_build(cc, flags)))
            if lib.lmclaims_readouts_abi() != ABI:
                raise RuntimeError("ABI mismatch")
            break
        except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as exc:
            lib = None
            errors.append(str(exc))
    if lib is None:
        _WHY = f"build or load failed: {errors[-1]}"
        _log.warning("lens readouts: %s; using the torch path", _WHY)
        return _LIB
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.lmclaims_readouts.argtypes = [p, i64, i64, p, p, i64, p, p, p, p, p, i64]
    lib.lmclaims_readouts.restype = ctypes.c_int
    lib.lmclaims_topk.argtypes = [p, i64, i64, p, p, i64, p, i64]
    lib.lmclaims_topk.restype = ctypes.c_int
    lib.lmclaims_nucleus.argtypes = [p, i64, i64, p, p, i64, p, ctypes.c_float, ctypes.c_float, p, ctypes.c_double,
                                     p, p, p, i64]
    lib.lmclaims_nucleus.restype = ctypes.c_int
    lib.lmclaims_readout.argtypes = [p, i64, i64, p, p, i64, i64, p, p, p, p, p, ctypes.c_double, p, p, p, p, p, p, i64]
    lib.lmclaims_readout.restype = ctypes.c_int
    _LIB = lib
    return _LIB


def available() -> bool:
    """True when the compiled kernel is loaded (built on first call) and not switched off."""
    return not _OFF and bool(_load())


@contextlib.contextmanager
def torch_path():
    """Run the torch path inside the ``with`` (bench: the previous code in the same loop)."""
    global _OFF
    _OFF += 1
    try:
        yield
    finally:
        _OFF -= 1


def why_unavailable() -> str:
    _load()
    return _WHY


def kernel_id() -> str:
    """``VERSION`` (``native-v3``) or ``torch``: which readouts run on CPU (part of the lens probes' cache keys)."""
    return VERSION if available() else "torch"


def reset() -> None:
    """Forget the loaded state (tests: re-read ``LMCLAIMS_NATIVE`` / ``CC``)."""
    global _LIB, _WHY
    _LIB, _WHY = None, ""


def _pause_fn():
    global _PAUSE
    if _PAUSE is None:
        _PAUSE = False
        try:                                  # only a libgomp already in the process (torch's); never load one
            fn = ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD | os.RTLD_LAZY).omp_pause_resource_all
            fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
            _PAUSE = fn
        except (OSError, AttributeError):     # no libgomp loaded (another OpenMP runtime), or one before OpenMP 5.0
            pass
    return _PAUSE


def release_workers() -> bool:
    """Let the calling thread's OpenMP workers exit now instead of spinning until the next parallel
    region (module docstring). True when released; False where there is nothing to release with
    (no libgomp loaded, a libgomp without OpenMP 5.0, ``LMCLAIMS_RELEASE_OMP=0``, or inside a
    parallel region). Results never depend on it: the next region starts its workers again.

    >>> release_workers() in (True, False)
    True
    """
    if _switched_off("LMCLAIMS_RELEASE_OMP"):
        return False
    fn = _pause_fn()
    return bool(fn) and fn(OMP_PAUSE_SOFT) == 0


def region_threads() -> int:
    """Threads for a readout's region: torch's thread count, less the cores other work is running on now
    (``/proc/loadavg``'s count of running tasks, this thread excluded), at least 1;
    ``LMCLAIMS_READOUT_THREADS=n`` fixes it. Why: a region's end waits for every thread of its team, and
    a thread that shares its core with other work loses it for a scheduler slice (milliseconds) in a
    region of a few: beside one busy loop on 2 cores, the readout's region took 18–22 ms on 2 threads
    and 12 ms on 1 (4.6 and 7.4 ms idle; SmolLM2's shape, 2026-12-07). Results do not depend on it.

    >>> 1 <= region_threads() <= max(1, torch.get_num_threads())
    True
    """
    fixed = os.environ.get("LMCLAIMS_READOUT_THREADS", "").strip()
    if fixed:
        if not fixed.isdigit() or int(fixed) < 1:
            raise ValueError(f"LMCLAIMS_READOUT_THREADS must be a positive integer, got {fixed!r}")
        return int(fixed)
    want = max(1, torch.get_num_threads())
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        cores = len(os.sched_getaffinity(0))
    except (OSError, ValueError, IndexError, AttributeError):
        return want
    return threads_beside(want, cores, running)


def threads_beside(want: int, cores: int, running: int) -> int:
    """``want`` threads, at most the ``cores`` not taken by the ``running`` tasks other than this one.

    >>> threads_beside(2, 2, 1), threads_beside(2, 2, 2), threads_beside(8, 16, 5), threads_beside(4, 2, 9)
    (2, 1, 8, 1)
    """
    return max(1, min(want, cores - max(0, running - 1)))


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def sums(dense: torch.Tensor, R: int, blocks: list[tuple[int, int]], k: list[float], u: list[float],
         b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, U) float64 [J, R] for the J readouts (slopes ``k``, cap factors ``u``, 0 = uncapped, row
    offsets ``b`` [J, R] float32) over the block-major float32 CPU buffer ``dense``; then
    ``release_workers()``."""
    lib = _load()
    if not lib:
        raise RuntimeError(f"native readouts unavailable: {_WHY}")
    J = len(k)
    if J > MAX_READOUTS:
        raise ValueError(f"at most {MAX_READOUTS} readouts per call, got {J}")
    start, width = _blocks(dense, R, blocks)
    kk = np.ascontiguousarray(k, dtype=np.float32)
    uu = np.ascontiguousarray(u, dtype=np.float32)
    bb = np.ascontiguousarray(b.detach().cpu().numpy(), dtype=np.float32)
    if bb.shape != (J, R):
        raise ValueError(f"b must be [{J}, {R}], got {bb.shape}")
    S = np.empty((J, R), dtype=np.float64)
    U = np.empty((J, R), dtype=np.float64)
    lib.lmclaims_readouts(dense.data_ptr(), R, len(blocks), _ptr(start), _ptr(width), J, _ptr(kk), _ptr(uu),
                          _ptr(bb), _ptr(S), _ptr(U), max(1, torch.get_num_threads()))   # J checked above
    release_workers()                       # pass 2 is a readout's last region (module docstring)
    return torch.from_numpy(S), torch.from_numpy(U)


def _blocks(dense: torch.Tensor, R: int, blocks) -> tuple[np.ndarray, np.ndarray]:
    if dense.dtype != torch.float32 or dense.device.type != "cpu" or not dense.is_contiguous():
        raise ValueError("dense must be a contiguous float32 CPU tensor")
    if not blocks or any(n < 1 or s < 0 or R * (s + n) > dense.numel() for s, n in blocks):
        raise ValueError("the blocks must be non-empty and lie inside the buffer")
    return (np.ascontiguousarray([s for s, _ in blocks], dtype=np.int64),
            np.ascontiguousarray([n for _, n in blocks], dtype=np.int64))


def topk(dense: torch.Tensor, R: int, blocks, k: int) -> torch.Tensor:
    """The ``k`` largest raw logits of every row of the block-major float32 CPU buffer ``dense``
    (``blocks`` as for :func:`sums`), descending ([R, k] float32; -inf pads a row with fewer than k
    non-NaN values)."""
    lib = _load()
    if not lib:
        raise RuntimeError(f"native readouts unavailable: {_WHY}")
    start, width = _blocks(dense, R, blocks)
    if not 1 <= k <= int(width.sum()):
        raise ValueError(f"k must lie in [1, {int(width.sum())}], got {k}")
    out = np.empty((R, k), dtype=np.float32)
    rc = lib.lmclaims_topk(dense.data_ptr(), R, len(blocks), _ptr(start), _ptr(width), k, _ptr(out),
                           max(1, torch.get_num_threads()))
    if rc != 0:
        raise MemoryError("native top-K: could not allocate a row buffer")
    return torch.from_numpy(out)


def nucleus(dense: torch.Tensor, R: int, blocks, rows, k: float, u: float, b: torch.Tensor,
            top_p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mass, count, Σ p ln p) float64 [len(rows)] of the top-p nucleus of the given rows of the
    block-major buffer ``dense`` under one readout (slope ``k``, cap factor ``u``, row offsets ``b``
    [R] float32, as for :func:`sums`); NaN for a row with NaN or +inf logits. See nucleus_kernel.c.
    Then ``release_workers()``."""
    lib = _load()
    if not lib:
        raise RuntimeError(f"native readouts unavailable: {_WHY}")
    start, width = _blocks(dense, R, blocks)
    rr = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
    if rr.size and (rr.min() < 0 or rr.max() >= R):
        raise ValueError(f"rows must lie in [0, {R})")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
    bb = np.ascontiguousarray(b.detach().cpu().numpy(), dtype=np.float32).reshape(-1)
    if bb.size != R:
        raise ValueError(f"b must have {R} entries, got {bb.size}")
    out = np.empty((3, rr.size), dtype=np.float64)
    rc = lib.lmclaims_nucleus(dense.data_ptr(), R, len(blocks), _ptr(start), _ptr(width), rr.size, _ptr(rr),
                              float(k), float(u), _ptr(bb), float(top_p), _ptr(out[0]), _ptr(out[1]),
                              _ptr(out[2]), max(1, torch.get_num_threads()))
    release_workers()
    if rc != 0:
        raise MemoryError("native nucleus: could not allocate a row buffer")
    return out[0], out[1], out[2]


def readout(dense: torch.Tensor, R: int, blocks, K: int, k: list[float], u: list[float], kb: list[float],
            cap: list[float], top_p: list[float]) -> dict:
    """A whole readout after the GEMM in ONE parallel region (``fused_kernel.c``): the top-K, the offsets
    b (from the row maximum, with ``_Shift``'s formulas: slope ``kb``, cap ``cap``, 0 = none), pass 2 of
    the J readouts (``k``, ``u`` as for :func:`sums`) and, for readout j with ``top_p[j] > 0``, the nucleus
    of every row whose top-K mass falls short of top_p + ``NUCLEUS_MARGIN``. Returns numpy arrays:
    top [R, K] float32, b [J, R] float32, S, U [J, R] float64, nucleus [J, 3, R] float64 (mass, count,
    Σ p ln p; valid where done), done [J, R] bool. Then ``release_workers()``."""
    lib = _load()
    if not lib:
        raise RuntimeError(f"native readouts unavailable: {_WHY}")
    J = len(k)
    if not 1 <= J <= MAX_READOUTS or not len(u) == len(kb) == len(cap) == len(top_p) == J:
        raise ValueError(f"1 to {MAX_READOUTS} readouts, each with k, u, kb, cap and top_p; got {J}")
    start, width = _blocks(dense, R, blocks)
    if not 1 <= K <= int(width.sum()):
        raise ValueError(f"K must lie in [1, {int(width.sum())}], got {K}")
    if any(not (p == 0.0 or 0.0 < p <= 1.0) for p in top_p):
        raise ValueError(f"each top_p must be 0 (none) or lie in (0, 1], got {top_p}")
    f32 = lambda v: np.ascontiguousarray(v, dtype=np.float32)            # noqa: E731
    f64 = lambda v: np.ascontiguousarray(v, dtype=np.float64)            # noqa: E731
    kk, uu, kbb, cc, tp = f32(k), f32(u), f64(kb), f64(cap), f64(top_p)
    release_workers()                       # the GEMM's spinning worker: off the cores before the count
    threads = region_threads()
    out = {"top": np.empty((R, K), np.float32), "b": np.empty((J, R), np.float32), "S": np.empty((J, R)),
           "U": np.empty((J, R)), "nucleus": np.full((J, 3, R), np.nan), "done": np.zeros((J, R), np.uint8)}
    rc = lib.lmclaims_readout(dense.data_ptr(), R, len(blocks), _ptr(start), _ptr(width), K, J, _ptr(kk), _ptr(uu),
                              _ptr(kbb), _ptr(cc), _ptr(tp), NUCLEUS_MARGIN, _ptr(out["top"]), _ptr(out["b"]),
                              _ptr(out["S"]), _ptr(out["U"]), _ptr(out["nucleus"]), _ptr(out["done"]),
                              threads)
    release_workers()
    if rc != 0:
        raise MemoryError("native readout: could not allocate a row buffer")
    out["done"] = out["done"].astype(bool)
    return out
