"""tools/publish.py: one step sets the repository and regenerates badges, setup cells and the README."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import course_map  # noqa: E402
import decorate_notebooks  # noqa: E402
import publish  # noqa: E402
from course_config import load_config  # noqa: E402

NEW = "https://github.com/some-teacher/genai-course-2027"


def copy_course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    root.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, root / name)
    for folder in ("notebooks", "solutions", "exercises"):
        shutil.copytree(ROOT / folder, root / folder)
    return root


def test_unpublished_readme_says_the_badges_work_once_published():
    config = load_config(ROOT)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if not config.published:
        assert "work once the" in readme and "python tools/publish.py --repository" in readme
    assert course_map.main(["--check"]) == 0


def test_publish_sets_the_repository_and_regenerates_everything(tmp_path, capsys):
    root = copy_course(tmp_path)
    assert publish.main(["--root", str(root), "--repository", NEW + ".git"]) == 0
    config = load_config(root)
    assert config.repository == NEW and config.published and config.branch == "main"
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "Not published yet" not in readme
    assert f"https://mybinder.org/v2/gh/some-teacher/genai-course-2027/main?" in readme
    assert f"colab.research.google.com/github/some-teacher/genai-course-2027/blob/main/notebooks/00_start_here" in readme
    assert "genai-course/genai-api-course" not in readme
    lesson = (root / "notebooks" / "04_openai.ipynb").read_text(encoding="utf-8")
    assert f"git+{NEW}@main" in lesson and "genai-course/genai-api-course" not in lesson
    assert decorate_notebooks.run(root, check=True) == {}
    assert course_map.main(["--root", str(root), "--check"]) == 0
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert publish.main(["--root", str(root), "--repository", NEW]) == 0  # again: nothing changes
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_publish_refuses_an_address_that_is_not_github(tmp_path, capsys):
    root = copy_course(tmp_path)
    assert publish.main(["--root", str(root), "--repository", "https://gitlab.com/a/b"]) == 1
    assert "not a GitHub address" in capsys.readouterr().err
    assert load_config(root).repository == load_config(ROOT).repository
