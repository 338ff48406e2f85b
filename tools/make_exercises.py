"""Generate ``exercises/NN_*.ipynb`` from ``solutions/NN_*.ipynb``.

Usage::

    python tools/make_exercises.py           # (re)write exercises/
    python tools/make_exercises.py --check   # list stale exercise notebooks, write nothing, exit 1 if any

In the solutions, mark what the learner must write:

* code: the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become
  ``name = ...  # YOUR CODE HERE`` when they are one assignment, otherwise
  ``raise NotImplementedError(...)  # YOUR CODE HERE`` at the same indentation;
* markdown: the text between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` becomes
  ``*Write your answer here.*``;
* cells tagged ``solution-only`` are left out.

Everything else is kept; outputs and execution counts are cleared, "(solutions)" in the title
becomes "(exercises)", and the badge, setup cell and navigation line are set for the exercise.
Nothing is written when any solutions notebook has unbalanced markers. Only ``exercises/`` is
written (learners work in ``my_work/``, see ``python -m helpers workspace``).
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import textwrap
from pathlib import Path

import nbformat

from course_config import FOLDERS, ROOT, Course, CourseError, cell_text, is_marker_cell, load_course
from decorate_notebooks import decorate

BEGIN_CODE = "### BEGIN SOLUTION"
END_CODE = "### END SOLUTION"
MARKDOWN_MARKER_RE = re.compile(r"<!--\s*(BEGIN|END) SOLUTION\s*-->")
ASSIGN_PLACEHOLDER = "...  # YOUR CODE HERE"
RAISE_PLACEHOLDER = 'raise NotImplementedError("Exercise: write your code here")  # YOUR CODE HERE'
ANSWER_PLACEHOLDER = "*Write your answer here.*"
SOLUTION_ONLY_TAG = "solution-only"


class MarkerError(CourseError):
    """A solutions notebook whose solution markers do not pair up."""


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _placeholder(region: list[str], marker_indent: str) -> str:
    """What replaces one solution region in a code cell."""
    code_lines = [line for line in region if line.strip()]
    indent = _indent(code_lines[0]) if code_lines else marker_indent
    try:
        tree = ast.parse(textwrap.dedent("\n".join(region)))
    except SyntaxError:
        tree = None
    if tree and len(tree.body) == 1:
        node = tree.body[0]
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            return f"{indent}{node.targets[0].id} = {ASSIGN_PLACEHOLDER}"
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            return f"{indent}{node.target.id}: {ast.unparse(node.annotation)} = {ASSIGN_PLACEHOLDER}"
    return f"{indent}{RAISE_PLACEHOLDER}"


def strip_code(source: str, where: str) -> str:
    """Replace every solution region of a code cell's source; ``where`` names the cell in errors."""
    out: list[str] = []
    region: list[str] | None = None
    begin_line = 0
    marker_indent = ""
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN_CODE:
            if region is not None:
                raise MarkerError(f"{where}, line {number}: {BEGIN_CODE} inside the region opened on line {begin_line}.")
            region, begin_line, marker_indent = [], number, _indent(line)
        elif marker == END_CODE:
            if region is None:
                raise MarkerError(f"{where}, line {number}: {END_CODE} without a {BEGIN_CODE} before it.")
            out.append(_placeholder(region, marker_indent))
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise MarkerError(f"{where}, line {begin_line}: {BEGIN_CODE} without a matching {END_CODE}.")
    return "\n".join(out)


def strip_markdown(source: str, where: str) -> str:
    """Replace every ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` span of a markdown cell."""
    pieces, start, open_at = [], 0, None
    for match in MARKDOWN_MARKER_RE.finditer(source):
        line = source.count("\n", 0, match.start()) + 1
        if match.group(1) == "BEGIN":
            if open_at is not None:
                raise MarkerError(f"{where}, line {line}: BEGIN SOLUTION inside the region opened on line {open_at[1]}.")
            pieces.append(source[start : match.start()])
            open_at = (match.start(), line)
        else:
            if open_at is None:
                raise MarkerError(f"{where}, line {line}: END SOLUTION without a BEGIN SOLUTION before it.")
            pieces.append(ANSWER_PLACEHOLDER)
            start, open_at = match.end(), None
    if open_at is not None:
        raise MarkerError(f"{where}, line {open_at[1]}: <!-- BEGIN SOLUTION --> without a matching <!-- END SOLUTION -->.")
    pieces.append(source[start:])
    return "".join(pieces)


def _compiles(source: str) -> bool:
    """Whether a cell is valid Python once IPython's ``%magic`` and ``!shell`` lines are neutralised."""
    lines = [
        f"{_indent(line)}pass" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")
    ]
    try:
        ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    return True


def make_exercise(solution: nbformat.NotebookNode, relpath: str) -> nbformat.NotebookNode:
    """The exercise version of a solutions notebook (before badge and navigation are set)."""
    exercise = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(exercise.cells, start=1):
        where = f"{relpath}: cell {index}"
        if SOLUTION_ONLY_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell_text(cell)
        if cell.cell_type == "code":
            if MARKDOWN_MARKER_RE.search(source):
                raise MarkerError(f"{where}: a code cell uses the markdown marker; use {BEGIN_CODE} / {END_CODE}.")
            cell.source = strip_code(source, where)
            if _compiles(source) and not _compiles(cell.source):
                raise MarkerError(
                    f"{where}: the exercise version is not valid Python; put the markers around whole statements."
                )
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            if any(line.strip() in (BEGIN_CODE, END_CODE) for line in source.splitlines()):
                raise MarkerError(f"{where}: a markdown cell uses the code marker; use <!-- BEGIN SOLUTION -->.")
            cell.source = strip_markdown(source, where)
        cells.append(cell)
    exercise.cells = cells
    exercise.metadata.pop("widgets", None)
    title_cell = next((c for c in cells if c.cell_type == "markdown" and not is_marker_cell(c)), None)
    if title_cell is not None:
        lines = title_cell.source.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("# "):
                lines[i] = line.replace("(solutions)", "(exercises)")
                break
        title_cell.source = "\n".join(lines)
    return exercise


def build_exercises(course: Course) -> dict[str, str]:
    """Every exercise notebook's expected file text, by relative path; raises MarkerError first."""
    root = course.config.root
    built = {}
    for solution, exercise in zip(course.folder("solution"), course.folder("exercise")):
        nb = make_exercise(nbformat.read(root / solution.relpath, as_version=4), solution.relpath)
        decorate(nb, exercise, course)
        built[exercise.relpath] = _file_text(nb)
    return built


def _file_text(nb: nbformat.NotebookNode) -> str:
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _has_learner_work(path: Path) -> bool:
    """True when an exercise notebook was run and saved (generated ones never hold outputs)."""
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception:  # noqa: BLE001 - unreadable: treat as someone's file, do not touch it
        return True
    return any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def run(root: Path = ROOT, check: bool = False, force: bool = False) -> list[str]:
    """Bring exercises/ up to date (or only report, with ``check``); return one line per change."""
    course = load_course(root)
    expected = build_exercises(course)  # raises before anything is written
    folder = root / FOLDERS["exercise"]
    report = []
    worked_on = [p.relative_to(root).as_posix() for p in sorted(folder.glob("*.ipynb")) if folder.is_dir()
                 and _has_learner_work(p)]
    if worked_on and not check and not force:
        raise CourseError("these exercise notebooks hold someone's work (they were run and saved with outputs): "
                          + ", ".join(worked_on) + ". Keep that work first: `python -m helpers workspace` copies "
                          "exercises into my_work/ (or move the files there yourself), then restore the generated "
                          "files with `git checkout -- exercises/`, or pass --force to overwrite them.")
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        relpath = path.relative_to(root).as_posix()
        if relpath not in expected:
            report.append(f"{relpath}: no solutions/{path.name} to generate it from" + ("" if check else "; removed"))
            if not check:
                path.unlink()
    for relpath, text in expected.items():
        path = root / relpath
        if not path.is_file():
            reason = "missing"
        elif _file_text(nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)) != text:
            reason = "differs from its solutions notebook"
        else:
            continue
        report.append(f"{relpath}: {reason}" + ("" if check else "; written"))
        if not check:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list stale exercise notebooks, write nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course repository (default: this one)")
    parser.add_argument("--force", action="store_true", help="overwrite exercise notebooks that hold outputs")
    args = parser.parse_args(argv)
    try:
        report = run(args.root.resolve(), check=args.check, force=args.force)
    except CourseError as error:
        print(f"error: {error}\nNothing was written.", file=sys.stderr)
        return 1
    for line in report:
        print(("stale: " if args.check else "") + line)
    if args.check and report:
        print("Run: python tools/make_exercises.py", file=sys.stderr)
        return 1
    if not report:
        print("exercises/ is up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
