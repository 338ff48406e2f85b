"""Make requirements/constraints-pyX.Y.txt: the exact versions `pip install -e ".[lab,test]"` installs on one Python.

    python tools/pin_constraints.py --python 3.12               # writes requirements/constraints-py3.12.txt
    python tools/pin_constraints.py --python 3.11 --base none   # an upgrade: the newest versions pyproject.toml allows

1. A fresh virtual environment (a temporary folder) with that Python (pyenv's 3.X.* or python3.X on PATH).
2. The starting pins: --base (default requirements/constraints-py3.11.txt, the versions CI tests). A pin newer
   than anything this Python installs (what pip picks with no pins, --dry-run) is lowered to the newest that does.
   If pip still cannot resolve, each pin it blames is left out and pip is asked again; at the end each pin left
   out is tried back on its own, so that as few versions as possible move.
3. `pip install -c PINS -e ".[lab,test]"`, the offline model (`python -m helpers install-model`, as the Makefile
   does), and `pip freeze --exclude-editable` is the file, under a header saying how and when it was made.
4. A dependency in pyproject.toml whose environment marker leaves it out on this Python (tomli before 3.11)
   is pinned too, at the version another constraints file has, so that every file pins every dependency.
Exit code 0 when the file was written.
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

try:
    from packaging.version import Version
except ModuleNotFoundError:  # a Python without the course installed: pip's own copy
    from pip._vendor.packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
CI_PYTHON = "3.11"  # the version CI's `make test` runs (its venv is `python3`)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
IMPOSSIBLE_HEAD = "no matching distributions available for your environment:"
# Prints the names of pyproject.toml's dependencies (core, lab, test) that this Python's markers leave out.
LEFT_OUT_SCRIPT = """
import sys
try:
    import tomllib
except ModuleNotFoundError:
    import tomli as tomllib
from packaging.requirements import Requirement
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
extras = project["optional-dependencies"]
for line in project["dependencies"] + extras["lab"] + extras["test"]:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate():
        print(req.name)
"""


def say(text: str) -> None:
    print(f"[pin constraints] {text}", flush=True)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_python(version: str) -> str | None:
    """An interpreter of this X.Y version: pyenv's newest 3.X.*, else pythonX.Y on PATH (a shim may refuse)."""
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")),
                        key=lambda p: [int(n) for n in re.findall(r"\d+", Path(p).parents[1].name)], reverse=True)
    candidates.append(shutil.which(f"python{version}") or "")
    check = f"import sys; assert '%d.%d' % sys.version_info[:2] == {version!r}"
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", check], capture_output=True).returncode == 0:
            return candidate
    return None


def read_pins(path: Path) -> dict[str, str]:
    """canonical name -> ``name==version`` line of a constraints file."""
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonical(match.group(1))] = f"{match.group(1)}=={match.group(2)}"
    return pins


def impossible_pins(pip_output: str, pins: dict[str, str]) -> set[str]:
    """The pins pip's resolution error blames: those with no distribution for this Python, else every constraint
    named in the conflict."""
    lines = pip_output.splitlines()
    if any(IMPOSSIBLE_HEAD in line for line in lines):
        start = next(i for i, line in enumerate(lines) if IMPOSSIBLE_HEAD in line) + 1
        names = []
        for line in lines[start:]:
            if not line.startswith("    ") or not line.strip():
                break
            names.append(canonical(line.strip()))
        blamed = {n for n in names if n in pins}
        if blamed:
            return blamed
    named = re.findall(r"\(constraint\) ([A-Za-z0-9][A-Za-z0-9._-]*)==", pip_output)
    named += re.findall(r"satisfies the requirement ([A-Za-z0-9][A-Za-z0-9._-]*)==", pip_output)
    return {canonical(n) for n in named if canonical(n) in pins}


class Venv:
    """A fresh virtual environment with an up-to-date pip."""

    def __init__(self, python: str, folder: Path):
        subprocess.run([python, "-m", "venv", str(folder)], check=True)
        self.python = str(folder / "bin" / "python")
        self.pip = [self.python, "-m", "pip", "--disable-pip-version-check"]
        subprocess.run(self.pip + ["install", "-q", "--upgrade", "pip"], check=True)

    def resolves(self, pins: dict[str, str], workdir: Path) -> subprocess.CompletedProcess:
        """pip's --dry-run of the course's install with these pins (returncode 0: they fit together)."""
        constraints = workdir / "pins.txt"
        constraints.write_text("\n".join(sorted(pins.values(), key=str.lower)) + "\n")
        return subprocess.run(self.pip + ["install", "--dry-run", "-c", str(constraints), "-e", f"{ROOT}[lab,test]"],
                              capture_output=True, text=True)


def newest_versions(venv: Venv, workdir: Path) -> dict[str, str]:
    """canonical name -> the version pip picks on this Python with no pins: the newest that installs."""
    report = workdir / "report.json"
    subprocess.run(venv.pip + ["install", "--dry-run", "-q", "--report", str(report), "-e", f"{ROOT}[lab,test]"],
                   check=True, capture_output=True)
    return {canonical(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]}


def installable_pins(venv: Venv, base: dict[str, str], workdir: Path) -> dict[str, str]:
    """``base`` with each pin newer than anything this Python installs lowered to the newest that does, less
    each pin pip then still cannot resolve (each tried back alone at the end)."""
    newest = newest_versions(venv, workdir)
    pins = {}
    for name, line in base.items():
        spelled, version = line.split("==")
        if name in newest and Version(newest[name]) < Version(version):
            say(f"{line} does not install on this Python: {newest[name]}, the newest that does")
            line = f"{spelled}=={newest[name]}"
        pins[name] = line
    wanted = dict(pins)
    dropped: list[str] = []
    while (result := venv.resolves(pins, workdir)).returncode != 0:
        blamed = impossible_pins(result.stdout + result.stderr, pins)
        if not blamed:
            raise SystemExit("[pin constraints] pip cannot resolve and blames no pin (is a range in pyproject.toml "
                             f"impossible on this Python?):\n{result.stderr[-3000:]}")
        say(f"not installable together on this Python: {', '.join(pins[n] for n in sorted(blamed))}")
        dropped += sorted(blamed)
        for name in blamed:
            del pins[name]
    for name in dropped:
        if venv.resolves({**pins, name: wanted[name]}, workdir).returncode == 0:
            say(f"{wanted[name]} installs after all: kept")
            pins[name] = wanted[name]
    return pins


def header(version: str, full_version: str, base: Path | None, pinned: dict[str, str], marker_pins: dict[str, str],
           date: str) -> list[str]:
    """The comment lines above the pins: what the file is, how and when it was made, how it differs from --base."""
    uses = "CI and `make setup` use" if version == CI_PYTHON else "`make setup` and `make test-pythons` use"
    command = f"python tools/pin_constraints.py --python {version}" + ("" if base else " --base none")
    if base is None:
        how = "at the newest versions pyproject.toml allows"
    elif base.name == f"constraints-py{version}.txt":
        how = "keeping this file's versions (after a tested upgrade: --base none)"
    else:
        how = f"at {base.name}'s versions wherever they install on {version}"
    paragraphs = [f"Exact versions {uses} on Python {version} (pip install -c this file).",
                  f"Made on {date} by `{command}` (Python {full_version}): pip freeze --exclude-editable of a fresh "
                  f"venv after pip install -e \".[lab,test]\" and python -m helpers install-model, {how}."]
    if base and base.name != f"constraints-py{version}.txt":
        others = read_pins(base)
        moved = [f"{line.split('==')[0]} {line.split('==')[1]} ({others[name].split('==')[1]})"
                 for name, line in sorted(pinned.items()) if name in others and others[name] != line]
        added = [line.split("==")[0] for name, line in sorted(pinned.items()) if name not in others]
        gone = [line.split("==")[0] for name, line in sorted(others.items()) if name not in pinned]
        if moved:
            paragraphs.append(f"Not {base.name}'s version (that one in brackets): {', '.join(moved)}.")
        if added:
            paragraphs.append(f"Only here: {', '.join(added)}.")
        if gone:
            paragraphs.append(f"Only in {base.name}: {', '.join(gone)}.")
    if marker_pins:
        paragraphs.append(f"Not installed on {version} (an environment marker in pyproject.toml), pinned as another "
                          "file has it so that every file pins every dependency: "
                          + ", ".join(f"{pin} ({source})" for pin, source in marker_pins.items()) + ".")
    return ["# " + line for paragraph in paragraphs
            for line in textwrap.wrap(paragraph, width=114, break_on_hyphens=False, break_long_words=False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="the X.Y version to pin, e.g. 3.12")
    parser.add_argument("--base", default=str(REQUIREMENTS / f"constraints-py{CI_PYTHON}.txt"),
                        help="the starting pins, or 'none' for the newest versions (default: %(default)s)")
    parser.add_argument("--output", type=Path, help="default: requirements/constraints-pyX.Y.txt")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="the date in the header")
    args = parser.parse_args(argv)
    python = find_python(args.python)
    if not python:
        say(f"no Python {args.python} found (pyenv's {args.python}.x or python{args.python} on PATH)")
        return 1
    output = args.output or REQUIREMENTS / f"constraints-py{args.python}.txt"
    base = None if args.base == "none" else Path(args.base).resolve()
    with tempfile.TemporaryDirectory(prefix=f"pin-py{args.python}-") as tmp:
        workdir = Path(tmp)
        say(f"fresh venv with {python}")
        venv = Venv(python, workdir / "venv")
        pins = installable_pins(venv, read_pins(base), workdir) if base else {}
        constraints = workdir / "pins.txt"
        constraints.write_text("\n".join(sorted(pins.values(), key=str.lower)) + "\n")
        say("installing")
        subprocess.run(venv.pip + ["install", "-q", "-c", str(constraints), "-e", f"{ROOT}[lab,test]"], check=True)
        subprocess.run([venv.python, "-m", "helpers", "install-model"], check=True, cwd=workdir)
        freeze = subprocess.run(venv.pip + ["freeze", "--exclude-editable"], check=True, capture_output=True,
                                text=True).stdout
        full_version = subprocess.run([venv.python, "-c", "import platform; print(platform.python_version())"],
                                      check=True, capture_output=True, text=True).stdout.strip()
        left_out = subprocess.run([venv.python, "-c", LEFT_OUT_SCRIPT, str(ROOT / "pyproject.toml")], check=True,
                                  capture_output=True, text=True).stdout.split()
    lines = [line for line in freeze.splitlines() if PIN.match(line)]
    odd = [line for line in freeze.splitlines() if line.strip() and not PIN.match(line)]
    if odd:
        say(f"left out of the file (not name==version): {odd}")
    frozen = {canonical(PIN.match(line).group(1)): line for line in lines}
    marker_pins: dict[str, str] = {}  # pin -> the constraints file it comes from
    for name in sorted({canonical(n) for n in left_out} - set(frozen)):
        found = [(other_pins[name], other.name) for other in sorted(REQUIREMENTS.glob("constraints-py*.txt"))
                 if other.resolve() != output.resolve() and name in (other_pins := read_pins(other))]
        if found:
            marker_pins[found[0][0]] = found[0][1]
            say(f"{found[0][0]}: not installed on {args.python} (its marker), pinned as in {found[0][1]}")
        else:
            say(f"WARNING: {name} is not installed on {args.python} and no other constraints file pins it")
    lines = sorted(lines + list(marker_pins), key=str.lower)  # pip freeze's own order
    pinned = {canonical(PIN.match(line).group(1)): line for line in lines}
    text = "\n".join(header(args.python, full_version, base, pinned, marker_pins, args.date) + lines) + "\n"
    output.write_text(text)
    say(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output} ({len(lines)} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
