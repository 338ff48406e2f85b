"""`make test-pythons`: the unit and server tests and a sample of notebooks on the other Pythons the course supports.

    python tests/python_matrix.py [--pythons 3.10,3.12,3.13] [--tests FILES] [--notebooks FILES]

For each version, one after another:
1. A virtual environment `.course/py3.X-venv` made as `make setup` makes it on that Python: pip install
   -c requirements/constraints-py3.X.txt -e ".[lab,test]" (lab: the notebooks' kernel), then the offline model
   (`python -m helpers install-model`). Rebuilt only when pyproject.toml or that constraints file change
   (tools/pin_constraints.py makes the constraints files).
2. With that interpreter, in local mode with its own state folder (`.course/py3.X-state`, so two versions never
   share a server): the unit and server tests (UNIT_AND_SERVER_TESTS less LOAD_TESTS) and a sample of notebooks
   under nbval (--nbval-lax), in one pytest run; then that folder's server is stopped.
Exit code 0 only when every version passed.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
DEFAULT_PYTHONS = "3.10,3.12,3.13"  # 3.11 is `make test`'s own
# What the interpreter and the packages that differ between versions change: keys, masking, errors, the model
# catalogue, setup, the package check, and the local server with every SDK (its lifecycle, malformed requests,
# cancellation and the queue). About 85 s a version, the notebooks included. Left out, as `make test` runs them
# on 3.11 only: the browser, the Colab tests and the demo accuracy (tests/test_demo_accuracy.py); checks of the
# repository's own files, which no interpreter changes (secret scan, notebooks, exercises, course map, publish);
# the per-model rules (test_model_rules.py, the same code path as test_server_*.py) and the slow server hardening
# and limit tests.
UNIT_AND_SERVER_TESTS = ",".join([
    "tests/test_keys.py", "tests/test_masking.py", "tests/test_errors.py", "tests/test_models.py",
    "tests/test_setup.py", "tests/test_packages.py", "tests/test_unreachable.py",
    "tests/test_server_openai.py", "tests/test_server_gemini.py", "tests/test_server_hf.py",
    "tests/test_server_lifecycle.py", "tests/test_server_fuzz.py", "tests/test_server_cancellation.py",
])
# Left out of those files: load tests (60 requests at once, CPU seconds counted), 25 s and timing-bound on a busy
# machine.
LOAD_TESTS = [
    "tests/test_server_cancellation.py::test_a_burst_beyond_the_queue_gets_503_with_retry_after",
    "tests/test_server_cancellation.py::test_groq_sdk_sees_a_503_it_can_explain",
    "tests/test_server_cancellation.py::test_abandoned_embeddings_stop",
]
DEFAULT_NOTEBOOKS = "notebooks/00_start_here.ipynb,notebooks/03_messages_and_roles.ipynb"
KEYS = ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "HF_TOKEN")

sys.path.insert(0, str(ROOT / "tools"))
from pin_constraints import find_python  # noqa: E402


def say(text: str) -> None:
    print(f"[python matrix] {text}", flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def build_venv(version: str, python: str, constraints: Path) -> float:
    """`.course/py3.X-venv`, rebuilt when pyproject.toml, the constraints or the interpreter change; seconds spent."""
    venv = ROOT / ".course" / f"py{version}-venv"
    digest = hashlib.sha256(PYPROJECT.read_bytes() + constraints.read_bytes() + python.encode()).hexdigest()
    stamp = venv / ".python-matrix"
    if stamp.is_file() and stamp.read_text() == digest:
        return 0.0
    started = time.monotonic()
    say(f"{version}: building {venv.relative_to(ROOT)} with {python}")
    run(["rm", "-rf", str(venv)])
    run([python, "-m", "venv", str(venv)])
    py = str(venv / "bin" / "python")
    pip = [py, "-m", "pip", "--disable-pip-version-check"]
    run(pip + ["install", "-q", "--upgrade", "pip"])
    run(pip + ["install", "-q", "-c", str(constraints), "-e", ".[lab,test]"], cwd=ROOT)
    run([py, "-m", "helpers", "install-model"], cwd=ROOT)
    stamp.write_text(digest)
    spent = time.monotonic() - started
    say(f"{version}: environment built in {spent:.0f} s")
    return spent


def matrix_env(version: str) -> dict[str, str]:
    """Local mode, no keys, this version's own state folder and venv first on PATH."""
    venv = ROOT / ".course" / f"py{version}-venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH")) and k not in KEYS}
    env.update(COURSE_MODE="local", COURSE_STATE_DIR=str(ROOT / ".course" / f"py{version}-state"),
               PATH=f"{venv / 'bin'}:{env.get('PATH', '')}", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def run_tests(version: str, tests: list[str], notebooks: list[str], deselect: list[str]) -> tuple[int, str]:
    """pytest on the tests and notebooks with this version's venv; its exit code and closing line. A test file that
    does not import on this Python is an error, and the other files still run."""
    py = str(ROOT / ".course" / f"py{version}-venv" / "bin" / "python")
    env = matrix_env(version)
    cmd = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
           "--nbval-lax", "--nbval-cell-timeout=600", *(f"--deselect={node}" for node in deselect), *tests, *notebooks]
    closing = ""
    try:
        with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as proc:
            for line in proc.stdout:
                print(line, end="", flush=True)
                if re.search(r"\d+ (passed|failed|error)", line) or "no tests ran" in line:
                    closing = line.strip().strip("= ")
        return proc.returncode, closing
    finally:
        subprocess.run([py, "-m", "helpers", "server", "stop"], cwd=ROOT, env=env, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythons", default=os.environ.get("PYTHON_MATRIX", DEFAULT_PYTHONS),
                        help="X.Y versions, comma-separated (default: $PYTHON_MATRIX or %(default)s)")
    parser.add_argument("--tests", default=os.environ.get("PYTHON_MATRIX_TESTS", UNIT_AND_SERVER_TESTS),
                        help="test files, comma-separated (default: $PYTHON_MATRIX_TESTS or the unit and server tests)")
    parser.add_argument("--notebooks", default=os.environ.get("PYTHON_MATRIX_NOTEBOOKS", DEFAULT_NOTEBOOKS),
                        help="notebooks run under nbval, comma-separated (default: $PYTHON_MATRIX_NOTEBOOKS or "
                             "%(default)s)")
    args = parser.parse_args(argv)
    tests = [t for t in args.tests.split(",") if t.strip()]
    notebooks = [n for n in args.notebooks.split(",") if n.strip()]
    started = time.monotonic()
    results: list[tuple[str, bool, str, float, float]] = []  # version, passed, closing line, build s, run s
    for version in [v.strip() for v in args.pythons.split(",") if v.strip()]:
        python = find_python(version)
        constraints = ROOT / "requirements" / f"constraints-py{version}.txt"
        if not python:
            results.append((version, False, f"no Python {version} (pyenv's {version}.x or python{version})", 0, 0))
            continue
        if not constraints.is_file():
            results.append((version, False, f"no {constraints.relative_to(ROOT)}: python tools/pin_constraints.py "
                                            f"--python {version}", 0, 0))
            continue
        try:
            built = build_venv(version, python, constraints)
        except subprocess.CalledProcessError as exc:
            results.append((version, False, f"the environment could not be built: {' '.join(exc.cmd[:6])}...", 0, 0))
            continue
        run_started = time.monotonic()
        say(f"{version}: {len(tests)} test files and {len(notebooks)} notebooks")
        code, closing = run_tests(version, tests, notebooks, LOAD_TESTS if args.tests == UNIT_AND_SERVER_TESTS else [])
        spent = time.monotonic() - run_started
        say(f"{version}: {'passed' if code == 0 else 'FAILED'} in {spent:.0f} s ({closing})")
        results.append((version, code == 0, closing, built, spent))
    say(f"done in {time.monotonic() - started:.0f} s")
    for version, passed, closing, built, spent in results:
        build = f"venv built in {built:.0f} s, " if built else ""
        say(f"  Python {version}: {'passed' if passed else 'FAILED'}: {closing} ({build}tests {spent:.0f} s)")
    return 0 if results and all(passed for _, passed, *_ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
