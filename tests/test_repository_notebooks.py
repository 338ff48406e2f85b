"""The course's own notebooks are clean, decorated and (for exercises) generated from the solutions.

When the repository holds no notebooks yet, these tests are skipped with that reason, not passed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import check_notebooks  # noqa: E402
import course_config  # noqa: E402
import decorate_notebooks  # noqa: E402
import make_exercises  # noqa: E402
import secret_patterns  # noqa: E402

COURSE = course_config.load_course(ROOT)
CONFIG = COURSE.config
ON_DISK = [nb for nb in COURSE.all() if (ROOT / nb.relpath).is_file()]
ALL_IPYNB = sorted(
    p.relative_to(ROOT).as_posix() for p in secret_patterns.repository_files(ROOT) if p.suffix == ".ipynb"
)
NO_NOTEBOOKS = "no notebooks in the repository yet (notebooks/, exercises/, solutions/ are empty)"


def params(items: list, ids) -> list:
    """Parametrize over ``items``, or a single explicit skip saying there is nothing to test yet."""
    if not items:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_NOTEBOOKS), id="no-notebooks")]
    return [pytest.param(item, id=ids(item)) for item in items]


def cells(notebook: course_config.Notebook) -> list[dict]:
    return json.loads((ROOT / notebook.relpath).read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("relpath", params(ALL_IPYNB, str))
def test_stored_without_outputs_counts_or_keys(relpath: str) -> None:
    problems = check_notebooks.notebook_problems(ROOT / relpath)
    assert not problems, f"{relpath}:\n" + "\n".join(problems)


@pytest.mark.parametrize("notebook", params(ON_DISK, lambda nb: nb.relpath))
def test_colab_badge_follows_the_title_and_opens_this_notebook(notebook) -> None:
    all_cells = cells(notebook)
    badges = [i for i, c in enumerate(all_cells) if decorate_notebooks.BADGE_MARKER in course_config.cell_text(c)]
    assert len(badges) == 1, f"{notebook.relpath}: expected one Colab badge cell; run tools/decorate_notebooks.py"
    title_at = next(i for i, c in enumerate(all_cells) if c["cell_type"] == "markdown" and i not in badges)
    assert badges[0] == title_at + 1, f"{notebook.relpath}: the badge must come right after the title cell"
    assert f"]({CONFIG.colab_url(notebook.relpath)})" in course_config.cell_text(all_cells[badges[0]])


@pytest.mark.parametrize("notebook", params(ON_DISK, lambda nb: nb.relpath))
def test_setup_cell_is_the_standard_one_and_the_first_code_cell(notebook) -> None:
    code = [c for c in cells(notebook) if c["cell_type"] == "code"]
    assert code, f"{notebook.relpath} has no code cell, so no setup cell"
    first = code[0]
    assert decorate_notebooks.SETUP_TAG in first.get("metadata", {}).get("tags", []), (
        f"{notebook.relpath}: the first code cell is not tagged course-setup; run tools/decorate_notebooks.py"
    )
    assert course_config.cell_text(first) == decorate_notebooks.setup_source(CONFIG)


@pytest.mark.parametrize("notebook", params(ON_DISK, lambda nb: nb.relpath))
def test_navigation_line_is_the_last_cell(notebook) -> None:
    last = cells(notebook)[-1]
    assert last["cell_type"] == "markdown" and decorate_notebooks.NAV_MARKER in course_config.cell_text(last), (
        f"{notebook.relpath}: the last cell is not the navigation line; run tools/decorate_notebooks.py"
    )
    assert course_config.cell_text(last) == decorate_notebooks.nav_source(COURSE, notebook)


def test_notebook_names_fit_the_layout() -> None:
    if not ON_DISK and not ALL_IPYNB:
        pytest.skip(NO_NOTEBOOKS)
    assert course_config.misnamed_notebooks(ROOT) == [], "rename these to NN_short_title.ipynb"


def test_decorations_are_up_to_date() -> None:
    if not ON_DISK:
        pytest.skip(NO_NOTEBOOKS)
    assert decorate_notebooks.run(ROOT, check=True) == {}, "run: python tools/decorate_notebooks.py"


def test_exercises_are_generated_from_the_current_solutions() -> None:
    if not COURSE.folder("solution") and not list((ROOT / "exercises").glob("*.ipynb")):
        pytest.skip("no solutions/ or exercises/ notebooks in the repository yet")
    stale = make_exercises.run(ROOT, check=True)
    assert stale == [], "exercises/ is stale; run: python tools/make_exercises.py\n" + "\n".join(stale)
