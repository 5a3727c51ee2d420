"""The documentation names only what exists: links and their anchors, config files,
repository paths, `python -m` modules; and the code cites only docs that exist."""

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MODULE = re.compile(r"python -m (keras_dmtl(?:\.\w+)*)")
# A path into the repository as the docs write it: `configs/phone.py`,
# `keras_dmtl/data/shards/`, `tests/test_shards.py`, `export/export_model.py`.
REPO_PATH = re.compile(r"(?<![\w/.-])((?:configs|keras_dmtl|tests|export|android_demo)/[\w./+-]*)")
DOC_CITATION = re.compile(r"docs/[\w-]+\.md")


def _prose(path):
    """The file's lines outside fenced code blocks."""
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield line


def _anchors(path):
    """The anchors GitHub gives the file's headings (the first of a name, then -1, -2, ...)."""
    anchors, seen = set(), {}
    for line in _prose(path):
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _name(path):
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_relative_links_and_their_anchors_exist(doc):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, broken


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_named_files_and_modules_exist(doc):
    text = doc.read_text()
    missing = [path for path in REPO_PATH.findall(text)
               if not (ROOT / path.rstrip(".,")).exists() and "<" not in path]
    missing += [f"python -m {module}" for module in MODULE.findall(text)
                if importlib.util.find_spec(module) is None]
    assert not missing, missing


def test_the_code_cites_only_docs_that_exist():
    sources = [*ROOT.glob("*.py"), *(ROOT / "keras_dmtl").rglob("*.py"),
               *(ROOT / "export").rglob("*.py"), *(ROOT / "configs").rglob("*.py")]
    cited = {(_name(source), doc) for source in sources
             for doc in DOC_CITATION.findall(source.read_text())}
    assert cited  # the pattern still finds the citations it is there to check
    assert not [pair for pair in cited if not (ROOT / pair[1]).exists()]
