"""Nothing in the repository points at notes outside it; every docs/domain.md section cited exists.

What sandtrace knows about Windows Sandbox is in docs/domain.md, in numbered
sections, and the code, data files, docs and test images cite it as
``docs/domain.md §N``. A reference to a notes file that does not ship
(``DOMAIN.md``, ``FORMATS.md``, ``STYLE.md``, anything under ``../shared/``)
fails here. What ships (the package, the docs, the README, the build files)
names no folder outside the repository at all: the third-party test corpus is
described in docs/test-data.md and found through SANDTRACE_CORPUS. Only the
tests and benchmarks that read it may spell out its default place.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["sandtrace", "docs", "test_images", "bench", "tests", "README.md", "setup.cfg", "Makefile", "pyproject.toml"]
SHIPPED = ["sandtrace", "docs", "README.md", "setup.cfg", "Makefile", "pyproject.toml"]
BINARY_SUFFIXES = {".E01", ".E02", ".gz", ".raw", ".vhdx", ".evtx", ".pyc"}
THIS_FILE = Path(__file__).resolve()

FORBIDDEN = [
    re.compile(r"DOMAIN\.md|FORMATS\.md|STYLE\.md"),
    re.compile(r"\.\.[/\\]shared[/\\](?!corpus)"),  # ../shared/ except the corpus
    re.compile(r"""["']\.\.["'],\s*["']shared["'](?!,\s*["']corpus["'])"""),  # os.path.join(.., "..", "shared", ...)
]
# In what ships, not even the corpus's default place.
OUTSIDE = re.compile(r"""\.\.[/\\]shared|["']\.\.["'],\s*["']shared["']|shared/corpus""")
SECTION = re.compile(r"§\s*(\d+)")
DOMAIN_REFERENCE = re.compile(r"docs/domain\.md`{0,2} §(\d+)")


def _text_files(names: list[str] = SCANNED):
    for name in names:
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []
        for path in paths:
            if path.resolve() == THIS_FILE or path.suffix in BINARY_SUFFIXES or "__pycache__" in path.parts:
                continue
            data = path.read_bytes()
            if b"\0" in data:
                continue
            # JSON ground truth writes § as \u00a7.
            yield path, data.decode("utf-8", errors="replace").replace("\\u00a7", "§")


def _domain_sections() -> set[int]:
    text = (ROOT / "docs" / "domain.md").read_text(encoding="utf-8")
    return {int(number) for number in re.findall(r"^## (\d+)\. ", text, flags=re.MULTILINE)}


def _where(path: Path, text: str, position: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, position) + 1}"


def test_no_reference_to_notes_outside_the_repository():
    found = [f"{_where(path, text, match.start())}: {match.group(0)!r}"
             for path, text in _text_files() for pattern in FORBIDDEN for match in pattern.finditer(text)]
    assert not found, "references to files outside the repository:\n" + "\n".join(found)


def test_what_ships_names_no_folder_outside_the_repository():
    found = [f"{_where(path, text, match.start())}: {match.group(0)!r}"
             for path, text in _text_files(SHIPPED) for match in OUTSIDE.finditer(text)]
    assert not found, "shipped files pointing outside the repository:\n" + "\n".join(found)


def test_domain_md_has_numbered_sections():
    assert _domain_sections() == set(range(1, 9))


def test_every_cited_section_exists():
    sections = _domain_sections()
    cited = 0
    wrong = []
    for path, text in _text_files():
        cited += len(DOMAIN_REFERENCE.findall(text))
        # Every § in the repository is a section of docs/domain.md.
        wrong += [f"{_where(path, text, m.start())}: {m.group(0)}"
                  for m in SECTION.finditer(text) if int(m.group(1)) not in sections]
    assert not wrong, "sections that docs/domain.md does not have:\n" + "\n".join(wrong)
    assert cited >= 200  # the code, data and ground truth do cite it


def test_the_patterns_catch_what_they_should():
    def forbidden(text):
        return any(pattern.search(text) for pattern in FORBIDDEN)

    assert forbidden("see ../shared/DOMAIN.md §3")
    assert forbidden("as in DOMAIN.md") and forbidden("FORMATS.md 1.1") and forbidden("STYLE.md")
    assert forbidden("../shared/notes.txt") and forbidden('os.path.join(ROOT, "..", "shared", "notes")')
    assert not forbidden("../shared/corpus/evtx") and not forbidden('os.path.join(ROOT, "..", "shared", "corpus")')
    assert not forbidden("docs/domain.md §3")
    for text in ("../shared/corpus/evtx", 'os.path.join(ROOT, "..", "shared", "corpus")', "a shared/corpus folder"):
        assert OUTSIDE.search(text)  # in what ships, the corpus's place too
    assert not OUTSIDE.search("shared by every output module") and not OUTSIDE.search("the test corpus (docs/test-data.md)")
    assert DOMAIN_REFERENCE.findall("``docs/domain.md`` §3 and docs/domain.md §2") == ["3", "2"]
