"""Check that notebooks are stored clean: no outputs, no execution counts, no widget state, no keys.

Usage::

    python tools/check_notebooks.py [NOTEBOOK ...]   # default: every .ipynb git tracks or would add

Exits 1 and lists each problem (keys are shown masked) when a notebook is not clean.
Uses only the standard library, so it runs as a pre-commit hook without the course environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from secret_patterns import ALLOWLIST_PRAGMA, ROOT, SecretMatch, find_secrets, repository_files


def _key_problem(match: SecretMatch) -> str:
    return (
        f"looks like a {match.kind} ({match.masked}): remove it and revoke the key; "
        f"a deliberate fake needs '{ALLOWLIST_PRAGMA}' on its line"
    )


def notebook_problems(path: Path) -> list[str]:
    """What is wrong with the notebook file at ``path`` (an empty list when it is clean)."""
    text = path.read_text(encoding="utf-8")
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        return [f"not valid notebook JSON ({error}); was it saved while a merge conflict was open?"]
    problems = []
    hint = f"clear it with: nbstripout {path}"
    for index, cell in enumerate(notebook.get("cells", []), start=1):
        source = cell.get("source", "")
        for match in find_secrets("".join(source) if isinstance(source, list) else source):
            problems.append(f"cell {index}, line {match.line}: {_key_problem(match)}")
        rest = {key: value for key, value in cell.items() if key != "source"}
        for match in find_secrets(json.dumps(rest, indent=1)):
            problems.append(f"cell {index}, outputs or metadata: {_key_problem(match)}")
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {index} has outputs ({hint})")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {index} has an execution count ({hint})")
    metadata = notebook.get("metadata", {})
    for match in find_secrets(json.dumps(metadata, indent=1)):
        problems.append(f"notebook metadata: {_key_problem(match)}")
    if metadata.get("widgets"):
        problems.append(f"the notebook stores widget state ({hint})")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Check the given notebooks (or all of the repository's) and report every problem."""
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] if args else [p for p in repository_files(ROOT) if p.suffix == ".ipynb"]
    failed = 0
    for path in paths:
        for problem in notebook_problems(path):
            failed += 1
            print(f"{path}: {problem}")
    if not failed:
        print(f"{len(paths)} notebook(s) checked: clean.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
