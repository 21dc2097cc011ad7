"""Load a panel entry into memory: GGUF (dequantised to fp32), hub ``from_pretrained``, or synthetic.

``load_model(entry, device=..., dtype=...)`` returns a ``LoadedModel`` (model, tokenizer, adapter,
fingerprint). GGUF models are dequantised by transformers (``gguf_file=``) once and the fp32
result is cached with ``save_pretrained`` (``$LMCLAIMS_CACHE/fp32/…``), so later loads take
seconds. Hub models go through ``from_pretrained(id, revision=…)`` with ``trust_remote_code``
off unless the caller opts in. Anything that makes a model unavailable raises
``ModelUnavailable`` whose message says why and which command makes it available; the pytest
fixture turns that into a skip.

``fingerprint(entry)`` is a stable hash of the model's *identity*: the GGUF sha256, or the hub id and
revision, or the synthetic recipe — plus the library versions that turn those bytes into weights
(transformers, gguf); it names the fp32 cache directory. ``LoadedModel.fingerprint`` (the model part
of every measurement's cache key) adds everything else that changes a number: the panel's BOS
policy, the tokenizer's digest and, for hub ids and local directories, the digest of the weight
files actually loaded (``lmclaims.models.digests``) — so re-saving different weights to the same
directory, a moved ``main`` revision or an edited tokenizer is a cache miss.

The fp32 cache directory carries a manifest of full sha256 digests, verified on every load (cost:
see ``digests``); a corrupt or unverifiable copy is deleted (when the cache is writable), rebuilt
from the GGUF file and reported with a ``CorruptCacheWarning``. After loading, the panel's geometry
(layers, d_model, heads, kv heads, vocab, params) is checked against the model (``PanelMismatch``).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lmclaims.models import digests
from lmclaims.models.adapter import Adapter
from lmclaims.models.digests import PanelMismatch
from lmclaims.models.gguf_files import CorruptModel, ModelUnavailable, gguf_file
from lmclaims.models.panel import PanelEntry
from lmclaims.paths import cache_root

log = logging.getLogger(__name__)

__all__ = ["LoadedModel", "load_model", "ModelUnavailable", "CorruptModel", "PanelMismatch", "CorruptCacheWarning",
           "resolve_device", "resolve_dtype"]


class CorruptCacheWarning(UserWarning):
    """A cached artefact failed its digest check and is being rebuilt."""

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable(f"--claims-device {device} requested but torch {torch.__version__} sees no CUDA device "
                               "(a CPU build of torch? install the CUDA build matching your driver)")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}") from None


def _versions() -> dict:
    import transformers
    out = {"transformers": transformers.__version__}
    try:
        import gguf  # noqa: F401
        import importlib.metadata as md
        out["gguf"] = md.version("gguf")
    except Exception:
        pass
    return out


def fingerprint(entry: PanelEntry) -> str:
    """Stable identity hash of what ``entry`` loads (not of the process that loads it, nor of where the
    files lie): the GGUF sha256 (a local file's is computed), a local directory's weight-file digest,
    a hub id + revision, the synthetic recipe, or a registered source's parameters."""
    if entry.source == "gguf":
        sha = entry.gguf.get("sha256")
        if not sha:
            from lmclaims.models.gguf_files import local_gguf_digest
            sha = local_gguf_digest(Path(entry.gguf["path"]).expanduser())[1]
        ident = {"gguf_sha256": sha, **_versions()}
    elif entry.source == "hub" and Path(entry.hub["id"]).expanduser().is_dir():
        ident = {"local_weights": digests.weights_digest(Path(entry.hub["id"]).expanduser())}
    elif entry.source == "hub":
        ident = {"hub": entry.hub["id"], "revision": entry.hub.get("revision") or "main"}
    elif entry.source == "synthetic":
        ident = {"synthetic": entry.synthetic, "torch": torch.__version__.split("+")[0], **_versions()}
    else:
        params = {k: v for k, v in (entry.extra or {}).items() if k not in ("infer", "spec")}
        ident = {"source": entry.source, "extra": params}
    blob = json.dumps(ident, sort_keys=True, default=str).encode()
    return f"{entry.name}@{hashlib.sha256(blob).hexdigest()[:16]}"


def loaded_fingerprint(entry: PanelEntry, identity: str, tokenizer, weights: str | None) -> str:
    """Cache identity of a loaded model: ``identity`` + BOS policy + tokenizer digest + weights digest."""
    parts = {"identity": identity, "bos": bool(entry.bos), "tokenizer": digests.tokenizer_digest(tokenizer),
             "weights": weights}
    blob = json.dumps(parts, sort_keys=True).encode()
    return f"{entry.name}@{hashlib.sha256(blob).hexdigest()[:16]}"


@dataclass
class LoadedModel:
    entry: PanelEntry
    model: torch.nn.Module
    tokenizer: object
    adapter: Adapter
    fingerprint: str
    device: torch.device
    dtype: torch.dtype
    load_seconds: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def max_positions(self) -> int | None:
        cfg = self.model.config
        cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)

    def encode(self, text: str, *, max_tokens: int) -> list[int]:
        """Token ids of ``text`` with this model's BOS policy, truncated to ``max_tokens``.

        BOS policy comes from the panel (``bos``): Gemma needs its BOS, SmolLM2/Qwen must not get one.
        """
        if not text:
            raise ValueError(f"{self.name}: cannot encode an empty text")
        mp = self.max_positions
        if mp is not None and max_tokens > mp:
            raise ValueError(f"{self.name}: max_tokens={max_tokens} exceeds the model's "
                             f"{mp} positions; use a window of at most {mp} tokens")
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        bos = getattr(self.tokenizer, "bos_token_id", None)
        if self.entry.bos:
            if bos is None:
                raise ValueError(f"{self.name}: panel says bos=true but the tokenizer has no BOS token")
            ids = [bos] + ids
        elif ids and bos is not None and ids[0] == bos and self.entry.bos is False:
            ids = ids[1:]
        return ids[:max_tokens]

    def metadata(self) -> dict:
        return {**self.entry.metadata(), "fingerprint": self.fingerprint, "device": str(self.device),
                "dtype": str(self.dtype).replace("torch.", ""), "load_seconds": round(self.load_seconds, 2),
                **self.info}

    def free(self) -> None:
        """Drop the weights and return memory (gc + CUDA cache)."""
        self.model = None
        self.adapter = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _fp32_cache_dir(entry: PanelEntry, fp: str):
    return cache_root() / "fp32" / fp.replace("@", "-")


@contextlib.contextmanager
def one_gguf_parse():
    """Within the ``with``, ``gguf.GGUFReader(path)`` parses each file once and reuses the reader.

    transformers builds a fresh ``GGUFReader`` for the config, again for the tokenizer and again for
    the tensors; each one walks every metadata field, and Gemma-3's 262,144-token vocabulary makes
    that ~25 s per parse on a 2-core machine (measured: 3 parses = 108 s of a 174 s cold load; the
    dequantisation itself 8 s). The reader is read-only (a memory map), so one parse serves all three.
    The original class is restored on exit, also on error.
    """
    import gguf

    original = gguf.GGUFReader
    readers: dict = {}

    def reader(path, *args, **kwargs):
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = original(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader = reader
    try:
        yield readers
    finally:
        gguf.GGUFReader = original


def _corrupt(what: str, problems: list[str]) -> None:
    msg = f"{what} failed its digest check ({'; '.join(problems[:3])}); rebuilding it"
    log.warning(msg)
    warnings.warn(msg, CorruptCacheWarning, stacklevel=3)


def _load_gguf(entry: PanelEntry, fp: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cached = _fp32_cache_dir(entry, fp)
    keep = True                       # False: the cached copy is not ours to replace (unreadable to us)
    if (cached / "lmclaims-complete.json").exists():
        try:
            problems = digests.verify_manifest(cached)
        except PermissionError as exc:
            problems, keep = None, False
            msg = (f"fp32 cache {cached} is not readable by this user ({exc}); loading from the GGUF file "
                   "and leaving the cached copy in place")
            log.warning(msg)
            warnings.warn(msg, CorruptCacheWarning, stacklevel=2)
        if problems == []:
            try:
                tok = AutoTokenizer.from_pretrained(cached)
                model = AutoModelForCausalLM.from_pretrained(cached, dtype=torch.float32)
                return model, tok, {"weights_from": "fp32 cache (sha256 verified)"}
            except Exception as exc:  # verified bytes that still do not load: rebuilt, loudly
                problems = [f"unreadable: {type(exc).__name__}: {exc}"]
        if problems:
            _corrupt(f"fp32 cache {cached}", problems)
            if os.access(cached.parent, os.W_OK):
                shutil.rmtree(cached, ignore_errors=True)
    path = gguf_file(entry)
    from lmclaims import progress
    progress.say(f"{entry.name}: dequantising {path.name} to fp32 (once; the result is cached)")
    try:
        with one_gguf_parse():
            tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except CorruptModel:
        raise
    except Exception as exc:
        raise CorruptModel(f"{entry.name}: transformers could not read {path}: {exc}") from exc
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if not keep:
        return model, tok, {"weights_from": f"GGUF {path.name} (dequantised; fp32 cache unreadable)"}
    tmp = cached.with_name(cached.name + f".tmp{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "lmclaims-complete.json").write_text(json.dumps({"fingerprint": fp, "from": str(path)}))
        digests.write_manifest(tmp)
        share_tree(tmp)
        shutil.rmtree(cached, ignore_errors=True)
        tmp.rename(cached)
    except Exception as exc:  # caching is an optimisation (read-only cache, full disk): never fail the load
        log.warning("could not cache fp32 weights of %s: %s", entry.name, exc)
        shutil.rmtree(tmp, ignore_errors=True)
    return model, tok, {"weights_from": f"GGUF {path.name} (dequantised)"}


def share_tree(root: Path) -> None:
    """Make a cache directory group-readable (files g+r, directories g+rx), whatever the umask."""
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | (0o050 if p.is_dir() else 0o040))


def hub_weights_digest(entry: PanelEntry) -> str | None:
    """Digest of the weight files a hub entry loads: the local directory, or the cached hub snapshot."""
    hub = entry.hub
    local = Path(hub["id"]).expanduser()
    if local.is_dir():
        return digests.weights_digest(local)
    try:
        from transformers.utils import cached_file
        cfg = cached_file(hub["id"], "config.json", revision=hub.get("revision") or "main",
                          local_files_only=True, _raise_exceptions_for_missing_entries=False)
    except Exception:  # noqa: BLE001 - no snapshot on disk: fall back to the commit hash
        cfg = None
    return digests.weights_digest(Path(cfg).parent) if cfg else None


def _load_hub(entry: PanelEntry, trust_remote_code: bool, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hub = entry.hub
    rev = hub.get("revision") or "main"
    extra = {"device_map": entry.device_map} if entry.device_map else {}
    # $HF_HUB_OFFLINE is read by huggingface_hub at import; honour it when set later too (no network
    # retries before the "unavailable" skip)
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        extra["local_files_only"] = True
    try:
        tok = AutoTokenizer.from_pretrained(hub["id"], revision=rev, trust_remote_code=trust_remote_code,
                                            **({"local_files_only": True} if "local_files_only" in extra else {}))
        model = AutoModelForCausalLM.from_pretrained(hub["id"], revision=rev, dtype=dtype,
                                                     trust_remote_code=trust_remote_code, **extra)
    except OSError as exc:
        raise ModelUnavailable(
            f"{entry.name}: cannot load {hub['id']}@{rev} ({str(exc).splitlines()[0][:200]}); this needs "
            f"Hugging Face hub access or a local copy: {entry.install_command}") from None
    return model, tok, {"weights_from": f"hub {hub['id']}@{rev}"}


def load_model(entry: PanelEntry, *, device: str | torch.device | None = "auto",
               dtype: str | torch.dtype | None = "float32", trust_remote_code: bool = False) -> LoadedModel:
    import time

    t0 = time.perf_counter()
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    dt = resolve_dtype(entry.dtype or dtype)
    fp = fingerprint(entry)
    if entry.source == "gguf":
        model, tok, info = _load_gguf(entry, fp)
    elif entry.source == "hub":
        model, tok, info = _load_hub(entry, trust_remote_code, dt)
    elif entry.source == "synthetic":
        from lmclaims.models.synthetic import build_synthetic
        syn = entry.synthetic
        model, tok = build_synthetic(syn["model_type"], seed=int(syn.get("seed", 0)), config=syn.get("config"))
        info = {"weights_from": "synthetic (from_config, seeded)"}
    else:
        from lmclaims.models.sources import get_source
        model, tok, info = get_source(entry.source)(entry, dtype=dt, trust_remote_code=trust_remote_code)
        info = dict(info or {})
    if (entry.extra or {}).get("infer"):      # a --claims-model: metadata read from what loaded
        from dataclasses import replace
        from lmclaims.models.cli_models import infer_metadata
        entry = replace(entry, **infer_metadata(entry, model, tok))
    if entry.device_map and entry.source == "hub":
        # accelerate placed the layers; inputs go to the device of the embedding
        model = model.eval()
        dev = next(model.get_input_embeddings().parameters()).device
    else:
        model = model.to(device=dev, dtype=dt).eval()
    model.requires_grad_(False)
    info["geometry"] = digests.check_geometry(entry, model)
    adapter = Adapter.for_model(model)
    if adapter.n_layers != entry.layers:
        raise PanelMismatch(f"{entry.name}: panel says {entry.layers} layers, the adapter found {adapter.n_layers} blocks")
    if entry.source == "hub":
        weights = hub_weights_digest(entry) or getattr(model.config, "_commit_hash", None)
    elif entry.source in ("gguf", "synthetic"):
        weights = None    # GGUF sha256 / synthetic recipe are already in the identity
    else:
        weights = info.get("weights_digest")
    info["weights_digest"] = weights
    lfp = loaded_fingerprint(entry, fp, tok, weights)
    return LoadedModel(entry=entry, model=model, tokenizer=tok, adapter=adapter, fingerprint=lfp, device=dev,
                       dtype=dt, load_seconds=time.perf_counter() - t0, info=info)
