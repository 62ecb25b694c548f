"""Every relative link in the README, the docs and the package READMEs points at a file that
exists (and, with a ``#fragment``, at a heading in it): the docs moved into ``docs/`` and must
not send a reader to a page or section that is not there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PAGES = sorted(
    [
        ROOT / "README.md",
        *ROOT.glob("docs/*.md"),
        *(p for p in ROOT.glob("*/README.md") if not p.parent.name.startswith(".")),
    ],
)

# [text](target) and [text](target "title"), not images' remote sources; code spans removed first.
LINK = re.compile(r"(?<!\\)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text without fenced blocks and code spans (a link inside code is not a link)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(h) for h in HEADING.findall(text)}


def _links(page: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(_prose(page.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def test_the_pages_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/architecture.md", "docs/landing.md"} <= names


def _broken(page: Path, root: Path = ROOT) -> list[str]:
    """Each link of ``page`` whose file or heading is missing."""
    broken = []
    for target in _links(page):
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        name = dest.relative_to(root).as_posix() if dest.is_relative_to(root) else str(dest)
        if not dest.exists():
            broken.append(f"{target}: no such file")
            continue
        if fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(f"{target}: no heading #{fragment} in {name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    assert not _broken(page), f"{page.relative_to(ROOT)}: " + "; ".join(_broken(page))


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    """A missing page and a missing heading are reported; a good heading, a link inside
    code and a web link are not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "a.md").write_text("# Top\n\n## Two `code` words\n", encoding="utf-8")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#two-code-words) [gone](nope.md) [bad](a.md#three) [self](#top)\n"
        "`[code](x.md)` [web](https://example.org/y.md)\n\n# Top\n",
        encoding="utf-8",
    )
    assert _broken(page, root=tmp_path) == [
        "nope.md: no such file",
        "a.md#three: no heading #three in a.md",
    ]
