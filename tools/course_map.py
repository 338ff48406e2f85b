"""Write the course map (a table of lessons) into README.md between its markers.

    python tools/course_map.py           # update README.md
    python tools/course_map.py --check   # exit 1 if README.md's map is stale

Each row comes from the lesson notebook itself: its title (``# NN · Title``), the line after the
title (what you will be able to do) and its ``**Time:** ...`` line; links go to the lesson, its
exercises and Colab. Idempotent.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from course_config import ROOT, cell_text, load_course  # noqa: E402

START, END = "<!-- course-map:start -->", "<!-- course-map:end -->"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def lesson_facts(path: Path) -> tuple[str, str, str]:
    """(title without number, what you will be able to do, time) read from a lesson notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    md = [cell_text(c) for c in nb["cells"] if c.get("cell_type") == "markdown"]
    first = md[0] if md else ""
    paragraphs = [" ".join(ln.strip() for ln in p.splitlines()) for p in re.split(r"\n\s*\n", first) if p.strip()]
    title = re.sub(r"^#\s*\d+\s*[·.:-]\s*", "", paragraphs[0]) if paragraphs else path.stem
    goal = next((p for p in paragraphs[1:] if not p.startswith(("[![", "<!--"))), "")
    goal = re.sub(r"^You will be able to\s+", "", goal)
    goal = goal[:1].upper() + goal[1:]
    time = ""
    for text in md:
        m = re.search(r"\*\*Time:?\*\*:?\s*([^\n]+)", text)
        if m:
            time = re.split(r"\.\s|\.$|;|\(", m.group(1).strip())[0].strip()
            break
    return title, goal, time


def render(root: Path = ROOT) -> str:
    course = load_course(root)
    cfg = course.config
    rows = ["| # | lesson | what you will do | time | open |", "|---|---|---|---|---|"]
    for lesson in course.lessons():
        title, goal, time = lesson_facts(root / lesson.lesson.relpath)
        links = [f"[lesson]({lesson.lesson.relpath})"]
        if lesson.exercise:
            links.append(f"[exercises]({lesson.exercise.relpath})")
        if lesson.solution:
            links.append(f"[solutions]({lesson.solution.relpath})")
        links.append(f"[![Open In Colab]({COLAB_BADGE})]({cfg.colab_url(lesson.lesson.relpath)})")
        rows.append(f"| {lesson.number} | **{title}** | {goal} | {time} | {' · '.join(links)} |")
    return "\n".join(rows)


def update(readme: Path, table: str) -> str:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} markers: add them under '## Course map'.")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--root", type=Path, default=ROOT)
    args = ap.parse_args(argv)
    readme = args.root / "README.md"
    new = update(readme, render(args.root))
    if new == readme.read_text(encoding="utf-8"):
        return 0
    if args.check:
        print("README.md's course map is stale: run python tools/course_map.py")
        return 1
    readme.write_text(new, encoding="utf-8")
    print("README.md course map updated.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
