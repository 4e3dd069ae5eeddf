"""The documentation's relative links lead somewhere: README, CONTRIBUTING and docs/ move text between them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_that_exist(page: Path) -> None:
    missing = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor of the same page
        if not (page.parent / target.split("#", 1)[0]).exists():
            missing.append(target)
    assert missing == []


def _module_map() -> list[str]:
    """The names CONTRIBUTING's module map lists, each time it lists one: a line's first names
    (``memory.py, process_state.py``) and those after a ``;`` (``compare.py ...;  gates.py``)."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    block = text.split("## The module map", 1)[1].split("```", 2)[1]
    names = []
    for line in block.splitlines()[2:]:  # after the opening fence and pytest_batt/
        head = re.match(r"\s*((?:[\w]+(?:\.py|/))(?:, [\w]+(?:\.py|/))*)", line)
        if head:
            names += head.group(1).split(", ")
        names += re.findall(r";\s+([\w]+(?:\.py|/))", line)
    return names


def test_the_module_map_lists_every_module_once() -> None:
    """Every module of the package, and of each sub-package whose modules the map lists, once."""
    listed = _module_map()
    assert sorted(n for n in set(listed) if listed.count(n) > 1) == []
    package = ROOT / "pytest_batt"
    want = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    want |= {p.name + "/" for p in package.iterdir() if (p / "__init__.py").exists()}
    for sub in package.iterdir():
        children = {p.name for p in sub.glob("*.py") if p.name != "__init__.py"} if (sub / "__init__.py").exists() else set()
        if children & set(listed):  # a sub-package whose modules the map goes into: all of them
            want |= children
    assert sorted(want - set(listed)) == []


class _Registered:
    """What ``plugin.pytest_addoption`` registers, recorded through the part of pytest's Parser API
    it uses (``getgroup``, ``addoption``, ``addini``): no pytest process, no private API."""

    def __init__(self) -> None:
        self.options: dict[str, dict] = {}
        self.ini: set[str] = set()

    def getgroup(self, name: str, description: str = "") -> "_Registered":
        return self

    def addoption(self, *names: str, **attrs: object) -> None:
        for name in names:
            self.options[name] = attrs

    def addini(self, name: str, *args: object, **kwargs: object) -> None:
        self.ini.add(name)


def _registered() -> _Registered:
    from pytest_batt import plugin

    parser = _Registered()
    plugin.pytest_addoption(parser)  # type: ignore[arg-type]
    return parser


def test_the_recorded_options_are_those_pytest_knows(pytestconfig: pytest.Config) -> None:
    """The recorder misses nothing: every batt option of this very pytest run was recorded."""
    dests = {str(attrs.get("dest")) for attrs in _registered().options.values()}
    assert {k for k in vars(pytestconfig.option) if k.startswith("batt")} <= dests


def test_every_option_pytest_help_lists_is_documented() -> None:
    """Every --batt-* option ``pytest --help`` shows is in the README or a page of docs/."""
    import argparse

    text = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    shown = [n for n, attrs in _registered().options.items() if attrs.get("help") != argparse.SUPPRESS]
    assert len(shown) > 20
    assert [n for n in shown if not re.search(re.escape(n) + r"(?![\w-])", text)] == []


def test_the_readmes_option_table_names_registered_options_and_their_ini_twins() -> None:
    """The README's table names only real options; each but --batt (the plugin's switch) has an ini key."""
    parser = _registered()
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Options", 1)[1].split("\n\n", 2)[2].split("\n\n", 1)[0]
    named = {m for row in table.splitlines() if row.startswith("| `--") for m in re.findall(r"--batt[\w-]*", row.split("|")[1])}
    assert len(named) > 20 and sorted(named - set(parser.options)) == []
    twins = {str(attrs["dest"]) for name, attrs in parser.options.items() if name != "--batt"}
    assert sorted(twins - parser.ini) == [] and "batt" not in parser.ini


def test_every_page_of_docs_is_linked_from_another_page() -> None:
    """A page nobody links to is a page nobody finds (docs/upstream-xdist.md was one)."""
    linked = set()
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
                linked.add((page.parent / target.split("#", 1)[0]).resolve())
    pages = [p for p in sorted((ROOT / "docs").iterdir()) if p.suffix in (".md", ".yml")]
    assert [p.name for p in pages if p.resolve() not in linked] == []
