"""Which paper a claim comes from: seed file name → title, authors, link (``papers.toml``).

Claim markers name their source by seed file (``source="003_172f46b4d8ad4983.txt"``); the report
names the paper instead. The registry is a small TOML file shipped in the package, read with
:mod:`importlib.resources`; a seed it does not know is shown by its file name, never dropped.

>>> p = paper_of("003_172f46b4d8ad4983.txt")
>>> p.title, p.ref
('Anatomical Heterogeneity in Transformer Language Models', 'arXiv:2603.19348')
>>> paper_of("999_unknown.txt").title
'Unregistered seed 999_unknown.txt'
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Seed:
    """One seed file: what kind of text it is and its own title/link when it gives them."""

    file: str
    kind: str = ""
    title: str = ""
    link: str = ""


@dataclass(frozen=True)
class Paper:
    """A paper (or post) that one or more seeds quote. ``order`` sorts the findings section."""

    id: str
    title: str
    authors: str = ""
    ref: str = ""
    link: str = ""
    order: int = 1_000


@functools.lru_cache(maxsize=1)
def registry() -> dict:
    """The parsed ``papers.toml`` (``{"seeds": {...}, "papers": {...}}``)."""
    text = resources.files("lmclaims.report").joinpath("papers.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def seed_of(source: str) -> Seed:
    """The registry entry of seed file ``source`` (a bare :class:`Seed` when unknown)."""
    entry = registry().get("seeds", {}).get(str(source), {})
    return Seed(file=str(source), kind=entry.get("kind", ""), title=entry.get("title", ""),
                link=entry.get("link", ""))


def paper_of(source: str | None) -> Paper:
    """The paper that seed file ``source`` quotes (an "unregistered seed" paper when unknown)."""
    source = str(source or "")
    papers = registry().get("papers", {})
    pid = registry().get("seeds", {}).get(source, {}).get("paper")
    if pid in papers:
        p = papers[pid]
        return Paper(id=pid, title=p["title"], authors=p.get("authors", ""), ref=p.get("id", ""),
                     link=p.get("link", ""), order=list(papers).index(pid))
    if not source:
        return Paper(id="-", title="Claims without a named source")
    return Paper(id=f"seed:{source}", title=f"Unregistered seed {source}")
