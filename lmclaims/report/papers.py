"""Which paper a claim comes from: seed file name → title, authors, link (``papers.toml``).

Claim markers name their source by seed file (``source="003_172f46b4d8ad4983.txt"``); the report
names the paper instead. The registry is a small TOML file shipped in the package, read with
:mod:`importlib.resources`; a seed it does not know is shown by its file name, never dropped.

>>> p = paper_of("003_172f46b4d8ad4983.txt")
>>> p.title, p.ref
('Anatomical Heterogeneity in Transformer Language Models', 'arXiv:2603.19348')
>>> paper_of("999_unknown.txt").title
'Unregistered seed 999_unknown.txt'

A claim marker may also name the paper itself (``paper=``: an arXiv id, a DOI or a URL);
:func:`paper_link` turns that into the text and link the claim card shows:

>>> paper_link("arXiv:2603.19348")
('arXiv:2603.19348', 'https://arxiv.org/abs/2603.19348')
>>> paper_link("10.5281/zenodo.18165365")
('10.5281/zenodo.18165365', 'https://doi.org/10.5281/zenodo.18165365')
>>> paper_link("https://example.org/p?a=1&b=2")
('https://example.org/p?a=1&b=2', 'https://example.org/p?a=1&b=2')
>>> paper_link("javascript:alert(1)"), paper_link("")
(('javascript:alert(1)', ''), ('', ''))
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from urllib.parse import quote


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


_ARXIV = re.compile(r"(?i)^(?:arxiv:\s*)?((?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[a-z]{2})?/\d{7})(?:v\d+)?)$")
_DOI = re.compile(r"(?i)^(?:doi:\s*)?(10\.\d{4,9}/\S+)$")


def paper_link(paper: str | None) -> tuple[str, str]:
    """(display text, link) of a claim marker's ``paper=``: an arXiv id (``arXiv:2401.00001``,
    ``2401.00001v2``, ``hep-th/9901001``) links to ``https://arxiv.org/abs/<id>``, a DOI
    (``10.1234/abc``, ``doi:10.1234/abc``) to ``https://doi.org/<doi>``, an http(s) URL to itself;
    anything else is shown as text without a link (never a ``javascript:`` or other scheme)."""
    text = str(paper or "").strip()
    if not text:
        return "", ""
    if m := _ARXIV.match(text):
        return text, f"https://arxiv.org/abs/{m.group(1)}"
    if m := _DOI.match(text):
        return text, "https://doi.org/" + quote(m.group(1), safe="/:;()._-")
    if re.match(r"(?i)^https?://[^\s]+$", text):
        return text, text
    return text, ""
