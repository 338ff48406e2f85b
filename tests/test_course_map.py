"""The README's course map is generated from the lessons and must be up to date."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import course_map  # noqa: E402


def test_course_map_is_current():
    assert course_map.main(["--check"]) == 0, "run: python tools/course_map.py"


def test_course_map_lists_every_lesson_with_colab_link():
    table = course_map.render(ROOT)
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for nb in lessons:
        assert f"(notebooks/{nb.name})" in table
        assert f"blob/main/notebooks/{nb.name})" in table
