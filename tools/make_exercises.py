"""Generate ``exercises/NN_*.ipynb`` from ``solutions/NN_*.ipynb``.

Usage::

    python tools/make_exercises.py           # (re)write exercises/
    python tools/make_exercises.py --check   # list stale exercise notebooks, write nothing, exit 1 if any
    python tools/make_exercises.py --force   # also overwrite edited exercise notebooks (no copy kept)

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

Learners' work in ``exercises/`` is never lost
----------------------------------------------
Learners do type into ``exercises/NN_*.ipynb`` itself, so the tool only replaces or removes a file
that it can prove it generated and nobody changed since. The proof is a small manifest,
``exercises/.generated.json`` (committed with the exercises), holding for each notebook it wrote a
SHA-256 fingerprint of the content: each cell's type, source, outputs and attachments (the badge
and navigation cells, which ``decorate_notebooks.py`` manages, excepted). Metadata and formatting
are left out on purpose: opening and saving a notebook in Jupyter rewrites both, and that is not an
edit, while every kind of learner work is: answers typed but never run, edited markdown answers, a
notebook cleared or stripped by nbstripout after editing, a notebook saved with outputs. (Git's HEAD version would be a weaker proof: a learner may commit their answers
in their own clone, and a course downloaded as a zip has no git at all.)

* A notebook whose fingerprint is the recorded one is ours: it is rewritten when its solutions
  notebook changed, and deleted when its solutions notebook was removed.
* Any other exercise notebook that must change (its content differs from what the solutions give
  now, and it is not the recorded version, or nothing is recorded for it) is first moved aside to
  ``exercises/NN_name.mine-<date>T<time>.ipynb``; a message names that file; then the new
  exercise is written.
* Files the tool did not write (Jupyter's "Duplicate" copies such as ``04_openai-Copy1.ipynb``,
  moved-aside copies, a learner's own notebooks, an edited notebook whose lesson lost its exercises)
  are never touched; they are listed as notes.

``--force`` (maintainers) overwrites edited exercise notebooks in place without keeping a copy; it
still never touches files the tool did not write. ``--check`` writes nothing and reports every
exercise that differs from what the solutions give, and a manifest that is missing or out of date.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import re
import sys
import textwrap
import time
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
MANIFEST = ".generated.json"  # in exercises/: fingerprints of the notebooks this tool wrote


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


def fingerprint(text: str) -> str | None:
    """SHA-256 of a notebook's content (cell types, sources, outputs, attachments); None if unreadable.

    Metadata, ids and formatting are left out: Jupyter rewrites them on every save. So are the Colab
    badge and navigation cells, which ``decorate_notebooks.py`` rewrites in place.
    """
    try:
        nb = nbformat.reads(text, as_version=4)
        cells = [[c.get("cell_type"), cell_text(c), c.get("outputs") or [], c.get("attachments") or {}]
                 for c in nb.cells if not is_marker_cell(c)]
    except Exception:  # noqa: BLE001 - not a notebook we can read: nobody can prove it is ours
        return None
    return "sha256:" + hashlib.sha256(json.dumps(cells, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _file_fingerprint(path: Path) -> str | None:
    try:
        return fingerprint(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def read_manifest(folder: Path) -> dict[str, str]:
    """The recorded fingerprints, by file name ({} when there is no readable manifest)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        notebooks = data.get("notebooks", {}) if isinstance(data, dict) else {}
        return {k: v for k, v in notebooks.items() if isinstance(k, str) and isinstance(v, str)}
    except (OSError, ValueError):
        return {}


def _manifest_text(recorded: dict[str, str]) -> str:
    data = {"about": "Written by tools/make_exercises.py: a fingerprint of each exercise notebook it generated, so "
                     "that it never overwrites or deletes one that someone edited. Commit it with exercises/.",
            "notebooks": dict(sorted(recorded.items()))}
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def _same_file_text(current: str, text: str) -> bool:
    """True when a notebook file on disk is exactly what the tool writes (after nbformat's normalisation)."""
    if current == text:
        return True
    try:
        return _file_text(nbformat.reads(current, as_version=4)) == text
    except Exception:  # noqa: BLE001 - unreadable: not the generated file
        return False


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _aside_name(path: Path, stamp: str) -> Path:
    """``NN_name.mine-<stamp>.ipynb`` next to ``path``, never an existing file."""
    candidate = path.with_name(f"{path.stem}.mine-{stamp}{path.suffix}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.mine-{stamp}-{n}{path.suffix}")
        n += 1
    return candidate


def run(root: Path = ROOT, check: bool = False, force: bool = False, notes: list[str] | None = None) -> list[str]:
    """Bring exercises/ up to date (or only report, with ``check``); return one line per change.

    Lines about files left alone (not generated by this tool) go to ``notes`` when it is given.
    Edited exercise notebooks are moved aside first (see the module's docstring); ``force``
    overwrites them instead.
    """
    course = load_course(root)
    expected = build_exercises(course)  # raises before anything is written
    folder = root / FOLDERS["exercise"]
    notes = notes if notes is not None else []
    recorded = read_manifest(folder)
    manifest_before = dict(recorded)
    report: list[str] = []
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    present = sorted(p for p in folder.glob("*.ipynb") if p.is_file()) if folder.is_dir() else []
    exercise_folder = FOLDERS["exercise"]

    for relpath in expected:  # before anything is written or removed
        path = root / relpath
        if not path.is_file() and (path.exists() or path.is_symlink()):
            raise CourseError(f"{relpath} exists but is not a notebook file (a folder or a broken link); "
                              "move it away and run again.")

    for path in present:  # files no solution generates any more
        name, relpath = path.name, f"{exercise_folder}/{path.name}"
        if relpath in expected:
            continue
        if name in recorded and _file_fingerprint(path) == recorded[name]:
            report.append(f"{relpath}: no solutions/{name} to generate it from" + ("" if check else "; removed"))
            if not check:
                path.unlink()
                del recorded[name]
        elif name in recorded:
            notes.append(f"{relpath}: its solutions notebook is gone, but it holds edits, so it was left alone")
            if not check:
                del recorded[name]
        elif ".mine-" not in name:
            notes.append(f"{relpath}: not generated by this tool; left alone")

    for relpath, text in expected.items():
        path = root / relpath
        name = path.name
        wanted = fingerprint(text)
        if not path.is_file():
            reason = "missing"
        else:
            current_text = path.read_text(encoding="utf-8", errors="replace")
            current = fingerprint(current_text)
            if _same_file_text(current_text, text):
                if recorded.get(name) != wanted:
                    recorded[name] = wanted
                continue
            if current == wanted:
                reason = "differs from its solutions notebook (only in metadata or formatting)"
            elif current is not None and current == recorded.get(name):
                reason = "differs from its solutions notebook"
            elif force:
                reason = "differs from its solutions notebook and was edited (--force: overwritten, no copy kept)"
            else:
                aside = _aside_name(path, stamp)
                shown = f"{exercise_folder}/{aside.name}"
                reason = ("differs from its solutions notebook and holds someone's edits"
                          + (f" (they would be kept in {exercise_folder}/{path.stem}.mine-<date>.ipynb)" if check else
                             f": moved it to {shown} (your work is there), then wrote the new exercise"))
                if not check:
                    path.rename(aside)
        report.append(f"{relpath}: {reason}" + ("" if check or "moved it to" in reason else "; written"))
        if not check:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            recorded[name] = wanted

    expected_names = {relpath.rsplit("/", 1)[-1] for relpath in expected}
    want_manifest = {k: v for k, v in recorded.items() if k in expected_names}
    if check:
        current_files = {relpath.rsplit("/", 1)[-1]: fingerprint(text) for relpath, text in expected.items()}
        if not report and expected and manifest_before != current_files:
            report.append(f"{exercise_folder}/{MANIFEST}: does not record exactly the generated exercises")
    elif want_manifest != manifest_before or (want_manifest and not (folder / MANIFEST).is_file()):
        folder.mkdir(exist_ok=True)
        if want_manifest:
            _write_atomic(folder / MANIFEST, _manifest_text(want_manifest))
            report.append(f"{exercise_folder}/{MANIFEST}: recorded what was generated")
        elif (folder / MANIFEST).is_file():
            (folder / MANIFEST).unlink()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list stale exercise notebooks, write nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course repository (default: this one)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite edited exercise notebooks in place instead of moving them aside")
    args = parser.parse_args(argv)
    notes: list[str] = []
    try:
        report = run(args.root.resolve(), check=args.check, force=args.force, notes=notes)
    except CourseError as error:
        print(f"error: {error}\nNothing was written.", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: could not write {error.filename or 'exercises/'} ({error.strerror or error}).", file=sys.stderr)
        return 1
    for line in notes:
        print(f"note: {line}")
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
