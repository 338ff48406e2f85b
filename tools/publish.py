"""Publish the course under a GitHub repository: one step sets the address everything is generated from.

    python tools/publish.py --repository https://github.com/OWNER/NAME [--branch main]

It writes ``repository`` (and ``branch``) and ``published = true`` into ``[tool.course]`` in
``pyproject.toml``, then regenerates what depends on them: every notebook's Colab badge and setup cell
(``tools/decorate_notebooks.py``; the setup cell installs the course from that repository on Colab) and
README.md (the course map's Colab badges, the Binder badge, and the "not published yet" note, which goes).
Push the repository first (it must be public for Colab to open it), then run this and commit the result.
Running it again with the same address changes nothing.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course_map  # noqa: E402
import decorate_notebooks  # noqa: E402
from course_config import GITHUB_RE, ROOT, CourseError, load_config  # noqa: E402


def set_course_table(pyproject: Path, repository: str, branch: str) -> None:
    """Set repository, branch and published = true in the [tool.course] table, keeping everything else."""
    text = pyproject.read_text(encoding="utf-8")
    match = re.search(r"(?ms)^\[tool\.course\]\s*$(.*?)(?=^\[|\Z)", text)
    if not match:
        raise CourseError(f"{pyproject} has no [tool.course] table.")
    body = match.group(1)
    for key, value in (("repository", f'"{repository}"'), ("branch", f'"{branch}"'), ("published", "true")):
        line = re.compile(rf"(?m)^{key}\s*=.*$")
        if line.search(body):
            body = line.sub(f"{key} = {value}", body, count=1)
        else:
            body = body.rstrip("\n") + f"\n{key} = {value}\n" + ("\n" if body.endswith("\n\n") else "")
    pyproject.write_text(text[: match.start(1)] + body + text[match.end(1):], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", required=True, help="https://github.com/OWNER/NAME")
    parser.add_argument("--branch", help="the branch Colab opens (default: the current [tool.course] branch)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course repository (default: this one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    repository = args.repository.strip().rstrip("/")
    if repository.endswith(".git"):
        repository = repository[:-4]
    if not GITHUB_RE.match(repository):
        print(f"error: {args.repository!r} is not a GitHub address like https://github.com/OWNER/NAME.",
              file=sys.stderr)
        return 1
    try:
        branch = args.branch or load_config(root).branch
        set_course_table(root / "pyproject.toml", repository, branch)
        decorate_notebooks.run(root)
        readme = root / "README.md"
        readme.write_text(course_map.update(readme, course_map.render(root), root), encoding="utf-8")
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Published as {repository} (branch {branch}): badges, setup cells and README regenerated. "
          "Commit and push the changes.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
