"""Models given on the command line (``--claims-model SPEC``) instead of a panel entry.

``SPEC`` is one of

- a local Hugging Face directory (``config.json`` + weights, e.g. from ``save_pretrained``): loaded
  with ``from_pretrained(dir)`` (the hub path, offline);
- a local ``.gguf`` file: dequantised to fp32 by transformers (the GGUF path), like the offline panel;
- a hub id, optionally with a revision: ``org/name@revision`` (needs hub access or a local snapshot);

followed by optional ``,key=value`` overrides of any panel field (``name``, ``lab``, ``bos``,
``relation``, ``tuned_from``, ``norm``, ...; values are TOML: ``bos=true``, ``params=135000000``).

Metadata the claims need is *inferred from the loaded model* (``infer_metadata``): layers, d_model,
heads, kv heads, vocab and parameter count from the config and the weights, ``family``/``arch`` from
``model_type``, ``tied_embeddings`` and ``logit_softcap`` from the config, and ``bos`` from the
tokenizer's own default (whether ``tokenizer(text)`` starts with its BOS token). A field given as an
override is kept and, for the geometry, checked against the model (``PanelMismatch`` if it disagrees).

Identity is content, not location: a local directory's fingerprint hashes its weight files, a local
GGUF file's fingerprint its sha256 (``lmclaims.models.loading.fingerprint``), prefixed by the model's
name. Moving the files keeps every cached measurement; renaming them changes the default name (the
file or directory name), so give ``,name=...`` to keep the cache across a rename.

>>> split_spec("/m/dir,name=mine,bos=false")
('/m/dir', {'name': 'mine', 'bos': False})
>>> split_spec("HuggingFaceTB/SmolLM2-135M@main")
('HuggingFaceTB/SmolLM2-135M@main', {})
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path

from lmclaims.models.panel import PanelEntry, PanelError, check_entry

#: the fields inferred after loading unless the spec overrides them
INFERRED = ("family", "arch", "params", "layers", "d_model", "heads", "kv_heads", "vocab", "tied_embeddings",
            "logit_softcap", "bos")
_PLACEHOLDER = {"family": "unknown", "arch": "unknown", "params": 1, "layers": 1, "d_model": 1, "heads": 1,
                "kv_heads": 1, "vocab": 1}


class ModelSpecError(ValueError):
    """A ``--claims-model`` value that cannot name a model."""


def split_spec(spec: str) -> tuple[str, dict]:
    """``"target,key=value,..."`` -> (target, {key: TOML value}); a bare word value is a string."""
    target, *pairs = [p.strip() for p in spec.split(",")]
    if not target:
        raise ModelSpecError("empty model spec; give a directory, a .gguf file or a hub id")
    overrides = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ModelSpecError(f"override {pair!r} is not key=value")
        try:
            overrides[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            overrides[key.strip()] = value.strip()
    return target, overrides


def _default_name(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "model"


def _looks_like_path(target: str) -> bool:
    return target.startswith((".", "/", "~")) or target.endswith(".gguf") or "\\" in target


def entry_from_spec(spec: str) -> PanelEntry:
    """The panel entry of one ``--claims-model`` value (metadata inferred at load, see module doc)."""
    from lmclaims.models.gguf_files import local_gguf_digest

    target, overrides = split_spec(spec)
    path = Path(target).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        size, sha = local_gguf_digest(path)
        raw = {"name": _default_name(path.stem), "lab": "unknown", "source": "gguf",
               "gguf": {"path": str(path.resolve()), "file": path.name, "size": size, "sha256": sha}}
    elif path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSpecError(f"{path} is a directory without config.json; give a Hugging Face model directory "
                                 "(save_pretrained output) or a .gguf file")
        raw = {"name": _default_name(path.resolve().name), "lab": "unknown", "source": "hub",
               "hub": {"id": str(path.resolve())}}
    elif path.exists():
        raise ModelSpecError(f"{path} is neither a .gguf file nor a model directory")
    elif _looks_like_path(target):
        raise ModelSpecError(f"no such file or directory: {path}")
    else:
        ident, _, revision = target.partition("@")
        if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", ident):
            raise ModelSpecError(f"{target!r} is not a path that exists nor a hub id (org/name[@revision])")
        raw = {"name": _default_name(ident.split("/")[-1]), "lab": ident.split("/")[0] if "/" in ident else "unknown",
               "source": "hub", "hub": {"id": ident, **({"revision": revision} if revision else {})}}
    fields = set(PanelEntry.__dataclass_fields__) - {"source", "gguf", "hub", "synthetic"}
    for key in overrides:
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=3, cutoff=0.5)
            raise ModelSpecError(f"unknown override {key!r}" + (f"; did you mean {', '.join(close)}?" if close else "")
                                 + f" (fields: {', '.join(sorted(fields))})")
    infer = [f for f in INFERRED if f not in overrides]
    raw = {**_PLACEHOLDER, **raw, **overrides}
    raw["extra"] = {**raw.get("extra", {}), "infer": infer, "spec": spec}
    try:
        return check_entry(raw, f"--claims-model {spec!r}")
    except PanelError as exc:
        raise ModelSpecError(str(exc)) from None


def infer_metadata(entry: PanelEntry, model, tokenizer) -> dict:
    """Values of the entry's ``extra["infer"]`` fields, read from the loaded model and tokenizer."""
    from lmclaims.models.digests import loaded_geometry

    want = (entry.extra or {}).get("infer") or ()
    cfg = model.config
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    got = dict(loaded_geometry(model))
    got["family"] = got["arch"] = str(getattr(text_cfg, "model_type", None) or getattr(cfg, "model_type", "unknown"))
    got["tied_embeddings"] = bool(getattr(cfg, "tie_word_embeddings", False))
    softcap = getattr(text_cfg, "final_logit_softcapping", None)
    got["logit_softcap"] = float(softcap) if softcap else None
    bos = getattr(tokenizer, "bos_token_id", None)
    ids = list(tokenizer("a")["input_ids"]) if bos is not None else []
    got["bos"] = bool(ids) and ids[0] == bos
    return {k: got[k] for k in want}
