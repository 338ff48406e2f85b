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
NOTE_START, NOTE_END = "<!-- publish-note:start -->", "<!-- publish-note:end -->"
BINDER = re.compile(r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w./-]+?\?")
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


def publish_note(root: Path = ROOT) -> str:
    """The README's note on the Colab badges: empty once ``[tool.course] published = true``."""
    cfg = load_course(root).config
    if cfg.published:
        return ""
    return (
        f"**Not published yet.** The Open in Colab and Binder badges point at {cfg.repository}, and work once the\n"
        "course is published there (a public GitHub repository). To publish it under your own repository, push it\n"
        "there and run `python tools/publish.py --repository https://github.com/OWNER/NAME`: it sets\n"
        "`[tool.course] repository` in `pyproject.toml` and regenerates the badges, every notebook's setup cell\n"
        "and this README; then commit. Until then, use the course on your own machine (`make lab`)."
    )


def _between(text: str, start: str, end: str, body: str, readme: Path) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} markers.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}" if body else f"{head}{start}\n{end}{tail}"


def update(readme: Path, table: str, root: Path | None = None) -> str:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} markers: add them under '## Course map'.")
    text = _between(text, START, END, table, readme)
    root = root or readme.parent
    if NOTE_START in text:
        text = _between(text, NOTE_START, NOTE_END, publish_note(root), readme)
    cfg = load_course(root).config
    owner, repo = cfg.owner_and_repo
    return BINDER.sub(f"https://mybinder.org/v2/gh/{owner}/{repo}/{cfg.branch}?", text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--root", type=Path, default=ROOT)
    args = ap.parse_args(argv)
    readme = args.root / "README.md"
    new = update(readme, render(args.root), args.root)
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
