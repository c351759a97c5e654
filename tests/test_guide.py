"""``docs/guide.md`` shows the house as it is: its module table ("How it is built") names every module of ``tinykd/``
once and nothing else (the learners' checker, ``tinykd/exercises/``, as one row), and every ``tinykd/...`` path the
front-page docs name exists."""
import re
from pathlib import Path

import tinykd

PACKAGE = Path(tinykd.__file__).parent
ROOT = PACKAGE.parent
GUIDE = ROOT / "docs" / "guide.md"
DOCS = ["README.md", "docs/guide.md", "docs/derivations.md", "exercises/README.md"]
ONE_ROW = {"exercises"}   # subpackages the table lists as one row, ``tinykd/<name>/``


def section(text, title):
    """The lines of ``text`` from the heading ``## title`` to the next ``## `` heading."""
    lines = text.split("\n")
    start = lines.index(f"## {title}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def table_modules(lines):
    """The first cell of every table row that names a path: ``| `tinykd/...` | ... |`` -> ``tinykd/...``."""
    return [m.group(1) for line in lines if (m := re.match(r"^\|\s*`(tinykd/[^`]*)`\s*\|", line))]


def package_modules():
    """``tinykd/<path>.py`` for every module of the package; ``tinykd/<name>/`` once for a subpackage in
    ``ONE_ROW``."""
    out = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if "__pycache__" in rel.parts:
            continue
        out.add(f"tinykd/{rel.parts[0]}/" if len(rel.parts) > 1 and rel.parts[0] in ONE_ROW
                else f"tinykd/{rel.as_posix()}")
    return out


def test_the_guides_module_table_names_every_module_and_no_other():
    listed = table_modules(section(GUIDE.read_text(encoding="utf-8"), "How it is built"))
    assert listed, "docs/guide.md: no module table found under '## How it is built'"
    twice = sorted({m for m in listed if listed.count(m) > 1})
    assert not twice, f"docs/guide.md's module table lists these more than once: {twice}"
    present = package_modules()
    missing, gone = sorted(present - set(listed)), sorted(set(listed) - present)
    assert not missing, f"docs/guide.md's module table lacks these modules (add a row, one line of what each is for): " \
                        f"{missing}"
    assert not gone, f"docs/guide.md's module table names modules that do not exist (remove or rename them): {gone}"


def test_the_guide_table_is_grouped_by_floor():
    """Each row sits under its floor's heading row (``| **the engine** | |``, ``| **data** | |``, ...)."""
    floor_of = {"data": "data", "runs": "runs", "experiments": "experiments", "exercises": "beside the house"}
    commands = {"tinykd/report.py"}
    floor, wrong = None, []
    for line in section(GUIDE.read_text(encoding="utf-8"), "How it is built"):
        if m := re.match(r"^\|\s*\*\*([^*]+)\*\*\s*\|", line):
            floor = m.group(1)
        elif m := re.match(r"^\|\s*`(tinykd/[^`]*)`\s*\|", line):
            parts = m.group(1).split("/")
            want = ("the commands" if m.group(1) in commands else
                    floor_of[parts[1]] if len(parts) > 2 else "the engine")
            if floor != want:
                wrong.append(f"{m.group(1)} under {floor!r}, not {want!r}")
    assert not wrong, f"docs/guide.md's module table: {wrong}"


def test_every_tinykd_path_the_docs_name_exists():
    """A path such as ``tinykd/runs/records.py`` (or a folder ``tinykd/data/``) in the docs is a file (folder) of the
    package: a renamed or removed module leaves no stale path behind."""
    stale = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for path in sorted(set(re.findall(r"\btinykd/[\w/]*(?:\.py|/)", text))):
            if not (ROOT / path).exists():
                stale.append(f"{doc}: {path}")
    assert not stale, f"paths that do not exist: {stale}"
