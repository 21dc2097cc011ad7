"""The measurement options of the plugin, all prefixed ``--claims-`` so they never clash with a host
project's own ``--device`` / ``--models`` / ``--runslow`` (tested with pytester).

=============================  ===========================================================================
``--claims-panel NAME|PATH``   offline (default; ``$LMCLAIMS_PANEL``), offline-full, hub, synthetic, a panel
                               registered by a ``pytest_lmclaims_panels`` hook, or a ``.toml`` file
``--claims-models GLOBS``      comma-separated names or globs within the panel (``smollm2*``)
``--claims-model SPEC``        a model by local Hugging Face directory, local ``.gguf`` file or hub id
                               (``org/name@revision``), with ``,key=value`` overrides of any panel field
                               (repeatable; see :mod:`lmclaims.models.cli_models`). Alone it *is* the
                               panel; with an explicit ``--claims-panel`` it is added to it
``--claims-corpus PATH``       your texts: a JSONL file (corpus schema) or a plain-text file, one text per
                               line or per blank-line-separated block (:func:`lmclaims.corpus.load_corpus`)
``--claims-device``            cpu, cuda, cuda:N or auto (cuda when available)
``--claims-dtype``             float32 (default), bfloat16 or float16
``--claims-trust-remote-code`` allow hub models' own code (off by default)
``--claims-cache DIR``         measurement cache directory (default ``$LMCLAIMS_CACHE`` or ~/.cache/lmclaims)
``--claims-no-cache``          always recompute
``--claims-max-tokens N``      token window per text (default 128, see below)
``--claims-shard K/N``         run shard K of N (merge with ``python -m lmclaims merge``)
``--claims-runslow``           also run tests marked ``slow``
=============================  ===========================================================================

Token window, budget decision of 2026-12-02: forward cost is proportional to tokens; 63 of the 64
default eval texts are longer than 128 tokens, so every text contributes an equal window
(homogeneous units for the bootstrap); the seeds' own code reads 5–25 short prompts, so 128 tokens
of context is already more. It was 256 until the 30-minute cold budget was measured at 46 min.

Every option is checked at configure time (:func:`check_options`, :func:`panel_from_options`): a
bad value is a ``pytest.UsageError`` naming the option, the file, the field and the close matches,
before any model loads.
"""

from __future__ import annotations

import os

import pytest

from lmclaims.models.panel import PanelError, UnknownModel, load_panel, select

DTYPES = ("float32", "fp32", "bfloat16", "bf16", "float16", "fp16")
DEFAULT_PANEL = "offline"


def addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("lmclaims-models", "lmclaims: models, texts and measurement")
    g.addoption("--claims-panel", default=None, metavar="NAME|PATH",
                help="model panel: offline (default, or $LMCLAIMS_PANEL), offline-full, hub, synthetic, "
                     "a registered panel, or a .toml path")
    g.addoption("--claims-models", default=None, metavar="GLOBS",
                help="comma-separated model names or globs within the panel")
    g.addoption("--claims-model", action="append", default=[], metavar="SPEC",
                help="a model given directly: local HF directory, local .gguf file or hub id[@revision], "
                     "with optional ,key=value overrides (name=, bos=, ...); repeatable")
    g.addoption("--claims-corpus", default=None, metavar="PATH",
                help="your texts: JSONL (corpus schema) or plain text (one text per line, or per "
                     "blank-line-separated block); default: the pinned lmclaims corpus")
    g.addoption("--claims-device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when available)")
    g.addoption("--claims-dtype", default="float32", help="float32 (default), bfloat16 or float16")
    g.addoption("--claims-trust-remote-code", action="store_true", default=False,
                help="allow hub models' own code (off by default)")
    g.addoption("--claims-cache", default=None, metavar="DIR",
                help="measurement cache dir (default: $LMCLAIMS_CACHE/measurements, $LMCLAIMS_CACHE "
                     "defaulting to ~/.cache/lmclaims; converted fp32 weights stay under $LMCLAIMS_CACHE/fp32)")
    g.addoption("--claims-no-cache", action="store_true", default=False, help="always recompute measurements")
    g.addoption("--claims-max-tokens", type=int, default=128, help="token window per text (default 128)")
    g.addoption("--claims-shard", default=None, metavar="K/N",
                help="run shard K of N (1-based): the tests of every N-th panel model; panel-level tests "
                     "(no model parameter) run in shard N. Merge the shards' claims.json with "
                     "python -m lmclaims merge")
    g.addoption("--claims-runslow", action="store_true", default=False,
                help="also run tests marked slow (long training, full ablation sweeps, the 1.5B)")


def panel_name(config) -> str:
    """The panel in use: ``--claims-panel``, else ``$LMCLAIMS_PANEL``, else offline (or the CLI models)."""
    given = config.getoption("claims_panel")
    if given:
        return given
    if config.getoption("claims_model") and not os.environ.get("LMCLAIMS_PANEL"):
        return "command-line"
    return os.environ.get("LMCLAIMS_PANEL") or DEFAULT_PANEL


def parse_shard(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--claims-shard expects K/N (e.g. 2/4), got {value!r}") from None
    if not (n >= 1 and 1 <= k <= n):
        raise pytest.UsageError(f"--claims-shard {value}: need 1 <= K <= N")
    return k, n


def worker_device(device: str) -> str:
    """Under pytest-xdist with several GPUs, pin worker gwK to cuda:(K mod #GPUs) when the device is
    auto or cuda (each worker holds its own model on its own GPU)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if device not in ("auto", "cuda") or not worker.startswith("gw"):
        return device
    import torch
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        return device
    return f"cuda:{int(worker[2:]) % n}"


def share_cpu_threads() -> int | None:
    """Under pytest-xdist, give each worker its share of the CPU cores for torch's intra-op threads
    (``cores // workers``, at least 1): N workers each using every core oversubscribe the machine,
    and torch's spinning threads then run several times slower. Returns the count set (None outside
    xdist). GPU work is unaffected (each worker has its own device).

    ``LMCLAIMS_TORCH_THREADS=N`` fixes the count for every run, serial or worker: CPU results depend
    on it in the last bits (a matmul's reduction is split by thread; measured: SVD-based weight
    statistics differ at 1e-8 relative between 1 and 2 threads), so bit-identical verdict JSON
    across a serial and an ``-n N`` run needs the same count in both."""
    fixed = os.environ.get("LMCLAIMS_TORCH_THREADS")
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT") if os.environ.get("PYTEST_XDIST_WORKER") else None
    if fixed:
        n = int(fixed)
    elif workers:
        n = max(1, (os.cpu_count() or 1) // max(1, int(workers)))
    else:
        return None
    import torch
    torch.set_num_threads(n)
    return n


def check_options(config) -> None:
    """Reject bad values of the model options before anything loads (pytest.UsageError naming the option)."""
    max_tokens = config.getoption("claims_max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 2:
        raise pytest.UsageError(f"--claims-max-tokens must be an integer >= 2 (a next-token window needs two "
                                f"tokens), got {max_tokens!r}")
    dtype = config.getoption("claims_dtype")
    if dtype not in DTYPES:
        raise pytest.UsageError(f"--claims-dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}")
    _check_device(config.getoption("claims_device"))
    mc = config.getoption("claims_cache")
    if mc and os.path.exists(mc) and not os.path.isdir(mc):
        raise pytest.UsageError(f"--claims-cache {mc}: exists and is not a directory")
    if mc and config.getoption("claims_no_cache"):
        raise pytest.UsageError("--claims-cache and --claims-no-cache contradict each other; give one of them")


def _check_device(device: str) -> None:
    if device == "auto":
        return
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise pytest.UsageError(f"--claims-device {device!r} is not a device ({exc}); use cpu, cuda, cuda:N or "
                                "auto") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise pytest.UsageError(
                f"--claims-device {device}: torch {torch.__version__} sees no CUDA device (a CPU build of torch, "
                "or no GPU here); run with --claims-device cpu or auto, or install the CUDA build of torch")
        if dev.index is not None and dev.index >= n:
            raise pytest.UsageError(f"--claims-device {device}: only {n} CUDA device(s) visible "
                                    f"(cuda:0..cuda:{n - 1})")
    elif dev.type not in ("cpu", "mps", "xpu"):
        raise pytest.UsageError(f"--claims-device {device!r}: unsupported device type; use cpu, cuda, cuda:N or auto")


def panel_from_options(config, extra_panels: dict | None = None) -> list:
    """The panel entries the options select; UsageError naming the option, the file and field.

    ``extra_panels`` ({name: path}) are panels registered by ``pytest_lmclaims_panels`` hooks.
    """
    from lmclaims.models.cli_models import ModelSpecError, entry_from_spec

    name = panel_name(config)
    specs = config.getoption("claims_model") or []
    entries = []
    if name != "command-line":
        try:
            entries = load_panel(name, extra=extra_panels)
        except (FileNotFoundError, PanelError) as exc:
            raise pytest.UsageError(f"--claims-panel: {exc}") from None
    for spec in specs:
        try:
            entry = entry_from_spec(spec)
        except ModelSpecError as exc:
            raise pytest.UsageError(f"--claims-model {spec!r}: {exc}") from None
        if any(e.name == entry.name for e in entries):
            raise pytest.UsageError(f"--claims-model {spec!r}: a model named {entry.name!r} is already in the "
                                    f"panel; give another with ,name=...")
        entries.append(entry)
    patterns = [p.strip() for p in (config.getoption("claims_models") or "").split(",") if p.strip()]
    try:
        return select(entries, patterns)
    except UnknownModel as exc:
        raise pytest.UsageError(f"--claims-models: {exc} (panel {name!r})") from None
